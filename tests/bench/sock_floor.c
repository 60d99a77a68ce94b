/*
 * sock_floor: the least a module that asks a daemon can cost. A child
 * process serves a Unix socket as simply as can be (one thread: accept,
 * read one request, write a reply of 30 bytes, close); the parent times
 * N round trips the way common/mss_client.c makes them (socket, connect,
 * one send, poll, receive, close).
 *
 *	sock_floor -d DIR [-n N] [-w USEC]
 *
 * DIR holds the socket; -w pauses USEC microseconds (untimed) before
 * each round trip, so that the server is idle when it comes. Prints one JSON line as pam_loop does: n, the
 * median, p99, min and max time of one round trip in microseconds.
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static void
serve(int lfd)
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
				(void)send(fd, buf, 30, MSG_NOSIGNAL);
			close(fd);
		}
	}
}

int
main(int argc, char *argv[])
{
	struct sockaddr_un sun;
	struct pollfd p;
	char req[127], rep[256];
	const char *dir = NULL;
	double *t, t0;
	long n = 1000, i, pause = 0;
	pid_t pid;
	int ch, lfd, fd;

	while ((ch = getopt(argc, argv, "d:n:w:")) != -1) {
		switch (ch) {
		case 'd': dir = optarg; break;
		case 'n': n = atol(optarg); break;
		case 'w': pause = atol(optarg); break;
		default:
			fprintf(stderr, "usage: sock_floor -d DIR [-n N] "
			    "[-w USEC]\n");
			return 2;
		}
	}
	if (dir == NULL || n < 1)
		return 2;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/floor.sock",
	    dir) >= sizeof(sun.sun_path))
		return 2;
	if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    listen(lfd, SOMAXCONN) != 0) {
		perror("sock_floor: listen");
		return 1;
	}
	if ((pid = fork()) < 0)
		return 1;
	if (pid == 0) {
		serve(lfd);
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
