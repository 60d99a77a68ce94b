#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mss_buf.h"
#include "mss_err.h"

/*
 * The wipe of common/ and the module: explicit_bzero, which no compiler
 * removes, as sodium_memzero; so that the module, which needs nothing
 * else of libsodium, does not load it in every PAM application.
 */
void
mss_wipe(void *p, size_t n)
{
	explicit_bzero(p, n);
}

struct mss_buf *
mss_buf_new(size_t max)
{
	struct mss_buf *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->max = max;
	return b;
}

void
mss_buf_free(struct mss_buf *b)
{
	if (b == NULL)
		return;
	if (b->data != NULL) {
		mss_wipe(b->data, b->cap);
		free(b->data);
	}
	free(b);
}

void
mss_buf_reset(struct mss_buf *b)
{
	if (b->data != NULL)
		mss_wipe(b->data, b->cap);
	b->off = b->len = 0;
}

size_t
mss_buf_avail(const struct mss_buf *b)
{
	return b->len - b->off;
}

const unsigned char *
mss_buf_ptr(const struct mss_buf *b)
{
	static const unsigned char empty[1];

	/* Never NULL: callers pass it to memchr/memcpy with a length of
	 * 0, which NULL makes undefined. */
	if (b->data == NULL)
		return empty;
	return b->data + b->off;
}

unsigned char *
mss_buf_reserve(struct mss_buf *b, size_t n)
{
	unsigned char *nd;
	size_t ncap;

	if (n > b->max || b->len > b->max - n)
		return NULL;
	if (b->len + n > b->cap) {
		/* Grow by copying so the old block can be wiped. */
		ncap = b->cap < 256 ? 256 : b->cap;
		while (ncap < b->len + n)
			ncap *= 2;
		if (ncap > b->max)
			ncap = b->max;
		if ((nd = malloc(ncap)) == NULL)
			return NULL;
		if (b->data != NULL) {
			memcpy(nd, b->data, b->len);
			mss_wipe(b->data, b->cap);
			free(b->data);
		}
		b->data = nd;
		b->cap = ncap;
	}
	return b->data + b->len;
}

void
mss_buf_commit(struct mss_buf *b, size_t n)
{
	b->len += n;
}

int
mss_buf_put(struct mss_buf *b, const void *p, size_t n)
{
	unsigned char *d;

	if (n == 0)
		return 0;
	if ((d = mss_buf_reserve(b, n)) == NULL)
		return n > b->max - b->len ? MSS_ERR_TOOBIG : MSS_ERR_NOMEM;
	memcpy(d, p, n);
	b->len += n;
	return 0;
}

int
mss_buf_put_u8(struct mss_buf *b, uint8_t v)
{
	return mss_buf_put(b, &v, 1);
}

int
mss_buf_put_u32(struct mss_buf *b, uint32_t v)
{
	unsigned char p[4];

	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
	return mss_buf_put(b, p, sizeof(p));
}

int
mss_buf_put_u64(struct mss_buf *b, uint64_t v)
{
	int r;

	if ((r = mss_buf_put_u32(b, (uint32_t)(v >> 32))) != 0)
		return r;
	return mss_buf_put_u32(b, (uint32_t)v);
}

int
mss_buf_put_str(struct mss_buf *b, const char *s)
{
	size_t n = s == NULL ? 0 : strlen(s);
	int r;

	if (n > UINT32_MAX)
		return MSS_ERR_TOOBIG;
	if ((r = mss_buf_put_u32(b, (uint32_t)n)) != 0)
		return r;
	return mss_buf_put(b, s, n);
}

int
mss_buf_get_u8(struct mss_buf *b, uint8_t *v)
{
	if (mss_buf_avail(b) < 1)
		return MSS_ERR_PROTO;
	*v = b->data[b->off++];
	return 0;
}

int
mss_buf_get_u32(struct mss_buf *b, uint32_t *v)
{
	const unsigned char *p;

	if (mss_buf_avail(b) < 4)
		return MSS_ERR_PROTO;
	p = b->data + b->off;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	b->off += 4;
	return 0;
}

int
mss_buf_get_u64(struct mss_buf *b, uint64_t *v)
{
	uint32_t hi, lo;
	int r;

	if (mss_buf_avail(b) < 8)
		return MSS_ERR_PROTO;
	if ((r = mss_buf_get_u32(b, &hi)) != 0 ||
	    (r = mss_buf_get_u32(b, &lo)) != 0)
		return r;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

int
mss_buf_get_str(struct mss_buf *b, char **out, size_t maxlen)
{
	uint32_t n;
	char *s;
	int r;

	*out = NULL;
	if ((r = mss_buf_get_u32(b, &n)) != 0)
		return r;
	if (n > maxlen)
		return MSS_ERR_TOOBIG;
	if (n > mss_buf_avail(b))
		return MSS_ERR_PROTO;
	if (memchr(b->data + b->off, '\0', n) != NULL)
		return MSS_ERR_PROTO;
	if ((s = malloc((size_t)n + 1)) == NULL)
		return MSS_ERR_NOMEM;
	memcpy(s, b->data + b->off, n);
	s[n] = '\0';
	b->off += n;
	*out = s;
	return 0;
}

int
mss_buf_end(const struct mss_buf *b)
{
	return mss_buf_avail(b) == 0 ? 0 : MSS_ERR_PROTO;
}

void
mss_str_free(char *s)
{
	if (s == NULL)
		return;
	mss_wipe(s, strlen(s));
	free(s);
}

char *
mss_strdup(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}
