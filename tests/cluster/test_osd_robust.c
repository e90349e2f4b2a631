/* Robustness of vstor-osd against slow or greedy peers, on 3 real OSDs +
 * a real etcd, with leases long enough (15 s) that no lease expires:
 *
 * - a replica that stops answering (SIGSTOP) is detected by PING
 *   (osd_idle_timeout / osd_ping_timeout 1 s): the primary drops it,
 *   re-peers degraded and the write that waited for it completes; after
 *   SIGCONT the primary's PING probes see it answer again, it re-peers and
 *   recovery makes the replicas equal;
 * - the same with pings effectively off and peer_op_timeout 2 s: the
 *   unanswered SEC_WRITE_STABLE itself drops the connection;
 * - a client that sends thousands of 64 KiB reads and reads no reply
 *   stops being read (TCP pushes back on it) once it owns
 *   OSD_CONN_MAX_OPS ops, so the OSD's memory stays bounded; another
 *   client is served meanwhile, and once it reads its replies every read
 *   has succeeded.
 *
 * Pool 1: pg_size 3, pg_minsize 2, 1 PG [1,2,3] (primary 1). */
#include "check.h"
#include "etcd.h"
#include "osd_cluster.h"
#include "vstor_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PREFIX "/vb"
#define NOSD 3
#define BS (128u << 10)
#define NOBJ 8
#define INODE ((1ull << 48) | 11)
#define FLOOD_N 6000
#define FLOOD_LEN (64u << 10)

static struct osd_cluster C;
static struct oc_model M;
static const uint64_t prim[2] = { 0, 1 };

static const char *osd_args[] = {
	"--etcd_address", NULL, "--etcd_prefix", PREFIX, "--etcd_report_interval", "5",
	"--max_etcd_attempts", "5", "--etcd_quick_timeout", "1000", NULL,
};

static bool wait_pg(const char *need, const char *notin, int ms)
{
	int one = 1;

	return oc_wait_pgs(&C, 1, &one, 1, prim, need, notin, ms);
}

static bool osd_registered(int n)
{
	char key[32], *v = NULL;
	bool up;

	snprintf(key, sizeof(key), "osd/state/%d", n);
	up = etcd_get_str_sync(C.cl, key, &v) == ETCD_OK && v;
	free(v);
	return up;
}

/* ---- cases ---- */

static void t_setup(void)
{
	CHECK(oc_start(&C, PREFIX, osd_args, NOSD,
		       "{\"1\":{\"name\":\"r\",\"scheme\":\"replicated\",\"pg_size\":3,"
		       "\"pg_minsize\":2,\"pg_count\":1}}",
		       "{\"hash\":\"h\",\"items\":{\"1\":{\"1\":{\"osd_set\":[1,2,3],"
		       "\"primary\":1}}}}"));
	CHECK_MSG(wait_pg("active\0", "degraded", 20000), "PG not active; see %s",
		  osd_proc_log(C.osds[1]));
	CHECK_EQ(oc_model_init(&M, INODE, BS, NOBJ, 0), 0);
	for (int i = 0; i < NOBJ; i++)
		CHECK_EQ(oc_model_write(&C, &M, 1, i, 32), 0);
}

/* SIGSTOP OSD 3, write through the primary: done within max_ms, the PG
 * degraded, OSD 3 still registered (its lease did not expire, so the
 * liveness checks did it); SIGCONT: clean again, replicas equal. */
static void stopped_replica(int max_ms)
{
	pid_t pid = osd_proc_pid(C.osds[3]);
	long long t0;
	int r;

	CHECK(pid > 0);
	CHECK_EQ(kill(pid, SIGSTOP), 0);
	t0 = vt_now_ms();
	r = oc_model_write(&C, &M, 1, 0, 8);	/* resent while the PG re-peers */
	CHECK_MSG(r == 0, "write with OSD 3 stopped: %d", r);
	CHECK_MSG(vt_now_ms() - t0 < max_ms, "the write took %lld ms", vt_now_ms() - t0);
	CHECK_MSG(wait_pg("active\0degraded\0", NULL, 5000), "PG not degraded; see %s",
		  osd_proc_log(C.osds[1]));
	CHECK_MSG(osd_registered(3), "osd/state/3 expired: the lease decided, not the timeouts");
	for (int i = 1; i < NOBJ; i++)
		CHECK_EQ(oc_model_write(&C, &M, 1, i, 8), 0);
	CHECK_EQ(kill(pid, SIGCONT), 0);
	CHECK_MSG(wait_pg("active\0", "degraded", 20000), "PG not clean after SIGCONT; see %s",
		  osd_proc_log(C.osds[1]));
	for (int i = 0; i < NOBJ; i++)
		for (int n = 1; n <= NOSD; n++)
			CHECK_MSG(oc_model_replica(&C, &M, n, i), "obj %d on OSD %d", i, n);
}

static void t_ping_timeout(void)
{
	CHECK(etcd_put_str_sync(C.cl, "config/global",
				"{\"osd_idle_timeout\":1,\"osd_ping_timeout\":1,"
				"\"peer_op_timeout\":0,\"peer_connect_interval\":1}") == ETCD_OK);
	vt_sleep_ms(500);	/* the OSDs apply config/global */
	stopped_replica(8000);
}

static void t_op_timeout(void)
{
	CHECK(etcd_put_str_sync(C.cl, "config/global",
				"{\"osd_idle_timeout\":60,\"osd_ping_timeout\":60,"
				"\"peer_op_timeout\":2,\"peer_connect_interval\":1}") == ETCD_OK);
	vt_sleep_ms(500);
	stopped_replica(9000);
}

static uint64_t vm_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	uint64_t kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			kb = strtoull(line + strlen(field) + 1, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

/* FLOOD_N reads of FLOOD_LEN on one connection that reads no replies: once
 * the socket buffers are full, every read's reply waits in the OSD with
 * its buffer; without a cap the OSD would hold FLOOD_N of them. */
static void t_flood(void)
{
	static uint8_t rx[VS_PACKET_SIZE + 64 + FLOOD_LEN];
	int fd = oc_connect_port(osd_proc_port(C.osds[1]));
	pid_t pid = osd_proc_pid(C.osds[1]);
	size_t total = (size_t)FLOOD_N * VS_PACKET_SIZE, sent = 0, got = 0, need = VS_PACKET_SIZE;
	uint64_t rss0 = vm_kb(pid, "VmRSS:"), hwm;
	union vs_packet *reqs = calloc(FLOOD_N, sizeof(*reqs));
	long long deadline;
	int replies = 0;

	CHECK(fd >= 0 && reqs && rss0);
	for (int k = 0; k < FLOOD_N; k++) {
		vs_req_init(&reqs[k], 100000 + (uint64_t)k, VS_OP_READ);
		vs_le64_set(&reqs[k].rw.inode, INODE);
		vs_le64_set(&reqs[k].rw.offset, (uint64_t)(k % NOBJ) * BS);
		vs_le32_set(&reqs[k].rw.len, FLOOD_LEN);
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	/* send everything we can, read nothing, give the OSD 3 s */
	for (deadline = vt_now_ms() + 3000; vt_now_ms() < deadline;) {
		ssize_t r = sent < total ? send(fd, (uint8_t *)reqs + sent, total - sent,
						MSG_NOSIGNAL) : 0;

		if (r > 0)
			sent += (size_t)r;
		else
			vt_sleep_ms(50);
	}
	hwm = vm_kb(pid, "VmHWM:");
	fprintf(stderr, "flood: %zu of %zu request bytes sent; OSD RSS %" PRIu64 " KiB, peak %"
		PRIu64 " KiB\n", sent, total, rss0, hwm);
	CHECK_MSG(hwm < rss0 + 200 * 1024, "the OSD grew from %" PRIu64 " to %" PRIu64 " KiB for "
		  "one client that reads no replies", rss0, hwm);
	/* another client is served meanwhile */
	{
		long long t0 = vt_now_ms();

		CHECK_EQ(oc_model_write(&C, &M, 1, 1, 8), 0);
		CHECK(oc_model_read(&C, &M, 1, 1));
		CHECK_MSG(vt_now_ms() - t0 < 3000, "another client waited %lld ms",
			  vt_now_ms() - t0);
	}
	/* read every reply (and send the rest) */
	deadline = vt_now_ms() + 120000;
	while (replies < FLOOD_N && vt_now_ms() < deadline) {
		struct pollfd pf = { .fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0) };
		ssize_t r;

		if (poll(&pf, 1, 1000) <= 0)
			continue;
		if ((pf.revents & POLLOUT) && sent < total) {
			r = send(fd, (uint8_t *)reqs + sent, total - sent, MSG_NOSIGNAL);
			if (r > 0)
				sent += (size_t)r;
		}
		if (!(pf.revents & POLLIN))
			continue;
		r = recv(fd, rx + got, need - got, 0);
		CHECK_MSG(r > 0, "flood connection closed after %d replies", replies);
		got += (size_t)r;
		if (got < need)
			continue;
		if (need == VS_PACKET_SIZE) {
			int64_t pl = vs_check_reply((union vs_packet *)(void *)rx, VS_OP_READ);

			CHECK_MSG(pl >= 0 && (size_t)pl <= sizeof(rx) - VS_PACKET_SIZE &&
				  (int64_t)vs_le64_get(((union vs_packet *)(void *)rx)->reply.retval) ==
				  FLOOD_LEN, "flood reply %d: retval %" PRId64, replies,
				  (int64_t)vs_le64_get(((union vs_packet *)(void *)rx)->reply.retval));
			need += (size_t)pl;
			if (got < need)
				continue;
		}
		replies++;
		got = 0;
		need = VS_PACKET_SIZE;
	}
	free(reqs);
	close(fd);
	CHECK_EQ(replies, FLOOD_N);
}

static void t_shutdown(void)
{
	CHECK_EQ(oc_stop_all(&C), 0);
}

int main(void)
{
	oc_init(&C);
	vt_run("setup", t_setup);
	if (!vt_case_failed) {
		vt_run("stopped_replica_ping_timeout", t_ping_timeout);
		vt_run("stopped_replica_op_timeout", t_op_timeout);
		vt_run("flood_client_backpressure", t_flood);
		vt_run("clean_shutdown", t_shutdown);
	}
	oc_free(&C);
	oc_model_free(&M);
	return vt_finish();
}
