/*
 * The LMDB backend of mfad's store: its own header, included only by
 * its files (mfad_store*.c) and the store's unit test. Nothing above
 * the store sees an LMDB type.
 *
 * Sub-databases: accounts (user -> account), emails (address -> user),
 * logins (hash of login token -> pending login), devices (keyed device
 * hash -> remembered device), userdevs (user -> device hashes, dupsort),
 * outbox (id -> queued mail), audit (time -> event), throttles (keyed
 * hash of user and typed address -> recent sends of the empty-password
 * path), meta (reserved).
 */
#ifndef MFAD_STORE_LMDB_H
#define MFAD_STORE_LMDB_H

#include <lmdb.h>

#include "mfad_store.h"

struct mfad_store {
	MDB_env	*env;
	MDB_dbi	 accounts, emails, logins, devices, userdevs, outbox, audit,
		 meta, throttles;
	char	*path;
};

/* A transaction: the LMDB handle, malloc'd by mfad_txn_begin and freed
 * by mfad_txn_commit or mfad_txn_abort. */
struct mfad_txn {
	MDB_txn	*mt;
};

/* Maps an LMDB return code to an MSS_ERR_* (logging unexpected ones). */
int mfad_store_err(int rc, const char *what) MSS_WUR;

#endif /* MFAD_STORE_LMDB_H */
