/*
 * Unit tests for mfad/mfad_keys.c: the master key file, one-time codes,
 * code and device hashes, login tokens and the sealing of queued mail
 * (SECURITY.md rules 1, 3, 4 and 16). Every test runs the real code in a
 * fresh mkdtemp directory.
 */
#include "config.h"

#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "mfad_keys.h"
#include "mss_err.h"

#define KEY_LEN		32
#define DRAWS		10000
#define MIN_PER_DIGIT	700	/* expected 1000, sd ~30: 10 sd below */

#define MAX_DIRS	64

struct tdir {
	char	dir[64];
	char	key[128];
};

/* Every directory made, so that a failed test leaves none behind. */
static char made[MAX_DIRS][64];
static size_t nmade;

static void
tdir_make(struct tdir *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/test_keys.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->key, sizeof(t->key), "%s/mfad.key", t->dir);
	assert_true(nmade < MAX_DIRS);
	snprintf(made[nmade++], sizeof(made[0]), "%s", t->dir);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
remove_all_dirs(void **state)
{
	struct stat sb;
	size_t i;

	(void)state;
	for (i = 0; i < nmade; i++)
		if (lstat(made[i], &sb) == 0)
			(void)nftw(made[i], rm_one, 8, FTW_DEPTH | FTW_PHYS);
	nmade = 0;
	return 0;
}

/* Removes the key (file, link or directory) and the directory. */
static void
tdir_remove(struct tdir *t)
{
	char other[160];

	(void)unlink(t->key);
	(void)rmdir(t->key);
	snprintf(other, sizeof(other), "%s/target", t->dir);
	(void)unlink(other);
	snprintf(other, sizeof(other), "%s/fleet.key", t->dir);
	(void)unlink(other);
	snprintf(other, sizeof(other), "%s/link.key", t->dir);
	(void)unlink(other);
	assert_int_equal(rmdir(t->dir), 0);
}

static void
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	/* The umask must not soften the mode under test. */
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static size_t
read_file(const char *path, unsigned char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, len);
	assert_true(n >= 0);
	assert_int_equal(close(fd), 0);
	return (size_t)n;
}

static struct mfad_keys *
keys_in(struct tdir *t)
{
	struct mfad_keys *k;

	tdir_make(t);
	assert_int_equal(mfad_keys_load(t->dir, &k), 0);
	assert_non_null(k);
	return k;
}

/* Keys */

static void
test_keys_load_creates_then_reloads(void **state)
{
	struct mfad_keys *k1, *k2;
	struct tdir t;
	struct stat sb;
	unsigned char before[KEY_LEN + 8], after[KEY_LEN + 8];
	uint8_t nonce[MFAD_CODE_NONCE_BYTES], h1[32], h2[32];

	(void)state;
	tdir_make(&t);
	assert_int_equal(mfad_keys_load(t.dir, &k1), 0);
	assert_non_null(k1);

	assert_int_equal(lstat(t.key, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_size, KEY_LEN);
	assert_int_equal(read_file(t.key, before, sizeof(before)), KEY_LEN);

	/* Purpose subkeys are distinct from each other. */
	assert_memory_not_equal(k1->code, k1->device, 32);
	assert_memory_not_equal(k1->code, k1->box, 32);
	assert_memory_not_equal(k1->device, k1->box, 32);

	memset(nonce, 0x5a, sizeof(nonce));
	mfad_code_hash(k1, nonce, "alice", "123456", h1);

	/* Second start: the same file, the same subkeys, the same hashes. */
	assert_int_equal(mfad_keys_load(t.dir, &k2), 0);
	assert_non_null(k2);
	assert_int_equal(read_file(t.key, after, sizeof(after)), KEY_LEN);
	assert_memory_equal(before, after, KEY_LEN);
	assert_memory_equal(k1->code, k2->code, 32);
	assert_memory_equal(k1->device, k2->device, 32);
	assert_memory_equal(k1->box, k2->box, 32);
	mfad_code_hash(k2, nonce, "alice", "123456", h2);
	assert_memory_equal(h1, h2, sizeof(h1));

	mfad_keys_free(k1);
	mfad_keys_free(k2);
	tdir_remove(&t);
}

static void
test_keys_two_directories_have_different_keys(void **state)
{
	struct mfad_keys *k1, *k2;
	struct tdir t1, t2;
	uint8_t nonce[MFAD_CODE_NONCE_BYTES], h1[32], h2[32];

	(void)state;
	k1 = keys_in(&t1);
	k2 = keys_in(&t2);
	assert_memory_not_equal(k1->code, k2->code, 32);
	memset(nonce, 1, sizeof(nonce));
	mfad_code_hash(k1, nonce, "alice", "123456", h1);
	mfad_code_hash(k2, nonce, "alice", "123456", h2);
	assert_memory_not_equal(h1, h2, sizeof(h1));
	mfad_keys_free(k1);
	mfad_keys_free(k2);
	tdir_remove(&t1);
	tdir_remove(&t2);
}

static void
assert_key_refused(struct tdir *t)
{
	/* Not NULL beforehand, so the test sees it cleared. */
	struct mfad_keys *k = (struct mfad_keys *)&k;

	assert_int_not_equal(mfad_keys_load(t->dir, &k), 0);
	assert_null(k);
}

static void
test_keys_refuses_group_or_other_access(void **state)
{
	static const mode_t modes[] = { 0644, 0640, 0604, 0660, 0606 };
	unsigned char key[KEY_LEN];
	struct tdir t;
	size_t i;

	(void)state;
	memset(key, 0x42, sizeof(key));
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		tdir_make(&t);
		write_file(t.key, key, sizeof(key), modes[i]);
		assert_key_refused(&t);
		tdir_remove(&t);
	}
	/* The same bytes at 0600 are accepted: the mode was the reason. */
	tdir_make(&t);
	write_file(t.key, key, sizeof(key), 0600);
	{
		struct mfad_keys *k;

		assert_int_equal(mfad_keys_load(t.dir, &k), 0);
		mfad_keys_free(k);
	}
	tdir_remove(&t);
}

static void
test_keys_refuses_wrong_size(void **state)
{
	static const size_t sizes[] = { 1, KEY_LEN - 1, KEY_LEN + 1, 64 };
	unsigned char key[64];
	unsigned char back[80];
	struct tdir t;
	size_t i;

	(void)state;
	memset(key, 0x17, sizeof(key));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		tdir_make(&t);
		write_file(t.key, key, sizes[i], 0600);
		assert_key_refused(&t);
		/* Refused, and left alone: never replaced by a new key. */
		assert_int_equal(read_file(t.key, back, sizeof(back)),
		    sizes[i]);
		tdir_remove(&t);
	}
}

/*
 * A crash between creating the key and writing it left an empty file,
 * and mfad refused to start for good: an empty key (from which nothing
 * was ever derived) is replaced, and a temporary file left by a crash is
 * never taken for the key.
 */
static void
test_keys_empty_or_leftover_is_replaced(void **state)
{
	struct mfad_keys *k;
	unsigned char back[80], junk[KEY_LEN];
	char tmp[160];
	struct tdir t;
	struct stat sb;

	(void)state;
	tdir_make(&t);
	write_file(t.key, "", 0, 0600);
	snprintf(tmp, sizeof(tmp), "%s/mfad.key.new", t.dir);
	memset(junk, 0x5a, sizeof(junk));
	write_file(tmp, junk, 7, 0600);
	assert_int_equal(mfad_keys_load(t.dir, &k), 0);
	assert_non_null(k);
	mfad_keys_free(k);
	assert_int_equal(read_file(t.key, back, sizeof(back)), KEY_LEN);
	assert_true(memcmp(back, junk, 7) != 0);
	assert_int_equal(stat(t.key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(stat(tmp, &sb), -1);
	/* The leftover alone, beside a good key: the good key stays. */
	write_file(tmp, junk, 7, 0600);
	assert_int_equal(mfad_keys_load(t.dir, &k), 0);
	mfad_keys_free(k);
	assert_int_equal(read_file(t.key, junk, sizeof(junk)), KEY_LEN);
	assert_memory_equal(junk, back, KEY_LEN);
	(void)unlink(tmp);
	tdir_remove(&t);
}

static void
test_keys_refuses_symlink(void **state)
{
	unsigned char key[KEY_LEN];
	char target[160];
	struct tdir t;
	struct stat sb;

	(void)state;
	memset(key, 0x33, sizeof(key));

	/* A link to a good key file is still refused. */
	tdir_make(&t);
	snprintf(target, sizeof(target), "%s/target", t.dir);
	write_file(target, key, sizeof(key), 0600);
	assert_int_equal(symlink(target, t.key), 0);
	assert_key_refused(&t);
	tdir_remove(&t);

	/* A dangling link: refused, and no key is written through it. */
	tdir_make(&t);
	snprintf(target, sizeof(target), "%s/target", t.dir);
	assert_int_equal(symlink(target, t.key), 0);
	assert_key_refused(&t);
	assert_int_equal(lstat(target, &sb), -1);
	assert_int_equal(errno, ENOENT);
	tdir_remove(&t);
}

static void
test_keys_refuses_directory_and_missing_dir(void **state)
{
	struct mfad_keys *k;
	struct tdir t;
	char missing[160];

	(void)state;
	tdir_make(&t);
	assert_int_equal(mkdir(t.key, 0700), 0);
	assert_key_refused(&t);
	tdir_remove(&t);

	tdir_make(&t);
	snprintf(missing, sizeof(missing), "%s/nope", t.dir);
	assert_int_not_equal(mfad_keys_load(missing, &k), 0);
	assert_null(k);
	tdir_remove(&t);
}

/* Codes (rule 1) */

static void
test_code_new_has_exactly_len_digits(void **state)
{
	char code[MFAD_CODE_MAX + 1 + 8];
	unsigned len;
	size_t i;

	(void)state;
	for (len = 6; len <= MFAD_CODE_MAX; len++) {
		memset(code, 'x', sizeof(code));
		mfad_code_new(len, code);
		assert_int_equal(strlen(code), len);
		for (i = 0; i < len; i++)
			assert_true(code[i] >= '0' && code[i] <= '9');
		/* Nothing written past the terminator. */
		assert_int_equal(code[len + 1], 'x');
	}
}

static void
test_code_new_never_writes_past_max(void **state)
{
	char code[MFAD_CODE_MAX + 1 + 8];
	static const unsigned lens[] = { MFAD_CODE_MAX + 1, 100, 4096 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memset(code, 'x', sizeof(code));
		mfad_code_new(lens[i], code);
		assert_int_equal(strlen(code), MFAD_CODE_MAX);
		assert_int_equal(code[MFAD_CODE_MAX + 1], 'x');
	}
}

/* SECURITY 1: whatever the caller asks, a code has at least 6 digits. */
static void
test_code_new_never_shorter_than_six(void **state)
{
	char code[MFAD_CODE_MAX + 1];
	unsigned len;

	(void)state;
	for (len = 0; len < 6; len++) {
		mfad_code_new(len, code);
		assert_int_equal(strlen(code), 6);
	}
}

/*
 * Every digit at every position: a weak check that cannot be flaky
 * (expected 1000 per cell, the bound is ten standard deviations below).
 */
static void
test_code_new_every_digit_at_every_position(void **state)
{
	static unsigned counts[MFAD_CODE_MAX][10];
	char code[MFAD_CODE_MAX + 1];
	unsigned i, pos, d;

	(void)state;
	memset(counts, 0, sizeof(counts));
	for (i = 0; i < DRAWS; i++) {
		mfad_code_new(MFAD_CODE_MAX, code);
		for (pos = 0; pos < MFAD_CODE_MAX; pos++) {
			assert_true(code[pos] >= '0' && code[pos] <= '9');
			counts[pos][code[pos] - '0']++;
		}
	}
	for (pos = 0; pos < MFAD_CODE_MAX; pos++)
		for (d = 0; d < 10; d++)
			assert_in_range(counts[pos][d], MIN_PER_DIGIT, DRAWS);
}

/* Code hashes (rules 3, 4) */

static void
test_code_hash_deterministic_and_bound(void **state)
{
	struct mfad_keys *k;
	struct tdir t;
	uint8_t nonce[MFAD_CODE_NONCE_BYTES], other[MFAD_CODE_NONCE_BYTES];
	uint8_t h[32], h2[32];

	(void)state;
	k = keys_in(&t);
	memset(nonce, 0xa5, sizeof(nonce));
	mfad_code_hash(k, nonce, "alice", "123456", h);
	mfad_code_hash(k, nonce, "alice", "123456", h2);
	assert_memory_equal(h, h2, sizeof(h));

	/* Another code's nonce (one bit of it). */
	memcpy(other, nonce, sizeof(other));
	other[MFAD_CODE_NONCE_BYTES - 1] ^= 1;
	mfad_code_hash(k, other, "alice", "123456", h2);
	assert_memory_not_equal(h, h2, sizeof(h));
	/* Another user. */
	mfad_code_hash(k, nonce, "alicf", "123456", h2);
	assert_memory_not_equal(h, h2, sizeof(h));
	/* Another code, one digit off, and a prefix of it. */
	mfad_code_hash(k, nonce, "alice", "123457", h2);
	assert_memory_not_equal(h, h2, sizeof(h));
	mfad_code_hash(k, nonce, "alice", "12345", h2);
	assert_memory_not_equal(h, h2, sizeof(h));
	/* Not an unkeyed hash and not the device hash of the same words. */
	mfad_device_hash(k, "alice", "123456", "", h2);
	assert_memory_not_equal(h, h2, sizeof(h));

	mfad_keys_free(k);
	tdir_remove(&t);
}

/* Recovery codes */

static void
test_recovery_new_form_and_alphabet(void **state)
{
	char c[MFAD_RECOVERY_TEXT + 1], n[MFAD_RECOVERY_CHARS + 1];
	unsigned seen[256] = { 0 };
	size_t i, j;

	(void)state;
	for (i = 0; i < 2000; i++) {
		mfad_recovery_new(c);
		assert_int_equal(strlen(c), 14);
		assert_int_equal(c[4], '-');
		assert_int_equal(c[9], '-');
		for (j = 0; j < 14; j++)
			if (j != 4 && j != 9) {
				assert_non_null(strchr(MFAD_RECOVERY_ALPHABET,
				    c[j]));
				seen[(unsigned char)c[j]]++;
			}
		assert_int_equal(mfad_recovery_norm(c, n), 0);
	}
	/* Every symbol comes up; none that could be misread does. */
	for (j = 0; MFAD_RECOVERY_ALPHABET[j] != '\0'; j++)
		assert_true(seen[(unsigned char)MFAD_RECOVERY_ALPHABET[j]] > 0);
	assert_int_equal(seen['0'] + seen['1'] + seen['o'] + seen['l'] +
	    seen['i'], 0);
	/* 31 symbols, 12 of them: at least 50 bits. */
	assert_int_equal(strlen(MFAD_RECOVERY_ALPHABET), 31);
	assert_int_equal(MFAD_RECOVERY_CHARS, 12);
}

static void
test_recovery_norm_accepts_what_people_type(void **state)
{
	static const char *const same[] = {
		"k7mq-x3tf-9wna", "K7MQ-X3TF-9WNA", "k7mqx3tf9wna",
		"k7mq x3tf 9wna", " k7mq-x3tf-9wna ", "k7mq--x3tf\t9wna",
		"K7mQx3-tF9wnA",
	};
	static const char *const bad[] = {
		"", "123456", "1234567890", "k7mq-x3tf-9wn", "k7mq-x3tf-9wnaa",
		"k7mq-x3tf-9wn0", "k7mq-x3tf-9wno", "k7mq-x3tf-9wnl",
		"k7mq-x3tf-9wn!", "k7mq-x3tf-9wn\xc3\xa9", "k7mq_x3tf_9wna",
	};
	char n[MFAD_RECOVERY_CHARS + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_int_equal(mfad_recovery_norm(same[i], n), 0);
		assert_string_equal(n, "k7mqx3tf9wna");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mfad_recovery_norm(bad[i], n), -1);
		assert_true(sodium_is_zero((unsigned char *)n, sizeof(n)));
	}
}

static void
test_recovery_hash_bound_to_user_and_apart(void **state)
{
	struct mfad_keys *k;
	struct tdir t;
	uint8_t nonce[MFAD_CODE_NONCE_BYTES], h[32], h2[32];

	(void)state;
	k = keys_in(&t);
	mfad_recovery_hash(k, "alice", "k7mqx3tf9wna", h);
	mfad_recovery_hash(k, "alice", "k7mqx3tf9wna", h2);
	assert_memory_equal(h, h2, sizeof(h));
	mfad_recovery_hash(k, "bob", "k7mqx3tf9wna", h2);
	assert_memory_not_equal(h, h2, sizeof(h));
	mfad_recovery_hash(k, "alice", "k7mqx3tf9wnb", h2);
	assert_memory_not_equal(h, h2, sizeof(h));
	memset(nonce, 0, sizeof(nonce));
	mfad_code_hash(k, nonce, "alice", "k7mqx3tf9wna", h2);
	assert_memory_not_equal(h, h2, sizeof(h));
	mfad_keys_free(k);
	tdir_remove(&t);
}

/*
 * A login stored before nonces (all-zero nonce) is checked with the
 * token form, which must stay what it was: keyed, bound to the token,
 * the user and the code, and never equal to a nonce-form hash.
 */
static void
test_code_hash_token_form_kept(void **state)
{
	struct mfad_keys *k;
	struct tdir t;
	crypto_generichash_state st;
	uint8_t token[MFAD_TOKEN_BYTES], other[MFAD_TOKEN_BYTES];
	uint8_t nonce[MFAD_CODE_NONCE_BYTES], h[32], h2[32];

	(void)state;
	k = keys_in(&t);
	memset(token, 0x3c, sizeof(token));
	mfad_code_hash_token(k, token, "alice", "123456", h);
	/* The form codes had before: key, token, "alice\0", "123456\0". */
	crypto_generichash_init(&st, k->code, sizeof(k->code), 32);
	crypto_generichash_update(&st, token, sizeof(token));
	crypto_generichash_update(&st, (const uint8_t *)"alice", 6);
	crypto_generichash_update(&st, (const uint8_t *)"123456", 7);
	crypto_generichash_final(&st, h2, 32);
	assert_memory_equal(h, h2, sizeof(h));

	memcpy(other, token, sizeof(other));
	other[0] ^= 1;
	mfad_code_hash_token(k, other, "alice", "123456", h2);
	assert_memory_not_equal(h, h2, sizeof(h));
	mfad_code_hash_token(k, token, "bob", "123456", h2);
	assert_memory_not_equal(h, h2, sizeof(h));

	/* A nonce that is the token's first bytes gives another hash. */
	memcpy(nonce, token, sizeof(nonce));
	mfad_code_hash(k, nonce, "alice", "123456", h2);
	assert_memory_not_equal(h, h2, sizeof(h));

	mfad_keys_free(k);
	tdir_remove(&t);
}

static void
test_code_nonce_new_random_never_zero(void **state)
{
	uint8_t a[MFAD_CODE_NONCE_BYTES], b[MFAD_CODE_NONCE_BYTES];
	int i;

	(void)state;
	for (i = 0; i < 100; i++) {
		mfad_code_nonce_new(a);
		mfad_code_nonce_new(b);
		assert_false(sodium_is_zero(a, sizeof(a)));
		assert_memory_not_equal(a, b, sizeof(a));
	}
}

static void
test_code_hash_boundary_no_collision(void **state)
{
	struct mfad_keys *k;
	struct tdir t;
	uint8_t nonce[MFAD_CODE_NONCE_BYTES], h1[32], h2[32];

	(void)state;
	k = keys_in(&t);
	memset(nonce, 7, sizeof(nonce));
	mfad_code_hash(k, nonce, "ab", "c", h1);
	mfad_code_hash(k, nonce, "a", "bc", h2);
	assert_memory_not_equal(h1, h2, sizeof(h1));
	mfad_code_hash(k, nonce, "bob1", "234567", h1);
	mfad_code_hash(k, nonce, "bob", "1234567", h2);
	assert_memory_not_equal(h1, h2, sizeof(h1));
	mfad_code_hash(k, nonce, "", "bob123456", h1);
	mfad_code_hash(k, nonce, "bob123456", "", h2);
	assert_memory_not_equal(h1, h2, sizeof(h1));
	mfad_keys_free(k);
	tdir_remove(&t);
}

/* Device hashes (rule 16) */

static void
test_device_hash_bound_to_user_host_identity(void **state)
{
	struct mfad_keys *k, *k2;
	struct tdir t, t2;
	uint8_t h[32], h2[32];

	(void)state;
	k = keys_in(&t);
	mfad_device_hash(k, "alice", "host1", "ssh:SHA256:abc", h);
	mfad_device_hash(k, "alice", "host1", "ssh:SHA256:abc", h2);
	assert_memory_equal(h, h2, sizeof(h));

	mfad_device_hash(k, "bob", "host1", "ssh:SHA256:abc", h2);
	assert_memory_not_equal(h, h2, sizeof(h));
	mfad_device_hash(k, "alice", "host2", "ssh:SHA256:abc", h2);
	assert_memory_not_equal(h, h2, sizeof(h));
	mfad_device_hash(k, "alice", "host1", "ssh:SHA256:abd", h2);
	assert_memory_not_equal(h, h2, sizeof(h));

	/* Field boundaries do not run together. */
	mfad_device_hash(k, "ab", "c", "d", h);
	mfad_device_hash(k, "a", "bc", "d", h2);
	assert_memory_not_equal(h, h2, sizeof(h));
	mfad_device_hash(k, "a", "b", "cd", h2);
	assert_memory_not_equal(h, h2, sizeof(h));
	mfad_device_hash(k, "a", "bcd", "", h2);
	assert_memory_not_equal(h, h2, sizeof(h));

	/* Keyed: another master key, another hash. */
	k2 = keys_in(&t2);
	mfad_device_hash(k, "alice", "host1", "id", h);
	mfad_device_hash(k2, "alice", "host1", "id", h2);
	assert_memory_not_equal(h, h2, sizeof(h));

	mfad_keys_free(k);
	mfad_keys_free(k2);
	tdir_remove(&t);
	tdir_remove(&t2);
}

/* Tokens */

static void
test_token_new_hex_round_trip(void **state)
{
	uint8_t tok[MFAD_TOKEN_BYTES], tok2[MFAD_TOKEN_BYTES];
	uint8_t back[MFAD_TOKEN_BYTES];
	char hex[2 * MFAD_TOKEN_BYTES + 1], hex2[2 * MFAD_TOKEN_BYTES + 1];
	size_t i;

	(void)state;
	mfad_token_new(1764921600, tok, hex);
	assert_int_equal(strlen(hex), 2 * MFAD_TOKEN_BYTES);
	for (i = 0; i < 2 * MFAD_TOKEN_BYTES; i++)
		assert_non_null(strchr("0123456789abcdef", hex[i]));
	memset(back, 0, sizeof(back));
	assert_int_equal(mfad_token_parse(hex, back), 0);
	assert_memory_equal(tok, back, sizeof(tok));

	/* Two tokens are not the same. */
	mfad_token_new(1764921600, tok2, hex2);
	assert_memory_not_equal(tok, tok2, sizeof(tok));
	assert_string_not_equal(hex, hex2);
}

static void
test_token_parse_exactly_64_hex(void **state)
{
	uint8_t tok[MFAD_TOKEN_BYTES], back[MFAD_TOKEN_BYTES];
	static const char bad[] = { 'g', 'G', 'x', ' ', ':', '-', '\t' };
	static const size_t where[] = { 0, 1, 31, 62, 63 };
	char hex[2 * MFAD_TOKEN_BYTES + 1], buf[2 * MFAD_TOKEN_BYTES + 8];
	size_t i, j;

	(void)state;
	mfad_token_new(1764921600, tok, hex);

	assert_int_equal(mfad_token_parse("", back), MSS_ERR_INVAL);
	/* 63 and 65 characters. */
	snprintf(buf, sizeof(buf), "%.63s", hex);
	assert_int_equal(mfad_token_parse(buf, back), MSS_ERR_INVAL);
	snprintf(buf, sizeof(buf), "%s0", hex);
	assert_int_equal(mfad_token_parse(buf, back), MSS_ERR_INVAL);
	/* 62 and 66: whole bytes, still not a token. */
	snprintf(buf, sizeof(buf), "%.62s", hex);
	assert_int_equal(mfad_token_parse(buf, back), MSS_ERR_INVAL);
	snprintf(buf, sizeof(buf), "%s00", hex);
	assert_int_equal(mfad_token_parse(buf, back), MSS_ERR_INVAL);

	/* A non-hex character anywhere, 64 characters long. */
	for (i = 0; i < sizeof(bad); i++) {
		for (j = 0; j < sizeof(where) / sizeof(where[0]); j++) {
			memcpy(buf, hex, sizeof(hex));
			buf[where[j]] = bad[i];
			assert_int_equal(mfad_token_parse(buf, back),
			    MSS_ERR_INVAL);
		}
	}
	/* A "0x" prefix makes it 64 characters but not 64 hex. */
	snprintf(buf, sizeof(buf), "0x%.62s", hex);
	assert_int_equal(mfad_token_parse(buf, back), MSS_ERR_INVAL);

	/*
	 * Upper-case hex is hex (sodium_hex2bin accepts both cases): it
	 * names the same token.
	 */
	memcpy(buf, hex, sizeof(hex));
	for (i = 0; buf[i] != '\0'; i++)
		if (buf[i] >= 'a' && buf[i] <= 'f')
			buf[i] = (char)(buf[i] - 'a' + 'A');
	memset(back, 0, sizeof(back));
	assert_int_equal(mfad_token_parse(buf, back), 0);
	assert_memory_equal(tok, back, sizeof(tok));

	/* All zeros and all ones are fine. */
	memset(buf, '0', 64);
	buf[64] = '\0';
	assert_int_equal(mfad_token_parse(buf, back), 0);
	memset(tok, 0, sizeof(tok));
	assert_memory_equal(tok, back, sizeof(tok));
	memset(buf, 'f', 64);
	assert_int_equal(mfad_token_parse(buf, back), 0);
	memset(tok, 0xff, sizeof(tok));
	assert_memory_equal(tok, back, sizeof(tok));
}

static void
test_token_key_is_a_hash_of_the_token(void **state)
{
	uint8_t tok[MFAD_TOKEN_BYTES], tok2[MFAD_TOKEN_BYTES];
	uint8_t k1[32], k2[32], h[32];
	char hex[2 * MFAD_TOKEN_BYTES + 1];

	(void)state;
	mfad_token_new(1764921600, tok, hex);
	mfad_token_key(tok, k1);
	mfad_token_key(tok, k2);
	assert_memory_equal(k1, k2, sizeof(k1));
	/* The store key does not hand out the token. */
	assert_memory_not_equal(k1, tok, sizeof(k1));
	memcpy(tok2, tok, sizeof(tok2));
	tok2[MFAD_TOKEN_BYTES - 1] ^= 0x80;
	mfad_token_key(tok2, k2);
	assert_memory_not_equal(k1, k2, sizeof(k1));
	/* Its form: the start second, then the hash's first 28 bytes; the
	 * key of before was the whole hash. */
	crypto_generichash(h, sizeof(h), tok, sizeof(tok), NULL, 0);
	assert_memory_equal(k1, tok, MFAD_TOKEN_TIME_BYTES);
	assert_memory_equal(k1 + MFAD_TOKEN_TIME_BYTES, h,
	    32 - MFAD_TOKEN_TIME_BYTES);
	mfad_token_key_whole(tok, k2);
	assert_memory_equal(k2, h, sizeof(h));
}

/*
 * A token leads with its start second, big-endian, and so does its key:
 * logins begun together are neighbours in the store. The rest is random.
 */
static void
test_token_leads_with_its_start_second(void **state)
{
	static const uint8_t when[MFAD_TOKEN_TIME_BYTES] = {
		0x69, 0x32, 0x9e, 0x80 };	/* 1764925056 */
	uint8_t tok[MFAD_TOKEN_BYTES], tok2[MFAD_TOKEN_BYTES];
	uint8_t k1[32], k2[32];
	char hex[2 * MFAD_TOKEN_BYTES + 1], hex2[2 * MFAD_TOKEN_BYTES + 1];

	(void)state;
	mfad_token_new(1764925056, tok, hex);
	mfad_token_new(1764925056, tok2, hex2);
	assert_memory_equal(tok, when, sizeof(when));
	assert_memory_equal(tok2, when, sizeof(when));
	assert_memory_equal(hex, "69329e80", 8);
	assert_memory_not_equal(tok + MFAD_TOKEN_TIME_BYTES,
	    tok2 + MFAD_TOKEN_TIME_BYTES,
	    MFAD_TOKEN_BYTES - MFAD_TOKEN_TIME_BYTES);
	/* A second later sorts after both. */
	mfad_token_key(tok, k1);
	mfad_token_new(1764925057, tok2, hex2);
	mfad_token_key(tok2, k2);
	assert_true(memcmp(k1, k2, sizeof(k1)) < 0);
	assert_int_equal(k2[3], 0x81);
}

/* Sealing */

static void
test_seal_round_trip(void **state)
{
	static const char msg[] = "Subject: x\r\n\r\nYour code: 123456\r\n";
	struct mfad_keys *k;
	struct tdir t;
	unsigned char *s1, *s2;
	size_t l1, l2, outlen;
	char *out;

	(void)state;
	k = keys_in(&t);
	assert_int_equal(mfad_seal(k, msg, strlen(msg), &s1, &l1), 0);
	assert_int_equal(l1, crypto_secretbox_NONCEBYTES +
	    crypto_secretbox_MACBYTES + strlen(msg));
	/* The plaintext is not in the sealed form. */
	assert_null(memmem(s1, l1, "123456", 6));

	assert_int_equal(mfad_unseal(k, s1, l1, &out, &outlen), 0);
	assert_int_equal(outlen, strlen(msg));
	assert_memory_equal(out, msg, outlen);
	assert_int_equal(out[outlen], '\0');
	free(out);

	/* A fresh nonce each time. */
	assert_int_equal(mfad_seal(k, msg, strlen(msg), &s2, &l2), 0);
	assert_int_equal(l1, l2);
	assert_memory_not_equal(s1, s2, l1);
	free(s2);

	/* An empty message. */
	assert_int_equal(mfad_seal(k, "", 0, &s2, &l2), 0);
	assert_int_equal(l2, crypto_secretbox_NONCEBYTES +
	    crypto_secretbox_MACBYTES);
	assert_int_equal(mfad_unseal(k, s2, l2, &out, &outlen), 0);
	assert_int_equal(outlen, 0);
	assert_string_equal(out, "");
	free(out);
	free(s2);
	free(s1);
	mfad_keys_free(k);
	tdir_remove(&t);
}

static void
test_unseal_flipped_byte_fails(void **state)
{
	static const char msg[] = "hello, world";
	struct mfad_keys *k;
	struct tdir t;
	unsigned char *s, *longer;
	size_t len, i, outlen;
	char *out;

	(void)state;
	k = keys_in(&t);
	assert_int_equal(mfad_seal(k, msg, strlen(msg), &s, &len), 0);
	/* Every byte: nonce, MAC and ciphertext. */
	for (i = 0; i < len; i++) {
		s[i] ^= 0x01;
		out = (char *)&out;	/* must come back NULL */
		assert_int_equal(mfad_unseal(k, s, len, &out, &outlen),
		    MSS_ERR_CRYPTO);
		assert_null(out);
		s[i] ^= 0x01;
	}
	/* Truncated by one byte, or one byte appended. */
	assert_int_equal(mfad_unseal(k, s, len - 1, &out, &outlen),
	    MSS_ERR_CRYPTO);
	assert_null(out);
	assert_non_null(longer = malloc(len + 1));
	memcpy(longer, s, len);
	longer[len] = 0;
	assert_int_equal(mfad_unseal(k, longer, len + 1, &out, &outlen),
	    MSS_ERR_CRYPTO);
	assert_null(out);
	free(longer);
	/* Unflipped again, it opens. */
	assert_int_equal(mfad_unseal(k, s, len, &out, &outlen), 0);
	assert_string_equal(out, msg);
	free(out);
	free(s);
	mfad_keys_free(k);
	tdir_remove(&t);
}

static void
test_unseal_other_key_fails(void **state)
{
	struct mfad_keys *k1, *k2;
	struct tdir t1, t2;
	unsigned char *s;
	size_t len, outlen;
	char *out;

	(void)state;
	k1 = keys_in(&t1);
	k2 = keys_in(&t2);
	assert_int_equal(mfad_seal(k1, "secret", 6, &s, &len), 0);
	assert_int_equal(mfad_unseal(k2, s, len, &out, &outlen),
	    MSS_ERR_CRYPTO);
	assert_null(out);
	free(s);
	mfad_keys_free(k1);
	mfad_keys_free(k2);
	tdir_remove(&t1);
	tdir_remove(&t2);
}

static void
test_unseal_too_short_fails(void **state)
{
	unsigned char junk[crypto_secretbox_NONCEBYTES +
	    crypto_secretbox_MACBYTES];
	struct mfad_keys *k;
	struct tdir t;
	size_t n, outlen;
	char *out;

	(void)state;
	k = keys_in(&t);
	memset(junk, 0, sizeof(junk));
	for (n = 0; n < sizeof(junk); n++) {
		out = (char *)&out;	/* must come back NULL */
		assert_int_equal(mfad_unseal(k, junk, n, &out, &outlen),
		    MSS_ERR_CRYPTO);
		assert_null(out);
	}
	/* Exactly nonce + MAC of zeros: the right size, a wrong MAC. */
	assert_int_equal(mfad_unseal(k, junk, sizeof(junk), &out, &outlen),
	    MSS_ERR_CRYPTO);
	assert_null(out);
	mfad_keys_free(k);
	tdir_remove(&t);
}

/* Fleet key */

/* path gets a fleet key file in t's directory: key as raw bytes (hex 0)
 * or as 64 hex digits and a newline. */
static void
fleet_key_write(const struct tdir *t, const uint8_t key[32], int hex,
    mode_t mode, char *path, size_t len)
{
	char text[65];
	int fd;

	snprintf(path, len, "%s/fleet.key", t->dir);
	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	if (hex) {
		sodium_bin2hex(text, sizeof(text), key, 32);
		assert_int_equal(write(fd, text, 64), 64);
		assert_int_equal(write(fd, "\n", 1), 1);
	} else
		assert_int_equal(write(fd, key, 32), 32);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/*
 * Two hosts (two master keys) with the same fleet key: the same recovery
 * hashes, and with scope fleet the same device hashes whatever the host;
 * each unlike the host's own. One-time codes stay keyed by the host.
 */
static void
test_fleet_key_shared(void **state)
{
	struct mfad_keys *k1, *k2;
	struct tdir t1, t2;
	uint8_t fleet[32], nonce[MFAD_CODE_NONCE_BYTES];
	uint8_t l1[32], l2[32], h1[32], h2[32], d1[32], d2[32], dl[32];
	uint8_t th1[32], th2[32], tu1[32];
	char path[128], err[256];

	(void)state;
	k1 = keys_in(&t1);
	k2 = keys_in(&t2);
	randombytes_buf(fleet, sizeof(fleet));
	fleet_key_write(&t1, fleet, 0, 0600, path, sizeof(path));

	mfad_recovery_hash(k1, "alice", "k7mqx3tf9wna", l1);
	mfad_recovery_hash(k2, "alice", "k7mqx3tf9wna", l2);
	assert_memory_not_equal(l1, l2, 32);
	mfad_device_hash(k1, "alice", "host1", "ssh:SHA256:abc", dl);
	mfad_throttle_key(k1, "alice", "a@example.org", th1);
	mfad_throttle_key(k2, "alice", "a@example.org", th2);
	assert_memory_not_equal(th1, th2, 32);
	mfad_throttle_user_key(k1, "alice", tu1);

	assert_int_equal(mfad_keys_fleet(k1, path, 1, err, sizeof(err)), 0);
	/* The second host has the same key, copied as hex. */
	fleet_key_write(&t2, fleet, 1, 0600, path, sizeof(path));
	assert_int_equal(mfad_keys_fleet(k2, path, 1, err, sizeof(err)), 0);

	mfad_recovery_hash(k1, "alice", "k7mqx3tf9wna", h1);
	mfad_recovery_hash(k2, "alice", "k7mqx3tf9wna", h2);
	assert_memory_equal(h1, h2, 32);
	assert_memory_not_equal(h1, l1, 32);
	assert_memory_not_equal(h1, l2, 32);
	mfad_recovery_hash(k2, "bob", "k7mqx3tf9wna", h2);
	assert_memory_not_equal(h1, h2, 32);

	mfad_device_hash(k1, "alice", "host1", "ssh:SHA256:abc", d1);
	mfad_device_hash(k2, "alice", "host2", "ssh:SHA256:abc", d2);
	assert_memory_equal(d1, d2, 32);
	assert_memory_not_equal(d1, dl, 32);
	mfad_device_hash(k2, "bob", "host2", "ssh:SHA256:abc", d2);
	assert_memory_not_equal(d1, d2, 32);
	/* The device key is not the recovery key. */
	assert_memory_not_equal(k1->device, k1->recovery, 32);

	/* Throttle records: one key per (user, address) on every host,
	 * whatever the case typed, unlike the host's own. */
	mfad_throttle_key(k1, "alice", "a@example.org", h1);
	mfad_throttle_key(k2, "alice", "A@Example.ORG", h2);
	assert_memory_equal(h1, h2, 32);
	assert_memory_not_equal(h1, th1, 32);
	assert_memory_not_equal(h1, th2, 32);
	mfad_throttle_key(k2, "bob", "a@example.org", h2);
	assert_memory_not_equal(h1, h2, 32);
	mfad_throttle_user_key(k1, "alice", h1);
	mfad_throttle_user_key(k2, "alice", h2);
	assert_memory_equal(h1, h2, 32);
	assert_memory_not_equal(h1, tu1, 32);
	assert_memory_not_equal(k1->throttle, k1->recovery, 32);
	assert_memory_not_equal(k1->throttle, k1->device, 32);

	memset(nonce, 0x11, sizeof(nonce));
	mfad_code_hash(k1, nonce, "alice", "123456", h1);
	mfad_code_hash(k2, nonce, "alice", "123456", h2);
	assert_memory_not_equal(h1, h2, 32);

	mfad_keys_free(k1);
	mfad_keys_free(k2);
	tdir_remove(&t1);
	tdir_remove(&t2);
}

/* Scope host: recovery codes from the fleet key, devices as before. */
static void
test_fleet_key_devices_stay(void **state)
{
	struct mfad_keys *k;
	struct tdir t;
	uint8_t fleet[32], d1[32], d2[32];
	char path[128], err[256];

	(void)state;
	k = keys_in(&t);
	mfad_device_hash(k, "alice", "host1", "id", d1);
	randombytes_buf(fleet, sizeof(fleet));
	fleet_key_write(&t, fleet, 0, 0600, path, sizeof(path));
	assert_int_equal(mfad_keys_fleet(k, path, 0, err, sizeof(err)), 0);
	mfad_device_hash(k, "alice", "host1", "id", d2);
	assert_memory_equal(d1, d2, 32);
	mfad_device_hash(k, "alice", "host2", "id", d2);
	assert_memory_not_equal(d1, d2, 32);
	assert_int_equal(k->device_fleet, 0);
	mfad_keys_free(k);
	tdir_remove(&t);
}

/*
 * Local mode keeps the derivations of before fleet mode, so that recovery
 * codes and remembered devices survive an upgrade: the hashes are
 * recomputed here from mfad.key by hand.
 */
static void
test_local_hashes_unchanged(void **state)
{
	static const char label[] = "mfad recovery v1";
	struct mfad_keys *k;
	struct tdir t;
	crypto_generichash_state st;
	uint8_t master[32], sub[32], want[32], got[32];

	(void)state;
	k = keys_in(&t);
	assert_int_equal(read_file(t.key, master, sizeof(master)), 32);

	crypto_kdf_derive_from_key(sub, 32, 1, "mfadcode", master);
	crypto_generichash_init(&st, sub, 32, 32);
	crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label));
	crypto_generichash_update(&st, (const uint8_t *)"alice", 6);
	crypto_generichash_update(&st, (const uint8_t *)"k7mqx3tf9wna", 13);
	crypto_generichash_final(&st, want, 32);
	mfad_recovery_hash(k, "alice", "k7mqx3tf9wna", got);
	assert_memory_equal(want, got, 32);

	crypto_kdf_derive_from_key(sub, 32, 2, "mfaddevi", master);
	crypto_generichash_init(&st, sub, 32, 32);
	crypto_generichash_update(&st, (const uint8_t *)"alice", 6);
	crypto_generichash_update(&st, (const uint8_t *)"host1", 6);
	crypto_generichash_update(&st, (const uint8_t *)"id", 3);
	crypto_generichash_final(&st, want, 32);
	mfad_device_hash(k, "alice", "host1", "id", got);
	assert_memory_equal(want, got, 32);

	sodium_memzero(master, sizeof(master));
	mfad_keys_free(k);
	tdir_remove(&t);
}

/* What the fleet key file must be. */
static void
test_fleet_key_file_checks(void **state)
{
	struct tdir t;
	uint8_t fleet[32], got[32];
	char path[128], link[160], err[256];
	int fd;

	(void)state;
	tdir_make(&t);
	randombytes_buf(fleet, sizeof(fleet));
	fleet_key_write(&t, fleet, 0, 0600, path, sizeof(path));
	assert_int_equal(mfad_keys_fleet_read(path, geteuid(), got, err,
	    sizeof(err)), 0);
	assert_memory_equal(fleet, got, 32);
	fleet_key_write(&t, fleet, 1, 0400, path, sizeof(path));
	assert_int_equal(mfad_keys_fleet_read(path, geteuid(), got, err,
	    sizeof(err)), 0);
	assert_memory_equal(fleet, got, 32);

	/* Readable by others: refused, whatever it holds. */
	fleet_key_write(&t, fleet, 0, 0644, path, sizeof(path));
	assert_int_equal(mfad_keys_fleet_read(path, geteuid(), got, err,
	    sizeof(err)), MSS_ERR_CONFIG);
	assert_non_null(strstr(err, "accessible by group or others"));
	assert_true(sodium_is_zero(got, 32));
	fleet_key_write(&t, fleet, 0, 0620, path, sizeof(path));
	assert_int_equal(mfad_keys_fleet_read(path, geteuid(), got, err,
	    sizeof(err)), MSS_ERR_CONFIG);
	/* Another owner. */
	fleet_key_write(&t, fleet, 0, 0600, path, sizeof(path));
	assert_int_equal(mfad_keys_fleet_read(path, geteuid() + 1, got, err,
	    sizeof(err)), MSS_ERR_CONFIG);
	assert_non_null(strstr(err, "owned by uid"));
	/* A symbolic link to a good file. */
	snprintf(link, sizeof(link), "%s/link.key", t.dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_not_equal(mfad_keys_fleet_read(link, geteuid(), got, err,
	    sizeof(err)), 0);
	/* Short, long, or not hex. */
	assert_int_equal(truncate(path, 31), 0);
	assert_int_equal(mfad_keys_fleet_read(path, geteuid(), got, err,
	    sizeof(err)), MSS_ERR_CONFIG);
	assert_non_null(strstr(err, "32 random bytes or 64 hex digits"));
	assert_null(strstr(err, "\n"));
	assert_int_equal(truncate(path, 33), 0);
	assert_int_equal(mfad_keys_fleet_read(path, geteuid(), got, err,
	    sizeof(err)), MSS_ERR_CONFIG);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "zz0102030405060708090a0b0c0d0e0f"
	    "101112131415161718191a1b1c1d1e1f\n", 65), 65);
	assert_int_equal(close(fd), 0);
	assert_int_equal(mfad_keys_fleet_read(path, geteuid(), got, err,
	    sizeof(err)), MSS_ERR_CONFIG);
	assert_true(sodium_is_zero(got, 32));
	/* Missing. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mfad_keys_fleet_read(path, geteuid(), got, err,
	    sizeof(err)), MSS_ERR_SYSTEM);
	tdir_remove(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_load_creates_then_reloads),
		cmocka_unit_test(test_keys_two_directories_have_different_keys),
		cmocka_unit_test(test_keys_refuses_group_or_other_access),
		cmocka_unit_test(test_keys_refuses_wrong_size),
		cmocka_unit_test(test_keys_empty_or_leftover_is_replaced),
		cmocka_unit_test(test_keys_refuses_symlink),
		cmocka_unit_test(test_keys_refuses_directory_and_missing_dir),
		cmocka_unit_test(test_code_new_has_exactly_len_digits),
		cmocka_unit_test(test_code_new_never_writes_past_max),
		cmocka_unit_test(test_code_new_never_shorter_than_six),
		cmocka_unit_test(test_code_new_every_digit_at_every_position),
		cmocka_unit_test(test_code_hash_deterministic_and_bound),
		cmocka_unit_test(test_code_hash_token_form_kept),
		cmocka_unit_test(test_code_nonce_new_random_never_zero),
		cmocka_unit_test(test_code_hash_boundary_no_collision),
		cmocka_unit_test(test_device_hash_bound_to_user_host_identity),
		cmocka_unit_test(test_token_new_hex_round_trip),
		cmocka_unit_test(test_token_parse_exactly_64_hex),
		cmocka_unit_test(test_token_key_is_a_hash_of_the_token),
		cmocka_unit_test(test_token_leads_with_its_start_second),
		cmocka_unit_test(test_recovery_new_form_and_alphabet),
		cmocka_unit_test(test_recovery_norm_accepts_what_people_type),
		cmocka_unit_test(test_recovery_hash_bound_to_user_and_apart),
		cmocka_unit_test(test_seal_round_trip),
		cmocka_unit_test(test_unseal_flipped_byte_fails),
		cmocka_unit_test(test_unseal_other_key_fails),
		cmocka_unit_test(test_unseal_too_short_fails),
		cmocka_unit_test(test_fleet_key_shared),
		cmocka_unit_test(test_fleet_key_devices_stay),
		cmocka_unit_test(test_local_hashes_unchanged),
		cmocka_unit_test(test_fleet_key_file_checks),
	};

	if (sodium_init() < 0)
		return 1;
	/* Created 0600 whatever the umask. */
	umask(0);
	return cmocka_run_group_tests(tests, NULL, remove_all_dirs);
}
