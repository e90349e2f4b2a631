/* libFuzzer target: libvstor's reply parser (common/client.c: the stream
 * buffer, reply headers and id matching, READ bitmaps and data, large
 * payload rests received in place) on arbitrary byte streams from a fake
 * OSD, without sockets or etcd. A READY connection has requests in flight
 * (READs of 4 KiB..128 KiB into buffers of exactly that size, a WRITE, a
 * DELETE and a PING, ids 1..7); the stream arrives in random pieces (byte 0
 * seeds the chunking) through the recv() the client uses. Byte 0 odd: the
 * rest is the stream itself; even: records that build mostly well-formed
 * replies (right magic, a known id, a fitting retval and bitmap_len, then
 * payload bytes from the input), so the fuzzer gets past the framing and
 * into the payload states. Checked: ASan
 * (exact-size buffers), every op completes exactly once, a successful READ
 * with its full length, and a dead connection is given no more input. */
#define VC_RECV fuzz_recv
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

static ssize_t fuzz_recv(int fd, void *buf, size_t len, int flags);

#include "../../common/client.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INV(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "invariant failed: %s (line %d)\n", #cond, __LINE__); \
		abort(); \
	} \
} while (0)

#define NOPS 6

static const struct {
	uint64_t opcode;
	uint32_t len;
} reqs[NOPS] = {
	{ VS_OP_READ, 4096 }, { VS_OP_READ, 131072 }, { VS_OP_READ, 65536 },
	{ VS_OP_READ, 36864 }, { VS_OP_WRITE, 8192 }, { VS_OP_DELETE, 0 },
};

static const uint8_t *in;
static size_t in_pos, in_len;
static uint32_t rng;
static int done[NOPS];
/* granule bits of the layered-read path (vc_layer_bits), with a guard byte
 * after each op's bits */
static uint8_t lbits[NOPS][131072 / 4096 / 8 + 1];
static int64_t result[NOPS];

static ssize_t fuzz_recv(int fd, void *buf, size_t len, int flags)
{
	size_t n;

	if (in_pos == in_len) {
		errno = EAGAIN;
		return -1;
	}
	rng = rng * 1103515245u + 12345u;
	n = (rng >> 16) % 8 ? 1 + (rng >> 8) % 300 : 1 + (rng >> 4) % 70000;
	if (n > len)
		n = len;
	if (n > in_len - in_pos)
		n = in_len - in_pos;
	memcpy(buf, in + in_pos, n);
	in_pos += n;
	return (ssize_t)n;
}

static void op_cb(void *arg, int64_t rv, uint64_t version)
{
	int i = (int)(intptr_t)arg;

	done[i]++;
	result[i] = rv;
}

static struct ringloop *rl;
static uint8_t *gen;

#define GEN_MAX (1u << 20)

static uint8_t take(const uint8_t *d, size_t n, size_t *pos)
{
	return *pos < n ? d[(*pos)++] : 0;
}

/* Even byte 0: a stream of replies built from records (see the top). */
static size_t generate(const uint8_t *d, size_t n)
{
	size_t pos = 0, out = 0;

	while (pos < n && out + VS_PACKET_SIZE <= GEN_MAX) {
		union vs_packet h;
		uint8_t which = take(d, n, &pos) % 8, magic = take(d, n, &pos) % 8;
		uint8_t rvsel = take(d, n, &pos) % 10, blsel = take(d, n, &pos) % 8;
		uint64_t id = which < NOPS ? which + 1 : which == NOPS ? NOPS + 1 : 1000;
		uint64_t opcode = which < NOPS ? reqs[which].opcode : VS_OP_PING;
		uint32_t len = which < NOPS ? reqs[which].len : 0, bl = 4;
		int64_t rv = opcode == VS_OP_DELETE || opcode == VS_OP_PING ? 0 : len;
		size_t plen = 0;

		memset(&h, 0, sizeof(h));
		if (rvsel == 5)
			rv = -EPIPE;
		else if (rvsel == 6)
			rv = -EIO;
		else if (rvsel == 7)
			rv = -EINTR;
		else if (rvsel >= 8)
			for (int k = 0; k < 8; k++)
				rv = (int64_t)((uint64_t)rv << 8 | take(d, n, &pos));
		if (blsel == 5)
			bl = 0;
		else if (blsel == 6)
			bl = 5;
		else if (blsel == 7)
			for (int k = 0; k < 4; k++)
				bl = bl << 8 | take(d, n, &pos);
		vs_le64_set(&h.hdr.magic, magic < 6 ? VS_REPLY_MAGIC : magic == 6 ? VS_REQ_MAGIC :
			    0x1122334455667788ull);
		vs_le64_set(&h.hdr.id, id);
		vs_le64_set(&h.hdr.opcode, opcode);
		vs_le64_set(&h.reply.retval, (uint64_t)rv);
		vs_le32_set(&h.reply_rw.bitmap_len, bl);
		memcpy(gen + out, h.buf, VS_PACKET_SIZE);
		out += VS_PACKET_SIZE;
		if (opcode == VS_OP_READ && rv >= 0)
			plen = (size_t)bl + (size_t)rv;
		/* payload: input bytes, then (for a sane length) a filler, so
		 * that small inputs still complete whole READs */
		while (plen && out < GEN_MAX && pos < n) {
			gen[out++] = take(d, n, &pos);
			plen--;
		}
		if (plen <= (256u << 10) && plen <= GEN_MAX - out) {
			memset(gen + out, 0x5a, plen);
			out += plen;
		}
	}
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vstor_client *c;
	struct vc_conn *cn;
	static uint8_t *bufs[NOPS];

	if (!size)
		return 0;
	if (!rl) {
		vlog_set_level(-3);
		rl = ringloop_create(64);
		gen = malloc(GEN_MAX);
		INV(rl && gen);
		for (int i = 0; i < NOPS; i++)
			bufs[i] = reqs[i].len ? malloc(reqs[i].len) : NULL;
	}
	c = calloc(1, sizeof(*c));
	cn = calloc(1, sizeof(*cn));
	INV(c && cn);
	c->rl = rl;
	c->opts.up_wait_retry_interval_ms = 500;
	c->block_size = 131072;
	c->bitmap_gran = 4096;
	c->imm_all = true;
	client_init(c);
	cn->c = c;
	cn->osd = 1;
	cn->fd = -1;
	cn->state = VC_C_READY;
	cn->rxbuf = malloc(VC_RXBUF);
	INV(cn->rxbuf);
	ringloop_timer_init(&cn->ctimer, ctimer_cb);
	ringloop_timer_init(&cn->itimer, itimer_cb);
	for (int i = 0; i < NOPS; i++) {
		struct vc_op *op = op_get(c);
		struct vc_part *p;

		INV(op && !op_alloc_parts(op, 1));
		op->opcode = reqs[i].opcode;
		op->inode = (1ull << 48) | 1;
		op->len = reqs[i].len;
		op->buf = bufs[i];
		op->cb = op_cb;
		op->arg = (void *)(intptr_t)i;
		c->inflight_ops++;
		p = &op->parts[0];
		if (reqs[i].opcode == VS_OP_READ && (i & 1)) {
			/* odd reads collect the bitmap; read 3 not at the stripe start */
			op->offset = p->offset = i == 3 ? 65536 : 0;
			op->lbits = lbits[i];
			op->lbits_base = op->offset;
			lbits[i][reqs[i].len / 4096 / 8 + (reqs[i].len / 4096 % 8 != 0)] = 0xa5;
		}
		p->op = op;
		p->len = reqs[i].len;
		p->buf = bufs[i];
		p->id = c->next_id++;
		vs_req_init(&p->pkt, p->id, op->opcode);
		vs_le64_set(&p->pkt.rw.inode, op->inode);
		vs_le32_set(&p->pkt.rw.len, p->len);
		vs_le64_set(&p->pkt.rw.offset, p->offset);
		INV(inflight_add(cn, p));
		done[i] = 0;
	}
	cn->ping.kind = VC_K_PING;
	cn->ping.id = c->next_id++;
	vs_req_init(&cn->ping.pkt, cn->ping.id, VS_OP_PING);
	cn->ping_inflight = true;
	INV(inflight_add(cn, &cn->ping));

	in = data + 1;
	in_len = size - 1;
	if (!(data[0] & 1)) {
		in_len = generate(data + 1, size - 1);
		in = gen;
	}
	in_pos = 0;
	rng = data[0];
	while (in_pos < in_len && cn->state != VC_C_DEAD) {
		size_t before = in_pos;

		conn_read(cn);
		INV(in_pos > before || cn->state == VC_C_DEAD);
	}
	for (int i = 0; i < NOPS; i++) {
		if (reqs[i].opcode == VS_OP_READ && (i & 1))
			INV(lbits[i][reqs[i].len / 4096 / 8 + (reqs[i].len / 4096 % 8 != 0)] == 0xa5);
		INV(done[i] <= 1);
		if (done[i] && reqs[i].opcode == VS_OP_READ && result[i] >= 0)
			INV(result[i] == reqs[i].len);
	}
	/* teardown: what is left is retried, then cancelled */
	c->destroying = true;
	conn_fail(cn, "end of input");
	ringloop_timer_del(rl, &c->retry_timer);
	while (c->wait_head) {
		struct vc_part *p = c->wait_head;

		wait_del(c, p);
		part_done(p, -ECANCELED, 0);
	}
	for (int i = 0; i < NOPS; i++)
		INV(done[i] == 1);
	INV(!c->inflight_ops && !c->ids.n);
	ringloop_defer_cancel(rl, &c->reap);
	reap_cb(&c->reap);
	INV(!c->dead);
	while (c->free_ops) {
		struct vc_op *op = c->free_ops;

		c->free_ops = op->next_free;
		free(op->xparts);
		free(op);
	}
	vc_lazy_destroy(c);
	idmap_free(&c->ids);
	free(c);
	return 0;
}
