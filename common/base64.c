#include "base64.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

static const char b64_alphabet[64] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

size_t b64_decoded_max(size_t n)
{
	return n / 4 * 3 + 3;
}

size_t b64_encode(const void *src, size_t n, char *dst)
{
	const unsigned char *s = src;
	char *d = dst;
	size_t i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];

		*d++ = b64_alphabet[v >> 18];
		*d++ = b64_alphabet[(v >> 12) & 63];
		*d++ = b64_alphabet[(v >> 6) & 63];
		*d++ = b64_alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;

		*d++ = b64_alphabet[v >> 18];
		*d++ = b64_alphabet[(v >> 12) & 63];
		*d++ = '=';
		*d++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;

		*d++ = b64_alphabet[v >> 18];
		*d++ = b64_alphabet[(v >> 12) & 63];
		*d++ = b64_alphabet[(v >> 6) & 63];
		*d++ = '=';
	}
	*d = 0;
	return (size_t)(d - dst);
}

/* The 6-bit value of c, or -1. */
static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long b64_decode(const char *src, size_t n, void *dst)
{
	const unsigned char *s = (const unsigned char *)src;
	unsigned char *d = dst;
	size_t i;

	if (n % 4)
		return -1;
	for (i = 0; i < n; i += 4) {
		int a = b64_val(s[i]), b = b64_val(s[i + 1]);
		int c = b64_val(s[i + 2]), e = b64_val(s[i + 3]);
		int last = i + 4 == n;

		if (a < 0 || b < 0)
			return -1;
		if (c < 0 || e < 0) {
			/* Only the last quantum may be padded: "xx==" or "xxx=". */
			if (!last)
				return -1;
			if (c < 0) {
				if (s[i + 2] != '=' || s[i + 3] != '=' || (b & 15))
					return -1;
				*d++ = (unsigned char)(a << 2 | b >> 4);
			} else {
				if (s[i + 3] != '=' || (c & 3))
					return -1;
				*d++ = (unsigned char)(a << 2 | b >> 4);
				*d++ = (unsigned char)((b & 15) << 4 | c >> 2);
			}
			break;
		}
		*d++ = (unsigned char)(a << 2 | b >> 4);
		*d++ = (unsigned char)((b & 15) << 4 | c >> 2);
		*d++ = (unsigned char)((c & 3) << 6 | e);
	}
	return (long)(d - (unsigned char *)dst);
}

char *b64_decode_alloc(const char *src, size_t n, size_t *out_len)
{
	char *buf = malloc(b64_decoded_max(n) + 1);
	long len;

	if (!buf) {
		errno = ENOMEM;
		return NULL;
	}
	len = b64_decode(src, n, buf);
	if (len < 0) {
		free(buf);
		errno = EINVAL;
		return NULL;
	}
	buf[len] = 0;
	if (out_len)
		*out_len = (size_t)len;
	return buf;
}
