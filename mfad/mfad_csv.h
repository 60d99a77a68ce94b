/*
 * The CSV rows of `mfadctl import`, read apart from the command so that
 * the reader can be tested and fuzzed alone.
 */
#ifndef MFAD_CSV_H
#define MFAD_CSV_H

#include <stddef.h>

#include "mss_err.h"

/*
 * Splits a CSV row into at most max trimmed fields, in place. A field may
 * be in double quotes (with "" for a quote), as spreadsheets write a field
 * that holds commas, like an argon2id hash. Returns the number of fields,
 * -1 when there are more than max, -2 for an unclosed or stray quote.
 */
int mfad_csv_split(char *s, char **f, int max) MSS_WUR;

/* What mfad_csv_line found. */
#define MFAD_CSV_ROW	0	/* a row, at *row */
#define MFAD_CSV_SKIP	1	/* blank, a '#' comment, or the header row */
#define MFAD_CSV_NUL	2	/* a row holding a NUL byte, unusable */

/*
 * Takes one line as read from the file (len bytes, a NUL after them) of
 * number lineno (from 1): cuts its line end (LF, CRLF, CR, or none on
 * the last line) in place, then passes over a UTF-8 byte-order mark on
 * the first line and leading blanks. A row is left at *row.
 */
int mfad_csv_line(char *line, size_t len, unsigned long lineno, char **row)
    MSS_WUR;

#endif /* MFAD_CSV_H */
