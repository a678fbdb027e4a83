#include "varint.h"

const char *varint_strerror(int rc)
{
    switch (rc) {
    case VARINT_OK:
        return "ok";
    case VARINT_ETRUNC:
        return "unexpected end";
    case VARINT_ETOOLONG:
        return "integer representation too long";
    case VARINT_ETOOLARGE:
        return "integer too large";
    case VARINT_ENOTMINIMAL:
        return "varint not minimally encoded";
    case VARINT_EFRAME:
        return "frame length over the maximum";
    default:
        return "unknown varint error";
    }
}

size_t leb_encode_u64(uint64_t v, uint8_t *out)
{
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        out[n++] = byte | (v ? 0x80 : 0);
    } while (v);
    return n;
}

size_t leb_encode_s64(int64_t v, uint8_t *out)
{
    size_t n = 0;
    for (;;) {
        uint8_t byte = (uint8_t)v & 0x7f;
        /* arithmetic shift written portably: the sign fills the high bits */
        v = v < 0 ? ~(~v >> 7) : v >> 7;
        int done = (v == 0 && !(byte & 0x40)) || (v == -1 && (byte & 0x40));
        out[n++] = byte | (done ? 0 : 0x80);
        if (done)
            return n;
    }
}

int leb_decode_u(const uint8_t *p, size_t len, unsigned bits, uint64_t *out, size_t *used)
{
    if (bits == 0 || bits > 64)
        return VARINT_ETOOLARGE;
    size_t max = (bits + 6) / 7;
    uint64_t v = 0;
    for (size_t i = 0;; i++) {
        if (i >= len)
            return VARINT_ETRUNC;
        uint8_t byte = p[i];
        if (i == max - 1) {
            if (byte & 0x80)
                return VARINT_ETOOLONG;
            unsigned left = bits - 7 * (unsigned)i; /* 1..7 value bits allowed here */
            if (left < 7 && (byte >> left) != 0)
                return VARINT_ETOOLARGE;
        }
        v |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            *out = v;
            *used = i + 1;
            return VARINT_OK;
        }
    }
}

int leb_decode_s(const uint8_t *p, size_t len, unsigned bits, int64_t *out, size_t *used)
{
    if (bits == 0 || bits > 64)
        return VARINT_ETOOLARGE;
    size_t max = (bits + 6) / 7;
    uint64_t v = 0;
    for (size_t i = 0;; i++) {
        if (i >= len)
            return VARINT_ETRUNC;
        uint8_t byte = p[i];
        if (i == max - 1) {
            if (byte & 0x80)
                return VARINT_ETOOLONG;
            unsigned left = bits - 7 * (unsigned)i; /* sign bit is bit left-1 */
            uint8_t mask = (uint8_t)((0x7f << (left - 1)) & 0x7f);
            uint8_t top = byte & mask;
            if (top != 0 && top != mask)
                return VARINT_ETOOLARGE;
        }
        v |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            unsigned shift = 7 * ((unsigned)i + 1);
            if (shift < 64 && (byte & 0x40))
                v |= ~(uint64_t)0 << shift;
            *out = (int64_t)v;
            *used = i + 1;
            return VARINT_OK;
        }
    }
}

int uvarint_decode(const uint8_t *p, size_t len, uint64_t *out, size_t *used)
{
    int rc = leb_decode_u(p, len, 63, out, used);
    if (rc != VARINT_OK)
        return rc;
    if (*used > 1 && p[*used - 1] == 0)
        return VARINT_ENOTMINIMAL;
    return VARINT_OK;
}

size_t uvarint_encode(uint64_t v, uint8_t *out)
{
    return leb_encode_u64(v, out);
}

int buf_put_uvarint(buf_t *b, uint64_t v)
{
    uint8_t tmp[VARINT_MAX_LEN];
    if (v >> 63)
        return -1;
    return buf_append(b, tmp, uvarint_encode(v, tmp));
}

int uvarint_frame(const uint8_t *p, size_t n, uint64_t max, size_t *hdr, size_t *body)
{
    uint64_t len;
    size_t used;
    int rc = uvarint_decode(p, n, &len, &used);
    if (rc == VARINT_ETRUNC)
        return 0;
    if (rc < 0)
        return rc;
    if (len > max)
        return VARINT_EFRAME;
    if (n - used < len)
        return 0;
    *hdr = used;
    *body = (size_t)len;
    return 1;
}
