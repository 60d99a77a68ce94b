/*
 * Unit tests for the outbox's share (mfad/mfad_outbox.c): how many of
 * the messages waiting a sender takes into one SMTP session.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mfad_outbox.h"

/* A lone message leaves at once, in a session of its own. */
static void
test_lone_message(void **state)
{
	(void)state;
	assert_int_equal(mfad_outbox_share(1, 16), 1);
	assert_int_equal(mfad_outbox_share(1, 1), 1);
}

/* A few messages and many senders free: one session takes them all,
 * rather than one session each. */
static void
test_few_in_one_session(void **state)
{
	(void)state;
	assert_int_equal(mfad_outbox_share(3, 16), 3);
	assert_int_equal(mfad_outbox_share(4, 16), 4);
}

/* More than the least share: at least 4 a session, so that 10 messages
 * go out in 3 sessions, not 10. */
static void
test_least_share(void **state)
{
	(void)state;
	assert_int_equal(mfad_outbox_share(10, 16), 4);
	assert_int_equal(mfad_outbox_share(6, 8), 4);
}

/* A burst: an even share between the senders free, over parallel
 * sessions, never more than 32 in one. */
static void
test_even_share_of_a_burst(void **state)
{
	(void)state;
	assert_int_equal(mfad_outbox_share(100, 10), 10);
	assert_int_equal(mfad_outbox_share(101, 10), 11);
	assert_int_equal(mfad_outbox_share(1000, 16), 32);
	assert_int_equal(mfad_outbox_share(40, 1), 32);
	/* No sender counted free (the caller's own count): as one. */
	assert_int_equal(mfad_outbox_share(3, 0), 3);
	assert_int_equal(mfad_outbox_share(0, 4), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lone_message),
		cmocka_unit_test(test_few_in_one_session),
		cmocka_unit_test(test_least_share),
		cmocka_unit_test(test_even_share_of_a_burst),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
