// SPDX-License-Identifier: GPL-2.0
/*
 * The "vstor" generic netlink family: MAP, UNMAP, SET_MAP, RESIZE, LIST
 * and SET_LAYERS (see common/vstor_genl.h for the ABI).
 *
 * Validation happens in three layers, each reporting a message through
 * extack:
 *  1. the genl core against the family policy (strict: every attribute has
 *     a type and ranges, nests need NLA_F_NESTED, unknown attributes,
 *     wrong lengths and trailing bytes are refused; resv_start_op is 0, so
 *     the reserved header bytes must be zero for every command),
 *  2. vs_genl_pre_doit(): CAP_SYS_ADMIN for modifying commands, and the set
 *     of attributes each command allows and requires,
 *  3. the command itself: cross-attribute rules (geometry, the PG table
 *     against PG_COUNT and the OSD list, flags per command).
 * Only then does a command act.
 *
 * Commands run in parallel with other genl families (parallel_ops) and are
 * serialised among themselves by vs_ctl_mutex, which no command holds
 * while it waits for a cluster: a normal UNMAP drops it while the device
 * drains (vs_dev_remove), so SET_MAP, LIST and other devices' commands go on.
 *
 * Feature negotiation: userspace sends the VS_FEAT_* bits it wants, the
 * kernel answers with those it also supports (VS_DRV_FEATURES). A LIST
 * request without DEV_INDEX is the query: it replies with one message
 * holding just FEATURES.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/blkdev.h>
#include <linux/bsearch.h>
#include <linux/capability.h>
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <net/genetlink.h>
#include <net/netlink.h>

#include "vstor.h"
#include "vstor_proto.h"

/* Largest device: 2^60 bytes keeps every sector and byte count in range. */
#define VS_MAX_DEV_SIZE		(1ULL << 60)

static struct genl_family vs_genl_family;

/* ---- Policies ---- */

static struct netlink_range_validation vs_dev_index_range = {
	.min = 0,
	.max = VS_MAX_DEV_INDEX,
};

static struct netlink_range_validation vs_size_range = {
	.min = SECTOR_SIZE,
	.max = VS_MAX_DEV_SIZE,
};

static struct netlink_range_validation vs_block_size_range = {
	.min = VS_MIN_BLOCK_SIZE,
	.max = VS_BLOCK_SIZE_LIMIT - 1,
};

static struct netlink_range_validation vs_granularity_range = {
	.min = SECTOR_SIZE,
	.max = VS_BLOCK_SIZE_LIMIT - 1,
};

static struct netlink_range_validation vs_pool_id_range = {
	.min = 1,
	.max = VS_MAX_POOL_ID,
};

static struct netlink_range_validation vs_pg_count_range = {
	.min = 1,
	.max = VS_MAX_PG_COUNT,
};

/*
 * The attributes of one pool's map and geometry: in MAP and SET_MAP at
 * the top level, and all a POOLS item may hold (the strict parse refuses
 * any other attribute in an item).
 */
#define VS_POOL_MAP_POLICY						\
	[VS_ATTR_PAD]			= { .type = NLA_REJECT,		\
					    .reject_message = "PAD is output only" }, \
	[VS_ATTR_BLOCK_SIZE]		= NLA_POLICY_FULL_RANGE(NLA_U32,	\
							&vs_block_size_range), \
	[VS_ATTR_BITMAP_GRANULARITY]	= NLA_POLICY_FULL_RANGE(NLA_U32,	\
							&vs_granularity_range), \
	[VS_ATTR_POOL_ID]		= NLA_POLICY_FULL_RANGE(NLA_U32,	\
							&vs_pool_id_range), \
	[VS_ATTR_PG_COUNT]		= NLA_POLICY_FULL_RANGE(NLA_U32,	\
							&vs_pg_count_range), \
	[VS_ATTR_PG_STRIPE_SIZE]	= { .type = NLA_U64 },		\
	[VS_ATTR_DATA_CHUNKS]		= NLA_POLICY_RANGE(NLA_U32, 1, 256), \
	[VS_ATTR_PG_TABLE]		= NLA_POLICY_NESTED_ARRAY(vs_pg_policy), \
	[VS_ATTR_OSD_LIST]		= NLA_POLICY_NESTED_ARRAY(vs_osd_policy), \
	[VS_ATTR_MAP_EPOCH]		= NLA_POLICY_MIN(NLA_U64, 1)

static const struct nla_policy vs_pool_policy[VS_ATTR_MAX + 1] = {
	VS_POOL_MAP_POLICY,
};

static const struct nla_policy vs_attr_policy[VS_ATTR_MAX + 1] = {
	VS_POOL_MAP_POLICY,
	[VS_ATTR_DEV_INDEX]		= NLA_POLICY_FULL_RANGE(NLA_U32,
							&vs_dev_index_range),
	[VS_ATTR_INODE]			= { .type = NLA_U64 },
	[VS_ATTR_SIZE]			= NLA_POLICY_FULL_RANGE(NLA_U64,
							&vs_size_range),
	[VS_ATTR_IMMEDIATE_COMMIT]	= NLA_POLICY_MAX(NLA_U8, VS_GENL_COMMIT_ALL),
	[VS_ATTR_FLAGS]			= NLA_POLICY_MASK(NLA_U32, VS_GENL_F_READONLY |
							  VS_GENL_F_FORCE),
	[VS_ATTR_QUEUE_DEPTH]		= NLA_POLICY_RANGE(NLA_U32, 1, 4096),
	[VS_ATTR_HW_QUEUES]		= NLA_POLICY_RANGE(NLA_U32, 1, 1024),
	[VS_ATTR_CONNS_PER_OSD]		= NLA_POLICY_RANGE(NLA_U32, 1, 64),
	[VS_ATTR_TIMEOUT_MS]		= { .type = NLA_U32 },
	[VS_ATTR_FEATURES]		= { .type = NLA_U64 },
	[VS_ATTR_DEV_STATE]		= NLA_POLICY_MAX(NLA_U32, VS_DEV_STATE_MAX),
	[VS_ATTR_POOL_NAME]		= { .type = NLA_NUL_STRING,
					    .len = VS_GENL_NAME_MAXLEN },
	[VS_ATTR_IMAGE_NAME]		= { .type = NLA_NUL_STRING,
					    .len = VS_GENL_NAME_MAXLEN },
	[VS_ATTR_INFLIGHT]		= { .type = NLA_U32 },
	[VS_ATTR_OSD_NUM]		= { .type = NLA_U64 },
	[VS_ATTR_STUCK_MS]		= { .type = NLA_U32 },
	[VS_ATTR_LAYERS]		= NLA_POLICY_NESTED_ARRAY(vs_layer_policy),
	[VS_ATTR_POOLS]			= NLA_POLICY_NESTED_ARRAY(vs_pool_policy),
	[VS_ATTR_PG_TABLE_PART]		= NLA_POLICY_NESTED(vs_pg_part_policy),
};

/* ---- Attributes each command allows and requires ---- */

#define VS_A(name)	BIT_ULL(VS_ATTR_##name)

#define VS_MAP_REQUIRED	(VS_A(INODE) | VS_A(SIZE) | VS_A(BLOCK_SIZE) |	\
			 VS_A(BITMAP_GRANULARITY) | VS_A(POOL_ID) |	\
			 VS_A(PG_COUNT) | VS_A(PG_STRIPE_SIZE) |	\
			 VS_A(IMMEDIATE_COMMIT) | VS_A(MAP_EPOCH) |	\
			 VS_A(OSD_LIST))
#define VS_SET_MAP_REQUIRED (VS_A(POOL_ID) | VS_A(MAP_EPOCH) |		\
			     VS_A(PG_COUNT) | VS_A(OSD_LIST))
/* the table of every map: PG_TABLE or parts (vs_map_from_attrs checks) */
#define VS_PG_TABLES	(VS_A(PG_TABLE) | VS_A(PG_TABLE_PART))

struct vs_cmd_attrs {
	u64 allowed;
	u64 required;
};

static const struct vs_cmd_attrs vs_cmd_attrs[VS_CMD_MAX + 1] = {
	[VS_CMD_MAP] = {
		.required = VS_MAP_REQUIRED,
		.allowed = VS_MAP_REQUIRED | VS_PG_TABLES | VS_A(DEV_INDEX) |
			   VS_A(DATA_CHUNKS) | VS_A(FLAGS) |
			   VS_A(QUEUE_DEPTH) | VS_A(HW_QUEUES) |
			   VS_A(CONNS_PER_OSD) | VS_A(TIMEOUT_MS) |
			   VS_A(FEATURES) | VS_A(POOL_NAME) |
			   VS_A(IMAGE_NAME) | VS_A(LAYERS) | VS_A(POOLS),
	},
	[VS_CMD_UNMAP] = {
		.required = VS_A(DEV_INDEX),
		.allowed = VS_A(DEV_INDEX) | VS_A(FLAGS),
	},
	[VS_CMD_SET_MAP] = {
		.required = VS_SET_MAP_REQUIRED,
		.allowed = VS_SET_MAP_REQUIRED | VS_PG_TABLES |
			   VS_A(PG_STRIPE_SIZE),
	},
	[VS_CMD_RESIZE] = {
		.required = VS_A(DEV_INDEX) | VS_A(SIZE),
		.allowed = VS_A(DEV_INDEX) | VS_A(SIZE),
	},
	[VS_CMD_LIST] = {
		.allowed = VS_A(DEV_INDEX) | VS_A(FEATURES),
	},
	[VS_CMD_SET_LAYERS] = {
		.required = VS_A(DEV_INDEX) | VS_A(INODE),
		.allowed = VS_A(DEV_INDEX) | VS_A(INODE) | VS_A(LAYERS),
	},
};

/*
 * extack messages must be static strings (6.1 has no NL_SET_ERR_MSG_FMT),
 * hence one per required attribute.
 */
static const char *const vs_missing_msg[VS_ATTR_MAX + 1] = {
	[VS_ATTR_DEV_INDEX] = "missing attribute DEV_INDEX",
	[VS_ATTR_INODE] = "missing attribute INODE",
	[VS_ATTR_SIZE] = "missing attribute SIZE",
	[VS_ATTR_BLOCK_SIZE] = "missing attribute BLOCK_SIZE",
	[VS_ATTR_BITMAP_GRANULARITY] = "missing attribute BITMAP_GRANULARITY",
	[VS_ATTR_POOL_ID] = "missing attribute POOL_ID",
	[VS_ATTR_PG_COUNT] = "missing attribute PG_COUNT",
	[VS_ATTR_PG_STRIPE_SIZE] = "missing attribute PG_STRIPE_SIZE",
	[VS_ATTR_IMMEDIATE_COMMIT] = "missing attribute IMMEDIATE_COMMIT",
	[VS_ATTR_OSD_LIST] = "missing attribute OSD_LIST",
	[VS_ATTR_MAP_EPOCH] = "missing attribute MAP_EPOCH",
};

static void vs_set_missing_msg(struct genl_info *info, unsigned int type)
{
	if (info->extack)
		info->extack->_msg = vs_missing_msg[type] ? vs_missing_msg[type] :
				     "missing attribute";
	NL_SET_ERR_ATTR_MISS(info->extack, NULL, type);
}

static int vs_check_attr_set(struct genl_info *info, u8 cmd)
{
	const struct vs_cmd_attrs *set = &vs_cmd_attrs[cmd];
	unsigned int i;

	for (i = 1; i <= VS_ATTR_MAX; i++) {
		if (info->attrs[i] && !(set->allowed & BIT_ULL(i))) {
			NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[i],
					    "attribute not valid for this command");
			return -EINVAL;
		}
	}
	for (i = 1; i <= VS_ATTR_MAX; i++) {
		if (!info->attrs[i] && (set->required & BIT_ULL(i))) {
			vs_set_missing_msg(info, i);
			return -EINVAL;
		}
	}
	return 0;
}

static int vs_genl_pre_doit(const struct genl_ops *ops, struct sk_buff *skb,
			    struct genl_info *info)
{
	/*
	 * GENL_ADMIN_PERM already demanded CAP_NET_ADMIN; mapping block
	 * devices is a CAP_SYS_ADMIN matter, as for loop, nbd and rbd.
	 */
	if ((ops->flags & GENL_ADMIN_PERM) &&
	    !netlink_capable(skb, CAP_SYS_ADMIN)) {
		GENL_SET_ERR_MSG(info, "CAP_SYS_ADMIN required");
		return -EPERM;
	}
	if (ops->cmd > VS_CMD_MAX)
		return -EOPNOTSUPP;
	return vs_check_attr_set(info, ops->cmd);
}

/* ---- Cross-attribute validation ---- */

static int vs_check_size(struct genl_info *info)
{
	struct nlattr *attr = info->attrs[VS_ATTR_SIZE];

	if (!IS_ALIGNED(nla_get_u64(attr), SECTOR_SIZE)) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr,
				    "SIZE must be a multiple of 512");
		return -EINVAL;
	}
	return 0;
}

static int vs_check_name(struct genl_info *info, int type)
{
	struct nlattr *attr = info->attrs[type];

	if (attr && !*(const char *)nla_data(attr)) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr, "empty name");
		return -EINVAL;
	}
	return 0;
}

static u32 vs_get_u32(struct genl_info *info, int type, u32 dflt)
{
	return info->attrs[type] ? nla_get_u32(info->attrs[type]) : dflt;
}

/*
 * A pool's stripe, block_size * data_chunks: requests are cut at stripes,
 * and one READ or zeroing WRITE may cover a whole one, which must stay
 * within VS_MAX_OP_LEN (the io_opt and discard granularity are u32s too).
 * Replicated pools always pass (BLOCK_SIZE < 128 MiB, a power of 2).
 */
static int vs_check_stripe(struct netlink_ext_ack *extack, struct nlattr *attr,
			   u32 block_size, u32 data_chunks)
{
	if ((u64)block_size * data_chunks > VS_MAX_OP_LEN) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "a stripe (BLOCK_SIZE * DATA_CHUNKS) above 64 MiB is not supported");
		return -EOPNOTSUPP;
	}
	return 0;
}

static int vs_parse_map(struct genl_info *info, struct vs_dev_params *p)
{
	struct netlink_ext_ack *extack = info->extack;
	struct nlattr **a = info->attrs;
	u64 stripe_unit;
	int err;

	u64 pg_stripe_size = nla_get_u64(a[VS_ATTR_PG_STRIPE_SIZE]);

	memset(p, 0, sizeof(*p));
	p->inode = nla_get_u64(a[VS_ATTR_INODE]);
	p->size = nla_get_u64(a[VS_ATTR_SIZE]);
	p->features = a[VS_ATTR_FEATURES] ?
		      nla_get_u64(a[VS_ATTR_FEATURES]) & VS_DRV_FEATURES : 0;
	p->dev_index = vs_get_u32(info, VS_ATTR_DEV_INDEX, U32_MAX);
	p->block_size = nla_get_u32(a[VS_ATTR_BLOCK_SIZE]);
	p->bitmap_granularity = nla_get_u32(a[VS_ATTR_BITMAP_GRANULARITY]);
	p->pool_id = nla_get_u32(a[VS_ATTR_POOL_ID]);
	p->data_chunks = vs_get_u32(info, VS_ATTR_DATA_CHUNKS, 1);
	p->flags = vs_get_u32(info, VS_ATTR_FLAGS, 0);
	p->queue_depth = vs_get_u32(info, VS_ATTR_QUEUE_DEPTH, 128);
	p->hw_queues = vs_get_u32(info, VS_ATTR_HW_QUEUES, 1);
	p->conns_per_osd = vs_get_u32(info, VS_ATTR_CONNS_PER_OSD, 1);
	p->timeout_ms = vs_get_u32(info, VS_ATTR_TIMEOUT_MS, 0);
	p->immediate_commit = nla_get_u8(a[VS_ATTR_IMMEDIATE_COMMIT]);

	if (!is_power_of_2(p->block_size)) {
		NL_SET_ERR_MSG_ATTR(extack, a[VS_ATTR_BLOCK_SIZE],
				    "BLOCK_SIZE must be a power of 2");
		return -EINVAL;
	}
	if (!is_power_of_2(p->bitmap_granularity) ||
	    p->bitmap_granularity > p->block_size) {
		NL_SET_ERR_MSG_ATTR(extack, a[VS_ATTR_BITMAP_GRANULARITY],
				    "BITMAP_GRANULARITY must be a power of 2 not above BLOCK_SIZE");
		return -EINVAL;
	}
	if (vs_inode_pool(p->inode) != p->pool_id) {
		NL_SET_ERR_MSG_ATTR(extack, a[VS_ATTR_INODE],
				    "INODE is not in pool POOL_ID");
		return -EINVAL;
	}
	if (!vs_inode_num(p->inode)) {
		NL_SET_ERR_MSG_ATTR(extack, a[VS_ATTR_INODE],
				    "INODE number is 0");
		return -EINVAL;
	}
	err = vs_check_size(info);
	if (err)
		return err;
	if (p->data_chunks > 1 && !(p->features & VS_FEAT_EC)) {
		NL_SET_ERR_MSG_ATTR(extack, a[VS_ATTR_DATA_CHUNKS],
				    "DATA_CHUNKS > 1 needs the EC feature");
		return -EINVAL;
	}
	err = vs_check_stripe(extack, a[VS_ATTR_DATA_CHUNKS], p->block_size,
			      p->data_chunks);
	if (err)
		return err;
	stripe_unit = (u64)p->block_size * p->data_chunks;
	if (pg_stripe_size && vs_u64_rem(pg_stripe_size, stripe_unit)) {
		NL_SET_ERR_MSG_ATTR(extack, a[VS_ATTR_PG_STRIPE_SIZE],
				    "PG_STRIPE_SIZE must be 0 or a multiple of BLOCK_SIZE * DATA_CHUNKS");
		return -EINVAL;
	}
	if (p->flags & VS_GENL_F_FORCE) {
		NL_SET_ERR_MSG_ATTR(extack, a[VS_ATTR_FLAGS],
				    "FORCE is an UNMAP flag");
		return -EINVAL;
	}
	err = vs_check_name(info, VS_ATTR_POOL_NAME);
	if (!err)
		err = vs_check_name(info, VS_ATTR_IMAGE_NAME);
	if (err)
		return err;
	if (a[VS_ATTR_POOL_NAME])
		nla_strscpy(p->pool_name, a[VS_ATTR_POOL_NAME], sizeof(p->pool_name));
	else
		snprintf(p->pool_name, sizeof(p->pool_name), "%u", p->pool_id);
	if (a[VS_ATTR_IMAGE_NAME])
		nla_strscpy(p->image_name, a[VS_ATTR_IMAGE_NAME], sizeof(p->image_name));
	else
		snprintf(p->image_name, sizeof(p->image_name), "%llu",
			 vs_inode_num(p->inode));

	/* Valid, but beyond what this driver does. */
	if (p->bitmap_granularity > PAGE_SIZE) {
		NL_SET_ERR_MSG_ATTR(extack, a[VS_ATTR_BITMAP_GRANULARITY],
				    "BITMAP_GRANULARITY above the page size is not supported");
		return -EOPNOTSUPP;
	}
	if (p->conns_per_osd > 1 && !(p->features & VS_FEAT_MULTI_CONN)) {
		NL_SET_ERR_MSG_ATTR(extack, a[VS_ATTR_CONNS_PER_OSD],
				    "CONNS_PER_OSD > 1 needs the MULTI_CONN feature");
		return -EINVAL;
	}
	if (a[VS_ATTR_LAYERS] && !(p->features & VS_FEAT_LAYERS)) {
		NL_SET_ERR_MSG_ATTR(extack, a[VS_ATTR_LAYERS],
				    "LAYERS needs the LAYERS feature");
		return -EINVAL;
	}
	if (a[VS_ATTR_POOLS] && !(p->features & VS_FEAT_XPOOL)) {
		NL_SET_ERR_MSG_ATTR(extack, a[VS_ATTR_POOLS],
				    "POOLS needs the XPOOL feature");
		return -EINVAL;
	}
	if (a[VS_ATTR_PG_TABLE_PART] && !(p->features & VS_FEAT_PG_PARTS)) {
		NL_SET_ERR_MSG_ATTR(extack, a[VS_ATTR_PG_TABLE_PART],
				    "PG_TABLE_PART needs the PG_PARTS feature");
		return -EINVAL;
	}
	return 0;
}

/*
 * A layered read takes each granule from the first layer whose READ bitmap
 * has it. With BLOCK_SIZE < 8 * BITMAP_GRANULARITY the bitmap has no bytes
 * (block_size / granularity / 8): every granule would look empty and the
 * parents' data (or zeroes) would overwrite the top layer's.
 */
static int vs_check_layer_bitmap(struct netlink_ext_ack *extack,
				 struct nlattr *attr, u32 block_size, u32 gran)
{
	if (vs_bitmap_size(block_size, gran))
		return 0;
	NL_SET_ERR_MSG_ATTR(extack, attr,
			    "LAYERS need BLOCK_SIZE of at least 8 * BITMAP_GRANULARITY (a READ bitmap)");
	return -EOPNOTSUPP;
}

/* ---- POOLS: the maps of the other pools of the layers ---- */

/* Required attributes of a POOLS item, each with its message. */
static const struct {
	int type;
	const char *msg;
} vs_pool_required[] = {
	{ VS_ATTR_POOL_ID, "POOLS item without POOL_ID" },
	{ VS_ATTR_PG_COUNT, "POOLS item without PG_COUNT" },
	{ VS_ATTR_MAP_EPOCH, "POOLS item without MAP_EPOCH" },
	{ VS_ATTR_OSD_LIST, "POOLS item without OSD_LIST" },
	{ VS_ATTR_BLOCK_SIZE, "POOLS item without BLOCK_SIZE" },
	{ VS_ATTR_BITMAP_GRANULARITY, "POOLS item without BITMAP_GRANULARITY" },
};

/*
 * A POOLS item parsed into tb and checked against the device (p) and the
 * pools before it (maps[1..n-1]): the same block and granule sizes, a new
 * pool. Its DATA_CHUNKS goes to *data_chunks.
 */
static int vs_pool_check(struct nlattr *item, struct nlattr **tb,
			 const struct vs_dev_params *p, struct vs_map **maps,
			 u32 n, u32 *data_chunks, struct netlink_ext_ack *extack)
{
	u64 pss;
	u32 pool, i, dc;
	int err;

	if (nla_type(item) != VS_POOLS_ITEM) {
		NL_SET_ERR_MSG_ATTR(extack, item, "POOLS holds only ITEM nests");
		return -EINVAL;
	}
	err = nla_parse_nested(tb, VS_ATTR_MAX, item, vs_pool_policy, extack);
	if (err)
		return err;
	for (i = 0; i < ARRAY_SIZE(vs_pool_required); i++) {
		if (!tb[vs_pool_required[i].type]) {
			/* the messages are literals, but not to the macro */
			if (extack) {
				extack->_msg = vs_pool_required[i].msg;
				extack->bad_attr = item;
			}
			NL_SET_ERR_ATTR_MISS(extack, item, vs_pool_required[i].type);
			return -EINVAL;
		}
	}
	pool = nla_get_u32(tb[VS_ATTR_POOL_ID]);
	if (pool == p->pool_id) {
		NL_SET_ERR_MSG_ATTR(extack, tb[VS_ATTR_POOL_ID],
				    "POOLS item is the device's own pool (POOL_ID)");
		return -EINVAL;
	}
	for (i = 1; i < n; i++) {
		if (maps[i]->pool_id == pool) {
			NL_SET_ERR_MSG_ATTR(extack, tb[VS_ATTR_POOL_ID],
					    "POOLS lists a pool twice");
			return -EINVAL;
		}
	}
	/* requests are cut by the device's objects and granules */
	if (nla_get_u32(tb[VS_ATTR_BLOCK_SIZE]) != p->block_size) {
		NL_SET_ERR_MSG_ATTR(extack, tb[VS_ATTR_BLOCK_SIZE],
				    "a parent pool with another BLOCK_SIZE than the device's pool is not supported");
		return -EOPNOTSUPP;
	}
	if (nla_get_u32(tb[VS_ATTR_BITMAP_GRANULARITY]) != p->bitmap_granularity) {
		NL_SET_ERR_MSG_ATTR(extack, tb[VS_ATTR_BITMAP_GRANULARITY],
				    "a parent pool with another BITMAP_GRANULARITY than the device's pool is not supported");
		return -EOPNOTSUPP;
	}
	/*
	 * Other data_chunks than the device's are fine: parts of a parent
	 * are cut and routed by its pool's stripes (vstor_layer.c).
	 */
	dc = tb[VS_ATTR_DATA_CHUNKS] ? nla_get_u32(tb[VS_ATTR_DATA_CHUNKS]) : 1;
	if (dc > 1 && !(p->features & VS_FEAT_EC)) {
		NL_SET_ERR_MSG_ATTR(extack, tb[VS_ATTR_DATA_CHUNKS],
				    "POOLS item DATA_CHUNKS > 1 needs the EC feature");
		return -EINVAL;
	}
	err = vs_check_stripe(extack, tb[VS_ATTR_DATA_CHUNKS], p->block_size, dc);
	if (err)
		return err;
	pss = tb[VS_ATTR_PG_STRIPE_SIZE] ? nla_get_u64(tb[VS_ATTR_PG_STRIPE_SIZE]) : 0;
	if (pss && vs_u64_rem(pss, (u64)p->block_size * dc)) {
		NL_SET_ERR_MSG_ATTR(extack, tb[VS_ATTR_PG_STRIPE_SIZE],
				    "POOLS item PG_STRIPE_SIZE must be 0 or a multiple of BLOCK_SIZE * DATA_CHUNKS");
		return -EINVAL;
	}
	*data_chunks = dc;
	return 0;
}

/*
 * maps[0] is the device's own map; POOLS (if any) adds maps[1..]. The
 * count of maps, or a negative errno with extack set (the maps made so
 * far stay in maps for the caller to put).
 */
static int vs_parse_pools(struct genl_info *info, struct vs_dev_params *p,
			  struct vs_map **maps)
{
	struct nlattr *list = info->attrs[VS_ATTR_POOLS];
	struct netlink_ext_ack *extack = info->extack;
	struct nlattr **tb;
	struct nlattr *item;
	int rem, err = 0;
	u32 n = 1;

	if (!list)
		return n;
	tb = kcalloc(VS_ATTR_MAX + 1, sizeof(*tb), GFP_KERNEL);
	if (!tb)
		return -ENOMEM;
	nla_for_each_nested(item, list, rem) {
		if (n > VS_GENL_MAX_POOLS) {
			NL_SET_ERR_MSG_ATTR(extack, item,
					    "too many POOLS (at most 8)");
			err = -E2BIG;
			break;
		}
		err = vs_pool_check(item, tb, p, maps, n,
				    &p->xdata_chunks[n - 1], extack);
		if (err)
			break;
		maps[n] = vs_map_from_attrs(tb, item, info, &err);
		if (!maps[n])
			break;
		n++;
	}
	kfree(tb);
	if (!err && n == 1) {
		NL_SET_ERR_MSG_ATTR(extack, list, "POOLS is empty");
		err = -EINVAL;
	}
	return err ? err : n;
}

/* ---- Commands ---- */

/* Puts maps[0..n-1] and layers (either may be NULL); returns err. */
static int vs_map_fail(struct vs_map **maps, u32 n, struct vs_layers *layers,
		       int err)
{
	u32 i;

	for (i = 0; i < n; i++)
		vs_map_put(maps[i]);
	vs_layers_put(layers);
	return err;
}

static int vs_cmd_map(struct sk_buff *skb, struct genl_info *info)
{
	struct vs_map *maps[VS_GENL_MAX_POOLS + 1] = { NULL };
	u32 xpools[VS_GENL_MAX_POOLS], nmaps, i;
	struct vs_layers *layers;
	struct vs_dev_params p;
	struct vs_dev *dev;
	struct sk_buff *msg;
	void *hdr;
	int err;

	err = vs_parse_map(info, &p);
	if (err)
		return err;
	maps[0] = vs_map_from_attrs(info->attrs, NULL, info, &err);
	if (!maps[0])
		return err;
	err = vs_parse_pools(info, &p, maps);
	if (err < 0)
		return vs_map_fail(maps, ARRAY_SIZE(maps), NULL, err);
	nmaps = err;
	err = vs_parts_check_pools(info, maps, nmaps);
	if (err)
		return vs_map_fail(maps, nmaps, NULL, err);
	for (i = 1; i < nmaps; i++)
		xpools[i - 1] = maps[i]->pool_id;
	layers = vs_layers_from_attrs(p.inode, info->attrs[VS_ATTR_LAYERS],
				      xpools, nmaps - 1, info->extack, &err);
	if (!layers)
		return vs_map_fail(maps, nmaps, NULL, err);
	if (layers->n > 1) {
		err = vs_check_layer_bitmap(info->extack, info->attrs[VS_ATTR_LAYERS],
					    p.block_size, p.bitmap_granularity);
		if (err)
			return vs_map_fail(maps, nmaps, layers, err);
	}
	msg = genlmsg_new(2 * nla_total_size_64bit(sizeof(u64)), GFP_KERNEL);
	if (!msg)
		return vs_map_fail(maps, nmaps, layers, -ENOMEM);
	mutex_lock(&vs_ctl_mutex);
	err = vs_dev_create(&p, maps, nmaps, layers, &dev);
	if (err == -EEXIST)
		GENL_SET_ERR_MSG(info, "DEV_INDEX is in use");
	else if (err == -ENOSPC)
		GENL_SET_ERR_MSG(info, "no free device index");
	if (!err) {
		vs_genl_event_dev(VS_CMD_DEV_ADDED, dev);
		pr_info("vs%u: mapped pool %s image %s (inode 0x%llx, %llu bytes, stripe %llu%s, %u layers, %u other pools)\n",
			dev->index, p.pool_name, p.image_name, p.inode, p.size,
			dev->stripe_size, dev->lazy ? ", lazy sync" : "",
			layers->n, nmaps - 1);
		hdr = genlmsg_put_reply(msg, info, &vs_genl_family, 0, VS_CMD_MAP);
		if (!hdr || nla_put_u32(msg, VS_ATTR_DEV_INDEX, dev->index) ||
		    nla_put_u64_64bit(msg, VS_ATTR_FEATURES, p.features,
				      VS_ATTR_PAD)) {
			mutex_unlock(&vs_ctl_mutex);
			nlmsg_free(msg);
			return -EMSGSIZE;
		}
		genlmsg_end(msg, hdr);
	}
	mutex_unlock(&vs_ctl_mutex);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	return genlmsg_reply(msg, info);
}

static int vs_cmd_unmap(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *flags = info->attrs[VS_ATTR_FLAGS];
	u32 index = nla_get_u32(info->attrs[VS_ATTR_DEV_INDEX]);
	bool force = flags && (nla_get_u32(flags) & VS_GENL_F_FORCE);
	const char *why = NULL;
	struct vs_dev *dev;
	int err;

	if (flags && (nla_get_u32(flags) & VS_GENL_F_READONLY)) {
		NL_SET_ERR_MSG_ATTR(info->extack, flags,
				    "READONLY is a MAP flag");
		return -EINVAL;
	}
	mutex_lock(&vs_ctl_mutex);
	dev = vs_dev_find(index);
	if (!dev) {
		mutex_unlock(&vs_ctl_mutex);
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[VS_ATTR_DEV_INDEX],
				    "no such device");
		return -ENODEV;
	}
	err = vs_dev_remove(dev, force, &why);
	if (!err) {
		vs_genl_event_index(VS_CMD_DEV_REMOVED, index);
		pr_info("vs%u: unmapped%s\n", index, force ? " (forced)" : "");
	}
	mutex_unlock(&vs_ctl_mutex);
	/* why is a string literal, as extack messages must be */
	if (why && info->extack)
		info->extack->_msg = why;
	return err;
}

static int vs_cmd_set_map(struct sk_buff *skb, struct genl_info *info)
{
	struct vs_map *map;
	struct vs_dev *dev;
	int err, n = 0;

	map = vs_map_from_attrs(info->attrs, NULL, info, &err);
	if (!map)
		return err;
	err = vs_parts_check_pools(info, &map, 1);
	if (err) {
		vs_map_put(map);
		return err;
	}
	mutex_lock(&vs_ctl_mutex);
	list_for_each_entry(dev, &vs_devs, node) {
		int idx = vs_dev_pool_index(dev, map->pool_id);

		if (idx < 0)
			continue;
		vs_map_get(map);
		err = vs_dev_set_map(dev, idx, map);
		if (err < 0)
			break;
		n++;
	}
	mutex_unlock(&vs_ctl_mutex);
	vs_map_put(map);
	if (err < 0)
		return err;
	if (!n) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[VS_ATTR_POOL_ID],
				    "no device maps this pool");
		return -ENODEV;
	}
	return 0;
}

static int vs_cmd_resize(struct sk_buff *skb, struct genl_info *info)
{
	u32 index = nla_get_u32(info->attrs[VS_ATTR_DEV_INDEX]);
	struct vs_dev *dev;
	int err;

	err = vs_check_size(info);
	if (err)
		return err;
	mutex_lock(&vs_ctl_mutex);
	dev = vs_dev_find(index);
	if (dev)
		err = vs_dev_resize(dev, nla_get_u64(info->attrs[VS_ATTR_SIZE]));
	mutex_unlock(&vs_ctl_mutex);
	if (!dev) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[VS_ATTR_DEV_INDEX],
				    "no such device");
		return -ENODEV;
	}
	return err;
}

static int vs_cmd_set_layers(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *index = info->attrs[VS_ATTR_DEV_INDEX];
	struct nlattr *inode = info->attrs[VS_ATTR_INODE];
	struct vs_layers *layers = NULL;
	struct vs_dev *dev;
	u64 top = nla_get_u64(inode);
	int err;

	if (!vs_inode_num(top)) {
		NL_SET_ERR_MSG_ATTR(info->extack, inode, "INODE number is 0");
		return -EINVAL;
	}
	mutex_lock(&vs_ctl_mutex);
	dev = vs_dev_find(nla_get_u32(index));
	if (!dev) {
		NL_SET_ERR_MSG_ATTR(info->extack, index, "no such device");
		err = -ENODEV;
	} else if (!(dev->p.features & VS_FEAT_LAYERS)) {
		NL_SET_ERR_MSG_ATTR(info->extack, index,
				    "the device was mapped without the LAYERS feature");
		err = -EOPNOTSUPP;
	} else if (vs_inode_pool(top) != dev->p.pool_id) {
		NL_SET_ERR_MSG_ATTR(info->extack, inode,
				    "INODE is not in the pool of the device");
		err = -EINVAL;
	} else {
		/* the layers may be in the pools the device has maps of */
		layers = vs_layers_from_attrs(top, info->attrs[VS_ATTR_LAYERS],
					      dev->xpool_id, dev->n_xpools,
					      info->extack, &err);
		if (layers && layers->n > 1) {
			err = vs_check_layer_bitmap(info->extack,
						    info->attrs[VS_ATTR_LAYERS],
						    dev->p.block_size,
						    dev->p.bitmap_granularity);
			if (err) {
				vs_layers_put(layers);
				layers = NULL;
			}
		}
	}
	if (layers) {
		pr_info("vs%u: layers now inode 0x%llx + %u parents (was 0x%llx)\n",
			dev->index, top, layers->n - 1, dev->p.inode);
		vs_dev_set_layers(dev, layers);
		layers = NULL;
		err = 0;
	}
	mutex_unlock(&vs_ctl_mutex);
	return err;
}

/* ---- Device messages: LIST replies and events ---- */

/* POOLS of a device with parents in other pools: POOL_ID, MAP_EPOCH each. */
static int vs_fill_pools(struct sk_buff *msg, struct vs_dev *dev)
{
	struct nlattr *list, *item;
	u32 i;

	if (!dev->n_xpools)
		return 0;
	list = nla_nest_start(msg, VS_ATTR_POOLS);
	if (!list)
		return -EMSGSIZE;
	for (i = 1; i < vs_dev_nroutes(dev); i++) {
		item = nla_nest_start(msg, VS_POOLS_ITEM);
		if (!item ||
		    nla_put_u32(msg, VS_ATTR_POOL_ID, vs_dev_route_pool(dev, i)) ||
		    nla_put_u64_64bit(msg, VS_ATTR_MAP_EPOCH, vs_dev_epoch(dev, i),
				      VS_ATTR_PAD))
			return -EMSGSIZE;
		nla_nest_end(msg, item);
	}
	nla_nest_end(msg, list);
	return 0;
}

static int vs_fill_dev(struct sk_buff *msg, struct vs_dev *dev)
{
	const struct vs_dev_params *p = &dev->p;
	const struct vs_layers *l =
		rcu_dereference_protected(dev->layers,
					  lockdep_is_held(&vs_ctl_mutex));

	if (nla_put_u32(msg, VS_ATTR_DEV_INDEX, dev->index) ||
	    nla_put_u64_64bit(msg, VS_ATTR_INODE, p->inode, VS_ATTR_PAD) ||
	    nla_put_u64_64bit(msg, VS_ATTR_SIZE, p->size, VS_ATTR_PAD) ||
	    nla_put_u32(msg, VS_ATTR_POOL_ID, p->pool_id) ||
	    nla_put_string(msg, VS_ATTR_POOL_NAME, p->pool_name) ||
	    nla_put_string(msg, VS_ATTR_IMAGE_NAME, p->image_name) ||
	    nla_put_u32(msg, VS_ATTR_DEV_STATE, vs_dev_state(dev)) ||
	    nla_put_u32(msg, VS_ATTR_INFLIGHT, atomic_read(&dev->inflight)) ||
	    nla_put_u64_64bit(msg, VS_ATTR_MAP_EPOCH, vs_dev_epoch(dev, 0),
			      VS_ATTR_PAD) ||
	    nla_put_u32(msg, VS_ATTR_FLAGS, p->flags) ||
	    nla_put_u64_64bit(msg, VS_ATTR_FEATURES, p->features, VS_ATTR_PAD) ||
	    nla_put_u32(msg, VS_ATTR_TIMEOUT_MS, p->timeout_ms) ||
	    nla_put_u8(msg, VS_ATTR_IMMEDIATE_COMMIT, p->immediate_commit) ||
	    vs_layers_fill(msg, l) || vs_fill_pools(msg, dev))
		return -EMSGSIZE;
	return 0;
}

static int vs_reply_dev(struct genl_info *info, struct vs_dev *dev)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &vs_genl_family, 0, VS_CMD_LIST);
	if (!hdr || vs_fill_dev(msg, dev)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

static void vs_event_send(struct sk_buff *msg, void *hdr)
{
	genlmsg_end(msg, hdr);
	/* no listener (-ESRCH) is fine */
	genlmsg_multicast(&vs_genl_family, msg, 0, 0, GFP_KERNEL);
}

static struct sk_buff *vs_event_new(int cmd, void **hdr)
{
	struct sk_buff *msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);

	if (!msg)
		return NULL;
	*hdr = genlmsg_put(msg, 0, 0, &vs_genl_family, 0, cmd);
	if (!*hdr) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

void vs_genl_event_dev(int cmd, struct vs_dev *dev)
{
	struct sk_buff *msg;
	void *hdr;

	msg = vs_event_new(cmd, &hdr);
	if (!msg)
		return;
	if (vs_fill_dev(msg, dev)) {
		nlmsg_free(msg);
		return;
	}
	vs_event_send(msg, hdr);
}

void vs_genl_event_index(int cmd, u32 index)
{
	struct sk_buff *msg;
	void *hdr;

	msg = vs_event_new(cmd, &hdr);
	if (!msg)
		return;
	if (nla_put_u32(msg, VS_ATTR_DEV_INDEX, index)) {
		nlmsg_free(msg);
		return;
	}
	vs_event_send(msg, hdr);
}

/* NEED_MAP for route idx of dev: its pool and the epoch it has. */
void vs_genl_event_need_map(struct vs_dev *dev, u32 idx)
{
	struct sk_buff *msg;
	void *hdr;

	msg = vs_event_new(VS_CMD_NEED_MAP, &hdr);
	if (!msg)
		return;
	if (nla_put_u32(msg, VS_ATTR_DEV_INDEX, dev->index) ||
	    nla_put_u32(msg, VS_ATTR_POOL_ID, vs_dev_route_pool(dev, idx)) ||
	    nla_put_u64_64bit(msg, VS_ATTR_MAP_EPOCH, vs_dev_epoch(dev, idx),
			      VS_ATTR_PAD)) {
		nlmsg_free(msg);
		return;
	}
	vs_event_send(msg, hdr);
}

void vs_genl_event_osd(struct vs_dev *dev, u64 osd)
{
	struct sk_buff *msg;
	void *hdr;

	msg = vs_event_new(VS_CMD_OSD_UNREACHABLE, &hdr);
	if (!msg)
		return;
	if (nla_put_u32(msg, VS_ATTR_DEV_INDEX, dev->index) ||
	    nla_put_u32(msg, VS_ATTR_POOL_ID, dev->p.pool_id) ||
	    nla_put_u64_64bit(msg, VS_ATTR_OSD_NUM, osd, VS_ATTR_PAD) ||
	    nla_put_u64_64bit(msg, VS_ATTR_MAP_EPOCH, vs_dev_epoch(dev, 0),
			      VS_ATTR_PAD)) {
		nlmsg_free(msg);
		return;
	}
	vs_event_send(msg, hdr);
}

void vs_genl_event_stuck(struct vs_dev *dev, u32 inflight, u32 stuck_ms)
{
	struct sk_buff *msg;
	void *hdr;

	msg = vs_event_new(VS_CMD_IO_STUCK, &hdr);
	if (!msg)
		return;
	if (nla_put_u32(msg, VS_ATTR_DEV_INDEX, dev->index) ||
	    nla_put_u32(msg, VS_ATTR_INFLIGHT, inflight) ||
	    nla_put_u32(msg, VS_ATTR_STUCK_MS, stuck_ms)) {
		nlmsg_free(msg);
		return;
	}
	vs_event_send(msg, hdr);
}

/* LIST without DEV_INDEX: the feature query. */
static int vs_reply_features(struct genl_info *info)
{
	struct nlattr *want = info->attrs[VS_ATTR_FEATURES];
	u64 granted = VS_DRV_FEATURES;
	struct sk_buff *msg;
	void *hdr;

	if (want)
		granted &= nla_get_u64(want);

	msg = genlmsg_new(nla_total_size_64bit(sizeof(u64)), GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &vs_genl_family, 0, VS_CMD_LIST);
	if (!hdr)
		goto nospace;
	if (nla_put_u64_64bit(msg, VS_ATTR_FEATURES, granted, VS_ATTR_PAD))
		goto nospace;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

nospace:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

static int vs_cmd_list(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *index = info->attrs[VS_ATTR_DEV_INDEX];
	struct vs_dev *dev;
	int err;

	if (!index)
		return vs_reply_features(info);
	mutex_lock(&vs_ctl_mutex);
	dev = vs_dev_find(nla_get_u32(index));
	err = dev ? vs_reply_dev(info, dev) : -ENODEV;
	mutex_unlock(&vs_ctl_mutex);
	if (err == -ENODEV)
		NL_SET_ERR_MSG_ATTR(info->extack, index, "no such device");
	return err;
}

/* LIST as a dump: one message per device, resuming after cb->args[0]. */
static int vs_dump_list(struct sk_buff *skb, struct netlink_callback *cb)
{
	u32 index = cb->args[0];
	struct vs_dev *dev;
	void *hdr;

	mutex_lock(&vs_ctl_mutex);
	while ((dev = vs_dev_next(&index))) {
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &vs_genl_family,
				  NLM_F_MULTI, VS_CMD_LIST);
		if (!hdr)
			break;
		if (vs_fill_dev(skb, dev)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = ++index;
	}
	mutex_unlock(&vs_ctl_mutex);
	return skb->len;
}

static const struct genl_small_ops vs_genl_ops[] = {
	{
		.cmd = VS_CMD_MAP,
		.flags = GENL_ADMIN_PERM,
		.doit = vs_cmd_map,
	},
	{
		.cmd = VS_CMD_UNMAP,
		.flags = GENL_ADMIN_PERM,
		.doit = vs_cmd_unmap,
	},
	{
		.cmd = VS_CMD_SET_MAP,
		.flags = GENL_ADMIN_PERM,
		.doit = vs_cmd_set_map,
	},
	{
		.cmd = VS_CMD_RESIZE,
		.flags = GENL_ADMIN_PERM,
		.doit = vs_cmd_resize,
	},
	{
		.cmd = VS_CMD_LIST,
		.doit = vs_cmd_list,
		.dumpit = vs_dump_list,
	},
	{
		.cmd = VS_CMD_SET_LAYERS,
		.flags = GENL_ADMIN_PERM,
		.doit = vs_cmd_set_layers,
	},
};

static const struct genl_multicast_group vs_genl_mcgrps[] = {
	{ .name = VS_GENL_MCAST_GROUP },
};

static struct genl_family vs_genl_family __ro_after_init = {
	.name		= VS_GENL_NAME,
	.version	= VS_GENL_VERSION,
	.maxattr	= VS_ATTR_MAX,
	.policy		= vs_attr_policy,
	/* Kernel sockets will not pin a netns: init_net only for now. */
	.netnsok	= false,
	.parallel_ops	= true,	/* vs_ctl_mutex serialises our commands */
	.resv_start_op	= 0,	/* strict for every command */
	.pre_doit	= vs_genl_pre_doit,
	.module		= THIS_MODULE,
	.small_ops	= vs_genl_ops,
	.n_small_ops	= ARRAY_SIZE(vs_genl_ops),
	.mcgrps		= vs_genl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(vs_genl_mcgrps),
};

int __init vs_genl_init(void)
{
	return genl_register_family(&vs_genl_family);
}

void vs_genl_exit(void)
{
	genl_unregister_family(&vs_genl_family);
}
