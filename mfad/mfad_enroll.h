/*
 * Enrollment, reset and password changes (DESIGN §3):
 *
 * RESET_START   an empty password: mfad decides the login's kind. An
 *               account that must (re-)enroll gets an enrollment (a
 *               mailed code, then SET_PASSWORD sets its password and the
 *               login completes), an active one a reset (a mailed code,
 *               then SET_PASSWORD; remembered devices are revoked and the
 *               person must log in again), anything else a decoy that
 *               looks the same, mails nothing and never succeeds. Its
 *               mail throttle is per (user, typed address), the same for
 *               all three.
 * CHANGE_PASSWORD  passwd: the old password, then a new one.
 */
#ifndef MFAD_ENROLL_H
#define MFAD_ENROLL_H

#include "mfad_keys.h"
#include "mfad_ctx.h"
#include "mfad_store.h"

int mfad_reset_start(struct mfad_rq *) MSS_WUR;
int mfad_set_password(struct mfad_rq *) MSS_WUR;
int mfad_change_password(struct mfad_rq *) MSS_WUR;

/*
 * RESEND for a login of RESET_START (its login has a throttle record):
 * the same limits and steps for real and decoy logins, in rq's
 * transaction. Ends it (mfad_rq_end) when it answers "code sent" or
 * "throttled"; on an error it is left for the caller to abort.
 */
int mfad_code_resend(struct mfad_rq *rq, struct mfad_acct *a,
    struct mfad_login *l, const uint8_t token[MFAD_TOKEN_BYTES],
    const uint8_t key[32], const char *hex) MSS_WUR;

/*
 * Queues the invitation of a new invited account a in txn: how to enroll
 * (log in as a->user, type this address, leave the password empty). Not
 * counted against [mail] max_per_minute: an admin's action is never
 * dropped, and the outbox paces what it sends.
 */
int mfad_invite_mail(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_acct *a) MSS_WUR;

#endif /* MFAD_ENROLL_H */
