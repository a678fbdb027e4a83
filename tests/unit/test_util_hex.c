#include "check.h"
#include "util.h"

int main(void)
{
    char out[64], err[128];
    uint8_t bin[32];
    size_t n = 99;

    CHECK_EQ(hex_encode((const uint8_t *)"\x00\x01\xab\xff", 4, out), 8);
    CHECK_STR_EQ(out, "0001abff");
    CHECK_EQ(hex_encode(NULL, 0, out), 0);
    CHECK_STR_EQ(out, "");

    CHECK_EQ(hex_decode("0001AbfF", 8, bin, &n, err, sizeof err), 0);
    CHECK_EQ(n, 4);
    CHECK_MEM_EQ(bin, "\x00\x01\xab\xff", 4);
    CHECK_EQ(hex_decode("", 0, bin, &n, err, sizeof err), 0);
    CHECK_EQ(n, 0);

    /* bad input */
    CHECK_EQ(hex_decode("abc", 3, bin, &n, err, sizeof err), -1);
    CHECK(strstr(err, "odd") != NULL);
    CHECK_EQ(hex_decode("0g", 2, bin, &n, err, sizeof err), -1);
    CHECK(strstr(err, "offset 1") != NULL);
    CHECK_EQ(hex_decode("x0", 2, bin, &n, err, sizeof err), -1);
    CHECK(strstr(err, "offset 0") != NULL);
    CHECK_EQ(hex_decode("0x00", 4, bin, &n, err, sizeof err), -1);
    CHECK_EQ(hex_decode("00 0", 4, bin, &n, err, sizeof err), -1);

    return CHECK_DONE();
}
