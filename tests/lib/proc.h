/* Child processes for tests (the daemons under test): fork + exec with
 * PR_SET_PDEATHSIG SIGKILL, stderr (and optionally stdout) to a log file,
 * stop/kill/reap, and an atexit hook that kills every tracked child, so a
 * failing test never leaves one behind. Not thread-safe. */
#ifndef VSTOR_TEST_PROC_H
#define VSTOR_TEST_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The build directory holding the binaries: $VSTOR_BUILD_DIR, else the one
 * the test binary lives in (BUILD/tests/cluster/test_x -> BUILD). 0 or -1. */
int proc_build_dir(char *out, size_t n);

/* Starts argv[0] (a path) with argv; stderr appended to log; stdout to the
 * read end returned in *out_fd when out_fd is given, else to log too. The
 * child is tracked through *pid (set here) until proc_untrack(pid).
 * 0 or -1 (message on stderr). */
int proc_spawn(char *const argv[], const char *log, int *out_fd, pid_t *pid);
/* SIGTERM, up to 10 s, then SIGKILL; the exit status (128+signal when
 * killed) or -1 when not running. *pid becomes 0. */
int proc_stop(pid_t *pid);
/* SIGKILL and reap; status or -1. */
int proc_kill(pid_t *pid);
/* Whether it still runs (reaps it if not). */
bool proc_running(pid_t *pid);
/* Stops tracking (call before freeing the memory *pid lives in). */
void proc_untrack(pid_t *pid);
/* rm -rf dir (a test's temp tree); says so on stderr when it fails. */
void proc_rm_tree(const char *dir);

#endif
