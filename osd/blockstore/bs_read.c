/* Blockstore READ and READ_BMP: version selection and assembling data
 * from the journal mirror and data blocks. */
#include "bs_internal.h"

static void read_io_cb(struct bs_io *io, int res)
{
	struct bs *bs = io->owner;
	struct bs_op *op = (struct bs_op *)(uintptr_t)io->arg;

	bs->inflight_ios--;
	io_put(bs, io);
	if (res < 0)
		op->retval = res;
	if (--op->pending == 0) {
		bs->gp_cnt[op->gp & 1]--;
		bs->inflight_reads--;
		gp_poll(bs);
		complete_op(op);
	}
}

/* Chain position of the version selected by sel: -1 = clean, -2 = none. */
static long select_version(struct bs *bs, uint32_t oi, size_t n, uint64_t sel)
{
	long t = -2;
	struct obj *o = &bs->objs[oi];

	if (o->version && (sel == BS_VER_STABLE || sel == BS_VER_NEWEST || o->version <= sel))
		t = -1;
	for (size_t i = 0; i < n; i++) {
		struct dent *d = &bs->dents[bs->chain[i]];

		if (sel == BS_VER_NEWEST || (sel == BS_VER_STABLE ? d->stab_seq != 0 : d->version <= sel))
			t = (long)i;
	}
	return t;
}

/* Where each granule [g0, g1) of the version at chain position t comes
 * from: kind 0 = zeroes, 1 = journal mirror at src, 2 = data device at src. */
static void read_map(struct bs *bs, uint32_t oi, long t, uint32_t g0, uint32_t g1, uint8_t *kind,
	uint64_t *src)
{
	uint32_t left = g1 - g0;
	long i;

	memset(kind, 0, 256);
	for (i = t; i >= 0 && left; i--) {
		struct dent *d = &bs->dents[bs->chain[i]];
		uint32_t a = d->offset / bs->gran, b = (d->offset + d->len) / bs->gran;

		if (d->type == BS_JE_DELETE)
			break;
		for (uint32_t g = a > g0 ? a : g0; g < b && g < g1; g++) {
			if (kind[g])
				continue;
			if (d->type == BS_JE_SMALL) {
				kind[g] = 1;
				src[g] = d->loc * BS_SECT + ((uint64_t)g * bs->gran - d->offset);
			} else {
				kind[g] = 2;
				src[g] = block_off(bs, (uint32_t)d->loc) + (uint64_t)g * bs->gran;
			}
			left--;
		}
		if (d->type == BS_JE_BIG)
			break;
	}
	if (i < 0 && bs->objs[oi].block != NONE32) {
		for (uint32_t g = g0; g < g1; g++)
			if (!kind[g] && bit_get(o_int(bs, oi), g)) {
				kind[g] = 2;
				src[g] = block_off(bs, bs->objs[oi].block) + (uint64_t)g * bs->gran;
			}
	}
}

/* Fills op->buf from the granule map: copies and zeroes at once, and one
 * read per run of contiguous data-device granules (counted in op->pending). */
static void read_issue(struct bs *bs, struct bs_op *op, uint32_t g0, uint32_t g1, const uint8_t *kind,
	const uint64_t *src)
{
	for (uint32_t g = g0; g < g1;) {
		uint8_t *dst = (uint8_t *)op->buf + ((size_t)g * bs->gran - op->offset);

		if (kind[g] == 0) {
			memset(dst, 0, bs->gran);
			g++;
		} else if (kind[g] == 1) {
			memcpy(dst, bs->mirror + src[g], bs->gran);
			g++;
		} else {
			uint32_t e = g + 1;
			struct bs_io *io;

			while (e < g1 && kind[e] == 2 && src[e] == src[e - 1] + bs->gran)
				e++;
			io = io_get(bs);
			if (!io)
				abort();
			io->cb = read_io_cb;
			io->arg = (uint64_t)(uintptr_t)op;
			op->pending++;
			do_read(bs, BS_SLOT_DATA, dst, (size_t)(e - g) * bs->gran, src[g], io);
			g = e;
		}
	}
}

/* Whether the version at chain position t reads from a block whose
 * redirected (big) write is still in flight: the dirty entry is in the index
 * from submission, the data only at completion, and reading the fresh block
 * before then returns whatever it held. Small writes are in the journal
 * mirror from submission. */
static bool data_in_flight(struct bs *bs, long t)
{
	for (long i = t; i >= 0; i--) {
		const struct dent *d = &bs->dents[bs->chain[i]];
		const struct rec *r = &bs->recs[d->rec];

		if (d->type == BS_JE_DELETE)
			return false;
		if (d->type == BS_JE_BIG)
			return d->len && r->seq == d->seq && r->state != R_DONE;
	}
	return false;
}

/* Waiting reads run again, in order, once a record's writes are done. */
void reads_retry(struct bs *bs)
{
	struct bs_op *op = bs->rd_wait, *next;

	bs->rd_wait = bs->rd_wait_tail = NULL;
	for (; op; op = next) {
		next = op->next;
		op->next = NULL;
		do_read_op(bs, op);
	}
}

void do_read_op(struct bs *bs, struct bs_op *op)
{
	uint32_t oi = obj_find(bs, op->oid.inode, op->oid.stripe);
	uint32_t g0 = op->offset / bs->gran, g1;
	size_t n = 0;
	long t = -2;
	uint64_t sel;
	uint8_t kind[256];
	uint64_t src[256];

	if ((op->offset % bs->gran) || (op->len % bs->gran) || op->offset > bs->block_size ||
		op->len > bs->block_size - op->offset || (op->len && ((uintptr_t)op->buf % BS_SECT))) {
		finish_later(bs, op, -EINVAL);
		return;
	}
	g1 = (op->offset + op->len) / bs->gran;
	sel = op->version;
	if (oi != NONE32) {
		n = chain_collect(bs, oi);
		t = select_version(bs, oi, n, sel);
		if (t >= 0 && data_in_flight(bs, t)) {
			opq_push(&bs->rd_wait, &bs->rd_wait_tail, op);
			return;
		}
	}
	op->pending = 0;
	op->retval = (int)op->len;
	op->version = 0;
	if (op->bitmap)
		memset(op->bitmap, 0, bs->bmp_size);
	if (t == -2 || (t >= 0 && bs->dents[bs->chain[t]].type == BS_JE_DELETE) ||
		(t == -1 && bs->objs[oi].block == NONE32)) {
		if (t >= 0)
			op->version = bs->dents[bs->chain[t]].version;
		else if (t == -1)
			op->version = bs->objs[oi].version;
		memset(op->buf, 0, op->len);
		finish_later(bs, op, (int)op->len);
		return;
	}
	if (op->bitmap)
		ext_at(bs, oi, bs->chain, t, op->bitmap);
	op->version = t >= 0 ? bs->dents[bs->chain[t]].version : bs->objs[oi].version;
	read_map(bs, oi, t, g0, g1, kind, src);
	op->gp = (int)(bs->gp_epoch & 1);
	op->pending = 1;
	read_issue(bs, op, g0, g1, kind, src);
	bs->gp_cnt[op->gp]++;
	bs->inflight_reads++;
	if (--op->pending == 0) {
		bs->gp_cnt[op->gp]--;
		bs->inflight_reads--;
		finish_later(bs, op, op->retval);
	}
}

void do_read_bmp_op(struct bs *bs, struct bs_op *op)
{
	uint8_t *out = op->bmp_out;

	for (uint32_t i = 0; i < op->nvers; i++) {
		const struct bs_obj_ver *v = &op->vers[i];
		uint32_t oi = obj_find(bs, v->inode, v->stripe);
		uint64_t ver = 0;
		uint8_t *bm = out + (size_t)i * (8 + bs->bmp_size) + 8;

		memset(bm, 0, bs->bmp_size);
		if (oi != NONE32) {
			size_t n = chain_collect(bs, oi);
			long t = select_version(bs, oi, n, v->version);

			if (t >= 0)
				ver = bs->dents[bs->chain[t]].version;
			else if (t == -1)
				ver = bs->objs[oi].version;
			if (t != -2)
				ext_at(bs, oi, bs->chain, t, bm);
		}
		memcpy(out + (size_t)i * (8 + bs->bmp_size), &ver, 8);
	}
	finish_later(bs, op, (int)(op->nvers * (8 + bs->bmp_size)));
}
