/* json.h - internal to src/gateway: a small pull reader for the JSON that clients send, and the
 * writing helpers of the documents we answer with.
 *
 * Why not cJSON for reading: cJSON keeps numbers as doubles, and a job's range and value are
 * exact 64-bit integers. The reader walks the text once, without a tree: the caller asks for
 * what it expects next (an object's keys, a string, an integer, ...) and every call checks the
 * grammar, so malformed JSON is refused with the byte offset. Nothing is allocated but the
 * strings the caller asks for, into a bounded buf_t it owns. */
#ifndef SWARM_GW_JSON_H
#define SWARM_GW_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct {
    const char *start, *p, *end;
    bool fresh; /* just opened a container: no ',' before its first member */
} gw_jr;

/* Starts reading text[0..len). */
void gw_jr_init(gw_jr *r, const char *text, size_t len);

/* Expects '{'. */
int gw_jr_object(gw_jr *r, char *err, size_t errlen);

/* Reads the next key of an object (after gw_jr_object or a value) into key[0..cap) and the
 * ':' after it; sets *done instead at the closing '}'. A key longer than cap - 1 is an error. */
int gw_jr_key(gw_jr *r, char *key, size_t cap, bool *done, char *err, size_t errlen);

/* Expects '['. Then gw_jr_item before each element: sets *done at the closing ']'. */
int gw_jr_array(gw_jr *r, char *err, size_t errlen);
int gw_jr_item(gw_jr *r, bool *done, char *err, size_t errlen);

/* A string, unescaped into out (appended; valid UTF-8; out's bound limits its length) and
 * NUL-terminated (the NUL not counted in out->len). */
int gw_jr_string(gw_jr *r, buf_t *out, char *err, size_t errlen);

/* An integer written without fraction or exponent, exactly; what names the field in messages. */
int gw_jr_int64(gw_jr *r, const char *what, int64_t *v, char *err, size_t errlen);
int gw_jr_uint64(gw_jr *r, const char *what, uint64_t *v, char *err, size_t errlen);

/* true or false. */
int gw_jr_bool(gw_jr *r, const char *what, bool *v, char *err, size_t errlen);

/* True (and consumed) if the next value is null. */
bool gw_jr_null(gw_jr *r);

/* Expects nothing but whitespace up to the end. */
int gw_jr_end(gw_jr *r, char *err, size_t errlen);

/* Appends s as a JSON string (quoted, escaped). Returns 0 or -1 (the buffer's bound). */
int gw_jw_str(buf_t *b, const char *s);

#endif
