#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "mfad_audit.h"
#include "mfad_acct.h"
#include "mfad_auth_shared.h"
#include "mfad_keys.h"
#include "mfad_enroll.h"
#include "mfad_log.h"
#include "mfad_login.h"
#include "mfad_outbox.h"
#include "mfad_pw.h"
#include "mfad_render.h"
#include "mss_addr.h"
#include "mss_err.h"
#include "mss_proto.h"

#define MFAD_INVITE_TTL		(7 * 86400)	/* an invitation's tries */

/*
 * The kind of login an empty password starts. Only here is it decided,
 * and nothing the caller sees before a right code depends on it: a real
 * login mails a code, a decoy mails nothing and no code can match it.
 * A lockout after failures does not stop a reset or an enrollment (the
 * mailed code is what clears it); an admin lock or a disabled account
 * gets a decoy, never a code that could not work.
 */
static uint8_t
mfad_reset_kind(const struct mfad_conf *conf, const struct mfad_acct *a,
    int found, const char *email, uint32_t flags, uint64_t now,
    const char **why)
{
	if (!found) {
		*why = "unknown user";
		return MFAD_LOGIN_DECOY;
	}
	if (strcasecmp(email, a->email) != 0) {
		*why = "not the address of this user";
		return MFAD_LOGIN_DECOY;
	}
	if (a->state == MFAD_ACCT_LOCKED || a->state == MFAD_ACCT_DISABLED) {
		*why = a->state == MFAD_ACCT_LOCKED ? "locked by an admin" :
		    "disabled";
		return MFAD_LOGIN_DECOY;
	}
	if (mfad_acct_rule_must_enroll(conf, a, now)) {
		*why = "enrollment refused by noenroll";
		return (flags & MSS_AUTH_F_NOENROLL) ? MFAD_LOGIN_DECOY :
		    MFAD_LOGIN_ENROLL;
	}
	*why = "reset refused by noreset";
	if (a->state == MFAD_ACCT_ACTIVE && !(flags & MSS_AUTH_F_NORESET))
		return MFAD_LOGIN_RESET;
	return MFAD_LOGIN_DECOY;
}

/*
 * The work a real code mail costs (a code, its hash, the rendering and
 * sealing of the message), done and thrown away for a decoy so that
 * both take as long. Nothing of it is kept or sent.
 */
static void
mfad_decoy_work(struct mfad_ctx *ctx, const struct mfad_login *l,
    const uint8_t token[MFAD_TOKEN_BYTES], const char *lang)
{
	struct mfad_mail_vars vars;
	char code[MFAD_CODE_MAX + 1], *msg = NULL, err[256];
	unsigned char *sealed = NULL;
	size_t len = 0, slen = 0;
	uint8_t h[32];

	mfad_code_new(ctx->conf->code_length, code);
	mfad_code_hash(ctx->keys, token, l->user, code, h);
	mfad_mail_vars_init(ctx, &vars, l->user, l->masked, l->service,
	    l->rhost, mfad_clock_real_s());
	vars.code = code;
	vars.minutes = mfad_minutes(ctx->conf);
	if (mfad_render_message(ctx->conf, MFAD_MAIL_RESET_CODE, lang,
	    ctx->conf->from, &vars, &msg, &len, err, sizeof(err)) == 0 &&
	    mfad_seal(ctx->keys, msg, len, &sealed, &slen) == 0) {
		sodium_memzero(sealed, slen);
		free(sealed);
	}
	if (msg != NULL) {
		sodium_memzero(msg, len);
		free(msg);
	}
	sodium_memzero(code, sizeof(code));
	sodium_memzero(h, sizeof(h));
}

/* Reads the record of key into *t (empty when there is none). */
static int MSS_WUR
mfad_reset_rec(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const uint8_t key[MFAD_KEY_LEN], struct mfad_throttle_rec *t)
{
	int r;

	r = mfad_throttle_get(txn, ctx->store, key, t);
	if (r == MSS_ERR_NOTFOUND) {
		memset(t, 0, sizeof(*t));
		r = 0;
	}
	return r;
}

/*
 * The limits of the empty-password path, read and applied alike to real
 * and decoy logins: the (user, typed address) record's resend_interval
 * and max_sends, the user's record (mfad_acct_rule_reset_user_max),
 * then the global ceiling. 0 with *t and *u filled, or
 * MSS_ERR_THROTTLED with *wait and *why, or a store error.
 */
static int MSS_WUR
mfad_reset_limits(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_login *l, struct mfad_throttle_rec *t,
    struct mfad_throttle_rec *u, uint64_t now, uint32_t *wait,
    const char **why)
{
	uint8_t ukey[MFAD_KEY_LEN];
	int r;

	mfad_throttle_user_key(ctx->keys, l->user, ukey);
	if ((r = mfad_reset_rec(ctx, txn, l->tkey, t)) != 0 ||
	    (r = mfad_reset_rec(ctx, txn, ukey, u)) != 0)
		return r;
	if (mfad_acct_rule_sends_throttle(ctx->conf, t->sends, &t->nsends, now,
	    wait) != 0) {
		*why = "per-address mail limit";
		return MSS_ERR_THROTTLED;
	}
	if (mfad_acct_rule_reset_user_throttle(ctx->conf, u->sends,
	    &u->nsends, now, wait) != 0) {
		*why = "per-user reset limit";
		return MSS_ERR_THROTTLED;
	}
	if (mfad_outbox_ceiling_full(ctx->outbox,
	    ctx->conf->mail_max_per_minute, wait)) {
		*why = "global mail ceiling";
		return MSS_ERR_THROTTLED;
	}
	return 0;
}

/*
 * Audits a throttled request of l in rq's transaction (one record a
 * minute for a caller that keeps asking), commits, answers "throttled".
 */
static int MSS_WUR
mfad_reset_throttled(struct mfad_rq *rq, const struct mfad_login *l,
    const char *why, uint32_t wait)
{
	struct mfad_audit_ev ev = { "throttled", l->user, l->service,
	    l->rhost, "failure", why };
	int r;

	if ((r = mfad_audit_agg(rq->ctx, rq->txn, &ev, l->caller_uid,
	    l->user)) != 0 || (r = mfad_rq_end(rq, 1)) != 0)
		return r;
	return mfad_reply_auth(rq->out, &rq->rtype, MSS_AUTH_THROTTLED, "", "",
	    0, 0, wait);
}

/*
 * A code for l (new or resent), the same steps for real and decoy
 * logins: the mail (or the same work thrown away), the send counted in
 * the throttle record t, never in the account (whose sends would tell
 * of its recent sign-ins).
 */
static int MSS_WUR
mfad_reset_send(struct mfad_ctx *ctx, struct mfad_txn *txn, struct mfad_acct *a,
    struct mfad_login *l, const uint8_t token[MFAD_TOKEN_BYTES],
    const uint8_t key[32], const char *lang, struct mfad_throttle_rec *t,
    struct mfad_throttle_rec *u, uint64_t now)
{
	uint8_t ukey[MFAD_KEY_LEN];
	int r;

	if ((r = mfad_login_send_code(ctx, txn, a, l, token, key, now)) != 0)
		return r;
	if (l->kind == MFAD_LOGIN_DECOY)
		mfad_decoy_work(ctx, l, token, lang);
	mfad_throttle_user_key(ctx->keys, l->user, ukey);
	if ((r = mfad_throttle_send_add(txn, ctx->store, l->tkey, now,
	    t)) != 0)
		return r;
	return mfad_throttle_send_add(txn, ctx->store, ukey, now, u);
}

int
mfad_reset_start(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	const struct mfad_peer *peer = rq->peer;
	struct mss_buf *req = rq->in;
	const struct mfad_conf *conf = ctx->conf;
	struct mfad_auth_req q;
	struct mfad_acct *a = &rq->acct;
	struct mfad_login l;
	struct mfad_throttle_rec t, u;
	uint8_t token[MFAD_TOKEN_BYTES], key[32], kind;
	char hex[2 * MFAD_TOKEN_BYTES + 1];
	const char *why = NULL, *limit = NULL;
	uint32_t wait = 0;
	uint64_t now = mfad_clock_real_s();
	int r, found = 0;

	memset(a, 0, sizeof(*a));
	memset(token, 0, sizeof(token));
	memset(hex, 0, sizeof(hex));
	if ((r = mfad_auth_req_parse(req, &q, 0)) != 0)
		goto out;
	if ((r = mfad_peer_check(rq, q.user, q.service)) != 0)
		goto out;
	if ((r = mfad_rq_begin(rq, 0)) != 0)
		goto out;
	r = strlen(q.user) > MFAD_USER_MAX ? MSS_ERR_NOTFOUND :
	    mfad_rq_acct_load(rq, q.user);
	if (r != 0 && r != MSS_ERR_NOTFOUND)
		goto out;
	found = r == 0;
	if (!found)
		memset(a, 0, sizeof(*a));
	kind = mfad_reset_kind(conf, a, found, q.email, q.flags, now, &why);
	/*
	 * The masked address always comes from what was typed, so that a
	 * real login and a decoy cannot differ even in letter case.
	 */
	mfad_login_init(ctx, &l, kind, peer, q.user, q.service, q.rhost,
	    q.email, q.device, now);
	l.has_tkey = 1;
	mfad_throttle_key(ctx->keys, q.user, q.email, l.tkey);
	r = mfad_reset_limits(ctx, rq->txn, &l, &t, &u, now, &wait, &limit);
	if (r == MSS_ERR_THROTTLED) {
		r = mfad_reset_throttled(rq, &l, limit, wait);
		goto out;
	}
	if (r != 0)
		goto out;
	mfad_token_new(now, token, hex);
	mfad_token_key(token, key);
	r = mfad_reset_send(ctx, rq->txn, a, &l, token, key, q.lang, &t, &u,
	    now);
	if (r == MSS_ERR_THROTTLED) {
		/* The ceiling filled since it was read: rare, and the same
		 * answer as above. */
		r = mfad_reset_throttled(rq, &l, "global mail ceiling", 60);
		goto out;
	}
	if (r != 0)
		goto out;
	{
		struct mfad_audit_ev ev = { kind == MFAD_LOGIN_ENROLL ?
		    "enroll_started" : "reset_requested", q.user, q.service,
		    q.rhost, kind == MFAD_LOGIN_DECOY ? "failure" : "info",
		    kind == MFAD_LOGIN_DECOY ? why : NULL };
		char detail[128];

		if (kind == MFAD_LOGIN_DECOY) {
			snprintf(detail, sizeof(detail), "%s: nothing sent",
			    why);
			ev.detail = detail;
		}
		/* The account is not written: nothing of it changed. */
		if ((r = mfad_login_put(rq->txn, ctx->store, key, &l)) != 0 ||
		    (r = mfad_audit(ctx, rq->txn, &ev)) != 0)
			goto out;
	}
	r = mfad_commit_code_sent(rq, hex, l.masked, "");
out:
	mfad_rq_abort(rq);
	sodium_memzero(token, sizeof(token));
	sodium_memzero(hex, sizeof(hex));
	mfad_auth_req_free(&q);
	return r;
}

int
mfad_code_resend(struct mfad_rq *rq, struct mfad_acct *a,
    struct mfad_login *l, const uint8_t token[MFAD_TOKEN_BYTES],
    const uint8_t key[32], const char *hex)
{
	struct mfad_ctx *ctx = rq->ctx;
	struct mfad_throttle_rec t, u;
	const char *limit = NULL;
	uint32_t wait = 0;
	uint64_t now = mfad_clock_real_s();
	int r;

	/* Locked by an admin since it started: no code that cannot work. */
	if (l->kind != MFAD_LOGIN_DECOY && (a->state == MFAD_ACCT_LOCKED ||
	    a->state == MFAD_ACCT_DISABLED))
		return mfad_reply_auth(rq->out, &rq->rtype, MSS_AUTH_DENIED,
		    "", "", 0, 0, 0);
	r = mfad_reset_limits(ctx, rq->txn, l, &t, &u, now, &wait, &limit);
	if (r == MSS_ERR_THROTTLED)
		return mfad_reset_throttled(rq, l, limit, wait);
	if (r != 0)
		return r;
	/* The new code replaces the old one: its hash is overwritten. */
	r = mfad_reset_send(ctx, rq->txn, a, l, token, key, a->lang, &t, &u,
	    now);
	if (r == MSS_ERR_THROTTLED)
		return mfad_reset_throttled(rq, l, "global mail ceiling", 60);
	if (r != 0)
		return r;
	{
		struct mfad_audit_ev ev = { "code_resent", l->user,
		    l->service, l->rhost, "info", NULL };

		if ((r = mfad_login_put(rq->txn, ctx->store, key, l)) != 0 ||
		    (r = mfad_audit(ctx, rq->txn, &ev)) != 0)
			return r;
	}
	return mfad_commit_code_sent(rq, hex, l->masked, "");
}

int
mfad_invite_mail(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_acct *a)
{
	struct mfad_mail_vars vars;
	char masked[MFAD_EMAIL_MAX + 12];
	uint64_t now = mfad_clock_real_s();

	if (mss_addr_mask(a->email, masked, sizeof(masked)) != 0)
		masked[0] = '\0';
	mfad_mail_vars_init(ctx, &vars, a->user, masked, "mfadctl", NULL, now);
	return mfad_outbox_queue(ctx, txn, MFAD_MAIL_INVITE, a->user,
	    a->email, a->lang, &vars, now + MFAD_INVITE_TTL, NULL);
}

/*
 * RESULT 19 for a new password the policy refused: the English reason
 * for the log, then its number, which the module words (PROTOCOL.md).
 */
static int MSS_WUR
mfad_reply_pw_refused(struct mss_buf *rep, uint8_t *rtype,
    enum mss_pw_reason reason)
{
	int r;

	if ((r = mfad_reply_result(rep, rtype, MSS_ERR_REFUSED,
	    mfad_pw_reason_str(reason))) != 0)
		return r;
	return mss_buf_put_u32(rep, (uint32_t)reason);
}

int
mfad_set_password(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	const struct mfad_conf *conf = ctx->conf;
	struct mfad_login l;
	struct mfad_acct *a = &rq->acct;
	uint8_t token[MFAD_TOKEN_BYTES], key[32];
	char *hex = NULL, *pw = NULL, hash[MFAD_HASH_MAX], detail[128];
	enum mss_pw_reason reason;
	uint64_t now = mfad_clock_real_s();
	uint64_t seen = 0;
	unsigned n = 0;
	int r, cleared;

	hash[0] = '\0';
	if ((r = mss_buf_get_str(req, &hex, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &pw, MSS_PASS_MAX)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;

	/* Check, then hash with no transaction open, then check again. */
	if ((r = mfad_rq_begin(rq, 1)) != 0)
		goto out;
	r = mfad_login_open(rq, hex, token, key, &l);
	mfad_rq_abort(rq);
	if (r == MSS_ERR_NOTFOUND || (r == 0 && !mfad_login_rule_may_set(&l, now))) {
		r = mfad_reply_result(rep, rtype, MSS_ERR_NOTFOUND,
		    "no login may set a password here");
		goto out;
	}
	if (r != 0)
		goto out;
	r = mfad_pw_policy(conf, a->user, a->email, pw, &reason);
	mfad_rq_acct_drop(rq);
	if (r != 0) {
		struct mfad_audit_ev ev = { "password_refused", l.user,
		    l.service, l.rhost, "failure",
		    mfad_pw_reason_str(reason) };

		if ((r = mfad_audit_rq(rq, &ev)) == 0)
			r = mfad_reply_pw_refused(rep, rtype, reason);
		goto out;
	}
	if ((r = mfad_pw_hash(conf, pw, hash)) != 0)
		goto out;

	if ((r = mfad_rq_begin(rq, 0)) != 0)
		goto out;
	if ((r = mfad_login_open(rq, hex, token, key, &l)) != 0)
		goto out;
	/* An admin lock that came after the code is not undone here. */
	if (!mfad_login_rule_may_set(&l, now) || a->state == MFAD_ACCT_LOCKED ||
	    a->state == MFAD_ACCT_DISABLED) {
		r = mfad_reply_result(rep, rtype, MSS_ERR_NOTFOUND,
		    "no login may set a password here");
		goto out;
	}
	/* The mailbox is proven: a lockout after failures ends with the
	 * new password, and the record says so. */
	cleared = a->locked_until > now || a->failures > 0;
	memcpy(a->pwhash, hash, sizeof(hash));
	if ((r = mfad_acct_failures_clear(rq->txn, ctx->store, a->user,
	    a)) != 0)
		goto out;
	/* A new password ends every remembered device (SECURITY 17). Their
	 * last use, the time of their logins, stays in the account's last
	 * login, which the put below writes (a list that does not read
	 * only loses that time). */
	if (mfad_device_list(rq->txn, ctx->store, a->user,
	    mfad_device_last_used, &seen) != 0)
		seen = 0;
	if (seen > a->last_login)
		a->last_login = seen;
	if ((r = mfad_device_revoke_all(rq->txn, ctx->store, a->user, &n)) != 0)
		goto out;
	snprintf(detail, sizeof(detail), "devices_revoked=%u%s", n,
	    cleared ? ", lock and failures cleared" : "");
	/* A re-enrollment: the recovery codes stood in for the mailbox of
	 * the old enrollment and go with it, as `user reenroll` drops them.
	 * A reset keeps them (they replace the mailbox, not the password),
	 * and so does a first enrollment (an admin may hand them over
	 * with the invitation). */
	if (l.kind == MFAD_LOGIN_ENROLL && a->enrolled != 0 &&
	    a->nrecovery > 0) {
		snprintf(detail + strlen(detail), sizeof(detail) -
		    strlen(detail), ", recovery_revoked=%u",
		    (unsigned)a->nrecovery);
		mfad_acct_recovery_set(a, NULL, 0);
	}
	if (l.kind == MFAD_LOGIN_ENROLL) {
		a->state = MFAD_ACCT_ACTIVE;
		a->reenroll = 0;
		a->enrolled = now;
		a->last_login = now;
		l.state = MFAD_LOGIN_ENROLLED;
	} else
		l.state = MFAD_LOGIN_DONE;
	{
		struct mfad_audit_ev ev = { l.kind == MFAD_LOGIN_ENROLL ?
		    "enrolled" : "password_reset", l.user, l.service, l.rhost,
		    "success", detail };

		if ((r = mfad_acct_put(rq->txn, ctx->store, a,
		    a->email)) != 0 ||
		    (r = mfad_login_put(rq->txn, ctx->store, key, &l)) != 0 ||
		    (r = mfad_audit(ctx, rq->txn, &ev)) != 0 ||
		    (r = mfad_notice(ctx, rq->txn, l.kind == MFAD_LOGIN_ENROLL ?
		    MFAD_MAIL_ENROLLED : MFAD_MAIL_PASSWORD_CHANGED, a,
		    &l, now)) != 0)
			goto out;
	}
	r = mfad_rq_end(rq, 1);
	if (r != 0)
		goto out;
	mfad_outbox_kick(ctx->outbox);
	r = mfad_reply_result(rep, rtype, 0, "password set");
out:
	mfad_rq_abort(rq);
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(token, sizeof(token));
	mss_str_free(hex);
	mss_str_free(pw);
	return r;
}

int
mfad_change_password(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	const struct mfad_conf *conf = ctx->conf;
	char *service = NULL, *user = NULL, *old = NULL, *pw = NULL;
	char hash[MFAD_HASH_MAX], nh[MFAD_HASH_MAX];
	struct mfad_acct *a = &rq->acct;
	enum mss_pw_reason reason;
	const char *why = NULL;
	uint64_t now = mfad_clock_real_s();
	int r, found = 0, ok, locked_now = 0;

	hash[0] = nh[0] = '\0';
	memset(a, 0, sizeof(*a));
	if ((r = mss_buf_get_str(req, &service, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &user, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &old, MSS_PASS_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &pw, MSS_PASS_MAX)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;
	if ((r = mfad_peer_check(rq, user, service)) != 0)
		goto out;
	if ((r = mfad_rq_begin(rq, 1)) != 0)
		goto out;
	r = strlen(user) > MFAD_USER_MAX ? MSS_ERR_NOTFOUND :
	    mfad_rq_acct_load(rq, user);
	mfad_rq_abort(rq);
	if (r != 0 && r != MSS_ERR_NOTFOUND)
		goto out;
	found = r == 0;
	if (found && a->state == MFAD_ACCT_ACTIVE)
		memcpy(hash, a->pwhash, sizeof(hash));
	ok = mfad_pw_verify(conf, hash, old);
	/* A refusal by policy already says that the old password was right:
	 * the account's language tells nothing more. */
	if (ok && (r = mfad_pw_policy(conf, user, found ? a->email : "", pw,
	    &reason)) != 0) {
		if ((r = mfad_reply_pw_refused(rep, rtype, reason)) == 0)
			r = mss_buf_put_str(rep, mfad_acct_reply_lang(a));
		goto out;
	}
	if (ok && strcmp(old, pw) == 0) {
		if ((r = mfad_reply_pw_refused(rep, rtype,
		    MSS_PW_SAME_AS_OLD)) == 0)
			r = mss_buf_put_str(rep, mfad_acct_reply_lang(a));
		goto out;
	}
	if (ok && (r = mfad_pw_hash(conf, pw, nh)) != 0)
		goto out;

	if ((r = mfad_rq_begin(rq, 0)) != 0)
		goto out;
	r = found ? mfad_rq_acct_load(rq, user) : MSS_ERR_NOTFOUND;
	if (r != 0 && r != MSS_ERR_NOTFOUND)
		goto out;
	found = r == 0;
	if (found) {
		mfad_acct_rule_expire_lock(a, now);
		if (sodium_memcmp(hash, a->pwhash, sizeof(hash)) != 0)
			ok = 0;
		if (mfad_acct_rule_is_locked(a, now))
			why = "account locked";
		else if (!ok) {
			why = "wrong password";
			locked_now = mfad_acct_rule_fail(conf, a, now);
			if ((r = mfad_login_acct_fail(rq->txn, ctx, a,
			    locked_now, now)) != 0)
				goto out;
		}
	} else
		why = "unknown user";
	if (why != NULL) {
		struct mfad_audit_ev ev = { "password_change_denied", user,
		    service, "", "failure", why };

		if ((found && (r = mfad_acct_put(rq->txn, ctx->store, a,
		    a->email)) != 0) ||
		    (r = mfad_audit(ctx, rq->txn, &ev)) != 0)
			goto out;
		if (locked_now && (r = mfad_lock_event(ctx, rq->txn, a,
		    locked_now, service, "")) != 0)
			goto out;
		r = mfad_rq_end(rq, 1);
		if (r == 0)
			r = mfad_reply_result(rep, rtype, MSS_ERR_NOTFOUND,
			    "authentication failed");
		goto out;
	}
	memcpy(a->pwhash, nh, sizeof(nh));
	if ((r = mfad_acct_failures_clear(rq->txn, ctx->store, a->user,
	    a)) != 0)
		goto out;
	{
		struct mfad_audit_ev ev = { "password_changed", user, service,
		    "", "success", NULL };

		if ((r = mfad_acct_put(rq->txn, ctx->store, a,
		    a->email)) != 0 ||
		    (r = mfad_audit(ctx, rq->txn, &ev)) != 0 ||
		    (r = mfad_notice(ctx, rq->txn, MFAD_MAIL_PASSWORD_CHANGED,
		    a,
		    NULL, now)) != 0)
			goto out;
	}
	r = mfad_rq_end(rq, 1);
	if (r != 0)
		goto out;
	mfad_outbox_kick(ctx->outbox);
	if ((r = mfad_reply_result(rep, rtype, 0, "password changed")) == 0)
		r = mss_buf_put_str(rep, mfad_acct_reply_lang(a));
out:
	mfad_rq_abort(rq);
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(nh, sizeof(nh));
	mss_str_free(service);
	mss_str_free(user);
	mss_str_free(old);
	mss_str_free(pw);
	return r;
}
