#include "config.h"

#include <string.h>

#include "mss_err.h"
#include "mss_mask.h"

/* Length in bytes of the first n UTF-8 characters of s[0..len). */
static size_t
mss_utf8_prefix(const char *s, size_t len, size_t n)
{
	size_t i = 0;

	while (i < len && n > 0) {
		i++;
		while (i < len && ((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		n--;
	}
	return i;
}

static size_t
mss_utf8_count(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

int
mss_mask_email(const char *email, char *out, size_t outlen)
{
	static const char stars[] = "*****";
	const char *at, *dom, *dot;
	size_t llen, show, lbytes, dlen, need;

	if ((at = strrchr(email, '@')) == NULL || at == email ||
	    at[1] == '\0')
		return MSS_ERR_INVAL;
	llen = (size_t)(at - email);
	dom = at + 1;
	dot = strchr(dom, '.');
	dlen = dot == NULL ? strlen(dom) : (size_t)(dot - dom);
	if (dlen == 0)
		return MSS_ERR_INVAL;
	/* Never show more than half of the local part, at most four. */
	show = mss_utf8_count(email, llen) / 2;
	if (show > 4)
		show = 4;
	lbytes = mss_utf8_prefix(email, llen, show);
	need = lbytes + 5 + 1 + dlen + 5 + 1;
	if (need > outlen)
		return MSS_ERR_TOOBIG;
	memcpy(out, email, lbytes);
	memcpy(out + lbytes, stars, 5);
	out[lbytes + 5] = '@';
	memcpy(out + lbytes + 6, dom, dlen);
	memcpy(out + lbytes + 6 + dlen, stars, 6);
	return 0;
}
