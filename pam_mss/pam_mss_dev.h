/*
 * The device identity a remembered device is known by: the SSH key of
 * the login (SSH_AUTH_INFO_0), the remote host (PAM_RHOST) or a real
 * terminal (PAM_TTY), the first available in device= order. mfad combines
 * it with the user and this host; the module only finds it.
 */
#ifndef PAM_MSS_DEV_H
#define PAM_MSS_DEV_H

#include <security/pam_modules.h>

#include "mss_err.h"
#include "pam_mss_opts.h"

/*
 * "sshkey:TYPE BASE64" from the first publickey line of SSH_AUTH_INFO_0
 * that fits a protocol string, or NULL (none, or out of memory). The
 * caller frees the result.
 */
char *pam_mss_dev_sshkey(pam_handle_t *pamh) MSS_WUR;
/* "tty:/dev/..." when tty names a character device, else NULL; the
 * caller frees the result. sshd's "ssh" never counts. */
char *pam_mss_dev_tty(const char *tty) MSS_WUR;
/*
 * The identity: the first kind available in opts->device order, or ""
 * (device=none, or nothing available), into *out (freed by the caller
 * with mss_str_free); *kind names it for the debug log. rhost and tty
 * are the PAM items ("" when unset). Returns PAM_SUCCESS or PAM_BUF_ERR.
 */
int pam_mss_dev_identity(pam_handle_t *pamh, const struct pam_mss_opts *opts,
    const char *rhost, const char *tty, char **out, const char **kind)
    MSS_WUR;

#endif /* PAM_MSS_DEV_H */
