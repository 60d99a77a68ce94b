/*
 * Bounded byte buffers whose free wipes their contents.
 *
 * A buffer never grows past the maximum given at creation; a put past it
 * fails with MSS_ERR_TOOBIG before any allocation. Reads consume from an
 * offset and fail with MSS_ERR_PROTO when the data is short, so a parser
 * built from these calls is strict by construction. Integers travel in
 * network byte order; strings are a u32 length then bytes, with no NUL.
 */
#ifndef MSS_BUF_H
#define MSS_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "mss_err.h"

struct mss_buf {
	unsigned char	*data;
	size_t		 off;	/* read position */
	size_t		 len;	/* bytes written */
	size_t		 cap;	/* bytes allocated */
	size_t		 max;	/* hard bound */
};

/* Returns a new empty buffer bounded by max bytes, or NULL. */
struct mss_buf *mss_buf_new(size_t max) MSS_WUR;
/* Wipes and frees; NULL is fine. */
void mss_buf_free(struct mss_buf *b);
/* Wipes the contents and empties the buffer, keeping its memory. */
void mss_buf_reset(struct mss_buf *b);

/* Bytes not yet read, and a pointer to them. */
size_t mss_buf_avail(const struct mss_buf *b);
const unsigned char *mss_buf_ptr(const struct mss_buf *b);

/* Makes room for n more bytes and returns where they go (the caller then
 * calls mss_buf_commit), or NULL when n exceeds the bound or memory. */
unsigned char *mss_buf_reserve(struct mss_buf *b, size_t n);
void mss_buf_commit(struct mss_buf *b, size_t n);

int mss_buf_put(struct mss_buf *b, const void *p, size_t n)
    MSS_WUR;
int mss_buf_put_u8(struct mss_buf *b, uint8_t v)
    MSS_WUR;
int mss_buf_put_u32(struct mss_buf *b, uint32_t v)
    MSS_WUR;
int mss_buf_put_u64(struct mss_buf *b, uint64_t v)
    MSS_WUR;
/* Puts a string (NULL puts an empty one). */
int mss_buf_put_str(struct mss_buf *b, const char *s)
    MSS_WUR;

int mss_buf_get_u8(struct mss_buf *b, uint8_t *v)
    MSS_WUR;
int mss_buf_get_u32(struct mss_buf *b, uint32_t *v)
    MSS_WUR;
int mss_buf_get_u64(struct mss_buf *b, uint64_t *v)
    MSS_WUR;
/*
 * Reads a string of at most maxlen bytes into a new NUL-terminated copy
 * that the caller releases with mss_str_free. An embedded NUL, a length
 * over maxlen or past the data fail with MSS_ERR_PROTO or MSS_ERR_TOOBIG.
 */
int mss_buf_get_str(struct mss_buf *b, char **out, size_t maxlen)
    MSS_WUR;
/* MSS_ERR_PROTO when unread bytes remain: messages have no trailing data. */
int mss_buf_end(const struct mss_buf *b)
    MSS_WUR;

/* Wipes a NUL-terminated string and frees it; NULL is fine. */
void mss_str_free(char *s);
/* Wipes n bytes at p (explicit_bzero: never optimised away). */
void mss_wipe(void *p, size_t n);
/* strdup that returns NULL for NULL. */
char *mss_strdup(const char *s) MSS_WUR;

#endif /* MSS_BUF_H */
