/* vsctl create|ls|info|modify|rm: images (config/inode/<pool>/<n> and
 * index/image/<name>, index/maxid/<pool>; spec §6, §9). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image.h"

/* "config/inode/<pool>/<n>" -> pool, n; false when malformed. */
static bool parse_inode_key(const char *key, uint64_t *pool, uint64_t *num)
{
	const char *p = key + strlen("config/inode/"), *slash = strchr(p, '/');
	char buf[32];

	if (strncmp(key, "config/inode/", 13) || !slash || (size_t)(slash - p) >= sizeof(buf))
		return false;
	memcpy(buf, p, (size_t)(slash - p));
	buf[slash - p] = 0;
	*pool = vs_key_num(buf, "");
	*num = vs_key_num(slash + 1, "");
	return *pool && *pool <= VS_MAX_POOL_ID && *num && *num <= VS_MAX_INODE_NUM;
}

static bool fill_image(struct image *im, uint64_t pool, uint64_t num, json_t obj, int64_t rev)
{
	json_t pp = json_get(obj, "parent_pool"), pid = json_get(obj, "parent_id");
	uint64_t x;

	memset(im, 0, sizeof(*im));
	im->pool = pool;
	im->num = num;
	im->obj = obj;
	im->mod_rev = rev;
	im->name = json_str(json_get(obj, "name"));
	if (!json_is_obj(obj) || !im->name)
		return false;
	if (json_get(obj, "size"))
		json_u64(json_get(obj, "size"), &im->size);
	if (json_get(obj, "readonly"))
		json_bool(json_get(obj, "readonly"), &im->readonly);
	if (pid && !json_u64(pid, &x) && x) {
		if (x > VS_MAX_INODE_NUM) {
			im->parent_pool = x >> 48;
			im->parent_num = x & VS_MAX_INODE_NUM;
		} else {
			im->parent_pool = pool;
			if (pp)
				json_u64(pp, &im->parent_pool);
			im->parent_num = x;
		}
	}
	return true;
}

void images_free(struct images *ims)
{
	for (size_t i = 0; i < ims->n; i++)
		json_free(ims->v[i].obj);
	free(ims->v);
	etcd_result_clear(&ims->res);
	memset(ims, 0, sizeof(*ims));
}

/* Every image; malformed entries are skipped with a warning. */
int images_load(struct vsctl *v, struct images *ims, bool warn)
{
	char err[256];

	memset(ims, 0, sizeof(*ims));
	if (vs_list(v, "config/inode/", &ims->res) < 0)
		return -1;
	ims->v = calloc(ims->res.n_kvs + 1, sizeof(*ims->v));
	if (!ims->v) {
		vs_err("out of memory");
		return -1;
	}
	for (size_t i = 0; i < ims->res.n_kvs; i++) {
		const struct etcd_kv *kv = &ims->res.kvs[i];
		uint64_t pool, num;
		json_t obj;

		if (!parse_inode_key(kv->key, &pool, &num)) {
			if (warn)
				vs_warn("ignoring etcd key %s: not config/inode/<pool>/<number>",
					kv->full_key);
			continue;
		}
		obj = json_parse(kv->value, kv->value_len, err, sizeof(err));
		if (!obj || !fill_image(&ims->v[ims->n], pool, num, obj, kv->mod_revision)) {
			if (warn)
				vs_warn("ignoring etcd key %s: %s", kv->full_key,
					obj ? "not an object with a name" : err);
			if (obj)
				json_free(obj);
			continue;
		}
		ims->n++;
	}
	return 0;
}

const struct image *images_find(const struct images *ims, uint64_t pool, uint64_t num)
{
	for (size_t i = 0; i < ims->n; i++)
		if (ims->v[i].pool == pool && ims->v[i].num == num)
			return &ims->v[i];
	return NULL;
}

/* Finds an image by name: index/image/<name> first, then a scan of
 * config/inode/ (images created by hand). 1 found, 0 not found (printed
 * unless quiet), -1 error. *idx_rev: mod_revision of the index key, 0 if
 * absent. On success *im holds its own parsed object. */
int image_lookup(struct vsctl *v, const char *name, struct image *im, int64_t *idx_rev,
	bool quiet)
{
	char key[512], ikey[64];
	json_t idx, obj;
	uint64_t pool = 0, num = 0;
	int64_t rev;
	int rc;

	*idx_rev = 0;
	snprintf(key, sizeof(key), "index/image/%s", name);
	rc = vs_get_json(v, key, &idx, idx_rev);
	if (rc < 0)
		return -1;
	if (rc) {
		json_u64(json_get(idx, "id"), &num);
		json_u64(json_get(idx, "pool_id"), &pool);
		json_free(idx);
		snprintf(ikey, sizeof(ikey), "config/inode/%" PRIu64 "/%" PRIu64, pool, num);
		rc = num && pool ? vs_get_json(v, ikey, &obj, &rev) : 0;
		if (rc < 0)
			return -1;
		if (rc && fill_image(im, pool, num, obj, rev) && !strcmp(im->name, name))
			return 1;
		if (rc)
			json_free(obj);
		/* A stale index entry: fall back to the scan. */
	}
	struct images ims;

	if (images_load(v, &ims, false) < 0)
		return -1;
	for (size_t i = 0; i < ims.n; i++) {
		if (!strcmp(ims.v[i].name, name)) {
			*im = ims.v[i];
			for (size_t j = i; j + 1 < ims.n; j++)
				ims.v[j] = ims.v[j + 1];
			ims.n--;
			images_free(&ims);
			return 1;
		}
	}
	images_free(&ims);
	if (!quiet)
		vs_err("image '%s' does not exist (see 'vsctl ls')", name);
	return 0;
}

static bool good_name(const char *name)
{
	if (!name[0] || strlen(name) > 255 || strchr(name, '/'))
		return false;
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20)
			return false;
	return true;
}

static void inode_json_x(struct strbuf *sb, json_t old, const char *name, uint64_t size,
	bool readonly, bool set_parent, uint64_t own_pool, uint64_t ppool, uint64_t pnum)
{
	sb_puts(sb, "{\"name\":");
	sb_json_str(sb, name);
	sb_printf(sb, ",\"size\":%" PRIu64, size);
	if (readonly)
		sb_puts(sb, ",\"readonly\":true");
	if (set_parent && pnum && ppool != own_pool)
		sb_printf(sb, ",\"parent_pool\":%" PRIu64, ppool);
	if (set_parent && pnum)
		sb_printf(sb, ",\"parent_id\":%" PRIu64, pnum);
	for (size_t i = 0; old && i < json_len(old); i++) {
		const char *k = json_key_at(old, i);

		if (!strcmp(k, "name") || !strcmp(k, "size") || !strcmp(k, "readonly"))
			continue;
		if (set_parent && (!strcmp(k, "parent_id") || !strcmp(k, "parent_pool")))
			continue;
		sb_puts(sb, ",");
		sb_json_str(sb, k);
		sb_puts(sb, ":");
		sb_json_val(sb, json_at(old, i));
	}
	sb_puts(sb, "}");
}

void inode_json(struct strbuf *sb, json_t old, const char *name, uint64_t size, bool readonly)
{
	inode_json_x(sb, old, name, size, readonly, false, 0, 0, 0);
}

void inode_json_parent(struct strbuf *sb, json_t old, const char *name, uint64_t size,
	bool readonly, uint64_t own_pool, uint64_t ppool, uint64_t pnum)
{
	inode_json_x(sb, old, name, size, readonly, true, own_pool, ppool, pnum);
}

static const struct vs_pool *pick_pool(struct vsctl *v, const struct vs_pools *pools)
{
	const char *p = vs_opt_str(v, "pool");

	if (p)
		return vs_pool_find(pools, p);
	if (pools->n == 1)
		return &pools->pools[0];
	if (!pools->n) {
		vs_err("there are no pools; create one with 'vsctl pool create'");
		return NULL;
	}
	vs_err("there are %zu pools; say which one with --pool NAME|ID (see 'vsctl pool ls')",
	       pools->n);
	return NULL;
}

void backoff(int attempt)
{
	struct timespec ts = { 0, (long)(1 + rand() % (5 * (attempt + 1))) * 1000000L };

	nanosleep(&ts, NULL);
}

int vs_check_image_name(const struct vsctl *v, const char *name)
{
	if (!good_name(name))
		return vs_usage(v, "bad image name '%s': 1..255 characters, no '/' or control "
				"characters", name);
	return VS_OK;
}

int cmd_create(struct vsctl *v)
{
	const char *name = v->args[0];
	uint64_t size;

	if (vs_check_image_name(v, name))
		return VS_USAGE;
	if (!vs_opt_set(v, "size"))
		return vs_usage(v, "--size is required (for example --size 10G)");
	if (vs_parse_size(v, "size", vs_opt_str(v, "size"), &size) < 0)
		return VS_USAGE;
	if (!size)
		return vs_usage(v, "--size must be positive");
	return vs_image_create(v, name, size, true);
}

int image_next_num(struct vsctl *v, uint64_t pool, uint64_t floor_num, uint64_t *num,
	int64_t *max_rev)
{
	char max_key[64], *mv;
	uint64_t maxid = 0;
	int r;

	snprintf(max_key, sizeof(max_key), "index/maxid/%" PRIu64, pool);
	r = vs_get(v, max_key, &mv, max_rev);
	if (r < 0)
		return -1;
	if (r) {
		json_t j = json_parse(mv, strlen(mv), NULL, 0);

		if (!j || json_u64(j, &maxid) < 0) {
			vs_err("etcd key %s must hold a number, not \"%.60s\"; fix it", max_key, mv);
			if (j)
				json_free(j);
			free(mv);
			return -1;
		}
		json_free(j);
		free(mv);
	} else {
		*max_rev = 0;
	}
	*num = (maxid > floor_num ? maxid : floor_num) + 1;
	if (*num > VS_MAX_INODE_NUM) {
		vs_err("pool %" PRIu64 " has no free inode numbers left", pool);
		return -1;
	}
	return 0;
}

int vs_image_create(struct vsctl *v, const char *name, uint64_t size, bool print)
{
	const struct vs_pool *pool;
	struct vs_pools pools;
	int rc;

	if (vs_pools_load(v, &pools, false) < 0)
		return VS_ERR;
	pool = pick_pool(v, &pools);
	rc = pool ? image_create_in(v, name, size, pool->id, NULL, print) : VS_ERR;
	vs_pools_free(&pools);
	return rc;
}

int image_create_in(struct vsctl *v, const char *name, uint64_t size, uint64_t pool_id,
	const struct image *parent, bool print)
{
	const struct vs_pool *pool;
	struct vs_pools pools;
	uint64_t floor_num = 0;
	char idx_key[512], max_key[64], parent_key[64];
	int rc = VS_ERR;

	if (vs_pools_load(v, &pools, false) < 0)
		return VS_ERR;
	pool = vs_pool_by_id(&pools, pool_id);
	if (!pool) {
		vs_err("pool %" PRIu64 " is not in config/pools (see 'vsctl pool ls')", pool_id);
		vs_pools_free(&pools);
		return VS_ERR;
	}
	if (parent)
		snprintf(parent_key, sizeof(parent_key), "config/inode/%" PRIu64 "/%" PRIu64,
			 parent->pool, parent->num);
	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	snprintf(idx_key, sizeof(idx_key), "index/image/%s", name);
	snprintf(max_key, sizeof(max_key), "index/maxid/%" PRIu64, pool->id);
	for (int attempt = 0; attempt < 200; attempt++) {
		struct image old;
		int64_t idx_rev, max_rev;
		uint64_t num;
		char inode_key[64], nbuf[32], idxv[96];
		struct strbuf inode;
		int r;

		r = image_lookup(v, name, &old, &idx_rev, true);
		if (r < 0)
			break;
		if (r) {
			vs_err("image '%s' already exists (pool %" PRIu64 ", id %" PRIu64 ")", name,
			       old.pool, old.num);
			json_free(old.obj);
			break;
		}
		if (image_next_num(v, pool->id, floor_num, &num, &max_rev) < 0)
			break;
		snprintf(inode_key, sizeof(inode_key), "config/inode/%" PRIu64 "/%" PRIu64,
			 pool->id, num);
		snprintf(nbuf, sizeof(nbuf), "%" PRIu64, num);
		snprintf(idxv, sizeof(idxv), "{\"id\":%" PRIu64 ",\"pool_id\":%" PRIu64 "}", num,
			 pool->id);
		sb_init(&inode);
		if (parent)
			inode_json_parent(&inode, NULL, name, size, false, pool->id, parent->pool,
					  parent->num);
		else
			inode_json(&inode, NULL, name, size, false);

		/* a parent must not change (become writable, go away) meanwhile */
		struct etcd_compare cmp[] = {
			{ .key = inode_key, .target = ETCD_CMP_CREATE, .op = ETCD_CMP_EQUAL, .number = 0 },
			{ .key = idx_key, .target = ETCD_CMP_CREATE, .op = ETCD_CMP_EQUAL, .number = 0 },
			{ .key = max_key, .target = ETCD_CMP_MOD, .op = ETCD_CMP_EQUAL, .number = max_rev },
			{ .key = parent_key, .target = ETCD_CMP_MOD, .op = ETCD_CMP_EQUAL,
			  .number = parent ? parent->mod_rev : 0 },
		};
		struct etcd_txn_op ops[] = {
			{ .type = ETCD_OP_PUT, .put = { .key = max_key, .value = nbuf,
				.value_len = strlen(nbuf) } },
			{ .type = ETCD_OP_PUT, .put = { .key = inode_key, .value = inode.buf,
				.value_len = inode.len } },
			{ .type = ETCD_OP_PUT, .put = { .key = idx_key, .value = idxv,
				.value_len = strlen(idxv) } },
		};
		struct etcd_txn_req req = { .compare = cmp, .n_compare = parent ? 4 : 3,
			.success = ops, .n_success = 3 };

		r = vs_txn(v, &req);
		sb_free(&inode);
		if (r < 0)
			break;
		if (r == 1) {
			if (print && v->json)
				printf("{\"name\":%s,\"pool_id\":%" PRIu64 ",\"id\":%" PRIu64
				       ",\"inode\":%" PRIu64 ",\"size\":%" PRIu64 "%s%s}\n",
				       vs_q(name), pool->id, num, (pool->id << 48) | num, size,
				       parent ? ",\"parent\":" : "", parent ? vs_q(parent->name) : "");
			else if (print && parent)
				printf("Image '%s' created in pool '%s' with id %" PRIu64 " as a clone "
				       "of '%s'\n", name, pool->name, num, parent->name);
			else if (print)
				printf("Image '%s' created in pool '%s' with id %" PRIu64 "\n", name,
				       pool->name, num);
			rc = VS_OK;
			break;
		}
		if (parent) {
			struct image now;
			int64_t irev;

			r = image_lookup(v, parent->name, &now, &irev, true);
			if (r < 0)
				break;
			if (r)
				json_free(now.obj);
			if (!r || now.mod_rev != parent->mod_rev) {
				vs_err("image '%s' changed while cloning it; try again", parent->name);
				break;
			}
		}
		/* Lost a race, or the inode number is taken by an entry made
		 * without index/maxid: skip past it. */
		r = vs_get(v, inode_key, NULL, NULL);
		if (r < 0)
			break;
		if (r)
			floor_num = num;
		backoff(attempt);
	}
	vs_pools_free(&pools);
	return rc;
}

const char *pool_name(const struct vs_pools *pools, uint64_t id, char *buf, size_t len)
{
	const struct vs_pool *p = vs_pool_by_id(pools, id);

	if (p)
		return p->name;
	snprintf(buf, len, "%" PRIu64, id);
	return buf;
}

void image_json(struct strbuf *sb, const struct image *im, const struct vs_pools *pools,
	const struct images *all)
{
	char pb[32];

	sb_puts(sb, "{\"name\":");
	sb_json_str(sb, im->name);
	sb_printf(sb, ",\"pool_id\":%" PRIu64 ",\"pool_name\":", im->pool);
	sb_json_str(sb, pool_name(pools, im->pool, pb, sizeof(pb)));
	sb_printf(sb, ",\"id\":%" PRIu64 ",\"inode\":%" PRIu64 ",\"size\":%" PRIu64
		  ",\"readonly\":%s", im->num, (im->pool << 48) | im->num, im->size,
		  im->readonly ? "true" : "false");
	if (im->parent_num) {
		const struct image *p = all ? images_find(all, im->parent_pool, im->parent_num) : NULL;

		sb_printf(sb, ",\"parent_pool\":%" PRIu64 ",\"parent_id\":%" PRIu64,
			  im->parent_pool, im->parent_num);
		if (p) {
			sb_puts(sb, ",\"parent_name\":");
			sb_json_str(sb, p->name);
		}
	}
	sb_puts(sb, "}");
}

const char *parent_text(const struct image *im, const struct images *all, char *buf,
	size_t len)
{
	const struct image *p;

	if (!im->parent_num)
		return "-";
	p = all ? images_find(all, im->parent_pool, im->parent_num) : NULL;
	if (p)
		return p->name;
	snprintf(buf, len, "%" PRIu64 "/%" PRIu64, im->parent_pool, im->parent_num);
	return buf;
}

static int cmp_image(const void *a, const void *b)
{
	const struct image *x = a, *y = b;

	if (x->pool != y->pool)
		return x->pool < y->pool ? -1 : 1;
	return x->num < y->num ? -1 : x->num > y->num;
}

static int kv_cmp(const void *key, const void *kv)
{
	return strcmp(key, ((const struct etcd_kv *)kv)->key);
}

/* The value of key in a range result (etcd returns keys sorted). */
static json_t kv_find(const struct etcd_result *r, const char *key)
{
	const struct etcd_kv *kv = r->n_kvs ? bsearch(key, r->kvs, r->n_kvs, sizeof(*r->kvs),
						     kv_cmp) : NULL;

	return kv ? json_parse(kv->value, kv->value_len, NULL, 0) : NULL;
}

/* Usable bytes an image takes: the monitor's inode/stats raw_used x the
 * pool's raw_to_usable (pool/stats); -1 when either is missing. */
static double image_used(const struct etcd_result *ist, const struct etcd_result *pst,
	const struct image *im)
{
	char key[96];
	json_t is, ps;
	double raw = -1, r2u = -1;

	snprintf(key, sizeof(key), "inode/stats/%" PRIu64 "/%" PRIu64, im->pool, im->num);
	is = kv_find(ist, key);
	snprintf(key, sizeof(key), "pool/stats/%" PRIu64, im->pool);
	ps = kv_find(pst, key);
	if (!is || json_double(json_get(is, "raw_used"), &raw))
		raw = -1;
	if (!ps || json_double(json_get(ps, "raw_to_usable"), &r2u))
		r2u = -1;
	if (is)
		json_free(is);
	if (ps)
		json_free(ps);
	return raw >= 0 && r2u >= 0 ? raw * r2u : -1;
}

int cmd_ls(struct vsctl *v)
{
	struct vs_pools pools;
	struct images ims;
	const struct vs_pool *only = NULL;
	struct etcd_result ist = { 0 }, pst = { 0 };
	struct strbuf sb;
	struct vs_table *t;

	if (vs_pools_load(v, &pools, false) < 0)
		return VS_ERR;
	if (vs_opt_str(v, "pool") && !(only = vs_pool_find(&pools, vs_opt_str(v, "pool")))) {
		vs_pools_free(&pools);
		return VS_ERR;
	}
	if (images_load(v, &ims, true) < 0) {
		images_free(&ims);
		vs_pools_free(&pools);
		return VS_ERR;
	}
	if (vs_list(v, "inode/stats/", &ist) < 0 || vs_list(v, "pool/stats/", &pst) < 0) {
		etcd_result_clear(&ist);
		images_free(&ims);
		vs_pools_free(&pools);
		return VS_ERR;
	}
	qsort(ims.v, ims.n, sizeof(*ims.v), cmp_image);
	sb_init(&sb);
	sb_puts(&sb, "[");
	t = vs_table_new("NAME|POOL|>ID|>SIZE|>USED|READONLY|PARENT");
	for (size_t i = 0, k = 0; i < ims.n; i++) {
		const struct image *im = &ims.v[i];
		double used = image_used(&ist, &pst, im);
		char b1[32], b2[32], b3[48], b4[32];

		if (only && im->pool != only->id)
			continue;
		if (k++)
			sb_puts(&sb, ",");
		image_json(&sb, im, &pools, &ims);
		if (used >= 0 && sb.len && sb.buf[sb.len - 1] == '}') {
			sb.len--;	/* the object gets one more member */
			sb_printf(&sb, ",\"used\":%.0f}", used);
		}
		vs_table_row(t);
		vs_table_cell(t, "%s", im->name);
		vs_table_cell(t, "%s", pool_name(&pools, im->pool, b1, sizeof(b1)));
		vs_table_cell(t, "%" PRIu64, im->num);
		vs_table_cell(t, "%s", vs_fmt_size(im->size, b2, sizeof(b2)));
		vs_table_cell(t, "%s", used < 0 ? "-" : vs_fmt_size((uint64_t)used, b4, sizeof(b4)));
		vs_table_cell(t, "%s", im->readonly ? "ro" : "-");
		vs_table_cell(t, "%s", parent_text(im, &ims, b3, sizeof(b3)));
	}
	sb_puts(&sb, "]");
	if (v->json)
		printf("%s\n", sb.buf);
	else
		vs_table_print(t, stdout);
	vs_table_free(t);
	sb_free(&sb);
	etcd_result_clear(&ist);
	etcd_result_clear(&pst);
	images_free(&ims);
	vs_pools_free(&pools);
	return VS_OK;
}

int cmd_info(struct vsctl *v)
{
	struct vs_pools pools;
	struct images ims;
	struct image im;
	int64_t idx_rev;
	char b1[32], b2[32], b3[48];
	int r;

	r = image_lookup(v, v->args[0], &im, &idx_rev, false);
	if (r <= 0)
		return VS_ERR;
	if (vs_pools_load(v, &pools, false) < 0 || images_load(v, &ims, false) < 0) {
		json_free(im.obj);
		return VS_ERR;
	}
	if (v->json) {
		struct strbuf sb;

		sb_init(&sb);
		image_json(&sb, &im, &pools, &ims);
		printf("%s\n", sb.buf);
		sb_free(&sb);
	} else {
		printf("name:      %s\n", im.name);
		printf("pool:      %s (id %" PRIu64 ")\n", pool_name(&pools, im.pool, b1, sizeof(b1)),
		       im.pool);
		printf("id:        %" PRIu64 "\n", im.num);
		printf("inode:     %" PRIu64 " (0x%" PRIx64 ")\n", (im.pool << 48) | im.num,
		       (im.pool << 48) | im.num);
		printf("size:      %s (%" PRIu64 " bytes)\n", vs_fmt_size(im.size, b2, sizeof(b2)),
		       im.size);
		printf("readonly:  %s\n", im.readonly ? "yes" : "no");
		printf("parent:    %s\n", parent_text(&im, &ims, b3, sizeof(b3)));
		if (!idx_rev)
			printf("note:      no index/image/%s entry (created outside vsctl)\n", im.name);
	}
	json_free(im.obj);
	images_free(&ims);
	vs_pools_free(&pools);
	return VS_OK;
}

int cmd_modify(struct vsctl *v)
{
	const char *name = v->args[0], *new_name = vs_opt_str(v, "rename");
	bool set_ro = vs_opt_set(v, "readonly") && vs_opt_bool(v, "readonly");
	bool set_rw = vs_opt_set(v, "readwrite") && vs_opt_bool(v, "readwrite");
	bool resize = vs_opt_set(v, "resize");
	uint64_t new_size = 0;

	if (set_ro && set_rw)
		return vs_usage(v, "--readonly and --readwrite contradict each other");
	if (resize && vs_parse_size(v, "resize", vs_opt_str(v, "resize"), &new_size) < 0)
		return VS_USAGE;
	if (resize && !new_size)
		return vs_usage(v, "--resize must be positive");
	if (new_name && vs_check_image_name(v, new_name))
		return VS_USAGE;
	if (!resize && !new_name && !set_ro && !set_rw)
		return vs_usage(v, "nothing to change: give --resize, --rename, --readonly or "
				"--readwrite");
	if (new_name && !strcmp(new_name, name))
		new_name = NULL;
	for (int attempt = 0; attempt < 50; attempt++) {
		struct image im;
		int64_t idx_rev;
		char inode_key[64], old_idx[512], new_idx[512], idxv[96];
		struct strbuf sb;
		bool ro;
		int r;

		r = image_lookup(v, name, &im, &idx_rev, false);
		if (r <= 0)
			return VS_ERR;
		if (resize && new_size < im.size && !vs_opt_bool(v, "force")) {
			char b1[32], b2[32];

			vs_err("shrinking '%s' from %s to %s makes the data beyond the new end "
			       "unreachable; give --force if you mean it", name,
			       vs_fmt_size(im.size, b1, sizeof(b1)), vs_fmt_size(new_size, b2, sizeof(b2)));
			json_free(im.obj);
			return VS_ERR;
		}
		ro = set_ro ? true : set_rw ? false : im.readonly;
		if (im.readonly && !ro && !vs_opt_bool(v, "force")) {
			char child[256];

			if (image_has_children(v, &im, child, sizeof(child))) {
				vs_err("image '%s' is the parent of '%s': writing to it would change what "
				       "its children show; give --force if you mean it", name, child);
				json_free(im.obj);
				return VS_ERR;
			}
		}
		snprintf(inode_key, sizeof(inode_key), "config/inode/%" PRIu64 "/%" PRIu64, im.pool,
			 im.num);
		snprintf(old_idx, sizeof(old_idx), "index/image/%s", name);
		snprintf(new_idx, sizeof(new_idx), "index/image/%s", new_name ? new_name : name);
		snprintf(idxv, sizeof(idxv), "{\"id\":%" PRIu64 ",\"pool_id\":%" PRIu64 "}", im.num,
			 im.pool);
		sb_init(&sb);
		inode_json(&sb, im.obj, new_name ? new_name : name, resize ? new_size : im.size, ro);

		struct etcd_compare cmp[3] = {
			{ .key = inode_key, .target = ETCD_CMP_MOD, .op = ETCD_CMP_EQUAL,
			  .number = im.mod_rev },
			{ .key = old_idx, .target = ETCD_CMP_MOD, .op = ETCD_CMP_EQUAL,
			  .number = idx_rev },
			{ .key = new_idx, .target = ETCD_CMP_CREATE, .op = ETCD_CMP_EQUAL, .number = 0 },
		};
		struct etcd_txn_op ops[3] = {
			{ .type = ETCD_OP_PUT, .put = { .key = inode_key, .value = sb.buf,
				.value_len = sb.len } },
			{ .type = ETCD_OP_PUT, .put = { .key = new_idx, .value = idxv,
				.value_len = strlen(idxv) } },
			{ .type = ETCD_OP_DELETE, .del = { .key = old_idx } },
		};
		size_t nops = 1;

		if (new_name)
			nops = idx_rev ? 3 : 2;
		else if (!idx_rev)
			nops = 2;	/* add the missing index entry */
		struct etcd_txn_req req = { .compare = cmp, .n_compare = new_name ? 3 : 2,
			.success = ops, .n_success = nops };

		r = vs_txn(v, &req);
		sb_free(&sb);
		if (r < 0) {
			json_free(im.obj);
			return VS_ERR;
		}
		if (r == 1) {
			char b[32];

			if (v->json)
				printf("{\"name\":%s,\"pool_id\":%" PRIu64 ",\"id\":%" PRIu64
				       ",\"size\":%" PRIu64 ",\"readonly\":%s}\n",
				       vs_q(new_name ? new_name : name), im.pool, im.num,
				       resize ? new_size : im.size, ro ? "true" : "false");
			else
				printf("Image '%s' modified: size %s%s%s, %s\n",
				       new_name ? new_name : name,
				       vs_fmt_size(resize ? new_size : im.size, b, sizeof(b)),
				       new_name ? ", renamed from " : "", new_name ? name : "",
				       ro ? "readonly" : "read-write");
			json_free(im.obj);
			return VS_OK;
		}
		json_free(im.obj);
		if (new_name) {
			struct image other;
			int64_t orev;

			r = image_lookup(v, new_name, &other, &orev, true);
			if (r < 0)
				return VS_ERR;
			if (r) {
				json_free(other.obj);
				vs_err("cannot rename '%s' to '%s': an image with that name exists",
				       name, new_name);
				return VS_ERR;
			}
		}
		backoff(attempt);
	}
	vs_err("image '%s' keeps changing concurrently; try again", name);
	return VS_ERR;
}

/* Looks the image up and refuses a parent of another image unless
 * --force: 1 (*im filled), 0 refused or absent (printed), -1 error. */
static int rm_lookup(struct vsctl *v, const char *name, struct image *im, int64_t *idx_rev)
{
	struct images ims;
	int r = image_lookup(v, name, im, idx_rev, false);

	if (r <= 0)
		return r;
	if (images_load(v, &ims, false) < 0) {
		json_free(im->obj);
		return -1;
	}
	for (size_t i = 0; i < ims.n && !vs_opt_bool(v, "force"); i++) {
		if (ims.v[i].parent_pool == im->pool && ims.v[i].parent_num == im->num) {
			vs_err("image '%s' has children (it is the parent of '%s'): removing it "
			       "would break them. Merge it into them with 'vsctl snap rm %s', or "
			       "detach them with 'vsctl flatten %s' (or give --force to break them)",
			       name, ims.v[i].name, name, ims.v[i].name);
			images_free(&ims);
			json_free(im->obj);
			return 0;
		}
	}
	images_free(&ims);
	return 1;
}

int cmd_rm(struct vsctl *v)
{
	return image_rm(v, v->args[0], true, NULL);
}

int image_rm(struct vsctl *v, const char *name, bool print, uint64_t *deleted_out)
{
	bool meta_only = vs_opt_bool(v, "metadata_only");
	uint64_t deleted = 0;

	if (!meta_only) {
		struct image im;
		int64_t idx_rev;
		int r = rm_lookup(v, name, &im, &idx_rev);

		if (r <= 0)
			return VS_ERR;
		json_free(im.obj);
		/* the data first: the etcd entry is what finds the data again */
		r = vs_rm_data(v, name, (im.pool << 48) | im.num, &deleted);
		if (r)
			return r;
	}
	for (int attempt = 0; attempt < 50; attempt++) {
		struct image im;
		int64_t idx_rev;
		char inode_key[64], idx_key[512];
		int r;

		r = rm_lookup(v, name, &im, &idx_rev);
		if (r <= 0)
			return VS_ERR;
		snprintf(inode_key, sizeof(inode_key), "config/inode/%" PRIu64 "/%" PRIu64, im.pool,
			 im.num);
		snprintf(idx_key, sizeof(idx_key), "index/image/%s", name);

		struct etcd_compare cmp[2] = {
			{ .key = inode_key, .target = ETCD_CMP_MOD, .op = ETCD_CMP_EQUAL,
			  .number = im.mod_rev },
			{ .key = idx_key, .target = ETCD_CMP_MOD, .op = ETCD_CMP_EQUAL,
			  .number = idx_rev },
		};
		struct etcd_txn_op ops[2] = {
			{ .type = ETCD_OP_DELETE, .del = { .key = inode_key } },
			{ .type = ETCD_OP_DELETE, .del = { .key = idx_key } },
		};
		struct etcd_txn_req req = { .compare = cmp, .n_compare = 2, .success = ops,
			.n_success = idx_rev ? 2 : 1 };

		r = vs_txn(v, &req);
		if (r == 1) {
			if (deleted_out)
				*deleted_out = deleted;
			if (!print)
				;
			else if (v->json)
				printf("{\"name\":%s,\"pool_id\":%" PRIu64 ",\"id\":%" PRIu64
				       ",\"objects_deleted\":%" PRIu64 ",\"metadata_only\":%s}\n",
				       vs_q(name), im.pool, im.num, deleted,
				       meta_only ? "true" : "false");
			else if (meta_only)
				printf("Image '%s' removed from etcd (pool %" PRIu64 ", id %" PRIu64
				       "); its data objects were not deleted\n", name, im.pool, im.num);
			else
				printf("Image '%s' removed (pool %" PRIu64 ", id %" PRIu64 "): %" PRIu64
				       " data objects deleted\n", name, im.pool, im.num, deleted);
		}
		json_free(im.obj);
		if (r < 0)
			return VS_ERR;
		if (r == 1)
			return VS_OK;
		backoff(attempt);
	}
	vs_err("image '%s' keeps changing concurrently; try again", name);
	return VS_ERR;
}
