/*
 * Unit tests for mfad_mail: rendering from the shipped templates (both
 * languages, every kind), header injection, RFC 2047 subjects,
 * quoted-printable bodies, template errors, address checks, and sending
 * to a scripted SMTP peer on the loopback (SECURITY.md items 26-28).
 *
 * Templates come from $MSS_TEMPLATES, else $srcdir/conf/templates (make
 * check sets srcdir), else ./conf/templates.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>

#include "mss_err.h"
#include "mfad_conf.h"
#include "mfad_lockout.h"
#include "mfad_mail.h"

#define CODE		"493817"
#define WHEN		((time_t)1714572180)	/* 2024-05-01 14:03:00 UTC */

static char templates[PATH_MAX];
static char scratch[64];		/* a private temporary directory */

static const struct mfad_mail_vars vars = {
	.code = CODE,
	.masked = "alic*****@example*****",
	.host = "srv1.example.org",
	.service = "sshd",
	.rhost = "192.0.2.7",
	.user = "alice",
	.minutes = 5,
	.time = WHEN,
};

static void
conf_init(struct mfad_conf *c, const char *dir)
{
	memset(c, 0, sizeof(*c));
	c->templates = (char *)dir;
	c->from = (char *)"mfad@mail.example.org";
	c->language = (char *)"en";
	c->smtp_host = (char *)"127.0.0.1";
	c->smtp_port = (char *)"25";
	c->tls = MFAD_TLS_NONE;
}

static void write_template(const char *);

/* The header block (up to the empty line) and the body of msg. */
static void
split(const char *msg, char **hdrs, const char **body)
{
	const char *p = strstr(msg, "\r\n\r\n");

	assert_non_null(p);
	*hdrs = strndup(msg, (size_t)(p - msg) + 2);
	assert_non_null(*hdrs);
	*body = p + 4;
}

/* How many header fields called name start a line in hdrs. */
static int
count_header(const char *hdrs, const char *name)
{
	size_t n = strlen(name);
	const char *p = hdrs;
	int count = 0;

	while (p != NULL && *p != '\0') {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':')
			count++;
		if ((p = strstr(p, "\r\n")) != NULL)
			p += 2;
	}
	return count;
}

/* The unfolded value of header name, malloc'd, or NULL. */
static char *
get_header(const char *hdrs, const char *name)
{
	size_t n = strlen(name);
	const char *p = hdrs, *e;
	char *out;
	size_t o = 0;

	while (p != NULL && *p != '\0') {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':')
			break;
		if ((p = strstr(p, "\r\n")) != NULL)
			p += 2;
	}
	if (p == NULL || *p == '\0')
		return NULL;
	p += n + 1;
	out = malloc(strlen(p) + 1);
	assert_non_null(out);
	for (;;) {
		e = strstr(p, "\r\n");
		assert_non_null(e);
		memcpy(out + o, p, (size_t)(e - p));
		o += (size_t)(e - p);
		p = e + 2;
		if (*p != ' ' && *p != '\t')
			break;
	}
	out[o] = '\0';
	return out;
}

/* Decodes a subject made of RFC 2047 B words (or plain text). */
static char *
decode_subject(const char *v)
{
	char *out = malloc(strlen(v) + 1);
	size_t o = 0, bl;
	const char *p = v, *e;

	assert_non_null(out);
	while (*p == ' ')
		p++;
	if (strncmp(p, "=?", 2) != 0) {
		strcpy(out, p);
		return out;
	}
	while (*p != '\0') {
		assert_int_equal(strncmp(p, "=?UTF-8?B?", 10), 0);
		p += 10;
		e = strstr(p, "?=");
		assert_non_null(e);
		assert_int_equal(sodium_base642bin((unsigned char *)out + o,
		    strlen(v) - o, p, (size_t)(e - p), NULL, &bl, NULL,
		    sodium_base64_VARIANT_ORIGINAL), 0);
		o += bl;
		p = e + 2;
		while (*p == ' ')
			p++;
	}
	out[o] = '\0';
	return out;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes a quoted-printable body (CRLF lines) into text with LF line
 * ends, checking the encoding rules along the way. */
static char *
qp_decode(const char *s)
{
	char *out = malloc(strlen(s) + 1);
	size_t o = 0;
	const char *line = s, *e;

	assert_non_null(out);
	while (*line != '\0') {
		const char *p;

		e = strstr(line, "\r\n");
		assert_non_null(e);
		assert_true(e - line <= 76);
		/* Nothing unencoded but printable ASCII, no trailing blank. */
		for (p = line; p < e; p++)
			assert_true((*p >= 0x20 && *p <= 0x7e) || *p == '\t');
		if (e > line)
			assert_true(e[-1] != ' ' && e[-1] != '\t');
		for (p = line; p < e; p++) {
			if (*p != '=') {
				out[o++] = *p;
				continue;
			}
			if (p + 1 == e)
				break;		/* soft line break */
			assert_true(p + 2 < e);
			assert_true(hexval(p[1]) >= 0 && hexval(p[2]) >= 0);
			out[o++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
			p += 2;
		}
		if (e == line || e[-1] != '=')
			out[o++] = '\n';
		line = e + 2;
	}
	out[o] = '\0';
	return out;
}

/* Every line ends in CRLF, none is longer than 76 characters. */
static void
check_lines(const char *msg, size_t len)
{
	size_t i, col = 0;

	assert_int_equal(strlen(msg), len);
	assert_true(len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n');
	for (i = 0; i < len; i++) {
		if (msg[i] == '\r') {
			assert_true(i + 1 < len && msg[i + 1] == '\n');
			assert_true(col <= 76);
			col = 0;
			i++;
			continue;
		}
		assert_true(msg[i] != '\n');
		col++;
	}
}

static int
is_code_kind(int kind)
{
	return kind == MFAD_MAIL_LOGIN_CODE || kind == MFAD_MAIL_ENROLL_CODE ||
	    kind == MFAD_MAIL_RESET_CODE;
}

/* Renders kind in lang with v; returns the decoded body (free it). */
static char *
render_text(const struct mfad_conf *conf, enum mfad_mail_kind kind,
    const char *lang, const struct mfad_mail_vars *v)
{
	char err[512], *msg, *hdrs, *text;
	const char *body;
	size_t len;

	if (mfad_mail_render(conf, kind, lang, "bob@example.org", v, &msg,
	    &len, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	split(msg, &hdrs, &body);
	text = qp_decode(body);
	free(hdrs);
	free(msg);
	return text;
}

static void
expect_in(char *text, const char *want, const char *not)
{
	if (strstr(text, want) == NULL)
		fail_msg("\"%s\" not in:\n%s", want, text);
	if (not != NULL && strstr(text, not) != NULL)
		fail_msg("\"%s\" in:\n%s", not, text);
	free(text);
}

/* {duration} takes the language's plural; {until} says when a lock ends. */
static void
test_render_duration_and_until(void **state)
{
	struct mfad_conf conf;
	struct mfad_mail_vars v = vars;

	(void)state;
	conf_init(&conf, templates);
	v.minutes = 1;
	expect_in(render_text(&conf, MFAD_MAIL_LOGIN_CODE, "en", &v),
	    "valid for 1 minute and", "1 minutes");
	expect_in(render_text(&conf, MFAD_MAIL_LOGIN_CODE, "fr", &v),
	    "valable 1 minute et", "1 minutes");
	v.minutes = 5;
	expect_in(render_text(&conf, MFAD_MAIL_RESET_CODE, "en", &v),
	    "valid for 5 minutes and", NULL);
	expect_in(render_text(&conf, MFAD_MAIL_ENROLL_CODE, "fr", &v),
	    "valable 5 minutes et", NULL);
	v.minutes = 0;
	expect_in(render_text(&conf, MFAD_MAIL_LOGIN_CODE, "fr", &v),
	    "valable 0 minute et", NULL);
	expect_in(render_text(&conf, MFAD_MAIL_LOGIN_CODE, "en", &v),
	    "valid for 0 minutes and", NULL);

	/* 2026-11-30 17:05:00 UTC */
	v.until = 1796058300;
	v.minutes = 15;
	expect_in(render_text(&conf, MFAD_MAIL_LOCKED, "en", &v),
	    "locked\nuntil 2026-11-30 17:05 UTC (in 15 minutes).", NULL);
	expect_in(render_text(&conf, MFAD_MAIL_LOCKED, "fr", &v),
	    "verrouillé jusqu'au 30/11/2026 à 17:05 UTC (dans 15 minutes).",
	    NULL);
	v.minutes = 1;
	expect_in(render_text(&conf, MFAD_MAIL_LOCKED, "en", &v),
	    "(in 1 minute).", NULL);
	v.until = MFAD_LOCK_FOREVER;
	expect_in(render_text(&conf, MFAD_MAIL_LOCKED, "en", &v),
	    "locked\nuntil an administrator unlocks it.", "UTC (in");
	expect_in(render_text(&conf, MFAD_MAIL_LOCKED, "fr", &v),
	    "jusqu'à ce qu'un administrateur le déverrouille.", NULL);
}

static void
test_render_all(void **state)
{
	static const char *const langs[] = { "en", "fr" };
	static const char *const hdr_once[] = {
		"Date", "Message-ID", "From", "To", "Subject", "MIME-Version",
		"Content-Type", "Content-Transfer-Encoding", "Auto-Submitted"
	};
	struct mfad_conf conf;
	char err[512], *msg, *hdrs, *subj, *dsubj, *text, *v;
	const char *body;
	size_t len, l, h;
	int k;

	conf_init(&conf, templates);
	for (l = 0; l < 2; l++)
		for (k = 0; k < MFAD_MAIL_NKINDS; k++) {
			assert_int_equal(mfad_mail_render(&conf,
			    (enum mfad_mail_kind)k, langs[l], "bob@example.org",
			    &vars, &msg, &len, err, sizeof(err)), 0);
			check_lines(msg, len);
			split(msg, &hdrs, &body);
			for (h = 0; h < sizeof(hdr_once) / sizeof(hdr_once[0]);
			    h++)
				assert_int_equal(count_header(hdrs,
				    hdr_once[h]), 1);
			/* SECURITY 28: the code never in a header. */
			assert_null(strstr(hdrs, CODE));
			subj = get_header(hdrs, "Subject");
			assert_non_null(subj);
			dsubj = decode_subject(subj);
			assert_null(strstr(dsubj, CODE));
			assert_non_null(strstr(dsubj, "srv1.example.org"));

			v = get_header(hdrs, "From");
			assert_string_equal(v, " mfad@mail.example.org");
			free(v);
			v = get_header(hdrs, "To");
			assert_string_equal(v, " bob@example.org");
			free(v);
			v = get_header(hdrs, "Message-ID");
			assert_non_null(strstr(v, "@mail.example.org>"));
			assert_int_equal(strlen(v), strlen(" <@mail.example.org>")
			    + 32);
			free(v);
			v = get_header(hdrs, "Date");
			assert_true(strlen(v) > 20);
			assert_string_equal(v + strlen(v) - 5, "+0000");
			free(v);
			v = get_header(hdrs, "Content-Type");
			assert_string_equal(v, " text/plain; charset=UTF-8");
			free(v);

			text = qp_decode(body);
			if (is_code_kind(k)) {
				assert_non_null(strstr(text, CODE));
				assert_non_null(strstr(text, "5 minutes"));
				assert_non_null(strstr(text, "192.0.2.7"));
				assert_non_null(strstr(text, "sshd"));
			} else
				assert_null(strstr(text, CODE));
			assert_non_null(strstr(text, "2024-05-01 14:03 UTC"));
			assert_null(strchr(text, '{'));
			if (l == 1) {
				assert_non_null(strstr(text, "\xc3\xa9"));
				assert_non_null(strstr(text, "Bonjour"));
			} else
				assert_non_null(strstr(text, "Hello"));
			free(text);
			free(dsubj);
			free(subj);
			free(hdrs);
			sodium_memzero(msg, len);
			free(msg);
		}
}

static void
test_subject_rfc2047(void **state)
{
	struct mfad_conf conf;
	char err[512], *msg, *hdrs, *subj, *dsubj;
	const char *body;
	size_t len;

	conf_init(&conf, templates);
	assert_int_equal(mfad_mail_render(&conf, MFAD_MAIL_LOGIN_CODE, "fr",
	    "bob@example.org", &vars, &msg, &len, err, sizeof(err)), 0);
	split(msg, &hdrs, &body);
	subj = get_header(hdrs, "Subject");
	assert_int_equal(strncmp(subj, " =?UTF-8?B?", 11), 0);
	dsubj = decode_subject(subj);
	assert_string_equal(dsubj,
	    "Votre code de connexion \xc3\xa0 srv1.example.org");
	free(dsubj);
	free(subj);
	free(hdrs);
	free(msg);

	/* A long subject is folded into several encoded-words, never
	 * cutting a UTF-8 character. */
	{
		struct mfad_mail_vars v = vars;

		v.host = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9-tr\xc3\xa8s-long."
		    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9.example.org";
		assert_int_equal(mfad_mail_render(&conf, MFAD_MAIL_DEVICE, "fr",
		    "bob@example.org", &v, &msg, &len, err, sizeof(err)), 0);
		check_lines(msg, len);
		split(msg, &hdrs, &body);
		subj = get_header(hdrs, "Subject");
		assert_non_null(strstr(subj, "?= =?UTF-8?B?"));
		dsubj = decode_subject(subj);
		assert_non_null(strstr(dsubj, v.host));
		assert_non_null(strstr(dsubj, "m\xc3\xa9moris\xc3\xa9"));
		free(dsubj);
		free(subj);
		free(hdrs);
		free(msg);
	}

	/* English subjects stay plain ASCII. */
	assert_int_equal(mfad_mail_render(&conf, MFAD_MAIL_LOGIN_CODE, "en",
	    "bob@example.org", &vars, &msg, &len, err, sizeof(err)), 0);
	split(msg, &hdrs, &body);
	subj = get_header(hdrs, "Subject");
	assert_string_equal(subj, " Your sign-in code for srv1.example.org");
	free(subj);
	free(hdrs);
	free(msg);
}

/* Plain ASCII that looks like an encoded-word is encoded itself. */
static void
test_subject_lookalike(void **state)
{
	struct mfad_conf conf;
	char dir[PATH_MAX], err[512], *msg, *hdrs, *subj, *dsubj;
	const char *body;
	size_t len;

	write_template("Subject: see =?UTF-8?B?QQ==?= on {host}\n\nbody\n");
	snprintf(dir, sizeof(dir), "%s/t", scratch);
	conf_init(&conf, dir);
	assert_int_equal(mfad_mail_render(&conf, MFAD_MAIL_LOGIN_CODE, "en",
	    "bob@example.org", &vars, &msg, &len, err, sizeof(err)), 0);
	split(msg, &hdrs, &body);
	subj = get_header(hdrs, "Subject");
	assert_int_equal(strncmp(subj, " =?UTF-8?B?", 11), 0);
	dsubj = decode_subject(subj);
	assert_string_equal(dsubj, "see =?UTF-8?B?QQ==?= on srv1.example.org");
	free(dsubj);
	free(subj);
	free(hdrs);
	free(msg);
}

static void
test_lang_fallback(void **state)
{
	struct mfad_conf conf;
	char err[512], *msg, *hdrs, *subj;
	const char *body;
	size_t len;

	conf_init(&conf, templates);
	conf.language = (char *)"fr";
	assert_int_equal(mfad_mail_render(&conf, MFAD_MAIL_TEST, "de",
	    "bob@example.org", &vars, &msg, &len, err, sizeof(err)), 0);
	split(msg, &hdrs, &body);
	subj = get_header(hdrs, "Subject");
	assert_int_equal(strncmp(subj, " =?UTF-8?B?", 11), 0);
	free(subj);
	free(hdrs);
	free(msg);
	conf.language = (char *)"en";
	assert_int_equal(mfad_mail_render(&conf, MFAD_MAIL_TEST, NULL,
	    "bob@example.org", &vars, &msg, &len, err, sizeof(err)), 0);
	assert_non_null(strstr(msg, "Subject: Test message from mfad on "));
	free(msg);
}

/* SECURITY 27: CR, LF in a header-bound value is refused. */
static void
test_header_injection(void **state)
{
	static const char *const bad_to[] = {
		"bob@example.org\r\nBcc: eve@example.org",
		"bob@example.org\n",
		"bob@example.org\r",
		"\r\nbob@example.org",
	};
	struct mfad_conf conf;
	struct mfad_mail_vars v;
	char err[512], *msg;
	size_t len, i;

	conf_init(&conf, templates);
	for (i = 0; i < sizeof(bad_to) / sizeof(bad_to[0]); i++) {
		msg = (char *)"x";
		assert_int_equal(mfad_mail_render(&conf, MFAD_MAIL_LOGIN_CODE,
		    "en", bad_to[i], &vars, &msg, &len, err, sizeof(err)),
		    MSS_ERR_INVAL);
		assert_null(msg);
	}
	conf.from = (char *)"mfad@mail.example.org\r\nBcc: eve@example.org";
	assert_int_equal(mfad_mail_render(&conf, MFAD_MAIL_LOGIN_CODE, "en",
	    "bob@example.org", &vars, &msg, &len, err, sizeof(err)),
	    MSS_ERR_INVAL);
	conf.from = (char *)"mfad@mail.example.org\n";
	assert_int_equal(mfad_mail_render(&conf, MFAD_MAIL_LOGIN_CODE, "en",
	    "bob@example.org", &vars, &msg, &len, err, sizeof(err)),
	    MSS_ERR_INVAL);
	conf_init(&conf, templates);

	/* {host} is in every subject. */
	v = vars;
	v.host = "srv1\r\nBcc: eve@example.org";
	assert_int_equal(mfad_mail_render(&conf, MFAD_MAIL_LOGIN_CODE, "fr",
	    "bob@example.org", &v, &msg, &len, err, sizeof(err)),
	    MSS_ERR_INVAL);
	v = vars;
	v.rhost = "192.0.2.7\nX-Injected: yes";
	assert_int_equal(mfad_mail_render(&conf, MFAD_MAIL_LOGIN_CODE, "en",
	    "bob@example.org", &v, &msg, &len, err, sizeof(err)),
	    MSS_ERR_INVAL);
	v = vars;
	v.code = "1234\r\n56";
	assert_int_equal(mfad_mail_render(&conf, MFAD_MAIL_LOGIN_CODE, "en",
	    "bob@example.org", &v, &msg, &len, err, sizeof(err)),
	    MSS_ERR_INVAL);
	assert_int_equal(mfad_mail_render(&conf, MFAD_MAIL_LOGIN_CODE, "en",
	    "not an address", &vars, &msg, &len, err, sizeof(err)),
	    MSS_ERR_INVAL);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* A one-template tree under scratch: <scratch>/t/en/login_code.txt. */
static void
write_template(const char *text)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/t", scratch);
	(void)mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/t/en", scratch);
	(void)mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/t/en/login_code.txt", scratch);
	write_file(path, text);
}

static void
expect_template_error(const char *text, const char *where)
{
	struct mfad_conf conf;
	char dir[PATH_MAX], want[PATH_MAX + 64], err[512], *msg;
	size_t len;

	snprintf(dir, sizeof(dir), "%s/t", scratch);
	conf_init(&conf, dir);
	write_template(text);
	err[0] = '\0';
	assert_int_equal(mfad_mail_render(&conf, MFAD_MAIL_LOGIN_CODE, "en",
	    "bob@example.org", &vars, &msg, &len, err, sizeof(err)),
	    MSS_ERR_MAIL);
	snprintf(want, sizeof(want), "%s/en/login_code.txt:%s", dir, where);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got \"%s\", want \"%s...\"", err, want);
}

static void
test_template_errors(void **state)
{
	expect_template_error("Subject: hi\n\nline 3\nline 4\n{bogus} x\n",
	    "5: unknown placeholder {bogus}");
	expect_template_error("Subject: hi\n\nline 3\nopen {code\n",
	    "4: unterminated placeholder");
	expect_template_error("Subject: hi\n\n{host\n}\n",
	    "3: unterminated placeholder");
	expect_template_error("Subject: code {code}\n\n{code}\n",
	    "1: {code} is not allowed in the subject");
	expect_template_error("Subjet: hi\n\nbody\n", "1: ");
	expect_template_error("Subject: hi\nbody\n", "2: ");
	expect_template_error("Subject: \n\nbody\n", "1: empty subject");
	expect_template_error("Subject: hi\n\nok\n\xc3\x28 bad\n",
	    "4: invalid UTF-8");
	expect_template_error("Subject: hi\n\nok\nbell \a\n",
	    "4: control character");
}

static void
test_check_templates(void **state)
{
	struct mfad_conf conf;
	char dir[PATH_MAX], err[512];

	conf_init(&conf, templates);
	err[0] = '\0';
	if (mfad_mail_check_templates(&conf, err, sizeof(err)) != 0)
		fail_msg("%s", err);

	/* A tree with one good template lacks all the others. */
	snprintf(dir, sizeof(dir), "%s/t", scratch);
	write_template("Subject: hi\n\nbody {code}\n");
	conf_init(&conf, dir);
	assert_int_equal(mfad_mail_check_templates(&conf, err, sizeof(err)),
	    MSS_ERR_MAIL);
	assert_non_null(strstr(err, ".txt"));
}

/* mfad -t renders every kind: an unset sender (the default on a host name
 * without a domain) fails there, naming the key to set. */
static void
test_check_render(void **state)
{
	struct mfad_conf conf;
	char err[1024];

	(void)state;
	conf_init(&conf, templates);
	conf.code_length = 6;
	conf.code_ttl = 300;
	if (mfad_mail_check_render(&conf, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	conf.from = NULL;
	conf.path = (char *)"/etc/mfad/mfad.conf";
	assert_int_equal(mfad_mail_check_render(&conf, err, sizeof(err)),
	    MSS_ERR_MAIL);
	assert_non_null(strstr(err, "/etc/mfad/mfad.conf: [mail] from is "
	    "not set"));
	assert_int_equal(mfad_mail_check_templates(&conf, err, sizeof(err)),
	    MSS_ERR_MAIL);
	assert_non_null(strstr(err, "set [mail] from"));
}

/* Quoted-printable: long lines, "=", trailing blanks, leading dots,
 * "{{", accents; the decoded body is exactly the expanded template. */
static void
test_quoted_printable(void **state)
{
	static const char long_line[] =
	    "D\xc3\xa9j\xc3\xa0 vu: a=b and c==d, "
	    "\xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9 "
	    "\xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9 "
	    "\xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9 "
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "4567890123456789 tail";
	struct mfad_conf conf;
	char dir[PATH_MAX], tmpl[2048], want[2048], err[512], *msg, *hdrs;
	char *text;
	const char *body;
	size_t len;

	snprintf(tmpl, sizeof(tmpl), "Subject: qp\n\n%s\ntrailing space \n"
	    "trailing tab\t\n.leading dot\nFrom here\nbraces {{host} "
	    "{host}\ncode {code}\n\n", long_line);
	snprintf(want, sizeof(want), "%s\ntrailing space \ntrailing tab\t\n"
	    ".leading dot\nFrom here\nbraces {host} srv1.example.org\n"
	    "code " CODE "\n\n", long_line);
	write_template(tmpl);
	snprintf(dir, sizeof(dir), "%s/t", scratch);
	conf_init(&conf, dir);
	assert_int_equal(mfad_mail_render(&conf, MFAD_MAIL_LOGIN_CODE, "en",
	    "bob@example.org", &vars, &msg, &len, err, sizeof(err)), 0);
	check_lines(msg, len);
	split(msg, &hdrs, &body);
	assert_non_null(strstr(body, "a=3Db and c=3D=3Dd"));
	assert_non_null(strstr(body, "trailing space=20\r\n"));
	assert_non_null(strstr(body, "trailing tab=09\r\n"));
	assert_non_null(strstr(body, "\r\n=2Eleading dot\r\n"));
	assert_non_null(strstr(body, "\r\n=46rom here\r\n"));
	assert_non_null(strstr(body, "=C3=A9"));
	assert_non_null(strstr(body, "=\r\n"));		/* a soft break */
	text = qp_decode(body);
	assert_string_equal(text, want);
	free(text);
	free(hdrs);
	free(msg);
}

/* A soft break may put a "." or "From " first on a line, where a
 * transport may take it for the end of the data or a mbox separator:
 * it is escaped there too. */
static void
test_qp_soft_break_dot(void **state)
{
	struct mfad_conf conf;
	char dir[PATH_MAX], tmpl[1024], want[1024], err[512], *msg, *hdrs;
	char a[76], *text;
	const char *body;
	size_t len;

	memset(a, 'a', 75);
	a[75] = '\0';
	snprintf(tmpl, sizeof(tmpl), "Subject: qp\n\n%s.x\n%sFrom here\n", a,
	    a);
	snprintf(want, sizeof(want), "%s.x\n%sFrom here\n", a, a);
	write_template(tmpl);
	snprintf(dir, sizeof(dir), "%s/t", scratch);
	conf_init(&conf, dir);
	assert_int_equal(mfad_mail_render(&conf, MFAD_MAIL_LOGIN_CODE, "en",
	    "bob@example.org", &vars, &msg, &len, err, sizeof(err)), 0);
	check_lines(msg, len);
	split(msg, &hdrs, &body);
	assert_non_null(strstr(body, "=\r\n=2Ex\r\n"));
	assert_non_null(strstr(body, "=\r\n=46rom here\r\n"));
	assert_null(strstr(body, "\r\n."));
	assert_null(strstr(body, "\r\nFrom "));
	text = qp_decode(body);
	assert_string_equal(text, want);
	free(text);
	free(hdrs);
	free(msg);
}

static void
test_kind_names(void **state)
{
	assert_string_equal(mfad_mail_kind_name(MFAD_MAIL_LOGIN_CODE),
	    "login_code");
	assert_string_equal(mfad_mail_kind_name(MFAD_MAIL_PASSWORD_CHANGED),
	    "password_changed");
	assert_string_equal(mfad_mail_kind_name(MFAD_MAIL_TEST), "test");
	assert_string_equal(mfad_mail_kind_name(MFAD_MAIL_CODE_TAKEN),
	    "code_taken");
	assert_string_equal(mfad_mail_kind_name(MFAD_MAIL_THROTTLED),
	    "throttled");
	assert_string_equal(mfad_mail_kind_name(MFAD_MAIL_ENROLLED),
	    "enrolled");
	assert_null(mfad_mail_kind_name(MFAD_MAIL_NKINDS));
}

/*
 * A scripted SMTP peer on 127.0.0.1: one thread, one session at a time
 * (mfad_mail_send first opens and closes a probe connection, which the
 * peer skips). It records whether MAIL FROM was seen and the DATA.
 */
struct peer {
	int		 lfd;
	char		 port[16];
	int		 starttls;	/* advertise STARTTLS (then refuse it) */
	int		 reject_rcpt;
	int		 saw_mail;
	int		 saw_auth;
	char		 data[65536];
	size_t		 dlen;
	pthread_t	 thread;
};

static int
peer_gets(int fd, char *buf, size_t size)
{
	size_t n = 0;
	char c;

	while (n + 1 < size) {
		ssize_t r = read(fd, &c, 1);

		if (r <= 0)
			return -1;
		buf[n++] = c;
		if (c == '\n')
			break;
	}
	buf[n] = '\0';
	return (int)n;
}

static void
peer_puts(int fd, const char *s)
{
	ssize_t r = write(fd, s, strlen(s));

	(void)r;
}

static void *
peer_main(void *arg)
{
	struct peer *p = arg;
	char line[2048];
	int fd, conns, cmds;

	for (conns = 0; conns < 3; conns++) {
		struct timeval tv = { 10, 0 };

		if ((fd = accept(p->lfd, NULL, NULL)) == -1)
			break;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		peer_puts(fd, "220 peer ESMTP\r\n");
		cmds = 0;
		while (peer_gets(fd, line, sizeof(line)) > 0) {
			cmds++;
			if (strncasecmp(line, "EHLO", 4) == 0)
				peer_puts(fd, p->starttls ?
				    "250-peer\r\n250-STARTTLS\r\n250 8BITMIME\r\n" :
				    "250-peer\r\n250 8BITMIME\r\n");
			else if (strncasecmp(line, "STARTTLS", 8) == 0)
				peer_puts(fd, "454 4.7.0 TLS not available\r\n");
			else if (strncasecmp(line, "AUTH", 4) == 0) {
				p->saw_auth = 1;
				peer_puts(fd, "504 no\r\n");
			} else if (strncasecmp(line, "MAIL", 4) == 0) {
				p->saw_mail = 1;
				peer_puts(fd, "250 2.1.0 ok\r\n");
			} else if (strncasecmp(line, "RCPT", 4) == 0)
				peer_puts(fd, p->reject_rcpt ?
				    "550 5.1.1 no such user here\r\n" :
				    "250 2.1.5 ok\r\n");
			else if (strncasecmp(line, "DATA", 4) == 0) {
				peer_puts(fd, "354 go on\r\n");
				while (peer_gets(fd, line, sizeof(line)) > 0 &&
				    strcmp(line, ".\r\n") != 0) {
					size_t n = strlen(line);

					if (p->dlen + n < sizeof(p->data)) {
						memcpy(p->data + p->dlen, line,
						    n);
						p->dlen += n;
					}
				}
				peer_puts(fd, "250 2.0.0 queued as 42\r\n");
			} else if (strncasecmp(line, "QUIT", 4) == 0) {
				peer_puts(fd, "221 bye\r\n");
				break;
			} else if (strncasecmp(line, "RSET", 4) == 0)
				peer_puts(fd, "250 ok\r\n");
			else
				peer_puts(fd, "500 what\r\n");
		}
		close(fd);
		if (cmds > 0)
			break;
	}
	p->data[p->dlen] = '\0';
	return NULL;
}

static void
peer_start(struct peer *p)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((p->lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_int_equal(listen(p->lfd, 4), 0);
	assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&sin, &sl),
	    0);
	snprintf(p->port, sizeof(p->port), "%u", ntohs(sin.sin_port));
	assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
}

static void
peer_stop(struct peer *p)
{
	shutdown(p->lfd, SHUT_RDWR);
	assert_int_equal(pthread_join(p->thread, NULL), 0);
	close(p->lfd);
}

static void
render_test(const struct mfad_conf *conf, char **msg, size_t *len)
{
	char err[512];

	assert_int_equal(mfad_mail_render(conf, MFAD_MAIL_LOGIN_CODE, "fr",
	    "bob@example.org", &vars, msg, len, err, sizeof(err)), 0);
}

static void
test_send_plain(void **state)
{
	struct peer *p = calloc(1, sizeof(*p));
	struct mfad_conf conf;
	char err[512], *msg, *hdrs, *text;
	const char *body;
	size_t len;

	assert_non_null(p);
	peer_start(p);
	conf_init(&conf, templates);
	conf.smtp_port = p->port;
	render_test(&conf, &msg, &len);
	if (mfad_mail_send(&conf, "bob@example.org", msg, len, err,
	    sizeof(err)) != 0)
		fail_msg("send: %s", err);
	peer_stop(p);
	assert_int_equal(p->saw_mail, 1);
	/* libESMTP added no header of its own and dropped none. */
	split(p->data, &hdrs, &body);
	assert_int_equal(count_header(hdrs, "Date"), 1);
	assert_int_equal(count_header(hdrs, "Message-ID"), 1);
	assert_int_equal(count_header(hdrs, "From"), 1);
	assert_int_equal(count_header(hdrs, "To"), 1);
	assert_int_equal(count_header(hdrs, "Subject"), 1);
	assert_int_equal(count_header(hdrs, "Auto-Submitted"), 1);
	assert_int_equal(strlen(p->data), len);
	assert_memory_equal(p->data, msg, len);
	text = qp_decode(body);
	assert_non_null(strstr(text, CODE));
	free(text);
	free(hdrs);
	free(msg);
	free(p);
}

/* SECURITY 26: tls=starttls and no STARTTLS offered, or STARTTLS
 * refused: nothing is sent. */
static void
test_send_starttls_required(void **state)
{
	struct peer *p;
	struct mfad_conf conf;
	char err[512], *msg;
	size_t len;
	int advertise;

	for (advertise = 0; advertise < 2; advertise++) {
		p = calloc(1, sizeof(*p));
		assert_non_null(p);
		p->starttls = advertise;
		peer_start(p);
		conf_init(&conf, templates);
		conf.smtp_port = p->port;
		conf.tls = MFAD_TLS_STARTTLS;
		render_test(&conf, &msg, &len);
		err[0] = '\0';
		assert_int_equal(mfad_mail_send(&conf, "bob@example.org", msg,
		    len, err, sizeof(err)), MSS_ERR_MAIL);
		peer_stop(p);
		assert_int_equal(p->saw_mail, 0);
		assert_int_equal(p->dlen, 0);
		assert_true(strlen(err) > 0);
		if (!advertise)
			assert_non_null(strstr(err, "STARTTLS"));
		free(msg);
		free(p);
	}
}

static void
test_send_rcpt_refused(void **state)
{
	struct peer *p = calloc(1, sizeof(*p));
	struct mfad_conf conf;
	char err[512], *msg;
	size_t len;

	assert_non_null(p);
	p->reject_rcpt = 1;
	peer_start(p);
	conf_init(&conf, templates);
	conf.smtp_port = p->port;
	render_test(&conf, &msg, &len);
	/* A 5xx on the recipient is for good: not worth a retry. */
	assert_int_equal(mfad_mail_send(&conf, "bob@example.org", msg, len,
	    err, sizeof(err)), MSS_ERR_REFUSED);
	peer_stop(p);
	assert_int_equal(p->dlen, 0);
	assert_non_null(strstr(err, "550"));
	assert_non_null(strstr(err, "no such user"));
	free(msg);
	free(p);
}

/* A relay that is not there fails at once, not after minutes. */
static void
test_send_no_relay(void **state)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct mfad_conf conf;
	char port[16], err[512], *msg;
	size_t len;
	time_t t0;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	snprintf(port, sizeof(port), "%u", ntohs(sin.sin_port));
	close(fd);		/* nobody listens there now */

	conf_init(&conf, templates);
	conf.smtp_port = port;
	render_test(&conf, &msg, &len);
	t0 = time(NULL);
	err[0] = '\0';
	assert_int_equal(mfad_mail_send(&conf, "bob@example.org", msg, len,
	    err, sizeof(err)), MSS_ERR_MAIL);
	assert_true(time(NULL) - t0 < 5);
	assert_non_null(strstr(err, port));
	free(msg);
}

/* The SMTP AUTH file must not be readable by group or others. */
static void
test_send_auth_file_mode(void **state)
{
	struct peer *p = calloc(1, sizeof(*p));
	struct mfad_conf conf;
	char path[PATH_MAX], err[512], *msg;
	size_t len;

	assert_non_null(p);
	snprintf(path, sizeof(path), "%s/auth", scratch);
	write_file(path, "mfad\nsecret password\n");
	assert_int_equal(chmod(path, 0640), 0);
	peer_start(p);
	conf_init(&conf, templates);
	conf.smtp_port = p->port;
	conf.auth_file = path;
	render_test(&conf, &msg, &len);
	err[0] = '\0';
	assert_int_equal(mfad_mail_send(&conf, "bob@example.org", msg, len,
	    err, sizeof(err)), MSS_ERR_MAIL);
	assert_non_null(strstr(err, path));

	/* With mode 0600 it is read and the session goes ahead (the peer
	 * offers no AUTH, so none is tried, and it takes the message). */
	assert_int_equal(chmod(path, 0600), 0);
	if (mfad_mail_send(&conf, "bob@example.org", msg, len, err,
	    sizeof(err)) != 0)
		fail_msg("send: %s", err);
	peer_stop(p);
	assert_int_equal(p->saw_mail, 1);
	assert_int_equal(p->saw_auth, 0);
	unlink(path);
	free(msg);
	free(p);
}

static int
setup(void **state)
{
	const char *env = getenv("MSS_TEMPLATES");
	const char *srcdir = getenv("srcdir");
	char tmpl[] = "/tmp/test_mail.XXXXXX";

	if (env != NULL)
		snprintf(templates, sizeof(templates), "%s", env);
	else
		snprintf(templates, sizeof(templates), "%s/conf/templates",
		    srcdir != NULL ? srcdir : ".");
	if (mkdtemp(tmpl) == NULL)
		return -1;
	snprintf(scratch, sizeof(scratch), "%s", tmpl);
	signal(SIGPIPE, SIG_IGN);
	return sodium_init() < 0 ? -1 : 0;
}

static int
teardown(void **state)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/t/en/login_code.txt", scratch);
	unlink(path);
	snprintf(path, sizeof(path), "%s/t/en", scratch);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/t", scratch);
	rmdir(path);
	rmdir(scratch);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_all),
		cmocka_unit_test(test_render_duration_and_until),
		cmocka_unit_test(test_subject_rfc2047),
		cmocka_unit_test(test_subject_lookalike),
		cmocka_unit_test(test_lang_fallback),
		cmocka_unit_test(test_header_injection),
		cmocka_unit_test(test_template_errors),
		cmocka_unit_test(test_check_templates),
		cmocka_unit_test(test_check_render),
		cmocka_unit_test(test_quoted_printable),
		cmocka_unit_test(test_qp_soft_break_dot),
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_send_plain),
		cmocka_unit_test(test_send_starttls_required),
		cmocka_unit_test(test_send_rcpt_refused),
		cmocka_unit_test(test_send_no_relay),
		cmocka_unit_test(test_send_auth_file_mode),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
