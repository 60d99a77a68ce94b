/*
 * The empty-password path's throttle records in the directory (fleet
 * mode, doc/STORE.md): one entry mfadThrottleId=HEX,ou=mfad-throttle,
 * <base> of class mfadThrottle per record, HEX its key, a keyed hash by
 * the fleet key's throttle subkey (the same on every host; neither the
 * user nor the address shows). A send adds one mfadThrottleSend value
 * TIME_US:HOST:NONCE, never a value read and replaced, so that sends on
 * two providers at once all count (conf/ldap/README, "Concurrent
 * writes"). The entry is added by its first send, the container by the
 * first send of the fleet. Values past the window are deleted by value
 * when a send reads them; entries with none left, by the sweep.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mss_err.h"
#include "mfad_store_dir_ldap.h"

#define SDIR_THROTTLE_OU	"mfad-throttle"
#define SDIR_THROTTLE_TRIES	6	/* the value, the entry, the
					   container; one swept meanwhile */

static char *sdir_throttle_attrs[] = { "mfadThrottleSend", NULL };

/* An entry's send values as read: copies, and their times (seconds). */
struct sdir_tsends {
	char		**v;
	uint64_t	 *s;
	size_t		  n;
};

static void
sdir_tsends_free(struct sdir_tsends *ts)
{
	mfad_sdir_strv_free(ts->v, ts->n);
	free(ts->s);
	memset(ts, 0, sizeof(*ts));
}

static int MSS_WUR
sdir_throttle_ou(struct mfad_sdir *sd, char *dn, size_t len)
{
	int n;

	n = snprintf(dn, len, "ou=%s,%s", SDIR_THROTTLE_OU, sd->base);
	if (n < 0 || (size_t)n >= len)
		return MSS_ERR_TOOBIG;
	return 0;
}

static int MSS_WUR
sdir_throttle_dn(struct mfad_sdir *sd, const uint8_t key[MFAD_KEY_LEN],
    char hex[2 * MFAD_KEY_LEN + 1], char *dn, size_t len)
{
	int n;

	mfad_sdir_hex(key, MFAD_KEY_LEN, hex);
	n = snprintf(dn, len, "mfadThrottleId=%s,ou=%s,%s", hex,
	    SDIR_THROTTLE_OU, sd->base);
	if (n < 0 || (size_t)n >= len)
		return MSS_ERR_TOOBIG;
	return 0;
}

/* The send values of entry e into *ts; MSS_ERR_STORE (logged) when one
 * is malformed. */
static int MSS_WUR
sdir_tsends_parse(LDAP *ld, LDAPMessage *e, const char *dn,
    struct sdir_tsends *ts)
{
	struct berval **v;
	uint64_t us;
	size_t n, i;
	int r = 0;

	memset(ts, 0, sizeof(*ts));
	v = mfad_sdir_vals(ld, e, "mfadThrottleSend", &n);
	if (n == 0)
		goto out;
	if ((ts->v = calloc(n, sizeof(*ts->v))) == NULL ||
	    (ts->s = calloc(n, sizeof(*ts->s))) == NULL) {
		r = MSS_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (mfad_sdir_event_parse(v[i], &us) != 0) {
			mfad_log(LOG_ERR, "directory: %s: malformed "
			    "mfadThrottleSend", dn);
			r = MSS_ERR_STORE;
			goto out;
		}
		if ((ts->v[i] = strndup(v[i]->bv_val, v[i]->bv_len)) ==
		    NULL) {
			r = MSS_ERR_NOMEM;
			goto out;
		}
		ts->s[i] = us / 1000000;
		ts->n = i + 1;
	}
 out:
	mfad_sdir_vals_free(v);
	if (r != 0)
		sdir_tsends_free(ts);
	return r;
}

/* The record at dn, its values into *ts: MSS_ERR_NOTFOUND when there
 * is none (nor, before the first send, a container). */
static int MSS_WUR
sdir_throttle_read(struct mfad_sdir *sd, struct mfad_dir *d, const char *dn,
    struct sdir_tsends *ts)
{
	LDAPMessage *res = NULL, *e;
	int r, ldrc;

	memset(ts, 0, sizeof(*ts));
	if ((r = mfad_sdir_search(sd, d, dn, LDAP_SCOPE_BASE,
	    "(objectClass=mfadThrottle)", sdir_throttle_attrs, &res,
	    &ldrc)) != 0)
		return r;
	if (ldrc == LDAP_NO_SUCH_OBJECT)
		r = MSS_ERR_NOTFOUND;
	else if (ldrc != LDAP_SUCCESS)
		r = mfad_sdir_refused(sd, "throttle read", dn, ldrc);
	else if ((e = ldap_first_entry(d->ld, res)) == NULL)
		r = MSS_ERR_NOTFOUND;
	else
		r = sdir_tsends_parse(d->ld, e, dn, ts);
	ldap_msgfree(res);
	return r;
}

static int
sdir_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The sends of the last MFAD_SENDS_WINDOW before now (0: all), in
 * order, the newest MFAD_SENDS_MAX of them, as mfad_throttle_send_add
 * keeps them. */
static int MSS_WUR
sdir_throttle_rec(const struct sdir_tsends *ts, uint64_t now,
    struct mfad_throttle_rec *t)
{
	uint64_t *s;
	size_t i, n = 0, from;

	memset(t, 0, sizeof(*t));
	if (ts->n == 0)
		return 0;
	if ((s = calloc(ts->n, sizeof(*s))) == NULL)
		return MSS_ERR_NOMEM;
	for (i = 0; i < ts->n; i++)
		if (now == 0 || ts->s[i] + MFAD_SENDS_WINDOW > now)
			s[n++] = ts->s[i];
	qsort(s, n, sizeof(*s), sdir_u64_cmp);
	from = n > MFAD_SENDS_MAX ? n - MFAD_SENDS_MAX : 0;
	for (i = from; i < n; i++)
		t->sends[t->nsends++] = s[i];
	free(s);
	return 0;
}

/* Of ts, the values past the window at now (pointers into ts). */
static size_t
sdir_tsends_old(const struct sdir_tsends *ts, uint64_t now, const char **old)
{
	size_t i, n = 0;

	for (i = 0; i < ts->n; i++)
		if (ts->s[i] + MFAD_SENDS_WINDOW <= now)
			old[n++] = ts->v[i];
	return n;
}

int
mfad_sdir_throttle_get(struct mfad_sdir *sd, const uint8_t key[MFAD_KEY_LEN],
    struct mfad_throttle_rec *t)
{
	char dn[MFAD_SDIR_DN_MAX], hex[2 * MFAD_KEY_LEN + 1];
	struct sdir_tsends ts;
	struct mfad_dir *d;
	int r;

	memset(t, 0, sizeof(*t));
	if ((r = sdir_throttle_dn(sd, key, hex, dn, sizeof(dn))) != 0)
		return r;
	d = mfad_sdir_take(sd);
	if ((r = sdir_throttle_read(sd, d, dn, &ts)) == 0) {
		/* All of them, as LMDB keeps them: the rules count from
		 * their now. */
		r = sdir_throttle_rec(&ts, 0, t);
		sdir_tsends_free(&ts);
	}
	mfad_sdir_give(sd, d);
	return r;
}

/* The container, added when a first record found none; one added
 * meanwhile elsewhere is as good. */
static int MSS_WUR
sdir_throttle_ou_add(struct mfad_sdir *sd, struct mfad_dir *d)
{
	static const char *const oc[] = { "organizationalUnit" };
	char dn[MFAD_SDIR_DN_MAX];
	struct mfad_sdir_mods ms;
	int r, ldrc;

	if ((r = sdir_throttle_ou(sd, dn, sizeof(dn))) != 0)
		return r;
	mfad_sdir_mods_init(&ms);
	if ((r = mfad_sdir_mod(&ms, LDAP_MOD_ADD, "objectClass", oc,
	    1)) != 0 ||
	    (r = mfad_sdir_mod1(&ms, LDAP_MOD_ADD, "ou",
	    SDIR_THROTTLE_OU)) != 0 ||
	    (r = mfad_sdir_add(sd, d, dn, ms.p, &ldrc)) != 0)
		goto out;
	if (ldrc == LDAP_SUCCESS)
		mfad_log(LOG_NOTICE, "directory: added %s", dn);
	else if (ldrc != LDAP_ALREADY_EXISTS)
		r = mfad_sdir_refused(sd, "throttle container add", dn, ldrc);
 out:
	mfad_sdir_mods_free(&ms);
	return r;
}

/*
 * Adds val to the record at dn, a value added to the entry. A missing
 * entry is added (its container too, the first time), then the value:
 * never the entry with its value, because the two providers may both
 * add it, and replication turns the add that lost into a replace of the
 * attributes it carries, which would take the other host's values.
 */
static int MSS_WUR
sdir_throttle_add_val(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *dn, const char *hex, const char *val)
{
	static const char *const oc[] = { "mfadThrottle" };
	struct mfad_sdir_mods mv, me;
	int r, ldrc = LDAP_OTHER, tries;

	mfad_sdir_mods_init(&mv);
	mfad_sdir_mods_init(&me);
	if ((r = mfad_sdir_mod1(&mv, LDAP_MOD_ADD, "mfadThrottleSend",
	    val)) != 0 ||
	    (r = mfad_sdir_mod(&me, LDAP_MOD_ADD, "objectClass", oc, 1)) != 0 ||
	    (r = mfad_sdir_mod1(&me, LDAP_MOD_ADD, "mfadThrottleId",
	    hex)) != 0)
		goto out;
	for (tries = 0; tries < SDIR_THROTTLE_TRIES; tries++) {
		if ((r = mfad_sdir_modify(sd, d, dn, mv.p, &ldrc)) != 0)
			goto out;
		/* An existing value: a try whose answer was lost. */
		if (ldrc == LDAP_SUCCESS || ldrc == LDAP_TYPE_OR_VALUE_EXISTS)
			goto out;
		if (ldrc != LDAP_NO_SUCH_OBJECT)
			break;
		if ((r = mfad_sdir_add(sd, d, dn, me.p, &ldrc)) != 0)
			goto out;
		if (ldrc == LDAP_NO_SUCH_OBJECT) {
			if ((r = sdir_throttle_ou_add(sd, d)) != 0)
				goto out;
		} else if (ldrc != LDAP_SUCCESS &&
		    ldrc != LDAP_ALREADY_EXISTS)
			break;
	}
	r = mfad_sdir_refused(sd, "throttle send", dn, ldrc);
 out:
	mfad_sdir_mods_free(&mv);
	mfad_sdir_mods_free(&me);
	return r;
}

/* Deletes the values old of the entry at dn, by value: one another
 * host deleted first leaves them to a later send or the sweep. */
static int MSS_WUR
sdir_throttle_prune(struct mfad_sdir *sd, struct mfad_dir *d, const char *dn,
    const char *const *old, size_t nold)
{
	struct mfad_sdir_mods ms;
	int r, ldrc;

	mfad_sdir_mods_init(&ms);
	if ((r = mfad_sdir_mod(&ms, LDAP_MOD_DELETE, "mfadThrottleSend", old,
	    nold)) == 0 && (r = mfad_sdir_modify(sd, d, dn, ms.p,
	    &ldrc)) == 0 && ldrc != LDAP_SUCCESS &&
	    ldrc != LDAP_NO_SUCH_ATTRIBUTE && ldrc != LDAP_NO_SUCH_OBJECT)
		r = mfad_sdir_refused(sd, "throttle prune", dn, ldrc);
	mfad_sdir_mods_free(&ms);
	return r;
}

int
mfad_sdir_throttle_send_add(struct mfad_sdir *sd,
    const uint8_t key[MFAD_KEY_LEN], uint64_t now, struct mfad_throttle_rec *t)
{
	char dn[MFAD_SDIR_DN_MAX], hex[2 * MFAD_KEY_LEN + 1];
	char val[MFAD_SDIR_EVENT_MAX + 1];
	const char **old = NULL;
	struct mfad_throttle_rec cur;
	struct sdir_tsends ts;
	struct mfad_dir *d;
	size_t nold;
	int r;

	memset(&ts, 0, sizeof(ts));
	if ((r = sdir_throttle_dn(sd, key, hex, dn, sizeof(dn))) != 0)
		return r;
	mfad_sdir_event_new(sd, now, val, sizeof(val));
	d = mfad_sdir_take(sd);
	/* The send first (the guard), then the old ones pruned. */
	if ((r = sdir_throttle_add_val(sd, d, dn, hex, val)) != 0 ||
	    (r = sdir_throttle_read(sd, d, dn, &ts)) != 0)
		goto out;
	if (ts.n > 0 && (old = calloc(ts.n, sizeof(*old))) == NULL) {
		r = MSS_ERR_NOMEM;
		goto out;
	}
	if ((nold = sdir_tsends_old(&ts, now, old)) > 0 &&
	    (r = sdir_throttle_prune(sd, d, dn, old, nold)) != 0)
		goto out;
	if ((r = sdir_throttle_rec(&ts, now, &cur)) == 0 && t != NULL)
		*t = cur;
 out:
	mfad_sdir_give(sd, d);
	sdir_tsends_free(&ts);
	free(old);
	return r;
}

/* An entry the sweep looked at: gone whole, or its old values only. */
struct sdir_tsweep {
	char		 *dn;
	struct sdir_tsends ts;
};

static void
sdir_tsweep_free(struct sdir_tsweep *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(w[i].dn);
		sdir_tsends_free(&w[i].ts);
	}
	free(w);
}

/* The records read so far by a paged search. */
struct sdir_tlist {
	struct sdir_tsweep	*w;
	size_t			 n, cap;
};

/* One record of a page into the list; a malformed one is left alone
 * (logged). fn(NULL, NULL): the search starts again, drop the list. */
static int
sdir_throttle_add(LDAP *ld, LDAPMessage *e, void *arg)
{
	struct sdir_tlist *l = arg;
	struct sdir_tsweep *nw;
	char *edn;
	int r;

	if (e == NULL) {
		sdir_tsweep_free(l->w, l->n);
		memset(l, 0, sizeof(*l));
		return 0;
	}
	if (l->n == l->cap) {
		if ((nw = reallocarray(l->w, l->cap ? l->cap * 2 : 64,
		    sizeof(*nw))) == NULL)
			return MSS_ERR_NOMEM;
		l->w = nw;
		l->cap = l->cap ? l->cap * 2 : 64;
	}
	if ((edn = ldap_get_dn(ld, e)) == NULL)
		return 0;
	r = sdir_tsends_parse(ld, e, edn, &l->w[l->n].ts);
	if (r == 0 && (l->w[l->n].dn = strdup(edn)) == NULL) {
		sdir_tsends_free(&l->w[l->n].ts);
		r = MSS_ERR_NOMEM;
	}
	ldap_memfree(edn);
	if (r == 0)
		l->n++;
	return r == MSS_ERR_NOMEM ? r : 0;
}

/*
 * The records under the container into *out (*n of them), read before
 * anything is written (a write may replace d's connection), in pages:
 * past slapd's size limit as the account list is (the hosts'
 * size.prtotal of conf/ldap/mfad-acl.conf).
 */
static int MSS_WUR
sdir_throttle_list(struct mfad_sdir *sd, struct mfad_dir *d,
    struct sdir_tsweep **out, size_t *n)
{
	char ou[MFAD_SDIR_DN_MAX];
	struct sdir_tlist l = { NULL, 0, 0 };
	int r, ldrc;

	*out = NULL;
	*n = 0;
	if ((r = sdir_throttle_ou(sd, ou, sizeof(ou))) != 0)
		return r;
	r = mfad_sdir_search_paged(sd, d, ou, LDAP_SCOPE_ONELEVEL,
	    "(objectClass=mfadThrottle)", sdir_throttle_attrs,
	    sdir_throttle_add, &l, &ldrc);
	/* No container: no send yet in the fleet. */
	if (r == 0 && ldrc != LDAP_SUCCESS && ldrc != LDAP_NO_SUCH_OBJECT)
		r = mfad_sdir_refused(sd, "throttle sweep", ou, ldrc);
	if (r != 0 || ldrc != LDAP_SUCCESS) {
		sdir_tsweep_free(l.w, l.n);
		return r;
	}
	*out = l.w;
	*n = l.n;
	return 0;
}

int
mfad_sdir_throttle_sweep(struct mfad_sdir *sd, uint64_t now, unsigned *n)
{
	struct sdir_tsweep *w = NULL;
	struct mfad_dir *d;
	const char **old = NULL;
	size_t nw = 0, i, nold;
	int r, ldrc;

	*n = 0;
	d = mfad_sdir_take(sd);
	if ((r = sdir_throttle_list(sd, d, &w, &nw)) != 0)
		goto out;
	for (i = 0; i < nw; i++) {
		free(old);
		if ((old = calloc(w[i].ts.n + 1, sizeof(*old))) == NULL) {
			r = MSS_ERR_NOMEM;
			break;
		}
		nold = sdir_tsends_old(&w[i].ts, now, old);
		if (nold < w[i].ts.n) {
			if (nold > 0 && (r = sdir_throttle_prune(sd, d,
			    w[i].dn, old, nold)) != 0)
				break;
			continue;
		}
		/*
		 * Nothing within the window: the record limits nothing. A
		 * send added at this moment on the other provider may go
		 * with it: one send uncounted, at worst.
		 */
		if ((r = mfad_sdir_delete(sd, d, w[i].dn, &ldrc)) != 0)
			break;
		if (ldrc == LDAP_SUCCESS)
			(*n)++;
		else if (ldrc != LDAP_NO_SUCH_OBJECT) {
			r = mfad_sdir_refused(sd, "throttle sweep", w[i].dn,
			    ldrc);
			break;
		}
	}
 out:
	mfad_sdir_give(sd, d);
	sdir_tsweep_free(w, nw);
	free(old);
	return r;
}
