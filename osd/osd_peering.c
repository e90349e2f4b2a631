/* Peering of a replicated PG (spec §8.2): SEC_SYNC + SEC_LIST to every
 * other osd_set member over outgoing connections (and a local list); per
 * object the highest version is kept so writes go on above it; members
 * that answer are the live set. Below pg_minsize live members the PG is
 * "incomplete", else "active" (+ "degraded" below pg_size; "has_degraded"
 * when some object's newest version is not on every live member; those
 * objects form the PG's degraded list, repaired by osd_recovery.c). No
 * pg/history, no misplaced objects yet. */
#include "osd_pg.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>


static int cmp_ver(const void *a, const void *b)
{
	const struct bs_obj_ver *x = a, *y = b;

	if (x->inode != y->inode)
		return x->inode < y->inode ? -1 : 1;
	if (x->stripe != y->stripe)
		return x->stripe < y->stripe ? -1 : 1;
	return x->version > y->version ? -1 : x->version < y->version ? 1 : 0;
}

/* Merges one member's list (native byte order, sorted here). */
static void merge_list(struct pgrun *pg, struct bs_obj_ver *v, uint32_t n, uint64_t bit)
{
	struct osd_pgs *P = pg->osd->pgs;

	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_ver);
	for (uint32_t i = 0; i < n; i++) {
		struct obj *o;

		if (i && v[i].inode == v[i - 1].inode && v[i].stripe == v[i - 1].stripe)
			continue;
		o = pg_obj_get(P, v[i].inode, v[i].stripe, true);
		if (!o)
			continue;
		if (o->gen != pg->round) {
			o->gen = pg->round;
			o->pg = pg;
			o->pver = v[i].version;
			o->cnt = 1;
			o->have = bit;
		} else if (v[i].version > o->pver) {
			o->pver = v[i].version;
			o->cnt = 1;
			o->have = bit;
		} else if (v[i].version == o->pver) {
			o->cnt++;
			o->have |= bit;
		}
	}
}

static void peer_done(struct pgrun *pg)
{
	struct osd_pgs *P = pg->osd->pgs;
	uint64_t objs = 0;

	if (--pg->pending)
		return;
	pg->peering = false;
	if (P->stopping)
		return;
	if (pg->repeer) {
		pg->repeer = false;
		if (pg->st != PG_OFF)
			pg_peer(pg);
		return;
	}
	if (pg->st != PG_PEERING)
		return;
	pg->nlive = 0;
	for (uint32_t i = 0; i < pg->size; i++)
		if (pg->ok_mask & (1ull << i)) {
			if (pg->set[i] != pg->osd->osd_num)
				pg->live[pg->nlive] = pg->set[i], pg->nlive++;
		}
	pg->nlive++;	/* this OSD (its local list must have succeeded) */
	if (!(pg->ok_mask & (1ull << 63)))
		pg->nlive = 0;
	pg->live_mask = 0;
	for (uint32_t i = 0; i < pg->size; i++)
		if (i != pg->self_idx && (pg->ok_mask & (1ull << i)))
			pg->live_mask |= 1ull << i;
	if (pg->ok_mask & (1ull << 63))
		pg->live_mask |= 1ull << pg->self_idx;
	pg->nrec = pg->rec_pos = pg->rec_left = 0;
	for (uint32_t b = 0; b < OBJ_BUCKETS; b++)
		for (struct obj *o = P->buckets[b]; o; o = o->next) {
			if (o->pg != pg)
				continue;
			o->miss = 0;
			if (o->gen != pg->round)
				continue;	/* listed by no member */
			objs++;
			if (o->del_ver && o->del_ver == o->version && o->version > o->pver) {
				o->rec_del = true;	/* deleted here, still on some */
				o->miss = o->have & pg->live_mask;
				o->tver = o->version;
			} else {
				if (o->pver > o->version)
					o->version = o->pver;
				o->rec_del = false;
				o->miss = pg->live_mask & ~o->have;
				o->tver = o->pver;
			}
			if (!o->miss)
				continue;
			if (pg->nrec == pg->rec_cap) {
				uint32_t cap = pg->rec_cap ? pg->rec_cap * 2 : 64;
				struct obj **n = realloc(pg->rec, cap * sizeof(*n));

				if (!n) {
					o->miss = 0;
					log_err("PG %" PRIu64 "/%u: out of memory for the degraded list",
						pg->pool_id, pg->num);
					continue;
				}
				pg->rec = n;
				pg->rec_cap = cap;
			}
			pg->rec[pg->nrec++] = o;
		}
	pg->rec_left = pg->nrec;
	pg->has_degraded = pg->nrec;
	pg->nobjs = objs;
	if (pg->nlive < pg->minsize) {
		pg->st = PG_INCOMPLETE;
		log_warn("PG %" PRIu64 "/%u: incomplete (%u of %u OSDs live, pg_minsize %u)",
			 pg->pool_id, pg->num, pg->nlive, pg->size, pg->minsize);
	} else {
		pg->st = PG_ACTIVE;
		pg->degraded = pg->nlive < pg->size;
		log_info("PG %" PRIu64 "/%u: active%s, %u of %u OSDs live, %" PRIu64 " objects, "
			 "has_degraded %" PRIu64, pg->pool_id, pg->num,
			 pg->degraded ? "+degraded" : "", pg->nlive, pg->size, objs, pg->has_degraded);
	}
	pg_publish(pg);
	pg_stats_publish(pg);
	if (pg->st == PG_ACTIVE)
		pg_rec_kick(P);
}

static struct pgrun *sub_pg(struct osd_op *sub)
{
	return sub->pg;
}

static void peer_sync_cb(struct osd_op *sub)
{
	peer_done(sub_pg(sub));
}

static void peer_list_cb(struct osd_op *sub)
{
	struct pgrun *pg = sub_pg(sub);
	int64_t rv = pg_sub_retval(sub);

	if (rv >= 0 && sub->round == pg->round) {
		struct bs_obj_ver *v = sub->rbuf;

		for (int64_t i = 0; i < rv; i++) {
			v[i].inode = vs_le64_get(v[i].inode);
			v[i].stripe = vs_le64_get(v[i].stripe);
			v[i].version = vs_le64_get(v[i].version);
		}
		merge_list(pg, v, (uint32_t)rv, 1ull << sub->peer);
		pg->ok_mask |= 1ull << sub->peer;
	} else if (rv < 0) {
		log_info("PG %" PRIu64 "/%u: OSD %" PRIu64 " did not answer SEC_LIST (%s)",
			 pg->pool_id, pg->num, pg->set[sub->peer], strerror((int)-rv));
	}
	peer_done(pg);
}

static void local_list_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;
	struct pgrun *pg = op->pg;

	if (bop->retval >= 0 && op->round == pg->round) {
		merge_list(pg, bop->list, bop->list_count, 1ull << pg->self_idx);
		pg->ok_mask |= 1ull << 63;
	} else if (bop->retval < 0) {
		log_err("PG %" PRIu64 "/%u: local list failed: %s", pg->pool_id, pg->num,
			strerror(-bop->retval));
	}
	osd_op_free(op->osd, op);
	peer_done(pg);
}

void pg_peer(struct pgrun *pg)
{
	struct osd *osd = pg->osd;
	struct osd_pgs *P = osd->pgs;
	struct osd_op *op;
	const char *a;
	int port;

	if (pg->peering) {
		pg->repeer = true;
		return;
	}
	pg->st = PG_PEERING;
	pg->peering = true;
	pg->repeer = false;
	pg->round = ++P->gen;
	pg->ok_mask = 0;
	pg->up_mask = 0;
	pg->pending = 1;
	pg->self_idx = 63;
	for (uint32_t i = 0; i < pg->size; i++)
		if (pg->set[i] == osd->osd_num)
			pg->self_idx = i;
	pg_publish(pg);
	for (uint32_t i = 0; i < pg->size; i++) {
		uint64_t m = pg->set[i];
		struct osd_conn *c;
		struct osd_op *s1, *s2;

		if (!m)
			continue;
		if (m == osd->osd_num) {
			pg->up_mask |= 1ull << i;
			continue;
		}
		if (osd_etcd_peer(osd, m, &a, &port))
			pg->up_mask |= 1ull << i;
		c = pg_peer_conn(osd, m);
		if (!c)
			continue;
		s1 = pg_sub_new(osd, VS_OP_SEC_SYNC, peer_sync_cb);
		s2 = pg_sub_new(osd, VS_OP_SEC_LIST, peer_list_cb);
		if (!s1 || !s2) {
			if (s1)
				osd_op_free(osd, s1);
			if (s2)
				osd_op_free(osd, s2);
			continue;
		}
		s1->pg = s2->pg = pg;
		s2->round = pg->round;
		s2->peer = i;
		vs_le32_set(&s2->req.sec_list.pg_num, pg->num);
		vs_le32_set(&s2->req.sec_list.pg_count, pg->pg_count);
		vs_le64_set(&s2->req.sec_list.pg_stripe_size, pg->pg_stripe_size);
		vs_le64_set(&s2->req.sec_list.min_inode, pg->pool_id << VS_INODE_NUM_BITS);
		vs_le64_set(&s2->req.sec_list.max_inode,
			    (pg->pool_id << VS_INODE_NUM_BITS) | VS_INODE_NUM_MASK);
		pg->pending += 2;
		osd_send_sub(c, s1);
		osd_send_sub(c, s2);
	}
	op = osd_op_alloc(osd);
	if (op) {
		memset(&op->bs, 0, sizeof(op->bs));
		op->pg = pg;
		op->round = pg->round;
		op->bs.opcode = BS_OP_LIST;
		op->bs.pg_num = pg->num;
		op->bs.pg_count = pg->pg_count;
		op->bs.pg_stripe_size = pg->pg_stripe_size;
		op->bs.min_inode = pg->pool_id << VS_INODE_NUM_BITS;
		op->bs.max_inode = (pg->pool_id << VS_INODE_NUM_BITS) | VS_INODE_NUM_MASK;
		op->bs.cb = local_list_cb;
		op->bs.priv = op;
		pg->pending++;
		bs_submit(osd->bs, &op->bs);
	}
	peer_done(pg);
}

void pg_repeer(struct pgrun *pg)
{
	if (pg->st == PG_OFF || pg->st == PG_STARTING)
		return;
	pg_peer(pg);
}
