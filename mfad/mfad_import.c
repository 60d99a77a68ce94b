#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mfad_admin.h"
#include "mfad_audit.h"
#include "mfad_enroll.h"
#include "mfad_import.h"
#include "mfad_mail.h"
#include "mfad_pw.h"
#include "mss_addr.h"
#include "mss_err.h"
#include "mss_ident.h"
#include "mss_proto.h"

struct mfad_import_row {
	uint32_t	 line;
	char		*user, *email, *lang;
	char		*pwhash;		/* "" or an argon2id string */
	uint32_t	 ndev;
	char		*dev[MSS_IMPORT_ROW_DEVICES];
};

/* What one row does, decided before anything is written. An import
 * works on many accounts, not the request's one (struct mfad_rq): each
 * row's account is its own, wiped when the row is done. */
struct mfad_import_plan {
	struct mfad_acct	a;
	struct mfad_acct	before;		/* a as read, when found */
	int			code;		/* the row's error, 0: go on */
	int			put;		/* the account is written */
	char			msg[300];
	int			found;
	char			email[MFAD_EMAIL_MAX + 1];	/* stored form */
	char			old[MFAD_EMAIL_MAX + 1];
	int			email_changed, activated;
	uint8_t			devkey[MSS_IMPORT_ROW_DEVICES][MFAD_KEY_LEN];
	char			devkind[MSS_IMPORT_ROW_DEVICES][16];
};

static void
mfad_rows_free(struct mfad_import_row *rows, uint32_t n)
{
	uint32_t i, j;

	for (i = 0; i < n; i++) {
		mss_str_free(rows[i].user);
		mss_str_free(rows[i].email);
		mss_str_free(rows[i].lang);
		mss_str_free(rows[i].pwhash);
		for (j = 0; j < rows[i].ndev; j++)
			mss_str_free(rows[i].dev[j]);
	}
	free(rows);
}

/*
 * A device identity as pam_mss forms it: "sshkey:TYPE BASE64",
 * "rhost:HOST" or "tty:/dev/NAME". kind gets the part before the colon.
 */
static int
mfad_import_device_ok(const char *id, char kind[16])
{
	const char *colon = strchr(id, ':');
	const unsigned char *p;
	size_t klen;

	if (colon == NULL || colon[1] == '\0')
		return 0;
	klen = (size_t)(colon - id);
	if (!((klen == 6 && strncmp(id, "sshkey", 6) == 0) ||
	    (klen == 5 && strncmp(id, "rhost", 5) == 0) ||
	    (klen == 3 && strncmp(id, "tty", 3) == 0)))
		return 0;
	for (p = (const unsigned char *)colon + 1; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	if (klen == 3 && strncmp(colon + 1, "/dev/", 5) != 0)
		return 0;
	if (klen == 6 && strchr(colon + 1, ' ') == NULL)
		return 0;
	memcpy(kind, id, klen);
	kind[klen] = '\0';
	return 1;
}

/* Checks what a row says by itself, before the store is read. 0, a row
 * error (msg says why), or a failure with *fatal set. */
static int MSS_WUR
mfad_import_check(struct mfad_ctx *ctx, const struct mfad_import_row *row,
    struct mfad_import_plan *pl, char *msg, size_t msglen, int *fatal)
{
	const char *why;
	uint32_t i, j;
	int r;

	*fatal = 0;
	if (!mss_user_valid(row->user)) {
		snprintf(msg, msglen, "invalid user name");
		return MSS_ERR_INVAL;
	}
	/* Compared and stored in its stored form, as user add does. */
	if ((r = mss_addr_normalize(row->email, pl->email, sizeof(pl->email),
	    msg, msglen)) != 0) {
		*fatal = r == MSS_ERR_NOMEM;
		return r;
	}
	if (row->lang[0] != '\0' && strcmp(row->lang, "fr") != 0 &&
	    strcmp(row->lang, "en") != 0) {
		snprintf(msg, msglen, "language must be fr or en");
		return MSS_ERR_INVAL;
	}
	if (row->pwhash[0] != '\0' &&
	    mfad_pw_hash_ok(ctx->conf, row->pwhash, &why) != 0) {
		snprintf(msg, msglen, "%s", why);
		return MSS_ERR_INVAL;
	}
	for (i = 0; i < row->ndev; i++) {
		if (!mfad_import_device_ok(row->dev[i], pl->devkind[i])) {
			snprintf(msg, msglen, "device %u: expected "
			    "sshkey:TYPE KEY, rhost:HOST or tty:/dev/NAME",
			    i + 1);
			return MSS_ERR_INVAL;
		}
		for (j = 0; j < i; j++)
			if (strcmp(row->dev[i], row->dev[j]) == 0) {
				snprintf(msg, msglen, "device %u: listed twice",
				    i + 1);
				return MSS_ERR_INVAL;
			}
		mfad_device_hash(ctx->keys, row->user, ctx->hostname,
		    row->dev[i], pl->devkey[i]);
	}
	if (row->ndev > 0 && ctx->conf->remember_days == 0) {
		snprintf(msg, msglen, "remembered devices are off "
		    "([device] remember_days = 0)");
		return MSS_ERR_REFUSED;
	}
	return 0;
}

/*
 * Decides what a checked row changes, from the store as read for it:
 * the owner of its address (owner_rc 0: owner) and its account
 * (acct_rc 0: read into pl->a). 0 or a row error (msg says why).
 */
static int MSS_WUR
mfad_import_plan(struct mfad_ctx *ctx, const struct mfad_import_row *row,
    struct mfad_import_plan *pl, int owner_rc, const char *owner,
    int acct_rc, char *msg, size_t msglen)
{
	if (owner_rc == 0 && strcmp(owner, row->user) != 0) {
		snprintf(msg, msglen, "email address already used by %s",
		    owner);
		return MSS_ERR_EXISTS;
	}
	pl->found = acct_rc == 0;
	if (pl->found)
		pl->before = pl->a;
	if (!pl->found) {
		memset(&pl->a, 0, sizeof(pl->a));
		snprintf(pl->a.user, sizeof(pl->a.user), "%s", row->user);
		snprintf(pl->a.email, sizeof(pl->a.email), "%s", pl->email);
		snprintf(pl->a.lang, sizeof(pl->a.lang), "%s",
		    row->lang[0] ? row->lang : ctx->conf->language);
		pl->a.state = MFAD_ACCT_INVITED;
		pl->a.created = mfad_clock_real_s();
	} else if (strcasecmp(pl->a.email, pl->email) != 0) {
		/* The language of an existing account is its own choice by
		 * now: only the address follows the file. */
		snprintf(pl->old, sizeof(pl->old), "%s", pl->a.email);
		snprintf(pl->a.email, sizeof(pl->a.email), "%s", pl->email);
		pl->email_changed = 1;
	}
	/* A hash makes an invitation active; it never replaces a password
	 * the account already has (its owner may have changed it since). */
	if (row->pwhash[0] != '\0' && pl->a.state == MFAD_ACCT_INVITED &&
	    pl->a.pwhash[0] == '\0') {
		snprintf(pl->a.pwhash, sizeof(pl->a.pwhash), "%s",
		    row->pwhash);
		pl->a.state = MFAD_ACCT_ACTIVE;
		pl->a.enrolled = mfad_clock_real_s();
		pl->activated = 1;
	}
	if (row->ndev > 0 && pl->a.pwhash[0] == '\0') {
		snprintf(msg, msglen, "devices need an account with a password "
		    "(give its argon2id hash)");
		return MSS_ERR_REFUSED;
	}
	pl->put = pl->email_changed || pl->activated || !pl->found;
	return 0;
}

/*
 * Ends a planned row in txn, its account written already (put: put's
 * result): its devices, audit record and mail; *msg gets the answer.
 * 0 or a row error code; a store failure is returned as is with *fatal
 * set, and ends the batch.
 */
static int MSS_WUR
mfad_import_finish(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_peer *peer, const struct mfad_import_row *row,
    struct mfad_import_plan *pl, int put, char *msg, size_t msglen,
    int *fatal)
{
	struct mfad_audit_ev ev;
	struct mfad_device d;
	char detail[300];
	const char *by = peer->name[0] ? peer->name : "?";
	uint64_t now = mfad_clock_real_s();
	uint32_t i, added = 0;
	size_t off;
	int r;

	*fatal = 1;
	/*
	 * The account before its devices: in fleet mode a device is an
	 * entry under the person's, and a person the directory does not
	 * have is this row's error, not the batch's (mfad attaches to the
	 * people of the directory; it never creates them).
	 */
	r = put;
	if (pl->put) {
		if (r == MSS_ERR_NOTFOUND && !pl->found &&
		    ctx->conf->dir_nuris > 0) {
			*fatal = 0;
			mfad_admin_no_person(msg, msglen, row->user);
			goto out;
		}
		if (r != 0)
			goto store;
	}
	memset(&d, 0, sizeof(d));
	snprintf(d.user, sizeof(d.user), "%s", row->user);
	snprintf(d.service, sizeof(d.service), "mfadctl");
	d.created = now;
	d.expires = now + (uint64_t)ctx->conf->remember_days * 86400;
	for (i = 0; i < row->ndev; i++) {
		struct mfad_device old;

		r = mfad_device_get(txn, ctx->store, row->user, pl->devkey[i],
		    &old);
		if (r == 0)
			continue;	/* already remembered: left as it is */
		if (r != MSS_ERR_NOTFOUND)
			goto store;
		snprintf(d.kind, sizeof(d.kind), "%s", pl->devkind[i]);
		if ((r = mfad_device_put(txn, ctx->store, pl->devkey[i],
		    &d)) != 0)
			goto store;
		added++;
	}
	if (pl->found && !pl->email_changed && !pl->activated && added == 0)
		goto done;
	/* One audit record a row (two when an address change also sets a
	 * password), naming the line and what it did. */
	off = (size_t)snprintf(detail, sizeof(detail), "by=%s import line %u",
	    by, row->line);
	if (pl->activated && off < sizeof(detail))
		off += (size_t)snprintf(detail + off, sizeof(detail) - off,
		    ", with a password hash");
	if (added > 0 && off < sizeof(detail))
		snprintf(detail + off, sizeof(detail) - off, ", %u device%s",
		    added, added == 1 ? "" : "s");
	ev = (struct mfad_audit_ev){ !pl->found ? "user_added" :
	    pl->email_changed ? "user_email_changed" : pl->activated ?
	    "password_set" : "device_remembered", pl->a.user, "mfadctl", "",
	    "success", detail };
	if ((r = mfad_audit(ctx, txn, &ev)) != 0)
		goto store;
	/* Both owners hear of a new address, in the same transaction. */
	if (pl->found && pl->email_changed &&
	    (r = mfad_email_changed_notice(ctx, txn, &pl->a, pl->old)) != 0)
		goto store;
	if (!pl->found && !pl->activated &&
	    (r = mfad_invite_mail(ctx, txn, &pl->a)) != 0)
		goto store;
	ev.event = "password_set";
	if (pl->found && pl->email_changed && pl->activated &&
	    (r = mfad_audit(ctx, txn, &ev)) != 0)
		goto store;
done:
	*fatal = 0;
	off = (size_t)snprintf(msg, msglen, "%s", !pl->found ?
	    (pl->activated ? "added with a password" : "added") :
	    pl->email_changed ? "email changed" :
	    pl->activated ? "password set" : added ? "" : "unchanged");
	if (pl->found && pl->email_changed && pl->activated && off < msglen)
		off += (size_t)snprintf(msg + off, msglen - off,
		    ", password set");
	if (added > 0 && off < msglen)
		snprintf(msg + off, msglen - off, "%s%u device%s remembered",
		    off ? ", " : "", added, added == 1 ? "" : "s");
	goto out;
store:
	snprintf(msg, msglen, "%s", mss_strerror(r));
out:
	return r;
}

/*
 * Whether row j's address meets one that an earlier row of [from, j)
 * writes or gives up: read before that write, the owner it was checked
 * against would be the wrong one.
 */
static int
mfad_import_meets(const struct mfad_import_plan *pl, uint32_t from,
    uint32_t j)
{
	uint32_t i;

	for (i = from; i < j; i++) {
		if (pl[i].code != 0 || !pl[i].put)
			continue;
		if (strcasecmp(pl[j].email, pl[i].a.email) == 0 ||
		    (pl[i].email_changed &&
		    strcasecmp(pl[j].email, pl[i].old) == 0))
			return 1;
	}
	return 0;
}

/*
 * Rows from..n: checked, then the store read for all of them at once
 * (their addresses' owners, their accounts), planned, and the accounts
 * written at once, up to the first row whose address an earlier one
 * changes (the next call starts there, reading the store as written):
 * each row sees what a row-by-row run would see. *end gets the first row
 * not done; each done row's answer goes to out. A failure of the store
 * is returned, and ends the batch.
 */
static int MSS_WUR
mfad_import_part(struct mfad_rq *rq, const struct mfad_import_row *rows,
    uint32_t from, uint32_t n, struct mfad_import_plan *pl,
    struct mss_buf *out, uint32_t *end)
{
	struct mfad_ctx *ctx = rq->ctx;
	const char **users = NULL, **emails = NULL, **olds = NULL;
	const struct mfad_acct **as = NULL, **befores = NULL;
	struct mfad_acct **reads = NULL;
	char (*owner)[MFAD_USER_MAX + 1] = NULL;
	int *orc = NULL, *arc = NULL, *prc = NULL, *putrc = NULL;
	uint32_t i, k, m = 0, e, np = 0, *idx = NULL;
	int r = MSS_ERR_NOMEM, code, fatal;

	if ((users = calloc(n, sizeof(*users))) == NULL ||
	    (emails = calloc(n, sizeof(*emails))) == NULL ||
	    (olds = calloc(n, sizeof(*olds))) == NULL ||
	    (as = calloc(n, sizeof(*as))) == NULL ||
	    (befores = calloc(n, sizeof(*befores))) == NULL ||
	    (reads = calloc(n, sizeof(*reads))) == NULL ||
	    (owner = calloc(n, sizeof(*owner))) == NULL ||
	    (orc = calloc(n, sizeof(*orc))) == NULL ||
	    (arc = calloc(n, sizeof(*arc))) == NULL ||
	    (prc = calloc(n, sizeof(*prc))) == NULL ||
	    (putrc = calloc(n, sizeof(*putrc))) == NULL ||
	    (idx = calloc(n, sizeof(*idx))) == NULL)
		goto out;
	for (i = from; i < n; i++) {
		mfad_acct_wipe(&pl[i].a);
		mfad_acct_wipe(&pl[i].before);
		memset(&pl[i], 0, sizeof(pl[i]));
		pl[i].code = mfad_import_check(ctx, &rows[i], &pl[i],
		    pl[i].msg, sizeof(pl[i].msg), &fatal);
		if (fatal) {
			r = pl[i].code;
			goto out;
		}
		if (pl[i].code != 0)
			continue;
		idx[m] = i;
		users[m] = rows[i].user;
		emails[m] = pl[i].email;
		reads[m] = &pl[i].a;
		m++;
	}
	if ((r = mfad_acct_by_email_many(rq->txn, ctx->store, emails, m,
	    owner, orc)) != 0 ||
	    (r = mfad_acct_get_many(rq->txn, ctx->store, users, m, reads,
	    arc)) != 0)
		goto out;
	for (k = 0; k < m; k++) {
		i = idx[k];
		pl[i].code = mfad_import_plan(ctx, &rows[i], &pl[i], orc[k],
		    owner[k], arc[k], pl[i].msg, sizeof(pl[i].msg));
	}
	for (e = from + 1; e < n && !mfad_import_meets(pl, from, e); e++)
		;
	for (i = from; i < e; i++) {
		if (pl[i].code != 0 || !pl[i].put)
			continue;
		idx[np] = i;
		as[np] = &pl[i].a;
		befores[np] = pl[i].found ? &pl[i].before : NULL;
		olds[np] = pl[i].found ? pl[i].old : NULL;
		np++;
	}
	if ((r = mfad_acct_put_many(rq->txn, ctx->store, as, befores, olds,
	    np, prc)) != 0)
		goto out;
	for (k = 0; k < np; k++)
		putrc[idx[k] - from] = prc[k];
	for (i = from; i < e; i++) {
		code = pl[i].code;
		if (code == 0) {
			code = mfad_import_finish(ctx, rq->txn, rq->peer,
			    &rows[i], &pl[i], putrc[i - from], pl[i].msg,
			    sizeof(pl[i].msg), &fatal);
			if (fatal) {
				/* Nothing of the batch is kept; each row
				 * says why. */
				r = code;
				goto out;
			}
		}
		if ((r = mss_buf_put_u32(out, rows[i].line)) != 0 ||
		    (r = mss_buf_put_u32(out, (uint32_t)(code < 0 ? -code :
		    code))) != 0 ||
		    (r = mss_buf_put_str(out, pl[i].msg)) != 0)
			goto out;
	}
	*end = e;
	r = 0;
out:
	free(users);
	free(emails);
	free(olds);
	free(as);
	free(befores);
	free(reads);
	free(owner);
	free(orc);
	free(arc);
	free(prc);
	free(putrc);
	free(idx);
	return r;
}

/* Reads one row of the request. */
static int MSS_WUR
mfad_import_read(struct mss_buf *req, struct mfad_import_row *row)
{
	uint32_t i;
	int r;

	if ((r = mss_buf_get_u32(req, &row->line)) != 0 ||
	    (r = mss_buf_get_str(req, &row->user, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &row->email, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &row->lang, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &row->pwhash, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_u32(req, &i)) != 0)
		return r;
	if (i > MSS_IMPORT_ROW_DEVICES)
		return MSS_ERR_PROTO;
	for (row->ndev = 0; row->ndev < i; row->ndev++)
		if ((r = mss_buf_get_str(req, &row->dev[row->ndev],
		    MSS_STR_MAX)) != 0)
			return r;
	return 0;
}

int
mfad_import(struct mfad_rq *rq)
{
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	struct mfad_import_row *rows = NULL;
	struct mfad_import_plan *pl = NULL;
	struct mss_buf *out = NULL;
	char msg[300];
	uint32_t n, i, j, got = 0, ndev;
	int r;

	if ((r = mss_buf_get_u32(req, &n)) != 0)
		return r;
	if (n > MSS_IMPORT_ROWS)
		return MSS_ERR_PROTO;
	if ((rows = calloc(n ? n : 1, sizeof(*rows))) == NULL)
		return MSS_ERR_NOMEM;
	for (got = 0, ndev = 0; got < n; got++) {
		if ((r = mfad_import_read(req, &rows[got])) != 0) {
			got++;		/* free what it holds */
			goto out;
		}
		if ((ndev += rows[got].ndev) > MSS_IMPORT_DEVICES) {
			r = MSS_ERR_PROTO;
			got++;
			goto out;
		}
	}
	if ((r = mss_buf_end(req)) != 0)
		goto out;
	/* Two rows for one user would undo each other at every run:
	 * refuse the batch, naming both lines, before anything is written. */
	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
			if (strcmp(rows[i].user, rows[j].user) == 0) {
				snprintf(msg, sizeof(msg), "line %u: user %.64s "
				    "is also on line %u; nothing was imported",
				    rows[i].line, rows[i].user, rows[j].line);
				r = mfad_reply_result(rep, rtype,
				    MSS_ERR_INVAL, msg);
				goto out;
			}
	if ((out = mss_buf_new(MSS_MSG_MAX)) == NULL) {
		r = MSS_ERR_NOMEM;
		goto out;
	}
	if ((pl = calloc(n ? n : 1, sizeof(*pl))) == NULL) {
		r = MSS_ERR_NOMEM;
		goto out;
	}
	if ((r = mfad_rq_begin(rq, 0)) != 0)
		goto out;
	for (i = 0, j = 0; i < n; i = j)
		if ((r = mfad_import_part(rq, rows, i, n, pl, out, &j)) != 0)
			goto out;
	r = mfad_rq_end(rq, 1);
	if (r != 0)
		goto out;
	*rtype = MSS_REP_IMPORT;
	if ((r = mss_buf_put_u32(rep, n)) != 0 ||
	    (r = mss_buf_put(rep, mss_buf_ptr(out), mss_buf_avail(out))) != 0)
		goto out;
out:
	mfad_rq_abort(rq);
	if (pl != NULL) {
		for (i = 0; i < n; i++) {
			mfad_acct_wipe(&pl[i].a);
			mfad_acct_wipe(&pl[i].before);
		}
		free(pl);
	}
	mss_buf_free(out);
	mfad_rows_free(rows, got);
	return r;
}
