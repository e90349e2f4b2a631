/* SIGTERM/SIGINT for a ringloop daemon: the signals are blocked and read
 * from a signalfd through the ring, so the loop sees them as a CQE and can
 * shut down cleanly. */
#ifndef VSTOR_SIGWATCH_H
#define VSTOR_SIGWATCH_H

#include <sys/signalfd.h>

#include "ringloop.h"

struct sigwatch {
	struct ringloop_op rop;
	struct ringloop *rl;
	int fd;
	struct signalfd_siginfo si;
	volatile int signo;	/* the signal received, 0 = none yet */
};

/* Blocks SIGTERM and SIGINT, ignores SIGPIPE, starts reading. 0 or -errno. */
int sigwatch_start(struct sigwatch *w, struct ringloop *rl);
void sigwatch_close(struct sigwatch *w);

#endif
