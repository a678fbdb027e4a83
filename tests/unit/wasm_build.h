/* wasm_build.h - a tiny builder of wasm binaries for the unit tests: bytes, LEB128, names,
 * the header and sections. Shared by test_wasm_decode.c and test_wasm_nan.c. */
#ifndef SWARM_TEST_WASM_BUILD_H
#define SWARM_TEST_WASM_BUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
    uint8_t b[4096];
    size_t n;
} buf;

static inline void put(buf *o, const void *p, size_t n)
{
    if (o->n + n > sizeof o->b)
        abort(); /* test bug */
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static inline void put8(buf *o, uint8_t v)
{
    put(o, &v, 1);
}

static inline void uleb(buf *o, uint64_t v)
{
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        put8(o, (uint8_t)(b | (v ? 0x80 : 0)));
    } while (v);
}

static inline void name(buf *o, const char *s)
{
    uleb(o, strlen(s));
    put(o, s, strlen(s));
}

static inline void header(buf *o)
{
    o->n = 0;
    put(o, "\0asm\1\0\0\0", 8);
}

static inline void section(buf *o, uint8_t id, const buf *content)
{
    put8(o, id);
    uleb(o, content->n);
    put(o, content->b, content->n);
}

/* Section with raw content bytes. */
static inline void rawsec(buf *o, uint8_t id, const char *bytes, size_t n)
{
    put8(o, id);
    uleb(o, n);
    put(o, bytes, n);
}

#define RAWSEC(o, id, lit) rawsec((o), (id), (lit), sizeof(lit) - 1)

#endif
