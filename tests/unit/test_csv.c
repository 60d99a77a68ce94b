/*
 * Unit tests for mfad/mfad_csv.c, the reader of `mfadctl import` files:
 * lines as spreadsheets and editors write them (CRLF, a byte-order mark,
 * a header row, comments, no newline at the end) and rows with quoted
 * fields, as an argon2id hash needs.
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

#include "mfad_csv.h"

#define MAXF	8

/* Splits a copy of in; checks the count and, for rows, the fields. */
static void
check_split(const char *in, int want_n, const char *const *want)
{
	char buf[512], *f[MAXF];
	int i, n;

	snprintf(buf, sizeof(buf), "%s", in);
	n = mfad_csv_split(buf, f, MAXF);
	assert_int_equal(n, want_n);
	for (i = 0; i < n; i++)
		assert_string_equal(f[i], want[i]);
}

static void
test_split_plain_fields_trimmed(void **state)
{
	const char *const w1[] = { "alice", "a@example.org", "fr" };
	const char *const w2[] = { "bob", "", "", "" };
	const char *const w3[] = { "" };

	(void)state;
	check_split("alice,a@example.org,fr", 3, w1);
	check_split("  alice ,\ta@example.org\t, fr  ", 3, w1);
	check_split("bob,,,", 4, w2);
	check_split("", 1, w3);
	/* A field of blanks alone is empty. */
	check_split("bob, \t ,  ,\t", 4, w2);
}

static void
test_split_quoted_fields(void **state)
{
	const char *const w1[] = { "carol", "c@example.org", "en",
	    "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "dev1" };
	const char *const w2[] = { "d", "say \"hi\", then go", "x" };
	const char *const w3[] = { "e", "", "a,b" };
	const char *const w4[] = { "e", "" };
	const char *const w5[] = { " e ", "\"" };

	(void)state;
	/* Embedded commas stay in the field. */
	check_split("carol,c@example.org,en,"
	    "\"$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA\",dev1", 5, w1);
	/* "" is a quote; blanks around a quoted field go. */
	check_split("d, \"say \"\"hi\"\", then go\" ,x", 3, w2);
	check_split("e,\"\",\"a,b\"", 3, w3);
	/* A quoted field last, then an empty one after its comma. */
	check_split("\"e\",", 2, w4);
	/* Blanks inside quotes are kept; a lone "" is one quote. */
	check_split("\" e \",\"\"\"\"", 2, w5);
	/* Blanks and a tab before the comma that ends a quoted field. */
	check_split("\"e\" \t,\"\"", 2, w4);
}

static void
test_split_bad_quotes_and_too_many(void **state)
{
	char buf[64], *f[2];

	(void)state;
	check_split("a,\"open", -2, NULL);		/* unclosed */
	check_split("a,\"x\"y,b", -2, NULL);		/* text after */
	check_split("a,b\"c", -2, NULL);		/* stray quote */
	check_split("a,\"x\"\"", -2, NULL);		/* "" then the end */
	check_split("\"", -2, NULL);
	check_split("a,\"x\" \"y\"", -2, NULL);	/* two quoted */
	check_split("a,b,c,d,e,f,g,h,i", -1, NULL);
	/* Exactly as many fields as there is room for, and one more. */
	{
		const char *const w8[] = { "a", "b", "c", "d", "e", "f", "g",
		    "h" };
		const char *const w8q[] = { "a", "b", "c", "d", "e", "f",
		    "g", "h,i" };

		check_split("a,b,c,d,e,f,g,h", MAXF, w8);
		check_split("a,b,c,d,e,f,g,h,", -1, NULL);
		check_split("a,b,c,d,e,f,g,\"h,i\"", MAXF, w8q);
	}
	snprintf(buf, sizeof(buf), "a,b");
	assert_int_equal(mfad_csv_split(buf, f, 2), 2);
	snprintf(buf, sizeof(buf), "a,b,");
	assert_int_equal(mfad_csv_split(buf, f, 2), -1);
}

/* Runs mfad_csv_line on a copy of in (len bytes); the row in row_out. */
static int
line_kind(const char *in, size_t len, unsigned long lineno, char *row_out,
    size_t outlen)
{
	char *buf, *row = NULL;
	int k;

	assert_non_null(buf = malloc(len + 1));
	memcpy(buf, in, len);
	buf[len] = '\0';
	k = mfad_csv_line(buf, len, lineno, &row);
	if (k != MFAD_CSV_SKIP) {
		assert_non_null(row);
		snprintf(row_out, outlen, "%s", row);
	}
	free(buf);
	return k;
}

#define LINE(s, no, out) line_kind((s), sizeof(s) - 1, (no), (out), \
	sizeof(out))

static void
test_line_ends(void **state)
{
	char row[128];

	(void)state;
	assert_int_equal(LINE("a,b@x.org\n", 2, row), MFAD_CSV_ROW);
	assert_string_equal(row, "a,b@x.org");
	assert_int_equal(LINE("a,b@x.org\r\n", 2, row), MFAD_CSV_ROW);
	assert_string_equal(row, "a,b@x.org");
	assert_int_equal(LINE("a,b@x.org\r", 2, row), MFAD_CSV_ROW);
	assert_string_equal(row, "a,b@x.org");
	/* The last line of a file without a final newline. */
	assert_int_equal(LINE("a,b@x.org", 7, row), MFAD_CSV_ROW);
	assert_string_equal(row, "a,b@x.org");
	/* Leading blanks go; trailing ones are the splitter's. */
	assert_int_equal(LINE(" \ta,b@x.org \r\n", 2, row), MFAD_CSV_ROW);
	assert_string_equal(row, "a,b@x.org ");
	/* Every line end at the end goes, in any mix. */
	assert_int_equal(LINE("a,b@x.org\r\r\n", 2, row), MFAD_CSV_ROW);
	assert_string_equal(row, "a,b@x.org");
	assert_int_equal(LINE("a,b@x.org\n\r", 2, row), MFAD_CSV_ROW);
	assert_string_equal(row, "a,b@x.org");
	/* A CR inside a line is not an end: it stays in the row, for the
	 * checks of the field it is in to refuse. */
	assert_int_equal(LINE("a\r,b@x.org\r\n", 2, row), MFAD_CSV_ROW);
	assert_string_equal(row, "a\r,b@x.org");
}

static void
test_line_skipped(void **state)
{
	char row[128];

	(void)state;
	assert_int_equal(LINE("\n", 3, row), MFAD_CSV_SKIP);
	assert_int_equal(LINE("\r\n", 3, row), MFAD_CSV_SKIP);
	assert_int_equal(LINE(" \t \r\n", 3, row), MFAD_CSV_SKIP);
	assert_int_equal(LINE("", 3, row), MFAD_CSV_SKIP);
	assert_int_equal(LINE("# a comment, with commas\n", 3, row),
	    MFAD_CSV_SKIP);
	assert_int_equal(LINE("   # indented\r\n", 3, row), MFAD_CSV_SKIP);
	/* A header row and a byte-order mark, on the first line only. */
	assert_int_equal(LINE("user,email,lang\r\n", 1, row), MFAD_CSV_SKIP);
	assert_int_equal(LINE("USER,Email\n", 1, row), MFAD_CSV_SKIP);
	assert_int_equal(LINE("\xef\xbb\xbfuser,email\r\n", 1, row),
	    MFAD_CSV_SKIP);
	assert_int_equal(LINE("\xef\xbb\xbf" "a,b@x.org\n", 1, row),
	    MFAD_CSV_ROW);
	assert_string_equal(row, "a,b@x.org");
	assert_int_equal(LINE("user,email\n", 2, row), MFAD_CSV_ROW);
	assert_string_equal(row, "user,email");
	assert_int_equal(LINE("username,email\n", 1, row), MFAD_CSV_ROW);
	assert_int_equal(LINE("\xef\xbb\xbf" "a,b\n", 2, row), MFAD_CSV_ROW);
	assert_string_equal(row, "\xef\xbb\xbf" "a,b");
	/* A first line of a byte-order mark and nothing, or a comment. */
	assert_int_equal(LINE("\xef\xbb\xbf\r\n", 1, row), MFAD_CSV_SKIP);
	assert_int_equal(LINE("\xef\xbb\xbf", 1, row), MFAD_CSV_SKIP);
	assert_int_equal(LINE("\xef\xbb\xbf # users\n", 1, row),
	    MFAD_CSV_SKIP);
	/* Half a mark is no mark. */
	assert_int_equal(LINE("\xef\xbb" "a,b\n", 1, row), MFAD_CSV_ROW);
	assert_string_equal(row, "\xef\xbb" "a,b");
	/* The header is the two names, then a comma or the end. */
	assert_int_equal(LINE("  user,email,lang,password_hash\n", 1, row),
	    MFAD_CSV_SKIP);
	assert_int_equal(LINE("user,emails\n", 1, row), MFAD_CSV_ROW);
	assert_int_equal(LINE("user,email lang\n", 1, row), MFAD_CSV_ROW);
	assert_int_equal(LINE("user, email\n", 1, row), MFAD_CSV_ROW);
	/* A '#' after the first character is data, not a comment. */
	assert_int_equal(LINE("a#b,c@x.org\n", 3, row), MFAD_CSV_ROW);
	assert_string_equal(row, "a#b,c@x.org");
}

/* A NUL byte cannot reach the splitter (it would cut the row short). */
static void
test_line_nul_byte(void **state)
{
	char row[128];

	(void)state;
	assert_int_equal(LINE("a,b@x\0.org\n", 2, row), MFAD_CSV_NUL);
	assert_int_equal(LINE("\0a,b\n", 2, row), MFAD_CSV_NUL);
	assert_int_equal(LINE("  \0\n", 2, row), MFAD_CSV_NUL);
	/* Not taken for a comment or a blank line either. */
	assert_int_equal(LINE("\0# x\n", 2, row), MFAD_CSV_NUL);
	assert_int_equal(LINE("\0", 2, row), MFAD_CSV_NUL);
	assert_int_equal(LINE("a,b\0\r\n", 2, row), MFAD_CSV_NUL);
	/* A NUL after a comment's '#' leaves it a comment. */
	assert_int_equal(LINE("# x\0y\n", 2, row), MFAD_CSV_SKIP);
}

/* A long line is read whole, neither cut nor split in two. */
static void
test_line_over_long(void **state)
{
	size_t len = 1 << 20, i;
	char *buf, *row = NULL, *f[MAXF];

	(void)state;
	assert_non_null(buf = malloc(len + 3));
	memcpy(buf, "u,", 2);
	for (i = 2; i < len; i++)
		buf[i] = 'a' + (char)(i % 26);
	buf[len] = '\r';
	buf[len + 1] = '\n';
	buf[len + 2] = '\0';
	assert_int_equal(mfad_csv_line(buf, len + 2, 5, &row), MFAD_CSV_ROW);
	assert_ptr_equal(row, buf);
	assert_int_equal(strlen(row), len);
	assert_int_equal(mfad_csv_split(row, f, MAXF), 2);
	assert_string_equal(f[0], "u");
	assert_int_equal(strlen(f[1]), len - 2);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_plain_fields_trimmed),
		cmocka_unit_test(test_split_quoted_fields),
		cmocka_unit_test(test_split_bad_quotes_and_too_many),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_line_skipped),
		cmocka_unit_test(test_line_nul_byte),
		cmocka_unit_test(test_line_over_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
