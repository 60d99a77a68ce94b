/*
 * The frame reader of both ends (mss_msg_recv on a socket, with its
 * header check) and the strict field readers of mss_buf that every
 * request and reply parser is built from. The input is what arrives on
 * the socket; each frame's payload is then read as a little program:
 * a byte picks the next field to read (u8, u32, u64, a string of a
 * bounded length, or the end check).
 */
#include "config.h"

#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mss_buf.h"
#include "mss_err.h"
#include "mss_io.h"
#include "mss_proto.h"
#include "fuzz_common.h"

#define FUZZ_WIRE_MAX	(2 * (MSS_FRAME_HDR + MSS_MSG_MAX))

static void
fields(struct mss_buf *b)
{
	struct mss_buf prog;
	uint8_t op, u8;
	uint32_t u32;
	uint64_t u64;
	char *s;
	size_t before;
	int r;

	/* The payload is also the program: read ops from a copy. */
	memset(&prog, 0, sizeof(prog));
	prog.data = (unsigned char *)mss_buf_ptr(b);
	prog.len = prog.cap = prog.max = mss_buf_avail(b);
	while (mss_buf_get_u8(&prog, &op) == 0) {
		before = mss_buf_avail(b);
		switch (op % 5) {
		case 0:
			r = mss_buf_get_u8(b, &u8);
			FUZZ_CHECK(r != 0 || mss_buf_avail(b) == before - 1);
			break;
		case 1:
			r = mss_buf_get_u32(b, &u32);
			FUZZ_CHECK(r != 0 || mss_buf_avail(b) == before - 4);
			break;
		case 2:
			r = mss_buf_get_u64(b, &u64);
			FUZZ_CHECK(r != 0 || mss_buf_avail(b) == before - 8);
			break;
		case 3:
			s = NULL;
			r = mss_buf_get_str(b, &s, (size_t)op * 8);
			if (r == 0) {
				FUZZ_CHECK(s != NULL);
				FUZZ_CHECK(strlen(s) <= (size_t)op * 8);
				FUZZ_CHECK(mss_buf_avail(b) ==
				    before - 4 - strlen(s));
			} else
				FUZZ_CHECK(s == NULL);
			mss_str_free(s);
			break;
		default:
			r = mss_buf_end(b);
			FUZZ_CHECK((r == 0) == (before == 0));
			break;
		}
		FUZZ_CHECK(r == 0 || r == MSS_ERR_PROTO ||
		    r == MSS_ERR_TOOBIG);
		if (r != 0)
			break;	/* as every parser stops at its first error */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mss_buf *payload;
	uint32_t len;
	uint8_t type;
	int sv[2], big = 4 * FUZZ_WIRE_MAX, r, n;

	if (size > FUZZ_WIRE_MAX)
		size = FUZZ_WIRE_MAX;
	if (size >= MSS_FRAME_HDR &&
	    mss_frame_header(data, &type, &len) == 0)
		FUZZ_CHECK(len <= MSS_MSG_MAX);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		abort();
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	(void)setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (size > 0 && write(sv[0], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[0], SHUT_WR);
	if ((payload = mss_buf_new(MSS_MSG_MAX)) == NULL)
		abort();
	/* Frames until the data ends or one is refused. */
	for (n = 0; n < 64; n++) {
		r = mss_msg_recv(sv[1], &type, payload, 1000);
		if (r != 0) {
			FUZZ_CHECK(r == MSS_ERR_PROTO || r == MSS_ERR_TOOBIG ||
			    r == MSS_ERR_EOF || r == MSS_ERR_SYSTEM ||
			    r == MSS_ERR_TIMEOUT);
			break;
		}
		FUZZ_CHECK(mss_buf_avail(payload) <= MSS_MSG_MAX);
		fields(payload);
	}
	mss_buf_free(payload);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
