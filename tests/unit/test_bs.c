/* Blockstore: CRC32C, ring loop, op semantics, flusher, restart, refusal. */
#include "test_bs_util.h"
#include "crc32c.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#define BSZ (128 * 1024)

static struct bs_backend *mem_be(uint64_t size)
{
	uint64_t sizes[BS_NSLOTS] = { size, 0, 0 };

	return bs_backend_mem_create(T_rl, sizes);
}

static struct bs *mem_store_on(struct bs_backend *be, uint64_t jsize, int ic)
{
	struct bs_format_opts fo;
	struct bs_config cfg;
	struct bs *bs = NULL;
	char err[256];

	memset(&fo, 0, sizeof(fo));
	fo.osd_num = 1;
	fo.journal_size = jsize;
	if (bs_format(be, &fo, err, sizeof(err))) {
		fprintf(stderr, "format: %s\n", err);
		be->ops->destroy(be);
		return NULL;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.backend = be;
	cfg.immediate_commit = ic;
	if (bs_open(T_rl, &cfg, &bs, err, sizeof(err)))
		fprintf(stderr, "open: %s\n", err);
	return bs;
}

static struct bs *mem_store(uint64_t size, uint64_t jsize, int ic)
{
	return mem_store_on(mem_be(size), jsize, ic);
}

static void crc_vectors(void)
{
	uint8_t big[1000];

	CHECK_EQ(crc32c_sw(0, "123456789", 9), 0xE3069283u);
	CHECK_EQ(crc32c(0, "123456789", 9), 0xE3069283u);
	CHECK_EQ(crc32c_sw(0, "", 0), 0);
	memset(big, 0, 32);
	CHECK_EQ(crc32c_sw(0, big, 32), 0x8A9136AAu);
	memset(big, 0xff, 32);
	CHECK_EQ(crc32c_sw(0, big, 32), 0x62A8AB43u);
	if (!crc32c_hw_available()) {
		vt_skip("no SSE4.2 on this CPU");
		return;
	}
	CHECK_EQ(crc32c_hw(0, "123456789", 9), 0xE3069283u);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len < 300; len += 37)
			CHECK_EQ(crc32c_hw(0, big + off, len), crc32c_sw(0, big + off, len));
	/* chaining */
	CHECK_EQ(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
}

static int tcount;
static void timer_cb(struct ringloop_timer *t)
{
	(void)t;
	tcount++;
}

static void defer_cb(struct ringloop_defer *d)
{
	(void)d;
	tcount += 10;
}

static void ringloop_basics(void)
{
	struct ringloop_timer t1, t2;
	struct ringloop_defer d = { .cb = defer_cb };
	uint64_t now = ringloop_now_ns(), end;

	tcount = 0;
	ringloop_timer_init(&t1, timer_cb);
	ringloop_timer_init(&t2, timer_cb);
	CHECK_EQ(ringloop_timer_add(T_rl, &t1, now + 20000000), 0);
	CHECK_EQ(ringloop_timer_add(T_rl, &t2, now + 1000000), 0);
	ringloop_defer(T_rl, &d);
	ringloop_defer(T_rl, &d); /* queued once */
	ringloop_run_once(T_rl, 0);
	/* the deferred callback, once; t2 may be due by the end of that call
	 * already (timers run after its enter) on a loaded machine */
	CHECK_EQ(tcount - tcount % 10, 10);
	CHECK(tcount % 10 <= 1);
	end = now + 2000000000ull;
	while (tcount < 12 && ringloop_now_ns() < end)
		ringloop_run_once(T_rl, -1);
	CHECK_EQ(tcount, 12);
	CHECK(ringloop_now_ns() >= now + 20000000);
	ringloop_timer_add(T_rl, &t1, now + 1000000000000ull);
	ringloop_timer_del(T_rl, &t1);
	ringloop_run_once(T_rl, 0);
	CHECK_EQ(tcount, 12);
}

static void semantics(void)
{
	struct bs *bs = mem_store(16 << 20, 1 << 20, BS_IC_NONE);
	uint8_t *w = t_abuf(BSZ), *r = t_abuf(BSZ), *z = t_abuf(BSZ);
	uint64_t v;
	uint8_t bmp[4];

	CHECK(bs);
	CHECK_EQ(bs_block_size(bs), BSZ);
	CHECK_EQ(bs_bitmap_size(bs), 4);
	/* nonexistent: zeros, version 0 */
	memset(r, 0xAA, BSZ);
	CHECK_EQ(t_read(bs, 1, 0, BS_VER_NEWEST, 0, BSZ, r, &v, bmp), BSZ);
	CHECK_EQ(v, 0);
	CHECK(!memcmp(r, z, BSZ));
	/* partial write to a new object: redirect; rest reads as zeros */
	t_fill(w, BSZ, 1);
	CHECK_EQ(t_write(bs, BS_OP_WRITE, 1, 0, 0, 8192, 8192, w, &v), 8192);
	CHECK_EQ(v, 1);
	CHECK_EQ(t_read(bs, 1, 0, BS_VER_NEWEST, 0, BSZ, r, &v, bmp), BSZ);
	CHECK_EQ(v, 1);
	CHECK(!memcmp(r, z, 8192));
	CHECK(!memcmp(r + 8192, w, 8192));
	CHECK(!memcmp(r + 16384, z, BSZ - 16384));
	CHECK_EQ(bmp[0], 0x0c);
	CHECK_EQ(bmp[1] | bmp[2] | bmp[3], 0);
	/* unstable: last stable read gives nothing */
	CHECK_EQ(t_read(bs, 1, 0, BS_VER_STABLE, 0, 4096, r, &v, NULL), 4096);
	CHECK_EQ(v, 0);
	/* explicit versions */
	CHECK_EQ(t_write(bs, BS_OP_WRITE, 1, 0, 1, 0, 4096, w, NULL), -EEXIST);
	CHECK_EQ(t_write(bs, BS_OP_WRITE, 1, 0, 5, 0, 4096, w + 4096, &v), 4096);
	CHECK_EQ(v, 5);
	CHECK_EQ(t_write(bs, BS_OP_WRITE, 1, 0, 0, 4096, 4096, w + 8192, &v), 4096);
	CHECK_EQ(v, 6);
	CHECK_EQ(t_write(bs, BS_OP_WRITE, 1, 0, 0, 1000, 4096, w, NULL), -EINVAL);
	/* versioned reads */
	CHECK_EQ(t_read(bs, 1, 0, 5, 0, 16384, r, &v, bmp), 16384);
	CHECK_EQ(v, 5);
	CHECK(!memcmp(r, w + 4096, 4096));
	CHECK(!memcmp(r + 4096, z, 4096));
	CHECK(!memcmp(r + 8192, w, 8192));
	CHECK_EQ(bmp[0], 0x0d);
	CHECK_EQ(t_read(bs, 1, 0, BS_VER_NEWEST, 0, 16384, r, &v, NULL), 16384);
	CHECK_EQ(v, 6);
	CHECK(!memcmp(r + 4096, w + 8192, 4096));
	CHECK_EQ(t_read(bs, 1, 0, 4, 0, 4096, r, &v, NULL), 4096);
	CHECK_EQ(v, 1);
	/* stabilize before sync: -EBUSY; unknown version: -ENOENT */
	CHECK_EQ(t_vers(bs, BS_OP_STABILIZE, 1, 0, 5), -EBUSY);
	CHECK_EQ(t_vers(bs, BS_OP_STABILIZE, 2, 0, 1), -ENOENT);
	CHECK_EQ(t_simple(bs, BS_OP_SYNC), 0);
	CHECK_EQ(t_vers(bs, BS_OP_STABILIZE, 1, 0, 3), -ENOENT);
	CHECK_EQ(t_vers(bs, BS_OP_STABILIZE, 1, 0, 5), 0);
	CHECK_EQ(t_read(bs, 1, 0, BS_VER_STABLE, 0, 8192, r, &v, NULL), 8192);
	CHECK_EQ(v, 5);
	CHECK(!memcmp(r, w + 4096, 4096));
	/* rollback: stable cannot be rolled back; unstable 6 can */
	CHECK_EQ(t_vers(bs, BS_OP_ROLLBACK, 1, 0, 1), -EBUSY);
	CHECK_EQ(t_vers(bs, BS_OP_ROLLBACK, 1, 0, 5), 0);
	CHECK_EQ(t_read(bs, 1, 0, BS_VER_NEWEST, 4096, 4096, r, &v, NULL), 4096);
	CHECK_EQ(v, 5);
	CHECK(!memcmp(r, z, 4096));
	/* version continues after rollback */
	CHECK_EQ(t_write(bs, BS_OP_WRITE_STABLE, 1, 0, 0, 0, BSZ, w, &v), BSZ);
	CHECK_EQ(v, 6);
	CHECK_EQ(t_read(bs, 1, 0, BS_VER_STABLE, 0, BSZ, r, &v, bmp), BSZ);
	CHECK_EQ(v, 6);
	CHECK(!memcmp(r, w, BSZ));
	CHECK_EQ(bmp[0] & bmp[1] & bmp[2] & bmp[3], 0xff);
	/* external bitmap only applied for the written range */
	{
		struct bs_op op;
		uint8_t in[4] = { 0, 0, 0, 0 };

		memset(&op, 0, sizeof(op));
		op.opcode = BS_OP_WRITE_STABLE;
		op.oid.inode = 1;
		op.offset = 0;
		op.len = 8192;
		op.buf = w;
		op.bitmap = in;
		CHECK_EQ(t_run(bs, &op), 8192);
		CHECK_EQ(t_read(bs, 1, 0, BS_VER_NEWEST, 0, 4096, r, &v, bmp), 4096);
		CHECK_EQ(v, 7);
		CHECK_EQ(bmp[0], 0xfc);
		CHECK_EQ(bmp[1], 0xff);
	}
	/* read bitmap op */
	{
		struct bs_op op;
		struct bs_obj_ver q[2] = { { 1, 0, 6 }, { 9, 0, BS_VER_NEWEST } };
		uint8_t out[2 * 12];
		uint64_t v0;

		memset(&op, 0, sizeof(op));
		op.opcode = BS_OP_READ_BMP;
		op.vers = q;
		op.nvers = 2;
		op.bmp_out = out;
		CHECK_EQ(t_run(bs, &op), 24);
		memcpy(&v0, out, 8);
		CHECK_EQ(v0, 6);
		CHECK_EQ(out[8], 0xff);
		memcpy(&v0, out + 12, 8);
		CHECK_EQ(v0, 0);
	}
	/* delete */
	CHECK_EQ(t_write(bs, BS_OP_DELETE, 1, 0, 0, 0, 0, NULL, &v), 0);
	CHECK_EQ(v, 8);
	CHECK_EQ(t_write(bs, BS_OP_DELETE, 1, 0, 0, 0, 0, NULL, &v), -ENOENT);
	CHECK_EQ(t_read(bs, 1, 0, BS_VER_NEWEST, 0, 4096, r, &v, NULL), 4096);
	CHECK(!memcmp(r, z, 4096));
	/* write after delete: versions continue, old data invisible */
	CHECK_EQ(t_write(bs, BS_OP_WRITE_STABLE, 1, 0, 0, 4096, 4096, w, &v), 4096);
	CHECK_EQ(v, 9);
	CHECK_EQ(t_read(bs, 1, 0, BS_VER_NEWEST, 0, 8192, r, &v, NULL), 8192);
	CHECK(!memcmp(r, z, 4096));
	CHECK(!memcmp(r + 4096, w, 4096));
	/* same checks after everything was flushed */
	CHECK_EQ(t_simple(bs, BS_OP_SYNC), 0);
	CHECK_EQ(t_flush_all(bs), 0);
	{
		struct bs_stats st;

		bs_get_stats(bs, &st);
		CHECK_EQ(st.dirty_entries, 0);
		CHECK_EQ(st.journal_used, 0);
	}
	CHECK_EQ(t_read(bs, 1, 0, BS_VER_STABLE, 0, 8192, r, &v, NULL), 8192);
	CHECK_EQ(v, 9);
	CHECK(!memcmp(r, z, 4096));
	CHECK(!memcmp(r + 4096, w, 4096));
	CHECK_EQ(t_idle(bs), 0);
	bs_close(bs);
	free(w);
	free(r);
	free(z);
}

static void list_order(void)
{
	struct bs *bs = mem_store(16 << 20, 1 << 20, BS_IC_ALL);
	uint8_t *w = t_abuf(4096);
	struct bs_op op;

	CHECK(bs);
	t_fill(w, 4096, 3);
	/* stripes: pg_stripe_size 256K, 2 PGs: stripe 0 -> PG1, 256K -> PG2, 512K -> PG1 */
	CHECK_EQ(t_write(bs, BS_OP_WRITE, 5, 0, 0, 0, 4096, w, NULL), 4096);        /* unstable */
	CHECK_EQ(t_write(bs, BS_OP_WRITE_STABLE, 5, 512 << 10, 0, 0, 4096, w, NULL), 4096);
	CHECK_EQ(t_write(bs, BS_OP_WRITE_STABLE, 4, 0, 0, 0, 4096, w, NULL), 4096);
	CHECK_EQ(t_write(bs, BS_OP_WRITE, 4, 0, 0, 0, 4096, w, NULL), 4096);        /* v2 unstable */
	CHECK_EQ(t_write(bs, BS_OP_WRITE_STABLE, 5, 256 << 10, 0, 0, 4096, w, NULL), 4096);
	CHECK_EQ(t_write(bs, BS_OP_WRITE_STABLE, 7, 0, 0, 0, 4096, w, NULL), 4096);
	memset(&op, 0, sizeof(op));
	op.opcode = BS_OP_LIST;
	op.pg_num = 1;
	op.pg_count = 2;
	op.pg_stripe_size = 256 << 10;
	op.min_inode = 4;
	op.max_inode = 5;
	CHECK_EQ(t_run(bs, &op), 4);
	CHECK_EQ(op.list_count, 4);
	CHECK_EQ(op.list_stable_count, 2);
	CHECK_EQ(op.list[0].inode, 4);
	CHECK_EQ(op.list[0].version, 1);
	CHECK_EQ(op.list[1].inode, 5);
	CHECK_EQ(op.list[1].stripe, 512 << 10);
	CHECK_EQ(op.list[2].inode, 4);
	CHECK_EQ(op.list[2].version, 2);
	CHECK_EQ(op.list[3].inode, 5);
	CHECK_EQ(op.list[3].stripe, 0);
	free(op.list);
	memset(&op, 0, sizeof(op));
	op.opcode = BS_OP_LIST;
	CHECK_EQ(t_run(bs, &op), 6);
	CHECK_EQ(op.list_stable_count, 4);
	CHECK_EQ(op.list[4].inode, 4);
	CHECK_EQ(op.list[4].version, 2);
	free(op.list);
	CHECK_EQ(t_idle(bs), 0);
	bs_close(bs);
	free(w);
}

/* Sustained random small and big writes through a small journal: the
 * flusher must keep up, wrap the ring many times and keep data exact. */
static void flusher_wraparound(void)
{
	enum { NOBJ = 24, ROUNDS = 3000 };
	struct bs *bs = mem_store(16 << 20, 1 << 20, BS_IC_ALL);
	uint8_t *model = calloc(NOBJ, BSZ), *w = t_abuf(BSZ), *r = t_abuf(BSZ);
	uint64_t seed = 12345;
	struct bs_stats st;

	CHECK(bs);
	for (int i = 0; i < ROUNDS; i++) {
		uint32_t obj, off, len;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		obj = (uint32_t)(seed >> 33) % NOBJ;
		if ((seed >> 20) % 10 == 0) {
			off = 0;
			len = BSZ;
		} else {
			off = (uint32_t)((seed >> 40) % 32) * 4096;
			len = (uint32_t)(1 + (seed >> 50) % 4) * 4096;
			if (off + len > BSZ)
				len = BSZ - off;
		}
		t_fill(w, len, seed);
		CHECK_EQ(t_write(bs, BS_OP_WRITE_STABLE, 100, (uint64_t)obj * BSZ, 0, off, len, w, NULL), (int)len);
		memcpy(model + (size_t)obj * BSZ + off, w, len);
		if (i % 500 == 499) {
			for (uint32_t o = 0; o < NOBJ; o++) {
				CHECK_EQ(t_read(bs, 100, (uint64_t)o * BSZ, BS_VER_STABLE, 0, BSZ, r, NULL, NULL), BSZ);
				CHECK_MSG(!memcmp(r, model + (size_t)o * BSZ, BSZ), "object %u differs at round %d", o, i);
			}
		}
	}
	bs_get_stats(bs, &st);
	CHECK_MSG(st.trims > 10, "trims %llu", (unsigned long long)st.trims);
	CHECK(st.flush_passes > 10);
	CHECK_EQ(t_flush_all(bs), 0);
	for (uint32_t o = 0; o < NOBJ; o++) {
		CHECK_EQ(t_read(bs, 100, (uint64_t)o * BSZ, BS_VER_STABLE, 0, BSZ, r, NULL, NULL), BSZ);
		CHECK(!memcmp(r, model + (size_t)o * BSZ, BSZ));
	}
	bs_close(bs);
	free(model);
	free(w);
	free(r);
}

/* Many ops in flight at once (Q128-like), lazy mode with syncs. */
static void queue_depth(void)
{
	enum { Q = 128, N = 2000 };
	struct bs *bs = mem_store(32 << 20, 2 << 20, BS_IC_NONE);
	struct bs_op ops[Q];
	int done[Q];
	uint8_t *bufs = t_abuf((size_t)Q * 4096), *r = t_abuf(4096);
	uint64_t last[64];
	int issued = 0, completed = 0;

	CHECK(bs);
	memset(last, 0, sizeof(last));
	memset(done, 0, sizeof(done));
	for (int q = 0; q < Q; q++)
		done[q] = 1;
	uint64_t qend = ringloop_now_ns() + 20000000000ull;

	while (completed < N) {
		CHECK_MSG(ringloop_now_ns() < qend, "ops stuck (%d of %d done)", completed, N);
		for (int q = 0; q < Q && issued < N; q++) {
			if (!done[q])
				continue;
			if (issued > q && ops[q].retval < 0) {
				CHECK_MSG(0, "op failed %d", ops[q].retval);
			}
			done[q] = 0;
			memset(&ops[q], 0, sizeof(ops[q]));
			ops[q].opcode = (issued % 50 == 49) ? BS_OP_SYNC : BS_OP_WRITE_STABLE;
			ops[q].oid.inode = 9;
			ops[q].oid.stripe = (uint64_t)(issued % 64) * BSZ;
			ops[q].offset = (uint32_t)(issued % 32) * 4096;
			ops[q].len = 4096;
			ops[q].buf = bufs + (size_t)q * 4096;
			memset(ops[q].buf, issued & 0xff, 4096);
			ops[q].cb = t_op_cb;
			ops[q].priv = &done[q];
			bs_submit(bs, &ops[q]);
			issued++;
		}
		ringloop_run_once(T_rl, 100000000);
		completed = issued;
		for (int q = 0; q < Q; q++)
			if (!done[q])
				completed--;
	}
	for (uint64_t end = ringloop_now_ns() + 20000000000ull;;) {
		int all = 1;

		for (int q = 0; q < Q; q++)
			all &= done[q];
		if (all)
			break;
		CHECK_MSG(ringloop_now_ns() < end, "ops stuck");
		ringloop_run_once(T_rl, 100000000);
	}
	CHECK_EQ(t_simple(bs, BS_OP_SYNC), 0);
	CHECK_EQ(t_read(bs, 9, 0, BS_VER_STABLE, 0, 4096, r, NULL, NULL), 4096);
	CHECK_EQ(t_flush_all(bs), 0);
	bs_close(bs);
	free(bufs);
	free(r);
}

static char *tmp_file(uint64_t size)
{
	const char *d = getenv("TMPDIR");
	char *p = malloc(512);
	int fd;

	snprintf(p, 512, "%s/bs_test.XXXXXX", d && *d ? d : "/tmp");
	fd = mkstemp(p);
	if (fd < 0 || ftruncate(fd, (off_t)size)) {
		free(p);
		return NULL;
	}
	close(fd);
	return p;
}

static struct bs *open_paths(const char *data, const char *meta, const char *journal, int ic, uint32_t bsz,
	char *err, size_t errlen)
{
	struct bs_config cfg;
	struct bs *bs = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.data_path = data;
	cfg.meta_path = meta;
	cfg.journal_path = journal;
	cfg.immediate_commit = ic;
	cfg.block_size = bsz;
	if (bs_open(T_rl, &cfg, &bs, err, errlen))
		return NULL;
	return bs;
}

static int format_paths(const char *data, const char *meta, const char *journal, uint64_t osd)
{
	char err[256];
	struct bs_backend *be = bs_backend_uring_open(T_rl, data, meta, journal, err, sizeof(err));
	struct bs_format_opts fo;
	int r;

	if (!be) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	memset(&fo, 0, sizeof(fo));
	fo.osd_num = osd;
	fo.journal_size = 2 << 20;
	r = bs_format(be, &fo, err, sizeof(err));
	if (r)
		fprintf(stderr, "format: %s\n", err);
	be->ops->destroy(be);
	return r;
}

/* Real io_uring backend on a temp file: write, restart (replay), flush,
 * restart (metadata), data must survive. */
static void uring_restart(void)
{
	char *f = tmp_file(64 << 20), err[256];
	uint8_t *w = t_abuf(BSZ), *r = t_abuf(BSZ);
	struct bs *bs;
	uint64_t v;
	struct bs_stats st;

	CHECK(f);
	if (format_paths(f, NULL, NULL, 3)) {
		unlink(f);
		free(f);
		vt_skip("O_DIRECT not supported on $TMPDIR");
		free(w);
		free(r);
		return;
	}
	bs = open_paths(f, NULL, NULL, BS_IC_NONE, 0, err, sizeof(err));
	CHECK_MSG(bs, "open: %s", err);
	for (int i = 0; i < 40; i++) {
		t_fill(w, BSZ, (uint64_t)i);
		CHECK_EQ(t_write(bs, BS_OP_WRITE_STABLE, 2, (uint64_t)i * BSZ, 0, 0, i % 2 ? 8192 : BSZ, w, NULL),
			i % 2 ? 8192 : BSZ);
		if (i % 2)
			CHECK_EQ(t_write(bs, BS_OP_WRITE_STABLE, 2, (uint64_t)i * BSZ, 0, 16384, 4096, w + 4096, NULL),
				4096);
	}
	CHECK_EQ(t_simple(bs, BS_OP_SYNC), 0);
	CHECK_EQ(t_idle(bs), 0);
	bs_close(bs);
	for (int round = 0; round < 2; round++) {
		bs = open_paths(f, NULL, NULL, BS_IC_NONE, BSZ, err, sizeof(err));
		CHECK_MSG(bs, "reopen: %s", err);
		bs_get_stats(bs, &st);
		if (round == 0)
			CHECK(st.replayed_entries >= 40);
		for (int i = 0; i < 40; i++) {
			t_fill(w, BSZ, (uint64_t)i);
			CHECK_EQ(t_read(bs, 2, (uint64_t)i * BSZ, BS_VER_STABLE, 0, BSZ, r, &v, NULL), BSZ);
			if (i % 2) {
				CHECK_EQ(v, 2);
				CHECK(!memcmp(r, w, 8192));
				CHECK(!memcmp(r + 16384, w + 4096, 4096));
			} else {
				CHECK_EQ(v, 1);
				CHECK(!memcmp(r, w, BSZ));
			}
		}
		CHECK_EQ(t_flush_all(bs), 0);
		bs_close(bs);
	}
	unlink(f);
	free(f);
	free(w);
	free(r);
}

static void refuse_wrong_device(void)
{
	char *a = tmp_file(32 << 20), *b = tmp_file(32 << 20), *j = tmp_file(8 << 20), err[256];
	struct bs *bs;
	int fd;

	CHECK(a && b && j);
	if (format_paths(a, NULL, NULL, 1) || format_paths(b, NULL, j, 2)) {
		vt_skip("O_DIRECT not supported on $TMPDIR");
		goto out;
	}
	/* unformatted */
	fd = open(j, O_WRONLY);
	CHECK(fd >= 0);
	close(fd);
	/* wrong geometry */
	bs = open_paths(a, NULL, NULL, 0, 65536, err, sizeof(err));
	CHECK(!bs);
	CHECK_MSG(strstr(err, "geometry"), "%s", err);
	/* journal of another OSD */
	bs = open_paths(a, NULL, j, 0, 0, err, sizeof(err));
	CHECK(!bs);
	CHECK_MSG(strstr(err, "layout") || strstr(err, "another"), "%s", err);
	/* separate-journal store opened without its journal */
	bs = open_paths(b, NULL, NULL, 0, 0, err, sizeof(err));
	CHECK(!bs);
	CHECK_MSG(strstr(err, "layout"), "%s", err);
	/* a journal device given as data */
	bs = open_paths(j, NULL, NULL, 0, 0, err, sizeof(err));
	CHECK(!bs);
	CHECK_MSG(strstr(err, "layout") || strstr(err, "area") || strstr(err, "fit"), "%s", err);
	/* wrong OSD number */
	{
		struct bs_config cfg;

		memset(&cfg, 0, sizeof(cfg));
		cfg.data_path = a;
		cfg.osd_num = 7;
		CHECK(bs_open(T_rl, &cfg, &bs, err, sizeof(err)) < 0);
		CHECK_MSG(strstr(err, "OSD 1"), "%s", err);
	}
	/* the right combination works */
	bs = open_paths(b, NULL, j, 0, 0, err, sizeof(err));
	CHECK_MSG(bs, "%s", err);
	bs_close(bs);
	/* garbage data device */
	{
		uint8_t junk[4096];

		memset(junk, 0x5a, sizeof(junk));
		fd = open(a, O_WRONLY);
		CHECK(fd >= 0);
		CHECK_EQ(pwrite(fd, junk, sizeof(junk), 0), 4096);
		close(fd);
		bs = open_paths(a, NULL, NULL, 0, 0, err, sizeof(err));
		CHECK(!bs);
		CHECK_MSG(strstr(err, "superblock"), "%s", err);
	}
out:
	unlink(a);
	unlink(b);
	unlink(j);
	free(a);
	free(b);
	free(j);
}

static void ram_per_object(void)
{
	/* 1 GiB of 128 KiB blocks = 8192 blocks, all filled */
	struct bs_backend *be;
	uint64_t sizes[BS_NSLOTS] = { (1ull << 30) + (8 << 20), 0, 0 };
	struct bs_format_opts fo;
	struct bs_config cfg;
	struct bs *bs = NULL;
	struct bs_stats st;
	char err[256];
	uint8_t *w = t_abuf(BSZ);

	be = bs_backend_mem_create(T_rl, sizes);
	CHECK(be);
	memset(&fo, 0, sizeof(fo));
	fo.journal_size = 4 << 20;
	CHECK_EQ(bs_format(be, &fo, err, sizeof(err)), 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.backend = be;
	cfg.immediate_commit = BS_IC_ALL;
	CHECK_EQ(bs_open(T_rl, &cfg, &bs, err, sizeof(err)), 0);
	bs_get_stats(bs, &st);
	for (uint64_t i = 0; i < st.data_blocks - st.data_blocks / 8 - 64; i++)
		CHECK_EQ(t_write(bs, BS_OP_WRITE_STABLE, 3, i * BSZ, 0, 0, 4096, w, NULL), 4096);
	CHECK_EQ(t_flush_all(bs), 0);
	bs_get_stats(bs, &st);
	printf("# RAM index: %llu objects, %llu bytes, %.1f bytes/object at this fill, "
		"%.1f bytes/block when full (%llu blocks)\n",
		(unsigned long long)st.objects, (unsigned long long)st.ram_index_bytes,
		(double)st.ram_index_bytes / (double)st.objects,
		(double)st.ram_index_bytes / (double)st.data_blocks, (unsigned long long)st.data_blocks);
	CHECK((double)st.ram_index_bytes / (double)st.data_blocks <= 64.0);
	bs_close(bs);
	free(w);
}

/* ---- objects per inode (bs_inode_space) against a model ---- */

#define SP_NINO 3
#define SP_NOBJ 12

static const uint64_t sp_inodes[SP_NINO] = { 1, 2, (5ull << 48) | 7 };

struct sp_sum {
	uint64_t n[SP_NINO];
	int unknown;
};

static void sp_cb(void *arg, uint64_t inode, uint64_t objects)
{
	struct sp_sum *s = arg;

	for (int i = 0; i < SP_NINO; i++)
		if (sp_inodes[i] == inode) {
			s->n[i] += objects;
			return;
		}
	s->unknown++;
}

static bool sp_match(struct bs *bs, const bool live[SP_NINO][SP_NOBJ], const char *when)
{
	struct sp_sum s = { { 0 }, 0 };
	bool ok = true;

	bs_inode_space(bs, sp_cb, &s);
	for (int i = 0; i < SP_NINO; i++) {
		uint64_t want = 0;

		for (int o = 0; o < SP_NOBJ; o++)
			want += live[i][o];
		if (s.n[i] != want) {
			fprintf(stderr, "%s: inode %d: %llu objects, model %llu\n", when, i,
				(unsigned long long)s.n[i], (unsigned long long)want);
			ok = false;
		}
	}
	return ok && !s.unknown;
}

/* Random stable writes, deletes, unstable writes rolled back or
 * stabilized, flushes; the counts must match the model after every op,
 * after a restart replaying the journal and after one from metadata. */
static void inode_space(void)
{
	char *f = tmp_file(64 << 20), err[256];
	uint8_t *w = t_abuf(BSZ);
	bool live[SP_NINO][SP_NOBJ] = { { false } };
	uint64_t seed = 99, v;
	struct bs *bs;

	CHECK(f);
	if (format_paths(f, NULL, NULL, 4)) {
		unlink(f);
		free(f);
		free(w);
		vt_skip("O_DIRECT not supported on $TMPDIR");
		return;
	}
	bs = open_paths(f, NULL, NULL, BS_IC_NONE, 0, err, sizeof(err));
	CHECK_MSG(bs, "open: %s", err);
	CHECK(sp_match(bs, live, "empty"));
	for (int round = 0; round < 800; round++) {
		int i, o, kind;
		uint64_t ino, stripe;
		uint32_t off, len;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		i = (int)((seed >> 33) % SP_NINO);
		o = (int)((seed >> 40) % SP_NOBJ);
		kind = (int)((seed >> 50) % 10);
		ino = sp_inodes[i];
		stripe = (uint64_t)o * BSZ;
		off = (uint32_t)((seed >> 20) % 16) * 4096;
		len = kind % 2 ? BSZ - off : 4096;
		t_fill(w, len, seed);
		if (kind < 5) {
			CHECK_EQ(t_write(bs, BS_OP_WRITE_STABLE, ino, stripe, 0, off, len, w, &v), (int)len);
			live[i][o] = true;
		} else if (kind < 8) {
			CHECK_EQ(t_write(bs, BS_OP_DELETE, ino, stripe, 0, 0, 0, NULL, &v),
				 live[i][o] ? 0 : -ENOENT);
			if (!live[i][o])
				continue;
			live[i][o] = false;
		} else {
			/* unstable: live at once, then rolled back or kept */
			bool was = live[i][o];

			CHECK_EQ(t_write(bs, BS_OP_WRITE, ino, stripe, 0, off, len, w, &v), (int)len);
			live[i][o] = true;
			CHECK_MSG(sp_match(bs, (const bool (*)[SP_NOBJ])live, "unstable"), "round %d",
				  round);
			CHECK_EQ(t_simple(bs, BS_OP_SYNC), 0);
			if (kind == 8) {
				/* to the version before it (a deleted object that
				 * was trimmed away starts again at 1) */
				CHECK_EQ(t_vers(bs, BS_OP_ROLLBACK, ino, stripe, v - 1), 0);
				live[i][o] = was;
			} else {
				CHECK_EQ(t_vers(bs, BS_OP_STABILIZE, ino, stripe, v), 0);
			}
		}
		CHECK_MSG(sp_match(bs, (const bool (*)[SP_NOBJ])live, "after an op"), "round %d", round);
		if (round % 100 == 99) {
			CHECK_EQ(t_simple(bs, BS_OP_SYNC), 0);
			CHECK_EQ(t_flush_all(bs), 0);
			CHECK_MSG(sp_match(bs, (const bool (*)[SP_NOBJ])live, "flushed"), "round %d", round);
		}
	}
	CHECK_EQ(t_simple(bs, BS_OP_SYNC), 0);
	CHECK_EQ(t_idle(bs), 0);
	bs_close(bs);
	for (int r = 0; r < 2; r++) {
		bs = open_paths(f, NULL, NULL, BS_IC_NONE, BSZ, err, sizeof(err));
		CHECK_MSG(bs, "reopen: %s", err);
		CHECK(sp_match(bs, (const bool (*)[SP_NOBJ])live, r ? "reopened (metadata)" :
			       "reopened (journal)"));
		CHECK_EQ(t_flush_all(bs), 0);
		bs_close(bs);
	}
	unlink(f);
	free(f);
	free(w);
}

/* A read submitted while a big (redirected) write of the same object is in
 * flight must not read the fresh block before its data is there: it sees
 * the new data (the newest version is the written one) or, for a stable
 * read, the old one, never the block's previous contents. */
static void read_during_big_write(void)
{
	struct bs_backend *be = mem_be(16 << 20);
	struct bs *bs;
	uint8_t *old = t_abuf(BSZ), *w = t_abuf(BSZ), *r = t_abuf(BSZ), *rs = t_abuf(BSZ);
	struct bs_op wop, rop, sop;
	int wdone = 0, rdone = 0, sdone = 0;

	CHECK(be);
	bs_mem_set_late_writes(be, true);
	bs = mem_store_on(be, 1 << 20, BS_IC_NONE);
	CHECK(bs);
	t_fill(old, BSZ, 7);
	CHECK_EQ(t_write(bs, BS_OP_WRITE_STABLE, 5, 0, 0, 0, BSZ, old, NULL), BSZ);
	for (int round = 0; round < 2; round++) {
		/* round 0: overwrite of an existing object, round 1: a new one */
		uint64_t inode = round ? 6 : 5;

		t_fill(w, BSZ, 100 + round);
		memset(&wop, 0, sizeof(wop));
		wop.opcode = BS_OP_WRITE;
		wop.oid.inode = inode;
		wop.offset = 0;
		wop.len = BSZ;
		wop.buf = w;
		wop.cb = t_op_cb;
		wop.priv = &wdone;
		memset(&rop, 0, sizeof(rop));
		rop.opcode = BS_OP_READ;
		rop.oid.inode = inode;
		rop.version = BS_VER_NEWEST;
		rop.len = BSZ;
		rop.buf = r;
		rop.cb = t_op_cb;
		rop.priv = &rdone;
		sop = rop;
		sop.version = BS_VER_STABLE;
		sop.buf = rs;
		sop.priv = &sdone;
		memset(r, 0xEE, BSZ);
		memset(rs, 0xEE, BSZ);
		wdone = rdone = sdone = 0;
		bs_submit(bs, &wop);
		bs_submit(bs, &rop);
		bs_submit(bs, &sop);
		CHECK_EQ(t_wait_flag(&rdone), 0);
		CHECK_EQ(t_wait_flag(&sdone), 0);
		CHECK_EQ(t_wait_flag(&wdone), 0);
		CHECK_EQ(wop.retval, BSZ);
		CHECK_EQ(rop.retval, BSZ);
		CHECK_EQ(rop.version, wop.version);
		CHECK_MSG(!memcmp(r, w, BSZ), "round %d: newest read is not the new data", round);
		CHECK_EQ(sop.retval, BSZ);
		if (round == 0) {
			CHECK_MSG(!memcmp(rs, old, BSZ), "stable read is not the old data");
		} else {
			memset(old, 0, BSZ);
			CHECK_MSG(!memcmp(rs, old, BSZ), "stable read of a new object is not zeroes");
		}
	}
	CHECK_EQ(t_idle(bs), 0);
	bs_close(bs);
	free(old);
	free(w);
	free(r);
	free(rs);
}

int main(void)
{
	T_rl = ringloop_create(256);
	if (!T_rl) {
		perror("ringloop_create");
		return 1;
	}
	RUN(crc_vectors);
	RUN(ringloop_basics);
	RUN(semantics);
	RUN(list_order);
	RUN(flusher_wraparound);
	RUN(queue_depth);
	RUN(uring_restart);
	RUN(refuse_wrong_device);
	RUN(ram_per_object);
	RUN(inode_space);
	RUN(read_during_big_write);
	ringloop_destroy(T_rl);
	return vt_finish();
}
