/* Recovery of degraded objects (spec §8.2 steps 4-8).
 *
 * Peering leaves per PG a list of degraded objects (o->miss != 0). Up to
 * recovery_queue_depth recovery ops per OSD walk it; each goes through the
 * object's queue like a client write: read the target version (locally or
 * SEC_READ from a member that has it), then SEC_WRITE_STABLE it with the
 * same version (or SEC_DELETE) to every live member lacking it. A client
 * op on a degraded object recovers it first (pg_rw_start). */
#include "osd_pg.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void pg_rec_timer_cb(struct ringloop_timer *t)
{
	struct pgrun *pg = (struct pgrun *)(void *)((char *)t - offsetof(struct pgrun, rec_timer));

	pg->rec_pos = 0;
	pg_rec_kick(pg->osd->pgs);
}

static void rec_check_done(struct pgrun *pg)
{
	struct osd *osd = pg->osd;

	if (pg->st != PG_ACTIVE || osd->pgs->stopping)
		return;
	if (pg->has_degraded && !pg->rec_left) {
		pg->has_degraded = 0;
		log_info("PG %" PRIu64 "/%u: recovery done", pg->pool_id, pg->num);
		pg_publish(pg);
		pg_stats_publish(pg);
	} else if (pg->rec_left && !pg->rec_busy && pg->rec_pos >= pg->nrec) {
		/* some objects failed: another pass later */
		ringloop_timer_del(osd->rl, &pg->rec_timer);
		ringloop_timer_add(osd->rl, &pg->rec_timer,
				   ringloop_now_ns() + PG_RETRY_MS * 1000000ull);
	}
}

void pg_rec_kick(struct osd_pgs *P)
{
	struct osd *osd = P->pgs_owner;
	uint64_t depth;

	if (!osd || P->stopping || !osd->cfg || cfg_bool(osd->cfg, "no_recovery"))
		return;
	depth = cfg_u64(osd->cfg, "recovery_queue_depth");
	if (!depth)
		depth = 1;
	for (struct pgrun *pg = P->pgs; pg && P->rec_inflight < depth; pg = pg->next) {
		if (pg->st != PG_ACTIVE || pg->peering)
			continue;
		while (P->rec_inflight < depth && pg->rec_pos < pg->nrec) {
			struct obj *o = pg->rec[pg->rec_pos];
			struct osd_op *op;

			if (!o->miss || o->pg != pg) {
				pg->rec_pos++;
				continue;	/* fixed by a client write */
			}
			op = osd_op_alloc(osd);
			if (!op)
				return;
			pg->rec_pos++;
			op->recovery = true;
			op->pg = pg;
			op->obj = o;
			op->round = pg->round;
			op->parent = NULL;
			op->opcode = 0;
			op->wnext = NULL;
			P->rec_inflight++;
			pg->rec_busy++;
			if (o->busy) {
				if (o->wq_tail)
					o->wq_tail->wnext = op;
				else
					o->wq_head = op;
				o->wq_tail = op;
				continue;
			}
			o->busy = true;
			pg_rec_start(op);
		}
		rec_check_done(pg);
	}
}

void pg_rec_done(struct osd_op *op, bool ok)
{
	struct obj *o = op->obj;
	struct pgrun *pg = op->pg;
	struct osd *osd = pg->osd;
	struct osd_pgs *P = osd->pgs;
	struct osd_op *parent = op->parent;

	if (ok && op->round == pg->round && o->miss) {
		o->miss = 0;
		if (pg->rec_left)
			pg->rec_left--;
		osd->rec_degraded_count++;
		if (!o->rec_del)
			osd->rec_degraded_bytes += osd->block_size;
	}
	if (!parent) {
		P->rec_inflight--;
		pg->rec_busy--;
	}
	osd_op_free(osd, op);
	if (parent) {
		if (ok)
			pg_rw_start(osd, parent);
		else {
			pg_reply_err(parent, -EPIPE);
			pg_obj_next(osd, o);
		}
	} else {
		pg_obj_next(osd, o);
	}
	rec_check_done(pg);
	pg_rec_kick(P);
}

static void rec_put(struct osd_op *op)
{
	if (--op->pending)
		return;
	pg_rec_done(op, op->result == 0);
}

static void rec_local_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;

	if (bop->retval < 0 && !op->result)
		op->result = bop->retval;
	rec_put(op);
}

static void rec_sub_cb(struct osd_op *sub)
{
	struct osd_op *op = sub->parent;
	int64_t rv = pg_sub_retval(sub);

	if (rv < 0 && !op->result) {
		log_warn("recovery: %s of %" PRIx64 ":%" PRIx64 " v%" PRIu64 " on OSD %" PRIu64
			 " failed: %s", vs_op_name(sub->opcode), ((struct obj *)op->obj)->inode,
			 ((struct obj *)op->obj)->stripe, ((struct obj *)op->obj)->tver,
			 sub->peer, strerror((int)-rv));
		op->result = rv;
	}
	rec_put(op);
}

static void rec_write(struct osd_op *op)
{
	struct obj *o = op->obj;
	struct pgrun *pg = op->pg;
	struct osd *osd = pg->osd;
	bool del = o->rec_del;

	op->pending = 1;
	op->result = 0;
	for (uint32_t i = 0; i < pg->size; i++) {
		struct osd_conn *c;
		struct osd_op *s;

		if (!(o->miss & (1ull << i)))
			continue;
		if (i == pg->self_idx) {
			memset(&op->bs, 0, sizeof(op->bs));
			op->bs.opcode = del ? BS_OP_DELETE : BS_OP_WRITE_STABLE;
			op->bs.oid.inode = o->inode;
			op->bs.oid.stripe = o->stripe;
			op->bs.version = o->tver;
			op->bs.len = del ? 0 : osd->block_size;
			op->bs.buf = del ? NULL : op->buf;
			op->bs.bitmap = del ? NULL : op->bitmap;
			op->bs.cb = rec_local_cb;
			op->bs.priv = op;
			op->pending++;
			bs_submit(osd->bs, &op->bs);
			continue;
		}
		c = pg_peer_conn(osd, pg->set[i]);
		if (!c || !(s = pg_sub_new(osd, del ? VS_OP_SEC_DELETE : VS_OP_SEC_WRITE_STABLE,
					rec_sub_cb))) {
			op->result = -EPIPE;
			continue;
		}
		s->parent = op;
		s->peer = pg->set[i];
		if (del) {
			vs_le64_set(&s->req.sec_del.oid.inode, o->inode);
			vs_le64_set(&s->req.sec_del.oid.stripe, o->stripe);
			vs_le64_set(&s->req.sec_del.version, o->tver);
		} else {
			vs_le64_set(&s->req.sec_rw.oid.inode, o->inode);
			vs_le64_set(&s->req.sec_rw.oid.stripe, o->stripe);
			vs_le64_set(&s->req.sec_rw.version, o->tver);
			vs_le32_set(&s->req.sec_rw.offset, 0);
			vs_le32_set(&s->req.sec_rw.len, osd->block_size);
			vs_le32_set(&s->req.sec_rw.attr_len, osd->bitmap_size);
			s->iov[1].iov_base = op->bitmap;
			s->iov[1].iov_len = osd->bitmap_size;
			s->iov[2].iov_base = op->buf;
			s->iov[2].iov_len = osd->block_size;
			s->niov = 3;
		}
		c->dirty = true;
		op->pending++;
		osd_send_sub(c, s);
	}
	rec_put(op);
}

static void rec_read_local_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;
	struct obj *o = op->obj;

	if (bop->retval < 0 || bop->version != o->tver) {
		log_warn("recovery: local read of %" PRIx64 ":%" PRIx64 " v%" PRIu64
			 " failed: %d (version %" PRIu64 ")", o->inode, o->stripe, o->tver,
			 bop->retval, bop->version);
		pg_rec_done(op, false);
		return;
	}
	rec_write(op);
}

static void rec_read_sub_cb(struct osd_op *sub)
{
	struct osd_op *op = sub->parent;
	struct osd *osd = op->osd;
	struct obj *o = op->obj;
	int64_t rv = pg_sub_retval(sub);
	uint32_t al = vs_le32_get(sub->reply.reply_sec_rw.attr_len);

	if (rv != (int64_t)osd->block_size || !sub->rbuf ||
	    vs_le64_get(sub->reply.reply_sec_rw.version) != o->tver) {
		log_warn("recovery: SEC_READ of %" PRIx64 ":%" PRIx64 " v%" PRIu64 " from OSD %"
			 PRIu64 " failed: %" PRId64, o->inode, o->stripe, o->tver, sub->peer, rv);
		pg_rec_done(op, false);
		return;
	}
	memset(op->bitmap, 0, osd->bitmap_size);
	memcpy(op->bitmap, sub->rbuf, al < osd->bitmap_size ? al : osd->bitmap_size);
	memcpy(op->buf, (uint8_t *)sub->rbuf + al, osd->block_size);
	rec_write(op);
}

void pg_rec_start(struct osd_op *op)
{
	struct obj *o = op->obj;
	struct pgrun *pg = op->pg;
	struct osd *osd = pg->osd;
	uint64_t src;
	struct osd_conn *c = NULL;
	struct osd_op *s;

	if (o->rec_del) {
		rec_write(op);
		return;
	}
	if (osd->bitmap_size <= sizeof(op->bmp_inline)) {
		op->bitmap = op->bmp_inline;
	} else {
		op->bmp = osd_buf_get(osd, osd->bitmap_size, &op->bmp_size);
		op->bitmap = op->bmp;
	}
	op->buf = osd_buf_get(osd, osd->block_size, &op->buf_size);
	if (!op->bitmap || !op->buf) {
		pg_rec_done(op, false);
		return;
	}
	if (o->have & (1ull << pg->self_idx)) {
		memset(&op->bs, 0, sizeof(op->bs));
		op->bs.opcode = BS_OP_READ;
		op->bs.oid.inode = o->inode;
		op->bs.oid.stripe = o->stripe;
		op->bs.version = o->tver;
		op->bs.len = osd->block_size;
		op->bs.buf = op->buf;
		op->bs.bitmap = op->bitmap;
		op->bs.cb = rec_read_local_cb;
		op->bs.priv = op;
		bs_submit(osd->bs, &op->bs);
		return;
	}
	src = o->have & pg->live_mask;
	for (uint32_t i = 0; i < pg->size && !c; i++)
		if (src & (1ull << i))
			c = pg_peer_conn(osd, pg->set[i]);
	if (!c || !(s = pg_sub_new(osd, VS_OP_SEC_READ, rec_read_sub_cb))) {
		pg_rec_done(op, false);
		return;
	}
	s->parent = op;
	s->peer = c->peer_osd;
	vs_le64_set(&s->req.sec_rw.oid.inode, o->inode);
	vs_le64_set(&s->req.sec_rw.oid.stripe, o->stripe);
	vs_le64_set(&s->req.sec_rw.version, o->tver);
	vs_le32_set(&s->req.sec_rw.offset, 0);
	vs_le32_set(&s->req.sec_rw.len, osd->block_size);
	osd_send_sub(c, s);
}
