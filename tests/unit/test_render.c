/*
 * Unit tests for mfad_render: rendering from the shipped templates (both
 * languages, every kind), header injection, RFC 2047 subjects,
 * quoted-printable bodies, template errors and address checks
 * (SECURITY.md items 26-27). Built from the renderer's sources alone,
 * without libESMTP: rendering does not depend on the relay.
 *
 * Templates come from $MSS_TEMPLATES, else $srcdir/conf/templates (make
 * check sets srcdir), else ./conf/templates.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <limits.h>
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
#include "mfad_acct.h"
#include "mfad_mail.h"
#include "mfad_render.h"
#include "test_mail_msg.h"

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

	if (mfad_render_message(conf, kind, lang, "bob@example.org", v, &msg,
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
			assert_int_equal(mfad_render_message(&conf,
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
	assert_int_equal(mfad_render_message(&conf, MFAD_MAIL_LOGIN_CODE, "fr",
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
		assert_int_equal(mfad_render_message(&conf, MFAD_MAIL_DEVICE, "fr",
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
	assert_int_equal(mfad_render_message(&conf, MFAD_MAIL_LOGIN_CODE, "en",
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
	assert_int_equal(mfad_render_message(&conf, MFAD_MAIL_LOGIN_CODE, "en",
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
	assert_int_equal(mfad_render_message(&conf, MFAD_MAIL_TEST, "de",
	    "bob@example.org", &vars, &msg, &len, err, sizeof(err)), 0);
	split(msg, &hdrs, &body);
	subj = get_header(hdrs, "Subject");
	assert_int_equal(strncmp(subj, " =?UTF-8?B?", 11), 0);
	free(subj);
	free(hdrs);
	free(msg);
	conf.language = (char *)"en";
	assert_int_equal(mfad_render_message(&conf, MFAD_MAIL_TEST, NULL,
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
		assert_int_equal(mfad_render_message(&conf, MFAD_MAIL_LOGIN_CODE,
		    "en", bad_to[i], &vars, &msg, &len, err, sizeof(err)),
		    MSS_ERR_INVAL);
		assert_null(msg);
	}
	conf.from = (char *)"mfad@mail.example.org\r\nBcc: eve@example.org";
	assert_int_equal(mfad_render_message(&conf, MFAD_MAIL_LOGIN_CODE, "en",
	    "bob@example.org", &vars, &msg, &len, err, sizeof(err)),
	    MSS_ERR_INVAL);
	conf.from = (char *)"mfad@mail.example.org\n";
	assert_int_equal(mfad_render_message(&conf, MFAD_MAIL_LOGIN_CODE, "en",
	    "bob@example.org", &vars, &msg, &len, err, sizeof(err)),
	    MSS_ERR_INVAL);
	conf_init(&conf, templates);

	/* {host} is in every subject. */
	v = vars;
	v.host = "srv1\r\nBcc: eve@example.org";
	assert_int_equal(mfad_render_message(&conf, MFAD_MAIL_LOGIN_CODE, "fr",
	    "bob@example.org", &v, &msg, &len, err, sizeof(err)),
	    MSS_ERR_INVAL);
	v = vars;
	v.rhost = "192.0.2.7\nX-Injected: yes";
	assert_int_equal(mfad_render_message(&conf, MFAD_MAIL_LOGIN_CODE, "en",
	    "bob@example.org", &v, &msg, &len, err, sizeof(err)),
	    MSS_ERR_INVAL);
	v = vars;
	v.code = "1234\r\n56";
	assert_int_equal(mfad_render_message(&conf, MFAD_MAIL_LOGIN_CODE, "en",
	    "bob@example.org", &v, &msg, &len, err, sizeof(err)),
	    MSS_ERR_INVAL);
	assert_int_equal(mfad_render_message(&conf, MFAD_MAIL_LOGIN_CODE, "en",
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
	assert_int_equal(mfad_render_message(&conf, MFAD_MAIL_LOGIN_CODE, "en",
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

/* mfad -t renders every kind: a tree with one good template lacks all
 * the others, and the missing file is named. */
static void
test_check_render_tree(void **state)
{
	struct mfad_conf conf;
	char dir[PATH_MAX], err[512];

	(void)state;
	conf_init(&conf, templates);
	err[0] = '\0';
	if (mfad_render_check(&conf, err, sizeof(err)) != 0)
		fail_msg("%s", err);

	snprintf(dir, sizeof(dir), "%s/t", scratch);
	write_template("Subject: hi\n\nbody {code}\n");
	conf_init(&conf, dir);
	assert_int_equal(mfad_render_check(&conf, err, sizeof(err)),
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
	if (mfad_render_check(&conf, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	conf.from = NULL;
	conf.path = (char *)"/etc/mfad/mfad.conf";
	assert_int_equal(mfad_render_check(&conf, err, sizeof(err)),
	    MSS_ERR_MAIL);
	assert_non_null(strstr(err, "/etc/mfad/mfad.conf: [mail] from is "
	    "not set"));
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
	assert_int_equal(mfad_render_message(&conf, MFAD_MAIL_LOGIN_CODE, "en",
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
	assert_int_equal(mfad_render_message(&conf, MFAD_MAIL_LOGIN_CODE, "en",
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

static int
setup(void **state)
{
	const char *env = getenv("MSS_TEMPLATES");
	const char *srcdir = getenv("srcdir");
	char tmpl[] = "/tmp/test_render.XXXXXX";

	if (env != NULL)
		snprintf(templates, sizeof(templates), "%s", env);
	else
		snprintf(templates, sizeof(templates), "%s/conf/templates",
		    srcdir != NULL ? srcdir : ".");
	if (mkdtemp(tmpl) == NULL)
		return -1;
	snprintf(scratch, sizeof(scratch), "%s", tmpl);
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
		cmocka_unit_test(test_check_render_tree),
		cmocka_unit_test(test_check_render),
		cmocka_unit_test(test_quoted_printable),
		cmocka_unit_test(test_qp_soft_break_dot),
		cmocka_unit_test(test_kind_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
