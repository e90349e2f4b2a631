/* A small leveled logger writing one line per message to stderr (or a
 * stream chosen with vlog_set_stream), e.g.
 *
 *   2025-06-01 12:00:00.123 [vstor-osd] WARN: config: unknown key "foo" ...
 *
 * Levels, from the most to the least important: VLOG_ERROR, VLOG_WARN,
 * VLOG_INFO, VLOG_DEBUG, VLOG_TRACE. A message is written when its level is
 * <= the current level; VLOG_OFF silences everything. The default is
 * VLOG_INFO.
 *
 * Vitastor's numeric `log_level` option (0 = normal, higher = more verbose)
 * maps onto these with vlog_set_verbosity():
 *
 *   log_level  <= -3   -2      -1     0 (default)  1       >= 2
 *   shows      nothing error   +warn  +info        +debug  +trace
 *
 * The log_err/log_warn/log_info/log_debug/log_trace macros cost a single
 * compare-and-branch when their level is disabled: the arguments are not
 * evaluated then, so they must not have side effects.
 *
 * State: the logger keeps one process-wide struct vlog_state (the only
 * global of the common library). The daemons are single-threaded, a log line
 * has no owner to pass it through, and every module must be able to log
 * without threading a handle through every call. Tests change the level and
 * the stream through the setters below. Writing is not thread-safe beyond
 * what stdio gives (each line goes out in one fwrite).
 *
 * vlog_write preserves errno, so `log_err("open %s: %s", p, strerror(errno));
 * return -errno;` is safe. */
#ifndef VSTOR_LOG_H
#define VSTOR_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum vlog_level {
	VLOG_OFF = 0,
	VLOG_ERROR = 1,
	VLOG_WARN = 2,
	VLOG_INFO = 3,
	VLOG_DEBUG = 4,
	VLOG_TRACE = 5,
};

struct vlog_state {
	int level;		/* messages with level <= this are written */
	FILE *out;		/* NULL = stderr */
	bool timestamps;	/* prefix lines with local date and time */
	char prog[32];		/* optional program name, "" = none */
};

/* The process-wide logger state. Read by the macros; change it only through
 * the functions below. */
extern struct vlog_state vlog_state;

/* Writes one message (a trailing newline in fmt is optional). */
void vlog_write(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void vlog_vwrite(int level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define vlog_enabled(lvl) ((int)(lvl) <= vlog_state.level)
#define vlog_at(lvl, ...) do { \
	if (vlog_enabled(lvl)) \
		vlog_write((lvl), __VA_ARGS__); \
} while (0)

#define log_err(...)	vlog_at(VLOG_ERROR, __VA_ARGS__)
#define log_warn(...)	vlog_at(VLOG_WARN, __VA_ARGS__)
#define log_info(...)	vlog_at(VLOG_INFO, __VA_ARGS__)
#define log_debug(...)	vlog_at(VLOG_DEBUG, __VA_ARGS__)
#define log_trace(...)	vlog_at(VLOG_TRACE, __VA_ARGS__)

/* Sets the level (clamped to VLOG_OFF..VLOG_TRACE); returns the old one. */
int vlog_set_level(int level);
int vlog_get_level(void);
/* Sets the level from Vitastor's `log_level` (see the table above). */
void vlog_set_verbosity(int64_t log_level);
/* NULL restores stderr; returns the previous stream (NULL for stderr). */
FILE *vlog_set_stream(FILE *out);
/* Program name shown in brackets after the timestamp; NULL or "" = none.
 * Longer names are truncated to 31 bytes. */
void vlog_set_prog(const char *name);
/* Timestamps are on by default; tests may turn them off. */
void vlog_set_timestamps(bool on);
/* "ERROR", "WARN", "INFO", "DEBUG", "TRACE" (or "?"). */
const char *vlog_level_name(int level);
/* Parses "error", "warn"/"warning", "info", "debug", "trace", "off"
 * (case-insensitive); returns the level or -1. */
int vlog_level_from_name(const char *name);

#endif
