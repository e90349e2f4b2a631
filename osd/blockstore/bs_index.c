/* Blockstore in-memory index: the open-addressing object table, dirty
 * entry chains, data block allocation with deferred reuse (grace periods),
 * the flush queue and trim-released tombstones. */
#include "bs_internal.h"

uint32_t obj_find(struct bs *bs, uint64_t inode, uint64_t stripe)
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

uint32_t obj_insert(struct bs *bs, uint64_t inode, uint64_t stripe)
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

void obj_remove(struct bs *bs, uint32_t oi)
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

uint32_t dent_alloc(struct bs *bs)
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

void dent_free(struct bs *bs, uint32_t di)
{
	bs->dents[di].next = bs->dent_free;
	bs->dent_free = di;
	bs->ndents--;
}

void chain_append(struct bs *bs, uint32_t oi, uint32_t di)
{
	struct obj *o = &bs->objs[oi];
	bool was = obj_live(bs, oi);

	bs->dents[di].next = NONE32;
	if (o->tail == NONE32)
		o->head = di;
	else
		bs->dents[o->tail].next = di;
	o->tail = di;
	space_note(bs, o->inode, was, bs->dents[di].type != BS_JE_DELETE);
}

/* Marks the object's dirty versions <= upto that are not stable yet as
 * stabilized by record seq. */
void chain_stabilize(struct bs *bs, uint32_t oi, uint64_t upto, uint64_t seq)
{
	for (uint32_t di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next)
		if (bs->dents[di].version <= upto && !bs->dents[di].stab_seq)
			bs->dents[di].stab_seq = seq;
}

/* Collects the object's chain indices into bs->chain; returns length. */
size_t chain_collect(struct bs *bs, uint32_t oi)
{
	size_t n = 0;

	for (uint32_t di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next)
		u32_push(&bs->chain, &n, &bs->chain_cap, 64, di);
	return n;
}

uint64_t obj_newest(struct bs *bs, uint32_t oi, bool *deleted)
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
void bmp_apply(struct bs *bs, uint8_t *dst, const uint8_t *src, uint32_t off, uint32_t len)
{
	for (uint32_t g = off / bs->gran; g < (off + len) / bs->gran; g++)
		bit_put(dst, g, src ? bit_get(src, g) : true);
}

/* External bitmap of the version at chain position upto (-1 = clean). */
void ext_at(struct bs *bs, uint32_t oi, const uint32_t *chain, long upto, uint8_t *out)
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

uint32_t block_alloc(struct bs *bs)
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

void block_mark_used(struct bs *bs, uint32_t b)
{
	if (!(bs->used_bm[b / 64] >> (b & 63) & 1)) {
		bs->used_bm[b / 64] |= 1ull << (b & 63);
		bs->nfree--;
	}
}

bool block_used(struct bs *bs, uint32_t b)
{
	return bs->used_bm[b / 64] >> (b & 63) & 1;
}

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

void gp_poll(struct bs *bs)
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
void block_free_deferred(struct bs *bs, uint32_t b)
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

void fq_push(struct bs *bs, uint32_t oi)
{
	uint32_t f = bs->objs[oi].flags;

	if ((f & OF_QUEUED) && !(f & OF_PARKED))
		return;
	/* a parked object that gets a write: back to the queue (its entry in
	 * bs->park goes stale) */
	bs->objs[oi].flags &= ~(uint32_t)OF_PARKED;
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

/* Takes a popped object out of flush passes until fq_unpark_all() (it
 * stays OF_QUEUED, so nothing removes it meanwhile). */
void fq_park(struct bs *bs, uint32_t oi)
{
	if (bs->npark == bs->park_cap) {
		uint32_t ncap = bs->park_cap ? bs->park_cap * 2 : 1024;
		uint32_t *n = realloc(bs->park, (size_t)ncap * sizeof(*n));

		if (!n)
			abort();
		bs->park = n;
		bs->park_cap = ncap;
	}
	bs->park[bs->npark++] = oi;
	bs->objs[oi].flags |= OF_QUEUED | OF_PARKED;
}

/* Moves every parked object back to the flush queue; true if there were
 * any. */
bool fq_unpark_all(struct bs *bs)
{
	bool any = false;

	for (uint32_t i = 0; i < bs->npark; i++) {
		uint32_t oi = bs->park[i];

		if (!(bs->objs[oi].flags & OF_PARKED))
			continue;	/* stale: pushed again since */
		bs->objs[oi].flags &= ~(uint32_t)(OF_PARKED | OF_QUEUED);
		fq_push(bs, oi);
		any = true;
	}
	bs->npark = 0;
	return any;
}

uint32_t fq_pop(struct bs *bs)
{
	uint32_t oi = bs->fq[bs->fq_first];

	bs->fq_first = (bs->fq_first + 1) % bs->fq_cap;
	bs->fq_count--;
	bs->objs[oi].flags &= ~(uint32_t)OF_QUEUED;
	return oi;
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

/* Rolls the object back to ver and drops it when nothing of it is left. */
void obj_rollback(struct bs *bs, uint32_t oi, uint64_t ver)
{
	bool was = obj_live(bs, oi);

	rollback_obj(bs, oi, ver);
	space_note(bs, bs->objs[oi].inode, was, obj_live(bs, oi));
	if (bs->objs[oi].head == NONE32 && bs->objs[oi].version == 0 && bs->objs[oi].block == NONE32 &&
		!(bs->objs[oi].flags & OF_QUEUED))
		obj_remove(bs, oi);
}

void tomb_push(struct bs *bs, uint32_t oi, uint32_t blk, uint64_t seq, int kind)
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
