#include "config.h"

#include "mss_esc.h"

void
mss_esc_field(const char *s, char *out, size_t outlen, int quoted)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	unsigned char c;
	int esc;

	if (outlen == 0)
		return;
	for (; s != NULL && *s != '\0'; s++) {
		c = (unsigned char)*s;
		esc = c < 0x20 || c == 0x7f || c == '"' || c == '\\' ||
		    (!quoted && (c == ' ' || c == '='));
		if (o + (esc ? 4 : 1) >= outlen)
			break;
		if (esc) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}
