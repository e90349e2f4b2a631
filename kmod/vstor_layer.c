// SPDX-License-Identifier: GPL-2.0
/*
 * Layered images: reads of clones and of images with snapshots (spec
 * 4.0.2 and 9), the kernel twin of libvstor's common/client_layer.c.
 *
 * A device reads through a chain of layers: the top inode (which takes
 * every write) and its parents, nearest first, in the device's pool or in
 * the other pools it has maps of (POOLS), whose stripes may differ (EC
 * pools: block_size x data_chunks). For every bitmap granule a read shows
 * the data of the first layer that holds it, or zeroes. The OSD tells
 * which granules a layer holds in the bitmap before a READ reply's data
 * (bit i = granule i of the stripe of the layer's pool), so with
 * meta_revision 0 every READ returns one layer alone:
 *
 *   need := every granule of the request; layer L := 0 (the top)
 *   wave: one READ part per maximal run of needed granules (at most
 *         VS_NPARTS in flight, the request's own parts reused), data
 *         straight into the request's pages at the run's place; the
 *         bitmap of each reply sets got bits as it is received
 *   when a wave is back: more runs of layer L -> the next wave; else
 *         need &= ~got, L++, and a wave on L while anything is needed
 *   granules no layer holds came back as zeroes from every read: right.
 *
 * A granule that layer L does not hold is read from L again as zeroes,
 * then overwritten by a deeper layer's data or left zero, so the runs of
 * one layer never need the results of the next.
 *
 * Chains change while a device is mapped (SET_LAYERS): a request keeps a
 * reference to the chain it started with; if the device's chain changed
 * when a layer below the top would be read, the read starts over on the
 * new chain (at most VS_LAYER_RESTARTS times), as libvstor does. That
 * covers 'vsctl snap rm' and flatten, which copy a parent's data into the
 * image before they drop the parent.
 *
 * Everything here runs where parts complete (softirq included): nothing
 * sleeps or allocates; the bitmaps live in the request's PDU.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <net/netlink.h>

#include "vstor.h"

#define VS_LAYER_RESTARTS	16

/* ---- chains from netlink ---- */

const struct nla_policy vs_layer_policy[VS_LAYER_ATTR_MAX + 1] = {
	[VS_LAYER_ATTR_PAD]	= { .type = NLA_REJECT,
				    .reject_message = "PAD is output only" },
	[VS_LAYER_ATTR_INODE]	= { .type = NLA_U64 },
};


static void vs_layers_release(struct kref *ref)
{
	kfree(container_of(ref, struct vs_layers, ref));
}

void vs_layers_put(struct vs_layers *l)
{
	if (l)
		kref_put(&l->ref, vs_layers_release);
}

/* Whether pool is top's or one of xpools. */
static bool vs_layer_pool_ok(u32 pool, u64 top, const u32 *xpools, u32 n)
{
	u32 i;

	if (pool == vs_inode_pool(top))
		return true;
	for (i = 0; i < n; i++)
		if (xpools[i] == pool)
			return true;
	return false;
}

/* One LAYERS item: its inode, or 0 with extack set. */
static u64 vs_layer_item(struct nlattr *item, u64 top, const u32 *xpools,
			 u32 n_xpools, struct netlink_ext_ack *extack)
{
	struct nlattr *tb[VS_LAYER_ATTR_MAX + 1];
	u64 inode;

	if (nla_type(item) != VS_LAYER_ITEM) {
		NL_SET_ERR_MSG_ATTR(extack, item, "LAYERS holds only ITEM nests");
		return 0;
	}
	if (nla_parse_nested(tb, VS_LAYER_ATTR_MAX, item, vs_layer_policy,
			     extack))
		return 0;
	if (!tb[VS_LAYER_ATTR_INODE]) {
		NL_SET_ERR_MSG_ATTR(extack, item, "LAYERS item without INODE");
		NL_SET_ERR_ATTR_MISS(extack, item, VS_LAYER_ATTR_INODE);
		return 0;
	}
	inode = nla_get_u64(tb[VS_LAYER_ATTR_INODE]);
	if (!vs_inode_num(inode)) {
		NL_SET_ERR_MSG_ATTR(extack, item, "LAYERS item INODE number is 0");
		return 0;
	}
	if (!vs_layer_pool_ok(vs_inode_pool(inode), top, xpools, n_xpools)) {
		NL_SET_ERR_MSG_ATTR(extack, item,
				    "LAYERS item is in a pool that is neither the device's nor in POOLS");
		return 0;
	}
	return inode;
}

/*
 * The chain of top and the parents in list (NULL: none), checked: items
 * of one inode each, in top's pool or one of xpools, no inode twice, at
 * most VS_GENL_MAX_LAYERS. NULL with *err and extack set on failure.
 */
struct vs_layers *vs_layers_from_attrs(u64 top, struct nlattr *list,
				       const u32 *xpools, u32 n_xpools,
				       struct netlink_ext_ack *extack, int *err)
{
	struct vs_layers *l;
	struct nlattr *item;
	u32 n = 0, i;
	int rem;

	if (list) {
		nla_for_each_nested(item, list, rem)
			n++;
	}
	if (n > VS_GENL_MAX_LAYERS) {
		NL_SET_ERR_MSG_ATTR(extack, list, "too many LAYERS (at most 64)");
		*err = -E2BIG;
		return NULL;
	}
	l = kzalloc(struct_size(l, inode, n + 1), GFP_KERNEL);
	if (!l) {
		*err = -ENOMEM;
		return NULL;
	}
	kref_init(&l->ref);
	l->inode[l->n++] = top;
	*err = -EINVAL;
	if (!list)
		return l;
	nla_for_each_nested(item, list, rem) {
		u64 inode = vs_layer_item(item, top, xpools, n_xpools, extack);

		if (!inode)
			goto fail;
		for (i = 0; i < l->n; i++) {
			if (l->inode[i] == inode) {
				NL_SET_ERR_MSG_ATTR(extack, item,
						    "LAYERS names an inode twice (a parent loop?)");
				goto fail;
			}
		}
		l->inode[l->n++] = inode;
	}
	return l;

fail:
	vs_layers_put(l);
	return NULL;
}

/* The parents of l as a LAYERS nest (nothing when there are none). */
int vs_layers_fill(struct sk_buff *msg, const struct vs_layers *l)
{
	struct nlattr *list, *item;
	u32 i;

	if (l->n < 2)
		return 0;
	list = nla_nest_start(msg, VS_ATTR_LAYERS);
	if (!list)
		return -EMSGSIZE;
	for (i = 1; i < l->n; i++) {
		item = nla_nest_start(msg, VS_LAYER_ITEM);
		if (!item || nla_put_u64_64bit(msg, VS_LAYER_ATTR_INODE,
					       l->inode[i], VS_LAYER_ATTR_PAD))
			return -EMSGSIZE;
		nla_nest_end(msg, item);
	}
	nla_nest_end(msg, list);
	return 0;
}

/*
 * SET_LAYERS (vs_ctl_mutex held; takes l's reference). Requests that
 * started on the old chain keep it until they end; new ones use l.
 */
void vs_dev_set_layers(struct vs_dev *dev, struct vs_layers *l)
{
	struct vs_layers *old;

	lockdep_assert_held(&vs_ctl_mutex);
	old = rcu_dereference_protected(dev->layers,
					lockdep_is_held(&vs_ctl_mutex));
	rcu_assign_pointer(dev->layers, l);
	WRITE_ONCE(dev->p.inode, l->inode[0]);
	/* queue_rq takes its reference under rcu_read_lock */
	synchronize_rcu();
	vs_layers_put(old);
}

/* ---- layered reads ---- */

/* Request bytes the layered read bitmaps of a device must cover. */
u32 vs_layer_bits_longs(const struct vs_dev *dev)
{
	u64 max = min_t(u64, dev->stripe_size, VS_MAX_OP_LEN);

	return BITS_TO_LONGS(div_u64(max, dev->p.bitmap_granularity));
}

/*
 * A READ request (queue_rq, rcu_read_lock held): on a device with parents
 * its one part (reads never cross an object: chunk_sectors) reads the top
 * layer and collects the bitmap.
 */
int vs_layer_start(struct vs_cmd *cmd, struct vs_layers *l)
{
	struct vs_lread *lr = &cmd->lr;
	struct vs_part *part = &cmd->parts[0];
	u32 gran = cmd->dev->p.bitmap_granularity;

	if (l->n < 2)
		return 0;
	if (WARN_ON_ONCE(cmd->nparts != 1))
		return -EIO;
	kref_get(&l->ref);
	lr->layers = l;
	lr->base = part->offset;
	lr->ngran = part->len / gran;
	lr->layer = 0;
	lr->cursor = lr->ngran;		/* the first wave is the whole part */
	lr->restarts = 0;
	atomic_set(&lr->wave, 1);
	bitmap_fill(lr->need, lr->ngran);
	bitmap_zero(lr->got, lr->ngran);
	part->flags |= VS_PF_LAYER;
	return 0;
}

void vs_layer_end(struct vs_cmd *cmd)
{
	vs_layers_put(cmd->lr.layers);
	cmd->lr.layers = NULL;
}

/*
 * len bitmap bytes of a layered READ reply at byte off of the bitmap, in
 * skb at skb_off (receive side): sets got for the granules of the part
 * that its layer holds.
 */
int vs_layer_rx_bitmap(struct vs_part *part, struct sk_buff *skb, u32 skb_off,
		       u32 len, u32 off)
{
	struct vs_cmd *cmd = part->cmd;
	struct vs_dev *dev = cmd->dev;
	struct vs_lread *lr = &cmd->lr;
	u32 gran = dev->p.bitmap_granularity;
	u64 stripe = vs_dev_inode_stripe(dev, part->inode);
	u32 first = div_u64(vs_u64_rem(part->offset, stripe), gran);
	u32 n = part->len / gran, rel = div_u64(part->offset - lr->base, gran);
	u8 buf[64];
	int err;

	if (!(part->flags & VS_PF_LAYER))
		return 0;
	while (len) {
		u32 k = min_t(u32, len, sizeof(buf)), b;

		err = skb_copy_bits(skb, skb_off, buf, k);
		if (err)
			return err;
		/* granules first..first+n of the stripe are this part's */
		for (b = max(off * 8, first); b < min((off + k) * 8, first + n); b++)
			if (buf[b / 8 - off] & (1u << (b % 8)))
				set_bit(rel + b - first, lr->got);
		skb_off += k;
		off += k;
		len -= k;
	}
	return 0;
}

/*
 * The next wave of parts: up to VS_NPARTS runs of needed granules from
 * lr->cursor on, read from layer lr->layer. The caller's part (done) is
 * reused like the others, which are all idle now.
 */
static void vs_layer_wave(struct vs_cmd *cmd, struct vs_part *done)
{
	struct vs_lread *lr = &cmd->lr;
	struct vs_dev *dev = cmd->dev;
	u32 gran = dev->p.bitmap_granularity, g = lr->cursor, k = 0, i, end;
	u64 inode = lr->layers->inode[lr->layer];
	u64 stripe = vs_dev_inode_stripe(dev, inode), pos;

	while (k < VS_NPARTS) {
		g = find_next_bit(lr->need, lr->ngran, g);
		if (g >= lr->ngran)
			break;
		end = find_next_zero_bit(lr->need, lr->ngran, g);
		/*
		 * One op never crosses an object of its layer's pool. lr
		 * covers at most one of the device's; a parent pool with
		 * other data_chunks cuts its runs at its own stripes (the
		 * rest of the run is the next part, or the next wave's).
		 */
		pos = lr->base + (u64)g * gran;
		end = min_t(u64, end, g + div_u64(stripe - vs_u64_rem(pos, stripe), gran));
		cmd->parts[k].op = VS_OP_READ;
		cmd->parts[k].flags = VS_PF_LAYER;
		cmd->parts[k].inode = inode;
		cmd->parts[k].offset = pos;
		cmd->parts[k].len = (end - g) * gran;
		cmd->parts[k].roff = g * gran;
		cmd->parts[k].state = VS_PART_IDLE;
		k++;
		g = end;
	}
	lr->cursor = g;
	cmd->nparts = max_t(u8, cmd->nparts, k);
	/* k >= 1: the caller saw a needed granule */
	atomic_set(&lr->wave, k);
	atomic_add(k, &cmd->pending);
	for (i = 0; i < k; i++)
		vs_dev_route_part(dev, &cmd->parts[i]);
	/* done's own count: the request may end right here */
	vs_cmd_put(cmd);
}

/*
 * A layered READ part came back with its data (part completion context).
 * true: taken care of (finished, or sent again for the next wave; the
 * caller forgets it); false: finish it as usual (the read is complete,
 * or failed). A part that is not the last of its wave is finished here,
 * before the wave count drops: the last one reuses every part at once.
 * A failed part never counts its wave down, so no further wave starts.
 */
bool vs_layer_part_done(struct vs_part *part)
{
	struct vs_cmd *cmd = part->cmd;
	struct vs_lread *lr = &cmd->lr;
	struct vs_layers *now;
	bool more;

	part->state = VS_PART_IDLE;
	WRITE_ONCE(part->conn, NULL);
	if (!atomic_dec_and_test(&lr->wave)) {
		vs_cmd_put(cmd);
		return true;
	}
	if (READ_ONCE(cmd->error))
		return false;
	if (lr->cursor < lr->ngran &&
	    find_next_bit(lr->need, lr->ngran, lr->cursor) < lr->ngran) {
		vs_layer_wave(cmd, part);	/* more runs of this layer */
		return true;
	}
	bitmap_andnot(lr->need, lr->need, lr->got, lr->ngran);
	bitmap_zero(lr->got, lr->ngran);
	more = !bitmap_empty(lr->need, lr->ngran);
	rcu_read_lock();
	now = rcu_dereference(cmd->dev->layers);
	if (now != lr->layers && (more || lr->layer) &&
	    lr->restarts < VS_LAYER_RESTARTS) {
		/* the chain changed under the read: read it again on the new one */
		kref_get(&now->ref);
		rcu_read_unlock();
		vs_layers_put(lr->layers);
		lr->layers = now;
		lr->restarts++;
		lr->layer = 0;
		bitmap_fill(lr->need, lr->ngran);
	} else {
		rcu_read_unlock();
		/* the rest (if any) is zeroes */
		if (!more || lr->layer + 1 >= lr->layers->n)
			return false;
		lr->layer++;
	}
	lr->cursor = 0;
	vs_layer_wave(cmd, part);
	return true;
}
