/*
 * Unit tests for pam_mss/pam_mss_opts.c: every module argument of
 * pam_mss(8) with its good and bad values, the defaults, that a later
 * argument wins, and that an unknown argument or a bad value fails the
 * whole call with PAM_SERVICE_ERR and one LOG_ERR line naming it.
 * pam_syslog is wrapped (-Wl,--wrap) so that the lines can be read.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <security/pam_appl.h>
#include <security/pam_ext.h>

#include "mss_proto.h"
#include "pam_mss/pam_mss_opts.h"

#define SUN_PATH_LEN	sizeof(((struct sockaddr_un *)0)->sun_path)

void __wrap_pam_syslog(const pam_handle_t *pamh, int prio,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static unsigned int logged;
static int logged_prio;
static char logged_line[1024];

void
__wrap_pam_syslog(const pam_handle_t *pamh, int prio, const char *fmt, ...)
{
	va_list ap;

	(void)pamh;
	logged++;
	logged_prio = prio;
	va_start(ap, fmt);
	vsnprintf(logged_line, sizeof(logged_line), fmt, ap);
	va_end(ap);
}

/* Parses the NULL-terminated list args; the log starts empty. */
static int
parse(struct pam_mss_opts *o, const char **args)
{
	int n = 0;

	logged = 0;
	logged_prio = -1;
	logged_line[0] = '\0';
	while (args[n] != NULL)
		n++;
	memset(o, 0xa5, sizeof(*o));
	return pam_mss_opts_parse(NULL, n, args, o);
}

/* Parses one argument, which must be accepted without a log line. */
static void
parse_ok(struct pam_mss_opts *o, const char *arg)
{
	const char *args[] = { arg, NULL };

	assert_int_equal(parse(o, args), PAM_SUCCESS);
	assert_int_equal(logged, 0);
}

/* One argument that must be refused, with one LOG_ERR line naming it as
 * a bad value (bad = 1) or an unknown argument (bad = 0). */
static void
refused(const char *arg, int bad)
{
	struct pam_mss_opts o;
	const char *args[] = { arg, NULL };
	char want[600];

	assert_int_equal(parse(&o, args), PAM_SERVICE_ERR);
	assert_int_equal(logged, 1);
	assert_int_equal(logged_prio, LOG_ERR);
	snprintf(want, sizeof(want), "%s \"%s\": refusing to run",
	    bad ? "bad value in argument" : "unknown argument", arg);
	assert_string_equal(logged_line, want);
}

/* The uid the socket may be owned by when socket_owner= is not given. */
static uid_t
unit_uid(void)
{
	struct passwd *pw = getpwnam(MSS_UNIT_USER);

	return pw != NULL ? pw->pw_uid : 0;
}

static void
test_defaults(void **state)
{
	struct pam_mss_opts o;
	const char *none[] = { NULL };

	(void)state;
	assert_int_equal(parse(&o, none), PAM_SUCCESS);
	assert_int_equal(logged, 0);
	assert_string_equal(o.socket, MSS_DEFAULT_SOCKET);
	assert_string_equal(o.socket, "/run/mfad/mfad.sock");
	/* Unnamed, the owner is looked up only when a path check needs it,
	 * so that whether the system has the unit's user (as after the
	 * packages are installed, or purged) changes nothing here. */
	assert_int_equal(o.socket_owner, 0);
	assert_int_equal(o.owner_default, 1);
	assert_int_equal(pam_mss_opts_unit_owner(), unit_uid());
	assert_int_equal(o.failmode, PAM_MSS_FAIL_SECURE);
	assert_int_equal(o.ndevice, 3);
	assert_int_equal(o.device[0], PAM_MSS_DEV_SSHKEY);
	assert_int_equal(o.device[1], PAM_MSS_DEV_RHOST);
	assert_int_equal(o.device[2], PAM_MSS_DEV_TTY);
	assert_int_equal(o.email_skip, 0);
	assert_int_equal(o.tries, 3);
	assert_int_equal(PAM_MSS_TRIES_DEFAULT, 3);
	assert_int_equal(o.lang, PAM_MSS_LANG_AUTO);
	assert_int_equal(o.use_first_pass, 0);
	assert_int_equal(o.try_first_pass, 0);
	assert_int_equal(o.noenroll, 0);
	assert_int_equal(o.noreset, 0);
	assert_int_equal(o.unenrolled_ignore, 0);
	assert_int_equal(o.debug, 0);
	assert_int_equal(o.audit, 0);
}

/* PAM may hand a NULL among the arguments: skipped, not a crash. */
static void
test_null_argument(void **state)
{
	struct pam_mss_opts o;
	const char *args[] = { "debug", NULL, "audit" };

	(void)state;
	logged = 0;
	assert_int_equal(pam_mss_opts_parse(NULL, 3, args, &o), PAM_SUCCESS);
	assert_int_equal(logged, 0);
	assert_int_equal(o.debug, 1);
	assert_int_equal(o.audit, 1);
}

static void
test_flags(void **state)
{
	struct pam_mss_opts o;

	(void)state;
	parse_ok(&o, "use_first_pass");
	assert_int_equal(o.use_first_pass, 1);
	assert_int_equal(o.try_first_pass, 0);
	parse_ok(&o, "try_first_pass");
	assert_int_equal(o.try_first_pass, 1);
	assert_int_equal(o.use_first_pass, 0);
	parse_ok(&o, "noenroll");
	assert_int_equal(o.noenroll, 1);
	assert_int_equal(o.noreset, 0);
	parse_ok(&o, "noreset");
	assert_int_equal(o.noreset, 1);
	assert_int_equal(o.noenroll, 0);
	parse_ok(&o, "debug");
	assert_int_equal(o.debug, 1);
	assert_int_equal(o.audit, 0);
	parse_ok(&o, "audit");
	assert_int_equal(o.audit, 1);
	assert_int_equal(o.debug, 0);
	/* A flag takes no value, and names are exact. */
	refused("debug=1", 0);
	refused("audit=yes", 0);
	refused("Debug", 0);
	refused("noenroll ", 0);
	refused("use_first_pass=", 0);
}

static void
test_socket(void **state)
{
	struct pam_mss_opts o;
	const char *args[] = { "socket=/srv/mfad/s.sock", NULL };
	char arg[SUN_PATH_LEN + 16];

	(void)state;
	assert_int_equal(parse(&o, args), PAM_SUCCESS);
	assert_int_equal(logged, 0);
	/* Into argv, not a copy. */
	assert_ptr_equal(o.socket, args[0] + strlen("socket="));
	assert_string_equal(o.socket, "/srv/mfad/s.sock");
	/* The longest path sun_path holds with its NUL, and one more. */
	snprintf(arg, sizeof(arg), "socket=/");
	memset(arg + 8, 'a', SUN_PATH_LEN - 2);
	arg[8 + SUN_PATH_LEN - 2] = '\0';
	assert_int_equal(strlen(arg + 7), SUN_PATH_LEN - 1);
	parse_ok(&o, arg);
	assert_int_equal(strlen(o.socket), SUN_PATH_LEN - 1);
	arg[8 + SUN_PATH_LEN - 2] = 'a';
	arg[8 + SUN_PATH_LEN - 1] = '\0';
	refused(arg, 1);
	refused("socket=run/mfad/mfad.sock", 1);
	refused("socket=./mfad.sock", 1);
	refused("socket=", 1);
	refused("socket", 0);
	refused("socket /run/mfad/mfad.sock", 0);
}

static void
test_socket_owner(void **state)
{
	struct pam_mss_opts o;

	(void)state;
	parse_ok(&o, "socket_owner=0");
	assert_int_equal(o.socket_owner, 0);
	parse_ok(&o, "socket_owner=root");
	assert_int_equal(o.socket_owner, 0);
	parse_ok(&o, "socket_owner=12345");
	assert_int_equal(o.socket_owner, 12345);
	parse_ok(&o, "socket_owner=4294967294");
	assert_int_equal(o.socket_owner, 4294967294U);
	/* (uid_t)-1 means "no change" to chown: never an owner. */
	refused("socket_owner=4294967295", 1);
	refused("socket_owner=99999999999999999999999", 1);
	refused("socket_owner=12a", 1);
	refused("socket_owner=-1", 1);
	refused("socket_owner=", 1);
	refused("socket_owner=no-such-user-mss-test", 1);
}

static void
test_failmode(void **state)
{
	struct pam_mss_opts o;

	(void)state;
	parse_ok(&o, "failmode=safe");
	assert_int_equal(o.failmode, PAM_MSS_FAIL_SAFE);
	parse_ok(&o, "failmode=secure");
	assert_int_equal(o.failmode, PAM_MSS_FAIL_SECURE);
	refused("failmode=SAFE", 1);
	refused("failmode=open", 1);
	refused("failmode=", 1);
	refused("failmode", 0);
}

static void
test_device(void **state)
{
	struct pam_mss_opts o;

	(void)state;
	parse_ok(&o, "device=none");
	assert_int_equal(o.ndevice, 0);
	parse_ok(&o, "device=tty");
	assert_int_equal(o.ndevice, 1);
	assert_int_equal(o.device[0], PAM_MSS_DEV_TTY);
	parse_ok(&o, "device=rhost,sshkey");
	assert_int_equal(o.ndevice, 2);
	assert_int_equal(o.device[0], PAM_MSS_DEV_RHOST);
	assert_int_equal(o.device[1], PAM_MSS_DEV_SSHKEY);
	parse_ok(&o, "device=tty,rhost,sshkey");
	assert_int_equal(o.ndevice, 3);
	assert_int_equal(o.device[0], PAM_MSS_DEV_TTY);
	assert_int_equal(o.device[1], PAM_MSS_DEV_RHOST);
	assert_int_equal(o.device[2], PAM_MSS_DEV_SSHKEY);
	refused("device=sshkey,sshkey", 1);
	refused("device=tty,rhost,tty", 1);
	refused("device=sshkey,rhost,tty,sshkey", 1);
	refused("device=none,tty", 1);
	refused("device=tty,none", 1);
	refused("device=sshkey,,tty", 1);
	refused("device=sshkey,", 1);
	refused("device=,sshkey", 1);
	refused("device=SSHKEY", 1);
	refused("device=ssh", 1);
	refused("device=sshkeys", 1);
	refused("device=sshkey rhost", 1);
	refused("device=", 1);
	refused("device", 0);
}

static void
test_email(void **state)
{
	struct pam_mss_opts o;

	(void)state;
	parse_ok(&o, "email=skip");
	assert_int_equal(o.email_skip, 1);
	parse_ok(&o, "email=prompt");
	assert_int_equal(o.email_skip, 0);
	refused("email=ask", 1);
	refused("email=", 1);
	refused("email", 0);
}

static void
test_tries(void **state)
{
	struct pam_mss_opts o;

	(void)state;
	parse_ok(&o, "tries=1");
	assert_int_equal(o.tries, 1);
	parse_ok(&o, "tries=10");
	assert_int_equal(o.tries, PAM_MSS_TRIES_MAX);
	assert_int_equal(PAM_MSS_TRIES_MAX, 10);
	parse_ok(&o, "tries=07");
	assert_int_equal(o.tries, 7);
	refused("tries=0", 1);
	refused("tries=00", 1);
	refused("tries=11", 1);
	refused("tries=100", 1);
	refused("tries=010", 1);
	refused("tries=-1", 1);
	refused("tries=+3", 1);
	refused("tries= 3", 1);
	refused("tries=3 ", 1);
	refused("tries=3x", 1);
	refused("tries=0x3", 1);
	refused("tries=", 1);
	refused("tries", 0);
}

static void
test_lang(void **state)
{
	struct pam_mss_opts o;

	(void)state;
	parse_ok(&o, "lang=fr");
	assert_int_equal(o.lang, PAM_MSS_LANG_FR);
	parse_ok(&o, "lang=en");
	assert_int_equal(o.lang, PAM_MSS_LANG_EN);
	refused("lang=de", 1);
	refused("lang=FR", 1);
	refused("lang=fr_FR", 1);
	refused("lang=fr_FR.UTF-8", 1);
	refused("lang=", 1);
	refused("lang", 0);
}

static void
test_unenrolled(void **state)
{
	struct pam_mss_opts o;

	(void)state;
	parse_ok(&o, "unenrolled=ignore");
	assert_int_equal(o.unenrolled_ignore, 1);
	parse_ok(&o, "unenrolled=deny");
	assert_int_equal(o.unenrolled_ignore, 0);
	refused("unenrolled=allow", 1);
	refused("unenrolled=Ignore", 1);
	refused("unenrolled=", 1);
	refused("unenrolled", 0);
}

static void
test_unknown(void **state)
{
	(void)state;
	refused("nosuch", 0);
	refused("nosuch=1", 0);
	refused("", 0);
	refused("=secure", 0);
	refused("sockets=/run/x", 0);
	refused("failmodes=safe", 0);
	refused("tty", 0);
	/* Options of other modules are no exception. */
	refused("nullok", 0);
	refused("use_authtok", 0);
}

/* Applied in order: the last of an argument given twice wins. */
static void
test_later_wins(void **state)
{
	struct pam_mss_opts o;
	const char *a1[] = { "failmode=safe", "tries=5", "lang=fr",
	    "device=tty", "email=skip", "unenrolled=ignore",
	    "socket=/a.sock", "socket_owner=7",
	    "failmode=secure", "tries=2", "lang=en", "device=rhost",
	    "email=prompt", "unenrolled=deny", "socket=/b.sock",
	    "socket_owner=8", NULL };
	const char *a2[] = { "device=none", "device=sshkey,tty", NULL };

	(void)state;
	assert_int_equal(parse(&o, a1), PAM_SUCCESS);
	assert_int_equal(logged, 0);
	assert_int_equal(o.failmode, PAM_MSS_FAIL_SECURE);
	assert_int_equal(o.tries, 2);
	assert_int_equal(o.lang, PAM_MSS_LANG_EN);
	assert_int_equal(o.ndevice, 1);
	assert_int_equal(o.device[0], PAM_MSS_DEV_RHOST);
	assert_int_equal(o.email_skip, 0);
	assert_int_equal(o.unenrolled_ignore, 0);
	assert_string_equal(o.socket, "/b.sock");
	assert_int_equal(o.socket_owner, 8);
	assert_int_equal(parse(&o, a2), PAM_SUCCESS);
	assert_int_equal(o.ndevice, 2);
	assert_int_equal(o.device[0], PAM_MSS_DEV_SSHKEY);
	assert_int_equal(o.device[1], PAM_MSS_DEV_TTY);
}

/* One bad argument anywhere fails the whole call; the line names the
 * first one, and nothing after it is looked at. */
static void
test_one_bad_fails_all(void **state)
{
	struct pam_mss_opts o;
	const char *last[] = { "debug", "failmode=safe", "tries=99", NULL };
	const char *first[] = { "lang=xx", "debug", "bogus", NULL };
	const char *mid[] = { "audit", "bogus", "tries=99", NULL };

	(void)state;
	assert_int_equal(parse(&o, last), PAM_SERVICE_ERR);
	assert_int_equal(logged, 1);
	assert_non_null(strstr(logged_line, "\"tries=99\""));
	assert_int_equal(parse(&o, first), PAM_SERVICE_ERR);
	assert_int_equal(logged, 1);
	assert_non_null(strstr(logged_line, "\"lang=xx\""));
	assert_int_equal(parse(&o, mid), PAM_SERVICE_ERR);
	assert_int_equal(logged, 1);
	assert_string_equal(logged_line,
	    "unknown argument \"bogus\": refusing to run");
}

/* Every argument pam_mss(8) documents, at once. */
static void
test_all_together(void **state)
{
	struct pam_mss_opts o;
	const char *args[] = { "socket=/run/x/mfad.sock", "socket_owner=0",
	    "failmode=safe", "device=sshkey,tty", "email=skip", "tries=4",
	    "lang=fr", "use_first_pass", "try_first_pass", "noenroll",
	    "noreset", "debug", "audit", "unenrolled=ignore", NULL };

	(void)state;
	assert_int_equal(parse(&o, args), PAM_SUCCESS);
	assert_int_equal(logged, 0);
	assert_string_equal(o.socket, "/run/x/mfad.sock");
	assert_int_equal(o.socket_owner, 0);
	assert_int_equal(o.failmode, PAM_MSS_FAIL_SAFE);
	assert_int_equal(o.ndevice, 2);
	assert_int_equal(o.email_skip, 1);
	assert_int_equal(o.tries, 4);
	assert_int_equal(o.lang, PAM_MSS_LANG_FR);
	assert_true(o.use_first_pass && o.try_first_pass && o.noenroll &&
	    o.noreset && o.debug && o.audit && o.unenrolled_ignore);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_null_argument),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_socket),
		cmocka_unit_test(test_socket_owner),
		cmocka_unit_test(test_failmode),
		cmocka_unit_test(test_device),
		cmocka_unit_test(test_email),
		cmocka_unit_test(test_tries),
		cmocka_unit_test(test_lang),
		cmocka_unit_test(test_unenrolled),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_later_wins),
		cmocka_unit_test(test_one_bad_fails_all),
		cmocka_unit_test(test_all_together),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
