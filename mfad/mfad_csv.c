#include "config.h"

#include <string.h>

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
