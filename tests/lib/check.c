#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int vt_case_failed;
static int vt_case_skipped;
static char vt_reason[512];
static int n_pass, n_fail, n_skip;
static void (*fail_hooks[4])(void);

void vt_on_fail(void (*fn)(void))
{
	for (size_t i = 0; i < sizeof(fail_hooks) / sizeof(fail_hooks[0]); i++)
		if (!fail_hooks[i] || fail_hooks[i] == fn) {
			fail_hooks[i] = fn;
			return;
		}
}

void vt_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(vt_reason, sizeof(vt_reason), "%s:%d: ", file, line);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(vt_reason))
		vsnprintf(vt_reason + n, sizeof(vt_reason) - n, fmt, ap);
	va_end(ap);
	vt_case_failed = 1;
}

void vt_skip(const char *why)
{
	snprintf(vt_reason, sizeof(vt_reason), "%s", why);
	vt_case_skipped = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void vt_run(const char *name, void (*fn)(void))
{
	double t0 = now_s();

	vt_case_failed = 0;
	vt_case_skipped = 0;
	vt_reason[0] = 0;
	fn();
	if (vt_case_failed) {
		for (size_t i = 0; i < sizeof(fail_hooks) / sizeof(fail_hooks[0]); i++)
			if (fail_hooks[i])
				fail_hooks[i]();
		fflush(stderr);
		printf("FAIL: %s (%s)\n", name, vt_reason);
		n_fail++;
	} else if (vt_case_skipped) {
		printf("SKIP: %s (%s)\n", name, vt_reason);
		n_skip++;
	} else {
		printf("PASS: %s (%.2fs)\n", name, now_s() - t0);
		n_pass++;
	}
	fflush(stdout);
}

int vt_finish(void)
{
	fprintf(stderr, "# %d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
	return n_fail ? 1 : 0;
}

long long vt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t vt_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

void vt_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void vt_print_tail(const char *tag, const char *path)
{
	vt_print_tail_n(tag, path, 4096);
}

void vt_print_tail_n(const char *tag, const char *path, size_t max)
{
	FILE *f = fopen(path, "r");
	char buf[4097];
	long size, want = (long)(max < 4096 ? max : 4096);
	size_t n;

	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > want ? size - want : 0, SEEK_SET);
	n = fread(buf, 1, (size_t)want, f);
	buf[n] = 0;
	fclose(f);
	fprintf(stderr, "%s: --- tail of %s ---\n%s\n", tag, path, buf);
}

void vt_slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : 0;

	buf[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
	unlink(path);
}
