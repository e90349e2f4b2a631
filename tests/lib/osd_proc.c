#include "osd_proc.h"
#include "check.h"

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
static bool hook_set;

static void kill_all(void)
{
	for (int i = 0; i < MAX_PROCS; i++)
		if (procs[i] && procs[i]->pid > 0) {
			kill(procs[i]->pid, SIGKILL);
			waitpid(procs[i]->pid, NULL, 0);
			procs[i]->pid = 0;
		}
}

static int build_dir(char *out, size_t n)
{
	const char *env = getenv("VSTOR_BUILD_DIR");
	char exe[PATH_MAX];
	ssize_t len;

	if (env && *env) {
		snprintf(out, n, "%s", env);
		return 0;
	}
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0)
		return -1;
	exe[len] = 0;
	/* BUILD/tests/cluster/test_x -> BUILD */
	for (int i = 0; i < 3; i++) {
		char *s = strrchr(exe, '/');

		if (!s)
			return -1;
		*s = 0;
	}
	snprintf(out, n, "%s", exe);
	return 0;
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
	int argc = 0, logfd, pfd[2];
	pid_t parent = getpid(), pid;
	char line[256];
	size_t have = 0;
	long long deadline;
	struct timespec ts;

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

	logfd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0 || pipe2(pfd, O_CLOEXEC) < 0) {
		fprintf(stderr, "osd_proc: %s: %s\n", p->log, strerror(errno));
		if (logfd >= 0)
			close(logfd);
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "osd_proc: fork: %s\n", strerror(errno));
		close(logfd);
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		dup2(pfd[1], 1);
		dup2(logfd, 2);
		execv(p->bin, argv);
		_exit(127);
	}
	close(logfd);
	close(pfd[1]);
	p->pid = pid;
	p->port = 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	deadline = ts.tv_sec * 1000ll + ts.tv_nsec / 1000000 + 20000;
	while (!p->port) {
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
		long long now;
		ssize_t n;
		char *nl, *colon;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = ts.tv_sec * 1000ll + ts.tv_nsec / 1000000;
		if (now >= deadline || poll(&pf, 1, (int)(deadline - now)) <= 0)
			break;
		n = read(pfd[0], line + have, sizeof(line) - 1 - have);
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
	close(pfd[0]);
	if (p->port <= 0) {
		fprintf(stderr, "osd_proc: vstor-osd did not report a port\n");
		vt_print_tail("osd_proc", p->log);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		p->pid = 0;
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
	if (slot < 0 || build_dir(bdir, sizeof(bdir)) < 0) {
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
	if (!hook_set) {
		atexit(kill_all);
		hook_set = true;
	}
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

static int status_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

bool osd_proc_running(struct osd_proc *p)
{
	int st;

	if (p->pid <= 0)
		return false;
	if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
		p->pid = 0;
		return false;
	}
	return true;
}

int osd_proc_stop(struct osd_proc *p)
{
	int st;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		pid_t r = waitpid(p->pid, &st, WNOHANG);

		if (r == p->pid) {
			p->pid = 0;
			return status_code(st);
		}
		usleep(10000);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &st, 0);
	p->pid = 0;
	return status_code(st);
}

int osd_proc_kill(struct osd_proc *p)
{
	int st;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &st, 0);
	p->pid = 0;
	return status_code(st);
}

int osd_proc_restart(struct osd_proc *p)
{
	if (p->pid > 0)
		osd_proc_stop(p);
	return spawn(p);
}

void osd_proc_free(struct osd_proc *p)
{
	char cmd[PATH_MAX + 32];

	if (!p)
		return;
	if (p->pid > 0)
		osd_proc_kill(p);
	if (p->dir[0] && !getenv("VSTOR_KEEP_TMP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "osd_proc: cannot remove %s\n", p->dir);
	}
	for (int i = 0; i < p->nextra; i++)
		free(p->extra[i]);
	procs[p->slot] = NULL;
	free(p);
}
