/* vsctl: copying layer data into another layer, for flatten (the parent
 * chain into the image) and snap rm (a snapshot into each child).
 *
 * Per object (stripe) of the target, in parallel up to --io-depth:
 *   1. read the target's own layer there: its granule bits and version V
 *      (VSTOR_RW_NO_PARENTS), and the source (its own layer, or its whole
 *      chain) with its granule bits;
 *   2. for each run of granules the source holds and the target does not,
 *      write the source's bytes to the target with CAS version V+1 (then
 *      the version that write returned, +1, for the next run);
 *   3. a failed compare (-EINTR: someone wrote the object meanwhile) starts
 *      the object over, so a live writer's data is never overwritten.
 * What the image shows does not change: the copied granules held exactly
 * these bytes through the parent before.
 *
 * No write covers a whole aligned block (block_size): such a write is a
 * "big" blockstore write, which a concurrent READ of the object can see
 * (bitmap set) before its data is on the disk, and then reads zeroes. A
 * run over a whole block is cut after its first granule, so both pieces
 * are journal writes whose data is readable at once. Writes may go to readonly layers
 * (VSTOR_RW_IGNORE_READONLY): merging into a snapshot keeps its content. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "snap.h"

#define GRAN 4096u
#define MAX_RETRIES 100

struct lc_slot {
	struct layer_copy *lc;
	uint64_t off, len, ver, g;
	uint8_t *tbuf, *sbuf, *tbits, *sbits;
	unsigned pending, retries;
	bool busy, wrote;
};

struct lc_run {
	struct layer_copy *lc;
	struct vstor_client *c;
	struct lc_slot *slots;
	unsigned depth;
	size_t next, done;
	int64_t err;
	struct vs_progress prog;
};

static bool has(const uint8_t *b, uint64_t i)
{
	return (b[i / 8] >> (i % 8)) & 1;
}

static void slot_next_unit(struct lc_run *r, struct lc_slot *s);
static void slot_read(struct lc_run *r, struct lc_slot *s);

static struct lc_run *run_of(struct lc_slot *s)
{
	return s->lc->run;
}

static void slot_fail(struct lc_slot *s, int64_t err)
{
	struct lc_run *r = run_of(s);

	if (!r->err)
		r->err = err;
	s->busy = false;
}

static void write_cb(void *arg, int64_t rv, uint64_t version);

/* Writes the next run of granules the source has and the target lacks. */
static void slot_copy(struct lc_slot *s)
{
	struct lc_run *r = run_of(s);
	uint64_t n = s->len / GRAN, g = s->g, end;
	int e;

	while (g < n && !(has(s->sbits, g) && !has(s->tbits, g)))
		g++;
	if (g == n) {
		s->lc->objects += s->wrote;
		r->done++;
		vs_progress_update(&r->prog, r->done);
		slot_next_unit(r, s);
		return;
	}
	for (end = g + 1; end < n && has(s->sbits, end) && !has(s->tbits, end); end++)
		;
	/* the first block boundary at or after the run's start (object-relative
	 * offsets: objects start at block boundaries) */
	uint64_t gpb = s->lc->block / GRAN, b = (g + gpb - 1) / gpb * gpb;

	if (b + gpb <= end)
		end = b + 1;
	s->g = end;
	e = vstor_write_ext(r->c, s->lc->target, s->off + g * GRAN, (end - g) * GRAN,
			    s->sbuf + g * GRAN, s->ver + 1, VSTOR_RW_IGNORE_READONLY, write_cb, s);
	if (e)
		slot_fail(s, e);
	else
		s->lc->bytes += (end - g) * GRAN;
}

static void write_cb(void *arg, int64_t rv, uint64_t version)
{
	struct lc_slot *s = arg;

	if (rv == -EINTR && ++s->retries < MAX_RETRIES) {
		s->lc->retries++;
		slot_read(run_of(s), s);	/* written meanwhile: look again */
		return;
	}
	if (rv < 0) {
		slot_fail(s, rv);
		return;
	}
	s->ver = version;
	s->wrote = true;
	slot_copy(s);
}

static void read_cb(void *arg, int64_t rv, uint64_t version, bool target)
{
	struct lc_slot *s = arg;
	struct lc_run *r = run_of(s);

	if (rv < 0 && !r->err)
		r->err = rv;
	if (target)
		s->ver = version;
	if (--s->pending)
		return;
	if (r->err) {
		s->busy = false;
		return;
	}
	s->g = 0;
	slot_copy(s);
}

static void tread_cb(void *arg, int64_t rv, uint64_t version)
{
	read_cb(arg, rv, version, true);
}

static void sread_cb(void *arg, int64_t rv, uint64_t version)
{
	read_cb(arg, rv, version, false);
}

static void slot_read(struct lc_run *r, struct lc_slot *s)
{
	struct layer_copy *lc = s->lc;
	int e;

	s->pending = 1;
	e = vstor_read_ext(r->c, lc->target, s->off, s->len, s->tbuf, s->tbits,
			   VSTOR_RW_NO_PARENTS, tread_cb, s);
	if (e) {
		slot_fail(s, e);
		return;
	}
	e = vstor_read_ext(r->c, lc->src, s->off, s->len, s->sbuf, s->sbits, lc->src_flags,
			   sread_cb, s);
	if (e) {
		if (!r->err)
			r->err = e;
		return;		/* the target read completes and frees the slot */
	}
	s->pending++;
}

static void slot_next_unit(struct lc_run *r, struct lc_slot *s)
{
	struct layer_copy *lc = r->lc;
	uint64_t end;

	if (r->err || r->next >= lc->n) {
		s->busy = false;
		return;
	}
	s->off = lc->units[r->next++];
	end = s->off + lc->stripe < lc->limit ? s->off + lc->stripe : lc->limit;
	s->len = end - s->off;
	s->retries = 0;
	s->wrote = false;
	s->busy = true;
	slot_read(r, s);
}

int layer_copy_run(struct vsctl *v, struct vstor_client *c, struct layer_copy *lc,
		   const char *what, unsigned depth)
{
	struct lc_run r = { .lc = lc, .c = c, .depth = depth };
	size_t bl = lc->stripe / GRAN / 8 + 1;
	bool busy = true;
	int rc = 0;

	lc->run = &r;
	lc->bytes = lc->objects = lc->retries = 0;
	{
		struct vstor_pool_map m;

		if (vstor_client_pool_map(c, (uint32_t)(lc->target >> 48), &m)) {
			vs_err("%s: the pool of the target is not known", what);
			return -ENOENT;
		}
		lc->block = m.block_size;
		vstor_pool_map_free(&m);
	}
	r.slots = calloc(depth, sizeof(*r.slots));
	for (unsigned i = 0; r.slots && i < depth; i++) {
		struct lc_slot *s = &r.slots[i];

		s->lc = lc;
		s->tbuf = malloc(lc->stripe);
		s->sbuf = malloc(lc->stripe);
		s->tbits = malloc(bl);
		s->sbits = malloc(bl);
		if (!s->tbuf || !s->sbuf || !s->tbits || !s->sbits)
			rc = -ENOMEM;
	}
	if (!r.slots || rc) {
		vs_err("%s: out of memory", what);
		rc = -ENOMEM;
		goto out;
	}
	vs_progress_start(&r.prog, v, what, lc->n, false);
	for (unsigned i = 0; i < depth; i++)
		slot_next_unit(&r, &r.slots[i]);
	while (busy) {
		busy = false;
		for (unsigned i = 0; i < depth; i++)
			busy |= r.slots[i].busy;
		if (busy)
			vstor_client_run_once(c, 100000000);
	}
	if (!r.err) {
		int64_t sr = vstor_sync_sync(c);	/* lazy mode: make the copies durable */

		if (sr < 0)
			r.err = sr;
	}
	vs_progress_end(&r.prog);
	rc = (int)r.err;
out:
	for (unsigned i = 0; r.slots && i < depth; i++) {
		free(r.slots[i].tbuf);
		free(r.slots[i].sbuf);
		free(r.slots[i].tbits);
		free(r.slots[i].sbits);
	}
	free(r.slots);
	lc->run = NULL;
	return rc;
}

int layer_units_add(struct vsctl *v, struct vstor_client *c, struct layer_copy *lc,
		    uint64_t layer, const char *layer_name)
{
	struct vstor_inode_list *l = NULL;
	uint64_t ls = vstor_inode_stripe_size(c, layer);
	int r = vstor_list_inode_sync(c, layer, &l);

	if (!r && l->ndown) {
		vs_err("OSD %" PRIu64 "%s down, so the objects of '%s' cannot all be listed; "
		       "try again when %s up", l->down_osds[0], l->ndown > 1 ? " and others are" :
		       " is", layer_name, l->ndown > 1 ? "they are" : "it is");
		vstor_inode_list_free(l);
		return -1;
	}
	if (r || !ls) {
		vs_err("listing the objects of '%s' failed: %s", layer_name,
		       r ? strerror(-r) : "its pool is not in config/pools");
		return -1;
	}
	for (size_t i = 0; i < l->n; i++) {
		uint64_t o = l->stripes[i];

		for (uint64_t u = o / lc->stripe * lc->stripe; u < o + ls && u < lc->limit;
		     u += lc->stripe) {
			if (lc->n == lc->cap) {
				size_t cap = lc->cap ? 2 * lc->cap : 256;
				uint64_t *x = realloc(lc->units, cap * sizeof(*x));

				if (!x) {
					vs_err("out of memory");
					vstor_inode_list_free(l);
					return -1;
				}
				lc->units = x;
				lc->cap = cap;
			}
			lc->units[lc->n++] = u;
		}
	}
	vstor_inode_list_free(l);
	qsort(lc->units, lc->n, sizeof(*lc->units), vs_cmp_u64);
	size_t k = 0;

	for (size_t i = 0; i < lc->n; i++)
		if (!k || lc->units[k - 1] != lc->units[i])
			lc->units[k++] = lc->units[i];
	lc->n = k;
	return 0;
}

void layer_copy_free(struct layer_copy *lc)
{
	free(lc->units);
	lc->units = NULL;
	lc->n = lc->cap = 0;
}
