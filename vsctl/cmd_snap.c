/* vsctl snap create|ls|rm, clone, flatten: layered images (spec 4.0.2, 9).
 *
 * A snapshot is done the Vitastor way: the image's inode itself becomes
 * the readonly snapshot IMAGE@SNAP (its data stays where it is) and a new,
 * empty inode with parent_id = the old one takes the name IMAGE. A clone
 * is a new image on top of a readonly one. Every etcd change is one txn
 * guarded by the revisions of the keys it was computed from. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snap.h"

#define GRAN 4096u
#define ATTEMPTS 50
#define SNAP_RM_GRACE_MS 1000	/* between the rebase and deleting the data */

static void inode_key(char *buf, size_t len, const struct image *im)
{
	snprintf(buf, len, "config/inode/%" PRIu64 "/%" PRIu64, im->pool, im->num);
}

static bool is_child(const struct image *c, const struct image *p)
{
	return c->parent_num == p->num && c->parent_pool == p->pool;
}

/* ---- snap create ---- */

/* One attempt: 1 done, 0 lost a race (retry), -1 failed (printed). */
static int snap_create_once(struct vsctl *v, const char *img, const char *full,
			    uint64_t *floor_num)
{
	struct image im, other;
	int64_t idx_rev, sidx_rev, max_rev;
	char okey[64], nkey[64], idx[512], sidx[512], max_key[64], nbuf[32], iv[96], sv[96];
	struct strbuf ob, nb;
	uint64_t num;
	int r, rc = -1;

	if ((r = image_lookup(v, img, &im, &idx_rev, false)) <= 0)
		return -1;
	if (im.readonly) {
		vs_err("image '%s' is readonly; a snapshot of it would be a writable layer: "
		       "use 'vsctl clone %s NEW' for one", img, img);
		goto out;
	}
	r = image_lookup(v, full, &other, &sidx_rev, true);
	if (r) {
		if (r > 0) {
			vs_err("image '%s' already exists; choose another snapshot name", full);
			json_free(other.obj);
		}
		goto out;
	}
	if (image_next_num(v, im.pool, *floor_num, &num, &max_rev) < 0)
		goto out;
	inode_key(okey, sizeof(okey), &im);
	snprintf(nkey, sizeof(nkey), "config/inode/%" PRIu64 "/%" PRIu64, im.pool, num);
	snprintf(idx, sizeof(idx), "index/image/%s", img);
	snprintf(sidx, sizeof(sidx), "index/image/%s", full);
	snprintf(max_key, sizeof(max_key), "index/maxid/%" PRIu64, im.pool);
	snprintf(nbuf, sizeof(nbuf), "%" PRIu64, num);
	snprintf(iv, sizeof(iv), "{\"id\":%" PRIu64 ",\"pool_id\":%" PRIu64 "}", num, im.pool);
	snprintf(sv, sizeof(sv), "{\"id\":%" PRIu64 ",\"pool_id\":%" PRIu64 "}", im.num, im.pool);
	sb_init(&ob);
	sb_init(&nb);
	inode_json(&ob, im.obj, full, im.size, true);
	inode_json_parent(&nb, NULL, img, im.size, false, im.pool, im.pool, im.num);

	struct etcd_compare cmp[] = {
		{ .key = okey, .target = ETCD_CMP_MOD, .op = ETCD_CMP_EQUAL, .number = im.mod_rev },
		{ .key = idx, .target = ETCD_CMP_MOD, .op = ETCD_CMP_EQUAL, .number = idx_rev },
		{ .key = sidx, .target = ETCD_CMP_CREATE, .op = ETCD_CMP_EQUAL, .number = 0 },
		{ .key = nkey, .target = ETCD_CMP_CREATE, .op = ETCD_CMP_EQUAL, .number = 0 },
		{ .key = max_key, .target = ETCD_CMP_MOD, .op = ETCD_CMP_EQUAL, .number = max_rev },
	};
	struct etcd_txn_op ops[] = {
		{ .type = ETCD_OP_PUT, .put = { .key = max_key, .value = nbuf, .value_len = strlen(nbuf) } },
		{ .type = ETCD_OP_PUT, .put = { .key = okey, .value = ob.buf, .value_len = ob.len } },
		{ .type = ETCD_OP_PUT, .put = { .key = nkey, .value = nb.buf, .value_len = nb.len } },
		{ .type = ETCD_OP_PUT, .put = { .key = idx, .value = iv, .value_len = strlen(iv) } },
		{ .type = ETCD_OP_PUT, .put = { .key = sidx, .value = sv, .value_len = strlen(sv) } },
	};
	struct etcd_txn_req req = { .compare = cmp, .n_compare = 5, .success = ops, .n_success = 5 };

	r = vs_txn(v, &req);
	sb_free(&ob);
	sb_free(&nb);
	if (r == 1) {
		if (v->json)
			printf("{\"snapshot\":%s,\"snapshot_id\":%" PRIu64 ",\"image\":%s,\"id\":%"
			       PRIu64 ",\"pool_id\":%" PRIu64 ",\"inode\":%" PRIu64 "}\n", vs_q(full),
			       im.num, vs_q(img), num, im.pool, (im.pool << 48) | num);
		else
			printf("Snapshot '%s' created (pool %" PRIu64 ", id %" PRIu64 "); image '%s' "
			       "continues as id %" PRIu64 " on top of it\n", full, im.pool, im.num,
			       img, num);
		rc = 1;
	} else if (r == 0) {
		/* a race, or num is taken by an entry made without index/maxid */
		if (vs_get(v, nkey, NULL, NULL) > 0)
			*floor_num = num;
		rc = 0;
	}
out:
	json_free(im.obj);
	return rc;
}

int cmd_snap_create(struct vsctl *v)
{
	const char *full = v->args[0], *at = strrchr(full, '@');
	uint64_t floor_num = 0;
	char img[256];

	if (vs_check_image_name(v, full))
		return VS_USAGE;
	if (!at || at == full || !at[1])
		return vs_usage(v, "give the snapshot as IMAGE@SNAPSHOT (for example vm1@before-upgrade)");
	memcpy(img, full, (size_t)(at - full));
	img[at - full] = 0;
	for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
		int r = snap_create_once(v, img, full, &floor_num);

		if (r)
			return r > 0 ? VS_OK : VS_ERR;
		backoff(attempt);
	}
	vs_err("image '%s' keeps changing concurrently; try again", img);
	return VS_ERR;
}

/* ---- clone ---- */

int cmd_clone(struct vsctl *v)
{
	const char *snap = v->args[0], *name = v->args[1];
	struct image p;
	int64_t idx_rev;
	uint64_t size = 0, pool_id;
	int rc = VS_ERR;

	if (vs_check_image_name(v, name))
		return VS_USAGE;
	if (vs_opt_set(v, "size") && vs_parse_size(v, "size", vs_opt_str(v, "size"), &size) < 0)
		return VS_USAGE;
	if (vs_opt_set(v, "size") && !size)
		return vs_usage(v, "--size must be positive");
	if (image_lookup(v, snap, &p, &idx_rev, false) <= 0)
		return VS_ERR;
	if (!p.readonly) {
		vs_err("image '%s' is not readonly, so it may still change under a clone: clone "
		       "a snapshot of it ('vsctl snap create %s@NAME', then 'vsctl clone %s@NAME "
		       "%s'), or mark it readonly ('vsctl modify %s --readonly')", snap, snap, snap,
		       name, snap);
		goto out;
	}
	pool_id = p.pool;
	if (vs_opt_str(v, "pool")) {
		struct vs_pools pools;
		const struct vs_pool *pl;

		if (vs_pools_load(v, &pools, false) < 0)
			goto out;
		pl = vs_pool_find(&pools, vs_opt_str(v, "pool"));
		if (pl)
			pool_id = pl->id;
		vs_pools_free(&pools);
		if (!pl)
			goto out;
	}
	if (!vs_opt_set(v, "size"))
		size = p.size;
	if (!size) {
		vs_err("image '%s' has no size; give the clone one with --size", snap);
		goto out;
	}
	rc = image_create_in(v, name, size, pool_id, &p, true);
out:
	json_free(p.obj);
	return rc;
}

/* ---- snap ls ---- */

static void children_text(struct strbuf *sb, const struct images *ims, const struct image *p,
			  bool json)
{
	size_t k = 0;

	for (size_t i = 0; i < ims->n; i++) {
		if (!is_child(&ims->v[i], p))
			continue;
		if (json) {
			sb_puts(sb, k ? "," : "");
			sb_json_str(sb, ims->v[i].name);
		} else {
			sb_printf(sb, "%s%s", k ? "," : "", ims->v[i].name);
		}
		k++;
	}
	if (!k && !json)
		sb_puts(sb, "-");
}

static void ls_row(struct vs_table *t, struct strbuf *js, const struct image *im,
		   const struct images *ims, const struct vs_pools *pools, int layer)
{
	char b1[32], b2[32], b3[48];
	struct strbuf ch;

	sb_init(&ch);
	children_text(&ch, ims, im, false);
	vs_table_row(t);
	if (layer >= 0)
		vs_table_cell(t, "%d", layer);
	vs_table_cell(t, "%s", im->name);
	vs_table_cell(t, "%s", pool_name(pools, im->pool, b1, sizeof(b1)));
	vs_table_cell(t, "%" PRIu64, im->num);
	vs_table_cell(t, "%s", vs_fmt_size(im->size, b2, sizeof(b2)));
	vs_table_cell(t, "%s", im->readonly ? "ro" : "-");
	vs_table_cell(t, "%s", parent_text(im, ims, b3, sizeof(b3)));
	vs_table_cell(t, "%s", ch.buf);
	sb_free(&ch);
	/* the 'vsctl ls --json' object with "children" (and "layer") added */
	if (js->len > 1)
		sb_puts(js, ",");
	image_json(js, im, pools, ims);
	js->buf[--js->len] = 0;		/* reopen the object */
	if (layer >= 0)
		sb_printf(js, ",\"layer\":%d", layer);
	sb_puts(js, ",\"children\":[");
	children_text(js, ims, im, true);
	sb_puts(js, "]}");
}

int cmd_snap_ls(struct vsctl *v)
{
	struct vs_pools pools;
	struct images ims;
	struct vs_table *t = NULL;
	struct strbuf js;
	int rc = VS_ERR;

	sb_init(&js);
	sb_puts(&js, "[");
	if (vs_pools_load(v, &pools, false) < 0)
		return VS_ERR;
	if (images_load(v, &ims, false) < 0)
		goto out;
	if (v->nargs) {
		const struct image *im = NULL;

		for (size_t i = 0; i < ims.n && !im; i++)
			if (!strcmp(ims.v[i].name, v->args[0]))
				im = &ims.v[i];
		if (!im) {
			vs_err("image '%s' does not exist (see 'vsctl ls')", v->args[0]);
			goto out;
		}
		/* the chain from the image down to its base */
		t = vs_table_new(">LAYER|NAME|POOL|>ID|>SIZE|READONLY|PARENT|CHILDREN");
		for (int layer = 0; im && layer <= (int)ims.n; layer++) {
			ls_row(t, &js, im, &ims, &pools, layer);
			im = im->parent_num ? images_find(&ims, im->parent_pool, im->parent_num) : NULL;
		}
	} else {
		/* every snapshot: readonly images and images with children */
		t = vs_table_new("NAME|POOL|>ID|>SIZE|READONLY|PARENT|CHILDREN");
		for (size_t i = 0; i < ims.n; i++) {
			bool parent = false;

			for (size_t j = 0; j < ims.n && !parent; j++)
				parent = is_child(&ims.v[j], &ims.v[i]);
			if (ims.v[i].readonly || parent)
				ls_row(t, &js, &ims.v[i], &ims, &pools, -1);
		}
	}
	sb_puts(&js, "]");
	if (v->json)
		printf("%s\n", js.buf);
	else
		vs_table_print(t, stdout);
	rc = VS_OK;
out:
	vs_table_free(t);
	sb_free(&js);
	images_free(&ims);
	vs_pools_free(&pools);
	return rc;
}

/* ---- flatten, snap rm ---- */

static int depth_of(struct vsctl *v, unsigned *depth)
{
	uint64_t d;

	if (vs_opt_num(v, "io_depth", 16, &d))
		return VS_USAGE;
	if (!d || d > 1024)
		return vs_usage(v, "--io-depth must be 1..1024");
	*depth = (unsigned)d;
	return VS_OK;
}

static uint64_t copy_limit(uint64_t size)
{
	/* no size: everything the layers hold */
	return size ? (size + GRAN - 1) / GRAN * GRAN : UINT64_MAX / GRAN * GRAN;
}

/* Replaces the parent of im (still at rev) with (ppool, pnum): 1 done,
 * 0 the key changed, -1 error. */
static int set_parent(struct vsctl *v, const struct image *im, uint64_t ppool, uint64_t pnum)
{
	char key[64];
	struct strbuf sb;
	int r;

	inode_key(key, sizeof(key), im);
	sb_init(&sb);
	inode_json_parent(&sb, im->obj, im->name, im->size, im->readonly, im->pool, ppool, pnum);

	struct etcd_compare cmp = { .key = key, .target = ETCD_CMP_MOD, .op = ETCD_CMP_EQUAL,
		.number = im->mod_rev };
	struct etcd_txn_op op = { .type = ETCD_OP_PUT, .put = { .key = key, .value = sb.buf,
		.value_len = sb.len } };
	struct etcd_txn_req req = { .compare = &cmp, .n_compare = 1, .success = &op,
		.n_success = 1 };

	r = vs_txn(v, &req);
	sb_free(&sb);
	return r;
}

/* Detaches im from its parent once it is done copying: retried while only
 * other fields change; refused when the parent changed. */
static int detach(struct vsctl *v, const char *name, uint64_t ppool, uint64_t pnum)
{
	for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
		struct image im;
		int64_t idx_rev;
		int r = image_lookup(v, name, &im, &idx_rev, false);

		if (r <= 0)
			return VS_ERR;
		if (im.parent_pool != ppool || im.parent_num != pnum) {
			vs_err("the parent of '%s' changed during flatten; run it again", name);
			json_free(im.obj);
			return VS_ERR;
		}
		r = set_parent(v, &im, 0, 0);
		json_free(im.obj);
		if (r < 0)
			return VS_ERR;
		if (r)
			return VS_OK;
		backoff(attempt);
	}
	vs_err("image '%s' keeps changing concurrently; try again", name);
	return VS_ERR;
}

int cmd_flatten(struct vsctl *v)
{
	const char *name = v->args[0];
	struct layer_copy lc = { .src_flags = 0 };
	struct vs_image_io io = { 0 };
	struct images ims = { 0 };
	struct image im;
	int64_t idx_rev;
	unsigned depth = 16;
	int rc, r;

	if ((rc = depth_of(v, &depth)))
		return rc;
	if (image_lookup(v, name, &im, &idx_rev, false) <= 0)
		return VS_ERR;
	rc = VS_ERR;
	if (!im.parent_num) {
		if (v->json)
			printf("{\"name\":%s,\"flattened\":false}\n", vs_q(name));
		else
			printf("Image '%s' has no parent: nothing to flatten\n", name);
		rc = VS_OK;
		goto out;
	}
	if (vs_client_open(v, &io, NULL, false) || images_load(v, &ims, false) < 0)
		goto out;
	lc.target = image_inode(&im);
	lc.src = (im.parent_pool << 48) | im.parent_num;
	lc.stripe = vstor_inode_stripe_size(io.c, lc.target);
	lc.limit = copy_limit(im.size);
	if (!lc.stripe) {
		vs_err("the pool of '%s' is not in config/pools", name);
		goto out;
	}
	/* the objects of every layer below: where the parents have data */
	uint64_t pp = im.parent_pool, pn = im.parent_num;

	for (size_t depth_n = 0; pn && depth_n <= ims.n; depth_n++) {
		const struct image *p = images_find(&ims, pp, pn);
		char what[64];

		snprintf(what, sizeof(what), "%" PRIu64 "/%" PRIu64, pp, pn);
		if (layer_units_add(v, io.c, &lc, (pp << 48) | pn, p ? p->name : what) < 0)
			goto out;
		pp = p ? p->parent_pool : 0;
		pn = p ? p->parent_num : 0;
	}
	r = layer_copy_run(v, io.c, &lc, "flatten", depth);
	if (r) {
		vs_err("flatten '%s': copying the parent data failed: %s; the image keeps its "
		       "parent, run it again", name, strerror(-r));
		goto out;
	}
	rc = detach(v, name, im.parent_pool, im.parent_num);
	if (!rc && v->json)
		printf("{\"name\":%s,\"flattened\":true,\"objects_written\":%" PRIu64
		       ",\"bytes_copied\":%" PRIu64 ",\"cas_retries\":%" PRIu64 "}\n", vs_q(name),
		       lc.objects, lc.bytes, lc.retries);
	else if (!rc)
		printf("Image '%s' flattened: %" PRIu64 " bytes copied from its parents into %"
		       PRIu64 " objects (%" PRIu64 " redone after concurrent writes); it has no "
		       "parent now\n", name, lc.bytes, lc.objects, lc.retries);
out:
	layer_copy_free(&lc);
	images_free(&ims);
	vs_client_close(&io);
	json_free(im.obj);
	return rc;
}

/* Merges snapshot s's own data into every child not merged yet (done[]
 * holds their inode ids). 0 or -1 (printed). */
static int merge_children(struct vsctl *v, struct vstor_client *c, const struct images *ims,
			  const struct image *s, uint64_t **done, size_t *ndone, unsigned depth,
			  uint64_t *bytes)
{
	for (size_t i = 0; i < ims->n; i++) {
		const struct image *ch = &ims->v[i];
		struct layer_copy lc = { .src_flags = VSTOR_RW_NO_PARENTS };
		uint64_t *d;
		char what[300];
		bool seen = false;
		int r;

		for (size_t k = 0; k < *ndone && !seen; k++)
			seen = (*done)[k] == image_inode(ch);
		if (seen || !is_child(ch, s))
			continue;
		lc.target = image_inode(ch);
		lc.src = image_inode(s);
		lc.stripe = vstor_inode_stripe_size(c, lc.target);
		/* all of s: what lies past the child's end is unreachable anyway */
		lc.limit = copy_limit(0);
		if (!lc.stripe) {
			vs_err("the pool of '%s' is not in config/pools", ch->name);
			return -1;
		}
		if (layer_units_add(v, c, &lc, lc.src, s->name) < 0) {
			layer_copy_free(&lc);
			return -1;
		}
		snprintf(what, sizeof(what), "merge into %s", ch->name);
		r = layer_copy_run(v, c, &lc, what, depth);
		layer_copy_free(&lc);
		if (r) {
			vs_err("snap rm '%s': merging it into '%s' failed: %s; nothing was removed, "
			       "run it again", s->name, ch->name, strerror(-r));
			return -1;
		}
		*bytes += lc.bytes;
		if (!(d = realloc(*done, (*ndone + 1) * sizeof(*d)))) {
			vs_err("out of memory");
			return -1;
		}
		*done = d;
		d[(*ndone)++] = lc.target;
	}
	return 0;
}

/* Rebases every child of s onto s's parent in one txn guarded by s and
 * the children: 1 done, 0 something changed, -1 error. */
static int rebase_children(struct vsctl *v, const struct images *ims, const struct image *s)
{
	size_t n = 0, k = 0;
	struct etcd_compare *cmp;
	struct etcd_txn_op *ops;
	struct strbuf *sbs;
	char (*keys)[64];
	int r = -1;

	for (size_t i = 0; i < ims->n; i++)
		n += is_child(&ims->v[i], s);
	cmp = calloc(n + 1, sizeof(*cmp));
	ops = calloc(n + 1, sizeof(*ops));
	sbs = calloc(n + 1, sizeof(*sbs));
	keys = calloc(n + 1, sizeof(*keys));
	if (!cmp || !ops || !sbs || !keys) {
		vs_err("out of memory");
		goto out;
	}
	inode_key(keys[n], sizeof(keys[n]), s);
	cmp[n] = (struct etcd_compare){ .key = keys[n], .target = ETCD_CMP_MOD,
		.op = ETCD_CMP_EQUAL, .number = s->mod_rev };
	for (size_t i = 0; i < ims->n; i++) {
		const struct image *ch = &ims->v[i];

		if (!is_child(ch, s))
			continue;
		inode_key(keys[k], sizeof(keys[k]), ch);
		sb_init(&sbs[k]);
		inode_json_parent(&sbs[k], ch->obj, ch->name, ch->size, ch->readonly, ch->pool,
				  s->parent_pool, s->parent_num);
		cmp[k] = (struct etcd_compare){ .key = keys[k], .target = ETCD_CMP_MOD,
			.op = ETCD_CMP_EQUAL, .number = ch->mod_rev };
		ops[k] = (struct etcd_txn_op){ .type = ETCD_OP_PUT, .put = { .key = keys[k],
			.value = sbs[k].buf, .value_len = sbs[k].len } };
		k++;
	}
	struct etcd_txn_req req = { .compare = cmp, .n_compare = n + 1, .success = ops,
		.n_success = n };

	r = n ? vs_txn(v, &req) : 1;
out:
	for (size_t i = 0; sbs && i < k; i++)
		sb_free(&sbs[i]);
	free(cmp);
	free(ops);
	free(sbs);
	free(keys);
	return r;
}

int cmd_snap_rm(struct vsctl *v)
{
	const char *name = v->args[0];
	struct vs_image_io io = { 0 };
	uint64_t *done = NULL, bytes = 0, pool = 0, num = 0, deleted = 0;
	size_t ndone = 0;
	unsigned depth = 16;
	int rc, r = 0;

	if ((rc = depth_of(v, &depth)))
		return rc;
	rc = VS_ERR;
	for (int attempt = 0; attempt < ATTEMPTS && r != 1; attempt++) {
		struct images ims;
		struct image im;
		const struct image *s;
		int64_t idx_rev;

		if (image_lookup(v, name, &im, &idx_rev, false) <= 0)
			goto out;
		json_free(im.obj);
		if (!im.readonly) {
			vs_err("image '%s' is not a snapshot (not readonly); 'vsctl rm %s' removes an "
			       "image", name, name);
			goto out;
		}
		if (num && (im.pool != pool || im.num != num)) {
			vs_err("image '%s' was replaced during snap rm; run it again", name);
			goto out;
		}
		pool = im.pool;
		num = im.num;
		if (images_load(v, &ims, false) < 0 || !(s = images_find(&ims, pool, num))) {
			images_free(&ims);
			goto out;
		}
		if (!io.c && vs_client_open(v, &io, NULL, false)) {
			images_free(&ims);
			goto out;
		}
		r = merge_children(v, io.c, &ims, s, &done, &ndone, depth, &bytes);
		if (!r)
			r = rebase_children(v, &ims, s);
		images_free(&ims);
		if (r < 0)
			goto out;
		if (!r)
			backoff(attempt);
	}
	if (r != 1) {
		vs_err("image '%s' or its children keep changing concurrently; try again", name);
		goto out;
	}
	vs_client_close(&io);
	if (ndone && !v->json)
		printf("Snapshot '%s' merged into %zu child image(s) (%" PRIu64 " bytes copied); "
		       "they now use its parent\n", name, ndone, bytes);
	/* Readers that looked up the old chain before the rebase reached them
	 * (etcd watch lag) may still read the snapshot: give their clients
	 * time to see it (they then read again, client_layer.c) before its
	 * data goes. */
	if (ndone) {
		struct timespec ts = { SNAP_RM_GRACE_MS / 1000, SNAP_RM_GRACE_MS % 1000 * 1000000L };

		nanosleep(&ts, NULL);
	}
	/* childless now: remove it like 'vsctl rm' (its data, then its keys) */
	rc = image_rm(v, name, !v->json, &deleted);
	if (!rc && v->json)
		printf("{\"name\":%s,\"pool_id\":%" PRIu64 ",\"id\":%" PRIu64 ",\"merged_into\":%zu,"
		       "\"bytes_copied\":%" PRIu64 ",\"objects_deleted\":%" PRIu64 "}\n", vs_q(name),
		       pool, num, ndone, bytes, deleted);
out:
	vs_client_close(&io);
	free(done);
	return rc;
}

/* ---- modify --readwrite guard ---- */

bool image_has_children(struct vsctl *v, const struct image *im, char *child, size_t len)
{
	struct images ims;
	bool found = false;

	if (images_load(v, &ims, false) < 0) {
		images_free(&ims);
		return false;
	}
	for (size_t i = 0; i < ims.n && !found; i++)
		if ((found = is_child(&ims.v[i], im)))
			snprintf(child, len, "%s", ims.v[i].name);
	images_free(&ims);
	return found;
}
