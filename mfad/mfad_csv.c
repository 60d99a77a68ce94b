#include "config.h"

#include <string.h>
#include <strings.h>

#include "mfad_csv.h"

int
mfad_csv_split(char *s, char **f, int max)
{
	int n = 0;
	char *p, *w;

	for (;;) {
		if (n == max)
			return -1;
		while (*s == ' ' || *s == '\t')
			s++;
		f[n++] = s;
		if (*s == '"') {
			for (w = s, p = s + 1;; p++) {
				if (*p == '\0')
					return -2;
				if (*p == '"' && p[1] == '"')
					p++;
				else if (*p == '"')
					break;
				*w++ = *p;
			}
			*w = '\0';
			for (p++; *p == ' ' || *p == '\t'; p++)
				;
			if (*p != ',' && *p != '\0')
				return -2;
			s = *p == ',' ? p + 1 : NULL;
			if (s == NULL)
				return n;
			continue;
		}
		if ((p = strchr(s, ',')) != NULL)
			*p = '\0';
		if (strchr(s, '"') != NULL)
			return -2;
		s = p != NULL ? p + 1 : NULL;
		p = f[n - 1] + strlen(f[n - 1]);
		while (p > f[n - 1] && (p[-1] == ' ' || p[-1] == '\t'))
			*--p = '\0';
		if (s == NULL)
			return n;
	}
}

int
mfad_csv_line(char *line, size_t len, unsigned long lineno, char **row)
{
	char *p;
	int nul;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	p = line;
	/* A UTF-8 byte-order mark, as some spreadsheets write. */
	if (lineno == 1 && len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	for (; *p == ' ' || *p == '\t'; p++)
		;
	nul = strlen(p) != len - (size_t)(p - line);
	if ((*p == '\0' && !nul) || *p == '#')
		return MFAD_CSV_SKIP;
	/* A header row, as spreadsheets write them. */
	if (lineno == 1 && strncasecmp(p, "user,email", 10) == 0 &&
	    (p[10] == '\0' || p[10] == ','))
		return MFAD_CSV_SKIP;
	*row = p;
	return nul ? MFAD_CSV_NUL : MFAD_CSV_ROW;
}
