/* EC peering fix-ups (spec §8.2 step 4, §8.3): once the lists are merged
 * and each object's target version is known, every unstable chunk version
 * newer than the target is rolled back (SEC_ROLLBACK to the target) and
 * every unstable one at or below it stabilized, on the peer that holds it,
 * before the PG activates. So a stripe whose write reached fewer than
 * data_chunks roles goes back to its old version everywhere, one that
 * reached enough goes forward to the new one everywhere, and the chunks a
 * later read combines are never of different versions.
 *
 * The peers synced before listing (SEC_SYNC), so their unstable versions
 * are durable and may be stabilized; this OSD syncs its own blockstore
 * first for the same reason. */
#include "osd_pg.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int pg_ec_fix_collect(struct pgrun *pg, const struct pent *e, size_t n, uint64_t tver)
{
	for (size_t k = 0; k < n; k++) {
		struct pg_peer *p = &pg->peers[e[k].peer];
		uint64_t chunk = e[k].stripe | e[k].role;

		if (e[k].stable)
			continue;
		if (e[k].version > tver ? pg_ver_push(&p->rb, e[k].inode, chunk, tver)
					: pg_ver_push(&p->stab, e[k].inode, chunk, e[k].version))
			return -ENOMEM;
	}
	return 0;
}

void pg_ec_fix_free(struct pgrun *pg)
{
	for (uint32_t i = 0; i < pg->npeers; i++) {
		struct pg_peer *p = &pg->peers[i];

		free(p->rb.v);
		free(p->stab.v);
		memset(&p->rb, 0, sizeof(p->rb));
		memset(&p->stab, 0, sizeof(p->stab));
	}
}

static void fix_failed(struct pgrun *pg, uint64_t osd, const char *what, int64_t rv)
{
	log_warn("PG %" PRIu64 "/%u: %s on OSD %" PRIu64 " failed: %s; peering again",
		 pg->pool_id, pg->num, what, osd, strerror((int)-rv));
	pg->peer_err = true;
}

static void fix_sub_cb(struct osd_op *sub)
{
	struct pgrun *pg = sub->pg;
	int64_t rv = pg_sub_retval(sub);

	if (rv < 0)
		fix_failed(pg, sub->peer, vs_op_name(sub->opcode), rv);
	pg_peer_put(pg);
}

/* This OSD's fix-ups, one after another on one op: SYNC, ROLLBACK,
 * STABILIZE (phase 0, 1, 2). */
static void fix_local_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;
	struct pgrun *pg = op->pg;
	struct pg_peer *p = &pg->peers[op->peer];
	static const char *const what[] = { "sync", "rollback", "stabilize" };

	if (bop->retval < 0) {
		fix_failed(pg, op->osd->osd_num, what[op->phase], bop->retval);
		op->phase = 2;
	}
	while (++op->phase <= 2) {
		struct ver_list *l = op->phase == 1 ? &p->rb : &p->stab;

		if (!l->n)
			continue;
		memset(&op->bs, 0, sizeof(op->bs));
		op->bs.opcode = op->phase == 1 ? BS_OP_ROLLBACK : BS_OP_STABILIZE;
		op->bs.vers = l->v;
		op->bs.nvers = l->n;
		op->bs.cb = fix_local_cb;
		op->bs.priv = op;
		bs_submit(op->osd->bs, &op->bs);
		return;
	}
	osd_op_free(op->osd, op);
	pg_peer_put(pg);
}

static void fix_local(struct pgrun *pg, uint32_t idx)
{
	struct osd_op *op = osd_op_alloc(pg->osd);

	if (!op) {
		fix_failed(pg, pg->osd->osd_num, "fix-up", -ENOMEM);
		return;
	}
	op->pg = pg;
	op->peer = idx;
	op->phase = 0;
	memset(&op->bs, 0, sizeof(op->bs));
	op->bs.opcode = BS_OP_SYNC;
	op->bs.cb = fix_local_cb;
	op->bs.priv = op;
	pg->pending++;
	bs_submit(pg->osd->bs, &op->bs);
}

static void fix_remote(struct pgrun *pg, struct pg_peer *p, uint64_t opcode, struct ver_list *l)
{
	struct osd_op *s;

	if (!l->n)
		return;
	s = pg_sub_vers(pg->osd, p->osd, opcode, l->v, l->n, fix_sub_cb);
	if (!s) {
		fix_failed(pg, p->osd, vs_op_name(opcode), -EPIPE);
		return;
	}
	s->pg = pg;
	pg->pending++;
}

bool pg_ec_fix_start(struct pgrun *pg)
{
	uint64_t nrb = 0, nstab = 0;

	for (uint32_t i = 0; i < pg->npeers; i++) {
		nrb += pg->peers[i].rb.n;
		nstab += pg->peers[i].stab.n;
	}
	if (!nrb && !nstab)
		return false;
	log_info("PG %" PRIu64 "/%u: peered+has_unclean: rolling back %" PRIu64 " and "
		 "stabilizing %" PRIu64 " unstable chunk versions", pg->pool_id, pg->num, nrb, nstab);
	pg->phase = PH_FIX;
	/* spec §8.1: "peered" + has_unclean while they run (clients' ops
	 * get -EPIPE until "active"); in etcd before they start, so that
	 * the state is seen, not coalesced away by the next publish */
	pg->st = PG_PEERED;
	pg->unclean = true;
	pg->fix_pub = true;
	pg_peer_flags(pg);
	pg->pending = 1;	/* held until published */
	pg_publish(pg);
	return true;
}

void pg_ec_fix_published(struct pgrun *pg)
{
	pg->fix_pub = false;
	if (pg->st != PG_PEERED || pg->repeer || pg->peer_err) {
		pg_peer_put(pg);	/* interrupted: peer_put() ends it */
		return;
	}
	for (uint32_t i = 0; i < pg->npeers; i++) {
		struct pg_peer *p = &pg->peers[i];

		if (!p->rb.n && !p->stab.n)
			continue;
		if (p->osd == pg->osd->osd_num) {
			fix_local(pg, i);
		} else {
			fix_remote(pg, p, VS_OP_SEC_ROLLBACK, &p->rb);
			fix_remote(pg, p, VS_OP_SEC_STABILIZE, &p->stab);
		}
	}
	pg_peer_put(pg);
}
