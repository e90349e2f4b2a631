/*
 * vstor generic netlink family: the control interface between userspace
 * (vsctl map/unmap/list and the map agent that follows etcd) and the kernel
 * module (kmod/). Shared by both; includes only <linux/types.h>.
 *
 * Conventions:
 *  - Commands and attributes are ABI: only ever append, never renumber.
 *  - Integers are in host byte order, except OSD addresses (network order,
 *    as nla_put_in_addr()/nla_put_in6_addr() write them).
 *  - 64-bit attributes are aligned with the PAD attribute of their level
 *    (nla_put_u64_64bit(..., VS_ATTR_PAD) and so on).
 *  - The kernel validates strictly: every nest must carry NLA_F_NESTED
 *    (libnl >= 3.5 nla_nest_start() sets it), unknown attributes and
 *    wrong lengths are refused.
 *  - Compatibility is negotiated with VS_ATTR_FEATURES bits, not with the
 *    family version: MAP sends the wanted bits, the kernel replies with the
 *    subset it supports, and userspace must not use the others.
 *  - Commands that change state need CAP_SYS_ADMIN.
 */
#ifndef VSTOR_GENL_H
#define VSTOR_GENL_H

#include <linux/types.h>

#define VS_GENL_NAME		"vstor"
#define VS_GENL_VERSION		1
#define VS_GENL_MCAST_GROUP	"vstor_events"

/* Max length of VS_ATTR_POOL_NAME / VS_ATTR_IMAGE_NAME, NUL not counted. */
#define VS_GENL_NAME_MAXLEN	255

enum vs_genl_cmd {
	VS_CMD_UNSPEC,
	/*
	 * Create /dev/vsN for an image. Needs INODE, SIZE, BLOCK_SIZE,
	 * BITMAP_GRANULARITY, POOL_ID, PG_COUNT, PG_STRIPE_SIZE,
	 * IMMEDIATE_COMMIT, MAP_EPOCH, PG_TABLE (or PG_TABLE_PARTs),
	 * OSD_LIST. Optional:
	 * DEV_INDEX (absent: first free index), DATA_CHUNKS (default 1),
	 * FLAGS (READONLY), QUEUE_DEPTH, HW_QUEUES, CONNS_PER_OSD,
	 * TIMEOUT_MS, FEATURES (wanted), POOL_NAME, IMAGE_NAME, LAYERS (the
	 * image's parents; needs the LAYERS feature), PG_TABLE_PART (the
	 * PG tables of its pool and its POOLS in parts; needs PG_PARTS).
	 * Reply: DEV_INDEX and FEATURES (granted).
	 */
	VS_CMD_MAP,
	/*
	 * Remove a device. Needs DEV_INDEX. FLAGS: FORCE fails all queued and
	 * future I/O at once instead of waiting for the cluster.
	 */
	VS_CMD_UNMAP,
	/*
	 * New PG map of a pool, applied to every device that routes in that
	 * pool: its own pool or one of its POOLS. Needs
	 * POOL_ID, MAP_EPOCH, PG_COUNT, PG_TABLE or PG_TABLE_PARTs (every
	 * PG of the pool) and OSD_LIST (addresses of at least the primaries
	 * in the table).
	 * Optional: PG_STRIPE_SIZE. A MAP_EPOCH not newer than the current
	 * one is ignored. In-flight requests whose target changed are resent.
	 */
	VS_CMD_SET_MAP,
	/* Change the device size. Needs DEV_INDEX and SIZE. */
	VS_CMD_RESIZE,
	/*
	 * Device status. With DEV_INDEX: that device; as a dump: all of them.
	 * One message per device: DEV_INDEX, INODE, SIZE, POOL_ID,
	 * POOL_NAME, IMAGE_NAME, DEV_STATE, INFLIGHT, MAP_EPOCH, FLAGS,
	 * FEATURES, LAYERS (when it has parents), POOLS (when a parent is
	 * in another pool: POOL_ID and MAP_EPOCH of each).
	 */
	VS_CMD_LIST,

	/* Events: multicast on VS_GENL_MCAST_GROUP, kernel to userspace only. */

	/* A device appeared: DEV_INDEX, INODE, POOL_ID, POOL_NAME, IMAGE_NAME. */
	VS_CMD_DEV_ADDED,
	/* A device is gone: DEV_INDEX. */
	VS_CMD_DEV_REMOVED,
	/* Connecting to an OSD failed or it dropped: OSD_NUM, MAP_EPOCH. */
	VS_CMD_OSD_UNREACHABLE,
	/*
	 * The kernel needs a fresher map of a pool (it was refused with
	 * -EPIPE or lost its primary): POOL_ID, MAP_EPOCH (the one it has).
	 * The agent answers with SET_MAP. POOL_ID is the pool whose map is
	 * stale: the device's own, or one of its POOLS.
	 */
	VS_CMD_NEED_MAP,
	/* Requests wait longer than expected: DEV_INDEX, INFLIGHT, STUCK_MS. */
	VS_CMD_IO_STUCK,

	/*
	 * New layer chain of a device (LAYERS feature): needs DEV_INDEX and
	 * INODE (the new top layer, which takes all later writes); LAYERS
	 * (its parents) absent means none. Used when a snapshot moves the
	 * image's name to a new inode on top of the old one, or when
	 * flatten / snap rm shorten the chain. Requests already sent keep
	 * their inode: writes that still land on the old top stay visible
	 * through it as a parent. Every layer must be in the device's pool
	 * or in one of the POOLS it was mapped with.
	 */
	VS_CMD_SET_LAYERS,

	__VS_CMD_MAX,
};

#define VS_CMD_MAX (__VS_CMD_MAX - 1)

enum vs_genl_attr {
	VS_ATTR_UNSPEC,
	VS_ATTR_PAD,			/* alignment padding for u64 attrs */
	VS_ATTR_DEV_INDEX,		/* u32: N of /dev/vsN */
	VS_ATTR_INODE,			/* u64: pool_id << 48 | inode number */
	VS_ATTR_SIZE,			/* u64: device size in bytes */
	VS_ATTR_BLOCK_SIZE,		/* u32: object (chunk) size */
	VS_ATTR_BITMAP_GRANULARITY,	/* u32 */
	VS_ATTR_POOL_ID,		/* u32: 1..65535 */
	VS_ATTR_PG_COUNT,		/* u32: PGs of the pool in config/pgs */
	VS_ATTR_PG_STRIPE_SIZE,		/* u64 */
	VS_ATTR_DATA_CHUNKS,		/* u32: 1 replicated, k for EC/XOR */
	VS_ATTR_IMMEDIATE_COMMIT,	/* u8: enum vs_genl_commit */
	VS_ATTR_PG_TABLE,		/* nest of VS_PG_TABLE_ITEM */
	VS_ATTR_OSD_LIST,		/* nest of VS_OSD_LIST_ITEM */
	VS_ATTR_MAP_EPOCH,		/* u64: version of the PG map */
	VS_ATTR_FLAGS,			/* u32: VS_GENL_F_* */
	VS_ATTR_QUEUE_DEPTH,		/* u32: blk-mq depth per hw queue */
	VS_ATTR_HW_QUEUES,		/* u32: blk-mq hw queues */
	VS_ATTR_CONNS_PER_OSD,		/* u32: TCP connections per OSD */
	VS_ATTR_TIMEOUT_MS,		/* u32: per-request timeout, 0 = never */
	VS_ATTR_FEATURES,		/* u64: VS_FEAT_* */
	VS_ATTR_DEV_STATE,		/* u32: enum vs_genl_dev_state */
	VS_ATTR_POOL_NAME,		/* NUL-terminated string */
	VS_ATTR_IMAGE_NAME,		/* NUL-terminated string */
	VS_ATTR_INFLIGHT,		/* u32: requests in flight */
	VS_ATTR_OSD_NUM,		/* u64: OSD number (events) */
	VS_ATTR_STUCK_MS,		/* u32: age of the oldest request */
	VS_ATTR_LAYERS,			/* nest of VS_LAYER_ITEM */
	VS_ATTR_POOLS,			/* nest of VS_POOLS_ITEM */
	VS_ATTR_PG_TABLE_PART,		/* nest of vs_genl_pg_part_attr, repeats */

	__VS_ATTR_MAX,
};

#define VS_ATTR_MAX (__VS_ATTR_MAX - 1)

/* Items of VS_ATTR_PG_TABLE: each is a nest of enum vs_genl_pg_attr. */
enum vs_genl_pg_table {
	VS_PG_TABLE_UNSPEC,
	VS_PG_TABLE_ITEM,
	__VS_PG_TABLE_MAX,
};

#define VS_PG_TABLE_MAX (__VS_PG_TABLE_MAX - 1)

enum vs_genl_pg_attr {
	VS_PG_ATTR_UNSPEC,
	VS_PG_ATTR_PAD,
	VS_PG_ATTR_NUM,			/* u32: PG number, 1-based */
	VS_PG_ATTR_PRIMARY,		/* u64: OSD, 0 = none (hold I/O) */
	VS_PG_ATTR_EPOCH,		/* u64: PG epoch (pg/history) */

	__VS_PG_ATTR_MAX,
};

#define VS_PG_ATTR_MAX (__VS_PG_ATTR_MAX - 1)

/*
 * VS_ATTR_PG_TABLE_PART (PG_PARTS feature): a PG table in pieces. One
 * attribute holds at most 64 KiB (nla_len is a u16), so PG_TABLE lists at
 * most VS_GENL_PG_TABLE_MAX_PGS PGs (24 bytes each); etcd allows pools of
 * up to 65536 PGs. PG_TABLE_PART is a top-level attribute of MAP and
 * SET_MAP that may repeat, each a nest of enum vs_genl_pg_part_attr with
 * the primaries of PGs FIRST .. FIRST + n - 1 of pool POOL_ID (8 bytes a
 * PG, at most VS_GENL_PG_PART_MAX_PGS a part). Rules:
 *  - a map (MAP's own pool, a POOLS item, SET_MAP's pool) takes its table
 *    from PG_TABLE or from the parts of its POOL_ID, never from both;
 *  - the parts of a pool come in PG order and cover 1..PG_COUNT of its map
 *    exactly: the first starts at 1, each next one where the previous one
 *    ended, the last ends at PG_COUNT (no gap, no overlap, none beyond);
 *  - parts of a pool the message has no map of are refused;
 *  - parts of different pools may interleave.
 * The whole request must fit the sending socket's sk_sndbuf (vsctl raises
 * it with SO_SNDBUFFORCE); the kernel takes a large request in a vmalloc'ed
 * skb. A request of 65536 PGs is ~530 KB, of 9 such pools (MAP with 8
 * POOLS) ~4.8 MB. Send with NETLINK_CAP_ACK so that an error ack does not
 * echo it back. OSD_LIST and POOLS stay single attributes (64 KiB each).
 */
enum vs_genl_pg_part_attr {
	VS_PG_PART_ATTR_UNSPEC,
	VS_PG_PART_ATTR_POOL_ID,	/* u32: the pool of the table */
	VS_PG_PART_ATTR_FIRST,		/* u32: first PG of the part, 1-based */
	/*
	 * u64[n], n >= 1, host order: primary OSD of PG FIRST + i, 0 = none
	 * (hold I/O). 4-byte aligned like any attribute: read with memcpy.
	 */
	VS_PG_PART_ATTR_PRIMARIES,

	__VS_PG_PART_ATTR_MAX,
};

#define VS_PG_PART_ATTR_MAX (__VS_PG_PART_ATTR_MAX - 1)

/* PGs one PG_TABLE holds: (65535 - 4) / 24; one PG_TABLE_PART: the
 * PRIMARIES of a nest of at most 65535 bytes with POOL_ID and FIRST. */
#define VS_GENL_PG_TABLE_MAX_PGS	2730
#define VS_GENL_PG_PART_MAX_PGS		8188

/*
 * Items of VS_ATTR_OSD_LIST: each is a nest of enum vs_genl_osd_attr with one
 * address. An OSD with several addresses appears in several items (same
 * NUM and PORT), in the order they should be tried.
 */
enum vs_genl_osd_list {
	VS_OSD_LIST_UNSPEC,
	VS_OSD_LIST_ITEM,
	__VS_OSD_LIST_MAX,
};

#define VS_OSD_LIST_MAX (__VS_OSD_LIST_MAX - 1)

enum vs_genl_osd_attr {
	VS_OSD_ATTR_UNSPEC,
	VS_OSD_ATTR_PAD,
	VS_OSD_ATTR_NUM,		/* u64: OSD number */
	VS_OSD_ATTR_ADDR4,		/* __be32: IPv4 address */
	VS_OSD_ATTR_ADDR6,		/* 16 bytes: IPv6 address */
	VS_OSD_ATTR_PORT,		/* u16: TCP port */

	__VS_OSD_ATTR_MAX,
};

#define VS_OSD_ATTR_MAX (__VS_OSD_ATTR_MAX - 1)

/*
 * Items of VS_ATTR_LAYERS: the parents of the top layer (INODE), nearest
 * first, each a nest of enum vs_genl_layer_attr. A read takes each
 * bitmap granule from the first layer (INODE, then these in order) that
 * holds it, else zeroes (spec 4.0.2). At most VS_GENL_MAX_LAYERS items,
 * each in the pool of INODE or in one of the device's POOLS, no inode
 * twice.
 */
enum vs_genl_layer_list {
	VS_LAYER_LIST_UNSPEC,
	VS_LAYER_ITEM,
	__VS_LAYER_LIST_MAX,
};

#define VS_LAYER_LIST_MAX (__VS_LAYER_LIST_MAX - 1)

enum vs_genl_layer_attr {
	VS_LAYER_ATTR_UNSPEC,
	VS_LAYER_ATTR_PAD,
	VS_LAYER_ATTR_INODE,		/* u64: pool_id << 48 | inode number */

	__VS_LAYER_ATTR_MAX,
};

#define VS_LAYER_ATTR_MAX (__VS_LAYER_ATTR_MAX - 1)

#define VS_GENL_MAX_LAYERS	64

/*
 * Items of VS_ATTR_POOLS (XPOOL feature): the PG maps of the pools other
 * than POOL_ID that the layers of a device are in, one item per pool.
 * Each item is a nest of the top-level attributes (enum vs_genl_attr) of
 * one pool's map, as MAP carries its own pool's:
 *   required POOL_ID, PG_COUNT, MAP_EPOCH, OSD_LIST, BLOCK_SIZE,
 *            BITMAP_GRANULARITY, and PG_TABLE unless the message has
 *            PG_TABLE_PARTs of the item's POOL_ID (at its top level:
 *            POOLS is one attribute of 64 KiB in all)
 *   optional PG_STRIPE_SIZE (0), DATA_CHUNKS (1)
 * and nothing else. A layer's object is read from its own pool, routed
 * with that pool's PG table. The geometry must match the device's pool:
 * the same BLOCK_SIZE and BITMAP_GRANULARITY, and DATA_CHUNKS 1 (EC is
 * refused as for the device's pool), since a request is cut by the
 * device's objects and its bitmap granules. At most VS_GENL_MAX_POOLS
 * items, no pool twice, never the device's own pool. The set of pools
 * is fixed at MAP; SET_MAP updates each one, SET_LAYERS may only name
 * layers in them.
 */
enum vs_genl_pools_list {
	VS_POOLS_LIST_UNSPEC,
	VS_POOLS_ITEM,
	__VS_POOLS_LIST_MAX,
};

#define VS_POOLS_LIST_MAX (__VS_POOLS_LIST_MAX - 1)

#define VS_GENL_MAX_POOLS	8

/* Highest /dev/vsN index MAP accepts (DEV_INDEX). */
#define VS_GENL_MAX_DEV_INDEX	65535u

/* VS_ATTR_IMMEDIATE_COMMIT: the cluster's immediate_commit setting. */
enum vs_genl_commit {
	VS_GENL_COMMIT_NONE = 0,	/* lazy: flush sends SYNC */
	VS_GENL_COMMIT_SMALL = 1,	/* like NONE for clients */
	VS_GENL_COMMIT_ALL = 2,		/* writes durable when acked */
};

/* VS_ATTR_FLAGS */
#define VS_GENL_F_READONLY	(1U << 0)	/* MAP: read-only device */
#define VS_GENL_F_FORCE		(1U << 1)	/* UNMAP: fail outstanding I/O */

/* VS_ATTR_DEV_STATE */
enum vs_genl_dev_state {
	VS_DEV_STATE_UNSPEC,
	VS_DEV_STATE_CONNECTING,	/* mapped, no OSD connected yet */
	VS_DEV_STATE_ACTIVE,		/* I/O flows */
	VS_DEV_STATE_DEGRADED,		/* some I/O waits for an OSD or a map */
	VS_DEV_STATE_DEAD,		/* force-unmapped: all I/O fails */
	VS_DEV_STATE_REMOVING,		/* unmap in progress */

	__VS_DEV_STATE_MAX,
};

#define VS_DEV_STATE_MAX (__VS_DEV_STATE_MAX - 1)

/* VS_ATTR_FEATURES */
#define VS_FEAT_MULTI_CONN	(1ULL << 0)	/* CONNS_PER_OSD > 1 */
#define VS_FEAT_IPV6		(1ULL << 1)	/* VS_OSD_ATTR_ADDR6 */
#define VS_FEAT_FORCE_UNMAP	(1ULL << 2)	/* VS_GENL_F_FORCE */
#define VS_FEAT_LAZY_SYNC	(1ULL << 3)	/* COMMIT_NONE/SMALL pools */
#define VS_FEAT_REQ_TIMEOUT	(1ULL << 4)	/* VS_ATTR_TIMEOUT_MS */
#define VS_FEAT_RESIZE		(1ULL << 5)	/* VS_CMD_RESIZE */
#define VS_FEAT_EC		(1ULL << 6)	/* DATA_CHUNKS > 1 */
#define VS_FEAT_DISCARD		(1ULL << 7)	/* discard/write-zeroes */
#define VS_FEAT_LAYERS		(1ULL << 8)	/* LAYERS, SET_LAYERS */
#define VS_FEAT_XPOOL		(1ULL << 9)	/* POOLS: parents in other pools */
#define VS_FEAT_PG_PARTS	(1ULL << 10)	/* PG_TABLE_PART */
#define VS_FEAT_KNOWN		((1ULL << 11) - 1)	/* all defined here */

#endif /* VSTOR_GENL_H */
