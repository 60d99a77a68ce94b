#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#include <sodium.h>

#include "mfad_argon2.h"
#include "mfad_clock.h"
#include "mfad_log.h"
#include "mfad_pw.h"
#include "mss_err.h"
#include "mfad_str.h"

static pthread_mutex_t mfad_pw_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * At most one argon2 computation per core at a time: more would only
 * share the cores and make every login wait longer (each one takes its
 * memlimit of memory, too). A thread marked urgent (one serving a trusted
 * caller: sshd's PAM, an admin) takes the next free core before any
 * other waiting thread, so that a flood of unprivileged logins delays it
 * by one hash at most.
 */
static pthread_mutex_t mfad_pw_gate = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mfad_pw_free = PTHREAD_COND_INITIALIZER;
static unsigned mfad_pw_cores, mfad_pw_busy, mfad_pw_urgent_waiting;
static __thread int mfad_pw_urgent;

/*
 * One arena a core: a check or a hash takes a free one with its core
 * and leaves it mapped for the next (mfad_argon2.h), so that a burst of
 * logins maps no memory and faults in no page; mfad_pw_trim unmaps the
 * arenas of cores idle for a while. At most cores x memlimit stays
 * mapped, as many as can hash at once anyway.
 */
#define MFAD_PW_SLOTS	256
struct mfad_pw_slot {
	struct mfad_argon2_arena arena;
	int			 busy;
	int			 counted; /* in mfad_pw_mapped */
	long long		 last;	/* monotonic seconds */
};
static struct mfad_pw_slot mfad_pw_slots[MFAD_PW_SLOTS];
/* Arenas mapped: written under the gate's lock, read without it. */
static unsigned mfad_pw_mapped;

/* Brings mfad_pw_mapped up to date with s (the gate's lock held). */
static void
mfad_pw_count(struct mfad_pw_slot *s)
{
	int mapped = s->arena.mem != NULL;

	if (mapped == s->counted)
		return;
	s->counted = mapped;
	__atomic_store_n(&mfad_pw_mapped, mapped ? mfad_pw_mapped + 1 :
	    mfad_pw_mapped - 1, __ATOMIC_RELAXED);
}

void
mfad_pw_priority(int urgent)
{
	mfad_pw_urgent = urgent;
}

/* Waits for a free core; returns the slot of its arena. */
static struct mfad_pw_slot *
mfad_pw_enter(void)
{
	struct mfad_pw_slot *s;
	long n;

	pthread_mutex_lock(&mfad_pw_gate);
	if (mfad_pw_cores == 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		mfad_pw_cores = n <= 0 ? 1 : n > MFAD_PW_SLOTS ? MFAD_PW_SLOTS :
		    (unsigned)n;
	}
	if (mfad_pw_urgent) {
		mfad_pw_urgent_waiting++;
		while (mfad_pw_busy >= mfad_pw_cores)
			pthread_cond_wait(&mfad_pw_free, &mfad_pw_gate);
		mfad_pw_urgent_waiting--;
	} else
		while (mfad_pw_busy >= mfad_pw_cores ||
		    mfad_pw_urgent_waiting > 0)
			pthread_cond_wait(&mfad_pw_free, &mfad_pw_gate);
	mfad_pw_busy++;
	/* A free slot exists: fewer than mfad_pw_cores are busy. The
	 * first free one, so that few arenas stay mapped. */
	for (s = mfad_pw_slots; s->busy; s++)
		;
	s->busy = 1;
	pthread_mutex_unlock(&mfad_pw_gate);
	return s;
}

static void
mfad_pw_leave(struct mfad_pw_slot *s)
{
	pthread_mutex_lock(&mfad_pw_gate);
	/* A check or a hash may have mapped the arena, or lost it when
	 * it could not grow it. */
	mfad_pw_count(s);
	s->busy = 0;
	s->last = mfad_clock_mono_s();
	mfad_pw_busy--;
	pthread_cond_broadcast(&mfad_pw_free);
	pthread_mutex_unlock(&mfad_pw_gate);
}

/*
 * Whose argon2id code runs: libargon2's in the arenas (0), or
 * libsodium's (1), which picks code for the processor it runs on (AVX2,
 * SSSE3 or portable C) but maps fresh memory for each computation. Where
 * libsodium has fast code, that can outweigh its page faults; [password]
 * implementation = auto times both at start (mfad_pw_choose). Written
 * by mfad_pw_apply, read by the workers.
 */
static int mfad_pw_sodium;
/* The costs auto was last timed at (0: not timed, or not auto). */
static unsigned long long mfad_pw_timed_ops;
static size_t mfad_pw_timed_mem;
/* A way was set once (the first one is always logged). */
static int mfad_pw_set;

/* The timing: at most this much memory, the configured passes, the
 * faster of MFAD_PW_TIME_ROUNDS hashes each way, in turn (the arena
 * mapped first: kept mapped is how it runs). libsodium is chosen only
 * when it is faster by more than a tenth: its unmapping interrupts the
 * other cores, which one thread's time does not show. */
#define MFAD_PW_TIME_MEM	((size_t)16 << 20)
#define MFAD_PW_TIME_ROUNDS	3

static int
mfad_pw_libsodium(void)
{
	return __atomic_load_n(&mfad_pw_sodium, __ATOMIC_RELAXED);
}

/*
 * Times both ways at conf's passes on a core of the gate; *arena_ms and
 * *sodium_ms get the faster hash of each (*arena_ms < 0: the arena path
 * could not run). The password hashed is a constant: nothing secret.
 */
static void
mfad_pw_time(const struct mfad_conf *conf, size_t mem, double *arena_ms,
    double *sodium_ms)
{
	static const char pw[] = "a timing, not a password";
	char h[crypto_pwhash_STRBYTES];
	struct mfad_pw_slot *s;
	double t;
	int i;

	*arena_ms = *sodium_ms = -1;
	s = mfad_pw_enter();
	if (mfad_argon2_hash(&s->arena, conf->pw_opslimit, mem, pw,
	    sizeof(pw) - 1, h, sizeof(h)) == 0) {
		for (i = 0; i < MFAD_PW_TIME_ROUNDS; i++) {
			t = mfad_clock_mono_us() / 1e3;
			if (mfad_argon2_hash(&s->arena, conf->pw_opslimit, mem,
			    pw, sizeof(pw) - 1, h, sizeof(h)) != 0) {
				*arena_ms = -1;
				break;
			}
			t = mfad_clock_mono_us() / 1e3 - t;
			if (*arena_ms < 0 || t < *arena_ms)
				*arena_ms = t;
			t = mfad_clock_mono_us() / 1e3;
			if (crypto_pwhash_str_alg(h, pw, sizeof(pw) - 1,
			    conf->pw_opslimit, mem,
			    crypto_pwhash_ALG_ARGON2ID13) != 0)
				continue;
			t = mfad_clock_mono_us() / 1e3 - t;
			if (*sodium_ms < 0 || t < *sodium_ms)
				*sodium_ms = t;
		}
	}
	mfad_argon2_arena_free(&s->arena);
	mfad_pw_leave(s);
}

/* What mfad_pw_choose found, for mfad_pw_apply. */
struct mfad_pw_way {
	int	 sodium;
	int	 timed;		/* auto, timed now: a and so are its times */
	int	 same;		/* auto, the costs last timed: no change */
	double	 a, so;		/* ms; < 0: that way could not run */
	size_t	 mem;
};

/* Finds the way conf's [password] implementation asks for, timing both
 * under auto unless the costs are those last timed. Changes nothing. */
static void
mfad_pw_choose(const struct mfad_conf *conf, struct mfad_pw_way *w)
{
	memset(w, 0, sizeof(*w));
	w->mem = conf->pw_memlimit < MFAD_PW_TIME_MEM ? conf->pw_memlimit :
	    MFAD_PW_TIME_MEM;
	if (conf->pw_impl != MFAD_PW_IMPL_AUTO) {
		w->sodium = conf->pw_impl == MFAD_PW_IMPL_LIBSODIUM;
		return;
	}
	if (mfad_pw_timed_ops == conf->pw_opslimit &&
	    mfad_pw_timed_mem == w->mem) {
		w->sodium = mfad_pw_libsodium();
		w->same = 1;
		return;
	}
	mfad_pw_time(conf, w->mem, &w->a, &w->so);
	w->sodium = w->a < 0 || (w->so >= 0 && w->so < w->a * 0.9);
	w->timed = 1;
}

/* Makes w the way of the checks and hashes to come, and says so. */
static void
mfad_pw_apply(const struct mfad_conf *conf, const struct mfad_pw_way *w)
{
	if (w->same)
		return;
	if (w->timed) {
		mfad_log(LOG_INFO, "password hashing: %s, the faster here "
		    "(argon2id, %llu passes, %zu KiB: libargon2 %.3f ms, "
		    "libsodium %.3f ms)", w->sodium ? "libsodium" :
		    "libargon2", conf->pw_opslimit, w->mem / 1024, w->a,
		    w->so);
		mfad_pw_timed_ops = conf->pw_opslimit;
		mfad_pw_timed_mem = w->mem;
	} else {
		if (w->sodium != mfad_pw_libsodium() || mfad_pw_timed_ops ||
		    !mfad_pw_set)
			mfad_log(LOG_INFO, "password hashing: %s (set by "
			    "[password] implementation)", w->sodium ?
			    "libsodium" : "libargon2");
		mfad_pw_timed_ops = 0;
		mfad_pw_timed_mem = 0;
	}
	mfad_pw_set = 1;
	__atomic_store_n(&mfad_pw_sodium, w->sodium, __ATOMIC_RELAXED);
}

/*
 * Checks pw against hash on a core of the gate, in its arena; strings
 * the arena path does not take (or no memory for it) go to libsodium,
 * as every check does when libsodium is the way (mfad_pw_sodium).
 * 1 for a match.
 */
static int
mfad_pw_check(const char *hash, const char *pw)
{
	struct mfad_pw_slot *s;
	size_t n = strlen(pw);
	int r;

	s = mfad_pw_enter();
	r = mfad_pw_libsodium() ? MFAD_ARGON2_OTHER :
	    mfad_argon2_verify(&s->arena, hash, pw, n);
	if (r == MFAD_ARGON2_OTHER) {
		mfad_argon2_arena_free(&s->arena);
		r = crypto_pwhash_str_verify(hash, pw, n) == 0;
	}
	mfad_pw_leave(s);
	return r;
}

int
mfad_pw_mapped_arenas(void)
{
	return (int)__atomic_load_n(&mfad_pw_mapped, __ATOMIC_RELAXED);
}

void
mfad_pw_trim(unsigned idle_s)
{
	long long now = mfad_clock_mono_s();
	size_t i;

	pthread_mutex_lock(&mfad_pw_gate);
	for (i = 0; i < MFAD_PW_SLOTS; i++) {
		struct mfad_pw_slot *s = &mfad_pw_slots[i];

		if (!s->busy && now - s->last >= (long long)idle_s) {
			mfad_argon2_arena_free(&s->arena);
			mfad_pw_count(s);
		}
	}
	pthread_mutex_unlock(&mfad_pw_gate);
}

static char mfad_pw_dummy[crypto_pwhash_STRBYTES];

/* The blocklist: lower-cased entries, sorted for bsearch. */
struct mfad_blocklist {
	char	**v;
	size_t	  n;
	char	 *path;
};
static struct mfad_blocklist mfad_pw_block;

static void
mfad_blocklist_free(struct mfad_blocklist *bl)
{
	size_t i;

	for (i = 0; i < bl->n; i++)
		free(bl->v[i]);
	free(bl->v);
	free(bl->path);
	memset(bl, 0, sizeof(*bl));
}

static int
mfad_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One entry a line; blank lines and lines starting with '#' skipped. */
static int MSS_WUR
mfad_blocklist_load(const char *path, struct mfad_blocklist *bl)
{
	char *line = NULL, **nv;
	size_t cap = 0, alloc = 0, len;
	ssize_t got;
	FILE *fp;

	memset(bl, 0, sizeof(*bl));
	if ((fp = fopen(path, "re")) == NULL) {
		mfad_log(LOG_ERR, "[password] blocklist %s: %s", path,
		    strerror(errno));
		return MSS_ERR_CONFIG;
	}
	while ((got = getline(&line, &cap, fp)) != -1) {
		len = (size_t)got;
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if (bl->n == alloc) {
			alloc = alloc ? alloc * 2 : 1024;
			if ((nv = realloc(bl->v, alloc * sizeof(*nv))) == NULL)
				goto nomem;
			bl->v = nv;
		}
		if ((bl->v[bl->n] = strdup(line)) == NULL)
			goto nomem;
		mfad_str_lower(bl->v[bl->n], bl->v[bl->n], SIZE_MAX);
		bl->n++;
	}
	/* getline's -1 is the end of the file or an error: a list cut
	 * short (or a directory, which opens but cannot be read) is not
	 * a shorter list. */
	if (ferror(fp)) {
		mfad_log(LOG_ERR, "[password] blocklist %s: %s", path,
		    strerror(errno));
		free(line);
		fclose(fp);
		mfad_blocklist_free(bl);
		return MSS_ERR_CONFIG;
	}
	free(line);
	fclose(fp);
	/* An empty list has no array: qsort wants one all the same. */
	if (bl->n > 1)
		qsort(bl->v, bl->n, sizeof(*bl->v), mfad_cmp);
	if ((bl->path = strdup(path)) == NULL) {
		mfad_blocklist_free(bl);
		return MSS_ERR_NOMEM;
	}
	mfad_log(LOG_INFO, "password blocklist %s: %zu entries", path, bl->n);
	return 0;
nomem:
	free(line);
	fclose(fp);
	mfad_blocklist_free(bl);
	return MSS_ERR_NOMEM;
}

static int
mfad_blocked(const char *pw)
{
	char *low, *key;
	int hit = 0;

	if ((low = strdup(pw)) == NULL)
		return 1;	/* fail closed */
	mfad_str_lower(low, low, SIZE_MAX);
	key = low;
	pthread_mutex_lock(&mfad_pw_lock);
	if (mfad_pw_block.n > 0 && bsearch(&key, mfad_pw_block.v,
	    mfad_pw_block.n, sizeof(char *), mfad_cmp) != NULL)
		hit = 1;
	pthread_mutex_unlock(&mfad_pw_lock);
	sodium_memzero(low, strlen(low));
	free(low);
	return hit;
}

int
mfad_pw_hash(const struct mfad_conf *conf, const char *pw,
    char out[MFAD_HASH_MAX])
{
	char h[crypto_pwhash_STRBYTES];
	struct mfad_pw_slot *s;
	int r;

	s = mfad_pw_enter();
	r = mfad_pw_libsodium() ? MFAD_ARGON2_OTHER :
	    mfad_argon2_hash(&s->arena, conf->pw_opslimit, conf->pw_memlimit,
	    pw, strlen(pw), h, sizeof(h));
	if (r != 0) {
		/* The arena could not be mapped (or the costs are past its
		 * path): libsodium maps memory of its own, once the arena
		 * is gone, so that a core never holds twice memlimit. */
		mfad_argon2_arena_free(&s->arena);
		r = crypto_pwhash_str_alg(h, pw, strlen(pw), conf->pw_opslimit,
		    conf->pw_memlimit, crypto_pwhash_ALG_ARGON2ID13);
	}
	mfad_pw_leave(s);
	if (r != 0) {
		mfad_log(LOG_ERR, "password hashing failed (out of memory?)");
		return MSS_ERR_NOMEM;
	}
	memcpy(out, h, sizeof(h) < MFAD_HASH_MAX ? sizeof(h) : MFAD_HASH_MAX);
	out[MFAD_HASH_MAX - 1] = '\0';
	sodium_memzero(h, sizeof(h));
	return 0;
}

int
mfad_pw_init(const struct mfad_conf *conf)
{
	struct mfad_blocklist bl, old;
	struct mfad_pw_way way;
	char pw[33], h[MFAD_HASH_MAX];
	unsigned char rnd[16];
	int r;

	memset(&bl, 0, sizeof(bl));
	/* Found now, taken with the rest once nothing can fail. */
	mfad_pw_choose(conf, &way);
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(pw, sizeof(pw), rnd, sizeof(rnd));
	if ((r = mfad_pw_hash(conf, pw, h)) != 0)
		return r;
	if (conf->pw_blocklist != NULL &&
	    (r = mfad_blocklist_load(conf->pw_blocklist, &bl)) != 0)
		return r;
	pthread_mutex_lock(&mfad_pw_lock);
	memcpy(mfad_pw_dummy, h, sizeof(mfad_pw_dummy));
	mfad_pw_dummy[sizeof(mfad_pw_dummy) - 1] = '\0';
	old = mfad_pw_block;
	mfad_pw_block = bl;
	pthread_mutex_unlock(&mfad_pw_lock);
	mfad_pw_apply(conf, &way);
	mfad_blocklist_free(&old);
	sodium_memzero(pw, sizeof(pw));
	return 0;
}

int
mfad_pw_verify(const struct mfad_conf *conf, const char *hash, const char *pw)
{
	char dummy[crypto_pwhash_STRBYTES];

	(void)conf;
	if (hash == NULL || hash[0] == '\0') {
		pthread_mutex_lock(&mfad_pw_lock);
		memcpy(dummy, mfad_pw_dummy, sizeof(dummy));
		pthread_mutex_unlock(&mfad_pw_lock);
		/* Spend the same time as a real check, then say no. */
		if (mfad_pw_check(dummy, pw))
			mfad_log(LOG_DEBUG, "dummy hash matched");
		sodium_memzero(dummy, sizeof(dummy));
		return 0;
	}
	return mfad_pw_check(hash, pw);
}

int
mfad_pw_needs_rehash(const struct mfad_conf *conf, const char *hash)
{
	return crypto_pwhash_str_needs_rehash(hash, conf->pw_opslimit,
	    conf->pw_memlimit) != 0;
}

/*
 * The least work an imported hash may stand for, in KiB times passes: the
 * weakest of the argon2id settings OWASP lists (7 MiB at t=5; 19 MiB at
 * t=2 is 38 MiB-passes), so that no imported hash is cheaper to attack
 * than mfad's own until it is made again at the first login.
 */
#define MFAD_PW_IMPORT_FLOOR	(7168UL * 5)

int
mfad_pw_hash_ok(const struct mfad_conf *conf, const char *hash,
    const char **why)
{
	unsigned long v, m, t, p, floor, own;
	size_t n = strlen(hash);
	int used = 0;

	*why = "not an argon2id hash ($argon2id$v=19$m=...,t=...,p=...$...)";
	if (n >= MFAD_HASH_MAX || n >= crypto_pwhash_STRBYTES ||
	    strncmp(hash, "$argon2id$", 10) != 0 ||
	    sscanf(hash, "$argon2id$v=%lu$m=%lu,t=%lu,p=%lu$%n", &v, &m, &t,
	    &p, &used) != 4 || used == 0)
		return MSS_ERR_INVAL;
	/* needs_rehash parses the whole string: -1 when it is malformed. */
	if (v != 19 || crypto_pwhash_str_needs_rehash(hash,
	    crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN) < 0)
		return MSS_ERR_INVAL;
	/* Each verification would cost this much: no more than the most
	 * mfad.conf can ask for. */
	if (m > crypto_pwhash_MEMLIMIT_SENSITIVE / 1024 || p < 1 || p > 16 ||
	    t < 1 || m * t > (unsigned long)crypto_pwhash_OPSLIMIT_SENSITIVE *
	    (crypto_pwhash_MEMLIMIT_SENSITIVE / 1024)) {
		*why = "argon2id hash costs more than strength=sensitive";
		return MSS_ERR_INVAL;
	}
	own = (unsigned long)(conf->pw_memlimit / 1024) *
	    (unsigned long)conf->pw_opslimit;
	floor = own < MFAD_PW_IMPORT_FLOOR ? own : MFAD_PW_IMPORT_FLOOR;
	if (m * t < floor) {
		*why = "argon2id hash too weak (memory x passes below 7 MiB x 5)";
		return MSS_ERR_INVAL;
	}
	*why = NULL;
	return 0;
}

const char *
mfad_pw_reason_str(enum mss_pw_reason reason)
{
	switch (reason) {
	case MSS_PW_TOO_SHORT:
		return "too short";
	case MSS_PW_TOO_LONG:
		return "too long";
	case MSS_PW_LIKE_NAME:
		return "same as the user name or address";
	case MSS_PW_BLOCKLISTED:
		return "too common (on the blocklist)";
	case MSS_PW_SAME_AS_OLD:
		return "same as the current password";
	case MSS_PW_REFUSED:
		break;
	}
	return "refused by policy";
}

int
mfad_pw_policy(const struct mfad_conf *conf, const char *user,
    const char *email, const char *pw, enum mss_pw_reason *reason)
{
	size_t n = strlen(pw), llen;
	const char *at;

	*reason = MSS_PW_REFUSED;
	if (n < conf->pw_min_length) {
		*reason = MSS_PW_TOO_SHORT;
		return MSS_ERR_REFUSED;
	}
	if (n > conf->pw_max_length) {
		*reason = MSS_PW_TOO_LONG;
		return MSS_ERR_REFUSED;
	}
	if (strcasecmp(pw, user) == 0 || strcasecmp(pw, email) == 0) {
		*reason = MSS_PW_LIKE_NAME;
		return MSS_ERR_REFUSED;
	}
	if (mfad_blocked(pw)) {
		*reason = MSS_PW_BLOCKLISTED;
		return MSS_ERR_REFUSED;
	}
	if ((at = strchr(email, '@')) != NULL) {
		llen = (size_t)(at - email);
		if (llen == n && strncasecmp(pw, email, n) == 0) {
			*reason = MSS_PW_LIKE_NAME;
			return MSS_ERR_REFUSED;
		}
	}
	return 0;
}
