/* Unit tests of common/vstor_proto.h: wire layout checked byte by byte
 * against the spec's offsets (independently of the header's static
 * asserts), helpers, and both framing validators. */
#include "check.h"
#include "vstor_proto.h"

#include <stdint.h>
#include <string.h>

/* ---- byte-level helpers: never go through the structs ---- */

static uint64_t get_le(const uint8_t *b, size_t off, size_t n)
{
	uint64_t v = 0;

	while (n--)
		v = (v << 8) | b[off + n];
	return v;
}

static void put_le(uint8_t *b, size_t off, size_t n, uint64_t v)
{
	for (size_t i = 0; i < n; i++, v >>= 8)
		b[off + i] = (uint8_t)v;
}

/* Every byte outside [off, off + n) is zero. */
static int only_bytes(const uint8_t *b, size_t off, size_t n)
{
	for (size_t i = 0; i < VS_PACKET_SIZE; i++)
		if ((i < off || i >= off + n) && b[i])
			return 0;
	return 1;
}

/* Distinct non-zero bytes, so a shifted or truncated field shows. */
#define PATTERN 0x8877665544332211ULL

#define SET_FIELD(lv, v) _Generic((lv), \
	uint64_t: vs_le64_set, \
	uint32_t: vs_le32_set)(&(lv), (v))

/*
 * Writes PATTERN into p.member through the struct and checks it lands in
 * bytes [off, off + size) of the 128-byte packet, little-endian, and
 * nowhere else.
 */
#define CHECK_FIELD(member, off, size) do { \
	union vs_packet p_; \
	uint64_t pat_ = PATTERN & (~0ULL >> (64 - 8 * (size))); \
	memset(&p_, 0, sizeof(p_)); \
	CHECK_EQ(sizeof(p_.member), (size)); \
	SET_FIELD(p_.member, pat_); \
	CHECK_MSG(get_le(p_.buf, (off), (size)) == pat_, \
		  "%s not at offset %d", #member, (off)); \
	CHECK_MSG(only_bytes(p_.buf, (off), (size)), \
		  "%s spills outside [%d, +%d)", #member, (off), (size)); \
} while (0)

static void test_sizes(void)
{
	CHECK_EQ(VS_PACKET_SIZE, 128);
	CHECK_EQ(sizeof(union vs_packet), 128);
	CHECK_EQ(sizeof(struct vs_req_hdr), 24);
	CHECK_EQ(sizeof(struct vs_reply_hdr), 32);
	CHECK_EQ(sizeof(struct vs_obj_ver_id), 24);
	CHECK_EQ(sizeof(struct vs_object_id), 16);
	CHECK_EQ(sizeof(struct vs_op_simple), 128);
	CHECK_EQ(sizeof(struct vs_op_rw), 128);
	CHECK_EQ(sizeof(struct vs_op_show_config), 128);
	CHECK_EQ(sizeof(struct vs_op_sec_rw), 128);
	CHECK_EQ(sizeof(struct vs_op_sec_del), 128);
	CHECK_EQ(sizeof(struct vs_op_sec_stab), 128);
	CHECK_EQ(sizeof(struct vs_op_sec_list), 128);
	CHECK_EQ(sizeof(struct vs_op_sec_read_bmp), 128);
	CHECK_EQ(sizeof(struct vs_reply_simple), 128);
	CHECK_EQ(sizeof(struct vs_reply_rw), 128);
	CHECK_EQ(sizeof(struct vs_reply_sec_rw), 128);
	CHECK_EQ(sizeof(struct vs_reply_sec_del), 128);
	CHECK_EQ(sizeof(struct vs_reply_sec_list), 128);
	CHECK_EQ(VS_OBJ_VER_ID_SIZE, 24);
	CHECK_EQ(VS_OBJECT_ID_SIZE, 16);
}

static void test_magic_bytes(void)
{
	static const uint8_t req_magic[8] = {
		0x53, 0x45, 0x43, 0x25, 0x03, 0xb1, 0xd7, 0x2b };
	static const uint8_t rep_magic[8] = {
		0x53, 0x45, 0x43, 0x7b, 0xb8, 0x99, 0xa6, 0xba };
	union vs_packet req, rep;

	memset(&req, 0xee, sizeof(req));
	vs_req_init(&req, 0x0102030405060708ULL, VS_OP_PING);
	CHECK(memcmp(req.buf, req_magic, 8) == 0);
	CHECK_EQ(get_le(req.buf, 8, 8), 0x0102030405060708ULL);
	CHECK_EQ(req.buf[8], 0x08);
	CHECK_EQ(get_le(req.buf, 16, 8), 15);
	CHECK(only_bytes(req.buf, 0, 24));	/* init zeroed the rest */
	CHECK(vs_packet_is_request(&req));
	CHECK(!vs_packet_is_reply(&req));

	memset(&rep, 0xee, sizeof(rep));
	vs_reply_init(&rep, &req, -22);
	CHECK(memcmp(rep.buf, rep_magic, 8) == 0);
	CHECK_EQ(get_le(rep.buf, 8, 8), 0x0102030405060708ULL);
	CHECK_EQ(get_le(rep.buf, 16, 8), 15);
	CHECK_EQ(get_le(rep.buf, 24, 8), (uint64_t)-22);
	CHECK(only_bytes(rep.buf, 0, 32));
	CHECK(vs_packet_is_reply(&rep));
	CHECK(!vs_packet_is_request(&rep));
	CHECK_EQ(vs_packet_id(&rep), 0x0102030405060708ULL);
	CHECK_EQ(vs_packet_opcode(&rep), VS_OP_PING);
	CHECK_EQ(vs_reply_retval(&rep), -22);

	/* In-place reply: id and opcode survive the zeroing. */
	vs_reply_init(&req, &req, 0);
	CHECK(memcmp(req.buf, rep_magic, 8) == 0);
	CHECK_EQ(vs_packet_id(&req), 0x0102030405060708ULL);
	CHECK_EQ(vs_packet_opcode(&req), VS_OP_PING);
	CHECK_EQ(vs_reply_retval(&req), 0);

	CHECK_EQ(VS_REQ_MAGIC, 0x2bd7b10325434553ULL);
	CHECK_EQ(VS_REPLY_MAGIC, 0xbaa699b87b434553ULL);
}

static void test_header_offsets(void)
{
	CHECK_FIELD(hdr.magic, 0, 8);
	CHECK_FIELD(hdr.id, 8, 8);
	CHECK_FIELD(hdr.opcode, 16, 8);
	CHECK_FIELD(reply.magic, 0, 8);
	CHECK_FIELD(reply.id, 8, 8);
	CHECK_FIELD(reply.opcode, 16, 8);
	CHECK_FIELD(reply.retval, 24, 8);
	CHECK_FIELD(simple.hdr.opcode, 16, 8);
	CHECK_FIELD(reply_simple.hdr.retval, 24, 8);
}

static void test_primary_offsets(void)
{
	CHECK_FIELD(rw.hdr.opcode, 16, 8);
	CHECK_FIELD(rw.inode, 24, 8);
	CHECK_FIELD(rw.offset, 32, 8);
	CHECK_FIELD(rw.len, 40, 4);
	CHECK_FIELD(rw.flags, 44, 4);
	CHECK_FIELD(rw.meta_revision, 48, 8);
	CHECK_FIELD(rw.version, 56, 8);
	CHECK_FIELD(reply_rw.hdr.retval, 24, 8);
	CHECK_FIELD(reply_rw.bitmap_len, 32, 4);
	CHECK_FIELD(reply_rw.pad, 36, 4);
	CHECK_FIELD(reply_rw.version, 40, 8);
	CHECK_FIELD(show_config.json_len, 24, 8);
}

static void test_secondary_offsets(void)
{
	CHECK_FIELD(sec_rw.oid.inode, 24, 8);
	CHECK_FIELD(sec_rw.oid.stripe, 32, 8);
	CHECK_FIELD(sec_rw.version, 40, 8);
	CHECK_FIELD(sec_rw.offset, 48, 4);
	CHECK_FIELD(sec_rw.len, 52, 4);
	CHECK_FIELD(sec_rw.attr_len, 56, 4);
	CHECK_FIELD(sec_rw.pad, 60, 4);
	CHECK_FIELD(reply_sec_rw.version, 32, 8);
	CHECK_FIELD(reply_sec_rw.attr_len, 40, 4);
	CHECK_FIELD(reply_sec_rw.pad, 44, 4);

	CHECK_FIELD(sec_del.oid.inode, 24, 8);
	CHECK_FIELD(sec_del.oid.stripe, 32, 8);
	CHECK_FIELD(sec_del.version, 40, 8);
	CHECK_FIELD(reply_sec_del.version, 32, 8);

	CHECK_FIELD(sec_stab.len, 24, 8);
	CHECK_FIELD(sec_read_bmp.len, 24, 8);

	CHECK_FIELD(sec_list.pg_num, 24, 4);
	CHECK_FIELD(sec_list.pg_count, 28, 4);
	CHECK_FIELD(sec_list.pg_stripe_size, 32, 8);
	CHECK_FIELD(sec_list.min_inode, 40, 8);
	CHECK_FIELD(sec_list.max_inode, 48, 8);
	CHECK_FIELD(reply_sec_list.stable_count, 32, 8);
}

static void test_id_structs(void)
{
	struct vs_obj_ver_id ov;
	struct vs_object_id oid;
	uint8_t b[24];

	memset(&ov, 0, sizeof(ov));
	vs_le64_set(&ov.inode, 0x1111111111111111ULL);
	vs_le64_set(&ov.stripe, 0x2222222222222222ULL);
	vs_le64_set(&ov.version, 0x0102030405060708ULL);
	memcpy(b, &ov, 24);
	CHECK_EQ(get_le(b, 0, 8), 0x1111111111111111ULL);
	CHECK_EQ(get_le(b, 8, 8), 0x2222222222222222ULL);
	CHECK_EQ(get_le(b, 16, 8), 0x0102030405060708ULL);
	CHECK_EQ(b[16], 0x08);

	memset(&oid, 0, sizeof(oid));
	vs_le64_set(&oid.stripe, 0x0a0b0c0d0e0f1011ULL);
	memcpy(b, &oid, 16);
	CHECK_EQ(get_le(b, 0, 8), 0);
	CHECK_EQ(get_le(b, 8, 8), 0x0a0b0c0d0e0f1011ULL);
}

static void test_le_accessors(void)
{
	vs_le16 a16;
	vs_le32 a32;
	vs_le64 a64;
	uint8_t b[8];

	vs_le16_set(&a16, 0x1234);
	memcpy(b, &a16, 2);
	CHECK(b[0] == 0x34 && b[1] == 0x12);
	CHECK_EQ(vs_le16_get(a16), 0x1234);
	vs_le32_set(&a32, 0x12345678);
	memcpy(b, &a32, 4);
	CHECK(b[0] == 0x78 && b[3] == 0x12);
	CHECK_EQ(vs_le32_get(a32), 0x12345678);
	put_le(b, 0, 8, 0xfedcba9876543210ULL);
	memcpy(&a64, b, 8);
	CHECK_EQ(vs_le64_get(a64), 0xfedcba9876543210ULL);
	CHECK_EQ(vs_le64_get(vs_cpu_to_le64(5)), 5);
	CHECK_EQ(vs_le32_get(vs_cpu_to_le32(7)), 7);
	CHECK_EQ(vs_le16_get(vs_cpu_to_le16(9)), 9);
}

static void test_names(void)
{
	static const char *const stats[17] = {
		NULL, "read", "write", "write_stable", "sync", "stabilize",
		"rollback", "delete", "sync_stab_all", "list", "show_config",
		"primary_read", "primary_write", "primary_sync",
		"primary_delete", "ping", "sec_read_bmp",
	};
	static const char *const names[17] = {
		NULL, "SEC_READ", "SEC_WRITE", "SEC_WRITE_STABLE", "SEC_SYNC",
		"SEC_STABILIZE", "SEC_ROLLBACK", "SEC_DELETE",
		"TEST_SYNC_STAB_ALL", "SEC_LIST", "SHOW_CONFIG", "READ",
		"WRITE", "SYNC", "DELETE", "PING", "SEC_READ_BMP",
	};

	for (uint64_t op = 1; op <= 16; op++) {
		CHECK(vs_opcode_valid(op));
		CHECK_STR(vs_op_stat_name(op), stats[op]);
		CHECK_STR(vs_op_name(op), names[op]);
		CHECK_EQ(vs_opcode_is_primary(op), op >= 11 && op <= 14);
	}
	CHECK(!vs_opcode_valid(0));
	CHECK(!vs_opcode_valid(17));
	CHECK(!vs_opcode_valid(1ULL << 32 | 1));
	CHECK(vs_op_stat_name(0) == NULL);
	CHECK(vs_op_stat_name(17) == NULL);
	CHECK(vs_op_name(~0ULL) == NULL);
	CHECK_EQ(VS_OP_MIN, 1);
	CHECK_EQ(VS_OP_MAX, 16);
	CHECK_EQ(VS_OP_SHOW_CONFIG, 10);
	CHECK_EQ(VS_OP_READ, 11);
	CHECK_EQ(VS_OP_SEC_READ_BMP, 16);
}

static void test_addressing(void)
{
	uint64_t v;

	CHECK_EQ(vs_inode_make(1, 5), 0x0001000000000005ULL);
	CHECK_EQ(vs_inode_make(0xffff, VS_INODE_NUM_MASK), ~0ULL);
	CHECK_EQ(vs_inode_pool(0xabcd000000000123ULL), 0xabcd);
	CHECK_EQ(vs_inode_num(0xabcd000000000123ULL), 0x123);
	CHECK_EQ(vs_inode_make(2, 1ULL << 48), 0x0002000000000000ULL);

	CHECK_EQ(VS_ROLE_MASK, 0xfff);
	CHECK_EQ(vs_stripe_role(0x40000 | 2), 2);
	CHECK_EQ(vs_stripe_base(0x40000 | 2), 0x40000);
	CHECK_EQ(vs_stripe_role(0xfffff), 0xfff);

	v = vs_version_make(3, 1);
	CHECK_EQ(v, (3ULL << 16) | 1);
	CHECK_EQ(vs_version_epoch(v), 3);
	CHECK_EQ(vs_version_counter(v), 1);
	CHECK_EQ(vs_version_epoch(~0ULL), (1ULL << 48) - 1);
	CHECK_EQ(vs_version_counter(~0ULL), 0xffff);
	CHECK_EQ(vs_version_make(1, 0x1ffff), (1ULL << 16) | 0xffff);
	CHECK_EQ(VS_VERSION_EPOCH_BITS + VS_VERSION_COUNTER_BITS, 64);
	CHECK_EQ(VS_VERSION_COUNTER_BUMP, 0x8000);

	CHECK_EQ(VS_DEFAULT_BLOCK_SIZE, 131072);
	CHECK_EQ(VS_DEFAULT_BITMAP_GRANULARITY, 4096);
	CHECK_EQ(vs_bitmap_size(VS_DEFAULT_BLOCK_SIZE,
				VS_DEFAULT_BITMAP_GRANULARITY), 4);
	CHECK_EQ(VS_DEFAULT_BITMAP_SIZE, 4);
	CHECK_EQ(vs_bitmap_size(1 << 20, 4096), 32);
	CHECK_EQ(vs_bitmap_size(1 << 20, 0), 0);
	CHECK_EQ(VS_MAX_OP_LEN, 64 << 20);
	CHECK_EQ(VS_PROTOCOL_VERSION, 1);
	CHECK_EQ(VS_WIRE_EINVAL, 22);
	CHECK_EQ(VS_WIRE_EPIPE, 32);
	CHECK_EQ(VS_WIRE_EINTR, 4);
}

/* ---- request validator ---- */

#define GRAN	4096u
#define STRIPE	(128u << 10)

static union vs_packet mk_req(uint64_t opcode)
{
	union vs_packet p;

	vs_req_init(&p, 42, opcode);
	return p;
}

static union vs_packet mk_rw(uint64_t opcode, uint64_t offset, uint32_t len)
{
	union vs_packet p = mk_req(opcode);

	vs_le64_set(&p.rw.inode, vs_inode_make(1, 1));
	vs_le64_set(&p.rw.offset, offset);
	vs_le32_set(&p.rw.len, len);
	return p;
}

static union vs_packet mk_sec_rw(uint64_t opcode, uint32_t len,
				 uint32_t attr_len)
{
	union vs_packet p = mk_req(opcode);

	vs_le32_set(&p.sec_rw.len, len);
	vs_le32_set(&p.sec_rw.attr_len, attr_len);
	return p;
}

static union vs_packet mk_len64(uint64_t opcode, uint64_t len)
{
	union vs_packet p = mk_req(opcode);

	/* sec_stab.len, sec_read_bmp.len and show_config.json_len: @24 */
	put_le(p.buf, 24, 8, len);
	return p;
}

/* Calls vs_check_request and checks the result and the frame length. */
#define EXPECT_REQ_GS(pkt, gran, stripe, want, want_frame) do { \
	union vs_packet q_ = (pkt); \
	uint64_t f_ = 12345; \
	int64_t r_ = vs_check_request(&q_, (gran), (stripe), &f_); \
	CHECK_MSG(r_ == (int64_t)(want), "%s: got %" PRId64 " (%s), want %" \
		  PRId64, #pkt, r_, vs_frame_err_str(r_), (int64_t)(want)); \
	CHECK_MSG(f_ == (uint64_t)(want_frame), "%s: frame %" PRIu64 \
		  ", want %" PRIu64, #pkt, f_, (uint64_t)(want_frame)); \
	CHECK_EQ(vs_check_request(&q_, (gran), (stripe), NULL), r_); \
} while (0)

#define EXPECT_REQ(pkt, want, want_frame) \
	EXPECT_REQ_GS(pkt, GRAN, STRIPE, want, want_frame)

/* A 128 MiB stripe, so 64 MiB ops do not cross it. */
#define BIG	(128ULL << 20)

static void test_request_each_opcode(void)
{
	EXPECT_REQ(mk_sec_rw(VS_OP_SEC_READ, 4096, 4), 0, 0);
	EXPECT_REQ(mk_sec_rw(VS_OP_SEC_WRITE, 4096, 4), 4100, 4100);
	EXPECT_REQ(mk_sec_rw(VS_OP_SEC_WRITE_STABLE, 8192, 0), 8192, 8192);
	EXPECT_REQ(mk_req(VS_OP_SEC_SYNC), 0, 0);
	EXPECT_REQ(mk_len64(VS_OP_SEC_STABILIZE, 48), 48, 48);
	EXPECT_REQ(mk_len64(VS_OP_SEC_ROLLBACK, 24), 24, 24);
	EXPECT_REQ(mk_req(VS_OP_SEC_DELETE), 0, 0);
	EXPECT_REQ(mk_req(VS_OP_TEST_SYNC_STAB_ALL), 0, 0);
	EXPECT_REQ(mk_req(VS_OP_SEC_LIST), 0, 0);
	EXPECT_REQ(mk_len64(VS_OP_SHOW_CONFIG, 0), 0, 0);
	EXPECT_REQ(mk_len64(VS_OP_SHOW_CONFIG, 57), 57, 57);
	EXPECT_REQ(mk_rw(VS_OP_READ, 8192, 4096), 0, 0);
	EXPECT_REQ(mk_rw(VS_OP_READ, 0, 0), 0, 0);	/* bitmap-only read */
	EXPECT_REQ(mk_rw(VS_OP_WRITE, 4096, 8192), 8192, 8192);
	EXPECT_REQ(mk_rw(VS_OP_WRITE, 0, 0), 0, 0);	/* recovery write */
	EXPECT_REQ(mk_req(VS_OP_SYNC), 0, 0);
	EXPECT_REQ(mk_rw(VS_OP_DELETE, STRIPE * 3ULL, 0), 0, 0);
	EXPECT_REQ(mk_req(VS_OP_PING), 0, 0);
	EXPECT_REQ(mk_len64(VS_OP_SEC_READ_BMP, 240), 240, 240);
	EXPECT_REQ(mk_len64(VS_OP_SEC_READ_BMP, 0), 0, 0);
}

static void test_request_bad_magic(void)
{
	union vs_packet p = mk_rw(VS_OP_WRITE, 0, 4096);
	uint64_t f = 99;

	put_le(p.buf, 0, 8, VS_REPLY_MAGIC);
	CHECK_EQ(vs_check_request(&p, GRAN, STRIPE, &f), VS_FRAME_BAD_MAGIC);
	CHECK_EQ(f, 0);
	put_le(p.buf, 0, 8, 0);
	CHECK_EQ(vs_check_request(&p, GRAN, STRIPE, &f), VS_FRAME_BAD_MAGIC);
	put_le(p.buf, 0, 8, VS_REQ_MAGIC ^ 0x100);	/* one byte off */
	CHECK_EQ(vs_check_request(&p, GRAN, STRIPE, &f), VS_FRAME_BAD_MAGIC);
	CHECK(vs_frame_err_fatal(VS_FRAME_BAD_MAGIC));
	CHECK_STR(vs_frame_err_str(VS_FRAME_BAD_MAGIC), "bad magic");
}

static void test_request_unknown_opcode(void)
{
	static const uint64_t bad[] = {
		0, 17, 18, 255, 1ULL << 32, (1ULL << 32) | 12, ~0ULL,
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		union vs_packet p = mk_req(bad[i]);

		/* garbage in the body must not be taken as a length */
		memset(p.buf + 24, 0xff, VS_PACKET_SIZE - 24);
		EXPECT_REQ(p, VS_FRAME_BAD_OPCODE, 0);
	}
	CHECK(!vs_frame_err_fatal(VS_FRAME_BAD_OPCODE));
}

static void test_request_max_len(void)
{
	/* exactly 64 MiB is fine; one more byte is refused */
	EXPECT_REQ_GS(mk_rw(VS_OP_WRITE, 0, VS_MAX_OP_LEN), GRAN, BIG,
		      VS_MAX_OP_LEN, VS_MAX_OP_LEN);
	EXPECT_REQ_GS(mk_rw(VS_OP_WRITE, BIG - VS_MAX_OP_LEN, VS_MAX_OP_LEN),
		      GRAN, BIG, VS_MAX_OP_LEN, VS_MAX_OP_LEN);
	/* with the default 128 KiB stripe the same op crosses it */
	EXPECT_REQ(mk_rw(VS_OP_WRITE, 0, VS_MAX_OP_LEN),
		   VS_FRAME_CROSSES_STRIPE, VS_MAX_OP_LEN);
	EXPECT_REQ(mk_rw(VS_OP_WRITE, 0, VS_MAX_OP_LEN + 1),
		   VS_FRAME_TOO_BIG, 0);
	EXPECT_REQ(mk_rw(VS_OP_WRITE, 0, UINT32_MAX), VS_FRAME_TOO_BIG, 0);
	CHECK(vs_frame_err_fatal(VS_FRAME_TOO_BIG));

	/* READ has no payload: over-long is a reply -EINVAL, not a close */
	EXPECT_REQ_GS(mk_rw(VS_OP_READ, 0, VS_MAX_OP_LEN), GRAN, BIG, 0, 0);
	EXPECT_REQ_GS(mk_rw(VS_OP_READ, 0, VS_MAX_OP_LEN + GRAN), GRAN, BIG,
		      VS_FRAME_OP_TOO_LONG, 0);
	EXPECT_REQ(mk_rw(VS_OP_DELETE, 0, UINT32_MAX),
		   VS_FRAME_OP_TOO_LONG, 0);
	EXPECT_REQ(mk_sec_rw(VS_OP_SEC_READ, VS_MAX_OP_LEN + 1, 0),
		   VS_FRAME_OP_TOO_LONG, 0);
	EXPECT_REQ(mk_sec_rw(VS_OP_SEC_READ, VS_MAX_OP_LEN, 0), 0, 0);
	CHECK(!vs_frame_err_fatal(VS_FRAME_OP_TOO_LONG));

	/* SHOW_CONFIG JSON bound */
	EXPECT_REQ(mk_len64(VS_OP_SHOW_CONFIG, VS_MAX_JSON_LEN),
		   VS_MAX_JSON_LEN, VS_MAX_JSON_LEN);
	EXPECT_REQ(mk_len64(VS_OP_SHOW_CONFIG, VS_MAX_JSON_LEN + 1),
		   VS_FRAME_TOO_BIG, 0);
	EXPECT_REQ(mk_len64(VS_OP_SHOW_CONFIG, ~0ULL), VS_FRAME_TOO_BIG, 0);
}

static void test_request_sec_write_overflow(void)
{
	/* attr_len + len: both u32, sum must not wrap or pass the bounds */
	EXPECT_REQ(mk_sec_rw(VS_OP_SEC_WRITE, VS_MAX_OP_LEN,
			     VS_MAX_BITMAP_LEN),
		   (uint64_t)VS_MAX_OP_LEN + VS_MAX_BITMAP_LEN,
		   (uint64_t)VS_MAX_OP_LEN + VS_MAX_BITMAP_LEN);
	EXPECT_REQ(mk_sec_rw(VS_OP_SEC_WRITE, VS_MAX_OP_LEN + 1, 0),
		   VS_FRAME_TOO_BIG, 0);
	EXPECT_REQ(mk_sec_rw(VS_OP_SEC_WRITE, 0, VS_MAX_BITMAP_LEN + 1),
		   VS_FRAME_TOO_BIG, 0);
	EXPECT_REQ(mk_sec_rw(VS_OP_SEC_WRITE, UINT32_MAX, UINT32_MAX),
		   VS_FRAME_TOO_BIG, 0);
	EXPECT_REQ(mk_sec_rw(VS_OP_SEC_WRITE_STABLE, 1, UINT32_MAX),
		   VS_FRAME_TOO_BIG, 0);
	EXPECT_REQ(mk_sec_rw(VS_OP_SEC_WRITE_STABLE, UINT32_MAX - 3, 4),
		   VS_FRAME_TOO_BIG, 0);
	/* secondary ops are not checked against the primary alignment */
	EXPECT_REQ(mk_sec_rw(VS_OP_SEC_WRITE, 100, 1), 101, 101);
}

static void test_request_obj_ver_lists(void)
{
	static const uint64_t ops[] = {
		VS_OP_SEC_STABILIZE, VS_OP_SEC_ROLLBACK, VS_OP_SEC_READ_BMP,
	};
	uint64_t top = VS_MAX_OP_LEN / 24 * 24;

	for (size_t i = 0; i < 3; i++) {
		EXPECT_REQ(mk_len64(ops[i], 24 * 1000), 24000, 24000);
		EXPECT_REQ(mk_len64(ops[i], top), top, top);
		/* well framed but not whole entries: skip payload, -EINVAL */
		EXPECT_REQ(mk_len64(ops[i], 25), VS_FRAME_BAD_LIST_LEN, 25);
		EXPECT_REQ(mk_len64(ops[i], VS_MAX_OP_LEN),
			   VS_FRAME_BAD_LIST_LEN, VS_MAX_OP_LEN);
		EXPECT_REQ(mk_len64(ops[i], VS_MAX_OP_LEN + 24ULL),
			   VS_FRAME_TOO_BIG, 0);
		EXPECT_REQ(mk_len64(ops[i], ~0ULL), VS_FRAME_TOO_BIG, 0);
		EXPECT_REQ(mk_len64(ops[i], ~0ULL / 24 * 24),
			   VS_FRAME_TOO_BIG, 0);
	}
	CHECK(!vs_frame_err_fatal(VS_FRAME_BAD_LIST_LEN));
}

static void test_request_misaligned(void)
{
	/* WRITE: payload still follows, so frame length = len */
	EXPECT_REQ(mk_rw(VS_OP_WRITE, 512, 4096), VS_FRAME_MISALIGNED, 4096);
	EXPECT_REQ(mk_rw(VS_OP_WRITE, 4096, 4095), VS_FRAME_MISALIGNED, 4095);
	EXPECT_REQ(mk_rw(VS_OP_WRITE, 1, 1), VS_FRAME_MISALIGNED, 1);
	EXPECT_REQ(mk_rw(VS_OP_READ, 4096 + 1, 4096), VS_FRAME_MISALIGNED, 0);
	EXPECT_REQ(mk_rw(VS_OP_READ, 0, 100), VS_FRAME_MISALIGNED, 0);
	EXPECT_REQ(mk_rw(VS_OP_DELETE, 2048, 0), VS_FRAME_MISALIGNED, 0);
	CHECK(!vs_frame_err_fatal(VS_FRAME_MISALIGNED));

	/* granularity 0 skips the check; others apply */
	{
		union vs_packet p = mk_rw(VS_OP_WRITE, 512, 512);
		uint64_t f;

		CHECK_EQ(vs_check_request(&p, 0, 0, &f), 512);
		CHECK_EQ(f, 512);
		CHECK_EQ(vs_check_request(&p, 512, 0, &f), 512);
		CHECK_EQ(vs_check_request(&p, 1024, 0, &f),
			 VS_FRAME_MISALIGNED);
		/* a huge aligned offset */
		p = mk_rw(VS_OP_READ, ~0ULL - 4095, 0);
		CHECK_EQ(vs_check_request(&p, 4096, 0, &f), 0);
	}
}

static void test_request_stripe(void)
{
	/* ends exactly at the stripe end: fine; one granule more: not */
	EXPECT_REQ(mk_rw(VS_OP_WRITE, STRIPE - 4096, 4096), 4096, 4096);
	EXPECT_REQ(mk_rw(VS_OP_WRITE, STRIPE - 4096, 8192),
		   VS_FRAME_CROSSES_STRIPE, 8192);
	EXPECT_REQ(mk_rw(VS_OP_READ, 0, STRIPE), 0, 0);
	EXPECT_REQ(mk_rw(VS_OP_READ, 0, STRIPE + 4096),
		   VS_FRAME_CROSSES_STRIPE, 0);
	EXPECT_REQ(mk_rw(VS_OP_READ, 5ULL * STRIPE + 4096, STRIPE - 4096),
		   0, 0);
	EXPECT_REQ(mk_rw(VS_OP_READ, 5ULL * STRIPE + 4096, STRIPE),
		   VS_FRAME_CROSSES_STRIPE, 0);
	CHECK(!vs_frame_err_fatal(VS_FRAME_CROSSES_STRIPE));

	{
		union vs_packet p;
		uint64_t f;
		const uint64_t ec = 3 * STRIPE;	/* EC 3+1: not a power of 2 */

		p = mk_rw(VS_OP_WRITE, ec - 4096, 4096);
		CHECK_EQ(vs_check_request(&p, GRAN, ec, &f), 4096);
		p = mk_rw(VS_OP_WRITE, 2 * ec - 4096, 8192);
		CHECK_EQ(vs_check_request(&p, GRAN, ec, &f),
			 VS_FRAME_CROSSES_STRIPE);
		p = mk_rw(VS_OP_WRITE, STRIPE, 2 * STRIPE);
		CHECK_EQ(vs_check_request(&p, GRAN, ec, &f), 2 * STRIPE);

		/* offset near 2^64: offset + len would overflow */
		p = mk_rw(VS_OP_READ, ~0ULL - 4095, 8192);
		CHECK_EQ(vs_check_request(&p, GRAN, STRIPE, &f),
			 VS_FRAME_CROSSES_STRIPE);
		p = mk_rw(VS_OP_READ, ~0ULL - 1, 4096);
		CHECK_EQ(vs_check_request(&p, 0, ~0ULL, &f),
			 VS_FRAME_CROSSES_STRIPE);
		p = mk_rw(VS_OP_READ, ~0ULL - 4096, 4096);
		CHECK_EQ(vs_check_request(&p, 0, ~0ULL, &f), 0);

		/* stripe 0 skips the check */
		p = mk_rw(VS_OP_READ, STRIPE - 4096, 8192);
		CHECK_EQ(vs_check_request(&p, GRAN, 0, &f), 0);
	}

	/* the fatal length check wins over alignment and stripe checks */
	EXPECT_REQ(mk_rw(VS_OP_WRITE, 1, VS_MAX_OP_LEN + 1),
		   VS_FRAME_TOO_BIG, 0);
}

/* ---- reply validator ---- */

static union vs_packet mk_reply(uint64_t opcode, int64_t retval)
{
	union vs_packet req = mk_req(opcode), rep;

	vs_reply_init(&rep, &req, retval);
	return rep;
}

static void test_reply_payloads(void)
{
	union vs_packet r;

	r = mk_reply(VS_OP_READ, 4096);
	vs_le32_set(&r.reply_rw.bitmap_len, 4);
	CHECK_EQ(vs_check_reply(&r, VS_OP_READ), 4100);
	r = mk_reply(VS_OP_READ, 0);	/* bitmap-only read */
	vs_le32_set(&r.reply_rw.bitmap_len, 4);
	CHECK_EQ(vs_check_reply(&r, VS_OP_READ), 4);

	r = mk_reply(VS_OP_SEC_READ, 8192);
	vs_le32_set(&r.reply_sec_rw.attr_len, 32);
	CHECK_EQ(vs_check_reply(&r, VS_OP_SEC_READ), 8224);

	r = mk_reply(VS_OP_SEC_LIST, 3);
	vs_le64_set(&r.reply_sec_list.stable_count, 2);
	CHECK_EQ(vs_check_reply(&r, VS_OP_SEC_LIST), 72);
	r = mk_reply(VS_OP_SEC_LIST, 0);
	CHECK_EQ(vs_check_reply(&r, VS_OP_SEC_LIST), 0);

	r = mk_reply(VS_OP_SEC_READ_BMP, 120);
	CHECK_EQ(vs_check_reply(&r, VS_OP_SEC_READ_BMP), 120);
	r = mk_reply(VS_OP_SHOW_CONFIG, 300);
	CHECK_EQ(vs_check_reply(&r, VS_OP_SHOW_CONFIG), 300);

	/* ops whose replies never carry payload, even with retval > 0 */
	r = mk_reply(VS_OP_WRITE, 4096);
	vs_le32_set(&r.reply_rw.bitmap_len, 4);	/* ignored for WRITE */
	CHECK_EQ(vs_check_reply(&r, VS_OP_WRITE), 0);
	for (uint64_t op = 1; op <= 16; op++) {
		if (op == VS_OP_READ || op == VS_OP_SEC_READ ||
		    op == VS_OP_SEC_LIST || op == VS_OP_SEC_READ_BMP ||
		    op == VS_OP_SHOW_CONFIG)
			continue;
		r = mk_reply(op, 1000);
		memset(r.buf + 32, 0xff, VS_PACKET_SIZE - 32);
		CHECK_MSG(vs_check_reply(&r, op) == 0, "op %" PRIu64, op);
	}
	/* an unknown opcode echoed back (reply to our probe): no payload */
	r = mk_reply(99, -VS_WIRE_EINVAL);
	CHECK_EQ(vs_check_reply(&r, 99), 0);
	r = mk_reply(99, 5);
	CHECK_EQ(vs_check_reply(&r, 99), 0);
}

static void test_reply_negative_retval(void)
{
	for (uint64_t op = 1; op <= 16; op++) {
		union vs_packet r = mk_reply(op, -VS_WIRE_EPIPE);

		/* lengths in the body must be ignored on error */
		memset(r.buf + 32, 0xff, VS_PACKET_SIZE - 32);
		CHECK_EQ(vs_check_reply(&r, op), 0);
		r = mk_reply(op, INT64_MIN);
		memset(r.buf + 32, 0xff, VS_PACKET_SIZE - 32);
		CHECK_EQ(vs_check_reply(&r, op), 0);
	}
}

static void test_reply_bounds(void)
{
	union vs_packet r;

	/* READ: 64 MiB of data + max bitmap ok; one more of either not */
	r = mk_reply(VS_OP_READ, VS_MAX_OP_LEN);
	vs_le32_set(&r.reply_rw.bitmap_len, VS_MAX_BITMAP_LEN);
	CHECK_EQ(vs_check_reply(&r, VS_OP_READ),
		 (int64_t)VS_MAX_OP_LEN + VS_MAX_BITMAP_LEN);
	r = mk_reply(VS_OP_READ, VS_MAX_OP_LEN + 1);
	CHECK_EQ(vs_check_reply(&r, VS_OP_READ), VS_FRAME_TOO_BIG);
	r = mk_reply(VS_OP_READ, 4096);
	vs_le32_set(&r.reply_rw.bitmap_len, VS_MAX_BITMAP_LEN + 1);
	CHECK_EQ(vs_check_reply(&r, VS_OP_READ), VS_FRAME_TOO_BIG);
	r = mk_reply(VS_OP_READ, INT64_MAX);
	CHECK_EQ(vs_check_reply(&r, VS_OP_READ), VS_FRAME_TOO_BIG);
	r = mk_reply(VS_OP_READ, 4096);
	vs_le32_set(&r.reply_rw.bitmap_len, UINT32_MAX);
	CHECK_EQ(vs_check_reply(&r, VS_OP_READ), VS_FRAME_TOO_BIG);

	r = mk_reply(VS_OP_SEC_READ, VS_MAX_OP_LEN);
	vs_le32_set(&r.reply_sec_rw.attr_len, UINT32_MAX);
	CHECK_EQ(vs_check_reply(&r, VS_OP_SEC_READ), VS_FRAME_TOO_BIG);
	r = mk_reply(VS_OP_SEC_READ, (int64_t)UINT32_MAX + 1);
	CHECK_EQ(vs_check_reply(&r, VS_OP_SEC_READ), VS_FRAME_TOO_BIG);

	/* SEC_LIST: retval * 24 must not wrap */
	r = mk_reply(VS_OP_SEC_LIST, (int64_t)(VS_MAX_LIST_LEN / 24));
	CHECK_EQ(vs_check_reply(&r, VS_OP_SEC_LIST),
		 (int64_t)(VS_MAX_LIST_LEN / 24 * 24));
	r = mk_reply(VS_OP_SEC_LIST, (int64_t)(VS_MAX_LIST_LEN / 24) + 1);
	CHECK_EQ(vs_check_reply(&r, VS_OP_SEC_LIST), VS_FRAME_TOO_BIG);
	/* 0x0aaa...ab * 24 wraps to 8 in 64 bits */
	r = mk_reply(VS_OP_SEC_LIST, 0x0aaaaaaaaaaaaaabLL);
	CHECK_EQ((uint64_t)0x0aaaaaaaaaaaaaabULL * 24, 8);
	CHECK_EQ(vs_check_reply(&r, VS_OP_SEC_LIST), VS_FRAME_TOO_BIG);
	r = mk_reply(VS_OP_SEC_LIST, INT64_MAX);
	CHECK_EQ(vs_check_reply(&r, VS_OP_SEC_LIST), VS_FRAME_TOO_BIG);

	r = mk_reply(VS_OP_SEC_READ_BMP, VS_MAX_OP_LEN);
	CHECK_EQ(vs_check_reply(&r, VS_OP_SEC_READ_BMP), VS_MAX_OP_LEN);
	r = mk_reply(VS_OP_SEC_READ_BMP, VS_MAX_OP_LEN + 1);
	CHECK_EQ(vs_check_reply(&r, VS_OP_SEC_READ_BMP), VS_FRAME_TOO_BIG);

	r = mk_reply(VS_OP_SHOW_CONFIG, VS_MAX_JSON_LEN);
	CHECK_EQ(vs_check_reply(&r, VS_OP_SHOW_CONFIG), VS_MAX_JSON_LEN);
	r = mk_reply(VS_OP_SHOW_CONFIG, VS_MAX_JSON_LEN + 1);
	CHECK_EQ(vs_check_reply(&r, VS_OP_SHOW_CONFIG), VS_FRAME_TOO_BIG);
}

static void test_reply_framing_errors(void)
{
	union vs_packet r = mk_reply(VS_OP_READ, 4096);
	union vs_packet q = mk_rw(VS_OP_READ, 0, 4096);

	/* a request (or garbage) where a reply was expected */
	CHECK_EQ(vs_check_reply(&q, VS_OP_READ), VS_FRAME_BAD_MAGIC);
	put_le(r.buf, 0, 8, 0x1122334455667788ULL);
	CHECK_EQ(vs_check_reply(&r, VS_OP_READ), VS_FRAME_BAD_MAGIC);

	/* opcode differs from the outstanding request's */
	r = mk_reply(VS_OP_WRITE, 4096);
	CHECK_EQ(vs_check_reply(&r, VS_OP_READ), VS_FRAME_OPCODE_MISMATCH);
	CHECK_EQ(vs_check_reply(&r, VS_OP_WRITE | (1ULL << 40)),
		 VS_FRAME_OPCODE_MISMATCH);
	CHECK(vs_frame_err_fatal(VS_FRAME_OPCODE_MISMATCH));

	/* a reply is never a valid request */
	CHECK_EQ(vs_check_request(&r, GRAN, STRIPE, NULL), VS_FRAME_BAD_MAGIC);
}

static void test_err_strings(void)
{
	for (int e = -8; e <= -1; e++) {
		const char *s = vs_frame_err_str(e);

		CHECK(s != NULL);
		CHECK(strcmp(s, "unknown error") != 0);
		CHECK(strcmp(s, "ok") != 0);
	}
	CHECK_STR(vs_frame_err_str(-9), "unknown error");
	CHECK_STR(vs_frame_err_str(0), "ok");
	CHECK_STR(vs_frame_err_str(4096), "ok");
}

int main(void)
{
	RUN(test_sizes);
	RUN(test_magic_bytes);
	RUN(test_header_offsets);
	RUN(test_primary_offsets);
	RUN(test_secondary_offsets);
	RUN(test_id_structs);
	RUN(test_le_accessors);
	RUN(test_names);
	RUN(test_addressing);
	RUN(test_request_each_opcode);
	RUN(test_request_bad_magic);
	RUN(test_request_unknown_opcode);
	RUN(test_request_max_len);
	RUN(test_request_sec_write_overflow);
	RUN(test_request_obj_ver_lists);
	RUN(test_request_misaligned);
	RUN(test_request_stripe);
	RUN(test_reply_payloads);
	RUN(test_reply_negative_retval);
	RUN(test_reply_bounds);
	RUN(test_reply_framing_errors);
	RUN(test_err_strings);
	return vt_finish();
}
