/*
 * The floor every handler stands on: the context a request runs with,
 * the handler's type and the reply writers. It includes only lower
 * layers (configuration, store, peer, keys), never the transport, the
 * pool or the dispatch table, so that a handler compiles and runs alone.
 */
#ifndef MFAD_CTX_H
#define MFAD_CTX_H

#include <stdint.h>
#include <time.h>

#include "mfad_clock.h"
#include "mfad_code.h"
#include "mfad_conf.h"
#include "mfad_peer.h"
#include "mfad_store.h"
#include "mss_buf.h"
#include "mss_err.h"

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
    const char *msg) MSS_WUR;

/* Jobs waiting for a worker now (password hashing first of all), for
 * `mfadctl metrics`: one count for the process, as every request sees
 * a copy of ctx. The pool moves it; handlers only read it. */
uint64_t mfad_jobs_waiting(void);
void mfad_jobs_waiting_add(int64_t delta);

#endif /* MFAD_CTX_H */
