/*
 * The address normaliser (see mss_addr.h): IDNA2008 through libidn2.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <idn2.h>

#include "mss_addr.h"
#include "mss_err.h"
#include "mss_mask.h"

/*
 * UTS #46 non-transitional processing after NFC, as browsers and mail
 * clients do: "ß" stays "ß" (xn--strae-oqa.de, not strasse.de), and the
 * same domain typed composed or decomposed gives the same A-label. Not
 * IDN2_USE_STD3_ASCII_RULES: libidn2 2.3 drops the characters it would
 * refuse ("exa mple.org" became example.org); mss_email_valid() refuses
 * them afterwards instead.
 */
#define MSS_ADDR_IDN_FLAGS	(IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL)

/* Longest input looked at: a Unicode domain takes more bytes than its
 * A-labels, but no address needs more than this. */
#define MSS_ADDR_IN_MAX		1024

#define MSS_ADDR_BAD		"invalid email address"

static void __attribute__((format(printf, 3, 4)))
addr_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

static int
addr_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* 1 when a label of the NUL-terminated domain starts with "xn--". */
static int
addr_has_alabel(const char *dom)
{
	const char *p = dom;

	for (;;) {
		if (strncasecmp(p, "xn--", 4) == 0)
			return 1;
		if ((p = strchr(p, '.')) == NULL)
			return 0;
		p++;
	}
}

/* Copies s into out, cut so that no UTF-8 character is left half. */
static void
addr_copy_cut(const char *s, char *out, size_t outlen)
{
	size_t n = strlen(s);

	if (n >= outlen) {
		n = outlen - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out, s, n);
	out[n] = '\0';
}

int
mss_addr_normalize(const char *in, char *out, size_t outlen, char *why,
    size_t whylen)
{
	char dom[MSS_ADDR_IN_MAX + 1], *alabel = NULL;
	const char *b, *e, *at, *p, *d;
	size_t n, llen;
	int r, rc;

	if (outlen > 0)
		out[0] = '\0';
	if (in == NULL)
		goto bad;
	for (b = in; addr_blank(*b); b++)
		;
	n = strnlen(b, MSS_ADDR_IN_MAX + 1);
	if (n > MSS_ADDR_IN_MAX)
		goto bad;
	for (e = b + n; e > b && addr_blank(e[-1]); e--)
		;
	/* One '@', with something on both sides. */
	if ((at = memchr(b, '@', (size_t)(e - b))) == NULL ||
	    memchr(at + 1, '@', (size_t)(e - at - 1)) != NULL ||
	    at == b || at + 1 == e)
		goto bad;
	llen = (size_t)(at - b);
	for (p = b; p < at; p++)
		if ((unsigned char)*p >= 0x80) {
			addr_why(why, whylen, "addresses with non-ASCII "
			    "characters before the @ are not supported");
			return MSS_ERR_REFUSED;
		}
	n = (size_t)(e - at - 1);
	memcpy(dom, at + 1, n);
	dom[n] = '\0';
	if (dom[n - 1] == '.')
		goto bad;		/* a root dot has no place in mail */

	for (p = dom; *p != '\0' && (unsigned char)*p < 0x80; p++)
		;
	if (*p != '\0' || addr_has_alabel(dom)) {
		rc = idn2_to_ascii_8z(dom, &alabel, MSS_ADDR_IDN_FLAGS);
		if (rc == IDN2_MALLOC)
			return MSS_ERR_NOMEM;
		if (rc != IDN2_OK) {
			addr_why(why, whylen, "%s: the domain is not a valid "
			    "internationalised domain name (%s)", MSS_ADDR_BAD,
			    idn2_strerror(rc));
			return MSS_ERR_INVAL;
		}
		d = alabel;
	} else {
		for (p = dom; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				dom[p - dom] = (char)(*p - 'A' + 'a');
		d = dom;
	}
	r = MSS_ERR_INVAL;
	if (llen + 1 + strlen(d) <= MSS_EMAIL_MAX &&
	    llen + 1 + strlen(d) < outlen) {
		memcpy(out, b, llen);
		out[llen] = '@';
		memcpy(out + llen + 1, d, strlen(d) + 1);
		if (mss_email_valid(out))
			r = 0;
		else
			out[0] = '\0';
	}
	idn2_free(alabel);
	if (r == 0)
		return 0;
bad:
	addr_why(why, whylen, "%s", MSS_ADDR_BAD);
	return MSS_ERR_INVAL;
}

/* 1 when out holds addr with its domain in Unicode, 0 when out holds
 * addr itself (cut to fit). */
static int
addr_display(const char *addr, char *out, size_t outlen)
{
	const char *at;
	char *a = NULL, *u = NULL;
	int ok = 0;

	if ((at = strrchr(addr, '@')) != NULL && addr_has_alabel(at + 1) &&
	    idn2_to_ascii_8z(at + 1, &a, MSS_ADDR_IDN_FLAGS) == IDN2_OK &&
	    strcasecmp(a, at + 1) == 0 &&
	    idn2_to_unicode_8z8z(a, &u, 0) == IDN2_OK &&
	    (size_t)(at - addr) + 1 + strlen(u) < outlen) {
		/* The A-labels were checked above: u holds no control
		 * character nor anything IDNA2008 disallows. */
		snprintf(out, outlen, "%.*s@%s", (int)(at - addr), addr, u);
		ok = 1;
	}
	idn2_free(a);
	idn2_free(u);
	if (!ok)
		addr_copy_cut(addr, out, outlen);
	return ok;
}

void
mss_addr_display(const char *addr, char *out, size_t outlen)
{
	if (outlen == 0)
		return;
	(void)addr_display(addr != NULL ? addr : "", out, outlen);
}

int
mss_addr_mask(const char *addr, char *out, size_t outlen)
{
	char disp[MSS_ADDR_IN_MAX + 1];

	if (addr == NULL)
		return MSS_ERR_INVAL;
	if (addr_display(addr, disp, sizeof(disp)) &&
	    mss_mask_email(disp, out, outlen) == 0)
		return 0;
	return mss_mask_email(addr, out, outlen);
}
