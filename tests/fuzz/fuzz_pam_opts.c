/*
 * The module's argument parser (pam.d lines): any argument vector is
 * either refused (PAM_SERVICE_ERR) or gives options within their bounds.
 * The input is the arguments, NUL-separated.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <security/pam_appl.h>

#include "pam_mss_opts.h"
#include "fuzz_common.h"

#define FUZZ_ARGS	32

static pam_handle_t *pamh;

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
    void *data)
{
	(void)n;
	(void)msg;
	(void)resp;
	(void)data;
	return PAM_CONV_ERR;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct pam_conv c = { conv, NULL };

	(void)argc;
	(void)argv;
	if (pam_start("mss-fuzz", "alice", &c, &pamh) != PAM_SUCCESS)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *argv[FUZZ_ARGS];
	struct pam_mss_opts o;
	char *buf, *p, *end;
	unsigned i, j;
	int argc = 0, r;

	if ((buf = malloc(size + 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	end = buf + size;
	for (p = buf; p < end && argc < FUZZ_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	r = pam_mss_opts_parse(pamh, argc, argv, &o);
	FUZZ_CHECK(r == PAM_SUCCESS || r == PAM_SERVICE_ERR);
	if (r == PAM_SUCCESS) {
		FUZZ_CHECK(o.socket != NULL && o.socket[0] == '/' &&
		    strlen(o.socket) < sizeof(((struct sockaddr_un *)0)->
		    sun_path));
		FUZZ_CHECK(o.tries >= 1 && o.tries <= PAM_MSS_TRIES_MAX);
		FUZZ_CHECK(o.ndevice <= PAM_MSS_DEV_MAX);
		for (i = 0; i < o.ndevice; i++) {
			FUZZ_CHECK(o.device[i] >= PAM_MSS_DEV_SSHKEY &&
			    o.device[i] <= PAM_MSS_DEV_TTY);
			for (j = 0; j < i; j++)
				FUZZ_CHECK(o.device[i] != o.device[j]);
		}
		FUZZ_CHECK(o.failmode == PAM_MSS_FAIL_SECURE ||
		    o.failmode == PAM_MSS_FAIL_SAFE);
		FUZZ_CHECK(o.lang == PAM_MSS_LANG_AUTO ||
		    o.lang == PAM_MSS_LANG_FR || o.lang == PAM_MSS_LANG_EN);
	}
	free(buf);
	return 0;
}
