/* libFuzzer target: the OSD messenger's receive parser (osd/msgr_rx.c) on
 * arbitrary byte streams, without sockets. The same stream is fed twice:
 * once in the largest pieces the parser accepts (64 KiB stream buffer,
 * large payloads received in place) and once in random small pieces
 * (a 256-byte stream buffer, every payload in place). Both runs must make
 * exactly the same callbacks with the same payload bytes and fail at the
 * same message; ASan checks that nothing is read or written out of bounds
 * (stream buffers and payload buffers are allocated to their exact size).
 *
 * Input: byte 0 seeds the random chunking, the rest is the stream. The
 * request callback splits SEC_WRITE payloads into bitmap + data like the
 * OSD; replies with an odd id "match no request" and drop the connection. */
#include "../../osd/msgr_rx.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INV(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "invariant failed: %s (line %d)\n", #cond, __LINE__); \
		abort(); \
	} \
} while (0)

#define MAX_EVENTS	4096
#define MAX_ALLOC	(1u << 20)	/* larger payload parts are discarded */

struct run {
	uint64_t ev[MAX_EVENTS][4];
	size_t nev;
	void *seg[2];
	size_t seg_len[2];
};

static void ev(struct run *r, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	if (r->nev < MAX_EVENTS) {
		r->ev[r->nev][0] = a;
		r->ev[r->nev][1] = b;
		r->ev[r->nev][2] = c;
		r->ev[r->nev][3] = d;
		r->nev++;
	}
}

static void take(struct run *r, struct iovec *d, int i, size_t len)
{
	d->iov_len = len;
	d->iov_base = len && len <= MAX_ALLOC ? malloc(len) : NULL;
	r->seg[i] = d->iov_base;
	r->seg_len[i] = d->iov_base ? len : 0;
}

static int cb_request(void *ctx, const union vs_packet *p, int64_t check, uint64_t frame_len,
		      struct iovec dst[2])
{
	struct run *r = ctx;
	uint64_t op = vs_le64_get(p->hdr.opcode);

	INV(!vs_frame_err_fatal(check));
	INV(check < 0 || (uint64_t)check == frame_len);
	INV(frame_len <= VS_MAX_OP_LEN + VS_MAX_BITMAP_LEN);
	INV(!r->seg[0] && !r->seg[1]);
	INV(!dst[0].iov_base && !dst[0].iov_len && !dst[1].iov_base && !dst[1].iov_len);
	ev(r, 1, vs_le64_get(p->hdr.id), op, (uint64_t)check ^ (frame_len << 8));
	if (check >= 0 && (op == VS_OP_SEC_WRITE || op == VS_OP_SEC_WRITE_STABLE)) {
		uint32_t attr = vs_le32_get(p->sec_rw.attr_len);

		take(r, &dst[0], 0, attr);
		take(r, &dst[1], 1, frame_len - attr);
	} else if (check >= 0) {
		take(r, &dst[0], 0, frame_len);
	} else {
		dst[0].iov_len = frame_len;	/* discarded */
	}
	return 0;
}

static int cb_reply(void *ctx, const union vs_packet *p, struct iovec dst[2])
{
	struct run *r = ctx;
	uint64_t id = vs_le64_get(p->hdr.id);
	int64_t n;

	if (id & 1) {
		ev(r, 2, id, 0, 0);
		return -1;
	}
	n = vs_check_reply(p, vs_le64_get(p->hdr.opcode));
	ev(r, 3, id, vs_le64_get(p->hdr.opcode), (uint64_t)n);
	if (n < 0)
		return -1;
	take(r, &dst[0], 0, (size_t)n);
	return 0;
}

static int cb_complete(void *ctx)
{
	struct run *r = ctx;
	uint64_t h = 1469598103934665603ull;

	for (int i = 0; i < 2; i++) {
		const uint8_t *b = r->seg[i];

		for (size_t k = 0; k < r->seg_len[i]; k++)
			h = (h ^ b[k]) * 1099511628211ull;
		free(r->seg[i]);
		r->seg[i] = NULL;
		r->seg_len[i] = 0;
	}
	ev(r, 4, h, 0, 0);
	return 0;
}

static const struct msgr_rx_ops ops = {
	.request = cb_request,
	.reply = cb_reply,
	.complete = cb_complete,
};

/* Feeds the stream; chunk 0 = as much as fits each time. Returns the
 * parser's final status. */
static int feed(struct run *r, const uint8_t *d, size_t n, size_t cap, size_t direct_min,
		uint32_t seed)
{
	uint8_t *buf = malloc(cap);
	struct msgr_rx rx;
	size_t off = 0;
	int rc = 0;

	msgr_rx_init(&rx, buf, cap, &ops, r);
	rx.direct_min = direct_min;
	while (off < n) {
		uint8_t *p;
		size_t len, k;

		msgr_rx_space(&rx, &p, &len);
		INV(len > 0);
		if (!rx.direct)
			INV(p >= buf && p + len <= buf + cap);
		k = n - off < len ? n - off : len;
		if (seed) {
			size_t lim;

			seed = seed * 1103515245u + 12345u;
			lim = 1 + (seed >> 16) % (seed & 0x100 ? 300 : 7);
			if (k > lim)
				k = lim;
		}
		memcpy(p, d + off, k);	/* ASan: the recv target must hold k */
		off += k;
		if (msgr_rx_advance(&rx, k) < 0) {
			rc = -1;
			break;
		}
	}
	if (rc == 0)
		INV(msgr_rx_busy(&rx) == (rx.in_payload || rx.end > rx.start));
	for (int i = 0; i < 2; i++) {
		free(r->seg[i]);
		r->seg[i] = NULL;
		r->seg_len[i] = 0;
	}
	free(buf);
	return rc;
}

static struct run ra, rb;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int a, b;

	if (size < 1)
		return 0;
	ra.nev = rb.nev = 0;
	a = feed(&ra, data + 1, size - 1, MSGR_RX_BUF_SIZE, MSGR_RX_DIRECT_MIN, 0);
	b = feed(&rb, data + 1, size - 1, 256, 1, 0x9e3779b9u ^ data[0]);
	INV(a == b);
	INV(ra.nev == rb.nev);
	INV(!memcmp(ra.ev, rb.ev, ra.nev * sizeof(ra.ev[0])));
	return 0;
}
