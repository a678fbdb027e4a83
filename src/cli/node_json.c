#include "node_json.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

/* Length of the valid UTF-8 sequence at s[0..n) (1..4), or 0 if it is invalid; then *skip says
 * how many bytes form its longest valid-looking start (at least 1), all of which one U+FFFD
 * replaces (Unicode's "maximal subpart" practice). Rejects overlong forms, surrogates and code
 * points above U+10FFFF. */
static size_t utf8_len(const uint8_t *s, size_t n, size_t *skip)
{
    uint8_t c = s[0], lo = 0x80, hi = 0xbf;
    size_t need;
    *skip = 1;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0)
            lo = 0xa0; /* below is overlong */
        else if (c == 0xed)
            hi = 0x9f; /* above is a surrogate */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f; /* above is past U+10FFFF */
    } else {
        return 0;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            *skip = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xbf;
    }
    return need + 1;
}

bool nj_utf8_valid(const char *str, size_t n)
{
    const uint8_t *s = (const uint8_t *)str;
    size_t skip;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_len(s + i, n - i, &skip);
        if (len == 0)
            return false;
        i += len;
    }
    return true;
}

int nj_quote(buf_t *b, const char *str, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    const uint8_t *s = (const uint8_t *)str;
    if (buf_push(b, '"') != 0)
        return -1;
    size_t i = 0;
    while (i < n) {
        size_t skip, len = utf8_len(s + i, n - i, &skip);
        int rc;
        if (len == 0) {
            rc = buf_append(b, "\xef\xbf\xbd", 3);
            i += skip;
        } else if (len > 1) {
            rc = buf_append(b, s + i, len);
            i += len;
        } else {
            uint8_t c = s[i++];
            char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
            size_t elen = 2;
            switch (c) {
            case '"':
            case '\\':
                esc[1] = (char)c;
                break;
            case '\b':
                esc[1] = 'b';
                break;
            case '\f':
                esc[1] = 'f';
                break;
            case '\n':
                esc[1] = 'n';
                break;
            case '\r':
                esc[1] = 'r';
                break;
            case '\t':
                esc[1] = 't';
                break;
            default:
                if (c >= 0x20 && c != 0x7f) {
                    esc[0] = (char)c;
                    elen = 1;
                } else { /* other controls, and DEL so no terminal escape survives */
                    memcpy(esc + 1, "u00", 3);
                    esc[4] = hexd[c >> 4];
                    esc[5] = hexd[c & 15];
                    elen = 6;
                }
            }
            rc = buf_append(b, esc, elen);
        }
        if (rc != 0)
            return -1;
    }
    return buf_push(b, '"');
}

/* Appends the separator and "key": (no key inside an array). */
static void put_key(nj_line *j, const char *key)
{
    if (j->comma && buf_push(&j->b, ',') != 0)
        j->failed = true;
    j->comma = true;
    if (!j->in_array && key && (nj_quote(&j->b, key, strlen(key)) != 0 || buf_push(&j->b, ':')))
        j->failed = true;
}

static void put_raw(nj_line *j, const char *key, const char *text)
{
    put_key(j, key);
    if (buf_puts(&j->b, text) != 0)
        j->failed = true;
}

void nj_begin(nj_line *j, const char *event)
{
    memset(j, 0, sizeof *j);
    buf_init(&j->b, NJ_LINE_MAX);
    j->event = event;
    if (buf_push(&j->b, '{') != 0)
        j->failed = true;
    nj_str(j, "event", event);
}

void nj_strn(nj_line *j, const char *key, const char *s, size_t n)
{
    put_key(j, key);
    if (nj_quote(&j->b, s, n) != 0)
        j->failed = true;
}

void nj_str(nj_line *j, const char *key, const char *s)
{
    if (s)
        nj_strn(j, key, s, strlen(s));
    else
        put_raw(j, key, "null");
}

void nj_num(nj_line *j, const char *key, double v)
{
    char text[64];
    if (!isfinite(v))
        snprintf(text, sizeof text, "null");
    else if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v)
        snprintf(text, sizeof text, "%.0f", v);
    else
        snprintf(text, sizeof text, "%.3f", v);
    put_raw(j, key, text);
}

void nj_int(nj_line *j, const char *key, int64_t v)
{
    char text[32];
    snprintf(text, sizeof text, "%" PRId64, v);
    put_raw(j, key, text);
}

void nj_bool(nj_line *j, const char *key, bool v)
{
    put_raw(j, key, v ? "true" : "false");
}

void nj_array_begin(nj_line *j, const char *key)
{
    put_raw(j, key, "[");
    j->in_array = true;
    j->comma = false;
}

void nj_item(nj_line *j, const char *s)
{
    nj_str(j, NULL, s);
}

void nj_array_end(nj_line *j)
{
    if (buf_push(&j->b, ']') != 0)
        j->failed = true;
    j->in_array = false;
    j->comma = true;
}

int nj_end(nj_line *j, FILE *out)
{
    if (!j->failed && (buf_push(&j->b, '}') != 0 || buf_push(&j->b, '\n') != 0))
        j->failed = true;
    if (j->failed) {
        /* The event name is ours (a literal), so this short line always fits. */
        buf_free(&j->b);
        buf_init(&j->b, 0);
        j->failed = buf_puts(&j->b, "{\"event\":") != 0 ||
                    nj_quote(&j->b, j->event, strlen(j->event)) != 0 ||
                    buf_puts(&j->b, ",\"truncated\":true}\n") != 0;
    }
    int rc = 0;
    /* ferror too: a line-buffered stream may flush (and fail) inside fwrite and still report
     * the bytes as taken, leaving fflush nothing to fail on. */
    if (j->failed || fwrite(j->b.data, 1, j->b.len, out) != j->b.len || fflush(out) != 0 ||
        ferror(out))
        rc = -1;
    buf_free(&j->b);
    return rc;
}

void nj_data(nj_line *j, const char *key, const uint8_t *p, size_t n)
{
    if (nj_utf8_valid((const char *)p, n)) {
        nj_strn(j, key, (const char *)p, n);
        nj_str(j, "encoding", "utf-8");
        return;
    }
    size_t len = base64_encoded_len(n, BASE64_STD);
    char *text = malloc(len + 1);
    if (!text) {
        j->failed = true;
        return;
    }
    base64_encode(p, n, text, BASE64_STD);
    nj_strn(j, key, text, len);
    nj_str(j, "encoding", "base64");
    free(text);
}
