/* etcd request engine: attempts, failover across endpoints, retries,
 * classification of answers, and authentication tokens. */
#include "etcd_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- requests ---- */

static void req_unlink(struct etcd_req *r)
{
	struct etcd_client *c = r->c;

	if (r->prev)
		r->prev->next = r->next;
	else if (c->reqs == r)
		c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	c->n_reqs--;
}

/* Client teardown: every pending request completes with ETCD_E_CANCELED. */
void etcd_req_cancel_all(struct etcd_client *c)
{
	while (c->reqs) {
		struct etcd_req *r = c->reqs;
		struct etcd_result res;

		req_unlink(r);
		etcd_timer_disarm(c, &r->timer);
		etcd_easy_free(c, &r->easy, &r->hdrs);
		memset(&res, 0, sizeof(res));
		res.type = r->type;
		etcd_result_set(&res, ETCD_E_CANCELED, "etcd client closed");
		if (r->cb)
			r->cb(r->arg, &res);
		etcd_result_clear(&res);
		etcd_req_free(r);
	}
}

static void req_timer_fn(void *owner);

struct etcd_req *etcd_req_new(struct etcd_client *c, enum etcd_op_type type, const char *path,
	bool idempotent, int timeout_ms, etcd_cb *cb, void *arg)
{
	struct etcd_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->path = strdup(path);
	if (!r->path) {
		free(r);
		return NULL;
	}
	r->xfer = ETCD_XFER_REQ;
	r->c = c;
	r->type = type;
	r->idempotent = idempotent;
	r->timeout_ms = timeout_ms > 0 ? timeout_ms : c->cfg.quick_timeout_ms;
	r->cb = cb;
	r->arg = arg;
	sb_init(&r->body);
	sb_init(&r->resp);
	etcd_timer_init(&r->timer, req_timer_fn, r);
	return r;
}

void etcd_req_free(struct etcd_req *r)
{
	if (!r)
		return;
	sb_free(&r->body);
	sb_free(&r->resp);
	free(r->path);
	free(r->token_used);
	free(r);
}

static size_t req_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct etcd_req *r = userp;
	size_t n = size * nmemb;
	curl_off_t cl = -1;

	if (!r->resp.len && curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
	    cl > 0 && (uint64_t)cl > r->c->cfg.max_body) {
		r->too_big = true;
		return 0;
	}
	if (r->resp.len + n > r->c->cfg.max_body) {
		r->too_big = true;
		return 0;
	}
	if (sb_add(&r->resp, data, n)) {
		r->oom = true;
		return 0;
	}
	return n;
}

/* Starts one attempt. Returns 0, or ETCD_E_NOMEM when curl could not be set
 * up. Parks the request when it needs a token first. */
static int req_attempt(struct etcd_req *r)
{
	struct etcd_client *c = r->c;

	if (c->cfg.user && !r->no_auth && !c->token) {
		r->waiting_auth = true;
		etcd_auth_start(c);
		return 0;
	}
	r->waiting_auth = false;
	r->too_big = r->oom = false;
	sb_reset(&r->resp);
	free(r->token_used);
	r->token_used = NULL;
	if (!r->no_auth && c->token && !(r->token_used = strdup(c->token)))
		return ETCD_E_NOMEM;
	r->easy = etcd_easy_new(c, r->ep, r->path, r->body.buf ? r->body.buf : "{}",
		r->body.buf ? r->body.len : 2, r->timeout_ms, !r->no_auth, false,
		&r->hdrs, r->curl_err, r, req_write);
	return r->easy ? 0 : ETCD_E_NOMEM;
}

static void req_finish(struct etcd_req *r, struct etcd_result *res)
{
	struct etcd_client *c = r->c;

	req_unlink(r);
	etcd_timer_disarm(c, &r->timer);
	etcd_easy_free(c, &r->easy, &r->hdrs);
	res->type = r->type;
	if (r->cb)
		r->cb(r->arg, res);
	etcd_result_clear(res);
	etcd_req_free(r);
}

static void req_fail(struct etcd_req *r, int status, const char *msg)
{
	struct etcd_result res;

	memset(&res, 0, sizeof(res));
	etcd_result_set(&res, status, "%s", msg);
	req_finish(r, &res);
}

/* Reports a final error from the timer, so that it never happens inside
 * the call that started the operation. */
static void req_fail_async(struct etcd_req *r, int status, const char *msg)
{
	r->fail_pending = true;
	r->fail_status = status;
	snprintf(r->fail_msg, sizeof(r->fail_msg), "%s", msg);
	etcd_timer_arm(r->c, &r->timer, 0);
}

static void req_timer_fn(void *owner)
{
	struct etcd_req *r = owner;

	if (r->fail_pending) {
		req_fail(r, r->fail_status, r->fail_msg);
		return;
	}
	if (req_attempt(r))
		req_fail(r, ETCD_E_NOMEM, "out of memory");
}

int etcd_req_submit(struct etcd_req *r)
{
	struct etcd_client *c = r->c;
	int rc;

	if (c->closing) {
		etcd_req_free(r);
		return ETCD_E_CANCELED;
	}
	if (r->body.oom) {
		etcd_req_free(r);
		return ETCD_E_NOMEM;
	}
	r->ep = c->cur_ep;
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	c->n_reqs++;
	etcd_enter(c);
	rc = req_attempt(r);
	if (rc) {
		req_unlink(r);
		etcd_easy_free(c, &r->easy, &r->hdrs);
		etcd_req_free(r);
	}
	etcd_leave(c);
	return rc;
}

/* Schedules the next attempt on the next endpoint, pausing after each full
 * round over the endpoints. False when the attempts are used up. */
static bool req_retry(struct etcd_req *r)
{
	struct etcd_client *c = r->c;
	size_t n = c->cfg.n_endpoints;
	uint64_t delay = 0;

	r->attempts++;
	if (r->attempts >= c->cfg.max_attempts)
		return false;
	etcd_easy_free(c, &r->easy, &r->hdrs);
	r->ep = (int)((size_t)(r->ep + 1) % n);
	if ((size_t)r->attempts % n == 0) {
		unsigned round = (unsigned)((size_t)r->attempts / n);

		delay = round > 5 ? 1000 : 50u << (round - 1);
		if (delay > 1000)
			delay = 1000;
	}
	etcd_timer_arm(c, &r->timer, delay);
	return true;
}

bool etcd_is_token_error(int etcd_code, const char *msg)
{
	return msg && (strstr(msg, "invalid auth token") || strstr(msg, "auth token expired"));
}

void etcd_drop_token(struct etcd_client *c, const char *tok)
{
	if (c->token && tok && !strcmp(c->token, tok)) {
		free(c->token);
		c->token = NULL;
	}
}

static bool curl_unsent(CURL *easy, CURLcode code)
{
	long reqsize = -1;

	if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
	    code == CURLE_COULDNT_RESOLVE_PROXY)
		return true;
	return curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &reqsize) == CURLE_OK && reqsize == 0;
}

static int curl_status(CURLcode code)
{
	switch (code) {
	case CURLE_OPERATION_TIMEDOUT:
		return ETCD_E_TIMEOUT;
	case CURLE_PARTIAL_FILE:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return ETCD_E_RESPONSE;
	default:
		return ETCD_E_CONNECT;
	}
}

void etcd_req_done(struct etcd_req *r, CURLcode code)
{
	struct etcd_client *c = r->c;
	struct etcd_result res;
	long http = 0;
	bool retryable = false;
	char err[256];
	json_t v = NULL;

	memset(&res, 0, sizeof(res));
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &http);
	res.http_status = (int)http;
	if (code != CURLE_OK) {
		if (r->too_big) {
			etcd_result_set(&res, ETCD_E_RESPONSE, "%s: answer exceeds %zu bytes",
				c->cfg.endpoints[r->ep], c->cfg.max_body);
		} else if (r->oom) {
			etcd_result_set(&res, ETCD_E_NOMEM, "out of memory");
		} else {
			retryable = r->idempotent || curl_unsent(r->easy, code);
			etcd_result_set(&res, curl_status(code), "%s: %s", c->cfg.endpoints[r->ep],
				r->curl_err[0] ? r->curl_err : curl_easy_strerror(code));
		}
	} else {
		v = r->resp.len ? json_parse(r->resp.buf, r->resp.len, err, sizeof(err)) : NULL;
		if (http >= 200 && http < 300) {
			if (!v) {
				etcd_result_set(&res, ETCD_E_RESPONSE, "%s: %s", c->cfg.endpoints[r->ep],
					r->resp.len ? err : "empty answer");
			} else {
				res.json = v;
				v = NULL;
				etcd_parse_answer(c, r->type, res.json, &res);
			}
		} else {
			int ecode = 0;
			const char *msg = NULL;

			if (v && etcd_parse_error(v, &ecode, &msg)) {
				res.etcd_code = ecode;
				etcd_result_set(&res, strstr(msg, "required revision has been compacted") ?
					ETCD_E_COMPACTED : ETCD_E_ETCD, "%s", msg);
				if (c->cfg.user && !r->no_auth && !r->reauthed &&
				    etcd_is_token_error(ecode, msg)) {
					json_free(v);
					etcd_result_clear(&res);
					r->reauthed = true;
					etcd_easy_free(c, &r->easy, &r->hdrs);
					etcd_drop_token(c, r->token_used);
					if (req_attempt(r))
						req_fail(r, ETCD_E_NOMEM, "out of memory");
					return;
				}
			} else {
				etcd_result_set(&res, ETCD_E_HTTP, "%s: HTTP status %ld",
					c->cfg.endpoints[r->ep], http);
			}
			retryable = http >= 500 && r->idempotent;
			if (v) {
				res.json = v;
				v = NULL;
			}
		}
	}
	json_free(v);
	if (http > 0 && http < 500)
		c->cur_ep = r->ep;	/* it answered */
	if (res.status != ETCD_OK && retryable && req_retry(r)) {
		etcd_result_clear(&res);
		return;
	}
	if (res.status != ETCD_OK && r->attempts > 1 &&
	    (res.status == ETCD_E_CONNECT || res.status == ETCD_E_TIMEOUT)) {
		size_t l = strlen(res.errmsg);

		snprintf(res.errmsg + l, sizeof(res.errmsg) - l, " (after %d attempts)", r->attempts);
	}
	req_finish(r, &res);
}

/* ---- authentication ---- */

static void auth_done(void *arg, struct etcd_result *res)
{
	struct etcd_client *c = arg;
	struct etcd_req *batch = NULL, *r;
	const char *tok = json_str(json_get(res->json, "token"));
	bool ok = res->status == ETCD_OK && tok && tok[0];
	char msg[320];

	c->auth_pending = false;
	if (ok) {
		free(c->token);
		c->token = strdup(tok);
		ok = c->token != NULL;
	}
	snprintf(msg, sizeof(msg), "etcd authentication failed: %s",
		res->status ? res->errmsg : ok ? "" : "no token in the answer");
	for (r = c->reqs; r; r = r->next) {
		if (r->waiting_auth) {
			r->batch_next = batch;
			batch = r;
		}
	}
	while (batch && !c->closing) {
		r = batch;
		batch = r->batch_next;
		r->batch_next = NULL;
		r->waiting_auth = false;
		if (!ok)
			req_fail(r, res->status ? res->status : ETCD_E_RESPONSE, msg);
		else if (req_attempt(r))
			req_fail(r, ETCD_E_NOMEM, "out of memory");
	}
	if (!c->closing)
		etcd_watch_auth_done(c, ok, msg);
}

void etcd_auth_start(struct etcd_client *c)
{
	struct etcd_req *r;

	if (c->auth_pending || !c->cfg.user || c->closing)
		return;
	r = etcd_req_new(c, ETCD_OP_AUTH, ETCD_PATH_AUTH, true, 0, auth_done, c);
	if (!r)
		return;
	r->no_auth = true;
	sb_puts(&r->body, "{\"name\":");
	sb_json_str(&r->body, c->cfg.user);
	sb_puts(&r->body, ",\"password\":");
	sb_json_str(&r->body, c->cfg.password);
	sb_puts(&r->body, "}");
	c->auth_pending = true;
	if (etcd_req_submit(r)) {
		struct etcd_req *w;

		/* Without memory: fail the waiting requests from the timer. */
		c->auth_pending = false;
		for (w = c->reqs; w; w = w->next)
			if (w->waiting_auth && !w->fail_pending)
				req_fail_async(w, ETCD_E_NOMEM, "out of memory");
	}
}
