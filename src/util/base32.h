/* base32.h - RFC 4648 base32, lowercase, without padding: multibase 'b', used by CIDs.
 *
 * Buffers are the caller's. */
#ifndef SWARM_UTIL_BASE32_H
#define SWARM_UTIL_BASE32_H

#include <stddef.h>
#include <stdint.h>

/* Characters base32_encode writes for n bytes (without the NUL). */
size_t base32_encoded_len(size_t n);

/* Encodes in[0..n) into out (base32_encoded_len(n) + 1 bytes); writes a NUL, returns length. */
size_t base32_encode(const uint8_t *in, size_t n, char *out);

/* Decodes in[0..n) (lowercase or uppercase, no padding) into out (room for cap bytes), sets
 * *outlen. Rejects other characters, impossible lengths and non-zero leftover bits. */
int base32_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen, char *err,
                  size_t errlen);

#endif
