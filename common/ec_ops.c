/* Erasure-code arithmetic over caller buffers: full-stripe encode, parity
 * update for read-modify-write, and reconstruction of lost chunks. */
#include "ec_int.h"

#include <errno.h>
#include <string.h>

/* out = sum coef[i] * src[i] over the sources with a non-zero coefficient
 * (NULL sources are zeroes): those with coefficient 1 XORed in one pass,
 * then one gf-complete multiply-add per other coefficient. */
static void dot(const struct ec *ec, void *out, const uint8_t *coef,
		const void *const *src, const unsigned *idx, size_t len)
{
	const void *ones[EC_MAX_CHUNKS];
	unsigned n = 0;
	int add;

	for (unsigned i = 0; i < ec->k; i++) {
		const void *s = src[idx ? idx[i] : i];

		if (coef[i] == 1 && s)
			ones[n++] = s;
	}
	if (n)
		ec_region_xor(ec, out, ones, n, len, 0);
	add = n > 0;
	for (unsigned i = 0; i < ec->k; i++) {
		const void *s = src[idx ? idx[i] : i];

		if (coef[i] < 2 || !s)
			continue;
		ec_region_madd(ec, out, s, coef[i], len, add);
		add = 1;
	}
	if (!add)
		memset(out, 0, len);
}

int ec_encode(const struct ec *ec, const void *const *data,
	      void *const *parity, size_t len)
{
	if (len > EC_MAX_LEN)
		return -EINVAL;
	for (unsigned p = 0; p < ec->m; p++)
		if (parity[p])
			dot(ec, parity[p], ec->coding + p * ec->k, data, NULL, len);
	return 0;
}

static void update_parity(struct ec *ec, unsigned role, const void *delta,
			  void *const *parity, size_t off, size_t len)
{
	for (unsigned p = 0; p < ec->m; p++)
		if (parity[p])
			ec_region_madd(ec, (uint8_t *)parity[p] + off, delta,
				       ec->coding[p * ec->k + role], len, 1);
}

/* new parity = old parity + coef * (old data + new data). With one parity
 * (coefficient 1) that is one XOR pass over old, new and parity; otherwise
 * the delta is formed one L1-sized tile at a time and added to each. */
int ec_update(struct ec *ec, unsigned role, const void *old_data,
	      const void *new_data, void *const *parity, size_t len)
{
	const uint8_t *o = old_data, *n = new_data;
	const void *both[2] = { old_data, new_data };

	if (role >= ec->k || !new_data || len > EC_MAX_LEN)
		return -EINVAL;
	if (!old_data) {
		update_parity(ec, role, new_data, parity, 0, len);
		return 0;
	}
	if (ec->m == 1 && ec->coding[role] == 1) {
		if (parity[0])
			ec_region_xor(ec, parity[0], both, 2, len, 1);
		return 0;
	}
	for (size_t off = 0; off < len; off += EC_TILE) {
		size_t t = len - off < EC_TILE ? len - off : EC_TILE;
		const void *pair[2] = { o + off, n + off };

		ec_region_xor(ec, ec->tile, pair, 2, t, 0);
		update_parity(ec, role, ec->tile, parity, off, t);
	}
	return 0;
}

/* Checks the sets and buffers; lists the k lowest roles of have in idx
 * and as the set from. Returns 1 when there is something to rebuild. */
static int decode_plan(const struct ec *ec, const struct ec_set *have,
		       const struct ec_set *want, void *const *chunks,
		       struct ec_set *from, unsigned *idx)
{
	unsigned nfrom = 0, todo = 0;

	for (unsigned w = 0; w < EC_MAX_CHUNKS / 64; w++) {
		unsigned lo = w * 64;
		uint64_t valid = lo >= ec->n ? 0 : ec->n - lo >= 64 ? ~0ull :
				 (1ull << (ec->n - lo)) - 1;

		if ((have->bits[w] | want->bits[w]) & ~valid)
			return -EINVAL;
	}
	memset(from, 0, sizeof(*from));
	for (unsigned r = 0; r < ec->n; r++) {
		if (ec_set_has(have, r)) {
			if (!chunks[r])
				return -EINVAL;
			if (nfrom < ec->k) {
				idx[nfrom++] = r;
				ec_set_add(from, r);
			}
		} else if (ec_set_has(want, r)) {
			if (!chunks[r])
				return -EINVAL;
			todo++;
		}
	}
	if (!todo)
		return 0;
	return nfrom < ec->k ? -EIO : 1;
}

int ec_decode(struct ec *ec, const struct ec_set *have,
	      const struct ec_set *want, void *const *chunks, size_t len)
{
	unsigned idx[EC_MAX_CHUNKS];
	struct ec_set from;
	const uint8_t *rows;
	int rc;

	if (len > EC_MAX_LEN)
		return -EINVAL;
	rc = decode_plan(ec, have, want, chunks, &from, idx);
	if (rc <= 0)
		return rc;
	rows = ec_dec_rows(ec, &from, idx);
	if (!rows)
		return -EIO;
	for (unsigned r = 0; r < ec->n; r++)
		if (ec_set_has(want, r) && !ec_set_has(have, r))
			dot(ec, chunks[r], rows + r * ec->k,
			    (const void *const *)chunks, idx, len);
	return 0;
}
