/*
 * Unit tests for mfad/mfad_pool.c and mfad_dispatch.c, with a real store
 * and real threads: a request that only reads (user list, audit, device
 * list, status, metrics, user show) runs on the reader thread with a
 * read-only transaction, so it answers while a writer holds the store
 * and the committing thread waits for it. And a request's lifetime
 * (mfad_rq_*, mfad_ctx.c): each transaction ends once, inside a
 * batch a read-only one writes nothing, and the request's account is
 * wiped at its end whatever its handler returned.
 */
#include "config.h"

#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "mfad_dispatch.h"
#include "mfad_log.h"
#include "mfad_pool.h"
#include "mfad_snap.h"
#include "mfad_store.h"
#include "mss_err.h"
#include "mss_io.h"
#include "mss_proto.h"

#define POOL_WAIT_MS	20000	/* a loaded machine, not a bound */

struct fix {
	char		dir[64];
	struct mfad_ctx	ctx;
};

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
fix_setup(void **state)
{
	struct mfad_conf *conf;
	struct fix *f;
	char db[128];

	if (sodium_init() < 0 || (f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_pool.XXXXXX");
	if (mkdtemp(f->dir) == NULL || (conf = mfad_conf_new()) == NULL)
		return -1;
	snprintf(db, sizeof(db), "%s/db", f->dir);
	free(conf->database);
	if ((conf->database = strdup(db)) == NULL)
		return -1;
	conf->map_size = 64ULL << 20;
	mfad_snap_publish(&f->ctx, conf);
	f->ctx.started = time(NULL);
	if (mfad_store_open(f->ctx.conf, &f->ctx.store) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
fix_teardown(void **state)
{
	struct fix *f = *state;

	mfad_store_close(f->ctx.store);
	mfad_snap_release(f->ctx.conf);
	nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* A request from an admin, on its way to the pool. */
static struct mfad_job *
job_new(uint8_t type)
{
	struct mfad_job *j;

	assert_non_null(j = calloc(1, sizeof(*j)));
	assert_non_null(j->req.in = mss_buf_new(MSS_MSG_MAX));
	assert_int_equal(mss_buf_put_str(j->req.in, ""), 0);
	j->req.type = type;
	j->req.peer.uid = 0;
	j->req.peer.roles = MFAD_ROLE_ADMIN;
	snprintf(j->req.peer.name, sizeof(j->req.peer.name), "root");
	j->trusted = 1;
	return j;
}

/* The next finished job, or NULL after POOL_WAIT_MS. */
static struct mfad_job *
job_wait(struct mfad_pool *p)
{
	struct pollfd pfd = { mfad_pool_wake_fd(p), POLLIN, 0 };
	struct mfad_job *j;

	if (poll(&pfd, 1, POOL_WAIT_MS) != 1)
		return NULL;
	j = mfad_pool_done(p);
	if (j != NULL)
		assert_null(j->next);
	return j;
}

static void
test_read_beside_writer(void **state)
{
	struct fix *f = *state;
	struct mfad_pool pool;
	struct mfad_job *j;
	struct mfad_txn *txn = NULL;
	uint8_t type;
	uint32_t len;

	assert_int_equal(mfad_pool_start(&pool, &f->ctx), 0);
	/* A writer holds the store: the committing thread would wait. */
	assert_int_equal(mfad_txn_begin(f->ctx.store, 0, &txn), 0);
	assert_int_equal(mfad_pool_submit(&pool, job_new(MSS_REQ_USER_LIST)),
	    0);
	j = job_wait(&pool);
	mfad_txn_abort(&txn);
	assert_non_null(j);
	assert_non_null(j->req.out);
	assert_int_equal(mss_frame_header(mss_buf_ptr(j->req.out), &type,
	    &len), 0);
	assert_int_equal(type, MSS_REP_USER_LIST);
	mfad_job_free(j);
	mfad_pool_stop(&pool);
}

/* The table says so for every read, and for nothing that writes. */
static void
test_reads_flagged(void **state)
{
	static const uint8_t reads[] = { MSS_REQ_STATUS, MSS_REQ_METRICS,
	    MSS_REQ_USER_SHOW, MSS_REQ_USER_LIST, MSS_REQ_DEVICE_LIST,
	    MSS_REQ_AUDIT };
	const struct mfad_handler *h;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(reads); i++) {
		assert_non_null(h = mfad_dispatch_find(reads[i]));
		assert_true(h->flags & MFAD_H_READ);
		assert_false(h->flags & MFAD_H_COMMIT);
	}
	assert_non_null(h = mfad_dispatch_find(MSS_REQ_DEVICE_REVOKE));
	assert_false(h->flags & MFAD_H_READ);
	assert_null(mfad_dispatch_find(0xff));
}

/* Whether user has an account, read in a transaction of its own. */
static int
acct_exists(struct fix *f, const char *user)
{
	struct mfad_txn *txn = NULL;
	struct mfad_acct a;
	int r;

	assert_int_equal(mfad_txn_begin(f->ctx.store, 1, &txn), 0);
	r = mfad_acct_get(txn, f->ctx.store, user, &a);
	mfad_txn_abort(&txn);
	assert_true(r == 0 || r == MSS_ERR_NOTFOUND);
	return r == 0;
}

/* Puts an account named user in rq's open transaction. */
static void
rq_put(struct mfad_rq *rq, const char *user)
{
	struct mfad_acct a;

	memset(&a, 0, sizeof(a));
	snprintf(a.user, sizeof(a.user), "%s", user);
	snprintf(a.email, sizeof(a.email), "%s@example.com", user);
	snprintf(a.lang, sizeof(a.lang), "en");
	assert_non_null(rq->txn);
	assert_int_equal(mfad_acct_put(rq->txn, rq->ctx->store, &a, NULL), 0);
}

static void
test_rq_lifetime(void **state)
{
	struct fix *f = *state;
	struct mfad_txn *batch = NULL;
	struct mfad_rq rq;

	/* Alone: a top-level transaction, ended once. */
	memset(&rq, 0, sizeof(rq));
	rq.ctx = &f->ctx;
	assert_int_equal(mfad_rq_end(&rq, 1), 0);	/* none open: no-op */
	assert_int_equal(mfad_rq_begin(&rq, 0), 0);
	assert_int_equal(mfad_rq_begin(&rq, 0), MSS_ERR_INVAL);
	rq_put(&rq, "alone");
	assert_int_equal(mfad_rq_end(&rq, 1), 0);
	assert_null(rq.txn);
	assert_int_equal(mfad_rq_end(&rq, 1), 0);	/* a second end */
	mfad_rq_abort(&rq);
	assert_true(acct_exists(f, "alone"));
	mfad_rq_lazy(&rq);			/* outside a batch: nothing */
	assert_int_equal(rq.lazy, 0);

	/* Begun again after its end, then left open: the abort drops it. */
	assert_int_equal(mfad_rq_begin(&rq, 0), 0);
	rq_put(&rq, "dropped");
	mfad_rq_abort(&rq);
	assert_null(rq.txn);
	assert_false(acct_exists(f, "dropped"));

	/* In a batch: children of it, durable with it; a read-only one
	 * writes nothing, whatever its end asks. */
	assert_int_equal(mfad_txn_begin(f->ctx.store, 0, &batch), 0);
	memset(&rq, 0, sizeof(rq));
	rq.ctx = &f->ctx;
	rq.batch = batch;
	assert_int_equal(mfad_rq_begin(&rq, 0), 0);
	rq_put(&rq, "child");
	assert_int_equal(mfad_rq_end(&rq, 1), 0);
	assert_false(acct_exists(f, "child"));	/* not before the batch */
	assert_int_equal(mfad_rq_begin(&rq, 1), 0);
	rq_put(&rq, "readonly");
	assert_int_equal(mfad_rq_end(&rq, 1), 0);
	assert_null(rq.txn);
	mfad_rq_lazy(&rq);
	assert_int_equal(rq.lazy, 1);
	assert_int_equal(mfad_txn_commit(&batch), 0);
	assert_true(acct_exists(f, "child"));
	assert_false(acct_exists(f, "readonly"));
}

/* Whether n bytes at p are all zero. */
static int
all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (c[i] != 0)
			return 0;
	return 1;
}

/* A handler that loads the request's account and then fails, as one
 * refusing a locked account does: it wipes nothing itself. */
static int
h_load_then_fail(struct mfad_rq *rq)
{
	int r;

	if ((r = mfad_rq_begin(rq, 1)) != 0)
		return r;
	if ((r = mfad_rq_acct_load(rq, "alice")) != 0)
		return r;
	assert_true(rq->has_acct);
	assert_string_equal(rq->acct.pwhash, "$argon2id$v=19$not-a-real-hash");
	assert_int_equal(rq->acct.recovery[2][0], 0xa5);
	return MSS_ERR_LOCKED;
}

static void
test_rq_acct(void **state)
{
	struct fix *f = *state;
	struct mfad_acct a;
	struct mfad_rq rq;

	/* An account with a password hash and recovery hashes. */
	memset(&a, 0, sizeof(a));
	snprintf(a.user, sizeof(a.user), "alice");
	snprintf(a.email, sizeof(a.email), "alice@example.com");
	snprintf(a.lang, sizeof(a.lang), "en");
	snprintf(a.pwhash, sizeof(a.pwhash), "$argon2id$v=19$not-a-real-hash");
	memset(a.recovery, 0xa5, 3 * sizeof(a.recovery[0]));
	a.nrecovery = 3;
	memset(&rq, 0, sizeof(rq));
	rq.ctx = &f->ctx;
	assert_int_equal(mfad_rq_begin(&rq, 0), 0);
	assert_int_equal(mfad_acct_put(rq.txn, f->ctx.store, &a, NULL), 0);
	assert_int_equal(mfad_rq_end(&rq, 1), 0);

	/* No transaction: refused, nothing held. */
	assert_int_equal(mfad_rq_acct_load(&rq, "alice"), MSS_ERR_INVAL);
	assert_false(rq.has_acct);

	/* A missing account replaces, and wipes, the one held. */
	assert_int_equal(mfad_rq_begin(&rq, 1), 0);
	assert_int_equal(mfad_rq_acct_load(&rq, "alice"), 0);
	assert_true(rq.has_acct);
	assert_string_equal(rq.acct.email, "alice@example.com");
	assert_int_equal(mfad_rq_acct_load(&rq, "nobody"), MSS_ERR_NOTFOUND);
	assert_false(rq.has_acct);
	assert_true(all_zero(&rq.acct, sizeof(rq.acct)));

	/* The end, after a handler that loaded it and failed: the
	 * transaction aborted, every byte of the account zero. */
	mfad_rq_abort(&rq);
	assert_int_equal(h_load_then_fail(&rq), MSS_ERR_LOCKED);
	assert_non_null(rq.txn);
	mfad_rq_done(&rq);
	assert_null(rq.txn);
	assert_false(rq.has_acct);
	assert_true(all_zero(&rq.acct, sizeof(rq.acct)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_flagged),
		cmocka_unit_test_setup_teardown(test_read_beside_writer,
		    fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_rq_lifetime,
		    fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_rq_acct,
		    fix_setup, fix_teardown),
	};

	mfad_log_init(0, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
