// SPDX-License-Identifier: GPL-2.0
/*
 * Poll queues: polled I/O (io_uring IORING_SETUP_IOPOLL, RWF_HIPRI) on
 * blk-mq HCTX_TYPE_POLL queues.
 *
 * Each poll queue has a connection per OSD of its own (the route's slots
 * after the data slots, vs_route_slot), so it carries polled requests
 * only. Their replies stay in the socket (vs_sk_data_ready leaves them):
 * the polling task parses them in .poll, copies READ data, completes the
 * requests and sends the parts the replies released, all in its own
 * context, as nvme-tcp's poll queues do. No request of a poll queue ends
 * in interrupt context (vs_cmd_end), and io_work parses what a poller
 * left when it stopped polling.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blk-mq.h>
#include <linux/kernel.h>

#include "vstor.h"

/*
 * Default queues first, then the poll queues; no read queues. A kdump
 * kernel makes it one map of one queue (blk_mq_alloc_tag_set).
 */
void vs_map_queues(struct blk_mq_tag_set *set)
{
	struct vs_dev *dev = set->driver_data;
	u32 i, off = 0;

	for (i = 0; i < set->nr_maps; i++) {
		struct blk_mq_queue_map *m = &set->map[i];

		if (set->nr_maps == 1)
			m->nr_queues = set->nr_hw_queues;
		else if (i == HCTX_TYPE_DEFAULT)
			m->nr_queues = dev->nr_default;
		else if (i == HCTX_TYPE_POLL)
			m->nr_queues = set->nr_hw_queues - dev->nr_default;
		else
			m->nr_queues = 0;	/* reads share the default map */
		m->queue_offset = off;
		if (m->nr_queues)
			blk_mq_map_queues(m);
		off += m->nr_queues;
	}
}

/*
 * The connections of hctx's poll queue with parts in flight or queued, a
 * user reference each: at most VS_POLL_BATCH, since the route may change
 * once RCU is left (the poller calls again); each call starts at another
 * OSD, so none waits behind others.
 */
#define VS_POLL_BATCH	8

static u32 vs_poll_conns(struct vs_dev *dev, struct blk_mq_hw_ctx *hctx,
			 struct vs_conn **conns)
{
	u32 turn = (u32)atomic_inc_return(&dev->poll_turn);
	u32 i, j, k, n = 0, slot, nosd;

	rcu_read_lock();
	for (k = 0; k < vs_dev_nroutes(dev) && n < VS_POLL_BATCH; k++) {
		struct vs_route *r = rcu_dereference(*vs_dev_rslot(dev, k));

		if (!r || !r->nconns)
			continue;
		slot = r->data_slots + hctx->queue_num - dev->poll_offset;
		nosd = r->nconns / r->conns_per_osd;
		for (j = 0; j < nosd && n < VS_POLL_BATCH; j++) {
			struct vs_conn *c;

			i = (turn + j) % nosd;
			c = r->conns[i * r->conns_per_osd + slot];
			if (list_empty_careful(&c->inflight) &&
			    list_empty_careful(&c->sendq))
				continue;
			vs_conn_get_user(c);
			conns[n++] = c;
		}
	}
	rcu_read_unlock();
	return n;
}

/*
 * A polling task (io_uring iopoll) parses the replies on its poll queue's
 * connections itself, in process context: every connection first, then
 * each sends what the replies released, one sendmsg per connection.
 */
int vs_poll(struct blk_mq_hw_ctx *hctx, struct io_comp_batch *iob)
{
	struct vs_dev *dev = hctx->queue->tag_set->driver_data;
	struct vs_conn *conns[VS_POLL_BATCH];
	u32 i, j = 0, n = vs_poll_conns(dev, hctx, conns);
	int found = 0;

	for (i = 0; i < n; i++) {
		if (vs_conn_poll_begin(conns[i]))
			conns[j++] = conns[i];
		else
			vs_conn_put_user(conns[i]);
	}
	for (i = 0; i < j; i++)
		found += vs_conn_poll_rx(conns[i]);
	for (i = 0; i < j; i++) {
		vs_conn_poll_end(conns[i]);
		vs_conn_put_user(conns[i]);
	}
	if (found)
		atomic64_add(found, &dev->poll_replies);
	return found;
}
