/*
 * Unit tests for mfad/mfad_acct.c: the account rules (lockout,
 * SECURITY.md rules 7, 8, 37; mail throttles; must-enroll; the state an
 * ACCT reply gives), as pure functions of (conf, account, now).
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
#include "mss_err.h"
#include "mss_proto.h"

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

/* A lock holds up to its last second and ends on the boundary one,
 * whether or not expire_lock ran. */
static void
test_unlock_at_the_boundary(void **state)
{
	struct mfad_conf *c = conf_with(1, 900);
	struct mfad_acct a;

	(void)state;
	memset(&a, 0, sizeof(a));
	assert_int_equal(mfad_acct_rule_fail(c, &a, T0), MFAD_LOCK_NOTIFY);
	assert_true(mfad_acct_rule_is_locked(&a, T0));
	assert_true(mfad_acct_rule_is_locked(&a, T0 + 899));
	assert_false(mfad_acct_rule_is_locked(&a, T0 + 900));
	/* Expiring early changes nothing; on time, the lock is gone and
	 * the count stays. */
	mfad_acct_rule_expire_lock(&a, T0 + 899);
	assert_true(a.locked_until == T0 + 900);
	mfad_acct_rule_expire_lock(&a, T0 + 900);
	assert_true(a.locked_until == 0);
	assert_int_equal(a.failures, 1);
	mfad_conf_free(c);
}

static struct mfad_conf *
conf_sends(unsigned max_sends, unsigned resend_interval)
{
	struct mfad_conf *c = mfad_conf_new();

	assert_non_null(c);
	c->code_max_sends = max_sends;
	c->code_resend_interval = resend_interval;
	return c;
}

/* resend_interval between two mails, max_sends in any hour, a window
 * that slides: room again when the oldest mail leaves the hour. */
static void
test_throttle_windows(void **state)
{
	struct mfad_conf *c = conf_sends(3, 30);
	struct mfad_acct a;
	uint32_t wait;
	uint64_t now = T0;
	unsigned i;

	(void)state;
	memset(&a, 0, sizeof(a));
	assert_int_equal(mfad_acct_rule_throttle(c, &a, now, &wait), 0);
	mfad_acct_rule_sends_record(a.sends, &a.nsends, now);
	/* Too soon after the last one. */
	assert_int_equal(mfad_acct_rule_throttle(c, &a, now + 29, &wait),
	    MSS_ERR_THROTTLED);
	assert_int_equal(wait, 1);
	assert_int_equal(mfad_acct_rule_throttle(c, &a, now + 30, &wait), 0);
	for (i = 1; i < 3; i++) {
		now += 100;
		assert_int_equal(mfad_acct_rule_throttle(c, &a, now, &wait), 0);
		mfad_acct_rule_sends_record(a.sends, &a.nsends, now);
	}
	/* Three in the hour: the fourth waits for the first to leave it. */
	assert_int_equal(mfad_acct_rule_throttle(c, &a, now + 1000, &wait),
	    MSS_ERR_THROTTLED);
	assert_int_equal(wait, T0 + 3600 - (now + 1000));
	assert_int_equal(mfad_acct_rule_throttle(c, &a, T0 + 3599, &wait),
	    MSS_ERR_THROTTLED);
	assert_int_equal(wait, 1);
	assert_int_equal(mfad_acct_rule_throttle(c, &a, T0 + 3600, &wait), 0);
	assert_int_equal(a.nsends, 2);
	mfad_conf_free(c);
}

/* The helpdesk's view agrees with the rule the handlers apply. */
static void
test_throttle_ends(void **state)
{
	struct mfad_conf *c = conf_sends(2, 60);
	struct mfad_acct a;
	uint64_t resend, hour;
	uint32_t recent, wait;

	(void)state;
	memset(&a, 0, sizeof(a));
	mfad_acct_rule_throttle_ends(c, &a, T0, &recent, &resend, &hour);
	assert_int_equal(recent, 0);
	assert_true(resend == 0 && hour == 0);
	mfad_acct_rule_sends_record(a.sends, &a.nsends, T0 - 4000);
	mfad_acct_rule_sends_record(a.sends, &a.nsends, T0 - 100);
	mfad_acct_rule_sends_record(a.sends, &a.nsends, T0 - 10);
	mfad_acct_rule_throttle_ends(c, &a, T0, &recent, &resend, &hour);
	assert_int_equal(recent, 2);
	assert_true(resend == T0 - 10 + 60);
	assert_true(hour == T0 - 100 + 3600);
	/* Not changed by the look. */
	assert_int_equal(a.nsends, 3);
	assert_int_equal(mfad_acct_rule_throttle(c, &a, T0 + 60, &wait),
	    MSS_ERR_THROTTLED);
	assert_true(T0 + 60 + wait == hour);
	mfad_conf_free(c);
}

/* The send list keeps the newest MFAD_SENDS_MAX. */
static void
test_sends_record_keeps_the_newest(void **state)
{
	uint64_t sends[MFAD_SENDS_MAX];
	uint32_t n = 0, i;

	(void)state;
	for (i = 0; i < MFAD_SENDS_MAX + 5; i++)
		mfad_acct_rule_sends_record(sends, &n, T0 + i);
	assert_int_equal(n, MFAD_SENDS_MAX);
	assert_true(sends[0] == T0 + 5);
	assert_true(sends[MFAD_SENDS_MAX - 1] == T0 + MFAD_SENDS_MAX + 4);
}

/* Empty-password starts of one user: 4 * max_sends an hour, at most 64. */
static void
test_reset_user_cap(void **state)
{
	struct mfad_conf *c = conf_sends(5, 0);
	uint64_t sends[MFAD_SENDS_MAX];
	uint32_t n = 0, wait, i;

	(void)state;
	assert_int_equal(mfad_acct_rule_reset_user_max(c), 20);
	for (i = 0; i < 20; i++) {
		assert_int_equal(mfad_acct_rule_reset_user_throttle(c, sends,
		    &n, T0 + i, &wait), 0);
		mfad_acct_rule_sends_record(sends, &n, T0 + i);
	}
	assert_int_equal(mfad_acct_rule_reset_user_throttle(c, sends, &n,
	    T0 + 100, &wait), MSS_ERR_THROTTLED);
	assert_int_equal(wait, 3500);
	assert_int_equal(mfad_acct_rule_reset_user_throttle(c, sends, &n,
	    T0 + 3600, &wait), 0);
	assert_int_equal(n, 19);
	/* The cap. */
	c->code_max_sends = 16;
	assert_int_equal(mfad_acct_rule_reset_user_max(c), 64);
	c->code_max_sends = 17;
	assert_int_equal(mfad_acct_rule_reset_user_max(c), MFAD_SENDS_MAX);
	c->code_max_sends = 64;
	assert_int_equal(mfad_acct_rule_reset_user_max(c), MFAD_SENDS_MAX);
	n = 0;
	for (i = 0; i < MFAD_SENDS_MAX; i++)
		mfad_acct_rule_sends_record(sends, &n, T0 + i);
	assert_int_equal(mfad_acct_rule_reset_user_throttle(c, sends, &n,
	    T0 + MFAD_SENDS_MAX, &wait), MSS_ERR_THROTTLED);
	assert_int_equal(wait, 3600 - MFAD_SENDS_MAX);
	mfad_conf_free(c);
}

/* reenroll_before takes effect on its date, for those enrolled before;
 * invited and marked accounts must enroll whatever the date. */
static void
test_must_enroll(void **state)
{
	struct mfad_conf *c = mfad_conf_new();
	struct mfad_acct a;
	const time_t date = (time_t)(T0 + 1000);

	(void)state;
	assert_non_null(c);
	memset(&a, 0, sizeof(a));
	a.state = MFAD_ACCT_ACTIVE;
	a.enrolled = T0;
	assert_false(mfad_acct_rule_must_enroll(c, &a, T0 + 5000));
	c->reenroll_before = date;
	assert_false(mfad_acct_rule_must_enroll(c, &a, T0 + 999));
	assert_true(mfad_acct_rule_must_enroll(c, &a, T0 + 1000));
	/* Enrolled on or after the date: done. */
	a.enrolled = T0 + 1000;
	assert_false(mfad_acct_rule_must_enroll(c, &a, T0 + 5000));
	a.reenroll = 1;
	assert_true(mfad_acct_rule_must_enroll(c, &a, T0 + 5000));
	a.reenroll = 0;
	a.state = MFAD_ACCT_INVITED;
	a.enrolled = 0;
	c->reenroll_before = 0;
	assert_true(mfad_acct_rule_must_enroll(c, &a, T0));
	/* A disabled account enrolled before the date still owes it; the
	 * wire state says disabled first. */
	a.state = MFAD_ACCT_DISABLED;
	a.enrolled = T0;
	c->reenroll_before = date;
	assert_true(mfad_acct_rule_must_enroll(c, &a, T0 + 1000));
	assert_false(mfad_acct_rule_must_enroll(c, &a, T0 + 999));
	mfad_conf_free(c);
}

/* The state an ACCT reply gives: disabled, then locked, then invited,
 * then reenroll, else active. */
static void
test_wire_state(void **state)
{
	struct mfad_conf *c = mfad_conf_new();
	struct mfad_acct a;

	(void)state;
	assert_non_null(c);
	memset(&a, 0, sizeof(a));
	a.enrolled = T0;
	assert_int_equal(mfad_acct_rule_wire_state(c, &a, T0), MSS_ACCT_ACTIVE);
	c->reenroll_before = (time_t)(T0 + 10);
	assert_int_equal(mfad_acct_rule_wire_state(c, &a, T0 + 9),
	    MSS_ACCT_ACTIVE);
	assert_int_equal(mfad_acct_rule_wire_state(c, &a, T0 + 10),
	    MSS_ACCT_REENROLL);
	a.locked_until = T0 + 20;
	assert_int_equal(mfad_acct_rule_wire_state(c, &a, T0 + 19),
	    MSS_ACCT_LOCKED);
	assert_int_equal(mfad_acct_rule_wire_state(c, &a, T0 + 20),
	    MSS_ACCT_REENROLL);
	a.state = MFAD_ACCT_INVITED;
	assert_int_equal(mfad_acct_rule_wire_state(c, &a, T0 + 20),
	    MSS_ACCT_INVITED);
	assert_int_equal(mfad_acct_rule_wire_state(c, &a, T0 + 19),
	    MSS_ACCT_LOCKED);
	a.state = MFAD_ACCT_LOCKED;
	assert_int_equal(mfad_acct_rule_wire_state(c, &a, T0 + 20),
	    MSS_ACCT_LOCKED);
	a.state = MFAD_ACCT_DISABLED;
	assert_int_equal(mfad_acct_rule_wire_state(c, &a, T0 + 19),
	    MSS_ACCT_DISABLED);
	assert_int_equal(mfad_acct_rule_wire_state(c, &a, T0 + 20),
	    MSS_ACCT_DISABLED);
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
		cmocka_unit_test(test_unlock_at_the_boundary),
		cmocka_unit_test(test_throttle_windows),
		cmocka_unit_test(test_throttle_ends),
		cmocka_unit_test(test_sends_record_keeps_the_newest),
		cmocka_unit_test(test_reset_user_cap),
		cmocka_unit_test(test_must_enroll),
		cmocka_unit_test(test_wire_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
