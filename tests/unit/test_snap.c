/*
 * Unit tests for mfad/mfad_snap.c: configuration snapshots (SECURITY.md
 * rule 38). A holder keeps its snapshot, unchanged, across any number of
 * reloads; a publish never waits for a holder; the last holder frees it
 * (the ASan build of this test reports any snapshot left behind).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "mfad_snap.h"

#define SNAP_READERS	4
#define SNAP_ROUNDS	2000

/* A snapshot that says which one it is in two places. */
static struct mfad_conf *
snap_new(unsigned n)
{
	struct mfad_conf *c = mfad_conf_new();
	char buf[32];

	assert_non_null(c);
	snprintf(buf, sizeof(buf), "snap-%u", n);
	assert_non_null(c->path = strdup(buf));
	c->audit_days = n;
	return c;
}

static void
snap_check(const struct mfad_conf *c)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "snap-%u", c->audit_days);
	assert_string_equal(c->path, buf);
}

static void
test_holder_keeps_its_snapshot(void **state)
{
	struct mfad_ctx ctx, view;
	struct mfad_conf *held;
	uint64_t gen;

	(void)state;
	memset(&ctx, 0, sizeof(ctx));
	mfad_snap_publish(&ctx, snap_new(1));
	assert_int_equal(ctx.conf->refs, 1);
	gen = ctx.conf->gen;

	held = mfad_snap_hold(&ctx);
	mfad_snap_view(&ctx, &view);
	assert_ptr_equal(held, ctx.conf);
	assert_ptr_equal(view.conf, ctx.conf);
	assert_int_equal(ctx.conf->refs, 3);

	/* A reload while both hold it: they keep theirs, later ones get
	 * the new one, with a new number. */
	mfad_snap_publish(&ctx, snap_new(2));
	assert_ptr_not_equal(ctx.conf, held);
	assert_int_equal(ctx.conf->audit_days, 2);
	assert_true(ctx.conf->gen > gen);
	assert_int_equal(held->refs, 2);
	snap_check(held);
	assert_int_equal(held->audit_days, 1);

	mfad_snap_view_end(&view);
	assert_null(view.conf);
	assert_int_equal(held->refs, 1);
	snap_check(held);
	mfad_snap_release(held);	/* the last holder: freed */
	mfad_snap_release(NULL);

	assert_int_equal(ctx.conf->refs, 1);
	mfad_conf_free(ctx.conf);
}

struct snap_reader {
	struct mfad_ctx	*ctx;
	pthread_barrier_t *start;
	unsigned	 views;
	unsigned	 newest;
	int		 bad;
};

static void *
snap_reader(void *arg)
{
	struct snap_reader *r = arg;
	struct mfad_ctx view;
	struct mfad_conf *c;
	unsigned seen;

	pthread_barrier_wait(r->start);
	for (;;) {
		mfad_snap_view(r->ctx, &view);
		seen = view.conf->audit_days;
		/* Snapshots only go forward, and hold still while held. */
		if (seen < r->newest)
			r->bad = 1;
		r->newest = seen;
		c = mfad_snap_hold(r->ctx);
		sched_yield();
		if (view.conf->audit_days != seen || c->audit_days < seen ||
		    strncmp(view.conf->path, "snap-", 5) != 0)
			r->bad = 1;
		mfad_snap_release(c);
		mfad_snap_view_end(&view);
		r->views++;
		if (seen == SNAP_ROUNDS)
			break;
	}
	return NULL;
}

static void
test_reloads_while_requests_hold(void **state)
{
	struct snap_reader readers[SNAP_READERS];
	pthread_t threads[SNAP_READERS];
	pthread_barrier_t start;
	struct mfad_ctx ctx;
	unsigned i;

	(void)state;
	memset(&ctx, 0, sizeof(ctx));
	memset(readers, 0, sizeof(readers));
	mfad_snap_publish(&ctx, snap_new(0));
	assert_int_equal(pthread_barrier_init(&start, NULL, SNAP_READERS + 1),
	    0);
	for (i = 0; i < SNAP_READERS; i++) {
		readers[i].ctx = &ctx;
		readers[i].start = &start;
		assert_int_equal(pthread_create(&threads[i], NULL,
		    snap_reader, &readers[i]), 0);
	}
	pthread_barrier_wait(&start);
	for (i = 1; i <= SNAP_ROUNDS; i++)
		mfad_snap_publish(&ctx, snap_new(i));
	for (i = 0; i < SNAP_READERS; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_false(readers[i].bad);
		assert_int_equal(readers[i].newest, SNAP_ROUNDS);
		assert_true(readers[i].views > 0);
	}
	pthread_barrier_destroy(&start);
	/* Every holder gone: only ctx's own reference is left. */
	assert_int_equal(ctx.conf->refs, 1);
	snap_check(ctx.conf);
	mfad_conf_free(ctx.conf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_holder_keeps_its_snapshot),
		cmocka_unit_test(test_reloads_while_requests_hold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
