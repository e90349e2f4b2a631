// SPDX-License-Identifier: GPL-2.0
/*
 * The "vstor" generic netlink family: MAP, UNMAP, SET_MAP, RESIZE and LIST
 * (see common/vstor_genl.h for the ABI).
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
 * Only then does a command act. Until the data path exists, the modifying
 * commands stop there with -EOPNOTSUPP.
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

#define VS_MSG_NOT_IMPL		"data path not implemented yet"

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

static const struct nla_policy vs_pg_policy[VS_PG_ATTR_MAX + 1] = {
	[VS_PG_ATTR_PAD]	= { .type = NLA_REJECT,
				    .reject_message = "PAD is output only" },
	[VS_PG_ATTR_NUM]	= NLA_POLICY_FULL_RANGE(NLA_U32, &vs_pg_count_range),
	[VS_PG_ATTR_PRIMARY]	= { .type = NLA_U64 },
	[VS_PG_ATTR_EPOCH]	= { .type = NLA_U64 },
};

static const struct nla_policy vs_osd_policy[VS_OSD_ATTR_MAX + 1] = {
	[VS_OSD_ATTR_PAD]	= { .type = NLA_REJECT,
				    .reject_message = "PAD is output only" },
	[VS_OSD_ATTR_NUM]	= NLA_POLICY_MIN(NLA_U64, 1),
	[VS_OSD_ATTR_ADDR4]	= { .type = NLA_BE32 },
	[VS_OSD_ATTR_ADDR6]	= NLA_POLICY_EXACT_LEN(16),
	[VS_OSD_ATTR_PORT]	= NLA_POLICY_MIN(NLA_U16, 1),
};

static const struct nla_policy vs_attr_policy[VS_ATTR_MAX + 1] = {
	[VS_ATTR_PAD]			= { .type = NLA_REJECT,
					    .reject_message = "PAD is output only" },
	[VS_ATTR_DEV_INDEX]		= NLA_POLICY_FULL_RANGE(NLA_U32,
							&vs_dev_index_range),
	[VS_ATTR_INODE]			= { .type = NLA_U64 },
	[VS_ATTR_SIZE]			= NLA_POLICY_FULL_RANGE(NLA_U64,
							&vs_size_range),
	[VS_ATTR_BLOCK_SIZE]		= NLA_POLICY_FULL_RANGE(NLA_U32,
							&vs_block_size_range),
	[VS_ATTR_BITMAP_GRANULARITY]	= NLA_POLICY_FULL_RANGE(NLA_U32,
							&vs_granularity_range),
	[VS_ATTR_POOL_ID]		= NLA_POLICY_FULL_RANGE(NLA_U32,
							&vs_pool_id_range),
	[VS_ATTR_PG_COUNT]		= NLA_POLICY_FULL_RANGE(NLA_U32,
							&vs_pg_count_range),
	[VS_ATTR_PG_STRIPE_SIZE]	= { .type = NLA_U64 },
	[VS_ATTR_DATA_CHUNKS]		= NLA_POLICY_RANGE(NLA_U32, 1, 256),
	[VS_ATTR_IMMEDIATE_COMMIT]	= NLA_POLICY_MAX(NLA_U8, VS_GENL_COMMIT_ALL),
	[VS_ATTR_PG_TABLE]		= NLA_POLICY_NESTED_ARRAY(vs_pg_policy),
	[VS_ATTR_OSD_LIST]		= NLA_POLICY_NESTED_ARRAY(vs_osd_policy),
	[VS_ATTR_MAP_EPOCH]		= NLA_POLICY_MIN(NLA_U64, 1),
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
};

/* ---- Attributes each command allows and requires ---- */

#define VS_A(name)	BIT_ULL(VS_ATTR_##name)

#define VS_MAP_REQUIRED	(VS_A(INODE) | VS_A(SIZE) | VS_A(BLOCK_SIZE) |	\
			 VS_A(BITMAP_GRANULARITY) | VS_A(POOL_ID) |	\
			 VS_A(PG_COUNT) | VS_A(PG_STRIPE_SIZE) |	\
			 VS_A(IMMEDIATE_COMMIT) | VS_A(MAP_EPOCH) |	\
			 VS_A(PG_TABLE) | VS_A(OSD_LIST))
#define VS_SET_MAP_REQUIRED (VS_A(POOL_ID) | VS_A(MAP_EPOCH) |		\
			     VS_A(PG_COUNT) | VS_A(PG_TABLE) | VS_A(OSD_LIST))

struct vs_cmd_attrs {
	u64 allowed;
	u64 required;
};

static const struct vs_cmd_attrs vs_cmd_attrs[VS_CMD_MAX + 1] = {
	[VS_CMD_MAP] = {
		.required = VS_MAP_REQUIRED,
		.allowed = VS_MAP_REQUIRED | VS_A(DEV_INDEX) |
			   VS_A(DATA_CHUNKS) | VS_A(FLAGS) |
			   VS_A(QUEUE_DEPTH) | VS_A(HW_QUEUES) |
			   VS_A(CONNS_PER_OSD) | VS_A(TIMEOUT_MS) |
			   VS_A(FEATURES) | VS_A(POOL_NAME) |
			   VS_A(IMAGE_NAME),
	},
	[VS_CMD_UNMAP] = {
		.required = VS_A(DEV_INDEX),
		.allowed = VS_A(DEV_INDEX) | VS_A(FLAGS),
	},
	[VS_CMD_SET_MAP] = {
		.required = VS_SET_MAP_REQUIRED,
		.allowed = VS_SET_MAP_REQUIRED | VS_A(PG_STRIPE_SIZE),
	},
	[VS_CMD_RESIZE] = {
		.required = VS_A(DEV_INDEX) | VS_A(SIZE),
		.allowed = VS_A(DEV_INDEX) | VS_A(SIZE),
	},
	[VS_CMD_LIST] = {
		.allowed = VS_A(DEV_INDEX) | VS_A(FEATURES),
	},
};

/*
 * extack messages must be string literals (6.1 has no NL_SET_ERR_MSG_FMT),
 * hence one case per required attribute.
 */
#define VS_MISSING_CASE(info, name)					\
	case VS_ATTR_##name:						\
		GENL_SET_ERR_MSG(info, "missing attribute " #name);	\
		break

static void vs_set_missing_msg(struct genl_info *info, unsigned int type)
{
	switch (type) {
	VS_MISSING_CASE(info, DEV_INDEX);
	VS_MISSING_CASE(info, INODE);
	VS_MISSING_CASE(info, SIZE);
	VS_MISSING_CASE(info, BLOCK_SIZE);
	VS_MISSING_CASE(info, BITMAP_GRANULARITY);
	VS_MISSING_CASE(info, POOL_ID);
	VS_MISSING_CASE(info, PG_COUNT);
	VS_MISSING_CASE(info, PG_STRIPE_SIZE);
	VS_MISSING_CASE(info, IMMEDIATE_COMMIT);
	VS_MISSING_CASE(info, PG_TABLE);
	VS_MISSING_CASE(info, OSD_LIST);
	VS_MISSING_CASE(info, MAP_EPOCH);
	default:
		GENL_SET_ERR_MSG(info, "missing attribute");
		break;
	}
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

/* One address of an OSD from OSD_LIST; sorted by num for lookups. */
struct vs_osd_ent {
	u64 num;
	u16 port;
};

static int vs_osd_cmp(const void *a, const void *b)
{
	const struct vs_osd_ent *x = a, *y = b;

	return x->num < y->num ? -1 : x->num > y->num;
}

static bool vs_osd_known(const struct vs_osd_ent *osds, unsigned int n,
			 u64 num)
{
	struct vs_osd_ent key = { .num = num };

	return bsearch(&key, osds, n, sizeof(*osds), vs_osd_cmp);
}

/*
 * Checks OSD_LIST: every item a nest of NUM, PORT and exactly one address,
 * and one port per OSD. Returns the entries sorted by OSD number.
 */
static int vs_parse_osd_list(struct genl_info *info, struct vs_osd_ent **out,
			     unsigned int *n_out)
{
	struct nlattr *list = info->attrs[VS_ATTR_OSD_LIST];
	struct netlink_ext_ack *extack = info->extack;
	struct nlattr *tb[VS_OSD_ATTR_MAX + 1];
	struct vs_osd_ent *osds;
	struct nlattr *item;
	unsigned int n = 0, i;
	int rem, err;

	nla_for_each_nested(item, list, rem)
		n++;
	if (rem) {
		NL_SET_ERR_MSG_ATTR(extack, list, "trailing bytes in OSD_LIST");
		return -EINVAL;
	}
	if (!n) {
		NL_SET_ERR_MSG_ATTR(extack, list, "OSD_LIST is empty");
		return -EINVAL;
	}
	osds = kvcalloc(n, sizeof(*osds), GFP_KERNEL);
	if (!osds)
		return -ENOMEM;

	i = 0;
	err = -EINVAL;
	nla_for_each_nested(item, list, rem) {
		if (nla_type(item) != VS_OSD_LIST_ITEM) {
			NL_SET_ERR_MSG_ATTR(extack, item,
					    "OSD_LIST holds only ITEM nests");
			goto fail;
		}
		err = nla_parse_nested(tb, VS_OSD_ATTR_MAX, item, vs_osd_policy,
				       extack);
		if (err)
			goto fail;
		err = -EINVAL;
		if (!tb[VS_OSD_ATTR_NUM]) {
			NL_SET_ERR_MSG_ATTR(extack, item, "OSD item without NUM");
			NL_SET_ERR_ATTR_MISS(extack, item, VS_OSD_ATTR_NUM);
			goto fail;
		}
		if (!tb[VS_OSD_ATTR_PORT]) {
			NL_SET_ERR_MSG_ATTR(extack, item, "OSD item without PORT");
			NL_SET_ERR_ATTR_MISS(extack, item, VS_OSD_ATTR_PORT);
			goto fail;
		}
		if (!tb[VS_OSD_ATTR_ADDR4] == !tb[VS_OSD_ATTR_ADDR6]) {
			NL_SET_ERR_MSG_ATTR(extack, item,
					    "OSD item needs exactly one of ADDR4, ADDR6");
			goto fail;
		}
		if (tb[VS_OSD_ATTR_ADDR4] && !nla_get_in_addr(tb[VS_OSD_ATTR_ADDR4])) {
			NL_SET_ERR_MSG_ATTR(extack, tb[VS_OSD_ATTR_ADDR4],
					    "OSD address is 0.0.0.0");
			goto fail;
		}
		osds[i].num = nla_get_u64(tb[VS_OSD_ATTR_NUM]);
		osds[i].port = nla_get_u16(tb[VS_OSD_ATTR_PORT]);
		i++;
	}

	sort(osds, n, sizeof(*osds), vs_osd_cmp, NULL);
	for (i = 1; i < n; i++) {
		if (osds[i].num == osds[i - 1].num &&
		    osds[i].port != osds[i - 1].port) {
			NL_SET_ERR_MSG_ATTR(extack, list,
					    "OSD listed with two different ports");
			goto fail;
		}
	}
	*out = osds;
	*n_out = n;
	return 0;

fail:
	kvfree(osds);
	return err;
}

/*
 * Checks PG_TABLE: exactly the PGs 1..PG_COUNT, each once, each with a
 * PRIMARY that is 0 (no primary: hold I/O) or an OSD of OSD_LIST.
 */
static int vs_check_pg_table(struct genl_info *info, u32 pg_count,
			     const struct vs_osd_ent *osds, unsigned int n_osds)
{
	struct nlattr *table = info->attrs[VS_ATTR_PG_TABLE];
	struct netlink_ext_ack *extack = info->extack;
	struct nlattr *tb[VS_PG_ATTR_MAX + 1];
	struct nlattr *item;
	unsigned long *seen;
	unsigned int n = 0;
	int rem, err;
	u64 primary;
	u32 num;

	seen = bitmap_zalloc(pg_count + 1, GFP_KERNEL);
	if (!seen)
		return -ENOMEM;

	err = -EINVAL;
	nla_for_each_nested(item, table, rem) {
		if (nla_type(item) != VS_PG_TABLE_ITEM) {
			NL_SET_ERR_MSG_ATTR(extack, item,
					    "PG_TABLE holds only ITEM nests");
			goto out;
		}
		err = nla_parse_nested(tb, VS_PG_ATTR_MAX, item, vs_pg_policy,
				       extack);
		if (err)
			goto out;
		err = -EINVAL;
		if (!tb[VS_PG_ATTR_NUM]) {
			NL_SET_ERR_MSG_ATTR(extack, item, "PG item without NUM");
			NL_SET_ERR_ATTR_MISS(extack, item, VS_PG_ATTR_NUM);
			goto out;
		}
		if (!tb[VS_PG_ATTR_PRIMARY]) {
			NL_SET_ERR_MSG_ATTR(extack, item, "PG item without PRIMARY");
			NL_SET_ERR_ATTR_MISS(extack, item, VS_PG_ATTR_PRIMARY);
			goto out;
		}
		num = nla_get_u32(tb[VS_PG_ATTR_NUM]);
		if (num > pg_count) {
			NL_SET_ERR_MSG_ATTR(extack, tb[VS_PG_ATTR_NUM],
					    "PG number above PG_COUNT");
			goto out;
		}
		if (test_and_set_bit(num, seen)) {
			NL_SET_ERR_MSG_ATTR(extack, tb[VS_PG_ATTR_NUM],
					    "PG listed twice");
			goto out;
		}
		primary = nla_get_u64(tb[VS_PG_ATTR_PRIMARY]);
		if (primary && !vs_osd_known(osds, n_osds, primary)) {
			NL_SET_ERR_MSG_ATTR(extack, tb[VS_PG_ATTR_PRIMARY],
					    "PG primary is not in OSD_LIST");
			goto out;
		}
		n++;
	}
	if (rem) {
		NL_SET_ERR_MSG_ATTR(extack, table, "trailing bytes in PG_TABLE");
		goto out;
	}
	if (n != pg_count) {
		NL_SET_ERR_MSG_ATTR(extack, table,
				    "PG_TABLE must list every PG up to PG_COUNT");
		goto out;
	}
	err = 0;
out:
	bitmap_free(seen);
	return err;
}

/* PG_TABLE and OSD_LIST together, as MAP and SET_MAP carry them. */
static int vs_check_pool_map(struct genl_info *info)
{
	u32 pg_count = nla_get_u32(info->attrs[VS_ATTR_PG_COUNT]);
	struct vs_osd_ent *osds;
	unsigned int n_osds;
	int err;

	err = vs_parse_osd_list(info, &osds, &n_osds);
	if (err)
		return err;
	err = vs_check_pg_table(info, pg_count, osds, n_osds);
	kvfree(osds);
	return err;
}

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

/* Everything MAP needs, checked; what the device will be created from. */
struct vs_map_params {
	u64 inode;
	u64 size;
	u64 pg_stripe_size;
	u64 map_epoch;
	u64 features;		/* granted */
	u32 dev_index;		/* U32_MAX: first free */
	u32 block_size;
	u32 bitmap_granularity;
	u32 pool_id;
	u32 pg_count;
	u32 data_chunks;
	u32 flags;
	u32 queue_depth;
	u32 hw_queues;
	u32 conns_per_osd;
	u32 timeout_ms;
	u8 immediate_commit;
};

static u32 vs_get_u32(struct genl_info *info, int type, u32 dflt)
{
	return info->attrs[type] ? nla_get_u32(info->attrs[type]) : dflt;
}

static int vs_parse_map(struct genl_info *info, struct vs_map_params *p)
{
	struct netlink_ext_ack *extack = info->extack;
	struct nlattr **a = info->attrs;
	u64 stripe_unit;
	int err;

	p->inode = nla_get_u64(a[VS_ATTR_INODE]);
	p->size = nla_get_u64(a[VS_ATTR_SIZE]);
	p->pg_stripe_size = nla_get_u64(a[VS_ATTR_PG_STRIPE_SIZE]);
	p->map_epoch = nla_get_u64(a[VS_ATTR_MAP_EPOCH]);
	p->features = a[VS_ATTR_FEATURES] ?
		      nla_get_u64(a[VS_ATTR_FEATURES]) & VS_DRV_FEATURES : 0;
	p->dev_index = vs_get_u32(info, VS_ATTR_DEV_INDEX, U32_MAX);
	p->block_size = nla_get_u32(a[VS_ATTR_BLOCK_SIZE]);
	p->bitmap_granularity = nla_get_u32(a[VS_ATTR_BITMAP_GRANULARITY]);
	p->pool_id = nla_get_u32(a[VS_ATTR_POOL_ID]);
	p->pg_count = nla_get_u32(a[VS_ATTR_PG_COUNT]);
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
	stripe_unit = (u64)p->block_size * p->data_chunks;
	if (p->pg_stripe_size && p->pg_stripe_size % stripe_unit) {
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
	if (!err)
		err = vs_check_pool_map(info);
	if (err)
		return err;

	/* Valid, but beyond what this driver does. */
	if (p->data_chunks > 1) {
		NL_SET_ERR_MSG_ATTR(extack, a[VS_ATTR_DATA_CHUNKS],
				    "erasure-coded pools (DATA_CHUNKS > 1) are not supported");
		return -EOPNOTSUPP;
	}
	return 0;
}

/* ---- Commands ---- */

static int vs_cmd_map(struct sk_buff *skb, struct genl_info *info)
{
	struct vs_map_params p;
	int err;

	err = vs_parse_map(info, &p);
	if (err)
		return err;
	GENL_SET_ERR_MSG(info, VS_MSG_NOT_IMPL);
	return -EOPNOTSUPP;
}

static int vs_cmd_unmap(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *flags = info->attrs[VS_ATTR_FLAGS];

	if (flags && (nla_get_u32(flags) & VS_GENL_F_READONLY)) {
		NL_SET_ERR_MSG_ATTR(info->extack, flags,
				    "READONLY is a MAP flag");
		return -EINVAL;
	}
	GENL_SET_ERR_MSG(info, VS_MSG_NOT_IMPL);
	return -EOPNOTSUPP;
}

static int vs_cmd_set_map(struct sk_buff *skb, struct genl_info *info)
{
	int err;

	err = vs_check_pool_map(info);
	if (err)
		return err;
	GENL_SET_ERR_MSG(info, VS_MSG_NOT_IMPL);
	return -EOPNOTSUPP;
}

static int vs_cmd_resize(struct sk_buff *skb, struct genl_info *info)
{
	int err;

	err = vs_check_size(info);
	if (err)
		return err;
	GENL_SET_ERR_MSG(info, VS_MSG_NOT_IMPL);
	return -EOPNOTSUPP;
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

	if (index) {
		NL_SET_ERR_MSG_ATTR(info->extack, index, "no such device");
		return -ENODEV;
	}
	return vs_reply_features(info);
}

/* LIST as a dump: one message per device; there are none yet. */
static int vs_dump_list(struct sk_buff *skb, struct netlink_callback *cb)
{
	return 0;
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
