/* libFuzzer target: identify_decode (src/p2p/identify.c) must accept or refuse any Identify
 * body without reading out of bounds or leaking; what it accepts must re-encode within
 * IDENTIFY_MAX_MSG and decode again to the same values. */
#include <stdlib.h>
#include <string.h>

#include "identify.h"

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    identify_info a, b;
    char err[256];
    if (identify_decode(data, size, &a, err, sizeof err) != 0) {
        if (strlen(err) == 0 || a.agent || a.protocols || a.listen || a.nprotocols)
            abort();
        return 0;
    }
    if (a.nprotocols > IDENTIFY_MAX_PROTOS || a.nlisten > IDENTIFY_MAX_ADDRS)
        abort();

    buf_t out;
    buf_init(&out, 0);
    if (identify_encode(&a, &out, err, sizeof err) != 0)
        abort(); /* what we accepted is never larger than what we read */
    uint64_t len;
    size_t used;
    if (uvarint_decode(out.data, out.len, &len, &used) != 0 || used + len != out.len)
        abort();
    if (identify_decode(out.data + used, (size_t)len, &b, err, sizeof err) != 0)
        abort();
    if (!str_eq(a.agent, b.agent) || !str_eq(a.protocol_version, b.protocol_version) ||
        a.has_pubkey != b.has_pubkey || (a.has_pubkey && memcmp(a.pubkey, b.pubkey, 32) != 0) ||
        a.nprotocols != b.nprotocols || a.nlisten != b.nlisten || a.has_observed != b.has_observed)
        abort();
    for (size_t i = 0; i < a.nprotocols; i++)
        if (strcmp(a.protocols[i], b.protocols[i]) != 0)
            abort();
    for (size_t i = 0; i < a.nlisten; i++)
        if (a.listen[i].len != b.listen[i].len ||
            memcmp(a.listen[i].b, b.listen[i].b, a.listen[i].len) != 0)
            abort();
    if (a.has_observed && (a.observed.len != b.observed.len ||
                           memcmp(a.observed.b, b.observed.b, a.observed.len) != 0))
        abort();
    identify_info_free(&a);
    identify_info_free(&b);
    buf_free(&out);
    return 0;
}
