/*
 * The login handlers: AUTH_START (password, remembered device, code
 * mail), CODE, RESEND, REMEMBER and ACCT. Each follows DESIGN §3 and the
 * code, lockout and device rules of SECURITY.md; every decision is
 * audited inside the transaction that makes it.
 */
#ifndef MFAD_AUTH_H
#define MFAD_AUTH_H

#include "mfad_code.h"
#include "mfad_lockout.h"
#include "mfad_mail.h"
#include "mfad_ctx.h"

int mfad_auth_start(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *) MSS_WUR;

/*
 * AUTH_START in two halves, so that the slow one (the password check,
 * and a rehash) runs on a worker and the quick one (every change to the
 * store) joins a group commit. prepare fills *c (free it with
 * mfad_auth_cont_free); finish writes the reply. mfad_auth_start runs
 * both in a row.
 */
struct mfad_auth_cont;
int mfad_auth_start_prepare(struct mfad_ctx *ctx, const struct mfad_peer *peer,
    struct mss_buf *req, struct mfad_auth_cont **c) MSS_WUR;
int mfad_auth_start_finish(struct mfad_ctx *ctx, struct mfad_auth_cont *c,
    uint8_t *rtype, struct mss_buf *rep) MSS_WUR;
void mfad_auth_cont_free(struct mfad_auth_cont *c);
int mfad_auth_code(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *) MSS_WUR;
int mfad_auth_resend(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *) MSS_WUR;
int mfad_auth_remember(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *) MSS_WUR;
int mfad_auth_acct(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *) MSS_WUR;


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

/* 1 when the account must (re-)enroll before it can log in: invited,
 * marked by `mfadctl user reenroll`, or enrolled before the policy date
 * once that date has come. */
int mfad_acct_must_enroll(const struct mfad_conf *conf,
    const struct mfad_acct *a, uint64_t now);
/*
 * Per-account mail throttle: resend_interval between two mails and
 * max_sends in any hour. 0, or MSS_ERR_THROTTLED with *wait seconds.
 */
int mfad_throttle(const struct mfad_conf *conf, struct mfad_acct *a,
    uint64_t now, uint32_t *wait);
/*
 * When a's mail throttles end, as mfad_throttle applies them at now, for
 * the helpdesk: *recent, the mails of the last hour; *resend_until,
 * resend_interval after the newest; *hour_until, when max_sends is
 * reached, the time the hour's window has room again. A throttle that
 * does not hold gives 0. a is not changed.
 */
void mfad_throttle_ends(const struct mfad_conf *conf,
    const struct mfad_acct *a, uint64_t now, uint32_t *recent,
    uint64_t *resend_until, uint64_t *hour_until);
/* The same rule on any list of send times (newest last, *nsends of
 * them, pruned to the last hour in place). */
int mfad_sends_throttle(const struct mfad_conf *conf, uint64_t *sends,
    uint32_t *nsends, uint64_t now, uint32_t *wait);
/* Appends now to such a list, dropping the oldest when it is full. */
void mfad_sends_record(uint64_t *sends, uint32_t *nsends, uint64_t now);
/* Code validity in whole minutes, for prompts and mail. */
unsigned mfad_minutes(const struct mfad_conf *conf);
/* The template values every mail shares: host, masked address, service,
 * remote host ("-" when empty or NULL), user and time; the rest zero
 * (code and minutes are for the caller to set). */
void mfad_mail_vars_init(struct mfad_ctx *ctx, struct mfad_mail_vars *vars,
    const char *user, const char *masked, const char *service,
    const char *rhost, uint64_t now);
/* Fills a new pending login; the masked address is computed from email,
 * the device identity (may be "") is hashed with the user and host. */
void mfad_login_init(struct mfad_ctx *ctx, struct mfad_login *l,
    uint8_t kind, const struct mfad_peer *peer, const char *user,
    const char *service, const char *rhost, const char *email,
    const char *device, uint64_t now);
/*
 * Makes a new code for login l (store key `key`), with a fresh nonce
 * that binds its hash (token is no longer hashed in), stores both in l,
 * clears l's takeover notice and queues the mail for l's kind in txn (a
 * decoy gets an unmatchable hash and no mail). The code itself is wiped
 * before returning.
 */
int mfad_send_code(struct mfad_ctx *ctx, MDB_txn *txn, struct mfad_acct *a,
    struct mfad_login *l, const uint8_t token[MFAD_TOKEN_BYTES],
    const uint8_t key[32], uint64_t now);
/* A sign-in login with no mailed code (the mail limit refused one): it
 * can end only with a recovery code, or with a later resend's code. */
void mfad_login_no_code(struct mfad_ctx *ctx, struct mfad_login *l,
    uint64_t now);
/* Stores a unless l is a decoy, whose account is a stand-in. */
int mfad_acct_save(MDB_txn *txn, struct mfad_ctx *ctx,
    const struct mfad_acct *a, const struct mfad_login *l);
/*
 * Opens the login named by hex for this peer: fills token, key, l and its
 * account a (a stand-in for a decoy). MSS_ERR_NOTFOUND for a malformed or
 * unknown login, MSS_ERR_PERM when the peer did not start it.
 */
int mfad_login_open(struct mfad_ctx *ctx, const struct mfad_peer *peer,
    MDB_txn *txn, const char *hex, uint8_t token[MFAD_TOKEN_BYTES],
    uint8_t key[32], struct mfad_login *l, struct mfad_acct *a);
/* 0 when peer may act for user; else audits the refusal and returns
 * MSS_ERR_PERM. */
int mfad_peer_check(struct mfad_ctx *ctx, const struct mfad_peer *peer,
    const char *user, const char *service);
/* Queues a notice (no code) about a's account for kind, with l's
 * service, address and mask when l is not NULL. A notice lost to the
 * global ceiling is logged, never fatal to what it reports. */
int mfad_notice(struct mfad_ctx *ctx, MDB_txn *txn, enum mfad_mail_kind kind,
    const struct mfad_acct *a, const struct mfad_login *l, uint64_t now);
/* A lockout began (event: what mfad_acct_fail returned): audited, and
 * the owner is told by mail when the event says so. */
int mfad_lock_event(struct mfad_ctx *ctx, MDB_txn *txn,
    const struct mfad_acct *a, int event, const char *service,
    const char *rhost);
/*
 * lang below is the reply's lang field: the account's language, passed
 * only where the password (or the code) was right; "" everywhere else,
 * so that no answer to a wrong password or an unknown address tells
 * them apart.
 *
 * mfad_commit_throttled: the per-account mail limit said no; audits it
 * in txn, commits txn (NULL on return) and answers "throttled, wait this
 * long".
 */
int mfad_commit_throttled(struct mfad_ctx *ctx, MDB_txn **txn,
    struct mss_buf *rep, uint8_t *rtype, const char *user,
    const char *service, const char *rhost, uint32_t wait,
    const char *lang);
/* Commits *txn (NULL on return), wakes the mail sender and answers "code sent". */
int mfad_commit_code_sent(struct mfad_ctx *ctx, MDB_txn **txn,
    struct mss_buf *rep, uint8_t *rtype, const char *hex,
    const char *masked, const char *lang);
/* MSS_REP_AUTH with lang "" (mfad_reply_auth) or the given one. */
int mfad_reply_auth(struct mss_buf *rep, uint8_t *rtype, uint8_t result,
    const char *login, const char *masked, uint32_t minutes, uint8_t mail,
    uint32_t wait);
int mfad_reply_auth_lang(struct mss_buf *rep, uint8_t *rtype, uint8_t result,
    const char *login, const char *masked, uint32_t minutes, uint8_t mail,
    uint32_t wait, const char *lang);
/* The account's language for a reply: "fr" or "en", else "". */
const char *mfad_acct_reply_lang(const struct mfad_acct *a);

#endif /* MFAD_AUTH_H */
