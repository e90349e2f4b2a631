/* Stream-buffer receive parser of the OSD messenger; see msgr_rx.h. */
#include "msgr_rx.h"

#include <string.h>

void msgr_rx_init(struct msgr_rx *rx, uint8_t *buf, size_t cap,
		  const struct msgr_rx_ops *ops, void *ctx)
{
	memset(rx, 0, sizeof(*rx));
	rx->buf = buf;
	rx->cap = cap;
	rx->direct_min = MSGR_RX_DIRECT_MIN;
	rx->ops = ops;
	rx->ctx = ctx;
}

bool msgr_rx_busy(const struct msgr_rx *rx)
{
	return rx->in_payload || rx->end > rx->start;
}

/* Skips empty segments; finishes the message after the last one. */
static int next_segment(struct msgr_rx *rx)
{
	while (rx->seg < 2 && rx->seg_off == rx->dst[rx->seg].iov_len) {
		rx->seg++;
		rx->seg_off = 0;
	}
	if (rx->seg < 2)
		return 0;
	rx->in_payload = false;
	return rx->ops->complete(rx->ctx) < 0 ? -1 : 0;
}

void msgr_rx_space(struct msgr_rx *rx, uint8_t **p, size_t *len)
{
	rx->direct = false;
	if (rx->in_payload && rx->start == rx->end && rx->dst[rx->seg].iov_base) {
		size_t left = rx->dst[rx->seg].iov_len - rx->seg_off;

		if (left >= rx->direct_min) {
			rx->direct = true;
			*p = (uint8_t *)rx->dst[rx->seg].iov_base + rx->seg_off;
			*len = left;
			return;
		}
	}
	/* Only a partial header can be left over: move it to the front. */
	if (rx->start) {
		memmove(rx->buf, rx->buf + rx->start, rx->end - rx->start);
		rx->end -= rx->start;
		rx->start = 0;
	}
	*p = rx->buf + rx->end;
	*len = rx->cap - rx->end;
}

static int parse_header(struct msgr_rx *rx)
{
	union vs_packet hdr;
	uint64_t magic, frame_len = 0;
	int64_t check;
	int r;

	/* Headers may sit at any offset: copy for aligned field access. */
	memcpy(&hdr, rx->buf + rx->start, VS_PACKET_SIZE);
	rx->start += VS_PACKET_SIZE;
	rx->messages++;
	memset(rx->dst, 0, sizeof(rx->dst));
	magic = vs_le64_get(hdr.hdr.magic);
	if (magic == VS_REQ_MAGIC) {
		check = vs_check_request(&hdr, 0, 0, &frame_len);
		if (vs_frame_err_fatal(check))
			return -1;
		r = rx->ops->request(rx->ctx, &hdr, check, frame_len, rx->dst);
	} else if (magic == VS_REPLY_MAGIC) {
		r = rx->ops->reply(rx->ctx, &hdr, rx->dst);
		frame_len = rx->dst[0].iov_len + rx->dst[1].iov_len;
	} else {
		return -1;
	}
	if (r < 0 || rx->dst[0].iov_len + rx->dst[1].iov_len != frame_len)
		return -1;
	rx->in_payload = true;
	rx->seg = 0;
	rx->seg_off = 0;
	return next_segment(rx);
}

static void copy_payload(struct msgr_rx *rx)
{
	size_t avail = rx->end - rx->start;
	size_t left = rx->dst[rx->seg].iov_len - rx->seg_off;
	size_t k = avail < left ? avail : left;

	if (rx->dst[rx->seg].iov_base)
		memcpy((uint8_t *)rx->dst[rx->seg].iov_base + rx->seg_off,
		       rx->buf + rx->start, k);
	rx->seg_off += k;
	rx->start += k;
}

int msgr_rx_advance(struct msgr_rx *rx, size_t n)
{
	if (rx->failed)
		return -1;
	if (rx->direct) {
		rx->direct = false;
		rx->seg_off += n;
		if (next_segment(rx) < 0)
			goto fail;
		return 0;
	}
	rx->end += n;
	for (;;) {
		if (!rx->in_payload) {
			if (rx->end - rx->start < VS_PACKET_SIZE)
				break;
			if (parse_header(rx) < 0)
				goto fail;
		} else {
			if (rx->start == rx->end)
				break;
			copy_payload(rx);
			if (next_segment(rx) < 0)
				goto fail;
		}
	}
	if (rx->start == rx->end)
		rx->start = rx->end = 0;
	return 0;
fail:
	rx->failed = true;
	return -1;
}
