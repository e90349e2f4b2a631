// SPDX-License-Identifier: GPL-2.0
/*
 * PG maps and routes.
 *
 * A map is built from the OSD_LIST and PG_TABLE (or PG_TABLE_PART)
 * attributes of MAP or SET_MAP, checked completely before anything uses
 * it, and never changed afterwards. A route is a device's view of a map: the same map plus the
 * connections to its OSDs. Building a route from a newer map keeps the
 * connections of OSDs whose addresses did not change, so a map change
 * only disturbs the connections it must.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/bsearch.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <asm/unaligned.h>

#include "vstor.h"

static struct netlink_range_validation vs_pg_num_range = {
	.min = 1,
	.max = VS_MAX_PG_COUNT,
};

const struct nla_policy vs_pg_policy[VS_PG_ATTR_MAX + 1] = {
	[VS_PG_ATTR_PAD]	= { .type = NLA_REJECT,
				    .reject_message = "PAD is output only" },
	[VS_PG_ATTR_NUM]	= NLA_POLICY_FULL_RANGE(NLA_U32, &vs_pg_num_range),
	[VS_PG_ATTR_PRIMARY]	= { .type = NLA_U64 },
	[VS_PG_ATTR_EPOCH]	= { .type = NLA_U64 },
};

static struct netlink_range_validation vs_part_pool_range = {
	.min = 1,
	.max = VS_MAX_POOL_ID,
};

static int vs_validate_primaries(const struct nlattr *attr,
				 struct netlink_ext_ack *extack)
{
	if (!nla_len(attr) || nla_len(attr) % sizeof(u64)) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "PG_TABLE_PART PRIMARIES must be a non-empty array of u64");
		return -EINVAL;
	}
	return 0;
}

const struct nla_policy vs_pg_part_policy[VS_PG_PART_ATTR_MAX + 1] = {
	[VS_PG_PART_ATTR_POOL_ID]	= NLA_POLICY_FULL_RANGE(NLA_U32,
							&vs_part_pool_range),
	[VS_PG_PART_ATTR_FIRST]		= NLA_POLICY_FULL_RANGE(NLA_U32,
							&vs_pg_num_range),
	[VS_PG_PART_ATTR_PRIMARIES]	= NLA_POLICY_VALIDATE_FN(NLA_BINARY,
			vs_validate_primaries,
			VS_GENL_PG_PART_MAX_PGS * sizeof(u64)),
};

const struct nla_policy vs_osd_policy[VS_OSD_ATTR_MAX + 1] = {
	[VS_OSD_ATTR_PAD]	= { .type = NLA_REJECT,
				    .reject_message = "PAD is output only" },
	[VS_OSD_ATTR_NUM]	= NLA_POLICY_MIN(NLA_U64, 1),
	[VS_OSD_ATTR_ADDR4]	= { .type = NLA_BE32 },
	[VS_OSD_ATTR_ADDR6]	= NLA_POLICY_EXACT_LEN(16),
	[VS_OSD_ATTR_PORT]	= NLA_POLICY_MIN(NLA_U16, 1),
};

static void vs_map_release(struct kref *ref)
{
	struct vs_map *map = container_of(ref, struct vs_map, ref);

	kvfree(map->primary);
	kvfree(map->osds);
	kfree(map);
}

void vs_map_put(struct vs_map *map)
{
	if (map)
		kref_put(&map->ref, vs_map_release);
}

static int vs_osd_cmp(const void *a, const void *b)
{
	const struct vs_map_osd *x = a, *y = b;

	return x->num < y->num ? -1 : x->num > y->num;
}

const struct vs_map_osd *vs_map_osd_find(const struct vs_map *map, u64 num)
{
	struct vs_map_osd key = { .num = num };

	return bsearch(&key, map->osds, map->n_osds, sizeof(key), vs_osd_cmp);
}

/* One OSD_LIST item into a (possibly partly filled) entry of its OSD. */
static int vs_osd_item(struct nlattr *item, struct vs_map_osd *o,
		       struct netlink_ext_ack *extack)
{
	struct nlattr *tb[VS_OSD_ATTR_MAX + 1];
	struct sockaddr_storage *ss;
	int err;

	if (nla_type(item) != VS_OSD_LIST_ITEM) {
		NL_SET_ERR_MSG_ATTR(extack, item, "OSD_LIST holds only ITEM nests");
		return -EINVAL;
	}
	err = nla_parse_nested(tb, VS_OSD_ATTR_MAX, item, vs_osd_policy, extack);
	if (err)
		return err;
	if (!tb[VS_OSD_ATTR_NUM]) {
		NL_SET_ERR_MSG_ATTR(extack, item, "OSD item without NUM");
		NL_SET_ERR_ATTR_MISS(extack, item, VS_OSD_ATTR_NUM);
		return -EINVAL;
	}
	if (!tb[VS_OSD_ATTR_PORT]) {
		NL_SET_ERR_MSG_ATTR(extack, item, "OSD item without PORT");
		NL_SET_ERR_ATTR_MISS(extack, item, VS_OSD_ATTR_PORT);
		return -EINVAL;
	}
	if (!tb[VS_OSD_ATTR_ADDR4] == !tb[VS_OSD_ATTR_ADDR6]) {
		NL_SET_ERR_MSG_ATTR(extack, item,
				    "OSD item needs exactly one of ADDR4, ADDR6");
		return -EINVAL;
	}
	if (tb[VS_OSD_ATTR_ADDR4] && !nla_get_in_addr(tb[VS_OSD_ATTR_ADDR4])) {
		NL_SET_ERR_MSG_ATTR(extack, tb[VS_OSD_ATTR_ADDR4],
				    "OSD address is 0.0.0.0");
		return -EINVAL;
	}
	o->num = nla_get_u64(tb[VS_OSD_ATTR_NUM]);
	o->port = nla_get_u16(tb[VS_OSD_ATTR_PORT]);
	o->naddrs = 1;
	ss = &o->addrs[0];
	memset(ss, 0, sizeof(*ss));
	if (tb[VS_OSD_ATTR_ADDR4]) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(o->port);
		in->sin_addr.s_addr = nla_get_in_addr(tb[VS_OSD_ATTR_ADDR4]);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(o->port);
		in6->sin6_addr = nla_get_in6_addr(tb[VS_OSD_ATTR_ADDR6]);
	}
	return 0;
}

/* An OSD_LIST item's place in the merge: by OSD, then in the order given. */
struct vs_osd_key {
	u64 num;
	u32 pos;
};

static int vs_osd_key_cmp(const void *a, const void *b)
{
	const struct vs_osd_key *x = a, *y = b;

	if (x->num != y->num)
		return x->num < y->num ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * Merges the n items (one address each) into map->osds, sorted by OSD:
 * the items of one OSD become one entry with up to VS_MAX_ADDRS addresses
 * in the order given. Sorted, not scanned: a list of thousands of OSDs
 * costs n log n, not n^2.
 */
static int vs_merge_osds(struct vs_map_osd *items, unsigned int n,
			 struct vs_map *map, struct nlattr *list,
			 struct netlink_ext_ack *extack)
{
	struct vs_map_osd *osds = NULL, *o = NULL;
	struct vs_osd_key *keys;
	unsigned int i, j = 0, nosd = 1;
	int err = -ENOMEM;

	keys = kvmalloc_array(n, sizeof(*keys), GFP_KERNEL);
	if (!keys)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		keys[i].num = items[i].num;
		keys[i].pos = i;
	}
	sort(keys, n, sizeof(*keys), vs_osd_key_cmp, NULL);
	for (i = 1; i < n; i++)
		nosd += keys[i].num != keys[i - 1].num;
	osds = kvcalloc(nosd, sizeof(*osds), GFP_KERNEL);
	if (!osds)
		goto fail;
	for (i = 0; i < n; i++) {
		const struct vs_map_osd *it = &items[keys[i].pos];

		if (!o || o->num != it->num) {
			o = &osds[j++];
			*o = *it;
			continue;
		}
		if (o->port != it->port) {
			NL_SET_ERR_MSG_ATTR(extack, list,
					    "OSD listed with two different ports");
			err = -EINVAL;
			goto fail;
		}
		if (o->naddrs < VS_MAX_ADDRS)
			o->addrs[o->naddrs++] = it->addrs[0];
	}
	kvfree(keys);
	map->osds = osds;
	map->n_osds = j;
	return 0;
fail:
	kvfree(keys);
	kvfree(osds);
	return err;
}

/*
 * OSD_LIST (may be empty): every item a nest of NUM, PORT and exactly one
 * address; the items of one OSD (same NUM, same PORT) give its addresses.
 */
static int vs_parse_osds(struct nlattr *list, struct vs_map *map,
			 struct netlink_ext_ack *extack)
{
	struct vs_map_osd *items;
	struct nlattr *item;
	unsigned int n = 0, i = 0;
	int rem, err;

	nla_for_each_nested(item, list, rem)
		n++;
	if (rem) {
		NL_SET_ERR_MSG_ATTR(extack, list, "trailing bytes in OSD_LIST");
		return -EINVAL;
	}
	if (!n)
		return 0;	/* no PG has a primary now: all I/O waits */
	items = kvcalloc(n, sizeof(*items), GFP_KERNEL);
	if (!items)
		return -ENOMEM;
	nla_for_each_nested(item, list, rem) {
		err = vs_osd_item(item, &items[i], extack);
		if (err)
			goto out;
		i++;
	}
	err = vs_merge_osds(items, n, map, list, extack);
out:
	kvfree(items);
	return err;
}

/* PG_TABLE: exactly the PGs 1..pg_count, each with a known primary or 0. */
static int vs_parse_pgs(struct nlattr *table, struct vs_map *map,
			struct netlink_ext_ack *extack)
{
	struct nlattr *tb[VS_PG_ATTR_MAX + 1];
	unsigned long *seen;
	struct nlattr *item;
	unsigned int n = 0;
	int rem, err;
	u64 primary;
	u32 num;

	seen = bitmap_zalloc(map->pg_count + 1, GFP_KERNEL);
	if (!seen)
		return -ENOMEM;
	err = -EINVAL;
	nla_for_each_nested(item, table, rem) {
		if (nla_type(item) != VS_PG_TABLE_ITEM) {
			NL_SET_ERR_MSG_ATTR(extack, item,
					    "PG_TABLE holds only ITEM nests");
			goto out;
		}
		err = nla_parse_nested(tb, VS_PG_ATTR_MAX, item, vs_pg_policy,
				       extack);
		if (err)
			goto out;
		err = -EINVAL;
		if (!tb[VS_PG_ATTR_NUM]) {
			NL_SET_ERR_MSG_ATTR(extack, item, "PG item without NUM");
			NL_SET_ERR_ATTR_MISS(extack, item, VS_PG_ATTR_NUM);
			goto out;
		}
		if (!tb[VS_PG_ATTR_PRIMARY]) {
			NL_SET_ERR_MSG_ATTR(extack, item, "PG item without PRIMARY");
			NL_SET_ERR_ATTR_MISS(extack, item, VS_PG_ATTR_PRIMARY);
			goto out;
		}
		num = nla_get_u32(tb[VS_PG_ATTR_NUM]);
		if (num > map->pg_count) {
			NL_SET_ERR_MSG_ATTR(extack, tb[VS_PG_ATTR_NUM],
					    "PG number above PG_COUNT");
			goto out;
		}
		if (test_and_set_bit(num, seen)) {
			NL_SET_ERR_MSG_ATTR(extack, tb[VS_PG_ATTR_NUM],
					    "PG listed twice");
			goto out;
		}
		primary = nla_get_u64(tb[VS_PG_ATTR_PRIMARY]);
		if (primary && !vs_map_osd_find(map, primary)) {
			NL_SET_ERR_MSG_ATTR(extack, tb[VS_PG_ATTR_PRIMARY],
					    "PG primary is not in OSD_LIST");
			goto out;
		}
		map->primary[num - 1] = primary;
		n++;
	}
	if (rem) {
		NL_SET_ERR_MSG_ATTR(extack, table, "trailing bytes in PG_TABLE");
		goto out;
	}
	if (n != map->pg_count) {
		NL_SET_ERR_MSG_ATTR(extack, table,
				    "PG_TABLE must list every PG up to PG_COUNT");
		goto out;
	}
	err = 0;
out:
	bitmap_free(seen);
	return err;
}

/* ---- PG_TABLE_PART: tables in pieces, at the message's top level ---- */

static const char *const vs_part_missing[VS_PG_PART_ATTR_MAX + 1] = {
	[VS_PG_PART_ATTR_POOL_ID] = "PG_TABLE_PART without POOL_ID",
	[VS_PG_PART_ATTR_FIRST] = "PG_TABLE_PART without FIRST",
	[VS_PG_PART_ATTR_PRIMARIES] = "PG_TABLE_PART without PRIMARIES",
};

/* A part (the genl core checked its policy) into tb, with all of tb. */
static int vs_part_get(const struct nlattr *part, struct nlattr **tb,
		       struct netlink_ext_ack *extack)
{
	int err, i;

	err = nla_parse_nested(tb, VS_PG_PART_ATTR_MAX, part,
			       vs_pg_part_policy, extack);
	if (err)
		return err;
	for (i = 1; i <= VS_PG_PART_ATTR_MAX; i++) {
		if (tb[i])
			continue;
		/* the messages are literals, but not to the macro */
		if (extack) {
			extack->_msg = vs_part_missing[i];
			extack->bad_attr = part;
		}
		NL_SET_ERR_ATTR_MISS(extack, part, i);
		return -EINVAL;
	}
	return 0;
}

/* A part of map's pool, the next being PG *next: into map->primary. */
static int vs_part_fill(struct nlattr **tb, struct vs_map *map, u32 *next,
			struct netlink_ext_ack *extack)
{
	struct nlattr *prim = tb[VS_PG_PART_ATTR_PRIMARIES];
	u32 first = nla_get_u32(tb[VS_PG_PART_ATTR_FIRST]);
	u32 n = nla_len(prim) / sizeof(u64), i;
	const u64 *p = nla_data(prim);
	u64 primary;

	if (first < *next) {
		NL_SET_ERR_MSG_ATTR(extack, tb[VS_PG_PART_ATTR_FIRST],
				    "PG_TABLE_PART overlaps the previous part of its pool");
		return -EINVAL;
	}
	if (first > *next) {
		NL_SET_ERR_MSG_ATTR(extack, tb[VS_PG_PART_ATTR_FIRST],
				    "PG_TABLE_PART leaves a gap (the parts of a pool start at PG 1, in order)");
		return -EINVAL;
	}
	if ((u64)first - 1 + n > map->pg_count) {
		NL_SET_ERR_MSG_ATTR(extack, prim, "PG_TABLE_PART runs beyond PG_COUNT");
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		/* attributes are 4-byte aligned only */
		primary = get_unaligned(p + i);
		if (primary && !vs_map_osd_find(map, primary)) {
			NL_SET_ERR_MSG_ATTR(extack, prim,
					    "PG primary is not in OSD_LIST");
			return -EINVAL;
		}
		map->primary[first - 1 + i] = primary;
	}
	*next = first + n;
	return 0;
}

/*
 * The PG_TABLE_PARTs of map's pool into map->primary; with table (the
 * map's PG_TABLE), a check that there are none. item: the POOLS item of
 * the map, NULL at the top level (for the message of a missing table).
 */
static int vs_parse_parts(const struct genl_info *info, struct vs_map *map,
			  const struct nlattr *table, const struct nlattr *item)
{
	struct netlink_ext_ack *extack = info->extack;
	struct nlattr *tb[VS_PG_PART_ATTR_MAX + 1];
	struct nlattr *part, *last = NULL;
	u32 next = 1;
	int rem, err;

	nla_for_each_attr(part, genlmsg_data(info->genlhdr),
			  genlmsg_len(info->genlhdr), rem) {
		if (nla_type(part) != VS_ATTR_PG_TABLE_PART)
			continue;
		err = vs_part_get(part, tb, extack);
		if (err)
			return err;
		if (nla_get_u32(tb[VS_PG_PART_ATTR_POOL_ID]) != map->pool_id)
			continue;
		if (table) {
			NL_SET_ERR_MSG_ATTR(extack, part,
					    "PG_TABLE_PART of a pool whose map has a PG_TABLE");
			return -EINVAL;
		}
		err = vs_part_fill(tb, map, &next, extack);
		if (err)
			return err;
		last = part;
	}
	if (table)
		return 0;
	if (!last) {
		if (extack) {
			extack->_msg = item ? "POOLS item without PG_TABLE" :
				       "missing attribute PG_TABLE (or PG_TABLE_PART of POOL_ID)";
			extack->bad_attr = item;
		}
		NL_SET_ERR_ATTR_MISS(extack, item, VS_ATTR_PG_TABLE);
		return -EINVAL;
	}
	if (next != map->pg_count + 1) {
		NL_SET_ERR_MSG_ATTR(extack, last,
				    "the PG_TABLE_PARTs of a pool end before its PG_COUNT");
		return -EINVAL;
	}
	return 0;
}

static bool vs_maps_have(struct vs_map **maps, u32 n, u32 pool)
{
	u32 i;

	for (i = 0; i < n; i++)
		if (maps[i]->pool_id == pool)
			return true;
	return false;
}

/*
 * After the n maps of a message: every PG_TABLE_PART must be of one of
 * them (the parts of another pool would be ignored otherwise).
 */
int vs_parts_check_pools(const struct genl_info *info, struct vs_map **maps,
			 u32 n)
{
	struct nlattr *tb[VS_PG_PART_ATTR_MAX + 1];
	struct nlattr *part;
	int rem, err;

	nla_for_each_attr(part, genlmsg_data(info->genlhdr),
			  genlmsg_len(info->genlhdr), rem) {
		if (nla_type(part) != VS_ATTR_PG_TABLE_PART)
			continue;
		err = vs_part_get(part, tb, info->extack);
		if (err)
			return err;
		if (!vs_maps_have(maps, n, nla_get_u32(tb[VS_PG_PART_ATTR_POOL_ID]))) {
			NL_SET_ERR_MSG_ATTR(info->extack, tb[VS_PG_PART_ATTR_POOL_ID],
					    "PG_TABLE_PART of a pool the message has no map of");
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * The map of MAP or SET_MAP, or of a POOLS item (item) of MAP, from its
 * attributes a. POOL_ID, PG_COUNT, MAP_EPOCH and OSD_LIST are present
 * (checked by the caller); PG_STRIPE_SIZE is optional; the PG table is
 * PG_TABLE or the message's PG_TABLE_PARTs of POOL_ID. Returns NULL with
 * *err (and extack) on failure.
 */
struct vs_map *vs_map_from_attrs(struct nlattr **a, const struct nlattr *item,
				 const struct genl_info *info, int *err)
{
	struct netlink_ext_ack *extack = info->extack;
	struct vs_map *map;

	map = kzalloc(sizeof(*map), GFP_KERNEL);
	if (!map) {
		*err = -ENOMEM;
		return NULL;
	}
	kref_init(&map->ref);
	map->pool_id = nla_get_u32(a[VS_ATTR_POOL_ID]);
	map->pg_count = nla_get_u32(a[VS_ATTR_PG_COUNT]);
	map->epoch = nla_get_u64(a[VS_ATTR_MAP_EPOCH]);
	if (a[VS_ATTR_PG_STRIPE_SIZE])
		map->pg_stripe_size = nla_get_u64(a[VS_ATTR_PG_STRIPE_SIZE]);
	*err = vs_parse_osds(a[VS_ATTR_OSD_LIST], map, extack);
	if (!*err) {
		map->primary = kvcalloc(map->pg_count, sizeof(u64), GFP_KERNEL);
		if (!map->primary)
			*err = -ENOMEM;
	}
	if (!*err)
		*err = vs_parse_parts(info, map, a[VS_ATTR_PG_TABLE], item);
	if (!*err && a[VS_ATTR_PG_TABLE])
		*err = vs_parse_pgs(a[VS_ATTR_PG_TABLE], map, extack);
	if (*err) {
		vs_map_put(map);
		return NULL;
	}
	return map;
}

/* ---- routes ---- */

static bool vs_same_addrs(const struct vs_map_osd *a, const struct vs_map_osd *b)
{
	return a->port == b->port && a->naddrs == b->naddrs &&
	       !memcmp(a->addrs, b->addrs, a->naddrs * sizeof(a->addrs[0]));
}

static struct vs_conn *vs_route_take(const struct vs_route *old,
				     const struct vs_map_osd *osd, u32 slot)
{
	u32 i;

	if (!old)
		return NULL;
	for (i = 0; i < old->nconns; i++) {
		struct vs_conn *c = old->conns[i];

		if (c && c->osd_num == osd->num && c->slot == slot &&
		    vs_same_addrs(c->osd, osd))
			return c;
	}
	return NULL;
}

static bool vs_route_has(const struct vs_route *r, const struct vs_conn *c)
{
	u32 i;

	for (i = 0; r && i < r->nconns; i++)
		if (r->conns[i] == c)
			return true;
	return false;
}

/*
 * A route for map (whose reference the route takes over). Connections of
 * old whose OSD keeps its address move to the new route (and point at the
 * new map's OSD entry); vs_route_retire() then kills the rest.
 */
struct vs_route *vs_route_build(struct vs_dev *dev, struct vs_map *map,
				const struct vs_route *old)
{
	u32 per = dev->p.conns_per_osd + dev->npoll, n = map->n_osds * per, i, s;
	struct vs_route *r;

	r = kvzalloc(struct_size(r, conns, n), GFP_KERNEL);
	if (!r)
		return NULL;
	r->map = map;
	r->conns_per_osd = per;
	r->data_slots = dev->p.conns_per_osd;
	r->nconns = n;
	for (i = 0; i < map->n_osds; i++) {
		for (s = 0; s < per; s++) {
			struct vs_conn *c = vs_route_take(old, &map->osds[i], s);

			if (!c) {
				c = vs_conn_new(dev, &map->osds[i], s);
				if (!c)
					goto fail;
			}
			r->conns[i * per + s] = c;
		}
	}
	/* Commit: kept connections now refer to the new map's entries. */
	for (i = 0; i < n; i++) {
		struct vs_conn *c = r->conns[i];

		spin_lock_bh(&c->lock);
		c->osd = &map->osds[i / per];
		spin_unlock_bh(&c->lock);
	}
	return r;
fail:
	/* undo: new connections only; kept ones still belong to old */
	for (i = 0; i < n; i++) {
		struct vs_conn *c = r->conns[i];

		if (c && !vs_route_has(old, c))
			vs_conn_free(c);
	}
	kvfree(r);
	return NULL;
}

/*
 * After cur replaced old (and an RCU grace period passed): kill and free
 * the connections of old that cur does not have; their parts are routed
 * again. Frees old and drops its map.
 */
void vs_route_retire(struct vs_dev *dev, struct vs_route *old,
		     const struct vs_route *cur)
{
	struct vs_part *part, *tmp;
	LIST_HEAD(parts);
	u32 i;

	if (!old)
		return;
	for (i = 0; i < old->nconns; i++) {
		struct vs_conn *c = old->conns[i];

		if (!c || vs_route_has(cur, c))
			continue;
		vs_conn_kill(c, &parts);
		vs_conn_free(c);
	}
	list_for_each_entry_safe(part, tmp, &parts, node) {
		list_del_init(&part->node);
		vs_dev_route_part(dev, part);
	}
	vs_map_put(old->map);
	kvfree(old);
}

/* Teardown of a device: every connection of route, failing their parts. */
void vs_route_free_all(struct vs_dev *dev, struct vs_route *route)
{
	struct vs_part *part, *tmp;
	LIST_HEAD(parts);
	u32 i;

	if (!route)
		return;
	for (i = 0; i < route->nconns; i++)
		if (route->conns[i])
			vs_conn_kill(route->conns[i], &parts);
	list_for_each_entry_safe(part, tmp, &parts, node) {
		list_del_init(&part->node);
		vs_part_done(part, -EIO, NULL);
	}
	for (i = 0; i < route->nconns; i++)
		if (route->conns[i])
			vs_conn_free(route->conns[i]);
	vs_map_put(route->map);
	kvfree(route);
}

/*
 * PG (1-based) of the object holding byte offset of the image in map's
 * pool, whose objects are that pool's stripes (a parent pool may have
 * other data_chunks than the device's).
 */
u32 vs_route_pg(const struct vs_dev *dev, const struct vs_map *map, u64 offset)
{
	int idx = vs_dev_pool_index(dev, map->pool_id);
	u64 size = vs_dev_route_stripe(dev, idx < 0 ? 0 : idx);
	u64 stripe = offset - vs_u64_rem(offset, size);
	u64 pss = map->pg_stripe_size;

	if (pss < size)
		pss = size;
	return (u32)vs_u64_rem(div64_u64(stripe, pss), map->pg_count) + 1;
}
