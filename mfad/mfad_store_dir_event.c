/*
 * An account's counters in the directory as events (conf/ldap/README,
 * "Concurrent writes"; doc/STORE.md, "The directory backend"): values
 * added with a nonce and deleted by value, never a value read and
 * replaced, so that writes made at once on two providers all survive
 * replication. The account's read and its mapping are
 * mfad_store_dir_acct.c's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mss_err.h"
#include "mfad_clock.h"
#include "mfad_store_dir_ldap.h"

#define SDIR_TRIES	4	/* rereads when a value moved meanwhile */

void
mfad_sdir_event_new(struct mfad_sdir *sd, uint64_t now, char *buf, size_t len)
{
	uint32_t nonce;
	uint64_t us = now * 1000000 + mfad_clock_real_us() % 1000000;

	randombytes_buf(&nonce, sizeof(nonce));
	snprintf(buf, len, "%llu:%s:%08x", (unsigned long long)us, sd->host,
	    (unsigned)nonce);
}

/*
 * Each event reads the entry, writes its values (added
 * with a nonce, deleted by value) and reads the entry again for the
 * caller's copy. A write that meets a value moved meanwhile (another
 * provider deleted it first: LDAP_NO_SUCH_ATTRIBUTE fails the whole
 * modify) reads again and retries, SDIR_TRIES times at most.
 */
int
mfad_sdir_acct_fail_add(struct mfad_sdir *sd, const char *user,
    uint64_t now, uint64_t locked_until, struct mfad_acct *a)
{
	char dn[MFAD_SDIR_DN_MAX], val[MFAD_SDIR_EVENT_MAX + 1];
	struct mfad_sdir_mods ms;
	struct mfad_acct *cur;
	struct mfad_dir *d;
	struct mfad_sdir_raw raw;
	uint64_t stored, eff;
	size_t i;
	int r, ldrc = LDAP_OTHER, tries;

	if ((r = mfad_sdir_acct_dn(sd, user, dn, sizeof(dn))) != 0)
		return r;
	if ((cur = malloc(sizeof(*cur))) == NULL)
		return MSS_ERR_NOMEM;
	mfad_sdir_event_new(sd, now, val, sizeof(val));
	mfad_sdir_mods_init(&ms);
	d = mfad_sdir_take(sd);
	for (tries = 0; tries < SDIR_TRIES; tries++) {
		if ((r = mfad_sdir_acct_read(sd, d, dn, user, now, cur,
		    &raw)) != 0)
			goto out;
		stored = cur->locked_until;
		mfad_acct_wipe(cur);
		if (mfad_sdir_strv_has(raw.fail, raw.nfail, val)) {
			/* Applied by a try whose answer was lost. */
			mfad_sdir_raw_free(&raw);
			break;
		}
		/* A lock that ran out by now ends first. */
		eff = stored != 0 && stored <= now ? 0 : stored;
		mfad_sdir_mods_free(&ms);
		r = mfad_sdir_mod1(&ms, LDAP_MOD_ADD, "mfadFailure", val);
		/* A later lock: this host's value added beside the others
		 * (the latest holds); the values that ran out deleted by
		 * value. Deleting another host's value that still holds,
		 * while that host writes, can leave the providers
		 * different. */
		if (r == 0 && locked_until > eff)
			r = mfad_sdir_mod_time(&ms, LDAP_MOD_ADD,
			    "mfadLockedUntil", locked_until);
		for (i = 0; r == 0 && i < raw.nlock; i++)
			if (raw.lock[i] <= now)
				r = mfad_sdir_mod_time(&ms, LDAP_MOD_DELETE,
				    "mfadLockedUntil", raw.lock[i]);
		mfad_sdir_raw_free(&raw);
		if (r != 0 || (r = mfad_sdir_modify(sd, d, dn, ms.p,
		    &ldrc)) != 0)
			goto out;
		if (ldrc == LDAP_SUCCESS)
			break;
		/* A value moved meanwhile, or the same lock time came from
		 * elsewhere, or this failure is in (a lost answer): read
		 * again. */
		if (ldrc != LDAP_NO_SUCH_ATTRIBUTE &&
		    ldrc != LDAP_TYPE_OR_VALUE_EXISTS) {
			r = ldrc == LDAP_NO_SUCH_OBJECT ? MSS_ERR_NOTFOUND :
			    mfad_sdir_refused(sd, "failure count", dn, ldrc);
			goto out;
		}
	}
	if (tries == SDIR_TRIES) {
		r = mfad_sdir_refused(sd, "failure count", dn, ldrc);
		goto out;
	}
	r = mfad_sdir_acct_counters(sd, d, dn, user, now, a);
 out:
	mfad_sdir_give(sd, d);
	mfad_sdir_mods_free(&ms);
	free(cur);
	return r;
}

/* Of the values v read first, those still in w (read now). */
static size_t
sdir_strv_common(char **v, size_t nv, char **w, size_t nw, const char **out)
{
	size_t i, n = 0;

	for (i = 0; i < nv; i++)
		if (mfad_sdir_strv_has(w, nw, v[i]))
			out[n++] = v[i];
	return n;
}

/*
 * Deletes, by value, those of the sends first (read before) that are
 * still stored; a value deleted meanwhile elsewhere is left out on the
 * next try.
 */
static int MSS_WUR
sdir_sends_del(struct mfad_sdir *sd, struct mfad_dir *d, const char *dn,
    const char *user, uint64_t now, char **first, size_t nfirst)
{
	struct mfad_sdir_mods ms;
	struct mfad_acct *cur;
	struct mfad_sdir_raw raw;
	const char **vals = NULL;
	size_t n, i;
	int r = 0, ldrc = LDAP_OTHER, tries;

	if ((cur = malloc(sizeof(*cur))) == NULL)
		return MSS_ERR_NOMEM;
	if (nfirst > 0 && (vals = calloc(nfirst, sizeof(*vals))) == NULL) {
		free(cur);
		return MSS_ERR_NOMEM;
	}
	mfad_sdir_mods_init(&ms);
	for (tries = 0; tries < SDIR_TRIES; tries++) {
		n = 0;
		if (tries > 0) {
			if ((r = mfad_sdir_acct_read(sd, d, dn, user, now, cur,
			    &raw)) != 0)
				break;
			mfad_acct_wipe(cur);
			n = sdir_strv_common(first, nfirst, raw.send,
			    raw.nsend, vals);
			r = n > 0 ? mfad_sdir_mod(&ms, LDAP_MOD_DELETE,
			    "mfadSend", vals, n) : 0;
			mfad_sdir_raw_free(&raw);
		} else {
			for (i = 0; i < nfirst; i++)
				vals[n++] = first[i];
			r = n > 0 ? mfad_sdir_mod(&ms, LDAP_MOD_DELETE,
			    "mfadSend", vals, n) : 0;
		}
		if (r != 0 || ms.n == 0)
			break;
		if ((r = mfad_sdir_modify(sd, d, dn, ms.p, &ldrc)) != 0)
			break;
		mfad_sdir_mods_free(&ms);
		if (ldrc == LDAP_SUCCESS)
			break;
		if (ldrc != LDAP_NO_SUCH_ATTRIBUTE) {
			r = ldrc == LDAP_NO_SUCH_OBJECT ? MSS_ERR_NOTFOUND :
			    mfad_sdir_refused(sd, "send count", dn, ldrc);
			break;
		}
	}
	if (r == 0 && tries == SDIR_TRIES)
		r = mfad_sdir_refused(sd, "send count", dn, ldrc);
	mfad_sdir_mods_free(&ms);
	free(vals);
	free(cur);
	return r;
}

/*
 * Ends the failure streak: the failures stored now, the lock and its
 * notice deleted by value, so that a lock or a failure that arrives
 * between this read and the modify stays (a modify that meets one,
 * LDAP_NO_SUCH_ATTRIBUTE, reads again). Never a replace: a replace on
 * one provider and a write of the same attribute at once on the other
 * can leave the two providers different for good (doc/STORE.md).
 * keep_lock: after a login that succeeded, a lock that holds now was
 * written after the login's decision, which found none (another
 * host's, on its way here through replication): it stays, with its
 * notice.
 */
static int MSS_WUR
sdir_streak_end(struct mfad_sdir *sd, const char *user, uint64_t now,
    int keep_lock, struct mfad_acct *a)
{
	char dn[MFAD_SDIR_DN_MAX], **first = NULL;
	const char **vals = NULL;
	struct mfad_sdir_mods ms;
	struct mfad_acct *cur;
	struct mfad_dir *d;
	struct mfad_sdir_raw raw;
	uint64_t lock, notice;
	size_t nfirst = 0, n, i;
	int r, ldrc = LDAP_OTHER, tries;

	if ((r = mfad_sdir_acct_dn(sd, user, dn, sizeof(dn))) != 0)
		return r;
	if ((cur = malloc(sizeof(*cur))) == NULL)
		return MSS_ERR_NOMEM;
	mfad_sdir_mods_init(&ms);
	d = mfad_sdir_take(sd);
	for (tries = 0; tries < SDIR_TRIES; tries++) {
		if ((r = mfad_sdir_acct_read(sd, d, dn, user, now, cur,
		    &raw)) != 0)
			goto out;
		lock = cur->locked_until;
		notice = cur->lock_noticed;
		mfad_acct_wipe(cur);
		mfad_sdir_mods_free(&ms);
		if (tries == 0) {
			/* The streak as read first; later ones stay. */
			first = raw.fail;
			nfirst = raw.nfail;
			raw.fail = NULL;
			raw.nfail = 0;
			if (nfirst > 0 && (vals = calloc(nfirst,
			    sizeof(*vals))) == NULL) {
				mfad_sdir_raw_free(&raw);
				r = MSS_ERR_NOMEM;
				goto out;
			}
			for (n = 0; n < nfirst; n++)
				vals[n] = first[n];
		} else
			n = sdir_strv_common(first, nfirst, raw.fail,
			    raw.nfail, vals);
		r = n > 0 ? mfad_sdir_mod(&ms, LDAP_MOD_DELETE, "mfadFailure",
		    vals, n) : 0;
		for (i = 0; r == 0 && i < raw.nlock; i++)
			if (!keep_lock || raw.lock[i] <= now)
				r = mfad_sdir_mod_time(&ms, LDAP_MOD_DELETE,
				    "mfadLockedUntil", raw.lock[i]);
		mfad_sdir_raw_free(&raw);
		if (r == 0 && notice != 0 && (!keep_lock || lock <= now))
			r = mfad_sdir_mod_time(&ms, LDAP_MOD_DELETE,
			    "mfadLockNoticed", notice);
		if (r != 0 || ms.n == 0)
			break;
		if ((r = mfad_sdir_modify(sd, d, dn, ms.p, &ldrc)) != 0)
			goto out;
		if (ldrc == LDAP_SUCCESS)
			break;
		if (ldrc != LDAP_NO_SUCH_ATTRIBUTE) {
			r = ldrc == LDAP_NO_SUCH_OBJECT ? MSS_ERR_NOTFOUND :
			    mfad_sdir_refused(sd, "failure count", dn, ldrc);
			goto out;
		}
	}
	if (r == 0 && tries == SDIR_TRIES)
		r = mfad_sdir_refused(sd, "failure count", dn, ldrc);
	if (r == 0)
		r = mfad_sdir_acct_counters(sd, d, dn, user, now, a);
 out:
	mfad_sdir_give(sd, d);
	mfad_sdir_mods_free(&ms);
	mfad_sdir_strv_free(first, nfirst);
	free(vals);
	free(cur);
	return r;
}

int
mfad_sdir_acct_failures_clear(struct mfad_sdir *sd, const char *user,
    struct mfad_acct *a)
{
	return sdir_streak_end(sd, user, mfad_clock_real_s(), 0, a);
}

int
mfad_sdir_acct_login_clear(struct mfad_sdir *sd, const char *user,
    uint64_t now, struct mfad_acct *a)
{
	return sdir_streak_end(sd, user, now, 1, a);
}

int
mfad_sdir_acct_send_add(struct mfad_sdir *sd, const char *user,
    uint64_t now, struct mfad_acct *a)
{
	char dn[MFAD_SDIR_DN_MAX], val[MFAD_SDIR_EVENT_MAX + 1], **old = NULL;
	struct mfad_sdir_mods ms;
	struct mfad_acct *cur;
	struct mfad_dir *d;
	struct mfad_sdir_raw raw;
	size_t i, nold = 0;
	int r, ldrc;

	if ((r = mfad_sdir_acct_dn(sd, user, dn, sizeof(dn))) != 0)
		return r;
	if ((cur = malloc(sizeof(*cur))) == NULL)
		return MSS_ERR_NOMEM;
	mfad_sdir_event_new(sd, now, val, sizeof(val));
	mfad_sdir_mods_init(&ms);
	d = mfad_sdir_take(sd);
	if ((r = mfad_sdir_acct_read(sd, d, dn, user, now, cur, &raw)) != 0)
		goto out;
	mfad_acct_wipe(cur);
	/* The send first (the guard), then the old ones pruned. */
	if ((r = mfad_sdir_mod1(&ms, LDAP_MOD_ADD, "mfadSend", val)) != 0 ||
	    (r = mfad_sdir_modify(sd, d, dn, ms.p, &ldrc)) != 0)
		goto out;
	if (ldrc != LDAP_SUCCESS && ldrc != LDAP_TYPE_OR_VALUE_EXISTS) {
		r = ldrc == LDAP_NO_SUCH_OBJECT ? MSS_ERR_NOTFOUND :
		    mfad_sdir_refused(sd, "send count", dn, ldrc);
		goto out;
	}
	if (raw.nsend > 0 && (old = calloc(raw.nsend, sizeof(*old))) == NULL) {
		r = MSS_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < raw.nsend; i++)
		if (raw.send_s[i] + MFAD_SENDS_WINDOW <= now)
			old[nold++] = raw.send[i];
	if (nold > 0 && (r = sdir_sends_del(sd, d, dn, user, now, old,
	    nold)) != 0)
		goto out;
	r = mfad_sdir_acct_counters(sd, d, dn, user, now, a);
 out:
	mfad_sdir_give(sd, d);
	mfad_sdir_mods_free(&ms);
	mfad_sdir_raw_free(&raw);
	free(old);
	free(cur);
	return r;
}

/*
 * The sends read now, deleted by value: one added meanwhile on the other
 * provider stays (a mail sent after the clear). a gets the counters as
 * stored.
 */
int
mfad_sdir_acct_sends_clear(struct mfad_sdir *sd, const char *user,
    struct mfad_acct *a)
{
	char dn[MFAD_SDIR_DN_MAX];
	struct mfad_acct *cur;
	struct mfad_dir *d;
	struct mfad_sdir_raw raw;
	uint64_t now = mfad_clock_real_s();
	int r;

	if ((r = mfad_sdir_acct_dn(sd, user, dn, sizeof(dn))) != 0)
		return r;
	if ((cur = malloc(sizeof(*cur))) == NULL)
		return MSS_ERR_NOMEM;
	d = mfad_sdir_take(sd);
	if ((r = mfad_sdir_acct_read(sd, d, dn, user, now, cur, &raw)) == 0) {
		mfad_acct_wipe(cur);
		r = sdir_sends_del(sd, d, dn, user, now, raw.send,
		    raw.nsend);
		mfad_sdir_raw_free(&raw);
		if (r == 0)
			r = mfad_sdir_acct_counters(sd, d, dn, user, now, a);
	}
	mfad_sdir_give(sd, d);
	free(cur);
	return r;
}

int
mfad_sdir_acct_recovery_take(struct mfad_sdir *sd, const char *user,
    const uint8_t h[MFAD_KEY_LEN], struct mfad_acct *a)
{
	char dn[MFAD_SDIR_DN_MAX], hex[2 * MFAD_KEY_LEN + 1];
	struct mfad_sdir_mods ms;
	struct mfad_acct *cur;
	struct mfad_dir *d;
	struct mfad_sdir_raw raw;
	uint32_t i;
	int r, ldrc, found = 0;

	if ((r = mfad_sdir_acct_dn(sd, user, dn, sizeof(dn))) != 0)
		return r;
	if ((cur = malloc(sizeof(*cur))) == NULL)
		return MSS_ERR_NOMEM;
	mfad_sdir_mods_init(&ms);
	d = mfad_sdir_take(sd);
	if ((r = mfad_sdir_acct_read(sd, d, dn, user, mfad_clock_real_s(), cur,
	    &raw)) != 0)
		goto out;
	mfad_sdir_raw_free(&raw);
	/* Every code compared, in constant time. */
	for (i = 0; i < cur->nrecovery; i++)
		found |= sodium_memcmp(cur->recovery[i], h, MFAD_KEY_LEN) == 0;
	mfad_acct_wipe(cur);
	if (!found) {
		r = MSS_ERR_NOTFOUND;
		goto out;
	}
	/* The delete decides: it fails when the value is gone, so the code
	 * is used once on this provider. */
	mfad_sdir_hex(h, MFAD_KEY_LEN, hex);
	r = mfad_sdir_mod1(&ms, LDAP_MOD_DELETE, "mfadRecoveryCode", hex);
	sodium_memzero(hex, sizeof(hex));
	if (r != 0 || (r = mfad_sdir_modify(sd, d, dn, ms.p, &ldrc)) != 0)
		goto out;
	if (ldrc == LDAP_NO_SUCH_ATTRIBUTE || ldrc == LDAP_NO_SUCH_OBJECT) {
		r = MSS_ERR_NOTFOUND;
		goto out;
	}
	if (ldrc != LDAP_SUCCESS) {
		r = mfad_sdir_refused(sd, "recovery code use", dn, ldrc);
		goto out;
	}
	r = mfad_sdir_acct_counters(sd, d, dn, user, mfad_clock_real_s(), a);
 out:
	mfad_sdir_give(sd, d);
	mfad_sdir_mods_free(&ms);
	free(cur);
	return r;
}

int
mfad_sdir_acct_notice_set(struct mfad_sdir *sd, const char *user, int which,
    uint64_t t, struct mfad_acct *a)
{
	char dn[MFAD_SDIR_DN_MAX];
	struct mfad_sdir_mods ms;
	struct mfad_acct *cur;
	struct mfad_dir *d;
	struct mfad_sdir_raw raw;
	const char *attr;
	uint64_t stored, now = mfad_clock_real_s();
	int r, ldrc;

	if (which != MFAD_NOTICE_THROTTLE && which != MFAD_NOTICE_LOCK &&
	    which != MFAD_NOTICE_LAST_LOGIN)
		return MSS_ERR_STORE;
	attr = which == MFAD_NOTICE_LOCK ? "mfadLockNoticed" :
	    which == MFAD_NOTICE_LAST_LOGIN ? "mfadLastLogin" :
	    "mfadThrottleNoticed";
	if ((r = mfad_sdir_acct_dn(sd, user, dn, sizeof(dn))) != 0)
		return r;
	if ((cur = malloc(sizeof(*cur))) == NULL)
		return MSS_ERR_NOMEM;
	mfad_sdir_mods_init(&ms);
	d = mfad_sdir_take(sd);
	if ((r = mfad_sdir_acct_read(sd, d, dn, user, now, cur, &raw)) != 0)
		goto out;
	mfad_sdir_raw_free(&raw);
	stored = which == MFAD_NOTICE_LOCK ? cur->lock_noticed :
	    which == MFAD_NOTICE_LAST_LOGIN ? cur->last_login :
	    cur->throttle_noticed;
	mfad_acct_wipe(cur);
	/* Only a later time (a lost replace only repeats a notice). */
	if (t > stored) {
		if ((r = mfad_sdir_mod_time(&ms, LDAP_MOD_REPLACE, attr,
		    t)) != 0 ||
		    (r = mfad_sdir_modify(sd, d, dn, ms.p, &ldrc)) != 0)
			goto out;
		if (ldrc != LDAP_SUCCESS) {
			r = ldrc == LDAP_NO_SUCH_OBJECT ? MSS_ERR_NOTFOUND :
			    mfad_sdir_refused(sd, "notice time", dn, ldrc);
			goto out;
		}
	}
	r = mfad_sdir_acct_counters(sd, d, dn, user, now, a);
 out:
	mfad_sdir_give(sd, d);
	mfad_sdir_mods_free(&ms);
	free(cur);
	return r;
}
