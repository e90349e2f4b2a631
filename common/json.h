/* JSON helpers over yajl's tree API, plus a small JSON writer.
 *
 * Readers accept numbers written as JSON strings ("12"), because Vitastor's
 * monitor stores OSD numbers and large counters that way (spec §9). */
#ifndef VSTOR_JSON_H
#define VSTOR_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

typedef yajl_val json_t;

/* Parses len bytes (need not be NUL-terminated). Returns NULL on error and
 * puts a one-line message into err. */
json_t json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(json_t v);

/* Object member by key, or NULL when v is not an object or has no such key. */
json_t json_get(json_t v, const char *key);
/* Nested lookup: json_path(v, "a", "b", NULL). */
json_t json_path(json_t v, ...);

bool json_is_obj(json_t v);
bool json_is_arr(json_t v);
bool json_is_str(json_t v);
bool json_is_num(json_t v);
bool json_is_bool(json_t v);

/* Conversions return 0, or -EINVAL when v is missing, of the wrong type or
 * out of range. Numbers may be given as decimal strings. */
int json_u64(json_t v, uint64_t *out);
int json_i64(json_t v, int64_t *out);
int json_double(json_t v, double *out);
int json_bool(json_t v, bool *out);
/* String value or NULL. */
const char *json_str(json_t v);

/* Arrays and objects: length and element access (NULL when out of range). */
size_t json_len(json_t v);
json_t json_at(json_t arr, size_t i);
const char *json_key_at(json_t obj, size_t i);

/* A growable NUL-terminated byte buffer. */
struct strbuf {
	char *buf;
	size_t len, cap;
	bool oom;	/* an allocation failed; the content is truncated */
};

void sb_init(struct strbuf *sb);
void sb_free(struct strbuf *sb);
void sb_reset(struct strbuf *sb);
int sb_add(struct strbuf *sb, const void *data, size_t len);
int sb_puts(struct strbuf *sb, const char *s);
int sb_printf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends s as a quoted, escaped JSON string. */
int sb_json_str(struct strbuf *sb, const char *s);
/* The same for len bytes that need not be NUL-terminated (control bytes and
 * invalid UTF-8 are escaped as \u00XX). */
int sb_json_strn(struct strbuf *sb, const char *s, size_t len);
/* Appends v re-serialized as compact JSON. */
int sb_json_val(struct strbuf *sb, json_t v);

#endif
