/* A minimal block device client for tests/vm/bench_vsN.sh (not a test):
 * 4 KiB random O_DIRECT reads or writes through Linux AIO at a fixed queue
 * depth, with the event loop vsctl bench has (reap every completion there
 * is, submit their replacements with one io_submit), so that the kernel
 * path (/dev/vsN) can be compared with libvstor with a client as light as
 * vsctl bench; fio does a lot more per request (statistics, its own
 * threads), which in a small guest competes with the OSDs for CPU.
 *
 *   blk_bench DEV read|write QD SECONDS
 *
 * Prints {"total":{"ops":N,"iops":X,"lat_us":{"mean":M}}}, the fields of
 * vsctl bench --json that bench_vsN.sh reads. Raw syscalls: no libaio. */
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BS 4096
#define MAXQ 256

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rs = 88172645463325252ull;

static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

static void die(const char *what)
{
	fprintf(stderr, "blk_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	static struct iocb cbs[MAXQ];
	static struct iocb *todo[MAXQ];
	static struct io_event evs[MAXQ];
	static uint64_t t0[MAXQ];
	aio_context_t ctx = 0;
	uint64_t size, blocks, ops = 0, lat = 0, start, end, t;
	unsigned qd, inflight = 0, n = 0;
	int fd, write, secs;
	char *buf;

	if (argc != 5 || (strcmp(argv[2], "read") && strcmp(argv[2], "write"))) {
		fprintf(stderr, "usage: blk_bench DEV read|write QD SECONDS\n");
		return 2;
	}
	write = !strcmp(argv[2], "write");
	qd = (unsigned)atoi(argv[3]);
	secs = atoi(argv[4]);
	if (!qd || qd > MAXQ || secs <= 0) {
		fprintf(stderr, "blk_bench: QD 1..%d, SECONDS > 0\n", MAXQ);
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_DIRECT);
	if (fd < 0)
		die(argv[1]);
	if (ioctl(fd, BLKGETSIZE64, &size) < 0)
		die("BLKGETSIZE64");
	blocks = size / BS;
	if (!blocks)
		die("empty device");
	if (posix_memalign((void **)&buf, BS, (size_t)qd * BS))
		die("posix_memalign");
	memset(buf, 0x5a, (size_t)qd * BS);
	if (syscall(SYS_io_setup, qd, &ctx) < 0)
		die("io_setup");
	for (unsigned i = 0; i < qd; i++) {
		cbs[i].aio_fildes = (uint32_t)fd;
		cbs[i].aio_lio_opcode = write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
		cbs[i].aio_buf = (uint64_t)(uintptr_t)(buf + (size_t)i * BS);
		cbs[i].aio_nbytes = BS;
		cbs[i].aio_data = i;
		todo[n++] = &cbs[i];
	}
	start = now_ns();
	end = start + (uint64_t)secs * 1000000000ull;
	for (;;) {
		long got;

		t = now_ns();
		for (unsigned i = 0; i < n; i++) {
			todo[i]->aio_offset = (int64_t)(rnd() % blocks * BS);
			t0[todo[i]->aio_data] = t;
		}
		if (n && syscall(SYS_io_submit, ctx, (long)n, todo) != (long)n)
			die("io_submit");
		inflight += n;
		n = 0;
		if (!inflight)
			break;
		got = syscall(SYS_io_getevents, ctx, 1L, (long)qd, evs, NULL);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			die("io_getevents");
		}
		t = now_ns();
		for (long i = 0; i < got; i++) {
			struct iocb *cb = (struct iocb *)(uintptr_t)evs[i].obj;

			if (evs[i].res != BS) {
				errno = evs[i].res < 0 ? (int)-evs[i].res : EIO;
				die(write ? "write" : "read");
			}
			lat += t - t0[cb->aio_data];
			ops++;
			inflight--;
			if (t < end)
				todo[n++] = cb;
		}
	}
	t = now_ns();
	printf("{\"total\":{\"ops\":%llu,\"iops\":%.1f,\"lat_us\":{\"mean\":%.1f}}}\n",
	       (unsigned long long)ops, (double)ops * 1e9 / (double)(t - start),
	       ops ? (double)lat / 1000.0 / (double)ops : 0.0);
	return 0;
}
