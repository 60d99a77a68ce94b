/*
 * pwverify: the cost of one crypto_pwhash_str_verify at the interactive
 * limits on this machine, alone and with T threads at once.
 *
 *	pwverify [-n N] [-t THREADS]
 *
 * Prints one JSON line: the median time of one verification on one
 * thread (ms), the verifications per second of T threads, and T.
 */
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
	double *t, t0, el;
	long n = 10, i;
	int ch, nt = (int)sysconf(_SC_NPROCESSORS_ONLN);

	while ((ch = getopt(argc, argv, "n:t:")) != -1) {
		switch (ch) {
		case 'n': n = atol(optarg); break;
		case 't': nt = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: pwverify [-n N] [-t THREADS]\n");
			return 2;
		}
	}
	if (n < 1 || nt < 1 || nt > 256 || sodium_init() < 0)
		return 2;
	if (crypto_pwhash_str(hash, pw, strlen(pw),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return 1;
	if ((t = calloc(n, sizeof(*t))) == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		t0 = now_s();
		if (crypto_pwhash_str_verify(hash, pw, strlen(pw)) != 0)
			return 1;
		t[i] = (now_s() - t0) * 1e3;
	}
	qsort(t, n, sizeof(*t), cmp_double);
	per_thread = n;
	t0 = now_s();
	for (i = 0; i < nt; i++)
		if (pthread_create(&th[i], NULL, worker, NULL) != 0)
			return 1;
	for (i = 0; i < nt; i++)
		pthread_join(th[i], NULL);
	el = now_s() - t0;
	printf("{\"one_ms\": %.3f, \"threads\": %d, \"parallel_per_s\": %.2f}\n",
	    t[n / 2], nt, nt * n / el);
	return 0;
}
