/* test_mesh_worker.c - mesh_worker against a test gateway in the same process (a real p2p host
 * on loopback serving /swarm/task and /swarm/module with wire.c): the worker connects and says
 * Hello, fetches the module exactly once for many leases, returns the right values with fuel
 * and time in batches, honours Cancel, refuses an untrusted gateway both ways, and reconnects
 * after the gateway closes and comes back on the same address. */
#include <dirent.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mesh.h"
#include "mesh_wasm.h"
#include "wire.h"

static uv_loop_t loop_, *loop = &loop_;

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

#define WAIT_FOR(cond, ms)                          \
    do {                                            \
        uint64_t deadline_ = uv_now(loop) + (ms);   \
        while (!(cond) && uv_now(loop) < deadline_) \
            uv_run(loop, UV_RUN_ONCE);              \
    } while (0)

static void spin_for(uint64_t ms)
{
    uint64_t deadline = uv_now(loop) + ms;
    while (uv_now(loop) < deadline)
        uv_run(loop, UV_RUN_ONCE);
}

/* ---- the test gateway --------------------------------------------------------------------- */

typedef struct {
    mesh_job_id job;
    uint32_t shard, attempt;
    int kind;
    int64_t value;
    char error[128];
    uint64_t fuel, elapsed;
} got_result;

typedef struct {
    p2p_key key;
    p2p_host *h;
    char addr[300]; /* /ip4/127.0.0.1/tcp/P/p2p/ID */
    char bare[200]; /* without /p2p */
    p2p_stream *task;
    wire_reader rd;
    bool hello;
    uint32_t hello_slots;
    char hello_label[64];
    got_result results[512];
    size_t nresults, result_frames;
    int module_requests;
    const uint8_t *wasm;
    size_t wasm_len;
    bool closed, task_gone;
    bool lie; /* answer module requests with bytes that do not match the hash */
} tgw;

static void task_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    (void)s;
    tgw *g = user;
    char err[256];
    CHECK_EQ(wire_reader_feed(&g->rd, p, n, err, sizeof err), 0);
    const uint8_t *body;
    size_t len;
    while (wire_reader_next(&g->rd, &body, &len, err, sizeof err) == 1) {
        Swarm__Task__TaskFrame *f = wire_decode_task(body, len, err, sizeof err);
        CHECK(f != NULL);
        if (!f)
            return;
        if (f->hello) {
            g->hello = true;
            g->hello_slots = f->hello->slots;
            snprintf(g->hello_label, sizeof g->hello_label, "%s",
                     f->hello->label ? f->hello->label : "");
        }
        if (f->n_results)
            g->result_frames++;
        for (size_t i = 0; i < f->n_results; i++) {
            const Swarm__Task__Result *r = f->results[i];
            if (g->nresults == sizeof g->results / sizeof g->results[0])
                break;
            got_result *o = &g->results[g->nresults++];
            memcpy(o->job.b, r->job_id.data, MESH_JOB_ID_LEN);
            o->shard = r->shard;
            o->attempt = r->attempt;
            o->kind = r->kind;
            o->value = r->value;
            snprintf(o->error, sizeof o->error, "%s", r->error ? r->error : "");
            o->fuel = r->fuel_used;
            o->elapsed = r->elapsed_us;
        }
        swarm__task__task_frame__free_unpacked(f, NULL);
    }
}

static void task_close(p2p_stream *s, const char *reason, void *user)
{
    (void)s;
    (void)reason;
    tgw *g = user;
    g->task = NULL;
    g->task_gone = true;
}

static const p2p_stream_cbs task_cbs = {task_data, NULL, NULL, task_close};

static void on_task_stream(p2p_stream *s, void *user)
{
    tgw *g = user;
    g->task = s;
    wire_reader_free(&g->rd);
    wire_reader_init(&g->rd, WIRE_TASK_FRAME_MAX);
    p2p_stream_set_cbs(s, &task_cbs, g);
}

typedef struct {
    tgw *g;
    wire_reader rd;
} mod_req;

static void mod_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    mod_req *q = user;
    char err[256];
    const uint8_t *body;
    size_t len;
    if (wire_reader_feed(&q->rd, p, n, err, sizeof err) != 0 ||
        wire_reader_next(&q->rd, &body, &len, err, sizeof err) != 1)
        return;
    Swarm__Module__ModuleRequest *m = wire_decode_module_request(body, len, err, sizeof err);
    CHECK(m != NULL);
    if (!m)
        return;
    q->g->module_requests++;
    uint8_t h[MESH_HASH_LEN];
    crypto_hash_sha256(h, q->g->wasm, q->g->wasm_len);
    Swarm__Module__ModuleResponse r = SWARM__MODULE__MODULE_RESPONSE__INIT;
    r.has_hash = true;
    r.hash = m->hash;
    static const uint8_t empty[] = {0, 'a', 's', 'm', 1, 0, 0, 0};
    if (q->g->lie) {
        r.has_wasm = true;
        r.wasm.data = (uint8_t *)empty;
        r.wasm.len = sizeof empty;
    } else if (memcmp(h, m->hash.data, MESH_HASH_LEN) == 0) {
        r.has_wasm = true;
        r.wasm.data = (uint8_t *)q->g->wasm;
        r.wasm.len = q->g->wasm_len;
    } else {
        r.error = (char *)"unknown module";
    }
    buf_t out;
    buf_init(&out, 0);
    wire_put_module_response(&out, &r);
    CHECK_EQ(p2p_stream_write(s, out.data, out.len), (ssize_t)out.len);
    p2p_stream_close_write(s);
    buf_free(&out);
    swarm__module__module_request__free_unpacked(m, NULL);
}

static void mod_close(p2p_stream *s, const char *reason, void *user)
{
    (void)s;
    (void)reason;
    mod_req *q = user;
    wire_reader_free(&q->rd);
    free(q);
}

static const p2p_stream_cbs mod_cbs = {mod_data, NULL, NULL, mod_close};

static void on_module_stream(p2p_stream *s, void *user)
{
    mod_req *q = calloc(1, sizeof *q);
    q->g = user;
    wire_reader_init(&q->rd, 4096);
    p2p_stream_set_cbs(s, &mod_cbs, q);
}

static void on_open_untrusted(p2p_stream *s, const char *err, void *user)
{
    (void)err;
    tgw *g = user;
    if (s)
        on_task_stream(s, g);
}

static void on_gw_closed(void *user)
{
    ((tgw *)user)->closed = true;
}

/* Starts (or restarts, with the same key) a gateway on listen ("/ip4/127.0.0.1/tcp/0" first). */
static int tgw_start(tgw *g, const char *listen, bool new_key)
{
    char err[256];
    if (new_key && p2p_key_generate(&g->key, err, sizeof err) != 0)
        return -1;
    p2p_host_config c;
    p2p_host_config_default(&c);
    c.key = &g->key;
    g->closed = false;
    g->task = NULL;
    g->task_gone = false;
    if (p2p_host_new(loop, &c, NULL, NULL, &g->h, err, sizeof err) != 0 ||
        p2p_host_listen(g->h, listen, err, sizeof err) != 0) {
        fprintf(stderr, "test gateway: %s\n", err);
        return -1;
    }
    p2p_host_handle(g->h, MESH_PROTO_TASK, on_task_stream, g, err, sizeof err);
    p2p_host_handle(g->h, MESH_PROTO_MODULE, on_module_stream, g, err, sizeof err);
    p2p_maddr la;
    CHECK_EQ(p2p_host_listen_addrs(g->h, &la, 1), 1);
    char id[P2P_PEER_ID_STRLEN];
    p2p_maddr_cstr(&la, g->bare, sizeof g->bare);
    snprintf(g->addr, sizeof g->addr, "%s/p2p/%s", g->bare, p2p_peer_id_str(p2p_host_id(g->h), id));
    return 0;
}

static void tgw_stop(tgw *g)
{
    p2p_host_close(g->h, on_gw_closed, g);
    WAIT_FOR(g->closed, 5000);
    CHECK(g->closed);
    g->h = NULL;
    g->task = NULL;
}

/* Sends one frame of leases for shards [first, first+n) of job, entry, range [i, i+1) each. */
static void tgw_lease(tgw *g, p2p_stream *s, const mesh_job_id *job, uint32_t first, uint32_t n,
                      const char *entry, uint64_t fuel)
{
    Swarm__Task__Lease *ls = calloc(n, sizeof *ls);
    Swarm__Task__Lease **lp = calloc(n, sizeof *lp);
    uint8_t hash[MESH_HASH_LEN];
    crypto_hash_sha256(hash, g->wasm, g->wasm_len);
    for (uint32_t i = 0; i < n; i++) {
        swarm__task__lease__init(&ls[i]);
        ls[i].has_job_id = ls[i].has_shard = ls[i].has_attempt = true;
        ls[i].job_id.data = (uint8_t *)job->b;
        ls[i].job_id.len = MESH_JOB_ID_LEN;
        ls[i].shard = first + i;
        ls[i].attempt = 1;
        ls[i].has_start = ls[i].has_end = true;
        ls[i].start = 10 * (first + i);
        ls[i].end = 10 * (first + i) + 7;
        ls[i].has_module_hash = true;
        ls[i].module_hash.data = hash;
        ls[i].module_hash.len = MESH_HASH_LEN;
        ls[i].entry = (char *)entry;
        ls[i].has_fuel = true;
        ls[i].fuel = fuel;
        lp[i] = &ls[i];
    }
    Swarm__Task__TaskFrame f = SWARM__TASK__TASK_FRAME__INIT;
    f.n_leases = n;
    f.leases = lp;
    buf_t out;
    buf_init(&out, 0);
    CHECK_EQ(wire_put_task(&out, &f), 0);
    CHECK_EQ(p2p_stream_write(s, out.data, out.len), (ssize_t)out.len);
    buf_free(&out);
    free(ls);
    free(lp);
}

static void tgw_cancel(p2p_stream *s, const mesh_job_id *job)
{
    Swarm__Task__Cancel c = SWARM__TASK__CANCEL__INIT, *cp = &c;
    c.has_job_id = true;
    c.job_id.data = (uint8_t *)job->b;
    c.job_id.len = MESH_JOB_ID_LEN;
    Swarm__Task__TaskFrame f = SWARM__TASK__TASK_FRAME__INIT;
    f.n_cancels = 1;
    f.cancels = &cp;
    buf_t out;
    buf_init(&out, 0);
    CHECK_EQ(wire_put_task(&out, &f), 0);
    CHECK_EQ(p2p_stream_write(s, out.data, out.len), (ssize_t)out.len);
    buf_free(&out);
}

static size_t count_kind(const tgw *g, const mesh_job_id *job, int kind)
{
    size_t n = 0;
    for (size_t i = 0; i < g->nresults; i++)
        if (g->results[i].kind == kind && memcmp(g->results[i].job.b, job->b, 8) == 0)
            n++;
    return n;
}

/* ---- the worker's side -------------------------------------------------------------------- */

typedef struct {
    int connected, gone, refused, shards, modules;
    char refused_msg[256];
    bool closed;
} wk_seen;

static void on_wk_event(mesh_worker *w, const mesh_worker_event *ev, void *user)
{
    (void)w;
    wk_seen *s = user;
    switch (ev->type) {
    case MESH_WK_EV_CONNECTED:
        s->connected++;
        break;
    case MESH_WK_EV_GONE:
        s->gone++;
        break;
    case MESH_WK_EV_REFUSED:
        s->refused++;
        snprintf(s->refused_msg, sizeof s->refused_msg, "%s", ev->message);
        break;
    case MESH_WK_EV_SHARD:
        s->shards++;
        break;
    case MESH_WK_EV_MODULE:
        s->modules++;
        break;
    case MESH_WK_EV_ERROR:
        break;
    }
}

static void on_wk_closed(void *user)
{
    ((wk_seen *)user)->closed = true;
}

static void on_host_closed(void *user)
{
    *(bool *)user = true;
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    uv_loop_init(loop);
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 10, 10);
    buf b;
    mesh_wasm_module(&b);

    static tgw a, u; /* a trusted gateway and an untrusted one */
    a.wasm = u.wasm = b.b;
    a.wasm_len = u.wasm_len = b.n;
    CHECK_EQ(tgw_start(&a, "/ip4/127.0.0.1/tcp/0", true), 0);
    CHECK_EQ(tgw_start(&u, "/ip4/127.0.0.1/tcp/0", true), 0);

    char cache[] = "/tmp/swarm-wk-XXXXXX";
    CHECK(mkdtemp(cache) != NULL);
    p2p_key wkey;
    char err[256];
    CHECK_EQ(p2p_key_generate(&wkey, err, sizeof err), 0);
    p2p_host_config hc;
    p2p_host_config_default(&hc);
    hc.key = &wkey;
    p2p_host *wh;
    CHECK_EQ(p2p_host_new(loop, &hc, NULL, NULL, &wh, err, sizeof err), 0);

    wk_seen seen;
    memset(&seen, 0, sizeof seen);
    const char *boot[] = {a.addr, u.bare}; /* u without /p2p: not trusted */
    mesh_worker_config wc;
    mesh_worker_config_default(&wc);
    wc.loop = loop;
    wc.host = wh;
    wc.bootstrap = boot;
    wc.nbootstrap = 2;
    wc.threads = 2;
    wc.label = "7";
    wc.cache_dir = cache;
    wc.heartbeat_ms = 100;
    wc.on_event = on_wk_event;
    wc.user = &seen;
    mesh_worker *w;
    CHECK_EQ(mesh_worker_new(&wc, &w, err, sizeof err), 0);

    /* connected, Hello with the slots and label; the untrusted bootstrap is refused and gets
     * no task stream */
    WAIT_FOR(a.task && a.hello && seen.refused, 5000);
    CHECK(a.task != NULL);
    CHECK(a.hello);
    CHECK_EQ(a.hello_slots, 2);
    CHECK_STR_EQ(a.hello_label, "7");
    CHECK_EQ(seen.connected, 1);
    CHECK(seen.refused >= 1);
    CHECK(strstr(seen.refused_msg, "not a trusted gateway") != NULL);
    CHECK(u.task == NULL);

    /* 100 leases of a new module in one frame: one module request, 100 right results, with
     * fuel and time, in fewer frames than results */
    mesh_job_id j1 = {{1, 1, 1, 1, 1, 1, 1, 1}};
    tgw_lease(&a, a.task, &j1, 0, 100, "count", 0);
    WAIT_FOR(a.nresults >= 100, 10000);
    CHECK_EQ(a.nresults, 100);
    CHECK_EQ(a.module_requests, 1);
    CHECK_EQ(count_kind(&a, &j1, SWARM__TASK__RESULT_KIND__VALUE), 100);
    bool right = true, fuel = true;
    for (size_t i = 0; i < a.nresults; i++) {
        right = right && a.results[i].value == 7 && a.results[i].attempt == 1;
        fuel = fuel && a.results[i].fuel > 0;
    }
    CHECK(right);
    CHECK(fuel);
    CHECK(a.result_frames < 100);
    printf("100 shards came back in %zu frames\n", a.result_frames);
    CHECK_EQ(seen.shards, 100);
    CHECK_EQ(seen.modules, 1);
    /* the module is on disk now, named by its hash */
    uint8_t hash[MESH_HASH_LEN];
    crypto_hash_sha256(hash, b.b, b.n);
    char path[400], hex[65];
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", hash[i]);
    snprintf(path, sizeof path, "%s/%s.wasm", cache, hex);
    CHECK_EQ(access(path, R_OK), 0);

    /* cancel: 4 endless shards (2 run, 2 wait) come back CANCELLED at once */
    mesh_job_id j2 = {{2}};
    a.nresults = 0;
    tgw_lease(&a, a.task, &j2, 0, 4, "spin", 0);
    spin_for(100);
    CHECK_EQ(a.nresults, 0);
    tgw_cancel(a.task, &j2);
    WAIT_FOR(a.nresults >= 4, 3000);
    CHECK_EQ(count_kind(&a, &j2, SWARM__TASK__RESULT_KIND__CANCELLED), 4);
    /* a trap is the shard's result, with the engine's message */
    mesh_job_id j3 = {{3}};
    a.nresults = 0;
    tgw_lease(&a, a.task, &j3, 0, 2, "spin", 50000);
    WAIT_FOR(a.nresults >= 2, 3000);
    CHECK_EQ(count_kind(&a, &j3, SWARM__TASK__RESULT_KIND__TRAP), 2);
    CHECK_STR_EQ(a.results[0].error, "out of fuel");
    CHECK_EQ(a.module_requests, 1); /* still once */

    /* the untrusted gateway opens a task stream to us: every lease is refused, nothing runs */
    int shards_before = seen.shards, refused_before = seen.refused;
    CHECK_EQ(p2p_host_open_stream(u.h, p2p_host_id(wh), MESH_PROTO_TASK, on_open_untrusted, &u, err,
                                  sizeof err),
             0);
    WAIT_FOR(u.task != NULL, 3000);
    CHECK(u.task != NULL);
    mesh_job_id j5 = {{5}};
    if (u.task)
        tgw_lease(&u, u.task, &j5, 0, 3, "diff", 0);
    WAIT_FOR(u.nresults >= 3, 3000);
    CHECK_EQ(count_kind(&u, &j5, SWARM__TASK__RESULT_KIND__REFUSED), 3);
    CHECK_STR_EQ(u.results[0].error, "untrusted gateway");
    CHECK_EQ(u.module_requests, 0);
    CHECK_EQ(seen.shards, shards_before);
    CHECK(seen.refused > refused_before);
    CHECK(!u.hello); /* no Hello for an untrusted peer */

    /* a module whose bytes do not match its hash: the leases fail (FAILED, "module
     * unavailable"), nothing runs, and the next lease asks again */
    uint8_t b2[sizeof b.b];
    memcpy(b2, b.b, b.n);
    static const uint8_t custom[] = {0, 3, 1, 'x', 0}; /* a custom section: another hash */
    memcpy(b2 + b.n, custom, sizeof custom);
    a.wasm = b2;
    a.wasm_len = b.n + sizeof custom;
    a.lie = true;
    a.nresults = 0;
    mesh_job_id j6 = {{6}};
    tgw_lease(&a, a.task, &j6, 0, 5, "diff", 0);
    WAIT_FOR(a.nresults >= 5, 5000);
    CHECK_EQ(count_kind(&a, &j6, SWARM__TASK__RESULT_KIND__FAILED), 5);
    CHECK(strstr(a.results[0].error, "module unavailable") != NULL);
    CHECK(strstr(a.results[0].error, "do not match the hash") != NULL);
    CHECK_EQ(a.module_requests, 2);
    a.lie = false;
    a.nresults = 0;
    tgw_lease(&a, a.task, &j6, 5, 2, "diff", 0);
    WAIT_FOR(a.nresults >= 2, 5000);
    CHECK_EQ(count_kind(&a, &j6, SWARM__TASK__RESULT_KIND__VALUE), 2);
    CHECK_EQ(a.module_requests, 3);
    a.wasm = b.b;
    a.wasm_len = b.n;

    /* a frame that breaks the protocol (a length over the limit): the worker drops the stream,
     * says so, and comes back with a new one */
    int gone0 = seen.gone, conn0 = seen.connected;
    static const uint8_t huge[] = {0x80, 0x80, 0x80, 0x01}; /* 2 MiB */
    CHECK_EQ(p2p_stream_write(a.task, huge, sizeof huge), (ssize_t)sizeof huge);
    WAIT_FOR(seen.gone > gone0 && seen.connected > conn0 && a.task, 10000);
    CHECK_EQ(seen.gone, gone0 + 1);
    CHECK_EQ(seen.connected, conn0 + 1);
    a.hello = false;
    WAIT_FOR(a.hello, 2000);
    CHECK(a.hello);

    /* reconnect: the gateway goes away and comes back on the same address */
    char listen[200];
    snprintf(listen, sizeof listen, "%s", a.bare);
    tgw_stop(&a);
    int gone1 = seen.gone, conn1 = seen.connected;
    WAIT_FOR(seen.gone > gone1, 5000);
    CHECK_EQ(seen.gone, gone1 + 1);
    spin_for(300);
    CHECK_EQ(tgw_start(&a, listen, false), 0);
    WAIT_FOR(a.task && seen.connected > conn1, 15000);
    CHECK_EQ(seen.connected, conn1 + 1);
    CHECK(a.task != NULL);
    mesh_job_id j4 = {{4}};
    a.nresults = 0;
    a.module_requests = 0;
    WAIT_FOR(a.hello, 2000);
    tgw_lease(&a, a.task, &j4, 0, 3, "diff", 0);
    WAIT_FOR(a.nresults >= 3, 5000);
    CHECK_EQ(count_kind(&a, &j4, SWARM__TASK__RESULT_KIND__VALUE), 3);
    CHECK_EQ(a.results[0].value, -7);
    CHECK_EQ(a.module_requests, 0); /* still held */

    seen.closed = false;
    mesh_worker_close(w, on_wk_closed, &seen);
    WAIT_FOR(seen.closed, 5000);
    CHECK(seen.closed);
    bool wh_closed = false;
    p2p_host_close(wh, on_host_closed, &wh_closed);
    WAIT_FOR(wh_closed, 5000);
    tgw_stop(&a);
    tgw_stop(&u);
    wire_reader_free(&a.rd);
    wire_reader_free(&u.rd);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(loop), 0);
    unlink(path);
    rmdir(cache);
    return CHECK_DONE();
}
