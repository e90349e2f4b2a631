#include "config.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_CONFIG_PATH "/etc/vitastor/vitastor.conf"
#define MAX_CONFIG_FILE (16u << 20)
#define MIN_BLOCK_SIZE 4096u
#define MAX_BLOCK_SIZE (128u << 20)

/* One parsed value; which member is used depends on the key's type. */
struct cfg_val {
	union {
		bool b;
		uint64_t u;	/* U64, SIZE, MS/SECS (in ms) */
		int64_t i;
		double d;
	} n;
	char *s;		/* STR */
	char **v;		/* LIST, NULL-terminated */
	size_t vn;
	json_t j;		/* JSON */
};

struct cfg_slot {
	bool set;
	bool via_alias;		/* set through the old name */
	struct cfg_val v;
};

/* An unknown key, kept as given. */
struct raw_kv {
	char *key;
	json_t val;
};

/* The values one source gave. */
struct cfg_layer {
	struct cfg_slot *slots;	/* one per registered key */
	struct raw_kv *raw;
	size_t nraw, capraw;
};

struct cfg {
	const struct cfg_opt **opts;
	size_t nopt, capopt;
	cfg_check_fn *checks;
	size_t nchecks;
	struct cfg_layer layer[CFG_NSRC];
	bool frozen;		/* values were set: no more registration */
	char *file_path;	/* "" until a file is loaded */
	char *file_origin;	/* "in <path>" */
	char *etcd_origin;	/* "in etcd <prefix>/config/global" */
	char **args;
	size_t nargs;
	bool help;
	char **warned;		/* unknown keys already warned about */
	size_t nwarned;
	char err[1024];
};

/* ---------------------------------------------------------------------- */
/* Small helpers */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_vwrite(VLOG_ERROR, fmt, ap);
	va_end(ap);
	abort();
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("config: out of memory");
	return p;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		die("config: out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		die("config: out of memory");
	return p;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("config: out of memory");
	return p;
}

int cfg_fail(struct cfg *cfg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cfg->err, sizeof(cfg->err), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

const char *cfg_error(const struct cfg *cfg)
{
	return cfg->err;
}

/* Deep copy through serialization (yajl has no clone). */
static json_t json_clone(json_t v)
{
	struct strbuf sb;
	json_t c;

	sb_init(&sb);
	if (sb_json_val(&sb, v))
		die("config: out of memory");
	c = json_parse(sb.buf, sb.len, NULL, 0);
	sb_free(&sb);
	if (!c)
		die("config: cannot copy a JSON value");
	return c;
}

/* Compact JSON of v for messages, shortened to about 80 bytes. */
static const char *show(json_t v, char *buf, size_t size)
{
	struct strbuf sb;

	sb_init(&sb);
	if (sb_json_val(&sb, v) || !sb.buf) {
		snprintf(buf, size, "(unprintable)");
	} else if (sb.len > 80) {
		snprintf(buf, size, "%.72s...", sb.buf);
	} else {
		snprintf(buf, size, "%s", sb.buf);
	}
	sb_free(&sb);
	return buf;
}

/* Whether d is a whole number (without libm: the Makefile does not link it). */
static bool integral(double d)
{
	if (!isfinite(d))
		return false;
	if (d >= 4503599627370496.0 || d <= -4503599627370496.0)
		return true;	/* |d| >= 2^52: no fractional bits left */
	return d == (double)(int64_t)d;
}

static bool is_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isspace((unsigned char)s[i]))
			return false;
	return true;
}

/* A yajl string node pointing at text, for parsing text like JSON. */
static struct yajl_val_s text_val(const char *text)
{
	struct yajl_val_s v;

	memset(&v, 0, sizeof(v));
	v.type = yajl_t_string;
	v.u.string = (char *)text;
	return v;
}

/* ---------------------------------------------------------------------- */
/* Values and layers */

static void val_free(struct cfg_val *v)
{
	free(v->s);
	if (v->v) {
		for (size_t i = 0; i < v->vn; i++)
			free(v->v[i]);
		free(v->v);
	}
	if (v->j)
		json_free(v->j);
	memset(v, 0, sizeof(*v));
}

static void layer_init(struct cfg_layer *l, size_t nopt)
{
	memset(l, 0, sizeof(*l));
	l->slots = xcalloc(nopt, sizeof(*l->slots));
}

static void layer_free(struct cfg_layer *l, size_t nopt)
{
	if (l->slots)
		for (size_t i = 0; i < nopt; i++)
			val_free(&l->slots[i].v);
	free(l->slots);
	for (size_t i = 0; i < l->nraw; i++) {
		free(l->raw[i].key);
		json_free(l->raw[i].val);
	}
	free(l->raw);
	memset(l, 0, sizeof(*l));
}

static struct raw_kv *layer_raw(const struct cfg_layer *l, const char *key)
{
	for (size_t i = 0; i < l->nraw; i++)
		if (!strcmp(l->raw[i].key, key))
			return &l->raw[i];
	return NULL;
}

static long find_opt(const struct cfg *cfg, const char *name, bool *via_alias)
{
	for (size_t i = 0; i < cfg->nopt; i++) {
		const struct cfg_opt *o = cfg->opts[i];

		if (!strcmp(o->name, name)) {
			if (via_alias)
				*via_alias = false;
			return (long)i;
		}
		if (o->alias && !strcmp(o->alias, name)) {
			if (via_alias)
				*via_alias = true;
			return (long)i;
		}
	}
	return -1;
}

static const struct cfg_slot *eff_slot(const struct cfg *cfg, size_t i, int *src)
{
	for (int s = CFG_NSRC - 1; s >= 0; s--) {
		if (cfg->layer[s].slots[i].set) {
			if (src)
				*src = s;
			return &cfg->layer[s].slots[i];
		}
	}
	return NULL;
}

static const char *src_origin(const struct cfg *cfg, int src)
{
	switch (src) {
	case CFG_SRC_CMDLINE:
		return "on the command line";
	case CFG_SRC_FILE:
		return cfg->file_origin ? cfg->file_origin : "in the config file";
	case CFG_SRC_ETCD:
		return cfg->etcd_origin ? cfg->etcd_origin : "in etcd config/global";
	case CFG_SRC_DEFAULT:
		return "by default";
	default:
		return "(unset)";
	}
}

/* ---------------------------------------------------------------------- */
/* Parsing */

int cfg_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "kmgtpe";
	uint64_t x = 0, mult = 1;
	bool overflow = false;
	const char *p = s, *u;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (x > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			x = x * 10 + d;
	}
	if (*p) {
		char c = (char)tolower((unsigned char)*p);

		if (c == 'b' && !p[1]) {
			mult = 1;
		} else if (c && (u = strchr(units, c)) != NULL) {
			mult = (uint64_t)1 << (10 * (u - units + 1));
			p++;
			if (*p && strcasecmp(p, "b") && strcasecmp(p, "ib"))
				return -EINVAL;
		} else {
			return -EINVAL;
		}
	}
	if (overflow || (mult > 1 && x > UINT64_MAX / mult))
		return -ERANGE;
	*out = x * mult;
	return 0;
}

/* ms = d * unit_ms, rounded; d must be finite and >= 0. */
static int ms_from_double(double d, uint64_t unit_ms, uint64_t *out)
{
	double ms;

	if (!isfinite(d) || d < 0)
		return -EINVAL;
	ms = d * (double)unit_ms + 0.5;
	if (!(ms < 9.2e18))
		return -ERANGE;
	*out = (uint64_t)ms;
	return 0;
}

int cfg_parse_duration_ms(const char *s, uint64_t unit_ms, uint64_t *out)
{
	static const struct { const char *name; uint64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "sec", 1000 }, { "m", 60000 },
		{ "min", 60000 }, { "h", 3600000 },
	};
	char num[64];
	size_t span, dots = 0, digits = 0;
	uint64_t mult = unit_ms;
	const char *suffix;

	if (!s)
		return -EINVAL;
	span = strspn(s, "0123456789.");
	for (size_t i = 0; i < span; i++) {
		if (s[i] == '.')
			dots++;
		else
			digits++;
	}
	if (!digits || dots > 1)
		return -EINVAL;
	if (span >= sizeof(num))
		return -ERANGE;
	memcpy(num, s, span);
	num[span] = 0;
	suffix = s + span;
	if (*suffix) {
		size_t i;

		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (!strcasecmp(suffix, units[i].name))
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		mult = units[i].ms;
	}
	return ms_from_double(strtod(num, NULL), mult, out);
}

static bool bool_word(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return true;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return true;
		}
	}
	return false;
}

static int parse_bool(json_t v, bool *out)
{
	uint64_t u;

	if (!json_bool(v, out))
		return 0;
	if (json_is_num(v)) {
		if (json_u64(v, &u) || u > 1)
			return -EINVAL;
		*out = u;
		return 0;
	}
	if (json_is_str(v) && bool_word(json_str(v), out))
		return 0;
	return -EINVAL;
}

static bool choice_ok(const char *choices, const char *s)
{
	size_t len = strlen(s);
	const char *p = choices;

	while (*p) {
		size_t n = strcspn(p, "|");

		if (n == len && !strncmp(p, s, n))
			return true;
		p += n;
		if (*p == '|')
			p++;
	}
	return false;
}

static const char *type_expect(const struct cfg_opt *o, char *buf, size_t size)
{
	switch (o->type) {
	case CFG_STR:
		if (o->choices) {
			size_t n = (size_t)snprintf(buf, size, "one of");
			const char *p = o->choices;

			while (*p && n < size) {
				size_t w = strcspn(p, "|");

				n += (size_t)snprintf(buf + n, size - n, "%s \"%.*s\"",
						      p == o->choices ? "" : ",", (int)w, p);
				p += w;
				if (*p == '|')
					p++;
			}
			return buf;
		}
		return "a string";
	case CFG_BOOL:
		return "true or false";
	case CFG_U64:
		return "a non-negative integer";
	case CFG_I64:
		return "an integer";
	case CFG_DOUBLE:
		return "a number";
	case CFG_MS:
		return "a duration in milliseconds like 1000 or \"1s\"";
	case CFG_SECS:
		return "a duration in seconds like 5 or \"500ms\"";
	case CFG_SIZE:
		return "a size like 131072 or \"128k\"";
	case CFG_LIST:
		return "a string or an array of strings";
	case CFG_JSON:
		return "a JSON object";
	}
	return "?";
}

static const char *type_word(const struct cfg_opt *o)
{
	static const char *const words[] = {
		[CFG_STR] = "string", [CFG_BOOL] = "bool", [CFG_U64] = "uint",
		[CFG_I64] = "int", [CFG_DOUBLE] = "number", [CFG_MS] = "ms",
		[CFG_SECS] = "seconds", [CFG_SIZE] = "size", [CFG_LIST] = "list",
		[CFG_JSON] = "json",
	};

	return (unsigned)o->type < sizeof(words) / sizeof(words[0]) ? words[o->type] : "?";
}

static int type_error(struct cfg *cfg, const struct cfg_opt *o, const char *name,
		      const char *origin, json_t got)
{
	char ebuf[256], gbuf[128];

	return cfg_fail(cfg, "config: %.100s %s: expected %s, got %s", name, origin,
			type_expect(o, ebuf, sizeof(ebuf)), show(got, gbuf, sizeof(gbuf)));
}

static bool unsigned_type(enum cfg_type t)
{
	return t == CFG_U64 || t == CFG_SIZE || t == CFG_MS || t == CFG_SECS;
}

static int range_error(struct cfg *cfg, const struct cfg_opt *o, const char *name,
		       const char *origin, json_t got)
{
	const char *unit = o->type == CFG_MS ? " ms" : o->type == CFG_SECS ? " s" : "";
	int64_t lo = unsigned_type(o->type) && o->min < 0 ? 0 : o->min;
	char gbuf[128], rbuf[128];

	if (!o->ranged)
		snprintf(rbuf, sizeof(rbuf), "does not fit in 64 bits");
	else if (o->max == INT64_MAX)
		snprintf(rbuf, sizeof(rbuf), "must be at least %" PRId64 "%s", lo, unit);
	else if (lo == INT64_MIN)
		snprintf(rbuf, sizeof(rbuf), "must be at most %" PRId64 "%s", o->max, unit);
	else
		snprintf(rbuf, sizeof(rbuf), "must be between %" PRId64 "%s and %" PRId64 "%s",
			 lo, unit, o->max, unit);
	return cfg_fail(cfg, "config: %.100s %s: %s is out of range (%s)", name, origin,
			show(got, gbuf, sizeof(gbuf)), rbuf);
}

/* Range check of an unsigned value; durations are compared in ms. */
static bool in_range_u(const struct cfg_opt *o, uint64_t u)
{
	uint64_t scale = o->type == CFG_SECS ? 1000 : 1, lo, hi;

	if (!o->ranged)
		return true;
	lo = o->min > 0 ? (uint64_t)o->min : 0;
	hi = o->max >= 0 ? (uint64_t)o->max : 0;
	lo = lo > UINT64_MAX / scale ? UINT64_MAX : lo * scale;
	hi = hi > UINT64_MAX / scale ? UINT64_MAX : hi * scale;
	if (o->max == INT64_MAX)
		hi = UINT64_MAX;
	return u >= lo && u <= hi;
}

/* Appends the bytes b..e to a list value, trimmed; empty items are dropped.
 * The caller has sized out->v. */
static void add_item(struct cfg_val *out, const char *b, const char *e)
{
	while (b < e && isspace((unsigned char)*b))
		b++;
	while (e > b && isspace((unsigned char)e[-1]))
		e--;
	if (e == b)
		return;
	out->v[out->vn] = strndup(b, (size_t)(e - b));
	if (!out->v[out->vn])
		die("config: out of memory");
	out->vn++;
}

static int parse_list(struct cfg *cfg, const struct cfg_opt *o, const char *name,
		      json_t v, bool from_text, const char *origin, struct cfg_val *out)
{
	json_t parsed = NULL;
	const char *s;
	int rc = 0;

	if (from_text) {
		s = json_str(v);
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '[') {
			parsed = json_parse(s, strlen(s), NULL, 0);
			if (!parsed)
				return type_error(cfg, o, name, origin, v);
			v = parsed;
		}
	}
	if (json_is_str(v)) {
		/* Comma-separated; items trimmed, empty ones dropped. */
		const char *p = json_str(v);

		out->v = xcalloc(strlen(p) / 2 + 2, sizeof(char *));
		while (*p) {
			size_t n = strcspn(p, ",");
			add_item(out, p, p + n);
			p += n;
			if (*p == ',')
				p++;
		}
	} else if (json_is_arr(v)) {
		size_t n = json_len(v);

		for (size_t i = 0; i < n; i++) {
			if (!json_is_str(json_at(v, i))) {
				rc = type_error(cfg, o, name, origin, v);
				goto out;
			}
		}
		out->v = xcalloc(n + 1, sizeof(char *));
		for (size_t i = 0; i < n; i++) {
			const char *item = json_str(json_at(v, i));

			add_item(out, item, item + strlen(item));
		}
	} else {
		rc = type_error(cfg, o, name, origin, v);
	}
out:
	if (parsed)
		json_free(parsed);
	return rc;
}

/* Parses v for key o (given as name) into out. from_text: v is a string
 * node holding command-line text. On error out is empty. */
static int parse_value(struct cfg *cfg, const struct cfg_opt *o, const char *name,
		       json_t v, bool from_text, const char *origin, struct cfg_val *out)
{
	uint64_t unit = o->type == CFG_SECS ? 1000 : 1;
	double d;
	int rc;

	memset(out, 0, sizeof(*out));
	switch (o->type) {
	case CFG_STR:
		if (!json_is_str(v) || (o->choices && !choice_ok(o->choices, json_str(v))))
			return type_error(cfg, o, name, origin, v);
		out->s = xstrdup(json_str(v));
		return 0;
	case CFG_BOOL:
		if (parse_bool(v, &out->n.b))
			return type_error(cfg, o, name, origin, v);
		return 0;
	case CFG_U64:
		if (json_u64(v, &out->n.u)) {
			/* Tell "too large" apart from "not a number". */
			if (json_double(v, &d) == 0 && d > 0 && integral(d))
				return range_error(cfg, o, name, origin, v);
			return type_error(cfg, o, name, origin, v);
		}
		if (!in_range_u(o, out->n.u))
			return range_error(cfg, o, name, origin, v);
		return 0;
	case CFG_I64:
		if (json_i64(v, &out->n.i)) {
			if (json_double(v, &d) == 0 && integral(d))
				return range_error(cfg, o, name, origin, v);
			return type_error(cfg, o, name, origin, v);
		}
		if (o->ranged && (out->n.i < o->min || out->n.i > o->max))
			return range_error(cfg, o, name, origin, v);
		return 0;
	case CFG_DOUBLE:
		if (json_double(v, &out->n.d))
			return type_error(cfg, o, name, origin, v);
		if (o->ranged && (out->n.d < (double)o->min || out->n.d > (double)o->max))
			return range_error(cfg, o, name, origin, v);
		return 0;
	case CFG_SIZE:
		if (json_is_num(v)) {
			rc = json_u64(v, &out->n.u);
			if (rc && json_double(v, &d) == 0 && d > 0 && integral(d))
				rc = -ERANGE;
		} else if (json_is_str(v)) {
			rc = cfg_parse_size(json_str(v), &out->n.u);
		} else {
			rc = -EINVAL;
		}
		if (rc == -ERANGE)
			return range_error(cfg, o, name, origin, v);
		if (rc)
			return type_error(cfg, o, name, origin, v);
		if (!in_range_u(o, out->n.u))
			return range_error(cfg, o, name, origin, v);
		return 0;
	case CFG_MS:
	case CFG_SECS:
		if (json_is_num(v))
			rc = json_double(v, &d) ? -EINVAL : ms_from_double(d, unit, &out->n.u);
		else if (json_is_str(v))
			rc = cfg_parse_duration_ms(json_str(v), unit, &out->n.u);
		else
			rc = -EINVAL;
		if (rc == -ERANGE)
			return range_error(cfg, o, name, origin, v);
		if (rc)
			return type_error(cfg, o, name, origin, v);
		if (!in_range_u(o, out->n.u))
			return range_error(cfg, o, name, origin, v);
		return 0;
	case CFG_LIST:
		rc = parse_list(cfg, o, name, v, from_text, origin, out);
		if (rc)
			val_free(out);
		return rc;
	case CFG_JSON:
		if (from_text) {
			const char *s = json_str(v);

			out->j = json_parse(s, strlen(s), NULL, 0);
			if (!json_is_obj(out->j)) {
				val_free(out);
				return type_error(cfg, o, name, origin, v);
			}
			return 0;
		}
		if (!json_is_obj(v))
			return type_error(cfg, o, name, origin, v);
		out->j = json_clone(v);
		return 0;
	}
	die("config: %s: bad type %d in the schema", o->name, (int)o->type);
}

static bool warned_before(struct cfg *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->nwarned; i++)
		if (!strcmp(cfg->warned[i], key))
			return true;
	cfg->warned = xrealloc(cfg->warned, (cfg->nwarned + 1) * sizeof(char *));
	cfg->warned[cfg->nwarned++] = xstrdup(key);
	return false;
}

/* Keeps an unknown key in layer l. */
static void set_raw(struct cfg *cfg, struct cfg_layer *l, const char *key, json_t v,
		    bool from_text, const char *origin)
{
	struct raw_kv *r;
	json_t copy;

	if (from_text) {
		struct strbuf sb;

		sb_init(&sb);
		if (sb_json_str(&sb, json_str(v)))
			die("config: out of memory");
		copy = json_parse(sb.buf, sb.len, NULL, 0);
		sb_free(&sb);
		if (!copy)
			die("config: cannot copy a JSON value");
	} else {
		copy = json_clone(v);
	}
	if (!warned_before(cfg, key))
		log_warn("config: unknown key \"%.100s\" %s (kept, but not used by vstor)",
			 key, origin);
	r = layer_raw(l, key);
	if (r) {
		json_free(r->val);
		r->val = copy;
		return;
	}
	if (l->nraw == l->capraw) {
		l->capraw = l->capraw ? 2 * l->capraw : 8;
		l->raw = xrealloc(l->raw, l->capraw * sizeof(*l->raw));
	}
	l->raw[l->nraw].key = xstrdup(key);
	l->raw[l->nraw].val = copy;
	l->nraw++;
}

/* Sets key from v into layer l of source src. */
static int set_value(struct cfg *cfg, struct cfg_layer *l, int src, const char *key,
		     json_t v, bool from_text, const char *origin)
{
	const struct cfg_opt *o;
	struct cfg_slot *slot;
	struct cfg_val val;
	bool alias = false;
	long i;
	int rc;

	if (!v || YAJL_IS_NULL(v))
		return 0;	/* null = not given */
	i = find_opt(cfg, key, &alias);
	if (i < 0) {
		set_raw(cfg, l, key, v, from_text, origin);
		return 0;
	}
	o = cfg->opts[i];
	if (src == CFG_SRC_ETCD && (o->flags & CFG_F_NO_ETCD)) {
		log_debug("config: %s %s ignored: it is a local setting", key, origin);
		return 0;
	}
	if (src == CFG_SRC_FILE && (o->flags & CFG_F_NO_FILE)) {
		log_warn("config: %s %s ignored: it is only valid on the command line",
			 key, origin);
		return 0;
	}
	rc = parse_value(cfg, o, key, v, from_text, origin, &val);
	if (rc)
		return rc;
	slot = &l->slots[i];
	if (alias && slot->set && !slot->via_alias) {
		/* The current name wins over the old one from the same source. */
		val_free(&val);
		return 0;
	}
	val_free(&slot->v);
	slot->v = val;
	slot->set = true;
	slot->via_alias = alias;
	return 0;
}

static int set_text(struct cfg *cfg, int src, const char *key, const char *text)
{
	struct yajl_val_s tv = text_val(text);

	return set_value(cfg, &cfg->layer[src], src, key, &tv, true, src_origin(cfg, src));
}

/* ---------------------------------------------------------------------- */
/* Common schema (spec §10) */

#define SC_ALL CFG_SC_ALL
#define SC_NET (CFG_SC_CLIENT | CFG_SC_OSD)

static const struct cfg_opt base_opts[] = {
	{ .name = "config_path", .type = CFG_STR, .def = DEFAULT_CONFIG_PATH,
	  .scope = SC_ALL, .flags = CFG_F_NO_FILE | CFG_F_NO_ETCD,
	  .help = "Configuration file (a JSON object). A missing default file is "
		  "fine; a missing explicit one is an error; \"\" = no file." },
	{ .name = "etcd_address", .type = CFG_LIST, .scope = SC_ALL,
	  .help = "etcd client addresses host:port[/path] (path defaults to /v3, "
		  "http:// or https:// allowed): comma-separated string or "
		  "array. Required." },
	{ .name = "etcd_ca_file", .type = CFG_STR, .scope = SC_ALL,
	  .help = "CA certificate (PEM) to verify https etcd endpoints (vstor)." },
	{ .name = "etcd_cert_file", .type = CFG_STR, .scope = SC_ALL,
	  .help = "Client certificate (PEM) for https etcd endpoints (vstor)." },
	{ .name = "etcd_key_file", .type = CFG_STR, .scope = SC_ALL,
	  .help = "Client key (PEM) for etcd_cert_file (vstor)." },
	{ .name = "etcd_user", .type = CFG_STR, .scope = SC_ALL,
	  .help = "etcd user name, with etcd_password, when etcd auth is on (vstor)." },
	{ .name = "etcd_password", .type = CFG_STR, .scope = SC_ALL,
	  .flags = CFG_F_NO_ETCD, .help = "etcd password for etcd_user (vstor)." },
	{ .name = "etcd_prefix", .type = CFG_STR, .def = "/vitastor", .scope = SC_ALL,
	  .flags = CFG_F_NO_ETCD, .help = "Prefix of all vstor keys in etcd." },
	{ .name = "log_level", .type = CFG_I64, .def = "0", .scope = SC_ALL, CFG_MIN(-3),
	  .help = "Verbosity: 0 = errors, warnings and info; 1 = +debug; 2 = +trace; "
		  "-1 = warnings and errors; -2 = errors; -3 = nothing." },
	{ .name = "block_size", .type = CFG_SIZE, .def = "131072",
	  .scope = SC_ALL | CFG_SC_GLOBAL,
	  .help = "Object size: a power of two from 4k to 128M (cluster-wide)." },
	{ .name = "bitmap_granularity", .type = CFG_SIZE, .def = "4096",
	  .scope = SC_ALL | CFG_SC_GLOBAL,
	  .help = "Sparse write tracking granularity; must divide block_size "
		  "(cluster-wide)." },
	{ .name = "immediate_commit", .type = CFG_STR, .def = "none",
	  .choices = "none|small|all", .scope = SC_NET | CFG_SC_GLOBAL,
	  .help = "Which writes are durable without SYNC: none, small or all." },
	{ .name = "client_max_dirty_bytes", .type = CFG_SIZE, .def = "32M",
	  .alias = "client_dirty_limit", .scope = CFG_SC_CLIENT,
	  .help = "Unsynced bytes a client buffers before forcing a SYNC." },
	{ .name = "client_max_dirty_ops", .type = CFG_U64, .def = "1024",
	  .scope = CFG_SC_CLIENT,
	  .help = "Unsynced writes a client buffers before forcing a SYNC." },
	{ .name = "up_wait_retry_interval", .type = CFG_MS, .def = "500", CFG_MIN(50),
	  .scope = CFG_SC_CLIENT,
	  .help = "Retry interval for ops whose PG or OSD is not up." },
	{ .name = "peer_connect_interval", .type = CFG_SECS, .def = "5", .scope = SC_NET,
	  .help = "Delay before reconnecting to an unreachable OSD." },
	{ .name = "peer_connect_timeout", .type = CFG_SECS, .def = "5", .scope = SC_NET,
	  .help = "Timeout of connection attempts to OSDs." },
	{ .name = "osd_idle_timeout", .type = CFG_SECS, .def = "5", .scope = SC_NET,
	  .help = "Idle time before an OSD connection is pinged." },
	{ .name = "osd_ping_timeout", .type = CFG_SECS, .def = "5", .scope = SC_NET,
	  .help = "Ping reply timeout before the connection is dropped." },
	{ .name = "peer_op_timeout", .type = CFG_SECS, .def = "60", .scope = CFG_SC_OSD,
	  .help = "An OSD drops the connection to a peer OSD that leaves a request "
		  "unanswered this long, and re-peers its PGs (vstor; 0 = never)." },
	{ .name = "tcp_header_buffer_size", .type = CFG_SIZE, .def = "65536", CFG_MIN(128),
	  .scope = SC_NET, .help = "Receive buffer size for small messages." },
	{ .name = "use_sync_send_recv", .type = CFG_BOOL, .def = "false", .scope = SC_NET,
	  .help = "Use plain send/recv syscalls instead of io_uring." },
	{ .name = "use_rdma", .type = CFG_BOOL, .def = "false", .scope = SC_NET,
	  .help = "Use RDMA when available (Vitastor's default is true in RDMA "
		  "builds; vstor has no RDMA transport yet)." },
	{ .name = "rdma_device", .type = CFG_STR, .scope = SC_NET,
	  .help = "RDMA device name (default: the first one)." },
	{ .name = "rdma_port_num", .type = CFG_U64, .def = "1", CFG_RANGE(1, 255),
	  .scope = SC_NET, .help = "RDMA device port number." },
	{ .name = "rdma_gid_index", .type = CFG_U64, .def = "0", CFG_RANGE(0, 65535),
	  .scope = SC_NET, .help = "RDMA GID index." },
	{ .name = "rdma_mtu", .type = CFG_U64, CFG_RANGE(256, 4096), .scope = SC_NET,
	  .help = "RDMA path MTU: 256, 512, 1024, 2048 or 4096 (default: the port's "
		  "active MTU)." },
	{ .name = "rdma_max_sge", .type = CFG_U64, .def = "128", CFG_MIN(1),
	  .scope = SC_NET, .help = "Maximum RDMA scatter/gather entries." },
	{ .name = "rdma_max_send", .type = CFG_U64, .def = "1", CFG_MIN(1),
	  .scope = SC_NET, .help = "Maximum outstanding RDMA send operations." },
	{ .name = "rdma_max_recv", .type = CFG_U64, .def = "128", CFG_MIN(1),
	  .scope = SC_NET, .help = "Maximum posted RDMA receive buffers." },
	{ .name = "rdma_max_msg", .type = CFG_SIZE, .def = "132096", CFG_MIN(1),
	  .scope = SC_NET, .help = "Maximum RDMA message size." },
	{ .name = "max_etcd_attempts", .type = CFG_U64, .def = "5", CFG_MIN(1),
	  .scope = SC_ALL, .help = "Attempts of each etcd request before giving up." },
	{ .name = "etcd_quick_timeout", .type = CFG_MS, .def = "1000", .scope = SC_ALL,
	  .help = "Timeout of quick etcd requests." },
	{ .name = "etcd_slow_timeout", .type = CFG_MS, .def = "5000", .scope = SC_ALL,
	  .help = "Timeout of slow etcd requests (e.g. loading all state)." },
	{ .name = "etcd_keepalive_timeout", .type = CFG_SECS, .scope = SC_ALL,
	  .help = "etcd lease keepalive timeout (default: max(30, 2 x "
		  "etcd_report_interval) seconds)." },
	{ .name = "etcd_ws_keepalive_interval", .type = CFG_SECS, .def = "30",
	  .scope = SC_ALL, .help = "Interval of etcd watch WebSocket keepalives." },
	{ .name = "osd_network", .type = CFG_LIST, .scope = CFG_SC_OSD,
	  .help = "Networks (CIDR, string or array) to pick the OSD's address from." },
	{ .name = "bind_address", .type = CFG_STR, .def = "0.0.0.0", .scope = CFG_SC_OSD,
	  .help = "Address the OSD listens on." },
	{ .name = "bind_port", .type = CFG_U64, .def = "0", CFG_RANGE(0, 65535),
	  .scope = CFG_SC_OSD, .help = "Port the OSD listens on (0 = ephemeral)." },
	{ .name = "etcd_report_interval", .type = CFG_SECS, .def = "5", CFG_MIN(1),
	  .scope = CFG_SC_OSD,
	  .help = "Interval of OSD state/stats reports and lease keepalives." },
	{ .name = "run_primary", .type = CFG_BOOL, .def = "true", .scope = CFG_SC_OSD,
	  .help = "Serve client I/O as a primary OSD." },
	{ .name = "readonly", .type = CFG_BOOL, .def = "false", .scope = CFG_SC_OSD,
	  .help = "Open the blockstore read-only." },
	{ .name = "no_recovery", .type = CFG_BOOL, .def = "false", .scope = CFG_SC_OSD,
	  .help = "Disable recovery of degraded objects." },
	{ .name = "no_rebalance", .type = CFG_BOOL, .def = "false", .scope = CFG_SC_OSD,
	  .help = "Disable moving misplaced objects." },
	{ .name = "autosync_interval", .type = CFG_SECS, .def = "5", .scope = CFG_SC_OSD,
	  .help = "Sync the blockstore at least this often (0 = never)." },
	{ .name = "autosync_writes", .type = CFG_U64, .def = "128", .scope = CFG_SC_OSD,
	  .help = "Sync the blockstore after this many unsynced writes (0 = never)." },
	{ .name = "recovery_queue_depth", .type = CFG_U64, .def = "4", CFG_MIN(1),
	  .scope = CFG_SC_OSD, .help = "Parallel recovery operations per OSD." },
	{ .name = "recovery_sync_batch", .type = CFG_U64, .def = "16", CFG_MIN(1),
	  .scope = CFG_SC_OSD, .help = "Recovered objects per sync." },
	{ .name = "etcd_mon_ttl", .type = CFG_SECS, .def = "30", CFG_MIN(1),
	  .scope = CFG_SC_MON, .help = "Monitor lease TTL." },
	{ .name = "etcd_mon_timeout", .type = CFG_MS, .def = "1000", .scope = CFG_SC_MON,
	  .help = "Monitor etcd request timeout." },
	{ .name = "etcd_mon_retries", .type = CFG_U64, .def = "5", .scope = CFG_SC_MON,
	  .help = "Monitor etcd request retries." },
	{ .name = "mon_change_timeout", .type = CFG_MS, .def = "1000", .scope = CFG_SC_MON,
	  .help = "Delay before the monitor reacts to OSD changes." },
	{ .name = "mon_stats_timeout", .type = CFG_MS, .def = "1000", .scope = CFG_SC_MON,
	  .help = "Delay before the monitor aggregates new statistics." },
	{ .name = "osd_out_time", .type = CFG_SECS, .def = "600", .scope = CFG_SC_MON,
	  .help = "Time an OSD may be down before its data is moved elsewhere." },
	{ .name = "placement_levels", .type = CFG_JSON, .def = "{\"host\":100,\"osd\":101}",
	  .scope = CFG_SC_MON,
	  .help = "Placement tree levels: {\"level\": rank}; lower ranks are closer "
		  "to the root." },
	{ .name = "osd_num", .type = CFG_U64, CFG_MIN(1), .scope = CFG_SC_OSD,
	  .flags = CFG_F_NO_ETCD, .help = "This OSD's number (required by vstor-osd)." },
};

static bool pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static int base_check(struct cfg *cfg)
{
	uint64_t bs = cfg_u64(cfg, "block_size"), bg = cfg_u64(cfg, "bitmap_granularity");
	char gbuf[128];
	json_t pl;

	if (!pow2(bs) || bs < MIN_BLOCK_SIZE || bs > MAX_BLOCK_SIZE)
		return cfg_fail(cfg, "config: block_size %s: %" PRIu64 " is not a power of "
				"two between 4096 (4k) and 134217728 (128M)",
				cfg_origin(cfg, "block_size"), bs);
	if (!bg)
		return cfg_fail(cfg, "config: bitmap_granularity %s: must not be 0",
				cfg_origin(cfg, "bitmap_granularity"));
	if (bs % bg)
		return cfg_fail(cfg, "config: bitmap_granularity %s: %" PRIu64 " does not "
				"divide block_size (%" PRIu64 " %s)",
				cfg_origin(cfg, "bitmap_granularity"), bg, bs,
				cfg_origin(cfg, "block_size"));
	if (cfg_is_set(cfg, "rdma_mtu") && !pow2(cfg_u64(cfg, "rdma_mtu")))
		return cfg_fail(cfg, "config: rdma_mtu %s: %" PRIu64 " is not one of 256, "
				"512, 1024, 2048, 4096", cfg_origin(cfg, "rdma_mtu"),
				cfg_u64(cfg, "rdma_mtu"));
	pl = cfg_json(cfg, "placement_levels");
	for (size_t i = 0; i < json_len(pl); i++) {
		uint64_t u;

		if (json_u64(json_at(pl, i), &u))
			return cfg_fail(cfg, "config: placement_levels %s: level \"%.100s\": "
					"expected a non-negative integer, got %s",
					cfg_origin(cfg, "placement_levels"), json_key_at(pl, i),
					show(json_at(pl, i), gbuf, sizeof(gbuf)));
	}
	return 0;
}

/* Defaults computed from other keys; runs after successful validation. */
static void base_derive(struct cfg *cfg)
{
	long i = find_opt(cfg, "etcd_keepalive_timeout", NULL);
	struct cfg_slot *def = &cfg->layer[CFG_SRC_DEFAULT].slots[i];
	uint64_t ms;
	int src = CFG_SRC_DEFAULT;

	if (eff_slot(cfg, (size_t)i, &src) && src != CFG_SRC_DEFAULT)
		return;
	ms = cfg_ms(cfg, "etcd_report_interval");
	ms = ms > UINT64_MAX / 2 ? UINT64_MAX : 2 * ms;
	if (ms < 30000)
		ms = 30000;
	val_free(&def->v);
	def->v.n.u = ms;
	def->set = true;
	def->via_alias = false;
}

/* ---------------------------------------------------------------------- */
/* Life cycle and schema */

struct cfg *cfg_new(void)
{
	struct cfg *cfg = xcalloc(1, sizeof(*cfg));

	for (int s = 0; s < CFG_NSRC; s++)
		layer_init(&cfg->layer[s], 0);
	cfg->file_path = xstrdup("");
	cfg_register(cfg, base_opts, CFG_COUNT(base_opts), base_check);
	base_derive(cfg);
	return cfg;
}

void cfg_free(struct cfg *cfg)
{
	if (!cfg)
		return;
	for (int s = 0; s < CFG_NSRC; s++)
		layer_free(&cfg->layer[s], cfg->nopt);
	free(cfg->opts);
	free(cfg->checks);
	free(cfg->file_path);
	free(cfg->file_origin);
	free(cfg->etcd_origin);
	for (size_t i = 0; i < cfg->nargs; i++)
		free(cfg->args[i]);
	free(cfg->args);
	for (size_t i = 0; i < cfg->nwarned; i++)
		free(cfg->warned[i]);
	free(cfg->warned);
	free(cfg);
}

static void check_opt(const struct cfg *cfg, const struct cfg_opt *o)
{
	if (!o->name || !o->name[0])
		die("config: schema entry without a name");
	if ((unsigned)o->type > CFG_JSON)
		die("config: %s: bad type %d", o->name, (int)o->type);
	if (find_opt(cfg, o->name, NULL) >= 0)
		die("config: key %s registered twice", o->name);
	if (o->alias && find_opt(cfg, o->alias, NULL) >= 0)
		die("config: alias %s of %s is already registered", o->alias, o->name);
	if (o->alias && !strcmp(o->alias, o->name))
		die("config: %s is its own alias", o->name);
	if (o->choices && o->type != CFG_STR)
		die("config: %s: choices are only for CFG_STR", o->name);
	if (o->ranged && (o->min > o->max || o->type == CFG_STR || o->type == CFG_BOOL ||
			  o->type == CFG_LIST || o->type == CFG_JSON))
		die("config: %s: bad range", o->name);
}

void cfg_register(struct cfg *cfg, const struct cfg_opt *table, size_t n,
		  cfg_check_fn check)
{
	size_t old = cfg->nopt;

	if (cfg->frozen)
		die("config: cfg_register() called after values were loaded");
	if (cfg->nopt + n > cfg->capopt) {
		cfg->capopt = cfg->nopt + n + 16;
		cfg->opts = xrealloc(cfg->opts, cfg->capopt * sizeof(*cfg->opts));
	}
	for (size_t i = 0; i < n; i++) {
		check_opt(cfg, &table[i]);
		cfg->opts[cfg->nopt++] = &table[i];
	}
	for (int s = 0; s < CFG_NSRC; s++) {
		struct cfg_layer *l = &cfg->layer[s];

		l->slots = xrealloc(l->slots, cfg->nopt * sizeof(*l->slots));
		memset(l->slots + old, 0, (cfg->nopt - old) * sizeof(*l->slots));
	}
	for (size_t i = old; i < cfg->nopt; i++) {
		const struct cfg_opt *o = cfg->opts[i];

		if (o->def && set_text(cfg, CFG_SRC_DEFAULT, o->name, o->def))
			die("%s (a bug in the schema)", cfg->err);
	}
	if (check) {
		cfg->checks = xrealloc(cfg->checks, (cfg->nchecks + 1) * sizeof(*cfg->checks));
		cfg->checks[cfg->nchecks++] = check;
	}
}

/* ---------------------------------------------------------------------- */
/* Loading */

static bool is_option(const char *a)
{
	return a[0] == '-' && a[1] == '-' && a[2];
}

static void add_arg(struct cfg *cfg, const char *a)
{
	cfg->args = xrealloc(cfg->args, (cfg->nargs + 2) * sizeof(char *));
	cfg->args[cfg->nargs++] = xstrdup(a);
	cfg->args[cfg->nargs] = NULL;
}

int cfg_parse_args(struct cfg *cfg, int argc, char *const *argv)
{
	const char *origin = src_origin(cfg, CFG_SRC_CMDLINE);
	struct cfg_layer *l = &cfg->layer[CFG_SRC_CMDLINE];
	bool only_args = false;
	int rc = 0;

	cfg->frozen = true;
	for (int i = 1; i < argc && !rc; i++) {
		const char *a = argv[i], *eq, *value;
		long k;
		char *key;

		if (only_args || !is_option(a)) {
			if (!only_args && !strcmp(a, "--"))
				only_args = true;
			else if (!only_args && !strcmp(a, "-h"))
				cfg->help = true;
			else
				add_arg(cfg, a);
			continue;
		}
		if (!strcmp(a, "--help")) {
			cfg->help = true;
			continue;
		}
		eq = strchr(a + 2, '=');
		key = eq ? strndup(a + 2, (size_t)(eq - a - 2)) : strdup(a + 2);
		if (!key)
			die("config: out of memory");
		for (char *p = key; *p; p++)
			if (*p == '-')
				*p = '_';
		if (!key[0]) {
			rc = cfg_fail(cfg, "config: \"%.100s\" on the command line: "
				      "empty option name", a);
			free(key);
			break;
		}
		k = find_opt(cfg, key, NULL);
		if (eq) {
			value = eq + 1;
		} else if (k >= 0 && cfg->opts[k]->type == CFG_BOOL) {
			bool b;

			if (i + 1 < argc && bool_word(argv[i + 1], &b))
				value = argv[++i];
			else
				value = "true";
		} else if (i + 1 < argc && !is_option(argv[i + 1])) {
			value = argv[++i];
		} else if (k < 0) {
			/* A bare unknown flag: keep it as true. */
			struct yajl_val_s t;

			memset(&t, 0, sizeof(t));
			t.type = yajl_t_true;
			rc = set_value(cfg, l, CFG_SRC_CMDLINE, key, &t, false, origin);
			free(key);
			continue;
		} else {
			rc = cfg_fail(cfg, "config: %.100s %s: missing value", key, origin);
			free(key);
			break;
		}
		rc = set_text(cfg, CFG_SRC_CMDLINE, key, value);
		free(key);
	}
	return rc;
}

int cfg_load_text(struct cfg *cfg, const char *text, size_t len, const char *origin)
{
	struct cfg_layer tmp;
	char *desc, jerr[256], gbuf[128];
	json_t v = NULL;
	int rc = 0;

	cfg->frozen = true;
	if (!origin)
		origin = "config text";
	desc = xasprintf("in %s", origin);
	layer_init(&tmp, cfg->nopt);
	if (!is_blank(text, len)) {
		v = json_parse(text, len, jerr, sizeof(jerr));
		if (!v) {
			rc = cfg_fail(cfg, "config: %s: invalid JSON: %s", origin, jerr);
		} else if (!json_is_obj(v)) {
			rc = cfg_fail(cfg, "config: %s: expected a JSON object, got %s",
				      origin, show(v, gbuf, sizeof(gbuf)));
		} else {
			for (size_t i = 0; i < json_len(v) && !rc; i++)
				rc = set_value(cfg, &tmp, CFG_SRC_FILE, json_key_at(v, i),
					       json_at(v, i), false, desc);
		}
		if (v)
			json_free(v);
	}
	if (rc) {
		layer_free(&tmp, cfg->nopt);
		free(desc);
		return rc;
	}
	layer_free(&cfg->layer[CFG_SRC_FILE], cfg->nopt);
	cfg->layer[CFG_SRC_FILE] = tmp;
	free(cfg->file_origin);
	cfg->file_origin = desc;
	free(cfg->file_path);
	cfg->file_path = xstrdup(origin);
	return 0;
}

int cfg_load_file(struct cfg *cfg, const char *path, bool must_exist)
{
	struct strbuf sb;
	char buf[4096];
	FILE *f;
	size_t n;
	int rc, e;

	cfg->frozen = true;
	f = fopen(path, "rb");
	if (!f) {
		e = errno;
		if (e == ENOENT && !must_exist) {
			log_debug("config: no config file %s, using defaults", path);
			return 0;
		}
		cfg_fail(cfg, "config: cannot open config file %s: %s", path, strerror(e));
		return -e;
	}
	sb_init(&sb);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (sb.len + n > MAX_CONFIG_FILE) {
			fclose(f);
			sb_free(&sb);
			return cfg_fail(cfg, "config: config file %s is larger than %u bytes",
					path, MAX_CONFIG_FILE);
		}
		if (sb_add(&sb, buf, n))
			die("config: out of memory");
	}
	if (ferror(f)) {
		e = errno ? errno : EIO;
		fclose(f);
		sb_free(&sb);
		cfg_fail(cfg, "config: cannot read config file %s: %s", path, strerror(e));
		return -e;
	}
	fclose(f);
	rc = cfg_load_text(cfg, sb.buf ? sb.buf : "", sb.len, path);
	sb_free(&sb);
	return rc;
}

int cfg_load(struct cfg *cfg, int argc, char *const *argv)
{
	long k = find_opt(cfg, "config_path", NULL);
	bool explicit;
	const char *path;
	int rc;

	rc = cfg_parse_args(cfg, argc, argv);
	if (rc || cfg->help)
		return rc;	/* help must work even with a broken config file */
	explicit = cfg->layer[CFG_SRC_CMDLINE].slots[k].set;
	path = cfg_str(cfg, "config_path");
	if (path && path[0]) {
		rc = cfg_load_file(cfg, path, explicit);
		if (rc)
			return rc;
	}
	return cfg_validate(cfg);
}

int cfg_merge_etcd(struct cfg *cfg, json_t global)
{
	const char *prefix = cfg_str(cfg, "etcd_prefix");
	char *origin, *old_origin, gbuf[128];
	struct cfg_layer tmp;
	size_t plen;
	int rc = 0;

	cfg->frozen = true;
	if (!prefix)
		prefix = "";
	plen = strlen(prefix);
	while (plen > 0 && prefix[plen - 1] == '/')
		plen--;
	origin = xasprintf("in etcd %.*s/config/global", (int)plen, prefix);
	layer_init(&tmp, cfg->nopt);
	if (global && !YAJL_IS_NULL(global)) {
		if (!json_is_obj(global)) {
			rc = cfg_fail(cfg, "config: etcd %.*s/config/global: expected a JSON "
				      "object, got %s", (int)plen, prefix,
				      show(global, gbuf, sizeof(gbuf)));
		}
		for (size_t i = 0; i < json_len(global) && !rc; i++)
			rc = set_value(cfg, &tmp, CFG_SRC_ETCD, json_key_at(global, i),
				       json_at(global, i), false, origin);
	}
	if (rc) {
		layer_free(&tmp, cfg->nopt);
		free(origin);
		return rc;
	}
	/* Swap the new etcd layer in, validate, and swap back on failure. */
	{
		struct cfg_layer old = cfg->layer[CFG_SRC_ETCD];

		cfg->layer[CFG_SRC_ETCD] = tmp;
		old_origin = cfg->etcd_origin;
		cfg->etcd_origin = origin;
		rc = cfg_validate(cfg);
		if (rc) {
			layer_free(&cfg->layer[CFG_SRC_ETCD], cfg->nopt);
			cfg->layer[CFG_SRC_ETCD] = old;
			cfg->etcd_origin = old_origin;
			free(origin);
			return rc;
		}
		layer_free(&old, cfg->nopt);
		free(old_origin);
	}
	return 0;
}

int cfg_merge_etcd_text(struct cfg *cfg, const char *text, size_t len)
{
	char jerr[256];
	json_t v;
	int rc;

	if (!text || is_blank(text, len))
		return cfg_merge_etcd(cfg, NULL);
	v = json_parse(text, len, jerr, sizeof(jerr));
	if (!v) {
		const char *prefix = cfg_str(cfg, "etcd_prefix");

		return cfg_fail(cfg, "config: etcd %s/config/global: invalid JSON: %s",
				prefix ? prefix : "", jerr);
	}
	rc = cfg_merge_etcd(cfg, v);
	json_free(v);
	return rc;
}

int cfg_set(struct cfg *cfg, const char *key, const char *value, enum cfg_source src)
{
	if ((int)src < 0 || (int)src >= CFG_NSRC)
		die("config: cfg_set(%s): bad source %d", key, (int)src);
	cfg->frozen = true;
	return set_text(cfg, (int)src, key, value);
}

int cfg_validate(struct cfg *cfg)
{
	for (size_t i = 0; i < cfg->nchecks; i++) {
		int rc = cfg->checks[i](cfg);

		if (rc)
			return rc < 0 ? rc : -EINVAL;
	}
	base_derive(cfg);
	return 0;
}

int cfg_require(struct cfg *cfg, const char *key)
{
	if (cfg_is_set(cfg, key))
		return 0;
	return cfg_fail(cfg, "config: %s is not set (give --%s or set it in %s)", key, key,
			cfg->file_path[0] ? cfg->file_path : DEFAULT_CONFIG_PATH);
}

/* ---------------------------------------------------------------------- */
/* Getters */

#define T(t) (1u << (t))

static size_t need_key(const struct cfg *cfg, const char *key, const char *getter,
		       unsigned types)
{
	long i = find_opt(cfg, key, NULL);

	if (i < 0)
		die("config: %s(\"%s\"): the key is not registered", getter, key);
	if (!(types & T(cfg->opts[i]->type)))
		die("config: %s(\"%s\"): the key has type %s", getter, key,
		    type_word(cfg->opts[i]));
	return (size_t)i;
}

static const struct cfg_val *get(const struct cfg *cfg, const char *key,
				 const char *getter, unsigned types)
{
	const struct cfg_slot *s = eff_slot(cfg, need_key(cfg, key, getter, types), NULL);

	return s ? &s->v : NULL;
}

const char *cfg_str(const struct cfg *cfg, const char *key)
{
	const struct cfg_val *v = get(cfg, key, "cfg_str", T(CFG_STR));

	return v ? v->s : NULL;
}

bool cfg_bool(const struct cfg *cfg, const char *key)
{
	const struct cfg_val *v = get(cfg, key, "cfg_bool", T(CFG_BOOL));

	return v ? v->n.b : false;
}

uint64_t cfg_u64(const struct cfg *cfg, const char *key)
{
	const struct cfg_val *v = get(cfg, key, "cfg_u64", T(CFG_U64) | T(CFG_SIZE));

	return v ? v->n.u : 0;
}

int64_t cfg_i64(const struct cfg *cfg, const char *key)
{
	const struct cfg_val *v = get(cfg, key, "cfg_i64", T(CFG_I64));

	return v ? v->n.i : 0;
}

double cfg_double(const struct cfg *cfg, const char *key)
{
	const struct cfg_val *v = get(cfg, key, "cfg_double", T(CFG_DOUBLE));

	return v ? v->n.d : 0;
}

uint64_t cfg_ms(const struct cfg *cfg, const char *key)
{
	const struct cfg_val *v = get(cfg, key, "cfg_ms", T(CFG_MS) | T(CFG_SECS));

	return v ? v->n.u : 0;
}

const char *const *cfg_strv(const struct cfg *cfg, const char *key, size_t *n)
{
	static const char *const empty[] = { NULL };
	const struct cfg_val *v = get(cfg, key, "cfg_strv", T(CFG_LIST));

	if (n)
		*n = v ? v->vn : 0;
	return v && v->v ? (const char *const *)v->v : empty;
}

json_t cfg_json(const struct cfg *cfg, const char *key)
{
	const struct cfg_val *v = get(cfg, key, "cfg_json", T(CFG_JSON));

	return v ? v->j : NULL;
}

bool cfg_is_set(const struct cfg *cfg, const char *key)
{
	return eff_slot(cfg, need_key(cfg, key, "cfg_is_set", ~0u), NULL) != NULL;
}

enum cfg_source cfg_source(const struct cfg *cfg, const char *key)
{
	long i = find_opt(cfg, key, NULL);
	int src;

	if (i >= 0)
		return eff_slot(cfg, (size_t)i, &src) ? (enum cfg_source)src : CFG_SRC_UNSET;
	for (int s = CFG_NSRC - 1; s >= 0; s--)
		if (layer_raw(&cfg->layer[s], key))
			return (enum cfg_source)s;
	return CFG_SRC_UNSET;
}

const char *cfg_source_name(enum cfg_source src)
{
	switch (src) {
	case CFG_SRC_DEFAULT:
		return "default";
	case CFG_SRC_ETCD:
		return "etcd";
	case CFG_SRC_FILE:
		return "file";
	case CFG_SRC_CMDLINE:
		return "cmdline";
	default:
		return "unset";
	}
}

const char *cfg_origin(const struct cfg *cfg, const char *key)
{
	return src_origin(cfg, cfg_source(cfg, key));
}

bool cfg_is_known(const struct cfg *cfg, const char *key)
{
	return find_opt(cfg, key, NULL) >= 0;
}

json_t cfg_raw(const struct cfg *cfg, const char *key)
{
	if (find_opt(cfg, key, NULL) >= 0)
		return NULL;
	for (int s = CFG_NSRC - 1; s >= 0; s--) {
		struct raw_kv *r = layer_raw(&cfg->layer[s], key);

		if (r)
			return r->val;
	}
	return NULL;
}

const char *cfg_file_path(const struct cfg *cfg)
{
	return cfg->file_path;
}

bool cfg_help_requested(const struct cfg *cfg)
{
	return cfg->help;
}

char *const *cfg_args(const struct cfg *cfg, size_t *n)
{
	static char *const empty[] = { NULL };

	if (n)
		*n = cfg->nargs;
	return cfg->args ? cfg->args : empty;
}

/* ---------------------------------------------------------------------- */
/* Output */

void cfg_print_help(const struct cfg *cfg, FILE *out, unsigned scope_mask)
{
	static const struct { unsigned bit; const char *name; } scopes[] = {
		{ CFG_SC_CLIENT, "client" }, { CFG_SC_OSD, "osd" }, { CFG_SC_MON, "mon" },
		{ CFG_SC_CLI, "vsctl" }, { CFG_SC_GLOBAL, "cluster-wide" },
	};

	for (size_t i = 0; i < cfg->nopt; i++) {
		const struct cfg_opt *o = cfg->opts[i];
		const char *sep = "";

		if (scope_mask && !(o->scope & scope_mask))
			continue;
		if (o->choices)
			fprintf(out, "  --%s <%s>", o->name, o->choices);
		else
			fprintf(out, "  --%s <%s>", o->name, type_word(o));
		if (o->def)
			fprintf(out, "  (default: %s)", o->def);
		fprintf(out, "  [");
		if ((o->scope & CFG_SC_ALL) == CFG_SC_ALL) {
			fprintf(out, "all");
			sep = ", ";
		}
		for (size_t s = 0; s < sizeof(scopes) / sizeof(scopes[0]); s++) {
			if ((o->scope & CFG_SC_ALL) == CFG_SC_ALL && scopes[s].bit != CFG_SC_GLOBAL)
				continue;
			if (o->scope & scopes[s].bit) {
				fprintf(out, "%s%s", sep, scopes[s].name);
				sep = ", ";
			}
		}
		fprintf(out, "]\n");
		if (o->help)
			fprintf(out, "      %s\n", o->help);
		if (o->alias)
			fprintf(out, "      Old name: --%s.\n", o->alias);
	}
}

static int dump_val(struct strbuf *sb, const struct cfg_opt *o, const struct cfg_val *v)
{
	switch (o->type) {
	case CFG_STR:
		return sb_json_str(sb, v->s);
	case CFG_BOOL:
		return sb_puts(sb, v->n.b ? "true" : "false");
	case CFG_U64:
	case CFG_SIZE:
		return sb_printf(sb, "%" PRIu64, v->n.u);
	case CFG_I64:
		return sb_printf(sb, "%" PRId64, v->n.i);
	case CFG_DOUBLE:
		return sb_printf(sb, "%.17g", v->n.d);
	case CFG_MS:
		return sb_printf(sb, "%" PRIu64, v->n.u);
	case CFG_SECS:
		if (v->n.u % 1000 == 0)
			return sb_printf(sb, "%" PRIu64, v->n.u / 1000);
		return sb_printf(sb, "%" PRIu64 ".%03u", v->n.u / 1000,
				 (unsigned)(v->n.u % 1000));
	case CFG_LIST: {
		int rc = sb_puts(sb, "[");

		for (size_t i = 0; !rc && i < v->vn; i++) {
			if (i)
				rc = sb_puts(sb, ",");
			if (!rc)
				rc = sb_json_str(sb, v->v[i]);
		}
		return rc ? rc : sb_puts(sb, "]");
	}
	case CFG_JSON:
		return sb_json_val(sb, v->j);
	}
	return -EINVAL;
}

static int dump_entry(struct strbuf *sb, bool *first, const char *key, int src,
		      unsigned flags, const struct cfg_opt *o, const struct cfg_val *v,
		      json_t raw)
{
	int rc = sb_puts(sb, *first ? "" : ",");

	*first = false;
	if (!rc)
		rc = sb_json_str(sb, key);
	if (!rc)
		rc = sb_puts(sb, (flags & CFG_DUMP_SOURCES) ? ":{\"value\":" : ":");
	if (!rc)
		rc = o ? dump_val(sb, o, v) : sb_json_val(sb, raw);
	if (!rc && (flags & CFG_DUMP_SOURCES))
		rc = sb_printf(sb, ",\"source\":\"%s\"}", cfg_source_name((enum cfg_source)src));
	return rc;
}

int cfg_dump_json(const struct cfg *cfg, struct strbuf *sb, unsigned flags)
{
	bool first = true;
	int rc = sb_puts(sb, "{");

	for (size_t i = 0; !rc && i < cfg->nopt; i++) {
		int src = CFG_SRC_DEFAULT;
		const struct cfg_slot *s = eff_slot(cfg, i, &src);

		if (!s || (src == CFG_SRC_DEFAULT && !(flags & CFG_DUMP_DEFAULTS)))
			continue;
		rc = dump_entry(sb, &first, cfg->opts[i]->name, src, flags, cfg->opts[i],
				&s->v, NULL);
	}
	for (int src = CFG_NSRC - 1; !rc && src >= 0 && (flags & CFG_DUMP_UNKNOWN); src--) {
		const struct cfg_layer *l = &cfg->layer[src];

		for (size_t i = 0; !rc && i < l->nraw; i++) {
			bool shadowed = false;

			for (int h = src + 1; h < CFG_NSRC; h++)
				if (layer_raw(&cfg->layer[h], l->raw[i].key))
					shadowed = true;
			if (!shadowed)
				rc = dump_entry(sb, &first, l->raw[i].key, src, flags, NULL,
						NULL, l->raw[i].val);
		}
	}
	return rc ? rc : sb_puts(sb, "}");
}
