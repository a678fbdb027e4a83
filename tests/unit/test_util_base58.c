/* base58btc and base32: known vectors, round trips, bounds and refused input. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util.h"

static char err[256];

static void test_base58_vectors(void)
{
    static const struct {
        const char *hex, *b58;
    } v[] = {
        {"", ""},
        {"00", "1"},
        {"000000", "111"},
        {"48656c6c6f20576f726c6421", "2NEpo7TZRRrLZSi2U"}, /* "Hello World!" */
        {"0000287fb4cd", "11233QC4"},
        {"ffffffffffffffff", "jpXCZedGfVQ"},
        {"3a", "21"},
        {"39", "z"},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        uint8_t bin[64], dec[64];
        size_t n = 0, m = 0;
        CHECK_EQ(hex_decode(v[i].hex, strlen(v[i].hex), bin, &n, err, sizeof err), 0);
        char out[128];
        memset(out, 'X', sizeof out);
        CHECK_EQ(base58_encode(bin, n, out, sizeof out), strlen(v[i].b58));
        CHECK_STR_EQ(out, v[i].b58);
        CHECK(strlen(v[i].b58) <= base58_encoded_max(n));
        CHECK_EQ(base58_decode(v[i].b58, strlen(v[i].b58), dec, sizeof dec, &m, err, sizeof err),
                 0);
        CHECK_EQ(m, n);
        CHECK_MEM_EQ(dec, bin, n);
    }
    const char fox[] = "The quick brown fox jumps over the lazy dog.";
    char out[128];
    CHECK_EQ(base58_encode((const uint8_t *)fox, strlen(fox), out, sizeof out), 60);
    CHECK_STR_EQ(out, "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z");
}

static void test_base58_bounds(void)
{
    const uint8_t in[] = {0, 0, 0x28, 0x7f, 0xb4, 0xcd}; /* "11233QC4": 8 characters */
    char out[16];
    memset(out, 'X', sizeof out);
    CHECK_EQ(base58_encode(in, sizeof in, out, 8), 0); /* no room for the NUL */
    CHECK_EQ(out[0], 'X');                             /* untouched */
    CHECK_EQ(out[7], 'X');
    CHECK_EQ(base58_encode(in, sizeof in, out, 2), 0); /* even the '1's do not fit */
    CHECK_EQ(out[0], 'X');
    CHECK_EQ(base58_encode(in, sizeof in, out, 9), 8);
    CHECK_STR_EQ(out, "11233QC4");
    CHECK_EQ(base58_encode(in, 0, out, 0), 0);

    uint8_t dec[8];
    size_t m = 99;
    CHECK_EQ(base58_decode("11233QC4", 8, dec, 6, &m, err, sizeof err), 0);
    CHECK_EQ(m, 6);
    CHECK_EQ(base58_decode("11233QC4", 8, dec, 5, &m, err, sizeof err), -1);
    CHECK(strstr(err, "longer than 5") != NULL);
    CHECK_EQ(base58_decode("111", 3, dec, 2, &m, err, sizeof err), -1);
    CHECK_EQ(base58_decode("", 0, dec, 0, &m, err, sizeof err), 0);
    CHECK_EQ(m, 0);
    /* A huge input with a small cap fails fast instead of growing. */
    size_t big = 1 << 20;
    char *z = malloc(big);
    CHECK(z != NULL);
    if (z) {
        memset(z, 'z', big);
        CHECK_EQ(base58_decode(z, big, dec, sizeof dec, &m, err, sizeof err), -1);
        free(z);
    }
}

static void test_base58_bad_chars(void)
{
    const char *bad[] = {"0", "O", "I", "l", "abc+", " 1", "1 ", "\xff", "a\nb"};
    uint8_t dec[32];
    size_t m;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        CHECK_EQ(base58_decode(bad[i], strlen(bad[i]), dec, sizeof dec, &m, err, sizeof err), -1);
        CHECK(strstr(err, "invalid character") != NULL);
    }
    /* An embedded NUL is not a terminator here. */
    CHECK_EQ(base58_decode("1\0"
                           "2",
                           3, dec, sizeof dec, &m, err, sizeof err),
             -1);
}

static void test_base58_random(void)
{
    srand(7);
    for (int round = 0; round < 2000; round++) {
        uint8_t in[80], dec[80];
        size_t n = (size_t)(rand() % 80);
        size_t zeros = (size_t)(rand() % 4);
        for (size_t i = 0; i < n; i++)
            in[i] = i < zeros ? 0 : (uint8_t)rand();
        char out[128];
        size_t len = base58_encode(in, n, out, sizeof out);
        CHECK(len <= base58_encoded_max(n));
        CHECK_EQ(strlen(out), len);
        size_t m = 0;
        CHECK_EQ(base58_decode(out, len, dec, n, &m, err, sizeof err), 0);
        CHECK_EQ(m, n);
        CHECK(memcmp(dec, in, n) == 0);
        /* Exactly len + 1 bytes is enough; len is not. */
        char tight[128];
        CHECK_EQ(base58_encode(in, n, tight, len + 1), len);
        if (len > 0)
            CHECK_EQ(base58_encode(in, n, tight, len), 0);
    }
}

static void test_base32(void)
{
    static const struct {
        const char *plain, *b32;
    } v[] = {
        {"", ""},
        {"f", "my"},
        {"fo", "mzxq"},
        {"foo", "mzxw6"},
        {"foob", "mzxw6yq"},
        {"fooba", "mzxw6ytb"},
        {"foobar", "mzxw6ytboi"},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        size_t n = strlen(v[i].plain);
        char out[32];
        CHECK_EQ(base32_encoded_len(n), strlen(v[i].b32));
        CHECK_EQ(base32_encode((const uint8_t *)v[i].plain, n, out), strlen(v[i].b32));
        CHECK_STR_EQ(out, v[i].b32);
        uint8_t dec[16];
        size_t m = 99;
        CHECK_EQ(base32_decode(v[i].b32, strlen(v[i].b32), dec, sizeof dec, &m, err, sizeof err),
                 0);
        CHECK_EQ(m, n);
        CHECK_MEM_EQ(dec, v[i].plain, n);
    }
    uint8_t dec[16];
    size_t m;
    CHECK_EQ(base32_decode("MZXW6YTBOI", 10, dec, sizeof dec, &m, err, sizeof err), 0);
    CHECK_EQ(m, 6);
    CHECK_MEM_EQ(dec, "foobar", 6);
    /* Impossible lengths. */
    CHECK_EQ(base32_decode("m", 1, dec, sizeof dec, &m, err, sizeof err), -1);
    CHECK(strstr(err, "impossible length") != NULL);
    CHECK_EQ(base32_decode("mzx", 3, dec, sizeof dec, &m, err, sizeof err), -1);
    CHECK_EQ(base32_decode("mzxw6y", 6, dec, sizeof dec, &m, err, sizeof err), -1);
    /* Left-over bits that are not zero. */
    CHECK_EQ(base32_decode("mz", 2, dec, sizeof dec, &m, err, sizeof err), -1);
    CHECK(strstr(err, "non-zero") != NULL);
    CHECK_EQ(base32_decode("mzxw6yr", 7, dec, sizeof dec, &m, err, sizeof err), -1);
    /* Characters outside the alphabet, padding included. */
    CHECK_EQ(base32_decode("my======", 8, dec, sizeof dec, &m, err, sizeof err), -1);
    CHECK(strstr(err, "invalid character") != NULL);
    CHECK_EQ(base32_decode("m1", 2, dec, sizeof dec, &m, err, sizeof err), -1);
    CHECK_EQ(base32_decode("m8", 2, dec, sizeof dec, &m, err, sizeof err), -1);
    /* Output bound. */
    CHECK_EQ(base32_decode("mzxw6ytboi", 10, dec, 5, &m, err, sizeof err), -1);
    CHECK_EQ(base32_decode("mzxw6ytboi", 10, dec, 6, &m, err, sizeof err), 0);

    srand(11);
    for (int round = 0; round < 1000; round++) {
        uint8_t in[70], back[70];
        size_t n = (size_t)(rand() % 70);
        for (size_t i = 0; i < n; i++)
            in[i] = (uint8_t)rand();
        char out[128];
        size_t len = base32_encode(in, n, out);
        CHECK_EQ(len, base32_encoded_len(n));
        CHECK_EQ(base32_decode(out, len, back, n, &m, err, sizeof err), 0);
        CHECK_EQ(m, n);
        CHECK(memcmp(in, back, n) == 0);
    }
}

int main(void)
{
    test_base58_vectors();
    test_base58_bounds();
    test_base58_bad_chars();
    test_base58_random();
    test_base32();
    return CHECK_DONE();
}
