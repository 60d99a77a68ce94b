/*
 * Account rules: pure functions of (conf, account, now), with no store,
 * no I/O, no log and no global, so that they are tested in microseconds
 * and the handlers only apply them.
 *
 * Failures are consecutive failed proofs (password or sign-in code) of an
 * account; only a success (or an admin unlock, or a password set through
 * a mailed code) ends the streak. At `threshold` failures the account
 * locks for `duration`; the end of a lock does not forgive anything: each
 * further failure locks it again, for twice as long as the previous lock
 * (at most MFAD_LOCK_MAX_SECONDS). At MFAD_LOCK_HARD failures it stays
 * locked until an admin unlocks it or its owner sets a new password
 * through a mailed code: an account never allows more than 100
 * consecutive failed guesses (NIST SP 800-63B).
 *
 * Mail throttles: resend_interval between two mails, max_sends in any
 * hour; the empty-password path also allows a user 4 * max_sends (at
 * most MFAD_SENDS_MAX) an hour whatever address was typed.
 */
#ifndef MFAD_ACCT_H
#define MFAD_ACCT_H

#include <stdint.h>

#include "mfad_conf.h"
#include "mfad_store.h"
#include "mss_err.h"

#define MFAD_LOCK_HARD		100		/* failures: locked for good */
#define MFAD_LOCK_FOREVER	UINT64_MAX	/* locked_until of that lock */
#define MFAD_LOCK_MAX_SECONDS	(30 * 86400)	/* longest timed lock */
#define MFAD_LOCK_NOTICE_EVERY	86400		/* at most one mail a day */

enum mfad_lock_event {
	MFAD_LOCK_NONE = 0,	/* this failure locked nothing */
	MFAD_LOCK_QUIET = 1,	/* a lock began; the owner was told lately */
	MFAD_LOCK_NOTIFY = 2,	/* a lock began; mail the owner */
};

/* 1 when the account may not log in now (admin lock, disabled, or a
 * lockout that has not run out). */
int mfad_acct_rule_is_locked(const struct mfad_acct *a, uint64_t now);
/* Counts one failure and locks the account when the rules say so.
 * Returns an enum mfad_lock_event (non-zero: a lock began); on
 * MFAD_LOCK_NOTIFY it has set a->lock_noticed to now. */
int mfad_acct_rule_fail(const struct mfad_conf *conf, struct mfad_acct *a,
    uint64_t now);
/* A lock that ran out ends; the failure count stays. */
void mfad_acct_rule_expire_lock(struct mfad_acct *a, uint64_t now);
/* How long the lock begun by the failure numbered `failures` lasts
 * (0: that failure locks nothing; MFAD_LOCK_FOREVER: until unlocked). */
uint64_t mfad_acct_rule_lock_duration(const struct mfad_conf *conf,
    uint32_t failures);
/* Ends the failure streak and any timed lock (a success, an unlock). */
void mfad_acct_rule_clear_failures(struct mfad_acct *a);

/* 1 when the account must (re-)enroll before it can log in: invited,
 * marked by `mfadctl user reenroll`, or enrolled before the policy date
 * once that date has come. */
int mfad_acct_rule_must_enroll(const struct mfad_conf *conf,
    const struct mfad_acct *a, uint64_t now);
/* The enum mss_acct_state an ACCT reply (and `mfadctl user show`) gives
 * for an existing account. */
uint8_t mfad_acct_rule_wire_state(const struct mfad_conf *conf,
    const struct mfad_acct *a, uint64_t now);

/*
 * Per-account mail throttle: resend_interval between two mails and
 * max_sends in any hour (a's send times are pruned to the last hour).
 * 0, or MSS_ERR_THROTTLED with *wait seconds.
 */
int mfad_acct_rule_throttle(const struct mfad_conf *conf,
    struct mfad_acct *a, uint64_t now, uint32_t *wait) MSS_WUR;
/* The same rule on any list of send times (newest last, *nsends of
 * them, pruned to the last hour in place). */
int mfad_acct_rule_sends_throttle(const struct mfad_conf *conf,
    uint64_t *sends, uint32_t *nsends, uint64_t now, uint32_t *wait) MSS_WUR;
/* Appends now to such a list, dropping the oldest when it is full. */
void mfad_acct_rule_sends_record(uint64_t *sends, uint32_t *nsends,
    uint64_t now);
/*
 * When a's mail throttles end, as mfad_acct_rule_throttle applies them at
 * now, for the helpdesk: *recent, the mails of the last hour;
 * *resend_until, resend_interval after the newest; *hour_until, when
 * max_sends is reached, the time the hour's window has room again. A
 * throttle that does not hold gives 0. a is not changed.
 */
void mfad_acct_rule_throttle_ends(const struct mfad_conf *conf,
    const struct mfad_acct *a, uint64_t now, uint32_t *recent,
    uint64_t *resend_until, uint64_t *hour_until);
/* Empty-password starts and resends a user may make in an hour, whatever
 * address was typed: 4 * max_sends, at most MFAD_SENDS_MAX. */
uint32_t mfad_acct_rule_reset_user_max(const struct mfad_conf *conf);
/* That per-user limit on the user's send times (pruned to the last hour
 * in place): 0, or MSS_ERR_THROTTLED with *wait seconds. */
int mfad_acct_rule_reset_user_throttle(const struct mfad_conf *conf,
    uint64_t *sends, uint32_t *nsends, uint64_t now, uint32_t *wait) MSS_WUR;

#endif /* MFAD_ACCT_H */
