/* Comparators for qsort and bsearch shared by the daemons, the client
 * library and vsctl. Inline: each is a few instructions, and a shared
 * object for them would be one more link dependency for every binary. */
#ifndef VSTOR_CMP_H
#define VSTOR_CMP_H

#include <stdint.h>

/* uint64_t values, ascending (OSD numbers, (pool, PG) keys, offsets). */
static inline int vs_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

#endif
