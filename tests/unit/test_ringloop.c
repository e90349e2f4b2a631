/* ringloop_run_once: one io_uring_enter per call; callbacks run only after
 * that enter (so the caller sees what they changed before it can block),
 * deferred callbacks queued by CQE callbacks run in the same call and
 * their SQEs go out with the next call's wait; a quiet SQE (a NOP here,
 * which completes during the submit like a sendmsg to a socket with room)
 * does not end that wait by itself. */
#include "check.h"
#include "ringloop.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

struct ctx {
	struct ringloop *rl;
	struct ringloop_op op;
	struct ringloop_defer d;
	int cqes, deferred;
	bool done;
};

#define CTX(p, m) ((struct ctx *)(void *)((char *)(p) - offsetof(struct ctx, m)))

static void nop_cb(struct ringloop_op *op, int res, uint32_t flags)
{
	struct ctx *c = CTX(op, op);

	c->cqes++;
	ringloop_defer(c->rl, &c->d);
}

static void defer_cb(struct ringloop_defer *d)
{
	struct ctx *c = CTX(d, d);

	c->deferred++;
	c->done = true;
}

static int polls;

static void poll_cb(struct ringloop_op *op, int res, uint32_t flags)
{
	polls++;
}

static void prep_nop(struct ctx *c)
{
	struct io_uring_sqe *sqe = ringloop_get_sqe(c->rl);

	io_uring_prep_nop(sqe);
	ringloop_sqe_set_op(sqe, &c->op);
}

static uint64_t enters(struct ringloop *rl)
{
	struct ringloop_stats st;

	ringloop_get_stats(rl, &st);
	return st.enters;
}

/* CQE -> deferred callback in the same call; nothing is left to do, so the
 * next call blocks (here until its timeout). */
static void defer_after_cqe(void)
{
	struct ctx c = { .op.cb = nop_cb, .d.cb = defer_cb };
	long long t0;

	c.rl = ringloop_create(16);
	CHECK(c.rl);
	prep_nop(&c);
	CHECK_EQ(ringloop_run_once(c.rl, -1), 2);
	CHECK_EQ(c.cqes, 1);
	CHECK_EQ(c.deferred, 1);
	CHECK_EQ(enters(c.rl), 1);
	CHECK_EQ(ringloop_timeout_ns(c.rl), -1);
	t0 = vt_now_ms();
	CHECK_EQ(ringloop_run_once(c.rl, 100000000), 0);
	CHECK_MSG(vt_now_ms() - t0 >= 80, "returned after %lld ms", vt_now_ms() - t0);
	ringloop_destroy(c.rl);
}

/* A deferred callback queued by the caller: the call must not block, and
 * runs it after its (non-blocking) enter. */
static void defer_from_caller(void)
{
	struct ctx c = { .op.cb = nop_cb, .d.cb = defer_cb };
	long long t0;

	c.rl = ringloop_create(16);
	CHECK(c.rl);
	ringloop_defer(c.rl, &c.d);
	t0 = vt_now_ms();
	CHECK_EQ(ringloop_run_once(c.rl, 2000000000), 1);
	CHECK_MSG(vt_now_ms() - t0 < 1000, "blocked %lld ms", vt_now_ms() - t0);
	CHECK(c.done);
	ringloop_destroy(c.rl);
}

/* A quiet NOP completes during the submit, but the wait goes on until
 * one more CQE (a poll on a pipe written 50 ms later by a child) or the
 * timeout: both CQEs come out of one enter. Without the hint the same
 * call returns at once with the NOP alone. */
static void quiet_sqe(void)
{
	struct ctx c = { .op.cb = nop_cb, .d.cb = defer_cb };
	struct ringloop_op pop = { .cb = poll_cb };
	struct io_uring_sqe *sqe;
	int pfd[2];
	long long t0;
	pid_t pid;

	c.rl = ringloop_create(16);
	CHECK(c.rl);
	CHECK_EQ(pipe(pfd), 0);
	/* quiet NOP alone, no other CQE coming: the timeout ends the wait,
	 * and the NOP's CQE is still reaped */
	prep_nop(&c);
	ringloop_sqe_quiet(c.rl);
	t0 = vt_now_ms();
	CHECK_EQ(ringloop_run_once(c.rl, 100000000), 2);
	CHECK_MSG(vt_now_ms() - t0 >= 80, "returned after %lld ms", vt_now_ms() - t0);
	CHECK_EQ(c.cqes, 1);
	/* the hint lasts one wait: a plain NOP returns at once */
	prep_nop(&c);
	t0 = vt_now_ms();
	CHECK_EQ(ringloop_run_once(c.rl, 2000000000), 2);
	CHECK_MSG(vt_now_ms() - t0 < 1000, "blocked %lld ms", vt_now_ms() - t0);
	/* quiet NOP + a poll that completes later: one enter for both */
	sqe = ringloop_get_sqe(c.rl);
	io_uring_prep_poll_add(sqe, pfd[0], POLLIN);
	io_uring_sqe_set_data(sqe, &pop);
	prep_nop(&c);
	ringloop_sqe_quiet(c.rl);
	pid = fork();
	if (pid == 0) {
		vt_sleep_ms(50);
		_exit(write(pfd[1], "x", 1) == 1 ? 0 : 1);
	}
	CHECK(pid > 0);
	c.cqes = 0;
	t0 = enters(c.rl);
	CHECK_EQ(ringloop_run_once(c.rl, 5000000000ll), 3);
	CHECK_EQ(c.cqes, 1);
	CHECK_EQ(polls, 1);
	CHECK_EQ(enters(c.rl) - t0, 1);
	CHECK_EQ(waitpid(pid, NULL, 0), pid);
	close(pfd[0]);
	close(pfd[1]);
	ringloop_destroy(c.rl);
}

int main(void)
{
	RUN(defer_after_cqe);
	RUN(defer_from_caller);
	RUN(quiet_sqe);
	return vt_finish();
}
