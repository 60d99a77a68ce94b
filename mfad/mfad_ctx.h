/*
 * The floor every handler stands on: the context a request runs with,
 * the request's lifetime (struct mfad_rq, its transaction included), the
 * handler's type and the reply writers. It includes only lower
 * layers (configuration, store, peer, keys), never the transport, the
 * pool or the dispatch table, so that a handler compiles and runs alone.
 */
#ifndef MFAD_CTX_H
#define MFAD_CTX_H

#include <stdint.h>
#include <time.h>

#include "mfad_clock.h"
#include "mfad_keys.h"
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
 * One request's lifetime, as its handler sees it: the context, the
 * caller, what came, the reply it fills, and its transaction.
 *
 * The handler opens the transaction with mfad_rq_begin and ends it with
 * mfad_rq_end, which commits or aborts it exactly once and leaves txn
 * NULL; a handler that needs two (a read, a hash off the loop, a write)
 * begins again after the end. The dispatcher calls mfad_rq_abort after
 * every handler, so a transaction left open is aborted, never committed
 * by mistake. Handlers reply only after what they wrote is
 * durable: on the committing thread the pool holds the reply until the
 * batch commits (or carries it, see mfad_rq_lazy).
 *
 * The account the request works on lives here too: loaded with
 * mfad_rq_acct_load inside the transaction, wiped whole by mfad_rq_done,
 * which the dispatcher calls after every handler, whatever path it took.
 * So no handler wipes (or can forget to wipe) a password hash or the
 * recovery hashes. It is about 4.5 KB (the recovery hashes): it sits in
 * the dispatcher's frame, not in each handler's.
 */
struct mfad_rq {
	struct mfad_ctx		*ctx;
	const struct mfad_peer	*peer;
	struct mss_buf		*in;	/* the request */
	struct mss_buf		*out;	/* the reply's body */
	uint8_t			 rtype;	/* the reply's type */
	struct mfad_txn		*txn;	/* from begin to end, else NULL */
	/* Set by the dispatcher: the group commit's batch on the
	 * committing thread, NULL elsewhere. Only mfad_rq_begin uses it. */
	struct mfad_txn		*batch;
	int			 rdonly;	/* txn was begun read-only */
	int			 end_r;		/* the last end's result */
	int			 lazy;		/* see mfad_rq_lazy */
	struct mfad_acct	 acct;		/* see mfad_rq_acct_load */
	int			 has_acct;	/* acct holds a record */
};

/*
 * Opens rq's transaction: a child of the batch on the committing
 * thread, else a top-level one. rdonly is honoured either way: a
 * read-only child is aborted at its end, whatever the handler asks.
 * A transaction already open is refused (MSS_ERR_INVAL).
 */
int mfad_rq_begin(struct mfad_rq *rq, int rdonly) MSS_WUR;
/*
 * Ends rq's transaction: commits it when commit is set and it may write,
 * else aborts it. The result of the commit (0 after an abort); with no
 * transaction open, a no-op returning the last end's result.
 */
int mfad_rq_end(struct mfad_rq *rq, int commit) MSS_WUR;
/* mfad_rq_end(rq, 0), for a path that already has its error. */
void mfad_rq_abort(struct mfad_rq *rq);
/*
 * The request's changes guard nothing (the last use of a device, a last
 * login, the audit copy of a success): on the committing thread its
 * reply need not wait for the disk (see mfad_committer). Elsewhere it
 * changes nothing.
 */
void mfad_rq_lazy(struct mfad_rq *rq);
/*
 * Reads user's account into rq->acct in rq's open transaction (none
 * open: MSS_ERR_INVAL), replacing and wiping what it held. The store's
 * result (MSS_ERR_NOTFOUND for no such account); on an error rq->acct
 * holds nothing.
 */
int mfad_rq_acct_load(struct mfad_rq *rq, const char *user) MSS_WUR;
/* Wipes rq->acct whole before the end, where a handler is done with it
 * before slow work (a password hash). */
void mfad_rq_acct_drop(struct mfad_rq *rq);
/*
 * The request's end, which the dispatcher calls after its handler: aborts
 * a transaction left open (mfad_rq_abort) and wipes rq->acct whole.
 */
void mfad_rq_done(struct mfad_rq *rq);

/*
 * A request handler: parses rq->in (strictly, ending with mss_buf_end),
 * fills rq->out and rq->rtype, returns 0. A negative return sends an
 * MSS_REP_RESULT with that code, except MSS_ERR_PROTO, which drops the
 * connection.
 */
typedef int (*mfad_handler_fn)(struct mfad_rq *rq);

/* Fills rep with an MSS_REP_RESULT. */
int mfad_reply_result(struct mss_buf *rep, uint8_t *rtype, int code,
    const char *msg) MSS_WUR;

/* Jobs waiting for a worker now (password hashing first of all), for
 * `mfadctl metrics`: one count for the process, as every request sees
 * a copy of ctx. The pool moves it; handlers only read it. */
uint64_t mfad_jobs_waiting(void);
void mfad_jobs_waiting_add(int64_t delta);

#endif /* MFAD_CTX_H */
