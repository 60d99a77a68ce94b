/*
 * Reading rendered messages in the mail unit tests (test_render and
 * test_smtp): the header block, a header's count and the quoted-printable
 * body. Include after <cmocka.h>.
 */
#ifndef TEST_MAIL_MSG_H
#define TEST_MAIL_MSG_H

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The header block (up to the empty line) and the body of msg. */
static inline void
split(const char *msg, char **hdrs, const char **body)
{
	const char *p = strstr(msg, "\r\n\r\n");

	assert_non_null(p);
	*hdrs = strndup(msg, (size_t)(p - msg) + 2);
	assert_non_null(*hdrs);
	*body = p + 4;
}

/* How many header fields called name start a line in hdrs. */
static inline int
count_header(const char *hdrs, const char *name)
{
	size_t n = strlen(name);
	const char *p = hdrs;
	int count = 0;

	while (p != NULL && *p != '\0') {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':')
			count++;
		if ((p = strstr(p, "\r\n")) != NULL)
			p += 2;
	}
	return count;
}

static inline int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes a quoted-printable body (CRLF lines) into text with LF line
 * ends, checking the encoding rules along the way. */
static inline char *
qp_decode(const char *s)
{
	char *out = malloc(strlen(s) + 1);
	size_t o = 0;
	const char *line = s, *e;

	assert_non_null(out);
	while (*line != '\0') {
		const char *p;

		e = strstr(line, "\r\n");
		assert_non_null(e);
		assert_true(e - line <= 76);
		/* Nothing unencoded but printable ASCII, no trailing blank. */
		for (p = line; p < e; p++)
			assert_true((*p >= 0x20 && *p <= 0x7e) || *p == '\t');
		if (e > line)
			assert_true(e[-1] != ' ' && e[-1] != '\t');
		for (p = line; p < e; p++) {
			if (*p != '=') {
				out[o++] = *p;
				continue;
			}
			if (p + 1 == e)
				break;		/* soft line break */
			assert_true(p + 2 < e);
			assert_true(hexval(p[1]) >= 0 && hexval(p[2]) >= 0);
			out[o++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
			p += 2;
		}
		if (e == line || e[-1] != '=')
			out[o++] = '\n';
		line = e + 2;
	}
	out[o] = '\0';
	return out;
}

#endif /* TEST_MAIL_MSG_H */
