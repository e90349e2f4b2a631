/* Figures of a placement (placement.h): uniformity, moved slots, failure
 * domain check. Used by pl_place() for its result, by the tests and by the
 * comparison tool, so every placement is judged the same way. */
#include "placement.h"
#include "placement_int.h"

#include <stdlib.h>

struct numidx {
	uint64_t num;
	uint32_t idx;
};

static int cmp_numidx(const void *a, const void *b)
{
	const struct numidx *x = a, *y = b;

	return (x->num > y->num) - (x->num < y->num);
}

static struct numidx *index_osds(const struct pl_osd *osds, size_t n)
{
	struct numidx *ix = malloc((n ? n : 1) * sizeof(*ix));

	if (!ix)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		ix[i].num = osds[i].num;
		ix[i].idx = (uint32_t)i;
	}
	qsort(ix, n, sizeof(*ix), cmp_numidx);
	return ix;
}

static long find(const struct numidx *ix, size_t n, uint64_t num)
{
	struct numidx key = { .num = num };
	const struct numidx *f = bsearch(&key, ix, n, sizeof(*ix), cmp_numidx);

	return f ? (long)f->idx : -1;
}

double pl_uniformity(const struct pl_osd *osds, size_t nosd, const uint64_t *sets,
		     uint32_t pg_count, uint32_t pg_size)
{
	struct numidx *ix = index_osds(osds, nosd);
	uint64_t *cnt = calloc(nosd ? nosd : 1, sizeof(uint64_t));
	double *cap = calloc(nosd ? nosd : 1, sizeof(double)), min = -1;
	uint32_t nd = 0;

	if (!ix || !cnt || !cap)
		goto out;
	for (size_t i = 0; i < nosd; i++)
		if (osds[i].domain + 1 > nd)
			nd = osds[i].domain + 1;
	pl_shares(osds, nosd, nd, pg_size, pg_count, cap);
	for (size_t s = 0; s < (size_t)pg_count * pg_size; s++) {
		long i = sets[s] ? find(ix, nosd, sets[s]) : -1;

		if (i >= 0)
			cnt[i]++;
	}
	for (size_t i = 0; i < nosd; i++) {
		double r;

		if (cap[i] <= 0)
			continue;
		r = (double)cnt[i] / cap[i];
		if (min < 0 || r < min)
			min = r;
	}
out:
	free(ix);
	free(cnt);
	free(cap);
	return min > 0 ? min : 0;
}

static bool has(const uint64_t *set, uint32_t size, uint64_t num)
{
	for (uint32_t s = 0; s < size; s++)
		if (set[s] == num)
			return true;
	return false;
}

uint64_t pl_moved(const uint64_t *old, const uint64_t *sets, uint32_t pg_count,
		  uint32_t pg_size, bool ordered)
{
	uint64_t moved = 0;

	for (uint32_t q = 0; q < pg_count; q++) {
		const uint64_t *o = old + (size_t)q * pg_size, *n = sets + (size_t)q * pg_size;

		for (uint32_t s = 0; s < pg_size; s++) {
			if (!n[s])
				continue;
			if (ordered ? n[s] != o[s] : !has(o, pg_size, n[s]))
				moved++;
		}
	}
	return moved;
}

bool pl_domains_ok(const struct pl_osd *osds, size_t nosd, const uint64_t *sets,
		   uint32_t pg_count, uint32_t pg_size, uint32_t *bad_pg)
{
	struct numidx *ix = index_osds(osds, nosd);
	bool ok = ix != NULL;

	for (uint32_t q = 0; ok && q < pg_count; q++) {
		const uint64_t *set = sets + (size_t)q * pg_size;

		for (uint32_t s = 0; ok && s < pg_size; s++) {
			long i = set[s] ? find(ix, nosd, set[s]) : -2;

			if (i == -2)
				continue;
			if (i < 0) {
				ok = false;
				break;
			}
			for (uint32_t r = 0; r < s; r++) {
				long j = set[r] ? find(ix, nosd, set[r]) : -1;

				if (j >= 0 && osds[j].domain == osds[i].domain)
					ok = false;
			}
		}
		if (!ok && bad_pg)
			*bad_pg = q;
	}
	free(ix);
	return ok;
}
