/*
 * The directory backend's connections (doc/STORE.md, "The directory
 * backend"): a small pool of mfad_dir connections shared by mfad's
 * threads, the synchronous operations run on them with one retry on a
 * new connection, and the helpers of the account and device files
 * (names, escapes, strict value readers).
 *
 * Nothing connects at open: mfad starts while the directory is down,
 * and the first operation that needs it connects (a connection lost
 * later is replaced the same way). No provider answering is
 * MSS_ERR_UNAVAIL: the caller fails closed.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

#include <sodium.h>

#include "mss_err.h"
#include "mfad_store_dir_ldap.h"
#include "mfad_str.h"

_Static_assert(MFAD_CONF_DIR_URIS_MAX <= MFAD_DIR_URIS_MAX,
    "[directory] uri: every URI the config takes fits in mfad_dir");
_Static_assert(MFAD_CONF_DIR_PW_MAX == MFAD_DIR_PW_MAX,
    "[directory] bind_pw_file: the config checks what mfad_dir reads");

static void
sdir_free(struct mfad_sdir *sd)
{
	size_t i;

	for (i = 0; i < sd->nuris; i++)
		free(sd->uris[i]);
	free(sd->base);
	free(sd->bind_dn);
	free(sd->pw_file);
	free(sd->ca_file);
	free(sd);
}

/* A name for the values this host writes (TIME:HOST:NONCE, HOST:KEY). */
static int MSS_WUR
sdir_host(const struct mfad_conf *conf, char *host, size_t len)
{
	size_t i;

	if (conf->dir_host != NULL) {
		if (strlen(conf->dir_host) >= len)
			return MSS_ERR_CONFIG;
		mfad_str_copy(host, len, conf->dir_host);
	} else if (gethostname(host, len - 1) != 0)
		return MSS_ERR_CONFIG;
	host[len - 1] = '\0';
	if (host[0] == '\0')
		return MSS_ERR_CONFIG;
	for (i = 0; host[i] != '\0'; i++)
		if (!isgraph((unsigned char)host[i]) || host[i] == ':')
			return MSS_ERR_CONFIG;
	return 0;
}

int
mfad_sdir_open(const struct mfad_conf *conf, struct mfad_sdir **out)
{
	struct mfad_dir_params p;
	struct mfad_sdir *sd;
	size_t i;
	int r;

	*out = NULL;
	if (conf->dir_nuris == 0 || conf->dir_nuris > MFAD_DIR_URIS_MAX ||
	    conf->dir_base == NULL || conf->dir_bind_dn == NULL ||
	    conf->dir_bind_pw_file == NULL) {
		mfad_log(LOG_ERR, "directory: incomplete [directory] settings");
		return MSS_ERR_CONFIG;
	}
	if ((sd = calloc(1, sizeof(*sd))) == NULL)
		return MSS_ERR_NOMEM;
	sd->down_limit = (struct mfad_log_limit)MFAD_LOG_LIMIT_INIT(60);
	sd->conn_limit = (struct mfad_log_limit)MFAD_LOG_LIMIT_INIT(60);
	for (i = 0; i < conf->dir_nuris; i++) {
		if ((sd->uris[i] = strdup(conf->dir_uris[i])) == NULL)
			goto nomem;
		sd->nuris++;
	}
	if ((sd->base = strdup(conf->dir_base)) == NULL ||
	    (sd->bind_dn = strdup(conf->dir_bind_dn)) == NULL ||
	    (sd->pw_file = strdup(conf->dir_bind_pw_file)) == NULL ||
	    (conf->dir_ca_file != NULL &&
	    (sd->ca_file = strdup(conf->dir_ca_file)) == NULL))
		goto nomem;
	if (sdir_host(conf, sd->host, sizeof(sd->host)) != 0) {
		mfad_log(LOG_ERR, "directory: no usable host name (set "
		    "[directory] host: printable, without ':')");
		sdir_free(sd);
		return MSS_ERR_CONFIG;
	}
	memset(&p, 0, sizeof(p));
	for (i = 0; i < sd->nuris; i++)
		p.uris[i] = sd->uris[i];
	p.nuris = sd->nuris;
	p.base = sd->base;
	p.bind_dn = sd->bind_dn;
	p.bind_pw_file = sd->pw_file;
	/* The store opens after mfad dropped its privileges. */
	p.bind_pw_owner = geteuid();
	p.ca_file = sd->ca_file;
	p.net_timeout_ms = conf->dir_timeout_ms > 0 ?
	    (int)conf->dir_timeout_ms : 2000;
	p.op_timeout_ms = p.net_timeout_ms;
	/* Four connections through an outage: a line a minute. */
	p.fail_limit = &sd->conn_limit;
	for (i = 0; i < MFAD_SDIR_CONNS; i++)
		if ((r = mfad_dir_init(&sd->conns[i], &p)) != 0) {
			sdir_free(sd);
			return r;
		}
	if (pthread_mutex_init(&sd->lock, NULL) != 0) {
		sdir_free(sd);
		return MSS_ERR_SYSTEM;
	}
	if (pthread_cond_init(&sd->free_cv, NULL) != 0) {
		pthread_mutex_destroy(&sd->lock);
		sdir_free(sd);
		return MSS_ERR_SYSTEM;
	}
	mfad_log(LOG_INFO, "directory: accounts under %s on %s%s (%zu "
	    "provider%s), bound as %s, host name %s; connecting at first use",
	    sd->base, sd->uris[0], sd->nuris > 1 ? " and others" : "",
	    sd->nuris, sd->nuris > 1 ? "s" : "", sd->bind_dn, sd->host);
	*out = sd;
	return 0;
 nomem:
	sdir_free(sd);
	return MSS_ERR_NOMEM;
}

void
mfad_sdir_close(struct mfad_sdir *sd)
{
	size_t i;

	if (sd == NULL)
		return;
	for (i = 0; i < MFAD_SDIR_CONNS; i++)
		mfad_dir_close(&sd->conns[i]);
	pthread_cond_destroy(&sd->free_cv);
	pthread_mutex_destroy(&sd->lock);
	sdir_free(sd);
}

struct mfad_dir *
mfad_sdir_take(struct mfad_sdir *sd)
{
	size_t i;

	pthread_mutex_lock(&sd->lock);
	for (;;) {
		/* A connected one first: a new connection costs a TLS
		 * handshake and a bind. */
		for (i = 0; i < MFAD_SDIR_CONNS; i++)
			if (!sd->busy[i] && sd->conns[i].ld != NULL)
				goto found;
		for (i = 0; i < MFAD_SDIR_CONNS; i++)
			if (!sd->busy[i])
				goto found;
		pthread_cond_wait(&sd->free_cv, &sd->lock);
	}
 found:
	sd->busy[i] = 1;
	pthread_mutex_unlock(&sd->lock);
	return &sd->conns[i];
}

void
mfad_sdir_give(struct mfad_sdir *sd, struct mfad_dir *d)
{
	size_t i = (size_t)(d - sd->conns);

	pthread_mutex_lock(&sd->lock);
	sd->busy[i] = 0;
	pthread_cond_signal(&sd->free_cv);
	pthread_mutex_unlock(&sd->lock);
}

int
mfad_sdir_check(struct mfad_sdir *sd)
{
	struct mfad_dir *d;
	int r;

	d = mfad_sdir_take(sd);
	r = mfad_dir_check(d);
	mfad_sdir_give(sd, d);
	return r;
}

/* The operations, each as a function of the handle for sdir_run. */
struct sdir_op {
	int		 kind;
	const char	*dn;
	int		 scope;
	const char	*filter;
	char		**attrs;
	LDAPMod		**mods;
	LDAPMessage	**res;
	int		 timeout_ms;
};
enum { SDIR_SEARCH, SDIR_MODIFY, SDIR_ADD, SDIR_DELETE };
/* A search with a size limit: an sdir_op inside one of these. */
enum { SDIR_SEARCH_LIMIT = 16 };
struct sdir_op_limit {
	struct sdir_op	 op;		/* first */
	int		 sizelimit;
};

static int
sdir_op_run(LDAP *ld, struct sdir_op *op)
{
	struct timeval tv;

	switch (op->kind) {
	case SDIR_SEARCH:
		tv.tv_sec = op->timeout_ms / 1000;
		tv.tv_usec = (op->timeout_ms % 1000) * 1000;
		*op->res = NULL;
		return ldap_search_ext_s(ld, op->dn, op->scope, op->filter,
		    op->attrs, 0, NULL, NULL, &tv, 0, op->res);
	case SDIR_SEARCH_LIMIT:
		tv.tv_sec = op->timeout_ms / 1000;
		tv.tv_usec = (op->timeout_ms % 1000) * 1000;
		*op->res = NULL;
		return ldap_search_ext_s(ld, op->dn, op->scope, op->filter,
		    op->attrs, 0, NULL, NULL, &tv,
		    ((struct sdir_op_limit *)op)->sizelimit, op->res);
	case SDIR_MODIFY:
		return ldap_modify_ext_s(ld, op->dn, op->mods, NULL, NULL);
	case SDIR_ADD:
		return ldap_add_ext_s(ld, op->dn, op->mods, NULL, NULL);
	default:
		return ldap_delete_ext_s(ld, op->dn, NULL, NULL);
	}
}

static const char *
sdir_op_name(int kind)
{
	switch (kind) {
	case SDIR_SEARCH:
	case SDIR_SEARCH_LIMIT:	return "read";
	case SDIR_MODIFY:	return "modify";
	case SDIR_ADD:		return "add";
	default:		return "delete";
	}
}

/* The provider that answered, for the status (mfad_sdir_uris). */
static void
sdir_answered(struct mfad_sdir *sd, const struct mfad_dir *d)
{
	pthread_mutex_lock(&sd->lock);
	sd->answered = d->cur + 1;
	pthread_mutex_unlock(&sd->lock);
}

/*
 * The retry-once idiom of mfad_dir_lost: a write run again may have
 * been applied the first time; the callers' writes are made so that a
 * second run is harmless (an added value with a nonce, a delete by
 * value whose absence counts as done).
 */
static int MSS_WUR
sdir_run(struct mfad_sdir *sd, struct mfad_dir *d, struct sdir_op *op,
    int *ldrc)
{
	LDAP *ld;
	int tries, r, rc = LDAP_SERVER_DOWN;

	*ldrc = LDAP_OTHER;
	op->timeout_ms = d->p.op_timeout_ms;
	for (tries = 0; tries < 2; tries++) {
		if ((r = mfad_dir_handle(d, &ld)) != 0) {
			mfad_log_limited(&sd->down_limit, LOG_ERR,
			    "directory: %s of %s: %s; failing closed",
			    sdir_op_name(op->kind), op->dn,
			    r == MSS_ERR_CONFIG ? "no provider accepts the "
			    "bind (password file or DN)" :
			    "no provider answers");
			return MSS_ERR_UNAVAIL;
		}
		rc = sdir_op_run(ld, op);
		if (!mfad_dir_lost(d, rc)) {
			sdir_answered(sd, d);
			*ldrc = rc;
			return 0;
		}
		if (op->res != NULL && *op->res != NULL) {
			ldap_msgfree(*op->res);
			*op->res = NULL;
		}
	}
	mfad_log_limited(&sd->down_limit, LOG_ERR, "directory: %s of %s: "
	    "connection lost twice (%s); failing closed",
	    sdir_op_name(op->kind), op->dn, ldap_err2string(rc));
	return MSS_ERR_UNAVAIL;
}

int
mfad_sdir_search(struct mfad_sdir *sd, struct mfad_dir *d, const char *base,
    int scope, const char *filter, char **attrs, LDAPMessage **res,
    int *ldrc)
{
	struct sdir_op op = { SDIR_SEARCH, base, scope, filter, attrs, NULL,
	    res, 0 };
	int r;

	*res = NULL;
	if ((r = sdir_run(sd, d, &op, ldrc)) != 0)
		return r;
	if (*ldrc != LDAP_SUCCESS && *res != NULL) {
		ldap_msgfree(*res);
		*res = NULL;
	}
	return 0;
}

/* As mfad_sdir_search, at most limit entries: LDAP_SIZELIMIT_EXCEEDED
 * keeps those returned in *res. */
int
mfad_sdir_search_limit(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *base, int scope, const char *filter, char **attrs,
    int limit, LDAPMessage **res, int *ldrc)
{
	struct sdir_op_limit ol = { { SDIR_SEARCH_LIMIT, base, scope, filter,
	    attrs, NULL, res, 0 }, limit };
	int r;

	*res = NULL;
	if ((r = sdir_run(sd, d, &ol.op, ldrc)) != 0)
		return r;
	if (*ldrc != LDAP_SUCCESS && *ldrc != LDAP_SIZELIMIT_EXCEEDED &&
	    *res != NULL) {
		ldap_msgfree(*res);
		*res = NULL;
	}
	return 0;
}

void
mfad_sdir_uris(struct mfad_sdir *sd, char *last, size_t lastlen,
    char *all, size_t alllen)
{
	size_t i, j = 0, answered;
	int n;

	pthread_mutex_lock(&sd->lock);
	answered = sd->answered;
	pthread_mutex_unlock(&sd->lock);
	mfad_str_copy(last, lastlen, answered > 0 && answered <= sd->nuris ?
	    sd->uris[answered - 1] : "");
	all[0] = '\0';
	for (i = 0; i < sd->nuris && j < alllen; i++) {
		n = snprintf(all + j, alllen - j, "%s%s", i > 0 ? " " : "",
		    sd->uris[i]);
		if (n < 0 || (size_t)n >= alllen - j) {
			all[j] = '\0';
			break;
		}
		j += (size_t)n;
	}
}

int
mfad_sdir_modify(struct mfad_sdir *sd, struct mfad_dir *d, const char *dn,
    LDAPMod **mods, int *ldrc)
{
	struct sdir_op op = { SDIR_MODIFY, dn, 0, NULL, NULL, mods, NULL, 0 };

	return sdir_run(sd, d, &op, ldrc);
}

int
mfad_sdir_add(struct mfad_sdir *sd, struct mfad_dir *d, const char *dn,
    LDAPMod **mods, int *ldrc)
{
	struct sdir_op op = { SDIR_ADD, dn, 0, NULL, NULL, mods, NULL, 0 };

	return sdir_run(sd, d, &op, ldrc);
}

int
mfad_sdir_delete(struct mfad_sdir *sd, struct mfad_dir *d, const char *dn,
    int *ldrc)
{
	struct sdir_op op = { SDIR_DELETE, dn, 0, NULL, NULL, NULL, NULL, 0 };

	return sdir_run(sd, d, &op, ldrc);
}

/*
 * Paged searches (RFC 2696). A page asks for fewer entries than slapd's
 * default size limit (500), which bounds one answer, so that no page
 * meets it; the total a paged search may return is slapd's
 * size.prtotal, which the hosts' identities are given
 * (conf/ldap/mfad-acl.conf, "limits").
 */
#define SDIR_PAGE_SIZE	250

struct sdir_paged {
	const char	*base;
	int		 scope;
	const char	*filter;
	char		**attrs;
	int		(*fn)(LDAP *, LDAPMessage *, void *);
	void		*arg;
	int		 fn_r;	/* fn's error, which ends the search */
};

/*
 * The pages of one search, all on ld: a cookie belongs to the
 * connection that gave it. The LDAP result code of the first page that
 * fails, or of the last.
 */
static int
sdir_paged_run(LDAP *ld, struct sdir_paged *q, int timeout_ms)
{
	struct berval cookie = { 0, NULL };
	LDAPControl *sctl[2] = { NULL, NULL }, **rctl = NULL, *pr;
	LDAPMessage *res, *e;
	struct timeval tv;
	ber_int_t total;
	int rc;

	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	for (;;) {
		/* Critical: a server without paging refuses, rather than
		 * answering as much as its size limit lets it. */
		if ((rc = ldap_create_page_control(ld, SDIR_PAGE_SIZE,
		    &cookie, 1, &sctl[0])) != LDAP_SUCCESS)
			break;
		res = NULL;
		rc = ldap_search_ext_s(ld, q->base, q->scope, q->filter,
		    q->attrs, 0, sctl, NULL, &tv, 0, &res);
		ldap_control_free(sctl[0]);
		sctl[0] = NULL;
		if (rc != LDAP_SUCCESS) {
			ldap_msgfree(res);
			break;
		}
		for (e = ldap_first_entry(ld, res); e != NULL &&
		    q->fn_r == 0; e = ldap_next_entry(ld, e))
			q->fn_r = q->fn(ld, e, q->arg);
		ber_memfree(cookie.bv_val);
		cookie.bv_val = NULL;
		cookie.bv_len = 0;
		/* Frees the page. */
		if ((rc = ldap_parse_result(ld, res, NULL, NULL, NULL, NULL,
		    &rctl, 1)) != LDAP_SUCCESS)
			break;
		pr = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, rctl, NULL);
		if (pr != NULL && ldap_parse_pageresponse_control(ld, pr,
		    &total, &cookie) != LDAP_SUCCESS)
			rc = LDAP_DECODING_ERROR;
		ldap_controls_free(rctl);
		rctl = NULL;
		/* No control in the answer: a server that sent it all. */
		if (rc != LDAP_SUCCESS || cookie.bv_len == 0)
			break;
		if (q->fn_r != 0) {
			/* A page of size 0 ends the search on the server. */
			if (ldap_create_page_control(ld, 0, &cookie, 0,
			    &sctl[0]) == LDAP_SUCCESS) {
				res = NULL;
				(void)ldap_search_ext_s(ld, q->base, q->scope,
				    q->filter, q->attrs, 0, sctl, NULL, &tv, 0,
				    &res);
				ldap_msgfree(res);
				ldap_control_free(sctl[0]);
			}
			break;
		}
	}
	ber_memfree(cookie.bv_val);
	return rc;
}

int
mfad_sdir_search_paged(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *base, int scope, const char *filter, char **attrs,
    int (*fn)(LDAP *, LDAPMessage *, void *), void *arg, int *ldrc)
{
	struct sdir_paged q = { base, scope, filter, attrs, fn, arg, 0 };
	LDAP *ld;
	int tries, r, rc = LDAP_SERVER_DOWN;

	*ldrc = LDAP_OTHER;
	for (tries = 0; tries < 2; tries++) {
		if ((r = mfad_dir_handle(d, &ld)) != 0) {
			mfad_log_limited(&sd->down_limit, LOG_ERR,
			    "directory: paged read of %s: %s; failing closed",
			    base, r == MSS_ERR_CONFIG ? "no provider accepts "
			    "the bind (password file or DN)" :
			    "no provider answers");
			return MSS_ERR_UNAVAIL;
		}
		/* What fn was given is of the search that failed. */
		if (tries > 0 && (q.fn_r = fn(NULL, NULL, arg)) != 0)
			return q.fn_r;
		rc = sdir_paged_run(ld, &q, d->p.op_timeout_ms);
		if (q.fn_r != 0)
			return q.fn_r;
		if (mfad_dir_lost(d, rc))
			continue;
		sdir_answered(sd, d);
		if (rc == LDAP_UNAVAILABLE_CRITICAL_EXTENSION)
			mfad_log_limited(&sd->down_limit, LOG_ERR,
			    "directory: %s refuses paged results (RFC 2696) "
			    "for the search under %s", d->p.uris[d->cur],
			    base);
		else if (rc == LDAP_SIZELIMIT_EXCEEDED)
			mfad_log_limited(&sd->down_limit, LOG_ERR,
			    "directory: paged read of %s: size limit "
			    "exceeded; the hosts' bind DNs need slapd's "
			    "size.prtotal=unlimited (conf/ldap/README, "
			    "\"Size limit\")", base);
		*ldrc = rc;
		return 0;
	}
	mfad_log_limited(&sd->down_limit, LOG_ERR, "directory: paged read "
	    "of %s: connection lost twice (%s); failing closed", base,
	    ldap_err2string(rc));
	return MSS_ERR_UNAVAIL;
}

int
mfad_sdir_refused(struct mfad_sdir *sd, const char *what, const char *dn,
    int ldrc)
{
	int r = mfad_dir_err(ldrc);

	mfad_log_limited(&sd->down_limit, LOG_ERR, "directory: %s of %s: %s",
	    what, dn, ldap_err2string(ldrc));
	if (r == 0 || r == MSS_ERR_NOTFOUND || r == MSS_ERR_EXISTS)
		r = MSS_ERR_STORE;
	return r;
}

/* Characters kept as they are in a DN or filter value; any other is
 * written \XX, which both RFC 4514 and RFC 4515 accept. */
static int
sdir_plain(int c)
{
	return isalnum(c) || c == '.' || c == '_' || c == '-' || c == '@';
}

static int MSS_WUR
sdir_esc(const char *in, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t j = 0;
	const unsigned char *s;

	for (s = (const unsigned char *)in; *s != '\0'; s++) {
		if (sdir_plain(*s)) {
			if (j + 1 >= len)
				return MSS_ERR_TOOBIG;
			out[j++] = (char)*s;
		} else {
			if (j + 3 >= len)
				return MSS_ERR_TOOBIG;
			out[j++] = '\\';
			out[j++] = hex[*s >> 4];
			out[j++] = hex[*s & 15];
		}
	}
	out[j] = '\0';
	return 0;
}

int
mfad_sdir_filter_esc(const char *in, char *out, size_t len)
{
	return sdir_esc(in, out, len);
}

int
mfad_sdir_acct_dn(struct mfad_sdir *sd, const char *user, char *buf,
    size_t len)
{
	char esc[MFAD_USER_MAX * 3 + 1];
	int n;

	if (user[0] == '\0' || strlen(user) > MFAD_USER_MAX ||
	    sdir_esc(user, esc, sizeof(esc)) != 0)
		return MSS_ERR_NOTFOUND;
	n = snprintf(buf, len, "uid=%s,%s", esc, sd->base);
	if (n < 0 || (size_t)n >= len)
		return MSS_ERR_TOOBIG;
	return 0;
}

int
mfad_sdir_rdn_value(const char *dn, const char *attr, char *out, size_t len)
{
	LDAPDN parts = NULL;
	LDAPAVA *ava;
	int r = MSS_ERR_STORE;

	if (ldap_str2dn(dn, &parts, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
		return MSS_ERR_STORE;
	if (parts != NULL && parts[0] != NULL && parts[0][0] != NULL &&
	    parts[0][1] == NULL) {
		ava = parts[0][0];
		if (ava->la_attr.bv_len == strlen(attr) &&
		    strncasecmp(ava->la_attr.bv_val, attr,
		    ava->la_attr.bv_len) == 0 &&
		    (ava->la_flags & LDAP_AVA_BINARY) == 0 &&
		    ava->la_value.bv_len > 0 && ava->la_value.bv_len < len &&
		    memchr(ava->la_value.bv_val, '\0',
		    ava->la_value.bv_len) == NULL) {
			memcpy(out, ava->la_value.bv_val,
			    ava->la_value.bv_len);
			out[ava->la_value.bv_len] = '\0';
			r = 0;
		}
	}
	ldap_dnfree(parts);
	return r;
}

int
mfad_sdir_u64(const struct berval *bv, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (bv->bv_len == 0 || bv->bv_len > 20)
		return MSS_ERR_STORE;
	for (i = 0; i < bv->bv_len; i++) {
		unsigned c = (unsigned char)bv->bv_val[i];

		if (c < '0' || c > '9')
			return MSS_ERR_STORE;
		if (v > (UINT64_MAX - (c - '0')) / 10)
			return MSS_ERR_STORE;
		v = v * 10 + (c - '0');
	}
	*out = v;
	return 0;
}

struct berval **
mfad_sdir_vals(LDAP *ld, LDAPMessage *e, const char *attr, size_t *n)
{
	struct berval **v;

	v = ldap_get_values_len(ld, e, attr);
	*n = v != NULL ? (size_t)ldap_count_values_len(v) : 0;
	return v;
}

void
mfad_sdir_vals_free(struct berval **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		if (v[i]->bv_val != NULL)
			sodium_memzero(v[i]->bv_val, v[i]->bv_len);
	ldap_value_free_len(v);
}

int
mfad_sdir_time(LDAP *ld, LDAPMessage *e, const char *attr, uint64_t *out)
{
	struct berval **v;
	size_t n;
	int r = 0;

	*out = 0;
	v = mfad_sdir_vals(ld, e, attr, &n);
	if (n > 1 || (n == 1 && mfad_sdir_u64(v[0], out) != 0))
		r = MSS_ERR_STORE;
	mfad_sdir_vals_free(v);
	return r;
}

void
mfad_sdir_hex(const uint8_t *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
sdir_nibble(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
mfad_sdir_unhex(const char *in, size_t len, uint8_t *out, size_t n)
{
	size_t i;
	int hi, lo;

	if (len != 2 * n)
		return MSS_ERR_STORE;
	for (i = 0; i < n; i++) {
		if ((hi = sdir_nibble((unsigned char)in[2 * i])) < 0 ||
		    (lo = sdir_nibble((unsigned char)in[2 * i + 1])) < 0)
			return MSS_ERR_STORE;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void
mfad_sdir_mods_init(struct mfad_sdir_mods *ms)
{
	memset(ms, 0, sizeof(*ms));
}

int
mfad_sdir_mod(struct mfad_sdir_mods *ms, int op, const char *attr,
    const char *const *vals, size_t n)
{
	struct berval **bv = NULL;
	LDAPMod *m;
	size_t i;

	if (ms->n == MFAD_SDIR_MODS_MAX)
		return MSS_ERR_TOOBIG;
	if (n > 0) {
		if ((bv = calloc(n + 1, sizeof(*bv))) == NULL)
			return MSS_ERR_NOMEM;
		for (i = 0; i < n; i++) {
			if ((bv[i] = malloc(sizeof(**bv))) == NULL ||
			    (bv[i]->bv_val = strdup(vals[i])) == NULL) {
				free(bv[i]);
				bv[i] = NULL;
				mfad_sdir_vals_free_own(bv);
				return MSS_ERR_NOMEM;
			}
			bv[i]->bv_len = strlen(vals[i]);
		}
	}
	m = &ms->m[ms->n];
	m->mod_op = op | LDAP_MOD_BVALUES;
	m->mod_type = (char *)attr;
	m->mod_bvalues = bv;
	ms->p[ms->n++] = m;
	ms->p[ms->n] = NULL;
	return 0;
}

int
mfad_sdir_mod1(struct mfad_sdir_mods *ms, int op, const char *attr,
    const char *val)
{
	return mfad_sdir_mod(ms, op, attr, &val, val != NULL ? 1 : 0);
}

int
mfad_sdir_mod_time(struct mfad_sdir_mods *ms, int op, const char *attr,
    uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return mfad_sdir_mod1(ms, op, attr, v != 0 ? buf : NULL);
}

/* Values this file allocated: wiped, then freed. */
void
mfad_sdir_vals_free_own(struct berval **bv)
{
	size_t i;

	if (bv == NULL)
		return;
	for (i = 0; bv[i] != NULL; i++) {
		sodium_memzero(bv[i]->bv_val, bv[i]->bv_len);
		free(bv[i]->bv_val);
		free(bv[i]);
	}
	free(bv);
}

void
mfad_sdir_mods_free(struct mfad_sdir_mods *ms)
{
	size_t i;

	for (i = 0; i < ms->n; i++)
		mfad_sdir_vals_free_own(ms->m[i].mod_bvalues);
	memset(ms, 0, sizeof(*ms));
}
