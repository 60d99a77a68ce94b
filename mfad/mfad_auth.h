/*
 * The login handlers: AUTH_START (password, remembered device, code
 * mail), CODE, RESEND, REMEMBER and ACCT. Each follows DESIGN §3 and the
 * code, lockout and device rules of SECURITY.md; every decision is
 * audited inside the transaction that makes it.
 */
#ifndef MFAD_AUTH_H
#define MFAD_AUTH_H

#include "mfad_acct.h"
#include "mfad_keys.h"
#include "mfad_login.h"
#include "mfad_mail.h"
#include "mfad_ctx.h"

int mfad_auth_start(struct mfad_rq *) MSS_WUR;

/*
 * AUTH_START in two halves, so that the slow one (the password check,
 * and a rehash) runs on a worker and the quick one (every change to the
 * store) joins a group commit. prepare fills *c (free it with
 * mfad_auth_cont_free); finish writes the reply. mfad_auth_start runs
 * both in a row.
 */
struct mfad_auth_cont;
int mfad_auth_start_prepare(struct mfad_rq *rq, struct mfad_auth_cont **c)
    MSS_WUR;
int mfad_auth_start_finish(struct mfad_rq *rq, struct mfad_auth_cont *c)
    MSS_WUR;
void mfad_auth_cont_free(struct mfad_auth_cont *c);
/*
 * A remembered device whose login changes nothing but its record
 * (last login and use, the audit copy): mfad_auth_cont_early says so
 * after prepare, and the worker answers it with mfad_auth_start_early.
 * Once that reply is made, finish only records the login, lazily
 * (mfad_rq_lazy), whatever happened to the account meanwhile; when
 * it could not be made, finish goes the whole way.
 */
int mfad_auth_cont_early(const struct mfad_auth_cont *c);
int mfad_auth_start_early(struct mfad_rq *rq, struct mfad_auth_cont *c)
    MSS_WUR;
int mfad_auth_code(struct mfad_rq *) MSS_WUR;
int mfad_auth_resend(struct mfad_rq *) MSS_WUR;
int mfad_auth_remember(struct mfad_rq *) MSS_WUR;
int mfad_auth_acct(struct mfad_rq *) MSS_WUR;


/* Shared by the login, enrollment and reset handlers. */

/* The fields of AUTH_START, and of RESET_START, which has no password. */
struct mfad_auth_req {
	char	*service, *user, *email, *password, *device, *rhost, *tty,
		*lang;
	uint32_t flags;
};

/* Parses AUTH_START (start = 1) or RESET_START (start = 0)
 * strictly; control characters in the text fields become '?'. */
int mfad_auth_req_parse(struct mss_buf *req, struct mfad_auth_req *q,
    int start) MSS_WUR;
/* Frees (wiping) what the parser allocated. */
void mfad_auth_req_free(struct mfad_auth_req *q);

/* Replaces control characters in a request's text field with '?'. */
void mfad_clean_text(char *s);

/* Code validity in whole minutes, for prompts and mail. */
unsigned mfad_minutes(const struct mfad_conf *conf);
/* The template values every mail shares: host, masked address, service,
 * remote host ("-" when empty or NULL), user and time; the rest zero
 * (code and minutes are for the caller to set). */
void mfad_mail_vars_init(struct mfad_ctx *ctx, struct mfad_mail_vars *vars,
    const char *user, const char *masked, const char *service,
    const char *rhost, uint64_t now);
/* 0 when peer may act for user; else audits the refusal and returns
 * MSS_ERR_PERM. */
int mfad_peer_check(struct mfad_rq *rq, const char *user,
    const char *service) MSS_WUR;
/* Queues a notice (no code) about a's account for kind, with l's
 * service, address and mask when l is not NULL. A notice lost to the
 * global ceiling is logged, never fatal to what it reports. */
int mfad_notice(struct mfad_ctx *ctx, struct mfad_txn *txn,
    enum mfad_mail_kind kind, const struct mfad_acct *a,
    const struct mfad_login *l, uint64_t now) MSS_WUR;
/* A lockout began (event: what mfad_acct_rule_fail returned): audited, and
 * the owner is told by mail when the event says so. */
int mfad_lock_event(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_acct *a, int event, const char *service,
    const char *rhost) MSS_WUR;
/*
 * lang below is the reply's lang field: the account's language, passed
 * only where the password (or the code) was right; "" everywhere else,
 * so that no answer to a wrong password or an unknown address tells
 * them apart.
 *
 * mfad_commit_throttled: the per-account mail limit said no; audits it
 * in rq's transaction, ends it with a commit and answers "throttled,
 * wait this long".
 */
int mfad_commit_throttled(struct mfad_rq *rq, const char *user,
    const char *service, const char *rhost, uint32_t wait,
    const char *lang) MSS_WUR;
/* Ends rq's transaction with a commit, wakes the mail sender and answers
 * "code sent". */
int mfad_commit_code_sent(struct mfad_rq *rq, const char *hex,
    const char *masked, const char *lang) MSS_WUR;
/* MSS_REP_AUTH with lang "" (mfad_reply_auth) or the given one. */
int mfad_reply_auth(struct mss_buf *rep, uint8_t *rtype, uint8_t result,
    const char *login, const char *masked, uint32_t minutes, uint8_t mail,
    uint32_t wait) MSS_WUR;
int mfad_reply_auth_lang(struct mss_buf *rep, uint8_t *rtype, uint8_t result,
    const char *login, const char *masked, uint32_t minutes, uint8_t mail,
    uint32_t wait, const char *lang) MSS_WUR;
/* The account's language for a reply: "fr" or "en", else "". */
const char *mfad_acct_reply_lang(const struct mfad_acct *a);

#endif /* MFAD_AUTH_H */
