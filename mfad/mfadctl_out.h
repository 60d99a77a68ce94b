/*
 * mfadctl's output on stdout: text for a person (control characters and
 * invalid UTF-8 made harmless, columns aligned) or JSON (always valid
 * UTF-8), and how times, durations and states are shown.
 */
#ifndef MFADCTL_OUT_H
#define MFADCTL_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mss_err.h"

/*
 * Writes s to fp for a person (fp NULL: writes nothing), one column per
 * character, '?' for a control character (C0, DEL, C1) or an invalid
 * byte. Returns the number of columns.
 */
size_t ctl_text(FILE *fp, const char *s);
/* Writes s as ctl_text does, padded with spaces to width columns. */
void ctl_cell(const char *s, size_t width);
/* s, or "-" when s is empty. */
const char *ctl_dash(const char *s);

/* The text of cell (row, col) of a table; buf (len bytes) may hold it. */
typedef const char *ctl_cell_fn(const void *arg, size_t row, size_t col,
    char *buf, size_t len);
#define CTL_TABLE_COLS_MAX	8
/*
 * Writes a table: a line of the ncols (1..CTL_TABLE_COLS_MAX) headings,
 * then nrows lines of cells from cell. Each column but the last is as
 * wide as its widest entry, followed by two spaces; the last is not
 * padded.
 */
void ctl_table(const char *const *head, size_t ncols, size_t nrows,
    ctl_cell_fn *cell, const void *arg);

/* Writes s as a JSON string: quotes and backslashes escaped, control
 * characters as \u00XX, UTF-8 as is, an invalid byte as \ufffd. */
void ctl_json_str(const char *s);
/* Starts member key of an object; *first (1 before the first member)
 * says whether a comma goes first. */
void ctl_json_key(int *first, const char *key);
void ctl_json_kstr(int *first, const char *key, const char *val);
/* An empty val becomes null: "nothing to say" rather than a value. */
void ctl_json_kstr_null(int *first, const char *key, const char *val);
void ctl_json_knum(int *first, const char *key, uint64_t val);
/* A time (seconds since the epoch) as ISO 8601 UTC; 0 is null, the
 * largest value "never", one gmtime cannot convert the bare number. */
void ctl_json_ktime(int *first, const char *key, uint64_t t);

/* A time for a person, in buf or a constant: "-" for 0, ISO 8601 UTC,
 * or the bare number when gmtime cannot convert it. */
const char *ctl_time(uint64_t t, char *buf, size_t len);
/* Seconds as "[Nd ]HH:MM:SS", in buf. */
const char *ctl_duration(uint64_t s, char *buf, size_t len);
/* The name of an account state (enum mss_acct_state), or "state-N" in
 * buf for one this mfadctl does not know. */
const char *ctl_state_name(uint8_t state, char *buf, size_t len);

#endif /* MFADCTL_OUT_H */
