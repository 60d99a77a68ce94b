/*
 * Unit tests for common/mss_addr.c: the one address normaliser (Unicode
 * domains to A-labels through libidn2, distinct errors for a non-ASCII
 * local part and for a bad domain), and the display and masked forms.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mss_addr.h"
#include "mss_err.h"
#include "mss_ident.h"

static void
want_ok(const char *in, const char *want)
{
	char out[MSS_EMAIL_MAX + 1], again[MSS_EMAIL_MAX + 1];
	char why[MSS_ADDR_WHY_MAX];
	int r;

	memset(out, 'Z', sizeof(out));
	r = mss_addr_normalize(in, out, sizeof(out), why, sizeof(why));
	if (r != 0)
		fail_msg("\"%s\": %d (%s), want \"%s\"", in, r, why, want);
	assert_string_equal(out, want);
	assert_int_equal(mss_email_valid(out), 1);
	/* The stored form is its own normal form. */
	assert_int_equal(mss_addr_normalize(out, again, sizeof(again), NULL,
	    0), 0);
	assert_string_equal(again, out);
}

static void
want_err(const char *in, int err, const char *why_has)
{
	char out[MSS_EMAIL_MAX + 1], why[MSS_ADDR_WHY_MAX];
	int r;

	memset(out, 'Z', sizeof(out));
	why[0] = '\0';
	r = mss_addr_normalize(in, out, sizeof(out), why, sizeof(why));
	if (r != err)
		fail_msg("\"%s\": %d, want %d (out \"%.*s\")", in, r, err,
		    (int)sizeof(out) - 1, out);
	assert_string_equal(out, "");
	if (strstr(why, why_has) == NULL)
		fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", in, why,
		    why_has);
}

static void
test_unicode_domain_to_alabel(void **state)
{
	(void)state;
	want_ok("melk@ex\xc3\xa4mple.org", "melk@xn--exmple-cua.org");
	want_ok("a@\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9"
	    "\xe3\x83\x88", "a@xn--r8jz45g.xn--zckzah");
	/* Non-transitional: sharp s is kept, not turned into "ss". */
	want_ok("b@stra\xc3\x9f" "e.de", "b@xn--strae-oqa.de");
	/* An ideographic full stop separates labels too (UTS #46). */
	want_ok("a@ex\xc3\xa4mple\xe3\x80\x82org", "a@xn--exmple-cua.org");
	/* A-labels stay as they are. */
	want_ok("melk@xn--exmple-cua.org", "melk@xn--exmple-cua.org");
	want_ok("melk@mail.xn--exmple-cua.org", "melk@mail.xn--exmple-cua.org");
}

static void
test_case_and_blanks(void **state)
{
	(void)state;
	/* The domain is lowercased, the local part kept as given. */
	want_ok("Melk@EX\xc3\x84MPLE.ORG", "Melk@xn--exmple-cua.org");
	want_ok("Alice.Smith@Example.ORG", "Alice.Smith@example.org");
	want_ok("melk@XN--EXMPLE-CUA.org", "melk@xn--exmple-cua.org");
	want_ok(" \tmelk@ex\xc3\xa4mple.org \r\n", "melk@xn--exmple-cua.org");
}

static void
test_nfc_and_nfd_agree(void **state)
{
	(void)state;
	/* U+00E4 and "a" + U+0308 COMBINING DIAERESIS. */
	want_ok("melk@ex\xc3\xa4mple.org", "melk@xn--exmple-cua.org");
	want_ok("melk@exa\xcc\x88mple.org", "melk@xn--exmple-cua.org");
}

/* Every address an earlier version accepted comes out the same, but for
 * the case of its domain. */
static void
test_ascii_addresses_unchanged(void **state)
{
	(void)state;
	want_ok("alice@example.org", "alice@example.org");
	want_ok("a!#$%&'*+-/=?^_`{|}~z@example.org",
	    "a!#$%&'*+-/=?^_`{|}~z@example.org");
	want_ok("root@LocalHost", "root@localhost");
	want_ok("x@1.2", "x@1.2");
	/* Not an IDN, but a host name all the same. */
	want_ok("x@ab--cd.example.org", "x@ab--cd.example.org");
}

static void
test_non_ascii_local_part(void **state)
{
	(void)state;
	want_err("m\xc3\xa9lk@example.org", MSS_ERR_REFUSED,
	    "non-ASCII characters before the @ are not supported");
	want_err("m\xc3\xa9lk@ex\xc3\xa4mple.org", MSS_ERR_REFUSED,
	    "not supported");
	want_err("\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd@example.org",
	    MSS_ERR_REFUSED, "not supported");
	/* Not even valid UTF-8: still a local part this cannot serve. */
	want_err("a\xff@example.org", MSS_ERR_REFUSED, "not supported");
}

static void
test_invalid_idn(void **state)
{
	(void)state;
	/* U+2603 SNOWMAN and an emoji: disallowed in IDNA2008. */
	want_err("melk@ex\xe2\x98\x83mple.org", MSS_ERR_INVAL,
	    "disallowed");
	want_err("melk@\xf0\x9f\x92\xa9.la", MSS_ERR_INVAL,
	    "not a valid internationalised domain name");
	/* A label starting with a combining mark. */
	want_err("melk@\xcc\x88" "a.org", MSS_ERR_INVAL, "combining");
	/* A-labels that decode to nothing valid. */
	want_err("melk@xn--abc.org", MSS_ERR_INVAL, "internationalised");
	want_err("melk@xn--ls8h.la", MSS_ERR_INVAL, "internationalised");
	want_err("melk@xn--zz-.org", MSS_ERR_INVAL, "internationalised");
	/* Not UTF-8. */
	want_err("melk@ex\xe4mple.org", MSS_ERR_INVAL, "internationalised");
	/* Hyphens at the ends of a Unicode label. */
	want_err("melk@-\xc3\xa4.org", MSS_ERR_INVAL, "hyphen");
	/* ASCII a mapping would let through, refused by the mail rule. */
	want_err("melk@ex\xc3\xa4 mple.org", MSS_ERR_INVAL,
	    "invalid email address");
	want_err("melk@\xe2\x91\xb4.org", MSS_ERR_INVAL,
	    "invalid email address");
}

static void
test_lengths(void **state)
{
	char s[600], big[64 * 4 + 16];
	size_t i, n;

	(void)state;
	/* 63 bytes in a label, then 64. */
	n = (size_t)snprintf(s, sizeof(s), "a@");
	for (i = 0; i < 63; i++)
		s[n++] = 'b';
	snprintf(s + n, sizeof(s) - n, ".org");
	want_ok(s, s);
	snprintf(s + n, sizeof(s) - n, "b.org");
	want_err(s, MSS_ERR_INVAL, "invalid email address");
	/* A Unicode label whose A-label would exceed 63 bytes. */
	n = (size_t)snprintf(s, sizeof(s), "a@");
	for (i = 0; i < 4; i++)		/* "a\u00e4b\u00f6c\u00fc..." */
		n += (size_t)snprintf(s + n, sizeof(s) - n, "a\xc3\xa4"
		    "b\xc3\xb6" "c\xc3\xbc" "d\xc3\xa9" "e\xc3\xa8" "f\xc3\xa0"
		    "g\xc3\xa7" "h\xc3\xb1");
	snprintf(s + n, sizeof(s) - n, ".org");
	want_err(s, MSS_ERR_INVAL, "internationalised");
	/* 65 bytes of local part. */
	memset(big, 'l', 65);
	snprintf(big + 65, sizeof(big) - 65, "@example.org");
	want_err(big, MSS_ERR_INVAL, "invalid email address");
	big[1] = '@';
	want_err(big, MSS_ERR_INVAL, "invalid email address");
	/* Six Unicode labels, each fine, too long together (> 254). */
	n = (size_t)snprintf(s, sizeof(s), "a@");
	for (i = 0; i < 6; i++) {
		size_t j;

		for (j = 0; j < 20; j++)
			n += (size_t)snprintf(s + n, sizeof(s) - n, "\xc3\xa4"
			    "b");
		s[n++] = '.';
	}
	snprintf(s + n, sizeof(s) - n, "org");
	want_err(s, MSS_ERR_INVAL, "");
	/* Longer than anything looked at. */
	memset(s, 'a', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	s[10] = '@';
	want_err(s, MSS_ERR_INVAL, "invalid email address");
}

static void
test_empty_parts_and_dots(void **state)
{
	(void)state;
	want_err(NULL, MSS_ERR_INVAL, "invalid email address");
	want_err("", MSS_ERR_INVAL, "invalid email address");
	want_err("  \t ", MSS_ERR_INVAL, "invalid email address");
	want_err("melk", MSS_ERR_INVAL, "invalid email address");
	want_err("@ex\xc3\xa4mple.org", MSS_ERR_INVAL, "invalid email address");
	want_err("melk@", MSS_ERR_INVAL, "invalid email address");
	want_err("melk@ ", MSS_ERR_INVAL, "invalid email address");
	want_err("melk@@ex\xc3\xa4mple.org", MSS_ERR_INVAL,
	    "invalid email address");
	want_err("a@b@ex\xc3\xa4mple.org", MSS_ERR_INVAL,
	    "invalid email address");
	/* A trailing (root) dot, an empty label, a bare Unicode name. */
	want_err("melk@example.org.", MSS_ERR_INVAL, "invalid email address");
	want_err("melk@ex\xc3\xa4mple.org.", MSS_ERR_INVAL,
	    "invalid email address");
	want_err("melk@ex\xc3\xa4mple..org", MSS_ERR_INVAL,
	    "invalid email address");
	want_err("melk@.ex\xc3\xa4mple.org", MSS_ERR_INVAL,
	    "invalid email address");
	want_err("melk@ex\xc3\xa4mple", MSS_ERR_INVAL,
	    "invalid email address");
	/* Blanks inside, control characters. */
	want_err("me lk@example.org", MSS_ERR_INVAL, "invalid email address");
	want_err("melk@example.org\r\nBcc: x@evil.example", MSS_ERR_INVAL,
	    "invalid email address");
}

static void
test_no_room(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(mss_addr_normalize("melk@example.org", out,
	    sizeof(out), NULL, 0), MSS_ERR_INVAL);
	assert_string_equal(out, "");
}

static void
test_display(void **state)
{
	char out[64];

	(void)state;
	mss_addr_display("melk@xn--exmple-cua.org", out, sizeof(out));
	assert_string_equal(out, "melk@ex\xc3\xa4mple.org");
	mss_addr_display("Melk@XN--EXMPLE-CUA.ORG", out, sizeof(out));
	assert_string_equal(out, "Melk@ex\xc3\xa4mple.org");
	mss_addr_display("alice@example.org", out, sizeof(out));
	assert_string_equal(out, "alice@example.org");
	/* An A-label that is not valid is shown as it is, never decoded
	 * into whatever code points it would spell. */
	mss_addr_display("a@xn--abc.org", out, sizeof(out));
	assert_string_equal(out, "a@xn--abc.org");
	mss_addr_display("a@xn--ls8h.la", out, sizeof(out));
	assert_string_equal(out, "a@xn--ls8h.la");
	/* No room for the Unicode form: the stored one, cut whole. */
	mss_addr_display("melk@xn--exmple-cua.org", out, 12);
	assert_string_equal(out, "melk@xn--ex");
	mss_addr_display("m\xc3\xa9lk@x.org", out, 3);
	assert_string_equal(out, "m");
}

static void
test_mask_shows_unicode_label(void **state)
{
	char out[128];

	(void)state;
	assert_int_equal(mss_addr_mask("melkior.d@xn--exmple-cua.org", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "melk*****@ex\xc3\xa4mple*****");
	assert_int_equal(mss_addr_mask("melkior.d@example.org", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "melk*****@example*****");
	/* Exactly the room of the Unicode form, then one byte less. */
	assert_int_equal(mss_addr_mask("melkior.d@xn--exmple-cua.org", out,
	    24), 0);
	assert_string_equal(out, "melk*****@ex\xc3\xa4mple*****");
	assert_int_equal(mss_addr_mask("melkior.d@xn--exmple-cua.org", out,
	    23), MSS_ERR_TOOBIG);
	assert_int_equal(mss_addr_mask("noat", out, sizeof(out)),
	    MSS_ERR_INVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unicode_domain_to_alabel),
		cmocka_unit_test(test_case_and_blanks),
		cmocka_unit_test(test_nfc_and_nfd_agree),
		cmocka_unit_test(test_ascii_addresses_unchanged),
		cmocka_unit_test(test_non_ascii_local_part),
		cmocka_unit_test(test_invalid_idn),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_empty_parts_and_dots),
		cmocka_unit_test(test_no_room),
		cmocka_unit_test(test_display),
		cmocka_unit_test(test_mask_shows_unicode_label),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
