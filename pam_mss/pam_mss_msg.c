#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <security/pam_ext.h>

#include "mss_err.h"
#include "mss_proto.h"
#include "pam_mss_msg.h"

/*
 * The English texts, indexed by message id. They are the msgids of
 * po/pam_mss.pot (xgettext --keyword=N_, see "make update-po"); their
 * translations live only in po/LANG.po and are compiled into a table at
 * build time (po/po2c.awk). Keep the key words of DESIGN section 3 in the
 * prompts; other scripts look for them. Changing an English text changes
 * its msgid: update the catalogues and translate it again.
 */
struct pam_mss_msg_en {
	const char	*one;		/* the only form, or the singular */
	const char	*other;		/* the plural, or NULL */
};

#define N_(s)		{ s, NULL }
#define NP_(s, p)	{ s, p }

static const struct pam_mss_msg_en pam_mss_msgs_en[PAM_MSS_M_COUNT] = {
	[PAM_MSS_M_EMAIL_PROMPT] =
	    N_("Email address: "),
	[PAM_MSS_M_PASS_PROMPT] =
	    N_("Password: "),
	[PAM_MSS_M_CODE_PROMPT] =
	    N_("Authentication code: "),
	[PAM_MSS_M_REMEMBER_PROMPT] =
	    /* TRANSLATORS: %u is days; the yes letter must be o or y. */
	    NP_("Remember this device for %u day? [y/N] ",
	    "Remember this device for %u days? [y/N] "),
	[PAM_MSS_M_CODE_SENT] =
	    /* TRANSLATORS: %s is a masked email address, %u minutes. */
	    NP_("A code was sent to %s. It is valid for %u minute. "
	    "Press Enter on an empty line to get a new one.",
	    "A code was sent to %s. It is valid for %u minutes. "
	    "Press Enter on an empty line to get a new one."),
	[PAM_MSS_M_CODE_RESENT] =
	    /* TRANSLATORS: %s is a masked email address, %u minutes. */
	    NP_("A new code was sent to %s. It is valid for %u minute.",
	    "A new code was sent to %s. It is valid for %u minutes."),
	[PAM_MSS_M_MAIL_DELAYED] =
	    N_("The code could not be delivered by mail yet."),
	[PAM_MSS_M_DENIED] =
	    N_("Invalid email address or password."),
	[PAM_MSS_M_THROTTLED] =
	    /* TRANSLATORS: %u is a number of seconds. */
	    NP_("Too many codes were requested. "
	    "Please try again in %u second.",
	    "Too many codes were requested. "
	    "Please try again in %u seconds."),
	[PAM_MSS_M_RESEND_WAIT] =
	    /* TRANSLATORS: %u is a number of seconds. */
	    NP_("Please wait %u second before asking for a new code.",
	    "Please wait %u seconds before asking for a new code."),
	[PAM_MSS_M_RESEND_LIMIT] =
	    N_("Too many requests for a new code."),
	[PAM_MSS_M_CODE_WRONG] =
	    N_("Wrong code."),
	[PAM_MSS_M_CODE_EXPIRED] =
	    N_("This code has expired. Press Enter for a new one."),
	[PAM_MSS_M_CODE_DEAD] =
	    N_("Too many wrong codes."),
	[PAM_MSS_M_REMEMBER_FAILED] =
	    N_("This device could not be remembered; "
	    "a code will be asked for next time."),
	[PAM_MSS_M_SUCCESS] =
	    N_("Authentication succeeded."),
	[PAM_MSS_M_UNAVAIL] =
	    N_("The authentication service is unavailable."),
	[PAM_MSS_M_LOCKED] =
	    N_("Your account is locked."),
	[PAM_MSS_M_ENROLL_CONFIRMED] =
	    N_("Your email address is confirmed. Choose a password for your "
	    "account to finish enrolling."),
	[PAM_MSS_M_RESET_NOTICE] =
	    N_("Password reset or first login: if this address belongs to "
	    "an account, a code is mailed to it to choose a password."),
	[PAM_MSS_M_NEWPASS_PROMPT] =
	    N_("New password: "),
	[PAM_MSS_M_NEWPASS_AGAIN] =
	    N_("Repeat the new password: "),
	[PAM_MSS_M_NEWPASS_MISMATCH] =
	    N_("The two passwords differ."),
	[PAM_MSS_M_PW_TOO_SHORT] =
	    N_("This password is too short."),
	[PAM_MSS_M_PW_TOO_LONG] =
	    N_("This password is too long."),
	[PAM_MSS_M_PW_LIKE_NAME] =
	    N_("The password must not be your user name or email address."),
	[PAM_MSS_M_PW_BLOCKLISTED] =
	    N_("This password is too common."),
	[PAM_MSS_M_PW_SAME_AS_OLD] =
	    N_("The new password must differ from the current one."),
	[PAM_MSS_M_PW_REFUSED] =
	    N_("This password is refused by the password policy."),
	[PAM_MSS_M_ENROLLED] =
	    N_("Enrollment complete."),
	[PAM_MSS_M_RESET_DONE] =
	    N_("Password changed. Please log in again."),
	[PAM_MSS_M_OLDPASS_PROMPT] =
	    N_("Current password: "),
	[PAM_MSS_M_PW_CHANGED] =
	    N_("Password changed."),
	[PAM_MSS_M_PW_CHANGE_FAILED] =
	    N_("Authentication failed: password not changed."),
	[PAM_MSS_M_CODE_VALID] =
	    /* TRANSLATORS: %s is a masked email address, %u minutes. */
	    NP_("The code already sent to %s is still valid for %u minute. "
	    "Press Enter on an empty line to get a new one.",
	    "The code already sent to %s is still valid for %u minutes. "
	    "Press Enter on an empty line to get a new one."),
	[PAM_MSS_M_CODE_MOVED] =
	    N_("A newer login is using this code; this one ends here."),
	[PAM_MSS_M_ADDR_LOCAL_ASCII] =
	    N_("Addresses with non-ASCII characters before the @ are not "
	    "supported."),
	[PAM_MSS_M_RECOVERY_HINT] =
	    N_("No new code can be mailed now; you may enter one of your "
	    "recovery codes instead."),
};

/* French when the locale name starts with "fr" (fr, fr_FR.UTF-8, ...). */
static enum pam_mss_lang
pam_mss_msg_locale(const char *value)
{
	return strncasecmp(value, "fr", 2) == 0 ?
	    PAM_MSS_LANG_FR : PAM_MSS_LANG_EN;
}

enum pam_mss_lang
pam_mss_msg_lang(pam_handle_t *pamh, enum pam_mss_lang lang)
{
	static const char *const vars[] = { "LC_ALL", "LC_MESSAGES", "LANG" };
	const char *v;
	size_t i;

	if (lang != PAM_MSS_LANG_AUTO)
		return lang;
	/* The PAM environment speaks for the user being logged in. */
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		v = pamh == NULL ? NULL : pam_getenv(pamh, vars[i]);
		if (v != NULL && *v != '\0')
			return pam_mss_msg_locale(v);
	}
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		v = getenv(vars[i]);
		if (v != NULL && *v != '\0')
			return pam_mss_msg_locale(v);
	}
	return PAM_MSS_LANG_EN;
}

const char *
pam_mss_msg_lang_code(enum pam_mss_lang lang)
{
	return lang == PAM_MSS_LANG_FR ? "fr" : "en";
}

/*
 * Appends n bytes of p to out[*pos], cutting at a UTF-8 boundary. Returns
 * -1 when it had to cut: nothing more should follow, or the end of the
 * message could be glued to its cut middle.
 */
static int MSS_WUR
pam_mss_msg_append(char *out, size_t outlen, size_t *pos, const char *p,
    size_t n)
{
	size_t room = outlen - 1 - *pos;
	int r = 0;

	if (n > room) {
		n = room;
		/* Do not leave half a character behind. */
		while (n > 0 && ((unsigned char)p[n] & 0xc0) == 0x80)
			n--;
		r = -1;
	}
	memcpy(out + *pos, p, n);
	*pos += n;
	out[*pos] = '\0';
	return r;
}

static int
pam_mss_msg_tr_cmp(const void *key, const void *elem)
{
	const struct pam_mss_msg_tr *tr = elem;

	return strcmp(key, tr->msgid);
}

int
pam_mss_msg_plural(enum pam_mss_lang lang, unsigned long n)
{
	/* Plural-Forms of po/fr.po: plural=(n > 1); English: (n != 1). */
	return lang == PAM_MSS_LANG_FR ? n > 1 : n != 1;
}

const char *
pam_mss_msg_text_n(enum pam_mss_lang lang, enum pam_mss_msg_id id,
    unsigned long n)
{
	const struct pam_mss_msg_tr *tr;
	const struct pam_mss_msg_en *en;
	int pl;

	if ((unsigned int)id >= PAM_MSS_M_COUNT ||
	    (en = &pam_mss_msgs_en[id])->one == NULL)
		return NULL;
	pl = en->other != NULL && pam_mss_msg_plural(lang, n);
	if (lang == PAM_MSS_LANG_FR) {
		tr = bsearch(en->one, pam_mss_msg_fr, pam_mss_msg_fr_count,
		    sizeof(pam_mss_msg_fr[0]), pam_mss_msg_tr_cmp);
		/* A plural message needs both forms in the catalogue. */
		if (tr != NULL && (en->other == NULL) ==
		    (tr->msgstr_plural == NULL))
			return pl ? tr->msgstr_plural : tr->msgstr;
	}
	/* English, or French without a usable translation: English's
	 * own rule. */
	return en->other != NULL && pam_mss_msg_plural(PAM_MSS_LANG_EN, n) ?
	    en->other : en->one;
}

const char *
pam_mss_msg_text(enum pam_mss_lang lang, enum pam_mss_msg_id id)
{
	return pam_mss_msg_text_n(lang, id, 1);
}

void
pam_mss_msg_format(char *out, size_t outlen, enum pam_mss_lang lang,
    enum pam_mss_msg_id id, const char *s, unsigned int n)
{
	const char *t, *p;
	char num[16];
	size_t pos = 0;
	int r;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if ((t = pam_mss_msg_text_n(lang, id, n)) == NULL)
		return;
	if (s == NULL)
		s = "";
	while (*t != '\0') {
		/* Up to the next '%' or the end; once cut, nothing follows. */
		p = strchr(t, '%');
		if (pam_mss_msg_append(out, outlen, &pos, t, p == NULL ?
		    strlen(t) : (size_t)(p - t)) != 0 || p == NULL)
			break;
		switch (p[1]) {
		case 's':
			r = pam_mss_msg_append(out, outlen, &pos, s, strlen(s));
			break;
		case 'u':
			snprintf(num, sizeof(num), "%u", n);
			r = pam_mss_msg_append(out, outlen, &pos, num,
			    strlen(num));
			break;
		case '%':
			r = pam_mss_msg_append(out, outlen, &pos, "%", 1);
			break;
		default:
			/* A lone '%' is printed as it is. */
			if (pam_mss_msg_append(out, outlen, &pos, "%", 1) != 0)
				return;
			t = p + 1;
			continue;
		}
		if (r != 0)
			break;
		t = p + 2;
	}
}

int
pam_mss_msg_is_yes(const char *answer)
{
	static const char *const yes[] = { "o", "oui", "y", "yes" };
	const char *b, *e;
	size_t i, n;

	if (answer == NULL)
		return 0;
	for (b = answer; *b == ' ' || *b == '\t'; b++)
		;
	for (e = b + strlen(b); e > b && (e[-1] == ' ' || e[-1] == '\t' ||
	    e[-1] == '\r' || e[-1] == '\n'); e--)
		;
	n = (size_t)(e - b);
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (strlen(yes[i]) == n && strncasecmp(b, yes[i], n) == 0)
			return 1;
	return 0;
}

enum pam_mss_msg_id
pam_mss_msg_pw_reason(uint32_t reason)
{
	switch (reason) {
	case MSS_PW_TOO_SHORT:
		return PAM_MSS_M_PW_TOO_SHORT;
	case MSS_PW_TOO_LONG:
		return PAM_MSS_M_PW_TOO_LONG;
	case MSS_PW_LIKE_NAME:
		return PAM_MSS_M_PW_LIKE_NAME;
	case MSS_PW_BLOCKLISTED:
		return PAM_MSS_M_PW_BLOCKLISTED;
	case MSS_PW_SAME_AS_OLD:
		return PAM_MSS_M_PW_SAME_AS_OLD;
	default:
		return PAM_MSS_M_PW_REFUSED;
	}
}
