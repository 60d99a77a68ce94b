/*
 * The login lifecycle: a pending login is made (mfad_login_init), gets a
 * code (mfad_login_send_code) or none (mfad_login_no_code), is opened by
 * its token (mfad_login_open), may be taken over by a newer login of the
 * same account, and ends verified, dead (max_attempts, a lock), expired,
 * moved or done. The mfad_login_rule_* functions are its pure steps, of
 * (conf, login, account, now) only; the handlers do the I/O.
 */
#ifndef MFAD_LOGIN_H
#define MFAD_LOGIN_H

#include <stdint.h>

#include "mfad_acct.h"
#include "mfad_keys.h"
#include "mfad_conf.h"
#include "mfad_ctx.h"
#include "mfad_store.h"
#include "mss_err.h"

#define MFAD_LOGIN_GRACE	600	/* a login outlives its code by this */
#define MFAD_PASSWORD_WINDOW	600	/* seconds after the code to set it */

/* What a CODE request meets before any code is compared. */
enum mfad_login_gate {
	MFAD_LOGIN_GATE_OPEN = 0,	/* pending, live: compare the code */
	MFAD_LOGIN_GATE_MOVED,		/* a newer login took it over */
	MFAD_LOGIN_GATE_DEAD,		/* max_attempts or a lock ended it */
	MFAD_LOGIN_GATE_USED,		/* verified or done: a replay */
	MFAD_LOGIN_GATE_LOCKED,		/* the account may not go on */
	MFAD_LOGIN_GATE_EXPIRED,	/* the code ran out */
};

/* The gate for login l of account a at now. A sign-in stops at any lock;
 * an enrollment or a reset only at an admin lock or a disabled account
 * (proving the mailbox is what clears a lockout). */
enum mfad_login_gate mfad_login_rule_gate(const struct mfad_login *l,
    const struct mfad_acct *a, uint64_t now);
/* The right code was given: l is verified at now. */
void mfad_login_rule_verified(struct mfad_login *l, uint64_t now);
/* A wrong code was given (locked: the account's failure began a lock).
 * Returns 1 when l is now dead, else 0 with *left the tries left. */
int mfad_login_rule_wrong(const struct mfad_conf *conf, struct mfad_login *l,
    int locked, uint32_t *left);
/* 1 when l may set a password at now: an enrollment or a reset whose
 * code was accepted less than MFAD_PASSWORD_WINDOW ago. */
int mfad_login_rule_may_set(const struct mfad_login *l, uint64_t now);
/* 1 when a new sign-in of user may take over old's code at now: a live,
 * pending sign-in code of the same user, with tries left and a nonce
 * (one bound to its token, stored before nonces, cannot move). */
int mfad_login_rule_may_take_over(const struct mfad_conf *conf,
    const struct mfad_login *old, const char *user, uint64_t now);
/* l continues old's code (hash, nonce, expiry, attempts, sends, mail);
 * old becomes MOVED, so that one code still serves one login. */
void mfad_login_rule_take_over(struct mfad_login *old, struct mfad_login *l);

/* Fills a new pending login; the masked address is computed from email,
 * the device identity (may be "") is hashed with the user and host. */
void mfad_login_init(struct mfad_ctx *ctx, struct mfad_login *l,
    uint8_t kind, const struct mfad_peer *peer, const char *user,
    const char *service, const char *rhost, const char *email,
    const char *device, uint64_t now);
/*
 * Makes a new code for login l (store key `key`), with a fresh nonce
 * that binds its hash (token is no longer hashed in), stores both in l,
 * clears l's takeover notice and queues the mail for l's kind in txn (a
 * decoy gets an unmatchable hash and no mail). The code itself is wiped
 * before returning.
 */
int mfad_login_send_code(struct mfad_ctx *ctx, struct mfad_txn *txn,
    struct mfad_acct *a, struct mfad_login *l,
    const uint8_t token[MFAD_TOKEN_BYTES], const uint8_t key[32],
    uint64_t now) MSS_WUR;
/* A sign-in login with no mailed code (the mail limit refused one): it
 * can end only with a recovery code, or with a later resend's code. */
void mfad_login_no_code(struct mfad_ctx *ctx, struct mfad_login *l,
    uint64_t now);
/* Counts the code mailed at now for l in its account a (the per-account
 * throttle), in the store and in a, unless l is a decoy. The
 * empty-password path counts its sends in its throttle records instead. */
int mfad_login_acct_send(struct mfad_txn *txn, struct mfad_ctx *ctx,
    struct mfad_acct *a, const struct mfad_login *l, uint64_t now) MSS_WUR;
/* Stores the failure that mfad_acct_rule_fail counted in a at now
 * (event: what it returned): the failure and its lock, and the lock
 * notice's time on MFAD_LOCK_NOTIFY; a gets the counters as stored. */
int mfad_login_acct_fail(struct mfad_txn *txn, struct mfad_ctx *ctx,
    struct mfad_acct *a, int event, uint64_t now) MSS_WUR;
/* Stores a unless l is a decoy, whose account is a stand-in. */
int mfad_login_acct_save(struct mfad_txn *txn, struct mfad_ctx *ctx,
    const struct mfad_acct *a, const struct mfad_login *l) MSS_WUR;
/*
 * Opens the login named by hex for rq's peer, in rq's transaction: fills
 * token, key, l and the request's account rq->acct (a stand-in for a
 * decoy). MSS_ERR_NOTFOUND for a malformed or unknown login, MSS_ERR_PERM
 * when the peer did not start it.
 */
int mfad_login_open(struct mfad_rq *rq, const char *hex,
    uint8_t token[MFAD_TOKEN_BYTES], uint8_t key[32], struct mfad_login *l)
    MSS_WUR;

#endif /* MFAD_LOGIN_H */
