/*
 * Mail kinds: the one table of their names, shared by the renderer (the
 * template file stem) and the logs of the outbox and the handlers.
 */
#include "config.h"

#include <stddef.h>

#include "mfad_mail.h"

static const char *const mail_kind_names[MFAD_MAIL_NKINDS] = {
	[MFAD_MAIL_LOGIN_CODE] = "login_code",
	[MFAD_MAIL_ENROLL_CODE] = "enroll_code",
	[MFAD_MAIL_RESET_CODE] = "reset_code",
	[MFAD_MAIL_DEVICE] = "device",
	[MFAD_MAIL_PASSWORD_CHANGED] = "password_changed",
	[MFAD_MAIL_LOCKED] = "locked",
	[MFAD_MAIL_TEST] = "test",
	[MFAD_MAIL_EMAIL_CHANGED] = "email_changed",
	[MFAD_MAIL_CODE_TAKEN] = "code_taken",
	[MFAD_MAIL_THROTTLED] = "throttled",
	[MFAD_MAIL_INVITE] = "invite",
	[MFAD_MAIL_RECOVERY_USED] = "recovery_used",
	[MFAD_MAIL_RECOVERY_SET] = "recovery_set",
	[MFAD_MAIL_ENROLLED] = "enrolled",
};

const char *
mfad_mail_kind_name(enum mfad_mail_kind kind)
{
	if ((unsigned)kind >= MFAD_MAIL_NKINDS)
		return NULL;
	return mail_kind_names[kind];
}
