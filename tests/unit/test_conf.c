/*
 * mfad.conf reader: defaults, every key with a good value, every key with a
 * bad one (and the exact file:line of the error), and the checks between
 * keys that run once the whole file is read.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "mss_err.h"
#include "mss_proto.h"
#include "mfad_conf.h"

#define ERRLEN	1024

/* Writes len bytes of text to a new file under /tmp; path gets its name. */
static void
write_file(const char *text, size_t len, char *path, size_t pathlen)
{
	int fd;

	assert_true(pathlen > sizeof("/tmp/test_conf.XXXXXX"));
	strcpy(path, "/tmp/test_conf.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Loads len bytes of text as a config file; returns the result code. */
static int
load_bytes(const char *text, size_t len, struct mfad_conf **out, char *path,
    size_t pathlen, char *err)
{
	int r;

	write_file(text, len, path, pathlen);
	r = mfad_conf_load(path, out, err, ERRLEN);
	assert_int_equal(unlink(path), 0);
	return r;
}

/* Loads text and fails the test unless it is accepted. */
static struct mfad_conf *
load_ok(const char *text)
{
	struct mfad_conf *conf = NULL;
	char path[64], err[ERRLEN];
	int r;

	r = load_bytes(text, strlen(text), &conf, path, sizeof(path), err);
	if (r != 0)
		fail_msg("refused (%d): %s\n--- config ---\n%s", r, err, text);
	assert_non_null(conf);
	assert_string_equal(conf->path, path);
	return conf;
}

/*
 * Loads len bytes and fails the test unless they are refused with an error
 * that starts with exactly "path:line: " and contains reason.
 */
static void
expect_err_bytes(const char *text, size_t len, unsigned line,
    const char *reason)
{
	struct mfad_conf *conf = (struct mfad_conf *)1;
	char path[64], err[ERRLEN], prefix[128];
	int r;

	r = load_bytes(text, len, &conf, path, sizeof(path), err);
	if (r != MSS_ERR_CONFIG)
		fail_msg("expected MSS_ERR_CONFIG, got %d (%s)\n"
		    "--- config ---\n%s", r, err, text);
	assert_null(conf);
	snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
	if (strncmp(err, prefix, strlen(prefix)) != 0 ||
	    strstr(err + strlen(prefix), reason) == NULL)
		fail_msg("error \"%s\"\nexpected \"%s...%s...\"\n"
		    "--- config ---\n%s", err, prefix, reason, text);
}

static void
expect_err(const char *text, unsigned line, const char *reason)
{
	expect_err_bytes(text, strlen(text), line, reason);
}

static void
check_defaults(const struct mfad_conf *c)
{
	char host[256], from[300];

	assert_string_equal(c->socket, MSS_DEFAULT_SOCKET);
	assert_string_equal(c->socket, "/run/mfad/mfad.sock");
	assert_string_equal(c->database, LOCALSTATEDIR "/lib/mfad");
	assert_true(c->map_size == (1ULL << 30));
	assert_null(c->user);
	assert_null(c->admin_group);
	assert_null(c->pam_uids);
	assert_int_equal(c->n_pam_uids, 0);
	assert_int_equal(c->audit_days, 90);

	assert_int_equal(c->code_length, 6);
	assert_int_equal(c->code_ttl, 300);
	assert_int_equal(c->code_max_attempts, 5);
	assert_int_equal(c->code_resend_interval, 30);
	assert_int_equal(c->code_max_sends, 5);
	assert_int_equal(c->remember_days, 30);

	assert_int_equal(c->pw_min_length, 12);
	assert_int_equal(c->pw_max_length, 256);
	assert_int_equal(c->pw_strength, MFAD_STRENGTH_INTERACTIVE);
	assert_true(c->pw_opslimit == crypto_pwhash_OPSLIMIT_INTERACTIVE);
	assert_true(c->pw_memlimit == crypto_pwhash_MEMLIMIT_INTERACTIVE);
	assert_int_equal(c->pw_weak, 0);
	assert_null(c->pw_blocklist);

	assert_int_equal(c->lock_threshold, 10);
	assert_int_equal(c->lock_duration, 900);
	assert_true(c->reenroll_before == 0);

	assert_string_equal(c->smtp, "localhost:25");
	assert_string_equal(c->smtp_host, "localhost");
	assert_string_equal(c->smtp_port, "25");
	assert_int_equal(c->tls, MFAD_TLS_STARTTLS);
	assert_null(c->ca_file);
	assert_null(c->auth_file);
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	host[sizeof(host) - 1] = '\0';
	snprintf(from, sizeof(from), "mfad@%s", host);
	/* Unset on a host name without a domain: mfad -t asks for it. */
	if (strchr(host, '.') != NULL)
		assert_string_equal(c->from, from);
	else
		assert_null(c->from);
	assert_string_equal(c->language, "en");
	assert_string_equal(c->templates, PKGDATADIR "/templates");
	assert_int_equal(c->mail_max_per_minute, 600);
	assert_int_equal(c->mail_connections, 16);

	assert_int_equal(c->pw_impl, MFAD_PW_IMPL_AUTO);

	/* No [directory]: local mode. */
	assert_int_equal(c->device_scope, MFAD_DEVICE_SCOPE_HOST);
	assert_int_equal(c->dir_nuris, 0);
	assert_null(c->dir_base);
	assert_null(c->dir_bind_dn);
	assert_null(c->dir_bind_pw_file);
	assert_null(c->dir_ca_file);
	assert_null(c->dir_key_file);
	assert_int_equal(c->dir_timeout_ms, 2000);
	assert_string_equal(c->dir_host, host);
}

static void
test_defaults(void **state)
{
	struct mfad_conf *c;

	(void)state;
	assert_non_null(c = mfad_conf_new());
	assert_null(c->path);
	check_defaults(c);
	mfad_conf_free(c);
	mfad_conf_free(NULL);
}

static void
test_empty_file(void **state)
{
	struct mfad_conf *c;

	(void)state;
	c = load_ok("");
	check_defaults(c);
	mfad_conf_free(c);
}

static void
test_comments_and_empty_sections(void **state)
{
	struct mfad_conf *c;

	(void)state;
	c = load_ok(
	    "# a comment\n"
	    "; another one\n"
	    "   # indented comment\n"
	    "\n"
	    "[mfad]\n"
	    "[ code ]\n"
	    "\t\n"
	    "[device]\n[password]\n[lockout]\n[policy]\n[mail]\n");
	check_defaults(c);
	mfad_conf_free(c);
}

static void
test_every_key(void **state)
{
	struct mfad_conf *c;

	(void)state;
	c = load_ok(
	    "[mfad]\n"
	    "socket = /run/mfad-test/s.sock\n"
	    "database = /srv/mfad/db\n"
	    "map_size = 2G\n"
	    "user = nobody\n"
	    "admin_group = nogroup\n"
	    "pam_uids = 65534, 1000\n"
	    "audit_days = 365\n"
	    "[code]\n"
	    "length = 8\n"
	    "ttl = 600\n"
	    "max_attempts = 3\n"
	    "resend_interval = 0\n"
	    "max_sends = 10\n"
	    "[device]\n"
	    "remember_days = 0\n"
	    "[password]\n"
	    "min_length = 15\n"
	    "max_length = 128\n"
	    "strength = moderate\n"
	    "opslimit = 5\n"
	    "memlimit = 512M\n"
	    "blocklist = /etc/mfad/blocklist\n"
	    "[lockout]\n"
	    "threshold = 100\n"
	    "duration = 604800\n"
	    "[policy]\n"
	    "reenroll_before = 2026-01-01\n"
	    "[mail]\n"
	    "smtp = mail.example.org:587\n"
	    "tls = starttls\n"
	    "ca_file = /etc/ssl/certs/ca.pem\n"
	    "auth_file = /etc/mfad/smtp-auth\n"
	    "from = no-reply@example.org\n"
	    "language = fr\n"
	    "templates = /etc/mfad/templates\n"
	    "max_per_minute = 100000\n"
	    "connections = 32\n");

	assert_string_equal(c->socket, "/run/mfad-test/s.sock");
	assert_string_equal(c->database, "/srv/mfad/db");
	assert_true(c->map_size == (2ULL << 30));
	assert_string_equal(c->user, "nobody");
	assert_string_equal(c->admin_group, "nogroup");
	assert_int_equal(c->n_pam_uids, 2);
	assert_int_equal(c->pam_uids[0], 65534);
	assert_int_equal(c->pam_uids[1], 1000);
	assert_int_equal(c->audit_days, 365);

	assert_int_equal(c->code_length, 8);
	assert_int_equal(c->code_ttl, 600);
	assert_int_equal(c->code_max_attempts, 3);
	assert_int_equal(c->code_resend_interval, 0);
	assert_int_equal(c->code_max_sends, 10);
	assert_int_equal(c->remember_days, 0);

	assert_int_equal(c->pw_min_length, 15);
	assert_int_equal(c->pw_max_length, 128);
	assert_int_equal(c->pw_strength, MFAD_STRENGTH_MODERATE);
	assert_true(c->pw_opslimit == 5);
	assert_true(c->pw_memlimit == (512UL << 20));
	assert_int_equal(c->pw_weak, 0);
	assert_string_equal(c->pw_blocklist, "/etc/mfad/blocklist");

	assert_int_equal(c->lock_threshold, 100);
	assert_int_equal(c->lock_duration, 604800);
	assert_true(c->reenroll_before == 1767225600);

	assert_string_equal(c->smtp, "mail.example.org:587");
	assert_string_equal(c->smtp_host, "mail.example.org");
	assert_string_equal(c->smtp_port, "587");
	assert_int_equal(c->tls, MFAD_TLS_STARTTLS);
	assert_string_equal(c->ca_file, "/etc/ssl/certs/ca.pem");
	assert_string_equal(c->auth_file, "/etc/mfad/smtp-auth");
	assert_string_equal(c->from, "no-reply@example.org");
	assert_string_equal(c->language, "fr");
	assert_string_equal(c->templates, "/etc/mfad/templates");
	assert_int_equal(c->mail_max_per_minute, 100000);
	assert_int_equal(c->mail_connections, 32);
	mfad_conf_free(c);
}

/* The bounds of every integer key are accepted. */
static void
test_integer_bounds(void **state)
{
	struct mfad_conf *c;

	(void)state;
	c = load_ok("[mfad]\naudit_days=1\n[code]\nlength=6\nttl=1\n"
	    "max_attempts=1\nresend_interval=3600\nmax_sends=1\n"
	    "[device]\nremember_days=365\n[password]\nmin_length=8\n"
	    "max_length=8\n[lockout]\nthreshold=1\nduration=1\n"
	    "[mail]\nmax_per_minute=1\nconnections=1\n");
	assert_int_equal(c->audit_days, 1);
	assert_int_equal(c->code_length, 6);
	assert_int_equal(c->code_ttl, 1);
	assert_int_equal(c->code_max_attempts, 1);
	assert_int_equal(c->code_resend_interval, 3600);
	assert_int_equal(c->code_max_sends, 1);
	assert_int_equal(c->remember_days, 365);
	assert_int_equal(c->pw_min_length, 8);
	assert_int_equal(c->pw_max_length, 8);
	assert_int_equal(c->lock_threshold, 1);
	assert_int_equal(c->lock_duration, 1);
	assert_int_equal(c->mail_max_per_minute, 1);
	assert_int_equal(c->mail_connections, 1);
	mfad_conf_free(c);

	c = load_ok("[mfad]\naudit_days=3650\n[code]\nlength=010\n"
	    "ttl=3600\nmax_attempts=100\nmax_sends=64\n[password]\n"
	    "min_length=1024\nmax_length=1024\n");
	assert_int_equal(c->audit_days, 3650);
	assert_int_equal(c->code_length, 10);
	assert_int_equal(c->code_ttl, 3600);
	assert_int_equal(c->code_max_attempts, 100);
	assert_int_equal(c->code_max_sends, 64);
	assert_int_equal(c->pw_min_length, 1024);
	assert_int_equal(c->pw_max_length, 1024);
	mfad_conf_free(c);
}

struct bad_value {
	const char	*section;
	const char	*key;
	const char	*value;
	const char	*reason;
};

static const struct bad_value bad_values[] = {
	{ "mfad", "socket", "run/mfad.sock",
	    "[mfad] socket must be an absolute path, not \"run/mfad.sock\"" },
	{ "mfad", "socket", "/run/mfad/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock",
	    "[mfad] socket must be at most 107 bytes long" },
	{ "mfad", "database", "var/lib/mfad",
	    "[mfad] database must be an absolute path" },
	{ "mfad", "map_size", "1X",
	    "[mfad] map_size must be a byte count from 1M to 1T" },
	{ "mfad", "map_size", "512K", "not \"512K\"" },
	{ "mfad", "map_size", "2T", "from 1M to 1T" },
	{ "mfad", "map_size", "10 M", "from 1M to 1T" },
	{ "mfad", "map_size", "99999999999999999999", "from 1M to 1T" },
	{ "mfad", "map_size", "17179869184T", "from 1M to 1T" },
	{ "mfad", "user", "no_such_user_mfadtest",
	    "[mfad] user must name an existing user, not "
	    "\"no_such_user_mfadtest\"" },
	{ "mfad", "admin_group", "no_such_group_mfadtest",
	    "[mfad] admin_group must name an existing group" },
	{ "mfad", "pam_uids", "root,,0",
	    "[mfad] pam_uids must be a comma-separated list" },
	{ "mfad", "pam_uids", "root,", "comma-separated list" },
	{ "mfad", "pam_uids", "-1", "existing user, not \"-1\"" },
	{ "mfad", "pam_uids", "0,no_such_user_mfadtest",
	    "[mfad] pam_uids must name an existing user, not "
	    "\"no_such_user_mfadtest\"" },
	{ "mfad", "pam_uids", "4294967295",
	    "\"4294967295\" is not a uid from 0 to 4294967294" },
	{ "mfad", "pam_uids", "12ab", "\"12ab\" is not a uid" },
	{ "mfad", "audit_days", "0",
	    "[mfad] audit_days must be an integer from 1 to 3650, not \"0\"" },
	{ "mfad", "audit_days", "3651", "from 1 to 3650" },
	{ "code", "length", "5",
	    "[code] length must be an integer from 6 to 10, not \"5\"" },
	{ "code", "length", "11", "from 6 to 10, not \"11\"" },
	{ "code", "length", "-6", "from 6 to 10, not \"-6\"" },
	{ "code", "length", "+6", "from 6 to 10, not \"+6\"" },
	{ "code", "length", "6 # six", "not \"6 # six\"" },
	{ "code", "length", "0x6", "from 6 to 10" },
	{ "code", "ttl", "0", "[code] ttl must be an integer from 1 to 3600" },
	{ "code", "ttl", "300s", "not \"300s\"" },
	{ "code", "ttl", "99999999999999999999999", "from 1 to 3600" },
	{ "code", "ttl", "4294967597", "from 1 to 3600" },
	{ "code", "max_attempts", "101",
	    "[code] max_attempts must be an integer from 1 to 100" },
	{ "code", "resend_interval", "3601",
	    "[code] resend_interval must be an integer from 0 to 3600" },
	{ "code", "max_sends", "0",
	    "[code] max_sends must be an integer from 1 to 64" },
	/* mfad counts at most 64 mails an hour per account: 65 and more
	 * were taken and silently worked as 64. */
	{ "code", "max_sends", "65", "from 1 to 64, not \"65\"" },
	{ "code", "max_sends", "1000", "from 1 to 64" },
	{ "device", "remember_days", "366",
	    "[device] remember_days must be an integer from 0 to 365" },
	{ "password", "min_length", "7",
	    "[password] min_length must be an integer from 8 to 1024" },
	{ "password", "min_length", "1025", "not \"1025\"" },
	{ "password", "max_length", "1025",
	    "[password] max_length must be an integer from 8 to 1024" },
	{ "password", "strength", "strong",
	    "[password] strength must be interactive, moderate or sensitive, "
	    "not \"strong\"" },
	{ "password", "strength", "Moderate", "not \"Moderate\"" },
	{ "password", "opslimit", "0",
	    "[password] opslimit must be an integer from 1 to 100" },
	{ "password", "opslimit", "101", "not \"101\"" },
	{ "password", "memlimit", "4K",
	    "[password] memlimit must be a byte count from 8K to 4G" },
	{ "password", "memlimit", "5G", "not \"5G\"" },
	{ "password", "memlimit", "8KB", "not \"8KB\"" },
	{ "password", "blocklist", "blocklist.txt",
	    "[password] blocklist must be an absolute path" },
	{ "lockout", "threshold", "101",
	    "[lockout] threshold must be an integer from 1 to 100" },
	{ "lockout", "threshold", "0", "not \"0\"" },
	{ "lockout", "duration", "0",
	    "[lockout] duration must be an integer from 1 to 604800" },
	{ "lockout", "duration", "604801", "not \"604801\"" },
	{ "policy", "reenroll_before", "2026-02-30",
	    "[policy] reenroll_before must be a date YYYY-MM-DD" },
	{ "mail", "smtp", "relay",
	    "[mail] smtp must be host:port or [IPv6 address]:port with a port "
	    "from 1 to 65535, not \"relay\"" },
	{ "mail", "smtp", "relay:0", "not \"relay:0\"" },
	{ "mail", "smtp", "relay:65536", "not \"relay:65536\"" },
	{ "mail", "smtp", "relay:25x", "not \"relay:25x\"" },
	{ "mail", "smtp", ":25", "not \":25\"" },
	{ "mail", "smtp", "2001:db8::1:25", "not \"2001:db8::1:25\"" },
	{ "mail", "smtp", "[2001:db8::1]", "not \"[2001:db8::1]\"" },
	{ "mail", "smtp", "[relay]:25", "not \"[relay]:25\"" },
	{ "mail", "smtp", "re lay:25", "not \"re lay:25\"" },
	{ "mail", "tls", "ssl",
	    "[mail] tls must be starttls or none, not \"ssl\"" },
	{ "mail", "ca_file", "certs/ca.pem",
	    "[mail] ca_file must be an absolute path" },
	{ "mail", "auth_file", "smtp-auth",
	    "[mail] auth_file must be an absolute path" },
	{ "mail", "from", "mfad", "[mail] from must be a mail address "
	    "local@domain.tld (ASCII before the @, no blanks, quotes or angle "
	    "brackets), not \"mfad\": invalid email address" },
	{ "mail", "from", "mfad @example.org", "[mail] from must be" },
	{ "mail", "from", "mfad\r@example.org",
	    "not \"mfad\\x0d@example.org\"" },
	{ "mail", "from", "MFA <mfad@example.org>", "[mail] from must be" },
	{ "mail", "from", "mfad@@example.org", "[mail] from must be" },
	{ "mail", "from", "mfad@", "[mail] from must be" },
	{ "mail", "from", "@example.org", "[mail] from must be" },
	{ "mail", "from", "mfad@example..org", "[mail] from must be" },
	{ "mail", "from", "mfad.@example.org", "[mail] from must be" },
	{ "mail", "from", "\"mfad\"@example.org", "[mail] from must be" },
	{ "mail", "language", "de",
	    "[mail] language must be fr or en, not \"de\"" },
	{ "mail", "templates", "templates",
	    "[mail] templates must be an absolute path" },
	{ "mail", "max_per_minute", "0",
	    "[mail] max_per_minute must be an integer from 1 to 100000" },
	{ "mail", "max_per_minute", "100001", "not \"100001\"" },
	{ "mail", "connections", "0",
	    "[mail] connections must be an integer from 1 to 32" },
	{ "mail", "connections", "33", "not \"33\"" },
	{ "password", "implementation", "fast", "[password] implementation "
	    "must be auto, libargon2 or libsodium, not \"fast\"" },
};

/* Each bad value is refused, naming the line it is on. */
static void
test_bad_values(void **state)
{
	char text[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		const struct bad_value *b = &bad_values[i];

		/* The bad key on line 5, after a good one on line 4. */
		snprintf(text, sizeof(text), "; test %zu\n\n[%s]\n"
		    "  # comment\n%s = %s\n[mail]\nlanguage = en\n", i,
		    b->section, b->key, b->value);
		expect_err(text, 5, b->reason);
	}
}

/* Every key of every section, as mfad.conf(5) lists them. */
static const char *const all_keys[][2] = {
	{ "mfad", "socket" }, { "mfad", "database" },
	{ "mfad", "map_size" }, { "mfad", "user" },
	{ "mfad", "admin_group" }, { "mfad", "pam_uids" },
	{ "mfad", "audit_days" }, { "code", "length" },
	{ "code", "ttl" }, { "code", "max_attempts" },
	{ "code", "resend_interval" }, { "code", "max_sends" },
	{ "device", "remember_days" }, { "password", "min_length" },
	{ "password", "max_length" }, { "password", "strength" },
	{ "password", "opslimit" }, { "password", "memlimit" },
	{ "password", "blocklist" }, { "password", "implementation" },
	{ "lockout", "threshold" },
	{ "lockout", "duration" }, { "policy", "reenroll_before" },
	{ "mail", "smtp" }, { "mail", "tls" }, { "mail", "ca_file" },
	{ "mail", "auth_file" }, { "mail", "from" },
	{ "mail", "language" }, { "mail", "templates" },
	{ "mail", "max_per_minute" }, { "mail", "connections" },
	{ "device", "scope" }, { "directory", "uri" },
	{ "directory", "base" }, { "directory", "bind_dn" },
	{ "directory", "bind_pw_file" }, { "directory", "ca_file" },
	{ "directory", "timeout" }, { "directory", "key_file" },
	{ "directory", "host" },
};

#define NKEYS	(sizeof(all_keys) / sizeof(all_keys[0]))

/* Every key but reenroll_before refuses an empty value. */
static void
test_empty_values(void **state)
{
	char text[256], reason[128];
	struct mfad_conf *c;
	size_t i;

	(void)state;
	for (i = 0; i < NKEYS; i++) {
		if (strcmp(all_keys[i][1], "reenroll_before") == 0)
			continue;
		snprintf(text, sizeof(text), "[%s]\n%s =   \n", all_keys[i][0],
		    all_keys[i][1]);
		snprintf(reason, sizeof(reason), "[%s] %s must not be empty",
		    all_keys[i][0], all_keys[i][1]);
		expect_err(text, 2, reason);
	}
	c = load_ok("[policy]\nreenroll_before =\n");
	assert_true(c->reenroll_before == 0);
	mfad_conf_free(c);
}

static void
test_structure_errors(void **state)
{
	static const char nul[] = "[code]\nttl = 3\0 00\n";

	(void)state;
	expect_err("[code]\nlength = 6\nlenght = 7\n", 3,
	    "unknown key \"lenght\" in [code]");
	/* A key of another section is unknown here. */
	expect_err("[mail]\nlength = 6\n", 2, "unknown key \"length\" in [mail]");
	/* An unknown section is refused even with no key under it. */
	expect_err("[code]\n\n[codes]\n", 3, "unknown section [codes]");
	expect_err("[CODE]\nlength = 6\n", 1, "unknown section [CODE]");
	expect_err("length = 6\n", 1, "key \"length\" comes before any "
	    "[section]");
	expect_err("# c\n[code\n", 2, "expected \"[section]\", not \"[code\"");
	expect_err("[code]\nlength 6\n", 2, "expected \"key = value\"");
	expect_err("[code]\nlength: 6\n", 2, "expected \"key = value\"");
	expect_err("[code]\n= 6\n", 2, "missing key name");
	expect_err("[code]\nlength = 6\nttl = 60\nlength = 7\n", 4,
	    "[code] length is already set on line 2");
	/* A repeated section does not make a repeated key legal. */
	expect_err("[code]\nlength = 6\n[mail]\ntls = none\n[code]\n"
	    "length = 6\n", 6, "[code] length is already set on line 2");
	/* SMTP AUTH only inside TLS, whichever key comes first. */
	expect_err("[mail]\ntls = none\nauth_file = /etc/mfad/a\n", 3,
	    "[mail] auth_file needs tls = starttls");
	expect_err("[mail]\nauth_file = /etc/mfad/a\n\ntls = none\n", 2,
	    "[mail] auth_file needs tls = starttls");
	/* Not a continuation: an indented key is a key of its own. */
	expect_err("[code]\n  length = 6\n  length = 8\n", 3,
	    "already set on line 2");
	expect_err_bytes(nul, sizeof(nul) - 1, 2, "NUL byte in line");
}

static void
test_line_format(void **state)
{
	struct mfad_conf *c;
	char *big;
	size_t n;

	(void)state;
	/* CRLF line ends, a byte order mark, blanks around everything. */
	c = load_ok("\xef\xbb\xbf[code]\r\n\tlength\t=\t8 \r\n"
	    "  [ mail ]  \r\nsmtp=relay:25\r\n");
	assert_int_equal(c->code_length, 8);
	assert_string_equal(c->smtp_host, "relay");
	mfad_conf_free(c);

	/* The last line needs no newline; '=' in a value is the value's. */
	c = load_ok("[mail]\nfrom = a=b@example.org");
	assert_string_equal(c->from, "a=b@example.org");
	mfad_conf_free(c);

	/* An over-long line is refused, not cut. */
	n = 5000;
	assert_non_null(big = malloc(n + 32));
	memcpy(big, "[mail]\n\ntemplates = /", 21);
	memset(big + 21, 'a', n);
	strcpy(big + 21 + n, "\n");
	expect_err(big, 3, "line longer than 4096 bytes");
	free(big);
}

static void
test_length_order(void **state)
{
	struct mfad_conf *c;

	(void)state;
	/* Only min_length set, above the default max_length of 256. */
	expect_err("[password]\n\nmin_length = 300\n", 3,
	    "[password] max_length (256) must be at least min_length (300)");
	/* Both set: the later of the two lines is named. */
	expect_err("[password]\nmax_length = 20\n# x\nmin_length = 30\n", 4,
	    "max_length (20) must be at least min_length (30)");
	expect_err("[password]\nmin_length = 30\n# x\nmax_length = 20\n", 4,
	    "max_length (20) must be at least min_length (30)");
	/* Only max_length set, below the default min_length of 12. */
	expect_err("[mail]\ntls = none\n[password]\nmax_length = 10\n", 4,
	    "max_length (10) must be at least min_length (12)");
	/* The order of the keys does not matter when the values agree. */
	c = load_ok("[password]\nmax_length = 400\nmin_length = 300\n");
	assert_int_equal(c->pw_min_length, 300);
	assert_int_equal(c->pw_max_length, 400);
	mfad_conf_free(c);
}

static void
test_dates(void **state)
{
	static const char *const bad[] = {
		"2026-02-30", "2025-02-29", "2100-02-29", "2026-13-01",
		"2026-00-10", "2026-04-31", "2026-01-00", "2026-1-01",
		"2026-01-01x", "26-01-01", "1999-12-31", "2026/01/01",
		"2026-01-01 00:00", "today",
	};
	static const struct {
		const char	*date;
		time_t		 t;
	} good[] = {
		{ "2024-02-29", 1709164800 },
		{ "2000-02-29", 951782400 },
		{ "2000-01-01", 946684800 },
		{ "2026-01-01", 1767225600 },
		{ "9999-12-31", (time_t)253402214400LL },
	};
	char text[128];
	struct mfad_conf *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "[policy]\nreenroll_before = %s\n",
		    good[i].date);
		c = load_ok(text);
		assert_true(c->reenroll_before == good[i].t);
		mfad_conf_free(c);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "\n[policy]\nreenroll_before = "
		    "%s\n", bad[i]);
		expect_err(text, 3, "reenroll_before must be a date "
		    "YYYY-MM-DD from 2000-01-01 to 9999-12-31, or empty");
	}
}

static void
test_sizes(void **state)
{
	static const struct {
		const char	*value;
		uint64_t	 bytes;
	} map[] = {
		{ "1M", 1ULL << 20 },
		{ "1024K", 1ULL << 20 },
		{ "1024k", 1ULL << 20 },
		{ "1048576", 1ULL << 20 },
		{ "3G", 3ULL << 30 },
		{ "3g", 3ULL << 30 },
		{ "1536M", 1536ULL << 20 },
		{ "1T", 1ULL << 40 },
		{ "1t", 1ULL << 40 },
	}, mem[] = {
		{ "8K", 8192 },
		{ "8192", 8192 },
		{ "19M", 19ULL << 20 },
		{ "4G", 4ULL << 30 },
	};
	char text[128];
	struct mfad_conf *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		snprintf(text, sizeof(text), "[mfad]\nmap_size = %s\n",
		    map[i].value);
		c = load_ok(text);
		assert_true(c->map_size == map[i].bytes);
		mfad_conf_free(c);
	}
	for (i = 0; i < sizeof(mem) / sizeof(mem[0]); i++) {
		snprintf(text, sizeof(text), "[password]\nmemlimit = %s\n",
		    mem[i].value);
		c = load_ok(text);
		assert_true((uint64_t)c->pw_memlimit == mem[i].bytes);
		mfad_conf_free(c);
	}
	expect_err("[mfad]\nmap_size = 1048575\n", 2, "from 1M to 1T");
	expect_err("[mfad]\nmap_size = M\n", 2, "from 1M to 1T");
	expect_err("[mfad]\nmap_size = 1P\n", 2, "from 1M to 1T");
	expect_err("[mfad]\nmap_size = 1MK\n", 2, "from 1M to 1T");
	expect_err("[password]\nmemlimit = 8191\n", 2, "from 8K to 4G");
}

static void
test_pam_uids(void **state)
{
	struct passwd *pw;
	struct mfad_conf *c;

	(void)state;
	/* A name and a number for the same uid: one entry. */
	c = load_ok("[mfad]\npam_uids = root,0\n");
	assert_int_equal(c->n_pam_uids, 1);
	assert_int_equal(c->pam_uids[0], 0);
	mfad_conf_free(c);

	assert_non_null(pw = getpwnam("nobody"));
	c = load_ok("[mfad]\npam_uids = 4242 ,\tnobody , 0,4294967294\n");
	assert_int_equal(c->n_pam_uids, 4);
	assert_int_equal(c->pam_uids[0], 4242);
	assert_int_equal(c->pam_uids[1], pw->pw_uid);
	assert_int_equal(c->pam_uids[2], 0);
	assert_int_equal(c->pam_uids[3], (uid_t)4294967294U);
	mfad_conf_free(c);

	expect_err("[mfad]\npam_uids = root, ,0\n", 2,
	    "[mfad] pam_uids must be a comma-separated list of user names or "
	    "uids, not \"root, ,0\"");
	expect_err("[mfad]\npam_uids = ,root\n", 2, "comma-separated list");
}

static void
test_password_limits(void **state)
{
	struct mfad_conf *c;

	(void)state;
	/* What the tests and benchmarks use: accepted, flagged weak. */
	c = load_ok("[password]\nopslimit = 1\nmemlimit = 8K\n");
	assert_true(c->pw_opslimit == 1);
	assert_true(c->pw_memlimit == 8192);
	assert_int_equal(c->pw_weak, 1);
	mfad_conf_free(c);

	/* Either limit alone under the floor is weak. */
	c = load_ok("[password]\nopslimit = 1\n");
	assert_true(c->pw_opslimit == 1);
	assert_true(c->pw_memlimit == crypto_pwhash_MEMLIMIT_INTERACTIVE);
	assert_int_equal(c->pw_weak, 1);
	mfad_conf_free(c);
	c = load_ok("[password]\nmemlimit = 19455K\n");
	assert_true(c->pw_opslimit == crypto_pwhash_OPSLIMIT_INTERACTIVE);
	assert_int_equal(c->pw_weak, 1);
	mfad_conf_free(c);

	/* 19 MiB at t = 2 is the floor itself. */
	c = load_ok("[password]\nmemlimit = 19M\nopslimit = 2\n");
	assert_int_equal(c->pw_weak, 0);
	mfad_conf_free(c);

	/* The presets, and an override of one half of a preset. */
	c = load_ok("[password]\nstrength = moderate\n");
	assert_int_equal(c->pw_strength, MFAD_STRENGTH_MODERATE);
	assert_true(c->pw_opslimit == crypto_pwhash_OPSLIMIT_MODERATE);
	assert_true(c->pw_memlimit == crypto_pwhash_MEMLIMIT_MODERATE);
	assert_int_equal(c->pw_weak, 0);
	mfad_conf_free(c);
	c = load_ok("[password]\nstrength = interactive\n");
	assert_int_equal(c->pw_strength, MFAD_STRENGTH_INTERACTIVE);
	assert_true(c->pw_opslimit == crypto_pwhash_OPSLIMIT_INTERACTIVE);
	assert_true(c->pw_memlimit == crypto_pwhash_MEMLIMIT_INTERACTIVE);
	mfad_conf_free(c);
	/* The override comes first in the file; the preset still fills in. */
	c = load_ok("[password]\nopslimit = 7\nstrength = sensitive\n");
	assert_int_equal(c->pw_strength, MFAD_STRENGTH_SENSITIVE);
	assert_true(c->pw_opslimit == 7);
	assert_true(c->pw_memlimit == crypto_pwhash_MEMLIMIT_SENSITIVE);
	assert_int_equal(c->pw_weak, 0);
	mfad_conf_free(c);
}

static void
test_smtp(void **state)
{
	static const struct {
		const char	*value;
		const char	*host;
		const char	*port;
	} good[] = {
		{ "relay:25", "relay", "25" },
		{ "smtp.example.org:587", "smtp.example.org", "587" },
		{ "relay:0025", "relay", "25" },
		{ "192.0.2.1:65535", "192.0.2.1", "65535" },
		{ "[2001:db8::1]:25", "2001:db8::1", "25" },
		{ "[::1]:2525", "::1", "2525" },
		{ "[::ffff:192.0.2.1]:1", "::ffff:192.0.2.1", "1" },
	};
	char text[128];
	struct mfad_conf *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "[mail]\nsmtp = %s\n",
		    good[i].value);
		c = load_ok(text);
		assert_string_equal(c->smtp, good[i].value);
		assert_string_equal(c->smtp_host, good[i].host);
		assert_string_equal(c->smtp_port, good[i].port);
		mfad_conf_free(c);
	}
}

static void
test_paths(void **state)
{
	char text[256], sock[128];
	struct mfad_conf *c;

	(void)state;
	/* The longest socket path that fits in sun_path: 107 bytes. */
	memset(sock, 'a', 107);
	sock[0] = '/';
	sock[107] = '\0';
	snprintf(text, sizeof(text), "[mfad]\nsocket = %s\n", sock);
	c = load_ok(text);
	assert_string_equal(c->socket, sock);
	mfad_conf_free(c);

	sock[107] = 'a';
	sock[108] = '\0';
	snprintf(text, sizeof(text), "[mfad]\nsocket = %s\n", sock);
	expect_err(text, 2, "[mfad] socket must be at most 107 bytes long");
}

static void
test_from(void **state)
{
	static const char *const good[] = {
		"mfad@localhost", "no-reply+mfa@mail.example.org",
		"a.b_c@x-y.example", "x@1.2.3.4",
	};
	char text[128];
	struct mfad_conf *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "[mail]\nfrom = %s\n", good[i]);
		c = load_ok(text);
		assert_string_equal(c->from, good[i]);
		mfad_conf_free(c);
	}
	expect_err("[mail]\nfrom = mfad@-example.org\n", 2,
	    "[mail] from must be");
	expect_err("[mail]\nfrom = mfad@example.org.\n", 2,
	    "[mail] from must be");
	expect_err("[mail]\nfrom = mfad\xc3\xa9@example.org\n", 2,
	    "not \"mfad\\xc3\\xa9@example.org\": addresses with non-ASCII "
	    "characters before the @ are not supported");
	/* A Unicode domain is kept as its A-labels; IDNA says what is
	 * wrong with one it refuses. */
	c = load_ok("[mail]\nfrom = mfad@EX\xc3\x84MPLE.org\n");
	assert_string_equal(c->from, "mfad@xn--exmple-cua.org");
	mfad_conf_free(c);
	expect_err("[mail]\nfrom = mfad@ex\xe2\x98\x83mple.org\n", 2,
	    "not a valid internationalised domain name (string contains a "
	    "disallowed character)");
	/* The one address rule: a domain needs a dot ("localhost" apart). */
	expect_err("[mail]\nfrom = mfad@vm\n", 2, "[mail] from must be");
	expect_err("[mail]\nfrom = \"mfad\"@example.org\n", 2,
	    "[mail] from must be");
}

static void
test_not_found(void **state)
{
	struct mfad_conf *c = (struct mfad_conf *)1;
	char err[ERRLEN];
	const char *path = "/nonexistent-mfad-test/mfad.conf";

	(void)state;
	assert_int_equal(mfad_conf_load(path, &c, err, sizeof(err)),
	    MSS_ERR_CONFIG);
	assert_null(c);
	assert_string_equal(err, "/nonexistent-mfad-test/mfad.conf: cannot "
	    "open: No such file or directory");
}

/* A path that is a directory opens but cannot be read. */
static void
test_directory(void **state)
{
	struct mfad_conf *c = (struct mfad_conf *)1;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(mfad_conf_load("/tmp", &c, err, sizeof(err)),
	    MSS_ERR_CONFIG);
	assert_null(c);
	assert_string_equal(err, "/tmp: cannot read: Is a directory");
}

/* The exact text of an error, as mfad -t prints it. */
static void
test_error_text(void **state)
{
	struct mfad_conf *c = NULL;
	char path[64], err[ERRLEN], want[ERRLEN];
	const char *text = "# mfad.conf\n[code]\nlength = 5\n";

	(void)state;
	assert_int_equal(load_bytes(text, strlen(text), &c, path,
	    sizeof(path), err), MSS_ERR_CONFIG);
	snprintf(want, sizeof(want), "%s:3: [code] length must be an integer "
	    "from 6 to 10, not \"5\"", path);
	assert_string_equal(err, want);

	/* A short buffer truncates the message but stays a string. */
	text = "[code]\nlength = 5\n";
	write_file(text, strlen(text), path, sizeof(path));
	assert_int_equal(mfad_conf_load(path, &c, err, 8), MSS_ERR_CONFIG);
	assert_int_equal(strlen(err), 7);
	assert_int_equal(strncmp(err, path, 7), 0);
	assert_int_equal(unlink(path), 0);
}

/*
 * [directory] and [device] scope. The secret files are made by the test,
 * owned by whoever runs it (mfad's user, as [mfad] user is not set).
 */
struct dir_files {
	char	pw[64];		/* bind password, 0600 */
	char	key[64];	/* fleet key, 32 raw bytes, 0600 */
	char	ca[64];		/* anything readable */
};

static void
write_mode(const void *data, size_t len, mode_t mode, char *path,
    size_t pathlen)
{
	write_file(data, len, path, pathlen);
	assert_int_equal(chmod(path, mode), 0);
}

static void
dir_files_make(struct dir_files *f)
{
	/* A NUL among the key's bytes: a binary key is read as such. */
	static const uint8_t key[32] = { 0x00, 0x01, 0xfe, 0x0a, 0x0d, 7 };

	write_mode("secret\n", 7, 0600, f->pw, sizeof(f->pw));
	write_mode(key, sizeof(key), 0600, f->key, sizeof(f->key));
	write_mode("-----BEGIN CERTIFICATE-----\n", 28, 0644, f->ca,
	    sizeof(f->ca));
}

static void
dir_files_rm(const struct dir_files *f)
{
	assert_int_equal(unlink(f->pw), 0);
	assert_int_equal(unlink(f->key), 0);
	assert_int_equal(unlink(f->ca), 0);
}

/* A [directory] section with every required key, then extra lines. The
 * section starts on line 1; uri is line 2, base 3, bind_dn 4,
 * bind_pw_file 5, key_file 6, extra from line 7. */
static void
dir_text(char *buf, size_t len, const struct dir_files *f, const char *uri,
    const char *extra)
{
	snprintf(buf, len, "[directory]\nuri = %s\n"
	    "base = ou=people,dc=example,dc=org\n"
	    "bind_dn = cn=h1,ou=mfad,ou=services,dc=example,dc=org\n"
	    "bind_pw_file = %s\nkey_file = %s\n%s", uri, f->pw, f->key,
	    extra);
}

/* [password] implementation: each of its three words. */
static void
test_pw_impl(void **state)
{
	static const struct {
		const char		*word;
		enum mfad_pw_impl	 impl;
	} impls[] = {
		{ "auto", MFAD_PW_IMPL_AUTO },
		{ "libargon2", MFAD_PW_IMPL_LIBARGON2 },
		{ "libsodium", MFAD_PW_IMPL_LIBSODIUM },
	};
	struct mfad_conf *c;
	char text[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
		snprintf(text, sizeof(text), "[password]\nimplementation = "
		    "%s\n", impls[i].word);
		c = load_ok(text);
		assert_int_equal(c->pw_impl, impls[i].impl);
		mfad_conf_free(c);
	}
}

static void
test_dir_keys(void **state)
{
	struct dir_files f;
	struct mfad_conf *c;
	char text[2048], extra[256];

	(void)state;
	dir_files_make(&f);
	snprintf(extra, sizeof(extra), "ca_file = %s\ntimeout = 0.5\n"
	    "host = h1.example_2\n[device]\nscope = fleet\n", f.ca);
	dir_text(text, sizeof(text), &f,
	    "ldaps://ldap1.example.org  ldap://[::1]:3389/\tldaps://h:636",
	    extra);
	c = load_ok(text);
	assert_int_equal(c->dir_nuris, 3);
	assert_string_equal(c->dir_uris[0], "ldaps://ldap1.example.org");
	assert_string_equal(c->dir_uris[1], "ldap://[::1]:3389/");
	assert_string_equal(c->dir_uris[2], "ldaps://h:636");
	assert_string_equal(c->dir_base, "ou=people,dc=example,dc=org");
	assert_string_equal(c->dir_bind_dn,
	    "cn=h1,ou=mfad,ou=services,dc=example,dc=org");
	assert_string_equal(c->dir_bind_pw_file, f.pw);
	assert_string_equal(c->dir_key_file, f.key);
	assert_string_equal(c->dir_ca_file, f.ca);
	assert_int_equal(c->dir_timeout_ms, 500);
	assert_string_equal(c->dir_host, "h1.example_2");
	assert_int_equal(c->device_scope, MFAD_DEVICE_SCOPE_FLEET);
	mfad_conf_free(c);

	/* Defaults of the optional keys; scope stays host. */
	dir_text(text, sizeof(text), &f, "ldap://127.0.0.1:1", "");
	c = load_ok(text);
	assert_int_equal(c->dir_nuris, 1);
	assert_null(c->dir_ca_file);
	assert_int_equal(c->dir_timeout_ms, 2000);
	assert_int_equal(c->device_scope, MFAD_DEVICE_SCOPE_HOST);
	mfad_conf_free(c);

	/* Timeouts: whole seconds and up to three decimals. */
	dir_text(text, sizeof(text), &f, "ldaps://a", "timeout = 60\n");
	c = load_ok(text);
	assert_int_equal(c->dir_timeout_ms, 60000);
	mfad_conf_free(c);
	dir_text(text, sizeof(text), &f, "ldaps://a", "timeout = 0.1\n");
	c = load_ok(text);
	assert_int_equal(c->dir_timeout_ms, 100);
	mfad_conf_free(c);
	dir_text(text, sizeof(text), &f, "ldaps://a", "timeout = 2.25\n");
	c = load_ok(text);
	assert_int_equal(c->dir_timeout_ms, 2250);
	mfad_conf_free(c);

	/* [device] scope = host is accepted with or without a directory. */
	c = load_ok("[device]\nscope = host\n");
	assert_int_equal(c->device_scope, MFAD_DEVICE_SCOPE_HOST);
	mfad_conf_free(c);
	dir_files_rm(&f);
}

/* The fleet key as 64 hex digits, with or without a final newline. */
static void
test_dir_key_hex(void **state)
{
	static const char hex[] = "000102030405060708090a0b0c0d0e0f"
	    "101112131415161718191A1B1C1D1E1F\n";
	struct dir_files f;
	struct mfad_conf *c;
	char text[2048];

	(void)state;
	dir_files_make(&f);
	assert_int_equal(unlink(f.key), 0);
	write_mode(hex, sizeof(hex) - 1, 0600, f.key, sizeof(f.key));
	dir_text(text, sizeof(text), &f, "ldaps://a", "");
	c = load_ok(text);
	mfad_conf_free(c);
	assert_int_equal(unlink(f.key), 0);
	write_mode(hex, sizeof(hex) - 2, 0400, f.key, sizeof(f.key));
	dir_text(text, sizeof(text), &f, "ldaps://a", "");
	c = load_ok(text);
	mfad_conf_free(c);
	dir_files_rm(&f);
}

static void
test_dir_errors(void **state)
{
	static const char *const required[] = {
		"uri", "base", "bind_dn", "bind_pw_file", "key_file",
	};
	static const char *const bad_uris[] = {
		"ldapi:///", "http://h", "ldaps://", "ldap://", "ldaps:/h",
		"ldaps://h/dc=example", "ldaps://:636", "ldaps://h?x",
		"LDAPS://h",
	};
	static const char *const bad_timeouts[] = {
		"0", "0.05", "0.099", "61", "60.001", "1.2345", "abc", "1.",
		".5", "-1", "1e3", "2s", "0.5.1",
	};
	struct dir_files f;
	char text[2048], reason[256], path[64], *p, *q;
	size_t i;

	(void)state;
	dir_files_make(&f);

	/* Each required key, left out: named, at the section's line. */
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		dir_text(text, sizeof(text), &f, "ldaps://a", "");
		assert_non_null(p = strstr(text, required[i]));
		assert_non_null(q = strchr(p, '\n'));
		memmove(p, q + 1, strlen(q + 1) + 1);
		snprintf(reason, sizeof(reason), "[directory] %s is required",
		    required[i]);
		expect_err(text, 1, reason);
	}
	/* The section alone, further down. */
	expect_err("[code]\nlength = 6\n\n[directory]\n", 4,
	    "[directory] uri is required");

	for (i = 0; i < sizeof(bad_uris) / sizeof(bad_uris[0]); i++) {
		dir_text(text, sizeof(text), &f, bad_uris[i], "");
		expect_err(text, 2, "[directory] uri must be a list of "
		    "ldaps://HOST[:PORT] or ldap://HOST[:PORT]");
	}
	dir_text(text, sizeof(text), &f, "ldaps://a ldaps://b ldaps://c "
	    "ldaps://d ldaps://e ldaps://f ldaps://g ldaps://h ldaps://i", "");
	expect_err(text, 2, "[directory] uri: at most 8 URIs");

	for (i = 0; i < sizeof(bad_timeouts) / sizeof(bad_timeouts[0]);
	    i++) {
		snprintf(reason, sizeof(reason), "timeout = %s\n",
		    bad_timeouts[i]);
		dir_text(text, sizeof(text), &f, "ldaps://a", reason);
		expect_err(text, 7, "[directory] timeout must be a number of "
		    "seconds from 0.1 to 60");
	}

	dir_text(text, sizeof(text), &f, "ldaps://a", "host = a:b\n");
	expect_err(text, 7, "[directory] host must be a host name");
	dir_text(text, sizeof(text), &f, "ldaps://a", "host = -a\n");
	expect_err(text, 7, "[directory] host must be a host name");
	expect_err("[directory]\nbase = example\n", 2,
	    "[directory] base must be a DN");
	expect_err("[directory]\nbind_dn = cn=a\x01\n", 2,
	    "[directory] bind_dn must be a DN");
	expect_err("[directory]\nbind_pw_file = pw\n", 2,
	    "[directory] bind_pw_file must be an absolute path");
	expect_err("[directory]\nkey_file = k\n", 2,
	    "[directory] key_file must be an absolute path");
	expect_err("[directory]\nca_file = /nonexistent/ca.pem\n", 2,
	    "[directory] ca_file: cannot read \"/nonexistent/ca.pem\"");
	expect_err("[directory]\nca_file = /tmp\n", 2,
	    "[directory] ca_file: \"/tmp\" is not a regular file");
	expect_err("[directory]\nbogus = 1\n", 2,
	    "unknown key \"bogus\" in [directory]");
	expect_err("[directory]\nuri = ldaps://a\nuri = ldaps://b\n", 3,
	    "[directory] uri is already set on line 2");

	/* scope */
	expect_err("[device]\nremember_days = 3\nscope = fleet\n", 3,
	    "[device] scope = fleet needs a [directory] section");
	expect_err("[device]\nscope = everywhere\n", 2,
	    "[device] scope must be host or fleet, not \"everywhere\"");

	/* The secret files: mode, content, presence, each at its line. */
	assert_int_equal(chmod(f.key, 0644), 0);
	dir_text(text, sizeof(text), &f, "ldaps://a", "");
	expect_err(text, 6, "[directory] key_file: ");
	expect_err(text, 6, "accessible by group or others (mode 644); it "
	    "must be 0600");
	assert_int_equal(chmod(f.key, 0640), 0);
	expect_err(text, 6, "(mode 640)");
	assert_int_equal(chmod(f.key, 0600), 0);
	assert_int_equal(chmod(f.pw, 0604), 0);
	expect_err(text, 5, "[directory] bind_pw_file: ");
	expect_err(text, 5, "accessible by group or others (mode 604)");
	assert_int_equal(chmod(f.pw, 0600), 0);

	/* A key of the wrong length, or not hex. */
	write_mode("0123", 4, 0600, path, sizeof(path));
	snprintf(text, sizeof(text), "[directory]\nuri = ldaps://a\n"
	    "base = dc=e\nbind_dn = cn=x\nbind_pw_file = %s\nkey_file = %s\n",
	    f.pw, path);
	expect_err(text, 6, "must hold 32 random bytes or 64 hex digits");
	assert_int_equal(unlink(path), 0);
	memset(reason, 'g', 64);
	write_mode(reason, 64, 0600, path, sizeof(path));
	snprintf(text, sizeof(text), "[directory]\nuri = ldaps://a\n"
	    "base = dc=e\nbind_dn = cn=x\nbind_pw_file = %s\nkey_file = %s\n",
	    f.pw, path);
	expect_err(text, 6, "must hold 32 random bytes or 64 hex digits");
	assert_int_equal(unlink(path), 0);
	/* Missing files. */
	snprintf(text, sizeof(text), "[directory]\nuri = ldaps://a\n"
	    "base = dc=e\nbind_dn = cn=x\nbind_pw_file = %s\n"
	    "key_file = /nonexistent/fleet.key\n", f.pw);
	expect_err(text, 6, "[directory] key_file: /nonexistent/fleet.key: "
	    "No such file or directory");
	snprintf(text, sizeof(text), "[directory]\nuri = ldaps://a\n"
	    "base = dc=e\nbind_dn = cn=x\nkey_file = %s\n"
	    "bind_pw_file = /nonexistent/pw\n", f.key);
	expect_err(text, 6, "[directory] bind_pw_file: /nonexistent/pw: "
	    "No such file or directory");
	/* An empty password file. */
	write_mode("", 0, 0600, path, sizeof(path));
	snprintf(text, sizeof(text), "[directory]\nuri = ldaps://a\n"
	    "base = dc=e\nbind_dn = cn=x\nkey_file = %s\n"
	    "bind_pw_file = %s\n", f.key, path);
	expect_err(text, 6, "must hold the password");
	assert_int_equal(unlink(path), 0);
	dir_files_rm(&f);
}

/* Reads srcdir/rel into a malloc'd string. */
static char *
read_source(const char *rel)
{
	const char *srcdir = getenv("srcdir");
	char path[4096], *text;
	const char *tail;
	size_t n;
	FILE *fp;
	long len;

	if (srcdir != NULL) {
		snprintf(path, sizeof(path), "%s/%s", srcdir, rel);
	} else {
		/* Run by hand: find the tree from this file's own path. */
		tail = strstr(__FILE__, "tests/unit/test_conf.c");
		assert_non_null(tail);
		snprintf(path, sizeof(path), "%.*s%s",
		    (int)(tail - __FILE__), __FILE__, rel);
	}
	if ((fp = fopen(path, "r")) == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	assert_true((len = ftell(fp)) > 0);
	rewind(fp);
	assert_non_null(text = malloc((size_t)len + 1));
	n = fread(text, 1, (size_t)len, fp);
	assert_int_equal(n, (size_t)len);
	text[n] = '\0';
	fclose(fp);
	return text;
}

/*
 * The sample conf/mfad.conf names every key, and with each "#key = value"
 * line uncommented it still loads and gives the defaults. The one key it
 * sets, user, names the shipped unit's user (mfad -t run as root checks
 * the database against it); it is left out of the load, as the user
 * need not exist where the tests run.
 */
static void
test_sample_config(void **state)
{
	struct mfad_conf *c, *def;
	char *text, *out, *o, needle[64];
	const char *p;
	size_t i;

	(void)state;
	text = read_source("conf/mfad.conf");
	assert_non_null(p = strstr(text, "\nuser = mfad\n"));
	memmove((char *)p + 1, p + sizeof("\nuser = mfad\n") - 1,
	    strlen(p + sizeof("\nuser = mfad\n") - 1) + 1);
	for (i = 0; i < NKEYS; i++) {
		if (strcmp(all_keys[i][1], "user") == 0)
			continue;
		snprintf(needle, sizeof(needle), "\n#%s = ", all_keys[i][1]);
		if (strstr(text, needle) != NULL)
			continue;
		snprintf(needle, sizeof(needle), "\n#%s =\n", all_keys[i][1]);
		if (strstr(text, needle) != NULL)
			continue;
		snprintf(needle, sizeof(needle), "# e.g.  %s = ",
		    all_keys[i][1]);
		if (strstr(text, needle) == NULL)
			fail_msg("conf/mfad.conf does not show %s",
			    all_keys[i][1]);
	}

	assert_non_null(out = malloc(strlen(text) + 1));
	for (p = text, o = out; *p != '\0'; p++) {
		if (*p == '#' && (p == text || p[-1] == '\n') &&
		    p[1] >= 'a' && p[1] <= 'z')
			continue;
		*o++ = *p;
	}
	*o = '\0';
	c = load_ok(out);
	assert_non_null(def = mfad_conf_new());
	/* Paths and the sender depend on the build and the host. */
	assert_string_equal(c->database, "/var/lib/mfad");
	assert_string_equal(c->templates, "/usr/share/pam_mss/templates");
	free(c->database);
	free(c->templates);
	assert_non_null(c->database = strdup(def->database));
	assert_non_null(c->templates = strdup(def->templates));
	check_defaults(c);
	mfad_conf_free(def);
	mfad_conf_free(c);
	free(out);
	free(text);
}

/* mfad.conf(5) has an entry for every key. */
static void
test_manual(void **state)
{
	char *text, needle[64];
	size_t i;

	(void)state;
	text = read_source("man/mfad.conf.5");
	for (i = 0; i < NKEYS; i++) {
		snprintf(needle, sizeof(needle), "\n.It Cm %s No = ",
		    all_keys[i][1]);
		if (strstr(text, needle) == NULL)
			fail_msg("mfad.conf.5 does not describe %s",
			    all_keys[i][1]);
	}
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_comments_and_empty_sections),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_integer_bounds),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_pw_impl),
		cmocka_unit_test(test_empty_values),
		cmocka_unit_test(test_structure_errors),
		cmocka_unit_test(test_line_format),
		cmocka_unit_test(test_length_order),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_pam_uids),
		cmocka_unit_test(test_password_limits),
		cmocka_unit_test(test_smtp),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_from),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_error_text),
		cmocka_unit_test(test_dir_keys),
		cmocka_unit_test(test_dir_key_hex),
		cmocka_unit_test(test_dir_errors),
		cmocka_unit_test(test_sample_config),
		cmocka_unit_test(test_manual),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
