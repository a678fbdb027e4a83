/* libFuzzer target: the /swarm/task/1.0.0 reader and decoder (src/mesh/wire.c). The input is a
 * stream fed to a wire_reader in chunks whose sizes come from the input; every frame it yields
 * goes through wire_decode_task. What is accepted must hold the checked invariants, re-encode,
 * and decode again to the same counts; a refusal must say why. */
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static bool has_unknown(const Swarm__Task__TaskFrame *f)
{
    bool u = f->base.n_unknown_fields || (f->hello && f->hello->base.n_unknown_fields);
    for (size_t i = 0; i < f->n_leases; i++)
        u |= f->leases[i]->base.n_unknown_fields != 0;
    for (size_t i = 0; i < f->n_results; i++)
        u |= f->results[i]->base.n_unknown_fields != 0;
    for (size_t i = 0; i < f->n_cancels; i++)
        u |= f->cancels[i]->base.n_unknown_fields != 0;
    return u;
}

static void check_accepted(const Swarm__Task__TaskFrame *f)
{
    if (f->n_leases > WIRE_MAX_BATCH || f->n_results > WIRE_MAX_BATCH ||
        f->n_cancels > WIRE_MAX_BATCH)
        abort();
    for (size_t i = 0; i < f->n_leases; i++) {
        const Swarm__Task__Lease *l = f->leases[i];
        if (l->job_id.len != MESH_JOB_ID_LEN || l->module_hash.len != MESH_HASH_LEN ||
            l->start >= l->end || l->attempt < 1 || !l->entry || !l->entry[0] ||
            strlen(l->entry) >= MESH_ENTRY_MAX)
            abort();
    }
    for (size_t i = 0; i < f->n_results; i++) {
        const Swarm__Task__Result *r = f->results[i];
        if (r->job_id.len != MESH_JOB_ID_LEN || r->attempt < 1 ||
            (r->error && strlen(r->error) > WIRE_ERROR_MAX) ||
            (r->kind == SWARM__TASK__RESULT_KIND__VALUE && !r->has_value))
            abort();
    }
    for (size_t i = 0; i < f->n_cancels; i++)
        if (f->cancels[i]->job_id.len != MESH_JOB_ID_LEN)
            abort();
    if (f->hello && (f->hello->slots < 1 || f->hello->slots > 4096))
        abort();
    /* Unknown fields are kept by protobuf-c and packed again as read; field number 0 (legal to
     * skip when read with a long tag) is refused when read back in its short form, so the round
     * trip is only asserted for frames without unknown fields. We never re-encode a peer's
     * frame: this is the harness's limit, not the mesh's. */
    if (has_unknown(f))
        return;

    buf_t out;
    buf_init(&out, 0);
    if (wire_put_task(&out, f) != 0)
        abort();
    wire_reader r;
    wire_reader_init(&r, WIRE_TASK_FRAME_MAX);
    const uint8_t *body;
    size_t len;
    char err[256];
    if (wire_reader_feed(&r, out.data, out.len, err, sizeof err) != 0 ||
        wire_reader_next(&r, &body, &len, err, sizeof err) != 1)
        abort();
    Swarm__Task__TaskFrame *g = wire_decode_task(body, len, err, sizeof err);
    if (!g || g->n_leases != f->n_leases || g->n_results != f->n_results ||
        g->n_cancels != f->n_cancels || !g->hello != !f->hello)
        abort();
    swarm__task__task_frame__free_unpacked(g, NULL);
    wire_reader_free(&r);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = 1 + data[0] % 64;
    data++, size--;
    wire_reader r;
    /* a small frame limit too, so that the oversize path is reached */
    wire_reader_init(&r, size % 2 ? WIRE_TASK_FRAME_MAX : 256);
    char err[256];
    size_t off = 0;
    bool dead = false;
    while (off < size && !dead) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (wire_reader_feed(&r, data + off, n, err, sizeof err) != 0) {
            if (!err[0])
                abort();
            break;
        }
        off += n;
        for (;;) {
            const uint8_t *body;
            size_t len;
            err[0] = '\0';
            int rc = wire_reader_next(&r, &body, &len, err, sizeof err);
            if (rc < 0 && !err[0])
                abort();
            if (rc < 0)
                dead = true;
            if (rc <= 0)
                break;
            err[0] = '\0';
            Swarm__Task__TaskFrame *f = wire_decode_task(body, len, err, sizeof err);
            if (!f) {
                if (!err[0])
                    abort();
                continue;
            }
            check_accepted(f);
            swarm__task__task_frame__free_unpacked(f, NULL);
        }
    }
    wire_reader_free(&r);
    return 0;
}
