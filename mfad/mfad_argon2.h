/*
 * Argon2id checks and hashes in memory that stays mapped from one to
 * the next (libargon2, which takes its memory from the caller).
 *
 * libsodium maps each computation's memory afresh and unmaps it after:
 * on every check a page fault and a zeroed page for each 4 KiB of it
 * (64 MiB at strength=interactive), and an unmap that makes the kernel
 * interrupt the other cores running mfad's threads to flush their TLBs.
 * An arena keeps one mapping for check after check; libargon2 wipes the
 * memory it used before giving it back (tests/unit/test_argon2.c checks
 * that it does).
 */
#ifndef MFAD_ARGON2_H
#define MFAD_ARGON2_H

#include <stddef.h>
#include <stdint.h>

struct mfad_argon2_arena {
	uint8_t		*mem;
	size_t		 len;
};

/* Not a string this path takes (or no memory): the caller checks it
 * another way. */
#define MFAD_ARGON2_OTHER	(-1)

/*
 * Checks pw against encoded, "$argon2id$v=19$m=M,t=T,p=P$salt$hash",
 * with a's memory (mapped, or grown, as the cost needs). Returns 1 for
 * a match, 0 for none (compared in constant time), MFAD_ARGON2_OTHER
 * when encoded is not such a string within the costs mfad.conf allows
 * (4 GiB, 100 passes, 16 lanes), or the memory could not be mapped.
 */
int mfad_argon2_verify(struct mfad_argon2_arena *a, const char *encoded,
    const char *pw, size_t pwlen);
/*
 * Hashes pw with a fresh random salt at opslimit passes and memlimit
 * bytes, one lane, in a's memory, into out: the costs and the string of
 * crypto_pwhash_str_alg ("$argon2id$v=19$m=M,t=T,p=1$salt$hash", 16-byte
 * salt, 32-byte hash). Returns 0, or MFAD_ARGON2_OTHER when the costs
 * are out of this path's range, out is too small, or the memory could
 * not be mapped.
 */
int mfad_argon2_hash(struct mfad_argon2_arena *a, unsigned long long opslimit,
    size_t memlimit, const char *pw, size_t pwlen, char *out, size_t outlen);
/* Unmaps a's memory. */
void mfad_argon2_arena_free(struct mfad_argon2_arena *a);
/* 1 when every byte of a's memory is zero (for the tests). */
int mfad_argon2_arena_clear(const struct mfad_argon2_arena *a);

#endif /* MFAD_ARGON2_H */
