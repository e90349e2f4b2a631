/* vsctl: talking to vstor.ko over its generic netlink family (see
 * common/vstor_genl.h): requests with extended-ack error messages, the
 * device list, PG maps as netlink attributes, and the event group. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "vsctl_nl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

int vs_nl_open(struct vs_nl *nl, bool events)
{
	struct timeval tv = { .tv_sec = 30 };
	int one = 1;

	memset(nl, 0, sizeof(*nl));
	nl->sk = nl_socket_alloc();
	if (!nl->sk) {
		snprintf(nl->err, sizeof(nl->err), "out of memory");
		return -ENOMEM;
	}
	if (genl_connect(nl->sk)) {
		snprintf(nl->err, sizeof(nl->err), "cannot open a generic netlink socket");
		goto fail;
	}
	nl->family = genl_ctrl_resolve(nl->sk, VS_GENL_NAME);
	if (nl->family < 0) {
		snprintf(nl->err, sizeof(nl->err),
			 "the vstor kernel module is not loaded (run 'modprobe vstor' as root)");
		goto fail;
	}
	setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	if (events) {
		int grp = genl_ctrl_resolve_grp(nl->sk, VS_GENL_NAME, VS_GENL_MCAST_GROUP);

		if (grp < 0 || nl_socket_add_membership(nl->sk, grp)) {
			snprintf(nl->err, sizeof(nl->err), "cannot join the %s event group",
				 VS_GENL_MCAST_GROUP);
			goto fail;
		}
		nl_socket_disable_seq_check(nl->sk);
		nl_socket_set_nonblocking(nl->sk);
	} else {
		setsockopt(nl_socket_get_fd(nl->sk), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	return 0;
fail:
	nl_socket_free(nl->sk);
	nl->sk = NULL;
	return -ENOENT;
}

void vs_nl_close(struct vs_nl *nl)
{
	if (nl->sk)
		nl_socket_free(nl->sk);
	nl->sk = NULL;
}

static struct nl_msg *msg_new(struct vs_nl *nl, int cmd, int flags, size_t size)
{
	struct nl_msg *msg = size ? nlmsg_alloc_size(size) : nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0, flags,
				(uint8_t)cmd, VS_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

struct nl_msg *vs_nl_msg(struct vs_nl *nl, int cmd, int flags)
{
	return msg_new(nl, cmd, flags, 0);
}

/* libnl's default message is a page, which holds the PG table of ~160 PGs
 * only: a MAP or SET_MAP gets room for its maps, and the socket a send
 * buffer that takes it (the kernel refuses a message above sk_sndbuf with
 * EMSGSIZE; FORCE passes wmem_max with CAP_NET_ADMIN, which MAP needs). */
struct nl_msg *vs_nl_msg_maps(struct vs_nl *nl, int cmd, size_t maps_size)
{
	size_t size = 8192 + maps_size;
	int fd = nl_socket_get_fd(nl->sk), buf = (int)(size + 4096);

	if (size > (1u << 30))
		return NULL;
	if (size > 128 * 1024 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	return msg_new(nl, cmd, 0, size);
}

struct call {
	struct vs_nl *nl;
	vs_nl_reply_cb *cb;
	void *arg;
	int err;
	bool done;
};

/* The extack message after an error, if any. */
static void ack_msg(struct vs_nl *nl, struct nlmsgerr *e)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)e - 1;
	unsigned char *p = (unsigned char *)e + sizeof(*e);
	unsigned char *end = (unsigned char *)nlh + nlh->nlmsg_len;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		p += NLMSG_ALIGN(e->msg.nlmsg_len) - NLMSG_HDRLEN;
	while (p + NLA_HDRLEN <= end) {
		struct nlattr *a = (struct nlattr *)p;

		if (a->nla_len < NLA_HDRLEN || p + a->nla_len > end)
			break;
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG)
			snprintf(nl->err, sizeof(nl->err), "%.*s", (int)(a->nla_len - NLA_HDRLEN),
				 (const char *)(p + NLA_HDRLEN));
		p += NLA_ALIGN(a->nla_len);
	}
}

static int err_cb(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct call *c = arg;

	c->err = e->error;
	c->done = true;
	if (e->error)
		ack_msg(c->nl, e);
	return NL_STOP;
}

static int done_cb(struct nl_msg *msg, void *arg)
{
	struct call *c = arg;

	c->done = true;
	return NL_STOP;
}

static int valid_cb(struct nl_msg *msg, void *arg)
{
	struct call *c = arg;
	struct nlattr *tb[VS_ATTR_MAX + 1];

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, VS_ATTR_MAX, NULL))
		return NL_SKIP;
	if (c->cb)
		c->cb(c->arg, genlmsg_hdr(nlmsg_hdr(msg))->cmd, tb);
	return NL_OK;
}

int vs_nl_call(struct vs_nl *nl, struct nl_msg *msg, vs_nl_reply_cb *cb, void *arg)
{
	struct call c = { .nl = nl, .cb = cb, .arg = arg };
	struct nl_cb *ncb;
	int err;

	nl->err[0] = 0;
	err = nl_send_auto(nl->sk, msg);
	nlmsg_free(msg);
	if (err < 0) {
		snprintf(nl->err, sizeof(nl->err), "netlink send: %s", nl_geterror(err));
		return -EIO;
	}
	ncb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!ncb)
		return -ENOMEM;
	nl_cb_set(ncb, NL_CB_VALID, NL_CB_CUSTOM, valid_cb, &c);
	nl_cb_set(ncb, NL_CB_FINISH, NL_CB_CUSTOM, done_cb, &c);
	nl_cb_set(ncb, NL_CB_ACK, NL_CB_CUSTOM, done_cb, &c);
	nl_cb_err(ncb, NL_CB_CUSTOM, err_cb, &c);
	while (!c.done) {
		err = nl_recvmsgs(nl->sk, ncb);
		if (err < 0 && !c.done) {
			snprintf(nl->err, sizeof(nl->err), "netlink receive: %s", nl_geterror(err));
			c.err = -EIO;
			break;
		}
	}
	nl_cb_put(ncb);
	if (c.err && !nl->err[0])
		snprintf(nl->err, sizeof(nl->err), "%s", strerror(-c.err));
	return c.err;
}

/* Events: one non-blocking read of whatever is queued. */
int vs_nl_events(struct vs_nl *nl, vs_nl_reply_cb *cb, void *arg)
{
	struct call c = { .nl = nl, .cb = cb, .arg = arg };
	struct nl_cb *ncb = nl_cb_alloc(NL_CB_DEFAULT);
	int err;

	if (!ncb)
		return -ENOMEM;
	nl_cb_set(ncb, NL_CB_VALID, NL_CB_CUSTOM, valid_cb, &c);
	err = nl_recvmsgs(nl->sk, ncb);
	nl_cb_put(ncb);
	return err == -NLE_AGAIN ? 0 : err;
}

/* ---- devices ---- */

static void list_cb(void *arg, int cmd, struct nlattr **tb)
{
	struct vs_kdevs *l = arg;
	struct vs_kdev *d, *n;

	if (!tb[VS_ATTR_DEV_INDEX])
		return;
	n = realloc(l->devs, (l->n + 1) * sizeof(*n));
	if (!n)
		return;
	l->devs = n;
	d = &l->devs[l->n++];
	memset(d, 0, sizeof(*d));
	d->index = nla_get_u32(tb[VS_ATTR_DEV_INDEX]);
#define U32(a, f) if (tb[a]) d->f = nla_get_u32(tb[a])
#define U64(a, f) if (tb[a]) d->f = nla_get_u64(tb[a])
	U64(VS_ATTR_INODE, inode);
	U64(VS_ATTR_SIZE, size);
	U32(VS_ATTR_POOL_ID, pool_id);
	U32(VS_ATTR_DEV_STATE, state);
	U32(VS_ATTR_INFLIGHT, inflight);
	U64(VS_ATTR_MAP_EPOCH, epoch);
	U32(VS_ATTR_FLAGS, flags);
	U64(VS_ATTR_FEATURES, features);
	U32(VS_ATTR_TIMEOUT_MS, timeout_ms);
#undef U32
#undef U64
	if (tb[VS_ATTR_IMMEDIATE_COMMIT])
		d->immediate_commit = nla_get_u8(tb[VS_ATTR_IMMEDIATE_COMMIT]);
	if (tb[VS_ATTR_POOL_NAME])
		snprintf(d->pool, sizeof(d->pool), "%s", nla_get_string(tb[VS_ATTR_POOL_NAME]));
	if (tb[VS_ATTR_IMAGE_NAME])
		snprintf(d->image, sizeof(d->image), "%s", nla_get_string(tb[VS_ATTR_IMAGE_NAME]));
	if (tb[VS_ATTR_LAYERS]) {
		struct nlattr *it;
		int rem;

		nla_for_each_nested(it, tb[VS_ATTR_LAYERS], rem) {
			struct nlattr *lt[VS_LAYER_ATTR_MAX + 1];

			if (d->nlayers == VS_GENL_MAX_LAYERS ||
			    nla_parse_nested(lt, VS_LAYER_ATTR_MAX, it, NULL) ||
			    !lt[VS_LAYER_ATTR_INODE])
				continue;
			d->layers[d->nlayers++] = nla_get_u64(lt[VS_LAYER_ATTR_INODE]);
		}
	}
	if (tb[VS_ATTR_POOLS]) {
		struct nlattr *it;
		int rem;

		nla_for_each_nested(it, tb[VS_ATTR_POOLS], rem) {
			struct nlattr *pt[VS_ATTR_MAX + 1];

			if (d->nxpools == VS_GENL_MAX_POOLS ||
			    nla_parse_nested(pt, VS_ATTR_MAX, it, NULL) ||
			    !pt[VS_ATTR_POOL_ID] || !pt[VS_ATTR_MAP_EPOCH])
				continue;
			d->xpool[d->nxpools] = nla_get_u32(pt[VS_ATTR_POOL_ID]);
			d->xepoch[d->nxpools++] = nla_get_u64(pt[VS_ATTR_MAP_EPOCH]);
		}
	}
}

static void features_cb(void *arg, int cmd, struct nlattr **tb)
{
	if (tb[VS_ATTR_FEATURES])
		*(uint64_t *)arg = nla_get_u64(tb[VS_ATTR_FEATURES]);
}

int vs_nl_features(struct vs_nl *nl, uint64_t *out)
{
	struct nl_msg *msg = vs_nl_msg(nl, VS_CMD_LIST, 0);

	*out = 0;
	if (!msg)
		return -ENOMEM;
	nla_put_u64(msg, VS_ATTR_FEATURES, VS_FEAT_KNOWN);
	return vs_nl_call(nl, msg, features_cb, out);
}

int vs_nl_list(struct vs_nl *nl, struct vs_kdevs *out)
{
	struct nl_msg *msg = vs_nl_msg(nl, VS_CMD_LIST, NLM_F_DUMP);

	memset(out, 0, sizeof(*out));
	if (!msg)
		return -ENOMEM;
	return vs_nl_call(nl, msg, list_cb, out);
}

void vs_kdevs_free(struct vs_kdevs *l)
{
	free(l->devs);
	memset(l, 0, sizeof(*l));
}

const char *vs_dev_state_name(uint32_t state)
{
	static const char *const names[] = {
		[VS_DEV_STATE_UNSPEC] = "unknown", [VS_DEV_STATE_CONNECTING] = "connecting",
		[VS_DEV_STATE_ACTIVE] = "active", [VS_DEV_STATE_DEGRADED] = "degraded",
		[VS_DEV_STATE_DEAD] = "dead", [VS_DEV_STATE_REMOVING] = "removing",
	};

	return state <= VS_DEV_STATE_MAX ? names[state] : "unknown";
}

/* ---- maps ---- */

/* Whether an address of o parses (IPv4 other than 0.0.0.0, or IPv6);
 * with msg, one OSD_LIST item per such address. */
static bool put_osd(struct nl_msg *msg, const struct vstor_map_osd *o)
{
	bool any = false;

	for (size_t k = 0; k < o->naddrs; k++) {
		struct in_addr a4;
		struct in6_addr a6;
		struct nlattr *it;
		int v4 = inet_pton(AF_INET, o->addrs[k], &a4) == 1;

		if (!v4 && inet_pton(AF_INET6, o->addrs[k], &a6) != 1)
			continue;
		if (v4 && !a4.s_addr)
			continue;
		any = true;
		if (!msg)
			continue;
		it = nla_nest_start(msg, VS_OSD_LIST_ITEM);
		nla_put_u64(msg, VS_OSD_ATTR_NUM, o->num);
		if (v4)
			nla_put_u32(msg, VS_OSD_ATTR_ADDR4, a4.s_addr);
		else
			nla_put(msg, VS_OSD_ATTR_ADDR6, 16, &a6);
		nla_put_u16(msg, VS_OSD_ATTR_PORT, (uint16_t)o->port);
		nla_nest_end(msg, it);
	}
	return any;
}

/* The primary of every PG as the kernel gets it: 0 where the primary has
 * no address we can use (its I/O waits); NULL when out of memory. */
static uint64_t *map_primaries(const struct vstor_pool_map *m)
{
	uint64_t *prim = calloc(m->pg_count ? m->pg_count : 1, sizeof(*prim));
	bool *usable = calloc(m->nosds + 1, sizeof(bool));

	if (!prim || !usable) {
		free(usable);
		free(prim);
		return NULL;
	}
	for (size_t i = 0; i < m->nosds; i++)
		usable[i] = put_osd(NULL, &m->osds[i]);
	for (uint32_t pg = 0; pg < m->pg_count; pg++) {
		size_t i;

		for (i = 0; m->primary[pg] && i < m->nosds; i++)
			if (m->osds[i].num == m->primary[pg])
				break;
		if (m->primary[pg] && i < m->nosds && usable[i])
			prim[pg] = m->primary[pg];
	}
	free(usable);
	return prim;
}

uint32_t vs_nl_map_reachable(const struct vstor_pool_map *m)
{
	uint64_t *prim = map_primaries(m);
	uint32_t n = 0;

	if (!prim)
		return m->pg_count;	/* out of memory: no warning */
	for (uint32_t pg = 0; pg < m->pg_count; pg++)
		n += prim[pg] != 0;
	free(prim);
	return n;
}

size_t vs_nl_map_size(const struct vstor_pool_map *m)
{
	/* per PG: item 4 + NUM 8 + PRIMARY 12 (a part: 8 and 24 per part);
	 * per address: item 4 + NUM 12 + ADDR6 20 + PORT 8; the pool's other
	 * attributes and a POOLS item */
	size_t n = 128 + (size_t)m->pg_count * 24;

	for (size_t i = 0; i < m->nosds; i++)
		n += m->osds[i].naddrs * 44;
	return n;
}

static int put_pg_table(struct nl_msg *msg, const struct vstor_pool_map *m, const uint64_t *prim)
{
	struct nlattr *t = nla_nest_start(msg, VS_ATTR_PG_TABLE);

	for (uint32_t pg = 0; pg < m->pg_count; pg++) {
		struct nlattr *it = nla_nest_start(msg, VS_PG_TABLE_ITEM);

		nla_put_u32(msg, VS_PG_ATTR_NUM, pg + 1);
		nla_put_u64(msg, VS_PG_ATTR_PRIMARY, prim[pg]);
		nla_nest_end(msg, it);
	}
	/* a nest is at most 64 KiB: VS_NL_MAX_PGS items (libnl drops a longer one) */
	return nla_nest_end(msg, t) < 0 ? -E2BIG : 0;
}

/* The PG_TABLE_PARTs of m at the top level of msg. */
static int put_pg_parts(struct nl_msg *msg, const struct vstor_pool_map *m, const uint64_t *prim)
{
	for (uint32_t first = 0; first < m->pg_count; first += VS_GENL_PG_PART_MAX_PGS) {
		uint32_t n = m->pg_count - first;
		struct nlattr *t = nla_nest_start(msg, VS_ATTR_PG_TABLE_PART);

		if (n > VS_GENL_PG_PART_MAX_PGS)
			n = VS_GENL_PG_PART_MAX_PGS;
		if (!t || nla_put_u32(msg, VS_PG_PART_ATTR_POOL_ID, m->pool_id) ||
		    nla_put_u32(msg, VS_PG_PART_ATTR_FIRST, first + 1) ||
		    nla_put(msg, VS_PG_PART_ATTR_PRIMARIES, (int)(n * sizeof(*prim)), prim + first) ||
		    nla_nest_end(msg, t) < 0)
			return -E2BIG;
	}
	return 0;
}

/* POOL_ID .. OSD_LIST of m, and its PG_TABLE unless parts. */
static int put_map(struct nl_msg *msg, const struct vstor_pool_map *m, bool parts)
{
	struct nlattr *t;
	uint64_t *prim;
	int err = 0;

	nla_put_u32(msg, VS_ATTR_POOL_ID, m->pool_id);
	nla_put_u32(msg, VS_ATTR_PG_COUNT, m->pg_count);
	nla_put_u64(msg, VS_ATTR_PG_STRIPE_SIZE, m->pg_stripe_size);
	nla_put_u64(msg, VS_ATTR_MAP_EPOCH, m->epoch ? m->epoch : 1);
	t = nla_nest_start(msg, VS_ATTR_OSD_LIST);
	for (size_t i = 0; i < m->nosds; i++)
		put_osd(msg, &m->osds[i]);
	/* with every OSD down the list is empty, and the kernel requires it:
	 * plain nla_nest_end would drop an empty nest */
	if (nla_nest_end_keep_empty(msg, t) < 0)
		return -E2BIG;
	if (parts)
		return 0;
	prim = map_primaries(m);
	if (!prim)
		return -ENOMEM;
	err = put_pg_table(msg, m, prim);
	free(prim);
	return err;
}

static int put_parts(struct nl_msg *msg, const struct vstor_pool_map *m)
{
	uint64_t *prim = map_primaries(m);
	int err;

	if (!prim)
		return -ENOMEM;
	err = put_pg_parts(msg, m, prim);
	free(prim);
	return err;
}

int vs_nl_put_map(struct nl_msg *msg, const struct vstor_pool_map *m, bool parts)
{
	int err = put_map(msg, m, parts);

	return err || !parts ? err : put_parts(msg, m);
}

int vs_nl_put_pools(struct nl_msg *msg, const struct vstor_pool_map *maps, size_t n, bool parts)
{
	struct nlattr *t, *it;

	if (!n)
		return 0;
	t = nla_nest_start(msg, VS_ATTR_POOLS);
	for (size_t i = 0; i < n; i++) {
		it = nla_nest_start(msg, VS_POOLS_ITEM);
		if (put_map(msg, &maps[i], parts))
			return -E2BIG;
		nla_put_u32(msg, VS_ATTR_BLOCK_SIZE, maps[i].block_size);
		nla_put_u32(msg, VS_ATTR_BITMAP_GRANULARITY, maps[i].bitmap_granularity);
		if (maps[i].data_chunks > 1)
			nla_put_u32(msg, VS_ATTR_DATA_CHUNKS, maps[i].data_chunks);
		if (nla_nest_end(msg, it) < 0)
			return -E2BIG;
	}
	if (nla_nest_end(msg, t) < 0)
		return -E2BIG;
	/* the tables of the items: at the top level, POOLS is one attribute */
	for (size_t i = 0; parts && i < n; i++)
		if (put_parts(msg, &maps[i]))
			return -E2BIG;
	return 0;
}

void vs_nl_put_layers(struct nl_msg *msg, const uint64_t *layers, size_t n)
{
	struct nlattr *t, *it;

	if (!n)
		return;
	t = nla_nest_start(msg, VS_ATTR_LAYERS);
	for (size_t i = 0; i < n; i++) {
		it = nla_nest_start(msg, VS_LAYER_ITEM);
		nla_put_u64(msg, VS_LAYER_ATTR_INODE, layers[i]);
		nla_nest_end(msg, it);
	}
	nla_nest_end(msg, t);
}
