#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "mfad_keys.h"
#include "mfad_log.h"
#include "mss_err.h"

static int MSS_WUR
mfad_read_key(int fd, uint8_t *key, size_t n)
{
	ssize_t got;
	size_t off = 0;

	while (off < n) {
		got = read(fd, key + off, n - off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return MSS_ERR_CRYPTO;
		off += (size_t)got;
	}
	return 0;
}

/* The new key's directory entry must be durable before anything in the
 * store depends on the key. */
static void
mfad_sync_dir(const char *dir)
{
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	if (fsync(fd) != 0)
		mfad_log(LOG_WARNING, "%s: fsync: %s", dir, strerror(errno));
	close(fd);
}

/*
 * A new master key: written under a temporary name, synced, then renamed
 * into place, so that a crash never leaves a short mfad.key behind.
 */
static int MSS_WUR
mfad_key_create(const char *dir, const char *path)
{
	uint8_t master[crypto_kdf_KEYBYTES];
	char tmp[4096];
	int fd, r = MSS_ERR_CRYPTO;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/mfad.key.new", dir) >=
	    sizeof(tmp))
		return MSS_ERR_INVAL;
	crypto_kdf_keygen(master);
	(void)unlink(tmp);	/* what a crash left: never a key in use */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0 || write(fd, master, sizeof(master)) !=
	    (ssize_t)sizeof(master) || fsync(fd) != 0 ||
	    rename(tmp, path) != 0) {
		mfad_log(LOG_ERR, "%s: cannot create: %s", path,
		    strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	mfad_sync_dir(dir);
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	sodium_memzero(master, sizeof(master));
	return r;
}

int
mfad_keys_load(const char *dir, struct mfad_keys **out)
{
	uint8_t master[crypto_kdf_KEYBYTES];
	struct mfad_keys *k;
	struct stat sb;
	char path[4096];
	int fd, r = MSS_ERR_CRYPTO;

	*out = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/mfad.key", dir) >=
	    sizeof(path))
		return MSS_ERR_INVAL;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    sb.st_size == 0 && sb.st_uid == geteuid()) {
		/* An empty key is what a crash between creating and writing
		 * it left, before keys were renamed into place: nothing was
		 * ever derived from it. */
		mfad_log(LOG_WARNING, "%s: empty: replaced by a new key",
		    path);
		close(fd);
		fd = -1;
		errno = ENOENT;
	}
	if (fd < 0 && errno == ENOENT) {
		/* First start: a new master key, written once. */
		if ((r = mfad_key_create(dir, path)) != 0)
			goto out;
		r = MSS_ERR_CRYPTO;
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		mfad_log(LOG_ERR, "%s: cannot open: %s", path,
		    strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    (sb.st_mode & 077) != 0 || sb.st_uid != geteuid() ||
	    sb.st_size != (off_t)sizeof(master)) {
		mfad_log(LOG_ERR, "%s: must be a %zu-byte file of mfad's "
		    "user, mode 0600", path, sizeof(master));
		goto out;
	}
	if ((r = mfad_read_key(fd, master, sizeof(master))) != 0) {
		mfad_log(LOG_ERR, "%s: cannot read", path);
		goto out;
	}
	if ((k = sodium_malloc(sizeof(*k))) == NULL) {
		r = MSS_ERR_NOMEM;
		goto out;
	}
	crypto_kdf_derive_from_key(k->code, sizeof(k->code), 1, "mfadcode",
	    master);
	crypto_kdf_derive_from_key(k->device, sizeof(k->device), 2,
	    "mfaddevi", master);
	crypto_kdf_derive_from_key(k->box, sizeof(k->box), 3, "mfadobox",
	    master);
	crypto_kdf_derive_from_key(k->throttle, sizeof(k->throttle), 4,
	    "mfadthrt", master);
	/* Recovery codes made before fleet mode existed are keyed by the
	 * code key: kept as it is in local mode. */
	memcpy(k->recovery, k->code, sizeof(k->recovery));
	k->device_fleet = 0;
	sodium_mprotect_readonly(k);
	*out = k;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	sodium_memzero(master, sizeof(master));
	return r;
}

void
mfad_keys_free(struct mfad_keys *k)
{
	if (k != NULL)
		sodium_free(k);
}

int
mfad_keys_fleet_read(const char *path, uid_t owner,
    uint8_t key[MFAD_FLEET_KEY_LEN], char *err, size_t errlen)
{
	/* Room for 64 hex digits and a line end, and one byte more to
	 * tell a longer file. */
	uint8_t buf[2 * MFAD_FLEET_KEY_LEN + 3];
	struct stat sb;
	size_t n = 0, bin = 0;
	ssize_t got;
	int fd, r = MSS_ERR_CONFIG;

	sodium_memzero(key, MFAD_FLEET_KEY_LEN);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW))
	    < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return MSS_ERR_SYSTEM;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((sb.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: accessible by group or others "
		    "(mode %03o); it must be 0600", path,
		    (unsigned)(sb.st_mode & 0777));
		goto out;
	}
	if (sb.st_uid != owner) {
		snprintf(err, errlen, "%s: owned by uid %u; it must be owned "
		    "by uid %u, the user mfad runs as", path,
		    (unsigned)sb.st_uid, (unsigned)owner);
		goto out;
	}
	while (n < sizeof(buf)) {
		got = read(fd, buf + n, sizeof(buf) - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			r = MSS_ERR_SYSTEM;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n == MFAD_FLEET_KEY_LEN) {
		memcpy(key, buf, MFAD_FLEET_KEY_LEN);
		r = 0;
		goto out;
	}
	if (n > 2 * MFAD_FLEET_KEY_LEN && buf[n - 1] == '\n')
		n--;
	if (n > 2 * MFAD_FLEET_KEY_LEN && buf[n - 1] == '\r')
		n--;
	if (n == 2 * MFAD_FLEET_KEY_LEN &&
	    sodium_hex2bin(key, MFAD_FLEET_KEY_LEN, (const char *)buf, n,
	    NULL, &bin, NULL) == 0 && bin == MFAD_FLEET_KEY_LEN) {
		r = 0;
		goto out;
	}
	sodium_memzero(key, MFAD_FLEET_KEY_LEN);
	snprintf(err, errlen, "%s: must hold 32 random bytes or 64 hex "
	    "digits (head -c 32 /dev/urandom)", path);
out:
	sodium_memzero(buf, sizeof(buf));
	close(fd);
	return r;
}

int
mfad_keys_fleet(struct mfad_keys *k, const char *path, int device_fleet,
    char *err, size_t errlen)
{
	uint8_t fleet[MFAD_FLEET_KEY_LEN];
	int r;

	_Static_assert(MFAD_FLEET_KEY_LEN == crypto_kdf_KEYBYTES,
	    "the fleet key is a KDF master key");
	if ((r = mfad_keys_fleet_read(path, geteuid(), fleet, err,
	    errlen)) != 0)
		return r;
	sodium_mprotect_readwrite(k);
	/* Labels of their own: a subkey of the fleet key never equals
	 * one of a host's own key, whatever the two keys are. */
	crypto_kdf_derive_from_key(k->recovery, sizeof(k->recovery), 1,
	    "mfadflrc", fleet);
	/* The empty-password path's throttle records are in the
	 * directory: one key for a (user, address) on every host. */
	crypto_kdf_derive_from_key(k->throttle, sizeof(k->throttle), 3,
	    "mfadflth", fleet);
	if (device_fleet) {
		crypto_kdf_derive_from_key(k->device, sizeof(k->device), 2,
		    "mfadfldv", fleet);
		k->device_fleet = 1;
	}
	sodium_mprotect_readonly(k);
	sodium_memzero(fleet, sizeof(fleet));
	return 0;
}

void
mfad_code_new(unsigned len, char out[MFAD_CODE_MAX + 1])
{
	unsigned i;

	/* Never shorter than 6 digits, whatever the caller asks. */
	if (len > MFAD_CODE_MAX)
		len = MFAD_CODE_MAX;
	if (len < 6)
		len = 6;
	for (i = 0; i < len; i++)
		out[i] = (char)('0' + randombytes_uniform(10));
	out[len] = '\0';
}

/* Hashes bind (user, code) after bind; each field ends with its NUL,
 * which no user name or code holds, so pairs cannot run together. */
static void
mfad_code_hash_bound(const uint8_t key[32], const uint8_t *bind,
    size_t bindlen, const char *user, const char *code, uint8_t out[32])
{
	crypto_generichash_state h;

	crypto_generichash_init(&h, key, 32, 32);
	crypto_generichash_update(&h, bind, bindlen);
	crypto_generichash_update(&h, (const uint8_t *)user,
	    strlen(user) + 1);
	crypto_generichash_update(&h, (const uint8_t *)code,
	    strlen(code) + 1);
	crypto_generichash_final(&h, out, 32);
	sodium_memzero(&h, sizeof(h));
}

void
mfad_code_hash(const struct mfad_keys *k,
    const uint8_t nonce[MFAD_CODE_NONCE_BYTES], const char *user,
    const char *code, uint8_t out[32])
{
	/* A label ahead of the nonce keeps this form apart from the token
	 * form, whose first bytes could otherwise be anything. */
	static const char label[] = "mfad code nonce v2";
	uint8_t bind[sizeof(label) + MFAD_CODE_NONCE_BYTES];

	memcpy(bind, label, sizeof(label));
	memcpy(bind + sizeof(label), nonce, MFAD_CODE_NONCE_BYTES);
	mfad_code_hash_bound(k->code, bind, sizeof(bind), user, code, out);
	sodium_memzero(bind, sizeof(bind));
}

void
mfad_code_hash_token(const struct mfad_keys *k,
    const uint8_t token[MFAD_TOKEN_BYTES], const char *user,
    const char *code, uint8_t out[32])
{
	mfad_code_hash_bound(k->code, token, MFAD_TOKEN_BYTES, user, code,
	    out);
}

void
mfad_recovery_new(char out[MFAD_RECOVERY_TEXT + 1])
{
	static const char alpha[] = MFAD_RECOVERY_ALPHABET;
	size_t i, j;

	for (i = j = 0; i < MFAD_RECOVERY_CHARS; i++) {
		if (i > 0 && i % 4 == 0)
			out[j++] = '-';
		out[j++] = alpha[randombytes_uniform(sizeof(alpha) - 1)];
	}
	out[j] = '\0';
}

int
mfad_recovery_norm(const char *typed, char out[MFAD_RECOVERY_CHARS + 1])
{
	size_t n = 0;
	int c;

	memset(out, 0, MFAD_RECOVERY_CHARS + 1);
	for (; *typed != '\0'; typed++) {
		c = (unsigned char)*typed;
		if (c == '-' || c == ' ' || c == '\t')
			continue;
		c = tolower(c);
		if (c == '\0' || strchr(MFAD_RECOVERY_ALPHABET, c) == NULL ||
		    n == MFAD_RECOVERY_CHARS)
			goto bad;
		out[n++] = (char)c;
	}
	if (n == MFAD_RECOVERY_CHARS)
		return 0;
bad:
	sodium_memzero(out, MFAD_RECOVERY_CHARS + 1);
	return -1;
}

void
mfad_recovery_hash(const struct mfad_keys *k, const char *user,
    const char *norm, uint8_t out[32])
{
	static const char label[] = "mfad recovery v1";

	mfad_code_hash_bound(k->recovery, (const uint8_t *)label,
	    sizeof(label), user, norm, out);
}

void
mfad_code_nonce_new(uint8_t nonce[MFAD_CODE_NONCE_BYTES])
{
	do
		randombytes_buf(nonce, MFAD_CODE_NONCE_BYTES);
	while (sodium_is_zero(nonce, MFAD_CODE_NONCE_BYTES));
}

void
mfad_device_hash(const struct mfad_keys *k, const char *user,
    const char *host, const char *identity, uint8_t out[32])
{
	crypto_generichash_state h;

	if (k->device_fleet)
		host = "";
	crypto_generichash_init(&h, k->device, sizeof(k->device), 32);
	crypto_generichash_update(&h, (const uint8_t *)user, strlen(user) + 1);
	crypto_generichash_update(&h, (const uint8_t *)host, strlen(host) + 1);
	crypto_generichash_update(&h, (const uint8_t *)identity,
	    strlen(identity) + 1);
	crypto_generichash_final(&h, out, 32);
	sodium_memzero(&h, sizeof(h));
}

void
mfad_throttle_key(const struct mfad_keys *k, const char *user,
    const char *email, uint8_t out[32])
{
	crypto_generichash_state h;
	unsigned char c;

	crypto_generichash_init(&h, k->throttle, sizeof(k->throttle), 32);
	crypto_generichash_update(&h, (const uint8_t *)user, strlen(user) + 1);
	for (; *email != '\0'; email++) {
		c = (unsigned char)tolower((unsigned char)*email);
		crypto_generichash_update(&h, &c, 1);
	}
	crypto_generichash_final(&h, out, 32);
	sodium_memzero(&h, sizeof(h));
}

void
mfad_throttle_user_key(const struct mfad_keys *k, const char *user,
    uint8_t out[32])
{
	crypto_generichash_state h;
	unsigned char nul = 0;

	crypto_generichash_init(&h, k->throttle, sizeof(k->throttle), 32);
	crypto_generichash_update(&h, (const uint8_t *)user, strlen(user) + 1);
	crypto_generichash_update(&h, &nul, 1);
	crypto_generichash_final(&h, out, 32);
	sodium_memzero(&h, sizeof(h));
}

void
mfad_token_new(uint64_t now, uint8_t token[MFAD_TOKEN_BYTES],
    char hex[2 * MFAD_TOKEN_BYTES + 1])
{
	uint32_t t = (uint32_t)now;

	randombytes_buf(token, MFAD_TOKEN_BYTES);
	/* The start second leads: mfad_token_key keeps it in front. The
	 * other 28 bytes are random. */
	token[0] = (uint8_t)(t >> 24);
	token[1] = (uint8_t)(t >> 16);
	token[2] = (uint8_t)(t >> 8);
	token[3] = (uint8_t)t;
	sodium_bin2hex(hex, 2 * MFAD_TOKEN_BYTES + 1, token,
	    MFAD_TOKEN_BYTES);
}

int
mfad_token_parse(const char *hex, uint8_t token[MFAD_TOKEN_BYTES])
{
	size_t n = 0;

	if (strlen(hex) != 2 * MFAD_TOKEN_BYTES ||
	    sodium_hex2bin(token, MFAD_TOKEN_BYTES, hex, strlen(hex), NULL,
	    &n, NULL) != 0 || n != MFAD_TOKEN_BYTES)
		return MSS_ERR_INVAL;
	return 0;
}

void
mfad_token_key_whole(const uint8_t token[MFAD_TOKEN_BYTES], uint8_t key[32])
{
	crypto_generichash(key, 32, token, MFAD_TOKEN_BYTES, NULL, 0);
}

void
mfad_token_key(const uint8_t token[MFAD_TOKEN_BYTES], uint8_t key[32])
{
	uint8_t h[32];

	mfad_token_key_whole(token, h);
	memcpy(key, token, MFAD_TOKEN_TIME_BYTES);
	memcpy(key + MFAD_TOKEN_TIME_BYTES, h, 32 - MFAD_TOKEN_TIME_BYTES);
	sodium_memzero(h, sizeof(h));
}

int
mfad_seal(const struct mfad_keys *k, const void *msg, size_t len,
    unsigned char **out, size_t *outlen)
{
	unsigned char *p;
	size_t n = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES +
	    len;

	if ((p = malloc(n)) == NULL)
		return MSS_ERR_NOMEM;
	randombytes_buf(p, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(p + crypto_secretbox_NONCEBYTES, msg, len, p,
	    k->box);
	*out = p;
	*outlen = n;
	return 0;
}

int
mfad_unseal(const struct mfad_keys *k, const unsigned char *in, size_t inlen,
    char **out, size_t *outlen)
{
	size_t n;
	char *p;

	*out = NULL;
	if (inlen < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
		return MSS_ERR_CRYPTO;
	n = inlen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
	if ((p = malloc(n + 1)) == NULL)
		return MSS_ERR_NOMEM;
	if (crypto_secretbox_open_easy((unsigned char *)p,
	    in + crypto_secretbox_NONCEBYTES,
	    inlen - crypto_secretbox_NONCEBYTES, in, k->box) != 0) {
		free(p);
		return MSS_ERR_CRYPTO;
	}
	p[n] = '\0';
	*out = p;
	*outlen = n;
	return 0;
}
