/* proc.h */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TRACKED 64

static pid_t *tracked[MAX_TRACKED];
static bool hook_set;

static void kill_all(void)
{
	for (int i = 0; i < MAX_TRACKED; i++)
		if (tracked[i] && *tracked[i] > 0) {
			kill(*tracked[i], SIGKILL);
			waitpid(*tracked[i], NULL, 0);
			*tracked[i] = 0;
		}
}

static void track(pid_t *pid)
{
	int free_slot = -1;

	if (!hook_set) {
		atexit(kill_all);
		hook_set = true;
	}
	for (int i = 0; i < MAX_TRACKED; i++) {
		if (tracked[i] == pid)
			return;
		if (!tracked[i] && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0)
		tracked[free_slot] = pid;
}

void proc_untrack(pid_t *pid)
{
	for (int i = 0; i < MAX_TRACKED; i++)
		if (tracked[i] == pid)
			tracked[i] = NULL;
}

int proc_build_dir(char *out, size_t n)
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
	for (int i = 0; i < 3; i++) {
		char *s = strrchr(exe, '/');

		if (!s)
			return -1;
		*s = 0;
	}
	snprintf(out, n, "%s", exe);
	return 0;
}

int proc_spawn(char *const argv[], const char *log, int *out_fd, pid_t *pid)
{
	int logfd, pfd[2] = { -1, -1 };
	pid_t parent = getpid(), child;

	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0 || (out_fd && pipe2(pfd, O_CLOEXEC) < 0)) {
		fprintf(stderr, "proc: %s: %s\n", log, strerror(errno));
		if (logfd >= 0)
			close(logfd);
		return -1;
	}
	fflush(NULL);
	child = fork();
	if (child < 0) {
		fprintf(stderr, "proc: fork: %s\n", strerror(errno));
		close(logfd);
		if (out_fd) {
			close(pfd[0]);
			close(pfd[1]);
		}
		return -1;
	}
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		dup2(out_fd ? pfd[1] : logfd, 1);
		dup2(logfd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(logfd);
	if (out_fd) {
		close(pfd[1]);
		*out_fd = pfd[0];
	}
	*pid = child;
	track(pid);
	return 0;
}

static int status_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

bool proc_running(pid_t *pid)
{
	int st;

	if (*pid <= 0)
		return false;
	if (waitpid(*pid, &st, WNOHANG) == *pid) {
		*pid = 0;
		return false;
	}
	return true;
}

int proc_stop(pid_t *pid)
{
	int st;

	if (*pid <= 0)
		return -1;
	kill(*pid, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		pid_t r = waitpid(*pid, &st, WNOHANG);

		if (r == *pid) {
			*pid = 0;
			return status_code(st);
		}
		usleep(10000);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, &st, 0);
	*pid = 0;
	return status_code(st);
}

int proc_kill(pid_t *pid)
{
	int st;

	if (*pid <= 0)
		return -1;
	kill(*pid, SIGKILL);
	waitpid(*pid, &st, 0);
	*pid = 0;
	return status_code(st);
}

void proc_rm_tree(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}
