/*
 * The directory backend's own header (doc/STORE.md, "The directory
 * backend"): included only by mfad_store_dir*.c, the one place besides
 * mfad_dir.[ch] where LDAP types appear.
 *
 * A caller takes one connection of the pool for the whole of one public
 * operation, runs its steps on it through the primitives below (each a
 * synchronous LDAP operation tried again once on a new connection when
 * the first was lost: mfad_dir_lost) and gives it back. None is held
 * while a caller's callback runs (a list's): the callback may use the
 * store too, and four of them waiting for a fifth would never end.
 */
#ifndef MFAD_STORE_DIR_LDAP_H
#define MFAD_STORE_DIR_LDAP_H

#include <pthread.h>

#include "mfad_dir.h"
#include "mfad_log.h"
#include "mfad_store_dir.h"

/* Connections: mfad's threads (workers, the committer, the reader, the
 * mail thread) rarely need more at once; a fifth waits its turn. */
#define MFAD_SDIR_CONNS		4
#define MFAD_SDIR_HOST_MAX	255

struct mfad_sdir {
	pthread_mutex_t		 lock;
	pthread_cond_t		 free_cv;
	struct mfad_dir		 conns[MFAD_SDIR_CONNS];
	int			 busy[MFAD_SDIR_CONNS];
	/* Copies: a reload frees the configuration they came from. */
	char			*uris[MFAD_DIR_URIS_MAX];
	size_t			 nuris;
	char			*base, *bind_dn, *pw_file, *ca_file;
	char			 host[MFAD_SDIR_HOST_MAX + 1];
	struct mfad_log_limit	 down_limit;	/* "unavailable" lines */
	struct mfad_log_limit	 conn_limit;	/* mfad_dir's failures */
	size_t			 answered;	/* 1 + the index of the URI
						   that last answered; 0:
						   none yet (under lock) */
};

struct mfad_dir *mfad_sdir_take(struct mfad_sdir *sd);
void mfad_sdir_give(struct mfad_sdir *sd, struct mfad_dir *d);

/*
 * One operation on d: 0 when a provider answered, its LDAP result code
 * in *ldrc (LDAP_SUCCESS or a refusal, the caller's to judge);
 * MSS_ERR_UNAVAIL (logged, a line a minute) when none could be reached
 * or the connection was lost twice. search leaves *res for the caller to
 * ldap_msgfree (NULL on failure) and its entries to read with d->ld
 * before the next operation.
 */
int mfad_sdir_search(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *base, int scope, const char *filter, char **attrs,
    LDAPMessage **res, int *ldrc) MSS_WUR;
/* At most limit entries (limit > 0): LDAP_SIZELIMIT_EXCEEDED is one of
 * the answers that leave *res with what came. */
int mfad_sdir_search_limit(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *base, int scope, const char *filter, char **attrs,
    int limit, LDAPMessage **res, int *ldrc) MSS_WUR;
int mfad_sdir_modify(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *dn, LDAPMod **mods, int *ldrc) MSS_WUR;
int mfad_sdir_add(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *dn, LDAPMod **mods, int *ldrc) MSS_WUR;
int mfad_sdir_delete(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *dn, int *ldrc) MSS_WUR;

/*
 * A search of many entries in pages (RFC 2696) on d, each page freed
 * once fn saw its entries (fn(ld, e, arg), e valid until fn returns);
 * the answers as mfad_sdir_search's. A connection lost between pages
 * starts the search again once on a new one, after fn(NULL, NULL, arg):
 * drop what the failed search gave. fn's error ends the search and is
 * returned.
 */
int mfad_sdir_search_paged(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *base, int scope, const char *filter, char **attrs,
    int (*fn)(LDAP *, LDAPMessage *, void *), void *arg, int *ldrc)
    MSS_WUR;
/* A refusal the caller did not expect: logged with dn, mapped by
 * mfad_dir_err (MSS_ERR_STORE when it maps to nothing closer). */
int mfad_sdir_refused(struct mfad_sdir *sd, const char *what,
    const char *dn, int ldrc) MSS_WUR;

/* Deletes the device children of dn (mfad_store_dir_device.c); *n
 * counts those this call deleted. With keep, their last use stays in
 * the account dn's last login. */
int mfad_sdir_children_del(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *dn, int keep, unsigned *n) MSS_WUR;

/* uid=USER,<base> (with the value escaped, RFC 4514) into buf;
 * MSS_ERR_NOTFOUND when user cannot name an account. */
int mfad_sdir_acct_dn(struct mfad_sdir *sd, const char *user, char *buf,
    size_t len) MSS_WUR;
#define MFAD_SDIR_DN_MAX	1024
/* A filter's assertion value, escaped (RFC 4515). */
int mfad_sdir_filter_esc(const char *in, char *out, size_t len) MSS_WUR;
/* The value of the first RDN of dn when its type is attr. */
int mfad_sdir_rdn_value(const char *dn, const char *attr, char *out,
    size_t len) MSS_WUR;

/* Strict readers of one value: decimal digits only. */
int mfad_sdir_u64(const struct berval *bv, uint64_t *out) MSS_WUR;
/* The values of attr in e: *n of them (0: absent), to free with
 * mfad_sdir_vals_free, which wipes them. */
struct berval **mfad_sdir_vals(LDAP *ld, LDAPMessage *e, const char *attr,
    size_t *n);
void mfad_sdir_vals_free(struct berval **v);
/* A single-valued time: 0 when absent; MSS_ERR_STORE when malformed. */
int mfad_sdir_time(LDAP *ld, LDAPMessage *e, const char *attr,
    uint64_t *out) MSS_WUR;

/*
 * A modify's (or an add's) list: each value copied in, and wiped when
 * the list is freed (a password hash, recovery hashes). op is
 * LDAP_MOD_ADD, _DELETE or _REPLACE; n = 0 with REPLACE removes the
 * attribute (nothing when absent), with DELETE the whole attribute.
 */
#define MFAD_SDIR_MODS_MAX	24
struct mfad_sdir_mods {
	size_t		 n;
	LDAPMod		 m[MFAD_SDIR_MODS_MAX];
	LDAPMod		*p[MFAD_SDIR_MODS_MAX + 1];
};
void mfad_sdir_mods_init(struct mfad_sdir_mods *ms);
int mfad_sdir_mod(struct mfad_sdir_mods *ms, int op, const char *attr,
    const char *const *vals, size_t n) MSS_WUR;
/* One value, or none when val is NULL. */
int mfad_sdir_mod1(struct mfad_sdir_mods *ms, int op, const char *attr,
    const char *val) MSS_WUR;
/* A time: none when v is 0 (absent means 0). */
int mfad_sdir_mod_time(struct mfad_sdir_mods *ms, int op, const char *attr,
    uint64_t v) MSS_WUR;
void mfad_sdir_mods_free(struct mfad_sdir_mods *ms);
void mfad_sdir_vals_free_own(struct berval **bv);

/* Hex of n bytes (lowercase) into out (2n + 1 bytes), and back:
 * exactly 2n lowercase hex digits. */
void mfad_sdir_hex(const uint8_t *in, size_t n, char *out);
int mfad_sdir_unhex(const char *in, size_t len, uint8_t *out, size_t n)
    MSS_WUR;

/*
 * The account as read (mfad_store_dir_acct.c), for the event functions
 * (mfad_store_dir_event.c): what an entry holds beyond struct
 * mfad_acct, the event values as stored (deleted by value).
 */
#define MFAD_SDIR_EVENT_MAX	320	/* bytes of a TIME_US:HOST:NONCE */
/* A new event value of this host at now (seconds), nonce included
 * (mfad_store_dir_event.c); and an event value read, strictly: digits,
 * a host without ':', 8 hex; *us its time (mfad_store_dir_acct.c). */
void mfad_sdir_event_new(struct mfad_sdir *sd, uint64_t now, char *buf,
    size_t len);
int mfad_sdir_event_parse(const struct berval *bv, uint64_t *us) MSS_WUR;
struct mfad_sdir_raw {
	int		 exists;	/* the person entry is there */
	int		 has_class;	/* and has mfadAccount */
	char		 mail[MFAD_EMAIL_MAX + 1];	/* its first value */
	char		 lang[4];	/* as parsed */
	int		 cur_ours;	/* mfadCurrentLogin is this host's */
	int		 has_cur;	/* mfadCurrentLogin is set */
	char		**fail;		/* mfadFailure values */
	size_t		 nfail;
	char		**send;		/* mfadSend values */
	uint64_t	*send_s;	/* and their times (seconds) */
	size_t		 nsend;
	uint64_t	*lock;		/* mfadLockedUntil values: one a
					   host, the latest holds */
	size_t		 nlock;
};

void mfad_sdir_raw_free(struct mfad_sdir_raw *raw);
void mfad_sdir_strv_free(char **v, size_t n);
int mfad_sdir_strv_has(char **v, size_t n, const char *s);
/* Reads the account at dn into a (and raw): MSS_ERR_NOTFOUND when there
 * is no such entry (raw->exists 0) or it is no mfadAccount; now is the
 * time the recent sends are counted from. On any error a and raw hold
 * nothing to wipe or free. */
int mfad_sdir_acct_read(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *dn, const char *user, uint64_t now, struct mfad_acct *a,
    struct mfad_sdir_raw *raw) MSS_WUR;
/*
 * For the batches (mfad_store_dir_batch.c): the attributes a read of an
 * account asks for; the parse of one entry e at dn (as
 * mfad_sdir_acct_read's, which allocates raw's event values: free them
 * with mfad_sdir_raw_free on 0 and on MSS_ERR_NOTFOUND too); put's
 * modify list for a (before: the account as the caller read it, whose
 * unchanged fields are not written; NULL: every field); and the end of
 * what put remembers of this thread's last read.
 */
extern char *mfad_sdir_acct_attrs[];
int mfad_sdir_acct_parse(struct mfad_sdir *sd, LDAP *ld, LDAPMessage *e,
    const char *dn, const char *user, uint64_t now, struct mfad_acct *a,
    struct mfad_sdir_raw *raw) MSS_WUR;
int mfad_sdir_acct_put_mods(struct mfad_sdir *sd, const struct mfad_acct *a,
    const struct mfad_acct *before, const struct mfad_sdir_raw *raw,
    struct mfad_sdir_mods *ms) MSS_WUR;
void mfad_sdir_acct_seen_clear(void);

/* The account's counters as stored now, into a (when not NULL). */
int mfad_sdir_acct_counters(struct mfad_sdir *sd, struct mfad_dir *d,
    const char *dn, const char *user, uint64_t now, struct mfad_acct *a)
    MSS_WUR;

#endif /* MFAD_STORE_DIR_LDAP_H */
