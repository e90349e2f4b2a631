/* vsctl's netlink messages (vsctl/nl.c) without a kernel: a MAP with big
 * PG tables (its own pool and POOLS) must hold every PG and OSD address,
 * where libnl's default one-page message held ~160 PGs and nla_put
 * dropped the rest; a table above one attribute's 64 KiB is an error, not
 * a truncated table; LIST replies with POOLS parse back. */
#include "../../vsctl/nl.c"

#include "check.h"

/* A pool map of pg_count PGs over 3 OSDs with an IPv4 and an IPv6 address. */
static void fake_map(struct vstor_pool_map *m, uint32_t pool, uint32_t pg_count)
{
	static char *addrs[3][2] = {
		{ "10.0.0.1", "fd00::1" }, { "10.0.0.2", "fd00::2" }, { "10.0.0.3", "fd00::3" },
	};
	static struct vstor_map_osd osds[3];

	memset(m, 0, sizeof(*m));
	m->pool_id = pool;
	m->epoch = 9;
	m->block_size = 128 << 10;
	m->bitmap_granularity = 4096;
	m->data_chunks = 1;
	m->pg_count = pg_count;
	m->primary = calloc(pg_count, sizeof(uint64_t));
	for (uint32_t i = 0; m->primary && i < pg_count; i++)
		m->primary[i] = 1 + i % 3;
	for (int i = 0; i < 3; i++) {
		osds[i].num = (uint64_t)i + 1;
		osds[i].port = 11200 + i;
		osds[i].addrs = addrs[i];
		osds[i].naddrs = 2;
	}
	m->osds = osds;
	m->nosds = 3;
}

/* Items of the nest tb[type], -1 without it. */
static int count_items(struct nlattr **tb, int type)
{
	struct nlattr *it;
	int rem, n = 0;

	if (!tb[type])
		return -1;
	nla_for_each_nested(it, tb[type], rem)
		n++;
	return n;
}

static void t_big_map(void)
{
	struct vstor_pool_map m, xm[2];
	struct nlattr *tb[VS_ATTR_MAX + 1], *pt[VS_ATTR_MAX + 1], *it;
	struct vs_nl nl = { 0 };
	struct nl_msg *msg;
	size_t size;
	int rem, k = 0;

	fake_map(&m, 1, VS_NL_MAX_PGS);
	fake_map(&xm[0], 2, 1000);
	fake_map(&xm[1], 3, 256);
	CHECK(m.primary && xm[0].primary && xm[1].primary);
	nl.sk = nl_socket_alloc();
	nl.family = 42;
	CHECK(nl.sk);
	size = vs_nl_map_size(&m) + vs_nl_map_size(&xm[0]) + vs_nl_map_size(&xm[1]);
	msg = vs_nl_msg_maps(&nl, VS_CMD_MAP, size);
	CHECK(msg);
	CHECK_EQ(vs_nl_put_map(msg, &m), 0);
	CHECK_EQ(vs_nl_put_pools(msg, xm, 2), 0);
	/* far beyond a page: the sizing matters */
	CHECK_MSG(nlmsg_hdr(msg)->nlmsg_len > 90000, "len %u", nlmsg_hdr(msg)->nlmsg_len);
	CHECK_EQ(genlmsg_parse(nlmsg_hdr(msg), 0, tb, VS_ATTR_MAX, NULL), 0);
	CHECK_EQ(nla_get_u32(tb[VS_ATTR_PG_COUNT]), VS_NL_MAX_PGS);
	CHECK_EQ(count_items(tb, VS_ATTR_PG_TABLE), VS_NL_MAX_PGS);
	CHECK_EQ(count_items(tb, VS_ATTR_OSD_LIST), 6);
	CHECK_EQ(count_items(tb, VS_ATTR_POOLS), 2);
	nla_for_each_nested(it, tb[VS_ATTR_POOLS], rem) {
		CHECK_EQ(nla_type(it), VS_POOLS_ITEM);
		CHECK_EQ(nla_parse_nested(pt, VS_ATTR_MAX, it, NULL), 0);
		CHECK_EQ(nla_get_u32(pt[VS_ATTR_POOL_ID]), xm[k].pool_id);
		CHECK_EQ(nla_get_u32(pt[VS_ATTR_BLOCK_SIZE]), 128 << 10);
		CHECK_EQ(nla_get_u32(pt[VS_ATTR_BITMAP_GRANULARITY]), 4096);
		CHECK(!pt[VS_ATTR_DATA_CHUNKS]);
		CHECK_EQ(count_items(pt, VS_ATTR_PG_TABLE), (int)xm[k].pg_count);
		CHECK_EQ(count_items(pt, VS_ATTR_OSD_LIST), 6);
		k++;
	}
	nlmsg_free(msg);

	/* one PG more than a nest holds: an error, never a partial table */
	free(m.primary);
	fake_map(&m, 1, VS_NL_MAX_PGS + 1);
	CHECK(m.primary);
	msg = vs_nl_msg_maps(&nl, VS_CMD_SET_MAP, vs_nl_map_size(&m));
	CHECK(msg);
	CHECK_EQ(vs_nl_put_map(msg, &m), -E2BIG);
	CHECK_EQ(genlmsg_parse(nlmsg_hdr(msg), 0, tb, VS_ATTR_MAX, NULL), 0);
	CHECK(!tb[VS_ATTR_PG_TABLE]);
	nlmsg_free(msg);
	nl_socket_free(nl.sk);
	free(m.primary);
	free(xm[0].primary);
	free(xm[1].primary);
}

/* A LIST reply of a device with two parent pools, through list_cb. */
static void t_list_pools(void)
{
	struct nlattr *tb[VS_ATTR_MAX + 1], *t, *it;
	struct vs_kdevs devs = { 0 };
	struct nl_msg *msg = nlmsg_alloc();

	CHECK(msg);
	CHECK(genlmsg_put(msg, 0, 0, 42, 0, 0, VS_CMD_LIST, VS_GENL_VERSION));
	nla_put_u32(msg, VS_ATTR_DEV_INDEX, 3);
	nla_put_u32(msg, VS_ATTR_POOL_ID, 2);
	nla_put_u64(msg, VS_ATTR_MAP_EPOCH, 50);
	t = nla_nest_start(msg, VS_ATTR_POOLS);
	for (uint32_t p = 1; p <= 2; p++) {
		it = nla_nest_start(msg, VS_POOLS_ITEM);
		nla_put_u32(msg, VS_ATTR_POOL_ID, p == 1 ? 1 : 7);
		nla_put_u64(msg, VS_ATTR_MAP_EPOCH, 40 + p);
		nla_nest_end(msg, it);
	}
	nla_nest_end(msg, t);
	CHECK_EQ(genlmsg_parse(nlmsg_hdr(msg), 0, tb, VS_ATTR_MAX, NULL), 0);
	list_cb(&devs, VS_CMD_LIST, tb);
	CHECK_EQ(devs.n, 1);
	CHECK_EQ(devs.devs[0].pool_id, 2);
	CHECK_EQ(devs.devs[0].nxpools, 2);
	CHECK_EQ(devs.devs[0].xpool[0], 1);
	CHECK_EQ(devs.devs[0].xepoch[0], 41);
	CHECK_EQ(devs.devs[0].xpool[1], 7);
	CHECK_EQ(devs.devs[0].xepoch[1], 42);
	vs_kdevs_free(&devs);
	nlmsg_free(msg);
}

int main(void)
{
	RUN(t_big_map);
	RUN(t_list_pools);
	return vt_finish();
}
