/* node_json.h - JSON lines for `swarm node`: one event object per line, built field by field.
 *
 * Strings may be any bytes a peer sent (agent versions, protocol ids, error messages): quotes,
 * backslashes and control characters are escaped and invalid UTF-8 becomes U+FFFD, so every
 * line is valid JSON. Typical use:
 *
 *     nj_line j;
 *     nj_begin(&j, "ping");
 *     nj_str(&j, "peer", id);
 *     nj_num(&j, "rtt_ms", rtt);
 *     nj_end(&j, stdout);
 *
 * A new event needs nothing here: it is a name and a few fields. Only one level of nesting
 * exists (arrays of strings), because no event needs more. */
#ifndef SWARM_NODE_JSON_H
#define SWARM_NODE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"

#define NJ_LINE_MAX (1u << 20) /* bytes of one line; a bigger event is cut short (see nj_end) */

typedef struct {
    buf_t b;
    const char *event; /* borrowed: must live until nj_end */
    bool comma;        /* a value precedes: the next one needs a ',' */
    bool in_array;
    bool failed; /* an append hit NJ_LINE_MAX or ran out of memory */
} nj_line;

/* Starts the object {"event":"<event>" in j (which need not be initialised). */
void nj_begin(nj_line *j, const char *event);

/* Adds "key":"s". s may be NULL (adds null) and any bytes (see above). */
void nj_str(nj_line *j, const char *key, const char *s);

/* Adds "key":"s[0..n)"; s may hold NUL bytes (escaped as \u0000). */
void nj_strn(nj_line *j, const char *key, const char *s, size_t n);

/* Adds "key":v with up to 3 decimals; NaN and infinities become null. */
void nj_num(nj_line *j, const char *key, double v);

/* Adds "key":v. */
void nj_int(nj_line *j, const char *key, int64_t v);

/* Adds "key":true or false. */
void nj_bool(nj_line *j, const char *key, bool v);

/* Opens "key":[ ; strings go in with nj_item until nj_array_end. */
void nj_array_begin(nj_line *j, const char *key);
void nj_item(nj_line *j, const char *s);
void nj_array_end(nj_line *j);

/* Closes the object, writes it and a newline to out and flushes. If the line grew too big or
 * memory ran out, writes {"event":"<event>","truncated":true} instead. Frees j's memory either
 * way. Returns 0, or -1 if nothing could be written (out refused it, e.g. the reader went away,
 * or memory ran out). */
int nj_end(nj_line *j, FILE *out);

/* True if s[0..n) is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
bool nj_utf8_valid(const char *s, size_t n);

/* Adds "key":"<text>","encoding":"utf-8" when p[0..n) is valid UTF-8, else
 * "key":"<base64>","encoding":"base64" (standard alphabet, padded). */
void nj_data(nj_line *j, const char *key, const uint8_t *p, size_t n);

/* Appends s[0..n) to b as a JSON string with its quotes (escaping, U+FFFD for invalid UTF-8).
 * Returns 0, or -1 if b refuses (its bound or out of memory). */
int nj_quote(buf_t *b, const char *s, size_t n);

#endif
