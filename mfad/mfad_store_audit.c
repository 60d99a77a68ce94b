/*
 * The store's audit trail: time -> event, keyed by the event's time in
 * microseconds (big-endian) and a tail, a counter from a random start;
 * the record itself holds no time (codec version 2). It stays in the
 * local store in every mode.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "mfad_store_lmdb.h"
#include "mss_err.h"

/*
 * The tail: events of one microsecond all stay, in the order they came.
 * A counter, not a random draw each time: no two tails of this process
 * meet, and the committing thread makes no system call for it.
 */
static uint32_t mfad_audit_seq;
static pthread_once_t mfad_audit_seq_once = PTHREAD_ONCE_INIT;

static void
mfad_audit_seq_init(void)
{
	mfad_audit_seq = randombytes_random();
}

int
mfad_audit_put(struct mfad_txn *txn, struct mfad_store *st,
    const struct mfad_audit_rec *a)
{
	unsigned char k[12];
	uint32_t seq;

	mfad_store_u64_key(a->time_us, k);
	pthread_once(&mfad_audit_seq_once, mfad_audit_seq_init);
	seq = __atomic_fetch_add(&mfad_audit_seq, 1, __ATOMIC_RELAXED);
	k[8] = (unsigned char)(seq >> 24);
	k[9] = (unsigned char)(seq >> 16);
	k[10] = (unsigned char)(seq >> 8);
	k[11] = (unsigned char)seq;
	return mfad_rec_put(txn, st->audit, k, sizeof(k), &mfad_rec_audit, a,
	    0);
}

int
mfad_audit_list(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, uint64_t since_us, uint64_t before_us,
    int (*fn)(const struct mfad_audit_rec *, void *), void *arg, int *more)
{
	struct mfad_audit_rec a;
	unsigned char k[12];
	MDB_cursor *cur;
	MDB_val key, val;
	int rc, r = 0;

	*more = 0;
	if ((rc = mdb_cursor_open(txn->mt, st->audit, &cur)) != 0)
		return mfad_store_err(rc, "cursor");
	if (before_us == 0)
		rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
	else {
		/* The first record at or after before_us, then one back. */
		mfad_store_u64_key(before_us, k);
		memset(k + 8, 0, 4);
		key.mv_size = sizeof(k);
		key.mv_data = k;
		rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
		rc = rc == 0 ? mdb_cursor_get(cur, &key, &val, MDB_PREV) :
		    mdb_cursor_get(cur, &key, &val, MDB_LAST);
	}
	for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_PREV)) {
		if (key.mv_size < 8 ||
		    mfad_store_key_u64(key.mv_data) < since_us)
			break;
		r = mfad_rec_decode(&mfad_rec_audit, val.mv_data, val.mv_size,
		    &a);
		if (r == MSS_ERR_NOMEM)
			break;
		if (r != 0) {
			/* An unreadable record is skipped, not fatal. */
			r = 0;
			continue;
		}
		/* The event's time is its key's (since version 2 the
		 * record does not repeat it; before, the same value). */
		a.time_us = mfad_store_key_u64(key.mv_data);
		if (user[0] != '\0' && strcmp(user, a.user) != 0)
			continue;
		if ((r = fn(&a, arg)) != 0) {
			if (r == 1) {
				*more = 1;
				r = 0;
			}
			break;
		}
	}
	mdb_cursor_close(cur);
	if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
		r = mfad_store_err(rc, "audit list");
	return r;
}
