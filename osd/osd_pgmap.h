/* The OSD's view of config/pools and config/pgs (spec §9): parsed into
 * plain structs, validated, and replaced as a whole per key. A document
 * that is not valid JSON or not shaped like the key's document leaves the
 * previous configuration in place; inside a valid document, invalid pools
 * (or PG entries) are skipped with a warning and the rest is used. */
#ifndef VSTOR_OSD_PGMAP_H
#define VSTOR_OSD_PGMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum osd_pool_scheme { OSD_SCHEME_REPLICATED, OSD_SCHEME_XOR, OSD_SCHEME_JERASURE };

struct osd_pool {
	uint64_t id;
	char *name;
	enum osd_pool_scheme scheme;
	uint32_t pg_size, pg_minsize, parity_chunks, pg_count;
	uint64_t pg_stripe_size;	/* 0: not given */
	char *immediate_commit;		/* NULL: not given */
};

struct osd_pg {
	uint32_t num;			/* 1-based */
	uint64_t *osd_set;		/* role order; 0 = no OSD */
	uint32_t set_size;
	uint64_t primary;		/* 0 = none */
	bool pause;
};

struct osd_pool_pgs {
	uint64_t pool_id;
	struct osd_pg *pgs;		/* sorted by num */
	size_t n;
};

struct osd_pgmap {
	struct osd_pool *pools;		/* sorted by id */
	size_t npools;
	struct osd_pool_pgs *pgs;	/* sorted by pool_id */
	size_t npgs;
	char *pgs_hash;
};

void osd_pgmap_free(struct osd_pgmap *m);
/* Parse text as config/pools; on success replace m's pools and return the
 * number of pools used (warnings about skipped pools are logged). On a bad
 * document return -1 with a message in err and leave m untouched. NULL
 * text (key deleted) clears the pools. */
int osd_pgmap_set_pools(struct osd_pgmap *m, const char *text, size_t len,
			char *err, size_t errlen);
/* The same for config/pgs. */
int osd_pgmap_set_pgs(struct osd_pgmap *m, const char *text, size_t len,
		      char *err, size_t errlen);
const struct osd_pool *osd_pgmap_pool(const struct osd_pgmap *m, uint64_t id);
/* A PG is paused by its pause flag, a missing pool, or an osd_set whose
 * length is not the pool's pg_size. */
bool osd_pg_paused(const struct osd_pgmap *m, uint64_t pool_id, const struct osd_pg *pg);
/* One-line summaries for the log (caller frees). */
char *osd_pgmap_pools_summary(const struct osd_pgmap *m);
char *osd_pgmap_pgs_summary(const struct osd_pgmap *m, uint64_t osd_num);

#endif
