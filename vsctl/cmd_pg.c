/* vsctl pg place --static: a round-robin config/pgs from the up OSDs, the
 * stand-in for the monitor's placement (spec §9 config/pgs, §11). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vsctl.h"

/* Up OSD numbers from osd/state/<n> (state "up"), sorted. */
static int load_up_osds(struct vsctl *v, uint64_t **osds, size_t *n)
{
	struct etcd_result r;

	*osds = NULL;
	*n = 0;
	if (vs_list(v, "osd/state/", &r) < 0)
		return -1;
	*osds = calloc(r.n_kvs + 1, sizeof(uint64_t));
	if (!*osds) {
		etcd_result_clear(&r);
		vs_err("out of memory");
		return -1;
	}
	for (size_t i = 0; i < r.n_kvs; i++) {
		uint64_t num = vs_key_num(r.kvs[i].key, "osd/state/");
		json_t st;
		const char *s;

		if (!num)
			continue;
		st = json_parse(r.kvs[i].value, r.kvs[i].value_len, NULL, 0);
		s = json_str(json_get(st, "state"));
		if (s && !strcmp(s, "up"))
			(*osds)[(*n)++] = num;
		else
			vs_warn("OSD %" PRIu64 ": %s is not a valid \"up\" state; not using it",
				num, r.kvs[i].full_key);
		if (st)
			json_free(st);
	}
	etcd_result_clear(&r);
	qsort(*osds, *n, sizeof(uint64_t), vs_cmp_u64);
	return 0;
}

int cmd_pg_place(struct vsctl *v)
{
	const struct vs_pool *only = NULL;
	struct vs_pools pools;
	uint64_t *osds = NULL;
	size_t nosd = 0;
	json_t old = NULL;
	int64_t old_rev;
	struct strbuf sb;
	int rc = VS_ERR, r;

	if (!vs_opt_bool(v, "static"))
		return vs_usage(v, "only --static placement exists until the monitor does; "
				"give --static");
	if (vs_pools_load(v, &pools, true) < 0)
		return VS_ERR;
	if (vs_opt_str(v, "pool") && !(only = vs_pool_find(&pools, vs_opt_str(v, "pool"))))
		goto out;
	if (!pools.n) {
		vs_err("there are no pools; create one with 'vsctl pool create'");
		goto out;
	}
	if (load_up_osds(v, &osds, &nosd) < 0)
		goto out;
	if (!nosd) {
		vs_err("no OSD is up (no osd/state/<n> keys); start the OSDs first");
		goto out;
	}
	for (size_t i = 0; i < pools.n; i++) {
		const struct vs_pool *p = &pools.pools[i];

		if (only && p != only)
			continue;
		if (nosd < p->pg_size && !vs_opt_bool(v, "allow_degraded")) {
			vs_err("pool '%s' needs %" PRIu64 " OSDs per PG but only %zu %s up; start more "
			       "OSDs or give --allow-degraded (missing slots are then 0)",
			       p->name, p->pg_size, nosd, nosd == 1 ? "is" : "are");
			goto out;
		}
	}
	r = vs_get_json(v, "config/pgs", &old, &old_rev);
	if (r < 0)
		goto out;
	sb_init(&sb);
	sb_puts(&sb, "{\"hash\":\"static\",\"items\":{");
	bool first_pool = true;

	/* Keep other pools' PGs when placing one pool. */
	json_t old_items = json_get(old, "items");

	for (size_t i = 0; only && json_is_obj(old_items) && i < json_len(old_items); i++) {
		const char *k = json_key_at(old_items, i);

		if (vs_key_num(k, "") == only->id || !vs_pool_by_id(&pools, vs_key_num(k, "")))
			continue;
		sb_printf(&sb, "%s", first_pool ? "" : ",");
		first_pool = false;
		sb_json_str(&sb, k);
		sb_puts(&sb, ":");
		sb_json_val(&sb, json_at(old_items, i));
	}
	for (size_t i = 0; i < pools.n; i++) {
		const struct vs_pool *p = &pools.pools[i];

		if (only && p != only)
			continue;
		sb_printf(&sb, "%s\"%" PRIu64 "\":{", first_pool ? "" : ",", p->id);
		first_pool = false;
		for (uint64_t pg = 0; pg < p->pg_count; pg++) {
			sb_printf(&sb, "%s\"%" PRIu64 "\":{\"osd_set\":[", pg ? "," : "", pg + 1);
			for (uint64_t s = 0; s < p->pg_size; s++)
				sb_printf(&sb, "%s%" PRIu64, s ? "," : "",
					  s < nosd ? osds[(pg + s) % nosd] : 0);
			sb_printf(&sb, "],\"primary\":%" PRIu64 "}", osds[pg % nosd]);
		}
		sb_puts(&sb, "}");
	}
	sb_puts(&sb, "}}");
	if (sb.oom) {
		vs_err("out of memory");
		sb_free(&sb);
		goto out;
	}

	struct etcd_compare cmp = { .key = "config/pgs", .target = ETCD_CMP_MOD,
		.op = ETCD_CMP_EQUAL, .number = old_rev };
	struct etcd_txn_op op = { .type = ETCD_OP_PUT,
		.put = { .key = "config/pgs", .value = sb.buf, .value_len = sb.len } };
	struct etcd_txn_req req = { .compare = &cmp, .n_compare = 1, .success = &op,
		.n_success = 1 };

	r = vs_txn(v, &req);
	if (r == 0)
		vs_err("config/pgs changed while placing (a monitor running?); try again");
	if (r == 1) {
		rc = VS_OK;
		if (v->json) {
			printf("%s\n", sb.buf);
		} else {
			for (size_t i = 0; i < pools.n; i++) {
				const struct vs_pool *p = &pools.pools[i];

				if (only && p != only)
					continue;
				printf("Pool '%s' (id %" PRIu64 "): %" PRIu64 " PGs of %" PRIu64
				       " OSDs over %zu up OSD(s)%s\n", p->name, p->id, p->pg_count,
				       p->pg_size, nosd, nosd < p->pg_size ? " (degraded)" : "");
			}
		}
	}
	sb_free(&sb);
out:
	if (old)
		json_free(old);
	free(osds);
	vs_pools_free(&pools);
	return rc;
}
