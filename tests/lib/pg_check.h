/* What the monitor tests wait for: every PG of a pool placed in
 * config/pgs and active in pg/state under its configured primary. */
#ifndef VSTOR_TEST_PG_CHECK_H
#define VSTOR_TEST_PG_CHECK_H

#include "etcd.h"
#include "json.h"

#include <stdbool.h>
#include <stdint.h>

struct pg_want {
	uint64_t pool;
	int pg_count, pg_size;
	int no_osd;			/* in no set (0: none) */
	int need_osd;			/* in some set (0: none) */
	bool allow_left_on_dead;	/* recovered, dead OSDs still in histories */
	char why[256];			/* when not clean: the first PG that is not */
};

/* osd_set (n slots, role order) and primary of PG pg (1-based) of pool in
 * a parsed config/pgs; false when the PG is not there. */
bool pg_set_of(json_t pgs, uint64_t pool, int pg, uint64_t *set, int n, uint64_t *primary);

/* Every PG placed on pg_size OSDs (none of them no_osd, need_osd in one of
 * the sets) and "active" alone (or with left_on_dead when allowed) under
 * its configured primary, with every OSD of its set among the peers of
 * pg/state (a state of the peering with that set). */
bool pgs_clean(struct etcd_client *cl, struct pg_want *w);

#endif
