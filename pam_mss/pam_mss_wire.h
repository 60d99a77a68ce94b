/*
 * The module's requests to mfad (doc/PROTOCOL.md): each builds one
 * request, sends it through common/mss_client and reads the reply with
 * the readers of pam_mss_rep.h. The request buffer is wiped after every
 * call, whatever the outcome, so that a password or a code never
 * outlives the request that carried it.
 *
 * Every function returns 0 with its outputs set, MSS_ERR_NOMEM when the
 * request could not be built, MSS_ERR_PERM when mfad refused this caller,
 * or another MSS_ERR_* for a transport failure or a malformed or
 * unexpected reply (logged, with mfad's reason when it gave one).
 */
#ifndef PAM_MSS_WIRE_H
#define PAM_MSS_WIRE_H

#include <sys/types.h>

#include <stdint.h>

#include <security/pam_modules.h>

#include "mss_buf.h"
#include "mss_err.h"
#include "pam_mss_rep.h"

/* One conversation's link to mfad; torn down by pam_mss_wire_clear. */
struct pam_mss_wire {
	pam_handle_t		*pamh;		/* for the log */
	const char		*socket;
	uid_t			 socket_owner;
	int			 owner_lazy;	/* the unit user, not looked up */
	struct mss_buf		*req;		/* wiped after each call */
	struct mss_buf		*rep;
	int			 answered;	/* the last error was mfad's
						   answer, not a failure to
						   reach it */
};

/* The fields AUTH_START and RESET_START share; "" for what is unset. */
struct pam_mss_wire_start {
	const char	*service;
	const char	*user;
	const char	*email;
	const char	*password;	/* AUTH_START only */
	const char	*device;
	const char	*rhost;		/* over-long: sent empty */
	const char	*tty;		/* over-long: sent empty */
	const char	*lang;		/* "fr", "en" */
	uint32_t	 flags;		/* MSS_AUTH_F_* */
};

/*
 * Allocates the buffers; 0 or MSS_ERR_NOMEM (clear w either way).
 * owner_lazy: socket_owner is the unit user's, not looked up yet; calls
 * check the path with root alone first (see pam_mss_wire_owner).
 */
int pam_mss_wire_init(struct pam_mss_wire *w, pam_handle_t *pamh,
    const char *socket, uid_t socket_owner, int owner_lazy) MSS_WUR;
/*
 * Looks the unit user up if that is still to do: 1 when it gave an owner
 * besides root (a check that failed with root alone may pass now).
 */
int pam_mss_wire_owner(struct pam_mss_wire *w);
/* Wipes and frees the buffers. */
void pam_mss_wire_clear(struct pam_mss_wire *w);
/*
 * Sends w->req as a request of type type and reads the reply into w->rep.
 * 0 when the reply is of type expect, its payload left for the caller.
 */
int pam_mss_wire_call(struct pam_mss_wire *w, uint8_t type, uint8_t expect)
    MSS_WUR;
/* MSS_REQ_AUTH_START; have_login as for pam_mss_rep_auth. */
int pam_mss_wire_auth_start(struct pam_mss_wire *w,
    const struct pam_mss_wire_start *s, int have_login,
    struct pam_mss_rep_auth *a) MSS_WUR;
/* MSS_REQ_RESET_START (s->password unused). */
int pam_mss_wire_reset_start(struct pam_mss_wire *w,
    const struct pam_mss_wire_start *s, int have_login,
    struct pam_mss_rep_auth *a) MSS_WUR;
/* MSS_REQ_RESEND for login. */
int pam_mss_wire_resend(struct pam_mss_wire *w, const char *login,
    struct pam_mss_rep_auth *a) MSS_WUR;
/* MSS_REQ_CODE: one typed code for login. */
int pam_mss_wire_code(struct pam_mss_wire *w, const char *login,
    const char *code, struct pam_mss_rep_code *c) MSS_WUR;
/* MSS_REQ_REMEMBER: *code is RESULT's (0: remembered). */
int pam_mss_wire_remember(struct pam_mss_wire *w, const char *login,
    uint32_t *code) MSS_WUR;
/* MSS_REQ_ACCT: the account's state and re-enrollment date. */
int pam_mss_wire_acct(struct pam_mss_wire *w, const char *service,
    const char *user, uint8_t *state, uint64_t *date) MSS_WUR;
/*
 * MSS_REQ_SET_PASSWORD (old NULL: login and pw) or
 * MSS_REQ_CHANGE_PASSWORD (service, user, old and pw): *code is RESULT's,
 * *reason the mss_pw_reason of a refusal by policy (code 19), else 0;
 * *lang the account's language where the reply gives it, else AUTO.
 */
int pam_mss_wire_password(struct pam_mss_wire *w, const char *login,
    const char *service, const char *user, const char *old, const char *pw,
    uint32_t *code, uint32_t *reason, enum pam_mss_lang *lang) MSS_WUR;

#endif /* PAM_MSS_WIRE_H */
