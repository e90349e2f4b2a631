/* In-memory backend with an optional volatile write cache model. */
#include "bs_backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SECT 4096u

struct mem_dev {
	uint8_t *cur, *dur;
	uint8_t *dirty; /* one byte per sector: 1 = not durable */
	uint64_t size;
};

struct mem_be {
	struct bs_backend be;
	struct mem_dev dev[BS_NSLOTS];
	bool volatile_cache, crashed, late_writes;
	struct bs_io *pending; /* queued completions (doubly linked) */
	uint64_t crash_at, nios;
};

static struct mem_be *M(struct bs_backend *be)
{
	return (struct mem_be *)be;
}

enum { K_NONE, K_DSYNC, K_FLUSH };

static void persist_range(struct mem_dev *d, uint64_t off, size_t len);

static void apply_write(struct mem_be *m, struct mem_dev *d, uint64_t off, const void *buf, size_t len)
{
	memcpy(d->cur + off, buf, len);
	if (m->volatile_cache)
		memset(d->dirty + off / SECT, 1, len / SECT);
	else
		memcpy(d->dur + off, buf, len);
}

static void deliver(struct ringloop_defer *d)
{
	struct bs_io *io = (struct bs_io *)(void *)((char *)d - offsetof(struct bs_io, d));
	struct mem_be *m = io->be;

	if (io->prev)
		io->prev->next = io->next;
	else
		m->pending = io->next;
	if (io->next)
		io->next->prev = io->prev;
	io->next = io->prev = NULL;
	if (m->crashed)
		return;
	if (io->wbuf) {
		apply_write(m, &m->dev[io->bdev], io->boff, io->wbuf, io->blen);
		io->wbuf = NULL;
	}
	if (io->bkind == K_DSYNC) {
		persist_range(&m->dev[io->bdev], io->boff, io->blen);
	} else if (io->bkind == K_FLUSH) {
		struct mem_dev *dv = &m->dev[io->bdev];

		persist_range(dv, 0, dv->size);
	}
	io->cb(io, io->res);
}

static bool count_io(struct mem_be *m)
{
	if (m->crashed)
		return false;
	m->nios++;
	if (m->crash_at && m->nios >= m->crash_at) {
		m->crashed = true;
		return false;
	}
	return true;
}

static void queue(struct mem_be *m, struct bs_io *io, int res)
{
	io->res = res;
	io->be = m;
	io->d.cb = deliver;
	io->bkind = K_NONE;
	io->wbuf = NULL;
	io->prev = NULL;
	io->next = m->pending;
	if (m->pending)
		m->pending->prev = io;
	m->pending = io;
	ringloop_defer(m->be.rl, &io->d);
}

static struct mem_dev *dev_of(struct mem_be *m, int slot)
{
	return &m->dev[m->be.phys[slot]];
}

static void persist_range(struct mem_dev *d, uint64_t off, size_t len)
{
	for (uint64_t s = off / SECT; s < (off + len + SECT - 1) / SECT; s++) {
		if (d->dirty[s]) {
			memcpy(d->dur + s * SECT, d->cur + s * SECT, SECT);
			d->dirty[s] = 0;
		}
	}
}

static void m_read(struct bs_backend *be, int slot, void *buf, size_t len, uint64_t off, struct bs_io *io)
{
	struct mem_be *m = M(be);
	struct mem_dev *d = dev_of(m, slot);

	if (!count_io(m))
		return;
	if (off > d->size || len > d->size - off) {
		queue(m, io, -EIO);
		return;
	}
	memcpy(buf, d->cur + off, len);
	queue(m, io, (int)len);
}

static void m_write(struct bs_backend *be, int slot, const void *buf, size_t len, uint64_t off,
	bool dsync, struct bs_io *io)
{
	struct mem_be *m = M(be);
	struct mem_dev *d = dev_of(m, slot);

	if (!count_io(m))
		return;
	if (off > d->size || len > d->size - off || (off % SECT) || (len % SECT)) {
		queue(m, io, -EIO);
		return;
	}
	if (!m->late_writes)
		apply_write(m, d, off, buf, len);
	queue(m, io, (int)len);
	io->bdev = (uint8_t)be->phys[slot];
	io->boff = off;
	io->blen = (uint32_t)len;
	if (m->late_writes)
		io->wbuf = buf;
	if (dsync)	/* durable when the completion is delivered */
		io->bkind = K_DSYNC;
}

static void m_flush(struct bs_backend *be, int slot, struct bs_io *io)
{
	struct mem_be *m = M(be);

	if (!count_io(m))
		return;
	queue(m, io, 0);
	io->bkind = K_FLUSH;
	io->bdev = (uint8_t)be->phys[slot];
}

static void m_destroy(struct bs_backend *be)
{
	struct mem_be *m = M(be);

	for (struct bs_io *io = m->pending; io; io = io->next)
		ringloop_defer_cancel(be->rl, &io->d);
	for (int i = 0; i < BS_NSLOTS; i++) {
		free(m->dev[i].cur);
		free(m->dev[i].dur);
		free(m->dev[i].dirty);
	}
	free(m);
}

static const struct bs_backend_ops mem_ops = {
	.read = m_read, .write = m_write, .flush = m_flush, .destroy = m_destroy,
};

struct bs_backend *bs_backend_mem_create(struct ringloop *rl, const uint64_t sizes[BS_NSLOTS])
{
	struct mem_be *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->be.ops = &mem_ops;
	m->be.rl = rl;
	for (int i = 0; i < BS_NSLOTS; i++) {
		uint64_t sz = sizes[i];

		if (i > 0 && !sz) {
			m->be.phys[i] = 0;
			m->be.size[i] = m->be.size[0];
			continue;
		}
		sz &= ~(uint64_t)(SECT - 1);
		m->be.phys[i] = i;
		m->be.size[i] = sz;
		m->dev[i].size = sz;
		m->dev[i].cur = calloc(1, sz);
		m->dev[i].dur = calloc(1, sz);
		m->dev[i].dirty = calloc(1, sz / SECT + 1);
		if (!m->dev[i].cur || !m->dev[i].dur || !m->dev[i].dirty) {
			m_destroy(&m->be);
			return NULL;
		}
	}
	return &m->be;
}

uint8_t *bs_mem_image(struct bs_backend *be, int slot, bool durable)
{
	struct mem_dev *d = dev_of(M(be), slot);

	return durable ? d->dur : d->cur;
}

void bs_mem_set_volatile(struct bs_backend *be, bool on)
{
	M(be)->volatile_cache = on;
}

void bs_mem_set_late_writes(struct bs_backend *be, bool on)
{
	M(be)->late_writes = on;
}

void bs_mem_crash_after(struct bs_backend *be, uint64_t nios)
{
	M(be)->crash_at = nios ? M(be)->nios + nios : 0;
}

bool bs_mem_crashed(struct bs_backend *be)
{
	return M(be)->crashed;
}

uint64_t bs_mem_io_count(struct bs_backend *be)
{
	return M(be)->nios;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

void bs_mem_power_loss(struct bs_backend *be, uint64_t seed)
{
	struct mem_be *m = M(be);
	uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;

	m->crashed = true;
	for (int i = 0; i < BS_NSLOTS; i++) {
		struct mem_dev *d = &m->dev[i];

		if (!d->cur)
			continue;
		for (uint64_t k = 0; k < d->size / SECT; k++) {
			if (!d->dirty[k])
				continue;
			if (rnd(&s) & 1)
				memcpy(d->dur + k * SECT, d->cur + k * SECT, SECT);
			d->dirty[k] = 0;
		}
	}
}

struct bs_backend *bs_backend_mem_clone_durable(struct ringloop *rl, struct bs_backend *old)
{
	struct mem_be *o = M(old);
	uint64_t sizes[BS_NSLOTS];
	struct bs_backend *nb;

	for (int i = 0; i < BS_NSLOTS; i++)
		sizes[i] = o->be.phys[i] == i ? o->dev[i].size : 0;
	nb = bs_backend_mem_create(rl, sizes);
	if (!nb)
		return NULL;
	for (int i = 0; i < BS_NSLOTS; i++) {
		if (!o->dev[i].cur)
			continue;
		memcpy(M(nb)->dev[i].cur, o->dev[i].dur, o->dev[i].size);
		memcpy(M(nb)->dev[i].dur, o->dev[i].dur, o->dev[i].size);
	}
	return nb;
}
