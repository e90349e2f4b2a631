/* Internal pieces of the placement library (placement.h): a thin wrapper
 * around lp_solve, so its header and macros stay in one file, and the
 * pseudo-random generator. */
#ifndef VSTOR_PLACEMENT_INT_H
#define VSTOR_PLACEMENT_INT_H

#include <stddef.h>
#include <stdint.h>

/* xorshift64*: the fixed-seed generator of spec §11. */
static inline uint64_t pl_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 2685821657736338717ull;
}

/* Uniform double in [0, 1). */
static inline double pl_rand01(uint64_t *s)
{
	return (double)(pl_rand(s) >> 11) * (1.0 / 9007199254740992.0);
}

struct pl_osd;
/* Real shares of the pg_count x eff slots per OSD (cap[n]), proportional to
 * weight with every domain capped at pg_count (the excess spread over the
 * other domains). Returns eff = min(pg_size, domains with weight). */
uint32_t pl_shares(const struct pl_osd *osds, size_t n, uint32_t nd, uint32_t pg_size,
		   uint32_t pg_count, double *cap);

/* A maximization LP: rows are "sum of the columns that name it <= rh",
 * every coefficient 1, columns >= 0 with an optional upper bound. */
struct pl_lp;

/* nrows rows, numbered 1..nrows; NULL on out of memory. */
struct pl_lp *pl_lp_new(int nrows);
void pl_lp_free(struct pl_lp *lp);
void pl_lp_set_rh(struct pl_lp *lp, int row, double rh);
/* Adds a column: objective coefficient obj, upper bound upbo (< 0: none),
 * coefficient 1 in rows[0..n) (distinct, any order). 0 or -1. */
int pl_lp_add_col(struct pl_lp *lp, double obj, double upbo, const int *rows, int n);
int pl_lp_ncols(const struct pl_lp *lp);
/* Solves the relaxation; vals gets ncols values. Returns lp_solve's status
 * (0 optimal, 1 suboptimal: both usable) or -1 when it could not run. */
int pl_lp_solve(struct pl_lp *lp, double timeout_s, double *vals);

#endif
