/*
 * mfad's store, as its callers see it: accounts (with their email
 * index), remembered devices, pending logins, throttle records, the
 * outbox and the audit trail, each behind functions that name no type
 * of the backend. The backend (LMDB under [mfad] database, opened with
 * full sync; its own header is mfad_store_lmdb.h) keeps struct
 * mfad_store and struct mfad_txn to itself. doc/STORE.md lists the
 * domains and which operations one transaction must cover.
 *
 * Transactions are short: nothing slow (hashing, mail) runs while one is
 * open. Records are encoded with mss_buf, one codec for every record
 * type (mfad_store_codec.c); decoding is strict.
 */
#ifndef MFAD_STORE_H
#define MFAD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "mfad_conf.h"
#include "mss_err.h"

#define MFAD_USER_MAX	64
#define MFAD_EMAIL_MAX	254
#define MFAD_HASH_MAX	256
#define MFAD_KEY_LEN	32
#define MFAD_DEVICE_ID_LEN	8	/* key bytes a device id shows */
#define MFAD_NONCE_LEN	16

/* Both opaque: defined by the backend. */
struct mfad_store;
struct mfad_txn;

enum mfad_acct_state {
	MFAD_ACCT_ACTIVE = 0,
	MFAD_ACCT_INVITED = 1,
	MFAD_ACCT_LOCKED = 2,		/* locked by an admin */
	MFAD_ACCT_DISABLED = 3,
};

#define MFAD_SENDS_MAX	64	/* send times kept per account */
#define MFAD_RECOVERY_MAX	100	/* recovery codes per account */

struct mfad_acct {
	char		user[MFAD_USER_MAX + 1];
	char		email[MFAD_EMAIL_MAX + 1];
	char		lang[4];
	uint8_t		state;
	uint8_t		reenroll;		/* must enroll again */
	char		pwhash[MFAD_HASH_MAX];	/* crypto_pwhash_str or "" */
	uint64_t	created, enrolled, last_login;
	uint32_t	failures;		/* consecutive */
	uint64_t	locked_until;		/* lockout after failures */
	uint32_t	nsends;
	uint64_t	sends[MFAD_SENDS_MAX];	/* recent mail times, newest last */
	uint64_t	throttle_noticed;	/* last "password entered while
						   throttled" notice */
	uint64_t	lock_noticed;		/* last lock notice mailed */
	uint8_t		has_cur_login;
	uint8_t		cur_login[MFAD_KEY_LEN];	/* store key of the
						   newest sign-in login */
	uint32_t	nrecovery;		/* recovery codes left */
	uint8_t		recovery[MFAD_RECOVERY_MAX][MFAD_KEY_LEN];
						/* their keyed hashes */
};

enum mfad_login_state {
	MFAD_LOGIN_PENDING = 0,		/* code sent, not yet entered */
	MFAD_LOGIN_VERIFIED = 1,	/* code accepted */
	MFAD_LOGIN_DEAD = 2,		/* max_attempts reached */
	MFAD_LOGIN_DONE = 3,		/* device remembered, nothing left */
	MFAD_LOGIN_ENROLLED = 4,	/* enrollment finished: password set */
	MFAD_LOGIN_MOVED = 5,		/* a newer login took its code over */
};

enum mfad_login_kind {
	MFAD_LOGIN_SIGNIN = 0,		/* password, then code */
	MFAD_LOGIN_ENROLL = 1,		/* code, then a first password */
	MFAD_LOGIN_RESET = 2,		/* code, then a new password */
	MFAD_LOGIN_DECOY = 3,		/* a reset for an unknown address:
					   looks the same, can never succeed */
};

struct mfad_login {
	uint8_t		kind;			/* enum mfad_login_kind */
	char		user[MFAD_USER_MAX + 1];
	char		service[64];
	char		rhost[256];
	char		masked[MFAD_EMAIL_MAX + 12];	/* shown in prompts */
	uint32_t	caller_uid;
	uint8_t		state;
	uint8_t		mail;			/* enum mss_mail_state */
	uint8_t		has_device;
	char		device_kind[16];
	uint8_t		devhash[MFAD_KEY_LEN];
	uint8_t		codehash[MFAD_KEY_LEN];
	uint64_t	created, code_expires, expires, verified;
	uint32_t	attempts;		/* wrong codes, never reset */
	uint32_t	sends;			/* codes mailed for this login */
	uint8_t		code_nonce[MFAD_NONCE_LEN];	/* binds the code's
						   hash; moves with the code */
	uint8_t		noticed;		/* owner told of a takeover */
	uint8_t		has_tkey;
	uint8_t		tkey[MFAD_KEY_LEN];	/* its throttle record */
};

/*
 * The mail throttle of the empty-password path, one per (user, typed
 * address), the same for real and decoy logins, so that its answers
 * cannot tell them apart.
 */
struct mfad_throttle_rec {
	uint32_t	nsends;
	uint64_t	sends[MFAD_SENDS_MAX];	/* newest last */
};

struct mfad_device {
	char		user[MFAD_USER_MAX + 1];
	char		kind[16];
	char		service[64];
	uint64_t	created, expires, last_used;
};

struct mfad_outmsg {
	uint64_t	created, expires, next_try;
	uint32_t	tries;
	uint8_t		kind;			/* enum mfad_mail_kind */
	char		user[MFAD_USER_MAX + 1];
	char		to[MFAD_EMAIL_MAX + 1];
	char		last_error[256];
	uint8_t		has_login;
	uint8_t		login[MFAD_KEY_LEN];	/* login whose state to update */
	unsigned char	*sealed;		/* nonce + secretbox; malloc'd */
	size_t		 sealed_len;
};

struct mfad_audit_rec {
	uint64_t	time_us;
	char		event[32];
	char		user[MFAD_USER_MAX + 1];
	char		service[64];
	char		rhost[256];
	char		result[16];
	char		detail[256];
};

/* Opens (creating) the environment; clears stale readers. */
int mfad_store_open(const struct mfad_conf *conf, struct mfad_store **out)
    MSS_WUR;
void mfad_store_close(struct mfad_store *st);

/*
 * One idiom ends every transaction: its handle lives in one variable
 * that starts NULL, and mfad_txn_commit(&txn) and mfad_txn_abort(&txn)
 * both set it to NULL (LMDB frees the handle on commit, failed or not).
 * Handlers never call these: they go through their request
 * (mfad_rq_begin and mfad_rq_end in mfad_ctx.h), which ends each
 * transaction exactly once. A full store makes commit return
 * MSS_ERR_MAPFULL, logged.
 *
 * begin opens a top-level transaction, read-only when rdonly.
 * begin_child opens a write transaction inside parent (the group
 * commit's batch, passed by the pool): it sees the parent's changes, and
 * its own become durable only when the parent commits.
 */
int mfad_txn_begin(struct mfad_store *st, int rdonly, struct mfad_txn **txn)
    MSS_WUR;
int mfad_txn_begin_child(struct mfad_txn *parent, struct mfad_txn **txn)
    MSS_WUR;
int mfad_txn_commit(struct mfad_txn **txn) MSS_WUR;
void mfad_txn_abort(struct mfad_txn **txn);

/* Accounts: MSS_ERR_NOTFOUND when absent. put also keeps the email index
 * (old_email: the address the account had, or NULL for a new one); it is
 * for the fields written whole (address, language, state, password hash,
 * times): a counter changes through its event operation below, whose
 * result a holds when the put follows it (LMDB writes the record whole). */
int mfad_acct_get(struct mfad_txn *txn, struct mfad_store *st, const char *user,
    struct mfad_acct *a) MSS_WUR;
int mfad_acct_put(struct mfad_txn *txn, struct mfad_store *st,
    const struct mfad_acct *a, const char *old_email)
    MSS_WUR;
int mfad_acct_del(struct mfad_txn *txn, struct mfad_store *st,
    const struct mfad_acct *a) MSS_WUR;
/* The user owning an address (compared case-insensitively). */
int mfad_acct_by_email(struct mfad_txn *txn, struct mfad_store *st,
    const char *email, char *user, size_t userlen)
    MSS_WUR;
/*
 * Many accounts in one call (an import's rows), each row as the
 * function for one above does it, its result in rc[i]; a backend that
 * gains by it does them together (the directory: a few searches, and
 * writes sent without waiting for each answer; doc/STORE.md).
 * get_many reads users[i] into *a[i]; by_email_many the owner of
 * emails[i] (NULL: none asked) into owner[i]. Their return is 0, or the
 * first failure of the store (then no row holds anything).
 * put_many writes *a[i] as mfad_acct_put(a[i], old_email[i]); before[i]
 * (before NULL, or an entry NULL: unknown) is the account as the caller
 * read it, so that only what it changed is written. Its return is 0 when
 * every row has its result, else the failure that left rows without
 * one (MSS_ERR_UNAVAIL: the directory was lost): their rc[i] is that
 * error, and each may or may not have been written.
 */
int mfad_acct_get_many(struct mfad_txn *txn, struct mfad_store *st,
    const char *const *users, size_t n, struct mfad_acct *const *a, int *rc)
    MSS_WUR;
int mfad_acct_by_email_many(struct mfad_txn *txn, struct mfad_store *st,
    const char *const *emails, size_t n, char (*owner)[MFAD_USER_MAX + 1],
    int *rc) MSS_WUR;
int mfad_acct_put_many(struct mfad_txn *txn, struct mfad_store *st,
    const struct mfad_acct *const *a, const struct mfad_acct *const *before,
    const char *const *old_email, size_t n, int *rc) MSS_WUR;
/* Calls fn for each account whose name sorts after `after` ("" = all),
 * at most `max` of them; *more says whether others follow. */
int mfad_acct_list(struct mfad_txn *txn, struct mfad_store *st,
    const char *after,
    size_t max, int (*fn)(const struct mfad_acct *, void *), void *arg,
    int *more) MSS_WUR;
int mfad_acct_count(struct mfad_txn *txn, struct mfad_store *st, uint64_t *n)
    MSS_WUR;
/* The map's size (map_size) and the bytes its pages use. */
int mfad_store_usage(struct mfad_store *st, uint64_t *map, uint64_t *used)
    MSS_WUR;
/* Wipes the password hash and the recovery codes' hashes. */
void mfad_acct_wipe(struct mfad_acct *a);
/*
 * An account's recovery codes, kept in its record (hashes only, see
 * mfad_recovery_hash): set replaces them with n hashes (0 removes them);
 * use finds h among them in constant time and removes it, returning 0,
 * or MSS_ERR_NOTFOUND: it changes only a, and a stored code is used up
 * by mfad_acct_recovery_take.
 */
void mfad_acct_recovery_set(struct mfad_acct *a,
    const uint8_t (*h)[MFAD_KEY_LEN], uint32_t n);
int mfad_acct_recovery_use(struct mfad_acct *a, const uint8_t h[MFAD_KEY_LEN])
    MSS_WUR;

/*
 * An account's counters change by the event, never by a replace of a
 * value read earlier (doc/STORE.md, "Counters"), so that a backend with
 * several writers loses none: each of these changes the stored account
 * in txn, and a, when not NULL (the caller's copy), gets the counters as
 * stored. MSS_ERR_NOTFOUND when the account is absent. The decisions
 * (locked, throttled) stay the account rules' (mfad_acct.h), on the
 * account as loaded.
 *
 * fail_add counts one failure at now; locked_until is the lock the rules
 * gave it (mfad_acct_rule_fail; 0: none), which replaces the stored one
 * only when later (a lock that ran out by now ends first).
 * failures_clear ends the streak and any lock (an unlock, a password
 * set through a code). login_clear ends the streak after a login that
 * succeeded, and the lock only when it ran out by now: a lock that holds
 * was set after the login's decision (by another host, in fleet mode).
 * send_add records a mail sent at now, keeping the sends of the last
 * MFAD_SENDS_WINDOW seconds (at most MFAD_SENDS_MAX, the newest).
 * sends_clear forgets the account's recent sends (an unlock ends the
 * mail throttle too).
 * recovery_take uses up the recovery code whose hash is h (compared in
 * constant time): 0 once, MSS_ERR_NOTFOUND when it is not (or no
 * longer) there.
 * notice_set replaces a notice time (enum mfad_notice) by t only when t
 * is later.
 */
#define MFAD_SENDS_WINDOW	3600
enum mfad_notice {
	MFAD_NOTICE_THROTTLE = 0,	/* throttle_noticed */
	MFAD_NOTICE_LOCK = 1,		/* lock_noticed */
	MFAD_NOTICE_LAST_LOGIN = 2,	/* last_login: a time that only moves
					   forward too, written alone so that
					   a login's record never puts back
					   what it read (a state, a hash) */
};
int mfad_acct_fail_add(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, uint64_t now, uint64_t locked_until,
    struct mfad_acct *a) MSS_WUR;
int mfad_acct_failures_clear(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, struct mfad_acct *a) MSS_WUR;
int mfad_acct_login_clear(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, uint64_t now, struct mfad_acct *a) MSS_WUR;
int mfad_acct_send_add(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, uint64_t now, struct mfad_acct *a) MSS_WUR;
int mfad_acct_sends_clear(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, struct mfad_acct *a) MSS_WUR;
int mfad_acct_recovery_take(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, const uint8_t h[MFAD_KEY_LEN], struct mfad_acct *a)
    MSS_WUR;
int mfad_acct_notice_set(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, int which, uint64_t t, struct mfad_acct *a) MSS_WUR;

int mfad_login_get(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], struct mfad_login *l)
    MSS_WUR;
int mfad_login_put(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], const struct mfad_login *l)
    MSS_WUR;
int mfad_login_del(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN]) MSS_WUR;

/* Throttle records; MSS_ERR_NOTFOUND when absent. In fleet mode they
 * are in the directory, keyed alike on every host (the fleet key's
 * subkey), and change by send_add only: put is MSS_ERR_INVAL there. */
int mfad_throttle_get(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], struct mfad_throttle_rec *t)
    MSS_WUR;
int mfad_throttle_put(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], const struct mfad_throttle_rec *t)
    MSS_WUR;
/* Records a send at now in the record at key (created when absent),
 * pruned as mfad_acct_send_add prunes; t, when not NULL, gets the
 * record as stored. */
int mfad_throttle_send_add(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], uint64_t now, struct mfad_throttle_rec *t)
    MSS_WUR;

/*
 * A remembered device is found under its user: key is its keyed hash,
 * which binds the user anyway (mfad_device_hash). put writes it under
 * d->user, replacing the one with the same key. MSS_ERR_NOTFOUND when
 * the user has no device of that key.
 */
int mfad_device_get(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, const uint8_t key[MFAD_KEY_LEN], struct mfad_device *d)
    MSS_WUR;
int mfad_device_put(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], const struct mfad_device *d)
    MSS_WUR;
int mfad_device_del(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, const uint8_t key[MFAD_KEY_LEN]) MSS_WUR;
/* Calls fn for each device of user (key, record). */
int mfad_device_list(struct mfad_txn *txn, struct mfad_store *st,
    const char *user,
    int (*fn)(const uint8_t *, const struct mfad_device *, void *),
    void *arg) MSS_WUR;
/* The same from the first device whose id (the first MFAD_DEVICE_ID_LEN
 * bytes of its key) is above after's; after NULL: from the first. */
int mfad_device_list_after(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, const uint8_t *after,
    int (*fn)(const uint8_t *, const struct mfad_device *, void *),
    void *arg) MSS_WUR;
/* Deletes every device of user; *n gets how many. */
int mfad_device_revoke_all(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, unsigned *n) MSS_WUR;
/*
 * 1 when a remembered-device login's time is kept by its device alone:
 * the account and its devices are in one store (the local one, or the
 * directory with [device] scope = fleet). Its record then writes one
 * page, not two, or in the directory one modify, not two. An
 * account's last login is the later of its own and its devices' last
 * use (mfad_device_last_used); a device that goes (revoked, expired)
 * leaves its last use in the account's. 0
 * in fleet mode with [device] scope = host, where the account's last
 * login is the directory's, shared by every host, and the device this
 * host's.
 */
int mfad_device_keeps_last_login(const struct mfad_store *st);
/* Raises *t to d's last use: a mfad_device_list callback. */
int mfad_device_last_used(const uint8_t *key, const struct mfad_device *d,
    void *t);

/* Queues a message under a new id (time-ordered); *id gets it. */
int mfad_outbox_put(struct mfad_txn *txn, struct mfad_store *st,
    const struct mfad_outmsg *m, uint64_t *id)
    MSS_WUR;
int mfad_outbox_update(struct mfad_txn *txn, struct mfad_store *st, uint64_t id,
    const struct mfad_outmsg *m) MSS_WUR;
int mfad_outbox_get(struct mfad_txn *txn, struct mfad_store *st, uint64_t id,
    struct mfad_outmsg *m) MSS_WUR;
int mfad_outbox_del(struct mfad_txn *txn, struct mfad_store *st, uint64_t id)
    MSS_WUR;
/* Ids of up to max messages due at `now`; *n gets the count, *depth the
 * queue length, *oldest the creation time of the oldest (0 if empty),
 * *next the earliest next_try of those not due (0 if none). */
int mfad_outbox_due(struct mfad_txn *txn, struct mfad_store *st, uint64_t now,
    uint64_t *ids, size_t max, size_t *n, uint64_t *depth, uint64_t *oldest,
    uint64_t *next) MSS_WUR;
/* Frees (wiping) the sealed part. */
void mfad_outmsg_clear(struct mfad_outmsg *m);

int mfad_audit_put(struct mfad_txn *txn, struct mfad_store *st,
    const struct mfad_audit_rec *r) MSS_WUR;

/*
 * Walks audit records from the newest before before_us (0: now) back to
 * since_us, calling fn for those of user ("" for all); fn returns 0 to go
 * on, 1 to stop, or an error. *more is 1 when fn stopped the walk with
 * records left.
 */
int mfad_audit_list(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, uint64_t since_us, uint64_t before_us,
    int (*fn)(const struct mfad_audit_rec *, void *), void *arg, int *more)
    MSS_WUR;

/* Writes a compact copy of the store (a data.mdb) into fd, an empty
 * file open for writing, with a consistent view taken by a read
 * transaction. fd is neither synced nor closed. */
int mfad_store_copy_fd(struct mfad_store *st, int fd)
    MSS_WUR;

/* Deletes logins and devices past their expiry, throttle records an
 * hour after their last send and audit records older than audit_before
 * (seconds); *n gets how many went. */
int mfad_store_sweep(struct mfad_txn *txn, struct mfad_store *st, uint64_t now,
    uint64_t audit_before, unsigned *n) MSS_WUR;

/*
 * The same, a piece at a time: from *pos (zeroed to start), at most
 * budget records looked at in txn; *n adds how many went. pos->phase
 * is MFAD_SWEEP_DONE when everything was seen.
 */
enum { MFAD_SWEEP_LOGINS, MFAD_SWEEP_DEVICES, MFAD_SWEEP_THROTTLES,
    MFAD_SWEEP_AUDIT, MFAD_SWEEP_DONE };
struct mfad_sweep_pos {
	int		phase;
	size_t		klen;		/* 0: from the first key */
	unsigned char	key[64];	/* the last key looked at */
	unsigned char	dkey[MFAD_KEY_LEN];	/* devices: the last hash
						   under key */
};
int mfad_store_sweep_step(struct mfad_txn *txn, struct mfad_store *st,
    uint64_t now,
    uint64_t audit_before, struct mfad_sweep_pos *pos, unsigned budget,
    unsigned *n) MSS_WUR;
/*
 * The whole sweep in transactions of its own of MFAD_SWEEP_BUDGET
 * records each: a full store can free space (a big delete needs room
 * for its copied pages; a small one finds it in what the last one
 * freed), and logins never wait long behind it. In fleet mode it then
 * sweeps the directory's throttle records (mfad_sdir_throttle_sweep).
 */
#define MFAD_SWEEP_BUDGET	256
int mfad_store_sweep_run(struct mfad_store *st, uint64_t now,
    uint64_t audit_before, unsigned *n) MSS_WUR;

/*
 * Fleet mode: one step of the directory's sweep, devices past their
 * expiry (any host's: the directory keeps them for the fleet), at most
 * budget of them in one search and their deletes; *n gets how many
 * went, *more is 1 when more are left for the next step. 0 and nothing
 * done in local mode; MSS_ERR_UNAVAIL (logged by the store, a line a
 * minute) when no provider answers. Never inside a transaction: each
 * delete is a round trip to a provider.
 */
#define MFAD_DIR_SWEEP_BUDGET	100
int mfad_store_dir_sweep(struct mfad_store *st, uint64_t now,
    unsigned budget, unsigned *n, int *more) MSS_WUR;

/*
 * Fleet mode: the URI of the provider that answered the last directory
 * operation ("" before any did) into last, and all the URIs in the order
 * they are tried, separated by spaces, into all; returns 1. 0 and both
 * "" in local mode.
 */
int mfad_store_dir_uris(struct mfad_store *st, char *last, size_t lastlen,
    char *all, size_t alllen);

/*
 * The store refused a write as full (MSS_ERR_MAPFULL) within the last
 * MFAD_FULL_SECS seconds: a request that can decide without writing
 * skips its bookkeeping rather than fail. A sweep that freed records
 * clears it.
 */
#define MFAD_FULL_SECS	60
int mfad_store_full_recently(void);
void mfad_store_full_clear(void);

#endif /* MFAD_STORE_H */
