/* Single-threaded io_uring event loop shared by every vstor daemon.
 *
 * One ring, run to completion. Every SQE's user_data is a pointer to a
 * caller-owned struct ringloop_op whose callback receives the CQE result, so
 * no allocation happens per operation. Per iteration ringloop_run_once():
 *   1. runs the prewait callbacks (flushes that only prepare SQEs),
 *   2. submits everything prepared and waits (one io_uring_enter) with a
 *      timeout of 0 when deferred callbacks are queued, else the nearest
 *      timer or the caller's timeout,
 *   3. reaps all available CQEs in one batch and dispatches them,
 *   4. runs the deferred callbacks (also those the CQE callbacks queued)
 *      and the due timers.
 * So no callback runs before the wait of the same call (the caller's loop
 * sees what they changed before it can block again), and what the CQE and
 * deferred callbacks submit goes out with the next wait: one
 * io_uring_enter per wake-up.
 */
#ifndef VSTOR_RINGLOOP_H
#define VSTOR_RINGLOOP_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ringloop;

/* The struct that embeds member at p: callbacks get their ringloop_op,
 * timer or defer and find their owner. */
#ifndef container_of
#define container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))
#endif

/* Put a pointer to this (embedded in your own struct) into user_data. */
struct ringloop_op {
	void (*cb)(struct ringloop_op *op, int res, uint32_t cqe_flags);
};

/* "Run on the next iteration": embed, set cb, call ringloop_defer(). */
struct ringloop_defer {
	void (*cb)(struct ringloop_defer *d);
	struct ringloop_defer *next;
	bool queued;
};

/* One-shot timer; re-add from the callback for periodic timers. */
struct ringloop_timer {
	void (*cb)(struct ringloop_timer *t);
	uint64_t deadline_ns; /* CLOCK_MONOTONIC */
	size_t heap_idx;      /* internal; SIZE_MAX when not armed */
};

/* Creates a ring with SINGLE_ISSUER|DEFER_TASKRUN|COOP_TASKRUN|TASKRUN_FLAG,
 * retrying with fewer flags on -EINVAL. Returns NULL and sets errno. */
struct ringloop *ringloop_create(unsigned entries);
void ringloop_destroy(struct ringloop *rl);
struct io_uring *ringloop_ring(struct ringloop *rl);
/* Setup flags that were accepted. */
unsigned ringloop_setup_flags(struct ringloop *rl);

/* Returns a free SQE, submitting the queue first when it is full. Never
 * returns NULL unless the ring is broken. */
struct io_uring_sqe *ringloop_get_sqe(struct ringloop *rl);
static inline void ringloop_sqe_set_op(struct io_uring_sqe *sqe, struct ringloop_op *op)
{
	io_uring_sqe_set_data(sqe, op);
}

/* Marks the SQE just prepared as one whose CQE needs no prompt handling
 * and that usually completes at once, during the submit (a sendmsg to a
 * socket with room): the next wait then waits for one CQE more, so it
 * does not return just for that CQE and go straight into another enter.
 * Only for SQEs nothing else waits behind: prepare them in a prewait
 * callback (nothing runs between it and the wait), and not when their
 * completion lets more work start (a queued rest, a paused receive). */
void ringloop_sqe_quiet(struct ringloop *rl);

void ringloop_defer(struct ringloop *rl, struct ringloop_defer *d);
/* "Run right before the next wait": for flushes that only submit I/O, e.g. one
 * sendmsg per connection for everything queued in the iteration. Unlike a
 * deferred callback, running one does not make the iteration skip its
 * wait. */
void ringloop_prewait(struct ringloop *rl, struct ringloop_defer *d);
/* Removes a queued deferred or prewait callback (no-op if not queued). */
void ringloop_defer_cancel(struct ringloop *rl, struct ringloop_defer *d);

uint64_t ringloop_now_ns(void);
/* Arms (or re-arms) t at absolute deadline_ns. Returns 0 or -ENOMEM. */
int ringloop_timer_add(struct ringloop *rl, struct ringloop_timer *t, uint64_t deadline_ns);
void ringloop_timer_del(struct ringloop *rl, struct ringloop_timer *t);
static inline void ringloop_timer_init(struct ringloop_timer *t, void (*cb)(struct ringloop_timer *))
{
	t->cb = cb;
	t->deadline_ns = 0;
	t->heap_idx = SIZE_MAX;
}

/* One iteration. timeout_ns < 0: wait until something happens (a CQE, a
 * timer); 0: do not block. Returns the number of callbacks run (CQEs,
 * deferred, timers) or a negative errno from io_uring_enter. */
int ringloop_run_once(struct ringloop *rl, int64_t timeout_ns);

/* Driving the loop from someone else's poll/epoll loop.
 *
 * ringloop_event_fd() returns an eventfd registered with the ring (made on
 * the first call) that becomes readable when completions or deferred task
 * work are pending: watch it for POLLIN. ringloop_timeout_ns() says how
 * long the caller may sleep before calling ringloop_run_once(rl, 0): 0 =
 * now (deferred callbacks, unsubmitted SQEs, completions or task work
 * pending, a timer due), -1 = until the fd is readable, else until the
 * nearest timer. Ask it again after every ringloop_run_once() and after
 * anything that may queue work (submitting I/O, arming timers). A
 * readable fd with nothing to do is harmless (one empty iteration).
 * -EOPNOTSUPP for a ring with COOP_TASKRUN but not DEFER_TASKRUN (kernels
 * before 6.1): its task work would not wake a sleeping poller. */
int ringloop_event_fd(struct ringloop *rl);
int64_t ringloop_timeout_ns(struct ringloop *rl);

/* Counters for measurements. */
struct ringloop_stats {
	uint64_t enters, cqes, iterations;
};
void ringloop_get_stats(struct ringloop *rl, struct ringloop_stats *st);

#endif
