/*
 * mfad_load: a load generator for mfad, speaking the socket protocol
 * (common/mss_proto.h) from a pool of threads, with its own SMTP sink
 * that reads the codes out of the mails mfad sends.
 *
 *	mfad_load -s SOCK -m MODE [-c CLIENTS] [-n ACCOUNTS] [-f FIRST]
 *	    [-d SECONDS] [-r RATE] [-P SMTPPORT] [-w WRONG] [-p PASSWORD]
 *	    [-o USER]
 *
 * The socket must be root's or, with -o, USER's (mfad's own user, as
 * under its systemd unit), as pam_mss's socket_owner= allows.
 *
 * Accounts are u%07d with the address u%07d@example.org, FIRST to
 * FIRST + ACCOUNTS - 1; client t uses the accounts whose offset is t
 * modulo CLIENTS, in turn. Modes:
 *
 *	add		USER_ADD of every account with PASSWORD (setup)
 *	remember	a full login of every account on device D1, then
 *			REMEMBER (setup)
 *	device		AUTH_START on the remembered device D1: AUTH OK
 *	wrong		CODE with a wrong code on a login started on device
 *			D2 (not remembered); WRONG codes per login, then a
 *			login on D1 clears the account's failure count
 *	full		AUTH_START on D2, the code read from the mail, CODE:
 *			the measured time is the whole login, mail included
 *	badpw		AUTH_START with a wrong password: DENIED
 *
 * Setup modes run once over the accounts; the others run for SECONDS.
 * Only the measured requests count. Without -r each client sends its
 * next request as soon as it has the last one's answer, so the clients
 * keep mfad saturated. With -r the measured requests are paced: RATE a
 * second in all, each at a time fixed in advance (client t's k-th at
 * (k * CLIENTS + t) / RATE seconds from the start), and a request's
 * time runs from that time, not from when a late client got round to
 * sending it, so time spent behind a slow answer counts.
 *
 * Output: one JSON line with the operations, errors, throughput and
 * latency percentiles (ms); and, from a probe thread (probe_main), the
 * stops of the whole machine during the load, the time they took, and
 * the p99 of the requests that met none of them (null when the probe
 * could not have a real-time priority).
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "mss_buf.h"
#include "mss_client.h"
#include "mss_err.h"
#include "mss_proto.h"

#define LOAD_DEV1	"rhost:10.0.0.1"	/* remembered by "remember" */
#define LOAD_DEV2	"rhost:10.0.0.2"	/* never remembered */
#define LOAD_TIMEOUT	10000			/* ms, one request */
#define LOAD_CODE_WAIT	15			/* s, for a mail */
#define LOAD_MAXCLIENTS	1024
#define LOAD_STRIDE	7919L			/* prime: visits every account */

enum load_mode { M_ADD, M_REMEMBER, M_DEVICE, M_WRONG, M_FULL, M_BADPW };

struct load_slot {			/* where the sink hands codes over */
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	long		 want;		/* account index awaited, or -1 */
	char		 code[16];
	int		 have;
};

struct load_client {
	pthread_t	 thread;
	int		 id;
	double		*lat;		/* ms */
	double		*at;		/* when each began, now_s() */
	size_t		 nlat, caplat;
	unsigned long	 errors;
	unsigned long	 sent;		/* measured requests, for -r */
	struct load_slot slot;
};

static const char	*sock_path;
static uid_t		 sock_owner;	/* besides root: -o */
static const char	*password = "correct horse battery staple";
static enum load_mode	 mode;
static int		 nclients = 1, wrong_per_login = 90;
static long		 naccounts = 1, first;
static double		 duration = 5;
static double		 rate;		/* -r: requests a second, or 0 */
static double		 t_begin;	/* now_s() at the start */
static struct timespec	 t_end;
static struct load_client *clients;
static volatile int	 stop_all;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
time_up(void)
{
	struct timespec ts;

	if (stop_all)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec > t_end.tv_sec || (ts.tv_sec == t_end.tv_sec &&
	    ts.tv_nsec >= t_end.tv_nsec);
}

/*
 * When the next measured request of c starts: now, or with -r its time
 * in the schedule, waited for if it is still to come.
 */
static double
pace(struct load_client *c)
{
	struct timespec ts;
	double at;

	if (rate <= 0)
		return now_s();
	at = t_begin + ((double)c->sent++ * nclients + c->id) / rate;
	if (now_s() < at) {
		ts.tv_sec = (time_t)at;
		ts.tv_nsec = (long)((at - (double)ts.tv_sec) * 1e9);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
		    NULL) == EINTR)
			;
	}
	return at;
}

/* A request of c, begun at t0, has its answer. */
static void
record(struct load_client *c, double t0)
{
	double end = now_s();

	if (c->nlat == c->caplat) {
		c->caplat = c->caplat ? c->caplat * 2 : 4096;
		if ((c->lat = realloc(c->lat, c->caplat *
		    sizeof(*c->lat))) == NULL ||
		    (c->at = realloc(c->at, c->caplat *
		    sizeof(*c->at))) == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	c->at[c->nlat] = t0;
	c->lat[c->nlat++] = (end - t0) * 1e3;
}

/* --- stops of the whole machine --------------------------------------- */

/*
 * A thread at real-time priority that sleeps PROBE_TICK at a time: no
 * ordinary thread of this machine can keep it from running, so when it
 * wakes much later than asked, the machine itself was not running (a
 * virtual machine whose host stopped it, for one). Each such stop is
 * kept, so that the requests it held up can be told from the others.
 * It costs a wake-up every PROBE_TICK.
 */
#define PROBE_TICK	0.002			/* s */
#define PROBE_LATE	0.002			/* s past the tick: a stop */
#define PROBE_MAX	100000

static double		 stop_from[PROBE_MAX], stop_to[PROBE_MAX];
static size_t		 nstops;
static int		 probe_ok;		/* it got its priority */
static volatile int	 probe_end;

static void *
probe_main(void *arg)
{
	struct sched_param sp;
	struct timespec tick = { 0, (long)(PROBE_TICK * 1e9) };
	double before, after;

	(void)arg;
	memset(&sp, 0, sizeof(sp));
	sp.sched_priority = sched_get_priority_min(SCHED_FIFO);
	if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) != 0)
		return NULL;
	probe_ok = 1;
	while (!probe_end) {
		before = now_s();
		nanosleep(&tick, NULL);
		after = now_s();
		if (after - before > PROBE_TICK + PROBE_LATE &&
		    nstops < PROBE_MAX) {
			stop_from[nstops] = before;
			stop_to[nstops++] = after;
		}
	}
	return NULL;
}

/* Whether a request from t0 for ms milliseconds met a stop. */
static int
stopped_during(double t0, double ms)
{
	size_t lo = 0, hi = nstops, mid;

	/* The first stop that ends after t0; stops are in time order. */
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (stop_to[mid] <= t0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < nstops && stop_from[lo] < t0 + ms / 1e3;
}

/* One request; returns the reply type or -1. */
static int
call(uint8_t type, struct mss_buf *req, struct mss_buf *rep)
{
	uint8_t rtype;

	if (mss_client_call(sock_path, sock_owner, type, req, &rtype, rep,
	    LOAD_TIMEOUT) != 0)
		return -1;
	return rtype;
}

static void
acct_names(long i, char *user, size_t ulen, char *addr, size_t alen)
{
	snprintf(user, ulen, "u%07ld", i);
	snprintf(addr, alen, "u%07ld@example.org", i);
}

/* AUTH_START; *result and login (65 bytes) from the reply, or -1. */
static int
auth_start(long i, const char *pw, const char *dev, uint8_t *result,
    char *login)
{
	struct mss_buf *req, *rep;
	char user[32], addr[64], *s = NULL;
	int r = -1;

	acct_names(i, user, sizeof(user), addr, sizeof(addr));
	req = mss_buf_new(MSS_MSG_MAX);
	rep = mss_buf_new(MSS_MSG_MAX);
	if (req == NULL || rep == NULL)
		goto out;
	if (mss_buf_put_str(req, "bench") != 0 ||
	    mss_buf_put_str(req, user) != 0 ||
	    mss_buf_put_str(req, addr) != 0 ||
	    mss_buf_put_str(req, pw) != 0 ||
	    mss_buf_put_str(req, dev) != 0 ||
	    mss_buf_put_str(req, "") != 0 ||
	    mss_buf_put_str(req, "") != 0 ||
	    mss_buf_put_str(req, "en") != 0 ||
	    mss_buf_put_u32(req, 0) != 0)
		goto out;
	if (call(MSS_REQ_AUTH_START, req, rep) != MSS_REP_AUTH)
		goto out;
	if (mss_buf_get_u8(rep, result) != 0 ||
	    mss_buf_get_str(rep, &s, MSS_STR_MAX) != 0)
		goto out;
	if (login != NULL)
		snprintf(login, MSS_TOKEN_LEN + 1, "%s", s);
	r = 0;
out:
	mss_str_free(s);
	mss_buf_free(req);
	mss_buf_free(rep);
	return r;
}

/* CODE; *result from the reply, or -1. */
static int
send_code(const char *login, const char *code, uint8_t *result)
{
	struct mss_buf *req, *rep;
	int r = -1;

	req = mss_buf_new(MSS_MSG_MAX);
	rep = mss_buf_new(MSS_MSG_MAX);
	if (req == NULL || rep == NULL)
		goto out;
	if (mss_buf_put_str(req, login) != 0 ||
	    mss_buf_put_str(req, code) != 0)
		goto out;
	if (call(MSS_REQ_CODE, req, rep) != MSS_REP_CODE ||
	    mss_buf_get_u8(rep, result) != 0)
		goto out;
	r = 0;
out:
	mss_buf_free(req);
	mss_buf_free(rep);
	return r;
}

/* A request answered by RESULT; returns its code, or -1. */
static long
result_call(uint8_t type, struct mss_buf *req)
{
	struct mss_buf *rep;
	uint32_t code;
	long r = -1;

	if ((rep = mss_buf_new(MSS_MSG_MAX)) == NULL)
		return -1;
	if (call(type, req, rep) == MSS_REP_RESULT &&
	    mss_buf_get_u32(rep, &code) == 0)
		r = code;
	mss_buf_free(rep);
	return r;
}

static int
user_add(long i)
{
	struct mss_buf *req;
	char user[32], addr[64];
	long r = -1;

	acct_names(i, user, sizeof(user), addr, sizeof(addr));
	if ((req = mss_buf_new(MSS_MSG_MAX)) == NULL)
		return -1;
	if (mss_buf_put_str(req, user) == 0 &&
	    mss_buf_put_str(req, addr) == 0 &&
	    mss_buf_put_str(req, "en") == 0 &&
	    mss_buf_put_str(req, password) == 0)
		r = result_call(MSS_REQ_USER_ADD, req);
	mss_buf_free(req);
	/* 8: exists, from an earlier run on the same store. */
	return r == 0 || r == 8 ? 0 : -1;
}

static int
remember(const char *login)
{
	struct mss_buf *req;
	long r = -1;

	if ((req = mss_buf_new(MSS_MSG_MAX)) == NULL)
		return -1;
	if (mss_buf_put_str(req, login) == 0)
		r = result_call(MSS_REQ_REMEMBER, req);
	mss_buf_free(req);
	return r == 0 ? 0 : -1;
}

/* Waits for the code of account i from the sink; 0 or -1. */
static int
wait_code(struct load_client *c, long i, char *code, size_t len)
{
	struct load_slot *s = &c->slot;
	struct timespec ts;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += LOAD_CODE_WAIT;
	pthread_mutex_lock(&s->lock);
	while (!s->have && r == 0)
		r = pthread_cond_timedwait(&s->cond, &s->lock, &ts);
	if (s->have) {
		snprintf(code, len, "%s", s->code);
		s->have = 0;
		r = 0;
	} else
		r = -1;
	pthread_mutex_unlock(&s->lock);
	(void)i;
	return r;
}

static void
expect_code(struct load_client *c, long i)
{
	pthread_mutex_lock(&c->slot.lock);
	c->slot.want = i;
	c->slot.have = 0;
	pthread_mutex_unlock(&c->slot.lock);
}

/*
 * A full login of account i on dev: AUTH_START, the mailed code, CODE
 * (another mail is awaited if a late one of an earlier login came
 * first). With login != NULL the token is kept for a REMEMBER.
 */
static int
full_login(struct load_client *c, long i, const char *dev, char *keep)
{
	char login[MSS_TOKEN_LEN + 1], code[16];
	uint8_t res;
	int tries;

	expect_code(c, i);
	if (auth_start(i, password, dev, &res, login) != 0 ||
	    res != MSS_AUTH_CODE_SENT)
		return -1;
	for (tries = 0; tries < 3; tries++) {
		if (wait_code(c, i, code, sizeof(code)) != 0)
			return -1;
		if (send_code(login, code, &res) != 0)
			return -1;
		if (res == MSS_CODE_OK) {
			if (keep != NULL)
				memcpy(keep, login, sizeof(login));
			return 0;
		}
		if (res != MSS_CODE_WRONG)
			return -1;
	}
	return -1;
}

static void *
client_main(void *arg)
{
	struct load_client *c = arg;
	char login[MSS_TOKEN_LEN + 1];
	uint8_t res;
	long i, k = 0, per;
	int attempts = 0, have_login = 0;
	double t0;

	per = (naccounts - c->id + nclients - 1) / nclients;
	if (per <= 0)
		return NULL;
	i = first + c->id;
	for (;;) {
		if (mode == M_ADD || mode == M_REMEMBER) {
			if (k >= per || stop_all)
				break;
			i = first + c->id + k * nclients;
			k++;
			t0 = now_s();
			if (mode == M_ADD ? user_add(i) != 0 :
			    full_login(c, i, LOAD_DEV1, login) != 0 ||
			    remember(login) != 0) {
				c->errors++;
				continue;
			}
			record(c, t0);
			continue;
		}
		if (time_up())
			break;
		switch (mode) {
		case M_DEVICE:
		case M_BADPW:
			/* A scattered order, so that a large store is read all
			 * over rather than in key order. */
			i = first + c->id + ((k++ * LOAD_STRIDE) % per) *
			    nclients;
			t0 = pace(c);
			if (auth_start(i, mode == M_DEVICE ? password :
			    "wrong horse battery staple",
			    LOAD_DEV1, &res, NULL) != 0 ||
			    res != (mode == M_DEVICE ? MSS_AUTH_OK :
			    MSS_AUTH_DENIED))
				c->errors++;
			else
				record(c, t0);
			break;
		case M_WRONG:
			if (!have_login || attempts >= wrong_per_login) {
				if (have_login &&
				    (auth_start(i, password, LOAD_DEV1, &res,
				    NULL) != 0 || res != MSS_AUTH_OK))
					c->errors++;
				i = first + c->id + (k++ % per) * nclients;
				if (auth_start(i, password, LOAD_DEV2, &res,
				    login) != 0 || res != MSS_AUTH_CODE_SENT) {
					c->errors++;
					have_login = 0;
					usleep(1000);
					break;
				}
				have_login = 1;
				attempts = 0;
			}
			attempts++;
			t0 = pace(c);
			if (send_code(login, "000000", &res) != 0 ||
			    res != MSS_CODE_WRONG) {
				c->errors++;
				have_login = 0;
			} else
				record(c, t0);
			break;
		case M_FULL:
			i = first + c->id + (k++ % per) * nclients;
			t0 = pace(c);
			if (full_login(c, i, LOAD_DEV2, NULL) != 0)
				c->errors++;
			else
				record(c, t0);
			break;
		default:
			break;
		}
	}
	/* A last remembered login leaves no failures behind. */
	if (mode == M_WRONG && have_login)
		(void)auth_start(i, password, LOAD_DEV1, &res, NULL);
	return NULL;
}

/* --- the SMTP sink ------------------------------------------------- */

static void
sink_deliver(const char *rcpt, const char *body)
{
	const char *p, *at;
	char code[16];
	long i;
	size_t n;
	struct load_slot *s;

	if (rcpt[0] != 'u' || (at = strchr(rcpt, '@')) == NULL)
		return;
	i = strtol(rcpt + 1, NULL, 10);
	if (i < first || i >= first + naccounts)
		return;
	/* The first run of exactly six digits in the body is the code. */
	code[0] = '\0';
	for (p = body; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) ||
		    (p > body && isdigit((unsigned char)p[-1])))
			continue;
		for (n = 0; isdigit((unsigned char)p[n]); n++)
			;
		if (n == 6) {
			memcpy(code, p, 6);
			code[6] = '\0';
			break;
		}
	}
	if (code[0] == '\0')
		return;
	s = &clients[(i - first) % nclients].slot;
	pthread_mutex_lock(&s->lock);
	if (s->want == i) {
		snprintf(s->code, sizeof(s->code), "%s", code);
		s->have = 1;
		pthread_cond_signal(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
}

static void
sink_reply(int fd, const char *s)
{
	size_t n = strlen(s), off = 0;
	ssize_t w;

	while (off < n) {
		if ((w = write(fd, s + off, n - off)) <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return;
		}
		off += (size_t)w;
	}
}

static void *
sink_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	FILE *in;
	char line[4096], rcpt[256], *body = NULL, *lt, *gt, *p, *q;
	size_t blen = 0, bcap = 0, n;
	int data = 0, inbody = 0;

	if ((in = fdopen(dup(fd), "r")) == NULL) {
		close(fd);
		return NULL;
	}
	rcpt[0] = '\0';
	sink_reply(fd, "220 sink ESMTP\r\n");
	while (fgets(line, sizeof(line), in) != NULL) {
		if (data) {
			if (strcmp(line, ".\r\n") == 0 ||
			    strcmp(line, ".\n") == 0) {
				data = 0;
				if (body != NULL) {
					/* Undo quoted-printable soft breaks. */
					for (p = q = body; *p != '\0'; p++) {
						if (p[0] == '=' && p[1] == '\r' &&
						    p[2] == '\n') {
							p += 2;
							continue;
						}
						*q++ = *p;
					}
					*q = '\0';
					sink_deliver(rcpt, body);
				}
				blen = 0;
				if (body != NULL)
					body[0] = '\0';
				sink_reply(fd, "250 OK\r\n");
				continue;
			}
			if (!inbody) {
				if (line[0] == '\r' || line[0] == '\n')
					inbody = 1;
				continue;
			}
			n = strlen(line);
			if (blen + n + 1 > bcap) {
				bcap = (blen + n + 1) * 2;
				if ((p = realloc(body, bcap)) == NULL)
					break;
				body = p;
			}
			memcpy(body + blen, line, n + 1);
			blen += n;
			continue;
		}
		if (strncasecmp(line, "EHLO", 4) == 0 ||
		    strncasecmp(line, "HELO", 4) == 0)
			sink_reply(fd, "250 sink\r\n");
		else if (strncasecmp(line, "RCPT", 4) == 0) {
			if ((lt = strchr(line, '<')) != NULL &&
			    (gt = strchr(lt, '>')) != NULL &&
			    (size_t)(gt - lt) < sizeof(rcpt)) {
				memcpy(rcpt, lt + 1, gt - lt - 1);
				rcpt[gt - lt - 1] = '\0';
				for (p = rcpt; *p != '\0'; p++)
					*p = tolower((unsigned char)*p);
			}
			sink_reply(fd, "250 OK\r\n");
		} else if (strncasecmp(line, "DATA", 4) == 0) {
			data = 1;
			inbody = 0;
			sink_reply(fd, "354 go on\r\n");
		} else if (strncasecmp(line, "QUIT", 4) == 0) {
			sink_reply(fd, "221 bye\r\n");
			break;
		} else
			sink_reply(fd, "250 OK\r\n");
	}
	free(body);
	fclose(in);
	close(fd);
	return NULL;
}

static void *
sink_main(void *arg)
{
	int lfd = (int)(intptr_t)arg, fd;
	pthread_t t;

	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		if (pthread_create(&t, NULL, sink_conn,
		    (void *)(intptr_t)fd) != 0) {
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
}

static int
sink_start(int port)
{
	struct sockaddr_in sin;
	pthread_t t;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 128) != 0) {
		perror("sink");
		close(fd);
		return -1;
	}
	if (pthread_create(&t, NULL, sink_main, (void *)(intptr_t)fd) != 0)
		return -1;
	pthread_detach(t);
	return 0;
}

/* --- main ----------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(const double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)(p / 100 * (double)(n - 1) + 0.5);
	return v[k < n ? k : n - 1];
}

static void
usage(void)
{
	fprintf(stderr, "usage: mfad_load -s SOCK -m MODE [-c CLIENTS] "
	    "[-n ACCOUNTS] [-f FIRST] [-d SECONDS] [-r RATE] [-P SMTPPORT] "
	    "[-w WRONG] [-p PASSWORD] [-o USER]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	static const char *const names[] = { "add", "remember", "device",
	    "wrong", "full", "badpw" };
	const char *mname = NULL;
	double t0, elapsed, *all, *clear, stopped = 0;
	size_t n = 0, k, j, nclear = 0;
	pthread_t probe;
	unsigned long errors = 0;
	struct passwd *pw;
	int ch, i, port = 0;

	while ((ch = getopt(argc, argv, "s:m:c:n:f:d:r:P:w:p:o:")) != -1) {
		switch (ch) {
		case 's': sock_path = optarg; break;
		case 'm': mname = optarg; break;
		case 'c': nclients = atoi(optarg); break;
		case 'n': naccounts = atol(optarg); break;
		case 'f': first = atol(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 'P': port = atoi(optarg); break;
		case 'w': wrong_per_login = atoi(optarg); break;
		case 'p': password = optarg; break;
		case 'o':
			if ((pw = getpwnam(optarg)) == NULL)
				usage();
			sock_owner = pw->pw_uid;
			break;
		default: usage();
		}
	}
	if (sock_path == NULL || mname == NULL || nclients < 1 ||
	    nclients > LOAD_MAXCLIENTS || naccounts < 1 || rate < 0)
		usage();
	for (i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
		if (strcmp(mname, names[i]) == 0)
			break;
	if (i == (int)(sizeof(names) / sizeof(names[0])))
		usage();
	mode = (enum load_mode)i;
	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	if ((clients = calloc(nclients, sizeof(*clients))) == NULL)
		return 1;
	for (i = 0; i < nclients; i++) {
		clients[i].id = i;
		pthread_mutex_init(&clients[i].slot.lock, NULL);
		pthread_cond_init(&clients[i].slot.cond, NULL);
		clients[i].slot.want = -1;
	}
	if (port > 0 && sink_start(port) != 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t_end);
	t_end.tv_sec += (time_t)duration;
	t_end.tv_nsec += (long)((duration - (time_t)duration) * 1e9);
	if (t_end.tv_nsec >= 1000000000L) {
		t_end.tv_sec++;
		t_end.tv_nsec -= 1000000000L;
	}
	if (pthread_create(&probe, NULL, probe_main, NULL) != 0) {
		perror("pthread_create");
		return 1;
	}
	t0 = t_begin = now_s();
	for (i = 0; i < nclients; i++)
		if (pthread_create(&clients[i].thread, NULL, client_main,
		    &clients[i]) != 0) {
			perror("pthread_create");
			return 1;
		}
	for (i = 0; i < nclients; i++)
		pthread_join(clients[i].thread, NULL);
	elapsed = now_s() - t0;
	probe_end = 1;
	pthread_join(probe, NULL);
	for (i = 0; i < nclients; i++) {
		n += clients[i].nlat;
		errors += clients[i].errors;
	}
	if ((all = calloc(n + 1, sizeof(*all))) == NULL ||
	    (clear = calloc(n + 1, sizeof(*clear))) == NULL)
		return 1;
	for (i = 0, k = 0; i < nclients; i++)
		for (j = 0; j < clients[i].nlat; j++) {
			all[k++] = clients[i].lat[j];
			if (!stopped_during(clients[i].at[j],
			    clients[i].lat[j]))
				clear[nclear++] = clients[i].lat[j];
		}
	qsort(all, n, sizeof(*all), cmp_double);
	qsort(clear, nclear, sizeof(*clear), cmp_double);
	for (k = 0; k < nstops; k++)
		stopped += stop_to[k] - stop_from[k] - PROBE_TICK;
	printf("{\"mode\": \"%s\", \"clients\": %d, \"ops\": %zu, "
	    "\"errors\": %lu, \"seconds\": %.3f, \"rate\": %.1f, "
	    "\"offered\": %.1f, "
	    "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, ",
	    mname, nclients, n, errors, elapsed, n / elapsed, rate,
	    pct(all, n, 50), pct(all, n, 99), n ? all[n - 1] : 0.0);
	/* Without its priority the probe sees nothing of the machine:
	 * no figures rather than zeros. */
	if (probe_ok)
		printf("\"stops\": %zu, \"stopped_ms\": %.1f, "
		    "\"clear\": %zu, \"p99_clear_ms\": %.3f}\n", nstops,
		    stopped * 1e3, nclear, pct(clear, nclear, 99));
	else
		printf("\"stops\": null, \"stopped_ms\": null, "
		    "\"clear\": null, \"p99_clear_ms\": null}\n");
	return errors > 0 && n == 0 ? 1 : 0;
}
