#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "mfad_audit.h"
#include "mfad_code.h"
#include "mfad_log.h"
#include "mfad_outbox.h"
#include "mfad_snap.h"
#include "mss_err.h"
#include "mss_mask.h"
#include "mss_proto.h"

#define MFAD_OUTBOX_BATCH	32
#define MFAD_BACKOFF_MAX	60	/* seconds between two tries, at most */
/*
 * After a kick, the sender waits this long before it looks: the request
 * that queued the mail has its answer out first, so that the sending
 * never competes with it and a request that mails (a real reset) takes
 * as long as one that does not (a decoy).
 */
#define MFAD_OUTBOX_SETTLE_NS	50000000L

struct mfad_outbox {
	struct mfad_ctx	*ctx;
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	int		 stop;
	int		 kicked;
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

void
mfad_outbox_kick(struct mfad_outbox *ob)
{
	if (ob == NULL)
		return;
	pthread_mutex_lock(&ob->lock);
	ob->kicked = 1;
	pthread_cond_signal(&ob->cond);
	pthread_mutex_unlock(&ob->lock);
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
static int
mfad_outbox_ceiling(struct mfad_outbox *ob, unsigned max)
{
	uint64_t now = mfad_now(), *ring;
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
	uint64_t now = mfad_now(), oldest;
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
mfad_outbox_queue(struct mfad_ctx *ctx, MDB_txn *txn, enum mfad_mail_kind kind,
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
	if ((r = mfad_mail_render(ctx->conf, kind, lang, to, vars, &msg, &len,
	    err, sizeof(err))) != 0) {
		mfad_log(LOG_ERR, "cannot build mail %s for %s: %s",
		    mfad_mail_kind_name(kind), user, err);
		if (kind != MFAD_MAIL_INVITE)
			mfad_outbox_refund(ctx->outbox);
		return r;
	}
	memset(&m, 0, sizeof(m));
	m.created = mfad_now();
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
	if (r != 0 && kind != MFAD_MAIL_INVITE)
		mfad_outbox_refund(ctx->outbox);
	mfad_outmsg_clear(&m);
	return r;
}

/* The code of l was taken over: the account's newest login, when it
 * holds that same code, shows the state of its mail too. */
static int
mfad_outbox_moved_state(struct mfad_ctx *ctx, MDB_txn *txn,
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
static int
mfad_outbox_login_state(struct mfad_ctx *ctx, MDB_txn *txn,
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
mfad_outbox_service(struct mfad_ctx *ctx, MDB_txn *txn,
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

/* Tries one message; updates the store with the outcome. */
static void
mfad_outbox_try(struct mfad_outbox *ob, uint64_t id)
{
	struct mfad_ctx *ctx = ob->ctx;
	struct mfad_conf *conf;
	struct mfad_outmsg m;
	MDB_txn *txn = NULL;
	char *msg = NULL, err[512], detail[1024];
	const char *event = NULL, *result = "failure";
	size_t len = 0;
	uint64_t now = mfad_now(), backoff;
	uint8_t state;
	int r, sent;

	if (mfad_txn_begin(ctx->store, 1, &txn) != 0)
		return;
	r = mfad_outbox_get(txn, ctx->store, id, &m);
	mfad_txn_abort(&txn);
	if (r != 0)
		return;
	err[0] = '\0';
	if (m.expires <= now) {
		sent = 0;
		event = "mail_expired";
		snprintf(err, sizeof(err), "expired after %u tries%s%s",
		    m.tries, m.last_error[0] ? ": " : "", m.last_error);
	} else if ((r = mfad_unseal(ctx->keys, m.sealed, m.sealed_len, &msg,
	    &len)) != 0) {
		sent = 0;
		event = "mail_failed";
		snprintf(err, sizeof(err), "queued message cannot be opened");
	} else {
		/* The session keeps its snapshot: a reload meanwhile
		 * neither waits for the relay nor changes its settings. */
		conf = mfad_snap_hold(ctx);
		r = mfad_mail_send(conf, m.to, msg, len, err, sizeof(err));
		mfad_snap_release(conf);
		sodium_memzero(msg, len);
		free(msg);
		sent = r == 0;
		if (sent) {
			event = "mail_sent";
			result = "success";
		} else if (r == MSS_ERR_REFUSED)
			event = "mail_failed";	/* for good: dropped */
	}

	pthread_mutex_lock(&ob->lock);
	/* The relay's answer, cut to what status shows. */
	snprintf(ob->last_error, sizeof(ob->last_error), "%.255s",
	    sent ? "" : err);
	pthread_mutex_unlock(&ob->lock);

	if (mfad_txn_begin(ctx->store, 0, &txn) != 0)
		goto out;
	if (event != NULL) {
		char service[64], masked[MFAD_EMAIL_MAX + 1];
		struct mfad_audit_ev ev = { event, m.user, service, "",
		    result, detail };

		/* The service of the login the mail belongs to, and to
		 * whom, masked as in the prompts. */
		mfad_outbox_service(ctx, txn, &m, service, sizeof(service));
		if (mss_mask_email(m.to, masked, sizeof(masked)) != 0)
			snprintf(masked, sizeof(masked), "?");
		/* A mail that needed more than one try says why in the
		 * audit trail too, not only in the log. */
		if (sent && m.tries > 0)
			snprintf(detail, sizeof(detail), "%s to=%.100s after %u "
			    "failed tr%s, the last: %s",
			    mfad_mail_kind_name(m.kind), masked, m.tries,
			    m.tries == 1 ? "y" : "ies", m.last_error);
		else
			snprintf(detail, sizeof(detail), "%s to=%.100s%s%.511s",
			    mfad_mail_kind_name(m.kind), masked,
			    sent ? "" : ": ", sent ? "" : err);
		state = sent ? MSS_MAIL_SENT : MSS_MAIL_FAILED;
		if ((r = mfad_outbox_del(txn, ctx->store, id)) != 0 ||
		    (r = mfad_outbox_login_state(ctx, txn, &m, state)) != 0 ||
		    (r = mfad_audit(ctx, txn, &ev)) != 0)
			goto out;
	} else {
		/* Retry with backoff while the message is worth sending. */
		m.tries++;
		backoff = (uint64_t)1 << (m.tries < 6 ? m.tries : 6);
		if (backoff > MFAD_BACKOFF_MAX)
			backoff = MFAD_BACKOFF_MAX;
		m.next_try = now + backoff;
		snprintf(m.last_error, sizeof(m.last_error), "%.255s", err);
		mfad_log(LOG_WARNING, "mail %s for %s not sent (try %u, "
		    "next in %llus): %s", mfad_mail_kind_name(m.kind), m.user,
		    m.tries, (unsigned long long)backoff, err);
		if ((r = mfad_outbox_update(txn, ctx->store, id, &m)) != 0 ||
		    (r = mfad_outbox_login_state(ctx, txn, &m,
		    MSS_MAIL_RETRYING)) != 0)
			goto out;
	}
	if (mfad_txn_commit(&txn) != 0)
		mfad_log(LOG_ERR, "outbox: cannot record a delivery result");
out:
	mfad_txn_abort(&txn);
	mfad_outmsg_clear(&m);
}

static void *
mfad_outbox_main(void *arg)
{
	struct mfad_outbox *ob = arg;
	struct mfad_ctx *ctx = ob->ctx;
	uint64_t ids[MFAD_OUTBOX_BATCH], depth, oldest, next, now;
	struct timespec until;
	MDB_txn *txn;
	size_t n, i;
	int r, settle;

	pthread_setname_np(pthread_self(), "mfad-mail");
	for (;;) {
		pthread_mutex_lock(&ob->lock);
		ob->kicked = 0;
		pthread_mutex_unlock(&ob->lock);

		n = 0;
		next = 0;
		now = mfad_now();
		if (mfad_txn_begin(ctx->store, 1, &txn) == 0) {
			r = mfad_outbox_due(txn, ctx->store, now, ids,
			    MFAD_OUTBOX_BATCH, &n, &depth, &oldest, &next);
			mfad_txn_abort(&txn);
			if (r != 0)
				n = 0;
		}
		for (i = 0; i < n; i++) {
			pthread_mutex_lock(&ob->lock);
			r = ob->stop;
			pthread_mutex_unlock(&ob->lock);
			if (r)
				break;
			mfad_outbox_try(ob, ids[i]);
		}

		pthread_mutex_lock(&ob->lock);
		if (ob->stop) {
			pthread_mutex_unlock(&ob->lock);
			break;
		}
		if (!ob->kicked && n < MFAD_OUTBOX_BATCH) {
			clock_gettime(CLOCK_REALTIME, &until);
			/*
			 * Wake for the next retry, or at least every 5 s.
			 * After tries, `next' was computed before them and
			 * knows none of their retry times: scan again in a
			 * second (not at once, so a store that keeps failing
			 * cannot make this spin).
			 */
			now = mfad_now();
			if (n > 0)
				until.tv_sec += 1;
			else
				until.tv_sec += next > now && next - now < 5 ?
				    (time_t)(next - now) : 5;
			pthread_cond_timedwait(&ob->cond, &ob->lock, &until);
		}
		r = ob->stop;
		settle = ob->kicked;
		pthread_mutex_unlock(&ob->lock);
		if (r)
			break;
		if (settle)
			nanosleep(&(struct timespec){ 0, MFAD_OUTBOX_SETTLE_NS },
			    NULL);
	}
	return NULL;
}

int
mfad_outbox_start(struct mfad_ctx *ctx, struct mfad_outbox **out)
{
	struct mfad_outbox *ob;

	*out = NULL;
	if ((ob = calloc(1, sizeof(*ob))) == NULL)
		return MSS_ERR_NOMEM;
	ob->ctx = ctx;
	pthread_mutex_init(&ob->lock, NULL);
	pthread_cond_init(&ob->cond, NULL);
	if (pthread_create(&ob->thread, NULL, mfad_outbox_main, ob) != 0) {
		pthread_cond_destroy(&ob->cond);
		pthread_mutex_destroy(&ob->lock);
		free(ob);
		return MSS_ERR_SYSTEM;
	}
	*out = ob;
	return 0;
}

void
mfad_outbox_stop(struct mfad_outbox *ob)
{
	if (ob == NULL)
		return;
	pthread_mutex_lock(&ob->lock);
	ob->stop = 1;
	pthread_cond_signal(&ob->cond);
	pthread_mutex_unlock(&ob->lock);
	pthread_join(ob->thread, NULL);
	pthread_cond_destroy(&ob->cond);
	pthread_mutex_destroy(&ob->lock);
	free(ob->ring);
	free(ob);
}
