/* vsctl: the data-path helpers of bench, import, export and rm: a libvstor
 * client with the image looked up, and the progress bar. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringloop.h"
#include "vsctl.h"

#define READY_TIMEOUT_MS 20000

int vs_client_open(struct vsctl *v, struct vs_image_io *io, const char *name, bool for_write)
{
	char err[512];
	int r;

	memset(io, 0, sizeof(*io));
	if (!cfg_strv(v->cfg, "etcd_address", NULL)[0]) {
		vs_err("no etcd_address: give --etcd_address HOST:PORT or set it in %s",
		       cfg_str(v->cfg, "config_path") ? cfg_str(v->cfg, "config_path")
						      : "/etc/vitastor/vitastor.conf");
		return VS_ERR;
	}
	io->c = vstor_client_create_cfg(v->cfg, NULL, err, sizeof(err));
	if (!io->c) {
		vs_err("cannot start the client: %s", err);
		return VS_ERR;
	}
	if (vstor_client_wait_ready(io->c, READY_TIMEOUT_MS)) {
		vs_err("could not load the cluster state from etcd within %d s (check "
		       "--etcd_address and that etcd is running)", READY_TIMEOUT_MS / 1000);
		goto fail;
	}
	if (!name)
		return VS_OK;
	r = vstor_image_lookup(io->c, name, &io->inode, &io->size, &io->readonly);
	if (r) {
		vs_err("image '%s' does not exist (see 'vsctl ls')", name);
		goto fail;
	}
	if (for_write && io->readonly) {
		vs_err("image '%s' is readonly (clear it with 'vsctl modify %s --readwrite')", name,
		       name);
		goto fail;
	}
	return VS_OK;
fail:
	vstor_client_destroy(io->c);
	io->c = NULL;
	return VS_ERR;
}

void vs_client_close(struct vs_image_io *io)
{
	if (io->c)
		vstor_client_destroy(io->c);
	io->c = NULL;
}

/* ---- progress bar ---- */

#define BAR 30

void vs_progress_start(struct vs_progress *p, const struct vsctl *v, const char *what,
		       uint64_t total, bool bytes)
{
	memset(p, 0, sizeof(*p));
	p->on = !v->json && isatty(2);
	p->what = what;
	p->total = total;
	p->bytes = bytes;
	p->t0 = ringloop_now_ns();
}

static void draw(struct vs_progress *p, uint64_t now)
{
	double secs = (double)(now - p->t0) / 1e9, frac, rate;
	char b1[32], b2[32], b3[32], eta[32] = "";
	int fill;

	frac = p->total ? (double)p->done / (double)p->total : 1;
	if (frac > 1)
		frac = 1;
	fill = (int)(frac * BAR);
	rate = secs > 0 ? (double)p->done / secs : 0;
	if (rate > 0 && p->done < p->total)
		snprintf(eta, sizeof(eta), " ETA %.0f s", (double)(p->total - p->done) / rate);
	if (!p->total)		/* size unknown (a pipe) */
		fprintf(stderr, "\r%s %s, %s/s\033[K", p->what, vs_fmt_size(p->done, b1, sizeof(b1)),
			vs_fmt_size((uint64_t)rate, b3, sizeof(b3)));
	else if (p->bytes)
		fprintf(stderr, "\r%s [%.*s%*s] %3.0f%% %s / %s, %s/s%s\033[K", p->what, fill,
			"==============================", BAR - fill, "", frac * 100,
			vs_fmt_size(p->done, b1, sizeof(b1)), vs_fmt_size(p->total, b2, sizeof(b2)),
			vs_fmt_size((uint64_t)rate, b3, sizeof(b3)), eta);
	else
		fprintf(stderr, "\r%s [%.*s%*s] %3.0f%% %" PRIu64 " / %" PRIu64 ", %.0f/s%s\033[K",
			p->what, fill, "==============================", BAR - fill, "",
			frac * 100, p->done, p->total, rate, eta);
	p->drawn = true;
}

void vs_progress_update(struct vs_progress *p, uint64_t done)
{
	uint64_t now;

	p->done = done;
	if (!p->on)
		return;
	now = ringloop_now_ns();
	if (now - p->last < 200000000ull && p->drawn)
		return;
	p->last = now;
	draw(p, now);
}

void vs_progress_end(struct vs_progress *p)
{
	if (!p->on)
		return;
	draw(p, ringloop_now_ns());
	fputc('\n', stderr);
}
