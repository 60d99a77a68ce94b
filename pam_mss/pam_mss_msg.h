/*
 * Every string pam_mss shows to a user, in English and French.
 *
 * The English texts are in pam_mss_msg.c; they are the msgids of the
 * gettext catalogue po/pam_mss.pot. The translations live in po/fr.po,
 * which po/po2c.awk compiles into the table pam_mss_fr.c at build time
 * (pam_mss.mo is installed too, for other tools). A message with a count
 * ("%u minutes") is an ngettext entry (msgid_plural, msgstr[0..1]) and
 * its form is chosen here as ngettext would, by the language's rule. The module does not call
 * dgettext(): that would answer in the process's locale, and a module must
 * not change it (setlocale), so it could honour neither lang= nor the PAM
 * environment. The language is chosen per call instead.
 *
 * A template may hold "%s" (a string argument), "%u" (a number argument)
 * and "%%"; nothing else is interpreted, so a translation can never become
 * a format-string bug. po2c.awk refuses a translation whose placeholders
 * differ from its msgid's.
 */
#ifndef PAM_MSS_MSG_H
#define PAM_MSS_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <security/pam_modules.h>

enum pam_mss_lang {
	PAM_MSS_LANG_AUTO = 0,	/* from the environment */
	PAM_MSS_LANG_EN,
	PAM_MSS_LANG_FR,
};

enum pam_mss_msg_id {
	PAM_MSS_M_EMAIL_PROMPT = 0,
	PAM_MSS_M_PASS_PROMPT,
	PAM_MSS_M_CODE_PROMPT,
	PAM_MSS_M_REMEMBER_PROMPT,	/* %u days */
	PAM_MSS_M_CODE_SENT,		/* %s masked address, %u minutes */
	PAM_MSS_M_CODE_RESENT,		/* %s masked address, %u minutes */
	PAM_MSS_M_MAIL_DELAYED,
	PAM_MSS_M_DENIED,
	PAM_MSS_M_THROTTLED,		/* %u seconds */
	PAM_MSS_M_RESEND_WAIT,		/* %u seconds */
	PAM_MSS_M_RESEND_LIMIT,
	PAM_MSS_M_CODE_WRONG,
	PAM_MSS_M_CODE_EXPIRED,
	PAM_MSS_M_CODE_DEAD,
	PAM_MSS_M_REMEMBER_FAILED,
	PAM_MSS_M_SUCCESS,
	PAM_MSS_M_UNAVAIL,
	PAM_MSS_M_LOCKED,
	PAM_MSS_M_ENROLL_CONFIRMED,
	PAM_MSS_M_RESET_NOTICE,
	PAM_MSS_M_NEWPASS_PROMPT,
	PAM_MSS_M_NEWPASS_AGAIN,
	PAM_MSS_M_NEWPASS_MISMATCH,
	PAM_MSS_M_PW_TOO_SHORT,
	PAM_MSS_M_PW_TOO_LONG,
	PAM_MSS_M_PW_LIKE_NAME,
	PAM_MSS_M_PW_BLOCKLISTED,
	PAM_MSS_M_PW_SAME_AS_OLD,
	PAM_MSS_M_PW_REFUSED,		/* a reason without words of its own */
	PAM_MSS_M_ENROLLED,
	PAM_MSS_M_RESET_DONE,
	PAM_MSS_M_OLDPASS_PROMPT,
	PAM_MSS_M_PW_CHANGED,
	PAM_MSS_M_PW_CHANGE_FAILED,
	PAM_MSS_M_CODE_VALID,		/* %s masked address, %u minutes */
	PAM_MSS_M_CODE_MOVED,
	PAM_MSS_M_ADDR_LOCAL_ASCII,
	PAM_MSS_M_RECOVERY_HINT,
	PAM_MSS_M_COUNT
};

/*
 * A compiled catalogue: msgid (the English text) and msgstr pairs, sorted
 * by msgid in strcmp() order, every msgstr non-empty. A message with a
 * count has two forms: msgid is the English singular, msgstr the
 * translation's first form (msgstr[0]) and msgstr_plural its second
 * (msgstr[1]); msgstr_plural is NULL for the others. pam_mss_fr.c is
 * generated from po/fr.po; nothing else should need these.
 */
struct pam_mss_msg_tr {
	const char	*msgid;
	const char	*msgstr;
	const char	*msgstr_plural;
};

extern const struct pam_mss_msg_tr pam_mss_msg_fr[];
extern const size_t pam_mss_msg_fr_count;

/* The room a formatted message may take, NUL included. */
#define PAM_MSS_MSG_LEN	512

/*
 * Resolves PAM_MSS_LANG_AUTO: the first non-empty of LC_ALL, LC_MESSAGES
 * and LANG in the PAM environment, else in the process environment;
 * French when it starts with "fr", English otherwise. Any other value is
 * returned unchanged.
 */
enum pam_mss_lang pam_mss_msg_lang(pam_handle_t *pamh, enum pam_mss_lang lang);

/* The language's code for mfad ("en" or "fr"). */
const char *pam_mss_msg_lang_code(enum pam_mss_lang lang);

/*
 * The template of message id in lang: the English text, or its translation
 * from the catalogue (English when the catalogue lacks it). NULL for an
 * unknown id. The string is static; do not free it. A message with a count
 * has the form that n asks for (pam_mss_msg_plural); the others ignore n.
 * pam_mss_msg_text is pam_mss_msg_text_n with n = 1.
 */
const char *pam_mss_msg_text(enum pam_mss_lang lang, enum pam_mss_msg_id id);
const char *pam_mss_msg_text_n(enum pam_mss_lang lang,
    enum pam_mss_msg_id id, unsigned long n);

/*
 * Which form a count takes, as gettext's Plural-Forms say: 0 (singular)
 * or 1. English: 1 is singular; French: 0 and 1 are.
 */
int pam_mss_msg_plural(enum pam_mss_lang lang, unsigned long n);

/*
 * Writes message id in lang into out (outlen bytes, at least 1), putting
 * s for "%s" (NULL counts as "") and n for "%u"; n chooses the singular
 * or plural form of a message with a count. Too long a result is cut
 * at a character boundary and nothing follows the cut; out is always
 * NUL-terminated.
 */
void pam_mss_msg_format(char *out, size_t outlen, enum pam_mss_lang lang,
    enum pam_mss_msg_id id, const char *s, unsigned int n);

/* 1 when answer (spaces around ignored) is o, oui, y or yes in any case. */
int pam_mss_msg_is_yes(const char *answer);
/*
 * The message for mfad's reason (mss_pw_reason) for refusing a new
 * password; PAM_MSS_M_PW_REFUSED for MSS_PW_REFUSED and any reason this
 * module does not know, so that a refusal is never shown blank.
 */
enum pam_mss_msg_id pam_mss_msg_pw_reason(uint32_t reason);

#endif /* PAM_MSS_MSG_H */
