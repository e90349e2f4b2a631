/* libFuzzer target: pg/history documents (osd/osd_pghist.c). Whatever is
 * accepted must format to a document that parses back to the same
 * history; whatever is refused must leave the previous history as it
 * was. */
#include "../../osd/osd_pghist.c"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pg_hist h, g, before;
	uint64_t one = 1;
	struct strbuf sb;
	char err[256];

	pg_hist_init(&h);
	pg_hist_init(&g);
	pg_hist_init(&before);
	if (pg_hist_add_set(&h, &one, 1) || pg_hist_copy(&before, &h))
		abort();
	if (pg_hist_parse(&h, (const char *)data, size, err, sizeof(err))) {
		if (!pg_hist_equal(&h, &before))
			abort();
	} else {
		sb_init(&sb);
		if (pg_hist_format(&h, &sb) || pg_hist_parse(&g, sb.buf, sb.len, err, sizeof(err)) ||
		    !pg_hist_equal(&g, &h))
			abort();
		sb_free(&sb);
	}
	pg_hist_free(&h);
	pg_hist_free(&g);
	pg_hist_free(&before);
	return 0;
}
