#include "etcd_proc.h"
#include "check.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 16

struct etcd_proc {
	pid_t pid;
	int client_port, peer_port;
	char name[32];
	char dir[512];
	char log[600];
	char data[600];
	char endpoint[80];
	int slot;
	/* TLS on the client port (empty: plain HTTP) */
	char cert[512], key[512], client_ca[512];
};

/* Every live etcd, for the exit and signal hooks. */
static struct etcd_proc *procs[MAX_PROCS];
static volatile pid_t live_pids[MAX_PROCS];
static bool hooks_installed;

/* Only async-signal-safe calls: kill and reap every etcd, remove the temp
 * dirs with rm(1), then die of the signal. */
static void on_signal(int sig)
{
	for (int i = 0; i < MAX_PROCS; i++)
		if (live_pids[i] > 0)
			kill(live_pids[i], SIGKILL);
	for (int i = 0; i < MAX_PROCS; i++)
		if (live_pids[i] > 0)
			waitpid(live_pids[i], NULL, 0);
	for (int i = 0; i < MAX_PROCS; i++) {
		pid_t pid;

		if (!procs[i] || !procs[i]->dir[0])
			continue;
		pid = fork();
		if (pid == 0) {
			execl("/bin/rm", "rm", "-rf", procs[i]->dir, (char *)NULL);
			_exit(127);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void at_exit(void)
{
	for (int i = 0; i < MAX_PROCS; i++)
		if (procs[i])
			etcd_proc_free(procs[i]);
}

static void install_hooks(void)
{
	struct sigaction sa;

	if (hooks_installed)
		return;
	hooks_installed = true;
	atexit(at_exit);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* A port the kernel considers free right now. */
static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int spawn(struct etcd_proc *p)
{
	char client_url[64], peer_url[64], cluster[128];
	char *argv[40];
	int argc = 0, logfd;
	pid_t parent = getpid(), pid;

	snprintf(client_url, sizeof(client_url), "%s://127.0.0.1:%d", p->cert[0] ? "https" : "http",
		p->client_port);
	snprintf(peer_url, sizeof(peer_url), "http://127.0.0.1:%d", p->peer_port);
	snprintf(cluster, sizeof(cluster), "%s=%s", p->name, peer_url);
	argv[argc++] = "etcd";
	argv[argc++] = "--name";
	argv[argc++] = p->name;
	argv[argc++] = "--data-dir";
	argv[argc++] = p->data;
	argv[argc++] = "--listen-client-urls";
	argv[argc++] = client_url;
	argv[argc++] = "--advertise-client-urls";
	argv[argc++] = client_url;
	argv[argc++] = "--listen-peer-urls";
	argv[argc++] = peer_url;
	argv[argc++] = "--initial-advertise-peer-urls";
	argv[argc++] = peer_url;
	argv[argc++] = "--initial-cluster";
	argv[argc++] = cluster;
	argv[argc++] = "--initial-cluster-token";
	argv[argc++] = p->name;
	argv[argc++] = "--heartbeat-interval";
	argv[argc++] = "20";
	argv[argc++] = "--election-timeout";
	argv[argc++] = "200";
	argv[argc++] = "--logger";
	argv[argc++] = "zap";
	argv[argc++] = "--log-outputs";
	argv[argc++] = "stderr";
	if (p->cert[0]) {
		argv[argc++] = "--cert-file";
		argv[argc++] = p->cert;
		argv[argc++] = "--key-file";
		argv[argc++] = p->key;
	}
	if (p->client_ca[0]) {
		argv[argc++] = "--client-cert-auth";
		argv[argc++] = "--trusted-ca-file";
		argv[argc++] = p->client_ca;
	}
	argv[argc] = NULL;

	logfd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		fprintf(stderr, "etcd_proc: %s: %s\n", p->log, strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "etcd_proc: fork: %s\n", strerror(errno));
		close(logfd);
		return -1;
	}
	if (pid == 0) {
		/* Die with the test, even when it crashes. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		dup2(logfd, 1);
		dup2(logfd, 2);
		close_range(3, ~0U, 0);
		execvp("etcd", argv);
		_exit(127);
	}
	close(logfd);
	p->pid = pid;
	live_pids[p->slot] = pid;
	return 0;
}

static size_t collect(char *d, size_t s, size_t n, void *u)
{
	char *buf = u;
	size_t have = strlen(buf), len = s * n;

	if (have + len < 256) {
		memcpy(buf + have, d, len);
		buf[have + len] = 0;
	}
	return s * n;
}

/* GET /health: 0 when etcd has a leader and serves reads (3.4 answers
 * healthy also when auth is on and the probe has no credentials). */
static int probe(const struct etcd_proc *p)
{
	CURL *e = curl_easy_init();
	char url[128], body[256] = "";
	long code = 0;
	CURLcode rc;

	if (!e)
		return -1;
	snprintf(url, sizeof(url), "%s%s/health", p->cert[0] ? "" : "http://", p->endpoint);
	if (p->cert[0]) {
		/* Self-signed: the server's certificate is its own CA, and
		 * doubles as the client certificate. */
		curl_easy_setopt(e, CURLOPT_CAINFO, p->cert);
		curl_easy_setopt(e, CURLOPT_SSLCERT, p->cert);
		curl_easy_setopt(e, CURLOPT_SSLKEY, p->key);
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 1000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(e);
	return rc == CURLE_OK && code == 200 && strstr(body, "\"health\":\"true\"") ? 0 : -1;
}

/* Reaps the child if it exited; true when it is gone. */
static bool reap(struct etcd_proc *p, int options)
{
	int st;
	pid_t r;

	if (p->pid <= 0)
		return true;
	do
		r = waitpid(p->pid, &st, options);
	while (r < 0 && errno == EINTR);
	if (r == p->pid || (r < 0 && errno == ECHILD)) {
		p->pid = 0;
		live_pids[p->slot] = 0;
		return true;
	}
	return false;
}

int etcd_proc_wait_ready(struct etcd_proc *p, int timeout_ms)
{
	long long deadline = vt_now_ms() + timeout_ms;

	while (vt_now_ms() < deadline) {
		if (reap(p, WNOHANG)) {
			fprintf(stderr, "etcd_proc: etcd on port %d exited during startup\n", p->client_port);
			return -1;
		}
		if (!probe(p))
			return 0;
		vt_sleep_ms(50);
	}
	fprintf(stderr, "etcd_proc: etcd on port %d not ready after %d ms\n", p->client_port, timeout_ms);
	return -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

struct etcd_proc *etcd_proc_start(void)
{
	return etcd_proc_start_tls(NULL, NULL, NULL);
}

struct etcd_proc *etcd_proc_start_tls(const char *cert_file, const char *key_file,
	const char *client_ca_file)
{
	static int counter;
	struct etcd_proc *p;
	const char *tmp = getenv("TMPDIR");
	int slot;

	install_hooks();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (slot = 0; slot < MAX_PROCS && procs[slot]; slot++)
		;
	if (slot == MAX_PROCS) {
		fprintf(stderr, "etcd_proc: too many etcd instances\n");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->slot = slot;
	if (cert_file && key_file) {
		snprintf(p->cert, sizeof(p->cert), "%s", cert_file);
		snprintf(p->key, sizeof(p->key), "%s", key_file);
		if (client_ca_file)
			snprintf(p->client_ca, sizeof(p->client_ca), "%s", client_ca_file);
	}
	snprintf(p->dir, sizeof(p->dir), "%s/vstor-etcd-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(p->dir)) {
		fprintf(stderr, "etcd_proc: mkdtemp %s: %s\n", p->dir, strerror(errno));
		free(p);
		return NULL;
	}
	procs[slot] = p;
	snprintf(p->log, sizeof(p->log), "%s/etcd.log", p->dir);
	snprintf(p->data, sizeof(p->data), "%s/data", p->dir);
	snprintf(p->name, sizeof(p->name), "t%d-%d", (int)getpid(), counter++);
	/* The ports may be taken between probing and etcd binding them: retry
	 * with new ones (from a fresh data dir) when etcd dies at startup. */
	for (int attempt = 0; attempt < 5; attempt++) {
		p->client_port = free_port();
		p->peer_port = free_port();
		if (p->client_port <= 0 || p->peer_port <= 0 || p->client_port == p->peer_port)
			continue;
		snprintf(p->endpoint, sizeof(p->endpoint), "%s127.0.0.1:%d", p->cert[0] ? "https://" : "",
			p->client_port);
		nftw(p->data, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		if (spawn(p))
			break;
		if (!etcd_proc_wait_ready(p, 20000))
			return p;
		vt_print_tail("etcd_proc", p->log);
		etcd_proc_kill(p);
	}
	etcd_proc_free(p);
	return NULL;
}

const char *etcd_proc_endpoint(const struct etcd_proc *p)
{
	return p->endpoint;
}

int etcd_proc_port(const struct etcd_proc *p)
{
	return p->client_port;
}

const char *etcd_proc_dir(const struct etcd_proc *p)
{
	return p->dir;
}

pid_t etcd_proc_pid(const struct etcd_proc *p)
{
	return p->pid;
}

bool etcd_proc_running(const struct etcd_proc *p)
{
	return p->pid > 0;
}

int etcd_proc_kill(struct etcd_proc *p)
{
	if (p->pid <= 0)
		return 0;
	kill(p->pid, SIGKILL);
	return reap(p, 0) ? 0 : -1;
}

int etcd_proc_stop(struct etcd_proc *p)
{
	long long deadline;

	if (p->pid <= 0)
		return 0;
	kill(p->pid, SIGTERM);
	deadline = vt_now_ms() + 5000;
	while (vt_now_ms() < deadline) {
		if (reap(p, WNOHANG))
			return 0;
		vt_sleep_ms(10);
	}
	fprintf(stderr, "etcd_proc: etcd %d ignored SIGTERM, killing\n", (int)p->pid);
	return etcd_proc_kill(p);
}

const char *etcd_proc_restart(struct etcd_proc *p)
{
	etcd_proc_stop(p);
	for (int attempt = 0; attempt < 3; attempt++) {
		if (spawn(p))
			return NULL;
		if (!etcd_proc_wait_ready(p, 20000))
			return p->endpoint;
		/* The old process may still hold the port for a moment. */
		etcd_proc_kill(p);
		vt_sleep_ms(200);
	}
	vt_print_tail("etcd_proc", p->log);
	return NULL;
}

void etcd_proc_free(struct etcd_proc *p)
{
	if (!p)
		return;
	etcd_proc_stop(p);
	if (p->dir[0])
		nftw(p->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (procs[p->slot] == p)
		procs[p->slot] = NULL;
	free(p);
}
