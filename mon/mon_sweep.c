/* Keys of PGs that no longer exist: pg/history/<pool>/<pg> (written by
 * OSDs and the monitor, never expiring) and pg/stats/<pool>/<pg> (written
 * by primaries). A PG no longer exists when its pool is gone from
 * config/pools and config/pgs, or its number is beyond the pool's pg_count
 * once config/pgs has exactly pg_count PGs of it (the pg_count change is
 * over), and no OSD still runs it (no pg/state). Each delete is guarded
 * by the key's mod_revision: an OSD writing the key meanwhile fails the
 * batch and the next run looks again. Only after a run that had nothing
 * else to write (config/pgs in the mirror is the current placement). */
#include "mon.h"

#include "log.h"
#include "pool.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool pg_gone(struct mon *m, json_t pools, json_t items, uint64_t pool, unsigned pg)
{
	char id[32], key[96], err[256];
	struct pool_cfg p;
	json_t pp;

	snprintf(id, sizeof(id), "%" PRIu64, pool);
	snprintf(key, sizeof(key), "pg/state/%s/%u", id, pg);
	if (kv_get(&m->kv, key))
		return false;		/* an OSD still runs it */
	pp = json_get(items, id);
	if (!json_get(pools, id))
		return !pp;
	if (pool_check(json_get(pools, id), &p, err, sizeof(err)) < 0)
		return false;		/* invalid pools keep everything */
	return json_is_obj(pp) && json_len(pp) == p.pg_count && pg > p.pg_count;
}

/* Queues the guarded deletes; the number queued, or -1 (out of memory). */
int mon_sweep(struct mon *m)
{
	static const char *const prefixes[] = { "pg/history/", "pg/stats/" };
	struct kv_entry *pools_e = kv_get(&m->kv, "config/pools");
	json_t pools = pools_e ? pools_e->json : NULL;
	json_t items = json_get(kv_json(&m->kv, "config/pgs"), "items");
	int queued = 0;

	/* nothing is deleted on a configuration the monitor cannot read */
	if (m->global_err[0] || (pools_e && (pools_e->bad || !json_is_obj(pools))))
		return 0;
	for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
		size_t n = 0;
		struct kv_entry **v = kv_list(&m->kv, prefixes[k], &n);

		if (!v)
			return -1;
		for (size_t i = 0; i < n; i++) {
			uint64_t pool = 0;
			unsigned pg = 0;
			int end = 0;

			if (sscanf(v[i]->key + strlen(prefixes[k]), "%" SCNu64 "/%u%n", &pool, &pg,
				   &end) != 2 || v[i]->key[strlen(prefixes[k]) + (size_t)end] || !pool ||
			    !pg || !pg_gone(m, pools, items, pool, pg))
				continue;
			if (mon_put(m, v[i]->key, NULL, v[i]->mod_rev) < 0) {
				free(v);
				return -1;
			}
			log_info("%s: the PG is gone, deleting it", v[i]->key);
			queued++;
		}
		free(v);
	}
	return queued;
}
