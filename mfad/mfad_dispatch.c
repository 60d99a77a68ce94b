#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mfad_admin.h"
#include "mfad_audit.h"
#include "mfad_auth.h"
#include "mfad_dispatch.h"
#include "mfad_enroll.h"
#include "mfad_import.h"
#include "mfad_log.h"
#include "mfad_snap.h"
#include "mss_err.h"
#include "mss_io.h"
#include "mss_proto.h"

#define MFAD_LOG_EVERY	60	/* seconds between two lines */

/* A flood of malformed requests: one line a minute, with a count. */
static struct mfad_log_limit mfad_lim_bad =
    MFAD_LOG_LIMIT_INIT(MFAD_LOG_EVERY);

/*
 * MSS_ERR_UNAVAIL from a handler is the store's: in fleet mode, no
 * provider of the directory answered (mfad's own socket answers, so the
 * word is about the directory). The module takes the code as an outage
 * and applies its failmode; mfadctl says so and exits 3.
 */
#define MFAD_DIR_UNAVAIL_MSG	"the directory is unreachable"
static struct mfad_log_limit mfad_lim_dir =
    MFAD_LOG_LIMIT_INIT(MFAD_LOG_EVERY);

static const char *
mfad_dispatch_msg(int r)
{
	return r == MSS_ERR_UNAVAIL ? MFAD_DIR_UNAVAIL_MSG : mss_strerror(r);
}

/* Dispatch table: who may send what, and who answers it. */

static int MSS_WUR
mfad_h_user_del(struct mfad_rq *rq)
{
	return mfad_admin_user_op(rq, MSS_REQ_USER_DEL);
}

/*
 * Self-service: a caller that is not an admin acts only for the account
 * its uid names; the request's first string is that account. Returns 0
 * when it may go on, MSS_ERR_PERM (audited) when not, or the parse error.
 */
static int MSS_WUR
mfad_h_self(struct mfad_rq *rq, const char *what)
{
	const struct mfad_peer *p = rq->peer;
	const struct mss_buf *q = rq->in;
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
	/* The refusal stands whether or not its record could be stored
	 * (the audit line is already in the log). */
	if (mfad_audit_agg_rq(rq, &ev, NULL) != 0)
		mfad_log(LOG_ERR, "audit failed");
out:
	mss_str_free(user);
	mss_buf_free(copy);
	return r;
}

static int MSS_WUR
mfad_h_user_show(struct mfad_rq *rq)
{
	int e;

	if ((e = mfad_h_self(rq, "user show")) != 0)
		return e;
	return mfad_admin_user_op(rq, MSS_REQ_USER_SHOW);
}

static int MSS_WUR
mfad_h_device_list(struct mfad_rq *rq)
{
	int e;

	if ((e = mfad_h_self(rq, "device list")) != 0)
		return e;
	return mfad_admin_device_list(rq);
}

static int MSS_WUR
mfad_h_device_revoke(struct mfad_rq *rq)
{
	int e;

	if ((e = mfad_h_self(rq, "device revoke")) != 0)
		return e;
	return mfad_admin_device_revoke(rq);
}

static int MSS_WUR
mfad_h_user_lock(struct mfad_rq *rq)
{
	return mfad_admin_user_op(rq, MSS_REQ_USER_LOCK);
}

static int MSS_WUR
mfad_h_user_unlock(struct mfad_rq *rq)
{
	return mfad_admin_user_op(rq, MSS_REQ_USER_UNLOCK);
}

static int MSS_WUR
mfad_h_user_disable(struct mfad_rq *rq)
{
	return mfad_admin_user_op(rq, MSS_REQ_USER_DISABLE);
}

static int MSS_WUR
mfad_h_user_enable(struct mfad_rq *rq)
{
	return mfad_admin_user_op(rq, MSS_REQ_USER_ENABLE);
}

static int MSS_WUR
mfad_h_user_reenroll(struct mfad_rq *rq)
{
	return mfad_admin_user_op(rq, MSS_REQ_USER_REENROLL);
}

static const struct mfad_handler mfad_handlers[] = {
	{ MSS_REQ_STATUS, MFAD_ROLE_ADMIN, "status", mfad_admin_status,
	    MFAD_H_READ },
	{ MSS_REQ_METRICS, MFAD_ROLE_ADMIN, "metrics", mfad_admin_metrics,
	    MFAD_H_READ },
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
	    mfad_h_user_show, MFAD_H_READ },
	{ MSS_REQ_USER_LIST, MFAD_ROLE_ADMIN, "user list",
	    mfad_admin_user_list, MFAD_H_READ },
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
	    "device list", mfad_h_device_list, MFAD_H_READ },
	{ MSS_REQ_DEVICE_REVOKE, MFAD_ROLE_ADMIN | MFAD_ROLE_SELF,
	    "device revoke", mfad_h_device_revoke, MFAD_H_COMMIT },
	{ MSS_REQ_MAIL_TEST, MFAD_ROLE_ADMIN, "mail test",
	    mfad_admin_mail_test, MFAD_H_SLOW },
	{ MSS_REQ_AUDIT, MFAD_ROLE_ADMIN, "audit", mfad_admin_audit,
	    MFAD_H_READ },
	{ MSS_REQ_BACKUP, MFAD_ROLE_ADMIN, "backup", mfad_admin_backup,
	    MFAD_H_SLOW },
};

const struct mfad_handler *
mfad_dispatch_find(uint8_t type)
{
	size_t i;

	for (i = 0; i < sizeof(mfad_handlers) / sizeof(mfad_handlers[0]); i++)
		if (mfad_handlers[i].type == type)
			return &mfad_handlers[i];
	return NULL;
}

/* Frames rep (of type rtype) into q->out, or leaves it NULL. */
static void
mfad_dispatch_frame(struct mfad_req *q, uint8_t rtype, const struct mss_buf *rep)
{
	unsigned char *hdr;

	mss_buf_free(q->out);
	if ((q->out = mss_buf_new(MSS_FRAME_HDR + MSS_MSG_MAX)) != NULL &&
	    (hdr = mss_buf_reserve(q->out, MSS_FRAME_HDR)) != NULL) {
		mss_frame_put_header(hdr, rtype, (uint32_t)mss_buf_avail(rep));
		mss_buf_commit(q->out, MSS_FRAME_HDR);
		if (mss_buf_put(q->out, mss_buf_ptr(rep), mss_buf_avail(rep))
		    != 0) {
			mss_buf_free(q->out);
			q->out = NULL;
		}
	}
}

/* Turns a handler's outcome into q->out: its reply, a RESULT for an
 * error, nothing (the connection drops) for a malformed request. */
static void
mfad_dispatch_outcome(struct mfad_req *q, int r, uint8_t rtype,
    struct mss_buf *rep)
{
	if (r == MSS_ERR_PROTO || r == MSS_ERR_TOOBIG) {
		mfad_log_limited(&mfad_lim_bad, LOG_NOTICE, "malformed "
		    "request type %u from uid %u pid %d: dropped", q->type,
		    (unsigned)q->peer.uid, (int)q->peer.pid);
		mss_buf_free(q->out);
		q->out = NULL;
		return;
	}
	if (r != 0 && mfad_reply_result(rep, &rtype, r,
	    mfad_dispatch_msg(r)) != 0)
		return;
	mfad_dispatch_frame(q, rtype, rep);
}

void
mfad_dispatch_fail(struct mfad_req *q, int r)
{
	struct mss_buf *rep;
	uint8_t rtype;

	/* An answer given already stands: only a lazy record was lost. */
	if (q->early || q->out == NULL ||
	    (rep = mss_buf_new(MSS_MSG_MAX)) == NULL)
		return;
	if (mfad_reply_result(rep, &rtype, r, mfad_dispatch_msg(r)) == 0)
		mfad_dispatch_frame(q, rtype, rep);
	else {
		mss_buf_free(q->out);
		q->out = NULL;
	}
	mss_buf_free(rep);
}

/* The caller's roles allow h? Audits a refusal. */
static int
mfad_dispatch_allowed(struct mfad_rq *rq, const struct mfad_req *q,
    const struct mfad_handler *h)
{
	struct mfad_audit_ev ev = { "peer_denied", q->peer.name, h->name, "",
	    "failure", "admin command from a non-admin" };

	if ((h->roles & q->peer.roles) != 0 && (h->roles != MFAD_ROLE_ADMIN ||
	    (q->peer.roles & MFAD_ROLE_ADMIN)))
		return 1;
	/* Refused whether or not the record could be stored (the audit
	 * line is already in the log). */
	if (mfad_audit_agg_rq(rq, &ev, NULL) != 0)
		mfad_log(LOG_ERR, "audit failed");
	return 0;
}

/*
 * After the handler, whatever it returned: a transaction it left open is
 * aborted and the request's account wiped (mfad_rq_done). One that could
 * write and was left open by a handler that answered success lost a
 * change its reply may speak of: logged.
 */
static void
mfad_dispatch_end(struct mfad_rq *rq, int r)
{
	if (rq->txn != NULL && !rq->rdonly && r == 0)
		mfad_log(LOG_ERR, "request: a change left uncommitted was "
		    "dropped");
	mfad_rq_done(rq);
}

void
mfad_dispatch_run(struct mfad_ctx *shared, struct mfad_req *q,
    struct mfad_txn *batch)
{
	const struct mfad_handler *h;
	struct mfad_ctx ctx;
	struct mfad_rq rq;
	int r;

	memset(&rq, 0, sizeof(rq));
	if ((rq.out = mss_buf_new(MSS_MSG_MAX)) == NULL)
		return;
	/* The configuration current now, whatever a reload does meanwhile. */
	mfad_snap_view(shared, &ctx);
	rq.ctx = &ctx;
	rq.peer = &q->peer;
	rq.in = q->in;
	rq.batch = batch;
	h = mfad_dispatch_find(q->type);
	if (h == NULL)
		r = MSS_ERR_PROTO;
	else if (!mfad_dispatch_allowed(&rq, q, h))
		r = MSS_ERR_PERM;
	else if (q->cont != NULL)
		r = mfad_auth_start_finish(&rq, q->cont);
	else if (h->flags & MFAD_H_SPLIT) {
		r = mfad_auth_start_prepare(&rq, &q->cont);
		/* A remembered device with nothing but its record to write:
		 * the reply now, the record on the committer. */
		if (r == 0 && mfad_auth_cont_early(q->cont) &&
		    mfad_auth_start_early(&rq, q->cont) == 0) {
			mfad_dispatch_outcome(q, 0, rq.rtype, rq.out);
			q->early = 1;
		}
		if (r == 0) {
			mfad_dispatch_end(&rq, r);
			mfad_snap_view_end(&ctx);
			mss_buf_free(rq.out);
			return;
		}
	} else
		r = h->fn(&rq);
	mfad_dispatch_end(&rq, r);
	if (r == MSS_ERR_UNAVAIL)
		mfad_log_limited(&mfad_lim_dir, LOG_ERR, "%s from uid %u "
		    "refused: %s", h != NULL ? h->name : "request",
		    (unsigned)q->peer.uid, MFAD_DIR_UNAVAIL_MSG);
	q->lazy = rq.lazy;
	mfad_snap_view_end(&ctx);
	if (q->cont != NULL) {
		mfad_auth_cont_free(q->cont);
		q->cont = NULL;
	}
	if (!q->early)
		mfad_dispatch_outcome(q, r, rq.rtype, rq.out);
	mss_buf_free(rq.out);
}

void
mfad_dispatch_abandon(struct mfad_req *q, int r)
{
	mfad_auth_cont_free(q->cont);
	q->cont = NULL;
	if (q->early) {
		mfad_log(LOG_ERR, "store: the record of a remembered-device "
		    "login was lost: %s", mss_strerror(r));
		return;
	}
	mss_buf_free(q->out);
	q->out = mss_buf_new(1);
	mfad_dispatch_fail(q, r);
}

void
mfad_dispatch_clear(struct mfad_req *q)
{
	int i;

	for (i = 0; i < q->peer.nfds; i++)
		close(q->peer.fds[i]);
	q->peer.nfds = 0;
	mss_buf_free(q->in);
	mss_buf_free(q->out);
	mfad_auth_cont_free(q->cont);
	q->in = q->out = NULL;
	q->cont = NULL;
}

/*
 * One request through the pool's path, on the calling thread and without
 * the socket (tests, fuzzers): the role check, then its handler, or both
 * halves of AUTH_START, their transactions children of batch when it is
 * not NULL (as on the committing thread). Returns the framed reply,
 * which the caller frees, or NULL where mfad drops the connection. Only
 * reads peer's descriptors.
 */
struct mss_buf *
mfad_server_dispatch(struct mfad_ctx *ctx, struct mfad_txn *batch,
    const struct mfad_peer *peer, uint8_t type, struct mss_buf *req)
{
	struct mfad_req q;

	memset(&q, 0, sizeof(q));
	q.type = type;
	q.in = req;
	q.peer = *peer;
	mfad_dispatch_run(ctx, &q, batch);
	if (q.cont != NULL)
		mfad_dispatch_run(ctx, &q, batch);
	return q.out;
}

