/* Internals shared by the erasure-code files (see ec.h for the API). */
#ifndef VSTOR_EC_INT_H
#define VSTOR_EC_INT_H

#include "ec.h"

#include <gf_complete.h>

/* Decoding matrices kept per struct ec. A degraded PG uses one erasure
 * pattern; a cluster with a dead OSD sees about one pattern per role, so
 * this covers a couple of dead OSDs per code before entries get evicted
 * (and a miss costs one k x k inversion, not an allocation). */
#define EC_CACHE_SLOTS 32
/* ec_update's scratch for old ^ new: small enough to stay in L1. */
#define EC_TILE (16 * 1024)

struct ec_dec {
	struct ec_set from; /* the k roles decoded from */
	uint64_t used;      /* LRU clock; 0 = empty slot */
	uint8_t *rows;      /* (k+m) x k: chunk r = sum rows[r][i] * from_i */
};

struct ec {
	enum ec_scheme scheme;
	unsigned k, m, n;
	uint8_t *coding;    /* m x k coding matrix, parity p = row p . data */
	gf_t gf;            /* gf-complete GF(2^8), default (fastest) method */
	uint8_t log[256];   /* for the bytewise path and matrix products */
	uint8_t exp[512];
	uint8_t *tile;      /* EC_TILE bytes, EC_SIMD_ALIGN aligned */
	int *inv_in, *inv_out; /* k x k scratch for jerasure_invert_matrix */
	uint64_t clock;
	unsigned last;      /* cache slot of the last lookup */
	struct ec_dec cache[EC_CACHE_SLOTS];
};

static inline uint8_t ec_gf_mul(const struct ec *ec, uint8_t a, uint8_t b)
{
	return a && b ? ec->exp[ec->log[a] + ec->log[b]] : 0;
}

/* dst = (add ? dst : 0) + coef * src over len bytes, in GF(2^8). */
void ec_region_madd(const struct ec *ec, void *dst, const void *src,
		    uint8_t coef, size_t len, int add);

/* dst = (add ? dst : 0) + src[0] + ... + src[n-1] (XOR) over len bytes. */
void ec_region_xor(const struct ec *ec, void *dst, const void *const *src,
		   unsigned n, size_t len, int add);

/* Returns the decode rows for decoding from the k roles in `from` (listed
 * in idx[0..k)), from the cache or computed into the LRU slot. NULL if the
 * chunks are not independent (cannot happen for an MDS code). */
const uint8_t *ec_dec_rows(struct ec *ec, const struct ec_set *from,
			   const unsigned *idx);

#endif
