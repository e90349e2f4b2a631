/* Blockstore write paths: WRITE / WRITE_STABLE / DELETE, STABILIZE, ROLLBACK. */
#include "bs_internal.h"

static bool need_wait(struct bs *bs)
{
	/* something can free journal space or blocks later */
	return bs->rcount > 0 || bs->dfr_count > 0 || bs->fq_count > 0 || bs->npark > 0 || bs->fl_active;
}

/* The op's error in the order the checks must run, or 0. */
static int write_check(struct bs *bs, struct bs_op *op, uint64_t nv, bool deleted)
{
	bool is_delete = op->opcode == BS_OP_DELETE;

	if (!is_delete && ((op->offset % bs->gran) || (op->len % bs->gran) ||
		op->offset > bs->block_size || op->len > bs->block_size - op->offset ||
		(op->len && !op->buf)))
		return -EINVAL;
	if (op->version && op->version <= nv)
		return -EEXIST;
	if (is_delete && deleted)
		return -ENOENT;
	if (!is_delete && (deleted || (op->offset == 0 && op->len == bs->block_size)) &&
		((uintptr_t)op->buf % BS_SECT) && op->len)
		return -EINVAL;
	return 0;
}

/* Fills the dirty entry di from journal entry e of record ri, placing the
 * data: small writes into the journal mirror at dsec, big writes into blk. */
static void write_place(struct bs *bs, struct bs_op *op, struct bs_jent *e, uint32_t di, uint32_t ri,
	uint32_t blk, uint32_t dsec)
{
	struct dent *d = &bs->dents[di];
	struct rec *r = &bs->recs[ri];

	d->version = e->version;
	d->seq = r->seq;
	/* deletes are born stable, like WRITE_STABLE */
	d->stab_seq = (e->flags & BS_JEF_STABLE) ? r->seq : 0;
	d->offset = e->offset;
	d->len = e->len;
	d->rec = ri;
	d->type = e->type;
	r->live++;
	if (e->type == BS_JE_SMALL) {
		uint8_t *dst = bs->mirror + (size_t)dsec * BS_SECT;

		if (op->len)	/* a zero-length write (EC: untouched chunks) has no buffer */
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

/* Returns 1 when the op was queued or finished, 0 to wait (EAGAIN). */
int do_write_op(struct bs *bs, struct bs_op *op)
{
	bool deleted = true, big, is_delete = op->opcode == BS_OP_DELETE;
	uint32_t oi = obj_find(bs, op->oid.inode, op->oid.stripe);
	uint64_t nv = 0, ver;
	uint32_t blk = NONE32, ri, dsect = 0, dsec, di;
	struct bs_jent *e;
	int err;

	if (oi != NONE32)
		nv = obj_newest(bs, oi, &deleted);
	err = write_check(bs, op, nv, deleted);
	if (err) {
		finish_later(bs, op, err);
		return 1;
	}
	ver = op->version ? op->version : nv + 1;
	big = !is_delete && (deleted || (op->offset == 0 && op->len == bs->block_size));
	if (big) {
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
	write_place(bs, op, e, di, ri, blk, dsec);
	if (bs->dents[di].stab_seq)
		chain_stabilize(bs, oi, UINT64_MAX, bs->dents[di].stab_seq);
	chain_append(bs, oi, di);
	fq_push(bs, oi);
	bs->st.user_bytes_written += op->len;
	op->version = ver;
	op->retval = is_delete ? 0 : (int)op->len;
	rec_attach_op(bs, ri, op);
	return 1;
}

/* Journals a STABILIZE or ROLLBACK entry for v; NULL when the journal is
 * full. */
static struct bs_jent *ver_entry(struct bs *bs, const struct bs_obj_ver *v, uint8_t type, uint32_t *ri)
{
	uint32_t dsec;
	struct bs_jent *e = jent_reserve(bs, 0, ri, &dsec);

	if (!e)
		return NULL;
	e->type = type;
	e->inode = v->inode;
	e->stripe = v->stripe;
	e->version = v->version;
	return e;
}

/* Completes the op with its record, or at once when nothing was journaled. */
static void ack_with_record(struct bs *bs, struct bs_op *op)
{
	op->retval = 0;
	if (bs->open_rec != NONE32)
		rec_attach_op(bs, bs->open_rec, op);
	else
		finish_later(bs, op, 0);
}

/* STABILIZE's error before anything is journaled, or 0: every version must
 * exist and be durable, unless it is stable already. */
static int stabilize_check(struct bs *bs, const struct bs_op *op)
{
	for (uint32_t i = 0; i < op->nvers; i++) {
		const struct bs_obj_ver *v = &op->vers[i];
		uint32_t oi = obj_find(bs, v->inode, v->stripe);
		uint64_t stable = 0;
		bool found = false, busy = false;

		if (oi == NONE32)
			return -ENOENT;
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
		if (!found)
			return -ENOENT;
		if (busy)
			return -EBUSY;
	}
	return 0;
}

/* ROLLBACK's error before anything is journaled, or 0: nothing stable may
 * be rolled back. */
static int rollback_check(struct bs *bs, const struct bs_op *op)
{
	for (uint32_t i = 0; i < op->nvers; i++) {
		const struct bs_obj_ver *v = &op->vers[i];
		uint32_t oi = obj_find(bs, v->inode, v->stripe);

		if (oi == NONE32)
			return -ENOENT;
		if (v->version < bs->objs[oi].version)
			return -EBUSY;
		for (uint32_t di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next)
			if (bs->dents[di].version > v->version && bs->dents[di].stab_seq)
				return -EBUSY;
	}
	return 0;
}

/* Whether a STABILIZE or ROLLBACK to ver changes any dirty version of oi. */
static bool ver_pending(struct bs *bs, uint32_t oi, uint64_t ver, uint8_t type)
{
	for (uint32_t di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next) {
		struct dent *d = &bs->dents[di];

		if (type == BS_JE_STABILIZE ? d->version <= ver && !d->stab_seq : d->version > ver)
			return true;
	}
	return false;
}

/* Journals and applies one entry per version of op that changes something,
 * resuming at op->blk (the progress); 0 when the journal is full. */
static int ver_entries(struct bs *bs, struct bs_op *op, uint8_t type)
{
	for (; op->blk < op->nvers; op->blk++) {
		const struct bs_obj_ver *v = &op->vers[op->blk];
		uint32_t oi = obj_find(bs, v->inode, v->stripe), ri;

		if (oi == NONE32 || !ver_pending(bs, oi, v->version, type))
			continue;
		if (!ver_entry(bs, v, type, &ri))
			return 0;
		if (type == BS_JE_STABILIZE) {
			chain_stabilize(bs, oi, v->version, bs->recs[ri].seq);
			fq_push(bs, oi);
		} else {
			obj_rollback(bs, oi, v->version);
		}
	}
	return 1;
}

/* STABILIZE and ROLLBACK: checks once, then journals what changes
 * something; may resume after waiting for journal space. */
static int ver_op(struct bs *bs, struct bs_op *op, uint8_t type)
{
	int err = 0;

	if (op->blk == 0)
		err = type == BS_JE_STABILIZE ? stabilize_check(bs, op) : rollback_check(bs, op);
	if (err) {
		finish_later(bs, op, err);
		return 1;
	}
	if (!ver_entries(bs, op, type))
		return 0;
	ack_with_record(bs, op);
	if (type == BS_JE_STABILIZE)
		flush_kick(bs);
	return 1;
}

int do_stabilize_op(struct bs *bs, struct bs_op *op)
{
	return ver_op(bs, op, BS_JE_STABILIZE);
}

int do_rollback_op(struct bs *bs, struct bs_op *op)
{
	return ver_op(bs, op, BS_JE_ROLLBACK);
}
