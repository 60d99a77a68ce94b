/*
 * The directory backend of mfad's store (fleet mode, doc/STORE.md): the
 * long-lived state of accounts, the empty-password path's throttle
 * records, and remembered devices with [device] scope = fleet, in an
 * OpenLDAP directory (conf/ldap/README), reached through a few
 * connections of mfad_dir shared by mfad's threads. The LMDB backend's
 * public functions (mfad_store.h) call these when the store has a
 * directory; the rest (logins, codes, outbox, audit, devices with scope
 * = host) stays in the local LMDB.
 *
 * A directory write is not part of the caller's LMDB transaction: it is
 * done, and durable on the provider, when the function returns, which
 * is why a guard (a failure, a send, a used recovery code) is written
 * first and the local part after it (doc/STORE.md, "What one transaction
 * must cover").
 *
 * Results are those of mfad_store.h, and MSS_ERR_UNAVAIL when no
 * provider answers (logged; the next call tries to connect again).
 */
#ifndef MFAD_STORE_DIR_H
#define MFAD_STORE_DIR_H

#include <stddef.h>
#include <stdint.h>

#include "mfad_conf.h"
#include "mfad_store.h"

struct mfad_sdir;

/* With [directory]: 0 when the module loads (below), else the reason in
 * err. "mfad -t" and the start check it. */
int mfad_sdir_ready(const struct mfad_conf *conf, char *err, size_t errlen)
    MSS_WUR;

/* Sets up the connections from conf's [directory]; connects none (the
 * first use does, and a lost one is replaced by itself). */
int mfad_sdir_open(const struct mfad_conf *conf, struct mfad_sdir **out)
    MSS_WUR;
void mfad_sdir_close(struct mfad_sdir *sd);
/* 0 when a provider answers a read of the base. */
int mfad_sdir_check(struct mfad_sdir *sd) MSS_WUR;

/*
 * Accounts, as mfad_acct_* of mfad_store.h. The person entry
 * (uid=USER,<base>) is the directory's own: put adds the mfadAccount
 * class to it, and returns MSS_ERR_NOTFOUND when there is no such
 * entry; del removes the class, mfad's attributes, the password and the
 * devices, and keeps the person.
 */
int mfad_sdir_acct_get(struct mfad_sdir *sd, const char *user,
    struct mfad_acct *a) MSS_WUR;
int mfad_sdir_acct_put(struct mfad_sdir *sd, const struct mfad_acct *a,
    const char *old_email) MSS_WUR;
int mfad_sdir_acct_del(struct mfad_sdir *sd, const struct mfad_acct *a)
    MSS_WUR;
int mfad_sdir_acct_by_email(struct mfad_sdir *sd, const char *email,
    char *user, size_t userlen) MSS_WUR;
int mfad_sdir_acct_list(struct mfad_sdir *sd, const char *after, size_t max,
    int (*fn)(const struct mfad_acct *, void *), void *arg, int *more)
    MSS_WUR;
int mfad_sdir_acct_count(struct mfad_sdir *sd, uint64_t *n) MSS_WUR;

/*
 * Many accounts at once (mfad_store_dir_batch.c; mfad_acct_*_many of
 * mfad_store.h): a search for up to MFAD_SDIR_BATCH names or addresses
 * at a time, and the writes sent on one connection with up to
 * MFAD_SDIR_WINDOW of them waiting for their results.
 */
#define MFAD_SDIR_BATCH		100
#define MFAD_SDIR_WINDOW	32
int mfad_sdir_acct_get_many(struct mfad_sdir *sd, const char *const *users,
    size_t n, struct mfad_acct *const *a, int *rc) MSS_WUR;
int mfad_sdir_acct_by_email_many(struct mfad_sdir *sd,
    const char *const *emails, size_t n, char (*owner)[MFAD_USER_MAX + 1],
    int *rc) MSS_WUR;
int mfad_sdir_acct_put_many(struct mfad_sdir *sd,
    const struct mfad_acct *const *a, const struct mfad_acct *const *before,
    size_t n, int *rc) MSS_WUR;

/* The counters as events: added and deleted values (conf/ldap/README,
 * "Concurrent writes"). */
int mfad_sdir_acct_fail_add(struct mfad_sdir *sd, const char *user,
    uint64_t now, uint64_t locked_until, struct mfad_acct *a) MSS_WUR;
int mfad_sdir_acct_failures_clear(struct mfad_sdir *sd, const char *user,
    struct mfad_acct *a) MSS_WUR;
int mfad_sdir_acct_login_clear(struct mfad_sdir *sd, const char *user,
    uint64_t now, struct mfad_acct *a) MSS_WUR;
int mfad_sdir_acct_send_add(struct mfad_sdir *sd, const char *user,
    uint64_t now, struct mfad_acct *a) MSS_WUR;
int mfad_sdir_acct_sends_clear(struct mfad_sdir *sd, const char *user,
    struct mfad_acct *a) MSS_WUR;
int mfad_sdir_acct_recovery_take(struct mfad_sdir *sd, const char *user,
    const uint8_t h[MFAD_KEY_LEN], struct mfad_acct *a) MSS_WUR;
int mfad_sdir_acct_notice_set(struct mfad_sdir *sd, const char *user,
    int which, uint64_t t, struct mfad_acct *a) MSS_WUR;

/* Remembered devices with [device] scope = fleet: child entries
 * mfadDeviceId=HEX of the account, as mfad_device_* of mfad_store.h. */
int mfad_sdir_device_get(struct mfad_sdir *sd, const char *user,
    const uint8_t key[MFAD_KEY_LEN], struct mfad_device *d) MSS_WUR;
int mfad_sdir_device_put(struct mfad_sdir *sd,
    const uint8_t key[MFAD_KEY_LEN], const struct mfad_device *d) MSS_WUR;
int mfad_sdir_device_del(struct mfad_sdir *sd, const char *user,
    const uint8_t key[MFAD_KEY_LEN]) MSS_WUR;
int mfad_sdir_device_list_after(struct mfad_sdir *sd, const char *user,
    const uint8_t *after,
    int (*fn)(const uint8_t *, const struct mfad_device *, void *),
    void *arg) MSS_WUR;
int mfad_sdir_device_revoke_all(struct mfad_sdir *sd, const char *user,
    unsigned *n) MSS_WUR;
/* Deletes at most budget devices (of any account) whose mfadExpires is
 * now or earlier; *n counts those this call deleted, *more is 1 when
 * more were left for the next call. */
int mfad_sdir_device_sweep(struct mfad_sdir *sd, uint64_t now,
    unsigned budget, unsigned *n, int *more) MSS_WUR;

/* The URI of the provider that answered the last operation ("" before
 * any did) into last, and every URI in the order they are tried,
 * separated by spaces, into all. */
void mfad_sdir_uris(struct mfad_sdir *sd, char *last, size_t lastlen,
    char *all, size_t alllen);

/*
 * The empty-password path's throttle records (mfad_throttle_* of
 * mfad_store.h): under ou=mfad-throttle,<base>, an entry a send,
 * mfadThrottleId=HEX+mfadThrottleSend=SEND; a record is the entries of
 * its key. There is no put: a record changes by its sends only. sweep
 * deletes the sends past the window; *n gets how many entries went.
 */
int mfad_sdir_throttle_get(struct mfad_sdir *sd,
    const uint8_t key[MFAD_KEY_LEN], struct mfad_throttle_rec *t) MSS_WUR;
int mfad_sdir_throttle_send_add(struct mfad_sdir *sd,
    const uint8_t key[MFAD_KEY_LEN], uint64_t now,
    struct mfad_throttle_rec *t) MSS_WUR;
int mfad_sdir_throttle_sweep(struct mfad_sdir *sd, uint64_t now,
    unsigned *n) MSS_WUR;

/*
 * The backend is a module of its own, mfad_store_dir.so in mfad's module
 * directory (MFAD_MODULE_DIR, or the environment's MFAD_MODULE_DIR), so
 * that an mfad without [directory] never loads libldap and the TLS
 * libraries under it. The module exports one symbol, mfad_sdir_module,
 * the table below; mfad loads it at its first mfad_sdir_open
 * (mfad_store_dir_load.c), and the functions above, in mfad, call
 * through it. abi changes with any change of the table or of a
 * structure the functions take, so that a module of another build is
 * refused, named.
 */
#define MFAD_SDIR_ABI		1
#define MFAD_SDIR_MODULE	"mfad_store_dir.so"
#define MFAD_SDIR_SYMBOL	"mfad_sdir_module"

struct mfad_sdir_ops {
	unsigned	abi;
	size_t		size;		/* sizeof(struct mfad_sdir_ops) */
	int	(*open_dir)(const struct mfad_conf *conf,
		    struct mfad_sdir **out);
	void	(*close_dir)(struct mfad_sdir *sd);
	int	(*check_dir)(struct mfad_sdir *sd);
	int	(*acct_get)(struct mfad_sdir *sd, const char *user,
		    struct mfad_acct *a);
	int	(*acct_put)(struct mfad_sdir *sd, const struct mfad_acct *a,
		    const char *old_email);
	int	(*acct_del)(struct mfad_sdir *sd, const struct mfad_acct *a);
	int	(*acct_by_email)(struct mfad_sdir *sd, const char *email,
		    char *user, size_t userlen);
	int	(*acct_list)(struct mfad_sdir *sd, const char *after,
		    size_t max, int (*fn)(const struct mfad_acct *, void *),
		    void *arg, int *more);
	int	(*acct_count)(struct mfad_sdir *sd, uint64_t *n);
	int	(*acct_get_many)(struct mfad_sdir *sd,
		    const char *const *users, size_t n,
		    struct mfad_acct *const *a, int *rc);
	int	(*acct_by_email_many)(struct mfad_sdir *sd,
		    const char *const *emails, size_t n,
		    char (*owner)[MFAD_USER_MAX + 1], int *rc);
	int	(*acct_put_many)(struct mfad_sdir *sd,
		    const struct mfad_acct *const *a,
		    const struct mfad_acct *const *before, size_t n, int *rc);
	int	(*acct_fail_add)(struct mfad_sdir *sd, const char *user,
		    uint64_t now, uint64_t locked_until, struct mfad_acct *a);
	int	(*acct_failures_clear)(struct mfad_sdir *sd, const char *user,
		    struct mfad_acct *a);
	int	(*acct_login_clear)(struct mfad_sdir *sd, const char *user,
		    uint64_t now, struct mfad_acct *a);
	int	(*acct_send_add)(struct mfad_sdir *sd, const char *user,
		    uint64_t now, struct mfad_acct *a);
	int	(*acct_sends_clear)(struct mfad_sdir *sd, const char *user,
		    struct mfad_acct *a);
	int	(*acct_recovery_take)(struct mfad_sdir *sd, const char *user,
		    const uint8_t h[MFAD_KEY_LEN], struct mfad_acct *a);
	int	(*acct_notice_set)(struct mfad_sdir *sd, const char *user,
		    int which, uint64_t t, struct mfad_acct *a);
	int	(*device_get)(struct mfad_sdir *sd, const char *user,
		    const uint8_t key[MFAD_KEY_LEN], struct mfad_device *d);
	int	(*device_put)(struct mfad_sdir *sd,
		    const uint8_t key[MFAD_KEY_LEN],
		    const struct mfad_device *d);
	int	(*device_del)(struct mfad_sdir *sd, const char *user,
		    const uint8_t key[MFAD_KEY_LEN]);
	int	(*device_list_after)(struct mfad_sdir *sd, const char *user,
		    const uint8_t *after,
		    int (*fn)(const uint8_t *, const struct mfad_device *, void *),
		    void *arg);
	int	(*device_revoke_all)(struct mfad_sdir *sd, const char *user,
		    unsigned *n);
	int	(*device_sweep)(struct mfad_sdir *sd, uint64_t now,
		    unsigned budget, unsigned *n, int *more);
	void	(*uris)(struct mfad_sdir *sd, char *last, size_t lastlen,
		    char *all, size_t alllen);
	int	(*throttle_get)(struct mfad_sdir *sd,
		    const uint8_t key[MFAD_KEY_LEN],
		    struct mfad_throttle_rec *t);
	int	(*throttle_send_add)(struct mfad_sdir *sd,
		    const uint8_t key[MFAD_KEY_LEN], uint64_t now,
		    struct mfad_throttle_rec *t);
	int	(*throttle_sweep)(struct mfad_sdir *sd, uint64_t now,
		    unsigned *n);
};

#endif /* MFAD_STORE_DIR_H */
