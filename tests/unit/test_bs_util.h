/* Shared helpers for the blockstore tests (header-only, static). */
#ifndef VSTOR_TEST_BS_UTIL_H
#define VSTOR_TEST_BS_UTIL_H

#include "blockstore.h"
#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct ringloop *T_rl;

static inline void t_op_cb(struct bs_op *op)
{
	*(int *)op->priv = 1;
}

/* Runs the loop until flag is set; returns 0 or -ETIMEDOUT. */
static inline int t_wait_flag(volatile int *flag)
{
	uint64_t end = ringloop_now_ns() + 20ull * 1000000000ull;

	while (!*flag) {
		if (ringloop_now_ns() > end)
			return -ETIMEDOUT;
		ringloop_run_once(T_rl, 100000000);
	}
	return 0;
}

static inline int t_run(struct bs *bs, struct bs_op *op)
{
	int done = 0;

	op->cb = t_op_cb;
	op->priv = &done;
	bs_submit(bs, op);
	if (t_wait_flag(&done))
		return -ETIMEDOUT;
	return op->retval;
}

static inline int t_write(struct bs *bs, int opc, uint64_t inode, uint64_t stripe, uint64_t ver, uint32_t off,
	uint32_t len, void *buf, uint64_t *ver_out)
{
	struct bs_op op;
	int r;

	memset(&op, 0, sizeof(op));
	op.opcode = opc;
	op.oid.inode = inode;
	op.oid.stripe = stripe;
	op.version = ver;
	op.offset = off;
	op.len = len;
	op.buf = buf;
	r = t_run(bs, &op);
	if (ver_out)
		*ver_out = op.version;
	return r;
}

static inline int t_read(struct bs *bs, uint64_t inode, uint64_t stripe, uint64_t sel, uint32_t off, uint32_t len,
	void *buf, uint64_t *ver_out, void *bmp)
{
	struct bs_op op;
	int r;

	memset(&op, 0, sizeof(op));
	op.opcode = BS_OP_READ;
	op.oid.inode = inode;
	op.oid.stripe = stripe;
	op.version = sel;
	op.offset = off;
	op.len = len;
	op.buf = buf;
	op.bitmap = bmp;
	r = t_run(bs, &op);
	if (ver_out)
		*ver_out = op.version;
	return r;
}

static inline int t_simple(struct bs *bs, int opc)
{
	struct bs_op op;

	memset(&op, 0, sizeof(op));
	op.opcode = opc;
	return t_run(bs, &op);
}

static inline int t_vers(struct bs *bs, int opc, uint64_t inode, uint64_t stripe, uint64_t ver)
{
	struct bs_op op;
	struct bs_obj_ver v = { inode, stripe, ver };

	memset(&op, 0, sizeof(op));
	op.opcode = opc;
	op.vers = &v;
	op.nvers = 1;
	return t_run(bs, &op);
}

static inline void *t_abuf(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, len ? len : 4096))
		abort();
	memset(p, 0, len);
	return p;
}

static inline void t_fill(void *buf, size_t len, uint64_t seed)
{
	uint64_t *p = buf;

	for (size_t i = 0; i < len / 8; i++)
		p[i] = seed * 0x9E3779B97F4A7C15ull + i;
}

/* Waits until the engine has no internal I/O left. */
static inline int t_idle(struct bs *bs)
{
	uint64_t end = ringloop_now_ns() + 20ull * 1000000000ull;

	while (!bs_is_idle(bs)) {
		if (ringloop_now_ns() > end)
			return -ETIMEDOUT;
		ringloop_run_once(T_rl, 10000000);
	}
	return 0;
}

static inline int t_flush_all(struct bs *bs)
{
	int r;

	for (int i = 0; i < 3; i++) {
		bs_flush_all(bs);
		r = t_idle(bs);
		if (r)
			return r;
	}
	return 0;
}

#endif
