/*
 * Client side of the mfad socket, shared by pam_mss and mfadctl.
 *
 * Before trusting the socket it checks that it is a socket in a directory
 * owned by root (or by the socket's owner, mfad's own user under systemd)
 * and writable by nobody else, and after connecting that the peer
 * (SO_PEERCRED) is root or the socket's owner. The descriptor is
 * close-on-exec and never 0, 1 or 2.
 */
#ifndef MSS_CLIENT_H
#define MSS_CLIENT_H

#include <stdint.h>

#include "mss_buf.h"

/* Connects; 0 and *fd, or MSS_ERR_UNAVAIL / MSS_ERR_PEER / MSS_ERR_TIMEOUT. */
int mss_client_connect(const char *path, int timeout_ms, int *fd)
    __attribute__((warn_unused_result));
/*
 * One request and its reply on a fresh connection. rep is reset and
 * filled; *rtype gets the reply's type. The connection is closed on
 * return. Errors: those of mss_client_connect, mss_msg_send/recv.
 */
int mss_client_call(const char *path, uint8_t type, const struct mss_buf *req,
    uint8_t *rtype, struct mss_buf *rep, int timeout_ms)
    __attribute__((warn_unused_result));
/* The same, handing mfad nfds descriptors with the request (BACKUP). */
int mss_client_call_fds(const char *path, uint8_t type,
    const struct mss_buf *req, const int *fds, int nfds, uint8_t *rtype,
    struct mss_buf *rep, int timeout_ms) __attribute__((warn_unused_result));

#endif /* MSS_CLIENT_H */
