/* u64 id -> pointer map for matching replies to requests in O(1):
 * open addressing with linear probing and backward-shift deletion (no
 * tombstones, so lookups stay short however many ids come and go). The
 * table doubles when half full and never shrinks: after warm-up, puts and
 * deletes allocate nothing. Key 0 is reserved. */
#ifndef VSTOR_IDMAP_H
#define VSTOR_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct idmap_slot {
	uint64_t key;		/* 0: empty */
	void *val;
};

struct idmap {
	struct idmap_slot *slots;
	size_t cap;		/* power of two, or 0 */
	size_t n;
	unsigned shift;		/* 64 - log2(cap) */
};

void idmap_init(struct idmap *m);
void idmap_free(struct idmap *m);
/* Pre-sizes for n entries; 0 or -ENOMEM. */
int idmap_reserve(struct idmap *m, size_t n);
/* key != 0 and not present; 0 or -ENOMEM (then the map is unchanged). */
int idmap_put(struct idmap *m, uint64_t key, void *val);
void *idmap_get(const struct idmap *m, uint64_t key);
/* Removes key; returns its value, or NULL if absent. */
void *idmap_del(struct idmap *m, uint64_t key);
/* Iteration in table order: start with *pos = 0; false at the end. Puts
 * and deletes during an iteration may skip or repeat entries. */
bool idmap_next(const struct idmap *m, size_t *pos, uint64_t *key, void **val);

#endif
