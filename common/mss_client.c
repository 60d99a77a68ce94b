#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mss_client.h"
#include "mss_err.h"
#include "mss_io.h"

/*
 * One directory on the way to the socket: a real directory (lstat: a
 * symbolic link is refused, not followed), root's or owner's, and
 * writable by nobody else. A root-owned sticky directory (/tmp) may be
 * writable by all when it is not the socket's own directory: there
 * nobody but root may rename or remove the entry below it, whose owner
 * and mode are checked in turn, so the path cannot be redirected.
 */
static int MSS_WUR
mss_client_check_dir(const char *dir, int last, uid_t owner, char *why,
    size_t whylen)
{
	struct stat st;

	if (lstat(dir, &st) != 0) {
		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		return MSS_ERR_UNAVAIL;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(why, whylen, "%s is a symbolic link", dir);
		return MSS_ERR_PEER;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, "%s is not a directory", dir);
		return MSS_ERR_PEER;
	}
	if (st.st_uid != 0 && st.st_uid != owner) {
		snprintf(why, whylen, "%s is owned by uid %u, not by root%s",
		    dir, (unsigned)st.st_uid, owner != 0 ?
		    " or the socket owner" : "");
		return MSS_ERR_PEER;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
	    (last || st.st_uid != 0 || (st.st_mode & S_ISVTX) == 0)) {
		snprintf(why, whylen, "%s is writable by group or others",
		    dir);
		return MSS_ERR_PEER;
	}
	return 0;
}

static long long
mss_client_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
mss_client_check_path(const char *path, uid_t owner, char *why,
    size_t whylen)
{
	char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;
	size_t len, i, last;
	int r;

	len = strlen(path);
	if (len >= sizeof(buf) || path[0] != '/') {
		snprintf(why, whylen, "not an absolute path shorter than %zu "
		    "bytes", sizeof(buf));
		return MSS_ERR_INVAL;
	}
	memcpy(buf, path, len + 1);
	/* Canonical only: no empty, "." or ".." component, as the checks
	 * below must see every directory the kernel will walk through. */
	for (i = 0, last = 0; i < len; i++) {
		if (buf[i] != '/')
			continue;
		if (buf[i + 1] == '/' || buf[i + 1] == '\0' ||
		    (buf[i + 1] == '.' && (buf[i + 2] == '/' ||
		    buf[i + 2] == '\0' || (buf[i + 2] == '.' &&
		    (buf[i + 3] == '/' || buf[i + 3] == '\0'))))) {
			snprintf(why, whylen, "not a canonical path");
			return MSS_ERR_INVAL;
		}
		last = i;
	}
	/* Every directory from "/" down to the socket's own. */
	for (i = 0; i <= last; i++) {
		if (buf[i] != '/')
			continue;
		if (i == 0)
			r = mss_client_check_dir("/", last == 0, owner, why,
			    whylen);
		else {
			buf[i] = '\0';
			r = mss_client_check_dir(buf, i == last, owner, why,
			    whylen);
			buf[i] = '/';
		}
		if (r != 0)
			return r;
	}
	if (lstat(path, &st) != 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return MSS_ERR_UNAVAIL;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(why, whylen, "%s is not a socket", path);
		return MSS_ERR_PEER;
	}
	if (st.st_uid != 0 && st.st_uid != owner) {
		snprintf(why, whylen, "%s is owned by uid %u, not by root%s",
		    path, (unsigned)st.st_uid, owner != 0 ?
		    " or the socket owner" : "");
		return MSS_ERR_PEER;
	}
	return 0;
}

int
mss_client_connect(const char *path, uid_t owner, int timeout_ms, int *fdp)
{
	struct sockaddr_un sun;
	struct timeval tv;
	struct ucred cred;
	socklen_t len;
	long long deadline, left;
	char why[256];
	int fd, nfd, r;

	*fdp = -1;
	if ((r = mss_client_check_path(path, owner, why, sizeof(why))) != 0)
		return r;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return MSS_ERR_SYSTEM;
	/* Keep clear of 0-2: a caller with closed stdio must not see us. */
	if (fd <= 2) {
		nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		close(fd);
		if ((fd = nfd) < 0)
			return MSS_ERR_SYSTEM;
	}
	/*
	 * A Unix socket's non-blocking connect fails at once (EAGAIN) while
	 * mfad's listen queue is full, as a flood of connections by another
	 * local user keeps it: a blocking connect with a send timeout waits
	 * in the kernel for room instead, up to timeout_ms.
	 */
	deadline = mss_client_mono_ms() + (timeout_ms > 0 ? timeout_ms : 1);
	for (;;) {
		left = deadline - mss_client_mono_ms();
		if (left <= 0) {
			r = MSS_ERR_TIMEOUT;
			goto fail;
		}
		tv.tv_sec = (time_t)(left / 1000);
		tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
		    sizeof(tv)) != 0) {
			r = MSS_ERR_SYSTEM;
			goto fail;
		}
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		if (errno == EINTR)
			continue;
		r = errno == EAGAIN || errno == EINPROGRESS ?
		    MSS_ERR_TIMEOUT : MSS_ERR_UNAVAIL;
		goto fail;
	}
	/* No O_NONBLOCK needed: mss_io sends and receives with
	 * MSG_DONTWAIT and polls against its deadline. */
	len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
	    len != sizeof(cred)) {
		r = MSS_ERR_SYSTEM;
		goto fail;
	}
	if (cred.uid != 0 && cred.uid != owner) {
		r = MSS_ERR_PEER;
		goto fail;
	}
	*fdp = fd;
	return 0;
fail:
	close(fd);
	return r;
}

int
mss_client_call(const char *path, uid_t owner, uint8_t type,
    const struct mss_buf *req, uint8_t *rtype, struct mss_buf *rep,
    int timeout_ms)
{
	return mss_client_call_fds(path, owner, type, req, NULL, 0, rtype, rep,
	    timeout_ms);
}

int
mss_client_call_fds(const char *path, uid_t owner, uint8_t type,
    const struct mss_buf *req, const int *fds, int nfds, uint8_t *rtype,
    struct mss_buf *rep, int timeout_ms)
{
	int fd, r;

	if ((r = mss_client_connect(path, owner, timeout_ms, &fd)) != 0)
		return r;
	if ((r = mss_msg_send_fds(fd, type, req, fds, nfds, timeout_ms)) == 0)
		r = mss_msg_recv_last(fd, rtype, rep, timeout_ms);
	close(fd);
	/* A daemon that hangs up without answering is as good as down. */
	if (r == MSS_ERR_EOF)
		r = MSS_ERR_UNAVAIL;
	return r;
}
