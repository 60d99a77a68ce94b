/*
 * Unit tests for common/mss_mask.c: the masked address shown in prompts
 * (DESIGN.md section 1). The rule: at most half of the local part's
 * characters are shown, never more than four, never half a UTF-8
 * character; then five stars, '@', the first label of the domain, five
 * stars.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mss_err.h"
#include "mss_mask.h"

static void
check_mask(const char *email, const char *want)
{
	char out[256];

	memset(out, 'Z', sizeof(out));
	assert_int_equal(mss_mask_email(email, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void
test_mask_long_local_part_shows_four(void **state)
{
	(void)state;
	check_mask("melkior.dupont@gmail.com", "melk*****@gmail*****");
	check_mask("alice@example.org", "al*****@example*****");
	check_mask("alicealice@example.org", "alic*****@example*****");
}

/* Short local parts show at most half of their characters. */
static void
test_mask_short_local_part_shows_half(void **state)
{
	(void)state;
	check_mask("ab@x.org", "a*****@x*****");
	check_mask("a@x.org", "*****@x*****");
	check_mask("abc@x.org", "a*****@x*****");
	check_mask("abcd@x.org", "ab*****@x*****");
	check_mask("abcdefgh@x.org", "abcd*****@x*****");
	check_mask("abcdefghi@x.org", "abcd*****@x*****");
}

static void
test_mask_domain_without_dot(void **state)
{
	(void)state;
	check_mask("root@localhost", "ro*****@localhost*****");
}

/* Only the first label of the domain is shown. */
static void
test_mask_subdomains_hidden(void **state)
{
	(void)state;
	check_mask("melkior.dupont@mail.example.co.uk",
	    "melk*****@mail*****");
}

/* The last '@' separates the domain (quoted local parts may hold one). */
static void
test_mask_last_at_is_separator(void **state)
{
	(void)state;
	check_mask("\"a@b\"cdefgh@x.org", "\"a@b*****@x*****");
}

/* "éléonore" is 8 characters but 10 bytes: four characters are 6 bytes. */
static void
test_mask_utf8_local_part_not_split(void **state)
{
	(void)state;
	check_mask("\xc3\xa9l\xc3\xa9onore@exemple.fr",
	    "\xc3\xa9l\xc3\xa9o*****@exemple*****");
	/* Two characters of two bytes each: one is shown, whole. */
	check_mask("\xc3\xa9\xc3\xa9@x.org", "\xc3\xa9*****@x*****");
	/* A three-byte and a four-byte character. */
	check_mask("\xe2\x82\xac\xf0\x9f\x98\x80@x.org",
	    "\xe2\x82\xac*****@x*****");
}

static void
test_mask_invalid_input_is_inval(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(mss_mask_email("noat", out, sizeof(out)),
	    MSS_ERR_INVAL);
	assert_int_equal(mss_mask_email("@x.org", out, sizeof(out)),
	    MSS_ERR_INVAL);
	assert_int_equal(mss_mask_email("a@", out, sizeof(out)),
	    MSS_ERR_INVAL);
	assert_int_equal(mss_mask_email("a@.org", out, sizeof(out)),
	    MSS_ERR_INVAL);
	assert_int_equal(mss_mask_email("", out, sizeof(out)),
	    MSS_ERR_INVAL);
}

/* The output must fit whole, terminator included, or nothing is claimed. */
static void
test_mask_small_output_is_toobig(void **state)
{
	/* "melk*****@gmail*****" is 20 characters, 21 bytes with the NUL. */
	char out[21];

	(void)state;
	assert_int_equal(mss_mask_email("melkior.dupont@gmail.com", out, 20),
	    MSS_ERR_TOOBIG);
	assert_int_equal(mss_mask_email("melkior.dupont@gmail.com", out, 1),
	    MSS_ERR_TOOBIG);
	assert_int_equal(mss_mask_email("melkior.dupont@gmail.com", out, 0),
	    MSS_ERR_TOOBIG);
	assert_int_equal(mss_mask_email("melkior.dupont@gmail.com", out, 21),
	    0);
	assert_string_equal(out, "melk*****@gmail*****");
}

/* No byte is written past outlen, even when the mask does not fit. */
static void
test_mask_never_writes_past_outlen(void **state)
{
	char out[32];

	(void)state;
	memset(out, 'Z', sizeof(out));
	assert_int_equal(mss_mask_email("melkior.dupont@gmail.com", out, 10),
	    MSS_ERR_TOOBIG);
	assert_int_equal(out[10], 'Z');
	memset(out, 'Z', sizeof(out));
	assert_int_equal(mss_mask_email("melkior.dupont@gmail.com", out, 21),
	    0);
	assert_int_equal(out[21], 'Z');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mask_long_local_part_shows_four),
		cmocka_unit_test(test_mask_short_local_part_shows_half),
		cmocka_unit_test(test_mask_domain_without_dot),
		cmocka_unit_test(test_mask_subdomains_hidden),
		cmocka_unit_test(test_mask_last_at_is_separator),
		cmocka_unit_test(test_mask_utf8_local_part_not_split),
		cmocka_unit_test(test_mask_invalid_input_is_inval),
		cmocka_unit_test(test_mask_small_output_is_toobig),
		cmocka_unit_test(test_mask_never_writes_past_outlen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
