/* Primaries (spec §11 "Primary choice") and the PG sources of a pg_count
 * change (spec §11 "PG count change"); see placement.h. */
#include "placement.h"
#include "cmp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static long up_index(const uint64_t *up, size_t nup, uint64_t num)
{
	const uint64_t *f = num ? bsearch(&num, up, nup, sizeof(*up), vs_cmp_u64) : NULL;

	return f ? f - up : -1;
}

/* Slots of PG q whose OSD may be primary; EC prefers data roles. */
static uint32_t eligible(const uint64_t *set, uint32_t pg_size, uint32_t data_chunks,
			 const uint64_t *up, size_t nup, long *el)
{
	uint32_t n = 0;

	for (int pass = 0; pass < 2 && !n; pass++) {
		uint32_t lim = pass == 0 && data_chunks < pg_size ? data_chunks : pg_size;

		for (uint32_t s = 0; s < lim; s++) {
			long u = up_index(up, nup, set[s]);

			if (u >= 0)
				el[n++] = u;
		}
	}
	return n;
}

struct pg_order {
	uint32_t q, nel;
};

static int cmp_order(const void *a, const void *b)
{
	const struct pg_order *x = a, *y = b;

	if (x->nel != y->nel)
		return x->nel < y->nel ? -1 : 1;
	return (x->q > y->q) - (x->q < y->q);
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

void pl_primaries(const uint64_t *sets, uint32_t pg_count, uint32_t pg_size,
		  uint32_t data_chunks, const uint64_t *up, size_t nup,
		  const uint64_t *cur, uint64_t *out)
{
	double *share = calloc(nup ? nup : 1, sizeof(double));
	uint64_t *load = calloc(nup ? nup : 1, sizeof(uint64_t));
	struct pg_order *ord = malloc((pg_count ? pg_count : 1) * sizeof(*ord));
	long *el = malloc((pg_size ? pg_size : 1) * sizeof(long));
	bool *set_done = calloc(pg_count ? pg_count : 1, sizeof(bool));

	memset(out, 0, (size_t)pg_count * sizeof(uint64_t));
	if (!share || !load || !ord || !el || !set_done)
		goto out;
	for (uint32_t q = 0; q < pg_count; q++) {
		uint32_t n = eligible(sets + (size_t)q * pg_size, pg_size, data_chunks, up, nup, el);

		for (uint32_t k = 0; k < n; k++)
			share[el[k]] += 1.0 / n;
		ord[q].q = q;
		ord[q].nel = n;
	}
	qsort(ord, pg_count, sizeof(*ord), cmp_order);
	/* Keep current primaries that are eligible and within their share. */
	for (uint32_t a = 0; cur && a < pg_count; a++) {
		uint32_t q = ord[a].q;
		uint32_t n = eligible(sets + (size_t)q * pg_size, pg_size, data_chunks, up, nup, el);
		long u = up_index(up, nup, cur[q]);

		for (uint32_t k = 0; u >= 0 && k < n; k++) {
			if (el[k] == u && (double)load[u] + 1 <= ceil(share[u] - 1e-9)) {
				out[q] = up[u];
				load[u]++;
				set_done[q] = true;
				break;
			}
		}
	}
	/* The others: lowest load relative to the share. */
	for (uint32_t a = 0; a < pg_count; a++) {
		uint32_t q = ord[a].q;
		uint32_t n;
		long best = -1;
		double best_r = 0;
		uint64_t best_h = 0;

		if (set_done[q])
			continue;
		n = eligible(sets + (size_t)q * pg_size, pg_size, data_chunks, up, nup, el);
		for (uint32_t k = 0; k < n; k++) {
			double r = ((double)load[el[k]] + 1) / share[el[k]];
			uint64_t h = mix(((uint64_t)q << 32) ^ up[el[k]]);

			if (best < 0 || r < best_r - 1e-12 || (fabs(r - best_r) <= 1e-12 && h < best_h)) {
				best = el[k];
				best_r = r;
				best_h = h;
			}
		}
		if (best >= 0) {
			out[q] = up[best];
			load[best]++;
		}
	}
out:
	free(share);
	free(load);
	free(ord);
	free(el);
	free(set_done);
}

uint32_t pl_pg_count_sources(uint32_t old_count, uint32_t new_count, uint32_t i,
			     uint32_t *from)
{
	uint32_t n = 0;

	if (!old_count || !new_count)
		return 0;
	if (new_count % old_count == 0) {
		from[n++] = i % old_count;
	} else if (old_count % new_count == 0) {
		for (uint32_t j = i; j < old_count; j += new_count)
			from[n++] = j;
	} else {
		from[n++] = i % old_count;
		for (uint32_t j = 0; j < old_count; j++)
			if (j != i % old_count)
				from[n++] = j;
	}
	return n;
}
