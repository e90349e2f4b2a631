#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The only global of the common library; see log.h for why. */
struct vlog_state vlog_state = {
	.level = VLOG_INFO,
	.out = NULL,
	.timestamps = true,
	.prog = "",
};

static const char *const level_names[] = {
	[VLOG_ERROR] = "ERROR",
	[VLOG_WARN] = "WARN",
	[VLOG_INFO] = "INFO",
	[VLOG_DEBUG] = "DEBUG",
	[VLOG_TRACE] = "TRACE",
};

const char *vlog_level_name(int level)
{
	if (level < VLOG_ERROR || level > VLOG_TRACE)
		return "?";
	return level_names[level];
}

int vlog_level_from_name(const char *name)
{
	if (!name)
		return -1;
	if (!strcasecmp(name, "off") || !strcasecmp(name, "none"))
		return VLOG_OFF;
	if (!strcasecmp(name, "warning"))
		return VLOG_WARN;
	if (!strcasecmp(name, "err"))
		return VLOG_ERROR;
	for (int l = VLOG_ERROR; l <= VLOG_TRACE; l++)
		if (!strcasecmp(name, level_names[l]))
			return l;
	return -1;
}

int vlog_set_level(int level)
{
	int old = vlog_state.level;

	if (level < VLOG_OFF)
		level = VLOG_OFF;
	if (level > VLOG_TRACE)
		level = VLOG_TRACE;
	vlog_state.level = level;
	return old;
}

int vlog_get_level(void)
{
	return vlog_state.level;
}

void vlog_set_verbosity(int64_t log_level)
{
	if (log_level < VLOG_OFF - VLOG_INFO)
		log_level = VLOG_OFF - VLOG_INFO;
	if (log_level > VLOG_TRACE - VLOG_INFO)
		log_level = VLOG_TRACE - VLOG_INFO;
	vlog_set_level(VLOG_INFO + (int)log_level);
}

FILE *vlog_set_stream(FILE *out)
{
	FILE *old = vlog_state.out;

	vlog_state.out = out;
	return old;
}

void vlog_set_prog(const char *name)
{
	snprintf(vlog_state.prog, sizeof(vlog_state.prog), "%s", name ? name : "");
}

void vlog_set_timestamps(bool on)
{
	vlog_state.timestamps = on;
}

/* Writes "<date> <time>.<ms> [prog] LEVEL: " into buf; returns its length. */
static size_t format_prefix(char *buf, size_t size, int level)
{
	size_t n = 0;
	int r;

	if (vlog_state.timestamps) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		if (localtime_r(&ts.tv_sec, &tm)) {
			n = strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
			r = snprintf(buf + n, size - n, ".%03ld ", ts.tv_nsec / 1000000);
			if (r > 0 && (size_t)r < size - n)
				n += r;
		}
	}
	if (vlog_state.prog[0]) {
		r = snprintf(buf + n, size - n, "[%s] ", vlog_state.prog);
		if (r > 0 && (size_t)r < size - n)
			n += r;
	}
	r = snprintf(buf + n, size - n, "%s: ", vlog_level_name(level));
	if (r > 0 && (size_t)r < size - n)
		n += r;
	return n;
}

void vlog_vwrite(int level, const char *fmt, va_list ap)
{
	int saved_errno = errno;
	char small[1024], *line = small;
	size_t plen, cap = sizeof(small);
	FILE *out = vlog_state.out ? vlog_state.out : stderr;
	va_list ap2;
	int n;

	plen = format_prefix(small, sizeof(small), level);
	va_copy(ap2, ap);
	errno = saved_errno;	/* for %m */
	n = vsnprintf(small + plen, cap - plen, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		n = 0;
		small[plen] = 0;
	} else if ((size_t)n + 2 > cap - plen) {
		/* Too long for the stack buffer: format again on the heap, or
		 * fall back to the truncated text. */
		char *big = malloc(plen + (size_t)n + 2);

		if (big) {
			memcpy(big, small, plen);
			errno = saved_errno;	/* for %m */
			vsnprintf(big + plen, (size_t)n + 1, fmt, ap);
			line = big;
		} else {
			n = (int)(cap - plen - 2);
		}
	}
	n += (int)plen;
	if (n > (int)plen && line[n - 1] == '\n')
		n--;
	line[n++] = '\n';
	fwrite(line, 1, (size_t)n, out);
	fflush(out);
	if (line != small)
		free(line);
	errno = saved_errno;
}

void vlog_write(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_vwrite(level, fmt, ap);
	va_end(ap);
}
