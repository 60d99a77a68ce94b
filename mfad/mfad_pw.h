/*
 * Passwords: argon2id, made by crypto_pwhash_str and checked in memory
 * kept mapped (mfad_argon2.h). These calls are slow on purpose and run
 * only on worker threads, never on the event loop.
 */
#ifndef MFAD_PW_H
#define MFAD_PW_H

#include <stddef.h>

#include "mfad_conf.h"
#include "mfad_store.h"
#include "mss_proto.h"
#include "mss_err.h"

/* Marks the calling thread's hashing as urgent (1) or not (0): urgent
 * threads take the next free core first. Threads start not urgent. */
void mfad_pw_priority(int urgent);
/*
 * Unmaps the memory kept for checks and hashes (mfad_argon2.h) on
 * cores that have not used it for idle_s seconds or more.
 */
void mfad_pw_trim(unsigned idle_s);
/* How many cores keep memory mapped (read without a lock: a hint). */
int mfad_pw_mapped_arenas(void);
/* Hashes pw with conf's limits into out (MFAD_HASH_MAX bytes). */
int mfad_pw_hash(const struct mfad_conf *conf, const char *pw,
    char out[MFAD_HASH_MAX]) MSS_WUR;
/*
 * Verifies pw against hash in constant time. An empty hash (no account,
 * or an invitation) is checked against a dummy hash of the same cost, so
 * that the answer takes as long and is always "no". Returns 1 for a
 * match, 0 otherwise.
 */
int mfad_pw_verify(const struct mfad_conf *conf, const char *hash,
    const char *pw);
/* 1 when hash was made with other limits than conf's. */
int mfad_pw_needs_rehash(const struct mfad_conf *conf, const char *hash);
/*
 * Whether hash, made elsewhere (an import), is an argon2id string that
 * mfad can verify: "$argon2id$v=19$m=M,t=T,p=P$salt$hash", well formed,
 * costing at most what strength=sensitive costs and at least the floor
 * of SECURITY 11 (or what conf asks, when a test config asks less).
 * 0, or MSS_ERR_INVAL with *why set.
 */
int mfad_pw_hash_ok(const struct mfad_conf *conf, const char *hash,
    const char **why) MSS_WUR;
/*
 * Checks pw against the policy (lengths, user name and address,
 * blocklist): 0, or MSS_ERR_REFUSED with the reason in *reason.
 */
int mfad_pw_policy(const struct mfad_conf *conf, const char *user,
    const char *email, const char *pw, enum mss_pw_reason *reason)
    MSS_WUR;
/* The English words of a reason, for logs, audit and mfadctl; never
 * NULL. */
const char *mfad_pw_reason_str(enum mss_pw_reason reason);
/* Builds the dummy hash for the current limits; call at start and after
 * a reload. */
int mfad_pw_init(const struct mfad_conf *conf)
    MSS_WUR;

#endif /* MFAD_PW_H */
