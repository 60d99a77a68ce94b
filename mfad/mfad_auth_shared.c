/*
 * What the login, enrollment and reset handlers share (see
 * mfad_auth_shared.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "mfad_acct.h"
#include "mfad_audit.h"
#include "mfad_auth_shared.h"
#include "mfad_keys.h"
#include "mfad_log.h"
#include "mfad_outbox.h"
#include "mss_addr.h"
#include "mss_err.h"
#include "mss_proto.h"
#include "mfad_str.h"

void
mfad_auth_req_free(struct mfad_auth_req *q)
{
	mss_str_free(q->service);
	mss_str_free(q->user);
	mss_str_free(q->email);
	mss_str_free(q->password);
	mss_str_free(q->device);
	mss_str_free(q->rhost);
	mss_str_free(q->tty);
	mss_str_free(q->lang);
}

void
mfad_clean_text(char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

const char *
mfad_acct_reply_lang(const struct mfad_acct *a)
{
	return strcmp(a->lang, "fr") == 0 || strcmp(a->lang, "en") == 0 ?
	    a->lang : "";
}

int
mfad_reply_auth_lang(struct mss_buf *rep, uint8_t *rtype, uint8_t result,
    const char *login, const char *masked, uint32_t minutes, uint8_t mail,
    uint32_t wait, const char *lang)
{
	int r;

	*rtype = MSS_REP_AUTH;
	if ((r = mss_buf_put_u8(rep, result)) != 0 ||
	    (r = mss_buf_put_str(rep, login)) != 0 ||
	    (r = mss_buf_put_str(rep, masked)) != 0 ||
	    (r = mss_buf_put_u32(rep, minutes)) != 0 ||
	    (r = mss_buf_put_u8(rep, mail)) != 0 ||
	    (r = mss_buf_put_u32(rep, wait)) != 0 ||
	    (r = mss_buf_put_str(rep, lang)) != 0)
		return r;
	return 0;
}

int
mfad_reply_auth(struct mss_buf *rep, uint8_t *rtype, uint8_t result,
    const char *login, const char *masked, uint32_t minutes, uint8_t mail,
    uint32_t wait)
{
	return mfad_reply_auth_lang(rep, rtype, result, login, masked,
	    minutes, mail, wait, "");
}

unsigned
mfad_minutes(const struct mfad_conf *conf)
{
	return (conf->code_ttl + 59) / 60;
}

void
mfad_mail_vars_init(struct mfad_ctx *ctx, struct mfad_mail_vars *vars,
    const char *user, const char *masked, const char *service,
    const char *rhost, uint64_t now)
{
	memset(vars, 0, sizeof(*vars));
	vars->host = ctx->hostname;
	vars->masked = masked;
	vars->service = service;
	vars->rhost = rhost != NULL && rhost[0] != '\0' ? rhost : "-";
	vars->user = user;
	vars->time = (time_t)now;
}

/* Queues a notice; MSS_ERR_THROTTLED when the global ceiling refuses
 * it, for the callers that must not go on without it. until: {until}
 * (a lock's end), or 0. */
int
mfad_notice_queue(struct mfad_ctx *ctx, struct mfad_txn *txn,
    enum mfad_mail_kind kind, const struct mfad_acct *a,
    const struct mfad_login *l, unsigned minutes, uint64_t until,
    uint64_t now)
{
	struct mfad_mail_vars vars;

	if (a->email[0] == '\0')
		return 0;	/* a decoy's stand-in has nobody to tell */
	mfad_mail_vars_init(ctx, &vars, a->user, l != NULL ? l->masked : "",
	    l != NULL ? l->service : "passwd", l != NULL ? l->rhost : NULL,
	    now);
	vars.minutes = minutes;
	vars.until = until;
	return mfad_outbox_queue(ctx, txn, kind, a->user, a->email, a->lang,
	    &vars, now + 86400, NULL);
}

/* mfad_notice with the values of {minutes} and {until}. */
static int MSS_WUR
mfad_notice_until(struct mfad_ctx *ctx, struct mfad_txn *txn,
    enum mfad_mail_kind kind, const struct mfad_acct *a,
    const struct mfad_login *l, unsigned minutes, uint64_t until,
    uint64_t now)
{
	int r;

	r = mfad_notice_queue(ctx, txn, kind, a, l, minutes, until, now);
	if (r == MSS_ERR_THROTTLED) {
		mfad_log(LOG_WARNING, "notice %s for %s not queued: mail "
		    "ceiling reached", mfad_mail_kind_name(kind), a->user);
		r = 0;
	}
	return r;
}

int
mfad_notice(struct mfad_ctx *ctx, struct mfad_txn *txn,
    enum mfad_mail_kind kind,
    const struct mfad_acct *a, const struct mfad_login *l, uint64_t now)
{
	return mfad_notice_until(ctx, txn, kind, a, l, 0, 0, now);
}

int
mfad_lock_event(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_acct *a,
    int event, const char *service, const char *rhost)
{
	char detail[96];
	struct mfad_audit_ev ev = { "account_locked", a->user, service, rhost,
	    "failure", detail };
	struct mfad_login l;
	uint64_t now = mfad_clock_real_s();
	unsigned minutes = 0;
	int r;

	if (a->locked_until == MFAD_LOCK_FOREVER)
		snprintf(detail, sizeof(detail), "%u failures: locked until "
		    "unlocked or reset", a->failures);
	else
		snprintf(detail, sizeof(detail), "%u failures: locked for %llus",
		    a->failures, (unsigned long long)mfad_acct_rule_lock_duration(
		    ctx->conf, a->failures));
	if ((r = mfad_audit(ctx, txn, &ev)) != 0)
		return r;
	if (event != MFAD_LOCK_NOTIFY)
		return 0;	/* told within the last day already */
	/* The owner hears of it: someone may be guessing. */
	memset(&l, 0, sizeof(l));
	if (mss_addr_mask(a->email, l.masked, sizeof(l.masked)) != 0)
		l.masked[0] = '\0';
	snprintf(l.service, sizeof(l.service), "%s", service);
	snprintf(l.rhost, sizeof(l.rhost), "%s", rhost);
	/* The mail says until when, and in how long (rounded up). */
	if (a->locked_until != MFAD_LOCK_FOREVER && a->locked_until > now)
		minutes = (unsigned)((a->locked_until - now + 59) / 60);
	return mfad_notice_until(ctx, txn, MFAD_MAIL_LOCKED, a, &l, minutes,
	    a->locked_until, now);
}

int
mfad_peer_check(struct mfad_rq *rq, const char *user, const char *service)
{
	const struct mfad_peer *peer = rq->peer;
	char detail[128];
	struct mfad_audit_ev ev = { "peer_denied", user, service, "",
	    "failure", detail };

	if (mfad_peer_may_act_for(peer, user))
		return 0;
	snprintf(detail, sizeof(detail), "uid %u may not act for this user",
	    (unsigned)peer->uid);
	/* Refused whether or not the record could be stored (the audit
	 * line is already in the log). */
	if (mfad_audit_agg_rq(rq, &ev, NULL) != 0)
		mfad_log(LOG_ERR, "audit of a refused caller failed");
	return MSS_ERR_PERM;
}

int
mfad_commit_throttled(struct mfad_rq *rq, const char *user,
    const char *service, const char *rhost, uint32_t wait, const char *lang)
{
	struct mfad_audit_ev ev = { "throttled", user, service, rhost,
	    "failure", "per-account mail limit" };
	int r;

	if ((r = mfad_audit(rq->ctx, rq->txn, &ev)) != 0) {
		mfad_rq_abort(rq);
		return r;
	}
	if ((r = mfad_rq_end(rq, 1)) != 0)
		return r;
	return mfad_reply_auth_lang(rq->out, &rq->rtype, MSS_AUTH_THROTTLED, "",
	    "", 0, 0, wait, lang);
}

int
mfad_commit_code_sent(struct mfad_rq *rq, const char *hex,
    const char *masked, const char *lang)
{
	int r;

	if ((r = mfad_rq_end(rq, 1)) != 0)
		return r;
	mfad_outbox_kick(rq->ctx->outbox);
	return mfad_reply_auth_lang(rq->out, &rq->rtype, MSS_AUTH_CODE_SENT,
	    hex, masked, mfad_minutes(rq->ctx->conf), MSS_MAIL_QUEUED, 0,
	    lang);
}

/*
 * The typed address in its stored form, so that a domain typed in
 * Unicode (any case, composed or not) matches the A-labels mfad keeps,
 * and the throttle key and the mask are the same for both spellings.
 * Text that is no address mfad can serve stays as typed: it matches no
 * account and gets the same answer as any other wrong address.
 */
static int MSS_WUR
mfad_auth_req_email(struct mfad_auth_req *q)
{
	char addr[MSS_EMAIL_MAX + 1], *s;
	int r;

	if (q->email[0] == '\0')
		return 0;
	r = mss_addr_normalize(q->email, addr, sizeof(addr), NULL, 0);
	if (r == MSS_ERR_NOMEM)
		return r;
	if (r != 0 || strcmp(addr, q->email) == 0)
		return 0;
	if ((s = strdup(addr)) == NULL)
		return MSS_ERR_NOMEM;
	mss_str_free(q->email);
	q->email = s;
	return 0;
}

int
mfad_auth_req_parse(struct mss_buf *req, struct mfad_auth_req *q, int start)
{
	int r;

	memset(q, 0, sizeof(*q));
	if ((r = mss_buf_get_str(req, &q->service, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &q->user, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &q->email, MSS_STR_MAX)) != 0 ||
	    (start && (r = mss_buf_get_str(req, &q->password,
	    MSS_PASS_MAX)) != 0) ||
	    (r = mss_buf_get_str(req, &q->device, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &q->rhost, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &q->tty, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_str(req, &q->lang, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_u32(req, &q->flags)) != 0 ||
	    (r = mss_buf_end(req)) != 0)
		return r;
	/* These reach logs and mail: no control characters. */
	mfad_clean_text(q->service);
	mfad_clean_text(q->rhost);
	mfad_clean_text(q->tty);
	return mfad_auth_req_email(q);
}

