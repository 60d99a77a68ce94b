/*
 * The empty-password path's throttle records in the directory (fleet
 * mode, doc/STORE.md), under ou=mfad-throttle,<base>: one entry of class
 * mfadThrottle per send, named by its key and its value,
 * mfadThrottleId=HEX+mfadThrottleSend=TIME_US:HOST:NONCE. HEX is a keyed
 * hash by the fleet key's throttle subkey (the same on every host;
 * neither the user nor the address shows). A record is every entry of
 * its key. Each send adds an entry of its own, never a value to an entry
 * another host may be adding at the same moment on the other provider:
 * two adds of one name on two providers conflict, and replication drops
 * writes made around them (conf/ldap/README, "Concurrent writes"). The
 * container is added by the first send of the fleet. Sends past the
 * window are deleted when a send of their key reads them, or by the
 * sweep. An entry of the earlier layout (mfadThrottleId=HEX alone, one
 * value a send) still counts, and loses its old values by value.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mss_err.h"
#include "mfad_store_dir_ldap.h"

#define SDIR_THROTTLE_OU	"mfad-throttle"
#define SDIR_THROTTLE_TRIES	3	/* the entry, the container */

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

/* The entry of one send: its value needs no escaping in a DN (digits,
 * a host name of letters, digits, '-', '.' and '_', hex; ':'). */
static int MSS_WUR
sdir_throttle_dn(struct mfad_sdir *sd, const char *hex, const char *val,
    char *dn, size_t len)
{
	int n;

	n = snprintf(dn, len, "mfadThrottleId=%s+mfadThrottleSend=%s,ou=%s,%s",
	    hex, val, SDIR_THROTTLE_OU, sd->base);
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

/* An entry as read: its name and its send values. */
struct sdir_tent {
	char		 *dn;
	struct sdir_tsends ts;
};

static void
sdir_tents_free(struct sdir_tent *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(w[i].dn);
		sdir_tsends_free(&w[i].ts);
	}
	free(w);
}

/* The entries read so far by a paged search; strict: a malformed one
 * fails the search (a record read), else it is left alone (the sweep). */
struct sdir_tlist {
	struct sdir_tent	*w;
	size_t			 n, cap;
	int			 strict;
};

/* One entry of a page into the list; a malformed one is logged.
 * fn(NULL, NULL): the search starts again, drop the list. */
static int
sdir_tlist_add(LDAP *ld, LDAPMessage *e, void *arg)
{
	struct sdir_tlist *l = arg;
	struct sdir_tent *nw;
	char *edn;
	int r;

	if (e == NULL) {
		sdir_tents_free(l->w, l->n);
		l->w = NULL;
		l->n = l->cap = 0;
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
		return l->strict ? MSS_ERR_STORE : 0;
	r = sdir_tsends_parse(ld, e, edn, &l->w[l->n].ts);
	if (r == 0 && (l->w[l->n].dn = strdup(edn)) == NULL) {
		sdir_tsends_free(&l->w[l->n].ts);
		r = MSS_ERR_NOMEM;
	}
	ldap_memfree(edn);
	if (r == 0)
		l->n++;
	return r == MSS_ERR_NOMEM || l->strict ? r : 0;
}

/*
 * The entries of the record of key hex, or of every record when hex is
 * NULL, into *out (*n of them), read before anything is written (a
 * write may replace d's connection), in pages: past slapd's size limit
 * as the account list is (the hosts' size.prtotal of
 * conf/ldap/mfad-acl.conf).
 */
static int MSS_WUR
sdir_throttle_list(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *hex, struct sdir_tent **out, size_t *n)
{
	char ou[MFAD_SDIR_DN_MAX], filter[2 * MFAD_KEY_LEN + 64];
	struct sdir_tlist l = { NULL, 0, 0, hex != NULL };
	int r, ldrc;

	*out = NULL;
	*n = 0;
	if ((r = sdir_throttle_ou(sd, ou, sizeof(ou))) != 0)
		return r;
	/* hex is lowercase hex digits: nothing to escape. */
	if (hex != NULL)
		snprintf(filter, sizeof(filter),
		    "(&(objectClass=mfadThrottle)(mfadThrottleId=%s))", hex);
	else
		snprintf(filter, sizeof(filter), "(objectClass=mfadThrottle)");
	r = mfad_sdir_search_paged(sd, d, ou, LDAP_SCOPE_ONELEVEL, filter,
	    sdir_throttle_attrs, sdir_tlist_add, &l, &ldrc);
	/* No container: no send yet in the fleet. */
	if (r == 0 && ldrc != LDAP_SUCCESS && ldrc != LDAP_NO_SUCH_OBJECT)
		r = mfad_sdir_refused(sd, hex != NULL ? "throttle read" :
		    "throttle sweep", ou, ldrc);
	if (r != 0 || ldrc != LDAP_SUCCESS) {
		sdir_tents_free(l.w, l.n);
		return r;
	}
	*out = l.w;
	*n = l.n;
	return 0;
}

static int
sdir_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The sends of the entries w of a record within MFAD_SENDS_WINDOW
 * before now (0: all), in order, the newest MFAD_SENDS_MAX of them, as
 * mfad_throttle_send_add keeps them. */
static int MSS_WUR
sdir_throttle_rec(const struct sdir_tent *w, size_t nw, uint64_t now,
    struct mfad_throttle_rec *t)
{
	uint64_t *s;
	size_t i, j, all = 0, n = 0, from;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < nw; i++)
		all += w[i].ts.n;
	if (all == 0)
		return 0;
	if ((s = calloc(all, sizeof(*s))) == NULL)
		return MSS_ERR_NOMEM;
	for (i = 0; i < nw; i++)
		for (j = 0; j < w[i].ts.n; j++)
			if (now == 0 ||
			    w[i].ts.s[j] + MFAD_SENDS_WINDOW > now)
				s[n++] = w[i].ts.s[j];
	qsort(s, n, sizeof(*s), sdir_u64_cmp);
	from = n > MFAD_SENDS_MAX ? n - MFAD_SENDS_MAX : 0;
	for (i = from; i < n; i++)
		t->sends[t->nsends++] = s[i];
	free(s);
	return 0;
}

int
mfad_sdir_throttle_get(struct mfad_sdir *sd, const uint8_t key[MFAD_KEY_LEN],
    struct mfad_throttle_rec *t)
{
	char hex[2 * MFAD_KEY_LEN + 1];
	struct sdir_tent *w = NULL;
	struct mfad_dir *d;
	size_t nw = 0;
	int r;

	memset(t, 0, sizeof(*t));
	mfad_sdir_hex(key, MFAD_KEY_LEN, hex);
	d = mfad_sdir_take(sd);
	if ((r = sdir_throttle_list(sd, d, hex, &w, &nw)) == 0) {
		/* All of them, as LMDB keeps them: the rules count from
		 * their now. */
		r = nw == 0 ? MSS_ERR_NOTFOUND :
		    sdir_throttle_rec(w, nw, 0, t);
	}
	mfad_sdir_give(sd, d);
	sdir_tents_free(w, nw);
	return r;
}

/* The container, added when a first send found none; one added
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

/* Adds the entry of one send (the container too, the first time). An
 * entry already there is a try whose answer was lost: its name holds a
 * nonce. */
static int MSS_WUR
sdir_throttle_add_send(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *hex, const char *val)
{
	static const char *const oc[] = { "mfadThrottle" };
	char dn[MFAD_SDIR_DN_MAX];
	struct mfad_sdir_mods me;
	int r, ldrc = LDAP_OTHER, tries;

	if ((r = sdir_throttle_dn(sd, hex, val, dn, sizeof(dn))) != 0)
		return r;
	mfad_sdir_mods_init(&me);
	if ((r = mfad_sdir_mod(&me, LDAP_MOD_ADD, "objectClass", oc, 1)) != 0 ||
	    (r = mfad_sdir_mod1(&me, LDAP_MOD_ADD, "mfadThrottleId",
	    hex)) != 0 ||
	    (r = mfad_sdir_mod1(&me, LDAP_MOD_ADD, "mfadThrottleSend",
	    val)) != 0)
		goto out;
	for (tries = 0; tries < SDIR_THROTTLE_TRIES; tries++) {
		if ((r = mfad_sdir_add(sd, d, dn, me.p, &ldrc)) != 0)
			goto out;
		if (ldrc == LDAP_SUCCESS || ldrc == LDAP_ALREADY_EXISTS)
			goto out;
		if (ldrc != LDAP_NO_SUCH_OBJECT)
			break;
		if ((r = sdir_throttle_ou_add(sd, d)) != 0)
			goto out;
	}
	r = mfad_sdir_refused(sd, "throttle send", dn, ldrc);
 out:
	mfad_sdir_mods_free(&me);
	return r;
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

/*
 * The sends of entry w past the window at now: the entry deleted when it
 * holds nothing else, or nothing (*gone set), else (an entry of the
 * earlier layout) its old values deleted by value. An entry or a value
 * another host deleted first is as good.
 */
static int MSS_WUR
sdir_throttle_tidy(struct mfad_sdir *sd, struct mfad_dir *d,
    const struct sdir_tent *w, uint64_t now, int *gone)
{
	struct mfad_sdir_mods ms;
	const char **old;
	size_t nold;
	int r = 0, ldrc;

	*gone = 0;
	if ((old = calloc(w->ts.n + 1, sizeof(*old))) == NULL)
		return MSS_ERR_NOMEM;
	nold = sdir_tsends_old(&w->ts, now, old);
	if (nold == 0 && w->ts.n > 0)
		goto out;
	if (nold == w->ts.n) {
		/* A send added at this moment on the other provider to an
		 * entry of the earlier layout may go with it: one send
		 * uncounted, at worst. */
		if ((r = mfad_sdir_delete(sd, d, w->dn, &ldrc)) != 0)
			goto out;
		if (ldrc == LDAP_SUCCESS)
			*gone = 1;
		else if (ldrc != LDAP_NO_SUCH_OBJECT)
			r = mfad_sdir_refused(sd, "throttle delete", w->dn,
			    ldrc);
		goto out;
	}
	mfad_sdir_mods_init(&ms);
	if ((r = mfad_sdir_mod(&ms, LDAP_MOD_DELETE, "mfadThrottleSend", old,
	    nold)) == 0 && (r = mfad_sdir_modify(sd, d, w->dn, ms.p,
	    &ldrc)) == 0 && ldrc != LDAP_SUCCESS &&
	    ldrc != LDAP_NO_SUCH_ATTRIBUTE && ldrc != LDAP_NO_SUCH_OBJECT)
		r = mfad_sdir_refused(sd, "throttle prune", w->dn, ldrc);
	mfad_sdir_mods_free(&ms);
 out:
	free(old);
	return r;
}

int
mfad_sdir_throttle_send_add(struct mfad_sdir *sd,
    const uint8_t key[MFAD_KEY_LEN], uint64_t now, struct mfad_throttle_rec *t)
{
	char hex[2 * MFAD_KEY_LEN + 1], val[MFAD_SDIR_EVENT_MAX + 1];
	struct mfad_throttle_rec cur;
	struct sdir_tent *w = NULL;
	struct mfad_dir *d;
	size_t nw = 0, i;
	int r, gone;

	mfad_sdir_hex(key, MFAD_KEY_LEN, hex);
	mfad_sdir_event_new(sd, now, val, sizeof(val));
	d = mfad_sdir_take(sd);
	/* The send first (the guard), then the old ones deleted. */
	if ((r = sdir_throttle_add_send(sd, d, hex, val)) != 0 ||
	    (r = sdir_throttle_list(sd, d, hex, &w, &nw)) != 0)
		goto out;
	for (i = 0; i < nw; i++)
		if ((r = sdir_throttle_tidy(sd, d, &w[i], now, &gone)) != 0)
			goto out;
	if ((r = sdir_throttle_rec(w, nw, now, &cur)) == 0 && t != NULL)
		*t = cur;
 out:
	mfad_sdir_give(sd, d);
	sdir_tents_free(w, nw);
	return r;
}

int
mfad_sdir_throttle_sweep(struct mfad_sdir *sd, uint64_t now, unsigned *n)
{
	struct sdir_tent *w = NULL;
	struct mfad_dir *d;
	size_t nw = 0, i;
	int r, gone;

	*n = 0;
	d = mfad_sdir_take(sd);
	if ((r = sdir_throttle_list(sd, d, NULL, &w, &nw)) != 0)
		goto out;
	for (i = 0; i < nw; i++) {
		if ((r = sdir_throttle_tidy(sd, d, &w[i], now, &gone)) != 0)
			break;
		*n += gone;
	}
 out:
	mfad_sdir_give(sd, d);
	sdir_tents_free(w, nw);
	return r;
}
