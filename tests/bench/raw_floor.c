/* The physical floor for the cluster benchmark (not a test; see
 * cluster_bench.sh): what the disk and loopback TCP can do here, measured
 * in the same run as the cluster.
 *
 *   raw_floor disk FILE SECONDS [CASE...]
 *       O_DIRECT on a pre-written FILE: 4 KiB random write+RWF_DSYNC and
 *       write+fdatasync at QD1, 2 and 3 such writes in parallel (replicas on
 *       one disk), 4 KiB random read QD1 and QD128, 4 KiB RWF_DSYNC write
 *       QD128, 4 MiB sequential RWF_DSYNC write and read QD32
 *   raw_floor net SECONDS [CASE...]
 *       loopback TCP ping-pong with TCP_NODELAY (plain blocking syscalls,
 *       server in a child process): 128 B + 4 KiB request / 128 B reply (a
 *       write), and 128 B request / 128 B + 4 KiB reply (a read)
 *
 * CASE names (as printed) select cases; none = all. One JSON object per
 * line: {"name", "ops", "iops", "mbps", "lat_us": {"mean", "p50", "p99",
 * "p99_9"}, "cpu_us_per_op"} (CPU of this process, io-wq workers included;
 * for net the client side of a round trip). Disk I/O goes through io_uring
 * with the flags the OSD uses (O_DIRECT, RWF_DSYNC). */
#include "lat_hist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HDR 128
#define PAYLOAD 4096
#define MAXQ 128

static uint64_t rs = 88172645463325252ull;
static char **only;		/* case names to run (NULL-terminated), or NULL: all */

static bool wanted(const char *name)
{
	if (!only || !*only)
		return true;
	for (char **p = only; *p; p++)
		if (!strcmp(*p, name))
			return true;
	return false;
}

static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "raw_floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* CPU time of this process (all threads, io-wq workers included), ns */
static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

/* cpu: CPU ns of this process during the case */
static void print(const char *name, const struct lat_hist *h, double secs, uint64_t bs,
		  uint64_t cpu)
{
	double iops = (double)h->count / secs;

	printf("{\"name\":\"%s\",\"ops\":%llu,\"iops\":%.1f,\"mbps\":%.2f,\"lat_us\":{"
	       "\"mean\":%.2f,\"p50\":%.2f,\"p99\":%.2f,\"p99_9\":%.2f},\"cpu_us_per_op\":%.2f}\n",
	       name, (unsigned long long)h->count, iops, iops * (double)bs / 1e6,
	       lat_hist_mean(h) / 1000, (double)lat_hist_quantile(h, 0.5) / 1000,
	       (double)lat_hist_quantile(h, 0.99) / 1000, (double)lat_hist_quantile(h, 0.999) / 1000,
	       h->count ? (double)cpu / 1000 / (double)h->count : 0);
	fflush(stdout);
}

/* ---- disk ---- */

enum { RD, WR_DSYNC, WR_FDATASYNC };

struct disk {
	struct io_uring ring;
	int fd;
	uint64_t size;
	uint8_t *bufs[MAXQ];
	uint64_t t0[MAXQ];
};

/* QD depth ops of bs bytes for secs; rand or sequential offsets. */
static void disk_case(struct disk *d, const char *name, int kind, uint64_t bs, unsigned depth,
		      bool rand, double secs)
{
	struct lat_hist h;
	uint64_t blocks = d->size / bs, seq = 0, end, start, cpu0 = cpu_ns();
	unsigned inflight = 0;

	if (!wanted(name))
		return;
	lat_hist_init(&h);
	start = now_ns();
	end = start + (uint64_t)(secs * 1e9);
	for (;;) {
		struct io_uring_cqe *cqe;

		while (inflight < depth && now_ns() < end) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);
			unsigned slot = 0;
			uint64_t off = (rand ? rnd() % blocks : seq++ % blocks) * bs;

			/* a free slot: inflight ones are 0..inflight-1 by construction */
			for (slot = 0; slot < depth && d->t0[slot]; slot++)
				;
			if (kind == RD) {
				io_uring_prep_read(sqe, d->fd, d->bufs[slot], (unsigned)bs, off);
			} else {
				io_uring_prep_write(sqe, d->fd, d->bufs[slot], (unsigned)bs, off);
				if (kind == WR_DSYNC)
					sqe->rw_flags = RWF_DSYNC;
			}
			d->t0[slot] = now_ns();
			io_uring_sqe_set_data64(sqe, slot);
			inflight++;
			if (kind == WR_FDATASYNC) {
				/* write, then fdatasync, as one unit (QD1 only) */
				sqe->flags |= IOSQE_IO_LINK;
				sqe = io_uring_get_sqe(&d->ring);
				io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
				io_uring_sqe_set_data64(sqe, MAXQ + slot);
			}
		}
		if (!inflight)
			break;
		if (io_uring_submit_and_wait(&d->ring, 1) < 0)
			die("io_uring_submit_and_wait");
		while (io_uring_peek_cqe(&d->ring, &cqe) == 0) {
			uint64_t slot = io_uring_cqe_get_data64(cqe);
			int res = cqe->res;

			io_uring_cqe_seen(&d->ring, cqe);
			if (res < 0) {
				errno = -res;
				die(name);
			}
			if (kind == WR_FDATASYNC && slot < MAXQ)
				continue;	/* the fsync completes the unit */
			slot %= MAXQ;
			lat_hist_add(&h, now_ns() - d->t0[slot]);
			d->t0[slot] = 0;
			inflight--;
		}
	}
	print(name, &h, (double)(now_ns() - start) / 1e9, bs, cpu_ns() - cpu0);
}

/* QD1 of n parallel 4 KiB RWF_DSYNC writes that complete together: what
 * pg_size replicas on this one disk cost at the least. */
static void disk_par(struct disk *d, const char *name, unsigned n, double secs)
{
	struct lat_hist h;
	uint64_t blocks = d->size / 4096, start = now_ns(), end = start + (uint64_t)(secs * 1e9);
	uint64_t cpu0 = cpu_ns();

	if (!wanted(name))
		return;
	lat_hist_init(&h);
	while (now_ns() < end) {
		uint64_t t = now_ns();

		for (unsigned i = 0; i < n; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);

			io_uring_prep_write(sqe, d->fd, d->bufs[i], 4096, rnd() % blocks * 4096);
			sqe->rw_flags = RWF_DSYNC;
		}
		if (io_uring_submit_and_wait(&d->ring, n) < 0)
			die("io_uring_submit_and_wait");
		for (unsigned i = 0; i < n; i++) {
			struct io_uring_cqe *cqe;

			if (io_uring_wait_cqe(&d->ring, &cqe) < 0)
				die("io_uring_wait_cqe");
			if (cqe->res < 0) {
				errno = -cqe->res;
				die(name);
			}
			io_uring_cqe_seen(&d->ring, cqe);
		}
		lat_hist_add(&h, now_ns() - t);
	}
	print(name, &h, (double)(now_ns() - start) / 1e9, 4096, cpu_ns() - cpu0);
}

static int run_disk(const char *path, double secs)
{
	struct disk d;
	struct stat st;

	memset(&d, 0, sizeof(d));
	d.fd = open(path, O_RDWR | O_DIRECT);
	if (d.fd < 0 || fstat(d.fd, &st) < 0)
		die(path);
	d.size = (uint64_t)st.st_size & ~((4ull << 20) - 1);
	if (d.size < (64ull << 20)) {
		fprintf(stderr, "raw_floor: %s must be at least 64 MiB (pre-written)\n", path);
		return 1;
	}
	if (io_uring_queue_init(2 * MAXQ, &d.ring, 0) < 0)
		die("io_uring_queue_init");
	/* 4 MiB for the QD32 cases, 4 KiB for the others */
	for (int i = 0; i < MAXQ; i++) {
		size_t sz = i < 32 ? 4 << 20 : 4096;

		if (posix_memalign((void **)&d.bufs[i], 4096, sz))
			die("posix_memalign");
		for (size_t k = 0; k < sz; k += 8) {
			uint64_t x = rnd();

			memcpy(d.bufs[i] + k, &x, 8);
		}
	}
	disk_case(&d, "disk_write4k_dsync_q1", WR_DSYNC, 4096, 1, true, secs);
	disk_case(&d, "disk_write4k_fdatasync_q1", WR_FDATASYNC, 4096, 1, true, secs);
	disk_par(&d, "disk_write4k_dsync_x2_q1", 2, secs);
	disk_par(&d, "disk_write4k_dsync_x3_q1", 3, secs);
	disk_case(&d, "disk_read4k_q1", RD, 4096, 1, true, secs);
	disk_case(&d, "disk_write4k_dsync_q128", WR_DSYNC, 4096, 128, true, secs);
	disk_case(&d, "disk_read4k_q128", RD, 4096, 128, true, secs);
	disk_case(&d, "disk_write4m_dsync_q32", WR_DSYNC, 4 << 20, 32, false, secs);
	disk_case(&d, "disk_read4m_q32", RD, 4 << 20, 32, false, secs);
	io_uring_queue_exit(&d.ring);
	close(d.fd);
	for (int i = 0; i < MAXQ; i++)
		free(d.bufs[i]);
	return 0;
}

/* ---- net ---- */

static bool xfer(int fd, void *p, size_t len, bool snd)
{
	while (len) {
		ssize_t r = snd ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, MSG_WAITALL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p = (uint8_t *)p + r;
		len -= (size_t)r;
	}
	return true;
}

/* The server: a request is a 128-byte header whose first byte says
 * whether 4 KiB follow (1) or must be sent back (2). */
static void serve(int lfd)
{
	static uint8_t buf[HDR + PAYLOAD];
	int one = 1, fd = accept(lfd, NULL, NULL);

	if (fd < 0)
		_exit(1);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (;;) {
		if (!xfer(fd, buf, HDR, false))
			_exit(0);
		if (buf[0] == 1 && !xfer(fd, buf + HDR, PAYLOAD, false))
			_exit(0);
		if (!xfer(fd, buf, buf[0] == 2 ? HDR + PAYLOAD : HDR, true))
			_exit(0);
	}
}

static int run_net(double secs)
{
	static uint8_t buf[HDR + PAYLOAD];
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fd, one = 1, st;
	pid_t pid;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		die("listen");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid)
		serve(lfd);
	close(lfd);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (int kind = 1; kind <= 2; kind++) {
		const char *name = kind == 1 ? "net_rtt_4k_request" : "net_rtt_4k_reply";
		struct lat_hist h;
		uint64_t start = now_ns(), end = start + (uint64_t)(secs * 1e9), t, cpu0 = 0;

		if (!wanted(name))
			continue;
		lat_hist_init(&h);
		memset(buf, 0x5a, sizeof(buf));
		/* warm up, then measure */
		for (int i = 0; i < 100 || now_ns() < end; i++) {
			buf[0] = (uint8_t)kind;
			t = now_ns();
			if (!xfer(fd, buf, kind == 1 ? HDR + PAYLOAD : HDR, true) ||
			    !xfer(fd, buf, kind == 2 ? HDR + PAYLOAD : HDR, false))
				die("ping-pong");
			if (i >= 100)
				lat_hist_add(&h, now_ns() - t);
			if (i == 100) {
				start = now_ns();
				cpu0 = cpu_ns();
			}
		}
		/* cpu: the client side of each round trip */
		print(name, &h, (double)(now_ns() - start) / 1e9, PAYLOAD, cpu_ns() - cpu0);
	}
	close(fd);
	waitpid(pid, &st, 0);
	return 0;
}

int main(int argc, char **argv)
{
	bool disk = argc >= 4 && !strcmp(argv[1], "disk"), net = argc >= 3 && !strcmp(argv[1], "net");
	double secs = disk ? atof(argv[3]) : net ? atof(argv[2]) : 0;

	signal(SIGPIPE, SIG_IGN);
	if (secs > 0) {
		only = argv + (disk ? 4 : 3);
		return disk ? run_disk(argv[2], secs) : run_net(secs);
	}
	fprintf(stderr, "usage: raw_floor disk FILE SECONDS [CASE...] | raw_floor net SECONDS "
		"[CASE...]\n");
	return 2;
}
