/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vstor.ko internals shared between the files of the module. The headers
 * shared with userspace (vstor_proto.h, vstor_genl.h) live in ../common.
 *
 * Objects and who owns what:
 *
 *  vs_dev    one mapped image, /dev/vsN: a blk-mq disk, its geometry, and
 *            its route. Devices do not share connections (like rbd's
 *            "noshare"): each one is an independent cluster client.
 *  vs_map    one PG map of a pool (PG -> primary OSD, OSD addresses, epoch),
 *            immutable and refcounted, shared by the devices of a pool.
 *  vs_route  what a device routes with: its map plus one vs_conn per
 *            (OSD, slot). Published with RCU; a new map makes a new route
 *            that keeps the connections whose OSD address did not change.
 *            A device has one route per pool its layers are in: its own
 *            pool's (route) and those of parents in other pools (xroute,
 *            read only, fixed set at MAP); a part takes the route of the
 *            pool of its inode.
 *  vs_conn   one kernel TCP connection to an OSD with a work item that does
 *            all sending and receiving (vstor_conn.c).
 *  vs_cmd    the blk-mq PDU of a request: up to VS_NPARTS parts, each one
 *            primary op inside one object.
 *
 * A part is always on exactly one list: a connection's send queue or
 * in-flight list (conn->lock), or the device's retry list (dev->lock), or
 * briefly in the hands of whoever moves it. The connection's io_mutex
 * serialises the socket, the transmit cursor and every removal of parts
 * from a live connection; the receive cursor belongs to whoever holds the
 * socket lock (sk_data_ready runs the receive side in softirq), so both
 * spinlocks are taken with bottom halves off.
 *
 * Lock order: vs_ctl_mutex, route_mutex, io_mutex, the socket lock,
 * sk_callback_lock, conn->lock, dev->lock, lz->lock (lazy pools).
 */
#ifndef VSTOR_H
#define VSTOR_H

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/completion.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/llist.h>
#include <linux/mutex.h>
#include <linux/net.h>
#include <linux/socket.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <net/netlink.h>

#include "compat.h"
#include "vstor_genl.h"
#include "vstor_proto.h"

#define VS_MAX_DEV_INDEX	VS_GENL_MAX_DEV_INDEX

/* Most PGs a pool may have (PG_COUNT). */
#define VS_MAX_PG_COUNT		65536u

/* Minors per device: the disk and 15 partitions. */
#define VS_PART_SHIFT		4

/* Addresses kept per OSD (OSD_LIST items with the same NUM). */
#define VS_MAX_ADDRS		4

/*
 * Parts per request. Reads and writes never cross an object (chunk_sectors
 * is the object size), discard and write-zeroes are limited so that they
 * span at most VS_NPARTS objects, and a flush syncs VS_NPARTS OSDs at a
 * time.
 */
#define VS_NPARTS		8

/*
 * Request ids on the wire: generation (20 bits) | part (12) | blk-mq unique
 * tag (32). The generation comes from a per-connection counter bumped on
 * every send, so no id repeats on a connection (until 2^20 sends later) and
 * a reply to an earlier send of the same part, or to the same tag of an
 * older request, no longer matches and is dropped. Part VS_ID_PART_CONN
 * marks the connection's own ops (handshake, ping).
 */
#define VS_ID_GEN_SHIFT		44
#define VS_ID_GEN_MASK		0xFFFFFu
#define VS_ID_PART_SHIFT	32
#define VS_ID_PART_MASK		0xFFFu
#define VS_ID_PART_CONN		0xFFFu
#define VS_ID_PART_LAZY		0xFFEu	/* the device's own ops (vstor_lazy.c) */

/* Feature bits this driver grants (VS_ATTR_FEATURES is masked with it). */
#define VS_DRV_FEATURES		(VS_FEAT_MULTI_CONN | VS_FEAT_IPV6 |	\
				 VS_FEAT_FORCE_UNMAP | VS_FEAT_LAZY_SYNC | \
				 VS_FEAT_REQ_TIMEOUT | VS_FEAT_RESIZE |	\
				 VS_FEAT_EC | VS_FEAT_DISCARD |		\
				 VS_FEAT_LAYERS | VS_FEAT_XPOOL |	\
				 VS_FEAT_PG_PARTS)

/* Module parameters (vstor_main.c), in milliseconds unless noted. */
extern unsigned int vs_connect_timeout_ms;
extern unsigned int vs_tcp_timeout_ms;
extern unsigned int vs_retry_interval_ms;
extern unsigned int vs_backoff_max_ms;
extern unsigned int vs_idle_timeout_ms;
extern unsigned int vs_ping_timeout_ms;
extern unsigned int vs_stuck_ms;
extern unsigned int vs_unmap_timeout_ms;
extern unsigned int vs_tx_defer;
extern bool vs_tx_defer_batch;
extern bool vs_rx_work;
extern unsigned int vs_poll_queues;
extern unsigned int vs_max_dirty_ops;	/* per lazy device */
extern unsigned int vs_max_dirty_bytes;

extern struct workqueue_struct *vs_io_wq;	/* connection I/O */
extern struct workqueue_struct *vs_ctl_wq;	/* connects, retries, events */

/* ---- maps (vstor_map.c) ---- */

struct vs_map_osd {
	u64 num;
	u16 port;
	u8 naddrs;
	struct sockaddr_storage addrs[VS_MAX_ADDRS];
};

struct vs_map {
	struct kref ref;
	u32 pool_id;
	u32 pg_count;
	u64 epoch;
	u64 pg_stripe_size;	/* 0: the stripe size */
	u64 *primary;		/* [pg_count], PG n at n-1; 0 = none */
	u32 n_osds;
	struct vs_map_osd *osds;	/* sorted by num */
};

/* ---- connections (vstor_conn.c) ---- */

enum vs_conn_state {
	VS_CONN_IDLE,		/* no socket; connects when a part arrives */
	VS_CONN_CONNECTING,	/* connect_work scheduled or running */
	VS_CONN_READY,		/* socket up, io_work sends and receives */
	VS_CONN_DEAD,		/* removed from its route: refuses parts */
};

enum vs_rx_state {
	VS_RX_HDR,		/* reading a 128-byte header */
	VS_RX_SKIP,		/* discarding rx_left bytes, then rx_next */
	VS_RX_DATA,		/* READ data into rx_part's pages */
};

/* Ops per transmit batch and segments per sendmsg call. */
#define VS_TX_OPS	16
#define VS_TX_VECS	64

struct vs_dev;
struct vs_part;

/* One op of the transmit batch: a part, or a PING when part is NULL. */
struct vs_tx_op {
	struct vs_part *part;
	u64 end;		/* stream offset just past its last byte */
	u32 len;		/* header + payload */
};

#define VS_CONN_PUSH_PENDING	0	/* conn->push_bits: on dev->push_list */

/* The completion batch of one parse (vs_conn_rx_sock), on its stack. */
struct vs_rx_batch {
	struct io_comp_batch iob;
	u32 replies;			/* since the batch last ended */
	u32 bytes;			/* READ bytes copied since then */
};

struct vs_conn {
	struct vs_dev *dev;
	const struct vs_map_osd *osd;	/* in the map of the route */
	u64 osd_num;
	u32 slot;
	bool poll;			/* of a poll queue: its pollers parse */
	bool polling;			/* a poller parses: it sends after */

	spinlock_t lock;		/* _bh: the receive side runs in softirq */
	enum vs_conn_state state;
	struct list_head sendq;		/* parts waiting to be sent */
	struct list_head inflight;	/* parts being sent or awaiting replies */
	u32 tx_gen;			/* generation of the last part sent */
	bool lz_dirty;			/* lazy: acks no SYNC covers (lz->lock) */
	u64 lz_seq;			/* lazy: acks counted (lz->lock) */
	atomic_t users;			/* queue_rq pushing outside RCU */
	unsigned long push_bits;	/* VS_CONN_PUSH_PENDING */
	struct llist_node push_node;	/* on dev->push_list while pending */
	int err;			/* receive error: io_work resets */

	struct mutex io_mutex;
	struct socket *sock;
	struct work_struct io_work;
	struct work_struct rx_work;	/* rx_work=1: replies parsed here */
	int tx_cpu;			/* where the last send ran */
	struct delayed_work connect_work;
	unsigned int backoff_ms;
	unsigned long last_rx;		/* jiffies */
	bool ping_sent;
	bool ping_due;			/* io_mutex: the next batch starts with one */
	u32 conn_gen;			/* for handshake/ping ids */

	/*
	 * Transmit batch (io_mutex; advanced under the socket lock, so the
	 * receive side sees a consistent tx_sent). Offsets count the bytes of
	 * this socket's stream: an op whose end is <= the bytes handed to TCP
	 * is out, and only then may its reply complete it.
	 */
	union vs_packet *tx_hdrs;	/* [VS_TX_OPS] */
	struct vs_tx_op tx_ops[VS_TX_OPS];
	u32 tx_nops, tx_cur;		/* batch size, first op not yet out */
	u64 tx_sent;			/* handed to TCP */
	u64 tx_queued;			/* end of the batch */
	struct msghdr *tx_msg;		/* during a sendmsg: its progress */
	size_t tx_call_len;
	struct bio_vec tx_vec[VS_TX_VECS];

	/* receive cursor (the socket lock: data_ready or lock_sock) */
	enum vs_rx_state rx_state;
	union vs_packet rx_hdr;
	u32 rx_got;
	u32 rx_left;
	enum vs_rx_state rx_next;
	struct vs_part *rx_part;	/* NULL while skipping: discard */
	struct vs_rx_batch *rx_batch;	/* the parser's, while it parses */
	u32 rx_data_off;
	u32 rx_done;			/* replies parsed (vs_conn_rx_task) */

	void (*saved_data_ready)(struct sock *sk);
	void (*saved_write_space)(struct sock *sk);
	void (*saved_state_change)(struct sock *sk);
};

struct vs_route {
	struct rcu_head rcu;
	struct vs_map *map;
	u32 conns_per_osd;		/* data_slots, then one per poll queue */
	u32 data_slots;			/* the conns_per_osd of the map */
	u32 nconns;
	struct vs_conn *conns[];	/* n_osds * conns_per_osd, map order */
};

/* ---- requests (vstor_dev.c) ---- */

enum vs_part_state {
	VS_PART_IDLE,
	VS_PART_QUEUED,		/* on conn->sendq */
	VS_PART_SENDING,	/* on conn->inflight: in a batch or sent */
	VS_PART_RECEIVING,	/* conn->rx_part: reply payload being read */
	VS_PART_RETRY,		/* on dev->retry */
	VS_PART_HELD,		/* on lz->held: its PG replays writes */
};

#define VS_PF_ZERO	0x02	/* WRITE: payload is zeroes, not the bio */
#define VS_PF_FIXED	0x04	/* lazy SYNC: bound to conn, fails with it */
#define VS_PF_DISCARD	0x08	/* DELETE of a discard: -EBUSY is fine */
#define VS_PF_ZEROOUT	0x10	/* DELETE of write-zeroes: -EBUSY -> WRITE */
#define VS_PF_LAYER	0x20	/* READ of a layered read: bitmap to cmd->lr */
#define VS_PF_LAZY	0x40	/* the device's own op (vstor_lazy.c) */

struct vs_cmd;
struct vs_dirty;
struct vs_lazy;

struct vs_part {
	struct list_head node;
	struct vs_cmd *cmd;
	struct vs_conn *conn;	/* WRITE_ONCE: compared without its lock */
	u64 inode;		/* the layer it reads or writes */
	u64 offset;		/* in the image */
	u32 len;
	u32 roff;		/* data offset in the request; or its id */
	u64 tx_end;		/* conn stream offset past its request */
	u64 id;			/* on the wire (vs_part_id) while in flight */
	u32 gen;
	u16 idx;
	u8 op;			/* VS_OP_READ / WRITE / SYNC / DELETE */
	u8 flags;		/* VS_PF_* */
	u8 state;		/* enum vs_part_state */
	struct vs_dirty *dirty;	/* lazy WRITE/DELETE: its reserved slot */
};

/*
 * The chain of layers a device reads through (vstor_layer.c): inode[0]
 * is the top, which takes the writes, then its parents, nearest first.
 * Immutable and refcounted: layered reads keep the chain they started on.
 */
struct vs_layers {
	struct kref ref;
	u32 n;
	u64 inode[];
};

/* A layered read in progress (vstor_layer.c). */
struct vs_lread {
	struct vs_layers *layers;	/* NULL: not a layered read */
	u64 base;			/* image offset of granule 0 */
	u32 ngran;			/* granules of the request */
	u32 cursor;			/* first granule not in a wave yet */
	u16 layer;			/* index in layers->inode */
	u8 restarts;
	atomic_t wave;			/* parts of this wave not back */
	unsigned long *need, *got;	/* ngran bits each, in the PDU */
};

struct vs_cmd {
	struct request *rq;
	struct vs_dev *dev;
	atomic_t pending;	/* parts not completed */
	int error;		/* first errno, 0 = success */
	int abort;		/* set by the timeout: fail the parts */
	u8 nparts;
	bool lz_wait;		/* lazy flush or FUA: then wait for SYNCs */
	u64 lz_gen;		/* lazy: the writes it waits for */
	struct list_head lz_node;	/* lz->waiters */
	struct llist_node end_node;	/* polled, ended in irq: dev->end_list */
	u64 inode;		/* the top layer when the request started */
	struct vs_part parts[VS_NPARTS];
	struct vs_lread lr;
	unsigned long lbits[];	/* lr.need and lr.got */
};

/* ---- devices (vstor_dev.c) ---- */

struct vs_dev_params {
	u64 inode;
	u64 size;
	u64 features;		/* granted */
	u32 dev_index;		/* U32_MAX: first free */
	u32 block_size;
	u32 bitmap_granularity;
	u32 pool_id;
	u32 data_chunks;
	u32 xdata_chunks[VS_GENL_MAX_POOLS];	/* of each POOLS item */
	u32 flags;
	u32 queue_depth;
	u32 hw_queues;
	u32 conns_per_osd;
	u32 timeout_ms;
	u8 immediate_commit;
	char pool_name[VS_GENL_NAME_MAXLEN + 1];
	char image_name[VS_GENL_NAME_MAXLEN + 1];
};

#define VS_EV_NEED_MAP		0	/* dev->events bits */
#define VS_EV_OSD_UNREACHABLE	1
#define VS_EV_IO_STUCK		2

struct vs_dev {
	struct list_head node;		/* vs_devs (vs_ctl_mutex) */
	u32 index;
	struct vs_dev_params p;
	/*
	 * Objects: stripe_size = block_size * data_chunks (EC pools have
	 * data_chunks > 1, the primary does the coding); a READ reply has
	 * bitmap_len bitmap bytes, one bit per granule of the stripe. Parents
	 * in other pools may have other data_chunks: xstripe_size and
	 * xbitmap_len of xpool_id[i] (vs_dev_route_stripe).
	 */
	u64 stripe_size;
	u32 bitmap_len;
	u32 lbits_longs;		/* of each vs_lread bitmap */
	bool lazy;			/* SYNC needed for durability */
	struct vs_layers __rcu *layers;	/* vs_ctl_mutex to replace */

	struct blk_mq_tag_set tag_set;
	struct gendisk *disk;
	/* hctxs: nr_default, then npoll poll queues from poll_offset on */
	u32 nr_default;
	u32 npoll;
	u32 poll_offset;
	atomic64_t poll_replies;	/* replies parsed by pollers */
	atomic_t poll_turn;		/* where the next .poll starts */
	struct llist_head end_list;	/* polled requests to end in a task */
	struct work_struct end_work;

	struct vs_route __rcu *route;	/* route_mutex to replace */
	struct mutex route_mutex;	/* after vs_ctl_mutex, before io_mutex */
	/* the other pools of the layers (POOLS), fixed at MAP */
	u32 n_xpools;
	u32 xpool_id[VS_GENL_MAX_POOLS];
	struct vs_route __rcu *xroute[VS_GENL_MAX_POOLS];
	u64 xstripe_size[VS_GENL_MAX_POOLS];
	u32 xbitmap_len[VS_GENL_MAX_POOLS];

	spinlock_t lock;
	struct list_head retry;		/* parts waiting for a map or a retry */
	struct delayed_work retry_work;
	bool dead;			/* force-unmapped: fail all I/O */
	bool removing;			/* unmap in progress: no new opens */
	bool removed;			/* torn down, only references left */
	bool sync_lost;			/* lazy: a retained write was lost */
	struct vs_lazy *lz;		/* lazy: replay state, else NULL */
	unsigned int open_count;
	atomic_t inflight;		/* started requests */
	atomic_t tx_waiting;		/* parts sent, reply not claimed yet */
	atomic_t tx_deferred;		/* parts held back since the last kick */
	atomic64_t rx_work_runs;	/* rx_work=1: receives done in a work item */
	atomic64_t batch_ends;		/* requests ended with others */
	/* conns with parts of a batch's earlier requests, a user ref each */
	struct llist_head push_list;
	wait_queue_head_t idle_wq;	/* inflight reached 0 */

	/* lazy: the flush of a normal unmap (its unmapper only, but status) */
	bool unmap_syncing;		/* submitted, not yet completed */
	blk_status_t unmap_sync_status;
	struct completion unmap_sync;

	unsigned long events;		/* VS_EV_* */
	unsigned long need_map;		/* route i (vs_dev_rslot) wants a map */
	atomic64_t unreachable_osd;
	unsigned long last_need_map;	/* jiffies */
	struct delayed_work event_work;
	struct work_struct abort_work;	/* fail timed-out requests */
	struct delayed_work tick_work;	/* PING the connections */
	struct delayed_work kick_work;	/* held parts' deadline: 1 jiffy */
};

/* vstor_main.c */
extern struct mutex vs_ctl_mutex;
extern struct list_head vs_devs;

/* vstor_dev.c */
int vs_dev_create(const struct vs_dev_params *p, struct vs_map **maps,
		  u32 nmaps, struct vs_layers *layers, struct vs_dev **out);
int vs_dev_remove(struct vs_dev *dev, bool force, const char **why);
void vs_dev_remove_all(void);
struct vs_dev *vs_dev_find(u32 index);
struct vs_dev *vs_dev_next(u32 *index);
int vs_dev_resize(struct vs_dev *dev, u64 size);
int vs_dev_set_map(struct vs_dev *dev, u32 idx, struct vs_map *map);
int vs_dev_state(struct vs_dev *dev);
u64 vs_dev_epoch(struct vs_dev *dev, u32 idx);
void vs_dev_retry_part(struct vs_dev *dev, struct vs_part *part,
		       unsigned int delay_ms);
void vs_dev_route_part(struct vs_dev *dev, struct vs_part *part);
void vs_part_done(struct vs_part *part, int err, struct io_comp_batch *iob);
bool vs_part_resend(struct vs_dev *dev, struct vs_part *part, int err);
void vs_cmd_put_batch(struct vs_cmd *cmd, struct io_comp_batch *iob);
static inline void vs_cmd_put(struct vs_cmd *cmd)
{
	vs_cmd_put_batch(cmd, NULL);
}
void vs_dev_event(struct vs_dev *dev, int ev);
void vs_dev_need_map(struct vs_dev *dev, int idx);
void vs_dev_kick_deferred(struct vs_dev *dev);
u32 vs_route_slot(const struct vs_dev *dev, const struct vs_route *r,
		  const struct request *rq);
int vs_dev_init(void);
void vs_dev_exit(void);

/* Routes of a device: 0 is its own pool's, 1 + i the one of xpool_id[i]. */
static inline u32 vs_dev_nroutes(const struct vs_dev *dev)
{
	return 1 + dev->n_xpools;
}

static inline struct vs_route __rcu **vs_dev_rslot(struct vs_dev *dev, u32 i)
{
	return i ? &dev->xroute[i - 1] : &dev->route;
}

static inline u32 vs_dev_route_pool(const struct vs_dev *dev, u32 i)
{
	return i ? dev->xpool_id[i - 1] : dev->p.pool_id;
}

/* Object (stripe) size and READ bitmap bytes of route i's pool. */
static inline u64 vs_dev_route_stripe(const struct vs_dev *dev, u32 i)
{
	return i ? dev->xstripe_size[i - 1] : dev->stripe_size;
}

static inline u32 vs_dev_route_bitmap_len(const struct vs_dev *dev, u32 i)
{
	return i ? dev->xbitmap_len[i - 1] : dev->bitmap_len;
}

/* The route index of pool, or -1 when the device has no map of it. */
static inline int vs_dev_pool_index(const struct vs_dev *dev, u32 pool)
{
	u32 i;

	if (likely(pool == dev->p.pool_id))
		return 0;
	for (i = 0; i < dev->n_xpools; i++)
		if (dev->xpool_id[i] == pool)
			return i + 1;
	return -1;
}

void vs_dev_sweep(struct vs_dev *dev,
		  bool (*pred)(struct vs_part *part, void *arg), void *arg,
		  struct list_head *out);

/*
 * Stripe size of the pool of inode (a part's layer): the device's own for
 * a pool without a map, which MAP and SET_LAYERS refuse.
 */
static inline u64 vs_dev_inode_stripe(const struct vs_dev *dev, u64 inode)
{
	int i = vs_dev_pool_index(dev, vs_inode_pool(inode));

	return vs_dev_route_stripe(dev, i < 0 ? 0 : i);
}

/* READ bitmap bytes of part's pool (its layer's). */
static inline u32 vs_part_bitmap_len(const struct vs_part *part)
{
	const struct vs_dev *dev = part->cmd->dev;
	int i = vs_dev_pool_index(dev, vs_inode_pool(part->inode));

	return vs_dev_route_bitmap_len(dev, i < 0 ? 0 : i);
}

static inline u64 vs_part_id(const struct vs_part *part)
{
	u64 id = ((u64)(part->gen & VS_ID_GEN_MASK) << VS_ID_GEN_SHIFT) |
		 ((u64)part->idx << VS_ID_PART_SHIFT);

	if (unlikely(part->flags & VS_PF_LAZY))
		return id | part->roff;
	return id | blk_mq_unique_tag(part->cmd->rq);
}

/* vstor_map.c */
extern const struct nla_policy vs_pg_policy[VS_PG_ATTR_MAX + 1];
extern const struct nla_policy vs_osd_policy[VS_OSD_ATTR_MAX + 1];
extern const struct nla_policy vs_pg_part_policy[VS_PG_PART_ATTR_MAX + 1];
struct genl_info;
struct vs_map *vs_map_from_attrs(struct nlattr **attrs,
				 const struct nlattr *item,
				 const struct genl_info *info, int *err);
int vs_parts_check_pools(const struct genl_info *info, struct vs_map **maps,
			 u32 n);
void vs_map_put(struct vs_map *map);
static inline void vs_map_get(struct vs_map *map)
{
	kref_get(&map->ref);
}

const struct vs_map_osd *vs_map_osd_find(const struct vs_map *map, u64 num);
struct vs_route *vs_route_build(struct vs_dev *dev, struct vs_map *map,
				const struct vs_route *old);
void vs_route_retire(struct vs_dev *dev, struct vs_route *old,
		     const struct vs_route *cur);
void vs_route_free_all(struct vs_dev *dev, struct vs_route *route);
u32 vs_route_pg(const struct vs_dev *dev, const struct vs_map *map,
		u64 offset);

/* vstor_layer.c */
extern const struct nla_policy vs_layer_policy[VS_LAYER_ATTR_MAX + 1];
struct vs_layers *vs_layers_from_attrs(u64 top, struct nlattr *list,
				       const u32 *xpools, u32 n_xpools,
				       struct netlink_ext_ack *extack, int *err);
void vs_layers_put(struct vs_layers *l);
int vs_layers_fill(struct sk_buff *msg, const struct vs_layers *l);
void vs_dev_set_layers(struct vs_dev *dev, struct vs_layers *l);
u32 vs_layer_bits_longs(const struct vs_dev *dev);
int vs_layer_start(struct vs_cmd *cmd, struct vs_layers *l);
void vs_layer_end(struct vs_cmd *cmd);
int vs_layer_rx_bitmap(struct vs_part *part, struct sk_buff *skb, u32 skb_off,
		       u32 len, u32 off);
bool vs_layer_part_done(struct vs_part *part);

/* vstor_poll.c */
void vs_map_queues(struct blk_mq_tag_set *set);
int vs_poll(struct blk_mq_hw_ctx *hctx, struct io_comp_batch *iob);

/* vstor_conn.c */
struct vs_conn *vs_conn_new(struct vs_dev *dev, const struct vs_map_osd *osd,
			    u32 slot);
bool vs_conn_queue(struct vs_conn *conn, struct vs_part *part, bool *push,
		   bool may_hold);
void vs_conn_get_user(struct vs_conn *conn);
void vs_conn_put_user(struct vs_conn *conn);
void vs_conn_push(struct vs_conn *conn);
bool vs_conn_poll_begin(struct vs_conn *conn);
int vs_conn_poll_rx(struct vs_conn *conn);
void vs_conn_poll_end(struct vs_conn *conn);
void vs_conn_kill(struct vs_conn *conn, struct list_head *out);
void vs_conn_free(struct vs_conn *conn);
void vs_conn_sweep(struct vs_conn *conn,
		   bool (*pred)(struct vs_part *part, void *arg), void *arg,
		   struct list_head *out);
bool vs_conn_ready(struct vs_conn *conn);
void vs_conn_tick(struct vs_conn *conn);
void vs_conn_kick_queued(struct vs_conn *conn);

/* vstor_genl.c */
int vs_genl_init(void);
void vs_genl_exit(void);
void vs_genl_event_dev(int cmd, struct vs_dev *dev);
void vs_genl_event_index(int cmd, u32 index);
void vs_genl_event_need_map(struct vs_dev *dev, u32 idx);
void vs_genl_event_osd(struct vs_dev *dev, u64 osd);
void vs_genl_event_stuck(struct vs_dev *dev, u32 inflight, u32 stuck_ms);

/* vstor_lazy.c */
struct vs_lazy_stats {
	u64 retained_ops, retained_bytes, replaying, replays, auto_syncs, syncs;
};

int vs_lazy_create(struct vs_dev *dev, struct vs_map *map);
void vs_lazy_stop(struct vs_dev *dev);
void vs_lazy_destroy(struct vs_dev *dev);
int vs_lazy_reserve(struct vs_dev *dev, struct vs_cmd *cmd);
void vs_lazy_unreserve(struct vs_part *part);
void vs_lazy_acked(struct vs_conn *conn, struct vs_part *part);
void vs_lazy_reply(struct vs_conn *conn, struct vs_part *part, s64 retval);
void vs_lazy_lost(struct vs_part *part, int err);
void vs_lazy_conn_lost(struct vs_conn *conn);
void vs_lazy_remap(struct vs_dev *dev, struct vs_map *map);
bool vs_lazy_hold(struct vs_dev *dev, struct vs_part *part);
bool vs_lazy_hold_queued(struct vs_dev *dev, struct vs_part *part);
void vs_lazy_sweep(struct vs_dev *dev,
		   bool (*pred)(struct vs_part *part, void *arg), void *arg,
		   struct list_head *out);
void vs_lazy_flush(struct vs_dev *dev, struct vs_cmd *cmd);
void vs_lazy_abort(struct vs_dev *dev);
void vs_lazy_fail_all(struct vs_dev *dev, struct list_head *out);
bool vs_lazy_id_valid(const struct vs_dev *dev, u32 id);
u32 vs_lazy_vecs(struct vs_part *part, u32 off, u32 len, struct bio_vec *vec,
		 u32 *nvec);
void vs_lazy_stats(struct vs_dev *dev, struct vs_lazy_stats *st);

/* vstor_check.c */
int vs_check_proto(void);

#endif /* VSTOR_H */
