/*
 * Unit tests for pam_mss/pam_mss_dev.c: which line of SSH_AUTH_INFO_0 is
 * the key, which PAM_TTY is a terminal, and that device= order decides
 * between the kinds available.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "mss_buf.h"
#include "mss_proto.h"
#include "pam_mss/pam_mss_dev.h"

static int
conv_none(int n, const struct pam_message **msg, struct pam_response **resp,
    void *data)
{
	(void)n;
	(void)msg;
	(void)resp;
	(void)data;
	return PAM_CONV_ERR;
}

/* A PAM handle for its environment only; its stack is never run. */
static int
setup_pamh(void **state)
{
	static const struct pam_conv conv = { conv_none, NULL };
	char dir[] = "/tmp/test_dev.XXXXXX", path[64];
	pam_handle_t *pamh = NULL;
	FILE *f;
	int r = -1, ok;

	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/pam_mss_test", dir);
	if ((f = fopen(path, "w")) == NULL)
		goto out;
	ok = fputs("auth required pam_deny.so\n", f) >= 0;
	if (fclose(f) != 0 || !ok)
		goto out;
	if (pam_start_confdir("pam_mss_test", "nobody", &conv, dir,
	    &pamh) == PAM_SUCCESS)
		r = 0;
out:
	(void)unlink(path);
	(void)rmdir(dir);
	*state = pamh;
	return r;
}

static int
teardown_pamh(void **state)
{
	return pam_end(*state, PAM_SUCCESS) == PAM_SUCCESS ? 0 : -1;
}

/* The sshkey identity for info as SSH_AUTH_INFO_0, or NULL. */
static char *
sshkey_of(pam_handle_t *pamh, const char *info)
{
	char var[4096];

	snprintf(var, sizeof(var), "SSH_AUTH_INFO_0=%s", info);
	assert_int_equal(pam_putenv(pamh, var), PAM_SUCCESS);
	return pam_mss_dev_sshkey(pamh);
}

static void
check_sshkey(pam_handle_t *pamh, const char *info, const char *want)
{
	char *got = sshkey_of(pamh, info);

	if (want == NULL)
		assert_null(got);
	else {
		assert_non_null(got);
		assert_string_equal(got, want);
	}
	free(got);
}

static void
test_dev_sshkey_first_publickey_line(void **state)
{
	pam_handle_t *pamh = *state;
	char *info;
	size_t n;

	/* No variable at all. */
	assert_null(pam_mss_dev_sshkey(pamh));
	check_sshkey(pamh, "publickey ssh-ed25519 AAAAC3Nza+/= comment",
	    "sshkey:ssh-ed25519 AAAAC3Nza+/=");
	/* Other methods first; the first publickey line counts. */
	check_sshkey(pamh, "password\npublickey ssh-rsa AAAAB3\n"
	    "publickey ssh-ed25519 AAAAC3", "sshkey:ssh-rsa AAAAB3");
	check_sshkey(pamh, "publickey sk-ssh-ed25519@openssh.com AAAA\n",
	    "sshkey:sk-ssh-ed25519@openssh.com AAAA");
	/* A line that does not fit is skipped, not cut. */
	check_sshkey(pamh, "publickey ssh-ed25519", NULL);
	check_sshkey(pamh, "publickey ssh-ed25519 ", NULL);
	check_sshkey(pamh, "publickey ssh-rsa AA\"AA\n"
	    "publickey ssh-ed25519 BBBB", "sshkey:ssh-ed25519 BBBB");
	check_sshkey(pamh, "publickey  AAAA", NULL);
	check_sshkey(pamh, "keyboard-interactive", NULL);
	/* Over a protocol string: none. */
	n = MSS_STR_MAX + 16;
	assert_non_null(info = malloc(n + 1));
	memcpy(info, "publickey ssh-rsa ", 18);
	memset(info + 18, 'A', n - 18);
	info[n] = '\0';
	check_sshkey(pamh, info, NULL);
	free(info);
}

static void
test_dev_tty_only_character_devices(void **state)
{
	char *got;

	(void)state;
	assert_null(pam_mss_dev_tty(""));
	assert_null(pam_mss_dev_tty("ssh"));
	assert_null(pam_mss_dev_tty("../dev/null"));
	assert_null(pam_mss_dev_tty("/dev/../dev/null"));
	assert_null(pam_mss_dev_tty("no-such-terminal-here"));
	assert_null(pam_mss_dev_tty("/tmp"));
	assert_non_null(got = pam_mss_dev_tty("null"));
	assert_string_equal(got, "tty:/dev/null");
	free(got);
	assert_non_null(got = pam_mss_dev_tty("/dev/null"));
	assert_string_equal(got, "tty:/dev/null");
	free(got);
}

static void
check_identity(pam_handle_t *pamh, const enum pam_mss_dev *order,
    unsigned int n, const char *rhost, const char *tty, const char *want,
    const char *want_kind)
{
	struct pam_mss_opts opts;
	const char *kind = NULL;
	char *out = NULL;

	memset(&opts, 0, sizeof(opts));
	memcpy(opts.device, order, n * sizeof(*order));
	opts.ndevice = n;
	assert_int_equal(pam_mss_dev_identity(pamh, &opts, rhost, tty, &out,
	    &kind), PAM_SUCCESS);
	assert_non_null(out);
	assert_string_equal(out, want);
	assert_string_equal(kind, want_kind);
	mss_str_free(out);
}

static void
test_dev_identity_follows_device_order(void **state)
{
	static const enum pam_mss_dev all[] = { PAM_MSS_DEV_SSHKEY,
	    PAM_MSS_DEV_RHOST, PAM_MSS_DEV_TTY };
	static const enum pam_mss_dev tty_first[] = { PAM_MSS_DEV_TTY,
	    PAM_MSS_DEV_RHOST };
	pam_handle_t *pamh = *state;

	assert_int_equal(pam_putenv(pamh,
	    "SSH_AUTH_INFO_0=publickey ssh-ed25519 AAAA"), PAM_SUCCESS);
	check_identity(pamh, all, 3, "192.0.2.1", "null",
	    "sshkey:ssh-ed25519 AAAA", "sshkey");
	check_identity(pamh, tty_first, 2, "192.0.2.1", "null",
	    "tty:/dev/null", "tty");
	/* sshd's PAM_TTY=ssh is no terminal: the next kind. */
	check_identity(pamh, tty_first, 2, "192.0.2.1", "ssh",
	    "rhost:192.0.2.1", "rhost");
	/* device=none, or nothing available: "". */
	check_identity(pamh, all, 0, "192.0.2.1", "null", "", "none");
	assert_int_equal(pam_putenv(pamh, "SSH_AUTH_INFO_0"), PAM_SUCCESS);
	check_identity(pamh, all, 3, "", "ssh", "", "none");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_dev_sshkey_first_publickey_line, setup_pamh,
		    teardown_pamh),
		cmocka_unit_test(test_dev_tty_only_character_devices),
		cmocka_unit_test_setup_teardown(
		    test_dev_identity_follows_device_order, setup_pamh,
		    teardown_pamh),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
