#include "pg_check.h"
#include "osd_cluster.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

bool pg_set_of(json_t pgs, uint64_t pool, int pg, uint64_t *set, int n, uint64_t *primary)
{
	char ps[24], k[16];
	json_t p;

	snprintf(ps, sizeof(ps), "%" PRIu64, pool);
	snprintf(k, sizeof(k), "%d", pg);
	p = json_get(json_path(pgs, "items", ps, NULL), k);
	if (!p)
		return false;
	for (int s = 0; s < n; s++) {
		set[s] = 0;
		json_u64(json_at(json_get(p, "osd_set"), (size_t)s), &set[s]);
	}
	*primary = 0;
	json_u64(json_get(p, "primary"), primary);
	return true;
}

static bool state_ok(const struct pg_want *w, json_t arr)
{
	const char *s0 = json_str(json_at(arr, 0)), *s1 = json_str(json_at(arr, 1));

	if (!json_is_arr(arr) || !s0 || strcmp(s0, "active"))
		return false;
	return json_len(arr) == 1 ||
	       (w->allow_left_on_dead && json_len(arr) == 2 && s1 &&
		!strcmp(s1, "left_on_dead"));
}

/* PG pg's set in pgs is acceptable (to set[0..pg_size)); *found |= it
 * holds need_osd. */
static bool set_ok(struct pg_want *w, json_t pgs, int pg, uint64_t set[16], uint64_t *prim,
		   bool *found)
{
	int n = w->pg_size < 16 ? w->pg_size : 16;

	if (!pg_set_of(pgs, w->pool, pg, set, n, prim)) {
		snprintf(w->why, sizeof(w->why), "PG %d not in config/pgs", pg);
		return false;
	}
	for (int s = 0; s < n; s++) {
		if (!set[s] || (w->no_osd && set[s] == (uint64_t)w->no_osd)) {
			snprintf(w->why, sizeof(w->why), "PG %d: slot %d holds OSD %" PRIu64,
				 pg, s, set[s]);
			return false;
		}
		*found |= set[s] == (uint64_t)w->need_osd;
	}
	return true;
}

/* Every OSD of set[0..n) is among pg/state's peers: the state is of a
 * peering with this set, not an earlier one still shown for a moment
 * after config/pgs changed. */
static bool peers_cover(json_t peers, const uint64_t *set, int n)
{
	for (int s = 0; s < n; s++) {
		bool in = false;

		for (size_t i = 0; i < json_len(peers) && !in; i++) {
			uint64_t p = 0;

			in = json_u64(json_at(peers, i), &p) == 0 && p == set[s];
		}
		if (!in)
			return false;
	}
	return true;
}

static bool state_clean(struct etcd_client *cl, struct pg_want *w, int pg, const uint64_t *set,
			uint64_t prim)
{
	char key[64];
	uint64_t sp = 0;
	json_t st;
	bool ok;

	snprintf(key, sizeof(key), "pg/state/%" PRIu64 "/%d", w->pool, pg);
	st = oc_get_json(cl, key);
	json_u64(json_get(st, "primary"), &sp);
	ok = state_ok(w, json_get(st, "state")) && sp == prim &&
	     peers_cover(json_get(st, "peers"), set, w->pg_size < 16 ? w->pg_size : 16);
	if (!ok) {
		struct strbuf sb;

		sb_init(&sb);
		if (st)
			sb_json_val(&sb, st);
		snprintf(w->why, sizeof(w->why), "PG %d: want primary %" PRIu64 ", pg/state %s",
			 pg, prim, sb.buf ? sb.buf : "missing");
		sb_free(&sb);
	}
	if (st)
		json_free(st);
	return ok;
}

bool pgs_clean(struct etcd_client *cl, struct pg_want *w)
{
	json_t pgs = oc_get_json(cl, "config/pgs");
	bool ok = pgs != NULL, found = !w->need_osd;

	if (!pgs)
		snprintf(w->why, sizeof(w->why), "no config/pgs");
	for (int pg = 1; ok && pg <= w->pg_count; pg++) {
		uint64_t set[16], prim;

		ok = set_ok(w, pgs, pg, set, &prim, &found) && state_clean(cl, w, pg, set, prim);
	}
	if (ok && !found)
		snprintf(w->why, sizeof(w->why), "OSD %d in no PG", w->need_osd);
	if (pgs)
		json_free(pgs);
	return ok && found;
}
