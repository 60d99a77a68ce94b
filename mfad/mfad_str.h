/*
 * Small string helpers of the daemon, one of each.
 */
#ifndef MFAD_STR_H
#define MFAD_STR_H

#include <stddef.h>

/* Copies src (NULL: "") into dst of n bytes, cut to fit, always
 * terminated when n > 0. For fixed-size record fields. */
void mfad_str_copy(char *dst, size_t n, const char *src);
/* Copies src into dst of n bytes in lower case (ASCII rules), cut to
 * fit, always terminated when n > 0; dst may be src. */
void mfad_str_lower(char *dst, const char *src, size_t n);
/* Formats an error message into err of errlen bytes, cut to fit; does
 * nothing when err is NULL or errlen 0 (the caller wants no message). */
void mfad_str_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
