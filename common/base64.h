/* Standard base64 (RFC 4648, alphabet A-Z a-z 0-9 + /, '=' padding), as the
 * etcd JSON gateway uses for keys and values.
 *
 * The decoder is strict: the input length must be a multiple of 4, padding
 * may only end the input (at most two '='), no whitespace or other
 * characters are allowed and the unused bits of the last symbol must be
 * zero, so every byte string has exactly one accepted encoding. */
#ifndef VSTOR_BASE64_H
#define VSTOR_BASE64_H

#include <stddef.h>

/* Encoded length of n bytes, without the terminating NUL. */
size_t b64_encoded_len(size_t n);
/* Upper bound of the decoded length of n encoded characters. */
size_t b64_decoded_max(size_t n);

/* Writes the encoding of src[0..n) to dst followed by a NUL; dst must hold
 * b64_encoded_len(n) + 1 bytes. Returns the encoded length. */
size_t b64_encode(const void *src, size_t n, char *dst);

/* Decodes src[0..n) into dst (which must hold b64_decoded_max(n) bytes).
 * Returns the decoded length, or -1 when the input is not strictly valid. */
long b64_decode(const char *src, size_t n, void *dst);

/* Decodes into a new buffer with a NUL after the data (handy for text).
 * Returns NULL on invalid input (errno EINVAL) or no memory (ENOMEM). */
char *b64_decode_alloc(const char *src, size_t n, size_t *out_len);

#endif
