/* gw_module.c - serving /swarm/module/1.0.0: one ModuleRequest in, one ModuleResponse out.
 *
 * A module (up to 16 MiB) is not copied into a response buffer: the frame's head (length
 * prefix, the hash field and the wasm field's tag and length) is packed on its own and the
 * bytes are then written straight from the store, as fast as the stream takes them, with the
 * module referenced so that it cannot be evicted meanwhile. */
#include <stdlib.h>
#include <string.h>

#include "gw_internal.h"

static void fetch_free(gw_fetch *f)
{
    mesh_gw *g = f->g;
    if (f->prev)
        f->prev->next = f->next;
    else
        g->fetches = f->next;
    if (f->next)
        f->next->prev = f->prev;
    if (f->mod)
        f->mod->refs--;
    wire_reader_free(&f->rd);
    buf_free(&f->head);
    free(f);
}

static void fetch_bad(gw_fetch *f, const char *msg)
{
    if (f->done)
        return;
    f->done = true;
    gw_peer_error(f->g, p2p_stream_peer(f->s), msg);
    p2p_stream_reset(f->s);
}

/* Writes the head, then the module bytes; closes our side when all is taken. */
static void fetch_write(gw_fetch *f)
{
    size_t total = f->head.len + (f->mod ? f->mod->len : 0);
    while (f->off < total) {
        const uint8_t *p;
        size_t n;
        if (f->off < f->head.len) {
            p = f->head.data + f->off;
            n = f->head.len - f->off;
        } else {
            p = f->mod->bytes + (f->off - f->head.len);
            n = total - f->off;
        }
        ssize_t w = p2p_stream_write(f->s, p, n);
        if (w < 0) {
            f->done = true;
            p2p_stream_reset(f->s);
            return;
        }
        if (w == 0)
            return; /* on_writable goes on */
        f->off += (size_t)w;
    }
    f->done = true;
    if (f->mod) {
        f->g->modules_served++;
        f->g->module_bytes_served += f->mod->len;
    }
    p2p_stream_close_write(f->s);
}

/* Packs the answer to a request for hash. */
static int answer(gw_fetch *f, const uint8_t *hash)
{
    mesh_gw *g = f->g;
    Swarm__Module__ModuleResponse r = SWARM__MODULE__MODULE_RESPONSE__INIT;
    r.has_hash = 1;
    r.hash.data = (uint8_t *)hash;
    r.hash.len = MESH_HASH_LEN;
    ms_module *mod = modstore_get(&g->mods, hash);
    if (!mod) {
        r.error = "unknown module";
        return wire_put_module_response(&f->head, &r);
    }
    /* the whole message's size for the prefix, then the message without wasm */
    r.has_wasm = 1;
    r.wasm.data = mod->bytes;
    r.wasm.len = mod->len;
    size_t whole = swarm__module__module_response__get_packed_size(&r);
    r.has_wasm = 0;
    size_t part = swarm__module__module_response__get_packed_size(&r);
    uint8_t tmp[UVARINT_MAX_LEN];
    if (buf_put_uvarint(&f->head, whole) < 0 || buf_reserve(&f->head, part) < 0)
        return -1;
    f->head.len += swarm__module__module_response__pack(&r, f->head.data + f->head.len);
    /* field 2 (wasm), wire type 2 (length-delimited), as protobuf-c orders fields */
    if (buf_push(&f->head, (2 << 3) | 2) < 0 ||
        buf_append(&f->head, tmp, uvarint_encode(mod->len, tmp)) < 0)
        return -1;
    f->mod = mod;
    mod->refs++;
    return 0;
}

static void on_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    (void)s;
    gw_fetch *f = user;
    char err[256];
    if (f->answering || f->done)
        return; /* one request per stream; anything after it is ignored */
    if (wire_reader_feed(&f->rd, p, n, err, sizeof err) < 0) {
        fetch_bad(f, err);
        return;
    }
    const uint8_t *body;
    size_t len;
    int rc = wire_reader_next(&f->rd, &body, &len, err, sizeof err);
    if (rc == 0)
        return;
    Swarm__Module__ModuleRequest *m =
        rc < 0 ? NULL : wire_decode_module_request(body, len, err, sizeof err);
    if (!m) {
        fetch_bad(f, err);
        return;
    }
    f->answering = true;
    int ok = answer(f, m->hash.data);
    swarm__module__module_request__free_unpacked(m, NULL);
    if (ok < 0) {
        f->done = true;
        p2p_stream_reset(f->s);
        return;
    }
    fetch_write(f);
}

static void on_eof(p2p_stream *s, void *user)
{
    gw_fetch *f = user;
    if (!f->answering)
        fetch_bad(f, "module stream closed before a whole request");
    (void)s;
}

static void on_writable(p2p_stream *s, void *user)
{
    (void)s;
    gw_fetch *f = user;
    if (f->answering && !f->done)
        fetch_write(f);
}

static void on_close(p2p_stream *s, const char *reason, void *user)
{
    (void)s;
    (void)reason;
    fetch_free(user);
}

void gw_module_handler(p2p_stream *s, void *user)
{
    mesh_gw *g = user;
    gw_fetch *f = calloc(1, sizeof *f);
    if (!f) {
        p2p_stream_reset(s);
        return;
    }
    f->g = g;
    f->s = s;
    f->opened = gw_now(g);
    wire_reader_init(&f->rd, GW_MODULE_REQUEST_MAX);
    buf_init(&f->head, 4096);
    f->next = g->fetches;
    if (g->fetches)
        g->fetches->prev = f;
    g->fetches = f;
    static const p2p_stream_cbs cbs = {on_data, on_eof, on_writable, on_close};
    p2p_stream_set_cbs(s, &cbs, f);
}

void gw_module_sweep(mesh_gw *g, uint64_t now)
{
    for (gw_fetch *f = g->fetches; f; f = f->next) {
        if (now - f->opened <= GW_FETCH_TIMEOUT_MS)
            continue;
        if (f->done)
            p2p_stream_reset(f->s); /* answered, but the asker never closed its side */
        else
            fetch_bad(f, "module stream: not finished in time");
    }
}

void gw_module_close_all(mesh_gw *g)
{
    static const p2p_stream_cbs none = {0};
    while (g->fetches) {
        gw_fetch *f = g->fetches;
        p2p_stream_set_cbs(f->s, &none, NULL);
        p2p_stream_reset(f->s);
        fetch_free(f);
    }
}
