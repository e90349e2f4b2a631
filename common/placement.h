/* PG placement (spec §11): the placement tree, a pool's failure domains,
 * the linear program solved with lp_solve, and the choice of primaries.
 * Pure computation: no etcd, no clock, no globals, deterministic for the
 * same input. The monitor feeds it from etcd; the unit tests and the
 * comparison tool feed it synthetic clusters.
 *
 * Pipeline for one pool:
 *   pl_tree_build()  nodes of config/node_placement + one leaf per OSD in
 *                    the tree (the caller decides which OSDs are in: up or
 *                    not out yet), weight = reweight x size in TiB
 *   pl_select()      the pool's OSDs (root_node subtree, osd_tags) grouped
 *                    into failure domains (nodes at the failure_domain level)
 *   pl_place()       pg_count sets of pg_size slots, at most one OSD per
 *                    domain, PG counts per OSD proportional to weight; with
 *                    a previous placement, the fewest moved slots
 *   pl_primaries()   a primary per PG among its up OSDs, spread evenly
 *
 * How pl_place() works. Each OSD gets an integer target: its share of the
 * pg_count x effsize slots (effsize = min(pg_size, domains)), capped so no
 * domain exceeds pg_count, rounded to integers that add up exactly
 * (rounding up preferably where the old placement already has more). Then
 * an LP with one variable per way of filling PGs, an upper bound of the
 * target per OSD and of pg_count in total:
 *   - initial: one variable per candidate combination (up to
 *     max_osd_combinations pseudo-random ones from a fixed xorshift seed,
 *     plus one starting at every OSD), maximize the number of PGs;
 *   - change: per group of old PGs with the same set, "keep" (weight W),
 *     "replace member v by OSD o" for v above its target or gone and o
 *     below its target (W-1), and fresh candidates (W-effsize); maximize,
 *     i.e. place every PG with the fewest moved slots.
 * lp_solve solves the relaxation (an integer program of this size can take
 * forever); the solution is rounded down, the PGs left over are filled
 * greedily, and a repair pass moves single slots from OSDs above their
 * target to OSDs below it (each such move is one that any placement
 * reaching the targets must make, so this keeps the movement minimal).
 * PGs of the change LP keep their numbers; fresh sets are aligned to the
 * remaining old PG numbers by the largest overlap. */
#ifndef VSTOR_PLACEMENT_H
#define VSTOR_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

/* ---- the placement tree ---- */

struct pl_node {
	char *name;		/* node name; OSDs: the decimal OSD number */
	char *level_name;	/* "host", "osd", "rack", ... */
	int level;		/* smaller = closer to the root */
	int parent;		/* index into nodes, -1 = the root */
	uint64_t osd;		/* OSD number, 0 for inner nodes */
	double weight;		/* OSDs: reweight x size in TiB */
	char **tags;		/* OSDs: tags from config/osd/<n> */
	size_t ntags;
};

struct pl_tree {
	struct pl_node *nodes;
	size_t n;
	char warn[256];		/* first problem worth a log line, "" if none */
};

/* One OSD leaf as the caller knows it (from osd/stats and config/osd). */
struct pl_osd_in {
	uint64_t num;
	uint64_t size;		/* bytes (osd/stats.size) */
	const char *host;	/* osd/stats.host (NULL: none) */
	double reweight;	/* config/osd/<n>.reweight, default 1 */
	const char *const *tags;
	size_t ntags;
};

/* Builds the tree. node_placement: the parsed config/node_placement (NULL
 * or not an object: none); levels: placement_levels (NULL: the defaults
 * host=100, osd=101; the names datacenter/dc=10, room=20, row=30, rack=40
 * are known too unless levels redefine them). A node whose parent is
 * missing or not at a smaller level hangs under the root (t->warn says so).
 * 0, or -1 on out of memory. */
int pl_tree_build(struct pl_tree *t, json_t node_placement, json_t levels,
		  const struct pl_osd_in *osds, size_t nosd);
void pl_tree_free(struct pl_tree *t);
/* Appends the tree as canonical JSON (nodes sorted by name) for hashing. */
void pl_tree_json(const struct pl_tree *t, struct strbuf *sb);
/* Index of the node named name, or -1. */
int pl_tree_find(const struct pl_tree *t, const char *name);

/* Parses config/osd/<n>: {reweight?: number >= 0, tags?: string|string[]}.
 * *tags points into v (valid while v lives), malloc'ed array of pointers.
 * 0, or -1 with a message. */
int pl_osd_config(json_t v, double *reweight, const char ***tags, size_t *ntags,
		  char *err, size_t errlen);

/* ---- one pool's OSDs and failure domains ---- */

struct pl_osd {
	uint64_t num;
	double weight;		/* > 0 */
	uint32_t domain;	/* 0 .. ndomains-1 */
};

struct pl_select {
	struct pl_osd *osds;	/* sorted by OSD number */
	size_t nosd;
	uint32_t ndomains;
	char **domain_names;	/* ndomains names (tree node names) */
};

/* What a pool asks of the tree. */
struct pl_pool_sel {
	const char *failure_domain;	/* level name, default "host" */
	const char *root_node;		/* NULL: the whole tree */
	const char *const *osd_tags;	/* OSDs must have all of these */
	size_t ntags;
};

/* 0, or -1 with a message (unknown root_node or failure_domain level, out
 * of memory). No matching OSD is not an error here (nosd = 0). */
int pl_select(const struct pl_tree *t, json_t levels, const struct pl_pool_sel *sel,
	      struct pl_select *out, char *err, size_t errlen);
void pl_select_free(struct pl_select *s);

/* ---- placement ---- */

struct pl_problem {
	const struct pl_osd *osds;
	size_t nosd;
	uint32_t ndomains;
	uint32_t pg_size;	/* slots per PG */
	uint32_t pg_count;
	bool ordered;		/* EC: a slot is a role, order matters */
	uint32_t max_combos;	/* candidates for the LP; 0 = 10000 */
	uint64_t seed;		/* mixed into the fixed xorshift seed */
	/* Baseline: pg_count x pg_size OSD numbers (0 = empty slot) that PG i
	 * had before, or NULL for an initial placement. */
	const uint64_t *old;
	double lp_timeout_s;	/* 0 = 10 s */
};

struct pl_result {
	uint32_t effsize;	/* non-empty slots per PG */
	uint64_t moved;		/* slots holding an OSD that did not have the PG */
	uint64_t lower_bound;	/* fewest moved slots any near-proportional placement needs */
	/* min over OSDs of PGs / share: the share is weight / total weight of
	 * the slots, i.e. this is (PGs / weight) / (mean PGs per weight), except
	 * where a domain is capped at pg_count (then no placement can give it
	 * its weight's share, and the share is what it can have) */
	double uniformity;
	uint64_t lp_vars;
	int lp_status;		/* lp_solve's solve() result, -1 if not run */
	uint64_t lp_placed;	/* PGs the rounded LP solution placed */
	uint64_t repairs;	/* single-slot moves of the repair pass */
	uint64_t unbalanced;	/* slots above target left after the repair */
	double ms;		/* time spent */
};

/* Fills sets (pg_count x pg_size, caller-allocated). 0, or -1 with a
 * message (no OSDs, out of memory). */
int pl_place(const struct pl_problem *pr, uint64_t *sets, struct pl_result *res,
	     char *err, size_t errlen);

/* Figures of a placement: the uniformity as in pl_result, and for a
 * baseline (old may be NULL) the moved slots. */
double pl_uniformity(const struct pl_osd *osds, size_t nosd, const uint64_t *sets,
		     uint32_t pg_count, uint32_t pg_size);
uint64_t pl_moved(const uint64_t *old, const uint64_t *sets, uint32_t pg_count,
		  uint32_t pg_size, bool ordered);
/* Whether every PG has at most one OSD per domain (OSDs not in osds count
 * as violations too); the first bad PG index in *bad_pg. */
bool pl_domains_ok(const struct pl_osd *osds, size_t nosd, const uint64_t *sets,
		   uint32_t pg_count, uint32_t pg_size, uint32_t *bad_pg);

/* ---- primaries ---- */

/* Picks a primary per PG among its OSDs listed in up[] (sorted; the OSDs
 * that are up and may be primary), 0 when none is. Keeps cur[pg] (may be
 * NULL) where it is eligible and its OSD is not above its fair share;
 * otherwise the eligible member with the lowest load relative to its fair
 * share (the number of PGs it can be primary of, each PG split evenly among
 * its eligible members). EC pools (data_chunks < pg_size) prefer data
 * roles (slots < data_chunks). */
void pl_primaries(const uint64_t *sets, uint32_t pg_count, uint32_t pg_size,
		  uint32_t data_chunks, const uint64_t *up, size_t nup,
		  const uint64_t *cur, uint64_t *out);

/* ---- pg_count change (spec §11) ---- */

/* The old PG (0-based) whose set new PG i (0-based) starts from, and the
 * old PGs whose histories it inherits: k x growth: old i mod old_count;
 * / k shrink: old i + j x new_count; otherwise all. Fills from[] (up to
 * old_count entries) and returns how many. */
uint32_t pl_pg_count_sources(uint32_t old_count, uint32_t new_count, uint32_t i,
			     uint32_t *from);

#endif
