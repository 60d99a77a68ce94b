/*
 * pwverify: the cost of one crypto_pwhash_str_verify at the interactive
 * limits on this machine, alone and with T threads at once.
 *
 *	pwverify [-n N] [-t THREADS]
 *	pwverify -H
 *
 * Prints one JSON line: the median time of one verification on one
 * thread (ms), the share of it spent in the kernel (libsodium maps the
 * memory of each verification afresh: page faults and zeroing), the
 * verifications per second of T threads, and T. With -H
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

static char	 hash[crypto_pwhash_STRBYTES];
static long	 per_thread;
static const char pw[] = "correct horse battery staple";

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *
worker(void *arg)
{
	long i;

	(void)arg;
	for (i = 0; i < per_thread; i++)
		if (crypto_pwhash_str_verify(hash, pw, strlen(pw)) != 0)
			abort();
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
	double *t, t0, el, usr, sys;
	long n = 10, i;
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
	getrusage(RUSAGE_SELF, &ru0);
	for (i = 0; i < n; i++) {
		t0 = now_s();
		if (crypto_pwhash_str_verify(hash, pw, strlen(pw)) != 0)
			return 1;
		t[i] = (now_s() - t0) * 1e3;
	}
	getrusage(RUSAGE_SELF, &ru1);
	usr = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
	    (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
	sys = (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
	    (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	qsort(t, n, sizeof(*t), cmp_double);
	per_thread = n;
	t0 = now_s();
	for (i = 0; i < nt; i++)
		if (pthread_create(&th[i], NULL, worker, NULL) != 0)
			return 1;
	for (i = 0; i < nt; i++)
		pthread_join(th[i], NULL);
	el = now_s() - t0;
	printf("{\"one_ms\": %.3f, \"kernel_share\": %.1f, \"threads\": %d, "
	    "\"parallel_per_s\": %.2f}\n", t[n / 2],
	    usr + sys > 0 ? 100 * sys / (usr + sys) : 0.0, nt, nt * n / el);
	return 0;
}
