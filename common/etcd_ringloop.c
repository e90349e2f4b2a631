/* etcd client <-> ringloop glue; see etcd_ringloop.h. */
#include "etcd_ringloop.h"
#include "log.h"

#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct pollreq {
	struct ringloop_op rop;
	struct etcd_ringloop *g;
	int fd;
	uint32_t gen;
	bool stale;
	struct pollreq *prev, *next;	/* all in flight */
};

struct fdslot {
	int fd;				/* -1: free slot */
	int events;
	uint32_t gen;
	struct pollreq *cur;		/* the live poll, if any */
};

struct etcd_ringloop {
	struct ringloop *rl;
	struct etcd_client *ec;
	struct fdslot *slots;
	size_t nslots;
	uint32_t gen_ctr;
	struct pollreq *reqs;
	struct ringloop_timer timer;
	bool closing, failed;
};

static void noop_cb(struct ringloop_op *op, int res, uint32_t flags)
{
}

/* Static: POLL_REMOVE completions may outlive the glue. */
static struct ringloop_op noop_rop = { .cb = noop_cb };

static struct fdslot *slot_find(struct etcd_ringloop *g, int fd)
{
	for (size_t i = 0; i < g->nslots; i++)
		if (g->slots[i].fd == fd)
			return &g->slots[i];
	return NULL;
}

static struct fdslot *slot_get(struct etcd_ringloop *g, int fd)
{
	struct fdslot *s = slot_find(g, fd), *n;

	if (s)
		return s;
	s = slot_find(g, -1);
	if (!s) {
		n = realloc(g->slots, (g->nslots + 1) * sizeof(*n));
		if (!n)
			return NULL;
		g->slots = n;
		s = &g->slots[g->nslots++];
	}
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	return s;
}

static void poll_cb(struct ringloop_op *op, int res, uint32_t flags);

static void poll_arm(struct etcd_ringloop *g, struct fdslot *s)
{
	struct pollreq *r = calloc(1, sizeof(*r));
	struct io_uring_sqe *sqe;
	unsigned mask = 0;

	if (!r) {
		log_err("etcd: out of memory arming a poll");
		g->failed = true;
		return;
	}
	r->rop.cb = poll_cb;
	r->g = g;
	r->fd = s->fd;
	r->gen = s->gen;
	r->next = g->reqs;
	if (g->reqs)
		g->reqs->prev = r;
	g->reqs = r;
	if (s->events & ETCD_POLL_IN)
		mask |= POLLIN;
	if (s->events & ETCD_POLL_OUT)
		mask |= POLLOUT;
	sqe = ringloop_get_sqe(g->rl);
	io_uring_prep_poll_add(sqe, s->fd, mask);
	ringloop_sqe_set_op(sqe, &r->rop);
	s->cur = r;
}

static void poll_cancel_req(struct etcd_ringloop *g, struct pollreq *r)
{
	struct io_uring_sqe *sqe;

	if (r->stale)
		return;
	r->stale = true;
	sqe = ringloop_get_sqe(g->rl);
	io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)&r->rop);
	ringloop_sqe_set_op(sqe, &noop_rop);
}

static void poll_cancel(struct etcd_ringloop *g, struct fdslot *s)
{
	if (s->cur) {
		poll_cancel_req(g, s->cur);
		s->cur = NULL;
	}
}

static void poll_cb(struct ringloop_op *op, int res, uint32_t flags)
{
	struct pollreq *r = (struct pollreq *)(void *)op;
	struct etcd_ringloop *g = r->g;
	bool stale = r->stale;
	int fd = r->fd, revents = 0;
	uint32_t gen = r->gen;
	struct fdslot *s;

	if (r->prev)
		r->prev->next = r->next;
	else
		g->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	free(r);
	if (stale || g->closing)
		return;
	s = slot_find(g, fd);
	if (!s || s->gen != gen)
		return;
	s->cur = NULL;
	if (res < 0) {
		revents = ETCD_POLL_ERR;
	} else {
		if (res & POLLIN)
			revents |= ETCD_POLL_IN;
		if (res & POLLOUT)
			revents |= ETCD_POLL_OUT;
		if (res & (POLLERR | POLLHUP | POLLNVAL))
			revents |= ETCD_POLL_ERR;
	}
	if (g->ec)
		etcd_on_fd(g->ec, fd, revents);
	/* The client may have changed the events (new poll armed already) or
	 * dropped the fd meanwhile; else poll again for the same events. */
	s = slot_find(g, fd);
	if (s && s->gen == gen && !s->cur && s->events && !g->closing)
		poll_arm(g, s);
}

static void hook_watch_fd(void *ctx, int fd, int events)
{
	struct etcd_ringloop *g = ctx;
	struct fdslot *s;

	if (events & ETCD_POLL_REMOVE) {
		s = slot_find(g, fd);
		if (s) {
			poll_cancel(g, s);
			s->fd = -1;
		}
		return;
	}
	s = slot_get(g, fd);
	if (!s) {
		log_err("etcd: out of memory watching a socket");
		g->failed = true;
		return;
	}
	if (s->events == events && s->cur)
		return;
	poll_cancel(g, s);
	s->events = events;
	s->gen = ++g->gen_ctr;
	if (events)
		poll_arm(g, s);
}

static void timer_cb(struct ringloop_timer *t)
{
	struct etcd_ringloop *g = (struct etcd_ringloop *)(void *)((char *)t -
		offsetof(struct etcd_ringloop, timer));

	if (g->ec && !g->closing)
		etcd_on_timer(g->ec);
}

static void hook_set_timer(void *ctx, int timeout_ms)
{
	struct etcd_ringloop *g = ctx;

	ringloop_timer_del(g->rl, &g->timer);
	if (timeout_ms >= 0 && ringloop_timer_add(g->rl, &g->timer,
			ringloop_now_ns() + (uint64_t)timeout_ms * 1000000ull))
		g->failed = true;
}

struct etcd_ringloop *etcd_ringloop_new(struct ringloop *rl)
{
	struct etcd_ringloop *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->rl = rl;
	ringloop_timer_init(&g->timer, timer_cb);
	return g;
}

void etcd_ringloop_loop(struct etcd_ringloop *g, struct etcd_loop *loop)
{
	loop->watch_fd = hook_watch_fd;
	loop->set_timer = hook_set_timer;
	loop->ctx = g;
}

void etcd_ringloop_attach(struct etcd_ringloop *g, struct etcd_client *c)
{
	g->ec = c;
}

bool etcd_ringloop_failed(const struct etcd_ringloop *g)
{
	return g->failed;
}

void etcd_ringloop_free(struct etcd_ringloop *g)
{
	uint64_t deadline;

	if (!g)
		return;
	g->closing = true;
	g->ec = NULL;
	ringloop_timer_del(g->rl, &g->timer);
	/* Withdraw the polls still in flight and collect their completions. */
	for (struct pollreq *r = g->reqs; r; r = r->next)
		poll_cancel_req(g, r);
	deadline = ringloop_now_ns() + 1000000000ull;
	while (g->reqs && ringloop_now_ns() < deadline)
		ringloop_run_once(g->rl, 10000000);
	while (g->reqs) {
		struct pollreq *r = g->reqs;

		g->reqs = r->next;
		free(r);
	}
	free(g->slots);
	free(g);
}
