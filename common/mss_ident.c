/*
 * One email-address rule and one user-name rule (see mss_ident.h).
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "mss_ident.h"

static int
ident_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* atext of RFC 5322, section 3.2.3. */
static int
ident_atext(unsigned char c)
{
	return ident_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~",
	    c) != NULL);
}

int
mss_email_valid(const char *s)
{
	const char *at, *p, *label;
	size_t n;

	if (s == NULL)
		return 0;
	n = strnlen(s, MSS_EMAIL_MAX + 1);
	if (n == 0 || n > MSS_EMAIL_MAX)
		return 0;
	if ((at = strchr(s, '@')) == NULL || strchr(at + 1, '@') != NULL)
		return 0;
	if (at == s || (size_t)(at - s) > MSS_EMAIL_LOCAL_MAX)
		return 0;

	/* Local part: a dot-atom. */
	if (s[0] == '.' || at[-1] == '.')
		return 0;
	for (p = s; p < at; p++) {
		if (*p == '.') {
			if (p[1] == '.')
				return 0;
		} else if (!ident_atext((unsigned char)*p))
			return 0;
	}

	/* Domain: LDH labels with a dot, or the one name that needs none.
	 * A short host name alone is no mail domain: relays refuse it. */
	p = at + 1;
	if (strchr(p, '.') == NULL && strcasecmp(p, "localhost") != 0)
		return 0;
	for (label = p;; p++) {
		if (*p == '.' || *p == '\0') {
			if (p == label || p - label > 63 || *label == '-' ||
			    p[-1] == '-')
				return 0;
			if (*p == '\0')
				break;
			label = p + 1;
		} else if (!ident_alnum((unsigned char)*p) && *p != '-')
			return 0;
	}
	return 1;
}

int
mss_user_valid(const char *s)
{
	size_t i, n;
	int digits = 1;

	if (s == NULL)
		return 0;
	n = strnlen(s, MSS_USER_MAX + 1);
	if (n == 0 || n > MSS_USER_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_')
			digits = 0;
		else if (c >= '0' && c <= '9')
			;
		else if ((c == '.' || c == '-' || c == '@') && i > 0)
			digits = 0;
		else if (c == '$' && i > 0 && i == n - 1)
			digits = 0;
		else
			return 0;
	}
	return !digits;
}
