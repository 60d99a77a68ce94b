/*
 * Unit tests for mfad/mfad_argon2.c: checks in kept memory agree with
 * libsodium's on its own strings and on libargon2's with several lanes;
 * the memory stays mapped, grows with the cost and is wiped after each
 * check; malformed strings, and costs past mfad.conf's limits, are left
 * to libsodium (MFAD_ARGON2_OTHER). Hashes made in kept memory are the
 * strings libsodium makes, and it checks them. And mfad_pw's arenas:
 * mapped by a check or a hash, unmapped by mfad_pw_trim once idle; a
 * check or a hash with no memory for it says no.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/resource.h>

#include <stdio.h>
#include <string.h>

#include <argon2.h>
#include <sodium.h>

#include "mfad_argon2.h"
#include "mfad_conf.h"
#include "mfad_pw.h"

#define PW	"correct horse battery staple"

/* AddressSanitizer maps terabytes of shadow: no address-space limit,
 * so pw_check_without_memory runs in the other builds only. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN	1
#endif
#endif

static void
make(char *out, unsigned long long ops, size_t mem)
{
	assert_int_equal(crypto_pwhash_str_alg(out, PW, strlen(PW), ops, mem,
	    crypto_pwhash_ALG_ARGON2ID13), 0);
}

static void
agrees_with_libsodium(void **state)
{
	static const struct { unsigned long long ops; size_t kib; } cost[] = {
		{ 1, 8 }, { 2, 64 }, { 3, 1024 }, { 1, 4096 } };
	struct mfad_argon2_arena a = { NULL, 0 };
	char h[crypto_pwhash_STRBYTES];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cost) / sizeof(cost[0]); i++) {
		make(h, cost[i].ops, cost[i].kib * 1024);
		assert_int_equal(mfad_argon2_verify(&a, h, PW, strlen(PW)), 1);
		assert_int_equal(crypto_pwhash_str_verify(h, PW, strlen(PW)),
		    0);
		assert_int_equal(mfad_argon2_verify(&a, h, "correct horse "
		    "battery stapl", strlen(PW) - 1), 0);
		assert_int_equal(mfad_argon2_verify(&a, h, PW "!",
		    strlen(PW) + 1), 0);
		/* One byte of the stored hash changed. */
		h[strlen(h) - 2] = h[strlen(h) - 2] == 'A' ? 'B' : 'A';
		assert_int_equal(mfad_argon2_verify(&a, h, PW, strlen(PW)), 0);
	}
	mfad_argon2_arena_free(&a);
	assert_null(a.mem);
}

/* A hash made in kept memory is the string crypto_pwhash_str_alg makes
 * at the same costs (only the salt and hash differ), which libsodium
 * and mfad both check and libsodium does not want rehashed. */
static void
hashes_as_libsodium_does(void **state)
{
	static const struct { uint32_t t, kib; } cost[] = {
		{ 1, 8 }, { 2, 64 }, { 3, 1024 } };
	struct mfad_argon2_arena a = { NULL, 0 };
	char h[crypto_pwhash_STRBYTES], h2[crypto_pwhash_STRBYTES];
	char ref[crypto_pwhash_STRBYTES];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cost) / sizeof(cost[0]); i++) {
		make(ref, cost[i].t, (size_t)cost[i].kib * 1024);
		assert_int_equal(mfad_argon2_hash(&a, cost[i].t,
		    (size_t)cost[i].kib * 1024, PW, strlen(PW), h, sizeof(h)),
		    0);
		/* Kept, and wiped. */
		assert_true(a.len >= (size_t)cost[i].kib * 1024);
		assert_true(mfad_argon2_arena_clear(&a));
		assert_int_equal(strlen(h), strlen(ref));
		/* The same text up to the salt, and the salt as long. */
		assert_non_null(strstr(ref, ",p=1$"));
		assert_int_equal(strncmp(h, ref, (size_t)(strstr(ref, ",p=1$")
		    - ref) + 5), 0);
		assert_int_equal(strrchr(h, '$') - h, strrchr(ref, '$') - ref);
		assert_int_equal(crypto_pwhash_str_verify(h, PW, strlen(PW)),
		    0);
		assert_int_equal(crypto_pwhash_str_needs_rehash(h, cost[i].t,
		    (size_t)cost[i].kib * 1024), 0);
		assert_int_equal(mfad_argon2_verify(&a, h, PW, strlen(PW)), 1);
		assert_int_equal(mfad_argon2_verify(&a, h, "wrong", 5), 0);
		assert_true(mfad_argon2_arena_clear(&a));
		/* A fresh salt each time. */
		assert_int_equal(mfad_argon2_hash(&a, cost[i].t,
		    (size_t)cost[i].kib * 1024, PW, strlen(PW), h2, sizeof(h2)),
		    0);
		assert_string_not_equal(h, h2);
	}
	/* Costs outside the range, and no room for the string. */
	mfad_argon2_arena_free(&a);
	assert_int_equal(mfad_argon2_hash(&a, 0, 64 * 1024, PW, strlen(PW),
	    h, sizeof(h)), MFAD_ARGON2_OTHER);
	assert_int_equal(mfad_argon2_hash(&a, 101, 64 * 1024, PW, strlen(PW),
	    h, sizeof(h)), MFAD_ARGON2_OTHER);
	assert_int_equal(mfad_argon2_hash(&a, 1, 7 * 1024, PW, strlen(PW), h,
	    sizeof(h)), MFAD_ARGON2_OTHER);
	assert_int_equal(mfad_argon2_hash(&a, 1, (4UL * 1024 * 1024 + 1) *
	    1024, PW, strlen(PW), h, sizeof(h)), MFAD_ARGON2_OTHER);
	assert_null(a.mem);
	assert_int_equal(mfad_argon2_hash(&a, 1, 8 * 1024, PW, strlen(PW), h,
	    40), MFAD_ARGON2_OTHER);
	assert_int_equal(h[0], '\0');
	mfad_argon2_arena_free(&a);
}

/* Imports may carry several lanes (p > 1), made by other libraries. */
static void
several_lanes(void **state)
{
	struct mfad_argon2_arena a = { NULL, 0 };
	uint8_t salt[16];
	char h[256];

	(void)state;
	randombytes_buf(salt, sizeof(salt));
	assert_int_equal(argon2id_hash_encoded(2, 1024, 4, PW, strlen(PW),
	    salt, sizeof(salt), 32, h, sizeof(h)), ARGON2_OK);
	assert_non_null(strstr(h, ",p=4$"));
	assert_int_equal(mfad_argon2_verify(&a, h, PW, strlen(PW)), 1);
	assert_int_equal(mfad_argon2_verify(&a, h, "x", 1), 0);
	mfad_argon2_arena_free(&a);
}

static void
memory_kept_and_wiped(void **state)
{
	struct mfad_argon2_arena a = { NULL, 0 };
	char h[crypto_pwhash_STRBYTES];
	uint8_t *first;

	(void)state;
	make(h, 1, 64 * 1024);
	assert_int_equal(mfad_argon2_verify(&a, h, PW, strlen(PW)), 1);
	assert_non_null(a.mem);
	assert_true(a.len >= 64 * 1024);
	first = a.mem;
	/* libargon2 wiped what it used: nothing of it is left. */
	assert_true(mfad_argon2_arena_clear(&a));
	assert_int_equal(mfad_argon2_verify(&a, h, "wrong", 5), 0);
	assert_ptr_equal(a.mem, first);
	assert_true(mfad_argon2_arena_clear(&a));
	/* A costlier string grows it. */
	make(h, 1, 1024 * 1024);
	assert_int_equal(mfad_argon2_verify(&a, h, PW, strlen(PW)), 1);
	assert_true(a.len >= 1024 * 1024);
	assert_true(mfad_argon2_arena_clear(&a));
	mfad_argon2_arena_free(&a);
}

static void
others_left_to_libsodium(void **state)
{
	static const char *bad[] = {
		"",
		"$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=08,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999999999999999,t=1,p=1$c2FsdHNhbHQ$"
		    "aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4194305,t=1,p=1$c2FsdHNhbHQ$"
		    "aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8,t=101,p=1$c2FsdHNhbHQ$"
		    "aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8,t=1,p=0$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8,t=1,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8,t=1,p=17$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8,t=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFz",
		"$argon2id$v=19$m=8,t=1,p=1$c2Fs*HNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA$",
		"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ",
		"$argon2id$v=19$m=8,t=1,p=1 $c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
	};
	struct mfad_argon2_arena a = { NULL, 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mfad_argon2_verify(&a, bad[i], PW,
		    strlen(PW)), MFAD_ARGON2_OTHER);
	}
	/* None of them got far enough to map memory. */
	assert_null(a.mem);
}

/* A config hashing at one pass and memlimit bytes, with PW's hash in
 * h; mfad_pw ready for it. */
static struct mfad_conf *
pw_conf(size_t memlimit, char h[MFAD_HASH_MAX])
{
	struct mfad_conf *c = mfad_conf_new();

	assert_non_null(c);
	c->pw_opslimit = crypto_pwhash_OPSLIMIT_MIN;
	c->pw_memlimit = memlimit;
	assert_int_equal(mfad_pw_init(c), 0);
	assert_int_equal(mfad_pw_hash(c, PW, h), 0);
	return c;
}

/* mfad_pw: a check maps its core's arena; trim unmaps it once idle. */
static void
pw_arenas_trimmed(void **state)
{
	char h[MFAD_HASH_MAX];
	struct mfad_conf *c = pw_conf(256 * 1024, h);

	(void)state;
	mfad_pw_trim(0);
	assert_int_equal(mfad_pw_mapped_arenas(), 0);
	assert_int_equal(mfad_pw_verify(c, h, PW), 1);
	assert_int_equal(mfad_pw_mapped_arenas(), 1);
	assert_int_equal(mfad_pw_verify(c, h, "wrong password"), 0);
	/* The dummy check of an unknown account takes the same path. */
	assert_int_equal(mfad_pw_verify(c, "", PW), 0);
	assert_int_equal(mfad_pw_mapped_arenas(), 1);
	mfad_pw_trim(3600);
	assert_int_equal(mfad_pw_mapped_arenas(), 1);
	mfad_pw_trim(0);
	assert_int_equal(mfad_pw_mapped_arenas(), 0);
	assert_int_equal(mfad_pw_verify(c, h, PW), 1);
	/* A hash is made in the core's arena too, and leaves it mapped. */
	mfad_pw_trim(0);
	assert_int_equal(mfad_pw_hash(c, PW, h), 0);
	assert_int_equal(mfad_pw_mapped_arenas(), 1);
	assert_int_equal(crypto_pwhash_str_verify(h, PW, strlen(PW)), 0);
	assert_int_equal(mfad_pw_verify(c, h, PW), 1);
	assert_int_equal(mfad_pw_mapped_arenas(), 1);
	mfad_pw_trim(0);
	mfad_conf_free(c);
}

#ifndef UNDER_ASAN
/* The process's address space now, in bytes (VmSize). */
static unsigned long long
vm_size(void)
{
	unsigned long long kib = 0;
	char line[256];
	FILE *f;

	assert_non_null(f = fopen("/proc/self/status", "re"));
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmSize: %llu kB", &kib) == 1)
			break;
	fclose(f);
	assert_true(kib > 0);
	return kib * 1024;
}

/* A small arena mapped by a check of small, then no more than 64 MiB
 * of address space left; old gets the limit to put back. */
static void
small_arena_then_no_memory(struct mfad_conf *c, const char *small,
    struct rlimit *old)
{
	struct rlimit lim;

	mfad_pw_trim(0);
	assert_int_equal(mfad_pw_verify(c, small, PW), 1);
	assert_int_equal(mfad_pw_mapped_arenas(), 1);
	assert_int_equal(getrlimit(RLIMIT_AS, old), 0);
	lim = *old;
	lim.rlim_cur = vm_size() + 64 * 1024 * 1024;
	assert_int_equal(setrlimit(RLIMIT_AS, &lim), 0);
}

/*
 * No memory for a check: it says no (libsodium, tried next, finds none
 * either), the arena that could not grow is gone and not counted, and
 * the same check matches once memory is back.
 */
static void
pw_check_without_memory(void **state)
{
	char small[MFAD_HASH_MAX], big[crypto_pwhash_STRBYTES];
	char made[MFAD_HASH_MAX];
	struct mfad_conf *c = pw_conf(64 * 1024, small);
	struct rlimit old;

	(void)state;
	make(big, 1, 256 * 1024 * 1024);
	small_arena_then_no_memory(c, small, &old);
	assert_int_equal(mfad_pw_verify(c, big, PW), 0);
	assert_int_equal(mfad_pw_mapped_arenas(), 0);
	assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);

	assert_int_equal(mfad_pw_verify(c, big, PW), 1);
	assert_int_equal(mfad_pw_mapped_arenas(), 1);

	/* No memory for a hash either: neither the arena nor libsodium
	 * gets it, so no hash, and no arena left; then one once memory
	 * is back. */
	c->pw_memlimit = 256 * 1024 * 1024;
	small_arena_then_no_memory(c, small, &old);
	assert_int_not_equal(mfad_pw_hash(c, PW, made), 0);
	assert_int_equal(mfad_pw_mapped_arenas(), 0);
	assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);
	assert_int_equal(mfad_pw_hash(c, PW, made), 0);
	assert_int_equal(mfad_pw_mapped_arenas(), 1);
	assert_int_equal(mfad_pw_verify(c, made, PW), 1);
	mfad_pw_trim(0);
	assert_int_equal(mfad_pw_mapped_arenas(), 0);
	mfad_conf_free(c);
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(agrees_with_libsodium),
		cmocka_unit_test(hashes_as_libsodium_does),
		cmocka_unit_test(several_lanes),
		cmocka_unit_test(memory_kept_and_wiped),
		cmocka_unit_test(others_left_to_libsodium),
		cmocka_unit_test(pw_arenas_trimmed),
#ifndef UNDER_ASAN
		cmocka_unit_test(pw_check_without_memory),
#endif
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
