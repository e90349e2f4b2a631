/* pl_place(): targets, the initial and the change LP, rounding, the repair
 * pass (see placement.h). Internally OSDs are indexes into pr->osds and an
 * empty slot is EMPTY. */
#include "placement.h"
#include "placement_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EMPTY (-1)
#define MAX_LP_COLS 300000
/* Groups of old PGs in the change LP besides those with empty slots: the
 * LP gets slow (seconds) with thousands of rows; the repair pass handles
 * what the chosen groups cannot. */
#define MAX_ACTIVE_GROUPS 400

struct ctx {
	const struct pl_problem *pr;
	uint32_t n, nd, eff, size, count;
	double *cap;		/* real share of slots per OSD */
	double *dcap;		/* the same per domain */
	int64_t *t;		/* integer target per OSD */
	int64_t *load;		/* current slots per OSD */
	int64_t *old_load;	/* slots per OSD in the baseline */
	int32_t *cur;		/* count x size */
	int32_t *old;		/* count x size, NULL without a baseline */
	bool *done;
	uint32_t *by_num;	/* OSD indexes sorted by number */
	uint32_t *dom_first, *dom_list;	/* OSDs of domain k: dom_list[dom_first[k]..[k+1]) */
	uint64_t rng;
	uint64_t lost;		/* baseline slots whose OSD is gone or conflicts */
	/* candidate combinations: ncand x eff, sorted members */
	int32_t *cand;
	size_t ncand;
};

static int cmp_by_num(const void *a, const void *b, void *arg)
{
	const struct pl_osd *osds = arg;
	uint64_t x = osds[*(const uint32_t *)a].num;
	uint64_t y = osds[*(const uint32_t *)b].num;

	return (x > y) - (x < y);
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

static int32_t idx_of(const struct ctx *c, uint64_t num)
{
	uint32_t lo = 0, hi = c->n;

	if (!num)
		return EMPTY;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		uint64_t m = c->pr->osds[c->by_num[mid]].num;

		if (m == num)
			return (int32_t)c->by_num[mid];
		if (m < num)
			lo = mid + 1;
		else
			hi = mid;
	}
	return EMPTY;
}

static uint32_t dom(const struct ctx *c, int32_t i)
{
	return c->pr->osds[i].domain;
}

static int32_t *pg(struct ctx *c, uint32_t q)
{
	return c->cur + (size_t)q * c->size;
}

/* ---- setup and targets ---- */

static void ctx_free(struct ctx *c)
{
	free(c->cap);
	free(c->dcap);
	free(c->t);
	free(c->load);
	free(c->old_load);
	free(c->cur);
	free(c->old);
	free(c->done);
	free(c->by_num);
	free(c->dom_first);
	free(c->dom_list);
	free(c->cand);
}

static int ctx_init(struct ctx *c, const struct pl_problem *pr)
{
	size_t slots = (size_t)pr->pg_count * pr->pg_size;

	memset(c, 0, sizeof(*c));
	c->pr = pr;
	c->n = (uint32_t)pr->nosd;
	c->nd = pr->ndomains;
	c->size = pr->pg_size;
	c->count = pr->pg_count;
	c->rng = 0x9e3779b97f4a7c15ull ^ (pr->seed * 0xbf58476d1ce4e5b9ull);
	if (!c->rng)
		c->rng = 1;
	c->cap = calloc(c->n, sizeof(double));
	c->dcap = calloc(c->nd, sizeof(double));
	c->t = calloc(c->n, sizeof(int64_t));
	c->load = calloc(c->n, sizeof(int64_t));
	c->old_load = calloc(c->n, sizeof(int64_t));
	c->cur = malloc(slots * sizeof(int32_t));
	c->done = calloc(c->count, sizeof(bool));
	c->by_num = malloc(c->n * sizeof(uint32_t));
	c->dom_first = calloc(c->nd + 1, sizeof(uint32_t));
	c->dom_list = malloc(c->n * sizeof(uint32_t));
	if (pr->old)
		c->old = malloc(slots * sizeof(int32_t));
	if (!c->cap || !c->dcap || !c->t || !c->load || !c->old_load || !c->cur || !c->done ||
	    !c->by_num || !c->dom_first || !c->dom_list || (pr->old && !c->old))
		return -1;
	for (uint32_t i = 0; i < c->n; i++)
		c->by_num[i] = i;
	qsort_r(c->by_num, c->n, sizeof(uint32_t), cmp_by_num, (void *)pr->osds);
	for (uint32_t i = 0; i < c->n; i++)
		c->dom_first[dom(c, (int32_t)i) + 1]++;
	for (uint32_t k = 0; k < c->nd; k++)
		c->dom_first[k + 1] += c->dom_first[k];
	{
		uint32_t *fill = calloc(c->nd, sizeof(uint32_t));

		if (!fill)
			return -1;
		for (uint32_t i = 0; i < c->n; i++) {
			uint32_t k = dom(c, (int32_t)i);

			c->dom_list[c->dom_first[k] + fill[k]++] = i;
		}
		free(fill);
	}
	for (size_t s = 0; s < slots; s++)
		c->cur[s] = EMPTY;
	return 0;
}

/* The baseline as indexes: OSDs that are gone, repeated, or in a domain
 * already used by an earlier slot of the PG become EMPTY (and "lost"). */
static void load_old(struct ctx *c)
{
	for (uint32_t q = 0; q < c->count; q++) {
		int32_t *o = c->old + (size_t)q * c->size;
		uint32_t members = 0;

		for (uint32_t s = 0; s < c->size; s++) {
			uint64_t num = c->pr->old[(size_t)q * c->size + s];
			int32_t i = idx_of(c, num);
			bool ok = i != EMPTY && members < c->eff;

			for (uint32_t r = 0; ok && r < s; r++)
				if (o[r] != EMPTY && dom(c, o[r]) == dom(c, i))
					ok = false;
			if (num && !ok)
				c->lost++;
			o[s] = ok ? i : EMPTY;
			if (ok) {
				members++;
				c->old_load[i]++;
			}
		}
	}
}

uint32_t pl_shares(const struct pl_osd *osds, size_t n, uint32_t nd, uint32_t pg_size,
		   uint32_t pg_count, double *cap)
{
	double *dw = calloc(nd ? nd : 1, sizeof(double));
	bool *capped = calloc(nd ? nd : 1, sizeof(bool));
	uint32_t ndpos = 0, eff;
	double slots;

	memset(cap, 0, n * sizeof(double));
	if (!dw || !capped) {
		free(dw);
		free(capped);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		dw[osds[i].domain] += osds[i].weight;
	for (uint32_t k = 0; k < nd; k++)
		ndpos += dw[k] > 0;
	eff = pg_size < ndpos ? pg_size : ndpos;
	slots = (double)pg_count * eff;
	for (;;) {
		double free_w = 0, rest = slots;
		bool again = false;

		for (uint32_t k = 0; k < nd; k++) {
			if (capped[k])
				rest -= pg_count;
			else
				free_w += dw[k];
		}
		for (uint32_t k = 0; k < nd; k++) {
			if (!capped[k] && dw[k] > 0 && rest * dw[k] / free_w > pg_count + 1e-9) {
				capped[k] = true;
				again = true;
			}
		}
		if (again)
			continue;
		for (size_t i = 0; i < n; i++) {
			uint32_t k = osds[i].domain;
			double share = capped[k] ? pg_count : rest * dw[k] / free_w;

			cap[i] = dw[k] > 0 ? share * osds[i].weight / dw[k] : 0;
		}
		break;
	}
	free(dw);
	free(capped);
	return eff;
}

/* Integer targets adding up to count x eff: the shares rounded down, then
 * up where the baseline already has more (no move needed), then where
 * rounding down loses the most relative to the share. */
static int targets(struct ctx *c)
{
	int64_t *dt = calloc(c->nd ? c->nd : 1, sizeof(int64_t));
	uint32_t *order = malloc((c->n ? c->n : 1) * sizeof(uint32_t));
	int64_t rem;

	if (!dt || !order) {
		free(dt);
		free(order);
		return -1;
	}
	c->eff = pl_shares(c->pr->osds, c->n, c->nd, c->size, c->count, c->cap);
	rem = (int64_t)c->count * c->eff;
	for (uint32_t i = 0; i < c->n; i++) {
		c->t[i] = (int64_t)floor(c->cap[i] + 1e-9);
		rem -= c->t[i];
		dt[dom(c, (int32_t)i)] += c->t[i];
		order[i] = i;
	}
	/* Insertion sort by priority: n is small. */
	for (uint32_t a = 1; a < c->n; a++) {
		uint32_t x = order[a], b = a;
		bool xo = c->old_load[x] > c->t[x];
		double xf = c->cap[x] > 0 ? (c->cap[x] - (double)c->t[x]) / c->cap[x] : 0;

		while (b > 0) {
			uint32_t y = order[b - 1];
			bool yo = c->old_load[y] > c->t[y];
			double yf = c->cap[y] > 0 ? (c->cap[y] - (double)c->t[y]) / c->cap[y] : 0;

			if (yo > xo || (yo == xo && yf >= xf))
				break;
			order[b] = y;
			b--;
		}
		order[b] = x;
	}
	for (int pass = 0; pass < 2 && rem > 0; pass++) {
		for (uint32_t a = 0; a < c->n && rem > 0; a++) {
			uint32_t i = order[a], k = dom(c, (int32_t)i);

			if (pass == 0 && c->cap[i] - (double)c->t[i] <= 1e-9)
				continue;
			if (dt[k] + 1 > c->count || c->t[i] + 1 > c->count || c->cap[i] <= 0)
				continue;
			c->t[i]++;
			dt[k]++;
			rem--;
		}
	}
	/* Domain shares, the weights for drawing candidates. */
	memset(c->dcap, 0, c->nd * sizeof(double));
	for (uint32_t i = 0; i < c->n; i++)
		c->dcap[dom(c, (int32_t)i)] += c->cap[i];
	free(dt);
	free(order);
	return 0;
}

/* ---- candidates ---- */

static uint64_t combo_hash(const int32_t *m, uint32_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (uint32_t i = 0; i < n; i++) {
		h ^= (uint64_t)(uint32_t)m[i];
		h *= 0x100000001b3ull;
	}
	return h | 1;
}

/* A weighted random OSD of a domain not in used[]; EMPTY if none left. */
static int32_t rand_member(struct ctx *c, const bool *used)
{
	double total = 0, r;
	uint32_t k = 0;

	for (uint32_t d = 0; d < c->nd; d++)
		if (!used[d])
			total += c->dcap[d];
	if (total <= 0)
		return EMPTY;
	r = pl_rand01(&c->rng) * total;
	for (k = 0; k < c->nd; k++) {
		if (used[k] || c->dcap[k] <= 0)
			continue;
		if (r < c->dcap[k])
			break;
		r -= c->dcap[k];
	}
	if (k == c->nd) {	/* rounding: the last usable domain */
		for (k = c->nd; k-- > 0;)
			if (!used[k] && c->dcap[k] > 0)
				break;
	}
	r = pl_rand01(&c->rng) * c->dcap[k];
	for (uint32_t j = c->dom_first[k]; j < c->dom_first[k + 1]; j++) {
		uint32_t i = c->dom_list[j];

		if (r < c->cap[i] || j + 1 == c->dom_first[k + 1])
			return (int32_t)i;
		r -= c->cap[i];
	}
	return EMPTY;
}

/* Up to max sorted combinations of eff OSDs in distinct domains: one
 * starting at every OSD, the rest weighted random; duplicates dropped. */
static int gen_candidates(struct ctx *c, uint32_t max)
{
	size_t hcap = 1, attempts = 0;
	uint64_t *hs;
	bool *used = calloc(c->nd, sizeof(bool));
	int32_t *m = malloc(c->eff * sizeof(int32_t));

	if (max < c->n)
		max = c->n;
	while (hcap < (size_t)max * 2)
		hcap <<= 1;
	hs = calloc(hcap, sizeof(uint64_t));
	c->cand = malloc((size_t)max * c->eff * sizeof(int32_t));
	if (!hs || !used || !m || !c->cand) {
		free(hs);
		free(used);
		free(m);
		return -1;
	}
	c->ncand = 0;
	while (c->ncand < max && attempts < (size_t)max * 4 + c->n) {
		uint32_t got = 0;
		uint64_t h;
		size_t slot;

		memset(used, 0, c->nd * sizeof(bool));
		if (attempts < c->n) {
			if (c->cap[attempts] <= 0) {
				attempts++;
				continue;
			}
			m[got++] = (int32_t)attempts;
			used[dom(c, (int32_t)attempts)] = true;
		}
		attempts++;
		while (got < c->eff) {
			int32_t i = rand_member(c, used);

			if (i == EMPTY)
				break;
			m[got++] = i;
			used[dom(c, i)] = true;
		}
		if (got < c->eff)
			continue;
		qsort(m, c->eff, sizeof(int32_t), cmp_i32);
		h = combo_hash(m, c->eff);
		for (slot = h & (hcap - 1); hs[slot] && hs[slot] != h; slot = (slot + 1) & (hcap - 1))
			;
		if (hs[slot])
			continue;
		hs[slot] = h;
		memcpy(c->cand + c->ncand * c->eff, m, c->eff * sizeof(int32_t));
		c->ncand++;
	}
	free(hs);
	free(used);
	free(m);
	return 0;
}

/* ---- greedy pieces ---- */

static bool in_pg(const int32_t *set, uint32_t size, int32_t i)
{
	for (uint32_t s = 0; s < size; s++)
		if (set[s] == i)
			return true;
	return false;
}

/* Whether OSD i may take slot s of set (no other slot in its domain). */
static bool fits(const struct ctx *c, const int32_t *set, uint32_t s, int32_t i)
{
	for (uint32_t r = 0; r < c->size; r++)
		if (r != s && set[r] != EMPTY && (set[r] == i || dom(c, set[r]) == dom(c, i)))
			return false;
	return true;
}

static uint32_t members(const struct ctx *c, const int32_t *set)
{
	uint32_t m = 0;

	for (uint32_t s = 0; s < c->size; s++)
		m += set[s] != EMPTY;
	return m;
}

/* Fills the EMPTY slots of set up to eff members: the domain with the most
 * room left first, in it the OSD with the most room (loads updated). */
static void fill_pg(struct ctx *c, int32_t *set)
{
	uint32_t m = members(c, set);

	while (m < c->eff) {
		int32_t best = EMPTY;
		int64_t best_room = INT64_MIN, best_droom = INT64_MIN;
		uint32_t s = 0;

		while (s < c->size && set[s] != EMPTY)
			s++;
		for (uint32_t k = 0; k < c->nd; k++) {
			int64_t droom = 0;
			int32_t kbest = EMPTY;
			int64_t kroom = INT64_MIN;

			for (uint32_t j = c->dom_first[k]; j < c->dom_first[k + 1]; j++) {
				int32_t i = (int32_t)c->dom_list[j];
				int64_t room = c->t[i] - c->load[i];

				if (c->cap[i] <= 0)
					continue;
				droom += room;
				if (room > kroom) {
					kroom = room;
					kbest = i;
				}
			}
			if (kbest == EMPTY || !fits(c, set, s, kbest))
				continue;
			if (droom > best_droom || (droom == best_droom && kroom > best_room)) {
				best_droom = droom;
				best_room = kroom;
				best = kbest;
			}
		}
		if (best == EMPTY)
			return;
		set[s] = best;
		c->load[best]++;
		m++;
	}
}

static void count_pg(struct ctx *c, const int32_t *set, int d)
{
	for (uint32_t s = 0; s < c->size; s++)
		if (set[s] != EMPTY)
			c->load[set[s]] += d;
}

/* Score of moving slot s of PG q from its OSD to u: a slot the PG only got
 * in this placement is free to move again (2), an OSD that had the PG in
 * the baseline gets it back (1). */
static int move_score(const struct ctx *c, uint32_t q, uint32_t s, int32_t u)
{
	const int32_t *o = c->old ? c->old + (size_t)q * c->size : NULL;

	return o ? !in_pg(o, c->size, pg((struct ctx *)c, q)[s]) * 2 + in_pg(o, c->size, u) : 0;
}

/* The best single move of a slot of v to one of to[0..nto), or false. */
static bool best_move(struct ctx *c, int32_t v, const int32_t *to, uint32_t nto,
		      uint32_t *bq, uint32_t *bs, int32_t *bu)
{
	int best = -1;

	*bu = EMPTY;
	for (uint32_t q = 0; q < c->count && best < 3; q++) {
		int32_t *set = pg(c, q);

		for (uint32_t s = 0; s < c->size; s++) {
			if (set[s] != v)
				continue;
			for (uint32_t a = 0; a < nto; a++) {
				int32_t u = to[a];
				int score;

				if (!fits(c, set, s, u))
					continue;
				score = move_score(c, q, s, u);
				if (score > best || (score == best &&
						     c->t[u] - c->load[u] > c->t[*bu] - c->load[*bu])) {
					best = score;
					*bq = q;
					*bs = s;
					*bu = u;
				}
			}
		}
	}
	return *bu != EMPTY;
}

/* Shortest chain v -> x1 -> ... -> u (u below target) of single-slot moves,
 * each in a PG holding the previous OSD, for when no direct move exists
 * because of failure domains. Applies it; false if there is none. */
static bool chain_move(struct ctx *c, int32_t v)
{
	int32_t *prev = malloc(c->n * sizeof(int32_t)), *queue = malloc(c->n * sizeof(int32_t));
	uint32_t *via_q = malloc(c->n * sizeof(uint32_t)), *via_s = malloc(c->n * sizeof(uint32_t));
	uint32_t head = 0, tail = 0;
	int32_t end = EMPTY;
	bool ok = false;

	if (!prev || !queue || !via_q || !via_s)
		goto out;
	for (uint32_t i = 0; i < c->n; i++)
		prev[i] = -2;
	prev[v] = EMPTY;
	queue[tail++] = v;
	while (head < tail && end == EMPTY) {
		int32_t x = queue[head++];

		for (uint32_t q = 0; q < c->count && end == EMPTY; q++) {
			int32_t *set = pg(c, q);

			for (uint32_t s = 0; s < c->size && end == EMPTY; s++) {
				if (set[s] != x)
					continue;
				for (uint32_t y = 0; y < c->n; y++) {
					if (prev[y] != -2 || c->cap[y] <= 0 || !fits(c, set, s, (int32_t)y))
						continue;
					prev[y] = x;
					via_q[y] = q;
					via_s[y] = s;
					queue[tail++] = (int32_t)y;
					if (c->load[y] < c->t[y]) {
						end = (int32_t)y;
						break;
					}
				}
			}
		}
	}
	if (end == EMPTY)
		goto out;
	/* Apply from the end backwards so each PG still holds its OSD. */
	for (int32_t y = end; prev[y] != EMPTY; y = prev[y]) {
		int32_t *set = pg(c, via_q[y]);

		if (set[via_s[y]] != prev[y] || !fits(c, set, via_s[y], y))
			goto out;	/* two steps in one PG: leave it */
	}
	for (int32_t y = end; prev[y] != EMPTY; y = prev[y]) {
		pg(c, via_q[y])[via_s[y]] = y;
		c->load[prev[y]]--;
		c->load[y]++;
	}
	ok = true;
out:
	free(prev);
	free(queue);
	free(via_q);
	free(via_s);
	return ok;
}

/* Moves slots from OSDs above their target to OSDs below it: directly
 * where failure domains allow, else by the shortest chain of moves. */
static uint64_t repair(struct ctx *c, uint64_t *unbalanced)
{
	uint64_t moves = 0;
	bool *stuck = calloc(c->n, sizeof(bool));
	int32_t *under = malloc(c->n * sizeof(int32_t));

	*unbalanced = 0;
	if (!stuck || !under)
		goto out;
	for (;;) {
		int32_t v = EMPTY, bu;
		int64_t ex = 0;
		uint32_t bq = 0, bs = 0, nu = 0;

		for (uint32_t i = 0; i < c->n; i++) {
			if (!stuck[i] && c->load[i] - c->t[i] > ex) {
				ex = c->load[i] - c->t[i];
				v = (int32_t)i;
			}
			if (c->load[i] < c->t[i])
				under[nu++] = (int32_t)i;
		}
		if (v == EMPTY || !nu)
			break;
		if (best_move(c, v, under, nu, &bq, &bs, &bu)) {
			pg(c, bq)[bs] = bu;
			c->load[v]--;
			c->load[bu]++;
			moves++;
		} else if (chain_move(c, v)) {
			moves++;
		} else {
			stuck[v] = true;
		}
	}
	for (uint32_t i = 0; i < c->n; i++)
		if (c->load[i] > c->t[i])
			*unbalanced += (uint64_t)(c->load[i] - c->t[i]);
out:
	free(stuck);
	free(under);
	return moves;
}

/* ---- the initial placement ---- */

/* An LP solution uses few distinct combinations (a basic solution has at
 * most one per constraint), so an OSD's PGs would share few peers: slow,
 * concentrated recovery, and later changes find few ways to move single
 * slots. Random swaps of members between two PGs keep every OSD's count
 * and the failure domains but spread the combinations. */
static void diversify(struct ctx *c)
{
	uint64_t rounds = (uint64_t)c->count * c->eff * 2;

	if (c->count < 2)
		return;
	for (uint64_t r = 0; r < rounds; r++) {
		uint32_t q1 = (uint32_t)(pl_rand(&c->rng) % c->count);
		uint32_t q2 = (uint32_t)(pl_rand(&c->rng) % c->count);
		uint32_t s1 = (uint32_t)(pl_rand(&c->rng) % c->eff), s2;
		int32_t *a = pg(c, q1), *b = pg(c, q2), x;

		if (q1 == q2 || a[s1] == EMPTY)
			continue;
		for (s2 = 0; s2 < c->size; s2++)
			if (b[s2] != EMPTY && dom(c, b[s2]) == dom(c, a[s1]))
				break;
		if (s2 == c->size)
			s2 = (uint32_t)(pl_rand(&c->rng) % c->eff);
		if (b[s2] == EMPTY || a[s1] == b[s2] || !fits(c, a, s1, b[s2]) || !fits(c, b, s2, a[s1]))
			continue;
		x = a[s1];
		a[s1] = b[s2];
		b[s2] = x;
	}
}

static int place_initial(struct ctx *c, struct pl_result *res, double timeout)
{
	struct pl_lp *lp;
	double *vals = NULL;
	int rows[300];
	uint32_t q = 0;
	int rc = -1;

	if (gen_candidates(c, c->pr->max_combos ? c->pr->max_combos : 10000) < 0)
		return -1;
	lp = pl_lp_new((int)c->n + 1);
	if (!lp)
		return -1;
	for (uint32_t i = 0; i < c->n; i++)
		pl_lp_set_rh(lp, (int)i + 1, (double)c->t[i]);
	pl_lp_set_rh(lp, (int)c->n + 1, c->count);
	for (size_t k = 0; k < c->ncand; k++) {
		for (uint32_t j = 0; j < c->eff; j++)
			rows[j] = c->cand[k * c->eff + j] + 1;
		rows[c->eff] = (int)c->n + 1;
		if (pl_lp_add_col(lp, 1.0, -1, rows, (int)c->eff + 1) < 0)
			goto out;
	}
	res->lp_vars = c->ncand;
	vals = calloc(c->ncand ? c->ncand : 1, sizeof(double));
	if (!vals)
		goto out;
	res->lp_status = pl_lp_solve(lp, timeout, vals);
	if (res->lp_status < 0 || res->lp_status > 1)
		memset(vals, 0, c->ncand * sizeof(double));
	for (size_t k = 0; k < c->ncand && q < c->count; k++) {
		uint64_t mult = (uint64_t)floor(vals[k] + 1e-6);

		for (uint64_t j = 0; j < mult && q < c->count; j++, q++) {
			int32_t *set = pg(c, q);

			/* EC: rotate each copy so roles spread over the OSDs. */
			for (uint32_t s = 0; s < c->eff; s++)
				set[s] = c->cand[k * c->eff + (s + j) % c->eff];
			count_pg(c, set, 1);
		}
	}
	res->lp_placed = q;
	for (; q < c->count; q++)
		fill_pg(c, pg(c, q));
	res->repairs = repair(c, &res->unbalanced);
	diversify(c);
	/* Shuffle so PG numbers are not grouped by combination. */
	for (uint32_t i = c->count; i > 1; i--) {
		uint32_t j = (uint32_t)(pl_rand(&c->rng) % i);
		int32_t *a = pg(c, i - 1), *b = pg(c, j);

		for (uint32_t s = 0; s < c->size; s++) {
			int32_t x = a[s];

			a[s] = b[s];
			b[s] = x;
		}
	}
	rc = 0;
out:
	free(vals);
	pl_lp_free(lp);
	return rc;
}

/* ---- the change placement ---- */

struct group {
	int32_t *key;		/* size slots: sorted members + EMPTY, or the sequence */
	uint32_t m, bad;
	uint32_t *pgs;		/* m PG indexes */
	uint32_t next;		/* first PG not assigned yet */
	int row;		/* LP row, -1: kept as it is, not in the LP */
	int64_t excess;		/* slots of members above their target */
};

enum { V_KEEP, V_MOVE, V_FRESH };

struct var {
	uint8_t kind;
	uint32_t g;		/* KEEP/MOVE */
	int32_t from, to;	/* MOVE: member (EMPTY: fill) -> OSD; FRESH: cand index in to */
	uint32_t pos;		/* MOVE, ordered: slot */
};

struct change {
	struct group *g;
	uint32_t ng;
	uint32_t *pg_group;
	struct var *v;
	size_t nv, vcap;
};

static void change_free(struct change *ch)
{
	for (uint32_t i = 0; i < ch->ng; i++) {
		free(ch->g[i].key);
		free(ch->g[i].pgs);
	}
	free(ch->g);
	free(ch->pg_group);
	free(ch->v);
}

static int make_groups(struct ctx *c, struct change *ch)
{
	size_t hcap = 1;
	uint32_t *ht;
	int32_t *key = malloc(c->size * sizeof(int32_t));

	while (hcap < (size_t)c->count * 2)
		hcap <<= 1;
	ht = malloc(hcap * sizeof(uint32_t));
	ch->g = calloc(c->count, sizeof(struct group));
	ch->pg_group = malloc(c->count * sizeof(uint32_t));
	if (!ht || !key || !ch->g || !ch->pg_group) {
		free(ht);
		free(key);
		return -1;
	}
	memset(ht, 0xff, hcap * sizeof(uint32_t));
	for (uint32_t q = 0; q < c->count; q++) {
		const int32_t *o = c->old + (size_t)q * c->size;
		uint32_t mm = 0;
		size_t slot;

		memcpy(key, o, c->size * sizeof(int32_t));
		if (!c->pr->ordered) {
			for (uint32_t s = 0; s < c->size; s++)
				if (o[s] != EMPTY)
					key[mm++] = o[s];
			qsort(key, mm, sizeof(int32_t), cmp_i32);
			for (uint32_t s = mm; s < c->size; s++)
				key[s] = EMPTY;
		}
		for (slot = combo_hash(key, c->size) & (hcap - 1); ht[slot] != UINT32_MAX;
		     slot = (slot + 1) & (hcap - 1))
			if (!memcmp(ch->g[ht[slot]].key, key, c->size * sizeof(int32_t)))
				break;
		if (ht[slot] == UINT32_MAX) {
			struct group *g = &ch->g[ch->ng];

			g->key = malloc(c->size * sizeof(int32_t));
			g->pgs = malloc(sizeof(uint32_t));
			if (!g->key || !g->pgs) {
				free(g->key);
				free(g->pgs);
				g->key = NULL;
				g->pgs = NULL;
				free(ht);
				free(key);
				return -1;
			}
			memcpy(g->key, key, c->size * sizeof(int32_t));
			g->bad = c->eff - members(c, key);
			ht[slot] = ch->ng++;
		} else {
			struct group *g = &ch->g[ht[slot]];
			uint32_t *np = realloc(g->pgs, (g->m + 1) * sizeof(uint32_t));

			if (!np) {
				free(ht);
				free(key);
				return -1;
			}
			g->pgs = np;
		}
		ch->pg_group[q] = ht[slot];
		ch->g[ht[slot]].pgs[ch->g[ht[slot]].m++] = q;
	}
	free(ht);
	free(key);
	return 0;
}

static int add_var(struct change *ch, struct var v)
{
	if (ch->nv == ch->vcap) {
		size_t cap = ch->vcap ? ch->vcap * 2 : 1024;
		struct var *nv = realloc(ch->v, cap * sizeof(*nv));

		if (!nv)
			return -1;
		ch->v = nv;
		ch->vcap = cap;
	}
	ch->v[ch->nv++] = v;
	return 0;
}

/* The variables of the change LP (placement.h). */
static int make_vars(struct ctx *c, struct change *ch, bool *need_fresh)
{
	*need_fresh = false;
	for (uint32_t gi = 0; gi < ch->ng; gi++) {
		struct group *g = &ch->g[gi];

		if (g->row < 0)
			continue;
		if (g->bad == 0 && add_var(ch, (struct var){ .kind = V_KEEP, .g = gi }) < 0)
			return -1;
		if (g->bad >= 2) {
			*need_fresh = true;
			continue;
		}
		for (uint32_t s = 0; s < c->size && ch->nv < MAX_LP_COLS; s++) {
			int32_t v = g->key[s];

			if (g->bad == 0 && (v == EMPTY || c->old_load[v] <= c->t[v]))
				continue;
			if (g->bad == 1 && v != EMPTY)
				continue;
			for (uint32_t o = 0; o < c->n; o++) {
				if (c->cap[o] <= 0 || !fits(c, g->key, s, (int32_t)o))
					continue;
				if (g->bad == 0 && c->old_load[o] >= c->t[o])
					continue;
				if (add_var(ch, (struct var){ .kind = V_MOVE, .g = gi, .from = v,
							      .to = (int32_t)o, .pos = s }) < 0)
					return -1;
			}
			if (g->bad == 1)
				break;	/* one empty slot to fill is enough */
		}
	}
	return 0;
}

/* Applies a MOVE to PG q (its set starts as the baseline). */
static void apply_move(struct ctx *c, uint32_t q, const struct var *v)
{
	int32_t *set = pg(c, q);
	uint32_t s = v->pos;

	if (!c->pr->ordered) {
		for (s = 0; s < c->size; s++)
			if (set[s] == v->from)
				break;
	}
	if (s < c->size)
		set[s] = v->to;
}

/* Puts fresh combination k into PG q keeping common members in place. */
static void apply_fresh(struct ctx *c, uint32_t q, const int32_t *k)
{
	int32_t *set = pg(c, q);
	bool *keep = calloc(c->size, sizeof(bool));

	if (!keep)
		return;
	for (uint32_t s = 0; s < c->size; s++) {
		bool found = false;

		for (uint32_t j = 0; j < c->eff; j++)
			found |= set[s] != EMPTY && k[j] == set[s];
		keep[s] = found;
		if (!found)
			set[s] = EMPTY;
	}
	for (uint32_t j = 0; j < c->eff; j++) {
		if (in_pg(set, c->size, k[j]))
			continue;
		for (uint32_t s = 0; s < c->size; s++) {
			if (set[s] == EMPTY) {
				set[s] = k[j];
				break;
			}
		}
	}
	free(keep);
}

static uint32_t overlap(const struct ctx *c, const int32_t *set, const int32_t *k)
{
	uint32_t n = 0;

	for (uint32_t j = 0; j < c->eff; j++)
		n += in_pg(set, c->size, k[j]);
	return n;
}

static int cmp_group_prio(const void *a, const void *b, void *arg)
{
	const struct group *g = arg;
	const struct group *x = &g[*(const uint32_t *)a], *y = &g[*(const uint32_t *)b];

	if (x->bad != y->bad)
		return x->bad > y->bad ? -1 : 1;
	if (x->excess != y->excess)
		return x->excess > y->excess ? -1 : 1;
	return (*(const uint32_t *)a > *(const uint32_t *)b) - (*(const uint32_t *)a < *(const uint32_t *)b);
}

/* Chooses the groups the LP works on: every group with empty slots, then
 * those with the most members above target. The others keep their sets
 * (counted into the loads now). Returns the number of LP groups or -1. */
static int pick_active(struct ctx *c, struct change *ch)
{
	uint32_t *ord = malloc((ch->ng ? ch->ng : 1) * sizeof(uint32_t)), nact = 0, nbad = 0;

	if (!ord)
		return -1;
	for (uint32_t gi = 0; gi < ch->ng; gi++) {
		struct group *g = &ch->g[gi];

		g->excess = 0;
		for (uint32_t s = 0; s < c->size; s++)
			if (g->key[s] != EMPTY && c->old_load[g->key[s]] > c->t[g->key[s]])
				g->excess += c->old_load[g->key[s]] - c->t[g->key[s]];
		g->row = -1;
		nbad += g->bad > 0;
		ord[gi] = gi;
	}
	qsort_r(ord, ch->ng, sizeof(uint32_t), cmp_group_prio, ch->g);
	for (uint32_t k = 0; k < ch->ng; k++) {
		struct group *g = &ch->g[ord[k]];

		if (!g->bad && (!g->excess || nact >= nbad + MAX_ACTIVE_GROUPS))
			continue;
		g->row = (int)c->n + 2 + (int)nact++;
	}
	for (uint32_t gi = 0; gi < ch->ng; gi++) {
		struct group *g = &ch->g[gi];

		if (g->row >= 0)
			continue;
		for (uint32_t j = 0; j < g->m; j++) {
			count_pg(c, pg(c, g->pgs[j]), 1);
			c->done[g->pgs[j]] = true;
		}
		g->next = g->m;
	}
	free(ord);
	return (int)nact;
}

static int place_change(struct ctx *c, struct pl_result *res, double timeout)
{
	struct change ch = { 0 };
	struct pl_lp *lp = NULL;
	double *vals = NULL;
	uint64_t *fresh_left = NULL;
	int rows[300];
	bool need_fresh;
	int rc = -1, nact;
	int nrows;
	uint32_t kept;

	memcpy(c->cur, c->old, (size_t)c->count * c->size * sizeof(int32_t));
	if (make_groups(c, &ch) < 0 || (nact = pick_active(c, &ch)) < 0 ||
	    make_vars(c, &ch, &need_fresh) < 0)
		goto out;
	if (need_fresh && gen_candidates(c, c->pr->max_combos ? c->pr->max_combos : 10000) < 0)
		goto out;
	nrows = (int)c->n + 1 + nact;
	lp = pl_lp_new(nrows);
	if (!lp)
		goto out;
	for (uint32_t i = 0; i < c->n; i++) {
		double room = (double)(c->t[i] - c->load[i]);

		pl_lp_set_rh(lp, (int)i + 1, room > 0 ? room : 0);
	}
	kept = 0;
	for (uint32_t q = 0; q < c->count; q++)
		kept += c->done[q];
	pl_lp_set_rh(lp, (int)c->n + 1, c->count - kept);
	for (uint32_t gi = 0; gi < ch.ng; gi++)
		if (ch.g[gi].row >= 0)
			pl_lp_set_rh(lp, ch.g[gi].row, ch.g[gi].m);
	for (size_t k = 0; k < c->ncand && ch.nv < MAX_LP_COLS; k++)
		if (add_var(&ch, (struct var){ .kind = V_FRESH, .to = (int32_t)k }) < 0)
			goto out;
	for (size_t vi = 0; vi < ch.nv; vi++) {
		const struct var *v = &ch.v[vi];
		int n = 0;
		double obj = c->eff + 1;

		if (v->kind == V_FRESH) {
			for (uint32_t j = 0; j < c->eff; j++)
				rows[n++] = c->cand[(size_t)v->to * c->eff + j] + 1;
			obj = 1;
		} else {
			const struct group *g = &ch.g[v->g];

			for (uint32_t s = 0; s < c->size; s++) {
				int32_t i = g->key[s];

				if (v->kind == V_MOVE && s == v->pos)
					i = v->to;
				if (i != EMPTY)
					rows[n++] = i + 1;
			}
			rows[n++] = g->row;
			if (v->kind == V_MOVE)
				obj = c->eff;
		}
		rows[n++] = (int)c->n + 1;
		if (pl_lp_add_col(lp, obj, v->kind == V_FRESH ? -1.0 : (double)ch.g[v->g].m, rows, n) < 0)
			goto out;
	}
	res->lp_vars = ch.nv;
	vals = calloc(ch.nv ? ch.nv : 1, sizeof(double));
	fresh_left = calloc(c->ncand ? c->ncand : 1, sizeof(uint64_t));
	if (!vals || !fresh_left)
		goto out;
	res->lp_status = pl_lp_solve(lp, timeout, vals);
	if (res->lp_status < 0 || res->lp_status > 1)
		memset(vals, 0, ch.nv * sizeof(double));
	/* Keeps and moves, PG by PG of each group. */
	for (size_t vi = 0; vi < ch.nv; vi++) {
		const struct var *v = &ch.v[vi];
		uint64_t mult = (uint64_t)floor(vals[vi] + 1e-6);
		struct group *g;

		if (v->kind == V_FRESH) {
			fresh_left[v->to] = mult;
			continue;
		}
		g = &ch.g[v->g];
		for (uint64_t j = 0; j < mult && g->next < g->m; j++) {
			uint32_t q = g->pgs[g->next++];

			if (v->kind == V_MOVE)
				apply_move(c, q, v);
			count_pg(c, pg(c, q), 1);
			c->done[q] = true;
			res->lp_placed++;
		}
	}
	/* Fresh sets to the remaining PGs with the largest overlap first. */
	for (int level = (int)c->eff; level >= 0; level--) {
		for (uint32_t q = 0; q < c->count; q++) {
			if (c->done[q])
				continue;
			for (size_t k = 0; k < c->ncand; k++) {
				const int32_t *kk = c->cand + k * c->eff;

				if (!fresh_left[k] || overlap(c, pg(c, q), kk) != (uint32_t)level)
					continue;
				fresh_left[k]--;
				apply_fresh(c, q, kk);
				count_pg(c, pg(c, q), 1);
				c->done[q] = true;
				res->lp_placed++;
				break;
			}
		}
	}
	/* The rest keep their members (the repair pass moves what is above
	 * target, one slot at a time) and get their empty slots filled. */
	for (uint32_t q = 0; q < c->count; q++) {
		int32_t *set = pg(c, q);

		if (c->done[q])
			continue;
		count_pg(c, set, 1);
		fill_pg(c, set);
		c->done[q] = true;
	}
	res->repairs = repair(c, &res->unbalanced);
	rc = 0;
out:
	free(vals);
	free(fresh_left);
	pl_lp_free(lp);
	change_free(&ch);
	return rc;
}

/* ---- entry point and figures ---- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The fewest moved slots any placement meeting the targets (within
 * rounding) needs: slots that OSDs must gain, slots that must leave OSDs
 * (gone ones included), and per PG its empty slots or the capped domains
 * (those that must be in every PG) it lacks, whichever is more. */
static uint64_t lower_bound(const struct ctx *c)
{
	uint64_t in = 0, out = c->lost, per_pg = 0;
	bool *seen = calloc(c->nd ? c->nd : 1, sizeof(bool));

	for (uint32_t i = 0; i < c->n; i++) {
		int64_t lo = (int64_t)floor(c->cap[i] + 1e-9), hi = (int64_t)ceil(c->cap[i] - 1e-9);

		if (lo > c->old_load[i])
			in += (uint64_t)(lo - c->old_load[i]);
		if (c->old_load[i] > hi)
			out += (uint64_t)(c->old_load[i] - hi);
	}
	for (uint32_t q = 0; seen && q < c->count; q++) {
		const int32_t *o = c->old + (size_t)q * c->size;
		uint32_t missing = 0, empty = c->eff - members(c, o);

		memset(seen, 0, c->nd * sizeof(bool));
		for (uint32_t s = 0; s < c->size; s++)
			if (o[s] != EMPTY)
				seen[dom(c, o[s])] = true;
		for (uint32_t k = 0; k < c->nd; k++)
			missing += c->dcap[k] >= c->count - 1e-6 && !seen[k];
		per_pg += missing > empty ? missing : empty;
	}
	free(seen);
	if (per_pg > in && per_pg > out)
		return per_pg;
	return in > out ? in : out;
}

int pl_place(const struct pl_problem *pr, uint64_t *sets, struct pl_result *res,
	     char *err, size_t errlen)
{
	struct ctx c;
	double t0 = now_ms();
	int rc;

	memset(res, 0, sizeof(*res));
	res->lp_status = -1;
	if (!pr->nosd || !pr->pg_size || !pr->pg_count) {
		snprintf(err, errlen, "no OSDs to place PGs on");
		return -1;
	}
	if (pr->pg_size > 256) {
		snprintf(err, errlen, "pg_size %u is too big", pr->pg_size);
		return -1;
	}
	if (ctx_init(&c, pr) < 0)
		goto oom;
	for (size_t i = 0; i < pr->nosd; i++) {
		if (pr->osds[i].domain >= pr->ndomains || !(pr->osds[i].weight >= 0)) {
			snprintf(err, errlen, "OSD %llu has a bad domain or weight",
				 (unsigned long long)pr->osds[i].num);
			ctx_free(&c);
			return -1;
		}
	}
	/* Targets depend on the baseline's loads, the baseline on eff. */
	if (targets(&c) < 0)
		goto oom;
	if (!c.eff) {
		snprintf(err, errlen, "no OSD has a positive weight");
		ctx_free(&c);
		return -1;
	}
	if (c.old) {
		load_old(&c);
		if (targets(&c) < 0)
			goto oom;
	}
	rc = c.old ? place_change(&c, res, pr->lp_timeout_s) : place_initial(&c, res, pr->lp_timeout_s);
	if (rc < 0)
		goto oom;
	for (size_t s = 0; s < (size_t)pr->pg_count * pr->pg_size; s++)
		sets[s] = c.cur[s] == EMPTY ? 0 : pr->osds[c.cur[s]].num;
	res->effsize = c.eff;
	res->lower_bound = c.old ? lower_bound(&c) : 0;
	res->moved = pr->old ? pl_moved(pr->old, sets, pr->pg_count, pr->pg_size, pr->ordered) : 0;
	res->uniformity = pl_uniformity(pr->osds, pr->nosd, sets, pr->pg_count, pr->pg_size);
	ctx_free(&c);
	res->ms = now_ms() - t0;
	return 0;
oom:
	ctx_free(&c);
	snprintf(err, errlen, "out of memory while placing PGs");
	return -1;
}
