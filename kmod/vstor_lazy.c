// SPDX-License-Identifier: GPL-2.0
/*
 * Lazy pools (immediate_commit != "all", spec 7): replay of acknowledged
 * but unsynced writes.
 *
 * An OSD acknowledges a write before it is durable; only a later SYNC to
 * that OSD makes it so, and an OSD that crashes (or re-peers the PG and
 * drops our connection on purpose) may have lost it. So the device keeps a
 * private copy of every write and delete acknowledged since its covering
 * SYNC and sends it again when that can have happened. Devices of
 * immediate_commit=all pools have no vs_lazy at all: no copies, and the
 * hot paths test one pointer.
 *
 * Retention. queue_rq reserves a slot (and arena pages for the data) for
 * every WRITE/DELETE part before it is sent; both are preallocated at MAP
 * (max_dirty_ops slots, max_dirty_bytes of pages), so nothing is allocated
 * per write. A request that finds no room is requeued by blk-mq
 * (BLK_STS_DEV_RESOURCE) and runs again once a SYNC freed some: writes
 * wait, they never fail. When the OSD acknowledges the part, the data is
 * copied into the slot's pages and the slot joins the retained list, which
 * is in ack order (gen). Reaching half of either limit starts an automatic
 * SYNC, so writing goes on while it runs.
 *
 * Replay. A retained write is marked for replay when the connection that
 * carried its ack breaks or is removed, and when its PG's primary is
 * another OSD (at SET_MAP, or at the ack if that raced with one). Marking
 * one write of a PG marks every retained write of that PG, so that the
 * replay restores the PG's writes in their original order whatever the
 * OSDs kept. While a PG has writes to replay no other part of it is sent:
 * new parts are held here, parts already queued are held when their
 * connection would send them (it may reconnect before the work item runs),
 * and the work item takes the ones already in flight back from every
 * connection (they are resent after the replay, which also puts them after
 * it on the OSD). Acks of that PG
 * that arrive meanwhile are marked for replay too. The replays go to the
 * PG's current primary in list order, at most one per object in flight:
 * when one fails (-EPIPE while the PG activates, a dropped connection) no
 * later write of the object can have been applied before it. Acknowledged
 * again, a write is retained as before (same gen, new connection).
 *
 * SYNC. A flush (and a FUA write once written) waits here until no write
 * retained when it started is left. The work item sends the SYNCs, once
 * no replay is pending, to each connection with acks no SYNC covers yet;
 * a SYNC covers the acks its connection had counted when it was queued,
 * and frees them when it succeeds. A SYNC lost with its connection costs
 * nothing (the writes are replayed and synced again); a SYNC the OSD
 * refuses fails the waiting flushes and leaves the writes retained for
 * the next.
 *
 * What cannot be replayed: a retained write the OSD rejects with anything
 * but -EPIPE (-EIO, -EINVAL, -ENOSPC...) is dropped; dev->sync_lost then
 * fails the next flush with EIO, the only way to tell the user.
 *
 * Locking: lz->lock (_bh, after dev->lock) guards the slots, the lists,
 * the counters and conn->lz_dirty/lz_seq.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/highmem.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "vstor.h"

/* Replays in flight at a time (one per object). */
#define VS_LAZY_REPLAYS		16
#define VS_LAZY_OPS		(VS_LAZY_REPLAYS + VS_NPARTS)

enum vs_dirty_state {
	VS_DIRTY_FREE,
	VS_DIRTY_RESERVED,	/* a part in flight owns it */
	VS_DIRTY_RETAINED,	/* acked by ->conn, no SYNC covered it */
	VS_DIRTY_PENDING,	/* to replay */
	VS_DIRTY_REPLAYING,	/* a replay is in flight */
};

struct vs_dirty {
	struct list_head node;	/* lz->free, or lz->retained in gen order */
	struct vs_conn *conn;	/* RETAINED: the connection that acked it */
	u64 gen;		/* ack order */
	u64 seq;		/* conn->lz_seq of its ack */
	u64 inode;
	u64 offset;
	u32 len;
	u32 page;		/* first arena page of the data */
	u32 npages;
	u32 pg;			/* under lz->map */
	u8 op;			/* VS_OP_WRITE / DELETE */
	u8 zero;		/* WRITE of zeroes: no data kept */
	u8 state;		/* enum vs_dirty_state */
};

/* One of the device's own ops: a replay or a SYNC. */
struct vs_lazy_op {
	struct vs_part part;
	struct vs_dirty *d;	/* replay */
	struct vs_conn *conn;	/* SYNC: where; compared only */
	u64 seq;		/* SYNC: the acks of conn it covers */
	bool busy;
};

struct vs_lazy {
	spinlock_t lock;
	struct vs_dev *dev;
	struct vs_map *map;		/* PGs and primaries replay decisions use */
	struct vs_dirty *slots;
	u32 nslots;
	struct page **pages;		/* the arena */
	unsigned long *pagemap;		/* used arena pages */
	u32 npages, hint;
	u16 *pg_replays;		/* [VS_MAX_PG_COUNT + 1]: writes to replay */
	struct list_head free;		/* slots */
	struct list_head retained;	/* slots, in gen order */
	struct list_head held;		/* parts waiting for their PG's replay */
	struct list_head waiters;	/* flushes (vs_cmd.lz_node) */
	u32 nretained, retained_pages;	/* retained, pending or replaying */
	u32 nreplay;			/* pending or replaying */
	u32 sync_busy;			/* SYNCs in flight */
	u64 gen;			/* of the last ack */
	u64 auto_gen;			/* an automatic SYNC wants gen covered */
	bool want_run;			/* blk-mq waits for room: rerun it */
	bool need_sweep;		/* PGs newly marked: take their parts */
	bool release;			/* a PG's replay ended: release held */
	bool dying;			/* no more work */
	u64 replays, auto_syncs, syncs;	/* sysfs counters */
	struct vs_cmd *cmd;		/* owner of the ops' parts, no request */
	struct vs_lazy_op ops[VS_LAZY_OPS];
	struct work_struct work;
};

static void vs_lazy_kick(struct vs_lazy *lz)
{
	if (!READ_ONCE(lz->dying))
		queue_work(vs_ctl_wq, &lz->work);
}

static u32 vs_lazy_pg(struct vs_lazy *lz, u64 offset)
{
	return vs_route_pg(lz->dev, lz->map, offset);
}

static u64 vs_lazy_primary(struct vs_lazy *lz, u32 pg)
{
	return lz->map->primary[pg - 1];
}

/* ---- slots and arena ---- */

/* The slot's data pages and the slot itself go back (lz->lock). */
static void vs_lazy_free(struct vs_lazy *lz, struct vs_dirty *d)
{
	if (d->npages) {
		bitmap_clear(lz->pagemap, d->page, d->npages);
		d->npages = 0;
	}
	d->state = VS_DIRTY_FREE;
	d->conn = NULL;
	list_add(&d->node, &lz->free);
}

/* A retained slot leaves the retained list and is freed (lz->lock). */
static void vs_lazy_drop(struct vs_lazy *lz, struct vs_dirty *d)
{
	if (d->state == VS_DIRTY_PENDING || d->state == VS_DIRTY_REPLAYING) {
		lz->nreplay--;
		if (!--lz->pg_replays[d->pg])
			lz->release = true;
	}
	list_del(&d->node);
	lz->nretained--;
	lz->retained_pages -= d->npages;
	vs_lazy_free(lz, d);
}

/* Pages for n bytes, next fit (lz->lock); false if they do not fit. */
static bool vs_lazy_pages(struct vs_lazy *lz, u32 len, struct vs_dirty *d)
{
	u32 n = DIV_ROUND_UP(len, PAGE_SIZE);
	unsigned long at;

	d->npages = 0;
	if (!n)
		return true;
	at = bitmap_find_next_zero_area(lz->pagemap, lz->npages, lz->hint, n, 0);
	if (at >= lz->npages)
		at = bitmap_find_next_zero_area(lz->pagemap, lz->npages, 0, n, 0);
	if (at >= lz->npages)
		return false;
	bitmap_set(lz->pagemap, at, n);
	d->page = at;
	d->npages = n;
	lz->hint = at + n < lz->npages ? at + n : 0;
	return true;
}

/*
 * A SYNC freed room: a request blk-mq parked for it runs again. queue_rq
 * returned BLK_STS_DEV_RESOURCE, and blk-mq parks such a request with
 * SCHED_RESTART until a completion restarts the queue, which the batched
 * completions of 6.1 (blk_mq_end_request_batch) never do. So the bit is
 * cleared before the run: a request that found no room just before and is
 * parked only after this run sees it cleared and blk-mq reruns the queue.
 */
static void vs_lazy_room(struct vs_lazy *lz, bool run)
{
	struct request_queue *q = lz->dev->disk->queue;
	struct blk_mq_hw_ctx *hctx;
	unsigned long i;

	if (!run)
		return;
	queue_for_each_hw_ctx(q, hctx, i)
		clear_bit(BLK_MQ_S_SCHED_RESTART, &hctx->state);
	/* the bits clear before the dispatch lists are looked at */
	smp_mb__after_atomic();
	blk_mq_run_hw_queues(q, true);
}

/* Half of a limit reached: an automatic SYNC (lz->lock). */
static void vs_lazy_auto(struct vs_lazy *lz)
{
	if (lz->nretained < lz->nslots / 2 &&
	    lz->retained_pages < lz->npages / 2)
		return;
	if (!lz->auto_gen)
		lz->auto_syncs++;
	if (lz->auto_gen < lz->gen)
		lz->auto_gen = lz->gen;
	vs_lazy_kick(lz);
}

/*
 * Reserves a slot for each WRITE/DELETE part of cmd (queue_rq). -EAGAIN
 * when there is no room: the request waits for a SYNC to free some.
 */
int vs_lazy_reserve(struct vs_dev *dev, struct vs_cmd *cmd)
{
	struct vs_lazy *lz = dev->lz;
	struct vs_dirty *d;
	u32 i, n = 0;
	int err = 0;

	spin_lock_bh(&lz->lock);
	for (i = 0; i < cmd->nparts; i++) {
		struct vs_part *part = &cmd->parts[i];
		bool data = part->op == VS_OP_WRITE && !(part->flags & VS_PF_ZERO);

		if (part->op != VS_OP_WRITE && part->op != VS_OP_DELETE)
			continue;
		d = list_first_entry_or_null(&lz->free, struct vs_dirty, node);
		if (!d || !vs_lazy_pages(lz, data ? part->len : 0, d)) {
			err = -EAGAIN;
			break;
		}
		list_del(&d->node);
		d->state = VS_DIRTY_RESERVED;
		part->dirty = d;
		n++;
	}
	if (err) {
		for (i = 0; i < cmd->nparts && n; i++) {
			d = cmd->parts[i].dirty;
			if (d) {
				vs_lazy_free(lz, d);
				cmd->parts[i].dirty = NULL;
				n--;
			}
		}
		/* no lost wakeup: a SYNC frees under this lock, then reruns */
		lz->want_run = true;
		if (lz->auto_gen < lz->gen) {
			if (!lz->auto_gen)
				lz->auto_syncs++;
			lz->auto_gen = lz->gen;
		}
		vs_lazy_kick(lz);
	}
	spin_unlock_bh(&lz->lock);
	return err;
}

/* A reserved part failed for good: its slot goes back. */
void vs_lazy_unreserve(struct vs_part *part)
{
	struct vs_lazy *lz = part->cmd->dev->lz;
	bool run;

	spin_lock_bh(&lz->lock);
	vs_lazy_free(lz, part->dirty);
	part->dirty = NULL;
	run = lz->want_run;
	lz->want_run = false;
	spin_unlock_bh(&lz->lock);
	vs_lazy_room(lz, run);
}

/* The WRITE's data, from the request into the slot's pages. */
static void vs_lazy_copy(struct vs_lazy *lz, struct vs_part *part,
			 struct vs_dirty *d)
{
	struct req_iterator iter;
	struct bio_vec bv;
	u32 pos = 0, done = 0;

	rq_for_each_segment(bv, part->cmd->rq, iter) {
		u32 s = pos, skip, n;
		u8 *src;

		pos += bv.bv_len;
		if (pos <= part->roff)
			continue;
		skip = part->roff > s ? part->roff - s : 0;
		n = min(bv.bv_len - skip, part->len - done);
		src = kmap_local_page(bv.bv_page);
		while (n) {
			u32 po = done % PAGE_SIZE, k = min_t(u32, n, PAGE_SIZE - po);
			u8 *dst = kmap_local_page(lz->pages[d->page + done / PAGE_SIZE]);

			memcpy(dst + po, src + bv.bv_offset + skip, k);
			kunmap_local(dst);
			skip += k;
			done += k;
			n -= k;
		}
		kunmap_local(src);
		if (done == part->len)
			break;
	}
}

/* ---- marking for replay (lz->lock) ---- */

static void vs_lazy_mark(struct vs_lazy *lz, struct vs_dirty *d)
{
	d->state = VS_DIRTY_PENDING;
	d->conn = NULL;
	lz->nreplay++;
	lz->pg_replays[d->pg]++;
	lz->need_sweep = true;
}

/* Every retained write of a PG with writes to replay is replayed too. */
static void vs_lazy_mark_pgs(struct vs_lazy *lz)
{
	struct vs_dirty *d;

	list_for_each_entry(d, &lz->retained, node)
		if (d->state == VS_DIRTY_RETAINED && lz->pg_replays[d->pg])
			vs_lazy_mark(lz, d);
}

/*
 * What the OSD acknowledged: the part as sent, which may differ from the
 * one built (a DELETE refused with -EBUSY is a zero WRITE, vs_part_resend).
 */
static void vs_dirty_set(struct vs_dirty *d, const struct vs_part *part)
{
	d->op = part->op;
	d->zero = !!(part->flags & VS_PF_ZERO);
	d->inode = part->inode;
	d->offset = part->offset;
	d->len = part->len;
}

/*
 * The OSD acknowledged the WRITE/DELETE part (receive side, in softirq or
 * under the socket lock): its data goes into the slot and the slot joins
 * the retained list.
 */
void vs_lazy_acked(struct vs_conn *conn, struct vs_part *part)
{
	struct vs_lazy *lz = conn->dev->lz;
	struct vs_dirty *d = part->dirty;
	bool moved;

	part->dirty = NULL;
	vs_dirty_set(d, part);
	if (d->npages)
		vs_lazy_copy(lz, part, d);
	spin_lock_bh(&lz->lock);
	d->gen = ++lz->gen;
	d->pg = vs_lazy_pg(lz, d->offset);
	list_add_tail(&d->node, &lz->retained);
	lz->nretained++;
	lz->retained_pages += d->npages;
	moved = vs_lazy_primary(lz, d->pg) != conn->osd_num;
	if (moved || lz->pg_replays[d->pg]) {
		/* raced with a new map, or with a replay of its PG */
		vs_lazy_mark(lz, d);
		if (moved)
			vs_lazy_mark_pgs(lz);
		vs_lazy_kick(lz);
	} else {
		d->state = VS_DIRTY_RETAINED;
		d->conn = conn;
		d->seq = ++conn->lz_seq;
		conn->lz_dirty = true;
	}
	vs_lazy_auto(lz);
	spin_unlock_bh(&lz->lock);
}

/*
 * A connection broke or leaves its route: what it acknowledged may be
 * gone with it. Before it is freed (it is compared with slots).
 */
void vs_lazy_conn_lost(struct vs_conn *conn)
{
	struct vs_lazy *lz = conn->dev->lz;
	struct vs_dirty *d;
	u32 n = 0;

	spin_lock_bh(&lz->lock);
	conn->lz_dirty = false;
	list_for_each_entry(d, &lz->retained, node) {
		if (d->state == VS_DIRTY_RETAINED && d->conn == conn) {
			vs_lazy_mark(lz, d);
			n++;
		}
	}
	if (n)
		vs_lazy_mark_pgs(lz);
	spin_unlock_bh(&lz->lock);
	if (n) {
		pr_info_ratelimited("vs%u: OSD %llu: connection lost, replaying %u acknowledged writes\n",
				    conn->dev->index, conn->osd_num, n);
		vs_lazy_kick(lz);
	}
}

/*
 * A new map (route_mutex held, before the route using it is published):
 * writes of PGs whose primary changed are replayed to the new one. Takes
 * a reference to map.
 */
void vs_lazy_remap(struct vs_dev *dev, struct vs_map *map)
{
	struct vs_lazy *lz = dev->lz;
	struct vs_map *old;
	struct vs_dirty *d;
	bool any = false;

	vs_map_get(map);
	spin_lock_bh(&lz->lock);
	old = lz->map;
	lz->map = map;
	if (old->pg_count != map->pg_count) {
		memset(lz->pg_replays, 0,
		       (VS_MAX_PG_COUNT + 1) * sizeof(*lz->pg_replays));
		list_for_each_entry(d, &lz->retained, node) {
			d->pg = vs_lazy_pg(lz, d->offset);
			if (d->state != VS_DIRTY_RETAINED)
				lz->pg_replays[d->pg]++;
		}
		lz->release = true;
	}
	list_for_each_entry(d, &lz->retained, node) {
		if (d->state == VS_DIRTY_RETAINED &&
		    d->conn->osd_num != vs_lazy_primary(lz, d->pg)) {
			vs_lazy_mark(lz, d);
			any = true;
		}
	}
	if (any)
		vs_lazy_mark_pgs(lz);
	spin_unlock_bh(&lz->lock);
	vs_map_put(old);
	vs_lazy_kick(lz);
}

/* ---- holding parts of PGs being replayed ---- */

/*
 * Routing a part (RCU read side): true if its PG has writes to replay;
 * then the part waits here. A part that slips past while writes are being
 * marked is taken back by the sweep that follows the marking.
 */
bool vs_lazy_hold(struct vs_dev *dev, struct vs_part *part)
{
	struct vs_lazy *lz = dev->lz;
	bool held = false;

	/* replays are in the device's own pool: parents elsewhere never wait */
	if (!READ_ONCE(lz->nreplay) ||
	    vs_inode_pool(part->inode) != dev->p.pool_id)
		return false;
	spin_lock_bh(&lz->lock);
	if (lz->nreplay && lz->pg_replays[vs_lazy_pg(lz, part->offset)]) {
		part->state = VS_PART_HELD;
		WRITE_ONCE(part->conn, NULL);
		list_add_tail(&part->node, &lz->held);
		held = true;
	}
	spin_unlock_bh(&lz->lock);
	return held;
}

/*
 * A queued part about to be sent (vs_batch_fill, conn->lock held): true if
 * its PG has writes to replay; then it moves from the send queue to held.
 * The sweep that follows a marking takes such parts back too, but it runs
 * later, in the work item: a connection that lost its OSD reconnects and
 * sends what it had queued meanwhile. A READ sent then could return data
 * without the acknowledged writes the OSD lost, before their replay.
 */
bool vs_lazy_hold_queued(struct vs_dev *dev, struct vs_part *part)
{
	struct vs_lazy *lz = dev->lz;
	bool held = false;

	if (!READ_ONCE(lz->nreplay) || (part->flags & VS_PF_LAZY) ||
	    vs_inode_pool(part->inode) != dev->p.pool_id)
		return false;
	spin_lock_bh(&lz->lock);
	if (lz->nreplay && lz->pg_replays[vs_lazy_pg(lz, part->offset)]) {
		part->state = VS_PART_HELD;
		WRITE_ONCE(part->conn, NULL);
		list_move_tail(&part->node, &lz->held);
		held = true;
	}
	spin_unlock_bh(&lz->lock);
	return held;
}

/* vs_dev_sweep's predicate: a user part of a PG with writes to replay. */
static bool vs_lazy_swept(struct vs_part *part, void *arg)
{
	struct vs_lazy *lz = arg;
	bool take;

	if ((part->flags & VS_PF_LAZY) ||
	    vs_inode_pool(part->inode) != lz->dev->p.pool_id)
		return false;
	spin_lock_bh(&lz->lock);
	take = lz->pg_replays[vs_lazy_pg(lz, part->offset)];
	spin_unlock_bh(&lz->lock);
	return take;
}

/* Held parts for which pred holds, to out (vs_dev_sweep). */
void vs_lazy_sweep(struct vs_dev *dev,
		   bool (*pred)(struct vs_part *part, void *arg), void *arg,
		   struct list_head *out)
{
	struct vs_lazy *lz = dev->lz;
	struct vs_part *part, *tmp;

	spin_lock_bh(&lz->lock);
	list_for_each_entry_safe(part, tmp, &lz->held, node)
		if (!pred || pred(part, arg))
			list_move_tail(&part->node, out);
	spin_unlock_bh(&lz->lock);
}

/* ---- flushes ---- */

/* No write retained up to gen is left (lz->lock). */
static bool vs_lazy_covered(struct vs_lazy *lz, u64 gen)
{
	struct vs_dirty *d;

	d = list_first_entry_or_null(&lz->retained, struct vs_dirty, node);
	return !d || d->gen > gen;
}

/*
 * A flush, or a FUA write that was written: completes (vs_cmd_put) once
 * every write acknowledged before now is synced. Any context.
 */
void vs_lazy_flush(struct vs_dev *dev, struct vs_cmd *cmd)
{
	struct vs_lazy *lz = dev->lz;

	bool done;

	atomic_set(&cmd->pending, 1);
	spin_lock_bh(&lz->lock);
	cmd->lz_gen = lz->gen;
	/* nothing retained: done at once, no work item hop */
	done = vs_lazy_covered(lz, cmd->lz_gen);
	if (!done)
		list_add_tail(&cmd->lz_node, &lz->waiters);
	spin_unlock_bh(&lz->lock);
	if (done)
		vs_cmd_put(cmd);
	else
		vs_lazy_kick(lz);
}

/* Flushes that are done (or, with err, all), to out (lz->lock). */
static void vs_lazy_take_waiters(struct vs_lazy *lz, int err,
				 struct list_head *out)
{
	struct vs_cmd *cmd, *tmp;

	list_for_each_entry_safe(cmd, tmp, &lz->waiters, lz_node) {
		if (err || READ_ONCE(cmd->abort))
			cmd->error = err ? err : -ETIMEDOUT;
		else if (!vs_lazy_covered(lz, cmd->lz_gen))
			continue;
		list_move_tail(&cmd->lz_node, out);
	}
}

static void vs_lazy_end_waiters(struct list_head *list)
{
	struct vs_cmd *cmd, *tmp;

	list_for_each_entry_safe(cmd, tmp, list, lz_node) {
		list_del_init(&cmd->lz_node);
		vs_cmd_put(cmd);
	}
}

/* Timed-out flushes end (abort work). */
void vs_lazy_abort(struct vs_dev *dev)
{
	struct vs_lazy *lz = dev->lz;
	struct vs_cmd *cmd, *tmp;
	LIST_HEAD(list);

	spin_lock_bh(&lz->lock);
	list_for_each_entry_safe(cmd, tmp, &lz->waiters, lz_node) {
		if (READ_ONCE(cmd->abort)) {
			cmd->error = -ETIMEDOUT;
			list_move_tail(&cmd->lz_node, &list);
		}
	}
	spin_unlock_bh(&lz->lock);
	vs_lazy_end_waiters(&list);
}

/* Force unmap: every flush fails, every held part goes to out. */
void vs_lazy_fail_all(struct vs_dev *dev, struct list_head *out)
{
	struct vs_lazy *lz = dev->lz;
	LIST_HEAD(list);

	spin_lock_bh(&lz->lock);
	vs_lazy_take_waiters(lz, -EIO, &list);
	list_splice_tail_init(&lz->held, out);
	spin_unlock_bh(&lz->lock);
	vs_lazy_end_waiters(&list);
}

/* ---- the device's own ops ---- */

static struct vs_lazy_op *vs_lazy_op_of(struct vs_part *part)
{
	return container_of(part, struct vs_lazy_op, part);
}

/* Whether a reply id can name one of the device's own ops (vs_conn_claim). */
bool vs_lazy_id_valid(const struct vs_dev *dev, u32 id)
{
	return dev->lz && id < VS_LAZY_OPS;
}

/* Segments of a replayed WRITE's data [off, off + len); bytes covered. */
u32 vs_lazy_vecs(struct vs_part *part, u32 off, u32 len, struct bio_vec *vec,
		 u32 *nvec)
{
	struct vs_lazy *lz = part->cmd->dev->lz;
	struct vs_dirty *d = vs_lazy_op_of(part)->d;
	u32 got = 0;

	while (got < len && *nvec < VS_TX_VECS) {
		u32 po = (off + got) % PAGE_SIZE;
		u32 k = min_t(u32, len - got, PAGE_SIZE - po);
		struct bio_vec *bv = &vec[(*nvec)++];

		bv->bv_page = lz->pages[d->page + (off + got) / PAGE_SIZE];
		bv->bv_offset = po;
		bv->bv_len = k;
		got += k;
	}
	return got;
}

/* A replay or SYNC is over, one way or the other (lz->lock). */
static void vs_lazy_op_end(struct vs_lazy *lz, struct vs_lazy_op *op)
{
	op->busy = false;
	if (op->part.op == VS_OP_SYNC)
		lz->sync_busy--;
	op->d = NULL;
}

/* A SYNC succeeded: the acks it covers are durable. */
static void vs_lazy_synced(struct vs_lazy *lz, struct vs_lazy_op *op)
{
	struct vs_dirty *d, *tmp;
	bool run;

	spin_lock_bh(&lz->lock);
	list_for_each_entry_safe(d, tmp, &lz->retained, node)
		if (d->state == VS_DIRTY_RETAINED && d->conn == op->conn &&
		    d->seq <= op->seq)
			vs_lazy_drop(lz, d);
	lz->syncs++;
	vs_lazy_op_end(lz, op);
	run = lz->want_run;
	lz->want_run = false;
	spin_unlock_bh(&lz->lock);
	vs_lazy_room(lz, run);
}

/* The OSD failed a SYNC: the flushes waiting fail, the writes stay. */
static void vs_lazy_sync_failed(struct vs_lazy *lz, struct vs_lazy_op *op,
				struct vs_conn *conn, int err)
{
	LIST_HEAD(list);

	pr_warn_ratelimited("vs%u: OSD %llu: SYNC failed: %d\n",
			    lz->dev->index, conn->osd_num, err);
	spin_lock_bh(&lz->lock);
	conn->lz_dirty = true;
	vs_lazy_take_waiters(lz, err, &list);
	lz->auto_gen = 0;
	vs_lazy_op_end(lz, op);
	spin_unlock_bh(&lz->lock);
	vs_lazy_end_waiters(&list);
}

/* The OSD acknowledged a replay. */
static void vs_lazy_replayed(struct vs_lazy *lz, struct vs_lazy_op *op,
			     struct vs_conn *conn)
{
	struct vs_dirty *d = op->d;

	spin_lock_bh(&lz->lock);
	lz->replays++;
	vs_dirty_set(d, &op->part);
	if (vs_lazy_primary(lz, d->pg) != conn->osd_num) {
		/* the primary changed meanwhile: again, to the new one */
		d->state = VS_DIRTY_PENDING;
	} else {
		d->state = VS_DIRTY_RETAINED;
		d->conn = conn;
		d->seq = ++conn->lz_seq;
		conn->lz_dirty = true;
		lz->nreplay--;
		if (!--lz->pg_replays[d->pg])
			lz->release = true;
	}
	vs_lazy_op_end(lz, op);
	spin_unlock_bh(&lz->lock);
}

/*
 * A retained write cannot be replayed: it is lost. The flushes waiting
 * for it fail, and so does the next one (dev->sync_lost).
 */
static void vs_lazy_replay_lost(struct vs_lazy *lz, struct vs_lazy_op *op,
				int err)
{
	struct vs_dev *dev = lz->dev;
	struct vs_dirty *d = op->d;
	struct vs_cmd *cmd, *tmp;
	LIST_HEAD(list);
	bool run;

	if (!READ_ONCE(dev->dead))
		pr_err_ratelimited("vs%u: replay of an acknowledged write at %llu failed (%d): it is lost, the next flush fails\n",
				   dev->index, d->offset, err);
	WRITE_ONCE(dev->sync_lost, true);
	spin_lock_bh(&lz->lock);
	list_for_each_entry_safe(cmd, tmp, &lz->waiters, lz_node) {
		if (cmd->lz_gen >= d->gen) {
			cmd->error = -EIO;
			list_move_tail(&cmd->lz_node, &list);
		}
	}
	vs_lazy_drop(lz, d);
	vs_lazy_op_end(lz, op);
	run = lz->want_run;
	lz->want_run = false;
	spin_unlock_bh(&lz->lock);
	vs_lazy_end_waiters(&list);
	vs_lazy_room(lz, run);
}

/* The OSD's reply to one of our ops (receive side). */
void vs_lazy_reply(struct vs_conn *conn, struct vs_part *part, s64 retval)
{
	struct vs_lazy *lz = conn->dev->lz;
	struct vs_lazy_op *op = vs_lazy_op_of(part);
	int err = retval < 0 ? (int)retval : 0;

	part->state = VS_PART_IDLE;
	if (part->op == VS_OP_SYNC) {
		if (err)
			vs_lazy_sync_failed(lz, op, conn, err);
		else
			vs_lazy_synced(lz, op);
	} else if (err && vs_part_resend(lz->dev, part, err)) {
		return;
	} else if (err) {
		vs_lazy_replay_lost(lz, op, err);
	} else {
		vs_lazy_replayed(lz, op, conn);
	}
	vs_lazy_kick(lz);
}

/*
 * One of our ops ended without a reply (vs_part_done/vs_part_finish): a
 * SYNC whose connection broke (its writes are replayed), or a replay on a
 * device that is being removed.
 */
void vs_lazy_lost(struct vs_part *part, int err)
{
	struct vs_lazy *lz = part->cmd->dev->lz;
	struct vs_lazy_op *op = vs_lazy_op_of(part);

	part->state = VS_PART_IDLE;
	WRITE_ONCE(part->conn, NULL);
	if (part->op == VS_OP_SYNC) {
		spin_lock_bh(&lz->lock);
		vs_lazy_op_end(lz, op);
		spin_unlock_bh(&lz->lock);
	} else {
		vs_lazy_replay_lost(lz, op, err);
	}
	vs_lazy_kick(lz);
}

static void vs_lazy_op_init(struct vs_lazy_op *op, u8 opcode, u8 flags,
			    u64 inode, u64 offset, u32 len)
{
	struct vs_part *part = &op->part;

	part->op = opcode;
	part->flags = VS_PF_LAZY | flags;
	part->inode = inode;
	part->offset = offset;
	part->len = len;
	part->state = VS_PART_IDLE;
	part->dirty = NULL;
	op->busy = true;
}

/*
 * A replayed DELETE was acknowledged once: its object must read as zeroes,
 * so a degraded PG's -EBUSY makes it a zero WRITE like a write-zeroes'.
 */
static u8 vs_lazy_flags(const struct vs_dirty *d)
{
	if (d->zero)
		return VS_PF_ZERO;
	return d->op == VS_OP_DELETE ? VS_PF_ZEROOUT : 0;
}

static bool vs_lazy_obj_busy(const u64 (*objs)[2], u32 n, u64 inode, u64 obj)
{
	u32 i;

	for (i = 0; i < n; i++)
		if (objs[i][0] == inode && objs[i][1] == obj)
			return true;
	return false;
}

/*
 * The next replays, in gen order, at most one per object in flight, into
 * go (lz->lock); how many.
 */
static u32 vs_lazy_pump(struct vs_lazy *lz, struct vs_lazy_op **go)
{
	u64 objs[VS_LAZY_REPLAYS][2];
	u64 stripe = lz->dev->stripe_size;
	struct vs_dirty *d;
	u32 nobj = 0, n = 0, i, next = 0;

	for (i = 0; i < VS_LAZY_REPLAYS; i++) {
		d = lz->ops[i].busy ? lz->ops[i].d : NULL;
		if (d) {
			objs[nobj][0] = d->inode;
			objs[nobj++][1] = d->offset - vs_u64_rem(d->offset, stripe);
		}
	}
	list_for_each_entry(d, &lz->retained, node) {
		u64 obj = d->offset - vs_u64_rem(d->offset, stripe);
		struct vs_lazy_op *op;

		if (d->state != VS_DIRTY_PENDING ||
		    vs_lazy_obj_busy(objs, nobj, d->inode, obj))
			continue;
		while (next < VS_LAZY_REPLAYS && lz->ops[next].busy)
			next++;
		if (next == VS_LAZY_REPLAYS)
			break;
		op = &lz->ops[next];
		vs_lazy_op_init(op, d->op, vs_lazy_flags(d), d->inode,
				d->offset, d->len);
		op->d = d;
		d->state = VS_DIRTY_REPLAYING;
		objs[nobj][0] = d->inode;
		objs[nobj++][1] = obj;
		go[n++] = op;
	}
	return n;
}

/* SYNCs to the connections with acks no SYNC covers (lz->lock, RCU). */
static u32 vs_lazy_sync_round(struct vs_lazy *lz, struct vs_route *r,
			      struct vs_lazy_op **go)
{
	u32 i, n = 0;

	for (i = 0; i < r->nconns && n < VS_NPARTS; i++) {
		struct vs_conn *conn = r->conns[i];
		struct vs_lazy_op *op = &lz->ops[VS_LAZY_REPLAYS + n];

		if (!conn->lz_dirty)
			continue;
		conn->lz_dirty = false;
		vs_lazy_op_init(op, VS_OP_SYNC, VS_PF_FIXED, 0, 0, 0);
		op->conn = conn;
		op->seq = conn->lz_seq;
		lz->sync_busy++;
		go[n++] = op;
	}
	return n;
}

/* The newest gen someone waits to see synced (lz->lock). */
static u64 vs_lazy_want(struct vs_lazy *lz)
{
	u64 want = lz->auto_gen;
	struct vs_cmd *cmd;

	list_for_each_entry(cmd, &lz->waiters, lz_node)
		want = max(want, cmd->lz_gen);
	return want;
}

/* Held parts whose PG has nothing to replay now, to out (lz->lock). */
static void vs_lazy_release(struct vs_lazy *lz, struct list_head *out)
{
	struct vs_part *part, *tmp;

	lz->release = false;
	list_for_each_entry_safe(part, tmp, &lz->held, node)
		if (!lz->pg_replays[vs_lazy_pg(lz, part->offset)])
			list_move_tail(&part->node, out);
}

/*
 * The engine: takes back the parts of PGs newly marked, sends replays
 * (first) and SYNCs, ends the flushes that are covered, releases held
 * parts. Never runs twice at once (one work item).
 */
static void vs_lazy_work(struct work_struct *w)
{
	struct vs_lazy *lz = container_of(w, struct vs_lazy, work);
	struct vs_dev *dev = lz->dev;
	struct vs_lazy_op *go[VS_LAZY_OPS];
	struct vs_part *part, *tmp;
	LIST_HEAD(parts);
	LIST_HEAD(done);
	struct vs_route *r;
	bool sweep;
	u32 n = 0, i;

	spin_lock_bh(&lz->lock);
	sweep = lz->need_sweep;
	lz->need_sweep = false;
	spin_unlock_bh(&lz->lock);
	if (sweep)
		vs_dev_sweep(dev, vs_lazy_swept, lz, &parts);

	rcu_read_lock();
	r = rcu_dereference(dev->route);
	spin_lock_bh(&lz->lock);
	if (lz->nreplay) {
		n = vs_lazy_pump(lz, go);
	} else if (!lz->sync_busy && r) {
		if (lz->auto_gen && vs_lazy_covered(lz, lz->auto_gen))
			lz->auto_gen = 0;
		if (!vs_lazy_covered(lz, vs_lazy_want(lz)))
			n = vs_lazy_sync_round(lz, r, go);
	}
	vs_lazy_take_waiters(lz, 0, &done);
	if (lz->release)
		vs_lazy_release(lz, &parts);
	spin_unlock_bh(&lz->lock);
	for (i = 0; i < n; i++) {
		struct vs_part *p = &go[i]->part;

		if (p->op != VS_OP_SYNC)
			vs_dev_route_part(dev, p);
		else if (!vs_conn_queue(go[i]->conn, p, NULL, false))
			vs_lazy_lost(p, -ECONNRESET);
	}
	rcu_read_unlock();

	vs_lazy_end_waiters(&done);
	list_for_each_entry_safe(part, tmp, &parts, node) {
		list_del_init(&part->node);
		part->state = VS_PART_IDLE;
		vs_dev_route_part(dev, part);
	}
}

/* ---- create, destroy, counters ---- */

unsigned int vs_max_dirty_ops = 1024;
unsigned int vs_max_dirty_bytes = 32 << 20;

static int vs_lazy_alloc(struct vs_lazy *lz, u32 nslots, u32 npages)
{
	u32 i;

	lz->slots = kvcalloc(nslots, sizeof(*lz->slots), GFP_KERNEL);
	lz->pages = kvcalloc(npages, sizeof(*lz->pages), GFP_KERNEL);
	lz->pagemap = bitmap_zalloc(npages, GFP_KERNEL);
	lz->pg_replays = kvcalloc(VS_MAX_PG_COUNT + 1, sizeof(*lz->pg_replays),
				  GFP_KERNEL);
	lz->cmd = kzalloc(sizeof(*lz->cmd), GFP_KERNEL);
	if (!lz->slots || !lz->pages || !lz->pagemap || !lz->pg_replays ||
	    !lz->cmd)
		return -ENOMEM;
	lz->nslots = nslots;
	for (i = 0; i < nslots; i++)
		list_add_tail(&lz->slots[i].node, &lz->free);
	for (i = 0; i < npages; i++) {
		lz->pages[i] = alloc_page(GFP_KERNEL);
		if (!lz->pages[i])
			return -ENOMEM;
		lz->npages = i + 1;
	}
	return 0;
}

static void vs_lazy_free_all(struct vs_lazy *lz)
{
	u32 i;

	for (i = 0; i < lz->npages; i++)
		__free_page(lz->pages[i]);
	kvfree(lz->pages);
	bitmap_free(lz->pagemap);
	kvfree(lz->slots);
	kvfree(lz->pg_replays);
	kfree(lz->cmd);
	vs_map_put(lz->map);
	kfree(lz);
}

/*
 * MAP of a lazy pool's image: everything replay needs, preallocated. The
 * limits hold at least one request's worth of the largest parts.
 */
int vs_lazy_create(struct vs_dev *dev, struct vs_map *map)
{
	u32 part_pages = DIV_ROUND_UP(min_t(u64, dev->stripe_size,
					    VS_MAX_OP_LEN), PAGE_SIZE);
	u32 nslots = clamp(vs_max_dirty_ops, (unsigned int)VS_NPARTS, 65535u);
	u32 npages = max(DIV_ROUND_UP(vs_max_dirty_bytes, PAGE_SIZE),
			 VS_NPARTS * part_pages);
	struct vs_lazy *lz;
	u32 i;
	int err;

	lz = kzalloc(sizeof(*lz), GFP_KERNEL);
	if (!lz)
		return -ENOMEM;
	spin_lock_init(&lz->lock);
	lz->dev = dev;
	INIT_LIST_HEAD(&lz->free);
	INIT_LIST_HEAD(&lz->retained);
	INIT_LIST_HEAD(&lz->held);
	INIT_LIST_HEAD(&lz->waiters);
	INIT_WORK(&lz->work, vs_lazy_work);
	err = vs_lazy_alloc(lz, nslots, npages);
	if (err) {
		vs_lazy_free_all(lz);
		return err;
	}
	vs_map_get(map);
	lz->map = map;
	lz->cmd->dev = dev;
	for (i = 0; i < VS_LAZY_OPS; i++) {
		struct vs_part *part = &lz->ops[i].part;

		INIT_LIST_HEAD(&part->node);
		part->cmd = lz->cmd;
		part->idx = VS_ID_PART_LAZY;
		part->roff = i;		/* its request id */
	}
	dev->lz = lz;
	return 0;
}

/*
 * Unmap: no more work once the connections go (their replays are
 * dropped); then everything is freed.
 */
void vs_lazy_stop(struct vs_dev *dev)
{
	if (!dev->lz)
		return;
	WRITE_ONCE(dev->lz->dying, true);
	cancel_work_sync(&dev->lz->work);
}

void vs_lazy_destroy(struct vs_dev *dev)
{
	struct vs_lazy *lz = dev->lz;

	if (!lz)
		return;
	cancel_work_sync(&lz->work);
	WARN_ON_ONCE(!list_empty(&lz->held) || !list_empty(&lz->waiters));
	dev->lz = NULL;
	vs_lazy_free_all(lz);
}

void vs_lazy_stats(struct vs_dev *dev, struct vs_lazy_stats *st)
{
	struct vs_lazy *lz = dev->lz;

	memset(st, 0, sizeof(*st));
	if (!lz)
		return;
	spin_lock_bh(&lz->lock);
	st->retained_ops = lz->nretained;
	st->retained_bytes = (u64)lz->retained_pages * PAGE_SIZE;
	st->replaying = lz->nreplay;
	st->replays = lz->replays;
	st->auto_syncs = lz->auto_syncs;
	st->syncs = lz->syncs;
	spin_unlock_bh(&lz->lock);
}
