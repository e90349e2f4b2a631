/* Primary SYNC and lazy mode (spec §4.0.4, §7, §8.3).
 *
 * A sync makes every write this primary acknowledged durable, here
 * (blockstore SYNC) and on every peer written since the last sync
 * (SEC_SYNC on each dirty peer connection). Syncs are serialized per OSD:
 * callers that come while one runs wait for the next one (their writes may
 * not be covered by the running one), and all of them share it. Recovery
 * uses the same path before it deletes the extra copies of misplaced
 * objects in lazy mode. EC writes acknowledged since the last sync are
 * stabilized once the sync made them durable, before it is answered.
 *
 * Without immediate_commit=all an acknowledged write is durable only after
 * a sync. The OSD syncs by itself every autosync_interval and after
 * autosync_writes writes. Each client connection remembers the PGs it has
 * writes in that no sync covered yet; when such a PG re-peers, those
 * writes may be missing on the new set, so the connection is dropped and
 * the client replays what it retained (spec §7). */
#include "osd_pg.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void sync_start(struct pg_syncer *s);

static bool lazy(const struct osd *osd)
{
	return osd->immediate_commit != BS_IC_ALL;
}

static void sync_finish(struct pg_syncer *s)
{
	struct osd_op *op, *next;

	s->running = false;
	if (!s->result && s->run_seq > s->synced_seq)
		s->synced_seq = s->run_seq;
	for (op = s->run, s->run = NULL; op; op = next) {
		next = op->wnext;
		op->sync_cb(op, s->result);
	}
	if (s->next_head)
		sync_start(s);
}

static void stab_done(struct osd *osd, int64_t result)
{
	struct pg_syncer *s = &osd->pgs->sync;

	if (result < 0 && !s->result)
		s->result = result;
	sync_finish(s);
}

/* The EC writes this sync covers are durable now: stabilize them before
 * the sync is answered (spec §4.0.4). After a failed sync they wait for
 * the next one. */
static void sync_put(struct pg_syncer *s)
{
	struct pg_unstable_list *run = &s->run_unst, *q = &s->osd->pgs->unst;

	if (--s->pending)
		return;
	if (run->n && !s->result) {
		pg_unstable_stabilize(s->osd, run, stab_done);
		return;
	}
	for (size_t i = 0; i < run->n; i++)
		pg_unstable_push(q, &run->v[i]);	/* no memory: peering stabilizes it */
	run->n = 0;
	sync_finish(s);
}

static void sync_local_cb(struct bs_op *bop)
{
	struct pg_syncer *s = bop->priv;

	if (bop->retval < 0 && !s->result) {
		log_err("sync: local blockstore sync failed: %s", strerror(-bop->retval));
		s->result = bop->retval;
	}
	sync_put(s);
}

static void sync_sub_cb(struct osd_op *sub)
{
	struct pg_syncer *s = &sub->osd->pgs->sync;
	int64_t rv = pg_sub_retval(sub);

	if (rv < 0 && !s->result) {
		log_warn("sync: SEC_SYNC on OSD %" PRIu64 " failed: %s", sub->peer,
			 strerror((int)-rv));
		s->result = rv;
	}
	sync_put(s);
}

static void sync_start(struct pg_syncer *s)
{
	struct osd *osd = s->osd;
	struct osd_pgs *P = osd->pgs;

	struct pg_unstable_list t = s->run_unst;

	s->run = s->next_head;
	s->next_head = s->next_tail = NULL;
	/* swap: the queued unstable writes go with this sync */
	s->run_unst = P->unst;
	P->unst = t;
	P->unst.n = 0;
	s->running = true;
	s->result = 0;
	s->pending = 2;
	s->run_seq = s->write_seq;
	s->since_sync = 0;
	memset(&s->bs, 0, sizeof(s->bs));
	s->bs.opcode = BS_OP_SYNC;
	s->bs.cb = sync_local_cb;
	s->bs.priv = s;
	bs_submit(osd->bs, &s->bs);
	for (size_t i = 0; i < P->npeers; i++) {
		struct osd_conn *c = P->peers[i].c;
		struct osd_op *sub;

		if (!c->dirty)
			continue;
		sub = osd_sub_new(osd, VS_OP_SEC_SYNC, sync_sub_cb);
		if (!sub) {
			s->result = -ENOMEM;
			continue;
		}
		c->dirty = false;
		sub->peer = c->peer_osd;
		s->pending++;
		osd_send_sub(c, sub);
	}
	sync_put(s);
}

void pg_sync(struct osd *osd, struct osd_op *op, void (*cb)(struct osd_op *op, int64_t result))
{
	struct pg_syncer *s = &osd->pgs->sync;

	if (!lazy(osd)) {
		cb(op, 0);
		return;
	}
	op->sync_cb = cb;
	op->wnext = NULL;
	if (s->next_tail)
		s->next_tail->wnext = op;
	else
		s->next_head = op;
	s->next_tail = op;
	if (!s->running)
		sync_start(s);
}

/* ---- autosync ---- */

static void auto_done(struct osd_op *op, int64_t result)
{
	struct pg_syncer *s = &op->osd->pgs->sync;

	if (result < 0)
		log_warn("autosync failed: %s", strerror((int)-result));
	s->auto_op = NULL;
	osd_op_free(op->osd, op);
}

static void autosync(struct osd *osd)
{
	struct pg_syncer *s = &osd->pgs->sync;
	struct osd_op *op;

	if (s->auto_op || osd->pgs->stopping || !(op = osd_op_alloc(osd)))
		return;
	s->auto_op = op;
	pg_sync(osd, op, auto_done);
}

static uint64_t interval_ms(const struct osd *osd)
{
	return osd->cfg ? cfg_ms(osd->cfg, "autosync_interval") : 0;
}

static void timer_cb(struct ringloop_timer *t)
{
	struct pg_syncer *s = (struct pg_syncer *)(void *)((char *)t - offsetof(struct pg_syncer, timer));
	uint64_t ms = interval_ms(s->osd);

	if (s->osd->pgs->stopping)
		return;
	if (ms && s->write_seq > s->synced_seq && !s->running)
		autosync(s->osd);
	ringloop_timer_add(s->osd->rl, &s->timer, ringloop_now_ns() + (ms ? ms : 1000) * 1000000ull);
}

void pg_sync_config(struct osd *osd)
{
	osd->pgs->sync.autosync_writes = osd->cfg ? cfg_u64(osd->cfg, "autosync_writes") : 0;
}

void pg_sync_init(struct osd *osd)
{
	struct pg_syncer *s = &osd->pgs->sync;

	s->osd = osd;
	pg_sync_config(osd);
	ringloop_timer_init(&s->timer, timer_cb);
	if (lazy(osd))
		ringloop_timer_add(osd->rl, &s->timer, ringloop_now_ns() + 1000000000ull);
}

void pg_sync_stop(struct osd *osd)
{
	ringloop_timer_del(osd->rl, &osd->pgs->sync.timer);
}

/* ---- unsynced writes of clients ---- */

static void conn_mark(struct osd_conn *c, struct pgrun *pg, uint64_t seq, uint64_t synced)
{
	uint32_t i, k = 0;

	for (i = 0; i < c->ndirty; i++)
		if (c->dirty_pgs[i].pg == pg) {
			c->dirty_pgs[i].seq = seq;
			return;
		}
	/* forget PGs a sync has covered since */
	for (i = 0; i < c->ndirty; i++)
		if (c->dirty_pgs[i].seq > synced)
			c->dirty_pgs[k++] = c->dirty_pgs[i];
	c->ndirty = k;
	if (k < OSD_CONN_DIRTY) {
		c->dirty_pgs[k].pg = pg;
		c->dirty_pgs[k].seq = seq;
		c->ndirty++;
	} else {
		c->dirty_all = seq;
	}
}

void pg_sync_written(struct osd *osd, struct osd_conn *c, struct pgrun *pg)
{
	struct pg_syncer *s = &osd->pgs->sync;
	uint64_t every;

	if (!lazy(osd))
		return;
	s->write_seq++;
	if (c && !c->peer_osd && !c->closing)
		conn_mark(c, pg, s->write_seq, s->synced_seq);
	every = s->autosync_writes;
	if (every && ++s->since_sync >= every)
		autosync(osd);
}

static bool conn_dirty_in(const struct osd_conn *c, const struct pgrun *pg, uint64_t synced)
{
	if (c->dirty_all > synced)
		return true;
	for (uint32_t i = 0; i < c->ndirty; i++)
		if (c->dirty_pgs[i].pg == pg && c->dirty_pgs[i].seq > synced)
			return true;
	return false;
}

void pg_sync_drop_dirty(struct pgrun *pg)
{
	struct osd *osd = pg->osd;
	uint64_t synced = osd->pgs->sync.synced_seq;
	struct osd_conn *c, *next;

	if (!lazy(osd))
		return;
	for (c = osd->conns; c; c = next) {
		next = c->next;
		if (c->peer_osd || c->closing || !conn_dirty_in(c, pg, synced))
			continue;
		log_info("PG %" PRIu64 "/%u re-peers: dropping client connection %llu, which has "
			 "writes there no SYNC covered (the client replays them)", pg->pool_id,
			 pg->num, (unsigned long long)c->serial);
		osd_conn_close(c, "unsynced writes in a re-peered PG");
	}
}
