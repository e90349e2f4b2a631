/* etcd operations: JSON request bodies for the gateway, parsing of its
 * answers into struct etcd_result, and the asynchronous entry points. */
#include "etcd_int.h"
#include "base64.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- results ---- */

void etcd_result_set(struct etcd_result *r, int status, const char *fmt, ...)
{
	va_list ap;

	r->status = status;
	va_start(ap, fmt);
	vsnprintf(r->errmsg, sizeof(r->errmsg), fmt, ap);
	va_end(ap);
}

void etcd_kv_free(struct etcd_kv *kv)
{
	free((char *)kv->full_key);
	memset(kv, 0, sizeof(*kv));
}

static void kvs_free(struct etcd_kv *kvs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		etcd_kv_free(&kvs[i]);
	free(kvs);
}

void etcd_result_clear(struct etcd_result *r)
{
	if (!r)
		return;
	kvs_free(r->kvs, r->n_kvs);
	kvs_free(r->prev_kvs, r->n_prev_kvs);
	for (size_t i = 0; i < r->n_responses; i++)
		etcd_result_clear(&r->responses[i]);
	free(r->responses);
	json_free(r->json);
	memset(r, 0, sizeof(*r));
}

void etcd_result_move(struct etcd_result *dst, struct etcd_result *src)
{
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

/* ---- request bodies ---- */

int etcd_sb_b64(struct strbuf *sb, const void *p, size_t n)
{
	const unsigned char *s = p;
	char enc[1024 + 1];

	sb_add(sb, "\"", 1);
	/* 768 input bytes make exactly 1024 characters without padding. */
	while (n > 0) {
		size_t part = n > 768 ? 768 : n;
		size_t len = b64_encode(s, part, enc);

		sb_add(sb, enc, len);
		s += part;
		n -= part;
	}
	return sb_add(sb, "\"", 1);
}

/* The full key: prefix + "/" + key. */
static void full_key(const struct etcd_client *c, const char *key, struct strbuf *out)
{
	if (c->prefix_len) {
		sb_add(out, c->cfg.prefix, c->prefix_len);
		sb_add(out, "/", 1);
	}
	sb_puts(out, key);
}

int etcd_sb_key_range(const struct etcd_client *c, struct strbuf *sb, const char *key,
	const char *range_end, bool prefix)
{
	struct strbuf k;

	if (!key || (prefix && range_end))
		return ETCD_E_INVAL;
	sb_init(&k);
	full_key(c, key, &k);
	sb_puts(sb, "\"key\":");
	etcd_sb_b64(sb, k.buf ? k.buf : "", k.len);
	if (prefix) {
		/* The end of a prefix range: the prefix with its last byte that is
		 * not 0xff incremented and the rest cut; "\0" (no end) if none. */
		size_t len = k.len;
		unsigned char *b = (unsigned char *)k.buf;

		while (len > 0 && b[len - 1] == 0xff)
			len--;
		sb_puts(sb, ",\"range_end\":");
		if (len) {
			b[len - 1]++;
			etcd_sb_b64(sb, b, len);
		} else {
			etcd_sb_b64(sb, "", 1);
		}
	} else if (range_end) {
		sb_reset(&k);
		full_key(c, range_end, &k);
		sb_puts(sb, ",\"range_end\":");
		etcd_sb_b64(sb, k.buf ? k.buf : "", k.len);
	}
	if (k.oom)
		sb->oom = true;
	sb_free(&k);
	return sb->oom ? ETCD_E_NOMEM : 0;
}

static int build_range(const struct etcd_client *c, struct strbuf *sb, const struct etcd_range_req *q)
{
	int rc;

	sb_puts(sb, "{");
	if ((rc = etcd_sb_key_range(c, sb, q->key, q->range_end, q->prefix)))
		return rc;
	if (q->limit < 0 || q->revision < 0)
		return ETCD_E_INVAL;
	if (q->limit)
		sb_printf(sb, ",\"limit\":%" PRId64, q->limit);
	if (q->revision)
		sb_printf(sb, ",\"revision\":%" PRId64, q->revision);
	if (q->keys_only)
		sb_puts(sb, ",\"keys_only\":true");
	if (q->count_only)
		sb_puts(sb, ",\"count_only\":true");
	sb_puts(sb, "}");
	return sb->oom ? ETCD_E_NOMEM : 0;
}

static int build_put(const struct etcd_client *c, struct strbuf *sb, const struct etcd_put_req *q)
{
	int rc;

	if (!q->value && q->value_len)
		return ETCD_E_INVAL;
	sb_puts(sb, "{");
	if ((rc = etcd_sb_key_range(c, sb, q->key, NULL, false)))
		return rc;
	sb_puts(sb, ",\"value\":");
	etcd_sb_b64(sb, q->value ? q->value : "", q->value_len);
	if (q->lease)
		sb_printf(sb, ",\"lease\":%" PRId64, q->lease);
	if (q->prev_kv)
		sb_puts(sb, ",\"prev_kv\":true");
	sb_puts(sb, "}");
	return sb->oom ? ETCD_E_NOMEM : 0;
}

static int build_delete(const struct etcd_client *c, struct strbuf *sb, const struct etcd_delete_req *q)
{
	int rc;

	sb_puts(sb, "{");
	if ((rc = etcd_sb_key_range(c, sb, q->key, q->range_end, q->prefix)))
		return rc;
	if (q->prev_kv)
		sb_puts(sb, ",\"prev_kv\":true");
	sb_puts(sb, "}");
	return sb->oom ? ETCD_E_NOMEM : 0;
}

static int build_compare(const struct etcd_client *c, struct strbuf *sb, const struct etcd_compare *q)
{
	static const char *const targets[] = { "VERSION", "CREATE", "MOD", "VALUE", "LEASE" };
	static const char *const fields[] = { "version", "create_revision", "mod_revision", "value", "lease" };
	static const char *const ops[] = { "EQUAL", "NOT_EQUAL", "LESS", "GREATER" };
	int rc;

	if ((unsigned)q->target > ETCD_CMP_LEASE || (unsigned)q->op > ETCD_CMP_GREATER)
		return ETCD_E_INVAL;
	if (q->target == ETCD_CMP_VALUE && !q->value && q->value_len)
		return ETCD_E_INVAL;
	sb_puts(sb, "{");
	if ((rc = etcd_sb_key_range(c, sb, q->key, NULL, false)))
		return rc;
	sb_printf(sb, ",\"target\":\"%s\",\"result\":\"%s\",\"%s\":", targets[q->target],
		ops[q->op], fields[q->target]);
	if (q->target == ETCD_CMP_VALUE)
		etcd_sb_b64(sb, q->value ? q->value : "", q->value_len);
	else
		sb_printf(sb, "%" PRId64, q->number);
	sb_puts(sb, "}");
	return sb->oom ? ETCD_E_NOMEM : 0;
}

static int build_txn_ops(const struct etcd_client *c, struct strbuf *sb, const char *name,
	const struct etcd_txn_op *ops, size_t n)
{
	int rc = 0;

	if (n && !ops)
		return ETCD_E_INVAL;
	sb_printf(sb, ",\"%s\":[", name);
	for (size_t i = 0; !rc && i < n; i++) {
		if (i)
			sb_puts(sb, ",");
		switch (ops[i].type) {
		case ETCD_OP_RANGE:
			sb_puts(sb, "{\"request_range\":");
			rc = build_range(c, sb, &ops[i].range);
			break;
		case ETCD_OP_PUT:
			sb_puts(sb, "{\"request_put\":");
			rc = build_put(c, sb, &ops[i].put);
			break;
		case ETCD_OP_DELETE:
			sb_puts(sb, "{\"request_delete_range\":");
			rc = build_delete(c, sb, &ops[i].del);
			break;
		default:
			rc = ETCD_E_INVAL;
		}
		sb_puts(sb, "}");
	}
	sb_puts(sb, "]");
	return rc ? rc : sb->oom ? ETCD_E_NOMEM : 0;
}

static int build_txn(const struct etcd_client *c, struct strbuf *sb, const struct etcd_txn_req *q)
{
	int rc = 0;

	if (q->n_compare && !q->compare)
		return ETCD_E_INVAL;
	sb_puts(sb, "{\"compare\":[");
	for (size_t i = 0; !rc && i < q->n_compare; i++) {
		if (i)
			sb_puts(sb, ",");
		rc = build_compare(c, sb, &q->compare[i]);
	}
	sb_puts(sb, "]");
	if (!rc)
		rc = build_txn_ops(c, sb, "success", q->success, q->n_success);
	if (!rc)
		rc = build_txn_ops(c, sb, "failure", q->failure, q->n_failure);
	sb_puts(sb, "}");
	return rc ? rc : sb->oom ? ETCD_E_NOMEM : 0;
}

/* ---- answers ---- */

/* An optional int64 member (numbers or numeric strings). */
static int get_i64(json_t obj, const char *key, int64_t *out, char *err, size_t errlen)
{
	json_t v = json_get(obj, key);

	*out = 0;
	if (!v)
		return 0;
	if (json_i64(v, out)) {
		snprintf(err, errlen, "\"%s\" is not an integer", key);
		return ETCD_E_RESPONSE;
	}
	return 0;
}

static int get_bool(json_t obj, const char *key, bool *out, char *err, size_t errlen)
{
	json_t v = json_get(obj, key);

	*out = false;
	if (!v)
		return 0;
	if (json_bool(v, out)) {
		snprintf(err, errlen, "\"%s\" is not a boolean", key);
		return ETCD_E_RESPONSE;
	}
	return 0;
}

int etcd_parse_kv(const struct etcd_client *c, json_t v, struct etcd_kv *kv, char *err, size_t errlen)
{
	json_t k = json_get(v, "key"), val = json_get(v, "value");
	const char *ks, *vs;
	size_t klen, vlen;
	char *buf;
	long kl, vl;
	int rc;

	memset(kv, 0, sizeof(*kv));
	if (!json_is_obj(v)) {
		snprintf(err, errlen, "key-value is not an object");
		return ETCD_E_RESPONSE;
	}
	if (!json_is_str(k) || (val && !json_is_str(val))) {
		snprintf(err, errlen, "key-value without a string key/value");
		return ETCD_E_RESPONSE;
	}
	ks = json_str(k);
	vs = val ? json_str(val) : "";
	klen = strlen(ks);
	vlen = strlen(vs);
	buf = malloc(b64_decoded_max(klen) + b64_decoded_max(vlen) + 2);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return ETCD_E_NOMEM;
	}
	kl = b64_decode(ks, klen, buf);
	vl = kl < 0 ? -1 : b64_decode(vs, vlen, buf + kl + 1);
	if (kl < 0 || vl < 0) {
		free(buf);
		snprintf(err, errlen, "%s is not valid base64", kl < 0 ? "key" : "value");
		return ETCD_E_RESPONSE;
	}
	buf[kl] = 0;
	buf[kl + 1 + vl] = 0;
	kv->full_key = kv->key = buf;
	kv->full_key_len = kv->key_len = (size_t)kl;
	kv->value = buf + kl + 1;
	kv->value_len = (size_t)vl;
	if (c->prefix_len && (size_t)kl > c->prefix_len &&
	    !memcmp(buf, c->cfg.prefix, c->prefix_len) && buf[c->prefix_len] == '/') {
		kv->key = buf + c->prefix_len + 1;
		kv->key_len = (size_t)kl - c->prefix_len - 1;
	}
	if ((rc = get_i64(v, "create_revision", &kv->create_revision, err, errlen)) ||
	    (rc = get_i64(v, "mod_revision", &kv->mod_revision, err, errlen)) ||
	    (rc = get_i64(v, "version", &kv->version, err, errlen)) ||
	    (rc = get_i64(v, "lease", &kv->lease, err, errlen))) {
		etcd_kv_free(kv);
		return rc;
	}
	return 0;
}

static int parse_kvs(const struct etcd_client *c, json_t a, struct etcd_kv **out, size_t *n,
	char *err, size_t errlen)
{
	size_t len;
	int rc;

	if (!a)
		return 0;
	if (!json_is_arr(a)) {
		snprintf(err, errlen, "key-value list is not an array");
		return ETCD_E_RESPONSE;
	}
	len = json_len(a);
	if (!len)
		return 0;
	*out = calloc(len, sizeof(**out));
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return ETCD_E_NOMEM;
	}
	for (size_t i = 0; i < len; i++) {
		if ((rc = etcd_parse_kv(c, json_at(a, i), &(*out)[i], err, errlen)))
			return rc;
		(*n)++;
	}
	return 0;
}

static int parse_header(json_t v, bool required, struct etcd_result *r, char *err, size_t errlen)
{
	json_t h = json_get(v, "header");

	if (!json_is_obj(v)) {
		snprintf(err, errlen, "answer is not a JSON object");
		return ETCD_E_RESPONSE;
	}
	if (!h && !required)
		return 0;
	if (!json_is_obj(h)) {
		snprintf(err, errlen, "answer without a header");
		return ETCD_E_RESPONSE;
	}
	return get_i64(h, "revision", &r->revision, err, errlen);
}

static int parse_op(const struct etcd_client *c, enum etcd_op_type type, json_t v, bool top,
	struct etcd_result *r, char *err, size_t errlen);

static int parse_txn(const struct etcd_client *c, json_t v, struct etcd_result *r, char *err, size_t errlen)
{
	static const struct { const char *name; enum etcd_op_type type; } kinds[] = {
		{ "response_range", ETCD_OP_RANGE },
		{ "response_put", ETCD_OP_PUT },
		{ "response_delete_range", ETCD_OP_DELETE },
		{ "response_txn", ETCD_OP_TXN },
	};
	json_t a = json_get(v, "responses");
	size_t n;
	int rc;

	if ((rc = get_bool(v, "succeeded", &r->succeeded, err, errlen)))
		return rc;
	if (!a)
		return 0;
	if (!json_is_arr(a)) {
		snprintf(err, errlen, "txn responses are not an array");
		return ETCD_E_RESPONSE;
	}
	n = json_len(a);
	if (!n)
		return 0;
	r->responses = calloc(n, sizeof(*r->responses));
	if (!r->responses) {
		snprintf(err, errlen, "out of memory");
		return ETCD_E_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_t o = json_at(a, i), sub = NULL;
		struct etcd_result *s = &r->responses[i];
		size_t k;

		r->n_responses++;
		for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			if ((sub = json_get(o, kinds[k].name)))
				break;
		if (!sub) {
			snprintf(err, errlen, "unknown txn response");
			return ETCD_E_RESPONSE;
		}
		s->type = kinds[k].type;
		if ((rc = parse_op(c, s->type, sub, false, s, err, errlen)))
			return rc;
	}
	return 0;
}

static int parse_op(const struct etcd_client *c, enum etcd_op_type type, json_t v, bool top,
	struct etcd_result *r, char *err, size_t errlen)
{
	json_t x;
	int rc = parse_header(v, top, r, err, errlen);

	if (rc)
		return rc;
	switch (type) {
	case ETCD_OP_RANGE:
		if ((rc = parse_kvs(c, json_get(v, "kvs"), &r->kvs, &r->n_kvs, err, errlen)) ||
		    (rc = get_i64(v, "count", &r->count, err, errlen)) ||
		    (rc = get_bool(v, "more", &r->more, err, errlen)))
			return rc;
		return 0;
	case ETCD_OP_PUT:
		x = json_get(v, "prev_kv");
		if (!x)
			return 0;
		if (!(r->prev_kvs = calloc(1, sizeof(*r->prev_kvs)))) {
			snprintf(err, errlen, "out of memory");
			return ETCD_E_NOMEM;
		}
		if ((rc = etcd_parse_kv(c, x, r->prev_kvs, err, errlen)))
			return rc;
		r->n_prev_kvs = 1;
		return 0;
	case ETCD_OP_DELETE:
		if ((rc = get_i64(v, "deleted", &r->deleted, err, errlen)) ||
		    (rc = parse_kvs(c, json_get(v, "prev_kvs"), &r->prev_kvs, &r->n_prev_kvs, err, errlen)))
			return rc;
		return 0;
	case ETCD_OP_TXN:
		return parse_txn(c, v, r, err, errlen);
	case ETCD_OP_LEASE_GRANT:
		x = json_get(v, "error");
		if (json_str(x) && json_str(x)[0]) {
			snprintf(err, errlen, "%s", json_str(x));
			return ETCD_E_ETCD;
		}
		if ((rc = get_i64(v, "ID", &r->lease_id, err, errlen)) ||
		    (rc = get_i64(v, "TTL", &r->ttl, err, errlen)))
			return rc;
		if (r->lease_id == 0) {
			snprintf(err, errlen, "lease grant answer without an ID");
			return ETCD_E_RESPONSE;
		}
		return 0;
	case ETCD_OP_LEASE_KEEPALIVE:
		if ((rc = get_i64(v, "ID", &r->lease_id, err, errlen)) ||
		    (rc = get_i64(v, "TTL", &r->ttl, err, errlen)))
			return rc;
		if (r->ttl <= 0) {
			snprintf(err, errlen, "lease %" PRId64 " not found (expired or revoked)", r->lease_id);
			return ETCD_E_NOLEASE;
		}
		return 0;
	case ETCD_OP_AUTH:
		if (!json_str(json_get(v, "token"))) {
			snprintf(err, errlen, "authentication answer without a token");
			return ETCD_E_RESPONSE;
		}
		return 0;
	default:
		return 0;
	}
}

bool etcd_parse_error(json_t v, int *code, const char **msg)
{
	json_t e = json_get(v, "error");
	int64_t x = 0;

	*code = 0;
	*msg = NULL;
	if (json_is_obj(e)) {
		/* The streaming form: {"error":{"grpc_code":N,"message":".."}} */
		*msg = json_str(json_get(e, "message"));
		if (!json_i64(json_get(e, "grpc_code"), &x))
			*code = (int)x;
	} else {
		*msg = json_str(json_get(v, "message"));
		if (!*msg)
			*msg = json_str(e);
		if (!json_i64(json_get(v, "code"), &x))
			*code = (int)x;
	}
	return *msg != NULL;
}

int etcd_parse_answer(const struct etcd_client *c, enum etcd_op_type type, json_t v,
	struct etcd_result *r)
{
	char err[200] = "";
	int rc;

	if (type == ETCD_OP_LEASE_KEEPALIVE) {
		/* A streaming RPC: the answer is {"result":{...}} or {"error":{...}}. */
		int code;
		const char *msg;

		if (json_get(v, "error") && etcd_parse_error(v, &code, &msg)) {
			r->etcd_code = code;
			etcd_result_set(r, ETCD_E_ETCD, "%s", msg);
			return r->status;
		}
		v = json_get(v, "result");
	}
	if (type == ETCD_OP_CALL) {
		rc = json_is_obj(v) ? 0 : ETCD_E_RESPONSE;
		if (rc)
			snprintf(err, sizeof(err), "answer is not a JSON object");
	} else {
		rc = parse_op(c, type, v, type != ETCD_OP_AUTH, r, err, sizeof(err));
	}
	if (rc)
		etcd_result_set(r, rc, "%s", err);
	else
		r->status = ETCD_OK;
	return r->status;
}

/* ---- entry points ---- */

static int start(struct etcd_client *c, struct etcd_req *r, int rc)
{
	if (rc) {
		etcd_req_free(r);
		return rc;
	}
	return etcd_req_submit(r);
}

static struct etcd_req *new_req(struct etcd_client *c, enum etcd_op_type type, const char *path,
	bool idempotent, int timeout_ms, etcd_cb *cb, void *arg, int *rc)
{
	struct etcd_req *r;

	if (!c) {
		*rc = ETCD_E_INVAL;
		return NULL;
	}
	if (c->closing) {
		*rc = ETCD_E_CANCELED;
		return NULL;
	}
	if (timeout_ms < 0) {
		*rc = ETCD_E_INVAL;
		return NULL;
	}
	r = etcd_req_new(c, type, path, idempotent, timeout_ms, cb, arg);
	*rc = r ? 0 : ETCD_E_NOMEM;
	return r;
}

int etcd_range(struct etcd_client *c, const struct etcd_range_req *req, etcd_cb *cb, void *arg)
{
	int rc = ETCD_E_INVAL;
	struct etcd_req *r = req ? new_req(c, ETCD_OP_RANGE, ETCD_PATH_RANGE, true,
		req->timeout_ms, cb, arg, &rc) : NULL;

	if (!req)
		return ETCD_E_INVAL;
	return r ? start(c, r, build_range(c, &r->body, req)) : rc;
}

/* Put, delete and txn are retried only when the request was never sent:
 * a write that reached etcd may have been applied even if the answer was
 * lost, and repeating it is only safe for guarded txns. */
int etcd_put(struct etcd_client *c, const struct etcd_put_req *req, etcd_cb *cb, void *arg)
{
	int rc = ETCD_E_INVAL;
	struct etcd_req *r = req ? new_req(c, ETCD_OP_PUT, ETCD_PATH_PUT, false,
		req->timeout_ms, cb, arg, &rc) : NULL;

	if (!req)
		return ETCD_E_INVAL;
	return r ? start(c, r, build_put(c, &r->body, req)) : rc;
}

int etcd_delete(struct etcd_client *c, const struct etcd_delete_req *req, etcd_cb *cb, void *arg)
{
	int rc = ETCD_E_INVAL;
	struct etcd_req *r = req ? new_req(c, ETCD_OP_DELETE, ETCD_PATH_DELETE, false,
		req->timeout_ms, cb, arg, &rc) : NULL;

	if (!req)
		return ETCD_E_INVAL;
	return r ? start(c, r, build_delete(c, &r->body, req)) : rc;
}

int etcd_txn(struct etcd_client *c, const struct etcd_txn_req *req, etcd_cb *cb, void *arg)
{
	int rc = ETCD_E_INVAL;
	struct etcd_req *r = req ? new_req(c, ETCD_OP_TXN, ETCD_PATH_TXN, false,
		req->timeout_ms, cb, arg, &rc) : NULL;

	if (!req)
		return ETCD_E_INVAL;
	return r ? start(c, r, build_txn(c, &r->body, req)) : rc;
}

/* A retried grant could leave an orphan lease behind (it expires by
 * itself), so grants, like revokes, are only retried when unsent. */
int etcd_lease_grant(struct etcd_client *c, int64_t ttl, int64_t id, etcd_cb *cb, void *arg)
{
	int rc;
	struct etcd_req *r;

	if (ttl <= 0 || id < 0)
		return ETCD_E_INVAL;
	r = new_req(c, ETCD_OP_LEASE_GRANT, ETCD_PATH_LEASE_GRANT, false, 0, cb, arg, &rc);
	if (!r)
		return rc;
	sb_printf(&r->body, "{\"TTL\":%" PRId64 ",\"ID\":%" PRId64 "}", ttl, id);
	return start(c, r, r->body.oom ? ETCD_E_NOMEM : 0);
}

int etcd_lease_keepalive(struct etcd_client *c, int64_t id, etcd_cb *cb, void *arg)
{
	int rc;
	struct etcd_req *r;

	if (id <= 0)
		return ETCD_E_INVAL;
	r = new_req(c, ETCD_OP_LEASE_KEEPALIVE, ETCD_PATH_LEASE_KEEPALIVE, true, 0, cb, arg, &rc);
	if (!r)
		return rc;
	sb_printf(&r->body, "{\"ID\":%" PRId64 "}", id);
	return start(c, r, r->body.oom ? ETCD_E_NOMEM : 0);
}

int etcd_lease_revoke(struct etcd_client *c, int64_t id, etcd_cb *cb, void *arg)
{
	int rc;
	struct etcd_req *r;

	if (id <= 0)
		return ETCD_E_INVAL;
	r = new_req(c, ETCD_OP_LEASE_REVOKE, ETCD_PATH_LEASE_REVOKE, false, 0, cb, arg, &rc);
	if (!r)
		return rc;
	sb_printf(&r->body, "{\"ID\":%" PRId64 "}", id);
	return start(c, r, r->body.oom ? ETCD_E_NOMEM : 0);
}

/* Compacting twice reports an error the second time: not retried. */
int etcd_compact(struct etcd_client *c, int64_t revision, bool physical, etcd_cb *cb, void *arg)
{
	int rc;
	struct etcd_req *r;

	if (revision <= 0)
		return ETCD_E_INVAL;
	r = new_req(c, ETCD_OP_COMPACT, ETCD_PATH_COMPACT, false, c ? c->cfg.slow_timeout_ms : 0,
		cb, arg, &rc);
	if (!r)
		return rc;
	sb_printf(&r->body, "{\"revision\":%" PRId64 "%s}", revision, physical ? ",\"physical\":true" : "");
	return start(c, r, r->body.oom ? ETCD_E_NOMEM : 0);
}

int etcd_call(struct etcd_client *c, const char *path, const char *json_body,
	bool idempotent, etcd_cb *cb, void *arg)
{
	int rc;
	struct etcd_req *r;

	if (!path || path[0] != '/')
		return ETCD_E_INVAL;
	r = new_req(c, ETCD_OP_CALL, path, idempotent, 0, cb, arg, &rc);
	if (!r)
		return rc;
	sb_puts(&r->body, json_body ? json_body : "{}");
	return start(c, r, r->body.oom ? ETCD_E_NOMEM : 0);
}
