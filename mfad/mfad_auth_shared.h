/*
 * What the login, enrollment and reset handlers share: the parse of
 * AUTH_START and RESET_START, the peer check, the template values of a
 * mail, notices and the lock event, and the AUTH reply. Below all three
 * handler files, so that none of them includes another's header for it.
 */
#ifndef MFAD_AUTH_SHARED_H
#define MFAD_AUTH_SHARED_H

#include <stdint.h>

#include "mfad_ctx.h"
#include "mfad_mail.h"
#include "mfad_store.h"

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
/* Queues a notice; MSS_ERR_THROTTLED when the global ceiling refuses
 * it, for the callers that must not go on without it. until: {until}
 * (a lock's end), or 0. */
int mfad_notice_queue(struct mfad_ctx *ctx, struct mfad_txn *txn,
    enum mfad_mail_kind kind, const struct mfad_acct *a,
    const struct mfad_login *l, unsigned minutes, uint64_t until,
    uint64_t now) MSS_WUR;
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

#endif /* MFAD_AUTH_SHARED_H */
