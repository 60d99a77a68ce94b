/*
 * The store's sweep: logins and devices past their expiry, throttle
 * records an hour after their last send, audit records past their
 * keeping time, deleted a budget of records at a time.
 */
#include "config.h"

#include <string.h>

#include "mfad_store_lmdb.h"
#include "mss_err.h"

/*
 * Whether the record at k of phase pos->phase goes (1) or stays (0);
 * MFAD_SWEEP_END when the audit walk reached records to keep. A
 * corrupt login or device goes (no login can use it); a device's index
 * entry goes with it.
 */
#define MFAD_SWEEP_END	2
static int
mfad_sweep_one(struct mfad_txn *txn, struct mfad_store *st, int phase,
    const MDB_val *k, uint64_t now, uint64_t audit_before, int *rcp)
{
	uint8_t key[MFAD_KEY_LEN];
	struct mfad_login l;
	struct mfad_device d;
	struct mfad_throttle_rec t;
	int r, rc;

	*rcp = 0;
	if (phase == MFAD_SWEEP_AUDIT)
		return k->mv_size >= 8 &&
		    mfad_store_key_u64(k->mv_data) / 1000000 >= audit_before ?
		    MFAD_SWEEP_END : 1;
	if (k->mv_size != MFAD_KEY_LEN)
		return 0;
	memcpy(key, k->mv_data, MFAD_KEY_LEN);
	switch (phase) {
	case MFAD_SWEEP_LOGINS:
		r = mfad_login_get(txn, st, key, &l);
		return r == MSS_ERR_STORE || (r == 0 && l.expires <= now);
	case MFAD_SWEEP_DEVICES:
		r = mfad_device_get(txn, st, key, &d);
		if ((r != 0 && r != MSS_ERR_STORE) || (r == 0 &&
		    d.expires > now))
			return 0;
		/* A corrupt record has no readable user: its index entry
		 * stays, and mfad_device_list skips what it cannot read. */
		if (r == 0) {
			rc = mdb_del(txn->mt, st->userdevs,
			    &(MDB_val){ strlen(d.user), d.user },
			    &(MDB_val){ MFAD_KEY_LEN, key });
			if (rc != 0 && rc != MDB_NOTFOUND) {
				*rcp = rc;
				return 0;
			}
		}
		return 1;
	default:
		r = mfad_throttle_get(txn, st, key, &t);
		/* An hour after its last send a record limits nothing. */
		return !((r != 0 && r != MSS_ERR_STORE) || (r == 0 &&
		    t.nsends > 0 && t.sends[t.nsends - 1] + 3600 > now));
	}
}

int
mfad_store_sweep_step(struct mfad_txn *txn, struct mfad_store *st,
    uint64_t now, uint64_t audit_before, struct mfad_sweep_pos *pos,
    unsigned budget, unsigned *n)
{
	MDB_dbi dbis[] = { st->logins, st->devices, st->throttles, st->audit };
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, go;

	while (pos->phase < MFAD_SWEEP_DONE && budget > 0) {
		if ((rc = mdb_cursor_open(txn->mt, dbis[pos->phase],
		    &cur)) != 0)
			return mfad_store_err(rc, "cursor");
		if (pos->klen == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		else {
			/* On after the last key seen (kept, or gone). */
			k.mv_size = pos->klen;
			k.mv_data = pos->key;
			rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
			if (rc == 0 && k.mv_size == pos->klen &&
			    memcmp(k.mv_data, pos->key, pos->klen) == 0)
				rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		for (; rc == 0 && budget > 0;
		    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			budget--;
			pos->klen = k.mv_size < sizeof(pos->key) ? k.mv_size :
			    sizeof(pos->key);
			memcpy(pos->key, k.mv_data, pos->klen);
			go = mfad_sweep_one(txn, st, pos->phase, &k, now,
			    audit_before, &rc);
			if (rc != 0)
				break;
			if (go == MFAD_SWEEP_END) {
				rc = MDB_NOTFOUND;
				break;
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
	return 0;
}
