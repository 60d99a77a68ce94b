/*
 * The store's accounts (user -> account record) and their email index
 * (lowercased address -> user), kept together: an account's put and
 * delete change both in the caller's transaction.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "mfad_log.h"
#include "mfad_store_dir.h"
#include "mfad_store_lmdb.h"
#include "mss_err.h"
#include "mfad_str.h"

void
mfad_acct_wipe(struct mfad_acct *a)
{
	sodium_memzero(a->pwhash, sizeof(a->pwhash));
	sodium_memzero(a->recovery, sizeof(a->recovery));
}

void
mfad_acct_recovery_set(struct mfad_acct *a, const uint8_t (*h)[MFAD_KEY_LEN],
    uint32_t n)
{
	sodium_memzero(a->recovery, sizeof(a->recovery));
	if (n > MFAD_RECOVERY_MAX)
		n = MFAD_RECOVERY_MAX;
	if (n > 0)
		memcpy(a->recovery, h, (size_t)n * MFAD_KEY_LEN);
	a->nrecovery = n;
}

int
mfad_acct_recovery_use(struct mfad_acct *a, const uint8_t h[MFAD_KEY_LEN])
{
	uint32_t i, hit = 0, found = 0;
	uint32_t n = a->nrecovery < MFAD_RECOVERY_MAX ? a->nrecovery :
	    MFAD_RECOVERY_MAX;

	/* Every hash is compared, so the time tells nothing of which. */
	for (i = 0; i < n; i++) {
		uint32_t eq = sodium_memcmp(a->recovery[i], h,
		    MFAD_KEY_LEN) == 0;

		hit |= eq * i;
		found |= eq;
	}
	if (!found)
		return MSS_ERR_NOTFOUND;
	memmove(a->recovery[hit], a->recovery[hit + 1],
	    (size_t)(n - hit - 1) * MFAD_KEY_LEN);
	sodium_memzero(a->recovery[n - 1], MFAD_KEY_LEN);
	a->nrecovery = n - 1;
	return 0;
}

/* Decodes the account v stored under key k: its user is the key (since
 * version 5 the record does not hold it; before, the same name). */
static int MSS_WUR
mfad_acct_value(const MDB_val *k, const MDB_val *v, struct mfad_acct *a)
{
	int r;

	if (k->mv_size == 0 || k->mv_size > MFAD_USER_MAX ||
	    memchr(k->mv_data, '\0', k->mv_size) != NULL) {
		mfad_log(LOG_ERR, "store: malformed account key");
		return MSS_ERR_STORE;
	}
	if ((r = mfad_rec_decode(&mfad_rec_acct, v->mv_data, v->mv_size,
	    a)) != 0)
		return r;
	memcpy(a->user, k->mv_data, k->mv_size);
	a->user[k->mv_size] = '\0';
	return 0;
}

int
mfad_acct_get(struct mfad_txn *txn, struct mfad_store *st, const char *user,
    struct mfad_acct *a)
{
	MDB_val k, v;
	int rc;

	if (st->dir != NULL)
		return mfad_sdir_acct_get(st->dir, user, a);
	if (!mfad_store_user_key_ok(user))
		return MSS_ERR_NOTFOUND;
	k.mv_size = strlen(user);
	k.mv_data = (void *)user;
	if ((rc = mdb_get(txn->mt, st->accounts, &k, &v)) != 0)
		return mfad_store_err(rc, "account");
	return mfad_acct_value(&k, &v, a);
}

int
mfad_acct_put(struct mfad_txn *txn, struct mfad_store *st,
    const struct mfad_acct *a, const char *old_email)
{
	char lower[MFAD_EMAIL_MAX + 1], owner[MFAD_USER_MAX + 1];
	int r;

	if (st->dir != NULL)
		return mfad_sdir_acct_put(st->dir, a, old_email);
	mfad_str_lower(lower, a->email, sizeof(lower));
	if (old_email == NULL || strcasecmp(old_email, a->email) != 0) {
		/* One account per address. */
		r = mfad_acct_by_email(txn, st, a->email, owner,
		    sizeof(owner));
		if (r == 0 && strcmp(owner, a->user) != 0)
			return MSS_ERR_EXISTS;
		if (r != 0 && r != MSS_ERR_NOTFOUND)
			return r;
		if (old_email != NULL && old_email[0] != '\0') {
			char oldl[MFAD_EMAIL_MAX + 1];

			mfad_str_lower(oldl, old_email, sizeof(oldl));
			r = mfad_rec_del(txn, st->emails, oldl, strlen(oldl),
			    "email index");
			if (r != 0 && r != MSS_ERR_NOTFOUND)
				return r;
		}
		if ((r = mfad_store_err(mdb_put(txn->mt, st->emails,
		    &(MDB_val){ strlen(lower), lower },
		    &(MDB_val){ strlen(a->user), (void *)a->user }, 0),
		    "email index")) != 0)
			return r;
	}
	return mfad_rec_put(txn, st->accounts, a->user, strlen(a->user),
	    &mfad_rec_acct, a, 0);
}

int
mfad_acct_del(struct mfad_txn *txn, struct mfad_store *st,
    const struct mfad_acct *a)
{
	char lower[MFAD_EMAIL_MAX + 1];
	unsigned n;
	int r;

	if (st->dir != NULL) {
		/* Devices kept here ([device] scope host) go with it. */
		if ((r = mfad_sdir_acct_del(st->dir, a)) != 0 ||
		    MFAD_STORE_DEV_DIR(st))
			return r;
		return mfad_device_revoke_all(txn, st, a->user, &n);
	}
	mfad_str_lower(lower, a->email, sizeof(lower));
	r = mfad_rec_del(txn, st->emails, lower, strlen(lower), "email index");
	if (r != 0 && r != MSS_ERR_NOTFOUND)
		return r;
	if ((r = mfad_device_revoke_all(txn, st, a->user, &n)) != 0)
		return r;
	return mfad_rec_del(txn, st->accounts, a->user, strlen(a->user),
	    "account");
}

void
mfad_store_sends_add(uint64_t *sends, uint32_t *nsends, uint64_t now)
{
	uint32_t i, j;

	for (i = j = 0; i < *nsends && i < MFAD_SENDS_MAX; i++)
		if (sends[i] + MFAD_SENDS_WINDOW > now)
			sends[j++] = sends[i];
	if (j == MFAD_SENDS_MAX) {
		memmove(sends, sends + 1, (MFAD_SENDS_MAX - 1) *
		    sizeof(sends[0]));
		j--;
	}
	sends[j++] = now;
	*nsends = j;
}

/*
 * The counter operations, read-modify-write in the caller's transaction
 * (LMDB has one writer at a time: nothing is lost). Only the account's
 * record changes: its address, and so the email index, stays.
 */
static int MSS_WUR
mfad_acct_counter_store(struct mfad_txn *txn, struct mfad_store *st,
    struct mfad_acct *cur, struct mfad_acct *a)
{
	int r;

	r = mfad_rec_put(txn, st->accounts, cur->user, strlen(cur->user),
	    &mfad_rec_acct, cur, 0);
	if (r == 0 && a != NULL) {
		a->failures = cur->failures;
		a->locked_until = cur->locked_until;
		a->nsends = cur->nsends;
		memcpy(a->sends, cur->sends, sizeof(a->sends));
		a->throttle_noticed = cur->throttle_noticed;
		a->lock_noticed = cur->lock_noticed;
		a->nrecovery = cur->nrecovery;
		memcpy(a->recovery, cur->recovery, sizeof(a->recovery));
	}
	mfad_acct_wipe(cur);
	return r;
}

int
mfad_acct_fail_add(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, uint64_t now, uint64_t locked_until,
    struct mfad_acct *a)
{
	struct mfad_acct cur;
	int r;

	if (st->dir != NULL)
		return mfad_sdir_acct_fail_add(st->dir, user, now,
		    locked_until, a);
	if ((r = mfad_acct_get(txn, st, user, &cur)) != 0)
		return r;
	if (cur.failures < UINT32_MAX)
		cur.failures++;
	if (cur.locked_until != 0 && cur.locked_until <= now)
		cur.locked_until = 0;
	if (locked_until > cur.locked_until)
		cur.locked_until = locked_until;
	return mfad_acct_counter_store(txn, st, &cur, a);
}

int
mfad_acct_failures_clear(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, struct mfad_acct *a)
{
	struct mfad_acct cur;
	int r;

	if (st->dir != NULL)
		return mfad_sdir_acct_failures_clear(st->dir, user, a);
	if ((r = mfad_acct_get(txn, st, user, &cur)) != 0)
		return r;
	cur.failures = 0;
	cur.locked_until = 0;
	cur.lock_noticed = 0;
	return mfad_acct_counter_store(txn, st, &cur, a);
}

int
mfad_acct_login_clear(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, uint64_t now, struct mfad_acct *a)
{
	struct mfad_acct cur;
	int r;

	if (st->dir != NULL)
		return mfad_sdir_acct_login_clear(st->dir, user, now, a);
	if ((r = mfad_acct_get(txn, st, user, &cur)) != 0)
		return r;
	cur.failures = 0;
	if (cur.locked_until <= now) {
		cur.locked_until = 0;
		cur.lock_noticed = 0;
	}
	return mfad_acct_counter_store(txn, st, &cur, a);
}

int
mfad_acct_send_add(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, uint64_t now, struct mfad_acct *a)
{
	struct mfad_acct cur;
	int r;

	if (st->dir != NULL)
		return mfad_sdir_acct_send_add(st->dir, user, now, a);
	if ((r = mfad_acct_get(txn, st, user, &cur)) != 0)
		return r;
	mfad_store_sends_add(cur.sends, &cur.nsends, now);
	return mfad_acct_counter_store(txn, st, &cur, a);
}

int
mfad_acct_sends_clear(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, struct mfad_acct *a)
{
	struct mfad_acct cur;
	int r;

	if (st->dir != NULL)
		return mfad_sdir_acct_sends_clear(st->dir, user, a);
	if ((r = mfad_acct_get(txn, st, user, &cur)) != 0)
		return r;
	cur.nsends = 0;
	memset(cur.sends, 0, sizeof(cur.sends));
	return mfad_acct_counter_store(txn, st, &cur, a);
}

int
mfad_acct_recovery_take(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, const uint8_t h[MFAD_KEY_LEN], struct mfad_acct *a)
{
	struct mfad_acct cur;
	int r;

	if (st->dir != NULL)
		return mfad_sdir_acct_recovery_take(st->dir, user, h, a);
	if ((r = mfad_acct_get(txn, st, user, &cur)) != 0)
		return r;
	if ((r = mfad_acct_recovery_use(&cur, h)) != 0) {
		mfad_acct_wipe(&cur);
		return r;
	}
	return mfad_acct_counter_store(txn, st, &cur, a);
}

int
mfad_acct_notice_set(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, int which, uint64_t t, struct mfad_acct *a)
{
	struct mfad_acct cur;
	uint64_t *p;
	int r;

	if (st->dir != NULL)
		return mfad_sdir_acct_notice_set(st->dir, user, which,
		    t, a);
	if (which != MFAD_NOTICE_THROTTLE && which != MFAD_NOTICE_LOCK &&
	    which != MFAD_NOTICE_LAST_LOGIN)
		return MSS_ERR_STORE;
	if ((r = mfad_acct_get(txn, st, user, &cur)) != 0)
		return r;
	p = which == MFAD_NOTICE_LOCK ? &cur.lock_noticed :
	    which == MFAD_NOTICE_LAST_LOGIN ? &cur.last_login :
	    &cur.throttle_noticed;
	/* Only a later time: a lost replace only repeats a notice. */
	if (t > *p)
		*p = t;
	return mfad_acct_counter_store(txn, st, &cur, a);
}

int
mfad_acct_by_email(struct mfad_txn *txn, struct mfad_store *st,
    const char *email, char *user, size_t userlen)
{
	char lower[MFAD_EMAIL_MAX + 1];
	MDB_val key, val;
	int rc;

	if (st->dir != NULL)
		return mfad_sdir_acct_by_email(st->dir, email, user,
		    userlen);
	if (email[0] == '\0' || strlen(email) > MFAD_EMAIL_MAX)
		return MSS_ERR_NOTFOUND;
	mfad_str_lower(lower, email, sizeof(lower));
	key.mv_size = strlen(lower);
	key.mv_data = lower;
	if ((rc = mdb_get(txn->mt, st->emails, &key, &val)) != 0)
		return mfad_store_err(rc, "email index");
	if (val.mv_size >= userlen)
		return MSS_ERR_STORE;
	memcpy(user, val.mv_data, val.mv_size);
	user[val.mv_size] = '\0';
	return 0;
}

int
mfad_acct_get_many(struct mfad_txn *txn, struct mfad_store *st,
    const char *const *users, size_t n, struct mfad_acct *const *a, int *rc)
{
	size_t i, j;

	if (st->dir != NULL)
		return mfad_sdir_acct_get_many(st->dir, users, n, a, rc);
	for (i = 0; i < n; i++) {
		rc[i] = mfad_acct_get(txn, st, users[i], a[i]);
		if (rc[i] != 0 && rc[i] != MSS_ERR_NOTFOUND) {
			for (j = 0; j <= i; j++) {
				mfad_acct_wipe(a[j]);
				rc[j] = rc[i];
			}
			return rc[i];
		}
	}
	return 0;
}

int
mfad_acct_by_email_many(struct mfad_txn *txn, struct mfad_store *st,
    const char *const *emails, size_t n, char (*owner)[MFAD_USER_MAX + 1],
    int *rc)
{
	size_t i;

	if (st->dir != NULL)
		return mfad_sdir_acct_by_email_many(st->dir, emails, n, owner,
		    rc);
	for (i = 0; i < n; i++) {
		owner[i][0] = '\0';
		rc[i] = emails[i] == NULL ? MSS_ERR_NOTFOUND :
		    mfad_acct_by_email(txn, st, emails[i], owner[i],
		    sizeof(owner[i]));
		if (rc[i] != 0 && rc[i] != MSS_ERR_NOTFOUND)
			return rc[i];
	}
	return 0;
}

int
mfad_acct_put_many(struct mfad_txn *txn, struct mfad_store *st,
    const struct mfad_acct *const *a, const struct mfad_acct *const *before,
    const char *const *old_email, size_t n, int *rc)
{
	size_t i, j;

	if (st->dir != NULL)
		return mfad_sdir_acct_put_many(st->dir, a, before, n, rc);
	/* The loop of put in the caller's transaction: after a failure of
	 * the store the transaction is not to be written to again. */
	for (i = 0; i < n; i++) {
		rc[i] = mfad_acct_put(txn, st, a[i], old_email[i]);
		if (rc[i] != 0 && rc[i] != MSS_ERR_NOTFOUND &&
		    rc[i] != MSS_ERR_EXISTS) {
			for (j = i + 1; j < n; j++)
				rc[j] = rc[i];
			return rc[i];
		}
	}
	return 0;
}

int
mfad_acct_list(struct mfad_txn *txn, struct mfad_store *st, const char *after,
    size_t max, int (*fn)(const struct mfad_acct *, void *), void *arg,
    int *more)
{
	MDB_cursor *cur;
	MDB_val key, val;
	struct mfad_acct a;
	size_t n = 0;
	int rc, r = 0;

	if (st->dir != NULL)
		return mfad_sdir_acct_list(st->dir, after, max, fn, arg,
		    more);
	*more = 0;
	if ((rc = mdb_cursor_open(txn->mt, st->accounts, &cur)) != 0)
		return mfad_store_err(rc, "cursor");
	key.mv_size = strlen(after);
	key.mv_data = (void *)after;
	if (after[0] == '\0')
		rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
	else {
		rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
		if (rc == 0 && key.mv_size == strlen(after) &&
		    memcmp(key.mv_data, after, key.mv_size) == 0)
			rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
	}
	for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		if (n == max) {
			*more = 1;
			break;
		}
		if ((r = mfad_acct_value(&key, &val, &a)) != 0)
			break;
		r = fn(&a, arg);
		mfad_acct_wipe(&a);
		if (r != 0)
			break;
		n++;
	}
	mdb_cursor_close(cur);
	if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
		r = mfad_store_err(rc, "account list");
	return r;
}

int
mfad_acct_count(struct mfad_txn *txn, struct mfad_store *st, uint64_t *n)
{
	MDB_stat ms;
	int rc;

	if (st->dir != NULL)
		return mfad_sdir_acct_count(st->dir, n);
	if ((rc = mdb_stat(txn->mt, st->accounts, &ms)) != 0)
		return mfad_store_err(rc, "stat");
	*n = ms.ms_entries;
	return 0;
}
