/*
 * sock_floor: the least a module that asks a daemon can cost. A child
 * process serves a Unix socket as simply as can be (one thread: accept,
 * read one request, write a reply of 30 bytes, close); the parent times
 * N round trips the way common/mss_client.c makes them (socket, connect,
 * one send, poll, receive, close).
 *
 *	sock_floor -d DIR [-n N] [-w USEC]
 *	sock_floor -S SOCK
 *
 * DIR holds the socket; -w pauses USEC microseconds (untimed) before
 * each round trip, so that the server is idle when it comes. Prints one
 * JSON line as pam_loop does: n, the median, p99, min and max time of
 * one round trip in microseconds.
 *
 * With -S it only serves, at SOCK, until it is killed, and answers each
 * request with the reply mfad gives a remembered device (MSS_REP_AUTH,
 * MSS_AUTH_OK): mfad_load's load of remembered-device logins, aimed at
 * it, measures what the machine gives the load itself, with no store,
 * no password check and no log line (bench_load.py).
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mss_io.h"
#include "mss_proto.h"

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

/* Answers each connection's request with rep, len bytes. */
static void
serve(int lfd, const unsigned char *rep, size_t len)
{
	char buf[4096];
	struct pollfd p;
	int fd;

	for (;;) {
		p.fd = lfd;
		p.events = POLLIN;
		if (poll(&p, 1, -1) < 0)
			continue;
		while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC)) >= 0) {
			p.fd = fd;
			p.events = POLLIN;
			if (poll(&p, 1, 1000) == 1 &&
			    recv(fd, buf, sizeof(buf), 0) > 0)
				(void)send(fd, rep, len, MSG_NOSIGNAL);
			close(fd);
		}
	}
}

/* Listens at path (mode 0666: any user's load may come). */
static int
listen_at(const char *path)
{
	struct sockaddr_un sun;
	int lfd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    chmod(path, 0666) != 0 || listen(lfd, SOMAXCONN) != 0) {
		perror("sock_floor: listen");
		return -1;
	}
	return lfd;
}

/* mfad's answer to a remembered device (mss_proto.h, MSS_REP_AUTH):
 * AUTH_OK, no login token, no masked address, no minutes, no mail, no
 * wait, lang "en". Returns its length. */
static size_t
auth_ok_reply(unsigned char *rep)
{
	static const unsigned char body[] = {
		MSS_AUTH_OK,
		0, 0, 0, 0,		/* login "" */
		0, 0, 0, 0,		/* masked "" */
		0, 0, 0, 0,		/* minutes */
		0,			/* mail */
		0, 0, 0, 0,		/* wait */
		0, 0, 0, 2, 'e', 'n',	/* lang */
	};

	mss_frame_put_header(rep, MSS_REP_AUTH, sizeof(body));
	memcpy(rep + MSS_FRAME_HDR, body, sizeof(body));
	return MSS_FRAME_HDR + sizeof(body);
}

int
main(int argc, char *argv[])
{
	struct sockaddr_un sun;
	struct pollfd p;
	unsigned char ok[64], thirty[30];
	char req[127], rep[256];
	const char *dir = NULL, *serve_at = NULL;
	double *t, t0;
	long n = 1000, i, pause = 0;
	pid_t pid;
	int ch, lfd, fd;

	while ((ch = getopt(argc, argv, "d:n:w:S:")) != -1) {
		switch (ch) {
		case 'd': dir = optarg; break;
		case 'n': n = atol(optarg); break;
		case 'w': pause = atol(optarg); break;
		case 'S': serve_at = optarg; break;
		default:
			fprintf(stderr, "usage: sock_floor -d DIR [-n N] "
			    "[-w USEC] | -S SOCK\n");
			return 2;
		}
	}
	if (serve_at != NULL) {
		if ((lfd = listen_at(serve_at)) < 0)
			return 1;
		serve(lfd, ok, auth_ok_reply(ok));
		return 0;
	}
	if (dir == NULL || n < 1)
		return 2;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/floor.sock",
	    dir) >= sizeof(sun.sun_path))
		return 2;
	if ((lfd = listen_at(sun.sun_path)) < 0)
		return 1;
	if ((pid = fork()) < 0)
		return 1;
	if (pid == 0) {
		memset(thirty, 0, sizeof(thirty));
		serve(lfd, thirty, sizeof(thirty));
		_exit(0);
	}
	close(lfd);
	if ((t = calloc(n, sizeof(*t))) == NULL)
		return 1;
	memset(req, 'x', sizeof(req));
	for (i = 0; i < n; i++) {
		if (pause > 0)
			usleep((useconds_t)pause);
		t0 = now_us();
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
		    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
		    send(fd, req, sizeof(req), MSG_NOSIGNAL) !=
		    (ssize_t)sizeof(req)) {
			perror("sock_floor");
			kill(pid, SIGTERM);
			return 1;
		}
		p.fd = fd;
		p.events = POLLIN;
		if (poll(&p, 1, 10000) != 1 || recv(fd, rep, sizeof(rep), 0) <
		    30) {
			fprintf(stderr, "sock_floor: no reply\n");
			kill(pid, SIGTERM);
			return 1;
		}
		close(fd);
		t[i] = now_us() - t0;
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	unlink(sun.sun_path);
	qsort(t, n, sizeof(*t), cmp_double);
	printf("{\"n\": %ld, \"median_us\": %.1f, \"p99_us\": %.1f, "
	    "\"min_us\": %.1f, \"max_us\": %.1f}\n", n, t[n / 2],
	    t[(long)(0.99 * (n - 1) + 0.5)], t[0], t[n - 1]);
	free(t);
	return 0;
}
