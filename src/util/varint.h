/* varint.h - LEB128 (WebAssembly) and unsigned-varint (multiformats, libp2p) codecs.
 *
 * Decoders never read past p[len) and never allocate. They return 0 on success and store the
 * value and the number of bytes consumed, or a negative VARINT_E* code (see varint_strerror). */
#ifndef SWARM_UTIL_VARINT_H
#define SWARM_UTIL_VARINT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define VARINT_MAX_LEN  10 /* bytes a 64-bit LEB128 can take */
#define UVARINT_MAX_LEN 9  /* multiformats limit: 63 bits in at most 9 bytes */

enum {
    VARINT_OK = 0,
    VARINT_ETRUNC = -1,      /* input ended inside the number */
    VARINT_ETOOLONG = -2,    /* more bytes than the width allows */
    VARINT_ETOOLARGE = -3,   /* unused high bits set (value does not fit the width) */
    VARINT_ENOTMINIMAL = -4, /* uvarint with redundant trailing zero groups */
    VARINT_EFRAME = -5,      /* uvarint_frame: the announced length is over the maximum */
};

/* Returns a static message for a VARINT_* code, worded as the wasm spec words it. */
const char *varint_strerror(int rc);

/* Writes v as unsigned LEB128 into out (room for VARINT_MAX_LEN); returns bytes written. */
size_t leb_encode_u64(uint64_t v, uint8_t *out);

/* Writes v as signed LEB128 into out (room for VARINT_MAX_LEN); returns bytes written. */
size_t leb_encode_s64(int64_t v, uint8_t *out);

/* Decodes an unsigned LEB128 of `bits` width (1..64), as wasm's u32/u64: at most
 * ceil(bits/7) bytes, unused bits of the last byte zero. Non-minimal encodings are accepted. */
int leb_decode_u(const uint8_t *p, size_t len, unsigned bits, uint64_t *out, size_t *used);

/* Decodes a signed LEB128 of `bits` width (1..64), as wasm's s32/s33/s64: at most
 * ceil(bits/7) bytes, unused bits of the last byte equal to the sign bit. */
int leb_decode_s(const uint8_t *p, size_t len, unsigned bits, int64_t *out, size_t *used);

/* Decodes a multiformats unsigned varint: at most 9 bytes, value below 2^63, minimal form. */
int uvarint_decode(const uint8_t *p, size_t len, uint64_t *out, size_t *used);

/* Writes v (must be below 2^63) as a multiformats uvarint; returns bytes written (1..9). */
size_t uvarint_encode(uint64_t v, uint8_t *out);

/* A uvarint-length-prefixed frame (libp2p's identify, pubsub, kad...) at p[0..n): returns 1 and
 * sets *hdr (bytes of the prefix) and *body (the announced length) when the whole frame is
 * there, 0 when more bytes are needed, VARINT_EFRAME when the length is over max, or another
 * negative VARINT_* code for a malformed prefix. Reads only the prefix. */
int uvarint_frame(const uint8_t *p, size_t n, uint64_t max, size_t *hdr, size_t *body);

/* Appends v as a uvarint to b. Returns 0, or -1 if the buffer refuses (bound, OOM) or
 * v >= 2^63. */
int buf_put_uvarint(buf_t *b, uint64_t v);

#endif
