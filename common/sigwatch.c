/* sigwatch.h */
#include "sigwatch.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static void arm(struct sigwatch *w);

static void cb(struct ringloop_op *rop, int res, uint32_t flags)
{
	struct sigwatch *w = (struct sigwatch *)(void *)rop;

	(void)flags;
	if (res == (int)sizeof(w->si)) {
		w->signo = (int)w->si.ssi_signo;
		return;
	}
	if (w->fd >= 0)
		arm(w);
}

static void arm(struct sigwatch *w)
{
	struct io_uring_sqe *sqe = ringloop_get_sqe(w->rl);

	io_uring_prep_read(sqe, w->fd, &w->si, sizeof(w->si), 0);
	ringloop_sqe_set_op(sqe, &w->rop);
}

int sigwatch_start(struct sigwatch *w, struct ringloop *rl)
{
	sigset_t mask;

	memset(w, 0, sizeof(*w));
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	w->fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (w->fd < 0)
		return -errno;
	w->rl = rl;
	w->rop.cb = cb;
	arm(w);
	return 0;
}

void sigwatch_close(struct sigwatch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}
