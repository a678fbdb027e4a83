/* wire.c - frames and checked decoders of the task and module protocols (see wire.h). */
#include "wire.h"

#include <sodium.h>
#include <string.h>

#include "err.h"
#include "varint.h"

void wire_reader_init(wire_reader *r, size_t max)
{
    buf_init(&r->acc, max + UVARINT_MAX_LEN);
    r->max = max;
    r->consumed = 0;
}

void wire_reader_free(wire_reader *r)
{
    buf_free(&r->acc);
    r->consumed = 0;
}

/* Drops the frame handed out last. */
static void compact(wire_reader *r)
{
    if (!r->consumed)
        return;
    memmove(r->acc.data, r->acc.data + r->consumed, r->acc.len - r->consumed);
    r->acc.len -= r->consumed;
    r->consumed = 0;
}

int wire_reader_feed(wire_reader *r, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    compact(r);
    if (buf_append(&r->acc, p, n) < 0)
        return err_set(err, errlen, "frame larger than %zu bytes", r->max);
    return 0;
}

int wire_reader_next(wire_reader *r, const uint8_t **body, size_t *len, char *err, size_t errlen)
{
    compact(r);
    size_t hdr, n;
    int rc = uvarint_frame(r->acc.data, r->acc.len, r->max, &hdr, &n);
    if (rc == 0)
        return 0;
    if (rc < 0)
        return err_set(err, errlen, "bad frame length: %s",
                       rc == VARINT_EFRAME ? "over the limit" : varint_strerror(rc));
    *body = r->acc.data + hdr;
    *len = n;
    r->consumed = hdr + n;
    return 1;
}

/* Appends the uvarint length and the packed message. */
static int put_frame(buf_t *out, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    size_t start = out->len;
    if (buf_put_uvarint(out, n) < 0 || buf_reserve(out, n) < 0) {
        out->len = start;
        return -1;
    }
    out->len += protobuf_c_message_pack(m, out->data + out->len);
    return 0;
}

int wire_put_task(buf_t *out, const Swarm__Task__TaskFrame *f)
{
    return put_frame(out, &f->base);
}

int wire_put_module_request(buf_t *out, const Swarm__Module__ModuleRequest *m)
{
    return put_frame(out, &m->base);
}

int wire_put_module_response(buf_t *out, const Swarm__Module__ModuleResponse *m)
{
    return put_frame(out, &m->base);
}

/* ---- checks ------------------------------------------------------------------------------ */

static bool bytes_len(protobuf_c_boolean has, ProtobufCBinaryData b, size_t want)
{
    return has && b.len == want;
}

static int check_str(const char *s, size_t max, bool required, const char *what, char *err,
                     size_t errlen)
{
    if (!s)
        return required ? err_set(err, errlen, "%s missing", what) : 0;
    size_t n = strnlen(s, max + 1);
    if (n > max)
        return err_set(err, errlen, "%s longer than %zu bytes", what, max);
    if (required && n == 0)
        return err_set(err, errlen, "%s empty", what);
    return 0;
}

static int check_lease(const Swarm__Task__Lease *l, char *err, size_t errlen)
{
    if (!bytes_len(l->has_job_id, l->job_id, MESH_JOB_ID_LEN))
        return err_set(err, errlen, "lease: job_id must be %d bytes", MESH_JOB_ID_LEN);
    if (!l->has_shard || !l->has_attempt || l->attempt < 1)
        return err_set(err, errlen, "lease: shard and attempt (>= 1) required");
    if (!l->has_start || !l->has_end || l->start >= l->end)
        return err_set(err, errlen, "lease: range must have start < end");
    if (!bytes_len(l->has_module_hash, l->module_hash, MESH_HASH_LEN))
        return err_set(err, errlen, "lease: module_hash must be %d bytes", MESH_HASH_LEN);
    return check_str(l->entry, MESH_ENTRY_MAX - 1, true, "lease: entry", err, errlen);
}

static int check_result(const Swarm__Task__Result *r, char *err, size_t errlen)
{
    if (!bytes_len(r->has_job_id, r->job_id, MESH_JOB_ID_LEN))
        return err_set(err, errlen, "result: job_id must be %d bytes", MESH_JOB_ID_LEN);
    if (!r->has_shard || !r->has_attempt || r->attempt < 1)
        return err_set(err, errlen, "result: shard and attempt (>= 1) required");
    if (!r->has_kind)
        return err_set(err, errlen, "result: kind required");
    switch (r->kind) {
    case SWARM__TASK__RESULT_KIND__VALUE:
        if (!r->has_value)
            return err_set(err, errlen, "result: a VALUE needs value");
        break;
    case SWARM__TASK__RESULT_KIND__TRAP:
    case SWARM__TASK__RESULT_KIND__REFUSED:
    case SWARM__TASK__RESULT_KIND__FAILED:
    case SWARM__TASK__RESULT_KIND__CANCELLED:
        break;
    default:
        return err_set(err, errlen, "result: unknown kind %d", (int)r->kind);
    }
    return check_str(r->error, WIRE_ERROR_MAX, false, "result: error", err, errlen);
}

static int check_cancel(const Swarm__Task__Cancel *c, char *err, size_t errlen)
{
    if (!bytes_len(c->has_job_id, c->job_id, MESH_JOB_ID_LEN))
        return err_set(err, errlen, "cancel: job_id must be %d bytes", MESH_JOB_ID_LEN);
    return 0;
}

static int check_hello(const Swarm__Task__Hello *h, char *err, size_t errlen)
{
    if (!h->has_slots || h->slots < 1 || h->slots > 4096)
        return err_set(err, errlen, "hello: slots must be 1..4096");
    if (check_str(h->label, 63, false, "hello: label", err, errlen) < 0)
        return -1;
    return check_str(h->agent, 63, false, "hello: agent", err, errlen);
}

Swarm__Task__TaskFrame *wire_decode_task(const uint8_t *p, size_t n, char *err, size_t errlen)
{
    Swarm__Task__TaskFrame *f = swarm__task__task_frame__unpack(NULL, n, p);
    if (!f) {
        err_set(err, errlen, "task frame: not a valid TaskFrame");
        return NULL;
    }
    int rc = 0;
    if (f->n_leases > WIRE_MAX_BATCH || f->n_results > WIRE_MAX_BATCH ||
        f->n_cancels > WIRE_MAX_BATCH)
        rc = err_set(err, errlen, "task frame: more than %d items in a list", WIRE_MAX_BATCH);
    if (rc == 0 && f->hello)
        rc = check_hello(f->hello, err, errlen);
    for (size_t i = 0; rc == 0 && i < f->n_leases; i++)
        rc = check_lease(f->leases[i], err, errlen);
    for (size_t i = 0; rc == 0 && i < f->n_results; i++)
        rc = check_result(f->results[i], err, errlen);
    for (size_t i = 0; rc == 0 && i < f->n_cancels; i++)
        rc = check_cancel(f->cancels[i], err, errlen);
    if (rc < 0) {
        swarm__task__task_frame__free_unpacked(f, NULL);
        return NULL;
    }
    return f;
}

Swarm__Module__ModuleRequest *wire_decode_module_request(const uint8_t *p, size_t n, char *err,
                                                         size_t errlen)
{
    Swarm__Module__ModuleRequest *m = swarm__module__module_request__unpack(NULL, n, p);
    if (!m) {
        err_set(err, errlen, "module request: not a valid ModuleRequest");
        return NULL;
    }
    if (!bytes_len(m->has_hash, m->hash, MESH_HASH_LEN)) {
        err_set(err, errlen, "module request: hash must be %d bytes", MESH_HASH_LEN);
        swarm__module__module_request__free_unpacked(m, NULL);
        return NULL;
    }
    return m;
}

Swarm__Module__ModuleResponse *wire_decode_module_response(const uint8_t *p, size_t n, char *err,
                                                           size_t errlen)
{
    Swarm__Module__ModuleResponse *m = swarm__module__module_response__unpack(NULL, n, p);
    if (!m) {
        err_set(err, errlen, "module response: not a valid ModuleResponse");
        return NULL;
    }
    int rc = 0;
    if (!bytes_len(m->has_hash, m->hash, MESH_HASH_LEN))
        rc = err_set(err, errlen, "module response: hash must be %d bytes", MESH_HASH_LEN);
    else if (m->has_wasm) {
        uint8_t h[crypto_hash_sha256_BYTES];
        if (m->wasm.len > MESH_MODULE_MAX)
            rc = err_set(err, errlen, "module response: module over %u bytes", MESH_MODULE_MAX);
        else if (crypto_hash_sha256(h, m->wasm.data, m->wasm.len) != 0 ||
                 sodium_memcmp(h, m->hash.data, sizeof h) != 0)
            rc = err_set(err, errlen, "module response: the bytes do not match the hash");
    } else if (check_str(m->error, WIRE_ERROR_MAX, true, "module response: error", err, errlen) < 0)
        rc = -1;
    if (rc < 0) {
        swarm__module__module_response__free_unpacked(m, NULL);
        return NULL;
    }
    return m;
}

Swarm__Task__Heartbeat *wire_decode_heartbeat(const uint8_t *p, size_t n, char *err, size_t errlen)
{
    Swarm__Task__Heartbeat *h = swarm__task__heartbeat__unpack(NULL, n, p);
    if (!h) {
        err_set(err, errlen, "heartbeat: not a valid Heartbeat");
        return NULL;
    }
    int rc = check_str(h->label, 63, false, "heartbeat: label", err, errlen);
    if (rc == 0 && (h->slots > 4096 || h->free_slots > 4096))
        rc = err_set(err, errlen, "heartbeat: slots over 4096");
    if (rc == 0 && h->has_battery && (h->battery < 0 || h->battery > 100))
        rc = err_set(err, errlen, "heartbeat: battery must be 0..100");
    if (rc < 0) {
        swarm__task__heartbeat__free_unpacked(h, NULL);
        return NULL;
    }
    return h;
}
