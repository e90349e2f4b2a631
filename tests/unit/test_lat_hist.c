/* lat_hist: exact small values, quantiles within the bucket width over
 * the whole range, merge by addition, empty and one-sample histograms. */
#include "check.h"
#include "lat_hist.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

static struct lat_hist h, h2;

static bool near(uint64_t got, double want)
{
	return fabs((double)got - want) <= want * 0.035 + 1;
}

static void t_empty_one(void)
{
	lat_hist_init(&h);
	CHECK_EQ(lat_hist_quantile(&h, 0.5), 0);
	CHECK(lat_hist_mean(&h) == 0);
	lat_hist_add(&h, 123456789);
	CHECK_EQ(lat_hist_quantile(&h, 0.5), 123456789);
	CHECK_EQ(lat_hist_quantile(&h, 0.999), 123456789);
	CHECK_EQ(h.min, 123456789);
	CHECK_EQ(h.max, 123456789);
	lat_hist_init(&h);
	lat_hist_add(&h, 0);
	lat_hist_add(&h, UINT64_MAX);
	CHECK_EQ(lat_hist_quantile(&h, 0.5), 0);
	CHECK_EQ(lat_hist_quantile(&h, 1), UINT64_MAX);
}

static void t_exact_small(void)
{
	lat_hist_init(&h);
	for (uint64_t v = 0; v < 64; v++)
		lat_hist_add(&h, v);
	for (uint64_t v = 0; v < 64; v++)
		CHECK_EQ(lat_hist_quantile(&h, (double)(v + 1) / 64), v);
}

/* uniform 1..N: quantile q is q*N within the ~3% bucket width */
static void t_uniform(void)
{
	static const uint64_t scales[] = { 1000, 100000, 10000000, 1ull << 40 };

	for (size_t s = 0; s < 4; s++) {
		uint64_t n = 100000, step = scales[s] / n ? scales[s] / n : 1;

		lat_hist_init(&h);
		for (uint64_t i = 1; i <= n; i++)
			lat_hist_add(&h, i * step);
		CHECK(near(lat_hist_quantile(&h, 0.5), 0.5 * (double)(n * step)));
		CHECK(near(lat_hist_quantile(&h, 0.99), 0.99 * (double)(n * step)));
		CHECK(near(lat_hist_quantile(&h, 0.999), 0.999 * (double)(n * step)));
		CHECK(fabs(lat_hist_mean(&h) - (double)(n + 1) / 2 * (double)step) < 1);
		CHECK_EQ(h.max, n * step);
		CHECK_EQ(h.min, step);
	}
}

static void t_merge(void)
{
	lat_hist_init(&h);
	lat_hist_init(&h2);
	for (int i = 0; i < 990; i++)
		lat_hist_add(&h, 1000);
	for (int i = 0; i < 10; i++)
		lat_hist_add(&h2, 1000000);
	lat_hist_merge(&h, &h2);
	CHECK_EQ(h.count, 1000);
	CHECK(near(lat_hist_quantile(&h, 0.5), 1000));
	CHECK(near(lat_hist_quantile(&h, 0.99), 1000));
	CHECK(near(lat_hist_quantile(&h, 0.995), 1000000));
	CHECK_EQ(h.max, 1000000);
	CHECK_EQ(h.min, 1000);
}

int main(void)
{
	RUN(t_empty_one);
	RUN(t_exact_small);
	RUN(t_uniform);
	RUN(t_merge);
	return vt_finish();
}
