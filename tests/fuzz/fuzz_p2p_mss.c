/* libFuzzer target: multistream-select negotiators (src/p2p/mss.c) must accept or refuse any
 * byte stream, however it is split, without reading out of bounds.
 *
 * Input: 8 bytes of chunk sizes (each 1..32, used in turn), then the stream. The stream goes
 * to a dialer and to a listener, once in those chunks and once whole; both runs must agree on
 * the outcome, the bytes consumed and the bytes written, since chunking must not matter. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mss.h"

static const char *const LISTENER_PROTOS[] = {"/noise", "/yamux/1.0.0", NULL};
static const char *const DIALER_PROTOS[] = {"/tls/1.0.0", "/noise", "/yamux/1.0.0"};

static bool supports(void *user, const char *protocol)
{
    for (const char *const *p = user; *p; p++)
        if (strcmp(*p, protocol) == 0)
            return true;
    return false;
}

typedef struct {
    mss_status st;
    size_t used;
    buf_t out;
    char selected[MSS_MAX_MSG + 1];
} run_result;

/* Feeds p[0..n) in chunks (sizes from sizes[0..nsizes), or all at once if nsizes is 0). */
static void run(bool dialer, const uint8_t *sizes, size_t nsizes, const uint8_t *p, size_t n,
                run_result *r)
{
    mss m;
    char err[256];
    buf_init(&r->out, 1 << 20);
    if (dialer) {
        if (mss_dialer(&m, DIALER_PROTOS, 3, &r->out) != 0)
            abort();
    } else {
        mss_listener(&m, supports, (void *)LISTENER_PROTOS);
    }
    r->st = MSS_MORE;
    r->used = 0;
    for (size_t j = 0; r->used < n && r->st == MSS_MORE; j++) {
        size_t want = nsizes ? (size_t)(sizes[j % nsizes] % 32) + 1 : n;
        size_t chunk = n - r->used < want ? n - r->used : want;
        size_t used = (size_t)-1;
        r->st = mss_feed(&m, p + r->used, chunk, &used, &r->out, err, sizeof err);
        if (used > chunk)
            abort();
        if (r->st == MSS_MORE && used != chunk)
            abort(); /* MORE means every byte was taken */
        if (r->st == MSS_FAIL && strlen(err) == 0)
            abort();
        r->used += used;
    }
    const char *sel = mss_selected(&m);
    if ((r->st == MSS_DONE) != (sel[0] != '\0'))
        abort();
    strcpy(r->selected, sel);
    if (r->st != MSS_MORE) {
        /* Finished negotiators refuse more input without taking any. */
        size_t used = 1;
        uint8_t b = 0x03;
        err[0] = '\0';
        if (mss_feed(&m, &b, 1, &used, &r->out, err, sizeof err) != MSS_FAIL || used != 0 ||
            strlen(err) == 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    const uint8_t *sizes = data, *p = data + 8;
    size_t n = size - 8;
    for (int dialer = 0; dialer < 2; dialer++) {
        run_result a, b;
        run(dialer, sizes, 8, p, n, &a);
        run(dialer, NULL, 0, p, n, &b);
        if (a.st != b.st || strcmp(a.selected, b.selected) != 0)
            abort();
        /* A failure may be noticed at different points, but success is exact. */
        if (a.st != MSS_FAIL && (a.used != b.used || a.out.len != b.out.len ||
                                 (a.out.len && memcmp(a.out.data, b.out.data, a.out.len) != 0)))
            abort();
        buf_free(&a.out);
        buf_free(&b.out);
    }
    return 0;
}
