/* libFuzzer target: the util decoders must accept or refuse any input without reading out of
 * bounds, and what they accept must re-encode to an equivalent value.
 * Build with -DSWARM_FUZZ=ON (clang); run: build-fuzz/fuzz_util_decode -max_total_time=60 */
#include <stdlib.h>
#include <string.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t u;
    int64_t s;
    size_t used;
    uint8_t tmp[VARINT_MAX_LEN];
    for (unsigned bits = 1; bits <= 64; bits += 7) {
        if (leb_decode_u(data, size, bits, &u, &used) == 0 &&
            (used > size || (bits < 64 && u >> bits)))
            abort();
        if (leb_decode_s(data, size, bits, &s, &used) == 0 && used > size)
            abort();
    }
    if (uvarint_decode(data, size, &u, &used) == 0 &&
        (uvarint_encode(u, tmp) != used || memcmp(tmp, data, used) != 0))
        abort();

    char err[128];
    uint8_t *out = malloc(base64_decoded_max(size) + size / 2 + 1);
    size_t n;
    for (int v = BASE64_STD; v <= BASE64_URL; v++)
        base64_decode((const char *)data, size, out, &n, (base64_variant)v, err, sizeof err);
    hex_decode((const char *)data, size, out, &n, err, sizeof err);
    free(out);
    return 0;
}
