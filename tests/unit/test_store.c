/*
 * Unit tests for mfad/mfad_store.c: every record type against a real LMDB
 * environment in a fresh mkdtemp directory (SECURITY.md rules 16, 29, 30).
 * Corrupt records are written with mdb_put directly, past the codec.
 */
#include "config.h"

#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "mfad_argon2.h"
#include "mfad_conf.h"
#include "mfad_store_lmdb.h"
#include "mss_err.h"

#define TEST_MAP_SIZE	(64ULL << 20)
#define TINY_MAP_SIZE	(1ULL << 20)	/* the config's lower bound, 1M */

struct fix {
	char			 dir[64];
	struct mfad_conf	*conf;
	struct mfad_store	*st;
};

/* Fixture */

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
fix_reopen(struct fix *f)
{
	mfad_store_close(f->st);
	f->st = NULL;
	assert_int_equal(mfad_store_open(f->conf, &f->st), 0);
	assert_non_null(f->st);
}

static int
fix_setup_size(void **state, uint64_t map_size)
{
	struct fix *f;
	char db[128];

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
	if (mkdtemp(f->dir) == NULL || (f->conf = mfad_conf_new()) == NULL)
		return -1;
	/* A directory the store creates itself. */
	snprintf(db, sizeof(db), "%s/db", f->dir);
	free(f->conf->database);
	if ((f->conf->database = strdup(db)) == NULL)
		return -1;
	f->conf->map_size = map_size;
	if (mfad_store_open(f->conf, &f->st) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
fix_setup(void **state)
{
	return fix_setup_size(state, TEST_MAP_SIZE);
}

static int
fix_setup_tiny(void **state)
{
	return fix_setup_size(state, TINY_MAP_SIZE);
}

static int
fix_teardown(void **state)
{
	struct fix *f = *state;
	int r;

	mfad_store_close(f->st);
	mfad_conf_free(f->conf);
	r = nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return r;
}

static struct mfad_txn *
wtxn(struct fix *f)
{
	struct mfad_txn *txn = NULL;

	assert_int_equal(mfad_txn_begin(f->st, 0, &txn), 0);
	assert_non_null(txn);
	return txn;
}

static struct mfad_txn *
rtxn(struct fix *f)
{
	struct mfad_txn *txn = NULL;

	assert_int_equal(mfad_txn_begin(f->st, 1, &txn), 0);
	assert_non_null(txn);
	return txn;
}

/* Records */

static void
make_acct(struct mfad_acct *a, const char *user, const char *email)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->user, sizeof(a->user), "%s", user);
	snprintf(a->email, sizeof(a->email), "%s", email);
	snprintf(a->lang, sizeof(a->lang), "en");
	snprintf(a->pwhash, sizeof(a->pwhash), "$argon2id$v=19$m=19456,"
	    "t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g");
	a->created = 1700000000;
}

static void
put_acct(struct fix *f, const char *user, const char *email)
{
	struct mfad_acct a;
	struct mfad_txn *txn = wtxn(f);

	make_acct(&a, user, email);
	assert_int_equal(mfad_acct_put(txn, f->st, &a, NULL), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
}

static void
make_key(uint8_t key[MFAD_KEY_LEN], unsigned char tag)
{
	memset(key, tag, MFAD_KEY_LEN);
	key[0] = 0xd0;
}

static void
make_device(struct mfad_device *d, const char *user, uint64_t expires)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->user, sizeof(d->user), "%s", user);
	snprintf(d->kind, sizeof(d->kind), "ssh-key");
	snprintf(d->service, sizeof(d->service), "sshd");
	d->created = 1000;
	d->expires = expires;
	d->last_used = 1500;
}

static void
make_login(struct mfad_login *l, const char *user, uint64_t expires)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->user, sizeof(l->user), "%s", user);
	snprintf(l->service, sizeof(l->service), "sshd");
	snprintf(l->rhost, sizeof(l->rhost), "192.0.2.7");
	l->expires = expires;
}

static uint64_t
db_entries(struct fix *f, MDB_dbi dbi)
{
	struct mfad_txn *txn = rtxn(f);
	MDB_stat ms;

	assert_int_equal(mdb_stat(txn->mt, dbi, &ms), 0);
	mfad_txn_abort(&txn);
	return ms.ms_entries;
}

/* Accounts */

static void
test_acct_round_trip_every_field(void **state)
{
	struct fix *f = *state;
	struct mfad_acct a, b;
	struct mfad_txn *txn;
	uint32_t i;

	memset(&a, 0, sizeof(a));
	snprintf(a.user, sizeof(a.user), "alice.smith-01");
	snprintf(a.email, sizeof(a.email), "Alice.Smith@Example.ORG");
	snprintf(a.lang, sizeof(a.lang), "fr");
	a.state = MFAD_ACCT_LOCKED;
	a.reenroll = 1;
	memset(a.pwhash, 'h', sizeof(a.pwhash) - 1);	/* the longest */
	a.created = 0x0102030405060708ULL;
	a.enrolled = UINT64_MAX;
	a.last_login = 1700000123;
	a.failures = 0xfedcba98;
	a.locked_until = 1700000999;
	a.nsends = MFAD_SENDS_MAX;
	for (i = 0; i < MFAD_SENDS_MAX; i++)
		a.sends[i] = 1700000000ULL + i * 7919;

	txn = wtxn(f);
	assert_int_equal(mfad_acct_put(txn, f->st, &a, NULL), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	txn = rtxn(f);
	memset(&b, 0xee, sizeof(b));
	assert_int_equal(mfad_acct_get(txn, f->st, "alice.smith-01", &b), 0);
	mfad_txn_abort(&txn);
	assert_string_equal(b.user, a.user);
	assert_string_equal(b.email, a.email);	/* case kept */
	assert_string_equal(b.lang, "fr");
	assert_int_equal(b.state, MFAD_ACCT_LOCKED);
	assert_int_equal(b.reenroll, 1);
	assert_string_equal(b.pwhash, a.pwhash);
	assert_true(b.created == a.created);
	assert_true(b.enrolled == UINT64_MAX);
	assert_true(b.last_login == a.last_login);
	assert_int_equal(b.failures, 0xfedcba98);
	assert_true(b.locked_until == a.locked_until);
	assert_int_equal(b.nsends, MFAD_SENDS_MAX);
	for (i = 0; i < MFAD_SENDS_MAX; i++)
		assert_true(b.sends[i] == a.sends[i]);
	/* No field forgotten: the whole struct matches. */
	assert_memory_equal(&a, &b, sizeof(a));

	/* Fewer sends: the rest reads as zero. */
	a.nsends = 3;
	memset(&a.sends[3], 0, sizeof(a.sends) - 3 * sizeof(a.sends[0]));
	memset(a.pwhash, 0, sizeof(a.pwhash));
	txn = wtxn(f);
	assert_int_equal(mfad_acct_put(txn, f->st, &a, a.email), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	txn = rtxn(f);
	memset(&b, 0xee, sizeof(b));
	assert_int_equal(mfad_acct_get(txn, f->st, a.user, &b), 0);
	mfad_txn_abort(&txn);
	assert_int_equal(b.nsends, 3);
	assert_string_equal(b.pwhash, "");
	assert_memory_equal(&a, &b, sizeof(a));
}

static void
test_acct_get_missing_is_notfound(void **state)
{
	struct fix *f = *state;
	struct mfad_acct a;
	struct mfad_txn *txn;
	char user[MFAD_USER_MAX + 1];

	put_acct(f, "alice", "alice@example.com");
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alic", &a),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_acct_get(txn, f->st, "alicee", &a),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_acct_get(txn, f->st, "ALICE", &a),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_acct_by_email(txn, f->st, "bob@example.com",
	    user, sizeof(user)), MSS_ERR_NOTFOUND);
	/* Names LMDB cannot hold as keys name nobody: not a store error. */
	assert_int_equal(mfad_acct_get(txn, f->st, "", &a),
	    MSS_ERR_NOTFOUND);
	memset(user, 'u', sizeof(user) - 1);
	user[sizeof(user) - 1] = '\0';
	assert_int_equal(mfad_acct_get(txn, f->st, user, &a),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_acct_by_email(txn, f->st, "", user,
	    sizeof(user)), MSS_ERR_NOTFOUND);
	mfad_txn_abort(&txn);
}

static void
assert_owner(struct fix *f, const char *email, const char *user)
{
	char owner[MFAD_USER_MAX + 1];
	struct mfad_txn *txn = rtxn(f);

	memset(owner, 0, sizeof(owner));
	assert_int_equal(mfad_acct_by_email(txn, f->st, email, owner,
	    sizeof(owner)), 0);
	assert_string_equal(owner, user);
	mfad_txn_abort(&txn);
}

static void
assert_no_owner(struct fix *f, const char *email)
{
	char owner[MFAD_USER_MAX + 1];
	struct mfad_txn *txn = rtxn(f);

	assert_int_equal(mfad_acct_by_email(txn, f->st, email, owner,
	    sizeof(owner)), MSS_ERR_NOTFOUND);
	mfad_txn_abort(&txn);
}

static void
test_acct_email_index(void **state)
{
	struct fix *f = *state;
	struct mfad_acct a, b, got;
	struct mfad_txn *txn;

	put_acct(f, "alice", "Alice@Example.COM");
	/* Case-insensitive lookup. */
	assert_owner(f, "alice@example.com", "alice");
	assert_owner(f, "ALICE@EXAMPLE.COM", "alice");
	assert_owner(f, "Alice@Example.COM", "alice");
	assert_no_owner(f, "alice@example.co");

	/* A second account with the same address, in any case. */
	txn = wtxn(f);
	make_acct(&b, "bob", "aLiCe@example.com");
	assert_int_equal(mfad_acct_put(txn, f->st, &b, NULL),
	    MSS_ERR_EXISTS);
	assert_int_equal(mfad_acct_get(txn, f->st, "bob", &got),
	    MSS_ERR_NOTFOUND);
	mfad_txn_abort(&txn);
	assert_owner(f, "alice@example.com", "alice");

	/* Putting alice again with her own address is fine. */
	make_acct(&a, "alice", "Alice@Example.COM");
	a.failures = 3;
	txn = wtxn(f);
	assert_int_equal(mfad_acct_put(txn, f->st, &a, "Alice@Example.COM"),
	    0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	/* And with a change of case only. */
	make_acct(&a, "alice", "alice@example.com");
	txn = wtxn(f);
	assert_int_equal(mfad_acct_put(txn, f->st, &a, "Alice@Example.COM"),
	    0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_owner(f, "ALICE@example.com", "alice");

	/* A new address moves the index. */
	make_acct(&a, "alice", "alice@new.example.org");
	txn = wtxn(f);
	assert_int_equal(mfad_acct_put(txn, f->st, &a, "alice@example.com"),
	    0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_owner(f, "Alice@New.Example.Org", "alice");
	assert_no_owner(f, "alice@example.com");
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &got), 0);
	assert_string_equal(got.email, "alice@new.example.org");
	mfad_txn_abort(&txn);

	/* The old address is free for another account... */
	txn = wtxn(f);
	make_acct(&b, "bob", "ALICE@example.com");
	assert_int_equal(mfad_acct_put(txn, f->st, &b, NULL), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_owner(f, "alice@example.com", "bob");
	/* ...and alice cannot move onto bob's. */
	make_acct(&a, "alice", "alice@example.com");
	txn = wtxn(f);
	assert_int_equal(mfad_acct_put(txn, f->st, &a,
	    "alice@new.example.org"), MSS_ERR_EXISTS);
	mfad_txn_abort(&txn);
	assert_owner(f, "alice@new.example.org", "alice");
	assert_owner(f, "alice@example.com", "bob");
}

static void
test_acct_del_removes_index_and_devices(void **state)
{
	struct fix *f = *state;
	struct mfad_device d;
	struct mfad_acct a;
	uint8_t ka1[MFAD_KEY_LEN], ka2[MFAD_KEY_LEN], kb[MFAD_KEY_LEN];
	uint64_t n;
	struct mfad_txn *txn;

	put_acct(f, "alice", "Alice@Example.com");
	put_acct(f, "bob", "bob@example.com");
	make_key(ka1, 1);
	make_key(ka2, 2);
	make_key(kb, 3);
	txn = wtxn(f);
	make_device(&d, "alice", 99999);
	assert_int_equal(mfad_device_put(txn, f->st, ka1, &d), 0);
	assert_int_equal(mfad_device_put(txn, f->st, ka2, &d), 0);
	make_device(&d, "bob", 99999);
	assert_int_equal(mfad_device_put(txn, f->st, kb, &d), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	txn = wtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	assert_int_equal(mfad_acct_del(txn, f->st, &a), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_device_get(txn, f->st, "alice", ka1, &d),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_device_get(txn, f->st, "alice", ka2, &d),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_device_get(txn, f->st, "bob", kb, &d), 0);
	assert_string_equal(d.user, "bob");
	assert_int_equal(mfad_acct_get(txn, f->st, "bob", &a), 0);
	assert_int_equal(mfad_acct_count(txn, f->st, &n), 0);
	assert_int_equal(n, 1);
	mfad_txn_abort(&txn);
	assert_no_owner(f, "alice@example.com");
	assert_owner(f, "bob@example.com", "bob");
	/* Only bob's device is left. */
	assert_int_equal(db_entries(f, f->st->devices), 1);

	/* A deleted account's address can be taken again. */
	put_acct(f, "carol", "alice@example.com");
	assert_owner(f, "alice@example.com", "carol");
}

struct names {
	char	 v[32][MFAD_USER_MAX + 1];
	size_t	 n;
	size_t	 stop_at;	/* fail the callback at this call, 0 = never */
};

static int
collect(const struct mfad_acct *a, void *arg)
{
	struct names *nm = arg;

	if (nm->stop_at != 0 && nm->n + 1 == nm->stop_at)
		return MSS_ERR_INVAL;
	assert_true(nm->n < 32);
	snprintf(nm->v[nm->n++], sizeof(nm->v[0]), "%s", a->user);
	return 0;
}

static void
list_page(struct fix *f, const char *after, size_t max, struct names *nm,
    int *more)
{
	struct mfad_txn *txn = rtxn(f);

	memset(nm, 0, sizeof(*nm));
	*more = -1;
	assert_int_equal(mfad_acct_list(txn, f->st, after, max, collect, nm,
	    more), 0);
	mfad_txn_abort(&txn);
}

static void
test_acct_list_paging(void **state)
{
	/* Put out of order: the list comes back sorted. */
	static const unsigned order[10] = { 7, 2, 9, 0, 4, 1, 8, 3, 6, 5 };
	struct fix *f = *state;
	struct names nm;
	char user[16], email[64];
	struct mfad_txn *txn;
	size_t i;
	int more;

	list_page(f, "", 5, &nm, &more);
	assert_int_equal(nm.n, 0);
	assert_int_equal(more, 0);

	for (i = 0; i < 10; i++) {
		snprintf(user, sizeof(user), "u%02u", order[i]);
		snprintf(email, sizeof(email), "%s@example.com", user);
		put_acct(f, user, email);
	}

	list_page(f, "", 4, &nm, &more);
	assert_int_equal(nm.n, 4);
	assert_int_equal(more, 1);
	assert_string_equal(nm.v[0], "u00");
	assert_string_equal(nm.v[3], "u03");

	list_page(f, "u03", 4, &nm, &more);
	assert_int_equal(nm.n, 4);
	assert_int_equal(more, 1);
	assert_string_equal(nm.v[0], "u04");
	assert_string_equal(nm.v[3], "u07");

	list_page(f, "u07", 4, &nm, &more);
	assert_int_equal(nm.n, 2);
	assert_int_equal(more, 0);
	assert_string_equal(nm.v[0], "u08");
	assert_string_equal(nm.v[1], "u09");

	/* `after` need not exist. */
	list_page(f, "u05x", 2, &nm, &more);
	assert_int_equal(nm.n, 2);
	assert_int_equal(more, 1);
	assert_string_equal(nm.v[0], "u06");
	assert_string_equal(nm.v[1], "u07");
	list_page(f, "a", 1, &nm, &more);
	assert_int_equal(nm.n, 1);
	assert_string_equal(nm.v[0], "u00");

	/* Past the end, and exactly all of them. */
	list_page(f, "u09", 4, &nm, &more);
	assert_int_equal(nm.n, 0);
	assert_int_equal(more, 0);
	list_page(f, "", 10, &nm, &more);
	assert_int_equal(nm.n, 10);
	assert_int_equal(more, 0);
	for (i = 0; i < 10; i++) {
		snprintf(user, sizeof(user), "u%02zu", i);
		assert_string_equal(nm.v[i], user);
	}
	list_page(f, "", 9, &nm, &more);
	assert_int_equal(nm.n, 9);
	assert_int_equal(more, 1);

	/* A failing callback stops the walk and its error comes back. */
	memset(&nm, 0, sizeof(nm));
	nm.stop_at = 3;
	txn = rtxn(f);
	assert_int_equal(mfad_acct_list(txn, f->st, "", 10, collect, &nm,
	    &more), MSS_ERR_INVAL);
	mfad_txn_abort(&txn);
	assert_int_equal(nm.n, 2);
}

static void
test_acct_count(void **state)
{
	struct fix *f = *state;
	struct mfad_acct a;
	uint64_t n = 99;
	struct mfad_txn *txn;

	txn = rtxn(f);
	assert_int_equal(mfad_acct_count(txn, f->st, &n), 0);
	assert_int_equal(n, 0);
	mfad_txn_abort(&txn);

	put_acct(f, "a", "a@example.com");
	put_acct(f, "b", "b@example.com");
	put_acct(f, "c", "c@example.com");
	/* Putting an existing account again does not count twice. */
	txn = wtxn(f);
	make_acct(&a, "b", "b@example.com");
	assert_int_equal(mfad_acct_put(txn, f->st, &a, "b@example.com"), 0);
	assert_int_equal(mfad_acct_count(txn, f->st, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(mfad_acct_del(txn, f->st, &a), 0);
	assert_int_equal(mfad_acct_count(txn, f->st, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	txn = rtxn(f);
	assert_int_equal(mfad_acct_count(txn, f->st, &n), 0);
	assert_int_equal(n, 2);
	mfad_txn_abort(&txn);
}

/* Logins */

static void
test_login_put_get_del(void **state)
{
	struct fix *f = *state;
	struct mfad_login l, g;
	uint8_t key[MFAD_KEY_LEN], other[MFAD_KEY_LEN];
	struct mfad_txn *txn;

	memset(&l, 0, sizeof(l));
	snprintf(l.user, sizeof(l.user), "alice");
	snprintf(l.service, sizeof(l.service), "sshd");
	memset(l.rhost, 'r', sizeof(l.rhost) - 1);	/* the longest */
	l.caller_uid = 4294967294u;
	l.state = MFAD_LOGIN_VERIFIED;
	l.mail = 2;
	l.has_device = 1;
	snprintf(l.device_kind, sizeof(l.device_kind), "ssh-key");
	memset(l.devhash, 0xd1, sizeof(l.devhash));
	memset(l.codehash, 0xc1, sizeof(l.codehash));
	l.codehash[31] = 0;
	l.created = 1;
	l.code_expires = 2;
	l.expires = 3;
	l.verified = UINT64_MAX;
	l.attempts = 4;
	l.sends = 5;
	make_key(key, 0x11);
	make_key(other, 0x12);

	txn = wtxn(f);
	assert_int_equal(mfad_login_put(txn, f->st, key, &l), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	txn = rtxn(f);
	memset(&g, 0xee, sizeof(g));
	assert_int_equal(mfad_login_get(txn, f->st, key, &g), 0);
	assert_int_equal(mfad_login_get(txn, f->st, other, &g),
	    MSS_ERR_NOTFOUND);
	mfad_txn_abort(&txn);
	/* other's failed get may have cleared g: read again. */
	txn = rtxn(f);
	assert_int_equal(mfad_login_get(txn, f->st, key, &g), 0);
	mfad_txn_abort(&txn);
	assert_string_equal(g.user, "alice");
	assert_string_equal(g.rhost, l.rhost);
	assert_int_equal(g.caller_uid, 4294967294u);
	assert_int_equal(g.state, MFAD_LOGIN_VERIFIED);
	assert_memory_equal(g.devhash, l.devhash, MFAD_KEY_LEN);
	assert_memory_equal(g.codehash, l.codehash, MFAD_KEY_LEN);
	assert_true(g.verified == UINT64_MAX);
	assert_memory_equal(&g, &l, sizeof(l));

	/* An update replaces it. */
	l.attempts = 5;
	l.state = MFAD_LOGIN_DEAD;
	txn = wtxn(f);
	assert_int_equal(mfad_login_put(txn, f->st, key, &l), 0);
	assert_int_equal(mfad_login_get(txn, f->st, key, &g), 0);
	assert_int_equal(g.attempts, 5);
	assert_int_equal(g.state, MFAD_LOGIN_DEAD);
	assert_int_equal(mfad_login_del(txn, f->st, key), 0);
	assert_int_equal(mfad_login_get(txn, f->st, key, &g),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_login_del(txn, f->st, key), MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_int_equal(db_entries(f, f->st->logins), 0);
}

/* Devices (rule 16) */

struct devs {
	uint8_t			keys[8][MFAD_KEY_LEN];
	struct mfad_device	d[8];
	size_t			n;
};

static int
collect_dev(const uint8_t *key, const struct mfad_device *d, void *arg)
{
	struct devs *ds = arg;

	assert_true(ds->n < 8);
	memcpy(ds->keys[ds->n], key, MFAD_KEY_LEN);
	ds->d[ds->n++] = *d;
	return 0;
}

static size_t
list_devs(struct fix *f, const char *user, struct devs *ds)
{
	struct mfad_txn *txn = rtxn(f);

	memset(ds, 0, sizeof(*ds));
	assert_int_equal(mfad_device_list(txn, f->st, user, collect_dev, ds),
	    0);
	mfad_txn_abort(&txn);
	return ds->n;
}

static int
has_key(const struct devs *ds, const uint8_t key[MFAD_KEY_LEN])
{
	size_t i;

	for (i = 0; i < ds->n; i++)
		if (memcmp(ds->keys[i], key, MFAD_KEY_LEN) == 0)
			return 1;
	return 0;
}

static void
test_device_put_get_list_del(void **state)
{
	struct fix *f = *state;
	struct mfad_device d, g;
	struct devs ds;
	uint8_t k1[MFAD_KEY_LEN], k2[MFAD_KEY_LEN], kb[MFAD_KEY_LEN];
	struct mfad_txn *txn;

	make_key(k1, 1);
	make_key(k2, 2);
	make_key(kb, 3);
	assert_int_equal(list_devs(f, "alice", &ds), 0);

	txn = wtxn(f);
	make_device(&d, "alice", 5000);
	snprintf(d.service, sizeof(d.service), "login");
	assert_int_equal(mfad_device_put(txn, f->st, k1, &d), 0);
	make_device(&d, "alice", 6000);
	assert_int_equal(mfad_device_put(txn, f->st, k2, &d), 0);
	make_device(&d, "bob", 7000);
	assert_int_equal(mfad_device_put(txn, f->st, kb, &d), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	txn = rtxn(f);
	memset(&g, 0xee, sizeof(g));
	assert_int_equal(mfad_device_get(txn, f->st, "alice", k1, &g), 0);
	mfad_txn_abort(&txn);
	make_device(&d, "alice", 5000);
	snprintf(d.service, sizeof(d.service), "login");
	assert_memory_equal(&g, &d, sizeof(d));

	assert_int_equal(list_devs(f, "alice", &ds), 2);
	assert_true(has_key(&ds, k1));
	assert_true(has_key(&ds, k2));
	assert_false(has_key(&ds, kb));
	assert_int_equal(list_devs(f, "bob", &ds), 1);
	assert_true(has_key(&ds, kb));
	assert_int_equal(list_devs(f, "alic", &ds), 0);

	/* Putting a device again updates it, listed once. */
	txn = wtxn(f);
	make_device(&d, "alice", 9000);
	d.last_used = 8000;
	assert_int_equal(mfad_device_put(txn, f->st, k1, &d), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_int_equal(list_devs(f, "alice", &ds), 2);
	txn = rtxn(f);
	assert_int_equal(mfad_device_get(txn, f->st, "alice", k1, &g), 0);
	mfad_txn_abort(&txn);
	assert_true(g.expires == 9000);
	assert_true(g.last_used == 8000);

	/* Delete one. */
	txn = wtxn(f);
	assert_int_equal(mfad_device_del(txn, f->st, "alice", k1), 0);
	assert_int_equal(mfad_device_del(txn, f->st, "alice", k1),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_device_get(txn, f->st, "alice", k1, &g),
	    MSS_ERR_NOTFOUND);
	/* Found only under its own user. */
	assert_int_equal(mfad_device_get(txn, f->st, "alice", kb, &g),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_device_del(txn, f->st, "alice", kb),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_device_get(txn, f->st, "", kb, &g),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_int_equal(list_devs(f, "alice", &ds), 1);
	assert_true(has_key(&ds, k2));
	assert_int_equal(list_devs(f, "bob", &ds), 1);
	assert_int_equal(db_entries(f, f->st->devices), 2);
}

static void
test_device_revoke_all(void **state)
{
	struct fix *f = *state;
	struct mfad_device d, g;
	struct devs ds;
	uint8_t key[MFAD_KEY_LEN], kb[MFAD_KEY_LEN];
	unsigned i, n = 99;
	struct mfad_txn *txn;

	txn = wtxn(f);
	for (i = 0; i < 5; i++) {
		make_key(key, (unsigned char)(0x20 + i));
		make_device(&d, "alice", 5000 + i);
		assert_int_equal(mfad_device_put(txn, f->st, key, &d), 0);
	}
	make_key(kb, 0x40);
	make_device(&d, "bob", 5000);
	assert_int_equal(mfad_device_put(txn, f->st, kb, &d), 0);
	/* Another user whose name has alice as a prefix. */
	make_key(key, 0x41);
	make_device(&d, "alice2", 5000);
	assert_int_equal(mfad_device_put(txn, f->st, key, &d), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	txn = wtxn(f);
	assert_int_equal(mfad_device_revoke_all(txn, f->st, "alice", &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	assert_int_equal(list_devs(f, "alice", &ds), 0);
	txn = rtxn(f);
	for (i = 0; i < 5; i++) {
		make_key(key, (unsigned char)(0x20 + i));
		assert_int_equal(mfad_device_get(txn, f->st, "alice", key,
		    &g), MSS_ERR_NOTFOUND);
	}
	assert_int_equal(mfad_device_get(txn, f->st, "bob", kb, &g), 0);
	assert_string_equal(g.user, "bob");
	mfad_txn_abort(&txn);
	assert_int_equal(list_devs(f, "bob", &ds), 1);
	assert_int_equal(list_devs(f, "alice2", &ds), 1);
	assert_int_equal(db_entries(f, f->st->devices), 2);

	/* Nothing left to revoke: zero, not an error. */
	txn = wtxn(f);
	n = 99;
	assert_int_equal(mfad_device_revoke_all(txn, f->st, "alice", &n), 0);
	assert_int_equal(n, 0);
	n = 99;
	assert_int_equal(mfad_device_revoke_all(txn, f->st, "nobody", &n), 0);
	assert_int_equal(n, 0);
	mfad_txn_abort(&txn);
}

/* The last login of a device login is its device's last use, and stays
 * in the account when the device goes: revoked, all revoked, expired. */
static uint64_t
last_login_of(struct fix *f, const char *user)
{
	struct mfad_txn *txn = rtxn(f);
	struct mfad_acct a;

	assert_int_equal(mfad_acct_get(txn, f->st, user, &a), 0);
	mfad_txn_abort(&txn);
	return a.last_login;
}

static void
put_device_used(struct fix *f, const char *user, unsigned char tag,
    uint64_t expires, uint64_t last_used)
{
	struct mfad_txn *txn = wtxn(f);
	struct mfad_device d;
	uint8_t key[MFAD_KEY_LEN];

	make_key(key, tag);
	make_device(&d, user, expires);
	d.last_used = last_used;
	assert_int_equal(mfad_device_put(txn, f->st, key, &d), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
}

static void
test_device_gone_keeps_last_use(void **state)
{
	const uint64_t now = 1700000000;
	struct fix *f = *state;
	struct mfad_txn *txn;
	uint8_t key[MFAD_KEY_LEN];
	unsigned n;

	assert_true(mfad_device_keeps_last_login(f->st));
	put_acct(f, "alice", "alice@example.org");
	put_acct(f, "bob", "bob@example.org");
	put_device_used(f, "alice", 0x71, now + 86400, now - 300);
	put_device_used(f, "alice", 0x72, now + 86400, now - 900);
	put_device_used(f, "alice", 0x73, now + 86400, now - 600);
	put_device_used(f, "bob", 0x74, now - 1, now - 50);
	put_device_used(f, "bob", 0x75, now + 86400, now - 70);
	assert_true(last_login_of(f, "alice") == 0);

	/* One revoked: its last use is kept. */
	txn = wtxn(f);
	make_key(key, 0x71);
	assert_int_equal(mfad_device_del(txn, f->st, "alice", key), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_true(last_login_of(f, "alice") == now - 300);
	/* All revoked: the latest of theirs, never an earlier time. */
	txn = wtxn(f);
	assert_int_equal(mfad_device_revoke_all(txn, f->st, "alice", &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_true(last_login_of(f, "alice") == now - 300);
	/* Expired and swept: its last use is kept; the live one stays. */
	txn = wtxn(f);
	assert_int_equal(mfad_store_sweep(txn, f->st, now, 0, &n), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_true(last_login_of(f, "bob") == now - 50);
	/* A device whose account is gone goes alone. */
	put_device_used(f, "carol", 0x76, now - 1, now - 10);
	txn = wtxn(f);
	assert_int_equal(mfad_store_sweep(txn, f->st, now, 0, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_int_equal(db_entries(f, f->st->devices), 1);
}

/* Outbox */

static void
make_msg(struct mfad_outmsg *m, uint64_t created, uint64_t next_try,
    unsigned char *sealed, size_t len)
{
	memset(m, 0, sizeof(*m));
	m->created = created;
	m->expires = created + 3600;
	m->next_try = next_try;
	m->kind = 1;
	snprintf(m->user, sizeof(m->user), "alice");
	snprintf(m->to, sizeof(m->to), "alice@example.com");
	m->sealed = sealed;
	m->sealed_len = len;
}

static void
test_outbox_put_get_update_del(void **state)
{
	struct fix *f = *state;
	struct mfad_outmsg m, g;
	unsigned char sealed[300];
	uint64_t id, id2;
	struct mfad_txn *txn;

	randombytes_buf(sealed, sizeof(sealed));
	make_msg(&m, 1700000000, 1700000000, sealed, sizeof(sealed));
	m.tries = 2;
	m.has_login = 1;
	memset(m.login, 0x7c, sizeof(m.login));
	snprintf(m.last_error, sizeof(m.last_error), "451 try later");

	txn = wtxn(f);
	assert_int_equal(mfad_outbox_put(txn, f->st, &m, &id), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	txn = rtxn(f);
	assert_int_equal(mfad_outbox_get(txn, f->st, id + 1, &g),
	    MSS_ERR_NOTFOUND);
	assert_null(g.sealed);
	assert_int_equal(mfad_outbox_get(txn, f->st, id, &g), 0);
	mfad_txn_abort(&txn);
	assert_true(g.created == m.created);
	assert_true(g.expires == m.expires);
	assert_true(g.next_try == m.next_try);
	assert_int_equal(g.tries, 2);
	assert_int_equal(g.kind, 1);
	assert_string_equal(g.user, "alice");
	assert_string_equal(g.to, "alice@example.com");
	assert_string_equal(g.last_error, "451 try later");
	assert_int_equal(g.has_login, 1);
	assert_memory_equal(g.login, m.login, MFAD_KEY_LEN);
	assert_int_equal(g.sealed_len, sizeof(sealed));
	assert_non_null(g.sealed);
	assert_true(g.sealed != sealed);
	assert_memory_equal(g.sealed, sealed, sizeof(sealed));
	mfad_outmsg_clear(&g);
	assert_null(g.sealed);
	assert_int_equal(g.sealed_len, 0);

	/* Update: same id, new state. */
	m.tries = 3;
	m.next_try = 1700000600;
	snprintf(m.last_error, sizeof(m.last_error), "connection refused");
	txn = wtxn(f);
	assert_int_equal(mfad_outbox_update(txn, f->st, id, &m), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_int_equal(db_entries(f, f->st->outbox), 1);
	txn = rtxn(f);
	assert_int_equal(mfad_outbox_get(txn, f->st, id, &g), 0);
	mfad_txn_abort(&txn);
	assert_int_equal(g.tries, 3);
	assert_true(g.next_try == 1700000600);
	assert_string_equal(g.last_error, "connection refused");
	assert_memory_equal(g.sealed, sealed, sizeof(sealed));
	mfad_outmsg_clear(&g);

	/* An empty sealed part survives too. */
	make_msg(&m, 1, 1, NULL, 0);
	txn = wtxn(f);
	assert_int_equal(mfad_outbox_put(txn, f->st, &m, &id2), 0);
	assert_int_equal(mfad_outbox_get(txn, f->st, id2, &g), 0);
	assert_int_equal(g.sealed_len, 0);
	mfad_outmsg_clear(&g);

	/* Delete. */
	assert_int_equal(mfad_outbox_del(txn, f->st, id), 0);
	assert_int_equal(mfad_outbox_get(txn, f->st, id, &g),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_outbox_del(txn, f->st, id), MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_int_equal(db_entries(f, f->st->outbox), 1);
}

static void
test_outbox_ids_strictly_increase(void **state)
{
	struct fix *f = *state;
	struct mfad_outmsg m;
	unsigned char sealed[8] = { 0 };
	uint64_t id, prev = 0, far;
	struct mfad_txn *txn;
	int i;

	make_msg(&m, 1, 1, sealed, sizeof(sealed));
	/* Back to back: many land in the same microsecond. */
	txn = wtxn(f);
	for (i = 0; i < 200; i++) {
		assert_int_equal(mfad_outbox_put(txn, f->st, &m, &id), 0);
		assert_true(id > prev);
		prev = id;
	}
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_int_equal(db_entries(f, f->st->outbox), 200);

	/*
	 * A queued id ahead of the clock (the same microsecond, or a clock
	 * stepped back): the next id still comes after it, whatever the
	 * time. Deterministic, unlike racing the clock.
	 */
	far = prev + 1000000ULL * 86400 * 365 * 100;
	txn = wtxn(f);
	assert_int_equal(mfad_outbox_update(txn, f->st, far, &m), 0);
	assert_int_equal(mfad_outbox_put(txn, f->st, &m, &id), 0);
	assert_true(id == far + 1);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	txn = wtxn(f);
	assert_int_equal(mfad_outbox_put(txn, f->st, &m, &id), 0);
	assert_true(id == far + 2);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_int_equal(db_entries(f, f->st->outbox), 203);
}

static void
test_outbox_due(void **state)
{
	struct fix *f = *state;
	struct mfad_outmsg m;
	unsigned char sealed[4] = { 1, 2, 3, 4 };
	uint64_t ids[8], put[4], depth, oldest, next;
	size_t n;
	struct mfad_txn *txn;

	txn = rtxn(f);
	assert_int_equal(mfad_outbox_due(txn, f->st, 1000, ids, 8, &n, &depth,
	    &oldest, &next), 0);
	mfad_txn_abort(&txn);
	assert_int_equal(n, 0);
	assert_int_equal(depth, 0);
	assert_int_equal(oldest, 0);
	assert_int_equal(next, 0);

	txn = wtxn(f);
	make_msg(&m, 70, 100, sealed, sizeof(sealed));		/* due */
	assert_int_equal(mfad_outbox_put(txn, f->st, &m, &put[0]), 0);
	make_msg(&m, 50, 300, sealed, sizeof(sealed));		/* later */
	assert_int_equal(mfad_outbox_put(txn, f->st, &m, &put[1]), 0);
	make_msg(&m, 60, 200, sealed, sizeof(sealed));		/* due, = now */
	assert_int_equal(mfad_outbox_put(txn, f->st, &m, &put[2]), 0);
	make_msg(&m, 80, 250, sealed, sizeof(sealed));		/* later */
	assert_int_equal(mfad_outbox_put(txn, f->st, &m, &put[3]), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	txn = rtxn(f);
	assert_int_equal(mfad_outbox_due(txn, f->st, 200, ids, 8, &n, &depth,
	    &oldest, &next), 0);
	assert_int_equal(n, 2);
	assert_true(ids[0] == put[0]);
	assert_true(ids[1] == put[2]);
	assert_int_equal(depth, 4);
	assert_int_equal(oldest, 50);
	assert_int_equal(next, 250);

	/* max bounds the ids, not the depth. */
	ids[1] = 0;
	assert_int_equal(mfad_outbox_due(txn, f->st, 200, ids, 1, &n, &depth,
	    &oldest, &next), 0);
	assert_int_equal(n, 1);
	assert_true(ids[0] == put[0]);
	assert_true(ids[1] == 0);
	assert_int_equal(depth, 4);

	/* Before anything is due. */
	assert_int_equal(mfad_outbox_due(txn, f->st, 99, ids, 8, &n, &depth,
	    &oldest, &next), 0);
	assert_int_equal(n, 0);
	assert_int_equal(next, 100);
	assert_int_equal(oldest, 50);

	/* All due. */
	assert_int_equal(mfad_outbox_due(txn, f->st, 300, ids, 8, &n, &depth,
	    &oldest, &next), 0);
	assert_int_equal(n, 4);
	assert_int_equal(next, 0);
	mfad_txn_abort(&txn);
}

/* The big-endian u64 keys of the outbox and the audit. */
static uint64_t
key_u64(const void *p)
{
	const unsigned char *b = p;
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static void
u64_key(uint64_t v, unsigned char k[8])
{
	int i;

	for (i = 7; i >= 0; i--) {
		k[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

/* Audit */

static void
make_audit(struct mfad_audit_rec *r, uint64_t time_us, const char *event)
{
	memset(r, 0, sizeof(*r));
	r->time_us = time_us;
	snprintf(r->event, sizeof(r->event), "%s", event);
	snprintf(r->user, sizeof(r->user), "alice");
	snprintf(r->service, sizeof(r->service), "sshd");
	snprintf(r->rhost, sizeof(r->rhost), "192.0.2.1");
	snprintf(r->result, sizeof(r->result), "ok");
}

static void
test_audit_put(void **state)
{
	struct fix *f = *state;
	struct mfad_audit_rec r;
	struct mfad_txn *txn;

	txn = wtxn(f);
	make_audit(&r, 5000000, "login");
	assert_int_equal(mfad_audit_put(txn, f->st, &r), 0);
	/* Two events in the same microsecond both stay. */
	make_audit(&r, 5000000, "code");
	assert_int_equal(mfad_audit_put(txn, f->st, &r), 0);
	make_audit(&r, 4000000, "reset");
	assert_int_equal(mfad_audit_put(txn, f->st, &r), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_int_equal(db_entries(f, f->st->audit), 3);
}

/* The events of one microsecond, newest first as the list reads them. */
struct same_us {
	unsigned	n;
	int		in_order;
};

static int
same_us_check(const struct mfad_audit_rec *a, void *arg)
{
	struct same_us *s = arg;
	char want[32];

	snprintf(want, sizeof(want), "ev%u", 299 - s->n);
	if (strcmp(a->event, want) != 0)
		s->in_order = 0;
	s->n++;
	return 0;
}

static void
test_audit_same_microsecond(void **state)
{
	struct fix *f = *state;
	struct same_us s = { 0, 1 };
	struct mfad_audit_rec r;
	struct mfad_txn *txn;
	unsigned i;
	int more;

	txn = wtxn(f);
	for (i = 0; i < 300; i++) {
		make_audit(&r, 7000000, "x");
		snprintf(r.event, sizeof(r.event), "ev%u", i);
		assert_int_equal(mfad_audit_put(txn, f->st, &r), 0);
	}
	assert_int_equal(mfad_txn_commit(&txn), 0);
	txn = rtxn(f);
	assert_int_equal(mfad_audit_list(txn, f->st, "", 0, 0, same_us_check,
	    &s, &more), 0);
	mfad_txn_abort(&txn);
	/* Every one stays, and they list in the order they came. */
	assert_int_equal(s.n, 300);
	assert_true(s.in_order);
}

/* Sweep */

/* The sweep in transactions of one record each, as mfad runs it in
 * small ones: the same result as the sweep in one. */
static void
sweep_in_pieces(struct fix *f, uint64_t now, uint64_t audit_before,
    unsigned *n)
{
	struct mfad_sweep_pos pos;
	struct mfad_txn *txn;
	unsigned steps = 0;

	memset(&pos, 0, sizeof(pos));
	*n = 0;
	while (pos.phase < MFAD_SWEEP_DONE) {
		txn = wtxn(f);
		assert_int_equal(mfad_store_sweep_step(txn, f->st, now,
		    audit_before, &pos, 1, n), 0);
		assert_int_equal(mfad_txn_commit(&txn), 0);
		assert_true(++steps < 100);
	}
}

static void
check_sweep(void **state, int pieces)
{
	const uint64_t now = 1700000000;
	struct fix *f = *state;
	struct mfad_login l;
	struct mfad_device d;
	struct mfad_audit_rec r;
	struct devs ds;
	uint8_t lo[MFAD_KEY_LEN], ll[MFAD_KEY_LEN], le[MFAD_KEY_LEN];
	uint8_t dold[MFAD_KEY_LEN], dlive[MFAD_KEY_LEN], dedge[MFAD_KEY_LEN];
	struct mfad_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	unsigned n = 99;

	make_key(lo, 0x51);
	make_key(ll, 0x52);
	make_key(le, 0x53);
	make_key(dold, 0x61);
	make_key(dlive, 0x62);
	make_key(dedge, 0x63);
	txn = wtxn(f);
	make_login(&l, "alice", now - 1);
	assert_int_equal(mfad_login_put(txn, f->st, lo, &l), 0);
	make_login(&l, "alice", now + 1);
	assert_int_equal(mfad_login_put(txn, f->st, ll, &l), 0);
	make_login(&l, "alice", now);	/* expires now: gone */
	assert_int_equal(mfad_login_put(txn, f->st, le, &l), 0);
	make_device(&d, "alice", now - 86400);
	assert_int_equal(mfad_device_put(txn, f->st, dold, &d), 0);
	make_device(&d, "alice", now + 86400);
	assert_int_equal(mfad_device_put(txn, f->st, dlive, &d), 0);
	make_device(&d, "alice", now);
	assert_int_equal(mfad_device_put(txn, f->st, dedge, &d), 0);
	/* Audit: cutoff at 1000 s; 999.999999 s goes, 1000 s stays. */
	make_audit(&r, 10ULL * 1000000, "old");
	assert_int_equal(mfad_audit_put(txn, f->st, &r), 0);
	make_audit(&r, 1000ULL * 1000000 - 1, "old");
	assert_int_equal(mfad_audit_put(txn, f->st, &r), 0);
	make_audit(&r, 1000ULL * 1000000, "new");
	assert_int_equal(mfad_audit_put(txn, f->st, &r), 0);
	make_audit(&r, now * 1000000, "new");
	assert_int_equal(mfad_audit_put(txn, f->st, &r), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	if (pieces)
		sweep_in_pieces(f, now, 1000, &n);
	else {
		txn = wtxn(f);
		assert_int_equal(mfad_store_sweep(txn, f->st, now, 1000, &n),
		    0);
		assert_int_equal(mfad_txn_commit(&txn), 0);
	}
	assert_int_equal(n, 2 + 2 + 2);

	txn = rtxn(f);
	assert_int_equal(mfad_login_get(txn, f->st, lo, &l),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_login_get(txn, f->st, le, &l),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_login_get(txn, f->st, ll, &l), 0);
	assert_true(l.expires == now + 1);
	assert_int_equal(mfad_device_get(txn, f->st, "alice", dold, &d),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_device_get(txn, f->st, "alice", dedge, &d),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_device_get(txn, f->st, "alice", dlive, &d), 0);
	/* The audit left is the two new records, in time order. */
	assert_int_equal(mdb_cursor_open(txn->mt, f->st->audit, &cur), 0);
	assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
	assert_true(k.mv_size >= 8);
	assert_true(key_u64(k.mv_data) == 1000ULL * 1000000);
	assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_NEXT), 0);
	assert_true(key_u64(k.mv_data) == now * 1000000);
	mdb_cursor_close(cur);
	mfad_txn_abort(&txn);
	assert_int_equal(db_entries(f, f->st->audit), 2);
	assert_int_equal(db_entries(f, f->st->logins), 1);
	assert_int_equal(list_devs(f, "alice", &ds), 1);
	assert_true(has_key(&ds, dlive));
	assert_int_equal(db_entries(f, f->st->devices), 1);

	/* A second sweep finds nothing. */
	txn = wtxn(f);
	assert_int_equal(mfad_store_sweep(txn, f->st, now, 1000, &n), 0);
	assert_int_equal(n, 0);
	mfad_txn_abort(&txn);
}

static void
test_sweep(void **state)
{
	check_sweep(state, 0);
}

static void
test_sweep_in_pieces(void **state)
{
	check_sweep(state, 1);
}

/* Durability and atomicity (rule 29) */

/* SECURITY 29: full sync; no flag that trades durability for speed. */
/* The empty-password path's throttle records: a round trip, and the
 * sweep takes them an hour after their last send, not before. */
static void
test_throttle_put_get_sweep(void **state)
{
	const uint64_t now = 1700000000;
	struct fix *f = *state;
	struct mfad_throttle_rec t, got;
	uint8_t old[MFAD_KEY_LEN], live[MFAD_KEY_LEN];
	struct mfad_txn *txn;
	unsigned n = 99;

	make_key(old, 0x71);
	make_key(live, 0x72);
	txn = wtxn(f);
	assert_int_equal(mfad_throttle_get(txn, f->st, old, &got),
	    MSS_ERR_NOTFOUND);
	memset(&t, 0, sizeof(t));
	t.nsends = 2;
	t.sends[0] = now - 7200;
	t.sends[1] = now - 3600;	/* an hour ago: gone */
	assert_int_equal(mfad_throttle_put(txn, f->st, old, &t), 0);
	t.sends[1] = now - 3599;
	assert_int_equal(mfad_throttle_put(txn, f->st, live, &t), 0);
	assert_int_equal(mfad_throttle_get(txn, f->st, live, &got), 0);
	assert_int_equal(got.nsends, 2);
	assert_true(got.sends[0] == now - 7200 && got.sends[1] == now - 3599);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	txn = wtxn(f);
	assert_int_equal(mfad_store_sweep(txn, f->st, now, 0, &n), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_int_equal(n, 1);
	txn = rtxn(f);
	assert_int_equal(mfad_throttle_get(txn, f->st, old, &got),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_throttle_get(txn, f->st, live, &got), 0);
	mfad_txn_abort(&txn);
}

static void
test_env_is_fully_synced(void **state)
{
	struct fix *f = *state;
	unsigned flags = 0;

	assert_int_equal(mdb_env_get_flags(f->st->env, &flags), 0);
	assert_int_equal(flags & (MDB_NOSYNC | MDB_NOMETASYNC | MDB_WRITEMAP |
	    MDB_MAPASYNC), 0);
}

static void
test_commit_survives_reopen(void **state)
{
	struct fix *f = *state;
	struct mfad_acct a;
	struct mfad_login l;
	uint8_t key[MFAD_KEY_LEN];
	struct mfad_txn *txn;

	make_key(key, 0x71);
	txn = wtxn(f);
	make_acct(&a, "alice", "alice@example.com");
	a.failures = 7;
	assert_int_equal(mfad_acct_put(txn, f->st, &a, NULL), 0);
	make_login(&l, "alice", 12345);
	l.state = MFAD_LOGIN_DONE;
	assert_int_equal(mfad_login_put(txn, f->st, key, &l), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	fix_reopen(f);
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	assert_int_equal(a.failures, 7);
	assert_int_equal(mfad_login_get(txn, f->st, key, &l), 0);
	assert_int_equal(l.state, MFAD_LOGIN_DONE);
	mfad_txn_abort(&txn);
	assert_owner(f, "alice@example.com", "alice");
}

static void
test_abort_leaves_nothing(void **state)
{
	struct fix *f = *state;
	struct mfad_outmsg m;
	struct mfad_device d;
	struct mfad_login l;
	struct mfad_acct a;
	uint8_t key[MFAD_KEY_LEN];
	uint64_t id, n;
	struct mfad_txn *txn;

	make_key(key, 0x72);
	txn = wtxn(f);
	make_acct(&a, "alice", "alice@example.com");
	assert_int_equal(mfad_acct_put(txn, f->st, &a, NULL), 0);
	make_login(&l, "alice", 12345);
	assert_int_equal(mfad_login_put(txn, f->st, key, &l), 0);
	make_device(&d, "alice", 12345);
	assert_int_equal(mfad_device_put(txn, f->st, key, &d), 0);
	make_msg(&m, 1, 1, NULL, 0);
	assert_int_equal(mfad_outbox_put(txn, f->st, &m, &id), 0);
	/* Visible inside the transaction... */
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	mfad_txn_abort(&txn);

	/* ...and nowhere after the abort, not even after a reopen. */
	fix_reopen(f);
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_login_get(txn, f->st, key, &l),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_device_get(txn, f->st, "alice", key, &d),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_outbox_get(txn, f->st, id, &m),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_acct_count(txn, f->st, &n), 0);
	assert_int_equal(n, 0);
	mfad_txn_abort(&txn);
	assert_no_owner(f, "alice@example.com");
	assert_int_equal(db_entries(f, f->st->emails), 0);
	assert_int_equal(db_entries(f, f->st->devices), 0);
	assert_int_equal(db_entries(f, f->st->outbox), 0);
}

/* Map full (rule 30): a clean error, and the store still opens. */

#define FILL_BATCH	20
#define FILL_MAX	200000

/*
 * The one idiom that ends a transaction: commit and abort both leave the
 * handle NULL, a failed commit included (LMDB has freed it), so the exit
 * label's abort is always safe; and a child of a group commit that a
 * handler aborts leaves nothing in the batch.
 */
static void
test_txn_end_idiom(void **state)
{
	struct fix *f = *state;
	struct mfad_acct a;
	char user[32], email[64];
	struct mfad_txn *batch = NULL, *txn;
	unsigned i;
	int r = 0;

	txn = wtxn(f);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_null(txn);
	mfad_txn_abort(&txn);		/* after a commit: a no-op */
	txn = rtxn(f);
	mfad_txn_abort(&txn);
	assert_null(txn);
	mfad_txn_abort(&txn);

	/* Children of a batch: the aborted one leaves no trace. */
	batch = wtxn(f);
	assert_int_equal(mfad_txn_begin_child(batch, &txn), 0);
	make_acct(&a, "kept", "kept@example.com");
	assert_int_equal(mfad_acct_put(txn, f->st, &a, NULL), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_int_equal(mfad_txn_begin_child(batch, &txn), 0);
	make_acct(&a, "dropped", "dropped@example.com");
	assert_int_equal(mfad_acct_put(txn, f->st, &a, NULL), 0);
	mfad_txn_abort(&txn);
	assert_int_equal(mfad_txn_commit(&batch), 0);
	assert_null(batch);
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "kept", &a), 0);
	assert_int_equal(mfad_acct_get(txn, f->st, "dropped", &a),
	    MSS_ERR_NOTFOUND);
	mfad_txn_abort(&txn);

	/* A commit that fails (the map filled up) still ends the handle. */
	txn = wtxn(f);
	for (i = 0; i < FILL_MAX && r == 0; i++) {
		snprintf(user, sizeof(user), "fill%06u", i);
		snprintf(email, sizeof(email), "%s@example.com", user);
		make_acct(&a, user, email);
		memset(a.pwhash, 'p', 200);
		r = mfad_acct_put(txn, f->st, &a, NULL);
	}
	assert_int_equal(r, MSS_ERR_MAPFULL);
	assert_int_not_equal(mfad_txn_commit(&txn), 0);
	assert_null(txn);
	mfad_txn_abort(&txn);
}

static void
test_map_full_fails_closed(void **state)
{
	struct fix *f = *state;
	struct mfad_acct a;
	char user[32], email[64];
	uint64_t n, committed = 0;
	unsigned batch, i;
	struct mfad_txn *txn;
	int r = 0;

	for (batch = 0; batch * FILL_BATCH < FILL_MAX; batch++) {
		txn = wtxn(f);
		for (i = 0; i < FILL_BATCH; i++) {
			snprintf(user, sizeof(user), "user%06u",
			    batch * FILL_BATCH + i);
			snprintf(email, sizeof(email), "%s@example.com",
			    user);
			make_acct(&a, user, email);
			memset(a.pwhash, 'p', 200);
			if ((r = mfad_acct_put(txn, f->st, &a, NULL)) != 0)
				break;
		}
		if (r != 0) {
			mfad_txn_abort(&txn);
			break;
		}
		/* A failed commit has freed the transaction. */
		if ((r = mfad_txn_commit(&txn)) != 0)
			break;
		committed += FILL_BATCH;
	}
	assert_int_equal(r, MSS_ERR_MAPFULL);
	assert_true(committed > 0);
	assert_true(committed < FILL_MAX);
	print_message("map full after %llu accounts\n",
	    (unsigned long long)committed);

	/* Reads go on in the full store; the failed batch left nothing. */
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "user000000", &a), 0);
	snprintf(user, sizeof(user), "user%06u", batch * FILL_BATCH);
	assert_int_equal(mfad_acct_get(txn, f->st, user, &a),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_acct_count(txn, f->st, &n), 0);
	assert_true(n == committed);
	mfad_txn_abort(&txn);

	/* And after a restart with the same map size. */
	fix_reopen(f);
	txn = rtxn(f);
	snprintf(user, sizeof(user), "user%06u", (unsigned)committed - 1);
	assert_int_equal(mfad_acct_get(txn, f->st, user, &a), 0);
	assert_string_equal(a.user, user);
	assert_int_equal(mfad_acct_count(txn, f->st, &n), 0);
	assert_true(n == committed);
	mfad_txn_abort(&txn);
	assert_owner(f, "user000000@example.com", "user000000");
}

/* Corrupt records read as MSS_ERR_STORE, never as data. */

static void
put_raw(struct fix *f, MDB_dbi dbi, const void *k, size_t klen,
    const void *v, size_t vlen)
{
	MDB_val key = { klen, (void *)k }, val = { vlen, (void *)v };
	struct mfad_txn *txn = wtxn(f);

	assert_int_equal(mdb_put(txn->mt, dbi, &key, &val, 0), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
}

/* A device record of alice's under key that does not read: the login's
 * lookup is a store error, and the record can still be deleted. */
static void
device_refused(struct fix *f, const unsigned char *key,
    const unsigned char *rec, size_t len)
{
	struct mfad_device got;
	struct mfad_txn *txn;

	put_raw(f, f->st->devices, "alice", 5, rec, len);
	txn = rtxn(f);
	assert_int_equal(mfad_device_get(txn, f->st, "alice", key, &got),
	    MSS_ERR_STORE);
	mfad_txn_abort(&txn);
	txn = wtxn(f);
	assert_int_equal(mfad_device_del(txn, f->st, "alice", key), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
}

/* Big-endian integers and four-byte-length strings of versions 1 to 4. */
static size_t
put_be(unsigned char *p, uint64_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	return n;
}

static size_t
put_s32(unsigned char *p, const char *s)
{
	size_t n = strlen(s);

	put_be(p, n, 4);
	memcpy(p + 4, s, n);
	return 4 + n;
}

/* a as a version 4 record (as the previous mfad wrote it), into p. */
static size_t
v4_acct_bytes(const struct mfad_acct *a, unsigned char *p)
{
	size_t l = 0;
	uint32_t i;

	p[l++] = 4;
	l += put_s32(p + l, a->user);
	l += put_s32(p + l, a->email);
	l += put_s32(p + l, a->lang);
	p[l++] = a->state;
	p[l++] = a->reenroll;
	l += put_s32(p + l, a->pwhash);
	l += put_be(p + l, a->created, 8);
	l += put_be(p + l, a->enrolled, 8);
	l += put_be(p + l, a->last_login, 8);
	l += put_be(p + l, a->failures, 4);
	l += put_be(p + l, a->locked_until, 8);
	l += put_be(p + l, a->nsends, 4);
	for (i = 0; i < a->nsends; i++)
		l += put_be(p + l, a->sends[i], 8);
	l += put_be(p + l, a->throttle_noticed, 8);
	l += put_be(p + l, a->lock_noticed, 8);
	p[l++] = a->has_cur_login;
	if (a->has_cur_login) {
		memcpy(p + l, a->cur_login, MFAD_KEY_LEN);
		l += MFAD_KEY_LEN;
	}
	l += put_be(p + l, a->nrecovery, 4);
	for (i = 0; i < a->nrecovery; i++) {
		memcpy(p + l, a->recovery[i], MFAD_KEY_LEN);
		l += MFAD_KEY_LEN;
	}
	return l;
}

/* A good record of alice, as version 4 wrote it, into buf (alice is
 * in the store, as this version writes her). */
static size_t
good_acct_bytes(struct fix *f, unsigned char *buf, size_t len)
{
	struct mfad_acct a;

	put_acct(f, "alice", "alice@example.com");
	make_acct(&a, "alice", "alice@example.com");
	assert_true(len >= 1024);
	return v4_acct_bytes(&a, buf);
}

/* Version 2 added throttle_noticed, lock_noticed, has_cur_login and
 * cur_login; since version 4, cur_login is there only when
 * has_cur_login is set (not in good_acct_bytes). */
#define V2_ACCT_TAIL	(8 + 8 + 1)
/* Version 3 added the recovery codes: a u32 count (0 here), then as many
 * hashes. */
#define V3_ACCT_TAIL	4

static void
assert_acct_corrupt(struct fix *f, const void *v, size_t vlen)
{
	struct mfad_acct a;
	struct mfad_txn *txn;

	put_raw(f, f->st->accounts, "alice", 5, v, vlen);
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a),
	    MSS_ERR_STORE);
	mfad_txn_abort(&txn);
}

static void
test_corrupt_account_is_store_error(void **state)
{
	static const unsigned char junk[] = "\x01garbage garbage garbage";
	struct fix *f = *state;
	unsigned char good[1024], bad[1100], big[9000];
	struct mfad_acct a;
	size_t len;
	struct mfad_txn *txn;

	len = good_acct_bytes(f, good, sizeof(good));
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	mfad_txn_abort(&txn);

	/* Plain garbage, one byte, a wrong version (empty: see below). */
	assert_acct_corrupt(f, "garbage", 7);
	assert_acct_corrupt(f, junk, sizeof(junk) - 1);
	assert_acct_corrupt(f, "\x01", 1);
	memcpy(bad, good, len);
	bad[0] = 0;
	assert_acct_corrupt(f, bad, len);
	bad[0] = 0xff;
	assert_acct_corrupt(f, bad, len);
	/* Truncated by one byte, or a byte of trailing junk. */
	memcpy(bad, good, len);
	assert_acct_corrupt(f, bad, len - 1);
	bad[len] = 0;
	assert_acct_corrupt(f, bad, len + 1);
	/* nsends (the u32 before version 2's tail, with none sent) past
	 * MFAD_SENDS_MAX. */
	memcpy(bad, good, len);
	bad[len - V3_ACCT_TAIL - V2_ACCT_TAIL - 1] = MFAD_SENDS_MAX + 1;
	assert_acct_corrupt(f, bad, len);
	/* More recovery codes than MFAD_RECOVERY_MAX. */
	memcpy(bad, good, len);
	bad[len - 1] = MFAD_RECOVERY_MAX + 1;
	assert_acct_corrupt(f, bad, len);
	/* A count of one with no hash after it. */
	bad[len - 1] = 1;
	assert_acct_corrupt(f, bad, len);
	/* A user name with a NUL in it. */
	memcpy(bad, good, len);
	bad[1 + 4 + 2] = '\0';
	assert_acct_corrupt(f, bad, len);
	/* A user name length over MFAD_USER_MAX. */
	memcpy(bad, good, len);
	bad[1 + 2] = 0x01;	/* length 0x0105 */
	assert_acct_corrupt(f, bad, len);
	/* A record larger than any record. */
	memset(big, 0x01, sizeof(big));
	assert_acct_corrupt(f, big, sizeof(big));

	/* The good bytes read again: it was the corruption. */
	put_raw(f, f->st->accounts, "alice", 5, good, len);
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	assert_string_equal(a.user, "alice");
	mfad_txn_abort(&txn);
}

/* A record too short to hold its version byte is a store error, not a
 * "malformed message". */
static void
test_corrupt_account_empty_is_store_error(void **state)
{
	struct fix *f = *state;
	unsigned char good[1024];

	(void)good_acct_bytes(f, good, sizeof(good));
	assert_acct_corrupt(f, "", 0);
}

static void
test_corrupt_account_fails_list(void **state)
{
	struct fix *f = *state;
	struct names nm;
	struct mfad_txn *txn;
	int more;

	put_acct(f, "aaron", "aaron@example.com");
	put_raw(f, f->st->accounts, "bob", 3, "\x01garbage", 8);
	put_acct(f, "carol", "carol@example.com");
	memset(&nm, 0, sizeof(nm));
	txn = rtxn(f);
	assert_int_equal(mfad_acct_list(txn, f->st, "", 10, collect, &nm,
	    &more), MSS_ERR_STORE);
	mfad_txn_abort(&txn);
	assert_int_equal(nm.n, 1);
	assert_string_equal(nm.v[0], "aaron");
}

/* A version 1 account (before the fields version 2 added) still reads,
 * with those fields zero: a store survives the upgrade. */
static void
test_account_v1_still_reads(void **state)
{
	struct fix *f = *state;
	unsigned char good[1024];
	struct mfad_acct a;
	size_t len;
	struct mfad_txn *txn;

	len = good_acct_bytes(f, good, sizeof(good));
	assert_int_equal(good[0], 4);
	/* Version 3: cur_login's 32 bytes even without one (zeros). */
	memmove(good + len - V3_ACCT_TAIL + MFAD_KEY_LEN,
	    good + len - V3_ACCT_TAIL, V3_ACCT_TAIL);
	memset(good + len - V3_ACCT_TAIL, 0, MFAD_KEY_LEN);
	len += MFAD_KEY_LEN;
	good[0] = 3;
	put_raw(f, f->st->accounts, "alice", 5, good, len);
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	assert_string_equal(a.email, "alice@example.com");
	assert_int_equal(a.has_cur_login, 0);
	mfad_txn_abort(&txn);
	/* Version 2: no recovery codes. */
	good[0] = 2;
	put_raw(f, f->st->accounts, "alice", 5, good, len - V3_ACCT_TAIL);
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	assert_int_equal(a.nrecovery, 0);
	mfad_txn_abort(&txn);
	len -= V3_ACCT_TAIL;
	good[0] = 1;
	put_raw(f, f->st->accounts, "alice", 5, good,
	    len - V2_ACCT_TAIL - MFAD_KEY_LEN);
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	assert_string_equal(a.email, "alice@example.com");
	assert_int_equal(a.has_cur_login, 0);
	assert_true(a.throttle_noticed == 0);
	mfad_txn_abort(&txn);
	/* Version 1 with version 2's tail is junk, not a guess. */
	put_raw(f, f->st->accounts, "alice", 5, good, len);
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a),
	    MSS_ERR_STORE);
	mfad_txn_abort(&txn);
}

/*
 * Version 4 keeps cur_login only when an account has one: 32 bytes less
 * for most of a large store's accounts. It reads back either way, and a
 * version 3 record rewritten by mfad_acct_put becomes version 4.
 */
static void
test_account_v4_cur_login_only_when_set(void **state)
{
	struct fix *f = *state;
	unsigned char without[1024], with[1024], bad[1024];
	MDB_val key = { 5, (void *)"alice" }, val;
	struct mfad_acct a, b;
	size_t lw, l;
	struct mfad_txn *txn;

	lw = good_acct_bytes(f, without, sizeof(without));
	assert_int_equal(without[0], 4);
	assert_int_equal(without[lw - V3_ACCT_TAIL - 1], 0);

	make_acct(&a, "alice", "alice@example.com");
	a.has_cur_login = 1;
	memset(a.cur_login, 0xa5, MFAD_KEY_LEN);
	l = v4_acct_bytes(&a, with);
	assert_int_equal(l, lw + MFAD_KEY_LEN);
	put_raw(f, f->st->accounts, "alice", 5, with, l);
	txn = rtxn(f);
	memset(&b, 0xee, sizeof(b));
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &b), 0);
	mfad_txn_abort(&txn);
	assert_memory_equal(&a, &b, sizeof(a));

	/* has_cur_login other than 0 or 1 is junk. */
	memcpy(bad, without, lw);
	bad[lw - V3_ACCT_TAIL - 1] = 2;
	assert_acct_corrupt(f, bad, lw);
	/* Set, but without its 32 bytes. */
	bad[lw - V3_ACCT_TAIL - 1] = 1;
	assert_acct_corrupt(f, bad, lw);
	/* Not set, with 32 bytes after it. */
	memcpy(bad, with, l);
	bad[l - V3_ACCT_TAIL - MFAD_KEY_LEN - 1] = 0;
	assert_acct_corrupt(f, bad, l);

	/* A version 3 record (cur_login always there) rewritten is
	 * version 5, and shorter. */
	memcpy(bad, with, l);
	bad[0] = 3;
	bad[l - V3_ACCT_TAIL - MFAD_KEY_LEN - 1] = 0;
	memset(bad + l - V3_ACCT_TAIL - MFAD_KEY_LEN, 0, MFAD_KEY_LEN);
	put_raw(f, f->st->accounts, "alice", 5, bad, l);
	txn = wtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &b), 0);
	assert_int_equal(b.has_cur_login, 0);
	assert_int_equal(mfad_acct_put(txn, f->st, &b, b.email), 0);
	assert_int_equal(mdb_get(txn->mt, f->st->accounts, &key, &val), 0);
	assert_true(val.mv_size < lw);
	assert_int_equal(((const unsigned char *)val.mv_data)[0], 5);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	mfad_acct_wipe(&a);
	mfad_acct_wipe(&b);
}

/* The stored bytes of user's account. */
static size_t
stored_acct(struct fix *f, const char *user, unsigned char *buf, size_t len)
{
	MDB_val key = { strlen(user), (void *)user }, val;
	struct mfad_txn *txn = rtxn(f);

	assert_int_equal(mdb_get(txn->mt, f->st->accounts, &key, &val), 0);
	assert_true(val.mv_size <= len);
	memcpy(buf, val.mv_data, val.mv_size);
	mfad_txn_abort(&txn);
	return val.mv_size;
}

static int
has_bytes(const unsigned char *p, size_t len, const void *s, size_t n)
{
	size_t i;

	for (i = 0; i + n <= len; i++)
		if (memcmp(p + i, s, n) == 0)
			return 1;
	return 0;
}

/*
 * Version 5: no user (the key holds it), one-byte string lengths, the
 * argon2id hash as its costs and raw bytes, variable-length integers.
 * Every field reads back as written, and the record is less than half
 * of version 4's for an imported account.
 */
static void
test_account_v5_compact(void **state)
{
	struct fix *f = *state;
	unsigned char v4[8192], v5[8192];
	struct mfad_acct a, b;
	struct mfad_txn *txn;
	size_t l4, l5;
	uint32_t i;

	make_acct(&a, "u0000042", "someone@example.org");
	assert_int_equal(crypto_pwhash_str(a.pwhash, "pw", 2,
	    crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN), 0);
	a.state = MFAD_ACCT_ACTIVE;
	txn = wtxn(f);
	assert_int_equal(mfad_acct_put(txn, f->st, &a, NULL), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	l5 = stored_acct(f, a.user, v5, sizeof(v5));
	l4 = v4_acct_bytes(&a, v4);
	assert_int_equal(v5[0], 5);
	assert_false(has_bytes(v5, l5, a.user, strlen(a.user)));
	assert_false(has_bytes(v5, l5, "argon2id", 8));
	assert_true(l5 * 2 < l4);
	txn = rtxn(f);
	memset(&b, 0xee, sizeof(b));
	assert_int_equal(mfad_acct_get(txn, f->st, a.user, &b), 0);
	mfad_txn_abort(&txn);
	assert_memory_equal(&a, &b, sizeof(a));

	/* Every field set, the largest values included. */
	a.reenroll = 1;
	a.state = MFAD_ACCT_LOCKED;
	a.created = UINT64_MAX;
	a.enrolled = 0x80;
	a.last_login = 0x7f;
	a.failures = UINT32_MAX;
	a.locked_until = 1ULL << 63;
	a.nsends = MFAD_SENDS_MAX;
	for (i = 0; i < MFAD_SENDS_MAX; i++)
		a.sends[i] = (1ULL << (i % 64)) - 1;
	a.throttle_noticed = 1700000001;
	a.lock_noticed = 1;
	a.has_cur_login = 1;
	memset(a.cur_login, 0x5a, MFAD_KEY_LEN);
	a.nrecovery = MFAD_RECOVERY_MAX;
	for (i = 0; i < MFAD_RECOVERY_MAX; i++)
		memset(a.recovery[i], (int)i, MFAD_KEY_LEN);
	txn = wtxn(f);
	assert_int_equal(mfad_acct_put(txn, f->st, &a, a.email), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	txn = rtxn(f);
	memset(&b, 0xee, sizeof(b));
	assert_int_equal(mfad_acct_get(txn, f->st, a.user, &b), 0);
	mfad_txn_abort(&txn);
	assert_memory_equal(&a, &b, sizeof(a));

	/* The same account as version 4 wrote it reads the same. */
	l4 = v4_acct_bytes(&a, v4);
	put_raw(f, f->st->accounts, a.user, strlen(a.user), v4, l4);
	txn = rtxn(f);
	memset(&b, 0xee, sizeof(b));
	assert_int_equal(mfad_acct_get(txn, f->st, a.user, &b), 0);
	mfad_txn_abort(&txn);
	assert_memory_equal(&a, &b, sizeof(a));
	mfad_acct_wipe(&a);
	mfad_acct_wipe(&b);
}

/* Writes pw as alice's hash and reads it back: the same string, byte
 * for byte; compact tells whether the record kept it as raw bytes. */
static void
pw_round_trip(struct fix *f, const char *pw, int compact)
{
	unsigned char raw[1024];
	struct mfad_acct a, b;
	struct mfad_txn *txn;
	size_t l;

	make_acct(&a, "alice", "alice@example.com");
	memset(a.pwhash, 0, sizeof(a.pwhash));
	snprintf(a.pwhash, sizeof(a.pwhash), "%s", pw);
	assert_string_equal(a.pwhash, pw);
	txn = wtxn(f);
	assert_int_equal(mfad_acct_put(txn, f->st, &a, NULL), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	l = stored_acct(f, "alice", raw, sizeof(raw));
	if (pw[0] != '\0')
		assert_int_equal(has_bytes(raw, l, pw, strlen(pw)), !compact);
	txn = rtxn(f);
	memset(&b, 0xee, sizeof(b));
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &b), 0);
	mfad_txn_abort(&txn);
	assert_string_equal(b.pwhash, pw);
	assert_memory_equal(&a, &b, sizeof(a));
}

static void
test_account_v5_pwhash_forms(void **state)
{
	static const char *odd[] = {
		"",
		"!",
		"*LOCKED*",
		"{ARGON2}$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
		    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		/* argon2i, another version, the costs in another order */
		"$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
		    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		"$argon2id$v=16$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
		    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		"$argon2id$v=19$t=1,m=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
		    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		/* a leading zero, a sign, a cost past 32 bits */
		"$argon2id$v=19$m=08,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
		    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		"$argon2id$v=19$m=+8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
		    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		"$argon2id$v=19$m=8,t=1,p=00$c2FsdHNhbHRzYWx0c2FsdA$"
		    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		"$argon2id$v=19$m=4294967296,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
		    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		/* a salt of 8 bytes, a hash of 16, padding, another
		 * alphabet, bits past the end, a trailing byte */
		"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$"
		    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
		    "aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA==$"
		    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
		    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",
		"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2F-dA$"
		    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdB$"
		    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
		    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2h",
		"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
		    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g\n",
		"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
		    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g$",
		"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$",
		"$argon2id$v=19$m=8,t=1,p=1$$",
		"$argon2id$v=19$m=,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
		    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		"$argon2id$",
	};
	struct mfad_argon2_arena arena = { NULL, 0 };
	struct fix *f = *state;
	char pw[MFAD_HASH_MAX], longest[MFAD_HASH_MAX];
	size_t i;

	/* libsodium's own strings, at several costs. */
	for (i = 0; i < 4; i++) {
		assert_int_equal(crypto_pwhash_str(pw, "secret", 6,
		    crypto_pwhash_OPSLIMIT_MIN + i,
		    crypto_pwhash_MEMLIMIT_MIN << i), 0);
		pw_round_trip(f, pw, 1);
	}
	/* mfad's own strings (mfad_argon2_hash) have libsodium's form. */
	for (i = 0; i < 2; i++) {
		assert_int_equal(mfad_argon2_hash(&arena, 1 + i,
		    (size_t)8192 << i, "secret", 6, pw, sizeof(pw)), 0);
		pw_round_trip(f, pw, 1);
	}
	mfad_argon2_arena_free(&arena);
	/* The canonical form of costs libsodium would not pick. */
	pw_round_trip(f, "$argon2id$v=19$m=4294967295,t=0,p=255$"
	    "c2FsdHNhbHRzYWx0c2FsdA$"
	    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", 1);
	for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		pw_round_trip(f, odd[i], 0);
	memset(longest, '$', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	pw_round_trip(f, longest, 0);
}

/* A version 5 record of alice built by hand: email "a", lang "en", the
 * hash "" (text), created 1, nothing else; corruptions of it. */
static const unsigned char v5_min[] = {
	5, 1, 'a', 2, 'e', 'n', 0, 0, 0, 0,
	1, 0, 0, 0, 0, 0,		/* created .. nsends */
	0, 0, 0, 0			/* notices, has_cur_login, nrecovery */
};

static void
test_account_v5_corrupt(void **state)
{
	struct fix *f = *state;
	unsigned char bad[sizeof(v5_min) + 64];
	struct mfad_acct a;
	struct mfad_txn *txn;

	put_raw(f, f->st->accounts, "alice", 5, v5_min, sizeof(v5_min));
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	mfad_txn_abort(&txn);
	assert_string_equal(a.user, "alice");
	assert_string_equal(a.email, "a");
	assert_string_equal(a.lang, "en");
	assert_true(a.created == 1);

	/* Short, or a byte of trailing junk. */
	assert_acct_corrupt(f, v5_min, sizeof(v5_min) - 1);
	memcpy(bad, v5_min, sizeof(v5_min));
	bad[sizeof(v5_min)] = 0;
	assert_acct_corrupt(f, bad, sizeof(v5_min) + 1);
	/* A language longer than its field, a NUL in the address. */
	memcpy(bad, v5_min, sizeof(v5_min));
	bad[3] = 4;
	assert_acct_corrupt(f, bad, sizeof(v5_min));
	bad[3] = 2;
	bad[2] = '\0';
	assert_acct_corrupt(f, bad, sizeof(v5_min));
	/* An unknown form of password hash. */
	memcpy(bad, v5_min, sizeof(v5_min));
	bad[8] = 2;
	assert_acct_corrupt(f, bad, sizeof(v5_min));
	/* The argon2id form cut short. */
	bad[8] = 1;
	assert_acct_corrupt(f, bad, sizeof(v5_min));
	/* created as a longer form of 1: 0x81 0x00. */
	memcpy(bad, v5_min, 10);
	bad[10] = 0x81;
	bad[11] = 0x00;
	memcpy(bad + 12, v5_min + 11, sizeof(v5_min) - 11);
	assert_acct_corrupt(f, bad, sizeof(v5_min) + 1);
	/* created past 64 bits: ten bytes, the last 0x02. */
	memcpy(bad, v5_min, 10);
	memset(bad + 10, 0xff, 9);
	bad[19] = 0x02;
	memcpy(bad + 20, v5_min + 11, sizeof(v5_min) - 11);
	assert_acct_corrupt(f, bad, sizeof(v5_min) + 9);
	/* failures past 32 bits. */
	memcpy(bad, v5_min, 13);
	memcpy(bad + 13, "\x80\x80\x80\x80\x10", 5);
	memcpy(bad + 18, v5_min + 14, sizeof(v5_min) - 14);
	assert_acct_corrupt(f, bad, sizeof(v5_min) + 4);
	/* More sends than MFAD_SENDS_MAX, has_cur_login 2, more recovery
	 * codes than MFAD_RECOVERY_MAX. */
	memcpy(bad, v5_min, sizeof(v5_min));
	bad[15] = MFAD_SENDS_MAX + 1;
	assert_acct_corrupt(f, bad, sizeof(v5_min));
	memcpy(bad, v5_min, sizeof(v5_min));
	bad[18] = 2;
	assert_acct_corrupt(f, bad, sizeof(v5_min));
	memcpy(bad, v5_min, sizeof(v5_min));
	bad[19] = MFAD_RECOVERY_MAX + 1;
	assert_acct_corrupt(f, bad, sizeof(v5_min));
}

/* Appends s with a four-byte big-endian length (version 1 strings). */
static size_t
put_str32(unsigned char *p, const char *s)
{
	size_t n = strlen(s);

	p[0] = 0;
	p[1] = 0;
	p[2] = 0;
	p[3] = (unsigned char)n;
	memcpy(p + 4, s, n);
	return 4 + n;
}

/*
 * Device records of version 2 give their strings a one-byte length:
 * 9 bytes less each. A version 1 record (as the previous mfad wrote
 * it) still reads, and is version 2 once written again; a version 2
 * string running past the record, or holding a NUL, is a store error.
 */
/*
 * The device layout before version 3 (devices: hash -> record with its
 * user; userdevs: user -> hashes), as an older mfad left it: written
 * straight into the store's environment, with the guard this layout
 * leaves in place of devices taken away.
 */
struct olddev {
	uint8_t			key[MFAD_KEY_LEN];
	struct mfad_device	d;
	int			version;	/* 1, 2, or 0: junk */
	int			noindex;	/* not in userdevs */
};

static size_t
old_device_bytes(const struct olddev *o, unsigned char *v)
{
	const struct mfad_device *d = &o->d;
	size_t l = 0, i, n;
	const char *s[3] = { d->user, d->kind, d->service };
	uint64_t t[3] = { d->created, d->expires, d->last_used };

	if (o->version == 0) {
		memcpy(v, "\x02junk", 5);
		return 5;
	}
	v[l++] = (unsigned char)o->version;
	for (i = 0; i < 3; i++) {
		n = strlen(s[i]);
		if (o->version == 1)
			l += put_str32(v + l, s[i]);
		else {
			v[l++] = (unsigned char)n;
			memcpy(v + l, s[i], n);
			l += n;
		}
	}
	for (i = 0; i < 3; i++) {
		for (n = 0; n < 8; n++)
			v[l + n] = (unsigned char)(t[i] >> (56 - 8 * n));
		l += 8;
	}
	return l;
}

static void
write_old_layout(struct fix *f, const struct olddev *o, size_t n)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi main, devs, idx;
	MDB_val k, v;
	unsigned char buf[512];
	size_t i;
	int rc;

	mfad_store_close(f->st);
	f->st = NULL;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(env, TEST_MAP_SIZE), 0);
	assert_int_equal(mdb_env_open(env, f->conf->database, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &main), 0);
	k.mv_size = 7;
	k.mv_data = "devices";
	rc = mdb_del(txn, main, &k, NULL);
	assert_true(rc == 0 || rc == MDB_NOTFOUND);
	assert_int_equal(mdb_dbi_open(txn, "devices", MDB_CREATE, &devs), 0);
	assert_int_equal(mdb_dbi_open(txn, "userdevs",
	    MDB_CREATE | MDB_DUPSORT, &idx), 0);
	for (i = 0; i < n; i++) {
		k.mv_size = MFAD_KEY_LEN;
		k.mv_data = (void *)o[i].key;
		v.mv_size = old_device_bytes(&o[i], buf);
		v.mv_data = buf;
		assert_int_equal(mdb_put(txn, devs, &k, &v, 0), 0);
		if (o[i].version == 0 || o[i].noindex)
			continue;
		k.mv_size = strlen(o[i].d.user);
		k.mv_data = (void *)o[i].d.user;
		v.mv_size = MFAD_KEY_LEN;
		v.mv_data = (void *)o[i].key;
		assert_int_equal(mdb_put(txn, idx, &k, &v, 0), 0);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* What an older mfad's open of its device sub-databases finds. */
static void
assert_old_layout_gone(struct fix *f)
{
	struct mfad_txn *txn = rtxn(f);
	MDB_dbi dbi;

	/* An older mfad opens devices with MDB_CREATE: refused. */
	assert_int_equal(mdb_dbi_open(txn->mt, "devices", MDB_CREATE, &dbi),
	    MDB_INCOMPATIBLE);
	assert_int_equal(mdb_dbi_open(txn->mt, "userdevs", 0, &dbi),
	    MDB_NOTFOUND);
	mfad_txn_abort(&txn);
}

static void
make_olddev(struct olddev *o, const char *user, unsigned char tag,
    int version)
{
	memset(o, 0, sizeof(*o));
	make_key(o->key, tag);
	o->key[1] = (unsigned char)(tag >> 8);
	snprintf(o->d.user, sizeof(o->d.user), "%s", user);
	snprintf(o->d.kind, sizeof(o->d.kind), "rhost");
	snprintf(o->d.service, sizeof(o->d.service), version == 1 ?
	    "sshd" : "a-service-name-of-sixty-three-bytes-exactly-in-a-stor"
	    "e-of-mfad");
	o->d.created = 1700000000 + tag;
	o->d.expires = 1702592000 + tag;
	o->d.last_used = 1700000500 + tag;
	o->version = version;
}

/* A new store holds the guard from the start: an older mfad refuses
 * it instead of finding no devices. */
static void
test_device_new_store_refuses_older_mfad(void **state)
{
	struct fix *f = *state;

	assert_old_layout_gone(f);
	fix_reopen(f);
	assert_old_layout_gone(f);
}

/* Versions 1 and 2 of the older layout move under their users at open,
 * read back field for field; junk is dropped; the old sub-databases go. */
static void
test_device_migration(void **state)
{
	struct fix *f = *state;
	struct olddev o[4];
	struct mfad_device got;
	struct devs ds;
	struct mfad_txn *txn;
	size_t i;

	make_olddev(&o[0], "alice", 0x31, 1);
	make_olddev(&o[1], "alice", 0x32, 2);
	make_olddev(&o[2], "bob", 0x33, 2);
	make_olddev(&o[3], "bob", 0x34, 0);
	o[2].noindex = 1;	/* moved all the same */
	write_old_layout(f, o, 4);
	assert_int_equal(mfad_store_open(f->conf, &f->st), 0);
	assert_old_layout_gone(f);

	txn = rtxn(f);
	for (i = 0; i < 3; i++) {
		memset(&got, 0xee, sizeof(got));
		assert_int_equal(mfad_device_get(txn, f->st, o[i].d.user,
		    o[i].key, &got), 0);
		assert_memory_equal(&got, &o[i].d, sizeof(got));
	}
	assert_int_equal(mfad_device_get(txn, f->st, "bob", o[3].key, &got),
	    MSS_ERR_NOTFOUND);
	mfad_txn_abort(&txn);
	assert_int_equal(db_entries(f, f->st->devices), 3);
	assert_int_equal(list_devs(f, "alice", &ds), 2);
	assert_int_equal(list_devs(f, "bob", &ds), 1);

	/* A second open has nothing more to do. */
	fix_reopen(f);
	assert_int_equal(db_entries(f, f->st->devices), 3);
	assert_old_layout_gone(f);
}

/*
 * A migration cut short (a crash between two of its transactions) left
 * some devices moved and the rest in the older layout: the next open
 * finishes it. Enough devices for several transactions of the move.
 */
static void
test_device_migration_resumes(void **state)
{
	enum { NOLD = 2500, NNEW = 300 };
	struct fix *f = *state;
	struct olddev *o;
	struct mfad_device got;
	struct devs ds;
	struct mfad_txn *txn;
	char user[16];
	size_t i;

	assert_non_null(o = calloc(NOLD + NNEW, sizeof(*o)));
	for (i = 0; i < NOLD + NNEW; i++) {
		snprintf(user, sizeof(user), "u%04zu", i / 3);
		make_olddev(&o[i], user, (unsigned char)(i & 0xff), 2);
		o[i].key[1] = (unsigned char)(i >> 8);
		o[i].key[2] = (unsigned char)i;
	}
	/* The moved ones, as the migration wrote them. */
	txn = wtxn(f);
	for (i = NOLD; i < NOLD + NNEW; i++)
		assert_int_equal(mfad_device_put(txn, f->st, o[i].key,
		    &o[i].d), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	write_old_layout(f, o, NOLD);
	assert_int_equal(mfad_store_open(f->conf, &f->st), 0);
	assert_old_layout_gone(f);
	assert_int_equal(db_entries(f, f->st->devices), NOLD + NNEW);
	txn = rtxn(f);
	for (i = 0; i < NOLD + NNEW; i += 7) {
		assert_int_equal(mfad_device_get(txn, f->st, o[i].d.user,
		    o[i].key, &got), 0);
		assert_memory_equal(&got, &o[i].d, sizeof(got));
	}
	mfad_txn_abort(&txn);
	assert_int_equal(list_devs(f, "u0000", &ds), 3);
	assert_int_equal(list_devs(f, "u0900", &ds), 3);
	free(o);
}

/* Version 3 records, under their user: strict like every record. */
static void
test_device_v3_corrupt(void **state)
{
	struct fix *f = *state;
	struct mfad_device d, got;
	struct devs ds;
	uint8_t key[MFAD_KEY_LEN];
	unsigned char bad[256], v3_times[6];
	MDB_val k = { 5, "alice" }, v;
	struct mfad_txn *txn;
	unsigned n = 0;
	size_t len;

	make_key(key, 0x31);
	make_device(&d, "alice", 5000);
	txn = wtxn(f);
	assert_int_equal(mfad_device_put(txn, f->st, key, &d), 0);
	assert_int_equal(mdb_get(txn->mt, f->st->devices, &k, &v), 0);
	/* hash, version 4, kind with a 1-byte length, service ("sshd")
	 * as a word, times (1000, 4000 later, 1500: two bytes each) */
	len = MFAD_KEY_LEN + 1 + 1 + 7 + 1 + 6;
	assert_int_equal(v.mv_size, len);
	assert_memory_equal(v.mv_data, key, MFAD_KEY_LEN);
	assert_int_equal(((unsigned char *)v.mv_data)[MFAD_KEY_LEN], 4);
	assert_int_equal(((unsigned char *)v.mv_data)[MFAD_KEY_LEN + 9],
	    0x85);
	memcpy(bad, v.mv_data, len);
	memcpy(v3_times, bad + MFAD_KEY_LEN + 10, 6);
	assert_int_equal(mfad_device_del(txn, f->st, "alice", key), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	/* The kind's length past the end of the record. */
	bad[MFAD_KEY_LEN + 1] = 200;
	device_refused(f, key, bad, len);
	/* A record of the older layout's versions has no place here. */
	bad[MFAD_KEY_LEN + 1] = 7;
	bad[MFAD_KEY_LEN] = 2;
	device_refused(f, key, bad, len);
	/* A word past the list, a word longer than its field (the 17
	 * bytes of "device_remembered" as a kind). */
	bad[MFAD_KEY_LEN] = 4;
	bad[MFAD_KEY_LEN + 9] = 0x80 + 19;
	device_refused(f, key, bad, len);
	bad[MFAD_KEY_LEN + 9] = 0x85;
	memmove(bad + MFAD_KEY_LEN + 2, bad + MFAD_KEY_LEN + 9,
	    len - MFAD_KEY_LEN - 9);
	bad[MFAD_KEY_LEN + 1] = 0x80 + 14;
	device_refused(f, key, bad, len - 7);
	/* The same with a word that fits ("rhost") reads. */
	bad[MFAD_KEY_LEN + 1] = 0x80;
	put_raw(f, f->st->devices, "alice", 5, bad, len - 7);
	txn = wtxn(f);
	assert_int_equal(mfad_device_get(txn, f->st, "alice", key, &got), 0);
	assert_string_equal(got.kind, "rhost");
	assert_string_equal(got.service, "sshd");
	assert_true(got.created == 1000 && got.expires == 5000 &&
	    got.last_used == 1500);
	assert_int_equal(mfad_device_del(txn, f->st, "alice", key), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	memcpy(bad + MFAD_KEY_LEN + 1, "\x07ssh-key\x85", 9);
	memcpy(bad + MFAD_KEY_LEN + 10, v3_times, 6);
	/* A time in a longer form than its shortest (1500: 0xdc 0x0b). */
	bad[len - 1] = 0x8b;
	bad[len] = 0x00;
	device_refused(f, key, bad, len + 1);
	/* A trailing byte. */
	bad[len - 1] = 0x0b;
	bad[len] = 0;
	put_raw(f, f->st->devices, "alice", 5, bad, len + 1);
	txn = rtxn(f);
	assert_int_equal(mfad_device_get(txn, f->st, "alice", key, &got),
	    MSS_ERR_STORE);
	mfad_txn_abort(&txn);
	/* The list stops at it too; the sweep takes it away. */
	txn = rtxn(f);
	memset(&ds, 0, sizeof(ds));
	assert_int_equal(mfad_device_list(txn, f->st, "alice", collect_dev,
	    &ds), MSS_ERR_STORE);
	mfad_txn_abort(&txn);
	txn = wtxn(f);
	assert_int_equal(mfad_store_sweep(txn, f->st, 1000, 0, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_int_equal(list_devs(f, "alice", &ds), 0);
}

/*
 * Version 4 keeps the times as variable-length integers. Version 3
 * duplicates (as the previous mfad wrote them) and version 4 ones live
 * under one user: each is found by its hash, listed in hash order,
 * swept when expired, and a version 3 one written again is version 4.
 */
static size_t
v3_device_bytes(const uint8_t key[MFAD_KEY_LEN], const struct mfad_device *d,
    unsigned char *p)
{
	size_t l = 0, n;

	memcpy(p, key, MFAD_KEY_LEN);
	l += MFAD_KEY_LEN;
	p[l++] = 3;
	p[l++] = (unsigned char)(n = strlen(d->kind));
	memcpy(p + l, d->kind, n);
	l += n;
	p[l++] = (unsigned char)(n = strlen(d->service));
	memcpy(p + l, d->service, n);
	l += n;
	l += put_be(p + l, d->created, 8);
	l += put_be(p + l, d->expires, 8);
	l += put_be(p + l, d->last_used, 8);
	return l;
}

static void
test_device_v3_v4_mixed(void **state)
{
	struct fix *f = *state;
	struct mfad_device d[4], got;
	uint8_t key[4][MFAD_KEY_LEN];
	unsigned char raw[256];
	MDB_val k = { 5, "alice" }, v;
	MDB_cursor *cur;
	struct devs ds;
	struct mfad_txn *txn;
	unsigned i, n = 0;
	size_t len;

	for (i = 0; i < 4; i++) {
		make_key(key[i], (unsigned char)(0x40 + i));
		make_device(&d[i], "alice", 5000 + i);
		d[i].kind[0] = (char)('a' + i);
	}
	/* Extremes of the times, as version 4 keeps them. */
	d[1].created = UINT64_MAX;
	d[1].expires = 3;
	d[1].last_used = 0;
	d[3].created = 1700000000;
	d[3].expires = 1700000000 + 365 * 86400ULL;
	d[3].last_used = UINT64_MAX;
	txn = wtxn(f);
	assert_int_equal(mfad_device_put(txn, f->st, key[1], &d[1]), 0);
	assert_int_equal(mfad_device_put(txn, f->st, key[3], &d[3]), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	/* 0x40 and 0x42 as version 3 duplicates, between them. */
	d[2].expires = 500;	/* expired by 1000 */
	len = v3_device_bytes(key[0], &d[0], raw);
	put_raw(f, f->st->devices, "alice", 5, raw, len);
	len = v3_device_bytes(key[2], &d[2], raw);
	put_raw(f, f->st->devices, "alice", 5, raw, len);

	txn = rtxn(f);
	for (i = 0; i < 4; i++) {
		memset(&got, 0xee, sizeof(got));
		assert_int_equal(mfad_device_get(txn, f->st, "alice", key[i],
		    &got), 0);
		assert_memory_equal(&got, &d[i], sizeof(got));
	}
	mfad_txn_abort(&txn);
	memset(&ds, 0, sizeof(ds));
	assert_int_equal(list_devs(f, "alice", &ds), 4);
	for (i = 0; i < 4; i++)
		assert_memory_equal(&ds.d[i], &d[i], sizeof(d[i]));

	/* The version 3 one written again is version 4, and shorter. */
	d[0].last_used = 4000;
	txn = wtxn(f);
	assert_int_equal(mfad_device_put(txn, f->st, key[0], &d[0]), 0);
	assert_int_equal(mdb_cursor_open(txn->mt, f->st->devices, &cur), 0);
	v.mv_size = MFAD_KEY_LEN;
	v.mv_data = key[0];
	assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH_RANGE), 0);
	assert_memory_equal(v.mv_data, key[0], MFAD_KEY_LEN);
	assert_int_equal(((unsigned char *)v.mv_data)[MFAD_KEY_LEN], 4);
	assert_true(v.mv_size < v3_device_bytes(key[0], &d[0], raw));
	mdb_cursor_close(cur);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	txn = rtxn(f);
	assert_int_equal(mfad_device_get(txn, f->st, "alice", key[0], &got),
	    0);
	assert_memory_equal(&got, &d[0], sizeof(got));
	mfad_txn_abort(&txn);

	/* The sweep takes the expired ones of either version: the version
	 * 3 one (500) and d[1] (3). */
	txn = wtxn(f);
	assert_int_equal(mfad_store_sweep(txn, f->st, 1000, 0, &n), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	assert_int_equal(n, 2);
	memset(&ds, 0, sizeof(ds));
	assert_int_equal(list_devs(f, "alice", &ds), 2);
	assert_memory_equal(&ds.d[0], &d[0], sizeof(d[0]));
	assert_memory_equal(&ds.d[1], &d[3], sizeof(d[3]));
}

/* Recovery codes: kept with the account, used once each, in any order. */
static void
test_account_recovery_codes(void **state)
{
	struct fix *f = *state;
	uint8_t h[3][MFAD_KEY_LEN], other[MFAD_KEY_LEN];
	struct mfad_acct a;
	struct mfad_txn *txn;

	put_acct(f, "alice", "alice@example.com");
	memset(h[0], 0x11, MFAD_KEY_LEN);
	memset(h[1], 0x22, MFAD_KEY_LEN);
	memset(h[2], 0x33, MFAD_KEY_LEN);
	memset(other, 0x44, MFAD_KEY_LEN);
	assert_int_equal(mfad_txn_begin(f->st, 0, &txn), 0);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	mfad_acct_recovery_set(&a, (const uint8_t (*)[MFAD_KEY_LEN])h, 3);
	assert_int_equal(mfad_acct_put(txn, f->st, &a, a.email), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	assert_int_equal(mfad_txn_begin(f->st, 0, &txn), 0);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	assert_int_equal(a.nrecovery, 3);
	assert_int_equal(mfad_acct_recovery_use(&a, other), MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_acct_recovery_use(&a, h[1]), 0);
	assert_int_equal(mfad_acct_recovery_use(&a, h[1]), MSS_ERR_NOTFOUND);
	assert_int_equal(a.nrecovery, 2);
	assert_int_equal(mfad_acct_put(txn, f->st, &a, a.email), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	mfad_txn_abort(&txn);
	assert_int_equal(a.nrecovery, 2);
	assert_int_equal(mfad_acct_recovery_use(&a, h[1]), MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_acct_recovery_use(&a, h[2]), 0);
	assert_int_equal(mfad_acct_recovery_use(&a, h[0]), 0);
	assert_int_equal(a.nrecovery, 0);
	assert_int_equal(mfad_acct_recovery_use(&a, h[0]), MSS_ERR_NOTFOUND);
	mfad_acct_recovery_set(&a, (const uint8_t (*)[MFAD_KEY_LEN])h, 2);
	mfad_acct_wipe(&a);
	assert_true(sodium_is_zero(a.recovery[0], MFAD_KEY_LEN));
}

/* The counter operations: each changes the stored account by its event
 * and hands the caller the counters as stored. */
static void
test_acct_recovery_take(void **state)
{
	struct fix *f = *state;
	uint8_t h[2][MFAD_KEY_LEN], other[MFAD_KEY_LEN];
	struct mfad_acct a, mine;
	struct mfad_txn *txn;

	put_acct(f, "alice", "alice@example.com");
	memset(h[0], 0x11, MFAD_KEY_LEN);
	memset(h[1], 0x22, MFAD_KEY_LEN);
	memset(other, 0x44, MFAD_KEY_LEN);
	txn = wtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	mfad_acct_recovery_set(&a, (const uint8_t (*)[MFAD_KEY_LEN])h, 2);
	assert_int_equal(mfad_acct_put(txn, f->st, &a, a.email), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	txn = wtxn(f);
	memset(&mine, 0, sizeof(mine));
	assert_int_equal(mfad_acct_recovery_take(txn, f->st, "alice", other,
	    &mine), MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_acct_recovery_take(txn, f->st, "alice", h[1],
	    &mine), 0);
	assert_int_equal(mine.nrecovery, 1);
	assert_memory_equal(mine.recovery[0], h[0], MFAD_KEY_LEN);
	assert_int_equal(mfad_acct_recovery_take(txn, f->st, "bob", h[0],
	    NULL), MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	/* Used once: a second take of the same code finds nothing. */
	txn = wtxn(f);
	assert_int_equal(mfad_acct_recovery_take(txn, f->st, "alice", h[1],
	    NULL), MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_acct_recovery_take(txn, f->st, "alice", h[0],
	    NULL), 0);
	assert_int_equal(mfad_acct_recovery_take(txn, f->st, "alice", h[0],
	    NULL), MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	mfad_txn_abort(&txn);
	assert_int_equal(a.nrecovery, 0);
	assert_string_equal(a.email, "alice@example.com");
	mfad_acct_wipe(&a);
	mfad_acct_wipe(&mine);
}

static void
test_acct_fail_add_and_clear(void **state)
{
	struct fix *f = *state;
	struct mfad_acct a, mine;
	struct mfad_txn *txn;
	char user[MFAD_USER_MAX + 1];

	put_acct(f, "alice", "alice@example.com");
	txn = wtxn(f);
	/* Failures without a lock, then one with a lock. */
	assert_int_equal(mfad_acct_fail_add(txn, f->st, "alice", 1000, 0,
	    NULL), 0);
	assert_int_equal(mfad_acct_fail_add(txn, f->st, "alice", 1001, 1600,
	    &mine), 0);
	assert_int_equal(mine.failures, 2);
	assert_int_equal(mine.locked_until, 1600);
	/* An earlier lock never replaces a later one. */
	assert_int_equal(mfad_acct_fail_add(txn, f->st, "alice", 1002, 1200,
	    &mine), 0);
	assert_int_equal(mine.failures, 3);
	assert_int_equal(mine.locked_until, 1600);
	/* A lock that ran out ends, and a failure without one keeps none. */
	assert_int_equal(mfad_acct_fail_add(txn, f->st, "alice", 1600, 0,
	    &mine), 0);
	assert_int_equal(mine.failures, 4);
	assert_int_equal(mine.locked_until, 0);
	assert_int_equal(mfad_acct_fail_add(txn, f->st, "alice", 1700, 9000,
	    NULL), 0);
	assert_int_equal(mfad_acct_notice_set(txn, f->st, "alice",
	    MFAD_NOTICE_LOCK, 1700, NULL), 0);
	assert_int_equal(mfad_acct_fail_add(txn, f->st, "bob", 1700, 0, NULL),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	mfad_txn_abort(&txn);
	assert_int_equal(a.failures, 5);
	assert_int_equal(a.locked_until, 9000);
	assert_int_equal(a.lock_noticed, 1700);

	/* A success or an unlock ends the streak, the lock and its notice;
	 * the address and its index stay. */
	txn = wtxn(f);
	assert_int_equal(mfad_acct_failures_clear(txn, f->st, "alice", &mine),
	    0);
	assert_int_equal(mine.failures, 0);
	assert_int_equal(mfad_acct_failures_clear(txn, f->st, "bob", NULL),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	assert_int_equal(mfad_acct_by_email(txn, f->st, "alice@example.com",
	    user, sizeof(user)), 0);
	mfad_txn_abort(&txn);
	assert_string_equal(user, "alice");
	assert_int_equal(a.failures, 0);
	assert_int_equal(a.locked_until, 0);
	assert_int_equal(a.lock_noticed, 0);
	mfad_acct_wipe(&a);
	mfad_acct_wipe(&mine);
}

/* A login's clear ends the failures, and the lock only when it ran out:
 * one that holds was set after the login's decision. */
static void
test_acct_login_clear_keeps_a_lock_that_holds(void **state)
{
	struct fix *f = *state;
	struct mfad_acct mine;
	struct mfad_txn *txn;

	put_acct(f, "alice", "alice@example.com");
	txn = wtxn(f);
	assert_int_equal(mfad_acct_fail_add(txn, f->st, "alice", 1000, 1600,
	    NULL), 0);
	assert_int_equal(mfad_acct_notice_set(txn, f->st, "alice",
	    MFAD_NOTICE_LOCK, 1000, NULL), 0);
	assert_int_equal(mfad_acct_login_clear(txn, f->st, "alice", 1500,
	    &mine), 0);
	assert_int_equal(mine.failures, 0);
	assert_int_equal(mine.locked_until, 1600);
	assert_int_equal(mine.lock_noticed, 1000);
	assert_int_equal(mfad_acct_fail_add(txn, f->st, "alice", 1500, 0,
	    NULL), 0);
	assert_int_equal(mfad_acct_login_clear(txn, f->st, "alice", 1600,
	    &mine), 0);
	assert_int_equal(mine.failures, 0);
	assert_int_equal(mine.locked_until, 0);
	assert_int_equal(mine.lock_noticed, 0);
	assert_int_equal(mfad_acct_login_clear(txn, f->st, "bob", 1600, NULL),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	mfad_acct_wipe(&mine);
}

static void
test_acct_send_add_prunes(void **state)
{
	struct fix *f = *state;
	struct mfad_acct a, mine;
	struct mfad_txn *txn;
	uint32_t i;

	put_acct(f, "alice", "alice@example.com");
	txn = wtxn(f);
	assert_int_equal(mfad_acct_send_add(txn, f->st, "alice", 10000, NULL),
	    0);
	assert_int_equal(mfad_acct_send_add(txn, f->st, "alice", 11000,
	    &mine), 0);
	assert_int_equal(mine.nsends, 2);
	/* The first leaves the hour: only the last two stay, in order. */
	assert_int_equal(mfad_acct_send_add(txn, f->st, "alice",
	    10000 + MFAD_SENDS_WINDOW, &mine), 0);
	assert_int_equal(mine.nsends, 2);
	assert_int_equal(mine.sends[0], 11000);
	assert_int_equal(mine.sends[1], 10000 + MFAD_SENDS_WINDOW);
	assert_int_equal(mfad_acct_send_add(txn, f->st, "bob", 1, NULL),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	/* A full list drops its oldest. */
	txn = wtxn(f);
	for (i = 0; i < MFAD_SENDS_MAX + 2; i++)
		assert_int_equal(mfad_acct_send_add(txn, f->st, "alice",
		    20000 + i, NULL), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	mfad_txn_abort(&txn);
	assert_int_equal(a.nsends, MFAD_SENDS_MAX);
	assert_int_equal(a.sends[0], 20002);
	assert_int_equal(a.sends[MFAD_SENDS_MAX - 1], 20000 + MFAD_SENDS_MAX +
	    1);
	mfad_acct_wipe(&a);
	mfad_acct_wipe(&mine);
}

static void
test_acct_sends_clear(void **state)
{
	struct fix *f = *state;
	struct mfad_acct a, mine;
	struct mfad_txn *txn;

	put_acct(f, "alice", "alice@example.com");
	txn = wtxn(f);
	assert_int_equal(mfad_acct_send_add(txn, f->st, "alice", 10000,
	    &mine), 0);
	assert_int_equal(mine.nsends, 1);
	assert_int_equal(mfad_acct_sends_clear(txn, f->st, "alice", &mine), 0);
	assert_int_equal(mine.nsends, 0);
	assert_int_equal(mfad_acct_sends_clear(txn, f->st, "bob", NULL),
	    MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	mfad_txn_abort(&txn);
	assert_int_equal(a.nsends, 0);
	assert_string_equal(a.email, "alice@example.com");
	mfad_acct_wipe(&a);
	mfad_acct_wipe(&mine);
}

static void
test_acct_notice_only_later(void **state)
{
	struct fix *f = *state;
	struct mfad_acct a, mine;
	struct mfad_txn *txn;

	put_acct(f, "alice", "alice@example.com");
	txn = wtxn(f);
	assert_int_equal(mfad_acct_notice_set(txn, f->st, "alice",
	    MFAD_NOTICE_THROTTLE, 5000, NULL), 0);
	assert_int_equal(mfad_acct_notice_set(txn, f->st, "alice",
	    MFAD_NOTICE_THROTTLE, 4000, &mine), 0);
	assert_int_equal(mine.throttle_noticed, 5000);
	assert_int_equal(mine.lock_noticed, 0);
	assert_int_equal(mfad_acct_notice_set(txn, f->st, "alice",
	    MFAD_NOTICE_LOCK, 3000, NULL), 0);
	assert_int_equal(mfad_acct_notice_set(txn, f->st, "alice",
	    MFAD_NOTICE_LOCK, 2000, NULL), 0);
	assert_int_equal(mfad_acct_notice_set(txn, f->st, "alice", 7, 9000,
	    NULL), MSS_ERR_STORE);
	assert_int_equal(mfad_acct_notice_set(txn, f->st, "bob",
	    MFAD_NOTICE_LOCK, 1, NULL), MSS_ERR_NOTFOUND);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a), 0);
	mfad_txn_abort(&txn);
	assert_int_equal(a.throttle_noticed, 5000);
	assert_int_equal(a.lock_noticed, 3000);
	mfad_acct_wipe(&a);
	mfad_acct_wipe(&mine);
}

static void
test_throttle_send_add(void **state)
{
	struct fix *f = *state;
	uint8_t key[MFAD_KEY_LEN];
	struct mfad_throttle_rec t;
	struct mfad_txn *txn;

	memset(key, 0x5a, sizeof(key));
	txn = wtxn(f);
	/* Absent: created with the one send. */
	assert_int_equal(mfad_throttle_send_add(txn, f->st, key, 10000, &t),
	    0);
	assert_int_equal(t.nsends, 1);
	assert_int_equal(mfad_throttle_send_add(txn, f->st, key, 11000, NULL),
	    0);
	assert_int_equal(mfad_throttle_send_add(txn, f->st, key,
	    10000 + MFAD_SENDS_WINDOW, NULL), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	txn = rtxn(f);
	assert_int_equal(mfad_throttle_get(txn, f->st, key, &t), 0);
	mfad_txn_abort(&txn);
	assert_int_equal(t.nsends, 2);
	assert_int_equal(t.sends[0], 11000);
	assert_int_equal(t.sends[1], 10000 + MFAD_SENDS_WINDOW);
}

/* The list refuses a record of an unknown version, as mfad_acct_get
 * does, instead of handing it to the callback as data. */
static void
test_corrupt_account_version_fails_list(void **state)
{
	struct fix *f = *state;
	unsigned char good[1024];
	struct mfad_acct a;
	struct names nm;
	size_t len;
	struct mfad_txn *txn;
	int more;

	len = good_acct_bytes(f, good, sizeof(good));
	good[0] = 6;	/* a version this build does not know */
	put_raw(f, f->st->accounts, "alice", 5, good, len);
	txn = rtxn(f);
	assert_int_equal(mfad_acct_get(txn, f->st, "alice", &a),
	    MSS_ERR_STORE);
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(mfad_acct_list(txn, f->st, "", 10, collect, &nm,
	    &more), MSS_ERR_STORE);
	mfad_txn_abort(&txn);
	assert_int_equal(nm.n, 0);
}

static void
test_corrupt_login_device_outbox_are_store_errors(void **state)
{
	struct fix *f = *state;
	struct mfad_outmsg m, good;
	struct mfad_device d;
	struct mfad_login l;
	uint8_t key[MFAD_KEY_LEN];
	unsigned char idk[8], sealed[16], raw[512];
	uint64_t id = 0x0102030405060708ULL;
	MDB_val k = { 8, idk }, v;
	struct mfad_txn *txn;
	size_t len;

	make_key(key, 0x77);
	u64_key(id, idk);
	put_raw(f, f->st->logins, key, sizeof(key), "\x01junk", 5);
	memcpy(raw, key, MFAD_KEY_LEN);
	memcpy(raw + MFAD_KEY_LEN, "\x03junk", 5);
	put_raw(f, f->st->devices, "alice", 5, raw, MFAD_KEY_LEN + 5);
	put_raw(f, f->st->outbox, idk, sizeof(idk), "\x01junk", 5);
	txn = rtxn(f);
	assert_int_equal(mfad_login_get(txn, f->st, key, &l), MSS_ERR_STORE);
	assert_int_equal(mfad_device_get(txn, f->st, "alice", key, &d),
	    MSS_ERR_STORE);
	assert_int_equal(mfad_outbox_get(txn, f->st, id, &m), MSS_ERR_STORE);
	assert_null(m.sealed);
	mfad_txn_abort(&txn);

	/* An outbox record whose sealed length runs past the data. */
	memset(sealed, 0x5e, sizeof(sealed));
	make_msg(&good, 1, 1, sealed, sizeof(sealed));
	txn = wtxn(f);
	assert_int_equal(mfad_outbox_put(txn, f->st, &good, &id), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);
	u64_key(id, idk);
	txn = rtxn(f);
	assert_int_equal(mdb_get(txn->mt, f->st->outbox, &k, &v), 0);
	assert_true(v.mv_size <= sizeof(raw));
	len = v.mv_size;
	memcpy(raw, v.mv_data, len);
	mfad_txn_abort(&txn);
	put_raw(f, f->st->outbox, idk, 8, raw, len - 1);
	txn = rtxn(f);
	assert_int_equal(mfad_outbox_get(txn, f->st, id, &m), MSS_ERR_STORE);
	assert_null(m.sealed);
	mfad_txn_abort(&txn);
	/* The same bytes whole read fine. */
	put_raw(f, f->st->outbox, idk, 8, raw, len);
	txn = rtxn(f);
	assert_int_equal(mfad_outbox_get(txn, f->st, id, &m), 0);
	assert_memory_equal(m.sealed, sealed, sizeof(sealed));
	mfad_outmsg_clear(&m);
	mfad_txn_abort(&txn);
}

struct audits {
	struct mfad_audit_rec	r[4];
	unsigned		n;
};

static int
collect_audit(const struct mfad_audit_rec *a, void *arg)
{
	struct audits *as = arg;

	assert_true(as->n < 4);
	as->r[as->n++] = *a;
	return 0;
}

static size_t
put_str8(unsigned char *p, const char *s)
{
	size_t n = strlen(s);

	p[0] = (unsigned char)n;
	memcpy(p + 1, s, n);
	return 1 + n;
}

static size_t
put_u64be(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (56 - 8 * i));
	return 8;
}

/*
 * The codec writes the layouts the store always had: a throttle record
 * byte for byte; an audit event as version 2, without its time (the key
 * holds it) and with 1-byte string lengths. A version 1 event (as the
 * previous mfad wrote it) still reads, its time the same; an event past
 * its layout (a trailing byte, an unknown version) is skipped by the
 * list.
 */
static void
test_throttle_audit_layouts(void **state)
{
	struct fix *f = *state;
	struct mfad_throttle_rec t;
	struct mfad_audit_rec a = { 1700000000123456ULL, "login_ok", "alice",
	    "sshd", "192.0.2.7", "success", "method=code" }, old;
	unsigned char want[1400], raw[1400], ok[12];
	uint8_t key[MFAD_KEY_LEN];
	MDB_val k = { MFAD_KEY_LEN, key }, v;
	MDB_cursor *cur;
	struct mfad_txn *txn;
	struct audits as;
	size_t n = 0, n1;
	int more;

	memset(&t, 0, sizeof(t));
	t.nsends = 2;
	t.sends[0] = 1700000000;
	t.sends[1] = 1700000060;
	make_key(key, 0x42);
	txn = wtxn(f);
	assert_int_equal(mfad_throttle_put(txn, f->st, key, &t), 0);
	assert_int_equal(mfad_audit_put(txn, f->st, &a), 0);
	assert_int_equal(mfad_txn_commit(&txn), 0);

	want[n++] = 1;
	want[n++] = 0;
	want[n++] = 0;
	want[n++] = 0;
	want[n++] = 2;
	n += put_u64be(want + n, t.sends[0]);
	n += put_u64be(want + n, t.sends[1]);
	txn = rtxn(f);
	assert_int_equal(mdb_get(txn->mt, f->st->throttles, &k, &v), 0);
	assert_int_equal(v.mv_size, n);
	assert_memory_equal(v.mv_data, want, n);

	/* "login_ok", "sshd" and "success" are words: a byte each. */
	n = 0;
	want[n++] = 2;
	want[n++] = 0x80 + 11;
	n += put_str8(want + n, a.user);
	want[n++] = 0x80 + 5;
	n += put_str8(want + n, a.rhost);
	want[n++] = 0x80 + 9;
	n += put_str8(want + n, a.detail);
	assert_int_equal(mdb_cursor_open(txn->mt, f->st->audit, &cur), 0);
	assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
	assert_int_equal(k.mv_size, 12);
	assert_true(mfad_store_key_u64(k.mv_data) == a.time_us);
	assert_int_equal(v.mv_size, n);
	assert_memory_equal(v.mv_data, want, n);
	mdb_cursor_close(cur);
	mfad_txn_abort(&txn);

	/* Read back whole, the time from the key. */
	memset(&as, 0, sizeof(as));
	txn = rtxn(f);
	assert_int_equal(mfad_audit_list(txn, f->st, "", 0, 0, collect_audit,
	    &as, &more), 0);
	mfad_txn_abort(&txn);
	assert_int_equal(as.n, 1);
	assert_memory_equal(&as.r[0], &a, sizeof(a));

	/* A version 1 event, a microsecond later, longest strings. */
	memset(&old, 0, sizeof(old));
	old.time_us = a.time_us + 1;
	memset(old.event, 'e', sizeof(old.event) - 1);
	memset(old.user, 'u', sizeof(old.user) - 1);
	memset(old.service, 's', sizeof(old.service) - 1);
	memset(old.rhost, 'r', sizeof(old.rhost) - 1);
	memset(old.result, 'x', sizeof(old.result) - 1);
	memset(old.detail, 'd', sizeof(old.detail) - 1);
	n1 = 0;
	raw[n1++] = 1;
	n1 += put_u64be(raw + n1, old.time_us);
	n1 += put_str32(raw + n1, old.event);
	n1 += put_str32(raw + n1, old.user);
	n1 += put_str32(raw + n1, old.service);
	n1 += put_str32(raw + n1, old.rhost);
	n1 += put_str32(raw + n1, old.result);
	n1 += put_str32(raw + n1, old.detail);
	put_u64be(ok, old.time_us);
	memcpy(ok + 8, "abcd", 4);
	put_raw(f, f->st->audit, ok, sizeof(ok), raw, n1);
	memset(&as, 0, sizeof(as));
	txn = rtxn(f);
	assert_int_equal(mfad_audit_list(txn, f->st, "", 0, 0, collect_audit,
	    &as, &more), 0);
	mfad_txn_abort(&txn);
	assert_int_equal(as.n, 2);
	assert_memory_equal(&as.r[0], &old, sizeof(old));
	assert_memory_equal(&as.r[1], &a, sizeof(a));
	/* The same, written again, is version 2 and 26 bytes shorter. */
	txn = wtxn(f);
	assert_int_equal(mfad_audit_put(txn, f->st, &as.r[0]), 0);
	assert_int_equal(mdb_cursor_open(txn->mt, f->st->audit, &cur), 0);
	assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_LAST), 0);
	if (memcmp(k.mv_data, ok, sizeof(ok)) == 0)
		assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_PREV), 0);
	assert_int_equal(((unsigned char *)v.mv_data)[0], 2);
	assert_int_equal(v.mv_size, n1 - 26);
	mdb_cursor_close(cur);
	mfad_txn_abort(&txn);

	/* Version 2 with a byte past its end, of version 3, and a string
	 * longer than its field (a 17-byte result). */
	memcpy(raw, want, n);
	raw[n] = 0;
	put_raw(f, f->st->audit, "\x00\x00\x00\x00\x00\x00\x00\x01" "abcd",
	    12, raw, n + 1);
	raw[0] = 3;
	put_raw(f, f->st->audit, "\x00\x00\x00\x00\x00\x00\x00\x02" "abcd",
	    12, raw, n);
	n1 = 0;
	raw[n1++] = 2;
	n1 += put_str8(raw + n1, a.event);
	n1 += put_str8(raw + n1, a.user);
	n1 += put_str8(raw + n1, a.service);
	n1 += put_str8(raw + n1, a.rhost);
	n1 += put_str8(raw + n1, "successsuccesssuc");
	n1 += put_str8(raw + n1, a.detail);
	put_raw(f, f->st->audit, "\x00\x00\x00\x00\x00\x00\x00\x03" "abcd",
	    12, raw, n1);
	/* A word past the list as the event; the same events' words as
	 * text read (and are the one kept). */
	n1 = 0;
	raw[n1++] = 2;
	raw[n1++] = 0x80 + 19;
	n1 += put_str8(raw + n1, a.user);
	n1 += put_str8(raw + n1, a.service);
	n1 += put_str8(raw + n1, a.rhost);
	n1 += put_str8(raw + n1, a.result);
	n1 += put_str8(raw + n1, a.detail);
	put_raw(f, f->st->audit, "\x00\x00\x00\x00\x00\x00\x00\x04" "abcd",
	    12, raw, n1);
	raw[1] = 0x80 + 18;	/* "code_wrong": the same bytes read */
	put_raw(f, f->st->audit, "\x00\x00\x00\x00\x00\x00\x00\x06" "abcd",
	    12, raw, n1);
	n1 = 0;
	raw[n1++] = 2;
	n1 += put_str8(raw + n1, a.event);
	n1 += put_str8(raw + n1, a.user);
	n1 += put_str8(raw + n1, a.service);
	n1 += put_str8(raw + n1, a.rhost);
	n1 += put_str8(raw + n1, a.result);
	n1 += put_str8(raw + n1, a.detail);
	put_raw(f, f->st->audit, "\x00\x00\x00\x00\x00\x00\x00\x05" "abcd",
	    12, raw, n1);
	memset(&as, 0, sizeof(as));
	txn = rtxn(f);
	assert_int_equal(mfad_audit_list(txn, f->st, "", 0, 0, collect_audit,
	    &as, &more), 0);
	mfad_txn_abort(&txn);
	assert_int_equal(as.n, 4);
	assert_string_equal(as.r[2].event, "code_wrong");
	assert_true(as.r[2].time_us == 6);
	a.time_us = 5;
	assert_memory_equal(&as.r[3], &a, sizeof(a));
	assert_int_equal(db_entries(f, f->st->audit), 8);
}

#define T(fn)	cmocka_unit_test_setup_teardown(fn, fix_setup, fix_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_acct_round_trip_every_field),
		T(test_acct_get_missing_is_notfound),
		T(test_acct_email_index),
		T(test_acct_del_removes_index_and_devices),
		T(test_acct_list_paging),
		T(test_acct_count),
		T(test_login_put_get_del),
		T(test_device_put_get_list_del),
		T(test_device_revoke_all),
		T(test_device_gone_keeps_last_use),
		T(test_outbox_put_get_update_del),
		T(test_outbox_ids_strictly_increase),
		T(test_outbox_due),
		T(test_audit_put),
		T(test_audit_same_microsecond),
		T(test_sweep),
		T(test_sweep_in_pieces),
		T(test_throttle_put_get_sweep),
		T(test_env_is_fully_synced),
		T(test_commit_survives_reopen),
		T(test_abort_leaves_nothing),
		cmocka_unit_test_setup_teardown(test_map_full_fails_closed,
		    fix_setup_tiny, fix_teardown),
		cmocka_unit_test_setup_teardown(test_txn_end_idiom,
		    fix_setup_tiny, fix_teardown),
		T(test_corrupt_account_is_store_error),
		T(test_corrupt_account_empty_is_store_error),
		T(test_corrupt_account_fails_list),
		T(test_corrupt_account_version_fails_list),
		T(test_account_v1_still_reads),
		T(test_account_v4_cur_login_only_when_set),
		T(test_account_v5_compact),
		T(test_account_v5_pwhash_forms),
		T(test_account_v5_corrupt),
		T(test_device_new_store_refuses_older_mfad),
		T(test_device_migration),
		T(test_device_migration_resumes),
		T(test_device_v3_corrupt),
		T(test_device_v3_v4_mixed),
		T(test_account_recovery_codes),
		T(test_acct_recovery_take),
		T(test_acct_fail_add_and_clear),
		T(test_acct_login_clear_keeps_a_lock_that_holds),
		T(test_acct_send_add_prunes),
		T(test_acct_sends_clear),
		T(test_acct_notice_only_later),
		T(test_throttle_send_add),
		T(test_corrupt_login_device_outbox_are_store_errors),
		T(test_throttle_audit_layouts),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
