/*
 * The store's outbox: id -> queued mail. Ids are the time a message was
 * queued, in microseconds, as big-endian keys so that LMDB order is
 * queue order. The outbox stays in the local store in every mode.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mfad_clock.h"
#include "mfad_store_lmdb.h"
#include "mss_err.h"

void
mfad_outmsg_clear(struct mfad_outmsg *m)
{
	if (m->sealed != NULL) {
		sodium_memzero(m->sealed, m->sealed_len);
		free(m->sealed);
	}
	m->sealed = NULL;
	m->sealed_len = 0;
}

int
mfad_outbox_put(struct mfad_txn *txn, struct mfad_store *st,
    const struct mfad_outmsg *m, uint64_t *id)
{
	unsigned char k[8];
	MDB_cursor *cur;
	MDB_val key, val;
	uint64_t next;
	int rc;

	/* Time-ordered ids, strictly after the last one queued. */
	next = mfad_clock_real_us();
	if ((rc = mdb_cursor_open(txn->mt, st->outbox, &cur)) != 0)
		return mfad_store_err(rc, "cursor");
	if (mdb_cursor_get(cur, &key, &val, MDB_LAST) == 0 &&
	    key.mv_size == 8 && mfad_store_key_u64(key.mv_data) >= next)
		next = mfad_store_key_u64(key.mv_data) + 1;
	mdb_cursor_close(cur);
	*id = next;
	mfad_store_u64_key(next, k);
	return mfad_rec_put(txn, st->outbox, k, sizeof(k), &mfad_rec_outmsg,
	    m, MDB_NOOVERWRITE);
}

int
mfad_outbox_update(struct mfad_txn *txn, struct mfad_store *st, uint64_t id,
    const struct mfad_outmsg *m)
{
	unsigned char k[8];

	mfad_store_u64_key(id, k);
	return mfad_rec_put(txn, st->outbox, k, sizeof(k), &mfad_rec_outmsg,
	    m, 0);
}

int
mfad_outbox_get(struct mfad_txn *txn, struct mfad_store *st, uint64_t id,
    struct mfad_outmsg *m)
{
	unsigned char k[8];

	/* Cleared even when absent: the caller's mfad_outmsg_clear is
	 * always safe. */
	memset(m, 0, sizeof(*m));
	mfad_store_u64_key(id, k);
	return mfad_rec_get(txn, st->outbox, k, sizeof(k), &mfad_rec_outmsg,
	    m);
}

int
mfad_outbox_del(struct mfad_txn *txn, struct mfad_store *st, uint64_t id)
{
	unsigned char k[8];

	mfad_store_u64_key(id, k);
	return mfad_rec_del(txn, st->outbox, k, sizeof(k), "outbox");
}

int
mfad_outbox_due(struct mfad_txn *txn, struct mfad_store *st, uint64_t now,
    uint64_t *ids, size_t max, size_t *n, uint64_t *depth, uint64_t *oldest,
    uint64_t *next)
{
	MDB_cursor *cur;
	MDB_val k, v;
	MDB_stat ms;
	uint64_t created, next_try;
	int rc;

	*n = 0;
	*oldest = 0;
	*next = 0;
	if ((rc = mdb_stat(txn->mt, st->outbox, &ms)) != 0)
		return mfad_store_err(rc, "stat");
	*depth = ms.ms_entries;
	if ((rc = mdb_cursor_open(txn->mt, st->outbox, &cur)) != 0)
		return mfad_store_err(rc, "cursor");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		/* A record too short to say is left to mfad_outbox_get. */
		if (k.mv_size != 8 || mfad_rec_outmsg_times(v.mv_data,
		    v.mv_size, &created, &next_try) != 0)
			continue;
		if (*oldest == 0 || created < *oldest)
			*oldest = created;
		if (next_try <= now) {
			if (*n < max)
				ids[(*n)++] = mfad_store_key_u64(k.mv_data);
		} else if (*next == 0 || next_try < *next)
			*next = next_try;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return mfad_store_err(rc, "outbox scan");
	return 0;
}
