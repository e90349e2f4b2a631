/* Running shell command lines (vsctl through /bin/sh, for pipes) from
 * cluster tests, with stdout/stderr captured, and file checksums. */
#ifndef VSTOR_TEST_VT_SH_H
#define VSTOR_TEST_VT_SH_H

#include <stdarg.h>
#include <stdint.h>

struct vt_sh {
	int rc;			/* exit status; 99: a sanitizer report; 128: killed */
	char out[65536];
	char err[16384];
};

/* Runs "setup; ( cmd )" with stdout/stderr in r (through files in dir).
 * Returns r->rc. */
int vt_shv(struct vt_sh *r, const char *setup, const char *dir, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
/* vt_shv with $V set to vsctl talking to etcd at endpoint and no config
 * file: the way the vsctl cluster tests run their command lines. */
int vt_vsctl(struct vt_sh *r, const char *vsctl, const char *endpoint, const char *dir,
	     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A CHECK that call (a vt_sh runner on r) exits with expect_rc, printing
 * the command and its output when not. */
#define VT_CHECK_SH(r, expect_rc, call, ...) do { \
	int _rc = call(__VA_ARGS__); \
	CHECK_MSG(_rc == (expect_rc), "rc %d != %d: %s\nstdout: %.2000s\nstderr: %.2000s", \
		  _rc, (expect_rc), #__VA_ARGS__, (r)->out, (r)->err); \
} while (0)

/* FNV-1a over a file; *len gets its size (0 and 0 when unreadable). */
uint64_t vt_file_sum(const char *path, uint64_t *len);
/* FNV-1a over a buffer. */
uint64_t vt_buf_sum(const void *p, uint64_t len);

#endif
