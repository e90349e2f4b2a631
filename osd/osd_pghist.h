/* The document of pg/history/<pool>/<pg> (spec §8.2, §9):
 *   {"osd_sets": [[osd, ...], ...], "all_peers": [osd, ...], "epoch": n}
 * osd_sets are the OSD sets the PG was active on that may still hold data
 * the current set lacks (role order, 0 = no OSD); all_peers every OSD that
 * may hold data of the PG; epoch the highest version epoch in use. Numbers
 * may be JSON strings (the monitor writes OSD ids as strings). */
#ifndef VSTOR_OSD_PGHIST_H
#define VSTOR_OSD_PGHIST_H

#include "json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds of what is accepted: spec pg_size <= 256; a history longer than
 * this is not a real one. */
#define PGH_MAX_SET	256
#define PGH_MAX_SETS	1024
#define PGH_MAX_PEERS	4096

struct pg_hset {
	uint32_t n;
	uint64_t *osd;
};

struct pg_hist {
	struct pg_hset *sets;
	uint32_t nsets;
	uint64_t *all;		/* all_peers, no zeros, no duplicates */
	uint32_t nall;
	uint64_t epoch;
};

void pg_hist_init(struct pg_hist *h);
void pg_hist_free(struct pg_hist *h);
/* Parses a pg/history value (NULL = the key is absent: empty history).
 * 0, or -1 with a message in err and h untouched. Missing members are
 * empty/0; duplicates in all_peers and duplicate sets are dropped. */
int pg_hist_parse(struct pg_hist *h, const char *text, size_t len, char *err, size_t errlen);
/* Appends the JSON document (0 or -ENOMEM). */
int pg_hist_format(const struct pg_hist *h, struct strbuf *sb);
bool pg_hist_equal(const struct pg_hist *a, const struct pg_hist *b);
/* dst = a copy of src (dst must be initialized; its old content is freed).
 * 0 or -ENOMEM (dst then empty). */
int pg_hist_copy(struct pg_hist *dst, const struct pg_hist *src);
/* Appends set[0..n) to osd_sets unless an equal set is there already, or
 * it has no OSD at all. 0 or -ENOMEM. */
int pg_hist_add_set(struct pg_hist *h, const uint64_t *set, uint32_t n);
/* Adds osd (non-zero) to all_peers unless present. 0 or -ENOMEM. */
int pg_hist_add_peer(struct pg_hist *h, uint64_t osd);
bool pg_hist_has_peer(const struct pg_hist *h, uint64_t osd);
/* Drops every set: the PG is clean on its current set. */
void pg_hist_clear_sets(struct pg_hist *h);

#endif
