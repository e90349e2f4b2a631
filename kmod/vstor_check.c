// SPDX-License-Identifier: GPL-2.0
/*
 * Checks of the protocol header shared with userspace (vstor_proto.h): its
 * layout at build time, and its framing validators once at load time, so a
 * header change that breaks kernel context fails before any I/O is sent.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kdev_t.h>
#include <linux/kernel.h>
#include <linux/module.h>

#include "vstor_proto.h"
#include "vstor.h"

static_assert(sizeof(union vs_packet) == VS_PACKET_SIZE);
static_assert(sizeof(struct vs_op_rw) == 128);
static_assert(offsetof(struct vs_op_rw, len) == 40);
static_assert(offsetof(struct vs_reply_rw, bitmap_len) == 32);
static_assert(sizeof(struct vs_obj_ver_id) == VS_OBJ_VER_ID_SIZE);
static_assert(VS_OP_MAX == 16);

/* The netlink ABI: numbers are append-only (vstor_genl.h). */
static_assert(VS_CMD_MAP == 1 && VS_CMD_LIST == 5 && VS_CMD_IO_STUCK == 10);
static_assert(VS_ATTR_DEV_INDEX == 2 && VS_ATTR_FEATURES == 20);
static_assert(VS_ATTR_STUCK_MS == 26);
static_assert(VS_PG_ATTR_EPOCH == 4 && VS_OSD_ATTR_PORT == 5);
/* vstor_genl.c keeps per-command attribute sets in a u64. */
static_assert(VS_ATTR_MAX < 64);
static_assert((VS_DRV_FEATURES & ~VS_FEAT_KNOWN) == 0);
static_assert(VS_MAX_DEV_INDEX < (1u << MINORBITS));
static_assert(VS_MAX_PG_COUNT <= U32_MAX);

struct vs_check_case {
	u64 opcode;
	u64 arg;	/* len / json_len / retval, per opcode */
	s64 want;
};

int __init vs_check_proto(void)
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
