/*
 * Enrollment, reset and password changes (DESIGN §3):
 *
 * ENROLL_START  an invited or re-enrolling account proves its address
 *               with a mailed code, then SET_PASSWORD sets its first
 *               password and the login completes.
 * RESET_START   forgot password: a mailed code, then SET_PASSWORD sets a
 *               new one; remembered devices are revoked and the person
 *               must log in again. An address that is not enrolled gets a
 *               decoy login that looks the same and never succeeds.
 * CHANGE_PASSWORD  passwd: the old password, then a new one.
 */
#ifndef MFAD_ENROLL_H
#define MFAD_ENROLL_H

#include "mfad_server.h"

int mfad_enroll_start(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);
int mfad_reset_start(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);
int mfad_set_password(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);
int mfad_change_password(struct mfad_ctx *, const struct mfad_peer *,
    struct mss_buf *, uint8_t *, struct mss_buf *);

#endif /* MFAD_ENROLL_H */
