/*
 * Unit tests for mfad/mfad_pw.c's password policy: each reason of enum
 * mss_pw_reason, the length bounds on both sides, the user name, the
 * address and its local part in any case, and the blocklist file.
 * Hashing runs at libsodium's least cost, so that each test is quick.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "mfad_conf.h"
#include "mfad_pw.h"
#include "mss_err.h"
#include "mss_proto.h"

#define USER	"alice"
#define EMAIL	"Alice.Martin@example.org"

static char blockpath[] = "/tmp/test_pw.XXXXXX";

/* The default policy (12..256), the cheapest hash, no blocklist. */
static struct mfad_conf *
conf_new(void)
{
	struct mfad_conf *c = mfad_conf_new();

	assert_non_null(c);
	c->pw_opslimit = crypto_pwhash_OPSLIMIT_MIN;
	c->pw_memlimit = crypto_pwhash_MEMLIMIT_MIN;
	assert_int_equal(mfad_pw_init(c), 0);
	return c;
}

/* The reason pw gets from c for USER and EMAIL; MSS_PW_REASON_MAX + 1
 * for an accepted one. */
static unsigned
why(const struct mfad_conf *c, const char *user, const char *email,
    const char *pw)
{
	enum mss_pw_reason reason = MSS_PW_REASON_MAX + 1;
	int r;

	r = mfad_pw_policy(c, user, email, pw, &reason);
	if (r == 0)
		return MSS_PW_REASON_MAX + 1;
	assert_int_equal(r, MSS_ERR_REFUSED);
	return (unsigned)reason;
}
#define OK	(MSS_PW_REASON_MAX + 1)

/* A string of n copies of ch (n < sizeof(buf)). */
static const char *
rep(char *buf, size_t len, char ch, size_t n)
{
	assert_true(n < len);
	memset(buf, ch, n);
	buf[n] = '\0';
	return buf;
}

/* The reason codes are on the wire (PROTOCOL.md): their values are
 * fixed, and each has its own words for the log. */
static void
test_reason_codes(void **state)
{
	const char *s[MSS_PW_REASON_MAX + 1];
	unsigned i, j;

	(void)state;
	assert_int_equal(MSS_PW_REFUSED, 0);
	assert_int_equal(MSS_PW_TOO_SHORT, 1);
	assert_int_equal(MSS_PW_TOO_LONG, 2);
	assert_int_equal(MSS_PW_LIKE_NAME, 3);
	assert_int_equal(MSS_PW_BLOCKLISTED, 4);
	assert_int_equal(MSS_PW_SAME_AS_OLD, 5);
	assert_int_equal(MSS_PW_REASON_MAX, 5);
	for (i = 0; i <= MSS_PW_REASON_MAX; i++) {
		s[i] = mfad_pw_reason_str((enum mss_pw_reason)i);
		assert_non_null(s[i]);
		assert_true(strlen(s[i]) > 0);
		for (j = 0; j < i; j++)
			assert_string_not_equal(s[i], s[j]);
	}
	assert_string_equal(mfad_pw_reason_str(MSS_PW_TOO_SHORT),
	    "too short");
	assert_string_equal(mfad_pw_reason_str(MSS_PW_SAME_AS_OLD),
	    "same as the current password");
	/* A value from nowhere is a plain refusal, never NULL. */
	assert_string_equal(mfad_pw_reason_str((enum mss_pw_reason)99),
	    mfad_pw_reason_str(MSS_PW_REFUSED));
}

static void
test_min_length(void **state)
{
	struct mfad_conf *c = conf_new();
	char b[2048];

	(void)state;
	assert_int_equal(c->pw_min_length, 12);
	assert_int_equal(why(c, USER, EMAIL, ""), MSS_PW_TOO_SHORT);
	assert_int_equal(why(c, USER, EMAIL, rep(b, sizeof(b), 'q', 1)),
	    MSS_PW_TOO_SHORT);
	assert_int_equal(why(c, USER, EMAIL, rep(b, sizeof(b), 'q', 11)),
	    MSS_PW_TOO_SHORT);
	assert_int_equal(why(c, USER, EMAIL, rep(b, sizeof(b), 'q', 12)), OK);
	c->pw_min_length = 20;
	assert_int_equal(why(c, USER, EMAIL, rep(b, sizeof(b), 'q', 19)),
	    MSS_PW_TOO_SHORT);
	assert_int_equal(why(c, USER, EMAIL, rep(b, sizeof(b), 'q', 20)), OK);
	/* The bounds mfad.conf allows. */
	c->pw_min_length = 8;
	assert_int_equal(why(c, USER, EMAIL, rep(b, sizeof(b), 'q', 7)),
	    MSS_PW_TOO_SHORT);
	assert_int_equal(why(c, USER, EMAIL, rep(b, sizeof(b), 'q', 8)), OK);
	mfad_conf_free(c);
}

static void
test_max_length(void **state)
{
	struct mfad_conf *c = conf_new();
	char b[2048];

	(void)state;
	assert_int_equal(c->pw_max_length, 256);
	assert_int_equal(why(c, USER, EMAIL, rep(b, sizeof(b), 'q', 256)),
	    OK);
	assert_int_equal(why(c, USER, EMAIL, rep(b, sizeof(b), 'q', 257)),
	    MSS_PW_TOO_LONG);
	assert_int_equal(why(c, USER, EMAIL, rep(b, sizeof(b), 'q', 2000)),
	    MSS_PW_TOO_LONG);
	c->pw_max_length = 1024;
	assert_int_equal(why(c, USER, EMAIL, rep(b, sizeof(b), 'q', 1024)),
	    OK);
	assert_int_equal(why(c, USER, EMAIL, rep(b, sizeof(b), 'q', 1025)),
	    MSS_PW_TOO_LONG);
	/* min = max: that one length only. */
	c->pw_min_length = c->pw_max_length = 16;
	assert_int_equal(why(c, USER, EMAIL, rep(b, sizeof(b), 'q', 15)),
	    MSS_PW_TOO_SHORT);
	assert_int_equal(why(c, USER, EMAIL, rep(b, sizeof(b), 'q', 16)), OK);
	assert_int_equal(why(c, USER, EMAIL, rep(b, sizeof(b), 'q', 17)),
	    MSS_PW_TOO_LONG);
	mfad_conf_free(c);
}

/*
 * Lengths are counted in bytes, as the wire and the hash see them: six
 * two-byte letters meet a minimum of 12, and max_length bounds the bytes
 * that go to argon2, whatever the characters.
 */
static void
test_length_in_bytes(void **state)
{
	struct mfad_conf *c = conf_new();
	char b[2048];
	size_t i;

	(void)state;
	/* "éééééé": 6 characters, 12 bytes. */
	assert_int_equal(why(c, USER, EMAIL,
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"), OK);
	assert_int_equal(why(c, USER, EMAIL,
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9q"), MSS_PW_TOO_SHORT);
	/* 128 two-byte letters are 256 bytes; one more byte is over. */
	for (i = 0; i < 128; i++)
		memcpy(b + 2 * i, "\xc3\xa9", 2);
	b[256] = '\0';
	assert_int_equal(why(c, USER, EMAIL, b), OK);
	b[256] = 'q';
	b[257] = '\0';
	assert_int_equal(why(c, USER, EMAIL, b), MSS_PW_TOO_LONG);
	mfad_conf_free(c);
}

/* Too short is said before anything else: the user name is short. */
static void
test_order(void **state)
{
	struct mfad_conf *c = conf_new();

	(void)state;
	assert_int_equal(why(c, USER, EMAIL, USER), MSS_PW_TOO_SHORT);
	c->pw_min_length = 5;
	assert_int_equal(why(c, USER, EMAIL, USER), MSS_PW_LIKE_NAME);
	c->pw_max_length = 4;
	c->pw_min_length = 1;
	assert_int_equal(why(c, USER, EMAIL, USER), MSS_PW_TOO_LONG);
	mfad_conf_free(c);
}

static void
test_like_name(void **state)
{
	struct mfad_conf *c = conf_new();

	(void)state;
	c->pw_min_length = 8;
	/* The user name, in any case. */
	assert_int_equal(why(c, "margaret", EMAIL, "margaret"),
	    MSS_PW_LIKE_NAME);
	assert_int_equal(why(c, "margaret", EMAIL, "MarGaret"),
	    MSS_PW_LIKE_NAME);
	assert_int_equal(why(c, "MARGARET", EMAIL, "margaret"),
	    MSS_PW_LIKE_NAME);
	/* The whole address, in any case. */
	assert_int_equal(why(c, USER, EMAIL, EMAIL), MSS_PW_LIKE_NAME);
	assert_int_equal(why(c, USER, EMAIL, "alice.martin@EXAMPLE.ORG"),
	    MSS_PW_LIKE_NAME);
	/* Its local part, in any case. */
	assert_int_equal(why(c, USER, EMAIL, "Alice.Martin"),
	    MSS_PW_LIKE_NAME);
	assert_int_equal(why(c, USER, EMAIL, "alice.martin"),
	    MSS_PW_LIKE_NAME);
	assert_int_equal(why(c, USER, EMAIL, "ALICE.MARTIN"),
	    MSS_PW_LIKE_NAME);
	/* Not a rule on what a password contains: one more character, one
	 * less, the domain alone, the name inside a longer one all pass. */
	assert_int_equal(why(c, USER, EMAIL, "Alice.Martin1"), OK);
	assert_int_equal(why(c, USER, EMAIL, "lice.Martin"), OK);
	assert_int_equal(why(c, USER, EMAIL, "Alice.Marti"), OK);
	assert_int_equal(why(c, USER, EMAIL, "example.org"), OK);
	assert_int_equal(why(c, USER, EMAIL, "@example.org"), OK);
	assert_int_equal(why(c, "margaret", EMAIL, "margaret2026"), OK);
	assert_int_equal(why(c, "margaret", EMAIL, "xmargaret"), OK);
	assert_int_equal(why(c, USER, EMAIL, "Alice.Martin@example.or"), OK);
	/* An account without an address yet: the name rule alone. */
	assert_int_equal(why(c, "margaret", "", "margaret"),
	    MSS_PW_LIKE_NAME);
	assert_int_equal(why(c, "margaret", "", "something-long"), OK);
	/* An address without '@' is compared whole. */
	assert_int_equal(why(c, USER, "postmaster", "postmaster"),
	    MSS_PW_LIKE_NAME);
	assert_int_equal(why(c, USER, "postmaster", "postmaste"), OK);
	/* The local part of the first '@'. */
	assert_int_equal(why(c, USER, "first.last@x@y", "first.last"),
	    MSS_PW_LIKE_NAME);
	mfad_conf_free(c);
}

/* Writes the blocklist file and loads it. */
static struct mfad_conf *
conf_blocklist(const char *text)
{
	struct mfad_conf *c = mfad_conf_new();
	FILE *f;

	assert_non_null(c);
	c->pw_opslimit = crypto_pwhash_OPSLIMIT_MIN;
	c->pw_memlimit = crypto_pwhash_MEMLIMIT_MIN;
	c->pw_min_length = 8;
	assert_non_null(f = fopen(blockpath, "w"));
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_non_null(c->pw_blocklist = strdup(blockpath));
	assert_int_equal(mfad_pw_init(c), 0);
	return c;
}

static void
test_blocklist(void **state)
{
	struct mfad_conf *c;

	(void)state;
	c = conf_blocklist("# common passwords\n"
	    "password123\n"
	    "\n"
	    "Qwertyuiop\r\n"
	    "iloveyou2\n"
	    "#notblocked\n"
	    "  spaced out  \n"
	    "last-line-no-newline");
	assert_int_equal(why(c, USER, EMAIL, "password123"),
	    MSS_PW_BLOCKLISTED);
	/* Entries and passwords are compared without case. */
	assert_int_equal(why(c, USER, EMAIL, "PASSWORD123"),
	    MSS_PW_BLOCKLISTED);
	assert_int_equal(why(c, USER, EMAIL, "qwertyuiop"),
	    MSS_PW_BLOCKLISTED);
	assert_int_equal(why(c, USER, EMAIL, "QWERTYUIOP"),
	    MSS_PW_BLOCKLISTED);
	assert_int_equal(why(c, USER, EMAIL, "iloveyou2"), MSS_PW_BLOCKLISTED);
	assert_int_equal(why(c, USER, EMAIL, "last-line-no-newline"),
	    MSS_PW_BLOCKLISTED);
	/* A line is an entry as it is: blanks are part of it. */
	assert_int_equal(why(c, USER, EMAIL, "  spaced out  "),
	    MSS_PW_BLOCKLISTED);
	assert_int_equal(why(c, USER, EMAIL, "spaced out"), OK);
	/* Whole entries only; comments are not entries. */
	assert_int_equal(why(c, USER, EMAIL, "password1234"), OK);
	assert_int_equal(why(c, USER, EMAIL, "password12"), OK);
	assert_int_equal(why(c, USER, EMAIL, "#notblocked"), OK);
	assert_int_equal(why(c, USER, EMAIL, "notblocked"), OK);
	/* The length rules come first. */
	c->pw_max_length = 10;
	assert_int_equal(why(c, USER, EMAIL, "password123"),
	    MSS_PW_TOO_LONG);
	mfad_conf_free(c);

	/* A name on the blocklist is refused as the name. */
	c = conf_blocklist("margaret\n");
	assert_int_equal(why(c, "margaret", EMAIL, "margaret"),
	    MSS_PW_LIKE_NAME);
	assert_int_equal(why(c, USER, EMAIL, "Margaret"), MSS_PW_BLOCKLISTED);
	mfad_conf_free(c);

	/* A reload without a blocklist lets go of the old one. */
	c = conf_new();
	c->pw_min_length = 8;
	assert_int_equal(why(c, USER, EMAIL, "Margaret"), OK);
	mfad_conf_free(c);
	assert_int_equal(unlink(blockpath), 0);
}

/* A blocklist that cannot be read is a configuration error, and the
 * one in force stays. */
static void
test_blocklist_missing(void **state)
{
	struct mfad_conf *c;

	(void)state;
	c = conf_blocklist("tr0ub4dor&3\n");
	assert_int_equal(unlink(blockpath), 0);
	assert_int_equal(mfad_pw_init(c), MSS_ERR_CONFIG);
	assert_int_equal(why(c, USER, EMAIL, "Tr0ub4dor&3"),
	    MSS_PW_BLOCKLISTED);
	mfad_conf_free(c);
	c = conf_new();
	mfad_conf_free(c);
}

static int
setup(void **state)
{
	int fd;

	(void)state;
	if (sodium_init() < 0 || (fd = mkstemp(blockpath)) < 0)
		return -1;
	return close(fd);
}

static int
teardown(void **state)
{
	(void)state;
	(void)unlink(blockpath);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason_codes),
		cmocka_unit_test(test_min_length),
		cmocka_unit_test(test_max_length),
		cmocka_unit_test(test_length_in_bytes),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_like_name),
		cmocka_unit_test(test_blocklist),
		cmocka_unit_test(test_blocklist_missing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
