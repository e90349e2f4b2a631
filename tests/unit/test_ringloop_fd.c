/* ringloop_event_fd / ringloop_timeout_ns / ringloop_prewait: driving a
 * ring loop from a plain poll() loop. A poll_add on a pipe completes when the pipe is
 * written: the event fd must become readable (also with DEFER_TASKRUN,
 * where the completion is only task work until we enter the ring), and
 * the timeout must say "now" for deferred callbacks, unsubmitted SQEs and
 * due timers, the timer distance otherwise, -1 with nothing at all. */
#include "check.h"
#include "ringloop.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

static int fired;

static void op_cb(struct ringloop_op *op, int res, uint32_t flags)
{
	fired++;
}

static void defer_cb(struct ringloop_defer *d)
{
	fired++;
}

static void timer_cb(struct ringloop_timer *t)
{
	fired++;
}

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static void poll_driven(void)
{
	struct ringloop *rl = ringloop_create(16);
	struct ringloop_op op = { .cb = op_cb };
	struct ringloop_defer d = { .cb = defer_cb };
	struct ringloop_timer t;
	struct io_uring_sqe *sqe;
	int pfd[2], fd;
	int64_t ns;

	CHECK(rl);
	fd = ringloop_event_fd(rl);
	CHECK_MSG(fd >= 0, "event fd: %s", strerror(-fd));
	CHECK_EQ(ringloop_event_fd(rl), fd);
	CHECK_EQ(ringloop_timeout_ns(rl), -1);
	/* deferred callback: now */
	ringloop_defer(rl, &d);
	CHECK_EQ(ringloop_timeout_ns(rl), 0);
	fired = 0;
	ringloop_run_once(rl, 0);
	CHECK_EQ(fired, 1);
	CHECK_EQ(ringloop_timeout_ns(rl), -1);
	/* timer: its distance, then now */
	ringloop_timer_init(&t, timer_cb);
	ringloop_timer_add(rl, &t, ringloop_now_ns() + 50000000);
	ns = ringloop_timeout_ns(rl);
	CHECK_MSG(ns > 0 && ns <= 50000000, "%lld", (long long)ns);
	CHECK(!readable(fd, 0));
	vt_sleep_ms(60);
	CHECK_EQ(ringloop_timeout_ns(rl), 0);
	fired = 0;
	ringloop_run_once(rl, 0);
	CHECK_EQ(fired, 1);
	/* an SQE prepared but not submitted: now */
	CHECK_EQ(pipe(pfd), 0);
	sqe = ringloop_get_sqe(rl);
	io_uring_prep_poll_add(sqe, pfd[0], POLLIN);
	ringloop_sqe_set_op(sqe, &op);
	CHECK_EQ(ringloop_timeout_ns(rl), 0);
	fired = 0;
	ringloop_run_once(rl, 0);
	CHECK_EQ(fired, 0);
	CHECK_EQ(ringloop_timeout_ns(rl), -1);
	/* nothing happens: the fd stays quiet */
	CHECK(!readable(fd, 20));
	/* the pipe gets data: the poll completes and the fd wakes us */
	CHECK_EQ(write(pfd[1], "x", 1), 1);
	CHECK_MSG(readable(fd, 5000), "event fd not readable after the poll completed");
	ringloop_run_once(rl, 0);
	CHECK_EQ(fired, 1);
	/* drained by the iteration: quiet again */
	CHECK(!readable(fd, 0));
	CHECK_EQ(ringloop_timeout_ns(rl), -1);
	close(pfd[0]);
	close(pfd[1]);
	ringloop_destroy(rl);
}

/* A prewait callback runs before the iteration waits, and (unlike a
 * deferred one) does not cut that wait short; cancel removes it. */
static void prewait(void)
{
	struct ringloop *rl = ringloop_create(16);
	struct ringloop_defer d = { .cb = defer_cb };
	long long t0;

	CHECK(rl);
	ringloop_prewait(rl, &d);
	CHECK_EQ(ringloop_timeout_ns(rl), 0);
	fired = 0;
	t0 = vt_now_ms();
	ringloop_run_once(rl, 200000000);
	CHECK_EQ(fired, 1);
	CHECK_MSG(vt_now_ms() - t0 >= 150, "returned after %lld ms", vt_now_ms() - t0);
	ringloop_prewait(rl, &d);
	ringloop_defer_cancel(rl, &d);
	CHECK_EQ(ringloop_timeout_ns(rl), -1);
	ringloop_run_once(rl, 0);
	CHECK_EQ(fired, 1);
	ringloop_destroy(rl);
}

int main(void)
{
	RUN(poll_driven);
	RUN(prewait);
	return vt_finish();
}
