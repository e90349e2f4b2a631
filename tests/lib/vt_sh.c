#include "vt_sh.h"
#include "check.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int vt_shv(struct vt_sh *r, const char *setup, const char *dir, const char *fmt, va_list ap)
{
	char cmd[4096], full[4096 + 3 * PATH_MAX + 200], out[PATH_MAX + 8], err[PATH_MAX + 8];
	int st;

	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	snprintf(out, sizeof(out), "%s/sh.out", dir);
	snprintf(err, sizeof(err), "%s/sh.err", dir);
	snprintf(full, sizeof(full), "%s; ( %s ) >'%s' 2>'%s'", setup, cmd, out, err);
	st = system(full);
	vt_slurp(out, r->out, sizeof(r->out));
	vt_slurp(err, r->err, sizeof(r->err));
	r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	if (strstr(r->err, "Sanitizer") || strstr(r->err, "runtime error:"))
		r->rc = 99;
	return r->rc;
}

int vt_vsctl(struct vt_sh *r, const char *vsctl, const char *endpoint, const char *dir,
	     const char *fmt, ...)
{
	char setup[PATH_MAX + 200];
	va_list ap;

	snprintf(setup, sizeof(setup), "V='%s --config_path /dev/null --etcd_address %s'",
		 vsctl, endpoint);
	va_start(ap, fmt);
	vt_shv(r, setup, dir, fmt, ap);
	va_end(ap);
	return r->rc;
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

uint64_t vt_buf_sum(const void *p, uint64_t len)
{
	return fnv(14695981039346656037ull, p, len);
}

uint64_t vt_file_sum(const char *path, uint64_t *len)
{
	uint64_t h = 14695981039346656037ull;
	uint8_t buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	*len = 0;
	if (fd < 0)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		h = fnv(h, buf, (size_t)n);
		*len += (uint64_t)n;
	}
	close(fd);
	return h;
}
