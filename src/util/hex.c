#include "hex.h"

#include "err.h"

size_t hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * n] = '\0';
    return 2 * n;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hex_decode(const char *in, size_t n, uint8_t *out, size_t *outlen, char *err, size_t errlen)
{
    if (n % 2)
        return err_set(err, errlen, "hex: odd number of digits (%zu)", n);
    for (size_t i = 0; i < n; i += 2) {
        int hi = hex_value(in[i]), lo = hex_value(in[i + 1]);
        if (hi < 0 || lo < 0) {
            size_t at = hi < 0 ? i : i + 1;
            return err_set(err, errlen, "hex: invalid character 0x%02x at offset %zu",
                           (unsigned)(unsigned char)in[at], at);
        }
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    *outlen = n / 2;
    return 0;
}
