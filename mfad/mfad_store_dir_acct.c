/*
 * Accounts in the directory (conf/ldap/README, doc/STORE.md): the
 * person entry uid=USER,<base> with the auxiliary class mfadAccount.
 * The entry is read whole and parsed strictly into struct mfad_acct;
 * put writes the fields written whole (replaces); the counters change
 * only through the event functions (mfad_store_dir_event.c).
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

#define SDIR_ARGON2	"{ARGON2}"

char *mfad_sdir_acct_attrs[] = {
	"objectClass", "mail", "preferredLanguage", "userPassword",
	"mfadState", "mfadCreated", "mfadEnrolled", "mfadReenroll",
	"mfadLastLogin", "mfadFailure", "mfadLockedUntil", "mfadSend",
	"mfadThrottleNoticed", "mfadLockNoticed", "mfadRecoveryCode",
	"mfadCurrentLogin", NULL
};

static const char *const sdir_states[] = {
	[MFAD_ACCT_ACTIVE] = "active",
	[MFAD_ACCT_INVITED] = "invited",
	[MFAD_ACCT_LOCKED] = "locked",
	[MFAD_ACCT_DISABLED] = "disabled",
};

void
mfad_sdir_strv_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
mfad_sdir_raw_free(struct mfad_sdir_raw *raw)
{
	mfad_sdir_strv_free(raw->fail, raw->nfail);
	mfad_sdir_strv_free(raw->send, raw->nsend);
	free(raw->send_s);
	free(raw->lock);
	memset(raw, 0, sizeof(*raw));
}

int
mfad_sdir_strv_has(char **v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

static int
sdir_is(const struct berval *bv, const char *s)
{
	return bv->bv_len == strlen(s) &&
	    strncasecmp(bv->bv_val, s, bv->bv_len) == 0;
}

int
mfad_sdir_event_parse(const struct berval *bv, uint64_t *us)
{
	const char *s = bv->bv_val, *c1, *c2;
	struct berval t;
	size_t i;

	if (bv->bv_len == 0 || bv->bv_len > MFAD_SDIR_EVENT_MAX ||
	    memchr(s, '\0', bv->bv_len) != NULL)
		return MSS_ERR_STORE;
	if ((c1 = memchr(s, ':', bv->bv_len)) == NULL)
		return MSS_ERR_STORE;
	c2 = s + bv->bv_len - 9;
	if (c2 <= c1 + 1 || *c2 != ':' ||
	    memchr(c1 + 1, ':', (size_t)(c2 - c1 - 1)) != NULL)
		return MSS_ERR_STORE;
	for (i = 1; i <= 8; i++)
		if (strchr("0123456789abcdef", c2[i]) == NULL)
			return MSS_ERR_STORE;
	t.bv_val = (char *)s;
	t.bv_len = (size_t)(c1 - s);
	return mfad_sdir_u64(&t, us);
}

static int
sdir_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int MSS_WUR
sdir_bad(const char *dn, const char *attr)
{
	mfad_log(LOG_ERR, "directory: %s: malformed %s", dn, attr);
	return MSS_ERR_STORE;
}

/* The event values of attr: copies into *out, times into *us (seconds;
 * us may be NULL). */
/*
 * The lock times: each host that locks adds its own value, and an end
 * deletes the values it read, so that two hosts locking at once on two
 * providers never replace each other's value (a replace against a
 * write of the same attribute on the other provider can leave the
 * providers different for good). The latest one holds.
 */
static int MSS_WUR
sdir_locks(LDAP *ld, LDAPMessage *e, const char *dn,
    struct mfad_sdir_raw *raw, struct mfad_acct *a)
{
	struct berval **v;
	size_t n, i;
	int r = 0;

	a->locked_until = 0;
	v = mfad_sdir_vals(ld, e, "mfadLockedUntil", &n);
	if (n > 0 && (raw->lock = calloc(n, sizeof(*raw->lock))) == NULL)
		r = MSS_ERR_NOMEM;
	for (i = 0; r == 0 && i < n; i++) {
		if (mfad_sdir_u64(v[i], &raw->lock[i]) != 0) {
			r = sdir_bad(dn, "mfadLockedUntil");
			break;
		}
		raw->nlock = i + 1;
		if (raw->lock[i] > a->locked_until)
			a->locked_until = raw->lock[i];
	}
	mfad_sdir_vals_free(v);
	return r;
}

static int MSS_WUR
sdir_events(LDAP *ld, LDAPMessage *e, const char *dn, const char *attr,
    char ***out, uint64_t **times, size_t *nout)
{
	struct berval **v;
	uint64_t us;
	size_t n, i;
	int r = 0;

	*out = NULL;
	*nout = 0;
	if (times != NULL)
		*times = NULL;
	v = mfad_sdir_vals(ld, e, attr, &n);
	if (n == 0)
		goto done;
	if ((*out = calloc(n, sizeof(**out))) == NULL ||
	    (times != NULL && (*times = calloc(n, sizeof(**times))) == NULL)) {
		r = MSS_ERR_NOMEM;
		goto done;
	}
	for (i = 0; i < n; i++) {
		if (mfad_sdir_event_parse(v[i], &us) != 0) {
			r = sdir_bad(dn, attr);
			goto done;
		}
		if (((*out)[i] = strndup(v[i]->bv_val, v[i]->bv_len)) ==
		    NULL) {
			r = MSS_ERR_NOMEM;
			goto done;
		}
		*nout = i + 1;
		if (times != NULL)
			(*times)[i] = us / 1000000;
	}
 done:
	mfad_sdir_vals_free(v);
	if (r != 0) {
		mfad_sdir_strv_free(*out, *nout);
		*out = NULL;
		*nout = 0;
		if (times != NULL) {
			free(*times);
			*times = NULL;
		}
	}
	return r;
}

/* The recent sends (the last MFAD_SENDS_WINDOW before now), in order,
 * the newest MFAD_SENDS_MAX of them. */
static int MSS_WUR
sdir_sends(const struct mfad_sdir_raw *raw, uint64_t now, struct mfad_acct *a)
{
	uint64_t *t;
	size_t i, n = 0, from;

	a->nsends = 0;
	if (raw->nsend == 0)
		return 0;
	if ((t = calloc(raw->nsend, sizeof(*t))) == NULL)
		return MSS_ERR_NOMEM;
	for (i = 0; i < raw->nsend; i++)
		if (raw->send_s[i] + MFAD_SENDS_WINDOW > now)
			t[n++] = raw->send_s[i];
	qsort(t, n, sizeof(*t), sdir_u64_cmp);
	from = n > MFAD_SENDS_MAX ? n - MFAD_SENDS_MAX : 0;
	for (i = from; i < n; i++)
		a->sends[a->nsends++] = t[i];
	free(t);
	return 0;
}

static int MSS_WUR
sdir_parse_password(LDAP *ld, LDAPMessage *e, const char *dn,
    struct mfad_acct *a)
{
	struct berval **v;
	size_t n, len, pre = strlen(SDIR_ARGON2);
	int r = 0;

	v = mfad_sdir_vals(ld, e, "userPassword", &n);
	if (n == 1) {
		len = v[0]->bv_len;
		if (len <= pre || len - pre >= sizeof(a->pwhash) ||
		    strncasecmp(v[0]->bv_val, SDIR_ARGON2, pre) != 0 ||
		    memchr(v[0]->bv_val, '\0', len) != NULL ||
		    strncmp(v[0]->bv_val + pre, "$argon2id$", 10) != 0)
			r = sdir_bad(dn, "userPassword (expected {ARGON2}"
			    "$argon2id$...)");
		else {
			memcpy(a->pwhash, v[0]->bv_val + pre, len - pre);
			a->pwhash[len - pre] = '\0';
		}
	} else if (n > 1)
		r = sdir_bad(dn, "userPassword (several values)");
	mfad_sdir_vals_free(v);
	return r;
}

static int MSS_WUR
sdir_parse_recovery(LDAP *ld, LDAPMessage *e, const char *dn,
    struct mfad_acct *a)
{
	struct berval **v;
	size_t n, i;
	int r = 0;

	v = mfad_sdir_vals(ld, e, "mfadRecoveryCode", &n);
	if (n > MFAD_RECOVERY_MAX)
		r = sdir_bad(dn, "mfadRecoveryCode (too many)");
	for (i = 0; r == 0 && i < n; i++)
		if (mfad_sdir_unhex(v[i]->bv_val, v[i]->bv_len,
		    a->recovery[i], MFAD_KEY_LEN) != 0)
			r = sdir_bad(dn, "mfadRecoveryCode");
	a->nrecovery = r == 0 ? (uint32_t)n : 0;
	mfad_sdir_vals_free(v);
	return r;
}

/* HOST:KEY_HEX; only this host's sign-in is its own (logins are local). */
static int MSS_WUR
sdir_parse_cur(struct mfad_sdir *sd, LDAP *ld, LDAPMessage *e,
    const char *dn, struct mfad_acct *a, struct mfad_sdir_raw *raw)
{
	struct berval **v;
	const char *c;
	size_t n, hl;
	int r = 0;

	v = mfad_sdir_vals(ld, e, "mfadCurrentLogin", &n);
	if (n > 1)
		r = sdir_bad(dn, "mfadCurrentLogin");
	else if (n == 1) {
		c = v[0]->bv_len > 2 * MFAD_KEY_LEN + 1 ? v[0]->bv_val +
		    v[0]->bv_len - 2 * MFAD_KEY_LEN - 1 : NULL;
		if (c == NULL || *c != ':' || c == v[0]->bv_val ||
		    memchr(v[0]->bv_val, '\0', v[0]->bv_len) != NULL ||
		    mfad_sdir_unhex(c + 1, 2 * MFAD_KEY_LEN, a->cur_login,
		    MFAD_KEY_LEN) != 0)
			r = sdir_bad(dn, "mfadCurrentLogin");
		else {
			hl = (size_t)(c - v[0]->bv_val);
			raw->has_cur = 1;
			raw->cur_ours = hl == strlen(sd->host) &&
			    memcmp(v[0]->bv_val, sd->host, hl) == 0;
			a->has_cur_login = (uint8_t)raw->cur_ours;
			if (!raw->cur_ours)
				memset(a->cur_login, 0, sizeof(a->cur_login));
		}
	}
	mfad_sdir_vals_free(v);
	return r;
}

/* The address (first value of mail) and language (the primary subtag
 * of preferredLanguage when it is two or three letters). */
static int MSS_WUR
sdir_parse_person(LDAP *ld, LDAPMessage *e, const char *dn,
    struct mfad_acct *a, struct mfad_sdir_raw *raw)
{
	struct berval **v;
	size_t n, i;
	int r = 0;

	v = mfad_sdir_vals(ld, e, "mail", &n);
	if (n > 0) {
		if (v[0]->bv_len > MFAD_EMAIL_MAX ||
		    memchr(v[0]->bv_val, '\0', v[0]->bv_len) != NULL)
			r = sdir_bad(dn, "mail");
		else {
			memcpy(a->email, v[0]->bv_val, v[0]->bv_len);
			a->email[v[0]->bv_len] = '\0';
		}
	}
	mfad_sdir_vals_free(v);
	v = mfad_sdir_vals(ld, e, "preferredLanguage", &n);
	if (n > 0) {
		for (i = 0; i < v[0]->bv_len && i < sizeof(a->lang) &&
		    ((v[0]->bv_val[i] | 0x20) >= 'a' &&
		    (v[0]->bv_val[i] | 0x20) <= 'z'); i++)
			a->lang[i] = (char)(v[0]->bv_val[i] | 0x20);
		if (i < 2 || i == sizeof(a->lang) ||
		    (i < v[0]->bv_len && v[0]->bv_val[i] != '-'))
			i = 0;
		a->lang[i] = '\0';
	}
	mfad_sdir_vals_free(v);
	mfad_str_copy(raw->mail, sizeof(raw->mail), a->email);
	memcpy(raw->lang, a->lang, sizeof(raw->lang));
	return r;
}

/*
 * Parses entry e (at dn) into a; raw gets what the writes need. The
 * person without mfadAccount is no account: MSS_ERR_NOTFOUND with
 * raw->exists set. now: the time the recent sends are counted from.
 */
int
mfad_sdir_acct_parse(struct mfad_sdir *sd, LDAP *ld, LDAPMessage *e,
    const char *dn, const char *user, uint64_t now, struct mfad_acct *a,
    struct mfad_sdir_raw *raw)
{
	struct berval **v;
	size_t n, i;
	int r;

	memset(a, 0, sizeof(*a));
	mfad_str_copy(a->user, sizeof(a->user), user);
	raw->exists = 1;
	if ((r = sdir_parse_person(ld, e, dn, a, raw)) != 0)
		return r;
	v = mfad_sdir_vals(ld, e, "objectClass", &n);
	for (i = 0; i < n; i++)
		if (sdir_is(v[i], "mfadAccount"))
			raw->has_class = 1;
	mfad_sdir_vals_free(v);
	if (!raw->has_class)
		return MSS_ERR_NOTFOUND;

	v = mfad_sdir_vals(ld, e, "mfadState", &n);
	r = MSS_ERR_STORE;
	for (i = 0; n == 1 && i < sizeof(sdir_states) / sizeof(*sdir_states);
	    i++)
		if (sdir_is(v[0], sdir_states[i])) {
			a->state = (uint8_t)i;
			r = 0;
		}
	mfad_sdir_vals_free(v);
	if (r != 0)
		return sdir_bad(dn, "mfadState");
	v = mfad_sdir_vals(ld, e, "mfadReenroll", &n);
	if (n == 1 && sdir_is(v[0], "TRUE"))
		a->reenroll = 1;
	else if (n > 1 || (n == 1 && !sdir_is(v[0], "FALSE")))
		r = MSS_ERR_STORE;
	mfad_sdir_vals_free(v);
	if (r != 0)
		return sdir_bad(dn, "mfadReenroll");
	if (mfad_sdir_time(ld, e, "mfadCreated", &a->created) != 0)
		return sdir_bad(dn, "mfadCreated");
	if (mfad_sdir_time(ld, e, "mfadEnrolled", &a->enrolled) != 0)
		return sdir_bad(dn, "mfadEnrolled");
	if (mfad_sdir_time(ld, e, "mfadLastLogin", &a->last_login) != 0)
		return sdir_bad(dn, "mfadLastLogin");
	if (mfad_sdir_time(ld, e, "mfadThrottleNoticed",
	    &a->throttle_noticed) != 0)
		return sdir_bad(dn, "mfadThrottleNoticed");
	if (mfad_sdir_time(ld, e, "mfadLockNoticed", &a->lock_noticed) != 0)
		return sdir_bad(dn, "mfadLockNoticed");
	if ((r = sdir_parse_password(ld, e, dn, a)) != 0 ||
	    (r = sdir_parse_recovery(ld, e, dn, a)) != 0 ||
	    (r = sdir_parse_cur(sd, ld, e, dn, a, raw)) != 0 ||
	    (r = sdir_events(ld, e, dn, "mfadFailure", &raw->fail, NULL,
	    &raw->nfail)) != 0 ||
	    (r = sdir_events(ld, e, dn, "mfadSend", &raw->send,
	    &raw->send_s, &raw->nsend)) != 0 ||
	    (r = sdir_sends(raw, now, a)) != 0 ||
	    (r = sdir_locks(ld, e, dn, raw, a)) != 0)
		return r;
	a->failures = raw->nfail > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)raw->nfail;
	return 0;
}

/*
 * Whether entry e is named by exactly user: the directory matches uid
 * without case, and a login name is not the same name in another case.
 */
static int
sdir_same_user(LDAP *ld, LDAPMessage *e, const char *user)
{
	char uid[MFAD_USER_MAX + 1], *edn;
	int same;

	if ((edn = ldap_get_dn(ld, e)) == NULL)
		return 0;
	same = mfad_sdir_rdn_value(edn, "uid", uid, sizeof(uid)) == 0 &&
	    strcmp(uid, user) == 0;
	ldap_memfree(edn);
	return same;
}

/*
 * Reads the account at dn into a (and raw): MSS_ERR_NOTFOUND when there
 * is no such entry (raw->exists 0) or it is no mfadAccount. On any
 * error a and raw hold nothing to wipe or free.
 */
int
mfad_sdir_acct_read(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *dn, const char *user, uint64_t now, struct mfad_acct *a,
    struct mfad_sdir_raw *raw)
{
	LDAPMessage *res = NULL, *e;
	int r, ldrc;

	memset(raw, 0, sizeof(*raw));
	memset(a, 0, sizeof(*a));
	if ((r = mfad_sdir_search(sd, d, dn, LDAP_SCOPE_BASE,
	    "(objectClass=*)", mfad_sdir_acct_attrs, &res, &ldrc)) != 0)
		return r;
	if (ldrc == LDAP_NO_SUCH_OBJECT)
		return MSS_ERR_NOTFOUND;
	if (ldrc != LDAP_SUCCESS)
		return mfad_sdir_refused(sd, "read", dn, ldrc);
	if ((e = ldap_first_entry(d->ld, res)) == NULL ||
	    !sdir_same_user(d->ld, e, user))
		r = MSS_ERR_NOTFOUND;
	else
		r = mfad_sdir_acct_parse(sd, d->ld, e, dn, user, now, a,
		    raw);
	ldap_msgfree(res);
	if (r != 0) {
		mfad_acct_wipe(a);
		if (r != MSS_ERR_NOTFOUND)
			mfad_sdir_raw_free(raw);
		else {
			/* Keep exists and the person's fields for put. */
			mfad_sdir_strv_free(raw->fail, raw->nfail);
			mfad_sdir_strv_free(raw->send, raw->nsend);
			free(raw->send_s);
			raw->fail = raw->send = NULL;
			raw->send_s = NULL;
			raw->nfail = raw->nsend = 0;
		}
	}
	return r;
}

/* The account's counters as stored now, into a (when not NULL). */
int
mfad_sdir_acct_counters(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *dn, const char *user, uint64_t now, struct mfad_acct *a)
{
	struct mfad_acct *cur;
	struct mfad_sdir_raw raw;
	int r;

	if (a == NULL)
		return 0;
	if ((cur = malloc(sizeof(*cur))) == NULL)
		return MSS_ERR_NOMEM;
	if ((r = mfad_sdir_acct_read(sd, d, dn, user, now, cur, &raw)) == 0) {
		a->failures = cur->failures;
		a->locked_until = cur->locked_until;
		a->nsends = cur->nsends;
		memcpy(a->sends, cur->sends, sizeof(a->sends));
		a->throttle_noticed = cur->throttle_noticed;
		a->lock_noticed = cur->lock_noticed;
		a->nrecovery = cur->nrecovery;
		memcpy(a->recovery, cur->recovery, sizeof(a->recovery));
		mfad_sdir_raw_free(&raw);
	}
	mfad_acct_wipe(cur);
	free(cur);
	return r;
}

/*
 * Every public function takes a connection for its whole run: the
 * pattern below (dn, take, work, give) is the same in each.
 */
/*
 * The fields written whole, as this thread last read them for one user:
 * a put after that read replaces only the fields the caller changed.
 * A put that wrote everything it read would put back, on its provider,
 * a value another host changed since (a lock, a used recovery code, a
 * new password) before that change replicated here. Secrets are kept
 * as digests only. Valid from a get to the next put, or a get of
 * another user or one that found nothing.
 */
struct sdir_seen {
	int		valid;
	char		user[MFAD_USER_MAX + 1];
	uint8_t		state, reenroll;
	uint64_t	created, enrolled, last_login;
	uint8_t		pw[32], rec[32];
};
static __thread struct sdir_seen sdir_seen;

static void
sdir_digest_acct(const struct mfad_acct *a, uint8_t pw[32], uint8_t rec[32])
{
	uint32_t n = a->nrecovery > MFAD_RECOVERY_MAX ? MFAD_RECOVERY_MAX :
	    a->nrecovery;

	crypto_generichash(pw, 32, (const unsigned char *)a->pwhash,
	    strnlen(a->pwhash, sizeof(a->pwhash)), NULL, 0);
	crypto_generichash(rec, 32, (const unsigned char *)a->recovery,
	    (size_t)n * MFAD_KEY_LEN, NULL, 0);
}

static void
sdir_seen_fill(struct sdir_seen *s, const struct mfad_acct *a)
{
	snprintf(s->user, sizeof(s->user), "%s", a->user);
	s->state = a->state;
	s->reenroll = a->reenroll;
	s->created = a->created;
	s->enrolled = a->enrolled;
	s->last_login = a->last_login;
	sdir_digest_acct(a, s->pw, s->rec);
	s->valid = 1;
}

static void
sdir_seen_set(const struct mfad_acct *a)
{
	sdir_seen_fill(&sdir_seen, a);
}

static void
sdir_seen_clear(void)
{
	sodium_memzero(&sdir_seen, sizeof(sdir_seen));
}

void
mfad_sdir_acct_seen_clear(void)
{
	sdir_seen_clear();
}

int
mfad_sdir_acct_get(struct mfad_sdir *sd, const char *user,
    struct mfad_acct *a)
{
	char dn[MFAD_SDIR_DN_MAX];
	struct mfad_dir *d;
	struct mfad_sdir_raw raw;
	int r;

	memset(a, 0, sizeof(*a));
	if ((r = mfad_sdir_acct_dn(sd, user, dn, sizeof(dn))) != 0)
		return r;
	d = mfad_sdir_take(sd);
	r = mfad_sdir_acct_read(sd, d, dn, user, mfad_clock_real_s(), a, &raw);
	mfad_sdir_give(sd, d);
	if (r == 0) {
		mfad_sdir_raw_free(&raw);
		sdir_seen_set(a);
	} else
		sdir_seen_clear();
	return r;
}

/* The account (by its uid) other than user that has the address;
 * MSS_ERR_NOTFOUND when none. */
static int MSS_WUR
sdir_email_owner(struct mfad_sdir *sd, struct mfad_dir *d, const char *email,
    const char *user, char *owner, size_t ownerlen)
{
	char esc[MFAD_EMAIL_MAX * 3 + 1], filter[sizeof(esc) + 64];
	char *attrs[] = { LDAP_NO_ATTRS, NULL }, *edn;
	char uid[MFAD_USER_MAX + 1];
	LDAPMessage *res = NULL, *e;
	int r, ldrc, found = 0;

	if (email[0] == '\0' || strlen(email) > MFAD_EMAIL_MAX ||
	    mfad_sdir_filter_esc(email, esc, sizeof(esc)) != 0)
		return MSS_ERR_NOTFOUND;
	snprintf(filter, sizeof(filter),
	    "(&(objectClass=mfadAccount)(mail=%s))", esc);
	if ((r = mfad_sdir_search(sd, d, sd->base, LDAP_SCOPE_ONELEVEL,
	    filter, attrs, &res, &ldrc)) != 0)
		return r;
	if (ldrc != LDAP_SUCCESS)
		return mfad_sdir_refused(sd, "address lookup", sd->base, ldrc);
	r = MSS_ERR_NOTFOUND;
	for (e = ldap_first_entry(d->ld, res); e != NULL;
	    e = ldap_next_entry(d->ld, e)) {
		if ((edn = ldap_get_dn(d->ld, e)) == NULL) {
			r = MSS_ERR_NOMEM;
			break;
		}
		if (mfad_sdir_rdn_value(edn, "uid", uid, sizeof(uid)) != 0) {
			mfad_log(LOG_ERR, "directory: %s: not named by uid",
			    edn);
			ldap_memfree(edn);
			r = MSS_ERR_STORE;
			break;
		}
		ldap_memfree(edn);
		if (user != NULL && strcasecmp(uid, user) == 0)
			continue;
		if (found++ > 0) {
			/* Two providers can each accept one address
			 * within the replication delay: refuse to guess. */
			mfad_log(LOG_ERR, "directory: address %s belongs to "
			    "several accounts (%s, %s...)", email, owner, uid);
			r = MSS_ERR_STORE;
			break;
		}
		if (strlen(uid) >= ownerlen) {
			r = MSS_ERR_STORE;
			break;
		}
		mfad_str_copy(owner, ownerlen, uid);
		r = 0;
	}
	ldap_msgfree(res);
	return r;
}

int
mfad_sdir_acct_by_email(struct mfad_sdir *sd, const char *email, char *user,
    size_t userlen)
{
	struct mfad_dir *d;
	int r;

	d = mfad_sdir_take(sd);
	r = sdir_email_owner(sd, d, email, NULL, user, userlen);
	mfad_sdir_give(sd, d);
	return r;
}

/* The fields put writes whole, as replaces. */
static int MSS_WUR
sdir_put_mods(struct mfad_sdir *sd, const struct mfad_acct *a,
    const struct sdir_seen *seen, const struct mfad_sdir_raw *raw,
    struct mfad_sdir_mods *ms)
{
	uint8_t dpw[32], drec[32];
	char pw[MFAD_HASH_MAX + sizeof(SDIR_ARGON2)];
	char cur[MFAD_SDIR_HOST_MAX + 2 * MFAD_KEY_LEN + 2];
	char (*hex)[2 * MFAD_KEY_LEN + 1] = NULL;
	const char *vals[MFAD_RECOVERY_MAX];
	uint32_t i, n;
	int r;

	if (a->state >= sizeof(sdir_states) / sizeof(*sdir_states) ||
	    strlen(a->pwhash) >= sizeof(a->pwhash))
		return MSS_ERR_INVAL;
	/* The person's own values stay when they say the same: another
	 * value of mail, a region in the language tag. */
	if (a->email[0] != '\0' && strcasecmp(raw->mail, a->email) != 0 &&
	    (r = mfad_sdir_mod1(ms, LDAP_MOD_REPLACE, "mail", a->email)) != 0)
		return r;
	if (a->lang[0] != '\0' && strcmp(raw->lang, a->lang) != 0 &&
	    (r = mfad_sdir_mod1(ms, LDAP_MOD_REPLACE, "preferredLanguage",
	    a->lang)) != 0)
		return r;
	sdir_digest_acct(a, dpw, drec);
	r = 0;
	if (seen == NULL || sodium_memcmp(seen->pw, dpw, 32) != 0) {
		snprintf(pw, sizeof(pw), "%s%s", SDIR_ARGON2, a->pwhash);
		r = mfad_sdir_mod1(ms, LDAP_MOD_REPLACE, "userPassword",
		    a->pwhash[0] != '\0' ? pw : NULL);
		sodium_memzero(pw, sizeof(pw));
	}
	if (r != 0 ||
	    ((seen == NULL || seen->state != a->state) &&
	    (r = mfad_sdir_mod1(ms, LDAP_MOD_REPLACE, "mfadState",
	    sdir_states[a->state])) != 0) ||
	    ((seen == NULL || seen->created != a->created) &&
	    (r = mfad_sdir_mod_time(ms, LDAP_MOD_REPLACE, "mfadCreated",
	    a->created)) != 0) ||
	    ((seen == NULL || seen->enrolled != a->enrolled) &&
	    (r = mfad_sdir_mod_time(ms, LDAP_MOD_REPLACE, "mfadEnrolled",
	    a->enrolled)) != 0) ||
	    ((seen == NULL || seen->last_login != a->last_login) &&
	    (r = mfad_sdir_mod_time(ms, LDAP_MOD_REPLACE, "mfadLastLogin",
	    a->last_login)) != 0) ||
	    ((seen == NULL || seen->reenroll != a->reenroll) &&
	    (r = mfad_sdir_mod1(ms, LDAP_MOD_REPLACE, "mfadReenroll",
	    a->reenroll ? "TRUE" : "FALSE")) != 0))
		return r;
	if (seen != NULL && sodium_memcmp(seen->rec, drec, 32) == 0)
		goto current;
	n = a->nrecovery > MFAD_RECOVERY_MAX ? MFAD_RECOVERY_MAX :
	    a->nrecovery;
	if (n > 0 && (hex = calloc(n, sizeof(*hex))) == NULL)
		return MSS_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		mfad_sdir_hex(a->recovery[i], MFAD_KEY_LEN, hex[i]);
		vals[i] = hex[i];
	}
	r = mfad_sdir_mod(ms, LDAP_MOD_REPLACE, "mfadRecoveryCode", vals, n);
	if (hex != NULL) {
		sodium_memzero(hex, n * sizeof(*hex));
		free(hex);
	}
	if (r != 0)
		return r;
 current:
	/* The newest sign-in is this host's; another host's stays. */
	if (a->has_cur_login) {
		snprintf(cur, sizeof(cur), "%s:", sd->host);
		mfad_sdir_hex(a->cur_login, MFAD_KEY_LEN, cur + strlen(cur));
		r = mfad_sdir_mod1(ms, LDAP_MOD_REPLACE, "mfadCurrentLogin",
		    cur);
	} else if (raw->has_cur && raw->cur_ours)
		r = mfad_sdir_mod1(ms, LDAP_MOD_REPLACE, "mfadCurrentLogin",
		    NULL);
	return r;
}

int
mfad_sdir_acct_put_mods(struct mfad_sdir *sd, const struct mfad_acct *a,
    const struct mfad_acct *before, const struct mfad_sdir_raw *raw,
    struct mfad_sdir_mods *ms)
{
	struct sdir_seen seen;
	int r;

	if (before == NULL)
		return sdir_put_mods(sd, a, NULL, raw, ms);
	sdir_seen_fill(&seen, before);
	r = sdir_put_mods(sd, a, &seen, raw, ms);
	sodium_memzero(&seen, sizeof(seen));
	return r;
}

int
mfad_sdir_acct_put(struct mfad_sdir *sd, const struct mfad_acct *a,
    const char *old_email)
{
	char dn[MFAD_SDIR_DN_MAX], owner[MFAD_USER_MAX + 1];
	struct mfad_sdir_mods ms;
	struct mfad_acct *cur;
	struct mfad_dir *d;
	struct mfad_sdir_raw raw;
	int r, ldrc;

	(void)old_email;	/* the directory's address is compared */
	if ((r = mfad_sdir_acct_dn(sd, a->user, dn, sizeof(dn))) != 0)
		return r;
	if ((cur = malloc(sizeof(*cur))) == NULL)
		return MSS_ERR_NOMEM;
	mfad_sdir_mods_init(&ms);
	d = mfad_sdir_take(sd);
	r = mfad_sdir_acct_read(sd, d, dn, a->user, mfad_clock_real_s(), cur,
	    &raw);
	mfad_acct_wipe(cur);
	free(cur);
	if (r == MSS_ERR_NOTFOUND && raw.exists)
		r = 0;
	if (r != 0)
		goto out;
	/* One account per address: looked up when it changes (or the
	 * person becomes an account). */
	if (!raw.has_class || strcasecmp(raw.mail, a->email) != 0) {
		r = sdir_email_owner(sd, d, a->email, a->user, owner,
		    sizeof(owner));
		if (r == 0) {
			r = MSS_ERR_EXISTS;
			goto out;
		}
		if (r != MSS_ERR_NOTFOUND)
			goto out;
	}
	/* Its own step: the access rules let the hosts write mfad's
	 * attributes only on entries that already have the class. */
	if (!raw.has_class) {
		if ((r = mfad_sdir_mod1(&ms, LDAP_MOD_ADD, "objectClass",
		    "mfadAccount")) != 0 ||
		    (r = mfad_sdir_modify(sd, d, dn, ms.p, &ldrc)) != 0)
			goto out;
		mfad_sdir_mods_free(&ms);
		if (ldrc != LDAP_SUCCESS && ldrc != LDAP_TYPE_OR_VALUE_EXISTS) {
			r = ldrc == LDAP_NO_SUCH_OBJECT ? MSS_ERR_NOTFOUND :
			    mfad_sdir_refused(sd, "adding mfadAccount", dn,
			    ldrc);
			goto out;
		}
	}
	if ((r = sdir_put_mods(sd, a, sdir_seen.valid &&
	    strcmp(sdir_seen.user, a->user) == 0 ? &sdir_seen : NULL, &raw,
	    &ms)) != 0 ||
	    (r = mfad_sdir_modify(sd, d, dn, ms.p, &ldrc)) != 0)
		goto out;
	if (ldrc == LDAP_NO_SUCH_OBJECT)
		r = MSS_ERR_NOTFOUND;
	else if (ldrc != LDAP_SUCCESS)
		r = mfad_sdir_refused(sd, "account write", dn, ldrc);
 out:
	sdir_seen_clear();
	mfad_sdir_give(sd, d);
	mfad_sdir_mods_free(&ms);
	mfad_sdir_raw_free(&raw);
	return r;
}

/* Every attribute del removes (the person's own stay). */
static const char *const sdir_acct_owned[] = {
	"userPassword", "mfadState", "mfadCreated", "mfadEnrolled",
	"mfadReenroll", "mfadLastLogin", "mfadFailure", "mfadLockedUntil",
	"mfadSend", "mfadThrottleNoticed", "mfadLockNoticed",
	"mfadRecoveryCode", "mfadCurrentLogin",
};

int
mfad_sdir_acct_del(struct mfad_sdir *sd, const struct mfad_acct *a)
{
	char dn[MFAD_SDIR_DN_MAX];
	struct mfad_sdir_mods ms;
	struct mfad_acct *cur;
	struct mfad_dir *d;
	struct mfad_sdir_raw raw;
	unsigned n;
	size_t i;
	int r, ldrc;

	if ((r = mfad_sdir_acct_dn(sd, a->user, dn, sizeof(dn))) != 0)
		return r;
	if ((cur = malloc(sizeof(*cur))) == NULL)
		return MSS_ERR_NOMEM;
	mfad_sdir_mods_init(&ms);
	d = mfad_sdir_take(sd);
	r = mfad_sdir_acct_read(sd, d, dn, a->user, mfad_clock_real_s(), cur,
	    &raw);
	mfad_acct_wipe(cur);
	free(cur);
	mfad_sdir_raw_free(&raw);
	/* The devices first: their rules want the class on the parent. */
	if (r != 0 || (r = mfad_sdir_children_del(sd, d, dn, 0, &n)) != 0)
		goto out;
	for (i = 0; i < sizeof(sdir_acct_owned) / sizeof(*sdir_acct_owned);
	    i++)
		if ((r = mfad_sdir_mod1(&ms, LDAP_MOD_REPLACE,
		    sdir_acct_owned[i], NULL)) != 0)
			goto out;
	if ((r = mfad_sdir_mod1(&ms, LDAP_MOD_DELETE, "objectClass",
	    "mfadAccount")) != 0 ||
	    (r = mfad_sdir_modify(sd, d, dn, ms.p, &ldrc)) != 0)
		goto out;
	/* The class gone already: by a try whose answer was lost, or by
	 * another host meanwhile; either way the account is no more. */
	if (ldrc == LDAP_NO_SUCH_OBJECT)
		r = MSS_ERR_NOTFOUND;
	else if (ldrc != LDAP_SUCCESS && ldrc != LDAP_NO_SUCH_ATTRIBUTE)
		r = mfad_sdir_refused(sd, "account delete", dn, ldrc);
 out:
	mfad_sdir_give(sd, d);
	mfad_sdir_mods_free(&ms);
	return r;
}

/* The names of the accounts, as the search gives them. */
struct sdir_names {
	char	**v;
	size_t	  n, cap;
};

static int
sdir_names_add(LDAP *ld, LDAPMessage *e, void *arg)
{
	struct sdir_names *nm = arg;
	char uid[MFAD_USER_MAX + 1], *edn, **nv;
	int r;

	if (e == NULL) {
		mfad_sdir_strv_free(nm->v, nm->n);
		memset(nm, 0, sizeof(*nm));
		return 0;
	}
	if ((edn = ldap_get_dn(ld, e)) == NULL)
		return MSS_ERR_NOMEM;
	r = mfad_sdir_rdn_value(edn, "uid", uid, sizeof(uid));
	if (r != 0)
		mfad_log(LOG_ERR, "directory: %s: not named by uid", edn);
	ldap_memfree(edn);
	if (r != 0)
		return r;
	if (nm->n == nm->cap) {
		nm->cap = nm->cap ? nm->cap * 2 : 64;
		if ((nv = reallocarray(nm->v, nm->cap, sizeof(*nv))) == NULL)
			return MSS_ERR_NOMEM;
		nm->v = nv;
	}
	if ((nm->v[nm->n] = strdup(uid)) == NULL)
		return MSS_ERR_NOMEM;
	nm->n++;
	return 0;
}

/* The names of every account (from their DNs), in pages: there may be
 * more than one search may return. */
static int MSS_WUR
sdir_acct_names(struct mfad_sdir *sd, struct mfad_dir *d, char ***out,
    size_t *nout)
{
	char *attrs[] = { LDAP_NO_ATTRS, NULL };
	struct sdir_names nm = { NULL, 0, 0 };
	int r, ldrc;

	*out = NULL;
	*nout = 0;
	r = mfad_sdir_search_paged(sd, d, sd->base, LDAP_SCOPE_ONELEVEL,
	    "(objectClass=mfadAccount)", attrs, sdir_names_add, &nm, &ldrc);
	if (r == 0 && ldrc != LDAP_SUCCESS)
		r = mfad_sdir_refused(sd, "account search", sd->base, ldrc);
	if (r != 0) {
		mfad_sdir_strv_free(nm.v, nm.n);
		return r;
	}
	*out = nm.v;
	*nout = nm.n;
	return 0;
}

static int
sdir_str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * One paged search for the names, sorted here (uid has no ordering rule
 * to ask the server for), then a read of each account of the page: the
 * page costs max reads, the names of all accounts one search.
 */
int
mfad_sdir_acct_list(struct mfad_sdir *sd, const char *after, size_t max,
    int (*fn)(const struct mfad_acct *, void *), void *arg, int *more)
{
	char dn[MFAD_SDIR_DN_MAX], **names = NULL;
	struct mfad_acct *a;
	struct mfad_dir *d;
	struct mfad_sdir_raw raw;
	size_t n = 0, i, done = 0;
	int r;

	*more = 0;
	if ((a = malloc(sizeof(*a))) == NULL)
		return MSS_ERR_NOMEM;
	d = mfad_sdir_take(sd);
	r = sdir_acct_names(sd, d, &names, &n);
	mfad_sdir_give(sd, d);
	if (r != 0)
		goto out;
	if (n > 0)
		qsort(names, n, sizeof(*names), sdir_str_cmp);
	for (i = 0; i < n; i++) {
		if (strcmp(names[i], after) <= 0)
			continue;
		if (done == max) {
			*more = 1;
			break;
		}
		if ((r = mfad_sdir_acct_dn(sd, names[i], dn, sizeof(dn))) != 0)
			break;
		/* Not held while fn runs: fn may use the store too. */
		d = mfad_sdir_take(sd);
		r = mfad_sdir_acct_read(sd, d, dn, names[i],
		    mfad_clock_real_s(), a, &raw);
		mfad_sdir_give(sd, d);
		if (r == MSS_ERR_NOTFOUND) {
			/* Deleted since the search. */
			r = 0;
			continue;
		}
		if (r != 0)
			break;
		mfad_sdir_raw_free(&raw);
		r = fn(a, arg);
		mfad_acct_wipe(a);
		if (r != 0)
			break;
		done++;
	}
 out:
	mfad_sdir_strv_free(names, n);
	free(a);
	return r;
}

static int
sdir_count_one(LDAP *ld, LDAPMessage *e, void *arg)
{
	uint64_t *n = arg;

	(void)ld;
	*n = e != NULL ? *n + 1 : 0;
	return 0;
}

/* Counted as the pages come: no name kept. */
int
mfad_sdir_acct_count(struct mfad_sdir *sd, uint64_t *n)
{
	char *attrs[] = { LDAP_NO_ATTRS, NULL };
	struct mfad_dir *d;
	uint64_t cnt = 0;
	int r, ldrc;

	*n = 0;
	d = mfad_sdir_take(sd);
	r = mfad_sdir_search_paged(sd, d, sd->base, LDAP_SCOPE_ONELEVEL,
	    "(objectClass=mfadAccount)", attrs, sdir_count_one, &cnt, &ldrc);
	mfad_sdir_give(sd, d);
	if (r == 0 && ldrc != LDAP_SUCCESS)
		r = mfad_sdir_refused(sd, "account count", sd->base, ldrc);
	if (r == 0)
		*n = cnt;
	return r;
}
