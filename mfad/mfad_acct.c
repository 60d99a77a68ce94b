#include "config.h"

#include <string.h>

#include "mfad_acct.h"
#include "mss_proto.h"

#define MFAD_HOUR	3600

int
mfad_acct_rule_is_locked(const struct mfad_acct *a, uint64_t now)
{
	return a->state == MFAD_ACCT_LOCKED || a->state == MFAD_ACCT_DISABLED ||
	    a->locked_until > now;
}

uint64_t
mfad_acct_rule_lock_duration(const struct mfad_conf *conf, uint32_t failures)
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
mfad_acct_rule_fail(const struct mfad_conf *conf, struct mfad_acct *a,
    uint64_t now)
{
	uint64_t d;

	if (a->failures < UINT32_MAX)
		a->failures++;
	if (a->locked_until > now || (d = mfad_acct_rule_lock_duration(conf,
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
mfad_acct_rule_expire_lock(struct mfad_acct *a, uint64_t now)
{
	if (a->locked_until != 0 && a->locked_until <= now)
		a->locked_until = 0;
}

void
mfad_acct_rule_clear_failures(struct mfad_acct *a)
{
	a->failures = 0;
	a->locked_until = 0;
	a->lock_noticed = 0;
}

int
mfad_acct_rule_must_enroll(const struct mfad_conf *conf,
    const struct mfad_acct *a, uint64_t now)
{
	if (a->state == MFAD_ACCT_INVITED || a->reenroll)
		return 1;
	/* The policy takes effect on its date, for those enrolled before. */
	return conf->reenroll_before > 0 &&
	    now >= (uint64_t)conf->reenroll_before &&
	    a->enrolled < (uint64_t)conf->reenroll_before;
}

uint8_t
mfad_acct_rule_wire_state(const struct mfad_conf *conf,
    const struct mfad_acct *a, uint64_t now)
{
	if (a->state == MFAD_ACCT_DISABLED)
		return MSS_ACCT_DISABLED;
	if (mfad_acct_rule_is_locked(a, now))
		return MSS_ACCT_LOCKED;
	if (a->state == MFAD_ACCT_INVITED)
		return MSS_ACCT_INVITED;
	if (mfad_acct_rule_must_enroll(conf, a, now))
		return MSS_ACCT_REENROLL;
	return MSS_ACCT_ACTIVE;
}

/* Keeps the send times of the last hour, in order. */
static void
mfad_acct_rule_prune(uint64_t *sends, uint32_t *nsends, uint64_t now)
{
	uint32_t i, j;

	for (i = j = 0; i < *nsends && i < MFAD_SENDS_MAX; i++)
		if (sends[i] + MFAD_HOUR > now)
			sends[j++] = sends[i];
	*nsends = j;
}

static uint32_t
mfad_acct_rule_max_sends(const struct mfad_conf *conf)
{
	return conf->code_max_sends < MFAD_SENDS_MAX ? conf->code_max_sends :
	    MFAD_SENDS_MAX;
}

int
mfad_acct_rule_sends_throttle(const struct mfad_conf *conf, uint64_t *sends,
    uint32_t *nsends, uint64_t now, uint32_t *wait)
{
	mfad_acct_rule_prune(sends, nsends, now);
	*wait = 0;
	if (*nsends > 0 &&
	    sends[*nsends - 1] + conf->code_resend_interval > now) {
		*wait = (uint32_t)(sends[*nsends - 1] +
		    conf->code_resend_interval - now);
		return MSS_ERR_THROTTLED;
	}
	if (*nsends >= mfad_acct_rule_max_sends(conf)) {
		*wait = (uint32_t)(sends[0] + MFAD_HOUR - now);
		return MSS_ERR_THROTTLED;
	}
	return 0;
}

int
mfad_acct_rule_throttle(const struct mfad_conf *conf, struct mfad_acct *a,
    uint64_t now, uint32_t *wait)
{
	return mfad_acct_rule_sends_throttle(conf, a->sends, &a->nsends, now,
	    wait);
}

void
mfad_acct_rule_sends_record(uint64_t *sends, uint32_t *nsends, uint64_t now)
{
	if (*nsends == MFAD_SENDS_MAX) {
		memmove(sends, sends + 1, (MFAD_SENDS_MAX - 1) * sizeof(sends[0]));
		(*nsends)--;
	}
	sends[(*nsends)++] = now;
}

void
mfad_acct_rule_throttle_ends(const struct mfad_conf *conf,
    const struct mfad_acct *a, uint64_t now, uint32_t *recent,
    uint64_t *resend_until, uint64_t *hour_until)
{
	uint64_t in[MFAD_SENDS_MAX];
	uint32_t n = a->nsends, max;

	memcpy(in, a->sends, sizeof(in));
	mfad_acct_rule_prune(in, &n, now);
	*recent = n;
	*resend_until = *hour_until = 0;
	if (n > 0 && in[n - 1] + conf->code_resend_interval > now)
		*resend_until = in[n - 1] + conf->code_resend_interval;
	max = mfad_acct_rule_max_sends(conf);
	/* Room again once all but max - 1 of them have left the hour. */
	if (n >= max)
		*hour_until = in[n - max] + MFAD_HOUR;
}

uint32_t
mfad_acct_rule_reset_user_max(const struct mfad_conf *conf)
{
	uint32_t max = 4 * conf->code_max_sends;

	return max < MFAD_SENDS_MAX ? max : MFAD_SENDS_MAX;
}

int
mfad_acct_rule_reset_user_throttle(const struct mfad_conf *conf,
    uint64_t *sends, uint32_t *nsends, uint64_t now, uint32_t *wait)
{
	uint32_t max = mfad_acct_rule_reset_user_max(conf);

	mfad_acct_rule_prune(sends, nsends, now);
	*wait = 0;
	if (*nsends >= max) {
		/* Room again when the oldest that count leave the hour. */
		*wait = (uint32_t)(sends[*nsends - max] + MFAD_HOUR - now);
		return MSS_ERR_THROTTLED;
	}
	return 0;
}
