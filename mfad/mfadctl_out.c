/*
 * mfadctl's output: text for a person and JSON on stdout, times and
 * durations. Whatever mfad sends is data, not terminal commands.
 */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mfadctl_out.h"
#include "mss_err.h"

/* Indexed by enum mss_acct_state. */
static const char *const ctl_states[] = {
	"active", "invited", "locked", "disabled", "unknown", "reenroll",
};
#define CTL_NSTATES	(sizeof(ctl_states) / sizeof(ctl_states[0]))

/*
 * Text from mfad.
 *
 * Whatever mfad sends is data, not terminal commands: control characters
 * (C0, DEL, C1) and malformed UTF-8 never reach a terminal as such, and
 * JSON strings are always valid UTF-8.
 */

/* Decodes one UTF-8 sequence at s (NUL-terminated): its length in bytes
 * and the code point in *cpp, or 0 for an invalid or overlong sequence. */
static size_t
ctl_utf8_next(const unsigned char *s, uint32_t *cpp)
{
	uint32_t cp, min;
	size_t i, n;

	if (s[0] < 0x80) {
		*cpp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else
		return 0;
	/* A NUL is not a continuation byte, so this stops at the end. */
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cpp = cp;
	return n;
}

/*
 * Writes s to fp for a person (fp NULL: writes nothing), one column per
 * character, '?' for a control character or an invalid byte. Returns
 * the number of columns.
 */
size_t
ctl_text(FILE *fp, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t cols = 0, n;
	uint32_t cp;

	while (*p != '\0') {
		n = ctl_utf8_next(p, &cp);
		if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
			if (fp != NULL)
				fputc('?', fp);
			p += n == 0 ? 1 : n;
		} else {
			if (fp != NULL)
				fwrite(p, 1, n, fp);
			p += n;
		}
		cols++;
	}
	return cols;
}

/* Writes s padded with spaces to width columns. */
void
ctl_cell(const char *s, size_t width)
{
	size_t cols;

	for (cols = ctl_text(stdout, s); cols < width; cols++)
		putchar(' ');
}

/* Writes s as a JSON string: quotes and backslashes escaped, control
 * characters as \u00XX, UTF-8 as is, an invalid byte as U+FFFD. */
void
ctl_json_str(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	size_t n;

	putchar('"');
	while (*p != '\0') {
		if (*p == '"' || *p == '\\') {
			putchar('\\');
			putchar(*p++);
		} else if (*p < 0x20 || *p == 0x7f) {
			printf("\\u%04x", *p++);
		} else if ((n = ctl_utf8_next(p, &cp)) == 0) {
			fputs("\\ufffd", stdout);
			p++;
		} else {
			fwrite(p, 1, n, stdout);
			p += n;
		}
	}
	putchar('"');
}

/* Starts member key of an object; *first tracks the comma. */
void
ctl_json_key(int *first, const char *key)
{
	if (!*first)
		putchar(',');
	*first = 0;
	ctl_json_str(key);
	putchar(':');
}

void
ctl_json_kstr(int *first, const char *key, const char *val)
{
	ctl_json_key(first, key);
	ctl_json_str(val);
}

/* An empty string becomes null: "nothing to say" rather than a value. */
void
ctl_json_kstr_null(int *first, const char *key, const char *val)
{
	ctl_json_key(first, key);
	if (val[0] == '\0')
		fputs("null", stdout);
	else
		ctl_json_str(val);
}

void
ctl_json_knum(int *first, const char *key, uint64_t val)
{
	ctl_json_key(first, key);
	printf("%" PRIu64, val);
}

/*
 * Times travel as seconds since the epoch, 0 meaning never. They are
 * shown as ISO 8601 UTC; a value gmtime cannot convert is shown as the
 * bare number rather than hidden.
 */
static int MSS_WUR
ctl_iso_time(uint64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt;

	if (t > (uint64_t)INT64_MAX)
		return -1;
	tt = (time_t)t;
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -1;
	return 0;
}

const char *
ctl_time(uint64_t t, char *buf, size_t len)
{
	if (t == 0)
		return "-";
	if (t == UINT64_MAX)
		return "never (until unlocked or reset)";
	if (ctl_iso_time(t, buf, len) != 0)
		snprintf(buf, len, "%" PRIu64, t);
	return buf;
}

void
ctl_json_ktime(int *first, const char *key, uint64_t t)
{
	char buf[64];

	ctl_json_key(first, key);
	if (t == 0)
		fputs("null", stdout);
	else if (t == UINT64_MAX)
		ctl_json_str("never");	/* a lock that ends only by hand */
	else if (ctl_iso_time(t, buf, sizeof(buf)) == 0)
		ctl_json_str(buf);
	else
		printf("%" PRIu64, t);
}

/* Seconds as "[Nd ]HH:MM:SS". */
const char *
ctl_duration(uint64_t s, char *buf, size_t len)
{
	uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

	if (d > 0)
		snprintf(buf, len, "%" PRIu64 "d %02" PRIu64 ":%02" PRIu64
		    ":%02" PRIu64, d, h, m, s % 60);
	else
		snprintf(buf, len, "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64,
		    h, m, s % 60);
	return buf;
}

const char *
ctl_state_name(uint8_t state, char *buf, size_t len)
{
	if (state < CTL_NSTATES)
		return ctl_states[state];
	/* A newer mfad may know more states; show the number. */
	snprintf(buf, len, "state-%u", (unsigned)state);
	return buf;
}

const char *
ctl_dash(const char *s)
{
	return s[0] != '\0' ? s : "-";
}

void
ctl_table(const char *const *head, size_t ncols, size_t nrows,
    ctl_cell_fn *cell, const void *arg)
{
	size_t w[CTL_TABLE_COLS_MAX], row, c, k;
	char buf[64];

	if (ncols == 0 || ncols > CTL_TABLE_COLS_MAX)
		abort();	/* a table this file was not written for */
	for (c = 0; c + 1 < ncols; c++)
		w[c] = ctl_text(NULL, head[c]);
	for (row = 0; row < nrows; row++)
		for (c = 0; c + 1 < ncols; c++)
			if ((k = ctl_text(NULL, cell(arg, row, c, buf,
			    sizeof(buf)))) > w[c])
				w[c] = k;
	for (c = 0; c + 1 < ncols; c++)
		ctl_cell(head[c], w[c] + 2);
	ctl_text(stdout, head[ncols - 1]);
	putchar('\n');
	for (row = 0; row < nrows; row++) {
		for (c = 0; c + 1 < ncols; c++)
			ctl_cell(cell(arg, row, c, buf, sizeof(buf)),
			    w[c] + 2);
		ctl_text(stdout, cell(arg, row, ncols - 1, buf, sizeof(buf)));
		putchar('\n');
	}
}
