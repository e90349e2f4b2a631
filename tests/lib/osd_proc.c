#include "osd_proc.h"
#include "check.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS	16
#define MAX_ARGS	32
#define DEV_SIZE	(256ll << 20)

struct osd_proc {
	char dir[PATH_MAX], dev[PATH_MAX + 16], log[PATH_MAX + 16];
	char bin[PATH_MAX], disk[PATH_MAX];
	char osd_num[24];
	char *extra[MAX_ARGS];
	int nextra;
	pid_t pid;
	int port;
	int slot;
};

static struct osd_proc *procs[MAX_PROCS];

/* The end of every running OSD's log, for a failed case. */
static void print_logs(void)
{
	for (int i = 0; i < MAX_PROCS; i++)
		if (procs[i] && procs[i]->pid > 0) {
			char tag[48];

			snprintf(tag, sizeof(tag), "OSD %s", procs[i]->osd_num);
			vt_print_tail_n(tag, procs[i]->log, 2048);
		}
}

static int run_format(struct osd_proc *p)
{
	char cmd[3 * PATH_MAX + 128];
	int fd = open(p->dev, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || ftruncate(fd, DEV_SIZE) < 0) {
		fprintf(stderr, "osd_proc: %s: %s\n", p->dev, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	snprintf(cmd, sizeof(cmd), "'%s' format --data_path '%s' --osd_num %s >>'%s' 2>&1",
		 p->disk, p->dev, p->osd_num, p->log);
	if (system(cmd) != 0) {
		fprintf(stderr, "osd_proc: vstor-disk format failed\n");
		vt_print_tail("osd_proc", p->log);
		return -1;
	}
	return 0;
}

static int spawn(struct osd_proc *p)
{
	char *argv[MAX_ARGS + 16];
	int argc = 0, fd;
	char line[256];
	size_t have = 0;
	long long deadline = vt_now_ms() + 20000;

	argv[argc++] = p->bin;
	argv[argc++] = "--osd_num";
	argv[argc++] = p->osd_num;
	argv[argc++] = "--data_path";
	argv[argc++] = p->dev;
	argv[argc++] = "--bind_address";
	argv[argc++] = "127.0.0.1";
	argv[argc++] = "--bind_port";
	argv[argc++] = "0";
	for (int i = 0; i < p->nextra; i++)
		argv[argc++] = p->extra[i];
	argv[argc] = NULL;
	if (proc_spawn(argv, p->log, &fd, &p->pid) < 0)
		return -1;
	p->port = 0;
	while (!p->port) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		long long now = vt_now_ms();
		ssize_t n;
		char *nl, *colon;

		if (now >= deadline || poll(&pf, 1, (int)(deadline - now)) <= 0)
			break;
		n = read(fd, line + have, sizeof(line) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		line[have] = 0;
		nl = strchr(line, '\n');
		if (!nl) {
			if (have == sizeof(line) - 1)
				break;
			continue;
		}
		*nl = 0;
		colon = strrchr(line, ':');
		if (strncmp(line, "listening on ", 13) || !colon)
			break;
		p->port = atoi(colon + 1);
	}
	close(fd);
	if (p->port <= 0) {
		fprintf(stderr, "osd_proc: vstor-osd did not report a port\n");
		vt_print_tail("osd_proc", p->log);
		proc_kill(&p->pid);
		return -1;
	}
	return 0;
}

struct osd_proc *osd_proc_start(uint64_t osd_num, const char *const *extra_args)
{
	const char *tmp = getenv("TMPDIR");
	char bdir[PATH_MAX];
	struct osd_proc *p;
	int slot = -1;

	for (int i = 0; i < MAX_PROCS; i++)
		if (!procs[i]) {
			slot = i;
			break;
		}
	if (slot < 0 || proc_build_dir(bdir, sizeof(bdir)) < 0) {
		fprintf(stderr, "osd_proc: too many OSDs or no build directory\n");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->slot = slot;
	snprintf(p->bin, sizeof(p->bin), "%.*s/vstor-osd", PATH_MAX - 16, bdir);
	snprintf(p->disk, sizeof(p->disk), "%.*s/vstor-disk", PATH_MAX - 16, bdir);
	snprintf(p->osd_num, sizeof(p->osd_num), "%llu", (unsigned long long)osd_num);
	snprintf(p->dir, sizeof(p->dir), "%s/vstor-osd.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(p->dir)) {
		fprintf(stderr, "osd_proc: mkdtemp %s: %s\n", p->dir, strerror(errno));
		free(p);
		return NULL;
	}
	snprintf(p->dev, sizeof(p->dev), "%s/osd.img", p->dir);
	snprintf(p->log, sizeof(p->log), "%s/osd.log", p->dir);
	for (int i = 0; extra_args && extra_args[i] && i < MAX_ARGS; i++)
		p->extra[p->nextra++] = strdup(extra_args[i]);
	procs[slot] = p;
	vt_on_fail(print_logs);
	if (run_format(p) < 0 || spawn(p) < 0) {
		osd_proc_free(p);
		return NULL;
	}
	return p;
}

int osd_proc_port(const struct osd_proc *p)
{
	return p->port;
}

pid_t osd_proc_pid(const struct osd_proc *p)
{
	return p->pid;
}

const char *osd_proc_dir(const struct osd_proc *p)
{
	return p->dir;
}

const char *osd_proc_log(const struct osd_proc *p)
{
	return p->log;
}

bool osd_proc_running(struct osd_proc *p)
{
	return proc_running(&p->pid);
}

int osd_proc_stop(struct osd_proc *p)
{
	return proc_stop(&p->pid);
}

int osd_proc_kill(struct osd_proc *p)
{
	return proc_kill(&p->pid);
}

int osd_proc_restart(struct osd_proc *p)
{
	if (p->pid > 0)
		osd_proc_stop(p);
	return spawn(p);
}

void osd_proc_free(struct osd_proc *p)
{

	if (!p)
		return;
	if (p->pid > 0)
		osd_proc_kill(p);
	if (p->dir[0] && !getenv("VSTOR_KEEP_TMP")) {
		proc_rm_tree(p->dir);
	}
	for (int i = 0; i < p->nextra; i++)
		free(p->extra[i]);
	proc_untrack(&p->pid);
	procs[p->slot] = NULL;
	free(p);
}

int osd_proc_set_arg(struct osd_proc *p, const char *name, const char *value)
{
	for (int i = 0; i + 1 < p->nextra; i++)
		if (!strcmp(p->extra[i], name)) {
			char *v = strdup(value);

			if (!v)
				return -1;
			free(p->extra[i + 1]);
			p->extra[i + 1] = v;
			return 0;
		}
	return -1;
}
