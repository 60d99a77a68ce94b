/*
 * The admin handlers behind mfadctl: status, users, devices, mail test,
 * audit, backup.
 * The server lets only root and admin_group members reach them.
 */
#ifndef MFAD_ADMIN_H
#define MFAD_ADMIN_H

#include "mfad_ctx.h"

int mfad_admin_status(struct mfad_rq *) MSS_WUR;
int mfad_admin_metrics(struct mfad_rq *) MSS_WUR;
int mfad_admin_user_add(struct mfad_rq *) MSS_WUR;
/* Fleet mode: the answer for a user the directory has no person entry
 * for (MSS_ERR_NOTFOUND from mfad_acct_put), into msg. */
void mfad_admin_no_person(char *msg, size_t len, const char *user);
/* del, show, lock, unlock, reenroll: one user argument each. */
int mfad_admin_user_op(struct mfad_rq *, uint8_t type) MSS_WUR;
/* user recovery: new codes (count 1..100) or none (count 0). */
int mfad_admin_user_recovery(struct mfad_rq *) MSS_WUR;
int mfad_admin_user_list(struct mfad_rq *) MSS_WUR;
int mfad_admin_device_list(struct mfad_rq *) MSS_WUR;
int mfad_admin_device_revoke(struct mfad_rq *) MSS_WUR;
int mfad_admin_mail_test(struct mfad_rq *) MSS_WUR;
/* A page of audit records, newest first (MSS_REP_AUDIT_LIST). */
int mfad_admin_audit(struct mfad_rq *) MSS_WUR;
/* user set: a new address and/or language for an account. */
int mfad_admin_user_set(struct mfad_rq *) MSS_WUR;
/*
 * Queues in txn the notice that a's address changed (a->email is the new
 * one) to the old and to the new address, so that neither owner is left
 * unaware; it goes out only if txn commits. 0 or a store/mail error.
 */
int mfad_email_changed_notice(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_acct *a, const char *old)
    MSS_WUR;
/* A copy of the store and its key file into an absolute directory. */
int mfad_admin_backup(struct mfad_rq *) MSS_WUR;

#endif /* MFAD_ADMIN_H */
