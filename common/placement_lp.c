/* The LP of the placement (placement.h) on lp_solve 5.5: built column by
 * column, solved as a relaxation (see placement.h for why). */
#include "placement_int.h"

#include <lpsolve/lp_lib.h>
#include <stdlib.h>
#include <string.h>

struct pl_lp {
	lprec *lp;
	int nrows, ncols;
	REAL *col;
	int *rowno;
	int cap;
};

struct pl_lp *pl_lp_new(int nrows)
{
	struct pl_lp *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->lp = make_lp(nrows, 0);
	if (!l->lp) {
		free(l);
		return NULL;
	}
	l->nrows = nrows;
	set_verbose(l->lp, NEUTRAL);
	set_maxim(l->lp);
	for (int r = 1; r <= nrows; r++)
		set_constr_type(l->lp, r, LE);
	return l;
}

void pl_lp_free(struct pl_lp *l)
{
	if (!l)
		return;
	delete_lp(l->lp);
	free(l->col);
	free(l->rowno);
	free(l);
}

void pl_lp_set_rh(struct pl_lp *l, int row, double rh)
{
	set_rh(l->lp, row, rh);
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

int pl_lp_add_col(struct pl_lp *l, double obj, double upbo, const int *rows, int n)
{
	if (n + 1 > l->cap) {
		int cap = (n + 1) * 2;
		REAL *c = realloc(l->col, (size_t)cap * sizeof(*c));
		int *r;

		if (!c)
			return -1;
		l->col = c;
		r = realloc(l->rowno, (size_t)cap * sizeof(*r));
		if (!r)
			return -1;
		l->rowno = r;
		l->cap = cap;
	}
	l->rowno[0] = 0;
	l->col[0] = obj;
	memcpy(l->rowno + 1, rows, (size_t)n * sizeof(int));
	qsort(l->rowno + 1, (size_t)n, sizeof(int), cmp_int);
	for (int i = 1; i <= n; i++)
		l->col[i] = 1.0;
	if (!add_columnex(l->lp, n + 1, l->col, l->rowno))
		return -1;
	l->ncols++;
	if (upbo >= 0 && !set_upbo(l->lp, l->ncols, upbo))
		return -1;
	return 0;
}

int pl_lp_ncols(const struct pl_lp *l)
{
	return l->ncols;
}

int pl_lp_solve(struct pl_lp *l, double timeout_s, double *vals)
{
	int rc;

	if (!l->ncols)
		return -1;
	set_timeout(l->lp, timeout_s > 0 ? (long)(timeout_s + 0.999) : 10);
	/* Primal simplex in both phases: the default dual phase 1 stalls for
	 * seconds on these very degenerate transport-like problems. */
	set_simplextype(l->lp, SIMPLEX_PRIMAL_PRIMAL);
	rc = solve(l->lp);
	if (rc != OPTIMAL && rc != SUBOPTIMAL)
		return rc > 0 ? rc : -1;
	if (!get_variables(l->lp, vals))
		return -1;
	return rc;
}
