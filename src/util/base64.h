/* base64.h - RFC 4648 base64, standard (padded) and URL-safe (unpadded) alphabets.
 *
 * Buffers are the caller's: size them with base64_encoded_len / base64_decoded_max. */
#ifndef SWARM_UTIL_BASE64_H
#define SWARM_UTIL_BASE64_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    BASE64_STD, /* A-Z a-z 0-9 + /, '=' padding on encode */
    BASE64_URL, /* A-Z a-z 0-9 - _, no padding on encode */
} base64_variant;

/* Characters base64_encode writes for n input bytes (without the NUL). */
size_t base64_encoded_len(size_t n, base64_variant v);

/* Encodes in[0..n) into out, which must hold base64_encoded_len(n, v) + 1 bytes; writes a NUL
 * and returns the length. */
size_t base64_encode(const uint8_t *in, size_t n, char *out, base64_variant v);

/* Upper bound of the bytes that decoding n characters can produce. */
size_t base64_decoded_max(size_t n);

/* Decodes in[0..n) into out (room for base64_decoded_max(n)) and sets *outlen. Skips ASCII
 * whitespace (line-wrapped input); padding is optional but must be right when present; rejects
 * characters outside the alphabet and non-zero leftover bits. Returns 0, or -1 with err set. */
int base64_decode(const char *in, size_t n, uint8_t *out, size_t *outlen, base64_variant v,
                  char *err, size_t errlen);

#endif
