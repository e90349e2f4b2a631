/* Blockstore write paths: WRITE / WRITE_STABLE / DELETE, STABILIZE, ROLLBACK. */
#include "bs_internal.h"

static bool need_wait(struct bs *bs)
{
	/* something can free journal space or blocks later */
	return bs->rcount > 0 || bs->dfr_count > 0 || bs->fq_count > 0 || bs->fl_active;
}

/* Returns 1 when the op was queued or finished, 0 to wait (EAGAIN). */
int do_write_op(struct bs *bs, struct bs_op *op)
{
	bool deleted = true, big, is_delete = op->opcode == BS_OP_DELETE;
	uint32_t oi = obj_find(bs, op->oid.inode, op->oid.stripe);
	uint64_t nv = 0, ver;
	uint32_t blk = NONE32, ri, dsect = 0, dsec, di;
	struct bs_jent *e;

	if (oi != NONE32)
		nv = obj_newest(bs, oi, &deleted);
	if (!is_delete && ((op->offset % bs->gran) || (op->len % bs->gran) ||
		op->offset > bs->block_size || op->len > bs->block_size - op->offset ||
		(op->len && !op->buf))) {
		finish_later(bs, op, -EINVAL);
		return 1;
	}
	ver = op->version ? op->version : nv + 1;
	if (op->version && op->version <= nv) {
		finish_later(bs, op, -EEXIST);
		return 1;
	}
	if (is_delete && deleted) {
		finish_later(bs, op, -ENOENT);
		return 1;
	}
	big = !is_delete && (deleted || (op->offset == 0 && op->len == bs->block_size));
	if (big) {
		if (((uintptr_t)op->buf % BS_SECT) && op->len) {
			finish_later(bs, op, -EINVAL);
			return 1;
		}
		blk = block_alloc(bs);
		if (blk == NONE32) {
			if (need_wait(bs)) {
				/* freeing blocks needs flushing, which needs
				 * durable entries */
				request_autosync(bs);
				return 0;
			}
			finish_later(bs, op, -ENOSPC);
			return 1;
		}
	} else if (!is_delete) {
		dsect = op->len / BS_SECT;
	}
	e = jent_reserve(bs, dsect, &ri, &dsec);
	if (!e) {
		if (blk != NONE32) {
			bs->used_bm[blk / 64] &= ~(1ull << (blk & 63));
			bs->nfree++;
		}
		request_autosync(bs);
		return 0;
	}
	if (oi == NONE32) {
		oi = obj_insert(bs, op->oid.inode, op->oid.stripe);
		if (oi == NONE32)
			abort();
	}
	di = dent_alloc(bs);
	if (di == NONE32)
		abort();
	e->type = is_delete ? BS_JE_DELETE : big ? BS_JE_BIG : BS_JE_SMALL;
	e->flags = (op->opcode == BS_OP_WRITE_STABLE || is_delete) ? BS_JEF_STABLE : 0;
	e->inode = op->oid.inode;
	e->stripe = op->oid.stripe;
	e->version = ver;
	e->offset = is_delete ? 0 : op->offset;
	e->len = is_delete ? 0 : op->len;
	memset(d_bmp(bs, di), 0, bs->bmp_size);
	if (!is_delete)
		bmp_apply(bs, d_bmp(bs, di), op->bitmap, op->offset, op->len);
	memcpy(e + 1, d_bmp(bs, di), bs->bmp_size);
	{
		struct dent *d = &bs->dents[di];
		struct rec *r = &bs->recs[ri];

		d->version = ver;
		d->seq = r->seq;
		/* deletes are born stable, like WRITE_STABLE */
		d->stab_seq = (op->opcode == BS_OP_WRITE_STABLE || is_delete) ? r->seq : 0;
		d->offset = e->offset;
		d->len = e->len;
		d->rec = ri;
		d->type = e->type;
		r->live++;
		if (e->type == BS_JE_SMALL) {
			uint8_t *dst = bs->mirror + (size_t)dsec * BS_SECT;

			memcpy(dst, op->buf, op->len);
			e->data_crc = crc32c(0, dst, op->len);
			e->loc = dsec;
			d->loc = dsec;
		} else if (e->type == BS_JE_BIG) {
			struct bs_io *io = io_get(bs);

			e->data_crc = crc32c(0, op->buf, op->len);
			e->loc = blk;
			d->loc = blk;
			if (op->len) {
				if (!io)
					abort();
				io->cb = big_write_cb;
				io->arg = ri;
				r->pending++;
				do_write(bs, BS_SLOT_DATA, op->buf, op->len, block_off(bs, blk) + op->offset,
					bs->ddsync, io);
			}
		}
	}
	if (bs->dents[di].stab_seq)
		for (uint32_t k = bs->objs[oi].head; k != NONE32; k = bs->dents[k].next)
			if (!bs->dents[k].stab_seq)
				bs->dents[k].stab_seq = bs->dents[di].stab_seq;
	chain_append(bs, oi, di);
	fq_push(bs, oi);
	bs->st.user_bytes_written += op->len;
	op->version = ver;
	op->retval = is_delete ? 0 : (int)op->len;
	rec_attach_op(bs, ri, op);
	return 1;
}

int do_stabilize_op(struct bs *bs, struct bs_op *op)
{
	/* op->blk = progress */
	if (op->blk == 0) {
		for (uint32_t i = 0; i < op->nvers; i++) {
			const struct bs_obj_ver *v = &op->vers[i];
			uint32_t oi = obj_find(bs, v->inode, v->stripe);
			uint64_t stable = 0;
			bool found = false, busy = false;

			if (oi == NONE32) {
				finish_later(bs, op, -ENOENT);
				return 1;
			}
			stable = bs->objs[oi].version;
			for (uint32_t di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next) {
				struct dent *d = &bs->dents[di];

				if (d->stab_seq)
					stable = d->version;
				if (d->version <= v->version && d->seq > bs->durable_seq)
					busy = true;
				if (d->version == v->version)
					found = true;
			}
			if (v->version <= stable)
				continue;
			if (!found) {
				finish_later(bs, op, -ENOENT);
				return 1;
			}
			if (busy) {
				finish_later(bs, op, -EBUSY);
				return 1;
			}
		}
	}
	for (; op->blk < op->nvers; op->blk++) {
		const struct bs_obj_ver *v = &op->vers[op->blk];
		uint32_t oi = obj_find(bs, v->inode, v->stripe), ri, dsec;
		bool any = false;
		struct bs_jent *e;

		if (oi == NONE32)
			continue;
		for (uint32_t di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next)
			if (bs->dents[di].version <= v->version && !bs->dents[di].stab_seq)
				any = true;
		if (!any)
			continue;
		e = jent_reserve(bs, 0, &ri, &dsec);
		if (!e)
			return 0;
		e->type = op->opcode == BS_OP_STABILIZE ? BS_JE_STABILIZE : BS_JE_ROLLBACK;
		e->inode = v->inode;
		e->stripe = v->stripe;
		e->version = v->version;
		for (uint32_t di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next)
			if (bs->dents[di].version <= v->version && !bs->dents[di].stab_seq)
				bs->dents[di].stab_seq = bs->recs[ri].seq;
		fq_push(bs, oi);
	}
	op->retval = 0;
	if (bs->open_rec != NONE32)
		rec_attach_op(bs, bs->open_rec, op);
	else
		finish_later(bs, op, 0);
	flush_kick(bs);
	return 1;
}

int do_rollback_op(struct bs *bs, struct bs_op *op)
{
	if (op->blk == 0) {
		for (uint32_t i = 0; i < op->nvers; i++) {
			const struct bs_obj_ver *v = &op->vers[i];
			uint32_t oi = obj_find(bs, v->inode, v->stripe);

			if (oi == NONE32) {
				finish_later(bs, op, -ENOENT);
				return 1;
			}
			if (v->version < bs->objs[oi].version) {
				finish_later(bs, op, -EBUSY);
				return 1;
			}
			for (uint32_t di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next)
				if (bs->dents[di].version > v->version && bs->dents[di].stab_seq) {
					finish_later(bs, op, -EBUSY);
					return 1;
				}
		}
	}
	for (; op->blk < op->nvers; op->blk++) {
		const struct bs_obj_ver *v = &op->vers[op->blk];
		uint32_t oi = obj_find(bs, v->inode, v->stripe), ri, dsec;
		bool any = false;
		struct bs_jent *e;

		if (oi == NONE32)
			continue;
		for (uint32_t di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next)
			if (bs->dents[di].version > v->version)
				any = true;
		if (!any)
			continue;
		e = jent_reserve(bs, 0, &ri, &dsec);
		if (!e)
			return 0;
		e->type = BS_JE_ROLLBACK;
		e->inode = v->inode;
		e->stripe = v->stripe;
		e->version = v->version;
		rollback_obj(bs, oi, v->version);
		if (bs->objs[oi].head == NONE32 && bs->objs[oi].version == 0 && bs->objs[oi].block == NONE32 &&
			!(bs->objs[oi].flags & OF_QUEUED))
			obj_remove(bs, oi);
	}
	op->retval = 0;
	if (bs->open_rec != NONE32)
		rec_attach_op(bs, bs->open_rec, op);
	else
		finish_later(bs, op, 0);
	return 1;
}
