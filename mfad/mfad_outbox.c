#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "mfad_audit.h"
#include "mfad_keys.h"
#include "mfad_log.h"
#include "mfad_outbox.h"
#include "mfad_render.h"
#include "mfad_smtp.h"
#include "mfad_snap.h"
#include "mss_err.h"
#include "mss_mask.h"
#include "mss_proto.h"

#define MFAD_OUTBOX_BATCH	32	/* messages of a session, at most */
/*
 * A session takes at least this many of the messages waiting (or all of
 * them): a steady stream of codes, a few every batch, then goes out in a
 * few sessions a second rather than one per message. Each session costs
 * a connection, a handshake and a durable record of its outcomes, which
 * compete with the group commit for the processors and the disk. Not
 * more: in a burst, each mail a session carries beyond its even share
 * costs the last one three round trips to the relay (bench_burst.py).
 */
#define MFAD_OUTBOX_SHARE_MIN	4
/*
 * libESMTP's connect() has no deadline (relay_probe() in mfad_smtp.c), so
 * a session first reaches the relay with one unless a session reached it
 * less than this many seconds ago: a relay that answers is not probed
 * for every session, one that failed is probed until it answers again.
 */
#define MFAD_RELAY_TRUST	60
#define MFAD_BACKOFF_MAX	60	/* seconds between two tries, at most */
/*
 * After the relay turned a session away, the sessions at once stay at
 * what it took for this long; then each session that ends well allows
 * one more, until one is turned away again or [mail] connections.
 */
#define MFAD_WINDOW_HOLD	60
/*
 * After a kick, the sender waits this long before it looks: the request
 * that queued the mail has its answer out first, so that the sending
 * never competes with it and a request that mails (a real reset) takes
 * as long as one that does not (a decoy).
 */
#define MFAD_OUTBOX_SETTLE_NS	50000000L
/* How long a stop waits for the sessions in progress. */
#define MFAD_OUTBOX_STOP_GRACE	10

struct mfad_outbox {
	struct mfad_ctx	*ctx;
	pthread_t	*threads;	/* the senders, [mail] connections */
	unsigned	 nthreads;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	int		 stop;
	unsigned	 kicks;		/* mail was queued */
	int		 queued;	/* a message put since the last batch */
	unsigned	 work;		/* a sender left work for others */
	unsigned	 busy;		/* senders in a session */
	unsigned	 settling;	/* senders about to look */
	int		 trim;		/* sessions ended since the last trim */
	uint64_t	*claimed;	/* ids those sessions are sending */
	size_t		 nclaimed;
	uint64_t	 relay_good;	/* last session that reached the relay */
	/*
	 * Sessions at once that the relay takes, learnt when it turned one
	 * away (0: as many as [mail] connections), and when it last did.
	 */
	unsigned	 window;
	uint64_t	 turned_away;
	char		 last_error[256];
	/*
	 * Global ceiling: when the mails of the last minute were queued,
	 * oldest first, in a ring of ring_len (the ceiling) entries. A
	 * sliding minute: never more than the ceiling in any 60 seconds,
	 * whatever the clock's minute.
	 */
	uint64_t	*ring;
	unsigned	 ring_len;
	unsigned	 ring_head;
	unsigned	 ring_n;
};

/*
 * One sender wakes: it takes its share and, when more is due than that,
 * wakes the others (mfad_outbox_main). Waking every sender for each
 * message would have them all scan the outbox for one. While a sender
 * is settling, about to look, a kick wakes no other: that look comes
 * after the kick's message was committed, and takes it.
 */
void
mfad_outbox_kick(struct mfad_outbox *ob)
{
	int wake;

	if (ob == NULL)
		return;
	pthread_mutex_lock(&ob->lock);
	ob->kicks++;
	wake = ob->settling == 0;
	pthread_mutex_unlock(&ob->lock);
	if (wake)
		pthread_cond_signal(&ob->cond);
}

/*
 * The committing thread's kick, after each batch: only when a message
 * was put since the last one (most batches are logins and wrong codes
 * that queue none). A message put by a transaction that did not commit
 * costs one kick for nothing, never a missed one.
 */
void
mfad_outbox_kick_queued(struct mfad_outbox *ob)
{
	int queued;

	if (ob == NULL)
		return;
	pthread_mutex_lock(&ob->lock);
	queued = ob->queued;
	ob->queued = 0;
	pthread_mutex_unlock(&ob->lock);
	if (queued)
		mfad_outbox_kick(ob);
}

void
mfad_outbox_status(struct mfad_outbox *ob, char *last_error, size_t errlen)
{
	if (ob == NULL) {
		snprintf(last_error, errlen, "%s", "");
		return;
	}
	pthread_mutex_lock(&ob->lock);
	snprintf(last_error, errlen, "%s", ob->last_error);
	pthread_mutex_unlock(&ob->lock);
}

/* Takes one unit of the global per-minute budget, or says no. */
static int MSS_WUR
mfad_outbox_ceiling(struct mfad_outbox *ob, unsigned max)
{
	uint64_t now = mfad_clock_real_s(), *ring;
	int r = 0;

	if (ob == NULL || max == 0)
		return 0;
	pthread_mutex_lock(&ob->lock);
	if (ob->ring_len != max) {
		/* First use, or the ceiling changed: start afresh. */
		if ((ring = calloc(max, sizeof(*ring))) == NULL) {
			pthread_mutex_unlock(&ob->lock);
			return MSS_ERR_NOMEM;
		}
		free(ob->ring);
		ob->ring = ring;
		ob->ring_len = max;
		ob->ring_head = 0;
		ob->ring_n = 0;
	}
	while (ob->ring_n > 0 && ob->ring[ob->ring_head] + 60 <= now) {
		ob->ring_head = (ob->ring_head + 1) % ob->ring_len;
		ob->ring_n--;
	}
	if (ob->ring_n >= ob->ring_len)
		r = MSS_ERR_THROTTLED;
	else {
		ob->ring[(ob->ring_head + ob->ring_n) % ob->ring_len] = now;
		ob->ring_n++;
	}
	pthread_mutex_unlock(&ob->lock);
	return r;
}

/*
 * Whether the global ceiling would refuse a mail now, without taking a
 * unit; *wait gets the seconds until a unit frees (0 when one is free).
 * Lets a handler give the same answer whether or not it would have
 * mailed (a wrong password, a reset for an unknown address).
 */
int
mfad_outbox_ceiling_full(struct mfad_outbox *ob, unsigned max,
    uint32_t *wait)
{
	uint64_t now = mfad_clock_real_s(), oldest;
	int full = 0;

	*wait = 0;
	if (ob == NULL || max == 0)
		return 0;
	pthread_mutex_lock(&ob->lock);
	if (ob->ring_len == max) {
		while (ob->ring_n > 0 &&
		    ob->ring[ob->ring_head] + 60 <= now) {
			ob->ring_head = (ob->ring_head + 1) % ob->ring_len;
			ob->ring_n--;
		}
		if (ob->ring_n >= ob->ring_len) {
			full = 1;
			oldest = ob->ring[ob->ring_head];
			*wait = (uint32_t)(oldest + 60 > now ?
			    oldest + 60 - now : 1);
		}
	}
	pthread_mutex_unlock(&ob->lock);
	return full;
}

/* Gives back the unit taken for a mail that was not queued after all. */
static void
mfad_outbox_refund(struct mfad_outbox *ob)
{
	if (ob == NULL)
		return;
	pthread_mutex_lock(&ob->lock);
	if (ob->ring_n > 0)
		ob->ring_n--;
	pthread_mutex_unlock(&ob->lock);
}

int
mfad_outbox_queue(struct mfad_ctx *ctx, struct mfad_txn *txn,
    enum mfad_mail_kind kind,
    const char *user, const char *to, const char *lang,
    const struct mfad_mail_vars *vars, uint64_t expires, const uint8_t *login)
{
	struct mfad_outmsg m;
	char *msg = NULL, err[512];
	size_t len = 0;
	uint64_t id;
	int r;

	/* An invitation is an admin's action, never dropped by the
	 * ceiling (which stops floods caused by logins): it waits its turn
	 * in the outbox instead. */
	if (kind != MFAD_MAIL_INVITE && (r = mfad_outbox_ceiling(ctx->outbox,
	    ctx->conf->mail_max_per_minute)) != 0) {
		mfad_log(LOG_WARNING, "mail ceiling of %u a minute reached; "
		    "not queueing for %s", ctx->conf->mail_max_per_minute,
		    user);
		return r;
	}
	err[0] = '\0';
	if ((r = mfad_render_message(ctx->conf, kind, lang, to, vars, &msg,
	    &len, err, sizeof(err))) != 0) {
		mfad_log(LOG_ERR, "cannot build mail %s for %s: %s",
		    mfad_mail_kind_name(kind), user, err);
		if (kind != MFAD_MAIL_INVITE)
			mfad_outbox_refund(ctx->outbox);
		return r;
	}
	memset(&m, 0, sizeof(m));
	m.created = mfad_clock_real_s();
	m.expires = expires;
	m.next_try = 0;
	m.kind = (uint8_t)kind;
	snprintf(m.user, sizeof(m.user), "%s", user);
	snprintf(m.to, sizeof(m.to), "%s", to);
	if (login != NULL) {
		m.has_login = 1;
		memcpy(m.login, login, MFAD_KEY_LEN);
	}
	/* The queued message holds the code: sealed, never stored plain. */
	r = mfad_seal(ctx->keys, msg, len, &m.sealed, &m.sealed_len);
	sodium_memzero(msg, len);
	free(msg);
	if (r == 0)
		r = mfad_outbox_put(txn, ctx->store, &m, &id);
	if (r == 0 && ctx->outbox != NULL) {
		pthread_mutex_lock(&ctx->outbox->lock);
		ctx->outbox->queued = 1;
		pthread_mutex_unlock(&ctx->outbox->lock);
	}
	if (r != 0 && kind != MFAD_MAIL_INVITE)
		mfad_outbox_refund(ctx->outbox);
	mfad_outmsg_clear(&m);
	return r;
}

/* The code of l was taken over: the account's newest login, when it
 * holds that same code, shows the state of its mail too. */
static int MSS_WUR
mfad_outbox_moved_state(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_login *l, uint8_t state)
{
	struct mfad_acct a;
	struct mfad_login n;
	uint8_t key[MFAD_KEY_LEN];
	int r;

	if ((r = mfad_acct_get(txn, ctx->store, l->user, &a)) != 0)
		return r == MSS_ERR_NOTFOUND ? 0 : r;
	memcpy(key, a.cur_login, sizeof(key));
	r = a.has_cur_login;
	mfad_acct_wipe(&a);
	if (!r)
		return 0;
	if ((r = mfad_login_get(txn, ctx->store, key, &n)) != 0)
		return r == MSS_ERR_NOTFOUND ? 0 : r;
	if (sodium_memcmp(n.code_nonce, l->code_nonce,
	    sizeof(n.code_nonce)) != 0)
		return 0;
	n.mail = state;
	return mfad_login_put(txn, ctx->store, key, &n);
}

/* Records a login's mail state, if the login is still there. */
static int MSS_WUR
mfad_outbox_login_state(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_outmsg *m, uint8_t state)
{
	struct mfad_login l;
	int r;

	if (!m->has_login)
		return 0;
	r = mfad_login_get(txn, ctx->store, m->login, &l);
	if (r == MSS_ERR_NOTFOUND)
		return 0;
	if (r != 0)
		return r;
	l.mail = state;
	if ((r = mfad_login_put(txn, ctx->store, m->login, &l)) != 0)
		return r;
	if (l.state == MFAD_LOGIN_MOVED)
		return mfad_outbox_moved_state(ctx, txn, &l, state);
	return 0;
}

/* The PAM service of the login m belongs to, "" when none or unreadable:
 * a name in the audit record is no reason to send a mail again. */
static void
mfad_outbox_service(struct mfad_ctx *ctx, struct mfad_txn *txn,
    const struct mfad_outmsg *m, char *out, size_t outlen)
{
	struct mfad_login l;

	out[0] = '\0';
	if (!m->has_login)
		return;
	if (mfad_login_get(txn, ctx->store, m->login, &l) == 0)
		snprintf(out, outlen, "%s", l.service);
	sodium_memzero(&l, sizeof(l));
}

/* One message of a session, from the store to its outcome. */
struct ob_item {
	uint64_t		 id;
	struct mfad_outmsg	 m;
	int			 loaded;
	char			*msg;		/* unsealed, wiped after */
	size_t			 len;
	const char		*event;		/* NULL: try again later */
	int			 sent;
	char			 err[512];
};

/* Whether the relay is known to answer: a session reached it lately. */
static int
mfad_outbox_relay_known(struct mfad_outbox *ob, uint64_t now)
{
	int known;

	pthread_mutex_lock(&ob->lock);
	known = ob->relay_good != 0 && now >= ob->relay_good &&
	    now - ob->relay_good < MFAD_RELAY_TRUST;
	pthread_mutex_unlock(&ob->lock);
	return known;
}

/* Records one message's outcome in txn. */
static int MSS_WUR
mfad_outbox_record(struct mfad_outbox *ob, struct mfad_txn *txn,
    struct ob_item *it, uint64_t now)
{
	struct mfad_ctx *ctx = ob->ctx;
	struct mfad_outmsg *m = &it->m;
	char detail[1024], service[64], masked[MFAD_EMAIL_MAX + 1];
	struct mfad_audit_ev ev = { it->event, m->user, service, "",
	    it->sent ? "success" : "failure", detail };
	uint64_t backoff;
	uint8_t state;
	int r;

	if (it->event != NULL) {
		/* The service of the login the mail belongs to, and to
		 * whom, masked as in the prompts. */
		mfad_outbox_service(ctx, txn, m, service, sizeof(service));
		if (mss_mask_email(m->to, masked, sizeof(masked)) != 0)
			snprintf(masked, sizeof(masked), "?");
		/* A mail that needed more than one try says why in the
		 * audit trail too, not only in the log. */
		if (it->sent && m->tries > 0)
			snprintf(detail, sizeof(detail), "%s to=%.100s after %u "
			    "failed tr%s, the last: %s",
			    mfad_mail_kind_name(m->kind), masked, m->tries,
			    m->tries == 1 ? "y" : "ies", m->last_error);
		else
			snprintf(detail, sizeof(detail), "%s to=%.100s%s%.511s",
			    mfad_mail_kind_name(m->kind), masked,
			    it->sent ? "" : ": ", it->sent ? "" : it->err);
		state = it->sent ? MSS_MAIL_SENT : MSS_MAIL_FAILED;
		if ((r = mfad_outbox_del(txn, ctx->store, it->id)) != 0)
			return r == MSS_ERR_NOTFOUND ? 0 : r;
		if ((r = mfad_outbox_login_state(ctx, txn, m, state)) != 0 ||
		    (r = mfad_audit(ctx, txn, &ev)) != 0)
			return r;
		return 0;
	}
	/* Retry with backoff while the message is worth sending. */
	m->tries++;
	backoff = (uint64_t)1 << (m->tries < 6 ? m->tries : 6);
	if (backoff > MFAD_BACKOFF_MAX)
		backoff = MFAD_BACKOFF_MAX;
	m->next_try = now + backoff;
	snprintf(m->last_error, sizeof(m->last_error), "%.255s", it->err);
	mfad_log(LOG_WARNING, "mail %s for %s not sent (try %u, next in "
	    "%llus): %s", mfad_mail_kind_name(m->kind), m->user, m->tries,
	    (unsigned long long)backoff, it->err);
	if ((r = mfad_outbox_update(txn, ctx->store, it->id, m)) != 0)
		return r == MSS_ERR_NOTFOUND ? 0 : r;
	return mfad_outbox_login_state(ctx, txn, m, MSS_MAIL_RETRYING);
}

/*
 * An even share between the senders free now, so that a burst goes out
 * over parallel sessions; but not less than MFAD_OUTBOX_SHARE_MIN, nor
 * more than MFAD_OUTBOX_BATCH.
 */
size_t
mfad_outbox_share(size_t waiting, unsigned free_senders)
{
	size_t want;

	if (free_senders == 0)
		free_senders = 1;
	want = (waiting + free_senders - 1) / free_senders;
	if (want < MFAD_OUTBOX_SHARE_MIN)
		want = MFAD_OUTBOX_SHARE_MIN;
	if (want > waiting)
		want = waiting;
	return want > MFAD_OUTBOX_BATCH ? MFAD_OUTBOX_BATCH : want;
}

/* Whether id is being sent by a session now. */
static int
mfad_outbox_claimed(const struct mfad_outbox *ob, uint64_t id)
{
	size_t i;

	for (i = 0; i < ob->nclaimed; i++)
		if (ob->claimed[i] == id)
			return 1;
	return 0;
}

/* Drops ids from the claimed set (under the lock). */
static void
mfad_outbox_unclaim(struct mfad_outbox *ob, const uint64_t *ids, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < ob->nclaimed; j++)
			if (ob->claimed[j] == ids[i]) {
				ob->claimed[j] = ob->claimed[--ob->nclaimed];
				break;
			}
}

/*
 * Claims a share of the messages due and not being sent, at most max,
 * into mine; scan[0..nscan) is room for the look at the outbox, *next
 * gets the earliest retry of those not due (0 if none). A sender
 * between sessions (cont = 0) shares with the senders free and is busy
 * from then on. One whose session goes on (cont) shares with all the
 * sessions, which come back for more as their mail is sent: taking all
 * that waits would leave it to one connection, a mail at a time, while
 * the others end for want of mail. Returns how many; 0 when none is
 * free or no session may start.
 */
static size_t
mfad_outbox_claim(struct mfad_outbox *ob, uint64_t *scan, size_t nscan,
    uint64_t *mine, size_t max, int cont, uint64_t *next)
{
	struct mfad_ctx *ctx = ob->ctx;
	struct mfad_conf *conf;
	struct mfad_txn *txn;
	uint64_t depth, oldest, young;
	size_t n = 0, i, k = 0, want, free_n;
	unsigned limit;

	*next = 0;
	if (mfad_txn_begin(ctx->store, 1, &txn) == 0) {
		if (mfad_outbox_due(txn, ctx->store, mfad_clock_real_s(), scan,
		    nscan, &n, &depth, &oldest, next) != 0)
			n = 0;
		mfad_txn_abort(&txn);
	}
	conf = mfad_snap_hold(ctx);
	limit = conf->mail_connections;
	mfad_snap_release(conf);
	if (limit > ob->nthreads)
		limit = ob->nthreads;

	/*
	 * A session that goes on leaves the messages queued less than the
	 * settling time ago (ids are queueing times in us): the request
	 * that queued one may not have its answer out yet.
	 */
	young = cont ? mfad_clock_real_us() - MFAD_OUTBOX_SETTLE_NS / 1000 :
	    UINT64_MAX;
	pthread_mutex_lock(&ob->lock);
	if (ob->window != 0 && limit > ob->window)
		limit = ob->window;
	for (i = free_n = 0; i < n; i++)
		if (scan[i] <= young && !mfad_outbox_claimed(ob, scan[i]))
			scan[free_n++] = scan[i];
	if (!ob->stop && free_n > 0 && (cont || ob->busy < limit)) {
		want = mfad_outbox_share(free_n, cont ? limit :
		    limit - ob->busy);
		if (want > max)
			want = max;
		for (k = 0; k < want; k++) {
			mine[k] = scan[k];
			ob->claimed[ob->nclaimed++] = scan[k];
		}
		if (!cont)
			ob->busy++;
		if (free_n > k && ob->busy < limit) {
			/* More than this share: wake another. */
			ob->work++;
			pthread_cond_broadcast(&ob->cond);
		}
	}
	pthread_mutex_unlock(&ob->lock);
	return k;
}

/*
 * A session's batch in flight: the messages claimed, their records and
 * what the relay made of them.
 */
struct ob_batch {
	struct mfad_outbox	*ob;
	uint64_t		 ids[MFAD_OUTBOX_BATCH];
	struct ob_item		 items[MFAD_OUTBOX_BATCH];
	struct mfad_smtp_out	 out[MFAD_OUTBOX_BATCH];
	size_t			 n, nout;
	size_t			 total;		/* messages of the session */
	uint64_t		*scan;		/* mfad_outbox_claim's room */
	size_t			 nscan;
	int			 failed;	/* the store failed */
};

/* Reads and opens the messages b->ids[0..n): the ones to send go to
 * b->out, the expired and unopenable ones get their outcome. */
static void
mfad_outbox_load(struct ob_batch *b)
{
	struct mfad_ctx *ctx = b->ob->ctx;
	struct mfad_txn *txn = NULL;
	uint64_t now = mfad_clock_real_s();
	size_t i;

	memset(b->items, 0, sizeof(b->items));
	memset(b->out, 0, sizeof(b->out));
	b->nout = 0;
	if (mfad_txn_begin(ctx->store, 1, &txn) != 0)
		return;
	for (i = 0; i < b->n; i++) {
		b->items[i].id = b->ids[i];
		if (mfad_outbox_get(txn, ctx->store, b->ids[i],
		    &b->items[i].m) != 0)
			continue;
		/* Read again after the claim: another session may have
		 * settled it since the scan (sent: gone; failed: due
		 * later). */
		if (b->items[i].m.next_try > now) {
			mfad_outmsg_clear(&b->items[i].m);
			continue;
		}
		b->items[i].loaded = 1;
	}
	mfad_txn_abort(&txn);

	for (i = 0; i < b->n; i++) {
		struct ob_item *it = &b->items[i];

		if (!it->loaded)
			continue;
		if (it->m.expires <= now) {
			it->event = "mail_expired";
			snprintf(it->err, sizeof(it->err), "expired after %u "
			    "tries%s%s", it->m.tries,
			    it->m.last_error[0] ? ": " : "", it->m.last_error);
		} else if (mfad_unseal(ctx->keys, it->m.sealed,
		    it->m.sealed_len, &it->msg, &it->len) != 0) {
			it->event = "mail_failed";
			snprintf(it->err, sizeof(it->err), "queued message "
			    "cannot be opened");
		} else {
			b->out[b->nout].to = it->m.to;
			b->out[b->nout].msg = it->msg;
			b->out[b->nout].len = it->len;
			b->nout++;
		}
	}
}

/*
 * Lets b's messages go: wiped, no longer claimed. Without an outcome
 * recorded, they stay due as they were (an expired or unopenable one is
 * met again).
 */
static void
mfad_outbox_let_go(struct ob_batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		struct ob_item *it = &b->items[i];

		if (it->msg != NULL) {
			sodium_memzero(it->msg, it->len);
			free(it->msg);
		}
		if (it->loaded)
			mfad_outmsg_clear(&it->m);
	}
	sodium_memzero(b->out, sizeof(b->out));
	sodium_memzero(b->items, sizeof(b->items));
	pthread_mutex_lock(&b->ob->lock);
	mfad_outbox_unclaim(b->ob, b->ids, b->n);
	pthread_mutex_unlock(&b->ob->lock);
	b->n = 0;
}

/*
 * Records the outcome of each message of b in one transaction, then lets
 * the messages go (wiped; no longer claimed). A message leaves the
 * outbox only once the relay has accepted it (or refused it for good,
 * or it expired). Returns 0, or -1 when the outcomes could not be
 * recorded (the messages stay due; b->failed says so too).
 */
static int
mfad_outbox_settle(struct ob_batch *b)
{
	struct mfad_outbox *ob = b->ob;
	struct mfad_ctx *ctx = ob->ctx;
	struct mfad_txn *txn = NULL;
	uint64_t now = mfad_clock_real_s();
	size_t i, k;
	int ret = -1;

	for (i = k = 0; i < b->n; i++) {
		struct ob_item *it = &b->items[i];

		if (it->msg == NULL)
			continue;
		sodium_memzero(it->msg, it->len);
		free(it->msg);
		it->msg = NULL;
		it->sent = b->out[k].result == 0;
		if (it->sent)
			it->event = "mail_sent";
		else {
			snprintf(it->err, sizeof(it->err), "%s",
			    b->out[k].err);
			if (b->out[k].result == MSS_ERR_REFUSED)
				it->event = "mail_failed"; /* for good */
		}
		k++;
	}
	sodium_memzero(b->out, sizeof(b->out));

	pthread_mutex_lock(&ob->lock);
	/* The relay's answer to the batch's last message, cut to what
	 * status shows. */
	for (i = b->n; i-- > 0; )
		if (b->items[i].loaded) {
			snprintf(ob->last_error, sizeof(ob->last_error),
			    "%.255s", b->items[i].sent ? "" : b->items[i].err);
			break;
		}
	pthread_mutex_unlock(&ob->lock);

	/* Every outcome of the batch in one transaction. */
	if (mfad_txn_begin(ctx->store, 0, &txn) != 0)
		goto done;
	for (i = 0; i < b->n; i++)
		if (b->items[i].loaded &&
		    mfad_outbox_record(ob, txn, &b->items[i], now) != 0)
			goto done;
	if (mfad_txn_commit(&txn) != 0)
		goto done;
	ret = 0;
 done:
	if (ret != 0) {
		mfad_log(LOG_ERR, "outbox: cannot record a delivery result");
		b->failed = 1;
	}
	mfad_txn_abort(&txn);
	b->total += b->n;
	mfad_outbox_let_go(b);
	return ret;
}

/*
 * The relay turned a session away with a 4xx greeting (why: its answer).
 * When other sessions of ours are in progress, that is its limit of
 * sessions from one client (Postfix and Exim answer 421 past it): from
 * now on no more sessions at once than those, and the messages go back
 * to them without a try counted against them. Returns whether it was so;
 * when this session was the only one, the relay refuses any and the
 * messages fail their try as for any other fault.
 */
static int
mfad_outbox_turned_away(struct mfad_outbox *ob, const char *why)
{
	unsigned others;
	int lower = 0;

	pthread_mutex_lock(&ob->lock);
	others = ob->busy > 0 ? ob->busy - 1 : 0;
	if (others > 0) {
		lower = ob->window == 0 || ob->window > others;
		if (lower)
			ob->window = others;
		ob->turned_away = mfad_clock_real_s();
	}
	pthread_mutex_unlock(&ob->lock);
	if (lower)
		mfad_log(LOG_NOTICE, "outbox: the relay turned a session away "
		    "(%s); %u sessions at once for now", why, others);
	return others > 0;
}

/*
 * A session ended well: past MFAD_WINDOW_HOLD after the relay last
 * turned one away, allow one more session at once.
 */
static void
mfad_outbox_widen(struct mfad_outbox *ob)
{
	uint64_t now = mfad_clock_real_s();

	pthread_mutex_lock(&ob->lock);
	if (ob->window != 0 && now - ob->turned_away >= MFAD_WINDOW_HOLD &&
	    ++ob->window >= ob->nthreads)
		ob->window = 0;
	pthread_mutex_unlock(&ob->lock);
}

/*
 * The session's last message so far was answered: its batch is
 * recorded, and when more is due (and not already being sent), this
 * session takes its share of that too, up to MFAD_OUTBOX_BATCH messages
 * a session: a connection already through STARTTLS and AUTH sends a
 * message in three round trips, a new one in about twelve.
 */
static size_t
mfad_outbox_more(void *arg, struct mfad_smtp_out *done, size_t ndone,
    struct mfad_smtp_out **more)
{
	struct ob_batch *b = arg;
	uint64_t next;

	(void)done;
	(void)ndone;
	*more = NULL;
	if (mfad_outbox_settle(b) != 0 || b->total >= MFAD_OUTBOX_BATCH)
		return 0;
	b->n = mfad_outbox_claim(b->ob, b->scan, b->nscan, b->ids,
	    MFAD_OUTBOX_BATCH - b->total, 1, &next);
	if (b->n == 0)
		return 0;
	mfad_outbox_load(b);
	if (b->nout == 0) {
		/* Only expired or unopenable ones: recorded, and the
		 * session ends; the sender looks again at once. */
		(void)mfad_outbox_settle(b);
		return 0;
	}
	*more = b->out;
	return b->nout;
}

/*
 * Sends the messages ids[0..n), claimed by the caller, in one SMTP
 * session, with what falls due meanwhile (mfad_outbox_more), and records
 * each one's outcome. Returns 0, or -1 when an outcome could not be
 * recorded (those messages stay due).
 */
static int MSS_WUR
mfad_outbox_session(struct mfad_outbox *ob, const uint64_t *ids, size_t n,
    uint64_t *scan, size_t nscan)
{
	struct mfad_ctx *ctx = ob->ctx;
	struct mfad_conf *conf;
	struct ob_batch *b;
	uint64_t now = mfad_clock_real_s();
	int r, ret;

	if ((b = calloc(1, sizeof(*b))) == NULL) {
		pthread_mutex_lock(&ob->lock);
		mfad_outbox_unclaim(ob, ids, n);
		pthread_mutex_unlock(&ob->lock);
		return -1;
	}
	b->ob = ob;
	b->scan = scan;
	b->nscan = nscan;
	memcpy(b->ids, ids, n * sizeof(*ids));
	b->n = n;
	mfad_outbox_load(b);
	if (b->nout > 0) {
		/* The session keeps its snapshot: a reload meanwhile
		 * neither waits for the relay nor changes its settings. */
		conf = mfad_snap_hold(ctx);
		r = mfad_smtp_send_stream(conf, b->out, b->nout,
		    !mfad_outbox_relay_known(ob, now), mfad_outbox_more, b);
		mfad_snap_release(conf);
		pthread_mutex_lock(&ob->lock);
		/* The relay's health, judged by this session: the next
		 * ones skip the probe while it answers. */
		ob->relay_good = r == 0 || r == MSS_ERR_THROTTLED ?
		    mfad_clock_real_s() : 0;
		pthread_mutex_unlock(&ob->lock);
		if (r == MSS_ERR_THROTTLED &&
		    mfad_outbox_turned_away(ob, b->out[0].err))
			mfad_outbox_let_go(b);
		else if (r == 0)
			mfad_outbox_widen(ob);
	}
	if (b->n > 0)
		(void)mfad_outbox_settle(b);
	ret = b->failed ? -1 : 0;
	sodium_memzero(b, sizeof(*b));
	free(b);
	return ret;
}

/*
 * One of [mail] connections senders. Each wakes as soon as mail is
 * queued, takes its share of what is due and not already being sent
 * (all of it, up to MFAD_OUTBOX_BATCH, when it is the only one free;
 * never waiting for more to come), sends that in one SMTP session, which
 * takes more as its mails are sent (mfad_outbox_more), and looks again.
 */
static void *
mfad_outbox_main(void *arg)
{
	struct mfad_outbox *ob = arg;
	uint64_t *ids, mine[MFAD_OUTBOX_BATCH], next, now;
	struct timespec until;
	size_t k, scan;
	unsigned seen_kick, seen_work;
	int r, settle, failed;

	pthread_setname_np(pthread_self(), "mfad-mail");
	scan = ob->nthreads * MFAD_OUTBOX_BATCH + MFAD_OUTBOX_BATCH;
	if ((ids = calloc(scan, sizeof(*ids))) == NULL) {
		mfad_log(LOG_ERR, "outbox: out of memory; a sender stops");
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&ob->lock);
		seen_kick = ob->kicks;
		seen_work = ob->work;
		pthread_mutex_unlock(&ob->lock);

		failed = 0;
		k = mfad_outbox_claim(ob, ids, scan, mine, MFAD_OUTBOX_BATCH, 0,
		    &next);
		if (k > 0) {
			/* The session lets its messages go as it settles
			 * them. */
			r = mfad_outbox_session(ob, mine, k, ids, scan);
			pthread_mutex_lock(&ob->lock);
			ob->busy--;
			ob->trim = 1;
			pthread_mutex_unlock(&ob->lock);
			/* Look again at once (what came meanwhile), unless
			 * the store failed: a store that keeps failing must
			 * not make this spin. */
			if (r == 0)
				continue;
			failed = 1;
		}

		pthread_mutex_lock(&ob->lock);
		if (ob->stop) {
			pthread_mutex_unlock(&ob->lock);
			break;
		}
		if (ob->kicks == seen_kick && ob->work == seen_work &&
		    ob->busy == 0 && ob->trim) {
			/* The last session of a burst is over: what its
			 * TLS and SMTP buffers took stays in each sender's
			 * malloc arena unless given back, once, here. */
			ob->trim = 0;
			pthread_mutex_unlock(&ob->lock);
			malloc_trim(0);
			pthread_mutex_lock(&ob->lock);
		}
		if (ob->kicks == seen_kick && ob->work == seen_work) {
			clock_gettime(CLOCK_REALTIME, &until);
			/* Wake for the next retry, or at least every 5 s; a
			 * second after a failed record. */
			now = mfad_clock_real_s();
			if (failed)
				until.tv_sec += 1;
			else
				until.tv_sec += next > now && next - now < 5 ?
				    (time_t)(next - now) : 5;
			pthread_cond_timedwait(&ob->cond, &ob->lock, &until);
		}
		r = ob->stop;
		settle = !r && ob->kicks != seen_kick;
		ob->settling += settle;
		pthread_mutex_unlock(&ob->lock);
		if (r)
			break;
		if (settle) {
			nanosleep(&(struct timespec){ 0, MFAD_OUTBOX_SETTLE_NS },
			    NULL);
			pthread_mutex_lock(&ob->lock);
			ob->settling--;
			pthread_mutex_unlock(&ob->lock);
		}
	}
	free(ids);
	return NULL;
}

/*
 * Stops and joins the first n senders, and frees ob. grace_s > 0 bounds
 * the wait: a session with a slow relay can hold many messages, and a
 * stop must not wait for all of them. Returns the number of senders
 * still in a session then; ob is not freed (they still use it), and the
 * caller must leave the store open and end the process.
 */
static unsigned
mfad_outbox_free(struct mfad_outbox *ob, unsigned n, time_t grace_s)
{
	struct timespec until;
	unsigned i, left = 0;

	pthread_mutex_lock(&ob->lock);
	ob->stop = 1;
	pthread_cond_broadcast(&ob->cond);
	pthread_mutex_unlock(&ob->lock);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += grace_s;
	for (i = 0; i < n; i++) {
		if (grace_s <= 0)
			pthread_join(ob->threads[i], NULL);
		else if (pthread_timedjoin_np(ob->threads[i], NULL,
		    &until) != 0)
			left++;
	}
	if (left > 0)
		return left;
	pthread_cond_destroy(&ob->cond);
	pthread_mutex_destroy(&ob->lock);
	free(ob->threads);
	free(ob->claimed);
	free(ob->ring);
	free(ob);
	return 0;
}

int
mfad_outbox_start(struct mfad_ctx *ctx, struct mfad_outbox **out)
{
	struct mfad_outbox *ob;
	unsigned i, n;

	*out = NULL;
	n = ctx->conf->mail_connections;
	if (n < 1 || n > MFAD_MAIL_CONNECTIONS_MAX)
		n = 1;
	if ((ob = calloc(1, sizeof(*ob))) == NULL)
		return MSS_ERR_NOMEM;
	ob->ctx = ctx;
	ob->nthreads = n;
	if ((ob->threads = calloc(n, sizeof(*ob->threads))) == NULL ||
	    (ob->claimed = calloc((size_t)n * MFAD_OUTBOX_BATCH,
	    sizeof(*ob->claimed))) == NULL) {
		free(ob->threads);
		free(ob);
		return MSS_ERR_NOMEM;
	}
	pthread_mutex_init(&ob->lock, NULL);
	pthread_cond_init(&ob->cond, NULL);
	for (i = 0; i < n; i++)
		if (pthread_create(&ob->threads[i], NULL, mfad_outbox_main,
		    ob) != 0) {
			mfad_log(LOG_ERR, "mail sender %u of %u could not "
			    "start", i + 1, n);
			/* Without a grace time every started sender is
			 * joined, so none is left and ob is freed. */
			if (mfad_outbox_free(ob, i, 0) != 0)
				mfad_log(LOG_ERR, "mail senders left running");
			return MSS_ERR_SYSTEM;
		}
	*out = ob;
	return 0;
}

unsigned
mfad_outbox_stop(struct mfad_outbox *ob)
{
	unsigned left;

	if (ob == NULL)
		return 0;
	if ((left = mfad_outbox_free(ob, ob->nthreads,
	    MFAD_OUTBOX_STOP_GRACE)) != 0)
		mfad_log(LOG_WARNING, "stop: %u mail session%s still with the "
		    "relay after %d s; their mails stay queued, and the relay "
		    "may get some of them twice", left, left == 1 ? "" : "s",
		    MFAD_OUTBOX_STOP_GRACE);
	return left;
}
