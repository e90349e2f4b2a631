/* Typed configuration registry (Vitastor-compatible keys, spec §10).
 *
 * A struct cfg holds a schema (tables of struct cfg_opt registered by the
 * common code and by each program) and values from four sources, highest
 * precedence first:
 *
 *   CFG_SRC_CMDLINE  --key value, --key=value, bare --flag for booleans
 *   CFG_SRC_FILE     a JSON object in /etc/vitastor/vitastor.conf or the file
 *                    named by --config_path (a missing default file is fine,
 *                    a missing explicit one is an error)
 *   CFG_SRC_ETCD     etcd `config/global`, merged in later by
 *                    cfg_merge_etcd(); re-merging replaces every value taken
 *                    from etcd before
 *   CFG_SRC_DEFAULT  the schema defaults
 *
 * Each source is kept separately, so a getter returns the value of the
 * highest source that set the key, and cfg_source() tells which one it was.
 *
 * Typical use:
 *
 *   struct cfg *cfg = cfg_new();
 *   cfg_register(cfg, osd_opts, CFG_COUNT(osd_opts), osd_check);
 *   if (cfg_load(cfg, argc, argv) < 0) {
 *           fprintf(stderr, "%s\n", cfg_error(cfg));
 *           exit(1);
 *   }
 *   if (cfg_help_requested(cfg)) { cfg_print_help(cfg, stdout, CFG_SC_OSD); exit(0); }
 *   vlog_set_verbosity(cfg_i64(cfg, "log_level"));
 *   uint64_t bs = cfg_u64(cfg, "block_size");
 *   ...
 *   // whenever etcd config/global is read or changes:
 *   if (cfg_merge_etcd(cfg, global_json) < 0)
 *           log_err("%s", cfg_error(cfg));   // cfg is unchanged
 *
 * Value forms. JSON sources give JSON values; the command line and schema
 * defaults give text, which is interpreted as a JSON string value (or as
 * JSON for CFG_JSON, and for CFG_LIST when it starts with '['). Numbers may
 * always be JSON strings ("12"), as Vitastor's monitor writes them. A JSON
 * null counts as "not given". Types:
 *
 *   CFG_STR     string; .choices = "none|small|all" restricts it (exact,
 *               case-sensitive match; no empty choice)
 *   CFG_BOOL    true/false, 1/0, "true"/"false"/"yes"/"no"/"on"/"off"/"1"/"0"
 *   CFG_U64     unsigned integer (.min/.max via CFG_MIN/CFG_RANGE)
 *   CFG_I64     signed integer
 *   CFG_DOUBLE  number
 *   CFG_MS      duration whose plain numbers are milliseconds
 *   CFG_SECS    duration whose plain numbers are seconds (Vitastor's unit for
 *               e.g. peer_connect_interval); both duration types also accept
 *               strings with a unit: "500ms", "5s", "2m", "1h", and both are
 *               read with cfg_ms() in milliseconds
 *   CFG_SIZE    bytes: an integer or a string with a binary suffix:
 *               "128k", "4M", "1G", "2T" (also "4MB", "4MiB"; 1k = 1024)
 *   CFG_LIST    a string (comma-separated) or an array of strings (e.g.
 *               etcd_address, osd_network); items are trimmed of spaces and
 *               empty items are dropped
 *   CFG_JSON    a JSON object (e.g. placement_levels)
 *
 * Unknown keys are kept (readable with cfg_raw) and warned about once; they
 * are not an error, since Vitastor has many keys vstor does not use yet.
 *
 * Errors (type, range, parse, file) return -EINVAL/-ENOENT/... and leave a
 * one-line message in cfg_error(cfg), for example
 *   config: block_size in /etc/vitastor/vitastor.conf: expected a size like
 *   131072 or "128k", got "abc"
 * Programming errors (unregistered key, wrong getter type, duplicate or bad
 * schema entries, registering after loading) print a message and abort().
 *
 * No global state: everything lives in the struct cfg (messages go through
 * the logger in log.h). Not thread-safe; one owner thread. */
#ifndef VSTOR_CONFIG_H
#define VSTOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "json.h"

enum cfg_type {
	CFG_STR,
	CFG_BOOL,
	CFG_U64,
	CFG_I64,
	CFG_DOUBLE,
	CFG_MS,
	CFG_SECS,
	CFG_SIZE,
	CFG_LIST,
	CFG_JSON,
};

/* Sources, in increasing precedence. */
enum cfg_source {
	CFG_SRC_DEFAULT = 0,
	CFG_SRC_ETCD = 1,
	CFG_SRC_FILE = 2,
	CFG_SRC_CMDLINE = 3,
	CFG_NSRC = 4,
	CFG_SRC_UNSET = -1,	/* returned by cfg_source() for unset keys */
};

/* Scope bits: which programs read a key (for help output and vsctl). */
#define CFG_SC_CLIENT	0x01u	/* client library, NBD/kernel client helpers */
#define CFG_SC_OSD	0x02u
#define CFG_SC_MON	0x04u
#define CFG_SC_CLI	0x08u	/* vsctl */
#define CFG_SC_GLOBAL	0x10u	/* cluster-wide: normally set in config/global */
#define CFG_SC_ALL	(CFG_SC_CLIENT | CFG_SC_OSD | CFG_SC_MON | CFG_SC_CLI)

/* Flags. */
#define CFG_F_NO_ETCD	0x01u	/* ignored in etcd config/global (e.g. osd_num) */
#define CFG_F_NO_FILE	0x02u	/* ignored in the config file (config_path) */

struct cfg_opt {
	const char *name;
	enum cfg_type type;
	/* Default in command-line text form ("131072", "128k", "true", "5",
	 * "{\"host\":100}"), or NULL for "unset". Checked at registration. */
	const char *def;
	const char *help;
	unsigned scope;		/* CFG_SC_* */
	unsigned flags;		/* CFG_F_* */
	/* Inclusive bounds for CFG_U64/I64/DOUBLE/SIZE/MS/SECS when ranged;
	 * durations in their plain unit (ms for CFG_MS, s for CFG_SECS). */
	bool ranged;
	int64_t min, max;
	const char *choices;	/* CFG_STR only: "a|b|c" */
	const char *alias;	/* an old name also accepted as input */
};

#define CFG_MIN(lo)		.ranged = true, .min = (lo), .max = INT64_MAX
#define CFG_RANGE(lo, hi)	.ranged = true, .min = (lo), .max = (hi)
#define CFG_COUNT(table)	(sizeof(table) / sizeof((table)[0]))

struct cfg;

/* Cross-field validation hook: returns 0, or a negative errno after calling
 * cfg_fail(). Must not change values. Runs after every load and merge, on
 * the combined configuration. */
typedef int (*cfg_check_fn)(struct cfg *cfg);

/* A new configuration with the common schema (spec §10 keys, config_path,
 * osd_num) registered. Aborts on out-of-memory. */
struct cfg *cfg_new(void);
void cfg_free(struct cfg *cfg);

/* Adds a program's own keys. The table must stay valid for the cfg's life
 * (use a static const array). check may be NULL. Must be called before any
 * value is set or loaded; duplicate names abort. */
void cfg_register(struct cfg *cfg, const struct cfg_opt *table, size_t n,
		  cfg_check_fn check);

/* --- Loading ---------------------------------------------------------- */

/* The usual start-up sequence: cfg_parse_args, then cfg_load_file with
 * --config_path (explicit) or /etc/vitastor/vitastor.conf (optional), then
 * cfg_validate. argv[0] is skipped. When -h/--help is given it stops after
 * the arguments and returns 0, so help works even with a broken config
 * file: check cfg_help_requested() first. */
int cfg_load(struct cfg *cfg, int argc, char *const *argv);

/* Parses command-line options into CFG_SRC_CMDLINE:
 *   --key value, --key=value, --flag (booleans: the next argument is only
 *   taken as the value when it is a boolean word such as true/false/0/1),
 *   dashes in names are read as underscores (--etcd-address).
 * "-h" and "--help" set cfg_help_requested(); other arguments (including
 * single-dash ones and everything after "--") are collected for cfg_args().
 * Unknown --keys are warned about and kept as raw strings (a bare one as
 * true). */
int cfg_parse_args(struct cfg *cfg, int argc, char *const *argv);

/* Loads a JSON object file into CFG_SRC_FILE. If !must_exist, a missing
 * file is not an error (returns 0). */
int cfg_load_file(struct cfg *cfg, const char *path, bool must_exist);

/* The same for text already in memory; origin names it in messages. */
int cfg_load_text(struct cfg *cfg, const char *text, size_t len,
		  const char *origin);

/* Merges etcd config/global (a JSON object, or NULL when the key is absent).
 * Replaces all values previously taken from etcd; keys set on the command
 * line or in the file keep their local values. Runs cfg_validate. On any
 * error the configuration is left exactly as before the call. */
int cfg_merge_etcd(struct cfg *cfg, json_t global);
/* The same, parsing text first (len 0 = absent). */
int cfg_merge_etcd_text(struct cfg *cfg, const char *text, size_t len);

/* Sets one key from text (command-line form) in the given source, like
 * "--key value" would. Does not run cfg_validate. */
int cfg_set(struct cfg *cfg, const char *key, const char *value,
	    enum cfg_source src);

/* Runs the cross-field checks (common ones and registered hooks) and
 * recomputes derived defaults (etcd_keepalive_timeout). */
int cfg_validate(struct cfg *cfg);

/* Last error message ("" if none). */
const char *cfg_error(const struct cfg *cfg);
/* For check hooks: stores a message, returns -EINVAL. */
int cfg_fail(struct cfg *cfg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Fails with "config: <key> is not set (...)" unless key has a value. */
int cfg_require(struct cfg *cfg, const char *key);

/* --- Reading ---------------------------------------------------------- */

/* Typed getters. Unset keys give NULL / false / 0 / an empty list. Asking
 * for an unregistered key or with the wrong getter aborts. */
const char *cfg_str(const struct cfg *cfg, const char *key);
bool cfg_bool(const struct cfg *cfg, const char *key);
uint64_t cfg_u64(const struct cfg *cfg, const char *key);	/* U64, SIZE */
int64_t cfg_i64(const struct cfg *cfg, const char *key);
double cfg_double(const struct cfg *cfg, const char *key);
uint64_t cfg_ms(const struct cfg *cfg, const char *key);	/* MS, SECS */
/* NULL-terminated list; *n (if n) gets the count. Never NULL. */
const char *const *cfg_strv(const struct cfg *cfg, const char *key, size_t *n);
/* CFG_JSON value (owned by cfg) or NULL. */
json_t cfg_json(const struct cfg *cfg, const char *key);

/* True when the key has a value (including a default). Registered keys
 * only (aborts otherwise). */
bool cfg_is_set(const struct cfg *cfg, const char *key);
/* Where the current value came from, or CFG_SRC_UNSET. Works for
 * registered and unknown keys (unknown and absent: CFG_SRC_UNSET). */
enum cfg_source cfg_source(const struct cfg *cfg, const char *key);
/* "default", "etcd", "file", "cmdline". */
const char *cfg_source_name(enum cfg_source src);
/* Human description of where key's value came from, for messages:
 * "on the command line", "in /etc/vitastor/vitastor.conf",
 * "in etcd /vitastor/config/global", "by default", "(unset)". */
const char *cfg_origin(const struct cfg *cfg, const char *key);
/* Whether key (or an alias) is in the schema. */
bool cfg_is_known(const struct cfg *cfg, const char *key);
/* An unknown key's value as given (command-line values are JSON strings),
 * or NULL when absent or when key is registered (use the typed getters). */
json_t cfg_raw(const struct cfg *cfg, const char *key);
/* The config file path used by the last load ("" if none). */
const char *cfg_file_path(const struct cfg *cfg);

/* Command-line leftovers: arguments that are not --options. */
bool cfg_help_requested(const struct cfg *cfg);
char *const *cfg_args(const struct cfg *cfg, size_t *n);

/* --- Output ----------------------------------------------------------- */

/* Prints "--key <type> (default X)\n    help" for every key whose scope
 * intersects scope_mask (0 = all), in registration order. */
void cfg_print_help(const struct cfg *cfg, FILE *out, unsigned scope_mask);

#define CFG_DUMP_SOURCES	0x1u	/* {"key":{"value":v,"source":"file"}} */
#define CFG_DUMP_DEFAULTS	0x2u	/* include keys at their default */
#define CFG_DUMP_UNKNOWN	0x4u	/* include unknown keys */
/* Appends the effective configuration as a JSON object. Durations are
 * written in their plain unit (seconds for CFG_SECS), so the output is a
 * valid config file. */
int cfg_dump_json(const struct cfg *cfg, struct strbuf *sb, unsigned flags);

/* Helpers, exported for programs with their own option forms. Return 0 or
 * -EINVAL (-ERANGE on overflow). */
int cfg_parse_size(const char *s, uint64_t *out);
int cfg_parse_duration_ms(const char *s, uint64_t unit_ms, uint64_t *out);

#endif
