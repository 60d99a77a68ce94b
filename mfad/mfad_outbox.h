/*
 * The durable outbox. A request that causes mail renders and seals the
 * message and puts it in the store inside its own transaction, so it is
 * committed before the reply goes out; threads of its own ([mail]
 * connections) then deliver it, several messages a session, retrying
 * with backoff until the message expires (a code's mail expires with the
 * code). A slow or dead relay never stalls a request.
 */
#ifndef MFAD_OUTBOX_H
#define MFAD_OUTBOX_H

#include <stddef.h>
#include <stdint.h>


#include "mfad_mail.h"
#include "mfad_ctx.h"
#include "mss_err.h"

/* Starts the sender threads (which first resume what a previous run
 * left). */
int mfad_outbox_start(struct mfad_ctx *ctx, struct mfad_outbox **out)
    MSS_WUR;
/* Stops the senders; queued mail stays in the store for the next start.
 * Returns how many were still in a session with the relay after the
 * grace: then the caller must leave the store open and end the process
 * without freeing what they use. */
unsigned mfad_outbox_stop(struct mfad_outbox *ob);
/* Wakes the sender: call after committing a transaction that queued. */
void mfad_outbox_kick(struct mfad_outbox *ob);
/* The same, after a group commit: only when mail was queued since the
 * last such call. */
void mfad_outbox_kick_queued(struct mfad_outbox *ob);
/* How many of the waiting messages a sender takes into its session when
 * free_senders (itself included) are free: an even share, at least 4 (or
 * all that wait), at most 32. */
size_t mfad_outbox_share(size_t waiting, unsigned free_senders);
/* 1 when the global per-minute ceiling is reached, with *wait the
 * seconds until it frees; takes nothing. */
int mfad_outbox_ceiling_full(struct mfad_outbox *ob, unsigned max,
    uint32_t *wait) MSS_WUR;

/*
 * Renders kind for `to` and queues it in txn, to expire at `expires`.
 * login, when not NULL, is the login whose mail state the sender keeps
 * up to date. MSS_ERR_THROTTLED when the global [mail] max_per_minute
 * ceiling is reached (nothing queued; invitations are not counted), MSS_ERR_INVAL for a header value
 * that is refused, MSS_ERR_MAIL for a template failure.
 */
int mfad_outbox_queue(struct mfad_ctx *ctx, struct mfad_txn *txn,
    enum mfad_mail_kind kind, const char *user, const char *to,
    const char *lang, const struct mfad_mail_vars *vars, uint64_t expires,
    const uint8_t *login) MSS_WUR;

/* Queue depth, creation time of the oldest message and the last relay
 * error (empty when the last attempt succeeded). */
void mfad_outbox_status(struct mfad_outbox *ob, char *last_error,
    size_t errlen);

#endif /* MFAD_OUTBOX_H */
