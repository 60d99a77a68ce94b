/*
 * pwverify: the cost of one verification of an argon2id string at the
 * interactive limits on this machine, alone and with T threads at once,
 * the way mfad checks passwords (mfad/mfad_argon2.c: each thread keeps
 * its memory mapped from one check to the next); and, for comparison,
 * the time of one crypto_pwhash_str_verify, which maps its memory afresh
 * for each check.
 *
 *	pwverify [-n N] [-t THREADS]
 *	pwverify -H
 *
 * Prints one JSON line: the median time of one verification on one
 * thread (ms) and the share of it spent in the kernel, the same for
 * libsodium's (page faults and zeroing of its fresh memory), the median
 * time of one hash both ways, the verifications per second of T threads
 * both ways, and T. With -H
 * it prints instead a hash of the benchmarks' password at the lowest cost
 * mfad accepts, for `mfadctl import` (bench_scale.py).
 */
#include <sys/resource.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "mfad_argon2.h"

static char	 hash[crypto_pwhash_STRBYTES];
static long	 per_thread;
static int	 par_sodium;	/* the threads' way: libsodium's */
static const char pw[] = "correct horse battery staple";

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One verification: mfad's way, in the thread's arena, or libsodium's. */
static void
verify_one(struct mfad_argon2_arena *a, int sodium)
{
	if (sodium ? crypto_pwhash_str_verify(hash, pw, strlen(pw)) != 0 :
	    mfad_argon2_verify(a, hash, pw, strlen(pw)) != 1)
		abort();
}

/* One hash of pw at the interactive limits: mfad's way or libsodium's. */
static void
hash_one(struct mfad_argon2_arena *a, int sodium)
{
	char h[crypto_pwhash_STRBYTES];

	if (sodium ? crypto_pwhash_str_alg(h, pw, strlen(pw),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE,
	    crypto_pwhash_ALG_ARGON2ID13) != 0 :
	    mfad_argon2_hash(a, crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE, pw, strlen(pw), h,
	    sizeof(h)) != 0)
		abort();
}

/* way 0, 1: a verify, mfad's way and libsodium's; 2, 3: a hash. */
static void
run_one(struct mfad_argon2_arena *a, int way)
{
	if (way < 2)
		verify_one(a, way);
	else
		hash_one(a, way - 2);
}

static void *
worker(void *arg)
{
	struct mfad_argon2_arena a = { NULL, 0 };
	long i;

	(void)arg;
	for (i = 0; i < per_thread; i++)
		verify_one(&a, par_sodium);
	mfad_argon2_arena_free(&a);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char *argv[])
{
	pthread_t th[256];
	struct rusage ru0, ru1;
	double *t, t0, el, usr, sys, one[4], kshare[4], par[2];
	long n = 10, i;
	int way;
	int ch, nt = (int)sysconf(_SC_NPROCESSORS_ONLN), print_hash = 0;

	while ((ch = getopt(argc, argv, "Hn:t:")) != -1) {
		switch (ch) {
		case 'H': print_hash = 1; break;
		case 'n': n = atol(optarg); break;
		case 't': nt = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: pwverify [-n N] [-t THREADS] | "
			    "-H\n");
			return 2;
		}
	}
	if (n < 1 || nt < 1 || nt > 256 || sodium_init() < 0)
		return 2;
	if (print_hash) {
		if (crypto_pwhash_str(hash, pw, strlen(pw),
		    crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN) != 0)
			return 1;
		puts(hash);
		return 0;
	}
	if (crypto_pwhash_str(hash, pw, strlen(pw),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return 1;
	if ((t = calloc(n, sizeof(*t))) == NULL)
		return 1;
	for (way = 0; way < 4; way++) {
		struct mfad_argon2_arena a = { NULL, 0 };

		run_one(&a, way);	/* the arena is mapped, as in mfad */
		getrusage(RUSAGE_SELF, &ru0);
		for (i = 0; i < n; i++) {
			t0 = now_s();
			run_one(&a, way);
			t[i] = (now_s() - t0) * 1e3;
		}
		getrusage(RUSAGE_SELF, &ru1);
		mfad_argon2_arena_free(&a);
		usr = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
		    (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
		sys = (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
		    (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
		qsort(t, n, sizeof(*t), cmp_double);
		one[way] = t[n / 2];
		kshare[way] = usr + sys > 0 ? 100 * sys / (usr + sys) : 0.0;
	}
	per_thread = n;
	for (par_sodium = 0; par_sodium < 2; par_sodium++) {
		t0 = now_s();
		for (i = 0; i < nt; i++)
			if (pthread_create(&th[i], NULL, worker, NULL) != 0)
				return 1;
		for (i = 0; i < nt; i++)
			pthread_join(th[i], NULL);
		el = now_s() - t0;
		par[par_sodium] = nt * n / el;
	}
	printf("{\"one_ms\": %.3f, \"kernel_share\": %.1f, "
	    "\"sodium_one_ms\": %.3f, \"sodium_kernel_share\": %.1f, "
	    "\"hash_ms\": %.3f, \"sodium_hash_ms\": %.3f, "
	    "\"threads\": %d, \"parallel_per_s\": %.2f, "
	    "\"sodium_parallel_per_s\": %.2f}\n", one[0], kshare[0], one[1],
	    kshare[1], one[2], one[3], nt, par[0], par[1]);
	return 0;
}
