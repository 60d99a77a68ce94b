#include "config.h"

#include <pthread.h>

#include "mfad_snap.h"

static pthread_mutex_t mfad_snap_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t mfad_snap_gen;

void
mfad_snap_publish(struct mfad_ctx *ctx, struct mfad_conf *conf)
{
	struct mfad_conf *old;

	pthread_mutex_lock(&mfad_snap_lock);
	conf->refs = 1;		/* ctx's own */
	conf->gen = ++mfad_snap_gen;
	old = ctx->conf;
	ctx->conf = conf;
	pthread_mutex_unlock(&mfad_snap_lock);
	mfad_snap_release(old);
}

struct mfad_conf *
mfad_snap_hold(struct mfad_ctx *ctx)
{
	struct mfad_conf *conf;

	pthread_mutex_lock(&mfad_snap_lock);
	conf = ctx->conf;
	conf->refs++;
	pthread_mutex_unlock(&mfad_snap_lock);
	return conf;
}

void
mfad_snap_release(struct mfad_conf *conf)
{
	unsigned left;

	if (conf == NULL)
		return;
	pthread_mutex_lock(&mfad_snap_lock);
	left = --conf->refs;
	pthread_mutex_unlock(&mfad_snap_lock);
	if (left == 0)
		mfad_conf_free(conf);
}

void
mfad_snap_view(struct mfad_ctx *ctx, struct mfad_ctx *view)
{
	/* Under the lock: ctx->conf is what a reload swaps. */
	pthread_mutex_lock(&mfad_snap_lock);
	*view = *ctx;
	view->conf->refs++;
	pthread_mutex_unlock(&mfad_snap_lock);
}

void
mfad_snap_view_end(struct mfad_ctx *view)
{
	mfad_snap_release(view->conf);
	view->conf = NULL;
}
