/* libvstor against a real cluster: etcd + 3 vstor-osd (immediate_commit
 * all), pool 1 replicated pg_size 3 / pg_minsize 2, 4 PGs with primaries
 * 1, 2, 1, 2 (so OSD 3 is never a primary). Image "testimg" = inode 1/1,
 * created by writing config/inode/1/1 directly.
 *
 * Cases: random writes of 4 KiB..1 MiB (crossing stripes) with a model of
 * the image, read back and compared; lookup by name; never-written ranges
 * read as zeroes; readonly image refused; kill -9 of OSD 3 while writes run
 * (they keep succeeding); SIGTERM of all OSDs with an op waiting, restart,
 * the op completes without error; SIGSTOP of a primary (PING timeout); a
 * client driven only from a poll() loop on vstor_client_fd(). */
#include "check.h"
#include "etcd.h"
#include "etcd_proc.h"
#include "osd_cluster.h"
#include "osd_proc.h"
#include "vstor_client.h"
#include "vc_model.h"
#include "vstor_proto.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/vc"
#define NOSD 3
#define IMG_SIZE (8u << 20)
#define INODE ((1ull << 48) | 1)
#define EMPTY_INODE ((1ull << 48) | 3)
#define RO_INODE ((1ull << 48) | 2)
#define QD VCM_QD

static struct etcd_proc *etcd;
static struct etcd_client *ecl;
static struct osd_proc *osds[NOSD + 1];
static struct vstor_client *vc;

static const char *osd_args[] = {
	"--etcd_address", NULL, "--etcd_prefix", PREFIX, "--etcd_report_interval", "1",
	"--max_etcd_attempts", "2", "--etcd_quick_timeout", "500",
	"--immediate_commit", "all", NULL,
};

static struct vcm M;

static struct etcd_config *etcd_cfg(void)
{
	return vcm_etcd_cfg(etcd_proc_endpoint(etcd), PREFIX);
}

static void cfg_free(const struct etcd_config *cfg)
{
	etcd_config_free((struct etcd_config *)cfg);
	free((void *)cfg);
}

/* ---- cases ---- */

static void t_setup(void)
{
	char err[256];
	struct vstor_client_opts o = { .up_wait_retry_interval_ms = 200 };

	etcd = etcd_proc_start();
	CHECK(etcd);
	o.etcd = etcd_cfg();
	CHECK(o.etcd);
	ecl = etcd_client_new(o.etcd, NULL, err, sizeof(err));
	CHECK(ecl);
	osd_args[1] = etcd_proc_endpoint(etcd);
	CHECK(etcd_put_str_sync(ecl, "config/global", "{\"immediate_commit\":\"all\"}") == ETCD_OK);
	CHECK(etcd_put_str_sync(ecl, "config/pools",
				"{\"1\":{\"name\":\"rep\",\"scheme\":\"replicated\",\"pg_size\":3,"
				"\"pg_minsize\":2,\"pg_count\":4}}") == ETCD_OK);
	CHECK(etcd_put_str_sync(ecl, "config/pgs", "{\"hash\":\"x\",\"items\":{\"1\":{"
				"\"1\":{\"osd_set\":[1,2,3],\"primary\":1},"
				"\"2\":{\"osd_set\":[2,3,1],\"primary\":2},"
				"\"3\":{\"osd_set\":[1,3,2],\"primary\":1},"
				"\"4\":{\"osd_set\":[2,1,3],\"primary\":2}}}}") == ETCD_OK);
	CHECK(etcd_put_str_sync(ecl, "config/inode/1/1",
				"{\"name\":\"testimg\",\"size\":8388608}") == ETCD_OK);
	CHECK(etcd_put_str_sync(ecl, "config/inode/1/2",
				"{\"name\":\"roimg\",\"size\":1048576,\"readonly\":true}") == ETCD_OK);
	CHECK(etcd_put_str_sync(ecl, "config/inode/1/3", "{\"name\":\"empty\"}") == ETCD_OK);
	for (int n = 1; n <= NOSD; n++) {
		osds[n] = osd_proc_start((uint64_t)n, osd_args);
		CHECK(osds[n]);
	}
	vc = vstor_client_create(&o, NULL, err, sizeof(err));
	cfg_free(o.etcd);
	CHECK_MSG(vc, "client: %s", err);
	CHECK_EQ(vcm_init(&M, vc, INODE, IMG_SIZE), 0);
	/* submitted before the client has loaded anything: waits, then is
	 * split at the pool's stripes (this one crosses a stripe) */
	CHECK(!vstor_client_ready(vc));
	memset(M.model + (124 << 10), 0x11, 12 << 10);
	CHECK_EQ(vstor_write_sync(vc, INODE, 124 << 10, 12 << 10, M.model + (124 << 10)), 12 << 10);
	CHECK_EQ(vstor_client_wait_ready(vc, 10000), 0);
}

static void t_lookup(void)
{
	uint64_t inode = 0, size = 0;
	bool ro = true;

	CHECK_EQ(vstor_image_lookup(vc, "testimg", &inode, &size, &ro), 0);
	CHECK_EQ(inode, INODE);
	CHECK_EQ(size, IMG_SIZE);
	CHECK_EQ(ro, 0);
	CHECK_EQ(vstor_image_lookup(vc, "roimg", &inode, NULL, &ro), 0);
	CHECK_EQ(inode, RO_INODE);
	CHECK_EQ(ro, 1);
	CHECK_EQ(vstor_image_lookup(vc, "nope", &inode, NULL, NULL), -ENOENT);
}

static void t_write_read(void)
{
	static uint8_t buf[3 << 20];
	long long t0 = vt_now_ms();

	CHECK_EQ(vcm_write_loop(&M, 200, NULL, 60000), 0);
	CHECK_MSG(!M.failed, "%d writes failed, last %lld", M.failed, (long long)M.last_err);
	CHECK(vcm_verify(&M));
	/* random reads crossing stripes */
	for (int i = 0; i < 30; i++) {
		uint64_t len = ((uint64_t)(vcm_rnd() % 768) + 1) * 4096;
		uint64_t off = (vcm_rnd() % ((IMG_SIZE - len) / 4096 + 1)) * 4096;

		CHECK_EQ(vstor_read_sync(vc, INODE, off, len, buf), (int64_t)len);
		CHECK_MSG(!memcmp(buf, M.model + off, len), "read %llu+%llu differs",
			  (unsigned long long)off, (unsigned long long)len);
	}
	CHECK_EQ(vstor_sync_sync(vc), 0);
	fprintf(stderr, "write_read: %lld ms\n", vt_now_ms() - t0);
}

static void t_zeroes_errors(void)
{
	static uint8_t buf[512 << 10], zero[512 << 10];

	memset(buf, 0xaa, sizeof(buf));
	CHECK_EQ(vstor_read_sync(vc, EMPTY_INODE, 3 << 20, sizeof(buf), buf), (int64_t)sizeof(buf));
	CHECK(!memcmp(buf, zero, sizeof(buf)));
	CHECK_EQ(vstor_write_sync(vc, RO_INODE, 0, 4096, buf), -EINVAL);
	CHECK_EQ(vstor_write_sync(vc, INODE, 100, 4096, buf), -EINVAL);
	CHECK_EQ(vstor_read_sync(vc, INODE, 0, 0, buf), -EINVAL);
	CHECK_EQ(vstor_delete_sync(vc, INODE, 4096, 4096), -EINVAL);
	/* write into one object of the empty image, delete it: zeroes again */
	memset(buf, 0x5a, sizeof(buf));
	CHECK_EQ(vstor_write_sync(vc, EMPTY_INODE, (128 << 10) + 8192, 8192, buf), 8192);
	CHECK_EQ(vstor_read_sync(vc, EMPTY_INODE, 128 << 10, 128 << 10, buf), 128 << 10);
	CHECK(buf[8192] == 0x5a && buf[8191] == 0 && buf[16384] == 0);
	CHECK_EQ(vstor_delete_sync(vc, EMPTY_INODE, 128 << 10, 128 << 10), 0);
	CHECK_EQ(vstor_read_sync(vc, EMPTY_INODE, 128 << 10, 128 << 10, buf), 128 << 10);
	CHECK(!memcmp(buf, zero, 128 << 10));
}

static bool killed;

static void kill_at(struct vcm *m, int done)
{
	if (!killed && done >= 20) {
		killed = true;
		osd_proc_kill(osds[3]);
		fprintf(stderr, "killed OSD 3 after %d writes\n", done);
	}
}

static void t_kill_one(void)
{
	struct vstor_client_stats st;
	long long t0 = vt_now_ms();

	CHECK_EQ(vcm_write_loop(&M, 120, kill_at, 60000), 0);
	CHECK(killed);
	CHECK_MSG(!M.failed, "%d writes failed, last %lld", M.failed, (long long)M.last_err);
	CHECK(vcm_verify(&M));
	vstor_client_get_stats(vc, &st);
	fprintf(stderr, "kill_one: %lld ms, retries %llu epipe %llu reconnects %llu\n",
		vt_now_ms() - t0, (unsigned long long)st.retries, (unsigned long long)st.epipe,
		(unsigned long long)st.reconnects);
}

static void rcb(void *arg, int64_t rv, uint64_t version)
{
	*(int64_t *)arg = rv;
}

static void wait_osd_state_gone(int n, bool *ok)
{
	char key[32];

	snprintf(key, sizeof(key), "osd/state/%d", n);
	*ok = oc_wait_key_gone(ecl, key, 15000);
}

/* OSD 3 back (after its lease expired); then SIGTERM all three, submit a
 * write that crosses a stripe, start them again: the write completes. A
 * second client with op_timeout_ms gets -ETIMEDOUT meanwhile. */
static void t_restart_all(void)
{
	static uint8_t data[256 << 10];
	long long deadline;
	int64_t rv = 1, rv2 = 1;
	uint64_t off = 3 * (128 << 10) + 8192;	/* crosses a stripe */
	struct vstor_client_stats st0, st1;
	struct vstor_client_opts o = { .up_wait_retry_interval_ms = 100, .op_timeout_ms = 700 };
	struct vstor_client *vc2;
	char err[256];
	bool gone;

	wait_osd_state_gone(3, &gone);
	CHECK_MSG(gone, "osd/state/3 did not expire");
	CHECK_EQ(osd_proc_restart(osds[3]), 0);
	CHECK_EQ(vcm_write_loop(&M, 16, NULL, 30000), 0);
	CHECK_MSG(!M.failed, "%d writes failed, last %lld", M.failed, (long long)M.last_err);
	for (int n = 1; n <= NOSD; n++)
		CHECK_EQ(osd_proc_stop(osds[n]), 0);
	for (size_t k = 0; k < sizeof(data); k++)
		data[k] = (uint8_t)vcm_rnd();
	vstor_client_get_stats(vc, &st0);
	CHECK_EQ(vstor_write(vc, INODE, off, sizeof(data), data, rcb, &rv), 0);

	o.etcd = etcd_cfg();
	CHECK(o.etcd);
	vc2 = vstor_client_create(&o, vstor_client_ringloop(vc), err, sizeof(err));
	cfg_free(o.etcd);
	CHECK_MSG(vc2, "client 2: %s", err);
	CHECK_EQ(vstor_client_wait_ready(vc2, 10000), 0);
	CHECK_EQ(vstor_read(vc2, INODE, 0, 4096, data, rcb, &rv2), 0);
	for (long long t = vt_now_ms() + 1500; vt_now_ms() < t;)
		vstor_client_run_once(vc, 50000000);
	vstor_client_destroy(vc2);
	CHECK_EQ(rv2, -ETIMEDOUT);
	CHECK_MSG(rv == 1, "the write completed with no OSD running: %lld", (long long)rv);

	for (int n = 1; n <= NOSD; n++)
		CHECK_EQ(osd_proc_restart(osds[n]), 0);
	deadline = vt_now_ms() + 30000;
	while (rv == 1 && vt_now_ms() < deadline)
		vstor_client_run_once(vc, 50000000);
	vstor_client_get_stats(vc, &st1);
	fprintf(stderr, "restart_all: %llu retries while waiting\n",
		(unsigned long long)(st1.retries - st0.retries));
	memcpy(M.model + off, data, sizeof(data));	/* before a CHECK can return */
	CHECK_MSG(rv == (int64_t)sizeof(data), "write after restart: %lld", (long long)rv);
	CHECK(vcm_verify(&M));
}

/* SIGSTOP the primary of PG 1 with a read in flight: PING times out, the
 * client reconnects (handshake times out while stopped), and after SIGCONT
 * the read completes. */
static void t_ping_timeout(void)
{
	struct vstor_client_opts o = {
		.up_wait_retry_interval_ms = 100, .osd_idle_timeout_ms = 200,
		.osd_ping_timeout_ms = 300, .peer_connect_timeout_ms = 400,
	};
	static uint8_t buf[8192];
	struct vstor_client *c3;
	struct vstor_client_stats st0, st1;
	char err[256];
	int64_t rv = 1;
	pid_t pid = osd_proc_pid(osds[1]);

	o.etcd = etcd_cfg();
	CHECK(o.etcd);
	c3 = vstor_client_create(&o, NULL, err, sizeof(err));
	cfg_free(o.etcd);
	CHECK_MSG(c3, "client 3: %s", err);
	CHECK_EQ(vstor_read_sync(c3, INODE, 0, 8192, buf), 8192);
	vstor_client_get_stats(c3, &st0);
	CHECK(pid > 0 && kill(pid, SIGSTOP) == 0);
	if (vstor_read(c3, INODE, 0, 8192, buf, rcb, &rv)) {
		kill(pid, SIGCONT);
		vstor_client_destroy(c3);
		CHECK(0);
	}
	for (long long t = vt_now_ms() + 1500; vt_now_ms() < t;)
		vstor_client_run_once(c3, 50000000);
	kill(pid, SIGCONT);
	for (long long t = vt_now_ms() + 15000; rv == 1 && vt_now_ms() < t;)
		vstor_client_run_once(c3, 50000000);
	vstor_client_get_stats(c3, &st1);
	vstor_client_destroy(c3);
	CHECK_EQ(rv, 8192);
	CHECK(!memcmp(buf, M.model, 8192));
	CHECK_MSG(st1.reconnects >= st0.reconnects + 2, "reconnects %llu -> %llu",
		  (unsigned long long)st0.reconnects, (unsigned long long)st1.reconnects);
}

/* ---- caller-driven loop: poll() on vstor_client_fd() ---- */

struct pslot {
	bool busy, reading;
	uint64_t off, len;
	uint8_t *data, *rbuf;
	int64_t rv;
};

static int p_done, p_bad;
static bool p_in_run;

static void pcb(void *arg, int64_t rv, uint64_t version)
{
	struct pslot *s = arg;

	if (!p_in_run)
		p_bad++;	/* a callback outside vstor_client_run_once() */
	s->busy = false;
	s->rv = rv;
	p_done++;
	if (rv != (int64_t)s->len)
		p_bad++;
	else if (s->reading && memcmp(s->rbuf, M.model + s->off, s->len))
		p_bad++;
	else if (!s->reading)
		memcpy(M.model + s->off, s->data, s->len);
}

struct poll_stats {
	int polls, fd_wakeups;
};

/* One turn of a caller's loop: poll the client's fd with the client's
 * timeout (capped at cap_ms), then one non-blocking iteration. */
static void poll_turn(struct vstor_client *c, int fd, int cap_ms, struct poll_stats *ps)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int t = vstor_client_timeout_ms(c);

	if (t < 0 || t > cap_ms)
		t = cap_ms;
	ps->polls++;
	if (poll(&pfd, 1, t) > 0 && (pfd.revents & POLLIN))
		ps->fd_wakeups++;
	p_in_run = true;
	vstor_client_run_once(c, 0);
	p_in_run = false;
}

/* A client on its own ring, driven only through poll(): it loads, runs
 * 96 verified writes and reads at QD 8 (each slot in its own region, reads
 * of what the slot wrote last), and sleeps when idle instead of spinning. */
static void t_poll_driven(void)
{
	struct vstor_client_opts o = { .up_wait_retry_interval_ms = 100 };
	struct pslot ps[QD];
	struct poll_stats st = { 0 }, idle = { 0 };
	struct vstor_client *c4;
	char err[256];
	int fd, submitted = 0, n = 96;
	long long t0, deadline;

	o.etcd = etcd_cfg();
	CHECK(o.etcd);
	c4 = vstor_client_create(&o, NULL, err, sizeof(err));
	cfg_free(o.etcd);
	CHECK_MSG(c4, "client 4: %s", err);
	fd = vstor_client_fd(c4);
	if (fd < 0) {
		vstor_client_destroy(c4);
		CHECK_MSG(0, "vstor_client_fd: %s", strerror(-fd));
	}
	CHECK_EQ(vstor_client_fd(c4), fd);
	memset(ps, 0, sizeof(ps));
	deadline = vt_now_ms() + 10000;
	while (!vstor_client_ready(c4) && vt_now_ms() < deadline)
		poll_turn(c4, fd, 1000, &st);
	p_done = p_bad = 0;
	t0 = vt_now_ms();
	deadline = t0 + 30000;
	for (int i = 0; i < QD; i++) {
		ps[i].data = M.slots[i].data;
		ps[i].rbuf = malloc(256 << 10);
	}
	while (vstor_client_ready(c4) && p_done < n && vt_now_ms() < deadline) {
		for (int i = 0; i < QD && submitted < n; i++) {
			struct pslot *s = &ps[i];
			uint64_t region = IMG_SIZE / QD;
			int r;

			if (s->busy || !s->rbuf)
				continue;
			s->reading = s->len && !s->reading;	/* write, read it, ... */
			if (!s->reading) {
				s->len = ((uint64_t)(vcm_rnd() % 64) + 1) * 4096;
				s->off = region * (uint64_t)i + (vcm_rnd() % ((region - s->len) / 4096)) * 4096;
				for (uint64_t k = 0; k < s->len; k++)
					s->data[k] = (uint8_t)vcm_rnd();
				r = vstor_write(c4, INODE, s->off, s->len, s->data, pcb, s);
			} else {
				r = vstor_read(c4, INODE, s->off, s->len, s->rbuf, pcb, s);
			}
			if (r) {
				p_bad++;
				break;
			}
			s->busy = true;
			submitted++;
		}
		poll_turn(c4, fd, 1000, &st);
	}
	fprintf(stderr, "poll_driven: %d ops in %lld ms, %d polls, %d fd wakeups\n", p_done,
		vt_now_ms() - t0, st.polls, st.fd_wakeups);
	/* idle: timers only (etcd keepalives, pings), no busy loop */
	for (long long t = vt_now_ms() + 1000; vt_now_ms() < t;)
		poll_turn(c4, fd, 1000, &idle);
	fprintf(stderr, "poll_driven idle: %d polls in 1 s\n", idle.polls);
	vstor_client_destroy(c4);
	for (int i = 0; i < QD; i++)
		free(ps[i].rbuf);
	CHECK_EQ(p_done, n);
	CHECK_EQ(p_bad, 0);
	/* woken by the fd, not by a timer that happened to be near */
	CHECK_MSG(st.fd_wakeups >= 4, "%d fd wakeups", st.fd_wakeups);
	CHECK_MSG(idle.polls <= 20, "%d polls while idle", idle.polls);
	CHECK(vcm_verify(&M));
}

int main(void)
{
	vt_run("setup", t_setup);
	if (!vt_case_failed) {
		vt_run("lookup_by_name", t_lookup);
		vt_run("random_write_read", t_write_read);
		vt_run("zeroes_and_errors", t_zeroes_errors);
		vt_run("kill9_one_osd_during_writes", t_kill_one);
		vt_run("restart_all_op_waits", t_restart_all);
		vt_run("ping_timeout_sigstop", t_ping_timeout);
		vt_run("caller_driven_poll_loop", t_poll_driven);
	}
	vstor_client_destroy(vc);
	for (int n = 1; n <= NOSD; n++)
		if (osds[n])
			osd_proc_free(osds[n]);
	if (ecl)
		etcd_client_free(ecl);
	if (etcd)
		etcd_proc_free(etcd);
	vcm_free(&M);
	return vt_finish();
}
