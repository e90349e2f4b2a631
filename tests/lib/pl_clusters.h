/* Synthetic clusters for the placement tests and the comparison tool
 * (tests/bench/placement_compare): OSDs with sizes and hosts, racks in
 * config/node_placement, run through the real tree and selection code. */
#ifndef VSTOR_TEST_PL_CLUSTERS_H
#define VSTOR_TEST_PL_CLUSTERS_H

#include "placement.h"

#define PLC_MAX_OSD 128

struct plc_cluster {
	const char *name;		/* for tables */
	const char *failure_domain;
	uint32_t pg_size, pg_count;
	struct pl_osd_in osds[PLC_MAX_OSD];
	char hosts[PLC_MAX_OSD][16];
	size_t n;
	json_t np;			/* config/node_placement */
	struct pl_tree tree;
	struct pl_select sel;
	/* the OSD the "add" step adds and the one the "remove" step removes */
	uint64_t add_num, add_size;
	const char *add_host;
	uint64_t remove_num;
};

#define PLC_COUNT 3
/* 0: 12 OSDs on 4 hosts of mixed sizes, pg_size 3, failure domain host;
 * 1: 60 OSDs on 10 hosts in 2 racks, pg_size 3, host;
 * 2: the same 60 OSDs, pg_size 2, failure domain rack.
 * Builds tree and selection; 0 or -1. */
int plc_build(struct plc_cluster *c, int which);
/* Adds an OSD (size in bytes) / removes one, and rebuilds tree and
 * selection; 0 or -1. */
int plc_add(struct plc_cluster *c, uint64_t num, uint64_t size, const char *host);
int plc_remove(struct plc_cluster *c, uint64_t num);
void plc_free(struct plc_cluster *c);
/* A problem for the cluster's current selection (old may be NULL). */
struct pl_problem plc_problem(const struct plc_cluster *c, const uint64_t *old);

#endif
