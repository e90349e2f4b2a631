/* libvstor: reads of layered images (snapshots and clones, spec 4.0.2, 9).
 *
 * An image I whose config/inode names a parent (parent_id, parent_pool;
 * the parent may have one too: I -> P1 -> P2 ...) shows, for every
 * bitmap granule (bitmap_granularity, 4 KiB), the data of the top-most
 * layer that holds that granule, or zeroes. Writes go to I only; a layer
 * that got a granule once keeps hiding its parents there.
 *
 * The read algorithm (kmod/ mirrors this; keep both in step):
 *
 *   need := every granule of the range [offset, offset + len)
 *   L := I
 *   loop:
 *     for each maximal run of granules in need, all in parallel:
 *       READ (opcode 11) of L over the run, meta_revision 0 (so the OSD
 *       returns layer L alone), split at L's stripe boundaries like any
 *       read, data straight into the caller's buffer at the run's place;
 *       the reply's bitmap covers L's whole stripe: bit i (byte i/8,
 *       bit i%8) = granule i of the stripe holds data in L
 *     wait for all of them; any error fails the whole read
 *     need -= the granules L holds: their bytes in the buffer are final
 *     (the granules L does not hold came back as zeroes: a deeper layer
 *      overwrites them, or they stay zero, which is right)
 *     if config/inode changed since the read started (any inode) and L
 *     is not I or need is not empty: start over from L := I with every
 *     granule needed (at most VC_MAX_RESTARTS times)
 *     if need is empty or L has no parent: done
 *     L := parent(L), looked up only now (config/inode as of now)
 *
 * The restart covers 'vsctl snap rm' of a layer S below I while I is read:
 * it copies S's data into I, then rebases I onto S's parent, then deletes
 * S's objects. A read that found a granule missing in I before the copy and
 * then sees the rebase (or reads S after its deletion, which comes after
 * the rebase) reads again, and then finds the granule in I.
 *
 * A chain deeper than VC_MAX_LAYERS (a parent_id loop) fails with -ELOOP.
 * The OSD-side chain walk (meta_revision != 0, same pool only) is not used:
 * the client walks every pool, and the OSD then needs no inode metadata.
 *
 * Cost: images without a parent never come here (vstor_read() checks the
 * inode first). A layered read allocates its two granule bitmaps once and
 * sends one request per run per layer; after a snapshot most stripes are
 * either rewritten in the top layer (one request) or not (two). */
#include "client_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define VC_MAX_LAYERS 256
#define VC_MAX_RESTARTS 16

struct vc_lread {
	struct vstor_client *c;
	uint64_t top, layer, offset, len, gran, ngran, gen;
	uint8_t *buf, *bits_out;
	vstor_cb *cb;
	void *arg;
	uint8_t *need, *got;	/* ngran bits each */
	unsigned depth, pending, restarts;
	bool submitting;
	int64_t err;
	uint64_t version;	/* of the top layer */
};

static bool bit(const uint8_t *b, uint64_t i)
{
	return (b[i / 8] >> (i % 8)) & 1;
}

void vc_layer_bits(struct vstor_client *c, struct vc_part *p, const uint8_t *bm, size_t bl)
{
	const struct vc_pool *pool = vc_pool_find(c, vs_inode_pool(p->op->inode));
	uint64_t stripe = pool ? pool->stripe : c->block_size, gran = c->bitmap_gran;
	uint64_t sbit = (p->offset % stripe) / gran, obit = (p->offset - p->op->lbits_base) / gran;
	uint8_t *out = p->op->lbits;

	for (uint64_t g = 0; g < p->len / gran; g++) {
		uint64_t s = sbit + g, o = obit + g;

		if (s / 8 < bl && bit(bm, s))
			out[o / 8] |= (uint8_t)(1u << (o % 8));
		else
			out[o / 8] &= (uint8_t)~(1u << (o % 8));
	}
}

static void lread_finish(struct vc_lread *lr)
{
	vstor_cb *cb = lr->cb;
	void *arg = lr->arg;
	int64_t rv = lr->err ? lr->err : (int64_t)lr->len;
	uint64_t ver = lr->version;

	if (!lr->err && lr->bits_out) {
		for (uint64_t g = 0; g < lr->ngran; g++) {
			if (bit(lr->need, g))
				lr->bits_out[g / 8] &= (uint8_t)~(1u << (g % 8));
			else
				lr->bits_out[g / 8] |= (uint8_t)(1u << (g % 8));
		}
	}
	free(lr);
	cb(arg, rv, ver);
}

static void layer_done(struct vc_lread *lr);

static void run_cb(void *arg, int64_t rv, uint64_t version)
{
	struct vc_lread *lr = arg;

	if (rv < 0 && !lr->err)
		lr->err = rv;
	if (!lr->depth && rv >= 0)
		lr->version = version;
	if (!--lr->pending && !lr->submitting)
		layer_done(lr);
}

/* Reads every run of needed granules from lr->layer; returns the number
 * of reads submitted (an error is kept in lr->err). */
static unsigned layer_start(struct vc_lread *lr)
{
	uint64_t g = 0;

	memset(lr->got, 0, (lr->ngran + 7) / 8);
	lr->submitting = true;
	while (g < lr->ngran && !lr->err) {
		uint64_t end;
		int r;

		if (!bit(lr->need, g)) {
			g++;
			continue;
		}
		for (end = g + 1; end < lr->ngran && bit(lr->need, end); end++)
			;
		r = vc_submit_rw(lr->c, VS_OP_READ, lr->layer, lr->offset + g * lr->gran,
				 (end - g) * lr->gran, lr->buf + g * lr->gran, lr->got, lr->offset, 0,
				 0, run_cb, lr);
		if (r)
			lr->err = r;
		else
			lr->pending++;
		g = end;
	}
	lr->submitting = false;
	return lr->pending;
}

static void need_all(struct vc_lread *lr)
{
	uint64_t nb = (lr->ngran + 7) / 8;

	memset(lr->need, 0xff, nb);
	if (lr->ngran % 8)
		lr->need[nb - 1] = (uint8_t)((1u << (lr->ngran % 8)) - 1);
}

static void layer_done(struct vc_lread *lr)
{
	struct vstor_client *c = lr->c;
	const struct vc_inode *in;
	bool more = false;

	if (!lr->err && c->bitmap_gran != lr->gran)
		lr->err = -EINVAL;	/* bitmap_granularity changed under the read */
	for (uint64_t i = 0; !lr->err && i < (lr->ngran + 7) / 8; i++) {
		lr->need[i] &= (uint8_t)~lr->got[i];
		more |= lr->need[i] != 0;
	}
	if (!lr->err && (more || lr->depth) && c->inode_gen != lr->gen &&
	    lr->restarts < VC_MAX_RESTARTS) {
		/* the chain may have changed under the read: read it again */
		lr->restarts++;
		lr->gen = c->inode_gen;
		lr->depth = 0;
		lr->layer = lr->top;
		need_all(lr);
		if (!layer_start(lr))
			lread_finish(lr);
		return;
	}
	in = more && !lr->err ? vc_inode_find(c, lr->layer) : NULL;
	if (!in || !in->parent) {
		lread_finish(lr);
		return;
	}
	if (++lr->depth >= VC_MAX_LAYERS) {
		lr->err = -ELOOP;
		lread_finish(lr);
		return;
	}
	lr->layer = in->parent;
	/* inside a callback here: completing at once is allowed */
	if (!layer_start(lr))
		lread_finish(lr);
}

int vc_layer_read(struct vstor_client *c, uint64_t inode, uint64_t offset, uint64_t len,
		  uint8_t *buf, uint8_t *bits, vstor_cb *cb, void *arg)
{
	uint64_t gran = c->bitmap_gran, ngran, nb;
	struct vc_lread *lr;

	if (!cb || !buf || !vs_inode_pool(inode) || !vs_inode_num(inode) || !len ||
	    offset + len < offset || len > ((uint64_t)1 << 48) || offset % gran || len % gran)
		return -EINVAL;
	if (c->destroying)
		return -ECANCELED;
	ngran = len / gran;
	nb = (ngran + 7) / 8;
	lr = calloc(1, sizeof(*lr) + 2 * nb);
	if (!lr)
		return -ENOMEM;
	lr->c = c;
	lr->top = lr->layer = inode;
	lr->gen = c->inode_gen;
	lr->offset = offset;
	lr->len = len;
	lr->gran = gran;
	lr->ngran = ngran;
	lr->buf = buf;
	lr->bits_out = bits;
	lr->cb = cb;
	lr->arg = arg;
	lr->need = (uint8_t *)(lr + 1);
	lr->got = lr->need + nb;
	need_all(lr);
	if (!layer_start(lr)) {
		/* nothing submitted: no callback, the error goes to the caller */
		int64_t err = lr->err;

		free(lr);
		return (int)err;
	}
	return 0;
}

int vstor_inode_parent(struct vstor_client *c, uint64_t inode, uint64_t *parent)
{
	const struct vc_inode *in = vc_inode_find(c, inode);

	if (!in)
		return -ENOENT;
	*parent = in->parent;
	return 0;
}

uint64_t vstor_client_inode_gen(const struct vstor_client *c)
{
	return c->inode_gen;
}
