/*
 * The LMDB backend's environment: opening and closing it, transactions
 * (top-level, or children of the group commit's batch), error codes,
 * the full-store flag, the backup copy and the usage figures. The
 * domains are in mfad_store_{acct,device,login,throttle,outbox,audit,
 * sweep}.c, their records' codec in mfad_store_codec.c.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mfad_log.h"
#include "mfad_store_dir.h"
#include "mfad_store_lmdb.h"
#include "mss_err.h"
#include "mfad_clock.h"

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
		{ "userdevices", MDB_DUPSORT,
		    offsetof(struct mfad_store, devices) },
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
	if ((r = mfad_store_device_migrate(st)) != 0)
		goto fail;
	/* Fleet mode: the directory is set up, not reached (mfad starts
	 * while it is down; the first use connects). */
	st->device_scope = conf->device_scope;
	if (conf->dir_nuris > 0) {
		if ((r = mfad_sdir_open(conf, &st->dir)) != 0)
			goto fail;
		mfad_log(LOG_INFO, "store: accounts%s in the directory; the "
		    "rest in %s", st->device_scope ==
		    MFAD_DEVICE_SCOPE_FLEET ? " and devices" : "",
		    conf->database);
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
	mfad_sdir_close(st->dir);
	mdb_env_close(st->env);
	free(st->path);
	free(st);
}

int
mfad_txn_begin(struct mfad_store *st, int rdonly, struct mfad_txn **txn)
{
	struct mfad_txn *t;
	int rc;

	*txn = NULL;
	if ((t = malloc(sizeof(*t))) == NULL)
		return MSS_ERR_NOMEM;
	rc = mdb_txn_begin(st->env, NULL, rdonly ? MDB_RDONLY : 0, &t->mt);
	if (rc == MDB_READERS_FULL) {
		/* A crashed reader may hold a slot: clear and retry once. */
		mdb_reader_check(st->env, NULL);
		rc = mdb_txn_begin(st->env, NULL, rdonly ? MDB_RDONLY : 0,
		    &t->mt);
	}
	if (rc != 0) {
		free(t);
		return mfad_store_err(rc, "begin");
	}
	*txn = t;
	return 0;
}

/*
 * A child of parent (a write transaction with no other child open): it
 * sees the parent's changes, and its own, once committed, become
 * durable only when the parent commits.
 */
int
mfad_txn_begin_child(struct mfad_txn *parent, struct mfad_txn **txn)
{
	struct mfad_txn *t;
	int rc;

	*txn = NULL;
	if ((t = malloc(sizeof(*t))) == NULL)
		return MSS_ERR_NOMEM;
	if ((rc = mdb_txn_begin(mdb_txn_env(parent->mt), parent->mt, 0,
	    &t->mt)) != 0) {
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

int
mfad_store_copy_fd(struct mfad_store *st, int fd)
{
	return mfad_store_err(mdb_env_copyfd2(st->env, fd, MDB_CP_COMPACT),
	    "backup");
}

int
mfad_store_dir_uris(struct mfad_store *st, char *last, size_t lastlen,
    char *all, size_t alllen)
{
	if (st->dir == NULL) {
		last[0] = all[0] = '\0';
		return 0;
	}
	mfad_sdir_uris(st->dir, last, lastlen, all, alllen);
	return 1;
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
