#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(buf_t *b, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit;
}

void buf_free(buf_t *b)
{
    free(b->data);
    buf_init(b, b->limit);
}

void buf_clear(buf_t *b)
{
    b->len = 0;
}

/* Room for `need` bytes in total; the bound applies to content, +1 allows buf_cstr's NUL. */
static int buf_grow_to(buf_t *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    size_t hard = b->limit && b->limit < SIZE_MAX ? b->limit + 1 : 0;
    if (hard && cap > hard)
        cap = need > hard ? need : hard;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_reserve(buf_t *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        return -1;
    size_t need = b->len + extra;
    if (b->limit && need > b->limit)
        return -1;
    return buf_grow_to(b, need);
}

int buf_append(buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_reserve(b, n) != 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int buf_push(buf_t *b, uint8_t byte)
{
    return buf_append(b, &byte, 1);
}

int buf_puts(buf_t *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) != 0)
        return -1;
    if (buf_grow_to(b, b->len + (size_t)n + 1) != 0) /* vsnprintf writes a NUL too */
        return -1;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

const char *buf_cstr(buf_t *b)
{
    if (b->len == SIZE_MAX || buf_grow_to(b, b->len + 1) != 0)
        return NULL;
    b->data[b->len] = '\0';
    return (const char *)b->data;
}

uint8_t *buf_steal(buf_t *b, size_t *len)
{
    uint8_t *p = b->data;
    if (len)
        *len = b->len;
    buf_init(b, b->limit);
    return p;
}
