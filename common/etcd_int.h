/* Internals shared by etcd.c (client, loop, request engine), etcd_config.c,
 * etcd_req.c (request engine, auth), etcd_ops.c (request bodies, answer
 * parsing, results), etcd_sync.c and etcd_watch.c. Not an API. */
#ifndef VSTOR_ETCD_INT_H
#define VSTOR_ETCD_INT_H

#include <curl/curl.h>

#include "etcd.h"
#include "json.h"

#define ETCD_NEVER UINT64_MAX

/* Paths below an endpoint's base URL. */
#define ETCD_PATH_RANGE "/kv/range"
#define ETCD_PATH_PUT "/kv/put"
#define ETCD_PATH_DELETE "/kv/deleterange"
#define ETCD_PATH_TXN "/kv/txn"
#define ETCD_PATH_COMPACT "/kv/compaction"
#define ETCD_PATH_LEASE_GRANT "/lease/grant"
#define ETCD_PATH_LEASE_KEEPALIVE "/lease/keepalive"
#define ETCD_PATH_LEASE_REVOKE "/lease/revoke"
#define ETCD_PATH_AUTH "/auth/authenticate"
#define ETCD_PATH_WATCH "/watch"

/* A one-shot timer of the client's own (retry pauses, watch backoff). */
struct etcd_timer {
	uint64_t due;
	struct etcd_timer *next;
	bool armed;
	void (*fn)(void *owner);
	void *owner;
};

/* First member of everything attached to a curl easy handle (PRIVATE). */
enum etcd_xfer_kind { ETCD_XFER_REQ = 1, ETCD_XFER_WATCH = 2 };

struct etcd_req {
	enum etcd_xfer_kind xfer;
	struct etcd_client *c;
	struct etcd_req *prev, *next;	/* c->reqs */
	enum etcd_op_type type;
	char *path;
	struct strbuf body;
	bool idempotent;
	bool no_auth;		/* the authentication request itself */
	bool waiting_auth;	/* parked until a token arrives */
	bool reauthed;		/* already re-authenticated once */
	bool too_big, oom;	/* the write callback refused the answer */
	bool fail_pending;	/* final error to report from the timer */
	int fail_status;
	char fail_msg[200];
	int timeout_ms;
	int attempts;
	int ep;
	CURL *easy;
	struct curl_slist *hdrs;
	struct strbuf resp;
	char *token_used;
	struct etcd_timer timer;
	struct etcd_req *batch_next;	/* temporary lists while iterating */
	char curl_err[CURL_ERROR_SIZE];
	etcd_cb *cb;
	void *arg;
};

struct etcd_client {
	CURLM *multi;
	struct etcd_config cfg;
	size_t prefix_len;
	bool external;
	struct etcd_loop loop;
	int cur_ep;
	char *token;
	bool auth_pending;
	struct etcd_req *reqs;
	int n_reqs;
	struct etcd_watch *watches;
	int n_watches;		/* live (not cancelled) */
	struct etcd_timer *timers;
	uint64_t curl_due;	/* curl's timer (external mode) */
	uint64_t armed_due;	/* what the loop's timer is set to */
	int depth;		/* nesting of driving calls */
	bool closing;		/* being freed: refuse new work */
	bool destroy_requested;
	bool brk;
};

/* etcd_config.c */
void etcd_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int etcd_config_copy(struct etcd_config *dst, const struct etcd_config *src);
int etcd_normalize_prefix(char **prefix);

/* etcd.c */
uint64_t etcd_now_ms(void);
/* The self-driven loop until *flag becomes true (or, flag == NULL, until
 * nothing is pending), timeout_ms passes or etcd_break(). */
int etcd_run_until(struct etcd_client *c, int timeout_ms, const bool *flag);
void etcd_enter(struct etcd_client *c);
void etcd_leave(struct etcd_client *c);
void etcd_timer_init(struct etcd_timer *t, void (*fn)(void *owner), void *owner);
void etcd_timer_arm(struct etcd_client *c, struct etcd_timer *t, uint64_t delay_ms);
void etcd_timer_disarm(struct etcd_client *c, struct etcd_timer *t);
/* A POST easy handle for endpoint ep; NULL without memory. */
CURL *etcd_easy_new(struct etcd_client *c, int ep, const char *path, const char *body,
	size_t body_len, int timeout_ms, bool with_token, bool stream,
	struct curl_slist **hdrs, char *errbuf, void *priv,
	size_t (*wcb)(char *, size_t, size_t, void *));
void etcd_easy_free(struct etcd_client *c, CURL **easy, struct curl_slist **hdrs);
/* etcd_req.c: starts authentication unless it is running (no-op without
 * credentials). */
void etcd_auth_start(struct etcd_client *c);
/* True for "invalid auth token"-type errors that a new token cures. */
bool etcd_is_token_error(int etcd_code, const char *msg);
/* Forget the token if it is still tok (it was refused). */
void etcd_drop_token(struct etcd_client *c, const char *tok);

/* etcd_req.c */
struct etcd_req *etcd_req_new(struct etcd_client *c, enum etcd_op_type type, const char *path,
	bool idempotent, int timeout_ms, etcd_cb *cb, void *arg);
void etcd_req_free(struct etcd_req *r);
/* Starts r; on failure frees it and returns the error (no callback). */
int etcd_req_submit(struct etcd_req *r);
/* A transfer of r finished (from the client's completion processing). */
void etcd_req_done(struct etcd_req *r, CURLcode code);
void etcd_req_cancel_all(struct etcd_client *c);

/* etcd_ops.c */
int etcd_sb_b64(struct strbuf *sb, const void *p, size_t n);
/* Appends "key":..., and "range_end":... when needed, for relative keys. */
int etcd_sb_key_range(const struct etcd_client *c, struct strbuf *sb, const char *key,
	const char *range_end, bool prefix);
int etcd_parse_kv(const struct etcd_client *c, json_t v, struct etcd_kv *kv,
	char *err, size_t errlen);
void etcd_kv_free(struct etcd_kv *kv);
/* Parses a 2xx answer of type into r; returns r->status. */
int etcd_parse_answer(const struct etcd_client *c, enum etcd_op_type type, json_t v,
	struct etcd_result *r);
/* Reads an etcd error object ({"error":"..","message":"..","code":N} or the
 * stream form {"error":{"grpc_code":N,"message":".."}}). */
bool etcd_parse_error(json_t v, int *code, const char **msg);
void etcd_result_set(struct etcd_result *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* etcd_watch.c */
void etcd_watch_dispatch_all(struct etcd_client *c);
void etcd_watch_done(struct etcd_watch *w, CURLcode code);
void etcd_watch_auth_done(struct etcd_client *c, bool ok, const char *msg);
void etcd_watch_purge(struct etcd_client *c);
void etcd_watch_free_all(struct etcd_client *c);

#endif
