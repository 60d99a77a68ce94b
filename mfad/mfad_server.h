/*
 * The transport: one event loop thread accepts connections and reads
 * and writes frames without blocking; complete requests go to the pool
 * (mfad_pool.h), and their replies come back to the loop. A client that stalls or sends
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

#endif /* MFAD_SERVER_H */
