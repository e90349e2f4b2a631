/* vsctl bench: an image benchmark like 'rbd bench'. io_depth slots, each
 * with its own buffer allocated once, keep that many libvstor async ops in
 * flight; a completion records its latency (log-linear histogram) and
 * submits the slot's next op from the callback, so the loop adds nothing
 * between two ops of a slot and nothing is allocated per op. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lat_hist.h"
#include "ringloop.h"
#include "vsctl.h"

#define MAX_IO_SIZE (64ull << 20)
#define MAX_DEPTH 4096
#define MAX_BUFFERS (4ull << 30)

enum { IO_READ, IO_WRITE, IO_RW };

struct bench;

struct slot {
	struct bench *b;
	uint8_t *buf;
	uint64_t t0;
	bool is_read;
};

struct bench {
	struct vstor_client *c;
	uint64_t inode, blocks, io_size;
	int type;
	bool rand;
	unsigned mix_read;		/* percent of reads for rw */
	uint64_t max_ops, deadline_ns;	/* 0: no limit */
	uint64_t submitted, completed, seq_next, rng;
	unsigned inflight;
	bool stop;
	int64_t err;
	struct lat_hist hr, hw;
	struct slot *slots;
	unsigned depth;
};

static uint64_t rnd(struct bench *b)
{
	b->rng ^= b->rng << 13;
	b->rng ^= b->rng >> 7;
	b->rng ^= b->rng << 17;
	return b->rng;
}

static bool want_more(struct bench *b)
{
	if (b->stop)
		return false;
	if (b->max_ops && b->submitted >= b->max_ops)
		return false;
	if (b->deadline_ns && ringloop_now_ns() >= b->deadline_ns)
		return false;
	return true;
}

static void op_cb(void *arg, int64_t rv, uint64_t version);

static void slot_submit(struct slot *s)
{
	struct bench *b = s->b;
	uint64_t blk = b->rand ? rnd(b) % b->blocks : b->seq_next++ % b->blocks;
	int r;

	s->is_read = b->type == IO_READ ||
		     (b->type == IO_RW && rnd(b) % 100 < (uint64_t)b->mix_read);
	s->t0 = ringloop_now_ns();
	if (s->is_read)
		r = vstor_read(b->c, b->inode, blk * b->io_size, b->io_size, s->buf, op_cb, s);
	else
		r = vstor_write(b->c, b->inode, blk * b->io_size, b->io_size, s->buf, op_cb, s);
	if (r) {
		b->err = r;
		b->stop = true;
		return;
	}
	b->submitted++;
	b->inflight++;
}

static void op_cb(void *arg, int64_t rv, uint64_t version)
{
	struct slot *s = arg;
	struct bench *b = s->b;

	lat_hist_add(s->is_read ? &b->hr : &b->hw, ringloop_now_ns() - s->t0);
	b->inflight--;
	b->completed++;
	if (rv != (int64_t)b->io_size) {
		if (!b->err)
			b->err = rv < 0 ? rv : -EIO;
		b->stop = true;
		return;
	}
	if (want_more(b))
		slot_submit(s);
}

/* ---- arguments ---- */

static int parse_args(struct vsctl *v, struct bench *b, double *secs, uint64_t *total)
{
	const char *t = vs_opt_str(v, "io_type"), *pat = vs_opt_str(v, "io_pattern");
	const char *sec = vs_opt_str(v, "seconds");
	uint64_t depth, mix;
	char *end;

	if (!t)
		return vs_usage(v, "--io-type is required: read, write or rw");
	if (!strcmp(t, "read"))
		b->type = IO_READ;
	else if (!strcmp(t, "write"))
		b->type = IO_WRITE;
	else if (!strcmp(t, "rw") || !strcmp(t, "readwrite"))
		b->type = IO_RW;
	else
		return vs_usage(v, "--io-type: expected read, write or rw, got \"%s\"", t);
	if (pat && strcmp(pat, "rand") && strcmp(pat, "seq"))
		return vs_usage(v, "--io-pattern: expected rand or seq, got \"%s\"", pat);
	b->rand = pat && !strcmp(pat, "rand");
	b->io_size = 4096;
	if (vs_opt_set(v, "io_size") &&
	    vs_parse_size(v, "io-size", vs_opt_str(v, "io_size"), &b->io_size) < 0)
		return VS_USAGE;
	if (!b->io_size || b->io_size % 4096 || b->io_size > MAX_IO_SIZE)
		return vs_usage(v, "--io-size must be a multiple of 4 KiB from 4k to 64M");
	if (vs_opt_num(v, "io_depth", 16, &depth))
		return VS_USAGE;
	if (!depth || depth > MAX_DEPTH)
		return vs_usage(v, "--io-depth must be 1..%d", MAX_DEPTH);
	b->depth = (unsigned)depth;
	if (depth * b->io_size > MAX_BUFFERS)
		return vs_usage(v, "--io-depth x --io-size is over 4 GiB of buffers");
	if (vs_opt_num(v, "rw_mix_read", 50, &mix))
		return VS_USAGE;
	if (mix > 100)
		return vs_usage(v, "--rw-mix-read must be 0..100 (percent)");
	if (vs_opt_set(v, "rw_mix_read") && b->type != IO_RW)
		return vs_usage(v, "--rw-mix-read applies to --io-type rw only");
	b->mix_read = (unsigned)mix;
	*secs = 0;
	if (sec) {
		*secs = strtod(sec, &end);
		if (end == sec || *end || !(*secs > 0) || *secs > 86400 * 365)
			return vs_usage(v, "--seconds: expected a positive number, got \"%s\"", sec);
	}
	*total = sec ? 0 : 1ull << 30;
	if (vs_opt_set(v, "io_total") &&
	    vs_parse_size(v, "io-total", vs_opt_str(v, "io_total"), total) < 0)
		return VS_USAGE;
	if (vs_opt_set(v, "io_total") && *total < b->io_size)
		return vs_usage(v, "--io-total must be at least --io-size");
	return 0;
}

/* ---- output ---- */

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void print_text(const char *what, const struct lat_hist *h, double secs, uint64_t io_size)
{
	char b[32];
	double iops = secs > 0 ? (double)h->count / secs : 0;

	printf("%-6s ops %" PRIu64 ", %.0f IOPS, %s/s (%.2f MB/s)\n", what, h->count, iops,
	       vs_fmt_size((uint64_t)(iops * (double)io_size), b, sizeof(b)),
	       iops * (double)io_size / 1e6);
	if (!h->count)
		return;
	printf("       latency us: mean %.1f, p50 %.1f, p90 %.1f, p99 %.1f, p99.9 %.1f, "
	       "min %.1f, max %.1f\n", lat_hist_mean(h) / 1000, us(lat_hist_quantile(h, 0.5)),
	       us(lat_hist_quantile(h, 0.9)), us(lat_hist_quantile(h, 0.99)),
	       us(lat_hist_quantile(h, 0.999)), us(h->min), us(h->max));
}

static void json_stats(struct strbuf *sb, const struct lat_hist *h, double secs,
		       uint64_t io_size)
{
	double iops = secs > 0 ? (double)h->count / secs : 0;

	sb_printf(sb, "{\"ops\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"iops\":%.1f,"
		  "\"bandwidth_bytes\":%.0f,\"mbps\":%.3f,\"lat_us\":{\"mean\":%.2f,\"p50\":%.2f,"
		  "\"p90\":%.2f,\"p99\":%.2f,\"p99_9\":%.2f,\"min\":%.2f,\"max\":%.2f}}",
		  h->count, h->count * io_size, iops, iops * (double)io_size,
		  iops * (double)io_size / 1e6, lat_hist_mean(h) / 1000,
		  us(lat_hist_quantile(h, 0.5)), us(lat_hist_quantile(h, 0.9)),
		  us(lat_hist_quantile(h, 0.99)), us(lat_hist_quantile(h, 0.999)),
		  h->count ? us(h->min) : 0, us(h->max));
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

static void report(struct vsctl *v, struct bench *b, const char *name, double secs,
		   uint64_t cpu)
{
	static const char *types[] = { "read", "write", "rw" };
	struct lat_hist all;
	struct strbuf sb;

	lat_hist_init(&all);
	lat_hist_merge(&all, &b->hr);
	lat_hist_merge(&all, &b->hw);
	if (!v->json) {
		char sz[32];

		printf("bench %s: %s %s %s, depth %u, %.2f s\n", name, types[b->type],
		       b->rand ? "rand" : "seq", vs_fmt_size(b->io_size, sz, sizeof(sz)), b->depth,
		       secs);
		if (b->type == IO_RW) {
			print_text("read", &b->hr, secs, b->io_size);
			print_text("write", &b->hw, secs, b->io_size);
		}
		print_text(b->type == IO_RW ? "total" : types[b->type], &all, secs, b->io_size);
		printf("       client CPU %.1f us/op\n",
		       all.count ? (double)cpu / 1000.0 / (double)all.count : 0);
		return;
	}
	sb_init(&sb);
	sb_puts(&sb, "{\"image\":");
	sb_json_str(&sb, name);
	sb_printf(&sb, ",\"inode\":%" PRIu64 ",\"io_type\":\"%s\",\"io_pattern\":\"%s\","
		  "\"io_size\":%" PRIu64 ",\"io_depth\":%u,\"seconds\":%.3f,"
		  "\"client_cpu_us_per_op\":%.2f,", b->inode, types[b->type],
		  b->rand ? "rand" : "seq", b->io_size, b->depth, secs,
		  all.count ? (double)cpu / 1000.0 / (double)all.count : 0);
	sb_puts(&sb, "\"total\":");
	json_stats(&sb, &all, secs, b->io_size);
	sb_puts(&sb, ",\"read\":");
	json_stats(&sb, &b->hr, secs, b->io_size);
	sb_puts(&sb, ",\"write\":");
	json_stats(&sb, &b->hw, secs, b->io_size);
	sb_puts(&sb, "}");
	printf("%s\n", sb.buf);
	sb_free(&sb);
}

/* rbd-style per-second lines on a TTY */
static void tick(struct vsctl *v, struct bench *b, uint64_t t0, uint64_t *last_t,
		 uint64_t *last_ops)
{
	uint64_t now = ringloop_now_ns();
	double dt;
	char sz[32];

	if (v->json || !isatty(2) || now - *last_t < 1000000000ull)
		return;
	dt = (double)(now - *last_t) / 1e9;
	if (!*last_ops && *last_t == t0)
		fprintf(stderr, "  SEC       OPS   OPS/SEC   BYTES/SEC\n");
	fprintf(stderr, "%5.0f %9" PRIu64 " %9.0f %9s/s\n", (double)(now - t0) / 1e9,
		b->completed, (double)(b->completed - *last_ops) / dt,
		vs_fmt_size((uint64_t)((double)(b->completed - *last_ops) / dt * (double)b->io_size),
			    sz, sizeof(sz)));
	*last_t = now;
	*last_ops = b->completed;
}

int cmd_bench(struct vsctl *v)
{
	struct bench b;
	struct vs_image_io io;
	double secs = 0;
	uint64_t total = 0, t0, t1, cpu0, last_t, last_ops = 0;
	int rc;

	memset(&b, 0, sizeof(b));
	rc = parse_args(v, &b, &secs, &total);
	if (rc)
		return rc;
	if (vs_client_open(v, &io, v->args[0], b.type != IO_READ))
		return VS_ERR;
	b.c = io.c;
	b.inode = io.inode;
	b.blocks = io.size / b.io_size;
	if (!b.blocks) {
		vs_err("image '%s' (%" PRIu64 " bytes) is smaller than --io-size", v->args[0],
		       io.size);
		vs_client_close(&io);
		return VS_ERR;
	}
	b.rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() ^ ringloop_now_ns();
	b.max_ops = total ? (total + b.io_size - 1) / b.io_size : 0;
	lat_hist_init(&b.hr);
	lat_hist_init(&b.hw);
	b.slots = calloc(b.depth, sizeof(*b.slots));
	rc = b.slots ? VS_OK : VS_ERR;
	for (unsigned i = 0; rc == VS_OK && i < b.depth; i++) {
		b.slots[i].b = &b;
		if (posix_memalign((void **)&b.slots[i].buf, 4096, b.io_size)) {
			rc = VS_ERR;
			break;
		}
		for (uint64_t k = 0; k < b.io_size; k += 8) {
			uint64_t x = rnd(&b);

			memcpy(b.slots[i].buf + k, &x, 8);
		}
	}
	if (rc) {
		vs_err("out of memory for %u buffers of %" PRIu64 " bytes", b.depth, b.io_size);
		goto out;
	}
	cpu0 = cpu_ns();
	t0 = last_t = ringloop_now_ns();
	if (secs > 0)
		b.deadline_ns = t0 + (uint64_t)(secs * 1e9);
	for (unsigned i = 0; i < b.depth && want_more(&b); i++)
		slot_submit(&b.slots[i]);
	while (b.inflight) {
		vstor_client_run_once(b.c, 100000000);
		tick(v, &b, t0, &last_t, &last_ops);
	}
	t1 = ringloop_now_ns();
	/* lazy mode: leave the written data durable (not timed) */
	if (!b.err && b.type != IO_READ) {
		int64_t r = vstor_sync_sync(b.c);

		if (r < 0)
			b.err = r;
	}
	if (b.err) {
		vs_err("bench: an I/O failed: %s", strerror((int)-b.err));
		rc = VS_ERR;
		goto out;
	}
	report(v, &b, v->args[0], (double)(t1 - t0) / 1e9, cpu_ns() - cpu0);
out:
	for (unsigned i = 0; b.slots && i < b.depth; i++)
		free(b.slots[i].buf);
	free(b.slots);
	vs_client_close(&io);
	return rc;
}
