/* The blocking API: each call starts the asynchronous operation and drives
 * the self-driven loop until its callback has run. */
#include "etcd_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- blocking API ---- */

struct sync_wait {
	bool done;
	struct etcd_result *out;
};

static void sync_cb(void *arg, struct etcd_result *res)
{
	struct sync_wait *s = arg;

	etcd_result_move(s->out, res);
	s->done = true;
}

static int sync_prepare(struct etcd_client *c, struct etcd_result *out, struct sync_wait *s)
{
	memset(out, 0, sizeof(*out));
	s->done = false;
	s->out = out;
	if (c->external) {
		etcd_result_set(out, ETCD_E_INVAL, "blocking etcd calls need a self-driven client");
		return ETCD_E_INVAL;
	}
	return 0;
}

static int sync_wait(struct etcd_client *c, int rc, struct etcd_result *out, struct sync_wait *s)
{
	if (rc) {
		etcd_result_set(out, rc, "%s", etcd_strerror(rc));
		return rc;
	}
	while (!s->done && !c->closing)
		etcd_run_until(c, -1, &s->done);
	if (!s->done)
		etcd_result_set(out, ETCD_E_CANCELED, "etcd client closed");
	return out->status;
}

#define SYNC_CALL(call) do { \
	struct sync_wait s; \
	int rc = sync_prepare(c, out, &s); \
	if (rc) \
		return rc; \
	return sync_wait(c, (call), out, &s); \
} while (0)

int etcd_range_sync(struct etcd_client *c, const struct etcd_range_req *req, struct etcd_result *out)
{
	SYNC_CALL(etcd_range(c, req, sync_cb, &s));
}

int etcd_put_sync(struct etcd_client *c, const struct etcd_put_req *req, struct etcd_result *out)
{
	SYNC_CALL(etcd_put(c, req, sync_cb, &s));
}

int etcd_delete_sync(struct etcd_client *c, const struct etcd_delete_req *req, struct etcd_result *out)
{
	SYNC_CALL(etcd_delete(c, req, sync_cb, &s));
}

int etcd_txn_sync(struct etcd_client *c, const struct etcd_txn_req *req, struct etcd_result *out)
{
	SYNC_CALL(etcd_txn(c, req, sync_cb, &s));
}

int etcd_lease_grant_sync(struct etcd_client *c, int64_t ttl, int64_t id, struct etcd_result *out)
{
	SYNC_CALL(etcd_lease_grant(c, ttl, id, sync_cb, &s));
}

int etcd_lease_keepalive_sync(struct etcd_client *c, int64_t id, struct etcd_result *out)
{
	SYNC_CALL(etcd_lease_keepalive(c, id, sync_cb, &s));
}

int etcd_lease_revoke_sync(struct etcd_client *c, int64_t id, struct etcd_result *out)
{
	SYNC_CALL(etcd_lease_revoke(c, id, sync_cb, &s));
}

int etcd_compact_sync(struct etcd_client *c, int64_t revision, bool physical, struct etcd_result *out)
{
	SYNC_CALL(etcd_compact(c, revision, physical, sync_cb, &s));
}

int etcd_call_sync(struct etcd_client *c, const char *path, const char *json_body,
	bool idempotent, struct etcd_result *out)
{
	SYNC_CALL(etcd_call(c, path, json_body, idempotent, sync_cb, &s));
}

int etcd_get_str_sync(struct etcd_client *c, const char *key, char **value_out)
{
	struct etcd_range_req req = { .key = key };
	struct etcd_result res;
	int rc = etcd_range_sync(c, &req, &res);

	*value_out = NULL;
	if (!rc && res.n_kvs) {
		*value_out = strdup(res.kvs[0].value);
		if (!*value_out)
			rc = ETCD_E_NOMEM;
	}
	etcd_result_clear(&res);
	return rc;
}

int etcd_put_str_sync(struct etcd_client *c, const char *key, const char *value)
{
	struct etcd_put_req req = { .key = key, .value = value, .value_len = strlen(value) };
	struct etcd_result res;
	int rc = etcd_put_sync(c, &req, &res);

	etcd_result_clear(&res);
	return rc;
}
