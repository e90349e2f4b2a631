/* Erasure-code benchmark: common/ec.h encode/decode/update throughput per
 * CPU-second next to memcpy of the same bytes, and gf-complete's region
 * multiply per method (which one the default picks on this CPU).
 * Not a timed test; run via tests/bench/ec_bench.sh.
 * Usage: ec_bench [seconds_per_case=0.3] [--regions]  (--regions: only the
 *                                                    gf-complete table)
 *        ec_bench --callgrind   (one untimed pass per case, each between
 *                                callgrind toggles and dumped by name) */
#include "ec.h"

#include <gf_complete.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <valgrind/callgrind.h>

/* gf-complete's run-time CPU flags (exported, not declared in its header). */
extern int gf_cpu_supports_intel_sse2, gf_cpu_supports_intel_ssse3,
	gf_cpu_supports_intel_sse4, gf_cpu_supports_intel_pclmul;

static double secs = 0.3;
static int callgrind;

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *xalloc(size_t len)
{
	uint8_t *p = aligned_alloc(4096, (len + 4095) / 4096 * 4096);

	if (!p) {
		perror("aligned_alloc");
		exit(1);
	}
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131 + (i >> 9));
	return p;
}

/* What one case does per iteration; returns 0 or a negative errno. */
typedef int (*op_fn)(void *arg);

/* Runs fn until `secs` of CPU time passed; returns bytes per CPU-second in
 * GB/s. In callgrind mode: one pass to warm up, one pass collected. */
static double measure(const char *name, op_fn fn, void *arg, size_t bytes)
{
	double t0, t;
	long n = 0;

	if (fn(arg)) {
		fprintf(stderr, "%s: operation failed\n", name);
		exit(1);
	}
	if (callgrind) {
		CALLGRIND_TOGGLE_COLLECT;
		fn(arg);
		CALLGRIND_TOGGLE_COLLECT;
		CALLGRIND_DUMP_STATS_AT(name);
		printf("callgrind %s %zu\n", name, bytes);
		return 0;
	}
	t0 = cpu_now();
	do {
		for (int i = 0; i < 16; i++)
			fn(arg);
		n += 16;
		t = cpu_now() - t0;
	} while (t < secs);
	return (double)bytes * n / t / 1e9;
}

/* ---------- stripe operations ---------- */

struct stripe {
	struct ec *ec;
	unsigned k, m;
	size_t chunk;
	void *buf[EC_MAX_CHUNKS], *copy;
	struct ec_set have, want;
};

static int op_encode(void *arg)
{
	struct stripe *s = arg;

	return ec_encode(s->ec, (const void *const *)s->buf, s->buf + s->k, s->chunk);
}

static int op_decode(void *arg)
{
	struct stripe *s = arg;

	return ec_decode(s->ec, &s->have, &s->want, s->buf, s->chunk);
}

/* RMW of all of data chunk 0: old = buf[0], new = copy. */
static int op_update(void *arg)
{
	struct stripe *s = arg;

	return ec_update(s->ec, 0, s->buf[0], s->copy, s->buf + s->k, s->chunk);
}

static int op_memcpy(void *arg)
{
	struct stripe *s = arg;

	for (unsigned j = 0; j < s->k; j++)
		memcpy(s->copy, s->buf[j], s->chunk);
	return 0;
}

/* Loses data chunks 0..lost-1 (then parities if k < lost). */
static void set_lost(struct stripe *s, unsigned lost)
{
	memset(&s->have, 0, sizeof(s->have));
	memset(&s->want, 0, sizeof(s->want));
	for (unsigned r = 0; r < s->k + s->m; r++)
		ec_set_add(r < lost ? &s->want : &s->have, r);
}

static void bench_code(enum ec_scheme scheme, unsigned k, unsigned m, size_t chunk)
{
	struct stripe s = { .k = k, .m = m, .chunk = chunk };
	char name[64], tag[80];
	size_t data = k * chunk;
	double cp, enc, d1, dm, upd;

	if (ec_new(&s.ec, scheme, k, m)) {
		fprintf(stderr, "ec_new %u+%u failed\n", k, m);
		exit(1);
	}
	for (unsigned r = 0; r < k + m; r++)
		s.buf[r] = xalloc(chunk);
	s.copy = xalloc(chunk);
	snprintf(name, sizeof(name), "%s %u+%u %zuK", scheme == EC_XOR ? "xor" : "ec", k, m,
		 chunk / 1024);
#define TAG(what) (snprintf(tag, sizeof(tag), "%s %s", name, what), tag)
	/* Under valgrind, glibc's memcpy is rep movsb: one "instruction" per
	 * byte, so there is no instruction count of the floor. */
	cp = callgrind ? 0 : measure(TAG("memcpy"), op_memcpy, &s, data);
	enc = measure(TAG("encode"), op_encode, &s, data);
	set_lost(&s, 1);
	d1 = measure(TAG("decode-1"), op_decode, &s, data);
	set_lost(&s, m);
	dm = measure(TAG("decode-m"), op_decode, &s, data);
	upd = measure(TAG("update"), op_update, &s, chunk);
	if (!callgrind)
		printf("| %-14s | %6.2f | %6.2f (%4.2fx) | %6.2f | %6.2f | %6.2f |\n",
		       name, cp, enc, enc / cp, d1, dm, upd);
	for (unsigned r = 0; r < k + m; r++)
		free(s.buf[r]);
	free(s.copy);
	ec_free(s.ec);
}

/* ---------- gf-complete region multiply methods ---------- */

struct region {
	gf_t *gf;
	void *src, *dst;
	size_t len;
	uint32_t val;
};

static int op_region(void *arg)
{
	struct region *r = arg;

	r->gf->multiply_region.w32(r->gf, r->src, r->dst, r->val, (int)r->len, 1);
	return 0;
}

/* The scalar reference: one table lookup per byte, no SIMD. */
static uint8_t mul_table[256];

static int op_scalar(void *arg)
{
	struct region *r = arg;
	const uint8_t *s = r->src;
	uint8_t *d = r->dst;

	for (size_t i = 0; i < r->len; i++)
		d[i] ^= mul_table[s[i]];
	return 0;
}

static void bench_regions(size_t len)
{
	static const struct {
		const char *name;
		int mult, region, arg1, arg2;
	} methods[] = {
		{ "default (gf_init_easy)", GF_MULT_DEFAULT, GF_REGION_DEFAULT, 0, 0 },
		{ "SPLIT 8,4 SIMD (SSSE3 pshufb)", GF_MULT_SPLIT_TABLE, GF_REGION_SIMD, 8, 4 },
		{ "SPLIT 8,4 NOSIMD", GF_MULT_SPLIT_TABLE, GF_REGION_NOSIMD, 8, 4 },
		{ "TABLE (scalar)", GF_MULT_TABLE, GF_REGION_DEFAULT, 0, 0 },
		{ "LOG (scalar)", GF_MULT_LOG_TABLE, GF_REGION_DEFAULT, 0, 0 },
		{ "BYTWO_b SIMD (SSE2)", GF_MULT_BYTWO_b, GF_REGION_SIMD, 0, 0 },
	};
	struct region r = { .src = xalloc(len), .dst = xalloc(len), .len = len, .val = 0x8e };
	gf_t gf[sizeof(methods) / sizeof(methods[0])];
	int ok[sizeof(methods) / sizeof(methods[0])] = { 0 };
	double ref, v;
	char tag[96];

	if (!callgrind) {
		printf("\ngf-complete w=8 region multiply-add, %zu KiB in cache, coefficient 0x8e\n",
		       len / 1024);
		printf("| method | GB/s | vs scalar loop |\n|---|---|---|\n");
	}
	if (!gf_init_easy(&gf[0], 8))
		exit(1);
	ok[0] = 1;
	for (int i = 0; i < 256; i++)
		mul_table[i] = (uint8_t)gf[0].multiply.w32(&gf[0], (uint32_t)i, r.val);
	snprintf(tag, sizeof(tag), "region %zuK scalar loop", len / 1024);
	ref = measure(tag, op_scalar, &r, len);
	if (!callgrind)
		printf("| scalar loop (table per byte) | %.2f | 1.00x |\n", ref);
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (i && !gf_init_hard(&gf[i], 8, methods[i].mult, methods[i].region,
				       GF_DIVIDE_DEFAULT, 0, methods[i].arg1, methods[i].arg2,
				       NULL, NULL)) {
			printf("| %s | unavailable | |\n", methods[i].name);
			continue;
		}
		ok[i] = 1;
		r.gf = &gf[i];
		snprintf(tag, sizeof(tag), "region %zuK %s", len / 1024, methods[i].name);
		v = measure(tag, op_region, &r, len);
		if (!callgrind)
			printf("| %s | %.2f | %.2fx |\n", methods[i].name, v, v / ref);
		if (i == 1 && !callgrind)
			printf("default region function %s SPLIT 8,4 SIMD's\n",
			       gf[0].multiply_region.w32 == gf[1].multiply_region.w32 ? "==" : "!=");
	}
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (ok[i])
			gf_free(&gf[i], 1);
	free(r.src);
	free(r.dst);
}

int main(int argc, char **argv)
{
	static const struct { enum ec_scheme s; unsigned k, m; } codes[] = {
		{ EC_XOR, 2, 1 }, { EC_JERASURE, 2, 1 }, { EC_JERASURE, 2, 2 },
		{ EC_JERASURE, 4, 2 }, { EC_JERASURE, 8, 4 },
	};
	static const size_t chunks[] = { 128 * 1024, 4096 };

	int regions_only = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--callgrind"))
			callgrind = 1;
		else if (!strcmp(argv[i], "--regions"))
			regions_only = 1;
		else
			secs = atof(argv[i]);
	}
	{
		gf_t probe;	/* makes gf-complete read cpuid */

		gf_init_easy(&probe, 8);
		gf_free(&probe, 1);
	}
	printf("gf-complete cpu flags: sse2=%d ssse3=%d sse4=%d pclmul=%d\n",
	       gf_cpu_supports_intel_sse2, gf_cpu_supports_intel_ssse3,
	       gf_cpu_supports_intel_sse4, gf_cpu_supports_intel_pclmul);
	if (regions_only) {
		bench_regions(128 * 1024);
		return 0;
	}
	if (!callgrind) {
		printf("\nGB/s of stripe data (k x chunk) per CPU-second; update = GB/s of one\n"
		       "chunk rewritten (RMW parity delta); decode-1 loses data chunk 0,\n"
		       "decode-m loses data chunks 0..m-1\n");
		printf("| code | memcpy | encode (vs memcpy) | decode-1 | decode-m | update |\n"
		       "|---|---|---|---|---|---|\n");
	}
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++)
		for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
			bench_code(codes[i].s, codes[i].k, codes[i].m, chunks[c]);
	bench_regions(128 * 1024);
	return 0;
}
