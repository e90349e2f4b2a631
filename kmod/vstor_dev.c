// SPDX-License-Identifier: GPL-2.0
/*
 * Block devices: one blk-mq disk per mapped image, /dev/vsN.
 *
 * queue_rq cuts a request into parts, one primary op per object, and hands
 * each to the connection of its PG's primary; it never blocks. Parts come
 * back through vs_part_done(): success or a final error counts down the
 * request, -EPIPE (not primary, PG inactive) parks the part on the
 * device's retry list until a new map arrives or up_wait_retry_interval
 * passes, and asks userspace for a fresher map.
 *
 * Durability: with immediate_commit=all a write is durable when the OSD
 * acknowledges it, so no volatile cache is advertised and no flush ever
 * arrives. Otherwise (lazy pools) the device has a write cache and keeps a
 * copy of every write acknowledged since its SYNC (vstor_lazy.c): a lost
 * connection or a new primary makes it replay them, a flush (and a FUA
 * write) completes once the OSDs holding them synced them, and a normal
 * unmap flushes before it removes the device. Only a retained write the
 * OSD refuses to take again is lost: the next flush (or unmap) fails with
 * EIO.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/idr.h>
#include <linux/kernel.h>
#include <linux/major.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "vstor.h"

static DEFINE_IDR(vs_idr);
static int vs_major;

/* ---- part completion ---- */

static void vs_cmd_end(struct vs_cmd *cmd, struct io_comp_batch *iob);

/*
 * Parts complete where their reply is parsed (sk_data_ready, in softirq
 * or a socket lock owner's release_sock) or in process context (retry and
 * control work, queue_rq), so the request ends right there: no extra
 * bounce, and a flush can go on with its next wave of SYNCs.
 */
void vs_cmd_put_batch(struct vs_cmd *cmd, struct io_comp_batch *iob)
{
	if (atomic_dec_and_test(&cmd->pending))
		vs_cmd_end(cmd, iob);
}

/* iob: the reply parser's completion batch, or NULL to end right away */
static void vs_part_finish(struct vs_part *part, int err,
			   struct io_comp_batch *iob)
{
	struct vs_cmd *cmd = part->cmd;

	if (unlikely(part->flags & VS_PF_LAZY)) {
		vs_lazy_lost(part, err);
		return;
	}
	if (unlikely(part->dirty))
		vs_lazy_unreserve(part);
	part->state = VS_PART_IDLE;
	WRITE_ONCE(part->conn, NULL);
	if (err)
		cmpxchg(&cmd->error, 0, err);
	vs_cmd_put_batch(cmd, iob);
}

/*
 * The replies after which a part is sent again, the same for user parts
 * (vs_part_done) and the device's own replays (vs_lazy_reply), so that the
 * two cannot drift: true if the part was taken.
 *
 * -EPIPE: not the primary (any more) or the PG is not active: ask for a
 * new map and retry. -EBUSY: a whole-object DELETE refused while the PG is
 * degraded; write-zeroes (a replayed DELETE too) writes zeroes over the
 * whole stripe instead: the DELETE had len 0, and a WRITE of 0 bytes
 * zeroes nothing (c7b472b).
 */
bool vs_part_resend(struct vs_dev *dev, struct vs_part *part, int err)
{
	switch (err) {
	case -EPIPE:
		/* a lazy SYNC is bound to its connection */
		if (part->flags & VS_PF_FIXED)
			return false;
		vs_dev_need_map(dev, vs_dev_pool_index(dev,
						       vs_inode_pool(part->inode)));
		vs_dev_retry_part(dev, part, vs_retry_interval_ms);
		return true;
	case -EBUSY:
		if (!(part->flags & VS_PF_ZEROOUT))
			return false;
		part->op = VS_OP_WRITE;
		part->flags = (part->flags & VS_PF_LAZY) | VS_PF_ZERO;
		part->len = dev->stripe_size;
		vs_dev_route_part(dev, part);
		return true;
	}
	return false;
}

/*
 * A part is back from the cluster (or failed before reaching it); iob as
 * for vs_part_finish.
 */
void vs_part_done(struct vs_part *part, int err, struct io_comp_batch *iob)
{
	struct vs_cmd *cmd = part->cmd;
	struct vs_dev *dev = cmd->dev;

	/* ours end here only without a reply: vs_lazy_reply takes those */
	if (unlikely(part->flags & VS_PF_LAZY)) {
		vs_lazy_lost(part, err);
		return;
	}
	if (READ_ONCE(cmd->abort)) {
		vs_part_finish(part, -ETIMEDOUT, NULL);
		return;
	}
	if (!err && (part->flags & VS_PF_LAYER) && vs_layer_part_done(part))
		return;
	if (unlikely(err) && vs_part_resend(dev, part, err))
		return;
	/* a discard may leave an object a degraded PG cannot delete */
	if (err == -EBUSY && (part->flags & VS_PF_DISCARD))
		err = 0;
	vs_part_finish(part, err, iob);
}

/* ---- routing ---- */

void vs_dev_retry_part(struct vs_dev *dev, struct vs_part *part,
		       unsigned int delay_ms)
{
	spin_lock_bh(&dev->lock);
	if (dev->dead) {
		spin_unlock_bh(&dev->lock);
		vs_part_finish(part, -EIO, NULL);
		return;
	}
	part->state = VS_PART_RETRY;
	WRITE_ONCE(part->conn, NULL);
	list_add_tail(&part->node, &dev->retry);
	if (delay_ms)
		queue_delayed_work(vs_ctl_wq, &dev->retry_work,
				   msecs_to_jiffies(delay_ms));
	else
		mod_delayed_work(vs_ctl_wq, &dev->retry_work, 0);
	spin_unlock_bh(&dev->lock);
}

/* The connection for part under route, or NULL when its PG has no primary. */
static struct vs_conn *vs_route_conn(struct vs_dev *dev,
				     const struct vs_route *r,
				     const struct vs_part *part)
{
	const struct vs_map *map = r->map;
	const struct vs_map_osd *osd;
	u32 pg = vs_route_pg(dev, map, part->offset), slot;
	u64 primary = map->primary[pg - 1];

	if (!primary)
		return NULL;
	osd = vs_map_osd_find(map, primary);
	if (!osd)
		return NULL;
	slot = vs_route_slot(dev, r, part->cmd->rq);
	return r->conns[(osd - map->osds) * r->conns_per_osd + slot];
}

/*
 * The connection slot (per OSD) of rq's hardware queue: the queues share
 * the data slots, each poll queue has one of its own. The device's own ops
 * have no request, hence no queue: slot 0.
 */
u32 vs_route_slot(const struct vs_dev *dev, const struct vs_route *r,
		  const struct request *rq)
{
	const struct blk_mq_hw_ctx *hctx;

	if (unlikely(!rq))
		return 0;
	hctx = rq->mq_hctx;
	if (hctx->type == HCTX_TYPE_POLL)
		return r->data_slots + hctx->queue_num - dev->poll_offset;
	return hctx->queue_num % r->data_slots;
}

/*
 * Connections queue_rq sends on itself once its parts are queued. batch:
 * the request is one of several the submitter handed over at once, so
 * its parts already leave together: tx_defer does not hold them (unless
 * tx_defer_batch).
 */
struct vs_push {
	u32 n;
	bool batch;
	struct vs_conn *conns[VS_NPARTS];
};

/* Queues part on conn (RCU read side); false if conn is dying. */
static bool vs_queue_on(struct vs_conn *conn, struct vs_part *part,
			struct vs_push *push)
{
	bool want = false;
	u32 i;

	if (!vs_conn_queue(conn, part, push ? &want : NULL,
			   push && !push->batch))
		return false;
	if (!want)
		return true;
	for (i = 0; i < push->n; i++)
		if (push->conns[i] == conn)
			return true;
	vs_conn_get_user(conn);
	push->conns[push->n++] = conn;
	return true;
}

static void vs_route_one(struct vs_dev *dev, struct vs_part *part,
			 struct vs_push *push)
{
	int idx = vs_dev_pool_index(dev, vs_inode_pool(part->inode));
	struct vs_conn *conn = NULL;
	struct vs_route *r;
	bool queued = false;

	if (part->flags & VS_PF_FIXED) {
		/* a SYNC whose connection is gone: its writes are replayed */
		vs_part_finish(part, -ECONNRESET, NULL);
		return;
	}
	/* idx < 0: a layer in a pool without a map, which MAP and SET_LAYERS refuse */
	if (READ_ONCE(dev->dead) || WARN_ON_ONCE(idx < 0)) {
		vs_part_finish(part, -EIO, NULL);
		return;
	}
	/* a PG replaying acknowledged writes takes nothing else meanwhile */
	if (unlikely(dev->lz) && !(part->flags & VS_PF_LAZY) &&
	    vs_lazy_hold(dev, part))
		return;
	rcu_read_lock();
	r = rcu_dereference(*vs_dev_rslot(dev, idx));
	conn = vs_route_conn(dev, r, part);
	if (conn)
		queued = vs_queue_on(conn, part, push);
	rcu_read_unlock();
	if (queued)
		return;
	if (!conn)
		vs_dev_need_map(dev, idx);
	/* no primary: wait for a map; a dying connection: route again soon */
	vs_dev_retry_part(dev, part, conn ? 1 : vs_retry_interval_ms);
}

void vs_dev_route_part(struct vs_dev *dev, struct vs_part *part)
{
	vs_route_one(dev, part, NULL);
}

/* Sends on the connections queue_rq queued on, in its own context. */
static void vs_push_all(struct vs_push *push)
{
	u32 i;

	for (i = 0; i < push->n; i++) {
		vs_conn_push(push->conns[i]);
		vs_conn_put_user(push->conns[i]);
	}
}

/*
 * A request that is not the last of its batch (bd->last false) leaves its
 * connections for the batch's end: the last request or commit_rqs sends
 * every request of the batch with one sendmsg per connection, in the
 * submitter's context (no work item per request). Each connection is on
 * dev->push_list at most once and holds the user reference it was found
 * with. queue_rq may run concurrently on one hctx (direct issue and a
 * queue run): whichever batch end comes first sends what is queued.
 */
static void vs_push_later(struct vs_dev *dev, struct vs_push *push)
{
	u32 i;

	for (i = 0; i < push->n; i++) {
		struct vs_conn *conn = push->conns[i];

		if (test_and_set_bit(VS_CONN_PUSH_PENDING, &conn->push_bits))
			vs_conn_put_user(conn);
		else
			llist_add(&conn->push_node, &dev->push_list);
	}
}

/* The end of a batch: sends on the connections vs_push_later left. */
static void vs_push_pending(struct vs_dev *dev)
{
	struct vs_conn *conn, *next;
	struct llist_node *list;

	if (llist_empty(&dev->push_list))
		return;
	list = llist_del_all(&dev->push_list);
	llist_for_each_entry_safe(conn, next, list, push_node) {
		/*
		 * Cleared before the send: a part queued after it re-adds
		 * the connection, one queued before it is in the sendq the
		 * send takes under conn->lock.
		 */
		clear_bit(VS_CONN_PUSH_PENDING, &conn->push_bits);
		/* the clear before the sendq read: pairs with vs_push_later */
		smp_mb__after_atomic();
		vs_conn_push(conn);
		vs_conn_put_user(conn);
	}
}

static void vs_dev_retry_work(struct work_struct *w)
{
	struct vs_dev *dev = container_of(to_delayed_work(w), struct vs_dev,
					  retry_work);
	struct vs_part *part, *tmp;
	LIST_HEAD(list);

	spin_lock_bh(&dev->lock);
	list_splice_init(&dev->retry, &list);
	spin_unlock_bh(&dev->lock);
	list_for_each_entry_safe(part, tmp, &list, node) {
		list_del_init(&part->node);
		part->state = VS_PART_IDLE;
		vs_dev_route_part(dev, part);
	}
}

/* ---- requests ---- */

static void vs_part_init(struct vs_cmd *cmd, u8 op, u8 flags, u64 offset,
			 u32 len, u32 roff)
{
	struct vs_part *part = &cmd->parts[cmd->nparts++];

	part->op = op;
	part->flags = flags;
	part->inode = cmd->inode;
	part->offset = offset;
	part->len = len;
	part->roff = roff;
	part->state = VS_PART_IDLE;
	part->dirty = NULL;
	INIT_LIST_HEAD(&part->node);
}

/* READ / WRITE: one part per object the range touches. */
static int vs_prep_rw(struct vs_dev *dev, struct vs_cmd *cmd, u8 op, u8 flags,
		      u64 pos, u32 len)
{
	u32 roff = 0, n;

	while (len) {
		n = min_t(u64, len, dev->stripe_size -
			  vs_u64_rem(pos, dev->stripe_size));
		if (cmd->nparts == VS_NPARTS)
			return -EIO;
		vs_part_init(cmd, op, flags, pos, n, roff);
		pos += n;
		roff += n;
		len -= n;
	}
	return 0;
}

/*
 * Discard and write-zeroes: whole objects are deleted (reads of a missing
 * object return zeroes); the partial ends are skipped by a discard and
 * written with zeroes by write-zeroes. NOUNMAP write-zeroes writes zeroes
 * everywhere.
 */
static int vs_prep_zero(struct vs_dev *dev, struct vs_cmd *cmd, bool discard,
			bool nounmap, u64 pos, u32 len)
{
	u64 stripe = dev->stripe_size;
	u32 n, in;

	while (len) {
		in = vs_u64_rem(pos, stripe);
		n = min_t(u64, len, stripe - in);
		if (cmd->nparts == VS_NPARTS)
			return -EIO;
		if (!in && n == stripe && !nounmap)
			vs_part_init(cmd, VS_OP_DELETE,
				     discard ? VS_PF_DISCARD : VS_PF_ZEROOUT,
				     pos, 0, 0);
		else if (!discard)
			vs_part_init(cmd, VS_OP_WRITE, VS_PF_ZERO, pos, n, 0);
		pos += n;
		len -= n;
	}
	return 0;
}

/*
 * Flush: lazy, it ends once every write acknowledged before it is synced
 * (vs_lazy_flush, from vs_cmd_end); EIO if one was lost since the last.
 */
static int vs_prep_flush(struct vs_dev *dev, struct vs_cmd *cmd)
{
	if (!dev->lz)
		return 0;
	if (xchg(&dev->sync_lost, false))
		return -EIO;
	cmd->lz_wait = true;
	return 0;
}

/* Lazy WRITE/DELETE parts: slots to keep them until their SYNC. */
static int vs_prep_lazy(struct vs_dev *dev, struct vs_cmd *cmd, int err)
{
	if (err || !cmd->nparts)
		return err;
	return vs_lazy_reserve(dev, cmd);
}

static int vs_cmd_prep(struct vs_dev *dev, struct vs_cmd *cmd)
{
	struct request *rq = cmd->rq;
	u64 pos = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;
	u32 len = blk_rq_bytes(rq);
	bool lazy = dev->lz;
	/* the caller holds rcu_read_lock() */
	struct vs_layers *l = rcu_dereference(dev->layers);
	int err;

	cmd->nparts = 0;
	cmd->error = 0;
	cmd->abort = 0;
	cmd->lz_wait = false;
	cmd->inode = l->inode[0];
	cmd->lr.layers = NULL;
	switch (req_op(rq)) {
	case REQ_OP_READ:
		err = vs_prep_rw(dev, cmd, VS_OP_READ, 0, pos, len);
		return err ? err : vs_layer_start(cmd, l);
	case REQ_OP_WRITE:
		err = vs_prep_rw(dev, cmd, VS_OP_WRITE, 0, pos, len);
		if (!lazy)
			return err;
		/* FUA: written, then a flush of everything up to it */
		cmd->lz_wait = rq->cmd_flags & REQ_FUA;
		return vs_prep_lazy(dev, cmd, err);
	case REQ_OP_FLUSH:
		return vs_prep_flush(dev, cmd);
	case REQ_OP_DISCARD:
		err = vs_prep_zero(dev, cmd, true, false, pos, len);
		return lazy ? vs_prep_lazy(dev, cmd, err) : err;
	case REQ_OP_WRITE_ZEROES:
		err = vs_prep_zero(dev, cmd, false,
				   rq->cmd_flags & REQ_NOUNMAP, pos, len);
		return lazy ? vs_prep_lazy(dev, cmd, err) : err;
	default:
		return -EOPNOTSUPP;
	}
}

/* Sends the prepared parts (rcu_read_lock held). */
static void vs_cmd_dispatch(struct vs_dev *dev, struct vs_cmd *cmd,
			    struct vs_push *push)
{
	unsigned int i, n = cmd->nparts;

	/* one extra count so the request cannot end while we route */
	atomic_set(&cmd->pending, n + 1);
	for (i = 0; i < n; i++)
		vs_route_one(dev, &cmd->parts[i], push);
	vs_cmd_put(cmd);
}

/*
 * BLK_MQ_F_BLOCKING: the push at the end may sleep on the socket lock
 * (never for long: nothing blocks while holding it, sends are
 * MSG_DONTWAIT).
 */
static blk_status_t vs_queue_rq(struct blk_mq_hw_ctx *hctx,
				const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct vs_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct vs_dev *dev = cmd->dev;
	struct vs_push push;
	int err;

	if (READ_ONCE(dev->dead))
		return BLK_STS_IOERR;
	push.n = 0;
	/* not the last, or the last after others (their conns are listed) */
	push.batch = !READ_ONCE(vs_tx_defer_batch) &&
		     (!bd->last || !llist_empty(&dev->push_list));
	rcu_read_lock();
	err = vs_cmd_prep(dev, cmd);
	if (err) {
		rcu_read_unlock();
		/* lazy, no room to keep the writes: again after a SYNC */
		if (err == -EAGAIN)
			return BLK_STS_DEV_RESOURCE;
		return errno_to_blk_status(err);
	}
	blk_mq_start_request(rq);
	atomic_inc(&dev->inflight);
	vs_cmd_dispatch(dev, cmd, &push);
	rcu_read_unlock();
	if (bd->last) {
		vs_push_pending(dev);
		vs_push_all(&push);
	} else {
		vs_push_later(dev, &push);
	}
	return BLK_STS_OK;
}

/* A batch ended without a request marked last (blk-mq's own dispatch). */
static void vs_commit_rqs(struct blk_mq_hw_ctx *hctx)
{
	struct vs_dev *dev = hctx->queue->tag_set->driver_data;

	vs_push_pending(dev);
}

/* n requests ended: after they did, since unmap waits for 0 */
static void vs_dev_inflight_sub(struct vs_dev *dev, int n)
{
	if (atomic_sub_and_test(n, &dev->inflight))
		wake_up_all(&dev->idle_wq);
}

static void vs_cmd_complete(struct vs_cmd *cmd)
{
	struct vs_dev *dev = cmd->dev;

	vs_layer_end(cmd);
	blk_mq_end_request(cmd->rq, errno_to_blk_status(cmd->error));
	vs_dev_inflight_sub(dev, 1);
}

static void vs_dev_end_work(struct work_struct *w)
{
	struct vs_dev *dev = container_of(w, struct vs_dev, end_work);
	struct llist_node *list = llist_del_all(&dev->end_list);
	struct vs_cmd *cmd, *next;

	llist_for_each_entry_safe(cmd, next, llist_reverse_order(list), end_node)
		vs_cmd_complete(cmd);
}

/*
 * A batch of one device's requests that ended without an error, as nvme
 * ends a CQ's: one clock read, tags and queue references given back per
 * batch, not per request.
 */
static void vs_cmd_complete_batch(struct io_comp_batch *iob)
{
	struct request *rq = rq_list_peek(&iob->req_list);
	struct vs_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct vs_dev *dev = cmd->dev;
	int n = 0;

	rq_list_for_each(&iob->req_list, rq) {
		vs_layer_end(blk_mq_rq_to_pdu(rq));
		n++;
	}
	blk_mq_end_request_batch(iob);
	if (n > 1)
		atomic64_add(n, &dev->batch_ends);
	vs_dev_inflight_sub(dev, n);
}

/* Whether cmd went into iob, to end with the rest of the batch. */
static bool vs_cmd_batch(struct vs_cmd *cmd, struct io_comp_batch *iob)
{
	/* one device per batch: the parser's is one connection's */
	return iob && blk_mq_add_to_batch(cmd->rq, iob, cmd->error,
					  vs_cmd_complete_batch);
}

static void vs_cmd_end(struct vs_cmd *cmd, struct io_comp_batch *iob)
{
	struct request *rq = cmd->rq;
	struct vs_dev *dev = cmd->dev;

	if (cmd->lz_wait && !cmd->error && !READ_ONCE(dev->dead)) {
		/* lazy flush or FUA write: until the SYNCs cover it */
		cmd->lz_wait = false;
		vs_lazy_flush(dev, cmd);
		return;
	}
	/*
	 * A polled bio must not end in interrupt context (6.1's bio_put
	 * returns it to a per-CPU cache that is not irq safe): a reply its
	 * poller did not parse, or a failure under a _bh lock, ends it in a
	 * task. Pollers parse their own connections, so this is rare.
	 */
	if (unlikely(rq->cmd_flags & REQ_POLLED) && in_interrupt()) {
		if (llist_add(&cmd->end_node, &dev->end_list))
			queue_work(vs_io_wq, &dev->end_work);
		return;
	}
	if (!vs_cmd_batch(cmd, iob))
		vs_cmd_complete(cmd);
}

/*
 * Connection faults are the recovery mechanism, not this: it only enforces
 * the optional per-request deadline (the abort work fails the parts) and
 * reports requests that look stuck.
 */
static enum blk_eh_timer_return vs_timeout(struct request *rq)
{
	struct vs_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct vs_dev *dev = cmd->dev;

	if (dev->p.timeout_ms) {
		WRITE_ONCE(cmd->abort, 1);
		queue_work(vs_ctl_wq, &dev->abort_work);
	} else {
		vs_dev_event(dev, VS_EV_IO_STUCK);
	}
	return BLK_EH_RESET_TIMER;
}

static int vs_init_request(struct blk_mq_tag_set *set, struct request *rq,
			   unsigned int hctx_idx, unsigned int numa_node)
{
	struct vs_cmd *cmd = blk_mq_rq_to_pdu(rq);
	unsigned int i;

	cmd->rq = rq;
	cmd->dev = set->driver_data;
	cmd->lr.need = cmd->lbits;
	cmd->lr.got = cmd->lbits + cmd->dev->lbits_longs;
	INIT_LIST_HEAD(&cmd->lz_node);
	for (i = 0; i < VS_NPARTS; i++) {
		cmd->parts[i].cmd = cmd;
		cmd->parts[i].idx = i;
		INIT_LIST_HEAD(&cmd->parts[i].node);
	}
	return 0;
}

static const struct blk_mq_ops vs_mq_ops = {
	.queue_rq	= vs_queue_rq,
	.commit_rqs	= vs_commit_rqs,
	.timeout	= vs_timeout,
	.init_request	= vs_init_request,
	.map_queues	= vs_map_queues,
	.poll		= vs_poll,
};

/* ---- aborts and events ---- */

static bool vs_part_aborted(struct vs_part *part, void *arg)
{
	return READ_ONCE(part->cmd->abort);
}

/* Takes the parts for which pred holds back from everywhere, to out. */
void vs_dev_sweep(struct vs_dev *dev,
		  bool (*pred)(struct vs_part *part, void *arg), void *arg,
		  struct list_head *out)
{
	struct vs_part *part, *tmp;
	struct vs_route *r;
	u32 i, k;

	mutex_lock(&dev->route_mutex);
	for (k = 0; k < vs_dev_nroutes(dev); k++) {
		r = rcu_dereference_protected(*vs_dev_rslot(dev, k),
					      lockdep_is_held(&dev->route_mutex));
		for (i = 0; r && i < r->nconns; i++)
			vs_conn_sweep(r->conns[i], pred, arg, out);
	}
	mutex_unlock(&dev->route_mutex);
	spin_lock_bh(&dev->lock);
	list_for_each_entry_safe(part, tmp, &dev->retry, node)
		if (pred(part, arg))
			list_move_tail(&part->node, out);
	spin_unlock_bh(&dev->lock);
}

static void vs_dev_abort_work(struct work_struct *w)
{
	struct vs_dev *dev = container_of(w, struct vs_dev, abort_work);
	struct vs_part *part, *tmp;
	LIST_HEAD(list);

	vs_dev_sweep(dev, vs_part_aborted, NULL, &list);
	if (dev->lz)
		vs_lazy_sweep(dev, vs_part_aborted, NULL, &list);
	list_for_each_entry_safe(part, tmp, &list, node) {
		list_del_init(&part->node);
		vs_part_finish(part, -ETIMEDOUT, NULL);
	}
	if (dev->lz)
		vs_lazy_abort(dev);
}

void vs_dev_event(struct vs_dev *dev, int ev)
{
	if (!test_and_set_bit(ev, &dev->events))
		queue_delayed_work(vs_ctl_wq, &dev->event_work, 0);
}

/*
 * Route idx (vs_dev_rslot) needs a fresher map; idx < 0: every route. A
 * NEED_MAP without any need_map bit (a connection dropped) asks for all.
 */
void vs_dev_need_map(struct vs_dev *dev, int idx)
{
	u32 i;

	for (i = 0; i < vs_dev_nroutes(dev); i++)
		if (idx < 0 || i == idx)
			set_bit(i, &dev->need_map);
	vs_dev_event(dev, VS_EV_NEED_MAP);
}

/* One NEED_MAP per route that asked (all of them if none said which). */
static void vs_dev_send_need_map(struct vs_dev *dev)
{
	unsigned long mask = xchg(&dev->need_map, 0);
	u32 i;

	if (!mask)
		mask = GENMASK(vs_dev_nroutes(dev) - 1, 0);
	for (i = 0; i < vs_dev_nroutes(dev); i++)
		if (mask & BIT(i))
			vs_genl_event_need_map(dev, i);
}

static void vs_dev_event_work(struct work_struct *w)
{
	struct vs_dev *dev = container_of(to_delayed_work(w), struct vs_dev,
					  event_work);
	unsigned long every = msecs_to_jiffies(vs_retry_interval_ms);
	unsigned long next = dev->last_need_map + every;
	bool later = false;

	/* rate limit: one NEED_MAP per retry interval is plenty */
	if (test_bit(VS_EV_NEED_MAP, &dev->events)) {
		if (time_after_eq(jiffies, next)) {
			clear_bit(VS_EV_NEED_MAP, &dev->events);
			dev->last_need_map = jiffies;
			vs_dev_send_need_map(dev);
		} else {
			later = true;
		}
	}
	if (test_and_clear_bit(VS_EV_OSD_UNREACHABLE, &dev->events))
		vs_genl_event_osd(dev, atomic64_read(&dev->unreachable_osd));
	if (test_and_clear_bit(VS_EV_IO_STUCK, &dev->events)) {
		pr_warn_ratelimited("vs%u: %d requests waiting for more than %u ms\n",
				    dev->index, atomic_read(&dev->inflight),
				    vs_stuck_ms);
		vs_genl_event_stuck(dev, atomic_read(&dev->inflight), vs_stuck_ms);
	}
	if (later && !READ_ONCE(dev->removing))
		queue_delayed_work(vs_ctl_wq, &dev->event_work, next - jiffies);
}

/*
 * Parts that vs_conn_queue held back (tx_defer) go out: called after
 * replies were claimed and when parts stop awaiting replies otherwise
 * (reset, sweep, new map), never while the route's connections are freed.
 * Any context but hard IRQ.
 */
void vs_dev_kick_deferred(struct vs_dev *dev)
{
	struct vs_route *r;
	u32 i, k;

	/* the claims before us, then tx_deferred: pairs with vs_tx_hold */
	smp_mb();
	if (!atomic_read(&dev->tx_deferred) || !atomic_xchg(&dev->tx_deferred, 0))
		return;
	rcu_read_lock();
	for (k = 0; k < vs_dev_nroutes(dev); k++) {
		r = rcu_dereference(*vs_dev_rslot(dev, k));
		for (i = 0; r && i < r->nconns; i++)
			vs_conn_kick_queued(r->conns[i]);
	}
	rcu_read_unlock();
}

static void vs_dev_kick_work(struct work_struct *w)
{
	vs_dev_kick_deferred(container_of(to_delayed_work(w), struct vs_dev,
					  kick_work));
}

/* Periodic liveness check of the connections (PING, spec 4.2). */
static void vs_dev_tick_work(struct work_struct *w)
{
	struct vs_dev *dev = container_of(to_delayed_work(w), struct vs_dev,
					  tick_work);
	struct vs_route *r;
	u32 i, k;

	rcu_read_lock();
	for (k = 0; k < vs_dev_nroutes(dev); k++) {
		r = rcu_dereference(*vs_dev_rslot(dev, k));
		for (i = 0; r && i < r->nconns; i++)
			vs_conn_tick(r->conns[i]);
	}
	rcu_read_unlock();
	if (vs_idle_timeout_ms && !READ_ONCE(dev->removing))
		queue_delayed_work(vs_ctl_wq, &dev->tick_work,
				   msecs_to_jiffies(max(vs_idle_timeout_ms / 2, 100u)));
}

/* ---- map changes ---- */

/* In flight on a connection that is not its target under the new route. */
static bool vs_part_moved(struct vs_part *part, void *arg)
{
	struct vs_route *r = arg;
	struct vs_conn *now = READ_ONCE(part->conn);

	if (part->flags & VS_PF_FIXED)
		return false;
	return now && vs_route_conn(part->cmd->dev, r, part) != now;
}

/*
 * A newer map for route idx of this device (vs_ctl_mutex held; takes
 * map's reference either way). Kept connections stay up; parts in flight
 * to an OSD that is no longer their primary are taken back and resent;
 * the parts waiting for a map are routed now.
 */
int vs_dev_set_map(struct vs_dev *dev, u32 idx, struct vs_map *map)
{
	struct vs_route __rcu **slot = vs_dev_rslot(dev, idx);
	struct vs_route *old, *cur;
	struct vs_part *part, *tmp;
	LIST_HEAD(moved);
	u32 i;

	mutex_lock(&dev->route_mutex);
	old = rcu_dereference_protected(*slot,
					lockdep_is_held(&dev->route_mutex));
	if (map->epoch <= old->map->epoch) {
		mutex_unlock(&dev->route_mutex);
		vs_map_put(map);
		return 0;
	}
	cur = vs_route_build(dev, map, old);
	if (!cur) {
		mutex_unlock(&dev->route_mutex);
		vs_map_put(map);
		return -ENOMEM;
	}
	/* before anything routes by it: parts of moved PGs must wait */
	if (dev->lz && !idx)
		vs_lazy_remap(dev, map);
	rcu_assign_pointer(*slot, cur);
	synchronize_rcu();
	vs_route_retire(dev, old, cur);
	for (i = 0; i < cur->nconns; i++)
		vs_conn_sweep(cur->conns[i], vs_part_moved, cur, &moved);
	mutex_unlock(&dev->route_mutex);
	list_for_each_entry_safe(part, tmp, &moved, node) {
		list_del_init(&part->node);
		vs_dev_route_part(dev, part);
	}
	/* held back behind parts of connections that were killed */
	vs_dev_kick_deferred(dev);
	mod_delayed_work(vs_ctl_wq, &dev->retry_work, 0);
	return 1;
}

/* ---- state for LIST and sysfs ---- */

int vs_dev_state(struct vs_dev *dev)
{
	struct vs_route *r;
	bool ready = false, waiting;
	u32 i, k;

	if (READ_ONCE(dev->dead))
		return VS_DEV_STATE_DEAD;
	if (READ_ONCE(dev->removing))
		return VS_DEV_STATE_REMOVING;
	spin_lock_bh(&dev->lock);
	waiting = !list_empty(&dev->retry);
	spin_unlock_bh(&dev->lock);
	rcu_read_lock();
	for (k = 0; k < vs_dev_nroutes(dev); k++) {
		r = rcu_dereference(*vs_dev_rslot(dev, k));
		for (i = 0; i < r->nconns; i++) {
			struct vs_conn *c = r->conns[i];

			spin_lock_bh(&c->lock);
			if (c->state == VS_CONN_READY)
				ready = true;
			else if (!list_empty(&c->sendq))
				waiting = true;
			spin_unlock_bh(&c->lock);
		}
	}
	rcu_read_unlock();
	if (waiting)
		return VS_DEV_STATE_DEGRADED;
	return ready ? VS_DEV_STATE_ACTIVE : VS_DEV_STATE_CONNECTING;
}

/* The map epoch of route idx. */
u64 vs_dev_epoch(struct vs_dev *dev, u32 idx)
{
	struct vs_route *r;
	u64 epoch;

	rcu_read_lock();
	r = rcu_dereference(*vs_dev_rslot(dev, idx));
	epoch = r ? r->map->epoch : 0;
	rcu_read_unlock();
	return epoch;
}

static const char *const vs_state_names[] = {
	[VS_DEV_STATE_UNSPEC] = "unknown",
	[VS_DEV_STATE_CONNECTING] = "connecting",
	[VS_DEV_STATE_ACTIVE] = "active",
	[VS_DEV_STATE_DEGRADED] = "degraded",
	[VS_DEV_STATE_DEAD] = "dead",
	[VS_DEV_STATE_REMOVING] = "removing",
};

static struct vs_dev *vs_sysfs_dev(struct device *d)
{
	return dev_to_disk(d)->private_data;
}

static ssize_t pool_show(struct device *d, struct device_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%s\n", vs_sysfs_dev(d)->p.pool_name);
}

static ssize_t pool_id_show(struct device *d, struct device_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%u\n", vs_sysfs_dev(d)->p.pool_id);
}

static ssize_t image_show(struct device *d, struct device_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%s\n", vs_sysfs_dev(d)->p.image_name);
}

static ssize_t inode_show(struct device *d, struct device_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  vs_inode_num(READ_ONCE(vs_sysfs_dev(d)->p.inode)));
}

static ssize_t size_show(struct device *d, struct device_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  (u64)get_capacity(dev_to_disk(d)) << SECTOR_SHIFT);
}

static ssize_t state_show(struct device *d, struct device_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%s\n", vs_state_names[vs_dev_state(vs_sysfs_dev(d))]);
}

static ssize_t epoch_show(struct device *d, struct device_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%llu\n", vs_dev_epoch(vs_sysfs_dev(d), 0));
}

/* "POOL_ID:EPOCH" of every pool the device routes in, its own first. */
static ssize_t pools_show(struct device *d, struct device_attribute *a, char *buf)
{
	struct vs_dev *dev = vs_sysfs_dev(d);
	ssize_t len = 0;
	u32 i;

	for (i = 0; i < vs_dev_nroutes(dev); i++)
		len += sysfs_emit_at(buf, len, "%s%u:%llu", i ? " " : "",
				     vs_dev_route_pool(dev, i),
				     vs_dev_epoch(dev, i));
	return len + sysfs_emit_at(buf, len, "\n");
}

/* Lazy pools: what is retained for replay, and what replay and SYNC did. */
#define VS_LAZY_ATTR(name)						\
static ssize_t lazy_##name##_show(struct device *d,			\
				  struct device_attribute *a, char *buf)	\
{									\
	struct vs_lazy_stats st;					\
									\
	vs_lazy_stats(vs_sysfs_dev(d), &st);				\
	return sysfs_emit(buf, "%llu\n", st.name);			\
}									\
static DEVICE_ATTR_RO(lazy_##name)

VS_LAZY_ATTR(retained_ops);
VS_LAZY_ATTR(retained_bytes);
VS_LAZY_ATTR(replaying);
VS_LAZY_ATTR(replays);
VS_LAZY_ATTR(auto_syncs);
VS_LAZY_ATTR(syncs);

/* The device's event counters. */
#define VS_COUNTER_ATTR(name)						\
static ssize_t name##_show(struct device *d, struct device_attribute *a,	\
			   char *buf)					\
{									\
	return sysfs_emit(buf, "%lld\n",					\
			  (long long)atomic64_read(&vs_sysfs_dev(d)->name));	\
}									\
static DEVICE_ATTR_RO(name)

VS_COUNTER_ATTR(rx_work_runs);
VS_COUNTER_ATTR(poll_replies);
VS_COUNTER_ATTR(batch_ends);

static DEVICE_ATTR_RO(pool);
static DEVICE_ATTR_RO(pool_id);
static DEVICE_ATTR_RO(image);
static DEVICE_ATTR_RO(inode);
static DEVICE_ATTR_RO(size);
static DEVICE_ATTR_RO(state);
static DEVICE_ATTR_RO(epoch);
static DEVICE_ATTR_RO(pools);

static struct attribute *vs_attrs[] = {
	&dev_attr_pool.attr,
	&dev_attr_pool_id.attr,
	&dev_attr_image.attr,
	&dev_attr_inode.attr,
	&dev_attr_size.attr,
	&dev_attr_state.attr,
	&dev_attr_epoch.attr,
	&dev_attr_pools.attr,
	&dev_attr_lazy_retained_ops.attr,
	&dev_attr_lazy_retained_bytes.attr,
	&dev_attr_lazy_replaying.attr,
	&dev_attr_lazy_replays.attr,
	&dev_attr_lazy_auto_syncs.attr,
	&dev_attr_lazy_syncs.attr,
	&dev_attr_rx_work_runs.attr,
	&dev_attr_poll_replies.attr,
	&dev_attr_batch_ends.attr,
	NULL,
};

static const struct attribute_group vs_attr_group = {
	.name = "vstor",
	.attrs = vs_attrs,
};

static const struct attribute_group *vs_attr_groups[] = {
	&vs_attr_group,
	NULL,
};

/* ---- block device operations ---- */

static VS_BDOPS_OPEN(vs_open)
{
	struct vs_dev *dev = VS_BDOPS_OPEN_DISK->private_data;
	int err = 0;

	spin_lock_bh(&dev->lock);
	if (dev->removing)
		err = -ENXIO;
	else
		dev->open_count++;
	spin_unlock_bh(&dev->lock);
	return err;
}

static VS_BDOPS_RELEASE(vs_release)
{
	struct vs_dev *dev = disk->private_data;

	spin_lock_bh(&dev->lock);
	dev->open_count--;
	spin_unlock_bh(&dev->lock);
}

/* The last reference to the disk is gone: nothing can reach dev now. */
static void vs_free_disk(struct gendisk *disk)
{
	kfree(disk->private_data);
}

static const struct block_device_operations vs_fops = {
	.owner		= THIS_MODULE,
	.open		= vs_open,
	.release	= vs_release,
	.free_disk	= vs_free_disk,
};

/* ---- create and remove ---- */

struct vs_dev *vs_dev_find(u32 index)
{
	lockdep_assert_held(&vs_ctl_mutex);
	return idr_find(&vs_idr, index);
}

/* The device with the lowest index >= *index (updated), or NULL. */
struct vs_dev *vs_dev_next(u32 *index)
{
	int id = *index;
	struct vs_dev *dev;

	lockdep_assert_held(&vs_ctl_mutex);
	dev = idr_get_next(&vs_idr, &id);
	if (dev)
		*index = id;
	return dev;
}

static void vs_dev_limits(struct vs_dev *dev, struct vs_limits *l)
{
	u64 discard = (u64)(VS_NPARTS - 1) * dev->stripe_size >> SECTOR_SHIFT;

	memset(l, 0, sizeof(*l));
	l->lbs = dev->p.bitmap_granularity;
	l->io_opt = dev->stripe_size;
	l->max_sectors = min_t(u64, dev->stripe_size, VS_MAX_OP_LEN) >> SECTOR_SHIFT;
	l->chunk_sectors = dev->stripe_size >> SECTOR_SHIFT;
	if (dev->p.features & VS_FEAT_DISCARD) {
		l->discard_sectors = min_t(u64, discard, UINT_MAX >> 1);
		l->discard_granularity = dev->stripe_size;
	}
	l->write_cache = dev->lazy;
}

static int vs_dev_index_alloc(struct vs_dev *dev, u32 want)
{
	int start = want == U32_MAX ? 0 : want;
	int end = want == U32_MAX ? VS_MAX_DEV_INDEX + 1 : want + 1;
	int id;

	idr_preload(GFP_KERNEL);
	id = idr_alloc(&vs_idr, dev, start, end, GFP_NOWAIT);
	idr_preload_end();
	if (id == -ENOSPC)
		return want == U32_MAX ? -ENOSPC : -EEXIST;
	return id;
}

/* Teardown: every route, NULL afterwards (the event work reads them). */
static void vs_dev_free_routes(struct vs_dev *dev)
{
	u32 k;

	for (k = 0; k < vs_dev_nroutes(dev); k++) {
		struct vs_route __rcu **slot = vs_dev_rslot(dev, k);

		vs_route_free_all(dev, rcu_dereference_protected(*slot, 1));
		RCU_INIT_POINTER(*slot, NULL);
	}
}

/* The routes of maps (maps[0]: the device's own pool), taking the maps. */
static int vs_dev_build_routes(struct vs_dev *dev, struct vs_map **maps,
			       u32 nmaps)
{
	struct vs_route *route;
	u32 k;

	dev->n_xpools = nmaps - 1;
	for (k = 1; k < nmaps; k++) {
		u32 dc = dev->p.xdata_chunks[k - 1];

		dev->xpool_id[k - 1] = maps[k]->pool_id;
		dev->xstripe_size[k - 1] = (u64)dev->p.block_size * dc;
		dev->xbitmap_len[k - 1] = dc * vs_bitmap_size(dev->p.block_size,
							      dev->p.bitmap_granularity);
	}
	for (k = 0; k < nmaps; k++) {
		route = vs_route_build(dev, maps[k], NULL);
		if (!route)
			break;
		maps[k] = NULL;	/* the route owns it */
		RCU_INIT_POINTER(*vs_dev_rslot(dev, k), route);
	}
	if (k == nmaps)
		return 0;
	dev->n_xpools = k ? k - 1 : 0;
	if (k)
		vs_dev_free_routes(dev);
	return -ENOMEM;
}

/*
 * MAP (vs_ctl_mutex held; takes the references of the maps, maps[0] the
 * device's own pool's, the rest POOLS). The sysfs attributes
 * exist before the disk is announced, so udev rules never race them. The
 * partition scan is left to the first open, so MAP itself does no I/O and
 * returns even when the cluster does not answer.
 */
int vs_dev_create(const struct vs_dev_params *p, struct vs_map **maps,
		  u32 nmaps, struct vs_layers *layers, struct vs_dev **out)
{
	struct vs_limits lim;
	struct gendisk *disk;
	struct vs_dev *dev;
	u32 k, npoll;
	int err;

	lockdep_assert_held(&vs_ctl_mutex);
	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev) {
		err = -ENOMEM;
		goto out_maps;
	}
	dev->p = *p;
	RCU_INIT_POINTER(dev->layers, layers);
	dev->stripe_size = (u64)p->block_size * p->data_chunks;
	dev->lbits_longs = vs_layer_bits_longs(dev);
	dev->bitmap_len = vs_bitmap_size(p->block_size, p->bitmap_granularity) *
			  p->data_chunks;
	dev->lazy = p->immediate_commit != VS_GENL_COMMIT_ALL;
	spin_lock_init(&dev->lock);
	INIT_LIST_HEAD(&dev->retry);
	INIT_DELAYED_WORK(&dev->retry_work, vs_dev_retry_work);
	INIT_DELAYED_WORK(&dev->tick_work, vs_dev_tick_work);
	INIT_DELAYED_WORK(&dev->kick_work, vs_dev_kick_work);
	INIT_DELAYED_WORK(&dev->event_work, vs_dev_event_work);
	mutex_init(&dev->route_mutex);
	INIT_WORK(&dev->abort_work, vs_dev_abort_work);
	init_waitqueue_head(&dev->idle_wq);
	atomic_set(&dev->inflight, 0);
	atomic_set(&dev->tx_waiting, 0);
	atomic_set(&dev->tx_deferred, 0);
	init_llist_head(&dev->push_list);
	init_llist_head(&dev->end_list);
	INIT_WORK(&dev->end_work, vs_dev_end_work);
	init_completion(&dev->unmap_sync);
	dev->last_need_map = jiffies - msecs_to_jiffies(vs_retry_interval_ms);

	err = vs_dev_index_alloc(dev, p->dev_index);
	if (err < 0)
		goto out_free;
	dev->index = err;

	dev->tag_set.ops = &vs_mq_ops;
	/* more than one map lifts blk-mq's cap of a queue per CPU */
	dev->nr_default = min_t(u32, p->hw_queues, nr_cpu_ids);
	npoll = min_t(u32, READ_ONCE(vs_poll_queues), nr_cpu_ids);
	dev->tag_set.nr_hw_queues = dev->nr_default + npoll;
	dev->tag_set.nr_maps = npoll ? HCTX_MAX_TYPES : 1;
	dev->tag_set.queue_depth = p->queue_depth;
	dev->tag_set.numa_node = NUMA_NO_NODE;
	dev->tag_set.cmd_size = sizeof(struct vs_cmd) +
				2 * dev->lbits_longs * sizeof(unsigned long);
	dev->tag_set.flags = VS_BLK_MQ_F_MERGE | VS_BLK_MQ_F_NO_SCHED |
			     BLK_MQ_F_BLOCKING;
	dev->tag_set.driver_data = dev;
	dev->tag_set.timeout = msecs_to_jiffies(p->timeout_ms ? p->timeout_ms :
						vs_stuck_ms);
	err = blk_mq_alloc_tag_set(&dev->tag_set);
	if (err)
		goto out_idr;
	if (dev->tag_set.nr_maps > HCTX_TYPE_POLL) {
		dev->npoll = dev->tag_set.map[HCTX_TYPE_POLL].nr_queues;
		dev->poll_offset = dev->tag_set.map[HCTX_TYPE_POLL].queue_offset;
	}
	if (dev->lazy) {
		err = vs_lazy_create(dev, maps[0]);
		if (err)
			goto out_tags;
	}

	err = vs_dev_build_routes(dev, maps, nmaps);
	if (err)
		goto out_lazy;

	vs_dev_limits(dev, &lim);
	disk = vs_alloc_disk(&dev->tag_set, &lim, dev);
	if (IS_ERR(disk)) {
		err = PTR_ERR(disk);
		goto out_route;
	}
	dev->disk = disk;
	disk->major = vs_major;
	disk->first_minor = dev->index << VS_PART_SHIFT;
	disk->minors = 1 << VS_PART_SHIFT;
	disk->fops = &vs_fops;
	disk->private_data = dev;
	snprintf(disk->disk_name, sizeof(disk->disk_name), "vs%u", dev->index);
	set_capacity(disk, p->size >> SECTOR_SHIFT);
	if (p->flags & VS_GENL_F_READONLY)
		set_disk_ro(disk, true);
	set_bit(GD_SUPPRESS_PART_SCAN, &disk->state);
	err = device_add_disk(NULL, disk, vs_attr_groups);
	if (err)
		goto out_disk;
	clear_bit(GD_SUPPRESS_PART_SCAN, &disk->state);
	set_bit(GD_NEED_PART_SCAN, &disk->state);

	list_add_tail(&dev->node, &vs_devs);
	if (vs_idle_timeout_ms)
		queue_delayed_work(vs_ctl_wq, &dev->tick_work,
				   msecs_to_jiffies(vs_idle_timeout_ms));
	*out = dev;
	return 0;

out_disk:
	/* put_disk frees dev through vs_free_disk once the disk is gone */
	disk->private_data = NULL;
	put_disk(disk);
out_route:
	vs_lazy_stop(dev);
	vs_dev_free_routes(dev);
out_lazy:
	vs_lazy_destroy(dev);
out_tags:
	blk_mq_free_tag_set(&dev->tag_set);
out_idr:
	idr_remove(&vs_idr, dev->index);
out_free:
	kfree(dev);
out_maps:
	for (k = 0; k < nmaps; k++)
		vs_map_put(maps[k]);
	vs_layers_put(layers);
	return err;
}

/* Force: fail every part in flight or waiting, on every connection. */
static void vs_dev_fail_all(struct vs_dev *dev)
{
	struct vs_part *part, *tmp;
	struct vs_route *r;
	LIST_HEAD(list);
	u32 i, k;

	mutex_lock(&dev->route_mutex);
	for (k = 0; k < vs_dev_nroutes(dev); k++) {
		r = rcu_dereference_protected(*vs_dev_rslot(dev, k),
					      lockdep_is_held(&dev->route_mutex));
		for (i = 0; i < r->nconns; i++)
			vs_conn_kill(r->conns[i], &list);
	}
	mutex_unlock(&dev->route_mutex);
	spin_lock_bh(&dev->lock);
	list_splice_tail_init(&dev->retry, &list);
	spin_unlock_bh(&dev->lock);
	if (dev->lz)
		vs_lazy_fail_all(dev, &list);
	list_for_each_entry_safe(part, tmp, &list, node) {
		list_del_init(&part->node);
		vs_part_finish(part, -EIO, NULL);
	}
}

static void vs_unmap_sync_end(struct bio *bio)
{
	struct vs_dev *dev = bio->bi_private;

	/* the writes it was to make durable may be gone: say so from now on */
	if (bio->bi_status)
		WRITE_ONCE(dev->sync_lost, true);
	dev->unmap_sync_status = bio->bi_status;
	complete(&dev->unmap_sync);
	bio_put(bio);
}

/* Waits for the unmap flush until deadline; false if it is still running. */
static bool vs_unmap_sync_wait(struct vs_dev *dev, unsigned long deadline)
{
	long left = (long)(deadline - jiffies);

	if (!wait_for_completion_timeout(&dev->unmap_sync, max(left, 1L)))
		return false;
	dev->unmap_syncing = false;
	return true;
}

/*
 * Lazy pools, normal unmap (no request in flight): a flush through the
 * block layer, so that vs_prep_flush SYNCs every connection with
 * acknowledged writes no SYNC covered yet. Nothing else can submit I/O
 * meanwhile: the device is closed and refuses opens. Waits until
 * deadline. A flush still running then is waited for by the next unmap,
 * which flushes again (the device was open in between); one that fails
 * marks the writes as possibly lost.
 */
static int vs_dev_unmap_sync(struct vs_dev *dev, unsigned long deadline,
			     const char **why)
{
	struct bio *bio;

	if (dev->unmap_syncing && !vs_unmap_sync_wait(dev, deadline))
		goto busy;
	if (READ_ONCE(dev->sync_lost)) {
		*why = "acknowledged writes were lost before a SYNC covered them (an OSD connection broke, see dmesg): unmap with --force to remove the device anyway";
		return -EIO;
	}
	bio = bio_alloc(dev->disk->part0, 0, REQ_OP_WRITE | REQ_PREFLUSH,
			GFP_NOIO);
	if (!bio)
		return -ENOMEM;
	bio->bi_end_io = vs_unmap_sync_end;
	bio->bi_private = dev;
	reinit_completion(&dev->unmap_sync);
	dev->unmap_syncing = true;
	submit_bio(bio);
	if (!vs_unmap_sync_wait(dev, deadline))
		goto busy;
	if (dev->unmap_sync_status) {
		*why = "the SYNC of acknowledged writes failed, they may be lost (see dmesg): unmap with --force to remove the device anyway";
		return -EIO;
	}
	return 0;
busy:
	*why = "the SYNC of acknowledged writes did not finish within unmap_timeout_ms (cluster unreachable?): retry, or unmap with --force to drop them";
	return -EBUSY;
}

/*
 * Normal unmap: no request in flight and, lazy, the writes synced. Runs
 * without vs_ctl_mutex: finishing may need a SET_MAP (a primary moved),
 * and other devices' commands must not wait for this one's cluster. Only
 * one unmapper gets here per device (removing); a forced unmap may tear
 * the device down meanwhile, its failing every request wakes us.
 */
static int vs_dev_quiesce(struct vs_dev *dev, const char **why)
{
	unsigned long wait = msecs_to_jiffies(vs_unmap_timeout_ms);

	if (!wait_event_timeout(dev->idle_wq, !atomic_read(&dev->inflight),
				wait)) {
		*why = "requests still in flight (cluster unreachable?): retry, or unmap with --force";
		return -EBUSY;
	}
	return dev->lazy ? vs_dev_unmap_sync(dev, jiffies + wait, why) : 0;
}

/* vs_ctl_mutex held, no request left or every one failed (dead) */
static void vs_dev_teardown(struct vs_dev *dev)
{
	struct gendisk *disk = dev->disk;

	/* no request is left after del_gendisk, so no part either */
	del_gendisk(disk);
	cancel_delayed_work_sync(&dev->tick_work);
	/* no request queues it after del_gendisk; it scans the route */
	cancel_delayed_work_sync(&dev->kick_work);
	cancel_delayed_work_sync(&dev->retry_work);
	cancel_work_sync(&dev->abort_work);
	/* the replays of the connections about to go are dropped */
	vs_lazy_stop(dev);
	vs_dev_free_routes(dev);
	vs_lazy_destroy(dev);
	cancel_delayed_work_sync(&dev->event_work);
	vs_layers_put(rcu_dereference_protected(dev->layers, 1));
	RCU_INIT_POINTER(dev->layers, NULL);
	flush_work(&dev->end_work);
	blk_mq_free_tag_set(&dev->tag_set);
	list_del(&dev->node);
	idr_remove(&vs_idr, dev->index);
	dev->removed = true;
	put_disk(disk);		/* dev is freed with the disk's last reference */
}

/* A normal unmap's wait, with vs_ctl_mutex dropped and dev referenced. */
static int vs_dev_remove_wait(struct vs_dev *dev, const char **why)
{
	struct gendisk *disk = dev->disk;
	int err;

	get_device(disk_to_dev(disk));
	mutex_unlock(&vs_ctl_mutex);
	err = vs_dev_quiesce(dev, why);
	mutex_lock(&vs_ctl_mutex);
	if (dev->removed) {
		*why = "a forced unmap removed the device meanwhile (acknowledged writes may not have been synced)";
		err = -ENODEV;
	} else if (err) {
		spin_lock_bh(&dev->lock);
		dev->removing = false;
		spin_unlock_bh(&dev->lock);
	} else {
		vs_dev_teardown(dev);
	}
	put_disk(disk);
	return err;
}

/*
 * UNMAP (vs_ctl_mutex held; a normal one drops it while it waits). Normal:
 * refused while the device is open or another unmap of it waits, waits at
 * most unmap_timeout_ms for requests in flight and, on a lazy pool, as
 * long again for the SYNC of the acknowledged writes. Force: fails every
 * request in flight and every later one first, so it always completes,
 * even with the cluster gone, the device mounted or a normal unmap of it
 * waiting.
 */
int vs_dev_remove(struct vs_dev *dev, bool force, const char **why)
{
	lockdep_assert_held(&vs_ctl_mutex);
	spin_lock_bh(&dev->lock);
	if (!force && dev->open_count) {
		spin_unlock_bh(&dev->lock);
		*why = "device is open (mounted or in use): close it, or unmap with --force";
		return -EBUSY;
	}
	if (!force && dev->removing) {
		spin_unlock_bh(&dev->lock);
		*why = "another unmap of this device is waiting for it (see unmap_timeout_ms): wait, or unmap with --force";
		return -EBUSY;
	}
	dev->removing = true;
	if (force)
		dev->dead = true;
	spin_unlock_bh(&dev->lock);
	if (!force)
		return vs_dev_remove_wait(dev, why);
	blk_mark_disk_dead(dev->disk);
	vs_dev_fail_all(dev);
	vs_dev_teardown(dev);
	return 0;
}

void vs_dev_remove_all(void)
{
	struct vs_dev *dev, *tmp;
	const char *why;

	mutex_lock(&vs_ctl_mutex);
	list_for_each_entry_safe(dev, tmp, &vs_devs, node)
		vs_dev_remove(dev, true, &why);
	mutex_unlock(&vs_ctl_mutex);
}

int vs_dev_resize(struct vs_dev *dev, u64 size)
{
	set_capacity_and_notify(dev->disk, size >> SECTOR_SHIFT);
	dev->p.size = size;
	return 0;
}

int vs_dev_init(void)
{
	vs_major = register_blkdev(0, "vstor");
	return vs_major < 0 ? vs_major : 0;
}

void vs_dev_exit(void)
{
	unregister_blkdev(vs_major, "vstor");
	idr_destroy(&vs_idr);
}
