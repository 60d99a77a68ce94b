/*
 * The LMDB backend of mfad's store: its own header, included only by
 * its files (mfad_store*.c) and the store's unit test. Nothing above
 * the store sees an LMDB type.
 *
 * Sub-databases: accounts (user -> account), emails (address -> user),
 * logins (hash of login token -> pending login), userdevices (user ->
 * remembered devices, dupsort: keyed device hash, then the record),
 * outbox (id -> queued mail), audit (time -> event), throttles (keyed
 * hash of user and typed address -> recent sends of the empty-password
 * path), meta (reserved). In LMDB's main database, a plain record named
 * devices stands where an older layout's sub-database was.
 */
#ifndef MFAD_STORE_LMDB_H
#define MFAD_STORE_LMDB_H

#include <lmdb.h>

#include "mfad_store.h"

struct mfad_sdir;

/*
 * dir: the directory backend (mfad_store_dir.h) that holds the accounts
 * in fleet mode, and the devices when device_scope is fleet; NULL: all
 * stays here. The public account and device functions hand their work
 * to it first thing (mfad_store_acct.c, mfad_store_device.c).
 */
struct mfad_store {
	MDB_env	*env;
	MDB_dbi	 accounts, emails, logins, devices, outbox, audit, meta,
		 throttles;
	char	*path;
	struct mfad_sdir	*dir;
	enum mfad_device_scope	 device_scope;
};
/* Whether st's devices live in the directory. */
#define MFAD_STORE_DEV_DIR(st) \
	((st)->dir != NULL && (st)->device_scope == MFAD_DEVICE_SCOPE_FLEET)

/* A transaction: the LMDB handle, malloc'd by mfad_txn_begin or
 * mfad_txn_begin_child and freed by mfad_txn_commit or mfad_txn_abort. */
struct mfad_txn {
	MDB_txn	*mt;
};

/* Maps an LMDB return code to an MSS_ERR_* (logging unexpected ones). */
int mfad_store_err(int rc, const char *what) MSS_WUR;

/*
 * The one record codec (mfad_store_codec.c). Every record starts with
 * its layout's version byte; a type writes its newest version and reads
 * every one from 1 up to it (fields added later read as zero), so a
 * store survives an upgrade unchanged. Decoding is strict: an unknown
 * version, a short field or a trailing byte is MSS_ERR_STORE (logged),
 * never a parse of junk.
 */
struct mss_buf;
struct mfad_rec_type {
	const char	*name;		/* in log lines: "account", ... */
	uint8_t		 version;	/* written; 1..version read */
	size_t		 max;		/* bytes a record may take */
	int		(*encode)(struct mss_buf *, const void *);
	int		(*decode)(struct mss_buf *, uint8_t, void *);
	void		(*clear)(void *);	/* after a failed decode */
};
extern const struct mfad_rec_type mfad_rec_acct, mfad_rec_login,
    mfad_rec_throttle, mfad_rec_device, mfad_rec_outmsg, mfad_rec_audit;

/* Decodes the len bytes at data as a record of type t into out. */
int mfad_rec_decode(const struct mfad_rec_type *t, const void *data,
    size_t len, void *out) MSS_WUR;
/* Appends rec's version byte and fields to b. */
int mfad_rec_encode(struct mss_buf *b, const struct mfad_rec_type *t,
    const void *rec) MSS_WUR;
/* Reads the record at key k of dbi: MSS_ERR_NOTFOUND when absent. */
int mfad_rec_get(struct mfad_txn *txn, MDB_dbi dbi, const void *k,
    size_t klen, const struct mfad_rec_type *t, void *out) MSS_WUR;
/* Writes rec at key k of dbi (flags: mdb_put's). */
int mfad_rec_put(struct mfad_txn *txn, MDB_dbi dbi, const void *k,
    size_t klen, const struct mfad_rec_type *t, const void *rec,
    unsigned flags) MSS_WUR;
int mfad_rec_del(struct mfad_txn *txn, MDB_dbi dbi, const void *k,
    size_t klen, const char *what) MSS_WUR;
/* An outbox record's creation and next try times, read without
 * decoding the rest: MSS_ERR_STORE when it is too short to hold them. */
int mfad_rec_outmsg_times(const void *data, size_t len, uint64_t *created,
    uint64_t *next_try) MSS_WUR;

/* Keeps the send times of the last MFAD_SENDS_WINDOW seconds before
 * now, in order, then appends now (dropping the oldest when full). */
void mfad_store_sends_add(uint64_t *sends, uint32_t *nsends, uint64_t now);

/* Keys: big-endian u64 (LMDB order is numeric order), and whether a
 * user name can be one (not empty, not too long). */
void mfad_store_u64_key(uint64_t v, unsigned char k[8]);
uint64_t mfad_store_key_u64(const unsigned char *k);
int mfad_store_user_key_ok(const char *user);

/*
 * Moves the remembered devices of an older store (devices: hash ->
 * record with its user, and their index userdevs) under their users,
 * in transactions of their own, then drops both sub-databases and
 * leaves in their place a record that an older mfad cannot open as one
 * (mfad_store_device.c). Called by mfad_store_open; a crash leaves a
 * store that the next open finishes migrating.
 */
int mfad_store_device_migrate(struct mfad_store *st) MSS_WUR;
/* Whether the device value v under user key k has expired by now or
 * does not read (1: it goes, as no login can use it). */
int mfad_store_device_expired(const MDB_val *k, const MDB_val *v,
    uint64_t now);
/* Keeps a device's last use, as it goes, in its user's last login (see
 * mfad_device_keeps_last_login); 0 when the account is gone. */
int mfad_store_device_fold(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, uint64_t last_used) MSS_WUR;
/* The user and last use of the device value v under key k: 0, or
 * MSS_ERR_STORE when it does not read. */
int mfad_store_device_seen(const MDB_val *k, const MDB_val *v,
    char user[MFAD_USER_MAX + 1], uint64_t *last_used);

#endif /* MFAD_STORE_LMDB_H */
