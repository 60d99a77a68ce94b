/*
 * Sending built messages to the relay over SMTP with libESMTP, several in
 * one session. Knows nothing of templates or mail kinds: a message here is
 * a recipient and bytes (as mfad_render_message builds them).
 * Blocking: call the senders from the outbox's threads only (mfadctl's
 * test mail excepted), never on a request's path.
 */
#ifndef MFAD_SMTP_H
#define MFAD_SMTP_H

#include <stddef.h>

#include "mfad_conf.h"
#include "mss_err.h"

/* One message of a session, and its outcome. */
struct mfad_smtp_out {
	const char	*to;
	const char	*msg;
	size_t		 len;
	int		 result;	/* as mfad_smtp_send's */
	char		 err[512];	/* why, when result is not 0 */
};

/*
 * Sends one message to `to` through conf's relay, with STARTTLS required
 * unless tls=none. Returns 0 when the relay accepted it, MSS_ERR_REFUSED
 * when it refused the recipient or the message for good (5xx: do not
 * retry), or MSS_ERR_MAIL with the relay's answer (or the local reason)
 * in err.
 */
int mfad_smtp_send(const struct mfad_conf *conf, const char *to,
    const char *msg, size_t len, char *err, size_t errlen)
    MSS_WUR;

/*
 * Sends n messages in one SMTP session (STARTTLS and AUTH once, then each
 * message in turn, pipelined when the relay offers PIPELINING). Each
 * out[i] gets its own result: 0 when the relay accepted that message
 * (its final dot got a 2xx, whatever came after), MSS_ERR_REFUSED when
 * it was refused for good, MSS_ERR_MAIL otherwise, with the reason in
 * its err. With probe, the relay is first reached with a deadline
 * (libESMTP's own connect has none). Returns 0 when the relay was
 * reached, MSS_ERR_THROTTLED when it turned the session away with a 4xx
 * greeting (every message failed, none was tried), MSS_ERR_MAIL when it
 * was not reached (every message failed), MSS_ERR_INVAL for no messages.
 */
int mfad_smtp_send_session(const struct mfad_conf *conf,
    struct mfad_smtp_out *out, size_t n, int probe)
    MSS_WUR;

/*
 * Asked when the relay has answered the last message of a session so
 * far: done[0..ndone) is that batch, each with its final outcome. It
 * returns how many messages go on in the same session and points *more
 * at them (0 ends it). *more must stay as it is until the next call or
 * the end of the session; the session sets the outcomes in it.
 */
typedef size_t (*mfad_smtp_more_fn)(void *arg, struct mfad_smtp_out *done,
    size_t ndone, struct mfad_smtp_out **more);

/*
 * mfad_smtp_send_session, with more asked for further messages each time
 * the last one so far is answered. When it returns, out, or the last
 * array more gave, holds the outcomes of the session's last batch; the
 * batches before were handed to more.
 */
int mfad_smtp_send_stream(const struct mfad_conf *conf,
    struct mfad_smtp_out *out, size_t n, int probe, mfad_smtp_more_fn more,
    void *more_arg) MSS_WUR;

/* Checks what can be checked of the relay set-up without the relay: the
 * auth_file (owner and mode) and the ca_file. 0, MSS_ERR_INVAL for no
 * conf, or MSS_ERR_MAIL with the reason in err. */
int mfad_smtp_check(const struct mfad_conf *conf, char *err, size_t errlen)
    MSS_WUR;
/* The same, in a child process (the start's): mfad sets OpenSSL up at
 * its first session with STARTTLS, not before. */
int mfad_smtp_check_apart(const struct mfad_conf *conf, char *err,
    size_t errlen) MSS_WUR;

#endif /* MFAD_SMTP_H */
