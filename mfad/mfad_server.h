/*
 * The socket server: one event loop thread accepts connections and reads
 * and writes frames without blocking; complete requests go to a pool of
 * worker threads (which may hash passwords or open write transactions),
 * and their replies come back to the loop. A client that stalls or sends
 * garbage is dropped on its own deadline and never holds up the others.
 */
#ifndef MFAD_SERVER_H
#define MFAD_SERVER_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "mfad_clock.h"
#include "mfad_code.h"
#include "mfad_conf.h"
#include "mfad_peer.h"
#include "mfad_store.h"
#include "mss_buf.h"

struct mfad_outbox;

/*
 * What every handler gets: shared, long-lived state. A request runs with
 * a copy of it that holds one configuration snapshot (mfad_snap_view), so
 * anything that changes after the start belongs behind a pointer here.
 */
struct mfad_ctx {
	struct mfad_conf	*conf;		/* a snapshot: see mfad_snap.h */
	struct mfad_store	*store;
	struct mfad_keys	*keys;
	struct mfad_outbox	*outbox;
	char			 hostname[256];
	time_t			 started;
};

/*
 * A request handler: parses req (strictly, ending with mss_buf_end),
 * fills rep and *rtype, returns 0. A negative return sends an
 * MSS_REP_RESULT with that code, except MSS_ERR_PROTO, which drops the
 * connection.
 */
typedef int (*mfad_handler_fn)(struct mfad_ctx *ctx,
    const struct mfad_peer *peer, struct mss_buf *req, uint8_t *rtype,
    struct mss_buf *rep);

/* Fills rep with an MSS_REP_RESULT. */
int mfad_reply_result(struct mss_buf *rep, uint8_t *rtype, int code,
    const char *msg) __attribute__((warn_unused_result));

/* Jobs waiting for a worker now. */
uint64_t mfad_server_waiting(void);

/* Creates the listening socket: probe, unlink, bind, chmod 0666 (the
 * peer policy is enforced per request), owned by owner. */
int mfad_server_listen(const char *path, uid_t owner, int *fd)
    __attribute__((warn_unused_result));
/* Runs until SIGTERM or SIGINT arrive on sigfd (a signalfd); SIGHUP
 * reloads the config. Returns 0 on a clean stop. */
int mfad_server_run(struct mfad_ctx *ctx, int listen_fd, int sigfd);

/* Runs one request as a worker would, without the socket: the framed
 * reply (the caller frees it), or NULL where the connection would drop.
 * For tests and fuzzers; the caller keeps peer's descriptors. */
struct mss_buf *mfad_server_dispatch(struct mfad_ctx *ctx,
    const struct mfad_peer *peer, uint8_t type, struct mss_buf *req);

#endif /* MFAD_SERVER_H */
