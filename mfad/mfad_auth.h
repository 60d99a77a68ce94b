/*
 * The login handlers: AUTH_START (password, remembered device, code
 * mail), CODE, RESEND, REMEMBER and ACCT. Each follows DESIGN §3 and the
 * code, lockout and device rules of SECURITY.md; every decision is
 * audited inside the transaction that makes it.
 */
#ifndef MFAD_AUTH_H
#define MFAD_AUTH_H

#include "mfad_server.h"

int mfad_auth_start(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);
int mfad_auth_code(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);
int mfad_auth_resend(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);
int mfad_auth_remember(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);
int mfad_auth_acct(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);

/* 1 when the account may not log in now (admin lock, disabled, or a
 * lockout that has not run out). */
int mfad_acct_is_locked(const struct mfad_acct *a, uint64_t now);
/* Counts one failure; locks the account at the threshold. Returns 1 when
 * this failure locked it. */
int mfad_acct_fail(const struct mfad_conf *conf, struct mfad_acct *a,
    uint64_t now);

#endif /* MFAD_AUTH_H */
