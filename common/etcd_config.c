/* etcd client configuration: defaults, endpoint parsing, vitastor.conf keys. */
#include "etcd_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void etcd_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- configuration ---- */

void etcd_config_init(struct etcd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->quick_timeout_ms = 1000;
	cfg->slow_timeout_ms = 5000;
	cfg->max_attempts = 5;
	cfg->keepalive_interval_s = 30;
	cfg->max_body = 64u << 20;
}

void etcd_config_free(struct etcd_config *cfg)
{
	for (size_t i = 0; i < cfg->n_endpoints; i++)
		free(cfg->endpoints[i]);
	free(cfg->endpoints);
	free(cfg->prefix);
	free(cfg->ca_file);
	free(cfg->cert_file);
	free(cfg->key_file);
	free(cfg->user);
	free(cfg->password);
	memset(cfg, 0, sizeof(*cfg));
}

int etcd_config_set(char **field, const char *val)
{
	char *copy = NULL;

	if (val && !(copy = strdup(val)))
		return ETCD_E_NOMEM;
	free(*field);
	*field = copy;
	return 0;
}

/* Normalizes one endpoint ("host:port[/path]", scheme optional) into
 * "scheme://host:port/path" with no trailing slash. */
static char *parse_endpoint(const char *s, size_t len, char *err, size_t errlen)
{
	const char *scheme = "http";
	const char *slash, *end = s + len, *path = "/v3";
	size_t hostlen, pathlen;
	bool has_port = false;
	struct strbuf sb;

	while (s < end && (*s == ' ' || *s == '\t' || *s == '\n'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n'))
		end--;
	if ((size_t)(end - s) >= 7 && !strncasecmp(s, "http://", 7)) {
		s += 7;
	} else if ((size_t)(end - s) >= 8 && !strncasecmp(s, "https://", 8)) {
		scheme = "https";
		s += 8;
	} else if (memmem(s, (size_t)(end - s), "://", 3)) {
		etcd_set_err(err, errlen, "etcd address \"%.*s\": only http:// and https:// are supported",
			(int)(end - s), s);
		return NULL;
	}
	slash = memchr(s, '/', (size_t)(end - s));
	hostlen = (size_t)((slash ? slash : end) - s);
	if (!hostlen) {
		etcd_set_err(err, errlen, "etcd address without a host");
		return NULL;
	}
	for (size_t i = 0; i < hostlen; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch <= ' ' || ch == '@' || ch == '?' || ch == '#' || ch >= 0x7f) {
			etcd_set_err(err, errlen, "etcd address \"%.*s\": bad character", (int)hostlen, s);
			return NULL;
		}
	}
	/* host:port, [v6]:port, [v6] or host */
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', hostlen);

		if (!rb) {
			etcd_set_err(err, errlen, "etcd address \"%.*s\": unbalanced [", (int)hostlen, s);
			return NULL;
		}
		has_port = rb + 1 < s + hostlen && rb[1] == ':';
	} else {
		has_port = memchr(s, ':', hostlen) != NULL;
	}
	pathlen = 0;
	if (slash) {
		pathlen = (size_t)(end - slash);
		while (pathlen > 0 && slash[pathlen - 1] == '/')
			pathlen--;
		if (pathlen)
			path = slash;
	}
	if (!pathlen)
		pathlen = strlen(path);
	sb_init(&sb);
	sb_printf(&sb, "%s://%.*s%s%.*s", scheme, (int)hostlen, s, has_port ? "" : ":2379",
		(int)pathlen, path);
	if (sb.oom) {
		sb_free(&sb);
		etcd_set_err(err, errlen, "out of memory");
		return NULL;
	}
	return sb.buf;
}

static int add_endpoint(struct etcd_config *cfg, const char *s, size_t len, char *err, size_t errlen)
{
	char *ep = parse_endpoint(s, len, err, errlen), **n;

	if (!ep)
		return ETCD_E_INVAL;
	n = realloc(cfg->endpoints, (cfg->n_endpoints + 1) * sizeof(*n));
	if (!n) {
		free(ep);
		etcd_set_err(err, errlen, "out of memory");
		return ETCD_E_NOMEM;
	}
	cfg->endpoints = n;
	n[cfg->n_endpoints++] = ep;
	return 0;
}

int etcd_config_add_endpoints(struct etcd_config *cfg, const char *list, char *err, size_t errlen)
{
	const char *p = list;
	int added = 0;

	if (!list) {
		etcd_set_err(err, errlen, "no etcd address");
		return ETCD_E_INVAL;
	}
	while (*p) {
		size_t len = strcspn(p, ",");
		const char *q = p;

		while (q < p + len && (*q == ' ' || *q == '\t'))
			q++;
		if (q < p + len) {
			int rc = add_endpoint(cfg, p, len, err, errlen);

			if (rc)
				return rc;
			added++;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	if (!added) {
		etcd_set_err(err, errlen, "empty etcd address list");
		return ETCD_E_INVAL;
	}
	return 0;
}

static int json_int_field(json_t obj, const char *key, int min, int *out, char *err, size_t errlen)
{
	json_t v = json_get(obj, key);
	int64_t x;

	if (!v)
		return 0;
	if (json_i64(v, &x) || x < min || x > 86400000) {
		etcd_set_err(err, errlen, "%s: expected a number >= %d", key, min);
		return ETCD_E_INVAL;
	}
	*out = (int)x;
	return 0;
}

static int json_str_field(json_t obj, const char *key, char **field, char *err, size_t errlen)
{
	json_t v = json_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_str(v)) {
		etcd_set_err(err, errlen, "%s: expected a string", key);
		return ETCD_E_INVAL;
	}
	return etcd_config_set(field, json_str(v));
}

int etcd_config_from_json(struct etcd_config *cfg, json_t obj, char *err, size_t errlen)
{
	json_t addr = json_get(obj, "etcd_address");
	int rc = 0;

	if (!json_is_obj(obj)) {
		etcd_set_err(err, errlen, "configuration is not a JSON object");
		return ETCD_E_INVAL;
	}
	if (addr) {
		struct etcd_config tmp;

		/* Replace the endpoint list only when the new one is valid. */
		memset(&tmp, 0, sizeof(tmp));
		if (json_is_str(addr)) {
			rc = etcd_config_add_endpoints(&tmp, json_str(addr), err, errlen);
		} else if (json_is_arr(addr) && json_len(addr)) {
			for (size_t i = 0; !rc && i < json_len(addr); i++) {
				const char *s = json_str(json_at(addr, i));

				if (!s) {
					etcd_set_err(err, errlen, "etcd_address: expected strings");
					rc = ETCD_E_INVAL;
				} else {
					rc = etcd_config_add_endpoints(&tmp, s, err, errlen);
				}
			}
		} else {
			etcd_set_err(err, errlen, "etcd_address: expected a string or an array of strings");
			rc = ETCD_E_INVAL;
		}
		if (rc) {
			etcd_config_free(&tmp);
			return rc;
		}
		for (size_t i = 0; i < cfg->n_endpoints; i++)
			free(cfg->endpoints[i]);
		free(cfg->endpoints);
		cfg->endpoints = tmp.endpoints;
		cfg->n_endpoints = tmp.n_endpoints;
	}
	if (!rc)
		rc = json_str_field(obj, "etcd_prefix", &cfg->prefix, err, errlen);
	if (!rc)
		rc = json_int_field(obj, "max_etcd_attempts", 1, &cfg->max_attempts, err, errlen);
	if (!rc)
		rc = json_int_field(obj, "etcd_quick_timeout", 1, &cfg->quick_timeout_ms, err, errlen);
	if (!rc)
		rc = json_int_field(obj, "etcd_slow_timeout", 1, &cfg->slow_timeout_ms, err, errlen);
	if (!rc)
		rc = json_int_field(obj, "etcd_ws_keepalive_interval", 1, &cfg->keepalive_interval_s,
			err, errlen);
	if (!rc)
		rc = json_str_field(obj, "etcd_ca_file", &cfg->ca_file, err, errlen);
	if (!rc)
		rc = json_str_field(obj, "etcd_cert_file", &cfg->cert_file, err, errlen);
	if (!rc)
		rc = json_str_field(obj, "etcd_key_file", &cfg->key_file, err, errlen);
	if (!rc)
		rc = json_str_field(obj, "etcd_user", &cfg->user, err, errlen);
	if (!rc)
		rc = json_str_field(obj, "etcd_password", &cfg->password, err, errlen);
	if (rc == ETCD_E_NOMEM)
		etcd_set_err(err, errlen, "out of memory");
	return rc;
}

int etcd_config_copy(struct etcd_config *dst, const struct etcd_config *src)
{
	etcd_config_init(dst);
	dst->quick_timeout_ms = src->quick_timeout_ms;
	dst->slow_timeout_ms = src->slow_timeout_ms;
	dst->max_attempts = src->max_attempts;
	dst->keepalive_interval_s = src->keepalive_interval_s;
	dst->max_body = src->max_body;
	dst->endpoints = calloc(src->n_endpoints ? src->n_endpoints : 1, sizeof(char *));
	if (!dst->endpoints)
		return ETCD_E_NOMEM;
	for (size_t i = 0; i < src->n_endpoints; i++) {
		if (!(dst->endpoints[i] = strdup(src->endpoints[i])))
			return ETCD_E_NOMEM;
		dst->n_endpoints++;
	}
	if (etcd_config_set(&dst->prefix, src->prefix ? src->prefix : "/vitastor") ||
	    etcd_config_set(&dst->ca_file, src->ca_file) ||
	    etcd_config_set(&dst->cert_file, src->cert_file) ||
	    etcd_config_set(&dst->key_file, src->key_file) ||
	    etcd_config_set(&dst->user, src->user) ||
	    etcd_config_set(&dst->password, src->password))
		return ETCD_E_NOMEM;
	return 0;
}

/* "/vitastor/" -> "/vitastor", "vitastor" -> "/vitastor", "/" -> "". */
int etcd_normalize_prefix(char **prefix)
{
	char *p = *prefix, *n;
	size_t len = strlen(p);

	while (len && p[len - 1] == '/')
		len--;
	p[len] = 0;
	if (!len || p[0] == '/')
		return 0;
	n = malloc(len + 2);
	if (!n)
		return ETCD_E_NOMEM;
	n[0] = '/';
	memcpy(n + 1, p, len + 1);
	free(p);
	*prefix = n;
	return 0;
}
