/* vsctl: command dispatch, global options and help texts. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vsctl.h"
#include "version.h"

#define VS_OPT(n, t, h) { .name = n, .type = t, .help = h, .scope = CFG_SC_CLI, \
	.flags = CFG_F_NO_FILE | CFG_F_NO_ETCD }

/* vsctl's own options (the common keys such as etcd_address come from
 * cfg_new()). Values are parsed by the commands for precise messages. */
static const struct cfg_opt vsctl_opts[] = {
	VS_OPT("json", CFG_BOOL, "Print JSON instead of tables and text."),
	VS_OPT("pool", CFG_STR, "Pool name or id."),
	VS_OPT("size", CFG_STR, "Image size (k/M/G/T suffixes)."),
	VS_OPT("resize", CFG_STR, "New image size (k/M/G/T suffixes)."),
	VS_OPT("rename", CFG_STR, "New image name."),
	VS_OPT("readwrite", CFG_BOOL, "Clear the image's readonly flag."),
	VS_OPT("force", CFG_BOOL, "Allow a dangerous change."),
	VS_OPT("metadata_only", CFG_BOOL, "Remove only the etcd entries."),
	VS_OPT("scheme", CFG_STR, "Pool scheme: replicated, xor, jerasure (ec)."),
	VS_OPT("pg_size", CFG_STR, "OSDs per PG."),
	VS_OPT("pg_minsize", CFG_STR, "Live OSDs a PG needs to serve I/O."),
	VS_OPT("parity_chunks", CFG_STR, "Parity chunks of an EC pool."),
	VS_OPT("pg_count", CFG_STR, "Number of PGs."),
	VS_OPT("failure_domain", CFG_STR, "Placement failure domain."),
	VS_OPT("pg_stripe_size", CFG_STR, "PG stripe size."),
	VS_OPT("id", CFG_STR, "Pool id."),
	VS_OPT("static", CFG_BOOL, "Static round-robin placement."),
	VS_OPT("allow_degraded", CFG_BOOL, "Place PGs with empty slots."),
	VS_OPT("allow_data_loss", CFG_BOOL, "osd rm: also when a PG naming the OSD is not active."),
	VS_OPT("io_type", CFG_STR, "bench: read, write or rw."),
	VS_OPT("io_size", CFG_STR, "bench: bytes per op."),
	VS_OPT("io_depth", CFG_STR, "bench: ops in flight."),
	VS_OPT("io_pattern", CFG_STR, "bench: rand or seq."),
	VS_OPT("io_total", CFG_STR, "bench: bytes to transfer."),
	VS_OPT("seconds", CFG_STR, "bench: run time."),
	VS_OPT("rw_mix_read", CFG_STR, "bench: percent of reads with rw."),
	VS_OPT("queue_depth", CFG_STR, "Requests in flight per hardware queue of a device."),
	VS_OPT("hw_queues", CFG_STR, "Hardware (blk-mq) queues of a device."),
	VS_OPT("conns_per_osd", CFG_STR, "TCP connections of a device to each OSD."),
	VS_OPT("io_timeout", CFG_STR, "Fail requests older than this many ms (0: never)."),
	VS_OPT("dev", CFG_STR, "Device index N of /dev/vsN."),
	VS_OPT("no_agent", CFG_BOOL, "Do not start the map agent."),
};

struct command {
	const char *name;
	int (*fn)(struct vsctl *v);
	size_t min_args, max_args;
	const char *opts;	/* the vsctl options it takes, space-separated */
	const char *help;
};

#define GLOBAL_HELP \
	"Global options:\n" \
	"  --etcd_address HOST:PORT[,HOST:PORT...]  etcd endpoints (or etcd_address in the config file)\n" \
	"  --etcd_prefix PREFIX    key prefix in etcd (default /vitastor)\n" \
	"  --config_path FILE      configuration file (default /etc/vitastor/vitastor.conf)\n" \
	"  --json                  machine-readable output\n" \
	"  -h, --help              this help\n" \
	"  --version               print the version and exit\n"

static const struct command commands[] = {
	{ "pool create", cmd_pool_create, 1, 1,
	  "scheme pg_size pg_minsize parity_chunks pg_count failure_domain pg_stripe_size id",
	  "NAME\n"
	  "    vsctl pool create - add a pool to config/pools\n\n"
	  "SYNOPSIS\n"
	  "    vsctl pool create NAME --scheme replicated|xor|jerasure|ec --pg_size N\n"
	  "        [--pg_minsize N] [--parity_chunks N] --pg_count N\n"
	  "        [--failure_domain host] [--pg_stripe_size SIZE] [--id N]\n\n"
	  "DESCRIPTION\n"
	  "    Validates the pool like every reader does (spec §9) and adds it with a\n"
	  "    transaction guarded by config/pools' revision, so concurrent edits are\n"
	  "    never lost. The id is the next free one unless --id is given.\n\n"
	  "OPTIONS\n"
	  "    --scheme S          replicated, xor (one parity chunk) or jerasure (alias ec)\n"
	  "    --pg_size N         OSDs per PG, 1..256 (at least 3 for xor/jerasure)\n"
	  "    --pg_minsize N      OSDs a PG needs to serve I/O (default: pg_size-1 for\n"
	  "                        replicated, the data chunk count (+1 with 2+ parity) for EC)\n"
	  "    --parity_chunks N   xor: 1; jerasure: 1..pg_size-2 (default 1)\n"
	  "    --pg_count N        number of PGs, at least 1\n"
	  "    --failure_domain D  placement level each PG takes one OSD from (default host)\n"
	  "    --pg_stripe_size S  bytes of an image that go to one PG (k/M/G suffixes)\n"
	  "    --id N              pool id, 1..65535 (default: the next free id)\n\n"
	  "EXAMPLES\n"
	  "    vsctl pool create testpool --scheme replicated --pg_size 2 --pg_count 64\n"
	  "    vsctl pool create ecpool --scheme ec --pg_size 4 --parity_chunks 2 --pg_count 32\n" },
	{ "pool ls", cmd_pool_ls, 0, 0, "",
	  "NAME\n"
	  "    vsctl pool ls - list the pools in config/pools\n\n"
	  "SYNOPSIS\n"
	  "    vsctl pool ls [--json]\n\n"
	  "DESCRIPTION\n"
	  "    Prints id, name, scheme, sizes, PG count and failure domain of every valid\n"
	  "    pool. Invalid pools (ignored by OSDs and clients) are reported on stderr.\n\n"
	  "EXAMPLES\n"
	  "    vsctl pool ls\n"
	  "    vsctl pool ls --json\n" },
	{ "pool rm", cmd_pool_rm, 1, 1, "",
	  "NAME\n"
	  "    vsctl pool rm - remove a pool from config/pools\n\n"
	  "SYNOPSIS\n"
	  "    vsctl pool rm NAME|ID\n\n"
	  "DESCRIPTION\n"
	  "    Refuses while images exist in the pool (remove them first). The change is\n"
	  "    guarded by config/pools' revision.\n\n"
	  "EXAMPLES\n"
	  "    vsctl pool rm testpool\n" },
	{ "create", cmd_create, 1, 1, "size pool",
	  "NAME\n"
	  "    vsctl create - create an image\n\n"
	  "SYNOPSIS\n"
	  "    vsctl create NAME --size SIZE [--pool NAME|ID]\n\n"
	  "DESCRIPTION\n"
	  "    Allocates the next inode number of the pool (index/maxid/<pool>) and writes\n"
	  "    config/inode/<pool>/<n> and index/image/<name> in one guarded transaction,\n"
	  "    retrying when another create got there first. Names are unique.\n\n"
	  "OPTIONS\n"
	  "    --size SIZE   image size in bytes, k/M/G/T suffixes allowed (1024-based)\n"
	  "    --pool P      pool name or id; may be omitted when there is one pool\n\n"
	  "EXAMPLES\n"
	  "    vsctl create vm1-disk --size 10G --pool testpool\n" },
	{ "ls", cmd_ls, 0, 0, "pool",
	  "NAME\n"
	  "    vsctl ls - list images\n\n"
	  "SYNOPSIS\n"
	  "    vsctl ls [--pool NAME|ID] [--json]\n\n"
	  "DESCRIPTION\n"
	  "    Prints name, pool, inode number, size, used space, readonly flag and parent\n"
	  "    of every image in config/inode/ (of one pool with --pool). USED is what the\n"
	  "    image's objects take in its pool, in usable bytes (the monitor's\n"
	  "    inode/stats raw_used x the pool's raw_to_usable; whole objects, so up to\n"
	  "    one object per written block_size range); - without a running vstor-mon.\n\n"
	  "EXAMPLES\n"
	  "    vsctl ls\n"
	  "    vsctl ls --pool testpool --json\n" },
	{ "info", cmd_info, 1, 1, "",
	  "NAME\n"
	  "    vsctl info - show one image\n\n"
	  "SYNOPSIS\n"
	  "    vsctl info NAME [--json]\n\n"
	  "EXAMPLES\n"
	  "    vsctl info vm1-disk\n" },
	{ "modify", cmd_modify, 1, 1, "resize rename readonly readwrite force",
	  "NAME\n"
	  "    vsctl modify - resize, rename or (un)protect an image\n\n"
	  "SYNOPSIS\n"
	  "    vsctl modify NAME [--resize SIZE] [--rename NEW] [--readonly|--readwrite] [--force]\n\n"
	  "DESCRIPTION\n"
	  "    Changes config/inode/<pool>/<n> (and index/image/* on rename) in one\n"
	  "    transaction guarded by the keys' revisions.\n\n"
	  "OPTIONS\n"
	  "    --resize SIZE   new size (k/M/G/T); shrinking needs --force, since data\n"
	  "                    beyond the new end becomes unreachable\n"
	  "    --rename NEW    new name (must not exist)\n"
	  "    --readonly      forbid writes; --readwrite allows them again\n"
	  "    --force         allow shrinking\n\n"
	  "EXAMPLES\n"
	  "    vsctl modify vm1-disk --resize 20G\n"
	  "    vsctl modify vm1-disk --rename vm1-root --readonly\n" },
	{ "rm", cmd_rm, 1, 1, "metadata_only force io_depth",
	  "NAME\n"
	  "    vsctl rm - remove an image and its data\n\n"
	  "SYNOPSIS\n"
	  "    vsctl rm NAME [--io-depth N] [--force] [--metadata-only]\n\n"
	  "DESCRIPTION\n"
	  "    Lists the image's objects (per PG from the primary, or from every OSD of\n"
	  "    the PG's current and past sets while the PG is not clean), deletes them\n"
	  "    with --io-depth deletes in flight, and then removes the etcd entries\n"
	  "    (config/inode/<pool>/<n> and index/image/NAME). A progress bar shows on a\n"
	  "    terminal. If a delete fails (for example -EBUSY: a PG is degraded) or an\n"
	  "    OSD that may hold objects of the image is down, the image is kept so that\n"
	  "    'vsctl rm NAME' can be run again later; --force removes it anyway. Images\n"
	  "    that are parents of other images are refused unless --force is given.\n\n"
	  "OPTIONS\n"
	  "    --io-depth N      deletes in flight, 1..1024 (default 32)\n"
	  "    --metadata-only   remove only the etcd entries; the data stays on the OSDs\n"
	  "    --force           remove a parent image, or the entries although OSDs with\n"
	  "                      possible data of the image are down\n\n"
	  "EXIT STATUS\n"
	  "    0 removed, 1 not (or not completely) removed, 2 bad command line\n\n"
	  "EXAMPLES\n"
	  "    vsctl rm vm1-disk\n"
	  "    vsctl rm vm1-disk --metadata-only\n" },
	{ "snap create", cmd_snap_create, 1, 1, "",
	  "NAME\n"
	  "    vsctl snap create - take a snapshot of an image\n\n"
	  "SYNOPSIS\n"
	  "    vsctl snap create IMAGE@SNAPSHOT [--json]\n\n"
	  "DESCRIPTION\n"
	  "    The Vitastor way: the image's inode (with all its data) becomes the\n"
	  "    readonly image IMAGE@SNAPSHOT, and a new empty inode in the same pool takes\n"
	  "    the name IMAGE with the snapshot as its parent (parent_id), so IMAGE shows\n"
	  "    the same data and new writes land in the new inode only. One etcd\n"
	  "    transaction (both config/inode keys, index/image/*, index/maxid) guarded\n"
	  "    by the revisions it was computed from. Clients that have IMAGE open by\n"
	  "    inode number keep writing to the old inode until they see it readonly\n"
	  "    (then their writes fail): reopen IMAGE by name after a snapshot.\n\n"
	  "EXIT STATUS\n"
	  "    0 created, 1 refused or failed (IMAGE missing or readonly, the snapshot\n"
	  "    name taken), 2 bad command line\n\n"
	  "EXAMPLES\n"
	  "    vsctl snap create vm1@before-upgrade\n" },
	{ "snap ls", cmd_snap_ls, 0, 1, "",
	  "NAME\n"
	  "    vsctl snap ls - list snapshots, or the layers of one image\n\n"
	  "SYNOPSIS\n"
	  "    vsctl snap ls [IMAGE] [--json]\n\n"
	  "DESCRIPTION\n"
	  "    Without IMAGE: every snapshot (readonly images and images that are the\n"
	  "    parent of another). With IMAGE: its chain of layers, layer 0 = IMAGE\n"
	  "    itself, then its parent, and so on. Each row has the parent and the\n"
	  "    children (the --json objects are those of 'vsctl ls --json' with\n"
	  "    \"children\" and, with IMAGE, \"layer\" added).\n\n"
	  "EXAMPLES\n"
	  "    vsctl snap ls\n"
	  "    vsctl snap ls vm1 --json\n" },
	{ "snap rm", cmd_snap_rm, 1, 1, "io_depth",
	  "NAME\n"
	  "    vsctl snap rm - remove a snapshot, merging its data into its children\n\n"
	  "SYNOPSIS\n"
	  "    vsctl snap rm IMAGE@SNAPSHOT [--io-depth N] [--json]\n\n"
	  "DESCRIPTION\n"
	  "    Removes a readonly layer without changing what any image shows: first its\n"
	  "    own data is copied into each child image where the child has not written\n"
	  "    (per 4 KiB granule, compare-and-set per object, so live writes to a child\n"
	  "    always win), then every child gets the snapshot's parent as its parent (one\n"
	  "    guarded etcd transaction), then the snapshot's objects and etcd entries are\n"
	  "    deleted as 'vsctl rm' does. A progress bar shows on a terminal. If it\n"
	  "    fails part way, nothing visible has changed: run it again.\n\n"
	  "OPTIONS\n"
	  "    --io-depth N   objects in flight, 1..1024 (default 16)\n\n"
	  "EXIT STATUS\n"
	  "    0 removed, 1 refused or failed (missing, not readonly, OSDs down), 2 bad\n"
	  "    command line\n\n"
	  "EXAMPLES\n"
	  "    vsctl snap rm vm1@before-upgrade\n" },
	{ "clone", cmd_clone, 2, 2, "pool size",
	  "NAME\n"
	  "    vsctl clone - create an image on top of a snapshot\n\n"
	  "SYNOPSIS\n"
	  "    vsctl clone SNAPSHOT NEW [--pool P] [--size SIZE] [--json]\n\n"
	  "DESCRIPTION\n"
	  "    Creates the empty image NEW with SNAPSHOT as its parent (parent_id, and\n"
	  "    parent_pool when NEW is in another pool): NEW shows the snapshot's data and\n"
	  "    keeps its own writes. SNAPSHOT must be readonly (a snapshot, or an image\n"
	  "    marked with 'vsctl modify --readonly'), so it cannot change under the\n"
	  "    clone; the transaction is guarded by its revision.\n\n"
	  "OPTIONS\n"
	  "    --pool P      pool of NEW (default: the snapshot's pool)\n"
	  "    --size SIZE   size of NEW (default: the snapshot's size)\n\n"
	  "EXIT STATUS\n"
	  "    0 created, 1 refused or failed, 2 bad command line\n\n"
	  "EXAMPLES\n"
	  "    vsctl clone base-os@v1 vm2-disk\n" },
	{ "flatten", cmd_flatten, 1, 1, "io_depth",
	  "NAME\n"
	  "    vsctl flatten - copy the parents' data into an image and detach it\n\n"
	  "SYNOPSIS\n"
	  "    vsctl flatten IMAGE [--io-depth N] [--json]\n\n"
	  "DESCRIPTION\n"
	  "    Copies every 4 KiB granule that some layer below IMAGE holds and IMAGE has\n"
	  "    not written into IMAGE (compare-and-set per object: live writes win), then\n"
	  "    removes IMAGE's parent in etcd. What IMAGE shows does not change; after it\n"
	  "    the parents can be removed. A progress bar shows on a terminal. An image\n"
	  "    without a parent is left alone (exit status 0).\n\n"
	  "OPTIONS\n"
	  "    --io-depth N   objects in flight, 1..1024 (default 16)\n\n"
	  "EXIT STATUS\n"
	  "    0 flattened (or had no parent), 1 failed, 2 bad command line\n\n"
	  "EXAMPLES\n"
	  "    vsctl flatten vm2-disk\n" },
	{ "import", cmd_import, 2, 2, "pool size io_depth",
	  "NAME\n"
	  "    vsctl import - copy a file or standard input into an image\n\n"
	  "SYNOPSIS\n"
	  "    vsctl import FILE|- IMAGE [--pool P] [--size SIZE] [--io-depth N]\n\n"
	  "DESCRIPTION\n"
	  "    Writes the bytes of FILE (- = standard input) to IMAGE from offset 0, with\n"
	  "    --io-depth chunks of about 1 MiB in flight. A missing IMAGE is created in\n"
	  "    --pool with the size of FILE (or --size; required for standard input). An\n"
	  "    existing IMAGE must be large enough; bytes past the end of FILE keep their\n"
	  "    contents. A last partial 4 KiB block is padded with zeroes.\n\n"
	  "    Sparse: holes of FILE are not read, and objects that are all zeroes are not\n"
	  "    written: absent ones are skipped, existing ones deleted (overwritten with\n"
	  "    zeroes while their PG refuses deletes). A progress bar shows on a terminal.\n\n"
	  "OPTIONS\n"
	  "    --pool P       pool of a new image (name or id; default: the only pool)\n"
	  "    --size SIZE    size of a new image (default: the size of FILE)\n"
	  "    --io-depth N   chunks in flight, 1..1024 (default 16)\n"
	  "    --json         print {image, inode, bytes, created, writes,\n"
	  "                   zero_objects_deleted, zero_objects_skipped}\n\n"
	  "EXIT STATUS\n"
	  "    0 imported, 1 failed (the image may be partly written), 2 bad command line\n\n"
	  "EXAMPLES\n"
	  "    vsctl import debian.raw vm1-disk --pool testpool\n"
	  "    xz -dc disk.raw.xz | vsctl import - vm2-disk --size 20G\n" },
	{ "export", cmd_export, 2, 2, "io_depth force",
	  "NAME\n"
	  "    vsctl export - copy an image into a file or to standard output\n\n"
	  "SYNOPSIS\n"
	  "    vsctl export IMAGE FILE|- [--io-depth N] [--force]\n\n"
	  "DESCRIPTION\n"
	  "    Reads IMAGE (its size in bytes exactly) with --io-depth chunks of about\n"
	  "    1 MiB in flight and writes it in order to FILE (- = standard output, which\n"
	  "    must not be a terminal). Chunks without any object are not read. In a\n"
	  "    regular FILE, objects that are all zeroes become holes. Refuses to\n"
	  "    overwrite an existing FILE unless --force. A progress bar shows on a\n"
	  "    terminal; with FILE = - the summary goes to standard error.\n\n"
	  "OPTIONS\n"
	  "    --io-depth N   chunks in flight, 1..1024 (default 16)\n"
	  "    --force        overwrite an existing FILE (or write to a device)\n"
	  "    --json         print {image, inode, bytes, sparse_objects}\n\n"
	  "EXIT STATUS\n"
	  "    0 exported, 1 failed, 2 bad command line\n\n"
	  "EXAMPLES\n"
	  "    vsctl export vm1-disk backup.raw\n"
	  "    vsctl export vm1-disk - | xz > backup.raw.xz\n" },
	{ "bench", cmd_bench, 1, 1, "io_type io_size io_depth io_pattern io_total seconds rw_mix_read",
	  "NAME\n"
	  "    vsctl bench - measure an image's IOPS, bandwidth and latency\n\n"
	  "SYNOPSIS\n"
	  "    vsctl bench IMAGE --io-type read|write|rw [--io-size SIZE] [--io-depth N]\n"
	  "        [--io-pattern rand|seq] [--io-total SIZE | --seconds S] [--rw-mix-read PCT]\n"
	  "        [--json]\n\n"
	  "DESCRIPTION\n"
	  "    Keeps --io-depth operations of --io-size bytes in flight against IMAGE through\n"
	  "    the client library (the same path as every other client: PG routing from\n"
	  "    etcd, one connection per OSD) until --io-total bytes are done or --seconds\n"
	  "    have passed, whichever comes first. Offsets are multiples of --io-size inside\n"
	  "    the image; seq goes from the start and wraps. Prints operations, IOPS,\n"
	  "    bandwidth and latency (mean, p50, p90, p99, p99.9, min, max, from a\n"
	  "    log-linear histogram with ~3% buckets), and the client's CPU time per\n"
	  "    operation; rw prints reads and writes separately too. On a terminal a line\n"
	  "    per second shows the progress.\n\n"
	  "    WRITE BENCHMARKS OVERWRITE THE IMAGE'S DATA. Reads of never-written areas\n"
	  "    are answered without touching a disk: write the image first (for example\n"
	  "    --io-type write --io-pattern seq --io-size 4M --io-total <image size>) to\n"
	  "    measure disk reads. With immediate_commit=all every acknowledged write is\n"
	  "    durable, so write latency includes the disk's flush.\n\n"
	  "OPTIONS\n"
	  "    --io-type T       read, write or rw (mixed; see --rw-mix-read)\n"
	  "    --io-size SIZE    bytes per operation, a multiple of 4k up to 64M (default 4k)\n"
	  "    --io-depth N      operations in flight, 1..4096 (default 16)\n"
	  "    --io-pattern P    rand or seq (default seq)\n"
	  "    --io-total SIZE   bytes to transfer (default 1G unless --seconds is given)\n"
	  "    --seconds S       run for S seconds (a decimal number)\n"
	  "    --rw-mix-read PCT percent of reads with --io-type rw (default 50)\n"
	  "    --json            one JSON object: io_type, io_pattern, io_size, io_depth,\n"
	  "                      seconds, client_cpu_us_per_op, and total/read/write with\n"
	  "                      ops, bytes, iops, bandwidth_bytes, mbps and lat_us {mean,\n"
	  "                      p50, p90, p99, p99_9, min, max}\n\n"
	  "EXIT STATUS\n"
	  "    0 done, 1 an I/O failed or the image is missing, 2 bad command line\n\n"
	  "EXAMPLES\n"
	  "    vsctl bench disk1 --io-type write --io-pattern rand --io-depth 1 --seconds 10\n"
	  "    vsctl bench disk1 --io-type read --io-pattern rand --io-depth 128 --seconds 10\n"
	  "    vsctl bench disk1 --io-type write --io-size 4M --io-depth 32 --io-total 4G --json\n" },
	{ "pg place", cmd_pg_place, 0, 0, "static pool allow_degraded",
	  "NAME\n"
	  "    vsctl pg place - write a static PG placement (for clusters without vstor-mon)\n\n"
	  "SYNOPSIS\n"
	  "    vsctl pg place --static [--pool NAME|ID] [--allow-degraded]\n\n"
	  "DESCRIPTION\n"
	  "    Reads the up OSDs from osd/state and writes config/pgs: for every pool (or\n"
	  "    the one given) pg_count PGs whose osd_set takes pg_size distinct up OSDs\n"
	  "    round-robin; the primary is the first. Other pools' PGs are kept. Refuses\n"
	  "    when fewer OSDs than pg_size are up, unless --allow-degraded (the missing\n"
	  "    slots are then 0). A running vstor-mon replaces this placement with its\n"
	  "    own at its next change.\n\n"
	  "EXAMPLES\n"
	  "    vsctl pg place --static\n"
	  "    vsctl pg place --static --pool testpool --json\n" },
	{ "map", cmd_map, 1, 1, "pool readonly queue_depth hw_queues conns_per_osd io_timeout dev no_agent",
	  "NAME\n"
	  "    vsctl map - map an image as a kernel block device /dev/vsN\n\n"
	  "SYNOPSIS\n"
	  "    vsctl map IMAGE [--pool P] [--readonly] [--queue_depth N] [--hw_queues N]\n"
	  "        [--conns_per_osd N] [--io_timeout MS] [--dev N] [--no_agent] [--json]\n\n"
	  "DESCRIPTION\n"
	  "    Reads the image, its pool and the pool's PG map from etcd and creates the\n"
	  "    device in vstor.ko, which then talks to the OSDs itself (no userspace\n"
	  "    process on the data path). Prints the device path. The kernel cannot read\n"
	  "    etcd, so a host-wide agent ('vsctl map-agent', systemd unit\n"
	  "    vstor-map-agent.service) keeps the maps of all mapped pools current; map\n"
	  "    starts it when none is running (log: /run/vstor/map-agent.log).\n"
	  "    With udev, /dev/vstor/POOL/IMAGE links to the device (60-vstor.rules).\n"
	  "    Writes are durable when acknowledged if the cluster has\n"
	  "    immediate_commit=all; otherwise the device has a write cache and a flush\n"
	  "    (fsync) makes them durable. Clones and images with snapshots read through\n"
	  "    their parent layers (parent_id, at most 64); writes go to the image's own\n"
	  "    inode. Parents may be in up to 8 other pools (a clone made with --pool):\n"
	  "    their PG maps go to the kernel too and the agent keeps them current; such\n"
	  "    pools need the image pool's block_size and bitmap_granularity, else map\n"
	  "    refuses naming the pool (flatten the image first). Images and parents in\n"
	  "    erasure-coded pools (xor, jerasure) map too: the kernel cuts requests at\n"
	  "    stripes (block_size x data_chunks, also the device's optimal I/O size and\n"
	  "    discard granularity) and the primary OSD does the coding; a vstor.ko\n"
	  "    without the EC feature gets a clear error.\n"
	  "    Snapshots (IMAGE@SNAP) and other readonly images map read-only. When\n"
	  "    'vsctl snap create' moves a mapped image's name to a new inode, or\n"
	  "    flatten or 'snap rm' shorten its chain, the map agent moves the device\n"
	  "    onto the new layers within a second or so; writes in between land in\n"
	  "    the old inode (so also in the new snapshot) and stay visible.\n\n"
	  "OPTIONS\n"
	  "    --pool P            refuse unless the image is in pool P (name or id)\n"
	  "    --readonly          a read-only device (also when the image is readonly)\n"
	  "    --queue_depth N     requests in flight per hardware queue (default 128)\n"
	  "    --hw_queues N       blk-mq hardware queues (default 1)\n"
	  "    --conns_per_osd N   TCP connections to each OSD (default 1)\n"
	  "    --io_timeout MS     fail requests older than MS with EIO (default 0: never;\n"
	  "                        I/O waits while the cluster recovers)\n"
	  "    --dev N             use /dev/vsN (default: the first free index)\n"
	  "    --no_agent          do not start the map agent\n\n"
	  "EXAMPLES\n"
	  "    vsctl map vm1-disk\n"
	  "    vsctl map vm1-disk --pool testpool --queue_depth 256 --json\n" },
	{ "unmap", cmd_unmap, 1, 1, "force pool",
	  "NAME\n"
	  "    vsctl unmap - remove a /dev/vsN device\n\n"
	  "SYNOPSIS\n"
	  "    vsctl unmap DEVICE|IMAGE [--force] [--pool P]\n\n"
	  "DESCRIPTION\n"
	  "    DEVICE is /dev/vsN, vsN or N; IMAGE is the name of a mapped image (--pool\n"
	  "    picks one of several). Without --force the device must not be open\n"
	  "    (unmount it first), and requests still in flight are waited for at most\n"
	  "    10 s (the module's unmap_timeout_ms). Without immediate_commit=all it\n"
	  "    then SYNCs the OSDs holding acknowledged writes, waiting as long again:\n"
	  "    if that times out it fails with EBUSY (retry, or --force); if writes\n"
	  "    were lost (an OSD connection broke before a SYNC) it fails with EIO.\n"
	  "    --force fails every request in flight and every later one with EIO\n"
	  "    first, so it always completes, even with the cluster gone or the device\n"
	  "    mounted (unwritten and unsynced data is lost).\n\n"
	  "EXAMPLES\n"
	  "    vsctl unmap /dev/vs0\n"
	  "    vsctl unmap vm1-disk --force\n" },
	{ "list", cmd_list, 0, 0, "",
	  "NAME\n"
	  "    vsctl list - list the mapped /dev/vsN devices\n\n"
	  "SYNOPSIS\n"
	  "    vsctl list [--json]\n\n"
	  "DESCRIPTION\n"
	  "    Asks the kernel module: device, pool, image, inode number, size, state\n"
	  "    (connecting, active, degraded: some I/O waits for an OSD or a map, dead,\n"
	  "    removing), map epoch (the etcd revision of its PG map), requests in flight\n"
	  "    and mode; PARENTS lists the inode numbers of the parent layers it reads\n"
	  "    through, nearest first ('7<3', '2:7' for one in pool 2 when the device is\n"
	  "    in another; JSON: \"parents\":[7,3], \"parent_pools\":[1,1] and the map\n"
	  "    epoch of each pool it routes in, \"pool_epochs\":{\"1\":E}). Needs no etcd.\n\n"
	  "EXAMPLES\n"
	  "    vsctl list\n"
	  "    vsctl list --json\n" },
	{ "map-agent", cmd_map_agent, 0, 0, "",
	  "NAME\n"
	  "    vsctl map-agent - keep the kernel's PG maps current from etcd\n\n"
	  "SYNOPSIS\n"
	  "    vsctl map-agent\n\n"
	  "DESCRIPTION\n"
	  "    Runs in the foreground until SIGTERM, one per host (it locks\n"
	  "    /run/vstor/map-agent.lock). It watches config/, pg/state/ and osd/state/\n"
	  "    and sends SET_MAP for every pool that has mapped devices whenever their\n"
	  "    routing changes, answers the kernel's NEED_MAP events, and rechecks every\n"
	  "    5 s. It also follows config/inode: when a mapped image's name now has\n"
	  "    another inode or parent chain (a snapshot, flatten, snap rm) it sends\n"
	  "    SET_LAYERS; a device whose image was removed or renamed, or whose name\n"
	  "    now has an inode that is not on top of the device's (another image),\n"
	  "    keeps its layers (logged once). It keeps no state: restarting it is\n"
	  "    harmless. Devices stay mapped while it is down, but do not follow PG\n"
	  "    moves or snapshots then.\n\n"
	  "EXAMPLES\n"
	  "    vsctl map-agent --etcd_address 10.0.0.1:2379\n"
	  "    systemctl enable --now vstor-map-agent\n" },
	{ "osd ls", cmd_osd_ls, 0, 0, "",
	  "NAME\n"
	  "    vsctl osd ls - list OSDs\n\n"
	  "SYNOPSIS\n"
	  "    vsctl osd ls [--json]\n\n"
	  "DESCRIPTION\n"
	  "    Every OSD that has osd/state (up) or osd/stats (known): number, host,\n"
	  "    address:port, up/down, size and free space.\n\n"
	  "EXAMPLES\n"
	  "    vsctl osd ls\n" },
	{ "osd rm", cmd_osd_rm, 1, 1, "force allow_data_loss",
	  "NAME\n"
	  "    vsctl osd rm - forget an OSD that is gone for good\n\n"
	  "SYNOPSIS\n"
	  "    vsctl osd rm N [--force] [--allow-data-loss]\n\n"
	  "DESCRIPTION\n"
	  "    A dead OSD stays in the pg/history of the PGs it had, since it may hold\n"
	  "    data that nobody else has: those PGs stay left_on_dead (or incomplete)\n"
	  "    until it comes back. Once it will not, this removes OSD N from every\n"
	  "    pg/history (osd_sets and all_peers) and deletes its osd/stats,\n"
	  "    osd/inodestats, osd/space and config/osd/N keys. The PGs re-peer and\n"
	  "    become clean when their data is complete on their current OSDs.\n\n"
	  "    Refused while OSD N is up, while it is still in a PG's osd_set (the\n"
	  "    monitor moves it out osd_out_time after it went down), and while a PG\n"
	  "    whose history names it is not active (its copy may be the only one).\n\n"
	  "OPTIONS\n"
	  "    --force             remove it although PGs still have it in their osd_set\n"
	  "    --allow-data-loss   remove it although some of its PGs are not active\n\n"
	  "EXIT STATUS\n"
	  "    0 removed, 1 refused or failed, 2 bad command line\n\n"
	  "EXAMPLES\n"
	  "    vsctl osd rm 7\n" },
	{ "df", cmd_df, 0, 0, "",
	  "NAME\n"
	  "    vsctl df - space per pool\n\n"
	  "SYNOPSIS\n"
	  "    vsctl df [--json]\n\n"
	  "DESCRIPTION\n"
	  "    For every pool: scheme, PGs placed, usable TOTAL (raw space of the pool's\n"
	  "    OSDs times raw_to_usable: 1/pg_size replicated, data/pg_size EC), USED,\n"
	  "    AVAILABLE (what can still be written before the fullest OSD of the pool\n"
	  "    is full: TOTAL x EFFICIENCY - USED), EFFICIENCY (how evenly the PGs use\n"
	  "    the OSDs' capacity) and the monitor's placement STATUS of the pool (ok,\n"
	  "    or a warning/error saying what is wrong, e.g. too few failure domains).\n"
	  "    The figures are the monitor's pool/stats; without a running vstor-mon\n"
	  "    there are none.\n\n"
	  "EXAMPLES\n"
	  "    vsctl df\n"
	  "    vsctl df --json\n" },
	{ "status", cmd_status, 0, 0, "",
	  "NAME\n"
	  "    vsctl status - cluster summary\n\n"
	  "SYNOPSIS\n"
	  "    vsctl status [--json]\n\n"
	  "DESCRIPTION\n"
	  "    OSDs up/total, pools, images, the monitor (master and standbys), the number\n"
	  "    of PGs in each state (from pg/state; configured PGs without a state count as\n"
	  "    offline), and from the monitor's statistics: raw space used by data (all\n"
	  "    copies/chunks, from the OSDs' osd/space), objects (degraded, misplaced),\n"
	  "    client read/write and recovery rates, and pools with placement problems.\n\n"
	  "EXAMPLES\n"
	  "    vsctl status\n" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_main_help(FILE *out)
{
	fputs("NAME\n"
	      "    vsctl - vstor cluster administration\n\n"
	      "SYNOPSIS\n"
	      "    vsctl COMMAND [ARGS] [OPTIONS]\n\n"
	      "COMMANDS\n"
	      "    pool create NAME --scheme S --pg_size N --pg_count N ...   add a pool\n"
	      "    pool ls                                     list pools\n"
	      "    pool rm NAME                                remove an empty pool\n"
	      "    create NAME --size SIZE [--pool P]          create an image\n"
	      "    ls [--pool P]                               list images\n"
	      "    info NAME                                   show an image\n"
	      "    modify NAME [--resize S] [--rename N] [--readonly|--readwrite]\n"
	      "    rm NAME [--metadata-only]                   remove an image (and its data)\n"
	      "    import FILE|- IMAGE [--pool P]              copy a file into an image\n"
	      "    export IMAGE FILE|-                         copy an image into a file\n"
	      "    snap create IMAGE@SNAP                      take a snapshot\n"
	      "    snap ls [IMAGE]                             list snapshots / layers\n"
	      "    snap rm IMAGE@SNAP                          remove a snapshot (merge)\n"
	      "    clone SNAP NEW                              new image on a snapshot\n"
	      "    flatten IMAGE                               detach from the parents\n"
	      "    pg place --static [--pool P]                static PG placement\n"
	      "    osd ls                                      list OSDs\n"
	      "    osd rm N                                    forget a dead OSD\n"
	      "    status                                      cluster summary\n"
	      "    df                                          space per pool\n"
	      "    bench IMAGE --io-type read|write|rw ...     benchmark an image\n"
	      "    map IMAGE [--pool P]                        map an image as /dev/vsN\n"
	      "    unmap DEVICE|IMAGE [--force]                remove a /dev/vsN device\n"
	      "    list                                        list the mapped devices\n"
	      "    map-agent                                   keep the kernel's maps current\n\n"
	      "    'vsctl COMMAND --help' describes one command, 'vsctl help all'\n"
	      "    all of them.\n\n", out);
	fputs(GLOBAL_HELP, out);
	fputs("\nEXIT STATUS\n    0 success, 1 error, 2 bad command line\n\n"
	      "EXAMPLES\n"
	      "    vsctl --etcd_address 10.0.0.1:2379 status\n"
	      "    vsctl pool create testpool --scheme replicated --pg_size 2 --pg_count 64\n"
	      "    vsctl create disk1 --size 10G\n", out);
}

/* Matches the command words at the start of args; NULL if none. */
static const struct command *find_command(char *const *args, size_t nargs, size_t *nwords)
{
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const char *name = commands[i].name, *sp = strchr(name, ' ');

		if (!sp) {
			if (nargs >= 1 && !strcmp(args[0], name)) {
				*nwords = 1;
				return &commands[i];
			}
		} else if (nargs >= 2 && strlen(args[0]) == (size_t)(sp - name) &&
			   !strncmp(args[0], name, (size_t)(sp - name)) && !strcmp(args[1], sp + 1)) {
			*nwords = 2;
			return &commands[i];
		}
	}
	return NULL;
}

static bool is_group(const char *w)
{
	return !strcmp(w, "pool") || !strcmp(w, "pg") || !strcmp(w, "osd") || !strcmp(w, "snap");
}

/* The option name of "--x-y=z" as "x_y" in buf; NULL when a is no option. */
static const char *opt_name(const char *a, char *buf, size_t len)
{
	size_t i = 0;

	if (a[0] != '-' || a[1] != '-' || !a[2] || !strcmp(a, "--help"))
		return NULL;
	for (a += 2; *a && *a != '=' && i + 1 < len; a++)
		buf[i++] = *a == '-' ? '_' : *a;
	buf[i] = 0;
	return buf;
}

static bool in_list(const char *list, const char *name)
{
	size_t l = strlen(name);

	for (const char *p = list; (p = strstr(p, name)); p += l)
		if ((p == list || p[-1] == ' ') && (p[l] == ' ' || !p[l]))
			return true;
	return false;
}

static bool vsctl_specific(const char *name)
{
	if (!strcmp(name, "readonly"))
		return true;
	for (size_t i = 0; i < CFG_COUNT(vsctl_opts); i++)
		if (!strcmp(vsctl_opts[i].name, name) && strcmp(name, "json"))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct vsctl v = { 0 };
	const struct command *c;
	char *const *args;
	size_t nargs, nwords = 0;
	char nbuf[128];
	int rc;

	vstor_version_option(argc, argv, "vsctl");
	vlog_set_verbosity(-1);	/* warnings and errors only */
	v.cfg = cfg_new();
	cfg_register(v.cfg, vsctl_opts, CFG_COUNT(vsctl_opts), NULL);
	/* Unknown options are usage errors (not warnings as for daemons). */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		const char *n = opt_name(argv[i], nbuf, sizeof(nbuf));

		if (n && !cfg_is_known(v.cfg, n)) {
			rc = vs_usage(&v, "unknown option %s", argv[i]);
			cfg_free(v.cfg);
			return rc;
		}
	}
	if (cfg_load(v.cfg, argc, argv) < 0) {
		const char *e = cfg_error(v.cfg);

		rc = strstr(e, "command line") ? VS_USAGE : VS_ERR;
		if (rc == VS_USAGE)
			vs_usage(&v, "%s", e);
		else
			vs_err("%s", e);
		cfg_free(v.cfg);
		return rc;
	}
	args = cfg_args(v.cfg, &nargs);
	if (nargs && !strcmp(args[0], "help")) {
		c = find_command(args + 1, nargs - 1, &nwords);
		if (c)
			fputs(c->help, stdout);
		else
			print_main_help(stdout);
		/* "vsctl help all": the whole manual, for the man page. */
		for (size_t i = 0; !c && nargs == 2 && !strcmp(args[1], "all") && i < NCOMMANDS; i++)
			printf("\n%s", commands[i].help);
		cfg_free(v.cfg);
		return VS_OK;
	}
	c = find_command(args, nargs, &nwords);
	if (!c) {
		if (cfg_help_requested(v.cfg) || !nargs) {
			/* Plain "vsctl": help on stderr and the usage exit code. */
			bool asked = cfg_help_requested(v.cfg);

			print_main_help(asked ? stdout : stderr);
			cfg_free(v.cfg);
			return asked ? VS_OK : VS_USAGE;
		}
		if (is_group(args[0]))
			rc = vs_usage(&v, "unknown or missing subcommand after '%s'%s%s", args[0],
				      nargs > 1 ? ": " : "", nargs > 1 ? args[1] : "");
		else
			rc = vs_usage(&v, "unknown command '%s'", args[0]);
		cfg_free(v.cfg);
		return rc;
	}
	v.cmd = c->name;
	if (cfg_help_requested(v.cfg)) {
		fputs(c->help, stdout);
		fputs("\n", stdout);
		fputs(GLOBAL_HELP, stdout);
		cfg_free(v.cfg);
		return VS_OK;
	}
	v.args = args + nwords;
	v.nargs = nargs - nwords;
	v.json = cfg_bool(v.cfg, "json");
	rc = VS_OK;
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		const char *n = opt_name(argv[i], nbuf, sizeof(nbuf));

		if (n && vsctl_specific(n) && !in_list(c->opts, n)) {
			rc = vs_usage(&v, "option %s does not apply to this command", argv[i]);
			break;
		}
	}
	if (!rc && v.nargs < c->min_args)
		rc = vs_usage(&v, "missing argument");
	else if (!rc && v.nargs > c->max_args)
		rc = vs_usage(&v, "unexpected argument '%s'", v.args[c->max_args]);
	if (!rc)
		rc = c->fn(&v);
	if (v.etcd)
		etcd_client_free(v.etcd);
	cfg_free(v.cfg);
	return rc;
}
