#include "config.h"

#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
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
#include "mfad_render.h"
#include "mfad_server.h"
#include "mfad_snap.h"
#include "mss_err.h"
#include "mss_io.h"
#include "mss_proto.h"
#include "mfad_clock.h"

#define MFAD_IO_DEADLINE_MS	5000	/* a whole request, or a reply */
#define MFAD_SWEEP_SECS		60

/*
 * Connection limits. The table is sized from the open-file limit (raised
 * to its hard limit at start), less MFAD_FD_RESERVE descriptors for the
 * store, the log, the relay and backups. A caller that is neither a
 * trusted PAM caller nor an admin may hold MFAD_UID_CONNS connections and
 * have MFAD_UID_BUSY requests in flight; such callers together may use
 * only MFAD_UNPRIV_SHARE of the table, so that sshd's PAM and admins
 * always find a free slot.
 */
#define MFAD_CONN_MIN		16
#define MFAD_CONN_CAP		65536
#define MFAD_FD_RESERVE		64
#define MFAD_UID_CONNS		32
#define MFAD_UID_BUSY		8
#define MFAD_UNPRIV_SHARE(n)	((n) - (n) / 4)
#define MFAD_ACCEPT_BATCH	64	/* accepts between two polls */
#define MFAD_ACCEPT_PAUSE_MS	100	/* out of descriptors: a rest */
#define MFAD_LOG_EVERY		60	/* seconds between two lines */

/* Lines a flood repeats: one a minute, with a count. */
static struct mfad_log_limit mfad_lim_full =
    MFAD_LOG_LIMIT_INIT(MFAD_LOG_EVERY);
static struct mfad_log_limit mfad_lim_share =
    MFAD_LOG_LIMIT_INIT(MFAD_LOG_EVERY);
static struct mfad_log_limit mfad_lim_uid =
    MFAD_LOG_LIMIT_INIT(MFAD_LOG_EVERY);
static struct mfad_log_limit mfad_lim_nofile =
    MFAD_LOG_LIMIT_INIT(MFAD_LOG_EVERY);
static struct mfad_log_limit mfad_lim_accept =
    MFAD_LOG_LIMIT_INIT(MFAD_LOG_EVERY);
static struct mfad_log_limit mfad_lim_timeout =
    MFAD_LOG_LIMIT_INIT(MFAD_LOG_EVERY);
static struct mfad_log_limit mfad_lim_bad =
    MFAD_LOG_LIMIT_INIT(MFAD_LOG_EVERY);

/* Dispatch table: who may send what, and who answers it. */

static int
mfad_h_user_del(struct mfad_ctx *c, const struct mfad_peer *p,
    struct mss_buf *q, uint8_t *t, struct mss_buf *r)
{
	return mfad_admin_user_op(c, p, q, t, r, MSS_REQ_USER_DEL);
}

/*
 * Self-service: a caller that is not an admin acts only for the account
 * its uid names; the request's first string is that account. Returns 0
 * when it may go on, MSS_ERR_PERM (audited) when not, or the parse error.
 */
static int
mfad_h_self(struct mfad_ctx *c, const struct mfad_peer *p,
    const struct mss_buf *q, const char *what)
{
	struct mfad_audit_ev ev = { "peer_denied", p->name, what, "",
	    "failure", NULL };
	struct mss_buf *copy;
	char *user = NULL, detail[128];
	int r;

	if (p->roles & MFAD_ROLE_ADMIN)
		return 0;
	/* Parses a copy: the handler reads the request from the start. */
	if ((copy = mss_buf_new(MSS_MSG_MAX)) == NULL)
		return MSS_ERR_NOMEM;
	if ((r = mss_buf_put(copy, mss_buf_ptr(q), mss_buf_avail(q))) != 0 ||
	    (r = mss_buf_get_str(copy, &user, MSS_STR_MAX)) != 0)
		goto out;
	if (p->name[0] != '\0' && strcmp(p->name, user) == 0)
		goto out;
	r = MSS_ERR_PERM;
	snprintf(detail, sizeof(detail), "uid=%u asked for another account",
	    (unsigned)p->uid);
	ev.detail = detail;
	if (mfad_audit_agg(c, NULL, &ev, p->uid, NULL) != 0)
		mfad_log(LOG_ERR, "audit failed");
out:
	mss_str_free(user);
	mss_buf_free(copy);
	return r;
}

static int
mfad_h_user_show(struct mfad_ctx *c, const struct mfad_peer *p,
    struct mss_buf *q, uint8_t *t, struct mss_buf *r)
{
	int e;

	if ((e = mfad_h_self(c, p, q, "user show")) != 0)
		return e;
	return mfad_admin_user_op(c, p, q, t, r, MSS_REQ_USER_SHOW);
}

static int
mfad_h_device_list(struct mfad_ctx *c, const struct mfad_peer *p,
    struct mss_buf *q, uint8_t *t, struct mss_buf *r)
{
	int e;

	if ((e = mfad_h_self(c, p, q, "device list")) != 0)
		return e;
	return mfad_admin_device_list(c, p, q, t, r);
}

static int
mfad_h_device_revoke(struct mfad_ctx *c, const struct mfad_peer *p,
    struct mss_buf *q, uint8_t *t, struct mss_buf *r)
{
	int e;

	if ((e = mfad_h_self(c, p, q, "device revoke")) != 0)
		return e;
	return mfad_admin_device_revoke(c, p, q, t, r);
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
mfad_h_user_disable(struct mfad_ctx *c, const struct mfad_peer *p,
    struct mss_buf *q, uint8_t *t, struct mss_buf *r)
{
	return mfad_admin_user_op(c, p, q, t, r, MSS_REQ_USER_DISABLE);
}

static int
mfad_h_user_enable(struct mfad_ctx *c, const struct mfad_peer *p,
    struct mss_buf *q, uint8_t *t, struct mss_buf *r)
{
	return mfad_admin_user_op(c, p, q, t, r, MSS_REQ_USER_ENABLE);
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
	{ MSS_REQ_METRICS, MFAD_ROLE_ADMIN, "metrics", mfad_admin_metrics,
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
	{ MSS_REQ_USER_SHOW, MFAD_ROLE_ADMIN | MFAD_ROLE_SELF, "user show",
	    mfad_h_user_show, MFAD_H_COMMIT },
	{ MSS_REQ_USER_LIST, MFAD_ROLE_ADMIN, "user list",
	    mfad_admin_user_list, MFAD_H_COMMIT },
	{ MSS_REQ_USER_LOCK, MFAD_ROLE_ADMIN, "user lock", mfad_h_user_lock,
	    MFAD_H_COMMIT },
	{ MSS_REQ_USER_UNLOCK, MFAD_ROLE_ADMIN, "user unlock",
	    mfad_h_user_unlock, MFAD_H_COMMIT },
	{ MSS_REQ_USER_REENROLL, MFAD_ROLE_ADMIN, "user reenroll",
	    mfad_h_user_reenroll, MFAD_H_COMMIT },
	{ MSS_REQ_USER_DISABLE, MFAD_ROLE_ADMIN, "user disable",
	    mfad_h_user_disable, MFAD_H_COMMIT },
	{ MSS_REQ_USER_ENABLE, MFAD_ROLE_ADMIN, "user enable",
	    mfad_h_user_enable, MFAD_H_COMMIT },
	{ MSS_REQ_USER_RECOVERY, MFAD_ROLE_ADMIN, "user recovery",
	    mfad_admin_user_recovery, MFAD_H_COMMIT },
	{ MSS_REQ_DEVICE_LIST, MFAD_ROLE_ADMIN | MFAD_ROLE_SELF,
	    "device list", mfad_h_device_list, MFAD_H_COMMIT },
	{ MSS_REQ_DEVICE_REVOKE, MFAD_ROLE_ADMIN | MFAD_ROLE_SELF,
	    "device revoke", mfad_h_device_revoke, MFAD_H_COMMIT },
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
	int			 uidx;	/* in uids[]; -1: trusted */
};

struct mfad_job {
	struct mfad_job		*next;
	size_t			 slot;
	uint64_t		 gen;
	uint8_t			 type;
	int			 sweep;	/* housekeeping, no connection */
	int			 trusted; /* PAM caller or admin: first */
	struct mss_buf		*in;
	struct mss_buf		*out;	/* framed reply, or NULL: drop */
	struct mfad_peer	 peer;
	struct mfad_auth_cont	*cont;	/* AUTH_START's second half */
};

/* The jobs of one unprivileged uid, waiting for a worker. */
struct mfad_flow {
	struct mfad_flow	*next;
	uid_t			 uid;
	struct mfad_job		*head, *tail;
};

/*
 * Jobs of trusted callers (and housekeeping) wait in todo and go first;
 * those of other callers wait in one queue per uid, served in turn, and
 * at most urun_max of them run at once (one per core, so that two
 * workers stay free for trusted callers). A flood from one uid thus
 * delays others by about one hash, never by the length of its queue.
 */
struct mfad_pool {
	struct mfad_ctx		*ctx;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct mfad_job		*todo, *todo_tail;
	struct mfad_flow	*flows, *flows_tail;	/* round robin */
	size_t			 urun, urun_max;
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
	/* A batch carried open with replies already given (see
	 * mfad_committer): cflush asks for its commit, cgen counts them. */
	int			 ccarry, cflush;
	uint64_t		 cgen;
	pthread_cond_t		 cflushed;
};

/*
 * Requests whose changes guard nothing (mfad_store_lazy) have their reply
 * at once; their changes stay in the open batch, committed with the next
 * request that needs a durable reply, or at most MFAD_CARRY_MS later, or
 * after MFAD_CARRY_MAX of them, or before any other request runs.
 */
#define MFAD_CARRY_MS	50
#define MFAD_CARRY_MAX	64

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
	unsigned n = 0;
	uint64_t now = mfad_clock_real_s(), keep;
	struct mfad_conf *conf;

	conf = mfad_snap_hold(ctx);
	keep = (uint64_t)conf->audit_days * 86400;
	mfad_snap_release(conf);
	mfad_audit_agg_flush(ctx, 0);
	if (mfad_store_sweep_run(ctx->store, now, now > keep ? now - keep : 0,
	    &n) == 0 && n > 0)
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
		mfad_log_limited(&mfad_lim_bad, LOG_NOTICE, "malformed "
		    "request type %u from uid %u pid %d: dropped", j->type,
		    (unsigned)j->peer.uid, (int)j->peer.pid);
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
	if (mfad_audit_agg(ctx, NULL, &ev, j->peer.uid, NULL) != 0)
		mfad_log(LOG_ERR, "audit failed");
	return 0;
}

/*
 * Runs one request (or AUTH_START's first half, which sets j->cont and
 * leaves the reply to the committer); the result is in j->out.
 */
static void
mfad_job_run(struct mfad_ctx *shared, struct mfad_job *j)
{
	const struct mfad_handler *h;
	struct mfad_ctx ctx;
	struct mss_buf *rep;
	uint8_t rtype = 0;
	int r;

	if ((rep = mss_buf_new(MSS_MSG_MAX)) == NULL)
		return;
	/* The configuration current now, whatever a reload does meanwhile. */
	mfad_snap_view(shared, &ctx);
	h = mfad_handler_find(j->type);
	if (h == NULL)
		r = MSS_ERR_PROTO;
	else if (!mfad_job_allowed(&ctx, j, h))
		r = MSS_ERR_PERM;
	else if (j->cont != NULL)
		r = mfad_auth_start_finish(&ctx, j->cont, &rtype, rep);
	else if (h->flags & MFAD_H_SPLIT) {
		r = mfad_auth_start_prepare(&ctx, &j->peer, j->in, &j->cont);
		if (r == 0) {
			mfad_snap_view_end(&ctx);
			mss_buf_free(rep);
			return;
		}
	} else
		r = h->fn(&ctx, &j->peer, j->in, &rtype, rep);
	mfad_snap_view_end(&ctx);
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
 * Before a request on a worker: commits a carried batch, so that what
 * every earlier reply said is in the store it reads, and its own write
 * transaction does not wait on the batch's.
 */
static void
mfad_pool_sync(struct mfad_pool *p)
{
	uint64_t gen;

	pthread_mutex_lock(&p->lock);
	if (p->ccarry) {
		gen = p->cgen;
		p->cflush = 1;
		pthread_cond_signal(&p->ccond);
		while (p->cgen == gen)
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
 * write transaction (each in a child of it), syncs once, and only then
 * lets their replies go. Many requests, one disk sync: durable, and fast.
 *
 * A request that changed nothing a crash could turn against security
 * (mfad_store_lazy) has its reply at once, unless one that needs the
 * disk ran before it in the same transaction (it may have read that
 * one's changes). When only such requests ran, the transaction stays
 * open (carried) for the next batch; it commits, in order, with the next
 * request that needs the disk, or after MFAD_CARRY_MS, MFAD_CARRY_MAX
 * requests, a request for a worker (mfad_pool_sync) or at the stop. A
 * crash in that window loses those changes, and only those.
 */
static void *
mfad_committer(void *arg)
{
	struct mfad_pool *p = arg;
	struct mfad_job *batch, *j, *next, *held, **tail;
	struct timespec due = { 0, 0 };
	MDB_txn *txn = NULL;
	size_t carried = 0;
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
				mfad_store_batch(txn);
				mfad_carry_due(&due);
				strict = 0;
			}
		}
		held = NULL;
		tail = &held;
		for (j = batch; j != NULL; j = next) {
			next = j->next;
			j->next = NULL;
			if (r == 0) {
				(void)mfad_store_lazy_take();
				mfad_job_run(p->ctx, j);
				if (mfad_store_lazy_take() && !strict) {
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
				mfad_auth_cont_free(j->cont);
				j->cont = NULL;
				j->out = mss_buf_new(1);
				mfad_job_fail(j, r);
			}
			*tail = j;
			tail = &j->next;
		}
		if (txn != NULL && (strict || flush ||
		    carried >= MFAD_CARRY_MAX || mfad_carry_over(&due))) {
			mfad_store_batch(NULL);
			if ((r = mfad_txn_commit(&txn)) != 0) {
				for (j = held; j != NULL; j = j->next)
					mfad_job_fail(j, r);
				if (carried > 0)
					mfad_log(LOG_ERR, "store: the last "
					    "use and audit records of %zu "
					    "remembered-device logins were "
					    "lost", carried);
			} else
				mfad_outbox_kick(p->ctx->outbox);
			carried = 0;
			pthread_mutex_lock(&p->lock);
			p->ccarry = 0;
			p->cflush = 0;
			p->cgen++;
			pthread_cond_broadcast(&p->cflushed);
			pthread_mutex_unlock(&p->lock);
		}
		if (held != NULL)
			mfad_pool_deliver(p, held);
	}
	return NULL;
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
	struct mfad_job *j;
	int trusted;

	pthread_setname_np(pthread_self(), "mfad-worker");
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while ((j = mfad_pool_take(p)) == NULL && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
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
		/* AUTH_START's first half reads only the password hash,
		 * which no carried change touches. */
		if ((h = mfad_handler_find(j->type)) == NULL ||
		    !(h->flags & MFAD_H_SPLIT))
			mfad_pool_sync(p);
		mfad_job_run(p->ctx, j);
		if (!trusted) {
			pthread_mutex_lock(&p->lock);
			p->urun--;
			pthread_cond_signal(&p->cond);
			pthread_mutex_unlock(&p->lock);
		}
		if (j->cont != NULL)
			mfad_commit_push(p, j);
		else {
			j->next = NULL;
			mfad_pool_deliver(p, j);
		}
	}
	return NULL;
}

/* Queues j: trusted jobs in todo, others in their uid's queue. */
static int
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
			if (f->uid == j->peer.uid)
				break;
		if (f == NULL) {
			if ((f = calloc(1, sizeof(*f))) == NULL) {
				pthread_mutex_unlock(&p->lock);
				return MSS_ERR_NOMEM;
			}
			f->uid = j->peer.uid;
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
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static int
mfad_pool_start(struct mfad_pool *p, struct mfad_ctx *ctx)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_condattr_t ca;
	size_t i;

	memset(p, 0, sizeof(*p));
	p->ctx = ctx;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	/* The committer's wait for a carried batch is on the monotonic
	 * clock (mfad_carry_due). */
	if (pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&p->ccond, &ca) != 0)
		return MSS_ERR_SYSTEM;
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&p->cflushed, NULL);
	if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) != 0)
		return MSS_ERR_SYSTEM;
	if (pthread_create(&p->committer, NULL, mfad_committer, p) != 0)
		return MSS_ERR_SYSTEM;
	p->has_committer = 1;
	/* Workers hash passwords (at most one per core at a time, see
	 * mfad_pw.c) and wait on relays or backups: one per core, and two
	 * more so that a slow relay does not hold up password checks. */
	p->nthreads = (n > 0 ? (size_t)n : 2) + 2;
	p->urun_max = p->nthreads - 2;
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
	    listen(fd, SOMAXCONN) != 0) {
		mfad_log(LOG_ERR, "%s: %s", path, strerror(errno));
		close(fd);
		return MSS_ERR_SYSTEM;
	}
	*fdp = fd;
	return 0;
}

/*
 * The event loop's connections: a table sized at start, a stack of its
 * free slots, and for callers that are not trusted, what each uid holds
 * (a hash of uid entries, each alive while the uid has a connection).
 */
struct mfad_uid_ent {
	uid_t		uid;
	unsigned	conns;
	unsigned	busy;		/* requests in flight */
	int		next;		/* in its bucket or free list */
};

struct mfad_srv {
	struct mfad_ctx		*ctx;
	struct mfad_pool	*pool;
	struct mfad_conn	*conns;
	size_t			 nconns;
	size_t			*freev;		/* free slots */
	size_t			 nfree;
	size_t			 hi;	/* no slot in use at or above */
	size_t			 unpriv, unpriv_max;
	struct mfad_uid_ent	*uids;		/* nconns entries */
	int			*buckets;
	size_t			 nbuckets;	/* a power of two */
	int			 ufree;
	int			 spare;	/* given up on EMFILE */
	long long		 accept_after;	/* no accept before */
};

static int *
mfad_uid_bucket(struct mfad_srv *s, uid_t uid)
{
	return &s->buckets[((uint32_t)uid * 2654435761U) &
	    (s->nbuckets - 1)];
}

/* The entry of uid, made (with no connection) if it has none; -1 when
 * none is left, which the table's size rules out. */
static int
mfad_uid_get(struct mfad_srv *s, uid_t uid)
{
	int *b = mfad_uid_bucket(s, uid), i;

	for (i = *b; i >= 0; i = s->uids[i].next)
		if (s->uids[i].uid == uid)
			return i;
	if ((i = s->ufree) < 0)
		return -1;
	s->ufree = s->uids[i].next;
	s->uids[i].uid = uid;
	s->uids[i].conns = s->uids[i].busy = 0;
	s->uids[i].next = *b;
	*b = i;
	return i;
}

/* Drops entry i once its uid holds nothing. */
static void
mfad_uid_drop_idle(struct mfad_srv *s, int i)
{
	int *pp;

	if (s->uids[i].conns > 0)
		return;
	for (pp = mfad_uid_bucket(s, s->uids[i].uid); *pp != i;
	    pp = &s->uids[*pp].next)
		;
	*pp = s->uids[i].next;
	s->uids[i].next = s->ufree;
	s->ufree = i;
}

static int
mfad_peer_trusted(const struct mfad_peer *p)
{
	return (p->roles & (MFAD_ROLE_PAM | MFAD_ROLE_ADMIN)) != 0;
}

/* Leaves MFAD_CONN_BUSY: the request is no longer in flight. */
static void
mfad_conn_unbusy(struct mfad_srv *s, struct mfad_conn *c)
{
	if (c->state == MFAD_CONN_BUSY && c->uidx >= 0)
		s->uids[c->uidx].busy--;
}

static void
mfad_conn_close(struct mfad_srv *s, struct mfad_conn *c)
{
	mfad_conn_unbusy(s, c);
	mfad_close_fds(c->fds, &c->nfds);
	if (c->fd >= 0)
		close(c->fd);
	mss_buf_free(c->in);
	mss_buf_free(c->out);
	c->in = c->out = NULL;
	c->fd = -1;
	if (c->uidx >= 0) {
		s->uids[c->uidx].conns--;
		mfad_uid_drop_idle(s, c->uidx);
		s->unpriv--;
		c->uidx = -1;
	}
	if (c->state != MFAD_CONN_FREE)
		s->freev[s->nfree++] = (size_t)(c - s->conns);
	c->state = MFAD_CONN_FREE;
	c->gen++;
	while (s->hi > 0 && s->conns[s->hi - 1].state == MFAD_CONN_FREE)
		s->hi--;
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
		mfad_log_limited(&mfad_lim_bad, LOG_NOTICE, "uid %u sent "
		    "descriptors mfad does not take: dropped",
		    (unsigned)c->peer.uid);
		errno = EPROTO;
		return -1;
	}
	return n;
}

/* Reads what is there; a complete request goes to the pool. */
static void
mfad_conn_read(struct mfad_srv *s, struct mfad_conn *c)
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
					mfad_log_limited(&mfad_lim_bad,
					    LOG_NOTICE, "bad frame from "
					    "uid %u: dropped",
					    (unsigned)c->peer.uid);
					mfad_conn_close(s, c);
					return;
				}
				if ((c->in = mss_buf_new(c->len)) == NULL) {
					mfad_conn_close(s, c);
					return;
				}
				if (c->len == 0)
					break;
				continue;
			}
		} else {
			want = c->len - mss_buf_avail(c->in);
			if ((dst = mss_buf_reserve(c->in, want)) == NULL) {
				mfad_conn_close(s, c);
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
		mfad_conn_close(s, c);	/* EOF or error mid-request */
		return;
	}
	/* Descriptors are for BACKUP only; with any other request they are
	 * closed and the connection dropped, as for a malformed frame. */
	if (c->nfds > 0 && c->type != MSS_REQ_BACKUP) {
		mfad_log_limited(&mfad_lim_bad, LOG_NOTICE, "uid %u sent "
		    "descriptors with request type %u: dropped",
		    (unsigned)c->peer.uid, (unsigned)c->type);
		mfad_conn_close(s, c);
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		mfad_conn_close(s, c);
		return;
	}
	j->slot = (size_t)(c - s->conns);
	j->gen = c->gen;
	j->type = c->type;
	j->in = c->in;
	j->peer = c->peer;
	j->trusted = c->uidx < 0;
	memcpy(j->peer.fds, c->fds, sizeof(c->fds));
	j->peer.nfds = c->nfds;
	c->nfds = 0;
	c->in = NULL;
	h = mfad_handler_find(j->type);
	if (h != NULL && (h->flags & MFAD_H_COMMIT))
		mfad_commit_push(s->pool, j);
	else if (mfad_pool_push(s->pool, j) != 0) {
		mfad_job_free(j);
		mfad_conn_close(s, c);
		return;
	}
	c->state = MFAD_CONN_BUSY;
	if (c->uidx >= 0)
		s->uids[c->uidx].busy++;
}

static void
mfad_conn_write(struct mfad_srv *s, struct mfad_conn *c)
{
	ssize_t n;

	while (mss_buf_avail(c->out) > 0) {
		n = send(c->fd, mss_buf_ptr(c->out), mss_buf_avail(c->out),
		    MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			mfad_conn_close(s, c);
			return;
		}
		c->out->off += (size_t)n;
	}
	mfad_conn_close(s, c);	/* one request per connection */
}

/*
 * Out of descriptors (EMFILE, ENFILE): the listener stays readable, and
 * polling it again at once would spin. The spare descriptor is given up
 * to take the waiting connections and close them (their clients see mfad
 * hang up rather than wait), then the listener rests for a moment.
 */
static void
mfad_accept_shed(struct mfad_srv *s, int lfd, int err)
{
	unsigned n = 0;
	int fd;

	if (s->spare >= 0) {
		close(s->spare);
		s->spare = -1;
		while (n < MFAD_ACCEPT_BATCH && (fd = accept4(lfd, NULL, NULL,
		    SOCK_CLOEXEC)) >= 0) {
			close(fd);
			n++;
		}
		s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	mfad_log_limited(&mfad_lim_nofile, LOG_ERR, "accept: %s: refused %u "
	    "connections, pausing for %d ms", strerror(err), n,
	    MFAD_ACCEPT_PAUSE_MS);
	s->accept_after = mfad_clock_mono_ms() + MFAD_ACCEPT_PAUSE_MS;
}

/* Gives fd a slot, or closes it when its caller is over a limit. */
static void
mfad_accept_one(struct mfad_srv *s, int fd)
{
	struct mfad_ctx *ctx = s->ctx;
	struct mfad_conf *conf;
	struct mfad_peer peer;
	struct mfad_conn *c;
	int u = -1, r;

	conf = mfad_snap_hold(ctx);
	r = mfad_peer_get(fd, conf, &peer);
	mfad_snap_release(conf);
	if (r != 0) {
		close(fd);
		return;
	}
	if (s->nfree == 0) {
		mfad_log_limited(&mfad_lim_full, LOG_WARNING, "all %zu "
		    "connections in use: refusing uid %u", s->nconns,
		    (unsigned)peer.uid);
		close(fd);
		return;
	}
	if (!mfad_peer_trusted(&peer)) {
		if (s->unpriv >= s->unpriv_max) {
			mfad_log_limited(&mfad_lim_share, LOG_WARNING,
			    "unprivileged callers hold %zu connections, "
			    "their share: refusing uid %u", s->unpriv,
			    (unsigned)peer.uid);
			close(fd);
			return;
		}
		if ((u = mfad_uid_get(s, peer.uid)) < 0 ||
		    s->uids[u].conns >= MFAD_UID_CONNS) {
			mfad_log_limited(&mfad_lim_uid, LOG_WARNING, "uid %u "
			    "holds %d connections, its limit: refusing one",
			    (unsigned)peer.uid, MFAD_UID_CONNS);
			close(fd);
			return;
		}
		s->uids[u].conns++;
		s->unpriv++;
	}
	c = &s->conns[s->freev[--s->nfree]];
	/* The loop scans slots up to hi only: the free slots are a stack,
	 * so the slots in use stay low, whatever nconns is. */
	if ((size_t)(c - s->conns) >= s->hi)
		s->hi = (size_t)(c - s->conns) + 1;
	c->peer = peer;
	c->uidx = u;
	c->fd = fd;
	c->state = MFAD_CONN_READ;
	c->hdr_got = 0;
	c->deadline = mfad_clock_mono_ms() + MFAD_IO_DEADLINE_MS;
}

static void
mfad_accept(struct mfad_srv *s, int lfd)
{
	unsigned n;
	int fd;

	/* A bounded batch: a stream of connections must not keep the loop
	 * from the requests it holds. */
	for (n = 0; n < MFAD_ACCEPT_BATCH; n++) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC)) >= 0) {
			mfad_accept_one(s, fd);
			continue;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
			continue;
		case EAGAIN:
#if EAGAIN != EWOULDBLOCK
		case EWOULDBLOCK:
#endif
			return;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			mfad_accept_shed(s, lfd, errno);
			return;
		default:
			mfad_log_limited(&mfad_lim_accept, LOG_ERR, "accept: "
			    "%s", strerror(errno));
			s->accept_after = mfad_clock_mono_ms() +
			    MFAD_ACCEPT_PAUSE_MS;
			return;
		}
	}
}

/*
 * Raises the soft open-file limit to the hard one and sizes the tables
 * from it, keeping MFAD_FD_RESERVE descriptors for everything else.
 */
static int
mfad_srv_init(struct mfad_srv *s, struct mfad_ctx *ctx,
    struct mfad_pool *pool)
{
	struct rlimit rl;
	rlim_t lim = 1024;
	size_t i, n;

	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	s->pool = pool;
	s->spare = -1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			lim = rl.rlim_cur;
			rl.rlim_cur = rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
				mfad_log(LOG_WARNING, "cannot raise the "
				    "open-file limit to %llu: %s",
				    (unsigned long long)rl.rlim_max,
				    strerror(errno));
			else
				lim = rl.rlim_cur;
		} else
			lim = rl.rlim_cur;
	}
	if (lim == RLIM_INFINITY || lim > MFAD_CONN_CAP + MFAD_FD_RESERVE)
		n = MFAD_CONN_CAP;
	else if (lim < MFAD_CONN_MIN + MFAD_FD_RESERVE)
		n = MFAD_CONN_MIN;
	else
		n = (size_t)lim - MFAD_FD_RESERVE;
	s->nconns = n;
	s->unpriv_max = MFAD_UNPRIV_SHARE(n);
	for (s->nbuckets = 1; s->nbuckets < n; s->nbuckets <<= 1)
		;
	if ((s->conns = calloc(n, sizeof(*s->conns))) == NULL ||
	    (s->freev = calloc(n, sizeof(*s->freev))) == NULL ||
	    (s->uids = calloc(n, sizeof(*s->uids))) == NULL ||
	    (s->buckets = calloc(s->nbuckets, sizeof(*s->buckets))) == NULL)
		return MSS_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		s->conns[i].fd = -1;
		s->conns[i].uidx = -1;
		s->freev[n - 1 - i] = i;
		s->uids[i].next = i + 1 < n ? (int)(i + 1) : -1;
	}
	s->nfree = n;
	s->ufree = 0;
	for (i = 0; i < s->nbuckets; i++)
		s->buckets[i] = -1;
	s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	mfad_log(LOG_INFO, "up to %zu connections (open-file limit %llu), "
	    "%zu for unprivileged callers, %d per uid", n,
	    (unsigned long long)lim, s->unpriv_max, MFAD_UID_CONNS);
	return 0;
}

static void
mfad_srv_free(struct mfad_srv *s)
{
	size_t i;

	if (s->conns != NULL)
		for (i = 0; i < s->nconns; i++)
			if (s->conns[i].state != MFAD_CONN_FREE)
				mfad_conn_close(s, &s->conns[i]);
	if (s->spare >= 0)
		close(s->spare);
	free(s->conns);
	free(s->freev);
	free(s->uids);
	free(s->buckets);
}

/*
 * SIGHUP: the new file is read, checked and published as a new snapshot
 * on a thread of its own, since the checks hash a password (and may wait
 * for a core to do it): the event loop keeps answering meanwhile, and
 * requests and mail in flight finish with the snapshot they started with.
 */
static void
mfad_reload(struct mfad_ctx *ctx)
{
	struct mfad_conf *nc = NULL, *cur;
	char err[1024];

	mfad_notify("RELOADING=1");
	cur = mfad_snap_hold(ctx);
	if (mfad_conf_load(cur->path, &nc, err, sizeof(err)) != 0) {
		mfad_log(LOG_ERR, "reload refused, keeping the running "
		    "configuration: %s", err);
		goto refused;
	}
	/* A configuration that cannot render mail would stop every login. */
	if (mfad_render_check(nc, err, sizeof(err)) != 0) {
		mfad_log(LOG_ERR, "reload refused, keeping the running "
		    "configuration: %s", err);
		goto refused;
	}
	if (strcmp(nc->socket, cur->socket) != 0 ||
	    strcmp(nc->database, cur->database) != 0)
		mfad_log(LOG_WARNING, "socket and database changes take "
		    "effect at the next start");
	if (mfad_pw_init(nc) != 0) {
		mfad_log(LOG_ERR, "reload refused: cannot hash, or the "
		    "blocklist cannot be read");
		goto refused;
	}
	if (nc->pw_weak)
		mfad_log(LOG_WARNING, "[password] opslimit/memlimit are "
		    "below 19 MiB at t=2: for tests only");
	mfad_snap_release(cur);
	/* The peer cache is dropped at the next connection (mfad_peer_get
	 * sees the new snapshot), the old snapshot by its last holder. */
	mfad_snap_publish(ctx, nc);
	mfad_log(LOG_NOTICE, "configuration reloaded");
	mfad_notify("READY=1");
	return;
 refused:
	mfad_snap_release(cur);
	mfad_conf_free(nc);
	mfad_notify("READY=1");
}

struct mfad_reloader {
	struct mfad_ctx		*ctx;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	int			 pending;	/* a SIGHUP not acted on yet */
	int			 stop;
	pthread_t		 thread;
};

static void *
mfad_reloader(void *arg)
{
	struct mfad_reloader *rl = arg;

	pthread_setname_np(pthread_self(), "mfad-reload");
	pthread_mutex_lock(&rl->lock);
	for (;;) {
		while (!rl->pending && !rl->stop)
			pthread_cond_wait(&rl->cond, &rl->lock);
		if (rl->stop)
			break;
		/* Signals during this reload make one more after it. */
		rl->pending = 0;
		pthread_mutex_unlock(&rl->lock);
		mfad_reload(rl->ctx);
		pthread_mutex_lock(&rl->lock);
	}
	pthread_mutex_unlock(&rl->lock);
	return NULL;
}

static int
mfad_reloader_start(struct mfad_reloader *rl, struct mfad_ctx *ctx)
{
	memset(rl, 0, sizeof(*rl));
	rl->ctx = ctx;
	pthread_mutex_init(&rl->lock, NULL);
	pthread_cond_init(&rl->cond, NULL);
	if (pthread_create(&rl->thread, NULL, mfad_reloader, rl) != 0) {
		pthread_cond_destroy(&rl->cond);
		pthread_mutex_destroy(&rl->lock);
		return MSS_ERR_SYSTEM;
	}
	return 0;
}

static void
mfad_reloader_kick(struct mfad_reloader *rl)
{
	pthread_mutex_lock(&rl->lock);
	rl->pending = 1;
	pthread_cond_signal(&rl->cond);
	pthread_mutex_unlock(&rl->lock);
}

/* Waits for a reload in progress (one password hash at most). */
static void
mfad_reloader_stop(struct mfad_reloader *rl)
{
	pthread_mutex_lock(&rl->lock);
	rl->stop = 1;
	pthread_cond_signal(&rl->cond);
	pthread_mutex_unlock(&rl->lock);
	pthread_join(rl->thread, NULL);
	pthread_cond_destroy(&rl->cond);
	pthread_mutex_destroy(&rl->lock);
}

int
mfad_server_run(struct mfad_ctx *ctx, int lfd, int sigfd)
{
	struct pollfd *pfd = NULL;
	size_t *map = NULL;
	struct mfad_conn *conns;
	struct mfad_srv srv;
	struct mfad_pool pool;
	struct mfad_reloader reloader;
	struct mfad_job *j, *done;
	struct signalfd_siginfo si;
	long long now, wait, next_sweep;
	size_t i, n;
	char buf[256];
	int r, running = 1, timeout;

	if ((r = mfad_srv_init(&srv, ctx, &pool)) != 0 ||
	    (pfd = calloc(srv.nconns + 3, sizeof(*pfd))) == NULL ||
	    (map = calloc(srv.nconns + 3, sizeof(*map))) == NULL) {
		mfad_srv_free(&srv);
		free(pfd);
		return r != 0 ? r : MSS_ERR_NOMEM;
	}
	conns = srv.conns;
	/* A reload's hashing must not wait behind unprivileged callers. */
	mfad_pw_priority(1);
	if ((r = mfad_pool_start(&pool, ctx)) != 0) {
		mfad_pool_stop(&pool);
		mfad_srv_free(&srv);
		free(pfd);
		free(map);
		return r;
	}
	if ((r = mfad_reloader_start(&reloader, ctx)) != 0) {
		mfad_pool_stop(&pool);
		free(conns);
		return r;
	}
	next_sweep = mfad_clock_mono_ms();
	mfad_log(LOG_NOTICE, "mfad %s ready on %s", PACKAGE_VERSION,
	    ctx->conf->socket);
	mfad_notify("READY=1");
	while (running) {
		now = mfad_clock_mono_ms();
		if (now >= next_sweep) {
			if ((j = calloc(1, sizeof(*j))) != NULL) {
				j->sweep = 1;
				if (mfad_pool_push(&pool, j) != 0)
					mfad_job_free(j);
			}
			next_sweep = now + MFAD_SWEEP_SECS * 1000;
		}
		n = 0;
		pfd[n].fd = srv.accept_after > now ? -1 : lfd;
		pfd[n++].events = POLLIN;
		pfd[n].fd = sigfd;
		pfd[n++].events = POLLIN;
		pfd[n].fd = pool.wake[0];
		pfd[n++].events = POLLIN;
		timeout = (int)(next_sweep - now);
		if (srv.accept_after > now && srv.accept_after - now < timeout)
			timeout = (int)(srv.accept_after - now);
		for (i = 0; i < srv.hi; i++) {
			if (conns[i].state != MFAD_CONN_READ &&
			    conns[i].state != MFAD_CONN_WRITE)
				continue;
			/* A stalled client loses its slot, no one else waits. */
			if (conns[i].deadline <= now) {
				mfad_log_limited(&mfad_lim_timeout, LOG_INFO,
				    "client uid %u timed out",
				    (unsigned)conns[i].peer.uid);
				mfad_conn_close(&srv, &conns[i]);
				continue;
			}
			wait = conns[i].deadline - now;
			if (wait < timeout)
				timeout = (int)wait;
			/* A uid with its fill of requests in flight is not
			 * read from until one is answered. */
			if (conns[i].state == MFAD_CONN_READ &&
			    conns[i].uidx >= 0 &&
			    srv.uids[conns[i].uidx].busy >= MFAD_UID_BUSY)
				continue;
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
					mfad_reloader_kick(&reloader);
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
						mfad_conn_close(&srv, c);
					else {
						mfad_conn_unbusy(&srv, c);
						c->out = j->out;
						j->out = NULL;
						c->state = MFAD_CONN_WRITE;
						c->deadline = mfad_clock_mono_ms() +
						    MFAD_IO_DEADLINE_MS;
						mfad_conn_write(&srv, c);
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
				mfad_conn_read(&srv, c);
			else if (c->state == MFAD_CONN_WRITE)
				mfad_conn_write(&srv, c);
		}
		if (running && (pfd[0].revents & POLLIN))
			mfad_accept(&srv, lfd);
	}
	/* A reload in progress ends first: its READY=1 must not follow. */
	mfad_reloader_stop(&reloader);
	/* Let workers finish what they hold: each is a short transaction. */
	mfad_notify("STOPPING=1");
	mfad_pool_stop(&pool);
	mfad_srv_free(&srv);
	free(pfd);
	free(map);
	return 0;
}
