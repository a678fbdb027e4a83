/* json.c - the pull reader and the string writer of json.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

void gw_jr_init(gw_jr *r, const char *text, size_t len)
{
    r->start = r->p = text;
    r->end = text + len;
    r->fresh = false;
}

static void skip_ws(gw_jr *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static size_t offset(const gw_jr *r)
{
    return (size_t)(r->p - r->start);
}

/* The error for an unexpected byte (or the end) where `wanted` should be. */
static int unexpected(gw_jr *r, const char *wanted, char *err, size_t errlen)
{
    if (r->p >= r->end)
        return err_set(err, errlen, "malformed JSON: unexpected end of input, expected %s", wanted);
    unsigned char c = (unsigned char)*r->p;
    if (c >= 0x20 && c < 0x7f)
        return err_set(err, errlen, "malformed JSON at byte %zu: expected %s, got '%c'", offset(r),
                       wanted, c);
    return err_set(err, errlen, "malformed JSON at byte %zu: expected %s, got byte 0x%02x",
                   offset(r), wanted, c);
}

static int expect(gw_jr *r, char c, const char *wanted, char *err, size_t errlen)
{
    skip_ws(r);
    if (r->p >= r->end || *r->p != c)
        return unexpected(r, wanted, err, errlen);
    r->p++;
    return 0;
}

int gw_jr_object(gw_jr *r, char *err, size_t errlen)
{
    if (expect(r, '{', "an object '{'", err, errlen) < 0)
        return -1;
    r->fresh = true;
    return 0;
}

int gw_jr_array(gw_jr *r, char *err, size_t errlen)
{
    if (expect(r, '[', "an array '['", err, errlen) < 0)
        return -1;
    r->fresh = true;
    return 0;
}

/* The next member of the open container: at its close sets *done; else a ',' unless it is
 * the first member. */
static int member(gw_jr *r, char close, bool *done, char *err, size_t errlen)
{
    skip_ws(r);
    *done = false;
    if (r->p < r->end && *r->p == close) {
        r->p++;
        *done = true;
        r->fresh = false;
        return 0;
    }
    if (r->fresh) {
        r->fresh = false;
        return 0;
    }
    char wanted[] = "',' or 'X'";
    wanted[8] = close;
    return expect(r, ',', wanted, err, errlen);
}

int gw_jr_item(gw_jr *r, bool *done, char *err, size_t errlen)
{
    return member(r, ']', done, err, errlen);
}

int gw_jr_key(gw_jr *r, char *key, size_t cap, bool *done, char *err, size_t errlen)
{
    if (member(r, '}', done, err, errlen) < 0)
        return -1;
    if (*done)
        return 0;
    buf_t b;
    buf_init(&b, cap > 0 ? cap - 1 : 0);
    skip_ws(r);
    const char *at = r->p;
    if (gw_jr_string(r, &b, err, errlen) < 0) {
        buf_free(&b);
        if (at < r->end && *at != '"') {
            r->p = at;
            return unexpected(r, "a key string", err, errlen);
        }
        return -1;
    }
    memcpy(key, b.len ? (const char *)b.data : "", b.len);
    key[b.len] = '\0';
    buf_free(&b);
    return expect(r, ':', "':'", err, errlen);
}

/* Four hex digits of a \u escape. */
static int read_u4(gw_jr *r, unsigned *out)
{
    uint8_t b[2];
    size_t n;
    if (r->end - r->p < 4 || hex_decode(r->p, 4, b, &n, NULL, 0) < 0)
        return -1;
    r->p += 4;
    *out = (unsigned)b[0] << 8 | b[1];
    return 0;
}

static int put_utf8(buf_t *b, unsigned cp)
{
    uint8_t u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (uint8_t)(0xc0 | cp >> 6);
        u[1] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (uint8_t)(0xe0 | cp >> 12);
        u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        u[2] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (uint8_t)(0xf0 | cp >> 18);
        u[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
        u[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        u[3] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return buf_append(b, u, n);
}

/* Length of the valid UTF-8 sequence at p (at most end - p bytes), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    unsigned cp = c & (0x3fu >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

int gw_jr_string(gw_jr *r, buf_t *out, char *err, size_t errlen)
{
    if (expect(r, '"', "a string", err, errlen) < 0)
        return -1;
    for (;;) {
        /* copy the run of plain bytes at once: a module in base64 is megabytes of them */
        const char *run = r->p;
        while (r->p < r->end && *r->p != '"' && *r->p != '\\' && (unsigned char)*r->p >= 0x20 &&
               (unsigned char)*r->p < 0x80)
            r->p++;
        if (buf_append(out, run, (size_t)(r->p - run)) < 0)
            return err_set(err, errlen, "string at byte %zu is too long (at most %zu bytes)",
                           (size_t)(run - r->start), out->limit);
        if (r->p >= r->end)
            return err_set(err, errlen, "malformed JSON: unterminated string");
        unsigned char c = (unsigned char)*r->p;
        if (c == '"') {
            r->p++;
            if (!buf_cstr(out))
                return err_set(err, errlen, "string is too long (at most %zu bytes)", out->limit);
            return 0;
        }
        if (c < 0x20)
            return err_set(err, errlen, "malformed JSON at byte %zu: control character in a string",
                           offset(r));
        if (c >= 0x80) {
            size_t n = utf8_len((const unsigned char *)r->p, (const unsigned char *)r->end);
            if (n == 0)
                return err_set(err, errlen, "malformed JSON at byte %zu: invalid UTF-8", offset(r));
            if (buf_append(out, r->p, n) < 0)
                return err_set(err, errlen, "string is too long (at most %zu bytes)", out->limit);
            r->p += n;
            continue;
        }
        /* a backslash */
        size_t at = offset(r);
        r->p++;
        if (r->p >= r->end)
            return err_set(err, errlen, "malformed JSON: unterminated string");
        char e = *r->p++;
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *hit = e ? strchr(from, e) : NULL;
        int rc;
        if (hit) {
            rc = buf_push(out, (uint8_t)to[hit - from]);
        } else if (e == 'u') {
            unsigned cp, lo;
            if (read_u4(r, &cp) < 0)
                return err_set(err, errlen, "malformed JSON at byte %zu: bad \\u escape", at);
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
                    return err_set(err, errlen,
                                   "malformed JSON at byte %zu: lone surrogate in \\u escape", at);
                r->p += 2;
                if (read_u4(r, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
                    return err_set(err, errlen, "malformed JSON at byte %zu: bad surrogate pair",
                                   at);
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return err_set(err, errlen,
                               "malformed JSON at byte %zu: lone surrogate in \\u escape", at);
            }
            rc = put_utf8(out, cp);
        } else {
            return err_set(err, errlen, "malformed JSON at byte %zu: bad escape", at);
        }
        if (rc < 0)
            return err_set(err, errlen, "string is too long (at most %zu bytes)", out->limit);
    }
}

/* Reads a JSON number's text; *integral says whether it has no fraction or exponent. */
static int number_span(gw_jr *r, const char *what, const char **s, size_t *n, bool *integral,
                       char *err, size_t errlen)
{
    skip_ws(r);
    const char *p = r->p;
    if (p < r->end && *p == '-')
        p++;
    if (p >= r->end || *p < '0' || *p > '9') {
        char wanted[96];
        snprintf(wanted, sizeof wanted, "a number for \"%s\"", what);
        return unexpected(r, wanted, err, errlen);
    }
    if (*p == '0' && p + 1 < r->end && p[1] >= '0' && p[1] <= '9')
        return err_set(err, errlen, "malformed JSON at byte %zu: leading zero in a number",
                       offset(r));
    while (p < r->end && *p >= '0' && *p <= '9')
        p++;
    *integral = true;
    if (p < r->end && *p == '.') {
        *integral = false;
        p++;
        if (p >= r->end || *p < '0' || *p > '9')
            return err_set(err, errlen, "malformed JSON at byte %zu: bad number", offset(r));
        while (p < r->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < r->end && (*p == 'e' || *p == 'E')) {
        *integral = false;
        p++;
        if (p < r->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= r->end || *p < '0' || *p > '9')
            return err_set(err, errlen, "malformed JSON at byte %zu: bad number", offset(r));
        while (p < r->end && *p >= '0' && *p <= '9')
            p++;
    }
    *s = r->p;
    *n = (size_t)(p - r->p);
    r->p = p;
    return 0;
}

/* Parses the digits of an integral number span into a magnitude; false on overflow. */
static bool magnitude(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

int gw_jr_int64(gw_jr *r, const char *what, int64_t *v, char *err, size_t errlen)
{
    const char *s;
    size_t n;
    bool integral;
    if (number_span(r, what, &s, &n, &integral, err, errlen) < 0)
        return -1;
    if (!integral)
        return err_set(err, errlen, "\"%s\" must be an integer, got %.*s", what, (int)n, s);
    bool neg = s[0] == '-';
    uint64_t m;
    if (!magnitude(s + neg, n - neg, &m) || m > (uint64_t)INT64_MAX + neg)
        return err_set(err, errlen, "\"%s\" is out of the 64-bit range: %.*s", what, (int)n, s);
    *v = neg ? (int64_t)(0 - m) : (int64_t)m;
    return 0;
}

int gw_jr_uint64(gw_jr *r, const char *what, uint64_t *v, char *err, size_t errlen)
{
    const char *s;
    size_t n;
    bool integral;
    if (number_span(r, what, &s, &n, &integral, err, errlen) < 0)
        return -1;
    if (!integral || s[0] == '-')
        return err_set(err, errlen, "\"%s\" must be a non-negative integer, got %.*s", what, (int)n,
                       s);
    if (!magnitude(s, n, v))
        return err_set(err, errlen, "\"%s\" is out of the 64-bit range: %.*s", what, (int)n, s);
    return 0;
}

static bool literal(gw_jr *r, const char *word)
{
    size_t n = strlen(word);
    skip_ws(r);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return false;
    r->p += n;
    return true;
}

int gw_jr_bool(gw_jr *r, const char *what, bool *v, char *err, size_t errlen)
{
    if (literal(r, "true"))
        *v = true;
    else if (literal(r, "false"))
        *v = false;
    else {
        char wanted[96];
        snprintf(wanted, sizeof wanted, "true or false for \"%s\"", what);
        return unexpected(r, wanted, err, errlen);
    }
    return 0;
}

bool gw_jr_null(gw_jr *r)
{
    return literal(r, "null");
}

int gw_jr_end(gw_jr *r, char *err, size_t errlen)
{
    skip_ws(r);
    if (r->p != r->end)
        return err_set(err, errlen, "malformed JSON at byte %zu: data after the end", offset(r));
    return 0;
}

int gw_jw_str(buf_t *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (buf_push(b, '"') < 0)
        return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        if (*p == '"' || *p == '\\') {
            uint8_t e[2] = {'\\', *p};
            rc = buf_append(b, e, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            char e[7] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0};
            rc = buf_append(b, e, 6);
        } else if (*p >= 0x80) {
            /* text from a peer (a trap message) may not be UTF-8; the answer must be */
            size_t n = utf8_len(p, p + strnlen((const char *)p, 4));
            rc = n ? buf_append(b, p, n) : buf_push(b, '?');
            if (n)
                p += n - 1;
        } else {
            rc = buf_push(b, *p);
        }
        if (rc < 0)
            return -1;
    }
    return buf_push(b, '"');
}
