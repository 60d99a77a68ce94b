/*
 * Drives mfad's store with its directory backend for
 * tests/fleet/test_store_dir.py: a real struct mfad_store (LMDB under -d,
 * the directory from the options), then one command a line on stdin and
 * one answer a line on stdout: "ok ..." or "err CODE NAME". mfad's log
 * goes to stderr.
 *
 *   store_driver -d DBDIR -u URI [-u URI...] -b BASE -D BINDDN -y PWFILE
 *       [-c CAFILE] [-t TIMEOUT_MS] [-H HOST] [-s host|fleet]
 *
 * Commands (a "-" stands for an empty value or a list of none):
 *   put USER EMAIL LANG STATE PWHASH CREATED ENROLLED LAST_LOGIN REENROLL
 *       RECOVERY_HEX,... CUR_LOGIN_HEX [OLD_EMAIL]
 *   get USER            ok FIELD=VALUE ... (every field of the account)
 *   del USER | by_email EMAIL | list AFTER MAX | count
 *   fail_add USER NOW LOCKED_UNTIL | failures_clear USER |
 *   login_clear USER NOW |
 *   send_add USER NOW | sends_clear USER | recovery_take USER HEX |
 *   notice_set USER lock|throttle TIME
 *                       ok FIELD=VALUE ... (the account as returned)
 *   fail_many USER N THREADS NOW   N fail_add at once on THREADS threads
 *   dev_put USER KEY_HEX KIND SERVICE CREATED EXPIRES LAST_USED
 *   dev_get USER KEY_HEX | dev_del USER KEY_HEX |
 *   dev_list USER [AFTER_HEX] | dev_revoke USER
 *   dev_sweep NOW BUDGET      one step of the directory's sweep:
 *                             ok DELETED more=0|1
 *   thr_add KEY_HEX NOW | thr_get KEY_HEX
 *                       ok n=N sends=T,... (the record as returned)
 *   thr_put KEY_HEX     a put of one send at 1 (refused in fleet mode)
 *   thr_many KEY_HEX N THREADS NOW   N thr_add at once on THREADS threads
 *   sweep NOW           ok N (records the whole sweep deleted)
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "mss_err.h"
#include "mfad_conf.h"
#include "mfad_log.h"
#include "mfad_store.h"

#define WORDS_MAX	512	/* get_many and the others take hundreds */

static struct mfad_store *st;
static struct mfad_txn *txn;

static const char *const states[] = { "active", "invited", "locked",
    "disabled" };

static void
hex(const uint8_t *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = '\0';
}

static int
unhex(const char *s, uint8_t *out, size_t n)
{
	size_t i;
	unsigned v;

	if (strlen(s) != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static const char *
dash(const char *s)
{
	return strcmp(s, "-") == 0 ? "" : s;
}

static void
err(int r)
{
	printf("err %d %s\n", r, mss_strerror(r));
}

static void
show(const struct mfad_acct *a)
{
	char h[2 * MFAD_KEY_LEN + 1];
	uint32_t i;

	printf("ok user=%s email=%s lang=%s state=%s pw=%s created=%llu "
	    "enrolled=%llu last_login=%llu reenroll=%u failures=%u "
	    "locked_until=%llu throttle_noticed=%llu lock_noticed=%llu",
	    a->user, a->email[0] ? a->email : "-", a->lang[0] ? a->lang : "-",
	    a->state < 4 ? states[a->state] : "?",
	    a->pwhash[0] ? a->pwhash : "-",
	    (unsigned long long)a->created, (unsigned long long)a->enrolled,
	    (unsigned long long)a->last_login, a->reenroll, a->failures,
	    (unsigned long long)a->locked_until,
	    (unsigned long long)a->throttle_noticed,
	    (unsigned long long)a->lock_noticed);
	printf(" sends=");
	for (i = 0; i < a->nsends; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)a->sends[i]);
	if (a->nsends == 0)
		printf("-");
	printf(" cur=");
	if (a->has_cur_login) {
		hex(a->cur_login, MFAD_KEY_LEN, h);
		printf("%s", h);
	} else
		printf("-");
	printf(" recovery=");
	for (i = 0; i < a->nrecovery; i++) {
		hex(a->recovery[i], MFAD_KEY_LEN, h);
		printf("%s%s", i ? "," : "", h);
	}
	if (a->nrecovery == 0)
		printf("-");
	printf("\n");
}

/*
 * get_many USER..., by_email_many ADDR..., put_many USER ADDR...: the
 * functions for many accounts, each row's result after "ok": the state
 * of the account got, its owner, or "-"; else "err:CODE". put_many
 * writes new invited accounts.
 */
static void
cmd_batch(const char *c, char **w, int n)
{
	struct mfad_acct *a = NULL, **ap = NULL;
	char (*owner)[MFAD_USER_MAX + 1] = NULL;
	const char **v = NULL;
	int *rc = NULL, i, k, r;

	k = strcmp(c, "put_many") == 0 ? (n - 1) / 2 : n - 1;
	if (k < 1 || (a = calloc((size_t)k, sizeof(*a))) == NULL ||
	    (ap = calloc((size_t)k, sizeof(*ap))) == NULL ||
	    (owner = calloc((size_t)k, sizeof(*owner))) == NULL ||
	    (v = calloc((size_t)k, sizeof(*v))) == NULL ||
	    (rc = calloc((size_t)k, sizeof(*rc))) == NULL) {
		err(MSS_ERR_INVAL);
		goto out;
	}
	for (i = 0; i < k; i++) {
		ap[i] = &a[i];
		v[i] = w[1 + i];
	}
	if (strcmp(c, "get_many") == 0)
		r = mfad_acct_get_many(txn, st, v, (size_t)k, ap, rc);
	else if (strcmp(c, "by_email_many") == 0)
		r = mfad_acct_by_email_many(txn, st, v, (size_t)k, owner, rc);
	else {
		for (i = 0; i < k; i++) {
			snprintf(a[i].user, sizeof(a[i].user), "%s",
			    w[1 + 2 * i]);
			snprintf(a[i].email, sizeof(a[i].email), "%s",
			    w[2 + 2 * i]);
			snprintf(a[i].lang, sizeof(a[i].lang), "en");
			a[i].state = MFAD_ACCT_INVITED;
			a[i].created = 1764547200;
			v[i] = NULL;
		}
		r = mfad_acct_put_many(txn, st,
		    (const struct mfad_acct *const *)ap, NULL, v, (size_t)k,
		    rc);
	}
	if (r != 0) {
		err(r);
		goto out;
	}
	printf("ok");
	for (i = 0; i < k; i++)
		if (rc[i] != 0)
			printf(" err:%d", rc[i]);
		else if (strcmp(c, "get_many") == 0)
			printf(" %s", states[a[i].state]);
		else if (strcmp(c, "by_email_many") == 0)
			printf(" %s", owner[i]);
		else
			printf(" -");
	printf("\n");
 out:
	for (i = 0; a != NULL && i < k; i++)
		mfad_acct_wipe(&a[i]);
	free(a);
	free(ap);
	free(owner);
	free(v);
	free(rc);
}

static int
cmd_put(char **w, int n)
{
	struct mfad_acct a;
	char *p, *tok, *save;
	int i, r;

	if (n < 12)
		return MSS_ERR_INVAL;
	memset(&a, 0, sizeof(a));
	snprintf(a.user, sizeof(a.user), "%s", w[1]);
	snprintf(a.email, sizeof(a.email), "%s", dash(w[2]));
	snprintf(a.lang, sizeof(a.lang), "%s", dash(w[3]));
	a.state = 99;
	for (i = 0; i < 4; i++)
		if (strcmp(w[4], states[i]) == 0)
			a.state = (uint8_t)i;
	snprintf(a.pwhash, sizeof(a.pwhash), "%s", dash(w[5]));
	a.created = strtoull(w[6], NULL, 10);
	a.enrolled = strtoull(w[7], NULL, 10);
	a.last_login = strtoull(w[8], NULL, 10);
	a.reenroll = (uint8_t)atoi(w[9]);
	if (strcmp(w[10], "-") != 0)
		for (p = w[10]; (tok = strtok_r(p, ",", &save)) != NULL;
		    p = NULL) {
			if (a.nrecovery == MFAD_RECOVERY_MAX ||
			    unhex(tok, a.recovery[a.nrecovery],
			    MFAD_KEY_LEN) != 0)
				return MSS_ERR_INVAL;
			a.nrecovery++;
		}
	if (strcmp(w[11], "-") != 0) {
		if (unhex(w[11], a.cur_login, MFAD_KEY_LEN) != 0)
			return MSS_ERR_INVAL;
		a.has_cur_login = 1;
	}
	/* Counters that put must leave alone. */
	a.failures = 77;
	a.nsends = 1;
	a.sends[0] = 1;
	a.locked_until = 5;
	r = mfad_acct_put(txn, st, &a, n > 12 ? w[12] : NULL);
	mfad_acct_wipe(&a);
	return r;
}

struct many {
	const char	*user;
	const uint8_t	*key;		/* thr_many: the record's key */
	uint64_t	 now;
	int		 n, threads, errs;
	pthread_mutex_t	 lock;
	int		 next;
};

static void *
many_run(void *arg)
{
	struct many *m = arg;
	int i, r;

	for (;;) {
		pthread_mutex_lock(&m->lock);
		i = m->next++;
		pthread_mutex_unlock(&m->lock);
		if (i >= m->n)
			break;
		/* No transaction: the directory's records need none. */
		r = m->key != NULL ? mfad_throttle_send_add(NULL, st, m->key,
		    m->now, NULL) : mfad_acct_fail_add(NULL, st, m->user,
		    m->now, 0, NULL);
		if (r != 0) {
			pthread_mutex_lock(&m->lock);
			m->errs++;
			pthread_mutex_unlock(&m->lock);
			fprintf(stderr, "%s: %s\n", m->key != NULL ?
			    "thr_add" : "fail_add", mss_strerror(r));
		}
	}
	return NULL;
}

static void
cmd_many(char **w, int n, const uint8_t *key)
{
	pthread_t t[32];
	struct many m;
	int i;

	memset(&m, 0, sizeof(m));
	m.user = w[1];
	m.key = key;
	m.n = atoi(w[2]);
	m.threads = atoi(w[3]);
	m.now = strtoull(w[4], NULL, 10);
	if (m.threads < 1 || m.threads > 32) {
		err(MSS_ERR_INVAL);
		return;
	}
	pthread_mutex_init(&m.lock, NULL);
	for (i = 0; i < m.threads; i++)
		pthread_create(&t[i], NULL, many_run, &m);
	for (i = 0; i < m.threads; i++)
		pthread_join(t[i], NULL);
	pthread_mutex_destroy(&m.lock);
	printf("ok errors=%d\n", m.errs);
}

static void
thr_show(const struct mfad_throttle_rec *t)
{
	uint32_t i;

	printf("ok n=%u sends=", t->nsends);
	for (i = 0; i < t->nsends; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)t->sends[i]);
	printf("%s\n", t->nsends == 0 ? "-" : "");
}

static void
cmd_throttle(char **w, int n)
{
	struct mfad_throttle_rec t;
	uint8_t key[MFAD_KEY_LEN];
	unsigned got;
	int r;

	memset(&t, 0, sizeof(t));
	if (strcmp(w[0], "sweep") == 0 && n == 2) {
		if ((r = mfad_store_sweep_run(st, strtoull(w[1], NULL, 10), 0,
		    &got)) == 0)
			printf("ok %u\n", got);
		else
			err(r);
		return;
	}
	if (n < 2 || unhex(w[1], key, sizeof(key)) != 0) {
		err(MSS_ERR_INVAL);
		return;
	}
	if (strcmp(w[0], "thr_many") == 0 && n == 5) {
		cmd_many(w, n, key);
		return;
	}
	if (strcmp(w[0], "thr_add") == 0 && n == 3)
		r = mfad_throttle_send_add(txn, st, key, strtoull(w[2], NULL,
		    10), &t);
	else if (strcmp(w[0], "thr_get") == 0 && n == 2)
		r = mfad_throttle_get(txn, st, key, &t);
	else if (strcmp(w[0], "thr_put") == 0 && n == 2) {
		t.nsends = 1;
		t.sends[0] = 1;
		if ((r = mfad_throttle_put(txn, st, key, &t)) == 0)
			printf("ok\n");
		else
			err(r);
		return;
	} else
		r = MSS_ERR_INVAL;
	if (r == 0)
		thr_show(&t);
	else
		err(r);
}

/* A listing, written out only when the whole call succeeded. */
struct listing {
	char	*buf;
	size_t	 len;
	FILE	*f;
	int	 n;
};

static void
listing_open(struct listing *l)
{
	memset(l, 0, sizeof(*l));
	if ((l->f = open_memstream(&l->buf, &l->len)) == NULL)
		exit(1);
}

/* "ok LIST" (or "ok -") on success, and frees it. */
static void
listing_close(struct listing *l, int r, const char *tail)
{
	fclose(l->f);
	if (r == 0)
		printf("ok %s%s\n", l->n ? l->buf : "-", tail);
	free(l->buf);
}

static int
dev_show(const uint8_t *key, const struct mfad_device *d, void *arg)
{
	char h[2 * MFAD_KEY_LEN + 1];
	struct listing *l = arg;

	hex(key, MFAD_KEY_LEN, h);
	fprintf(l->f, "%s%s:%s:%s:%llu:%llu:%llu", l->n ? "," : "", h,
	    d->kind, d->service[0] ? d->service : "-",
	    (unsigned long long)d->created, (unsigned long long)d->expires,
	    (unsigned long long)d->last_used);
	l->n++;
	return 0;
}

static int
acct_name(const struct mfad_acct *a, void *arg)
{
	struct listing *l = arg;

	fprintf(l->f, "%s%s", l->n ? "," : "", a->user);
	l->n++;
	return 0;
}

static void
run(char **w, int n)
{
	struct mfad_acct a;
	struct mfad_device d;
	uint8_t key[MFAD_KEY_LEN];
	char user[MFAD_USER_MAX + 1];
	const char *c = w[0];
	struct listing l;
	uint64_t cnt;
	unsigned nd;
	int r, more;

	memset(&a, 0, sizeof(a));
	if (strcmp(c, "put") == 0) {
		if ((r = cmd_put(w, n)) == 0)
			printf("ok\n");
		else
			err(r);
		return;
	}
	if (strcmp(c, "get_many") == 0 || strcmp(c, "by_email_many") == 0 ||
	    strcmp(c, "put_many") == 0) {
		cmd_batch(c, w, n);
		return;
	}
	if (strcmp(c, "fail_many") == 0 && n == 5) {
		cmd_many(w, n, NULL);
		return;
	}
	if (strncmp(c, "thr_", 4) == 0) {
		cmd_throttle(w, n);
		return;
	}
	if (strcmp(c, "count") == 0) {
		if ((r = mfad_acct_count(txn, st, &cnt)) == 0)
			printf("ok %llu\n", (unsigned long long)cnt);
		else
			err(r);
		return;
	}
	if (n < 2) {
		err(MSS_ERR_INVAL);
		return;
	}
	if (strcmp(c, "get") == 0)
		r = mfad_acct_get(txn, st, w[1], &a);
	else if (strcmp(c, "del") == 0) {
		snprintf(a.user, sizeof(a.user), "%s", w[1]);
		if ((r = mfad_acct_del(txn, st, &a)) == 0)
			printf("ok\n");
		goto done;
	} else if (strcmp(c, "by_email") == 0) {
		if ((r = mfad_acct_by_email(txn, st, w[1], user,
		    sizeof(user))) == 0)
			printf("ok %s\n", user);
		goto done;
	} else if (strcmp(c, "list") == 0 && n == 3) {
		listing_open(&l);
		r = mfad_acct_list(txn, st, dash(w[1]), strtoul(w[2], NULL,
		    10), acct_name, &l, &more);
		listing_close(&l, r, more ? " more=1" : " more=0");
		goto done;
	} else if (strcmp(c, "fail_add") == 0 && n == 4) {
		snprintf(a.user, sizeof(a.user), "%s", w[1]);
		r = mfad_acct_fail_add(txn, st, w[1], strtoull(w[2], NULL,
		    10), strtoull(w[3], NULL, 10), &a);
	} else if (strcmp(c, "failures_clear") == 0) {
		snprintf(a.user, sizeof(a.user), "%s", w[1]);
		r = mfad_acct_failures_clear(txn, st, w[1], &a);
	} else if (strcmp(c, "login_clear") == 0 && n == 3) {
		snprintf(a.user, sizeof(a.user), "%s", w[1]);
		r = mfad_acct_login_clear(txn, st, w[1], strtoull(w[2], NULL,
		    10), &a);
	} else if (strcmp(c, "sends_clear") == 0) {
		snprintf(a.user, sizeof(a.user), "%s", w[1]);
		r = mfad_acct_sends_clear(txn, st, w[1], &a);
	} else if (strcmp(c, "send_add") == 0 && n == 3) {
		snprintf(a.user, sizeof(a.user), "%s", w[1]);
		r = mfad_acct_send_add(txn, st, w[1], strtoull(w[2], NULL,
		    10), &a);
	} else if (strcmp(c, "recovery_take") == 0 && n == 3) {
		snprintf(a.user, sizeof(a.user), "%s", w[1]);
		if (unhex(w[2], key, sizeof(key)) != 0)
			r = MSS_ERR_INVAL;
		else
			r = mfad_acct_recovery_take(txn, st, w[1], key, &a);
	} else if (strcmp(c, "notice_set") == 0 && n == 4) {
		snprintf(a.user, sizeof(a.user), "%s", w[1]);
		r = mfad_acct_notice_set(txn, st, w[1],
		    strcmp(w[2], "lock") == 0 ? MFAD_NOTICE_LOCK :
		    MFAD_NOTICE_THROTTLE, strtoull(w[3], NULL, 10), &a);
	} else if (strcmp(c, "dev_put") == 0 && n == 8) {
		memset(&d, 0, sizeof(d));
		snprintf(d.user, sizeof(d.user), "%s", w[1]);
		snprintf(d.kind, sizeof(d.kind), "%s", w[3]);
		snprintf(d.service, sizeof(d.service), "%s", dash(w[4]));
		d.created = strtoull(w[5], NULL, 10);
		d.expires = strtoull(w[6], NULL, 10);
		d.last_used = strtoull(w[7], NULL, 10);
		if (unhex(w[2], key, sizeof(key)) != 0)
			r = MSS_ERR_INVAL;
		else if ((r = mfad_device_put(txn, st, key, &d)) == 0)
			printf("ok\n");
		goto done;
	} else if ((strcmp(c, "dev_get") == 0 || strcmp(c, "dev_del") == 0) &&
	    n == 3) {
		if (unhex(w[2], key, sizeof(key)) != 0)
			r = MSS_ERR_INVAL;
		else if (c[4] == 'g') {
			listing_open(&l);
			if ((r = mfad_device_get(txn, st, w[1], key,
			    &d)) == 0)
				(void)dev_show(key, &d, &l);
			listing_close(&l, r, "");
		} else if ((r = mfad_device_del(txn, st, w[1], key)) == 0)
			printf("ok\n");
		goto done;
	} else if (strcmp(c, "dev_list") == 0) {
		if (n > 2 && unhex(w[2], key, sizeof(key)) != 0) {
			r = MSS_ERR_INVAL;
			goto done;
		}
		listing_open(&l);
		r = mfad_device_list_after(txn, st, w[1], n > 2 ? key : NULL,
		    dev_show, &l);
		listing_close(&l, r, "");
		goto done;
	} else if (strcmp(c, "dev_sweep") == 0 && n == 3) {
		if ((r = mfad_store_dir_sweep(st, strtoull(w[1], NULL, 10),
		    (unsigned)strtoul(w[2], NULL, 10), &nd, &more)) == 0)
			printf("ok %u more=%d\n", nd, more);
		goto done;
	} else if (strcmp(c, "dev_revoke") == 0) {
		if ((r = mfad_device_revoke_all(txn, st, w[1], &nd)) == 0)
			printf("ok %u\n", nd);
		goto done;
	} else
		r = MSS_ERR_INVAL;
	if (r == 0)
		show(&a);
 done:
	if (r != 0)
		err(r);
	mfad_acct_wipe(&a);
}

int
main(int argc, char **argv)
{
	static struct mfad_conf conf;
	char line[65536], *w[WORDS_MAX], *p, *save;
	int c, n, r;

	conf.map_size = 16 << 20;
	conf.dir_timeout_ms = 2000;
	while ((c = getopt(argc, argv, "d:u:b:D:y:c:t:H:s:")) != -1) {
		switch (c) {
		case 'd': conf.database = optarg; break;
		case 'u':
			if (conf.dir_nuris == MFAD_CONF_DIR_URIS_MAX)
				return 2;
			conf.dir_uris[conf.dir_nuris++] = optarg;
			break;
		case 'b': conf.dir_base = optarg; break;
		case 'D': conf.dir_bind_dn = optarg; break;
		case 'y': conf.dir_bind_pw_file = optarg; break;
		case 'c': conf.dir_ca_file = optarg; break;
		case 't': conf.dir_timeout_ms = (unsigned)atoi(optarg); break;
		case 'H': conf.dir_host = optarg; break;
		case 's':
			conf.device_scope = strcmp(optarg, "fleet") == 0 ?
			    MFAD_DEVICE_SCOPE_FLEET : MFAD_DEVICE_SCOPE_HOST;
			break;
		default:
			fprintf(stderr, "usage: see store_driver.c\n");
			return 2;
		}
	}
	if (conf.database == NULL)
		return 2;
	/* As mfad: a provider that went away is an error, not the end. */
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 1;
	mfad_log_init(1, 1);
	if ((r = mfad_store_open(&conf, &st)) != 0) {
		err(r);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		n = 0;
		for (p = line; n < WORDS_MAX &&
		    (w[n] = strtok_r(p, " ", &save)) != NULL; p = NULL)
			n++;
		/* A local transaction around each, as mfad's requests have:
		 * the parts that stay local (devices with scope host) need
		 * it; the directory's do not see it. */
		if (n > 0 && strcmp(w[0], "sweep") == 0)
			/* Its own transactions, as mfad's sweep. */
			cmd_throttle(w, n);
		else if (n > 0 && (r = mfad_txn_begin(st, 0, &txn)) != 0)
			err(r);
		else if (n > 0) {
			run(w, n);
			if ((r = mfad_txn_commit(&txn)) != 0)
				fprintf(stderr, "commit: %s\n",
				    mss_strerror(r));
		}
		fflush(stdout);
	}
	mfad_store_close(st);
	return 0;
}
