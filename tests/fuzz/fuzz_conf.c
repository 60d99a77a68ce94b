/*
 * The config reader: any file either loads into a config whose values
 * are within their documented bounds, or fails with a "file:line: reason"
 * message; mfadctl's reader of [mfad] socket takes the same file.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "mfad_conf.h"
#include "mss_err.h"
#include "fuzz_common.h"

static char path[4200];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "%s/mfad.conf", fuzz_tmpdir());
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfad_conf *conf = NULL;
	char err[1024], sock[256];
	unsigned line = 0;
	int r;

	fuzz_write_file(path, data, size);
	err[0] = '\0';
	r = mfad_conf_load(path, &conf, err, sizeof(err));
	if (r == 0) {
		FUZZ_CHECK(conf != NULL);
		FUZZ_CHECK(conf->code_length >= 6 && conf->code_length <= 10);
		FUZZ_CHECK(conf->pw_min_length >= 8 &&
		    conf->pw_min_length <= conf->pw_max_length &&
		    conf->pw_max_length <= 1024);
		FUZZ_CHECK(conf->socket != NULL && conf->socket[0] == '/');
		FUZZ_CHECK(conf->database != NULL &&
		    conf->database[0] == '/');
		FUZZ_CHECK(conf->smtp_host != NULL &&
		    conf->smtp_port != NULL);
		FUZZ_CHECK(conf->language != NULL &&
		    (strcmp(conf->language, "en") == 0 ||
		    strcmp(conf->language, "fr") == 0));
		FUZZ_CHECK(conf->lock_threshold >= 1 &&
		    conf->lock_duration >= 1);
		mfad_conf_free(conf);
	} else {
		FUZZ_CHECK(conf == NULL);
		FUZZ_CHECK(r == MSS_ERR_CONFIG || r == MSS_ERR_NOMEM);
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0);
	}
	r = mfad_conf_socket(path, sock, sizeof(sock), &line);
	FUZZ_CHECK(r == 0 || r == MSS_ERR_NOTFOUND || r == MSS_ERR_TOOBIG ||
	    r == MSS_ERR_SYSTEM);
	if (r == 0)
		FUZZ_CHECK(line >= 1 && strlen(sock) < sizeof(sock));
	return 0;
}
