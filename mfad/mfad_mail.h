/*
 * Mail: what callers, the renderer (mfad_render) and the outbox share
 * about a message: its kind, the values of its placeholders, and the
 * size bound of a finished message, which mfad_smtp checks again.
 * Rendering happens when a message is queued (the outbox keeps the
 * finished message); sending happens on the outbox's own threads, never
 * on a request's path.
 */
#ifndef MFAD_MAIL_H
#define MFAD_MAIL_H

#include <stdint.h>
#include <time.h>

#define MFAD_MAIL_MSG_MAX	(256 * 1024)	/* a whole message */

enum mfad_mail_kind {
	MFAD_MAIL_LOGIN_CODE = 0,
	MFAD_MAIL_ENROLL_CODE,
	MFAD_MAIL_RESET_CODE,
	MFAD_MAIL_DEVICE,		/* a device was remembered */
	MFAD_MAIL_PASSWORD_CHANGED,
	MFAD_MAIL_LOCKED,
	MFAD_MAIL_TEST,
	MFAD_MAIL_EMAIL_CHANGED,	/* to the old and the new address */
	MFAD_MAIL_CODE_TAKEN,		/* a newer login took a live code over */
	MFAD_MAIL_THROTTLED,		/* right password, no code: throttled */
	MFAD_MAIL_INVITE,		/* an account was invited: how to enroll */
	MFAD_MAIL_RECOVERY_USED,	/* a recovery code ended a sign-in */
	MFAD_MAIL_RECOVERY_SET,		/* new recovery codes were made */
	MFAD_MAIL_ENROLLED,		/* an enrollment finished */
	MFAD_MAIL_NKINDS
};

/* Values for the template placeholders; NULL fields render as "". */
struct mfad_mail_vars {
	const char	*code;		/* {code} */
	const char	*masked;	/* {masked} */
	const char	*host;		/* {host} */
	const char	*service;	/* {service} */
	const char	*rhost;		/* {rhost} */
	const char	*user;		/* {user} */
	unsigned	 minutes;	/* {minutes}, {duration} */
	time_t		 time;		/* {time}, shown in UTC */
	uint64_t	 until;		/* {until}: a lock's end, or
					   MFAD_LOCK_FOREVER; 0: none */
};

/* The template file stem of a kind ("login_code", ...), also the kind's
 * name in logs; NULL for a kind out of range. */
const char *mfad_mail_kind_name(enum mfad_mail_kind kind);

#endif /* MFAD_MAIL_H */
