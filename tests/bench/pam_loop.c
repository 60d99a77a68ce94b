/*
 * pam_loop: times N PAM transactions (pam_start_confdir, pam_authenticate,
 * pam_end) of one service, with a conversation that answers from argv.
 *
 *	pam_loop -D CONFDIR -s SERVICE -u USER [-r RHOST] [-n N]
 *	    [-e EMAIL] [-p PASSWORD] [-c CODE] [-w USEC]
 *
 * An echo-on prompt naming a mail address gets EMAIL, one naming a
 * password gets PASSWORD, any other prompt gets CODE ("remember" gets
 * "n"). Every transaction must succeed. -w pauses USEC microseconds
 * before each one (untimed), as between the logins of a real host.
 * Prints one JSON line: n, the median, p99, min and max time of one
 * transaction in microseconds.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

struct answers {
	const char	*email;
	const char	*password;
	const char	*code;
};

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
    void *data)
{
	const struct answers *a = data;
	struct pam_response *r;
	const char *text, *ans;
	int i;

	if (n <= 0 || (r = calloc(n, sizeof(*r))) == NULL)
		return PAM_CONV_ERR;
	for (i = 0; i < n; i++) {
		if (msg[i]->msg_style != PAM_PROMPT_ECHO_ON &&
		    msg[i]->msg_style != PAM_PROMPT_ECHO_OFF)
			continue;
		text = msg[i]->msg != NULL ? msg[i]->msg : "";
		if (strcasestr(text, "mail") != NULL)
			ans = a->email;
		else if (strcasestr(text, "password") != NULL)
			ans = a->password;
		else if (strcasestr(text, "remember") != NULL)
			ans = "n";
		else
			ans = a->code;
		if ((r[i].resp = strdup(ans != NULL ? ans : "")) == NULL) {
			while (i-- > 0)
				free(r[i].resp);
			free(r);
			return PAM_CONV_ERR;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int
main(int argc, char *argv[])
{
	struct answers a = { NULL, NULL, NULL };
	struct pam_conv pc = { conv, &a };
	const char *confdir = NULL, *service = NULL, *user = NULL;
	const char *rhost = NULL;
	pam_handle_t *ph;
	double *t, t0;
	long n = 100, i, pause = 0;
	int ch, rc;

	while ((ch = getopt(argc, argv, "D:s:u:r:n:e:p:c:w:")) != -1) {
		switch (ch) {
		case 'D': confdir = optarg; break;
		case 's': service = optarg; break;
		case 'u': user = optarg; break;
		case 'r': rhost = optarg; break;
		case 'n': n = atol(optarg); break;
		case 'e': a.email = optarg; break;
		case 'p': a.password = optarg; break;
		case 'c': a.code = optarg; break;
		case 'w': pause = atol(optarg); break;
		default:
			fprintf(stderr, "usage: pam_loop -D CONFDIR -s SERVICE "
			    "-u USER [-r RHOST] [-n N] [-e EMAIL] [-p PASSWORD] "
			    "[-c CODE] [-w USEC]\n");
			return 2;
		}
	}
	if (confdir == NULL || service == NULL || user == NULL || n < 1)
		return 2;
	if ((t = calloc(n, sizeof(*t))) == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		if (pause > 0)
			usleep((useconds_t)pause);
		t0 = now_us();
		rc = pam_start_confdir(service, user, &pc, confdir, &ph);
		if (rc != PAM_SUCCESS) {
			fprintf(stderr, "pam_start_confdir: %d\n", rc);
			return 1;
		}
		if (rhost != NULL)
			(void)pam_set_item(ph, PAM_RHOST, rhost);
		rc = pam_authenticate(ph, 0);
		pam_end(ph, rc);
		t[i] = now_us() - t0;
		if (rc != PAM_SUCCESS) {
			fprintf(stderr, "transaction %ld: pam_authenticate: %d "
			    "%s\n", i, rc, pam_strerror(NULL, rc));
			return 1;
		}
	}
	qsort(t, n, sizeof(*t), cmp_double);
	printf("{\"n\": %ld, \"median_us\": %.1f, \"p99_us\": %.1f, "
	    "\"min_us\": %.1f, \"max_us\": %.1f}\n", n, t[n / 2],
	    t[(long)(0.99 * (n - 1) + 0.5)], t[0], t[n - 1]);
	free(t);
	return 0;
}
