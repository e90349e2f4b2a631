/* SHA-1 (FIPS 180-4), for the placement hash of config/pgs (spec §11):
 * change detection only, not security. */
#ifndef VSTOR_SHA1_H
#define VSTOR_SHA1_H

#include <stddef.h>
#include <stdint.h>

struct sha1 {
	uint32_t h[5];
	uint64_t len;		/* bytes so far */
	uint8_t buf[64];
	size_t nbuf;
};

void sha1_init(struct sha1 *s);
void sha1_update(struct sha1 *s, const void *data, size_t len);
void sha1_final(struct sha1 *s, uint8_t out[20]);
/* The digest of data as 40 lowercase hex digits and a NUL. */
void sha1_hex(const void *data, size_t len, char out[41]);

#endif
