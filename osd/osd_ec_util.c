/* EC helpers of vstor-osd: the shared codes, the scratch of EC ops and
 * their chunk reads, STABILIZE/ROLLBACK sub-ops, lazy-mode stabilization
 * after a SYNC (spec §8.3), and the chunk reads of EC recovery. */
#include "osd_ec_int.h"
#include "ec.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- codes ---- */

struct ec *pg_ec_code(struct osd_pgs *P, int scheme, uint32_t k, uint32_t m)
{
	struct pg_ec_code *n;
	struct ec *ec;

	for (size_t i = 0; i < P->necs; i++)
		if (P->ecs[i].scheme == scheme && P->ecs[i].k == k && P->ecs[i].m == m)
			return P->ecs[i].ec;
	if (ec_new(&ec, scheme == OSD_SCHEME_XOR ? EC_XOR : EC_JERASURE, k, m))
		return NULL;
	n = realloc(P->ecs, (P->necs + 1) * sizeof(*n));
	if (!n) {
		ec_free(ec);
		return NULL;
	}
	P->ecs = n;
	n[P->necs].scheme = scheme;
	n[P->necs].k = k;
	n[P->necs].m = m;
	n[P->necs++].ec = ec;
	return ec;
}

void pg_ec_codes_free(struct osd_pgs *P)
{
	for (size_t i = 0; i < P->necs; i++)
		ec_free(P->ecs[i].ec);
	free(P->ecs);
	P->ecs = NULL;
	P->necs = 0;
	free(P->unst.v);
	free(P->sync.run_unst.v);
}

/* ---- scratch and chunk reads ---- */

struct ecx *ecx_alloc(struct osd *osd, struct osd_op *op, uint32_t n, uint32_t k, uint32_t clen)
{
	size_t size = ECX_HDR + (size_t)n * clen + (size_t)n * osd->bitmap_size;
	struct ecx *x;
	uint8_t *p;

	op->ecbuf = osd_buf_get(osd, size, &op->ecbuf_size);
	if (!op->ecbuf)
		return NULL;
	x = op->ecbuf;
	memset(x, 0, sizeof(*x));
	x->n = n;
	x->k = k;
	x->clen = clen;
	p = (uint8_t *)op->ecbuf + ECX_HDR;
	for (uint32_t r = 0; r < n; r++, p += clen)
		x->chunk[r] = clen ? p : NULL;
	for (uint32_t r = 0; r < n; r++, p += osd->bitmap_size)
		x->bmp[r] = p;
	memset(x->bmp[0], 0, (size_t)n * osd->bitmap_size);
	return x;
}

void ecx_put(struct osd_op *op)
{
	if (!--op->pending)
		ecx_of(op)->step(op);
}

void ecx_bits(uint8_t *bmp, uint32_t gran, uint32_t start, uint32_t end)
{
	for (uint32_t g = start / gran; g < end / gran; g++)
		bmp[g / 8] |= (uint8_t)(1u << (g % 8));
}

int ecx_pick(const struct pgrun *pg, uint64_t want, uint64_t *read)
{
	uint64_t live = 0, r = 0;
	uint32_t nr = 0;

	for (uint32_t pos = 0; pos < pg->size; pos++)
		if (pg->cur[pos])
			live |= 1ull << pos;
	if ((want & live) == want) {
		*read = want;
		return 0;
	}
	for (uint32_t pass = 0; pass < 2; pass++)
		for (uint32_t pos = 0; pos < pg->size && nr < pg->data_chunks; pos++) {
			uint64_t b = 1ull << pos;

			if ((live & b) && !(r & b) && (pass || (want & b))) {
				r |= b;
				nr++;
			}
		}
	if (nr < pg->data_chunks)
		return -EIO;
	*read = r;
	return 0;
}

static void read_got(struct osd_op *op, uint32_t role, int64_t rv, uint64_t ver,
		     const void *bmp, uint32_t bmp_len, const void *data)
{
	struct ecx *x = ecx_of(op);
	uint32_t bsz = op->osd->bitmap_size;

	if (rv == -ENOENT) {
		x->rver[role] = 0;
		if (x->dst[role] && x->rlen[role])
			memset(x->dst[role], 0, x->rlen[role]);
		memset(x->dbmp[role], 0, bsz);
		return;
	}
	if (rv != (int64_t)x->rlen[role]) {
		if (!op->result)
			op->result = rv < 0 ? rv : -EIO;
		return;
	}
	x->rver[role] = ver;
	if (bmp) {
		memset(x->dbmp[role], 0, bsz);
		memcpy(x->dbmp[role], bmp, bmp_len < bsz ? bmp_len : bsz);
	}
	if (data && rv)
		memcpy(x->dst[role], data, (size_t)rv);
}

static void read_local_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;

	/* data and bitmap went to their places directly */
	read_got(op, vs_stripe_role(bop->oid.stripe), bop->retval, bop->version, NULL, 0, NULL);
	ecx_put(op);
}

static void read_sub_cb(struct osd_op *sub)
{
	struct osd_op *op = sub->parent;
	int64_t rv = pg_sub_retval(sub);
	uint32_t al = vs_le32_get(sub->reply.reply_sec_rw.attr_len);
	uint32_t role = (uint32_t)sub->phase;

	if (rv >= 0 && !sub->rbuf && (rv || al))
		rv = -EIO;
	read_got(op, role, rv, vs_le64_get(sub->reply.reply_sec_rw.version), sub->rbuf, al,
		 sub->rbuf ? (uint8_t *)sub->rbuf + al : NULL);
	ecx_put(op);
}

void ecx_read(struct osd_op *op, const struct obj *o, uint32_t role, uint64_t num, uint32_t off,
	      uint32_t len, uint64_t version)
{
	struct osd *osd = op->osd;
	struct ecx *x = ecx_of(op);
	struct osd_conn *c;
	struct osd_op *s;

	x->rlen[role] = len;
	x->read |= 1ull << role;
	op->pending++;
	if (num == osd->osd_num) {
		memset(&op->bs, 0, sizeof(op->bs));
		op->bs.opcode = BS_OP_READ;
		op->bs.oid.inode = o->inode;
		op->bs.oid.stripe = o->stripe | role;
		op->bs.version = version;
		op->bs.offset = off;
		op->bs.len = len;
		op->bs.buf = x->dst[role];
		op->bs.bitmap = x->dbmp[role];
		op->bs.cb = read_local_cb;
		op->bs.priv = op;
		bs_submit(osd->bs, &op->bs);
		return;
	}
	c = pg_peer_conn(osd, num);
	if (!c || !(s = osd_sub_new(osd, VS_OP_SEC_READ, read_sub_cb))) {
		if (!op->result)
			op->result = -EPIPE;
		op->pending--;
		return;
	}
	s->parent = op;
	s->peer = num;
	s->phase = (int)role;
	vs_le64_set(&s->req.sec_rw.oid.inode, o->inode);
	vs_le64_set(&s->req.sec_rw.oid.stripe, o->stripe | role);
	vs_le64_set(&s->req.sec_rw.version, version);
	vs_le32_set(&s->req.sec_rw.offset, off);
	vs_le32_set(&s->req.sec_rw.len, len);
	osd_send_sub(c, s);
}

/* ---- STABILIZE / ROLLBACK ---- */

int pg_ver_push(struct ver_list *l, uint64_t inode, uint64_t stripe, uint64_t version)
{
	if (l->n == l->cap) {
		uint32_t nc = l->cap ? l->cap * 2 : 16;
		struct bs_obj_ver *nv = realloc(l->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n].inode = inode;
	l->v[l->n].stripe = stripe;
	l->v[l->n++].version = version;
	return 0;
}

struct osd_op *pg_sub_vers(struct osd *osd, uint64_t num, uint64_t opcode,
			   const struct bs_obj_ver *v, uint32_t n, void (*cb)(struct osd_op *))
{
	struct osd_conn *c = pg_peer_conn(osd, num);
	size_t bytes = (size_t)n * VS_OBJ_VER_ID_SIZE;
	struct bs_obj_ver *w;
	struct osd_op *s;

	if (!c || !(s = osd_sub_new(osd, opcode, cb)))
		return NULL;
	s->buf = osd_buf_get(osd, bytes, &s->buf_size);
	if (!s->buf) {
		osd_op_free(osd, s);
		return NULL;
	}
	w = s->buf;
	for (uint32_t i = 0; i < n; i++) {
		w[i].inode = vs_cpu_to_le64(v[i].inode);
		w[i].stripe = vs_cpu_to_le64(v[i].stripe);
		w[i].version = vs_cpu_to_le64(v[i].version);
	}
	vs_le64_set(&s->req.sec_stab.len, bytes);
	s->iov[s->niov].iov_base = s->buf;
	s->iov[s->niov++].iov_len = bytes;
	s->peer = num;
	c->dirty = true;
	osd_send_sub(c, s);
	return s;
}

/* ---- lazy mode: stabilize after SYNC ---- */

int pg_unstable_push(struct pg_unstable_list *l, const struct pg_unstable *u)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 256;
		struct pg_unstable *nv = realloc(l->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = *u;
	return 0;
}

int pg_unstable_add(struct osd *osd, struct pgrun *pg, const struct obj *o, uint64_t version)
{
	struct pg_unstable u = { pg, pg->round, o->inode, o->stripe, version };

	return pg_unstable_push(&osd->pgs->unst, &u);
}

struct stab_grp {
	uint64_t osd;
	struct ver_list l;
};

struct stab_batch {
	struct osd *osd;
	int pending;
	int64_t result;
	void (*done)(struct osd *osd, int64_t result);
	struct bs_op bs;
	struct stab_grp *g;
	size_t ng;
};

static void batch_put(struct stab_batch *b)
{
	if (--b->pending)
		return;
	for (size_t i = 0; i < b->ng; i++)
		free(b->g[i].l.v);
	free(b->g);
	b->done(b->osd, b->result);
	free(b);
}

static void batch_fail(struct stab_batch *b, int64_t rv, uint64_t num)
{
	if (rv >= 0)
		return;
	log_warn("stabilize on OSD %" PRIu64 " failed: %s", num, strerror((int)-rv));
	if (!b->result)
		b->result = rv;
}

static void batch_local_cb(struct bs_op *bop)
{
	struct stab_batch *b = bop->priv;

	batch_fail(b, bop->retval, b->osd->osd_num);
	batch_put(b);
}

static void batch_sub_cb(struct osd_op *sub)
{
	struct stab_batch *b = sub->obj;

	batch_fail(b, pg_sub_retval(sub), sub->peer);
	batch_put(b);
}

static struct ver_list *batch_grp(struct stab_batch *b, uint64_t num)
{
	struct stab_grp *ng;

	for (size_t i = 0; i < b->ng; i++)
		if (b->g[i].osd == num)
			return &b->g[i].l;
	ng = realloc(b->g, (b->ng + 1) * sizeof(*ng));
	if (!ng)
		return NULL;
	b->g = ng;
	memset(&ng[b->ng], 0, sizeof(ng[0]));
	ng[b->ng].osd = num;
	return &ng[b->ng++].l;
}

/* Groups the chunks of every still-current entry by OSD. */
static int batch_fill(struct stab_batch *b, const struct pg_unstable_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct pg_unstable *u = &l->v[i];
		const struct pgrun *pg = u->pg;

		if (pg->round != u->round || pg->st != PG_ACTIVE)
			continue;	/* re-peered: the peering stabilized or rolled back */
		for (uint32_t pos = 0; pos < pg->size; pos++) {
			struct ver_list *vl;

			if (!pg->cur[pos])
				continue;
			vl = batch_grp(b, pg->cur[pos]);
			if (!vl || pg_ver_push(vl, u->inode, u->stripe | pos, u->version))
				return -ENOMEM;
		}
	}
	return 0;
}

void pg_unstable_stabilize(struct osd *osd, struct pg_unstable_list *l,
			   void (*done)(struct osd *osd, int64_t result))
{
	struct stab_batch *b = calloc(1, sizeof(*b));

	if (!b) {
		l->n = 0;
		done(osd, -ENOMEM);
		return;
	}
	b->osd = osd;
	b->done = done;
	b->pending = 1;
	if (batch_fill(b, l))
		b->result = -ENOMEM;
	l->n = 0;
	for (size_t i = 0; i < b->ng && !b->result; i++) {
		struct stab_grp *g = &b->g[i];
		struct osd_op *s;

		b->pending++;
		if (g->osd == osd->osd_num) {
			memset(&b->bs, 0, sizeof(b->bs));
			b->bs.opcode = BS_OP_STABILIZE;
			b->bs.vers = g->l.v;
			b->bs.nvers = g->l.n;
			b->bs.cb = batch_local_cb;
			b->bs.priv = b;
			bs_submit(osd->bs, &b->bs);
		} else if ((s = pg_sub_vers(osd, g->osd, VS_OP_SEC_STABILIZE, g->l.v, g->l.n,
					     batch_sub_cb))) {
			s->obj = b;
		} else {
			b->pending--;
			batch_fail(b, -EPIPE, g->osd);
		}
	}
	batch_put(b);
}

/* ---- recovery reads ---- */

static void rec_read_step(struct osd_op *op)
{
	struct ecx *x = ecx_of(op);
	struct pgrun *pg = op->pg;
	struct obj *o = op->obj;
	struct ec_set have = { { 0 } }, want = { { 0 } };
	uint64_t tver = o->st ? o->st->tver : 0;
	int r = op->result;

	for (uint32_t role = 0; role < x->n && !r; role++) {
		if (x->read & (1ull << role)) {
			if (x->rver[role] != tver)
				r = -EIO;
			ec_set_add(&have, role);
		} else {
			ec_set_add(&want, role);
		}
	}
	if (!r)
		r = ec_decode(pg->ec, &have, &want, (void *const *)x->chunk, x->clen);
	if (!r)
		r = ec_decode(pg->ec, &have, &want, (void *const *)x->bmp, op->osd->bitmap_size);
	if (r)
		log_warn("recovery: reading %" PRIx64 ":%" PRIx64 " v%" PRIu64 " failed: %s",
			 o->inode, o->stripe, tver, strerror(-r));
	pg_rec_read_done(op, r == 0);
}

/* Reads k chunks of the target version (this OSD's first) and decodes
 * the others, so every role can be written from op's scratch. */
void pg_ec_rec_read(struct osd_op *op)
{
	struct osd *osd = op->osd;
	struct pgrun *pg = op->pg;
	struct obj *o = op->obj;
	const struct obj_st *st = o->st;
	uint64_t src[MAX_SET] = { 0 };
	uint32_t nsrc = 0;
	bool local = false;
	struct ecx *x;

	for (uint32_t i = 0; i < st->nloc; i++) {
		const struct obj_loc *l = &st->loc[i];

		if (l->version != st->tver || l->role >= pg->size)
			continue;
		if (!src[l->role] || l->osd == osd->osd_num)
			src[l->role] = l->osd;
	}
	for (uint32_t r = 0; r < pg->size; r++)
		nsrc += src[r] != 0;
	x = nsrc >= pg->data_chunks ? ecx_alloc(osd, op, pg->size, pg->data_chunks, osd->block_size)
				    : NULL;
	if (!x || !pg->ec) {
		pg_rec_read_done(op, false);
		return;
	}
	op->result = 0;
	op->pending = 1;
	x->step = rec_read_step;
	nsrc = 0;
	for (uint32_t role = 0; role < pg->size && nsrc < pg->data_chunks; role++) {
		if (!src[role] || (src[role] == osd->osd_num && local))
			continue;	/* op->bs serves one local read */
		local |= src[role] == osd->osd_num;
		x->dst[role] = x->chunk[role];
		x->dbmp[role] = x->bmp[role];
		nsrc++;
		ecx_read(op, o, role, src[role], 0, osd->block_size, st->tver);
	}
	if (nsrc < pg->data_chunks && !op->result)
		op->result = -EIO;
	ecx_put(op);
}

void pg_ec_rec_chunk(struct osd_op *op, uint32_t role, void **buf, void **bmp)
{
	struct ecx *x = ecx_of(op);

	*buf = x->chunk[role];
	*bmp = x->bmp[role];
}
