/*
 * The store's throttle records of the empty-password path: keyed hash
 * of user and typed address -> recent sends, the same for real and
 * decoy logins.
 */
#include "config.h"

#include "mfad_store_lmdb.h"

int
mfad_throttle_get(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], struct mfad_throttle_rec *t)
{
	return mfad_rec_get(txn, st->throttles, key, MFAD_KEY_LEN,
	    &mfad_rec_throttle, t);
}

int
mfad_throttle_put(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], const struct mfad_throttle_rec *t)
{
	return mfad_rec_put(txn, st->throttles, key, MFAD_KEY_LEN,
	    &mfad_rec_throttle, t, 0);
}
