/* libFuzzer target: arbitrary bytes through the JSON parser, the typed
 * accessors and the re-serializer; the output must parse again. */
#include "json.h"

#include <assert.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(json_t v, int depth)
{
	uint64_t u;
	int64_t i;
	double d;
	bool b;

	(void)json_u64(v, &u);
	(void)json_i64(v, &i);
	(void)json_double(v, &d);
	(void)json_bool(v, &b);
	(void)json_str(v);
	if (depth > 64)
		return;
	for (size_t k = 0; k < json_len(v); k++) {
		(void)json_key_at(v, k);
		walk(json_at(v, k), depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	json_t v = json_parse((const char *)data, size, err, sizeof(err));
	struct strbuf sb;

	if (!v)
		return 0;
	walk(v, 0);
	sb_init(&sb);
	if (!sb_json_val(&sb, v)) {
		json_t again = json_parse(sb.buf, sb.len, err, sizeof(err));

		assert(again);
		json_free(again);
	}
	sb_free(&sb);
	json_free(v);
	return 0;
}
