/*
 * The store's sweep: logins and devices past their expiry, throttle
 * records an hour after their last send, audit records past their
 * keeping time, deleted a budget of records at a time; in fleet mode
 * the directory's throttle records after them.
 */
#include "config.h"

#include <string.h>

#include "mfad_store_dir.h"
#include "mfad_store_lmdb.h"
#include "mss_err.h"

/*
 * Whether the record at k (value v) of phase pos->phase goes (1) or
 * stays (0); MFAD_SWEEP_END when the audit walk reached records to keep.
 * A corrupt login or device goes (no login can use it).
 */
#define MFAD_SWEEP_END	2
static int MSS_WUR
mfad_sweep_one(struct mfad_txn *txn, struct mfad_store *st, int phase,
    const MDB_val *k, const MDB_val *v, uint64_t now, uint64_t audit_before)
{
	uint8_t key[MFAD_KEY_LEN];
	struct mfad_login l;
	struct mfad_throttle_rec t;
	int r;

	if (phase == MFAD_SWEEP_AUDIT)
		return k->mv_size >= 8 &&
		    mfad_store_key_u64(k->mv_data) / 1000000 >= audit_before ?
		    MFAD_SWEEP_END : 1;
	if (phase == MFAD_SWEEP_DEVICES)
		return mfad_store_device_expired(k, v, now);
	if (k->mv_size != MFAD_KEY_LEN)
		return 0;
	memcpy(key, k->mv_data, MFAD_KEY_LEN);
	switch (phase) {
	case MFAD_SWEEP_LOGINS:
		r = mfad_login_get(txn, st, key, &l);
		return r == MSS_ERR_STORE || (r == 0 && l.expires <= now);
	default:
		/* The local records: in fleet mode those of before it. */
		r = mfad_rec_get(txn, st->throttles, key, MFAD_KEY_LEN,
		    &mfad_rec_throttle, &t);
		/* An hour after its last send a record limits nothing. */
		return !((r != 0 && r != MSS_ERR_STORE) || (r == 0 &&
		    t.nsends > 0 && t.sends[t.nsends - 1] + 3600 > now));
	}
}

/* An expired device's last use stays in its user's last login. */
static int MSS_WUR
mfad_sweep_fold(struct mfad_txn *txn, struct mfad_store *st,
    const MDB_val *k, const MDB_val *v)
{
	char user[MFAD_USER_MAX + 1];
	uint64_t last;

	if (mfad_store_device_seen(k, v, user, &last) != 0)
		return 0;		/* no last use to keep */
	return mfad_store_device_fold(txn, st, user, last);
}

/*
 * Puts cur after the last record pos looked at (kept, or gone). Devices
 * are duplicates under their user: there the last hash counts too.
 */
static int MSS_WUR
mfad_sweep_resume(MDB_cursor *cur, const struct mfad_sweep_pos *pos,
    MDB_val *k, MDB_val *v)
{
	MDB_cursor_op past = MDB_NEXT;
	int rc;

	if (pos->klen == 0)
		return mdb_cursor_get(cur, k, v, MDB_FIRST);
	if (pos->phase == MFAD_SWEEP_DEVICES) {
		k->mv_size = pos->klen;
		k->mv_data = (void *)pos->key;
		v->mv_size = MFAD_KEY_LEN;
		v->mv_data = (void *)pos->dkey;
		rc = mdb_cursor_get(cur, k, v, MDB_GET_BOTH_RANGE);
		if (rc == 0 && v->mv_size >= MFAD_KEY_LEN &&
		    memcmp(v->mv_data, pos->dkey, MFAD_KEY_LEN) == 0)
			return mdb_cursor_get(cur, k, v, MDB_NEXT);
		if (rc != MDB_NOTFOUND)
			return rc;
		/* No hash above the last one left under that user: on to
		 * the next user. */
		past = MDB_NEXT_NODUP;
	}
	k->mv_size = pos->klen;
	k->mv_data = (void *)pos->key;
	rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
	if (rc == 0 && k->mv_size == pos->klen &&
	    memcmp(k->mv_data, pos->key, pos->klen) == 0)
		rc = mdb_cursor_get(cur, k, v, past);
	return rc;
}

int
mfad_store_sweep_step(struct mfad_txn *txn, struct mfad_store *st,
    uint64_t now, uint64_t audit_before, struct mfad_sweep_pos *pos,
    unsigned budget, unsigned *n)
{
	MDB_dbi dbis[] = { st->logins, st->devices, st->throttles, st->audit };
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, go, r;

	while (pos->phase < MFAD_SWEEP_DONE && budget > 0) {
		if ((rc = mdb_cursor_open(txn->mt, dbis[pos->phase],
		    &cur)) != 0)
			return mfad_store_err(rc, "cursor");
		rc = mfad_sweep_resume(cur, pos, &k, &v);
		for (; rc == 0 && budget > 0;
		    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			budget--;
			pos->klen = k.mv_size < sizeof(pos->key) ? k.mv_size :
			    sizeof(pos->key);
			memcpy(pos->key, k.mv_data, pos->klen);
			if (pos->phase == MFAD_SWEEP_DEVICES) {
				memset(pos->dkey, 0, sizeof(pos->dkey));
				memcpy(pos->dkey, v.mv_data, v.mv_size <
				    sizeof(pos->dkey) ? v.mv_size :
				    sizeof(pos->dkey));
			}
			go = mfad_sweep_one(txn, st, pos->phase, &k, &v, now,
			    audit_before);
			if (go == MFAD_SWEEP_END) {
				rc = MDB_NOTFOUND;
				break;
			}
			if (go && pos->phase == MFAD_SWEEP_DEVICES &&
			    (r = mfad_sweep_fold(txn, st, &k, &v)) != 0) {
				mdb_cursor_close(cur);
				return r;
			}
			if (go && (rc = mdb_cursor_del(cur, 0)) != 0)
				break;
			if (go)
				(*n)++;
		}
		mdb_cursor_close(cur);
		if (rc == MDB_NOTFOUND) {
			pos->phase++;
			pos->klen = 0;
		} else if (rc != 0)
			return mfad_store_err(rc, "sweep");
	}
	return 0;
}

int
mfad_store_sweep(struct mfad_txn *txn, struct mfad_store *st,
    uint64_t now, uint64_t audit_before, unsigned *n)
{
	struct mfad_sweep_pos pos;
	int r;

	memset(&pos, 0, sizeof(pos));
	*n = 0;
	while (pos.phase < MFAD_SWEEP_DONE)
		if ((r = mfad_store_sweep_step(txn, st, now, audit_before,
		    &pos, 1U << 20, n)) != 0)
			return r;
	return 0;
}

int
mfad_store_sweep_run(struct mfad_store *st, uint64_t now,
    uint64_t audit_before, unsigned *n)
{
	struct mfad_sweep_pos pos;
	struct mfad_txn *txn = NULL;
	unsigned got;
	int r;

	memset(&pos, 0, sizeof(pos));
	*n = 0;
	while (pos.phase < MFAD_SWEEP_DONE) {
		got = 0;
		if ((r = mfad_txn_begin(st, 0, &txn)) != 0)
			return r;
		if ((r = mfad_store_sweep_step(txn, st, now, audit_before,
		    &pos, MFAD_SWEEP_BUDGET, &got)) != 0) {
			mfad_txn_abort(&txn);
			return r;
		}
		if ((r = mfad_txn_commit(&txn)) != 0)
			return r;
		*n += got;
	}
	/* Room was made: a write may work again. */
	if (*n > 0)
		mfad_store_full_clear();
	/* Fleet mode: the throttle records in the directory too (every
	 * host sweeps them; a record gone already is no error). */
	if (st->dir != NULL) {
		if ((r = mfad_sdir_throttle_sweep(st->dir, now, &got)) != 0)
			return r;
		*n += got;
	}
	return 0;
}

int
mfad_store_dir_sweep(struct mfad_store *st, uint64_t now, unsigned budget,
    unsigned *n, int *more)
{
	*n = 0;
	*more = 0;
	/* Any scope: devices a host left there under scope fleet expire
	 * too. */
	if (st->dir == NULL)
		return 0;
	return mfad_sdir_device_sweep(st->dir, now, budget, n, more);
}
