// SPDX-License-Identifier: GPL-2.0
/*
 * vstor.ko, compile-check stage: proves that the headers shared with
 * userspace (vstor_proto.h, vstor_genl.h) build in kernel context, and runs
 * every framing validator once at load time. The block driver replaces this.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <net/netlink.h>

#include "vstor_proto.h"
#include "vstor_genl.h"

static_assert(sizeof(union vs_packet) == VS_PACKET_SIZE);
static_assert(sizeof(struct vs_op_rw) == 128);
static_assert(offsetof(struct vs_op_rw, len) == 40);
static_assert(offsetof(struct vs_reply_rw, bitmap_len) == 32);
static_assert(sizeof(struct vs_obj_ver_id) == VS_OBJ_VER_ID_SIZE);
static_assert(VS_OP_MAX == 16);

/*
 * Attribute policies as the driver will declare them. NLA_POLICY_RANGE/MIN
 * take s16 bounds in 6.1; wider ranges need NLA_POLICY_FULL_RANGE.
 */
static struct netlink_range_validation vs_block_size_range = {
	.min = VS_MIN_BLOCK_SIZE,
	.max = VS_BLOCK_SIZE_LIMIT - 1,
};

static struct netlink_range_validation vs_pool_id_range = {
	.min = 1,
	.max = VS_MAX_POOL_ID,
};

static const struct nla_policy vs_pg_policy[VS_PG_ATTR_MAX + 1] = {
	[VS_PG_ATTR_NUM]	= NLA_POLICY_MIN(NLA_U32, 1),
	[VS_PG_ATTR_PRIMARY]	= { .type = NLA_U64 },
	[VS_PG_ATTR_EPOCH]	= { .type = NLA_U64 },
};

static const struct nla_policy vs_osd_policy[VS_OSD_ATTR_MAX + 1] = {
	[VS_OSD_ATTR_NUM]	= NLA_POLICY_MIN(NLA_U64, 1),
	[VS_OSD_ATTR_ADDR4]	= { .type = NLA_U32 },
	[VS_OSD_ATTR_ADDR6]	= NLA_POLICY_EXACT_LEN(16),
	[VS_OSD_ATTR_PORT]	= NLA_POLICY_MIN(NLA_U16, 1),
};

static const struct nla_policy vs_attr_policy[VS_ATTR_MAX + 1] = {
	[VS_ATTR_DEV_INDEX]		= { .type = NLA_U32 },
	[VS_ATTR_INODE]			= { .type = NLA_U64 },
	[VS_ATTR_SIZE]			= { .type = NLA_U64 },
	[VS_ATTR_BLOCK_SIZE]		= NLA_POLICY_FULL_RANGE(NLA_U32,
							&vs_block_size_range),
	[VS_ATTR_BITMAP_GRANULARITY]	= NLA_POLICY_MIN(NLA_U32, 512),
	[VS_ATTR_POOL_ID]		= NLA_POLICY_FULL_RANGE(NLA_U32,
							&vs_pool_id_range),
	[VS_ATTR_PG_COUNT]		= NLA_POLICY_MIN(NLA_U32, 1),
	[VS_ATTR_PG_STRIPE_SIZE]	= { .type = NLA_U64 },
	[VS_ATTR_DATA_CHUNKS]		= NLA_POLICY_RANGE(NLA_U32, 1, 256),
	[VS_ATTR_IMMEDIATE_COMMIT]	= NLA_POLICY_MAX(NLA_U8, VS_GENL_COMMIT_ALL),
	[VS_ATTR_PG_TABLE]		= NLA_POLICY_NESTED_ARRAY(vs_pg_policy),
	[VS_ATTR_OSD_LIST]		= NLA_POLICY_NESTED_ARRAY(vs_osd_policy),
	[VS_ATTR_MAP_EPOCH]		= { .type = NLA_U64 },
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

/*
 * Validates a small message (DEV_INDEX and a one-PG table) against the
 * policies above, strictly, as genl does for new families: nests must carry
 * NLA_F_NESTED.
 */
static int __init vs_check_genl(void)
{
	struct {
		struct nlattr index_hdr;
		u32 index;
		struct nlattr table_hdr;
		struct nlattr item_hdr;
		struct nlattr num_hdr;
		u32 num;
	} msg = {
		.index_hdr = { .nla_len = NLA_HDRLEN + 4,
			       .nla_type = VS_ATTR_DEV_INDEX },
		.index = 3,
		.table_hdr = { .nla_len = 3 * NLA_HDRLEN + 4,
			       .nla_type = VS_ATTR_PG_TABLE | NLA_F_NESTED },
		.item_hdr = { .nla_len = 2 * NLA_HDRLEN + 4,
			      .nla_type = VS_PG_TABLE_ITEM | NLA_F_NESTED },
		.num_hdr = { .nla_len = NLA_HDRLEN + 4,
			     .nla_type = VS_PG_ATTR_NUM },
		.num = 1,
	};

	BUILD_BUG_ON(sizeof(msg) != 4 * NLA_HDRLEN + 8);
	return nla_validate(&msg.index_hdr, sizeof(msg), VS_ATTR_MAX,
			    vs_attr_policy, NULL);
}

struct vs_check_case {
	u64 opcode;
	u64 arg;	/* len / json_len / retval, per opcode */
	s64 want;
};

static int __init vs_check_proto(void)
{
	static const struct vs_check_case req[] __initconst = {
		{ VS_OP_WRITE, 4096, 4096 },
		{ VS_OP_WRITE, 4097, VS_FRAME_MISALIGNED },
		{ VS_OP_WRITE, VS_MAX_OP_LEN + 1ULL, VS_FRAME_TOO_BIG },
		{ VS_OP_READ, 8192, 0 },
		{ VS_OP_SEC_STABILIZE, 48, 48 },
		{ VS_OP_SEC_READ_BMP, 25, VS_FRAME_BAD_LIST_LEN },
		{ VS_OP_PING, 0, 0 },
		{ 17, 0, VS_FRAME_BAD_OPCODE },
	};
	static const struct vs_check_case rep[] __initconst = {
		{ VS_OP_READ, 4096, 4096 + VS_DEFAULT_BITMAP_SIZE },
		{ VS_OP_SEC_LIST, 2, 48 },
		{ VS_OP_SEC_LIST, ~0ULL >> 1, VS_FRAME_TOO_BIG },
		{ VS_OP_SHOW_CONFIG, 100, 100 },
		{ VS_OP_WRITE, (u64)-VS_WIRE_EINTR, 0 },
	};
	union vs_packet p, r;
	u64 frame;
	s64 n;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(req); i++) {
		vs_req_init(&p, i + 1, req[i].opcode);
		vs_le32_set(&p.rw.len, (u32)req[i].arg);
		vs_le64_set(&p.sec_stab.len, req[i].arg);
		if (req[i].opcode == VS_OP_WRITE || req[i].opcode == VS_OP_READ)
			vs_le32_set(&p.rw.len, req[i].arg > U32_MAX ?
				    U32_MAX : (u32)req[i].arg);
		n = vs_check_request(&p, VS_DEFAULT_BITMAP_GRANULARITY,
				     VS_DEFAULT_BLOCK_SIZE, &frame);
		if (n != req[i].want) {
			pr_err("request case %u (%s): got %lld (%s), want %lld\n",
			       i, vs_op_name(req[i].opcode) ?: "?", n,
			       vs_frame_err_str(n), req[i].want);
			return -EINVAL;
		}
		if (n < 0 && vs_frame_err_fatal(n) && frame != 0)
			return -EINVAL;
	}

	for (i = 0; i < ARRAY_SIZE(rep); i++) {
		vs_req_init(&p, i + 1, rep[i].opcode);
		vs_reply_init(&r, &p, (s64)rep[i].arg);
		vs_le32_set(&r.reply_rw.bitmap_len, VS_DEFAULT_BITMAP_SIZE);
		n = vs_check_reply(&r, rep[i].opcode);
		if (n != rep[i].want) {
			pr_err("reply case %u (%s): got %lld (%s), want %lld\n",
			       i, vs_op_stat_name(rep[i].opcode) ?: "?", n,
			       vs_frame_err_str(n), rep[i].want);
			return -EINVAL;
		}
	}

	if (!vs_packet_is_request(&p) || !vs_packet_is_reply(&r) ||
	    vs_packet_id(&r) != vs_packet_id(&p) ||
	    vs_packet_opcode(&r) != VS_OP_WRITE ||
	    vs_reply_retval(&r) != -VS_WIRE_EINTR ||
	    vs_check_reply(&p, VS_OP_WRITE) != VS_FRAME_BAD_MAGIC ||
	    vs_check_reply(&r, VS_OP_READ) != VS_FRAME_OPCODE_MISMATCH)
		return -EINVAL;
	if (vs_version_epoch(vs_version_make(5, 7)) != 5 ||
	    vs_version_counter(vs_version_make(5, 7)) != 7 ||
	    vs_inode_pool(vs_inode_make(3, 9)) != 3 ||
	    vs_inode_num(vs_inode_make(3, 9)) != 9 ||
	    vs_stripe_role(0x20003) != 3 || vs_stripe_base(0x20003) != 0x20000 ||
	    vs_bitmap_size(VS_DEFAULT_BLOCK_SIZE,
			   VS_DEFAULT_BITMAP_GRANULARITY) != VS_DEFAULT_BITMAP_SIZE ||
	    !vs_opcode_valid(VS_OP_SEC_READ_BMP) || vs_opcode_valid(0) ||
	    !vs_opcode_is_primary(VS_OP_SYNC) ||
	    vs_le16_get(vs_cpu_to_le16(0x1234)) != 0x1234)
		return -EINVAL;
	return 0;
}

static int __init vs_init(void)
{
	int err;

	err = vs_check_proto();
	if (err) {
		pr_err("protocol header self-check failed\n");
		return err;
	}
	err = vs_check_genl();
	if (err) {
		pr_err("netlink policy self-check failed: %d\n", err);
		return err;
	}
	pr_info("protocol %d, netlink family %s v%d: headers OK\n",
		VS_PROTOCOL_VERSION, VS_GENL_NAME, VS_GENL_VERSION);
	return 0;
}

static void __exit vs_exit(void)
{
}

module_init(vs_init);
module_exit(vs_exit);

MODULE_DESCRIPTION("vstor block device (protocol header check)");
MODULE_LICENSE("GPL");
