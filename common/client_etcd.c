/* libvstor: the cluster state from etcd (spec 9). One txn loads
 * config/global, config/pools, config/pgs, config/inode/, pg/state/ and
 * osd/state/; then config/, pg/state/ and osd/state/ are watched from the
 * next revision. Any change rebuilds the routing table (pool -> PG ->
 * primary). A failed load is retried every second; a compacted or
 * cancelled watch reloads everything. */
#include "client_int.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RELOAD_MS 1000

static void load_start(struct vstor_client *c);

static struct vc_pool *pool_find(const struct vstor_client *c, uint32_t id)
{
	for (size_t i = 0; i < c->npools; i++)
		if (c->pools[i].id == id)
			return &c->pools[i];
	return NULL;
}

const struct vc_pool *vc_pool_find(const struct vstor_client *c, uint32_t id)
{
	return pool_find(c, id);
}

struct vc_pg *vc_pg_of(struct vstor_client *c, uint64_t inode, uint64_t offset, uint64_t *obj)
{
	struct vc_pool *pool = pool_find(c, vs_inode_pool(inode));
	uint64_t start;

	if (!pool)
		return NULL;
	start = offset / pool->stripe * pool->stripe;
	if (obj)
		*obj = start;
	if (!pool->pg_count)
		return NULL;
	return &pool->pgs[(start / pool->pg_stripe_size) % pool->pg_count];
}

const struct vc_osd *vc_osd_find(const struct vstor_client *c, uint64_t num)
{
	for (size_t i = 0; i < c->nosds; i++)
		if (c->osds[i].num == num)
			return &c->osds[i];
	return NULL;
}

/* c->inodes is sorted by inode: the readonly check of every write is a
 * binary search, however many images the cluster has. Returns the index
 * of inode, or of where it would be inserted. */
static size_t inode_pos(const struct vstor_client *c, uint64_t inode)
{
	size_t lo = 0, hi = c->ninodes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->inodes[mid].inode < inode)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct vc_inode *vc_inode_find(const struct vstor_client *c, uint64_t inode)
{
	size_t i = inode_pos(c, inode);

	return i < c->ninodes && c->inodes[i].inode == inode ? &c->inodes[i] : NULL;
}

static json_t parse(const struct etcd_kv *kv)
{
	char err[128];

	return json_parse(kv->value, kv->value_len, err, sizeof(err));
}

/* ---- tables ---- */

static void osd_clear(struct vc_osd *o)
{
	for (size_t i = 0; i < o->naddrs; i++)
		free(o->addrs[i]);
	free(o->addrs);
	o->addrs = NULL;
	o->naddrs = 0;
}

static void osd_del(struct vstor_client *c, uint64_t num)
{
	for (size_t i = 0; i < c->nosds; i++)
		if (c->osds[i].num == num) {
			osd_clear(&c->osds[i]);
			c->osds[i] = c->osds[--c->nosds];
			return;
		}
}

static void osd_set(struct vstor_client *c, uint64_t num, const struct etcd_kv *kv)
{
	json_t v = parse(kv), addrs = json_get(v, "addresses");
	uint64_t port = 0;
	struct vc_osd o = { .num = num }, *n;

	osd_del(c, num);
	if (json_u64(json_get(v, "port"), &port) || !port || port > 65535 || !json_is_arr(addrs))
		goto out;
	o.port = (int)port;
	o.addrs = calloc(json_len(addrs) + 1, sizeof(char *));
	if (!o.addrs)
		goto out;
	for (size_t i = 0; i < json_len(addrs); i++) {
		const char *s = json_str(json_at(addrs, i));

		if (s && (o.addrs[o.naddrs] = strdup(s)))
			o.naddrs++;
	}
	if (!o.naddrs)
		goto bad;
	n = realloc(c->osds, (c->nosds + 1) * sizeof(*n));
	if (!n)
		goto bad;
	c->osds = n;
	c->osds[c->nosds++] = o;
	goto out;
bad:
	osd_clear(&o);
out:
	json_free(v);
}

static void pgst_set(struct vstor_client *c, uint32_t pool, uint32_t pg, const struct etcd_kv *kv)
{
	json_t v = kv ? parse(kv) : NULL, st = json_get(v, "state");
	uint64_t primary = 0;
	size_t i;
	struct vc_pgstate *n;

	if (v && !json_u64(json_get(v, "primary"), &primary) && json_is_arr(st) && json_len(st)) {
		/* spec 8.1: offline/peering/incomplete only when alone */
		for (i = 0; i < json_len(st); i++) {
			const char *s = json_str(json_at(st, i));

			if (!s || (json_len(st) > 1 && (!strcmp(s, "offline") ||
				!strcmp(s, "peering") || !strcmp(s, "incomplete"))))
				primary = 0;
		}
		/* a lone offline/peering/incomplete/starting PG serves no I/O */
		if (json_len(st) == 1) {
			const char *s = json_str(json_at(st, 0));

			if (!s || strcmp(s, "active"))
				primary = 0;
		}
	} else {
		primary = 0;
	}
	json_free(v);
	for (i = 0; i < c->npgst; i++)
		if (c->pgst[i].pool == pool && c->pgst[i].pg == pg)
			break;
	if (i == c->npgst) {
		if (!kv)
			return;
		n = realloc(c->pgst, (c->npgst + 1) * sizeof(*n));
		if (!n)
			return;
		c->pgst = n;
		c->npgst++;
	}
	c->pgst[i].pool = pool;
	c->pgst[i].pg = pg;
	c->pgst[i].primary = primary;
}

static void inode_del(struct vstor_client *c, uint64_t inode)
{
	size_t i = inode_pos(c, inode);

	if (i == c->ninodes || c->inodes[i].inode != inode)
		return;
	c->inode_gen++;
	free(c->inodes[i].name);
	memmove(&c->inodes[i], &c->inodes[i + 1], (c->ninodes - i - 1) * sizeof(c->inodes[0]));
	c->ninodes--;
}

/* spec 9: parent_id is the number inside parent_pool (default: the same
 * pool); a value of 2^48 or more is a full inode id. 0: no parent. */
static uint64_t inode_parent(uint64_t inode, json_t v)
{
	uint64_t id = 0, pool = vs_inode_pool(inode);

	if (json_u64(json_get(v, "parent_id"), &id) || !id)
		return 0;
	if (id >> 48)
		return id;
	if (json_get(v, "parent_pool") &&
	    (json_u64(json_get(v, "parent_pool"), &pool) || !pool || pool > 0xffff))
		return 0;
	return vs_inode_make((uint32_t)pool, id);
}

/* During the full load (c->loading_all) inodes are appended and sorted
 * once at the end; watch events insert in place. */
static void inode_set(struct vstor_client *c, uint64_t inode, const struct etcd_kv *kv)
{
	json_t v = parse(kv);
	const char *name = json_str(json_get(v, "name"));
	struct vc_inode in = { .inode = inode, .mod_revision = kv->mod_revision }, *n;
	size_t i;

	c->inode_gen++;
	if (!c->loading_all)
		inode_del(c, inode);
	json_u64(json_get(v, "size"), &in.size);
	json_bool(json_get(v, "readonly"), &in.readonly);
	in.parent = inode_parent(inode, v);
	in.name = strdup(name ? name : "");
	json_free(v);
	if (!in.name)
		return;
	if (c->ninodes == c->inodes_cap) {
		size_t cap = c->inodes_cap ? 2 * c->inodes_cap : 64;

		if (!(n = realloc(c->inodes, cap * sizeof(*n)))) {
			free(in.name);
			return;
		}
		c->inodes = n;
		c->inodes_cap = cap;
	}
	i = c->loading_all ? c->ninodes : inode_pos(c, inode);
	memmove(&c->inodes[i + 1], &c->inodes[i], (c->ninodes - i) * sizeof(in));
	c->inodes[i] = in;
	c->ninodes++;
}

static int inode_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct vc_inode *)a)->inode, y = ((const struct vc_inode *)b)->inode;

	return x < y ? -1 : x > y;
}

static void global_set(struct vstor_client *c, const struct etcd_kv *kv)
{
	json_t v = kv ? parse(kv) : NULL;
	uint64_t bs = VS_DEFAULT_BLOCK_SIZE, bg = VS_DEFAULT_BITMAP_GRANULARITY;
	const char *ic = json_str(json_get(v, "immediate_commit"));

	if (json_u64(json_get(v, "block_size"), &bs) || bs < VS_MIN_BLOCK_SIZE ||
	    bs >= VS_BLOCK_SIZE_LIMIT || (bs & (bs - 1)))
		bs = VS_DEFAULT_BLOCK_SIZE;
	if (json_u64(json_get(v, "bitmap_granularity"), &bg) || !bg || bs % bg)
		bg = VS_DEFAULT_BITMAP_GRANULARITY;
	c->block_size = bs;
	c->bitmap_gran = bg;
	c->imm_all = ic && !strcmp(ic, "all");
	json_free(v);
}

static void free_pools(struct vstor_client *c)
{
	for (size_t i = 0; i < c->npools; i++)
		free(c->pools[i].pgs);
	free(c->pools);
	c->pools = NULL;
	c->npools = 0;
}

/* Pools x config/pgs x pg/state -> routing table. */
static void rebuild(struct vstor_client *c)
{
	size_t np = json_len(c->pools_json);
	json_t items = json_get(c->pgs_json, "items");

	free_pools(c);
	if (!json_is_obj(c->pools_json) || !np)
		return;
	c->pools = calloc(np, sizeof(*c->pools));
	if (!c->pools)
		return;
	for (size_t i = 0; i < np; i++) {
		const char *key = json_key_at(c->pools_json, i), *scheme;
		json_t p = json_at(c->pools_json, i), pgs;
		uint64_t id, pg_size = 0, parity = 0, pss = 0, data_chunks;
		struct vc_pool *pool = &c->pools[c->npools];
		char *end;

		id = strtoull(key, &end, 10);
		scheme = json_str(json_get(p, "scheme"));
		if (*end || !id || id > VS_MAX_POOL_ID || !scheme ||
		    json_u64(json_get(p, "pg_size"), &pg_size) || !pg_size)
			continue;
		json_u64(json_get(p, "parity_chunks"), &parity);
		if (!strcmp(scheme, "replicated"))
			data_chunks = 1;
		else if ((!strcmp(scheme, "xor") || !strcmp(scheme, "jerasure") ||
			  !strcmp(scheme, "ec")) && parity < pg_size)
			data_chunks = pg_size - parity;
		else
			continue;
		pool->id = (uint32_t)id;
		pool->stripe = c->block_size * data_chunks;
		json_u64(json_get(p, "pg_stripe_size"), &pss);
		pool->pg_stripe_size = pss > pool->stripe ? pss : pool->stripe;
		c->npools++;
		pgs = json_get(items, key);
		if (!json_is_obj(pgs) || !json_len(pgs))
			continue;
		/* the PG numbers must be exactly 1..N */
		size_t n = json_len(pgs);
		pool->pgs = calloc(n, sizeof(*pool->pgs));
		if (!pool->pgs)
			continue;
		bool ok = true;
		for (size_t k = 0; k < n && ok; k++) {
			uint64_t pg = strtoull(json_key_at(pgs, k), &end, 10);
			json_t e = json_at(pgs, k), set = json_get(e, "osd_set");
			bool pause = false;

			if (*end || !pg || pg > n || pool->pgs[pg - 1].exists) {
				ok = false;
				break;
			}
			json_bool(json_get(e, "pause"), &pause);
			pool->pgs[pg - 1].exists = true;
			pool->pgs[pg - 1].paused = pause || !json_is_arr(set) || json_len(set) != pg_size;
		}
		if (!ok) {
			free(pool->pgs);
			pool->pgs = NULL;
			continue;
		}
		pool->pg_count = (uint32_t)n;
		for (size_t k = 0; k < c->npgst; k++)
			if (c->pgst[k].pool == pool->id && c->pgst[k].pg >= 1 && c->pgst[k].pg <= n)
				pool->pgs[c->pgst[k].pg - 1].target = c->pgst[k].primary;
	}
}

/* Returns true when routing may have changed. */
static bool apply_kv(struct vstor_client *c, const struct etcd_kv *kv, bool is_delete)
{
	const char *k = kv->key;
	unsigned pool, pg;
	uint64_t num;
	int n = 0;

	if (!strcmp(k, "config/global")) {
		global_set(c, is_delete ? NULL : kv);
		return true;
	}
	if (!strcmp(k, "config/pools") || !strcmp(k, "config/pgs")) {
		json_t *slot = k[7] == 'p' && k[8] == 'o' ? &c->pools_json : &c->pgs_json;

		json_free(*slot);
		*slot = is_delete ? NULL : parse(kv);
		return true;
	}
	if (sscanf(k, "config/inode/%u/%" SCNu64 "%n", &pool, &num, &n) == 2 && !k[n]) {
		if (pool && pool <= VS_MAX_POOL_ID && num && num <= VS_INODE_NUM_MASK) {
			if (is_delete)
				inode_del(c, vs_inode_make(pool, num));
			else
				inode_set(c, vs_inode_make(pool, num), kv);
		}
		return false;
	}
	if (sscanf(k, "pg/state/%u/%u%n", &pool, &pg, &n) == 2 && !k[n]) {
		pgst_set(c, pool, pg, is_delete ? NULL : kv);
		return true;
	}
	if (sscanf(k, "osd/state/%" SCNu64 "%n", &num, &n) == 1 && !k[n]) {
		if (is_delete)
			osd_del(c, num);
		else
			osd_set(c, num, kv);
		return true;
	}
	return false;
}

static void clear_state(struct vstor_client *c)
{
	json_free(c->pools_json);
	json_free(c->pgs_json);
	c->pools_json = c->pgs_json = NULL;
	free(c->pgst);
	c->pgst = NULL;
	c->npgst = 0;
	while (c->nosds)
		osd_del(c, c->osds[0].num);
	free(c->osds);
	c->osds = NULL;
	while (c->ninodes)
		free(c->inodes[--c->ninodes].name);
	free(c->inodes);
	c->inodes = NULL;
	c->inodes_cap = 0;
	free_pools(c);
	global_set(c, NULL);
}

/* ---- watches ---- */

static void cancel_watches(struct vstor_client *c)
{
	if (c->w_config)
		etcd_watch_cancel(c->w_config);
	if (c->w_pgstate)
		etcd_watch_cancel(c->w_pgstate);
	if (c->w_osdstate)
		etcd_watch_cancel(c->w_osdstate);
	c->w_config = c->w_pgstate = c->w_osdstate = NULL;
}

static void reload_later(struct vstor_client *c)
{
	if (!c->destroying)
		ringloop_timer_add(c->rl, &c->reload_timer, ringloop_now_ns() + RELOAD_MS * 1000000ull);
}

static void watch_cb(void *arg, struct etcd_watch *w, const struct etcd_watch_update *u)
{
	struct vstor_client *c = arg;
	bool changed = false;

	switch (u->kind) {
	case ETCD_WATCH_EVENTS:
		for (size_t i = 0; i < u->n_events; i++)
			changed |= apply_kv(c, &u->events[i].kv, u->events[i].is_delete);
		if (changed) {
			rebuild(c);
			vc_lazy_routing(c);
			vc_kick(c);
			vc_map_changed(c, u->revision);
		}
		break;
	case ETCD_WATCH_ERROR:
		log_warn("vstor client: etcd watch failed (%s), reloading", etcd_strerror(u->status));
		cancel_watches(c);
		reload_later(c);
		break;
	default:
		break;
	}
}

static struct etcd_watch *watch(struct vstor_client *c, const char *prefix)
{
	struct etcd_watch_req req = {
		.key = prefix, .prefix = true, .start_revision = c->revision + 1,
	};

	return etcd_watch_create(c->ec, &req, watch_cb, c);
}

static void load_cb(void *arg, struct etcd_result *res)
{
	struct vstor_client *c = arg;

	c->loading = false;
	if (res->status == ETCD_E_CANCELED)
		return;
	if (res->status || res->n_responses != 6) {
		log_warn("vstor client: loading the cluster state from etcd: %s %s",
			 etcd_strerror(res->status), res->errmsg);
		reload_later(c);
		return;
	}
	clear_state(c);
	c->loading_all = true;
	for (size_t r = 0; r < res->n_responses; r++)
		for (size_t i = 0; i < res->responses[r].n_kvs; i++)
			apply_kv(c, &res->responses[r].kvs[i], false);
	c->loading_all = false;
	if (c->ninodes)
		qsort(c->inodes, c->ninodes, sizeof(c->inodes[0]), inode_cmp);
	c->revision = res->revision;
	rebuild(c);
	vc_lazy_routing(c);
	c->w_config = watch(c, "config/");
	c->w_pgstate = watch(c, "pg/state/");
	c->w_osdstate = watch(c, "osd/state/");
	if (!c->w_config || !c->w_pgstate || !c->w_osdstate) {
		cancel_watches(c);
		reload_later(c);
		return;
	}
	c->loaded = true;
	vc_kick(c);
	vc_map_changed(c, res->revision);
}

static void load_start(struct vstor_client *c)
{
	struct etcd_txn_op ops[6] = {
		{ .type = ETCD_OP_RANGE, .range = { .key = "config/global" } },
		{ .type = ETCD_OP_RANGE, .range = { .key = "config/pools" } },
		{ .type = ETCD_OP_RANGE, .range = { .key = "config/pgs" } },
		{ .type = ETCD_OP_RANGE, .range = { .key = "config/inode/", .prefix = true } },
		{ .type = ETCD_OP_RANGE, .range = { .key = "pg/state/", .prefix = true } },
		{ .type = ETCD_OP_RANGE, .range = { .key = "osd/state/", .prefix = true } },
	};
	struct etcd_txn_req req = { .success = ops, .n_success = 6 };

	if (c->loading || c->destroying)
		return;
	if (etcd_txn(c->ec, &req, load_cb, c)) {
		reload_later(c);
		return;
	}
	c->loading = true;
}

static void reload_cb(struct ringloop_timer *t)
{
	struct vstor_client *c = (struct vstor_client *)(void *)((char *)t -
		offsetof(struct vstor_client, reload_timer));

	load_start(c);
}

int vc_etcd_start(struct vstor_client *c, char *err, size_t errlen)
{
	struct etcd_loop loop;

	global_set(c, NULL);
	ringloop_timer_init(&c->reload_timer, reload_cb);
	c->glue = etcd_ringloop_new(c->rl);
	if (!c->glue) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	etcd_ringloop_loop(c->glue, &loop);
	c->ec = etcd_client_new(&c->ecfg, &loop, err, errlen);
	if (!c->ec) {
		etcd_ringloop_free(c->glue);
		c->glue = NULL;
		return -EINVAL;
	}
	etcd_ringloop_attach(c->glue, c->ec);
	load_start(c);
	return 0;
}

void vc_etcd_stop(struct vstor_client *c)
{
	if (c->reload_timer.cb)
		ringloop_timer_del(c->rl, &c->reload_timer);
	if (c->ec) {
		cancel_watches(c);
		etcd_client_free(c->ec);
		c->ec = NULL;
	}
	etcd_ringloop_free(c->glue);
	c->glue = NULL;
	clear_state(c);
}
