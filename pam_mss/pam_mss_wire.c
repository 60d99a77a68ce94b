#include "config.h"

#include <string.h>
#include <syslog.h>

#include <security/pam_ext.h>

#include "mss_client.h"
#include "mss_err.h"
#include "mss_proto.h"
#include "pam_mss_opts.h"
#include "pam_mss_wire.h"

int
pam_mss_wire_init(struct pam_mss_wire *w, pam_handle_t *pamh,
    const char *socket, uid_t socket_owner, int owner_lazy)
{
	memset(w, 0, sizeof(*w));
	w->pamh = pamh;
	w->socket = socket;
	w->socket_owner = socket_owner;
	w->owner_lazy = owner_lazy;
	if ((w->req = mss_buf_new(MSS_MSG_MAX)) == NULL ||
	    (w->rep = mss_buf_new(MSS_MSG_MAX)) == NULL)
		return MSS_ERR_NOMEM;
	return 0;
}

void
pam_mss_wire_clear(struct pam_mss_wire *w)
{
	mss_buf_free(w->req);
	mss_buf_free(w->rep);
	memset(w, 0, sizeof(*w));
}

int
pam_mss_wire_owner(struct pam_mss_wire *w)
{
	if (!w->owner_lazy)
		return 0;
	w->owner_lazy = 0;
	w->socket_owner = pam_mss_opts_unit_owner();
	return w->socket_owner != 0;
}

int
pam_mss_wire_call(struct pam_mss_wire *w, uint8_t type, uint8_t expect)
{
	char *text = NULL;
	uint8_t rtype = 0;
	uint32_t code;
	int r;

	w->answered = 0;
	r = mss_client_call(w->socket, w->socket_owner, type, w->req, &rtype,
	    w->rep, MSS_IO_TIMEOUT_MS);
	/* Something on the path is not root's: it may be the unit user's.
	 * A check with root alone is stricter, so passing it is enough. */
	if (r == MSS_ERR_PEER && pam_mss_wire_owner(w))
		r = mss_client_call(w->socket, w->socket_owner, type, w->req,
		    &rtype, w->rep, MSS_IO_TIMEOUT_MS);
	mss_buf_reset(w->req);
	if (r != 0)
		goto out;
	if (rtype == expect) {
		r = 0;
		goto out;
	}
	if (rtype != MSS_REP_RESULT) {
		r = MSS_ERR_PROTO;
		goto out;
	}
	/* An error where an answer was expected: say why in the log. */
	if ((r = mss_buf_get_u32(w->rep, &code)) != 0 ||
	    (r = mss_buf_get_str(w->rep, &text, MSS_STR_MAX)) != 0 ||
	    (r = mss_buf_end(w->rep)) != 0)
		goto out;
	if (code == 0 || code > MSS_ERR_MAX) {
		r = MSS_ERR_PROTO;
		goto out;
	}
	r = -(int)code;
	w->answered = 1;
	pam_mss_sanitize(text);
	pam_syslog(w->pamh, LOG_ERR, "mfad refused request %u: %s (%s)",
	    (unsigned int)type, mss_strerror(r), text);
out:
	mss_str_free(text);
	return r;
}

/* The request has been started: any failure to add to it wipes it. */
static int MSS_WUR
pam_mss_wire_built(struct pam_mss_wire *w, int r)
{
	if (r == 0)
		return 0;
	mss_buf_reset(w->req);
	return MSS_ERR_NOMEM;
}

/* The fields of AUTH_START (with_password) and RESET_START. */
static int MSS_WUR
pam_mss_wire_put_start(struct pam_mss_wire *w,
    const struct pam_mss_wire_start *s, int with_password)
{
	int r;

	/* Over-long items go empty rather than breaking the frame. */
	if ((r = mss_buf_put_str(w->req, s->service)) != 0 ||
	    (r = mss_buf_put_str(w->req, s->user)) != 0 ||
	    (r = mss_buf_put_str(w->req, s->email)) != 0 ||
	    (with_password &&
	    (r = mss_buf_put_str(w->req, s->password)) != 0) ||
	    (r = mss_buf_put_str(w->req, s->device)) != 0 ||
	    (r = mss_buf_put_str(w->req, strlen(s->rhost) <= MSS_STR_MAX ?
	    s->rhost : "")) != 0 ||
	    (r = mss_buf_put_str(w->req, strlen(s->tty) <= MSS_STR_MAX ?
	    s->tty : "")) != 0 ||
	    (r = mss_buf_put_str(w->req, s->lang)) != 0 ||
	    (r = mss_buf_put_u32(w->req, s->flags)) != 0)
		return pam_mss_wire_built(w, r);
	return 0;
}

int
pam_mss_wire_auth_start(struct pam_mss_wire *w,
    const struct pam_mss_wire_start *s, int have_login,
    struct pam_mss_rep_auth *a)
{
	int r;

	memset(a, 0, sizeof(*a));
	if ((r = pam_mss_wire_put_start(w, s, 1)) != 0 ||
	    (r = pam_mss_wire_call(w, MSS_REQ_AUTH_START, MSS_REP_AUTH)) != 0)
		return r;
	return pam_mss_rep_auth(w->rep, have_login, a);
}

int
pam_mss_wire_reset_start(struct pam_mss_wire *w,
    const struct pam_mss_wire_start *s, int have_login,
    struct pam_mss_rep_auth *a)
{
	int r;

	memset(a, 0, sizeof(*a));
	if ((r = pam_mss_wire_put_start(w, s, 0)) != 0 ||
	    (r = pam_mss_wire_call(w, MSS_REQ_RESET_START,
	    MSS_REP_AUTH)) != 0)
		return r;
	return pam_mss_rep_auth(w->rep, have_login, a);
}

int
pam_mss_wire_resend(struct pam_mss_wire *w, const char *login,
    struct pam_mss_rep_auth *a)
{
	int r;

	memset(a, 0, sizeof(*a));
	if ((r = pam_mss_wire_built(w, mss_buf_put_str(w->req, login))) != 0 ||
	    (r = pam_mss_wire_call(w, MSS_REQ_RESEND, MSS_REP_AUTH)) != 0)
		return r;
	return pam_mss_rep_auth(w->rep, 1, a);
}

int
pam_mss_wire_code(struct pam_mss_wire *w, const char *login,
    const char *code, struct pam_mss_rep_code *c)
{
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = pam_mss_wire_built(w, mss_buf_put_str(w->req, login) != 0 ||
	    mss_buf_put_str(w->req, code) != 0)) != 0 ||
	    (r = pam_mss_wire_call(w, MSS_REQ_CODE, MSS_REP_CODE)) != 0)
		return r;
	return pam_mss_rep_code(w->rep, c);
}

int
pam_mss_wire_remember(struct pam_mss_wire *w, const char *login,
    uint32_t *code)
{
	char *text = NULL;
	int r;

	*code = 1;
	if ((r = pam_mss_wire_built(w, mss_buf_put_str(w->req, login))) != 0 ||
	    (r = pam_mss_wire_call(w, MSS_REQ_REMEMBER, MSS_REP_RESULT)) != 0)
		return r;
	if ((r = pam_mss_rep_result(w->rep, code, &text)) != 0)
		*code = 1;
	mss_str_free(text);
	return r;
}

int
pam_mss_wire_acct(struct pam_mss_wire *w, const char *service,
    const char *user, uint8_t *state, uint64_t *date)
{
	int r;

	if ((r = pam_mss_wire_built(w, mss_buf_put_str(w->req, service) != 0 ||
	    mss_buf_put_str(w->req, user) != 0)) != 0 ||
	    (r = pam_mss_wire_call(w, MSS_REQ_ACCT, MSS_REP_ACCT)) != 0)
		return r;
	return pam_mss_rep_acct(w->rep, state, date);
}

int
pam_mss_wire_password(struct pam_mss_wire *w, const char *login,
    const char *service, const char *user, const char *old, const char *pw,
    uint32_t *code, uint32_t *reason, enum pam_mss_lang *lang)
{
	int r;

	*code = 0;
	*reason = 0;
	*lang = PAM_MSS_LANG_AUTO;
	if (old == NULL)
		r = mss_buf_put_str(w->req, login) != 0 ||
		    mss_buf_put_str(w->req, pw) != 0;
	else
		r = mss_buf_put_str(w->req, service) != 0 ||
		    mss_buf_put_str(w->req, user) != 0 ||
		    mss_buf_put_str(w->req, old) != 0 ||
		    mss_buf_put_str(w->req, pw) != 0;
	if ((r = pam_mss_wire_built(w, r)) != 0 ||
	    (r = pam_mss_wire_call(w, old == NULL ? MSS_REQ_SET_PASSWORD :
	    MSS_REQ_CHANGE_PASSWORD, MSS_REP_RESULT)) != 0)
		return r;
	return pam_mss_rep_password(w->rep, code, reason, lang);
}
