#include "check.h"
#include "util.h"

static int dec_u(const char *bytes, size_t n, unsigned bits, uint64_t *v, size_t *used)
{
    return leb_decode_u((const uint8_t *)bytes, n, bits, v, used);
}

static int dec_s(const char *bytes, size_t n, unsigned bits, int64_t *v, size_t *used)
{
    return leb_decode_s((const uint8_t *)bytes, n, bits, v, used);
}

static void roundtrips(void)
{
    uint8_t tmp[VARINT_MAX_LEN];
    uint64_t x = 0x9e3779b97f4a7c15u, u;
    int64_t s;
    size_t used;
    int ok_u = 1, ok_s = 1;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t v = x >> (i % 64); /* all magnitudes */
        size_t n = leb_encode_u64(v, tmp);
        ok_u &= leb_decode_u(tmp, n, 64, &u, &used) == 0 && u == v && used == n;
        int64_t sv = (int64_t)v * ((i & 1) ? -1 : 1);
        n = leb_encode_s64(sv, tmp);
        ok_s &= leb_decode_s(tmp, n, 64, &s, &used) == 0 && s == sv && used == n;
    }
    CHECK(ok_u);
    CHECK(ok_s);
    CHECK_EQ(leb_encode_u64(0, tmp), 1);
    CHECK_EQ(leb_encode_u64(UINT64_MAX, tmp), 10);
    CHECK_EQ(leb_encode_s64(-1, tmp), 1);
    CHECK_EQ(tmp[0], 0x7f);
    CHECK_EQ(leb_encode_s64(64, tmp), 2); /* 0x40 needs a second byte for its sign */
    CHECK_EQ(leb_encode_s64(INT64_MIN, tmp), 10);
}

static void wasm_widths(void)
{
    uint64_t u;
    int64_t s;
    size_t used;

    CHECK_EQ(dec_u("\xff\xff\xff\xff\x0f", 5, 32, &u, &used), 0);
    CHECK_EQ(u, 0xffffffffu);
    CHECK_EQ(used, 5);
    CHECK_EQ(dec_u("\x80\x00", 2, 32, &u, &used), 0); /* non-minimal is fine in wasm */
    CHECK_EQ(u, 0);
    CHECK_EQ(used, 2);
    CHECK_EQ(dec_u("\xe5\x8e\x26\xaa", 4, 32, &u, &used), 0); /* stops at the first end byte */
    CHECK_EQ(u, 624485);
    CHECK_EQ(used, 3);

    /* bad input */
    CHECK_EQ(dec_u("", 0, 32, &u, &used), VARINT_ETRUNC);
    CHECK_EQ(dec_u("\x80", 1, 32, &u, &used), VARINT_ETRUNC);
    CHECK_EQ(dec_u("\xff\xff\xff\xff", 4, 32, &u, &used), VARINT_ETRUNC);
    CHECK_EQ(dec_u("\xff\xff\xff\xff\x1f", 5, 32, &u, &used), VARINT_ETOOLARGE);
    CHECK_EQ(dec_u("\xff\xff\xff\xff\x8f\x00", 6, 32, &u, &used), VARINT_ETOOLONG);
    CHECK_EQ(dec_u("\x80\x80\x80\x80\x80\x00", 6, 32, &u, &used), VARINT_ETOOLONG);
    CHECK_EQ(dec_u("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10, 64, &u, &used), 0);
    CHECK(u == UINT64_MAX);
    CHECK_EQ(dec_u("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10, 64, &u, &used),
             VARINT_ETOOLARGE);
    CHECK_EQ(dec_u("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 11, 64, &u, &used),
             VARINT_ETOOLONG);
    CHECK_EQ(dec_u("\x01", 1, 0, &u, &used), VARINT_ETOOLARGE);  /* width 0 is refused */
    CHECK_EQ(dec_u("\x01", 1, 65, &u, &used), VARINT_ETOOLARGE); /* width 65 is refused */

    /* signed */
    CHECK_EQ(dec_s("\x7f", 1, 32, &s, &used), 0);
    CHECK_EQ(s, -1);
    CHECK_EQ(dec_s("\xff\xff\xff\xff\x07", 5, 32, &s, &used), 0);
    CHECK_EQ(s, INT32_MAX);
    CHECK_EQ(dec_s("\x80\x80\x80\x80\x78", 5, 32, &s, &used), 0);
    CHECK_EQ(s, INT32_MIN);
    CHECK_EQ(dec_s("\xff\xff\xff\xff\x7f", 5, 32, &s, &used), 0);
    CHECK_EQ(s, -1);
    CHECK_EQ(dec_s("\xff\xff\xff\xff\x0f", 5, 32, &s, &used), VARINT_ETOOLARGE);
    CHECK_EQ(dec_s("\x80\x80\x80\x80\x70", 5, 32, &s, &used), VARINT_ETOOLARGE);
    CHECK_EQ(dec_s("\xff\xff\xff\xff\x0f", 5, 33, &s, &used), 0); /* block type index */
    CHECK_EQ(s, 0xffffffffLL);
    CHECK_EQ(dec_s("\xff\xff\xff\xff\x1f", 5, 33, &s, &used), VARINT_ETOOLARGE);
    CHECK_EQ(dec_s("\xff\xff\xff\xff\xff\x7f", 6, 32, &s, &used), VARINT_ETOOLONG);
    CHECK_EQ(dec_s("\xc0", 1, 32, &s, &used), VARINT_ETRUNC);
    CHECK_EQ(dec_s("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x7f", 10, 64, &s, &used), 0);
    CHECK(s == INT64_MIN);
    CHECK_EQ(dec_s("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00", 10, 64, &s, &used), 0);
    CHECK(s == INT64_MAX);
    CHECK_EQ(dec_s("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10, 64, &s, &used),
             VARINT_ETOOLARGE);
    CHECK_EQ(dec_s("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x40", 10, 64, &s, &used),
             VARINT_ETOOLARGE);

    CHECK_STR_EQ(varint_strerror(VARINT_ETOOLONG), "integer representation too long");
    CHECK_STR_EQ(varint_strerror(VARINT_ETOOLARGE), "integer too large");
    CHECK_STR_EQ(varint_strerror(VARINT_ETRUNC), "unexpected end");
    CHECK_STR_EQ(varint_strerror(-99), "unknown varint error");
}

static void multiformats(void)
{
    uint8_t tmp[VARINT_MAX_LEN];
    uint64_t u;
    size_t used;

    CHECK_EQ(uvarint_encode(300, tmp), 2);
    CHECK_MEM_EQ(tmp, "\xac\x02", 2);
    CHECK_EQ(uvarint_decode(tmp, 2, &u, &used), 0);
    CHECK_EQ(u, 300);
    CHECK_EQ(uvarint_decode((const uint8_t *)"\x00", 1, &u, &used), 0);
    CHECK_EQ(u, 0);

    const uint8_t max63[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    CHECK_EQ(uvarint_decode(max63, 9, &u, &used), 0);
    CHECK(u == INT64_MAX);

    /* bad input */
    CHECK_EQ(uvarint_decode((const uint8_t *)"\x81\x00", 2, &u, &used), VARINT_ENOTMINIMAL);
    CHECK_EQ(uvarint_decode((const uint8_t *)"\x80\x80", 2, &u, &used), VARINT_ETRUNC);
    const uint8_t ten[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    CHECK_EQ(uvarint_decode(ten, 10, &u, &used), VARINT_ETOOLONG);

    buf_t b;
    buf_init(&b, 0);
    CHECK_EQ(buf_put_uvarint(&b, 1), 0);
    CHECK_EQ(buf_put_uvarint(&b, 128), 0);
    CHECK_EQ(b.len, 3);
    CHECK_MEM_EQ(b.data, "\x01\x80\x01", 3);
    CHECK_EQ(buf_put_uvarint(&b, (uint64_t)1 << 63), -1);
    CHECK_EQ(b.len, 3);
    buf_free(&b);
}

static void frames(void)
{
    /* 300-byte body: prefix ac 02 */
    uint8_t f[2 + 300] = {0xac, 0x02};
    size_t hdr = 99, body = 99;
    CHECK_EQ(uvarint_frame(f, 0, 1000, &hdr, &body), 0);   /* nothing yet */
    CHECK_EQ(uvarint_frame(f, 1, 1000, &hdr, &body), 0);   /* prefix cut */
    CHECK_EQ(uvarint_frame(f, 301, 1000, &hdr, &body), 0); /* body one short */
    CHECK_EQ(hdr, 99);
    CHECK_EQ(uvarint_frame(f, sizeof f, 1000, &hdr, &body), 1);
    CHECK_EQ(hdr, 2);
    CHECK_EQ(body, 300);
    CHECK_EQ(uvarint_frame(f, 2, 299, &hdr, &body), VARINT_EFRAME); /* refused before the body */
    CHECK_EQ(uvarint_frame(f, sizeof f, 300, &hdr, &body), 1);
    const uint8_t bad[] = {0x80, 0x00};
    CHECK_EQ(uvarint_frame(bad, sizeof bad, 1000, &hdr, &body), VARINT_ENOTMINIMAL);
    const uint8_t empty[] = {0x00};
    CHECK_EQ(uvarint_frame(empty, 1, 0, &hdr, &body), 1);
    CHECK_EQ(body, 0);
    CHECK_STR_EQ(varint_strerror(VARINT_EFRAME), "frame length over the maximum");
}

int main(void)
{
    frames();
    roundtrips();
    wasm_widths();
    multiformats();
    return CHECK_DONE();
}
