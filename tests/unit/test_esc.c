/*
 * Unit tests for common/mss_esc.c and mfad's audit lines built with it
 * (mfad/mfad_audit.c): controls, quotes, backslashes, blanks and '=',
 * bytes over 0x7f, cutting to fit, and PAM_RHOST values made to forge a
 * field or a line for a log reader such as fail2ban. syslog is wrapped
 * (-Wl,--wrap) so that the test reads the line mfad would send.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "mfad_audit.h"
#include "mfad_log.h"
#include "mss_esc.h"

#include "mfad_syslog.h"

void __wrap_mfad_syslog_send(const struct mfad_syslog_line *lines,
    size_t n);

static unsigned int logged;
static int logged_prio;
static char logged_line[4096];

/* What mfad's log would send to /dev/log, line by line. */
void
__wrap_mfad_syslog_send(const struct mfad_syslog_line *lines, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		logged++;
		logged_prio = lines[i].prio;
		snprintf(logged_line, sizeof(logged_line), "%s",
		    lines[i].text);
	}
}

/* s escaped for a bare (quoted = 0) or quoted field into a 1 KiB buffer. */
static const char *
esc(const char *s, int quoted)
{
	static char out[1024];

	memset(out, 'Z', sizeof(out));
	mss_esc_field(s, out, sizeof(out), quoted);
	return out;
}

/* The audit line of ev, as mfad would send it to syslog. */
static const char *
line_of(const struct mfad_audit_ev *ev)
{
	logged = 0;
	logged_line[0] = '\0';
	mfad_audit_log(ev);
	assert_int_equal(logged, 1);
	return logged_line;
}

static unsigned int
count(const char *hay, const char *needle)
{
	unsigned int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

static void
test_plain(void **state)
{
	(void)state;
	assert_string_equal(esc("", 0), "");
	assert_string_equal(esc(NULL, 0), "");
	assert_string_equal(esc(NULL, 1), "");
	assert_string_equal(esc("203.0.113.9", 0), "203.0.113.9");
	assert_string_equal(esc("2001:db8::1", 0), "2001:db8::1");
	assert_string_equal(esc("host-1.example.org", 0),
	    "host-1.example.org");
	assert_string_equal(esc("alice_b.c+d@x", 0), "alice_b.c+d@x");
	assert_string_equal(esc("/dev/pts/3", 0), "/dev/pts/3");
	assert_string_equal(esc("~!#$%&'()*,;<>?[]^`{|}", 0),
	    "~!#$%&'()*,;<>?[]^`{|}");
}

static void
test_controls(void **state)
{
	char all[33];
	const char *o;
	int i;

	(void)state;
	assert_string_equal(esc("a\nb", 0), "a\\x0ab");
	assert_string_equal(esc("a\rb", 1), "a\\x0db");
	assert_string_equal(esc("\t", 0), "\\x09");
	assert_string_equal(esc("\x1b[2J", 0), "\\x1b[2J");
	assert_string_equal(esc("\x7f", 1), "\\x7f");
	assert_string_equal(esc("\x01\x1f", 0), "\\x01\\x1f");
	/* Every byte under 0x20, in both kinds of field. */
	for (i = 1; i < 33; i++)
		all[i - 1] = (char)i;
	all[32] = '\0';
	for (i = 0; i < 2; i++) {
		o = esc(all, i);
		assert_int_equal(strlen(o), 31 * 4 + (i ? 1 : 4));
		assert_null(strchr(o, '\n'));
		assert_null(strchr(o, '\r'));
		assert_memory_equal(o, "\\x01\\x02", 8);
	}
}

static void
test_quotes_backslash(void **state)
{
	(void)state;
	assert_string_equal(esc("say \"hi\"", 1), "say \\x22hi\\x22");
	assert_string_equal(esc("\"", 0), "\\x22");
	assert_string_equal(esc("a\\b", 0), "a\\x5cb");
	assert_string_equal(esc("a\\b", 1), "a\\x5cb");
	/* An escape already written by someone is escaped again, so that
	 * a reader that decodes gets back what was typed. */
	assert_string_equal(esc("\\x20", 0), "\\x5cx20");
}

/* Blanks and '=' end a bare field; inside quotes they are text. */
static void
test_space_equals(void **state)
{
	(void)state;
	assert_string_equal(esc("a b=c", 0), "a\\x20b\\x3dc");
	assert_string_equal(esc("a b=c", 1), "a b=c");
	assert_string_equal(esc(" ", 0), "\\x20");
	assert_string_equal(esc("=", 0), "\\x3d");
}

/* Bytes over 0x7f (UTF-8) are written as they are: log readers and
 * people see the name that was typed. */
static void
test_non_ascii(void **state)
{
	(void)state;
	assert_string_equal(esc("h\xc3\xa9l\xc3\xa8ne", 0),
	    "h\xc3\xa9l\xc3\xa8ne");
	assert_string_equal(esc("\xe2\x82\xac 5", 1), "\xe2\x82\xac 5");
	assert_string_equal(esc("\xff\x80", 0), "\xff\x80");
}

/* Cut to fit, NUL-terminated, never in the middle of an escape. */
static void
test_cut(void **state)
{
	char out[8], big[3000];
	size_t i;

	(void)state;
	memset(out, 'Z', sizeof(out));
	mss_esc_field("abc", out, 0, 0);
	assert_int_equal(out[0], 'Z');
	mss_esc_field("abc", out, 1, 0);
	assert_string_equal(out, "");
	mss_esc_field("abcdefghij", out, sizeof(out), 0);
	assert_string_equal(out, "abcdefg");
	mss_esc_field("ab\ncd", out, 6, 0);
	assert_string_equal(out, "ab");
	mss_esc_field("ab\ncd", out, 7, 0);
	assert_string_equal(out, "ab\\x0a");
	mss_esc_field("ab\ncd", out, 8, 0);
	assert_string_equal(out, "ab\\x0ac");
	mss_esc_field("\n\n", out, sizeof(out), 0);
	assert_string_equal(out, "\\x0a");
	/* A long value: the output's size, exactly. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(strlen(esc(big, 0)), 1023);
	for (i = 0; i < sizeof(big) - 1; i++)
		big[i] = ' ';
	assert_int_equal(strlen(esc(big, 0)), 1020);
}

/* mfad's audit field writer is this one, bare. */
static void
test_audit_escape(void **state)
{
	char out[64];

	(void)state;
	mfad_audit_escape("a b=c\"\\\n\xc3\xa9", out, sizeof(out));
	assert_string_equal(out, "a\\x20b\\x3dc\\x22\\x5c\\x0a\xc3\xa9");
}

static void
test_audit_line(void **state)
{
	struct mfad_audit_ev ev = { "code_wrong", "bob", "sshd",
	    "203.0.113.9", "failure", "2 tries left" };
	struct mfad_audit_ev info = { "device_remembered", "", NULL, "",
	    "success", NULL };

	(void)state;
	assert_string_equal(line_of(&ev), "event=code_wrong user=bob "
	    "service=sshd rhost=203.0.113.9 result=failure "
	    "detail=\"2 tries left\"");
	assert_int_equal(logged_prio, LOG_AUTHPRIV | LOG_NOTICE);
	/* Empty and missing fields are "-", no detail no field. */
	assert_string_equal(line_of(&info), "event=device_remembered user=- "
	    "service=- rhost=- result=success");
	assert_int_equal(logged_prio, LOG_AUTHPRIV | LOG_INFO);
	info.detail = "";
	assert_string_equal(line_of(&info), "event=device_remembered user=- "
	    "service=- rhost=- result=success");
	/* The detail is quoted: blanks and '=' stay, quotes do not. */
	ev.detail = "by=root reason=\"x\"\nevent=login_ok";
	assert_string_equal(line_of(&ev), "event=code_wrong user=bob "
	    "service=sshd rhost=203.0.113.9 result=failure "
	    "detail=\"by=root reason=\\x22x\\x22\\x0aevent=login_ok\"");
}

/*
 * PAM_RHOST comes from the client's DNS or its own words: whatever it
 * holds stays one field of one line, so that fail2ban's
 * "rhost=<HOST>" can only ever match the real one.
 */
static void
test_audit_hostile_rhost(void **state)
{
	static const char *const hostile[] = {
		"10.0.0.1 result=success",
		"x rhost=198.51.100.7",
		("x\nmfad[1]: event=login_denied user=x service=sshd "
		    "rhost=198.51.100.66 result=failure"),
		"x\rrhost=198.51.100.8",
		"\"quoted\" rhost=\"198.51.100.9\"",
		"x\\x20rhost\\x3d198.51.100.10",
		"x\trhost=198.51.100.11",
		"x\x0brhost=198.51.100.12\x0c",
	};
	struct mfad_audit_ev ev = { "login_denied", "alice", "sshd", NULL,
	    "failure", NULL };
	const char *l, *r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		ev.rhost = hostile[i];
		l = line_of(&ev);
		assert_null(strpbrk(l, "\n\r\t\x0b\x0c"));
		assert_int_equal(count(l, "rhost="), 1);
		assert_int_equal(count(l, "result="), 1);
		assert_int_equal(count(l, "event="), 1);
		assert_null(strchr(l, '"'));
		/* The field ends at the first blank, before result=. */
		r = strstr(l, " rhost=") + 7;
		assert_ptr_equal(strchr(r, ' '), strstr(l, " result=failure"));
	}
	/* A user name (from the client too) the same. */
	ev.rhost = "203.0.113.9";
	ev.user = "x rhost=198.51.100.7";
	l = line_of(&ev);
	assert_int_equal(count(l, "rhost="), 1);
	assert_non_null(strstr(l, " rhost=203.0.113.9 "));
}

/* The longest fields still leave the line's own fields whole. */
static void
test_audit_long(void **state)
{
	static char user[600], rhost[3000], detail[3000];
	struct mfad_audit_ev ev = { "login_denied", user, "sshd", rhost,
	    "failure", detail };
	const char *l, *r;

	(void)state;
	memset(user, 'u', sizeof(user) - 1);
	memset(rhost, 'h', sizeof(rhost) - 1);
	memset(detail, 'd', sizeof(detail) - 1);
	l = line_of(&ev);
	assert_true(strlen(l) < 2048);
	assert_non_null(strstr(l, " user=uuu"));
	/* Each field cut to its own size: 259 bytes of user, 1029 of
	 * rhost. */
	r = strstr(l, " user=") + 6;
	assert_int_equal(strchr(r, ' ') - r, 259);
	r = strstr(l, " rhost=") + 7;
	assert_int_equal(strchr(r, ' ') - r, 1029);
	assert_non_null(strstr(l, " result=failure detail=\"ddd"));
	/* Escapes are cut whole: never "\x0" then something else. */
	memset(rhost, '\n', sizeof(rhost) - 1);
	l = line_of(&ev);
	r = strstr(l, " rhost=") + 7;
	assert_int_equal(strchr(r, ' ') - r, 1028);
	assert_memory_equal(r + 1024, "\\x0a ", 5);
}

static int
setup(void **state)
{
	(void)state;
	mfad_log_init(0, 0);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_controls),
		cmocka_unit_test(test_quotes_backslash),
		cmocka_unit_test(test_space_equals),
		cmocka_unit_test(test_non_ascii),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_audit_escape),
		cmocka_unit_test(test_audit_line),
		cmocka_unit_test(test_audit_hostile_rhost),
		cmocka_unit_test(test_audit_long),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
