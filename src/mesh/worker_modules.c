/* worker_modules.c - compiled modules in memory, by hash. A lease whose module is missing
 * waits on it while one fetch runs (the disk cache first, then one /swarm/module stream to the
 * gateway that leased it), so many leases for a new module cost one transfer. Unused modules
 * stay loaded up to cache_max_bytes, least recently used dropped first. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "err.h"
#include "hex.h"
#include "worker_internal.h"

#define FETCH_TIMEOUT_MS 30000

typedef struct wk_fetch wk_fetch;

struct wk_module {
    uint8_t hash[MESH_HASH_LEN];
    wasm_module *mod; /* NULL while fetched */
    size_t bytes;
    unsigned refs; /* leases that hold it (waiting ones included) */
    uint64_t used_ms;
    wk_lease *waiters, **wtail;
    wk_fetch *fetch;
    wk_module *next;
};

/* One module transfer. Freed when its timer has closed and its stream open has answered
 * (refs counts the two). */
struct wk_fetch {
    mesh_worker *w; /* NULL once the fetch ended */
    wk_module *m;
    p2p_stream *s;
    p2p_peer_id peer;
    wire_reader rd;
    uv_timer_t timer;
    int refs;
};

static void fetch_unref(wk_fetch *f)
{
    if (--f->refs == 0) {
        wire_reader_free(&f->rd);
        free(f);
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    fetch_unref(h->data);
}

static const p2p_stream_cbs no_cbs = {NULL, NULL, NULL, NULL};

/* Ends f's transfer (its stream reset, its timer closed); the module is left to the caller. */
static void fetch_stop(wk_fetch *f)
{
    if (!f->w)
        return;
    f->w = NULL;
    f->m->fetch = NULL;
    if (f->s) {
        p2p_stream_set_cbs(f->s, &no_cbs, NULL);
        p2p_stream_reset(f->s);
        f->s = NULL;
    }
    uv_close((uv_handle_t *)&f->timer, on_timer_closed);
}

static void unlist(mesh_worker *w, wk_module *m)
{
    for (wk_module **pp = &w->modules; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            return;
        }
}

static void module_free(mesh_worker *w, wk_module *m)
{
    assert(m->refs == 0 && !m->waiters);
    unlist(w, m);
    if (m->mod) {
        w->module_bytes -= m->bytes;
        wasm_module_free(m->mod);
    }
    free(m);
}

/* Every waiter fails with FAILED; the module is forgotten, so the next lease tries again. */
static void module_failed(mesh_worker *w, wk_module *m, const char *why)
{
    char msg[WIRE_ERROR_MAX];
    snprintf(msg, sizeof msg, "module unavailable: %s", why);
    wk_emit_msg(w, MESH_WK_EV_ERROR, NULL, msg);
    if (m->fetch)
        fetch_stop(m->fetch);
    wk_lease *l = m->waiters;
    m->waiters = NULL;
    m->wtail = &m->waiters;
    while (l) {
        wk_lease *next = l->next_wait;
        wk_finish(l, SWARM__TASK__RESULT_KIND__FAILED, 0, msg, 0, 0); /* releases m */
        l = next;
    }
    if (m->refs == 0)
        module_free(w, m);
    wk_flush(w);
}

/* Compiles bytes (checked against the hash by the caller) and runs the waiters. */
static void module_ready(mesh_worker *w, wk_module *m, const uint8_t *wasm, size_t len,
                         const char *how)
{
    wasm_error we;
    wasm_module *mod = wasm_module_load(wasm, len, &we);
    if (!mod) {
        char why[300];
        snprintf(why, sizeof why, "%s: %s", wasm_status_name(we.status), we.msg);
        module_failed(w, m, why);
        return;
    }
    if (m->fetch)
        fetch_stop(m->fetch);
    m->mod = mod;
    m->bytes = len;
    w->module_bytes += len;
    char hex[2 * MESH_HASH_LEN + 1], msg[256];
    hex_encode(m->hash, MESH_HASH_LEN, hex);
    snprintf(msg, sizeof msg, "module %.16s %s (%zu bytes)", hex, how, len);
    wk_emit_msg(w, MESH_WK_EV_MODULE, NULL, msg);
    wk_lease *l = m->waiters;
    m->waiters = NULL;
    m->wtail = &m->waiters;
    for (; l; l = l->next_wait) {
        l->task.module = mod;
        exec_submit(w->exec, &l->task);
    }
}

/* ---- the transfer ------------------------------------------------------------------------- */

static void fetch_fail(wk_fetch *f, const char *why)
{
    mesh_worker *w = f->w;
    if (!w)
        return;
    module_failed(w, f->m, why);
}

static void on_fetch_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    (void)s;
    wk_fetch *f = user;
    char err[256];
    const uint8_t *body;
    size_t len;
    int rc = wire_reader_feed(&f->rd, p, n, err, sizeof err);
    if (rc == 0)
        rc = wire_reader_next(&f->rd, &body, &len, err, sizeof err);
    if (rc < 0) {
        fetch_fail(f, err);
        return;
    }
    if (rc == 0)
        return;
    Swarm__Module__ModuleResponse *r = wire_decode_module_response(body, len, err, sizeof err);
    if (!r) {
        fetch_fail(f, err);
        return;
    }
    mesh_worker *w = f->w;
    wk_module *m = f->m;
    if (memcmp(r->hash.data, m->hash, MESH_HASH_LEN) != 0) {
        fetch_fail(f, "the gateway answered with another module");
    } else if (!r->has_wasm) {
        fetch_fail(f, r->error);
    } else {
        char e2[256];
        if (w->disk &&
            modcache_put(w->disk, m->hash, r->wasm.data, r->wasm.len, e2, sizeof e2) != 0)
            wk_emit_msg(w, MESH_WK_EV_ERROR, NULL, e2); /* we still run it */
        module_ready(w, m, r->wasm.data, r->wasm.len, "fetched");
    }
    swarm__module__module_response__free_unpacked(r, NULL);
}

static void on_fetch_eof(p2p_stream *s, void *user)
{
    (void)s;
    fetch_fail(user, "the gateway closed the stream without an answer");
}

static void on_fetch_close(p2p_stream *s, const char *reason, void *user)
{
    (void)s;
    wk_fetch *f = user;
    f->s = NULL;
    fetch_fail(f, reason ? reason : "stream closed");
}

static const p2p_stream_cbs fetch_cbs = {on_fetch_data, on_fetch_eof, NULL, on_fetch_close};

static void on_fetch_open(p2p_stream *s, const char *err, void *user)
{
    wk_fetch *f = user;
    if (!f->w) {
        if (s) {
            p2p_stream_set_cbs(s, &no_cbs, NULL);
            p2p_stream_reset(s);
        }
        fetch_unref(f);
        return;
    }
    fetch_unref(f); /* the open answered; the fetch itself still holds the timer's ref */
    if (!s) {
        fetch_fail(f, err ? err : "cannot open a module stream");
        return;
    }
    f->s = s;
    p2p_stream_set_cbs(s, &fetch_cbs, f);
    Swarm__Module__ModuleRequest req = SWARM__MODULE__MODULE_REQUEST__INIT;
    req.has_hash = true;
    req.hash.data = f->m->hash;
    req.hash.len = MESH_HASH_LEN;
    buf_t out;
    buf_init(&out, 256);
    if (wire_put_module_request(&out, &req) != 0 ||
        p2p_stream_write(s, out.data, out.len) != (ssize_t)out.len ||
        p2p_stream_close_write(s) != 0)
        fetch_fail(f, "cannot send the module request");
    buf_free(&out);
}

static void on_fetch_timeout(uv_timer_t *t)
{
    fetch_fail(t->data, "no answer in 30 s");
}

static void fetch_start(mesh_worker *w, wk_module *m, const p2p_peer_id *peer)
{
    wk_fetch *f = calloc(1, sizeof *f);
    if (!f) {
        module_failed(w, m, "out of memory");
        return;
    }
    f->w = w;
    f->m = m;
    f->peer = *peer;
    f->refs = 2; /* the timer and the open */
    wire_reader_init(&f->rd, WIRE_MODULE_FRAME_MAX);
    uv_timer_init(w->cfg.loop, &f->timer);
    f->timer.data = f;
    uv_timer_start(&f->timer, on_fetch_timeout, FETCH_TIMEOUT_MS, 0);
    m->fetch = f;
    char err[256];
    if (p2p_host_open_stream(w->cfg.host, peer, MESH_PROTO_MODULE, on_fetch_open, f, err,
                             sizeof err) != 0) {
        f->refs--; /* no open will answer */
        module_failed(w, m, err);
    }
}

/* ---- the table ------------------------------------------------------------------------- */

static wk_module *find(mesh_worker *w, const uint8_t hash[MESH_HASH_LEN])
{
    for (wk_module *m = w->modules; m; m = m->next)
        if (memcmp(m->hash, hash, MESH_HASH_LEN) == 0)
            return m;
    return NULL;
}

void wk_module_want(mesh_worker *w, wk_lease *l, const uint8_t hash[MESH_HASH_LEN])
{
    wk_module *m = find(w, hash);
    if (!m) {
        m = calloc(1, sizeof *m);
        if (!m) {
            wk_finish(l, SWARM__TASK__RESULT_KIND__FAILED, 0, "out of memory", 0, 0);
            return;
        }
        memcpy(m->hash, hash, MESH_HASH_LEN);
        m->wtail = &m->waiters;
        m->next = w->modules;
        w->modules = m;
    }
    m->refs++;
    m->used_ms = clock_mono_ms();
    l->mod = m;
    if (m->mod) {
        l->task.module = m->mod;
        exec_submit(w->exec, &l->task);
        return;
    }
    l->next_wait = NULL;
    *m->wtail = l;
    m->wtail = &l->next_wait;
    if (m->fetch)
        return; /* on its way */
    uint8_t *bytes = NULL;
    size_t len = 0;
    char err[256];
    int rc = w->disk ? modcache_get(w->disk, hash, &bytes, &len, err, sizeof err) : 0;
    if (rc < 0 || (w->disk && rc == 0 && err[0]))
        wk_emit_msg(w, MESH_WK_EV_ERROR, NULL, err); /* a bad file: fetched again below */
    if (rc == 1) {
        module_ready(w, m, bytes, len, "from the cache");
        free(bytes);
        return;
    }
    fetch_start(w, m, &l->sess->peer);
}

void wk_module_release(mesh_worker *w, wk_module *m)
{
    assert(m->refs > 0);
    if (--m->refs > 0 || !m->mod)
        return;
    /* keep unused modules while they fit; drop the least recently used beyond */
    while (w->module_bytes > w->cfg.cache_max_bytes) {
        wk_module *old = NULL;
        for (wk_module *x = w->modules; x; x = x->next)
            if (x->refs == 0 && x->mod && (!old || x->used_ms < old->used_ms))
                old = x;
        if (!old)
            break;
        module_free(w, old);
    }
}

void wk_modules_forget_session(mesh_worker *w, wk_session *ss, const mesh_job_id *job,
                               bool has_shard, uint32_t shard)
{
    for (wk_module *m = w->modules, *next; m; m = next) {
        next = m->next;
        wk_lease *keep = NULL, **ktail = &keep, *l = m->waiters;
        m->waiters = NULL;
        while (l) {
            wk_lease *n = l->next_wait;
            bool match = l->sess == ss &&
                         (!job || memcmp(l->task.job.b, job->b, MESH_JOB_ID_LEN) == 0) &&
                         (!has_shard || l->task.shard == shard);
            if (match) {
                wk_finish(l, SWARM__TASK__RESULT_KIND__CANCELLED, 0, "cancelled", 0, 0);
            } else {
                l->next_wait = NULL;
                *ktail = l;
                ktail = &l->next_wait;
            }
            l = n;
        }
        m->waiters = keep;
        m->wtail = ktail;
        if (m->refs == 0 && !m->mod) {
            /* nobody waits any more: stop the transfer */
            if (m->fetch)
                fetch_stop(m->fetch);
            module_free(w, m);
        }
    }
}

void wk_modules_cancel_fetches(mesh_worker *w)
{
    for (wk_module *m = w->modules; m; m = m->next)
        if (m->fetch)
            fetch_stop(m->fetch);
}

void wk_modules_free(mesh_worker *w)
{
    while (w->modules) {
        wk_module *m = w->modules;
        assert(!m->fetch);
        w->modules = m->next;
        if (m->mod)
            wasm_module_free(m->mod);
        free(m);
    }
    w->module_bytes = 0;
}
