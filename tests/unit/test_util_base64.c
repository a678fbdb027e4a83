#include <stdlib.h>

#include "check.h"
#include "util.h"

static char out[256];
static uint8_t bin[256];
static char err[128];

/* Decodes s with variant v; returns the decoded length or -1. */
static int dec(const char *s, base64_variant v)
{
    size_t n = 0;
    if (base64_decode(s, strlen(s), bin, &n, v, err, sizeof err) != 0)
        return -1;
    return (int)n;
}

int main(void)
{
    /* RFC 4648 section 10 vectors */
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    const char *url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        size_t n = strlen(plain[i]);
        CHECK_EQ(base64_encode((const uint8_t *)plain[i], n, out, BASE64_STD), strlen(std[i]));
        CHECK_STR_EQ(out, std[i]);
        CHECK_EQ(base64_encoded_len(n, BASE64_STD), strlen(std[i]));
        CHECK_EQ(base64_encode((const uint8_t *)plain[i], n, out, BASE64_URL), strlen(url[i]));
        CHECK_STR_EQ(out, url[i]);
        CHECK_EQ(base64_encoded_len(n, BASE64_URL), strlen(url[i]));
        CHECK_EQ(dec(std[i], BASE64_STD), n);
        CHECK_MEM_EQ(bin, plain[i], n);
        CHECK_EQ(dec(url[i], BASE64_URL), n);
        CHECK_MEM_EQ(bin, plain[i], n);
        CHECK_EQ(dec(url[i], BASE64_STD), n); /* padding is optional */
    }

    /* every byte value, both alphabets */
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    char *enc = malloc(base64_encoded_len(256, BASE64_STD) + 1);
    uint8_t *back = malloc(base64_decoded_max(base64_encoded_len(256, BASE64_STD)));
    for (int v = BASE64_STD; v <= BASE64_URL; v++) {
        size_t n = base64_encode(all, 256, enc, (base64_variant)v), m = 0;
        CHECK_EQ(base64_decode(enc, n, back, &m, (base64_variant)v, err, sizeof err), 0);
        CHECK_EQ(m, 256);
        CHECK_MEM_EQ(back, all, 256);
    }
    free(enc);
    free(back);

    /* whitespace (line-wrapped input) is skipped */
    CHECK_EQ(dec("Zm9v\nYmFy\r\n", BASE64_STD), 6);
    CHECK_MEM_EQ(bin, "foobar", 6);

    /* bad input */
    CHECK_EQ(dec("Zm9v!", BASE64_STD), -1);
    CHECK(strstr(err, "invalid character 0x21 at offset 4") != NULL);
    CHECK_EQ(dec("Zm-9", BASE64_STD), -1);     /* URL character in standard input */
    CHECK_EQ(dec("Zm+9", BASE64_URL), -1);     /* standard character in URL input */
    CHECK_EQ(dec("Zm9\x80", BASE64_STD), -1);  /* non-ASCII */
    CHECK_EQ(dec("Z", BASE64_STD), -1);        /* a lone 6-bit group */
    CHECK_EQ(dec("Zm9vY", BASE64_STD), -1);    /* truncated */
    CHECK_EQ(dec("Zg=", BASE64_STD), -1);      /* short padding */
    CHECK_EQ(dec("Zg===", BASE64_STD), -1);    /* long padding */
    CHECK_EQ(dec("Zm9v====", BASE64_STD), -1); /* padding after a full group */
    CHECK_EQ(dec("Zg==Zg==", BASE64_STD), -1); /* data after padding */
    CHECK(strstr(err, "after padding") != NULL);
    CHECK_EQ(dec("Zh==", BASE64_STD), -1); /* non-zero trailing bits */
    CHECK_EQ(dec("Zm9=", BASE64_STD), -1);
    CHECK_EQ(dec("=", BASE64_STD), -1);

    return CHECK_DONE();
}
