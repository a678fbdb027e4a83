/* test_mesh_gw.c - a real mesh_gw on a p2p host, with test workers (p2p hosts plus wire.c) on
 * the same loop over loopback sockets: jobs end to end, forged and duplicate results, stalls
 * and quarantine, lost workers, traps, cancel, deadlines, and the module protocol. */
#include <signal.h>

#include "check.h"
#include "gw_sched.h"
#include "mesh_net.h"

/* Two workers, 40 shards: the right sum, every worker got shards, none computed twice. */
static void test_end_to_end(void)
{
    mn_gateway m;
    mn_gw_start(&m, NULL);
    uint32_t runs[40] = {0};
    mn_worker a, b;
    CHECK(mn_worker_start(&a, &m, 2, MN_OK) == 0);
    CHECK(mn_worker_start(&b, &m, 2, MN_OK) == 0);
    a.runs = b.runs = runs;
    a.nruns = b.nruns = 40;
    MN_WAIT_FOR(mesh_gw_nodes(m.g, NULL, 0) == 2, 2000);
    mesh_job_id id;
    CHECK(mn_job(&m, 1, 0, 1000, 40, 5000, MESH_REDUCE_SUM, &id) == 0);
    mesh_job_info info;
    CHECK(mn_wait_job(&m, &id, 5000, &info));
    CHECK_EQ(info.status, MESH_JOB_DONE);
    CHECK_EQ(info.value, 1000);
    CHECK_EQ(info.done, 40);
    CHECK_EQ(info.duplicates, 0);
    CHECK_EQ(info.dropped, 0);
    CHECK_EQ(info.retries, 0);
    CHECK(a.answered > 0 && b.answered > 0);
    for (int i = 0; i < 40; i++)
        CHECK_EQ(runs[i], 1);
    mesh_job_worker ws[4];
    CHECK_EQ(mesh_gw_job_workers(m.g, &id, ws, 4), 2);
    CHECK_EQ(ws[0].shards + ws[1].shards, 40);
    CHECK_EQ(m.shard_events, 40);
    CHECK_EQ(m.ends, 1);
    mesh_shard_info si;
    CHECK(mesh_gw_job_shard(m.g, &id, 39, &si));
    CHECK_EQ(si.state, MESH_SHARD_DONE);
    CHECK_EQ(si.lo, 975);
    CHECK_EQ(si.hi, 1000);
    CHECK_EQ(si.value, 25);
    CHECK_EQ(si.attempts, 1);
    mesh_gw_stats st;
    mesh_gw_get_stats(m.g, &st);
    CHECK_EQ(st.jobs_done, 1);
    CHECK_EQ(st.leases, 40);
    CHECK_EQ(st.workers_healthy, 2);
    CHECK_EQ(st.slots_total, 4);
    mesh_gw_forget_job(m.g, &id);
    CHECK(!mesh_gw_job(m.g, &id, &info));
    mn_worker_stop(&a);
    mn_worker_stop(&b);
    mn_gw_stop(&m);
}

/* Results that are forged, duplicated or from a peer that never held the lease change
 * nothing but the counters. */
static void test_forged(void)
{
    mn_gateway m;
    mn_gw_start(&m, NULL);
    mn_worker a, b;
    CHECK(mn_worker_start(&a, &m, 1, MN_HOLD) == 0);
    MN_WAIT_FOR(mesh_gw_nodes(m.g, NULL, 0) == 1, 2000);
    mesh_job_id id, other;
    CHECK(mn_job(&m, 2, 0, 100, 2, 5000, MESH_REDUCE_SUM, &id) == 0);
    MN_WAIT_FOR(a.nleases == 2, 2000); /* one per slot, pipelined twice */
    CHECK_EQ(a.nleases, 2);
    CHECK(mn_worker_start(&b, &m, 1, MN_OK) == 0); /* joins with nothing left to lease */
    MN_WAIT_FOR(mesh_gw_nodes(m.g, NULL, 0) == 2, 2000);
    memset(other.b, 0x77, sizeof other.b);
    const mn_lease *l0 = &a.leases[0];
    mn_result(&a, &other, 0, 1, SWARM__TASK__RESULT_KIND__VALUE, 1000000, NULL); /* no job */
    mn_result(&a, &id, l0->shard, 7, SWARM__TASK__RESULT_KIND__VALUE, 1000000, NULL);
    mn_result(&a, &id, 99, 1, SWARM__TASK__RESULT_KIND__VALUE, 1000000, NULL); /* range */
    mn_result(&b, &id, l0->shard, l0->attempt, SWARM__TASK__RESULT_KIND__VALUE, 1000000,
              NULL); /* b never held it */
    mn_result(&b, &id, l0->shard, l0->attempt, SWARM__TASK__RESULT_KIND__TRAP, 0, "forged");
    mn_spin(100);
    mesh_job_info info;
    CHECK(mesh_gw_job(m.g, &id, &info));
    CHECK_EQ(info.status, MESH_JOB_RUNNING);
    CHECK_EQ(info.done, 0);
    CHECK_EQ(info.trapped, 0);
    CHECK_EQ(info.dropped, 4);
    mn_answer_held(&a, 0);
    mn_answer_held(&a, 0); /* every result twice */
    CHECK(mn_wait_job(&m, &id, 3000, &info));
    CHECK_EQ(info.status, MESH_JOB_DONE);
    CHECK_EQ(info.value, 100);
    mn_spin(50);
    CHECK(mesh_gw_job(m.g, &id, &info));
    CHECK_EQ(info.duplicates, 2);
    CHECK_EQ(info.dropped, 4);
    mesh_gw_stats st;
    mesh_gw_get_stats(m.g, &st);
    CHECK_EQ(st.dropped, 5);
    CHECK_EQ(st.duplicates, 2);
    mn_worker_stop(&a);
    mn_worker_stop(&b);
    mn_gw_stop(&m);
}

/* The state of the only node. */
static mesh_node_info one_node(mn_gateway *m)
{
    mesh_node_info n;
    memset(&n, 0, sizeof n);
    mesh_gw_nodes(m->g, &n, 1);
    return n;
}

/* A stalling worker: strikes, quarantine, a doubled quarantine on relapse, and work again
 * once it behaves after the back-off. */
static void test_stall_quarantine(void)
{
    mesh_gw_config c;
    mesh_gw_config_default(&c);
    c.strike_limit = 2;
    c.quarantine_ms = 300;
    c.lease_ms = 150;
    mn_gateway m;
    mn_gw_start(&m, &c);
    mn_worker w;
    CHECK(mn_worker_start(&w, &m, 1, MN_STALL) == 0);
    MN_WAIT_FOR(mesh_gw_nodes(m.g, NULL, 0) == 1, 2000);
    mesh_job_id id;
    CHECK(mn_job(&m, 3, 0, 40, 4, 1500, MESH_REDUCE_SUM, &id) == 0);
    MN_WAIT_FOR(one_node(&m).state == MESH_NODE_QUARANTINED, 2000);
    mesh_node_info n = one_node(&m);
    CHECK_EQ(n.state, MESH_NODE_QUARANTINED);
    CHECK_EQ(n.quarantines, 1);
    CHECK(n.quarantine_left_ms <= 300);
    MN_WAIT_FOR(one_node(&m).quarantines == 2, 3000); /* released, leased again, stalled */
    n = one_node(&m);
    CHECK_EQ(n.quarantines, 2);
    CHECK(n.quarantine_left_ms > 300); /* doubled: 600 ms */
    CHECK_EQ(w.nleases, 4);            /* the retries never went back to it */
    mesh_job_info info;
    CHECK(mn_wait_job(&m, &id, 3000, &info));
    CHECK_EQ(info.status, MESH_JOB_TIMEOUT);
    CHECK_EQ(info.missing, 4);
    w.mode = MN_OK;
    MN_WAIT_FOR(one_node(&m).state == MESH_NODE_HEALTHY, 3000);
    n = one_node(&m);
    CHECK_EQ(n.state, MESH_NODE_HEALTHY);
    CHECK_EQ(n.strikes, 0);
    CHECK(mn_job(&m, 4, 0, 40, 4, 3000, MESH_REDUCE_SUM, &id) == 0);
    CHECK(mn_wait_job(&m, &id, 3000, &info));
    CHECK_EQ(info.status, MESH_JOB_DONE);
    CHECK_EQ(info.value, 40);
    mesh_gw_stats st;
    mesh_gw_get_stats(m.g, &st);
    CHECK_EQ(st.quarantines, 2);
    CHECK_EQ(st.expired, 4);
    CHECK(m.node_events >= 5); /* joined, quarantined, released, quarantined, released */
    mn_worker_stop(&w);
    mn_gw_stop(&m);
}

/* No workers: 504 at the deadline, every shard missing. */
static void test_no_workers(void)
{
    mn_gateway m;
    mn_gw_start(&m, NULL);
    mesh_job_id id;
    CHECK(mn_job(&m, 5, 0, 10, 0, 200, MESH_REDUCE_SUM, &id) == 0);
    mesh_job_info info;
    CHECK(mesh_gw_job(m.g, &id, &info));
    CHECK_EQ(info.total, SCHED_SHARDS_NO_WORKER);
    CHECK(mn_wait_job(&m, &id, 2000, &info));
    CHECK_EQ(info.status, MESH_JOB_TIMEOUT);
    CHECK_EQ(info.missing, info.total);
    CHECK(!info.has_value);
    CHECK(info.elapsed_ms >= 200);
    mesh_shard_info si;
    CHECK(mesh_gw_job_shard(m.g, &id, 0, &si));
    CHECK_EQ(si.state, MESH_SHARD_MISSING);
    mn_gw_stop(&m);
}

/* A worker that disconnects holding leases: they go to the other worker, the job is DONE. */
static void test_disconnect(void)
{
    mn_gateway m;
    mn_gw_start(&m, NULL);
    mn_worker a, b;
    CHECK(mn_worker_start(&a, &m, 1, MN_HOLD) == 0);
    CHECK(mn_worker_start(&b, &m, 1, MN_OK) == 0);
    MN_WAIT_FOR(mesh_gw_nodes(m.g, NULL, 0) == 2, 2000);
    mesh_job_id id;
    CHECK(mn_job(&m, 6, -50, 50, 4, 5000, MESH_REDUCE_SUM, &id) == 0);
    MN_WAIT_FOR(a.nleases == 2, 2000);
    CHECK_EQ(a.nleases, 2);
    mn_worker_stop(&a);
    mesh_job_info info;
    CHECK(mn_wait_job(&m, &id, 3000, &info));
    CHECK_EQ(info.status, MESH_JOB_DONE);
    CHECK_EQ(info.value, 100);
    CHECK_EQ(info.retries, 2);
    CHECK_EQ(b.answered, 4);
    mesh_node_info ns[2];
    CHECK_EQ(mesh_gw_nodes(m.g, ns, 2), 2);
    int gone = ns[0].state == MESH_NODE_GONE ? 0 : 1;
    CHECK_EQ(ns[gone].state, MESH_NODE_GONE);
    CHECK_EQ(ns[gone].strikes, 1);
    CHECK_EQ(ns[1 - gone].state, MESH_NODE_HEALTHY);
    mn_worker_stop(&b);
    mn_gw_stop(&m);
}

/* A trap is the shard's result: FAILED, not retried, the worker not struck. */
static void test_trap(void)
{
    mn_gateway m;
    mn_gw_start(&m, NULL);
    mn_worker a, b;
    CHECK(mn_worker_start(&a, &m, 2, MN_TRAP) == 0);
    CHECK(mn_worker_start(&b, &m, 2, MN_TRAP) == 0);
    MN_WAIT_FOR(mesh_gw_nodes(m.g, NULL, 0) == 2, 2000);
    mesh_job_id id;
    CHECK(mn_job(&m, 7, 0, 30, 3, 5000, MESH_REDUCE_SUM, &id) == 0);
    mesh_job_info info;
    CHECK(mn_wait_job(&m, &id, 3000, &info));
    CHECK_EQ(info.status, MESH_JOB_FAILED);
    CHECK_EQ(mesh_job_status_http(info.status), 422);
    CHECK_EQ(info.trapped, 3);
    CHECK_EQ(info.retries, 0);
    CHECK_EQ(a.answered + b.answered, 3);
    mesh_shard_info si;
    CHECK(mesh_gw_job_shard(m.g, &id, 1, &si));
    CHECK_EQ(si.state, MESH_SHARD_TRAPPED);
    CHECK_STR_EQ(si.error, "out of fuel");
    CHECK_EQ(si.lo, 10);
    CHECK_EQ(si.hi, 20);
    mesh_node_info ns[2];
    CHECK_EQ(mesh_gw_nodes(m.g, ns, 2), 2);
    CHECK_EQ(ns[0].strikes + ns[1].strikes, 0);
    mn_worker_stop(&a);
    mn_worker_stop(&b);
    mn_gw_stop(&m);
}

/* Cancel: the job ends CANCELLED and the worker is told. */
static void test_cancel(void)
{
    mn_gateway m;
    mn_gw_start(&m, NULL);
    mn_worker a;
    CHECK(mn_worker_start(&a, &m, 1, MN_HOLD) == 0);
    MN_WAIT_FOR(mesh_gw_nodes(m.g, NULL, 0) == 1, 2000);
    mesh_job_id id;
    char err[128];
    CHECK(mn_job(&m, 8, 0, 10, 5, 5000, MESH_REDUCE_SUM, &id) == 0);
    MN_WAIT_FOR(a.nleases == 2, 2000);
    CHECK(mesh_gw_cancel_job(m.g, &id, err, sizeof err) == 0);
    mesh_job_info info;
    CHECK(mesh_gw_job(m.g, &id, &info));
    CHECK_EQ(info.status, MESH_JOB_CANCELLED);
    CHECK_EQ(info.missing, 5);
    MN_WAIT_FOR(a.cancels == 1, 2000);
    CHECK_EQ(a.cancels, 1);
    CHECK(mesh_gw_cancel_job(m.g, &id, err, sizeof err) == -1);
    CHECK(strstr(err, "ended") != NULL);
    mn_answer_held(&a, 0); /* too late: counted as dropped, the outcome stays */
    mn_spin(50);
    CHECK(mesh_gw_job(m.g, &id, &info));
    CHECK_EQ(info.status, MESH_JOB_CANCELLED);
    CHECK_EQ(info.done, 0);
    CHECK_EQ(info.dropped, 2);
    CHECK_EQ(one_node(&m).leased, 0);
    mn_worker_stop(&a);
    mn_gw_stop(&m);
}

/* The deadline with some values: PARTIAL with exactly the shards that are missing. */
static void test_partial(void)
{
    mn_gateway m;
    mn_gw_start(&m, NULL);
    mn_worker a;
    CHECK(mn_worker_start(&a, &m, 1, MN_HOLD) == 0);
    MN_WAIT_FOR(mesh_gw_nodes(m.g, NULL, 0) == 1, 2000);
    mesh_job_id id;
    CHECK(mn_job(&m, 9, 0, 8, 4, 400, MESH_REDUCE_MAX, &id) == 0);
    MN_WAIT_FOR(a.nleases == 2, 2000);
    a.mode = MN_OK;
    mn_answer(&a, &a.leases[0]);
    a.mode = MN_HOLD;
    mesh_job_info info;
    CHECK(mn_wait_job(&m, &id, 2000, &info));
    CHECK_EQ(info.status, MESH_JOB_PARTIAL);
    CHECK_EQ(info.done, 1);
    CHECK_EQ(info.missing, 3);
    CHECK_EQ(info.value, 2);
    for (uint32_t i = 0; i < 4; i++) {
        mesh_shard_info si;
        CHECK(mesh_gw_job_shard(m.g, &id, i, &si));
        CHECK_EQ(si.state, i == a.leases[0].shard ? MESH_SHARD_DONE : MESH_SHARD_MISSING);
    }
    mn_worker_stop(&a);
    mn_gw_stop(&m);
}

/* A stream that breaks the protocol is reset, the worker struck, the error reported. */
static void test_bad_frame(void)
{
    mn_gateway m;
    mn_gw_start(&m, NULL);
    mn_worker a;
    CHECK(mn_worker_start(&a, &m, 1, MN_OK) == 0);
    MN_WAIT_FOR(mesh_gw_nodes(m.g, NULL, 0) == 1, 2000);
    static const uint8_t junk[] = {0x05, 0xff, 0xff, 0xff, 0xff, 0xff};
    p2p_stream_write(a.s, junk, sizeof junk);
    MN_WAIT_FOR(a.gone, 2000);
    CHECK(a.gone);
    CHECK_EQ(m.peer_errors, 1);
    CHECK(strstr(m.last_error, "TaskFrame") != NULL);
    mesh_node_info n = one_node(&m);
    CHECK_EQ(n.state, MESH_NODE_GONE);
    CHECK_EQ(n.strikes, 1);
    mesh_gw_stats st;
    mesh_gw_get_stats(m.g, &st);
    CHECK_EQ(st.bad_frames, 1);
    mn_worker_stop(&a);
    mn_gw_stop(&m);
}

/* ---- the module protocol ----------------------------------------------------------------- */

typedef struct {
    p2p_stream *s;
    wire_reader rd;
    Swarm__Module__ModuleResponse *resp;
    bool closed, bad;
    char reason[128];
} fetch;

static void f_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    (void)s;
    fetch *f = user;
    char err[128];
    const uint8_t *body;
    size_t len;
    if (wire_reader_feed(&f->rd, p, n, err, sizeof err) < 0) {
        f->bad = true;
        return;
    }
    if (!f->resp && wire_reader_next(&f->rd, &body, &len, err, sizeof err) == 1) {
        f->resp = wire_decode_module_response(body, len, err, sizeof err);
        f->bad = !f->resp;
    }
}

static void f_eof(p2p_stream *s, void *user)
{
    (void)user;
    p2p_stream_close_write(s);
}

static void f_close(p2p_stream *s, const char *reason, void *user)
{
    (void)s;
    fetch *f = user;
    f->closed = true;
    f->s = NULL;
    snprintf(f->reason, sizeof f->reason, "%s", reason ? reason : "");
}

static void f_opened(p2p_stream *s, const char *err, void *user)
{
    (void)err;
    fetch *f = user;
    static const p2p_stream_cbs cbs = {f_data, f_eof, NULL, f_close};
    if (!s) {
        f->closed = true;
        return;
    }
    p2p_stream_set_cbs(s, &cbs, f);
    f->s = s;
}

/* Opens a module stream from w's host to the gateway and sends raw bytes on it. */
static void fetch_raw(mn_worker *w, mn_gateway *m, fetch *f, const uint8_t *p, size_t n)
{
    char err[128];
    memset(f, 0, sizeof *f);
    wire_reader_init(&f->rd, WIRE_MODULE_FRAME_MAX);
    CHECK(p2p_host_open_stream(w->h, p2p_host_id(m->h), MESH_PROTO_MODULE, f_opened, f, err,
                               sizeof err) == 0);
    MN_WAIT_FOR(f->s || f->closed, 2000);
    if (f->s)
        p2p_stream_write(f->s, p, n);
    MN_WAIT_FOR(f->closed, 10000);
}

static void fetch_hash(mn_worker *w, mn_gateway *m, fetch *f, const uint8_t *hash)
{
    Swarm__Module__ModuleRequest r = SWARM__MODULE__MODULE_REQUEST__INIT;
    r.has_hash = 1;
    r.hash.data = (uint8_t *)hash;
    r.hash.len = MESH_HASH_LEN;
    buf_t b;
    buf_init(&b, 0);
    CHECK(wire_put_module_request(&b, &r) == 0);
    fetch_raw(w, m, f, b.data, b.len);
    buf_free(&b);
}

static void fetch_done(fetch *f)
{
    if (f->resp)
        swarm__module__module_response__free_unpacked(f->resp, NULL);
    wire_reader_free(&f->rd);
}

/* A valid module of exactly len bytes: mn_wasm plus a custom section of padding. */
static uint8_t *big_module(size_t len)
{
    uint8_t *p = calloc(1, len);
    memcpy(p, mn_wasm, sizeof mn_wasm);
    size_t at = sizeof mn_wasm;
    size_t content = len - at - 1 - 4; /* id, a 4-byte uleb size */
    p[at++] = 0;
    for (int i = 0; i < 4; i++)
        p[at++] = (uint8_t)(((content >> (7 * i)) & 0x7f) | (i < 3 ? 0x80 : 0));
    p[at++] = 3;
    memcpy(p + at, "pad", 3);
    for (size_t i = at + 3; i < len; i++)
        p[i] = (uint8_t)i;
    return p;
}

static void test_module_protocol(void)
{
    mn_gateway m;
    mn_gw_start(&m, NULL);
    mn_worker w;
    CHECK(mn_worker_start(&w, &m, 1, MN_OK) == 0);
    fetch f;
    fetch_hash(&w, &m, &f, m.hash);
    CHECK(f.resp != NULL);
    CHECK(f.resp && f.resp->has_wasm && f.resp->wasm.len == sizeof mn_wasm &&
          memcmp(f.resp->wasm.data, mn_wasm, sizeof mn_wasm) == 0);
    fetch_done(&f);

    uint8_t unknown[MESH_HASH_LEN];
    memset(unknown, 0xab, sizeof unknown);
    fetch_hash(&w, &m, &f, unknown);
    CHECK(f.resp && !f.resp->has_wasm && f.resp->error &&
          strcmp(f.resp->error, "unknown module") == 0);
    fetch_done(&f);

    size_t big = MESH_MODULE_MAX;
    uint8_t *wasm = big_module(big);
    uint8_t hash[MESH_HASH_LEN];
    mesh_export ex[2];
    size_t nex = 0;
    bool invalid = true;
    char err[256];
    CHECK(mesh_gw_add_module(m.g, wasm, big, hash, ex, 2, &nex, &invalid, err, sizeof err) == 0);
    CHECK(!invalid);
    CHECK_EQ(nex, 1);
    CHECK_STR_EQ(ex[0].name, "execute");
    CHECK_STR_EQ(ex[0].abi, "i32");
    CHECK(mesh_gw_add_module(m.g, wasm, big + 1, hash, ex, 2, &nex, &invalid, err, sizeof err) ==
          -1); /* over 16 MiB */
    fetch_hash(&w, &m, &f, hash);
    CHECK(f.resp && f.resp->has_wasm && f.resp->wasm.len == big &&
          memcmp(f.resp->wasm.data, wasm, big) == 0);
    fetch_done(&f);
    free(wasm);

    static const uint8_t junk[] = {0x03, 0x0a, 0x01, 0x00}; /* a hash of 1 byte */
    int errors = m.peer_errors;
    fetch_raw(&w, &m, &f, junk, sizeof junk);
    CHECK(f.closed && !f.resp);
    CHECK(f.reason[0] != '\0'); /* reset, not closed */
    CHECK_EQ(m.peer_errors, errors + 1);
    fetch_done(&f);

    static const uint8_t bad[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x0a};
    CHECK(mesh_gw_add_module(m.g, bad, sizeof bad, hash, ex, 2, &nex, &invalid, err, sizeof err) ==
          -1);
    CHECK(invalid);
    mesh_gw_stats st;
    mesh_gw_get_stats(m.g, &st);
    CHECK_EQ(st.modules_served, 2);
    CHECK_EQ(st.module_bytes_served, sizeof mn_wasm + big);
    mn_worker_stop(&w);
    mn_gw_stop(&m);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* a peer that closed must not kill the test */
    uv_loop_t loop;
    uv_loop_init(&loop);
    mn_loop = &loop;
    test_end_to_end();
    test_forged();
    test_stall_quarantine();
    test_no_workers();
    test_disconnect();
    test_trap();
    test_cancel();
    test_partial();
    test_bad_frame();
    test_module_protocol();
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(uv_loop_close(&loop) == 0);
    return CHECK_DONE();
}
