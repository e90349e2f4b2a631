/* libFuzzer target for common/config: arbitrary bytes as the config file
 * text, as etcd config/global (merged, re-merged and merged back) and as
 * command-line arguments. Nothing may crash or leak; a dump of whatever was
 * accepted must be valid JSON and must load again without crashing.
 *
 * Input layout: the bytes are split at NUL bytes into parts:
 *   part 0: config file text, part 1 and 2: etcd config/global texts,
 *   parts 3..: command-line arguments.
 * The whole input is also fed unsplit as a file and as etcd text, so plain
 * JSON seeds work. */
#include "config.h"
#include "log.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PARTS 16

static const struct cfg_opt extra_opts[] = {
	{ .name = "fz_double", .type = CFG_DOUBLE, .def = "1.5", CFG_RANGE(-10, 10),
	  .help = "double" },
	{ .name = "fz_int", .type = CFG_I64, CFG_RANGE(-5, 5), .alias = "fz_old_int",
	  .help = "int" },
	{ .name = "fz_choice", .type = CFG_STR, .choices = "a|bb|c", .help = "choice" },
	{ .name = "fz_ms", .type = CFG_MS, CFG_RANGE(10, 100000), .help = "ms" },
};

static int extra_check(struct cfg *cfg)
{
	if (cfg_i64(cfg, "fz_int") == 3 && cfg_double(cfg, "fz_double") > 5)
		return cfg_fail(cfg, "config: fz_int %s: 3 needs fz_double <= 5",
				cfg_origin(cfg, "fz_int"));
	return 0;
}

static void read_all(const struct cfg *cfg)
{
	static const char *const keys[] = {
		"etcd_address", "osd_network", "placement_levels", "block_size",
		"immediate_commit", "log_level", "osd_out_time", "readonly", "fz_double",
		"fz_int", "fz_choice", "fz_ms", "etcd_keepalive_timeout",
	};
	const char *const *v;
	size_t n;

	v = cfg_strv(cfg, "etcd_address", &n);
	for (size_t i = 0; i < n; i++)
		assert(v[i] && strlen(v[i]) > 0);
	assert(v[n] == NULL);
	v = cfg_strv(cfg, "osd_network", &n);
	assert(v[n] == NULL);
	(void)cfg_json(cfg, "placement_levels");
	(void)cfg_u64(cfg, "block_size");
	(void)cfg_str(cfg, "immediate_commit");
	(void)cfg_i64(cfg, "log_level");
	(void)cfg_ms(cfg, "osd_out_time");
	(void)cfg_bool(cfg, "readonly");
	(void)cfg_double(cfg, "fz_double");
	(void)cfg_i64(cfg, "fz_int");
	(void)cfg_str(cfg, "fz_choice");
	(void)cfg_ms(cfg, "fz_ms");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		(void)cfg_source(cfg, keys[i]);
		(void)cfg_origin(cfg, keys[i]);
	}
	(void)cfg_args(cfg, &n);
	(void)cfg_help_requested(cfg);
}

/* Dumps cfg; the dump must be JSON and must load (or fail) cleanly. */
static void dump_and_reload(const struct cfg *cfg)
{
	struct strbuf sb;
	struct cfg *again;
	json_t v;

	sb_init(&sb);
	if (!cfg_dump_json(cfg, &sb, CFG_DUMP_DEFAULTS | CFG_DUMP_UNKNOWN | CFG_DUMP_SOURCES)) {
		v = json_parse(sb.buf, sb.len, NULL, 0);
		assert(v);
		json_free(v);
	}
	sb_reset(&sb);
	if (!cfg_dump_json(cfg, &sb, CFG_DUMP_DEFAULTS | CFG_DUMP_UNKNOWN)) {
		again = cfg_new();
		cfg_register(again, extra_opts, CFG_COUNT(extra_opts), extra_check);
		if (!cfg_load_text(again, sb.buf, sb.len, "dump"))
			(void)cfg_validate(again);
		read_all(again);
		cfg_free(again);
	}
	sb_free(&sb);
}

static struct cfg *new_cfg(void)
{
	struct cfg *cfg = cfg_new();

	cfg_register(cfg, extra_opts, CFG_COUNT(extra_opts), extra_check);
	return cfg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *part[MAX_PARTS];
	size_t plen[MAX_PARTS], nparts = 0, start = 0;
	char *copy, *argv[MAX_PARTS + 1];
	struct cfg *cfg;
	uint64_t u;
	int argc = 0;

	vlog_set_level(VLOG_OFF);

	/* Unsplit: as a file, then as etcd config/global. */
	cfg = new_cfg();
	(void)cfg_load_text(cfg, text, size, "fuzz.conf");
	(void)cfg_validate(cfg);
	(void)cfg_merge_etcd_text(cfg, text, size);
	read_all(cfg);
	cfg_free(cfg);

	/* Split at NUL bytes. A private NUL-terminated copy backs argv. */
	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = 0;
	for (size_t i = 0; i <= size && nparts < MAX_PARTS; i++) {
		if (i == size || copy[i] == 0) {
			part[nparts] = copy + start;
			plen[nparts] = i - start;
			nparts++;
			start = i + 1;
		}
	}

	/* The number helpers on every part (each is NUL-terminated in copy). */
	for (size_t i = 0; i < nparts; i++) {
		(void)cfg_parse_size(part[i], &u);
		(void)cfg_parse_duration_ms(part[i], 1000, &u);
	}

	cfg = new_cfg();
	argv[argc++] = (char *)"fuzz";
	for (size_t i = 3; i < nparts; i++)
		argv[argc++] = (char *)part[i];
	argv[argc] = NULL;
	(void)cfg_parse_args(cfg, argc, argv);
	if (nparts > 0)
		(void)cfg_load_text(cfg, part[0], plen[0], "fuzz.conf");
	(void)cfg_validate(cfg);
	if (nparts > 1)
		(void)cfg_merge_etcd_text(cfg, part[1], plen[1]);
	read_all(cfg);
	if (nparts > 2)
		(void)cfg_merge_etcd_text(cfg, part[2], plen[2]);
	if (nparts > 1)
		(void)cfg_merge_etcd_text(cfg, part[1], plen[1]);
	read_all(cfg);
	dump_and_reload(cfg);
	(void)cfg_merge_etcd(cfg, NULL);
	read_all(cfg);
	cfg_free(cfg);
	free(copy);
	return 0;
}
