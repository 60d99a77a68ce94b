#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "mfad_audit.h"
#include "mfad_auth.h"
#include "mfad_code.h"
#include "mfad_enroll.h"
#include "mfad_log.h"
#include "mfad_outbox.h"
#include "mfad_pw.h"
#include "mss_err.h"
#include "mss_proto.h"

#define MFAD_PASSWORD_WINDOW	600	/* seconds after the code to set it */

/* ENROLL_START and RESET_START: the same shape, a different login kind. */
static int
mfad_code_start(struct mfad_ctx *ctx, const struct mfad_peer *peer,
    struct mss_buf *req, uint8_t *rtype, struct mss_buf *rep, uint8_t kind)
{
	const struct mfad_conf *conf = ctx->conf;
	struct mfad_auth_req q;
	struct mfad_acct a;
	struct mfad_login l;
	uint8_t token[MFAD_TOKEN_BYTES], key[32];
	char hex[2 * MFAD_TOKEN_BYTES + 1];
	const char *event = kind == MFAD_LOGIN_ENROLL ? "enroll_started" :
	    "reset_requested";
	MDB_txn *txn = NULL;
	uint32_t wait = 0;
	uint64_t now = mfad_now();
	int r, found = 0, real;

	memset(&a, 0, sizeof(a));
	if ((r = mfad_auth_req_parse(req, &q, 0)) != 0)
		goto out;
	if ((r = mfad_peer_check(ctx, peer, q.user, q.service)) != 0)
		goto out;
	if ((r = mfad_txn_begin(ctx->store, 0, &txn)) != 0)
		goto out;
	r = strlen(q.user) > MFAD_USER_MAX ? MSS_ERR_NOTFOUND :
	    mfad_acct_get(txn, ctx->store, q.user, &a);
	if (r != 0 && r != MSS_ERR_NOTFOUND)
		goto out;
	found = r == 0;
	if (found)
		mfad_acct_expire_lock(&a, now);
	real = found && strcasecmp(q.email, a.email) == 0 &&
	    a.state != MFAD_ACCT_LOCKED && a.state != MFAD_ACCT_DISABLED;
	if (kind == MFAD_LOGIN_ENROLL)
		real = real && mfad_acct_must_enroll(conf, &a, now);
	else
		real = real && a.state == MFAD_ACCT_ACTIVE &&
		    !mfad_acct_must_enroll(conf, &a, now);

	if (!real && kind == MFAD_LOGIN_ENROLL) {
		struct mfad_audit_ev ev = { "enroll_denied", q.user,
		    q.service, q.rhost, "failure",
		    found ? "address or state does not match" :
		    "unknown user" };

		if ((r = mfad_audit(ctx, txn, &ev)) != 0 ||
		    (r = mfad_txn_commit(&txn)) != 0)
			goto out;
		r = mfad_reply_auth(rep, rtype, MSS_AUTH_DENIED, "", "", 0, 0,
		    0);
		goto out;
	}
	if (real && mfad_throttle(conf, &a, now, &wait) != 0) {
		r = mfad_commit_throttled(ctx, &txn, rep, rtype, q.user,
		    q.service, q.rhost, wait);
		goto out;
	}
	/*
	 * A reset for an address that is not enrolled gets a decoy: same
	 * answer, same prompts, no mail, and no code can ever match. The
	 * masked address always comes from what was typed, so the two
	 * cannot differ even in letter case.
	 */
	mfad_login_init(ctx, &l, real ? kind : MFAD_LOGIN_DECOY, peer, q.user,
	    q.service, q.rhost, q.email, q.device, now);
	mfad_token_new(token, hex);
	mfad_token_key(token, key);
	r = mfad_send_code(ctx, txn, &a, &l, token, key, now);
	if (r == MSS_ERR_THROTTLED) {
		mfad_txn_abort(&txn);
		r = mfad_reply_auth(rep, rtype, MSS_AUTH_THROTTLED, "", "", 0,
		    0, 60);
		goto out;
	}
	if (r != 0)
		goto out;
	{
		struct mfad_audit_ev ev = { event, q.user, q.service, q.rhost,
		    real ? "info" : "failure", real ? NULL :
		    "no enrolled account with this address: nothing sent" };

		if ((r = mfad_login_put(txn, ctx->store, key, &l)) != 0 ||
		    (r = mfad_acct_save(txn, ctx, &a, &l)) != 0 ||
		    (r = mfad_audit(ctx, txn, &ev)) != 0)
			goto out;
	}
	r = mfad_commit_code_sent(ctx, &txn, rep, rtype, hex, l.masked);
out:
	mfad_txn_abort(&txn);
	if (found)
		mfad_acct_wipe(&a);
	sodium_memzero(token, sizeof(token));
	sodium_memzero(hex, sizeof(hex));
	mfad_auth_req_free(&q);
	return r;
}

int
mfad_enroll_start(struct mfad_ctx *ctx, const struct mfad_peer *peer,
    struct mss_buf *req, uint8_t *rtype, struct mss_buf *rep)
{
	return mfad_code_start(ctx, peer, req, rtype, rep, MFAD_LOGIN_ENROLL);
}

int
mfad_reset_start(struct mfad_ctx *ctx, const struct mfad_peer *peer,
    struct mss_buf *req, uint8_t *rtype, struct mss_buf *rep)
{
	return mfad_code_start(ctx, peer, req, rtype, rep, MFAD_LOGIN_RESET);
}

/* The login may set a password now: its code was accepted recently. */
static int
mfad_may_set(const struct mfad_login *l, uint64_t now)
{
	return (l->kind == MFAD_LOGIN_ENROLL || l->kind == MFAD_LOGIN_RESET) &&
	    l->state == MFAD_LOGIN_VERIFIED &&
	    now <= l->verified + MFAD_PASSWORD_WINDOW;
}

int
mfad_set_password(struct mfad_ctx *ctx, const struct mfad_peer *peer,
    struct mss_buf *req, uint8_t *rtype, struct mss_buf *rep)
{
	const struct mfad_conf *conf = ctx->conf;
	struct mfad_login l;
	struct mfad_acct a;
	uint8_t token[MFAD_TOKEN_BYTES], key[32];
	char *hex = NULL, *pw = NULL, hash[MFAD_HASH_MAX], detail[64];
	const char *why;
	MDB_txn *txn = NULL;
	uint64_t now = mfad_now();
	unsigned n = 0;
	int r, have = 0;

	hash[0] = '\0';
	if ((r = mss_buf_get_str(req, &hex, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &pw, MSS_PASS_MAX)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;

	/* Check, then hash with no transaction open, then check again. */
	if ((r = mfad_txn_begin(ctx->store, 1, &txn)) != 0)
		goto out;
	r = mfad_login_open(ctx, peer, txn, hex, token, key, &l, &a);
	mfad_txn_abort(&txn);
	if (r == MSS_ERR_NOTFOUND || (r == 0 && !mfad_may_set(&l, now))) {
		if (r == 0)
			mfad_acct_wipe(&a);
		r = mfad_reply_result(rep, rtype, MSS_ERR_NOTFOUND,
		    "no login may set a password here");
		goto out;
	}
	if (r != 0)
		goto out;
	r = mfad_pw_policy(conf, a.user, a.email, pw, &why);
	mfad_acct_wipe(&a);
	if (r != 0) {
		struct mfad_audit_ev ev = { "password_refused", l.user,
		    l.service, l.rhost, "failure", why };

		if ((r = mfad_audit(ctx, NULL, &ev)) == 0)
			r = mfad_reply_result(rep, rtype, MSS_ERR_REFUSED, why);
		goto out;
	}
	if ((r = mfad_pw_hash(conf, pw, hash)) != 0)
		goto out;

	if ((r = mfad_txn_begin(ctx->store, 0, &txn)) != 0)
		goto out;
	if ((r = mfad_login_open(ctx, peer, txn, hex, token, key, &l, &a)) != 0)
		goto out;
	have = 1;
	if (!mfad_may_set(&l, now)) {
		r = mfad_reply_result(rep, rtype, MSS_ERR_NOTFOUND,
		    "no login may set a password here");
		goto out;
	}
	memcpy(a.pwhash, hash, sizeof(hash));
	a.failures = 0;
	a.locked_until = 0;
	/* A new password ends every remembered device (SECURITY 17). */
	if ((r = mfad_device_revoke_all(txn, ctx->store, a.user, &n)) != 0)
		goto out;
	snprintf(detail, sizeof(detail), "devices_revoked=%u", n);
	if (l.kind == MFAD_LOGIN_ENROLL) {
		a.state = MFAD_ACCT_ACTIVE;
		a.reenroll = 0;
		a.enrolled = now;
		a.last_login = now;
		l.state = MFAD_LOGIN_ENROLLED;
	} else
		l.state = MFAD_LOGIN_DONE;
	{
		struct mfad_audit_ev ev = { l.kind == MFAD_LOGIN_ENROLL ?
		    "enrolled" : "password_reset", l.user, l.service, l.rhost,
		    "success", detail };

		if ((r = mfad_acct_put(txn, ctx->store, &a, a.email)) != 0 ||
		    (r = mfad_login_put(txn, ctx->store, key, &l)) != 0 ||
		    (r = mfad_audit(ctx, txn, &ev)) != 0 ||
		    (r = mfad_notice(ctx, txn, MFAD_MAIL_PASSWORD_CHANGED, &a,
		    &l, now)) != 0)
			goto out;
	}
	r = mfad_txn_commit(&txn);
	if (r != 0)
		goto out;
	mfad_outbox_kick(ctx->outbox);
	r = mfad_reply_result(rep, rtype, 0, "password set");
out:
	mfad_txn_abort(&txn);
	if (have)
		mfad_acct_wipe(&a);
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(token, sizeof(token));
	mss_str_free(hex);
	mss_str_free(pw);
	return r;
}

int
mfad_change_password(struct mfad_ctx *ctx, const struct mfad_peer *peer,
    struct mss_buf *req, uint8_t *rtype, struct mss_buf *rep)
{
	const struct mfad_conf *conf = ctx->conf;
	char *service = NULL, *user = NULL, *old = NULL, *pw = NULL;
	char hash[MFAD_HASH_MAX], nh[MFAD_HASH_MAX];
	struct mfad_acct a;
	const char *why = NULL;
	MDB_txn *txn = NULL;
	uint64_t now = mfad_now();
	int r, found = 0, ok, locked_now = 0;

	hash[0] = nh[0] = '\0';
	memset(&a, 0, sizeof(a));
	if ((r = mss_buf_get_str(req, &service, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &user, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &old, MSS_PASS_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &pw, MSS_PASS_MAX)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;
	if ((r = mfad_peer_check(ctx, peer, user, service)) != 0)
		goto out;
	if ((r = mfad_txn_begin(ctx->store, 1, &txn)) != 0)
		goto out;
	r = strlen(user) > MFAD_USER_MAX ? MSS_ERR_NOTFOUND :
	    mfad_acct_get(txn, ctx->store, user, &a);
	mfad_txn_abort(&txn);
	if (r != 0 && r != MSS_ERR_NOTFOUND)
		goto out;
	found = r == 0;
	if (found && a.state == MFAD_ACCT_ACTIVE)
		memcpy(hash, a.pwhash, sizeof(hash));
	ok = mfad_pw_verify(conf, hash, old);
	if (ok && (r = mfad_pw_policy(conf, user, found ? a.email : "", pw,
	    &why)) != 0) {
		r = mfad_reply_result(rep, rtype, MSS_ERR_REFUSED, why);
		goto out;
	}
	if (ok && strcmp(old, pw) == 0) {
		r = mfad_reply_result(rep, rtype, MSS_ERR_REFUSED,
		    "same as the current password");
		goto out;
	}
	if (ok && (r = mfad_pw_hash(conf, pw, nh)) != 0)
		goto out;

	if ((r = mfad_txn_begin(ctx->store, 0, &txn)) != 0)
		goto out;
	r = found ? mfad_acct_get(txn, ctx->store, user, &a) : MSS_ERR_NOTFOUND;
	if (r != 0 && r != MSS_ERR_NOTFOUND)
		goto out;
	found = r == 0;
	if (found) {
		mfad_acct_expire_lock(&a, now);
		if (sodium_memcmp(hash, a.pwhash, sizeof(hash)) != 0)
			ok = 0;
		if (mfad_acct_is_locked(&a, now))
			why = "account locked";
		else if (!ok) {
			why = "wrong password";
			locked_now = mfad_acct_fail(conf, &a, now);
		}
	} else
		why = "unknown user";
	if (why != NULL) {
		struct mfad_audit_ev ev = { "password_change_denied", user,
		    service, "", "failure", why };

		if ((found && (r = mfad_acct_put(txn, ctx->store, &a,
		    a.email)) != 0) || (r = mfad_audit(ctx, txn, &ev)) != 0)
			goto out;
		if (locked_now && (r = mfad_lock_event(ctx, txn, &a,
		    locked_now, service, "")) != 0)
			goto out;
		r = mfad_txn_commit(&txn);
		if (r == 0)
			r = mfad_reply_result(rep, rtype, MSS_ERR_NOTFOUND,
			    "authentication failed");
		goto out;
	}
	memcpy(a.pwhash, nh, sizeof(nh));
	a.failures = 0;
	{
		struct mfad_audit_ev ev = { "password_changed", user, service,
		    "", "success", NULL };

		if ((r = mfad_acct_put(txn, ctx->store, &a, a.email)) != 0 ||
		    (r = mfad_audit(ctx, txn, &ev)) != 0 ||
		    (r = mfad_notice(ctx, txn, MFAD_MAIL_PASSWORD_CHANGED, &a,
		    NULL, now)) != 0)
			goto out;
	}
	r = mfad_txn_commit(&txn);
	if (r != 0)
		goto out;
	mfad_outbox_kick(ctx->outbox);
	r = mfad_reply_result(rep, rtype, 0, "password changed");
out:
	mfad_txn_abort(&txn);
	mfad_acct_wipe(&a);
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(nh, sizeof(nh));
	mss_str_free(service);
	mss_str_free(user);
	mss_str_free(old);
	mss_str_free(pw);
	return r;
}
