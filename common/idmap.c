/* u64 -> pointer map; see idmap.h. */
#include "idmap.h"

#include <errno.h>
#include <stdlib.h>

/* Fibonacci hashing: sequential ids spread over the whole table. */
static size_t slot_of(const struct idmap *m, uint64_t key)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> m->shift);
}

void idmap_init(struct idmap *m)
{
	m->slots = NULL;
	m->cap = m->n = 0;
	m->shift = 64;
}

void idmap_free(struct idmap *m)
{
	free(m->slots);
	idmap_init(m);
}

static int rehash(struct idmap *m, size_t cap)
{
	struct idmap_slot *old = m->slots, *s = calloc(cap, sizeof(*s));
	size_t ocap = m->cap;
	unsigned bits = 0;

	if (!s)
		return -ENOMEM;
	while (((size_t)1 << bits) < cap)
		bits++;
	m->slots = s;
	m->cap = cap;
	m->shift = 64 - bits;
	for (size_t i = 0; i < ocap; i++) {
		size_t j;

		if (!old[i].key)
			continue;
		for (j = slot_of(m, old[i].key); s[j].key; j = (j + 1) & (cap - 1))
			;
		s[j] = old[i];
	}
	free(old);
	return 0;
}

int idmap_reserve(struct idmap *m, size_t n)
{
	size_t cap = m->cap ? m->cap : 16;

	while (cap < 2 * n)
		cap *= 2;
	return cap == m->cap ? 0 : rehash(m, cap);
}

int idmap_put(struct idmap *m, uint64_t key, void *val)
{
	size_t j;

	if (!key)
		return -EINVAL;
	if (2 * (m->n + 1) > m->cap && idmap_reserve(m, m->n + 1))
		return -ENOMEM;
	for (j = slot_of(m, key); m->slots[j].key; j = (j + 1) & (m->cap - 1))
		;
	m->slots[j].key = key;
	m->slots[j].val = val;
	m->n++;
	return 0;
}

static size_t find(const struct idmap *m, uint64_t key)
{
	if (!m->cap || !key)
		return SIZE_MAX;
	for (size_t j = slot_of(m, key); m->slots[j].key; j = (j + 1) & (m->cap - 1))
		if (m->slots[j].key == key)
			return j;
	return SIZE_MAX;
}

void *idmap_get(const struct idmap *m, uint64_t key)
{
	size_t j = find(m, key);

	return j == SIZE_MAX ? NULL : m->slots[j].val;
}

void *idmap_del(struct idmap *m, uint64_t key)
{
	size_t mask = m->cap - 1, j = find(m, key), k;
	void *val;

	if (j == SIZE_MAX)
		return NULL;
	val = m->slots[j].val;
	/* Backward shift: pull later entries of the probe run into the hole
	 * unless their home slot lies cyclically in (hole, entry]. */
	for (k = (j + 1) & mask; m->slots[k].key; k = (k + 1) & mask) {
		size_t home = slot_of(m, m->slots[k].key);

		if (((k - home) & mask) >= ((k - j) & mask)) {
			m->slots[j] = m->slots[k];
			j = k;
		}
	}
	m->slots[j].key = 0;
	m->slots[j].val = NULL;
	m->n--;
	return val;
}

bool idmap_next(const struct idmap *m, size_t *pos, uint64_t *key, void **val)
{
	for (; *pos < m->cap; ++*pos) {
		if (!m->slots[*pos].key)
			continue;
		*key = m->slots[*pos].key;
		*val = m->slots[(*pos)++].val;
		return true;
	}
	return false;
}
