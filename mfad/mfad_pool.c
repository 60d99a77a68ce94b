#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mfad_audit.h"
#include "mfad_dispatch.h"
#include "mfad_log.h"
#include "mfad_outbox.h"
#include "mfad_pool.h"
#include "mfad_pw.h"
#include "mfad_snap.h"
#include "mfad_store.h"
#include "mss_err.h"

/*
 * Requests whose changes guard nothing (mfad_rq_lazy) have their reply
 * at once; their changes stay in the open batch, committed with the next
 * request that needs a durable reply, or at most MFAD_CARRY_MS later, or
 * after MFAD_CARRY_MAX of them (counted as they run: records queued
 * while a batch is carried all run at its commit), or before any other
 * request runs.
 */
#define MFAD_CARRY_MS	50
#define MFAD_CARRY_MAX	64

/* A core's password memory is unmapped once it has checked nothing for
 * this long (mfad_pw_trim): kept through a burst, given back after. */
#define MFAD_PW_KEEP_S	2

void
mfad_job_free(struct mfad_job *j)
{
	mfad_dispatch_clear(&j->req);
	free(j);
}

static void
mfad_sweep(struct mfad_ctx *ctx)
{
	unsigned n = 0;
	uint64_t now = mfad_clock_real_s(), keep;
	struct mfad_conf *conf;
	int r, more;

	conf = mfad_snap_hold(ctx);
	keep = (uint64_t)conf->audit_days * 86400;
	mfad_snap_release(conf);
	/* A summary the store refuses keeps only its log line; the sweep
	 * goes on. */
	if (mfad_audit_agg_flush(ctx, 0) != 0)
		mfad_log(LOG_ERR, "sweep: not every audit summary was stored");
	if ((r = mfad_store_sweep_run(ctx->store, now, now > keep ?
	    now - keep : 0, &n)) != 0)
		mfad_log(LOG_ERR, "sweep: %s", mss_strerror(r));
	else if (n > 0)
		mfad_log(LOG_DEBUG, "swept %u expired records", n);
	/* Fleet mode: one bounded step in the directory, here on a worker
	 * (round trips, no transaction held). A directory that does not
	 * answer was logged by the store; the next sweep tries again. */
	if ((r = mfad_store_dir_sweep(ctx->store, now, MFAD_DIR_SWEEP_BUDGET,
	    &n, &more)) != 0 && r != MSS_ERR_UNAVAIL)
		mfad_log(LOG_ERR, "sweep: directory: %s", mss_strerror(r));
	else if (r == 0 && n > 0)
		mfad_log(LOG_DEBUG, "swept %u expired devices from the "
		    "directory%s", n, more ? ", more left" : "");
}

/*
 * Sends what of j's reply the socket takes at once, from the thread that
 * finished it: the caller need not wait for the event loop to wake up
 * (it writes the rest, if any, and closes). The loop leaves a connection
 * alone while its job is out, so the socket is still the request's.
 */
static void
mfad_pool_reply(struct mfad_job *j)
{
	struct mss_buf *out = j->req.out;
	ssize_t n;

	if (!j->has_sock || out == NULL)
		return;
	while (mss_buf_avail(out) > 0) {
		n = send(j->sock, mss_buf_ptr(out), mss_buf_avail(out),
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		out->off += (size_t)n;
	}
}

/*
 * Hands finished jobs (a list) back to the event loop; records, which
 * have no connection, are freed. Only the thread that finds p->done
 * empty writes to the wake-up pipe: a list already there has its byte
 * written, or about to be, and the loop drains the pipe before it takes
 * the list (mfad_pool_done), so no job is left without a wake-up. Under
 * load this saves a system call a request.
 */
static void
mfad_pool_deliver(struct mfad_pool *p, struct mfad_job *list)
{
	struct mfad_job *j, *next, *back = NULL;
	char c = 1;
	int wake;

	for (j = list; j != NULL; j = next) {
		next = j->next;
		if (j->record) {
			mfad_job_free(j);
			continue;
		}
		mfad_pool_reply(j);
		j->next = back;
		back = j;
	}
	if (back == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	wake = p->done == NULL;
	for (j = back; j != NULL; j = next) {
		next = j->next;
		j->next = p->done;
		p->done = j;
	}
	pthread_mutex_unlock(&p->lock);
	if (wake && write(p->wake[1], &c, 1) < 0 && errno != EAGAIN)
		mfad_log(LOG_ERR, "wake-up pipe: %s", strerror(errno));
}

/* Queues a job for the committing thread; 1 when it must be woken for
 * it (mfad_commit_push). */
static int
mfad_commit_queue(struct mfad_pool *p, struct mfad_job *j)
{
	int wake;

	pthread_mutex_lock(&p->lock);
	j->next = NULL;
	if (p->ctodo_tail != NULL)
		p->ctodo_tail->next = j;
	else
		p->ctodo = j;
	p->ctodo_tail = j;
	if (j->record)
		p->crecords++;
	/* A carried batch takes a record when it commits (MFAD_CARRY_MS
	 * at most, or at once for a request that reads or needs the
	 * disk): one wake-up for many logins. */
	wake = !j->record || !p->ccarry;
	pthread_mutex_unlock(&p->lock);
	return wake;
}

/* Queues a job for the committing thread and wakes it if need be. */
static void
mfad_commit_push(struct mfad_pool *p, struct mfad_job *j)
{
	/* Signalled once the lock is free: a thread woken while it is
	 * held would only wake to sleep again on it. */
	if (mfad_commit_queue(p, j))
		pthread_cond_signal(&p->ccond);
}

/*
 * The record of j, answered early (mfad_auth_start_early): a job of its
 * own, with no connection, that takes j's second half. NULL when out of
 * memory (j keeps it).
 */
static struct mfad_job *
mfad_pool_record(struct mfad_job *j)
{
	struct mfad_job *rec;

	if ((rec = calloc(1, sizeof(*rec))) == NULL)
		return NULL;
	rec->record = 1;
	rec->trusted = j->trusted;
	rec->req.type = j->req.type;
	rec->req.peer = j->req.peer;
	rec->req.peer.nfds = 0;
	rec->req.early = 1;
	rec->req.cont = j->req.cont;
	j->req.cont = NULL;
	return rec;
}

/*
 * Before a request on a worker: commits a carried batch and the records
 * queued, so that what every earlier reply said is in the store it
 * reads, and its own write transaction does not wait on the batch's.
 * The committer signals cflushed after each round that commits or runs
 * records.
 */
static void
mfad_pool_sync(struct mfad_pool *p)
{
	pthread_mutex_lock(&p->lock);
	while (p->ccarry || p->crecords > 0) {
		p->cflush = 1;
		pthread_cond_signal(&p->ccond);
		pthread_cond_wait(&p->cflushed, &p->lock);
	}
	pthread_mutex_unlock(&p->lock);
}

static void
mfad_carry_due(struct timespec *due)
{
	clock_gettime(CLOCK_MONOTONIC, due);
	due->tv_nsec += MFAD_CARRY_MS * 1000000L;
	if (due->tv_nsec >= 1000000000L) {
		due->tv_sec++;
		due->tv_nsec -= 1000000000L;
	}
}

static int
mfad_carry_over(const struct timespec *due)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > due->tv_sec || (now.tv_sec == due->tv_sec &&
	    now.tv_nsec >= due->tv_nsec);
}

/*
 * The committing thread: takes every job queued, runs them all in one
 * write transaction (each request's in a child of it, the batch passed
 * to mfad_dispatch_run), syncs once, and only then
 * lets their replies go. Many requests, one disk sync: durable, and fast.
 *
 * A request that changed nothing a crash could turn against security
 * (mfad_rq_lazy) has its reply at once, unless one that needs the
 * disk ran before it in the same transaction (it may have read that
 * one's changes). When only such requests ran, the transaction stays
 * open (carried) for the next batch; it commits, in order, with the next
 * request that needs the disk, or after MFAD_CARRY_MS, MFAD_CARRY_MAX
 * requests, a request for a worker (mfad_pool_sync) or at the stop. A
 * crash in that window loses those changes, and only those. The records
 * of logins a worker answered early (job->record) are such requests,
 * queued before their reply went.
 */
static void *
mfad_committer(void *arg)
{
	struct mfad_pool *p = arg;
	struct mfad_job *batch, *j, *next, *held, **tail;
	struct timespec due = { 0, 0 };
	struct mfad_txn *txn = NULL;
	size_t carried = 0, nrec;
	int r, strict = 0, flush, timedout;

	pthread_setname_np(pthread_self(), "mfad-commit");
	/* Every caller's quick requests wait for this thread. */
	mfad_pw_priority(1);
	for (;;) {
		pthread_mutex_lock(&p->lock);
		timedout = 0;
		while (p->ctodo == NULL && !p->cstop && !timedout &&
		    !(txn != NULL && p->cflush)) {
			if (txn == NULL)
				pthread_cond_wait(&p->ccond, &p->lock);
			else
				timedout = pthread_cond_timedwait(&p->ccond,
				    &p->lock, &due) == ETIMEDOUT;
		}
		batch = p->ctodo;
		p->ctodo = p->ctodo_tail = NULL;
		flush = p->cflush || p->cstop || timedout;
		pthread_mutex_unlock(&p->lock);
		if (batch == NULL && txn == NULL)
			break;

		r = 0;
		if (txn == NULL && batch != NULL) {
			r = mfad_txn_begin(p->ctx->store, 0, &txn);
			if (r == 0) {
				mfad_carry_due(&due);
				strict = 0;
			}
		}
		held = NULL;
		tail = &held;
		nrec = 0;
		for (j = batch; j != NULL; j = next) {
			next = j->next;
			j->next = NULL;
			nrec += j->record != 0;
			if (r == 0) {
				mfad_dispatch_run(p->ctx, &j->req, txn);
				if (j->req.lazy && !strict) {
					/* Carried: the store's next readers
					 * wait for its commit. */
					pthread_mutex_lock(&p->lock);
					p->ccarry = 1;
					pthread_mutex_unlock(&p->lock);
					carried++;
					mfad_pool_deliver(p, j);
					continue;
				}
				strict = 1;
			} else {
				mfad_dispatch_abandon(&j->req, r);
			}
			*tail = j;
			tail = &j->next;
		}
		if (txn != NULL && (strict || flush ||
		    carried >= MFAD_CARRY_MAX || mfad_carry_over(&due))) {
			if ((r = mfad_txn_commit(&txn)) != 0) {
				for (j = held; j != NULL; j = j->next)
					mfad_dispatch_fail(&j->req, r);
				if (carried > 0)
					mfad_log(LOG_ERR, "store: the last "
					    "use and audit records of %zu "
					    "remembered-device logins were "
					    "lost", carried);
			} else
				mfad_outbox_kick_queued(p->ctx->outbox);
			carried = 0;
			pthread_mutex_lock(&p->lock);
			p->ccarry = 0;
			p->cflush = 0;
			p->crecords -= nrec;
			nrec = 0;
			pthread_cond_broadcast(&p->cflushed);
			pthread_mutex_unlock(&p->lock);
		}
		if (nrec > 0) {
			/* Run, and carried (or lost with a batch that could
			 * not begin): a reader waits for the batch now. */
			pthread_mutex_lock(&p->lock);
			p->crecords -= nrec;
			pthread_cond_broadcast(&p->cflushed);
			pthread_mutex_unlock(&p->lock);
		}
		if (held != NULL)
			mfad_pool_deliver(p, held);
	}
	return NULL;
}

/*
 * A lane's thread: the lane's requests in turn, each with transactions
 * of its own once the carried batch is on disk (mfad_pool_sync), so that
 * it sees what every earlier reply said. The reader's (MFAD_H_READ) are
 * read-only; the slow lane's (MFAD_H_SLOW) wait on the relay or on a
 * backup's copy, out of the workers' way. At the stop a lane answers
 * what is queued, then ends.
 */
static void *
mfad_lane_run(void *arg)
{
	struct mfad_lane *l = arg;
	struct mfad_pool *p = l->pool;
	struct mfad_job *j;

	pthread_setname_np(pthread_self(), l->name);
	mfad_pw_priority(1);
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while ((j = l->todo) == NULL && !p->stop)
			pthread_cond_wait(&l->cond, &p->lock);
		if (j != NULL && (l->todo = j->next) == NULL)
			l->todo_tail = NULL;
		pthread_mutex_unlock(&p->lock);
		if (j == NULL)
			break;
		mfad_pool_sync(p);
		mfad_dispatch_run(p->ctx, &j->req, NULL);
		j->next = NULL;
		mfad_pool_deliver(p, j);
	}
	return NULL;
}

/* Queues a job for a lane. */
static void
mfad_lane_push(struct mfad_lane *l, struct mfad_job *j)
{
	struct mfad_pool *p = l->pool;

	pthread_mutex_lock(&p->lock);
	j->next = NULL;
	if (l->todo_tail != NULL)
		l->todo_tail->next = j;
	else
		l->todo = j;
	l->todo_tail = j;
	pthread_mutex_unlock(&p->lock);
	pthread_cond_signal(&l->cond);
}

/* A lane of n threads (at most MFAD_LANE_MAX). */
static int MSS_WUR
mfad_lane_start(struct mfad_pool *p, struct mfad_lane *l, const char *name,
    size_t n)
{
	if (pthread_cond_init(&l->cond, NULL) != 0)
		return MSS_ERR_SYSTEM;
	l->pool = p;	/* from here on, mfad_lane_stop releases it */
	l->name = name;
	for (; l->started < n && l->started < MFAD_LANE_MAX; l->started++)
		if (pthread_create(&l->threads[l->started], NULL,
		    mfad_lane_run, l) != 0)
			return MSS_ERR_SYSTEM;
	return 0;
}

/* After p->stop is set: the lane's last requests answered, its thread
 * ended, what is left freed. */
static void
mfad_lane_stop(struct mfad_lane *l)
{
	struct mfad_job *j;
	size_t i;

	if (l->pool == NULL)
		return;
	pthread_mutex_lock(&l->pool->lock);
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->pool->lock);
	for (i = 0; i < l->started; i++)
		pthread_join(l->threads[i], NULL);
	while ((j = l->todo) != NULL) {
		l->todo = j->next;
		mfad_job_free(j);
	}
	pthread_cond_destroy(&l->cond);
}

/*
 * The next job for a worker (p->lock held): a trusted one, else the
 * first of the next uid's queue while fewer than urun_max such jobs run
 * (when stopping, whatever is left). NULL: nothing to take now.
 */
static struct mfad_job *
mfad_pool_take(struct mfad_pool *p)
{
	struct mfad_flow *f;
	struct mfad_job *j;

	if ((j = p->todo) != NULL) {
		if ((p->todo = j->next) == NULL)
			p->todo_tail = NULL;
		mfad_jobs_waiting_add(-1);
		return j;
	}
	if ((f = p->flows) == NULL || (p->urun >= p->urun_max && !p->stop))
		return NULL;
	j = f->head;
	if ((f->head = j->next) == NULL)
		f->tail = NULL;
	if ((p->flows = f->next) == NULL)
		p->flows_tail = NULL;
	if (f->head != NULL) {
		/* Its turn is over: to the back of the round. */
		f->next = NULL;
		if (p->flows_tail != NULL)
			p->flows_tail->next = f;
		else
			p->flows = f;
		p->flows_tail = f;
	} else
		free(f);
	p->urun++;
	mfad_jobs_waiting_add(-1);
	return j;
}

static void *
mfad_worker(void *arg)
{
	struct mfad_pool *p = arg;
	const struct mfad_handler *h;
	struct mfad_job *j, *rec;
	struct timespec until;
	int trusted, wake;

	pthread_setname_np(pthread_self(), "mfad-worker");
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while ((j = mfad_pool_take(p)) == NULL && !p->stop) {
			if (mfad_pw_mapped_arenas() == 0) {
				pthread_cond_wait(&p->cond, &p->lock);
				continue;
			}
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += MFAD_PW_KEEP_S;
			if (pthread_cond_timedwait(&p->cond, &p->lock,
			    &until) == ETIMEDOUT) {
				pthread_mutex_unlock(&p->lock);
				mfad_pw_trim(MFAD_PW_KEEP_S);
				pthread_mutex_lock(&p->lock);
			}
		}
		pthread_mutex_unlock(&p->lock);
		if (j == NULL)
			break;

		if (j->sweep) {
			mfad_pw_priority(1);
			mfad_pool_sync(p);
			mfad_sweep(p->ctx);
			mfad_job_free(j);
			continue;
		}
		trusted = j->trusted;
		mfad_pw_priority(trusted);
		/* AUTH_START's first half reads the password hash and,
		 * for a remembered device, the account's standing and the
		 * device: carried changes are records only (last use, the
		 * audit copy), on which none of these depend. */
		if ((h = mfad_dispatch_find(j->req.type)) == NULL ||
		    !(h->flags & MFAD_H_SPLIT))
			mfad_pool_sync(p);
		mfad_dispatch_run(p->ctx, &j->req, NULL);
		if (!trusted) {
			pthread_mutex_lock(&p->lock);
			p->urun--;
			pthread_cond_signal(&p->cond);
			pthread_mutex_unlock(&p->lock);
		}
		if (j->req.cont != NULL && j->req.early &&
		    (rec = mfad_pool_record(j)) != NULL) {
			/* Answered already: its record is queued first, so
			 * that any later request commits with or after it,
			 * then the reply goes and the connection closes.
			 * The committing thread is woken last: woken
			 * before, it would take this core from the
			 * reply. */
			wake = mfad_commit_queue(p, rec);
			j->next = NULL;
			mfad_pool_deliver(p, j);
			if (wake)
				pthread_cond_signal(&p->ccond);
		} else if (j->req.cont != NULL) {
			if (j->req.early)
				mfad_pool_reply(j);
			mfad_commit_push(p, j);
		} else {
			j->next = NULL;
			mfad_pool_deliver(p, j);
		}
	}
	return NULL;
}

/* Queues j: trusted jobs in todo, others in their uid's queue. */
static int MSS_WUR
mfad_pool_push(struct mfad_pool *p, struct mfad_job *j)
{
	struct mfad_flow *f;

	pthread_mutex_lock(&p->lock);
	j->next = NULL;
	if (j->trusted || j->sweep) {
		if (p->todo_tail != NULL)
			p->todo_tail->next = j;
		else
			p->todo = j;
		p->todo_tail = j;
	} else {
		for (f = p->flows; f != NULL; f = f->next)
			if (f->uid == j->req.peer.uid)
				break;
		if (f == NULL) {
			if ((f = calloc(1, sizeof(*f))) == NULL) {
				pthread_mutex_unlock(&p->lock);
				return MSS_ERR_NOMEM;
			}
			f->uid = j->req.peer.uid;
			if (p->flows_tail != NULL)
				p->flows_tail->next = f;
			else
				p->flows = f;
			p->flows_tail = f;
		}
		if (f->tail != NULL)
			f->tail->next = j;
		else
			f->head = j;
		f->tail = j;
	}
	mfad_jobs_waiting_add(1);
	pthread_mutex_unlock(&p->lock);
	pthread_cond_signal(&p->cond);
	return 0;
}

int
mfad_pool_start(struct mfad_pool *p, struct mfad_ctx *ctx)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_condattr_t ca;
	size_t i, cores;
	int r;

	memset(p, 0, sizeof(*p));
	p->ctx = ctx;
	pthread_mutex_init(&p->lock, NULL);
	/* The committer's wait for a carried batch (mfad_carry_due) and an
	 * idle worker's for the time to give back its password memory are
	 * on the monotonic clock. */
	if (pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&p->ccond, &ca) != 0 ||
	    pthread_cond_init(&p->cond, &ca) != 0)
		return MSS_ERR_SYSTEM;
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&p->cflushed, NULL);
	if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) != 0)
		return MSS_ERR_SYSTEM;
	if (pthread_create(&p->committer, NULL, mfad_committer, p) != 0)
		return MSS_ERR_SYSTEM;
	p->has_committer = 1;
	if ((r = mfad_lane_start(p, &p->reader, "mfad-reader", 1)) != 0 ||
	    (r = mfad_lane_start(p, &p->slow, "mfad-slow", 2)) != 0)
		return r;
	/* Workers check and hash passwords, at most one per core at a time
	 * (mfad_pw.c): one per core, two at least. More threads ready to
	 * run than cores only lengthen the tail of the answers. In fleet
	 * mode two more, for the requests' round trips to the directory. */
	cores = n > 1 ? (size_t)n : 2;
	p->nthreads = cores + (ctx->conf->dir_nuris > 0 ? 2 : 0);
	p->urun_max = p->nthreads - 1;
	if ((p->threads = calloc(p->nthreads, sizeof(*p->threads))) == NULL)
		return MSS_ERR_NOMEM;
	for (i = 0; i < p->nthreads; i++)
		if (pthread_create(&p->threads[i], NULL, mfad_worker, p) != 0) {
			p->nthreads = i;
			return MSS_ERR_SYSTEM;
		}
	return 0;
}

void
mfad_pool_stop(struct mfad_pool *p)
{
	struct mfad_flow *f;
	struct mfad_job *j;
	size_t i;

	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	/* The lanes' last requests may wait for a carried batch: before
	 * the committer stops. */
	mfad_lane_stop(&p->reader);
	mfad_lane_stop(&p->slow);
	/* The workers are gone: what they passed on is queued by now. */
	if (p->has_committer) {
		pthread_mutex_lock(&p->lock);
		p->cstop = 1;
		pthread_cond_signal(&p->ccond);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->committer, NULL);
	}
	while ((j = p->done) != NULL) {
		p->done = j->next;
		mfad_job_free(j);
	}
	while ((j = p->todo) != NULL) {
		p->todo = j->next;
		mfad_job_free(j);
	}
	while ((f = p->flows) != NULL) {
		p->flows = f->next;
		while ((j = f->head) != NULL) {
			f->head = j->next;
			mfad_job_free(j);
		}
		free(f);
	}
	close(p->wake[0]);
	close(p->wake[1]);
	pthread_cond_destroy(&p->ccond);
	pthread_cond_destroy(&p->cflushed);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
}


int
mfad_pool_submit(struct mfad_pool *p, struct mfad_job *j)
{
	const struct mfad_handler *h;

	h = mfad_dispatch_find(j->req.type);
	if (h != NULL && (h->flags & MFAD_H_COMMIT)) {
		mfad_commit_push(p, j);
		return 0;
	}
	if (h != NULL && (h->flags & MFAD_H_READ)) {
		mfad_lane_push(&p->reader, j);
		return 0;
	}
	if (h != NULL && (h->flags & MFAD_H_SLOW)) {
		mfad_lane_push(&p->slow, j);
		return 0;
	}
	return mfad_pool_push(p, j);
}

int
mfad_pool_sweep(struct mfad_pool *p)
{
	struct mfad_job *j;
	int r;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return MSS_ERR_NOMEM;
	j->sweep = 1;
	if ((r = mfad_pool_push(p, j)) != 0)
		mfad_job_free(j);
	return r;
}

int
mfad_pool_wake_fd(const struct mfad_pool *p)
{
	return p->wake[0];
}

struct mfad_job *
mfad_pool_done(struct mfad_pool *p)
{
	struct mfad_job *done;
	char buf[256];

	/* Before the list is taken: a byte written after this read is for
	 * jobs added after it (see mfad_pool_deliver). A pipe gives what it
	 * holds: a short read emptied it, with no second read to learn so. */
	while (read(p->wake[0], buf, sizeof(buf)) == (ssize_t)sizeof(buf))
		;
	pthread_mutex_lock(&p->lock);
	done = p->done;
	p->done = NULL;
	pthread_mutex_unlock(&p->lock);
	return done;
}
