#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mfad_admin.h"
#include "mfad_audit.h"
#include "mfad_import.h"
#include "mfad_mail.h"
#include "mss_err.h"
#include "mss_proto.h"

struct mfad_import_row {
	uint32_t	 line;
	char		*user, *email, *lang;
};

static void
mfad_rows_free(struct mfad_import_row *rows, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		mss_str_free(rows[i].user);
		mss_str_free(rows[i].email);
		mss_str_free(rows[i].lang);
	}
	free(rows);
}

/* Applies one row in txn; *msg gets the answer. 0 or a row error code;
 * a store failure is returned as is and ends the batch. */
static int
mfad_import_row(struct mfad_ctx *ctx, MDB_txn *txn,
    const struct mfad_peer *peer, const struct mfad_import_row *row,
    char *msg, size_t msglen, int *fatal)
{
	struct mfad_acct a;
	char owner[MFAD_USER_MAX + 1], old[MFAD_EMAIL_MAX + 1], detail[300];
	const char *lang = row->lang;
	int r;

	*fatal = 0;
	if (!mfad_user_name_ok(row->user)) {
		snprintf(msg, msglen, "invalid user name");
		return MSS_ERR_INVAL;
	}
	if (!mfad_mail_address_ok(row->email)) {
		snprintf(msg, msglen, "invalid email address");
		return MSS_ERR_INVAL;
	}
	if (lang[0] != '\0' && strcmp(lang, "fr") != 0 &&
	    strcmp(lang, "en") != 0) {
		snprintf(msg, msglen, "language must be fr or en");
		return MSS_ERR_INVAL;
	}
	r = mfad_acct_by_email(txn, ctx->store, row->email, owner,
	    sizeof(owner));
	if (r == 0 && strcmp(owner, row->user) != 0) {
		snprintf(msg, msglen, "email address already used by %s",
		    owner);
		return MSS_ERR_EXISTS;
	}
	if (r != 0 && r != MSS_ERR_NOTFOUND)
		goto store;
	r = mfad_acct_get(txn, ctx->store, row->user, &a);
	if (r == MSS_ERR_NOTFOUND) {
		memset(&a, 0, sizeof(a));
		snprintf(a.user, sizeof(a.user), "%s", row->user);
		snprintf(a.email, sizeof(a.email), "%s", row->email);
		snprintf(a.lang, sizeof(a.lang), "%s", lang[0] ? lang :
		    ctx->conf->language);
		a.state = MFAD_ACCT_INVITED;
		a.created = mfad_now();
		snprintf(detail, sizeof(detail), "by=%s import line %u",
		    peer->name[0] ? peer->name : "?", row->line);
		{
			struct mfad_audit_ev ev = { "user_added", a.user,
			    "mfadctl", "", "success", detail };

			if ((r = mfad_acct_put(txn, ctx->store, &a, NULL)) != 0 ||
			    (r = mfad_audit(ctx, txn, &ev)) != 0)
				goto store;
		}
		snprintf(msg, msglen, "added");
		return 0;
	}
	if (r != 0)
		goto store;
	if (strcasecmp(a.email, row->email) == 0) {
		mfad_acct_wipe(&a);
		snprintf(msg, msglen, "unchanged");
		return 0;
	}
	/* The language of an existing account is its own choice by now:
	 * only the address follows the file. */
	snprintf(old, sizeof(old), "%s", a.email);
	snprintf(a.email, sizeof(a.email), "%s", row->email);
	snprintf(detail, sizeof(detail), "by=%s import line %u",
	    peer->name[0] ? peer->name : "?", row->line);
	{
		struct mfad_audit_ev ev = { "user_email_changed", a.user,
		    "mfadctl", "", "success", detail };

		r = mfad_acct_put(txn, ctx->store, &a, old);
		mfad_acct_wipe(&a);
		if (r != 0 || (r = mfad_audit(ctx, txn, &ev)) != 0)
			goto store;
	}
	snprintf(msg, msglen, "email changed");
	return 0;
store:
	*fatal = 1;
	snprintf(msg, msglen, "%s", mss_strerror(r));
	return r;
}

int
mfad_import(struct mfad_ctx *ctx, const struct mfad_peer *peer,
    struct mss_buf *req, uint8_t *rtype, struct mss_buf *rep)
{
	struct mfad_import_row *rows = NULL;
	struct mss_buf *out = NULL;
	MDB_txn *txn = NULL;
	char msg[300];
	uint32_t n, i;
	int r, code, fatal;

	if ((r = mss_buf_get_u32(req, &n)) != 0)
		return r;
	if (n > MFAD_IMPORT_BATCH)
		return MSS_ERR_PROTO;
	if ((rows = calloc(n ? n : 1, sizeof(*rows))) == NULL)
		return MSS_ERR_NOMEM;
	for (i = 0; i < n; i++)
		if ((r = mss_buf_get_u32(req, &rows[i].line)) != 0 ||
		    (r = mss_buf_get_str(req, &rows[i].user, MSS_STR_MAX)) != 0 ||
		    (r = mss_buf_get_str(req, &rows[i].email, MSS_STR_MAX)) != 0 ||
		    (r = mss_buf_get_str(req, &rows[i].lang, MSS_STR_MAX)) != 0)
			goto out;
	if ((r = mss_buf_end(req)) != 0)
		goto out;
	if ((out = mss_buf_new(MSS_MSG_MAX)) == NULL) {
		r = MSS_ERR_NOMEM;
		goto out;
	}
	if ((r = mfad_txn_begin(ctx->store, 0, &txn)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		code = mfad_import_row(ctx, txn, peer, &rows[i], msg,
		    sizeof(msg), &fatal);
		if (fatal) {
			/* Nothing of the batch is kept; each row says why. */
			r = code;
			goto out;
		}
		if ((r = mss_buf_put_u32(out, rows[i].line)) != 0 ||
		    (r = mss_buf_put_u32(out, (uint32_t)(code < 0 ? -code :
		    code))) != 0 ||
		    (r = mss_buf_put_str(out, msg)) != 0)
			goto out;
	}
	r = mfad_txn_commit(txn);
	txn = NULL;
	if (r != 0)
		goto out;
	*rtype = MSS_REP_IMPORT;
	if ((r = mss_buf_put_u32(rep, n)) != 0 ||
	    (r = mss_buf_put(rep, mss_buf_ptr(out), mss_buf_avail(out))) != 0)
		goto out;
out:
	mfad_txn_abort(txn);
	mss_buf_free(out);
	mfad_rows_free(rows, n);
	return r;
}
