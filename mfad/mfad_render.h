/*
 * Rendering a mail from its template into a complete message (RFC 5322
 * headers and a MIME body, CRLF line ends), ready for mfad_smtp. No
 * libESMTP here: rendering runs when a message is queued, on a request's
 * path.
 */
#ifndef MFAD_RENDER_H
#define MFAD_RENDER_H

#include <stddef.h>

#include "mfad_conf.h"
#include "mfad_mail.h"
#include "mss_err.h"

/*
 * Builds the message of kind in lang ("fr" or "en"; anything else falls
 * back to conf->language) addressed to `to`. *msg is malloc'd; the caller
 * wipes and frees it (it may hold a code). Returns 0, MSS_ERR_INVAL for a
 * bad address or a header value with CR, LF or NUL, MSS_ERR_MAIL when the
 * template cannot be read or is malformed (err says which file:line).
 */
int mfad_render_message(const struct mfad_conf *conf,
    enum mfad_mail_kind kind, const char *lang, const char *to,
    const struct mfad_mail_vars *vars, char **msg, size_t *len, char *err,
    size_t errlen) MSS_WUR;

/* Renders (and drops) one message of every kind in every language with
 * sample values: 0, or MSS_ERR_MAIL with err naming the kind, the
 * language and the reason ("file:line: reason" for a template error, or
 * a [mail] from that is unset on a host name without a domain). */
int mfad_render_check(const struct mfad_conf *conf, char *err,
    size_t errlen) MSS_WUR;

#endif /* MFAD_RENDER_H */
