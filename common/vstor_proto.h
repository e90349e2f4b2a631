/*
 * vstor wire protocol: every opcode, packet layout and constant of the OSD
 * protocol (Vitastor protocol_version 1, see shared/spec/vitastor-compat.md
 * sections 1-6 and 8.3), plus framing validators.
 *
 * Shared verbatim by userspace (common/, osd/, vsctl/, tests) and the kernel
 * module (kmod/). Rules that keep it usable from both:
 *   - fixed-width fields, explicitly little-endian on the wire (vs_le16/32/64;
 *     __le* under __KERNEL__ so sparse checks them), read and written only
 *     through vs_le*_get()/vs_le*_set(), which compile to nothing on LE hosts;
 *   - no libc or kernel library calls; 64-bit division goes through
 *     vs_u64_rem() (div64_u64_rem() in the kernel);
 *   - every function is static inline; declarations come before statements.
 *
 * Every packet, request or reply, is exactly VS_PACKET_SIZE (128) bytes with
 * unused bytes zero; some opcodes are followed by a payload whose length
 * comes from the header alone (vs_check_request(), vs_check_reply()).
 * Layouts are asserted field by field at the end of this file.
 */
#ifndef VSTOR_PROTO_H
#define VSTOR_PROTO_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/stddef.h>
#include <linux/math64.h>
#include <asm/byteorder.h>
typedef __le16 vs_le16;
typedef __le32 vs_le32;
typedef __le64 vs_le64;
#else
#include <stddef.h>
#include <stdint.h>
#include <endian.h>
typedef uint16_t vs_le16;
typedef uint32_t vs_le32;
typedef uint64_t vs_le64;
#endif

/* ---- Byte order accessors ---- */

#if !defined(__KERNEL__) && !defined(le64toh)
/* <endian.h> without _DEFAULT_SOURCE: fall back on the compiler's view. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define vs__le16(x) __builtin_bswap16(x)
#define vs__le32(x) __builtin_bswap32(x)
#define vs__le64(x) __builtin_bswap64(x)
#else
#define vs__le16(x) (x)
#define vs__le32(x) (x)
#define vs__le64(x) (x)
#endif
#endif

static inline uint16_t vs_le16_get(vs_le16 v)
{
#ifdef __KERNEL__
	return le16_to_cpu(v);
#elif defined(le16toh)
	return le16toh(v);
#else
	return vs__le16(v);
#endif
}

static inline uint32_t vs_le32_get(vs_le32 v)
{
#ifdef __KERNEL__
	return le32_to_cpu(v);
#elif defined(le32toh)
	return le32toh(v);
#else
	return vs__le32(v);
#endif
}

static inline uint64_t vs_le64_get(vs_le64 v)
{
#ifdef __KERNEL__
	return le64_to_cpu(v);
#elif defined(le64toh)
	return le64toh(v);
#else
	return vs__le64(v);
#endif
}

static inline vs_le16 vs_cpu_to_le16(uint16_t v)
{
#ifdef __KERNEL__
	return cpu_to_le16(v);
#elif defined(htole16)
	return htole16(v);
#else
	return vs__le16(v);
#endif
}

static inline vs_le32 vs_cpu_to_le32(uint32_t v)
{
#ifdef __KERNEL__
	return cpu_to_le32(v);
#elif defined(htole32)
	return htole32(v);
#else
	return vs__le32(v);
#endif
}

static inline vs_le64 vs_cpu_to_le64(uint64_t v)
{
#ifdef __KERNEL__
	return cpu_to_le64(v);
#elif defined(htole64)
	return htole64(v);
#else
	return vs__le64(v);
#endif
}

static inline void vs_le16_set(vs_le16 *p, uint16_t v)
{
	*p = vs_cpu_to_le16(v);
}

static inline void vs_le32_set(vs_le32 *p, uint32_t v)
{
	*p = vs_cpu_to_le32(v);
}

static inline void vs_le64_set(vs_le64 *p, uint64_t v)
{
	*p = vs_cpu_to_le64(v);
}

/* a % b for 64-bit operands; the kernel needs a helper on 32-bit targets. */
static inline uint64_t vs_u64_rem(uint64_t a, uint64_t b)
{
#ifdef __KERNEL__
	u64 rem;

	div64_u64_rem(a, b, &rem);
	return rem;
#else
	return a % b;
#endif
}

/* ---- Framing constants (spec section 1) ---- */

/* On the wire: 53 45 43 25 03 b1 d7 2b and 53 45 43 7b b8 99 a6 ba. */
#define VS_REQ_MAGIC		0x2bd7b10325434553ULL
#define VS_REPLY_MAGIC		0xbaa699b87b434553ULL
#define VS_PACKET_SIZE		128	/* every request and reply header */
#define VS_PROTOCOL_VERSION	1	/* "protocol_version" in SHOW_CONFIG */
#define VS_MAX_OP_LEN		(64u << 20)	/* max data bytes of one op */

/*
 * Our own receive limits (the spec sets none; they bound what one header
 * can make a receiver read or allocate):
 *   VS_MAX_BITMAP_LEN: READ bitmap_len / SEC_READ and SEC_WRITE attr_len.
 *     Real bitmaps are data_chunks * block_size / granularity / 8 bytes
 *     (4 by default); 8 MiB covers 256 chunks of 64 MiB at 256-byte granules.
 *   VS_MAX_JSON_LEN: SHOW_CONFIG json_len (request) and retval (reply).
 *   VS_MAX_LIST_LEN: SEC_LIST reply payload (retval * 24). A PG listing is
 *     not an I/O op and can legitimately exceed 64 MiB on big OSDs with few
 *     PGs, hence a separate, larger bound (~44.7M entries); receivers should
 *     stream or grow buffers as data arrives instead of trusting it upfront.
 */
#define VS_MAX_BITMAP_LEN	(8u << 20)
#define VS_MAX_JSON_LEN		(64u << 10)
#define VS_MAX_LIST_LEN		(1ull << 30)

/* ---- Opcodes (spec section 3) ---- */

enum vs_opcode {
	VS_OP_SEC_READ = 1,
	VS_OP_SEC_WRITE = 2,
	VS_OP_SEC_WRITE_STABLE = 3,
	VS_OP_SEC_SYNC = 4,
	VS_OP_SEC_STABILIZE = 5,
	VS_OP_SEC_ROLLBACK = 6,
	VS_OP_SEC_DELETE = 7,
	VS_OP_TEST_SYNC_STAB_ALL = 8,
	VS_OP_SEC_LIST = 9,
	VS_OP_SHOW_CONFIG = 10,
	VS_OP_READ = 11,
	VS_OP_WRITE = 12,
	VS_OP_SYNC = 13,
	VS_OP_DELETE = 14,
	VS_OP_PING = 15,
	VS_OP_SEC_READ_BMP = 16,
};

#define VS_OP_MIN	VS_OP_SEC_READ
#define VS_OP_MAX	VS_OP_SEC_READ_BMP

static inline int vs_opcode_valid(uint64_t opcode)
{
	return opcode >= VS_OP_MIN && opcode <= VS_OP_MAX;
}

/* Primary ops are addressed by (inode, offset) and go to the PG primary. */
static inline int vs_opcode_is_primary(uint64_t opcode)
{
	return opcode >= VS_OP_READ && opcode <= VS_OP_DELETE;
}

/* Upper-case opcode name for logs, or NULL for an unknown opcode. */
static inline const char *vs_op_name(uint64_t opcode)
{
	switch (opcode) {
	case VS_OP_SEC_READ:		return "SEC_READ";
	case VS_OP_SEC_WRITE:		return "SEC_WRITE";
	case VS_OP_SEC_WRITE_STABLE:	return "SEC_WRITE_STABLE";
	case VS_OP_SEC_SYNC:		return "SEC_SYNC";
	case VS_OP_SEC_STABILIZE:	return "SEC_STABILIZE";
	case VS_OP_SEC_ROLLBACK:	return "SEC_ROLLBACK";
	case VS_OP_SEC_DELETE:		return "SEC_DELETE";
	case VS_OP_TEST_SYNC_STAB_ALL:	return "TEST_SYNC_STAB_ALL";
	case VS_OP_SEC_LIST:		return "SEC_LIST";
	case VS_OP_SHOW_CONFIG:		return "SHOW_CONFIG";
	case VS_OP_READ:		return "READ";
	case VS_OP_WRITE:		return "WRITE";
	case VS_OP_SYNC:		return "SYNC";
	case VS_OP_DELETE:		return "DELETE";
	case VS_OP_PING:		return "PING";
	case VS_OP_SEC_READ_BMP:	return "SEC_READ_BMP";
	default:			return NULL;
	}
}

/*
 * Name of the opcode in OSD statistics ("op_stats"/"subop_stats" keys in
 * osd/stats and stats, spec section 9), or NULL for an unknown opcode.
 */
static inline const char *vs_op_stat_name(uint64_t opcode)
{
	switch (opcode) {
	case VS_OP_SEC_READ:		return "read";
	case VS_OP_SEC_WRITE:		return "write";
	case VS_OP_SEC_WRITE_STABLE:	return "write_stable";
	case VS_OP_SEC_SYNC:		return "sync";
	case VS_OP_SEC_STABILIZE:	return "stabilize";
	case VS_OP_SEC_ROLLBACK:	return "rollback";
	case VS_OP_SEC_DELETE:		return "delete";
	case VS_OP_TEST_SYNC_STAB_ALL:	return "sync_stab_all";
	case VS_OP_SEC_LIST:		return "list";
	case VS_OP_SHOW_CONFIG:		return "show_config";
	case VS_OP_READ:		return "primary_read";
	case VS_OP_WRITE:		return "primary_write";
	case VS_OP_SYNC:		return "primary_sync";
	case VS_OP_DELETE:		return "primary_delete";
	case VS_OP_PING:		return "ping";
	case VS_OP_SEC_READ_BMP:	return "sec_read_bmp";
	default:			return NULL;
	}
}

/* ---- Wire error codes: retval = -errno, Linux numbers everywhere ---- */

enum vs_wire_errno {
	VS_WIRE_ENOENT = 2,	/* SEC_STABILIZE/ROLLBACK: no such version */
	VS_WIRE_EINTR = 4,	/* CAS failed (WRITE/DELETE with version) */
	VS_WIRE_EIO = 5,	/* I/O error, returned to the caller */
	VS_WIRE_EBUSY = 16,	/* DELETE on degraded PG; STABILIZE unsynced */
	VS_WIRE_EEXIST = 17,	/* SEC_WRITE version not above current */
	VS_WIRE_EINVAL = 22,	/* bad request; unknown opcode */
	VS_WIRE_EROFS = 30,	/* modifying op on a readonly OSD */
	VS_WIRE_EPIPE = 32,	/* not primary / PG inactive / meta changed */
};

/* ---- Addressing: inodes, stripes, roles, versions (5, 6, 8.3) ---- */

#define VS_POOL_ID_BITS		16
#define VS_INODE_NUM_BITS	48
#define VS_INODE_NUM_MASK	((1ULL << VS_INODE_NUM_BITS) - 1)
#define VS_MAX_POOL_ID		0xFFFFu

static inline uint64_t vs_inode_make(uint32_t pool_id, uint64_t num)
{
	return ((uint64_t)(pool_id & VS_MAX_POOL_ID) << VS_INODE_NUM_BITS) |
	       (num & VS_INODE_NUM_MASK);
}

static inline uint32_t vs_inode_pool(uint64_t inode)
{
	return (uint32_t)(inode >> VS_INODE_NUM_BITS);
}

static inline uint64_t vs_inode_num(uint64_t inode)
{
	return inode & VS_INODE_NUM_MASK;
}

/* Secondary ops address a chunk: object_id.stripe = stripe start | role. */
#define VS_ROLE_BITS		12
#define VS_ROLE_MASK		0xFFFULL

static inline uint32_t vs_stripe_role(uint64_t stripe)
{
	return (uint32_t)(stripe & VS_ROLE_MASK);
}

static inline uint64_t vs_stripe_base(uint64_t stripe)
{
	return stripe & ~VS_ROLE_MASK;
}

/*
 * Object version: high 48 bits = PG epoch, low 16 bits = counter. The epoch
 * is also bumped once the counter has VS_VERSION_COUNTER_BUMP set (spec 8.3
 * quirk), so the counter never actually wraps.
 */
#define VS_VERSION_EPOCH_BITS	48
#define VS_VERSION_COUNTER_BITS	16
#define VS_VERSION_COUNTER_MASK	0xFFFFULL
#define VS_VERSION_COUNTER_BUMP	0x8000u

static inline uint64_t vs_version_make(uint64_t epoch, uint32_t counter)
{
	return (epoch << VS_VERSION_COUNTER_BITS) |
	       (counter & VS_VERSION_COUNTER_MASK);
}

static inline uint64_t vs_version_epoch(uint64_t version)
{
	return version >> VS_VERSION_COUNTER_BITS;
}

static inline uint32_t vs_version_counter(uint64_t version)
{
	return (uint32_t)(version & VS_VERSION_COUNTER_MASK);
}

/* Special version values in requests. */
#define VS_VERSION_ANY		0ULL	/* WRITE/DELETE: unconditional (no CAS) */
#define VS_VERSION_CREATE	1ULL	/* WRITE CAS: only if the object is absent */
#define VS_SEC_READ_STABLE	0ULL	/* SEC_READ: last stable version */
#define VS_SEC_READ_NEWEST	(~0ULL)	/* SEC_READ: newest, stable or not */
#define VS_LIST_ALL_PGS		0u	/* SEC_LIST pg_count: no PG filter */

/* Cluster geometry defaults and limits (section 6). */
#define VS_DEFAULT_BLOCK_SIZE		(128u << 10)
#define VS_DEFAULT_BITMAP_GRANULARITY	4096u
#define VS_MIN_BLOCK_SIZE		4096u
#define VS_BLOCK_SIZE_LIMIT		(128u << 20)	/* block_size < this */

/* Bytes of the per-chunk bitmap: block_size / granularity / 8. */
static inline uint32_t vs_bitmap_size(uint32_t block_size,
				      uint32_t bitmap_granularity)
{
	if (!bitmap_granularity)
		return 0;
	return block_size / bitmap_granularity / 8;
}

#define VS_DEFAULT_BITMAP_SIZE	4u

/* ---- SHOW_CONFIG JSON (section 4.1) ---- */

#define VS_CFG_OSD_NUM			"osd_num"
#define VS_CFG_PROTOCOL_VERSION		"protocol_version"
#define VS_CFG_BLOCK_SIZE		"block_size"
#define VS_CFG_BITMAP_GRANULARITY	"bitmap_granularity"
#define VS_CFG_PRIMARY_ENABLED		"primary_enabled"
#define VS_CFG_BLOCKSTORE_ENABLED	"blockstore_enabled"
#define VS_CFG_READONLY			"readonly"
#define VS_CFG_IMMEDIATE_COMMIT		"immediate_commit"
#define VS_CFG_LEASE_TIMEOUT		"lease_timeout"
#define VS_CFG_RDMA_ENABLED		"rdma_enabled"
#define VS_CFG_RDMA_ADDRESS		"rdma_address"
#define VS_CFG_RDMA_MAX_MSG		"rdma_max_msg"
#define VS_CFG_CONNECT_RDMA		"connect_rdma"	/* request key */

#define VS_IMMEDIATE_COMMIT_ALL		"all"
#define VS_IMMEDIATE_COMMIT_SMALL	"small"
#define VS_IMMEDIATE_COMMIT_NONE	"none"

/* ---- Packet layouts (sections 2-5). All fields little-endian. ---- */

/* 24 bytes: a chunk or object version. Arrays of it are op payloads. */
struct vs_obj_ver_id {
	vs_le64 inode;
	vs_le64 stripe;
	vs_le64 version;
};

/* 16 bytes */
struct vs_object_id {
	vs_le64 inode;
	vs_le64 stripe;
};

#define VS_OBJ_VER_ID_SIZE	24u
#define VS_OBJECT_ID_SIZE	16u

/* Start of every request (24 bytes). */
struct vs_req_hdr {
	vs_le64 magic;		/* VS_REQ_MAGIC */
	vs_le64 id;		/* chosen by the sender, echoed in the reply */
	vs_le64 opcode;		/* enum vs_opcode */
};

/* Start of every reply (32 bytes). */
struct vs_reply_hdr {
	vs_le64 magic;		/* VS_REPLY_MAGIC */
	vs_le64 id;
	vs_le64 opcode;
	vs_le64 retval;		/* signed: >= 0 success, < 0 = -errno */
};

/* Header-only requests: SEC_SYNC, TEST_SYNC_STAB_ALL, SYNC, PING. */
struct vs_op_simple {
	struct vs_req_hdr hdr;
	uint8_t reserved[104];
};

/* READ, WRITE, DELETE (spec 4.0). WRITE is followed by len data bytes. */
struct vs_op_rw {
	struct vs_req_hdr hdr;
	vs_le64 inode;		/* pool_id << 48 | inode number */
	vs_le64 offset;		/* byte offset in the inode */
	vs_le32 len;
	vs_le32 flags;		/* unused, 0 */
	vs_le64 meta_revision;	/* READ: inode key mod_revision or 0 */
	vs_le64 version;	/* WRITE/DELETE: CAS (VS_VERSION_ANY = none) */
	uint8_t reserved[64];
};

/* SHOW_CONFIG: followed by json_len bytes of JSON (no NUL). */
struct vs_op_show_config {
	struct vs_req_hdr hdr;
	vs_le64 json_len;
	uint8_t reserved[96];
};

/* SEC_READ, SEC_WRITE, SEC_WRITE_STABLE. Writes carry attr_len + len bytes. */
struct vs_op_sec_rw {
	struct vs_req_hdr hdr;
	struct vs_object_id oid;
	vs_le64 version;
	vs_le32 offset;		/* inside the chunk */
	vs_le32 len;
	vs_le32 attr_len;	/* external bitmap bytes */
	vs_le32 pad;
	uint8_t reserved[64];
};

/* SEC_DELETE */
struct vs_op_sec_del {
	struct vs_req_hdr hdr;
	struct vs_object_id oid;
	vs_le64 version;
	uint8_t reserved[80];
};

/* SEC_STABILIZE, SEC_ROLLBACK: followed by len bytes of vs_obj_ver_id[]. */
struct vs_op_sec_stab {
	struct vs_req_hdr hdr;
	vs_le64 len;
	uint8_t reserved[96];
};

/* SEC_LIST */
struct vs_op_sec_list {
	struct vs_req_hdr hdr;
	vs_le32 pg_num;		/* 1-based */
	vs_le32 pg_count;	/* VS_LIST_ALL_PGS = all */
	vs_le64 pg_stripe_size;
	vs_le64 min_inode;
	vs_le64 max_inode;
	uint8_t reserved[72];
};

/* SEC_READ_BMP: followed by len bytes of vs_obj_ver_id[]. */
struct vs_op_sec_read_bmp {
	struct vs_req_hdr hdr;
	vs_le64 len;
	uint8_t reserved[96];
};

/*
 * Header-only replies: SEC_SYNC, SEC_STABILIZE, SEC_ROLLBACK,
 * TEST_SYNC_STAB_ALL, SYNC, PING, SHOW_CONFIG (retval = bytes of JSON + NUL
 * that follow) and SEC_READ_BMP (retval = payload bytes that follow).
 */
struct vs_reply_simple {
	struct vs_reply_hdr hdr;
	uint8_t reserved[96];
};

/* READ, WRITE, DELETE replies. READ is followed by bitmap_len + retval. */
struct vs_reply_rw {
	struct vs_reply_hdr hdr;
	vs_le32 bitmap_len;	/* READ only */
	vs_le32 pad;
	vs_le64 version;	/* read / written / current on CAS failure */
	uint8_t reserved[80];
};

/* SEC_READ, SEC_WRITE, SEC_WRITE_STABLE replies. SEC_READ: attr_len+retval. */
struct vs_reply_sec_rw {
	struct vs_reply_hdr hdr;
	vs_le64 version;
	vs_le32 attr_len;
	vs_le32 pad;
	uint8_t reserved[80];
};

/* SEC_DELETE reply */
struct vs_reply_sec_del {
	struct vs_reply_hdr hdr;
	vs_le64 version;
	uint8_t reserved[88];
};

/* SEC_LIST reply: retval entries of vs_obj_ver_id follow, stable first. */
struct vs_reply_sec_list {
	struct vs_reply_hdr hdr;
	vs_le64 stable_count;
	uint8_t reserved[88];
};

/*
 * Any packet. "hdr" (magic, id, opcode) is valid for requests and replies
 * alike, since the reply header starts with the same three fields.
 */
union vs_packet {
	uint8_t buf[VS_PACKET_SIZE];
	struct vs_req_hdr hdr;
	struct vs_reply_hdr reply;
	struct vs_op_simple simple;
	struct vs_op_rw rw;
	struct vs_op_show_config show_config;
	struct vs_op_sec_rw sec_rw;
	struct vs_op_sec_del sec_del;
	struct vs_op_sec_stab sec_stab;
	struct vs_op_sec_list sec_list;
	struct vs_op_sec_read_bmp sec_read_bmp;
	struct vs_reply_simple reply_simple;
	struct vs_reply_rw reply_rw;
	struct vs_reply_sec_rw reply_sec_rw;
	struct vs_reply_sec_del reply_sec_del;
	struct vs_reply_sec_list reply_sec_list;
};

/* ---- Packet helpers ---- */

static inline void vs_packet_zero(union vs_packet *p)
{
	unsigned int i;

	for (i = 0; i < VS_PACKET_SIZE; i++)
		p->buf[i] = 0;
}

/* Zeroes p and writes a request header. */
static inline void vs_req_init(union vs_packet *p, uint64_t id, uint64_t opcode)
{
	vs_packet_zero(p);
	vs_le64_set(&p->hdr.magic, VS_REQ_MAGIC);
	vs_le64_set(&p->hdr.id, id);
	vs_le64_set(&p->hdr.opcode, opcode);
}

/* Zeroes p and writes the reply header to request req. */
static inline void vs_reply_init(union vs_packet *p,
				 const union vs_packet *req, int64_t retval)
{
	vs_le64 id = req->hdr.id, opcode = req->hdr.opcode;

	vs_packet_zero(p);
	vs_le64_set(&p->reply.magic, VS_REPLY_MAGIC);
	p->reply.id = id;
	p->reply.opcode = opcode;
	vs_le64_set(&p->reply.retval, (uint64_t)retval);
}

static inline int vs_packet_is_request(const union vs_packet *p)
{
	return vs_le64_get(p->hdr.magic) == VS_REQ_MAGIC;
}

static inline int vs_packet_is_reply(const union vs_packet *p)
{
	return vs_le64_get(p->hdr.magic) == VS_REPLY_MAGIC;
}

static inline uint64_t vs_packet_id(const union vs_packet *p)
{
	return vs_le64_get(p->hdr.id);
}

static inline uint64_t vs_packet_opcode(const union vs_packet *p)
{
	return vs_le64_get(p->hdr.opcode);
}

static inline int64_t vs_reply_retval(const union vs_packet *p)
{
	return (int64_t)vs_le64_get(p->reply.retval);
}

/* ---- Framing validation ---- */

/*
 * Negative results of vs_check_request() / vs_check_reply(). Our own
 * numbering (not errno), identical in kernel and userspace.
 *
 * Fatal (vs_frame_err_fatal() != 0): the byte stream cannot be trusted or
 * its payload will not be read. Log it and close the connection:
 *   VS_FRAME_BAD_MAGIC        neither request nor reply magic ("garbage")
 *   VS_FRAME_TOO_BIG          payload length over our bounds
 *                             (VS_MAX_OP_LEN, VS_MAX_BITMAP_LEN, ...)
 *   VS_FRAME_OPCODE_MISMATCH  reply opcode differs from the request's
 *
 * Not fatal (requests only): the frame is well delimited; read and discard
 * *frame_len payload bytes, reply -VS_WIRE_EINVAL with the same id and
 * opcode, and keep the connection:
 *   VS_FRAME_BAD_OPCODE       opcode outside 1..16; only the header is
 *                             consumed (*frame_len == 0), per spec section 3
 *   VS_FRAME_OP_TOO_LONG      READ/DELETE/SEC_READ len over VS_MAX_OP_LEN
 *                             (no payload follows, so nothing to skip)
 *   VS_FRAME_MISALIGNED       primary op offset or len not a multiple of
 *                             bitmap_granularity
 *   VS_FRAME_CROSSES_STRIPE   primary op offset+len passes the end of the
 *                             stripe that contains offset
 *   VS_FRAME_BAD_LIST_LEN     SEC_STABILIZE/ROLLBACK/READ_BMP len not a
 *                             multiple of 24 (sizeof(vs_obj_ver_id))
 *
 * Every error vs_check_reply() returns is fatal (it never returns a
 * non-fatal one): a reply that cannot be framed desynchronises the stream.
 */
enum vs_frame_err {
	VS_FRAME_BAD_MAGIC = -1,
	VS_FRAME_TOO_BIG = -2,
	VS_FRAME_OPCODE_MISMATCH = -3,
	VS_FRAME_BAD_OPCODE = -4,
	VS_FRAME_OP_TOO_LONG = -5,
	VS_FRAME_MISALIGNED = -6,
	VS_FRAME_CROSSES_STRIPE = -7,
	VS_FRAME_BAD_LIST_LEN = -8,
};

static inline int vs_frame_err_fatal(int64_t err)
{
	return err == VS_FRAME_BAD_MAGIC || err == VS_FRAME_TOO_BIG ||
	       err == VS_FRAME_OPCODE_MISMATCH;
}

static inline const char *vs_frame_err_str(int64_t err)
{
	switch (err) {
	case VS_FRAME_BAD_MAGIC:	return "bad magic";
	case VS_FRAME_TOO_BIG:		return "payload too big";
	case VS_FRAME_OPCODE_MISMATCH:	return "reply opcode mismatch";
	case VS_FRAME_BAD_OPCODE:	return "unknown opcode";
	case VS_FRAME_OP_TOO_LONG:	return "op length over 64 MiB";
	case VS_FRAME_MISALIGNED:	return "misaligned offset or length";
	case VS_FRAME_CROSSES_STRIPE:	return "op crosses a stripe boundary";
	case VS_FRAME_BAD_LIST_LEN:	return "length not a multiple of 24";
	default:			return err >= 0 ? "ok" : "unknown error";
	}
}

/*
 * Checks of primary READ/WRITE/DELETE parameters (spec 4.0). A zero
 * bitmap_granularity or stripe_size skips that check.
 */
static inline int64_t vs__check_primary_rw(const struct vs_op_rw *op,
					   uint32_t bitmap_granularity,
					   uint64_t stripe_size)
{
	uint64_t offset = vs_le64_get(op->offset);
	uint32_t len = vs_le32_get(op->len);

	if (len > VS_MAX_OP_LEN)
		return VS_FRAME_OP_TOO_LONG;
	if (bitmap_granularity &&
	    (vs_u64_rem(offset, bitmap_granularity) ||
	     len % bitmap_granularity))
		return VS_FRAME_MISALIGNED;
	/* offset % stripe < stripe, so the subtraction cannot wrap. */
	if (stripe_size && len > stripe_size - vs_u64_rem(offset, stripe_size))
		return VS_FRAME_CROSSES_STRIPE;
	return 0;
}

/*
 * Validates a received request header (magic must be VS_REQ_MAGIC) and
 * computes how many payload bytes follow it (spec section 1 framing and the
 * section 3 table):
 *   SEC_WRITE, SEC_WRITE_STABLE            attr_len + len
 *   SEC_STABILIZE, SEC_ROLLBACK, SEC_READ_BMP  len (multiple of 24)
 *   SHOW_CONFIG                            json_len (<= VS_MAX_JSON_LEN)
 *   WRITE                                  len
 *   every other opcode                     0
 *
 * bitmap_granularity and stripe_size (block_size * data_chunks of the
 * inode's pool) apply to READ/WRITE/DELETE; 0 skips the check.
 *
 * Returns the payload length (>= 0) if the op may be executed, or an
 * enum vs_frame_err (see above). If frame_len is not NULL, it receives the
 * payload length that follows on the wire whenever the connection can go on
 * (success or a non-fatal error), and 0 on fatal errors.
 */
static inline int64_t vs_check_request(const union vs_packet *p,
				       uint32_t bitmap_granularity,
				       uint64_t stripe_size,
				       uint64_t *frame_len)
{
	uint64_t len = 0, extra;
	int64_t err = 0;

	if (frame_len)
		*frame_len = 0;
	if (vs_le64_get(p->hdr.magic) != VS_REQ_MAGIC)
		return VS_FRAME_BAD_MAGIC;

	switch (vs_le64_get(p->hdr.opcode)) {
	case VS_OP_SEC_READ:
		if (vs_le32_get(p->sec_rw.len) > VS_MAX_OP_LEN)
			err = VS_FRAME_OP_TOO_LONG;
		break;
	case VS_OP_SEC_WRITE:
	case VS_OP_SEC_WRITE_STABLE:
		len = vs_le32_get(p->sec_rw.len);
		extra = vs_le32_get(p->sec_rw.attr_len);
		if (len > VS_MAX_OP_LEN || extra > VS_MAX_BITMAP_LEN)
			return VS_FRAME_TOO_BIG;
		len += extra;
		break;
	case VS_OP_SEC_STABILIZE:
	case VS_OP_SEC_ROLLBACK:
	case VS_OP_SEC_READ_BMP:
		/* sec_stab.len and sec_read_bmp.len share offset 24 */
		len = vs_le64_get(p->sec_stab.len);
		if (len > VS_MAX_OP_LEN)
			return VS_FRAME_TOO_BIG;
		if (len % VS_OBJ_VER_ID_SIZE)
			err = VS_FRAME_BAD_LIST_LEN;
		break;
	case VS_OP_SHOW_CONFIG:
		len = vs_le64_get(p->show_config.json_len);
		if (len > VS_MAX_JSON_LEN)
			return VS_FRAME_TOO_BIG;
		break;
	case VS_OP_WRITE:
		len = vs_le32_get(p->rw.len);
		if (len > VS_MAX_OP_LEN)
			return VS_FRAME_TOO_BIG;
		err = vs__check_primary_rw(&p->rw, bitmap_granularity,
					   stripe_size);
		break;
	case VS_OP_READ:
	case VS_OP_DELETE:
		err = vs__check_primary_rw(&p->rw, bitmap_granularity,
					   stripe_size);
		break;
	case VS_OP_SEC_SYNC:
	case VS_OP_SEC_DELETE:
	case VS_OP_TEST_SYNC_STAB_ALL:
	case VS_OP_SEC_LIST:
	case VS_OP_SYNC:
	case VS_OP_PING:
		break;
	default:
		err = VS_FRAME_BAD_OPCODE;
		break;
	}
	if (frame_len)
		*frame_len = len;
	return err ? err : (int64_t)len;
}

/*
 * Validates a received reply header (magic must be VS_REPLY_MAGIC) against
 * the request it answers: req_opcode is the opcode of the outstanding
 * request the caller found by id (an unknown id is a desync the caller
 * handles by closing the connection). Returns the payload bytes that follow:
 *   READ          bitmap_len + retval  (bitmap first, then data)
 *   SEC_READ      attr_len + retval
 *   SEC_LIST      retval * 24          (<= VS_MAX_LIST_LEN)
 *   SEC_READ_BMP  retval               (<= VS_MAX_OP_LEN)
 *   SHOW_CONFIG   retval               (<= VS_MAX_JSON_LEN)
 *   anything else, or retval < 0: 0
 * or a fatal enum vs_frame_err. Op-level checks (READ retval == len asked,
 * bitmap_len == the expected bitmap size) are the caller's.
 */
static inline int64_t vs_check_reply(const union vs_packet *p,
				     uint64_t req_opcode)
{
	int64_t retval;
	uint64_t n, extra;

	if (vs_le64_get(p->hdr.magic) != VS_REPLY_MAGIC)
		return VS_FRAME_BAD_MAGIC;
	if (vs_le64_get(p->hdr.opcode) != req_opcode)
		return VS_FRAME_OPCODE_MISMATCH;
	retval = (int64_t)vs_le64_get(p->reply.retval);
	if (retval < 0)
		return 0;
	n = (uint64_t)retval;

	switch (req_opcode) {
	case VS_OP_READ:
		extra = vs_le32_get(p->reply_rw.bitmap_len);
		if (n > VS_MAX_OP_LEN || extra > VS_MAX_BITMAP_LEN)
			return VS_FRAME_TOO_BIG;
		return (int64_t)(n + extra);
	case VS_OP_SEC_READ:
		extra = vs_le32_get(p->reply_sec_rw.attr_len);
		if (n > VS_MAX_OP_LEN || extra > VS_MAX_BITMAP_LEN)
			return VS_FRAME_TOO_BIG;
		return (int64_t)(n + extra);
	case VS_OP_SEC_LIST:
		/* compare before multiplying: retval * 24 may overflow */
		if (n > VS_MAX_LIST_LEN / VS_OBJ_VER_ID_SIZE)
			return VS_FRAME_TOO_BIG;
		return (int64_t)(n * VS_OBJ_VER_ID_SIZE);
	case VS_OP_SEC_READ_BMP:
		if (n > VS_MAX_OP_LEN)
			return VS_FRAME_TOO_BIG;
		return (int64_t)n;
	case VS_OP_SHOW_CONFIG:
		if (n > VS_MAX_JSON_LEN)
			return VS_FRAME_TOO_BIG;
		return (int64_t)n;
	default:
		return 0;
	}
}

/* ---- Layout assertions: every field offset and every packet size. ---- */

#define VS__ASSERT_OFF(type, field, off) \
	_Static_assert(offsetof(struct type, field) == (off), \
		       #type "." #field " must be at offset " #off)
#define VS__ASSERT_SIZE(type, size) \
	_Static_assert(sizeof(struct type) == (size), \
		       #type " must be " #size " bytes")

VS__ASSERT_SIZE(vs_obj_ver_id, VS_OBJ_VER_ID_SIZE);
VS__ASSERT_OFF(vs_obj_ver_id, inode, 0);
VS__ASSERT_OFF(vs_obj_ver_id, stripe, 8);
VS__ASSERT_OFF(vs_obj_ver_id, version, 16);

VS__ASSERT_SIZE(vs_object_id, VS_OBJECT_ID_SIZE);
VS__ASSERT_OFF(vs_object_id, inode, 0);
VS__ASSERT_OFF(vs_object_id, stripe, 8);

VS__ASSERT_SIZE(vs_req_hdr, 24);
VS__ASSERT_OFF(vs_req_hdr, magic, 0);
VS__ASSERT_OFF(vs_req_hdr, id, 8);
VS__ASSERT_OFF(vs_req_hdr, opcode, 16);

VS__ASSERT_SIZE(vs_reply_hdr, 32);
VS__ASSERT_OFF(vs_reply_hdr, magic, 0);
VS__ASSERT_OFF(vs_reply_hdr, id, 8);
VS__ASSERT_OFF(vs_reply_hdr, opcode, 16);
VS__ASSERT_OFF(vs_reply_hdr, retval, 24);

VS__ASSERT_SIZE(vs_op_simple, VS_PACKET_SIZE);
VS__ASSERT_OFF(vs_op_simple, hdr, 0);
VS__ASSERT_OFF(vs_op_simple, reserved, 24);

VS__ASSERT_SIZE(vs_op_rw, VS_PACKET_SIZE);
VS__ASSERT_OFF(vs_op_rw, hdr, 0);
VS__ASSERT_OFF(vs_op_rw, inode, 24);
VS__ASSERT_OFF(vs_op_rw, offset, 32);
VS__ASSERT_OFF(vs_op_rw, len, 40);
VS__ASSERT_OFF(vs_op_rw, flags, 44);
VS__ASSERT_OFF(vs_op_rw, meta_revision, 48);
VS__ASSERT_OFF(vs_op_rw, version, 56);
VS__ASSERT_OFF(vs_op_rw, reserved, 64);

VS__ASSERT_SIZE(vs_op_show_config, VS_PACKET_SIZE);
VS__ASSERT_OFF(vs_op_show_config, hdr, 0);
VS__ASSERT_OFF(vs_op_show_config, json_len, 24);
VS__ASSERT_OFF(vs_op_show_config, reserved, 32);

VS__ASSERT_SIZE(vs_op_sec_rw, VS_PACKET_SIZE);
VS__ASSERT_OFF(vs_op_sec_rw, hdr, 0);
VS__ASSERT_OFF(vs_op_sec_rw, oid, 24);
VS__ASSERT_OFF(vs_op_sec_rw, oid.inode, 24);
VS__ASSERT_OFF(vs_op_sec_rw, oid.stripe, 32);
VS__ASSERT_OFF(vs_op_sec_rw, version, 40);
VS__ASSERT_OFF(vs_op_sec_rw, offset, 48);
VS__ASSERT_OFF(vs_op_sec_rw, len, 52);
VS__ASSERT_OFF(vs_op_sec_rw, attr_len, 56);
VS__ASSERT_OFF(vs_op_sec_rw, pad, 60);
VS__ASSERT_OFF(vs_op_sec_rw, reserved, 64);

VS__ASSERT_SIZE(vs_op_sec_del, VS_PACKET_SIZE);
VS__ASSERT_OFF(vs_op_sec_del, hdr, 0);
VS__ASSERT_OFF(vs_op_sec_del, oid, 24);
VS__ASSERT_OFF(vs_op_sec_del, oid.inode, 24);
VS__ASSERT_OFF(vs_op_sec_del, oid.stripe, 32);
VS__ASSERT_OFF(vs_op_sec_del, version, 40);
VS__ASSERT_OFF(vs_op_sec_del, reserved, 48);

VS__ASSERT_SIZE(vs_op_sec_stab, VS_PACKET_SIZE);
VS__ASSERT_OFF(vs_op_sec_stab, hdr, 0);
VS__ASSERT_OFF(vs_op_sec_stab, len, 24);
VS__ASSERT_OFF(vs_op_sec_stab, reserved, 32);

VS__ASSERT_SIZE(vs_op_sec_list, VS_PACKET_SIZE);
VS__ASSERT_OFF(vs_op_sec_list, hdr, 0);
VS__ASSERT_OFF(vs_op_sec_list, pg_num, 24);
VS__ASSERT_OFF(vs_op_sec_list, pg_count, 28);
VS__ASSERT_OFF(vs_op_sec_list, pg_stripe_size, 32);
VS__ASSERT_OFF(vs_op_sec_list, min_inode, 40);
VS__ASSERT_OFF(vs_op_sec_list, max_inode, 48);
VS__ASSERT_OFF(vs_op_sec_list, reserved, 56);

VS__ASSERT_SIZE(vs_op_sec_read_bmp, VS_PACKET_SIZE);
VS__ASSERT_OFF(vs_op_sec_read_bmp, hdr, 0);
VS__ASSERT_OFF(vs_op_sec_read_bmp, len, 24);
VS__ASSERT_OFF(vs_op_sec_read_bmp, reserved, 32);

VS__ASSERT_SIZE(vs_reply_simple, VS_PACKET_SIZE);
VS__ASSERT_OFF(vs_reply_simple, hdr, 0);
VS__ASSERT_OFF(vs_reply_simple, reserved, 32);

VS__ASSERT_SIZE(vs_reply_rw, VS_PACKET_SIZE);
VS__ASSERT_OFF(vs_reply_rw, hdr, 0);
VS__ASSERT_OFF(vs_reply_rw, bitmap_len, 32);
VS__ASSERT_OFF(vs_reply_rw, pad, 36);
VS__ASSERT_OFF(vs_reply_rw, version, 40);
VS__ASSERT_OFF(vs_reply_rw, reserved, 48);

VS__ASSERT_SIZE(vs_reply_sec_rw, VS_PACKET_SIZE);
VS__ASSERT_OFF(vs_reply_sec_rw, hdr, 0);
VS__ASSERT_OFF(vs_reply_sec_rw, version, 32);
VS__ASSERT_OFF(vs_reply_sec_rw, attr_len, 40);
VS__ASSERT_OFF(vs_reply_sec_rw, pad, 44);
VS__ASSERT_OFF(vs_reply_sec_rw, reserved, 48);

VS__ASSERT_SIZE(vs_reply_sec_del, VS_PACKET_SIZE);
VS__ASSERT_OFF(vs_reply_sec_del, hdr, 0);
VS__ASSERT_OFF(vs_reply_sec_del, version, 32);
VS__ASSERT_OFF(vs_reply_sec_del, reserved, 40);

VS__ASSERT_SIZE(vs_reply_sec_list, VS_PACKET_SIZE);
VS__ASSERT_OFF(vs_reply_sec_list, hdr, 0);
VS__ASSERT_OFF(vs_reply_sec_list, stable_count, 32);
VS__ASSERT_OFF(vs_reply_sec_list, reserved, 40);

_Static_assert(sizeof(union vs_packet) == VS_PACKET_SIZE,
	       "union vs_packet must be 128 bytes");
/* The validators read these through the union; they must overlap. */
_Static_assert(offsetof(union vs_packet, sec_stab.len) ==
	       offsetof(union vs_packet, sec_read_bmp.len),
	       "SEC_STABILIZE and SEC_READ_BMP len must overlap");

#endif /* VSTOR_PROTO_H */
