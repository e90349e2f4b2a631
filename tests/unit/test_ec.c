/* Erasure codes (common/ec.h): parity equals jerasure's own encoder, every
 * erasure pattern of up to m chunks and every choice of k chunks to decode
 * from rebuilds the stripe byte-exactly, partial updates equal a re-encode,
 * bitmaps, and impossible requests are refused. */
#include "check.h"
#include "ec.h"

#include <errno.h>
#include <stdlib.h>

#include <jerasure.h>
#include <jerasure/reed_sol.h>

static const struct code {
	enum ec_scheme scheme;
	unsigned k, m;
} codes[] = {
	{ EC_XOR, 2, 1 }, { EC_XOR, 4, 1 }, { EC_JERASURE, 2, 1 },
	{ EC_JERASURE, 2, 2 }, { EC_JERASURE, 4, 2 }, { EC_JERASURE, 6, 3 },
	{ EC_JERASURE, 8, 4 }, { EC_JERASURE, 1, 2 },
};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

/* Chunk sizes and how far each chunk pointer is off 4 KiB alignment:
 * SIMD-sized ones, a multi-tile one, and odd ones that go bytewise. */
static const struct size {
	size_t len;
	unsigned skew;
} sizes[] = {
	{ 16, 0 }, { 4112, 0 }, { 65536, 0 }, { 1, 0 }, { 5, 3 }, { 4100, 1 },
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static uint64_t rs = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	return vt_rand(&rs);
}

static void fill(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rnd();
}

/* One stripe of n chunks: buf[] is what the library sees, ref[] the
 * expected content. */
struct stripe {
	struct ec *ec;
	unsigned k, m, n;
	size_t len;
	uint8_t *mem[EC_MAX_CHUNKS], *buf[EC_MAX_CHUNKS], *ref[EC_MAX_CHUNKS];
};

static void stripe_free(struct stripe *s)
{
	for (unsigned r = 0; r < s->n; r++) {
		free(s->mem[r]);
		free(s->ref[r]);
	}
	ec_free(s->ec);
	memset(s, 0, sizeof(*s));
}

/* Random data, parity from ec_encode, a copy in ref[]. */
static int stripe_new(struct stripe *s, const struct code *c, size_t len, unsigned skew)
{
	memset(s, 0, sizeof(*s));
	if (ec_new(&s->ec, c->scheme, c->k, c->m))
		return -1;
	s->k = c->k;
	s->m = c->m;
	s->n = c->k + c->m;
	s->len = len;
	for (unsigned r = 0; r < s->n; r++) {
		s->mem[r] = aligned_alloc(4096, (len + skew + 4095) / 4096 * 4096);
		s->ref[r] = malloc(len);
		if (!s->mem[r] || !s->ref[r])
			return -1;
		s->buf[r] = s->mem[r] + skew;
		fill(s->buf[r], len);
	}
	if (ec_encode(s->ec, (const void *const *)s->buf, (void *const *)(s->buf + s->k), len))
		return -1;
	for (unsigned r = 0; r < s->n; r++)
		memcpy(s->ref[r], s->buf[r], len);
	return 0;
}

static unsigned popcount(unsigned x)
{
	return (unsigned)__builtin_popcount(x);
}

static struct ec_set set_of(unsigned mask)
{
	struct ec_set s = { { mask } };

	return s;
}

/* Garbles the chunks in want but not in have, rebuilds them from have,
 * compares all (chunks in both must be left alone). */
static void check_decode(struct stripe *s, unsigned have, unsigned want)
{
	struct ec_set h = set_of(have), w = set_of(want);

	for (unsigned r = 0; r < s->n; r++)
		if ((want & ~have) >> r & 1)
			memset(s->buf[r], 0xa5, s->len);
	CHECK_EQ(ec_decode(s->ec, &h, &w, (void *const *)s->buf, s->len), 0);
	for (unsigned r = 0; r < s->n; r++)
		CHECK_MSG(!memcmp(s->buf[r], s->ref[r], s->len),
			  "k=%u m=%u len=%zu have=%#x want=%#x: chunk %u differs",
			  s->k, s->m, s->len, have, want, r);
}

static void refuses_bad_parameters(void)
{
	static const struct { enum ec_scheme s; unsigned k, m; } bad[] = {
		{ EC_JERASURE, 0, 2 }, { EC_JERASURE, 4, 0 }, { EC_XOR, 0, 1 },
		{ EC_XOR, 2, 2 }, { EC_XOR, 2, 0 }, { EC_JERASURE, 250, 7 },
		{ EC_JERASURE, 256, 1 }, { (enum ec_scheme)7, 2, 1 },
	};
	struct ec *ec = (struct ec *)1;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(ec_new(&ec, bad[i].s, bad[i].k, bad[i].m), -EINVAL);
		CHECK(ec == NULL);
	}
	CHECK_EQ(ec_new(&ec, EC_JERASURE, 250, 6), 0);
	CHECK_EQ(ec_data_chunks(ec), 250);
	CHECK_EQ(ec_parity_chunks(ec), 6);
	ec_free(ec);
	ec_free(NULL);
}

static void refuses_impossible_decodes(void)
{
	struct stripe s;
	struct ec_set have, want;
	void *saved;

	CHECK(!stripe_new(&s, &codes[4], 4096, 0)); /* ec 4+2 */
	void *const *b = (void *const *)s.buf;

	/* Fewer than k chunks: the data is lost, nothing is written. */
	have = set_of(0x07);
	want = set_of(0x38);
	memset(s.buf[3], 0x5a, s.len);
	CHECK_EQ(ec_decode(s.ec, &have, &want, b, s.len), -EIO);
	for (size_t i = 0; i < s.len; i++)
		CHECK_EQ(s.buf[3][i], 0x5a);
	have = set_of(0);
	CHECK_EQ(ec_decode(s.ec, &have, &want, b, s.len), -EIO);
	/* Nothing wanted (or all wanted already present): nothing to do. */
	want = set_of(0);
	CHECK_EQ(ec_decode(s.ec, &have, &want, b, s.len), 0);
	have = set_of(0x03);
	want = set_of(0x01);
	CHECK_EQ(ec_decode(s.ec, &have, &want, b, s.len), 0);
	/* Roles beyond k + m, in either set. */
	have = set_of(0x0f);
	want = set_of(0x40);
	CHECK_EQ(ec_decode(s.ec, &have, &want, b, s.len), -EINVAL);
	want = set_of(0x10);
	ec_set_add(&want, 255);
	CHECK_EQ(ec_decode(s.ec, &have, &want, b, s.len), -EINVAL);
	have = set_of(0x4f);
	want = set_of(0x10);
	CHECK_EQ(ec_decode(s.ec, &have, &want, b, s.len), -EINVAL);
	/* A missing buffer for a chunk to read or to rebuild. */
	have = set_of(0x0f);
	saved = s.buf[1];
	s.buf[1] = NULL;
	CHECK_EQ(ec_decode(s.ec, &have, &want, b, s.len), -EINVAL);
	s.buf[1] = saved;
	saved = s.buf[4];
	s.buf[4] = NULL;
	CHECK_EQ(ec_decode(s.ec, &have, &want, b, s.len), -EINVAL);
	s.buf[4] = saved;
	/* Lengths gf-complete cannot count, and roles that are not data. */
	CHECK_EQ(ec_decode(s.ec, &have, &want, b, (size_t)EC_MAX_LEN + 1), -EINVAL);
	CHECK_EQ(ec_encode(s.ec, (const void *const *)b, b + 4, (size_t)EC_MAX_LEN + 1), -EINVAL);
	CHECK_EQ(ec_update(s.ec, 0, s.buf[0], s.buf[1], b + 4, (size_t)EC_MAX_LEN + 1), -EINVAL);
	CHECK_EQ(ec_update(s.ec, 4, s.buf[0], s.buf[1], b + 4, s.len), -EINVAL);
	CHECK_EQ(ec_update(s.ec, 0, s.buf[0], NULL, b + 4, s.len), -EINVAL);
	/* The stripe is still intact and decodable. */
	memcpy(s.buf[3], s.ref[3], s.len);
	check_decode(&s, 0x3c, 0x03);
	stripe_free(&s);
}

/* ec_encode equals jerasure_matrix_encode (and XOR for xor / m = 1). */
static void encode_matches_jerasure(void)
{
	for (size_t c = 0; c < NCODES; c++) {
		for (size_t z = 0; z < NSIZES; z++) {
			const struct code *cd = &codes[c];
			size_t len = sizes[z].len;
			struct stripe s;
			uint8_t *exp[EC_MAX_CHUNKS];

			CHECK(!stripe_new(&s, cd, len, sizes[z].skew));
			for (unsigned p = 0; p < s.m; p++) {
				exp[p] = calloc(1, len);
				CHECK(exp[p]);
			}
			if (cd->scheme == EC_XOR || len % sizeof(long)) {
				/* XOR reference (also jerasure's parity 0). */
				for (unsigned j = 0; j < s.k; j++)
					for (size_t i = 0; i < len; i++)
						exp[0][i] ^= s.buf[j][i];
				CHECK(!memcmp(exp[0], s.buf[s.k], len));
			} else {
				int *mat = reed_sol_vandermonde_coding_matrix((int)s.k, (int)s.m, 8);

				CHECK(mat);
				jerasure_matrix_encode((int)s.k, (int)s.m, 8, mat, (char **)s.buf,
						       (char **)exp, (int)len);
				free(mat);
				for (unsigned p = 0; p < s.m; p++)
					CHECK_MSG(!memcmp(exp[p], s.buf[s.k + p], len),
						  "k=%u m=%u len=%zu parity %u", s.k, s.m, len, p);
			}
			for (unsigned p = 0; p < s.m; p++)
				free(exp[p]);
			stripe_free(&s);
		}
	}
}

/* xor k+1 and ec k+1 are the same code; ec k+m's first parity is xor. */
static void xor_is_first_parity(void)
{
	struct stripe x, e;
	const struct code ec42 = { EC_JERASURE, 4, 2 };

	rs = 77;
	CHECK(!stripe_new(&x, &codes[1], 4096, 0));
	rs = 77;
	CHECK(!stripe_new(&e, &ec42, 4096, 0));
	for (unsigned r = 0; r < 5; r++)
		CHECK(!memcmp(x.buf[r], e.buf[r], 4096));
	CHECK(memcmp(e.buf[4], e.buf[5], 4096));
	stripe_free(&x);
	stripe_free(&e);
}

/* Every pattern of up to m lost chunks, decoded from all the others (the
 * library picks the k lowest ones). */
static void every_erasure_pattern(void)
{
	for (size_t c = 0; c < NCODES; c++) {
		for (size_t z = 0; z < NSIZES; z++) {
			struct stripe s;

			CHECK(!stripe_new(&s, &codes[c], sizes[z].len, sizes[z].skew));
			unsigned all = (1u << s.n) - 1, patterns = 0;

			for (unsigned lost = 0; lost <= all; lost++) {
				/* With m lost, this decodes from exactly k: over all
				 * patterns, from every k-subset. Sometimes also "want"
				 * chunks that are present. */
				if (popcount(lost) <= s.m) {
					check_decode(&s, all & ~lost, lost | (lost & 1 ? (unsigned)rnd() & all : 0));
					patterns++;
				}
				if (vt_case_failed)
					break;
			}
			stripe_free(&s);
			if (vt_case_failed)
				return;
			CHECK(patterns > s.m);
		}
	}
}

/* Random partial updates of random chunk ranges, compared with a full
 * re-encode after each; includes chunks that start as zeroes (NULL),
 * skipped parities and ranges longer than the update's tile. */
static void update_equals_reencode(void)
{
	for (size_t c = 0; c < NCODES; c++) {
		for (size_t z = 0; z < NSIZES; z++) {
			struct stripe s;
			size_t len = sizes[z].len;
			size_t unit = len % EC_SIMD_ALIGN || sizes[z].skew ? 1 : EC_SIMD_ALIGN;
			uint8_t *nd = malloc(len), *exp[EC_MAX_CHUNKS];
			const void *data[EC_MAX_CHUNKS];

			CHECK(nd);
			CHECK(!stripe_new(&s, &codes[c], len, sizes[z].skew));
			/* Chunk 0 starts as never written. */
			memset(s.buf[0], 0, len);
			data[0] = NULL;
			for (unsigned j = 1; j < s.k; j++)
				data[j] = s.buf[j];
			CHECK(!ec_encode(s.ec, data, (void *const *)(s.buf + s.k), len));
			for (unsigned p = 0; p < s.m; p++) {
				exp[p] = malloc(len);
				CHECK(exp[p]);
			}
			for (int round = 0; round < 24; round++) {
				unsigned j = round ? (unsigned)(rnd() % s.k) : 0;
				size_t units = len / unit;
				size_t a = rnd() % units * unit, b = a + (rnd() % (units - a / unit) + 1) * unit;
				uint8_t *par[EC_MAX_CHUNKS];
				unsigned skip = s.m > 1 && round % 4 == 3 ? (unsigned)(rnd() % s.m) : s.m;

				if (round % 8 == 1) {
					a = 0;
					b = len;
				}
				for (unsigned p = 0; p < s.m; p++) {
					par[p] = p == skip ? NULL : s.buf[s.k + p] + a;
					memcpy(exp[p], s.buf[s.k + p], len);
				}
				fill(nd, b - a);
				CHECK_EQ(ec_update(s.ec, j, round == 0 ? NULL : s.buf[j] + a, nd,
						   (void *const *)par, b - a), 0);
				memcpy(s.buf[j] + a, nd, b - a);
				CHECK(!ec_encode(s.ec, (const void *const *)s.buf, (void *const *)exp, len));
				for (unsigned p = 0; p < s.m; p++) {
					if (p == skip)
						continue;
					CHECK_MSG(!memcmp(exp[p], s.buf[s.k + p], len),
						  "k=%u m=%u len=%zu round %d chunk %u [%zu,%zu): parity %u",
						  s.k, s.m, len, round, j, a, b, p);
				}
				if (skip < s.m) /* bring the skipped parity up to date */
					memcpy(s.buf[s.k + skip], exp[skip], len);
			}
			for (unsigned p = 0; p < s.m; p++)
				free(exp[p]);
			free(nd);
			stripe_free(&s);
		}
	}
}

/* Bitmaps are chunks of bitmap_size bytes: parity over them, any m lost
 * rebuilt, updates; and the locality the header promises. */
static void bitmaps(void)
{
	static const size_t bsz[] = { 1, 4, 32 };

	for (size_t c = 0; c < NCODES; c++) {
		for (size_t z = 0; z < sizeof(bsz) / sizeof(bsz[0]); z++) {
			struct stripe s;

			CHECK(!stripe_new(&s, &codes[c], bsz[z], 0));
			unsigned all = (1u << s.n) - 1;

			for (unsigned lost = 0; lost <= all && !vt_case_failed; lost++)
				if (popcount(lost) <= s.m)
					check_decode(&s, all & ~lost, lost);
			if (vt_case_failed)
				return;
			/* Set one more granule's bit in data chunk j. */
			unsigned j = (unsigned)(rnd() % s.k), bit = (unsigned)(rnd() % (bsz[z] * 8));
			uint8_t old[32], *par[EC_MAX_CHUNKS];

			memcpy(old, s.buf[j], bsz[z]);
			s.buf[j][bit / 8] |= (uint8_t)(1u << bit % 8);
			for (unsigned p = 0; p < s.m; p++)
				par[p] = s.buf[s.k + p];
			CHECK_EQ(ec_update(s.ec, j, old, s.buf[j], (void *const *)par, bsz[z]), 0);
			for (unsigned p = 0; p < s.m; p++) {
				for (size_t i = 0; i < bsz[z]; i++) {
					uint8_t d = s.buf[s.k + p][i] ^ s.ref[s.k + p][i];
					uint8_t flipped = s.buf[j][i] ^ old[i];

					if (p == 0)	/* bit-local */
						CHECK_EQ(d, flipped);
					else		/* byte-local */
						CHECK(!d == !flipped);
				}
			}
			for (unsigned r = 0; r < s.n; r++)
				memcpy(s.ref[r], s.buf[r], s.len);
			check_decode(&s, all & ~((1u << s.m) - 1), (1u << s.m) - 1);
			stripe_free(&s);
		}
	}
}

/* The largest code: 250 + 6, random patterns, all 6 lost. */
static void widest_code(void)
{
	const struct code wide = { EC_JERASURE, 250, 6 };
	struct stripe s;
	struct ec_set have, want;

	CHECK(!stripe_new(&s, &wide, 64, 0));
	for (int round = 0; round < 8; round++) {
		memset(&have, 0, sizeof(have));
		memset(&want, 0, sizeof(want));
		for (unsigned r = 0; r < s.n; r++)
			ec_set_add(&have, r);
		for (unsigned lost = 0; lost < s.m;) {
			unsigned r = (unsigned)(rnd() % s.n);

			if (ec_set_has(&want, r))
				continue;
			ec_set_add(&want, r);
			have.bits[r / 64] &= ~(1ull << r % 64);
			memset(s.buf[r], 0, s.len);
			lost++;
		}
		CHECK_EQ(ec_decode(s.ec, &have, &want, (void *const *)s.buf, s.len), 0);
		for (unsigned r = 0; r < s.n; r++)
			CHECK_MSG(!memcmp(s.buf[r], s.ref[r], s.len), "round %d chunk %u", round, r);
	}
	stripe_free(&s);
}

int main(void)
{
	RUN(refuses_bad_parameters);
	RUN(refuses_impossible_decodes);
	RUN(encode_matches_jerasure);
	RUN(xor_is_first_parity);
	RUN(every_erasure_pattern);
	RUN(update_equals_reencode);
	RUN(bitmaps);
	RUN(widest_code);
	return vt_finish();
}
