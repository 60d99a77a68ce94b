/*
 * The CSV rows of `mfadctl import`, read apart from the command so that
 * the reader can be tested and fuzzed alone.
 */
#ifndef MFAD_CSV_H
#define MFAD_CSV_H

/*
 * Splits a CSV row into at most max trimmed fields, in place. A field may
 * be in double quotes (with "" for a quote), as spreadsheets write a field
 * that holds commas, like an argon2id hash. Returns the number of fields,
 * -1 when there are more than max, -2 for an unclosed or stray quote.
 */
int mfad_csv_split(char *s, char **f, int max);

#endif /* MFAD_CSV_H */
