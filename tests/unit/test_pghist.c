/* pg/history documents (osd/osd_pghist.c): parsing with numbers as
 * strings, bad documents refused with the previous history kept, set and
 * peer dedup, format -> parse round trip. */
#include "../../osd/osd_pghist.c"

#include "check.h"

static int parse(struct pg_hist *h, const char *t)
{
	char err[256];

	return pg_hist_parse(h, t, strlen(t), err, sizeof(err));
}

static void t_parse(void)
{
	struct pg_hist h;

	pg_hist_init(&h);
	CHECK_EQ(parse(&h, "{\"osd_sets\":[[1,\"2\",0],[3,4]],\"all_peers\":[\"1\",2,2,0],"
			   "\"epoch\":\"77\"}"), 0);
	CHECK_EQ(h.nsets, 2);
	CHECK_EQ(h.sets[0].n, 3);
	CHECK_EQ(h.sets[0].osd[1], 2);
	CHECK_EQ(h.sets[0].osd[2], 0);
	CHECK_EQ(h.nall, 2);		/* duplicates and 0 dropped */
	CHECK_EQ(h.epoch, 77);
	/* absent key: empty */
	CHECK_EQ(pg_hist_parse(&h, NULL, 0, NULL, 0), 0);
	CHECK_EQ(h.nsets + h.nall + h.epoch, 0);
	CHECK_EQ(parse(&h, "{}"), 0);
	CHECK_EQ(h.nsets, 0);
	pg_hist_free(&h);
}

static void t_bad(void)
{
	static const char *const bad[] = {
		"", "[]", "{\"osd_sets\":{}}", "{\"osd_sets\":[1]}", "{\"osd_sets\":[[-1]]}",
		"{\"osd_sets\":[[\"x\"]]}", "{\"all_peers\":3}", "{\"all_peers\":[-2]}",
		"{\"epoch\":-1}", "{\"epoch\":\"1e\"}", "{\"epoch\":1.5}", "{\"osd_sets\":[[1]",
	};
	struct pg_hist h;

	pg_hist_init(&h);
	CHECK_EQ(parse(&h, "{\"osd_sets\":[[5]],\"epoch\":3}"), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_MSG(parse(&h, bad[i]) < 0, "accepted: %s", bad[i]);
		CHECK_MSG(h.nsets == 1 && h.sets[0].osd[0] == 5 && h.epoch == 3,
			  "history changed by: %s", bad[i]);
	}
	pg_hist_free(&h);
}

static void t_edit_roundtrip(void)
{
	struct pg_hist h, g;
	uint64_t a[3] = { 1, 0, 3 }, z[2] = { 0, 0 };
	struct strbuf sb;

	pg_hist_init(&h);
	pg_hist_init(&g);
	CHECK_EQ(pg_hist_add_set(&h, a, 3), 0);
	CHECK_EQ(pg_hist_add_set(&h, a, 3), 0);
	CHECK_EQ(pg_hist_add_set(&h, z, 2), 0);	/* no OSD: not added */
	CHECK_EQ(h.nsets, 1);
	CHECK_EQ(pg_hist_add_peer(&h, 9), 0);
	CHECK_EQ(pg_hist_add_peer(&h, 9), 0);
	CHECK_EQ(h.nall, 1);
	h.epoch = 12345678901ull;
	sb_init(&sb);
	CHECK_EQ(pg_hist_format(&h, &sb), 0);
	CHECK_STR(sb.buf, "{\"osd_sets\":[[1,0,3]],\"all_peers\":[9],\"epoch\":12345678901}");
	CHECK_EQ(parse(&g, sb.buf), 0);
	CHECK(pg_hist_equal(&g, &h));
	CHECK_EQ(pg_hist_copy(&g, &h), 0);
	CHECK(pg_hist_equal(&g, &h));
	pg_hist_clear_sets(&g);
	CHECK(!pg_hist_equal(&g, &h));
	sb_free(&sb);
	pg_hist_free(&h);
	pg_hist_free(&g);
}

int main(void)
{
	RUN(t_parse);
	RUN(t_bad);
	RUN(t_edit_roundtrip);
	return vt_finish();
}
