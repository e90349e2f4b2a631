/* A throw-away etcd for tests: a single-member cluster on random loopback
 * client and peer ports with its data in a temp dir under $TMPDIR (log in
 * <dir>/etcd.log). The child gets PR_SET_PDEATHSIG SIGKILL, and an atexit
 * hook plus SIGINT/SIGTERM handlers stop every etcd still running, so a
 * failing or crashing test never leaves one behind. Several instances may
 * run at once. Not thread-safe: use from the main thread. */
#ifndef VSTOR_TEST_ETCD_PROC_H
#define VSTOR_TEST_ETCD_PROC_H

#include <stdbool.h>
#include <sys/types.h>

struct etcd_proc;

/* Starts etcd and waits (up to 20 s) until it is healthy. NULL on
 * failure, with the reason (and the log's tail) on stderr. */
struct etcd_proc *etcd_proc_start(void);
/* TLS on the client port with the server certificate cert_file/key_file;
 * with client_ca_file, clients must present a certificate it signed. The
 * probe uses cert_file as CA and as client certificate (self-signed). */
struct etcd_proc *etcd_proc_start_tls(const char *cert_file, const char *key_file,
	const char *client_ca_file);
/* "127.0.0.1:<client port>", or "https://127.0.0.1:<port>" with TLS */
const char *etcd_proc_endpoint(const struct etcd_proc *p);
int etcd_proc_port(const struct etcd_proc *p);
const char *etcd_proc_dir(const struct etcd_proc *p);
pid_t etcd_proc_pid(const struct etcd_proc *p);	/* 0 when not running */
bool etcd_proc_running(const struct etcd_proc *p);

/* SIGTERM, then SIGKILL after 5 s; waits for the process. 0 or -1. */
int etcd_proc_stop(struct etcd_proc *p);
/* SIGKILL and wait. */
int etcd_proc_kill(struct etcd_proc *p);
/* Starts it again (stopping it first if running) on the same ports and
 * data dir and waits until ready. Returns the endpoint, or NULL. */
const char *etcd_proc_restart(struct etcd_proc *p);
/* Waits until GET /health says healthy (leader elected); 0 or -1. */
int etcd_proc_wait_ready(struct etcd_proc *p, int timeout_ms);
/* Stops it if running, removes the temp dir, frees p. */
void etcd_proc_free(struct etcd_proc *p);

#endif
