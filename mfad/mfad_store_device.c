/*
 * The store's remembered devices (keyed device hash -> device) and
 * their index by user (userdevs, dupsort: user -> device hashes), kept
 * together in the caller's transaction.
 */
#include "config.h"

#include <string.h>

#include "mfad_store_lmdb.h"
#include "mss_err.h"

int
mfad_device_get(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], struct mfad_device *d)
{
	return mfad_rec_get(txn, st->devices, key, MFAD_KEY_LEN,
	    &mfad_rec_device, d);
}

int
mfad_device_put(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], const struct mfad_device *d)
{
	MDB_val k = { strlen(d->user), (void *)d->user };
	MDB_val v = { MFAD_KEY_LEN, (void *)key };
	int rc, r;

	if ((r = mfad_rec_put(txn, st->devices, key, MFAD_KEY_LEN,
	    &mfad_rec_device, d, 0)) != 0)
		return r;
	rc = mdb_put(txn->mt, st->userdevs, &k, &v, MDB_NODUPDATA);
	if (rc != MDB_KEYEXIST)
		r = mfad_store_err(rc, "device index");
	return r;
}

int
mfad_device_del(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN])
{
	struct mfad_device d;
	MDB_val k, v = { MFAD_KEY_LEN, (void *)key };
	int r, rc;

	if ((r = mfad_device_get(txn, st, key, &d)) != 0)
		return r;
	k.mv_size = strlen(d.user);
	k.mv_data = d.user;
	rc = mdb_del(txn->mt, st->userdevs, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mfad_store_err(rc, "device index");
	return mfad_rec_del(txn, st->devices, key, MFAD_KEY_LEN, "device");
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

	if (!mfad_store_user_key_ok(user))
		return 0;
	if ((rc = mdb_cursor_open(txn->mt, st->userdevs, &cur)) != 0)
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
		if (v.mv_size != MFAD_KEY_LEN)
			continue;
		if (after != NULL &&
		    memcmp(v.mv_data, after, MFAD_DEVICE_ID_LEN) <= 0)
			continue;
		memcpy(key, v.mv_data, MFAD_KEY_LEN);
		r = mfad_device_get(txn, st, key, &d);
		if (r == MSS_ERR_NOTFOUND) {
			r = 0;
			continue;
		}
		if (r != 0 || (r = fn(key, &d, arg)) != 0)
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
	MDB_val k = { strlen(user), (void *)user }, v, dk;
	int rc, r = 0;

	*n = 0;
	if (!mfad_store_user_key_ok(user))
		return 0;
	if ((rc = mdb_cursor_open(txn->mt, st->userdevs, &cur)) != 0)
		return mfad_store_err(rc, "cursor");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
		dk = v;
		rc = mdb_del(txn->mt, st->devices, &dk, NULL);
		if (rc == 0)
			(*n)++;
		else if (rc != MDB_NOTFOUND) {
			r = mfad_store_err(rc, "device revoke");
			break;
		}
	}
	mdb_cursor_close(cur);
	if (r != 0)
		return r;
	rc = mdb_del(txn->mt, st->userdevs, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mfad_store_err(rc, "device index");
	return 0;
}
