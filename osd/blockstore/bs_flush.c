/* Blockstore flusher: moves stable, durable journal entries into data
 * blocks and metadata (FORMAT.md section 6). */
#include "bs_internal.h"

static bool dent_flushable(struct bs *bs, struct dent *d)
{
	return d->seq <= bs->durable_seq && d->stab_seq && d->stab_seq <= bs->durable_seq &&
		d->seq <= bs->completed_seq;
}

void mark_meta_dirty(struct bs *bs, uint32_t blk)
{
	uint32_t mb = blk / bs->ment_per_block;

	if (bit_get(bs->mdirty_bm, mb))
		return;
	bit_set(bs->mdirty_bm, mb);
	bs->mdirty[bs->nmdirty++] = mb;
}

static void fill_meta_block(struct bs *bs, uint32_t mb, uint8_t *buf)
{
	memset(buf, 0, BS_SECT);
	for (uint32_t i = 0; i < bs->ment_per_block; i++) {
		uint64_t blk = (uint64_t)mb * bs->ment_per_block + i;
		struct bs_ment *m = (struct bs_ment *)(void *)(buf + (size_t)i * bs->ment_size);
		uint32_t oi;

		if (blk >= bs->nblocks)
			break;
		oi = bs->clean_owner[blk];
		if (oi == NONE32)
			continue;
		m->inode = bs->objs[oi].inode;
		m->stripe = bs->objs[oi].stripe;
		m->version = bs->objs[oi].version;
		memcpy(m + 1, o_int(bs, oi), 2 * bs->bmp_size);
		m->crc = crc32c(0, m, bs->ment_size);
	}
}

static void fl_step(struct bs *bs);

static void fl_io_cb(struct bs_io *io, int res)
{
	struct bs *bs = io->owner;

	bs->inflight_ios--;
	if (res < 0)
		fail(bs, "flusher I/O", res);
	if (io != &bs->fl_fsync_io)
		io_put(bs, io);
	if (--bs->fl_pending == 0)
		fl_step(bs);
}

/* An io of the flusher's current step, counted in fl_pending. */
static struct bs_io *fl_io(struct bs *bs)
{
	struct bs_io *io = io_get(bs);

	if (!io)
		abort();
	io->cb = fl_io_cb;
	bs->fl_pending++;
	return io;
}

/* In-place copy of an item's small writes into the object's durable block. */
static void fl_copy_small(struct bs *bs, const struct flush_item *it)
{
	uint32_t oi = it->obj, nent = it->nent, j = 0;
	uint64_t src[256];
	uint8_t have[256];
	uint32_t last = bs->objs[oi].head;

	for (uint32_t k = 1; k < nent; k++)
		last = bs->dents[last].next;
	if (bs->dents[last].type != BS_JE_SMALL)
		return; /* metadata-only flush up to a big write or delete */
	if (bs->objs[oi].block == NONE32)
		abort();
	if (it->cow_blk != NONE32)
		return; /* written after the read completes */
	if (bs->objs[oi].flags & OF_FRESH)
		abort(); /* excluded in selection */
	memset(have, 0, sizeof(have));
	for (uint32_t di = bs->objs[oi].head; j < nent; di = bs->dents[di].next, j++) {
		struct dent *d = &bs->dents[di];

		for (uint32_t g = d->offset / bs->gran; g < (d->offset + d->len) / bs->gran; g++) {
			have[g] = 1;
			src[g] = d->loc * BS_SECT + ((uint64_t)g * bs->gran - d->offset);
		}
	}
	for (uint32_t g = 0; g < bs->ngran;) {
		uint32_t e = g + 1;

		if (!have[g]) {
			g++;
			continue;
		}
		while (e < bs->ngran && have[e] && src[e] == src[e - 1] + bs->gran)
			e++;
		bs->fl_data_written = true;
		do_write(bs, BS_SLOT_DATA, bs->mirror + src[g], (size_t)(e - g) * bs->gran,
			block_off(bs, bs->objs[oi].block) + (uint64_t)g * bs->gran, false, fl_io(bs));
		g = e;
	}
}

static bool cow_pressure(struct bs *bs)
{
	uint32_t ring = bs->ring_end - bs->ring_start;

	return bs->wq || bs->fl_force || (uint64_t)bs->used * 2 >= ring;
}

/* Adds the flushable prefix of object oi to the pass (FORMAT.md section 6,
 * step 1) and requeues the object when entries stay behind. */
static void fl_pick(struct bs *bs, uint32_t oi)
{
	uint32_t nent = 0, last_big = NONE32, total = 0;
	uint32_t di;

	for (di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next, total++) {
		if (!dent_flushable(bs, &bs->dents[di]))
			break;
		nent++;
		if (bs->dents[di].type != BS_JE_SMALL)
			last_big = nent - 1;
	}
	for (; di != NONE32; di = bs->dents[di].next)
		total++;
	if (nent && last_big == NONE32 && (bs->objs[oi].flags & OF_FRESH)) {
		/* The block's big write may still be replayed (CRC
		 * checked): no in-place writes. Under journal pressure
		 * copy the block to a new one, else wait for the trim
		 * (parked: later passes need not look at it again). */
		uint32_t nb = NONE32;

		if (!cow_pressure(bs)) {
			fq_park(bs, oi);
			return;
		}
		if (bs->ncow < COW_MAX)
			nb = block_alloc(bs);
		if (nb == NONE32) {
			nent = 0;
		} else {
			if (nent < total)
				fq_push(bs, oi);
			bs->fl[bs->fl_n++] = (struct flush_item){ oi, nent, nb, bs->ncow++ };
			bs->st.cow_flushes++;
			return;
		}
	}
	if (!nent) {
		if (total)
			fq_push(bs, oi);
		return;
	}
	if (last_big != NONE32)
		nent = last_big + 1;
	if (nent < total)
		fq_push(bs, oi);
	bs->fl[bs->fl_n++] = (struct flush_item){ oi, nent, NONE32, 0 };
}

static void fl_start(struct bs *bs)
{
	uint32_t n0;

	if (bs->npark && cow_pressure(bs))
		fq_unpark_all(bs);
	n0 = bs->fq_count;
	bs->fl_n = 0;
	bs->ncow = 0;
	bs->fl_data_written = false;
	for (uint32_t k = 0; k < n0 && bs->fl_n < bs->cfg.flush_batch; k++)
		fl_pick(bs, fq_pop(bs));
	if (!bs->fl_n) {
		bs->fl_active = false;
		bs->fl_force = false;
		return;
	}
	bs->fl_active = true;
	bs->st.flush_passes++;
	bs->fl_pending = 1;
	bs->fl_state = bs->ncow ? 0 : 1;
	if (bs->ncow && !bs->cow_buf) {
		bs->cow_buf = zalloc_aligned((size_t)COW_MAX * bs->block_size);
		if (!bs->cow_buf)
			abort();
	}
	/* copy-on-write items: read the whole current block first */
	for (uint32_t i = 0; i < bs->fl_n; i++)
		if (bs->fl[i].cow_blk != NONE32)
			do_read(bs, BS_SLOT_DATA, bs->cow_buf + (size_t)bs->fl[i].cow_idx * bs->block_size,
				bs->block_size, block_off(bs, bs->objs[bs->fl[i].obj].block), fl_io(bs));
	for (uint32_t i = 0; i < bs->fl_n; i++)
		fl_copy_small(bs, &bs->fl[i]);
	if (--bs->fl_pending == 0)
		fl_step(bs);
}

/* Retires the item's nent flushed entries: their records lose a live
 * entry when the pass ends; a deleted object leaves a tombstone. */
static void fl_retire(struct bs *bs, uint32_t oi, uint32_t nent, uint32_t newblk)
{
	struct obj *o = &bs->objs[oi];

	for (uint32_t j = 0; j < nent; j++) {
		uint32_t di = bs->chain[j];

		u32_push(&bs->fl_recs, &bs->fl_nrecs, &bs->fl_recs_cap, 256, bs->dents[di].rec);
		o->head = bs->dents[di].next;
		if (o->tail == di)
			o->tail = NONE32;
		if (j + 1 == nent && newblk == NONE32 && o->head == NONE32)
			tomb_push(bs, oi, NONE32, bs->last_seq, TOMB_DELETE);
		dent_free(bs, di);
	}
}

static void fl_apply(struct bs *bs)
{
	for (uint32_t i = 0; i < bs->fl_n; i++) {
		uint32_t oi = bs->fl[i].obj, nent = bs->fl[i].nent;
		size_t n = chain_collect(bs, oi);
		struct dent *last = &bs->dents[bs->chain[nent - 1]];
		uint8_t ext[32], intb[32];
		struct obj *o = &bs->objs[oi];
		uint32_t newblk = o->block;

		(void)n;
		ext_at(bs, oi, bs->chain, (long)nent - 1, ext);
		memcpy(intb, o_int(bs, oi), bs->bmp_size);
		if (last->type == BS_JE_SMALL) {
			for (uint32_t j = 0; j < nent; j++) {
				struct dent *d = &bs->dents[bs->chain[j]];

				bmp_apply(bs, intb, NULL, d->offset, d->len);
			}
			if (bs->fl[i].cow_blk != NONE32) {
				newblk = bs->fl[i].cow_blk;
				bs->clean_owner[o->block] = NONE32;
				mark_meta_dirty(bs, o->block);
				block_free_deferred(bs, o->block);
				o = &bs->objs[oi];
				o->flags &= ~(uint32_t)OF_FRESH;
			}
		} else {
			newblk = last->type == BS_JE_BIG ? (uint32_t)last->loc : NONE32;
			memset(intb, 0, bs->bmp_size);
			if (last->type == BS_JE_BIG)
				bmp_apply(bs, intb, NULL, last->offset, last->len);
			for (uint32_t j = 0; j + 1 < nent; j++) {
				struct dent *d = &bs->dents[bs->chain[j]];

				if (d->type == BS_JE_BIG)
					block_free_deferred(bs, (uint32_t)d->loc);
			}
			if (o->block != NONE32 && o->block != newblk) {
				bs->clean_owner[o->block] = NONE32;
				mark_meta_dirty(bs, o->block);
				block_free_deferred(bs, o->block);
			}
		}
		o = &bs->objs[oi];
		o->version = last->version;
		if (newblk != o->block && newblk != NONE32 && last->type == BS_JE_BIG) {
			o->block = newblk;
			tomb_push(bs, oi, newblk, bs->last_seq, TOMB_FRESH);
			o = &bs->objs[oi];
		}
		o->block = newblk;
		if (newblk != NONE32) {
			bs->clean_owner[newblk] = oi;
			mark_meta_dirty(bs, newblk);
			memcpy(o_int(bs, oi), intb, bs->bmp_size);
			memcpy(o_ext(bs, oi), ext, bs->bmp_size);
		} else {
			memset(o_int(bs, oi), 0, 2 * bs->bmp_size);
		}
		fl_retire(bs, oi, nent, newblk);
	}
}

/* Copy-on-write items: overlays the journal data on the block read into
 * cow_buf and writes it to the new block. */
static void fl_write_cow(struct bs *bs)
{
	for (uint32_t i = 0; i < bs->fl_n; i++) {
		struct flush_item *it = &bs->fl[i];
		uint8_t *buf = bs->cow_buf + (size_t)it->cow_idx * bs->block_size;
		uint32_t j = 0;

		if (it->cow_blk == NONE32)
			continue;
		for (uint32_t di = bs->objs[it->obj].head; j < it->nent; di = bs->dents[di].next, j++) {
			struct dent *d = &bs->dents[di];

			memcpy(buf + d->offset, bs->mirror + d->loc * BS_SECT, d->len);
		}
		bs->fl_data_written = true;
		do_write(bs, BS_SLOT_DATA, buf, bs->block_size, block_off(bs, it->cow_blk), false, fl_io(bs));
	}
}

/* Writes the dirty metadata sectors, regenerated from the index. */
static void fl_write_meta(struct bs *bs)
{
	if (bs->mbuf_cap < bs->nmdirty) {
		free(bs->mbuf);
		bs->mbuf_cap = bs->nmdirty * 2;
		bs->mbuf = zalloc_aligned((size_t)bs->mbuf_cap * BS_SECT);
		if (!bs->mbuf)
			abort();
	}
	for (uint32_t i = 0; i < bs->nmdirty; i++) {
		uint32_t mb = bs->mdirty[i];
		uint8_t *buf = bs->mbuf + (size_t)i * BS_SECT;
		struct bs_io *io = fl_io(bs);

		fill_meta_block(bs, mb, buf);
		bit_put(bs->mdirty_bm, mb, false);
		do_write(bs, BS_SLOT_META, buf, BS_SECT,
			bs->sb.meta_offset + BS_SECT + (uint64_t)mb * BS_SECT, false, io);
	}
	bs->nmdirty = 0;
}

static void fl_fsync(struct bs *bs, int slot)
{
	memset(&bs->fl_fsync_io, 0, sizeof(bs->fl_fsync_io));
	bs->fl_fsync_io.cb = fl_io_cb;
	bs->fl_fsync_io.owner = bs;
	bs->fl_pending = 1;
	do_flush(bs, slot, &bs->fl_fsync_io);
}

/* The flush pass state machine; each state's I/O completion re-enters it
 * through fl_io_cb when fl_pending drops to zero. */
static void fl_step(struct bs *bs)
{
	switch (bs->fl_state) {
	case 0: /* copy-on-write reads done: overlay journal data, write new blocks */
		bs->fl_state = 1;
		bs->fl_pending = 1;
		fl_write_cow(bs);
		if (--bs->fl_pending)
			return;
		/* fallthrough */
	case 1: /* data copied: make it durable before metadata points to it */
		bs->fl_state = 2;
		if (bs->fl_data_written && !bs->cfg.disable_data_fsync) {
			fl_fsync(bs, BS_SLOT_DATA);
			return;
		}
		/* fallthrough */
	case 2: /* update the index, write metadata blocks */
		bs->fl_state = 3;
		fl_apply(bs);
		bs->fl_pending = 1;
		fl_write_meta(bs);
		if (--bs->fl_pending)
			return;
		/* fallthrough */
	case 3:
		bs->fl_state = 4;
		if (!bs->cfg.disable_meta_fsync) {
			fl_fsync(bs, BS_SLOT_META);
			return;
		}
		/* fallthrough */
	case 4:
		for (size_t i = 0; i < bs->fl_nrecs; i++)
			bs->recs[bs->fl_recs[i]].live--;
		bs->fl_nrecs = 0;
		bs->fl_active = false;
		bs->fl_state = 0;
		try_trim(bs);
		flush_kick(bs);
		return;
	default:
		return;
	}
}

static bool flush_wanted(struct bs *bs)
{
	uint32_t ring = bs->ring_end - bs->ring_start;

	return bs->fl_force || bs->wq || (uint64_t)bs->used * 100 >= (uint64_t)ring * bs->cfg.flush_start_pct ||
		bs->nfree < bs->nblocks / 8 + 1;
}

void fl_defer_cb(struct ringloop_defer *d)
{
	struct bs *bs = (struct bs *)(void *)((char *)d - offsetof(struct bs, fl_d));

	if (bs->fl_active || bs->failed)
		return;
	if ((bs->fq_count || bs->npark) && flush_wanted(bs))
		fl_start(bs);
	else
		try_trim(bs);
}

void flush_kick(struct bs *bs)
{
	if (!bs->fl_active)
		ringloop_defer(bs->rl, &bs->fl_d);
}

void bs_flush_all(struct bs *bs)
{
	bs->fl_force = true;
	request_autosync(bs);
	flush_kick(bs);
}
