/*
 * The module's readers of mfad's replies (doc/PROTOCOL.md), apart from
 * the conversation so that each can be tested and fuzzed alone. Each
 * reads the whole payload strictly (mss_buf_end) and checks every enum
 * against the protocol's range: 0, or MSS_ERR_PROTO / MSS_ERR_TOOBIG /
 * MSS_ERR_NOMEM with nothing left to free.
 */
#ifndef PAM_MSS_REP_H
#define PAM_MSS_REP_H

#include <stdint.h>

#include "mss_buf.h"
#include "pam_mss_msg.h"
#include "mss_err.h"

/* MSS_REP_AUTH, parsed. Strings are freed with pam_mss_rep_auth_free. */
struct pam_mss_rep_auth {
	uint8_t		 result;
	char		*login;
	char		*masked;	/* control characters made '?' */
	uint32_t	 minutes;
	uint8_t		 mail;
	uint32_t	 wait;
	enum pam_mss_lang lang;		/* the account's; AUTO: none given */
};

/* MSS_REP_CODE, parsed. */
struct pam_mss_rep_code {
	uint8_t		 result;
	uint32_t	 tries_left;
	uint8_t		 may_remember;
	uint32_t	 remember_days;
	uint8_t		 mail;
	uint8_t		 next;		/* mss_code_next, after MSS_CODE_OK */
	enum pam_mss_lang lang;		/* the account's; AUTO: none given */
};

/*
 * The lang field of AUTH, CODE and CHANGE_PASSWORD's RESULT: "fr" or "en" becomes that language;
 * "" and any other value (a newer mfad's, or garbage) PAM_MSS_LANG_AUTO,
 * which the module ignores.
 */

/* Longest masked address shown; mfad's are far shorter. */
#define PAM_MSS_MASK_MAX	128

/* have_login: the module already holds a login id, so a reply that sent
 * a code may leave its own empty. */
int pam_mss_rep_auth(struct mss_buf *rep, int have_login,
    struct pam_mss_rep_auth *a) MSS_WUR;
void pam_mss_rep_auth_free(struct pam_mss_rep_auth *a);
int pam_mss_rep_code(struct mss_buf *rep, struct pam_mss_rep_code *c)
    MSS_WUR;
/* MSS_REP_ACCT: the account's state and its re-enrollment date. */
int pam_mss_rep_acct(struct mss_buf *rep, uint8_t *state, uint64_t *date)
    MSS_WUR;
/* MSS_REP_RESULT: *code and a copy of the message (mss_str_free). */
int pam_mss_rep_result(struct mss_buf *rep, uint32_t *code, char **msg)
    MSS_WUR;
/*
 * MSS_REP_RESULT in answer to SET_PASSWORD or CHANGE_PASSWORD: *code,
 * and for a refusal by policy (19) the reason that follows it (any
 * value: one the module does not know is a plain refusal), else 0. The
 * English message is for the log only and is not kept. After code 0, or
 * after the reason, the lang field may end the reply (CHANGE_PASSWORD's:
 * the old password was right): *lang as for AUTH, else AUTO.
 */
int pam_mss_rep_password(struct mss_buf *rep, uint32_t *code,
    uint32_t *reason, enum pam_mss_lang *lang)
    MSS_WUR;
/* Control characters from the wire never reach a terminal: each is '?'. */
void pam_mss_sanitize(char *s);

#endif /* PAM_MSS_REP_H */
