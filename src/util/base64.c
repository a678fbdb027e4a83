#include "base64.h"

#include "err.h"

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t base64_encoded_len(size_t n, base64_variant v)
{
    if (v == BASE64_STD)
        return (n + 2) / 3 * 4;
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

size_t base64_encode(const uint8_t *in, size_t n, char *out, base64_variant v)
{
    const char *abc = v == BASE64_URL ? b64_url : b64_std;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = abc[w >> 18];
        out[o++] = abc[(w >> 12) & 63];
        out[o++] = abc[(w >> 6) & 63];
        out[o++] = abc[w & 63];
    }
    size_t rest = n - i;
    if (rest) {
        uint32_t w = (uint32_t)in[i] << 16 | (rest == 2 ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = abc[w >> 18];
        out[o++] = abc[(w >> 12) & 63];
        if (rest == 2)
            out[o++] = abc[(w >> 6) & 63];
        if (v == BASE64_STD) {
            if (rest == 1)
                out[o++] = '=';
            out[o++] = '=';
        }
    }
    out[o] = '\0';
    return o;
}

size_t base64_decoded_max(size_t n)
{
    return n / 4 * 3 + 3;
}

static int b64_value(char c, base64_variant v)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (v == BASE64_URL ? '-' : '+'))
        return 62;
    if (c == (v == BASE64_URL ? '_' : '/'))
        return 63;
    return -1;
}

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f';
}

int base64_decode(const char *in, size_t n, uint8_t *out, size_t *outlen, base64_variant v,
                  char *err, size_t errlen)
{
    uint32_t acc = 0;
    size_t groups = 0; /* 6-bit groups read so far */
    size_t o = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (is_space(c))
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad)
            return err_set(err, errlen, "base64: data after padding at offset %zu", i);
        int d = b64_value(c, v);
        if (d < 0)
            return err_set(err, errlen, "base64: invalid character 0x%02x at offset %zu",
                           (unsigned)(unsigned char)c, i);
        acc = acc << 6 | (uint32_t)d;
        if (++groups % 4 == 0) {
            out[o++] = (uint8_t)(acc >> 16);
            out[o++] = (uint8_t)(acc >> 8);
            out[o++] = (uint8_t)acc;
            acc = 0;
        }
    }
    size_t tail = groups % 4;
    if (tail == 1)
        return err_set(err, errlen, "base64: truncated input (%zu characters)", groups);
    if (pad && (tail == 0 || tail + pad != 4))
        return err_set(err, errlen, "base64: bad padding");
    if (tail == 2) {
        if (acc & 0xf)
            return err_set(err, errlen, "base64: non-zero trailing bits");
        out[o++] = (uint8_t)(acc >> 4);
    } else if (tail == 3) {
        if (acc & 0x3)
            return err_set(err, errlen, "base64: non-zero trailing bits");
        out[o++] = (uint8_t)(acc >> 10);
        out[o++] = (uint8_t)(acc >> 2);
    }
    *outlen = o;
    return 0;
}
