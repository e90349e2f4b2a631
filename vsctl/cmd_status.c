/* vsctl osd ls and vsctl status: OSDs from osd/state + osd/stats, PG
 * states from pg/state, and the monitor's aggregates (stats, pool/stats,
 * mon/member) (spec §8.1, §9). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vsctl.h"

struct osd_info {
	uint64_t num;
	json_t state, stats;	/* parsed values or NULL */
};

struct osds {
	struct osd_info *v;
	size_t n;
};

static struct osd_info *osd_slot(struct osds *o, uint64_t num)
{
	struct osd_info *nv;

	for (size_t i = 0; i < o->n; i++)
		if (o->v[i].num == num)
			return &o->v[i];
	nv = realloc(o->v, (o->n + 1) * sizeof(*o->v));
	if (!nv)
		return NULL;
	o->v = nv;
	memset(&o->v[o->n], 0, sizeof(*o->v));
	o->v[o->n].num = num;
	return &o->v[o->n++];
}

static void osds_free(struct osds *o)
{
	for (size_t i = 0; i < o->n; i++) {
		if (o->v[i].state)
			json_free(o->v[i].state);
		if (o->v[i].stats)
			json_free(o->v[i].stats);
	}
	free(o->v);
	memset(o, 0, sizeof(*o));
}

static int cmp_osd(const void *a, const void *b)
{
	const struct osd_info *x = a, *y = b;

	return x->num < y->num ? -1 : x->num > y->num;
}

static int osds_load(struct vsctl *v, struct osds *o)
{
	static const char *prefixes[2] = { "osd/state/", "osd/stats/" };

	memset(o, 0, sizeof(*o));
	for (int k = 0; k < 2; k++) {
		struct etcd_result r;

		if (vs_list(v, prefixes[k], &r) < 0)
			return -1;
		for (size_t i = 0; i < r.n_kvs; i++) {
			uint64_t num = vs_key_num(r.kvs[i].key, prefixes[k]);
			char err[200];
			struct osd_info *oi;
			json_t j;

			if (!num)
				continue;
			j = json_parse(r.kvs[i].value, r.kvs[i].value_len, err, sizeof(err));
			if (!json_is_obj(j)) {
				vs_warn("ignoring etcd key %s: %s", r.kvs[i].full_key,
					j ? "not a JSON object" : err);
				if (j)
					json_free(j);
				continue;
			}
			oi = osd_slot(o, num);
			if (!oi) {
				json_free(j);
				etcd_result_clear(&r);
				vs_err("out of memory");
				return -1;
			}
			if (k == 0)
				oi->state = j;
			else
				oi->stats = j;
		}
		etcd_result_clear(&r);
	}
	qsort(o->v, o->n, sizeof(*o->v), cmp_osd);
	return 0;
}

static bool osd_up(const struct osd_info *oi)
{
	const char *s = json_str(json_get(oi->state, "state"));

	return s && !strcmp(s, "up");
}

static const char *osd_host(const struct osd_info *oi)
{
	const char *h = json_str(json_get(oi->state, "host"));

	return h ? h : json_str(json_get(oi->stats, "host"));
}

/* "addr:port" of an up OSD, "" when unknown. */
static void osd_addr(const struct osd_info *oi, char *buf, size_t len)
{
	json_t addrs = json_get(oi->state, "addresses");
	const char *a = json_is_arr(addrs) ? json_str(json_at(addrs, 0)) : json_str(addrs);
	uint64_t port = 0;

	buf[0] = 0;
	json_u64(json_get(oi->state, "port"), &port);
	if (a)
		snprintf(buf, len, "%s:%" PRIu64, a, port);
}

int cmd_osd_ls(struct vsctl *v)
{
	struct osds o;
	struct strbuf sb;
	struct vs_table *t;

	if (osds_load(v, &o) < 0) {
		osds_free(&o);
		return VS_ERR;
	}
	sb_init(&sb);
	sb_puts(&sb, "[");
	t = vs_table_new(">OSD|HOST|ADDRESS|STATE|>SIZE|>FREE|>USED");
	for (size_t i = 0; i < o.n; i++) {
		const struct osd_info *oi = &o.v[i];
		const char *host = osd_host(oi);
		uint64_t size = 0, free_b = 0;
		bool has_size = !json_u64(json_get(oi->stats, "size"), &size);
		bool has_free = !json_u64(json_get(oi->stats, "free"), &free_b);
		char addr[128], b1[32], b2[32];

		osd_addr(oi, addr, sizeof(addr));
		sb_printf(&sb, "%s{\"osd_num\":%" PRIu64 ",\"host\":", i ? "," : "", oi->num);
		if (host)
			sb_json_str(&sb, host);
		else
			sb_puts(&sb, "null");
		sb_puts(&sb, ",\"address\":");
		if (addr[0])
			sb_json_str(&sb, addr);
		else
			sb_puts(&sb, "null");
		sb_printf(&sb, ",\"state\":\"%s\"", osd_up(oi) ? "up" : "down");
		if (has_size)
			sb_printf(&sb, ",\"size\":%" PRIu64, size);
		if (has_free)
			sb_printf(&sb, ",\"free\":%" PRIu64, free_b);
		sb_puts(&sb, "}");

		vs_table_row(t);
		vs_table_cell(t, "%" PRIu64, oi->num);
		vs_table_cell(t, "%s", host ? host : "-");
		vs_table_cell(t, "%s", addr[0] ? addr : "-");
		vs_table_cell(t, "%s", osd_up(oi) ? "up" : "down");
		vs_table_cell(t, "%s", has_size ? vs_fmt_size(size, b1, sizeof(b1)) : "-");
		vs_table_cell(t, "%s", has_free ? vs_fmt_size(free_b, b2, sizeof(b2)) : "-");
		if (has_size && has_free && size && free_b <= size)
			vs_table_cell(t, "%.1f%%", 100.0 * (double)(size - free_b) / (double)size);
		else
			vs_table_cell(t, "-");
	}
	sb_puts(&sb, "]");
	if (v->json)
		printf("%s\n", sb.buf);
	else
		vs_table_print(t, stdout);
	vs_table_free(t);
	sb_free(&sb);
	osds_free(&o);
	return VS_OK;
}

struct state_count {
	char *name;
	uint64_t count;
};

static int add_state(struct state_count **sc, size_t *n, const char *name, uint64_t add)
{
	struct state_count *nv;

	for (size_t i = 0; i < *n; i++) {
		if (!strcmp((*sc)[i].name, name)) {
			(*sc)[i].count += add;
			return 0;
		}
	}
	nv = realloc(*sc, (*n + 1) * sizeof(**sc));
	if (!nv)
		return -1;
	*sc = nv;
	nv[*n].name = strdup(name);
	nv[*n].count = add;
	if (!nv[*n].name)
		return -1;
	(*n)++;
	return 0;
}

static int cmp_state(const void *a, const void *b)
{
	const struct state_count *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* PG pg of pool as one number, pool above PG; false unless both are
 * plain positive numbers of 32 bits. */
static bool pg_num(const char *pool, const char *pg, uint64_t *out)
{
	uint64_t p = vs_key_num(pool, ""), n = vs_key_num(pg, "");

	if (!p || !n || p > UINT32_MAX || n > UINT32_MAX)
		return false;
	*out = p << 32 | n;
	return true;
}

/*
 * The PGs that have a pg/state key ("pg/state/P/N"), sorted for
 * has_pg_state: looked up per configured PG, a scan of every key made a
 * status of a few thousand PGs take seconds. NULL with *n 0 if none.
 */
static uint64_t *pg_state_index(const struct etcd_result *r, size_t *n)
{
	uint64_t *idx = r->n_kvs ? malloc(r->n_kvs * sizeof(*idx)) : NULL;

	*n = 0;
	for (size_t i = 0; idx && i < r->n_kvs; i++) {
		const char *k = r->kvs[i].key;
		unsigned int pool, pg;
		int end = 0;

		if (sscanf(k, "pg/state/%u/%u%n", &pool, &pg, &end) == 2 && !k[end])
			idx[(*n)++] = (uint64_t)pool << 32 | pg;
	}
	if (*n)
		qsort(idx, *n, sizeof(*idx), vs_cmp_u64);
	return idx;
}

/* Whether PG pg of pool has a pg/state key (idx: pg_state_index). */
static bool has_pg_state(const uint64_t *idx, size_t n, const char *pool, const char *pg)
{
	uint64_t key;

	return n && pg_num(pool, pg, &key) && bsearch(&key, idx, n, sizeof(*idx), vs_cmp_u64);
}

/* "12.3 MiB/s, 456 op/s" of one counter of the monitor's stats. */
static const char *rate(json_t c, char *buf, size_t len)
{
	double bps = 0, iops = 0;
	char b[32];

	json_double(json_get(c, "bps"), &bps);
	json_double(json_get(c, "iops"), &iops);
	snprintf(buf, len, "%s/s, %.0f op/s", vs_fmt_size((uint64_t)bps, b, sizeof(b)), iops);
	return buf;
}

static double stat_num(json_t v)
{
	double d = 0;

	json_double(v, &d);
	return d;
}

/* The monitor's part of vsctl status: objects, I/O, recovery, pool
 * problems (pool/stats status other than ok). */
static void print_mon_stats(json_t stats, const struct etcd_result *pst)
{
	json_t oc = json_get(stats, "object_counts"), ops = json_get(stats, "op_stats");
	json_t rec = json_get(stats, "recovery_stats");
	char b1[64], b2[64];
	int problems = 0;

	if (stats) {
		printf("    objects: %.0f", stat_num(json_get(oc, "object")));
		if (stat_num(json_get(oc, "degraded")) || stat_num(json_get(oc, "misplaced")) ||
		    stat_num(json_get(oc, "incomplete")))
			printf(" (%.0f degraded, %.0f misplaced, %.0f incomplete)",
			       stat_num(json_get(oc, "degraded")), stat_num(json_get(oc, "misplaced")),
			       stat_num(json_get(oc, "incomplete")));
		printf("\n  io:\n");
		printf("    read:     %s\n", rate(json_get(ops, "primary_read"), b1, sizeof(b1)));
		printf("    write:    %s\n", rate(json_get(ops, "primary_write"), b2, sizeof(b2)));
		printf("    recovery: %s\n", rate(json_get(rec, "degraded"), b1, sizeof(b1)));
	}
	for (size_t i = 0; i < pst->n_kvs; i++) {
		json_t ps = json_parse(pst->kvs[i].value, pst->kvs[i].value_len, NULL, 0);
		const char *st = json_str(json_get(ps, "status"));

		if (st && strcmp(st, "ok")) {
			if (!problems++)
				printf("  problems:\n");
			printf("    pool %" PRIu64 ": %s: %s\n", vs_key_num(pst->kvs[i].key, "pool/stats/"),
			       st, json_str(json_get(ps, "message")) ? json_str(json_get(ps, "message")) : "");
		}
		if (ps)
			json_free(ps);
	}
}

int cmd_status(struct vsctl *v)
{
	struct vs_pools pools;
	struct osds o = { 0 };
	struct etcd_result pgst = { 0 }, inodes = { 0 }, members = { 0 }, pstats = { 0 };
	struct state_count *sc = NULL;
	size_t nsc = 0, up = 0;
	uint64_t pg_total = 0, size_total = 0, free_total = 0;
	double used_raw = 0;		/* pool/stats used_raw_tb, in bytes */
	json_t pgs = NULL, mon = NULL, stats = NULL;
	uint64_t *pgidx = NULL;
	size_t npgidx = 0;
	int rc = VS_ERR;

	if (vs_pools_load(v, &pools, true) < 0)
		return VS_ERR;
	if (osds_load(v, &o) < 0 || vs_list(v, "pg/state/", &pgst) < 0 ||
	    vs_get_json(v, "config/pgs", &pgs, NULL) < 0 || vs_get_json(v, "mon/master", &mon, NULL) < 0 ||
	    vs_get_json(v, "stats", &stats, NULL) < 0 || vs_list(v, "mon/member/", &members) < 0 ||
	    vs_list(v, "pool/stats/", &pstats) < 0)
		goto out;
	{
		struct etcd_range_req req = { .key = "config/inode/", .prefix = true,
			.count_only = true };

		if (etcd_range_sync(v->etcd, &req, &inodes) != ETCD_OK) {
			vs_err("etcd read failed: %s", etcd_strerror(inodes.status));
			goto out;
		}
	}
	for (size_t i = 0; i < pstats.n_kvs; i++) {
		json_t ps = json_parse(pstats.kvs[i].value, pstats.kvs[i].value_len, NULL, 0);
		double tb = 0;

		if (!json_double(json_get(ps, "used_raw_tb"), &tb))
			used_raw += tb * 1099511627776.0;
		if (ps)
			json_free(ps);
	}
	for (size_t i = 0; i < o.n; i++) {
		uint64_t x;

		up += osd_up(&o.v[i]);
		if (!json_u64(json_get(o.v[i].stats, "size"), &x))
			size_total += x;
		if (!json_u64(json_get(o.v[i].stats, "free"), &x))
			free_total += x;
	}
	/* PG states of existing PGs. */
	for (size_t i = 0; i < pgst.n_kvs; i++) {
		json_t st = json_parse(pgst.kvs[i].value, pgst.kvs[i].value_len, NULL, 0);
		json_t arr = json_get(st, "state");
		struct strbuf name;

		sb_init(&name);
		for (size_t k = 0; json_is_arr(arr) && k < json_len(arr); k++) {
			const char *s = json_str(json_at(arr, k));

			sb_printf(&name, "%s%s", k ? "+" : "", s ? s : "?");
		}
		if (!name.len)
			sb_puts(&name, "invalid");
		if (add_state(&sc, &nsc, name.buf, 1) < 0) {
			sb_free(&name);
			if (st)
				json_free(st);
			vs_err("out of memory");
			goto out;
		}
		sb_free(&name);
		if (st)
			json_free(st);
	}
	/* Configured PGs of valid pools without a state are offline. */
	json_t items = json_get(pgs, "items");

	pgidx = pg_state_index(&pgst, &npgidx);
	if (pgst.n_kvs && !pgidx) {
		fprintf(stderr, "vsctl: out of memory\n");
		goto out;
	}

	for (size_t i = 0; json_is_obj(items) && i < json_len(items); i++) {
		const char *pk = json_key_at(items, i);
		json_t pp = json_at(items, i);

		if (!vs_pool_by_id(&pools, vs_key_num(pk, "")) || !json_is_obj(pp))
			continue;
		pg_total += json_len(pp);
		for (size_t k = 0; k < json_len(pp); k++)
			if (!has_pg_state(pgidx, npgidx, pk, json_key_at(pp, k)) &&
			    add_state(&sc, &nsc, "offline", 1) < 0)
				goto out;
	}
	qsort(sc, nsc, sizeof(*sc), cmp_state);
	const char *mon_host = json_str(json_get(mon, "hostname"));

	if (v->json) {
		struct strbuf sb;

		sb_init(&sb);
		sb_printf(&sb, "{\"osd_up\":%zu,\"osd_total\":%zu,\"pool_count\":%zu,"
			  "\"image_count\":%" PRId64 ",\"pg_count\":%" PRIu64
			  ",\"size\":%" PRIu64 ",\"free\":%" PRIu64 ",\"used_raw\":%.0f"
			  ",\"mon_master\":", up, o.n, pools.n, inodes.count, pg_total, size_total,
			  free_total, used_raw);
		if (mon)
			sb_json_val(&sb, mon);
		else
			sb_puts(&sb, "null");
		sb_printf(&sb, ",\"mon_members\":%zu,\"pg_states\":{", members.n_kvs);
		for (size_t i = 0; i < nsc; i++) {
			sb_printf(&sb, "%s", i ? "," : "");
			sb_json_str(&sb, sc[i].name);
			sb_printf(&sb, ":%" PRIu64, sc[i].count);
		}
		sb_puts(&sb, "},\"stats\":");
		if (stats)
			sb_json_val(&sb, stats);
		else
			sb_puts(&sb, "null");
		sb_puts(&sb, ",\"pool_status\":{");
		for (size_t i = 0; i < pstats.n_kvs; i++) {
			json_t ps = json_parse(pstats.kvs[i].value, pstats.kvs[i].value_len, NULL, 0);

			sb_printf(&sb, "%s\"%" PRIu64 "\":{\"status\":%s,\"message\":%s}", i ? "," : "",
				  vs_key_num(pstats.kvs[i].key, "pool/stats/"),
				  vs_q(json_str(json_get(ps, "status")) ? json_str(json_get(ps, "status")) : "unknown"),
				  vs_q(json_str(json_get(ps, "message")) ? json_str(json_get(ps, "message")) : ""));
			if (ps)
				json_free(ps);
		}
		sb_puts(&sb, "}}");
		printf("%s\n", sb.buf);
		sb_free(&sb);
	} else {
		char b1[32], b2[32];

		printf("  cluster:\n");
		printf("    etcd:    %s\n", etcd_current_endpoint(v->etcd));
		if (mon)
			printf("    monitor: %s (master), %zu standby\n", mon_host ? mon_host : "running",
			       members.n_kvs ? members.n_kvs - 1 : 0);
		else
			printf("    monitor: none (start vstor-mon; without it PGs do not move when OSDs "
			       "fail, and config/pgs changes only by 'vsctl pg place')\n");
		printf("    osd:     %zu up, %zu total\n", up, o.n);
		printf("    space:   %s total, %s free\n", vs_fmt_size(size_total, b1, sizeof(b1)),
		       vs_fmt_size(free_total, b2, sizeof(b2)));
		printf("  data:\n");
		printf("    pools:   %zu\n", pools.n);
		printf("    images:  %" PRId64 "\n", inodes.count);
		if (pstats.n_kvs)
			printf("    used:    %s raw\n", vs_fmt_size((uint64_t)(used_raw + 0.5), b1,
			       sizeof(b1)));
		printf("    pgs:     %" PRIu64 " configured\n", pg_total);
		for (size_t i = 0; i < nsc; i++)
			printf("             %" PRIu64 " %s\n", sc[i].count, sc[i].name);
		print_mon_stats(stats, &pstats);
	}
	rc = VS_OK;
out:
	for (size_t i = 0; i < nsc; i++)
		free(sc[i].name);
	free(sc);
	free(pgidx);
	if (pgs)
		json_free(pgs);
	if (mon)
		json_free(mon);
	if (stats)
		json_free(stats);
	etcd_result_clear(&members);
	etcd_result_clear(&pstats);
	etcd_result_clear(&pgst);
	etcd_result_clear(&inodes);
	osds_free(&o);
	vs_pools_free(&pools);
	return rc;
}
