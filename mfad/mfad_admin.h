/*
 * The admin handlers behind mfadctl: status, users, devices, mail test,
 * audit, backup.
 * The server lets only root and admin_group members reach them.
 */
#ifndef MFAD_ADMIN_H
#define MFAD_ADMIN_H

#include "mfad_server.h"

int mfad_admin_status(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);
int mfad_admin_user_add(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);
/* del, show, lock, unlock, reenroll: one user argument each. */
int mfad_admin_user_op(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *, uint8_t type);
int mfad_admin_user_list(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);
int mfad_admin_device_list(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);
int mfad_admin_device_revoke(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);
int mfad_admin_mail_test(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);
/* A page of audit records, newest first (MSS_REP_AUDIT_LIST). */
int mfad_admin_audit(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);
/* A copy of the store and its key file into an absolute directory. */
int mfad_admin_backup(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);

#endif /* MFAD_ADMIN_H */
