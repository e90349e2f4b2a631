/* Primary ops on replicated PGs (spec §4.0, §5): WRITE/DELETE are
 * serialized per object in arrival order and go to the local blockstore
 * and every live member at once with the same explicit version
 * (current + 1); READ reads the local stable version; an op on a degraded
 * object first recovers it (in the object's queue); SYNC syncs locally
 * and every peer written since the last SYNC. */
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

void pg_obj_next(struct osd *osd, struct obj *o)
{
	struct osd_op *op = o->wq_head;

	o->busy = false;
	if (!op)
		return;
	o->wq_head = op->wnext;
	if (!o->wq_head)
		o->wq_tail = NULL;
	o->busy = true;
	pg_rw_start(osd, op);
}

static void rw_put(struct osd_op *op)
{
	struct obj *o = op->obj;
	bool del = op->opcode == VS_OP_DELETE;

	if (--op->pending)
		return;
	if (op->bs.retval >= 0 && op->newver > o->version)
		o->version = op->newver;
	if (del && op->result == 0)
		o->del_ver = op->newver;
	if (op->result == 0)
		pg_reply_rw(op, del ? 0 : (int64_t)vs_le32_get(op->req.rw.len), op->newver);
	else
		pg_reply_rw(op, op->result, o->version);
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

void pg_rw_start(struct osd *osd, struct osd_op *op)
{
	struct obj *o = op->obj;
	struct pgrun *pg = op->pg;
	uint64_t cas = vs_le64_get(op->req.rw.version);
	uint32_t len = vs_le32_get(op->req.rw.len);
	bool del = op->opcode == VS_OP_DELETE;
	uint64_t off = vs_le64_get(op->req.rw.offset) - o->stripe;

	if (op->recovery) {
		if (pg->st != PG_ACTIVE || op->round != pg->round || !o->miss)
			pg_rec_done(op, false);
		else
			pg_rec_start(op);
		return;
	}
	if (pg->st != PG_ACTIVE) {
		pg_reply_err(op, -EPIPE);
		pg_obj_next(osd, o);
		return;
	}
	if (o->miss && o->pg == pg) {
		/* not clean: recover it first, then run op (spec §8.2) */
		struct osd_op *r = osd_op_alloc(osd);

		if (!r) {
			pg_reply_err(op, -ENOMEM);
			pg_obj_next(osd, o);
			return;
		}
		r->recovery = true;
		r->pg = pg;
		r->obj = o;
		r->round = pg->round;
		r->parent = op;
		r->opcode = 0;
		pg_rec_start(r);
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
	op->newver = o->version + 1;
	op->result = 0;
	op->pending = 2;
	memset(&op->bs, 0, sizeof(op->bs));
	op->bs.opcode = del ? BS_OP_DELETE : BS_OP_WRITE_STABLE;
	op->bs.oid.inode = o->inode;
	op->bs.oid.stripe = o->stripe;
	op->bs.version = op->newver;
	op->bs.offset = (uint32_t)off;
	op->bs.len = del ? 0 : len;
	op->bs.buf = del ? NULL : op->buf;
	op->bs.cb = rw_local_cb;
	op->bs.priv = op;
	bs_submit(osd->bs, &op->bs);
	for (uint32_t i = 0; i + 1 < pg->nlive; i++) {
		struct osd_conn *c = pg_peer_conn(osd, pg->live[i]);
		struct osd_op *s;

		if (!c || !(s = pg_sub_new(osd, del ? VS_OP_SEC_DELETE : VS_OP_SEC_WRITE_STABLE,
					rw_sub_cb))) {
			if (!op->result)
				op->result = -EPIPE;
			continue;
		}
		s->parent = op;
		s->peer = pg->live[i];
		if (del) {
			vs_le64_set(&s->req.sec_del.oid.inode, o->inode);
			vs_le64_set(&s->req.sec_del.oid.stripe, o->stripe);
			vs_le64_set(&s->req.sec_del.version, op->newver);
		} else {
			vs_le64_set(&s->req.sec_rw.oid.inode, o->inode);
			vs_le64_set(&s->req.sec_rw.oid.stripe, o->stripe);
			vs_le64_set(&s->req.sec_rw.version, op->newver);
			vs_le32_set(&s->req.sec_rw.offset, (uint32_t)off);
			vs_le32_set(&s->req.sec_rw.len, len);
			if (len) {
				s->iov[1].iov_base = op->buf;
				s->iov[1].iov_len = len;
				s->niov = 2;
			}
		}
		c->dirty = true;
		op->pending++;
		osd_send_sub(c, s);
	}
	rw_put(op);
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
	uint64_t inode = vs_le64_get(op->req.rw.inode), offset = vs_le64_get(op->req.rw.offset);
	uint64_t stripe = offset / osd->block_size * osd->block_size;

	memset(&op->bs, 0, sizeof(op->bs));
	op->bs.opcode = BS_OP_READ;
	op->bs.oid.inode = inode;
	op->bs.oid.stripe = stripe;
	op->bs.offset = (uint32_t)(offset - stripe);
	op->bs.len = vs_le32_get(op->req.rw.len);
	op->bs.buf = op->buf;
	op->bs.bitmap = op->bitmap;
	op->bs.cb = read_cb;
	op->bs.priv = op;
	bs_submit(osd->bs, &op->bs);
}

static void sync_put(struct osd_op *op)
{
	if (--op->pending)
		return;
	pg_reply_rw(op, op->result, 0);
	osd_send_reply(op);
}

static void sync_local_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;

	if (bop->retval < 0 && !op->result)
		op->result = bop->retval;
	sync_put(op);
}

static void sync_sub_cb(struct osd_op *sub)
{
	struct osd_op *op = sub->parent;
	int64_t rv = pg_sub_retval(sub);

	if (rv < 0 && !op->result)
		op->result = rv;
	sync_put(op);
}

static void exec_sync(struct osd *osd, struct osd_op *op)
{
	struct osd_pgs *P = osd->pgs;

	if (osd->immediate_commit == BS_IC_ALL) {
		pg_reply_err(op, 0);
		return;
	}
	op->result = 0;
	op->pending = 2;
	memset(&op->bs, 0, sizeof(op->bs));
	op->bs.opcode = BS_OP_SYNC;
	op->bs.cb = sync_local_cb;
	op->bs.priv = op;
	bs_submit(osd->bs, &op->bs);
	for (size_t i = 0; P && i < P->npeers; i++) {
		struct osd_conn *c = P->peers[i].c;
		struct osd_op *s;

		if (!c->dirty)
			continue;
		s = pg_sub_new(osd, VS_OP_SEC_SYNC, sync_sub_cb);
		if (!s) {
			op->result = -ENOMEM;
			continue;
		}
		c->dirty = false;
		s->parent = op;
		op->pending++;
		osd_send_sub(c, s);
	}
	sync_put(op);
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
	o->busy = true;
	pg_rw_start(osd, op);
}

void osd_primary_exec(struct osd *osd, struct osd_op *op)
{
	struct osd_pgs *P = osd->pgs;
	const struct osd_pgmap *m = osd_etcd_pgmap(osd);
	uint64_t inode = vs_le64_get(op->req.rw.inode), offset = vs_le64_get(op->req.rw.offset);
	uint32_t len = vs_le32_get(op->req.rw.len);
	uint64_t pool_id = inode >> VS_INODE_NUM_BITS, stripe, pgn;
	const struct osd_pool *pool;
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
	if (vs__check_primary_rw(&op->req.rw, osd->bitmap_granularity, osd->block_size)) {
		pg_reply_err(op, -EINVAL);
		return;
	}
	pool = m ? osd_pgmap_pool(m, pool_id) : NULL;
	if (!P || !pool) {
		pg_reply_err(op, -EPIPE);
		return;
	}
	if (pool->scheme != OSD_SCHEME_REPLICATED) {
		pg_reply_err(op, -EINVAL);
		return;
	}
	stripe = offset / osd->block_size * osd->block_size;
	pg = NULL;
	for (struct pgrun *p = P->pgs; p; p = p->next)
		if (p->pool_id == pool_id && p->want) {
			pg = p;
			break;
		}
	if (!pg || !pg->pg_count) {
		pg_reply_err(op, -EPIPE);
		return;
	}
	pgn = stripe / pg->pg_stripe_size % pg->pg_count + 1;
	pg = pg_find(P, pool_id, (uint32_t)pgn);
	if (!pg || !pg->want || pg->st != PG_ACTIVE) {
		pg_reply_err(op, -EPIPE);
		return;
	}
	op->pg = pg;
	if (op->opcode == VS_OP_READ) {
		if (osd->bitmap_size <= sizeof(op->bmp_inline)) {
			op->bitmap = op->bmp_inline;
		} else {
			op->bmp = osd_buf_get(osd, osd->bitmap_size, &op->bmp_size);
			op->bitmap = op->bmp;
		}
		if (!op->bitmap || (len && !(op->buf = osd_buf_get(osd, len, &op->buf_size)))) {
			pg_reply_err(op, -ENOMEM);
			return;
		}
		o = pg_obj_get(P, inode, stripe, false);
		op->obj = NULL;
		if (!o || !(o->miss && o->pg == pg)) {
			pg_read_submit(osd, op);
			return;
		}
		/* a degraded object: in order, recovered first */
		obj_enqueue(osd, o, op);
		return;
	}
	if (op->opcode == VS_OP_DELETE && pg->degraded) {
		pg_reply_err(op, -EBUSY);
		return;
	}
	o = pg_obj_get(P, inode, stripe, true);
	if (!o) {
		pg_reply_err(op, -ENOMEM);
		return;
	}
	obj_enqueue(osd, o, op);
}
