/*
 * reader.h — bounds-checked reading of a wasm binary (internal to src/wasm).
 *
 * A reader walks [p, end) and never reads past end. Every read returns false on
 * truncation or a malformed LEB128 (too long, or unused bits set in the last
 * byte); the caller turns that into a MALFORMED error at wasm_rd_offset().
 */
#ifndef SWARM_WASM_READER_H
#define SWARM_WASM_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct wasm_reader {
    const uint8_t *p;
    const uint8_t *end;
    const uint8_t *base; /* start of the whole binary, for offsets */
} wasm_reader;

static inline wasm_reader wasm_rd_init(const uint8_t *base, const uint8_t *p, const uint8_t *end)
{
    wasm_reader r = {p, end, base};
    return r;
}

/* Offset of the next byte in the binary. */
static inline size_t wasm_rd_offset(const wasm_reader *r)
{
    return (size_t)(r->p - r->base);
}

static inline bool wasm_rd_eof(const wasm_reader *r)
{
    return r->p >= r->end;
}

static inline bool wasm_rd_u8(wasm_reader *r, uint8_t *out)
{
    if (r->p >= r->end)
        return false;
    *out = *r->p++;
    return true;
}

/* Unsigned LEB128 of at most `bits` bits (32 or 64). */
static inline bool wasm_rd_uleb(wasm_reader *r, unsigned bits, uint64_t *out)
{
    uint64_t v = 0;
    unsigned shift = 0;
    unsigned maxbytes = (bits + 6) / 7;
    for (unsigned i = 0; i < maxbytes; i++) {
        if (r->p >= r->end)
            return false;
        uint8_t b = *r->p++;
        if (i == maxbytes - 1) {
            /* the last byte may only use the bits that remain */
            unsigned left = bits - shift;
            if ((b & 0x80) || (left < 7 && (b >> left) != 0))
                return false;
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
        shift += 7;
    }
    return false;
}

/* Signed LEB128 of at most `bits` bits (32, 33 or 64), sign-extended to 64. */
static inline bool wasm_rd_sleb(wasm_reader *r, unsigned bits, int64_t *out)
{
    uint64_t v = 0;
    unsigned shift = 0;
    unsigned maxbytes = (bits + 6) / 7;
    for (unsigned i = 0; i < maxbytes; i++) {
        if (r->p >= r->end)
            return false;
        uint8_t b = *r->p++;
        if (i == maxbytes - 1) {
            /* the unused bits of the last byte must all equal the sign bit */
            unsigned left = bits - shift; /* bits still meaningful, 1..7 */
            if (b & 0x80)
                return false;
            if (left < 7) {
                uint8_t upper = (uint8_t)(0x7f & ~((1u << left) - 1u));
                uint8_t sign = (uint8_t)((b >> (left - 1)) & 1u);
                if ((b & upper) != (sign ? upper : 0))
                    return false;
            }
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            if (shift < 64 && (b & 0x40))
                v |= ~(uint64_t)0 << shift;
            *out = (int64_t)v;
            return true;
        }
    }
    return false;
}

static inline bool wasm_rd_u32(wasm_reader *r, uint32_t *out)
{
    uint64_t v;
    if (!wasm_rd_uleb(r, 32, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

static inline bool wasm_rd_i32(wasm_reader *r, int32_t *out)
{
    int64_t v;
    if (!wasm_rd_sleb(r, 32, &v))
        return false;
    *out = (int32_t)v;
    return true;
}

static inline bool wasm_rd_i64(wasm_reader *r, int64_t *out)
{
    return wasm_rd_sleb(r, 64, out);
}

/* Fixed-width little-endian 4 or 8 bytes (float constants, raw bits). */
static inline bool wasm_rd_fixed32(wasm_reader *r, uint32_t *out)
{
    if (r->end - r->p < 4)
        return false;
    *out = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
           (uint32_t)r->p[3] << 24;
    r->p += 4;
    return true;
}

static inline bool wasm_rd_fixed64(wasm_reader *r, uint64_t *out)
{
    uint32_t lo, hi;
    if (!wasm_rd_fixed32(r, &lo) || !wasm_rd_fixed32(r, &hi))
        return false;
    *out = (uint64_t)hi << 32 | lo;
    return true;
}

/* Takes n bytes: *out points at them. */
static inline bool wasm_rd_bytes(wasm_reader *r, size_t n, const uint8_t **out)
{
    if ((size_t)(r->end - r->p) < n)
        return false;
    *out = r->p;
    r->p += n;
    return true;
}

#endif
