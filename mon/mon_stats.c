/* Cluster statistics (spec §9): the master sums what the OSDs publish
 * into stats, pool/stats/<pool> and inode/stats/<pool>/<n>.
 *
 *   osd/stats/<n>       op_stats, subop_stats, recovery_stats -> stats
 *                       (counters summed; bps/iops/lat from the change of
 *                       each OSD's counters between its last two reports)
 *   pg/stats/<p>/<pg>   object counts -> stats.object_counts, and the used
 *                       space of pools whose OSDs publish no osd/space
 *   osd/inodestats/<n>  per-inode read/write/delete -> inode/stats (speeds
 *                       from the change between two aggregates)
 *   osd/space/<n>       per-inode bytes -> inode/stats raw_used
 *   config/pgs          which OSDs a pool uses -> pool/stats total_raw_tb
 * plus the pool's placement status (mon_place.c) in pool/stats: "status"
 * ok|warning|error and "message". Only keys whose value changed are
 * written. */
#include "mon.h"

#include "log.h"
#include "pool.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIB ((double)(1ull << 40))

/* The last two distinct reports of one OSD. */
struct osd_prev {
	uint64_t num;
	char *last, *prev;
};

struct inodes;

struct mon_stats_prev {
	struct osd_prev *v;
	size_t n;
	struct inodes *prev_in;		/* the last aggregate, for inode speeds */
	uint64_t prev_ns;
};

static void inodes_free(struct inodes *in);

void mon_stats_free(struct mon *m)
{
	if (!m->sprev)
		return;
	for (size_t i = 0; i < m->sprev->n; i++) {
		free(m->sprev->v[i].last);
		free(m->sprev->v[i].prev);
	}
	free(m->sprev->v);
	if (m->sprev->prev_in) {
		inodes_free(m->sprev->prev_in);
		free(m->sprev->prev_in);
	}
	free(m->sprev);
	m->sprev = NULL;
}

/* Remembers OSD num's report text; returns the previous distinct one. */
static const char *prev_report(struct mon *m, uint64_t num, const char *text)
{
	struct mon_stats_prev *sp = m->sprev;
	struct osd_prev *o = NULL;

	if (!sp && !(sp = m->sprev = calloc(1, sizeof(*sp))))
		return NULL;
	for (size_t i = 0; i < sp->n; i++)
		if (sp->v[i].num == num)
			o = &sp->v[i];
	if (!o) {
		struct osd_prev *nv = realloc(sp->v, (sp->n + 1) * sizeof(*nv));

		if (!nv)
			return NULL;
		sp->v = nv;
		o = &nv[sp->n++];
		memset(o, 0, sizeof(*o));
		o->num = num;
	}
	if (!o->last || strcmp(o->last, text)) {
		char *t = strdup(text);

		if (!t)
			return NULL;
		free(o->prev);
		o->prev = o->last;
		o->last = t;
	}
	return o->prev;
}

/* ---- counters: name -> {count, usec, bytes} and their speeds ---- */

struct counter {
	char name[48];
	double count, usec, bytes;
	double dcount, dusec, dbytes;	/* per second */
};

struct counters {
	struct counter *v;
	size_t n;
};

static struct counter *counter(struct counters *cs, const char *name)
{
	struct counter *nv;

	for (size_t i = 0; i < cs->n; i++)
		if (!strcmp(cs->v[i].name, name))
			return &cs->v[i];
	nv = realloc(cs->v, (cs->n + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	cs->v = nv;
	memset(&nv[cs->n], 0, sizeof(*nv));
	snprintf(nv[cs->n].name, sizeof(nv[cs->n].name), "%s", name);
	return &nv[cs->n++];
}

static double num(json_t v)
{
	double d = 0;

	json_double(v, &d);
	return d;
}

/* Adds obj = {name: {count, usec, bytes}} and, when prev (the same shape
 * dt seconds earlier) is given, the speeds. */
static void add_counters(struct counters *cs, json_t obj, json_t prev, double dt)
{
	for (size_t i = 0; json_is_obj(obj) && i < json_len(obj); i++) {
		json_t v = json_at(obj, i), p = json_get(prev, json_key_at(obj, i));
		struct counter *c = counter(cs, json_key_at(obj, i));

		if (!c)
			continue;
		c->count += num(json_get(v, "count"));
		c->usec += num(json_get(v, "usec"));
		c->bytes += num(json_get(v, "bytes"));
		if (p && dt > 0) {
			double dc = num(json_get(v, "count")) - num(json_get(p, "count"));
			double du = num(json_get(v, "usec")) - num(json_get(p, "usec"));
			double db = num(json_get(v, "bytes")) - num(json_get(p, "bytes"));

			if (dc >= 0 && du >= 0 && db >= 0) {	/* not after a restart */
				c->dcount += dc / dt;
				c->dusec += du / dt;
				c->dbytes += db / dt;
			}
		}
	}
}

/* "name":{count,usec,bytes[,bps,iops,lat]},... (members only). */
static void out_members(struct strbuf *sb, const struct counters *cs, bool speeds, bool comma)
{
	for (size_t i = 0; i < cs->n; i++) {
		const struct counter *c = &cs->v[i];

		sb_puts(sb, i || comma ? "," : "");
		sb_json_str(sb, c->name);
		sb_printf(sb, ":{\"count\":%.0f,\"usec\":%.0f,\"bytes\":%.0f", c->count, c->usec,
			  c->bytes);
		if (speeds)
			sb_printf(sb, ",\"bps\":%.0f,\"iops\":%.0f,\"lat\":%.0f", c->dbytes, c->dcount,
				  c->dcount > 0 ? c->dusec / c->dcount : 0);
		sb_puts(sb, "}");
	}
}

static void out_counters(struct strbuf *sb, const struct counters *cs, bool speeds)
{
	sb_puts(sb, "{");
	out_members(sb, cs, speeds, false);
	sb_puts(sb, "}");
}

/* ---- per-inode sums ---- */

struct inode_sum {
	uint64_t pool, inode;
	double raw_used;
	struct counters ops;
};

struct inodes {
	struct inode_sum *v;
	size_t n;
};

static struct inode_sum *inode_slot(struct inodes *in, uint64_t pool, uint64_t inode)
{
	struct inode_sum *nv;

	for (size_t i = 0; i < in->n; i++)
		if (in->v[i].pool == pool && in->v[i].inode == inode)
			return &in->v[i];
	nv = realloc(in->v, (in->n + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	in->v = nv;
	memset(&nv[in->n], 0, sizeof(*nv));
	nv[in->n].pool = pool;
	nv[in->n].inode = inode;
	return &nv[in->n++];
}

static void inodes_free(struct inodes *in)
{
	for (size_t i = 0; i < in->n; i++)
		free(in->v[i].ops.v);
	free(in->v);
	in->v = NULL;
	in->n = 0;
}

/* Speeds of every inode counter from the change since the last aggregate;
 * then this aggregate becomes the last one (in is emptied). */
static void inode_speeds(struct mon *m, struct inodes *in)
{
	struct mon_stats_prev *sp = m->sprev;
	uint64_t now = ringloop_now_ns();
	double dt;

	if (!sp && !(sp = m->sprev = calloc(1, sizeof(*sp))))
		return;
	dt = sp->prev_in ? (double)(now - sp->prev_ns) / 1e9 : 0;
	for (size_t i = 0; dt > 0 && i < in->n; i++) {
		struct inode_sum *s = &in->v[i];
		const struct inode_sum *o = NULL;

		for (size_t k = 0; k < sp->prev_in->n && !o; k++)
			if (sp->prev_in->v[k].pool == s->pool && sp->prev_in->v[k].inode == s->inode)
				o = &sp->prev_in->v[k];
		for (size_t c = 0; o && c < s->ops.n; c++) {
			struct counter *x = &s->ops.v[c];

			for (size_t k = 0; k < o->ops.n; k++) {
				const struct counter *y = &o->ops.v[k];

				if (strcmp(x->name, y->name) || x->count < y->count || x->usec < y->usec ||
				    x->bytes < y->bytes)
					continue;
				x->dcount = (x->count - y->count) / dt;
				x->dusec = (x->usec - y->usec) / dt;
				x->dbytes = (x->bytes - y->bytes) / dt;
			}
		}
	}
}

static void inodes_keep(struct mon *m, struct inodes *in)
{
	struct mon_stats_prev *sp = m->sprev;

	if (!sp)
		return;
	if (!sp->prev_in && !(sp->prev_in = calloc(1, sizeof(*sp->prev_in))))
		return;
	inodes_free(sp->prev_in);
	*sp->prev_in = *in;
	in->v = NULL;
	in->n = 0;
	sp->prev_ns = ringloop_now_ns();
}

/* ---- writing ---- */

static int put_if_changed(struct mon *m, const char *key, const struct strbuf *sb)
{
	const struct kv_entry *e = kv_get(&m->kv, key);

	if (sb->oom)
		return -1;
	if (e && e->len == sb->len && !memcmp(e->value, sb->buf, sb->len))
		return 0;
	return mon_put(m, key, sb->buf, -1);
}

static void stats_done(struct mon *m, int status)
{
	if (status < 0)
		mon_schedule_stats(m);
}

static double report_time(json_t st)
{
	return num(json_get(st, "time"));
}

/* stats: OSD counters and object counts. */
static int cluster_stats(struct mon *m, struct strbuf *sb)
{
	size_t n = 0;
	struct kv_entry **st = kv_list(&m->kv, "osd/stats/", &n);
	struct counters ops = { 0 }, subops = { 0 }, rec = { 0 };
	double oc[5] = { 0 };
	static const char *const ocn[5] = { "object", "clean", "misplaced", "degraded", "incomplete" };
	static const char *const ock[5] = { "object_count", "clean_count", "misplaced_count",
					    "degraded_count", "incomplete_count" };
	size_t np = 0;
	struct kv_entry **pgs;
	uint64_t up = 0;

	if (!st)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint64_t osd = kv_key_num(st[i]->key, "osd/stats/");
		const char *prev_text = osd ? prev_report(m, osd, st[i]->value) : NULL;
		json_t prev = prev_text ? json_parse(prev_text, strlen(prev_text), NULL, 0) : NULL;
		double dt = prev ? report_time(st[i]->json) - report_time(prev) : 0;

		if (!osd || !st[i]->json)
			continue;
		up += mon_osd_up(m, osd);
		/* a down OSD's counters still count, its speed does not */
		if (!mon_osd_up(m, osd))
			dt = 0;
		add_counters(&ops, json_get(st[i]->json, "op_stats"), json_get(prev, "op_stats"), dt);
		add_counters(&subops, json_get(st[i]->json, "subop_stats"),
			     json_get(prev, "subop_stats"), dt);
		add_counters(&rec, json_get(st[i]->json, "recovery_stats"),
			     json_get(prev, "recovery_stats"), dt);
		if (prev)
			json_free(prev);
	}
	free(st);
	pgs = kv_list(&m->kv, "pg/stats/", &np);
	for (size_t i = 0; pgs && i < np; i++)
		for (int k = 0; k < 5; k++)
			oc[k] += num(json_get(pgs[i]->json, ock[k]));
	free(pgs);
	sb_puts(sb, "{\"op_stats\":");
	out_counters(sb, &ops, true);
	sb_puts(sb, ",\"subop_stats\":");
	out_counters(sb, &subops, true);
	sb_puts(sb, ",\"recovery_stats\":");
	out_counters(sb, &rec, true);
	sb_puts(sb, ",\"object_counts\":{");
	for (int k = 0; k < 5; k++)
		sb_printf(sb, "%s\"%s\":%.0f", k ? "," : "", ocn[k], oc[k]);
	sb_printf(sb, "},\"osd_up\":%" PRIu64 "}", up);
	free(ops.v);
	free(subops.v);
	free(rec.v);
	return 0;
}

/* Calls fn for every {"<pool>": {"<inode>": value}} entry of the keys
 * under prefix (osd/inodestats/, osd/space/). */
static void per_inode(struct mon *m, const char *prefix, struct inodes *in,
		      void (*fn)(struct inode_sum *s, json_t value))
{
	size_t n = 0;
	struct kv_entry **v = kv_list(&m->kv, prefix, &n);

	for (size_t i = 0; v && i < n; i++) {
		json_t j = v[i]->json;

		for (size_t p = 0; kv_key_num(v[i]->key, prefix) && json_is_obj(j) && p < json_len(j); p++) {
			uint64_t pool = kv_key_num(json_key_at(j, p), "");
			json_t pj = json_at(j, p);

			for (size_t k = 0; pool && json_is_obj(pj) && k < json_len(pj); k++) {
				uint64_t ino = kv_key_num(json_key_at(pj, k), "");
				struct inode_sum *s = ino ? inode_slot(in, pool, ino) : NULL;

				if (s)
					fn(s, json_at(pj, k));
			}
		}
	}
	free(v);
}

static void add_ops(struct inode_sum *s, json_t v)
{
	add_counters(&s->ops, v, NULL, 0);
}

static void add_space(struct inode_sum *s, json_t v)
{
	s->raw_used += num(v);
}

static const struct mon_pool_status *pool_status(const struct mon *m, uint64_t id)
{
	for (size_t i = 0; i < m->npstat; i++)
		if (m->pstat[i].id == id)
			return &m->pstat[i];
	return NULL;
}

/* pool/stats/<id> for one pool. */
static void pool_stats(struct mon *m, uint64_t id, json_t pool_obj, const struct inodes *in,
		       struct strbuf *sb)
{
	struct pool_cfg p;
	char err[256], key[96];
	json_t pp;
	double total = 0, used = 0, real = 0, pgn = 0, sum_pgs = 0, max_fill = 0;
	uint64_t osds[1024];
	size_t nosd = 0;
	bool have_space = false;
	const struct mon_pool_status *ps = pool_status(m, id);
	uint64_t block = cfg_u64(m->cfg, "block_size");

	if (pool_check(pool_obj, &p, err, sizeof(err)) < 0)
		memset(&p, 0, sizeof(p));
	snprintf(key, sizeof(key), "%" PRIu64, id);
	pp = json_get(json_get(kv_json(&m->kv, "config/pgs"), "items"), key);
	/* the pool's OSDs and their PG counts */
	for (size_t q = 0; json_is_obj(pp) && q < json_len(pp); q++) {
		json_t set = json_get(json_at(pp, q), "osd_set");
		char sk[96];
		json_t wset;
		double live = 0;

		snprintf(sk, sizeof(sk), "pg/stats/%" PRIu64 "/%s", id, json_key_at(pp, q));
		wset = json_get(kv_json(&m->kv, sk), "write_osd_set");
		for (size_t s = 0; json_is_arr(set) && s < json_len(set); s++) {
			uint64_t o = 0;
			size_t k;

			if (json_u64(json_at(set, s), &o) || !o)
				continue;
			for (k = 0; k < nosd && osds[k] != o; k++)
				;
			if (k == nosd && nosd < 1024)
				osds[nosd++] = o;
		}
		for (size_t s = 0; s < json_len(wset); s++)
			live += num(json_at(wset, s)) != 0;
		if (!wset) {
			for (size_t s = 0; json_is_arr(set) && s < json_len(set); s++)
				live += num(json_at(set, s)) != 0;
		}
		real += live;
		pgn++;
		used += num(json_get(kv_json(&m->kv, sk), "object_count")) * (double)block *
			(double)(p.pg_size ? p.pg_size : 1);
	}
	for (size_t k = 0; k < nosd; k++) {
		char sk[64];
		double size, pgs = 0;

		snprintf(sk, sizeof(sk), "osd/stats/%" PRIu64, osds[k]);
		size = num(json_get(kv_json(&m->kv, sk), "size"));
		total += size;
		for (size_t q = 0; json_is_obj(pp) && q < json_len(pp); q++) {
			json_t set = json_get(json_at(pp, q), "osd_set");

			for (size_t s = 0; json_is_arr(set) && s < json_len(set); s++)
				pgs += num(json_at(set, s)) == (double)osds[k];
		}
		sum_pgs += pgs;
		if (size > 0 && pgs / size > max_fill)
			max_fill = pgs / size;
	}
	for (size_t i = 0; i < in->n; i++) {
		if (in->v[i].pool == id && in->v[i].raw_used > 0) {
			if (!have_space)
				used = 0;
			have_space = true;
			used += in->v[i].raw_used;
		}
	}
	sb_printf(sb, "{\"used_raw_tb\":%.12g,\"total_raw_tb\":%.12g,\"pg_real_size\":%.6g,"
		  "\"raw_to_usable\":%.12g,\"space_efficiency\":%.6g", used / TIB, total / TIB,
		  pgn ? real / pgn : 0,
		  p.pg_size ? (double)(p.ec ? p.data_chunks : 1) / (double)p.pg_size : 0,
		  max_fill > 0 && total > 0 ? (sum_pgs / total) / max_fill : 0);
	sb_printf(sb, ",\"status\":\"%s\",\"message\":", !ps || ps->level <= 0 ? "ok" :
		  ps->level == 1 ? "warning" : "error");
	sb_json_str(sb, ps ? ps->msg : "");
	sb_puts(sb, "}");
}

/* Whether inode/stats/<pool>/<n> is one of the aggregate's inodes (no
 * OSD reports it any more otherwise: removed, and every OSD that counted
 * its ops restarted since). */
static bool inode_listed(const struct inodes *in, const char *key)
{
	uint64_t pool = 0, ino = 0;
	int end = 0;

	if (sscanf(key, "inode/stats/%" SCNu64 "/%" SCNu64 "%n", &pool, &ino, &end) != 2 || key[end])
		return false;
	for (size_t i = 0; i < in->n; i++)
		if (in->v[i].pool == pool && in->v[i].inode == ino)
			return true;
	return false;
}

void mon_stats(struct mon *m)
{
	struct strbuf sb;
	struct inodes in = { 0 };
	json_t pools = kv_json(&m->kv, "config/pools");
	size_t n = 0;
	struct kv_entry **old;

	if (!m->master || m->write_inflight)
		return;
	sb_init(&sb);
	if (cluster_stats(m, &sb) < 0 || put_if_changed(m, "stats", &sb) < 0)
		goto oom;
	per_inode(m, "osd/inodestats/", &in, add_ops);
	per_inode(m, "osd/space/", &in, add_space);
	inode_speeds(m, &in);
	for (size_t i = 0; i < in.n; i++) {
		char key[96];

		sb_reset(&sb);
		snprintf(key, sizeof(key), "inode/stats/%" PRIu64 "/%" PRIu64, in.v[i].pool,
			 in.v[i].inode);
		sb_printf(&sb, "{\"raw_used\":%.0f", in.v[i].raw_used);
		out_members(&sb, &in.v[i].ops, true, true);
		sb_puts(&sb, "}");
		if (put_if_changed(m, key, &sb) < 0)
			goto oom;
	}
	for (size_t i = 0; json_is_obj(pools) && i < json_len(pools); i++) {
		uint64_t id = kv_key_num(json_key_at(pools, i), "");
		char key[64];

		if (!id)
			continue;
		sb_reset(&sb);
		snprintf(key, sizeof(key), "pool/stats/%" PRIu64, id);
		pool_stats(m, id, json_at(pools, i), &in, &sb);
		if (put_if_changed(m, key, &sb) < 0)
			goto oom;
	}
	/* stats of pools and inodes that are gone */
	old = kv_list(&m->kv, "pool/stats/", &n);
	for (size_t i = 0; old && i < n; i++) {
		char id[32];

		snprintf(id, sizeof(id), "%" PRIu64, kv_key_num(old[i]->key, "pool/stats/"));
		if (!json_get(pools, id) && mon_put(m, old[i]->key, NULL, -1) < 0)
			goto oom_old;
	}
	free(old);
	old = kv_list(&m->kv, "inode/stats/", &n);
	for (size_t i = 0; old && i < n; i++)
		if (!inode_listed(&in, old[i]->key) && mon_put(m, old[i]->key, NULL, -1) < 0)
			goto oom_old;
	free(old);
	sb_free(&sb);
	inodes_keep(m, &in);
	mon_flush(m, stats_done);
	return;
oom_old:
	free(old);
oom:
	log_err("out of memory aggregating statistics");
	mon_puts_clear(m);
	sb_free(&sb);
	inodes_free(&in);
}
