#include "config.h"

#include <stdio.h>
#include <string.h>

#include "mfad_audit.h"
#include "mfad_log.h"
#include "mss_err.h"

/*
 * Escapes s into out as \xNN: in a bare field (quoted = 0) spaces,
 * quotes, '=' and controls, which could forge fields; in a quoted one
 * only quotes, backslashes and controls.
 */
static void
mfad_audit_field(const char *s, char *out, size_t outlen, int quoted)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	unsigned char c;
	int esc;

	if (outlen == 0)
		return;
	for (; s != NULL && *s != '\0'; s++) {
		c = (unsigned char)*s;
		esc = c < 0x20 || c == 0x7f || c == '"' || c == '\\' ||
		    (!quoted && (c == ' ' || c == '='));
		if (o + (esc ? 4 : 1) >= outlen)
			break;
		if (esc) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

void
mfad_audit_escape(const char *s, char *out, size_t outlen)
{
	mfad_audit_field(s, out, outlen, 0);
}

static void
mfad_copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src == NULL ? "" : src);
}

int
mfad_audit(struct mfad_ctx *ctx, MDB_txn *txn, const struct mfad_audit_ev *ev)
{
	char user[260], service[260], rhost[1030], detail[1030];
	struct mfad_audit_rec rec;
	MDB_txn *own = NULL;
	int r;

	mfad_audit_escape(ev->user, user, sizeof(user));
	mfad_audit_escape(ev->service, service, sizeof(service));
	mfad_audit_escape(ev->rhost, rhost, sizeof(rhost));
	mfad_audit_field(ev->detail, detail, sizeof(detail), 1);
	mfad_log_auth(strcmp(ev->result, "failure") == 0 ? LOG_NOTICE :
	    LOG_INFO, "event=%s user=%s service=%s rhost=%s result=%s%s%s%s",
	    ev->event, user[0] ? user : "-", service[0] ? service : "-",
	    rhost[0] ? rhost : "-", ev->result, detail[0] ? " detail=\"" : "",
	    detail, detail[0] ? "\"" : "");

	memset(&rec, 0, sizeof(rec));
	rec.time_us = mfad_now_us();
	mfad_copy(rec.event, sizeof(rec.event), ev->event);
	mfad_copy(rec.user, sizeof(rec.user), ev->user);
	mfad_copy(rec.service, sizeof(rec.service), ev->service);
	mfad_copy(rec.rhost, sizeof(rec.rhost), ev->rhost);
	mfad_copy(rec.result, sizeof(rec.result), ev->result);
	mfad_copy(rec.detail, sizeof(rec.detail), ev->detail);
	if (txn == NULL) {
		if ((r = mfad_txn_begin(ctx->store, 0, &own)) != 0)
			return r;
		txn = own;
	}
	r = mfad_audit_put(txn, ctx->store, &rec);
	if (own != NULL) {
		if (r == 0)
			r = mfad_txn_commit(&own);
		else
			mfad_txn_abort(&own);
	}
	return r;
}
