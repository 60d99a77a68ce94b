/*
 * Remembered devices in the directory ([device] scope = fleet): a child
 * entry mfadDeviceId=HEX,uid=USER,<base> of class mfadDevice per device,
 * HEX the whole keyed hash (conf/ldap/README). An entry is added or
 * replaced whole; mfadHost says which host remembered it.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mss_err.h"
#include "mfad_store_dir_ldap.h"
#include "mfad_str.h"

static char *sdir_device_attrs[] = {
	"mfadDeviceId", "mfadDeviceKind", "mfadService", "mfadCreated",
	"mfadExpires", "mfadLastUsed", NULL
};

static int MSS_WUR
sdir_device_dn(struct mfad_sdir *sd, const char *user,
    const uint8_t key[MFAD_KEY_LEN], char *dn, size_t len)
{
	char acct[MFAD_SDIR_DN_MAX], hex[2 * MFAD_KEY_LEN + 1];
	int r, n;

	if ((r = mfad_sdir_acct_dn(sd, user, acct, sizeof(acct))) != 0)
		return r;
	mfad_sdir_hex(key, MFAD_KEY_LEN, hex);
	n = snprintf(dn, len, "mfadDeviceId=%s,%s", hex, acct);
	if (n < 0 || (size_t)n >= len)
		return MSS_ERR_TOOBIG;
	return 0;
}

/* One string attribute of at most len - 1 bytes ("" when absent). */
static int MSS_WUR
sdir_device_str(LDAP *ld, LDAPMessage *e, const char *attr, char *out,
    size_t len, int must)
{
	struct berval **v;
	size_t n;
	int r = 0;

	out[0] = '\0';
	v = mfad_sdir_vals(ld, e, attr, &n);
	if (n > 1 || (n == 0 && must))
		r = MSS_ERR_STORE;
	else if (n == 1) {
		if (v[0]->bv_len >= len ||
		    memchr(v[0]->bv_val, '\0', v[0]->bv_len) != NULL)
			r = MSS_ERR_STORE;
		else {
			memcpy(out, v[0]->bv_val, v[0]->bv_len);
			out[v[0]->bv_len] = '\0';
		}
	}
	mfad_sdir_vals_free(v);
	return r;
}

/* Entry e as a device of user; key gets its id. */
static int MSS_WUR
sdir_device_parse(LDAP *ld, LDAPMessage *e, const char *user,
    uint8_t key[MFAD_KEY_LEN], struct mfad_device *d)
{
	char hex[2 * MFAD_KEY_LEN + 2], *dn;
	int r;

	memset(d, 0, sizeof(*d));
	mfad_str_copy(d->user, sizeof(d->user), user);
	if ((r = sdir_device_str(ld, e, "mfadDeviceId", hex, sizeof(hex),
	    1)) != 0 ||
	    (r = mfad_sdir_unhex(hex, strlen(hex), key, MFAD_KEY_LEN)) != 0 ||
	    (r = sdir_device_str(ld, e, "mfadDeviceKind", d->kind,
	    sizeof(d->kind), 1)) != 0 ||
	    (r = sdir_device_str(ld, e, "mfadService", d->service,
	    sizeof(d->service), 0)) != 0 ||
	    (r = mfad_sdir_time(ld, e, "mfadCreated", &d->created)) != 0 ||
	    (r = mfad_sdir_time(ld, e, "mfadExpires", &d->expires)) != 0 ||
	    (r = mfad_sdir_time(ld, e, "mfadLastUsed", &d->last_used)) != 0) {
		dn = ldap_get_dn(ld, e);
		mfad_log(LOG_ERR, "directory: %s: malformed device",
		    dn != NULL ? dn : "(no DN)");
		ldap_memfree(dn);
		return MSS_ERR_STORE;
	}
	return 0;
}

int
mfad_sdir_device_get(struct mfad_sdir *sd, const char *user,
    const uint8_t key[MFAD_KEY_LEN], struct mfad_device *dev)
{
	char dn[MFAD_SDIR_DN_MAX];
	uint8_t got[MFAD_KEY_LEN];
	LDAPMessage *res = NULL, *e;
	struct mfad_dir *d;
	int r, ldrc;

	memset(dev, 0, sizeof(*dev));
	if ((r = sdir_device_dn(sd, user, key, dn, sizeof(dn))) != 0)
		return r;
	d = mfad_sdir_take(sd);
	if ((r = mfad_sdir_search(sd, d, dn, LDAP_SCOPE_BASE,
	    "(objectClass=mfadDevice)", sdir_device_attrs, &res,
	    &ldrc)) != 0)
		goto out;
	if (ldrc == LDAP_NO_SUCH_OBJECT)
		r = MSS_ERR_NOTFOUND;
	else if (ldrc != LDAP_SUCCESS)
		r = mfad_sdir_refused(sd, "device read", dn, ldrc);
	else if ((e = ldap_first_entry(d->ld, res)) == NULL)
		r = MSS_ERR_NOTFOUND;
	else if ((r = sdir_device_parse(d->ld, e, user, got, dev)) == 0 &&
	    memcmp(got, key, MFAD_KEY_LEN) != 0)
		r = MSS_ERR_STORE;
	ldap_msgfree(res);
 out:
	mfad_sdir_give(sd, d);
	return r;
}

/* The device's attributes, for an add (with its class and id) or a
 * replace of an existing one. */
static int MSS_WUR
sdir_device_mods(struct mfad_sdir *sd, const uint8_t key[MFAD_KEY_LEN],
    const struct mfad_device *dev, int add, struct mfad_sdir_mods *ms)
{
	char hex[2 * MFAD_KEY_LEN + 1];
	int op = add ? LDAP_MOD_ADD : LDAP_MOD_REPLACE, r;

	mfad_sdir_hex(key, MFAD_KEY_LEN, hex);
	if (add && ((r = mfad_sdir_mod1(ms, op, "objectClass",
	    "mfadDevice")) != 0 ||
	    (r = mfad_sdir_mod1(ms, op, "mfadDeviceId", hex)) != 0))
		return r;
	if ((r = mfad_sdir_mod1(ms, op, "mfadDeviceKind", dev->kind)) != 0 ||
	    (r = mfad_sdir_mod_time(ms, op, "mfadCreated",
	    dev->created)) != 0 ||
	    (r = mfad_sdir_mod_time(ms, op, "mfadExpires",
	    dev->expires)) != 0 ||
	    (r = mfad_sdir_mod1(ms, op, "mfadHost", sd->host)) != 0)
		return r;
	/* Empty ones: absent in an add, removed by a replace. */
	if ((dev->service[0] != '\0' || !add) &&
	    (r = mfad_sdir_mod1(ms, op, "mfadService",
	    dev->service[0] != '\0' ? dev->service : NULL)) != 0)
		return r;
	if ((dev->last_used != 0 || !add) &&
	    (r = mfad_sdir_mod_time(ms, op, "mfadLastUsed",
	    dev->last_used)) != 0)
		return r;
	return 0;
}

int
mfad_sdir_device_put(struct mfad_sdir *sd, const uint8_t key[MFAD_KEY_LEN],
    const struct mfad_device *dev)
{
	char dn[MFAD_SDIR_DN_MAX];
	struct mfad_sdir_mods ms;
	struct mfad_dir *d;
	int r, ldrc = LDAP_OTHER, add, tries;

	/* The class wants them (MUST). */
	if (dev->kind[0] == '\0' || dev->created == 0 || dev->expires == 0)
		return MSS_ERR_INVAL;
	if ((r = sdir_device_dn(sd, dev->user, key, dn, sizeof(dn))) != 0)
		return r;
	mfad_sdir_mods_init(&ms);
	d = mfad_sdir_take(sd);
	/* A replace first: most puts are a remembered device's login,
	 * which finds the entry there; a new one is added. An add that
	 * finds it there after all (made meanwhile elsewhere) replaces. */
	for (add = 0, tries = 0; tries < 3; tries++) {
		mfad_sdir_mods_free(&ms);
		if ((r = sdir_device_mods(sd, key, dev, add, &ms)) != 0)
			break;
		r = add ? mfad_sdir_add(sd, d, dn, ms.p, &ldrc) :
		    mfad_sdir_modify(sd, d, dn, ms.p, &ldrc);
		if (r != 0 || ldrc == LDAP_SUCCESS)
			break;
		if ((!add && ldrc == LDAP_NO_SUCH_OBJECT) ||
		    (add && ldrc == LDAP_ALREADY_EXISTS)) {
			add = !add;
			continue;
		}
		/* No person entry above it. */
		r = ldrc == LDAP_NO_SUCH_OBJECT ? MSS_ERR_NOTFOUND :
		    mfad_sdir_refused(sd, "device write", dn, ldrc);
		break;
	}
	if (r == 0 && ldrc != LDAP_SUCCESS)
		r = mfad_sdir_refused(sd, "device write", dn, ldrc);
	mfad_sdir_give(sd, d);
	mfad_sdir_mods_free(&ms);
	return r;
}

/*
 * Keeps t, the last use of a device that goes, in the account entry
 * acct: under [device] scope = fleet a remembered-device login writes
 * its device alone (mfad_device_keeps_last_login), so the account's
 * mfadLastLogin may be older. Only a later time is written; an account
 * gone meanwhile has nothing to keep. Two hosts keeping at once may
 * leave the earlier of their times: last login is shown, never
 * enforced.
 */
static int MSS_WUR
sdir_last_login_keep(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *acct, uint64_t t)
{
	char *attrs[] = { "mfadLastLogin", NULL };
	struct mfad_sdir_mods ms;
	LDAPMessage *res = NULL, *e;
	uint64_t stored = 0;
	int r, ldrc, found = 0;

	if (t == 0)
		return 0;
	if ((r = mfad_sdir_search(sd, d, acct, LDAP_SCOPE_BASE,
	    "(objectClass=mfadAccount)", attrs, &res, &ldrc)) != 0)
		return r;
	if (ldrc == LDAP_SUCCESS &&
	    (e = ldap_first_entry(d->ld, res)) != NULL) {
		found = 1;
		r = mfad_sdir_time(d->ld, e, "mfadLastLogin", &stored);
	} else if (ldrc != LDAP_SUCCESS && ldrc != LDAP_NO_SUCH_OBJECT)
		r = mfad_sdir_refused(sd, "last login read", acct, ldrc);
	ldap_msgfree(res);
	if (r != 0 || !found || t <= stored)
		return r;
	mfad_sdir_mods_init(&ms);
	if ((r = mfad_sdir_mod_time(&ms, LDAP_MOD_REPLACE, "mfadLastLogin",
	    t)) == 0 && (r = mfad_sdir_modify(sd, d, acct, ms.p, &ldrc)) == 0 &&
	    ldrc != LDAP_SUCCESS && ldrc != LDAP_NO_SUCH_OBJECT)
		r = mfad_sdir_refused(sd, "last login", acct, ldrc);
	mfad_sdir_mods_free(&ms);
	return r;
}

/* The account entry above a device's: mfadDeviceId=HEX never holds a
 * comma. */
static const char *
sdir_device_parent(const char *dn)
{
	const char *c = strchr(dn, ',');

	return c != NULL ? c + 1 : NULL;
}

struct sdir_dev {
	uint8_t			key[MFAD_KEY_LEN];
	struct mfad_device	dev;
};

static int
sdir_dev_cmp(const void *a, const void *b)
{
	return memcmp(((const struct sdir_dev *)a)->key,
	    ((const struct sdir_dev *)b)->key, MFAD_KEY_LEN);
}

/*
 * One one-level search under the account, sorted here by key (the order
 * LMDB keeps them in), from the first whose id is above after's.
 */
int
mfad_sdir_device_list_after(struct mfad_sdir *sd, const char *user,
    const uint8_t *after,
    int (*fn)(const uint8_t *, const struct mfad_device *, void *),
    void *arg)
{
	char dn[MFAD_SDIR_DN_MAX];
	struct sdir_dev *v = NULL, *nv;
	LDAPMessage *res = NULL, *e;
	struct mfad_dir *d;
	size_t n = 0, cap = 0, i;
	int r, ldrc;

	if (mfad_sdir_acct_dn(sd, user, dn, sizeof(dn)) != 0)
		return 0;
	d = mfad_sdir_take(sd);
	r = mfad_sdir_search(sd, d, dn, LDAP_SCOPE_ONELEVEL,
	    "(objectClass=mfadDevice)", sdir_device_attrs, &res, &ldrc);
	if (r == 0 && ldrc != LDAP_SUCCESS && ldrc != LDAP_NO_SUCH_OBJECT)
		r = mfad_sdir_refused(sd, "device list", dn, ldrc);
	for (e = r == 0 && res != NULL ? ldap_first_entry(d->ld, res) : NULL;
	    e != NULL; e = ldap_next_entry(d->ld, e)) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL) {
				r = MSS_ERR_NOMEM;
				break;
			}
			v = nv;
		}
		if ((r = sdir_device_parse(d->ld, e, user, v[n].key,
		    &v[n].dev)) != 0)
			break;
		n++;
	}
	ldap_msgfree(res);
	mfad_sdir_give(sd, d);
	if (r == 0 && n > 0) {
		qsort(v, n, sizeof(*v), sdir_dev_cmp);
		for (i = 0; i < n; i++) {
			if (after != NULL && memcmp(v[i].key, after,
			    MFAD_DEVICE_ID_LEN) <= 0)
				continue;
			if ((r = fn(v[i].key, &v[i].dev, arg)) != 0)
				break;
		}
	}
	free(v);
	return r;
}

/* The names of res's entries, copied: the deletes reuse the
 * connection; with lasts, each one's last use too (0 when it has none or
 * it does not read: nothing to keep). On failure *dns holds the *cnt
 * copied so far. */
static int MSS_WUR
sdir_dns(struct mfad_dir *d, LDAPMessage *res, char ***dns, uint64_t **lasts,
    size_t *cnt)
{
	char *cdn, **nv;
	uint64_t *nl;
	LDAPMessage *e;
	size_t cap = 0;

	for (e = res != NULL ? ldap_first_entry(d->ld, res) : NULL;
	    e != NULL; e = ldap_next_entry(d->ld, e)) {
		if (*cnt == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nv = reallocarray(*dns, cap, sizeof(**dns))) ==
			    NULL)
				return MSS_ERR_NOMEM;
			*dns = nv;
			if (lasts != NULL) {
				if ((nl = reallocarray(*lasts, cap,
				    sizeof(**lasts))) == NULL)
					return MSS_ERR_NOMEM;
				*lasts = nl;
			}
		}
		if ((cdn = ldap_get_dn(d->ld, e)) == NULL)
			return MSS_ERR_NOMEM;
		(*dns)[*cnt] = strdup(cdn);
		ldap_memfree(cdn);
		if ((*dns)[*cnt] == NULL)
			return MSS_ERR_NOMEM;
		if (lasts != NULL && mfad_sdir_time(d->ld, e, "mfadLastUsed",
		    &(*lasts)[*cnt]) != 0)
			(*lasts)[*cnt] = 0;
		(*cnt)++;
	}
	return 0;
}

/* Deletes the entries named; one gone already (deleted meanwhile
 * elsewhere) is not counted in *n. With lasts, each deleted one's last
 * use is kept in its account (sdir_last_login_keep). Frees dns and
 * lasts. */
static int MSS_WUR
sdir_dns_del(struct mfad_sdir *sd, struct mfad_dir *d, char **dns,
    uint64_t *lasts, size_t cnt, int r, unsigned *n)
{
	const char *acct;
	size_t i;
	int ldrc;

	for (i = 0; r == 0 && i < cnt; i++) {
		if ((r = mfad_sdir_delete(sd, d, dns[i], &ldrc)) != 0)
			break;
		if (ldrc == LDAP_SUCCESS) {
			(*n)++;
			if (lasts != NULL && (acct = sdir_device_parent(
			    dns[i])) != NULL)
				r = sdir_last_login_keep(sd, d, acct,
				    lasts[i]);
		} else if (ldrc != LDAP_NO_SUCH_OBJECT)
			r = mfad_sdir_refused(sd, "device delete", dns[i],
			    ldrc);
	}
	for (i = 0; i < cnt; i++)
		free(dns[i]);
	free(dns);
	free(lasts);
	return r;
}

/*
 * Deletes, one by one, the devices a search of base finds (scope,
 * filter, at most limit of them, 0 for all); *n counts those this call
 * deleted (one deleted meanwhile elsewhere is not counted), *more says
 * the limit held some back. With keep, each one's last use is fetched
 * and stays in its account (sdir_last_login_keep). A base that is not
 * there holds nothing; what names the step in a refusal.
 */
static int MSS_WUR
sdir_res_del(struct mfad_sdir *sd, struct mfad_dir *d, const char *base,
    int scope, const char *filter, int limit, int keep, const char *what,
    unsigned *n, int *more)
{
	char *none[] = { LDAP_NO_ATTRS, NULL }, *used[] = { "mfadLastUsed",
	    NULL }, **dns = NULL;
	LDAPMessage *res = NULL;
	uint64_t *lasts = NULL;
	size_t cnt = 0;
	int r, ldrc;

	*n = 0;
	*more = 0;
	if ((r = mfad_sdir_search_limit(sd, d, base, scope, filter,
	    keep ? used : none, limit, &res, &ldrc)) != 0)
		return r;
	if (ldrc == LDAP_SIZELIMIT_EXCEEDED)
		*more = 1;
	else if (ldrc != LDAP_SUCCESS) {
		ldap_msgfree(res);
		return ldrc == LDAP_NO_SUCH_OBJECT ? 0 :
		    mfad_sdir_refused(sd, what, base, ldrc);
	}
	r = sdir_dns(d, res, &dns, keep ? &lasts : NULL, &cnt);
	ldap_msgfree(res);
	return sdir_dns_del(sd, d, dns, lasts, cnt, r, n);
}

/* Its last use is read first, kept in the account once it is gone. */
int
mfad_sdir_device_del(struct mfad_sdir *sd, const char *user,
    const uint8_t key[MFAD_KEY_LEN])
{
	char dn[MFAD_SDIR_DN_MAX];
	struct mfad_dir *d;
	unsigned n;
	int r, more;

	if ((r = sdir_device_dn(sd, user, key, dn, sizeof(dn))) != 0)
		return r;
	d = mfad_sdir_take(sd);
	r = sdir_res_del(sd, d, dn, LDAP_SCOPE_BASE,
	    "(objectClass=mfadDevice)", 0, 1, "device delete", &n, &more);
	mfad_sdir_give(sd, d);
	return r == 0 && n == 0 ? MSS_ERR_NOTFOUND : r;
}

/* The children of dn, deleted one by one; *n counts those this call
 * deleted (one deleted meanwhile elsewhere is not counted). With keep,
 * their last use stays in the account dn (sdir_last_login_keep). */
int
mfad_sdir_children_del(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *dn, int keep, unsigned *n)
{
	int more;

	return sdir_res_del(sd, d, dn, LDAP_SCOPE_ONELEVEL,
	    "(objectClass=mfadDevice)", 0, keep, "device search", n, &more);
}

/*
 * One step of the directory's sweep: one search for at most budget
 * devices past their expiry (mfadExpires, ordered and indexed,
 * conf/ldap/README), deleted one by one, each one's last use kept in
 * its account (whatever this host's scope: under scope fleet that is
 * where the account's last login is). Every host sweeps: one that
 * finds an entry gone swept after another, which is fine. More than
 * the budget (LDAP_SIZELIMIT_EXCEEDED) waits for the next step.
 */
int
mfad_sdir_device_sweep(struct mfad_sdir *sd, uint64_t now, unsigned budget,
    unsigned *n, int *more)
{
	char filter[96];
	struct mfad_dir *d;
	int r;

	*n = 0;
	*more = 0;
	if (budget == 0 || budget > INT_MAX)
		return MSS_ERR_INVAL;
	snprintf(filter, sizeof(filter),
	    "(&(objectClass=mfadDevice)(mfadExpires<=%llu))",
	    (unsigned long long)now);
	d = mfad_sdir_take(sd);
	r = sdir_res_del(sd, d, sd->base, LDAP_SCOPE_SUBTREE, filter,
	    (int)budget, 1, "device sweep", n, more);
	mfad_sdir_give(sd, d);
	return r;
}

int
mfad_sdir_device_revoke_all(struct mfad_sdir *sd, const char *user,
    unsigned *n)
{
	char dn[MFAD_SDIR_DN_MAX];
	struct mfad_dir *d;
	int r;

	*n = 0;
	if (mfad_sdir_acct_dn(sd, user, dn, sizeof(dn)) != 0)
		return 0;
	d = mfad_sdir_take(sd);
	r = mfad_sdir_children_del(sd, d, dn, 1, n);
	mfad_sdir_give(sd, d);
	return r;
}
