#include "config.h"

#include "mfad_lockout.h"

int
mfad_acct_is_locked(const struct mfad_acct *a, uint64_t now)
{
	return a->state == MFAD_ACCT_LOCKED || a->state == MFAD_ACCT_DISABLED ||
	    a->locked_until > now;
}

uint64_t
mfad_lock_duration(const struct mfad_conf *conf, uint32_t failures)
{
	uint64_t d = conf->lock_duration;
	uint32_t n;

	if (failures >= MFAD_LOCK_HARD)
		return MFAD_LOCK_FOREVER;
	if (failures < conf->lock_threshold)
		return 0;
	/* Each failure past the threshold doubles the lock. */
	for (n = failures - conf->lock_threshold;
	    n > 0 && d < MFAD_LOCK_MAX_SECONDS; n--)
		d *= 2;
	return d < MFAD_LOCK_MAX_SECONDS ? d : MFAD_LOCK_MAX_SECONDS;
}

int
mfad_acct_fail(const struct mfad_conf *conf, struct mfad_acct *a, uint64_t now)
{
	uint64_t d;

	if (a->failures < UINT32_MAX)
		a->failures++;
	if (a->locked_until > now || (d = mfad_lock_duration(conf,
	    a->failures)) == 0)
		return MFAD_LOCK_NONE;
	a->locked_until = d == MFAD_LOCK_FOREVER ? MFAD_LOCK_FOREVER :
	    now + d;
	/* The owner hears of the first lock, then once a day at most,
	 * and always of the last one. */
	if (d == MFAD_LOCK_FOREVER || a->lock_noticed == 0 ||
	    now >= a->lock_noticed + MFAD_LOCK_NOTICE_EVERY) {
		a->lock_noticed = now;
		return MFAD_LOCK_NOTIFY;
	}
	return MFAD_LOCK_QUIET;
}

void
mfad_acct_expire_lock(struct mfad_acct *a, uint64_t now)
{
	if (a->locked_until != 0 && a->locked_until <= now)
		a->locked_until = 0;
}

void
mfad_acct_clear_failures(struct mfad_acct *a)
{
	a->failures = 0;
	a->locked_until = 0;
	a->lock_noticed = 0;
}
