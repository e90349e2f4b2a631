/* libvstor: listing an inode's objects (spec 7).
 *
 * One etcd txn reads config/pgs, pg/state/<pool>/ and pg/history/<pool>/.
 * Then, per PG of the inode's pool: a clean PG (state exactly ["active"])
 * is listed on its primary only; any other PG on every OSD of osd_set ∪
 * history.osd_sets ∪ history.all_peers, since an unclean PG may have
 * copies anywhere in its history. Each listing is a SEC_LIST for that PG
 * with min_inode = max_inode = the inode, sent over the client's own
 * connections (vc_raw_submit). OSDs that are not up are skipped and
 * reported, so the caller knows the list may be incomplete. The stripes
 * have their low 12 bits (the EC chunk role) cleared, then are sorted and
 * made unique. */
#include "client_int.h"
#include "cmp.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROLE_MASK 0xFFFull

struct vl;

struct vl_req {
	struct vl *l;
	uint64_t osd;
	struct vc_raw raw;
};

struct vl {
	struct vstor_client *c;
	uint64_t inode;
	uint64_t pg_stripe_size;
	vstor_list_cb *cb;
	void *arg;
	struct vl_req *reqs;
	size_t nreqs, ndone;
	bool submitting;		/* list_cb must not finish yet */
	int err;
	struct vstor_inode_list *out;
	size_t cap, dcap;
};

static int add_u64(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		uint64_t *nv = realloc(*v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = x;
	return 0;
}

static size_t sort_unique(uint64_t *v, size_t n)
{
	size_t k = 0;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), vs_cmp_u64);
	for (size_t i = 1; i < n; i++)
		if (v[i] != v[k])
			v[++k] = v[i];
	return k + 1;
}

void vstor_inode_list_free(struct vstor_inode_list *l)
{
	if (!l)
		return;
	free(l->stripes);
	free(l->down_osds);
	free(l);
}

static void vl_finish(struct vl *l)
{
	struct vstor_inode_list *out = l->out;
	vstor_list_cb *cb = l->cb;
	void *arg = l->arg;
	int err = l->err;

	out->n = sort_unique(out->stripes, out->n);
	out->ndown = sort_unique(out->down_osds, out->ndown);
	free(l->reqs);
	free(l);
	if (err) {
		vstor_inode_list_free(out);
		out = NULL;
	}
	cb(arg, err, out);
}

static void list_cb(void *arg, int64_t rv, uint64_t version)
{
	struct vl_req *r = arg;
	struct vl *l = r->l;
	struct vstor_inode_list *out = l->out;

	if (rv == -EHOSTDOWN) {
		if (add_u64(&out->down_osds, &out->ndown, &l->dcap, r->osd) && !l->err)
			l->err = -ENOMEM;
	} else if (rv < 0) {
		if (!l->err)
			l->err = (int)rv;
	} else {
		const struct vs_obj_ver_id *e = (const struct vs_obj_ver_id *)(void *)r->raw.payload;
		size_t n = r->raw.payload_len / VS_OBJ_VER_ID_SIZE;

		for (size_t i = 0; i < n && !l->err; i++) {
			if (vs_le64_get(e[i].inode) != l->inode)
				continue;
			if (add_u64(&out->stripes, &out->n, &l->cap,
				    vs_le64_get(e[i].stripe) & ~ROLE_MASK))
				l->err = -ENOMEM;
		}
	}
	free(r->raw.payload);
	r->raw.payload = NULL;
	if (++l->ndone == l->nreqs && !l->submitting)
		vl_finish(l);
}

/* ---- targets from etcd ---- */

static json_t kv_json(const struct etcd_kv *kv)
{
	char err[128];

	return json_parse(kv->value, kv->value_len, err, sizeof(err));
}

/* Adds the non-zero OSD numbers of a JSON array (numbers or strings). */
static int add_osds(uint64_t **v, size_t *n, size_t *cap, json_t arr)
{
	for (size_t i = 0; json_is_arr(arr) && i < json_len(arr); i++) {
		uint64_t osd = 0;

		if (!json_u64(json_at(arr, i), &osd) && osd && add_u64(v, n, cap, osd))
			return -ENOMEM;
	}
	return 0;
}

/* The kv of key "<prefix><pg>" in a range result, or NULL. */
static const struct etcd_kv *find_pg_kv(const struct etcd_result *r, const char *prefix,
					 uint64_t pg)
{
	size_t pl = strlen(prefix);

	for (size_t i = 0; i < r->n_kvs; i++) {
		const char *k = r->kvs[i].key;
		char *end;

		if (!strncmp(k, prefix, pl) && strtoull(k + pl, &end, 10) == pg && !*end &&
		    k[pl] >= '1' && k[pl] <= '9')
			return &r->kvs[i];
	}
	return NULL;
}

/* A clean PG: state exactly ["active"]; its primary in *primary. */
static bool pg_clean(const struct etcd_kv *kv, uint64_t *primary)
{
	json_t v = kv ? kv_json(kv) : NULL, st = json_get(v, "state");
	const char *s = json_is_arr(st) && json_len(st) == 1 ? json_str(json_at(st, 0)) : NULL;
	bool clean = s && !strcmp(s, "active") && !json_u64(json_get(v, "primary"), primary) &&
		*primary;

	json_free(v);
	return clean;
}

/* Appends one SEC_LIST request per OSD of osds[0..n) (sorted, unique). */
static int add_reqs(struct vl *l, uint64_t pg, uint64_t pg_count, uint64_t *osds, size_t n,
		    size_t *rcap)
{
	n = sort_unique(osds, n);
	for (size_t i = 0; i < n; i++) {
		struct vl_req *r;

		if (l->nreqs == *rcap) {
			size_t nc = *rcap ? *rcap * 2 : 16;
			struct vl_req *nr = realloc(l->reqs, nc * sizeof(*nr));

			if (!nr)
				return -ENOMEM;
			l->reqs = nr;
			*rcap = nc;
		}
		r = &l->reqs[l->nreqs++];
		memset(r, 0, sizeof(*r));
		r->l = l;
		r->osd = osds[i];
		vs_req_init(&r->raw.req, 0, VS_OP_SEC_LIST);
		vs_le32_set(&r->raw.req.sec_list.pg_num, (uint32_t)pg);
		vs_le32_set(&r->raw.req.sec_list.pg_count, (uint32_t)pg_count);
		vs_le64_set(&r->raw.req.sec_list.pg_stripe_size, l->pg_stripe_size);
		vs_le64_set(&r->raw.req.sec_list.min_inode, l->inode);
		vs_le64_set(&r->raw.req.sec_list.max_inode, l->inode);
	}
	return 0;
}

/* res: [config/pgs, pg/state/<pool>/, pg/history/<pool>/]. */
static int plan(struct vl *l, struct etcd_result *res)
{
	char sp[40], hp[40], pk[16];
	uint32_t pool = vs_inode_pool(l->inode);
	json_t pgs = res[0].n_kvs ? kv_json(&res[0].kvs[0]) : NULL, items;
	uint64_t *osds = NULL;
	size_t rcap = 0, ocap = 0;
	int err = 0;

	snprintf(sp, sizeof(sp), "pg/state/%u/", pool);
	snprintf(hp, sizeof(hp), "pg/history/%u/", pool);
	snprintf(pk, sizeof(pk), "%u", pool);
	items = json_get(json_get(pgs, "items"), pk);
	/* spec 6: the PG count is the number of PGs in config/pgs */
	uint64_t pg_count = json_is_obj(items) ? json_len(items) : 0;

	/* no PGs: nothing can be routed, but old copies may still exist */
	if (!pg_count) {
		json_free(pgs);
		return -ENOENT;
	}

	for (uint64_t pg = 1; pg <= pg_count && !err; pg++) {
		char key[24];
		json_t e, h;
		uint64_t primary = 0;
		size_t n = 0;

		snprintf(key, sizeof(key), "%" PRIu64, pg);
		e = json_get(items, key);
		if (pg_clean(find_pg_kv(&res[1], sp, pg), &primary)) {
			err = add_u64(&osds, &n, &ocap, primary);
		} else {
			const struct etcd_kv *hk = find_pg_kv(&res[2], hp, pg);
			json_t sets;

			h = hk ? kv_json(hk) : NULL;
			sets = json_get(h, "osd_sets");
			err = add_osds(&osds, &n, &ocap, json_get(e, "osd_set"));
			for (size_t i = 0; !err && json_is_arr(sets) && i < json_len(sets); i++)
				err = add_osds(&osds, &n, &ocap, json_at(sets, i));
			if (!err)
				err = add_osds(&osds, &n, &ocap, json_get(h, "all_peers"));
			json_free(h);
		}
		if (!err)
			err = add_reqs(l, pg, pg_count, osds, n, &rcap);
	}
	free(osds);
	json_free(pgs);
	return err;
}

static void txn_cb(void *arg, struct etcd_result *res)
{
	struct vl *l = arg;
	int err;

	if (res->status || res->n_responses != 3) {
		l->err = res->status == ETCD_E_CANCELED ? -ECANCELED : -EIO;
		vl_finish(l);
		return;
	}
	err = plan(l, res->responses);
	if (err || !l->nreqs) {
		l->err = err;
		vl_finish(l);
		return;
	}
	/* a request that cannot be submitted (OSD down) completes here */
	l->submitting = true;
	for (size_t i = 0; i < l->nreqs; i++) {
		struct vl_req *r = &l->reqs[i];
		int rc = vc_raw_submit(l->c, r->osd, &r->raw, list_cb, r);

		if (rc)
			list_cb(r, rc, 0);
	}
	l->submitting = false;
	if (l->ndone == l->nreqs)
		vl_finish(l);
}

int vstor_list_inode(struct vstor_client *c, uint64_t inode, vstor_list_cb *cb, void *arg)
{
	const struct vc_pool *pool;
	char sp[40], hp[40];
	struct vl *l;

	if (!c || !cb || !vs_inode_pool(inode) || !vs_inode_num(inode))
		return -EINVAL;
	if (c->destroying)
		return -ECANCELED;
	if (!c->loaded)
		return -EAGAIN;
	pool = vc_pool_find(c, vs_inode_pool(inode));
	if (!pool)
		return -ENOENT;
	l = calloc(1, sizeof(*l));
	if (l)
		l->out = calloc(1, sizeof(*l->out));
	if (!l || !l->out) {
		free(l);
		return -ENOMEM;
	}
	l->c = c;
	l->inode = inode;
	l->out->inode = inode;
	l->pg_stripe_size = pool->pg_stripe_size;
	l->cb = cb;
	l->arg = arg;
	snprintf(sp, sizeof(sp), "pg/state/%u/", vs_inode_pool(inode));
	snprintf(hp, sizeof(hp), "pg/history/%u/", vs_inode_pool(inode));

	struct etcd_txn_op ops[3] = {
		{ .type = ETCD_OP_RANGE, .range = { .key = "config/pgs" } },
		{ .type = ETCD_OP_RANGE, .range = { .key = sp, .prefix = true } },
		{ .type = ETCD_OP_RANGE, .range = { .key = hp, .prefix = true } },
	};
	struct etcd_txn_req req = { .success = ops, .n_success = 3 };

	if (etcd_txn(c->ec, &req, txn_cb, l)) {
		free(l->out);
		free(l);
		return -EIO;
	}
	return 0;
}

struct list_waiter {
	bool done;
	int err;
	struct vstor_inode_list *list;
};

static void list_waiter_cb(void *arg, int err, struct vstor_inode_list *list)
{
	struct list_waiter *w = arg;

	w->done = true;
	w->err = err;
	w->list = list;
}

int vstor_list_inode_sync(struct vstor_client *c, uint64_t inode, struct vstor_inode_list **out)
{
	struct list_waiter w = { 0 };
	int r = vstor_list_inode(c, inode, list_waiter_cb, &w);

	*out = NULL;
	if (r)
		return r;
	while (!w.done)
		ringloop_run_once(c->rl, 100 * 1000000ll);
	*out = w.list;
	return w.err;
}

uint64_t vstor_inode_stripe_size(struct vstor_client *c, uint64_t inode)
{
	const struct vc_pool *pool = c->loaded ? vc_pool_find(c, vs_inode_pool(inode)) : NULL;

	return pool ? pool->stripe : 0;
}
