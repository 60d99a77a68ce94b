/*
 * Unit tests for the pure steps of the login lifecycle in
 * mfad/mfad_login.c: the gate a code meets, a wrong code, a right one,
 * the password window and a takeover.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mfad_conf.h"
#include "mfad_login.h"

#define T0	1800000000ULL

static void
pending(struct mfad_login *l, uint8_t kind)
{
	memset(l, 0, sizeof(*l));
	l->kind = kind;
	strcpy(l->user, "alice");
	l->state = MFAD_LOGIN_PENDING;
	l->created = T0;
	l->code_expires = T0 + 600;
	memset(l->code_nonce, 0x5a, sizeof(l->code_nonce));
	memset(l->codehash, 0xa5, sizeof(l->codehash));
}

/* Moved, dead and used logins stop first; then the lock; then expiry,
 * on the boundary second. */
static void
test_gate(void **state)
{
	struct mfad_login l;
	struct mfad_acct a;

	(void)state;
	memset(&a, 0, sizeof(a));
	pending(&l, MFAD_LOGIN_SIGNIN);
	assert_int_equal(mfad_login_rule_gate(&l, &a, T0), MFAD_LOGIN_GATE_OPEN);
	assert_int_equal(mfad_login_rule_gate(&l, &a, T0 + 599),
	    MFAD_LOGIN_GATE_OPEN);
	assert_int_equal(mfad_login_rule_gate(&l, &a, T0 + 600),
	    MFAD_LOGIN_GATE_EXPIRED);
	a.locked_until = T0 + 10;
	assert_int_equal(mfad_login_rule_gate(&l, &a, T0 + 9),
	    MFAD_LOGIN_GATE_LOCKED);
	assert_int_equal(mfad_login_rule_gate(&l, &a, T0 + 10),
	    MFAD_LOGIN_GATE_OPEN);
	l.state = MFAD_LOGIN_MOVED;
	assert_int_equal(mfad_login_rule_gate(&l, &a, T0 + 9),
	    MFAD_LOGIN_GATE_MOVED);
	l.state = MFAD_LOGIN_DEAD;
	assert_int_equal(mfad_login_rule_gate(&l, &a, T0),
	    MFAD_LOGIN_GATE_DEAD);
	l.state = MFAD_LOGIN_VERIFIED;
	assert_int_equal(mfad_login_rule_gate(&l, &a, T0),
	    MFAD_LOGIN_GATE_USED);
	l.state = MFAD_LOGIN_DONE;
	assert_int_equal(mfad_login_rule_gate(&l, &a, T0),
	    MFAD_LOGIN_GATE_USED);
}

/* A lockout stops a sign-in, not a reset or an enrollment (the mailed
 * code clears it); an admin lock or a disabled account stops all. */
static void
test_gate_lock_by_kind(void **state)
{
	struct mfad_login l;
	struct mfad_acct a;
	uint8_t kinds[] = { MFAD_LOGIN_ENROLL, MFAD_LOGIN_RESET };
	size_t i;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.locked_until = T0 + 100;
	for (i = 0; i < sizeof(kinds); i++) {
		pending(&l, kinds[i]);
		a.state = MFAD_ACCT_ACTIVE;
		assert_int_equal(mfad_login_rule_gate(&l, &a, T0),
		    MFAD_LOGIN_GATE_OPEN);
		a.state = MFAD_ACCT_LOCKED;
		assert_int_equal(mfad_login_rule_gate(&l, &a, T0),
		    MFAD_LOGIN_GATE_LOCKED);
		a.state = MFAD_ACCT_DISABLED;
		assert_int_equal(mfad_login_rule_gate(&l, &a, T0),
		    MFAD_LOGIN_GATE_LOCKED);
	}
}

/* max_attempts wrong codes end a login; a lock ends it at once. */
static void
test_wrong_codes(void **state)
{
	struct mfad_conf *c = mfad_conf_new();
	struct mfad_login l;
	uint32_t left;

	(void)state;
	assert_non_null(c);
	c->code_max_attempts = 3;
	pending(&l, MFAD_LOGIN_SIGNIN);
	assert_int_equal(mfad_login_rule_wrong(c, &l, 0, &left), 0);
	assert_int_equal(left, 2);
	assert_int_equal(mfad_login_rule_wrong(c, &l, 0, &left), 0);
	assert_int_equal(left, 1);
	assert_int_equal(l.state, MFAD_LOGIN_PENDING);
	assert_int_equal(mfad_login_rule_wrong(c, &l, 0, &left), 1);
	assert_int_equal(left, 0);
	assert_int_equal(l.state, MFAD_LOGIN_DEAD);
	assert_int_equal(l.attempts, 3);
	pending(&l, MFAD_LOGIN_SIGNIN);
	assert_int_equal(mfad_login_rule_wrong(c, &l, MFAD_LOCK_QUIET, &left),
	    1);
	assert_int_equal(l.state, MFAD_LOGIN_DEAD);
	assert_int_equal(l.attempts, 1);
	mfad_conf_free(c);
}

/* A password may follow an enrollment's or a reset's code for ten
 * minutes; never a sign-in's, never an unverified one. */
static void
test_may_set(void **state)
{
	struct mfad_login l;

	(void)state;
	pending(&l, MFAD_LOGIN_RESET);
	assert_false(mfad_login_rule_may_set(&l, T0));
	mfad_login_rule_verified(&l, T0 + 5);
	assert_int_equal(l.state, MFAD_LOGIN_VERIFIED);
	assert_true(l.verified == T0 + 5);
	assert_true(mfad_login_rule_may_set(&l, T0 + 5 + MFAD_PASSWORD_WINDOW));
	assert_false(mfad_login_rule_may_set(&l,
	    T0 + 6 + MFAD_PASSWORD_WINDOW));
	l.kind = MFAD_LOGIN_ENROLL;
	assert_true(mfad_login_rule_may_set(&l, T0 + 5));
	l.kind = MFAD_LOGIN_SIGNIN;
	assert_false(mfad_login_rule_may_set(&l, T0 + 5));
	l.kind = MFAD_LOGIN_DECOY;
	assert_false(mfad_login_rule_may_set(&l, T0 + 5));
}

/* Only a live, pending sign-in code of the same user, with tries left
 * and a nonce, moves; the new login keeps its code, the old one is
 * moved. */
static void
test_take_over(void **state)
{
	struct mfad_conf *c = mfad_conf_new();
	struct mfad_login old, l;

	(void)state;
	assert_non_null(c);
	c->code_max_attempts = 3;
	pending(&old, MFAD_LOGIN_SIGNIN);
	old.attempts = 2;
	old.sends = 2;
	old.mail = 1;
	assert_true(mfad_login_rule_may_take_over(c, &old, "alice", T0 + 599));
	assert_false(mfad_login_rule_may_take_over(c, &old, "alice", T0 + 600));
	assert_false(mfad_login_rule_may_take_over(c, &old, "bob", T0));
	old.attempts = 3;
	assert_false(mfad_login_rule_may_take_over(c, &old, "alice", T0));
	old.attempts = 2;
	old.kind = MFAD_LOGIN_RESET;
	assert_false(mfad_login_rule_may_take_over(c, &old, "alice", T0));
	old.kind = MFAD_LOGIN_SIGNIN;
	old.state = MFAD_LOGIN_MOVED;
	assert_false(mfad_login_rule_may_take_over(c, &old, "alice", T0));
	old.state = MFAD_LOGIN_PENDING;
	memset(old.code_nonce, 0, sizeof(old.code_nonce));
	assert_false(mfad_login_rule_may_take_over(c, &old, "alice", T0));
	memset(old.code_nonce, 0x5a, sizeof(old.code_nonce));

	memset(&l, 0, sizeof(l));
	l.state = MFAD_LOGIN_PENDING;
	mfad_login_rule_take_over(&old, &l);
	assert_int_equal(old.state, MFAD_LOGIN_MOVED);
	assert_int_equal(l.state, MFAD_LOGIN_PENDING);
	assert_memory_equal(l.codehash, old.codehash, sizeof(l.codehash));
	assert_memory_equal(l.code_nonce, old.code_nonce,
	    sizeof(l.code_nonce));
	assert_true(l.code_expires == T0 + 600);
	assert_true(l.expires == T0 + 600 + MFAD_LOGIN_GRACE);
	assert_int_equal(l.attempts, 2);
	assert_int_equal(l.sends, 2);
	assert_int_equal(l.mail, 1);
	mfad_conf_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gate),
		cmocka_unit_test(test_gate_lock_by_kind),
		cmocka_unit_test(test_wrong_codes),
		cmocka_unit_test(test_may_set),
		cmocka_unit_test(test_take_over),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
