#include "config.h"

#include <string.h>

#include "mss_err.h"
#include "mss_proto.h"
#include "pam_mss_rep.h"

void
pam_mss_sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			*s = '?';
}

/*
 * Reads the lang field; unknown values are no language at all. A reply
 * that ends before it comes from an mfad older than the field (during an
 * upgrade): the conversation keeps the language it had.
 */
static int MSS_WUR
pam_mss_rep_lang(struct mss_buf *rep, enum pam_mss_lang *lang)
{
	char *s = NULL;
	int r;

	*lang = PAM_MSS_LANG_AUTO;
	if (mss_buf_avail(rep) == 0)
		return 0;
	if ((r = mss_buf_get_str(rep, &s, MSS_STR_MAX)) != 0)
		return r;
	if (strcmp(s, "fr") == 0)
		*lang = PAM_MSS_LANG_FR;
	else if (strcmp(s, "en") == 0)
		*lang = PAM_MSS_LANG_EN;
	mss_str_free(s);
	return 0;
}

void
pam_mss_rep_auth_free(struct pam_mss_rep_auth *a)
{
	mss_str_free(a->login);
	mss_str_free(a->masked);
	memset(a, 0, sizeof(*a));
}

int
pam_mss_rep_auth(struct mss_buf *rep, int have_login,
    struct pam_mss_rep_auth *a)
{
	int r;

	memset(a, 0, sizeof(*a));
	if ((r = mss_buf_get_u8(rep, &a->result)) != 0 ||
	    (r = mss_buf_get_str(rep, &a->login, MSS_TOKEN_LEN)) != 0 ||
	    (r = mss_buf_get_str(rep, &a->masked, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_get_u32(rep, &a->minutes)) != 0 ||
	    (r = mss_buf_get_u8(rep, &a->mail)) != 0 ||
	    (r = mss_buf_get_u32(rep, &a->wait)) != 0 ||
	    (r = pam_mss_rep_lang(rep, &a->lang)) != 0 ||
	    (r = mss_buf_end(rep)) != 0)
		goto fail;
	if (a->result > MSS_AUTH_CODE_VALID || a->mail > MSS_MAIL_FAILED) {
		r = MSS_ERR_PROTO;
		goto fail;
	}
	/* A code was sent: there must be a login to answer it on. */
	if ((a->result == MSS_AUTH_CODE_SENT ||
	    a->result == MSS_AUTH_CODE_VALID) && *a->login == '\0' &&
	    !have_login) {
		r = MSS_ERR_PROTO;
		goto fail;
	}
	pam_mss_sanitize(a->masked);
	if (strlen(a->masked) > PAM_MSS_MASK_MAX) {
		size_t n = PAM_MSS_MASK_MAX;

		/* A Unicode domain: never leave half a character. */
		while (n > 0 && ((unsigned char)a->masked[n] & 0xc0) == 0x80)
			n--;
		a->masked[n] = '\0';
	}
	return 0;
fail:
	pam_mss_rep_auth_free(a);
	return r;
}

int
pam_mss_rep_code(struct mss_buf *rep, struct pam_mss_rep_code *c)
{
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = mss_buf_get_u8(rep, &c->result)) != 0 ||
	    (r = mss_buf_get_u32(rep, &c->tries_left)) != 0 ||
	    (r = mss_buf_get_u8(rep, &c->may_remember)) != 0 ||
	    (r = mss_buf_get_u32(rep, &c->remember_days)) != 0 ||
	    (r = mss_buf_get_u8(rep, &c->mail)) != 0 ||
	    (r = mss_buf_get_u8(rep, &c->next)) != 0 ||
	    (r = pam_mss_rep_lang(rep, &c->lang)) != 0 ||
	    (r = mss_buf_end(rep)) != 0)
		return r;
	if (c->result > MSS_CODE_MOVED || c->mail > MSS_MAIL_FAILED ||
	    c->next > MSS_NEXT_RESET)
		return MSS_ERR_PROTO;
	return 0;
}

int
pam_mss_rep_acct(struct mss_buf *rep, uint8_t *state, uint64_t *date)
{
	int r;

	if ((r = mss_buf_get_u8(rep, state)) != 0 ||
	    (r = mss_buf_get_u64(rep, date)) != 0 ||
	    (r = mss_buf_end(rep)) != 0)
		return r;
	if (*state > MSS_ACCT_REENROLL)
		return MSS_ERR_PROTO;
	return 0;
}

int
pam_mss_rep_result(struct mss_buf *rep, uint32_t *code, char **msg)
{
	int r;

	*msg = NULL;
	if ((r = mss_buf_get_u32(rep, code)) != 0 ||
	    (r = mss_buf_get_str(rep, msg, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_end(rep)) != 0) {
		mss_str_free(*msg);
		*msg = NULL;
		return r;
	}
	return 0;
}

int
pam_mss_rep_password(struct mss_buf *rep, uint32_t *code, uint32_t *reason,
    enum pam_mss_lang *lang)
{
	char *msg = NULL;
	int r;

	*reason = 0;
	*lang = PAM_MSS_LANG_AUTO;
	if ((r = mss_buf_get_u32(rep, code)) != 0 ||
	    (r = mss_buf_get_str(rep, &msg, MSS_STR_MAX)) != 0 ||
	    (*code == (uint32_t)-MSS_ERR_REFUSED &&
	    (r = mss_buf_get_u32(rep, reason)) != 0) ||
	    ((*code == 0 || *code == (uint32_t)-MSS_ERR_REFUSED) &&
	    (r = pam_mss_rep_lang(rep, lang)) != 0) ||
	    (r = mss_buf_end(rep)) != 0) {
		*reason = 0;
		*lang = PAM_MSS_LANG_AUTO;
	}
	mss_str_free(msg);
	return r;
}
