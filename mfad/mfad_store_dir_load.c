/*
 * mfad's side of the directory backend (mfad_store_dir.h): loads
 * mfad_store_dir.so at the first mfad_sdir_open, and forwards each
 * mfad_sdir_* call to the module's table. Only an mfad with [directory]
 * gets here, so a host in local mode never maps libldap, GnuTLS and
 * what they pull in.
 *
 * The module is never unloaded: its connections live as long as the
 * store, and libldap keeps state of its own.
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "mfad_clock.h"
#include "mfad_log.h"
#include "mfad_secret.h"
#include "mfad_store_dir.h"
#include "mfad_str.h"
#include "mss_err.h"

/*
 * What the module calls in mfad (nm -D --undefined-only of the module,
 * libraries aside). A program that links the store links this file, so
 * these references bring those functions into it, whatever else it
 * uses, for -export-dynamic to offer them to the module. One missing
 * here makes the load fail (RTLD_NOW), named, in the fleet tests.
 */
static void (*const mfad_sdir_needs[])(void) __attribute__((used)) = {
	(void (*)(void))mfad_acct_wipe,
	(void (*)(void))mfad_clock_real_s,
	(void (*)(void))mfad_clock_real_us,
	(void (*)(void))mfad_log,
	(void (*)(void))mfad_log_limited,
	(void (*)(void))mfad_secret_read,
	(void (*)(void))mfad_str_copy,
};

static const struct mfad_sdir_ops *mfad_sdir_ops;
static pthread_mutex_t mfad_sdir_lock = PTHREAD_MUTEX_INITIALIZER;

/* The module's path: MFAD_MODULE_DIR of the build, unless the
 * environment names another directory (a build tree's, for its tests). */
static int
mfad_sdir_path(char *path, size_t len)
{
	const char *dir;
	int n;

	if ((dir = secure_getenv("MFAD_MODULE_DIR")) == NULL || *dir == '\0')
		dir = MFAD_MODULE_DIR;
	n = snprintf(path, len, "%s/%s", dir, MFAD_SDIR_MODULE);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int
mfad_sdir_load(char *err, size_t errlen)
{
	const struct mfad_sdir_ops *ops;
	char path[4096];
	const char *why;
	void *h;
	int r = 0;

	pthread_mutex_lock(&mfad_sdir_lock);
	if (mfad_sdir_ops != NULL)
		goto out;
	if (mfad_sdir_path(path, sizeof(path)) != 0) {
		mfad_str_err(err, errlen, "directory: the path of the module "
		    "is too long");
		r = MSS_ERR_INVAL;
		goto out;
	}
	/* RTLD_NOW: a module that needs a symbol this mfad lacks is refused
	 * here, not at its first call. */
	if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		why = dlerror();
		mfad_str_err(err, errlen, "directory: fleet mode needs its "
		    "module, which does not load: %s", why != NULL ? why :
		    path);
		r = MSS_ERR_SYSTEM;
		goto out;
	}
	ops = dlsym(h, MFAD_SDIR_SYMBOL);
	if (ops == NULL || ops->abi != MFAD_SDIR_ABI ||
	    ops->size != sizeof(*ops)) {
		mfad_str_err(err, errlen, "directory: %s is not the module of "
		    "this mfad (%s): install the same version of both", path,
		    PACKAGE_VERSION);
		dlclose(h);
		r = MSS_ERR_SYSTEM;
		goto out;
	}
	mfad_sdir_ops = ops;
out:
	pthread_mutex_unlock(&mfad_sdir_lock);
	return r;
}

int
mfad_sdir_ready(const struct mfad_conf *conf, char *err, size_t errlen)
{
	return conf->dir_nuris > 0 ? mfad_sdir_load(err, errlen) : 0;
}

int
mfad_sdir_open(const struct mfad_conf *conf, struct mfad_sdir **out)
{
	char err[1024];
	int r;

	if ((r = mfad_sdir_load(err, sizeof(err))) != 0) {
		mfad_log(LOG_ERR, "%s", err);
		return r;
	}
	return mfad_sdir_ops->open_dir(conf, out);
}

/* The others run on a handle mfad_sdir_open made, so after the load. */
void
mfad_sdir_close(struct mfad_sdir *sd)
{
	if (sd != NULL)
		mfad_sdir_ops->close_dir(sd);
}

int
mfad_sdir_check(struct mfad_sdir *sd)
{
	return mfad_sdir_ops->check_dir(sd);
}

int
mfad_sdir_acct_get(struct mfad_sdir *sd, const char *user, struct mfad_acct *a)
{
	return mfad_sdir_ops->acct_get(sd, user, a);
}

int
mfad_sdir_acct_put(struct mfad_sdir *sd, const struct mfad_acct *a,
    const char *old_email)
{
	return mfad_sdir_ops->acct_put(sd, a, old_email);
}

int
mfad_sdir_acct_del(struct mfad_sdir *sd, const struct mfad_acct *a)
{
	return mfad_sdir_ops->acct_del(sd, a);
}

int
mfad_sdir_acct_by_email(struct mfad_sdir *sd, const char *email, char *user,
    size_t userlen)
{
	return mfad_sdir_ops->acct_by_email(sd, email, user, userlen);
}

int
mfad_sdir_acct_list(struct mfad_sdir *sd, const char *after, size_t max,
    int (*fn)(const struct mfad_acct *, void *), void *arg, int *more)
{
	return mfad_sdir_ops->acct_list(sd, after, max, fn, arg, more);
}

int
mfad_sdir_acct_count(struct mfad_sdir *sd, uint64_t *n)
{
	return mfad_sdir_ops->acct_count(sd, n);
}

int
mfad_sdir_acct_get_many(struct mfad_sdir *sd, const char *const *users,
    size_t n, struct mfad_acct *const *a, int *rc)
{
	return mfad_sdir_ops->acct_get_many(sd, users, n, a, rc);
}

int
mfad_sdir_acct_by_email_many(struct mfad_sdir *sd, const char *const *emails,
    size_t n, char (*owner)[MFAD_USER_MAX + 1], int *rc)
{
	return mfad_sdir_ops->acct_by_email_many(sd, emails, n, owner, rc);
}

int
mfad_sdir_acct_put_many(struct mfad_sdir *sd, const struct mfad_acct *const *a,
    const struct mfad_acct *const *before, size_t n, int *rc)
{
	return mfad_sdir_ops->acct_put_many(sd, a, before, n, rc);
}

int
mfad_sdir_acct_fail_add(struct mfad_sdir *sd, const char *user, uint64_t now,
    uint64_t locked_until, struct mfad_acct *a)
{
	return mfad_sdir_ops->acct_fail_add(sd, user, now, locked_until, a);
}

int
mfad_sdir_acct_failures_clear(struct mfad_sdir *sd, const char *user,
    struct mfad_acct *a)
{
	return mfad_sdir_ops->acct_failures_clear(sd, user, a);
}

int
mfad_sdir_acct_login_clear(struct mfad_sdir *sd, const char *user,
    uint64_t now, struct mfad_acct *a)
{
	return mfad_sdir_ops->acct_login_clear(sd, user, now, a);
}

int
mfad_sdir_acct_send_add(struct mfad_sdir *sd, const char *user, uint64_t now,
    struct mfad_acct *a)
{
	return mfad_sdir_ops->acct_send_add(sd, user, now, a);
}

int
mfad_sdir_acct_sends_clear(struct mfad_sdir *sd, const char *user,
    struct mfad_acct *a)
{
	return mfad_sdir_ops->acct_sends_clear(sd, user, a);
}

int
mfad_sdir_acct_recovery_take(struct mfad_sdir *sd, const char *user,
    const uint8_t h[MFAD_KEY_LEN], struct mfad_acct *a)
{
	return mfad_sdir_ops->acct_recovery_take(sd, user, h, a);
}

int
mfad_sdir_acct_notice_set(struct mfad_sdir *sd, const char *user, int which,
    uint64_t t, struct mfad_acct *a)
{
	return mfad_sdir_ops->acct_notice_set(sd, user, which, t, a);
}

int
mfad_sdir_device_get(struct mfad_sdir *sd, const char *user,
    const uint8_t key[MFAD_KEY_LEN], struct mfad_device *d)
{
	return mfad_sdir_ops->device_get(sd, user, key, d);
}

int
mfad_sdir_device_put(struct mfad_sdir *sd, const uint8_t key[MFAD_KEY_LEN],
    const struct mfad_device *d)
{
	return mfad_sdir_ops->device_put(sd, key, d);
}

int
mfad_sdir_device_del(struct mfad_sdir *sd, const char *user,
    const uint8_t key[MFAD_KEY_LEN])
{
	return mfad_sdir_ops->device_del(sd, user, key);
}

int
mfad_sdir_device_list_after(struct mfad_sdir *sd, const char *user,
    const uint8_t *after,
    int (*fn)(const uint8_t *, const struct mfad_device *, void *), void *arg)
{
	return mfad_sdir_ops->device_list_after(sd, user, after, fn, arg);
}

int
mfad_sdir_device_revoke_all(struct mfad_sdir *sd, const char *user,
    unsigned *n)
{
	return mfad_sdir_ops->device_revoke_all(sd, user, n);
}

int
mfad_sdir_device_sweep(struct mfad_sdir *sd, uint64_t now, unsigned budget,
    unsigned *n, int *more)
{
	return mfad_sdir_ops->device_sweep(sd, now, budget, n, more);
}

void
mfad_sdir_uris(struct mfad_sdir *sd, char *last, size_t lastlen, char *all,
    size_t alllen)
{
	mfad_sdir_ops->uris(sd, last, lastlen, all, alllen);
}

int
mfad_sdir_throttle_get(struct mfad_sdir *sd, const uint8_t key[MFAD_KEY_LEN],
    struct mfad_throttle_rec *t)
{
	return mfad_sdir_ops->throttle_get(sd, key, t);
}

int
mfad_sdir_throttle_send_add(struct mfad_sdir *sd,
    const uint8_t key[MFAD_KEY_LEN], uint64_t now, struct mfad_throttle_rec *t)
{
	return mfad_sdir_ops->throttle_send_add(sd, key, now, t);
}

int
mfad_sdir_throttle_sweep(struct mfad_sdir *sd, uint64_t now, unsigned *n)
{
	return mfad_sdir_ops->throttle_sweep(sd, now, n);
}
