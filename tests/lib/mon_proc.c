/* mon_proc.h */
#include "mon_proc.h"
#include "proc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define MAX_ARGS 32

struct mon_proc {
	char dir[PATH_MAX], log[PATH_MAX + 16], bin[PATH_MAX + 16], etcd[256];
	char *extra[MAX_ARGS];
	int nextra;
	pid_t pid;
};

static int spawn(struct mon_proc *p)
{
	char *argv[MAX_ARGS + 8];
	int argc = 0;

	argv[argc++] = p->bin;
	argv[argc++] = "--etcd_address";
	argv[argc++] = p->etcd;
	for (int i = 0; i < p->nextra; i++)
		argv[argc++] = p->extra[i];
	argv[argc] = NULL;
	return proc_spawn(argv, p->log, NULL, &p->pid);
}

struct mon_proc *mon_proc_start(const char *etcd, const char *const *extra_args)
{
	const char *tmp = getenv("TMPDIR");
	char bdir[PATH_MAX];
	struct mon_proc *p = calloc(1, sizeof(*p));

	if (!p || proc_build_dir(bdir, sizeof(bdir)) < 0) {
		free(p);
		return NULL;
	}
	snprintf(p->bin, sizeof(p->bin), "%s/vstor-mon", bdir);
	snprintf(p->etcd, sizeof(p->etcd), "%s", etcd);
	snprintf(p->dir, sizeof(p->dir), "%s/vstor-mon.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(p->dir)) {
		fprintf(stderr, "mon_proc: mkdtemp %s: %s\n", p->dir, strerror(errno));
		free(p);
		return NULL;
	}
	snprintf(p->log, sizeof(p->log), "%s/mon.log", p->dir);
	for (int i = 0; extra_args && extra_args[i] && i < MAX_ARGS; i++)
		p->extra[p->nextra++] = strdup(extra_args[i]);
	if (spawn(p) < 0) {
		mon_proc_free(p);
		return NULL;
	}
	return p;
}

pid_t mon_proc_pid(const struct mon_proc *p)
{
	return p->pid;
}

const char *mon_proc_log(const struct mon_proc *p)
{
	return p->log;
}

bool mon_proc_running(struct mon_proc *p)
{
	return proc_running(&p->pid);
}

int mon_proc_stop(struct mon_proc *p)
{
	return proc_stop(&p->pid);
}

int mon_proc_kill(struct mon_proc *p)
{
	return proc_kill(&p->pid);
}

int mon_proc_restart(struct mon_proc *p)
{
	if (p->pid > 0)
		proc_stop(&p->pid);
	return spawn(p);
}

void mon_proc_free(struct mon_proc *p)
{

	if (!p)
		return;
	if (p->pid > 0)
		proc_kill(&p->pid);
	proc_untrack(&p->pid);
	if (p->dir[0] && !getenv("VSTOR_KEEP_TMP")) {
		proc_rm_tree(p->dir);
	}
	for (int i = 0; i < p->nextra; i++)
		free(p->extra[i]);
	free(p);
}

const char *mon_vsctl(const char *etcd, const char *prefix, const char *args, int *rc)
{
	static char out[65536];
	char cmd[PATH_MAX + 1024], bdir[PATH_MAX];
	FILE *f;
	size_t n;

	out[0] = 0;
	*rc = -1;
	if (proc_build_dir(bdir, sizeof(bdir)) < 0)
		return out;
	snprintf(cmd, sizeof(cmd), "'%s/vsctl' --config_path /dev/null --etcd_address %s "
		 "--etcd_prefix %s %s 2>&1", bdir, etcd, prefix, args);
	f = popen(cmd, "r");
	if (!f)
		return out;
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	*rc = pclose(f);
	*rc = WIFEXITED(*rc) ? WEXITSTATUS(*rc) : 128;
	return out;
}
