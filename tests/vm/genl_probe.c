/*
 * genl_probe: exercises the "vstor" generic netlink family of vstor.ko from
 * inside the test VM. Prints PASS:/FAIL: lines; exits 0 only if all passed.
 *
 *   genl_probe [--seed N] [--fuzz N]   the full probe (default 1000 fuzz msgs)
 *   genl_probe --absent                passes if the family is not registered
 *
 * libnl resolves the family; messages are built and parsed by hand so that
 * malformed ones can be sent and extack TLVs read exactly.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>

#include "vstor_genl.h"

static int failures;

static void report(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", ok ? "PASS" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

/* ---- message building ---- */

struct msg {
	/* a MAP of 65536 PGs in PG_TABLE_PARTs and a POOLS item of 4096 */
	unsigned char buf[768 << 10];
	size_t len;
};

static void msg_init(struct msg *m, int family, uint8_t cmd, uint16_t flags)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)m->buf;
	struct genlmsghdr *gh;

	memset(m->buf, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	nh->nlmsg_type = (uint16_t)family;
	nh->nlmsg_flags = flags;
	gh = (struct genlmsghdr *)(m->buf + NLMSG_HDRLEN);
	gh->cmd = cmd;
	gh->version = VS_GENL_VERSION;
	m->len = NLMSG_HDRLEN + GENL_HDRLEN;
}

static size_t put(struct msg *m, uint16_t type, const void *data, size_t dlen)
{
	struct nlattr *a = (struct nlattr *)(m->buf + m->len);
	size_t off = m->len;
	size_t total = NLA_ALIGN(NLA_HDRLEN + dlen);

	if (m->len + total > sizeof(m->buf))
		return off;
	memset(a, 0, total);
	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + dlen);
	if (dlen && data)
		memcpy(m->buf + m->len + NLA_HDRLEN, data, dlen);
	m->len += total;
	return off;
}

static void put_u8(struct msg *m, uint16_t t, uint8_t v) { put(m, t, &v, 1); }
static void put_u16(struct msg *m, uint16_t t, uint16_t v) { put(m, t, &v, 2); }
static void put_u32(struct msg *m, uint16_t t, uint32_t v) { put(m, t, &v, 4); }
static void put_u64(struct msg *m, uint16_t t, uint64_t v) { put(m, t, &v, 8); }

static size_t nest_start(struct msg *m, uint16_t type, int flag)
{
	return put(m, type | (flag ? NLA_F_NESTED : 0), NULL, 0);
}

static void nest_end(struct msg *m, size_t off)
{
	struct nlattr *a = (struct nlattr *)(m->buf + off);

	a->nla_len = (uint16_t)(m->len - off);
}

/* ---- sending and receiving ---- */

struct result {
	int err;		/* from the ack or NLMSG_DONE; 1 if none seen */
	char msg[256];		/* extack message */
	int miss_type;		/* extack missing attribute, -1 if none */
	int replies;		/* messages of the family */
	int have_features;
	uint64_t features;
	int have_index;
	uint32_t dev_index;	/* of the last reply that had one */
	int map_replies;	/* MAP replies with a DEV_INDEX: devices made */
	uint64_t inode;		/* INODE of the last reply that had one */
	int layers;		/* LAYERS items of the last reply with LAYERS */
	int pools;		/* POOLS items of the last reply with POOLS */
	uint64_t pool_epoch;	/* MAP_EPOCH of its last POOLS item */
};

static int fd = -1, family_id;
static uint32_t seq = 1;
static unsigned char rxbuf[1 << 17];

static void parse_ack(const struct nlmsghdr *nh, struct result *r)
{
	const struct nlmsgerr *e = NLMSG_DATA(nh);
	const unsigned char *p, *end = (const unsigned char *)nh + nh->nlmsg_len;
	const struct nlattr *a;

	r->err = e->error;
	if (!(nh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	p = (const unsigned char *)e + sizeof(*e);
	if (!(nh->nlmsg_flags & NLM_F_CAPPED))
		p += NLMSG_ALIGN(e->msg.nlmsg_len) - NLMSG_HDRLEN;
	while (p + NLA_HDRLEN <= end) {
		a = (const struct nlattr *)p;
		if (a->nla_len < NLA_HDRLEN || p + a->nla_len > end)
			break;
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG)
			snprintf(r->msg, sizeof(r->msg), "%.*s",
				 (int)(a->nla_len - NLA_HDRLEN),
				 (const char *)(p + NLA_HDRLEN));
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MISS_TYPE &&
		    a->nla_len == NLA_HDRLEN + 4)
			memcpy(&r->miss_type, p + NLA_HDRLEN, 4);
		p += NLA_ALIGN(a->nla_len);
	}
}

/* The POOLS nest at p of a reply: its items and the last one's epoch. */
static void parse_pools(const unsigned char *p, struct result *r)
{
	const struct nlattr *a = (const struct nlattr *)p, *it, *x;
	const unsigned char *q = p + NLA_HDRLEN, *qe = p + a->nla_len, *y, *ye;

	r->pools = 0;
	while (q + NLA_HDRLEN <= qe) {
		it = (const struct nlattr *)q;
		if (it->nla_len < NLA_HDRLEN || q + it->nla_len > qe)
			break;
		r->pools++;
		for (y = q + NLA_HDRLEN, ye = q + it->nla_len; y + NLA_HDRLEN <= ye;
		     y += NLA_ALIGN(x->nla_len)) {
			x = (const struct nlattr *)y;
			if (x->nla_len < NLA_HDRLEN)
				break;
			if ((x->nla_type & NLA_TYPE_MASK) == VS_ATTR_MAP_EPOCH &&
			    x->nla_len == NLA_HDRLEN + 8)
				memcpy(&r->pool_epoch, y + NLA_HDRLEN, 8);
		}
		q += NLA_ALIGN(it->nla_len);
	}
}

static void parse_reply(const struct nlmsghdr *nh, struct result *r)
{
	const unsigned char *p = (const unsigned char *)NLMSG_DATA(nh) + GENL_HDRLEN;
	const unsigned char *end = (const unsigned char *)nh + nh->nlmsg_len;
	const struct nlattr *a;

	r->replies++;
	while (p + NLA_HDRLEN <= end) {
		a = (const struct nlattr *)p;
		if (a->nla_len < NLA_HDRLEN || p + a->nla_len > end)
			break;
		if ((a->nla_type & NLA_TYPE_MASK) == VS_ATTR_FEATURES &&
		    a->nla_len == NLA_HDRLEN + 8) {
			memcpy(&r->features, p + NLA_HDRLEN, 8);
			r->have_features = 1;
		}
		if ((a->nla_type & NLA_TYPE_MASK) == VS_ATTR_DEV_INDEX &&
		    a->nla_len == NLA_HDRLEN + 4) {
			memcpy(&r->dev_index, p + NLA_HDRLEN, 4);
			r->have_index = 1;
			if (((const struct genlmsghdr *)NLMSG_DATA(nh))->cmd == VS_CMD_MAP)
				r->map_replies++;
		}
		if ((a->nla_type & NLA_TYPE_MASK) == VS_ATTR_INODE &&
		    a->nla_len == NLA_HDRLEN + 8)
			memcpy(&r->inode, p + NLA_HDRLEN, 8);
		if ((a->nla_type & NLA_TYPE_MASK) == VS_ATTR_LAYERS) {
			const unsigned char *q = p + NLA_HDRLEN, *qe = p + a->nla_len;

			r->layers = 0;
			while (q + NLA_HDRLEN <= qe &&
			       ((const struct nlattr *)q)->nla_len >= NLA_HDRLEN) {
				r->layers++;
				q += NLA_ALIGN(((const struct nlattr *)q)->nla_len);
			}
		}
		if ((a->nla_type & NLA_TYPE_MASK) == VS_ATTR_POOLS)
			parse_pools(p, r);
		p += NLA_ALIGN(a->nla_len);
	}
}

/* Handles one datagram; returns 1 once the ack or NLMSG_DONE was seen. */
static int parse_datagram(ssize_t n, uint32_t want_seq, struct result *r)
{
	struct nlmsghdr *nh;
	size_t len = (size_t)n, off;
	int done = 0;

	/* NLMSG_OK wants an int length and mixes signs (clang warns) */
	for (off = 0; off + sizeof(*nh) <= len; off += NLMSG_ALIGN(nh->nlmsg_len)) {
		nh = (struct nlmsghdr *)(rxbuf + off);
		if (nh->nlmsg_len < sizeof(*nh) || nh->nlmsg_len > len - off)
			break;
		if (want_seq && nh->nlmsg_seq != want_seq)
			continue;
		if (nh->nlmsg_type == NLMSG_ERROR) {
			parse_ack(nh, r);
			done = 1;
		} else if (nh->nlmsg_type == NLMSG_DONE) {
			memcpy(&r->err, NLMSG_DATA(nh), sizeof(int));
			done = 1;
		} else if (nh->nlmsg_type == family_id) {
			parse_reply(nh, r);
		}
	}
	return done;
}

static int send_msg(struct msg *m, uint32_t s)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)m->buf;

	nh->nlmsg_len = (uint32_t)m->len;
	nh->nlmsg_seq = s;
	return send(fd, m->buf, m->len, 0) < 0 ? -errno : 0;
}

/* Sends a well-formed request and waits for its ack (or NLMSG_DONE). */
static void xfer(struct msg *m, struct result *r)
{
	uint32_t s = seq++;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	r->err = 1;
	r->miss_type = -1;
	r->layers = -1;
	if (send_msg(m, s)) {
		r->err = -errno;
		return;
	}
	for (;;) {
		n = recv(fd, rxbuf, sizeof(rxbuf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r->err = -errno;	/* timeout: no answer */
			return;
		}
		if (parse_datagram(n, s, r))
			return;
	}
}

/* Reads whatever the kernel queued without blocking; returns the acks. */
static void drain(struct result *r)
{
	ssize_t n;

	memset(r, 0, sizeof(*r));
	r->err = 1;
	r->miss_type = -1;
	for (;;) {
		n = recv(fd, rxbuf, sizeof(rxbuf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS)	/* overrun: keep reading */
				continue;
			return;
		}
		parse_datagram(n, 0, r);
	}
}

static int open_socket(void)
{
	struct nl_sock *sk;
	struct timeval tv = { .tv_sec = 5 };
	int one = 1, id, big = 4 << 20;

	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	if (genl_connect(sk)) {
		nl_socket_free(sk);
		return -ECONNREFUSED;
	}
	id = genl_ctrl_resolve(sk, VS_GENL_NAME);
	nl_close(sk);
	nl_socket_free(sk);
	if (id < 0)
		return -ENOENT;
	family_id = id;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* the biggest message is far above the default sk_sndbuf */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	return 0;
}

/* ---- a configurable MAP message ---- */

struct map_cfg {
	uint64_t omit;		/* bit per VS_ATTR_* left out */
	uint32_t block_size;
	uint64_t inode;
	uint64_t size;
	uint32_t pg_count;
	int n_pgs;		/* PG items written (default pg_count) */
	int dup_pg;		/* write PG 1 twice instead of the last PG */
	uint64_t bad_primary;	/* nonzero: PG 1's primary */
	int no_nested_flag;	/* PG_TABLE without NLA_F_NESTED */
	uint32_t data_chunks;	/* 0: not sent */
	int dc_zero;		/* send DATA_CHUNKS 0 */
	uint64_t pss;		/* PG_STRIPE_SIZE */
	uint32_t flags;		/* 0: not sent */
	int ipv6;		/* second OSD by IPv6 */
	int osd_dups;		/* 1: OSD 1 again, 5 more addresses; 2: OSD 2
				   again on another port */
	int extra_type;		/* nonzero: also send this attribute (u32) */
	uint64_t features;	/* 0: not sent */
	int layers;		/* LAYERS items (inodes 100, 101, ... of pool 1) */
	int layer_bad;		/* item 0: 1 no INODE, 2 INODE as u32, 3 inode
				   in pool 2, 4 number 0, 5 the top inode, 6 a
				   PG item type, 7 LAYERS without NLA_F_NESTED */
	uint32_t layer_pool;	/* nonzero: the LAYERS are in this pool */
	int xpools;		/* POOLS items (pools 2, 3, ...); -1: empty POOLS */
	int xpool_bad;		/* item 0 (enum xpool_bad) */
	uint32_t parts;		/* nonzero: PG tables as PG_TABLE_PARTs of this
				   many PGs (also those of the POOLS) */
	int part_bad;		/* the last part of pool 1 (enum part_bad) */
};

/* What is wrong with the PG_TABLE_PARTs of pool 1 of a map_cfg. */
enum part_bad {
	PB_NONE, PB_OVERLAP, PB_GAP, PB_SHORT, PB_BEYOND, PB_FIRST_0,
	PB_FIRST_HUGE, PB_EMPTY, PB_ODD, PB_NO_POOL_ID, PB_NO_FIRST,
	PB_NO_PRIMARIES, PB_BOTH, PB_ORPHAN, PB_NOT_NESTED, PB_BAD_PRIMARY,
	PB_TOO_LONG,
};

/* What is wrong with the first POOLS item of a map_cfg. */
enum xpool_bad {
	XB_NONE, XB_NO_POOL_ID, XB_NO_PG_TABLE, XB_NO_BLOCK_SIZE, XB_OWN_POOL,
	XB_BLOCK_SIZE, XB_GRANULARITY, XB_EC, XB_STRIPE, XB_INODE, XB_ITEM_TYPE,
	XB_NOT_NESTED, XB_PG_COUNT, XB_TWICE, XB_LIST_NOT_NESTED, XB_BAD_PRIMARY,
	XB_NO_EPOCH, XB_EC_STRIPE, XB_EC_BIG, XB_EC_ZERO,
};

static void map_defaults(struct map_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->block_size = 128 << 10;
	c->inode = (1ULL << 48) | 5;
	c->size = 1ULL << 30;
	c->pg_count = 4;
	c->n_pgs = -1;
}

#define OMIT(c, a) ((c)->omit & (1ULL << (a)))

static void put_tables(struct msg *m, const struct map_cfg *c)
{
	static const uint64_t primaries[] = { 1, 2, 1, 0 };
	static const unsigned char addr6[16] = { [15] = 1 };
	int n = c->n_pgs < 0 ? (int)c->pg_count : c->n_pgs;
	size_t t, it;
	int i, ndup;

	if (!OMIT(c, VS_ATTR_PG_TABLE) && (!c->parts || c->part_bad == PB_BOTH)) {
		t = nest_start(m, VS_ATTR_PG_TABLE, !c->no_nested_flag);
		for (i = 0; i < n; i++) {
			uint32_t num = (uint32_t)i + 1;
			uint64_t prim = primaries[i % 4];

			if (c->dup_pg && i == n - 1)
				num = 1;
			if (c->bad_primary && i == 0)
				prim = c->bad_primary;
			it = nest_start(m, VS_PG_TABLE_ITEM, 1);
			put_u32(m, VS_PG_ATTR_NUM, num);
			put_u64(m, VS_PG_ATTR_PRIMARY, prim);
			put_u64(m, VS_PG_ATTR_EPOCH, 7);
			nest_end(m, it);
		}
		nest_end(m, t);
	}
	if (!OMIT(c, VS_ATTR_OSD_LIST)) {
		t = nest_start(m, VS_ATTR_OSD_LIST, 1);
		it = nest_start(m, VS_OSD_LIST_ITEM, 1);
		put_u64(m, VS_OSD_ATTR_NUM, 1);
		put_u32(m, VS_OSD_ATTR_ADDR4, htonl(0x7f000001));
		put_u16(m, VS_OSD_ATTR_PORT, 11203);
		nest_end(m, it);
		it = nest_start(m, VS_OSD_LIST_ITEM, 1);
		put_u64(m, VS_OSD_ATTR_NUM, 2);
		if (c->ipv6)
			put(m, VS_OSD_ATTR_ADDR6, addr6, 16);
		else
			put_u32(m, VS_OSD_ATTR_ADDR4, htonl(0x7f000002));
		put_u16(m, VS_OSD_ATTR_PORT, 11204);
		nest_end(m, it);
		/* OSD 1: 5 more addresses; OSD 2: another port */
		ndup = c->osd_dups == 1 ? 5 : c->osd_dups == 2 ? 1 : 0;
		for (i = 0; i < ndup; i++) {
			it = nest_start(m, VS_OSD_LIST_ITEM, 1);
			put_u64(m, VS_OSD_ATTR_NUM, c->osd_dups);
			put_u32(m, VS_OSD_ATTR_ADDR4, htonl(0x7f000003 + i));
			put_u16(m, VS_OSD_ATTR_PORT, c->osd_dups == 1 ? 11203 : 11205);
			nest_end(m, it);
		}
		nest_end(m, t);
	}
}

/* A part of pool: n PGs from first, primaries as in put_tables; bad spoils
 * it. */
static void put_part(struct msg *m, uint32_t pool, uint32_t first, uint32_t n, int bad)
{
	static const uint64_t primaries[] = { 1, 2, 1, 0 };
	static uint64_t prim[VS_GENL_PG_PART_MAX_PGS + 1];
	uint32_t f = first, i;
	size_t t;

	for (i = 0; i < n && i <= VS_GENL_PG_PART_MAX_PGS; i++)
		prim[i] = primaries[(first - 1 + i) % 4];
	if (bad == PB_BAD_PRIMARY)
		prim[0] = 9;
	if (bad == PB_OVERLAP)
		f--;
	else if (bad == PB_GAP)
		f++;
	else if (bad == PB_FIRST_0)
		f = 0;
	else if (bad == PB_FIRST_HUGE)
		f = 65537;
	t = nest_start(m, VS_ATTR_PG_TABLE_PART, bad != PB_NOT_NESTED);
	if (bad != PB_NO_POOL_ID)
		put_u32(m, VS_PG_PART_ATTR_POOL_ID, pool);
	if (bad != PB_NO_FIRST)
		put_u32(m, VS_PG_PART_ATTR_FIRST, f);
	if (bad == PB_EMPTY)
		put(m, VS_PG_PART_ATTR_PRIMARIES, NULL, 0);
	else if (bad == PB_ODD)
		put(m, VS_PG_PART_ATTR_PRIMARIES, prim, 12);
	else if (bad != PB_NO_PRIMARIES)
		put(m, VS_PG_PART_ATTR_PRIMARIES, prim, n * sizeof(prim[0]));
	nest_end(m, t);
}

/* The table of pool (pg_count PGs) in parts of per PGs, the last one
 * spoilt by bad (enum part_bad). */
static void put_parts(struct msg *m, uint32_t pool, uint32_t pg_count, uint32_t per, int bad)
{
	uint32_t first = 1, end = pg_count + 1, n;

	if (bad == PB_SHORT)
		end--;
	else if (bad == PB_BEYOND)
		end++;
	for (; first < end; first += n) {
		n = end - first < per ? end - first : per;
		put_part(m, pool, first, n, first + n >= end ? bad : PB_NONE);
	}
	if (bad == PB_ORPHAN)		/* a whole table of pool 7 */
		put_part(m, 7, 1, pg_count, PB_NONE);
	else if (bad == PB_TOO_LONG)	/* one PG more than a part holds */
		put_part(m, pool, 1, VS_GENL_PG_PART_MAX_PGS + 1, PB_NO_FIRST);
}

static void put_layers(struct msg *m, const struct map_cfg *c)
{
	size_t t, it;
	int i;

	if (!c->layers)
		return;
	t = nest_start(m, VS_ATTR_LAYERS, c->layer_bad != 7);
	for (i = 0; i < c->layers; i++) {
		uint64_t inode = ((uint64_t)(c->layer_pool ? c->layer_pool : 1) << 48) |
				 (uint64_t)(100 + i);
		int bad = i ? 0 : c->layer_bad;

		it = nest_start(m, bad == 6 ? VS_PG_TABLE_ITEM + 1 : VS_LAYER_ITEM, 1);
		if (bad == 3)
			inode = (2ULL << 48) | 100;
		else if (bad == 4)
			inode = 1ULL << 48;
		else if (bad == 5)
			inode = c->inode;
		if (bad == 2)
			put_u32(m, VS_LAYER_ATTR_INODE, 100);
		else if (bad != 1)
			put_u64(m, VS_LAYER_ATTR_INODE, inode);
		nest_end(m, it);
	}
	nest_end(m, t);
}

/* POOLS: c->xpools maps of pools 2, 3, ..., item 0 spoilt by xpool_bad. */
static void put_pools(struct msg *m, const struct map_cfg *c)
{
	struct map_cfg pc;
	size_t t, it;
	int i, bad;

	if (!c->xpools)
		return;
	t = nest_start(m, VS_ATTR_POOLS, c->xpool_bad != XB_LIST_NOT_NESTED);
	for (i = 0; i < c->xpools; i++) {
		bad = i ? 0 : c->xpool_bad;
		map_defaults(&pc);
		pc.parts = c->parts;
		if (bad == XB_BAD_PRIMARY)
			pc.bad_primary = 9;
		if (bad == XB_NO_PG_TABLE)
			pc.omit = 1ULL << VS_ATTR_PG_TABLE;
		it = nest_start(m, bad == XB_ITEM_TYPE ? VS_POOLS_ITEM + 1 : VS_POOLS_ITEM,
				bad != XB_NOT_NESTED);
		if (bad != XB_NO_POOL_ID)
			put_u32(m, VS_ATTR_POOL_ID, bad == XB_OWN_POOL ? 1 :
				(i == 1 && c->xpool_bad == XB_TWICE) ? 2 : 2 + (uint32_t)i);
		put_u32(m, VS_ATTR_PG_COUNT, pc.pg_count + (bad == XB_PG_COUNT));
		if (bad != XB_NO_EPOCH)
			put_u64(m, VS_ATTR_MAP_EPOCH, 1);
		if (bad != XB_NO_BLOCK_SIZE)
			put_u32(m, VS_ATTR_BLOCK_SIZE, c->block_size << (bad == XB_BLOCK_SIZE));
		put_u32(m, VS_ATTR_BITMAP_GRANULARITY, 4096 << (bad == XB_GRANULARITY));
		if (bad == XB_EC || bad == XB_EC_STRIPE)
			put_u32(m, VS_ATTR_DATA_CHUNKS, 2);
		else if (bad == XB_EC_BIG || bad == XB_EC_ZERO)
			put_u32(m, VS_ATTR_DATA_CHUNKS, bad == XB_EC_BIG ? 257 : 0);
		/* XB_EC_STRIPE: a multiple of BLOCK_SIZE, not of the EC stripe */
		put_u64(m, VS_ATTR_PG_STRIPE_SIZE, bad == XB_STRIPE ? 4096 :
			bad == XB_EC_STRIPE ? 3 * c->block_size : 0);
		if (bad == XB_INODE)
			put_u64(m, VS_ATTR_INODE, c->inode);
		put_tables(m, &pc);
		nest_end(m, it);
	}
	nest_end(m, t);
	for (i = 0; c->parts && i < c->xpools; i++)
		put_parts(m, 2 + (uint32_t)i, pc.pg_count, c->parts, PB_NONE);
}

static void build_map(struct msg *m, const struct map_cfg *c)
{
	msg_init(m, family_id, VS_CMD_MAP, NLM_F_REQUEST | NLM_F_ACK);
#define P(a, fn, v) do { if (!OMIT(c, a)) fn(m, a, v); } while (0)
	P(VS_ATTR_INODE, put_u64, c->inode);
	P(VS_ATTR_SIZE, put_u64, c->size);
	P(VS_ATTR_BLOCK_SIZE, put_u32, c->block_size);
	P(VS_ATTR_BITMAP_GRANULARITY, put_u32, 4096);
	P(VS_ATTR_POOL_ID, put_u32, 1);
	P(VS_ATTR_PG_COUNT, put_u32, c->pg_count);
	P(VS_ATTR_PG_STRIPE_SIZE, put_u64, c->pss);
	P(VS_ATTR_IMMEDIATE_COMMIT, put_u8, VS_GENL_COMMIT_ALL);
	P(VS_ATTR_MAP_EPOCH, put_u64, 1);
#undef P
	if (c->data_chunks || c->dc_zero)
		put_u32(m, VS_ATTR_DATA_CHUNKS, c->data_chunks);
	if (c->flags)
		put_u32(m, VS_ATTR_FLAGS, c->flags);
	if (c->features)
		put_u64(m, VS_ATTR_FEATURES, c->features);
	if (c->extra_type)
		put_u32(m, (uint16_t)c->extra_type, 1);
	put(m, VS_ATTR_POOL_NAME, "testpool", 9);
	put(m, VS_ATTR_IMAGE_NAME, "img", 4);
	put_tables(m, c);
	put_layers(m, c);
	put_pools(m, c);
	if (c->parts)
		put_parts(m, 1, c->pg_count, c->parts, c->part_bad);
}

/* SET_MAP of pool 1; parts: its table in PG_TABLE_PARTs of so many PGs. */
static void build_set_map(struct msg *m, uint32_t pg_count, uint32_t parts, uint64_t epoch)
{
	struct map_cfg c;

	map_defaults(&c);
	c.pg_count = pg_count;
	c.parts = parts;
	msg_init(m, family_id, VS_CMD_SET_MAP, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(m, VS_ATTR_POOL_ID, 1);
	put_u64(m, VS_ATTR_MAP_EPOCH, epoch);
	put_u32(m, VS_ATTR_PG_COUNT, c.pg_count);
	put_tables(m, &c);
	if (parts)
		put_parts(m, 1, pg_count, parts, PB_NONE);
}

/* ---- checks ---- */

static void expect(const char *what, const struct result *r, int err,
		   const char *msg)
{
	int ok = r->err == err && (!msg || !strcmp(r->msg, msg));

	report(ok, "%s: got %d \"%s\", want %d%s%s%s", what, r->err, r->msg,
	       err, msg ? " \"" : "", msg ? msg : "", msg ? "\"" : "");
}

/* EINVAL with any non-empty extack message (from the netlink core). */
static void expect_einval_msg(const char *what, const struct result *r)
{
	report(r->err == -EINVAL && r->msg[0], "%s: got %d \"%s\", want %d with a message",
	       what, r->err, r->msg, -EINVAL);
}

static void map_case(const char *what, const struct map_cfg *c, int err,
		     const char *msg)
{
	static struct msg m;
	struct result r;

	build_map(&m, c);
	xfer(&m, &r);
	if (msg && !*msg)
		expect_einval_msg(what, &r);
	else
		expect(what, &r, err, msg);
}

static void test_list(void)
{
	static struct msg m;
	struct result r;

	msg_init(&m, family_id, VS_CMD_LIST, NLM_F_REQUEST | NLM_F_DUMP);
	xfer(&m, &r);
	report(r.err == 0 && r.replies == 0,
	       "LIST dump: err %d, %d devices (want 0, 0)", r.err, r.replies);

	msg_init(&m, family_id, VS_CMD_LIST, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(&m, VS_ATTR_DEV_INDEX, 0);
	xfer(&m, &r);
	expect("LIST DEV_INDEX 0", &r, -ENODEV, "no such device");
}

static void test_features(void)
{
	static struct msg m;
	struct result r;
	uint64_t all;

	msg_init(&m, family_id, VS_CMD_LIST, NLM_F_REQUEST | NLM_F_ACK);
	xfer(&m, &r);
	all = r.features;
	report(r.err == 0 && r.replies == 1 && r.have_features && all &&
	       !(all & ~VS_FEAT_KNOWN),
	       "FEATURES query: err %d, replies %d, features %#llx", r.err,
	       r.replies, (unsigned long long)all);

	msg_init(&m, family_id, VS_CMD_LIST, NLM_F_REQUEST | NLM_F_ACK);
	put_u64(&m, VS_ATTR_FEATURES, VS_FEAT_KNOWN | (1ULL << 63));
	xfer(&m, &r);
	report(r.err == 0 && r.have_features && r.features == all,
	       "FEATURES all+unknown bit: granted %#llx (want %#llx)",
	       (unsigned long long)r.features, (unsigned long long)all);

	msg_init(&m, family_id, VS_CMD_LIST, NLM_F_REQUEST | NLM_F_ACK);
	put_u64(&m, VS_ATTR_FEATURES, VS_FEAT_IPV6 | (1ULL << 40));
	xfer(&m, &r);
	report(r.err == 0 && r.have_features &&
	       r.features == (all & VS_FEAT_IPV6),
	       "FEATURES IPV6+unknown: granted %#llx (want %#llx)",
	       (unsigned long long)r.features,
	       (unsigned long long)(all & VS_FEAT_IPV6));

	msg_init(&m, family_id, VS_CMD_LIST, NLM_F_REQUEST | NLM_F_ACK);
	put_u64(&m, VS_ATTR_FEATURES, 0);
	xfer(&m, &r);
	report(r.err == 0 && r.have_features && r.features == 0,
	       "FEATURES none wanted: granted %#llx",
	       (unsigned long long)r.features);
}

/* /sys/block/vs<index>/queue/<name> as a number (0 if unreadable). */
static unsigned long long queue_limit(uint32_t index, const char *name)
{
	unsigned long long v = 0;
	char path[96];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/block/vs%u/queue/%s", index, name);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static void unmap_index(const char *what, uint32_t index)
{
	static struct msg m;
	struct result r;

	msg_init(&m, family_id, VS_CMD_UNMAP, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(&m, VS_ATTR_DEV_INDEX, index);
	xfer(&m, &r);
	expect(what, &r, 0, NULL);
}

/* DATA_CHUNKS: malformed values, the EC feature, the stripe limit, a device. */
static void test_map_ec(void)
{
	static struct msg m;
	unsigned long long io_opt, gran, chunk;
	struct map_cfg c;
	struct result r;

	map_defaults(&c);
	c.features = VS_FEAT_KNOWN;
	c.dc_zero = 1;
	map_case("MAP DATA_CHUNKS 0 (policy range)", &c, -ERANGE, "integer out of range");
	c.dc_zero = 0;
	c.data_chunks = 257;
	map_case("MAP DATA_CHUNKS 257 (policy range)", &c, -ERANGE, "integer out of range");

	map_defaults(&c);
	c.data_chunks = 2;
	c.features = VS_FEAT_KNOWN & ~VS_FEAT_EC;
	map_case("MAP EC pool without the EC feature", &c, -EINVAL,
		 "DATA_CHUNKS > 1 needs the EC feature");

	map_defaults(&c);
	c.data_chunks = 2;
	c.features = VS_FEAT_KNOWN;
	c.block_size = 64 << 20;
	map_case("MAP EC stripe 128 MiB", &c, -EOPNOTSUPP,
		 "a stripe (BLOCK_SIZE * DATA_CHUNKS) above 64 MiB is not supported");

	map_defaults(&c);
	c.data_chunks = 2;
	c.features = VS_FEAT_KNOWN;
	c.pss = 3 * c.block_size;
	map_case("MAP EC PG_STRIPE_SIZE 3 blocks", &c, -EINVAL,
		 "PG_STRIPE_SIZE must be 0 or a multiple of BLOCK_SIZE * DATA_CHUNKS");

	map_defaults(&c);
	c.data_chunks = 2;
	c.features = VS_FEAT_KNOWN;
	c.pss = 4 * c.block_size;
	build_map(&m, &c);
	xfer(&m, &r);
	report(r.err == 0 && r.have_index && (r.features & VS_FEAT_EC),
	       "MAP EC pool (2 data chunks): err %d \"%s\", /dev/vs%u, features %#llx",
	       r.err, r.msg, r.dev_index, (unsigned long long)r.features);
	if (r.err || !r.have_index)
		return;
	io_opt = queue_limit(r.dev_index, "optimal_io_size");
	gran = queue_limit(r.dev_index, "discard_granularity");
	chunk = queue_limit(r.dev_index, "chunk_sectors");
	report(io_opt == 2 * c.block_size && gran == 2 * c.block_size &&
	       chunk == 2 * c.block_size / 512,
	       "MAP EC pool: optimal_io_size %llu, discard_granularity %llu, chunk_sectors %llu (the 256 KiB stripe)",
	       io_opt, gran, chunk);
	unmap_index("UNMAP the EC device", r.dev_index);
}

static void test_map(void)
{
	static struct msg m;
	struct map_cfg c;
	struct result r;

	msg_init(&m, family_id, VS_CMD_MAP, NLM_F_REQUEST | NLM_F_ACK);
	xfer(&m, &r);
	expect("MAP without attributes", &r, -EINVAL, "missing attribute INODE");
	report(r.miss_type == VS_ATTR_INODE, "MAP without attributes: miss type %d",
	       r.miss_type);

	map_defaults(&c);
	c.omit = 1ULL << VS_ATTR_OSD_LIST;
	map_case("MAP without OSD_LIST", &c, -EINVAL, "missing attribute OSD_LIST");

	map_defaults(&c);
	c.block_size = 1000;
	map_case("MAP BLOCK_SIZE 1000 (policy range)", &c, -ERANGE,
		 "integer out of range");

	map_defaults(&c);
	c.block_size = 3 * 4096;
	map_case("MAP BLOCK_SIZE 12288", &c, -EINVAL, "BLOCK_SIZE must be a power of 2");

	map_defaults(&c);
	c.inode = (2ULL << 48) | 5;
	map_case("MAP INODE of pool 2", &c, -EINVAL, "INODE is not in pool POOL_ID");

	map_defaults(&c);
	c.size = 1000;
	map_case("MAP SIZE 1000", &c, -EINVAL, "SIZE must be a multiple of 512");

	map_defaults(&c);
	c.n_pgs = 3;
	map_case("MAP PG table short", &c, -EINVAL,
		 "PG_TABLE must list every PG up to PG_COUNT");

	map_defaults(&c);
	c.dup_pg = 1;
	map_case("MAP PG twice", &c, -EINVAL, "PG listed twice");

	map_defaults(&c);
	c.n_pgs = 5;
	map_case("MAP PG above PG_COUNT", &c, -EINVAL, "PG number above PG_COUNT");

	map_defaults(&c);
	c.bad_primary = 9;
	map_case("MAP primary not in OSD_LIST", &c, -EINVAL,
		 "PG primary is not in OSD_LIST");

	map_defaults(&c);
	c.no_nested_flag = 1;
	map_case("MAP PG_TABLE without NLA_F_NESTED", &c, -EINVAL, "");

	map_defaults(&c);
	c.osd_dups = 2;
	map_case("MAP OSD on two ports", &c, -EINVAL, "OSD listed with two different ports");

	map_defaults(&c);
	c.osd_dups = 1;
	build_map(&m, &c);
	xfer(&m, &r);
	report(r.err == 0 && r.have_index,
	       "MAP OSD listed 6 times (its addresses merged): accepted, err %d \"%s\"",
	       r.err, r.msg);
	if (!r.err && r.have_index)
		unmap_index("UNMAP the device of the OSD listed 6 times", r.dev_index);

	map_defaults(&c);
	c.extra_type = VS_ATTR_DEV_STATE;
	map_case("MAP with DEV_STATE", &c, -EINVAL,
		 "attribute not valid for this command");

	map_defaults(&c);
	c.extra_type = VS_ATTR_MAX + 5;
	map_case("MAP with unknown attribute", &c, -EINVAL, "");

	map_defaults(&c);
	c.flags = VS_GENL_F_FORCE;
	map_case("MAP with FORCE", &c, -EINVAL, "FORCE is an UNMAP flag");

	test_map_ec();

	map_defaults(&c);
	build_map(&m, &c);
	((struct genlmsghdr *)(m.buf + NLMSG_HDRLEN))->reserved = 1;
	xfer(&m, &r);
	expect_einval_msg("MAP with reserved header bytes set", &r);

	/* Valid maps create devices; nothing connects before the first I/O. */
	map_defaults(&c);
	build_map(&m, &c);
	xfer(&m, &r);
	report(r.err == 0 && r.have_index && r.dev_index == 0,
	       "MAP valid: err %d \"%s\", /dev/vs%u", r.err, r.msg, r.dev_index);
	report(access("/sys/block/vs0/vstor/image", R_OK) == 0,
	       "MAP valid: /sys/block/vs0/vstor/image exists");

	map_defaults(&c);
	c.ipv6 = 1;
	c.flags = VS_GENL_F_READONLY;
	c.features = VS_FEAT_KNOWN;
	build_map(&m, &c);
	xfer(&m, &r);
	report(r.err == 0 && r.have_index && r.dev_index == 1 && r.have_features &&
	       !(r.features & ~VS_FEAT_KNOWN),
	       "MAP valid, IPv6, READONLY: err %d \"%s\", /dev/vs%u, features %#llx",
	       r.err, r.msg, r.dev_index, (unsigned long long)r.features);

	map_defaults(&c);
	c.extra_type = VS_ATTR_DEV_INDEX;	/* put_u32(..., 1): in use */
	map_case("MAP DEV_INDEX in use", &c, -EEXIST, "DEV_INDEX is in use");

	msg_init(&m, family_id, VS_CMD_LIST, NLM_F_REQUEST | NLM_F_DUMP);
	xfer(&m, &r);
	report(r.err == 0 && r.replies == 2, "LIST dump: %d devices (want 2)",
	       r.replies);
	msg_init(&m, family_id, VS_CMD_LIST, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(&m, VS_ATTR_DEV_INDEX, 1);
	xfer(&m, &r);
	report(r.err == 0 && r.replies == 1 && r.have_index && r.dev_index == 1,
	       "LIST DEV_INDEX 1: err %d, replies %d", r.err, r.replies);
}

#define XPOOL_MSG "LAYERS item is in a pool that is neither the device's nor in POOLS"

static void layer_case(const char *what, int n, int bad, int err,
		       const char *msg)
{
	struct map_cfg c;

	map_defaults(&c);
	c.features = VS_FEAT_KNOWN;
	c.layers = n;
	c.layer_bad = bad;
	map_case(what, &c, err, msg);
}

static void build_set_layers(struct msg *m, int index, uint64_t inode,
			     int layers, int bad)
{
	struct map_cfg c;

	map_defaults(&c);
	c.layers = layers;
	c.layer_bad = bad;
	msg_init(m, family_id, VS_CMD_SET_LAYERS, NLM_F_REQUEST | NLM_F_ACK);
	if (index >= 0)
		put_u32(m, VS_ATTR_DEV_INDEX, (uint32_t)index);
	if (inode)
		put_u64(m, VS_ATTR_INODE, inode);
	put_layers(m, &c);
}

/* LAYERS of MAP and SET_LAYERS (vs0: no features, vs1: all of them). */
/* LIST of one device. */
static void list_one(struct msg *m, uint32_t index, struct result *r)
{
	msg_init(m, family_id, VS_CMD_LIST, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(m, VS_ATTR_DEV_INDEX, index);
	xfer(m, r);
}

static void test_layers(void)
{
	static struct msg m;
	struct map_cfg c;
	struct result r;
	uint64_t top = (1ULL << 48) | 77;
	static const struct {
		const char *what;
		int index;
		uint64_t inode;
		int layers, bad, err;
		const char *msg;
	} bad[] = {
		{ "SET_LAYERS without DEV_INDEX", -1, (1ULL << 48) | 77, 0, 0,
		  -EINVAL, "missing attribute DEV_INDEX" },
		{ "SET_LAYERS without INODE", 1, 0, 0, 0, -EINVAL,
		  "missing attribute INODE" },
		{ "SET_LAYERS vs9", 9, (1ULL << 48) | 77, 0, 0, -ENODEV,
		  "no such device" },
		{ "SET_LAYERS vs0 (mapped without the feature)", 0,
		  (1ULL << 48) | 77, 0, 0, -EOPNOTSUPP,
		  "the device was mapped without the LAYERS feature" },
		{ "SET_LAYERS INODE of pool 2", 1, (2ULL << 48) | 77, 0, 0,
		  -EINVAL, "INODE is not in the pool of the device" },
		{ "SET_LAYERS INODE number 0", 1, 1ULL << 48, 0, 0, -EINVAL,
		  "INODE number is 0" },
		{ "SET_LAYERS 65 LAYERS", 1, (1ULL << 48) | 77, 65, 0, -E2BIG,
		  "too many LAYERS (at most 64)" },
		{ "SET_LAYERS parent in pool 2", 1, (1ULL << 48) | 77, 2, 3,
		  -EINVAL, XPOOL_MSG },
	};
	size_t i;

	map_defaults(&c);
	c.layers = 1;
	map_case("MAP LAYERS without the feature", &c, -EINVAL,
		 "LAYERS needs the LAYERS feature");
	layer_case("MAP 65 LAYERS", 65, 0, -E2BIG, "too many LAYERS (at most 64)");
	layer_case("MAP LAYERS item without INODE", 2, 1, -EINVAL,
		   "LAYERS item without INODE");
	layer_case("MAP LAYERS INODE as u32", 1, 2, -EINVAL, "");
	layer_case("MAP LAYERS parent in pool 2 without POOLS", 3, 3, -EINVAL,
		   XPOOL_MSG);
	layer_case("MAP LAYERS parent number 0", 1, 4, -EINVAL,
		   "LAYERS item INODE number is 0");
	layer_case("MAP LAYERS parent = top", 1, 5, -EINVAL,
		   "LAYERS names an inode twice (a parent loop?)");
	layer_case("MAP LAYERS wrong item type", 1, 6, -EINVAL, "");
	layer_case("MAP LAYERS without NLA_F_NESTED", 1, 7, -EINVAL, "");
	/* 16 KiB objects of 4 KiB granules: a READ bitmap of 0 bytes */
	map_defaults(&c);
	c.features = VS_FEAT_KNOWN;
	c.layers = 1;
	c.block_size = 16 << 10;
	map_case("MAP LAYERS with BLOCK_SIZE 16384 (no READ bitmap)", &c, -EOPNOTSUPP,
		 "LAYERS need BLOCK_SIZE of at least 8 * BITMAP_GRANULARITY (a READ bitmap)");

	map_defaults(&c);
	c.features = VS_FEAT_KNOWN;
	c.layers = 64;
	build_map(&m, &c);
	xfer(&m, &r);
	report(r.err == 0 && r.have_index && r.dev_index == 2,
	       "MAP with 64 LAYERS: err %d \"%s\", /dev/vs%u", r.err, r.msg,
	       r.dev_index);
	list_one(&m, 2, &r);
	report(r.err == 0 && r.layers == 64, "LIST vs2: %d LAYERS (want 64)",
	       r.layers);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		build_set_layers(&m, bad[i].index, bad[i].inode, bad[i].layers,
				 bad[i].bad);
		xfer(&m, &r);
		expect(bad[i].what, &r, bad[i].err, bad[i].msg);
	}

	build_set_layers(&m, 1, top, 3, 0);
	xfer(&m, &r);
	expect("SET_LAYERS vs1: inode 77 + 3 parents", &r, 0, NULL);
	list_one(&m, 1, &r);
	report(r.err == 0 && r.inode == top && r.layers == 3,
	       "LIST vs1 after SET_LAYERS: inode %#llx, %d LAYERS",
	       (unsigned long long)r.inode, r.layers);
	build_set_layers(&m, 1, top, 0, 0);
	xfer(&m, &r);
	expect("SET_LAYERS vs1: no parents (flatten)", &r, 0, NULL);
	list_one(&m, 1, &r);
	report(r.err == 0 && r.inode == top && r.layers == -1,
	       "LIST vs1 after flatten: inode %#llx, LAYERS %d (want none)",
	       (unsigned long long)r.inode, r.layers);

	msg_init(&m, family_id, VS_CMD_UNMAP, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(&m, VS_ATTR_DEV_INDEX, 2);
	xfer(&m, &r);
	expect("UNMAP vs2 (64 layers)", &r, 0, NULL);
}

/* A MAP of top inode 5 of pool 1 with parents 100, 101 in pool 2. */
static void xpool_cfg(struct map_cfg *c, int xpools, int bad)
{
	map_defaults(c);
	c->features = VS_FEAT_KNOWN;
	c->layers = 2;
	c->layer_pool = 2;
	c->xpools = xpools;
	c->xpool_bad = bad;
}

/* SET_LAYERS of vs<index>: top 5 of pool 1, n parents in pool. */
static void xpool_set_layers(struct msg *m, uint32_t index, int n, uint32_t pool)
{
	struct map_cfg c;

	map_defaults(&c);
	c.layers = n;
	c.layer_pool = pool;
	msg_init(m, family_id, VS_CMD_SET_LAYERS, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(m, VS_ATTR_DEV_INDEX, index);
	put_u64(m, VS_ATTR_INODE, c.inode);
	put_layers(m, &c);
}

/* SET_MAP of pool 2 or 3 (pg tables as in MAP). */
static void xpool_set_map(struct msg *m, uint32_t pool, uint64_t epoch)
{
	struct map_cfg c;

	map_defaults(&c);
	msg_init(m, family_id, VS_CMD_SET_MAP, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(m, VS_ATTR_POOL_ID, pool);
	put_u64(m, VS_ATTR_MAP_EPOCH, epoch);
	put_u32(m, VS_ATTR_PG_COUNT, c.pg_count);
	put_tables(m, &c);
}

/* POOLS of MAP (XPOOL): every refusal, then a device with a parent pool. */
static void test_pools(void)
{
	static const struct {
		const char *what;
		int xpools, bad, err;
		const char *msg;
	} bad[] = {
		{ "MAP POOLS empty", -1, XB_NONE, -EINVAL, "POOLS is empty" },
		{ "MAP POOLS item without POOL_ID", 1, XB_NO_POOL_ID, -EINVAL,
		  "POOLS item without POOL_ID" },
		{ "MAP POOLS item without PG_TABLE", 1, XB_NO_PG_TABLE, -EINVAL,
		  "POOLS item without PG_TABLE" },
		{ "MAP POOLS item without BLOCK_SIZE", 1, XB_NO_BLOCK_SIZE, -EINVAL,
		  "POOLS item without BLOCK_SIZE" },
		{ "MAP POOLS item without MAP_EPOCH", 1, XB_NO_EPOCH, -EINVAL,
		  "POOLS item without MAP_EPOCH" },
		{ "MAP POOLS item of the device's pool", 1, XB_OWN_POOL, -EINVAL,
		  "POOLS item is the device's own pool (POOL_ID)" },
		{ "MAP POOLS item with another BLOCK_SIZE", 1, XB_BLOCK_SIZE, -EOPNOTSUPP,
		  "a parent pool with another BLOCK_SIZE than the device's pool is not supported" },
		{ "MAP POOLS item with another BITMAP_GRANULARITY", 1, XB_GRANULARITY,
		  -EOPNOTSUPP,
		  "a parent pool with another BITMAP_GRANULARITY than the device's pool is not supported" },
		{ "MAP POOLS item PG_STRIPE_SIZE 4096", 1, XB_STRIPE, -EINVAL,
		  "POOLS item PG_STRIPE_SIZE must be 0 or a multiple of BLOCK_SIZE * DATA_CHUNKS" },
		{ "MAP POOLS item EC, PG_STRIPE_SIZE 3 blocks", 1, XB_EC_STRIPE, -EINVAL,
		  "POOLS item PG_STRIPE_SIZE must be 0 or a multiple of BLOCK_SIZE * DATA_CHUNKS" },
		{ "MAP POOLS item DATA_CHUNKS 257", 1, XB_EC_BIG, -ERANGE,
		  "integer out of range" },
		{ "MAP POOLS item DATA_CHUNKS 0", 1, XB_EC_ZERO, -ERANGE,
		  "integer out of range" },
		{ "MAP POOLS item with INODE", 1, XB_INODE, -EINVAL, "" },
		{ "MAP POOLS item of another type", 1, XB_ITEM_TYPE, -EINVAL,
		  "POOLS holds only ITEM nests" },
		{ "MAP POOLS item without NLA_F_NESTED", 1, XB_NOT_NESTED, -EINVAL, "" },
		{ "MAP POOLS without NLA_F_NESTED", 1, XB_LIST_NOT_NESTED, -EINVAL, "" },
		{ "MAP POOLS item PG_COUNT above its PG_TABLE", 1, XB_PG_COUNT, -EINVAL,
		  "PG_TABLE must list every PG up to PG_COUNT" },
		{ "MAP POOLS item primary not in its OSD_LIST", 1, XB_BAD_PRIMARY, -EINVAL,
		  "PG primary is not in OSD_LIST" },
		{ "MAP POOLS lists pool 2 twice", 2, XB_TWICE, -EINVAL,
		  "POOLS lists a pool twice" },
		{ "MAP 9 POOLS", 9, XB_NONE, -E2BIG, "too many POOLS (at most 8)" },
	};
	static struct msg m;
	struct map_cfg c;
	struct result r;
	uint32_t dev;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		xpool_cfg(&c, bad[i].xpools, bad[i].bad);
		map_case(bad[i].what, &c, bad[i].err, bad[i].msg);
	}
	xpool_cfg(&c, 1, XB_NONE);
	c.features = VS_FEAT_KNOWN & ~VS_FEAT_XPOOL;
	map_case("MAP POOLS without the XPOOL feature", &c, -EINVAL,
		 "POOLS needs the XPOOL feature");
	xpool_cfg(&c, 1, XB_EC);
	c.features = VS_FEAT_KNOWN & ~VS_FEAT_EC;
	map_case("MAP POOLS item EC without the EC feature", &c, -EINVAL,
		 "POOLS item DATA_CHUNKS > 1 needs the EC feature");
	/* an EC parent under a replicated device: its parts use its stripes */
	xpool_cfg(&c, 1, XB_EC);
	build_map(&m, &c);
	xfer(&m, &r);
	report(r.err == 0 && r.have_index, "MAP with an EC parent pool: err %d \"%s\"",
	       r.err, r.msg);
	if (!r.err && r.have_index)
		unmap_index("UNMAP the device with an EC parent pool", r.dev_index);
	xpool_cfg(&c, 1, XB_NONE);
	c.layer_pool = 3;
	map_case("MAP LAYERS in pool 3, POOLS has pool 2", &c, -EINVAL, XPOOL_MSG);

	xpool_cfg(&c, 2, XB_NONE);
	build_map(&m, &c);
	xfer(&m, &r);
	dev = r.dev_index;
	report(r.err == 0 && r.have_index && (r.features & VS_FEAT_XPOOL),
	       "MAP with parents in pool 2 (POOLS 2, 3): err %d \"%s\", /dev/vs%u, features %#llx",
	       r.err, r.msg, dev, (unsigned long long)r.features);
	if (r.err)
		return;
	list_one(&m, dev, &r);
	report(r.err == 0 && r.pools == 2 && r.pool_epoch == 1,
	       "LIST vs%u: %d POOLS, last epoch %llu (want 2, 1)", dev, r.pools,
	       (unsigned long long)r.pool_epoch);
	xpool_set_map(&m, 3, 5);
	xfer(&m, &r);
	expect("SET_MAP pool 3 (a parent pool) epoch 5", &r, 0, NULL);
	list_one(&m, dev, &r);
	report(r.err == 0 && r.pool_epoch == 5, "LIST after SET_MAP: pool 3 at epoch %llu",
	       (unsigned long long)r.pool_epoch);
	xpool_set_map(&m, 4, 2);
	xfer(&m, &r);
	expect("SET_MAP pool 4", &r, -ENODEV, "no device maps this pool");
	xpool_set_layers(&m, dev, 2, 4);
	xfer(&m, &r);
	expect("SET_LAYERS with parents in pool 4 (not mapped)", &r, -EINVAL, XPOOL_MSG);
	xpool_set_layers(&m, dev, 3, 3);
	xfer(&m, &r);
	expect("SET_LAYERS with parents in pool 3", &r, 0, NULL);
	list_one(&m, dev, &r);
	report(r.err == 0 && r.layers == 3, "LIST after SET_LAYERS: %d LAYERS (want 3)",
	       r.layers);
	msg_init(&m, family_id, VS_CMD_UNMAP, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(&m, VS_ATTR_DEV_INDEX, dev);
	xfer(&m, &r);
	expect("UNMAP the device with parent pools", &r, 0, NULL);
}

/* PG_TABLE_PART (PG_PARTS): every refusal, then 65536-PG maps. */
static void test_parts(void)
{
	static const struct {
		const char *what;
		int bad, err;
		const char *msg;
	} bad[] = {
		{ "MAP parts overlapping", PB_OVERLAP, -EINVAL,
		  "PG_TABLE_PART overlaps the previous part of its pool" },
		{ "MAP parts with a gap", PB_GAP, -EINVAL,
		  "PG_TABLE_PART leaves a gap (the parts of a pool start at PG 1, in order)" },
		{ "MAP parts short of PG_COUNT", PB_SHORT, -EINVAL,
		  "the PG_TABLE_PARTs of a pool end before its PG_COUNT" },
		{ "MAP parts beyond PG_COUNT", PB_BEYOND, -EINVAL,
		  "PG_TABLE_PART runs beyond PG_COUNT" },
		{ "MAP part FIRST 0", PB_FIRST_0, -ERANGE, "integer out of range" },
		{ "MAP part FIRST 65537", PB_FIRST_HUGE, -ERANGE, "integer out of range" },
		{ "MAP part with no PRIMARIES bytes", PB_EMPTY, -EINVAL,
		  "PG_TABLE_PART PRIMARIES must be a non-empty array of u64" },
		{ "MAP part PRIMARIES 12 bytes", PB_ODD, -EINVAL,
		  "PG_TABLE_PART PRIMARIES must be a non-empty array of u64" },
		{ "MAP part without POOL_ID", PB_NO_POOL_ID, -EINVAL,
		  "PG_TABLE_PART without POOL_ID" },
		{ "MAP part without FIRST", PB_NO_FIRST, -EINVAL,
		  "PG_TABLE_PART without FIRST" },
		{ "MAP part without PRIMARIES", PB_NO_PRIMARIES, -EINVAL,
		  "PG_TABLE_PART without PRIMARIES" },
		{ "MAP PG_TABLE and parts of pool 1", PB_BOTH, -EINVAL,
		  "PG_TABLE_PART of a pool whose map has a PG_TABLE" },
		{ "MAP parts of pool 7 (no map of it)", PB_ORPHAN, -EINVAL,
		  "PG_TABLE_PART of a pool the message has no map of" },
		{ "MAP part without NLA_F_NESTED", PB_NOT_NESTED, -EINVAL, "" },
		{ "MAP part primary not in OSD_LIST", PB_BAD_PRIMARY, -EINVAL,
		  "PG primary is not in OSD_LIST" },
		{ "MAP part of 8189 PGs", PB_TOO_LONG, -ERANGE, NULL },
	};
	static struct msg m;
	struct map_cfg c;
	struct result r;
	uint32_t dev;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		map_defaults(&c);
		c.features = VS_FEAT_KNOWN;
		c.parts = 2;
		c.part_bad = bad[i].bad;
		build_map(&m, &c);
		xfer(&m, &r);
		if (!bad[i].msg)	/* the policy's length limit */
			report(r.err == bad[i].err && r.msg[0], "%s: got %d \"%s\", want %d",
			       bad[i].what, r.err, r.msg, bad[i].err);
		else if (!*bad[i].msg)
			expect_einval_msg(bad[i].what, &r);
		else
			expect(bad[i].what, &r, bad[i].err, bad[i].msg);
	}
	map_defaults(&c);
	c.parts = 2;
	c.features = VS_FEAT_KNOWN & ~VS_FEAT_PG_PARTS;
	map_case("MAP parts without the PG_PARTS feature", &c, -EINVAL,
		 "PG_TABLE_PART needs the PG_PARTS feature");
	map_defaults(&c);
	c.omit = 1ULL << VS_ATTR_PG_TABLE;
	map_case("MAP without PG_TABLE or parts", &c, -EINVAL,
		 "missing attribute PG_TABLE (or PG_TABLE_PART of POOL_ID)");
	xpool_cfg(&c, 1, XB_NONE);
	c.parts = 3;
	c.part_bad = PB_SHORT;
	map_case("MAP POOLS with parts, pool 1 short", &c, -EINVAL,
		 "the PG_TABLE_PARTs of a pool end before its PG_COUNT");

	/* the biggest pool: 65536 PGs in 9 parts, a parent pool of 4 in 1 */
	xpool_cfg(&c, 1, XB_NONE);
	c.pg_count = 65536;
	c.parts = VS_GENL_PG_PART_MAX_PGS;
	build_map(&m, &c);
	xfer(&m, &r);
	dev = r.dev_index;
	report(r.err == 0 && r.have_index && (r.features & VS_FEAT_PG_PARTS),
	       "MAP 65536 PGs in parts (%zu bytes) with POOLS: err %d \"%s\", features %#llx",
	       m.len, r.err, r.msg, (unsigned long long)r.features);
	if (r.err || !r.have_index)
		return;
	build_set_map(&m, 65536, 1000, 3);
	xfer(&m, &r);
	expect("SET_MAP 65536 PGs in 66 parts", &r, 0, NULL);
	build_set_map(&m, 65536, 1000, 4);
	put_part(&m, 1, 1, 1, PB_NONE);	/* one more: PG 1 twice */
	xfer(&m, &r);
	expect("SET_MAP 65536 PGs and PG 1 again", &r, -EINVAL,
	       "PG_TABLE_PART overlaps the previous part of its pool");
	xpool_set_map(&m, 2, 6);
	xfer(&m, &r);
	expect("SET_MAP pool 2 (a parent) with PG_TABLE", &r, 0, NULL);
	list_one(&m, dev, &r);
	report(r.err == 0 && r.pool_epoch == 6, "LIST after SET_MAP: pool 2 at epoch %llu",
	       (unsigned long long)r.pool_epoch);
	unmap_index("UNMAP the 65536-PG device", dev);
}

static void test_other_cmds(void)
{
	static struct msg m;
	struct result r;

	msg_init(&m, family_id, VS_CMD_UNMAP, NLM_F_REQUEST | NLM_F_ACK);
	xfer(&m, &r);
	expect("UNMAP without DEV_INDEX", &r, -EINVAL, "missing attribute DEV_INDEX");

	msg_init(&m, family_id, VS_CMD_UNMAP, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(&m, VS_ATTR_DEV_INDEX, 0);
	put_u32(&m, VS_ATTR_FLAGS, VS_GENL_F_READONLY);
	xfer(&m, &r);
	expect("UNMAP READONLY", &r, -EINVAL, "READONLY is a MAP flag");

	msg_init(&m, family_id, VS_CMD_UNMAP, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(&m, VS_ATTR_DEV_INDEX, 0);
	put_u32(&m, VS_ATTR_FLAGS, VS_GENL_F_FORCE);
	xfer(&m, &r);
	expect("UNMAP FORCE vs0", &r, 0, NULL);
	report(access("/sys/block/vs0", F_OK) != 0, "UNMAP FORCE vs0: /sys/block/vs0 gone");

	msg_init(&m, family_id, VS_CMD_UNMAP, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(&m, VS_ATTR_DEV_INDEX, 0);
	xfer(&m, &r);
	expect("UNMAP vs0 again", &r, -ENODEV, "no such device");

	msg_init(&m, family_id, VS_CMD_UNMAP, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(&m, VS_ATTR_DEV_INDEX, 1u << 20);
	xfer(&m, &r);
	expect("UNMAP DEV_INDEX out of range", &r, -ERANGE, "integer out of range");

	build_set_map(&m, 4, 0, 2);
	xfer(&m, &r);
	expect("SET_MAP valid (vs1 maps pool 1)", &r, 0, NULL);

	msg_init(&m, family_id, VS_CMD_SET_MAP, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(&m, VS_ATTR_POOL_ID, 1);
	xfer(&m, &r);
	expect("SET_MAP with only POOL_ID", &r, -EINVAL,
	       "missing attribute PG_COUNT");

	msg_init(&m, family_id, VS_CMD_RESIZE, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(&m, VS_ATTR_DEV_INDEX, 0);
	put_u64(&m, VS_ATTR_SIZE, 4097 * 512 + 1);
	xfer(&m, &r);
	expect("RESIZE unaligned", &r, -EINVAL, "SIZE must be a multiple of 512");

	msg_init(&m, family_id, VS_CMD_RESIZE, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(&m, VS_ATTR_DEV_INDEX, 1);
	put_u64(&m, VS_ATTR_SIZE, 1ULL << 32);
	xfer(&m, &r);
	expect("RESIZE vs1", &r, 0, NULL);

	msg_init(&m, family_id, VS_CMD_RESIZE, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(&m, VS_ATTR_DEV_INDEX, 0);
	put_u64(&m, VS_ATTR_SIZE, 1ULL << 32);
	xfer(&m, &r);
	expect("RESIZE vs0 (gone)", &r, -ENODEV, "no such device");

	msg_init(&m, family_id, VS_CMD_UNMAP, NLM_F_REQUEST | NLM_F_ACK);
	put_u32(&m, VS_ATTR_DEV_INDEX, 1);
	xfer(&m, &r);
	expect("UNMAP vs1 (not open)", &r, 0, NULL);

	build_set_map(&m, 4, 0, 2);
	xfer(&m, &r);
	expect("SET_MAP without devices", &r, -ENODEV, "no device maps this pool");

	msg_init(&m, family_id, VS_CMD_DEV_ADDED, NLM_F_REQUEST | NLM_F_ACK);
	xfer(&m, &r);
	expect("event command DEV_ADDED from userspace", &r, -EOPNOTSUPP, NULL);

	msg_init(&m, family_id, 200, NLM_F_REQUEST | NLM_F_ACK);
	xfer(&m, &r);
	expect("unknown command 200", &r, -EOPNOTSUPP, NULL);
}

/* Modifying commands need privilege; LIST does not. */
static void test_unprivileged(void)
{
	static struct msg m;
	struct map_cfg c;
	struct result r;
	pid_t pid;
	int status;

	pid = fork();
	if (pid == 0) {
		failures = 0;
		close(fd);
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)) {
			report(0, "unprivileged: setresuid: %s", strerror(errno));
			_exit(1);
		}
		if (open_socket()) {
			report(0, "unprivileged: cannot open socket");
			_exit(1);
		}
		map_defaults(&c);
		build_map(&m, &c);
		xfer(&m, &r);
		expect("unprivileged MAP", &r, -EPERM, NULL);
		msg_init(&m, family_id, VS_CMD_LIST, NLM_F_REQUEST | NLM_F_DUMP);
		xfer(&m, &r);
		report(r.err == 0, "unprivileged LIST dump: err %d", r.err);
		_exit(failures ? 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status))
		failures++;
}

/* ---- fuzzing ---- */

static uint32_t rnd(uint32_t n)
{
	return n ? (uint32_t)random() % n : 0;
}

static void rnd_bytes(unsigned char *p, size_t n)
{
	while (n--)
		*p++ = (unsigned char)random();
}

/* Random attributes, some nested (with or without NLA_F_NESTED). */
static void put_random_attrs(struct msg *m, int depth)
{
	unsigned char data[64];
	int i, count = 1 + (int)rnd(6);

	for (i = 0; i < count && m->len < 4096; i++) {
		uint16_t type = (uint16_t)rnd(VS_ATTR_MAX + 6);
		size_t len = rnd(3) ? (size_t)(1u << rnd(4)) : rnd(sizeof(data));

		if (!rnd(8))
			type |= NLA_F_NET_BYTEORDER;
		if (depth < 4 && !rnd(3)) {
			size_t off = nest_start(m, type, (int)rnd(4));

			put_random_attrs(m, depth + 1);
			nest_end(m, off);
			if (!rnd(10))	/* lie about the nest length */
				((struct nlattr *)(m->buf + off))->nla_len +=
					(uint16_t)(rnd(16) - 8);
			continue;
		}
		rnd_bytes(data, len);
		put(m, type, data, len);
	}
}

/* What the fuzz messages got back: no ack, then by error code. */
static unsigned int fz_noack, fz_ok, fz_einval, fz_erange, fz_eopnotsupp,
	fz_other;

static void fuzz_count(const struct result *r)
{
	if (r->err == 1)
		fz_noack++;
	else if (r->err == 0)
		fz_ok++;
	else if (r->err == -EINVAL)
		fz_einval++;
	else if (r->err == -ERANGE)
		fz_erange++;
	else if (r->err == -EOPNOTSUPP)
		fz_eopnotsupp++;
	else
		fz_other++;
}

/*
 * A fuzzed MAP that is accepted makes a device (its reply has the index)
 * and a fuzzed UNMAP that is accepted (a valid index, by chance) removes
 * one: *devs counts at least the devices the fuzz left. Not by MAP's ack:
 * with a lying nlmsg_len the kernel parses the rest of the datagram as
 * more messages, and acks those with NLM_F_ACK and a control type with 0.
 */
static void fuzz_one(uint32_t i, int *devs, int *unmaps)
{
	static struct msg m;
	struct nlmsghdr *nh = (struct nlmsghdr *)m.buf;
	struct genlmsghdr *gh;
	struct map_cfg c;
	struct result r;
	uint8_t cmd = (uint8_t)(rnd(4) ? rnd(VS_CMD_MAX + 3) : rnd(256));
	uint16_t flags = NLM_F_REQUEST | NLM_F_ACK;
	uint32_t n, k;

	if (!rnd(6))
		flags |= NLM_F_DUMP;
	switch (rnd(5)) {
	case 0:		/* random bytes after the genl header */
		msg_init(&m, family_id, cmd, flags);
		n = rnd(512);
		rnd_bytes(m.buf + m.len, n);
		m.len += n;
		break;
	case 1:		/* random attributes and nests */
	case 2:
		msg_init(&m, family_id, cmd, flags);
		put_random_attrs(&m, 0);
		break;
	case 3:		/* a valid MAP (some with POOLS) or SET_MAP, bytes flipped */
		map_defaults(&c);
		if (rnd(3) == 2)
			xpool_cfg(&c, 1 + (int)rnd(3), XB_NONE);
		if (rnd(2)) {	/* parts of 1..4 PGs: the new attributes */
			c.parts = rnd(3) ? 0 : 1 + rnd(4);
			c.features = c.parts ? VS_FEAT_KNOWN : c.features;
		}
		if (rnd(2))
			build_map(&m, &c);
		else
			build_set_map(&m, 4, c.parts, 2);
		nh->nlmsg_flags = flags;
		for (k = 1 + rnd(8); k; k--)
			m.buf[NLMSG_HDRLEN + 1 + rnd((uint32_t)m.len - NLMSG_HDRLEN - 1)] ^=
				(unsigned char)(1u << rnd(8));
		if (!rnd(4))
			m.len = NLMSG_HDRLEN + rnd((uint32_t)m.len - NLMSG_HDRLEN);
		break;
	default:	/* broken genl header: version, reserved, length */
		msg_init(&m, family_id, cmd, flags);
		gh = (struct genlmsghdr *)(m.buf + NLMSG_HDRLEN);
		gh->version = (uint8_t)rnd(4);
		gh->reserved = (uint16_t)rnd(3);
		put_random_attrs(&m, 0);
		if (!rnd(2))
			m.len = NLMSG_HDRLEN + rnd(GENL_HDRLEN + 1);
		break;
	}
	cmd = ((struct genlmsghdr *)(m.buf + NLMSG_HDRLEN))->cmd;
	send_msg(&m, 0x10000 + i);
	if (!rnd(20)) {	/* also a lying nlmsg_len: the kernel must cope */
		nh->nlmsg_len = rnd((uint32_t)m.len + 64);
		send(fd, m.buf, m.len, 0);
	}
	drain(&r);
	fuzz_count(&r);
	*devs += r.map_replies;	/* counted: such devices are removed later */
	if (!r.err && cmd == VS_CMD_UNMAP && !(flags & NLM_F_DUMP)) {
		(*devs)--;
		(*unmaps)++;
	}
}

/* Force-unmaps every device LIST reports; returns how many, -1 on error. */
static int unmap_all(void)
{
	static struct msg m;
	struct result r;
	int n = 0;

	for (;;) {
		msg_init(&m, family_id, VS_CMD_LIST, NLM_F_REQUEST | NLM_F_DUMP);
		xfer(&m, &r);
		if (r.err || !r.replies || !r.have_index)
			return r.err ? -1 : n;
		msg_init(&m, family_id, VS_CMD_UNMAP, NLM_F_REQUEST | NLM_F_ACK);
		put_u32(&m, VS_ATTR_DEV_INDEX, r.dev_index);
		put_u32(&m, VS_ATTR_FLAGS, VS_GENL_F_FORCE);
		xfer(&m, &r);
		if (r.err)
			return -1;
		n++;
	}
}

static void test_fuzz(uint32_t count, unsigned int seed)
{
	static struct msg m;
	struct map_cfg c;
	struct result r;
	int devs = 0, unmaps = 0;	/* see fuzz_one */
	uint32_t i;

	srandom(seed);
	for (i = 0; i < count; i++)
		fuzz_one(i, &devs, &unmaps);
	printf("# fuzz answers: %u none, %u ok, %u EINVAL, %u ERANGE, %u EOPNOTSUPP, %u other\n",
	       fz_noack, fz_ok, fz_einval, fz_erange, fz_eopnotsupp, fz_other);
	i = (uint32_t)unmap_all();
	report((int)i >= devs,
	       "fuzz: %u malformed messages (seed %u); %d MAPs made a device, %d UNMAPs acked, %d devices force-unmapped",
	       count, seed, devs + unmaps, unmaps, (int)i);

	msg_init(&m, family_id, VS_CMD_LIST, NLM_F_REQUEST | NLM_F_DUMP);
	xfer(&m, &r);
	report(r.err == 0 && r.replies == 0, "LIST dump after fuzz: err %d, %d devices",
	       r.err, r.replies);
	map_defaults(&c);
	build_map(&m, &c);
	xfer(&m, &r);
	report(r.err == 0 && r.have_index, "MAP valid after fuzz: err %d \"%s\"",
	       r.err, r.msg);
	report(unmap_all() == 1, "UNMAP it again");
}

int main(int argc, char **argv)
{
	unsigned int seed = (unsigned int)time(NULL) ^ ((unsigned int)getpid() << 16);
	uint32_t fuzz = 1000;
	int i, err;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--map-only") || !strcmp(argv[i], "--map-layers") ||
		    !strcmp(argv[i], "--unmap-all")) {
			/* for kmod_guest.sh: a device on the test map, or none */
			struct map_cfg c;
			static struct msg m;
			struct result r;

			if (open_socket())
				return 1;
			if (argv[i][2] == 'u') {
				err = unmap_all();
				report(err >= 0, "force-unmapped %d devices", err);
				return failures ? 1 : 0;
			}
			map_defaults(&c);
			if (argv[i][6] == 'l') {	/* three parent layers */
				c.features = VS_FEAT_KNOWN;
				c.layers = 3;
			}
			build_map(&m, &c);
			xfer(&m, &r);
			if (r.err || !r.have_index) {
				fprintf(stderr, "MAP: %d %s\n", r.err, r.msg);
				return 1;
			}
			printf("/dev/vs%u\n", r.dev_index);
			return 0;
		} else if (!strcmp(argv[i], "--absent")) {
			err = open_socket();
			report(err == -ENOENT, "family %s absent (resolve: %d)",
			       VS_GENL_NAME, err);
			return failures ? 1 : 0;
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			seed = (unsigned int)strtoul(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--fuzz") && i + 1 < argc) {
			fuzz = (uint32_t)strtoul(argv[++i], NULL, 0);
		} else {
			fprintf(stderr, "usage: %s [--absent | --map-only | --map-layers | --unmap-all] "
				"[--seed N] [--fuzz N]\n",
				argv[0]);
			return 2;
		}
	}

	err = open_socket();
	report(!err, "resolve family %s: %d (id %d)", VS_GENL_NAME, err, family_id);
	if (err)
		return 1;
	test_list();
	test_features();
	test_map();
	test_layers();
	test_pools();
	test_parts();
	test_other_cmds();
	test_unprivileged();
	test_fuzz(fuzz, seed);
	return failures ? 1 : 0;
}
