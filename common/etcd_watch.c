/* etcd watches: one streaming POST /v3/watch per watch. The gateway answers
 * with a never-ending chunked body of concatenated JSON messages
 * ({"result":{...}} or {"error":{...}}), which is split here by tracking
 * strings, escapes and bracket depth, then parsed message by message.
 *
 * Resume: next_rev is the first revision not delivered yet. It starts as
 * the requested start revision, or (watching "from now") as the created
 * message's header revision + 1, and becomes the last delivered event's
 * mod_revision + 1 (all events of one revision arrive in one message), or
 * a progress notification's revision + 1 (etcd only sends those to watchers
 * that have caught up). Every reconnect asks for start_revision = next_rev
 * and events below next_rev are dropped, so nothing is lost or repeated. */
#include "etcd_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum watch_state {
	W_WAIT,		/* timer armed: (re)connect when it fires */
	W_AUTH,		/* waiting for a token */
	W_STREAM,	/* HTTP stream running */
	W_STOPPED,	/* final error delivered */
};

struct etcd_watch {
	enum etcd_xfer_kind xfer;
	struct etcd_client *c;
	struct etcd_watch *prev, *next;
	etcd_watch_cb *cb;
	void *arg;
	struct strbuf keyjson;		/* "key":"...","range_end":"..." */
	bool prev_kv, progress_notify;
	enum watch_state state;
	bool dead;			/* cancelled; freed when the client unwinds */
	bool created;			/* the current stream got "created" */
	int64_t next_rev;
	unsigned gen;			/* bumped whenever a stream is torn down */
	int failures;
	int ep;
	CURL *easy;
	struct curl_slist *hdrs;
	struct strbuf body;
	char *token_used;
	/* stream input and splitter state */
	struct strbuf in;
	long http_status;
	size_t msg_start;
	int depth;
	bool in_str, esc;
	size_t *ends;			/* ends of complete messages in 'in' */
	size_t n_ends, cap_ends;
	int abort_status;		/* the write callback refused the data */
	char abort_msg[160];
	struct etcd_timer timer;	/* reconnect backoff / creation timeout */
	char curl_err[CURL_ERROR_SIZE];
};

static void watch_connect(void *owner);

static void watch_unlink(struct etcd_watch *w)
{
	struct etcd_client *c = w->c;

	if (w->prev)
		w->prev->next = w->next;
	else if (c->watches == w)
		c->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
}

static void watch_free(struct etcd_watch *w)
{
	etcd_easy_free(w->c, &w->easy, &w->hdrs);
	etcd_timer_disarm(w->c, &w->timer);
	sb_free(&w->keyjson);
	sb_free(&w->body);
	sb_free(&w->in);
	free(w->ends);
	free(w->token_used);
	free(w);
}

/* Drops the current stream and its buffered input. */
static void teardown(struct etcd_watch *w)
{
	etcd_easy_free(w->c, &w->easy, &w->hdrs);
	etcd_timer_disarm(w->c, &w->timer);
	sb_reset(&w->in);
	w->n_ends = 0;
	w->msg_start = 0;
	w->depth = 0;
	w->in_str = w->esc = false;
	w->abort_status = 0;
	w->abort_msg[0] = 0;
	w->http_status = 0;
	w->created = false;
	w->gen++;
}

static void notify(struct etcd_watch *w, const struct etcd_watch_update *u)
{
	if (!w->dead && w->cb)
		w->cb(w->arg, w, u);
}

static void stop(struct etcd_watch *w)
{
	teardown(w);
	if (w->state != W_STOPPED) {
		w->state = W_STOPPED;
		w->c->n_watches--;
	}
}

/* The stream failed: report it and reconnect after a backoff pause. */
static void stream_fail(struct etcd_watch *w, int status, const char *msg)
{
	struct etcd_client *c = w->c;
	struct etcd_watch_update u;
	bool was_created = w->created;
	uint64_t delay, cap = c->cfg.quick_timeout_ms < 100 ? 100 : (uint64_t)c->cfg.quick_timeout_ms;

	if (w->dead || w->state == W_STOPPED)
		return;
	teardown(w);
	w->state = W_WAIT;
	w->failures++;
	/* A stream that worked: try the client's current endpoint again (etcd
	 * may just have restarted); one that never got going: the next one. */
	if (was_created)
		w->ep = c->cur_ep;
	else
		w->ep = (int)((size_t)(w->ep + 1) % c->cfg.n_endpoints);
	delay = w->failures > 6 ? cap : (uint64_t)50 << (w->failures - 1);
	if (delay > cap)
		delay = cap;
	etcd_timer_arm(c, &w->timer, delay);
	memset(&u, 0, sizeof(u));
	u.kind = ETCD_WATCH_RETRY;
	u.status = status;
	u.errmsg = msg;
	u.failures = w->failures;
	u.revision = w->next_rev;
	notify(w, &u);
}

static void final_error(struct etcd_watch *w, int status, const char *msg, int64_t rev,
	int64_t compact_rev)
{
	struct etcd_watch_update u;

	stop(w);
	memset(&u, 0, sizeof(u));
	u.kind = ETCD_WATCH_ERROR;
	u.status = status;
	u.errmsg = msg;
	u.revision = rev;
	u.compact_revision = compact_rev;
	notify(w, &u);
}

/* ---- the stream splitter (curl write callback: no user callbacks here) ---- */

static void write_abort(struct etcd_watch *w, int status, const char *msg)
{
	w->abort_status = status;
	snprintf(w->abort_msg, sizeof(w->abort_msg), "%s", msg);
}

static size_t watch_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct etcd_watch *w = userp;
	size_t n = size * nmemb, base = w->in.len, max = w->c->cfg.max_body;

	if (w->abort_status)
		return 0;
	if (!w->http_status)
		curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &w->http_status);
	if (w->http_status != 200) {
		/* Keep the start of an error body for the message. */
		if (w->in.len < 65536 && sb_add(&w->in, data, n < 65536 - w->in.len ? n : 65536 - w->in.len)) {
			write_abort(w, ETCD_E_NOMEM, "out of memory");
			return 0;
		}
		return n;
	}
	if (sb_add(&w->in, data, n)) {
		write_abort(w, ETCD_E_NOMEM, "out of memory");
		return 0;
	}
	for (size_t i = base; i < w->in.len; i++) {
		char ch = w->in.buf[i];

		if (w->depth == 0) {
			if (ch == '{') {
				w->depth = 1;
				w->msg_start = i;
			} else if (ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t') {
				write_abort(w, ETCD_E_RESPONSE, "garbage between watch messages");
				return 0;
			}
		} else if (w->in_str) {
			if (w->esc)
				w->esc = false;
			else if (ch == '\\')
				w->esc = true;
			else if (ch == '"')
				w->in_str = false;
		} else if (ch == '"') {
			w->in_str = true;
		} else if (ch == '{' || ch == '[') {
			w->depth++;
		} else if (ch == '}' || ch == ']') {
			if (--w->depth == 0) {
				if (w->n_ends == w->cap_ends) {
					size_t cap = w->cap_ends ? w->cap_ends * 2 : 16;
					size_t *e = realloc(w->ends, cap * sizeof(*e));

					if (!e) {
						write_abort(w, ETCD_E_NOMEM, "out of memory");
						return 0;
					}
					w->ends = e;
					w->cap_ends = cap;
				}
				w->ends[w->n_ends++] = i + 1;
			}
		}
	}
	if (w->depth == 0) {
		/* Only blanks after the last complete message: drop them. */
		w->in.len = w->n_ends ? w->ends[w->n_ends - 1] : 0;
		w->in.buf[w->in.len] = 0;
	} else if (w->in.len - w->msg_start > max) {
		char msg[96];

		snprintf(msg, sizeof(msg), "watch message exceeds %zu bytes", max);
		write_abort(w, ETCD_E_RESPONSE, msg);
		return 0;
	}
	return n;
}

/* ---- messages ---- */

static void free_events(struct etcd_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		etcd_kv_free(&ev[i].kv);
		etcd_kv_free(&ev[i].prev_kv);
	}
	free(ev);
}

/* Parses the events of r that are not delivered yet. */
static int parse_events(struct etcd_watch *w, json_t a, struct etcd_event **out, size_t *n_out,
	char *err, size_t errlen)
{
	size_t len = json_len(a), n = 0;
	struct etcd_event *ev;
	int rc;

	*out = NULL;
	*n_out = 0;
	if (a && !json_is_arr(a)) {
		snprintf(err, errlen, "watch events are not an array");
		return ETCD_E_RESPONSE;
	}
	if (!len)
		return 0;
	ev = calloc(len, sizeof(*ev));
	if (!ev) {
		snprintf(err, errlen, "out of memory");
		return ETCD_E_NOMEM;
	}
	for (size_t i = 0; i < len; i++) {
		json_t e = json_at(a, i), prev = json_get(e, "prev_kv");
		const char *type = json_str(json_get(e, "type"));
		struct etcd_event *x = &ev[n];

		if (!json_is_obj(e) || (json_get(e, "type") && !type) ||
		    (type && strcmp(type, "PUT") && strcmp(type, "DELETE"))) {
			snprintf(err, errlen, "bad watch event");
			free_events(ev, n);
			return ETCD_E_RESPONSE;
		}
		x->is_delete = type && !strcmp(type, "DELETE");
		if ((rc = etcd_parse_kv(w->c, json_get(e, "kv"), &x->kv, err, errlen)) ||
		    (prev && (rc = etcd_parse_kv(w->c, prev, &x->prev_kv, err, errlen)))) {
			etcd_kv_free(&x->kv);
			free_events(ev, n);
			return rc;
		}
		x->has_prev_kv = prev != NULL;
		if (x->kv.mod_revision <= 0) {
			snprintf(err, errlen, "watch event without mod_revision");
			etcd_kv_free(&x->kv);
			etcd_kv_free(&x->prev_kv);
			free_events(ev, n);
			return ETCD_E_RESPONSE;
		}
		/* Already delivered before a reconnect: drop. */
		if (w->next_rev && x->kv.mod_revision < w->next_rev) {
			etcd_kv_free(&x->kv);
			etcd_kv_free(&x->prev_kv);
			memset(x, 0, sizeof(*x));
			continue;
		}
		n++;
	}
	*out = ev;
	*n_out = n;
	return 0;
}

/* Handles one complete message. Returns false when the stream was torn
 * down (or the watch stopped or cancelled) meanwhile. */
static bool handle_message(struct etcd_watch *w, const char *text, size_t len)
{
	struct etcd_client *c = w->c;
	struct etcd_watch_update u;
	char err[200];
	json_t v = json_parse(text, len, err, sizeof(err)), r, a;
	unsigned gen = w->gen;
	int64_t rev = 0, compact = 0;
	bool created = false, canceled = false;
	struct etcd_event *ev = NULL;
	size_t n_ev = 0;
	int rc;

	if (!v) {
		char msg[240];

		snprintf(msg, sizeof(msg), "bad watch message: %s", err);
		stream_fail(w, ETCD_E_RESPONSE, msg);
		return false;
	}
	r = json_get(v, "result");
	if (!json_is_obj(r)) {
		int code;
		const char *msg;

		if (!r && etcd_parse_error(v, &code, &msg)) {
			if (c->cfg.user && etcd_is_token_error(code, msg))
				etcd_drop_token(c, w->token_used);
			stream_fail(w, ETCD_E_ETCD, msg);
		} else {
			stream_fail(w, ETCD_E_RESPONSE, "unexpected watch message");
		}
		json_free(v);
		return false;
	}
	rc = 0;
	if (json_get(r, "header") && !json_is_obj(json_get(r, "header"))) {
		snprintf(err, sizeof(err), "watch message header is not an object");
		rc = ETCD_E_RESPONSE;
	}
	if (!rc && (json_i64(json_get(json_get(r, "header"), "revision"), &rev) &&
		    json_get(json_get(r, "header"), "revision"))) {
		snprintf(err, sizeof(err), "bad header revision");
		rc = ETCD_E_RESPONSE;
	}
	if (!rc && json_get(r, "compact_revision") && json_i64(json_get(r, "compact_revision"), &compact)) {
		snprintf(err, sizeof(err), "bad compact_revision");
		rc = ETCD_E_RESPONSE;
	}
	if (!rc && ((json_get(r, "created") && json_bool(json_get(r, "created"), &created)) ||
		    (json_get(r, "canceled") && json_bool(json_get(r, "canceled"), &canceled)))) {
		snprintf(err, sizeof(err), "bad created/canceled flag");
		rc = ETCD_E_RESPONSE;
	}
	a = json_get(r, "events");
	if (!rc)
		rc = parse_events(w, a, &ev, &n_ev, err, sizeof(err));
	if (rc) {
		char msg[240];

		snprintf(msg, sizeof(msg), "bad watch message: %s", err);
		json_free(v);
		stream_fail(w, rc, msg);
		return false;
	}
	if (compact > 0) {
		char msg[120];

		snprintf(msg, sizeof(msg), "watch start revision %" PRId64 " is compacted (up to %" PRId64 ")",
			w->next_rev, compact);
		free_events(ev, n_ev);
		json_free(v);
		final_error(w, ETCD_E_COMPACTED, msg, rev, compact);
		return false;
	}
	if (canceled) {
		const char *reason = json_str(json_get(r, "cancel_reason"));
		char msg[240];

		snprintf(msg, sizeof(msg), "watch canceled by etcd: %s", reason && reason[0] ? reason : "no reason");
		free_events(ev, n_ev);
		json_free(v);
		if (reason && c->cfg.user && etcd_is_token_error(0, reason)) {
			etcd_drop_token(c, w->token_used);
			stream_fail(w, ETCD_E_ETCD, msg);
		} else {
			final_error(w, ETCD_E_ETCD, msg, rev, 0);
		}
		return false;
	}
	memset(&u, 0, sizeof(u));
	u.revision = rev;
	if (created && !w->created) {
		w->created = true;
		w->failures = 0;
		c->cur_ep = w->ep;
		etcd_timer_disarm(c, &w->timer);
		if (!w->next_rev)
			w->next_rev = rev + 1;
		u.kind = ETCD_WATCH_CREATED;
		notify(w, &u);
		if (w->dead || w->gen != gen) {
			free_events(ev, n_ev);
			json_free(v);
			return false;
		}
	}
	if (n_ev) {
		w->next_rev = ev[n_ev - 1].kv.mod_revision + 1;
		u.kind = ETCD_WATCH_EVENTS;
		u.events = ev;
		u.n_events = n_ev;
		notify(w, &u);
	} else if (!created && !json_len(a) && w->created) {
		/* Progress notification: everything up to rev was delivered. */
		if (rev >= w->next_rev)
			w->next_rev = rev + 1;
		u.kind = ETCD_WATCH_PROGRESS;
		notify(w, &u);
	}
	free_events(ev, n_ev);
	json_free(v);
	return !w->dead && w->gen == gen;
}

static void watch_dispatch(struct etcd_watch *w)
{
	unsigned gen = w->gen;
	size_t start = 0, i;

	if (w->http_status != 200)
		return;
	for (i = 0; i < w->n_ends; i++) {
		size_t end = w->ends[i];

		if (!handle_message(w, w->in.buf + start, end - start))
			return;	/* the buffer is gone (stream torn down) */
		start = end;
	}
	if (w->dead || w->gen != gen || !start)
		return;
	memmove(w->in.buf, w->in.buf + start, w->in.len - start);
	w->in.len -= start;
	w->in.buf[w->in.len] = 0;
	w->msg_start = w->msg_start >= start ? w->msg_start - start : 0;
	w->n_ends = 0;
}

void etcd_watch_dispatch_all(struct etcd_client *c)
{
	for (struct etcd_watch *w = c->watches; w && !c->closing; w = w->next)
		if (!w->dead && w->state == W_STREAM && w->n_ends)
			watch_dispatch(w);
}

void etcd_watch_done(struct etcd_watch *w, CURLcode code)
{
	struct etcd_client *c = w->c;
	unsigned gen = w->gen;
	char msg[600];
	int status;

	/* Complete messages that came with the end of the stream go first. */
	if (w->n_ends)
		watch_dispatch(w);
	if (w->dead || w->gen != gen || w->state != W_STREAM)
		return;
	if (!w->http_status)
		curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &w->http_status);
	if (w->abort_status) {
		status = w->abort_status;
		snprintf(msg, sizeof(msg), "%s: %s", c->cfg.endpoints[w->ep], w->abort_msg);
	} else if (code != CURLE_OK) {
		status = code == CURLE_OPERATION_TIMEDOUT ? ETCD_E_TIMEOUT : ETCD_E_CONNECT;
		snprintf(msg, sizeof(msg), "%s: %s", c->cfg.endpoints[w->ep],
			w->curl_err[0] ? w->curl_err : curl_easy_strerror(code));
	} else if (w->http_status != 200) {
		json_t v = w->in.len ? json_parse(w->in.buf, w->in.len, NULL, 0) : NULL;
		int ecode;
		const char *emsg;

		if (v && etcd_parse_error(v, &ecode, &emsg)) {
			status = ETCD_E_ETCD;
			snprintf(msg, sizeof(msg), "%s", emsg);
			if (c->cfg.user && etcd_is_token_error(ecode, emsg))
				etcd_drop_token(c, w->token_used);
		} else {
			status = ETCD_E_HTTP;
			snprintf(msg, sizeof(msg), "%s: HTTP status %ld", c->cfg.endpoints[w->ep],
				w->http_status);
		}
		json_free(v);
	} else {
		status = ETCD_E_CONNECT;
		snprintf(msg, sizeof(msg), "%s: watch stream ended", c->cfg.endpoints[w->ep]);
	}
	stream_fail(w, status, msg);
}

/* ---- connecting ---- */

static void creation_timeout(void *owner)
{
	struct etcd_watch *w = owner;
	char msg[160];

	if (w->state == W_WAIT) {
		watch_connect(w);
		return;
	}
	snprintf(msg, sizeof(msg), "%s: watch not created within %d ms",
		w->c->cfg.endpoints[w->ep], w->c->cfg.slow_timeout_ms);
	stream_fail(w, ETCD_E_TIMEOUT, msg);
}

static void watch_connect(void *owner)
{
	struct etcd_watch *w = owner;
	struct etcd_client *c = w->c;

	if (w->dead || w->state == W_STOPPED || c->closing)
		return;
	if (c->cfg.user && !c->token) {
		w->state = W_AUTH;
		etcd_auth_start(c);
		return;
	}
	teardown(w);
	sb_reset(&w->body);
	sb_printf(&w->body, "{\"create_request\":{%s", w->keyjson.buf);
	if (w->next_rev)
		sb_printf(&w->body, ",\"start_revision\":%" PRId64, w->next_rev);
	if (w->prev_kv)
		sb_puts(&w->body, ",\"prev_kv\":true");
	if (w->progress_notify)
		sb_puts(&w->body, ",\"progress_notify\":true");
	sb_puts(&w->body, "}}");
	free(w->token_used);
	w->token_used = c->token ? strdup(c->token) : NULL;
	w->state = W_STREAM;
	if (!w->body.oom && (!c->token || w->token_used))
		w->easy = etcd_easy_new(c, w->ep, ETCD_PATH_WATCH, w->body.buf, w->body.len, 0,
			true, true, &w->hdrs, w->curl_err, w, watch_write);
	if (!w->easy) {
		stream_fail(w, ETCD_E_NOMEM, "out of memory");
		return;
	}
	/* The "created" message must come within the slow timeout. */
	etcd_timer_arm(c, &w->timer, (uint64_t)c->cfg.slow_timeout_ms);
}

void etcd_watch_auth_done(struct etcd_client *c, bool ok, const char *msg)
{
	for (struct etcd_watch *w = c->watches; w && !c->closing; w = w->next) {
		if (w->dead || w->state != W_AUTH)
			continue;
		w->state = W_WAIT;
		if (ok)
			watch_connect(w);
		else
			stream_fail(w, ETCD_E_ETCD, msg);
	}
}

struct etcd_watch *etcd_watch_create(struct etcd_client *c, const struct etcd_watch_req *req,
	etcd_watch_cb *cb, void *arg)
{
	struct etcd_watch *w;

	if (!c || !req || c->closing || req->start_revision < 0)
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->xfer = ETCD_XFER_WATCH;
	w->c = c;
	w->cb = cb;
	w->arg = arg;
	w->prev_kv = req->prev_kv;
	w->progress_notify = req->progress_notify;
	w->next_rev = req->start_revision;
	w->ep = c->cur_ep;
	sb_init(&w->keyjson);
	sb_init(&w->body);
	sb_init(&w->in);
	etcd_timer_init(&w->timer, creation_timeout, w);
	if (etcd_sb_key_range(c, &w->keyjson, req->key, req->range_end, req->prefix)) {
		sb_free(&w->keyjson);
		free(w);
		return NULL;
	}
	w->next = c->watches;
	if (c->watches)
		c->watches->prev = w;
	c->watches = w;
	c->n_watches++;
	/* Connect from the loop, so that no callback runs inside this call. */
	w->state = W_WAIT;
	etcd_enter(c);
	etcd_timer_arm(c, &w->timer, 0);
	etcd_leave(c);
	return w;
}

void etcd_watch_cancel(struct etcd_watch *w)
{
	struct etcd_client *c;

	if (!w || w->dead)
		return;
	c = w->c;
	if (w->state != W_STOPPED)
		c->n_watches--;
	w->state = W_STOPPED;
	teardown(w);
	w->dead = true;
	if (c->depth == 0) {
		watch_unlink(w);
		watch_free(w);
	}
}

int64_t etcd_watch_next_revision(const struct etcd_watch *w)
{
	return w->next_rev;
}

void etcd_watch_purge(struct etcd_client *c)
{
	struct etcd_watch *w = c->watches, *next;

	for (; w; w = next) {
		next = w->next;
		if (w->dead) {
			watch_unlink(w);
			watch_free(w);
		}
	}
}

void etcd_watch_free_all(struct etcd_client *c)
{
	while (c->watches) {
		struct etcd_watch *w = c->watches;

		watch_unlink(w);
		watch_free(w);
	}
	c->n_watches = 0;
}
