/* etcd v3 client over the JSON/HTTP gateway (POST <endpoint>/v3/...), built
 * on the libcurl multi interface.
 *
 * One client = one curl multi handle, used from one thread. Everything is
 * asynchronous: an operation starts, and its completion callback runs later
 * from inside one of the driving calls:
 *
 *   - external loop (OSD, io_uring or epoll): pass struct etcd_loop to
 *     etcd_client_new(). The client calls loop->watch_fd(ctx, fd, events)
 *     whenever the set of events it needs on a socket changes (ETCD_POLL_IN
 *     and/or ETCD_POLL_OUT; ETCD_POLL_REMOVE when the fd is no longer
 *     watched: curl may close it right after, and reuse the number later, so
 *     tag io_uring polls with a generation), and loop->set_timer(ctx, ms)
 *     to arm ONE one-shot timer (each call replaces the previous one, -1
 *     disarms it). The loop calls etcd_on_fd(c, fd, revents) when the fd is
 *     ready (with one-shot polls: re-arm it afterwards with the last events
 *     given for it, unless watch_fd changed or removed them meanwhile) and
 *     etcd_on_timer(c) when the timer expires. The hooks are only called
 *     from inside etcd_* functions and must not call back into the client.
 *   - self-driven (tools, tests): loop == NULL; etcd_run() waits with
 *     curl_multi_poll(). The blocking *_sync() calls are built on it.
 *
 * Keys passed to the API are relative to the configured prefix
 * ("config/global" means "/vitastor/config/global"); results carry the
 * relative key and the full key.
 *
 * Failover and retries. Every attempt goes to one endpoint, starting with
 * the last one that answered. A failed attempt moves on to the next endpoint,
 * up to max_attempts attempts in total (a short pause after each full round
 * over the endpoints). What is retried:
 *   - connect failures (refused, unreachable, connect timeout): every
 *     operation, because the request never left the client;
 *   - timeouts after the request was sent, connections dropped mid-answer
 *     and HTTP 5xx: only idempotent operations (range, lease keepalive,
 *     authentication, etcd_call() when told so). Put, delete, txn, lease
 *     grant/revoke and compaction may have been applied by etcd already,
 *     and a txn is only safe to repeat when it is guarded by compares,
 *     which the client cannot judge; so these report the error and the
 *     caller decides (re-read and retry).
 *   - "invalid auth token" (the token expired or etcd restarted): the
 *     client authenticates again once and repeats the request.
 *
 * Connections: at most 64 per endpoint (operations beyond that queue inside
 * curl); each watch holds one for its whole life.
 *
 * Memory: results passed to callbacks belong to the client and are freed
 * when the callback returns, unless the callback moves them out with
 * etcd_result_move(). Callbacks may start operations, cancel watches and
 * even free the client (the teardown is deferred until the driving call
 * unwinds; do not touch the client after etcd_client_free()). */
#ifndef VSTOR_ETCD_H
#define VSTOR_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

/* Status codes: ETCD_OK or one of the negative ETCD_E_* values. */
enum etcd_status {
	ETCD_OK = 0,
	ETCD_E_CONNECT = -1,	/* no connection (or it broke) on every attempt */
	ETCD_E_TIMEOUT = -2,	/* no complete answer within the timeout */
	ETCD_E_HTTP = -3,	/* unexpected HTTP status, no etcd error body */
	ETCD_E_RESPONSE = -4,	/* garbage, truncated, oversized or ill-shaped answer */
	ETCD_E_ETCD = -5,	/* etcd error: etcd_code (gRPC code) and message */
	ETCD_E_COMPACTED = -6,	/* the revision asked for is compacted */
	ETCD_E_NOLEASE = -7,	/* keepalive: the lease does not exist any more */
	ETCD_E_CANCELED = -8,	/* the client was freed before completion */
	ETCD_E_INVAL = -9,	/* invalid arguments or configuration */
	ETCD_E_NOMEM = -10,	/* out of memory */
};

/* Short static description of a status code. */
const char *etcd_strerror(int status);

/* ---- configuration ---- */

struct etcd_config {
	char **endpoints;	/* normalized base URLs, e.g. "http://1.2.3.4:2379/v3" */
	size_t n_endpoints;
	char *prefix;		/* default "/vitastor"; "" = no prefix */
	int quick_timeout_ms;	/* per attempt, default 1000 (etcd_quick_timeout) */
	int slow_timeout_ms;	/* default 5000 (etcd_slow_timeout) */
	int max_attempts;	/* default 5 (max_etcd_attempts) */
	int keepalive_interval_s; /* TCP keepalive of watch streams, default 30 */
	size_t max_body;	/* biggest answer / watch message, default 64 MiB */
	char *ca_file, *cert_file, *key_file;	/* TLS (https:// endpoints) */
	char *user, *password;	/* etcd authentication (both or none) */
};

/* Fills the defaults (no endpoints). */
void etcd_config_init(struct etcd_config *cfg);
void etcd_config_free(struct etcd_config *cfg);
/* Adds endpoints from a comma-separated list of host:port[/path] entries,
 * "http://" or "https://" allowed; the path defaults to /v3 and the port to
 * 2379. Returns 0 or ETCD_E_INVAL (message in err). */
int etcd_config_add_endpoints(struct etcd_config *cfg, const char *list,
	char *err, size_t errlen);
/* Sets a string field (prefix, ca_file, ...) to a copy of val (NULL ok). */
int etcd_config_set(char **field, const char *val);
/* Reads the vitastor.conf-style keys of obj: etcd_address (string or array
 * of strings), etcd_prefix, max_etcd_attempts, etcd_quick_timeout,
 * etcd_slow_timeout, etcd_ws_keepalive_interval, and the vstor extensions
 * etcd_ca_file, etcd_cert_file, etcd_key_file, etcd_user, etcd_password.
 * Absent keys keep their current value. Returns 0 or ETCD_E_INVAL. */
int etcd_config_from_json(struct etcd_config *cfg, json_t obj, char *err, size_t errlen);
struct cfg;
/* The same from a loaded program configuration (common/config.h); fails
 * with a message naming etcd_address when no address is configured. */
int etcd_config_from_cfg(struct etcd_config *ec, const struct cfg *cfg, char *err, size_t errlen);

/* ---- client and event loop ---- */

struct etcd_client;

#define ETCD_POLL_IN 1
#define ETCD_POLL_OUT 2
#define ETCD_POLL_REMOVE 4	/* watch_fd only: stop watching fd */
#define ETCD_POLL_ERR 8		/* etcd_on_fd only: error or hang-up */

struct etcd_loop {
	void (*watch_fd)(void *ctx, int fd, int events);
	void (*set_timer)(void *ctx, int timeout_ms);
	void *ctx;
};

/* Copies cfg (the caller keeps ownership of it). loop == NULL: self-driven.
 * Returns NULL with a message in err on a bad configuration. */
struct etcd_client *etcd_client_new(const struct etcd_config *cfg,
	const struct etcd_loop *loop, char *err, size_t errlen);
/* Completes pending operations with ETCD_E_CANCELED (their callbacks run
 * now) and frees every watch (no callbacks); watch handles become invalid. */
void etcd_client_free(struct etcd_client *c);

void etcd_on_fd(struct etcd_client *c, int fd, int revents);
void etcd_on_timer(struct etcd_client *c);

/* Self-driven mode: processes I/O until nothing is in flight (no operation
 * and no watch), timeout_ms passes (-1: no limit) or a callback calls
 * etcd_break(). Returns 1 when idle, 0 on timeout or break, ETCD_E_INVAL in
 * the external-loop mode. */
int etcd_run(struct etcd_client *c, int timeout_ms);
void etcd_break(struct etcd_client *c);
/* Operations in flight plus live watches. */
int etcd_pending(const struct etcd_client *c);

const char *etcd_prefix(const struct etcd_client *c);
/* The endpoint that answered last (where the next attempt starts). */
const char *etcd_current_endpoint(const struct etcd_client *c);

/* ---- results ---- */

struct etcd_kv {
	const char *key;	/* relative to the prefix (NUL-terminated) */
	size_t key_len;
	const char *full_key;	/* as stored in etcd (NUL-terminated) */
	size_t full_key_len;
	const char *value;	/* value_len bytes, any bytes, then a NUL */
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
};

enum etcd_op_type {
	ETCD_OP_RANGE,
	ETCD_OP_PUT,
	ETCD_OP_DELETE,
	ETCD_OP_TXN,
	ETCD_OP_LEASE_GRANT,
	ETCD_OP_LEASE_KEEPALIVE,
	ETCD_OP_LEASE_REVOKE,
	ETCD_OP_COMPACT,
	ETCD_OP_CALL,		/* etcd_call(): raw JSON only */
	ETCD_OP_AUTH,		/* internal */
};

struct etcd_result {
	int status;		/* ETCD_OK or ETCD_E_* */
	char errmsg[256];	/* "" on success */
	int http_status;	/* of the last attempt, 0 if none */
	int etcd_code;		/* gRPC code of an etcd error */
	int64_t compact_revision; /* watch compaction (0 when unknown) */
	enum etcd_op_type type;
	int64_t revision;	/* header.revision */
	/* range; also the kvs of a txn's range responses */
	struct etcd_kv *kvs;
	size_t n_kvs;
	int64_t count;
	bool more;
	/* put with prev_kv (at most one), delete with prev_kv */
	struct etcd_kv *prev_kvs;
	size_t n_prev_kvs;
	int64_t deleted;
	/* txn: one response per executed op (success or failure list) */
	bool succeeded;
	struct etcd_result *responses;
	size_t n_responses;
	/* lease grant / keepalive */
	int64_t lease_id, ttl;
	/* the parsed answer body (NULL for errors without a JSON body) */
	json_t json;
};

void etcd_result_clear(struct etcd_result *r);
/* Moves src into dst (dst is overwritten, not freed; src becomes empty). */
void etcd_result_move(struct etcd_result *dst, struct etcd_result *src);

typedef void etcd_cb(void *arg, struct etcd_result *res);

/* ---- requests ---- */

struct etcd_range_req {
	const char *key;	/* relative to the prefix */
	const char *range_end;	/* relative; NULL: the single key */
	bool prefix;		/* every key starting with key (no range_end) */
	int64_t limit;		/* 0: no limit */
	int64_t revision;	/* 0: the latest */
	bool keys_only, count_only;
	int timeout_ms;		/* 0: quick_timeout_ms */
};

struct etcd_put_req {
	const char *key;
	const void *value;
	size_t value_len;
	int64_t lease;		/* 0: none */
	bool prev_kv;
	int timeout_ms;
};

struct etcd_delete_req {
	const char *key;
	const char *range_end;
	bool prefix;
	bool prev_kv;
	int timeout_ms;
};

enum etcd_cmp_target {
	ETCD_CMP_VERSION,
	ETCD_CMP_CREATE,	/* create_revision; 0 = the key does not exist */
	ETCD_CMP_MOD,		/* mod_revision */
	ETCD_CMP_VALUE,
	ETCD_CMP_LEASE,
};

enum etcd_cmp_op { ETCD_CMP_EQUAL, ETCD_CMP_NOT_EQUAL, ETCD_CMP_LESS, ETCD_CMP_GREATER };

struct etcd_compare {
	const char *key;
	enum etcd_cmp_target target;
	enum etcd_cmp_op op;
	int64_t number;		/* VERSION, CREATE, MOD, LEASE */
	const void *value;	/* VALUE */
	size_t value_len;
};

struct etcd_txn_op {
	enum etcd_op_type type;	/* ETCD_OP_RANGE, ETCD_OP_PUT or ETCD_OP_DELETE */
	union {
		struct etcd_range_req range;
		struct etcd_put_req put;
		struct etcd_delete_req del;
	};
};

struct etcd_txn_req {
	const struct etcd_compare *compare;
	size_t n_compare;
	const struct etcd_txn_op *success;
	size_t n_success;
	const struct etcd_txn_op *failure;
	size_t n_failure;
	int timeout_ms;
};

/* Start an operation. Return 0 when started (the callback then runs exactly
 * once, later, never from inside this call) or a negative ETCD_E_* code when
 * not started (no callback). Request structures and the buffers they point
 * to may be reused as soon as the call returns. */
int etcd_range(struct etcd_client *c, const struct etcd_range_req *req, etcd_cb *cb, void *arg);
int etcd_put(struct etcd_client *c, const struct etcd_put_req *req, etcd_cb *cb, void *arg);
int etcd_delete(struct etcd_client *c, const struct etcd_delete_req *req, etcd_cb *cb, void *arg);
int etcd_txn(struct etcd_client *c, const struct etcd_txn_req *req, etcd_cb *cb, void *arg);
/* id 0: etcd picks the id. Result: lease_id, ttl. */
int etcd_lease_grant(struct etcd_client *c, int64_t ttl, int64_t id, etcd_cb *cb, void *arg);
/* One keepalive round trip. Result: ttl; ETCD_E_NOLEASE if the lease is gone. */
int etcd_lease_keepalive(struct etcd_client *c, int64_t id, etcd_cb *cb, void *arg);
int etcd_lease_revoke(struct etcd_client *c, int64_t id, etcd_cb *cb, void *arg);
/* Compacts the history up to revision (POST /v3/kv/compaction). */
int etcd_compact(struct etcd_client *c, int64_t revision, bool physical, etcd_cb *cb, void *arg);
/* Any other gateway call: POST <endpoint><path> (path like "/auth/user/add")
 * with a JSON body; the answer is in res->json. */
int etcd_call(struct etcd_client *c, const char *path, const char *json_body,
	bool idempotent, etcd_cb *cb, void *arg);

/* ---- blocking API (self-driven clients only) ----
 * Fill *out (always: also on error; free it with etcd_result_clear()) and
 * return out->status. */
int etcd_range_sync(struct etcd_client *c, const struct etcd_range_req *req, struct etcd_result *out);
int etcd_put_sync(struct etcd_client *c, const struct etcd_put_req *req, struct etcd_result *out);
int etcd_delete_sync(struct etcd_client *c, const struct etcd_delete_req *req, struct etcd_result *out);
int etcd_txn_sync(struct etcd_client *c, const struct etcd_txn_req *req, struct etcd_result *out);
int etcd_lease_grant_sync(struct etcd_client *c, int64_t ttl, int64_t id, struct etcd_result *out);
int etcd_lease_keepalive_sync(struct etcd_client *c, int64_t id, struct etcd_result *out);
int etcd_lease_revoke_sync(struct etcd_client *c, int64_t id, struct etcd_result *out);
int etcd_compact_sync(struct etcd_client *c, int64_t revision, bool physical, struct etcd_result *out);
int etcd_call_sync(struct etcd_client *c, const char *path, const char *json_body,
	bool idempotent, struct etcd_result *out);
/* Shorthands: one key's value as a NUL-terminated string, and a plain put. */
int etcd_get_str_sync(struct etcd_client *c, const char *key, char **value_out);
int etcd_put_str_sync(struct etcd_client *c, const char *key, const char *value);

/* ---- watches ----
 * One HTTP stream per watch. Events are delivered in revision order, every
 * revision exactly once, also across reconnects: after the stream breaks
 * (etcd restart, connection loss, garbage) the client reconnects, with
 * backoff and endpoint failover, from the revision after the last one it
 * delivered. It retries forever; each failure is reported as
 * ETCD_WATCH_RETRY and the callback may give up by cancelling. */

enum etcd_watch_kind {
	ETCD_WATCH_CREATED,	/* the stream is (re)established; revision = header */
	ETCD_WATCH_EVENTS,	/* events of one or more revisions */
	ETCD_WATCH_PROGRESS,	/* no events up to revision */
	ETCD_WATCH_RETRY,	/* the stream failed (status, errmsg); reconnecting */
	ETCD_WATCH_ERROR,	/* final: ETCD_E_COMPACTED (compact_revision set)
				 * or ETCD_E_ETCD (etcd canceled the watch). The
				 * watch is stopped: re-read and create a new one. */
};

struct etcd_event {
	bool is_delete;
	bool has_prev_kv;
	struct etcd_kv kv;	/* a DELETE has key and mod_revision only */
	struct etcd_kv prev_kv;
};

struct etcd_watch_update {
	enum etcd_watch_kind kind;
	int status;		/* RETRY, ERROR: why */
	const char *errmsg;
	int64_t revision;	/* CREATED, EVENTS, PROGRESS, ERROR: the message's
				 * header revision; RETRY: where it resumes */
	int64_t compact_revision;
	const struct etcd_event *events;
	size_t n_events;
	int failures;		/* RETRY: consecutive failures so far */
};

struct etcd_watch;

typedef void etcd_watch_cb(void *arg, struct etcd_watch *w, const struct etcd_watch_update *u);

struct etcd_watch_req {
	const char *key;	/* relative to the prefix */
	const char *range_end;	/* relative; NULL: the single key */
	bool prefix;
	int64_t start_revision;	/* 0: from now */
	bool prev_kv;
	bool progress_notify;
};

/* Starts a watch; the callback runs later. NULL on bad arguments or when
 * the client is being freed. */
struct etcd_watch *etcd_watch_create(struct etcd_client *c, const struct etcd_watch_req *req,
	etcd_watch_cb *cb, void *arg);
/* Stops and frees the watch; no callback for it runs after this. Also the
 * way to free a watch after ETCD_WATCH_ERROR. Safe inside its callback. */
void etcd_watch_cancel(struct etcd_watch *w);
/* The revision the watch would resume from (0: from now, not created yet). */
int64_t etcd_watch_next_revision(const struct etcd_watch *w);

#endif
