/* idmap against a plain array model: random puts/gets/deletes with
 * sequential ids (as the client assigns them) and with random ones, so
 * long probe runs and wrap-around at the table end are both exercised;
 * iteration visits every entry once. */
#include "check.h"
#include "idmap.h"

#include <stdbool.h>

#include <errno.h>
#include <stdlib.h>

#define N 4096

static uint64_t keys[N];
static bool live[N];

static uint64_t rnd64(void)
{
	static uint64_t s = 0x243f6a8885a308d3ull;

	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return s;
}

static bool model_check(const struct idmap *m)
{
	size_t n = 0, it = 0, pos = 0;
	uint64_t key;
	void *val;

	/* iteration yields every live entry once, with its value */
	while (idmap_next(m, &pos, &key, &val)) {
		uint64_t *k = val;

		if (k < keys || k >= keys + N || !live[k - keys] || *k != key)
			return false;
		it++;
	}
	if (it != m->n)
		return false;

	for (size_t i = 0; i < N; i++) {
		void *v = idmap_get(m, keys[i]);

		if (live[i] ? v != &keys[i] : v != NULL)
			return false;
		n += live[i];
	}
	return n == m->n;
}

static void run_model(bool sequential)
{
	struct idmap m;

	idmap_init(&m);
	for (size_t i = 0; i < N; i++) {
		keys[i] = sequential ? i + 1 : (rnd64() | 1);
		live[i] = false;
	}
	CHECK(!idmap_get(&m, keys[0]));
	CHECK(!idmap_del(&m, keys[0]));
	for (int round = 0; round < 200000; round++) {
		size_t i = rnd64() % N;

		/* a window of live ids that slides, like requests in flight */
		if (!live[i] && (rnd64() % 3)) {
			CHECK_EQ(idmap_put(&m, keys[i], &keys[i]), 0);
			live[i] = true;
		} else if (live[i]) {
			CHECK(idmap_del(&m, keys[i]) == &keys[i]);
			live[i] = false;
			CHECK(!idmap_del(&m, keys[i]));
		}
		if (round % 20000 == 0)
			CHECK(model_check(&m));
	}
	CHECK(model_check(&m));
	CHECK(m.cap >= 2 * m.n);
	for (size_t i = 0; i < N; i++)
		if (live[i])
			CHECK(idmap_del(&m, keys[i]) == &keys[i]);
	CHECK_EQ(m.n, 0);
	for (size_t j = 0; j < m.cap; j++)
		CHECK(!m.slots[j].key);
	idmap_free(&m);
}

static void sequential_ids(void)
{
	run_model(true);
}

static void random_ids(void)
{
	run_model(false);
}

/* Colliding keys: the same home slot for many keys, deleted from the
 * middle of the run, must keep every other key reachable. */
static void one_probe_run(void)
{
	struct idmap m;
	uint64_t ks[64];
	size_t n = 0;

	idmap_init(&m);
	CHECK_EQ(idmap_reserve(&m, 512), 0);
	for (uint64_t k = 1; n < 64; k++) {
		size_t home = (size_t)((k * 0x9e3779b97f4a7c15ull) >> m.shift);

		if (home == m.cap - 1 || home == m.cap - 2)	/* runs wrap at the end */
			ks[n++] = k;
	}
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(idmap_put(&m, ks[i], &ks[i]), 0);
	CHECK_EQ(idmap_put(&m, 0, ks), -EINVAL);
	for (size_t i = 0; i < n; i += 2)
		CHECK(idmap_del(&m, ks[i]) == &ks[i]);
	for (size_t i = 0; i < n; i++)
		CHECK(idmap_get(&m, ks[i]) == (i % 2 ? &ks[i] : NULL));
	idmap_free(&m);
}

int main(void)
{
	RUN(sequential_ids);
	RUN(random_ids);
	RUN(one_probe_run);
	return vt_finish();
}
