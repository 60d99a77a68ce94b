/*
 * Many accounts at once in the directory (an import's rows, doc/STORE.md
 * "The directory backend"): one search for up to MFAD_SDIR_BATCH names
 * or addresses (an OR of escaped assertions), and writes sent on one
 * connection without waiting for each answer, up to MFAD_SDIR_WINDOW of
 * them in flight, each result matched to its row by message id. A row
 * costs a share of a few round trips instead of six of its own.
 *
 * A lost connection: the rows whose writes answered are known; the others
 * are written again once, from their first step, on a new connection
 * (each write is harmless to run twice: replaces, and an added class
 * that is there counts as done), and when that one is lost too their
 * rows get MSS_ERR_UNAVAIL, never success.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "mss_err.h"
#include "mfad_clock.h"
#include "mfad_store_dir_ldap.h"
#include "mfad_str.h"

/* An assertion value escaped: at most three bytes for one. */
#define SDIR_ESC_MAX(len)	((len) * 3 + 1)

/*
 * The filter "(|(ATTR=V1)(ATTR=V2)...)" of vals[from..to) that are not
 * NULL, inside "(&PRE...)" when pre is not NULL; *out is malloc'd, NULL
 * when no value is left.
 */
static int MSS_WUR
sdir_or_filter(const char *pre, const char *attr, const char *const *vals,
    size_t from, size_t to, char **out)
{
	char *f, esc[SDIR_ESC_MAX(MFAD_EMAIL_MAX)];
	size_t i, len = 16 + (pre != NULL ? strlen(pre) : 0), off, any = 0;

	*out = NULL;
	for (i = from; i < to; i++)
		if (vals[i] != NULL) {
			len += strlen(attr) + 3 + SDIR_ESC_MAX(strlen(vals[i]));
			any++;
		}
	if (any == 0)
		return 0;
	if ((f = malloc(len)) == NULL)
		return MSS_ERR_NOMEM;
	off = (size_t)snprintf(f, len, "%s%s(|", pre != NULL ? "(&" : "",
	    pre != NULL ? pre : "");
	for (i = from; i < to; i++) {
		if (vals[i] == NULL)
			continue;
		if (strlen(vals[i]) > MFAD_EMAIL_MAX ||
		    mfad_sdir_filter_esc(vals[i], esc, sizeof(esc)) != 0) {
			free(f);
			return MSS_ERR_INVAL;
		}
		off += (size_t)snprintf(f + off, len - off, "(%s=%s)", attr,
		    esc);
	}
	snprintf(f + off, len - off, ")%s", pre != NULL ? ")" : "");
	*out = f;
	return 0;
}

/* One search of the accounts whose attr is one of vals[from, to) (and
 * pre): *res NULL when none of them can be asked for. */
static int MSS_WUR
sdir_chunk_search(struct mfad_sdir *sd, struct mfad_dir *d, const char *pre,
    const char *attr, const char *const *vals, size_t from, size_t to,
    char **attrs, const char *what, LDAPMessage **res)
{
	char *filter = NULL;
	int r, ldrc;

	*res = NULL;
	if ((r = sdir_or_filter(pre, attr, vals, from, to, &filter)) != 0 ||
	    filter == NULL)
		return r;
	r = mfad_sdir_search(sd, d, sd->base, LDAP_SCOPE_ONELEVEL, filter,
	    attrs, res, &ldrc);
	free(filter);
	if (r == 0 && ldrc != LDAP_SUCCESS)
		r = mfad_sdir_refused(sd, what, sd->base, ldrc);
	return r;
}

/* The uid of entry e's RDN into uid; MSS_ERR_STORE (logged) when the
 * entry is not named by uid. */
static int MSS_WUR
sdir_entry_uid(LDAP *ld, LDAPMessage *e, char *uid, size_t len)
{
	char *edn;
	int r;

	if ((edn = ldap_get_dn(ld, e)) == NULL)
		return MSS_ERR_NOMEM;
	if ((r = mfad_sdir_rdn_value(edn, "uid", uid, len)) != 0) {
		mfad_log(LOG_ERR, "directory: %s: not named by uid", edn);
		r = MSS_ERR_STORE;
	}
	ldap_memfree(edn);
	return r;
}

/* Whether e has mfadAccount and no mfadState at all: what a put leaves
 * when its connection is lost between its two modifies. */
static int
sdir_half_written(LDAP *ld, LDAPMessage *e)
{
	struct berval **v;
	size_t n, i;
	int cls = 0;

	v = mfad_sdir_vals(ld, e, "objectClass", &n);
	for (i = 0; i < n; i++)
		if (v[i]->bv_len == strlen("mfadAccount") &&
		    strncasecmp(v[i]->bv_val, "mfadAccount",
		    v[i]->bv_len) == 0)
			cls = 1;
	mfad_sdir_vals_free(v);
	if (!cls)
		return 0;
	v = mfad_sdir_vals(ld, e, "mfadState", &n);
	mfad_sdir_vals_free(v);
	return n == 0;
}

/*
 * Reads the accounts of users into a[i] and raw[i], rc[i] as
 * mfad_sdir_acct_read's: 0, or MSS_ERR_NOTFOUND with raw[i].exists when
 * the person is there without mfadAccount, or with it and without
 * mfadState (a write cut short, which put_many completes). raw keeps the person's
 * fields only (its event values are freed). The return: 0, or an error
 * of the whole read (the rows then hold nothing to wipe).
 */
static int MSS_WUR
sdir_read_many(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *const *users, size_t n, struct mfad_acct *const *a,
    struct mfad_sdir_raw *raw, int *rc)
{
	char dn[MFAD_SDIR_DN_MAX], uid[MFAD_USER_MAX + 1];
	const char **valid = NULL;
	LDAPMessage *res = NULL, *e;
	uint64_t now = mfad_clock_real_s();
	size_t i, j, c;
	int r = 0, half;

	if (n == 0)
		return 0;
	if ((valid = calloc(n, sizeof(*valid))) == NULL)
		return MSS_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		memset(&raw[i], 0, sizeof(raw[i]));
		memset(a[i], 0, sizeof(*a[i]));
		rc[i] = MSS_ERR_NOTFOUND;
		/* A name that cannot be an account's is none, as get says. */
		if (mfad_sdir_acct_dn(sd, users[i], dn, sizeof(dn)) == 0)
			valid[i] = users[i];
	}
	for (c = 0; r == 0 && c < n; c += MFAD_SDIR_BATCH) {
		size_t to = c + MFAD_SDIR_BATCH < n ? c + MFAD_SDIR_BATCH : n;

		if ((r = sdir_chunk_search(sd, d, NULL, "uid", valid, c, to,
		    mfad_sdir_acct_attrs, "account search", &res)) != 0)
			break;
		if (res == NULL)
			continue;
		for (e = ldap_first_entry(d->ld, res); r == 0 && e != NULL;
		    e = ldap_next_entry(d->ld, e)) {
			if ((r = sdir_entry_uid(d->ld, e, uid,
			    sizeof(uid))) != 0)
				break;
			/* The name exactly: uid matches without case. */
			for (j = c; j < to; j++)
				if (valid[j] != NULL &&
				    strcmp(valid[j], uid) == 0 &&
				    !raw[j].exists)
					break;
			if (j == to)
				continue;
			if ((r = mfad_sdir_acct_dn(sd, users[j], dn,
			    sizeof(dn))) != 0)
				break;
			half = sdir_half_written(d->ld, e);
			r = mfad_sdir_acct_parse(sd, d->ld, e, dn, users[j],
			    now, a[j], &raw[j]);
			if (half && raw[j].exists) {
				/* A put cut short between the class and the
				 * fields (a lost connection): no account yet,
				 * to be written whole, the class again. */
				mfad_log(LOG_WARNING, "directory: %s: "
				    "mfadAccount without mfadState (a write "
				    "cut short): taken as no account", dn);
				mfad_acct_wipe(a[j]);
				raw[j].has_class = 0;
				raw[j].has_cur = raw[j].cur_ours = 0;
				r = MSS_ERR_NOTFOUND;
			}
			if (r == 0 || r == MSS_ERR_NOTFOUND) {
				rc[j] = r;
				r = 0;
			}
			/* The person's fields stay for put; the rest goes. */
			mfad_sdir_strv_free(raw[j].fail, raw[j].nfail);
			mfad_sdir_strv_free(raw[j].send, raw[j].nsend);
			free(raw[j].send_s);
			raw[j].fail = raw[j].send = NULL;
			raw[j].send_s = NULL;
			raw[j].nfail = raw[j].nsend = 0;
		}
		ldap_msgfree(res);
		res = NULL;
	}
	free(valid);
	if (r != 0)
		for (i = 0; i < n; i++) {
			mfad_acct_wipe(a[i]);
			rc[i] = r;
		}
	return r;
}

/* s with its leading and trailing spaces gone, each run of spaces made
 * one and ASCII letters in lower case, into out (len bytes). */
static void
sdir_ia5_norm(const char *s, char *out, size_t len)
{
	size_t o = 0;

	while (*s == ' ')
		s++;
	for (; *s != '\0' && o + 1 < len; s++) {
		if (*s == ' ' && (s[1] == ' ' || s[1] == '\0'))
			continue;
		out[o++] = *s >= 'A' && *s <= 'Z' ? (char)(*s | 0x20) : *s;
	}
	out[o] = '\0';
}

/* Whether two addresses are the same to the directory's mail equality
 * (caseIgnoreIA5Match: case, and runs of spaces, ignored). */
static int
sdir_ia5_eq(const char *x, const char *y)
{
	char nx[MFAD_EMAIL_MAX + 2], ny[MFAD_EMAIL_MAX + 2];

	if (strlen(x) > MFAD_EMAIL_MAX || strlen(y) > MFAD_EMAIL_MAX)
		return 0;
	sdir_ia5_norm(x, nx, sizeof(nx));
	sdir_ia5_norm(y, ny, sizeof(ny));
	return strcmp(nx, ny) == 0;
}

/*
 * The account (by its uid) owning each address emails[i] (NULL: none
 * asked), other than excl[i] when excl is not NULL: owner[i] and rc[i]
 * 0, or rc[i] MSS_ERR_NOTFOUND. Two accounts with one address are
 * refused as one lookup refuses them.
 */
static int MSS_WUR
sdir_owners_many(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *const *emails, const char *const *excl, size_t n,
    char (*owner)[MFAD_USER_MAX + 1], int *rc)
{
	char *attrs[] = { "mail", NULL }, uid[MFAD_USER_MAX + 1];
	char val[MFAD_EMAIL_MAX + 1];
	const char **ask;
	struct berval **v;
	LDAPMessage *res = NULL, *e;
	size_t i, j, k, c, nv;
	int r = 0;

	if (n == 0)
		return 0;
	/* An address no account can have (empty, too long) has no owner,
	 * as one lookup answers. */
	if ((ask = calloc(n, sizeof(*ask))) == NULL)
		return MSS_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		rc[i] = MSS_ERR_NOTFOUND;
		owner[i][0] = '\0';
		if (emails[i] != NULL && emails[i][0] != '\0' &&
		    strlen(emails[i]) <= MFAD_EMAIL_MAX)
			ask[i] = emails[i];
	}
	for (c = 0; r == 0 && c < n; c += MFAD_SDIR_BATCH) {
		size_t to = c + MFAD_SDIR_BATCH < n ? c + MFAD_SDIR_BATCH : n;

		if ((r = sdir_chunk_search(sd, d, "(objectClass=mfadAccount)",
		    "mail", ask, c, to, attrs, "address lookup", &res)) != 0)
			break;
		if (res == NULL)
			continue;
		for (e = ldap_first_entry(d->ld, res); r == 0 && e != NULL;
		    e = ldap_next_entry(d->ld, e)) {
			if ((r = sdir_entry_uid(d->ld, e, uid,
			    sizeof(uid))) != 0)
				break;
			v = mfad_sdir_vals(d->ld, e, "mail", &nv);
			for (j = c; r == 0 && j < to; j++) {
				if (ask[j] == NULL || (excl != NULL &&
				    excl[j] != NULL &&
				    strcasecmp(uid, excl[j]) == 0))
					continue;
				for (k = 0; k < nv; k++) {
					if (v[k]->bv_len > MFAD_EMAIL_MAX ||
					    memchr(v[k]->bv_val, '\0',
					    v[k]->bv_len) != NULL)
						continue;
					memcpy(val, v[k]->bv_val,
					    v[k]->bv_len);
					val[v[k]->bv_len] = '\0';
					if (sdir_ia5_eq(val, emails[j]))
						break;
				}
				if (k == nv)
					continue;
				if (rc[j] == 0 && strcmp(owner[j], uid) != 0) {
					/* Two providers can each accept one
					 * address within the replication
					 * delay: refuse to guess. */
					mfad_log(LOG_ERR, "directory: address "
					    "%s belongs to several accounts "
					    "(%s, %s...)", emails[j], owner[j],
					    uid);
					r = MSS_ERR_STORE;
					break;
				}
				mfad_str_copy(owner[j], sizeof(owner[j]), uid);
				rc[j] = 0;
			}
			mfad_sdir_vals_free(v);
		}
		ldap_msgfree(res);
		res = NULL;
	}
	free(ask);
	return r;
}

int
mfad_sdir_acct_get_many(struct mfad_sdir *sd, const char *const *users,
    size_t n, struct mfad_acct *const *a, int *rc)
{
	struct mfad_sdir_raw *raw;
	struct mfad_dir *d;
	int r;

	if ((raw = calloc(n ? n : 1, sizeof(*raw))) == NULL)
		return MSS_ERR_NOMEM;
	d = mfad_sdir_take(sd);
	r = sdir_read_many(sd, d, users, n, a, raw, rc);
	mfad_sdir_give(sd, d);
	free(raw);
	return r;
}

int
mfad_sdir_acct_by_email_many(struct mfad_sdir *sd, const char *const *emails,
    size_t n, char (*owner)[MFAD_USER_MAX + 1], int *rc)
{
	struct mfad_dir *d;
	int r;

	d = mfad_sdir_take(sd);
	r = sdir_owners_many(sd, d, emails, NULL, n, owner, rc);
	mfad_sdir_give(sd, d);
	return r;
}

/*
 * The writes of one row: up to two modifies of dn, the second sent when
 * the first succeeded (the class, then the fields: another host reading
 * the entry in between finds an account without its state, so the
 * second follows its own first at once, not the whole batch's firsts).
 */
struct sdir_wop {
	const char	*dn;
	LDAPMod		**mods[2];	/* NULL: no such step */
	int		 step;		/* the one in flight or next */
	int		 msgid;		/* in flight on the connection */
	int		 sent, done;
	int		 ldrc;		/* the result of step, once done */
};

/* The first step of w to send, or 2 when it has none. */
static int
sdir_wop_first(const struct sdir_wop *w)
{
	return w->mods[0] != NULL ? 0 : w->mods[1] != NULL ? 1 : 2;
}

/*
 * Sends the modifies of w on d, at most MFAD_SDIR_WINDOW of them in
 * flight, and collects each result by message id: a row is done at its
 * last step's result, or at a first step's refusal (an added class that
 * is there counts as added). 0 when every row is done (ldrc and step
 * say how, the caller's to judge); MSS_ERR_UNAVAIL (logged) when the
 * connection was lost twice, the rows not done then having no result
 * (done 0): they may or may not have been written.
 */
static int MSS_WUR
sdir_write_many(struct mfad_sdir *sd, struct mfad_dir *d, struct sdir_wop *w,
    size_t n)
{
	struct timeval tv;
	LDAPMessage *msg;
	LDAP *ld;
	size_t i, inflight, left;
	int tries, r, rc = LDAP_SERVER_DOWN, id, err;

	for (i = 0; i < n; i++)
		w[i].done = sdir_wop_first(&w[i]) == 2;
	for (tries = 0; tries < 2; tries++) {
		/* A row not done starts again from its first step: the new
		 * connection may be to another provider, which the class
		 * added on the first has not reached yet. */
		for (i = 0, left = 0; i < n; i++) {
			w[i].sent = 0;
			if (!w[i].done) {
				w[i].step = sdir_wop_first(&w[i]);
				left++;
			}
		}
		if (left == 0)
			return 0;
		if ((r = mfad_dir_handle(d, &ld)) != 0) {
			mfad_log_limited(&sd->down_limit, LOG_ERR,
			    "directory: batch of %zu writes: %s; failing "
			    "closed", left, r == MSS_ERR_CONFIG ? "no "
			    "provider accepts the bind (password file or DN)" :
			    "no provider answers");
			return MSS_ERR_UNAVAIL;
		}
		inflight = 0;
		rc = LDAP_SUCCESS;
		while (left > 0) {
			for (i = 0; i < n && inflight < MFAD_SDIR_WINDOW;
			    i++) {
				if (w[i].done || w[i].sent)
					continue;
				rc = ldap_modify_ext(ld, w[i].dn,
				    w[i].mods[w[i].step], NULL, NULL,
				    &w[i].msgid);
				if (rc != LDAP_SUCCESS)
					break;
				w[i].sent = 1;
				inflight++;
			}
			if (rc != LDAP_SUCCESS)
				break;
			tv.tv_sec = d->p.op_timeout_ms / 1000;
			tv.tv_usec = (d->p.op_timeout_ms % 1000) * 1000;
			msg = NULL;
			id = ldap_result(ld, LDAP_RES_ANY, LDAP_MSG_ALL, &tv,
			    &msg);
			if (id <= 0) {
				if (id == 0)
					rc = LDAP_TIMEOUT;
				else if (ldap_get_option(ld,
				    LDAP_OPT_RESULT_CODE, &rc) !=
				    LDAP_OPT_SUCCESS || rc == LDAP_SUCCESS)
					rc = LDAP_SERVER_DOWN;
				if (msg != NULL)
					ldap_msgfree(msg);
				break;
			}
			id = ldap_msgid(msg);
			for (i = 0; i < n; i++)
				if (w[i].sent && !w[i].done &&
				    w[i].msgid == id)
					break;
			if (i == n) {
				ldap_msgfree(msg);	/* not one of ours */
				continue;
			}
			if (ldap_parse_result(ld, msg, &err, NULL, NULL,
			    NULL, NULL, 1) != LDAP_SUCCESS)
				err = LDAP_SERVER_DOWN;
			if (err == LDAP_SERVER_DOWN ||
			    err == LDAP_UNAVAILABLE || err == LDAP_BUSY) {
				rc = err;
				break;
			}
			inflight--;
			w[i].sent = 0;
			if (w[i].step == 0 && w[i].mods[1] != NULL &&
			    (err == LDAP_SUCCESS ||
			    err == LDAP_TYPE_OR_VALUE_EXISTS)) {
				w[i].step = 1;
				continue;
			}
			w[i].done = 1;
			w[i].ldrc = err;
			left--;
		}
		if (left == 0)
			return 0;
		/* Those without a result go again on a new connection. */
		if (!mfad_dir_lost(d, rc))
			(void)mfad_dir_lost(d, LDAP_SERVER_DOWN);
	}
	mfad_log_limited(&sd->down_limit, LOG_ERR, "directory: batch of "
	    "writes: connection lost twice (%s); failing closed",
	    ldap_err2string(rc));
	return MSS_ERR_UNAVAIL;
}

/*
 * put of each a[i] as mfad_sdir_acct_put's, for all rows together: the
 * entries read, the addresses that change looked up, then the writes:
 * for each row the class where it is missing (its own modify: the
 * access rules let the hosts write mfad's attributes only on entries
 * that already have it), then the fields. rc[i] gets row i's result.
 * The return: 0, or the error that left rows without a result (their rc
 * is that error).
 */
int
mfad_sdir_acct_put_many(struct mfad_sdir *sd,
    const struct mfad_acct *const *a, const struct mfad_acct *const *before,
    size_t n, int *rc)
{
	struct mfad_acct **cur = NULL;
	struct mfad_sdir_raw *raw = NULL;
	struct mfad_sdir_mods *ms = NULL, *ms0 = NULL;
	struct sdir_wop *w = NULL;
	char (*dn)[MFAD_SDIR_DN_MAX] = NULL;
	char (*owner)[MFAD_USER_MAX + 1] = NULL;
	const char **users = NULL, **emails = NULL, **excl = NULL;
	int *orc = NULL, r = MSS_ERR_NOMEM;
	struct mfad_dir *d = NULL;
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		rc[i] = MSS_ERR_NOMEM;
	if ((cur = calloc(n, sizeof(*cur))) == NULL ||
	    (raw = calloc(n, sizeof(*raw))) == NULL ||
	    (ms = calloc(n, sizeof(*ms))) == NULL ||
	    (ms0 = calloc(n, sizeof(*ms0))) == NULL ||
	    (w = calloc(n, sizeof(*w))) == NULL ||
	    (dn = calloc(n, sizeof(*dn))) == NULL ||
	    (owner = calloc(n, sizeof(*owner))) == NULL ||
	    (users = calloc(n, sizeof(*users))) == NULL ||
	    (emails = calloc(n, sizeof(*emails))) == NULL ||
	    (excl = calloc(n, sizeof(*excl))) == NULL ||
	    (orc = calloc(n, sizeof(*orc))) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		mfad_sdir_mods_init(&ms[i]);
		mfad_sdir_mods_init(&ms0[i]);
		if ((cur[i] = malloc(sizeof(**cur))) == NULL)
			goto out;
		users[i] = a[i]->user;
	}
	d = mfad_sdir_take(sd);
	if ((r = sdir_read_many(sd, d, users, n, cur, raw, rc)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		mfad_acct_wipe(cur[i]);
		if (rc[i] == MSS_ERR_NOTFOUND && raw[i].exists)
			rc[i] = 0;
		else if (rc[i] != 0)
			continue;
		if ((rc[i] = mfad_sdir_acct_dn(sd, a[i]->user, dn[i],
		    sizeof(dn[i]))) != 0)
			continue;
		/* One account per address: looked up when it changes (or
		 * the person becomes an account). */
		if (!raw[i].has_class ||
		    strcasecmp(raw[i].mail, a[i]->email) != 0) {
			emails[i] = a[i]->email;
			excl[i] = a[i]->user;
		}
	}
	if ((r = sdir_owners_many(sd, d, emails, excl, n, owner, orc)) != 0) {
		for (i = 0; i < n; i++)
			rc[i] = r;
		goto out;
	}
	for (i = 0; i < n; i++)
		if (rc[i] == 0 && emails[i] != NULL && orc[i] == 0)
			rc[i] = MSS_ERR_EXISTS;
	for (i = 0; i < n; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].dn = dn[i];
		if (rc[i] != 0)
			continue;
		if (!raw[i].has_class) {
			if ((rc[i] = mfad_sdir_mod1(&ms0[i], LDAP_MOD_ADD,
			    "objectClass", "mfadAccount")) != 0)
				continue;
			w[i].mods[0] = ms0[i].p;
		}
		if ((rc[i] = mfad_sdir_acct_put_mods(sd, a[i], before != NULL ?
		    before[i] : NULL, &raw[i], &ms[i])) != 0) {
			w[i].mods[0] = NULL;
			continue;
		}
		if (ms[i].n > 0)
			w[i].mods[1] = ms[i].p;
	}
	r = sdir_write_many(sd, d, w, n);
	for (i = 0; i < n; i++) {
		if (w[i].mods[0] == NULL && w[i].mods[1] == NULL)
			continue;
		if (!w[i].done)
			rc[i] = r != 0 ? r : MSS_ERR_UNAVAIL;
		else if (w[i].ldrc == LDAP_NO_SUCH_OBJECT)
			rc[i] = MSS_ERR_NOTFOUND;
		else if (w[i].ldrc != LDAP_SUCCESS &&
		    !(w[i].step == 0 &&
		    w[i].ldrc == LDAP_TYPE_OR_VALUE_EXISTS))
			rc[i] = mfad_sdir_refused(sd, w[i].step == 0 ?
			    "adding mfadAccount" : "account write",
			    dn[i], w[i].ldrc);
	}
	if (r != 0)
		goto out;
	r = 0;
 out:
	mfad_sdir_acct_seen_clear();
	if (d != NULL)
		mfad_sdir_give(sd, d);
	for (i = 0; cur != NULL && i < n; i++) {
		if (cur[i] != NULL) {
			mfad_acct_wipe(cur[i]);
			free(cur[i]);
		}
		if (ms != NULL)
			mfad_sdir_mods_free(&ms[i]);
		if (ms0 != NULL)
			mfad_sdir_mods_free(&ms0[i]);
		if (raw != NULL)
			mfad_sdir_raw_free(&raw[i]);
	}
	free(cur);
	free(raw);
	free(ms);
	free(ms0);
	free(w);
	free(dn);
	free(owner);
	free(users);
	free(emails);
	free(excl);
	free(orc);
	return r;
}
