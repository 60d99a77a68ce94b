/*
 * The store's pending logins: hash of the login token -> login. They
 * stay in the local store in every mode (doc/STORE.md).
 */
#include "config.h"

#include "mfad_store_lmdb.h"

int
mfad_login_get(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], struct mfad_login *l)
{
	return mfad_rec_get(txn, st->logins, key, MFAD_KEY_LEN,
	    &mfad_rec_login, l);
}

int
mfad_login_put(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], const struct mfad_login *l)
{
	return mfad_rec_put(txn, st->logins, key, MFAD_KEY_LEN,
	    &mfad_rec_login, l, 0);
}

int
mfad_login_del(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN])
{
	return mfad_rec_del(txn, st->logins, key, MFAD_KEY_LEN, "login");
}
