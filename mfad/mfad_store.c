#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "mfad_log.h"
#include "mfad_store_lmdb.h"
#include "mss_buf.h"
#include "mss_err.h"
#include "mfad_clock.h"
#include "mfad_str.h"

/*
 * Each record starts with its layout's version. Accounts and logins are
 * at 2 (fields added at the end); a version 1 record of either still
 * reads, with the added fields zero, so a store survives an upgrade.
 */
#define MFAD_REC_VERSION	1
#define MFAD_REC_V2		2
#define MFAD_REC_V3		3	/* accounts: recovery codes */
#define MFAD_REC_V4		4	/* accounts: cur_login only when set */
#define MFAD_REC_MAX		8192

static struct mfad_log_limit mfad_full_limit = MFAD_LOG_LIMIT_INIT(60);
static long long mfad_full_at;	/* monotonic seconds of the last one */

int
mfad_store_full_recently(void)
{
	long long at = __atomic_load_n(&mfad_full_at, __ATOMIC_RELAXED);

	return at != 0 && mfad_clock_mono_s() < at + MFAD_FULL_SECS;
}

void
mfad_store_full_clear(void)
{
	__atomic_store_n(&mfad_full_at, 0, __ATOMIC_RELAXED);
}

int
mfad_store_err(int rc, const char *what)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return MSS_ERR_NOTFOUND;
	case MDB_KEYEXIST:
		return MSS_ERR_EXISTS;
	case MDB_MAP_FULL:
		/* Every request that writes meets it: one line a minute. */
		__atomic_store_n(&mfad_full_at, mfad_clock_mono_s(),
		    __ATOMIC_RELAXED);
		mfad_log_limited(&mfad_full_limit, LOG_CRIT, "store full "
		    "during %s: raise [mfad] map_size; refusing changes until "
		    "then", what);
		return MSS_ERR_MAPFULL;
	default:
		mfad_log(LOG_ERR, "store: %s: %s", what, mdb_strerror(rc));
		return MSS_ERR_STORE;
	}
}

int
mfad_store_open(const struct mfad_conf *conf, struct mfad_store **out)
{
	static const struct {
		const char	*name;
		unsigned	 flags;
		size_t		 off;
	} dbs[] = {
		{ "accounts", 0, offsetof(struct mfad_store, accounts) },
		{ "emails", 0, offsetof(struct mfad_store, emails) },
		{ "logins", 0, offsetof(struct mfad_store, logins) },
		{ "devices", 0, offsetof(struct mfad_store, devices) },
		{ "userdevs", MDB_DUPSORT, offsetof(struct mfad_store, userdevs) },
		{ "outbox", 0, offsetof(struct mfad_store, outbox) },
		{ "audit", 0, offsetof(struct mfad_store, audit) },
		{ "meta", 0, offsetof(struct mfad_store, meta) },
		{ "throttles", 0, offsetof(struct mfad_store, throttles) },
	};
	struct mfad_store *st;
	MDB_txn *txn = NULL;
	size_t i;
	int rc, r = MSS_ERR_STORE, dead = 0;

	*out = NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return MSS_ERR_NOMEM;
	if ((st->path = strdup(conf->database)) == NULL) {
		free(st);
		return MSS_ERR_NOMEM;
	}
	if (mkdir(conf->database, 0700) != 0 && errno != EEXIST) {
		mfad_log(LOG_ERR, "%s: cannot create: %s", conf->database,
		    strerror(errno));
		goto fail;
	}
	if ((rc = mdb_env_create(&st->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(st->env, 16)) != 0 ||
	    (rc = mdb_env_set_mapsize(st->env, conf->map_size)) != 0 ||
	    (rc = mdb_env_set_maxreaders(st->env, 256)) != 0) {
		r = mfad_store_err(rc, "environment setup");
		goto fail;
	}
	/*
	 * Full sync: no MDB_NOSYNC, MDB_NOMETASYNC or MDB_WRITEMAP, so a
	 * committed change (a used code above all) survives a crash.
	 * MDB_NOTLS because transactions run on a pool of worker threads.
	 */
	if ((rc = mdb_env_open(st->env, conf->database, MDB_NOTLS, 0600))
	    != 0) {
		mfad_log(LOG_ERR, "%s: cannot open the store: %s",
		    conf->database, mdb_strerror(rc));
		goto fail;
	}
	if ((rc = mdb_reader_check(st->env, &dead)) != 0) {
		r = mfad_store_err(rc, "reader check");
		goto fail;
	}
	if (dead > 0)
		mfad_log(LOG_NOTICE, "cleared %d stale store readers", dead);
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0) {
		r = mfad_store_err(rc, "open");
		goto fail;
	}
	for (i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		if ((rc = mdb_dbi_open(txn, dbs[i].name,
		    MDB_CREATE | dbs[i].flags,
		    (MDB_dbi *)((char *)st + dbs[i].off))) != 0) {
			r = mfad_store_err(rc, dbs[i].name);
			mdb_txn_abort(txn);
			goto fail;
		}
	}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		r = mfad_store_err(rc, "open");
		goto fail;
	}
	*out = st;
	return 0;
fail:
	if (st->env != NULL)
		mdb_env_close(st->env);
	free(st->path);
	free(st);
	return r;
}

void
mfad_store_close(struct mfad_store *st)
{
	if (st == NULL)
		return;
	mdb_env_close(st->env);
	free(st->path);
	free(st);
}

/* The group commit's open transaction, on the committing thread only. */
static __thread struct mfad_txn *mfad_batch_txn;

/* Set by a request of the group commit whose changes guard nothing. */
static __thread int mfad_batch_lazy;

void
mfad_store_batch(struct mfad_txn *txn)
{
	mfad_batch_txn = txn;
}

/*
 * Called by a request of the group commit whose changes guard nothing
 * (the last use of a device, a last login, the audit copy of a
 * success): its reply need not wait for the disk (see mfad_committer).
 * Outside a group commit it changes nothing.
 */
void
mfad_store_lazy(void)
{
	if (mfad_batch_txn != NULL)
		mfad_batch_lazy = 1;
}

/* The committer: did the request just run call mfad_store_lazy()? */
int
mfad_store_lazy_take(void)
{
	int lazy = mfad_batch_lazy;

	mfad_batch_lazy = 0;
	return lazy;
}

int
mfad_txn_begin(struct mfad_store *st, int rdonly, struct mfad_txn **txn)
{
	struct mfad_txn *t;
	int rc;

	*txn = NULL;
	if ((t = malloc(sizeof(*t))) == NULL)
		return MSS_ERR_NOMEM;
	/* Inside a group commit every transaction, even one that only
	 * reads, is a child of the batch: it sees the batch's changes, and
	 * its own become durable when the batch commits. */
	if (mfad_batch_txn != NULL)
		rc = mdb_txn_begin(st->env, mfad_batch_txn->mt, 0, &t->mt);
	else {
		rc = mdb_txn_begin(st->env, NULL, rdonly ? MDB_RDONLY : 0,
		    &t->mt);
		if (rc == MDB_READERS_FULL) {
			/* A crashed reader may hold a slot: clear and retry
			 * once. */
			mdb_reader_check(st->env, NULL);
			rc = mdb_txn_begin(st->env, NULL,
			    rdonly ? MDB_RDONLY : 0, &t->mt);
		}
	}
	if (rc != 0) {
		free(t);
		return mfad_store_err(rc, "begin");
	}
	*txn = t;
	return 0;
}

int
mfad_txn_commit(struct mfad_txn **txn)
{
	struct mfad_txn *t = *txn;
	int rc;

	/* LMDB frees the handle whether the commit worked or not. */
	*txn = NULL;
	rc = mdb_txn_commit(t->mt);
	free(t);
	return mfad_store_err(rc, "commit");
}

void
mfad_txn_abort(struct mfad_txn **txn)
{
	if (*txn != NULL) {
		mdb_txn_abort((*txn)->mt);
		free(*txn);
	}
	*txn = NULL;
}

/* Record codec helpers: fixed-size text fields copied with bounds. */

static int
mfad_get_text(struct mss_buf *b, char *dst, size_t dstlen)
{
	char *s;
	int r;

	if ((r = mss_buf_get_str(b, &s, dstlen - 1)) != 0)
		return r;
	memcpy(dst, s, strlen(s) + 1);
	mss_str_free(s);
	return 0;
}

/* Short text with a one-byte length, as device records keep it. */
static int
mfad_get_text8(struct mss_buf *b, char *dst, size_t dstlen)
{
	uint8_t n;
	int r;

	if ((r = mss_buf_get_u8(b, &n)) != 0)
		return r;
	if (n >= dstlen || mss_buf_avail(b) < n ||
	    memchr(mss_buf_ptr(b), '\0', n) != NULL)
		return MSS_ERR_PROTO;
	memcpy(dst, mss_buf_ptr(b), n);
	dst[n] = '\0';
	b->off += n;
	return 0;
}

static int
mfad_put_text8(struct mss_buf *b, const char *s)
{
	size_t n = strlen(s);
	int r;

	if (n > UINT8_MAX)
		return MSS_ERR_TOOBIG;
	if ((r = mss_buf_put_u8(b, (uint8_t)n)) != 0)
		return r;
	return mss_buf_put(b, s, n);
}

static int
mfad_get_fixed(struct mss_buf *b, uint8_t *dst, size_t n)
{
	if (mss_buf_avail(b) < n)
		return MSS_ERR_PROTO;
	memcpy(dst, mss_buf_ptr(b), n);
	b->off += n;
	return 0;
}

static int
mfad_rec_get_ver(struct mfad_txn *txn, MDB_dbi dbi, const void *k, size_t klen,
    uint8_t maxver, struct mss_buf **out, uint8_t *verp)
{
	MDB_val key = { klen, (void *)k }, val;
	struct mss_buf *b;
	uint8_t ver;
	int rc, r;

	*out = NULL;
	if ((rc = mdb_get(txn->mt, dbi, &key, &val)) != 0)
		return mfad_store_err(rc, "get");
	if ((b = mss_buf_new(MFAD_REC_MAX)) == NULL)
		return MSS_ERR_NOMEM;
	if ((r = mss_buf_put(b, val.mv_data, val.mv_size)) != 0 ||
	    (r = mss_buf_get_u8(b, &ver)) != 0) {
		mss_buf_free(b);
		if (r == MSS_ERR_TOOBIG || r == MSS_ERR_PROTO) {
			mfad_log(LOG_ERR, "store: malformed record");
			r = MSS_ERR_STORE;
		}
		return r;
	}
	if (ver < MFAD_REC_VERSION || ver > maxver) {
		mss_buf_free(b);
		mfad_log(LOG_ERR, "store: record of unknown version %u", ver);
		return MSS_ERR_STORE;
	}
	*out = b;
	if (verp != NULL)
		*verp = ver;
	return 0;
}

static int
mfad_rec_get(struct mfad_txn *txn, MDB_dbi dbi, const void *k, size_t klen,
    struct mss_buf **out)
{
	return mfad_rec_get_ver(txn, dbi, k, klen, MFAD_REC_VERSION, out,
	    NULL);
}

static int
mfad_rec_put(struct mfad_txn *txn, MDB_dbi dbi, const void *k, size_t klen,
    struct mss_buf *b, const char *what)
{
	MDB_val key = { klen, (void *)k };
	MDB_val val = { mss_buf_avail(b), (void *)mss_buf_ptr(b) };

	return mfad_store_err(mdb_put(txn->mt, dbi, &key, &val, 0), what);
}

static int
mfad_rec_del(struct mfad_txn *txn, MDB_dbi dbi, const void *k, size_t klen,
    const char *what)
{
	MDB_val key = { klen, (void *)k };

	return mfad_store_err(mdb_del(txn->mt, dbi, &key, NULL), what);
}

/* A corrupt record reads as a store error, never as a parse of junk. */
static int
mfad_rec_done(struct mss_buf *b, int r)
{
	if (r == 0)
		r = mss_buf_end(b);
	mss_buf_free(b);
	if (r == MSS_ERR_PROTO || r == MSS_ERR_TOOBIG) {
		mfad_log(LOG_ERR, "store: malformed record");
		r = MSS_ERR_STORE;
	}
	return r;
}

/* Accounts */

void
mfad_acct_wipe(struct mfad_acct *a)
{
	sodium_memzero(a->pwhash, sizeof(a->pwhash));
	sodium_memzero(a->recovery, sizeof(a->recovery));
}

void
mfad_acct_recovery_set(struct mfad_acct *a, const uint8_t (*h)[MFAD_KEY_LEN],
    uint32_t n)
{
	sodium_memzero(a->recovery, sizeof(a->recovery));
	if (n > MFAD_RECOVERY_MAX)
		n = MFAD_RECOVERY_MAX;
	if (n > 0)
		memcpy(a->recovery, h, (size_t)n * MFAD_KEY_LEN);
	a->nrecovery = n;
}

int
mfad_acct_recovery_use(struct mfad_acct *a, const uint8_t h[MFAD_KEY_LEN])
{
	uint32_t i, hit = 0, found = 0;
	uint32_t n = a->nrecovery < MFAD_RECOVERY_MAX ? a->nrecovery :
	    MFAD_RECOVERY_MAX;

	/* Every hash is compared, so the time tells nothing of which. */
	for (i = 0; i < n; i++) {
		uint32_t eq = sodium_memcmp(a->recovery[i], h,
		    MFAD_KEY_LEN) == 0;

		hit |= eq * i;
		found |= eq;
	}
	if (!found)
		return MSS_ERR_NOTFOUND;
	memmove(a->recovery[hit], a->recovery[hit + 1],
	    (size_t)(n - hit - 1) * MFAD_KEY_LEN);
	sodium_memzero(a->recovery[n - 1], MFAD_KEY_LEN);
	a->nrecovery = n - 1;
	return 0;
}

static int
mfad_acct_decode(struct mss_buf *b, uint8_t ver, struct mfad_acct *a)
{
	uint32_t i;
	int r;

	memset(a, 0, sizeof(*a));
	if ((r = mfad_get_text(b, a->user, sizeof(a->user))) != 0 ||
	    (r = mfad_get_text(b, a->email, sizeof(a->email))) != 0 ||
	    (r = mfad_get_text(b, a->lang, sizeof(a->lang))) != 0 ||
	    (r = mss_buf_get_u8(b, &a->state)) != 0 ||
	    (r = mss_buf_get_u8(b, &a->reenroll)) != 0 ||
	    (r = mfad_get_text(b, a->pwhash, sizeof(a->pwhash))) != 0 ||
	    (r = mss_buf_get_u64(b, &a->created)) != 0 ||
	    (r = mss_buf_get_u64(b, &a->enrolled)) != 0 ||
	    (r = mss_buf_get_u64(b, &a->last_login)) != 0 ||
	    (r = mss_buf_get_u32(b, &a->failures)) != 0 ||
	    (r = mss_buf_get_u64(b, &a->locked_until)) != 0 ||
	    (r = mss_buf_get_u32(b, &a->nsends)) != 0)
		return r;
	if (a->nsends > MFAD_SENDS_MAX)
		return MSS_ERR_PROTO;
	for (i = 0; i < a->nsends; i++)
		if ((r = mss_buf_get_u64(b, &a->sends[i])) != 0)
			return r;
	if (ver < MFAD_REC_V2)
		return 0;
	if ((r = mss_buf_get_u64(b, &a->throttle_noticed)) != 0 ||
	    (r = mss_buf_get_u64(b, &a->lock_noticed)) != 0 ||
	    (r = mss_buf_get_u8(b, &a->has_cur_login)) != 0)
		return r;
	if (a->has_cur_login > 1)
		return MSS_ERR_PROTO;
	/* Up to version 3, 32 bytes (zeros) even when there is none. */
	if ((ver < MFAD_REC_V4 || a->has_cur_login) &&
	    (r = mfad_get_fixed(b, a->cur_login, MFAD_KEY_LEN)) != 0)
		return r;
	if (ver < MFAD_REC_V3)
		return 0;
	if ((r = mss_buf_get_u32(b, &a->nrecovery)) != 0)
		return r;
	if (a->nrecovery > MFAD_RECOVERY_MAX)
		return MSS_ERR_PROTO;
	for (i = 0; i < a->nrecovery; i++)
		if ((r = mfad_get_fixed(b, a->recovery[i], MFAD_KEY_LEN)) != 0)
			return r;
	return 0;
}

/* A user name LMDB cannot hold as a key (empty, or too long) names no
 * account: "not found", never a store error logged at error level. */
static int
mfad_user_key_ok(const char *user)
{
	return user[0] != '\0' && strlen(user) <= MFAD_USER_MAX;
}

int
mfad_acct_get(struct mfad_txn *txn, struct mfad_store *st, const char *user,
    struct mfad_acct *a)
{
	struct mss_buf *b;
	uint8_t ver;
	int r;

	if (!mfad_user_key_ok(user))
		return MSS_ERR_NOTFOUND;
	if ((r = mfad_rec_get_ver(txn, st->accounts, user, strlen(user),
	    MFAD_REC_V4, &b, &ver)) != 0)
		return r;
	return mfad_rec_done(b, mfad_acct_decode(b, ver, a));
}

static int
mfad_acct_encode(struct mss_buf *b, const struct mfad_acct *a)
{
	uint32_t i;
	int r;

	if ((r = mss_buf_put_u8(b, MFAD_REC_V4)) != 0 ||
	    (r = mss_buf_put_str(b, a->user)) != 0 ||
	    (r = mss_buf_put_str(b, a->email)) != 0 ||
	    (r = mss_buf_put_str(b, a->lang)) != 0 ||
	    (r = mss_buf_put_u8(b, a->state)) != 0 ||
	    (r = mss_buf_put_u8(b, a->reenroll)) != 0 ||
	    (r = mss_buf_put_str(b, a->pwhash)) != 0 ||
	    (r = mss_buf_put_u64(b, a->created)) != 0 ||
	    (r = mss_buf_put_u64(b, a->enrolled)) != 0 ||
	    (r = mss_buf_put_u64(b, a->last_login)) != 0 ||
	    (r = mss_buf_put_u32(b, a->failures)) != 0 ||
	    (r = mss_buf_put_u64(b, a->locked_until)) != 0 ||
	    (r = mss_buf_put_u32(b, a->nsends)) != 0)
		return r;
	for (i = 0; i < a->nsends && i < MFAD_SENDS_MAX; i++)
		if ((r = mss_buf_put_u64(b, a->sends[i])) != 0)
			return r;
	if ((r = mss_buf_put_u64(b, a->throttle_noticed)) != 0 ||
	    (r = mss_buf_put_u64(b, a->lock_noticed)) != 0 ||
	    (r = mss_buf_put_u8(b, a->has_cur_login != 0)) != 0)
		return r;
	if (a->has_cur_login &&
	    (r = mss_buf_put(b, a->cur_login, MFAD_KEY_LEN)) != 0)
		return r;
	if ((r = mss_buf_put_u32(b, a->nrecovery)) != 0)
		return r;
	for (i = 0; i < a->nrecovery && i < MFAD_RECOVERY_MAX; i++)
		if ((r = mss_buf_put(b, a->recovery[i], MFAD_KEY_LEN)) != 0)
			return r;
	return 0;
}

int
mfad_acct_put(struct mfad_txn *txn, struct mfad_store *st,
    const struct mfad_acct *a, const char *old_email)
{
	char lower[MFAD_EMAIL_MAX + 1], owner[MFAD_USER_MAX + 1];
	struct mss_buf *b;
	int r;

	mfad_str_lower(lower, a->email, sizeof(lower));
	if (old_email == NULL || strcasecmp(old_email, a->email) != 0) {
		/* One account per address. */
		r = mfad_acct_by_email(txn, st, a->email, owner,
		    sizeof(owner));
		if (r == 0 && strcmp(owner, a->user) != 0)
			return MSS_ERR_EXISTS;
		if (r != 0 && r != MSS_ERR_NOTFOUND)
			return r;
		if (old_email != NULL && old_email[0] != '\0') {
			char oldl[MFAD_EMAIL_MAX + 1];

			mfad_str_lower(oldl, old_email, sizeof(oldl));
			r = mfad_rec_del(txn, st->emails, oldl, strlen(oldl),
			    "email index");
			if (r != 0 && r != MSS_ERR_NOTFOUND)
				return r;
		}
		if ((r = mfad_store_err(mdb_put(txn->mt, st->emails,
		    &(MDB_val){ strlen(lower), lower },
		    &(MDB_val){ strlen(a->user), (void *)a->user }, 0),
		    "email index")) != 0)
			return r;
	}
	if ((b = mss_buf_new(MFAD_REC_MAX)) == NULL)
		return MSS_ERR_NOMEM;
	if ((r = mfad_acct_encode(b, a)) == 0)
		r = mfad_rec_put(txn, st->accounts, a->user, strlen(a->user),
		    b, "account");
	mss_buf_free(b);
	return r;
}

int
mfad_acct_del(struct mfad_txn *txn, struct mfad_store *st,
    const struct mfad_acct *a)
{
	char lower[MFAD_EMAIL_MAX + 1];
	unsigned n;
	int r;

	mfad_str_lower(lower, a->email, sizeof(lower));
	r = mfad_rec_del(txn, st->emails, lower, strlen(lower), "email index");
	if (r != 0 && r != MSS_ERR_NOTFOUND)
		return r;
	if ((r = mfad_device_revoke_all(txn, st, a->user, &n)) != 0)
		return r;
	return mfad_rec_del(txn, st->accounts, a->user, strlen(a->user),
	    "account");
}

int
mfad_acct_by_email(struct mfad_txn *txn, struct mfad_store *st,
    const char *email, char *user, size_t userlen)
{
	char lower[MFAD_EMAIL_MAX + 1];
	MDB_val key, val;
	int rc;

	if (email[0] == '\0' || strlen(email) > MFAD_EMAIL_MAX)
		return MSS_ERR_NOTFOUND;
	mfad_str_lower(lower, email, sizeof(lower));
	key.mv_size = strlen(lower);
	key.mv_data = lower;
	if ((rc = mdb_get(txn->mt, st->emails, &key, &val)) != 0)
		return mfad_store_err(rc, "email index");
	if (val.mv_size >= userlen)
		return MSS_ERR_STORE;
	memcpy(user, val.mv_data, val.mv_size);
	user[val.mv_size] = '\0';
	return 0;
}

int
mfad_acct_list(struct mfad_txn *txn, struct mfad_store *st, const char *after,
    size_t max, int (*fn)(const struct mfad_acct *, void *), void *arg,
    int *more)
{
	MDB_cursor *cur;
	MDB_val key, val;
	struct mfad_acct a;
	struct mss_buf *b;
	size_t n = 0;
	int rc, r = 0;

	*more = 0;
	if ((rc = mdb_cursor_open(txn->mt, st->accounts, &cur)) != 0)
		return mfad_store_err(rc, "cursor");
	key.mv_size = strlen(after);
	key.mv_data = (void *)after;
	if (after[0] == '\0')
		rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
	else {
		rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
		if (rc == 0 && key.mv_size == strlen(after) &&
		    memcmp(key.mv_data, after, key.mv_size) == 0)
			rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
	}
	for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		if (n == max) {
			*more = 1;
			break;
		}
		if ((b = mss_buf_new(MFAD_REC_MAX)) == NULL) {
			r = MSS_ERR_NOMEM;
			break;
		}
		if ((r = mss_buf_put(b, val.mv_data, val.mv_size)) == 0) {
			uint8_t ver;

			if ((r = mss_buf_get_u8(b, &ver)) == 0 &&
			    (ver < MFAD_REC_VERSION || ver > MFAD_REC_V4))
				r = MSS_ERR_PROTO;
			if (r == 0)
				r = mfad_acct_decode(b, ver, &a);
		}
		if ((r = mfad_rec_done(b, r)) != 0)
			break;
		r = fn(&a, arg);
		mfad_acct_wipe(&a);
		if (r != 0)
			break;
		n++;
	}
	mdb_cursor_close(cur);
	if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
		r = mfad_store_err(rc, "account list");
	return r;
}

int
mfad_acct_count(struct mfad_txn *txn, struct mfad_store *st, uint64_t *n)
{
	MDB_stat ms;
	int rc;

	if ((rc = mdb_stat(txn->mt, st->accounts, &ms)) != 0)
		return mfad_store_err(rc, "stat");
	*n = ms.ms_entries;
	return 0;
}

/* Logins */

int
mfad_login_get(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], struct mfad_login *l)
{
	struct mss_buf *b;
	uint32_t uid;
	uint8_t ver;
	int r;

	if ((r = mfad_rec_get_ver(txn, st->logins, key, MFAD_KEY_LEN,
	    MFAD_REC_V2, &b, &ver)) != 0)
		return r;
	memset(l, 0, sizeof(*l));
	if ((r = mss_buf_get_u8(b, &l->kind)) != 0 ||
	    (r = mfad_get_text(b, l->user, sizeof(l->user))) != 0 ||
	    (r = mfad_get_text(b, l->service, sizeof(l->service))) != 0 ||
	    (r = mfad_get_text(b, l->rhost, sizeof(l->rhost))) != 0 ||
	    (r = mfad_get_text(b, l->masked, sizeof(l->masked))) != 0 ||
	    (r = mss_buf_get_u32(b, &uid)) != 0 ||
	    (r = mss_buf_get_u8(b, &l->state)) != 0 ||
	    (r = mss_buf_get_u8(b, &l->mail)) != 0 ||
	    (r = mss_buf_get_u8(b, &l->has_device)) != 0 ||
	    (r = mfad_get_text(b, l->device_kind,
	    sizeof(l->device_kind))) != 0 ||
	    (r = mfad_get_fixed(b, l->devhash, MFAD_KEY_LEN)) != 0 ||
	    (r = mfad_get_fixed(b, l->codehash, MFAD_KEY_LEN)) != 0 ||
	    (r = mss_buf_get_u64(b, &l->created)) != 0 ||
	    (r = mss_buf_get_u64(b, &l->code_expires)) != 0 ||
	    (r = mss_buf_get_u64(b, &l->expires)) != 0 ||
	    (r = mss_buf_get_u64(b, &l->verified)) != 0 ||
	    (r = mss_buf_get_u32(b, &l->attempts)) != 0 ||
	    (r = mss_buf_get_u32(b, &l->sends)) != 0)
		return mfad_rec_done(b, r);
	if (ver >= MFAD_REC_V2 &&
	    ((r = mfad_get_fixed(b, l->code_nonce, MFAD_NONCE_LEN)) != 0 ||
	    (r = mss_buf_get_u8(b, &l->noticed)) != 0 ||
	    (r = mss_buf_get_u8(b, &l->has_tkey)) != 0 ||
	    (r = mfad_get_fixed(b, l->tkey, MFAD_KEY_LEN)) != 0))
		return mfad_rec_done(b, r);
	l->caller_uid = uid;
	return mfad_rec_done(b, 0);
}

int
mfad_login_put(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], const struct mfad_login *l)
{
	struct mss_buf *b;
	int r;

	if ((b = mss_buf_new(MFAD_REC_MAX)) == NULL)
		return MSS_ERR_NOMEM;
	if ((r = mss_buf_put_u8(b, MFAD_REC_V2)) != 0 ||
	    (r = mss_buf_put_u8(b, l->kind)) != 0 ||
	    (r = mss_buf_put_str(b, l->user)) != 0 ||
	    (r = mss_buf_put_str(b, l->service)) != 0 ||
	    (r = mss_buf_put_str(b, l->rhost)) != 0 ||
	    (r = mss_buf_put_str(b, l->masked)) != 0 ||
	    (r = mss_buf_put_u32(b, l->caller_uid)) != 0 ||
	    (r = mss_buf_put_u8(b, l->state)) != 0 ||
	    (r = mss_buf_put_u8(b, l->mail)) != 0 ||
	    (r = mss_buf_put_u8(b, l->has_device)) != 0 ||
	    (r = mss_buf_put_str(b, l->device_kind)) != 0 ||
	    (r = mss_buf_put(b, l->devhash, MFAD_KEY_LEN)) != 0 ||
	    (r = mss_buf_put(b, l->codehash, MFAD_KEY_LEN)) != 0 ||
	    (r = mss_buf_put_u64(b, l->created)) != 0 ||
	    (r = mss_buf_put_u64(b, l->code_expires)) != 0 ||
	    (r = mss_buf_put_u64(b, l->expires)) != 0 ||
	    (r = mss_buf_put_u64(b, l->verified)) != 0 ||
	    (r = mss_buf_put_u32(b, l->attempts)) != 0 ||
	    (r = mss_buf_put_u32(b, l->sends)) != 0 ||
	    (r = mss_buf_put(b, l->code_nonce, MFAD_NONCE_LEN)) != 0 ||
	    (r = mss_buf_put_u8(b, l->noticed)) != 0 ||
	    (r = mss_buf_put_u8(b, l->has_tkey)) != 0 ||
	    (r = mss_buf_put(b, l->tkey, MFAD_KEY_LEN)) != 0)
		goto out;
	r = mfad_rec_put(txn, st->logins, key, MFAD_KEY_LEN, b, "login");
out:
	mss_buf_free(b);
	return r;
}

int
mfad_login_del(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN])
{
	return mfad_rec_del(txn, st->logins, key, MFAD_KEY_LEN, "login");
}

/* Throttles */

int
mfad_throttle_get(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], struct mfad_throttle_rec *t)
{
	struct mss_buf *b;
	uint32_t i;
	int r;

	if ((r = mfad_rec_get(txn, st->throttles, key, MFAD_KEY_LEN, &b)) != 0)
		return r;
	memset(t, 0, sizeof(*t));
	if ((r = mss_buf_get_u32(b, &t->nsends)) != 0)
		return mfad_rec_done(b, r);
	if (t->nsends > MFAD_SENDS_MAX)
		return mfad_rec_done(b, MSS_ERR_PROTO);
	for (i = 0; i < t->nsends; i++)
		if ((r = mss_buf_get_u64(b, &t->sends[i])) != 0)
			break;
	return mfad_rec_done(b, r);
}

int
mfad_throttle_put(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], const struct mfad_throttle_rec *t)
{
	struct mss_buf *b;
	uint32_t i;
	int r;

	if ((b = mss_buf_new(MFAD_REC_MAX)) == NULL)
		return MSS_ERR_NOMEM;
	if ((r = mss_buf_put_u8(b, MFAD_REC_VERSION)) != 0 ||
	    (r = mss_buf_put_u32(b, t->nsends)) != 0)
		goto out;
	for (i = 0; i < t->nsends && i < MFAD_SENDS_MAX; i++)
		if ((r = mss_buf_put_u64(b, t->sends[i])) != 0)
			goto out;
	r = mfad_rec_put(txn, st->throttles, key, MFAD_KEY_LEN, b,
	    "throttle");
out:
	mss_buf_free(b);
	return r;
}

/* Devices */

/*
 * Version 2 gives the strings a one-byte length instead of four: nine
 * bytes less a device, millions of them in a large store. Version 1
 * records still read, and become version 2 when next written.
 */
static int
mfad_device_decode(struct mss_buf *b, uint8_t ver, struct mfad_device *d)
{
	int (*text)(struct mss_buf *, char *, size_t);
	int r;

	memset(d, 0, sizeof(*d));
	text = ver < MFAD_REC_V2 ? mfad_get_text : mfad_get_text8;
	if ((r = text(b, d->user, sizeof(d->user))) != 0 ||
	    (r = text(b, d->kind, sizeof(d->kind))) != 0 ||
	    (r = text(b, d->service, sizeof(d->service))) != 0 ||
	    (r = mss_buf_get_u64(b, &d->created)) != 0 ||
	    (r = mss_buf_get_u64(b, &d->expires)) != 0 ||
	    (r = mss_buf_get_u64(b, &d->last_used)) != 0)
		return r;
	return 0;
}

int
mfad_device_get(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], struct mfad_device *d)
{
	struct mss_buf *b;
	uint8_t ver;
	int r;

	if ((r = mfad_rec_get_ver(txn, st->devices, key, MFAD_KEY_LEN,
	    MFAD_REC_V2, &b, &ver)) != 0)
		return r;
	return mfad_rec_done(b, mfad_device_decode(b, ver, d));
}

int
mfad_device_put(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN], const struct mfad_device *d)
{
	MDB_val k = { strlen(d->user), (void *)d->user };
	MDB_val v = { MFAD_KEY_LEN, (void *)key };
	struct mss_buf *b;
	int rc, r;

	if ((b = mss_buf_new(MFAD_REC_MAX)) == NULL)
		return MSS_ERR_NOMEM;
	if ((r = mss_buf_put_u8(b, MFAD_REC_V2)) != 0 ||
	    (r = mfad_put_text8(b, d->user)) != 0 ||
	    (r = mfad_put_text8(b, d->kind)) != 0 ||
	    (r = mfad_put_text8(b, d->service)) != 0 ||
	    (r = mss_buf_put_u64(b, d->created)) != 0 ||
	    (r = mss_buf_put_u64(b, d->expires)) != 0 ||
	    (r = mss_buf_put_u64(b, d->last_used)) != 0)
		goto out;
	if ((r = mfad_rec_put(txn, st->devices, key, MFAD_KEY_LEN, b,
	    "device")) != 0)
		goto out;
	rc = mdb_put(txn->mt, st->userdevs, &k, &v, MDB_NODUPDATA);
	if (rc != MDB_KEYEXIST)
		r = mfad_store_err(rc, "device index");
out:
	mss_buf_free(b);
	return r;
}

int
mfad_device_del(struct mfad_txn *txn, struct mfad_store *st,
    const uint8_t key[MFAD_KEY_LEN])
{
	struct mfad_device d;
	MDB_val k, v = { MFAD_KEY_LEN, (void *)key };
	int r, rc;

	if ((r = mfad_device_get(txn, st, key, &d)) != 0)
		return r;
	k.mv_size = strlen(d.user);
	k.mv_data = d.user;
	rc = mdb_del(txn->mt, st->userdevs, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mfad_store_err(rc, "device index");
	return mfad_rec_del(txn, st->devices, key, MFAD_KEY_LEN, "device");
}

int
mfad_device_list(struct mfad_txn *txn, struct mfad_store *st, const char *user,
    int (*fn)(const uint8_t *, const struct mfad_device *, void *), void *arg)
{
	return mfad_device_list_after(txn, st, user, NULL, fn, arg);
}

/*
 * The devices of user whose key starts above after (MFAD_DEVICE_ID_LEN
 * bytes, the id "device list" shows; NULL: from the first), in key order,
 * so that a client pages by naming the last id it got.
 */
int
mfad_device_list_after(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, const uint8_t *after,
    int (*fn)(const uint8_t *, const struct mfad_device *, void *), void *arg)
{
	MDB_cursor *cur;
	MDB_val k = { strlen(user), (void *)user }, v;
	struct mfad_device d;
	uint8_t key[MFAD_KEY_LEN];
	int rc, r = 0;

	if (!mfad_user_key_ok(user))
		return 0;
	if ((rc = mdb_cursor_open(txn->mt, st->userdevs, &cur)) != 0)
		return mfad_store_err(rc, "cursor");
	if (after != NULL) {
		/* The first key at or above after + zeros; keys sharing the
		 * id were on the previous page. */
		memset(key, 0, sizeof(key));
		memcpy(key, after, MFAD_DEVICE_ID_LEN);
		v.mv_size = sizeof(key);
		v.mv_data = key;
		rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH_RANGE);
	} else
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
		if (v.mv_size != MFAD_KEY_LEN)
			continue;
		if (after != NULL &&
		    memcmp(v.mv_data, after, MFAD_DEVICE_ID_LEN) <= 0)
			continue;
		memcpy(key, v.mv_data, MFAD_KEY_LEN);
		r = mfad_device_get(txn, st, key, &d);
		if (r == MSS_ERR_NOTFOUND) {
			r = 0;
			continue;
		}
		if (r != 0 || (r = fn(key, &d, arg)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
		r = mfad_store_err(rc, "device list");
	return r;
}

int
mfad_device_revoke_all(struct mfad_txn *txn, struct mfad_store *st,
    const char *user, unsigned *n)
{
	MDB_cursor *cur;
	MDB_val k = { strlen(user), (void *)user }, v, dk;
	int rc, r = 0;

	*n = 0;
	if (!mfad_user_key_ok(user))
		return 0;
	if ((rc = mdb_cursor_open(txn->mt, st->userdevs, &cur)) != 0)
		return mfad_store_err(rc, "cursor");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
		dk = v;
		rc = mdb_del(txn->mt, st->devices, &dk, NULL);
		if (rc == 0)
			(*n)++;
		else if (rc != MDB_NOTFOUND) {
			r = mfad_store_err(rc, "device revoke");
			break;
		}
	}
	mdb_cursor_close(cur);
	if (r != 0)
		return r;
	rc = mdb_del(txn->mt, st->userdevs, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mfad_store_err(rc, "device index");
	return 0;
}

/* Outbox: keys are big-endian u64 so that LMDB order is queue order. */

static void
mfad_u64_key(uint64_t v, unsigned char k[8])
{
	int i;

	for (i = 7; i >= 0; i--) {
		k[i] = v & 0xff;
		v >>= 8;
	}
}

static uint64_t
mfad_key_u64(const unsigned char *k)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | k[i];
	return v;
}

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

static int
mfad_outmsg_encode(struct mss_buf *b, const struct mfad_outmsg *m)
{
	int r;

	if ((r = mss_buf_put_u8(b, MFAD_REC_VERSION)) != 0 ||
	    (r = mss_buf_put_u64(b, m->created)) != 0 ||
	    (r = mss_buf_put_u64(b, m->expires)) != 0 ||
	    (r = mss_buf_put_u64(b, m->next_try)) != 0 ||
	    (r = mss_buf_put_u32(b, m->tries)) != 0 ||
	    (r = mss_buf_put_u8(b, m->kind)) != 0 ||
	    (r = mss_buf_put_str(b, m->user)) != 0 ||
	    (r = mss_buf_put_str(b, m->to)) != 0 ||
	    (r = mss_buf_put_str(b, m->last_error)) != 0 ||
	    (r = mss_buf_put_u8(b, m->has_login)) != 0 ||
	    (r = mss_buf_put(b, m->login, MFAD_KEY_LEN)) != 0 ||
	    (r = mss_buf_put_u32(b, (uint32_t)m->sealed_len)) != 0 ||
	    (r = mss_buf_put(b, m->sealed, m->sealed_len)) != 0)
		return r;
	return 0;
}

static int
mfad_outbox_write(struct mfad_txn *txn, struct mfad_store *st, uint64_t id,
    const struct mfad_outmsg *m, unsigned flags)
{
	unsigned char k[8];
	struct mss_buf *b;
	MDB_val key = { 8, k }, val;
	int r;

	mfad_u64_key(id, k);
	if ((b = mss_buf_new(MFAD_REC_MAX * 8)) == NULL)
		return MSS_ERR_NOMEM;
	if ((r = mfad_outmsg_encode(b, m)) == 0) {
		val.mv_size = mss_buf_avail(b);
		val.mv_data = (void *)mss_buf_ptr(b);
		r = mfad_store_err(mdb_put(txn->mt, st->outbox, &key, &val,
		    flags), "outbox");
	}
	mss_buf_free(b);
	return r;
}

int
mfad_outbox_put(struct mfad_txn *txn, struct mfad_store *st,
    const struct mfad_outmsg *m, uint64_t *id)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t next;
	int rc;

	/* Time-ordered ids, strictly after the last one queued. */
	next = mfad_clock_real_us();
	if ((rc = mdb_cursor_open(txn->mt, st->outbox, &cur)) != 0)
		return mfad_store_err(rc, "cursor");
	if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 && k.mv_size == 8 &&
	    mfad_key_u64(k.mv_data) >= next)
		next = mfad_key_u64(k.mv_data) + 1;
	mdb_cursor_close(cur);
	*id = next;
	return mfad_outbox_write(txn, st, next, m, MDB_NOOVERWRITE);
}

int
mfad_outbox_update(struct mfad_txn *txn, struct mfad_store *st, uint64_t id,
    const struct mfad_outmsg *m)
{
	return mfad_outbox_write(txn, st, id, m, 0);
}

int
mfad_outbox_get(struct mfad_txn *txn, struct mfad_store *st, uint64_t id,
    struct mfad_outmsg *m)
{
	unsigned char k[8];
	MDB_val key = { 8, k }, val;
	struct mss_buf *b;
	uint32_t slen;
	uint8_t ver;
	int rc, r;

	memset(m, 0, sizeof(*m));
	mfad_u64_key(id, k);
	if ((rc = mdb_get(txn->mt, st->outbox, &key, &val)) != 0)
		return mfad_store_err(rc, "outbox");
	if ((b = mss_buf_new(val.mv_size)) == NULL)
		return MSS_ERR_NOMEM;
	if ((r = mss_buf_put(b, val.mv_data, val.mv_size)) != 0 ||
	    (r = mss_buf_get_u8(b, &ver)) != 0 ||
	    (r = mss_buf_get_u64(b, &m->created)) != 0 ||
	    (r = mss_buf_get_u64(b, &m->expires)) != 0 ||
	    (r = mss_buf_get_u64(b, &m->next_try)) != 0 ||
	    (r = mss_buf_get_u32(b, &m->tries)) != 0 ||
	    (r = mss_buf_get_u8(b, &m->kind)) != 0 ||
	    (r = mfad_get_text(b, m->user, sizeof(m->user))) != 0 ||
	    (r = mfad_get_text(b, m->to, sizeof(m->to))) != 0 ||
	    (r = mfad_get_text(b, m->last_error, sizeof(m->last_error))) != 0 ||
	    (r = mss_buf_get_u8(b, &m->has_login)) != 0 ||
	    (r = mfad_get_fixed(b, m->login, MFAD_KEY_LEN)) != 0 ||
	    (r = mss_buf_get_u32(b, &slen)) != 0)
		return mfad_rec_done(b, r);
	if (ver != MFAD_REC_VERSION || slen != mss_buf_avail(b))
		return mfad_rec_done(b, MSS_ERR_PROTO);
	if ((m->sealed = malloc(slen ? slen : 1)) == NULL)
		return mfad_rec_done(b, MSS_ERR_NOMEM);
	memcpy(m->sealed, mss_buf_ptr(b), slen);
	m->sealed_len = slen;
	b->off += slen;
	if ((r = mfad_rec_done(b, 0)) != 0)
		mfad_outmsg_clear(m);
	return r;
}

int
mfad_outbox_del(struct mfad_txn *txn, struct mfad_store *st, uint64_t id)
{
	unsigned char k[8];

	mfad_u64_key(id, k);
	return mfad_rec_del(txn, st->outbox, k, 8, "outbox");
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
	const unsigned char *p;
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
		/* version, created, expires, next_try lead every record. */
		if (k.mv_size != 8 || v.mv_size < 25)
			continue;
		p = v.mv_data;
		created = mfad_key_u64(p + 1);
		next_try = mfad_key_u64(p + 17);
		if (*oldest == 0 || created < *oldest)
			*oldest = created;
		if (next_try <= now) {
			if (*n < max)
				ids[(*n)++] = mfad_key_u64(k.mv_data);
		} else if (*next == 0 || next_try < *next)
			*next = next_try;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return mfad_store_err(rc, "outbox scan");
	return 0;
}

/* Audit */

int
mfad_audit_put(struct mfad_txn *txn, struct mfad_store *st,
    const struct mfad_audit_rec *a)
{
	unsigned char k[12];
	struct mss_buf *b;
	MDB_val key = { sizeof(k), k }, val;
	uint32_t seq;
	int r;

	/* time + random tail: two events in one microsecond both stay. */
	mfad_u64_key(a->time_us, k);
	seq = randombytes_random();
	memcpy(k + 8, &seq, 4);
	if ((b = mss_buf_new(MFAD_REC_MAX)) == NULL)
		return MSS_ERR_NOMEM;
	if ((r = mss_buf_put_u8(b, MFAD_REC_VERSION)) != 0 ||
	    (r = mss_buf_put_u64(b, a->time_us)) != 0 ||
	    (r = mss_buf_put_str(b, a->event)) != 0 ||
	    (r = mss_buf_put_str(b, a->user)) != 0 ||
	    (r = mss_buf_put_str(b, a->service)) != 0 ||
	    (r = mss_buf_put_str(b, a->rhost)) != 0 ||
	    (r = mss_buf_put_str(b, a->result)) != 0 ||
	    (r = mss_buf_put_str(b, a->detail)) != 0)
		goto out;
	val.mv_size = mss_buf_avail(b);
	val.mv_data = (void *)mss_buf_ptr(b);
	r = mfad_store_err(mdb_put(txn->mt, st->audit, &key, &val, 0), "audit");
out:
	mss_buf_free(b);
	return r;
}

int
mfad_audit_list(struct mfad_txn *txn, struct mfad_store *st, const char *user,
    uint64_t since_us, uint64_t before_us,
    int (*fn)(const struct mfad_audit_rec *, void *), void *arg, int *more)
{
	struct mfad_audit_rec a;
	struct mss_buf *b = NULL;
	unsigned char k[12];
	MDB_cursor *cur;
	MDB_val key, val;
	uint8_t ver;
	int rc, r = 0;

	*more = 0;
	if ((rc = mdb_cursor_open(txn->mt, st->audit, &cur)) != 0)
		return mfad_store_err(rc, "cursor");
	if (before_us == 0)
		rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
	else {
		/* The first record at or after before_us, then one back. */
		mfad_u64_key(before_us, k);
		memset(k + 8, 0, 4);
		key.mv_size = sizeof(k);
		key.mv_data = k;
		rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
		rc = rc == 0 ? mdb_cursor_get(cur, &key, &val, MDB_PREV) :
		    mdb_cursor_get(cur, &key, &val, MDB_LAST);
	}
	for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_PREV)) {
		if (key.mv_size < 8 || mfad_key_u64(key.mv_data) < since_us)
			break;
		if ((b = mss_buf_new(val.mv_size)) == NULL) {
			r = MSS_ERR_NOMEM;
			break;
		}
		memset(&a, 0, sizeof(a));
		if ((r = mss_buf_put(b, val.mv_data, val.mv_size)) != 0 ||
		    (r = mss_buf_get_u8(b, &ver)) != 0 ||
		    (r = mss_buf_get_u64(b, &a.time_us)) != 0 ||
		    (r = mfad_get_text(b, a.event, sizeof(a.event))) != 0 ||
		    (r = mfad_get_text(b, a.user, sizeof(a.user))) != 0 ||
		    (r = mfad_get_text(b, a.service, sizeof(a.service))) != 0 ||
		    (r = mfad_get_text(b, a.rhost, sizeof(a.rhost))) != 0 ||
		    (r = mfad_get_text(b, a.result, sizeof(a.result))) != 0 ||
		    (r = mfad_get_text(b, a.detail, sizeof(a.detail))) != 0) {
			/* An unreadable record is skipped, not fatal. */
			mss_buf_free(b);
			b = NULL;
			r = 0;
			continue;
		}
		mss_buf_free(b);
		b = NULL;
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

int
mfad_store_copy_fd(struct mfad_store *st, int fd)
{
	return mfad_store_err(mdb_env_copyfd2(st->env, fd, MDB_CP_COMPACT),
	    "backup");
}

/* Sweep */

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
		    mfad_key_u64(k->mv_data) / 1000000 >= audit_before ?
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
mfad_store_sweep_step(struct mfad_txn *txn, struct mfad_store *st, uint64_t now,
    uint64_t audit_before, struct mfad_sweep_pos *pos, unsigned budget,
    unsigned *n)
{
	MDB_dbi dbis[] = { st->logins, st->devices, st->throttles, st->audit };
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, go;

	while (pos->phase < MFAD_SWEEP_DONE && budget > 0) {
		if ((rc = mdb_cursor_open(txn->mt, dbis[pos->phase], &cur)) != 0)
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
mfad_store_sweep(struct mfad_txn *txn, struct mfad_store *st, uint64_t now,
    uint64_t audit_before, unsigned *n)
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

int
mfad_store_usage(struct mfad_store *st, uint64_t *map, uint64_t *used)
{
	MDB_envinfo info;
	MDB_stat ms;

	if (mdb_env_info(st->env, &info) != 0 ||
	    mdb_env_stat(st->env, &ms) != 0)
		return MSS_ERR_STORE;
	*map = info.me_mapsize;
	*used = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
	return 0;
}
