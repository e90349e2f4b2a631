/* vsctl's netlink messages (vsctl/nl.c) without a kernel: a MAP with big
 * PG tables (its own pool and POOLS) must hold every PG and OSD address,
 * where libnl's default one-page message held ~160 PGs and nla_put
 * dropped the rest; a PG_TABLE above one attribute's 64 KiB is an error,
 * not a truncated table; with PG_TABLE_PARTs, 65536-PG tables of the pool
 * and of 8 POOLS arrive whole, part by part; an OSD_LIST with every OSD
 * down is sent empty; LIST replies with POOLS parse back. */
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
	CHECK_EQ(vs_nl_put_map(msg, &m, false), 0);
	CHECK_EQ(vs_nl_put_pools(msg, xm, 2, false), 0);
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
	CHECK_EQ(vs_nl_put_map(msg, &m, false), -E2BIG);
	CHECK_EQ(genlmsg_parse(nlmsg_hdr(msg), 0, tb, VS_ATTR_MAX, NULL), 0);
	CHECK(!tb[VS_ATTR_PG_TABLE]);
	nlmsg_free(msg);
	nl_socket_free(nl.sk);
	free(m.primary);
	free(xm[0].primary);
	free(xm[1].primary);
}

/*
 * The PG_TABLE_PARTs of pool in the message tb came from (a MAP or SET_MAP
 * at hdr): PGs in order from 1, each part within VS_GENL_PG_PART_MAX_PGS,
 * primaries as fake_map made them. The PGs found, -1 after a failed check.
 */
static int check_parts(struct nlmsghdr *hdr, uint32_t pool)
{
	struct nlattr *a, *pt[VS_PG_PART_ATTR_MAX + 1];
	uint32_t next = 1;
	int rem;

	nla_for_each_attr(a, genlmsg_attrdata(nlmsg_data(hdr), 0),
			  genlmsg_attrlen(nlmsg_data(hdr), 0), rem) {
		const unsigned char *p;
		uint32_t n;

		if (nla_type(a) != VS_ATTR_PG_TABLE_PART)
			continue;
		if (nla_parse_nested(pt, VS_PG_PART_ATTR_MAX, a, NULL) ||
		    !pt[VS_PG_PART_ATTR_POOL_ID] || !pt[VS_PG_PART_ATTR_FIRST] ||
		    !pt[VS_PG_PART_ATTR_PRIMARIES])
			return -1;
		if (nla_get_u32(pt[VS_PG_PART_ATTR_POOL_ID]) != pool)
			continue;
		n = (uint32_t)nla_len(pt[VS_PG_PART_ATTR_PRIMARIES]) / 8;
		if (nla_get_u32(pt[VS_PG_PART_ATTR_FIRST]) != next || !n ||
		    n > VS_GENL_PG_PART_MAX_PGS || nla_len(pt[VS_PG_PART_ATTR_PRIMARIES]) % 8)
			return -1;
		p = nla_data(pt[VS_PG_PART_ATTR_PRIMARIES]);
		for (uint32_t i = 0; i < n; i++) {
			uint64_t prim;

			memcpy(&prim, p + 8 * i, 8);
			if (prim != 1 + (next - 1 + i) % 3)
				return -1;
		}
		next += n;
	}
	return (int)next - 1;
}

/* A MAP of a 65536-PG pool with 8 POOLS of 65536 PGs each, as parts: the
 * largest MAP there is (~4.8 MB), every PG in it; SET_MAP the same. */
static void t_parts(void)
{
	struct vstor_pool_map m, xm[VS_GENL_MAX_POOLS];
	struct nlattr *tb[VS_ATTR_MAX + 1];
	struct vs_nl nl = { 0 };
	struct nl_msg *msg;
	size_t size;
	int k;

	nl.sk = nl_socket_alloc();
	nl.family = 42;
	CHECK(nl.sk);
	fake_map(&m, 1, VS_NL_MAX_PGS_PARTS);
	size = vs_nl_map_size(&m);
	for (k = 0; k < VS_GENL_MAX_POOLS; k++) {
		fake_map(&xm[k], 2 + (uint32_t)k, VS_NL_MAX_PGS_PARTS);
		CHECK(xm[k].primary);
		size += vs_nl_map_size(&xm[k]);
	}
	CHECK(m.primary);
	msg = vs_nl_msg_maps(&nl, VS_CMD_MAP, size);
	CHECK(msg);
	CHECK_EQ(vs_nl_put_map(msg, &m, true), 0);
	CHECK_EQ(vs_nl_put_pools(msg, xm, VS_GENL_MAX_POOLS, true), 0);
	CHECK_MSG(nlmsg_hdr(msg)->nlmsg_len > 9 * 65536 * 8, "len %u", nlmsg_hdr(msg)->nlmsg_len);
	CHECK_EQ(genlmsg_parse(nlmsg_hdr(msg), 0, tb, VS_ATTR_MAX, NULL), 0);
	CHECK(!tb[VS_ATTR_PG_TABLE]);
	CHECK_EQ(nla_get_u32(tb[VS_ATTR_PG_COUNT]), VS_NL_MAX_PGS_PARTS);
	CHECK_EQ(count_items(tb, VS_ATTR_OSD_LIST), 6);
	CHECK_EQ(count_items(tb, VS_ATTR_POOLS), VS_GENL_MAX_POOLS);
	CHECK_EQ(check_parts(nlmsg_hdr(msg), 1), VS_NL_MAX_PGS_PARTS);
	for (k = 0; k < VS_GENL_MAX_POOLS; k++)
		CHECK_EQ(check_parts(nlmsg_hdr(msg), 2 + (uint32_t)k), VS_NL_MAX_PGS_PARTS);
	nlmsg_free(msg);

	/* SET_MAP of an odd count: a short last part */
	free(m.primary);
	fake_map(&m, 1, 3 * VS_GENL_PG_PART_MAX_PGS + 5);
	CHECK(m.primary);
	msg = vs_nl_msg_maps(&nl, VS_CMD_SET_MAP, vs_nl_map_size(&m));
	CHECK(msg);
	CHECK_EQ(vs_nl_put_map(msg, &m, true), 0);
	CHECK_EQ(check_parts(nlmsg_hdr(msg), 1), 3 * VS_GENL_PG_PART_MAX_PGS + 5);
	nlmsg_free(msg);
	/* the same without parts (an old module): an error, no table */
	msg = vs_nl_msg_maps(&nl, VS_CMD_SET_MAP, vs_nl_map_size(&m));
	CHECK(msg);
	CHECK_EQ(vs_nl_put_map(msg, &m, false), -E2BIG);
	CHECK_EQ(check_parts(nlmsg_hdr(msg), 1), 0);
	nlmsg_free(msg);
	nl_socket_free(nl.sk);
	free(m.primary);
	for (k = 0; k < VS_GENL_MAX_POOLS; k++)
		free(xm[k].primary);
}

/* Every OSD down (no usable address): OSD_LIST is sent empty, not left
 * out (the kernel requires it), and every primary is 0. */
static void t_no_osds(void)
{
	static char *none[1] = { "0.0.0.0" };
	struct nlattr *tb[VS_ATTR_MAX + 1], *it, *pg[VS_PG_ATTR_MAX + 1];
	struct vstor_pool_map m;
	struct vs_nl nl = { 0 };
	struct nl_msg *msg;
	int rem, n = 0;

	fake_map(&m, 1, 64);
	CHECK(m.primary);
	CHECK_EQ(vs_nl_map_reachable(&m), 64);
	for (size_t i = 0; i < m.nosds; i++) {
		m.osds[i].addrs = none;
		m.osds[i].naddrs = 1;
	}
	CHECK_EQ(vs_nl_map_reachable(&m), 0);
	nl.sk = nl_socket_alloc();
	nl.family = 42;
	CHECK(nl.sk);
	msg = vs_nl_msg_maps(&nl, VS_CMD_SET_MAP, vs_nl_map_size(&m));
	CHECK(msg);
	CHECK_EQ(vs_nl_put_map(msg, &m, false), 0);
	CHECK_EQ(genlmsg_parse(nlmsg_hdr(msg), 0, tb, VS_ATTR_MAX, NULL), 0);
	CHECK_EQ(count_items(tb, VS_ATTR_OSD_LIST), 0);
	nla_for_each_nested(it, tb[VS_ATTR_PG_TABLE], rem) {
		CHECK_EQ(nla_parse_nested(pg, VS_PG_ATTR_MAX, it, NULL), 0);
		CHECK_EQ(nla_get_u64(pg[VS_PG_ATTR_PRIMARY]), 0);
		n++;
	}
	CHECK_EQ(n, 64);
	nlmsg_free(msg);
	nl_socket_free(nl.sk);
	free(m.primary);
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
	RUN(t_parts);
	RUN(t_no_osds);
	RUN(t_list_pools);
	return vt_finish();
}
