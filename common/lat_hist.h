/* Latency histogram: log-linear buckets (the exact value below 64, then
 * the leading bit and 5 more bits, about 3% wide), 1920 counters for the
 * whole u64 range. Adding is a few instructions and no allocation, so it
 * fits on a benchmark's hot path; histograms merge by addition. Values are
 * in any unit (the tools use nanoseconds). */
#ifndef VSTOR_LAT_HIST_H
#define VSTOR_LAT_HIST_H

#include <stdint.h>

#define LAT_HIST_SUB_BITS 5
#define LAT_HIST_BUCKETS ((64 - LAT_HIST_SUB_BITS + 1) << LAT_HIST_SUB_BITS)

struct lat_hist {
	uint64_t count, sum, min, max;
	uint64_t b[LAT_HIST_BUCKETS];
};

void lat_hist_init(struct lat_hist *h);
void lat_hist_add(struct lat_hist *h, uint64_t v);
void lat_hist_merge(struct lat_hist *dst, const struct lat_hist *src);
/* The value at quantile q (0..1): the middle of its bucket, clamped to
 * [min, max]; 0 for an empty histogram. */
uint64_t lat_hist_quantile(const struct lat_hist *h, double q);
double lat_hist_mean(const struct lat_hist *h);

#endif
