/*
 * Client side of the mfad socket, shared by pam_mss and mfadctl.
 *
 * Before trusting the socket it checks, as OpenSSH's safe_path does for
 * its files, every directory from "/" down: each a real directory (no
 * symbolic link), owned by root or by owner (the user mfad runs as,
 * named by the admin; 0: root only), writable by nobody else (a
 * root-owned sticky directory above the socket's own excepted); then that
 * the socket is a socket of root or owner, and after connecting that the
 * peer (SO_PEERCRED) is root or owner. The descriptor is close-on-exec
 * and never 0, 1 or 2.
 */
#ifndef MSS_CLIENT_H
#define MSS_CLIENT_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "mss_buf.h"
#include "mss_err.h"

/*
 * The checks of the path alone: 0, MSS_ERR_PEER (not to be trusted),
 * MSS_ERR_UNAVAIL (not there) or MSS_ERR_INVAL (not an absolute,
 * canonical path); why gets the reason of a failure.
 */
int mss_client_check_path(const char *path, uid_t owner, char *why,
    size_t whylen) MSS_WUR;
/* Connects; 0 and *fd, or MSS_ERR_UNAVAIL / MSS_ERR_PEER / MSS_ERR_TIMEOUT. */
int mss_client_connect(const char *path, uid_t owner, int timeout_ms,
    int *fd) MSS_WUR;
/*
 * One request and its reply on a fresh connection. rep is reset and
 * filled; *rtype gets the reply's type. The connection is closed on
 * return. Errors: those of mss_client_connect, mss_msg_send/recv.
 */
int mss_client_call(const char *path, uid_t owner, uint8_t type,
    const struct mss_buf *req, uint8_t *rtype, struct mss_buf *rep,
    int timeout_ms) MSS_WUR;
/* The same, handing mfad nfds descriptors with the request (BACKUP). */
int mss_client_call_fds(const char *path, uid_t owner, uint8_t type,
    const struct mss_buf *req, const int *fds, int nfds, uint8_t *rtype,
    struct mss_buf *rep, int timeout_ms) MSS_WUR;

#endif /* MSS_CLIENT_H */
