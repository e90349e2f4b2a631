/* vsctl import, export and the data part of rm.
 *
 * All three keep --io-depth operations in flight through libvstor. Data
 * moves in chunks of whole objects (about 1 MiB); a slot owns one chunk
 * buffer for the whole run, so nothing is allocated per chunk.
 *
 * Sparse handling, where it is cheap:
 * - import: holes of a regular source file (SEEK_DATA) are not read; an
 *   object whose bytes are all zero is not written: it is skipped when the
 *   image's object list (vstor_list_inode) says it does not exist, else
 *   deleted (or overwritten with zeroes while its PG refuses deletes).
 * - export: chunks without any listed object are not read; objects that
 *   read as zeroes become holes in a regular output file.
 * - rm: deletes exactly the listed objects. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringloop.h"
#include "vsctl.h"

#define CHUNK_TARGET (1u << 20)
#define GRAN 4096u

struct xfer;

struct xop {
	struct xslot *s;
	uint64_t off, len;	/* image range; len of a delete = the object */
	bool zero;		/* a delete that may fall back to writing zeroes */
};

struct xslot {
	struct xfer *x;
	uint8_t *buf;
	uint64_t off, len;	/* chunk: image offset, bytes of data in buf */
	unsigned pending;
	bool busy, done;
	struct xop *ops;	/* [objects per chunk] */
};

struct xfer {
	struct vsctl *v;
	struct vstor_client *c;
	uint64_t inode, size, stripe, chunk;
	unsigned depth;
	struct xslot *slots;
	int64_t err;
	struct vstor_inode_list *objs;	/* NULL: unknown, assume any may exist */
	bool layered;			/* the image has a parent: objects may show its data */
	uint64_t bytes_done, written, deleted, skipped;
	struct vs_progress prog;
};

static int64_t xfer_err(struct xfer *x, int64_t err)
{
	if (!x->err)
		x->err = err;
	return err;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	static const uint8_t z[16];

	if (len <= 16)
		return !memcmp(p, z, len);
	return !memcmp(p, z, 16) && !memcmp(p, p + 16, len - 16);
}

/* Is there a listed object in [off, off + len)? */
static bool objs_in(const struct xfer *x, uint64_t off, uint64_t len)
{
	size_t lo = 0, hi;

	if (!x->objs)
		return true;
	hi = x->objs->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (x->objs->stripes[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->objs->n && x->objs->stripes[lo] < off + len;
}

static int xfer_init(struct xfer *x, struct vsctl *v, struct vs_image_io *io, uint64_t depth)
{
	uint64_t parent = 0;

	memset(x, 0, sizeof(*x));
	x->v = v;
	x->c = io->c;
	x->inode = io->inode;
	x->size = io->size;
	x->stripe = vstor_inode_stripe_size(io->c, io->inode);
	if (!x->stripe) {
		vs_err("the pool of inode %" PRIu64 " is not in config/pools (or has no PGs)",
		       io->inode >> 48);
		return VS_ERR;
	}
	x->layered = !vstor_inode_parent(io->c, io->inode, &parent) && parent;
	x->chunk = x->stripe >= CHUNK_TARGET ? x->stripe : CHUNK_TARGET / x->stripe * x->stripe;
	x->depth = (unsigned)depth;
	x->slots = calloc(x->depth, sizeof(*x->slots));
	if (!x->slots)
		goto oom;
	for (unsigned i = 0; i < x->depth; i++) {
		x->slots[i].x = x;
		x->slots[i].ops = calloc(x->chunk / x->stripe, sizeof(struct xop));
		if (!x->slots[i].ops || posix_memalign((void **)&x->slots[i].buf, GRAN, x->chunk))
			goto oom;
	}
	return VS_OK;
oom:
	vs_err("out of memory for %u buffers of %" PRIu64 " bytes", x->depth, x->chunk);
	return VS_ERR;
}

static void xfer_free(struct xfer *x)
{
	for (unsigned i = 0; x->slots && i < x->depth; i++) {
		free(x->slots[i].buf);
		free(x->slots[i].ops);
	}
	free(x->slots);
	vstor_inode_list_free(x->objs);
}

static unsigned busy_slots(const struct xfer *x)
{
	unsigned n = 0;

	for (unsigned i = 0; i < x->depth; i++)
		n += x->slots[i].busy;
	return n;
}

/* The image's object list; NULL (any object may exist) when some OSDs are
 * down. */
static int load_objs(struct xfer *x, const char *what)
{
	struct vstor_inode_list *l = NULL;
	int r;

	if (x->layered)
		return VS_OK;	/* the parents' objects count too: any may hold data */
	r = vstor_list_inode_sync(x->c, x->inode, &l);
	if (r == -ENOENT) {
		vs_err("%s: pool %" PRIu64 " has no PGs in config/pgs, so no data can be reached; "
		       "place them first (vsctl pg place)", what, x->inode >> 48);
		return VS_ERR;
	}
	if (r) {
		vs_err("%s: listing the image's objects failed: %s", what, strerror(-r));
		return VS_ERR;
	}
	if (l->ndown) {
		vs_warn("%s: %zu OSD(s) that may hold data of the image are down; treating "
			"every object as present", what, l->ndown);
		vstor_inode_list_free(l);
		return VS_OK;
	}
	x->objs = l;
	return VS_OK;
}

static int depth_opt(struct vsctl *v, uint64_t def, uint64_t *out)
{
	if (vs_opt_num(v, "io_depth", def, out))
		return VS_USAGE;
	if (!*out || *out > 1024)
		return vs_usage(v, "--io-depth must be 1..1024");
	return VS_OK;
}

static FILE *summary_out(bool data_on_stdout)
{
	return data_on_stdout ? stderr : stdout;
}

/* ---- import ---- */

static void imp_slot_done(struct xslot *s)
{
	struct xfer *x = s->x;

	s->busy = false;
	x->bytes_done += s->len;
	vs_progress_update(&x->prog, x->bytes_done);
}

static void imp_op_cb(void *arg, int64_t rv, uint64_t version);

static int imp_submit(struct xop *o, bool del)
{
	struct xslot *s = o->s;
	struct xfer *x = s->x;
	int r;

	if (del)
		r = vstor_delete(x->c, x->inode, o->off, o->len, imp_op_cb, o);
	else
		r = vstor_write(x->c, x->inode, o->off, o->len, s->buf + (o->off - s->off),
				imp_op_cb, o);
	if (r)
		return (int)xfer_err(x, r);
	o->zero = del;
	s->pending++;
	return 0;
}

static void imp_op_cb(void *arg, int64_t rv, uint64_t version)
{
	struct xop *o = arg;
	struct xslot *s = o->s;
	struct xfer *x = s->x;

	s->pending--;
	if (o->zero && rv == -EBUSY) {
		/* the PG refuses deletes while degraded: write the zeroes */
		if (!imp_submit(o, false))
			return;
	} else if (rv < 0) {
		xfer_err(x, rv);
	} else if (o->zero) {
		x->deleted++;
	} else {
		x->written++;
	}
	if (!s->pending)
		imp_slot_done(s);
}

static void imp_add(struct xslot *s, unsigned *nops, uint64_t off, uint64_t len, bool del)
{
	struct xop *op = &s->ops[(*nops)++];

	op->s = s;
	op->off = off;
	op->len = len;
	imp_submit(op, del);
}

/* Queues the ops of a filled slot: one write per run of non-zero objects;
 * for a zero object that may exist a delete (a whole object) or a write of
 * its zeroes (the partial last one). At most one op per object. */
static void imp_chunk(struct xslot *s)
{
	struct xfer *x = s->x;
	uint64_t end = s->off + (s->len + GRAN - 1) / GRAN * GRAN;
	uint64_t run = UINT64_MAX;	/* start of a pending write run */
	unsigned nops = 0;

	s->busy = true;
	s->pending = 1;		/* held until every op is queued */
	for (uint64_t o = s->off; o < end && !x->err; o += x->stripe) {
		uint64_t olen = end - o < x->stripe ? end - o : x->stripe;

		if (!all_zero(s->buf + (o - s->off), olen)) {
			if (run == UINT64_MAX)
				run = o;
			continue;
		}
		if (run != UINT64_MAX)
			imp_add(s, &nops, run, o - run, false);
		run = UINT64_MAX;
		if (!objs_in(x, o, olen))
			x->skipped++;
		else	/* deleting in a clone would show the parent's data */
			imp_add(s, &nops, o, olen, olen == x->stripe && !x->layered);
	}
	if (run != UINT64_MAX && !x->err)
		imp_add(s, &nops, run, end - run, false);
	if (!--s->pending)
		imp_slot_done(s);
}

/* Reads the next chunk into s; returns bytes read (0 at EOF) or -1. */
static ssize_t imp_read(struct xfer *x, int fd, bool seekable, uint64_t off, struct xslot *s,
			const char *src)
{
	size_t got = 0;

	if (seekable) {
		off_t d = lseek(fd, (off_t)off, SEEK_DATA);
		struct stat st;

		if (fstat(fd, &st) < 0)
			return -1;
		if ((uint64_t)st.st_size <= off)
			return 0;
		got = (uint64_t)st.st_size - off < x->chunk ? (uint64_t)st.st_size - off : x->chunk;
		if ((d < 0 && errno == ENXIO) || (d >= 0 && (uint64_t)d >= off + got)) {
			memset(s->buf, 0, got);	/* a hole: nothing to read */
			return (ssize_t)got;
		}
		for (size_t n = 0; n < got;) {
			ssize_t r = pread(fd, s->buf + n, got - n, (off_t)(off + n));

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				vs_err("import: reading %s: %s", src, r ? strerror(errno) :
				       "the file shrank while being read");
				return -1;
			}
			n += (size_t)r;
		}
		return (ssize_t)got;
	}
	while (got < x->chunk) {
		ssize_t r = read(fd, s->buf + got, x->chunk - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			vs_err("import: reading %s: %s", src, strerror(errno));
			return -1;
		}
		if (!r)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Fills a partial last 4 KiB block of s up to the granularity: with the
 * image's bytes when it existed (they must not be zeroed), else zeroes.
 * 0 or a negative errno. */
static int imp_tail(struct xfer *x, struct xslot *s, bool created)
{
	uint64_t part = s->len % GRAN, blk = s->off + s->len - part;
	uint8_t tmp[GRAN];
	int64_t r;

	if (!part)
		return 0;
	memset(s->buf + s->len, 0, GRAN - part);
	if (created || blk >= x->size)
		return 0;
	r = vstor_read_sync(x->c, x->inode, blk, GRAN, tmp);
	if (r != GRAN)
		return (int)xfer_err(x, r < 0 ? r : -EIO);
	memcpy(s->buf + s->len, tmp + part, GRAN - part);
	return 0;
}

/* The image to import into: existing (*created false) or created with
 * size. */
static int imp_image(struct vsctl *v, struct vs_image_io *io, const char *name, uint64_t size,
		     bool size_known, bool *created)
{
	uint64_t deadline;
	int rc;

	*created = false;
	if (vs_client_open(v, io, NULL, false))
		return VS_ERR;
	if (!vstor_image_lookup(io->c, name, &io->inode, &io->size, &io->readonly)) {
		if (io->readonly) {
			vs_err("image '%s' is readonly (clear it with 'vsctl modify %s --readwrite')",
			       name, name);
			return VS_ERR;
		}
		if (vs_opt_set(v, "pool"))
			vs_warn("image '%s' exists: --pool is ignored", name);
		return VS_OK;
	}
	if (!size_known) {
		vs_err("image '%s' does not exist and the size of standard input is not known: "
		       "give --size, or create the image first", name);
		return VS_ERR;
	}
	if (!size) {
		vs_err("import: the source is empty; not creating an empty image '%s'", name);
		return VS_ERR;
	}
	rc = vs_image_create(v, name, size, false);
	if (rc)
		return rc;
	*created = true;
	/* the client learns about the new inode by watch */
	deadline = ringloop_now_ns() + 20000000000ull;
	while (vstor_image_lookup(io->c, name, &io->inode, &io->size, &io->readonly)) {
		if (ringloop_now_ns() > deadline) {
			vs_err("import: created image '%s' but the client did not see it", name);
			return VS_ERR;
		}
		vstor_client_run_once(io->c, 50000000);
	}
	return VS_OK;
}

int cmd_import(struct vsctl *v)
{
	const char *src = v->args[0], *name = v->args[1];
	bool is_stdin = !strcmp(src, "-"), seekable = false, created, size_known = false;
	uint64_t depth, size = 0, off = 0;
	struct vs_image_io io = { 0 };
	struct xfer x;
	struct stat st;
	bool eof = false;
	int fd, rc;

	if ((rc = vs_check_image_name(v, name)) || (rc = depth_opt(v, 16, &depth)))
		return rc;
	if (vs_opt_set(v, "size")) {
		if (vs_parse_size(v, "size", vs_opt_str(v, "size"), &size) < 0)
			return VS_USAGE;
		if (!size)
			return vs_usage(v, "--size must be positive");
		size_known = true;
	}
	fd = is_stdin ? 0 : open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		vs_err("import: cannot open %s: %s", src, strerror(errno));
		return VS_ERR;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		seekable = true;
		if (size_known && size < (uint64_t)st.st_size) {
			vs_err("import: --size %" PRIu64 " is smaller than %s (%" PRIu64 " bytes)",
			       size, src, (uint64_t)st.st_size);
			goto fail_fd;
		}
		if (!size_known)
			size = (uint64_t)st.st_size;
		size_known = true;
	}
	rc = imp_image(v, &io, name, size, size_known, &created);
	if (rc)
		goto out_client;
	if (seekable && (uint64_t)st.st_size > io.size) {
		vs_err("import: %s (%" PRIu64 " bytes) does not fit into image '%s' (%" PRIu64
		       " bytes); enlarge it with 'vsctl modify %s --resize %" PRIu64 "'", src,
		       (uint64_t)st.st_size, name, io.size, name, (uint64_t)st.st_size);
		rc = VS_ERR;
		goto out_client;
	}
	rc = xfer_init(&x, v, &io, depth);
	if (!rc && !created)
		rc = load_objs(&x, "import");
	if (!rc && created)
		x.objs = calloc(1, sizeof(*x.objs));	/* new: no objects */
	if (rc)
		goto out;
	vs_progress_start(&x.prog, v, "import", seekable ? (uint64_t)st.st_size : size, true);
	while (!x.err) {
		struct xslot *s = NULL;

		for (unsigned i = 0; i < x.depth && !eof && !s; i++)
			if (!x.slots[i].busy)
				s = &x.slots[i];
		if (s) {
			ssize_t n = imp_read(&x, fd, seekable, off, s, src);

			if (n < 0) {
				xfer_err(&x, -EIO);
				break;
			}
			if (!n) {
				eof = true;
				continue;
			}
			if (off + (uint64_t)n > io.size) {
				vs_err("import: the input is larger than image '%s' (%" PRIu64
				       " bytes)", name, io.size);
				xfer_err(&x, -EFBIG);
				break;
			}
			s->off = off;
			s->len = (uint64_t)n;
			off += (uint64_t)n;
			if (imp_tail(&x, s, created))
				break;
			imp_chunk(s);
			continue;
		}
		if (eof && !busy_slots(&x))
			break;
		vstor_client_run_once(x.c, 100000000);
	}
	while (busy_slots(&x))
		vstor_client_run_once(x.c, 100000000);
	/* lazy mode: nothing is durable before a SYNC */
	if (!x.err) {
		int64_t r = vstor_sync_sync(x.c);

		if (r < 0)
			xfer_err(&x, r);
	}
	vs_progress_end(&x.prog);
	if (x.err) {
		if (x.err != -EIO && x.err != -EFBIG)
			vs_err("import into '%s' failed at about byte %" PRIu64 ": %s", name,
			       x.bytes_done, strerror((int)-x.err));
		rc = VS_ERR;
	} else if (v->json) {
		printf("{\"image\":%s,\"inode\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"created\":%s,"
		       "\"writes\":%" PRIu64 ",\"zero_objects_deleted\":%" PRIu64
		       ",\"zero_objects_skipped\":%" PRIu64 "}\n", vs_q(name), x.inode, off,
		       created ? "true" : "false", x.written, x.deleted, x.skipped);
	} else {
		char b[32];

		printf("Imported %s (%s) into %simage '%s'\n", is_stdin ? "standard input" : src,
		       vs_fmt_size(off, b, sizeof(b)), created ? "new " : "", name);
	}
out:
	xfer_free(&x);
out_client:
	vs_client_close(&io);
	if (!is_stdin)
		close(fd);
	return rc;
fail_fd:
	if (!is_stdin)
		close(fd);
	return VS_ERR;
}

/* ---- export ---- */

static void exp_read_cb(void *arg, int64_t rv, uint64_t version)
{
	struct xslot *s = arg;

	if (rv < 0)
		xfer_err(s->x, rv);
	s->done = true;
}

/* Starts reading chunk number n into s (or marks it done: no objects). */
static int exp_start(struct xfer *x, struct xslot *s, uint64_t n)
{
	uint64_t rlen;
	int r;

	s->off = n * x->chunk;
	s->len = x->size - s->off < x->chunk ? x->size - s->off : x->chunk;
	s->busy = true;
	s->done = false;
	if (!objs_in(x, s->off, s->len)) {
		memset(s->buf, 0, s->len);
		s->done = true;
		return 0;
	}
	rlen = (s->len + GRAN - 1) / GRAN * GRAN;
	r = vstor_read(x->c, x->inode, s->off, rlen, s->buf, exp_read_cb, s);
	if (r) {
		s->busy = false;
		return (int)xfer_err(x, r);
	}
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len, uint64_t off, bool positioned)
{
	while (len) {
		ssize_t r = positioned ? pwrite(fd, p, len, (off_t)off) : write(fd, p, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* Writes a finished chunk; in a regular file zero objects stay holes. */
static int exp_output(struct xfer *x, struct xslot *s, int fd, bool sparse)
{
	if (!sparse)
		return write_all(fd, s->buf, s->len, s->off, false);
	for (uint64_t o = 0; o < s->len; o += x->stripe) {
		uint64_t l = s->len - o < x->stripe ? s->len - o : x->stripe;
		int r;

		if (all_zero(s->buf + o, l)) {
			x->skipped++;
			continue;
		}
		r = write_all(fd, s->buf + o, l, s->off + o, true);
		if (r)
			return r;
	}
	return 0;
}

static int exp_open(struct vsctl *v, const char *dst, bool *sparse)
{
	struct stat st;
	int fd, flags = O_WRONLY | O_CREAT | O_CLOEXEC;

	*sparse = false;
	if (!strcmp(dst, "-"))
		return 1;
	if (stat(dst, &st) == 0 && !vs_opt_bool(v, "force")) {
		vs_err("export: %s exists; give --force to overwrite it", dst);
		return -1;
	}
	if (stat(dst, &st) != 0 || S_ISREG(st.st_mode))
		flags |= O_TRUNC;
	fd = open(dst, flags, 0644);
	if (fd < 0) {
		vs_err("export: cannot open %s: %s", dst, strerror(errno));
		return -1;
	}
	*sparse = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	return fd;
}

int cmd_export(struct vsctl *v)
{
	const char *name = v->args[0], *dst = v->args[1];
	bool to_stdout = !strcmp(dst, "-"), sparse;
	struct vs_image_io io;
	struct xfer x;
	uint64_t depth, nchunks, next = 0, head = 0;
	int fd = -1, rc;

	if ((rc = depth_opt(v, 16, &depth)))
		return rc;
	if (to_stdout && isatty(1)) {
		vs_err("export: standard output is a terminal; redirect it to a file or a pipe");
		return VS_ERR;
	}
	if (vs_client_open(v, &io, name, false))
		return VS_ERR;
	rc = xfer_init(&x, v, &io, depth);
	if (!rc)
		rc = load_objs(&x, "export");
	if (!rc && (fd = exp_open(v, dst, &sparse)) < 0)
		rc = VS_ERR;
	if (rc)
		goto out;
	nchunks = (x.size + x.chunk - 1) / x.chunk;
	vs_progress_start(&x.prog, v, "export", x.size, true);
	/* chunk n lives in slot n % depth; output strictly in order */
	while (head < nchunks && !x.err) {
		struct xslot *s = &x.slots[head % x.depth];

		for (; next < nchunks && next < head + x.depth && !x.err; next++)
			exp_start(&x, &x.slots[next % x.depth], next);
		if (x.err)
			break;
		if (!s->done) {
			vstor_client_run_once(x.c, 100000000);
			continue;
		}
		rc = exp_output(&x, s, fd, sparse);
		if (rc) {
			vs_err("export: writing %s: %s", to_stdout ? "standard output" : dst,
			       strerror(-rc));
			xfer_err(&x, rc);
			break;
		}
		s->busy = false;
		x.bytes_done += s->len;
		vs_progress_update(&x.prog, x.bytes_done);
		head++;
	}
	/* let reads still in flight land before their buffers go */
	for (unsigned i = 0; i < x.depth; i++)
		while (x.slots[i].busy && !x.slots[i].done)
			vstor_client_run_once(x.c, 100000000);
	if (!x.err && sparse && ftruncate(fd, (off_t)x.size) < 0)
		xfer_err(&x, -errno);
	if (!x.err && !to_stdout && fsync(fd) < 0 && errno != EINVAL)
		xfer_err(&x, -errno);
	vs_progress_end(&x.prog);
	if (x.err) {
		if (!rc)	/* else the write error is printed */
			vs_err("export of '%s' failed: %s", name, strerror((int)-x.err));
		rc = VS_ERR;
	} else if (v->json) {
		fprintf(summary_out(to_stdout), "{\"image\":%s,\"inode\":%" PRIu64 ",\"bytes\":%"
			PRIu64 ",\"sparse_objects\":%" PRIu64 "}\n", vs_q(name), x.inode, x.size,
			x.skipped);
	} else {
		char b[32];

		fprintf(summary_out(to_stdout), "Exported image '%s' (%s) to %s\n", name,
			vs_fmt_size(x.size, b, sizeof(b)), to_stdout ? "standard output" : dst);
	}
out:
	if (fd > 1 && close(fd) < 0 && !rc) {
		vs_err("export: closing %s: %s", dst, strerror(errno));
		rc = VS_ERR;
	}
	xfer_free(&x);
	vs_client_close(&io);
	return rc;
}

/* ---- rm ---- */

struct rm_state {
	struct vstor_client *c;
	uint64_t inode, stripe;
	const uint64_t *objs;
	size_t n, next, done;
	unsigned inflight;
	uint64_t deleted;
	int64_t err;
	struct vs_progress prog;
};

static void rm_next(struct rm_state *st);

static void rm_cb(void *arg, int64_t rv, uint64_t version)
{
	struct rm_state *st = arg;

	st->inflight--;
	st->done++;
	if (rv < 0 && !st->err)
		st->err = rv;
	else if (rv >= 0)
		st->deleted++;
	vs_progress_update(&st->prog, st->done);
	rm_next(st);
}

static void rm_next(struct rm_state *st)
{
	int r;

	if (st->err || st->next >= st->n)
		return;
	/* the image goes: readonly (a snapshot) or not */
	r = vstor_delete_ext(st->c, st->inode, st->objs[st->next], st->stripe,
			     VSTOR_RW_IGNORE_READONLY, rm_cb, st);
	if (r) {
		st->err = r;
		return;
	}
	st->next++;
	st->inflight++;
}

int vs_rm_data(struct vsctl *v, const char *name, uint64_t inode, uint64_t *deleted)
{
	struct vs_image_io io;
	struct vstor_inode_list *l = NULL;
	struct rm_state st;
	uint64_t depth;
	int rc, r;

	*deleted = 0;
	if ((rc = depth_opt(v, 32, &depth)))
		return rc;
	if (vs_client_open(v, &io, NULL, false))
		return VS_ERR;
	memset(&st, 0, sizeof(st));
	st.c = io.c;
	st.inode = inode;
	st.stripe = vstor_inode_stripe_size(io.c, inode);
	if (!st.stripe) {
		vs_err("rm: pool %" PRIu64 " of image '%s' is not in config/pools; nothing can "
		       "be deleted (use --metadata-only to drop the etcd entries)", inode >> 48, name);
		rc = VS_ERR;
		goto out;
	}
	r = vstor_list_inode_sync(io.c, inode, &l);
	if (r == -ENOENT) {
		vs_err("rm: pool %" PRIu64 " has no PGs in config/pgs, so the objects of '%s' "
		       "cannot be listed; place its PGs first (vsctl pg place), or remove only "
		       "the etcd entries with --metadata-only", inode >> 48, name);
		rc = VS_ERR;
		goto out;
	}
	if (r) {
		vs_err("rm: listing the objects of '%s' failed: %s", name, strerror(-r));
		rc = VS_ERR;
		goto out;
	}
	st.objs = l->stripes;
	st.n = l->n;
	vs_progress_start(&st.prog, v, "rm", st.n, false);
	for (uint64_t i = 0; i < depth; i++)
		rm_next(&st);
	while (st.inflight)
		vstor_client_run_once(io.c, 100000000);
	if (!st.err) {
		int64_t sr = vstor_sync_sync(io.c);	/* lazy mode: make the deletes durable */

		if (sr < 0)
			st.err = sr;
	}
	vs_progress_end(&st.prog);
	*deleted = st.deleted;
	if (st.err) {
		vs_err("rm: deleting the objects of '%s' failed after %" PRIu64 " of %zu: %s%s; "
		       "the image is kept, run 'vsctl rm %s' again", name, st.deleted, st.n,
		       strerror((int)-st.err),
		       st.err == -EBUSY ? " (a PG is degraded: wait until it has recovered)" : "",
		       name);
		rc = VS_ERR;
	} else if (l->ndown && !vs_opt_bool(v, "force")) {
		struct strbuf sb;

		sb_init(&sb);
		for (size_t i = 0; i < l->ndown; i++)
			sb_printf(&sb, "%s%" PRIu64, i ? ", " : "", l->down_osds[i]);
		vs_err("rm: deleted %" PRIu64 " objects of '%s', but OSD(s) %s are down and may "
		       "hold more of its data; the image is kept: run 'vsctl rm %s' again when "
		       "they are up, or give --force to remove it anyway", st.deleted, name,
		       sb.buf, name);
		sb_free(&sb);
		rc = VS_ERR;
	}
out:
	vstor_inode_list_free(l);
	vs_client_close(&io);
	return rc;
}
