/* vstor blockstore engine: open/close, op submission and dispatch.
 * Design and on-disk format: FORMAT.md; the pieces: bs_internal.h. */
#include "bs_internal.h"

/* Returns 1 when handled, 0 when it must wait for journal space/blocks. */
static int dispatch(struct bs *bs, struct bs_op *op)
{
	switch (op->opcode) {
	case BS_OP_WRITE:
	case BS_OP_WRITE_STABLE:
	case BS_OP_DELETE:
		if (bs->failed) {
			finish_later(bs, op, -EIO);
			return 1;
		}
		return do_write_op(bs, op);
	case BS_OP_STABILIZE:
		return do_stabilize_op(bs, op);
	case BS_OP_ROLLBACK:
		return do_rollback_op(bs, op);
	case BS_OP_SYNC:
		do_sync_op(bs, op);
		return 1;
	default:
		finish_later(bs, op, -EINVAL);
		return 1;
	}
}

static void wq_run(struct ringloop_defer *d)
{
	struct bs *bs = (struct bs *)(void *)((char *)d - offsetof(struct bs, wq_d));

	while (bs->wq) {
		struct bs_op *op = bs->wq;

		bs->wq = op->next;
		if (!bs->wq)
			bs->wq_tail = NULL;
		if (!dispatch(bs, op)) {
			op->next = bs->wq;
			bs->wq = op;
			if (!bs->wq_tail)
				bs->wq_tail = op;
			flush_kick(bs);
			return;
		}
	}
}

void kick_waitq(struct bs *bs)
{
	if (bs->wq)
		ringloop_defer(bs->rl, &bs->wq_d);
}

void bs_submit(struct bs *bs, struct bs_op *op)
{
	op->retval = 0;
	op->next = NULL;
	op->blk = 0;
	op->d.queued = false;
	switch (op->opcode) {
	case BS_OP_READ:
		do_read_op(bs, op);
		return;
	case BS_OP_READ_BMP:
		do_read_bmp_op(bs, op);
		return;
	case BS_OP_LIST:
		do_list_op(bs, op);
		return;
	default:
		break;
	}
	if (!bs->wq && dispatch(bs, op))
		return;
	if (bs->wq_tail)
		bs->wq_tail->next = op;
	else
		bs->wq = op;
	bs->wq_tail = op;
	op->next = NULL;
	flush_kick(bs);
}

static int alloc_state(struct bs *bs)
{
	uint64_t nb = bs->nblocks;

	bs->hcap = 1024;
	while ((uint64_t)bs->hcap * 3 < nb * 4 && bs->hcap < (1u << 31))
		bs->hcap *= 2;
	bs->htab = malloc((size_t)bs->hcap * sizeof(*bs->htab));
	bs->clean_owner = malloc(nb * sizeof(*bs->clean_owner));
	bs->used_bm = calloc((nb + 63) / 64, 8);
	bs->dfr_cap = nb + 1;
	bs->dfr = malloc(bs->dfr_cap * sizeof(*bs->dfr));
	bs->rcap = bs->ring_end - bs->ring_start + 2;
	bs->recs = calloc(bs->rcap, sizeof(*bs->recs));
	bs->mirror = zalloc_aligned(bs->sb.journal_size);
	bs->mdirty = malloc(bs->nmeta_blocks * sizeof(*bs->mdirty));
	bs->mdirty_bm = calloc(bs->nmeta_blocks / 8 + 1, 1);
	bs->fl = malloc((size_t)bs->cfg.flush_batch * sizeof(*bs->fl));
	bs->obj_free = NONE32;
	bs->dent_free = NONE32;
	bs->open_rec = NONE32;
	if (!bs->htab || !bs->clean_owner || !bs->used_bm || !bs->dfr || !bs->recs || !bs->mirror ||
		!bs->mdirty || !bs->mdirty_bm || !bs->fl)
		return -ENOMEM;
	memset(bs->htab, 0xff, (size_t)bs->hcap * sizeof(*bs->htab));
	memset(bs->clean_owner, 0xff, nb * sizeof(*bs->clean_owner));
	bs->nfree = nb;
	bs->gp_epoch = 1;
	bs->gp_done = 0;
	return 0;
}

int bs_open(struct ringloop *rl, const struct bs_config *cfg, struct bs **out, char *err, size_t errlen)
{
	struct bs *bs = calloc(1, sizeof(*bs));
	struct bs_backend *be = cfg->backend;
	uint8_t *buf = NULL;
	int r = -EINVAL;

	*out = NULL;
	if (!bs) {
		if (be)
			be->ops->destroy(be);
		return -ENOMEM;
	}
	if (!be)
		be = bs_backend_uring_open(rl, cfg->data_path, cfg->meta_path, cfg->journal_path, err, errlen);
	if (!be) {
		free(bs);
		return -EIO;
	}
	bs->rl = rl;
	bs->be = be;
	bs->cfg = *cfg;
	bs->cfg.backend = NULL;
	if (!bs->cfg.flush_batch)
		bs->cfg.flush_batch = 64;
	if (!bs->cfg.flush_start_pct)
		bs->cfg.flush_start_pct = 25;
	buf = zalloc_aligned(BS_SECT);
	if (!buf) {
		r = -ENOMEM;
		goto fail;
	}
	r = sio(rl, be, false, BS_SLOT_DATA, buf, BS_SECT, 0);
	if (r) {
		errf(err, errlen, "cannot read the data device: %s", strerror(-r));
		goto fail;
	}
	memcpy(&bs->sb, buf, sizeof(bs->sb));
	r = check_sb(&bs->sb, err, errlen, "data device");
	if (r)
		goto fail;
	{
		struct bs_sb *sb = &bs->sb;
		bool sep_meta = be->phys[BS_SLOT_META] != be->phys[BS_SLOT_DATA];
		bool sep_j = be->phys[BS_SLOT_JOURNAL] != be->phys[BS_SLOT_DATA];
		static const struct { int area, slot; const char *name; } a[3] = {
			{ BS_AREA_DATA, BS_SLOT_DATA, "data" }, { BS_AREA_META, BS_SLOT_META, "metadata" },
			{ BS_AREA_JOURNAL, BS_SLOT_JOURNAL, "journal" },
		};

		r = -EINVAL;
		if (sep_meta != !!sb->separate_meta || sep_j != !!sb->separate_journal) {
			errf(err, errlen, "device layout mismatch: formatted with metadata %s and journal %s the "
				"data device, opened with metadata %s and journal %s it",
				sb->separate_meta ? "off" : "on", sb->separate_journal ? "off" : "on",
				sep_meta ? "off" : "on", sep_j ? "off" : "on");
			goto fail;
		}
		if (cfg->osd_num && cfg->osd_num != sb->osd_num) {
			errf(err, errlen, "device belongs to OSD %llu, not OSD %llu",
				(unsigned long long)sb->osd_num, (unsigned long long)cfg->osd_num);
			goto fail;
		}
		if ((cfg->block_size && cfg->block_size != sb->block_size) ||
			(cfg->bitmap_granularity && cfg->bitmap_granularity != sb->bitmap_granularity)) {
			errf(err, errlen, "geometry mismatch: device has block_size %u bitmap_granularity %u, "
				"configured %u/%u", sb->block_size, sb->bitmap_granularity, cfg->block_size,
				cfg->bitmap_granularity);
			goto fail;
		}
		if (sb->block_size < 4096 || sb->block_size > (1u << 20) || (sb->block_size & (sb->block_size - 1)) ||
			sb->bitmap_granularity < 4096 || (sb->bitmap_granularity & (sb->bitmap_granularity - 1)) ||
			sb->bitmap_granularity > sb->block_size || sb->block_size / sb->bitmap_granularity > 256) {
			errf(err, errlen, "superblock has invalid geometry");
			goto fail;
		}
		bs->block_size = sb->block_size;
		bs->gran = sb->bitmap_granularity;
		bs->ngran = bs->block_size / bs->gran;
		bs->bmp_size = bs->ngran / 8 ? bs->ngran / 8 : 1;
		bs->ment_size = ment_size_for(bs->bmp_size);
		bs->jent_size = jent_size_for(bs->bmp_size);
		if (sb->meta_entry_size != bs->ment_size || sb->jentry_size != bs->jent_size) {
			errf(err, errlen, "superblock entry sizes do not match its geometry");
			goto fail;
		}
		bs->ment_per_block = BS_SECT / bs->ment_size;
		bs->nblocks = sb->data_blocks;
		bs->nmeta_blocks = (bs->nblocks + bs->ment_per_block - 1) / bs->ment_per_block;
		if (!bs->nblocks || bs->nblocks >= NONE32 ||
			sb->data_size != BS_SECT + bs->nblocks * bs->block_size ||
			sb->meta_size != BS_SECT * (1 + bs->nmeta_blocks) ||
			sb->journal_size < 2 * BS_SECT + 4ull * (bs->block_size + BS_SECT) ||
			sb->journal_size > (1ull << 34) || (sb->journal_size % BS_SECT) ||
			(sb->journal_offset % BS_SECT) || (sb->meta_offset % BS_SECT) || (sb->data_offset % BS_SECT) ||
			sb->data_offset + sb->data_size > be->size[BS_SLOT_DATA] ||
			sb->meta_offset + sb->meta_size > be->size[BS_SLOT_META] ||
			sb->journal_offset + sb->journal_size > be->size[BS_SLOT_JOURNAL]) {
			errf(err, errlen, "superblock layout does not fit the devices (device too small, "
				"truncated, or wrong device)");
			goto fail;
		}
		for (int i = 0; i < 3; i++) {
			uint64_t off = a[i].slot == BS_SLOT_DATA ? sb->data_offset :
				a[i].slot == BS_SLOT_META ? sb->meta_offset : sb->journal_offset;
			struct bs_sb o;

			r = sio(rl, be, false, a[i].slot, buf, BS_SECT, off);
			if (r) {
				errf(err, errlen, "cannot read the %s superblock: %s", a[i].name, strerror(-r));
				goto fail;
			}
			memcpy(&o, buf, sizeof(o));
			r = check_sb(&o, err, errlen, a[i].name);
			if (r)
				goto fail;
			r = -EINVAL;
			if (o.area != (uint32_t)a[i].area) {
				errf(err, errlen, "%s area: found the superblock of another area (wrong device?)",
					a[i].name);
				goto fail;
			}
			if (memcmp(o.uuid, sb->uuid, 16)) {
				errf(err, errlen, "%s area belongs to another OSD (uuid mismatch)", a[i].name);
				goto fail;
			}
			o.area = sb->area;
			o.crc = sb->crc;
			if (memcmp(&o, sb, sizeof(o))) {
				errf(err, errlen, "%s area superblock disagrees with the data superblock", a[i].name);
				goto fail;
			}
		}
	}
	bs->ring_start = 2;
	bs->ring_end = (uint32_t)(bs->sb.journal_size / BS_SECT);
	bs->max_rec_data = (bs->ring_end - bs->ring_start) / 4;
	if (bs->max_rec_data > 256 && bs->max_rec_data > bs->block_size / BS_SECT)
		bs->max_rec_data = 256 > bs->block_size / BS_SECT ? 256 : bs->block_size / BS_SECT;
	bs->writes_durable = cfg->immediate_commit != BS_IC_NONE ||
		(cfg->disable_journal_fsync && cfg->disable_data_fsync);
	bs->jdsync = cfg->immediate_commit != BS_IC_NONE && !cfg->disable_journal_fsync;
	bs->ddsync = cfg->immediate_commit != BS_IC_NONE && !cfg->disable_data_fsync;
	r = alloc_state(bs);
	if (r) {
		errf(err, errlen, "out of memory");
		goto fail;
	}
	bs->close_d.cb = close_cb;
	bs->wq_d.cb = wq_run;
	bs->fl_d.cb = fl_defer_cb;
	r = load_meta(bs, err, errlen);
	if (r)
		goto fail;
	r = replay(bs, err, errlen);
	if (r)
		goto fail;
	free(buf);
	*out = bs;
	flush_kick(bs);
	return 0;
fail:
	free(buf);
	bs_close(bs);
	return r;
}

void bs_close(struct bs *bs)
{
	if (!bs)
		return;
	ringloop_defer_cancel(bs->rl, &bs->close_d);
	ringloop_defer_cancel(bs->rl, &bs->wq_d);
	ringloop_defer_cancel(bs->rl, &bs->fl_d);
	ringloop_defer_cancel(bs->rl, &bs->autosync.d);
	if (bs->be)
		bs->be->ops->destroy(bs->be);
	free(bs->objs);
	free(bs->obj_bmp);
	free(bs->htab);
	free(bs->clean_owner);
	free(bs->used_bm);
	free(bs->dents);
	free(bs->dent_bmp);
	free(bs->mirror);
	free(bs->recs);
	free(bs->dfr);
	free(bs->tombs);
	free(bs->fq);
	free(bs->fl);
	free(bs->fl_recs);
	free(bs->mdirty);
	free(bs->mdirty_bm);
	free(bs->mbuf);
	free(bs->cow_buf);
	free(bs->chain);
	for (size_t i = 0; i < bs->niochunks; i++)
		free(bs->iochunks[i]);
	free(bs->iochunks);
	free(bs);
}

bool bs_is_idle(struct bs *bs)
{
	return !bs->inflight_ios && bs->open_rec == NONE32 && !bs->wq && !bs->sw && !bs->fl_active &&
		!bs->trim_inflight && !bs->close_d.queued && !bs->fl_d.queued && !bs->wq_d.queued &&
		!bs->inflight_reads;
}

void bs_get_stats(struct bs *bs, struct bs_stats *st)
{
	*st = bs->st;
	st->objects = bs->nobjs;
	st->dirty_entries = bs->ndents;
	st->free_blocks = bs->nfree;
	st->data_blocks = bs->nblocks;
	st->journal_used = (uint64_t)bs->used * BS_SECT;
	st->journal_size = (uint64_t)(bs->ring_end - bs->ring_start) * BS_SECT;
	st->ram_index_bytes = (uint64_t)bs->nobjs_cap * (sizeof(struct obj) + 2 * bs->bmp_size) +
		(uint64_t)bs->hcap * 4 + bs->nblocks * 4 + (bs->nblocks + 63) / 64 * 8;
}

uint32_t bs_block_size(struct bs *bs)
{
	return bs->block_size;
}

uint32_t bs_bitmap_size(struct bs *bs)
{
	return bs->bmp_size;
}
