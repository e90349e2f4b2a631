/* Synthetic clusters (pl_clusters.h). */
#include "pl_clusters.h"

#include <stdio.h>
#include <string.h>

#define TIB (1ull << 40)

static int rebuild(struct plc_cluster *c)
{
	char err[256];

	pl_select_free(&c->sel);
	pl_tree_free(&c->tree);
	for (size_t i = 0; i < c->n; i++)
		c->osds[i].host = c->hosts[i];
	if (pl_tree_build(&c->tree, c->np, NULL, c->osds, c->n) < 0)
		return -1;
	struct pl_pool_sel sel = { .failure_domain = c->failure_domain };

	if (pl_select(&c->tree, NULL, &sel, &c->sel, err, sizeof(err)) < 0) {
		fprintf(stderr, "pl_select: %s\n", err);
		return -1;
	}
	return 0;
}

int plc_add(struct plc_cluster *c, uint64_t num, uint64_t size, const char *host)
{
	if (c->n == PLC_MAX_OSD)
		return -1;
	memset(&c->osds[c->n], 0, sizeof(c->osds[c->n]));
	c->osds[c->n].num = num;
	c->osds[c->n].size = size;
	c->osds[c->n].reweight = 1;
	snprintf(c->hosts[c->n], sizeof(c->hosts[c->n]), "%s", host);
	c->n++;
	return rebuild(c);
}

int plc_remove(struct plc_cluster *c, uint64_t num)
{
	for (size_t i = 0; i < c->n; i++) {
		if (c->osds[i].num != num)
			continue;
		memmove(&c->osds[i], &c->osds[i + 1], (c->n - i - 1) * sizeof(c->osds[0]));
		memmove(c->hosts[i], c->hosts[i + 1], (c->n - i - 1) * sizeof(c->hosts[0]));
		c->n--;
		return rebuild(c);
	}
	return -1;
}

static void put(struct plc_cluster *c, uint64_t num, unsigned tib, const char *host)
{
	c->osds[c->n].num = num;
	c->osds[c->n].size = tib * TIB;
	c->osds[c->n].reweight = 1;
	snprintf(c->hosts[c->n], sizeof(c->hosts[c->n]), "%s", host);
	c->n++;
}

int plc_build(struct plc_cluster *c, int which)
{
	/* Host sizes in TiB; racks of cluster 1/2 hold 70 TiB each. */
	static const unsigned small[4][3] = { { 1, 1, 2 }, { 2, 2, 2 }, { 1, 3, 4 }, { 2, 2, 3 } };
	static const unsigned big[5][6] = {
		{ 1, 1, 2, 2, 2, 2 }, { 1, 2, 2, 2, 2, 3 }, { 1, 2, 2, 3, 3, 3 },
		{ 2, 2, 3, 3, 3, 3 }, { 2, 3, 3, 3, 3, 4 },
	};
	static const char racks[] = "{\"r1\":{\"level\":\"rack\"},\"r2\":{\"level\":\"rack\"},"
		"\"h1\":{\"level\":\"host\",\"parent\":\"r1\"},\"h2\":{\"level\":\"host\",\"parent\":\"r1\"},"
		"\"h3\":{\"level\":\"host\",\"parent\":\"r1\"},\"h4\":{\"level\":\"host\",\"parent\":\"r1\"},"
		"\"h5\":{\"level\":\"host\",\"parent\":\"r1\"},\"h6\":{\"level\":\"host\",\"parent\":\"r2\"},"
		"\"h7\":{\"level\":\"host\",\"parent\":\"r2\"},\"h8\":{\"level\":\"host\",\"parent\":\"r2\"},"
		"\"h9\":{\"level\":\"host\",\"parent\":\"r2\"},\"h10\":{\"level\":\"host\",\"parent\":\"r2\"}}";
	char host[16];
	uint64_t num = 1;

	memset(c, 0, sizeof(*c));
	if (which == 0) {
		c->name = "12 OSDs / 4 hosts, size 3, host";
		c->failure_domain = "host";
		c->pg_size = 3;
		c->pg_count = 512;
		for (int h = 0; h < 4; h++) {
			snprintf(host, sizeof(host), "h%d", h + 1);
			for (int i = 0; i < 3; i++)
				put(c, num++, small[h][i], host);
		}
		c->add_num = 13;
		c->add_size = 2 * TIB;
		c->add_host = "h1";
		c->remove_num = 9;
	} else {
		c->name = which == 1 ? "60 OSDs / 10 hosts / 2 racks, size 3, host" :
				       "60 OSDs / 10 hosts / 2 racks, size 2, rack";
		c->failure_domain = which == 1 ? "host" : "rack";
		c->pg_size = which == 1 ? 3 : 2;
		c->pg_count = 2048;
		for (int h = 0; h < 10; h++) {
			int pattern = h < 5 ? h : 9 - h;

			snprintf(host, sizeof(host), "h%d", h + 1);
			for (int i = 0; i < 6; i++)
				put(c, num++, big[pattern][i], host);
		}
		c->np = json_parse(racks, sizeof(racks) - 1, NULL, 0);
		if (!c->np)
			return -1;
		c->add_num = 61;
		c->add_size = 3 * TIB;
		c->add_host = "h3";
		c->remove_num = 10;
	}
	return rebuild(c);
}

void plc_free(struct plc_cluster *c)
{
	pl_select_free(&c->sel);
	pl_tree_free(&c->tree);
	if (c->np)
		json_free(c->np);
	c->np = NULL;
}

struct pl_problem plc_problem(const struct plc_cluster *c, const uint64_t *old)
{
	struct pl_problem pr = {
		.osds = c->sel.osds, .nosd = c->sel.nosd, .ndomains = c->sel.ndomains,
		.pg_size = c->pg_size, .pg_count = c->pg_count, .old = old,
	};

	return pr;
}
