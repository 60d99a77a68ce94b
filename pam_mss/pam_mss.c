/*
 * pam_mss: logins with an email address, a password and a code mailed to
 * that address, checked by mfad over its Unix socket.
 *
 * The module is a thin client: it parses its arguments, holds the PAM
 * conversation and relays answers to mfad, which decides. It keeps no
 * state between calls but the account's language that mfad gave (in the
 * PAM handle, for the account and password steps after the
 * authentication), never exits and wipes every secret it handled
 * (password, codes, the login id, the request and reply buffers) before
 * returning. pam_mss(8) lists every PAM code and when it is returned.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#define PAM_SM_PASSWORD
#include <security/pam_modules.h>
#include <security/pam_ext.h>


#include "mss_buf.h"
#include "mss_client.h"
#include "mss_err.h"
#include "mss_esc.h"
#include "mss_proto.h"
#include "pam_mss_conv.h"
#include "pam_mss_dev.h"
#include "pam_mss_msg.h"
#include "pam_mss_opts.h"
#include "pam_mss_rep.h"
#include "pam_mss_wire.h"

/* Resends allowed in one login, beyond the wrong answers. */
#define PAM_MSS_EXTRA_RESENDS	2

/* Everything one entry point holds; torn down by pam_mss_ctx_clear. */
struct pam_mss_ctx {
	pam_handle_t		*pamh;
	struct pam_mss_opts	 opts;
	enum pam_mss_lang	 lang;
	int			 silent;
	const char		*service;	/* PAM items: "" when unset */
	const char		*user;
	const char		*rhost;
	const char		*tty;
	char			*email;		/* secrets and copies: wiped */
	char			*password;
	char			*device;
	char			*login;		/* login id from mfad */
	char			*masked;	/* masked address from mfad */
	struct pam_mss_wire	 wire;
	const char		*why;		/* failure reason for syslog */
};

/*
 * The items as log fields, escaped as mfad escapes its audit fields:
 * space, quote, backslash, '=' and controls as \xNN, "-" when empty.
 * PAM_RHOST comes from the client or its DNS, the user name from the
 * client: raw, either could forge a field or a line that a log reader
 * such as fail2ban would take for another host's.
 */
struct pam_mss_logf {
	char	service[260];
	char	rhost[1030];
	char	tty[260];
	char	user[260];
};

static void
pam_mss_log_escape(const char *s, char *out, size_t outlen)
{
	mss_esc_field(s, out, outlen, 0);
	if (out[0] == '\0' && outlen > 1)
		strcpy(out, "-");
}

static void
pam_mss_logf_fill(const struct pam_mss_ctx *ctx, struct pam_mss_logf *f)
{
	pam_mss_log_escape(ctx->service, f->service, sizeof(f->service));
	pam_mss_log_escape(ctx->rhost, f->rhost, sizeof(f->rhost));
	pam_mss_log_escape(ctx->tty, f->tty, sizeof(f->tty));
	pam_mss_log_escape(ctx->user, f->user, sizeof(f->user));
}

/* A PAM item as a string, "" when unset. */
static const char *
pam_mss_item(pam_handle_t *pamh, int type)
{
	const void *v = NULL;

	if (pam_get_item(pamh, type, &v) != PAM_SUCCESS || v == NULL)
		return "";
	return v;
}

/*
 * Sets up ctx for one entry point: arguments, language, items, buffers.
 * Returns a PAM code; ctx is safe to clear whatever the outcome.
 */
static int MSS_WUR
pam_mss_ctx_init(struct pam_mss_ctx *ctx, pam_handle_t *pamh, int flags,
    int argc, const char **argv)
{
	int r;

	memset(ctx, 0, sizeof(*ctx));
	ctx->pamh = pamh;
	ctx->silent = (flags & PAM_SILENT) != 0;
	ctx->service = pam_mss_item(pamh, PAM_SERVICE);
	ctx->rhost = pam_mss_item(pamh, PAM_RHOST);
	ctx->tty = pam_mss_item(pamh, PAM_TTY);
	if ((r = pam_mss_opts_parse(pamh, argc, argv, &ctx->opts)) !=
	    PAM_SUCCESS) {
		ctx->why = "bad module arguments";
		return r;
	}
	ctx->lang = pam_mss_msg_lang(pamh, ctx->opts.lang);
	if (pam_mss_wire_init(&ctx->wire, pamh, ctx->opts.socket,
	    ctx->opts.socket_owner, ctx->opts.owner_default) != 0)
		return PAM_BUF_ERR;
	return PAM_SUCCESS;
}

static void
pam_mss_ctx_clear(struct pam_mss_ctx *ctx)
{
	mss_str_free(ctx->email);
	mss_str_free(ctx->password);
	mss_str_free(ctx->device);
	mss_str_free(ctx->login);
	mss_str_free(ctx->masked);
	pam_mss_wire_clear(&ctx->wire);
	mss_wipe(ctx, sizeof(*ctx));
}

/*
 * Shows message id (an info or error line). A line that cannot be shown
 * changes no decision: the next prompt fails on the same conversation.
 */
static void
pam_mss_say(struct pam_mss_ctx *ctx, int style, enum pam_mss_msg_id id,
    const char *s, unsigned int n)
{
	if (pam_mss_conv_say(ctx->pamh, ctx->lang, style, id, s, n) !=
	    PAM_SUCCESS && ctx->opts.debug)
		pam_syslog(ctx->pamh, LOG_DEBUG, "message %d not shown",
		    (int)id);
}

/* Asks prompt id in the conversation's language; as pam_mss_conv_ask. */
static int MSS_WUR
pam_mss_ask(struct pam_mss_ctx *ctx, int style, enum pam_mss_msg_id id,
    unsigned int n, char **answer)
{
	return pam_mss_conv_ask(ctx->pamh, ctx->lang, style, id, n, answer);
}

/* The one message for every refusal: no hint of what was wrong. */
static int MSS_WUR
pam_mss_deny(struct pam_mss_ctx *ctx, const char *why)
{
	ctx->why = why;
	pam_mss_say(ctx, PAM_ERROR_MSG, PAM_MSS_M_DENIED, NULL, 0);
	return PAM_AUTH_ERR;
}

/* The device identity (pam_mss_dev_identity). Returns a PAM code. */
static int MSS_WUR
pam_mss_device(struct pam_mss_ctx *ctx)
{
	const char *kind;
	int r;

	if ((r = pam_mss_dev_identity(ctx->pamh, &ctx->opts, ctx->rhost,
	    ctx->tty, &ctx->device, &kind)) != PAM_SUCCESS)
		return r;
	if (ctx->opts.debug)
		pam_syslog(ctx->pamh, LOG_DEBUG, "device identity: %s", kind);
	return PAM_SUCCESS;
}

/*
 * mfad could not be asked, or answered nonsense: failmode decides.
 * MSS_ERR_PERM (mfad refused this caller) is a plain refusal.
 */
static int MSS_WUR
pam_mss_unavail(struct pam_mss_ctx *ctx, int err)
{
	const char *what;
	char why[256];
	int r;

	if (err == MSS_ERR_PERM) {
		ctx->why = "caller refused by mfad";
		return PAM_AUTH_ERR;
	}
	/* A socket that may not be mfad's is not an outage: whatever
	 * failmode says, the login is denied. */
	(void)pam_mss_wire_owner(&ctx->wire);
	r = mss_client_check_path(ctx->opts.socket, ctx->wire.socket_owner,
	    why, sizeof(why));
	if (err == MSS_ERR_PEER || r == MSS_ERR_PEER || r == MSS_ERR_INVAL) {
		if (r == 0 || r == MSS_ERR_UNAVAIL)
			snprintf(why, sizeof(why), "the peer is neither root "
			    "nor the socket owner");
		pam_mss_sanitize(why);
		pam_syslog(ctx->pamh, LOG_ERR, "mfad socket %s not trusted, "
		    "login denied: %s", ctx->opts.socket, why);
		pam_mss_say(ctx, PAM_ERROR_MSG, PAM_MSS_M_UNAVAIL,
		    NULL, 0);
		ctx->why = "mfad socket not trusted";
		return PAM_AUTHINFO_UNAVAIL;
	}
	/* mfad itself answered that it cannot decide: in fleet mode, its
	 * directory is unreachable. The same outage for failmode. */
	what = ctx->wire.answered && err == MSS_ERR_UNAVAIL ?
	    "the directory of mfad unreachable" : mss_strerror(err);
	if (ctx->opts.failmode == PAM_MSS_FAIL_SAFE) {
		struct pam_mss_logf f;

		pam_mss_logf_fill(ctx, &f);
		pam_syslog(ctx->pamh, LOG_CRIT, "mfad unreachable, "
		    "failmode=safe: login not checked by pam_mss "
		    "(service=%s rhost=%s: %s: %s)", f.service, f.rhost,
		    ctx->opts.socket, what);
		return PAM_IGNORE;
	}
	pam_syslog(ctx->pamh, LOG_ERR, "mfad unavailable at %s: %s",
	    ctx->opts.socket, what);
	pam_mss_say(ctx, PAM_ERROR_MSG, PAM_MSS_M_UNAVAIL, NULL, 0);
	ctx->why = "mfad unavailable";
	return PAM_AUTHINFO_UNAVAIL;
}

/* A failed request: out of memory, or what failmode decides. */
static int MSS_WUR
pam_mss_failed(struct pam_mss_ctx *ctx, int err)
{
	return err == MSS_ERR_NOMEM ? PAM_BUF_ERR : pam_mss_unavail(ctx, err);
}

/* The fields AUTH_START and RESET_START take from ctx. */
static void
pam_mss_start_fields(const struct pam_mss_ctx *ctx,
    struct pam_mss_wire_start *s, uint32_t flags)
{
	s->service = ctx->service;
	s->user = ctx->user;
	s->email = ctx->email;
	s->password = ctx->password != NULL ? ctx->password : "";
	s->device = ctx->device;
	s->rhost = ctx->rhost;
	s->tty = ctx->tty;
	s->lang = pam_mss_msg_lang_code(ctx->lang);
	s->flags = flags;
}

/* The account's language as learned in this handle, for later steps. */
#define PAM_MSS_LANG_KEY	"pam_mss_account_lang"

struct pam_mss_kept_lang {
	enum pam_mss_lang	 lang;
	char			 user[MSS_STR_MAX + 1];
};

static void
pam_mss_kept_lang_free(pam_handle_t *pamh, void *data, int status)
{
	(void)pamh;
	(void)status;
	if (data != NULL) {
		mss_wipe(data, sizeof(struct pam_mss_kept_lang));
		free(data);
	}
}

/*
 * Keeps lang (which mfad gave for ctx->user) in the handle, so that the
 * account step and passwd after this one speak it. Losing it changes no
 * decision: a later step speaks the locale's language.
 */
static void
pam_mss_keep_lang(struct pam_mss_ctx *ctx, enum pam_mss_lang lang)
{
	struct pam_mss_kept_lang *k;

	if (lang == PAM_MSS_LANG_AUTO || ctx->user == NULL ||
	    strlen(ctx->user) > MSS_STR_MAX)
		return;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return;
	k->lang = lang;
	strcpy(k->user, ctx->user);
	if (pam_set_data(ctx->pamh, PAM_MSS_LANG_KEY, k,
	    pam_mss_kept_lang_free) != PAM_SUCCESS)
		pam_mss_kept_lang_free(ctx->pamh, k, 0);
}

/*
 * A step after the authentication in the same handle (account, passwd)
 * speaks the account's language that it learned, unless lang= chose one;
 * only for the same user, should an application have changed PAM_USER.
 */
static void
pam_mss_kept_lang(struct pam_mss_ctx *ctx)
{
	const void *data = NULL;
	const struct pam_mss_kept_lang *k;

	if (ctx->opts.lang != PAM_MSS_LANG_AUTO || ctx->user == NULL ||
	    pam_get_data(ctx->pamh, PAM_MSS_LANG_KEY, &data) != PAM_SUCCESS ||
	    data == NULL)
		return;
	k = data;
	if (strcmp(k->user, ctx->user) == 0)
		ctx->lang = k->lang;
}

/*
 * The account's language, which mfad gives only once the password (or,
 * for an enrollment or a reset, the code) was right: the rest of the
 * conversation speaks it, unless lang= chose one, and so do the later
 * steps in this handle.
 */
static void
pam_mss_take_lang(struct pam_mss_ctx *ctx, enum pam_mss_lang lang)
{
	if (lang == PAM_MSS_LANG_AUTO)
		return;
	pam_mss_keep_lang(ctx, lang);
	if (ctx->opts.lang == PAM_MSS_LANG_AUTO)
		ctx->lang = lang;
}

/* Keeps the login id and masked address of a CODE_SENT reply. */
static void
pam_mss_take_auth(struct pam_mss_ctx *ctx, struct pam_mss_rep_auth *a)
{
	if (*a->login != '\0') {
		mss_str_free(ctx->login);
		ctx->login = a->login;
		a->login = NULL;
	}
	if (*a->masked != '\0' || ctx->masked == NULL) {
		mss_str_free(ctx->masked);
		ctx->masked = a->masked;
		a->masked = NULL;
	}
}

/* Tells the user where the code went; mail trouble gets its own line. */
static void
pam_mss_code_sent(struct pam_mss_ctx *ctx, enum pam_mss_msg_id id,
    const struct pam_mss_rep_auth *a)
{
	pam_mss_say(ctx, PAM_TEXT_INFO, id, ctx->masked, a->minutes);
	if (a->mail == MSS_MAIL_RETRYING || a->mail == MSS_MAIL_FAILED)
		pam_mss_say(ctx, PAM_ERROR_MSG, PAM_MSS_M_MAIL_DELAYED,
		    NULL, 0);
}

/* 1 when a byte above 0x7f comes before the last '@' of s. */
static int
pam_mss_local_not_ascii(const char *s)
{
	const char *at = strrchr(s, '@');

	for (; at != NULL && s < at; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/* Email prompt (unless email=skip), trimmed. Returns a PAM code. */
static int MSS_WUR
pam_mss_get_email(struct pam_mss_ctx *ctx)
{
	int r;

	if (ctx->opts.email_skip) {
		if ((ctx->email = strdup("")) == NULL)
			return PAM_BUF_ERR;
		return PAM_SUCCESS;
	}
	if ((r = pam_mss_ask(ctx, PAM_PROMPT_ECHO_ON, PAM_MSS_M_EMAIL_PROMPT,
	    0, &ctx->email)) != PAM_SUCCESS) {
		ctx->why = "conversation failed";
		return r;
	}
	pam_mss_conv_trim(ctx->email);
	if (strlen(ctx->email) > MSS_STR_MAX)
		return pam_mss_deny(ctx, "email address too long");
	/*
	 * No account can have such an address (mfad keeps local parts
	 * ASCII: no SMTPUTF8 on the way to the relay). Saying so depends
	 * on the typed text alone, never on an account; a domain in
	 * Unicode goes to mfad as typed, which converts it.
	 */
	if (pam_mss_local_not_ascii(ctx->email)) {
		pam_mss_say(ctx, PAM_ERROR_MSG,
		    PAM_MSS_M_ADDR_LOCAL_ASCII, NULL, 0);
		ctx->why = "non-ASCII characters before the @";
		return PAM_AUTH_ERR;
	}
	return PAM_SUCCESS;
}

/* Password from an earlier module or a prompt. Returns a PAM code. */
static int MSS_WUR
pam_mss_get_password(struct pam_mss_ctx *ctx)
{
	const void *item = NULL;
	int r;

	if (ctx->opts.use_first_pass || ctx->opts.try_first_pass) {
		if (pam_get_item(ctx->pamh, PAM_AUTHTOK, &item) ==
		    PAM_SUCCESS && item != NULL) {
			if ((ctx->password = strdup(item)) == NULL)
				return PAM_BUF_ERR;
			goto check;
		}
		if (ctx->opts.use_first_pass) {
			ctx->why = "use_first_pass: no password stored";
			return PAM_AUTH_ERR;
		}
	}
	if ((r = pam_mss_ask(ctx, PAM_PROMPT_ECHO_OFF, PAM_MSS_M_PASS_PROMPT,
	    0, &ctx->password)) != PAM_SUCCESS) {
		ctx->why = "conversation failed";
		return r;
	}
	/* For the modules stacked after this one (pam_unix, keyrings). */
	if ((r = pam_set_item(ctx->pamh, PAM_AUTHTOK, ctx->password)) !=
	    PAM_SUCCESS)
		return r;
check:
	if (strlen(ctx->password) > MSS_PASS_MAX)
		return pam_mss_deny(ctx, "password too long");
	return PAM_SUCCESS;
}

/* MSS_REQ_AUTH_START; *a gets the reply. Returns a PAM code. */
static int MSS_WUR
pam_mss_start(struct pam_mss_ctx *ctx, struct pam_mss_rep_auth *a)
{
	struct pam_mss_wire_start s;
	uint32_t fl = 0;
	int r;

	if (ctx->opts.noenroll)
		fl |= MSS_AUTH_F_NOENROLL;
	if (ctx->opts.email_skip)
		fl |= MSS_AUTH_F_EMAIL_SKIP;
	pam_mss_start_fields(ctx, &s, fl);
	r = pam_mss_wire_auth_start(&ctx->wire, &s, ctx->login != NULL, a);
	/* The request that carried the password is wiped: so is ours. */
	mss_str_free(ctx->password);
	ctx->password = NULL;
	if (r != 0)
		return pam_mss_failed(ctx, r);
	pam_mss_take_lang(ctx, a->lang);
	if (ctx->opts.debug)
		pam_syslog(ctx->pamh, LOG_DEBUG, "auth start: result %u",
		    (unsigned int)a->result);
	return PAM_SUCCESS;
}

/* An empty answer: MSS_REQ_RESEND. Returns a PAM code; PAM_SUCCESS
 * means "prompt again". */
static int MSS_WUR
pam_mss_resend(struct pam_mss_ctx *ctx)
{
	struct pam_mss_rep_auth a;
	int r;

	if ((r = pam_mss_wire_resend(&ctx->wire, ctx->login, &a)) != 0)
		return pam_mss_failed(ctx, r);
	if (ctx->opts.debug)
		pam_syslog(ctx->pamh, LOG_DEBUG, "resend: result %u",
		    (unsigned int)a.result);
	switch (a.result) {
	case MSS_AUTH_CODE_SENT:
		pam_mss_take_auth(ctx, &a);
		pam_mss_code_sent(ctx, PAM_MSS_M_CODE_RESENT, &a);
		r = PAM_SUCCESS;
		break;
	case MSS_AUTH_THROTTLED:
		pam_mss_say(ctx, PAM_TEXT_INFO, PAM_MSS_M_RESEND_WAIT,
		    NULL, a.wait);
		r = PAM_SUCCESS;
		break;
	default:
		r = pam_mss_deny(ctx, "resend refused");
		break;
	}
	pam_mss_rep_auth_free(&a);
	return r;
}

/*
 * Sends one code answer. Returns PAM_SUCCESS with *c filled, or a PAM
 * code when mfad could not be asked.
 */
static int MSS_WUR
pam_mss_check_code(struct pam_mss_ctx *ctx, const char *code,
    struct pam_mss_rep_code *c)
{
	int r;

	if ((r = pam_mss_wire_code(&ctx->wire, ctx->login, code, c)) != 0)
		return pam_mss_failed(ctx, r);
	if (ctx->opts.debug)
		pam_syslog(ctx->pamh, LOG_DEBUG, "code: result %u, "
		    "tries left %u", (unsigned int)c->result,
		    (unsigned int)c->tries_left);
	return PAM_SUCCESS;
}

/*
 * The code prompt, until a right code, `tries` wrong answers, or too
 * many resends. On PAM_SUCCESS *c holds the accepting reply.
 */
static int MSS_WUR
pam_mss_code_loop(struct pam_mss_ctx *ctx, struct pam_mss_rep_code *c)
{
	unsigned int wrong = 0, resends = 0;
	char *answer = NULL;
	int r;

	for (;;) {
		if ((r = pam_mss_ask(ctx, PAM_PROMPT_ECHO_ON,
		    PAM_MSS_M_CODE_PROMPT, 0, &answer)) != PAM_SUCCESS) {
			ctx->why = "conversation failed";
			goto out;
		}
		pam_mss_conv_strip(answer);
		if (*answer == '\0') {
			mss_str_free(answer);
			answer = NULL;
			if (++resends > ctx->opts.tries +
			    PAM_MSS_EXTRA_RESENDS) {
				pam_mss_say(ctx, PAM_ERROR_MSG,
				    PAM_MSS_M_RESEND_LIMIT, NULL, 0);
				ctx->why = "too many resends";
				r = PAM_MAXTRIES;
				goto out;
			}
			if ((r = pam_mss_resend(ctx)) != PAM_SUCCESS)
				goto out;
			continue;
		}
		if (strlen(answer) > MSS_CODE_ANSWER_MAX) {
			/* Neither a mailed nor a recovery code (mfad would
			 * refuse the request): no need to ask mfad. */
			c->result = MSS_CODE_WRONG;
			c->mail = MSS_MAIL_SENT;
		} else if ((r = pam_mss_check_code(ctx, answer, c)) !=
		    PAM_SUCCESS)
			goto out;
		mss_str_free(answer);
		answer = NULL;
		switch (c->result) {
		case MSS_CODE_OK:
			pam_mss_take_lang(ctx, c->lang);
			r = PAM_SUCCESS;
			goto out;
		case MSS_CODE_WRONG:
			pam_mss_say(ctx, PAM_ERROR_MSG,
			    PAM_MSS_M_CODE_WRONG, NULL, 0);
			if (c->mail == MSS_MAIL_RETRYING ||
			    c->mail == MSS_MAIL_FAILED)
				pam_mss_say(ctx, PAM_ERROR_MSG,
				    PAM_MSS_M_MAIL_DELAYED, NULL, 0);
			break;
		case MSS_CODE_EXPIRED:
			pam_mss_say(ctx, PAM_ERROR_MSG,
			    PAM_MSS_M_CODE_EXPIRED, NULL, 0);
			break;
		case MSS_CODE_DEAD:
			pam_mss_say(ctx, PAM_ERROR_MSG,
			    PAM_MSS_M_CODE_DEAD, NULL, 0);
			ctx->why = "code dead";
			r = PAM_MAXTRIES;
			goto out;
		case MSS_CODE_MOVED:
			/* A newer login of the account took the code over. */
			pam_mss_say(ctx, PAM_ERROR_MSG,
			    PAM_MSS_M_CODE_MOVED, NULL, 0);
			ctx->why = "code taken over by a newer login";
			r = PAM_AUTH_ERR;
			goto out;
		default:
			r = pam_mss_deny(ctx, "login unknown to mfad");
			goto out;
		}
		if (++wrong >= ctx->opts.tries) {
			pam_mss_say(ctx, PAM_ERROR_MSG,
			    PAM_MSS_M_CODE_DEAD, NULL, 0);
			ctx->why = "too many wrong codes";
			r = PAM_MAXTRIES;
			goto out;
		}
	}
out:
	mss_str_free(answer);
	return r;
}

/*
 * Offers to remember this device. Only a conversation failure is an
 * error: mfad failing to remember costs a code next time, not this login.
 */
static int MSS_WUR
pam_mss_remember(struct pam_mss_ctx *ctx, const struct pam_mss_rep_code *c)
{
	char *answer = NULL;
	uint32_t code = 1;
	int r, yes;

	if (!c->may_remember || c->remember_days == 0 || *ctx->device == '\0')
		return PAM_SUCCESS;
	if ((r = pam_mss_ask(ctx, PAM_PROMPT_ECHO_ON,
	    PAM_MSS_M_REMEMBER_PROMPT, c->remember_days, &answer)) !=
	    PAM_SUCCESS) {
		ctx->why = "conversation failed";
		return r;
	}
	yes = pam_mss_msg_is_yes(answer);
	mss_str_free(answer);
	if (!yes)
		return PAM_SUCCESS;
	r = pam_mss_wire_remember(&ctx->wire, ctx->login, &code);
	if (r == 0 && code == 0) {
		if (ctx->opts.debug)
			pam_syslog(ctx->pamh, LOG_DEBUG, "device remembered");
		return PAM_SUCCESS;
	}
	pam_syslog(ctx->pamh, LOG_WARNING, "could not remember the device: "
	    "%s", r != 0 ? mss_strerror(r) : mss_strerror(-(int)code));
	pam_mss_say(ctx, PAM_TEXT_INFO, PAM_MSS_M_REMEMBER_FAILED,
	    NULL, 0);
	return PAM_SUCCESS;
}

/* MSS_REQ_ACCT: the account's state and, for a re-enrollment required by
 * policy, its date. Returns 0 or MSS_ERR_*. */
static int MSS_WUR
pam_mss_acct_state(struct pam_mss_ctx *ctx, uint8_t *state, uint64_t *date)
{
	return pam_mss_wire_acct(&ctx->wire, ctx->service, ctx->user, state,
	    date);
}

/* unenrolled=ignore and no account: logged each time, the user with audit
 * only (as the failure line). */
static int MSS_WUR
pam_mss_ignored(struct pam_mss_ctx *ctx, const char *step)
{
	if (ctx->opts.audit)
		pam_syslog(ctx->pamh, LOG_NOTICE, "%s ignored; service=%s "
		    "rhost=%s tty=%s user=%s: no account, unenrolled=ignore",
		    step, ctx->service, ctx->rhost, ctx->tty, ctx->user);
	else
		pam_syslog(ctx->pamh, LOG_NOTICE, "%s ignored; service=%s "
		    "rhost=%s tty=%s: no account, unenrolled=ignore", step,
		    ctx->service, ctx->rhost, ctx->tty);
	return PAM_IGNORE;
}

/*
 * unenrolled=ignore: asks mfad whether the account exists before any
 * prompt. Sets *rv and returns 1 when the decision is made here: no
 * account (PAM_IGNORE, the rest of the stack decides) or mfad could not
 * answer. Any account that exists, whatever its state, goes on as with
 * unenrolled=deny.
 */
static int MSS_WUR
pam_mss_unenrolled(struct pam_mss_ctx *ctx, const char *step, int *rv)
{
	uint64_t date = 0;
	uint8_t state;
	int r;

	if (!ctx->opts.unenrolled_ignore)
		return 0;
	if ((r = pam_mss_acct_state(ctx, &state, &date)) != 0) {
		*rv = pam_mss_failed(ctx, r);
		return 1;
	}
	if (state != MSS_ACCT_UNKNOWN)
		return 0;
	*rv = pam_mss_ignored(ctx, step);
	return 1;
}

/* MSS_REQ_RESET_START (an empty password); *a gets the reply. */
static int MSS_WUR
pam_mss_reset_start(struct pam_mss_ctx *ctx, struct pam_mss_rep_auth *a)
{
	struct pam_mss_wire_start s;
	uint32_t fl = 0;
	int r;

	if (ctx->opts.noenroll)
		fl |= MSS_AUTH_F_NOENROLL;
	if (ctx->opts.noreset)
		fl |= MSS_AUTH_F_NORESET;
	pam_mss_start_fields(ctx, &s, fl);
	if ((r = pam_mss_wire_reset_start(&ctx->wire, &s, ctx->login != NULL,
	    a)) != 0)
		return pam_mss_failed(ctx, r);
	return PAM_SUCCESS;
}

/*
 * Asks for a new password twice until mfad takes it (MSS_REQ_SET_PASSWORD
 * with the login id, or MSS_REQ_CHANGE_PASSWORD with old), at most
 * `tries` times. Returns a PAM code; on success the new password is the
 * PAM_AUTHTOK for the modules after this one.
 */
static int MSS_WUR
pam_mss_new_password(struct pam_mss_ctx *ctx, const char *old)
{
	char *p1 = NULL, *p2 = NULL;
	unsigned int n;
	enum pam_mss_lang lang;
	uint32_t code, reason;
	int r, rv = PAM_AUTHTOK_ERR;

	for (n = 0; n < ctx->opts.tries; n++) {
		if ((r = pam_mss_ask(ctx, PAM_PROMPT_ECHO_OFF,
		    PAM_MSS_M_NEWPASS_PROMPT, 0, &p1)) != PAM_SUCCESS ||
		    (r = pam_mss_ask(ctx, PAM_PROMPT_ECHO_OFF,
		    PAM_MSS_M_NEWPASS_AGAIN, 0, &p2)) != PAM_SUCCESS) {
			ctx->why = "conversation failed";
			rv = r;
			goto out;
		}
		if (strcmp(p1, p2) != 0) {
			pam_mss_say(ctx, PAM_ERROR_MSG,
			    PAM_MSS_M_NEWPASS_MISMATCH, NULL, 0);
			goto next;
		}
		if (strlen(p1) > MSS_PASS_MAX) {
			pam_mss_say(ctx, PAM_ERROR_MSG,
			    PAM_MSS_M_PW_TOO_LONG, NULL, 0);
			goto next;
		}
		if ((r = pam_mss_wire_password(&ctx->wire, ctx->login,
		    ctx->service, ctx->user, old, p1, &code, &reason,
		    &lang)) != 0) {
			rv = pam_mss_failed(ctx, r);
			goto out;
		}
		/* passwd: the old password was right; the lines after this
		 * speak the account's language. */
		pam_mss_take_lang(ctx, lang);
		if (code == 0) {
			rv = pam_set_item(ctx->pamh, PAM_AUTHTOK, p1);
			goto out;
		}
		if (code != (uint32_t)-MSS_ERR_REFUSED) {
			/* The login window closed, or the old password was
			 * wrong: nothing to try again. */
			ctx->why = old == NULL ? "password step refused" :
			    "wrong current password";
			if (old != NULL)
				pam_mss_say(ctx, PAM_ERROR_MSG,
				    PAM_MSS_M_PW_CHANGE_FAILED, NULL, 0);
			else
				pam_mss_say(ctx, PAM_ERROR_MSG,
				    PAM_MSS_M_DENIED, NULL, 0);
			rv = old == NULL ? PAM_AUTH_ERR : PAM_AUTHTOK_ERR;
			goto out;
		}
		/* mfad's reason by number: the words are the module's. */
		pam_mss_say(ctx, PAM_ERROR_MSG, pam_mss_msg_pw_reason(reason),
		    NULL, 0);
next:
		mss_str_free(p1);
		mss_str_free(p2);
		p1 = p2 = NULL;
	}
	ctx->why = "no acceptable new password";
	rv = PAM_AUTHTOK_ERR;
out:
	mss_str_free(p1);
	mss_str_free(p2);
	return rv;
}

/* Shows where the code went, or says why not; PAM_SUCCESS to go on to
 * the code prompt. */
static int MSS_WUR
pam_mss_after_start(struct pam_mss_ctx *ctx, struct pam_mss_rep_auth *a)
{
	switch (a->result) {
	case MSS_AUTH_CODE_SENT:
		pam_mss_take_auth(ctx, a);
		pam_mss_code_sent(ctx, PAM_MSS_M_CODE_SENT, a);
		return PAM_SUCCESS;
	case MSS_AUTH_CODE_VALID:
		/* This login continues with the code already mailed. */
		pam_mss_take_auth(ctx, a);
		pam_mss_code_sent(ctx, PAM_MSS_M_CODE_VALID, a);
		return PAM_SUCCESS;
	case MSS_AUTH_THROTTLED:
		pam_mss_say(ctx, PAM_ERROR_MSG, PAM_MSS_M_THROTTLED,
		    NULL, a->wait);
		/* No code mailed, but a login to answer on: the account
		 * has recovery codes, and one of them may end it. */
		if (*a->login != '\0') {
			pam_mss_take_auth(ctx, a);
			pam_mss_say(ctx, PAM_TEXT_INFO,
			    PAM_MSS_M_RECOVERY_HINT, NULL, 0);
			return PAM_SUCCESS;
		}
		ctx->why = "throttled";
		return PAM_AUTH_ERR;
	default:
		return pam_mss_deny(ctx, "denied");
	}
}

/*
 * An empty password: a reset or an enrollment, as mfad finds. The words
 * are the same whatever the address is (enrolled, invited, unknown,
 * locked): nothing before a right code tells them apart.
 */
static int MSS_WUR
pam_mss_empty_password(struct pam_mss_ctx *ctx, struct pam_mss_rep_auth *a)
{
	int rv;

	/* The address is what a code proves: asked even with email=skip. */
	if (ctx->opts.email_skip) {
		ctx->opts.email_skip = 0;
		mss_str_free(ctx->email);
		ctx->email = NULL;
		if ((rv = pam_mss_get_email(ctx)) != PAM_SUCCESS)
			return rv;
	}
	pam_mss_say(ctx, PAM_TEXT_INFO, PAM_MSS_M_RESET_NOTICE, NULL, 0);
	if ((rv = pam_mss_reset_start(ctx, a)) != PAM_SUCCESS)
		return rv;
	return pam_mss_after_start(ctx, a);
}

/*
 * What a right code leads to, as mfad says: the end of a sign-in, an
 * enrollment (a password, then the login completes) or a reset (a
 * password, then the login fails so that the person logs in with it).
 */
static int MSS_WUR
pam_mss_after_code(struct pam_mss_ctx *ctx, const struct pam_mss_rep_code *c)
{
	int rv;

	switch (c->next) {
	case MSS_NEXT_DONE:
		return pam_mss_remember(ctx, c);
	case MSS_NEXT_ENROLL:
		pam_mss_say(ctx, PAM_TEXT_INFO,
		    PAM_MSS_M_ENROLL_CONFIRMED, NULL, 0);
		if ((rv = pam_mss_new_password(ctx, NULL)) != PAM_SUCCESS)
			return rv;
		pam_mss_say(ctx, PAM_TEXT_INFO, PAM_MSS_M_ENROLLED,
		    NULL, 0);
		return pam_mss_remember(ctx, c);
	case MSS_NEXT_RESET:
		if ((rv = pam_mss_new_password(ctx, NULL)) != PAM_SUCCESS)
			return rv;
		pam_mss_say(ctx, PAM_ERROR_MSG, PAM_MSS_M_RESET_DONE,
		    NULL, 0);
		ctx->why = "password reset: must log in again";
		return PAM_AUTH_ERR;
	default:
		return pam_mss_unavail(ctx, MSS_ERR_PROTO);
	}
}

/* The failure line: service and rhost always, the user with audit. */
static void
pam_mss_log_failure(struct pam_mss_ctx *ctx, int rv)
{
	struct pam_mss_logf f;

	if (rv == PAM_SUCCESS || rv == PAM_IGNORE)
		return;
	pam_mss_logf_fill(ctx, &f);
	if (ctx->opts.audit && ctx->user != NULL)
		pam_syslog(ctx->pamh, LOG_NOTICE, "authentication failure; "
		    "service=%s rhost=%s tty=%s user=%s: %s", f.service,
		    f.rhost, f.tty, f.user,
		    ctx->why != NULL ? ctx->why : pam_strerror(ctx->pamh, rv));
	else
		pam_syslog(ctx->pamh, LOG_NOTICE, "authentication failure; "
		    "service=%s rhost=%s tty=%s: %s", f.service,
		    f.rhost, f.tty,
		    ctx->why != NULL ? ctx->why : pam_strerror(ctx->pamh, rv));
}

/* ctx_init, then the user name, which must be a usable one. */
static int MSS_WUR
pam_mss_begin(struct pam_mss_ctx *ctx, pam_handle_t *pamh, int flags,
    int argc, const char **argv)
{
	int rv;

	if ((rv = pam_mss_ctx_init(ctx, pamh, flags, argc, argv)) !=
	    PAM_SUCCESS)
		return rv;
	if ((rv = pam_get_user(pamh, &ctx->user, NULL)) != PAM_SUCCESS ||
	    ctx->user == NULL || *ctx->user == '\0' ||
	    strlen(ctx->user) > MSS_STR_MAX) {
		ctx->user = NULL;
		ctx->why = "no usable user name";
		return rv == PAM_SUCCESS ? PAM_USER_UNKNOWN : rv;
	}
	return PAM_SUCCESS;
}

int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
    const char **argv)
{
	struct pam_mss_ctx ctx;
	struct pam_mss_rep_auth a;
	struct pam_mss_rep_code c;
	const void *item = NULL;
	int rv;

	memset(&a, 0, sizeof(a));
	memset(&c, 0, sizeof(c));
	/* Every failure costs at least this, whatever its cause. */
	(void)pam_fail_delay(pamh, 2000000);
	if ((rv = pam_mss_begin(&ctx, pamh, flags, argc, argv)) !=
	    PAM_SUCCESS ||
	    (rv = pam_mss_device(&ctx)) != PAM_SUCCESS)
		goto out;
	if (pam_mss_unenrolled(&ctx, "authentication", &rv))
		goto out;
	/* use_first_pass with nothing stored: fail before any prompt. */
	if (ctx.opts.use_first_pass &&
	    (pam_get_item(pamh, PAM_AUTHTOK, &item) != PAM_SUCCESS ||
	    item == NULL)) {
		ctx.why = "use_first_pass: no password stored";
		rv = PAM_AUTH_ERR;
		goto out;
	}
	/*
	 * One conversation for every account: unless unenrolled=ignore,
	 * mfad is not asked about the account before the prompts, so
	 * nothing shown before a right code depends on whether it is
	 * enrolled, invited, locked or unknown.
	 */
	if ((rv = pam_mss_get_email(&ctx)) != PAM_SUCCESS ||
	    (rv = pam_mss_get_password(&ctx)) != PAM_SUCCESS)
		goto out;
	if (*ctx.password == '\0') {
		/* An empty password asks for a reset or an enrollment. */
		if (ctx.opts.noreset && ctx.opts.noenroll) {
			rv = pam_mss_deny(&ctx, "empty password");
			goto out;
		}
		if ((rv = pam_mss_empty_password(&ctx, &a)) != PAM_SUCCESS)
			goto out;
	} else {
		if ((rv = pam_mss_start(&ctx, &a)) != PAM_SUCCESS)
			goto out;
		switch (a.result) {
		case MSS_AUTH_OK:
			/* A remembered device: the password was enough. */
			goto success;
		case MSS_AUTH_CODE_SENT:
		case MSS_AUTH_CODE_VALID:
		case MSS_AUTH_THROTTLED:
			if ((rv = pam_mss_after_start(&ctx, &a)) !=
			    PAM_SUCCESS)
				goto out;
			break;
		case MSS_AUTH_DENIED:
		default:
			rv = pam_mss_deny(&ctx, "denied");
			goto out;
		}
	}
	if ((rv = pam_mss_code_loop(&ctx, &c)) != PAM_SUCCESS ||
	    (rv = pam_mss_after_code(&ctx, &c)) != PAM_SUCCESS)
		goto out;
success:
	if (!ctx.silent)
		pam_mss_say(&ctx, PAM_TEXT_INFO, PAM_MSS_M_SUCCESS,
		    NULL, 0);
	if (ctx.opts.debug)
		pam_syslog(pamh, LOG_DEBUG, "authentication succeeded");
	rv = PAM_SUCCESS;
out:
	pam_mss_log_failure(&ctx, rv);
	pam_mss_rep_auth_free(&a);
	mss_wipe(&c, sizeof(c));
	pam_mss_ctx_clear(&ctx);
	return rv;
}

int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_SUCCESS;
}

int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct pam_mss_ctx ctx;
	uint64_t date = 0;
	uint8_t state;
	int r, rv;

	if ((rv = pam_mss_begin(&ctx, pamh, flags, argc, argv)) !=
	    PAM_SUCCESS)
		goto out;
	pam_mss_kept_lang(&ctx);
	if ((r = pam_mss_acct_state(&ctx, &state, &date)) != 0) {
		rv = pam_mss_failed(&ctx, r);
		goto out;
	}
	if (ctx.opts.debug)
		pam_syslog(pamh, LOG_DEBUG, "account state %u",
		    (unsigned int)state);
	switch (state) {
	case MSS_ACCT_ACTIVE:
		rv = PAM_SUCCESS;
		break;
	case MSS_ACCT_LOCKED:
	case MSS_ACCT_DISABLED:
		pam_mss_say(&ctx, PAM_ERROR_MSG, PAM_MSS_M_LOCKED,
		    NULL, 0);
		rv = PAM_PERM_DENIED;
		break;
	case MSS_ACCT_UNKNOWN:
		rv = ctx.opts.unenrolled_ignore ?
		    pam_mss_ignored(&ctx, "account") : PAM_USER_UNKNOWN;
		break;
	case MSS_ACCT_INVITED:
	case MSS_ACCT_REENROLL:
		rv = PAM_NEW_AUTHTOK_REQD;
		break;
	default:
		rv = pam_mss_unavail(&ctx, MSS_ERR_PROTO);
		break;
	}
	if (rv != PAM_SUCCESS && rv != PAM_IGNORE) {
		struct pam_mss_logf f;

		pam_mss_logf_fill(&ctx, &f);
		if (ctx.opts.audit && ctx.user != NULL)
			pam_syslog(pamh, LOG_NOTICE, "account refused; "
			    "service=%s rhost=%s user=%s: %s", f.service,
			    f.rhost, f.user, pam_strerror(pamh, rv));
		else
			pam_syslog(pamh, LOG_NOTICE, "account refused; "
			    "service=%s rhost=%s: %s", f.service,
			    f.rhost, pam_strerror(pamh, rv));
	}
out:
	pam_mss_ctx_clear(&ctx);
	return rv;
}

/*
 * passwd: the current password, then a new one twice, under mfad's
 * password policy. PAM_PRELIM_CHECK only checks that mfad answers.
 */
int
pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct pam_mss_ctx ctx;
	const void *item = NULL;
	char *old = NULL;
	uint64_t date;
	uint8_t state;
	int r, rv;

	if ((rv = pam_mss_begin(&ctx, pamh, flags, argc, argv)) !=
	    PAM_SUCCESS)
		goto out;
	pam_mss_kept_lang(&ctx);
	if (flags & PAM_PRELIM_CHECK) {
		if ((r = pam_mss_acct_state(&ctx, &state, &date)) != 0)
			rv = r == MSS_ERR_PERM ? PAM_AUTHTOK_ERR :
			    PAM_TRY_AGAIN;
		else
			rv = state == MSS_ACCT_ACTIVE ? PAM_SUCCESS :
			    PAM_AUTHTOK_ERR;
		goto out;
	}
	if (!(flags & PAM_UPDATE_AUTHTOK)) {
		rv = PAM_SERVICE_ERR;
		goto out;
	}
	if ((ctx.opts.use_first_pass || ctx.opts.try_first_pass) &&
	    pam_get_item(pamh, PAM_OLDAUTHTOK, &item) == PAM_SUCCESS &&
	    item != NULL) {
		if ((old = strdup(item)) == NULL) {
			rv = PAM_BUF_ERR;
			goto out;
		}
	} else if (ctx.opts.use_first_pass) {
		rv = PAM_AUTHTOK_ERR;
		goto out;
	} else if ((rv = pam_mss_ask(&ctx, PAM_PROMPT_ECHO_OFF,
	    PAM_MSS_M_OLDPASS_PROMPT, 0, &old)) != PAM_SUCCESS)
		goto out;
	if (strlen(old) > MSS_PASS_MAX) {
		pam_mss_say(&ctx, PAM_ERROR_MSG,
		    PAM_MSS_M_PW_CHANGE_FAILED, NULL, 0);
		rv = PAM_AUTHTOK_ERR;
		goto out;
	}
	if ((rv = pam_mss_new_password(&ctx, old)) == PAM_SUCCESS)
		pam_mss_say(&ctx, PAM_TEXT_INFO, PAM_MSS_M_PW_CHANGED,
		    NULL, 0);
out:
	if (rv != PAM_SUCCESS)
		pam_syslog(pamh, LOG_NOTICE, "password not changed; "
		    "service=%s: %s", ctx.service != NULL ? ctx.service : "",
		    ctx.why != NULL ? ctx.why : pam_strerror(pamh, rv));
	mss_str_free(old);
	pam_mss_ctx_clear(&ctx);
	return rv;
}
