/*
 * The dispatch table: for each request type, who may send it, which
 * handler answers and where it runs. The one place that knows every
 * handler (as OpenSSH's monitor table): the transport and the pool see
 * only this, the handlers only the floor (mfad_ctx.h).
 */
#ifndef MFAD_DISPATCH_H
#define MFAD_DISPATCH_H

#include <stdint.h>

#include "mfad_ctx.h"

struct mfad_auth_cont;

/*
 * Where a request runs. MFAD_H_COMMIT: a quick change, on the committing
 * thread inside a group commit. MFAD_H_SPLIT: AUTH_START, whose password
 * check runs on a worker and whose changes join a group commit.
 * MFAD_H_READ: it only reads, on the reader thread with a read-only
 * transaction of its own, after the carried batch is on disk.
 * MFAD_H_SLOW: it waits on something outside (the relay, a backup's
 * copy), on one of two threads of their own. None: on a worker with
 * transactions of its own (hashing).
 */
#define MFAD_H_COMMIT	0x01
#define MFAD_H_SPLIT	0x02
#define MFAD_H_READ	0x04
#define MFAD_H_SLOW	0x08

struct mfad_handler {
	uint8_t		 type;
	unsigned	 roles;		/* any of these */
	const char	*name;
	mfad_handler_fn	 fn;
	unsigned	 flags;
};

/* One request on its way through: what came, what goes back. */
struct mfad_req {
	uint8_t			 type;
	struct mfad_peer	 peer;
	struct mss_buf		*in;
	struct mss_buf		*out;	/* framed reply, or NULL: drop */
	struct mfad_auth_cont	*cont;	/* AUTH_START's second half */
	int			 lazy;	/* it called mfad_rq_lazy */
	int			 early;	/* out was given before cont ran:
					 * nothing may replace it */
};

/* The entry for type, or NULL. */
const struct mfad_handler *mfad_dispatch_find(uint8_t type);

/*
 * Runs q (or AUTH_START's first half, which sets q->cont and leaves the
 * reply to the committer, unless it can answer at once: q->early, see
 * mfad_auth_start_early): the role check, then the handler with one
 * configuration snapshot, in a struct mfad_rq whose transactions are
 * children of batch (the committing thread's) or, when batch is NULL,
 * top-level. Ends whatever transaction the handler left open. The
 * framed reply is in q->out.
 */
void mfad_dispatch_run(struct mfad_ctx *shared, struct mfad_req *q,
    struct mfad_txn *batch);

/* A batch that did not commit: q's reply becomes a RESULT r (a dropped
 * connection stays dropped), so no client hears of a change that is not
 * on disk. */
void mfad_dispatch_fail(struct mfad_req *q, int r);
/* q never ran (its batch could not begin): answers r, drops q->cont. */
void mfad_dispatch_abandon(struct mfad_req *q, int r);

/* Frees what q holds and closes the descriptors that came with it. */
void mfad_dispatch_clear(struct mfad_req *q);

/* One request through the pool's path, on the calling thread and without
 * the socket (tests, fuzzers): the framed reply (the caller frees it), or
 * NULL where the connection would drop. batch: as mfad_dispatch_run's.
 * Only reads peer's descriptors. */
struct mss_buf *mfad_server_dispatch(struct mfad_ctx *ctx,
    struct mfad_txn *batch, const struct mfad_peer *peer, uint8_t type,
    struct mss_buf *req)
    MSS_WUR;

#endif /* MFAD_DISPATCH_H */
