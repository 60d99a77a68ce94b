/*
 * Unit tests for common/mss_buf.c (bounded buffers) and common/mss_io.c
 * (framing with deadlines). The framing tests talk over a real socketpair;
 * "the peer" is the other end, written to by hand.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include "mss_buf.h"
#include "mss_err.h"
#include "mss_io.h"
#include "mss_proto.h"

#define TEST_TIMEOUT_MS	200

/* An empty buffer's pointer is usable with a length of 0 (memchr and
 * memcpy are undefined on NULL even then). */
static void
test_buf_ptr_of_empty_is_not_null(void **state)
{
	struct mss_buf *b;

	(void)state;
	assert_non_null(b = mss_buf_new(10));
	assert_non_null(mss_buf_ptr(b));
	assert_null(memchr(mss_buf_ptr(b), 0, mss_buf_avail(b)));
	mss_buf_reset(b);
	assert_non_null(mss_buf_ptr(b));
	mss_buf_free(b);
}

/* A put that would cross the bound fails whole and leaves the buffer. */
static void
test_buf_put_past_max_is_toobig(void **state)
{
	struct mss_buf *b;
	unsigned char data[16];

	(void)state;
	memset(data, 'x', sizeof(data));
	assert_non_null(b = mss_buf_new(10));
	assert_int_equal(mss_buf_put(b, data, 8), 0);
	assert_int_equal(mss_buf_put(b, data, 3), MSS_ERR_TOOBIG);
	assert_int_equal(mss_buf_avail(b), 8);
	assert_int_equal(mss_buf_put_u32(b, 1), MSS_ERR_TOOBIG);
	assert_int_equal(mss_buf_put(b, data, 2), 0);
	assert_int_equal(mss_buf_avail(b), 10);
	assert_int_equal(mss_buf_put_u8(b, 1), MSS_ERR_TOOBIG);
	/* A length that would overflow len + n must not wrap around. */
	assert_int_equal(mss_buf_put(b, data, SIZE_MAX), MSS_ERR_TOOBIG);
	mss_buf_free(b);
}

static void
test_buf_put_str_past_max_is_toobig(void **state)
{
	struct mss_buf *b;

	(void)state;
	assert_non_null(b = mss_buf_new(8));
	/* 4 bytes of length + 5 bytes: one over the bound. */
	assert_int_equal(mss_buf_put_str(b, "hello"), MSS_ERR_TOOBIG);
	mss_buf_free(b);
}

static void
test_buf_get_past_end_is_proto(void **state)
{
	struct mss_buf *b;
	uint8_t v8;
	uint32_t v32;
	uint64_t v64;

	(void)state;
	assert_non_null(b = mss_buf_new(64));
	assert_int_equal(mss_buf_get_u8(b, &v8), MSS_ERR_PROTO);
	assert_int_equal(mss_buf_put(b, "abc", 3), 0);
	assert_int_equal(mss_buf_get_u32(b, &v32), MSS_ERR_PROTO);
	assert_int_equal(mss_buf_get_u64(b, &v64), MSS_ERR_PROTO);
	/* A short read consumes nothing. */
	assert_int_equal(mss_buf_avail(b), 3);
	assert_int_equal(mss_buf_get_u8(b, &v8), 0);
	assert_int_equal(v8, 'a');
	assert_int_equal(mss_buf_avail(b), 2);
	mss_buf_free(b);
}

static void
test_buf_u32_u64_round_trip(void **state)
{
	struct mss_buf *b;
	uint8_t v8;
	uint32_t v32;
	uint64_t v64;
	const unsigned char *p;

	(void)state;
	assert_non_null(b = mss_buf_new(64));
	assert_int_equal(mss_buf_put_u8(b, 0xa5), 0);
	assert_int_equal(mss_buf_put_u32(b, 0x01020304), 0);
	assert_int_equal(mss_buf_put_u32(b, UINT32_MAX), 0);
	assert_int_equal(mss_buf_put_u64(b, 0x1122334455667788ULL), 0);
	assert_int_equal(mss_buf_put_u64(b, 0), 0);
	assert_int_equal(mss_buf_avail(b), 1 + 4 + 4 + 8 + 8);
	/* Network byte order on the wire. */
	p = mss_buf_ptr(b);
	assert_int_equal(p[1], 0x01);
	assert_int_equal(p[4], 0x04);
	assert_int_equal(p[9], 0x11);
	assert_int_equal(p[16], 0x88);

	assert_int_equal(mss_buf_get_u8(b, &v8), 0);
	assert_int_equal(v8, 0xa5);
	assert_int_equal(mss_buf_get_u32(b, &v32), 0);
	assert_int_equal(v32, 0x01020304);
	assert_int_equal(mss_buf_get_u32(b, &v32), 0);
	assert_int_equal(v32, UINT32_MAX);
	assert_int_equal(mss_buf_get_u64(b, &v64), 0);
	assert_true(v64 == 0x1122334455667788ULL);
	assert_int_equal(mss_buf_get_u64(b, &v64), 0);
	assert_true(v64 == 0);
	assert_int_equal(mss_buf_end(b), 0);
	mss_buf_free(b);
}

static void
test_buf_str_round_trip(void **state)
{
	struct mss_buf *b;
	char *s = NULL;

	(void)state;
	assert_non_null(b = mss_buf_new(64));
	assert_int_equal(mss_buf_put_str(b, "alice@example.org"), 0);
	assert_int_equal(mss_buf_put_str(b, NULL), 0);
	assert_int_equal(mss_buf_get_str(b, &s, MSS_STR_MAX), 0);
	assert_string_equal(s, "alice@example.org");
	mss_str_free(s);
	assert_int_equal(mss_buf_get_str(b, &s, MSS_STR_MAX), 0);
	assert_string_equal(s, "");
	mss_str_free(s);
	assert_int_equal(mss_buf_end(b), 0);
	mss_buf_free(b);
}

/* An embedded NUL would let "alice\0evil" pass as "alice" in C. */
static void
test_buf_str_with_embedded_nul_rejected(void **state)
{
	struct mss_buf *b;
	char *s = (char *)1;

	(void)state;
	assert_non_null(b = mss_buf_new(64));
	assert_int_equal(mss_buf_put_u32(b, 5), 0);
	assert_int_equal(mss_buf_put(b, "ab\0cd", 5), 0);
	assert_int_equal(mss_buf_get_str(b, &s, MSS_STR_MAX), MSS_ERR_PROTO);
	assert_null(s);
	mss_buf_free(b);
}

static void
test_buf_str_over_maxlen_rejected(void **state)
{
	struct mss_buf *b;
	char *s = (char *)1;

	(void)state;
	assert_non_null(b = mss_buf_new(64));
	assert_int_equal(mss_buf_put_str(b, "0123456789"), 0);
	assert_int_equal(mss_buf_get_str(b, &s, 9), MSS_ERR_TOOBIG);
	assert_null(s);
	mss_buf_reset(b);
	/* Exactly maxlen is fine. */
	assert_int_equal(mss_buf_put_str(b, "0123456789"), 0);
	assert_int_equal(mss_buf_get_str(b, &s, 10), 0);
	assert_string_equal(s, "0123456789");
	mss_str_free(s);
	mss_buf_free(b);
}

/* A length field claiming more than what follows is malformed. */
static void
test_buf_str_length_past_data_rejected(void **state)
{
	struct mss_buf *b;
	char *s = (char *)1;

	(void)state;
	assert_non_null(b = mss_buf_new(64));
	assert_int_equal(mss_buf_put_u32(b, 20), 0);
	assert_int_equal(mss_buf_put(b, "short", 5), 0);
	assert_int_equal(mss_buf_get_str(b, &s, MSS_STR_MAX), MSS_ERR_PROTO);
	assert_null(s);
	mss_buf_free(b);
}

static void
test_buf_end_with_trailing_bytes_is_proto(void **state)
{
	struct mss_buf *b;
	uint32_t v;

	(void)state;
	assert_non_null(b = mss_buf_new(64));
	assert_int_equal(mss_buf_put_u32(b, 7), 0);
	assert_int_equal(mss_buf_put_u8(b, 0), 0);
	assert_int_equal(mss_buf_get_u32(b, &v), 0);
	assert_int_equal(mss_buf_end(b), MSS_ERR_PROTO);
	mss_buf_free(b);
}

static void
test_buf_reset_empties_and_keeps_bound(void **state)
{
	struct mss_buf *b;
	unsigned char data[32];

	(void)state;
	memset(data, 'y', sizeof(data));
	assert_non_null(b = mss_buf_new(32));
	assert_int_equal(mss_buf_put(b, data, 32), 0);
	mss_buf_reset(b);
	assert_int_equal(mss_buf_avail(b), 0);
	assert_int_equal(mss_buf_end(b), 0);
	assert_int_equal(mss_buf_put(b, data, 32), 0);
	assert_int_equal(mss_buf_put_u8(b, 0), MSS_ERR_TOOBIG);
	mss_buf_free(b);
}

static void
test_buf_free_null_is_harmless(void **state)
{
	(void)state;
	mss_buf_free(NULL);
	mss_str_free(NULL);
	assert_null(mss_strdup(NULL));
}

/* Framing over a socketpair: fds[0] is ours, fds[1] plays the peer. */
static int
sp_setup(void **state)
{
	static int fds[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
		return -1;
	*state = fds;
	return 0;
}

static int
sp_teardown(void **state)
{
	int *fds = *state;

	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	return 0;
}

static void
put_header(unsigned char *hdr, uint32_t n, uint8_t version, uint8_t type)
{
	hdr[0] = n >> 24;
	hdr[1] = n >> 16;
	hdr[2] = n >> 8;
	hdr[3] = n;
	hdr[4] = version;
	hdr[5] = type;
}

static void
test_io_msg_round_trip(void **state)
{
	int *fds = *state;
	struct mss_buf *out, *in;
	uint8_t type = 0;
	uint32_t v;
	char *s = NULL;

	assert_non_null(out = mss_buf_new(MSS_MSG_MAX));
	assert_non_null(in = mss_buf_new(MSS_MSG_MAX));
	assert_int_equal(mss_buf_put_str(out, "login-id"), 0);
	assert_int_equal(mss_buf_put_u32(out, 42), 0);
	assert_int_equal(mss_msg_send(fds[1], MSS_REQ_CODE, out,
	    TEST_TIMEOUT_MS), 0);
	assert_int_equal(mss_msg_recv(fds[0], &type, in, TEST_TIMEOUT_MS), 0);
	assert_int_equal(type, MSS_REQ_CODE);
	assert_int_equal(mss_buf_get_str(in, &s, MSS_STR_MAX), 0);
	assert_string_equal(s, "login-id");
	mss_str_free(s);
	assert_int_equal(mss_buf_get_u32(in, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(mss_buf_end(in), 0);

	/* An empty payload travels as a bare header. */
	assert_int_equal(mss_msg_send(fds[1], MSS_REQ_STATUS, NULL,
	    TEST_TIMEOUT_MS), 0);
	assert_int_equal(mss_msg_recv(fds[0], &type, in, TEST_TIMEOUT_MS), 0);
	assert_int_equal(type, MSS_REQ_STATUS);
	assert_int_equal(mss_buf_avail(in), 0);
	mss_buf_free(out);
	mss_buf_free(in);
}

static void
test_io_truncated_frame_is_eof(void **state)
{
	int *fds = *state;
	struct mss_buf *in;
	unsigned char hdr[MSS_FRAME_HDR];
	uint8_t type;

	assert_non_null(in = mss_buf_new(MSS_MSG_MAX));
	/* Announces 100 bytes, sends 10, hangs up. */
	put_header(hdr, 2 + 100, MSS_PROTO_VERSION, MSS_REQ_CODE);
	assert_int_equal(write(fds[1], hdr, sizeof(hdr)), sizeof(hdr));
	assert_int_equal(write(fds[1], "0123456789", 10), 10);
	close(fds[1]);
	fds[1] = -1;
	assert_int_equal(mss_msg_recv(fds[0], &type, in, TEST_TIMEOUT_MS),
	    MSS_ERR_EOF);
	mss_buf_free(in);
}

static void
test_io_truncated_header_is_eof(void **state)
{
	int *fds = *state;
	struct mss_buf *in;
	uint8_t type;

	assert_non_null(in = mss_buf_new(MSS_MSG_MAX));
	assert_int_equal(write(fds[1], "\0\0", 2), 2);
	close(fds[1]);
	fds[1] = -1;
	assert_int_equal(mss_msg_recv(fds[0], &type, in, TEST_TIMEOUT_MS),
	    MSS_ERR_EOF);
	mss_buf_free(in);
}

/*
 * A header announcing 4 GiB must be refused from the header alone: no body
 * is ever sent, so a receiver that tried to read it would time out
 * instead, and one that allocated first would have grown the buffer.
 */
static void
test_io_oversized_length_is_toobig_before_body(void **state)
{
	int *fds = *state;
	struct mss_buf *in;
	unsigned char hdr[MSS_FRAME_HDR];
	uint8_t type;

	assert_non_null(in = mss_buf_new(MSS_MSG_MAX));
	put_header(hdr, UINT32_MAX, MSS_PROTO_VERSION, MSS_REQ_CODE);
	assert_int_equal(write(fds[1], hdr, sizeof(hdr)), sizeof(hdr));
	assert_int_equal(mss_msg_recv(fds[0], &type, in, TEST_TIMEOUT_MS),
	    MSS_ERR_TOOBIG);
	assert_null(in->data);

	/* One byte over the bound is enough. */
	put_header(hdr, 2 + MSS_MSG_MAX + 1, MSS_PROTO_VERSION, MSS_REQ_CODE);
	assert_int_equal(write(fds[1], hdr, sizeof(hdr)), sizeof(hdr));
	assert_int_equal(mss_msg_recv(fds[0], &type, in, TEST_TIMEOUT_MS),
	    MSS_ERR_TOOBIG);
	assert_null(in->data);
	mss_buf_free(in);
}

/* A payload within MSS_MSG_MAX but over the receiving buffer's bound. */
static void
test_io_frame_over_buffer_bound_is_toobig(void **state)
{
	int *fds = *state;
	struct mss_buf *in;
	unsigned char hdr[MSS_FRAME_HDR];
	uint8_t type;

	assert_non_null(in = mss_buf_new(16));
	put_header(hdr, 2 + 17, MSS_PROTO_VERSION, MSS_REQ_CODE);
	assert_int_equal(write(fds[1], hdr, sizeof(hdr)), sizeof(hdr));
	assert_int_equal(mss_msg_recv(fds[0], &type, in, TEST_TIMEOUT_MS),
	    MSS_ERR_TOOBIG);
	mss_buf_free(in);
}

static void
test_io_bad_version_is_proto(void **state)
{
	int *fds = *state;
	struct mss_buf *in;
	unsigned char hdr[MSS_FRAME_HDR];
	uint8_t type;

	assert_non_null(in = mss_buf_new(MSS_MSG_MAX));
	put_header(hdr, 2, MSS_PROTO_VERSION + 1, MSS_REQ_STATUS);
	assert_int_equal(write(fds[1], hdr, sizeof(hdr)), sizeof(hdr));
	assert_int_equal(mss_msg_recv(fds[0], &type, in, TEST_TIMEOUT_MS),
	    MSS_ERR_PROTO);

	/* A length too short to hold version and type is malformed too. */
	put_header(hdr, 1, MSS_PROTO_VERSION, MSS_REQ_STATUS);
	assert_int_equal(write(fds[1], hdr, sizeof(hdr)), sizeof(hdr));
	assert_int_equal(mss_msg_recv(fds[0], &type, in, TEST_TIMEOUT_MS),
	    MSS_ERR_PROTO);
	mss_buf_free(in);
}

static void
test_io_frame_header_helpers_agree(void **state)
{
	unsigned char hdr[MSS_FRAME_HDR];
	uint8_t type = 0;
	uint32_t len = 0;

	(void)state;
	mss_frame_put_header(hdr, MSS_REP_AUTH, 1234);
	assert_int_equal(mss_frame_header(hdr, &type, &len), 0);
	assert_int_equal(type, MSS_REP_AUTH);
	assert_int_equal(len, 1234);
	mss_frame_put_header(hdr, MSS_REP_AUTH, MSS_MSG_MAX);
	assert_int_equal(mss_frame_header(hdr, &type, &len), 0);
	mss_frame_put_header(hdr, MSS_REP_AUTH, MSS_MSG_MAX + 1);
	assert_int_equal(mss_frame_header(hdr, &type, &len), MSS_ERR_TOOBIG);
}

/* A peer that sends half a frame then stalls: the deadline ends the wait. */
static void
test_io_stalled_peer_times_out(void **state)
{
	int *fds = *state;
	struct mss_buf *in;
	unsigned char hdr[MSS_FRAME_HDR];
	uint8_t type;

	assert_non_null(in = mss_buf_new(MSS_MSG_MAX));
	put_header(hdr, 2 + 10, MSS_PROTO_VERSION, MSS_REQ_CODE);
	assert_int_equal(write(fds[1], hdr, sizeof(hdr)), sizeof(hdr));
	assert_int_equal(write(fds[1], "01234", 5), 5);
	assert_int_equal(mss_msg_recv(fds[0], &type, in, TEST_TIMEOUT_MS),
	    MSS_ERR_TIMEOUT);
	mss_buf_free(in);
}

static void
test_io_silent_peer_times_out(void **state)
{
	int *fds = *state;
	struct mss_buf *in;
	uint8_t type;

	assert_non_null(in = mss_buf_new(MSS_MSG_MAX));
	assert_int_equal(mss_msg_recv(fds[0], &type, in, TEST_TIMEOUT_MS),
	    MSS_ERR_TIMEOUT);
	mss_buf_free(in);
}

/* A peer that never reads: the sender gives up once the socket fills. */
static void
test_io_send_to_stalled_reader_times_out(void **state)
{
	int *fds = *state;
	struct mss_buf *out;
	unsigned char chunk[4096];
	size_t i;
	int r = 0;

	memset(chunk, 'z', sizeof(chunk));
	assert_non_null(out = mss_buf_new(MSS_MSG_MAX));
	for (i = 0; i + sizeof(chunk) <= MSS_MSG_MAX; i += sizeof(chunk))
		assert_int_equal(mss_buf_put(out, chunk, sizeof(chunk)), 0);
	/* Enough whole frames to fill any socket buffer. */
	for (i = 0; i < 1000 && r == 0; i++)
		r = mss_msg_send(fds[0], MSS_REP_RESULT, out,
		    TEST_TIMEOUT_MS);
	assert_int_equal(r, MSS_ERR_TIMEOUT);
	mss_buf_free(out);
}

static void
test_io_send_over_max_is_toobig(void **state)
{
	int *fds = *state;
	struct mss_buf *out;
	unsigned char chunk[1024];
	size_t i;

	memset(chunk, 'w', sizeof(chunk));
	assert_non_null(out = mss_buf_new(2 * MSS_MSG_MAX));
	for (i = 0; i <= MSS_MSG_MAX; i += sizeof(chunk))
		assert_int_equal(mss_buf_put(out, chunk, sizeof(chunk)), 0);
	assert_int_equal(mss_msg_send(fds[0], MSS_REP_RESULT, out,
	    TEST_TIMEOUT_MS), MSS_ERR_TOOBIG);
	mss_buf_free(out);
}

/* Writes the frame in p in three pieces 20 ms apart, from a child. */
static void
write_in_pieces(int fd, const unsigned char *p, size_t n, size_t cut1,
    size_t cut2)
{
	pid_t pid;

	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		if (write(fd, p, cut1) != (ssize_t)cut1)
			_exit(1);
		usleep(20000);
		if (write(fd, p + cut1, cut2 - cut1) != (ssize_t)(cut2 - cut1))
			_exit(1);
		usleep(20000);
		_exit(write(fd, p + cut2, n - cut2) == (ssize_t)(n - cut2) ?
		    0 : 1);
	}
	/* The parent reads meanwhile, then waits for the child. */
}

/*
 * mss_msg_recv_last: a reply, the last frame of its connection. It is
 * read whole whether it comes at once, with bytes after it (read and
 * dropped), larger than what is read with the header, or in pieces (the
 * header cut in two, part of the payload with it).
 */
static void
test_io_recv_last_reads_a_reply_in_any_shape(void **state)
{
	int *fds = *state;
	struct mss_buf *out, *in;
	unsigned char frame[MSS_FRAME_HDR + 3 * MSS_READ_AHEAD], junk[8];
	size_t len, i;
	uint8_t type = 0;
	int st;

	assert_non_null(out = mss_buf_new(MSS_MSG_MAX));
	assert_non_null(in = mss_buf_new(MSS_MSG_MAX));
	for (i = 0; i < 3 * MSS_READ_AHEAD; i++)
		frame[MSS_FRAME_HDR + i] = (unsigned char)(i * 7 + 1);

	/* Small, then followed by bytes that must not stay in the socket. */
	assert_int_equal(mss_buf_put_str(out, "login-id"), 0);
	assert_int_equal(mss_msg_send(fds[1], MSS_REP_AUTH, out,
	    TEST_TIMEOUT_MS), 0);
	assert_int_equal(write(fds[1], "more", 4), 4);
	assert_int_equal(mss_msg_recv_last(fds[0], &type, in,
	    TEST_TIMEOUT_MS), 0);
	assert_int_equal(type, MSS_REP_AUTH);
	assert_int_equal(mss_buf_avail(in), mss_buf_avail(out));
	assert_memory_equal(mss_buf_ptr(in), mss_buf_ptr(out),
	    mss_buf_avail(out));
	assert_int_equal(recv(fds[0], junk, sizeof(junk), MSG_DONTWAIT), -1);

	/* Three times what is read with the header. */
	len = sizeof(frame);
	mss_frame_put_header(frame, MSS_REP_RESULT, len - MSS_FRAME_HDR);
	assert_int_equal(write(fds[1], frame, len), (ssize_t)len);
	assert_int_equal(mss_msg_recv_last(fds[0], &type, in,
	    TEST_TIMEOUT_MS), 0);
	assert_int_equal(type, MSS_REP_RESULT);
	assert_int_equal(mss_buf_avail(in), len - MSS_FRAME_HDR);
	assert_memory_equal(mss_buf_ptr(in), frame + MSS_FRAME_HDR,
	    len - MSS_FRAME_HDR);

	/* In pieces: the header cut after 3 bytes, then 5 payload bytes
	 * with its rest. */
	len = MSS_FRAME_HDR + 100;
	mss_frame_put_header(frame, MSS_REP_RESULT, 100);
	write_in_pieces(fds[1], frame, len, 3, MSS_FRAME_HDR + 5);
	assert_int_equal(mss_msg_recv_last(fds[0], &type, in,
	    TEST_TIMEOUT_MS), 0);
	assert_true(wait(&st) > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(mss_buf_avail(in), 100);
	assert_memory_equal(mss_buf_ptr(in), frame + MSS_FRAME_HDR, 100);

	mss_buf_free(out);
	mss_buf_free(in);
}

/* mss_msg_recv_last fails as mss_msg_recv does: a silent peer times out,
 * a truncated frame or a hang-up before any byte is EOF. */
static void
test_io_recv_last_failures(void **state)
{
	int *fds = *state;
	struct mss_buf *in;
	unsigned char hdr[MSS_FRAME_HDR];
	uint8_t type;

	assert_non_null(in = mss_buf_new(16));
	assert_int_equal(mss_msg_recv_last(fds[0], &type, in,
	    TEST_TIMEOUT_MS), MSS_ERR_TIMEOUT);
	/* Over the buffer's bound: refused from the header. */
	put_header(hdr, 2 + 17, MSS_PROTO_VERSION, MSS_REQ_CODE);
	assert_int_equal(write(fds[1], hdr, sizeof(hdr)), sizeof(hdr));
	assert_int_equal(mss_msg_recv_last(fds[0], &type, in,
	    TEST_TIMEOUT_MS), MSS_ERR_TOOBIG);
	put_header(hdr, 2 + 10, MSS_PROTO_VERSION, MSS_REQ_CODE);
	assert_int_equal(write(fds[1], hdr, sizeof(hdr)), sizeof(hdr));
	assert_int_equal(write(fds[1], "01234", 5), 5);
	assert_int_equal(mss_msg_recv_last(fds[0], &type, in,
	    TEST_TIMEOUT_MS), MSS_ERR_TIMEOUT);
	close(fds[1]);
	fds[1] = -1;
	assert_int_equal(mss_msg_recv_last(fds[0], &type, in,
	    TEST_TIMEOUT_MS), MSS_ERR_EOF);
	mss_buf_free(in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_put_past_max_is_toobig),
		cmocka_unit_test(test_buf_ptr_of_empty_is_not_null),
		cmocka_unit_test(test_buf_put_str_past_max_is_toobig),
		cmocka_unit_test(test_buf_get_past_end_is_proto),
		cmocka_unit_test(test_buf_u32_u64_round_trip),
		cmocka_unit_test(test_buf_str_round_trip),
		cmocka_unit_test(test_buf_str_with_embedded_nul_rejected),
		cmocka_unit_test(test_buf_str_over_maxlen_rejected),
		cmocka_unit_test(test_buf_str_length_past_data_rejected),
		cmocka_unit_test(test_buf_end_with_trailing_bytes_is_proto),
		cmocka_unit_test(test_buf_reset_empties_and_keeps_bound),
		cmocka_unit_test(test_buf_free_null_is_harmless),
		cmocka_unit_test(test_io_frame_header_helpers_agree),
		cmocka_unit_test_setup_teardown(test_io_msg_round_trip,
		    sp_setup, sp_teardown),
		cmocka_unit_test_setup_teardown(test_io_truncated_frame_is_eof,
		    sp_setup, sp_teardown),
		cmocka_unit_test_setup_teardown(
		    test_io_truncated_header_is_eof, sp_setup, sp_teardown),
		cmocka_unit_test_setup_teardown(
		    test_io_oversized_length_is_toobig_before_body,
		    sp_setup, sp_teardown),
		cmocka_unit_test_setup_teardown(
		    test_io_frame_over_buffer_bound_is_toobig,
		    sp_setup, sp_teardown),
		cmocka_unit_test_setup_teardown(test_io_bad_version_is_proto,
		    sp_setup, sp_teardown),
		cmocka_unit_test_setup_teardown(test_io_stalled_peer_times_out,
		    sp_setup, sp_teardown),
		cmocka_unit_test_setup_teardown(test_io_silent_peer_times_out,
		    sp_setup, sp_teardown),
		cmocka_unit_test_setup_teardown(
		    test_io_send_to_stalled_reader_times_out,
		    sp_setup, sp_teardown),
		cmocka_unit_test_setup_teardown(
		    test_io_send_over_max_is_toobig, sp_setup, sp_teardown),
		cmocka_unit_test_setup_teardown(
		    test_io_recv_last_reads_a_reply_in_any_shape,
		    sp_setup, sp_teardown),
		cmocka_unit_test_setup_teardown(test_io_recv_last_failures,
		    sp_setup, sp_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
