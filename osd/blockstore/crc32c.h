/* CRC-32C (Castagnoli), as used by iSCSI/ext4: reflected polynomial
 * 0x82F63B78, init ~0, final xor ~0. crc32c("123456789") = 0xE3069283. */
#ifndef VSTOR_BS_CRC32C_H
#define VSTOR_BS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc32c(0, buf, len) for a fresh CRC; chaining: crc32c(prev, more, n). */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
/* Forced implementations, for tests. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len);
/* 1 when the SSE4.2 crc32 instruction is available and used. */
int crc32c_hw_available(void);

#endif
