/* EC/XOR primary ops (spec §5, §6, §8.3). The stripe (block_size x k
 * bytes) is k data chunks, role r holding bytes [r*bs, (r+1)*bs), and m
 * parity chunks; role r lives on position r of the PG's set.
 *
 * WRITE (serialized per object like replicated writes, version newver):
 * 1. The chunk range [lo, hi) is the hull of the in-chunk ranges the write
 *    touches (jerasure with m >= 2: widened to whole bitmap bytes, as its
 *    parity bitmaps beyond the first are only byte-local, see ec.h).
 *    Data roles the write does not cover over all of [lo, hi) need their
 *    old bytes there: read at the object's current version from their
 *    positions, or, when one of those is dead, from any k live roles and
 *    decoded. A full-stripe write reads nothing.
 * 2. New data overlaid, parity encoded over [lo, hi) (bitmaps too).
 * 3. SEC_WRITE (unstable) of newver to every live position: each data role
 *    its written range straight from the request payload (zero-length for
 *    untouched ones, so that every chunk has every version), each parity
 *    role [lo, hi) with its bitmap.
 * 4. Stabilize: with immediate_commit all/small at once (SEC_STABILIZE on
 *    every position, then the reply); otherwise the write is acknowledged
 *    unstable and stabilized after the next SYNC (osd_sync.c). An unstable
 *    version on fewer than k roles is rolled back by the next peering.
 * A failed step re-peers the PG, which settles the stripe on the old or the
 * new version everywhere.
 *
 * READ: the data roles the range touches, at the object's current version,
 * each straight into the reply (local or SEC_READ); when a touched role is
 * dead, [lo, hi) of any k live roles, decoded. The reply bitmap is the k
 * data chunks' bitmaps in role order (those of roles not read are zero,
 * except for a zero-length read, which reads all of them).
 *
 * Test-only fault hook: VSTOR_TEST_EC_FAULT=partial:N or unstable:N in the
 * OSD's environment makes it _exit(99) at its N-th EC write, "partial"
 * after writing only its own chunk, "unstable" after all chunks are
 * written but before any is stabilized (tests/cluster/test_osd_ec.c);
 * stabilize:N makes it exit when its N-th SEC_STABILIZE (as a secondary)
 * arrives, before applying it. */
#include "osd_ec_int.h"
#include "ec.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { FAULT_NONE, FAULT_PARTIAL, FAULT_UNSTABLE, FAULT_STABILIZE };

static uint8_t *payload(const struct osd_op *op, const struct obj *o, uint32_t role, uint32_t at)
{
	uint64_t off = vs_le64_get(op->req.rw.offset) - o->stripe;

	return (uint8_t *)op->buf + ((uint64_t)role * op->osd->block_size + at - off);
}

static void ec_finish(struct osd_op *op, int64_t err)
{
	struct osd *osd = op->osd;
	struct obj *o = op->obj;
	struct pgrun *pg = op->pg;

	if (err) {
		log_warn("EC write of %" PRIx64 ":%" PRIx64 " v%" PRIu64 " failed: %s; re-peering",
			 o->inode, o->stripe, op->newver, strerror((int)-err));
		pg_reply_rw(op, err == -EPIPE ? -EPIPE : err, o->version);
		osd_send_reply(op);
		if (pg->st == PG_ACTIVE)
			pg_repeer(pg);
	} else {
		o->version = op->newver;
		o->deleted = false;
		pg_sync_written(osd, op->conn, pg);
		pg_reply_rw(op, (int64_t)vs_le32_get(op->req.rw.len), op->newver);
		osd_send_reply(op);
	}
	pg_obj_next(osd, o);
}

/* The fault mode this write triggers (counted once per write). */
static int fault_of(struct osd *osd)
{
	struct osd_pgs *P = osd->pgs;

	if ((P->ec_fault != FAULT_PARTIAL && P->ec_fault != FAULT_UNSTABLE) ||
	    ++P->ec_writes != P->ec_fault_at)
		return FAULT_NONE;
	return P->ec_fault;
}

void osd_ec_fault_stabilize(struct osd *osd)
{
	struct osd_pgs *P = osd->pgs;

	if (P && P->ec_fault == FAULT_STABILIZE && ++P->ec_writes == P->ec_fault_at) {
		log_err("VSTOR_TEST_EC_FAULT: exiting at SEC_STABILIZE %" PRIu64, P->ec_writes);
		_exit(99);
	}
}

/* ---- step 4: stabilize ---- */

static void stab_done(struct osd_op *op)
{
	ec_finish(op, op->result);
}

/* A local or sub-op write / stabilize of op is back. */
static void io_local_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;

	if (bop->retval < 0 && !op->result)
		op->result = bop->retval;
	ecx_put(op);
}

static void io_sub_cb(struct osd_op *sub)
{
	struct osd_op *op = sub->parent;
	int64_t rv = pg_sub_retval(sub);

	if (rv < 0 && !op->result)
		op->result = rv;
	ecx_put(op);
}

static void stabilize(struct osd_op *op)
{
	struct osd *osd = op->osd;
	struct pgrun *pg = op->pg;
	struct obj *o = op->obj;
	struct ecx *x = ecx_of(op);

	x->step = stab_done;
	op->pending = 1;
	for (uint32_t pos = 0; pos < pg->size; pos++) {
		struct bs_obj_ver v = { o->inode, o->stripe | pos, op->newver };
		struct osd_op *s;

		if (!pg->cur[pos])
			continue;
		op->pending++;
		if (pg->cur[pos] == osd->osd_num) {
			x->sv = v;
			memset(&op->bs, 0, sizeof(op->bs));
			op->bs.opcode = BS_OP_STABILIZE;
			op->bs.vers = &x->sv;
			op->bs.nvers = 1;
			op->bs.cb = io_local_cb;
			op->bs.priv = op;
			bs_submit(osd->bs, &op->bs);
		} else if ((s = pg_sub_vers(osd, pg->cur[pos], VS_OP_SEC_STABILIZE, &v, 1,
					     io_sub_cb))) {
			s->parent = op;
		} else {
			op->pending--;
			op->result = -EPIPE;
		}
	}
	ecx_put(op);
}

/* ---- step 3: write every chunk ---- */

static void written(struct osd_op *op)
{
	struct osd *osd = op->osd;

	if (!op->result && op->phase != FAULT_NONE) {
		log_err("VSTOR_TEST_EC_FAULT: exiting after the data writes of EC write %" PRIu64,
			osd->pgs->ec_writes);
		_exit(99);
	}
	if (op->result) {
		ec_finish(op, op->result);
	} else if (osd->immediate_commit != BS_IC_NONE) {
		stabilize(op);
	} else {
		if (pg_unstable_add(osd, op->pg, op->obj, op->newver))
			log_warn("EC write: no memory to remember an unstable version; the next "
				 "peering stabilizes it");
		ec_finish(op, 0);
	}
}

static void write_chunk(struct osd_op *op, uint64_t num, uint32_t role, uint32_t off,
			uint32_t len, void *data, void *bmp)
{
	struct osd *osd = op->osd;
	struct obj *o = op->obj;
	struct osd_conn *c;
	struct osd_op *s;

	op->pending++;
	if (num == osd->osd_num) {
		memset(&op->bs, 0, sizeof(op->bs));
		op->bs.opcode = BS_OP_WRITE;
		op->bs.oid.inode = o->inode;
		op->bs.oid.stripe = o->stripe | role;
		op->bs.version = op->newver;
		op->bs.offset = off;
		op->bs.len = len;
		op->bs.buf = data;
		op->bs.bitmap = bmp;
		op->bs.cb = io_local_cb;
		op->bs.priv = op;
		bs_submit(osd->bs, &op->bs);
		return;
	}
	c = pg_peer_conn(osd, num);
	if (!c || !(s = osd_sub_new(osd, VS_OP_SEC_WRITE, io_sub_cb))) {
		op->pending--;
		if (!op->result)
			op->result = -EPIPE;
		return;
	}
	s->parent = op;
	s->peer = num;
	pg_sub_write(s, o, role, op->newver, off, len, bmp, bmp ? osd->bitmap_size : 0, data);
	c->dirty = true;
	osd_send_sub(c, s);
}

static void write_all(struct osd_op *op)
{
	struct osd *osd = op->osd;
	struct pgrun *pg = op->pg;
	struct obj *o = op->obj;
	struct ecx *x = ecx_of(op);
	bool partial;

	op->phase = fault_of(osd);
	partial = op->phase == FAULT_PARTIAL;
	x->step = written;
	op->pending = 1;
	for (uint32_t pos = 0; pos < pg->size; pos++) {
		uint64_t num = pg->cur[pos];

		if (!num || (partial && num != osd->osd_num))
			continue;
		if (pos >= x->k)
			write_chunk(op, num, pos, x->lo, x->clen, x->chunk[pos], x->bmp[pos]);
		else if (x->we[pos] > x->ws[pos])
			write_chunk(op, num, pos, x->ws[pos], x->we[pos] - x->ws[pos],
				    payload(op, o, pos, x->ws[pos]), NULL);
		else
			write_chunk(op, num, pos, 0, 0, NULL, NULL);
	}
	ecx_put(op);
}

/* ---- step 2: new data and parity ---- */

static bool covers(const struct ecx *x, uint32_t r)
{
	return x->ws[r] <= x->lo && x->we[r] >= x->hi && x->we[r] > x->ws[r];
}

static void encode(struct osd_op *op)
{
	struct osd *osd = op->osd;
	struct pgrun *pg = op->pg;
	struct obj *o = op->obj;
	struct ecx *x = ecx_of(op);
	struct ec_set have = { { 0 } }, want = { { 0 } };
	const void *data[MAX_SET];
	void *par[MAX_SET];
	bool decode = false;
	int r = (int)op->result;

	for (uint32_t role = 0; role < x->n && !r; role++) {
		uint64_t b = 1ull << role;

		if ((x->read & b) && x->rver[role] != o->version)
			r = -EPIPE;	/* a chunk lacks the version peering saw: re-peer */
		if (x->read & b)
			ec_set_add(&have, role);
		else if (x->need & b) {
			ec_set_add(&want, role);
			decode = true;
		}
	}
	if (!r && decode)
		r = ec_decode(pg->ec, &have, &want, (void *const *)x->chunk, x->clen);
	if (!r && decode)
		r = ec_decode(pg->ec, &have, &want, (void *const *)x->bmp, osd->bitmap_size);
	if (r) {
		ec_finish(op, r);
		return;
	}
	for (uint32_t role = 0; role < x->k; role++) {
		bool full = covers(x, role);

		if (full)
			memset(x->bmp[role], 0, osd->bitmap_size);
		data[role] = full ? payload(op, o, role, x->lo) : x->chunk[role];
		if (!full && x->we[role] > x->ws[role])
			memcpy(x->chunk[role] + (x->ws[role] - x->lo), payload(op, o, role, x->ws[role]),
			       x->we[role] - x->ws[role]);
		ecx_bits(x->bmp[role], osd->bitmap_granularity, x->ws[role], x->we[role]);
	}
	for (uint32_t p = x->k; p < x->n; p++)
		par[p - x->k] = pg->cur[p] ? x->chunk[p] : NULL;
	if (x->clen)
		ec_encode(pg->ec, data, par, x->clen);
	for (uint32_t p = x->k; p < x->n; p++)
		par[p - x->k] = x->bmp[p];
	ec_encode(pg->ec, (const void *const *)x->bmp, par, osd->bitmap_size);
	write_all(op);
}

/* ---- step 1: layout and old data ---- */

void pg_ec_write(struct osd *osd, struct osd_op *op)
{
	struct pgrun *pg = op->pg;
	struct obj *o = op->obj;
	uint32_t bs = osd->block_size, k = pg->data_chunks, lo = bs, hi = 0;
	uint64_t off = vs_le64_get(op->req.rw.offset) - o->stripe;
	uint64_t end = off + vs_le32_get(op->req.rw.len), need = 0, read = 0;
	uint32_t ws[MAX_SET], we[MAX_SET];
	struct ecx *x;

	if (!pg->ec) {
		ec_finish(op, -EIO);	/* ec_new failed at configuration (logged) */
		return;
	}
	for (uint32_t r = 0; r < k; r++) {
		uint64_t cs = (uint64_t)r * bs, s = off > cs ? off : cs;
		uint64_t e = end < cs + bs ? end : cs + bs;

		ws[r] = we[r] = 0;
		if (s >= e)
			continue;
		ws[r] = (uint32_t)(s - cs);
		we[r] = (uint32_t)(e - cs);
		lo = ws[r] < lo ? ws[r] : lo;
		hi = we[r] > hi ? we[r] : hi;
	}
	if (lo >= hi) {
		lo = hi = 0;
	} else if (pg->scheme == OSD_SCHEME_JERASURE && pg->size - k >= 2) {
		uint32_t a = 8 * osd->bitmap_granularity;

		lo = lo / a * a;
		hi = (hi + a - 1) / a * a;
		hi = hi < bs ? hi : bs;
	}
	x = ecx_alloc(osd, op, pg->size, k, hi - lo);
	if (!x) {
		ec_finish(op, -ENOMEM);
		return;
	}
	x->lo = lo;
	x->hi = hi;
	memcpy(x->ws, ws, sizeof(ws[0]) * k);
	memcpy(x->we, we, sizeof(we[0]) * k);
	for (uint32_t r = 0; r < k && x->clen; r++)
		if (!covers(x, r))
			need |= 1ull << r;
	op->result = 0;
	op->pending = 1;
	x->step = encode;
	x->need = need;
	if (!need || !o->version || o->deleted) {
		if (x->clen)
			memset(x->chunk[0], 0, (size_t)x->n * x->clen);
		x->need = 0;	/* old data: none, or zeroes */
	} else if (ecx_pick(pg, need, &read)) {
		op->result = -EIO;
	} else {
		for (uint32_t r = 0; r < pg->size; r++) {
			if (!(read & (1ull << r)))
				continue;
			x->dst[r] = x->chunk[r];
			x->dbmp[r] = x->bmp[r];
			ecx_read(op, o, r, pg->cur[r], lo, x->clen, o->version);
		}
	}
	ecx_put(op);
}

/* ---- READ ---- */

static void read_reply(struct osd_op *op, int64_t err, uint64_t version)
{
	struct osd *osd = op->osd;
	struct pgrun *pg = op->pg;
	uint32_t len = vs_le32_get(op->req.rw.len);

	if (op->obj)
		pg_obj_next(osd, op->obj);	/* queued behind a recovery */
	if (err) {
		pg_reply_err(op, err);
		return;
	}
	pg_reply_rw(op, len, version);
	vs_le32_set(&op->reply.reply_rw.bitmap_len, osd->bitmap_size * pg->data_chunks);
	op->iov[op->niov].iov_base = op->bitmap;
	op->iov[op->niov++].iov_len = osd->bitmap_size * pg->data_chunks;
	if (len) {
		op->iov[op->niov].iov_base = op->buf;
		op->iov[op->niov++].iov_len = len;
	}
	osd_send_reply(op);
}

static void read_done(struct osd_op *op)
{
	struct osd *osd = op->osd;
	struct pgrun *pg = op->pg;
	struct ecx *x = ecx_of(op);
	uint64_t ver = op->newver, got = BS_VER_NEWEST;
	struct ec_set have = { { 0 } }, want = { { 0 } };
	uint64_t off = op->peer;
	uint32_t len = vs_le32_get(op->req.rw.len);
	bool decode = false;
	int r = (int)op->result;

	for (uint32_t role = 0; role < x->n && !r; role++) {
		if (!(x->read & (1ull << role))) {
			if (role < x->k && x->chunk[0]) {
				ec_set_add(&want, role);
				decode = true;
			}
			continue;
		}
		ec_set_add(&have, role);
		if (got == BS_VER_NEWEST)
			got = x->rver[role];
		if (x->rver[role] != got || (ver != BS_VER_NEWEST && got != ver))
			r = -EIO;
	}
	if (r) {
		log_warn("EC read of %" PRIx64 ":%" PRIx64 ": %s (version %" PRIu64 ", want %" PRIu64
			 ")", vs_le64_get(op->req.rw.inode), vs_le64_get(op->req.rw.offset),
			 strerror(-r), got, ver);
		read_reply(op, r, 0);
		return;
	}
	if (decode) {
		/* degraded: [lo, hi) of every role from k, then the touched parts */
		r = ec_decode(pg->ec, &have, &want, (void *const *)x->chunk, x->clen);
		if (!r)
			r = ec_decode(pg->ec, &have, &want, (void *const *)x->bmp, osd->bitmap_size);
		for (uint32_t role = 0; role < x->k && !r; role++) {
			uint64_t cs = (uint64_t)role * osd->block_size;
			uint64_t s = off > cs ? off : cs, e = off + len;

			e = e < cs + osd->block_size ? e : cs + osd->block_size;
			memcpy((uint8_t *)op->bitmap + role * osd->bitmap_size, x->bmp[role],
			       osd->bitmap_size);
			if (s < e)
				memcpy((uint8_t *)op->buf + (s - off), x->chunk[role] + (s - cs - x->lo),
				       e - s);
		}
	}
	read_reply(op, r, got == BS_VER_NEWEST ? 0 : got);
}

void pg_ec_read(struct osd *osd, struct osd_op *op)
{
	struct pgrun *pg = op->pg;
	uint32_t bs = osd->block_size, k = pg->data_chunks, len = vs_le32_get(op->req.rw.len);
	uint64_t sz = (uint64_t)bs * k, offset = vs_le64_get(op->req.rw.offset);
	uint64_t stripe = offset - offset % sz, off = offset - stripe, end = off + len;
	struct obj *o = pg_obj_get(osd->pgs, vs_le64_get(op->req.rw.inode), stripe, false);
	uint64_t touched = 0, read = 0;
	uint32_t lo = bs, hi = 0;
	struct ecx *x;

	memset(op->bitmap, 0, (size_t)osd->bitmap_size * k);
	if (!pg->ec) {
		read_reply(op, -EIO, 0);
		return;
	}
	if (!o || (o->pg == pg && (o->deleted || !o->version))) {
		/* never written (peering listed every object) or deleted */
		if (len)
			memset(op->buf, 0, len);
		read_reply(op, 0, o ? o->version : 0);
		return;
	}
	for (uint32_t r = 0; r < k; r++) {
		uint64_t cs = (uint64_t)r * bs, s = off > cs ? off : cs;
		uint64_t e = end < cs + bs ? end : cs + bs;

		if (len && s >= e)
			continue;
		touched |= 1ull << r;
		if (len) {
			lo = (uint32_t)(s - cs) < lo ? (uint32_t)(s - cs) : lo;
			hi = (uint32_t)(e - cs) > hi ? (uint32_t)(e - cs) : hi;
		}
	}
	if (!len) {
		/* bitmaps only: those of the live data roles */
		lo = hi = 0;
		for (uint32_t r = 0; r < k; r++)
			if (!pg->cur[r])
				touched &= ~(1ull << r);
	}
	if (ecx_pick(pg, touched, &read)) {
		read_reply(op, -EIO, 0);
		return;
	}
	x = ecx_alloc(osd, op, pg->size, k, read == touched ? 0 : hi - lo);
	if (!x) {
		read_reply(op, -ENOMEM, 0);
		return;
	}
	x->lo = lo;
	x->hi = hi;
	x->step = read_done;
	op->newver = o->pg == pg ? o->version : BS_VER_NEWEST;
	op->peer = off;
	op->result = 0;
	op->pending = 1;
	for (uint32_t r = 0; r < pg->size; r++) {
		uint64_t cs = (uint64_t)r * bs, s = off > cs ? off : cs;
		uint64_t e = end < cs + bs ? end : cs + bs;

		if (!(read & (1ull << r)))
			continue;
		if (x->chunk[0]) {
			x->dst[r] = x->chunk[r];
			x->dbmp[r] = x->bmp[r];
			ecx_read(op, o, r, pg->cur[r], lo, hi - lo, op->newver);
		} else {
			x->dst[r] = len ? (uint8_t *)op->buf + (s - off) : NULL;
			x->dbmp[r] = (uint8_t *)op->bitmap + r * osd->bitmap_size;
			ecx_read(op, o, r, pg->cur[r], len ? (uint32_t)(s - cs) : 0,
				 len ? (uint32_t)(e - s) : 0, op->newver);
		}
	}
	ecx_put(op);
}
