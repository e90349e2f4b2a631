/* Objects stored per inode (osd/space): one counter per inode, changed
 * where an object's newest version turns from absent or deleted into a
 * write or back (chain_append, obj_rollback). Flushing and trimming never
 * change that (a write to an absent object is always a big write, so its
 * flushed state has a block; a flushed delete has none). Counted afresh
 * when the blockstore is opened (metadata and journal replay build the
 * index without these hooks being meaningful) and after an allocation
 * failure lost an update. Counters of inodes that lose every object stay
 * (zero): the map only grows with the number of inodes ever stored. */
#include "bs_internal.h"

bool obj_live(struct bs *bs, uint32_t oi)
{
	bool deleted;

	obj_newest(bs, oi, &deleted);
	return !deleted;
}

void space_note(struct bs *bs, uint64_t inode, bool was, bool now)
{
	uint64_t *c;

	if (was == now || bs->space_stale || !inode)
		return;
	c = idmap_get(&bs->space, inode);
	if (!c && now) {
		c = calloc(1, sizeof(*c));
		if (c && idmap_put(&bs->space, inode, c)) {
			free(c);
			c = NULL;
		}
	}
	if (!c || (!now && !*c)) {
		bs->space_stale = true;
		return;
	}
	*c += now ? 1 : (uint64_t)-1;
}

void space_recount(struct bs *bs)
{
	size_t pos = 0;
	uint64_t key;
	void *val;

	while (idmap_next(&bs->space, &pos, &key, &val))
		*(uint64_t *)val = 0;
	bs->space_stale = false;
	for (uint32_t oi = 0; oi < bs->nobjs_cap && !bs->space_stale; oi++)
		if (!(bs->objs[oi].flags & OF_FREE) && obj_live(bs, oi))
			space_note(bs, bs->objs[oi].inode, false, true);
}

void space_free(struct bs *bs)
{
	size_t pos = 0;
	uint64_t key;
	void *val;

	while (idmap_next(&bs->space, &pos, &key, &val))
		free(val);
	idmap_free(&bs->space);
}

void bs_inode_space(struct bs *bs, void (*fn)(void *arg, uint64_t inode, uint64_t objects),
		    void *arg)
{
	size_t pos = 0;
	uint64_t key;
	void *val;

	if (bs->space_stale)
		space_recount(bs);
	if (bs->space_stale)
		return;		/* out of memory: nothing rather than wrong figures */
	while (idmap_next(&bs->space, &pos, &key, &val))
		if (*(uint64_t *)val)
			fn(arg, key, *(uint64_t *)val);
}
