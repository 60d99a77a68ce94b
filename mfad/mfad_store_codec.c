/*
 * The store's one record codec: each record type is a struct
 * mfad_rec_type (its newest version, its bound, how to encode and
 * decode it), and mfad_rec_get/put/decode read and write every type the
 * same way. The layouts below are the store's on-disk format: a field is
 * only ever added at the end, under a new version, and every older
 * version still reads.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mfad_log.h"
#include "mfad_store_lmdb.h"
#include "mss_buf.h"
#include "mss_err.h"

#define MFAD_REC_V2		2
#define MFAD_REC_V3		3	/* accounts: recovery codes */
#define MFAD_REC_V4		4	/* accounts: cur_login only when set */
#define MFAD_REC_V5		5	/* accounts: compact, no user */
#define MFAD_REC_MAX		8192

/* Keys */

void
mfad_store_u64_key(uint64_t v, unsigned char k[8])
{
	int i;

	for (i = 7; i >= 0; i--) {
		k[i] = v & 0xff;
		v >>= 8;
	}
}

uint64_t
mfad_store_key_u64(const unsigned char *k)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | k[i];
	return v;
}

/* A user name LMDB cannot hold as a key (empty, or too long) names no
 * account: "not found", never a store error logged at error level. */
int
mfad_store_user_key_ok(const char *user)
{
	return user[0] != '\0' && strlen(user) <= MFAD_USER_MAX;
}

/* Fields: text copied into fixed-size arrays with bounds. */

static int MSS_WUR
mfad_get_text(struct mss_buf *b, char *dst, size_t dstlen)
{
	char *s;
	int r;

	if ((r = mss_buf_get_str(b, &s, dstlen - 1)) != 0)
		return r;
	memcpy(dst, s, strlen(s) + 1);
	mss_str_free(s);
	return 0;
}

/* Short text with a one-byte length, as device records keep it. */
static int MSS_WUR
mfad_get_text8(struct mss_buf *b, char *dst, size_t dstlen)
{
	uint8_t n;
	int r;

	if ((r = mss_buf_get_u8(b, &n)) != 0)
		return r;
	if (n >= dstlen || mss_buf_avail(b) < n ||
	    memchr(mss_buf_ptr(b), '\0', n) != NULL)
		return MSS_ERR_PROTO;
	memcpy(dst, mss_buf_ptr(b), n);
	dst[n] = '\0';
	b->off += n;
	return 0;
}

static int MSS_WUR
mfad_put_text8(struct mss_buf *b, const char *s)
{
	size_t n = strlen(s);
	int r;

	if (n > UINT8_MAX)
		return MSS_ERR_TOOBIG;
	if ((r = mss_buf_put_u8(b, (uint8_t)n)) != 0)
		return r;
	return mss_buf_put(b, s, n);
}

/*
 * Short fields that hold a few values most of the time (a device's kind
 * and service, an audit event's name, service and result): a byte below
 * 0x80 is the length of the text after it; 0x80 + i stands for the i-th
 * of these words, one byte for the whole text. The list is part of the
 * format: a word is only ever added at its end.
 */
static const char *const mfad_words[] = {
	"rhost", "sshkey", "tty", "none", "mfadctl", "sshd", "login",
	"sudo", "su", "success", "failure", "login_ok", "login_denied",
	"user_added", "device_remembered", "password_set", "code_sent",
	"code_ok", "code_wrong"
};
#define MFAD_WORD		0x80
#define MFAD_NWORDS		(sizeof(mfad_words) / sizeof(mfad_words[0]))

static int MSS_WUR
mfad_put_word(struct mss_buf *b, const char *s)
{
	size_t i, n = strlen(s);
	int r;

	for (i = 0; i < MFAD_NWORDS; i++)
		if (strcmp(s, mfad_words[i]) == 0)
			return mss_buf_put_u8(b, (uint8_t)(MFAD_WORD + i));
	if (n >= MFAD_WORD)
		return MSS_ERR_TOOBIG;
	if ((r = mss_buf_put_u8(b, (uint8_t)n)) != 0)
		return r;
	return mss_buf_put(b, s, n);
}

static int MSS_WUR
mfad_get_word(struct mss_buf *b, char *dst, size_t dstlen)
{
	const char *w;
	uint8_t c;
	int r;

	if (mss_buf_avail(b) < 1)
		return MSS_ERR_PROTO;
	c = *mss_buf_ptr(b);
	if (c < MFAD_WORD)
		return mfad_get_text8(b, dst, dstlen);
	if ((r = mss_buf_get_u8(b, &c)) != 0)
		return r;
	if ((size_t)(c - MFAD_WORD) >= MFAD_NWORDS)
		return MSS_ERR_PROTO;
	w = mfad_words[c - MFAD_WORD];
	if (strlen(w) >= dstlen)
		return MSS_ERR_PROTO;
	memcpy(dst, w, strlen(w) + 1);
	return 0;
}

static int MSS_WUR
mfad_get_fixed(struct mss_buf *b, uint8_t *dst, size_t n)
{
	if (mss_buf_avail(b) < n)
		return MSS_ERR_PROTO;
	memcpy(dst, mss_buf_ptr(b), n);
	b->off += n;
	return 0;
}

/*
 * Integers of the compact versions: seven bits a byte, low bits first,
 * the high bit set on every byte but the last (a time in seconds takes
 * 5 bytes, a zero 1). Decoding takes only the shortest form of a value
 * that fits in 64 bits, so that each value has one encoding.
 */
static int MSS_WUR
mfad_put_var(struct mss_buf *b, uint64_t v)
{
	uint8_t p[10];
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return mss_buf_put(b, p, n);
}

static int MSS_WUR
mfad_get_var(struct mss_buf *b, uint64_t *v)
{
	uint64_t x = 0;
	uint8_t c;
	unsigned shift = 0;
	int r;

	for (;;) {
		if ((r = mss_buf_get_u8(b, &c)) != 0)
			return r;
		if (shift == 63 && c > 1)
			return MSS_ERR_PROTO;	/* past 64 bits */
		x |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0)
			break;
		if ((shift += 7) > 63)
			return MSS_ERR_PROTO;
	}
	if (c == 0 && shift > 0)
		return MSS_ERR_PROTO;		/* not the shortest form */
	*v = x;
	return 0;
}

static int MSS_WUR
mfad_get_var32(struct mss_buf *b, uint32_t *v)
{
	uint64_t x;
	int r;

	if ((r = mfad_get_var(b, &x)) != 0)
		return r;
	if (x > UINT32_MAX)
		return MSS_ERR_PROTO;
	*v = (uint32_t)x;
	return 0;
}

/*
 * Password hashes of the compact account: libsodium's argon2id string,
 * $argon2id$v=19$m=M,t=T,p=P$SALT$HASH (16 and 32 bytes in base64
 * without padding), is kept as its three costs and 48 raw bytes, about
 * 40 bytes less than the text. Any other string (another algorithm or
 * length, a form that does not print back the same, "" while invited)
 * stays the text: a hash reads back as exactly the string written.
 */
#define MFAD_PW_TEXT		0
#define MFAD_PW_ARGON2ID	1
#define MFAD_PW_SALT		16
#define MFAD_PW_HASH		32
#define MFAD_PW_B64		sodium_base64_VARIANT_ORIGINAL_NO_PADDING

/* Prints the argon2id string of the costs and raw bytes into out. */
static int MSS_WUR
mfad_pw_print(char *out, size_t outlen, uint32_t m, uint32_t t, uint32_t p,
    const uint8_t salt[MFAD_PW_SALT], const uint8_t hash[MFAD_PW_HASH])
{
	char s[sodium_base64_ENCODED_LEN(MFAD_PW_SALT, MFAD_PW_B64)];
	char h[sodium_base64_ENCODED_LEN(MFAD_PW_HASH, MFAD_PW_B64)];
	int n;

	sodium_bin2base64(s, sizeof(s), salt, MFAD_PW_SALT, MFAD_PW_B64);
	sodium_bin2base64(h, sizeof(h), hash, MFAD_PW_HASH, MFAD_PW_B64);
	n = snprintf(out, outlen, "$argon2id$v=19$m=%u,t=%u,p=%u$%s$%s",
	    (unsigned)m, (unsigned)t, (unsigned)p, s, h);
	sodium_memzero(h, sizeof(h));
	return n < 0 || (size_t)n >= outlen ? MSS_ERR_TOOBIG : 0;
}

/* Reads a decimal u32 at *sp up to the byte end, as printf prints it
 * (no sign, no leading zero); *sp passes it. */
static int
mfad_pw_num(const char **sp, char end, uint32_t *v)
{
	const char *s = *sp;
	uint64_t x = 0;

	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] != end))
		return -1;
	for (; *s >= '0' && *s <= '9'; s++)
		if ((x = x * 10 + (uint64_t)(*s - '0')) > UINT32_MAX)
			return -1;
	if (*s != end)
		return -1;
	*sp = s + 1;
	*v = (uint32_t)x;
	return 0;
}

/*
 * Whether pw is an argon2id string that the compact form prints back
 * byte for byte: then its costs and raw bytes. No print to compare: the
 * numbers are read only in printf's form, and sodium_base642bin takes
 * only the canonical text (no padding, no other byte, the bits past the
 * last byte zero), so each part has one spelling.
 */
static int
mfad_pw_parse(const char *pw, uint32_t *m, uint32_t *t, uint32_t *p,
    uint8_t salt[MFAD_PW_SALT], uint8_t hash[MFAD_PW_HASH])
{
	static const char pre[] = "$argon2id$v=19$m=";
	const char *s = pw, *e;
	size_t n;

	if (strncmp(s, pre, sizeof(pre) - 1) != 0)
		return 0;
	s += sizeof(pre) - 1;
	if (mfad_pw_num(&s, ',', m) != 0 || strncmp(s, "t=", 2) != 0)
		return 0;
	s += 2;
	if (mfad_pw_num(&s, ',', t) != 0 || strncmp(s, "p=", 2) != 0)
		return 0;
	s += 2;
	if (mfad_pw_num(&s, '$', p) != 0 || (e = strchr(s, '$')) == NULL)
		return 0;
	if (sodium_base642bin(salt, MFAD_PW_SALT, s, (size_t)(e - s), NULL,
	    &n, NULL, MFAD_PW_B64) != 0 || n != MFAD_PW_SALT)
		return 0;
	s = e + 1;
	return sodium_base642bin(hash, MFAD_PW_HASH, s, strlen(s), NULL,
	    &n, NULL, MFAD_PW_B64) == 0 && n == MFAD_PW_HASH;
}

static int MSS_WUR
mfad_put_pw(struct mss_buf *b, const char *pw)
{
	uint8_t salt[MFAD_PW_SALT], hash[MFAD_PW_HASH];
	uint32_t m, t, p;
	int r;

	if (!mfad_pw_parse(pw, &m, &t, &p, salt, hash)) {
		r = mss_buf_put_u8(b, MFAD_PW_TEXT);
		if (r == 0)
			r = mfad_put_text8(b, pw);
	} else if ((r = mss_buf_put_u8(b, MFAD_PW_ARGON2ID)) == 0 &&
	    (r = mfad_put_var(b, m)) == 0 &&
	    (r = mfad_put_var(b, t)) == 0 &&
	    (r = mfad_put_var(b, p)) == 0 &&
	    (r = mss_buf_put(b, salt, sizeof(salt))) == 0)
		r = mss_buf_put(b, hash, sizeof(hash));
	sodium_memzero(salt, sizeof(salt));
	sodium_memzero(hash, sizeof(hash));
	return r;
}

static int MSS_WUR
mfad_get_pw(struct mss_buf *b, char *dst, size_t dstlen)
{
	uint8_t form, salt[MFAD_PW_SALT], hash[MFAD_PW_HASH];
	uint32_t m, t, p;
	int r;

	if ((r = mss_buf_get_u8(b, &form)) != 0)
		return r;
	if (form == MFAD_PW_TEXT)
		return mfad_get_text8(b, dst, dstlen);
	if (form != MFAD_PW_ARGON2ID)
		return MSS_ERR_PROTO;
	if ((r = mfad_get_var32(b, &m)) == 0 &&
	    (r = mfad_get_var32(b, &t)) == 0 &&
	    (r = mfad_get_var32(b, &p)) == 0 &&
	    (r = mfad_get_fixed(b, salt, sizeof(salt))) == 0 &&
	    (r = mfad_get_fixed(b, hash, sizeof(hash))) == 0)
		r = mfad_pw_print(dst, dstlen, m, t, p, salt, hash);
	sodium_memzero(salt, sizeof(salt));
	sodium_memzero(hash, sizeof(hash));
	return r;
}

/*
 * Accounts: version 2 added the notice times and cur_login, 3 the
 * recovery codes, 4 writes cur_login only when there is one. Version 5
 * is the same fields made compact: no user (the record's key is its
 * user: mfad_store_acct.c fills it in), strings with a one-byte length,
 * the password hash as above, the integers as variable-length ones
 * (most of an account's times and counters are zero).
 */

static int MSS_WUR
mfad_acct_encode(struct mss_buf *b, const void *rec)
{
	const struct mfad_acct *a = rec;
	uint32_t i, nsends, nrec;
	int r;

	nsends = a->nsends < MFAD_SENDS_MAX ? a->nsends : MFAD_SENDS_MAX;
	nrec = a->nrecovery < MFAD_RECOVERY_MAX ? a->nrecovery :
	    MFAD_RECOVERY_MAX;
	if ((r = mfad_put_text8(b, a->email)) != 0 ||
	    (r = mfad_put_text8(b, a->lang)) != 0 ||
	    (r = mss_buf_put_u8(b, a->state)) != 0 ||
	    (r = mss_buf_put_u8(b, a->reenroll)) != 0 ||
	    (r = mfad_put_pw(b, a->pwhash)) != 0 ||
	    (r = mfad_put_var(b, a->created)) != 0 ||
	    (r = mfad_put_var(b, a->enrolled)) != 0 ||
	    (r = mfad_put_var(b, a->last_login)) != 0 ||
	    (r = mfad_put_var(b, a->failures)) != 0 ||
	    (r = mfad_put_var(b, a->locked_until)) != 0 ||
	    (r = mfad_put_var(b, nsends)) != 0)
		return r;
	for (i = 0; i < nsends; i++)
		if ((r = mfad_put_var(b, a->sends[i])) != 0)
			return r;
	if ((r = mfad_put_var(b, a->throttle_noticed)) != 0 ||
	    (r = mfad_put_var(b, a->lock_noticed)) != 0 ||
	    (r = mss_buf_put_u8(b, a->has_cur_login != 0)) != 0)
		return r;
	if (a->has_cur_login &&
	    (r = mss_buf_put(b, a->cur_login, MFAD_KEY_LEN)) != 0)
		return r;
	if ((r = mfad_put_var(b, nrec)) != 0)
		return r;
	for (i = 0; i < nrec; i++)
		if ((r = mss_buf_put(b, a->recovery[i], MFAD_KEY_LEN)) != 0)
			return r;
	return 0;
}

/* Version 5: the layout mfad_acct_encode writes. */
static int MSS_WUR
mfad_acct_decode_v5(struct mss_buf *b, struct mfad_acct *a)
{
	uint32_t i;
	int r;

	if ((r = mfad_get_text8(b, a->email, sizeof(a->email))) != 0 ||
	    (r = mfad_get_text8(b, a->lang, sizeof(a->lang))) != 0 ||
	    (r = mss_buf_get_u8(b, &a->state)) != 0 ||
	    (r = mss_buf_get_u8(b, &a->reenroll)) != 0 ||
	    (r = mfad_get_pw(b, a->pwhash, sizeof(a->pwhash))) != 0 ||
	    (r = mfad_get_var(b, &a->created)) != 0 ||
	    (r = mfad_get_var(b, &a->enrolled)) != 0 ||
	    (r = mfad_get_var(b, &a->last_login)) != 0 ||
	    (r = mfad_get_var32(b, &a->failures)) != 0 ||
	    (r = mfad_get_var(b, &a->locked_until)) != 0 ||
	    (r = mfad_get_var32(b, &a->nsends)) != 0)
		return r;
	if (a->nsends > MFAD_SENDS_MAX)
		return MSS_ERR_PROTO;
	for (i = 0; i < a->nsends; i++)
		if ((r = mfad_get_var(b, &a->sends[i])) != 0)
			return r;
	if ((r = mfad_get_var(b, &a->throttle_noticed)) != 0 ||
	    (r = mfad_get_var(b, &a->lock_noticed)) != 0 ||
	    (r = mss_buf_get_u8(b, &a->has_cur_login)) != 0)
		return r;
	if (a->has_cur_login > 1)
		return MSS_ERR_PROTO;
	if (a->has_cur_login &&
	    (r = mfad_get_fixed(b, a->cur_login, MFAD_KEY_LEN)) != 0)
		return r;
	if ((r = mfad_get_var32(b, &a->nrecovery)) != 0)
		return r;
	if (a->nrecovery > MFAD_RECOVERY_MAX)
		return MSS_ERR_PROTO;
	for (i = 0; i < a->nrecovery; i++)
		if ((r = mfad_get_fixed(b, a->recovery[i], MFAD_KEY_LEN)) != 0)
			return r;
	return 0;
}

static int MSS_WUR
mfad_acct_decode(struct mss_buf *b, uint8_t ver, void *rec)
{
	struct mfad_acct *a = rec;
	uint32_t i;
	int r;

	memset(a, 0, sizeof(*a));
	if (ver >= MFAD_REC_V5)
		return mfad_acct_decode_v5(b, a);
	if ((r = mfad_get_text(b, a->user, sizeof(a->user))) != 0 ||
	    (r = mfad_get_text(b, a->email, sizeof(a->email))) != 0 ||
	    (r = mfad_get_text(b, a->lang, sizeof(a->lang))) != 0 ||
	    (r = mss_buf_get_u8(b, &a->state)) != 0 ||
	    (r = mss_buf_get_u8(b, &a->reenroll)) != 0 ||
	    (r = mfad_get_text(b, a->pwhash, sizeof(a->pwhash))) != 0 ||
	    (r = mss_buf_get_u64(b, &a->created)) != 0 ||
	    (r = mss_buf_get_u64(b, &a->enrolled)) != 0 ||
	    (r = mss_buf_get_u64(b, &a->last_login)) != 0 ||
	    (r = mss_buf_get_u32(b, &a->failures)) != 0 ||
	    (r = mss_buf_get_u64(b, &a->locked_until)) != 0 ||
	    (r = mss_buf_get_u32(b, &a->nsends)) != 0)
		return r;
	if (a->nsends > MFAD_SENDS_MAX)
		return MSS_ERR_PROTO;
	for (i = 0; i < a->nsends; i++)
		if ((r = mss_buf_get_u64(b, &a->sends[i])) != 0)
			return r;
	if (ver < MFAD_REC_V2)
		return 0;
	if ((r = mss_buf_get_u64(b, &a->throttle_noticed)) != 0 ||
	    (r = mss_buf_get_u64(b, &a->lock_noticed)) != 0 ||
	    (r = mss_buf_get_u8(b, &a->has_cur_login)) != 0)
		return r;
	if (a->has_cur_login > 1)
		return MSS_ERR_PROTO;
	/* Up to version 3, 32 bytes (zeros) even when there is none. */
	if ((ver < MFAD_REC_V4 || a->has_cur_login) &&
	    (r = mfad_get_fixed(b, a->cur_login, MFAD_KEY_LEN)) != 0)
		return r;
	if (ver < MFAD_REC_V3)
		return 0;
	if ((r = mss_buf_get_u32(b, &a->nrecovery)) != 0)
		return r;
	if (a->nrecovery > MFAD_RECOVERY_MAX)
		return MSS_ERR_PROTO;
	for (i = 0; i < a->nrecovery; i++)
		if ((r = mfad_get_fixed(b, a->recovery[i], MFAD_KEY_LEN)) != 0)
			return r;
	return 0;
}

static void
mfad_acct_clear(void *rec)
{
	mfad_acct_wipe(rec);
}

const struct mfad_rec_type mfad_rec_acct = {
	"account", MFAD_REC_V5, MFAD_REC_MAX, mfad_acct_encode,
	mfad_acct_decode, mfad_acct_clear
};

/* Logins: version 2 added the code's nonce, the takeover notice and the
 * throttle key. */

static int MSS_WUR
mfad_login_encode(struct mss_buf *b, const void *rec)
{
	const struct mfad_login *l = rec;
	int r;

	if ((r = mss_buf_put_u8(b, l->kind)) != 0 ||
	    (r = mss_buf_put_str(b, l->user)) != 0 ||
	    (r = mss_buf_put_str(b, l->service)) != 0 ||
	    (r = mss_buf_put_str(b, l->rhost)) != 0 ||
	    (r = mss_buf_put_str(b, l->masked)) != 0 ||
	    (r = mss_buf_put_u32(b, l->caller_uid)) != 0 ||
	    (r = mss_buf_put_u8(b, l->state)) != 0 ||
	    (r = mss_buf_put_u8(b, l->mail)) != 0 ||
	    (r = mss_buf_put_u8(b, l->has_device)) != 0 ||
	    (r = mss_buf_put_str(b, l->device_kind)) != 0 ||
	    (r = mss_buf_put(b, l->devhash, MFAD_KEY_LEN)) != 0 ||
	    (r = mss_buf_put(b, l->codehash, MFAD_KEY_LEN)) != 0 ||
	    (r = mss_buf_put_u64(b, l->created)) != 0 ||
	    (r = mss_buf_put_u64(b, l->code_expires)) != 0 ||
	    (r = mss_buf_put_u64(b, l->expires)) != 0 ||
	    (r = mss_buf_put_u64(b, l->verified)) != 0 ||
	    (r = mss_buf_put_u32(b, l->attempts)) != 0 ||
	    (r = mss_buf_put_u32(b, l->sends)) != 0 ||
	    (r = mss_buf_put(b, l->code_nonce, MFAD_NONCE_LEN)) != 0 ||
	    (r = mss_buf_put_u8(b, l->noticed)) != 0 ||
	    (r = mss_buf_put_u8(b, l->has_tkey)) != 0 ||
	    (r = mss_buf_put(b, l->tkey, MFAD_KEY_LEN)) != 0)
		return r;
	return 0;
}

static int MSS_WUR
mfad_login_decode(struct mss_buf *b, uint8_t ver, void *rec)
{
	struct mfad_login *l = rec;
	uint32_t uid;
	int r;

	memset(l, 0, sizeof(*l));
	if ((r = mss_buf_get_u8(b, &l->kind)) != 0 ||
	    (r = mfad_get_text(b, l->user, sizeof(l->user))) != 0 ||
	    (r = mfad_get_text(b, l->service, sizeof(l->service))) != 0 ||
	    (r = mfad_get_text(b, l->rhost, sizeof(l->rhost))) != 0 ||
	    (r = mfad_get_text(b, l->masked, sizeof(l->masked))) != 0 ||
	    (r = mss_buf_get_u32(b, &uid)) != 0 ||
	    (r = mss_buf_get_u8(b, &l->state)) != 0 ||
	    (r = mss_buf_get_u8(b, &l->mail)) != 0 ||
	    (r = mss_buf_get_u8(b, &l->has_device)) != 0 ||
	    (r = mfad_get_text(b, l->device_kind,
	    sizeof(l->device_kind))) != 0 ||
	    (r = mfad_get_fixed(b, l->devhash, MFAD_KEY_LEN)) != 0 ||
	    (r = mfad_get_fixed(b, l->codehash, MFAD_KEY_LEN)) != 0 ||
	    (r = mss_buf_get_u64(b, &l->created)) != 0 ||
	    (r = mss_buf_get_u64(b, &l->code_expires)) != 0 ||
	    (r = mss_buf_get_u64(b, &l->expires)) != 0 ||
	    (r = mss_buf_get_u64(b, &l->verified)) != 0 ||
	    (r = mss_buf_get_u32(b, &l->attempts)) != 0 ||
	    (r = mss_buf_get_u32(b, &l->sends)) != 0)
		return r;
	if (ver >= MFAD_REC_V2 &&
	    ((r = mfad_get_fixed(b, l->code_nonce, MFAD_NONCE_LEN)) != 0 ||
	    (r = mss_buf_get_u8(b, &l->noticed)) != 0 ||
	    (r = mss_buf_get_u8(b, &l->has_tkey)) != 0 ||
	    (r = mfad_get_fixed(b, l->tkey, MFAD_KEY_LEN)) != 0))
		return r;
	l->caller_uid = uid;
	return 0;
}

const struct mfad_rec_type mfad_rec_login = {
	"login", MFAD_REC_V2, MFAD_REC_MAX, mfad_login_encode,
	mfad_login_decode, NULL
};

/* Throttle records: the recent sends, newest last. */

static int MSS_WUR
mfad_throttle_encode(struct mss_buf *b, const void *rec)
{
	const struct mfad_throttle_rec *t = rec;
	uint32_t i;
	int r;

	if ((r = mss_buf_put_u32(b, t->nsends)) != 0)
		return r;
	for (i = 0; i < t->nsends && i < MFAD_SENDS_MAX; i++)
		if ((r = mss_buf_put_u64(b, t->sends[i])) != 0)
			return r;
	return 0;
}

static int MSS_WUR
mfad_throttle_decode(struct mss_buf *b, uint8_t ver, void *rec)
{
	struct mfad_throttle_rec *t = rec;
	uint32_t i;
	int r;

	(void)ver;
	memset(t, 0, sizeof(*t));
	if ((r = mss_buf_get_u32(b, &t->nsends)) != 0)
		return r;
	if (t->nsends > MFAD_SENDS_MAX)
		return MSS_ERR_PROTO;
	for (i = 0; i < t->nsends; i++)
		if ((r = mss_buf_get_u64(b, &t->sends[i])) != 0)
			return r;
	return 0;
}

const struct mfad_rec_type mfad_rec_throttle = {
	"throttle", 1, MFAD_REC_MAX, mfad_throttle_encode,
	mfad_throttle_decode, NULL
};

/*
 * Devices: version 2 gives the strings a one-byte length instead of
 * four: nine bytes less a device, millions of them in a large store.
 * Version 3 drops the user: the record is a duplicate under its user's
 * key, after the device's keyed hash (mfad_store_device.c). Versions 1
 * and 2, keyed by the hash alone, are read only by the store's
 * migration at open, which fills in nothing: they carry the user.
 * Version 4 keeps kind and service as words (above: "rhost" and
 * "mfadctl" take a byte each) and makes the three times variable-length
 * integers: created, then expires as its distance from created (modulo
 * 2^64, so any value reads back: 4 bytes for a year), then last use (1
 * byte while unused, as an imported device is), 10 bytes instead of 24.
 */
#define MFAD_REC_V3_DEVICE	3
#define MFAD_REC_V4_DEVICE	4

static int MSS_WUR
mfad_device_encode(struct mss_buf *b, const void *rec)
{
	const struct mfad_device *d = rec;
	int r;

	if ((r = mfad_put_word(b, d->kind)) != 0 ||
	    (r = mfad_put_word(b, d->service)) != 0 ||
	    (r = mfad_put_var(b, d->created)) != 0 ||
	    (r = mfad_put_var(b, d->expires - d->created)) != 0 ||
	    (r = mfad_put_var(b, d->last_used)) != 0)
		return r;
	return 0;
}

static int MSS_WUR
mfad_device_decode(struct mss_buf *b, uint8_t ver, void *rec)
{
	int (*text)(struct mss_buf *, char *, size_t);
	struct mfad_device *d = rec;
	uint64_t lead;
	int r;

	memset(d, 0, sizeof(*d));
	text = ver < MFAD_REC_V2 ? mfad_get_text :
	    ver < MFAD_REC_V4_DEVICE ? mfad_get_text8 : mfad_get_word;
	if (ver < MFAD_REC_V3_DEVICE &&
	    (r = text(b, d->user, sizeof(d->user))) != 0)
		return r;
	if ((r = text(b, d->kind, sizeof(d->kind))) != 0 ||
	    (r = text(b, d->service, sizeof(d->service))) != 0)
		return r;
	if (ver >= MFAD_REC_V4_DEVICE) {
		if ((r = mfad_get_var(b, &d->created)) != 0 ||
		    (r = mfad_get_var(b, &lead)) != 0 ||
		    (r = mfad_get_var(b, &d->last_used)) != 0)
			return r;
		d->expires = d->created + lead;
		return 0;
	}
	if ((r = mss_buf_get_u64(b, &d->created)) != 0 ||
	    (r = mss_buf_get_u64(b, &d->expires)) != 0 ||
	    (r = mss_buf_get_u64(b, &d->last_used)) != 0)
		return r;
	return 0;
}

/* A version 4 record takes at most 1 + 2 + 15 + 63 + 30 bytes: with
 * its hash, well within the 511 bytes LMDB allows a sorted duplicate. */
const struct mfad_rec_type mfad_rec_device = {
	"device", MFAD_REC_V4_DEVICE, MFAD_REC_MAX, mfad_device_encode,
	mfad_device_decode, NULL
};

/*
 * Outbox messages: the sealed body last, its length counting every byte
 * left. created, expires and next_try lead the record, right after the
 * version, so that a scan of the queue reads them without decoding.
 */
#define MFAD_OUTMSG_HEAD	25	/* version + three u64 */

static int MSS_WUR
mfad_outmsg_encode(struct mss_buf *b, const void *rec)
{
	const struct mfad_outmsg *m = rec;
	int r;

	if ((r = mss_buf_put_u64(b, m->created)) != 0 ||
	    (r = mss_buf_put_u64(b, m->expires)) != 0 ||
	    (r = mss_buf_put_u64(b, m->next_try)) != 0 ||
	    (r = mss_buf_put_u32(b, m->tries)) != 0 ||
	    (r = mss_buf_put_u8(b, m->kind)) != 0 ||
	    (r = mss_buf_put_str(b, m->user)) != 0 ||
	    (r = mss_buf_put_str(b, m->to)) != 0 ||
	    (r = mss_buf_put_str(b, m->last_error)) != 0 ||
	    (r = mss_buf_put_u8(b, m->has_login)) != 0 ||
	    (r = mss_buf_put(b, m->login, MFAD_KEY_LEN)) != 0 ||
	    (r = mss_buf_put_u32(b, (uint32_t)m->sealed_len)) != 0 ||
	    (r = mss_buf_put(b, m->sealed, m->sealed_len)) != 0)
		return r;
	return 0;
}

static int MSS_WUR
mfad_outmsg_decode(struct mss_buf *b, uint8_t ver, void *rec)
{
	struct mfad_outmsg *m = rec;
	uint32_t slen;
	int r;

	(void)ver;
	memset(m, 0, sizeof(*m));
	if ((r = mss_buf_get_u64(b, &m->created)) != 0 ||
	    (r = mss_buf_get_u64(b, &m->expires)) != 0 ||
	    (r = mss_buf_get_u64(b, &m->next_try)) != 0 ||
	    (r = mss_buf_get_u32(b, &m->tries)) != 0 ||
	    (r = mss_buf_get_u8(b, &m->kind)) != 0 ||
	    (r = mfad_get_text(b, m->user, sizeof(m->user))) != 0 ||
	    (r = mfad_get_text(b, m->to, sizeof(m->to))) != 0 ||
	    (r = mfad_get_text(b, m->last_error, sizeof(m->last_error))) != 0 ||
	    (r = mss_buf_get_u8(b, &m->has_login)) != 0 ||
	    (r = mfad_get_fixed(b, m->login, MFAD_KEY_LEN)) != 0 ||
	    (r = mss_buf_get_u32(b, &slen)) != 0)
		return r;
	if (slen != mss_buf_avail(b))
		return MSS_ERR_PROTO;
	if ((m->sealed = malloc(slen ? slen : 1)) == NULL)
		return MSS_ERR_NOMEM;
	memcpy(m->sealed, mss_buf_ptr(b), slen);
	m->sealed_len = slen;
	b->off += slen;
	return 0;
}

static void
mfad_outmsg_clear_rec(void *rec)
{
	mfad_outmsg_clear(rec);
}

const struct mfad_rec_type mfad_rec_outmsg = {
	"outbox", 1, MFAD_REC_MAX * 8, mfad_outmsg_encode,
	mfad_outmsg_decode, mfad_outmsg_clear_rec
};

int
mfad_rec_outmsg_times(const void *data, size_t len, uint64_t *created,
    uint64_t *next_try)
{
	const unsigned char *p = data;

	if (len < MFAD_OUTMSG_HEAD)
		return MSS_ERR_STORE;
	*created = mfad_store_key_u64(p + 1);
	*next_try = mfad_store_key_u64(p + 17);
	return 0;
}

/*
 * Audit records: version 2 drops the time, which the record's key holds
 * (mfad_store_audit.c: the same microseconds, then a random tail),
 * gives the strings a one-byte length (every field's buffer holds at
 * most 255 bytes) and keeps event, service and result as words: 26
 * bytes less an event, and up to 24 more for the common ones.
 */
#define MFAD_REC_V2_AUDIT	2

static int MSS_WUR
mfad_audit_encode(struct mss_buf *b, const void *rec)
{
	const struct mfad_audit_rec *a = rec;
	int r;

	if ((r = mfad_put_word(b, a->event)) != 0 ||
	    (r = mfad_put_text8(b, a->user)) != 0 ||
	    (r = mfad_put_word(b, a->service)) != 0 ||
	    (r = mfad_put_text8(b, a->rhost)) != 0 ||
	    (r = mfad_put_word(b, a->result)) != 0 ||
	    (r = mfad_put_text8(b, a->detail)) != 0)
		return r;
	return 0;
}

/* Version 2 leaves time_us 0: the caller reads it from the key. */
static int MSS_WUR
mfad_audit_decode(struct mss_buf *b, uint8_t ver, void *rec)
{
	int (*text)(struct mss_buf *, char *, size_t);
	int (*word)(struct mss_buf *, char *, size_t);
	struct mfad_audit_rec *a = rec;
	int r;

	memset(a, 0, sizeof(*a));
	text = mfad_get_text8;
	word = mfad_get_word;
	if (ver < MFAD_REC_V2_AUDIT) {
		text = word = mfad_get_text;
		if ((r = mss_buf_get_u64(b, &a->time_us)) != 0)
			return r;
	}
	if ((r = word(b, a->event, sizeof(a->event))) != 0 ||
	    (r = text(b, a->user, sizeof(a->user))) != 0 ||
	    (r = word(b, a->service, sizeof(a->service))) != 0 ||
	    (r = text(b, a->rhost, sizeof(a->rhost))) != 0 ||
	    (r = word(b, a->result, sizeof(a->result))) != 0 ||
	    (r = text(b, a->detail, sizeof(a->detail))) != 0)
		return r;
	return 0;
}

const struct mfad_rec_type mfad_rec_audit = {
	"audit", MFAD_REC_V2_AUDIT, MFAD_REC_MAX, mfad_audit_encode,
	mfad_audit_decode, NULL
};

/* The codec */

/* A malformed record reads as a store error, never as a parse of junk. */
static int MSS_WUR
mfad_rec_malformed(int r, const struct mfad_rec_type *t)
{
	if (r == MSS_ERR_PROTO || r == MSS_ERR_TOOBIG) {
		mfad_log(LOG_ERR, "store: malformed %s record", t->name);
		r = MSS_ERR_STORE;
	}
	return r;
}

int
mfad_rec_decode(const struct mfad_rec_type *t, const void *data, size_t len,
    void *out)
{
	struct mss_buf *b;
	uint8_t ver;
	int r;

	if ((b = mss_buf_new(t->max)) == NULL)
		return MSS_ERR_NOMEM;
	if ((r = mss_buf_put(b, data, len)) != 0 ||
	    (r = mss_buf_get_u8(b, &ver)) != 0) {
		mss_buf_free(b);
		return mfad_rec_malformed(r, t);
	}
	if (ver < 1 || ver > t->version) {
		mss_buf_free(b);
		mfad_log(LOG_ERR, "store: %s record of unknown version %u",
		    t->name, ver);
		return MSS_ERR_STORE;
	}
	if ((r = t->decode(b, ver, out)) == 0)
		r = mss_buf_end(b);
	mss_buf_free(b);
	if (r != 0 && t->clear != NULL)
		t->clear(out);
	return mfad_rec_malformed(r, t);
}

int
mfad_rec_get(struct mfad_txn *txn, MDB_dbi dbi, const void *k, size_t klen,
    const struct mfad_rec_type *t, void *out)
{
	MDB_val key = { klen, (void *)k }, val;
	int rc;

	if ((rc = mdb_get(txn->mt, dbi, &key, &val)) != 0)
		return mfad_store_err(rc, t->name);
	return mfad_rec_decode(t, val.mv_data, val.mv_size, out);
}

int
mfad_rec_encode(struct mss_buf *b, const struct mfad_rec_type *t,
    const void *rec)
{
	int r;

	if ((r = mss_buf_put_u8(b, t->version)) != 0 ||
	    (r = t->encode(b, rec)) != 0)
		return r;
	return 0;
}

int
mfad_rec_put(struct mfad_txn *txn, MDB_dbi dbi, const void *k, size_t klen,
    const struct mfad_rec_type *t, const void *rec, unsigned flags)
{
	MDB_val key = { klen, (void *)k }, val;
	struct mss_buf *b;
	int r;

	if ((b = mss_buf_new(t->max)) == NULL)
		return MSS_ERR_NOMEM;
	if ((r = mss_buf_put_u8(b, t->version)) == 0 &&
	    (r = t->encode(b, rec)) == 0) {
		val.mv_size = mss_buf_avail(b);
		val.mv_data = (void *)mss_buf_ptr(b);
		r = mfad_store_err(mdb_put(txn->mt, dbi, &key, &val, flags),
		    t->name);
	}
	mss_buf_free(b);		/* wiped: it held a password hash */
	return r;
}

int
mfad_rec_del(struct mfad_txn *txn, MDB_dbi dbi, const void *k, size_t klen,
    const char *what)
{
	MDB_val key = { klen, (void *)k };

	return mfad_store_err(mdb_del(txn->mt, dbi, &key, NULL), what);
}
