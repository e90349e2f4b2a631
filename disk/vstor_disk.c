/* vstor-disk: prepares and inspects OSD devices (blockstore format).
 *
 *   vstor-disk format --data_path PATH --osd_num N [options]
 *   vstor-disk show PATH [--json]
 *
 * format computes every offset itself; users never give offsets by hand. */
#include "blockstore.h"
#include "bs_disk.h"
#include "config.h"
#include "crc32c.h"
#include "json.h"
#include "version.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
"Usage:\n"
"  vstor-disk format --data_path PATH --osd_num N [--meta_path PATH]\n"
"                    [--journal_path PATH] [--block_size SIZE]\n"
"                    [--bitmap_granularity SIZE] [--journal_size SIZE]\n"
"                    [--force] [--json]\n"
"  vstor-disk show PATH [--json]\n"
"\n"
"format   Writes the vstor blockstore format on a block device or file:\n"
"         superblocks, an empty journal and zeroed metadata. The journal,\n"
"         metadata and data areas go on the data device unless --journal_path\n"
"         or --meta_path name separate devices; all offsets and sizes are\n"
"         computed here. Refuses a device that already holds a vstor\n"
"         blockstore unless --force is given (that destroys its data).\n"
"         A file must exist with its final size (e.g. truncate -s 10G FILE).\n"
"\n"
"         --osd_num N             OSD number this device belongs to (required)\n"
"         --block_size SIZE       object size, power of two, 4k..1M (default 128k)\n"
"         --bitmap_granularity S  write granularity (default 4k)\n"
"         --journal_size SIZE     journal size (default 16M)\n"
"\n"
"show     Prints the superblock of PATH: area, OSD number, uuid, geometry,\n"
"         layout. Exit status 1 if PATH holds no valid vstor superblock.\n"
"\n"
"SIZE accepts suffixes k, M, G, T (powers of 1024). --json prints JSON.\n"
"--version prints the version.\n";

struct opts {
	const char *data, *meta, *journal;
	uint64_t osd_num, block_size, granularity, journal_size;
	int force, json;
};

static int parse_size_opt(const char *name, const char *val, uint64_t *out)
{
	if (cfg_parse_size(val, out)) {
		fprintf(stderr, "vstor-disk: --%s: expected a size like 131072 or 128k, got \"%s\"\n",
			name, val);
		return -1;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "data_path", required_argument, NULL, 'd' },
		{ "meta_path", required_argument, NULL, 'm' },
		{ "journal_path", required_argument, NULL, 'j' },
		{ "osd_num", required_argument, NULL, 'o' },
		{ "block_size", required_argument, NULL, 'b' },
		{ "bitmap_granularity", required_argument, NULL, 'g' },
		{ "journal_size", required_argument, NULL, 's' },
		{ "force", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = 0;

	while (!rc && (c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o->data = optarg; break;
		case 'm': o->meta = optarg; break;
		case 'j': o->journal = optarg; break;
		case 'o': rc = parse_size_opt("osd_num", optarg, &o->osd_num); break;
		case 'b': rc = parse_size_opt("block_size", optarg, &o->block_size); break;
		case 'g': rc = parse_size_opt("bitmap_granularity", optarg, &o->granularity); break;
		case 's': rc = parse_size_opt("journal_size", optarg, &o->journal_size); break;
		case 'f': o->force = 1; break;
		case 'J': o->json = 1; break;
		case 'h': fputs(usage, stdout); exit(0);
		default: rc = -1; break;
		}
	}
	if (rc)
		fprintf(stderr, "Run 'vstor-disk --help' for usage.\n");
	return rc;
}

/* Reads the superblock at offset 0 of path. 0 = valid, 1 = none or bad
 * (reason in why), -1 = cannot read. */
static int read_sb(const char *path, struct bs_sb *sb, const char **why)
{
	uint8_t buf[BS_SECT];
	uint32_t crc;
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0) {
		fprintf(stderr, "vstor-disk: %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n < (ssize_t)sizeof(*sb)) {
		*why = "too small to hold a superblock";
		return 1;
	}
	memcpy(sb, buf, sizeof(*sb));
	if (memcmp(sb->magic, BS_SB_MAGIC, sizeof(sb->magic))) {
		*why = "no vstor superblock (not formatted, or not a vstor device)";
		return 1;
	}
	crc = sb->crc;
	sb->crc = 0;
	if (crc32c(0, sb, sizeof(*sb)) != crc) {
		*why = "superblock checksum mismatch (corrupted)";
		return 1;
	}
	sb->crc = crc;
	return 0;
}

static const char *area_name(uint32_t a)
{
	return a == BS_AREA_JOURNAL ? "journal" : a == BS_AREA_META ? "metadata" :
		a == BS_AREA_DATA ? "data" : "unknown";
}

static void print_sb(const char *path, const struct bs_sb *sb, int json)
{
	char uuid[40];
	int k = 0;

	for (int i = 0; i < 16; i++)
		k += snprintf(uuid + k, sizeof(uuid) - k, "%s%02x",
			      i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "", sb->uuid[i]);
	if (json) {
		struct strbuf s;

		sb_init(&s);
		sb_puts(&s, "{\"path\":");
		sb_json_str(&s, path);
		sb_printf(&s, ",\"area\":\"%s\",\"format_version\":%u,\"osd_num\":%" PRIu64
			  ",\"uuid\":\"%s\",\"ctime\":%" PRIu64 ",\"block_size\":%u"
			  ",\"bitmap_granularity\":%u,\"journal_offset\":%" PRIu64
			  ",\"journal_size\":%" PRIu64 ",\"meta_offset\":%" PRIu64
			  ",\"meta_size\":%" PRIu64 ",\"data_offset\":%" PRIu64
			  ",\"data_size\":%" PRIu64 ",\"data_blocks\":%" PRIu64
			  ",\"separate_meta\":%s,\"separate_journal\":%s}\n",
			  area_name(sb->area), sb->format_version, sb->osd_num, uuid, sb->ctime,
			  sb->block_size, sb->bitmap_granularity, sb->journal_offset,
			  sb->journal_size, sb->meta_offset, sb->meta_size, sb->data_offset,
			  sb->data_size, sb->data_blocks, sb->separate_meta ? "true" : "false",
			  sb->separate_journal ? "true" : "false");
		fputs(s.buf ? s.buf : "", stdout);
		sb_free(&s);
		return;
	}
	printf("%s: vstor blockstore, %s area, format %u\n", path, area_name(sb->area),
	       sb->format_version);
	printf("  osd_num             %" PRIu64 "\n  uuid                %s\n", sb->osd_num, uuid);
	printf("  block_size          %u\n  bitmap_granularity  %u\n", sb->block_size,
	       sb->bitmap_granularity);
	printf("  journal             offset %" PRIu64 " size %" PRIu64 "%s\n", sb->journal_offset,
	       sb->journal_size, sb->separate_journal ? " (own device)" : "");
	printf("  metadata            offset %" PRIu64 " size %" PRIu64 "%s\n", sb->meta_offset,
	       sb->meta_size, sb->separate_meta ? " (own device)" : "");
	printf("  data                offset %" PRIu64 " size %" PRIu64 " (%" PRIu64 " blocks)\n",
	       sb->data_offset, sb->data_size, sb->data_blocks);
}

static int cmd_show(int argc, char **argv)
{
	struct opts o = { 0 };
	struct bs_sb sb;
	const char *why = NULL;
	int rc;

	if (parse_opts(argc, argv, &o))
		return 2;
	if (optind != argc - 1) {
		fprintf(stderr, "vstor-disk show: give exactly one PATH\n");
		return 2;
	}
	rc = read_sb(argv[optind], &sb, &why);
	if (rc < 0)
		return 1;
	if (rc) {
		fprintf(stderr, "vstor-disk: %s: %s\n", argv[optind], why);
		return 1;
	}
	print_sb(argv[optind], &sb, o.json);
	return 0;
}

/* Refuses to overwrite any existing vstor area unless forced. */
static int check_not_formatted(const char *path, int force)
{
	struct bs_sb sb;
	const char *why;
	int rc;

	if (!path)
		return 0;
	rc = read_sb(path, &sb, &why);
	if (rc < 0)
		return -1;
	if (rc == 0 && !force) {
		fprintf(stderr, "vstor-disk: %s already holds the %s area of OSD %" PRIu64
			"; give --force to destroy it and format anyway\n", path,
			area_name(sb.area), sb.osd_num);
		return -1;
	}
	return 0;
}

static int cmd_format(int argc, char **argv)
{
	struct opts o = { 0 };
	struct bs_format_opts fo;
	struct ringloop *rl = NULL;
	struct bs_backend *be;
	struct bs_sb sb;
	const char *why;
	char err[512];
	int rc = 1;

	if (parse_opts(argc, argv, &o))
		return 2;
	if (!o.data || !o.osd_num || optind != argc) {
		fprintf(stderr, "vstor-disk format: --data_path and a non-zero --osd_num are "
			"required\nRun 'vstor-disk --help' for usage.\n");
		return 2;
	}
	if (o.block_size > UINT32_MAX || o.granularity > UINT32_MAX) {
		fprintf(stderr, "vstor-disk format: --block_size and --bitmap_granularity must "
			"be below 4G\n");
		return 2;
	}
	if (check_not_formatted(o.data, o.force) || check_not_formatted(o.meta, o.force) ||
	    check_not_formatted(o.journal, o.force))
		return 1;
	rl = ringloop_create(64);
	if (!rl) {
		fprintf(stderr, "vstor-disk: cannot set up io_uring: %s\n", strerror(errno));
		return 1;
	}
	be = bs_backend_uring_open(rl, o.data, o.meta, o.journal, err, sizeof(err));
	if (!be) {
		fprintf(stderr, "vstor-disk: %s\n", err);
		goto out;
	}
	memset(&fo, 0, sizeof(fo));
	fo.osd_num = o.osd_num;
	fo.block_size = (uint32_t)o.block_size;
	fo.bitmap_granularity = (uint32_t)o.granularity;
	fo.journal_size = o.journal_size;
	if (bs_format(be, &fo, err, sizeof(err))) {
		fprintf(stderr, "vstor-disk: format failed: %s\n", err);
		be->ops->destroy(be);
		goto out;
	}
	be->ops->destroy(be);
	if (read_sb(o.data, &sb, &why)) {
		fprintf(stderr, "vstor-disk: %s: superblock unreadable after format\n", o.data);
		goto out;
	}
	print_sb(o.data, &sb, o.json);
	rc = 0;
out:
	ringloop_destroy(rl);
	return rc;
}

int main(int argc, char **argv)
{
	vstor_version_option(argc, argv, "vstor-disk");
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "format"))
		return cmd_format(argc - 1, argv + 1);
	if (!strcmp(argv[1], "show"))
		return cmd_show(argc - 1, argv + 1);
	fprintf(stderr, "vstor-disk: unknown command \"%s\"\nRun 'vstor-disk --help' for usage.\n",
		argv[1]);
	return 2;
}
