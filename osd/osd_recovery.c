/* Recovery (spec §8.2 step 7): degraded objects first, then (only when
 * the PG is not degraded) misplaced ones, at most recovery_queue_depth
 * objects per OSD at a time. A recovery op goes through the object's queue
 * like a client write, so it never races one.
 *
 * Degraded object: read the target version of the chunk (locally or
 * SEC_READ from a peer that has it; EC: k chunks of it, the others
 * decoded, osd_ec_util.c), SEC_WRITE_STABLE it with the same
 * version to every live position lacking it. A position that refuses the
 * version (-EEXIST: it holds a newer one we cannot see, e.g. the deletion
 * of an extra copy, which lists do not show) makes it a rewrite of the
 * object at a new version to every live position, as a zero-length
 * primary write would. A deletion this primary made but some OSD missed
 * is finished by SEC_DELETE on every copy.
 *
 * Misplaced object (copies outside the set or role): once the set holds
 * it, the extra copies are deleted: at once with immediate_commit=all,
 * otherwise after a SYNC (the set's copies may not be durable yet).
 *
 * A client op on a degraded object recovers it first (pg_rw_start). When
 * no degraded or misplaced object is left on a full set, pg_clean() clears
 * pg/history. */
#include "osd_pg.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { REC_NONE, REC_READ, REC_WRITE, REC_REWRITE, REC_DELETE, REC_EXTRAS };

static int list_push(struct obj ***a, uint32_t *n, uint32_t *cap, struct obj *o)
{
	if (*n == *cap) {
		uint32_t nc = *cap ? *cap * 2 : 64;
		struct obj **na = realloc(*a, nc * sizeof(*na));

		if (!na)
			return -ENOMEM;
		*a = na;
		*cap = nc;
	}
	(*a)[(*n)++] = o;
	return 0;
}

int pg_rec_add(struct pgrun *pg, struct obj *o)
{
	switch (o->st->kind) {
	case OBJ_DEGRADED:
		if (list_push(&pg->deg, &pg->ndeg, &pg->deg_cap, o))
			return -ENOMEM;
		pg->n_degraded++;
		return 0;
	case OBJ_MISPLACED:
		if (list_push(&pg->mis, &pg->nmis, &pg->mis_cap, o))
			return -ENOMEM;
		pg->n_misplaced++;
		return 0;
	case OBJ_INCOMPLETE:
		/* kept in the list only so that re-peering frees its state */
		if (list_push(&pg->deg, &pg->ndeg, &pg->deg_cap, o))
			return -ENOMEM;
		pg->n_incomplete++;
		return 0;
	}
	return -EINVAL;
}

void pg_rec_reset(struct pgrun *pg)
{
	for (uint32_t i = 0; i < pg->ndeg; i++)
		if (pg->deg[i]->pg == pg)
			pg_obj_st_clear(pg->deg[i]);
	for (uint32_t i = 0; i < pg->nmis; i++)
		if (pg->mis[i]->pg == pg)
			pg_obj_st_clear(pg->mis[i]);
	pg->ndeg = pg->nmis = pg->deg_pos = pg->mis_pos = 0;
	pg->n_degraded = pg->n_misplaced = pg->n_incomplete = 0;
	ringloop_timer_del(pg->osd->rl, &pg->rec_timer);
}

void pg_rec_timer_cb(struct ringloop_timer *t)
{
	struct pgrun *pg = (struct pgrun *)(void *)((char *)t - offsetof(struct pgrun, rec_timer));

	pg->deg_pos = pg->mis_pos = 0;
	pg_rec_kick(pg->osd->pgs);
}

static bool no_rebalance(const struct osd *osd)
{
	return osd->cfg && cfg_bool(osd->cfg, "no_rebalance");
}

static bool rec_live(const struct obj *o, const struct pgrun *pg, enum obj_kind kind)
{
	return o->pg == pg && o->st && o->st->kind == kind;
}

/* The next object to work on: degraded ones, then misplaced ones (not
 * with no_rebalance). */
static struct obj *rec_pick(struct pgrun *pg, bool no_rebal)
{
	while (pg->deg_pos < pg->ndeg) {
		struct obj *o = pg->deg[pg->deg_pos++];

		if (rec_live(o, pg, OBJ_DEGRADED))
			return o;
	}
	if (pg->degraded || no_rebal)
		return NULL;
	while (pg->mis_pos < pg->nmis) {
		struct obj *o = pg->mis[pg->mis_pos++];

		if (rec_live(o, pg, OBJ_MISPLACED))
			return o;
	}
	return NULL;
}

static void rec_check_done(struct pgrun *pg)
{
	struct osd *osd = pg->osd;
	bool deg_left = pg->n_degraded && pg->deg_pos >= pg->ndeg;
	bool mis_left = pg->n_misplaced && !pg->degraded && !no_rebalance(osd) &&
			pg->mis_pos >= pg->nmis;

	if (pg->st != PG_ACTIVE || osd->pgs->stopping)
		return;
	if (!pg->n_degraded && !pg->n_misplaced && !pg->n_incomplete && pg->rec_busy == 0)
		pg_clean(pg);
	if ((deg_left || mis_left) && !pg->rec_busy) {
		/* some objects failed: another pass later */
		ringloop_timer_del(osd->rl, &pg->rec_timer);
		ringloop_timer_add(osd->rl, &pg->rec_timer,
				   ringloop_now_ns() + PG_RETRY_MS * 1000000ull);
	}
}

/* Counts change: publish the PG's flags when they differ. */
static void rec_count(struct pgrun *pg, uint64_t *counter)
{
	if (*counter && !--*counter) {
		log_info("PG %" PRIu64 "/%u: no %s objects left", pg->pool_id, pg->num,
			 counter == &pg->n_degraded ? "degraded" : "misplaced");
		pg_publish(pg);
		pg_stats_publish(pg);
	}
}

void pg_rec_forget(struct pgrun *pg, struct obj *o)
{
	enum obj_kind kind = o->st->kind;

	pg_obj_st_clear(o);
	if (kind == OBJ_MISPLACED)
		rec_count(pg, &pg->n_misplaced);
	else if (kind == OBJ_DEGRADED)
		rec_count(pg, &pg->n_degraded);
	rec_check_done(pg);
}

/* One pass over the PGs: starts recovery ops up to recovery_queue_depth
 * and checks which PGs are done. */
static void rec_kick_cb(struct ringloop_defer *d)
{
	struct osd_pgs *P = container_of(d, struct osd_pgs, rec_kick);
	struct osd *osd = P->pgs_owner;
	uint64_t depth;
	bool no_rebal;

	if (!osd || P->stopping || !osd->cfg || cfg_bool(osd->cfg, "no_recovery"))
		return;
	depth = cfg_u64(osd->cfg, "recovery_queue_depth");
	if (!depth)
		depth = 1;
	no_rebal = no_rebalance(osd);
	for (struct pgrun *pg = P->pgs; pg; pg = pg->next) {
		if (pg->st != PG_ACTIVE || pg->peering)
			continue;
		while (P->rec_inflight < depth) {
			struct obj *o = rec_pick(pg, no_rebal);
			struct osd_op *op;

			if (!o)
				break;
			op = osd_op_alloc(osd);
			if (!op) {
				pg->deg_pos = pg->mis_pos = 0;
				break;
			}
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
			pg_obj_busy(o, pg);
			pg_rec_start(op);
		}
		rec_check_done(pg);
	}
}

/* Deferred: a pass per loop iteration however many PGs activated or
 * finished an object in it (one pass per PG was quadratic in the PG
 * count when thousands activate together). */
void pg_rec_kick(struct osd_pgs *P)
{
	struct osd *osd = P->pgs_owner;

	if (!osd || P->stopping)
		return;
	P->rec_kick.cb = rec_kick_cb;
	ringloop_defer(osd->rl, &P->rec_kick);
}

/* The object no longer lacks a chunk on the set: clean, or misplaced
 * while copies are left elsewhere. */
static void rec_degraded_fixed(struct pgrun *pg, struct obj *o)
{
	struct obj_st *st = o->st;
	bool extra = false;

	for (uint32_t i = 0; i < st->nloc && !extra; i++) {
		extra = true;
		for (uint32_t pos = 0; pos < pg->size; pos++)
			if (pg->set[pos] == st->loc[i].osd && pg_role(pg, pos) == st->loc[i].role)
				extra = false;
	}
	st->miss = 0;
	if (extra && !st->del) {
		st->kind = OBJ_MISPLACED;
		if (list_push(&pg->mis, &pg->nmis, &pg->mis_cap, o))
			pg_obj_st_clear(o);	/* found again at the next peering */
		else if (!pg->n_misplaced++)
			pg_publish(pg);
	} else {
		pg_obj_st_clear(o);
	}
	rec_count(pg, &pg->n_degraded);
}

void pg_rec_done(struct osd_op *op, bool ok)
{
	struct obj *o = op->obj;
	struct pgrun *pg = op->pg;
	struct osd *osd = pg->osd;
	struct osd_pgs *P = osd->pgs;
	struct osd_op *parent = op->parent;
	bool mine = op->round == pg->round && o->st && o->pg == pg;

	if (ok && mine && op->phase != REC_NONE) {
		if (op->phase == REC_EXTRAS) {
			pg_obj_st_clear(o);
			osd->rec_misplaced_count++;
			osd->rec_misplaced_bytes += osd->block_size;
			rec_count(pg, &pg->n_misplaced);
		} else {
			if (op->phase == REC_REWRITE)
				o->version = op->newver;
			if (op->phase == REC_DELETE) {
				o->version = o->st->tver;
				o->deleted = true;
			}
			pg_sync_written(osd, NULL, pg);
			osd->rec_degraded_count++;
			if (op->phase != REC_DELETE)
				osd->rec_degraded_bytes += osd->block_size;
			rec_degraded_fixed(pg, o);
		}
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

static void rec_step(struct osd_op *op);

static void rec_put(struct osd_op *op)
{
	if (--op->pending)
		return;
	if (op->result == -EEXIST && op->phase == REC_WRITE) {
		op->phase = REC_REWRITE;
		rec_step(op);
		return;
	}
	pg_rec_done(op, op->result == 0);
}

static const char *rec_obj(const struct osd_op *op, char *buf, size_t len)
{
	const struct obj *o = op->obj;

	snprintf(buf, len, "%" PRIx64 ":%" PRIx64, o->inode, o->stripe);
	return buf;
}

/* A sub-op or local op result; -ENOENT is fine for a deletion. */
static void rec_result(struct osd_op *op, int64_t rv, const char *what, uint64_t osd_num)
{
	char b[48];

	if (rv >= 0 || (rv == -ENOENT && (op->phase == REC_DELETE || op->phase == REC_EXTRAS)))
		return;
	if (rv == -EEXIST && op->phase == REC_WRITE) {
		log_info("recovery: OSD %" PRIu64 " has a newer version of %s than the target: "
			 "rewriting it at a new version", osd_num, rec_obj(op, b, sizeof(b)));
		if (!op->result)
			op->result = -EEXIST;
		return;
	}
	log_warn("recovery: %s of %s on OSD %" PRIu64 " failed: %s", what,
		 rec_obj(op, b, sizeof(b)), osd_num, strerror((int)-rv));
	if (!op->result || op->result == -EEXIST)
		op->result = rv;
}

static void rec_to(struct osd_op *op, uint64_t osd_num, uint32_t role, uint64_t ver,
		   bool del, uint64_t del_ver);
static uint32_t next_local_extra(const struct pgrun *pg, const struct obj_st *st, uint32_t from);

static void rec_local_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;
	const struct obj_st *st = ((struct obj *)op->obj)->st;

	rec_result(op, bop->retval, "local write", op->osd->osd_num);
	if (op->phase == REC_EXTRAS && st && !op->result) {
		/* the next local extra copy, if any (op->bs is free again) */
		op->peer = next_local_extra(op->pg, st, (uint32_t)op->peer + 1);
		if (op->peer < st->nloc)
			rec_to(op, op->osd->osd_num, st->loc[op->peer].role, 0, true,
			       st->loc[op->peer].version + 1);
	}
	rec_put(op);
}

static void rec_sub_cb(struct osd_op *sub)
{
	struct osd_op *op = sub->parent;

	rec_result(op, pg_sub_retval(sub), vs_op_name(sub->opcode), sub->peer);
	rec_put(op);
}

/* Writes (ver = 0: deletes at del_ver) the chunk of role to osd_num. */
static void rec_to(struct osd_op *op, uint64_t osd_num, uint32_t role, uint64_t ver,
		   bool del, uint64_t del_ver)
{
	struct osd *osd = op->osd;
	struct obj *o = op->obj;
	struct osd_conn *c;
	struct osd_op *s;
	void *buf = op->buf, *bmp = op->bitmap;

	if (!pg_replicated(op->pg) && !del)
		pg_ec_rec_chunk(op, role, &buf, &bmp);	/* each role its chunk */
	if (osd_num == osd->osd_num) {
		memset(&op->bs, 0, sizeof(op->bs));
		op->bs.opcode = del ? BS_OP_DELETE : BS_OP_WRITE_STABLE;
		op->bs.oid.inode = o->inode;
		op->bs.oid.stripe = o->stripe | role;
		op->bs.version = del ? del_ver : ver;
		op->bs.len = del ? 0 : osd->block_size;
		op->bs.buf = del ? NULL : buf;
		op->bs.bitmap = del ? NULL : bmp;
		op->bs.cb = rec_local_cb;
		op->bs.priv = op;
		op->pending++;
		bs_submit(osd->bs, &op->bs);
		return;
	}
	c = pg_peer_conn(osd, osd_num);
	if (!c || !(s = osd_sub_new(osd, del ? VS_OP_SEC_DELETE : VS_OP_SEC_WRITE_STABLE,
				   rec_sub_cb))) {
		op->result = -EPIPE;
		return;
	}
	s->parent = op;
	s->peer = osd_num;
	if (del)
		pg_sub_delete(s, o, role, del_ver);
	else
		pg_sub_write(s, o, role, ver, 0, osd->block_size, bmp, osd->bitmap_size, buf);
	c->dirty = true;
	op->pending++;
	osd_send_sub(c, s);
}

static bool at_position(const struct pgrun *pg, const struct obj_loc *l)
{
	for (uint32_t pos = 0; pos < pg->size; pos++)
		if (pg->cur[pos] == l->osd && pg_role(pg, pos) == l->role)
			return true;
	return false;
}

/* loc[i] is a copy to delete as misplaced: not at a live position of
 * its role, and the newest version listed of that chunk on its OSD (EC
 * chunks may be listed twice, stable and unstable: deleted once, above
 * the newest). */
static bool extra_copy(const struct pgrun *pg, const struct obj_st *st, uint32_t i)
{
	const struct obj_loc *l = &st->loc[i];

	if (at_position(pg, l))
		return false;
	for (uint32_t j = 0; j < st->nloc; j++) {
		const struct obj_loc *o = &st->loc[j];

		if (j != i && o->osd == l->osd && o->role == l->role &&
		    (o->version > l->version || (o->version == l->version && j < i)))
			return false;
	}
	return true;
}

/* The first copy from index from on that this OSD deletes (nloc: none). */
static uint32_t next_local_extra(const struct pgrun *pg, const struct obj_st *st, uint32_t from)
{
	while (from < st->nloc && (st->loc[from].osd != pg->osd->osd_num || !extra_copy(pg, st, from)))
		from++;
	return from;
}

/* Sends the writes or deletions of the current phase. */
static void rec_step(struct osd_op *op)
{
	struct obj *o = op->obj;
	struct pgrun *pg = op->pg;
	struct obj_st *st = o->st;

	op->pending = 1;
	op->result = 0;
	if (op->round != pg->round || !st || pg->st != PG_ACTIVE) {
		op->result = -EPIPE;
		rec_put(op);
		return;
	}
	switch (op->phase) {
	case REC_WRITE:
		for (uint32_t pos = 0; pos < pg->size; pos++)
			if (st->miss & (1ull << pos))
				rec_to(op, pg->cur[pos], pg_role(pg, pos), st->tver, false, 0);
		break;
	case REC_REWRITE:
		op->newver = pg_next_version(pg, o);
		if (!op->newver) {
			op->result = -EPIPE;
			break;
		}
		for (uint32_t pos = 0; pos < pg->size; pos++)
			if (pg->cur[pos])
				rec_to(op, pg->cur[pos], pg_role(pg, pos), op->newver, false, 0);
		break;
	case REC_DELETE:
		for (uint32_t pos = 0; pos < pg->size; pos++)
			if (pg->cur[pos])
				rec_to(op, pg->cur[pos], pg_role(pg, pos), 0, true, st->tver);
		for (uint32_t i = 0; i < st->nloc; i++)
			if (!at_position(pg, &st->loc[i]))
				rec_to(op, st->loc[i].osd, st->loc[i].role, 0, true, st->tver);
		break;
	case REC_EXTRAS:
		for (uint32_t i = 0; i < st->nloc; i++) {
			const struct obj_loc *l = &st->loc[i];

			if (extra_copy(pg, st, i) && l->osd != pg->osd->osd_num)
				rec_to(op, l->osd, l->role, 0, true, l->version + 1);
		}
		/* this OSD's own (EC: chunks of other roles than its
		 * position's) one after another on op->bs, rec_local_cb */
		op->peer = next_local_extra(pg, st, 0);
		if (op->peer < st->nloc)
			rec_to(op, pg->osd->osd_num, st->loc[op->peer].role, 0, true,
			       st->loc[op->peer].version + 1);
		break;
	}
	rec_put(op);
}

static void rec_read_local_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;
	struct obj *o = op->obj;
	uint64_t want = o->st ? o->st->tver : 0;

	if (bop->retval < 0 || bop->version != want) {
		log_warn("recovery: local read of %" PRIx64 ":%" PRIx64 " v%" PRIu64
			 " failed: %d (version %" PRIu64 ")", o->inode, o->stripe, want,
			 bop->retval, bop->version);
		pg_rec_done(op, false);
		return;
	}
	op->phase = REC_WRITE;
	rec_step(op);
}

static void rec_read_sub_cb(struct osd_op *sub)
{
	struct osd_op *op = sub->parent;
	struct osd *osd = op->osd;
	struct obj *o = op->obj;
	int64_t rv = pg_sub_retval(sub);
	uint32_t al = vs_le32_get(sub->reply.reply_sec_rw.attr_len);
	uint64_t want = o->st ? o->st->tver : 0;

	if (rv != (int64_t)osd->block_size || !sub->rbuf ||
	    vs_le64_get(sub->reply.reply_sec_rw.version) != want) {
		log_warn("recovery: SEC_READ of %" PRIx64 ":%" PRIx64 " v%" PRIu64 " from OSD %"
			 PRIu64 " failed: %" PRId64, o->inode, o->stripe, want, sub->peer, rv);
		pg_rec_done(op, false);
		return;
	}
	memset(op->bitmap, 0, osd->bitmap_size);
	memcpy(op->bitmap, sub->rbuf, al < osd->bitmap_size ? al : osd->bitmap_size);
	memcpy(op->buf, (uint8_t *)sub->rbuf + al, osd->block_size);
	op->phase = REC_WRITE;
	rec_step(op);
}

/* A live copy of the target chunk of role: this OSD's if it has one. */
static const struct obj_loc *rec_source(const struct pgrun *pg, const struct obj_st *st,
					uint32_t role)
{
	const struct obj_loc *best = NULL;

	for (uint32_t i = 0; i < st->nloc; i++) {
		const struct obj_loc *l = &st->loc[i];

		if (l->version != st->tver || l->role != role)
			continue;
		if (l->osd == pg->osd->osd_num)
			return l;
		if (!best)
			best = l;
	}
	return best;
}

void pg_rec_read_done(struct osd_op *op, bool ok)
{
	if (!ok) {
		pg_rec_done(op, false);
		return;
	}
	op->phase = REC_WRITE;
	rec_step(op);
}

static void rec_read(struct osd_op *op)
{
	struct obj *o = op->obj;
	struct pgrun *pg = op->pg;
	struct osd *osd = pg->osd;
	const struct obj_loc *src;
	struct osd_conn *c = NULL;
	struct osd_op *s;

	if (!pg_replicated(pg)) {
		/* k chunks of the target version, the missing ones decoded */
		op->phase = REC_READ;
		pg_ec_rec_read(op);
		return;
	}
	src = rec_source(pg, o->st, 0);

	if (osd->bitmap_size <= sizeof(op->bmp_inline)) {
		op->bitmap = op->bmp_inline;
	} else {
		op->bmp = osd_buf_get(osd, osd->bitmap_size, &op->bmp_size);
		op->bitmap = op->bmp;
	}
	op->buf = osd_buf_get(osd, osd->block_size, &op->buf_size);
	if (!op->bitmap || !op->buf || !src) {
		pg_rec_done(op, false);
		return;
	}
	op->phase = REC_READ;
	if (src->osd == osd->osd_num) {
		memset(&op->bs, 0, sizeof(op->bs));
		op->bs.opcode = BS_OP_READ;
		op->bs.oid.inode = o->inode;
		op->bs.oid.stripe = o->stripe | src->role;
		op->bs.version = o->st->tver;
		op->bs.len = osd->block_size;
		op->bs.buf = op->buf;
		op->bs.bitmap = op->bitmap;
		op->bs.cb = rec_read_local_cb;
		op->bs.priv = op;
		bs_submit(osd->bs, &op->bs);
		return;
	}
	c = pg_peer_conn(osd, src->osd);
	if (!c || !(s = osd_sub_new(osd, VS_OP_SEC_READ, rec_read_sub_cb))) {
		pg_rec_done(op, false);
		return;
	}
	s->parent = op;
	s->peer = src->osd;
	vs_le64_set(&s->req.sec_rw.oid.inode, o->inode);
	vs_le64_set(&s->req.sec_rw.oid.stripe, o->stripe | src->role);
	vs_le64_set(&s->req.sec_rw.version, o->st->tver);
	vs_le32_set(&s->req.sec_rw.offset, 0);
	vs_le32_set(&s->req.sec_rw.len, osd->block_size);
	osd_send_sub(c, s);
}

static void rec_synced(struct osd_op *op, int64_t result)
{
	if (result < 0) {
		pg_rec_done(op, false);
		return;
	}
	rec_step(op);
}

void pg_rec_start(struct osd_op *op)
{
	struct obj *o = op->obj;
	struct pgrun *pg = op->pg;

	op->phase = REC_NONE;
	if (pg->st != PG_ACTIVE || op->round != pg->round || !o->st || o->pg != pg) {
		/* fixed meanwhile (a parent client op just runs), or re-peered */
		pg_rec_done(op, pg->st == PG_ACTIVE && !o->st);
		return;
	}
	switch (o->st->kind) {
	case OBJ_DEGRADED:
		if (o->st->del) {
			op->phase = REC_DELETE;
			rec_step(op);
		} else {
			rec_read(op);
		}
		return;
	case OBJ_MISPLACED:
		if (op->parent || pg->degraded) {
			pg_rec_done(op, !pg->degraded);
			return;
		}
		op->phase = REC_EXTRAS;
		pg_sync(pg->osd, op, rec_synced);
		return;
	case OBJ_INCOMPLETE:
		break;
	}
	pg_rec_done(op, false);
}
