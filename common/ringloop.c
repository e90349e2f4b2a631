/* Single-threaded io_uring event loop; see ringloop.h. */
#include "ringloop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct ringloop {
	struct io_uring ring;
	unsigned flags;
	struct ringloop_defer *def_head, *def_tail;
	struct ringloop_defer *pre_head, *pre_tail;
	struct ringloop_timer **heap;
	size_t nheap, capheap;
	struct ringloop_stats st;
	int efd;			/* ringloop_event_fd(), or -1 */
	unsigned quiet;			/* ringloop_sqe_quiet() since the last wait */
};

#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

struct ringloop *ringloop_create(unsigned entries)
{
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	struct ringloop *rl = calloc(1, sizeof(*rl));
	int r = -EINVAL;

	if (!rl)
		return NULL;
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		struct io_uring_params p;

		memset(&p, 0, sizeof(p));
		p.flags = tries[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = entries * 4;
		r = io_uring_queue_init_params(entries, &rl->ring, &p);
		if (r == 0) {
			rl->flags = tries[i];
			break;
		}
		if (r != -EINVAL)
			break;
	}
	if (r) {
		free(rl);
		errno = -r;
		return NULL;
	}
	(void)io_uring_register_ring_fd(&rl->ring);
	rl->efd = -1;
	return rl;
}

void ringloop_destroy(struct ringloop *rl)
{
	if (!rl)
		return;
	io_uring_queue_exit(&rl->ring);
	if (rl->efd >= 0)
		close(rl->efd);
	free(rl->heap);
	free(rl);
}

struct io_uring *ringloop_ring(struct ringloop *rl)
{
	return &rl->ring;
}

unsigned ringloop_setup_flags(struct ringloop *rl)
{
	return rl->flags;
}

struct io_uring_sqe *ringloop_get_sqe(struct ringloop *rl)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&rl->ring);

	for (int i = 0; !sqe && i < 100; i++) {
		int r = io_uring_submit(&rl->ring);

		rl->st.enters++;
		if (r < 0 && r != -EAGAIN && r != -EBUSY && r != -EINTR)
			return NULL;
		sqe = io_uring_get_sqe(&rl->ring);
	}
	return sqe;
}

void ringloop_sqe_quiet(struct ringloop *rl)
{
	rl->quiet++;
}

static void dlist_push(struct ringloop_defer **head, struct ringloop_defer **tail,
		       struct ringloop_defer *d)
{
	if (d->queued)
		return;
	d->queued = true;
	d->next = NULL;
	if (*tail)
		(*tail)->next = d;
	else
		*head = d;
	*tail = d;
}

void ringloop_defer(struct ringloop *rl, struct ringloop_defer *d)
{
	dlist_push(&rl->def_head, &rl->def_tail, d);
}

void ringloop_prewait(struct ringloop *rl, struct ringloop_defer *d)
{
	dlist_push(&rl->pre_head, &rl->pre_tail, d);
}

static bool dlist_del(struct ringloop_defer **head, struct ringloop_defer **tail,
		      struct ringloop_defer *d)
{
	struct ringloop_defer *prev = NULL;

	for (struct ringloop_defer *p = *head; p; prev = p, p = p->next) {
		if (p != d)
			continue;
		if (prev)
			prev->next = p->next;
		else
			*head = p->next;
		if (*tail == p)
			*tail = prev;
		d->queued = false;
		return true;
	}
	return false;
}

void ringloop_defer_cancel(struct ringloop *rl, struct ringloop_defer *d)
{
	if (d->queued && !dlist_del(&rl->def_head, &rl->def_tail, d))
		dlist_del(&rl->pre_head, &rl->pre_tail, d);
}

uint64_t ringloop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Binary min-heap on deadline_ns. */
static void heap_swap(struct ringloop *rl, size_t a, size_t b)
{
	struct ringloop_timer *t = rl->heap[a];

	rl->heap[a] = rl->heap[b];
	rl->heap[b] = t;
	rl->heap[a]->heap_idx = a;
	rl->heap[b]->heap_idx = b;
}

static void heap_up(struct ringloop *rl, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (rl->heap[p]->deadline_ns <= rl->heap[i]->deadline_ns)
			break;
		heap_swap(rl, p, i);
		i = p;
	}
}

static void heap_down(struct ringloop *rl, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < rl->nheap && rl->heap[l]->deadline_ns < rl->heap[m]->deadline_ns)
			m = l;
		if (r < rl->nheap && rl->heap[r]->deadline_ns < rl->heap[m]->deadline_ns)
			m = r;
		if (m == i)
			return;
		heap_swap(rl, i, m);
		i = m;
	}
}

void ringloop_timer_del(struct ringloop *rl, struct ringloop_timer *t)
{
	size_t i = t->heap_idx;

	if (i == SIZE_MAX || i >= rl->nheap || rl->heap[i] != t)
		return;
	t->heap_idx = SIZE_MAX;
	rl->nheap--;
	if (i == rl->nheap)
		return;
	rl->heap[i] = rl->heap[rl->nheap];
	rl->heap[i]->heap_idx = i;
	heap_up(rl, i);
	heap_down(rl, rl->heap[i]->heap_idx);
}

int ringloop_timer_add(struct ringloop *rl, struct ringloop_timer *t, uint64_t deadline_ns)
{
	ringloop_timer_del(rl, t);
	if (rl->nheap == rl->capheap) {
		size_t n = rl->capheap ? rl->capheap * 2 : 16;
		struct ringloop_timer **h = realloc(rl->heap, n * sizeof(*h));

		if (!h)
			return -ENOMEM;
		rl->heap = h;
		rl->capheap = n;
	}
	t->deadline_ns = deadline_ns;
	t->heap_idx = rl->nheap;
	rl->heap[rl->nheap++] = t;
	heap_up(rl, t->heap_idx);
	return 0;
}

/* Runs the callbacks of a list queued before this point; callbacks that
 * queue more run on the next iteration. */
static int run_list(struct ringloop_defer **head, struct ringloop_defer **tail)
{
	struct ringloop_defer *d = *head;
	int n = 0;

	*head = *tail = NULL;
	while (d) {
		struct ringloop_defer *next = d->next;

		d->queued = false;
		d->next = NULL;
		d->cb(d);
		n++;
		d = next;
	}
	return n;
}

/* Deferred callbacks queued by earlier ones in the same call run too (a
 * bounded number of rounds, so a callback that keeps re-queueing itself
 * cannot starve the ring), then the due timers. */
static int run_deferred_and_timers(struct ringloop *rl)
{
	int n = 0;

	for (int round = 0; rl->def_head && round < 8; round++)
		n += run_list(&rl->def_head, &rl->def_tail);
	if (rl->nheap) {
		uint64_t now = ringloop_now_ns();

		while (rl->nheap && rl->heap[0]->deadline_ns <= now) {
			struct ringloop_timer *t = rl->heap[0];

			ringloop_timer_del(rl, t);
			t->cb(t);
			n++;
		}
	}
	return n;
}

/* Callbacks run only after this call's one enter, never before it: a
 * callback may change what the caller's loop waits for, and the caller
 * sees that before the next call can block. What they submit goes out
 * with the next call's wait, in the same io_uring_enter. */
int ringloop_run_once(struct ringloop *rl, int64_t timeout_ns)
{
	struct io_uring_cqe *cqe = NULL;
	struct __kernel_timespec ts, *tsp = NULL;
	int64_t wait = timeout_ns;
	unsigned head, seen = 0;
	int r;

	rl->st.iterations++;
	run_list(&rl->pre_head, &rl->pre_tail);
	/* runnable work (queued by the caller, or beyond the rounds of the
	 * last call): do not block */
	if (rl->def_head || rl->pre_head)
		wait = 0;
	if (rl->nheap && wait != 0) {
		uint64_t now = ringloop_now_ns();
		int64_t till = rl->heap[0]->deadline_ns > now ?
			(int64_t)(rl->heap[0]->deadline_ns - now) : 0;

		if (wait < 0 || till < wait)
			wait = till;
	}
	if (wait >= 0) {
		ts.tv_sec = wait / 1000000000;
		ts.tv_nsec = wait % 1000000000;
		tsp = &ts;
	}
	rl->st.enters++;
	/* The kernel counts the CQEs posted since our last reap, those of
	 * SQEs completed during this submit included. A quiet CQE that
	 * comes late only makes a later wait return early. */
	r = io_uring_submit_and_wait_timeout(&rl->ring, &cqe, 1 + rl->quiet, tsp, NULL);
	rl->quiet = 0;
	if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
		return r;
	io_uring_for_each_cqe(&rl->ring, head, cqe) {
		struct ringloop_op *op = io_uring_cqe_get_data(cqe);

		seen++;
		if (op && op->cb)
			op->cb(op, cqe->res, cqe->flags);
	}
	if (seen)
		io_uring_cq_advance(&rl->ring, seen);
	rl->st.cqes += seen;
	if (rl->efd >= 0) {
		uint64_t v;

		/* After the enter, so what it signalled itself does not wake the
		 * caller again; what arrives from now on signals anew, and what
		 * arrived in between shows in ringloop_timeout_ns() (the kernel
		 * raises the CQ tail or IORING_SQ_TASKRUN before it signals). */
		while (read(rl->efd, &v, sizeof(v)) < 0 && errno == EINTR)
			;
	}
	return run_deferred_and_timers(rl) + (int)seen;
}

int ringloop_event_fd(struct ringloop *rl)
{
	int fd, r;

	if (rl->efd >= 0)
		return rl->efd;
	if ((rl->flags & IORING_SETUP_COOP_TASKRUN) && !(rl->flags & IORING_SETUP_DEFER_TASKRUN))
		return -EOPNOTSUPP;
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = io_uring_register_eventfd(&rl->ring, fd);
	if (r < 0) {
		close(fd);
		return r;
	}
	rl->efd = fd;
	return fd;
}

int64_t ringloop_timeout_ns(struct ringloop *rl)
{
	uint64_t now;

	if (rl->def_head || rl->pre_head || io_uring_sq_ready(&rl->ring) ||
	    io_uring_cq_ready(&rl->ring) ||
	    (IO_URING_READ_ONCE(*rl->ring.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)))
		return 0;
	if (!rl->nheap)
		return -1;
	now = ringloop_now_ns();
	return rl->heap[0]->deadline_ns > now ? (int64_t)(rl->heap[0]->deadline_ns - now) : 0;
}

void ringloop_get_stats(struct ringloop *rl, struct ringloop_stats *st)
{
	*st = rl->st;
}
