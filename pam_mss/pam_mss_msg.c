#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <security/pam_ext.h>

#include "pam_mss_msg.h"

/*
 * The message table: one row per message, English then French. Keep the
 * key words of doc DESIGN §3 in the prompts; other scripts look for them.
 */
static const char *const pam_mss_msgs[PAM_MSS_M_COUNT][2] = {
	[PAM_MSS_M_EMAIL_PROMPT] = {
		"Email address: ",
		"Adresse e-mail : ",
	},
	[PAM_MSS_M_PASS_PROMPT] = {
		"Password: ",
		"Mot de passe : ",
	},
	[PAM_MSS_M_CODE_PROMPT] = {
		"Authentication code: ",
		"Code d'authentification : ",
	},
	[PAM_MSS_M_REMEMBER_PROMPT] = {
		"Remember this device for %u days? [y/N] ",
		"Se souvenir de cet appareil pendant %u jours ? [o/N] ",
	},
	[PAM_MSS_M_CODE_SENT] = {
		"A code was sent to %s. It is valid for %u minutes. "
		"Press Enter on an empty line to get a new one.",
		"Un code a été envoyé à %s. Il est valable %u minutes. "
		"Validez une ligne vide pour en recevoir un nouveau.",
	},
	[PAM_MSS_M_CODE_RESENT] = {
		"A new code was sent to %s. It is valid for %u minutes.",
		"Un nouveau code a été envoyé à %s. "
		"Il est valable %u minutes.",
	},
	[PAM_MSS_M_MAIL_DELAYED] = {
		"The code could not be delivered by mail yet.",
		"Le code n'a pas encore pu être envoyé par e-mail.",
	},
	[PAM_MSS_M_DENIED] = {
		"Invalid email address or password.",
		"Adresse e-mail ou mot de passe incorrect.",
	},
	[PAM_MSS_M_THROTTLED] = {
		"Too many codes were requested. "
		"Please try again in %u seconds.",
		"Trop de codes ont été demandés. "
		"Veuillez réessayer dans %u secondes.",
	},
	[PAM_MSS_M_RESEND_WAIT] = {
		"Please wait %u seconds before asking for a new code.",
		"Veuillez patienter %u secondes avant de demander "
		"un nouveau code.",
	},
	[PAM_MSS_M_RESEND_LIMIT] = {
		"Too many requests for a new code.",
		"Trop de demandes de nouveau code.",
	},
	[PAM_MSS_M_CODE_WRONG] = {
		"Wrong code.",
		"Code incorrect.",
	},
	[PAM_MSS_M_CODE_EXPIRED] = {
		"This code has expired. Press Enter for a new one.",
		"Ce code a expiré. "
		"Validez une ligne vide pour en recevoir un nouveau.",
	},
	[PAM_MSS_M_CODE_DEAD] = {
		"Too many wrong codes.",
		"Trop de codes incorrects.",
	},
	[PAM_MSS_M_REMEMBER_FAILED] = {
		"This device could not be remembered; "
		"a code will be asked for next time.",
		"Cet appareil n'a pas pu être mémorisé ; "
		"un code sera demandé la prochaine fois.",
	},
	[PAM_MSS_M_SUCCESS] = {
		"Authentication succeeded.",
		"Authentification réussie.",
	},
	[PAM_MSS_M_UNAVAIL] = {
		"The authentication service is unavailable.",
		"Le service d'authentification est indisponible.",
	},
	[PAM_MSS_M_LOCKED] = {
		"Your account is locked.",
		"Votre compte est verrouillé.",
	},
	[PAM_MSS_M_ENROLL_NOTICE] = {
		"Your account must be enrolled: confirm your email address "
		"with a code mailed to it, then choose a password.",
		"Votre compte doit être activé : confirmez votre adresse "
		"e-mail avec le code qui y sera envoyé, puis choisissez un "
		"mot de passe.",
	},
	[PAM_MSS_M_REENROLL_NOTICE] = {
		"Since %s every account must enroll again: confirm your "
		"email address with a code mailed to it, then choose a new "
		"password. Remembered devices are forgotten.",
		"Depuis le %s, chaque compte doit être réactivé : confirmez "
		"votre adresse e-mail avec le code qui y sera envoyé, puis "
		"choisissez un nouveau mot de passe. Les appareils mémorisés "
		"sont oubliés.",
	},
	[PAM_MSS_M_REENROLL_ADMIN] = {
		"Your administrator asks you to enroll again: confirm your "
		"email address with a code mailed to it, then choose a new "
		"password. Remembered devices are forgotten.",
		"Votre administrateur vous demande de réactiver votre "
		"compte : confirmez votre adresse e-mail avec le code qui y "
		"sera envoyé, puis choisissez un nouveau mot de passe. Les "
		"appareils mémorisés sont oubliés.",
	},
	[PAM_MSS_M_RESET_NOTICE] = {
		"Password reset: if this address belongs to an enrolled "
		"account, a reset code is mailed to it.",
		"Réinitialisation du mot de passe : si cette adresse "
		"appartient à un compte activé, un code de réinitialisation "
		"y est envoyé.",
	},
	[PAM_MSS_M_NEWPASS_PROMPT] = {
		"New password: ",
		"Nouveau mot de passe : ",
	},
	[PAM_MSS_M_NEWPASS_AGAIN] = {
		"Repeat the new password: ",
		"Confirmez le nouveau mot de passe : ",
	},
	[PAM_MSS_M_NEWPASS_MISMATCH] = {
		"The two passwords differ.",
		"Les deux mots de passe diffèrent.",
	},
	[PAM_MSS_M_PW_TOO_SHORT] = {
		"This password is too short.",
		"Ce mot de passe est trop court.",
	},
	[PAM_MSS_M_PW_TOO_LONG] = {
		"This password is too long.",
		"Ce mot de passe est trop long.",
	},
	[PAM_MSS_M_PW_LIKE_NAME] = {
		"The password must not be your user name or email address.",
		"Le mot de passe ne doit pas être votre nom d'utilisateur "
		"ni votre adresse e-mail.",
	},
	[PAM_MSS_M_PW_BLOCKLISTED] = {
		"This password is too common.",
		"Ce mot de passe est trop courant.",
	},
	[PAM_MSS_M_PW_SAME_AS_OLD] = {
		"The new password must differ from the current one.",
		"Le nouveau mot de passe doit être différent de l'actuel.",
	},
	[PAM_MSS_M_PW_REFUSED] = {
		"Password refused: %s.",
		"Mot de passe refusé : %s.",
	},
	[PAM_MSS_M_ENROLLED] = {
		"Enrollment complete.",
		"Activation terminée.",
	},
	[PAM_MSS_M_RESET_DONE] = {
		"Password changed. Please log in again.",
		"Mot de passe changé. Veuillez vous reconnecter.",
	},
	[PAM_MSS_M_OLDPASS_PROMPT] = {
		"Current password: ",
		"Mot de passe actuel : ",
	},
	[PAM_MSS_M_PW_CHANGED] = {
		"Password changed.",
		"Mot de passe changé.",
	},
	[PAM_MSS_M_PW_CHANGE_FAILED] = {
		"Authentication failed: password not changed.",
		"Échec de l'authentification : mot de passe inchangé.",
	},
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

/* Appends n bytes of p to out[*pos], cutting at a UTF-8 boundary. */
static void
pam_mss_msg_append(char *out, size_t outlen, size_t *pos, const char *p,
    size_t n)
{
	size_t room = outlen - 1 - *pos;

	if (n > room) {
		n = room;
		/* Do not leave half a character behind. */
		while (n > 0 && ((unsigned char)p[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out + *pos, p, n);
	*pos += n;
	out[*pos] = '\0';
}

void
pam_mss_msg_format(char *out, size_t outlen, enum pam_mss_lang lang,
    enum pam_mss_msg_id id, const char *s, unsigned int n)
{
	const char *t, *p;
	char num[16];
	size_t pos = 0;
	int col = lang == PAM_MSS_LANG_FR ? 1 : 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if ((unsigned int)id >= PAM_MSS_M_COUNT ||
	    (t = pam_mss_msgs[id][col]) == NULL)
		return;
	if (s == NULL)
		s = "";
	while (*t != '\0') {
		if ((p = strchr(t, '%')) == NULL) {
			pam_mss_msg_append(out, outlen, &pos, t, strlen(t));
			break;
		}
		pam_mss_msg_append(out, outlen, &pos, t, (size_t)(p - t));
		switch (p[1]) {
		case 's':
			pam_mss_msg_append(out, outlen, &pos, s, strlen(s));
			break;
		case 'u':
			snprintf(num, sizeof(num), "%u", n);
			pam_mss_msg_append(out, outlen, &pos, num,
			    strlen(num));
			break;
		case '%':
			pam_mss_msg_append(out, outlen, &pos, "%", 1);
			break;
		default:
			/* A lone '%' is printed as it is. */
			pam_mss_msg_append(out, outlen, &pos, "%", 1);
			t = p + 1;
			continue;
		}
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
