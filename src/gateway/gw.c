/* gw.c - the gateway's life cycle (gateway.h): store, mesh and HTTP server together, the
 * mesh's events into the store and to waiting requests, and the jobs a restart resumes. */
#include <assert.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "gw_internal.h"
#include "jobdoc.h"

void gw_config_default(gw_config *c)
{
    memset(c, 0, sizeof *c);
    c->http = "127.0.0.1:3000";
    c->mesh = "default";
    c->max_body = 24u << 20;
    mesh_gw_config_default(&c->mesh_cfg);
}

void gw_log(const gw *g, const char *fmt, ...)
{
    if (g->cfg.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("gateway: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- the mesh's events -------------------------------------------------------------------- */

static void log_store_error(gw *g, const char *err)
{
    /* a full disk would print this for every batch: the count is in /metrics */
    if (g->store_errors_logged++ < 10)
        gw_log(g, "store: %s", err);
}

static void answer_waiters(gw *g, const mesh_job_id *id)
{
    gw_waiter **pp = &g->waiters;
    while (*pp) {
        gw_waiter *w = *pp;
        if (memcmp(w->id.b, id->b, sizeof id->b) != 0) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        buf_t b;
        buf_init(&b, 0);
        int status;
        char err[256];
        gw_req_on_close(w->req, NULL, NULL);
        if (gw_job_document(g, id, w->deploy, &b, &status, err, sizeof err) != 0) {
            buf_free(&b);
            gw_answer_error(g, w->req, 500, err);
        } else {
            gw_answer(g, w->req, status, &b, NULL);
        }
        free(w);
    }
}

static void on_job_end(gw *g, const mesh_job_info *j)
{
    char id[2 * MESH_JOB_ID_LEN + 1], err[256];
    mesh_job_id_str(&j->id, id);
    if (j->spec.reduce == MESH_REDUCE_COLLECT || !j->has_value)
        gw_log(g, "job %s %s: %" PRIu32 "/%" PRIu32 " shards, %" PRIu32 " failed, %" PRIu64 " ms",
               id, mesh_job_status_name(j->status), j->done, j->total, j->trapped, j->elapsed_ms);
    else
        gw_log(g,
               "job %s %s: value %" PRId64 ", %" PRIu32 "/%" PRIu32 " shards, %" PRIu32
               " failed, %" PRIu64 " ms",
               id, mesh_job_status_name(j->status), j->value, j->done, j->total, j->trapped,
               j->elapsed_ms);
    uint64_t ended_ms = clock_wall_ms();
    bool stored = gw_store_end_job(g->store, j, ended_ms, err, sizeof err) == 0;
    gw_events_job_ended(g->events, j, ended_ms);
    if (!stored)
        log_store_error(g, err);
    answer_waiters(g, &j->id);
    /* the store answers for it from now on; if it could not take it, memory still does */
    if (stored) {
        g->trim_pending |= j->total >= 1024;
        mesh_gw_forget_job(g->mesh, &j->id);
    }
}

static void on_mesh_event(mesh_gw *m, const mesh_gw_event *ev, void *user)
{
    (void)m;
    gw *g = user;
    char err[256], peer[P2P_PEER_ID_STRLEN];
    switch (ev->type) {
    case MESH_GW_EV_SHARD:
        if (gw_store_add_result(g->store, &ev->job->id, ev->shard, ev->info, err, sizeof err) < 0)
            log_store_error(g, err);
        gw_events_shard(g->events, ev->job, ev->shard, ev->info->state, ev->peer, ev->info);
        break;
    case MESH_GW_EV_JOB_END:
        on_job_end(g, ev->job);
        break;
    case MESH_GW_EV_NODE: {
        mesh_node_info nodes[256];
        size_t n = mesh_gw_nodes(g->mesh, nodes, 256);
        p2p_peer_id_str(ev->peer, peer);
        const char *state = "changed";
        for (size_t i = 0; i < n && i < 256; i++)
            if (p2p_peer_id_eq(&nodes[i].peer, ev->peer))
                state = mesh_node_state_name(nodes[i].state);
        gw_log(g, "node %s %s", peer, state);
        gw_events_node(g->events, ev->peer);
        break;
    }
    case MESH_GW_EV_PEER_ERROR:
        p2p_peer_id_str(ev->peer, peer);
        gw_log(g, "node %s broke the protocol: %s", peer, ev->message ? ev->message : "?");
        break;
    case MESH_GW_EV_LEASE:
        gw_events_shard(g->events, ev->job, ev->shard, MESH_SHARD_LEASED, ev->peer, NULL);
        break;
    }
}

static void on_flush(uv_timer_t *t)
{
    gw *g = t->data;
    char err[256];
    if (gw_store_flush(g->store, err, sizeof err) < 0)
        log_store_error(g, err);
#ifdef __GLIBC__
    /* A big job's shard state, freed by the mesh at the end of the loop turn that ended it,
     * stays in glibc's heap in pieces: without a trim an idle gateway would stay megabytes
     * above its resting size (bench/mesh.sh, (d)). */
    if (g->trim_pending)
        malloc_trim(0);
#endif
    g->trim_pending = false;
}

/* ---- job documents ------------------------------------------------------------------------ */

typedef struct {
    const mesh_gw *mesh;
    const mesh_job_id *id;
} mesh_shards;

static bool shard_from_mesh(void *ctx, uint32_t i, mesh_shard_info *out)
{
    mesh_shards *c = ctx;
    return mesh_gw_job_shard(c->mesh, c->id, i, out);
}

/* Stored results in shard order, with a look-ahead row: a shard without a row has no result. */
typedef struct {
    const gw_job_row *row;
    gw_store_cursor *cur;
    bool have, failed;
    uint32_t next_shard;
    mesh_shard_info next;
} store_shards;

static bool shard_from_store(void *ctx, uint32_t i, mesh_shard_info *out)
{
    store_shards *c = ctx;
    char err[128];
    while (c->have && c->next_shard < i) {
        int rc = gw_store_next(c->cur, &c->next_shard, &c->next, err, sizeof err);
        c->have = rc == 1;
        if (rc < 0) {
            c->failed = true;
            return false;
        }
    }
    if (c->have && c->next_shard == i) {
        *out = c->next;
        int rc = gw_store_next(c->cur, &c->next_shard, &c->next, err, sizeof err);
        c->have = rc == 1;
        c->failed = rc < 0;
        return rc >= 0;
    }
    memset(out, 0, sizeof *out);
    mesh_shard_range(c->row->info.spec.start, c->row->info.spec.end, c->row->info.total, i,
                     &out->lo, &out->hi);
    out->state = c->row->info.status == MESH_JOB_RUNNING ? MESH_SHARD_QUEUED : MESH_SHARD_MISSING;
    return true;
}

int gw_job_document(gw *g, const mesh_job_id *id, bool deploy, buf_t *b, int *status, char *err,
                    size_t errlen)
{
    mesh_job_info info;
    mesh_job_worker workers[256];
    if (mesh_gw_job(g->mesh, id, &info)) {
        mesh_shards c = {g->mesh, id};
        size_t nw = mesh_gw_job_workers(g->mesh, id, workers, 256);
        *status = mesh_job_status_http(info.status);
        int rc =
            deploy
                ? gw_deploydoc(b, &info, shard_from_mesh, &c)
                : gw_jobdoc(b, &info,
                            info.status == MESH_JOB_RUNNING ? 0 : info.created_ms + info.elapsed_ms,
                            shard_from_mesh, &c, workers, nw < 256 ? nw : 256);
        return rc < 0 ? err_set(err, errlen, "cannot write the job's document") : 0;
    }
    gw_job_row row;
    int found = gw_store_get_job(g->store, id, &row, err, errlen);
    if (found <= 0)
        return found < 0 ? -1 : 1;
    int nw = gw_store_job_workers(g->store, id, workers, 256, err, errlen);
    if (nw < 0)
        return -1;
    store_shards c = {.row = &row};
    if (gw_store_results(g->store, id, &c.cur, err, errlen) < 0)
        return -1;
    int rc = gw_store_next(c.cur, &c.next_shard, &c.next, err, errlen);
    c.have = rc == 1;
    if (rc >= 0)
        rc = deploy ? gw_deploydoc(b, &row.info, shard_from_store, &c)
                    : gw_jobdoc(b, &row.info, row.ended_ms, shard_from_store, &c, workers,
                                nw < 256 ? (size_t)nw : 256);
    gw_store_cursor_free(c.cur);
    if (rc < 0)
        return err_set(err, errlen, "cannot read the job's results from the store");
    *status = mesh_job_status_http(row.info.status);
    return 0;
}

/* ---- jobs --------------------------------------------------------------------------------- */

int gw_submit(gw *g, mesh_job_spec *spec, mesh_job_id *id, char *err, size_t errlen)
{
    if (mesh_gw_check_job(g->mesh, spec, err, errlen) < 0)
        return -1;
    mesh_job_info info;
    memset(&info, 0, sizeof info);
    randombytes_buf(id->b, sizeof id->b);
    info.id = *id;
    info.spec = *spec;
    info.status = MESH_JOB_RUNNING;
    info.created_ms = clock_wall_ms();
    info.total = spec->shards;
    /* in the store before it is acknowledged, and before the mesh can end it */
    if (gw_store_put_job(g->store, &info, err, errlen) < 0)
        return -1;
    char text[2 * MESH_JOB_ID_LEN + 1];
    mesh_job_id_str(id, text);
    gw_log(g, "job %s started: range [%" PRId64 ", %" PRId64 "), %" PRIu32 " shards, %s", text,
           spec->start, spec->end, spec->shards, mesh_reduce_name(spec->reduce));
    /* before the mesh can lease a shard of it: a stream sees a job start before its shards */
    gw_events_job_started(g->events, &info);
    if (mesh_gw_start_job(g->mesh, id, spec, info.created_ms, NULL, 0, err, errlen) < 0) {
        /* acknowledged by nobody yet: the store says it ended */
        info.status = MESH_JOB_TIMEOUT;
        info.missing = info.total;
        char e2[128];
        uint64_t now = clock_wall_ms();
        gw_store_end_job(g->store, &info, now, e2, sizeof e2);
        gw_events_job_ended(g->events, &info, now);
        return -1;
    }
    return 0;
}

static void waiter_closed(gw_req *r, void *user)
{
    (void)r;
    gw_waiter *w = user;
    for (gw_waiter **pp = &w->g->waiters; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    free(w);
}

void gw_wait_for(gw *g, gw_req *r, const mesh_job_id *id, bool deploy)
{
    mesh_job_info info;
    if (!mesh_gw_job(g->mesh, id, &info) || info.status != MESH_JOB_RUNNING) {
        buf_t b;
        buf_init(&b, 0);
        int status;
        char err[256];
        int rc = gw_job_document(g, id, deploy, &b, &status, err, sizeof err);
        if (rc != 0) {
            buf_free(&b);
            gw_answer_error(g, r, 500, rc > 0 ? "the job vanished" : err);
        } else {
            gw_answer(g, r, status, &b, NULL);
        }
        return;
    }
    gw_waiter *w = calloc(1, sizeof *w);
    if (!w) {
        gw_answer_error(g, r, 503, "out of memory");
        return;
    }
    w->g = g;
    w->req = r;
    w->id = *id;
    w->deploy = deploy;
    w->next = g->waiters;
    g->waiters = w;
    gw_req_on_close(r, waiter_closed, w);
}

/* ---- resuming after a restart ------------------------------------------------------------- */

/* Ends a stored job that cannot run again (its module is gone) with what was stored. */
static void end_unresumable(gw *g, const gw_job_row *row, const mesh_stored_result *res, size_t n)
{
    mesh_job_info j = row->info;
    j.done = j.trapped = 0;
    for (size_t i = 0; i < n; i++) {
        if (res[i].trapped) {
            j.trapped++;
            continue;
        }
        int64_t v = res[i].value;
        if (j.done++ == 0) {
            j.value = v;
            continue;
        }
        switch (j.spec.reduce) {
        case MESH_REDUCE_SUM:
            j.value = (int64_t)((uint64_t)j.value + (uint64_t)v);
            break;
        case MESH_REDUCE_MIN:
            j.value = v < j.value ? v : j.value;
            break;
        case MESH_REDUCE_MAX:
            j.value = v > j.value ? v : j.value;
            break;
        case MESH_REDUCE_XOR:
            j.value ^= v;
            break;
        case MESH_REDUCE_COLLECT:
            j.value = 0;
            break;
        }
    }
    j.has_value = j.done > 0 && j.spec.reduce != MESH_REDUCE_COLLECT;
    j.missing = j.total - j.done - j.trapped;
    j.status = j.done == 0 && j.trapped == 0 ? MESH_JOB_TIMEOUT
               : j.trapped                   ? MESH_JOB_FAILED
               : j.missing                   ? MESH_JOB_PARTIAL
                                             : MESH_JOB_DONE;
    uint64_t now = clock_wall_ms();
    j.elapsed_ms = now > j.created_ms ? now - j.created_ms : 0;
    char err[256];
    if (gw_store_end_job(g->store, &j, now, err, sizeof err) < 0)
        log_store_error(g, err);
}

static int resume_one(const gw_job_row *row, void *user)
{
    gw *g = user;
    char id[2 * MESH_JOB_ID_LEN + 1], err[256];
    mesh_job_id_str(&row->info.id, id);
    size_t cap = 64, n = 0;
    mesh_stored_result *res = malloc(cap * sizeof *res);
    char **errors = malloc(cap * sizeof *errors);
    gw_store_cursor *cur = NULL;
    int rc = res && errors ? gw_store_results(g->store, &row->info.id, &cur, err, sizeof err)
                           : err_set(err, sizeof err, "out of memory");
    uint32_t shard;
    mesh_shard_info r;
    while (rc == 0 && (rc = gw_store_next(cur, &shard, &r, err, sizeof err)) == 1) {
        rc = 0;
        if (shard >= row->info.total)
            continue;
        if (n == cap) {
            mesh_stored_result *m = realloc(res, 2 * cap * sizeof *res);
            char **e = m ? realloc(errors, 2 * cap * sizeof *errors) : NULL;
            if (m)
                res = m;
            if (!e) {
                rc = err_set(err, sizeof err, "out of memory");
                break;
            }
            errors = e;
            cap *= 2;
        }
        errors[n] = r.error ? strdup(r.error) : NULL;
        res[n] = (mesh_stored_result){.shard = shard,
                                      .trapped = r.state == MESH_SHARD_TRAPPED,
                                      .value = r.value,
                                      .error = errors[n],
                                      .worker = r.worker};
        n++;
    }
    gw_store_cursor_free(cur);
    uint8_t *wasm = NULL;
    size_t len = 0;
    if (rc == 0) {
        int found =
            gw_store_get_module(g->store, row->info.spec.module, &wasm, &len, err, sizeof err);
        uint8_t hash[MESH_HASH_LEN];
        mesh_export ex[1];
        size_t nex;
        bool invalid;
        if (found == 0)
            rc = err_set(err, sizeof err, "its module is not in the store");
        else if (found < 0 || mesh_gw_add_module(g->mesh, wasm, len, hash, ex, 1, &nex, &invalid,
                                                 err, sizeof err) < 0)
            rc = -1;
    }
    free(wasm);
    if (rc == 0)
        rc = mesh_gw_start_job(g->mesh, &row->info.id, &row->info.spec, row->info.created_ms, res,
                               n, err, sizeof err);
    if (rc == 0) {
        gw_log(g, "job %s resumed with %zu stored results", id, n);
    } else {
        gw_log(g, "job %s cannot resume (%s): ended with its %zu stored results", id, err, n);
        end_unresumable(g, row, res, n);
    }
    for (size_t i = 0; i < n; i++)
        free(errors[i]);
    free(errors);
    free(res);
    return 0;
}

/* ---- life cycle --------------------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void free_gw(gw *g)
{
    gw_store_close(g->store);
    free(g->http_addr);
    free(g->data_dir);
    free(g->mesh_name);
    free(g->token);
    free(g);
}

int gw_new(uv_loop_t *loop, const gw_config *cfg, gw **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->host || !cfg->data_dir)
        return err_set(err, errlen, "gateway: a host and a data dir are needed");
    gw *g = calloc(1, sizeof *g);
    if (!g)
        return err_set(err, errlen, "out of memory");
    g->loop = loop;
    g->cfg = *cfg;
    g->http_addr = strdup(cfg->http ? cfg->http : "127.0.0.1:3000");
    g->data_dir = strdup(cfg->data_dir);
    g->mesh_name = strdup(cfg->mesh ? cfg->mesh : "default");
    g->token = dup_or_null(cfg->token);
    if (!g->http_addr || !g->data_dir || !g->mesh_name || (cfg->token && !g->token)) {
        free_gw(g);
        return err_set(err, errlen, "out of memory");
    }
    g->cfg.http = g->http_addr;
    g->cfg.data_dir = g->data_dir;
    g->cfg.mesh = g->mesh_name;
    g->cfg.token = g->token;
    if (g->cfg.max_body == 0)
        g->cfg.max_body = 24u << 20;

    if (mkdir(g->data_dir, 0700) < 0 && errno != EEXIST) {
        err_errno(err, errlen, errno, "cannot create the data dir %s", g->data_dir);
        free_gw(g);
        return -1;
    }
    char path[4096];
    if (snprintf(path, sizeof path, "%s/gateway.db", g->data_dir) >= (int)sizeof path) {
        free_gw(g);
        return err_set(err, errlen, "data dir path is too long");
    }
    if (gw_store_open(path, &g->store, err, errlen) < 0) {
        free_gw(g);
        return -1;
    }
    if (gw_events_new(g, &g->events, err, errlen) < 0) {
        free_gw(g);
        return -1;
    }
    mesh_gw_config mc = cfg->mesh_cfg;
    mc.host = cfg->host;
    mc.loop = loop;
    mc.mesh = g->mesh_name;
    mc.on_event = on_mesh_event;
    mc.user = g;
    if (mesh_gw_new(&mc, &g->mesh, err, errlen) < 0) {
        gw_events_close(g->events, NULL, NULL); /* no stream yet: it goes at once */
        free_gw(g);
        return -1;
    }
    gw_http_config hc = {.addr = g->http_addr,
                         .token = g->token,
                         .query_token_path = "/api/v1/events",
                         .max_body = g->cfg.max_body,
                         .on_request = gw_api_request,
                         .user = g};
    if (gw_http_new(loop, &hc, &g->http, err, errlen) < 0) {
        gw_events_close(g->events, NULL, NULL);
        mesh_gw_free(g->mesh);
        free_gw(g);
        return -1;
    }
    char e2[256];
    if (gw_store_each_running(g->store, resume_one, g, e2, sizeof e2) < 0)
        gw_log(g, "store: %s", e2);
    uv_timer_init(loop, &g->flush);
    g->flush.data = g;
    uv_timer_start(&g->flush, on_flush, GW_FLUSH_MS, GW_FLUSH_MS);
    *out = g;
    return 0;
}

int gw_http_port(const gw *g)
{
    return gw_http_port_of(g->http);
}

mesh_gw *gw_mesh(gw *g)
{
    return g->mesh;
}

static void closed_one(gw *g)
{
    assert(g->closes_pending > 0);
    if (--g->closes_pending > 0)
        return;
    void (*done)(void *) = g->done;
    void *user = g->done_user;
    free_gw(g);
    if (done)
        done(user);
}

static void events_closed(void *user)
{
    closed_one(user);
}

static void http_closed(void *user)
{
    closed_one(user);
}

static void timer_closed(uv_handle_t *h)
{
    closed_one(h->data);
}

/* The second step of gw_close, once the 503s had a moment to go out. */
static void finish_close(uv_timer_t *t)
{
    gw *g = t->data;
    g->closes_pending = 3;
    gw_events_close(g->events, events_closed, g);
    g->events = NULL;
    uv_close((uv_handle_t *)&g->flush, timer_closed);
    gw_http_close(g->http, http_closed, g);
}

void gw_close(gw *g, void (*done)(void *user), void *user)
{
    assert(!g->closing);
    g->closing = true;
    g->done = done;
    g->done_user = user;
    bool answered = g->waiters != NULL;
    while (g->waiters) {
        gw_waiter *w = g->waiters;
        g->waiters = w->next;
        gw_req_on_close(w->req, NULL, NULL);
        gw_answer_error(g, w->req, 503, "the gateway is shutting down");
        free(w);
    }
    char err[256];
    if (gw_store_flush(g->store, err, sizeof err) < 0)
        log_store_error(g, err);
    /* running jobs stay "running" in the store: the next start resumes them */
    mesh_gw_free(g->mesh);
    g->mesh = NULL;
    uv_timer_stop(&g->flush);
    uv_timer_start(&g->flush, finish_close, answered ? 100 : 0, 0);
}
