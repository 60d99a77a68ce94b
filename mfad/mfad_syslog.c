#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdint.h>
#include <paths.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "mfad_syslog.h"

/*
 * One socket, guarded by a mutex: the log thread is its only user once
 * it runs, and before and after it the threads that log write here one
 * at a time.
 */
static pthread_mutex_t	 mfad_syslog_lock = PTHREAD_MUTEX_INITIALIZER;
static int		 mfad_syslog_fd = -1;
static int		 mfad_syslog_stream;	/* a syslog-ng unix-stream */
static int		 mfad_syslog_facility = LOG_DAEMON;
static char		 mfad_syslog_tag[48] = "mfad";

void
mfad_syslog_open(const char *ident, int facility)
{
	pthread_mutex_lock(&mfad_syslog_lock);
	snprintf(mfad_syslog_tag, sizeof(mfad_syslog_tag), "%s", ident);
	mfad_syslog_facility = facility & LOG_FACMASK;
	pthread_mutex_unlock(&mfad_syslog_lock);
}

/* Lock held. A datagram socket, or a stream one where the daemon
 * listens on a stream (EPROTOTYPE), as glibc does. */
static int
mfad_syslog_connect(void)
{
	static const int types[] = { SOCK_DGRAM, SOCK_STREAM };
	struct sockaddr_un sa;
	size_t i;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", _PATH_LOG);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if ((fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0)) < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			mfad_syslog_fd = fd;
			mfad_syslog_stream = types[i] == SOCK_STREAM;
			return 0;
		}
		close(fd);
		if (errno != EPROTOTYPE)
			break;
	}
	return -1;
}

/* Lock held. */
static void
mfad_syslog_disconnect(void)
{
	if (mfad_syslog_fd >= 0)
		close(mfad_syslog_fd);
	mfad_syslog_fd = -1;
}

/* "<PRI>Mmm dd hh:mm:ss TAG: " into head: glibc's header, its time in
 * the C locale's words whatever the locale. */
static size_t
mfad_syslog_head(char *head, size_t len, int prio, const struct timespec *ts)
{
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	time_t t = ts->tv_sec;
	int n;

	if ((prio & LOG_FACMASK) == 0)
		prio |= mfad_syslog_facility;
	if (localtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	n = snprintf(head, len, "<%d>%s %2d %02d:%02d:%02d %s: ", prio,
	    months[tm.tm_mon >= 0 && tm.tm_mon < 12 ? tm.tm_mon : 0],
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, mfad_syslog_tag);
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}

/* Lock held. Sends lines[from..n) over the socket as it is; returns
 * how many went, or -1 with errno when the next one failed. */
static ssize_t
mfad_syslog_try(const struct mfad_syslog_line *lines, size_t n,
    char heads[][128], struct mmsghdr *msgs, struct iovec (*iov)[3])
{
	static const char nul = '\0';
	size_t i;
	int r;

	if (mfad_syslog_fd < 0 && mfad_syslog_connect() != 0)
		return -1;
	for (i = 0; i < n; i++) {
		iov[i][0].iov_base = heads[i];
		iov[i][0].iov_len = strlen(heads[i]);
		iov[i][1].iov_base = (void *)(uintptr_t)lines[i].text;
		iov[i][1].iov_len = strlen(lines[i].text);
		/* A stream has no datagrams: glibc ends each line with a
		 * NUL there. */
		iov[i][2].iov_base = (void *)(uintptr_t)&nul;
		iov[i][2].iov_len = mfad_syslog_stream ? 1 : 0;
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = iov[i];
		msgs[i].msg_hdr.msg_iovlen = mfad_syslog_stream ? 3 : 2;
	}
	if (!mfad_syslog_stream) {
		do
			r = sendmmsg(mfad_syslog_fd, msgs, (unsigned)n,
			    MSG_NOSIGNAL);
		while (r < 0 && errno == EINTR);
		return r;
	}
	/* A blocking stream takes each line whole. */
	for (i = 0; i < n; i++) {
		do
			r = (int)sendmsg(mfad_syslog_fd, &msgs[i].msg_hdr,
			    MSG_NOSIGNAL);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return i > 0 ? (ssize_t)i : -1;
	}
	return (ssize_t)n;
}

void
mfad_syslog_send(const struct mfad_syslog_line *lines, size_t n)
{
	static char heads[MFAD_SYSLOG_BATCH][128];
	static struct mmsghdr msgs[MFAD_SYSLOG_BATCH];
	static struct iovec iov[MFAD_SYSLOG_BATCH][3];
	size_t i, done = 0;
	int retried = 0;
	ssize_t r;

	if (n > MFAD_SYSLOG_BATCH)
		n = MFAD_SYSLOG_BATCH;
	pthread_mutex_lock(&mfad_syslog_lock);
	for (i = 0; i < n; i++)
		mfad_syslog_head(heads[i], sizeof(heads[i]), lines[i].prio,
		    &lines[i].ts);
	while (done < n) {
		r = mfad_syslog_try(lines + done, n - done, heads + done,
		    msgs + done, iov + done);
		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EMSGSIZE) {
			/* Too long for the daemon: that line only. */
			done++;
			continue;
		}
		/* The daemon restarted, or is gone: one new connection, as
		 * glibc makes one for each line; failing that, the rest
		 * of the batch is dropped. */
		mfad_syslog_disconnect();
		if (retried++)
			break;
	}
	pthread_mutex_unlock(&mfad_syslog_lock);
}

void
mfad_syslog_close(void)
{
	pthread_mutex_lock(&mfad_syslog_lock);
	mfad_syslog_disconnect();
	pthread_mutex_unlock(&mfad_syslog_lock);
}
