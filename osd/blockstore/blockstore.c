/* vstor blockstore engine. Design and on-disk format: FORMAT.md. */
#include "blockstore.h"
#include "bs_disk.h"
#include "crc32c.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NONE32 UINT32_MAX
#define SEQ_GAP (1ull << 32)

/* OF_FRESH: the clean block was installed by a big write whose journal entry
 * may still be replayed (its data CRC is checked then), so the flusher must
 * not modify the block in place until the journal is trimmed past it. */
enum { OF_QUEUED = 1, OF_FREE = 2, OF_FRESH = 4 };

/* 40 bytes; bitmaps live in obj_bmp (2 x bitmap_size per object). */
struct obj {
	uint64_t inode, stripe;
	uint64_t version;   /* clean (flushed) version; 0 = none */
	uint32_t block;     /* clean block or NONE32 */
	uint32_t head, tail; /* dirty chain (oldest first) */
	uint32_t flags;
};

struct dent {
	uint64_t version, seq, stab_seq, loc;
	uint32_t next, offset, len, rec;
	uint8_t type;
};

enum { R_OPEN = 0, R_WRITING = 1, R_DONE = 2 };

struct rec {
	uint64_t seq, prev;
	uint32_t pos, nsect, live, pending;
	uint32_t hdr_bytes, nent;
	struct bs_op *ops, *ops_tail;
	uint8_t state, wrap;
	struct bs_io io;
};

struct dfree {
	uint32_t blk;
	uint64_t tag, epoch;
};

/* Deferred per-object work released by journal trimming. */
enum { TOMB_DELETE = 0, TOMB_FRESH = 1 };
struct tomb {
	uint32_t obj, blk;
	uint64_t seq;
	int kind;
};

struct flush_item {
	uint32_t obj, nent;
	uint32_t cow_blk; /* copy-on-write target block, or NONE32 */
	uint32_t cow_idx; /* index into cow_buf */
};
#define COW_MAX 8

struct bs {
	struct ringloop *rl;
	struct bs_backend *be;
	struct bs_config cfg;
	struct bs_sb sb;
	uint32_t block_size, gran, bmp_size, bmp8, ngran;
	uint32_t ment_size, ment_per_block, jent_size;
	uint64_t nblocks, nmeta_blocks;
	bool writes_durable, jdsync, ddsync;

	/* index */
	struct obj *objs;
	uint8_t *obj_bmp;
	uint32_t nobjs_cap, nobjs, obj_free;
	uint32_t *htab;
	uint32_t hcap;
	uint32_t *clean_owner;   /* per block */
	uint64_t *used_bm;       /* per block: allocated */
	uint64_t nfree, alloc_hint;
	struct dent *dents;
	uint8_t *dent_bmp;
	uint32_t ndents_cap, dent_free, ndents;

	/* journal */
	uint8_t *mirror;         /* whole journal area */
	uint32_t ring_start, ring_end, head, used, max_rec_data;
	uint64_t next_seq, last_seq, completed_seq, durable_seq, trimmed_seq;
	struct rec *recs;
	uint32_t rcap, rfirst, rcount, nack;
	uint32_t open_rec;       /* NONE32 when no record is open */
	struct ringloop_defer close_d;

	/* deferred block frees and read grace periods */
	struct dfree *dfr;
	uint64_t dfr_cap, dfr_first, dfr_count;
	uint64_t gp_epoch, gp_done;
	uint32_t gp_cnt[2];
	struct tomb *tombs;
	uint64_t tomb_cap, tomb_first, tomb_count;

	/* waiting ops (journal or blocks exhausted) */
	struct bs_op *wq, *wq_tail;
	struct ringloop_defer wq_d;
	bool in_dispatch;

	/* sync */
	struct bs_op *sw, *sw_tail;
	bool sync_inflight;
	uint32_t sync_pending;
	uint64_t sync_target;
	struct bs_io sync_io[2];
	struct bs_op autosync;
	bool autosync_busy;

	/* flusher */
	uint32_t *fq;
	uint32_t fq_cap, fq_first, fq_count;
	struct flush_item *fl;
	uint32_t fl_n, fl_pending, fl_state;
	bool fl_active, fl_force, fl_data_written;
	uint32_t *fl_recs;
	size_t fl_nrecs, fl_recs_cap;
	uint32_t *mdirty;        /* list of dirty meta blocks */
	uint8_t *mdirty_bm;
	uint32_t nmdirty;
	uint8_t *mbuf;
	uint32_t mbuf_cap;
	uint8_t *cow_buf;
	uint32_t ncow;
	struct bs_io fl_fsync_io;
	struct ringloop_defer fl_d;

	/* trim */
	bool trim_inflight;
	uint32_t trim_k;
	uint64_t trim_pos, trim_prev;
	struct bs_io trim_io;

	/* io pool */
	struct bs_io *iofree;
	void **iochunks;
	size_t niochunks;

	/* scratch */
	uint32_t *chain;
	size_t chain_cap;

	bool failed;
	int inflight_reads;
	uint64_t inflight_ios;
	struct bs_stats st;
};

/* ---------- helpers ---------- */

static void *zalloc_aligned(size_t sz)
{
	void *p = NULL;

	if (posix_memalign(&p, BS_SECT, sz ? sz : BS_SECT))
		return NULL;
	memset(p, 0, sz);
	return p;
}

static uint64_t mix64(uint64_t a, uint64_t b)
{
	uint64_t h = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull + (a << 6) + (a >> 2));

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static inline void bit_set(uint8_t *bm, uint32_t i)
{
	bm[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static inline bool bit_get(const uint8_t *bm, uint32_t i)
{
	return bm[i >> 3] >> (i & 7) & 1;
}

static inline void bit_put(uint8_t *bm, uint32_t i, bool v)
{
	if (v)
		bm[i >> 3] |= (uint8_t)(1u << (i & 7));
	else
		bm[i >> 3] &= (uint8_t)~(1u << (i & 7));
}

static uint8_t *o_int(struct bs *bs, uint32_t oi)
{
	return bs->obj_bmp + (size_t)oi * 2 * bs->bmp_size;
}

static uint8_t *o_ext(struct bs *bs, uint32_t oi)
{
	return o_int(bs, oi) + bs->bmp_size;
}

static uint8_t *d_bmp(struct bs *bs, uint32_t di)
{
	return bs->dent_bmp + (size_t)di * bs->bmp_size;
}

static uint64_t block_off(struct bs *bs, uint32_t blk)
{
	return bs->sb.data_offset + BS_SECT + (uint64_t)blk * bs->block_size;
}

/* ---------- io pool ---------- */

static struct bs_io *io_get(struct bs *bs)
{
	struct bs_io *io;

	if (!bs->iofree) {
		size_t n = 256;
		struct bs_io *chunk = calloc(n, sizeof(*chunk));
		void **ch = realloc(bs->iochunks, (bs->niochunks + 1) * sizeof(*ch));

		if (!chunk || !ch) {
			free(chunk);
			if (ch)
				bs->iochunks = ch;
			return NULL;
		}
		bs->iochunks = ch;
		ch[bs->niochunks++] = chunk;
		for (size_t i = 0; i < n; i++) {
			chunk[i].next = bs->iofree;
			bs->iofree = &chunk[i];
		}
	}
	io = bs->iofree;
	bs->iofree = io->next;
	memset(io, 0, sizeof(*io));
	io->owner = bs;
	return io;
}

static void io_put(struct bs *bs, struct bs_io *io)
{
	io->next = bs->iofree;
	bs->iofree = io;
}

static void do_read(struct bs *bs, int slot, void *buf, size_t len, uint64_t off, struct bs_io *io)
{
	bs->inflight_ios++;
	bs->be->ops->read(bs->be, slot, buf, len, off, io);
}

static int dbg = -1;
#define DBG(...) do { if (dbg < 0) dbg = getenv("BS_DEBUG") != NULL; if (dbg) fprintf(stderr, __VA_ARGS__); } while (0)

static void do_write(struct bs *bs, int slot, const void *buf, size_t len, uint64_t off, bool dsync,
	struct bs_io *io)
{
	if (slot == BS_SLOT_DATA)
		DBG("data write blk %llu +%llu len %zu\n", (unsigned long long)((off - bs->sb.data_offset - BS_SECT) / bs->block_size),
			(unsigned long long)((off - bs->sb.data_offset - BS_SECT) % bs->block_size), len);
	else if (slot == BS_SLOT_JOURNAL && off == bs->sb.journal_offset + BS_SECT)
		DBG("trim write\n");
	bs->inflight_ios++;
	bs->st.bytes_written[slot] += len;
	bs->st.writes[slot]++;
	bs->be->ops->write(bs->be, slot, buf, len, off, dsync, io);
}

static void do_flush(struct bs *bs, int slot, struct bs_io *io)
{
	bs->inflight_ios++;
	bs->be->ops->flush(bs->be, slot, io);
}

static void fail(struct bs *bs, const char *what, int res)
{
	if (!bs->failed)
		fprintf(stderr, "blockstore: I/O error in %s: %s; the store stops accepting writes\n",
			what, strerror(-res));
	bs->failed = true;
}

/* ---------- hash index ---------- */

static uint32_t obj_find(struct bs *bs, uint64_t inode, uint64_t stripe)
{
	uint32_t mask = bs->hcap - 1, i = (uint32_t)mix64(inode, stripe) & mask;

	for (;;) {
		uint32_t oi = bs->htab[i];

		if (oi == NONE32)
			return NONE32;
		if (bs->objs[oi].inode == inode && bs->objs[oi].stripe == stripe)
			return oi;
		i = (i + 1) & mask;
	}
}

static void h_put(struct bs *bs, uint32_t oi)
{
	uint32_t mask = bs->hcap - 1;
	uint32_t i = (uint32_t)mix64(bs->objs[oi].inode, bs->objs[oi].stripe) & mask;

	while (bs->htab[i] != NONE32)
		i = (i + 1) & mask;
	bs->htab[i] = oi;
}

static int h_grow(struct bs *bs)
{
	uint32_t ncap = bs->hcap * 2;
	uint32_t *nt = malloc((size_t)ncap * sizeof(*nt));
	uint32_t *old = bs->htab, ocap = bs->hcap;

	if (!nt)
		return -ENOMEM;
	memset(nt, 0xff, (size_t)ncap * sizeof(*nt));
	bs->htab = nt;
	bs->hcap = ncap;
	for (uint32_t i = 0; i < ocap; i++)
		if (old[i] != NONE32)
			h_put(bs, old[i]);
	free(old);
	return 0;
}

static uint32_t obj_insert(struct bs *bs, uint64_t inode, uint64_t stripe)
{
	uint32_t oi;
	struct obj *o;

	if ((uint64_t)(bs->nobjs + 1) * 4 > (uint64_t)bs->hcap * 3 && h_grow(bs))
		return NONE32;
	if (bs->obj_free == NONE32) {
		uint32_t ncap = bs->nobjs_cap ? bs->nobjs_cap * 2 :
			bs->nblocks > 1024 ? (uint32_t)bs->nblocks : 1024;
		struct obj *no = realloc(bs->objs, (size_t)ncap * sizeof(*no));
		uint8_t *nb;

		if (!no)
			return NONE32;
		bs->objs = no;
		nb = realloc(bs->obj_bmp, (size_t)ncap * 2 * bs->bmp_size);
		if (!nb)
			return NONE32;
		bs->obj_bmp = nb;
		for (uint32_t i = ncap; i-- > bs->nobjs_cap;) {
			bs->objs[i].flags = OF_FREE;
			bs->objs[i].head = bs->obj_free;
			bs->obj_free = i;
		}
		bs->nobjs_cap = ncap;
	}
	oi = bs->obj_free;
	o = &bs->objs[oi];
	bs->obj_free = o->head;
	memset(o, 0, sizeof(*o));
	o->inode = inode;
	o->stripe = stripe;
	o->block = NONE32;
	o->head = o->tail = NONE32;
	memset(o_int(bs, oi), 0, 2 * bs->bmp_size);
	bs->nobjs++;
	h_put(bs, oi);
	return oi;
}

static void obj_remove(struct bs *bs, uint32_t oi)
{
	uint32_t mask = bs->hcap - 1;
	uint32_t i = (uint32_t)mix64(bs->objs[oi].inode, bs->objs[oi].stripe) & mask;

	while (bs->htab[i] != oi)
		i = (i + 1) & mask;
	/* backward-shift deletion */
	for (;;) {
		uint32_t j = i;

		bs->htab[i] = NONE32;
		for (;;) {
			uint32_t k;

			j = (j + 1) & mask;
			if (bs->htab[j] == NONE32)
				goto done;
			k = (uint32_t)mix64(bs->objs[bs->htab[j]].inode, bs->objs[bs->htab[j]].stripe) & mask;
			/* move j to i if k is cyclically outside (i, j] */
			if (i <= j ? (i >= k || k > j) : (i >= k && k > j))
				break;
		}
		bs->htab[i] = bs->htab[j];
		i = j;
	}
done:
	bs->objs[oi].flags = OF_FREE;
	bs->objs[oi].head = bs->obj_free;
	bs->obj_free = oi;
	bs->nobjs--;
}

/* ---------- dirty entries ---------- */

static uint32_t dent_alloc(struct bs *bs)
{
	uint32_t di;

	if (bs->dent_free == NONE32) {
		uint32_t ncap = bs->ndents_cap ? bs->ndents_cap * 2 : 1024;
		struct dent *nd = realloc(bs->dents, (size_t)ncap * sizeof(*nd));
		uint8_t *nb;

		if (!nd)
			return NONE32;
		bs->dents = nd;
		nb = realloc(bs->dent_bmp, (size_t)ncap * bs->bmp_size);
		if (!nb)
			return NONE32;
		bs->dent_bmp = nb;
		for (uint32_t i = ncap; i-- > bs->ndents_cap;) {
			bs->dents[i].next = bs->dent_free;
			bs->dent_free = i;
		}
		bs->ndents_cap = ncap;
	}
	di = bs->dent_free;
	bs->dent_free = bs->dents[di].next;
	memset(&bs->dents[di], 0, sizeof(bs->dents[di]));
	bs->dents[di].next = NONE32;
	bs->ndents++;
	return di;
}

static void dent_free(struct bs *bs, uint32_t di)
{
	bs->dents[di].next = bs->dent_free;
	bs->dent_free = di;
	bs->ndents--;
}

static void chain_append(struct bs *bs, uint32_t oi, uint32_t di)
{
	struct obj *o = &bs->objs[oi];

	bs->dents[di].next = NONE32;
	if (o->tail == NONE32)
		o->head = di;
	else
		bs->dents[o->tail].next = di;
	o->tail = di;
}

/* Collects the object's chain indices into bs->chain; returns length. */
static size_t chain_collect(struct bs *bs, uint32_t oi)
{
	size_t n = 0;

	for (uint32_t di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next) {
		if (n == bs->chain_cap) {
			size_t nc = bs->chain_cap ? bs->chain_cap * 2 : 64;
			uint32_t *c = realloc(bs->chain, nc * sizeof(*c));

			if (!c)
				abort();
			bs->chain = c;
			bs->chain_cap = nc;
		}
		bs->chain[n++] = di;
	}
	return n;
}

static uint64_t obj_newest(struct bs *bs, uint32_t oi, bool *deleted)
{
	struct obj *o = &bs->objs[oi];

	if (o->tail != NONE32) {
		*deleted = bs->dents[o->tail].type == BS_JE_DELETE;
		return bs->dents[o->tail].version;
	}
	*deleted = o->block == NONE32;
	return o->version;
}

/* Applies the external bitmap bits of [off, off+len) from src to dst. */
static void bmp_apply(struct bs *bs, uint8_t *dst, const uint8_t *src, uint32_t off, uint32_t len)
{
	for (uint32_t g = off / bs->gran; g < (off + len) / bs->gran; g++)
		bit_put(dst, g, src ? bit_get(src, g) : true);
}

/* External bitmap of the version at chain position upto (-1 = clean). */
static void ext_at(struct bs *bs, uint32_t oi, const uint32_t *chain, long upto, uint8_t *out)
{
	if (bs->objs[oi].block != NONE32)
		memcpy(out, o_ext(bs, oi), bs->bmp_size);
	else
		memset(out, 0, bs->bmp_size);
	for (long i = 0; i <= upto; i++) {
		struct dent *e = &bs->dents[chain[i]];

		if (e->type == BS_JE_DELETE || e->type == BS_JE_BIG)
			memset(out, 0, bs->bmp_size);
		if (e->type != BS_JE_DELETE)
			bmp_apply(bs, out, d_bmp(bs, chain[i]), e->offset, e->len);
	}
}

/* ---------- blocks ---------- */

static uint32_t block_alloc(struct bs *bs)
{
	if (!bs->nfree)
		return NONE32;
	for (uint64_t n = 0; n <= bs->nblocks / 64 + 1; n++) {
		uint64_t w = (bs->alloc_hint / 64 + n) % ((bs->nblocks + 63) / 64);
		uint64_t v = ~bs->used_bm[w];

		if (!v)
			continue;
		uint64_t b = w * 64 + (uint64_t)__builtin_ctzll(v);

		if (b >= bs->nblocks)
			continue;
		bs->used_bm[w] |= 1ull << (b & 63);
		bs->nfree--;
		bs->alloc_hint = b + 1;
		return (uint32_t)b;
	}
	return NONE32;
}

static void block_mark_used(struct bs *bs, uint32_t b)
{
	if (!(bs->used_bm[b / 64] >> (b & 63) & 1)) {
		bs->used_bm[b / 64] |= 1ull << (b & 63);
		bs->nfree--;
	}
}

static bool block_used(struct bs *bs, uint32_t b)
{
	return bs->used_bm[b / 64] >> (b & 63) & 1;
}

static void kick_waitq(struct bs *bs);

static void gp_release(struct bs *bs)
{
	bool any = false;

	while (bs->dfr_count) {
		struct dfree *f = &bs->dfr[bs->dfr_first];

		if (f->tag > bs->trimmed_seq || f->epoch > bs->gp_done)
			break;
		bs->used_bm[f->blk / 64] &= ~(1ull << (f->blk & 63));
		bs->nfree++;
		DBG("release blk %u tag %llu trimmed %llu\n", f->blk, (unsigned long long)f->tag, (unsigned long long)bs->trimmed_seq);
		bs->dfr_first = (bs->dfr_first + 1) % bs->dfr_cap;
		bs->dfr_count--;
		any = true;
	}
	if (any)
		kick_waitq(bs);
}

static void gp_poll(struct bs *bs)
{
	for (;;) {
		if (bs->gp_done + 1 < bs->gp_epoch) {
			if (bs->gp_cnt[(bs->gp_done + 1) & 1])
				break;
			bs->gp_done++;
			continue;
		}
		if (bs->dfr_count && bs->dfr[(bs->dfr_first + bs->dfr_count - 1) % bs->dfr_cap].epoch > bs->gp_done) {
			bs->gp_epoch++;
			continue;
		}
		break;
	}
	gp_release(bs);
}

/* Frees a block once no journal record can reference it and no read that
 * started before now is still running. */
static void block_free_deferred(struct bs *bs, uint32_t b)
{
	struct dfree *f;

	if (bs->dfr_count == bs->dfr_cap)
		abort(); /* cannot happen: each block is freed at most once */
	f = &bs->dfr[(bs->dfr_first + bs->dfr_count) % bs->dfr_cap];
	f->blk = b;
	f->tag = bs->last_seq;
	f->epoch = bs->gp_epoch;
	bs->dfr_count++;
	DBG("free blk %u tag %llu\n", b, (unsigned long long)f->tag);
	gp_poll(bs);
}

/* ---------- flush queue ---------- */

static void fq_push(struct bs *bs, uint32_t oi)
{
	if (bs->objs[oi].flags & OF_QUEUED)
		return;
	if (bs->fq_count == bs->fq_cap) {
		uint32_t ncap = bs->fq_cap ? bs->fq_cap * 2 : 1024;
		uint32_t *n = malloc((size_t)ncap * sizeof(*n));

		if (!n)
			abort();
		for (uint32_t i = 0; i < bs->fq_count; i++)
			n[i] = bs->fq[(bs->fq_first + i) % bs->fq_cap];
		free(bs->fq);
		bs->fq = n;
		bs->fq_first = 0;
		bs->fq_cap = ncap;
	}
	bs->fq[(bs->fq_first + bs->fq_count) % bs->fq_cap] = oi;
	bs->fq_count++;
	bs->objs[oi].flags |= OF_QUEUED;
}

static uint32_t fq_pop(struct bs *bs)
{
	uint32_t oi = bs->fq[bs->fq_first];

	bs->fq_first = (bs->fq_first + 1) % bs->fq_cap;
	bs->fq_count--;
	bs->objs[oi].flags &= ~(uint32_t)OF_QUEUED;
	return oi;
}

static void flush_kick(struct bs *bs);

/* ---------- journal records ---------- */

static struct rec *rec_at(struct bs *bs, uint32_t k)
{
	return &bs->recs[(bs->rfirst + k) % bs->rcap];
}

static uint32_t rec_index(struct bs *bs, uint32_t k)
{
	return (bs->rfirst + k) % bs->rcap;
}

static void process_completions(struct bs *bs);
static void sync_kick(struct bs *bs);

static void rec_io_done(struct bs *bs, struct rec *r)
{
	if (--r->pending == 0 && r->state == R_WRITING) {
		r->state = R_DONE;
		process_completions(bs);
	}
}

static void rec_write_cb(struct bs_io *io, int res)
{
	struct bs *bs = io->owner;
	struct rec *r = &bs->recs[io->arg];

	bs->inflight_ios--;
	if (res < 0)
		fail(bs, "journal write", res);
	rec_io_done(bs, r);
}

static void big_write_cb(struct bs_io *io, int res)
{
	struct bs *bs = io->owner;
	struct rec *r = &bs->recs[io->arg];

	bs->inflight_ios--;
	if (res < 0)
		fail(bs, "data write", res);
	io_put(bs, io);
	rec_io_done(bs, r);
}

static void rec_close(struct bs *bs)
{
	uint32_t ri = bs->open_rec;
	struct rec *r;
	struct bs_jhdr *h;

	if (ri == NONE32)
		return;
	r = &bs->recs[ri];
	bs->open_rec = NONE32;
	ringloop_defer_cancel(bs->rl, &bs->close_d);
	h = (struct bs_jhdr *)(void *)(bs->mirror + (size_t)r->pos * BS_SECT);
	memset(h, 0, sizeof(*h));
	h->magic = BS_JREC_MAGIC;
	h->seq = r->seq;
	h->prev = r->prev;
	memcpy(h->uuid, bs->sb.uuid, 8);
	h->nentries = r->nent;
	h->nsect = r->nsect;
	h->bytes = r->hdr_bytes;
	h->flags = r->wrap ? BS_JR_WRAP : 0;
	h->crc = crc32c(0, h, r->hdr_bytes);
	r->state = R_WRITING;
	r->pending++;
	memset(&r->io, 0, sizeof(r->io));
	r->io.cb = rec_write_cb;
	r->io.owner = bs;
	r->io.arg = ri;
	bs->st.records++;
	/* a wrap record only needs its header sector on disk */
	do_write(bs, BS_SLOT_JOURNAL, h, (size_t)(r->wrap ? 1 : r->nsect) * BS_SECT,
		bs->sb.journal_offset + (uint64_t)r->pos * BS_SECT, bs->jdsync, &r->io);
}

static void close_cb(struct ringloop_defer *d)
{
	struct bs *bs = (struct bs *)(void *)((char *)d - offsetof(struct bs, close_d));

	rec_close(bs);
}

static uint32_t rec_open(struct bs *bs, uint32_t nsect, bool wrap)
{
	uint32_t ri;
	struct rec *r;

	if (bs->rcount == bs->rcap)
		return NONE32;
	ri = rec_index(bs, bs->rcount);
	bs->rcount++;
	r = &bs->recs[ri];
	memset(r, 0, sizeof(*r));
	r->seq = bs->next_seq++;
	r->prev = bs->last_seq;
	bs->last_seq = r->seq;
	r->pos = bs->head;
	r->nsect = nsect;
	r->hdr_bytes = sizeof(struct bs_jhdr);
	r->wrap = wrap;
	r->state = R_OPEN;
	bs->head += nsect;
	bs->used += nsect;
	return ri;
}

/* Reserves an entry (and dsect data sectors) in the open record. Returns
 * the entry and its record index, or NULL when the journal is full. */
static struct bs_jent *jent_reserve(struct bs *bs, uint32_t dsect, uint32_t *ri_out, uint32_t *data_sect)
{
	uint32_t ring = bs->ring_end - bs->ring_start;
	struct rec *r;
	struct bs_jent *e;

	if (bs->open_rec != NONE32) {
		r = &bs->recs[bs->open_rec];
		if (r->hdr_bytes + bs->jent_size > BS_SECT || r->nsect - 1 + dsect > bs->max_rec_data ||
			r->pos + r->nsect + dsect > bs->ring_end || bs->used + dsect > ring)
			rec_close(bs);
	}
	if (bs->open_rec == NONE32) {
		uint32_t need = 1 + dsect;

		if (bs->head == bs->ring_end)
			bs->head = bs->ring_start;
		if (bs->head + need > bs->ring_end) {
			uint32_t tail = bs->ring_end - bs->head;
			uint32_t wi;

			if (bs->used + tail + need > ring || bs->rcount + 2 > bs->rcap)
				return NULL;
			wi = rec_open(bs, tail, true);
			bs->open_rec = wi;
			rec_close(bs);
			bs->head = bs->ring_start;
		}
		if (bs->used + need > ring || bs->rcount + 1 > bs->rcap)
			return NULL;
		bs->open_rec = rec_open(bs, 1, false);
		ringloop_defer(bs->rl, &bs->close_d);
	}
	r = &bs->recs[bs->open_rec];
	e = (struct bs_jent *)(void *)(bs->mirror + (size_t)r->pos * BS_SECT + r->hdr_bytes);
	memset(e, 0, bs->jent_size);
	r->hdr_bytes += bs->jent_size;
	r->nent++;
	*data_sect = r->pos + r->nsect;
	r->nsect += dsect;
	bs->head += dsect;
	bs->used += dsect;
	*ri_out = bs->open_rec;
	return e;
}

static void rec_attach_op(struct bs *bs, uint32_t ri, struct bs_op *op)
{
	struct rec *r = &bs->recs[ri];

	op->next = NULL;
	if (r->ops_tail)
		r->ops_tail->next = op;
	else
		r->ops = op;
	r->ops_tail = op;
}

static void complete_op(struct bs_op *op)
{
	op->cb(op);
}

static void process_completions(struct bs *bs)
{
	bool adv = false;

	while (bs->nack < bs->rcount) {
		struct rec *r = rec_at(bs, bs->nack);
		struct bs_op *op, *next;

		if (r->state != R_DONE)
			break;
		bs->nack++;
		bs->completed_seq = r->seq;
		if (bs->writes_durable) {
			bs->durable_seq = r->seq;
			adv = true;
		}
		op = r->ops;
		r->ops = r->ops_tail = NULL;
		for (; op; op = next) {
			next = op->next;
			complete_op(op);
		}
	}
	sync_kick(bs);
	if (adv)
		flush_kick(bs);
}

/* ---------- op dispatch ---------- */

static void defer_done_cb(struct ringloop_defer *d)
{
	struct bs_op *op = (struct bs_op *)(void *)((char *)d - offsetof(struct bs_op, d));

	complete_op(op);
}

static void finish_later(struct bs *bs, struct bs_op *op, int retval)
{
	op->retval = retval;
	op->d.cb = defer_done_cb;
	op->d.queued = false;
	ringloop_defer(bs->rl, &op->d);
}

static bool need_wait(struct bs *bs)
{
	/* something can free journal space or blocks later */
	return bs->rcount > 0 || bs->dfr_count > 0 || bs->fq_count > 0 || bs->fl_active;
}

static void request_autosync(struct bs *bs);

/* Returns 1 when the op was queued or finished, 0 to wait (EAGAIN). */
static int do_write_op(struct bs *bs, struct bs_op *op)
{
	bool deleted = true, big, is_delete = op->opcode == BS_OP_DELETE;
	uint32_t oi = obj_find(bs, op->oid.inode, op->oid.stripe);
	uint64_t nv = 0, ver;
	uint32_t blk = NONE32, ri, dsect = 0, dsec, di;
	struct bs_jent *e;

	if (oi != NONE32)
		nv = obj_newest(bs, oi, &deleted);
	if (!is_delete && ((op->offset % bs->gran) || (op->len % bs->gran) ||
		op->offset > bs->block_size || op->len > bs->block_size - op->offset ||
		(op->len && !op->buf))) {
		finish_later(bs, op, -EINVAL);
		return 1;
	}
	ver = op->version ? op->version : nv + 1;
	if (op->version && op->version <= nv) {
		finish_later(bs, op, -EEXIST);
		return 1;
	}
	if (is_delete && deleted) {
		finish_later(bs, op, -ENOENT);
		return 1;
	}
	big = !is_delete && (deleted || (op->offset == 0 && op->len == bs->block_size));
	if (big) {
		if (((uintptr_t)op->buf % BS_SECT) && op->len) {
			finish_later(bs, op, -EINVAL);
			return 1;
		}
		blk = block_alloc(bs);
		if (blk == NONE32) {
			if (need_wait(bs)) {
				/* freeing blocks needs flushing, which needs
				 * durable entries */
				request_autosync(bs);
				return 0;
			}
			finish_later(bs, op, -ENOSPC);
			return 1;
		}
	} else if (!is_delete) {
		dsect = op->len / BS_SECT;
	}
	e = jent_reserve(bs, dsect, &ri, &dsec);
	if (!e) {
		if (blk != NONE32) {
			bs->used_bm[blk / 64] &= ~(1ull << (blk & 63));
			bs->nfree++;
		}
		request_autosync(bs);
		return 0;
	}
	if (oi == NONE32) {
		oi = obj_insert(bs, op->oid.inode, op->oid.stripe);
		if (oi == NONE32)
			abort();
	}
	di = dent_alloc(bs);
	if (di == NONE32)
		abort();
	e->type = is_delete ? BS_JE_DELETE : big ? BS_JE_BIG : BS_JE_SMALL;
	e->flags = (op->opcode == BS_OP_WRITE_STABLE || is_delete) ? BS_JEF_STABLE : 0;
	e->inode = op->oid.inode;
	e->stripe = op->oid.stripe;
	e->version = ver;
	e->offset = is_delete ? 0 : op->offset;
	e->len = is_delete ? 0 : op->len;
	memset(d_bmp(bs, di), 0, bs->bmp_size);
	if (!is_delete)
		bmp_apply(bs, d_bmp(bs, di), op->bitmap, op->offset, op->len);
	memcpy(e + 1, d_bmp(bs, di), bs->bmp_size);
	{
		struct dent *d = &bs->dents[di];
		struct rec *r = &bs->recs[ri];

		d->version = ver;
		d->seq = r->seq;
		/* deletes are born stable, like WRITE_STABLE */
		d->stab_seq = (op->opcode == BS_OP_WRITE_STABLE || is_delete) ? r->seq : 0;
		d->offset = e->offset;
		d->len = e->len;
		d->rec = ri;
		d->type = e->type;
		r->live++;
		if (e->type == BS_JE_SMALL) {
			uint8_t *dst = bs->mirror + (size_t)dsec * BS_SECT;

			memcpy(dst, op->buf, op->len);
			e->data_crc = crc32c(0, dst, op->len);
			e->loc = dsec;
			d->loc = dsec;
		} else if (e->type == BS_JE_BIG) {
			struct bs_io *io = io_get(bs);

			e->data_crc = crc32c(0, op->buf, op->len);
			e->loc = blk;
			d->loc = blk;
			if (op->len) {
				if (!io)
					abort();
				io->cb = big_write_cb;
				io->arg = ri;
				r->pending++;
				do_write(bs, BS_SLOT_DATA, op->buf, op->len, block_off(bs, blk) + op->offset,
					bs->ddsync, io);
			}
		}
	}
	if (bs->dents[di].stab_seq)
		for (uint32_t k = bs->objs[oi].head; k != NONE32; k = bs->dents[k].next)
			if (!bs->dents[k].stab_seq)
				bs->dents[k].stab_seq = bs->dents[di].stab_seq;
	chain_append(bs, oi, di);
	fq_push(bs, oi);
	bs->st.user_bytes_written += op->len;
	op->version = ver;
	op->retval = is_delete ? 0 : (int)op->len;
	rec_attach_op(bs, ri, op);
	return 1;
}

static int do_stabilize_op(struct bs *bs, struct bs_op *op)
{
	/* op->blk = progress */
	if (op->blk == 0) {
		for (uint32_t i = 0; i < op->nvers; i++) {
			const struct bs_obj_ver *v = &op->vers[i];
			uint32_t oi = obj_find(bs, v->inode, v->stripe);
			uint64_t stable = 0;
			bool found = false, busy = false;

			if (oi == NONE32) {
				finish_later(bs, op, -ENOENT);
				return 1;
			}
			stable = bs->objs[oi].version;
			for (uint32_t di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next) {
				struct dent *d = &bs->dents[di];

				if (d->stab_seq)
					stable = d->version;
				if (d->version <= v->version && d->seq > bs->durable_seq)
					busy = true;
				if (d->version == v->version)
					found = true;
			}
			if (v->version <= stable)
				continue;
			if (!found) {
				finish_later(bs, op, -ENOENT);
				return 1;
			}
			if (busy) {
				finish_later(bs, op, -EBUSY);
				return 1;
			}
		}
	}
	for (; op->blk < op->nvers; op->blk++) {
		const struct bs_obj_ver *v = &op->vers[op->blk];
		uint32_t oi = obj_find(bs, v->inode, v->stripe), ri, dsec;
		bool any = false;
		struct bs_jent *e;

		if (oi == NONE32)
			continue;
		for (uint32_t di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next)
			if (bs->dents[di].version <= v->version && !bs->dents[di].stab_seq)
				any = true;
		if (!any)
			continue;
		e = jent_reserve(bs, 0, &ri, &dsec);
		if (!e)
			return 0;
		e->type = op->opcode == BS_OP_STABILIZE ? BS_JE_STABILIZE : BS_JE_ROLLBACK;
		e->inode = v->inode;
		e->stripe = v->stripe;
		e->version = v->version;
		for (uint32_t di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next)
			if (bs->dents[di].version <= v->version && !bs->dents[di].stab_seq)
				bs->dents[di].stab_seq = bs->recs[ri].seq;
		fq_push(bs, oi);
	}
	op->retval = 0;
	if (bs->open_rec != NONE32)
		rec_attach_op(bs, bs->open_rec, op);
	else
		finish_later(bs, op, 0);
	flush_kick(bs);
	return 1;
}

/* Removes unstable versions > ver from the object (memory only). */
static void rollback_obj(struct bs *bs, uint32_t oi, uint64_t ver)
{
	struct obj *o = &bs->objs[oi];
	uint32_t prev = NONE32;

	for (uint32_t di = o->head; di != NONE32;) {
		struct dent *d = &bs->dents[di];
		uint32_t next = d->next;

		if (d->version > ver) {
			if (prev == NONE32)
				o->head = next;
			else
				bs->dents[prev].next = next;
			if (o->tail == di)
				o->tail = prev;
			bs->recs[d->rec].live--;
			if (d->type == BS_JE_BIG)
				block_free_deferred(bs, (uint32_t)d->loc);
			dent_free(bs, di);
			o = &bs->objs[oi];
		} else {
			prev = di;
		}
		di = next;
	}
}

static int do_rollback_op(struct bs *bs, struct bs_op *op)
{
	if (op->blk == 0) {
		for (uint32_t i = 0; i < op->nvers; i++) {
			const struct bs_obj_ver *v = &op->vers[i];
			uint32_t oi = obj_find(bs, v->inode, v->stripe);

			if (oi == NONE32) {
				finish_later(bs, op, -ENOENT);
				return 1;
			}
			if (v->version < bs->objs[oi].version) {
				finish_later(bs, op, -EBUSY);
				return 1;
			}
			for (uint32_t di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next)
				if (bs->dents[di].version > v->version && bs->dents[di].stab_seq) {
					finish_later(bs, op, -EBUSY);
					return 1;
				}
		}
	}
	for (; op->blk < op->nvers; op->blk++) {
		const struct bs_obj_ver *v = &op->vers[op->blk];
		uint32_t oi = obj_find(bs, v->inode, v->stripe), ri, dsec;
		bool any = false;
		struct bs_jent *e;

		if (oi == NONE32)
			continue;
		for (uint32_t di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next)
			if (bs->dents[di].version > v->version)
				any = true;
		if (!any)
			continue;
		e = jent_reserve(bs, 0, &ri, &dsec);
		if (!e)
			return 0;
		e->type = BS_JE_ROLLBACK;
		e->inode = v->inode;
		e->stripe = v->stripe;
		e->version = v->version;
		rollback_obj(bs, oi, v->version);
		if (bs->objs[oi].head == NONE32 && bs->objs[oi].version == 0 && bs->objs[oi].block == NONE32 &&
			!(bs->objs[oi].flags & OF_QUEUED))
			obj_remove(bs, oi);
	}
	op->retval = 0;
	if (bs->open_rec != NONE32)
		rec_attach_op(bs, bs->open_rec, op);
	else
		finish_later(bs, op, 0);
	return 1;
}

/* ---------- sync ---------- */

static void sync_done_cb(struct bs_io *io, int res)
{
	struct bs *bs = io->owner;

	bs->inflight_ios--;
	if (res < 0)
		fail(bs, "fsync", res);
	if (--bs->sync_pending)
		return;
	bs->sync_inflight = false;
	if (bs->sync_target > bs->durable_seq)
		bs->durable_seq = bs->sync_target;
	sync_kick(bs);
	flush_kick(bs);
}

static void sync_kick(struct bs *bs)
{
	while (bs->sw && bs->sw->sync_target <= bs->durable_seq) {
		struct bs_op *op = bs->sw;

		bs->sw = op->next;
		if (!bs->sw)
			bs->sw_tail = NULL;
		op->retval = 0;
		complete_op(op);
	}
	if (!bs->sw || bs->sync_inflight || bs->completed_seq < bs->sw->sync_target)
		return;
	bs->sync_target = bs->completed_seq;
	if (bs->writes_durable) {
		bs->durable_seq = bs->sync_target;
		sync_kick(bs);
		return;
	}
	bs->sync_inflight = true;
	bs->sync_pending = 1;
	for (int i = 0; i < 2; i++) {
		memset(&bs->sync_io[i], 0, sizeof(bs->sync_io[i]));
		bs->sync_io[i].cb = sync_done_cb;
		bs->sync_io[i].owner = bs;
	}
	if (!bs->cfg.disable_journal_fsync) {
		bs->sync_pending++;
		do_flush(bs, BS_SLOT_JOURNAL, &bs->sync_io[0]);
	}
	if (!bs->cfg.disable_data_fsync &&
		(bs->be->phys[BS_SLOT_DATA] != bs->be->phys[BS_SLOT_JOURNAL] || bs->cfg.disable_journal_fsync)) {
		bs->sync_pending++;
		do_flush(bs, BS_SLOT_DATA, &bs->sync_io[1]);
	}
	if (--bs->sync_pending == 0) {
		bs->sync_inflight = false;
		bs->durable_seq = bs->sync_target;
		sync_kick(bs);
		flush_kick(bs);
	}
}

static void do_sync_op(struct bs *bs, struct bs_op *op)
{
	op->sync_target = bs->last_seq;
	op->next = NULL;
	if (op->sync_target <= bs->durable_seq) {
		finish_later(bs, op, 0);
		return;
	}
	if (bs->sw_tail)
		bs->sw_tail->next = op;
	else
		bs->sw = op;
	bs->sw_tail = op;
	sync_kick(bs);
}

static void autosync_cb(struct bs_op *op)
{
	struct bs *bs = op->priv;

	bs->autosync_busy = false;
}

static void request_autosync(struct bs *bs)
{
	if (bs->autosync_busy || bs->writes_durable || bs->last_seq <= bs->durable_seq)
		return;
	bs->autosync_busy = true;
	bs->st.autosyncs++;
	memset(&bs->autosync, 0, sizeof(bs->autosync));
	bs->autosync.opcode = BS_OP_SYNC;
	bs->autosync.cb = autosync_cb;
	bs->autosync.priv = bs;
	do_sync_op(bs, &bs->autosync);
}

/* ---------- read ---------- */

static void read_io_cb(struct bs_io *io, int res)
{
	struct bs *bs = io->owner;
	struct bs_op *op = (struct bs_op *)(uintptr_t)io->arg;

	bs->inflight_ios--;
	io_put(bs, io);
	if (res < 0)
		op->retval = res;
	if (--op->pending == 0) {
		bs->gp_cnt[op->gp & 1]--;
		bs->inflight_reads--;
		gp_poll(bs);
		complete_op(op);
	}
}

/* Chain position of the version selected by sel: -1 = clean, -2 = none. */
static long select_version(struct bs *bs, uint32_t oi, size_t n, uint64_t sel)
{
	long t = -2;
	struct obj *o = &bs->objs[oi];

	if (o->version && (sel == BS_VER_STABLE || sel == BS_VER_NEWEST || o->version <= sel))
		t = -1;
	for (size_t i = 0; i < n; i++) {
		struct dent *d = &bs->dents[bs->chain[i]];

		if (sel == BS_VER_NEWEST || (sel == BS_VER_STABLE ? d->stab_seq != 0 : d->version <= sel))
			t = (long)i;
	}
	return t;
}

static void do_read_op(struct bs *bs, struct bs_op *op)
{
	uint32_t oi = obj_find(bs, op->oid.inode, op->oid.stripe);
	uint32_t g0 = op->offset / bs->gran, g1;
	size_t n = 0;
	long t = -2;
	uint64_t sel;
	uint8_t kind[256];
	uint64_t src[256];

	if ((op->offset % bs->gran) || (op->len % bs->gran) || op->offset > bs->block_size ||
		op->len > bs->block_size - op->offset || (op->len && ((uintptr_t)op->buf % BS_SECT))) {
		finish_later(bs, op, -EINVAL);
		return;
	}
	g1 = (op->offset + op->len) / bs->gran;
	sel = op->version;
	op->pending = 0;
	op->retval = (int)op->len;
	op->version = 0;
	if (op->bitmap)
		memset(op->bitmap, 0, bs->bmp_size);
	if (oi != NONE32) {
		n = chain_collect(bs, oi);
		t = select_version(bs, oi, n, sel);
	}
	if (t == -2 || (t >= 0 && bs->dents[bs->chain[t]].type == BS_JE_DELETE) ||
		(t == -1 && bs->objs[oi].block == NONE32)) {
		if (t >= 0)
			op->version = bs->dents[bs->chain[t]].version;
		else if (t == -1)
			op->version = bs->objs[oi].version;
		memset(op->buf, 0, op->len);
		finish_later(bs, op, (int)op->len);
		return;
	}
	if (op->bitmap)
		ext_at(bs, oi, bs->chain, t, op->bitmap);
	op->version = t >= 0 ? bs->dents[bs->chain[t]].version : bs->objs[oi].version;
	memset(kind, 0, sizeof(kind));
	{
		uint32_t left = g1 - g0;
		long i;

		for (i = t; i >= 0 && left; i--) {
			struct dent *d = &bs->dents[bs->chain[i]];
			uint32_t a = d->offset / bs->gran, b = (d->offset + d->len) / bs->gran;

			if (d->type == BS_JE_DELETE)
				break;
			for (uint32_t g = a > g0 ? a : g0; g < b && g < g1; g++) {
				if (kind[g])
					continue;
				if (d->type == BS_JE_SMALL) {
					kind[g] = 1;
					src[g] = d->loc * BS_SECT + ((uint64_t)g * bs->gran - d->offset);
				} else {
					kind[g] = 2;
					src[g] = block_off(bs, (uint32_t)d->loc) + (uint64_t)g * bs->gran;
				}
				left--;
			}
			if (d->type == BS_JE_BIG)
				break;
		}
		if (i < 0 && bs->objs[oi].block != NONE32) {
			for (uint32_t g = g0; g < g1; g++)
				if (!kind[g] && bit_get(o_int(bs, oi), g)) {
					kind[g] = 2;
					src[g] = block_off(bs, bs->objs[oi].block) + (uint64_t)g * bs->gran;
				}
		}
	}
	op->gp = (int)(bs->gp_epoch & 1);
	op->pending = 1;
	for (uint32_t g = g0; g < g1;) {
		uint8_t *dst = (uint8_t *)op->buf + ((size_t)g * bs->gran - op->offset);

		if (kind[g] == 0) {
			memset(dst, 0, bs->gran);
			g++;
		} else if (kind[g] == 1) {
			memcpy(dst, bs->mirror + src[g], bs->gran);
			g++;
		} else {
			uint32_t e = g + 1;
			struct bs_io *io;

			while (e < g1 && kind[e] == 2 && src[e] == src[e - 1] + bs->gran)
				e++;
			io = io_get(bs);
			if (!io)
				abort();
			io->cb = read_io_cb;
			io->arg = (uint64_t)(uintptr_t)op;
			op->pending++;
			do_read(bs, BS_SLOT_DATA, dst, (size_t)(e - g) * bs->gran, src[g], io);
			g = e;
		}
	}
	bs->gp_cnt[op->gp]++;
	bs->inflight_reads++;
	if (--op->pending == 0) {
		bs->gp_cnt[op->gp]--;
		bs->inflight_reads--;
		finish_later(bs, op, op->retval);
	}
}

static void do_read_bmp_op(struct bs *bs, struct bs_op *op)
{
	uint8_t *out = op->bmp_out;

	for (uint32_t i = 0; i < op->nvers; i++) {
		const struct bs_obj_ver *v = &op->vers[i];
		uint32_t oi = obj_find(bs, v->inode, v->stripe);
		uint64_t ver = 0;
		uint8_t *bm = out + (size_t)i * (8 + bs->bmp_size) + 8;

		memset(bm, 0, bs->bmp_size);
		if (oi != NONE32) {
			size_t n = chain_collect(bs, oi);
			long t = select_version(bs, oi, n, v->version);

			if (t >= 0)
				ver = bs->dents[bs->chain[t]].version;
			else if (t == -1)
				ver = bs->objs[oi].version;
			if (t != -2)
				ext_at(bs, oi, bs->chain, t, bm);
		}
		memcpy(out + (size_t)i * (8 + bs->bmp_size), &ver, 8);
	}
	finish_later(bs, op, (int)(op->nvers * (8 + bs->bmp_size)));
}

static int cmp_ov(const void *a, const void *b)
{
	const struct bs_obj_ver *x = a, *y = b;

	if (x->inode != y->inode)
		return x->inode < y->inode ? -1 : 1;
	if (x->stripe != y->stripe)
		return x->stripe < y->stripe ? -1 : 1;
	return x->version < y->version ? -1 : x->version > y->version;
}

static void do_list_op(struct bs *bs, struct bs_op *op)
{
	size_t cap = 64, ns = 0, nu = 0;
	struct bs_obj_ver *st = malloc(cap * sizeof(*st)), *un = malloc(cap * sizeof(*un));
	size_t capu = cap;

	op->list = NULL;
	op->list_count = op->list_stable_count = 0;
	if (!st || !un) {
		free(st);
		free(un);
		finish_later(bs, op, -ENOMEM);
		return;
	}
	for (uint32_t oi = 0; oi < bs->nobjs_cap; oi++) {
		struct obj *o = &bs->objs[oi];
		uint64_t sv = 0, uv = 0;
		bool sdel = true;

		if (o->flags & OF_FREE)
			continue;
		if (o->inode < op->min_inode || (op->max_inode && o->inode > op->max_inode))
			continue;
		if (op->pg_count) {
			uint64_t pss = op->pg_stripe_size ? op->pg_stripe_size : bs->block_size;

			if ((o->stripe / pss) % op->pg_count + 1 != op->pg_num)
				continue;
		}
		if (o->version && o->block != NONE32) {
			sv = o->version;
			sdel = false;
		}
		for (uint32_t di = o->head; di != NONE32; di = bs->dents[di].next) {
			struct dent *d = &bs->dents[di];

			if (d->stab_seq) {
				sv = d->version;
				sdel = d->type == BS_JE_DELETE;
			} else {
				uv = d->version;
			}
		}
		if (sv && !sdel) {
			if (ns == cap) {
				cap *= 2;
				st = realloc(st, cap * sizeof(*st));
				if (!st)
					abort();
			}
			st[ns++] = (struct bs_obj_ver){ o->inode, o->stripe, sv };
		}
		if (uv) {
			if (nu == capu) {
				capu *= 2;
				un = realloc(un, capu * sizeof(*un));
				if (!un)
					abort();
			}
			un[nu++] = (struct bs_obj_ver){ o->inode, o->stripe, uv };
		}
	}
	qsort(st, ns, sizeof(*st), cmp_ov);
	qsort(un, nu, sizeof(*un), cmp_ov);
	st = realloc(st, (ns + nu + 1) * sizeof(*st));
	if (!st)
		abort();
	memcpy(st + ns, un, nu * sizeof(*un));
	free(un);
	op->list = st;
	op->list_count = (uint32_t)(ns + nu);
	op->list_stable_count = (uint32_t)ns;
	finish_later(bs, op, (int)(ns + nu));
}

/* Returns 1 when handled, 0 when it must wait for journal space/blocks. */
static int dispatch(struct bs *bs, struct bs_op *op)
{
	switch (op->opcode) {
	case BS_OP_WRITE:
	case BS_OP_WRITE_STABLE:
	case BS_OP_DELETE:
		if (bs->failed) {
			finish_later(bs, op, -EIO);
			return 1;
		}
		return do_write_op(bs, op);
	case BS_OP_STABILIZE:
		return do_stabilize_op(bs, op);
	case BS_OP_ROLLBACK:
		return do_rollback_op(bs, op);
	case BS_OP_SYNC:
		do_sync_op(bs, op);
		return 1;
	default:
		finish_later(bs, op, -EINVAL);
		return 1;
	}
}

static void wq_run(struct ringloop_defer *d)
{
	struct bs *bs = (struct bs *)(void *)((char *)d - offsetof(struct bs, wq_d));

	while (bs->wq) {
		struct bs_op *op = bs->wq;

		bs->wq = op->next;
		if (!bs->wq)
			bs->wq_tail = NULL;
		if (!dispatch(bs, op)) {
			op->next = bs->wq;
			bs->wq = op;
			if (!bs->wq_tail)
				bs->wq_tail = op;
			flush_kick(bs);
			return;
		}
	}
}

static void kick_waitq(struct bs *bs)
{
	if (bs->wq)
		ringloop_defer(bs->rl, &bs->wq_d);
}

void bs_submit(struct bs *bs, struct bs_op *op)
{
	op->retval = 0;
	op->next = NULL;
	op->blk = 0;
	op->d.queued = false;
	switch (op->opcode) {
	case BS_OP_READ:
		do_read_op(bs, op);
		return;
	case BS_OP_READ_BMP:
		do_read_bmp_op(bs, op);
		return;
	case BS_OP_LIST:
		do_list_op(bs, op);
		return;
	default:
		break;
	}
	if (!bs->wq && dispatch(bs, op))
		return;
	if (bs->wq_tail)
		bs->wq_tail->next = op;
	else
		bs->wq = op;
	bs->wq_tail = op;
	op->next = NULL;
	flush_kick(bs);
}

/* ---------- flusher ---------- */

static bool dent_flushable(struct bs *bs, struct dent *d)
{
	return d->seq <= bs->durable_seq && d->stab_seq && d->stab_seq <= bs->durable_seq &&
		d->seq <= bs->completed_seq;
}

static void mark_meta_dirty(struct bs *bs, uint32_t blk)
{
	uint32_t mb = blk / bs->ment_per_block;

	if (bit_get(bs->mdirty_bm, mb))
		return;
	bit_set(bs->mdirty_bm, mb);
	bs->mdirty[bs->nmdirty++] = mb;
}

static void fill_meta_block(struct bs *bs, uint32_t mb, uint8_t *buf)
{
	memset(buf, 0, BS_SECT);
	for (uint32_t i = 0; i < bs->ment_per_block; i++) {
		uint64_t blk = (uint64_t)mb * bs->ment_per_block + i;
		struct bs_ment *m = (struct bs_ment *)(void *)(buf + (size_t)i * bs->ment_size);
		uint32_t oi;

		if (blk >= bs->nblocks)
			break;
		oi = bs->clean_owner[blk];
		if (oi == NONE32)
			continue;
		m->inode = bs->objs[oi].inode;
		m->stripe = bs->objs[oi].stripe;
		m->version = bs->objs[oi].version;
		memcpy(m + 1, o_int(bs, oi), 2 * bs->bmp_size);
		m->crc = crc32c(0, m, bs->ment_size);
	}
}

static void fl_step(struct bs *bs);

static void fl_io_cb(struct bs_io *io, int res)
{
	struct bs *bs = io->owner;

	bs->inflight_ios--;
	if (res < 0)
		fail(bs, "flusher I/O", res);
	if (io != &bs->fl_fsync_io)
		io_put(bs, io);
	if (--bs->fl_pending == 0)
		fl_step(bs);
}

static void fl_start(struct bs *bs)
{
	uint32_t n0 = bs->fq_count;

	bs->fl_n = 0;
	bs->ncow = 0;
	bs->fl_data_written = false;
	for (uint32_t k = 0; k < n0 && bs->fl_n < bs->cfg.flush_batch; k++) {
		uint32_t oi = fq_pop(bs), nent = 0, last_big = NONE32, total = 0;
		uint32_t di;

		for (di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next, total++) {
			if (!dent_flushable(bs, &bs->dents[di]))
				break;
			nent++;
			if (bs->dents[di].type != BS_JE_SMALL)
				last_big = nent - 1;
		}
		for (; di != NONE32; di = bs->dents[di].next)
			total++;
		if (nent && last_big == NONE32 && (bs->objs[oi].flags & OF_FRESH)) {
			/* The block's big write may still be replayed (CRC
			 * checked): no in-place writes. Under journal pressure
			 * copy the block to a new one, else wait for the trim. */
			uint32_t ring = bs->ring_end - bs->ring_start, nb = NONE32;

			if ((bs->wq || bs->fl_force || (uint64_t)bs->used * 2 >= ring) && bs->ncow < COW_MAX)
				nb = block_alloc(bs);
			if (nb == NONE32) {
				nent = 0;
			} else {
				if (nent < total)
					fq_push(bs, oi);
				bs->fl[bs->fl_n++] = (struct flush_item){ oi, nent, nb, bs->ncow++ };
				bs->st.cow_flushes++;
				continue;
			}
		}
		if (!nent) {
			if (total)
				fq_push(bs, oi);
			continue;
		}
		if (last_big != NONE32)
			nent = last_big + 1;
		if (nent < total)
			fq_push(bs, oi);
		bs->fl[bs->fl_n++] = (struct flush_item){ oi, nent, NONE32, 0 };
	}
	if (!bs->fl_n) {
		bs->fl_active = false;
		bs->fl_force = false;
		return;
	}
	bs->fl_active = true;
	bs->st.flush_passes++;
	bs->fl_pending = 1;
	bs->fl_state = bs->ncow ? 0 : 1;
	if (bs->ncow && !bs->cow_buf) {
		bs->cow_buf = zalloc_aligned((size_t)COW_MAX * bs->block_size);
		if (!bs->cow_buf)
			abort();
	}
	/* copy-on-write items: read the whole current block first */
	for (uint32_t i = 0; i < bs->fl_n; i++) {
		struct bs_io *io;

		if (bs->fl[i].cow_blk == NONE32)
			continue;
		io = io_get(bs);
		if (!io)
			abort();
		io->cb = fl_io_cb;
		bs->fl_pending++;
		do_read(bs, BS_SLOT_DATA, bs->cow_buf + (size_t)bs->fl[i].cow_idx * bs->block_size, bs->block_size,
			block_off(bs, bs->objs[bs->fl[i].obj].block), io);
	}
	/* in-place copies of small writes into the object's durable block */
	for (uint32_t i = 0; i < bs->fl_n; i++) {
		uint32_t oi = bs->fl[i].obj, nent = bs->fl[i].nent, j = 0;
		uint64_t src[256];
		uint8_t have[256];

		{
			uint32_t di = bs->objs[oi].head;

			for (uint32_t k = 1; k < nent; k++)
				di = bs->dents[di].next;
			if (bs->dents[di].type != BS_JE_SMALL)
				continue; /* metadata-only flush up to a big write or delete */
		}
		if (bs->objs[oi].block == NONE32)
			abort();
		if (bs->fl[i].cow_blk != NONE32)
			continue; /* written after the read completes */
		if (bs->objs[oi].flags & OF_FRESH)
			abort(); /* excluded in selection */
		memset(have, 0, sizeof(have));
		for (uint32_t di = bs->objs[oi].head; j < nent; di = bs->dents[di].next, j++) {
			struct dent *d = &bs->dents[di];

			for (uint32_t g = d->offset / bs->gran; g < (d->offset + d->len) / bs->gran; g++) {
				have[g] = 1;
				src[g] = d->loc * BS_SECT + ((uint64_t)g * bs->gran - d->offset);
			}
		}
		for (uint32_t g = 0; g < bs->ngran;) {
			uint32_t e = g + 1;
			struct bs_io *io;

			if (!have[g]) {
				g++;
				continue;
			}
			while (e < bs->ngran && have[e] && src[e] == src[e - 1] + bs->gran)
				e++;
			io = io_get(bs);
			if (!io)
				abort();
			io->cb = fl_io_cb;
			bs->fl_pending++;
			bs->fl_data_written = true;
			do_write(bs, BS_SLOT_DATA, bs->mirror + src[g], (size_t)(e - g) * bs->gran,
				block_off(bs, bs->objs[oi].block) + (uint64_t)g * bs->gran, false, io);
			g = e;
		}
	}
	if (--bs->fl_pending == 0)
		fl_step(bs);
}

static void tomb_push(struct bs *bs, uint32_t oi, uint32_t blk, uint64_t seq, int kind)
{
	struct tomb *t;

	if (bs->tomb_count == bs->tomb_cap) {
		uint64_t nc = bs->tomb_cap ? bs->tomb_cap * 2 : 256;
		struct tomb *ntb = malloc(nc * sizeof(*ntb));

		if (!ntb)
			abort();
		for (uint64_t k = 0; k < bs->tomb_count; k++)
			ntb[k] = bs->tombs[(bs->tomb_first + k) % bs->tomb_cap];
		free(bs->tombs);
		bs->tombs = ntb;
		bs->tomb_first = 0;
		bs->tomb_cap = nc;
	}
	t = &bs->tombs[(bs->tomb_first + bs->tomb_count) % bs->tomb_cap];
	t->obj = oi;
	t->blk = blk;
	t->seq = seq;
	t->kind = kind;
	bs->tomb_count++;
	if (kind == TOMB_FRESH)
		bs->objs[oi].flags |= OF_FRESH;
}

static void fl_apply(struct bs *bs)
{
	for (uint32_t i = 0; i < bs->fl_n; i++) {
		uint32_t oi = bs->fl[i].obj, nent = bs->fl[i].nent;
		size_t n = chain_collect(bs, oi);
		struct dent *last = &bs->dents[bs->chain[nent - 1]];
		uint8_t ext[32], intb[32];
		struct obj *o = &bs->objs[oi];
		uint32_t newblk = o->block;

		(void)n;
		ext_at(bs, oi, bs->chain, (long)nent - 1, ext);
		memcpy(intb, o_int(bs, oi), bs->bmp_size);
		if (last->type == BS_JE_SMALL) {
			for (uint32_t j = 0; j < nent; j++) {
				struct dent *d = &bs->dents[bs->chain[j]];

				bmp_apply(bs, intb, NULL, d->offset, d->len);
			}
			if (bs->fl[i].cow_blk != NONE32) {
				newblk = bs->fl[i].cow_blk;
				bs->clean_owner[o->block] = NONE32;
				mark_meta_dirty(bs, o->block);
				block_free_deferred(bs, o->block);
				o = &bs->objs[oi];
				o->flags &= ~(uint32_t)OF_FRESH;
			}
		} else {
			newblk = last->type == BS_JE_BIG ? (uint32_t)last->loc : NONE32;
			memset(intb, 0, bs->bmp_size);
			if (last->type == BS_JE_BIG)
				bmp_apply(bs, intb, NULL, last->offset, last->len);
			for (uint32_t j = 0; j + 1 < nent; j++) {
				struct dent *d = &bs->dents[bs->chain[j]];

				if (d->type == BS_JE_BIG)
					block_free_deferred(bs, (uint32_t)d->loc);
			}
			if (o->block != NONE32 && o->block != newblk) {
				bs->clean_owner[o->block] = NONE32;
				mark_meta_dirty(bs, o->block);
				block_free_deferred(bs, o->block);
			}
		}
		o = &bs->objs[oi];
		o->version = last->version;
		if (newblk != o->block && newblk != NONE32 && last->type == BS_JE_BIG) {
			o->block = newblk;
			tomb_push(bs, oi, newblk, bs->last_seq, TOMB_FRESH);
			o = &bs->objs[oi];
		}
		o->block = newblk;
		if (newblk != NONE32) {
			bs->clean_owner[newblk] = oi;
			mark_meta_dirty(bs, newblk);
			memcpy(o_int(bs, oi), intb, bs->bmp_size);
			memcpy(o_ext(bs, oi), ext, bs->bmp_size);
		} else {
			memset(o_int(bs, oi), 0, 2 * bs->bmp_size);
		}
		for (uint32_t j = 0; j < nent; j++) {
			uint32_t di = bs->chain[j];

			if (bs->fl_nrecs == bs->fl_recs_cap) {
				size_t nc = bs->fl_recs_cap ? bs->fl_recs_cap * 2 : 256;
				uint32_t *nr = realloc(bs->fl_recs, nc * sizeof(*nr));

				if (!nr)
					abort();
				bs->fl_recs = nr;
				bs->fl_recs_cap = nc;
			}
			bs->fl_recs[bs->fl_nrecs++] = bs->dents[di].rec;
			o->head = bs->dents[di].next;
			if (o->tail == di)
				o->tail = NONE32;
			if (j + 1 == nent && newblk == NONE32 && o->head == NONE32)
				tomb_push(bs, oi, NONE32, bs->last_seq, TOMB_DELETE);
			dent_free(bs, di);
		}
	}
}

static void try_trim(struct bs *bs);

static void fl_step(struct bs *bs)
{
	switch (bs->fl_state) {
	case 0: /* copy-on-write reads done: overlay journal data, write new blocks */
		bs->fl_state = 1;
		bs->fl_pending = 1;
		for (uint32_t i = 0; i < bs->fl_n; i++) {
			struct flush_item *it = &bs->fl[i];
			uint8_t *buf = bs->cow_buf + (size_t)it->cow_idx * bs->block_size;
			uint32_t j = 0;
			struct bs_io *io;

			if (it->cow_blk == NONE32)
				continue;
			for (uint32_t di = bs->objs[it->obj].head; j < it->nent; di = bs->dents[di].next, j++) {
				struct dent *d = &bs->dents[di];

				memcpy(buf + d->offset, bs->mirror + d->loc * BS_SECT, d->len);
			}
			io = io_get(bs);
			if (!io)
				abort();
			io->cb = fl_io_cb;
			bs->fl_pending++;
			bs->fl_data_written = true;
			do_write(bs, BS_SLOT_DATA, buf, bs->block_size, block_off(bs, it->cow_blk), false, io);
		}
		if (--bs->fl_pending)
			return;
		/* fallthrough */
	case 1: /* data copied: make it durable before metadata points to it */
		bs->fl_state = 2;
		if (bs->fl_data_written && !bs->cfg.disable_data_fsync) {
			memset(&bs->fl_fsync_io, 0, sizeof(bs->fl_fsync_io));
			bs->fl_fsync_io.cb = fl_io_cb;
			bs->fl_fsync_io.owner = bs;
			bs->fl_pending = 1;
			do_flush(bs, BS_SLOT_DATA, &bs->fl_fsync_io);
			return;
		}
		/* fallthrough */
	case 2: /* update the index, write metadata blocks */
		bs->fl_state = 3;
		fl_apply(bs);
		if (bs->mbuf_cap < bs->nmdirty) {
			free(bs->mbuf);
			bs->mbuf_cap = bs->nmdirty * 2;
			bs->mbuf = zalloc_aligned((size_t)bs->mbuf_cap * BS_SECT);
			if (!bs->mbuf)
				abort();
		}
		bs->fl_pending = 1;
		for (uint32_t i = 0; i < bs->nmdirty; i++) {
			uint32_t mb = bs->mdirty[i];
			uint8_t *buf = bs->mbuf + (size_t)i * BS_SECT;
			struct bs_io *io = io_get(bs);

			if (!io)
				abort();
			fill_meta_block(bs, mb, buf);
			bit_put(bs->mdirty_bm, mb, false);
			io->cb = fl_io_cb;
			bs->fl_pending++;
			do_write(bs, BS_SLOT_META, buf, BS_SECT,
				bs->sb.meta_offset + BS_SECT + (uint64_t)mb * BS_SECT, false, io);
		}
		bs->nmdirty = 0;
		if (--bs->fl_pending)
			return;
		/* fallthrough */
	case 3:
		bs->fl_state = 4;
		if (!bs->cfg.disable_meta_fsync) {
			memset(&bs->fl_fsync_io, 0, sizeof(bs->fl_fsync_io));
			bs->fl_fsync_io.cb = fl_io_cb;
			bs->fl_fsync_io.owner = bs;
			bs->fl_pending = 1;
			do_flush(bs, BS_SLOT_META, &bs->fl_fsync_io);
			return;
		}
		/* fallthrough */
	case 4:
		for (size_t i = 0; i < bs->fl_nrecs; i++)
			bs->recs[bs->fl_recs[i]].live--;
		bs->fl_nrecs = 0;
		bs->fl_active = false;
		bs->fl_state = 0;
		try_trim(bs);
		flush_kick(bs);
		return;
	default:
		return;
	}
}

static bool flush_wanted(struct bs *bs)
{
	uint32_t ring = bs->ring_end - bs->ring_start;

	return bs->fl_force || bs->wq || (uint64_t)bs->used * 100 >= (uint64_t)ring * bs->cfg.flush_start_pct ||
		bs->nfree < bs->nblocks / 8 + 1;
}

static void fl_defer_cb(struct ringloop_defer *d)
{
	struct bs *bs = (struct bs *)(void *)((char *)d - offsetof(struct bs, fl_d));

	if (bs->fl_active || bs->failed)
		return;
	if (bs->fq_count && flush_wanted(bs))
		fl_start(bs);
	else
		try_trim(bs);
}

static void flush_kick(struct bs *bs)
{
	if (!bs->fl_active)
		ringloop_defer(bs->rl, &bs->fl_d);
}

void bs_flush_all(struct bs *bs)
{
	bs->fl_force = true;
	request_autosync(bs);
	flush_kick(bs);
}

/* ---------- trim ---------- */

static void trim_cb(struct bs_io *io, int res)
{
	struct bs *bs = io->owner;

	bs->inflight_ios--;
	bs->trim_inflight = false;
	if (res < 0) {
		fail(bs, "journal trim", res);
		return;
	}
	for (uint32_t k = 0; k < bs->trim_k; k++) {
		bs->used -= bs->recs[bs->rfirst].nsect;
		bs->rfirst = (bs->rfirst + 1) % bs->rcap;
		bs->rcount--;
		bs->nack--;
	}
	if (bs->rcount == 0 && bs->open_rec == NONE32 && bs->used != 0)
		bs->used = 0;
	bs->trimmed_seq = bs->trim_prev;
	DBG("trimmed to %llu pos %llu\n", (unsigned long long)bs->trimmed_seq, (unsigned long long)bs->trim_pos);
	bs->st.trims++;
	while (bs->tomb_count) {
		struct tomb *t = &bs->tombs[bs->tomb_first];
		struct obj *o;

		if (t->seq > bs->trimmed_seq)
			break;
		o = &bs->objs[t->obj];
		if (t->kind == TOMB_FRESH) {
			if (!(o->flags & OF_FREE) && o->block == t->blk)
				o->flags &= ~(uint32_t)OF_FRESH;
		} else if (!(o->flags & (OF_FREE | OF_QUEUED)) && o->head == NONE32 && o->block == NONE32) {
			obj_remove(bs, t->obj);
		}
		bs->tomb_first = (bs->tomb_first + 1) % bs->tomb_cap;
		bs->tomb_count--;
	}
	gp_poll(bs);
	kick_waitq(bs);
	try_trim(bs);
}

static void try_trim(struct bs *bs)
{
	uint32_t k = 0;
	struct bs_jstart *js;

	if (bs->trim_inflight || bs->failed)
		return;
	while (k < bs->nack && rec_at(bs, k)->live == 0)
		k++;
	if (!k)
		return;
	bs->trim_k = k;
	bs->trim_prev = rec_at(bs, k - 1)->seq;
	if (k < bs->rcount)
		bs->trim_pos = rec_at(bs, k)->pos;
	else
		bs->trim_pos = bs->head == bs->ring_end ? bs->ring_start : bs->head;
	js = (struct bs_jstart *)(void *)(bs->mirror + BS_SECT);
	memset(js, 0, BS_SECT);
	js->magic = BS_JSTART_MAGIC;
	memcpy(js->uuid, bs->sb.uuid, 16);
	js->pos = bs->trim_pos;
	js->prev_seq = bs->trim_prev;
	js->crc = crc32c(0, js, sizeof(*js));
	bs->trim_inflight = true;
	memset(&bs->trim_io, 0, sizeof(bs->trim_io));
	bs->trim_io.cb = trim_cb;
	bs->trim_io.owner = bs;
	do_write(bs, BS_SLOT_JOURNAL, js, BS_SECT, bs->sb.journal_offset + BS_SECT,
		!bs->cfg.disable_journal_fsync, &bs->trim_io);
}

/* ---------- open / replay ---------- */

struct sync_ctx {
	bool done;
	int res;
};

static void sync_cb(struct bs_io *io, int res)
{
	struct sync_ctx *c = (struct sync_ctx *)(uintptr_t)io->arg;

	c->done = true;
	c->res = res;
}

/* Synchronous I/O for startup: runs the ring loop until done. */
static int sio(struct ringloop *rl, struct bs_backend *be, bool write, int slot, void *buf, size_t len, uint64_t off)
{
	struct sync_ctx c = { false, 0 };
	struct bs_io io;
	int spins = 0;

	memset(&io, 0, sizeof(io));
	io.cb = sync_cb;
	io.arg = (uint64_t)(uintptr_t)&c;
	if (off + len > be->size[slot] || off + len < off)
		return -ENOSPC;
	if (write)
		be->ops->write(be, slot, buf, len, off, false, &io);
	else
		be->ops->read(be, slot, buf, len, off, &io);
	while (!c.done) {
		int r = ringloop_run_once(rl, -1);

		if (r < 0)
			return r;
		if (r == 0 && ++spins > 1000)
			return -EIO; /* dead backend */
	}
	return c.res < 0 ? c.res : 0;
}

static int sflush(struct ringloop *rl, struct bs_backend *be, int slot)
{
	struct sync_ctx c = { false, 0 };
	struct bs_io io;
	int spins = 0;

	memset(&io, 0, sizeof(io));
	io.cb = sync_cb;
	io.arg = (uint64_t)(uintptr_t)&c;
	be->ops->flush(be, slot, &io);
	while (!c.done) {
		int r = ringloop_run_once(rl, -1);

		if (r < 0)
			return r;
		if (r == 0 && ++spins > 1000)
			return -EIO;
	}
	return c.res < 0 ? c.res : 0;
}

static uint32_t sb_crc(const struct bs_sb *sb)
{
	struct bs_sb t = *sb;

	t.crc = 0;
	return crc32c(0, &t, sizeof(t));
}

static uint32_t ment_size_for(uint32_t bmp_size)
{
	return (uint32_t)((sizeof(struct bs_ment) + 2 * bmp_size + 7) & ~7u);
}

static uint32_t jent_size_for(uint32_t bmp_size)
{
	return (uint32_t)((sizeof(struct bs_jent) + bmp_size + 7) & ~7u);
}

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static uint64_t rnd64(void)
{
	static uint64_t s;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	s += (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull + (uint64_t)ts.tv_sec + (uint64_t)(uintptr_t)&ts;
	return mix64(s, (uint64_t)ts.tv_nsec);
}

int bs_format(struct bs_backend *be, const struct bs_format_opts *o, char *err, size_t errlen)
{
	struct bs_sb sb;
	uint32_t bsz = o->block_size ? o->block_size : 128 * 1024;
	uint32_t gran = o->bitmap_granularity ? o->bitmap_granularity : 4096;
	uint64_t fill[BS_NSLOTS] = { 0, 0, 0 };
	uint64_t jsize, nblocks, per, msize;
	uint8_t *buf;
	int r;
	bool sep_meta = be->phys[BS_SLOT_META] != be->phys[BS_SLOT_DATA];
	bool sep_j = be->phys[BS_SLOT_JOURNAL] != be->phys[BS_SLOT_DATA];

	if (bsz < 4096 || bsz > 1024 * 1024 || (bsz & (bsz - 1)) || gran < 4096 || (gran & (gran - 1)) ||
		gran > bsz || bsz / gran > 256) {
		errf(err, errlen, "bad geometry: block_size %u, bitmap_granularity %u (need powers of two, "
			"4 KiB <= granularity <= block_size <= 1 MiB, <= 256 granules)", bsz, gran);
		return -EINVAL;
	}
	memset(&sb, 0, sizeof(sb));
	memcpy(sb.magic, BS_SB_MAGIC, 8);
	sb.format_version = BS_FORMAT_VERSION;
	memcpy(sb.uuid, o->uuid, 16);
	if (!memcmp(sb.uuid, (uint8_t[16]){ 0 }, 16)) {
		uint64_t a = rnd64(), b = rnd64();

		memcpy(sb.uuid, &a, 8);
		memcpy(sb.uuid + 8, &b, 8);
	}
	sb.osd_num = o->osd_num;
	sb.ctime = (uint64_t)time(NULL);
	sb.block_size = bsz;
	sb.bitmap_granularity = gran;
	sb.meta_entry_size = ment_size_for(bsz / gran / 8 ? bsz / gran / 8 : 1);
	sb.jentry_size = jent_size_for(bsz / gran / 8 ? bsz / gran / 8 : 1);
	sb.separate_meta = sep_meta;
	sb.separate_journal = sep_j;
	/* journal first on its device */
	jsize = o->journal_size ? o->journal_size : 16ull << 20;
	jsize &= ~(uint64_t)(BS_SECT - 1);
	if (sep_j && jsize > be->size[BS_SLOT_JOURNAL])
		jsize = be->size[BS_SLOT_JOURNAL] & ~(uint64_t)(BS_SECT - 1);
	if (jsize < 2 * BS_SECT + 4ull * (bsz + BS_SECT)) {
		errf(err, errlen, "journal too small: %llu bytes, need at least %llu",
			(unsigned long long)jsize, (unsigned long long)(2 * BS_SECT + 4ull * (bsz + BS_SECT)));
		return -EINVAL;
	}
	sb.journal_offset = fill[be->phys[BS_SLOT_JOURNAL]];
	sb.journal_size = jsize;
	fill[be->phys[BS_SLOT_JOURNAL]] += jsize;
	per = BS_SECT / sb.meta_entry_size;
	/* blocks: what fits on the data device after journal/meta */
	{
		uint64_t avail_data = be->size[BS_SLOT_DATA] - fill[be->phys[BS_SLOT_DATA]];
		uint64_t lo = 0, hi;

		if (be->size[BS_SLOT_DATA] < fill[be->phys[BS_SLOT_DATA]] + 3 * BS_SECT) {
			errf(err, errlen, "device too small");
			return -ENOSPC;
		}
		hi = avail_data / bsz + 1;
		/* binary search the largest block count that fits */
		while (lo + 1 < hi) {
			uint64_t mid = (lo + hi) / 2, need_d, need_m;

			msize = BS_SECT * (1 + (mid + per - 1) / per);
			need_d = BS_SECT + mid * bsz;
			need_m = msize;
			if (!sep_meta)
				need_d += need_m;
			if (need_d <= avail_data &&
				(!sep_meta || need_m <= be->size[BS_SLOT_META] - fill[be->phys[BS_SLOT_META]]))
				lo = mid;
			else
				hi = mid;
		}
		nblocks = lo;
		if (o->data_blocks && o->data_blocks < nblocks)
			nblocks = o->data_blocks;
	}
	if (nblocks < 2 || nblocks >= NONE32) {
		errf(err, errlen, "device too small or too large for %u-byte blocks (%llu blocks)", bsz,
			(unsigned long long)nblocks);
		return -ENOSPC;
	}
	msize = BS_SECT * (1 + (nblocks + per - 1) / per);
	sb.meta_offset = fill[be->phys[BS_SLOT_META]];
	sb.meta_size = msize;
	fill[be->phys[BS_SLOT_META]] += msize;
	sb.data_offset = fill[be->phys[BS_SLOT_DATA]];
	sb.data_blocks = nblocks;
	sb.data_size = BS_SECT + nblocks * bsz;
	fill[be->phys[BS_SLOT_DATA]] += sb.data_size;

	buf = zalloc_aligned(1 << 20);
	if (!buf) {
		errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* zero metadata and the journal's start/first ring sectors */
	for (uint64_t off = BS_SECT; off < msize; off += 1 << 20) {
		uint64_t n = msize - off < (1 << 20) ? msize - off : (1 << 20);

		r = sio(be->rl, be, true, BS_SLOT_META, buf, n, sb.meta_offset + off);
		if (r)
			goto io_fail;
	}
	r = sio(be->rl, be, true, BS_SLOT_JOURNAL, buf, 2 * BS_SECT, sb.journal_offset + 2 * BS_SECT);
	if (r)
		goto io_fail;
	{
		struct bs_jstart *js = (struct bs_jstart *)(void *)buf;

		memset(buf, 0, BS_SECT);
		js->magic = BS_JSTART_MAGIC;
		memcpy(js->uuid, sb.uuid, 16);
		js->pos = 2;
		js->prev_seq = 0;
		js->crc = crc32c(0, js, sizeof(*js));
		r = sio(be->rl, be, true, BS_SLOT_JOURNAL, buf, BS_SECT, sb.journal_offset + BS_SECT);
		if (r)
			goto io_fail;
	}
	{
		static const struct { int area, slot; } a[3] = {
			{ BS_AREA_DATA, BS_SLOT_DATA }, { BS_AREA_META, BS_SLOT_META },
			{ BS_AREA_JOURNAL, BS_SLOT_JOURNAL },
		};

		for (int i = 0; i < 3; i++) {
			uint64_t off = a[i].slot == BS_SLOT_DATA ? sb.data_offset :
				a[i].slot == BS_SLOT_META ? sb.meta_offset : sb.journal_offset;

			memset(buf, 0, BS_SECT);
			sb.area = (uint32_t)a[i].area;
			sb.crc = sb_crc(&sb);
			memcpy(buf, &sb, sizeof(sb));
			r = sio(be->rl, be, true, a[i].slot, buf, BS_SECT, off);
			if (r)
				goto io_fail;
		}
	}
	for (int s = 0; s < BS_NSLOTS; s++) {
		if (be->phys[s] != s)
			continue;
		r = sflush(be->rl, be, s);
		if (r)
			goto io_fail;
	}
	free(buf);
	return 0;
io_fail:
	errf(err, errlen, "format: I/O error: %s", strerror(-r));
	free(buf);
	return r;
}

static int check_sb(const struct bs_sb *sb, char *err, size_t errlen, const char *where)
{
	if (memcmp(sb->magic, BS_SB_MAGIC, 8)) {
		errf(err, errlen, "%s: no vstor blockstore superblock (wrong device or not formatted)", where);
		return -EINVAL;
	}
	if (sb->crc != sb_crc(sb)) {
		errf(err, errlen, "%s: superblock checksum mismatch (corrupted)", where);
		return -EINVAL;
	}
	if (sb->format_version != BS_FORMAT_VERSION) {
		errf(err, errlen, "%s: unsupported format version %u (expected %u)", where, sb->format_version,
			BS_FORMAT_VERSION);
		return -EINVAL;
	}
	return 0;
}

static int load_meta(struct bs *bs, char *err, size_t errlen)
{
	size_t chunk = 1 << 20;
	uint8_t *buf = zalloc_aligned(chunk);
	uint64_t msize = bs->nmeta_blocks * BS_SECT;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t off = 0; off < msize && !r; off += chunk) {
		uint64_t n = msize - off < chunk ? msize - off : chunk;

		r = sio(bs->rl, bs->be, false, BS_SLOT_META, buf, n, bs->sb.meta_offset + BS_SECT + off);
		if (r) {
			errf(err, errlen, "metadata read failed: %s", strerror(-r));
			break;
		}
		for (uint64_t mb = 0; mb < n / BS_SECT; mb++) {
			for (uint32_t i = 0; i < bs->ment_per_block; i++) {
				uint64_t blk = (off / BS_SECT + mb) * bs->ment_per_block + i;
				struct bs_ment *m = (struct bs_ment *)(void *)(buf + mb * BS_SECT +
					(size_t)i * bs->ment_size);
				uint32_t crc = m->crc, oi;

				if (blk >= bs->nblocks)
					break;
				if (!m->inode && !m->stripe && !m->version && !crc)
					continue;
				m->crc = 0;
				if (crc32c(0, m, bs->ment_size) != crc || !m->version || !m->inode) {
					errf(err, errlen, "metadata entry for block %llu is corrupted",
						(unsigned long long)blk);
					r = -EUCLEAN;
					break;
				}
				oi = obj_find(bs, m->inode, m->stripe);
				if (oi != NONE32) {
					/* a flush was interrupted between two
					 * metadata blocks: keep the newer */
					uint32_t stale;

					if (bs->objs[oi].version >= m->version) {
						stale = (uint32_t)blk;
					} else {
						stale = bs->objs[oi].block;
						bs->clean_owner[stale] = NONE32;
						bs->used_bm[stale / 64] &= ~(1ull << (stale & 63));
						bs->nfree++;
						bs->objs[oi].block = (uint32_t)blk;
						bs->objs[oi].version = m->version;
						memcpy(o_int(bs, oi), m + 1, 2 * bs->bmp_size);
						bs->clean_owner[blk] = oi;
						block_mark_used(bs, (uint32_t)blk);
					}
					mark_meta_dirty(bs, stale);
					continue;
				}
				oi = obj_insert(bs, m->inode, m->stripe);
				if (oi == NONE32) {
					r = -ENOMEM;
					break;
				}
				bs->objs[oi].version = m->version;
				bs->objs[oi].block = (uint32_t)blk;
				memcpy(o_int(bs, oi), m + 1, 2 * bs->bmp_size);
				bs->clean_owner[blk] = oi;
				block_mark_used(bs, (uint32_t)blk);
			}
		}
	}
	free(buf);
	return r;
}

/* Validates and applies one record's entries. Returns false when the record
 * is torn or invalid (replay stops before it). */
static bool replay_record(struct bs *bs, uint32_t pos, const struct bs_jhdr *h, uint8_t *tmp)
{
	const uint8_t *p = (const uint8_t *)(h + 1);
	uint32_t ri;
	struct rec *r;

	/* pass 1: validate */
	for (uint32_t i = 0; i < h->nentries; i++) {
		const struct bs_jent *e = (const struct bs_jent *)(const void *)(p + (size_t)i * bs->jent_size);
		uint32_t oi;

		if (e->type < BS_JE_SMALL || e->type > BS_JE_ROLLBACK)
			return false;
		if (e->type > BS_JE_BIG)
			continue;
		if ((e->offset % bs->gran) || (e->len % bs->gran) || e->offset > bs->block_size ||
			e->len > bs->block_size - e->offset)
			return false;
		if (e->type == BS_JE_BIG && e->loc >= bs->nblocks)
			return false;
		if (e->type == BS_JE_SMALL && (e->loc < pos + 1 || e->loc > (uint64_t)pos + h->nsect ||
			e->len / BS_SECT > (uint64_t)pos + h->nsect - e->loc))
			return false;
		oi = obj_find(bs, e->inode, e->stripe);
		if (oi != NONE32 && e->version <= bs->objs[oi].version)
			continue; /* already flushed: nothing to verify */
		if (e->type == BS_JE_SMALL) {
			if (e->loc < pos + 1 || e->loc > (uint64_t)pos + h->nsect ||
			e->len / BS_SECT > (uint64_t)pos + h->nsect - e->loc)
				return false;
			if (crc32c(0, bs->mirror + e->loc * BS_SECT, e->len) != e->data_crc) {
				if (getenv("BS_DEBUG"))
					fprintf(stderr, "replay: small write crc mismatch v%llu\n", (unsigned long long)e->version);
				return false;
			}
		} else {
			if (e->loc >= bs->nblocks)
				return false;
			if (e->len) {
				if (sio(bs->rl, bs->be, false, BS_SLOT_DATA, tmp, e->len,
					block_off(bs, (uint32_t)e->loc) + e->offset))
					return false;
				if (crc32c(0, tmp, e->len) != e->data_crc) {
					if (getenv("BS_DEBUG"))
						fprintf(stderr, "replay: big write crc mismatch obj %llx:%llx v%llu blk %llu\n",
							(unsigned long long)e->inode, (unsigned long long)e->stripe,
							(unsigned long long)e->version, (unsigned long long)e->loc);
					return false;
				}
			}
		}
	}
	if (bs->rcount >= bs->rcap)
		return false;
	ri = rec_index(bs, bs->rcount);
	bs->rcount++;
	bs->nack++;
	r = &bs->recs[ri];
	memset(r, 0, sizeof(*r));
	r->seq = h->seq;
	r->prev = h->prev;
	r->pos = pos;
	r->nsect = h->nsect;
	r->state = R_DONE;
	/* pass 2: apply */
	for (uint32_t i = 0; i < h->nentries; i++) {
		const struct bs_jent *e = (const struct bs_jent *)(const void *)(p + (size_t)i * bs->jent_size);
		uint32_t oi = obj_find(bs, e->inode, e->stripe), di;
		bool deleted = true;
		uint64_t nv = 0;

		bs->st.replayed_entries++;
		if (oi != NONE32)
			nv = obj_newest(bs, oi, &deleted);
		if (e->type == BS_JE_STABILIZE) {
			if (oi == NONE32)
				continue;
			for (di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next)
				if (bs->dents[di].version <= e->version && !bs->dents[di].stab_seq)
					bs->dents[di].stab_seq = h->seq;
			continue;
		}
		if (e->type == BS_JE_ROLLBACK) {
			if (oi == NONE32)
				continue;
			rollback_obj(bs, oi, e->version);
			if (bs->objs[oi].head == NONE32 && bs->objs[oi].version == 0 &&
				bs->objs[oi].block == NONE32 && !(bs->objs[oi].flags & OF_QUEUED))
				obj_remove(bs, oi);
			continue;
		}
		if (e->version <= nv) {
			/* flushed already: if it installed the clean block,
			 * that block must not be modified in place yet */
			if (e->type == BS_JE_BIG && oi != NONE32 && bs->objs[oi].block == (uint32_t)e->loc) {
				if (!(bs->objs[oi].flags & OF_FRESH))
					tomb_push(bs, oi, (uint32_t)e->loc, h->seq, TOMB_FRESH);
			} else if (e->type == BS_JE_BIG && !block_used(bs, (uint32_t)e->loc)) {
				/* the entry stays in the journal (and may be
				 * CRC-checked by a later replay if the object is
				 * deleted meanwhile): keep its block reserved
				 * until the journal is trimmed past it */
				block_mark_used(bs, (uint32_t)e->loc);
				bs->last_seq = h->seq; /* the deferred free's tag */
				block_free_deferred(bs, (uint32_t)e->loc);
			}
			continue;
		}
		if (e->type == BS_JE_DELETE && deleted)
			continue;
		if (e->type == BS_JE_SMALL && deleted)
			continue; /* cannot happen in a valid journal */
		if (e->type == BS_JE_BIG) {
			if (block_used(bs, (uint32_t)e->loc))
				continue; /* cannot happen in a valid journal */
			block_mark_used(bs, (uint32_t)e->loc);
		}
		if (oi == NONE32) {
			oi = obj_insert(bs, e->inode, e->stripe);
			if (oi == NONE32)
				return false;
		}
		di = dent_alloc(bs);
		if (di == NONE32)
			return false;
		{
			struct dent *d = &bs->dents[di];

			d->version = e->version;
			d->seq = h->seq;
			d->stab_seq = (e->flags & BS_JEF_STABLE) ? h->seq : 0;
			d->loc = e->loc;
			d->offset = e->offset;
			d->len = e->len;
			d->rec = ri;
			d->type = e->type;
			memcpy(d_bmp(bs, di), e + 1, bs->bmp_size);
		}
		r = &bs->recs[ri];
		r->live++;
		if (bs->dents[di].stab_seq)
			for (uint32_t k = bs->objs[oi].head; k != NONE32; k = bs->dents[k].next)
				if (!bs->dents[k].stab_seq)
					bs->dents[k].stab_seq = h->seq;
		chain_append(bs, oi, di);
		fq_push(bs, oi);
	}
	return true;
}

static int replay(struct bs *bs, char *err, size_t errlen)
{
	struct bs_jstart js;
	uint32_t pos, ring = bs->ring_end - bs->ring_start, consumed = 0;
	uint64_t last;
	uint8_t *tmp = zalloc_aligned(bs->block_size);
	int r;

	if (!tmp)
		return -ENOMEM;
	for (uint64_t off = 0; off < bs->sb.journal_size; off += 1 << 20) {
		uint64_t n = bs->sb.journal_size - off < (1 << 20) ? bs->sb.journal_size - off : (1 << 20);

		r = sio(bs->rl, bs->be, false, BS_SLOT_JOURNAL, bs->mirror + off, n, bs->sb.journal_offset + off);
		if (r) {
			errf(err, errlen, "journal read failed: %s", strerror(-r));
			free(tmp);
			return r;
		}
	}
	memcpy(&js, bs->mirror + BS_SECT, sizeof(js));
	{
		uint32_t crc = js.crc;

		js.crc = 0;
		if (js.magic != BS_JSTART_MAGIC || crc32c(0, &js, sizeof(js)) != crc ||
			memcmp(js.uuid, bs->sb.uuid, 16) || js.pos < bs->ring_start || js.pos >= bs->ring_end) {
			errf(err, errlen, "journal start sector is corrupted or belongs to another OSD");
			free(tmp);
			return -EUCLEAN;
		}
	}
	pos = (uint32_t)js.pos;
	last = js.prev_seq;
	bs->trimmed_seq = last;
	for (;;) {
		const struct bs_jhdr *h;
		struct bs_jhdr hc;
		uint32_t crc;

		if (pos == bs->ring_end)
			pos = bs->ring_start;
		if (consumed >= ring)
			break;
		h = (const struct bs_jhdr *)(const void *)(bs->mirror + (size_t)pos * BS_SECT);
		memcpy(&hc, h, sizeof(hc));
		if (hc.magic != BS_JREC_MAGIC || hc.prev != last || hc.seq <= last || memcmp(hc.uuid, bs->sb.uuid, 8))
			break;
		if (hc.bytes < sizeof(hc) || hc.bytes > BS_SECT || hc.nsect < 1 || hc.nsect > bs->ring_end - pos ||
			consumed + hc.nsect > ring ||
			(uint64_t)hc.nentries * bs->jent_size != hc.bytes - sizeof(hc))
			break;
		crc = hc.crc;
		((struct bs_jhdr *)(void *)(bs->mirror + (size_t)pos * BS_SECT))->crc = 0;
		if (crc32c(0, h, hc.bytes) != crc) {
			((struct bs_jhdr *)(void *)(bs->mirror + (size_t)pos * BS_SECT))->crc = crc;
			break;
		}
		((struct bs_jhdr *)(void *)(bs->mirror + (size_t)pos * BS_SECT))->crc = crc;
		if (hc.flags & BS_JR_WRAP) {
			if (hc.nentries || pos + hc.nsect != bs->ring_end || bs->rcount >= bs->rcap)
				break;
			{
				struct rec *rr = &bs->recs[rec_index(bs, bs->rcount)];

				memset(rr, 0, sizeof(*rr));
				rr->seq = hc.seq;
				rr->prev = hc.prev;
				rr->pos = pos;
				rr->nsect = hc.nsect;
				rr->state = R_DONE;
				rr->wrap = 1;
				bs->rcount++;
				bs->nack++;
			}
		} else if (!replay_record(bs, pos, h, tmp)) {
			break;
		}
		bs->st.replayed_records++;
		last = hc.seq;
		consumed += hc.nsect;
		pos += hc.nsect;
	}
	free(tmp);
	if (pos == bs->ring_end)
		pos = bs->ring_start;
	DBG("replay end: last %llu pos %u records %u\n", (unsigned long long)last, pos, bs->rcount);
	bs->head = pos;
	bs->used = consumed;
	bs->last_seq = last;
	bs->next_seq = last + SEQ_GAP;
	bs->completed_seq = bs->durable_seq = last;
	/* the new life's first record must name `last` as prev; shift it so
	 * stale records of the old life (seq last+1...) can never follow */
	return 0;
}

static int alloc_state(struct bs *bs)
{
	uint64_t nb = bs->nblocks;

	bs->hcap = 1024;
	while ((uint64_t)bs->hcap * 3 < nb * 4 && bs->hcap < (1u << 31))
		bs->hcap *= 2;
	bs->htab = malloc((size_t)bs->hcap * sizeof(*bs->htab));
	bs->clean_owner = malloc(nb * sizeof(*bs->clean_owner));
	bs->used_bm = calloc((nb + 63) / 64, 8);
	bs->dfr_cap = nb + 1;
	bs->dfr = malloc(bs->dfr_cap * sizeof(*bs->dfr));
	bs->rcap = bs->ring_end - bs->ring_start + 2;
	bs->recs = calloc(bs->rcap, sizeof(*bs->recs));
	bs->mirror = zalloc_aligned(bs->sb.journal_size);
	bs->mdirty = malloc(bs->nmeta_blocks * sizeof(*bs->mdirty));
	bs->mdirty_bm = calloc(bs->nmeta_blocks / 8 + 1, 1);
	bs->fl = malloc((size_t)bs->cfg.flush_batch * sizeof(*bs->fl));
	bs->obj_free = NONE32;
	bs->dent_free = NONE32;
	bs->open_rec = NONE32;
	if (!bs->htab || !bs->clean_owner || !bs->used_bm || !bs->dfr || !bs->recs || !bs->mirror ||
		!bs->mdirty || !bs->mdirty_bm || !bs->fl)
		return -ENOMEM;
	memset(bs->htab, 0xff, (size_t)bs->hcap * sizeof(*bs->htab));
	memset(bs->clean_owner, 0xff, nb * sizeof(*bs->clean_owner));
	bs->nfree = nb;
	bs->gp_epoch = 1;
	bs->gp_done = 0;
	return 0;
}

int bs_open(struct ringloop *rl, const struct bs_config *cfg, struct bs **out, char *err, size_t errlen)
{
	struct bs *bs = calloc(1, sizeof(*bs));
	struct bs_backend *be = cfg->backend;
	uint8_t *buf = NULL;
	int r = -EINVAL;

	*out = NULL;
	if (!bs) {
		if (be)
			be->ops->destroy(be);
		return -ENOMEM;
	}
	if (!be)
		be = bs_backend_uring_open(rl, cfg->data_path, cfg->meta_path, cfg->journal_path, err, errlen);
	if (!be) {
		free(bs);
		return -EIO;
	}
	bs->rl = rl;
	bs->be = be;
	bs->cfg = *cfg;
	bs->cfg.backend = NULL;
	if (!bs->cfg.flush_batch)
		bs->cfg.flush_batch = 64;
	if (!bs->cfg.flush_start_pct)
		bs->cfg.flush_start_pct = 25;
	buf = zalloc_aligned(BS_SECT);
	if (!buf) {
		r = -ENOMEM;
		goto fail;
	}
	r = sio(rl, be, false, BS_SLOT_DATA, buf, BS_SECT, 0);
	if (r) {
		errf(err, errlen, "cannot read the data device: %s", strerror(-r));
		goto fail;
	}
	memcpy(&bs->sb, buf, sizeof(bs->sb));
	r = check_sb(&bs->sb, err, errlen, "data device");
	if (r)
		goto fail;
	{
		struct bs_sb *sb = &bs->sb;
		bool sep_meta = be->phys[BS_SLOT_META] != be->phys[BS_SLOT_DATA];
		bool sep_j = be->phys[BS_SLOT_JOURNAL] != be->phys[BS_SLOT_DATA];
		static const struct { int area, slot; const char *name; } a[3] = {
			{ BS_AREA_DATA, BS_SLOT_DATA, "data" }, { BS_AREA_META, BS_SLOT_META, "metadata" },
			{ BS_AREA_JOURNAL, BS_SLOT_JOURNAL, "journal" },
		};

		r = -EINVAL;
		if (sep_meta != !!sb->separate_meta || sep_j != !!sb->separate_journal) {
			errf(err, errlen, "device layout mismatch: formatted with metadata %s and journal %s the "
				"data device, opened with metadata %s and journal %s it",
				sb->separate_meta ? "off" : "on", sb->separate_journal ? "off" : "on",
				sep_meta ? "off" : "on", sep_j ? "off" : "on");
			goto fail;
		}
		if (cfg->osd_num && cfg->osd_num != sb->osd_num) {
			errf(err, errlen, "device belongs to OSD %llu, not OSD %llu",
				(unsigned long long)sb->osd_num, (unsigned long long)cfg->osd_num);
			goto fail;
		}
		if ((cfg->block_size && cfg->block_size != sb->block_size) ||
			(cfg->bitmap_granularity && cfg->bitmap_granularity != sb->bitmap_granularity)) {
			errf(err, errlen, "geometry mismatch: device has block_size %u bitmap_granularity %u, "
				"configured %u/%u", sb->block_size, sb->bitmap_granularity, cfg->block_size,
				cfg->bitmap_granularity);
			goto fail;
		}
		if (sb->block_size < 4096 || sb->block_size > (1u << 20) || (sb->block_size & (sb->block_size - 1)) ||
			sb->bitmap_granularity < 4096 || (sb->bitmap_granularity & (sb->bitmap_granularity - 1)) ||
			sb->bitmap_granularity > sb->block_size || sb->block_size / sb->bitmap_granularity > 256) {
			errf(err, errlen, "superblock has invalid geometry");
			goto fail;
		}
		bs->block_size = sb->block_size;
		bs->gran = sb->bitmap_granularity;
		bs->ngran = bs->block_size / bs->gran;
		bs->bmp_size = bs->ngran / 8 ? bs->ngran / 8 : 1;
		bs->ment_size = ment_size_for(bs->bmp_size);
		bs->jent_size = jent_size_for(bs->bmp_size);
		if (sb->meta_entry_size != bs->ment_size || sb->jentry_size != bs->jent_size) {
			errf(err, errlen, "superblock entry sizes do not match its geometry");
			goto fail;
		}
		bs->ment_per_block = BS_SECT / bs->ment_size;
		bs->nblocks = sb->data_blocks;
		bs->nmeta_blocks = (bs->nblocks + bs->ment_per_block - 1) / bs->ment_per_block;
		if (!bs->nblocks || bs->nblocks >= NONE32 ||
			sb->data_size != BS_SECT + bs->nblocks * bs->block_size ||
			sb->meta_size != BS_SECT * (1 + bs->nmeta_blocks) ||
			sb->journal_size < 2 * BS_SECT + 4ull * (bs->block_size + BS_SECT) ||
			sb->journal_size > (1ull << 34) || (sb->journal_size % BS_SECT) ||
			(sb->journal_offset % BS_SECT) || (sb->meta_offset % BS_SECT) || (sb->data_offset % BS_SECT) ||
			sb->data_offset + sb->data_size > be->size[BS_SLOT_DATA] ||
			sb->meta_offset + sb->meta_size > be->size[BS_SLOT_META] ||
			sb->journal_offset + sb->journal_size > be->size[BS_SLOT_JOURNAL]) {
			errf(err, errlen, "superblock layout does not fit the devices (device too small, "
				"truncated, or wrong device)");
			goto fail;
		}
		for (int i = 0; i < 3; i++) {
			uint64_t off = a[i].slot == BS_SLOT_DATA ? sb->data_offset :
				a[i].slot == BS_SLOT_META ? sb->meta_offset : sb->journal_offset;
			struct bs_sb o;

			r = sio(rl, be, false, a[i].slot, buf, BS_SECT, off);
			if (r) {
				errf(err, errlen, "cannot read the %s superblock: %s", a[i].name, strerror(-r));
				goto fail;
			}
			memcpy(&o, buf, sizeof(o));
			r = check_sb(&o, err, errlen, a[i].name);
			if (r)
				goto fail;
			r = -EINVAL;
			if (o.area != (uint32_t)a[i].area) {
				errf(err, errlen, "%s area: found the superblock of another area (wrong device?)",
					a[i].name);
				goto fail;
			}
			if (memcmp(o.uuid, sb->uuid, 16)) {
				errf(err, errlen, "%s area belongs to another OSD (uuid mismatch)", a[i].name);
				goto fail;
			}
			o.area = sb->area;
			o.crc = sb->crc;
			if (memcmp(&o, sb, sizeof(o))) {
				errf(err, errlen, "%s area superblock disagrees with the data superblock", a[i].name);
				goto fail;
			}
		}
	}
	bs->ring_start = 2;
	bs->ring_end = (uint32_t)(bs->sb.journal_size / BS_SECT);
	bs->max_rec_data = (bs->ring_end - bs->ring_start) / 4;
	if (bs->max_rec_data > 256 && bs->max_rec_data > bs->block_size / BS_SECT)
		bs->max_rec_data = 256 > bs->block_size / BS_SECT ? 256 : bs->block_size / BS_SECT;
	bs->writes_durable = cfg->immediate_commit != BS_IC_NONE ||
		(cfg->disable_journal_fsync && cfg->disable_data_fsync);
	bs->jdsync = cfg->immediate_commit != BS_IC_NONE && !cfg->disable_journal_fsync;
	bs->ddsync = cfg->immediate_commit != BS_IC_NONE && !cfg->disable_data_fsync;
	r = alloc_state(bs);
	if (r) {
		errf(err, errlen, "out of memory");
		goto fail;
	}
	bs->close_d.cb = close_cb;
	bs->wq_d.cb = wq_run;
	bs->fl_d.cb = fl_defer_cb;
	r = load_meta(bs, err, errlen);
	if (r)
		goto fail;
	r = replay(bs, err, errlen);
	if (r)
		goto fail;
	free(buf);
	*out = bs;
	flush_kick(bs);
	return 0;
fail:
	free(buf);
	bs_close(bs);
	return r;
}

void bs_close(struct bs *bs)
{
	if (!bs)
		return;
	ringloop_defer_cancel(bs->rl, &bs->close_d);
	ringloop_defer_cancel(bs->rl, &bs->wq_d);
	ringloop_defer_cancel(bs->rl, &bs->fl_d);
	ringloop_defer_cancel(bs->rl, &bs->autosync.d);
	if (bs->be)
		bs->be->ops->destroy(bs->be);
	free(bs->objs);
	free(bs->obj_bmp);
	free(bs->htab);
	free(bs->clean_owner);
	free(bs->used_bm);
	free(bs->dents);
	free(bs->dent_bmp);
	free(bs->mirror);
	free(bs->recs);
	free(bs->dfr);
	free(bs->tombs);
	free(bs->fq);
	free(bs->fl);
	free(bs->fl_recs);
	free(bs->mdirty);
	free(bs->mdirty_bm);
	free(bs->mbuf);
	free(bs->cow_buf);
	free(bs->chain);
	for (size_t i = 0; i < bs->niochunks; i++)
		free(bs->iochunks[i]);
	free(bs->iochunks);
	free(bs);
}

bool bs_is_idle(struct bs *bs)
{
	return !bs->inflight_ios && bs->open_rec == NONE32 && !bs->wq && !bs->sw && !bs->fl_active &&
		!bs->trim_inflight && !bs->close_d.queued && !bs->fl_d.queued && !bs->wq_d.queued &&
		!bs->inflight_reads;
}

void bs_get_stats(struct bs *bs, struct bs_stats *st)
{
	*st = bs->st;
	st->objects = bs->nobjs;
	st->dirty_entries = bs->ndents;
	st->free_blocks = bs->nfree;
	st->data_blocks = bs->nblocks;
	st->journal_used = (uint64_t)bs->used * BS_SECT;
	st->journal_size = (uint64_t)(bs->ring_end - bs->ring_start) * BS_SECT;
	st->ram_index_bytes = (uint64_t)bs->nobjs_cap * (sizeof(struct obj) + 2 * bs->bmp_size) +
		(uint64_t)bs->hcap * 4 + bs->nblocks * 4 + (bs->nblocks + 63) / 64 * 8;
}

uint32_t bs_block_size(struct bs *bs)
{
	return bs->block_size;
}

uint32_t bs_bitmap_size(struct bs *bs)
{
	return bs->bmp_size;
}
