/* GF(2^8) region arithmetic for the erasure codes: gf-complete's SIMD
 * region multiply when the buffers allow it, a bytewise loop otherwise. */
#include "ec_int.h"

#include <string.h>

/* gf-complete asserts (aborts) unless src and dst share their alignment
 * modulo 16, and does its unaligned head and tail a byte at a time anyway;
 * block buffers are 4 KiB aligned, so only small or odd regions (bitmaps)
 * go bytewise. */
static int simd_ok(const void *dst, const void *src, size_t len)
{
	return (((uintptr_t)dst | (uintptr_t)src | len) % EC_SIMD_ALIGN) == 0;
}

static void madd_bytes(const struct ec *ec, uint8_t *d, const uint8_t *s,
		       uint8_t coef, size_t len, int add)
{
	unsigned lc = ec->log[coef];

	if (coef == 0) {
		if (!add)
			memset(d, 0, len);
		return;
	}
	if (coef == 1) {
		if (!add)
			memcpy(d, s, len);
		else
			for (size_t i = 0; i < len; i++)
				d[i] ^= s[i];
		return;
	}
	for (size_t i = 0; i < len; i++) {
		uint8_t v = s[i] ? ec->exp[lc + ec->log[s[i]]] : 0;

		d[i] = add ? d[i] ^ v : v;
	}
}

/* 16 bytes of a region; may_alias since the buffers are bytes. */
typedef uint64_t vec16 __attribute__((vector_size(16), may_alias));

/* XOR of n sources in one pass: reads each source once and writes dst
 * once, where n - 1 gf-complete calls would re-read and re-write dst each
 * time (and its add = 0 with coefficient 1 is a memcpy pass of its own).
 * Four accumulators per 64 bytes keep everything in registers. */
static void xor_simd(uint8_t *dst, const void *const *src, unsigned n,
		     size_t len, int add)
{
	size_t off = 0;

	for (; off + 64 <= len; off += 64) {
		vec16 *d = (vec16 *)(dst + off);
		vec16 a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };

		if (add) {
			a0 = d[0];
			a1 = d[1];
			a2 = d[2];
			a3 = d[3];
		}
		for (unsigned i = 0; i < n; i++) {
			const vec16 *s = (const vec16 *)((const uint8_t *)src[i] + off);

			a0 ^= s[0];
			a1 ^= s[1];
			a2 ^= s[2];
			a3 ^= s[3];
		}
		d[0] = a0;
		d[1] = a1;
		d[2] = a2;
		d[3] = a3;
	}
	for (; off < len; off += 16) {
		vec16 *d = (vec16 *)(dst + off), a = { 0 };

		if (add)
			a = *d;
		for (unsigned i = 0; i < n; i++)
			a ^= *(const vec16 *)((const uint8_t *)src[i] + off);
		*d = a;
	}
}

void ec_region_xor(const struct ec *ec, void *dst, const void *const *src,
		   unsigned n, size_t len, int add)
{
	int simd = simd_ok(dst, dst, len);

	for (unsigned i = 0; i < n && simd; i++)
		simd = simd_ok(dst, src[i], len);
	if (simd) {
		xor_simd(dst, src, n, len, add);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		madd_bytes(ec, dst, src[i], 1, len, add || i);
	if (!n && !add)
		memset(dst, 0, len);
}

void ec_region_madd(const struct ec *ec, void *dst, const void *src,
		    uint8_t coef, size_t len, int add)
{
	if (!simd_ok(dst, src, len)) {
		madd_bytes(ec, dst, src, coef, len, add);
		return;
	}
	/* The region functions only read the field's tables; the casts are
	 * for gf-complete's non-const prototypes. len <= EC_MAX_LEN. */
	ec->gf.multiply_region.w32((gf_t *)&ec->gf, (void *)src, dst, coef,
				   (int)len, add);
}
