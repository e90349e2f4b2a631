#include "check.h"
#include "json.h"

#include <errno.h>
#include <stdlib.h>

static void parse_and_get(void)
{
	char err[128];
	const char *t = "{\"a\":{\"b\":[1,\"2\",true]},\"s\":\"x\"}";
	json_t v = json_parse(t, strlen(t), err, sizeof(err));
	uint64_t u;
	bool b;

	CHECK_MSG(v, "parse: %s", err);
	CHECK(json_is_arr(json_path(v, "a", "b", NULL)));
	CHECK_EQ(json_len(json_path(v, "a", "b", NULL)), 3);
	CHECK_EQ(json_u64(json_at(json_path(v, "a", "b", NULL), 0), &u), 0);
	CHECK_EQ(u, 1);
	CHECK_EQ(json_u64(json_at(json_path(v, "a", "b", NULL), 1), &u), 0);
	CHECK_EQ(u, 2);
	CHECK_EQ(json_bool(json_at(json_path(v, "a", "b", NULL), 2), &b), 0);
	CHECK(b);
	CHECK_STR(json_str(json_get(v, "s")), "x");
	CHECK(json_get(v, "missing") == NULL);
	CHECK(json_path(v, "s", "deeper", NULL) == NULL);
	CHECK_STR(json_key_at(v, 1), "s");
	json_free(v);
}

static void numbers_as_strings(void)
{
	const char *t = "[\"18446744073709551615\",\"-5\",\" 1\",\"1x\",-1,1e3,2.5,\"\",null]";
	json_t v = json_parse(t, strlen(t), NULL, 0);
	uint64_t u;
	int64_t i;
	double d;

	CHECK(v);
	CHECK_EQ(json_u64(json_at(v, 0), &u), 0);
	CHECK(u == UINT64_MAX);
	CHECK_EQ(json_u64(json_at(v, 1), &u), -EINVAL);
	CHECK_EQ(json_i64(json_at(v, 1), &i), 0);
	CHECK_EQ(i, -5);
	CHECK_EQ(json_u64(json_at(v, 2), &u), -EINVAL);
	CHECK_EQ(json_u64(json_at(v, 3), &u), -EINVAL);
	CHECK_EQ(json_u64(json_at(v, 4), &u), -EINVAL);
	CHECK_EQ(json_u64(json_at(v, 5), &u), 0);
	CHECK_EQ(u, 1000);
	CHECK_EQ(json_u64(json_at(v, 6), &u), -EINVAL);
	CHECK_EQ(json_double(json_at(v, 6), &d), 0);
	CHECK(d == 2.5);
	CHECK_EQ(json_u64(json_at(v, 7), &u), -EINVAL);
	CHECK_EQ(json_u64(json_at(v, 8), &u), -EINVAL);
	CHECK_EQ(json_u64(NULL, &u), -EINVAL);
	json_free(v);
}

static void bad_json(void)
{
	char err[128];
	const char *bad[] = { "", "{", "{\"a\":}", "[1,]", "nul", "{\"a\":1}}" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t v = json_parse(bad[i], strlen(bad[i]), err, sizeof(err));

		CHECK_MSG(!v, "accepted %s", bad[i]);
		CHECK(err[0]);
		CHECK(!strchr(err, '\n'));
	}
	/* An embedded NUL must not truncate silently. */
	CHECK(!json_parse("{}\0{", 4, err, sizeof(err)));
}

static void long_input(void)
{
	struct strbuf sb;
	json_t v;

	sb_init(&sb);
	sb_puts(&sb, "[");
	for (int i = 0; i < 10000; i++)
		sb_printf(&sb, "%s%d", i ? "," : "", i);
	sb_puts(&sb, "]");
	v = json_parse(sb.buf, sb.len, NULL, 0);
	sb_free(&sb);
	CHECK(v);
	CHECK_EQ(json_len(v), 10000);
	json_free(v);
}

static void writer_escapes(void)
{
	struct strbuf sb;
	json_t v;
	const char raw[] = "q\"b\\n\n\x01\xff\xc3\xa9";

	sb_init(&sb);
	CHECK_EQ(sb_json_strn(&sb, raw, sizeof(raw) - 1), 0);
	CHECK_STR(sb.buf, "\"q\\\"b\\\\n\\u000a\\u0001\\u00ff\xc3\xa9\"");
	v = json_parse(sb.buf, sb.len, NULL, 0);
	CHECK(v && json_is_str(v));
	json_free(v);
	sb_free(&sb);
}

static void roundtrip(void)
{
	const char *t = "{\"a\":[1,2.5,\"x\",true,false,null,{}],\"b\":{\"c\":\"\\u00e9\"}}";
	json_t v = json_parse(t, strlen(t), NULL, 0);
	struct strbuf sb;

	CHECK(v);
	sb_init(&sb);
	CHECK_EQ(sb_json_val(&sb, v), 0);
	CHECK_STR(sb.buf, "{\"a\":[1,2.5,\"x\",true,false,null,{}],\"b\":{\"c\":\"\xc3\xa9\"}}");
	sb_free(&sb);
	json_free(v);
}

int main(void)
{
	RUN(parse_and_get);
	RUN(numbers_as_strings);
	RUN(bad_json);
	RUN(long_input);
	RUN(writer_escapes);
	RUN(roundtrip);
	return vt_finish();
}
