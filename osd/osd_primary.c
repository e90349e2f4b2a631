/* Primary ops (spec §4.0, §5, §8.3): WRITE/DELETE are serialized per
 * object in arrival order and go to every live position of the PG at once
 * (the local blockstore for ours, SEC_WRITE_STABLE / SEC_DELETE for the
 * others, each with its chunk role) with one new version from
 * pg_next_version(); READ reads the local stable version; an op on a
 * degraded object first recovers it (in the object's queue); a DELETE also
 * removes the copies peering found outside the set; SYNC syncs locally and
 * every peer written since the last SYNC. Replicated pools: every
 * position gets the same bytes; EC pools' reads and writes go to
 * osd_ec.c (each position its chunk), their deletions run here. */
#include "osd_pg.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void pg_reply_rw(struct osd_op *op, int64_t retval, uint64_t version)
{
	vs_reply_init(&op->reply, &op->req, retval);
	vs_le64_set(&op->reply.reply_rw.version, version);
	op->iov[0].iov_base = &op->reply;
	op->iov[0].iov_len = VS_PACKET_SIZE;
	op->niov = 1;
}

void pg_reply_err(struct osd_op *op, int64_t err)
{
	pg_reply_rw(op, err, 0);
	osd_send_reply(op);
}

void pg_obj_busy(struct obj *o, struct pgrun *pg)
{
	o->busy = true;
	o->busy_pg = pg;
	pg->busy_objs++;
}

/* The last op in flight on pg is done: a peering that waits for it lists
 * now, a release waiting for it deletes pg/state (pg_publish). */
static void pg_obj_idle(struct pgrun *pg)
{
	if (--pg->busy_objs)
		return;
	if (pg->draining) {
		pg->draining = false;
		pg_peer_put(pg);
	}
	if (pg->st == PG_OFF && pg->locked)
		pg_publish(pg);
}

void pg_obj_next(struct osd *osd, struct obj *o)
{
	struct osd_op *op = o->wq_head;
	struct pgrun *was = o->busy_pg;

	o->busy = false;
	o->busy_pg = NULL;
	if (op) {
		o->wq_head = op->wnext;
		if (!o->wq_head)
			o->wq_tail = NULL;
		pg_obj_busy(o, op->pg);	/* before the idle check: pg stays busy */
	}
	if (was)
		pg_obj_idle(was);
	if (op)
		pg_rw_start(osd, op);
}

static void rw_put(struct osd_op *op)
{
	struct obj *o = op->obj;
	bool del = op->opcode == VS_OP_DELETE;

	if (--op->pending)
		return;
	if (op->result == 0) {
		o->version = op->newver;
		o->deleted = del;
		if (del && o->st)
			pg_rec_forget(op->pg, o);	/* the copies outside the set went too */
		pg_sync_written(op->osd, op->conn, op->pg);
		pg_reply_rw(op, del ? 0 : (int64_t)vs_le32_get(op->req.rw.len), op->newver);
	} else {
		pg_reply_rw(op, op->result, o->version);
	}
	osd_send_reply(op);
	pg_obj_next(op->osd, o);
}

/* Deleting an object that does not exist (or no longer does) succeeds, as
 * spec §4.0.5 says; the blockstore reports it as -ENOENT. */
static bool delete_of_nothing(const struct osd_op *op, int64_t rv)
{
	return op->opcode == VS_OP_DELETE && rv == -ENOENT;
}

static void rw_local_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;

	if (bop->retval < 0 && !op->result && !delete_of_nothing(op, bop->retval))
		op->result = bop->retval;
	rw_put(op);
}

static void rw_sub_cb(struct osd_op *sub)
{
	struct osd_op *op = sub->parent;
	int64_t rv = pg_sub_retval(sub);

	if (rv < 0 && !op->result && !delete_of_nothing(op, rv)) {
		log_warn("%s of %" PRIx64 ":%" PRIx64 " v%" PRIu64 " on OSD %" PRIu64 " failed: %s",
			 vs_op_name(sub->opcode), vs_le64_get(op->req.rw.inode),
			 ((struct obj *)op->obj)->stripe, op->newver, sub->peer,
			 strerror((int)-rv));
		op->result = rv == -EPIPE ? -EPIPE : rv;
	}
	rw_put(op);
}

/* A degraded object (some live position lacks it): client ops recover it
 * first (spec §8.2 step 7). */
static bool obj_degraded(const struct obj *o, const struct pgrun *pg)
{
	return o->st && o->pg == pg && o->st->kind == OBJ_DEGRADED;
}

static int recover_first(struct osd *osd, struct osd_op *op)
{
	struct osd_op *r = osd_op_alloc(osd);

	if (!r)
		return -ENOMEM;
	r->recovery = true;
	r->pg = op->pg;
	r->obj = op->obj;
	r->round = ((struct pgrun *)op->pg)->round;
	r->parent = op;
	r->opcode = 0;
	pg_rec_start(r);
	return 0;
}

static void sub_rw(struct osd_op *op, uint64_t osd_num, uint32_t role, uint64_t off, uint32_t len)
{
	struct osd *osd = op->osd;
	struct obj *o = op->obj;
	bool del = op->opcode == VS_OP_DELETE;
	struct osd_conn *c = pg_peer_conn(osd, osd_num);
	struct osd_op *s;

	if (!c || !(s = osd_sub_new(osd, del ? VS_OP_SEC_DELETE : VS_OP_SEC_WRITE_STABLE,
				   rw_sub_cb))) {
		if (!op->result)
			op->result = -EPIPE;
		return;
	}
	s->parent = op;
	s->peer = osd_num;
	if (del)
		pg_sub_delete(s, o, role, op->newver);
	else
		pg_sub_write(s, o, role, op->newver, (uint32_t)off, len, NULL, 0, op->buf);
	c->dirty = true;
	op->pending++;
	osd_send_sub(c, s);
}

static void rw_submit(struct osd *osd, struct osd_op *op)
{
	struct obj *o = op->obj;
	struct pgrun *pg = op->pg;
	uint32_t len = vs_le32_get(op->req.rw.len);
	bool del = op->opcode == VS_OP_DELETE;
	uint64_t off = vs_le64_get(op->req.rw.offset) - o->stripe;

	if (!pg_replicated(pg) && !del) {
		pg_ec_write(osd, op);
		return;
	}
	op->result = 0;
	op->pending = 2;
	memset(&op->bs, 0, sizeof(op->bs));
	op->bs.opcode = del ? BS_OP_DELETE : BS_OP_WRITE_STABLE;
	op->bs.oid.inode = o->inode;
	op->bs.oid.stripe = o->stripe | pg_role(pg, pg->self_pos);
	op->bs.version = op->newver;
	op->bs.offset = (uint32_t)off;
	op->bs.len = del ? 0 : len;
	op->bs.buf = del ? NULL : op->buf;
	op->bs.cb = rw_local_cb;
	op->bs.priv = op;
	bs_submit(osd->bs, &op->bs);
	for (uint32_t pos = 0; pos < pg->size; pos++)
		if (pg->cur[pos] && pos != pg->self_pos)
			sub_rw(op, pg->cur[pos], pg_role(pg, pos), off, len);
	for (uint32_t i = 0; del && o->st && i < o->st->nloc; i++) {
		const struct obj_loc *l = &o->st->loc[i];
		bool in_set = false;

		for (uint32_t pos = 0; pos < pg->size; pos++)
			if (pg->cur[pos] == l->osd && pg_role(pg, pos) == l->role)
				in_set = true;
		if (!in_set)
			sub_rw(op, l->osd, l->role, 0, 0);
	}
	rw_put(op);
}

void pg_rw_start(struct osd *osd, struct osd_op *op)
{
	struct obj *o = op->obj;
	struct pgrun *pg = op->pg;
	uint64_t cas = vs_le64_get(op->req.rw.version);

	if (op->recovery) {
		pg_rec_start(op);
		return;
	}
	if (pg->st != PG_ACTIVE) {
		pg_reply_err(op, -EPIPE);
		pg_obj_next(osd, o);
		return;
	}
	if (o->st && o->pg == pg && o->st->kind == OBJ_INCOMPLETE) {
		pg_reply_err(op, -EIO);
		pg_obj_next(osd, o);
		return;
	}
	if (obj_degraded(o, pg)) {
		if (recover_first(osd, op)) {
			pg_reply_err(op, -ENOMEM);
			pg_obj_next(osd, o);
		}
		return;
	}
	if (op->opcode == VS_OP_READ) {
		pg_read_submit(osd, op);
		return;
	}
	if (cas && o->version != cas - 1) {
		pg_reply_rw(op, -EINTR, o->version);
		osd_send_reply(op);
		pg_obj_next(osd, o);
		return;
	}
	op->newver = pg_next_version(pg, o);
	if (!op->newver) {
		/* 32767 writes to one object while the epoch bump is written */
		pg_reply_err(op, -EPIPE);
		pg_obj_next(osd, o);
		return;
	}
	rw_submit(osd, op);
}

static void read_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;
	struct osd *osd = op->osd;
	uint32_t len = vs_le32_get(op->req.rw.len);

	if (bop->retval == -ENOENT) {
		bop->retval = (int)len;
		bop->version = 0;
		if (len)
			memset(op->buf, 0, len);
		memset(op->bitmap, 0, osd->bitmap_size);
	}
	if (op->obj)
		pg_obj_next(osd, op->obj);	/* queued behind a recovery */
	if (bop->retval < 0) {
		pg_reply_err(op, bop->retval);
		return;
	}
	pg_reply_rw(op, len, bop->version);
	vs_le32_set(&op->reply.reply_rw.bitmap_len, osd->bitmap_size);
	op->iov[op->niov].iov_base = op->bitmap;
	op->iov[op->niov++].iov_len = osd->bitmap_size;
	if (len) {
		op->iov[op->niov].iov_base = op->buf;
		op->iov[op->niov++].iov_len = len;
	}
	osd_send_reply(op);
}

void pg_read_submit(struct osd *osd, struct osd_op *op)
{
	struct pgrun *pg = op->pg;
	uint64_t inode = vs_le64_get(op->req.rw.inode), offset = vs_le64_get(op->req.rw.offset);
	uint64_t stripe = offset / osd->block_size * osd->block_size;

	if (!pg_replicated(pg)) {
		pg_ec_read(osd, op);
		return;
	}
	memset(&op->bs, 0, sizeof(op->bs));
	op->bs.opcode = BS_OP_READ;
	op->bs.oid.inode = inode;
	op->bs.oid.stripe = stripe | pg_role(pg, pg->self_pos);
	op->bs.offset = (uint32_t)(offset - stripe);
	op->bs.len = vs_le32_get(op->req.rw.len);
	op->bs.buf = op->buf;
	op->bs.bitmap = op->bitmap;
	op->bs.cb = read_cb;
	op->bs.priv = op;
	bs_submit(osd->bs, &op->bs);
}

static void sync_done(struct osd_op *op, int64_t result)
{
	pg_reply_rw(op, result, 0);
	osd_send_reply(op);
}

static void exec_sync(struct osd *osd, struct osd_op *op)
{
	if (!osd->pgs) {
		pg_reply_err(op, 0);	/* no PG ran here yet: nothing to sync */
		return;
	}
	pg_sync(osd, op, sync_done);
}

/* Ops on one object run one at a time in arrival order (spec §4.0.3). */
static void obj_enqueue(struct osd *osd, struct obj *o, struct osd_op *op)
{
	op->obj = o;
	op->wnext = NULL;
	if (o->busy) {
		if (o->wq_tail)
			o->wq_tail->wnext = op;
		else
			o->wq_head = op;
		o->wq_tail = op;
		return;
	}
	pg_obj_busy(o, op->pg);
	pg_rw_start(osd, op);
}

/* The data chunks of the pool of inode by config/pools (1: unknown), so
 * that an op on a PG this OSD does not run (any more) is checked against
 * the pool's stripe: a valid EC op gets -EPIPE (ask the primary), not
 * -EINVAL for crossing a block. */
static uint32_t pool_data_chunks(const struct osd_pgmap *m, uint64_t inode)
{
	const struct osd_pool *pool = osd_pgmap_pool(m, inode >> 48);

	if (!pool || pool->scheme == OSD_SCHEME_REPLICATED || pool->pg_size <= pool->parity_chunks)
		return 1;
	return pool->pg_size - pool->parity_chunks;
}

void osd_primary_exec(struct osd *osd, struct osd_op *op)
{
	struct osd_pgs *P = osd->pgs;
	const struct osd_pgmap *m = osd_etcd_pgmap(osd);
	uint64_t inode = vs_le64_get(op->req.rw.inode), offset = vs_le64_get(op->req.rw.offset);
	uint32_t len = vs_le32_get(op->req.rw.len);
	uint64_t stripe, ssize;
	struct pgrun *pg;
	struct obj *o;

	if (!m) {
		/* Without etcd this OSD never runs PGs: retrying cannot help. */
		pg_reply_err(op, -EINVAL);
		return;
	}
	if (op->opcode == VS_OP_SYNC) {
		exec_sync(osd, op);
		return;
	}
	/* the PG first: pg_stripe_size is a multiple of the stripe */
	stripe = offset / osd->block_size * osd->block_size;
	pg = P ? pg_route(P, inode, stripe) : NULL;
	ssize = (uint64_t)osd->block_size * (pg ? pg->data_chunks : pool_data_chunks(m, inode));
	if (vs__check_primary_rw(&op->req.rw, osd->bitmap_granularity, ssize)) {
		pg_reply_err(op, -EINVAL);
		return;
	}
	if (!pg || pg->st != PG_ACTIVE) {
		pg_reply_err(op, -EPIPE);
		return;
	}
	stripe = offset - offset % ssize;
	op->pg = pg;
	if (op->opcode == VS_OP_READ) {
		size_t bsz = (size_t)osd->bitmap_size * pg->data_chunks;

		if (bsz <= sizeof(op->bmp_inline)) {
			op->bitmap = op->bmp_inline;
		} else {
			op->bmp = osd_buf_get(osd, bsz, &op->bmp_size);
			op->bitmap = op->bmp;
		}
		if (!op->bitmap || (len && !(op->buf = osd_buf_get(osd, len, &op->buf_size)))) {
			pg_reply_err(op, -ENOMEM);
			return;
		}
		o = pg_obj_get(P, inode, stripe, false);
		op->obj = NULL;
		/* EC: a degraded object is recovered first whichever chunk is
		 * missing (a read may touch any) */
		if (!o || !o->st || o->pg != pg ||
		    (o->st->kind == OBJ_DEGRADED && !o->st->del && pg_replicated(pg) &&
		     !(o->st->miss & (1ull << pg->self_pos))) || o->st->kind == OBJ_MISPLACED) {
			pg_read_submit(osd, op);
			return;
		}
		/* our copy is missing: in order, recovered first */
		obj_enqueue(osd, o, op);
		return;
	}
	if (op->opcode == VS_OP_DELETE && (pg->degraded || pg->left_on_dead)) {
		pg_reply_err(op, -EBUSY);
		return;
	}
	o = pg_obj_get(P, inode, stripe, true);
	if (!o) {
		pg_reply_err(op, -ENOMEM);
		return;
	}
	o->pg = pg;
	obj_enqueue(osd, o, op);
}
