/* Placement comparison: the monitor's LP placement (common/placement.h)
 * against a CRUSH-like straw2 placement on the same synthetic clusters
 * (tests/lib/pl_clusters.h), both judged by the same functions:
 * uniformity (min over OSDs of PGs per share / mean), failure domain
 * violations, and the slots moved when one OSD is added or removed,
 * relative to the slots that must move in any case: those the new OSD
 * gets, or those the removed OSD had (in that method's own placement).
 *
 * Usage: build/tests/bench/placement_compare [--markdown]
 * (built by `make`; not a test: it prints tables). */
#include "pl_clusters.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* straw2 draw of item for input x and replica attempt r: ln(u) / weight,
 * the largest wins; u uniform in (0, 1] from a hash. */
static double straw2(uint64_t x, uint64_t item, uint64_t r, double w)
{
	uint64_t h = mix64(x ^ mix64(item ^ mix64(r)));
	double u = ((double)(h >> 11) + 1.0) / 9007199254740992.0;

	return w > 0 ? log(u) / w : -INFINITY;
}

/* CRUSH "chooseleaf firstn" over a two-level hierarchy: a domain by
 * straw2 over domain weights, then an OSD inside it by straw2 over OSD
 * weights; a domain already used is a collision and retries with the
 * next r (like CRUSH's ftotal). */
static void straw2_place(const struct pl_select *sel, uint32_t pg_count, uint32_t pg_size,
			 uint64_t *sets)
{
	double *dw = calloc(sel->ndomains, sizeof(double));
	uint32_t eff = pg_size < sel->ndomains ? pg_size : sel->ndomains;

	for (size_t i = 0; i < sel->nosd; i++)
		dw[sel->osds[i].domain] += sel->osds[i].weight;
	for (uint32_t q = 0; q < pg_count; q++) {
		uint64_t *set = sets + (size_t)q * pg_size;
		bool *used = calloc(sel->ndomains, sizeof(bool));
		uint32_t got = 0;

		memset(set, 0, pg_size * sizeof(uint64_t));
		for (uint64_t r = 0; got < eff && r < 100 + eff; r++) {
			double best = -INFINITY, bo = -INFINITY;
			int d = -1;
			long o = -1;

			for (uint32_t k = 0; k < sel->ndomains; k++) {
				/* domains are named by their first OSD number: stable
				 * under adding and removing other OSDs */
				double s = straw2(q, 1000000 + mix64(k + 1), r, dw[k]);

				if (s > best) {
					best = s;
					d = (int)k;
				}
			}
			if (d < 0 || used[d])
				continue;
			for (size_t i = 0; i < sel->nosd; i++) {
				double s;

				if (sel->osds[i].domain != (uint32_t)d)
					continue;
				s = straw2(q, sel->osds[i].num, r, sel->osds[i].weight);
				if (s > bo) {
					bo = s;
					o = (long)i;
				}
			}
			used[d] = true;
			set[got++] = sel->osds[o].num;
		}
		free(used);
	}
	free(dw);
}

/* Domain numbers of pl_select follow the first OSD of each domain; straw2
 * must hash something that does not change when OSDs come and go, so it
 * uses the domain name. */
static void straw2_by_name(const struct pl_select *sel, uint32_t pg_count, uint32_t pg_size,
			   uint64_t *sets)
{
	struct pl_select s = *sel;
	struct pl_osd *osds = malloc(sel->nosd * sizeof(*osds));
	uint32_t *map = malloc(sel->ndomains * sizeof(uint32_t));
	uint32_t nd = sel->ndomains;

	/* renumber domains by their name order, e.g. h1 < h10 < h2: a stable key */
	for (uint32_t k = 0; k < nd; k++) {
		uint32_t rank = 0;

		for (uint32_t j = 0; j < nd; j++)
			rank += strcmp(sel->domain_names[j], sel->domain_names[k]) < 0;
		map[k] = rank;
	}
	for (size_t i = 0; i < sel->nosd; i++) {
		osds[i] = sel->osds[i];
		osds[i].domain = map[osds[i].domain];
	}
	s.osds = osds;
	straw2_place(&s, pg_count, pg_size, sets);
	free(osds);
	free(map);
}

struct figures {
	double uniformity, add_u, rm_u;
	uint64_t add_moved, add_lb, rm_moved, rm_lb;
	bool domains_ok;
	double ms;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Slots of OSD num in a placement. */
static uint64_t slots_of(const uint64_t *sets, size_t n, uint64_t num)
{
	uint64_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += sets[i] == num;
	return k;
}

/* Places the cluster's PGs with one method (old: the LP's baseline). */
static void place(const struct plc_cluster *c, bool lp, const uint64_t *old, uint64_t *sets)
{
	struct pl_problem pr = plc_problem(c, old);
	struct pl_result r;

	if (lp)
		pl_place(&pr, sets, &r, NULL, 0);
	else
		straw2_by_name(&c->sel, c->pg_count, c->pg_size, sets);
}

static bool domains_ok(const struct plc_cluster *c, const uint64_t *sets)
{
	return pl_domains_ok(c->sel.osds, c->sel.nosd, sets, c->pg_count, c->pg_size, NULL);
}

static double uniformity(const struct plc_cluster *c, const uint64_t *sets)
{
	return pl_uniformity(c->sel.osds, c->sel.nosd, sets, c->pg_count, c->pg_size);
}

static int run(int which, bool lp, struct figures *f)
{
	struct plc_cluster c;
	uint64_t *s0, *s1;
	size_t n;
	double t0;

	memset(f, 0, sizeof(*f));
	if (plc_build(&c, which) < 0)
		return -1;
	n = (size_t)c.pg_count * c.pg_size;
	s0 = calloc(n, sizeof(uint64_t));
	s1 = calloc(n, sizeof(uint64_t));
	if (!s0 || !s1) {
		free(s0);
		free(s1);
		plc_free(&c);
		return -1;
	}
	t0 = now_ms();
	place(&c, lp, NULL, s0);
	f->ms = now_ms() - t0;
	f->uniformity = uniformity(&c, s0);
	f->domains_ok = domains_ok(&c, s0);

	plc_add(&c, c.add_num, c.add_size, c.add_host);
	place(&c, lp, s0, s1);
	f->add_moved = pl_moved(s0, s1, c.pg_count, c.pg_size, false);
	f->add_lb = slots_of(s1, n, c.add_num);
	f->add_u = uniformity(&c, s1);
	f->domains_ok &= domains_ok(&c, s1);

	plc_remove(&c, c.add_num);
	plc_remove(&c, c.remove_num);
	place(&c, lp, s0, s1);
	f->rm_moved = pl_moved(s0, s1, c.pg_count, c.pg_size, false);
	f->rm_lb = slots_of(s0, n, c.remove_num);
	f->rm_u = uniformity(&c, s1);
	f->domains_ok &= domains_ok(&c, s1);
	free(s0);
	free(s1);
	plc_free(&c);
	return 0;
}

int main(int argc, char **argv)
{
	bool md = argc > 1 && !strcmp(argv[1], "--markdown");

	if (argc > 1 && !md) {
		fprintf(stderr, "usage: %s [--markdown]\n", argv[0]);
		return 2;
	}
	if (md)
		printf("| cluster | method | uniformity | domains | add 1 OSD: moved / its slots (x) |"
		       " uniformity | remove 1 OSD: moved / its slots (x) | uniformity | ms |\n"
		       "|---|---|---|---|---|---|---|---|---|\n");
	else
		printf("%-44s %-6s %6s %7s %22s %6s %22s %6s %6s\n", "cluster", "method", "unif",
		       "domains", "add: moved/slots (x)", "unif", "rm: moved/slots (x)", "unif", "ms");
	for (int w = 0; w < PLC_COUNT; w++) {
		for (int lp = 1; lp >= 0; lp--) {
			struct figures f;
			struct plc_cluster c;
			char add[64], rm[64];

			if (plc_build(&c, w) < 0 || run(w, lp, &f) < 0) {
				fprintf(stderr, "cluster %d failed\n", w);
				return 1;
			}
			snprintf(add, sizeof(add), "%llu/%llu (%.2fx)", (unsigned long long)f.add_moved,
				 (unsigned long long)f.add_lb, (double)f.add_moved / (double)f.add_lb);
			snprintf(rm, sizeof(rm), "%llu/%llu (%.2fx)", (unsigned long long)f.rm_moved,
				 (unsigned long long)f.rm_lb, (double)f.rm_moved / (double)f.rm_lb);
			if (md)
				printf("| %s | %s | %.1f%% | %s | %s | %.1f%% | %s | %.1f%% | %.0f |\n",
				       c.name, lp ? "LP" : "straw2", f.uniformity * 100,
				       f.domains_ok ? "ok" : "VIOLATED", add, f.add_u * 100, rm,
				       f.rm_u * 100, f.ms);
			else
				printf("%-44s %-6s %5.1f%% %7s %22s %5.1f%% %22s %5.1f%% %6.0f\n", c.name,
				       lp ? "LP" : "straw2", f.uniformity * 100,
				       f.domains_ok ? "ok" : "BAD", add, f.add_u * 100, rm, f.rm_u * 100,
				       f.ms);
			plc_free(&c);
		}
	}
	return 0;
}
