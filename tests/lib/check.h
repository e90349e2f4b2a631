/* Minimal test harness: every test binary runs named cases and prints one
 * line per case, "PASS: name", "FAIL: name (file:line: expr)" or
 * "SKIP: name (why)". tests/run.sh counts those lines. */
#ifndef VSTOR_TEST_CHECK_H
#define VSTOR_TEST_CHECK_H

#include <stdio.h>
#include <string.h>
#include <inttypes.h>

/* Set by CHECK when the running case failed; the case returns at once. */
extern int vt_case_failed;

void vt_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Runs one case and prints its result line. */
void vt_run(const char *name, void (*fn)(void));
/* Marks the current case skipped (call, then return from the case). */
void vt_skip(const char *why);
/* Prints a per-binary summary; returns the process exit code. */
int vt_finish(void);

/* Monotonic clock in milliseconds, and a sleep that tests use for waits. */
long long vt_now_ms(void);
void vt_sleep_ms(int ms);
/* xorshift64: a fast reproducible PRNG for test data; *state != 0. */
uint64_t vt_rand(uint64_t *state);
/* Prints the last few KiB of a log file to stderr, headed by tag. */
void vt_print_tail(const char *tag, const char *path);
/* The same with at most max bytes (up to 4 KiB). */
void vt_print_tail_n(const char *tag, const char *path, size_t max);
/* fn runs after every failed case, before its FAIL line: helpers that own
 * processes print their logs there, so a failure that shows only in CI
 * comes with what the daemons said. At most 4 hooks. */
void vt_on_fail(void (*fn)(void));
/* Reads up to len-1 bytes of a file into buf (NUL-terminated; "" if it
 * cannot be read) and removes the file. */
void vt_slurp(const char *path, char *buf, size_t len);

#define CHECK(cond) do { \
	if (!(cond)) { vt_fail(__FILE__, __LINE__, "%s", #cond); return; } \
} while (0)

#define CHECK_MSG(cond, ...) do { \
	if (!(cond)) { vt_fail(__FILE__, __LINE__, __VA_ARGS__); return; } \
} while (0)

#define CHECK_EQ(a, b) do { \
	long long _a = (long long)(a), _b = (long long)(b); \
	if (_a != _b) { vt_fail(__FILE__, __LINE__, "%s == %s (%lld != %lld)", \
		#a, #b, _a, _b); return; } \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *_a = (a), *_b = (b); \
	if (!_a || !_b || strcmp(_a, _b)) { vt_fail(__FILE__, __LINE__, \
		"%s == %s (\"%s\" != \"%s\")", #a, #b, _a ? _a : "(null)", \
		_b ? _b : "(null)"); return; } \
} while (0)

#define RUN(fn) vt_run(#fn, fn)

#endif
