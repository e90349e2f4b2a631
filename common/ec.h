/* Erasure codes for XOR and jerasure (Reed-Solomon) pools.
 *
 * A stripe is k data chunks followed by m parity chunks; chunk role r is
 * stored by the r-th OSD of the PG (spec §6), so roles 0..k-1 are data and
 * k..k+m-1 parity. Any k of the k+m chunks determine the others.
 *
 * The code is Reed-Solomon over GF(2^8) with jerasure's systematic
 * Vandermonde matrix (w = 8, spec §5). Its first parity row is all ones, so
 * parity 0 is the XOR of the data: "xor" is the same code restricted to
 * m = 1, and ec k+1 produces the same parity as xor k+1.
 *
 * Why this shape:
 * - The primary does the I/O; this library only does arithmetic on buffers
 *   it is given. Every function works on the same byte range [0, len) of
 *   each chunk buffer, so a caller that touches only part of a chunk passes
 *   pointers into its buffers at that offset.
 * - One struct ec per (scheme, k, m): it holds the coding matrix and a small
 *   bounded cache of decoding matrices keyed by the set of chunks decoded
 *   from, so after warm-up no call allocates or inverts a matrix.
 * - Any len and alignment work. When every pointer and len is a multiple
 *   of EC_SIMD_ALIGN (4 KiB-aligned block buffers always are), terms with
 *   coefficient 1 (all of xor, jerasure's first parity and first data
 *   column, single-loss decodes) are XORed in one vector pass over all
 *   sources, and the others use gf-complete's region multiply (SSSE3 split
 *   tables, chosen at run time from cpuid). Anything else (bitmaps, odd
 *   sizes) takes a bytewise path: correct, just slower.
 *
 * Bitmaps ("parity also over bitmaps", spec §5): the external bitmap of a
 * parity chunk is the same code applied to the data chunks' bitmaps, each
 * bitmap byte one GF(2^8) symbol. Call ec_encode/ec_update/ec_decode with
 * the bitmaps as chunks and len = bitmap_size. It does not say which
 * granules of the parity chunk hold data; its only purpose is that the
 * bitmap of a lost data chunk can be rebuilt from any k chunks' bitmaps.
 * Parity bitmaps of xor and of jerasure's first parity are bit-local (bit i
 * depends only on bit i of the data bitmaps); those of the other jerasure
 * parities are only byte-local: changing one data bit can change all 8 bits
 * of that byte (8 granules) of a parity bitmap, so those must be stored
 * whole (or for whole bytes), not only for the bits of the written range.
 *
 * Not thread-safe: a struct ec mutates its decode cache. jerasure keeps a
 * process-wide GF table that it creates on first use, so create the first
 * struct ec before starting threads that create more.
 */
#ifndef VSTOR_EC_H
#define VSTOR_EC_H

#include <stddef.h>
#include <stdint.h>

/* k + m may not exceed this (GF(2^8) has 256 elements; pg_size <= 256). */
#define EC_MAX_CHUNKS 256
/* Buffers and lengths that are multiples of this take the SIMD path. */
#define EC_SIMD_ALIGN 16
/* Largest len of one call (gf-complete counts bytes in an int). */
#define EC_MAX_LEN (1u << 30)

enum ec_scheme {
	EC_XOR = 1,      /* k + 1 */
	EC_JERASURE = 2, /* k + m, Reed-Solomon Vandermonde, w = 8 */
};

/* A set of chunk roles. */
struct ec_set {
	uint64_t bits[EC_MAX_CHUNKS / 64];
};

static inline void ec_set_add(struct ec_set *s, unsigned role)
{
	s->bits[role / 64] |= 1ull << (role % 64);
}

static inline int ec_set_has(const struct ec_set *s, unsigned role)
{
	return (s->bits[role / 64] >> (role % 64)) & 1;
}

struct ec;

/* Creates the code for k data and m parity chunks. -EINVAL for k < 1,
 * m < 1, k + m > EC_MAX_CHUNKS or xor with m != 1; -ENOMEM. */
int ec_new(struct ec **out, enum ec_scheme scheme, unsigned k, unsigned m);
void ec_free(struct ec *ec);

/* Computes parity[0..m) from data[0..k), len bytes each. data[j] == NULL
 * stands for a chunk of zeroes (never written); parity[p] == NULL skips
 * that parity (its OSD is down). Returns 0 or -EINVAL (len too large). */
int ec_encode(const struct ec *ec, const void *const *data,
	      void *const *parity, size_t len);

/* Read-modify-write of one data chunk: data role `role` changed from
 * old_data to new_data over these len bytes; parity[0..m) hold the old
 * parity of the same range and are updated in place to the new parity.
 * old_data == NULL means the old data was zeroes; parity[p] == NULL is
 * skipped. Call once per changed chunk (each with its own range); the
 * result equals a full re-encode of the new stripe. Returns 0 or -EINVAL. */
int ec_update(struct ec *ec, unsigned role, const void *old_data,
	      const void *new_data, void *const *parity, size_t len);

/* Reconstructs the chunks in `want` from those in `have`. chunks[0..k+m)
 * is indexed by role: chunks[r] holds chunk r's len bytes for r in have and
 * receives them for r in want (roles in both are left alone). Uses the k
 * lowest roles of `have`, so pass exactly the chunks you want read from.
 * Returns 0; -EIO when `have` has fewer than k roles (the data is lost:
 * the object is incomplete); -EINVAL for a role >= k + m, a NULL buffer
 * or len too large. */
int ec_decode(struct ec *ec, const struct ec_set *have,
	      const struct ec_set *want, void *const *chunks, size_t len);

unsigned ec_data_chunks(const struct ec *ec);
unsigned ec_parity_chunks(const struct ec *ec);

#endif
