/* vsctl: snapshots and clones (cmd_snap.c) and the layer copy they use
 * (snap_copy.c). */
#ifndef VSTOR_VSCTL_SNAP_H
#define VSTOR_VSCTL_SNAP_H

#include "image.h"

struct lc_run;

/* Copy into target's own layer what src holds and target does not (see
 * snap_copy.c), over the target objects units[0..n). */
struct layer_copy {
	uint64_t target, src;		/* full inode ids */
	unsigned src_flags;		/* VSTOR_RW_NO_PARENTS: src's own layer only */
	uint64_t stripe;		/* the target pool's object size */
	uint64_t block;			/* block_size (set by layer_copy_run) */
	uint64_t limit;			/* bytes of the target considered (size, 4 KiB up) */
	uint64_t *units;		/* target object offsets, sorted, unique */
	size_t n, cap;
	uint64_t bytes, objects;	/* copied, target objects written */
	uint64_t retries;		/* objects read again after a failed compare */
	struct lc_run *run;
};

/* Adds the target objects that overlap objects of layer (listed with
 * vstor_list_inode; refused while OSDs that may hold some are down).
 * 0 or -1 (printed). */
int layer_units_add(struct vsctl *v, struct vstor_client *c, struct layer_copy *lc,
	uint64_t layer, const char *layer_name);
/* Runs the copy with depth objects in flight and a progress bar named
 * what; 0 or a negative errno (nothing printed). */
int layer_copy_run(struct vsctl *v, struct vstor_client *c, struct layer_copy *lc,
	const char *what, unsigned depth);
void layer_copy_free(struct layer_copy *lc);

#endif
