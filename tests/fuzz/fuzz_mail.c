/*
 * The mail renderer: a template (the file an admin may edit) and the
 * values a request brings (user, service, remote host, ...). A message
 * that renders must have exactly the headers mfad writes, in order, each
 * once (no value may add one: no header injection), CRLF line ends only
 * (no bare CR or LF anywhere), lines within RFC 5322's 998 and the body
 * in quoted-printable lines of at most 76 characters.
 *
 * Input: a byte for the kind, a byte for the language, 8 bytes for
 * {minutes} and {time}, then NUL-separated: the template, the recipient,
 * {code}, {masked}, {host}, {service}, {rhost}, {user}.
 */
#include "config.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mfad_acct.h"
#include "mfad_mail.h"
#include "mfad_render.h"
#include "mss_err.h"
#include "fuzz_common.h"

#define FUZZ_FIELDS	8

static struct mfad_conf *conf;
static char tdir[4200];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char d[4300];

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	conf = fuzz_conf(fuzz_tmpdir());
	snprintf(tdir, sizeof(tdir), "%s/templates", fuzz_tmpdir());
	free(conf->templates);
	if ((conf->templates = strdup(tdir)) == NULL)
		abort();
	snprintf(d, sizeof(d), "%s/en", tdir);
	if (mkdir(tdir, 0700) != 0 || mkdir(d, 0700) != 0)
		abort();
	snprintf(d, sizeof(d), "%s/fr", tdir);
	if (mkdir(d, 0700) != 0)
		abort();
	return 0;
}

static void
check_message(const char *msg, size_t len, const char *to)
{
	static const char *const names[] = { "Date", "Message-ID", "From",
	    "To", "Subject", "MIME-Version", "Content-Type",
	    "Content-Transfer-Encoding", "Auto-Submitted" };
	const size_t nnames = sizeof(names) / sizeof(names[0]);
	const char *p, *eol, *body;
	size_t i, k = 0, n;
	char want[512];

	FUZZ_CHECK(msg[len] == '\0' && strlen(msg) == len);
	for (i = 0; i < len; i++) {
		if (msg[i] == '\r')
			FUZZ_CHECK(i + 1 < len && msg[i + 1] == '\n');
		if (msg[i] == '\n')
			FUZZ_CHECK(i > 0 && msg[i - 1] == '\r');
	}
	FUZZ_CHECK((body = strstr(msg, "\r\n\r\n")) != NULL);
	body += 4;
	for (p = msg; p < body - 2; p = eol + 2) {
		eol = strstr(p, "\r\n");
		n = (size_t)(eol - p);
		FUZZ_CHECK(n <= 998);
		if (*p == ' ' || *p == '\t') {
			/* Only the subject's encoded-words continue. */
			FUZZ_CHECK(k > 0 && strcmp(names[k - 1], "Subject")
			    == 0);
			FUZZ_CHECK(strncmp(p, " =?UTF-8?B?", 11) == 0 &&
			    n > 13 && strncmp(eol - 2, "?=", 2) == 0);
			continue;
		}
		FUZZ_CHECK(k < nnames);
		snprintf(want, sizeof(want), "%s:", names[k]);
		FUZZ_CHECK(strncmp(p, want, strlen(want)) == 0);
		if (strcmp(names[k], "To") == 0) {
			snprintf(want, sizeof(want), "To: %s", to);
			FUZZ_CHECK(n == strlen(want) &&
			    strncmp(p, want, n) == 0);
		}
		if (strcmp(names[k], "From") == 0) {
			snprintf(want, sizeof(want), "From: %s", conf->from);
			FUZZ_CHECK(n == strlen(want) &&
			    strncmp(p, want, n) == 0);
		}
		k++;
	}
	FUZZ_CHECK(k == nnames);
	/* Quoted-printable: printable ASCII and tabs, short lines, no line
	 * that a transport could take for the end or a mbox separator. */
	for (p = body; p < msg + len; p = eol + 2) {
		FUZZ_CHECK((eol = strstr(p, "\r\n")) != NULL);
		n = (size_t)(eol - p);
		FUZZ_CHECK(n <= 76);
		FUZZ_CHECK(n == 0 || *p != '.');
		FUZZ_CHECK(strncmp(p, "From ", 5) != 0);
		for (i = 0; i < n; i++)
			FUZZ_CHECK((p[i] >= 0x20 && p[i] <= 0x7e) ||
			    p[i] == '\t');
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const langs[] = { "en", "fr", NULL, "de" };
	const char *f[FUZZ_FIELDS] = { NULL };
	struct mfad_mail_vars vars;
	enum mfad_mail_kind kind;
	char path[4400], *buf, *p, *end, *msg = NULL, err[1024];
	const char *lang;
	size_t len = 0;
	int i, r;

	if (size < 10)
		return 0;
	kind = (enum mfad_mail_kind)(data[0] % MFAD_MAIL_NKINDS);
	lang = langs[data[1] % 4];
	memset(&vars, 0, sizeof(vars));
	vars.minutes = (unsigned)data[2] << 8 | data[3];
	vars.time = (time_t)((uint32_t)data[4] << 24 | (uint32_t)data[5] << 16 |
	    (uint32_t)data[6] << 8 | data[7]);
	/* {until}: none, a lock's end, or the lock only an admin ends. */
	vars.until = data[8] % 3 == 0 ? 0 : data[8] % 3 == 1 ?
	    (uint64_t)vars.time + 60 * (uint64_t)vars.minutes :
	    MFAD_LOCK_FOREVER;
	data += 10;
	size -= 10;
	if ((buf = malloc(size + 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	end = buf + size;
	for (i = 0, p = buf; i < FUZZ_FIELDS && p <= end; i++) {
		f[i] = p;
		p += strlen(p) + 1;
	}
	snprintf(path, sizeof(path), "%s/en/%s.txt", tdir,
	    mfad_mail_kind_name(kind));
	fuzz_write_file(path, f[0], strlen(f[0]));
	snprintf(path, sizeof(path), "%s/fr/%s.txt", tdir,
	    mfad_mail_kind_name(kind));
	fuzz_write_file(path, f[0], strlen(f[0]));
	vars.code = f[2];
	vars.masked = f[3];
	vars.host = f[4];
	vars.service = f[5];
	vars.rhost = f[6];
	vars.user = f[7];
	r = mfad_render_message(conf, kind, lang, f[1] != NULL ? f[1] :
	    "alice@example.org", &vars, &msg, &len, err, sizeof(err));
	if (r == 0) {
		FUZZ_CHECK(msg != NULL);
		check_message(msg, len, f[1] != NULL ? f[1] :
		    "alice@example.org");
		sodium_memzero(msg, len);
		free(msg);
	} else {
		FUZZ_CHECK(msg == NULL);
		FUZZ_CHECK(r == MSS_ERR_INVAL || r == MSS_ERR_MAIL ||
		    r == MSS_ERR_NOMEM);
	}
	free(buf);
	return 0;
}
