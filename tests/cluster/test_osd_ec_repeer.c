/* An EC write in flight while its PG is re-placed (etcd + 4 vstor-osd,
 * lazy mode, one xor 2+1 PG, osd_set [1,2,3] -> [1,4,3], primary 1):
 *
 *   OSD 2 is stopped (SIGSTOP); a 4 KiB write into role 0 of a stripe
 *   reaches primary 1, which reads role 1 from OSD 2 for the parity
 *   (read-modify-write) and waits; config/pgs moves role 1 to OSD 4, so
 *   OSD 1 re-peers; OSD 2 continues (SIGCONT) and answers the read first,
 *   then the peering's SEC_SYNC and SEC_LIST.
 *
 * Were the lists taken with the write still running, its chunks would
 * land after them: the peering's target is the old version, recovery
 * builds role 1 on OSD 4 from it, the SYNC stabilizes the new version
 * where it landed (fails on OSD 4), and the deletion of OSD 2's old role 1
 * at target + 1 fails with EEXIST for ever (has_misplaced). The peering
 * has to wait for the write. Then: the write acknowledged, the PG clean,
 * a SYNC succeeds, the stripe reads back as written, its chunks on
 * [1,4,3] have one version and parity = encode(data), and OSD 2 keeps no
 * chunk of it.
 *
 * Near-deterministic: the write is seen queued on OSD 2's socket
 * (/proc/net/tcp rx_queue) before config/pgs changes; a case where the
 * PG was not active for the write any more is reported and retried. */
#include "check.h"
#include "ec.h"
#include "etcd.h"
#include "osd_cluster.h"
#include "osd_proc.h"
#include "vstor_proto.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PREFIX "/vecr"
#define NOSD 4
#define BS (128u << 10)
#define K 2
#define N 3
#define STRIPE (K * BS)
#define INODE ((1ull << 48) | 1)
#define NSTRIPE 4
#define SMALL 4096u

static struct osd_cluster C;
static uint8_t model[NSTRIPE * STRIPE];

/* A lease TTL of 7 s (report interval + attempts x quick timeout): OSD 2
 * stays registered while it is stopped for a moment. */
static const char *osd_args[] = {
	"--etcd_address", NULL, "--etcd_prefix", PREFIX, "--etcd_report_interval", "5",
	"--max_etcd_attempts", "2", "--etcd_quick_timeout", "500",
	"--immediate_commit", "none", NULL,
};

static const char *pgs_of(const char *set)
{
	static char buf[160];

	snprintf(buf, sizeof(buf), "{\"hash\":\"%s\",\"items\":{\"1\":{\"1\":{\"osd_set\":[%s],"
		 "\"primary\":1}}}}", set, set);
	return buf;
}

static bool wait_pg(const char *need, const char *notin, int ms)
{
	int pgs[] = { 1 };
	uint64_t prim[2] = { 0, 1 };

	return oc_wait_pgs(&C, 1, pgs, 1, prim, need, notin, ms);
}

/* Bytes received by OSD n's established sockets and not read yet. */
static long rx_queued(int n)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	unsigned port = (unsigned)osd_proc_port(C.osds[n]);
	char line[512];
	long sum = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned lport, st;
		unsigned long tx, rx;

		if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %lx:%lx", &lport, &st, &tx, &rx) == 4 &&
		    lport == port && st == 1)
			sum += (long)rx;
	}
	fclose(f);
	return sum;
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

/* Sends a WRITE of len bytes at off to OSD n on a connection of its own
 * and returns that connection (the reply is read by write_reply). */
static int write_send(int n, uint64_t off, uint32_t len, const void *data)
{
	union vs_packet req;
	int fd = oc_connect_port(osd_proc_port(C.osds[n]));

	if (fd < 0)
		return -1;
	vs_req_init(&req, 1, VS_OP_WRITE);
	vs_le64_set(&req.rw.inode, INODE);
	vs_le64_set(&req.rw.offset, off);
	vs_le32_set(&req.rw.len, len);
	if (!oc_send_all(fd, &req, sizeof(req)) || !oc_send_all(fd, data, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int64_t write_reply(int fd, uint64_t *ver)
{
	union vs_packet rep;
	int64_t rv = INT64_MIN;

	if (oc_recv_all(fd, &rep, sizeof(rep))) {
		rv = (int64_t)vs_le64_get(rep.reply.retval);
		*ver = vs_le64_get(rep.reply_rw.version);
	}
	close(fd);
	return rv;
}

/* The stripe at s: its chunks on set (role order) at one version, parity
 * = encode(data); the version to *ver. */
static bool chunks_ok(const uint64_t set[N], uint64_t s, uint64_t *ver)
{
	uint8_t *buf = calloc(N + N - K, BS);
	void *chunk[N], *par[N - K];
	struct ec *ec = NULL;
	uint64_t v[N];
	bool ok = buf && !ec_new(&ec, EC_XOR, K, N - K);

	for (int r = 0; ok && r < N; r++) {
		int64_t rv;

		chunk[r] = buf + (size_t)r * BS;
		rv = oc_sec_read(&C, (int)set[r], INODE, s | (uint64_t)r, BS, chunk[r], &v[r]);
		if (rv != BS || v[r] != v[0]) {
			fprintf(stderr, "stripe %" PRIx64 " role %d on OSD %" PRIu64 ": %lld v%" PRIu64
				", role 0 v%" PRIu64 "\n", s, r, set[r], (long long)rv, v[r], v[0]);
			ok = false;
		}
	}
	for (int j = 0; ok && j < N - K; j++)
		par[j] = buf + (size_t)(N + j) * BS;
	if (ok) {
		ec_encode(ec, (const void *const *)chunk, par, BS);
		for (int j = 0; j < N - K; j++)
			if (memcmp(par[j], chunk[K + j], BS)) {
				fprintf(stderr, "stripe %" PRIx64 ": parity %d differs\n", s, j);
				ok = false;
			}
	}
	*ver = ok ? v[0] : 0;
	if (ec)
		ec_free(ec);
	free(buf);
	return ok;
}

/* Every stripe reads back through primary 1 as the model and is
 * consistent on set. */
static bool verify(const uint64_t set[N])
{
	uint8_t *out = malloc(STRIPE);
	bool ok = out != NULL;

	for (int i = 0; ok && i < NSTRIPE; i++) {
		uint64_t v;
		int64_t rv = oc_prim_rw(&C, 1, VS_OP_READ, INODE, (uint64_t)i * STRIPE, STRIPE, 0,
					NULL, out, &v, NULL);

		if (rv != STRIPE || memcmp(out, model + (size_t)i * STRIPE, STRIPE)) {
			fprintf(stderr, "stripe %d reads %lld%s\n", i, (long long)rv,
				rv == STRIPE ? ", data differs" : "");
			ok = false;
		}
		ok = chunks_ok(set, (uint64_t)i * STRIPE, &v) && ok;
	}
	free(out);
	return ok;
}

/* OSD n keeps no chunk of the image. */
static bool holds_none(int n)
{
	struct vs_obj_ver_id l[64];
	int64_t cnt = oc_sec_list(&C, n, INODE, l, 64);

	for (int64_t i = 0; i < cnt; i++)
		fprintf(stderr, "OSD %d keeps %" PRIx64 " v%" PRIu64 "\n", n, l[i].stripe,
			l[i].version);
	return cnt == 0;
}

static void show_logs(void)
{
	oc_print_logs(&C, NOSD, NULL, 0);
}

#define CHECK_LOGS(cond, ...) do { \
	if (!(cond)) { show_logs(); CHECK_MSG(cond, __VA_ARGS__); } \
} while (0)

/* ---- cases ---- */

static void t_setup(void)
{
	static const char *pools_json =
		"{\"1\":{\"name\":\"x21\",\"scheme\":\"xor\",\"pg_size\":3,\"parity_chunks\":1,"
		"\"pg_minsize\":2,\"pg_count\":1}}";

	oc_init(&C);
	CHECK(oc_start(&C, PREFIX, osd_args, 0, pools_json, pgs_of("1,2,3")));
	CHECK(etcd_put_str_sync(C.cl, "config/global", "{\"immediate_commit\":\"none\"}") ==
	      ETCD_OK);
	CHECK(etcd_put_str_sync(C.cl, "config/inode/1/1", "{\"name\":\"img\",\"size\":4194304}") ==
	      ETCD_OK);
	for (int n = 1; n <= NOSD; n++)
		CHECK(C.osds[n] = osd_proc_start((uint64_t)n, osd_args));
	CHECK_LOGS(wait_pg("active\0", "degraded", 20000), "PG 1 not active");
	fill(model, sizeof(model), 1);
	for (int i = 0; i < NSTRIPE; i++)
		CHECK_EQ(oc_prim_rw(&C, 1, VS_OP_WRITE, INODE, (uint64_t)i * STRIPE, STRIPE, 0,
				    model + (size_t)i * STRIPE, NULL, NULL, NULL), STRIPE);
	CHECK_EQ(oc_sync(&C, 1), 0);
}

/* One attempt: 1 the race was set up (the write ran across the re-peer),
 * 0 the write came too late for it (-EPIPE; the set is moved anyway),
 * -1 failed. */
static int move_with_write(const char *to, uint64_t off)
{
	pid_t pid = osd_proc_pid(C.osds[2]);
	uint8_t data[SMALL];
	long base, q;
	uint64_t ver = 0;
	int64_t rv;
	int fd;

	fill(data, sizeof(data), (unsigned)off + 7);
	if (pid <= 0 || kill(pid, SIGSTOP))
		return -1;
	vt_sleep_ms(50);
	base = rx_queued(2);
	fd = write_send(1, off, SMALL, data);
	/* the read of role 1 for the parity is queued on stopped OSD 2 */
	for (long long t = vt_now_ms() + 5000; (q = rx_queued(2)) <= base && vt_now_ms() < t;)
		vt_sleep_ms(5);
	if (fd < 0 || q <= base || etcd_put_str_sync(C.cl, "config/pgs", pgs_of(to)) != ETCD_OK) {
		fprintf(stderr, "write not started (fd %d, rx queue %ld -> %ld)\n", fd, base, q);
		kill(pid, SIGCONT);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* the re-peer started; unfixed, its SEC_SYNC + SEC_LIST queue up
	 * behind the read (fixed, they wait for the write: not seen) */
	for (long long t = vt_now_ms() + 3000; vt_now_ms() < t &&
	     !oc_log_has(osd_proc_log(C.osds[1]), "configuration changed, re-peering");)
		vt_sleep_ms(5);
	for (long long t = vt_now_ms() + 500; rx_queued(2) <= q && vt_now_ms() < t;)
		vt_sleep_ms(5);
	kill(pid, SIGCONT);
	rv = write_reply(fd, &ver);
	fprintf(stderr, "write at %" PRIx64 " across the re-peer: %lld v%" PRIu64 "\n", off,
		(long long)rv, ver);
	if (rv == -EPIPE)
		return 0;
	if (rv != SMALL)
		return -1;
	memcpy(model + off, data, SMALL);
	return 1;
}

/* After the move to [1,4,3]: clean, SYNC, data and chunks, nothing left
 * on OSD 2; everything checked (and reported) before the verdict. */
static bool moved_ok(void)
{
	static const uint64_t moved[N] = { 1, 4, 3 };
	bool clean = wait_pg("active\0", "has_", 20000);
	int64_t sync = oc_sync(&C, 1);
	bool data = verify(moved), none = holds_none(2);

	if (!clean || sync || !data || !none) {
		fprintf(stderr, "PG %s, SYNC %lld, stripes %s, OSD 2 %s\n",
			clean ? "clean" : "NOT clean", (long long)sync, data ? "ok" : "WRONG",
			none ? "empty" : "KEEPS CHUNKS");
		show_logs();
	}
	return clean && !sync && data && none;
}

/* Role 1 moves from OSD 2 to OSD 4 with a write in flight; when that
 * write came too late for the race, the set goes back and it is tried
 * once more. */
static void t_move(void)
{
	int r = move_with_write("1,4,3", 0);

	CHECK_LOGS(r >= 0, "write across the re-placement failed");
	CHECK(moved_ok());
	if (r == 0) {
		/* once more, with the write later in the stripe */
		CHECK_EQ(etcd_put_str_sync(C.cl, "config/pgs", pgs_of("1,2,3")), ETCD_OK);
		CHECK_LOGS(wait_pg("active\0", "has_", 20000), "PG 1 not clean on [1,2,3]");
		CHECK_EQ(move_with_write("1,4,3", STRIPE + BS / 2), 1);
		CHECK(moved_ok());
	}
}

int main(void)
{
	RUN(t_setup);
	if (!vt_case_failed)
		RUN(t_move);
	oc_free(&C);
	return vt_finish();
}
