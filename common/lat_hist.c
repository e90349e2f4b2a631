/* Log-linear latency histogram; see lat_hist.h. */
#include "lat_hist.h"

#include <string.h>

#define SUB (1u << LAT_HIST_SUB_BITS)

void lat_hist_init(struct lat_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

/* Values below 2*SUB are exact; above, bucket = (msb - SUB_BITS) * SUB +
 * the SUB_BITS bits after the leading one, plus the first SUB buckets. */
static unsigned bucket_of(uint64_t v)
{
	unsigned msb;

	if (v < 2 * SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	return (msb - LAT_HIST_SUB_BITS + 1) * SUB +
	       (unsigned)((v >> (msb - LAT_HIST_SUB_BITS)) & (SUB - 1));
}

/* [lo, lo + width) of bucket i */
static void bucket_range(unsigned i, uint64_t *lo, uint64_t *width)
{
	unsigned msb;

	if (i < 2 * SUB) {
		*lo = i;
		*width = 1;
		return;
	}
	msb = i / SUB + LAT_HIST_SUB_BITS - 1;
	*width = 1ull << (msb - LAT_HIST_SUB_BITS);
	*lo = (uint64_t)(SUB + i % SUB) * *width;
}

void lat_hist_add(struct lat_hist *h, uint64_t v)
{
	h->b[bucket_of(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void lat_hist_merge(struct lat_hist *dst, const struct lat_hist *src)
{
	for (unsigned i = 0; i < LAT_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t lat_hist_quantile(const struct lat_hist *h, double q)
{
	uint64_t rank, seen = 0, lo, w, v;

	if (!h->count)
		return 0;
	if (q <= 0)
		return h->min;
	if (q >= 1)
		return h->max;
	/* the smallest value with at least q of the samples at or below it */
	rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (!rank)
		rank = 1;
	for (unsigned i = 0; i < LAT_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen < rank)
			continue;
		bucket_range(i, &lo, &w);
		v = lo + w / 2;
		if (v < h->min)
			v = h->min;
		if (v > h->max)
			v = h->max;
		return v;
	}
	return h->max;
}

double lat_hist_mean(const struct lat_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0;
}
