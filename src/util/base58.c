#include "base58.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

static const char b58_alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/* Value of a base58btc character, or -1. */
static int b58_value(char c)
{
    const char *at = c ? strchr(b58_alphabet, c) : NULL;
    return at ? (int)(at - b58_alphabet) : -1;
}

size_t base58_encoded_max(size_t n)
{
    /* log(256) / log(58) < 1.38; leading zero bytes take one character each, which is less. */
    return n / 100 * 138 + (n % 100) * 138 / 100 + 1;
}

/* Converts in[zeros..n) (no leading zero byte) into base-58 digit values, least significant
 * first, in d[0..room). Returns the digit count, or (size_t)-1 if more than room are needed.
 * The work is bounded by (n - zeros) * room. */
static size_t b58_digits(const uint8_t *in, size_t zeros, size_t n, uint8_t *d, size_t room)
{
    size_t len = 0;
    for (size_t i = zeros; i < n; i++) {
        unsigned carry = in[i];
        for (size_t j = 0; j < len; j++) {
            carry += (unsigned)d[j] << 8;
            d[j] = (uint8_t)(carry % 58);
            carry /= 58;
        }
        while (carry) {
            if (len >= room)
                return (size_t)-1;
            d[len++] = (uint8_t)(carry % 58);
            carry /= 58;
        }
    }
    return len;
}

size_t base58_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t zeros = 0;
    while (zeros < n && in[zeros] == 0)
        zeros++;
    size_t max = base58_encoded_max(n);
    /* Work in out itself when it is surely large enough; otherwise in scratch space, so that a
     * too-small out stays untouched as the header promises. */
    uint8_t *d = cap > max ? (uint8_t *)out : malloc(max);
    if (!d)
        return 0;
    size_t len = b58_digits(in, zeros, n, d, max);
    size_t total = zeros + len;
    if (len == (size_t)-1 || total + 1 > cap) {
        if (d != (uint8_t *)out)
            free(d);
        return 0;
    }
    /* Digits are least significant first: reverse them behind the '1's. */
    for (size_t i = 0; i < len / 2; i++) {
        uint8_t t = d[i];
        d[i] = d[len - 1 - i];
        d[len - 1 - i] = t;
    }
    memmove(out + zeros, d, len);
    for (size_t i = 0; i < zeros; i++)
        out[i] = '1';
    for (size_t i = zeros; i < total; i++)
        out[i] = b58_alphabet[(uint8_t)out[i]];
    out[total] = '\0';
    if (d != (uint8_t *)out)
        free(d);
    return total;
}

int base58_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen, char *err,
                  size_t errlen)
{
    size_t zeros = 0;
    while (zeros < n && in[zeros] == '1')
        zeros++;
    if (zeros > cap)
        return err_set(err, errlen, "base58: decoded value longer than %zu bytes", cap);
    /* Bytes of the number, least significant first, in out[0..len); at most cap - zeros. */
    size_t room = cap - zeros, len = 0;
    for (size_t i = zeros; i < n; i++) {
        int v = b58_value(in[i]);
        if (v < 0)
            return err_set(err, errlen, "base58: invalid character 0x%02x at offset %zu",
                           (unsigned)(unsigned char)in[i], i);
        unsigned carry = (unsigned)v;
        for (size_t j = 0; j < len; j++) {
            carry += (unsigned)out[j] * 58;
            out[j] = (uint8_t)carry;
            carry >>= 8;
        }
        while (carry) {
            if (len >= room)
                return err_set(err, errlen, "base58: decoded value longer than %zu bytes", cap);
            out[len++] = (uint8_t)carry;
            carry >>= 8;
        }
    }
    for (size_t i = 0; i < len / 2; i++) {
        uint8_t t = out[i];
        out[i] = out[len - 1 - i];
        out[len - 1 - i] = t;
    }
    if (zeros) {
        memmove(out + zeros, out, len);
        memset(out, 0, zeros);
    }
    *outlen = zeros + len;
    return 0;
}
