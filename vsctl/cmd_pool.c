/* vsctl pool create|ls|rm, and the config/pools reader the other commands
 * use (spec §9 pool rules). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "vsctl.h"

int vs_pool_check(json_t obj, struct vs_pool *p, char *err, size_t errlen)
{
	struct pool_cfg c;
	int rc = pool_check(obj, &c, err, errlen);

	if (p) {
		memset(p, 0, sizeof(*p));
		p->obj = obj;
		if (rc == 0) {
			p->name = c.name;
			p->scheme = c.scheme;
			p->pg_size = c.pg_size;
			p->pg_minsize = c.pg_minsize;
			p->parity_chunks = c.parity_chunks;
			p->pg_count = c.pg_count;
			p->failure_domain = c.failure_domain;
			p->pg_stripe_size = c.pg_stripe_size;
		}
	}
	return rc;
}

static int cmp_pool(const void *a, const void *b)
{
	const struct vs_pool *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

int vs_pools_load(struct vsctl *v, struct vs_pools *out, bool warn)
{
	char kbuf[256], err[256];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = vs_get_json(v, "config/pools", &out->root, &out->mod_rev);
	if (rc < 0)
		return -1;
	if (!rc)
		return 0;
	if (!json_is_obj(out->root)) {
		vs_err("etcd key %s is not a JSON object of pools; fix or delete it",
		       vs_full_key(v, "config/pools", kbuf, sizeof(kbuf)));
		vs_pools_free(out);
		return -1;
	}
	out->pools = calloc(json_len(out->root) + 1, sizeof(struct vs_pool));
	if (!out->pools) {
		vs_err("out of memory");
		vs_pools_free(out);
		return -1;
	}
	for (size_t i = 0; i < json_len(out->root); i++) {
		const char *k = json_key_at(out->root, i);
		uint64_t id = vs_key_num(k, "");
		struct vs_pool *p = &out->pools[out->n];

		if (!id || id > VS_MAX_POOL_ID) {
			if (warn)
				vs_warn("config/pools: \"%s\" is not a pool id (1..65535); it is ignored", k);
			continue;
		}
		if (vs_pool_check(json_at(out->root, i), p, err, sizeof(err)) < 0) {
			if (warn)
				vs_warn("config/pools: pool %" PRIu64 " is invalid (%s); OSDs and "
					"clients ignore it", id, err);
			continue;
		}
		p->id = id;
		out->n++;
	}
	qsort(out->pools, out->n, sizeof(*out->pools), cmp_pool);
	return 0;
}

void vs_pools_free(struct vs_pools *p)
{
	if (p->root)
		json_free(p->root);
	free(p->pools);
	memset(p, 0, sizeof(*p));
}

const struct vs_pool *vs_pool_by_id(const struct vs_pools *p, uint64_t id)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->pools[i].id == id)
			return &p->pools[i];
	return NULL;
}

const struct vs_pool *vs_pool_find(const struct vs_pools *p, const char *name_or_id)
{
	uint64_t id = vs_key_num(name_or_id, "");

	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->pools[i].name, name_or_id))
			return &p->pools[i];
	if (id && vs_pool_by_id(p, id))
		return vs_pool_by_id(p, id);
	vs_err("pool '%s' does not exist (see 'vsctl pool ls')", name_or_id);
	return NULL;
}

static void pool_json(struct strbuf *sb, const struct vs_pool *p)
{
	sb_printf(sb, "{\"id\":%" PRIu64 ",\"name\":", p->id);
	sb_json_str(sb, p->name);
	sb_puts(sb, ",\"scheme\":");
	sb_json_str(sb, p->scheme);
	sb_printf(sb, ",\"pg_size\":%" PRIu64 ",\"pg_minsize\":%" PRIu64
		  ",\"parity_chunks\":%" PRIu64 ",\"pg_count\":%" PRIu64 ",\"failure_domain\":",
		  p->pg_size, p->pg_minsize, p->parity_chunks, p->pg_count);
	sb_json_str(sb, p->failure_domain);
	if (p->pg_stripe_size)
		sb_printf(sb, ",\"pg_stripe_size\":%" PRIu64, p->pg_stripe_size);
	sb_puts(sb, "}");
}

int cmd_pool_ls(struct vsctl *v)
{
	struct vs_pools pools;
	struct vs_table *t;

	if (vs_pools_load(v, &pools, true) < 0)
		return VS_ERR;
	if (v->json) {
		struct strbuf sb;

		sb_init(&sb);
		sb_puts(&sb, "[");
		for (size_t i = 0; i < pools.n; i++) {
			if (i)
				sb_puts(&sb, ",");
			pool_json(&sb, &pools.pools[i]);
		}
		sb_puts(&sb, "]");
		printf("%s\n", sb.buf);
		sb_free(&sb);
		vs_pools_free(&pools);
		return VS_OK;
	}
	t = vs_table_new(">ID|NAME|SCHEME|>PG_SIZE|>PG_MINSIZE|>PARITY|>PG_COUNT|FAILURE_DOMAIN");
	for (size_t i = 0; i < pools.n; i++) {
		const struct vs_pool *p = &pools.pools[i];

		vs_table_row(t);
		vs_table_cell(t, "%" PRIu64, p->id);
		vs_table_cell(t, "%s", p->name);
		vs_table_cell(t, "%s", p->scheme);
		vs_table_cell(t, "%" PRIu64, p->pg_size);
		vs_table_cell(t, "%" PRIu64, p->pg_minsize);
		vs_table_cell(t, "%" PRIu64, p->parity_chunks);
		vs_table_cell(t, "%" PRIu64, p->pg_count);
		vs_table_cell(t, "%s", p->failure_domain);
	}
	vs_table_print(t, stdout);
	vs_table_free(t);
	vs_pools_free(&pools);
	return VS_OK;
}

/* config/pools re-serialized with pool `skip` left out and `add` (id
 * add_id, JSON text) added. false on out-of-memory (printed). */
static bool pools_text(struct strbuf *sb, const struct vs_pools *pools, uint64_t skip,
	uint64_t add_id, const char *add)
{
	bool first = true;

	sb_init(sb);
	sb_puts(sb, "{");
	for (size_t i = 0; pools->root && i < json_len(pools->root); i++) {
		const char *k = json_key_at(pools->root, i);

		if (skip && vs_key_num(k, "") == skip)
			continue;
		if (!first)
			sb_puts(sb, ",");
		first = false;
		sb_json_str(sb, k);
		sb_puts(sb, ":");
		sb_json_val(sb, json_at(pools->root, i));
	}
	if (add)
		sb_printf(sb, "%s\"%" PRIu64 "\":%s", first ? "" : ",", add_id, add);
	sb_puts(sb, "}");
	if (sb->oom) {
		sb_free(sb);
		vs_err("out of memory");
		return false;
	}
	return true;
}

/* Writes the pools guarded by their mod_revision. 1 ok, 0 conflict, -1 error. */
static int write_pools(struct vsctl *v, const struct vs_pools *pools, uint64_t add_id,
	const char *add)
{
	struct strbuf sb;
	int rc;

	if (!pools_text(&sb, pools, 0, add_id, add))
		return -1;
	struct etcd_compare cmp = { .key = "config/pools", .target = ETCD_CMP_MOD,
		.op = ETCD_CMP_EQUAL, .number = pools->mod_rev };
	struct etcd_txn_op op = { .type = ETCD_OP_PUT,
		.put = { .key = "config/pools", .value = sb.buf, .value_len = sb.len } };
	struct etcd_txn_req req = { .compare = &cmp, .n_compare = 1, .success = &op, .n_success = 1 };

	rc = vs_txn(v, &req);
	sb_free(&sb);
	return rc;
}

static bool all_digits(const char *s)
{
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

int cmd_pool_create(struct vsctl *v)
{
	const char *name = v->args[0], *scheme = vs_opt_str(v, "scheme");
	const char *fd = vs_opt_str(v, "failure_domain");
	uint64_t pg_size, pg_minsize, parity, pg_count, id, stripe = 0, data_chunks;
	char err[256];
	bool ec;
	int rc;

	if (!name[0] || all_digits(name) || strchr(name, '/') || strchr(name, '"'))
		return vs_usage(v, "bad pool name '%s': it must be non-empty, not a plain number, "
				"and contain no '/' or '\"'", name);
	if (!scheme)
		return vs_usage(v, "--scheme is required (replicated, xor or jerasure)");
	if (!strcmp(scheme, "ec"))
		scheme = "jerasure";
	if (strcmp(scheme, "replicated") && strcmp(scheme, "xor") && strcmp(scheme, "jerasure"))
		return vs_usage(v, "--scheme must be replicated, xor, jerasure or ec, got \"%s\"",
				scheme);
	ec = strcmp(scheme, "replicated") != 0;
	if (!vs_opt_set(v, "pg_size"))
		return vs_usage(v, "--pg_size is required");
	if (!vs_opt_set(v, "pg_count"))
		return vs_usage(v, "--pg_count is required");
	if ((rc = vs_opt_num(v, "pg_size", 0, &pg_size)) ||
	    (rc = vs_opt_num(v, "pg_count", 0, &pg_count)) ||
	    (rc = vs_opt_num(v, "parity_chunks", ec ? 1 : 0, &parity)) ||
	    (rc = vs_opt_num(v, "id", 0, &id)))
		return rc;
	if (!ec && vs_opt_set(v, "parity_chunks") && parity != 0)
		return vs_usage(v, "--parity_chunks applies to xor and jerasure pools only");
	data_chunks = ec && pg_size > parity ? pg_size - parity : 1;
	if ((rc = vs_opt_num(v, "pg_minsize",
			     ec ? data_chunks + (parity > 1) : (pg_size > 1 ? pg_size - 1 : 1),
			     &pg_minsize)))
		return rc;
	if (vs_opt_set(v, "pg_stripe_size") &&
	    vs_parse_size(v, "pg_stripe_size", vs_opt_str(v, "pg_stripe_size"), &stripe) < 0)
		return VS_USAGE;
	if (vs_opt_set(v, "id") && (id < 1 || id > VS_MAX_POOL_ID))
		return vs_usage(v, "--id must be 1..65535, got %" PRIu64, id);

	struct strbuf obj;
	json_t parsed;

	sb_init(&obj);
	sb_puts(&obj, "{\"name\":");
	sb_json_str(&obj, name);
	sb_printf(&obj, ",\"scheme\":\"%s\",\"pg_size\":%" PRIu64 ",\"pg_minsize\":%" PRIu64,
		  scheme, pg_size, pg_minsize);
	if (ec)
		sb_printf(&obj, ",\"parity_chunks\":%" PRIu64, parity);
	sb_printf(&obj, ",\"pg_count\":%" PRIu64 ",\"failure_domain\":", pg_count);
	sb_json_str(&obj, fd ? fd : "host");
	if (stripe)
		sb_printf(&obj, ",\"pg_stripe_size\":%" PRIu64, stripe);
	sb_puts(&obj, "}");
	parsed = json_parse(obj.buf, obj.len, err, sizeof(err));
	if (!parsed || vs_pool_check(parsed, NULL, err, sizeof(err)) < 0) {
		if (parsed)
			json_free(parsed);
		sb_free(&obj);
		return vs_usage(v, "invalid pool: %s", err);
	}
	json_free(parsed);

	for (int attempt = 0; attempt < 20; attempt++) {
		struct vs_pools pools;
		uint64_t new_id = id;

		if (vs_pools_load(v, &pools, false) < 0)
			break;
		for (size_t i = 0; pools.root && i < json_len(pools.root); i++) {
			const char *k = json_key_at(pools.root, i);
			const char *n = json_str(json_get(json_at(pools.root, i), "name"));

			if (n && !strcmp(n, name)) {
				vs_err("pool '%s' already exists (id %s)", name, k);
				vs_pools_free(&pools);
				sb_free(&obj);
				return VS_ERR;
			}
			if (id && vs_key_num(k, "") == id) {
				vs_err("pool id %" PRIu64 " is already used by '%s'", id, n ? n : "?");
				vs_pools_free(&pools);
				sb_free(&obj);
				return VS_ERR;
			}
		}
		if (!new_id) {
			uint64_t max = 0;

			for (size_t i = 0; pools.root && i < json_len(pools.root); i++) {
				uint64_t k = vs_key_num(json_key_at(pools.root, i), "");

				if (k > max && k <= VS_MAX_POOL_ID)
					max = k;
			}
			new_id = max + 1;
			if (new_id > VS_MAX_POOL_ID) {
				for (new_id = 1; new_id <= VS_MAX_POOL_ID; new_id++) {
					char kb[16];

					snprintf(kb, sizeof(kb), "%" PRIu64, new_id);
					if (!json_get(pools.root, kb))
						break;
				}
				if (new_id > VS_MAX_POOL_ID) {
					vs_err("all 65535 pool ids are used");
					vs_pools_free(&pools);
					sb_free(&obj);
					return VS_ERR;
				}
			}
		}
		rc = write_pools(v, &pools, new_id, obj.buf);
		vs_pools_free(&pools);
		if (rc < 0)
			break;
		if (rc == 1) {
			if (v->json)
				printf("{\"id\":%" PRIu64 ",\"name\":", new_id);
			else
				printf("Pool '%s' created with id %" PRIu64 "\n", name, new_id);
			if (v->json) {
				struct strbuf sb;

				sb_init(&sb);
				sb_json_str(&sb, name);
				printf("%s}\n", sb.buf);
				sb_free(&sb);
			}
			sb_free(&obj);
			return VS_OK;
		}
	}
	sb_free(&obj);
	vs_err("could not create pool '%s'", name);
	return VS_ERR;
}

/* Removes the pool from config/pools and its PGs from config/pgs in one
 * txn, guarded by both keys' revisions and index/maxid/<pool> (so an image
 * created meanwhile makes it retry and see the image). */
static int remove_pool(struct vsctl *v, const struct vs_pools *pools, uint64_t id)
{
	char max_key[64], pk[24];
	struct strbuf pl, pg;
	int64_t max_rev, pgs_rev;
	json_t pgs = NULL, items;
	bool first = true;
	int rc;

	snprintf(max_key, sizeof(max_key), "index/maxid/%" PRIu64, id);
	snprintf(pk, sizeof(pk), "%" PRIu64, id);
	if (vs_get(v, max_key, NULL, &max_rev) < 0 || vs_get_json(v, "config/pgs", &pgs, &pgs_rev) < 0)
		return -1;
	if (!pools_text(&pl, pools, id, 0, NULL)) {
		if (pgs)
			json_free(pgs);
		return -1;
	}
	items = json_get(pgs, "items");
	sb_init(&pg);
	if (json_is_obj(items) && json_get(items, pk)) {
		sb_puts(&pg, "{");
		for (size_t i = 0; i < json_len(pgs); i++) {
			const char *k = json_key_at(pgs, i);

			sb_puts(&pg, first ? "" : ",");
			first = false;
			sb_json_str(&pg, k);
			sb_puts(&pg, ":");
			if (strcmp(k, "items")) {
				sb_json_val(&pg, json_at(pgs, i));
				continue;
			}
			sb_puts(&pg, "{");
			for (size_t j = 0, n = 0; j < json_len(items); j++) {
				if (!strcmp(json_key_at(items, j), pk))
					continue;
				sb_puts(&pg, n++ ? "," : "");
				sb_json_str(&pg, json_key_at(items, j));
				sb_puts(&pg, ":");
				sb_json_val(&pg, json_at(items, j));
			}
			sb_puts(&pg, "}");
		}
		sb_puts(&pg, "}");
	}
	struct etcd_compare cmp[3] = {
		{ .key = "config/pools", .target = ETCD_CMP_MOD, .op = ETCD_CMP_EQUAL,
		  .number = pools->mod_rev },
		{ .key = max_key, .target = ETCD_CMP_MOD, .op = ETCD_CMP_EQUAL, .number = max_rev },
		{ .key = "config/pgs", .target = ETCD_CMP_MOD, .op = ETCD_CMP_EQUAL, .number = pgs_rev },
	};
	struct etcd_txn_op ops[2] = {
		{ .type = ETCD_OP_PUT, .put = { .key = "config/pools", .value = pl.buf,
			.value_len = pl.len } },
		{ .type = ETCD_OP_PUT, .put = { .key = "config/pgs", .value = pg.buf,
			.value_len = pg.len } },
	};
	struct etcd_txn_req req = { .compare = cmp, .n_compare = 3, .success = ops,
		.n_success = pg.len ? 2 : 1 };

	rc = pl.oom || pg.oom ? -1 : vs_txn(v, &req);
	sb_free(&pl);
	sb_free(&pg);
	if (pgs)
		json_free(pgs);
	return rc;
}

int cmd_pool_rm(struct vsctl *v)
{
	for (int attempt = 0; attempt < 20; attempt++) {
		struct vs_pools pools;
		const struct vs_pool *p;
		struct etcd_result r;
		char prefix[64];
		uint64_t id;
		int rc;

		if (vs_pools_load(v, &pools, false) < 0)
			return VS_ERR;
		p = vs_pool_find(&pools, v->args[0]);
		if (!p) {
			vs_pools_free(&pools);
			return VS_ERR;
		}
		id = p->id;
		snprintf(prefix, sizeof(prefix), "config/inode/%" PRIu64 "/", id);
		if (vs_list(v, prefix, &r) < 0) {
			vs_pools_free(&pools);
			return VS_ERR;
		}
		if (r.n_kvs) {
			vs_err("pool '%s' still has %zu image(s); remove them first (vsctl ls --pool %"
			       PRIu64 ")", p->name, r.n_kvs, id);
			etcd_result_clear(&r);
			vs_pools_free(&pools);
			return VS_ERR;
		}
		etcd_result_clear(&r);
		rc = remove_pool(v, &pools, id);
		if (rc == 1 && !v->json)
			printf("Pool '%s' (id %" PRIu64 ") removed\n", p->name, id);
		else if (rc == 1)
			printf("{\"id\":%" PRIu64 "}\n", id);
		vs_pools_free(&pools);
		if (rc < 0)
			return VS_ERR;
		if (rc == 1)
			return VS_OK;
	}
	vs_err("config/pools keeps changing; try again");
	return VS_ERR;
}
