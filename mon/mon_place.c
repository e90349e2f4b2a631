/* PGs and primaries (spec §9, §11): the master's reaction to any change
 * of pools, the placement tree or OSD liveness.
 *
 * Each run builds the tree from the mirror (OSDs with a size in
 * osd/stats that are up or not out yet), hashes {tree, pools}, and per
 * valid pool either keeps the sets (hash unchanged: only primaries move)
 * or places the PGs with the LP, starting from history/last_clean_pgs or
 * else the current config/pgs. A pool whose configuration cannot be placed
 * keeps its PGs as they are and gets an error status (pool/stats); the
 * other pools go on. The new config/pgs is written in one txn guarded by
 * mon/master's lease and config/pgs's mod_revision; before it (other txns
 * when there are many) every PG whose osd_set changes gets its old set
 * appended to pg/history.osd_sets, guarded by that key's mod_revision, so
 * peering finds the old copies.
 *
 * pg_count change: all PGs of the pool are paused first; once no pg/state
 * of the pool is left, the new PGs get the merged histories of the old
 * PGs they take objects from (placement.h pl_pg_count_sources), old PGs
 * beyond the new count lose theirs, and the pool is placed anew from the
 * old sets. */
#include "mon.h"

#include "cmp.h"
#include "log.h"
#include "placement.h"
#include "pool.h"
#include "sha1.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* A pool's PGs as config/pgs has them (n = 0: none or not 1..N). */
struct pg_cur {
	uint32_t n, size;
	uint64_t *sets, *prim;
	bool *pause;
	bool all_paused, any_paused;
};

static void cur_free(struct pg_cur *c)
{
	free(c->sets);
	free(c->prim);
	free(c->pause);
	memset(c, 0, sizeof(*c));
}

static int cur_parse(json_t pp, uint32_t size, struct pg_cur *c)
{
	size_t n = json_is_obj(pp) ? json_len(pp) : 0;

	memset(c, 0, sizeof(*c));
	c->size = size;
	if (!n)
		return 0;
	c->sets = calloc(n * size, sizeof(uint64_t));
	c->prim = calloc(n, sizeof(uint64_t));
	c->pause = calloc(n, sizeof(bool));
	if (!c->sets || !c->prim || !c->pause) {
		cur_free(c);
		return -1;
	}
	c->all_paused = true;
	for (size_t i = 0; i < n; i++) {
		uint64_t pg = kv_key_num(json_key_at(pp, i), "");
		json_t v = json_at(pp, i), set = json_get(v, "osd_set");
		bool pause = false;

		if (!pg || pg > n || !json_is_arr(set)) {
			cur_free(c);
			c->size = size;
			return 0;	/* not 1..N: as if there were none */
		}
		for (size_t s = 0; s < size && s < json_len(set); s++)
			json_u64(json_at(set, s), &c->sets[(pg - 1) * size + s]);
		json_u64(json_get(v, "primary"), &c->prim[pg - 1]);
		json_bool(json_get(v, "pause"), &pause);
		c->pause[pg - 1] = pause;
		c->all_paused &= pause;
		c->any_paused |= pause;
	}
	c->n = (uint32_t)n;
	return 0;
}

/* ---- pool status ---- */

void mon_set_pool_status(struct mon *m, uint64_t pool, int level, const char *fmt, ...)
{
	struct mon_pool_status *s = NULL;
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < m->npstat; i++)
		if (m->pstat[i].id == pool)
			s = &m->pstat[i];
	if (!s) {
		struct mon_pool_status *n = realloc(m->pstat, (m->npstat + 1) * sizeof(*n));

		if (!n)
			return;
		m->pstat = n;
		s = &n[m->npstat++];
		s->id = pool;
		s->level = -1;
		s->msg[0] = 0;
	}
	if (s->level != level || strcmp(s->msg, msg)) {
		if (level == 2)
			log_err("pool %" PRIu64 ": %s", pool, msg);
		else if (level == 1)
			log_warn("pool %" PRIu64 ": %s", pool, msg);
		else if (s->level > 0)
			log_info("pool %" PRIu64 ": %s", pool, msg);
		s->level = level;
		snprintf(s->msg, sizeof(s->msg), "%s", msg);
		mon_schedule_stats(m);
	}
}

/* ---- sets ---- */

static bool same_set(const uint64_t *a, const uint64_t *b, uint32_t size, bool ordered)
{
	if (ordered)
		return !memcmp(a, b, size * sizeof(uint64_t));
	for (uint32_t i = 0; i < size; i++) {
		uint32_t na = 0, nb = 0;

		if (!a[i])
			continue;
		for (uint32_t j = 0; j < size; j++) {
			na += a[j] == a[i];
			nb += b[j] == a[i];
		}
		if (na != nb)
			return false;
	}
	for (uint32_t i = 0; i < size; i++)
		if (b[i] && !a[i]) {
			uint32_t nz = 0;

			for (uint32_t j = 0; j < size; j++)
				nz += (a[j] != 0) - (b[j] != 0);
			if (nz)
				return false;
		}
	return true;
}

static bool empty_set(const uint64_t *a, uint32_t size)
{
	for (uint32_t i = 0; i < size; i++)
		if (a[i])
			return false;
	return true;
}

static void set_json(struct strbuf *sb, const uint64_t *set, uint32_t size)
{
	sb_puts(sb, "[");
	for (uint32_t s = 0; s < size; s++)
		sb_printf(sb, "%s%" PRIu64, s ? "," : "", set[s]);
	sb_puts(sb, "]");
}

/* Whether JSON array v (osd numbers, maybe as strings) equals set. */
static bool json_set_is(json_t v, const uint64_t *set, uint32_t size, bool ordered)
{
	uint64_t tmp[256] = { 0 };
	size_t n = json_len(v);

	if (!json_is_arr(v) || n > 256)
		return false;
	for (size_t i = 0; i < n; i++)
		if (json_u64(json_at(v, i), &tmp[i]))
			return false;
	if (n > size) {
		for (size_t i = size; i < n; i++)
			if (tmp[i])
				return false;
	}
	return same_set(tmp, set, size, ordered);
}

/* ---- pg/history ---- */

/* Queues pg/history/<pool>/<pg> with old's osd_sets + the given sets (not
 * already there), all_peers + peers, and every other field of old kept;
 * fresh: as if there were no old one. */
static int history_put(struct mon *m, uint64_t pool, uint64_t pg, const uint64_t *sets,
		       uint32_t nsets, uint32_t size, bool ordered, const uint64_t *peers,
		       size_t npeers, uint64_t epoch, bool fresh)
{
	char key[96];
	json_t old, osets, oap;
	struct strbuf sb;
	size_t n = 0;
	uint64_t ep = epoch, x;
	int rc;

	snprintf(key, sizeof(key), "pg/history/%" PRIu64 "/%" PRIu64, pool, pg);
	old = fresh ? NULL : kv_json(&m->kv, key);
	osets = json_get(old, "osd_sets");
	oap = json_get(old, "all_peers");
	sb_init(&sb);
	sb_puts(&sb, "{");
	for (size_t i = 0; json_is_obj(old) && i < json_len(old); i++) {
		const char *k = json_key_at(old, i);

		if (!strcmp(k, "osd_sets") || !strcmp(k, "all_peers") || !strcmp(k, "epoch"))
			continue;
		sb_printf(&sb, "%s", n++ ? "," : "");
		sb_json_str(&sb, k);
		sb_puts(&sb, ":");
		sb_json_val(&sb, json_at(old, i));
	}
	sb_printf(&sb, "%s\"osd_sets\":[", n ? "," : "");
	n = 0;
	for (size_t i = 0; json_is_arr(osets) && i < json_len(osets); i++) {
		sb_puts(&sb, n++ ? "," : "");
		sb_json_val(&sb, json_at(osets, i));
	}
	for (uint32_t k = 0; k < nsets; k++) {
		const uint64_t *set = sets + (size_t)k * size;
		bool dup = empty_set(set, size);

		for (size_t i = 0; !dup && json_is_arr(osets) && i < json_len(osets); i++)
			dup = json_set_is(json_at(osets, i), set, size, ordered);
		for (uint32_t j = 0; !dup && j < k; j++)
			dup = same_set(sets + (size_t)j * size, set, size, ordered);
		if (dup)
			continue;
		sb_puts(&sb, n++ ? "," : "");
		set_json(&sb, set, size);
	}
	sb_puts(&sb, "]");
	if (oap || npeers) {
		n = 0;
		sb_puts(&sb, ",\"all_peers\":[");
		for (size_t i = 0; json_is_arr(oap) && i < json_len(oap); i++) {
			sb_puts(&sb, n++ ? "," : "");
			sb_json_val(&sb, json_at(oap, i));
		}
		for (size_t j = 0; j < npeers; j++) {
			bool dup = !peers[j];

			for (size_t i = 0; !dup && json_is_arr(oap) && i < json_len(oap); i++)
				dup = !json_u64(json_at(oap, i), &x) && x == peers[j];
			for (size_t i = 0; !dup && i < j; i++)
				dup = peers[i] == peers[j];
			if (!dup)
				sb_printf(&sb, "%s%" PRIu64, n++ ? "," : "", peers[j]);
		}
		sb_puts(&sb, "]");
	}
	if (!json_u64(json_get(old, "epoch"), &x) && x > ep)
		ep = x;
	if (ep || json_get(old, "epoch"))
		sb_printf(&sb, ",\"epoch\":%" PRIu64, ep);
	sb_puts(&sb, "}");
	rc = sb.oom ? -1 : mon_put(m, key, sb.buf, mon_expect(m, key));
	sb_free(&sb);
	return rc;
}

/* ---- the placement input ---- */

struct place_ctx {
	struct pl_tree tree;
	json_t levels;
	uint64_t *up;		/* up OSDs that may be primary, sorted */
	size_t nup;
	char hash[41];
	const char *old_hash;
	json_t items, lc_items;
	struct strbuf out;	/* the new config/pgs */
	bool first_pool;
};

/* OSD leaves: every OSD with a size in osd/stats that is up or not out. */
static int build_tree(struct mon *m, struct place_ctx *pc)
{
	size_t n = 0, k = 0;
	struct kv_entry **st = kv_list(&m->kv, "osd/stats/", &n);
	struct pl_osd_in *in = calloc(n ? n : 1, sizeof(*in));
	const char ***tags = calloc(n ? n : 1, sizeof(*tags));
	int rc = -1;

	if (!st || !in || !tags)
		goto out;
	for (size_t i = 0; i < n; i++) {
		uint64_t num = kv_key_num(st[i]->key, "osd/stats/"), size;
		char key[64], err[128];
		size_t ntags = 0;

		if (!num || json_u64(json_get(st[i]->json, "size"), &size) || !size ||
		    mon_osd_out(m, num))
			continue;
		snprintf(key, sizeof(key), "config/osd/%" PRIu64, num);
		in[k].num = num;
		in[k].size = size;
		in[k].host = json_str(json_get(st[i]->json, "host"));
		if (pl_osd_config(kv_json(&m->kv, key), &in[k].reweight, &tags[k], &ntags, err,
				  sizeof(err)) < 0)
			log_warn("etcd %s: %s; using reweight 1 and no tags", key, err);
		in[k].tags = tags[k];
		in[k].ntags = ntags;
		k++;
	}
	if (pl_tree_build(&pc->tree, kv_json(&m->kv, "config/node_placement"), pc->levels, in, k) < 0)
		goto out;
	if (pc->tree.warn[0])
		log_warn("%s", pc->tree.warn);
	rc = 0;
out:
	for (size_t i = 0; tags && i < k; i++)
		free(tags[i]);
	free(tags);
	free(in);
	free(st);
	return rc;
}

static int build_up(struct mon *m, struct place_ctx *pc)
{
	size_t n = 0;
	struct kv_entry **st = kv_list(&m->kv, "osd/state/", &n);

	pc->up = calloc(n ? n : 1, sizeof(uint64_t));
	if (!st || !pc->up) {
		free(st);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t num = kv_key_num(st[i]->key, "osd/state/");
		bool prim = true;

		json_bool(json_get(st[i]->json, "primary_enabled"), &prim);
		if (num && prim && mon_osd_up(m, num))
			pc->up[pc->nup++] = num;
	}
	qsort(pc->up, pc->nup, sizeof(uint64_t), vs_cmp_u64);
	free(st);
	return 0;
}

static void hash_input(struct mon *m, struct place_ctx *pc)
{
	struct strbuf sb;

	sb_init(&sb);
	sb_puts(&sb, "{\"tree\":");
	pl_tree_json(&pc->tree, &sb);
	sb_puts(&sb, ",\"pools\":");
	if (kv_json(&m->kv, "config/pools"))
		sb_json_val(&sb, kv_json(&m->kv, "config/pools"));
	else
		sb_puts(&sb, "{}");
	sb_puts(&sb, "}");
	sha1_hex(sb.buf ? sb.buf : "", sb.len, pc->hash);
	sb_free(&sb);
}

/* ---- one pool ---- */

static void out_pool_verbatim(struct place_ctx *pc, uint64_t id, json_t pp)
{
	if (!json_is_obj(pp))
		return;
	sb_printf(&pc->out, "%s\"%" PRIu64 "\":", pc->first_pool ? "" : ",", id);
	pc->first_pool = false;
	sb_json_val(&pc->out, pp);
}

static void out_pgs(struct place_ctx *pc, uint64_t id, const uint64_t *sets,
		    const uint64_t *prim, uint32_t n, uint32_t size, bool pause)
{
	sb_printf(&pc->out, "%s\"%" PRIu64 "\":{", pc->first_pool ? "" : ",", id);
	pc->first_pool = false;
	for (uint32_t q = 0; q < n; q++) {
		sb_printf(&pc->out, "%s\"%u\":{\"osd_set\":", q ? "," : "", q + 1);
		set_json(&pc->out, sets + (size_t)q * size, size);
		sb_printf(&pc->out, ",\"primary\":%" PRIu64 "%s}", prim[q],
			  pause ? ",\"pause\":true" : "");
	}
	sb_puts(&pc->out, "}");
}

static uint32_t pool_pg_states(struct mon *m, uint64_t pool)
{
	char prefix[64];
	size_t n = 0;
	struct kv_entry **v;

	snprintf(prefix, sizeof(prefix), "pg/state/%" PRIu64 "/", pool);
	v = kv_list(&m->kv, prefix, &n);
	free(v);
	return (uint32_t)n;
}

/* pg_count change, last step: merged histories of the source PGs for the
 * new PGs, old histories (and stats) beyond the new count removed; the
 * baseline of new PG i is the set of its first source. */
static int merge_histories(struct mon *m, const struct pool_cfg *p, const struct pg_cur *cur,
			   uint64_t *baseline)
{
	uint32_t size = (uint32_t)p->pg_size, *from = malloc(cur->n * sizeof(uint32_t));
	uint64_t *sets = malloc((size_t)cur->n * size * sizeof(uint64_t) * 2 + 1);
	uint64_t *peers = malloc((size_t)cur->n * size * sizeof(uint64_t) + 1);
	int rc = -1;

	if (!from || !sets || !peers)
		goto out;
	for (uint32_t i = 0; i < p->pg_count; i++) {
		uint32_t nf = pl_pg_count_sources(cur->n, (uint32_t)p->pg_count, i, from);
		uint32_t ns = 0;
		size_t np = 0;
		uint64_t epoch = 0, e;

		memcpy(baseline + (size_t)i * size, cur->sets + (size_t)from[0] * size,
		       size * sizeof(uint64_t));
		for (uint32_t j = 0; j < nf; j++) {
			char key[96];
			json_t h, hs, ap;

			memcpy(sets + (size_t)ns++ * size, cur->sets + (size_t)from[j] * size,
			       size * sizeof(uint64_t));
			for (uint32_t s = 0; s < size; s++)
				peers[np++] = cur->sets[(size_t)from[j] * size + s];
			snprintf(key, sizeof(key), "pg/history/%" PRIu64 "/%u", p->id, from[j] + 1);
			h = kv_json(&m->kv, key);
			hs = json_get(h, "osd_sets");
			ap = json_get(h, "all_peers");
			for (size_t k = 0; json_is_arr(hs) && k < json_len(hs) && ns < cur->n * 2; k++) {
				uint64_t *dst = sets + (size_t)ns * size;

				memset(dst, 0, size * sizeof(uint64_t));
				for (size_t s = 0; s < size && s < json_len(json_at(hs, k)); s++)
					json_u64(json_at(json_at(hs, k), s), &dst[s]);
				ns++;
			}
			for (size_t k = 0; json_is_arr(ap) && k < json_len(ap) && np < (size_t)cur->n * size; k++)
				if (!json_u64(json_at(ap, k), &peers[np]))
					np++;
			if (!json_u64(json_get(h, "epoch"), &e) && e > epoch)
				epoch = e;
		}
		/* fresh: the old history of PG i+1 is among the sources if it matters */
		if (history_put(m, p->id, i + 1, sets, ns, size, p->ec, peers, np, epoch, true) < 0)
			goto out;
	}
	for (uint32_t j = (uint32_t)p->pg_count; j < cur->n; j++) {
		char key[96];

		snprintf(key, sizeof(key), "pg/history/%" PRIu64 "/%u", p->id, j + 1);
		if (kv_get(&m->kv, key) && mon_put(m, key, NULL, -1) < 0)
			goto out;
		snprintf(key, sizeof(key), "pg/stats/%" PRIu64 "/%u", p->id, j + 1);
		if (kv_get(&m->kv, key) && mon_put(m, key, NULL, -1) < 0)
			goto out;
	}
	rc = 0;
out:
	free(from);
	free(sets);
	free(peers);
	return rc;
}

/* Parses the pool's PGs of another config/pgs-shaped object (last clean)
 * as a baseline; NULL unless it has exactly pg_count PGs. */
static uint64_t *baseline_of(json_t items, const struct pool_cfg *p)
{
	char id[32];
	struct pg_cur c;
	uint64_t *sets;

	snprintf(id, sizeof(id), "%" PRIu64, p->id);
	if (cur_parse(json_get(items, id), (uint32_t)p->pg_size, &c) < 0 || c.n != p->pg_count) {
		cur_free(&c);
		return NULL;
	}
	sets = c.sets;
	c.sets = NULL;
	cur_free(&c);
	return sets;
}

static int place_pool(struct mon *m, struct place_ctx *pc, const struct pool_cfg *p)
{
	char id[32], err[256];
	json_t old_pp;
	struct pg_cur cur;
	struct pl_select sel;
	struct pl_pool_sel ps = { .failure_domain = p->failure_domain, .root_node = p->root_node };
	const char **tags = NULL;
	size_t ntags = 0;
	uint64_t *sets = NULL, *prim = NULL, *base = NULL;
	uint32_t size = (uint32_t)p->pg_size, count = (uint32_t)p->pg_count;
	bool keep_sets = false, merged = false;
	int rc = -1;

	memset(&sel, 0, sizeof(sel));
	snprintf(id, sizeof(id), "%" PRIu64, p->id);
	old_pp = json_get(pc->items, id);
	if (cur_parse(old_pp, size, &cur) < 0)
		return -1;
	if (json_is_str(p->osd_tags)) {
		tags = malloc(sizeof(char *));
		if (tags)
			tags[ntags++] = json_str(p->osd_tags);
	} else if (json_is_arr(p->osd_tags)) {
		tags = calloc(json_len(p->osd_tags) + 1, sizeof(char *));
		for (size_t i = 0; tags && i < json_len(p->osd_tags); i++)
			tags[ntags++] = json_str(json_at(p->osd_tags, i));
	}
	ps.osd_tags = tags;
	ps.ntags = ntags;
	if (pl_select(&pc->tree, pc->levels, &ps, &sel, err, sizeof(err)) < 0) {
		mon_set_pool_status(m, p->id, 2, "%s; its PGs are left as they are", err);
		goto keep;
	}
	if (!sel.nosd) {
		mon_set_pool_status(m, p->id, 2, "no OSD to place PGs on: none is up with a size in "
				    "osd/stats%s%s; its PGs are left as they are",
				    p->root_node || ntags ? " under root_node or with all osd_tags" : "",
				    "");
		goto keep;
	}
	if (sel.ndomains < p->pg_minsize) {
		mon_set_pool_status(m, p->id, 2, "pg_minsize %" PRIu64 " needs %" PRIu64 " failure "
				    "domains (%s) but only %u have OSDs; add OSDs in other %ss or use "
				    "a lower failure_domain; its PGs are left as they are",
				    p->pg_minsize, p->pg_minsize, p->failure_domain, sel.ndomains,
				    p->failure_domain);
		goto keep;
	}
	sets = calloc((size_t)count * size, sizeof(uint64_t));
	prim = calloc(count, sizeof(uint64_t));
	if (!sets || !prim)
		goto out;
	if (cur.n && cur.n != count) {
		/* pg_count change (spec §11) */
		if (!cur.all_paused) {
			mon_set_pool_status(m, p->id, 1, "changing pg_count from %u to %u: pausing "
					    "the PGs", cur.n, count);
			out_pgs(pc, p->id, cur.sets, cur.prim, cur.n, size, true);
			rc = 0;
			goto out;
		}
		if (pool_pg_states(m, p->id)) {
			mon_set_pool_status(m, p->id, 1, "changing pg_count from %u to %u: waiting "
					    "for %u PGs to stop", cur.n, count, pool_pg_states(m, p->id));
			goto keep;
		}
		base = calloc((size_t)count * size, sizeof(uint64_t));
		if (!base || merge_histories(m, p, &cur, base) < 0)
			goto out;
		merged = true;
		log_info("pool %" PRIu64 ": pg_count %u -> %u: histories merged, placing", p->id,
			 cur.n, count);
	} else if (!strcmp(pc->hash, pc->old_hash) && cur.n == count && !cur.any_paused) {
		keep_sets = true;
	} else {
		base = baseline_of(pc->lc_items, p);
		if (!base && cur.n == count) {
			base = cur.sets;
			cur.sets = NULL;
		}
	}
	if (keep_sets) {
		memcpy(sets, cur.sets, (size_t)count * size * sizeof(uint64_t));
	} else {
		struct pl_problem pr = {
			.osds = sel.osds, .nosd = sel.nosd, .ndomains = sel.ndomains,
			.pg_size = size, .pg_count = count, .ordered = p->ec,
			.max_combos = (uint32_t)p->max_osd_combinations, .seed = p->id,
			.old = base, .lp_timeout_s = 3,
		};
		struct pl_result res;

		if (pl_place(&pr, sets, &res, err, sizeof(err)) < 0) {
			mon_set_pool_status(m, p->id, 2, "placement failed: %s", err);
			goto keep;
		}
		log_info("pool %" PRIu64 ": placed %u PGs on %zu OSDs in %u domains: uniformity "
			 "%.1f%%, %" PRIu64 " slots moved (at least %" PRIu64 " needed), LP %" PRIu64
			 " vars, %.0f ms", p->id, count, sel.nosd, sel.ndomains, res.uniformity * 100,
			 res.moved, res.lower_bound, res.lp_vars, res.ms);
	}
	if (sel.ndomains < p->pg_size)
		mon_set_pool_status(m, p->id, 1, "pg_size %" PRIu64 " but only %u failure domains "
				    "(%s) have OSDs: PGs get %u OSDs and stay degraded", p->pg_size,
				    sel.ndomains, p->failure_domain, sel.ndomains);
	else
		mon_set_pool_status(m, p->id, 0, "ok");
	pl_primaries(sets, count, size, p->ec ? (uint32_t)p->data_chunks : size, pc->up, pc->nup,
		     cur.n == count ? cur.prim : NULL, prim);
	/* pg/history: the old set of every PG whose set changes */
	for (uint32_t q = 0; !merged && q < count && q < cur.n; q++) {
		const uint64_t *o = cur.sets ? cur.sets + (size_t)q * size : base + (size_t)q * size;

		if (!empty_set(o, size) && !same_set(o, sets + (size_t)q * size, size, p->ec) &&
		    history_put(m, p->id, q + 1, o, 1, size, p->ec, NULL, 0, 0, false) < 0)
			goto out;
	}
	out_pgs(pc, p->id, sets, prim, count, size, false);
	rc = 0;
	goto out;
keep:
	out_pool_verbatim(pc, p->id, old_pp);
	rc = 0;
out:
	free(sets);
	free(prim);
	free(base);
	free(tags);
	pl_select_free(&sel);
	cur_free(&cur);
	return rc;
}

/* ---- the run ---- */

static void place_done(struct mon *m, int status)
{
	if (status == 1) {
		log_info("config/pgs updated");
		return;
	}
	if (status == 0)
		log_info("config/pgs or pg/history changed meanwhile; recomputing");
	mon_schedule_place(m);
}

static void sweep_done(struct mon *m, int status)
{
	if (status == 0)
		log_info("a PG's key changed while deleting it; looking again");
	mon_schedule_place(m);	/* then history/last_clean_pgs */
}

void mon_place(struct mon *m)
{
	struct place_ctx pc;
	struct kv_entry *pools_e = kv_get(&m->kv, "config/pools");
	struct kv_entry *pgs_e = kv_get(&m->kv, "config/pgs");
	json_t pools = kv_json(&m->kv, "config/pools"), pgs = kv_json(&m->kv, "config/pgs");
	size_t nitems;

	if (!m->master || m->write_inflight)
		return;
	memset(&pc, 0, sizeof(pc));
	pc.levels = cfg_json(m->cfg, "placement_levels");
	pc.items = json_get(pgs, "items");
	pc.lc_items = json_get(kv_json(&m->kv, "history/last_clean_pgs"), "items");
	pc.old_hash = json_str(json_get(pgs, "hash"));
	if (!pc.old_hash)
		pc.old_hash = "";
	m->global_err[0] = 0;
	if (pools_e && pools_e->bad)
		snprintf(m->global_err, sizeof(m->global_err), "config/pools is not valid JSON (%s); "
			 "using its last valid version", pools_e->err);
	if (pools && !json_is_obj(pools)) {
		snprintf(m->global_err, sizeof(m->global_err), "config/pools is not a JSON object; "
			 "nothing is placed");
		pools = NULL;
	}
	if (m->global_err[0])
		log_err("%s", m->global_err);
	if (build_tree(m, &pc) < 0 || build_up(m, &pc) < 0)
		goto oom;
	hash_input(m, &pc);
	sb_init(&pc.out);
	sb_printf(&pc.out, "{\"hash\":\"%s\",\"items\":{", pc.hash);
	pc.first_pool = true;
	for (size_t i = 0; i < json_len(pools); i++) {
		uint64_t id = kv_key_num(json_key_at(pools, i), "");
		struct pool_cfg p;
		char err[256];

		if (!id || id > 65535) {
			log_warn("config/pools: \"%s\" is not a pool id (1..65535); ignoring it",
				 json_key_at(pools, i));
			continue;
		}
		if (pool_check(json_at(pools, i), &p, err, sizeof(err)) < 0) {
			char key[32];

			snprintf(key, sizeof(key), "%" PRIu64, id);
			mon_set_pool_status(m, id, 2, "invalid pool configuration: %s; its PGs are left "
					    "as they are", err);
			out_pool_verbatim(&pc, id, json_get(pc.items, key));
			continue;
		}
		p.id = id;
		if (place_pool(m, &pc, &p) < 0)
			goto oom;
	}
	nitems = json_len(pc.items);
	for (size_t i = 0; json_is_obj(pc.items) && i < nitems; i++)
		if (!json_get(pools, json_key_at(pc.items, i)))
			log_info("pool %s is gone: dropping its PGs", json_key_at(pc.items, i));
	sb_puts(&pc.out, "}}");
	if (pc.out.oom)
		goto oom;
	if (!pgs_e || pgs_e->bad || pgs_e->len != pc.out.len || memcmp(pgs_e->value, pc.out.buf, pc.out.len)) {
		if (mon_put(m, "config/pgs", pc.out.buf, mon_expect(m, "config/pgs")) < 0)
			goto oom;
	}
	if (m->nputs) {
		mon_flush(m, place_done);
	} else if (mon_sweep(m) > 0) {
		mon_flush(m, sweep_done);
	} else {
		mon_puts_clear(m);	/* out of memory in the sweep: nothing */
		mon_check_clean(m);
	}
	goto out;
oom:
	log_err("out of memory while placing PGs; trying again later");
	mon_puts_clear(m);
	mon_schedule_place(m);
out:
	sb_free(&pc.out);
	free(pc.up);
	pl_tree_free(&pc.tree);
}

/* ---- history/last_clean_pgs ---- */

static bool pg_clean(struct mon *m, const char *pool, const char *pg, json_t cfg)
{
	char key[96];
	json_t st, arr;
	uint64_t a = 0, b = 0;
	bool pause = false;

	snprintf(key, sizeof(key), "pg/state/%s/%s", pool, pg);
	st = kv_json(&m->kv, key);
	arr = json_get(st, "state");
	json_bool(json_get(cfg, "pause"), &pause);
	if (pause || !json_is_arr(arr) || json_len(arr) != 1 ||
	    strcmp(json_str(json_at(arr, 0)) ? json_str(json_at(arr, 0)) : "", "active"))
		return false;
	return !json_u64(json_get(st, "primary"), &a) && !json_u64(json_get(cfg, "primary"), &b) &&
	       a == b;
}

static void clean_done(struct mon *m, int status)
{
	if (status == 1)
		log_info("every PG is active and clean: history/last_clean_pgs updated");
	else if (status < 0)
		mon_schedule_place(m);
}

void mon_check_clean(struct mon *m)
{
	struct kv_entry *pgs = kv_get(&m->kv, "config/pgs"), *lc;
	json_t items = json_get(pgs ? pgs->json : NULL, "items");

	if (!m->master || m->write_inflight || !pgs || pgs->bad || !json_is_obj(items))
		return;
	for (size_t i = 0; i < json_len(items); i++) {
		json_t pp = json_at(items, i);

		for (size_t k = 0; json_is_obj(pp) && k < json_len(pp); k++)
			if (!pg_clean(m, json_key_at(items, i), json_key_at(pp, k), json_at(pp, k)))
				return;
	}
	lc = kv_get(&m->kv, "history/last_clean_pgs");
	if (lc && lc->len == pgs->len && !memcmp(lc->value, pgs->value, pgs->len))
		return;
	if (mon_check(m, "config/pgs", pgs->mod_rev) < 0 ||
	    mon_put(m, "history/last_clean_pgs", pgs->value, mon_expect(m, "history/last_clean_pgs")) < 0) {
		mon_puts_clear(m);
		return;
	}
	mon_flush(m, clean_done);
}
