/*
 * Lockout rules: pure functions of (conf, account, now), so that they are
 * tested in microseconds and the handlers only apply them.
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
 */
#ifndef MFAD_LOCKOUT_H
#define MFAD_LOCKOUT_H

#include <stdint.h>

#include "mfad_conf.h"
#include "mfad_store.h"

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
int mfad_acct_is_locked(const struct mfad_acct *a, uint64_t now);
/* Counts one failure and locks the account when the rules say so.
 * Returns an enum mfad_lock_event (non-zero: a lock began); on
 * MFAD_LOCK_NOTIFY it has set a->lock_noticed to now. */
int mfad_acct_fail(const struct mfad_conf *conf, struct mfad_acct *a,
    uint64_t now);
/* A lock that ran out ends; the failure count stays. */
void mfad_acct_expire_lock(struct mfad_acct *a, uint64_t now);
/* How long the lock begun by the failure numbered `failures` lasts
 * (0: that failure locks nothing; MFAD_LOCK_FOREVER: until unlocked). */
uint64_t mfad_lock_duration(const struct mfad_conf *conf, uint32_t failures);
/* Ends the failure streak and any timed lock (a success, an unlock). */
void mfad_acct_clear_failures(struct mfad_acct *a);

#endif /* MFAD_LOCKOUT_H */
