#include "base32.h"

#include "err.h"

static const char b32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

size_t base32_encoded_len(size_t n)
{
    return n / 5 * 8 + (n % 5 * 8 + 4) / 5;
}

size_t base32_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8 | in[i]) & 0xfff;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[o++] = b32_alphabet[(acc >> bits) & 31];
        }
    }
    if (bits)
        out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
    return o;
}

static int b32_value(char c)
{
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

int base32_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen, char *err,
                  size_t errlen)
{
    /* 1, 3 and 6 trailing characters cannot come from whole bytes. */
    size_t rest = n % 8;
    if (rest == 1 || rest == 3 || rest == 6)
        return err_set(err, errlen, "base32: impossible length %zu", n);
    size_t want = n / 8 * 5 + rest * 5 / 8;
    if (want > cap)
        return err_set(err, errlen, "base32: decoded value longer than %zu bytes", cap);
    size_t o = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b32_value(in[i]);
        if (v < 0)
            return err_set(err, errlen, "base32: invalid character 0x%02x at offset %zu",
                           (unsigned)(unsigned char)in[i], i);
        acc = (acc << 5 | (unsigned)v) & 0xfff;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (acc & ((1u << bits) - 1))
        return err_set(err, errlen, "base32: non-zero bits after the last byte");
    *outlen = o;
    return 0;
}
