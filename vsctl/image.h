/* vsctl: the image table of config/inode/ shared by the image commands
 * (cmd_image.c) and the snapshot/clone commands (cmd_snap.c, snap_copy.c). */
#ifndef VSTOR_VSCTL_IMAGE_H
#define VSTOR_VSCTL_IMAGE_H

#include "vsctl.h"

struct image {
	uint64_t pool, num;		/* num: the 48-bit number inside the pool */
	const char *name;
	uint64_t size;
	bool readonly;
	uint64_t parent_pool, parent_num;	/* 0: no parent */
	json_t obj;
	int64_t mod_rev;
};

struct images {
	struct etcd_result res;
	struct image *v;
	size_t n;
};

static inline uint64_t image_inode(const struct image *im)
{
	return (im->pool << 48) | im->num;
}

/* Every image; malformed entries are skipped (with a warning if warn).
 * 0 or -1 (printed); free with images_free() in both cases. */
int images_load(struct vsctl *v, struct images *ims, bool warn);
void images_free(struct images *ims);
const struct image *images_find(const struct images *ims, uint64_t pool, uint64_t num);
/* Finds an image by name: 1 found (*im owns its parsed object: json_free
 * im->obj), 0 not found (printed unless quiet), -1 error. *idx_rev: the
 * mod_revision of index/image/<name>, 0 if absent. */
int image_lookup(struct vsctl *v, const char *name, struct image *im, int64_t *idx_rev,
	bool quiet);
/* The inode object: old's other members kept, name/size/readonly set. */
void inode_json(struct strbuf *sb, json_t old, const char *name, uint64_t size, bool readonly);
/* The same with the parent replaced: parent_id pnum (0: none) in pool
 * ppool (parent_pool written only when it is not own_pool). */
void inode_json_parent(struct strbuf *sb, json_t old, const char *name, uint64_t size,
	bool readonly, uint64_t own_pool, uint64_t ppool, uint64_t pnum);
/* A short random sleep before retrying a txn that lost a race. */
void backoff(int attempt);
const char *pool_name(const struct vs_pools *pools, uint64_t id, char *buf, size_t len);
/* Creates image name (size bytes) in pool_id, on top of parent (NULL: no
 * parent; its config/inode revision is part of the guard); prints the
 * result when print. VS_OK or VS_ERR (printed). */
int image_create_in(struct vsctl *v, const char *name, uint64_t size, uint64_t pool_id,
	const struct image *parent, bool print);

/* The next inode number of pool (above floor_num) and index/maxid's
 * mod_revision (0: absent) for the guard. 0 or -1 (printed). */
int image_next_num(struct vsctl *v, uint64_t pool, uint64_t floor_num, uint64_t *num,
	int64_t *max_rev);
/* The JSON object of 'vsctl ls --json' / 'info --json' (all: for parent
 * names, may be NULL). */
void image_json(struct strbuf *sb, const struct image *im, const struct vs_pools *pools,
	const struct images *all);
/* The parent's name, "pool/id" when unknown, "-" without one. */
const char *parent_text(const struct image *im, const struct images *all, char *buf,
	size_t len);
/* 'vsctl rm NAME': data, then etcd entries; refuses parents (unless
 * --force). Prints the result when print; *deleted_out (may be NULL) gets
 * the number of objects deleted. VS_OK / VS_ERR. */
int image_rm(struct vsctl *v, const char *name, bool print, uint64_t *deleted_out);
/* Does another image have im as its parent? (its name to child) */
bool image_has_children(struct vsctl *v, const struct image *im, char *child, size_t len);

#endif
