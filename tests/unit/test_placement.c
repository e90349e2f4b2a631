/* Placement library (common/placement.h) on synthetic clusters:
 * uniformity >= 98%, failure domains never violated, adding or removing
 * one OSD moves at most 1.2x the fewest slots possible, a re-run moves
 * nothing; primaries, pg_count change sources, tree and selection. */
#include "check.h"
#include "pl_clusters.h"

#include <stdlib.h>

static uint64_t *place(const struct plc_cluster *c, const uint64_t *old, struct pl_result *res)
{
	struct pl_problem pr = plc_problem(c, old);
	uint64_t *sets = calloc((size_t)pr.pg_count * pr.pg_size, sizeof(uint64_t));
	char err[256];

	if (!sets)
		return NULL;
	if (pl_place(&pr, sets, res, err, sizeof(err)) < 0) {
		fprintf(stderr, "pl_place: %s\n", err);
		free(sets);
		return NULL;
	}
	return sets;
}

static bool complete(const uint64_t *sets, uint32_t count, uint32_t size, uint32_t eff)
{
	for (uint32_t q = 0; q < count; q++) {
		uint32_t m = 0;

		for (uint32_t s = 0; s < size; s++)
			m += sets[(size_t)q * size + s] != 0;
		if (m != eff)
			return false;
	}
	return true;
}

/* One change step checked: domains, completeness, uniformity and the
 * movement bound. */
static void check_step(const struct plc_cluster *c, const char *what, uint64_t num,
		       const uint64_t *sets, const struct pl_result *r)
{
	uint32_t bad = 0;

	printf("  %s: %s OSD %llu: moved %llu, lower bound %llu (%.3fx), uniformity %.4f, "
	       "%.0f ms; LP %llu vars status %d placed %llu, repairs %llu, unbalanced %llu\n",
	       c->name, what, (unsigned long long)num, (unsigned long long)r->moved,
	       (unsigned long long)r->lower_bound, (double)r->moved / (double)r->lower_bound,
	       r->uniformity, r->ms, (unsigned long long)r->lp_vars, r->lp_status,
	       (unsigned long long)r->lp_placed, (unsigned long long)r->repairs,
	       (unsigned long long)r->unbalanced);
	CHECK_MSG(pl_domains_ok(c->sel.osds, c->sel.nosd, sets, c->pg_count, c->pg_size, &bad),
		  "PG %u violates the failure domain", bad);
	CHECK(complete(sets, c->pg_count, c->pg_size, r->effsize));
	CHECK_MSG(r->uniformity >= 0.98, "uniformity %.4f", r->uniformity);
	CHECK(r->lower_bound > 0);
	CHECK_MSG((double)r->moved <= 1.2 * (double)r->lower_bound, "moved %llu, bound %llu",
		  (unsigned long long)r->moved, (unsigned long long)r->lower_bound);
}

/* Initial placement, then add one OSD, then remove one (from the
 * original cluster), each checked. */
static void run_cluster(int which)
{
	struct plc_cluster c;
	struct pl_result r0, r1, r2, r3;
	uint64_t *s0 = NULL, *s1 = NULL, *s2 = NULL, *s3 = NULL;
	uint32_t bad = 0;

	CHECK(plc_build(&c, which) == 0);
	s0 = place(&c, NULL, &r0);
	CHECK(s0);
	printf("  %s: initial uniformity %.4f, LP %llu vars status %d placed %llu, "
	       "repairs %llu, %.0f ms\n", c.name, r0.uniformity, (unsigned long long)r0.lp_vars,
	       r0.lp_status, (unsigned long long)r0.lp_placed, (unsigned long long)r0.repairs,
	       r0.ms);
	CHECK_MSG(pl_domains_ok(c.sel.osds, c.sel.nosd, s0, c.pg_count, c.pg_size, &bad),
		  "PG %u violates the failure domain", bad);
	CHECK(complete(s0, c.pg_count, c.pg_size, r0.effsize));
	CHECK_MSG(r0.uniformity >= 0.98, "uniformity %.4f", r0.uniformity);

	/* The same cluster again: nothing moves. */
	s3 = place(&c, s0, &r3);
	CHECK(s3);
	CHECK_EQ(r3.moved, 0);

	CHECK(plc_add(&c, c.add_num, c.add_size, c.add_host) == 0);
	s1 = place(&c, s0, &r1);
	CHECK(s1);
	check_step(&c, "add", c.add_num, s1, &r1);
	if (vt_case_failed)
		goto out;

	CHECK(plc_remove(&c, c.add_num) == 0);
	CHECK(plc_remove(&c, c.remove_num) == 0);
	s2 = place(&c, s0, &r2);
	CHECK(s2);
	check_step(&c, "remove", c.remove_num, s2, &r2);
	for (size_t s = 0; s < (size_t)c.pg_count * c.pg_size; s++)
		CHECK(s2[s] != c.remove_num);
out:
	free(s0);
	free(s1);
	free(s2);
	free(s3);
	plc_free(&c);
}

static void cluster_12_osds_4_hosts(void) { run_cluster(0); }
static void cluster_60_osds_host(void) { run_cluster(1); }
static void cluster_60_osds_rack(void) { run_cluster(2); }

/* Fewer domains than pg_size: slots stay empty (0), at the end. */
static void fewer_domains_than_pg_size(void)
{
	struct pl_osd osds[4] = { { 1, 1, 0 }, { 2, 1, 0 }, { 3, 1, 1 }, { 4, 2, 1 } };
	struct pl_problem pr = { .osds = osds, .nosd = 4, .ndomains = 2, .pg_size = 3,
		.pg_count = 64 };
	uint64_t sets[64 * 3];
	struct pl_result r;
	char err[128];

	CHECK(pl_place(&pr, sets, &r, err, sizeof(err)) == 0);
	CHECK_EQ(r.effsize, 2);
	for (int q = 0; q < 64; q++) {
		CHECK(sets[q * 3] && sets[q * 3 + 1]);
		CHECK_EQ(sets[q * 3 + 2], 0);
	}
	CHECK(pl_domains_ok(osds, 4, sets, 64, 3, NULL));
	/* domain 1 has 3/5 of the weight but can hold only 64 of 128 slots */
	CHECK(r.uniformity >= 0.98);
}

/* EC (ordered): roles spread, role-preserving moves. */
static void ordered_pool(void)
{
	struct plc_cluster c;
	struct pl_result r, r2;
	uint64_t *s0, *s1;
	struct pl_problem pr;

	CHECK(plc_build(&c, 1) == 0);
	pr = plc_problem(&c, NULL);
	pr.ordered = true;
	s0 = calloc((size_t)pr.pg_count * pr.pg_size, sizeof(uint64_t));
	s1 = calloc((size_t)pr.pg_count * pr.pg_size, sizeof(uint64_t));
	CHECK(s0 && s1);
	CHECK(pl_place(&pr, s0, &r, NULL, 0) == 0);
	CHECK(r.uniformity >= 0.98);
	/* every OSD appears in every role */
	for (size_t i = 0; i < c.sel.nosd; i++) {
		for (uint32_t role = 0; role < 3; role++) {
			uint32_t n = 0;

			for (uint32_t q = 0; q < pr.pg_count; q++)
				n += s0[q * 3 + role] == c.sel.osds[i].num;
			CHECK_MSG(n > 0, "OSD %llu never has role %u",
				  (unsigned long long)c.sel.osds[i].num, role);
		}
	}
	CHECK(plc_remove(&c, 10) == 0);
	pr = plc_problem(&c, s0);
	pr.ordered = true;
	CHECK(pl_place(&pr, s1, &r2, NULL, 0) == 0);
	CHECK(pl_domains_ok(c.sel.osds, c.sel.nosd, s1, pr.pg_count, 3, NULL));
	CHECK_MSG((double)r2.moved <= 1.2 * (double)r2.lower_bound, "moved %llu bound %llu",
		  (unsigned long long)r2.moved, (unsigned long long)r2.lower_bound);
	free(s0);
	free(s1);
	plc_free(&c);
}

static void primaries_even_and_sticky(void)
{
	struct plc_cluster c;
	struct pl_result r;
	uint64_t *sets, up[PLC_MAX_OSD], prim[512], prim2[512];
	uint32_t cnt[PLC_MAX_OSD + 1] = { 0 }, moved = 0, lost = 0;
	size_t nup = 0;

	CHECK(plc_build(&c, 0) == 0);
	sets = place(&c, NULL, &r);
	CHECK(sets);
	for (size_t i = 0; i < c.sel.nosd; i++)
		up[nup++] = c.sel.osds[i].num;
	pl_primaries(sets, c.pg_count, c.pg_size, c.pg_size, up, nup, NULL, prim);
	for (uint32_t q = 0; q < c.pg_count; q++) {
		CHECK(prim[q]);
		cnt[prim[q]]++;
	}
	/* Fair share of OSD o: its PGs / 3. */
	for (size_t i = 0; i < c.sel.nosd; i++) {
		uint64_t num = c.sel.osds[i].num;
		uint32_t pgs = 0;

		for (size_t s = 0; s < (size_t)c.pg_count * c.pg_size; s++)
			pgs += sets[s] == num;
		CHECK_MSG(cnt[num] + 1 >= pgs / 3 && cnt[num] <= pgs / 3 + 2,
			  "OSD %llu: %u primaries of %u PGs", (unsigned long long)num, cnt[num], pgs);
	}
	/* OSD 5 goes down: only its PGs (and a few for balance) change. */
	nup = 0;
	for (size_t i = 0; i < c.sel.nosd; i++)
		if (c.sel.osds[i].num != 5)
			up[nup++] = c.sel.osds[i].num;
	pl_primaries(sets, c.pg_count, c.pg_size, c.pg_size, up, nup, prim, prim2);
	for (uint32_t q = 0; q < c.pg_count; q++) {
		CHECK(prim2[q] && prim2[q] != 5);
		moved += prim2[q] != prim[q];
		lost += prim[q] == 5;
	}
	CHECK_MSG(moved <= lost + lost / 4 + 4, "moved %u primaries, %u had OSD 5", moved, lost);
	/* Nobody up: no primary. */
	pl_primaries(sets, c.pg_count, c.pg_size, c.pg_size, up, 0, prim, prim2);
	for (uint32_t q = 0; q < c.pg_count; q++)
		CHECK_EQ(prim2[q], 0);
	free(sets);
	plc_free(&c);
}

static void pg_count_sources(void)
{
	uint32_t f[64], n;

	n = pl_pg_count_sources(16, 32, 20, f);
	CHECK_EQ(n, 1);
	CHECK_EQ(f[0], 4);
	n = pl_pg_count_sources(32, 16, 3, f);
	CHECK_EQ(n, 2);
	CHECK_EQ(f[0], 3);
	CHECK_EQ(f[1], 19);
	n = pl_pg_count_sources(16, 25, 20, f);
	CHECK_EQ(n, 16);
	CHECK_EQ(f[0], 4);
	n = pl_pg_count_sources(16, 16, 7, f);
	CHECK_EQ(n, 1);
	CHECK_EQ(f[0], 7);
}

static void tree_and_select(void)
{
	const char *npj = "{\"dc1\":{\"level\":\"dc\"},\"r1\":{\"level\":\"rack\",\"parent\":\"dc1\"},"
		"\"h1\":{\"level\":\"host\",\"parent\":\"r1\"},\"weird\":{\"level\":\"galaxy\"},"
		"\"3\":{\"parent\":\"h9\"}}";
	const char *t1[] = { "ssd" }, *t2[] = { "ssd", "fast" };
	struct pl_osd_in in[4] = {
		{ .num = 1, .size = 1ull << 40, .host = "h1", .reweight = 1, .tags = t2, .ntags = 2 },
		{ .num = 2, .size = 2ull << 40, .host = "h2", .reweight = 0.5, .tags = t1, .ntags = 1 },
		{ .num = 3, .size = 1ull << 40, .host = "h1", .reweight = 1 },
		{ .num = 4, .size = 1ull << 40, .host = "h2", .reweight = 0 },
	};
	json_t np = json_parse(npj, strlen(npj), NULL, 0);
	struct pl_tree t;
	struct pl_select s;
	struct pl_pool_sel sel = { 0 };
	const char *tags[] = { "ssd" };
	char err[256];
	struct strbuf sb;

	CHECK(np);
	CHECK(pl_tree_build(&t, np, NULL, in, 4) == 0);
	CHECK(t.warn[0]);	/* "weird" has an unknown level, OSD 3's parent is missing */
	CHECK(pl_tree_find(&t, "weird") < 0);
	CHECK(pl_tree_find(&t, "h2") >= 0);	/* created from the OSD's host */
	CHECK_EQ(t.nodes[pl_tree_find(&t, "3")].parent, -1);
	CHECK_STR(t.nodes[t.nodes[pl_tree_find(&t, "1")].parent].name, "h1");
	CHECK(t.nodes[pl_tree_find(&t, "2")].weight == 1.0);

	/* host domains: OSD 1 in h1, 2 in h2, 3 under the root alone; 4 has weight 0 */
	CHECK(pl_select(&t, NULL, &sel, &s, err, sizeof(err)) == 0);
	CHECK_EQ(s.nosd, 3);
	CHECK_EQ(s.ndomains, 3);
	pl_select_free(&s);
	sel.failure_domain = "dc";
	CHECK(pl_select(&t, NULL, &sel, &s, err, sizeof(err)) == 0);
	CHECK_EQ(s.ndomains, 3);	/* dc1 (OSD 1), OSD 2 and OSD 3 alone */
	pl_select_free(&s);
	sel.root_node = "r1";
	CHECK(pl_select(&t, NULL, &sel, &s, err, sizeof(err)) == 0);
	CHECK_EQ(s.nosd, 1);
	CHECK_EQ(s.osds[0].num, 1);
	pl_select_free(&s);
	sel.root_node = NULL;
	sel.failure_domain = "osd";
	sel.osd_tags = tags;
	sel.ntags = 1;
	CHECK(pl_select(&t, NULL, &sel, &s, err, sizeof(err)) == 0);
	CHECK_EQ(s.nosd, 2);
	pl_select_free(&s);
	sel.failure_domain = "planet";
	CHECK(pl_select(&t, NULL, &sel, &s, err, sizeof(err)) < 0);
	CHECK(strstr(err, "planet"));
	sel.failure_domain = NULL;
	sel.root_node = "nowhere";
	CHECK(pl_select(&t, NULL, &sel, &s, err, sizeof(err)) < 0);
	CHECK(strstr(err, "nowhere"));
	sb_init(&sb);
	pl_tree_json(&t, &sb);
	CHECK(sb.buf && strstr(sb.buf, "{\"name\":\"1\",\"level\":\"osd\",\"parent\":\"h1\","));
	sb_free(&sb);
	pl_tree_free(&t);
	json_free(np);
}

static void osd_config(void)
{
	const char *good = "{\"reweight\":\"0.5\",\"tags\":[\"a\",\"b\"]}", *bad = "{\"tags\":[1]}";
	json_t g = json_parse(good, strlen(good), NULL, 0), b = json_parse(bad, strlen(bad), NULL, 0);
	const char **tags;
	size_t n;
	double rw;
	char err[128];

	CHECK(g && b);
	CHECK(pl_osd_config(g, &rw, &tags, &n, err, sizeof(err)) == 0);
	CHECK(rw == 0.5);
	CHECK_EQ(n, 2);
	CHECK_STR(tags[1], "b");
	free(tags);
	CHECK(pl_osd_config(b, &rw, &tags, &n, err, sizeof(err)) < 0);
	CHECK(strstr(err, "tags"));
	CHECK(pl_osd_config(NULL, &rw, &tags, &n, err, sizeof(err)) == 0);
	CHECK(rw == 1 && n == 0);
	json_free(g);
	json_free(b);
}

int main(void)
{
	RUN(cluster_12_osds_4_hosts);
	RUN(cluster_60_osds_host);
	RUN(cluster_60_osds_rack);
	RUN(fewer_domains_than_pg_size);
	RUN(ordered_pool);
	RUN(primaries_even_and_sticky);
	RUN(pg_count_sources);
	RUN(tree_and_select);
	RUN(osd_config);
	return vt_finish();
}
