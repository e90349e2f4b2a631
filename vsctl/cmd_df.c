/* vsctl df: space per pool from the monitor's pool/stats/<pool> (spec §9),
 * with the pool's placement status. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vsctl.h"

#define TIB 1099511627776.0

struct pool_space {
	bool have;		/* pool/stats exists */
	double total_raw, used_raw, r2u, eff;
	const char *status, *message;
	size_t pgs;
};

static void space_of(json_t st, json_t pgs_items, const struct vs_pool *p, struct pool_space *s)
{
	char id[32];
	double d;

	memset(s, 0, sizeof(*s));
	snprintf(id, sizeof(id), "%" PRIu64, p->id);
	s->pgs = json_len(json_get(pgs_items, id));
	if (!json_is_obj(st))
		return;
	s->have = true;
	s->total_raw = !json_double(json_get(st, "total_raw_tb"), &d) ? d * TIB : 0;
	s->used_raw = !json_double(json_get(st, "used_raw_tb"), &d) ? d * TIB : 0;
	s->r2u = !json_double(json_get(st, "raw_to_usable"), &d) ? d : 0;
	s->eff = !json_double(json_get(st, "space_efficiency"), &d) ? d : 0;
	s->status = json_str(json_get(st, "status"));
	s->message = json_str(json_get(st, "message"));
}

int cmd_df(struct vsctl *v)
{
	struct vs_pools pools;
	json_t pgs = NULL, *st = NULL;
	struct vs_table *t = NULL;
	struct strbuf sb;
	bool any_missing = false;
	int rc = VS_ERR;

	if (vs_pools_load(v, &pools, true) < 0)
		return VS_ERR;
	if (vs_get_json(v, "config/pgs", &pgs, NULL) < 0)
		goto out;
	st = calloc(pools.n + 1, sizeof(json_t));
	if (!st) {
		vs_err("out of memory");
		goto out;
	}
	for (size_t i = 0; i < pools.n; i++) {
		char key[64];

		snprintf(key, sizeof(key), "pool/stats/%" PRIu64, pools.pools[i].id);
		if (vs_get_json(v, key, &st[i], NULL) < 0)
			goto out;
	}
	sb_init(&sb);
	sb_puts(&sb, "[");
	t = vs_table_new(">ID|NAME|SCHEME|>PGS|>TOTAL|>USED|>AVAILABLE|>USED%|>EFFICIENCY|STATUS");
	for (size_t i = 0; i < pools.n; i++) {
		const struct vs_pool *p = &pools.pools[i];
		struct pool_space s;
		double total, used, avail;
		char b1[32], b2[32], b3[32];

		space_of(st[i], json_get(pgs, "items"), p, &s);
		total = s.total_raw * s.r2u;
		used = s.used_raw * s.r2u;
		/* the pool is full when its fullest OSD is: only efficiency x total
		 * can be filled evenly */
		avail = total * s.eff - used;
		if (avail < 0)
			avail = 0;
		any_missing |= !s.have;
		sb_printf(&sb, "%s{\"id\":%" PRIu64 ",\"name\":%s,\"scheme\":%s,\"pg_size\":%" PRIu64
			  ",\"pg_count\":%" PRIu64 ",\"pgs_placed\":%zu", i ? "," : "", p->id,
			  vs_q(p->name), vs_q(p->scheme), p->pg_size, p->pg_count, s.pgs);
		if (s.have)
			sb_printf(&sb, ",\"total_raw\":%.0f,\"used_raw\":%.0f,\"total\":%.0f,"
				  "\"used\":%.0f,\"available\":%.0f,\"space_efficiency\":%.4f,"
				  "\"status\":%s,\"message\":%s", s.total_raw, s.used_raw, total, used,
				  avail, s.eff, vs_q(s.status ? s.status : "unknown"),
				  vs_q(s.message ? s.message : ""));
		sb_puts(&sb, "}");
		vs_table_row(t);
		vs_table_cell(t, "%" PRIu64, p->id);
		vs_table_cell(t, "%s", p->name);
		vs_table_cell(t, "%s %" PRIu64 "/%" PRIu64, p->scheme, p->pg_size, p->pg_minsize);
		vs_table_cell(t, "%zu", s.pgs);
		if (!s.have) {
			for (int k = 0; k < 5; k++)
				vs_table_cell(t, "-");
			vs_table_cell(t, "no statistics");
			continue;
		}
		vs_table_cell(t, "%s", vs_fmt_size((uint64_t)total, b1, sizeof(b1)));
		vs_table_cell(t, "%s", vs_fmt_size((uint64_t)used, b2, sizeof(b2)));
		vs_table_cell(t, "%s", vs_fmt_size((uint64_t)avail, b3, sizeof(b3)));
		vs_table_cell(t, "%.1f%%", total > 0 ? 100 * used / total : 0);
		vs_table_cell(t, "%.1f%%", 100 * s.eff);
		if (s.status && strcmp(s.status, "ok"))
			vs_table_cell(t, "%s: %s", s.status, s.message ? s.message : "");
		else
			vs_table_cell(t, "ok");
	}
	sb_puts(&sb, "]");
	if (sb.oom) {
		vs_err("out of memory");
	} else if (v->json) {
		printf("%s\n", sb.buf);
		rc = VS_OK;
	} else {
		vs_table_print(t, stdout);
		if (any_missing)
			printf("(pools without statistics: no monitor has published pool/stats yet; "
			       "is vstor-mon running?)\n");
		rc = VS_OK;
	}
	sb_free(&sb);
out:
	for (size_t i = 0; st && i < pools.n; i++)
		if (st[i])
			json_free(st[i]);
	free(st);
	if (pgs)
		json_free(pgs);
	vs_table_free(t);
	vs_pools_free(&pools);
	return rc;
}
