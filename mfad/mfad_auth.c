#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "mfad_audit.h"
#include "mfad_auth.h"
#include "mfad_keys.h"
#include "mfad_enroll.h"
#include "mfad_log.h"
#include "mfad_outbox.h"
#include "mfad_pw.h"
#include "mss_addr.h"
#include "mss_err.h"
#include "mss_proto.h"
#include "mfad_str.h"

#define MFAD_REMEMBER_WINDOW	600	/* seconds after the code to answer */
#define MFAD_CEILING_WAIT	60	/* the global ceiling's window */
#define MFAD_NOTICE_EVERY	3600	/* one throttle notice an hour */

_Static_assert(MFAD_CODE_NONCE_BYTES == MFAD_NONCE_LEN,
    "a login stores its code's nonce");

static int MSS_WUR
mfad_reply_code(struct mss_buf *rep, uint8_t *rtype, uint8_t result,
    uint32_t left, uint8_t may_remember, uint32_t days, uint8_t mail,
    uint8_t next, const char *lang)
{
	int r;

	*rtype = MSS_REP_CODE;
	if ((r = mss_buf_put_u8(rep, result)) != 0 ||
	    (r = mss_buf_put_u32(rep, left)) != 0 ||
	    (r = mss_buf_put_u8(rep, may_remember)) != 0 ||
	    (r = mss_buf_put_u32(rep, days)) != 0 ||
	    (r = mss_buf_put_u8(rep, mail)) != 0 ||
	    (r = mss_buf_put_u8(rep, next)) != 0 ||
	    (r = mss_buf_put_str(rep, lang)) != 0)
		return r;
	return 0;
}

static int MSS_WUR
mfad_deny(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_auth_req *q, const char *why)
{
	struct mfad_audit_ev ev = { "login_denied", q->user, q->service,
	    q->rhost, "failure", why };

	return mfad_audit(ctx, txn, &ev);
}

struct mfad_auth_cont {
	struct mfad_auth_req	q;
	struct mfad_peer	peer;
	int			found;
	int			ok;
	int			may_early; /* mfad_auth_early_ok */
	int			early;	/* answered on the worker */
	char			lang[3];	/* that answer's language */
	char			hash[MFAD_HASH_MAX];	/* the one verified */
	char			nh[MFAD_HASH_MAX];	/* rehash, or "" */
};

void
mfad_auth_cont_free(struct mfad_auth_cont *c)
{
	if (c == NULL)
		return;
	mfad_auth_req_free(&c->q);
	sodium_memzero(c, sizeof(*c));
	free(c);
}

/*
 * A login a remembered device ends with no change but its record (last
 * login and use, the audit copy): the account in good standing (no
 * failure counted, no lock, nothing to enroll) with the hash just
 * verified, the address right, the device known, unexpired and this
 * user's. Read after the password check, in one read transaction, as
 * finish would read them (nothing about the device is looked at before
 * the password is known to be right); the worker then answers at once
 * (mfad_auth_start_early) and the committer only records the login,
 * lazily. Anything else goes the whole way through finish.
 */
static int
mfad_auth_early_ok(struct mfad_rq *rq, struct mfad_auth_cont *c)
{
	struct mfad_ctx *ctx = rq->ctx;
	const struct mfad_conf *conf = ctx->conf;
	const struct mfad_auth_req *qp = &c->q;
	const struct mfad_acct *a = &rq->acct;
	struct mfad_device d;
	uint8_t devhash[32];
	uint64_t now = mfad_clock_real_s();
	int ok = 0;

	/* In fleet mode the record is a few round trips to the directory:
	 * answered early, records would queue faster than they are
	 * written, with nothing to hold the logins back. */
	if (qp->device[0] == '\0' || conf->remember_days == 0 ||
	    conf->dir_nuris > 0 || mfad_rq_begin(rq, 1) != 0)
		return 0;
	if (mfad_rq_acct_load(rq, qp->user) != 0)
		goto out;
	if (sodium_memcmp(a->pwhash, c->hash, sizeof(c->hash)) != 0 ||
	    a->failures != 0 || a->locked_until != 0 || a->lock_noticed != 0 ||
	    mfad_acct_rule_is_locked(a, now) ||
	    mfad_acct_rule_must_enroll(conf, a, now) ||
	    (!(qp->flags & MSS_AUTH_F_EMAIL_SKIP) &&
	    strcasecmp(qp->email, a->email) != 0))
		goto out;
	mfad_device_hash(ctx->keys, qp->user, ctx->hostname, qp->device,
	    devhash);
	if (mfad_device_get(rq->txn, ctx->store, qp->user, devhash, &d) != 0)
		goto out;
	ok = d.expires > now && strcmp(d.user, qp->user) == 0;
	sodium_memzero(&d, sizeof(d));
	if (ok)
		mfad_str_copy(c->lang, sizeof(c->lang),
		    mfad_acct_reply_lang(a));
out:
	mfad_rq_abort(rq);
	return ok;
}

int
mfad_auth_start_prepare(struct mfad_rq *rq, struct mfad_auth_cont **out)
{
	struct mfad_ctx *ctx = rq->ctx;
	const struct mfad_peer *peer = rq->peer;
	struct mss_buf *req = rq->in;
	const struct mfad_conf *conf = ctx->conf;
	struct mfad_auth_cont *c;
	int r;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return MSS_ERR_NOMEM;
	c->peer = *peer;
	if ((r = mfad_auth_req_parse(req, &c->q, 1)) != 0 ||
	    (r = mfad_peer_check(rq, c->q.user, c->q.service)) != 0)
		goto fail;

	/* Read the hash, then verify with no transaction open. */
	if ((r = mfad_rq_begin(rq, 1)) != 0)
		goto fail;
	r = strlen(c->q.user) > MFAD_USER_MAX ? MSS_ERR_NOTFOUND :
	    mfad_rq_acct_load(rq, c->q.user);
	mfad_rq_abort(rq);
	if (r != 0 && r != MSS_ERR_NOTFOUND)
		goto fail;
	c->found = r == 0;
	if (c->found && rq->acct.state != MFAD_ACCT_INVITED)
		memcpy(c->hash, rq->acct.pwhash, sizeof(c->hash));
	mfad_rq_acct_drop(rq);
	c->ok = mfad_pw_verify(conf, c->hash, c->q.password);
	/* Limits changed since this hash was made: a new one, made here
	 * where hashing belongs, stored with the login's other changes. */
	if (c->ok && mfad_pw_needs_rehash(conf, c->hash)) {
		if (mfad_pw_hash(conf, c->q.password, c->nh) != 0)
			c->nh[0] = '\0';
	} else if (c->ok && c->found)
		c->may_early = mfad_auth_early_ok(rq, c);
	mss_str_free(c->q.password);
	c->q.password = NULL;
	*out = c;
	return 0;
fail:
	mfad_auth_cont_free(c);
	return r;
}

/* A remembered device or a code: the login goes on; a new hash of the
 * right password, when one was made, replaces the old one. */
static void
mfad_auth_rehash(const struct mfad_auth_cont *c, struct mfad_acct *a)
{
	if (c->nh[0] == '\0' ||
	    sodium_memcmp(a->pwhash, c->hash, sizeof(c->hash)) != 0)
		return;
	memcpy(a->pwhash, c->nh, sizeof(c->nh));
	mfad_log(LOG_INFO, "rehashed the password of %s", a->user);
}

/*
 * The global mail ceiling is full, or filled before a mail of this
 * login could be queued: nothing of txn is kept, the attempt is
 * audited, and the answer is the one every other AUTH_START gets while
 * the ceiling is full, whatever the password. The wait is the
 * ceiling's whole window, the same for everyone, so that two answers
 * cannot be told apart by the second they were given.
 */
static int MSS_WUR
mfad_auth_busy(struct mfad_rq *rq, const struct mfad_auth_req *qp)
{
	struct mfad_audit_ev ev = { "throttled", qp->user, qp->service,
	    qp->rhost, "failure", "global mail ceiling" };
	int r;

	mfad_rq_abort(rq);
	if ((r = mfad_audit_rq(rq, &ev)) != 0)
		return r;
	return mfad_reply_auth(rq->out, &rq->rtype, MSS_AUTH_THROTTLED, "", "",
	    0, 0, MFAD_CEILING_WAIT);
}

/*
 * The right password, no remembered device, and the per-account limit
 * refuses a new code. When the account's newest sign-in login still
 * has a live code, this login takes it over (DESIGN 3): a new login
 * with the same code, attempts and mail state; the earlier one becomes
 * MOVED, so one code still serves one login. The owner is mailed once
 * per code. Returns MSS_ERR_NOTFOUND, with nothing changed, when there
 * is no code to take; MSS_ERR_THROTTLED when the global ceiling refused
 * the notice; else the reply is written and *txn committed.
 */
static int MSS_WUR
mfad_auth_takeover(struct mfad_rq *rq, const struct mfad_auth_cont *c,
    struct mfad_acct *a, int has_dev, uint64_t now)
{
	struct mfad_ctx *ctx = rq->ctx;
	const struct mfad_conf *conf = ctx->conf;
	const struct mfad_auth_req *qp = &c->q;
	struct mfad_audit_ev ev = { "code_taken_over", qp->user, qp->service,
	    qp->rhost, "info", "continues with the live code of an earlier "
	    "login" };
	struct mfad_login old, l;
	uint8_t token[MFAD_TOKEN_BYTES], key[32], oldkey[32];
	char hex[2 * MFAD_TOKEN_BYTES + 1];
	unsigned left;
	int r;

	if (!a->has_cur_login)
		return MSS_ERR_NOTFOUND;
	memcpy(oldkey, a->cur_login, sizeof(oldkey));
	if ((r = mfad_login_get(rq->txn, ctx->store, oldkey, &old)) != 0)
		return r;
	/* Only a live sign-in code; one bound to its token (stored before
	 * nonces) cannot move. */
	if (!mfad_login_rule_may_take_over(conf, &old, a->user, now)) {
		r = MSS_ERR_NOTFOUND;
		goto out;
	}
	mfad_login_init(ctx, &l, MFAD_LOGIN_SIGNIN, &c->peer, qp->user,
	    qp->service, qp->rhost, a->email, has_dev ? qp->device : "", now);
	mfad_login_rule_take_over(&old, &l);
	left = (unsigned)((l.code_expires - now + 59) / 60);
	mfad_token_new(now, token, hex);
	mfad_token_key(token, key);
	if (!l.noticed) {
		if ((r = mfad_notice_queue(ctx, rq->txn, MFAD_MAIL_CODE_TAKEN,
		    a,
		    &l, left, 0, now)) != 0)
			goto out;
		l.noticed = 1;
	}
	a->has_cur_login = 1;
	memcpy(a->cur_login, key, sizeof(a->cur_login));
	if ((r = mfad_login_put(rq->txn, ctx->store, oldkey, &old)) != 0 ||
	    (r = mfad_login_put(rq->txn, ctx->store, key, &l)) != 0 ||
	    (r = mfad_acct_put(rq->txn, ctx->store, a, a->email)) != 0 ||
	    (r = mfad_audit(ctx, rq->txn, &ev)) != 0 ||
	    (r = mfad_rq_end(rq, 1)) != 0)
		goto out;
	mfad_outbox_kick(ctx->outbox);
	r = mfad_reply_auth_lang(rq->out, &rq->rtype, MSS_AUTH_CODE_VALID, hex,
	    l.masked, left, l.mail, 0, mfad_acct_reply_lang(a));
out:
	sodium_memzero(&old, sizeof(old));
	sodium_memzero(&l, sizeof(l));
	sodium_memzero(token, sizeof(token));
	sodium_memzero(hex, sizeof(hex));
	return r;
}

/*
 * The right password, and the per-account limit refuses a code with
 * none to take over: the owner hears of it (SECURITY 36), at most once
 * an hour. MSS_ERR_THROTTLED when the global ceiling refused the
 * notice. *queued says whether a notice went into txn.
 */
static int MSS_WUR
mfad_auth_throttle_notice(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_auth_req *qp, struct mfad_acct *a, uint64_t now,
    int *queued)
{
	struct mfad_audit_ev ev = { "throttle_noticed", qp->user, qp->service,
	    qp->rhost, "info", "owner told: password right, no code sent" };
	struct mfad_login l;
	int r;

	*queued = 0;
	if (a->throttle_noticed != 0 && now >= a->throttle_noticed &&
	    now < a->throttle_noticed + MFAD_NOTICE_EVERY)
		return 0;
	memset(&l, 0, sizeof(l));
	if (mss_addr_mask(a->email, l.masked, sizeof(l.masked)) != 0)
		l.masked[0] = '\0';
	mfad_str_copy(l.service, sizeof(l.service), qp->service);
	mfad_str_copy(l.rhost, sizeof(l.rhost), qp->rhost);
	if ((r = mfad_notice_queue(ctx, txn, MFAD_MAIL_THROTTLED, a, &l, 0, 0,
	    now)) != 0 || (r = mfad_audit(ctx, txn, &ev)) != 0)
		return r;
	if ((r = mfad_acct_notice_set(txn, ctx->store, a->user,
	    MFAD_NOTICE_THROTTLE, now, a)) != 0)
		return r;
	*queued = 1;
	return 0;
}

int
mfad_auth_cont_early(const struct mfad_auth_cont *c)
{
	return c->may_early;
}

int
mfad_auth_start_early(struct mfad_rq *rq, struct mfad_auth_cont *c)
{
	int r;

	if (!c->may_early)
		return MSS_ERR_INVAL;
	if ((r = mfad_reply_auth_lang(rq->out, &rq->rtype, MSS_AUTH_OK, "",
	    "", 0, 0, 0, c->lang)) != 0) {
		mss_buf_reset(rq->out);
		return r;
	}
	c->early = 1;
	return 0;
}

/*
 * The record of a login answered on the worker: last login and use and
 * the audit copy, read again here so that nothing written meanwhile is
 * undone (an account or device gone since is left alone). Nothing of it
 * guards a later login: lazy, as the reply has gone; a failure is only
 * logged.
 */
static void
mfad_auth_early_record(struct mfad_rq *rq, struct mfad_auth_cont *c)
{
	struct mfad_ctx *ctx = rq->ctx;
	const struct mfad_auth_req *qp = &c->q;
	struct mfad_audit_ev ev = { "login_ok", qp->user, qp->service,
	    qp->rhost, "success", "method=device" };
	struct mfad_acct *a = &rq->acct;
	struct mfad_device d;
	uint8_t devhash[32];
	uint64_t now = mfad_clock_real_s();
	int r;

	mfad_rq_lazy(rq);
	if (mfad_store_full_recently()) {
		r = MSS_ERR_MAPFULL;
		goto full;
	}
	if ((r = mfad_rq_begin(rq, 0)) != 0)
		goto out;
	/* Only the last login: a whole put would write back what was read,
	 * undoing a lock or a used recovery code that another host made
	 * meanwhile (fleet mode). In the local store the device's last use
	 * is the login's time (mfad_device_keeps_last_login). */
	r = 0;
	if (!mfad_device_keeps_last_login(ctx->store)) {
		if ((r = mfad_rq_acct_load(rq, qp->user)) == 0)
			r = mfad_acct_notice_set(rq->txn, ctx->store,
			    qp->user, MFAD_NOTICE_LAST_LOGIN, now, a);
		else if (r == MSS_ERR_NOTFOUND)
			r = 0;
	}
	if (r == 0) {
		mfad_device_hash(ctx->keys, qp->user, ctx->hostname,
		    qp->device, devhash);
		if ((r = mfad_device_get(rq->txn, ctx->store, qp->user,
		    devhash, &d)) == 0) {
			if (strcmp(d.user, qp->user) == 0) {
				d.last_used = now;
				r = mfad_device_put(rq->txn, ctx->store,
				    devhash, &d);
			}
			sodium_memzero(&d, sizeof(d));
		} else if (r == MSS_ERR_NOTFOUND)
			r = 0;
	}
	if (r == 0 && (r = mfad_audit(ctx, rq->txn, &ev)) == 0)
		r = mfad_rq_end(rq, 1);
full:
	if (r == MSS_ERR_MAPFULL) {
		/* As in finish: a full store costs only the record. */
		mfad_rq_abort(rq);
		ev.detail = "method=device, store full: not recorded";
		mfad_audit_log(&ev);
		r = 0;
	}
out:
	mfad_rq_abort(rq);
	if (r != 0)
		mfad_log(LOG_ERR, "store: the record of a remembered-device "
		    "login of %s was lost: %s", qp->user, mss_strerror(r));
}

int
mfad_auth_start_finish(struct mfad_rq *rq, struct mfad_auth_cont *c)
{
	struct mfad_ctx *ctx = rq->ctx;
	struct mss_buf *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	const struct mfad_conf *conf = ctx->conf;
	const struct mfad_auth_req *qp = &c->q;
	struct mfad_acct *a = &rq->acct;
	struct mfad_login l;
	struct mfad_device d;
	uint8_t token[MFAD_TOKEN_BYTES], key[32], devhash[32];
	char hex[2 * MFAD_TOKEN_BYTES + 1];
	const char *why = NULL;
	uint32_t wait = 0;
	uint64_t now;
	uint8_t kind = MFAD_LOGIN_SIGNIN;
	int r, found = c->found, ok = c->ok, has_dev = 0, locked_now = 0;
	int failed = 0;
	uint32_t cwait;
	int full, queued, quiet = 0, keep;

	/* Answered on the worker already: only its record is left. */
	if (c->early) {
		mfad_auth_early_record(rq, c);
		return 0;
	}
	now = mfad_clock_real_s();
	/*
	 * While the global mail ceiling is full, every answer but a
	 * remembered device's is the same "try later", so that a password
	 * can never be tested against an answer that would have mailed
	 * its owner (SECURITY 36). Failures still count.
	 */
	full = mfad_outbox_ceiling_full(ctx->outbox, conf->mail_max_per_minute,
	    &cwait);
	if ((r = mfad_rq_begin(rq, 0)) != 0)
		goto out;
	r = found ? mfad_rq_acct_load(rq, qp->user) :
	    MSS_ERR_NOTFOUND;
	found = r == 0;
	if (r == MSS_ERR_NOTFOUND) {
		if ((r = mfad_deny(ctx, rq->txn, qp, "unknown user")) != 0 ||
		    (r = mfad_rq_end(rq, 1)) != 0)
			goto out_txn;
		r = full ? mfad_reply_auth(rep, rtype, MSS_AUTH_THROTTLED, "",
		    "", 0, 0, MFAD_CEILING_WAIT) :
		    mfad_reply_auth(rep, rtype, MSS_AUTH_DENIED, "", "", 0, 0,
		    0);
		goto out;
	}
	if (r != 0)
		goto out_txn;
	/* The hash changed in between (a reset): decide on the new one. */
	if (sodium_memcmp(c->hash, a->pwhash, sizeof(c->hash)) != 0)
		ok = 0;
	/* No failures nor lock to clear: a success changes no guard. */
	quiet = a->failures == 0 && a->locked_until == 0 &&
	    a->lock_noticed == 0;
	mfad_acct_rule_expire_lock(a, now);
	if (!(qp->flags & MSS_AUTH_F_EMAIL_SKIP) &&
	    strcasecmp(qp->email, a->email) != 0)
		why = "email mismatch";
	else if (!ok)
		why = a->state == MFAD_ACCT_INVITED ? "not enrolled" :
		    "wrong password";
	if (why == NULL && mfad_acct_rule_is_locked(a, now))
		why = "account locked";
	else if (why != NULL && !mfad_acct_rule_is_locked(a, now)) {
		locked_now = mfad_acct_rule_fail(conf, a, now);
		failed = 1;
	}
	/* Must (re-)enroll, right password: the code proves the address,
	 * then a new password; no remembered device skips that. */
	if (why == NULL && mfad_acct_rule_must_enroll(conf, a, now)) {
		if (qp->flags & MSS_AUTH_F_NOENROLL)
			why = "enrollment required";
		else
			kind = MFAD_LOGIN_ENROLL;
	}
	if (why != NULL) {
		if ((failed && (r = mfad_login_acct_fail(rq->txn, ctx, a,
		    locked_now, now)) != 0) ||
		    (r = mfad_acct_put(rq->txn, ctx->store, a,
		    a->email)) != 0 ||
		    (r = mfad_deny(ctx, rq->txn, qp, why)) != 0)
			goto out_txn;
		if (locked_now && (r = mfad_lock_event(ctx, rq->txn, a,
		    locked_now, qp->service, qp->rhost)) != 0)
			goto out_txn;
		if ((r = mfad_rq_end(rq, 1)) != 0)
			goto out_txn;
		r = full ? mfad_reply_auth(rep, rtype, MSS_AUTH_THROTTLED, "",
		    "", 0, 0, MFAD_CEILING_WAIT) :
		    mfad_reply_auth(rep, rtype, MSS_AUTH_DENIED, "", "", 0, 0,
		    0);
		goto out;
	}

	/* Password right. A remembered device skips the code. */
	mfad_auth_rehash(c, a);
	memset(&l, 0, sizeof(l));
	if (qp->device[0] != '\0' && conf->remember_days > 0) {
		mfad_device_hash(ctx->keys, qp->user, ctx->hostname, qp->device,
		    devhash);
		has_dev = 1;
		r = mfad_device_get(rq->txn, ctx->store, qp->user, devhash, &d);
		if (r == 0 && d.expires > now && strcmp(d.user, qp->user) == 0 &&
		    kind == MFAD_LOGIN_SIGNIN) {
			struct mfad_audit_ev ev = { "login_ok", qp->user,
			    qp->service, qp->rhost, "success",
			    "method=device" };

			/* The device keeps the login's time where it can
			 * (mfad_device_keeps_last_login): then a quiet login
			 * with the hash as it was leaves the account as it
			 * is: one write fewer, in fleet mode one modify. */
			keep = mfad_device_keeps_last_login(ctx->store);
			if (!keep)
				a->last_login = now;
			d.last_used = now;
			/* Quiet: nothing to clear (a failure or lock that
			 * came since is after this success: it stays), and
			 * in fleet mode two round trips saved. */
			if (mfad_store_full_recently())
				r = MSS_ERR_MAPFULL;
			else if ((quiet || (r = mfad_acct_login_clear(rq->txn,
			    ctx->store, a->user, now, a)) == 0) &&
			    ((keep && quiet && c->nh[0] == '\0') ||
			    (r = mfad_acct_put(rq->txn, ctx->store, a,
			    a->email)) == 0) &&
			    (r = mfad_device_put(rq->txn, ctx->store, devhash,
			    &d)) == 0 &&
			    (r = mfad_audit(ctx, rq->txn, &ev)) == 0)
				r = mfad_rq_end(rq, 1);
			if (r == MSS_ERR_MAPFULL) {
				/*
				 * The decision needed no write: a full store
				 * costs only its bookkeeping (last use, the
				 * failures cleared, a rehash, the stored
				 * record; the log line stays). Failing it
				 * would let whoever filled the store lock
				 * everyone out.
				 */
				mfad_rq_abort(rq);
				ev.detail = "method=device, store full: not "
				    "recorded";
				mfad_audit_log(&ev);
				r = 0;
			}
			if (r != 0)
				goto out_txn;
			/*
			 * Only the last login and use and the audit copy
			 * changed: the reply need not wait for the disk. A
			 * cleared failure count or lock, or a new hash,
			 * still does.
			 */
			if (quiet && c->nh[0] == '\0')
				mfad_rq_lazy(rq);
			r = mfad_reply_auth_lang(rep, rtype, MSS_AUTH_OK, "",
			    "", 0, 0, 0, mfad_acct_reply_lang(a));
			goto out;
		}
		if (r != 0 && r != MSS_ERR_NOTFOUND)
			goto out_txn;
	}
	if (full) {
		r = mfad_auth_busy(rq, qp);
		goto out;
	}

	if (mfad_acct_rule_throttle(conf, a, now, &wait) != 0) {
		/* A live code to continue with rather than a wait. */
		r = mfad_auth_takeover(rq, c, a, has_dev, now);
		if (r == MSS_ERR_THROTTLED) {
			r = mfad_auth_busy(rq, qp);
			goto out;
		}
		if (r != MSS_ERR_NOTFOUND)
			goto out_txn;	/* done (ended), or failed */
		/* None: the owner is told that the password was right. */
		r = mfad_auth_throttle_notice(ctx, rq->txn, qp, a, now,
		    &queued);
		if (r == MSS_ERR_THROTTLED) {
			r = mfad_auth_busy(rq, qp);
			goto out;
		}
		if (r != 0 ||
		    (r = mfad_acct_put(rq->txn, ctx->store, a, a->email)) != 0)
			goto out_txn;
		/* An account with recovery codes still gets a code prompt,
		 * for one of them: no new mail is needed for that. */
		if (kind == MFAD_LOGIN_SIGNIN && a->nrecovery > 0) {
			mfad_login_init(ctx, &l, kind, &c->peer, qp->user,
			    qp->service, qp->rhost, a->email,
			    has_dev ? qp->device : "", now);
			mfad_login_no_code(ctx, &l, now);
			mfad_token_new(now, token, hex);
			mfad_token_key(token, key);
			if ((r = mfad_login_put(rq->txn, ctx->store, key,
			    &l)) != 0)
				goto out_txn;
		}
		if (l.created != 0) {
			struct mfad_audit_ev ev = { "throttled", qp->user,
			    qp->service, qp->rhost, "failure",
			    "per-account mail limit, recovery code prompt" };

			if ((r = mfad_audit(ctx, rq->txn, &ev)) != 0 ||
			    (r = mfad_rq_end(rq, 1)) != 0)
				goto out_txn;
			r = mfad_reply_auth_lang(rep, rtype,
			    MSS_AUTH_THROTTLED, hex, l.masked,
			    mfad_minutes(conf), l.mail, wait,
			    mfad_acct_reply_lang(a));
		} else
			r = mfad_commit_throttled(rq, qp->user,
			    qp->service, qp->rhost, wait,
			    mfad_acct_reply_lang(a));
		if (r == 0 && queued)
			mfad_outbox_kick(ctx->outbox);
		goto out;
	}

	mfad_login_init(ctx, &l, kind, &c->peer, qp->user,
	    qp->service, qp->rhost, a->email, has_dev ? qp->device : "", now);
	mfad_token_new(now, token, hex);
	mfad_token_key(token, key);
	r = mfad_login_send_code(ctx, rq->txn, a, &l, token, key, now);
	if (r == MSS_ERR_THROTTLED) {
		r = mfad_auth_busy(rq, qp);
		goto out;
	}
	if (r != 0 ||
	    (r = mfad_login_acct_send(rq->txn, ctx, a, &l, now)) != 0)
		goto out_txn;
	/* The newest sign-in: a later login may take its code over. */
	a->has_cur_login = 1;
	memcpy(a->cur_login, key, sizeof(a->cur_login));
	{
		struct mfad_audit_ev ev = { "code_sent", qp->user, qp->service,
		    qp->rhost, "info", NULL };

		if ((r = mfad_login_put(rq->txn, ctx->store, key, &l)) != 0 ||
		    (r = mfad_acct_put(rq->txn, ctx->store, a,
		    a->email)) != 0 ||
		    (r = mfad_audit(ctx, rq->txn, &ev)) != 0)
			goto out_txn;
	}
	r = mfad_commit_code_sent(rq, hex, l.masked,
	    mfad_acct_reply_lang(a));
	goto out;
out_txn:
	mfad_rq_abort(rq);
out:
	sodium_memzero(token, sizeof(token));
	sodium_memzero(hex, sizeof(hex));
	return r;
}

int
mfad_auth_start(struct mfad_rq *rq)
{
	struct mfad_auth_cont *c;
	int r;

	if ((r = mfad_auth_start_prepare(rq, &c)) != 0)
		return r;
	if (c->may_early && (r = mfad_auth_start_early(rq, c)) == 0)
		mfad_auth_early_record(rq, c);
	else
		r = mfad_auth_start_finish(rq, c);
	mfad_auth_cont_free(c);
	return r;
}

static int
mfad_code_digits(const char *code, unsigned len)
{
	size_t i;

	if (strlen(code) != len)
		return 0;
	for (i = 0; code[i] != '\0'; i++)
		if (code[i] < '0' || code[i] > '9')
			return 0;
	return 1;
}

/*
 * A recovery code ended a sign-in: audited with how many are left, and
 * the owner is mailed. MSS_ERR_THROTTLED when the global ceiling refused
 * the notice.
 */
static int MSS_WUR
mfad_recovery_used(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_acct *a, const struct mfad_login *l, uint64_t now)
{
	char detail[32];
	struct mfad_audit_ev ev = { "recovery_used", a->user, l->service,
	    l->rhost, "success", detail };
	int r;

	snprintf(detail, sizeof(detail), "left=%u", (unsigned)a->nrecovery);
	if ((r = mfad_audit(ctx, txn, &ev)) != 0)
		return r;
	r = mfad_notice_queue(ctx, txn, MFAD_MAIL_RECOVERY_USED, a, l, 0, 0,
	    now);
	if (r == MSS_ERR_THROTTLED)
		mfad_log(LOG_WARNING, "recovery code of %s refused: mail "
		    "ceiling reached, its owner could not be told", a->user);
	return r;
}

/*
 * A decoy mailed nothing, so its mail never fails; a real code's does
 * while the relay is down, and the module says so. A decoy answers what
 * a real mail queued then would show: retrying while the last delivery
 * attempt failed, else sent.
 */
static uint8_t
mfad_decoy_mail_state(struct mfad_ctx *ctx)
{
	char err[256];

	mfad_outbox_status(ctx->outbox, err, sizeof(err));
	return err[0] != '\0' ? MSS_MAIL_RETRYING : MSS_MAIL_SENT;
}

int
mfad_auth_code(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	const struct mfad_conf *conf = ctx->conf;
	struct mfad_login l;
	struct mfad_acct *a = &rq->acct;
	uint8_t token[MFAD_TOKEN_BYTES], key[32], h[32];
	char *hex = NULL, *code = NULL, norm[MFAD_RECOVERY_CHARS + 1];
	const char *event, *result = "failure", *detail = NULL;
	uint8_t res, may = 0;
	uint32_t left = 0;
	uint64_t now = mfad_clock_real_s();
	enum mfad_login_gate gate;
	int r, match, locked_now = 0, recovered = 0;

	if ((r = mss_buf_get_str(req, &hex, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &code, MSS_CODE_ANSWER_MAX)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;
	if ((r = mfad_rq_begin(rq, 0)) != 0)
		goto out;
	r = mfad_login_open(rq, hex, token, key, &l);
	if (r == MSS_ERR_NOTFOUND) {
		mfad_rq_abort(rq);
		r = mfad_reply_code(rep, rtype, MSS_CODE_BADLOGIN, 0, 0, 0, 0,
		    MSS_NEXT_DONE, "");
		goto out;
	}
	if (r != 0)
		goto out;
	mfad_acct_rule_expire_lock(a, now);
	switch ((gate = mfad_login_rule_gate(&l, a, now))) {
	case MFAD_LOGIN_GATE_MOVED:
		/* A newer login took this code over; nothing is checked. */
		event = "code_moved";
		detail = "taken over by a newer login";
		res = MSS_CODE_MOVED;
		break;
	case MFAD_LOGIN_GATE_DEAD:
	case MFAD_LOGIN_GATE_USED:
		event = "code_replay";
		res = gate == MFAD_LOGIN_GATE_DEAD ? MSS_CODE_DEAD :
		    MSS_CODE_BADLOGIN;
		break;
	case MFAD_LOGIN_GATE_LOCKED:
	default:	/* fail closed */
		event = "code_refused";
		detail = "account locked";
		res = MSS_CODE_DEAD;
		break;
	case MFAD_LOGIN_GATE_EXPIRED:
		event = "code_expired";
		res = MSS_CODE_EXPIRED;
		break;
	case MFAD_LOGIN_GATE_OPEN:
		/* A login stored before nonces keeps its token binding. */
		if (sodium_is_zero(l.code_nonce, sizeof(l.code_nonce)))
			mfad_code_hash_token(ctx->keys, token, l.user, code,
			    h);
		else
			mfad_code_hash(ctx->keys, l.code_nonce, l.user, code,
			    h);
		match = sodium_memcmp(h, l.codehash, sizeof(h)) == 0 &&
		    mfad_code_digits(code, conf->code_length);
		/* Not the mailed code: one of the account's recovery codes
		 * ends a sign-in (never an enrollment or a reset, which
		 * prove the mailbox), and is used up by it. */
		if (!match && l.kind == MFAD_LOGIN_SIGNIN &&
		    mfad_recovery_norm(code, norm) == 0) {
			mfad_recovery_hash(ctx->keys, l.user, norm, h);
			r = mfad_acct_recovery_take(rq->txn, ctx->store,
			    l.user, h, a);
			match = recovered = r == 0;
			if (r == MSS_ERR_NOTFOUND)
				r = 0;
		}
		sodium_memzero(norm, sizeof(norm));
		if (r != 0) {
			sodium_memzero(h, sizeof(h));
			goto out;
		}
		if (match) {
			mfad_login_rule_verified(&l, now);
			res = MSS_CODE_OK;
			result = "success";
			if (l.kind == MFAD_LOGIN_SIGNIN &&
			    (r = mfad_acct_login_clear(rq->txn,
			    ctx->store, l.user, now, a)) != 0) {
				sodium_memzero(h, sizeof(h));
				goto out;
			}
			if (l.kind == MFAD_LOGIN_SIGNIN) {
				a->last_login = now;
				event = "login_ok";
				detail = recovered ? "method=recovery" :
				    "method=code";
			} else {
				/* The password step still has to follow. */
				event = "code_ok";
				detail = l.kind == MFAD_LOGIN_ENROLL ?
				    "enrollment" : "reset";
			}
			may = l.has_device && conf->remember_days > 0 &&
			    l.kind != MFAD_LOGIN_RESET;
		} else {
			/* Only a sign-in, which proved the password, counts
			 * against the account: a wrong code of a reset or an
			 * enrollment counts against its login alone, so that
			 * a real one and a decoy answer alike. */
			if (l.kind == MFAD_LOGIN_SIGNIN) {
				locked_now = mfad_acct_rule_fail(conf, a, now);
				if ((r = mfad_login_acct_fail(rq->txn, ctx,
				    a, locked_now, now)) != 0) {
					sodium_memzero(h, sizeof(h));
					goto out;
				}
			}
			event = "code_wrong";
			if (mfad_login_rule_wrong(conf, &l, locked_now,
			    &left)) {
				res = MSS_CODE_DEAD;
				detail = locked_now ? "account locked" :
				    "max_attempts reached";
			} else
				res = MSS_CODE_WRONG;
		}
		sodium_memzero(h, sizeof(h));
	}
	{
		struct mfad_audit_ev ev = { event, l.user, l.service, l.rhost,
		    result, detail };

		/* Only a code that matched changed the account beyond what
		 * its counter operations stored (last_login): any other
		 * answer leaves its record as those wrote it. */
		if ((r = mfad_login_put(rq->txn, ctx->store, key, &l)) != 0 ||
		    (res == MSS_CODE_OK &&
		    (r = mfad_login_acct_save(rq->txn, ctx, a, &l)) != 0) ||
		    (r = mfad_audit(ctx, rq->txn, &ev)) != 0)
			goto out;
	}
	/* The owner hears of it: no code was mailed for this sign-in. Fail
	 * closed: no notice, no use (the global ceiling is full). */
	if (recovered && (r = mfad_recovery_used(ctx, rq->txn, a, &l,
	    now)) != 0)
		goto out;
	if (locked_now && l.kind != MFAD_LOGIN_DECOY &&
	    (r = mfad_lock_event(ctx, rq->txn, a, locked_now, l.service,
	    l.rhost)) != 0)
		goto out;
	if ((r = mfad_rq_end(rq, 1)) != 0)
		goto out;
	if (recovered)
		mfad_outbox_kick(ctx->outbox);
	if (l.kind == MFAD_LOGIN_DECOY)
		l.mail = mfad_decoy_mail_state(ctx);
	/* The account's language only once the code proved the mailbox:
	 * a wrong code of a reset must answer as a decoy's does. */
	r = mfad_reply_code(rep, rtype, res, left, may,
	    may ? conf->remember_days : 0, l.mail, res != MSS_CODE_OK ?
	    MSS_NEXT_DONE : l.kind == MFAD_LOGIN_ENROLL ? MSS_NEXT_ENROLL :
	    l.kind == MFAD_LOGIN_RESET ? MSS_NEXT_RESET : MSS_NEXT_DONE,
	    res == MSS_CODE_OK && l.kind != MFAD_LOGIN_DECOY ?
	    mfad_acct_reply_lang(a) : "");
out:
	mfad_rq_abort(rq);
	sodium_memzero(token, sizeof(token));
	mss_str_free(hex);
	mss_str_free(code);
	return r;
}

int
mfad_auth_resend(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	const struct mfad_conf *conf = ctx->conf;
	struct mfad_login l;
	struct mfad_acct *a = &rq->acct;
	uint8_t token[MFAD_TOKEN_BYTES], key[32];
	char *hex = NULL;
	uint32_t wait;
	uint64_t now = mfad_clock_real_s();
	int r;

	if ((r = mss_buf_get_str(req, &hex, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;
	if ((r = mfad_rq_begin(rq, 0)) != 0)
		goto out;
	r = mfad_login_open(rq, hex, token, key, &l);
	if (r == MSS_ERR_NOTFOUND) {
		r = mfad_reply_auth(rep, rtype, MSS_AUTH_EXPIRED, "", "", 0,
		    0, 0);
		goto out;
	}
	if (r != 0)
		goto out;
	mfad_acct_rule_expire_lock(a, now);
	if (l.state != MFAD_LOGIN_PENDING) {
		r = mfad_reply_auth(rep, rtype, MSS_AUTH_EXPIRED, "", "", 0,
		    0, 0);
		goto out;
	}
	/* A login of the empty-password path has its own throttle. */
	if (l.has_tkey) {
		r = mfad_code_resend(rq, a, &l, token, key, hex);
		goto out;
	}
	if (mfad_acct_rule_is_locked(a, now)) {
		r = mfad_reply_auth(rep, rtype, MSS_AUTH_DENIED, "", "", 0, 0,
		    0);
		goto out;
	}
	if (l.kind != MFAD_LOGIN_DECOY &&
	    mfad_acct_rule_throttle(conf, a, now, &wait) != 0) {
		r = mfad_commit_throttled(rq, l.user, l.service, l.rhost,
		    wait, "");
		goto out;
	}
	/* The new code replaces the old one: its hash is overwritten. */
	r = mfad_login_send_code(ctx, rq->txn, a, &l, token, key, now);
	if (r == MSS_ERR_THROTTLED) {
		r = mfad_reply_auth(rep, rtype, MSS_AUTH_THROTTLED, "", "", 0,
		    0, 60);
		goto out;
	}
	if (r != 0 ||
	    (r = mfad_login_acct_send(rq->txn, ctx, a, &l, now)) != 0)
		goto out;
	{
		struct mfad_audit_ev ev = { "code_resent", l.user, l.service,
		    l.rhost, "info", NULL };

		if ((r = mfad_login_put(rq->txn, ctx->store, key, &l)) != 0 ||
		    (r = mfad_login_acct_save(rq->txn, ctx, a, &l)) != 0 ||
		    (r = mfad_audit(ctx, rq->txn, &ev)) != 0)
			goto out;
	}
	r = mfad_commit_code_sent(rq, hex, l.masked, "");
out:
	mfad_rq_abort(rq);
	sodium_memzero(token, sizeof(token));
	mss_str_free(hex);
	return r;
}

int
mfad_auth_remember(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	const struct mfad_conf *conf = ctx->conf;
	struct mfad_login l;
	struct mfad_acct *a = &rq->acct;
	struct mfad_device d;
	struct mfad_mail_vars vars;
	uint8_t token[MFAD_TOKEN_BYTES], key[32];
	char *hex = NULL;
	uint64_t now = mfad_clock_real_s();
	int r;

	if ((r = mss_buf_get_str(req, &hex, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;
	if ((r = mfad_rq_begin(rq, 0)) != 0)
		goto out;
	if ((r = mfad_login_open(rq, hex, token, key, &l)) != 0)
		goto out;
	if (!((l.kind == MFAD_LOGIN_SIGNIN &&
	    l.state == MFAD_LOGIN_VERIFIED) || (l.kind == MFAD_LOGIN_ENROLL &&
	    l.state == MFAD_LOGIN_ENROLLED)) || !l.has_device ||
	    conf->remember_days == 0 ||
	    now > l.verified + MFAD_REMEMBER_WINDOW) {
		r = mfad_reply_result(rep, rtype, MSS_ERR_REFUSED,
		    "this login cannot remember a device");
		goto out;
	}
	memset(&d, 0, sizeof(d));
	mfad_str_copy(d.user, sizeof(d.user), l.user);
	mfad_str_copy(d.kind, sizeof(d.kind), l.device_kind);
	mfad_str_copy(d.service, sizeof(d.service), l.service);
	d.created = d.last_used = now;
	d.expires = now + (uint64_t)conf->remember_days * 86400;
	l.state = MFAD_LOGIN_DONE;
	/* The owner hears of every remembered device. */
	mfad_mail_vars_init(ctx, &vars, l.user, l.masked, l.service, l.rhost,
	    now);
	{
		struct mfad_audit_ev ev = { "device_remembered", l.user,
		    l.service, l.rhost, "success", l.device_kind };

		if ((r = mfad_device_put(rq->txn, ctx->store, l.devhash,
		    &d)) != 0 ||
		    (r = mfad_login_put(rq->txn, ctx->store, key, &l)) != 0 ||
		    (r = mfad_audit(ctx, rq->txn, &ev)) != 0)
			goto out;
	}
	r = mfad_outbox_queue(ctx, rq->txn, MFAD_MAIL_DEVICE, a->user, a->email,
	    a->lang, &vars, now + 86400, NULL);
	if (r != 0 && r != MSS_ERR_THROTTLED)
		goto out;
	if ((r = mfad_rq_end(rq, 1)) != 0)
		goto out;
	mfad_outbox_kick(ctx->outbox);
	r = mfad_reply_result(rep, rtype, 0, "device remembered");
out:
	mfad_rq_abort(rq);
	sodium_memzero(token, sizeof(token));
	mss_str_free(hex);
	return r;
}

int
mfad_auth_acct(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	char *service = NULL, *user = NULL;
	uint8_t state;
	int r;

	if ((r = mss_buf_get_str(req, &service, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &user, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;
	if ((r = mfad_peer_check(rq, user, service)) != 0)
		goto out;
	if ((r = mfad_rq_begin(rq, 1)) != 0)
		goto out;
	r = strlen(user) > MFAD_USER_MAX ? MSS_ERR_NOTFOUND :
	    mfad_rq_acct_load(rq, user);
	mfad_rq_abort(rq);
	if (r == MSS_ERR_NOTFOUND)
		state = MSS_ACCT_UNKNOWN;
	else if (r != 0)
		goto out;
	else
		state = mfad_acct_rule_wire_state(ctx->conf, &rq->acct,
		    mfad_clock_real_s());
	/* Invited and unknown accounts are asked about before every login;
	 * only a refusal of an existing account is worth a record, and one
	 * a minute of them: else a locked account would answer later than
	 * an active one (a write each time), and its owner could fill the
	 * store by asking. */
	if (state == MSS_ACCT_LOCKED || state == MSS_ACCT_DISABLED) {
		struct mfad_audit_ev ev = { "account_refused", user, service,
		    "", "failure", state == MSS_ACCT_LOCKED ? "locked" :
		    "disabled" };

		if ((r = mfad_audit_agg_rq(rq, &ev, user)) != 0)
			goto out;
	}
	*rtype = MSS_REP_ACCT;
	if ((r = mss_buf_put_u8(rep, state)) == 0)
		r = mss_buf_put_u64(rep, state == MSS_ACCT_REENROLL ?
		    (uint64_t)ctx->conf->reenroll_before : 0);
out:
	mss_str_free(service);
	mss_str_free(user);
	return r;
}
