/* Erasure-code objects: the coding matrix of one (scheme, k, m) and the
 * cache of its decoding matrices. The arithmetic is in ec_ops.c. */
#include "ec_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jerasure.h>
#include <jerasure/reed_sol.h>

/* log/exp tables of the field gf-complete uses (jerasure's too: both
 * default to x^8+x^4+x^3+x^2+1, where 2 generates all non-zero elements). */
static void build_tables(struct ec *ec)
{
	uint32_t x = 1;

	for (unsigned i = 0; i < 255; i++) {
		ec->exp[i] = ec->exp[i + 255] = (uint8_t)x;
		ec->log[x] = (uint8_t)i;
		x = ec->gf.multiply.w32(&ec->gf, x, 2);
	}
}

static int build_coding(struct ec *ec)
{
	int *mat;

	if (ec->scheme == EC_XOR) {
		memset(ec->coding, 1, ec->k);
		return 0;
	}
	mat = reed_sol_vandermonde_coding_matrix((int)ec->k, (int)ec->m, 8);
	if (!mat)
		return -ENOMEM;
	for (unsigned i = 0; i < ec->m * ec->k; i++)
		ec->coding[i] = (uint8_t)mat[i];
	free(mat);
	return 0;
}

int ec_new(struct ec **out, enum ec_scheme scheme, unsigned k, unsigned m)
{
	struct ec *ec;
	size_t rows = (size_t)(k + m) * k;
	int rc = -ENOMEM;

	*out = NULL;
	if ((scheme != EC_XOR && scheme != EC_JERASURE) || k < 1 || m < 1 ||
	    k + m > EC_MAX_CHUNKS || (scheme == EC_XOR && m != 1))
		return -EINVAL;
	ec = calloc(1, sizeof(*ec));
	if (!ec)
		return -ENOMEM;
	ec->scheme = scheme;
	ec->k = k;
	ec->m = m;
	ec->n = k + m;
	if (!gf_init_easy(&ec->gf, 8)) {
		free(ec);
		return -ENOMEM;
	}
	build_tables(ec);
	ec->coding = malloc((size_t)m * k);
	ec->tile = aligned_alloc(64, EC_TILE);
	ec->inv_in = malloc(sizeof(int) * k * k);
	ec->inv_out = malloc(sizeof(int) * k * k);
	ec->cache[0].rows = malloc(rows * EC_CACHE_SLOTS);
	if (!ec->coding || !ec->tile || !ec->inv_in || !ec->inv_out ||
	    !ec->cache[0].rows)
		goto fail;
	for (unsigned s = 1; s < EC_CACHE_SLOTS; s++)
		ec->cache[s].rows = ec->cache[0].rows + s * rows;
	rc = build_coding(ec);
	if (rc)
		goto fail;
	*out = ec;
	return 0;
fail:
	ec_free(ec);
	return rc;
}

void ec_free(struct ec *ec)
{
	if (!ec)
		return;
	gf_free(&ec->gf, 1);
	free(ec->cache[0].rows);
	free(ec->inv_out);
	free(ec->inv_in);
	free(ec->tile);
	free(ec->coding);
	free(ec);
}

unsigned ec_data_chunks(const struct ec *ec)
{
	return ec->k;
}

unsigned ec_parity_chunks(const struct ec *ec)
{
	return ec->m;
}

/* Row r of the generator matrix: the unit vector for data, the coding
 * row for parity. */
static uint8_t gen(const struct ec *ec, unsigned r, unsigned j)
{
	return r < ec->k ? r == j : ec->coding[(r - ec->k) * ec->k + j];
}

/* rows[r] = gen[r] . D where D = (gen restricted to the roles idx)^-1 maps
 * the k chunks decoded from to the data chunks. */
static int dec_build(struct ec *ec, const unsigned *idx, uint8_t *rows)
{
	unsigned k = ec->k;
	int *a = ec->inv_in, *d = ec->inv_out;

	for (unsigned i = 0; i < k; i++)
		for (unsigned j = 0; j < k; j++)
			a[i * k + j] = gen(ec, idx[i], j);
	if (jerasure_invert_matrix(a, d, (int)k, 8) < 0)
		return -EIO;
	for (unsigned r = 0; r < k; r++)
		for (unsigned i = 0; i < k; i++)
			rows[r * k + i] = (uint8_t)d[r * k + i];
	for (unsigned r = k; r < ec->n; r++) {
		for (unsigned i = 0; i < k; i++) {
			uint8_t v = 0;

			for (unsigned j = 0; j < k; j++)
				v ^= ec_gf_mul(ec, gen(ec, r, j), (uint8_t)d[j * k + i]);
			rows[r * k + i] = v;
		}
	}
	return 0;
}

const uint8_t *ec_dec_rows(struct ec *ec, const struct ec_set *from,
			   const unsigned *idx)
{
	struct ec_dec *victim = &ec->cache[0], *last = &ec->cache[ec->last];

	/* A degraded PG decodes from the same chunks over and over. */
	if (last->used && !memcmp(&last->from, from, sizeof(*from)))
		return last->rows;
	for (unsigned s = 0; s < EC_CACHE_SLOTS; s++) {
		struct ec_dec *e = &ec->cache[s];

		if (e->used && !memcmp(&e->from, from, sizeof(*from))) {
			e->used = ++ec->clock;
			ec->last = s;
			return e->rows;
		}
		if (e->used < victim->used)
			victim = e;
	}
	victim->used = 0;
	if (dec_build(ec, idx, victim->rows))
		return NULL;
	victim->from = *from;
	victim->used = ++ec->clock;
	ec->last = (unsigned)(victim - ec->cache);
	return victim->rows;
}
