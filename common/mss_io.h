/*
 * Framing with deadlines (blocking sockets, poll-bounded).
 *
 * mss_msg_send writes one frame; mss_msg_recv reads one, checking the
 * length against MSS_MSG_MAX before allocating anything. Both give up
 * with MSS_ERR_TIMEOUT once timeout_ms has passed in total.
 */
#ifndef MSS_IO_H
#define MSS_IO_H

#include <stdint.h>

#include "mss_buf.h"
#include "mss_err.h"

int mss_msg_send(int fd, uint8_t type, const struct mss_buf *payload,
    int timeout_ms) MSS_WUR;
/* The same, with nfds descriptors (SCM_RIGHTS) sent with the frame's
 * first byte; the caller keeps and closes its own copies. */
int mss_msg_send_fds(int fd, uint8_t type, const struct mss_buf *payload,
    const int *fds, int nfds, int timeout_ms)
    MSS_WUR;
/* Reads a frame into payload (reset first); *type gets its type. */
int mss_msg_recv(int fd, uint8_t *type, struct mss_buf *payload,
    int timeout_ms) MSS_WUR;
/* The same for the last frame the peer sends (a reply): one wait and
 * usually one read; whatever follows the frame is read and dropped. */
int mss_msg_recv_last(int fd, uint8_t *type, struct mss_buf *payload,
    int timeout_ms) MSS_WUR;
/*
 * Checks a frame header: returns the payload length in *len, or
 * MSS_ERR_PROTO (bad version) / MSS_ERR_TOOBIG. The daemon, which reads
 * without blocking, uses this as soon as MSS_FRAME_HDR bytes are in.
 */
int mss_frame_header(const unsigned char *hdr, uint8_t *type, uint32_t *len)
    MSS_WUR;
/* Writes a frame header for a payload of len bytes. */
void mss_frame_put_header(unsigned char *hdr, uint8_t type, uint32_t len);

#endif /* MSS_IO_H */
