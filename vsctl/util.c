/* vsctl: messages, option getters, sizes and etcd helpers shared by the
 * command files. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "vsctl.h"

static void vmsg(const char *what, const char *fmt, va_list ap)
{
	fprintf(stderr, "vsctl: %s", what);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void vs_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

void vs_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

int vs_usage(const struct vsctl *v, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vsctl%s%s: ", v->cmd ? " " : "", v->cmd ? v->cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'vsctl %s%s--help' for usage.\n",
		v->cmd ? v->cmd : "", v->cmd ? " " : "");
	return VS_USAGE;
}

const char *vs_q(const char *s)
{
	static struct strbuf bufs[4];
	static unsigned next;
	struct strbuf *sb = &bufs[next++ % 4];

	sb_reset(sb);
	sb_json_str(sb, s);
	return sb->buf ? sb->buf : "\"\"";
}

const char *vs_opt_str(const struct vsctl *v, const char *key)
{
	return cfg_str(v->cfg, key);
}

bool vs_opt_set(const struct vsctl *v, const char *key)
{
	return cfg_source(v->cfg, key) == CFG_SRC_CMDLINE;
}

bool vs_opt_bool(const struct vsctl *v, const char *key)
{
	return cfg_bool(v->cfg, key);
}

int vs_opt_num(const struct vsctl *v, const char *key, uint64_t def, uint64_t *out)
{
	const char *s = cfg_str(v->cfg, key);
	char *end;

	*out = def;
	if (!s)
		return 0;
	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		return vs_usage(v, "--%s: expected a non-negative integer, got \"%s\"", key, s);
	*out = strtoull(s, &end, 10);
	if (errno || *end)
		return vs_usage(v, "--%s: expected a non-negative integer, got \"%s\"", key, s);
	return 0;
}

int vs_parse_size(const struct vsctl *v, const char *opt, const char *text, uint64_t *out)
{
	if (!text || cfg_parse_size(text, out) < 0) {
		vs_usage(v, "--%s: expected a size like 10G, 512M, 4k or a number of bytes, got \"%s\"",
			 opt, text ? text : "");
		return -1;
	}
	return 0;
}

const char *vs_fmt_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double d = (double)bytes;
	int u = 0;

	if (bytes < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", bytes);
		return buf;
	}
	while (d >= 1024 && u < 6) {
		d /= 1024;
		u++;
	}
	if (d == (double)(uint64_t)d)
		snprintf(buf, len, "%" PRIu64 " %s", (uint64_t)d, units[u]);
	else
		snprintf(buf, len, "%.1f %s", d, units[u]);
	return buf;
}

int vs_connect(struct vsctl *v)
{
	struct etcd_config ec;
	char err[512];

	if (v->etcd)
		return VS_OK;
	etcd_config_init(&ec);
	if (etcd_config_from_cfg(&ec, v->cfg, err, sizeof(err)) < 0) {
		if (!cfg_strv(v->cfg, "etcd_address", NULL)[0])
			vs_err("no etcd_address: give --etcd_address HOST:PORT or set it in %s",
			       cfg_str(v->cfg, "config_path") ? cfg_str(v->cfg, "config_path")
							      : "/etc/vitastor/vitastor.conf");
		else
			vs_err("%s", err);
		etcd_config_free(&ec);
		return VS_ERR;
	}
	v->etcd = etcd_client_new(&ec, NULL, err, sizeof(err));
	etcd_config_free(&ec);
	if (!v->etcd) {
		vs_err("etcd: %s", err);
		return VS_ERR;
	}
	return VS_OK;
}

const char *vs_full_key(const struct vsctl *v, const char *key, char *buf, size_t len)
{
	const char *p = v->etcd ? etcd_prefix(v->etcd) : cfg_str(v->cfg, "etcd_prefix");

	snprintf(buf, len, "%s/%s", p ? p : "", key);
	return buf;
}

static void etcd_fail(struct vsctl *v, const char *what, const struct etcd_result *r)
{
	const char *addr = v->etcd ? etcd_current_endpoint(v->etcd) : NULL;

	vs_err("etcd %s failed: %s%s%s (etcd at %s; check --etcd_address and that etcd is running)",
	       what, etcd_strerror(r->status), r->errmsg[0] ? ": " : "", r->errmsg,
	       addr ? addr : "?");
}

int vs_get(struct vsctl *v, const char *key, char **value, int64_t *mod_rev)
{
	struct etcd_range_req req = { .key = key };
	struct etcd_result r;
	int rc;

	if (value)
		*value = NULL;
	if (mod_rev)
		*mod_rev = 0;
	if (vs_connect(v))
		return -1;
	if (etcd_range_sync(v->etcd, &req, &r) != ETCD_OK) {
		etcd_fail(v, "read", &r);
		etcd_result_clear(&r);
		return -1;
	}
	rc = r.n_kvs > 0;
	if (rc) {
		if (value) {
			*value = strndup(r.kvs[0].value, r.kvs[0].value_len);
			if (!*value) {
				vs_err("out of memory");
				rc = -1;
			}
		}
		if (mod_rev)
			*mod_rev = r.kvs[0].mod_revision;
	}
	etcd_result_clear(&r);
	return rc;
}

int vs_get_json(struct vsctl *v, const char *key, json_t *out, int64_t *mod_rev)
{
	char *val, err[256], kbuf[512];
	int rc = vs_get(v, key, &val, mod_rev);

	*out = NULL;
	if (rc <= 0)
		return rc;
	*out = json_parse(val, strlen(val), err, sizeof(err));
	free(val);
	if (!*out) {
		vs_err("etcd key %s holds invalid JSON (%s); fix or delete it",
		       vs_full_key(v, key, kbuf, sizeof(kbuf)), err);
		return -1;
	}
	return 1;
}

int vs_list(struct vsctl *v, const char *prefix, struct etcd_result *out)
{
	struct etcd_range_req req = { .key = prefix, .prefix = true };

	memset(out, 0, sizeof(*out));
	if (vs_connect(v))
		return -1;
	if (etcd_range_sync(v->etcd, &req, out) != ETCD_OK) {
		etcd_fail(v, "read", out);
		etcd_result_clear(out);
		return -1;
	}
	return 0;
}

int vs_txn(struct vsctl *v, const struct etcd_txn_req *req)
{
	struct etcd_result r;
	int rc;

	if (vs_connect(v))
		return -1;
	if (etcd_txn_sync(v->etcd, req, &r) != ETCD_OK) {
		etcd_fail(v, "transaction", &r);
		etcd_result_clear(&r);
		return -1;
	}
	rc = r.succeeded ? 1 : 0;
	etcd_result_clear(&r);
	return rc;
}

uint64_t vs_key_num(const char *key, const char *prefix)
{
	size_t pl = strlen(prefix);
	uint64_t n = 0;

	if (strncmp(key, prefix, pl))
		return 0;
	key += pl;
	if (!*key || *key == '0')
		return 0;
	for (; *key; key++) {
		if (*key < '0' || *key > '9' || n > UINT64_MAX / 10 - 1)
			return 0;
		n = n * 10 + (uint64_t)(*key - '0');
	}
	return n;
}
