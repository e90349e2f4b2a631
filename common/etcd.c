/* etcd client: client lifetime, event-loop integration (external loop and
 * self-driven), timers, curl easy handle setup. */
#include "etcd_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- small helpers ---- */

uint64_t etcd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *etcd_strerror(int status)
{
	switch (status) {
	case ETCD_OK: return "success";
	case ETCD_E_CONNECT: return "cannot reach etcd";
	case ETCD_E_TIMEOUT: return "etcd request timed out";
	case ETCD_E_HTTP: return "unexpected HTTP status";
	case ETCD_E_RESPONSE: return "bad answer from etcd";
	case ETCD_E_ETCD: return "etcd error";
	case ETCD_E_COMPACTED: return "revision compacted";
	case ETCD_E_NOLEASE: return "lease not found";
	case ETCD_E_CANCELED: return "canceled";
	case ETCD_E_INVAL: return "invalid argument";
	case ETCD_E_NOMEM: return "out of memory";
	default: return "unknown error";
	}
}

/* ---- client ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int curl_sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct etcd_client *c = userp;
	int ev = 0;

	if (what == CURL_POLL_REMOVE) {
		ev = ETCD_POLL_REMOVE;
	} else {
		if (what & CURL_POLL_IN)
			ev |= ETCD_POLL_IN;
		if (what & CURL_POLL_OUT)
			ev |= ETCD_POLL_OUT;
	}
	c->loop.watch_fd(c->loop.ctx, (int)fd, ev);
	return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct etcd_client *c = userp;

	c->curl_due = timeout_ms < 0 ? ETCD_NEVER : etcd_now_ms() + (uint64_t)timeout_ms;
	return 0;
}

struct etcd_client *etcd_client_new(const struct etcd_config *cfg, const struct etcd_loop *loop,
	char *err, size_t errlen)
{
	struct etcd_client *c;

	etcd_set_err(err, errlen, "%s", "");
	if (!cfg || !cfg->n_endpoints) {
		etcd_set_err(err, errlen, "no etcd endpoints configured");
		return NULL;
	}
	if (cfg->quick_timeout_ms <= 0 || cfg->slow_timeout_ms <= 0 || cfg->max_attempts <= 0 ||
	    cfg->max_body < 1024 || !cfg->user != !cfg->password) {
		etcd_set_err(err, errlen, "invalid etcd client configuration");
		return NULL;
	}
	if (loop && (!loop->watch_fd || !loop->set_timer)) {
		etcd_set_err(err, errlen, "event loop hooks missing");
		return NULL;
	}
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK) {
		etcd_set_err(err, errlen, "curl_global_init failed");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		etcd_set_err(err, errlen, "out of memory");
		return NULL;
	}
	c->curl_due = ETCD_NEVER;
	c->armed_due = ETCD_NEVER;
	if (etcd_config_copy(&c->cfg, cfg) || etcd_normalize_prefix(&c->cfg.prefix)) {
		etcd_set_err(err, errlen, "out of memory");
		goto fail;
	}
	c->prefix_len = strlen(c->cfg.prefix);
	c->multi = curl_multi_init();
	if (!c->multi) {
		etcd_set_err(err, errlen, "curl_multi_init failed");
		goto fail;
	}
	/* Bursts of operations queue inside curl instead of opening a socket
	 * each; every watch holds one of these connections. */
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
	if (loop) {
		c->external = true;
		c->loop = *loop;
		curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb);
		curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
		curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
		curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	}
	return c;
fail:
	etcd_config_free(&c->cfg);
	free(c);
	return NULL;
}

static void client_destroy(struct etcd_client *c)
{
	c->closing = true;
	c->depth++;	/* anything freed from the callbacks below is deferred */
	etcd_req_cancel_all(c);
	etcd_watch_free_all(c);
	c->timers = NULL;
	if (c->external)
		c->loop.set_timer(c->loop.ctx, -1);
	curl_multi_cleanup(c->multi);
	free(c->token);
	etcd_config_free(&c->cfg);
	free(c);
}

void etcd_client_free(struct etcd_client *c)
{
	if (!c)
		return;
	if (c->depth > 0) {
		c->closing = true;
		c->destroy_requested = true;
		return;
	}
	client_destroy(c);
}

const char *etcd_prefix(const struct etcd_client *c)
{
	return c->cfg.prefix;
}

const char *etcd_current_endpoint(const struct etcd_client *c)
{
	return c->cfg.endpoints[c->cur_ep];
}

int etcd_pending(const struct etcd_client *c)
{
	return c->n_reqs + c->n_watches;
}

/* ---- timers and driving ---- */

void etcd_timer_init(struct etcd_timer *t, void (*fn)(void *owner), void *owner)
{
	memset(t, 0, sizeof(*t));
	t->fn = fn;
	t->owner = owner;
}

void etcd_timer_disarm(struct etcd_client *c, struct etcd_timer *t)
{
	struct etcd_timer **pp;

	if (!t->armed)
		return;
	for (pp = &c->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->next = NULL;
	t->armed = false;
}

void etcd_timer_arm(struct etcd_client *c, struct etcd_timer *t, uint64_t delay_ms)
{
	struct etcd_timer **pp;

	etcd_timer_disarm(c, t);
	t->due = etcd_now_ms() + delay_ms;
	for (pp = &c->timers; *pp && (*pp)->due <= t->due; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	t->armed = true;
}

static void run_timers(struct etcd_client *c)
{
	uint64_t now = etcd_now_ms();

	while (!c->closing && c->timers && c->timers->due <= now) {
		struct etcd_timer *t = c->timers;

		c->timers = t->next;
		t->next = NULL;
		t->armed = false;
		t->fn(t->owner);
	}
}

/* Completions and watch data after a curl call. User callbacks run here. */
static void process(struct etcd_client *c)
{
	CURLMsg *m;
	int left;

	etcd_watch_dispatch_all(c);
	while (!c->closing && (m = curl_multi_info_read(c->multi, &left))) {
		CURL *easy = m->easy_handle;
		CURLcode code = m->data.result;
		enum etcd_xfer_kind *kind = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&kind);
		if (!kind)
			continue;
		if (*kind == ETCD_XFER_REQ)
			etcd_req_done((struct etcd_req *)kind, code);
		else
			etcd_watch_done((struct etcd_watch *)kind, code);
	}
}

void etcd_enter(struct etcd_client *c)
{
	c->depth++;
}

static void sync_timer(struct etcd_client *c)
{
	uint64_t due = c->curl_due, now;

	if (c->timers && c->timers->due < due)
		due = c->timers->due;
	if (due == c->armed_due)
		return;
	c->armed_due = due;
	if (due == ETCD_NEVER) {
		c->loop.set_timer(c->loop.ctx, -1);
		return;
	}
	now = etcd_now_ms();
	c->loop.set_timer(c->loop.ctx, due > now ? (int)(due - now > 86400000 ? 86400000 : due - now) : 0);
}

void etcd_leave(struct etcd_client *c)
{
	if (--c->depth > 0)
		return;
	if (c->destroy_requested) {
		client_destroy(c);
		return;
	}
	etcd_watch_purge(c);
	if (c->external)
		sync_timer(c);
}

static void refresh_curl_due(struct etcd_client *c)
{
	long ms = -1;

	if (c->curl_due == ETCD_NEVER && curl_multi_timeout(c->multi, &ms) == CURLM_OK && ms >= 0)
		c->curl_due = etcd_now_ms() + (uint64_t)ms;
}

void etcd_on_fd(struct etcd_client *c, int fd, int revents)
{
	int running = 0, mask = 0;

	if (!c->external || c->closing)
		return;
	etcd_enter(c);
	if (revents & ETCD_POLL_IN)
		mask |= CURL_CSELECT_IN;
	if (revents & ETCD_POLL_OUT)
		mask |= CURL_CSELECT_OUT;
	if (revents & ETCD_POLL_ERR)
		mask |= CURL_CSELECT_ERR;
	curl_multi_socket_action(c->multi, fd, mask, &running);
	process(c);
	run_timers(c);
	etcd_leave(c);
}

void etcd_on_timer(struct etcd_client *c)
{
	int running = 0;

	if (!c->external || c->closing)
		return;
	etcd_enter(c);
	c->armed_due = ETCD_NEVER;	/* the loop's one-shot timer is spent */
	if (c->curl_due != ETCD_NEVER && etcd_now_ms() >= c->curl_due) {
		c->curl_due = ETCD_NEVER;
		curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		refresh_curl_due(c);
		process(c);
	}
	run_timers(c);
	etcd_leave(c);
}

void etcd_break(struct etcd_client *c)
{
	c->brk = true;
}

/* The self-driven loop: until *flag (or idle when flag is NULL), timeout or
 * break. */
int etcd_run_until(struct etcd_client *c, int timeout_ms, const bool *flag)
{
	uint64_t deadline = timeout_ms < 0 ? ETCD_NEVER : etcd_now_ms() + (uint64_t)timeout_ms;
	int ret = 0;

	if (c->external)
		return ETCD_E_INVAL;
	etcd_enter(c);
	for (;;) {
		int running = 0;
		long ms = -1;
		uint64_t now, wait;

		curl_multi_perform(c->multi, &running);
		process(c);
		run_timers(c);
		if (c->closing)
			break;
		if (flag ? *flag : etcd_pending(c) == 0) {
			ret = 1;
			break;
		}
		if (c->brk) {
			c->brk = false;
			break;
		}
		now = etcd_now_ms();
		if (now >= deadline)
			break;
		wait = deadline - now;
		if (curl_multi_timeout(c->multi, &ms) == CURLM_OK && ms >= 0 && (uint64_t)ms < wait)
			wait = (uint64_t)ms;
		if (c->timers)
			wait = c->timers->due > now ? (c->timers->due - now < wait ? c->timers->due - now : wait) : 0;
		if (wait > 1000)
			wait = 1000;
		if (wait)
			curl_multi_poll(c->multi, NULL, 0, (int)wait, NULL);
	}
	etcd_leave(c);
	return ret;
}

int etcd_run(struct etcd_client *c, int timeout_ms)
{
	return etcd_run_until(c, timeout_ms, NULL);
}

/* ---- curl easy handles ---- */

CURL *etcd_easy_new(struct etcd_client *c, int ep, const char *path, const char *body,
	size_t body_len, int timeout_ms, bool with_token, bool stream,
	struct curl_slist **hdrs, char *errbuf, void *priv,
	size_t (*wcb)(char *, size_t, size_t, void *))
{
	CURL *e = curl_easy_init();
	struct curl_slist *h = NULL, *t;
	struct strbuf url;
	int connect_ms = c->cfg.quick_timeout_ms;

	*hdrs = NULL;
	if (!e)
		return NULL;
	sb_init(&url);
	sb_printf(&url, "%s%s", c->cfg.endpoints[ep], path);
	if (url.oom)
		goto fail;
	t = curl_slist_append(h, "Content-Type: application/json");
	if (!t)
		goto fail;
	h = t;
	/* No "Expect: 100-continue" round trip for bigger bodies. */
	t = curl_slist_append(h, "Expect:");
	if (!t)
		goto fail;
	h = t;
	if (with_token && c->token) {
		struct strbuf a;

		sb_init(&a);
		sb_printf(&a, "Authorization: %s", c->token);
		t = a.oom ? NULL : curl_slist_append(h, a.buf);
		sb_free(&a);
		if (!t)
			goto fail;
		h = t;
	}
	if (timeout_ms > 0 && timeout_ms < connect_ms)
		connect_ms = timeout_ms;
	errbuf[0] = 0;
	if (curl_easy_setopt(e, CURLOPT_URL, url.buf) != CURLE_OK)
		goto fail;
	curl_easy_setopt(e, CURLOPT_PRIVATE, priv);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, wcb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, priv);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 0));
	if (stream) {
		/* A watch holds its own connection for its whole life. */
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
		curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, (long)c->cfg.keepalive_interval_s);
		curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, (long)c->cfg.keepalive_interval_s);
	}
	if (c->cfg.ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->cfg.ca_file);
	if (c->cfg.cert_file)
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cfg.cert_file);
	if (c->cfg.key_file)
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->cfg.key_file);
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
		goto fail;
	sb_free(&url);
	*hdrs = h;
	return e;
fail:
	sb_free(&url);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return NULL;
}

void etcd_easy_free(struct etcd_client *c, CURL **easy, struct curl_slist **hdrs)
{
	if (*easy) {
		curl_multi_remove_handle(c->multi, *easy);
		curl_easy_cleanup(*easy);
		*easy = NULL;
	}
	curl_slist_free_all(*hdrs);
	*hdrs = NULL;
}
