/* mesh_net.h - a real mesh_gw on a p2p host and test workers made of a p2p host plus wire.c,
 * all on one libuv loop over real sockets on 127.0.0.1, for tests/unit/test_mesh_gw.c. A test
 * worker answers the leases it gets in the way its mode says (right, stalled, trapping, ...)
 * and keeps what it saw, so a test can forge results from what a real lease looked like.
 * Header-only; one loop per program (mn_loop); every wait is bounded (MN_WAIT_FOR). */
#ifndef SWARM_TEST_MESH_NET_H
#define SWARM_TEST_MESH_NET_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "mesh.h"
#include "wire.h"

static uv_loop_t *mn_loop;

#define MN_WAIT_FOR(cond, ms)                            \
    do {                                                 \
        uint64_t deadline_ = uv_now(mn_loop) + (ms);     \
        while (!(cond) && uv_now(mn_loop) < deadline_) { \
            uv_run(mn_loop, UV_RUN_NOWAIT);              \
            if (!(cond))                                 \
                uv_sleep(1);                             \
            uv_update_time(mn_loop);                     \
        }                                                \
    } while (0)

static inline void mn_spin(uint64_t ms)
{
    uint64_t deadline = uv_now(mn_loop) + ms;
    while (uv_now(mn_loop) < deadline) {
        uv_run(mn_loop, UV_RUN_NOWAIT);
        uv_sleep(1);
        uv_update_time(mn_loop);
    }
}

/* The module the tests run: execute(start, end) = end - start, (i32,i32)->i32. The test
 * workers do not run wasm: they answer what this module would. */
static const uint8_t mn_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f,
    0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x07, 0x0b, 0x01, 0x07, 'e',  'x',  'e',  'c',  'u',
    't',  'e',  0x00, 0x00, 0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x01, 0x20, 0x00, 0x6b, 0x0b};

typedef enum {
    MN_OK,    /* answers every lease at once with end - start */
    MN_STALL, /* never answers */
    MN_TRAP,  /* answers TRAP "out of fuel" */
    MN_FAIL,  /* answers FAILED */
    MN_HOLD,  /* keeps the leases; the test answers them (mn_answer_held) */
} mn_mode;

#define MN_MAX_LEASES 4096

typedef struct {
    mesh_job_id job;
    uint32_t shard, attempt;
    int64_t start, end;
} mn_lease;

typedef struct {
    p2p_host *h;
    p2p_key key;
    p2p_stream *s;
    wire_reader rd;
    bool open, gone, closed;
    uint32_t slots;
    mn_mode mode;
    mn_lease leases[MN_MAX_LEASES]; /* every lease received, in order */
    uint32_t nleases, cancels, answered;
    uint32_t *runs; /* optional: counts per shard computed (MN_OK answers), shared */
    uint32_t nruns;
} mn_worker;

/* ---- the gateway ------------------------------------------------------------------------- */

typedef struct {
    p2p_host *h;
    p2p_key key;
    mesh_gw *g;
    char addr[256];
    uint8_t hash[MESH_HASH_LEN];
    bool closed;
    int ends, shard_events, lease_events, node_events, peer_errors;
    mesh_job_status last_status;
    char last_error[256];
} mn_gateway;

static inline void mn_gw_event(mesh_gw *g, const mesh_gw_event *ev, void *user)
{
    (void)g;
    mn_gateway *m = user;
    switch (ev->type) {
    case MESH_GW_EV_JOB_END:
        m->ends++;
        m->last_status = ev->job->status;
        break;
    case MESH_GW_EV_SHARD:
        m->shard_events++;
        break;
    case MESH_GW_EV_LEASE:
        m->lease_events++;
        break;
    case MESH_GW_EV_NODE:
        m->node_events++;
        break;
    case MESH_GW_EV_PEER_ERROR:
        m->peer_errors++;
        snprintf(m->last_error, sizeof m->last_error, "%s", ev->message);
        break;
    }
}

static inline void mn_host_event(p2p_host *h, const p2p_event *ev, void *user)
{
    (void)h;
    mn_gateway *m = user;
    if (ev->type == P2P_EV_LISTENING && !m->addr[0]) {
        char a[200], id[P2P_PEER_ID_STRLEN];
        snprintf(m->addr, sizeof m->addr, "%s/p2p/%s", p2p_maddr_cstr(ev->addr, a, sizeof a),
                 p2p_peer_id_str(ev->peer, id));
    }
}

static inline p2p_host *mn_host(p2p_key *key, p2p_event_cb cb, void *user, const char *listen)
{
    char err[256];
    p2p_host *h;
    p2p_key_generate(key, err, sizeof err);
    p2p_host_config hc;
    p2p_host_config_default(&hc);
    hc.key = key;
    if (p2p_host_new(mn_loop, &hc, cb, user, &h, err, sizeof err) != 0 ||
        (listen && p2p_host_listen(h, listen, err, sizeof err) != 0)) {
        fprintf(stderr, "mn_host: %s\n", err);
        exit(1);
    }
    return h;
}

/* Starts a gateway with cfg's tuning (NULL: defaults) and the test module added. */
static inline void mn_gw_start(mn_gateway *m, const mesh_gw_config *tune)
{
    char err[256];
    memset(m, 0, sizeof *m);
    m->h = mn_host(&m->key, mn_host_event, m, "/ip4/127.0.0.1/tcp/0");
    mesh_gw_config c;
    if (tune)
        c = *tune;
    else
        mesh_gw_config_default(&c);
    c.host = m->h;
    c.loop = mn_loop;
    c.on_event = mn_gw_event;
    c.user = m;
    if (mesh_gw_new(&c, &m->g, err, sizeof err) != 0) {
        fprintf(stderr, "mesh_gw_new: %s\n", err);
        exit(1);
    }
    mesh_export ex[4];
    size_t nex;
    bool invalid;
    if (mesh_gw_add_module(m->g, mn_wasm, sizeof mn_wasm, m->hash, ex, 4, &nex, &invalid, err,
                           sizeof err) != 0) {
        fprintf(stderr, "add_module: %s\n", err);
        exit(1);
    }
}

static inline void mn_closed(void *user)
{
    *(bool *)user = true;
}

static inline void mn_gw_stop(mn_gateway *m)
{
    mesh_gw_free(m->g);
    p2p_host_close(m->h, mn_closed, &m->closed);
    MN_WAIT_FOR(m->closed, 5000);
}

/* ---- test workers ------------------------------------------------------------------------ */

static inline void mn_send(mn_worker *w, const Swarm__Task__TaskFrame *f)
{
    buf_t b;
    buf_init(&b, 0);
    if (wire_put_task(&b, f) == 0 && w->s)
        p2p_stream_write(w->s, b.data, b.len);
    buf_free(&b);
}

/* Sends one result. */
static inline void mn_result(mn_worker *w, const mesh_job_id *job, uint32_t shard, uint32_t attempt,
                             Swarm__Task__ResultKind kind, int64_t value, const char *error)
{
    Swarm__Task__Result r = SWARM__TASK__RESULT__INIT;
    r.has_job_id = r.has_shard = r.has_attempt = r.has_kind = 1;
    r.job_id.data = (uint8_t *)job->b;
    r.job_id.len = MESH_JOB_ID_LEN;
    r.shard = shard;
    r.attempt = attempt;
    r.kind = kind;
    r.has_value = kind == SWARM__TASK__RESULT_KIND__VALUE;
    r.value = value;
    r.error = (char *)error;
    r.has_fuel_used = 1;
    r.fuel_used = 10;
    Swarm__Task__Result *rp = &r;
    Swarm__Task__TaskFrame f = SWARM__TASK__TASK_FRAME__INIT;
    f.n_results = 1;
    f.results = &rp;
    mn_send(w, &f);
}

static inline void mn_answer(mn_worker *w, const mn_lease *l)
{
    w->answered++;
    switch (w->mode) {
    case MN_OK:
        if (w->runs && l->shard < w->nruns)
            w->runs[l->shard]++;
        mn_result(w, &l->job, l->shard, l->attempt, SWARM__TASK__RESULT_KIND__VALUE,
                  l->end - l->start, NULL);
        break;
    case MN_TRAP:
        mn_result(w, &l->job, l->shard, l->attempt, SWARM__TASK__RESULT_KIND__TRAP, 0,
                  "out of fuel");
        break;
    case MN_FAIL:
        mn_result(w, &l->job, l->shard, l->attempt, SWARM__TASK__RESULT_KIND__FAILED, 0,
                  "no memory");
        break;
    default:
        w->answered--;
        break;
    }
}

static inline void mn_w_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    (void)s;
    mn_worker *w = user;
    char err[256];
    if (wire_reader_feed(&w->rd, p, n, err, sizeof err) < 0)
        return;
    const uint8_t *body;
    size_t len;
    while (wire_reader_next(&w->rd, &body, &len, err, sizeof err) == 1) {
        Swarm__Task__TaskFrame *f = wire_decode_task(body, len, err, sizeof err);
        if (!f) {
            fprintf(stderr, "test worker: %s\n", err);
            continue;
        }
        for (size_t i = 0; i < f->n_leases; i++) {
            const Swarm__Task__Lease *l = f->leases[i];
            if (w->nleases == MN_MAX_LEASES)
                break;
            mn_lease *ml = &w->leases[w->nleases++];
            memcpy(ml->job.b, l->job_id.data, MESH_JOB_ID_LEN);
            ml->shard = l->shard;
            ml->attempt = l->attempt;
            ml->start = l->start;
            ml->end = l->end;
            mn_answer(w, ml);
        }
        w->cancels += (uint32_t)f->n_cancels;
        swarm__task__task_frame__free_unpacked(f, NULL);
    }
}

static inline void mn_w_close(p2p_stream *s, const char *reason, void *user)
{
    (void)s;
    (void)reason;
    mn_worker *w = user;
    w->s = NULL;
    w->gone = true;
}

static inline void mn_hello(mn_worker *w, uint32_t slots)
{
    Swarm__Task__Hello h = SWARM__TASK__HELLO__INIT;
    h.has_slots = 1;
    h.slots = slots;
    h.label = "test";
    h.agent = "mesh_net";
    Swarm__Task__TaskFrame f = SWARM__TASK__TASK_FRAME__INIT;
    f.hello = &h;
    mn_send(w, &f);
}

static inline void mn_w_opened(p2p_stream *s, const char *err, void *user)
{
    mn_worker *w = user;
    if (!s) {
        fprintf(stderr, "test worker: open: %s\n", err);
        w->gone = true;
        return;
    }
    static const p2p_stream_cbs cbs = {mn_w_data, NULL, NULL, mn_w_close};
    p2p_stream_set_cbs(s, &cbs, w);
    w->s = s;
    w->open = true;
    mn_hello(w, w->slots);
}

static inline void mn_w_dialed(p2p_host *h, int status, const p2p_peer_id *peer, const char *err,
                               void *user)
{
    mn_worker *w = user;
    char e[256];
    if (status != 0 ||
        p2p_host_open_stream(h, peer, MESH_PROTO_TASK, mn_w_opened, w, e, sizeof e) != 0) {
        fprintf(stderr, "test worker: dial: %s\n", status ? err : e);
        w->gone = true;
    }
}

/* Starts a worker with slots that dials the gateway and says Hello; waits until it is open. */
static inline int mn_worker_start(mn_worker *w, mn_gateway *m, uint32_t slots, mn_mode mode)
{
    char err[256];
    memset(w, 0, sizeof *w);
    w->slots = slots;
    w->mode = mode;
    wire_reader_init(&w->rd, WIRE_TASK_FRAME_MAX);
    w->h = mn_host(&w->key, NULL, NULL, NULL);
    if (p2p_host_dial(w->h, m->addr, mn_w_dialed, w, err, sizeof err) != 0)
        return -1;
    MN_WAIT_FOR(w->open || w->gone, 5000);
    return w->open ? 0 : -1;
}

/* Answers the leases a MN_HOLD worker kept (from index from on) as MN_OK would. */
static inline void mn_answer_held(mn_worker *w, uint32_t from)
{
    mn_mode m = w->mode;
    w->mode = MN_OK;
    for (uint32_t i = from; i < w->nleases; i++)
        mn_answer(w, &w->leases[i]);
    w->mode = m;
}

/* Closes the worker's host (its connection drops). */
static inline void mn_worker_stop(mn_worker *w)
{
    if (w->h) {
        p2p_host_close(w->h, mn_closed, &w->closed);
        MN_WAIT_FOR(w->closed, 5000);
        w->h = NULL;
    }
    wire_reader_free(&w->rd);
}

/* Waits for a job to end; returns its info. */
static inline bool mn_wait_job(mn_gateway *m, const mesh_job_id *id, uint64_t ms,
                               mesh_job_info *info)
{
    MN_WAIT_FOR(mesh_gw_job(m->g, id, info) && info->status != MESH_JOB_RUNNING, ms);
    return mesh_gw_job(m->g, id, info) && info->status != MESH_JOB_RUNNING;
}

/* Checks and starts a job over [start, end) with shards (0: default) and a deadline. */
static inline int mn_job(mn_gateway *m, uint8_t idbyte, int64_t start, int64_t end, uint32_t shards,
                         uint64_t deadline_ms, mesh_reduce op, mesh_job_id *id)
{
    char err[256];
    mesh_job_spec spec;
    memset(&spec, 0, sizeof spec);
    memcpy(spec.module, m->hash, MESH_HASH_LEN);
    spec.start = start;
    spec.end = end;
    spec.shards = shards;
    spec.deadline_ms = deadline_ms;
    spec.reduce = op;
    memset(id->b, idbyte, MESH_JOB_ID_LEN);
    if (mesh_gw_check_job(m->g, &spec, err, sizeof err) != 0 ||
        mesh_gw_start_job(m->g, id, &spec, clock_wall_ms(), NULL, 0, err, sizeof err) != 0) {
        fprintf(stderr, "job: %s\n", err);
        return -1;
    }
    return 0;
}

#endif
