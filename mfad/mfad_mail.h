/*
 * Mail: rendering a message from a template, and sending messages over
 * SMTP with libESMTP, several in one session. Rendering happens when a
 * message is queued (the outbox keeps the finished message); sending
 * happens on the outbox's own threads, never on a request's path.
 */
#ifndef MFAD_MAIL_H
#define MFAD_MAIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mfad_conf.h"

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

/* The template file stem of a kind: "login_code", ... */
const char *mfad_mail_kind_name(enum mfad_mail_kind kind);

/*
 * Builds a complete message (RFC 5322 headers and a MIME body, CRLF line
 * ends) for kind in lang ("fr" or "en"; anything else falls back to
 * conf->language) addressed to `to`. *msg is malloc'd; the caller wipes
 * and frees it (it may hold a code). Returns 0, MSS_ERR_INVAL for a bad
 * address or a header value with CR, LF or NUL, MSS_ERR_MAIL when the
 * template cannot be read or is malformed (err says which file:line).
 */
int mfad_mail_render(const struct mfad_conf *conf, enum mfad_mail_kind kind,
    const char *lang, const char *to, const struct mfad_mail_vars *vars,
    char **msg, size_t *len, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Sends one rendered message to `to` through conf's relay, with STARTTLS
 * required unless tls=none. Returns 0 when the relay accepted it,
 * MSS_ERR_REFUSED when it refused the recipient or the message for good
 * (5xx: do not retry), or MSS_ERR_MAIL with the relay's answer (or the
 * local reason) in err.
 * Blocking: call it from the outbox thread only.
 */
int mfad_mail_send(const struct mfad_conf *conf, const char *to,
    const char *msg, size_t len, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* One message of a session, and its outcome. */
struct mfad_mail_out {
	const char	*to;
	const char	*msg;
	size_t		 len;
	int		 result;	/* as mfad_mail_send's */
	char		 err[512];	/* why, when result is not 0 */
};

/*
 * Sends n messages in one SMTP session (STARTTLS and AUTH once, then each
 * message in turn, pipelined when the relay offers PIPELINING). Each
 * out[i] gets its own result: 0 when the relay accepted that message
 * (its final dot got a 2xx, whatever came after), MSS_ERR_REFUSED when
 * it was refused for good, MSS_ERR_MAIL otherwise, with the reason in
 * its err. With probe, the relay is first reached with a deadline
 * (libESMTP's own connect has none). Returns 0 when the relay was
 * reached, MSS_ERR_MAIL when it was not (every message failed).
 * Blocking: call it from the outbox's threads only.
 */
int mfad_mail_send_session(const struct mfad_conf *conf,
    struct mfad_mail_out *out, size_t n, int probe)
    __attribute__((warn_unused_result));

/* Checks what can be checked without the relay: the auth_file (owner and
 * mode), the ca_file, and mfad_mail_check_render. MSS_ERR_MAIL otherwise,
 * with the reason in err. */
int mfad_mail_check_templates(const struct mfad_conf *conf, char *err,
    size_t errlen) __attribute__((warn_unused_result));

/* Renders (and drops) one message of every kind in every language with
 * sample values: 0, or MSS_ERR_MAIL with err naming the kind, the
 * language and the reason ("file:line: reason" for a template error, or
 * a [mail] from that is unset on a host name without a domain). */
int mfad_mail_check_render(const struct mfad_conf *conf, char *err,
    size_t errlen) __attribute__((warn_unused_result));

#endif /* MFAD_MAIL_H */
