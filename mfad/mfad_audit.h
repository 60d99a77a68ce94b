/*
 * Audit: every decision becomes a syslog line (authpriv) with a stable
 * event name and key=value fields, and a record in the store for
 * `mfadctl audit`. Never pass a password, code or token.
 */
#ifndef MFAD_AUDIT_H
#define MFAD_AUDIT_H


#include "mfad_ctx.h"

struct mfad_audit_ev {
	const char	*event;		/* e.g. "login_ok" */
	const char	*user;
	const char	*service;
	const char	*rhost;
	const char	*result;	/* "success", "failure", "info" */
	const char	*detail;	/* free text, escaped */
};

/* Logs ev and stores it in txn (or in a top-level transaction of its
 * own when txn is NULL: never on the committing thread). Returns the
 * store's error, so a caller inside a transaction can fail closed. */
int mfad_audit(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_audit_ev *ev) MSS_WUR;
/* The same in a transaction of rq's, begun and ended here: for a
 * request that has none open. */
int mfad_audit_rq(struct mfad_rq *rq, const struct mfad_audit_ev *ev)
    MSS_WUR;

/* Only the log line of ev: for a decision whose record the store could
 * not take (full), which must still leave a trace. */
void mfad_audit_log(const struct mfad_audit_ev *ev);

/*
 * Like mfad_audit for a refusal a flood can repeat: at most one record a
 * minute for each (event, uid, who) (who may be NULL); the others are
 * only counted, and the next record says how many. Returns 0 when the
 * event was only counted.
 */
int mfad_audit_agg(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_audit_ev *ev, uint32_t uid, const char *who)
    MSS_WUR;
/* The same for rq's caller, in a transaction of rq's begun and ended
 * only when a record is written: for a request that has none open. */
int mfad_audit_agg_rq(struct mfad_rq *rq, const struct mfad_audit_ev *ev,
    const char *who) MSS_WUR;
/* Stores the counts of windows that ended (all: every count), each in
 * a transaction of its own. Goes on past a failure (logged); returns
 * the first. */
int mfad_audit_agg_flush(struct mfad_ctx *ctx, int all) MSS_WUR;

/* The i-th event counted since mfad started, and its count in *n; NULL
 * after the last. */
const char *mfad_audit_counter(size_t i, uint64_t *n);

/* Escapes s for a key=value log field into out. */
void mfad_audit_escape(const char *s, char *out, size_t outlen);

#endif /* MFAD_AUDIT_H */
