#include "config.h"

#include <sys/mman.h>

#include <stdio.h>
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
/* What a new hash gets, as libsodium's crypto_pwhash_str_alg. */
#define MFAD_ARGON2_SALT_BYTES	16
#define MFAD_ARGON2_HASH_BYTES	32

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

/* Runs ctx (its out, pwd, salt and costs set) in a's memory. */
static int
mfad_argon2_run(struct mfad_argon2_arena *a, argon2_context *ctx)
{
	int r;

	ctx->threads = 1;
	ctx->version = ARGON2_VERSION_13;
	ctx->allocate_cbk = mfad_argon2_alloc;
	ctx->free_cbk = mfad_argon2_release;
	ctx->flags = ARGON2_DEFAULT_FLAGS;
	mfad_argon2_cur = a;
	r = argon2_ctx(ctx, Argon2_id);
	mfad_argon2_cur = NULL;
	return r;
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
	if (mfad_argon2_run(a, &ctx) == ARGON2_OK)
		r = sodium_memcmp(got, want, wantlen) == 0;
	sodium_memzero(got, sizeof(got));
	return r;
}

int
mfad_argon2_hash(struct mfad_argon2_arena *a, unsigned long long opslimit,
    size_t memlimit, const char *pw, size_t pwlen, char *out, size_t outlen)
{
	uint8_t salt[MFAD_ARGON2_SALT_BYTES], h[MFAD_ARGON2_HASH_BYTES];
	char b64salt[sodium_base64_ENCODED_LEN(sizeof(salt),
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
	char b64h[sodium_base64_ENCODED_LEN(sizeof(h),
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
	argon2_context ctx;
	uint32_t t, m;
	int n, r = MFAD_ARGON2_OTHER;

	/* KiB, as libsodium counts them. */
	if (opslimit < ARGON2_MIN_TIME || opslimit > MFAD_ARGON2_MAX_PASSES ||
	    memlimit / 1024 < 8 || memlimit / 1024 > MFAD_ARGON2_MAX_KIB ||
	    pwlen > ARGON2_MAX_PWD_LENGTH)
		return MFAD_ARGON2_OTHER;
	t = (uint32_t)opslimit;
	m = (uint32_t)(memlimit / 1024);
	randombytes_buf(salt, sizeof(salt));
	memset(&ctx, 0, sizeof(ctx));
	ctx.out = h;
	ctx.outlen = sizeof(h);
	/* Not written: ctx.flags keeps the password. */
	ctx.pwd = (uint8_t *)(uintptr_t)pw;
	ctx.pwdlen = (uint32_t)pwlen;
	ctx.salt = salt;
	ctx.saltlen = sizeof(salt);
	ctx.t_cost = t;
	ctx.m_cost = m;
	ctx.lanes = 1;
	if (mfad_argon2_run(a, &ctx) == ARGON2_OK) {
		sodium_bin2base64(b64salt, sizeof(b64salt), salt, sizeof(salt),
		    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
		sodium_bin2base64(b64h, sizeof(b64h), h, sizeof(h),
		    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
		n = snprintf(out, outlen, "$argon2id$v=19$m=%u,t=%u,p=1$%s$%s",
		    (unsigned)m, (unsigned)t, b64salt, b64h);
		r = n > 0 && (size_t)n < outlen ? 0 : MFAD_ARGON2_OTHER;
		if (r != 0 && outlen > 0)
			out[0] = '\0';
		sodium_memzero(b64h, sizeof(b64h));
	}
	sodium_memzero(h, sizeof(h));
	return r;
}
