/* vstor-osd end to end over TCP with a small blocking client: handshake,
 * secondary ops on the local blockstore, pipelining, parallel connections,
 * durability across kill -9, and hostile input that must only cost the
 * offending connection. */
#include "check.h"
#include "json.h"
#include "osd_proc.h"
#include "vstor_proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define OSD_NUM 7
#define INODE (((uint64_t)1 << 48) | 5)
#define BLOCK (128u << 10)

static struct osd_proc *osd;
static uint64_t next_id = 1;

/* ---- blocking client ---- */

static int cl_connect(void)
{
	struct sockaddr_in sa;
	struct timeval tv = { .tv_sec = 30 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)osd_proc_port(osd));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int cl_send(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static int cl_recv(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t k = recv(fd, b, n, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/* True when the peer closed the connection (EOF or reset within 30 s: a
 * deadline generous enough for a loaded machine, not a wait). */
static bool cl_closed(int fd)
{
	struct timeval tv = { .tv_sec = 30 };
	char c;
	ssize_t k;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	k = recv(fd, &c, 1, 0);
	return k == 0 || (k < 0 && errno == ECONNRESET);
}

/* Reads one reply; payload (up to cap bytes) into buf. Returns the payload
 * length or -1. */
static long cl_reply(int fd, union vs_packet *rep, uint64_t opcode, void *buf, size_t cap)
{
	int64_t n;

	if (cl_recv(fd, rep, VS_PACKET_SIZE) < 0)
		return -1;
	n = vs_check_reply(rep, opcode);
	if (n < 0 || (size_t)n > cap)
		return -1;
	if (n && cl_recv(fd, buf, (size_t)n) < 0)
		return -1;
	return (long)n;
}

static void req_sec_rw(union vs_packet *p, uint64_t id, uint64_t opcode, uint64_t stripe,
		       uint64_t version, uint32_t offset, uint32_t len, uint32_t attr_len)
{
	vs_req_init(p, id, opcode);
	vs_le64_set(&p->sec_rw.oid.inode, INODE);
	vs_le64_set(&p->sec_rw.oid.stripe, stripe);
	vs_le64_set(&p->sec_rw.version, version);
	vs_le32_set(&p->sec_rw.offset, offset);
	vs_le32_set(&p->sec_rw.len, len);
	vs_le32_set(&p->sec_rw.attr_len, attr_len);
}

/* SEC_WRITE(_STABLE); returns retval, *ver = version written. */
static int64_t sec_write(int fd, uint64_t opcode, uint64_t stripe, uint64_t version,
			 uint32_t offset, uint32_t len, const void *data, uint64_t *ver)
{
	union vs_packet p, r;
	uint64_t id = next_id++;

	req_sec_rw(&p, id, opcode, stripe, version, offset, len, 0);
	if (cl_send(fd, &p, sizeof(p)) < 0 || cl_send(fd, data, len) < 0 ||
	    cl_reply(fd, &r, opcode, NULL, 0) != 0 || vs_packet_id(&r) != id)
		return -1000;
	if (ver)
		*ver = vs_le64_get(r.reply_sec_rw.version);
	return vs_reply_retval(&r);
}

/* SEC_READ into data (len bytes) and bmp (4 bytes); returns retval. */
static int64_t sec_read(int fd, uint64_t stripe, uint64_t version, uint32_t offset, uint32_t len,
			void *data, uint8_t *bmp, uint64_t *ver)
{
	union vs_packet p, r;
	uint64_t id = next_id++;
	static uint8_t buf[BLOCK + 64];
	long n;

	req_sec_rw(&p, id, VS_OP_SEC_READ, stripe, version, offset, len, 4);
	if (cl_send(fd, &p, sizeof(p)) < 0)
		return -1000;
	n = cl_reply(fd, &r, VS_OP_SEC_READ, buf, sizeof(buf));
	if (n < 0 || vs_packet_id(&r) != id)
		return -1000;
	if (vs_reply_retval(&r) >= 0) {
		uint32_t al = vs_le32_get(r.reply_sec_rw.attr_len);

		if (al != 4 || n != (long)(al + len))
			return -1001;
		memcpy(bmp, buf, 4);
		memcpy(data, buf + 4, len);
	}
	if (ver)
		*ver = vs_le64_get(r.reply_sec_rw.version);
	return vs_reply_retval(&r);
}

static int64_t simple_op(int fd, uint64_t opcode)
{
	union vs_packet p, r;
	uint64_t id = next_id++;

	vs_req_init(&p, id, opcode);
	if (cl_send(fd, &p, sizeof(p)) < 0 || cl_reply(fd, &r, opcode, NULL, 0) != 0 ||
	    vs_packet_id(&r) != id)
		return -1000;
	return vs_reply_retval(&r);
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

/* ---- cases ---- */

static void test_show_config(void)
{
	union vs_packet p, r;
	char buf[4096];
	char err[128];
	long n;
	int fd = cl_connect();
	json_t j;
	uint64_t v;
	bool b;

	CHECK(fd >= 0);
	vs_req_init(&p, 1, VS_OP_SHOW_CONFIG);
	CHECK(cl_send(fd, &p, sizeof(p)) == 0);
	n = cl_reply(fd, &r, VS_OP_SHOW_CONFIG, buf, sizeof(buf));
	close(fd);
	CHECK(n > 1);
	CHECK_EQ(vs_reply_retval(&r), n);
	CHECK_EQ(buf[n - 1], 0);
	CHECK_EQ(strlen(buf), n - 1);
	j = json_parse(buf, (size_t)n - 1, err, sizeof(err));
	CHECK_MSG(j, "bad JSON %s: %s", buf, err);
	CHECK(json_u64(json_get(j, "osd_num"), &v) == 0 && v == OSD_NUM);
	CHECK(json_u64(json_get(j, "protocol_version"), &v) == 0 && v == 1);
	CHECK(json_u64(json_get(j, "block_size"), &v) == 0 && v == BLOCK);
	CHECK(json_u64(json_get(j, "bitmap_granularity"), &v) == 0 && v == 4096);
	CHECK(json_u64(json_get(j, "lease_timeout"), &v) == 0 && v > 0);
	CHECK(json_bool(json_get(j, "primary_enabled"), &b) == 0 && !b);
	CHECK(json_bool(json_get(j, "blockstore_enabled"), &b) == 0 && b);
	CHECK(json_bool(json_get(j, "readonly"), &b) == 0 && !b);
	CHECK_STR(json_str(json_get(j, "immediate_commit")), "none");
	json_free(j);
}

static void test_ping(void)
{
	int fd = cl_connect();

	CHECK(fd >= 0);
	CHECK_EQ(simple_op(fd, VS_OP_PING), 0);
	CHECK_EQ(simple_op(fd, VS_OP_PING), 0);
	close(fd);
}

static void test_write_read(void)
{
	static uint8_t data[BLOCK], back[BLOCK];
	uint8_t bmp[4];
	uint64_t ver = 0, rver = 0;
	int fd = cl_connect();

	CHECK(fd >= 0);
	fill(data, 8192, 1);
	CHECK_EQ(sec_write(fd, VS_OP_SEC_WRITE_STABLE, 0, 0, 4096, 8192, data, &ver), 8192);
	CHECK(ver >= 1);
	CHECK_EQ(sec_read(fd, 0, VS_SEC_READ_NEWEST, 4096, 8192, back, bmp, &rver), 8192);
	CHECK_EQ(rver, ver);
	CHECK(!memcmp(back, data, 8192));
	CHECK_EQ(bmp[0], 0x06);	/* granules 1 and 2 */
	CHECK_EQ(bmp[1] | bmp[2] | bmp[3], 0);
	/* A whole block (payload received straight into its buffer). */
	fill(data, BLOCK, 2);
	CHECK_EQ(sec_write(fd, VS_OP_SEC_WRITE_STABLE, BLOCK, 0, 0, BLOCK, data, &ver), BLOCK);
	CHECK_EQ(sec_read(fd, BLOCK, VS_SEC_READ_STABLE, 0, BLOCK, back, bmp, NULL), BLOCK);
	CHECK(!memcmp(back, data, BLOCK));
	CHECK_EQ(bmp[0] & bmp[1] & bmp[2] & bmp[3], 0xff);
	/* Out of the block: -EINVAL. */
	CHECK_EQ(sec_write(fd, VS_OP_SEC_WRITE_STABLE, 0, 0, BLOCK - 4096, 8192, data, NULL),
		 -EINVAL);
	CHECK_EQ(simple_op(fd, VS_OP_PING), 0);
	close(fd);
}

static void test_versions(void)
{
	static uint8_t data[4096], back[4096];
	uint8_t bmp[4];
	uint64_t ver = 0;
	int fd = cl_connect();

	CHECK(fd >= 0);
	fill(data, 4096, 3);
	CHECK_EQ(sec_write(fd, VS_OP_SEC_WRITE_STABLE, 2 * BLOCK, 10, 0, 4096, data, &ver), 4096);
	CHECK_EQ(ver, 10);
	CHECK_EQ(sec_write(fd, VS_OP_SEC_WRITE_STABLE, 2 * BLOCK, 10, 0, 4096, data, NULL), -EEXIST);
	CHECK_EQ(sec_write(fd, VS_OP_SEC_WRITE_STABLE, 2 * BLOCK, 7, 0, 4096, data, NULL), -EEXIST);
	fill(data, 4096, 4);
	CHECK_EQ(sec_write(fd, VS_OP_SEC_WRITE_STABLE, 2 * BLOCK, 0, 0, 4096, data, &ver), 4096);
	CHECK_EQ(ver, 11);
	CHECK_EQ(sec_read(fd, 2 * BLOCK, VS_SEC_READ_STABLE, 0, 4096, back, bmp, &ver), 4096);
	CHECK_EQ(ver, 11);
	CHECK(!memcmp(back, data, 4096));
	/* Unstable write, then stabilize it. */
	fill(data, 4096, 5);
	CHECK_EQ(sec_write(fd, VS_OP_SEC_WRITE, 2 * BLOCK, 12, 0, 4096, data, &ver), 4096);
	CHECK_EQ(sec_read(fd, 2 * BLOCK, VS_SEC_READ_STABLE, 0, 4096, back, bmp, &ver), 4096);
	CHECK_EQ(ver, 11);
	CHECK_EQ(sec_read(fd, 2 * BLOCK, VS_SEC_READ_NEWEST, 0, 4096, back, bmp, &ver), 4096);
	CHECK_EQ(ver, 12);
	CHECK(!memcmp(back, data, 4096));
	CHECK_EQ(simple_op(fd, VS_OP_SEC_SYNC), 0);
	{
		union vs_packet p, r;
		struct vs_obj_ver_id v;
		uint8_t out[64];

		vs_le64_set(&v.inode, INODE);
		vs_le64_set(&v.stripe, 2 * BLOCK);
		vs_le64_set(&v.version, 12);
		vs_req_init(&p, next_id++, VS_OP_SEC_STABILIZE);
		vs_le64_set(&p.sec_stab.len, sizeof(v));
		CHECK(cl_send(fd, &p, sizeof(p)) == 0 && cl_send(fd, &v, sizeof(v)) == 0);
		CHECK_EQ(cl_reply(fd, &r, VS_OP_SEC_STABILIZE, NULL, 0), 0);
		CHECK_EQ(vs_reply_retval(&r), 0);
		/* READ_BMP of that version: u64 version + 4 bitmap bytes. */
		vs_req_init(&p, next_id++, VS_OP_SEC_READ_BMP);
		vs_le64_set(&p.sec_read_bmp.len, sizeof(v));
		CHECK(cl_send(fd, &p, sizeof(p)) == 0 && cl_send(fd, &v, sizeof(v)) == 0);
		CHECK_EQ(cl_reply(fd, &r, VS_OP_SEC_READ_BMP, out, sizeof(out)), 12);
		CHECK_EQ(vs_reply_retval(&r), 12);
		memcpy(&ver, out, 8);
		CHECK_EQ(vs_le64_get(ver), 12);
		CHECK_EQ(out[8], 1);
	}
	CHECK_EQ(sec_read(fd, 2 * BLOCK, VS_SEC_READ_STABLE, 0, 4096, back, bmp, &ver), 4096);
	CHECK_EQ(ver, 12);
	close(fd);
}

static long do_list(int fd, struct vs_obj_ver_id *out, size_t cap, uint64_t *stable)
{
	union vs_packet p, r;
	long n;

	vs_req_init(&p, next_id++, VS_OP_SEC_LIST);
	vs_le32_set(&p.sec_list.pg_num, 1);
	vs_le32_set(&p.sec_list.pg_count, 0);
	vs_le64_set(&p.sec_list.pg_stripe_size, BLOCK);
	vs_le64_set(&p.sec_list.min_inode, INODE);
	vs_le64_set(&p.sec_list.max_inode, INODE);
	if (cl_send(fd, &p, sizeof(p)) < 0)
		return -1;
	n = cl_reply(fd, &r, VS_OP_SEC_LIST, out, cap * sizeof(*out));
	if (n < 0 || vs_reply_retval(&r) < 0 || (size_t)n != vs_reply_retval(&r) * sizeof(*out))
		return -1;
	*stable = vs_le64_get(r.reply_sec_list.stable_count);
	return (long)vs_reply_retval(&r);
}

static void test_list_delete(void)
{
	static struct vs_obj_ver_id l[1024];
	static uint8_t data[4096], back[4096];
	uint8_t bmp[4];
	uint64_t stable = 0, ver = 0, dver = 0;
	bool found = false;
	long n;
	int fd = cl_connect();

	CHECK(fd >= 0);
	fill(data, 4096, 6);
	CHECK_EQ(sec_write(fd, VS_OP_SEC_WRITE_STABLE, 5 * BLOCK, 0, 0, 4096, data, &ver), 4096);
	n = do_list(fd, l, 1024, &stable);
	CHECK(n >= 1);
	CHECK(stable <= (uint64_t)n);
	for (long i = 0; i < n; i++) {
		CHECK_EQ(vs_le64_get(l[i].inode), INODE);
		if (vs_le64_get(l[i].stripe) == 5 * BLOCK) {
			CHECK_EQ(vs_le64_get(l[i].version), ver);
			CHECK(i < (long)stable);
			found = true;
		}
	}
	CHECK(found);
	{
		union vs_packet p, r;

		vs_req_init(&p, next_id++, VS_OP_SEC_DELETE);
		vs_le64_set(&p.sec_del.oid.inode, INODE);
		vs_le64_set(&p.sec_del.oid.stripe, 5 * BLOCK);
		CHECK(cl_send(fd, &p, sizeof(p)) == 0);
		CHECK_EQ(cl_reply(fd, &r, VS_OP_SEC_DELETE, NULL, 0), 0);
		CHECK_EQ(vs_reply_retval(&r), 0);
		dver = vs_le64_get(r.reply_sec_del.version);
		CHECK(dver > ver);
	}
	memset(back, 0xee, sizeof(back));
	CHECK_EQ(sec_read(fd, 5 * BLOCK, VS_SEC_READ_NEWEST, 0, 4096, back, bmp, NULL), 4096);
	for (int i = 0; i < 4096; i++)
		CHECK_EQ(back[i], 0);
	CHECK_EQ(simple_op(fd, VS_OP_SEC_SYNC), 0);
	close(fd);
}

/* 96 requests in one send; replies matched by id in any order. */
static void test_pipelined(void)
{
	enum { N = 96 };
	static uint8_t out[N * (VS_PACKET_SIZE + 4096)];
	static uint8_t data[4096], rbuf[8192];
	bool seen[N] = { false };
	size_t o = 0;
	int fd = cl_connect();

	CHECK(fd >= 0);
	for (int i = 0; i < N; i++) {
		union vs_packet p;
		uint64_t id = 1000 + (uint64_t)i;

		if (i % 3 == 0) {
			req_sec_rw(&p, id, VS_OP_SEC_WRITE_STABLE, (uint64_t)(16 + i) * BLOCK, 0, 0,
				   4096, 0);
			memcpy(out + o, &p, sizeof(p));
			o += sizeof(p);
			fill(data, 4096, (unsigned)i);
			memcpy(out + o, data, 4096);
			o += 4096;
		} else if (i % 3 == 1) {
			req_sec_rw(&p, id, VS_OP_SEC_READ, (uint64_t)(16 + i) * BLOCK,
				   VS_SEC_READ_NEWEST, 0, 4096, 4);
			memcpy(out + o, &p, sizeof(p));
			o += sizeof(p);
		} else {
			vs_req_init(&p, id, VS_OP_PING);
			memcpy(out + o, &p, sizeof(p));
			o += sizeof(p);
		}
	}
	CHECK(cl_send(fd, out, o) == 0);
	for (int k = 0; k < N; k++) {
		union vs_packet r;
		uint64_t id;
		int i;
		long n;

		CHECK(cl_recv(fd, &r, sizeof(r)) == 0);
		id = vs_packet_id(&r);
		CHECK(id >= 1000 && id < 1000 + N);
		i = (int)(id - 1000);
		CHECK(!seen[i]);
		seen[i] = true;
		n = vs_check_reply(&r, i % 3 == 0 ? VS_OP_SEC_WRITE_STABLE :
				   i % 3 == 1 ? VS_OP_SEC_READ : VS_OP_PING);
		CHECK(n >= 0 && (size_t)n <= sizeof(rbuf));
		CHECK(n == 0 || cl_recv(fd, rbuf, (size_t)n) == 0);
		if (i % 3 == 0)
			CHECK_EQ(vs_reply_retval(&r), 4096);
		else if (i % 3 == 1)
			CHECK_EQ(n, 4 + 4096);	/* never written: zeroes */
		else
			CHECK_EQ(vs_reply_retval(&r), 0);
	}
	CHECK_EQ(simple_op(fd, VS_OP_PING), 0);
	close(fd);
}

static void test_parallel_connections(void)
{
	enum { C = 4, R = 24 };
	static uint8_t data[4096], back[4096];
	uint8_t bmp[4];
	int fds[C];

	for (int c = 0; c < C; c++) {
		fds[c] = cl_connect();
		CHECK(fds[c] >= 0);
	}
	/* Interleave: every connection has a request outstanding at once. */
	for (int r = 0; r < R; r++) {
		for (int c = 0; c < C; c++) {
			union vs_packet p;

			fill(data, 4096, (unsigned)(r * C + c));
			req_sec_rw(&p, (uint64_t)(r * C + c + 1), VS_OP_SEC_WRITE_STABLE,
				   (uint64_t)(200 + c) * BLOCK, 0, (uint32_t)(r % 32) * 4096, 4096, 0);
			CHECK(cl_send(fds[c], &p, sizeof(p)) == 0);
			CHECK(cl_send(fds[c], data, 4096) == 0);
		}
		for (int c = 0; c < C; c++) {
			union vs_packet rep;

			CHECK_EQ(cl_reply(fds[c], &rep, VS_OP_SEC_WRITE_STABLE, NULL, 0), 0);
			CHECK_EQ(vs_packet_id(&rep), r * C + c + 1);
			CHECK_EQ(vs_reply_retval(&rep), 4096);
		}
	}
	for (int c = 0; c < C; c++) {
		fill(data, 4096, (unsigned)((R - 1) * C + c));
		CHECK_EQ(sec_read(fds[c], (uint64_t)(200 + c) * BLOCK, VS_SEC_READ_NEWEST,
				  (uint32_t)((R - 1) % 32) * 4096, 4096, back, bmp, NULL), 4096);
		CHECK(!memcmp(back, data, 4096));
		close(fds[c]);
	}
}

/* The OSD is alive and a fresh connection works. */
static bool osd_ok(int keep)
{
	int fd = cl_connect();
	bool ok = fd >= 0 && simple_op(fd, VS_OP_PING) == 0 && simple_op(keep, VS_OP_PING) == 0;

	if (fd >= 0)
		close(fd);
	return ok && osd_proc_running(osd);
}

static void test_bad_input(void)
{
	static uint8_t junk[4096];
	union vs_packet p, r;
	int keep = cl_connect(), fd;

	CHECK(keep >= 0);
	/* Random bytes. */
	srand(42);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand();
	fd = cl_connect();
	CHECK(fd >= 0);
	CHECK(cl_send(fd, junk, sizeof(junk)) == 0);
	CHECK(cl_closed(fd));
	close(fd);
	CHECK(osd_ok(keep));
	/* Bad magic after a good request. */
	fd = cl_connect();
	CHECK_EQ(simple_op(fd, VS_OP_PING), 0);
	vs_req_init(&p, 5, VS_OP_PING);
	p.buf[0] ^= 1;
	CHECK(cl_send(fd, &p, sizeof(p)) == 0);
	CHECK(cl_closed(fd));
	close(fd);
	CHECK(osd_ok(keep));
	/* Unknown opcodes and a primary op: -EINVAL, connection stays. */
	fd = cl_connect();
	CHECK_EQ(simple_op(fd, 77), -EINVAL);
	CHECK_EQ(simple_op(fd, 0), -EINVAL);
	CHECK_EQ(simple_op(fd, VS_OP_TEST_SYNC_STAB_ALL), -EINVAL);
	vs_req_init(&p, next_id++, VS_OP_READ);
	vs_le64_set(&p.rw.inode, INODE);
	vs_le32_set(&p.rw.len, 4096);
	CHECK(cl_send(fd, &p, sizeof(p)) == 0);
	CHECK_EQ(cl_reply(fd, &r, VS_OP_READ, NULL, 0), 0);
	CHECK_EQ(vs_reply_retval(&r), -EINVAL);
	/* A primary WRITE: its payload is skipped, then -EINVAL. */
	vs_req_init(&p, next_id++, VS_OP_WRITE);
	vs_le64_set(&p.rw.inode, INODE);
	vs_le32_set(&p.rw.len, 4096);
	CHECK(cl_send(fd, &p, sizeof(p)) == 0 && cl_send(fd, junk, 4096) == 0);
	CHECK_EQ(cl_reply(fd, &r, VS_OP_WRITE, NULL, 0), 0);
	CHECK_EQ(vs_reply_retval(&r), -EINVAL);
	/* SEC_STABILIZE with a length that is not a multiple of 24: the
	 * payload is consumed, -EINVAL. */
	vs_req_init(&p, next_id++, VS_OP_SEC_STABILIZE);
	vs_le64_set(&p.sec_stab.len, 25);
	CHECK(cl_send(fd, &p, sizeof(p)) == 0 && cl_send(fd, junk, 25) == 0);
	CHECK_EQ(cl_reply(fd, &r, VS_OP_SEC_STABILIZE, NULL, 0), 0);
	CHECK_EQ(vs_reply_retval(&r), -EINVAL);
	CHECK_EQ(simple_op(fd, VS_OP_PING), 0);
	close(fd);
	/* Payload length over 64 MiB. */
	fd = cl_connect();
	req_sec_rw(&p, 9, VS_OP_SEC_WRITE, 0, 0, 0, VS_MAX_OP_LEN + 4096, 0);
	CHECK(cl_send(fd, &p, sizeof(p)) == 0);
	CHECK(cl_closed(fd));
	close(fd);
	fd = cl_connect();
	vs_req_init(&p, 10, VS_OP_SHOW_CONFIG);
	vs_le64_set(&p.show_config.json_len, 1ull << 40);
	CHECK(cl_send(fd, &p, sizeof(p)) == 0);
	CHECK(cl_closed(fd));
	close(fd);
	CHECK(osd_ok(keep));
	/* Peer closes in the middle of a large payload (and of a header). */
	fd = cl_connect();
	req_sec_rw(&p, 11, VS_OP_SEC_WRITE_STABLE, 300 * BLOCK, 0, 0, BLOCK, 0);
	CHECK(cl_send(fd, &p, sizeof(p)) == 0 && cl_send(fd, junk, 4096) == 0);
	close(fd);
	fd = cl_connect();
	CHECK(cl_send(fd, &p, 50) == 0);
	close(fd);
	CHECK(osd_ok(keep));
	/* A reply nobody asked for. */
	fd = cl_connect();
	vs_req_init(&p, 12, VS_OP_PING);
	vs_reply_init(&r, &p, 0);
	CHECK(cl_send(fd, &r, sizeof(r)) == 0);
	CHECK(cl_closed(fd));
	close(fd);
	/* Many requests then an abrupt close while replies are pending. */
	fd = cl_connect();
	for (int i = 0; i < 64; i++) {
		req_sec_rw(&p, 100 + (uint64_t)i, VS_OP_SEC_READ, 0, VS_SEC_READ_NEWEST, 0, BLOCK, 4);
		CHECK(cl_send(fd, &p, sizeof(p)) == 0);
	}
	close(fd);
	CHECK(osd_ok(keep));
	close(keep);
}

static void test_durable_after_kill(void)
{
	static uint8_t data[BLOCK], back[BLOCK];
	const char *ic_all[] = { "--immediate_commit", "all", NULL };
	struct osd_proc *main_osd = osd;
	uint8_t bmp[4];
	uint64_t ver = 0, rver = 0;
	int fd;

	/* Written with SEC_SYNC on the default OSD. */
	fd = cl_connect();
	CHECK(fd >= 0);
	fill(data, 16384, 9);
	CHECK_EQ(sec_write(fd, VS_OP_SEC_WRITE_STABLE, 400 * BLOCK, 0, 8192, 16384, data, &ver),
		 16384);
	CHECK_EQ(simple_op(fd, VS_OP_SEC_SYNC), 0);
	close(fd);
	CHECK(osd_proc_kill(osd) == 128 + 9);
	CHECK(osd_proc_restart(osd) == 0);
	fd = cl_connect();
	CHECK(fd >= 0);
	CHECK_EQ(sec_read(fd, 400 * BLOCK, VS_SEC_READ_STABLE, 8192, 16384, back, bmp, &rver),
		 16384);
	CHECK_EQ(rver, ver);
	CHECK(!memcmp(back, data, 16384));
	close(fd);

	/* immediate_commit=all: durable once acknowledged, no SYNC. */
	osd = osd_proc_start(OSD_NUM + 1, ic_all);
	CHECK(osd);
	fd = cl_connect();
	CHECK(fd >= 0);
	for (int i = 0; i < 8; i++) {
		fill(data, BLOCK, 20u + (unsigned)i);
		CHECK_EQ(sec_write(fd, VS_OP_SEC_WRITE_STABLE, (uint64_t)i * BLOCK, 0, 0,
				   i & 1 ? 4096 : BLOCK, data, NULL), i & 1 ? 4096 : BLOCK);
	}
	close(fd);
	CHECK(osd_proc_kill(osd) == 128 + 9);
	CHECK(osd_proc_restart(osd) == 0);
	fd = cl_connect();
	CHECK(fd >= 0);
	for (int i = 0; i < 8; i++) {
		uint32_t len = i & 1 ? 4096 : BLOCK;

		fill(data, BLOCK, 20u + (unsigned)i);
		CHECK_EQ(sec_read(fd, (uint64_t)i * BLOCK, VS_SEC_READ_STABLE, 0, len, back, bmp,
				  NULL), len);
		CHECK(!memcmp(back, data, len));
	}
	close(fd);
	CHECK_EQ(osd_proc_stop(osd), 0);
	osd_proc_free(osd);
	osd = main_osd;
}

static void test_clean_shutdown(void)
{
	int fd = cl_connect();

	CHECK(fd >= 0);
	CHECK_EQ(simple_op(fd, VS_OP_PING), 0);
	/* SIGTERM with a connection open: exits 0. */
	CHECK_EQ(osd_proc_stop(osd), 0);
	CHECK(cl_closed(fd));
	close(fd);
}

int main(void)
{
	osd = osd_proc_start(OSD_NUM, NULL);
	if (!osd) {
		printf("FAIL: start vstor-osd\n");
		return 1;
	}
	RUN(test_show_config);
	RUN(test_ping);
	RUN(test_write_read);
	RUN(test_versions);
	RUN(test_list_delete);
	RUN(test_pipelined);
	RUN(test_parallel_connections);
	RUN(test_bad_input);
	RUN(test_durable_after_kill);
	RUN(test_clean_shutdown);
	osd_proc_free(osd);
	return vt_finish();
}
