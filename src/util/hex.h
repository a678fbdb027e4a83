/* hex.h - lowercase hex encoding, case-insensitive strict decoding. Caller owns buffers. */
#ifndef SWARM_UTIL_HEX_H
#define SWARM_UTIL_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Encodes in[0..n) as lowercase hex into out (room for 2n + 1); writes a NUL, returns 2n. */
size_t hex_encode(const uint8_t *in, size_t n, char *out);

/* Decodes n hex digits (either case, no prefix or spaces) into out (room for n / 2) and sets
 * *outlen. Returns 0, or -1 with err set for an odd length or a non-hex character. */
int hex_decode(const char *in, size_t n, uint8_t *out, size_t *outlen, char *err, size_t errlen);

#endif
