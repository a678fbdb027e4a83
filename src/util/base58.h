/* base58.h - base58btc (the Bitcoin alphabet), as multiformats uses it for peer ids.
 *
 * Leading zero bytes map to leading '1' characters and back. Buffers are the caller's. */
#ifndef SWARM_UTIL_BASE58_H
#define SWARM_UTIL_BASE58_H

#include <stddef.h>
#include <stdint.h>

/* Upper bound of the characters base58_encode writes for n bytes (without the NUL). */
size_t base58_encoded_max(size_t n);

/* Encodes in[0..n) into out, which holds cap bytes; writes a NUL and returns the length, or
 * returns 0 and writes nothing if out is too small (an empty input encodes as ""). */
size_t base58_encode(const uint8_t *in, size_t n, char *out, size_t cap);

/* Decodes in[0..n) into out (room for cap bytes) and sets *outlen. Rejects characters outside
 * the alphabet (whitespace included) and results longer than cap. Returns 0, or -1 with err. */
int base58_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen, char *err,
                  size_t errlen);

#endif
