/* A vstor-mon for tests: started against an etcd endpoint with extra
 * arguments, log in its own temp dir under $TMPDIR (removed on free). The
 * binary comes from the build directory (proc.h). */
#ifndef VSTOR_TEST_MON_PROC_H
#define VSTOR_TEST_MON_PROC_H

#include <stdbool.h>
#include <sys/types.h>

struct mon_proc;

/* extra_args: NULL-terminated, may be NULL. NULL on failure. */
struct mon_proc *mon_proc_start(const char *etcd, const char *const *extra_args);
pid_t mon_proc_pid(const struct mon_proc *p);
const char *mon_proc_log(const struct mon_proc *p);
bool mon_proc_running(struct mon_proc *p);
int mon_proc_stop(struct mon_proc *p);	/* SIGTERM; exit status */
int mon_proc_kill(struct mon_proc *p);	/* SIGKILL */
int mon_proc_restart(struct mon_proc *p);
void mon_proc_free(struct mon_proc *p);

/* Runs vsctl (from the build directory) against etcd/prefix with args (a
 * shell word list) and returns its stdout+stderr (a static buffer); *rc
 * gets the exit status (-1 if it could not run). */
const char *mon_vsctl(const char *etcd, const char *prefix, const char *args, int *rc);

#endif
