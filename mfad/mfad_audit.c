#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "mfad_audit.h"
#include "mfad_log.h"
#include "mss_err.h"
#include "mss_esc.h"
#include "mfad_str.h"
#include "mfad_clock.h"

void
mfad_audit_escape(const char *s, char *out, size_t outlen)
{
	mss_esc_field(s, out, outlen, 0);
}

/*
 * How many of each event since mfad started, for `mfadctl metrics`:
 * shared by every request (each runs on a copy of the context), so in
 * static storage, counted atomically. A refusal that mfad_audit_agg
 * only counts is counted here too.
 */
static const char *const mfad_counted[] = {
	"login_ok", "login_denied", "code_sent", "code_resent", "code_ok",
	"code_wrong", "code_expired", "code_replay", "code_refused",
	"code_moved", "code_taken_over", "account_locked", "account_refused",
	"throttled", "peer_denied", "password_refused", "mail_sent",
	"mail_failed", "mail_expired", "recovery_used",
};
#define MFAD_NCOUNTED	(sizeof(mfad_counted) / sizeof(mfad_counted[0]))
static uint64_t mfad_counts[MFAD_NCOUNTED];

static void
mfad_audit_count(const char *event)
{
	size_t i;

	for (i = 0; event != NULL && i < MFAD_NCOUNTED; i++)
		if (strcmp(event, mfad_counted[i]) == 0) {
			__atomic_add_fetch(&mfad_counts[i], 1,
			    __ATOMIC_RELAXED);
			return;
		}
}

const char *
mfad_audit_counter(size_t i, uint64_t *n)
{
	if (i >= MFAD_NCOUNTED)
		return NULL;
	*n = __atomic_load_n(&mfad_counts[i], __ATOMIC_RELAXED);
	return mfad_counted[i];
}

static void
mfad_audit_line(const struct mfad_audit_ev *ev)
{
	char user[260], service[260], rhost[1030], detail[1030];

	mfad_audit_escape(ev->user, user, sizeof(user));
	mfad_audit_escape(ev->service, service, sizeof(service));
	mfad_audit_escape(ev->rhost, rhost, sizeof(rhost));
	mss_esc_field(ev->detail, detail, sizeof(detail), 1);
	mfad_log_auth(strcmp(ev->result, "failure") == 0 ? LOG_NOTICE :
	    LOG_INFO, "event=%s user=%s service=%s rhost=%s result=%s%s%s%s",
	    ev->event, user[0] ? user : "-", service[0] ? service : "-",
	    rhost[0] ? rhost : "-", ev->result, detail[0] ? " detail=\"" : "",
	    detail, detail[0] ? "\"" : "");
}

void
mfad_audit_log(const struct mfad_audit_ev *ev)
{
	mfad_audit_count(ev->event);
	mfad_audit_line(ev);
}

/* Logs and stores ev; counted: whether it is a new event, or a summary
 * of events counted as they came. Without txn, in rq's transaction,
 * begun and ended here, or (no rq) in a top-level one of its own. */
static int MSS_WUR
mfad_audit_rec(struct mfad_ctx *ctx, struct mfad_txn *txn,
    struct mfad_rq *rq, const struct mfad_audit_ev *ev, int counted)
{
	struct mfad_audit_rec rec;
	struct mfad_txn *own = NULL;
	int r;

	if (!counted)
		mfad_audit_count(ev->event);
	mfad_audit_line(ev);

	memset(&rec, 0, sizeof(rec));
	rec.time_us = mfad_clock_real_us();
	mfad_str_copy(rec.event, sizeof(rec.event), ev->event);
	mfad_str_copy(rec.user, sizeof(rec.user), ev->user);
	mfad_str_copy(rec.service, sizeof(rec.service), ev->service);
	mfad_str_copy(rec.rhost, sizeof(rec.rhost), ev->rhost);
	mfad_str_copy(rec.result, sizeof(rec.result), ev->result);
	mfad_str_copy(rec.detail, sizeof(rec.detail), ev->detail);
	if (txn == NULL && rq != NULL) {
		if ((r = mfad_rq_begin(rq, 0)) != 0)
			return r;
		if ((r = mfad_audit_put(rq->txn, ctx->store, &rec)) != 0) {
			mfad_rq_abort(rq);
			return r;
		}
		return mfad_rq_end(rq, 1);
	}
	if (txn == NULL) {
		if ((r = mfad_txn_begin(ctx->store, 0, &own)) != 0)
			return r;
		txn = own;
	}
	r = mfad_audit_put(txn, ctx->store, &rec);
	if (own != NULL) {
		if (r == 0)
			r = mfad_txn_commit(&own);
		else
			mfad_txn_abort(&own);
	}
	return r;
}

int
mfad_audit(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_audit_ev *ev)
{
	return mfad_audit_rec(ctx, txn, NULL, ev, 0);
}

int
mfad_audit_rq(struct mfad_rq *rq, const struct mfad_audit_ev *ev)
{
	return mfad_audit_rec(rq->ctx, NULL, rq, ev, 0);
}

/*
 * Refusals a flood can repeat (a caller denied, a request throttled, a
 * locked account asked about) are kept as one record a minute for each
 * key (event, caller's uid, and the user where one is given); the next
 * record says how many were left out in between, so that an attack
 * costs the store and the log a record a minute, not one a request
 * (SECURITY 35). A fixed table: a key that takes another's slot first
 * writes what that one still counted.
 */
#define MFAD_AGG_SLOTS	512
#define MFAD_AGG_SECS	60

struct mfad_agg {
	uint64_t	key;		/* 0: free */
	long long	until_ms;	/* monotonic end of the window */
	unsigned long	skipped;	/* left out since the last one */
	char		event[32], user[MFAD_USER_MAX + 1], service[64];
	char		rhost[256], result[16], detail[160];
};

static pthread_mutex_t mfad_agg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mfad_agg mfad_agg[MFAD_AGG_SLOTS];

static uint64_t
mfad_agg_key(const char *event, uint32_t uid, const char *who)
{
	crypto_generichash_state h;
	uint64_t k;

	crypto_generichash_init(&h, NULL, 0, sizeof(k));
	crypto_generichash_update(&h, (const uint8_t *)event,
	    strlen(event) + 1);
	crypto_generichash_update(&h, (const uint8_t *)&uid, sizeof(uid));
	if (who != NULL)
		crypto_generichash_update(&h, (const uint8_t *)who,
		    strlen(who) + 1);
	crypto_generichash_final(&h, (uint8_t *)&k, sizeof(k));
	return k == 0 ? 1 : k;
}

static void
mfad_agg_fill(struct mfad_agg *g, const struct mfad_audit_ev *ev)
{
	mfad_str_copy(g->event, sizeof(g->event), ev->event);
	mfad_str_copy(g->user, sizeof(g->user), ev->user);
	mfad_str_copy(g->service, sizeof(g->service), ev->service);
	mfad_str_copy(g->rhost, sizeof(g->rhost), ev->rhost);
	mfad_str_copy(g->result, sizeof(g->result), ev->result);
	mfad_str_copy(g->detail, sizeof(g->detail), ev->detail);
}

/* Writes the summary of g: the last of its events left out, standing
 * for all of them. */
static int MSS_WUR
mfad_agg_write(struct mfad_ctx *ctx, struct mfad_txn *txn, struct mfad_rq *rq,
    const struct mfad_agg *g)
{
	char detail[256];
	struct mfad_audit_ev ev = { g->event, g->user, g->service, g->rhost,
	    g->result, detail };

	snprintf(detail, sizeof(detail), "%s%s(%lu times since the last "
	    "record, not recorded one by one)", g->detail,
	    g->detail[0] ? " " : "", g->skipped);
	return mfad_audit_rec(ctx, txn, rq, &ev, 1);
}

static int MSS_WUR
mfad_audit_agg_in(struct mfad_ctx *ctx, struct mfad_txn *txn,
    struct mfad_rq *rq, const struct mfad_audit_ev *ev, uint32_t uid,
    const char *who)
{
	struct mfad_agg *g, old;
	uint64_t key = mfad_agg_key(ev->event, uid, who);
	long long now = mfad_clock_mono_ms();
	unsigned long skipped = 0;
	int r, evict = 0;

	/* Decide under the lock, write without it: a write may wait for
	 * the store's writer, which may be waiting for this lock. */
	pthread_mutex_lock(&mfad_agg_lock);
	g = &mfad_agg[key % MFAD_AGG_SLOTS];
	if (g->key == key && now < g->until_ms) {
		mfad_audit_count(ev->event);
		g->skipped++;
		mfad_agg_fill(g, ev);
		pthread_mutex_unlock(&mfad_agg_lock);
		return 0;
	}
	if (g->key == key)
		skipped = g->skipped;
	else if (g->key != 0 && g->skipped > 0) {
		old = *g;
		evict = 1;
	}
	g->key = key;
	g->until_ms = now + MFAD_AGG_SECS * 1000;
	g->skipped = 0;
	mfad_agg_fill(g, ev);
	pthread_mutex_unlock(&mfad_agg_lock);

	if (evict && (r = mfad_agg_write(ctx, txn, rq, &old)) != 0)
		return r;
	if (skipped > 0) {
		char detail[256];
		struct mfad_audit_ev e = *ev;

		snprintf(detail, sizeof(detail), "%.160s%s(and %lu more "
		    "like it, not recorded, since the last record)",
		    ev->detail != NULL ? ev->detail : "",
		    ev->detail != NULL && ev->detail[0] ? " " : "", skipped);
		e.detail = detail;
		return mfad_audit_rec(ctx, txn, rq, &e, 0);
	}
	return mfad_audit_rec(ctx, txn, rq, ev, 0);
}

int
mfad_audit_agg(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_audit_ev *ev, uint32_t uid, const char *who)
{
	return mfad_audit_agg_in(ctx, txn, NULL, ev, uid, who);
}

int
mfad_audit_agg_rq(struct mfad_rq *rq, const struct mfad_audit_ev *ev,
    const char *who)
{
	return mfad_audit_agg_in(rq->ctx, NULL, rq, ev, rq->peer->uid, who);
}

int
mfad_audit_agg_flush(struct mfad_ctx *ctx, int all)
{
	struct mfad_agg g;
	long long now = mfad_clock_mono_ms();
	size_t i;
	int r, first = 0;

	for (i = 0; i < MFAD_AGG_SLOTS; i++) {
		pthread_mutex_lock(&mfad_agg_lock);
		if (mfad_agg[i].key == 0 || mfad_agg[i].skipped == 0 ||
		    (!all && now < mfad_agg[i].until_ms)) {
			pthread_mutex_unlock(&mfad_agg_lock);
			continue;
		}
		g = mfad_agg[i];
		mfad_agg[i].skipped = 0;
		pthread_mutex_unlock(&mfad_agg_lock);
		if ((r = mfad_agg_write(ctx, NULL, NULL, &g)) != 0) {
			mfad_log(LOG_ERR, "audit: a summary of %lu refusals "
			    "could not be stored", g.skipped);
			if (first == 0)
				first = r;
		}
	}
	return first;
}
