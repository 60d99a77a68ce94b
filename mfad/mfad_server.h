/*
 * The socket server: one event loop thread accepts connections and reads
 * and writes frames without blocking; complete requests go to a pool of
 * worker threads (which may hash passwords or open write transactions),
 * and their replies come back to the loop. A client that stalls or sends
 * garbage is dropped on its own deadline and never holds up the others.
 */
#ifndef MFAD_SERVER_H
#define MFAD_SERVER_H

#include <sys/types.h>

#include <stdint.h>

#include "mfad_ctx.h"
#include "mss_err.h"

/* Creates the listening socket: probe, unlink, bind, chmod 0666 (the
 * peer policy is enforced per request), owned by owner. */
int mfad_server_listen(const char *path, uid_t owner, int *fd)
    MSS_WUR;
/* Runs until SIGTERM or SIGINT arrive on sigfd (a signalfd); SIGHUP
 * reloads the config. Returns 0 on a clean stop. */
int mfad_server_run(struct mfad_ctx *ctx, int listen_fd, int sigfd)
    MSS_WUR;

/* Runs one request as a worker would, without the socket: the framed
 * reply (the caller frees it), or NULL where the connection would drop.
 * For tests and fuzzers; the caller keeps peer's descriptors. */
struct mss_buf *mfad_server_dispatch(struct mfad_ctx *ctx,
    const struct mfad_peer *peer, uint8_t type, struct mss_buf *req);

#endif /* MFAD_SERVER_H */
