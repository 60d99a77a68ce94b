/*
 * The store's remembered devices, in one sub-database keyed by user
 * (userdevices, dupsort): each of a user's devices is one duplicate, its
 * keyed hash (MFAD_KEY_LEN bytes) followed by its record (codec, version
 * 3 or 4, without the user: the key says it). The duplicates sort by
 * hash, whatever the version after it, so a login finds its device under
 * the user it names, a list walks them in id order, and a revoke of all
 * deletes one key. The migration of the
 * older layout (devices: hash -> record, userdevs: user -> hashes) runs
 * once at open.
 */
#include "config.h"

#include <string.h>

#include <sodium.h>

#include "mfad_log.h"
#include "mfad_store_dir.h"
#include "mfad_store_lmdb.h"
#include "mss_buf.h"
#include "mss_err.h"

#define MFAD_DEVICE_V3		3	/* the first record of this layout */
#define MFAD_DEVICE_VAL_MAX	511	/* LMDB's bound on a duplicate */
#define MFAD_MIGRATE_BATCH	1024	/* devices moved a transaction */

/* What an older mfad finds where its sub-database was: a plain record,
 * which it cannot open as one, so it refuses the store. */
static const char mfad_device_guard_key[] = "devices";
static const char mfad_device_guard_val[] =
    "moved to userdevices by a newer mfad";

/* Decodes the value v found under user key k into hash and d. */
static int MSS_WUR
mfad_device_value(const MDB_val *k, const MDB_val *v,
    uint8_t hash[MFAD_KEY_LEN], struct mfad_device *d)
{
	const uint8_t *p = v->mv_data;
	int r;

	if (k->mv_size == 0 || k->mv_size > MFAD_USER_MAX ||
	    memchr(k->mv_data, '\0', k->mv_size) != NULL ||
	    v->mv_size <= MFAD_KEY_LEN || p[MFAD_KEY_LEN] < MFAD_DEVICE_V3) {
		mfad_log(LOG_ERR, "store: malformed device record");
		return MSS_ERR_STORE;
	}
	if ((r = mfad_rec_decode(&mfad_rec_device, p + MFAD_KEY_LEN,
	    v->mv_size - MFAD_KEY_LEN, d)) != 0)
		return r;
	memcpy(d->user, k->mv_data, k->mv_size);
	d->user[k->mv_size] = '\0';
	memcpy(hash, p, MFAD_KEY_LEN);
	return 0;
}

int
mfad_store_device_seen(const MDB_val *k, const MDB_val *v,
    char user[MFAD_USER_MAX + 1], uint64_t *last_used)
{
	struct mfad_device d;
	uint8_t hash[MFAD_KEY_LEN];
	int r;

	if ((r = mfad_device_value(k, v, hash, &d)) == 0) {
		memcpy(user, d.user, MFAD_USER_MAX + 1);
		*last_used = d.last_used;
	}
	sodium_memzero(&d, sizeof(d));
	return r;
}

int
mfad_store_device_expired(const MDB_val *k, const MDB_val *v, uint64_t now)
{
	struct mfad_device d;
	uint8_t hash[MFAD_KEY_LEN];
	int r;

	if ((r = mfad_device_value(k, v, hash, &d)) == MSS_ERR_STORE)
		return 1;		/* no login can use it */
	return r == 0 && d.expires <= now;
}

/* Puts the cursor on user's device hash: MDB_NOTFOUND when absent. */
static int MSS_WUR
mfad_device_seek(MDB_cursor *cur, const char *user,
    const uint8_t key[MFAD_KEY_LEN], MDB_val *v)
{
	MDB_val k = { strlen(user), (void *)user };
	int rc;

	v->mv_size = MFAD_KEY_LEN;
	v->mv_data = (void *)key;
	rc = mdb_cursor_get(cur, &k, v, MDB_GET_BOTH_RANGE);
	if (rc == 0 && (v->mv_size < MFAD_KEY_LEN ||
	    memcmp(v->mv_data, key, MFAD_KEY_LEN) != 0))
		rc = MDB_NOTFOUND;
	return rc;
}

/* Writes d (its user the key) at hash key, replacing the one there. */
static int MSS_WUR
mfad_device_write(MDB_txn *mt, MDB_dbi dbi, const uint8_t key[MFAD_KEY_LEN],
    const struct mfad_device *d)
{
	MDB_cursor *cur;
	MDB_val k = { strlen(d->user), (void *)d->user }, v;
	struct mss_buf *b;
	int rc, r;

	if (!mfad_store_user_key_ok(d->user))
		return mfad_store_err(MDB_BAD_VALSIZE, "device");
	if ((b = mss_buf_new(MFAD_DEVICE_VAL_MAX)) == NULL)
		return MSS_ERR_NOMEM;
	if ((r = mss_buf_put(b, key, MFAD_KEY_LEN)) != 0 ||
	    (r = mfad_rec_encode(b, &mfad_rec_device, d)) != 0) {
		mss_buf_free(b);
		return r == MSS_ERR_NOMEM ? r : MSS_ERR_STORE;
	}
	if ((rc = mdb_cursor_open(mt, dbi, &cur)) != 0) {
		mss_buf_free(b);
		return mfad_store_err(rc, "cursor");
	}
	rc = mfad_device_seek(cur, d->user, key, &v);
	if (rc == 0)
		rc = mdb_cursor_del(cur, 0);
	if (rc == 0 || rc == MDB_NOTFOUND) {
		v.mv_size = mss_buf_avail(b);
		v.mv_data = (void *)mss_buf_ptr(b);
		rc = mdb_cursor_put(cur, &k, &v, 0);
	}
	mdb_cursor_close(cur);
	mss_buf_free(b);
	return mfad_store_err(rc, "device");
}

int
mfad_device_get(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, const uint8_t key[MFAD_KEY_LEN], struct mfad_device *d)
{
	MDB_cursor *cur;
	MDB_val k = { strlen(user), (void *)user }, v;
	uint8_t hash[MFAD_KEY_LEN];
	int rc, r;

	if (MFAD_STORE_DEV_DIR(st))
		return mfad_sdir_device_get(st->dir, user, key, d);
	if (!mfad_store_user_key_ok(user))
		return MSS_ERR_NOTFOUND;
	if ((rc = mdb_cursor_open(txn->mt, st->devices, &cur)) != 0)
		return mfad_store_err(rc, "cursor");
	if ((rc = mfad_device_seek(cur, user, key, &v)) == 0)
		r = mfad_device_value(&k, &v, hash, d);
	else
		r = mfad_store_err(rc, "device");
	mdb_cursor_close(cur);
	return r;
}

int
mfad_device_put(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], const struct mfad_device *d)
{
	if (MFAD_STORE_DEV_DIR(st))
		return mfad_sdir_device_put(st->dir, key, d);
	return mfad_device_write(txn->mt, st->devices, key, d);
}

int
mfad_device_keeps_last_login(const struct mfad_store *st)
{
	return st->dir == NULL || MFAD_STORE_DEV_DIR(st);
}

int
mfad_device_last_used(const uint8_t *key, const struct mfad_device *d,
    void *t)
{
	uint64_t *last = t;

	(void)key;
	if (d->last_used > *last)
		*last = d->last_used;
	return 0;
}

int
mfad_store_device_fold(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, uint64_t last_used)
{
	int r;

	if (!mfad_device_keeps_last_login(st) || last_used == 0)
		return 0;
	r = mfad_acct_notice_set(txn, st, user, MFAD_NOTICE_LAST_LOGIN,
	    last_used, NULL);
	/* A device left by an account deleted since: nothing to keep. */
	return r == MSS_ERR_NOTFOUND ? 0 : r;
}

int
mfad_device_del(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, const uint8_t key[MFAD_KEY_LEN])
{
	MDB_cursor *cur;
	MDB_val v;
	char owner[MFAD_USER_MAX + 1];
	uint64_t last = 0;
	int rc, r;

	if (MFAD_STORE_DEV_DIR(st))
		return mfad_sdir_device_del(st->dir, user, key);
	if (!mfad_store_user_key_ok(user))
		return MSS_ERR_NOTFOUND;
	if ((rc = mdb_cursor_open(txn->mt, st->devices, &cur)) != 0)
		return mfad_store_err(rc, "cursor");
	if ((rc = mfad_device_seek(cur, user, key, &v)) == 0) {
		/* One that does not read has no last use to keep. */
		if (mfad_store_device_seen(&(MDB_val){ strlen(user),
		    (void *)user }, &v, owner, &last) != 0)
			last = 0;
		rc = mdb_cursor_del(cur, 0);
	}
	mdb_cursor_close(cur);
	if ((r = mfad_store_err(rc, "device")) != 0)
		return r;
	return mfad_store_device_fold(txn, st, user, last);
}

int
mfad_device_list(struct mfad_txn *txn, struct mfad_store *st, const char *user,
    int (*fn)(const uint8_t *, const struct mfad_device *, void *), void *arg)
{
	return mfad_device_list_after(txn, st, user, NULL, fn, arg);
}

/*
 * The devices of user whose key starts above after (MFAD_DEVICE_ID_LEN
 * bytes, the id "device list" shows; NULL: from the first), in key order,
 * so that a client pages by naming the last id it got.
 */
int
mfad_device_list_after(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, const uint8_t *after,
    int (*fn)(const uint8_t *, const struct mfad_device *, void *), void *arg)
{
	MDB_cursor *cur;
	MDB_val k = { strlen(user), (void *)user }, v;
	struct mfad_device d;
	uint8_t key[MFAD_KEY_LEN];
	int rc, r = 0;

	if (MFAD_STORE_DEV_DIR(st))
		return mfad_sdir_device_list_after(st->dir, user, after,
		    fn, arg);
	if (!mfad_store_user_key_ok(user))
		return 0;
	if ((rc = mdb_cursor_open(txn->mt, st->devices, &cur)) != 0)
		return mfad_store_err(rc, "cursor");
	if (after != NULL) {
		/* The first key at or above after + zeros; keys sharing the
		 * id were on the previous page. */
		memset(key, 0, sizeof(key));
		memcpy(key, after, MFAD_DEVICE_ID_LEN);
		v.mv_size = sizeof(key);
		v.mv_data = key;
		rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH_RANGE);
	} else
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
		if (after != NULL && v.mv_size >= MFAD_DEVICE_ID_LEN &&
		    memcmp(v.mv_data, after, MFAD_DEVICE_ID_LEN) <= 0)
			continue;
		if ((r = mfad_device_value(&k, &v, key, &d)) != 0 ||
		    (r = fn(key, &d, arg)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
		r = mfad_store_err(rc, "device list");
	return r;
}

int
mfad_device_revoke_all(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, unsigned *n)
{
	MDB_cursor *cur;
	MDB_val k = { strlen(user), (void *)user }, v;
	struct mfad_device d;
	uint8_t hash[MFAD_KEY_LEN];
	size_t count = 0;
	uint64_t last = 0;
	int rc;

	if (MFAD_STORE_DEV_DIR(st))
		return mfad_sdir_device_revoke_all(st->dir, user, n);
	*n = 0;
	if (!mfad_store_user_key_ok(user))
		return 0;
	if ((rc = mdb_cursor_open(txn->mt, st->devices, &cur)) != 0)
		return mfad_store_err(rc, "cursor");
	/* The latest use first, kept in the account below; one that
	 * does not read has none. */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP))
		if (mfad_device_value(&k, &v, hash, &d) == 0 &&
		    d.last_used > last)
			last = d.last_used;
	sodium_memzero(&d, sizeof(d));
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
	if (rc == 0 && (rc = mdb_cursor_count(cur, &count)) == 0)
		rc = mdb_cursor_del(cur, MDB_NODUPDATA);
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return mfad_store_err(rc, "device revoke");
	*n = (unsigned)count;
	return mfad_store_device_fold(txn, st, user, last);
}

/*
 * Moves the older record at hash (if any) under its user and deletes
 * it; a record that does not read is dropped: no login could use it.
 */
static int MSS_WUR
mfad_device_move(MDB_txn *mt, struct mfad_store *st, MDB_dbi old,
    const uint8_t hash[MFAD_KEY_LEN], unsigned long *moved,
    unsigned long *dropped)
{
	MDB_val k = { MFAD_KEY_LEN, (void *)hash }, v;
	struct mfad_device d;
	int rc, r;

	if ((rc = mdb_get(mt, old, &k, &v)) == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return mfad_store_err(rc, "device migration");
	if (mfad_rec_decode(&mfad_rec_device, v.mv_data, v.mv_size, &d) == 0 &&
	    mfad_store_user_key_ok(d.user)) {
		if ((r = mfad_device_write(mt, st->devices, hash, &d)) != 0)
			return r;
		(*moved)++;
	} else
		(*dropped)++;
	return mfad_store_err(mdb_del(mt, old, &k, NULL), "device migration");
}

/*
 * One transaction of the migration: up to MFAD_MIGRATE_BATCH devices
 * moved, first in the order of the older index (by user: the new
 * sub-database fills like an append, its pages full), then any record
 * the index missed; when none is left, devices and userdevs are dropped
 * and the guard put in their place. *done: the migration is over (or
 * there was none to do).
 */
static int MSS_WUR
mfad_device_migrate_step(struct mfad_store *st, unsigned long *moved,
    unsigned long *dropped, int *done)
{
	MDB_val gk = { sizeof(mfad_device_guard_key) - 1,
	    (void *)mfad_device_guard_key };
	MDB_val gv = { sizeof(mfad_device_guard_val) - 1,
	    (void *)mfad_device_guard_val };
	struct mfad_txn *txn = NULL;
	MDB_txn *mt;
	MDB_dbi old, idx, main;
	MDB_cursor *cur;
	MDB_val k, v;
	uint8_t key[MFAD_KEY_LEN];
	unsigned n = 0;
	int rc, r, has_idx;

	*done = 0;
	if ((r = mfad_txn_begin(st, 0, &txn)) != 0)
		return r;
	mt = txn->mt;
	rc = mdb_dbi_open(mt, mfad_device_guard_key, 0, &old);
	if (rc == MDB_INCOMPATIBLE) {
		/* The guard: migrated, or made by this layout. */
		mfad_txn_abort(&txn);
		*done = 1;
		return 0;
	}
	if (rc == MDB_NOTFOUND)
		goto finish;		/* a new store */
	if (rc != 0)
		goto fail;
	rc = mdb_dbi_open(mt, "userdevs", 0, &idx);
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail;
	has_idx = rc == 0;

	/* By user, through the index. */
	if (has_idx) {
		if ((rc = mdb_cursor_open(mt, idx, &cur)) != 0)
			goto fail;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		    rc == 0 && n < MFAD_MIGRATE_BATCH;
		    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST), n++) {
			if (v.mv_size == MFAD_KEY_LEN) {
				memcpy(key, v.mv_data, MFAD_KEY_LEN);
				if ((r = mfad_device_move(mt, st, old, key,
				    moved, dropped)) != 0) {
					mdb_cursor_close(cur);
					mfad_txn_abort(&txn);
					return r;
				}
			}
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				break;
		}
		mdb_cursor_close(cur);
		if (rc != 0 && rc != MDB_NOTFOUND)
			goto fail;
	}
	/* Then what the index did not name, by hash. */
	if ((rc = mdb_cursor_open(mt, old, &cur)) != 0)
		goto fail;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	    rc == 0 && n < MFAD_MIGRATE_BATCH;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST), n++) {
		if (k.mv_size != MFAD_KEY_LEN) {
			(*dropped)++;
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				break;
			continue;
		}
		memcpy(key, k.mv_data, MFAD_KEY_LEN);
		if ((r = mfad_device_move(mt, st, old, key, moved,
		    dropped)) != 0) {
			mdb_cursor_close(cur);
			mfad_txn_abort(&txn);
			return r;
		}
	}
	mdb_cursor_close(cur);
	if (rc == 0) {
		/* More to move: the next transaction goes on. */
		return mfad_txn_commit(&txn);
	}
	if (rc != MDB_NOTFOUND)
		goto fail;
	if ((has_idx && (rc = mdb_drop(mt, idx, 1)) != 0) ||
	    (rc = mdb_drop(mt, old, 1)) != 0)
		goto fail;
finish:
	if ((rc = mdb_dbi_open(mt, NULL, 0, &main)) != 0 ||
	    (rc = mdb_put(mt, main, &gk, &gv, 0)) != 0)
		goto fail;
	if ((r = mfad_txn_commit(&txn)) != 0)
		return r;
	*done = 1;
	return 0;
fail:
	mfad_txn_abort(&txn);
	return mfad_store_err(rc, "device migration");
}

int
mfad_store_device_migrate(struct mfad_store *st)
{
	unsigned long moved = 0, dropped = 0;
	int r, done = 0, logged = 0;

	while (!done) {
		if ((r = mfad_device_migrate_step(st, &moved, &dropped,
		    &done)) != 0)
			return r;
		if (!done && !logged) {
			mfad_log(LOG_NOTICE, "store: moving remembered devices "
			    "under their users (once)");
			logged = 1;
		}
	}
	if (logged || moved > 0 || dropped > 0)
		mfad_log(LOG_NOTICE, "store: %lu remembered devices moved, "
		    "%lu unreadable ones dropped", moved, dropped);
	return 0;
}
