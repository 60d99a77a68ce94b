#include "config.h"

#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "mfad_admin.h"
#include "mfad_audit.h"
#include "mfad_auth.h"
#include "mfad_enroll.h"
#include "mfad_import.h"
#include "mfad_log.h"
#include "mfad_notify.h"
#include "mfad_outbox.h"
#include "mfad_pw.h"
#include "mfad_server.h"
#include "mss_err.h"
#include "mss_io.h"
#include "mss_proto.h"

#define MFAD_MAX_CONNS		1024
#define MFAD_IO_DEADLINE_MS	5000	/* a whole request, or a reply */
#define MFAD_SWEEP_SECS		60

uint64_t
mfad_now(void)
{
	return (uint64_t)time(NULL);
}

uint64_t
mfad_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static long long
mfad_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

/* Dispatch table: who may send what, and who answers it. */

static int
mfad_h_user_del(struct mfad_ctx *c, const struct mfad_peer *p,
    struct mss_buf *q, uint8_t *t, struct mss_buf *r)
{
	return mfad_admin_user_op(c, p, q, t, r, MSS_REQ_USER_DEL);
}

static int
mfad_h_user_show(struct mfad_ctx *c, const struct mfad_peer *p,
    struct mss_buf *q, uint8_t *t, struct mss_buf *r)
{
	return mfad_admin_user_op(c, p, q, t, r, MSS_REQ_USER_SHOW);
}

static int
mfad_h_user_lock(struct mfad_ctx *c, const struct mfad_peer *p,
    struct mss_buf *q, uint8_t *t, struct mss_buf *r)
{
	return mfad_admin_user_op(c, p, q, t, r, MSS_REQ_USER_LOCK);
}

static int
mfad_h_user_unlock(struct mfad_ctx *c, const struct mfad_peer *p,
    struct mss_buf *q, uint8_t *t, struct mss_buf *r)
{
	return mfad_admin_user_op(c, p, q, t, r, MSS_REQ_USER_UNLOCK);
}

static int
mfad_h_user_reenroll(struct mfad_ctx *c, const struct mfad_peer *p,
    struct mss_buf *q, uint8_t *t, struct mss_buf *r)
{
	return mfad_admin_user_op(c, p, q, t, r, MSS_REQ_USER_REENROLL);
}

/*
 * MFAD_H_COMMIT: quick requests that run on the committing thread inside
 * a group commit. MFAD_H_SPLIT: AUTH_START, whose password check runs on
 * a worker and whose changes join a group commit. The others (hashing,
 * the relay, a backup) run on workers with transactions of their own.
 */
#define MFAD_H_COMMIT	0x01
#define MFAD_H_SPLIT	0x02

static const struct mfad_handler {
	uint8_t		 type;
	unsigned	 roles;		/* any of these */
	const char	*name;
	mfad_handler_fn	 fn;
	unsigned	 flags;
} mfad_handlers[] = {
	{ MSS_REQ_STATUS, MFAD_ROLE_ADMIN, "status", mfad_admin_status,
	    MFAD_H_COMMIT },
	{ MSS_REQ_AUTH_START, MFAD_ROLE_PAM | MFAD_ROLE_SELF, "auth",
	    mfad_auth_start, MFAD_H_SPLIT },
	{ MSS_REQ_CODE, MFAD_ROLE_PAM | MFAD_ROLE_SELF, "code",
	    mfad_auth_code, MFAD_H_COMMIT },
	{ MSS_REQ_RESEND, MFAD_ROLE_PAM | MFAD_ROLE_SELF, "resend",
	    mfad_auth_resend, MFAD_H_COMMIT },
	{ MSS_REQ_REMEMBER, MFAD_ROLE_PAM | MFAD_ROLE_SELF, "remember",
	    mfad_auth_remember, MFAD_H_COMMIT },
	{ MSS_REQ_ACCT, MFAD_ROLE_PAM | MFAD_ROLE_SELF, "acct",
	    mfad_auth_acct, MFAD_H_COMMIT },
	{ MSS_REQ_RESET_START, MFAD_ROLE_PAM | MFAD_ROLE_SELF, "reset",
	    mfad_reset_start, MFAD_H_COMMIT },
	{ MSS_REQ_SET_PASSWORD, MFAD_ROLE_PAM | MFAD_ROLE_SELF,
	    "set password", mfad_set_password, 0 },
	{ MSS_REQ_CHANGE_PASSWORD, MFAD_ROLE_PAM | MFAD_ROLE_SELF,
	    "change password", mfad_change_password, 0 },
	{ MSS_REQ_USER_IMPORT, MFAD_ROLE_ADMIN, "import", mfad_import,
	    MFAD_H_COMMIT },
	{ MSS_REQ_USER_ADD, MFAD_ROLE_ADMIN, "user add",
	    mfad_admin_user_add, 0 },
	{ MSS_REQ_USER_SET, MFAD_ROLE_ADMIN, "user set",
	    mfad_admin_user_set, MFAD_H_COMMIT },
	{ MSS_REQ_USER_DEL, MFAD_ROLE_ADMIN, "user del", mfad_h_user_del,
	    MFAD_H_COMMIT },
	{ MSS_REQ_USER_SHOW, MFAD_ROLE_ADMIN, "user show", mfad_h_user_show,
	    MFAD_H_COMMIT },
	{ MSS_REQ_USER_LIST, MFAD_ROLE_ADMIN, "user list",
	    mfad_admin_user_list, MFAD_H_COMMIT },
	{ MSS_REQ_USER_LOCK, MFAD_ROLE_ADMIN, "user lock", mfad_h_user_lock,
	    MFAD_H_COMMIT },
	{ MSS_REQ_USER_UNLOCK, MFAD_ROLE_ADMIN, "user unlock",
	    mfad_h_user_unlock, MFAD_H_COMMIT },
	{ MSS_REQ_USER_REENROLL, MFAD_ROLE_ADMIN, "user reenroll",
	    mfad_h_user_reenroll, MFAD_H_COMMIT },
	{ MSS_REQ_DEVICE_LIST, MFAD_ROLE_ADMIN, "device list",
	    mfad_admin_device_list, MFAD_H_COMMIT },
	{ MSS_REQ_DEVICE_REVOKE, MFAD_ROLE_ADMIN, "device revoke",
	    mfad_admin_device_revoke, MFAD_H_COMMIT },
	{ MSS_REQ_MAIL_TEST, MFAD_ROLE_ADMIN, "mail test",
	    mfad_admin_mail_test, 0 },
	{ MSS_REQ_AUDIT, MFAD_ROLE_ADMIN, "audit", mfad_admin_audit,
	    MFAD_H_COMMIT },
	{ MSS_REQ_BACKUP, MFAD_ROLE_ADMIN, "backup", mfad_admin_backup, 0 },
};

static const struct mfad_handler *
mfad_handler_find(uint8_t type)
{
	size_t i;

	for (i = 0; i < sizeof(mfad_handlers) / sizeof(mfad_handlers[0]); i++)
		if (mfad_handlers[i].type == type)
			return &mfad_handlers[i];
	return NULL;
}

/* Connections and the worker pool */

enum mfad_conn_state {
	MFAD_CONN_FREE = 0,
	MFAD_CONN_READ,
	MFAD_CONN_BUSY,		/* a worker has the request */
	MFAD_CONN_WRITE,
};

struct mfad_conn {
	int			 fd;
	uint64_t		 gen;
	enum mfad_conn_state	 state;
	unsigned char		 hdr[MSS_FRAME_HDR];
	size_t			 hdr_got;
	uint8_t			 type;
	uint32_t		 len;
	struct mss_buf		*in;
	struct mss_buf		*out;
	long long		 deadline;
	struct mfad_peer	 peer;
	int			 fds[MSS_BACKUP_FDS];	/* came with the frame */
	int			 nfds;
};

struct mfad_job {
	struct mfad_job		*next;
	size_t			 slot;
	uint64_t		 gen;
	uint8_t			 type;
	int			 sweep;	/* housekeeping, no connection */
	struct mss_buf		*in;
	struct mss_buf		*out;	/* framed reply, or NULL: drop */
	struct mfad_peer	 peer;
	struct mfad_auth_cont	*cont;	/* AUTH_START's second half */
};

struct mfad_pool {
	struct mfad_ctx		*ctx;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct mfad_job		*todo, *todo_tail;
	struct mfad_job		*done;
	int			 stop;
	int			 wake[2];	/* workers -> loop */
	pthread_t		*threads;
	size_t			 nthreads;
	/* Group commit: jobs for the committing thread. */
	pthread_t		 committer;
	int			 has_committer;
	pthread_cond_t		 ccond;
	struct mfad_job		*ctodo, *ctodo_tail;
	int			 cstop;
};

static void
mfad_close_fds(int *fds, int *nfds)
{
	int i;

	for (i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
}

static void
mfad_job_free(struct mfad_job *j)
{
	mfad_close_fds(j->peer.fds, &j->peer.nfds);
	mss_buf_free(j->in);
	mss_buf_free(j->out);
	mfad_auth_cont_free(j->cont);
	free(j);
}

static void
mfad_sweep(struct mfad_ctx *ctx)
{
	MDB_txn *txn;
	unsigned n = 0;
	uint64_t now = mfad_now();
	uint64_t keep = (uint64_t)ctx->conf->audit_days * 86400;

	if (mfad_txn_begin(ctx->store, 0, &txn) != 0)
		return;
	if (mfad_store_sweep(txn, ctx->store, now, now > keep ? now - keep : 0,
	    &n) != 0) {
		mfad_txn_abort(&txn);
		return;
	}
	if (mfad_txn_commit(&txn) == 0 && n > 0)
		mfad_log(LOG_DEBUG, "swept %u expired records", n);
}

/* Frames rep (of type rtype) into j->out, or leaves it NULL. */
static void
mfad_job_reply(struct mfad_job *j, uint8_t rtype, const struct mss_buf *rep)
{
	unsigned char *hdr;

	mss_buf_free(j->out);
	if ((j->out = mss_buf_new(MSS_FRAME_HDR + MSS_MSG_MAX)) != NULL &&
	    (hdr = mss_buf_reserve(j->out, MSS_FRAME_HDR)) != NULL) {
		mss_frame_put_header(hdr, rtype, (uint32_t)mss_buf_avail(rep));
		mss_buf_commit(j->out, MSS_FRAME_HDR);
		if (mss_buf_put(j->out, mss_buf_ptr(rep), mss_buf_avail(rep))
		    != 0) {
			mss_buf_free(j->out);
			j->out = NULL;
		}
	}
}

/* Turns a handler's outcome into j->out: its reply, a RESULT for an
 * error, nothing (the connection drops) for a malformed request. */
static void
mfad_job_outcome(struct mfad_job *j, int r, uint8_t rtype,
    struct mss_buf *rep)
{
	if (r == MSS_ERR_PROTO || r == MSS_ERR_TOOBIG) {
		mfad_log(LOG_NOTICE, "malformed request type %u from uid %u "
		    "pid %d: dropped", j->type, (unsigned)j->peer.uid,
		    (int)j->peer.pid);
		mss_buf_free(j->out);
		j->out = NULL;
		return;
	}
	if (r != 0 && mfad_reply_result(rep, &rtype, r, mss_strerror(r)) != 0)
		return;
	mfad_job_reply(j, rtype, rep);
}

/* A batch that did not commit: every reply in it becomes that error, so
 * no client is told of a change that is not on disk. */
static void
mfad_job_fail(struct mfad_job *j, int r)
{
	struct mss_buf *rep;
	uint8_t rtype;

	if (j->out == NULL || (rep = mss_buf_new(MSS_MSG_MAX)) == NULL)
		return;
	if (mfad_reply_result(rep, &rtype, r, mss_strerror(r)) == 0)
		mfad_job_reply(j, rtype, rep);
	else {
		mss_buf_free(j->out);
		j->out = NULL;
	}
	mss_buf_free(rep);
}

/* The caller's roles allow h? Audits a refusal. */
static int
mfad_job_allowed(struct mfad_ctx *ctx, const struct mfad_job *j,
    const struct mfad_handler *h)
{
	struct mfad_audit_ev ev = { "peer_denied", j->peer.name, h->name, "",
	    "failure", "admin command from a non-admin" };

	if ((h->roles & j->peer.roles) != 0 && (h->roles != MFAD_ROLE_ADMIN ||
	    (j->peer.roles & MFAD_ROLE_ADMIN)))
		return 1;
	if (mfad_audit(ctx, NULL, &ev) != 0)
		mfad_log(LOG_ERR, "audit failed");
	return 0;
}

/*
 * Runs one request (or AUTH_START's first half, which sets j->cont and
 * leaves the reply to the committer); the result is in j->out.
 */
static void
mfad_job_run(struct mfad_ctx *ctx, struct mfad_job *j)
{
	const struct mfad_handler *h;
	struct mss_buf *rep;
	uint8_t rtype = 0;
	int r;

	if ((rep = mss_buf_new(MSS_MSG_MAX)) == NULL)
		return;
	pthread_rwlock_rdlock(&ctx->conf_lock);
	h = mfad_handler_find(j->type);
	if (h == NULL)
		r = MSS_ERR_PROTO;
	else if (!mfad_job_allowed(ctx, j, h))
		r = MSS_ERR_PERM;
	else if (j->cont != NULL)
		r = mfad_auth_start_finish(ctx, j->cont, &rtype, rep);
	else if (h->flags & MFAD_H_SPLIT) {
		r = mfad_auth_start_prepare(ctx, &j->peer, j->in, &j->cont);
		if (r == 0) {
			pthread_rwlock_unlock(&ctx->conf_lock);
			mss_buf_free(rep);
			return;
		}
	} else
		r = h->fn(ctx, &j->peer, j->in, &rtype, rep);
	pthread_rwlock_unlock(&ctx->conf_lock);
	if (j->cont != NULL) {
		mfad_auth_cont_free(j->cont);
		j->cont = NULL;
	}
	mfad_job_outcome(j, r, rtype, rep);
	mss_buf_free(rep);
}

/*
 * One request through the pool's path, on the calling thread and without
 * the socket (tests, fuzzers): the role check, then its handler, or both
 * halves of AUTH_START. Returns the framed reply, which the caller frees,
 * or NULL where mfad drops the connection. Only reads peer's descriptors.
 */
struct mss_buf *
mfad_server_dispatch(struct mfad_ctx *ctx, const struct mfad_peer *peer,
    uint8_t type, struct mss_buf *req)
{
	struct mfad_job j;

	memset(&j, 0, sizeof(j));
	j.type = type;
	j.in = req;
	j.peer = *peer;
	mfad_job_run(ctx, &j);
	if (j.cont != NULL)
		mfad_job_run(ctx, &j);
	return j.out;
}

/* Hands finished jobs (a list) back to the event loop. */
static void
mfad_pool_deliver(struct mfad_pool *p, struct mfad_job *list)
{
	struct mfad_job *j, *next;
	char c = 1;

	pthread_mutex_lock(&p->lock);
	for (j = list; j != NULL; j = next) {
		next = j->next;
		j->next = p->done;
		p->done = j;
	}
	pthread_mutex_unlock(&p->lock);
	if (write(p->wake[1], &c, 1) < 0 && errno != EAGAIN)
		mfad_log(LOG_ERR, "wake-up pipe: %s", strerror(errno));
}

/* Queues a job for the committing thread. */
static void
mfad_commit_push(struct mfad_pool *p, struct mfad_job *j)
{
	pthread_mutex_lock(&p->lock);
	j->next = NULL;
	if (p->ctodo_tail != NULL)
		p->ctodo_tail->next = j;
	else
		p->ctodo = j;
	p->ctodo_tail = j;
	pthread_cond_signal(&p->ccond);
	pthread_mutex_unlock(&p->lock);
}

/*
 * The committing thread: takes every job queued, runs them all in one
 * write transaction (each in a child of it), syncs once, and only then
 * lets their replies go. Many requests, one disk sync: durable, and fast.
 */
static void *
mfad_committer(void *arg)
{
	struct mfad_pool *p = arg;
	struct mfad_job *batch, *j;
	MDB_txn *txn = NULL;
	int r;

	pthread_setname_np(pthread_self(), "mfad-commit");
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->ctodo == NULL && !p->cstop)
			pthread_cond_wait(&p->ccond, &p->lock);
		batch = p->ctodo;
		p->ctodo = p->ctodo_tail = NULL;
		pthread_mutex_unlock(&p->lock);
		if (batch == NULL)
			break;

		r = mfad_txn_begin(p->ctx->store, 0, &txn);
		if (r == 0)
			mfad_store_batch(txn);
		for (j = batch; j != NULL; j = j->next) {
			if (r == 0)
				mfad_job_run(p->ctx, j);
			else {
				mfad_auth_cont_free(j->cont);
				j->cont = NULL;
				j->out = mss_buf_new(1);
				mfad_job_fail(j, r);
			}
		}
		if (r == 0) {
			mfad_store_batch(NULL);
			if ((r = mfad_txn_commit(&txn)) != 0)
				for (j = batch; j != NULL; j = j->next)
					mfad_job_fail(j, r);
			else
				mfad_outbox_kick(p->ctx->outbox);
		}
		mfad_pool_deliver(p, batch);
	}
	return NULL;
}

static void *
mfad_worker(void *arg)
{
	struct mfad_pool *p = arg;
	struct mfad_job *j;

	pthread_setname_np(pthread_self(), "mfad-worker");
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->todo == NULL && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->todo == NULL) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		j = p->todo;
		p->todo = j->next;
		if (p->todo == NULL)
			p->todo_tail = NULL;
		pthread_mutex_unlock(&p->lock);

		if (j->sweep) {
			mfad_sweep(p->ctx);
			mfad_job_free(j);
			continue;
		}
		mfad_job_run(p->ctx, j);
		if (j->cont != NULL)
			mfad_commit_push(p, j);
		else {
			j->next = NULL;
			mfad_pool_deliver(p, j);
		}
	}
	return NULL;
}

static void
mfad_pool_push(struct mfad_pool *p, struct mfad_job *j)
{
	pthread_mutex_lock(&p->lock);
	j->next = NULL;
	if (p->todo_tail != NULL)
		p->todo_tail->next = j;
	else
		p->todo = j;
	p->todo_tail = j;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static int
mfad_pool_start(struct mfad_pool *p, struct mfad_ctx *ctx)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	size_t i;

	memset(p, 0, sizeof(*p));
	p->ctx = ctx;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	pthread_cond_init(&p->ccond, NULL);
	if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) != 0)
		return MSS_ERR_SYSTEM;
	if (pthread_create(&p->committer, NULL, mfad_committer, p) != 0)
		return MSS_ERR_SYSTEM;
	p->has_committer = 1;
	/* Workers hash passwords (at most one per core at a time, see
	 * mfad_pw.c) and wait on relays or backups: one per core, and two
	 * more so that a slow relay does not hold up password checks. */
	p->nthreads = (n > 0 ? (size_t)n : 2) + 2;
	if ((p->threads = calloc(p->nthreads, sizeof(*p->threads))) == NULL)
		return MSS_ERR_NOMEM;
	for (i = 0; i < p->nthreads; i++)
		if (pthread_create(&p->threads[i], NULL, mfad_worker, p) != 0) {
			p->nthreads = i;
			return MSS_ERR_SYSTEM;
		}
	return 0;
}

static void
mfad_pool_stop(struct mfad_pool *p)
{
	struct mfad_job *j;
	size_t i;

	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
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
	close(p->wake[0]);
	close(p->wake[1]);
	pthread_cond_destroy(&p->ccond);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
}

int
mfad_server_listen(const char *path, uid_t owner, int *fdp)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd, probe;

	*fdp = -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path) || path[0] != '/')
		return MSS_ERR_INVAL;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* Probe: another mfad answering there must not lose its socket. */
	if ((probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return MSS_ERR_SYSTEM;
	if (connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(probe);
		mfad_log(LOG_ERR, "%s: another mfad is running", path);
		return MSS_ERR_EXISTS;
	}
	close(probe);
	if (unlink(path) != 0 && errno != ENOENT) {
		mfad_log(LOG_ERR, "%s: cannot remove: %s", path,
		    strerror(errno));
		return MSS_ERR_SYSTEM;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) < 0)
		return MSS_ERR_SYSTEM;
	old = umask(0111);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		umask(old);
		mfad_log(LOG_ERR, "%s: cannot bind: %s", path, strerror(errno));
		close(fd);
		return MSS_ERR_SYSTEM;
	}
	umask(old);
	/* Everyone may connect; each request is checked against its peer. */
	if (chmod(path, 0666) != 0 ||
	    (owner != (uid_t)-1 && chown(path, owner, (gid_t)-1) != 0) ||
	    listen(fd, 128) != 0) {
		mfad_log(LOG_ERR, "%s: %s", path, strerror(errno));
		close(fd);
		return MSS_ERR_SYSTEM;
	}
	*fdp = fd;
	return 0;
}

static void
mfad_conn_close(struct mfad_conn *c)
{
	mfad_close_fds(c->fds, &c->nfds);
	if (c->fd >= 0)
		close(c->fd);
	mss_buf_free(c->in);
	mss_buf_free(c->out);
	c->in = c->out = NULL;
	c->fd = -1;
	c->state = MFAD_CONN_FREE;
	c->gen++;
}

/*
 * recv for a request's bytes that also takes the descriptors sent with
 * them (SCM_RIGHTS, close-on-exec), up to MSS_BACKUP_FDS a frame. More
 * than that, or anything else in the control data, fails (-1, EPROTO):
 * what the kernel could not hand over it has closed already.
 */
static ssize_t
mfad_conn_recv(struct mfad_conn *c, void *buf, size_t len)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * MSS_BACKUP_FDS)];
	} cbuf;
	struct msghdr msg;
	struct cmsghdr *cm;
	struct iovec iov;
	ssize_t n;
	size_t k, i;
	int bad = 0, fd;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = buf;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	if ((n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC)) < 0)
		return n;
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL;
	    cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS) {
			bad = 1;
			continue;
		}
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			    sizeof(fd));
			if (c->nfds < MSS_BACKUP_FDS)
				c->fds[c->nfds++] = fd;
			else {
				close(fd);
				bad = 1;
			}
		}
	}
	if (bad || (msg.msg_flags & MSG_CTRUNC)) {
		mfad_log(LOG_NOTICE, "uid %u sent descriptors mfad does not "
		    "take: dropped", (unsigned)c->peer.uid);
		errno = EPROTO;
		return -1;
	}
	return n;
}

/* Reads what is there; a complete request goes to the pool. */
static void
mfad_conn_read(struct mfad_conn *c, size_t slot, struct mfad_pool *p)
{
	const struct mfad_handler *h;
	struct mfad_job *j;
	unsigned char *dst;
	ssize_t n;
	size_t want;

	for (;;) {
		if (c->hdr_got < MSS_FRAME_HDR) {
			n = mfad_conn_recv(c, c->hdr + c->hdr_got,
			    MSS_FRAME_HDR - c->hdr_got);
			if (n > 0) {
				c->hdr_got += (size_t)n;
				if (c->hdr_got < MSS_FRAME_HDR)
					continue;
				/* Bound checked before any allocation. */
				if (mss_frame_header(c->hdr, &c->type,
				    &c->len) != 0) {
					mfad_log(LOG_NOTICE, "bad frame from "
					    "uid %u: dropped",
					    (unsigned)c->peer.uid);
					mfad_conn_close(c);
					return;
				}
				if ((c->in = mss_buf_new(c->len)) == NULL) {
					mfad_conn_close(c);
					return;
				}
				if (c->len == 0)
					break;
				continue;
			}
		} else {
			want = c->len - mss_buf_avail(c->in);
			if ((dst = mss_buf_reserve(c->in, want)) == NULL) {
				mfad_conn_close(c);
				return;
			}
			n = mfad_conn_recv(c, dst, want);
			if (n > 0) {
				mss_buf_commit(c->in, (size_t)n);
				if (mss_buf_avail(c->in) == c->len)
					break;
				continue;
			}
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		mfad_conn_close(c);	/* EOF or error mid-request */
		return;
	}
	/* Descriptors are for BACKUP only; with any other request they are
	 * closed and the connection dropped, as for a malformed frame. */
	if (c->nfds > 0 && c->type != MSS_REQ_BACKUP) {
		mfad_log(LOG_NOTICE, "uid %u sent descriptors with request "
		    "type %u: dropped", (unsigned)c->peer.uid,
		    (unsigned)c->type);
		mfad_conn_close(c);
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		mfad_conn_close(c);
		return;
	}
	j->slot = slot;
	j->gen = c->gen;
	j->type = c->type;
	j->in = c->in;
	j->peer = c->peer;
	memcpy(j->peer.fds, c->fds, sizeof(c->fds));
	j->peer.nfds = c->nfds;
	c->nfds = 0;
	c->in = NULL;
	c->state = MFAD_CONN_BUSY;
	h = mfad_handler_find(j->type);
	if (h != NULL && (h->flags & MFAD_H_COMMIT))
		mfad_commit_push(p, j);
	else
		mfad_pool_push(p, j);
}

static void
mfad_conn_write(struct mfad_conn *c)
{
	ssize_t n;

	while (mss_buf_avail(c->out) > 0) {
		n = send(c->fd, mss_buf_ptr(c->out), mss_buf_avail(c->out),
		    MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			mfad_conn_close(c);
			return;
		}
		c->out->off += (size_t)n;
	}
	mfad_conn_close(c);	/* one request per connection */
}

static void
mfad_accept(int lfd, struct mfad_conn *conns, struct mfad_ctx *ctx)
{
	size_t i;
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC))
	    >= 0) {
		for (i = 0; i < MFAD_MAX_CONNS; i++)
			if (conns[i].state == MFAD_CONN_FREE)
				break;
		if (i == MFAD_MAX_CONNS) {
			mfad_log(LOG_WARNING, "too many connections: "
			    "refusing one");
			close(fd);
			continue;
		}
		pthread_rwlock_rdlock(&ctx->conf_lock);
		if (mfad_peer_get(fd, ctx->conf, &conns[i].peer) != 0) {
			pthread_rwlock_unlock(&ctx->conf_lock);
			close(fd);
			continue;
		}
		pthread_rwlock_unlock(&ctx->conf_lock);
		conns[i].fd = fd;
		conns[i].state = MFAD_CONN_READ;
		conns[i].hdr_got = 0;
		conns[i].deadline = mfad_mono_ms() + MFAD_IO_DEADLINE_MS;
	}
}

static void
mfad_reload(struct mfad_ctx *ctx)
{
	struct mfad_conf *nc = NULL, *old;
	char err[1024];

	mfad_notify("RELOADING=1");
	if (mfad_conf_load(ctx->conf->path, &nc, err, sizeof(err)) != 0) {
		mfad_log(LOG_ERR, "reload refused, keeping the running "
		    "configuration: %s", err);
		mfad_notify("READY=1");
		return;
	}
	/* A configuration that cannot render mail would stop every login. */
	if (mfad_mail_check_render(nc, err, sizeof(err)) != 0) {
		mfad_log(LOG_ERR, "reload refused, keeping the running "
		    "configuration: %s", err);
		mfad_conf_free(nc);
		mfad_notify("READY=1");
		return;
	}
	if (strcmp(nc->socket, ctx->conf->socket) != 0 ||
	    strcmp(nc->database, ctx->conf->database) != 0)
		mfad_log(LOG_WARNING, "socket and database changes take "
		    "effect at the next start");
	if (mfad_pw_init(nc) != 0) {
		mfad_log(LOG_ERR, "reload refused: cannot hash, or the "
		    "blocklist cannot be read");
		mfad_conf_free(nc);
		mfad_notify("READY=1");
		return;
	}
	if (nc->pw_weak)
		mfad_log(LOG_WARNING, "[password] opslimit/memlimit are "
		    "below 19 MiB at t=2: for tests only");
	pthread_rwlock_wrlock(&ctx->conf_lock);
	old = ctx->conf;
	ctx->conf = nc;
	pthread_rwlock_unlock(&ctx->conf_lock);
	mfad_peer_forget();
	mfad_conf_free(old);
	mfad_log(LOG_NOTICE, "configuration reloaded");
	mfad_notify("READY=1");
}

int
mfad_server_run(struct mfad_ctx *ctx, int lfd, int sigfd)
{
	static struct pollfd pfd[MFAD_MAX_CONNS + 3];
	static size_t map[MFAD_MAX_CONNS + 3];
	struct mfad_conn *conns;
	struct mfad_pool pool;
	struct mfad_job *j, *done;
	struct signalfd_siginfo si;
	long long now, wait, next_sweep;
	size_t i, n;
	char buf[256];
	int r, running = 1, timeout;

	if ((conns = calloc(MFAD_MAX_CONNS, sizeof(*conns))) == NULL)
		return MSS_ERR_NOMEM;
	for (i = 0; i < MFAD_MAX_CONNS; i++)
		conns[i].fd = -1;
	if ((r = mfad_pool_start(&pool, ctx)) != 0) {
		mfad_pool_stop(&pool);
		free(conns);
		return r;
	}
	next_sweep = mfad_mono_ms();
	mfad_log(LOG_NOTICE, "mfad %s ready on %s", PACKAGE_VERSION,
	    ctx->conf->socket);
	mfad_notify("READY=1");
	while (running) {
		now = mfad_mono_ms();
		if (now >= next_sweep) {
			if ((j = calloc(1, sizeof(*j))) != NULL) {
				j->sweep = 1;
				mfad_pool_push(&pool, j);
			}
			next_sweep = now + MFAD_SWEEP_SECS * 1000;
		}
		n = 0;
		pfd[n].fd = lfd;
		pfd[n++].events = POLLIN;
		pfd[n].fd = sigfd;
		pfd[n++].events = POLLIN;
		pfd[n].fd = pool.wake[0];
		pfd[n++].events = POLLIN;
		timeout = (int)(next_sweep - now);
		for (i = 0; i < MFAD_MAX_CONNS; i++) {
			if (conns[i].state != MFAD_CONN_READ &&
			    conns[i].state != MFAD_CONN_WRITE)
				continue;
			/* A stalled client loses its slot, no one else waits. */
			if (conns[i].deadline <= now) {
				mfad_log(LOG_INFO, "client uid %u timed out",
				    (unsigned)conns[i].peer.uid);
				mfad_conn_close(&conns[i]);
				continue;
			}
			wait = conns[i].deadline - now;
			if (wait < timeout)
				timeout = (int)wait;
			pfd[n].fd = conns[i].fd;
			pfd[n].events = conns[i].state == MFAD_CONN_READ ?
			    POLLIN : POLLOUT;
			map[n++] = i;
		}
		if (poll(pfd, n, timeout < 0 ? 0 : timeout) < 0) {
			if (errno == EINTR)
				continue;
			mfad_log(LOG_ERR, "poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents & POLLIN) {
			while (read(sigfd, &si, sizeof(si)) ==
			    (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGHUP)
					mfad_reload(ctx);
				else {
					mfad_log(LOG_NOTICE, "signal %u: "
					    "stopping", si.ssi_signo);
					running = 0;
				}
			}
		}
		if (pfd[2].revents & POLLIN) {
			while (read(pool.wake[0], buf, sizeof(buf)) > 0)
				;
			pthread_mutex_lock(&pool.lock);
			done = pool.done;
			pool.done = NULL;
			pthread_mutex_unlock(&pool.lock);
			while ((j = done) != NULL) {
				struct mfad_conn *c = &conns[j->slot];

				done = j->next;
				if (c->gen == j->gen &&
				    c->state == MFAD_CONN_BUSY) {
					if (j->out == NULL)
						mfad_conn_close(c);
					else {
						c->out = j->out;
						j->out = NULL;
						c->state = MFAD_CONN_WRITE;
						c->deadline = mfad_mono_ms() +
						    MFAD_IO_DEADLINE_MS;
						mfad_conn_write(c);
					}
				}
				mfad_job_free(j);
			}
		}
		for (i = 3; i < n; i++) {
			struct mfad_conn *c = &conns[map[i]];

			if (pfd[i].revents == 0 || c->fd != pfd[i].fd)
				continue;
			if (c->state == MFAD_CONN_READ)
				mfad_conn_read(c, map[i], &pool);
			else if (c->state == MFAD_CONN_WRITE)
				mfad_conn_write(c);
		}
		if (running && (pfd[0].revents & POLLIN))
			mfad_accept(lfd, conns, ctx);
	}
	/* Let workers finish what they hold: each is a short transaction. */
	mfad_notify("STOPPING=1");
	mfad_pool_stop(&pool);
	for (i = 0; i < MFAD_MAX_CONNS; i++)
		if (conns[i].state != MFAD_CONN_FREE)
			mfad_conn_close(&conns[i]);
	free(conns);
	return 0;
}
