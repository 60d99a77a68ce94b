/*
 * Drives mfad_dir for tests/fleet/test_dir.py: parameters as options,
 * then one command a line on stdin, one answer a line on stdout:
 *   connect | check   ->  "ok URI" or "err CODE MESSAGE"
 *   close             ->  "ok"
 * mfad's log goes to stderr.
 *
 *   dir_driver -u URI [-u URI...] -b BASE -D BINDDN -y PWFILE [-c CAFILE]
 *       [-n NET_MS] [-t OP_MS]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mss_err.h"
#include "mfad_dir.h"
#include "mfad_log.h"

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
answer(struct mfad_dir *d, int r, long long t0)
{
	if (r == 0)
		printf("ok %s %lld\n", mfad_dir_uri(d), now_ms() - t0);
	else
		printf("err %d %s %lld\n", r, mss_strerror(r), now_ms() - t0);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct mfad_dir_params p;
	struct mfad_dir d;
	char line[64];
	long long t0;
	int c, r;

	memset(&p, 0, sizeof(p));
	p.net_timeout_ms = 2000;
	p.op_timeout_ms = 2000;
	p.bind_pw_owner = geteuid();
	while ((c = getopt(argc, argv, "u:b:D:y:c:n:t:")) != -1) {
		switch (c) {
		case 'u':
			if (p.nuris == MFAD_DIR_URIS_MAX)
				return 2;
			p.uris[p.nuris++] = optarg;
			break;
		case 'b': p.base = optarg; break;
		case 'D': p.bind_dn = optarg; break;
		case 'y': p.bind_pw_file = optarg; break;
		case 'c': p.ca_file = optarg; break;
		case 'n': p.net_timeout_ms = atoi(optarg); break;
		case 't': p.op_timeout_ms = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: see the top of dir_driver.c\n");
			return 2;
		}
	}
	/* As mfad: a write to a provider that went away is an error, not
	 * the end of the process. */
	signal(SIGPIPE, SIG_IGN);
	mfad_log_init(1, 1);
	if ((r = mfad_dir_init(&d, &p)) != 0) {
		printf("err %d %s 0\n", r, mss_strerror(r));
		return 1;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		t0 = now_ms();
		if (strcmp(line, "connect") == 0)
			answer(&d, mfad_dir_connect(&d), t0);
		else if (strcmp(line, "check") == 0)
			answer(&d, mfad_dir_check(&d), t0);
		else if (strcmp(line, "close") == 0) {
			mfad_dir_close(&d);
			printf("ok\n");
			fflush(stdout);
		} else {
			printf("err unknown command\n");
			fflush(stdout);
		}
	}
	mfad_dir_close(&d);
	return 0;
}
