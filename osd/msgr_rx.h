/* Receive-side framing of the OSD messenger, independent of sockets.
 *
 * A connection owns one stream buffer (normally 64 KiB). Each recv goes to
 * the place msgr_rx_space() names: the free tail of the stream buffer, or,
 * when a large payload is pending and nothing else is buffered, straight
 * into the payload's final buffer. msgr_rx_advance() then parses in place
 * every complete 128-byte header and copies the payload bytes that are
 * already buffered into the destination the header callback chose. Only a
 * partial header (< 128 bytes) is ever left in the stream buffer between
 * calls; it is moved to the front before the next recv.
 *
 * The parser makes the same callbacks in the same order with the same
 * payload bytes however the stream is split into recvs (tests/fuzz/
 * fuzz_msgr.c checks this). */
#ifndef VSTOR_MSGR_RX_H
#define VSTOR_MSGR_RX_H

#include "vstor_proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define MSGR_RX_BUF_SIZE	65536u
/* Payload remainders at least this large are received in place. */
#define MSGR_RX_DIRECT_MIN	32768u

struct msgr_rx_ops {
	/* A complete request header. check is vs_check_request()'s result
	 * (a payload length >= 0 or a non-fatal enum vs_frame_err) and
	 * frame_len the payload bytes that follow on the wire. The callback
	 * sets dst[0] and dst[1] (zeroed on entry) so that their lengths add
	 * up to frame_len; a NULL iov_base discards that many bytes. Returns 0,
	 * or < 0 to drop the connection. */
	int (*request)(void *ctx, const union vs_packet *p, int64_t check,
		       uint64_t frame_len, struct iovec dst[2]);
	/* A reply header: the same contract; the callback finds the request
	 * by id and frames the payload with vs_check_reply(). */
	int (*reply)(void *ctx, const union vs_packet *p, struct iovec dst[2]);
	/* The message announced by the last header is complete (right after
	 * the header when it has no payload). Returns 0 or < 0 to drop. */
	int (*complete)(void *ctx);
};

struct msgr_rx {
	uint8_t *buf;		/* stream buffer, cap bytes */
	size_t cap;
	size_t start, end;	/* unparsed bytes: buf[start, end) */
	size_t direct_min;
	bool in_payload;
	bool direct;		/* last msgr_rx_space() pointed into dst */
	bool failed;
	int seg;		/* current dst segment (0 or 1) */
	size_t seg_off;
	struct iovec dst[2];
	const struct msgr_rx_ops *ops;
	void *ctx;
	uint64_t messages;	/* headers parsed */
};

/* buf must hold cap >= VS_PACKET_SIZE bytes and outlive rx. */
void msgr_rx_init(struct msgr_rx *rx, uint8_t *buf, size_t cap,
		  const struct msgr_rx_ops *ops, void *ctx);
/* Where the next received bytes go and how many fit (always > 0). */
void msgr_rx_space(struct msgr_rx *rx, uint8_t **p, size_t *len);
/* n (> 0, <= the length msgr_rx_space() gave) bytes were written there.
 * Runs the callbacks. 0, or -1 when the connection must be dropped (bad
 * magic or length, or a callback refused); after -1 rx must not be used. */
int msgr_rx_advance(struct msgr_rx *rx, size_t n);
/* True when a message is partly received (a header or a payload). */
bool msgr_rx_busy(const struct msgr_rx *rx);

#endif
