/*
 * Secrets of mfad: the master key file, one-time codes, login tokens,
 * device hashes and the sealing of queued mail.
 *
 * The master key (<database>/mfad.key, 32 random bytes, mode 0600) lives
 * in locked memory; subkeys are derived from it per purpose, so a code
 * hash can never be mistaken for a device hash.
 *
 * In fleet mode ([directory] in mfad.conf) the hashes kept in the
 * directory must be the same on every host: the recovery codes' and the
 * throttle records' and, with [device] scope = fleet, the devices'
 * subkeys are derived from the fleet key ([directory] key_file, the
 * same file on every host) instead, and a device hash then leaves the
 * host out.
 */
#ifndef MFAD_KEYS_H
#define MFAD_KEYS_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "mss_err.h"

#define MFAD_TOKEN_BYTES	32
#define MFAD_TOKEN_TIME_BYTES	4	/* the start second leading a token */
#define MFAD_CODE_MAX		10
#define MFAD_CODE_NONCE_BYTES	16

struct mfad_keys {
	uint8_t	code[32];	/* keyed hash of codes */
	uint8_t	device[32];	/* keyed hash of device identities */
	uint8_t	box[32];	/* sealing of the outbox */
	uint8_t	throttle[32];	/* keyed hash of (user, typed address):
				   the fleet key's subkey in fleet mode */
	uint8_t	recovery[32];	/* keyed hash of recovery codes: the code
				   key, or the fleet key's subkey */
	int	device_fleet;	/* device: the fleet key's subkey, and the
				   host is left out of its hashes */
};

/* The fleet key: 32 bytes, in its file as such or as 64 hex digits. */
#define MFAD_FLEET_KEY_LEN	32

/* Loads (or on first start creates) dir/mfad.key and derives the subkeys
 * into a new sodium_malloc'd, locked struct. Free with mfad_keys_free. */
int mfad_keys_load(const char *dir, struct mfad_keys **out)
    MSS_WUR;
void mfad_keys_free(struct mfad_keys *k);
/*
 * Reads the fleet key file: a regular file (no symbolic link) of owner,
 * neither readable nor writable by group or others, holding 32 bytes or
 * 64 hex digits (a final newline allowed). On error err gets a line
 * naming the file, never its content, and key is wiped; MSS_ERR_CONFIG
 * (MSS_ERR_SYSTEM when it cannot be opened or read).
 */
int mfad_keys_fleet_read(const char *path, uid_t owner,
    uint8_t key[MFAD_FLEET_KEY_LEN], char *err, size_t errlen) MSS_WUR;
/*
 * Fleet mode: derives the recovery and throttle subkeys, and with
 * device_fleet the device subkey, from the fleet key at path (owned by
 * mfad's user), replacing the local ones in k.
 */
int mfad_keys_fleet(struct mfad_keys *k, const char *path, int device_fleet,
    char *err, size_t errlen) MSS_WUR;

/* A code of len digits (6..10) from randombytes_uniform, NUL-terminated. */
void mfad_code_new(unsigned len, char out[MFAD_CODE_MAX + 1]);
/* The stored form of a code: keyed by the code key, bound to the code's
 * own random nonce and the user. The nonce, not the login token, binds
 * it, so that a newer login can take a live code over (the nonce moves
 * with the code) while a code still works in one login only. */
void mfad_code_hash(const struct mfad_keys *k,
    const uint8_t nonce[MFAD_CODE_NONCE_BYTES], const char *user,
    const char *code, uint8_t out[32]);
/* The form before nonces, bound to the login token: kept so that codes
 * mailed before an upgrade (their login has an all-zero nonce) still
 * work. */
void mfad_code_hash_token(const struct mfad_keys *k,
    const uint8_t token[MFAD_TOKEN_BYTES], const char *user,
    const char *code, uint8_t out[32]);
/* A fresh random nonce for a new code, never all zero (which marks a
 * code bound the old way). */
void mfad_code_nonce_new(uint8_t nonce[MFAD_CODE_NONCE_BYTES]);
/* Device hash: bound to the user and this host (host is left out when
 * k->device_fleet: a device remembered on one host counts on all). */
void mfad_device_hash(const struct mfad_keys *k, const char *user,
    const char *host, const char *identity, uint8_t out[32]);

/*
 * Recovery codes: MFAD_RECOVERY_CHARS characters of MFAD_RECOVERY_ALPHABET
 * (31 symbols with no 0/o, 1/l/i: about 59 bits), shown in groups of four
 * joined by dashes ("k7mq-x3tf-9wna"), so that none can pass for a mailed
 * code, which is all digits and at most MFAD_CODE_MAX long.
 */
#define MFAD_RECOVERY_ALPHABET	"23456789abcdefghjkmnpqrstuvwxyz"
#define MFAD_RECOVERY_CHARS	12
/* Shown form: the characters and a dash between groups of four. */
#define MFAD_RECOVERY_TEXT \
	(MFAD_RECOVERY_CHARS + MFAD_RECOVERY_CHARS / 4 - 1)
/* A new recovery code in its shown form, NUL-terminated. */
void mfad_recovery_new(char out[MFAD_RECOVERY_TEXT + 1]);
/*
 * What a person typed, as a recovery code's canonical form: any case,
 * dashes and blanks dropped. Returns 0 with out filled (the caller wipes
 * it), or -1 when the answer cannot be a recovery code (then out is
 * zeroed).
 */
int mfad_recovery_norm(const char *typed, char out[MFAD_RECOVERY_CHARS + 1])
    MSS_WUR;
/* The stored form of a canonical recovery code: keyed by the recovery
 * key, bound to the user, labelled apart from the one-time codes'
 * hashes. */
void mfad_recovery_hash(const struct mfad_keys *k, const char *user,
    const char *norm, uint8_t out[32]);

/* The store key of the empty-password path's throttle record: bound to
 * the user and the typed address, lowercased. */
void mfad_throttle_key(const struct mfad_keys *k, const char *user,
    const char *email, uint8_t out[32]);
/* The key of the same path's record for the user, whatever address was
 * typed: no typed address gives it (the address part is a NUL byte,
 * which no address contains). */
void mfad_throttle_user_key(const struct mfad_keys *k, const char *user,
    uint8_t out[32]);

/* A new login token started at now (seconds) and its hex form for the
 * client: the start second, big-endian, then 28 random bytes. */
void mfad_token_new(uint64_t now, uint8_t token[MFAD_TOKEN_BYTES],
    char hex[2 * MFAD_TOKEN_BYTES + 1]);
/* Parses the hex form; MSS_ERR_INVAL when it is not exactly 64 hex. */
int mfad_token_parse(const char *hex, uint8_t token[MFAD_TOKEN_BYTES])
    MSS_WUR;
/*
 * The store key of a login: its token's start second, then the first 28
 * bytes of a hash of the token, so a read of the store does not hand out
 * live tokens. Logins begun together sit in the same few pages of the
 * store, and a commit of their codes' checks writes those pages alone.
 */
void mfad_token_key(const uint8_t token[MFAD_TOKEN_BYTES], uint8_t key[32]);
/* The key a login had when stored before the start second led it: the
 * whole hash of its token (mfad_login_open looks there second). */
void mfad_token_key_whole(const uint8_t token[MFAD_TOKEN_BYTES],
    uint8_t key[32]);

/* Seals msg into a new malloc'd nonce+box; unseal reverses it (the
 * result is NUL-terminated, the caller wipes and frees it). */
int mfad_seal(const struct mfad_keys *k, const void *msg, size_t len,
    unsigned char **out, size_t *outlen) MSS_WUR;
int mfad_unseal(const struct mfad_keys *k, const unsigned char *in,
    size_t inlen, char **out, size_t *outlen)
    MSS_WUR;

#endif /* MFAD_KEYS_H */
