/* A throw-away vstor-osd for tests: formats a fresh sparse file under
 * $TMPDIR with vstor-disk, starts vstor-osd on it (loopback, ephemeral
 * port) and reads the port from its "listening on ADDR:PORT" line. The
 * daemon's stderr goes to <dir>/osd.log. The child gets PR_SET_PDEATHSIG
 * SIGKILL and an atexit hook kills what is still running, so nothing leaks.
 * Binaries come from the build directory the test binary lives in
 * (BUILD/tests/cluster/x -> BUILD/vstor-osd), or $VSTOR_BUILD_DIR. */
#ifndef VSTOR_TEST_OSD_PROC_H
#define VSTOR_TEST_OSD_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct osd_proc;

/* Formats and starts OSD osd_num; extra_args (NULL-terminated, may be
 * NULL) are appended to the command line. NULL on failure (reason and
 * the log's tail on stderr). */
struct osd_proc *osd_proc_start(uint64_t osd_num, const char *const *extra_args);
int osd_proc_port(const struct osd_proc *p);
pid_t osd_proc_pid(const struct osd_proc *p);	/* 0 when not running */
const char *osd_proc_dir(const struct osd_proc *p);
const char *osd_proc_log(const struct osd_proc *p);
/* True while the process has not exited (reaps it if it has). */
bool osd_proc_running(struct osd_proc *p);
/* SIGTERM, wait up to 10 s (then SIGKILL). Returns the exit status
 * (0 = clean shutdown), 128+signal if killed, -1 if not running. */
int osd_proc_stop(struct osd_proc *p);
/* SIGKILL and wait. */
int osd_proc_kill(struct osd_proc *p);
/* Starts it again on the same device (not reformatted), with the same
 * arguments; it gets a new port. 0 or -1. */
int osd_proc_restart(struct osd_proc *p);
/* Changes the value of extra argument name (used from the next
 * osd_proc_restart on). 0, or -1 when name is not one of them. */
int osd_proc_set_arg(struct osd_proc *p, const char *name, const char *value);
/* Kills it if running, removes the temp dir, frees p. */
void osd_proc_free(struct osd_proc *p);

#endif
