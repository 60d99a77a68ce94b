#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>

#include "mfad_str.h"

void
mfad_str_copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src == NULL ? "" : src);
}

void
mfad_str_lower(char *dst, const char *src, size_t n)
{
	size_t i;

	if (n == 0)
		return;
	for (i = 0; i + 1 < n && src[i] != '\0'; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
}

void
mfad_str_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
