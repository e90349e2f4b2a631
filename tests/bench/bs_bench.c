/* Blockstore benchmark: the engine vs raw liburing on the same file.
 * Not a timed test; run via tests/bench/bs_bench.sh.
 * Usage: bs_bench FILE [size_mib=1024] [seconds_per_case=3] */
#include "blockstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BSZ (128 * 1024)
#define Q 128

static struct ringloop *rl;
static double secs = 3;
static uint64_t fsize;
static int rawfd;
static uint64_t rs = 88172645463325252ull;

static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

static double now(void)
{
	return (double)ringloop_now_ns() / 1e9;
}

/* ---------- raw ---------- */

struct rawop {
	struct ringloop_op rop;
	int busy, res;
	void *buf;
};

static void raw_cb(struct ringloop_op *op, int res, uint32_t f)
{
	struct rawop *r = (struct rawop *)op;

	(void)f;
	r->busy = 0;
	r->res = res;
}

static void raw_submit(struct rawop *r, int kind, uint64_t off, uint32_t len, bool dsync)
{
	struct io_uring_sqe *sqe = ringloop_get_sqe(rl);

	r->rop.cb = raw_cb;
	r->busy = 1;
	if (kind == 0)
		io_uring_prep_read(sqe, rawfd, r->buf, len, off);
	else if (kind == 1)
		io_uring_prep_write(sqe, rawfd, r->buf, len, off);
	else
		io_uring_prep_fsync(sqe, rawfd, IORING_FSYNC_DATASYNC);
	if (dsync)
		sqe->rw_flags = RWF_DSYNC;
	ringloop_sqe_set_op(sqe, &r->rop);
}

static void raw_wait(struct rawop *r)
{
	while (r->busy)
		ringloop_run_once(rl, -1);
}

/* kind: 0 read, 1 write, 3 write+fdatasync, 4 dsync write */
static double raw_run(int kind, int qd, uint32_t len, bool seq, double *lat_us)
{
	static struct rawop ops[Q];
	uint64_t n = 0, nblk = fsize / len, pos = 0;
	double t0 = now(), t1;

	for (int i = 0; i < qd; i++) {
		if (!ops[i].buf && posix_memalign(&ops[i].buf, 4096, 4 << 20))
			abort();
		memset(ops[i].buf, 0x5a, len);
		ops[i].busy = 0;
	}
	while ((t1 = now()) - t0 < secs) {
		for (int i = 0; i < qd; i++) {
			uint64_t off;

			if (ops[i].busy)
				continue;
			off = seq ? (pos++ % nblk) * len : (rnd() % nblk) * len;
			if (kind == 3) {
				raw_submit(&ops[i], 1, off, len, false);
				raw_wait(&ops[i]);
				raw_submit(&ops[i], 2, 0, 0, false);
				raw_wait(&ops[i]);
			} else {
				raw_submit(&ops[i], kind == 4 ? 1 : kind, off, len, kind == 4);
			}
			n++;
		}
		{
			int any = 0;

			for (int i = 0; i < qd; i++)
				any |= ops[i].busy;
			ringloop_run_once(rl, any ? -1 : 0);
		}
	}
	for (int i = 0; i < qd; i++)
		raw_wait(&ops[i]);
	t1 = now();
	*lat_us = (t1 - t0) / (double)n * 1e6 * qd;
	return (double)n / (t1 - t0);
}

/* ---------- engine ---------- */

struct eop {
	struct bs_op op;
	int busy;
	void *buf;
};

static void e_cb(struct bs_op *op)
{
	struct eop *e = op->priv;

	if (op->retval < 0) {
		fprintf(stderr, "engine op %d failed: %d\n", op->opcode, op->retval);
		exit(1);
	}
	e->busy = 0;
}

static void e_wait(struct eop *e)
{
	while (e->busy)
		ringloop_run_once(rl, -1);
}

static void e_submit(struct bs *bs, struct eop *e, int opc, uint64_t stripe, uint32_t off, uint32_t len)
{
	memset(&e->op, 0, sizeof(e->op));
	e->op.opcode = opc;
	e->op.oid.inode = 1;
	e->op.oid.stripe = stripe;
	e->op.offset = off;
	e->op.len = len;
	e->op.buf = e->buf;
	e->op.version = opc == BS_OP_READ ? BS_VER_STABLE : 0;
	e->op.cb = e_cb;
	e->op.priv = e;
	e->busy = 1;
	bs_submit(bs, &e->op);
}

/* kind: 0 read, 1 write, 3 write+sync, 4 write (immediate_commit) */
static double eng_run(struct bs *bs, uint64_t nobj, int kind, int qd, uint32_t len, bool seq, double *lat_us)
{
	static struct eop ops[Q];
	uint64_t n = 0, pos = 0, per = BSZ / len;
	double t0 = now(), t1;

	for (int i = 0; i < qd; i++) {
		if (!ops[i].buf && posix_memalign(&ops[i].buf, 4096, BSZ))
			abort();
		memset(ops[i].buf, 0x3c, BSZ);
		ops[i].busy = 0;
	}
	while ((t1 = now()) - t0 < secs) {
		for (int i = 0; i < qd; i++) {
			uint64_t x;

			if (ops[i].busy)
				continue;
			x = seq ? pos++ % (nobj * per) : rnd() % (nobj * per);
			e_submit(bs, &ops[i], kind == 0 ? BS_OP_READ : BS_OP_WRITE_STABLE, (x / per) * BSZ,
				(uint32_t)(x % per) * len, len);
			if (kind == 3) {
				e_wait(&ops[i]);
				e_submit(bs, &ops[i], BS_OP_SYNC, 0, 0, 0);
				e_wait(&ops[i]);
			}
			n++;
		}
		{
			int any = 0;

			for (int i = 0; i < qd; i++)
				any |= ops[i].busy;
			ringloop_run_once(rl, any ? -1 : 0);
		}
	}
	for (int i = 0; i < qd; i++)
		e_wait(&ops[i]);
	t1 = now();
	*lat_us = (t1 - t0) / (double)n * 1e6 * qd;
	return (double)n / (t1 - t0);
}

static struct bs *eng_open(const char *path, int ic)
{
	struct bs_config cfg;
	struct bs *bs;
	char err[256];

	memset(&cfg, 0, sizeof(cfg));
	cfg.data_path = path;
	cfg.immediate_commit = ic;
	if (bs_open(rl, &cfg, &bs, err, sizeof(err))) {
		fprintf(stderr, "open: %s\n", err);
		exit(1);
	}
	return bs;
}

static void settle(struct bs *bs)
{
	bs_flush_all(bs);
	while (!bs_is_idle(bs))
		ringloop_run_once(rl, 10000000);
}

static void row(const char *name, double raw, double eng, const char *unit, bool lower_better)
{
	printf("| %-34s | %10.1f | %10.1f | %-6s | %5.2fx |\n", name, raw, eng, unit,
		lower_better ? eng / raw : eng / raw);
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : NULL;
	uint64_t mib = argc > 2 ? strtoull(argv[2], NULL, 10) : 1024;
	struct bs_backend *be;
	struct bs_format_opts fo;
	struct bs *bs;
	struct bs_stats st0, st1;
	char err[256], rawpath[4096];
	double lr, le, r, e;
	uint64_t nobj;

	if (!path) {
		fprintf(stderr, "usage: bs_bench FILE [size_mib] [seconds]\n");
		return 2;
	}
	if (argc > 3)
		secs = atof(argv[3]);
	fsize = mib << 20;
	setvbuf(stdout, NULL, _IOLBF, 0);
	rl = ringloop_create(512);
	snprintf(rawpath, sizeof(rawpath), "%s.raw", path);
	for (int k = 0; k < 2; k++) {
		int fd = open(k ? rawpath : path, O_RDWR | O_CREAT, 0600);
		char *z = calloc(1, 1 << 20);

		/* pre-written, not fallocated (see performance guide §4) */
		for (uint64_t o = 0; o < fsize; o += 1 << 20)
			if (pwrite(fd, z, 1 << 20, (off_t)o) != 1 << 20)
				return 1;
		fsync(fd);
		close(fd);
		free(z);
	}
	/* raw I/O goes to a twin file on the same filesystem */
	rawfd = open(rawpath, O_RDWR | O_DIRECT);
	if (rawfd < 0) {
		perror(path);
		return 1;
	}
	be = bs_backend_uring_open(rl, path, NULL, NULL, err, sizeof(err));
	memset(&fo, 0, sizeof(fo));
	fo.journal_size = 64 << 20;
	if (!be || bs_format(be, &fo, err, sizeof(err))) {
		fprintf(stderr, "format: %s\n", err);
		return 1;
	}
	be->ops->destroy(be);
	printf("engine file %s, raw file %s.raw, %llu MiB, %.1f s per case, block 128 KiB, journal 64 MiB\n\n", path, path,
		(unsigned long long)mib, secs);
	printf("| %-34s | %10s | %10s | %-6s | %6s |\n", "case", "raw", "engine", "unit", "ratio");
	printf("|------------------------------------|------------|------------|--------|--------|\n");

	bs = eng_open(path, BS_IC_NONE);
	nobj = (fsize - (80 << 20)) / BSZ / 2;
	/* prefill objects so reads hit data blocks */
	{
		double l;

		secs /= 2;
		eng_run(bs, nobj, 1, Q, BSZ, true, &l);
		secs *= 2;
		settle(bs);
	}
	r = raw_run(3, 1, 4096, false, &lr);
	e = eng_run(bs, nobj, 3, 1, 4096, false, &le);
	row("T1Q1 4k write+fdatasync lat", lr, le, "us", true);
	settle(bs);
	r = raw_run(0, 1, 4096, false, &lr);
	e = eng_run(bs, nobj, 0, 1, 4096, false, &le);
	row("T1Q1 4k read lat", lr, le, "us", true);
	r = raw_run(0, Q, 4096, false, &lr);
	e = eng_run(bs, nobj, 0, Q, 4096, false, &le);
	row("Q128 4k random read", r, e, "IOPS", false);
	bs_get_stats(bs, &st0);
	r = raw_run(1, Q, 4096, false, &lr);
	e = eng_run(bs, nobj, 1, Q, 4096, false, &le);
	settle(bs);
	bs_get_stats(bs, &st1);
	row("Q128 4k random write (no sync)", r, e, "IOPS", false);
	{
		uint64_t dev = 0, user = st1.user_bytes_written - st0.user_bytes_written;

		for (int i = 0; i < BS_NSLOTS; i++)
			dev += st1.bytes_written[i] - st0.bytes_written[i];
		printf("| %-34s | %10s | %10.2f | %-6s | %6s |\n", "  write amplification (incl. flush)", "1.00",
			(double)dev / (double)user, "x", "");
		printf("| %-34s | %10s | %10.1f | %-6s | %5.2fx |\n", "  target raw/WA*0.8", "",
			r / ((double)dev / (double)user) * 0.8, "IOPS", e / (r / ((double)dev / (double)user) * 0.8));
	}
	r = raw_run(1, 8, 4 << 20, true, &lr);
	e = eng_run(bs, nobj, 1, Q, BSZ, true, &le);
	settle(bs);
	row("sequential write 4 MiB vs 32x128K", r * 4, e * BSZ / 1048576.0, "MiB/s", false);
	bs_close(bs);

	bs = eng_open(path, BS_IC_ALL);
	r = raw_run(4, 1, 4096, false, &lr);
	e = eng_run(bs, nobj, 4, 1, 4096, false, &le);
	row("T1Q1 4k RWF_DSYNC / ic=all lat", lr, le, "us", true);
	settle(bs);
	bs_close(bs);
	close(rawfd);
	unlink(rawpath);
	ringloop_destroy(rl);
	return 0;
}
