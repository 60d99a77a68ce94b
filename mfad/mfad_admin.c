#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sodium.h>

#include "mfad_admin.h"
#include "mfad_audit.h"
#include "mfad_auth.h"
#include "mfad_keys.h"
#include "mfad_enroll.h"
#include "mfad_log.h"
#include "mfad_mail.h"
#include "mfad_outbox.h"
#include "mfad_pw.h"
#include "mfad_render.h"
#include "mfad_smtp.h"
#include "mss_addr.h"
#include "mss_err.h"
#include "mss_ident.h"
#include "mss_mask.h"
#include "mss_proto.h"

#define MFAD_LIST_PAGE	200
/* Room kept free in an audit page, below MSS_MSG_MAX. */
#define MFAD_AUDIT_MARGIN	512
/* The key file is crypto_kdf_KEYBYTES; anything far bigger is not it. */
#define MFAD_KEYFILE_MAX	256

/*
 * Reads user's account into the request's (rq->acct): 0 when found;
 * MSS_ERR_NOTFOUND once the "no such user" answer is in rq->out; another
 * error otherwise.
 */
static int MSS_WUR
mfad_admin_find(struct mfad_rq *rq, const char *user)
{
	int r;

	r = strlen(user) > MFAD_USER_MAX ? MSS_ERR_NOTFOUND :
	    mfad_rq_acct_load(rq, user);
	if (r == MSS_ERR_NOTFOUND && (r = mfad_reply_result(rq->out,
	    &rq->rtype, MSS_ERR_NOTFOUND, "no such user")) == 0)
		return MSS_ERR_NOTFOUND;
	return r;
}

static int MSS_WUR
mfad_admin_event(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_peer *peer, const char *event, const char *user,
    const char *what)
{
	char detail[256];
	struct mfad_audit_ev ev = { event, user, "mfadctl", "", "success",
	    detail };

	snprintf(detail, sizeof(detail), "by=%s%s%s",
	    peer->name[0] ? peer->name : "?", what ? " " : "",
	    what ? what : "");
	return mfad_audit(ctx, txn, &ev);
}

/*
 * The tail a user operation ends with: its audit record in the same
 * transaction (a change never lands without one), the commit, then the
 * answer msg. On error rq's transaction is left for the caller's abort.
 */
static int MSS_WUR
mfad_admin_done(struct mfad_rq *rq, const char *event, const char *user,
    const char *detail, const char *msg)
{
	int r;

	if ((r = mfad_admin_event(rq->ctx, rq->txn, rq->peer, event, user,
	    detail)) != 0 || (r = mfad_rq_end(rq, 1)) != 0)
		return r;
	return mfad_reply_result(rq->out, &rq->rtype, 0, msg);
}

int
mfad_admin_status(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	char err[256], last[MSS_STR_MAX], all[MSS_STR_MAX];
	uint64_t accounts = 0, depth = 0, oldest = 0, next = 0, now_us, age;
	const char *dir = "answering";
	size_t n;
	uint64_t id;
	int r, fleet = ctx->conf->dir_nuris > 0;

	if ((r = mss_buf_end(req)) != 0)
		return r;
	if ((r = mfad_rq_begin(rq, 1)) != 0)
		return r;
	/* Fleet mode: the accounts are counted in the directory, so the
	 * count says whether it answers; one that does not is what status
	 * is asked for then, not a reason to fail. */
	r = mfad_acct_count(rq->txn, ctx->store, &accounts);
	if (r == MSS_ERR_UNAVAIL && fleet) {
		dir = "unreachable";
		accounts = 0;
		r = 0;
	}
	if (r == 0)
		r = mfad_outbox_due(rq->txn, ctx->store, 0, &id, 0, &n, &depth,
		    &oldest, &next);
	mfad_rq_abort(rq);
	if (r != 0)
		return r;
	mfad_outbox_status(ctx->outbox, err, sizeof(err));
	/* Where: the provider the count (or a request since) was answered
	 * by, or every URI the store tried in vain. */
	(void)mfad_store_dir_uris(ctx->store, last, sizeof(last), all,
	    sizeof(all));
	now_us = mfad_clock_real_s();
	age = oldest == 0 || oldest > now_us ? 0 : now_us - oldest;
	*rtype = MSS_REP_STATUS;
	if ((r = mss_buf_put_str(rep, PACKAGE_VERSION)) != 0 ||
	    (r = mss_buf_put_u64(rep, mfad_clock_real_s() - (uint64_t)ctx->started))
	    != 0 ||
	    (r = mss_buf_put_u64(rep, accounts)) != 0 ||
	    (r = mss_buf_put_u64(rep, depth)) != 0 ||
	    (r = mss_buf_put_u64(rep, age)) != 0 ||
	    (r = mss_buf_put_str(rep, err)) != 0 ||
	    (fleet && (r = mss_buf_put_str(rep, dir)) != 0) ||
	    (fleet && (r = mss_buf_put_str(rep, strcmp(dir, "answering") ==
	    0 ? last : all)) != 0))
		return r;
	return 0;
}

static int MSS_WUR
mfad_metric(struct mss_buf *rep, uint32_t *n, const char *name,
    const char *label, int counter, uint64_t val)
{
	int r;

	if ((r = mss_buf_put_str(rep, name)) != 0 ||
	    (r = mss_buf_put_str(rep, label)) != 0 ||
	    (r = mss_buf_put_u8(rep, counter ? 1 : 0)) != 0 ||
	    (r = mss_buf_put_u64(rep, val)) != 0)
		return r;
	(*n)++;
	return 0;
}

/*
 * Counters since mfad started (each audited event) and gauges of now:
 * the outbox, the workers' queue, the store.
 */
#define MFAD_GAUGES	7
int
mfad_admin_metrics(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	const struct mfad_peer *peer = rq->peer;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	char label[64];
	const char *ev;
	uint64_t accounts = 0, depth = 0, oldest = 0, next = 0, now_us, val;
	uint64_t map = 0, used = 0, id;
	uint32_t n = 0, gauges = MFAD_GAUGES;
	size_t i, nd;
	int r, fleet = ctx->conf->dir_nuris > 0, dir_up = 1;

	(void)peer;
	if ((r = mss_buf_end(req)) != 0)
		return r;
	if ((r = mfad_rq_begin(rq, 1)) != 0)
		return r;
	/* Fleet mode: whether the directory answers is a gauge of its own,
	 * and the accounts, counted there, are left out while it does not
	 * (a 0 would read as every account gone). */
	r = mfad_acct_count(rq->txn, ctx->store, &accounts);
	if (r == MSS_ERR_UNAVAIL && fleet) {
		dir_up = 0;
		r = 0;
	}
	if (fleet)
		gauges += dir_up ? 1 : 0;
	if (r == 0)
		r = mfad_outbox_due(rq->txn, ctx->store, 0, &id, 0, &nd, &depth,
		    &oldest, &next);
	mfad_rq_abort(rq);
	if (r != 0 || (r = mfad_store_usage(ctx->store, &map, &used)) != 0)
		return r;
	now_us = mfad_clock_real_s();
	*rtype = MSS_REP_METRICS;
	for (i = 0; mfad_audit_counter(i, &val) != NULL; i++)
		;
	if ((r = mss_buf_put_u32(rep, (uint32_t)i + gauges)) != 0)
		return r;
	for (i = 0; (ev = mfad_audit_counter(i, &val)) != NULL; i++) {
		snprintf(label, sizeof(label), "event=\"%s\"", ev);
		if ((r = mfad_metric(rep, &n, "mfad_events_total", label, 1,
		    val)) != 0)
			return r;
	}
	if ((r = mfad_metric(rep, &n, "mfad_uptime_seconds", "", 0,
	    mfad_clock_real_s() - (uint64_t)ctx->started)) != 0 ||
	    (dir_up && (r = mfad_metric(rep, &n, "mfad_accounts", "", 0,
	    accounts)) != 0) ||
	    (fleet && (r = mfad_metric(rep, &n, "mfad_directory_up", "", 0,
	    (uint64_t)dir_up)) != 0) ||
	    (r = mfad_metric(rep, &n, "mfad_outbox_mails", "", 0, depth)) != 0 ||
	    (r = mfad_metric(rep, &n, "mfad_outbox_oldest_seconds", "", 0,
	    oldest == 0 || oldest > now_us ? 0 : now_us - oldest)) != 0 ||
	    (r = mfad_metric(rep, &n, "mfad_worker_queue", "", 0,
	    mfad_jobs_waiting())) != 0 ||
	    (r = mfad_metric(rep, &n, "mfad_store_map_bytes", "", 0,
	    map)) != 0 ||
	    (r = mfad_metric(rep, &n, "mfad_store_used_bytes", "", 0,
	    used)) != 0)
		return r;
	/* The count sent first must be the count written. */
	return n == i + gauges ? 0 : MSS_ERR_SYSTEM;
}

/* Replaces the string *email by its stored form (mss_addr.h). 0, or the
 * normaliser's error with why filled in. */
static int MSS_WUR
mfad_admin_email(char **email, char *why, size_t whylen)
{
	char addr[MSS_EMAIL_MAX + 1], *s;
	int r;

	if ((r = mss_addr_normalize(*email, addr, sizeof(addr), why,
	    whylen)) != 0)
		return r;
	if ((s = strdup(addr)) == NULL)
		return MSS_ERR_NOMEM;
	mss_str_free(*email);
	*email = s;
	return 0;
}

/*
 * The address and language of `user add` (email required) and `user set`
 * (empty: kept); the address becomes its stored form. 0 when they will
 * do; else MSS_ERR_INVAL, or MSS_ERR_REFUSED for an address mfad cannot
 * serve, with why filled in; or MSS_ERR_NOMEM.
 */
static int MSS_WUR
mfad_admin_email_lang(char **email, const char *lang, int required,
    char *why, size_t whylen)
{
	int r;

	if ((required || (*email)[0] != '\0') &&
	    (r = mfad_admin_email(email, why, whylen)) != 0)
		return r;
	if (lang[0] != '\0' && strcmp(lang, "fr") != 0 &&
	    strcmp(lang, "en") != 0) {
		snprintf(why, whylen, "language must be fr or en");
		return MSS_ERR_INVAL;
	}
	return 0;
}

void
mfad_admin_no_person(char *msg, size_t len, const char *user)
{
	snprintf(msg, len, "%.64s: no person entry in the directory (people "
	    "are created with the directory's own tools)", user);
}

int
mfad_admin_user_add(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	const struct mfad_peer *peer = rq->peer;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	const struct mfad_conf *conf = ctx->conf;
	char *user = NULL, *email = NULL, *lang = NULL, *pw = NULL;
	char hash[MFAD_HASH_MAX], owner[MFAD_USER_MAX + 1], msg[300];
	char bad[MSS_ADDR_WHY_MAX];
	enum mss_pw_reason reason;
	struct mfad_acct *a = &rq->acct;
	int r;

	hash[0] = '\0';
	if ((r = mss_buf_get_str(req, &user, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &email, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &lang, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &pw, MSS_PASS_MAX)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;
	if (!mss_user_valid(user)) {
		r = mfad_reply_result(rep, rtype, MSS_ERR_INVAL,
		    "invalid user name");
		goto out;
	}
	if ((r = mfad_admin_email_lang(&email, lang, 1, bad,
	    sizeof(bad))) != 0) {
		if (r != MSS_ERR_NOMEM)
			r = mfad_reply_result(rep, rtype, r, bad);
		goto out;
	}
	/* An existing name is the answer that matters, before anything
	 * about the password; checked again in the transaction below. */
	if ((r = mfad_rq_begin(rq, 1)) != 0)
		goto out;
	r = mfad_rq_acct_load(rq, user);
	mfad_rq_abort(rq);
	if (r == 0) {
		r = mfad_reply_result(rep, rtype, MSS_ERR_EXISTS,
		    "user already exists");
		goto out;
	}
	if (r != MSS_ERR_NOTFOUND)
		goto out;
	if (pw[0] != '\0') {
		if (mfad_pw_policy(conf, user, email, pw, &reason) != 0) {
			snprintf(msg, sizeof(msg), "password refused: %s",
			    mfad_pw_reason_str(reason));
			r = mfad_reply_result(rep, rtype, MSS_ERR_REFUSED, msg);
			goto out;
		}
		/* Slow: done before the transaction opens. */
		if ((r = mfad_pw_hash(conf, pw, hash)) != 0)
			goto out;
	}

	if ((r = mfad_rq_begin(rq, 0)) != 0)
		goto out;
	r = mfad_rq_acct_load(rq, user);
	if (r == 0) {
		r = mfad_reply_result(rep, rtype, MSS_ERR_EXISTS,
		    "user already exists");
		goto out;
	}
	if (r != MSS_ERR_NOTFOUND)
		goto out;
	/* None: the request's account becomes the new one. */
	snprintf(a->user, sizeof(a->user), "%s", user);
	snprintf(a->email, sizeof(a->email), "%s", email);
	snprintf(a->lang, sizeof(a->lang), "%s", lang[0] ? lang :
	    conf->language);
	a->created = mfad_clock_real_s();
	if (hash[0] != '\0') {
		memcpy(a->pwhash, hash, sizeof(hash));
		a->state = MFAD_ACCT_ACTIVE;
		a->enrolled = a->created;
	} else
		a->state = MFAD_ACCT_INVITED;
	rq->has_acct = 1;
	r = mfad_acct_by_email(rq->txn, ctx->store, email, owner,
	    sizeof(owner));
	if (r == 0) {
		r = mfad_reply_result(rep, rtype, MSS_ERR_EXISTS,
		    "email address already used by another user");
		goto out;
	}
	if (r != MSS_ERR_NOTFOUND)
		goto out;
	r = mfad_acct_put(rq->txn, ctx->store, a, NULL);
	if (r == MSS_ERR_NOTFOUND && conf->dir_nuris > 0) {
		mfad_admin_no_person(msg, sizeof(msg), user);
		r = mfad_reply_result(rep, rtype, MSS_ERR_NOTFOUND, msg);
		goto out;
	}
	if (r != 0 ||
	    (r = mfad_admin_event(ctx, rq->txn, peer, "user_added", user,
	    hash[0] ? "state=active" : "state=invited")) != 0)
		goto out;
	if (hash[0] != '\0' && (r = mfad_admin_event(ctx, rq->txn, peer,
	    "password_set", user, "via --password-stdin")) != 0)
		goto out;
	if (hash[0] == '\0' && (r = mfad_invite_mail(ctx, rq->txn, a)) != 0)
		goto out;
	r = mfad_rq_end(rq, 1);
	if (r != 0)
		goto out;
	mfad_outbox_kick(ctx->outbox);
	r = mfad_reply_result(rep, rtype, 0, hash[0] ? "added (active)" :
	    "added (invited)");
out:
	mfad_rq_abort(rq);
	sodium_memzero(hash, sizeof(hash));
	mss_str_free(user);
	mss_str_free(email);
	mss_str_free(lang);
	mss_str_free(pw);
	return r;
}

struct mfad_count_arg {
	uint32_t	n;
	uint64_t	last;	/* the latest last use */
};

static int
mfad_count_dev(const uint8_t *key, const struct mfad_device *d, void *arg)
{
	struct mfad_count_arg *c = arg;

	if (d->expires > mfad_clock_real_s())
		c->n++;
	return mfad_device_last_used(key, d, &c->last);
}

static int MSS_WUR
mfad_put_user(struct mfad_txn *txn, struct mfad_ctx *ctx, struct mss_buf *rep,
    const struct mfad_acct *a)
{
	struct mfad_count_arg c = { 0 };
	char masked[2 * MFAD_EMAIL_MAX];
	uint64_t resend_until, hour_until;
	uint32_t recent;
	int r;

	if (mss_addr_mask(a->email, masked, sizeof(masked)) != 0)
		masked[0] = '\0';
	mfad_acct_rule_throttle_ends(ctx->conf, a, mfad_clock_real_s(), &recent, &resend_until,
	    &hour_until);
	if ((r = mfad_device_list(txn, ctx->store, a->user, mfad_count_dev,
	    &c)) != 0)
		return r;
	if ((r = mss_buf_put_str(rep, a->user)) != 0 ||
	    (r = mss_buf_put_str(rep, a->email)) != 0 ||
	    (r = mss_buf_put_str(rep, masked)) != 0 ||
	    (r = mss_buf_put_str(rep, a->lang)) != 0 ||
	    (r = mss_buf_put_u8(rep, mfad_acct_rule_wire_state(ctx->conf, a,
	    mfad_clock_real_s()))) != 0 ||
	    (r = mss_buf_put_u64(rep, a->created)) != 0 ||
	    (r = mss_buf_put_u64(rep, a->enrolled)) != 0 ||
	    (r = mss_buf_put_u32(rep, a->failures)) != 0 ||
	    (r = mss_buf_put_u64(rep, a->locked_until)) != 0 ||
	    (r = mss_buf_put_u64(rep, a->last_login > c.last ?
	    a->last_login : c.last)) != 0 ||
	    (r = mss_buf_put_u32(rep, c.n)) != 0 ||
	    (r = mss_buf_put_u32(rep, recent)) != 0 ||
	    (r = mss_buf_put_u64(rep, resend_until)) != 0 ||
	    (r = mss_buf_put_u64(rep, hour_until)) != 0 ||
	    (r = mss_buf_put_u32(rep, a->nrecovery)) != 0)
		return r;
	return 0;
}

int
mfad_admin_user_op(struct mfad_rq *rq, uint8_t type)
{
	struct mfad_ctx *ctx = rq->ctx;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	struct mfad_acct *a = &rq->acct;
	char *user = NULL, detail[64];
	const char *event = NULL, *msg = NULL;
	unsigned n = 0;
	int r;

	if ((r = mss_buf_get_str(req, &user, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;
	if ((r = mfad_rq_begin(rq, type == MSS_REQ_USER_SHOW)) != 0)
		goto out;
	if ((r = mfad_admin_find(rq, user)) != 0) {
		if (r == MSS_ERR_NOTFOUND)
			r = 0;		/* answered "no such user" */
		goto out;
	}
	detail[0] = '\0';
	switch (type) {
	case MSS_REQ_USER_SHOW:
		*rtype = MSS_REP_USER;
		r = mfad_put_user(rq->txn, ctx, rep, a);
		goto out;
	case MSS_REQ_USER_DEL:
		r = mfad_acct_del(rq->txn, ctx->store, a);
		event = "user_deleted";
		msg = "deleted";
		break;
	case MSS_REQ_USER_LOCK:
		a->state = MFAD_ACCT_LOCKED;
		r = mfad_acct_put(rq->txn, ctx->store, a, a->email);
		event = "user_locked";
		msg = "locked";
		break;
	case MSS_REQ_USER_UNLOCK:
		/* Unlock ends an admin lock, a lockout and the mail
		 * throttles alike: the helpdesk's one lever. */
		if (a->state == MFAD_ACCT_LOCKED)
			a->state = a->pwhash[0] ? MFAD_ACCT_ACTIVE :
			    MFAD_ACCT_INVITED;
		snprintf(detail, sizeof(detail), "failures=%u mails_cleared=%u",
		    (unsigned)a->failures, (unsigned)a->nsends);
		if ((r = mfad_acct_failures_clear(rq->txn, ctx->store, a->user,
		    a)) != 0 ||
		    (r = mfad_acct_sends_clear(rq->txn, ctx->store, a->user,
		    a)) != 0)
			break;
		r = mfad_acct_put(rq->txn, ctx->store, a, a->email);
		event = "user_unlocked";
		msg = "unlocked";
		break;
	case MSS_REQ_USER_DISABLE:
		/* Kept, with its devices, until enabled again: while
		 * disabled it cannot sign in, enroll or reset, and a
		 * remembered device skips nothing. */
		a->state = MFAD_ACCT_DISABLED;
		r = mfad_acct_put(rq->txn, ctx->store, a, a->email);
		event = "user_disabled";
		msg = "disabled";
		break;
	case MSS_REQ_USER_ENABLE:
		/* Active again once it has a password, else invited; an
		 * admin lock is for unlock to end. */
		if (a->state == MFAD_ACCT_DISABLED) {
			a->state = a->pwhash[0] ? MFAD_ACCT_ACTIVE :
			    MFAD_ACCT_INVITED;
			msg = a->state == MFAD_ACCT_INVITED ?
			    "enabled (invited)" : "enabled";
		} else
			msg = "not disabled: unchanged";
		r = mfad_acct_put(rq->txn, ctx->store, a, a->email);
		event = "user_enabled";
		break;
	case MSS_REQ_USER_REENROLL:
		/* Whatever stood in for the mailbox goes with the old
		 * enrollment: devices and recovery codes. */
		a->reenroll = 1;
		snprintf(detail, sizeof(detail), "recovery_revoked=%u",
		    (unsigned)a->nrecovery);
		mfad_acct_recovery_set(a, NULL, 0);
		if ((r = mfad_acct_put(rq->txn, ctx->store, a, a->email)) == 0)
			r = mfad_device_revoke_all(rq->txn, ctx->store, a->user,
			    &n);
		snprintf(detail + strlen(detail), sizeof(detail) -
		    strlen(detail), " devices_revoked=%u", n);
		event = "user_reenroll";
		msg = "must enroll again at next login";
		break;
	default:
		r = MSS_ERR_PROTO;
		goto out;
	}
	if (r == 0)
		r = mfad_admin_done(rq, event, a->user,
		    detail[0] ? detail : NULL, msg);
out:
	mfad_rq_abort(rq);
	mss_str_free(user);
	return r;
}

/*
 * user recovery: count (1..MSS_RECOVERY_MAX) new codes replace the
 * account's, answered once in MSS_REP_RECOVERY and kept only as hashes,
 * and the owner is mailed (fail closed: no notice, no codes); count 0
 * revokes them.
 */
int
mfad_admin_user_recovery(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	const struct mfad_peer *peer = rq->peer;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	struct mfad_acct *a = &rq->acct;
	struct mfad_mail_vars vars;
	uint8_t (*h)[MFAD_KEY_LEN] = NULL;
	char (*codes)[MFAD_RECOVERY_TEXT + 1] = NULL;
	char *user = NULL, detail[64], norm[MFAD_RECOVERY_CHARS + 1];
	uint64_t now = mfad_clock_real_s();
	uint32_t count, i, j;
	int r;

	if ((r = mss_buf_get_str(req, &user, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_u32(req, &count)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;
	if (count > MSS_RECOVERY_MAX || count > MFAD_RECOVERY_MAX) {
		r = mfad_reply_result(rep, rtype, MSS_ERR_INVAL,
		    "count must be 1 to 100");
		goto out;
	}
	if ((h = sodium_allocarray(MFAD_RECOVERY_MAX, sizeof(*h))) == NULL ||
	    (codes = sodium_allocarray(MFAD_RECOVERY_MAX,
	    sizeof(*codes))) == NULL) {
		r = MSS_ERR_NOMEM;
		goto out;
	}
	if ((r = mfad_rq_begin(rq, 0)) != 0)
		goto out;
	if ((r = mfad_admin_find(rq, user)) != 0) {
		if (r == MSS_ERR_NOTFOUND)
			r = 0;		/* answered "no such user" */
		goto out;
	}
	if (count == 0) {
		snprintf(detail, sizeof(detail), "count=%u",
		    (unsigned)a->nrecovery);
		mfad_acct_recovery_set(a, NULL, 0);
		if ((r = mfad_acct_put(rq->txn, ctx->store, a, a->email)) == 0)
			r = mfad_admin_done(rq, "recovery_revoked", a->user,
			    detail, "recovery codes revoked");
		goto out;
	}
	for (i = 0; i < count; i++) {
		/* Distinct within the set (a repeat is all but impossible,
		 * but would make one code count twice). */
		do {
			mfad_recovery_new(codes[i]);
			if (mfad_recovery_norm(codes[i], norm) != 0) {
				r = MSS_ERR_INVAL;
				goto out;
			}
			mfad_recovery_hash(ctx->keys, a->user, norm, h[i]);
			for (j = 0; j < i; j++)
				if (sodium_memcmp(h[i], h[j],
				    MFAD_KEY_LEN) == 0)
					break;
		} while (j < i);
	}
	sodium_memzero(norm, sizeof(norm));
	mfad_acct_recovery_set(a, (const uint8_t (*)[MFAD_KEY_LEN])h, count);
	snprintf(detail, sizeof(detail), "count=%u", (unsigned)count);
	mfad_mail_vars_init(ctx, &vars, a->user, "", "mfadctl", NULL, now);
	r = mfad_outbox_queue(ctx, rq->txn, MFAD_MAIL_RECOVERY_SET, a->user,
	    a->email, a->lang, &vars, now + 86400, NULL);
	if (r == MSS_ERR_THROTTLED) {
		mfad_rq_abort(rq);
		r = mfad_reply_result(rep, rtype, MSS_ERR_THROTTLED,
		    "mail ceiling reached: the owner could not be told; "
		    "try again in a minute");
		goto out;
	}
	if (r != 0 ||
	    (r = mfad_acct_put(rq->txn, ctx->store, a, a->email)) != 0 ||
	    (r = mfad_admin_event(ctx, rq->txn, peer, "recovery_set", a->user,
	    detail)) != 0 ||
	    (r = mfad_rq_end(rq, 1)) != 0)
		goto out;
	mfad_outbox_kick(ctx->outbox);
	*rtype = MSS_REP_RECOVERY;
	if ((r = mss_buf_put_u32(rep, count)) != 0)
		goto out;
	for (i = 0; i < count; i++)
		if ((r = mss_buf_put_str(rep, codes[i])) != 0)
			goto out;
out:
	mfad_rq_abort(rq);
	sodium_memzero(norm, sizeof(norm));
	if (h != NULL)
		sodium_free(h);
	if (codes != NULL)
		sodium_free(codes);		/* wiped by sodium_free */
	mss_str_free(user);
	return r;
}

struct mfad_list_arg {
	struct mfad_rq	*rq;		/* its transaction open */
	struct mss_buf	*rep;
	uint32_t	 n;
};

int
mfad_email_changed_notice(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_acct *a, const char *old)
{
	struct mfad_mail_vars vars;
	char masked[MSS_STR_MAX + 1];
	const char *to[2] = { old, a->email };
	uint64_t now = mfad_clock_real_s();
	int i, r;

	if (mss_addr_mask(a->email, masked, sizeof(masked)) != 0)
		masked[0] = '\0';
	mfad_mail_vars_init(ctx, &vars, a->user, masked, "mfadctl", NULL, now);
	for (i = 0; i < 2; i++) {
		r = mfad_outbox_queue(ctx, txn, MFAD_MAIL_EMAIL_CHANGED,
		    a->user, to[i], a->lang, &vars, now + 86400, NULL);
		if (r == MSS_ERR_THROTTLED) {
			mfad_log(LOG_WARNING, "notice email_changed for %s not "
			    "queued: mail ceiling reached", a->user);
			r = 0;
		}
		if (r != 0)
			return r;
	}
	return 0;
}

int
mfad_admin_user_set(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	const struct mfad_peer *peer = rq->peer;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	struct mfad_acct *a = &rq->acct;
	char *user = NULL, *email = NULL, *lang = NULL;
	char old[MFAD_EMAIL_MAX + 1], owner[MFAD_USER_MAX + 1], msg[64];
	char bad[MSS_ADDR_WHY_MAX];
	int r, email_changed = 0, lang_changed = 0;

	if ((r = mss_buf_get_str(req, &user, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &email, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &lang, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;
	if ((r = mfad_admin_email_lang(&email, lang, 0, bad,
	    sizeof(bad))) != 0) {
		if (r != MSS_ERR_NOMEM)
			r = mfad_reply_result(rep, rtype, r, bad);
		goto out;
	}
	if ((r = mfad_rq_begin(rq, 0)) != 0)
		goto out;
	if ((r = mfad_admin_find(rq, user)) != 0) {
		if (r == MSS_ERR_NOTFOUND)
			r = 0;		/* answered "no such user" */
		goto out;
	}
	snprintf(old, sizeof(old), "%s", a->email);
	if (email[0] != '\0' && strcasecmp(a->email, email) != 0) {
		r = mfad_acct_by_email(rq->txn, ctx->store, email, owner,
		    sizeof(owner));
		if (r == 0) {
			r = mfad_reply_result(rep, rtype, MSS_ERR_EXISTS,
			    "email address already used by another user");
			goto out;
		}
		if (r != MSS_ERR_NOTFOUND)
			goto out;
		snprintf(a->email, sizeof(a->email), "%s", email);
		email_changed = 1;
	}
	if (lang[0] != '\0' && strcmp(a->lang, lang) != 0) {
		snprintf(a->lang, sizeof(a->lang), "%s", lang);
		lang_changed = 1;
	}
	if (!email_changed && !lang_changed) {
		r = mfad_reply_result(rep, rtype, 0, "unchanged");
		goto out;
	}
	if ((r = mfad_acct_put(rq->txn, ctx->store, a, old)) != 0)
		goto out;
	if (email_changed &&
	    ((r = mfad_admin_event(ctx, rq->txn, peer, "user_email_changed",
	    a->user, "notice to the old and the new address")) != 0 ||
	    (r = mfad_email_changed_notice(ctx, rq->txn, a, old)) != 0))
		goto out;
	if (lang_changed && (r = mfad_admin_event(ctx, rq->txn, peer,
	    "user_lang_changed", a->user, a->lang)) != 0)
		goto out;
	if ((r = mfad_rq_end(rq, 1)) != 0)
		goto out;
	snprintf(msg, sizeof(msg), "%s%s%s", email_changed ?
	    "email changed" : "", email_changed && lang_changed ? ", " : "",
	    lang_changed ? "language changed" : "");
	r = mfad_reply_result(rep, rtype, 0, msg);
out:
	mfad_rq_abort(rq);
	mss_str_free(user);
	mss_str_free(email);
	mss_str_free(lang);
	return r;
}

/* One account of `user list`: a list walks many accounts, not the
 * request's one; mfad_acct_list wipes each after this call. */
static int MSS_WUR
mfad_list_one(const struct mfad_acct *a, void *arg)
{
	struct mfad_list_arg *la = arg;

	la->n++;
	return mfad_put_user(la->rq->txn, la->rq->ctx, la->rep, a);
}

int
mfad_admin_user_list(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	struct mfad_list_arg la;
	struct mss_buf *body = NULL;
	char *after = NULL;
	int r, more = 0;

	if ((r = mss_buf_get_str(req, &after, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;
	if ((body = mss_buf_new(MSS_MSG_MAX)) == NULL) {
		r = MSS_ERR_NOMEM;
		goto out;
	}
	if ((r = mfad_rq_begin(rq, 1)) != 0)
		goto out;
	la.rq = rq;
	la.rep = body;
	la.n = 0;
	/* A page of users; each record is far below MSS_MSG_MAX / PAGE. */
	if ((r = mfad_acct_list(rq->txn, ctx->store, after, MFAD_LIST_PAGE / 2,
	    mfad_list_one, &la, &more)) != 0)
		goto out;
	*rtype = MSS_REP_USER_LIST;
	if ((r = mss_buf_put_u32(rep, la.n)) != 0 ||
	    (r = mss_buf_put(rep, mss_buf_ptr(body), mss_buf_avail(body)))
	    != 0 ||
	    (r = mss_buf_put_u8(rep, (uint8_t)more)) != 0)
		goto out;
out:
	mfad_rq_abort(rq);
	mss_buf_free(body);
	mss_str_free(after);
	return r;
}

/*
 * Device pages: in key order, as many as one frame holds; the client asks
 * again with the id of the last device it got while more is 1.
 */
struct mfad_devlist_arg {
	struct mss_buf	*rep;
	size_t		 room;		/* bytes the records may take */
	uint32_t	 n;
	int		 more;
};

static int MSS_WUR
mfad_devlist_one(const uint8_t *key, const struct mfad_device *d, void *arg)
{
	struct mfad_devlist_arg *da = arg;
	char id[2 * MFAD_DEVICE_ID_LEN + 1];
	int r;

	sodium_bin2hex(id, sizeof(id), key, MFAD_DEVICE_ID_LEN);
	if (mss_buf_avail(da->rep) + 3 * 4 + 3 * 8 + strlen(id) +
	    strlen(d->kind) + strlen(d->service) > da->room) {
		da->more = 1;
		return 1;		/* full: the rest on the next page */
	}
	if ((r = mss_buf_put_str(da->rep, id)) != 0 ||
	    (r = mss_buf_put_str(da->rep, d->kind)) != 0 ||
	    (r = mss_buf_put_str(da->rep, d->service)) != 0 ||
	    (r = mss_buf_put_u64(da->rep, d->created)) != 0 ||
	    (r = mss_buf_put_u64(da->rep, d->expires)) != 0 ||
	    (r = mss_buf_put_u64(da->rep, d->last_used)) != 0)
		return r;
	da->n++;
	return 0;
}

int
mfad_admin_device_list(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	struct mfad_devlist_arg da;
	uint8_t after[MFAD_DEVICE_ID_LEN];
	char *user = NULL, *aid = NULL;
	size_t alen;
	int r;

	memset(&da, 0, sizeof(da));
	if ((r = mss_buf_get_str(req, &user, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &aid, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;
	if (aid[0] != '\0' && (strlen(aid) != 2 * sizeof(after) ||
	    sodium_hex2bin(after, sizeof(after), aid, strlen(aid), NULL,
	    &alen, NULL) != 0 || alen != sizeof(after))) {
		r = mfad_reply_result(rep, rtype, MSS_ERR_INVAL,
		    "invalid device id");
		goto out;
	}
	if ((r = mfad_rq_begin(rq, 1)) != 0)
		goto out;
	if ((r = mfad_admin_find(rq, user)) != 0) {
		if (r == MSS_ERR_NOTFOUND)
			r = 0;		/* answered "no such user" */
		goto out;
	}
	mfad_rq_acct_drop(rq);
	if ((da.rep = mss_buf_new(MSS_MSG_MAX)) == NULL) {
		r = MSS_ERR_NOMEM;
		goto out;
	}
	/* The count, the more flag and a margin stay free. */
	da.room = MSS_MSG_MAX - 4 - 1 - MFAD_AUDIT_MARGIN;
	r = mfad_device_list_after(rq->txn, ctx->store, user,
	    aid[0] != '\0' ? after : NULL, mfad_devlist_one, &da);
	if (r != 0 && !(r == 1 && da.more))
		goto out;
	*rtype = MSS_REP_DEVICE_LIST;
	if ((r = mss_buf_put_u32(rep, da.n)) != 0 ||
	    (r = mss_buf_put(rep, mss_buf_ptr(da.rep),
	    mss_buf_avail(da.rep))) != 0 ||
	    (r = mss_buf_put_u8(rep, (uint8_t)da.more)) != 0)
		goto out;
out:
	mfad_rq_abort(rq);
	mss_buf_free(da.rep);
	mss_str_free(user);
	mss_str_free(aid);
	return r;
}

struct mfad_revoke_arg {
	const char	*id;
	uint8_t		 key[MFAD_KEY_LEN];
	int		 found;
};

static int
mfad_revoke_find(const uint8_t *key, const struct mfad_device *d, void *arg)
{
	struct mfad_revoke_arg *ra = arg;
	char id[17];

	(void)d;
	sodium_bin2hex(id, sizeof(id), key, 8);
	if (strcasecmp(id, ra->id) == 0) {
		memcpy(ra->key, key, MFAD_KEY_LEN);
		ra->found = 1;
	}
	return 0;
}

int
mfad_admin_device_revoke(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	const struct mfad_peer *peer = rq->peer;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	struct mfad_revoke_arg ra;
	char *user = NULL, *id = NULL, detail[64], msg[64];
	unsigned n = 0;
	int r;

	if ((r = mss_buf_get_str(req, &user, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &id, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;
	if ((r = mfad_rq_begin(rq, 0)) != 0)
		goto out;
	if ((r = mfad_admin_find(rq, user)) != 0) {
		if (r == MSS_ERR_NOTFOUND)
			r = 0;		/* answered "no such user" */
		goto out;
	}
	mfad_rq_acct_drop(rq);
	if (id[0] == '\0') {
		if ((r = mfad_device_revoke_all(rq->txn, ctx->store, user, &n))
		    != 0)
			goto out;
	} else {
		memset(&ra, 0, sizeof(ra));
		ra.id = id;
		if ((r = mfad_device_list(rq->txn, ctx->store, user,
		    mfad_revoke_find, &ra)) != 0)
			goto out;
		if (!ra.found) {
			r = mfad_reply_result(rep, rtype, MSS_ERR_NOTFOUND,
			    "no such device");
			goto out;
		}
		if ((r = mfad_device_del(rq->txn, ctx->store, user, ra.key)) != 0)
			goto out;
		n = 1;
	}
	snprintf(detail, sizeof(detail), "count=%u uid=%u", n,
	    (unsigned)peer->uid);
	snprintf(msg, sizeof(msg), "%u device%s revoked", n, n == 1 ? "" : "s");
	r = mfad_admin_done(rq, "device_revoked", user, detail, msg);
out:
	mfad_rq_abort(rq);
	mss_str_free(user);
	mss_str_free(id);
	return r;
}

int
mfad_admin_mail_test(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	const struct mfad_peer *peer = rq->peer;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	struct mfad_mail_vars vars;
	char *to = NULL, *msg = NULL, err[512], bad[MSS_ADDR_WHY_MAX];
	size_t len = 0;
	int r;

	if ((r = mss_buf_get_str(req, &to, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;
	if ((r = mfad_admin_email(&to, bad, sizeof(bad))) != 0) {
		if (r != MSS_ERR_NOMEM)
			r = mfad_reply_result(rep, rtype, r, bad);
		goto out;
	}
	memset(&vars, 0, sizeof(vars));
	vars.host = ctx->hostname;
	vars.service = "mfadctl";
	vars.time = (time_t)mfad_clock_real_s();
	err[0] = '\0';
	/* An admin's explicit check: sent now, and the relay's answer shown. */
	r = mfad_render_message(ctx->conf, MFAD_MAIL_TEST, ctx->conf->language,
	    to, &vars, &msg, &len, err, sizeof(err));
	if (r == 0)
		r = mfad_smtp_send(ctx->conf, to, msg, len, err, sizeof(err));
	{
		char detail[512], masked[MFAD_EMAIL_MAX + 1];
		struct mfad_audit_ev ev = { "mail_test", "", "mfadctl", "",
		    r == 0 ? "success" : "failure", detail };

		/* Who asked, and to whom, masked as in the prompts. */
		if (mss_mask_email(to, masked, sizeof(masked)) != 0)
			snprintf(masked, sizeof(masked), "?");
		snprintf(detail, sizeof(detail), "by=%.64s to=%.100s%s%.255s",
		    peer->name[0] ? peer->name : "?", masked,
		    err[0] ? ": " : "", err);
		/* The mail went or not already: the admin hears of it
		 * either way, and the audit line is in the log. */
		if (mfad_audit_rq(rq, &ev) != 0)
			mfad_log(LOG_ERR, "audit of mail test failed");
	}
	r = mfad_reply_result(rep, rtype, r == 0 ? 0 : MSS_ERR_MAIL,
	    r == 0 ? "accepted by the relay" : err);
out:
	if (msg != NULL) {
		sodium_memzero(msg, len);
		free(msg);
	}
	mss_str_free(to);
	return r;
}

/*
 * Audit pages. The client asks for the next page with before_us set to
 * the oldest time it got, so a page never ends in the middle of the
 * records of one microsecond: those would be skipped.
 */
struct mfad_audit_page {
	struct mss_buf	*body;
	size_t		 room;		/* bytes the records may take */
	uint32_t	 limit;		/* 0: as many as fit */
	uint32_t	 n;		/* records in body */
	uint64_t	 last_us;	/* time of the last record put */
	size_t		 run_len;	/* body length before that time's run */
	uint32_t	 run_n;
	size_t		 keep_len;	/* what is sent */
	uint32_t	 keep_n;
};

static size_t
mfad_audit_rec_size(const struct mfad_audit_rec *a)
{
	return 8 + 6 * 4 + strlen(a->event) + strlen(a->user) +
	    strlen(a->service) + strlen(a->rhost) + strlen(a->result) +
	    strlen(a->detail);
}

static int MSS_WUR
mfad_audit_page_one(const struct mfad_audit_rec *a, void *arg)
{
	struct mfad_audit_page *pg = arg;
	size_t len = mss_buf_avail(pg->body);
	int r;

	if (pg->limit != 0 && pg->n >= pg->limit)
		return 1;
	if (len + mfad_audit_rec_size(a) > pg->room) {
		/* Full: the run of the last time waits for the next page,
		 * unless it is the whole page. */
		if (pg->n > 0 && a->time_us == pg->last_us && pg->run_n > 0) {
			pg->keep_len = pg->run_len;
			pg->keep_n = pg->run_n;
		}
		return 1;
	}
	if (pg->n == 0 || a->time_us != pg->last_us) {
		pg->last_us = a->time_us;
		pg->run_len = len;
		pg->run_n = pg->n;
	}
	if ((r = mss_buf_put_u64(pg->body, a->time_us)) != 0 ||
	    (r = mss_buf_put_str(pg->body, a->event)) != 0 ||
	    (r = mss_buf_put_str(pg->body, a->user)) != 0 ||
	    (r = mss_buf_put_str(pg->body, a->service)) != 0 ||
	    (r = mss_buf_put_str(pg->body, a->rhost)) != 0 ||
	    (r = mss_buf_put_str(pg->body, a->result)) != 0 ||
	    (r = mss_buf_put_str(pg->body, a->detail)) != 0)
		return r;
	pg->n++;
	pg->keep_len = mss_buf_avail(pg->body);
	pg->keep_n = pg->n;
	return 0;
}

int
mfad_admin_audit(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	struct mfad_audit_page pg;
	char *user = NULL;
	uint64_t since_us, before_us;
	uint32_t limit;
	int r, more = 0;

	memset(&pg, 0, sizeof(pg));
	if ((r = mss_buf_get_str(req, &user, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_u64(req, &since_us)) != 0 ||
	    (r = mss_buf_get_u64(req, &before_us)) != 0 ||
	    (r = mss_buf_get_u32(req, &limit)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;
	if ((pg.body = mss_buf_new(MSS_MSG_MAX)) == NULL) {
		r = MSS_ERR_NOMEM;
		goto out;
	}
	/* The count, the more flag and a margin stay free. */
	pg.room = MSS_MSG_MAX - 4 - 1 - MFAD_AUDIT_MARGIN;
	pg.limit = limit;
	if ((r = mfad_rq_begin(rq, 1)) != 0)
		goto out;
	if ((r = mfad_audit_list(rq->txn, ctx->store, user, since_us, before_us,
	    mfad_audit_page_one, &pg, &more)) != 0)
		goto out;
	*rtype = MSS_REP_AUDIT_LIST;
	if ((r = mss_buf_put_u32(rep, pg.keep_n)) != 0 ||
	    (r = mss_buf_put(rep, mss_buf_ptr(pg.body), pg.keep_len)) != 0 ||
	    (r = mss_buf_put_u8(rep, (uint8_t)(more != 0))) != 0)
		goto out;
out:
	mfad_rq_abort(rq);
	mss_buf_free(pg.body);
	mss_str_free(user);
	return r;
}

/*
 * Backup: a compact copy of the store and the key file, written into two
 * files that mfadctl made (O_EXCL, 0600) where the admin asked and handed
 * over with the request. mfad opens no path for it: the admin's rights
 * decide where a backup may go, not mfad's user or its sandbox
 * (ProtectSystem=strict). Restoring is pointing `database` at the copy
 * (or copying both files back) while mfad is stopped.
 */

/* Checks that fd is a new, private file open for writing. */
static int MSS_WUR
mfad_backup_check_fd(int fd, const char *name, char *why, size_t whylen)
{
	struct stat sb;
	int fl;

	if (fstat(fd, &sb) != 0 || (fl = fcntl(fd, F_GETFL)) < 0) {
		snprintf(why, whylen, "%s: %s", name, strerror(errno));
		return MSS_ERR_SYSTEM;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(why, whylen, "%s: not a regular file", name);
		return MSS_ERR_INVAL;
	}
	if (sb.st_size != 0) {
		snprintf(why, whylen, "%s: not empty", name);
		return MSS_ERR_EXISTS;
	}
	if ((sb.st_mode & 077) != 0) {
		snprintf(why, whylen, "%s: group or others may read it "
		    "(mode 0600 needed)", name);
		return MSS_ERR_INVAL;
	}
	if ((fl & O_ACCMODE) != O_WRONLY && (fl & O_ACCMODE) != O_RDWR) {
		snprintf(why, whylen, "%s: not open for writing", name);
		return MSS_ERR_INVAL;
	}
	return 0;
}

/* Copies the key file of the database directory into out. */
static int MSS_WUR
mfad_backup_key(const char *database, int out, char *why, size_t whylen)
{
	unsigned char key[MFAD_KEYFILE_MAX];
	char path[PATH_MAX];
	struct stat sb;
	size_t len = 0, done = 0;
	ssize_t n;
	int in = -1, r = MSS_ERR_SYSTEM;

	if ((size_t)snprintf(path, sizeof(path), "%s/mfad.key", database) >=
	    sizeof(path)) {
		snprintf(why, whylen, "key file path too long");
		return MSS_ERR_INVAL;
	}
	if ((in = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    fstat(in, &sb) != 0) {
		snprintf(why, whylen, "the store's mfad.key: %s",
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
	    sb.st_size > (off_t)sizeof(key)) {
		snprintf(why, whylen, "the store's mfad.key is not a key file");
		goto out;
	}
	while (len < (size_t)sb.st_size) {
		n = read(in, key + len, (size_t)sb.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(why, whylen, "the store's mfad.key: %s",
			    n < 0 ? strerror(errno) : "short read");
			goto out;
		}
		len += (size_t)n;
	}
	while (done < len) {
		n = write(out, key + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(why, whylen, "mfad.key: %s",
			    n < 0 ? strerror(errno) : "short write");
			goto out;
		}
		done += (size_t)n;
	}
	r = 0;
out:
	sodium_memzero(key, sizeof(key));
	if (in >= 0)
		close(in);
	return r;
}

int
mfad_admin_backup(struct mfad_rq *rq)
{
	struct mfad_ctx *ctx = rq->ctx;
	const struct mfad_peer *peer = rq->peer;
	struct mss_buf *req = rq->in, *rep = rq->out;
	uint8_t *rtype = &rq->rtype;
	static const char *const names[MSS_BACKUP_FDS] = { "data.mdb",
	    "mfad.key" };
	char *dir = NULL, why[512], msg[MSS_STR_MAX], detail[1200];
	int i, r, code = 0, writing = 0;

	why[0] = '\0';
	if ((r = mss_buf_get_str(req, &dir, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		goto out;
	if (peer->nfds != MSS_BACKUP_FDS) {
		snprintf(why, sizeof(why), "the request must carry the two "
		    "files to write (data.mdb, mfad.key), made by mfadctl");
		code = MSS_ERR_INVAL;
		goto done;
	}
	for (i = 0; i < MSS_BACKUP_FDS; i++)
		if ((code = mfad_backup_check_fd(peer->fds[i], names[i], why,
		    sizeof(why))) != 0)
			goto done;
	writing = 1;
	if ((code = mfad_store_copy_fd(ctx->store, peer->fds[0])) != 0) {
		snprintf(why, sizeof(why), "cannot write data.mdb (%s; mfad's "
		    "log has the reason)", mss_strerror(code));
		goto done;
	}
	if ((code = mfad_backup_key(ctx->conf->database, peer->fds[1], why,
	    sizeof(why))) != 0)
		goto done;
	for (i = 0; i < MSS_BACKUP_FDS; i++)
		if (fsync(peer->fds[i]) != 0) {
			snprintf(why, sizeof(why), "%s: %s", names[i],
			    strerror(errno));
			code = MSS_ERR_SYSTEM;
			goto done;
		}
done:
	/* Nothing half-written may pass for a backup (mfadctl removes the
	 * files too; this holds if it cannot). */
	if (code != 0 && writing)
		for (i = 0; i < MSS_BACKUP_FDS; i++)
			if (ftruncate(peer->fds[i], 0) != 0)
				mfad_log(LOG_WARNING, "backup: cannot empty "
				    "the failed %s: %s", names[i],
				    strerror(errno));
	snprintf(detail, sizeof(detail), "by=%s dir=%s%s%s%s",
	    peer->name[0] ? peer->name : "?", dir, code != 0 ? " (" : "",
	    code != 0 ? why : "", code != 0 ? ")" : "");
	{
		struct mfad_audit_ev ev = { "backup", "", "mfadctl", "",
		    code == 0 ? "success" : "failure", detail };

		/* The backup is written or not already: the admin hears
		 * of it either way, and the audit line is in the log. */
		if (mfad_audit_rq(rq, &ev) != 0)
			mfad_log(LOG_ERR, "audit of backup failed");
	}
	if (code == 0)
		snprintf(msg, sizeof(msg), "backup written to %s (data.mdb, "
		    "mfad.key)", dir);
	else
		snprintf(msg, sizeof(msg), "%s: %s", dir, why);
	r = mfad_reply_result(rep, rtype, code, msg);
out:
	mss_str_free(dir);
	return r;
}
