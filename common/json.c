#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t json_parse(const char *text, size_t len, char *err, size_t errlen)
{
	char small[512], *copy = small;
	json_t v;

	if (err && errlen)
		err[0] = 0;
	/* yajl_tree_parse wants a NUL-terminated string. */
	if (len >= sizeof(small)) {
		copy = malloc(len + 1);
		if (!copy) {
			if (err && errlen)
				snprintf(err, errlen, "out of memory");
			return NULL;
		}
	}
	memcpy(copy, text, len);
	copy[len] = 0;
	if (strlen(copy) != len) {
		if (err && errlen)
			snprintf(err, errlen, "NUL byte inside JSON text");
		v = NULL;
	} else {
		v = yajl_tree_parse(copy, err, errlen);
	}
	if (copy != small)
		free(copy);
	if (!v && err && errlen && !err[0])
		snprintf(err, errlen, "invalid JSON");
	/* yajl's messages span lines; keep the first. */
	if (!v && err)
		err[strcspn(err, "\n")] = 0;
	return v;
}

void json_free(json_t v)
{
	yajl_tree_free(v);
}

bool json_is_obj(json_t v) { return v && YAJL_IS_OBJECT(v); }
bool json_is_arr(json_t v) { return v && YAJL_IS_ARRAY(v); }
bool json_is_str(json_t v) { return v && YAJL_IS_STRING(v); }
bool json_is_num(json_t v) { return v && YAJL_IS_NUMBER(v); }
bool json_is_bool(json_t v) { return v && (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)); }

json_t json_get(json_t v, const char *key)
{
	if (!json_is_obj(v))
		return NULL;
	for (size_t i = 0; i < v->u.object.len; i++)
		if (!strcmp(v->u.object.keys[i], key))
			return v->u.object.values[i];
	return NULL;
}

json_t json_path(json_t v, ...)
{
	va_list ap;
	const char *key;

	va_start(ap, v);
	while (v && (key = va_arg(ap, const char *)))
		v = json_get(v, key);
	va_end(ap);
	return v;
}

/* The decimal text of a number or numeric string, or NULL. */
static const char *num_text(json_t v)
{
	if (json_is_num(v))
		return v->u.number.r;
	if (json_is_str(v) && v->u.string[0])
		return v->u.string;
	return NULL;
}

int json_u64(json_t v, uint64_t *out)
{
	const char *s = num_text(v);
	char *end;
	unsigned long long x;

	if (!s || *s == '-' || *s == ' ')
		return -EINVAL;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end) {
		/* Accept integral floats such as 1e3 or 5.0. */
		double d;

		if (json_double(v, &d) || d < 0 || d >= 18446744073709551616.0 || d != floor(d))
			return -EINVAL;
		x = (unsigned long long)d;
	}
	*out = x;
	return 0;
}

int json_i64(json_t v, int64_t *out)
{
	const char *s = num_text(v);
	char *end;
	long long x;

	if (!s || *s == ' ')
		return -EINVAL;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || *end) {
		double d;

		if (json_double(v, &d) || d < -9223372036854775808.0 ||
		    d >= 9223372036854775808.0 || d != floor(d))
			return -EINVAL;
		x = (long long)d;
	}
	*out = x;
	return 0;
}

int json_double(json_t v, double *out)
{
	const char *s = num_text(v);
	char *end;
	double d;

	if (!s || *s == ' ')
		return -EINVAL;
	errno = 0;
	d = strtod(s, &end);
	if (errno || *end || !isfinite(d))
		return -EINVAL;
	*out = d;
	return 0;
}

int json_bool(json_t v, bool *out)
{
	if (!json_is_bool(v))
		return -EINVAL;
	*out = YAJL_IS_TRUE(v);
	return 0;
}

const char *json_str(json_t v)
{
	return json_is_str(v) ? v->u.string : NULL;
}

size_t json_len(json_t v)
{
	if (json_is_arr(v))
		return v->u.array.len;
	if (json_is_obj(v))
		return v->u.object.len;
	return 0;
}

json_t json_at(json_t v, size_t i)
{
	if (json_is_arr(v))
		return i < v->u.array.len ? v->u.array.values[i] : NULL;
	if (json_is_obj(v))
		return i < v->u.object.len ? v->u.object.values[i] : NULL;
	return NULL;
}

const char *json_key_at(json_t v, size_t i)
{
	if (json_is_obj(v) && i < v->u.object.len)
		return v->u.object.keys[i];
	return NULL;
}

void sb_init(struct strbuf *sb)
{
	memset(sb, 0, sizeof(*sb));
}

void sb_free(struct strbuf *sb)
{
	free(sb->buf);
	sb_init(sb);
}

void sb_reset(struct strbuf *sb)
{
	sb->len = 0;
	sb->oom = false;
	if (sb->buf)
		sb->buf[0] = 0;
}

static int sb_grow(struct strbuf *sb, size_t more)
{
	size_t need = sb->len + more + 1, cap = sb->cap ? sb->cap : 64;
	char *p;

	if (sb->oom || need < more)
		return -ENOMEM;
	if (need <= sb->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	p = realloc(sb->buf, cap);
	if (!p) {
		sb->oom = true;
		return -ENOMEM;
	}
	sb->buf = p;
	sb->cap = cap;
	return 0;
}

int sb_add(struct strbuf *sb, const void *data, size_t len)
{
	if (sb_grow(sb, len))
		return -ENOMEM;
	memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = 0;
	return 0;
}

int sb_puts(struct strbuf *sb, const char *s)
{
	return sb_add(sb, s, strlen(s));
}

int sb_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || sb_grow(sb, n))
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, n + 1, fmt, ap);
	va_end(ap);
	sb->len += n;
	return 0;
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int sb_json_strn(struct strbuf *sb, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, n;
	int rc = sb_add(sb, "\"", 1);

	while (!rc && i < len) {
		unsigned char c = s[i];

		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };

			rc = sb_add(sb, e, 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			rc = sb_printf(sb, "\\u%04x", c);
			i++;
		} else if ((n = utf8_seq(s + i, len - i)) > 0) {
			rc = sb_add(sb, s + i, n);
			i += n;
		} else {
			rc = sb_printf(sb, "\\u%04x", c);
			i++;
		}
	}
	return rc ? rc : sb_add(sb, "\"", 1);
}

int sb_json_str(struct strbuf *sb, const char *s)
{
	return sb_json_strn(sb, s, strlen(s));
}

int sb_json_val(struct strbuf *sb, json_t v)
{
	size_t i;
	int rc = 0;

	if (!v)
		return sb_puts(sb, "null");
	switch (v->type) {
	case yajl_t_string:
		return sb_json_str(sb, v->u.string);
	case yajl_t_number:
		return sb_puts(sb, v->u.number.r);
	case yajl_t_true:
		return sb_puts(sb, "true");
	case yajl_t_false:
		return sb_puts(sb, "false");
	case yajl_t_null:
		return sb_puts(sb, "null");
	case yajl_t_array:
		rc = sb_add(sb, "[", 1);
		for (i = 0; !rc && i < v->u.array.len; i++) {
			if (i)
				rc = sb_add(sb, ",", 1);
			if (!rc)
				rc = sb_json_val(sb, v->u.array.values[i]);
		}
		return rc ? rc : sb_add(sb, "]", 1);
	case yajl_t_object:
		rc = sb_add(sb, "{", 1);
		for (i = 0; !rc && i < v->u.object.len; i++) {
			if (i)
				rc = sb_add(sb, ",", 1);
			if (!rc)
				rc = sb_json_str(sb, v->u.object.keys[i]);
			if (!rc)
				rc = sb_add(sb, ":", 1);
			if (!rc)
				rc = sb_json_val(sb, v->u.object.values[i]);
		}
		return rc ? rc : sb_add(sb, "}", 1);
	default:
		return -EINVAL;
	}
}
