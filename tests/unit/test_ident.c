/*
 * Unit tests for common/mss_ident.c: the one email-address rule and the
 * one user-name rule that the config reader, mfad's handlers, the mail
 * code and mfadctl all use.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mss_ident.h"

struct want {
	const char	*s;
	int		 ok;
};

static void
check_table(int (*f)(const char *), const struct want *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (f(t[i].s) != t[i].ok)
			fail_msg("\"%s\": want %d", t[i].s, t[i].ok);
}

static void
test_email_shapes(void **state)
{
	static const struct want t[] = {
		{ "alice@example.org", 1 },
		{ "a.b+tag@sub.example.co.uk", 1 },
		{ "o'brien@example.ie", 1 },
		{ "Alice.Smith@Example.ORG", 1 },
		{ "x@a-b.example", 1 },
		{ "x@1.2", 1 },
		{ "root@localhost", 1 },
		{ "root@LocalHost", 1 },
		{ "a!#$%&'*+-/=?^_`{|}~z@example.org", 1 },
		{ "", 0 },
		{ "alice", 0 },
		{ "@example.org", 0 },
		{ "alice@", 0 },
		{ "alice@@example.org", 0 },
		{ "a@b@example.org", 0 },
		/* A short host name is no mail domain. */
		{ "mfad@vm", 0 },
		{ "alice@example", 0 },
		{ "alice@localhost.", 0 },
		/* Dots. */
		{ ".alice@example.org", 0 },
		{ "alice.@example.org", 0 },
		{ "al..ice@example.org", 0 },
		{ "alice@example..org", 0 },
		{ "alice@.example.org", 0 },
		{ "alice@example.org.", 0 },
		{ ".@example.org", 0 },
		/* Labels. */
		{ "alice@-example.org", 0 },
		{ "alice@example-.org", 0 },
		{ "alice@exa_mple.org", 0 },
		{ "alice@[192.0.2.1]", 0 },
		/* Quotes, specials, blanks. */
		{ "\"alice\"@example.org", 0 },
		{ "\"a@b\"@example.org", 0 },
		{ "al\\ice@example.org", 0 },
		{ "<alice@example.org>", 0 },
		{ "alice@example.org>", 0 },
		{ "alice,bob@example.org", 0 },
		{ "alice;@example.org", 0 },
		{ "al(ice)@example.org", 0 },
		{ "al ice@example.org", 0 },
		{ "alice@exam ple.org", 0 },
		{ "al\tice@example.org", 0 },
		/* Header injection. */
		{ "alice@example.org\r\nBcc: eve@example.org", 0 },
		{ "alice\n@example.org", 0 },
		{ "alice@example.org\r", 0 },
		{ "al\x7fice@example.org", 0 },
		/* UTF-8: refused in both parts; IDN as A-labels only. */
		{ "al\xc3\xa9@example.org", 0 },
		{ "alice@\xc3\xa9xample.org", 0 },
		{ "alice@xn--xample-9ua.org", 1 },
	};

	(void)state;
	check_table(mss_email_valid, t, sizeof(t) / sizeof(t[0]));
	assert_int_equal(mss_email_valid(NULL), 0);
}

/* A NUL ends the string: what follows is never looked at, so an address
 * cut by a NUL is judged by its first part ("alice" alone). */
static void
test_email_nul(void **state)
{
	static const char s[] = "alice\0@example.org";

	(void)state;
	assert_int_equal(mss_email_valid(s), 0);
	assert_int_equal(mss_email_valid("alice@example.org\0junk"), 1);
}

static void
test_email_lengths(void **state)
{
	char big[400];

	(void)state;
	/* Local part: 64 bytes fine, 65 not. */
	memset(big, 'a', 65);
	strcpy(big + 64, "@example.org");
	assert_int_equal(mss_email_valid(big), 1);
	memset(big, 'a', 65);
	strcpy(big + 65, "@example.org");
	assert_int_equal(mss_email_valid(big), 0);
	/* A label: 63 bytes fine, 64 not. */
	snprintf(big, sizeof(big), "a@%.63s.org", "bbbbbbbbbbbbbbbbbbbbbbbbbbb"
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	assert_int_equal(strlen(big), 2 + 63 + 4);
	assert_int_equal(mss_email_valid(big), 1);
	snprintf(big, sizeof(big), "a@b%.63s.org", "bbbbbbbbbbbbbbbbbbbbbbbbbbb"
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	assert_int_equal(mss_email_valid(big), 0);
	/* Whole address: 254 bytes fine, 255 not. */
	snprintf(big, sizeof(big), "%s@%.63s.%.63s.%.63s.%.*s",
	    "a", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	    "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
	    "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
	    60, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
	assert_int_equal(strlen(big), MSS_EMAIL_MAX);
	assert_int_equal(mss_email_valid(big), 1);
	big[254] = 'e';
	big[255] = '\0';
	assert_int_equal(mss_email_valid(big), 0);
	/* Far longer: refused without reading past the limit's worth. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = '@';
	assert_int_equal(mss_email_valid(big), 0);
}

static void
test_user_shapes(void **state)
{
	static const struct want t[] = {
		{ "alice", 1 },
		{ "a", 1 },
		{ "_svc", 1 },
		{ "jean-luc.picard", 1 },
		{ "user_2", 1 },
		{ "2fa", 1 },
		{ "host$", 1 },
		{ "", 0 },
		{ "1000", 0 },		/* reads as a uid */
		{ "0", 0 },
		{ "Alice", 1 },		/* directories have such names */
		{ "John.Doe", 1 },
		{ "jdoe@corp.example", 1 },
		{ "@jdoe", 0 },
		{ ".alice", 0 },
		{ "-alice", 0 },
		{ "$", 0 },
		{ "a$b", 0 },
		{ "al ice", 0 },
		{ "al\tice", 0 },
		{ "alice\n", 0 },
		{ "alice\r", 0 },
		{ "al/ice", 0 },
		{ "al:ice", 0 },
		{ "\xc3\xa9lise", 0 },
	};

	(void)state;
	check_table(mss_user_valid, t, sizeof(t) / sizeof(t[0]));
	assert_int_equal(mss_user_valid(NULL), 0);
}

static void
test_user_lengths(void **state)
{
	char name[MSS_USER_MAX + 2];

	(void)state;
	memset(name, 'u', sizeof(name));
	name[MSS_USER_MAX] = '\0';
	assert_int_equal(mss_user_valid(name), 1);
	name[MSS_USER_MAX] = 'u';
	name[MSS_USER_MAX + 1] = '\0';
	assert_int_equal(mss_user_valid(name), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_email_shapes),
		cmocka_unit_test(test_email_nul),
		cmocka_unit_test(test_email_lengths),
		cmocka_unit_test(test_user_shapes),
		cmocka_unit_test(test_user_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
