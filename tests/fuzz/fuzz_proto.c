/* libFuzzer target: arbitrary 128-byte headers through vs_check_request()
 * and vs_check_reply(). Each result is compared with a reference model that
 * reads the spec's byte offsets directly and uses 128-bit arithmetic, and
 * with the invariants every caller relies on (bounded lengths, a success
 * only for the right magic, fatal errors leave no frame length, ...).
 *
 * Input: a 21-byte parameter block, then any number of 128-byte packets
 * (a short last one is zero-padded):
 *   [0]      mode bits: 1 force request magic, 2 force reply magic,
 *            4 fold opcodes into 0..17, 8 reply opcode := expected opcode,
 *            16 granularity := 1 << (byte 1 & 31), 32 stripe := ~stripe,
 *            64 complement the rw offset (@32) of every packet: the last
 *            two reach offsets and stripes near 2^64 (overflow cases)
 *   [1..4]   bitmap_granularity      [5..12] stripe_size
 *   [13..20] opcode of the outstanding request (for replies)
 */
#include "vstor_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef unsigned __int128 u128;

#define INV(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "invariant failed: %s (line %d)\n", #cond, \
			__LINE__); \
		abort(); \
	} \
} while (0)

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

#define MAX_OP		((u128)VS_MAX_OP_LEN)
#define MAX_BMP		((u128)VS_MAX_BITMAP_LEN)

/* Spec 4.0 checks, from raw bytes. */
static int64_t model_primary(const uint8_t *b, uint32_t gran, uint64_t stripe)
{
	uint64_t offset = get_le(b, 32, 8);
	uint64_t len = get_le(b, 40, 4);

	if (len > MAX_OP)
		return VS_FRAME_OP_TOO_LONG;
	if (gran && (offset % gran || len % gran))
		return VS_FRAME_MISALIGNED;
	if (stripe && (u128)(offset % stripe) + len > stripe)
		return VS_FRAME_CROSSES_STRIPE;
	return 0;
}

/* Expected vs_check_request() result; *frame as the caller would see it. */
static int64_t model_request(const uint8_t *b, uint32_t gran, uint64_t stripe,
			     uint64_t *frame)
{
	u128 len;
	int64_t err;

	*frame = 0;
	if (get_le(b, 0, 8) != VS_REQ_MAGIC)
		return VS_FRAME_BAD_MAGIC;
	switch (get_le(b, 16, 8)) {
	case 1:		/* SEC_READ */
		return get_le(b, 52, 4) > MAX_OP ? VS_FRAME_OP_TOO_LONG : 0;
	case 2:		/* SEC_WRITE */
	case 3:		/* SEC_WRITE_STABLE */
		if (get_le(b, 52, 4) > MAX_OP || get_le(b, 56, 4) > MAX_BMP)
			return VS_FRAME_TOO_BIG;
		len = (u128)get_le(b, 52, 4) + get_le(b, 56, 4);
		*frame = (uint64_t)len;
		return (int64_t)len;
	case 5:		/* SEC_STABILIZE */
	case 6:		/* SEC_ROLLBACK */
	case 16:	/* SEC_READ_BMP */
		len = get_le(b, 24, 8);
		if (len > MAX_OP)
			return VS_FRAME_TOO_BIG;
		*frame = (uint64_t)len;
		return len % 24 ? VS_FRAME_BAD_LIST_LEN : (int64_t)len;
	case 10:	/* SHOW_CONFIG */
		len = get_le(b, 24, 8);
		if (len > VS_MAX_JSON_LEN)
			return VS_FRAME_TOO_BIG;
		*frame = (uint64_t)len;
		return (int64_t)len;
	case 12:	/* WRITE */
		len = get_le(b, 40, 4);
		if (len > MAX_OP)
			return VS_FRAME_TOO_BIG;
		*frame = (uint64_t)len;
		err = model_primary(b, gran, stripe);
		return err ? err : (int64_t)len;
	case 11:	/* READ */
	case 14:	/* DELETE */
		return model_primary(b, gran, stripe);
	case 4: case 7: case 8: case 9: case 13: case 15:
		return 0;
	default:
		return VS_FRAME_BAD_OPCODE;
	}
}

static int64_t model_reply(const uint8_t *b, uint64_t req_opcode)
{
	int64_t retval;
	u128 n, len;

	if (get_le(b, 0, 8) != VS_REPLY_MAGIC)
		return VS_FRAME_BAD_MAGIC;
	if (get_le(b, 16, 8) != req_opcode)
		return VS_FRAME_OPCODE_MISMATCH;
	retval = (int64_t)get_le(b, 24, 8);
	if (retval < 0)
		return 0;
	n = (u128)retval;
	switch (req_opcode) {
	case 11:	/* READ: bitmap_len @32 */
	case 1:		/* SEC_READ: attr_len @40 */
		len = get_le(b, req_opcode == 11 ? 32 : 40, 4);
		if (n > MAX_OP || len > MAX_BMP)
			return VS_FRAME_TOO_BIG;
		return (int64_t)(n + len);
	case 9:		/* SEC_LIST */
		if (n * 24 > VS_MAX_LIST_LEN)
			return VS_FRAME_TOO_BIG;
		return (int64_t)(n * 24);
	case 16:	/* SEC_READ_BMP */
		return n > MAX_OP ? VS_FRAME_TOO_BIG : (int64_t)n;
	case 10:	/* SHOW_CONFIG */
		return n > VS_MAX_JSON_LEN ? VS_FRAME_TOO_BIG : (int64_t)n;
	default:
		return 0;
	}
}

static int known_err(int64_t rc)
{
	return rc >= VS_FRAME_BAD_LIST_LEN && rc <= VS_FRAME_BAD_MAGIC;
}

static void check_request(const union vs_packet *p, uint32_t gran,
			  uint64_t stripe)
{
	uint64_t frame = 0xdeadbeef, want_frame;
	int64_t rc = vs_check_request(p, gran, stripe, &frame);
	int64_t want = model_request(p->buf, gran, stripe, &want_frame);
	int good_magic = get_le(p->buf, 0, 8) == VS_REQ_MAGIC;
	uint64_t opcode = get_le(p->buf, 16, 8);

	INV(rc == want);
	INV(rc == vs_check_request(p, gran, stripe, NULL));
	INV(rc >= 0 || known_err(rc));
	INV(vs_frame_err_str(rc) != NULL);
	if (rc >= 0) {
		INV(good_magic);
		INV(vs_opcode_valid(opcode));
		INV(frame == (uint64_t)rc);
		INV((u128)rc <= MAX_OP + MAX_BMP);
		INV(vs_op_name(opcode) && vs_op_stat_name(opcode));
	} else if (vs_frame_err_fatal(rc)) {
		INV(frame == 0);
		INV(rc != VS_FRAME_OPCODE_MISMATCH);
	} else {
		/* connection goes on: the frame length must be sane too */
		INV(good_magic);
		INV(frame == want_frame);
		INV((u128)frame <= MAX_OP + MAX_BMP);
		if (rc == VS_FRAME_BAD_OPCODE)
			INV(frame == 0 && !vs_opcode_valid(opcode));
		else
			INV(vs_opcode_valid(opcode));
	}
	INV((rc == VS_FRAME_BAD_MAGIC) == !good_magic);
}

static void check_reply(const union vs_packet *p, uint64_t req_opcode)
{
	int64_t rc = vs_check_reply(p, req_opcode);

	INV(rc == model_reply(p->buf, req_opcode));
	INV(rc >= 0 || (known_err(rc) && vs_frame_err_fatal(rc)));
	INV((rc == VS_FRAME_BAD_MAGIC) ==
	    (get_le(p->buf, 0, 8) != VS_REPLY_MAGIC));
	if (rc >= 0) {
		INV(vs_packet_is_reply(p));
		INV(vs_packet_opcode(p) == req_opcode);
		if (req_opcode == VS_OP_SEC_LIST)
			INV((u128)rc <= VS_MAX_LIST_LEN && rc % 24 == 0);
		else
			INV((u128)rc <= MAX_OP + MAX_BMP);
		if (vs_reply_retval(p) < 0)
			INV(rc == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	union vs_packet p;
	uint32_t gran;
	uint64_t stripe, req_opcode;
	uint8_t mode;

	if (size < 21)
		return 0;
	mode = data[0];
	gran = (uint32_t)get_le(data, 1, 4);
	if (mode & 16)
		gran = 1u << (data[1] & 31);
	stripe = get_le(data, 5, 8);
	if (mode & 32)
		stripe = ~stripe;
	req_opcode = get_le(data, 13, 8);
	if (mode & 4)
		req_opcode %= 18;
	data += 21;
	size -= 21;

	while (size) {
		size_t n = size < VS_PACKET_SIZE ? size : VS_PACKET_SIZE;

		memset(&p, 0, sizeof(p));
		memcpy(p.buf, data, n);
		data += n;
		size -= n;
		if (mode & 4)
			put_le(p.buf, 16, 8, get_le(p.buf, 16, 8) % 18);
		if (mode & 64)
			put_le(p.buf, 32, 8, ~get_le(p.buf, 32, 8));

		if (mode & 1)
			vs_le64_set(&p.hdr.magic, VS_REQ_MAGIC);
		check_request(&p, gran, stripe);
		check_reply(&p, req_opcode);

		if (mode & 2)
			vs_le64_set(&p.hdr.magic, VS_REPLY_MAGIC);
		if (mode & 8)
			vs_le64_set(&p.hdr.opcode, req_opcode);
		check_request(&p, gran, stripe);
		check_reply(&p, req_opcode);
	}
	return 0;
}
