/* Randomized crash test of the blockstore on the fault-injection backend
 * (volatile write cache, power loss at a random I/O, unflushed 4 KiB
 * sectors kept or lost at random). Checks after each restart:
 *   - startup succeeds (a refusal is a failure here: nothing is corrupt),
 *   - every durably acknowledged version is visible (versions never go back),
 *   - what is visible is exactly some version that was written (no data
 *     that was never written, no mix of versions),
 *   - the same for the last stable version.
 * BS_CRASH_ITERS (default 200) iterations, each with 3 crashes.
 * BS_CRASH_SEED picks the starting seed. */
#include "test_bs_util.h"

#include <stdio.h>

#define BSZ (16 * 1024)
#define NG (BSZ / 4096)
#define NOBJ 6
#define MAXV 2048
#define QD 4

struct vimg {
	uint32_t g[NG]; /* granule seed; 0 = zeros */
	uint8_t del, used;
};

struct mobj {
	struct vimg v[MAXV];
	uint32_t next_ver;   /* next explicit version to use */
	uint32_t newest;     /* newest submitted (may be lost) */
	uint32_t acked;      /* newest acknowledged */
	uint32_t durable;    /* newest durably acknowledged */
	uint32_t stable_acked, stable_durable;
	bool busy;
};

static struct mobj M[NOBJ];
static uint64_t rs;
static int ic_mode;

static uint32_t rnd(uint32_t n)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (uint32_t)(rs % n);
}

struct top {
	struct bs_op op;
	int kind; /* 0 free, 1 write, 2 sync, 3 stabilize, 4 delete */
	int obj;
	uint32_t ver;
	bool stable;
	bool done;
	uint32_t snap_acked[NOBJ], snap_stable[NOBJ];
	struct bs_obj_ver ov;
	uint8_t *buf;
};

static struct top T[QD + 1];
static int fails;
static uint64_t cows;

static void top_cb(struct bs_op *op)
{
	struct top *t = op->priv;

	t->done = true;
}

static void fill_gran(uint8_t *p, uint32_t seed)
{
	if (!seed)
		memset(p, 0, 4096);
	else
		t_fill(p, 4096, seed);
}

static void mark_durable(const uint32_t *acked, const uint32_t *stable)
{
	for (int o = 0; o < NOBJ; o++) {
		if (acked[o] > M[o].durable)
			M[o].durable = acked[o];
		if (stable[o] > M[o].stable_durable)
			M[o].stable_durable = stable[o];
	}
}

/* Handles a completed op; returns false on a model violation. */
static int trace;

static bool complete(struct top *t)
{
	struct mobj *m = &M[t->obj];

	if (trace)
		fprintf(stderr, "done kind %d obj %d ver %u ret %d\n", t->kind, t->obj, t->ver, t->op.retval);
	switch (t->kind) {
	case 1:
	case 4:
		if (t->op.retval < 0) {
			fprintf(stderr, "write/delete failed: %d\n", t->op.retval);
			return false;
		}
		m->acked = t->ver;
		if (t->stable || t->kind == 4)
			m->stable_acked = t->ver;
		m->busy = false;
		if (ic_mode != BS_IC_NONE) {
			m->durable = t->ver;
			if (t->stable || t->kind == 4)
				m->stable_durable = t->ver;
		}
		break;
	case 2:
		if (t->op.retval) {
			fprintf(stderr, "sync failed: %d\n", t->op.retval);
			return false;
		}
		mark_durable(t->snap_acked, t->snap_stable);
		break;
	case 3:
		m->busy = false;
		if (t->op.retval == 0) {
			if (t->ver > m->stable_acked)
				m->stable_acked = t->ver;
			if (ic_mode != BS_IC_NONE && t->ver > m->stable_durable)
				m->stable_durable = t->ver;
		} else if (t->op.retval != -EBUSY) {
			fprintf(stderr, "stabilize failed: %d\n", t->op.retval);
			return false;
		}
		break;
	}
	t->kind = 0;
	return true;
}

static void issue(struct bs *bs, struct top *t)
{
	uint32_t c = rnd(100);
	int o = (int)rnd(NOBJ);
	struct mobj *m = &M[o];

	memset(&t->op, 0, sizeof(t->op));
	t->op.cb = top_cb;
	t->op.priv = t;
	t->done = false;
	t->obj = o;
	if (c < 15) {
		t->kind = 2;
		t->op.opcode = BS_OP_SYNC;
		for (int k = 0; k < NOBJ; k++) {
			t->snap_acked[k] = M[k].acked;
			t->snap_stable[k] = M[k].stable_acked;
		}
		bs_submit(bs, &t->op);
		return;
	}
	if (m->busy || m->next_ver + 2 >= MAXV)
		return;
	if (c < 25) {
		/* stabilize the newest acked version */
		if (!m->acked || m->acked <= m->stable_acked || m->v[m->acked].del)
			return;
		t->kind = 3;
		t->ver = m->acked;
		t->ov = (struct bs_obj_ver){ 1, (uint64_t)o * BSZ, m->acked };
		t->op.opcode = BS_OP_STABILIZE;
		t->op.vers = &t->ov;
		t->op.nvers = 1;
		m->busy = true;
		bs_submit(bs, &t->op);
		return;
	}
	if (c < 32) {
		if (!m->newest || m->v[m->newest].del)
			return;
		t->kind = 4;
		t->ver = m->next_ver++;
		m->v[t->ver] = (struct vimg){ .del = 1, .used = 1 };
		m->newest = t->ver;
		t->op.opcode = BS_OP_DELETE;
		t->op.oid = (struct bs_oid){ 1, (uint64_t)o * BSZ };
		t->op.version = t->ver;
		m->busy = true;
		bs_submit(bs, &t->op);
		return;
	}
	{
		uint32_t g0, n;
		struct vimg img;

		if (rnd(4) == 0) {
			g0 = 0;
			n = NG;
		} else {
			g0 = rnd(NG);
			n = 1 + rnd(NG - g0);
		}
		if (m->newest && !m->v[m->newest].del)
			img = m->v[m->newest];
		else
			memset(&img, 0, sizeof(img));
		img.used = 1;
		img.del = 0;
		t->kind = 1;
		t->ver = m->next_ver++;
		t->stable = rnd(3) != 0;
		for (uint32_t g = g0; g < g0 + n; g++) {
			img.g[g] = (uint32_t)o << 24 | t->ver << 4 | g | 0x80000000u;
			fill_gran(t->buf + (g - g0) * 4096, img.g[g]);
		}
		m->v[t->ver] = img;
		m->newest = t->ver;
		t->op.opcode = t->stable ? BS_OP_WRITE_STABLE : BS_OP_WRITE;
		t->op.oid = (struct bs_oid){ 1, (uint64_t)o * BSZ };
		t->op.version = t->ver;
		t->op.offset = g0 * 4096;
		t->op.len = n * 4096;
		t->op.buf = t->buf;
		m->busy = true;
		if (trace)
			fprintf(stderr, "write obj %d ver %u off %u len %u stable %d\n", o, t->ver, t->op.offset, t->op.len, t->stable);
		bs_submit(bs, &t->op);
	}
}

static bool img_eq(const struct vimg *v, const uint8_t *data)
{
	uint8_t g[4096];

	for (int i = 0; i < NG; i++) {
		fill_gran(g, v->del ? 0 : v->g[i]);
		if (memcmp(g, data + i * 4096, 4096))
			return false;
	}
	return true;
}

/* A delete at or after version v was submitted: the object may be gone
 * (a deleted object is forgotten once flushed and trimmed). */
static bool del_after(const struct mobj *m, uint32_t v)
{
	for (uint32_t k = v; k < m->next_ver && k < MAXV; k++)
		if (m->v[k].used && m->v[k].del)
			return true;
	return false;
}

/* Verifies the restarted store against the model and rebases the model. */
static bool verify(struct bs *bs, uint8_t *buf, uint64_t seed, int life)
{
	for (int o = 0; o < NOBJ; o++) {
		struct mobj *m = &M[o];
		uint64_t v, vs;

		if (t_read(bs, 1, (uint64_t)o * BSZ, BS_VER_NEWEST, 0, BSZ, buf, &v, NULL) != BSZ)
			return false;
		if (v >= MAXV || (v && !m->v[v].used)) {
			fprintf(stderr, "seed %llu life %d obj %d: version %llu was never written\n",
				(unsigned long long)seed, life, o, (unsigned long long)v);
			return false;
		}
		if (v < m->durable && !(v == 0 && del_after(m, m->durable))) {
			fprintf(stderr, "seed %llu life %d obj %d: version went back: %llu < durable %u\n",
				(unsigned long long)seed, life, o, (unsigned long long)v, m->durable);
			return false;
		}
		if (v && !img_eq(&m->v[v], buf)) {
			fprintf(stderr, "seed %llu life %d obj %d: data of version %llu differs\n",
				(unsigned long long)seed, life, o, (unsigned long long)v);
			return false;
		}
		if (!v) {
			static uint8_t z[BSZ];

			if (memcmp(buf, z, BSZ)) {
				fprintf(stderr, "seed %llu obj %d: absent object reads non-zero\n",
					(unsigned long long)seed, o);
				return false;
			}
		}
		if (t_read(bs, 1, (uint64_t)o * BSZ, BS_VER_STABLE, 0, BSZ, buf, &vs, NULL) != BSZ)
			return false;
		if (vs >= MAXV || (vs && !m->v[vs].used) || vs > v) {
			fprintf(stderr, "seed %llu life %d obj %d: bad stable version %llu\n",
				(unsigned long long)seed, life, o, (unsigned long long)vs);
			return false;
		}
		if (vs < m->stable_durable && !(vs == 0 && del_after(m, m->stable_durable))) {
			fprintf(stderr, "seed %llu life %d obj %d: stable version went back: %llu < %u\n",
				(unsigned long long)seed, life, o, (unsigned long long)vs, m->stable_durable);
			return false;
		}
		if (vs && !img_eq(&m->v[vs], buf)) {
			fprintf(stderr, "seed %llu life %d obj %d: data of stable version %llu differs\n",
				(unsigned long long)seed, life, o, (unsigned long long)vs);
			return false;
		}
		/* rebase: what survived is now durable */
		m->newest = m->acked = m->durable = (uint32_t)v;
		m->stable_acked = m->stable_durable = (uint32_t)vs;
		if (v && m->v[v].del)
			m->newest = m->acked = m->durable = (uint32_t)v;
		m->busy = false;
	}
	return true;
}

static struct bs *open_be(struct bs_backend *be, char *err, size_t errlen)
{
	struct bs_config cfg;
	struct bs *bs = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.backend = be;
	cfg.immediate_commit = ic_mode;
	cfg.flush_batch = 1 + rnd(8);
	cfg.flush_start_pct = 1 + rnd(50);
	if (bs_open(T_rl, &cfg, &bs, err, errlen))
		return NULL;
	return bs;
}

static bool one_iteration(uint64_t seed, uint64_t *crashes)
{
	uint64_t sizes[BS_NSLOTS] = { 2 << 20, 0, 0 };
	struct bs_backend *be;
	struct bs_format_opts fo;
	struct bs *bs;
	char err[256];
	uint8_t *rbuf = t_abuf(BSZ);
	bool ok = true, late;

	rs = seed * 2654435761u + 7;
	ic_mode = rnd(2) ? BS_IC_NONE : BS_IC_ALL;
	trace = getenv("BS_CRASH_TRACE") != NULL;
	if (trace)
		fprintf(stderr, "mode %d\n", ic_mode);
	memset(M, 0, sizeof(M));
	for (int o = 0; o < NOBJ; o++)
		M[o].next_ver = 1;
	if (rnd(2))
		sizes[BS_SLOT_JOURNAL] = 1 << 20;
	be = bs_backend_mem_create(T_rl, sizes);
	memset(&fo, 0, sizeof(fo));
	fo.block_size = BSZ;
	fo.journal_size = 96 * 1024 + rnd(4) * 32 * 1024;
	if (!be || bs_format(be, &fo, err, sizeof(err))) {
		fprintf(stderr, "format: %s\n", err);
		free(rbuf);
		return false;
	}
	/* half the runs: write data lands at completion, not at submission */
	late = rnd(2);
	bs_mem_set_volatile(be, true);
	bs_mem_set_late_writes(be, late);
	bs = open_be(be, err, sizeof(err));
	if (!bs) {
		fprintf(stderr, "open: %s\n", err);
		free(rbuf);
		return false;
	}
	for (int life = 0; life < 3 && ok; life++) {
		uint32_t steps = 50 + rnd(300);
		struct bs_backend *nb;

		bs_mem_crash_after(be, 1 + rnd(400));
		for (int q = 0; q <= QD; q++)
			T[q].kind = 0;
		for (uint32_t s = 0; s < steps && !bs_mem_crashed(be) && ok; s++) {
			for (int q = 0; q < QD; q++)
				if (!T[q].kind)
					issue(bs, &T[q]);
			ringloop_run_once(T_rl, 0);
			for (int q = 0; q < QD; q++)
				if (T[q].kind && T[q].done && !complete(&T[q]))
					ok = false;
		}
		if (trace)
			fprintf(stderr, "power loss, crashed=%d\n", bs_mem_crashed(be));
		/* power loss now, whatever is in flight */
		bs_mem_power_loss(be, seed * 31 + (uint64_t)life);
		(*crashes)++;
		/* let queued op callbacks run (their structs get reused) */
		for (int i = 0; i < 4; i++)
			ringloop_run_once(T_rl, 0);
		nb = bs_backend_mem_clone_durable(T_rl, be);
		bs_mem_set_volatile(nb, true);
		bs_mem_set_late_writes(nb, late);
		bs_close(bs);
		be = nb;
		bs = open_be(be, err, sizeof(err));
		if (!bs) {
			fprintf(stderr, "seed %llu life %d: restart refused: %s\n", (unsigned long long)seed, life, err);
			ok = false;
			break;
		}
		if (!verify(bs, rbuf, seed, life))
			ok = false;
	}
	if (bs) {
		struct bs_stats st;

		t_idle(bs);
		bs_get_stats(bs, &st);
		cows += st.cow_flushes;
		bs_close(bs);
	}
	free(rbuf);
	return ok;
}

static void crash_random(void)
{
	const char *e = getenv("BS_CRASH_ITERS"), *s = getenv("BS_CRASH_SEED");
	uint64_t iters = e ? strtoull(e, NULL, 10) : 200, seed0 = s ? strtoull(s, NULL, 10) : 1;
	uint64_t crashes = 0;

	for (int q = 0; q <= QD; q++)
		T[q].buf = t_abuf(BSZ);
	for (uint64_t i = 0; i < iters; i++) {
		if (!one_iteration(seed0 + i, &crashes)) {
			fails++;
			CHECK_MSG(0, "crash iteration with seed %llu failed", (unsigned long long)(seed0 + i));
		}
	}
	printf("# %llu iterations, %llu crash points verified (%llu copy-on-write flushes in final lives)\n",
		(unsigned long long)iters, (unsigned long long)crashes, (unsigned long long)cows);
	for (int q = 0; q <= QD; q++)
		free(T[q].buf);
}

int main(void)
{
	T_rl = ringloop_create(256);
	if (!T_rl)
		return 1;
	RUN(crash_random);
	ringloop_destroy(T_rl);
	return vt_finish();
}
