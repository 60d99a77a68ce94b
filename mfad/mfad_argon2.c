#include "config.h"

#include <sys/mman.h>

#include <stdlib.h>
#include <string.h>

#include <argon2.h>
#include <sodium.h>

#include "mfad_argon2.h"

/* What a stored string may ask of this path: no more than mfad.conf's
 * memlimit and opslimit allow, the lanes mfad_pw_hash_ok allows. */
#define MFAD_ARGON2_MAX_KIB	(4UL * 1024 * 1024)
#define MFAD_ARGON2_MAX_PASSES	100U
#define MFAD_ARGON2_MAX_LANES	16U
#define MFAD_ARGON2_MAX_BYTES	64	/* salt and hash */

/* libargon2's allocation callbacks take no argument: the arena of the
 * check running on this thread. */
static __thread struct mfad_argon2_arena *mfad_argon2_cur;

static int
mfad_argon2_alloc(uint8_t **memory, size_t n)
{
	struct mfad_argon2_arena *a = mfad_argon2_cur;
	void *m;

	if (a == NULL)
		return ARGON2_MEMORY_ALLOCATION_ERROR;
	if (a->len < n) {
		mfad_argon2_arena_free(a);
		m = mmap(NULL, n, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return ARGON2_MEMORY_ALLOCATION_ERROR;
		/* Memory derived from passwords stays out of core dumps. */
		(void)madvise(m, n, MADV_DONTDUMP);
		a->mem = m;
		a->len = n;
	}
	*memory = a->mem;
	return ARGON2_OK;
}

/* libargon2 has wiped the memory (clear_internal_memory) before this:
 * it stays mapped for the next check. */
static void
mfad_argon2_release(uint8_t *memory, size_t n)
{
	(void)memory;
	(void)n;
}

void
mfad_argon2_arena_free(struct mfad_argon2_arena *a)
{
	if (a->mem != NULL)
		munmap(a->mem, a->len);
	a->mem = NULL;
	a->len = 0;
}

int
mfad_argon2_arena_clear(const struct mfad_argon2_arena *a)
{
	return a->mem == NULL || sodium_is_zero(a->mem, a->len);
}

/* A decimal number after key at *s, at most max; moves *s past it. */
static int
mfad_argon2_num(const char **s, const char *key, unsigned long max,
    uint32_t *v)
{
	unsigned long n = 0;
	size_t klen = strlen(key);
	const char *p;

	if (strncmp(*s, key, klen) != 0)
		return -1;
	p = *s + klen;
	if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (unsigned long)(*p - '0');
		if (n > max)
			return -1;
	}
	*v = (uint32_t)n;
	*s = p;
	return 0;
}

/* Base64 without padding from s up to stop (or the end) into out. */
static int
mfad_argon2_b64(const char **s, int stop, uint8_t *out, size_t *outlen)
{
	const char *end = strchr(*s, stop), *used;
	size_t len = end != NULL ? (size_t)(end - *s) : strlen(*s);

	if (sodium_base642bin(out, MFAD_ARGON2_MAX_BYTES, *s, len, NULL,
	    outlen, &used, sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
	    used != *s + len)
		return -1;
	*s += len;
	return 0;
}

int
mfad_argon2_verify(struct mfad_argon2_arena *a, const char *encoded,
    const char *pw, size_t pwlen)
{
	uint8_t salt[MFAD_ARGON2_MAX_BYTES], want[MFAD_ARGON2_MAX_BYTES];
	uint8_t got[MFAD_ARGON2_MAX_BYTES];
	size_t saltlen, wantlen;
	uint32_t m, t, p;
	argon2_context ctx;
	const char *s = encoded;
	int r = MFAD_ARGON2_OTHER;

	if (strncmp(s, "$argon2id$v=19$", 15) != 0)
		return MFAD_ARGON2_OTHER;
	s += 15;
	if (mfad_argon2_num(&s, "m=", MFAD_ARGON2_MAX_KIB, &m) != 0 ||
	    mfad_argon2_num(&s, ",t=", MFAD_ARGON2_MAX_PASSES, &t) != 0 ||
	    mfad_argon2_num(&s, ",p=", MFAD_ARGON2_MAX_LANES, &p) != 0 ||
	    *s++ != '$' || mfad_argon2_b64(&s, '$', salt, &saltlen) != 0 ||
	    *s++ != '$' || mfad_argon2_b64(&s, '\0', want, &wantlen) != 0 ||
	    *s != '\0')
		return MFAD_ARGON2_OTHER;
	if (t < ARGON2_MIN_TIME || p < 1 || m < 8 * p ||
	    saltlen < ARGON2_MIN_SALT_LENGTH || wantlen < ARGON2_MIN_OUTLEN ||
	    pwlen > ARGON2_MAX_PWD_LENGTH)
		return MFAD_ARGON2_OTHER;

	memset(&ctx, 0, sizeof(ctx));
	ctx.out = got;
	ctx.outlen = (uint32_t)wantlen;
	/* Not written: ctx.flags keeps the password. */
	ctx.pwd = (uint8_t *)(uintptr_t)pw;
	ctx.pwdlen = (uint32_t)pwlen;
	ctx.salt = salt;
	ctx.saltlen = (uint32_t)saltlen;
	ctx.t_cost = t;
	ctx.m_cost = m;
	ctx.lanes = p;
	ctx.threads = 1;
	ctx.version = ARGON2_VERSION_13;
	ctx.allocate_cbk = mfad_argon2_alloc;
	ctx.free_cbk = mfad_argon2_release;
	ctx.flags = ARGON2_DEFAULT_FLAGS;
	mfad_argon2_cur = a;
	if (argon2_ctx(&ctx, Argon2_id) == ARGON2_OK)
		r = sodium_memcmp(got, want, wantlen) == 0;
	mfad_argon2_cur = NULL;
	sodium_memzero(got, sizeof(got));
	return r;
}
