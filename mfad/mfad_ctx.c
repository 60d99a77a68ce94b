#include "config.h"

#include <sodium.h>

#include "mfad_ctx.h"
#include "mfad_log.h"
#include "mss_proto.h"

int
mfad_rq_begin(struct mfad_rq *rq, int rdonly)
{
	int r;

	if (rq->txn != NULL) {
		mfad_log(LOG_ERR, "request: a second transaction begun "
		    "before the first ended");
		return MSS_ERR_INVAL;
	}
	if (rq->batch != NULL)
		r = mfad_txn_begin_child(rq->batch, &rq->txn);
	else
		r = mfad_txn_begin(rq->ctx->store, rdonly, &rq->txn);
	rq->rdonly = rdonly;
	rq->end_r = 0;
	return r;
}

int
mfad_rq_end(struct mfad_rq *rq, int commit)
{
	if (rq->txn == NULL)
		return rq->end_r;
	if (commit && !rq->rdonly)
		rq->end_r = mfad_txn_commit(&rq->txn);
	else {
		mfad_txn_abort(&rq->txn);
		rq->end_r = 0;
	}
	return rq->end_r;
}

void
mfad_rq_abort(struct mfad_rq *rq)
{
	if (rq->txn != NULL) {
		mfad_txn_abort(&rq->txn);
		rq->end_r = 0;
	}
}

void
mfad_rq_lazy(struct mfad_rq *rq)
{
	if (rq->batch != NULL)
		rq->lazy = 1;
}

void
mfad_rq_acct_drop(struct mfad_rq *rq)
{
	sodium_memzero(&rq->acct, sizeof(rq->acct));
	rq->has_acct = 0;
}

int
mfad_rq_acct_load(struct mfad_rq *rq, const char *user)
{
	int r;

	mfad_rq_acct_drop(rq);
	if (rq->txn == NULL) {
		mfad_log(LOG_ERR, "request: an account read outside its "
		    "transaction");
		return MSS_ERR_INVAL;
	}
	if ((r = mfad_acct_get(rq->txn, rq->ctx->store, user,
	    &rq->acct)) != 0) {
		mfad_rq_acct_drop(rq);
		return r;
	}
	rq->has_acct = 1;
	return 0;
}

void
mfad_rq_done(struct mfad_rq *rq)
{
	mfad_rq_abort(rq);
	mfad_rq_acct_drop(rq);
}

int
mfad_reply_result(struct mss_buf *rep, uint8_t *rtype, int code,
    const char *msg)
{
	int r;

	mss_buf_reset(rep);
	*rtype = MSS_REP_RESULT;
	if ((r = mss_buf_put_u32(rep, (uint32_t)(code < 0 ? -code : code)))
	    != 0 || (r = mss_buf_put_str(rep, msg)) != 0)
		return r;
	return 0;
}

static uint64_t mfad_waiting;

uint64_t
mfad_jobs_waiting(void)
{
	return __atomic_load_n(&mfad_waiting, __ATOMIC_RELAXED);
}

void
mfad_jobs_waiting_add(int64_t delta)
{
	__atomic_add_fetch(&mfad_waiting, (uint64_t)delta, __ATOMIC_RELAXED);
}
