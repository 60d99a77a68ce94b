/*
 * Every provider is reached over TLS with its certificate verified: ldaps
 * directly, ldap through STARTTLS, which must succeed. A provider that
 * cannot be trusted counts as one that is down, and a login that needs
 * the directory then fails closed (the caller's choice, not ours).
 *
 * The bind password is read from its file at each connection, so that a
 * changed password is used without a restart, and wiped as soon as the
 * bind is sent.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include <sodium.h>

#include "mss_err.h"
#include "mfad_dir.h"
#include "mfad_log.h"
#include "mfad_secret.h"

static void
dir_ms_to_tv(int ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

int
mfad_dir_err(int rc)
{
	switch (rc) {
	case LDAP_SUCCESS:
		return 0;
	case LDAP_SERVER_DOWN:
	case LDAP_CONNECT_ERROR:
	case LDAP_UNAVAILABLE:
	case LDAP_BUSY:
	case LDAP_UNWILLING_TO_PERFORM:
		return MSS_ERR_UNAVAIL;
	case LDAP_TIMEOUT:
	case LDAP_TIMELIMIT_EXCEEDED:
		return MSS_ERR_TIMEOUT;
	case LDAP_NO_MEMORY:
		return MSS_ERR_NOMEM;
	case LDAP_NO_SUCH_OBJECT:
	case LDAP_NO_SUCH_ATTRIBUTE:
		return MSS_ERR_NOTFOUND;
	case LDAP_ALREADY_EXISTS:
	case LDAP_TYPE_OR_VALUE_EXISTS:
		return MSS_ERR_EXISTS;
	case LDAP_INSUFFICIENT_ACCESS:
		return MSS_ERR_PERM;
	case LDAP_INVALID_CREDENTIALS:
	case LDAP_INAPPROPRIATE_AUTH:
	case LDAP_STRONG_AUTH_REQUIRED:
	case LDAP_CONFIDENTIALITY_REQUIRED:
		return MSS_ERR_CONFIG;
	case LDAP_SIZELIMIT_EXCEEDED:
	case LDAP_ADMINLIMIT_EXCEEDED:
		return MSS_ERR_TOOBIG;
	case LDAP_INVALID_SYNTAX:
	case LDAP_UNDEFINED_TYPE:
	case LDAP_CONSTRAINT_VIOLATION:
	case LDAP_OBJECT_CLASS_VIOLATION:
	case LDAP_NAMING_VIOLATION:
	case LDAP_INVALID_DN_SYNTAX:
	case LDAP_FILTER_ERROR:
	case LDAP_PARAM_ERROR:
		return MSS_ERR_INVAL;
	case LDAP_DECODING_ERROR:
	case LDAP_ENCODING_ERROR:
	case LDAP_PROTOCOL_ERROR:
		return MSS_ERR_PROTO;
	default:
		return MSS_ERR_STORE;
	}
}

int
mfad_dir_init(struct mfad_dir *d, const struct mfad_dir_params *p)
{
	size_t i;

	memset(d, 0, sizeof(*d));
	if (p->nuris == 0 || p->nuris > MFAD_DIR_URIS_MAX ||
	    p->base == NULL || p->bind_dn == NULL || p->bind_pw_file == NULL ||
	    p->net_timeout_ms <= 0 || p->op_timeout_ms <= 0) {
		mfad_log(LOG_ERR, "directory: incomplete parameters");
		return MSS_ERR_CONFIG;
	}
	for (i = 0; i < p->nuris; i++)
		/* One URI each: libldap would also take a list in one
		 * string, past this check of its schemes. */
		if (p->uris[i] == NULL ||
		    strpbrk(p->uris[i], " \t,") != NULL ||
		    (strncmp(p->uris[i], "ldaps://", 8) != 0 &&
		    strncmp(p->uris[i], "ldap://", 7) != 0) ||
		    ldap_is_ldap_url(p->uris[i]) == 0) {
			mfad_log(LOG_ERR, "directory: %s: not an ldaps:// or "
			    "ldap:// URI", p->uris[i] ? p->uris[i] : "(none)");
			return MSS_ERR_CONFIG;
		}
	d->p = *p;
	return 0;
}

/*
 * A failure's line: through the caller's limiter when it gave one (a
 * pool of connections retrying through an outage would otherwise write
 * lines for every request), else always.
 */
static void __attribute__((format(printf, 3, 4)))
dir_log(const struct mfad_dir *d, int prio, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (d->p.fail_limit != NULL)
		(void)mfad_log_limited(d->p.fail_limit, prio, "%s", line);
	else
		mfad_log(prio, "%s", line);
}

/* The reason libldap or the server gave for the last failure, if any. */
static void
dir_log_fail(const struct mfad_dir *d, LDAP *ld, const char *uri,
    const char *step, int rc)
{
	char *diag = NULL;

	const char *why;

	if (ld != NULL)
		(void)ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	why = diag;
	/* libldap's text when its TLS library gave none. */
	if (why != NULL && (*why == '\0' ||
	    strcmp(why, "(unknown error code)") == 0))
		why = NULL;
	dir_log(d, LOG_WARNING, "directory: %s: %s: %s%s%s%s", uri, step,
	    ldap_err2string(rc), why != NULL ? " (" : "",
	    why != NULL ? why : "", why != NULL ? ")" : "");
	if (diag != NULL)
		ldap_memfree(diag);
}

/* Options for one new handle: protocol, timeouts, TLS always verified. */
static int MSS_WUR
dir_options(struct mfad_dir *d, LDAP *ld)
{
	struct timeval net, op;
	int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND;
	int tls12 = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2, zero = 0;
	int limit = (d->p.op_timeout_ms + 999) / 1000;

	dir_ms_to_tv(d->p.net_timeout_ms, &net);
	dir_ms_to_tv(d->p.op_timeout_ms, &op);
	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3) != 0 ||
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != 0 ||
	    ldap_set_option(ld, LDAP_OPT_RESTART, LDAP_OPT_ON) != 0 ||
	    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &net) != 0 ||
	    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &op) != 0 ||
	    ldap_set_option(ld, LDAP_OPT_TIMELIMIT, &limit) != 0 ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) != 0 ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &tls12) != 0 ||
	    (d->p.ca_file != NULL && ldap_set_option(ld,
	    LDAP_OPT_X_TLS_CACERTFILE, d->p.ca_file) != 0) ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero) != 0)
		return LDAP_PARAM_ERROR;
	return LDAP_SUCCESS;
}

/* Connects, secures and binds to one URI; *ldp is set on success. */
static int MSS_WUR
dir_connect_one(struct mfad_dir *d, size_t i, char *pw, size_t pwlen,
    LDAP **ldp)
{
	const char *uri = d->p.uris[i];
	struct berval cred;
	LDAP *ld = NULL;
	int rc;

	*ldp = NULL;
	if ((rc = ldap_initialize(&ld, uri)) != LDAP_SUCCESS) {
		dir_log_fail(d, NULL, uri, "init", rc);
		return rc;
	}
	if ((rc = dir_options(d, ld)) != LDAP_SUCCESS) {
		dir_log_fail(d, ld, uri, "TLS or timeout options", rc);
		goto fail;
	}
	/* Its own step, so that the log tells a provider that does not
	 * answer from one whose certificate is refused. */
	if ((rc = ldap_connect(ld)) != LDAP_SUCCESS) {
		dir_log_fail(d, ld, uri, strncmp(uri, "ldaps://", 8) == 0 ?
		    "connect or TLS handshake (certificate refused?)" :
		    "connect", rc);
		goto fail;
	}
	if (strncmp(uri, "ldap://", 7) == 0 &&
	    (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
		dir_log_fail(d, ld, uri, rc == LDAP_CONNECT_ERROR ?
		    "STARTTLS (certificate refused?)" : "STARTTLS", rc);
		goto fail;
	}
	cred.bv_val = pw;
	cred.bv_len = pwlen;
	rc = ldap_sasl_bind_s(ld, d->p.bind_dn, LDAP_SASL_SIMPLE, &cred, NULL,
	    NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		dir_log_fail(d, ld, uri, "bind", rc);
		goto fail;
	}
	*ldp = ld;
	return LDAP_SUCCESS;
 fail:
	(void)ldap_unbind_ext_s(ld, NULL, NULL);
	return rc;
}

/* The password file's one line, without its line end. */
static int MSS_WUR
dir_read_pw(struct mfad_dir *d, char *pw, size_t pwsize, size_t *pwlen)
{
	char why[512];
	int r;

	if ((r = mfad_secret_read(d->p.bind_pw_file, d->p.bind_pw_owner,
	    "the user mfad runs as", pw, pwsize, pwlen, why,
	    sizeof(why))) != 0) {
		dir_log(d, LOG_ERR, "directory: bind_pw_file %s", why);
		return MSS_ERR_CONFIG;
	}
	if (*pwlen > 0 && pw[*pwlen - 1] == '\n')
		pw[--*pwlen] = '\0';
	if (*pwlen > 0 && pw[*pwlen - 1] == '\r')
		pw[--*pwlen] = '\0';
	if (*pwlen == 0 || memchr(pw, '\n', *pwlen) != NULL ||
	    memchr(pw, '\r', *pwlen) != NULL) {
		sodium_memzero(pw, pwsize);
		dir_log(d, LOG_ERR, "directory: bind_pw_file %s: expected one "
		    "line, the password", d->p.bind_pw_file);
		return MSS_ERR_CONFIG;
	}
	return 0;
}

int
mfad_dir_connect(struct mfad_dir *d)
{
	char pw[MFAD_DIR_PW_MAX + 1];
	size_t pwlen, i;
	int r, rc = LDAP_SERVER_DOWN, last = LDAP_SERVER_DOWN;

	if (d->ld != NULL)
		return 0;
	if ((r = dir_read_pw(d, pw, sizeof(pw), &pwlen)) != 0)
		return r;
	for (i = 0; i < d->p.nuris; i++) {
		if ((rc = dir_connect_one(d, i, pw, pwlen, &d->ld)) ==
		    LDAP_SUCCESS) {
			d->cur = i;
			break;
		}
		last = rc;
	}
	sodium_memzero(pw, sizeof(pw));
	if (d->ld == NULL) {
		dir_log(d, LOG_ERR, "directory: no provider reachable (%zu "
		    "tried; last: %s)", d->p.nuris, ldap_err2string(last));
		/* Refused credentials are the configuration's fault; any
		 * other failure is the directory being unavailable. */
		r = mfad_dir_err(last);
		return r == MSS_ERR_CONFIG ? r : MSS_ERR_UNAVAIL;
	}
	if (i > 0)
		mfad_log(LOG_NOTICE, "directory: connected to %s (the "
		    "providers before it failed)", d->p.uris[i]);
	else
		mfad_log(LOG_INFO, "directory: connected to %s", d->p.uris[i]);
	return 0;
}

int
mfad_dir_handle(struct mfad_dir *d, LDAP **ld)
{
	int r;

	*ld = NULL;
	if ((r = mfad_dir_connect(d)) != 0)
		return r;
	*ld = d->ld;
	return 0;
}

int
mfad_dir_lost(struct mfad_dir *d, int rc)
{
	switch (rc) {
	case LDAP_SERVER_DOWN:
	case LDAP_CONNECT_ERROR:
	case LDAP_UNAVAILABLE:
	case LDAP_BUSY:
	case LDAP_TIMEOUT:
		break;
	default:
		return 0;
	}
	if (d->ld != NULL) {
		mfad_log(LOG_WARNING, "directory: lost %s: %s",
		    d->p.uris[d->cur], ldap_err2string(rc));
		(void)ldap_unbind_ext_s(d->ld, NULL, NULL);
		d->ld = NULL;
	}
	return 1;
}

int
mfad_dir_check(struct mfad_dir *d)
{
	char *attrs[] = { LDAP_NO_ATTRS, NULL };
	struct timeval tv;
	LDAPMessage *res;
	LDAP *ld;
	int r, rc = LDAP_SERVER_DOWN, tries;

	dir_ms_to_tv(d->p.op_timeout_ms, &tv);
	for (tries = 0; tries < 2; tries++) {
		if ((r = mfad_dir_handle(d, &ld)) != 0)
			return r;
		res = NULL;
		rc = ldap_search_ext_s(ld, d->p.base, LDAP_SCOPE_BASE,
		    "(objectClass=*)", attrs, 1, NULL, NULL, &tv, 1, &res);
		if (res != NULL)
			ldap_msgfree(res);
		if (rc == LDAP_SUCCESS)
			return 0;
		if (!mfad_dir_lost(d, rc)) {
			dir_log_fail(d, ld, d->p.uris[d->cur], "check", rc);
			return mfad_dir_err(rc);
		}
	}
	return mfad_dir_err(rc);
}

const char *
mfad_dir_uri(const struct mfad_dir *d)
{
	return d->ld != NULL ? d->p.uris[d->cur] : NULL;
}

void
mfad_dir_close(struct mfad_dir *d)
{
	if (d->ld != NULL) {
		(void)ldap_unbind_ext_s(d->ld, NULL, NULL);
		d->ld = NULL;
	}
}
