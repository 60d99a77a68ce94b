/*
 * The store's throttle records of the empty-password path: keyed hash
 * of user and typed address -> recent sends, the same for real and
 * decoy logins. In fleet mode they are the directory's, so that the
 * allowance is the fleet's, not each host's (mfad_store_dir_throttle.c).
 */
#include "config.h"

#include <string.h>

#include "mfad_store_dir.h"
#include "mfad_store_lmdb.h"

int
mfad_throttle_get(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], struct mfad_throttle_rec *t)
{
	if (st->dir != NULL)
		return mfad_sdir_throttle_get(st->dir, key, t);
	return mfad_rec_get(txn, st->throttles, key, MFAD_KEY_LEN,
	    &mfad_rec_throttle, t);
}

int
mfad_throttle_put(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], const struct mfad_throttle_rec *t)
{
	/* The directory's records change by their sends only: a record
	 * read and written back would lose another host's. */
	if (st->dir != NULL)
		return MSS_ERR_INVAL;
	return mfad_rec_put(txn, st->throttles, key, MFAD_KEY_LEN,
	    &mfad_rec_throttle, t, 0);
}

int
mfad_throttle_send_add(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], uint64_t now, struct mfad_throttle_rec *t)
{
	struct mfad_throttle_rec cur;
	int r;

	if (st->dir != NULL)
		return mfad_sdir_throttle_send_add(st->dir, key, now, t);
	r = mfad_throttle_get(txn, st, key, &cur);
	if (r == MSS_ERR_NOTFOUND)
		memset(&cur, 0, sizeof(cur));
	else if (r != 0)
		return r;
	mfad_store_sends_add(cur.sends, &cur.nsends, now);
	if ((r = mfad_throttle_put(txn, st, key, &cur)) == 0 && t != NULL)
		*t = cur;
	return r;
}
