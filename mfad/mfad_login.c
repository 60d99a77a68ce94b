#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "mfad_auth_shared.h"
#include "mfad_login.h"
#include "mfad_outbox.h"
#include "mfad_str.h"
#include "mss_addr.h"
#include "mss_proto.h"

enum mfad_login_gate
mfad_login_rule_gate(const struct mfad_login *l, const struct mfad_acct *a,
    uint64_t now)
{
	if (l->state == MFAD_LOGIN_MOVED)
		return MFAD_LOGIN_GATE_MOVED;
	if (l->state == MFAD_LOGIN_DEAD)
		return MFAD_LOGIN_GATE_DEAD;
	if (l->state != MFAD_LOGIN_PENDING)
		return MFAD_LOGIN_GATE_USED;
	/* A lockout after failures does not stop a reset or an
	 * enrollment: proving the mailbox is what clears it. An admin
	 * lock does (it came after this login started). */
	if (l->kind == MFAD_LOGIN_SIGNIN ? mfad_acct_rule_is_locked(a, now) :
	    a->state == MFAD_ACCT_LOCKED || a->state == MFAD_ACCT_DISABLED)
		return MFAD_LOGIN_GATE_LOCKED;
	if (now >= l->code_expires)
		return MFAD_LOGIN_GATE_EXPIRED;
	return MFAD_LOGIN_GATE_OPEN;
}

void
mfad_login_rule_verified(struct mfad_login *l, uint64_t now)
{
	l->state = MFAD_LOGIN_VERIFIED;
	l->verified = now;
}

int
mfad_login_rule_wrong(const struct mfad_conf *conf, struct mfad_login *l,
    int locked, uint32_t *left)
{
	*left = 0;
	l->attempts++;
	if (l->attempts >= conf->code_max_attempts || locked) {
		l->state = MFAD_LOGIN_DEAD;
		return 1;
	}
	*left = conf->code_max_attempts - l->attempts;
	return 0;
}

int
mfad_login_rule_may_set(const struct mfad_login *l, uint64_t now)
{
	return (l->kind == MFAD_LOGIN_ENROLL || l->kind == MFAD_LOGIN_RESET) &&
	    l->state == MFAD_LOGIN_VERIFIED &&
	    now <= l->verified + MFAD_PASSWORD_WINDOW;
}

int
mfad_login_rule_may_take_over(const struct mfad_conf *conf,
    const struct mfad_login *old, const char *user, uint64_t now)
{
	return old->kind == MFAD_LOGIN_SIGNIN &&
	    old->state == MFAD_LOGIN_PENDING && now < old->code_expires &&
	    old->attempts < conf->code_max_attempts &&
	    strcmp(old->user, user) == 0 &&
	    !sodium_is_zero(old->code_nonce, sizeof(old->code_nonce));
}

void
mfad_login_rule_take_over(struct mfad_login *old, struct mfad_login *l)
{
	memcpy(l->code_nonce, old->code_nonce, sizeof(l->code_nonce));
	memcpy(l->codehash, old->codehash, sizeof(l->codehash));
	l->code_expires = old->code_expires;
	l->expires = l->code_expires + MFAD_LOGIN_GRACE;
	l->attempts = old->attempts;
	l->sends = old->sends;
	l->mail = old->mail;
	l->noticed = old->noticed;
	old->state = MFAD_LOGIN_MOVED;
}

void
mfad_login_init(struct mfad_ctx *ctx, struct mfad_login *l, uint8_t kind,
    const struct mfad_peer *peer, const char *user, const char *service,
    const char *rhost, const char *email, const char *device, uint64_t now)
{
	const char *colon;

	memset(l, 0, sizeof(*l));
	l->kind = kind;
	mfad_str_copy(l->user, sizeof(l->user), user);
	mfad_str_copy(l->service, sizeof(l->service), service);
	mfad_str_copy(l->rhost, sizeof(l->rhost), rhost);
	if (mss_addr_mask(email, l->masked, sizeof(l->masked)) != 0)
		mfad_str_copy(l->masked, sizeof(l->masked), "*****@*****");
	l->caller_uid = peer->uid;
	l->state = MFAD_LOGIN_PENDING;
	l->created = now;
	if (device[0] != '\0' && ctx->conf->remember_days > 0) {
		l->has_device = 1;
		mfad_device_hash(ctx->keys, user, ctx->hostname, device,
		    l->devhash);
		colon = strchr(device, ':');
		snprintf(l->device_kind, sizeof(l->device_kind), "%.*s",
		    colon == NULL ? 0 : (int)(colon - device), device);
	}
}

int
mfad_login_send_code(struct mfad_ctx *ctx, struct mfad_txn *txn,
    struct mfad_acct *a,
    struct mfad_login *l, const uint8_t token[MFAD_TOKEN_BYTES],
    const uint8_t key[32], uint64_t now)
{
	static const enum mfad_mail_kind kinds[] = {
		[MFAD_LOGIN_SIGNIN] = MFAD_MAIL_LOGIN_CODE,
		[MFAD_LOGIN_ENROLL] = MFAD_MAIL_ENROLL_CODE,
		[MFAD_LOGIN_RESET] = MFAD_MAIL_RESET_CODE,
	};
	const struct mfad_conf *conf = ctx->conf;
	struct mfad_mail_vars vars;
	char code[MFAD_CODE_MAX + 1];
	int r;

	(void)token;	/* the code is bound to its own nonce instead */
	l->code_expires = now + conf->code_ttl;
	l->expires = l->code_expires + MFAD_LOGIN_GRACE;
	l->mail = MSS_MAIL_QUEUED;
	l->sends++;
	/* A new code: a takeover of it is news to the owner again. */
	l->noticed = 0;
	mfad_code_nonce_new(l->code_nonce);
	if (l->kind == MFAD_LOGIN_DECOY) {
		/* Nothing is mailed, and no code can match this hash. */
		randombytes_buf(l->codehash, sizeof(l->codehash));
		return 0;
	}
	mfad_code_new(conf->code_length, code);
	mfad_code_hash(ctx->keys, l->code_nonce, a->user, code, l->codehash);
	mfad_mail_vars_init(ctx, &vars, a->user, l->masked, l->service,
	    l->rhost, now);
	vars.code = code;
	vars.minutes = mfad_minutes(conf);
	r = mfad_outbox_queue(ctx, txn, kinds[l->kind], a->user, a->email,
	    a->lang, &vars, l->code_expires, key);
	sodium_memzero(code, sizeof(code));
	return r;
}

void
mfad_login_no_code(struct mfad_ctx *ctx, struct mfad_login *l, uint64_t now)
{
	l->code_expires = now + ctx->conf->code_ttl;
	l->expires = l->code_expires + MFAD_LOGIN_GRACE;
	/* Nothing is waiting in the outbox: no "mail delayed" line. */
	l->mail = MSS_MAIL_SENT;
	mfad_code_nonce_new(l->code_nonce);
	randombytes_buf(l->codehash, sizeof(l->codehash));
}

int
mfad_login_acct_send(struct mfad_txn *txn, struct mfad_ctx *ctx,
    struct mfad_acct *a, const struct mfad_login *l, uint64_t now)
{
	if (l->kind == MFAD_LOGIN_DECOY)
		return 0;
	return mfad_acct_send_add(txn, ctx->store, a->user, now, a);
}

int
mfad_login_acct_fail(struct mfad_txn *txn, struct mfad_ctx *ctx,
    struct mfad_acct *a, int event, uint64_t now)
{
	int r;

	if ((r = mfad_acct_fail_add(txn, ctx->store, a->user, now,
	    a->locked_until, a)) != 0)
		return r;
	if (event == MFAD_LOCK_NOTIFY)
		r = mfad_acct_notice_set(txn, ctx->store, a->user,
		    MFAD_NOTICE_LOCK, now, a);
	return r;
}

int
mfad_login_acct_save(struct mfad_txn *txn, struct mfad_ctx *ctx,
    const struct mfad_acct *a, const struct mfad_login *l)
{
	if (l != NULL && l->kind == MFAD_LOGIN_DECOY)
		return 0;
	return mfad_acct_put(txn, ctx->store, a, a->email);
}

int
mfad_login_open(struct mfad_rq *rq, const char *hex,
    uint8_t token[MFAD_TOKEN_BYTES], uint8_t key[32], struct mfad_login *l)
{
	struct mfad_acct *a = &rq->acct;
	int r;

	if (mfad_token_parse(hex, token) != 0)
		return MSS_ERR_NOTFOUND;
	mfad_token_key(token, key);
	r = mfad_login_get(rq->txn, rq->ctx->store, key, l);
	if (r == MSS_ERR_NOTFOUND) {
		/* Stored before the start second led the key. */
		mfad_token_key_whole(token, key);
		r = mfad_login_get(rq->txn, rq->ctx->store, key, l);
	}
	if (r != 0)
		return r;
	/* A login continues only from the caller that started it, or a
	 * trusted PAM caller. */
	if (!(rq->peer->roles & MFAD_ROLE_PAM) &&
	    l->caller_uid != rq->peer->uid)
		return MSS_ERR_PERM;
	if (l->kind == MFAD_LOGIN_DECOY) {
		/* A stand-in account that is never stored. */
		sodium_memzero(a, sizeof(*a));
		mfad_str_copy(a->user, sizeof(a->user), l->user);
		a->state = MFAD_ACCT_ACTIVE;
		rq->has_acct = 1;
		return 0;
	}
	return mfad_rq_acct_load(rq, l->user);
}
