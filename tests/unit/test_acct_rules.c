/*
 * Unit tests for mfad/mfad_lockout.c: the lockout rules (SECURITY.md
 * rules 7, 8, 37), as pure functions of (conf, account, now).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mfad_conf.h"
#include "mfad_acct.h"

#define T0	1800000000ULL

static struct mfad_conf *
conf_with(unsigned threshold, unsigned duration)
{
	struct mfad_conf *c = mfad_conf_new();

	assert_non_null(c);
	c->lock_threshold = threshold;
	c->lock_duration = duration;
	return c;
}

/* Guesses as fast as the locks allow: each one as soon as the lock
 * before it ran out. Returns how many were counted by `until`. */
static unsigned
guess_until(const struct mfad_conf *c, struct mfad_acct *a, uint64_t *now,
    uint64_t until, unsigned *locks, unsigned *mails)
{
	unsigned n = 0;
	int ev;

	while (*now < until) {
		mfad_acct_rule_expire_lock(a, *now);
		if (mfad_acct_rule_is_locked(a, *now)) {
			if (a->locked_until == MFAD_LOCK_FOREVER)
				break;
			*now = a->locked_until;
			continue;
		}
		ev = mfad_acct_rule_fail(c, a, *now);
		n++;
		if (ev != MFAD_LOCK_NONE)
			(*locks)++;
		if (ev == MFAD_LOCK_NOTIFY)
			(*mails)++;
		*now += 1;
	}
	return n;
}

/* The threshold locks; the lock's end does not forgive: the next failure
 * locks again, for twice as long. */
static void
test_lock_end_keeps_the_count(void **state)
{
	struct mfad_conf *c = conf_with(3, 900);
	struct mfad_acct a;

	(void)state;
	memset(&a, 0, sizeof(a));
	assert_int_equal(mfad_acct_rule_fail(c, &a, T0), MFAD_LOCK_NONE);
	assert_int_equal(mfad_acct_rule_fail(c, &a, T0), MFAD_LOCK_NONE);
	assert_int_equal(mfad_acct_rule_fail(c, &a, T0), MFAD_LOCK_NOTIFY);
	assert_true(a.locked_until == T0 + 900);
	assert_true(mfad_acct_rule_is_locked(&a, T0 + 899));
	mfad_acct_rule_expire_lock(&a, T0 + 900);
	assert_false(mfad_acct_rule_is_locked(&a, T0 + 900));
	assert_int_equal(a.failures, 3);
	/* One more failure: locked again at once, twice as long, and the
	 * owner was told of a lock less than a day ago. */
	assert_int_equal(mfad_acct_rule_fail(c, &a, T0 + 901), MFAD_LOCK_QUIET);
	assert_true(a.locked_until == T0 + 901 + 1800);
	assert_int_equal(a.failures, 4);
	/* Failures while locked are counted but lock nothing more. */
	assert_int_equal(mfad_acct_rule_fail(c, &a, T0 + 902), MFAD_LOCK_NONE);
	assert_true(a.locked_until == T0 + 901 + 1800);
	mfad_conf_free(c);
}

static void
test_durations_double_up_to_the_cap(void **state)
{
	struct mfad_conf *c = conf_with(10, 900);

	(void)state;
	assert_true(mfad_acct_rule_lock_duration(c, 9) == 0);
	assert_true(mfad_acct_rule_lock_duration(c, 10) == 900);
	assert_true(mfad_acct_rule_lock_duration(c, 11) == 1800);
	assert_true(mfad_acct_rule_lock_duration(c, 14) == 900 * 16);
	assert_true(mfad_acct_rule_lock_duration(c, 40) == MFAD_LOCK_MAX_SECONDS);
	assert_true(mfad_acct_rule_lock_duration(c, 99) == MFAD_LOCK_MAX_SECONDS);
	assert_true(mfad_acct_rule_lock_duration(c, 100) == MFAD_LOCK_FOREVER);
	assert_true(mfad_acct_rule_lock_duration(c, UINT32_MAX) == MFAD_LOCK_FOREVER);
	mfad_conf_free(c);
	c = conf_with(1, 604800);
	assert_true(mfad_acct_rule_lock_duration(c, 1) == 604800);
	assert_true(mfad_acct_rule_lock_duration(c, 2) == 1209600);
	assert_true(mfad_acct_rule_lock_duration(c, 3) == 2419200);
	assert_true(mfad_acct_rule_lock_duration(c, 4) == MFAD_LOCK_MAX_SECONDS);
	mfad_conf_free(c);
}

/*
 * NIST SP 800-63B: no more than 100 consecutive failed attempts. With
 * the defaults (10, 900 s), guessing as fast as the locks allow for ten
 * years gets exactly 100 guesses, then the account stays locked; the
 * owner gets a mail at the first lock, at most one a day, and at the last.
 */
static void
test_never_more_than_100_guesses(void **state)
{
	struct mfad_conf *c;
	struct mfad_acct a;
	uint64_t now = T0;
	unsigned locks = 0, mails = 0, n, threshold;

	(void)state;
	for (threshold = 1; threshold <= 100; threshold += 33) {
		c = conf_with(threshold, 1);
		memset(&a, 0, sizeof(a));
		now = T0;
		locks = mails = 0;
		n = guess_until(c, &a, &now, T0 + 10ULL * 365 * 86400,
		    &locks, &mails);
		assert_int_equal(n, MFAD_LOCK_HARD);
		assert_true(a.locked_until == MFAD_LOCK_FOREVER);
		assert_true(mfad_acct_rule_is_locked(&a, UINT64_MAX - 1));
		assert_int_equal(locks, MFAD_LOCK_HARD - threshold + 1);
		mfad_conf_free(c);
	}
	c = conf_with(10, 900);
	memset(&a, 0, sizeof(a));
	now = T0;
	locks = mails = 0;
	/* The first day: the locks of 15 min, 30 min, 1 h ... */
	n = guess_until(c, &a, &now, T0 + 86400, &locks, &mails);
	assert_true(n < 20);
	assert_int_equal(mails, 1);
	n += guess_until(c, &a, &now, T0 + 10ULL * 365 * 86400, &locks,
	    &mails);
	assert_int_equal(n, 100);
	/* One a day at most over the months it took, and the last one. */
	assert_true(mails >= 2);
	assert_true(mails <= 2 + (now - T0) / MFAD_LOCK_NOTICE_EVERY);
	assert_true(mails < locks);
	mfad_conf_free(c);
}

/* Only a success (or an unlock, or a mailed-code reset) ends a streak,
 * the last lock included. */
static void
test_clear_ends_the_streak(void **state)
{
	struct mfad_conf *c = conf_with(2, 60);
	struct mfad_acct a;
	uint64_t now = T0;
	unsigned locks = 0, mails = 0;

	(void)state;
	memset(&a, 0, sizeof(a));
	(void)guess_until(c, &a, &now, T0 + 100ULL * 365 * 86400, &locks,
	    &mails);
	assert_true(mfad_acct_rule_is_locked(&a, now + 86400 * 365));
	mfad_acct_rule_clear_failures(&a);
	assert_false(mfad_acct_rule_is_locked(&a, now));
	assert_int_equal(a.failures, 0);
	/* A new streak's first lock is mailed again. */
	assert_int_equal(mfad_acct_rule_fail(c, &a, now), MFAD_LOCK_NONE);
	assert_int_equal(mfad_acct_rule_fail(c, &a, now), MFAD_LOCK_NOTIFY);
	/* An admin lock or a disabled account is locked, whatever the
	 * count. */
	mfad_acct_rule_clear_failures(&a);
	a.state = MFAD_ACCT_LOCKED;
	assert_true(mfad_acct_rule_is_locked(&a, now));
	a.state = MFAD_ACCT_DISABLED;
	assert_true(mfad_acct_rule_is_locked(&a, now));
	mfad_conf_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lock_end_keeps_the_count),
		cmocka_unit_test(test_durations_double_up_to_the_cap),
		cmocka_unit_test(test_never_more_than_100_guesses),
		cmocka_unit_test(test_clear_ends_the_streak),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
