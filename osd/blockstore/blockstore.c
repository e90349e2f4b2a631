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
	opq_push(&bs->wq, &bs->wq_tail, op);
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
	r = sb_load(bs, buf, err, errlen);
	if (r)
		goto fail;
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
	space_recount(bs);
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
	free(bs->park);
	free(bs->fl);
	free(bs->fl_recs);
	free(bs->mdirty);
	free(bs->mdirty_bm);
	free(bs->mbuf);
	free(bs->cow_buf);
	free(bs->chain);
	space_free(bs);
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
