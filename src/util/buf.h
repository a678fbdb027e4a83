/* buf.h - a growable byte buffer with an upper bound.
 *
 * A zero-initialised buf_t (or buf_init) is an empty buffer. The buffer owns `data`; release it
 * with buf_free, or take it over with buf_steal. Every append checks the bound and for
 * allocation failure and returns -1 without changing the contents. */
#ifndef SWARM_UTIL_BUF_H
#define SWARM_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct {
    uint8_t *data; /* len bytes of content; NULL while cap == 0 */
    size_t len;    /* bytes in use */
    size_t cap;    /* bytes allocated */
    size_t limit;  /* most bytes len may reach; 0 means no bound but memory */
} buf_t;

/* Makes b empty with the given bound (0 = unbounded). Allocates nothing. */
void buf_init(buf_t *b, size_t limit);

/* Frees the storage and leaves b empty (the bound is kept). Safe on an empty buffer. */
void buf_free(buf_t *b);

/* Sets len to 0, keeping the storage for reuse. */
void buf_clear(buf_t *b);

/* Ensures room for `extra` more bytes past len. Returns 0, or -1 if over the bound or OOM. */
int buf_reserve(buf_t *b, size_t extra);

/* Appends n bytes from p (p may be NULL when n == 0). Returns 0 or -1 (bound, OOM). */
int buf_append(buf_t *b, const void *p, size_t n);

/* Appends one byte. Returns 0 or -1. */
int buf_push(buf_t *b, uint8_t byte);

/* Appends the NUL-terminated string s, without its NUL. Returns 0 or -1. */
int buf_puts(buf_t *b, const char *s);

/* Appends printf-formatted text (without its NUL). Returns 0 or -1. */
int buf_printf(buf_t *b, const char *fmt, ...) ERR_PRINTF(2, 3);

/* Makes sure a NUL follows the content (not counted in len) and returns data as a string;
 * returns NULL on OOM or if the bound leaves no room. The buffer still owns the memory. */
const char *buf_cstr(buf_t *b);

/* Hands the storage to the caller (who frees it with free()), sets *len if len is non-NULL, and
 * leaves b empty. Returns NULL for an empty buffer that never allocated. */
uint8_t *buf_steal(buf_t *b, size_t *len);

#endif
