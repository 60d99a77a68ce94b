/*
 * Unit tests for mfad/mfadctl_out.c: what mfadctl prints of the data
 * mfad sends. A terminal must never receive a control character or an
 * invalid UTF-8 sequence from it, JSON must stay valid whatever the
 * bytes, and tables must line up by columns, not bytes.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mfadctl_out.h"

/* stdout of the code under test, caught in a temporary file. */
static FILE *cap_fp;
static int cap_saved = -1;
static char cap_buf[1 << 16];

static void
cap_start(void)
{
	fflush(stdout);
	assert_non_null(cap_fp = tmpfile());
	assert_true((cap_saved = dup(STDOUT_FILENO)) >= 0);
	assert_true(dup2(fileno(cap_fp), STDOUT_FILENO) >= 0);
}

static const char *
cap_end(void)
{
	size_t n;

	fflush(stdout);
	assert_true(dup2(cap_saved, STDOUT_FILENO) >= 0);
	close(cap_saved);
	cap_saved = -1;
	rewind(cap_fp);
	n = fread(cap_buf, 1, sizeof(cap_buf) - 1, cap_fp);
	cap_buf[n] = '\0';
	fclose(cap_fp);
	cap_fp = NULL;
	return cap_buf;
}

static void
check_json_str(const char *in, const char *want)
{
	cap_start();
	ctl_json_str(in);
	assert_string_equal(cap_end(), want);
}

static void
test_json_escapes_quotes_and_backslashes(void **state)
{
	(void)state;
	check_json_str("", "\"\"");
	check_json_str("plain", "\"plain\"");
	check_json_str("a\"b\\c", "\"a\\\"b\\\\c\"");
}

/* Every C0 control character and DEL as \u00XX: none is left raw. */
static void
test_json_escapes_control_characters(void **state)
{
	char in[2], want[16];
	int c;

	(void)state;
	check_json_str("a\nb\tc\r\x1b[2J", "\"a\\u000ab\\u0009c\\u000d"
	    "\\u001b[2J\"");
	check_json_str("\x7f", "\"\\u007f\"");
	for (c = 1; c < 0x20; c++) {
		in[0] = (char)c;
		in[1] = '\0';
		snprintf(want, sizeof(want), "\"\\u%04x\"", c);
		check_json_str(in, want);
	}
}

/* Valid UTF-8 passes as is; each byte of a bad sequence is U+FFFD. */
static void
test_json_non_utf8_bytes_replaced(void **state)
{
	(void)state;
	check_json_str("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91",
	    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91\"");
	check_json_str("a\xff" "b", "\"a\\ufffdb\"");
	/* Latin-1, as an old file might hold it. */
	check_json_str("caf\xe9", "\"caf\\ufffd\"");
	/* Overlong '/', a surrogate, a cut sequence, a stray continuation. */
	check_json_str("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	check_json_str("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	check_json_str("x\xe2\x82", "\"x\\ufffd\\ufffd\"");
	check_json_str("\x80" "y", "\"\\ufffdy\"");
	/* Above U+10FFFF. */
	check_json_str("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
}

static void
test_json_object_members(void **state)
{
	int first = 1;

	(void)state;
	cap_start();
	putchar('{');
	ctl_json_kstr(&first, "user", "al\"ice");
	ctl_json_knum(&first, "n", 18446744073709551615ULL);
	ctl_json_kstr_null(&first, "none", "");
	ctl_json_kstr_null(&first, "some", "x");
	ctl_json_ktime(&first, "never_set", 0);
	ctl_json_ktime(&first, "t", 86400 + 61);
	ctl_json_ktime(&first, "lock", UINT64_MAX);
	putchar('}');
	assert_string_equal(cap_end(), "{\"user\":\"al\\\"ice\","
	    "\"n\":18446744073709551615,\"none\":null,\"some\":\"x\","
	    "\"never_set\":null,\"t\":\"1970-01-02T00:01:01Z\","
	    "\"lock\":\"never\"}");
}

/* Text for a person: '?' for each control character (C0, DEL, C1) and
 * each invalid byte; columns count characters, not bytes. */
static void
test_text_control_and_invalid_bytes(void **state)
{
	(void)state;
	cap_start();
	assert_int_equal(ctl_text(stdout, "a\x1b[31mb\x7f\xc2\x85" "c\xff"),
	    11);
	assert_string_equal(cap_end(), "a?[31mb??c?");
	cap_start();
	assert_int_equal(ctl_text(stdout, "\xc3\xa9t\xc3\xa9 \xe2\x82\xac"),
	    5);
	assert_string_equal(cap_end(), "\xc3\xa9t\xc3\xa9 \xe2\x82\xac");
	/* NULL: only the count. */
	cap_start();
	assert_int_equal(ctl_text(NULL, "\xc3\xa9\n"), 2);
	assert_string_equal(cap_end(), "");
}

static void
test_cell_pads_by_columns(void **state)
{
	(void)state;
	cap_start();
	ctl_cell("\xc3\xa9t\xc3\xa9", 5);
	putchar('|');
	ctl_cell("toolong", 3);
	putchar('|');
	assert_string_equal(cap_end(), "\xc3\xa9t\xc3\xa9  |toolong|");
}

static const char *const tab_cells[][3] = {
	{ "alice", "a@example.org", "active" },
	{ "j\xc3\xa9r\xc3\xb4me", "\x1b]0;x\x07", "" },
};

static const char *
tab_cell(const void *arg, size_t row, size_t col, char *buf, size_t len)
{
	(void)arg;
	snprintf(buf, len, "%s", ctl_dash(tab_cells[row][col]));
	return buf;
}

/* Columns as wide as the widest entry in characters, two spaces
 * between, the last one unpadded; control characters shown as '?'. */
static void
test_table_aligns_columns(void **state)
{
	static const char *const head[] = { "USER", "EMAIL", "STATE" };

	(void)state;
	cap_start();
	ctl_table(head, 3, 2, tab_cell, NULL);
	assert_string_equal(cap_end(),
	    "USER    EMAIL          STATE\n"
	    "alice   a@example.org  active\n"
	    "j\xc3\xa9r\xc3\xb4me  ?]0;x?         -\n");
	/* No rows: the headings alone. */
	cap_start();
	ctl_table(head, 3, 0, tab_cell, NULL);
	assert_string_equal(cap_end(), "USER  EMAIL  STATE\n");
}

static void
test_time_duration_state(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(ctl_time(0, buf, sizeof(buf)), "-");
	assert_string_equal(ctl_time(1, buf, sizeof(buf)),
	    "1970-01-01T00:00:01Z");
	assert_string_equal(ctl_time(UINT64_MAX, buf, sizeof(buf)),
	    "never (until unlocked or reset)");
	/* Beyond what gmtime converts: the number, not nothing. */
	assert_string_equal(ctl_time(UINT64_MAX - 1, buf, sizeof(buf)),
	    "18446744073709551614");
	assert_string_equal(ctl_duration(0, buf, sizeof(buf)), "00:00:00");
	assert_string_equal(ctl_duration(3661, buf, sizeof(buf)), "01:01:01");
	assert_string_equal(ctl_duration(2 * 86400 + 59, buf, sizeof(buf)),
	    "2d 00:00:59");
	assert_string_equal(ctl_state_name(0, buf, sizeof(buf)), "active");
	assert_string_equal(ctl_state_name(5, buf, sizeof(buf)), "reenroll");
	assert_string_equal(ctl_state_name(200, buf, sizeof(buf)),
	    "state-200");
	assert_string_equal(ctl_dash(""), "-");
	assert_string_equal(ctl_dash("x"), "x");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_escapes_quotes_and_backslashes),
		cmocka_unit_test(test_json_escapes_control_characters),
		cmocka_unit_test(test_json_non_utf8_bytes_replaced),
		cmocka_unit_test(test_json_object_members),
		cmocka_unit_test(test_text_control_and_invalid_bytes),
		cmocka_unit_test(test_cell_pads_by_columns),
		cmocka_unit_test(test_table_aligns_columns),
		cmocka_unit_test(test_time_duration_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
