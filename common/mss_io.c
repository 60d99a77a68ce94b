#include "config.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mss_buf.h"
#include "mss_err.h"
#include "mss_io.h"
#include "mss_proto.h"

static long long
mss_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events, or the deadline passes. */
static int MSS_WUR
mss_wait(int fd, short events, long long deadline)
{
	struct pollfd pfd;
	long long left;
	int n;

	for (;;) {
		left = deadline - mss_now_ms();
		if (left <= 0)
			return MSS_ERR_TIMEOUT;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return MSS_ERR_SYSTEM;
		if (n > 0)
			return 0;
	}
}

/*
 * Sends the bytes of iov (n entries, consumed as they go) in as few
 * calls as the socket takes: header and payload leave together, so that
 * the peer wakes once for a request. Waits only when the socket is full.
 */
static int MSS_WUR
mss_writev_all(int fd, struct iovec *iov, int n, long long deadline)
{
	struct msghdr msg;
	ssize_t w;
	size_t k;
	int r;

	while (n > 0 && iov[0].iov_len == 0) {
		iov++;
		n--;
	}
	while (n > 0) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)n;
		w = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			if ((r = mss_wait(fd, POLLOUT, deadline)) != 0)
				return r;
			continue;
		}
		if (w < 0)
			return errno == EPIPE ? MSS_ERR_EOF : MSS_ERR_SYSTEM;
		for (k = (size_t)w; n > 0 && k >= iov[0].iov_len; n--, iov++)
			k -= iov[0].iov_len;
		if (n > 0) {
			iov[0].iov_base = (unsigned char *)iov[0].iov_base + k;
			iov[0].iov_len -= k;
		}
	}
	return 0;
}

/* Reads n bytes; waits only when none are there yet. */
static int MSS_WUR
mss_read_all(int fd, unsigned char *p, size_t n, long long deadline)
{
	ssize_t got;
	int r;

	while (n > 0) {
		got = recv(fd, p, n, MSG_DONTWAIT);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && errno == EAGAIN) {
			if ((r = mss_wait(fd, POLLIN, deadline)) != 0)
				return r;
			continue;
		}
		if (got < 0)
			return MSS_ERR_SYSTEM;
		if (got == 0)
			return MSS_ERR_EOF;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

void
mss_frame_put_header(unsigned char *hdr, uint8_t type, uint32_t len)
{
	uint32_t n = len + 2;

	hdr[0] = n >> 24;
	hdr[1] = n >> 16;
	hdr[2] = n >> 8;
	hdr[3] = n;
	hdr[4] = MSS_PROTO_VERSION;
	hdr[5] = type;
}

int
mss_frame_header(const unsigned char *hdr, uint8_t *type, uint32_t *len)
{
	uint32_t n;

	n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	if (n < 2)
		return MSS_ERR_PROTO;
	if (n - 2 > MSS_MSG_MAX)
		return MSS_ERR_TOOBIG;
	if (hdr[4] != MSS_PROTO_VERSION)
		return MSS_ERR_PROTO;
	*type = hdr[5];
	*len = n - 2;
	return 0;
}

/* Sends the first bytes of p with the descriptors; *sent gets how many
 * bytes went (at least one). */
static int MSS_WUR
mss_send_fds(int fd, const unsigned char *p, size_t n, const int *fds,
    int nfds, long long deadline, size_t *sent)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 8)];
	} cbuf;
	struct msghdr msg;
	struct cmsghdr *cm;
	struct iovec iov;
	ssize_t w;
	int r;

	if (nfds <= 0 || nfds > 8)
		return MSS_ERR_INVAL;
	memset(&cbuf, 0, sizeof(cbuf));
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)p;
	iov.iov_len = n;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	for (;;) {
		if ((r = mss_wait(fd, POLLOUT, deadline)) != 0)
			return r;
		w = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return w < 0 && errno == EPIPE ? MSS_ERR_EOF :
			    MSS_ERR_SYSTEM;
		*sent = (size_t)w;
		return 0;
	}
}

int
mss_msg_send(int fd, uint8_t type, const struct mss_buf *payload,
    int timeout_ms)
{
	return mss_msg_send_fds(fd, type, payload, NULL, 0, timeout_ms);
}

int
mss_msg_send_fds(int fd, uint8_t type, const struct mss_buf *payload,
    const int *fds, int nfds, int timeout_ms)
{
	long long deadline = mss_now_ms() + timeout_ms;
	unsigned char hdr[MSS_FRAME_HDR];
	size_t n = payload == NULL ? 0 : mss_buf_avail(payload), sent = 0;
	struct iovec iov[2];
	int r;

	if (n > MSS_MSG_MAX)
		return MSS_ERR_TOOBIG;
	mss_frame_put_header(hdr, type, (uint32_t)n);
	if (nfds > 0 && (r = mss_send_fds(fd, hdr, sizeof(hdr), fds, nfds,
	    deadline, &sent)) != 0)
		return r;
	iov[0].iov_base = hdr + sent;
	iov[0].iov_len = sizeof(hdr) - sent;
	iov[1].iov_base = n > 0 ? (void *)mss_buf_ptr(payload) : NULL;
	iov[1].iov_len = n;
	return mss_writev_all(fd, iov, 2, deadline);
}

/*
 * Reads one frame. With last, the peer sends nothing after it (a reply:
 * one request per connection), so the frame is awaited first and then
 * read with the header in one call, bytes past it dropped; without, no
 * byte past the frame is read.
 */
static int MSS_WUR
mss_msg_read(int fd, uint8_t *type, struct mss_buf *payload, int timeout_ms,
    int last)
{
	long long deadline = mss_now_ms() + timeout_ms;
	unsigned char hdr[MSS_FRAME_HDR], ahead[MSS_READ_AHEAD], *p;
	struct iovec iov[2];
	struct msghdr msg;
	size_t have = 0, got = 0, inahead = 0;
	ssize_t w;
	uint32_t n;
	int r;

	mss_buf_reset(payload);
	if (last) {
		if ((r = mss_wait(fd, POLLIN, deadline)) != 0)
			return r;
		memset(&msg, 0, sizeof(msg));
		iov[0].iov_base = hdr;
		iov[0].iov_len = sizeof(hdr);
		iov[1].iov_base = ahead;
		iov[1].iov_len = sizeof(ahead);
		msg.msg_iov = iov;
		msg.msg_iovlen = 2;
		do
			w = recvmsg(fd, &msg, MSG_DONTWAIT);
		while (w < 0 && errno == EINTR);
		if (w == 0)
			return MSS_ERR_EOF;
		if (w < 0 && errno != EAGAIN)
			return MSS_ERR_SYSTEM;
		if (w > 0) {
			have = (size_t)w < sizeof(hdr) ? (size_t)w :
			    sizeof(hdr);
			got = inahead = (size_t)w - have;
		}
	}
	if ((r = mss_read_all(fd, hdr + have, sizeof(hdr) - have,
	    deadline)) != 0)
		goto out;
	if ((r = mss_frame_header(hdr, type, &n)) != 0 || n == 0)
		goto out;
	if ((p = mss_buf_reserve(payload, n)) == NULL) {
		r = MSS_ERR_TOOBIG;
		goto out;
	}
	if (got > n)
		got = n;
	memcpy(p, ahead, got);
	if ((r = mss_read_all(fd, p + got, n - got, deadline)) != 0)
		goto out;
	mss_buf_commit(payload, n);
out:
	mss_wipe(ahead, inahead);
	return r;
}

int
mss_msg_recv(int fd, uint8_t *type, struct mss_buf *payload, int timeout_ms)
{
	return mss_msg_read(fd, type, payload, timeout_ms, 0);
}

int
mss_msg_recv_last(int fd, uint8_t *type, struct mss_buf *payload,
    int timeout_ms)
{
	return mss_msg_read(fd, type, payload, timeout_ms, 1);
}
