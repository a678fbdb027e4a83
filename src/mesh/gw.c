/* gw.c - the mesh_gw object: configuration, the loop-turn clock (dispatch, flush, timers),
 * gossip, and the API of mesh.h's gateway side over the scheduler and the registry. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_internal.h"

void mesh_gw_config_default(mesh_gw_config *c)
{
    memset(c, 0, sizeof *c);
    c->mesh = "default";
    c->default_fuel = 10000000000ull;
    c->default_pages = 256;
    c->strike_limit = 3;
    c->quarantine_ms = 10000;
    c->module_store_max = (size_t)1 << 30;
}

uint64_t gw_now(const mesh_gw *g)
{
    (void)g;
    return clock_mono_ms();
}

void gw_peer_error(mesh_gw *g, const p2p_peer_id *peer, const char *msg)
{
    g->bad_frames++;
    if (g->cfg.on_event) {
        mesh_gw_event ev = {.type = MESH_GW_EV_PEER_ERROR, .peer = peer, .message = msg};
        g->cfg.on_event(g, &ev, g->cfg.user);
    }
}

/* ---- the loop turn ----------------------------------------------------------------------- */

static void on_idle(uv_idle_t *h)
{
    (void)h; /* on_check stops it */
}

void gw_kick(mesh_gw *g)
{
    if (g->dirty || !g->hd)
        return;
    g->dirty = true;
    /* an active idle handle keeps the poll from blocking, so the check below runs now */
    uv_idle_start(&g->hd->idle, on_idle);
}

static void arm_timer(mesh_gw *g)
{
    uint64_t now = gw_now(g);
    uint64_t t = sched_next_wakeup(g->s, now);
    if (t == UINT64_MAX) {
        uv_timer_stop(&g->hd->wake);
        return;
    }
    uv_timer_start(&g->hd->wake, g->hd->wake.timer_cb, t > now ? t - now : 0, 0);
}

/* End of a loop turn: everything that changed is dispatched and sent in one frame a worker. */
static void on_check(uv_check_t *h)
{
    mesh_gw *g = h->data;
    if (!g || !g->dirty)
        return;
    g->dirty = false;
    uv_idle_stop(&g->hd->idle);
    sched_dispatch(g->s, gw_now(g));
    gw_task_flush(g);
    sched_collect(g->s);
    arm_timer(g);
}

static void on_wake(uv_timer_t *h)
{
    mesh_gw *g = h->data;
    sched_tick(g->s, gw_now(g));
    gw_kick(g);
}

static void on_sweep(uv_timer_t *h)
{
    mesh_gw *g = h->data;
    uint64_t now = gw_now(g);
    gw_task_sweep(g, now);
    gw_module_sweep(g, now);
}

static void on_handle_closed(uv_handle_t *h)
{
    gw_handles *hd = h->data;
    if (--hd->open == 0)
        free(hd);
}

/* ---- events ------------------------------------------------------------------------------ */

static void on_sched_event(void *user, const mesh_gw_event *ev)
{
    mesh_gw *g = user;
    if (g->cfg.on_event)
        g->cfg.on_event(g, ev, g->cfg.user);
}

static void on_node_changed(void *user, hl_node *n)
{
    mesh_gw *g = user;
    if (g->cfg.on_event) {
        mesh_gw_event ev = {.type = MESH_GW_EV_NODE, .peer = &n->peer};
        g->cfg.on_event(g, &ev, g->cfg.user);
    }
    gw_kick(g); /* a node back from quarantine takes work */
}

/* A worker's heartbeat: only nodes we know (anyone may publish) and only checked numbers. */
static void on_heartbeat(p2p_pubsub *ps, const p2p_ps_message *m, void *user)
{
    (void)ps;
    mesh_gw *g = user;
    hl_node *n = health_find(&g->reg, m->from);
    if (!n)
        return;
    char err[128];
    Swarm__Task__Heartbeat *hb = wire_decode_heartbeat(m->data, m->len, err, sizeof err);
    if (!hb)
        return;
    n->battery = hb->has_battery ? hb->battery : -1;
    n->charging = hb->has_charging ? hb->charging : -1;
    if (hb->has_free_slots)
        n->free_slots = hb->free_slots;
    if (hb->has_load_permille)
        n->load_permille = hb->load_permille;
    n->last_seen = gw_now(g);
    swarm__task__heartbeat__free_unpacked(hb, NULL);
}

static void announce(mesh_gw *g, const mesh_job_id *id, const mesh_job_spec *spec)
{
    Swarm__Task__JobAnnounce a = SWARM__TASK__JOB_ANNOUNCE__INIT;
    a.has_job_id = a.has_module_hash = a.has_shards = a.has_deadline_ms = 1;
    a.job_id.data = (uint8_t *)id->b;
    a.job_id.len = MESH_JOB_ID_LEN;
    a.module_hash.data = (uint8_t *)spec->module;
    a.module_hash.len = MESH_HASH_LEN;
    a.shards = spec->shards;
    a.deadline_ms = spec->deadline_ms;
    uint8_t buf[128];
    size_t n = swarm__task__job_announce__pack(&a, buf);
    assert(n <= sizeof buf);
    char err[128];
    /* best effort: workers also fetch the module on their first lease */
    (void)p2p_pubsub_publish(g->ps, g->topic_jobs, buf, n, NULL, err, sizeof err);
}

/* ---- life -------------------------------------------------------------------------------- */

static void refuse_stream(p2p_stream *s, void *user)
{
    (void)user;
    p2p_stream_reset(s);
}

int mesh_gw_new(const mesh_gw_config *cfg, mesh_gw **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->host || !cfg->loop)
        return err_set(err, errlen, "mesh_gw: no host or no loop");
    const char *mesh = cfg->mesh && *cfg->mesh ? cfg->mesh : "default";
    if (strlen(mesh) >= 64)
        return err_set(err, errlen, "mesh name longer than 63 bytes");
    mesh_gw *g = calloc(1, sizeof *g);
    gw_handles *hd = calloc(1, sizeof *hd);
    if (!g || !hd) {
        free(g);
        free(hd);
        return err_set(err, errlen, "out of memory");
    }
    g->cfg = *cfg;
    mesh_gw_config def;
    mesh_gw_config_default(&def);
    if (!g->cfg.default_fuel)
        g->cfg.default_fuel = def.default_fuel;
    if (!g->cfg.default_pages)
        g->cfg.default_pages = def.default_pages;
    if (!g->cfg.strike_limit)
        g->cfg.strike_limit = def.strike_limit;
    if (!g->cfg.quarantine_ms)
        g->cfg.quarantine_ms = def.quarantine_ms;
    if (!g->cfg.module_store_max)
        g->cfg.module_store_max = def.module_store_max;
    snprintf(g->mesh, sizeof g->mesh, "%s", mesh);
    g->cfg.mesh = g->mesh;
    snprintf(g->topic_nodes, sizeof g->topic_nodes, "swarm/%s/nodes", mesh);
    snprintf(g->topic_jobs, sizeof g->topic_jobs, "swarm/%s/jobs", mesh);
    g->host = cfg->host;
    health_init(&g->reg, g->cfg.strike_limit, g->cfg.quarantine_ms, on_node_changed, g);
    modstore_init(&g->mods, g->cfg.module_store_max);
    sched_out so = {gw_task_lease, gw_task_cancel, on_sched_event, g};
    g->s = sched_new(&g->reg, &so, g->cfg.lease_ms);
    g->ps = cfg->pubsub;
    int rc = g->s ? 0 : err_set(err, errlen, "out of memory");
    if (rc == 0 && !g->ps) {
        p2p_pubsub_config pc;
        p2p_pubsub_config_default(&pc);
        rc = p2p_pubsub_new(g->host, &pc, &g->ps, err, errlen);
    }
    if (rc == 0)
        rc = p2p_pubsub_subscribe(g->ps, g->topic_nodes, on_heartbeat, g, err, errlen);
    if (rc == 0)
        rc = p2p_host_handle(g->host, MESH_PROTO_TASK, gw_task_handler, g, err, errlen);
    if (rc == 0)
        rc = p2p_host_handle(g->host, MESH_PROTO_MODULE, gw_module_handler, g, err, errlen);
    if (rc < 0) {
        char ignore[64];
        if (g->ps)
            p2p_pubsub_unsubscribe(g->ps, g->topic_nodes, ignore, sizeof ignore);
        p2p_host_handle(g->host, MESH_PROTO_TASK, refuse_stream, NULL, ignore, sizeof ignore);
        p2p_host_handle(g->host, MESH_PROTO_MODULE, refuse_stream, NULL, ignore, sizeof ignore);
        sched_free(g->s);
        health_free(&g->reg);
        modstore_free(&g->mods);
        free(g);
        free(hd);
        return -1;
    }
    g->loop = cfg->loop;
    uv_timer_init(g->loop, &hd->wake);
    uv_timer_init(g->loop, &hd->sweep);
    uv_idle_init(g->loop, &hd->idle);
    uv_check_init(g->loop, &hd->check);
    hd->wake.data = hd->sweep.data = hd->check.data = g;
    hd->idle.data = g;
    hd->wake.timer_cb = on_wake;
    uv_check_start(&hd->check, on_check);
    uv_unref((uv_handle_t *)&hd->check);
    uv_timer_start(&hd->sweep, on_sweep, GW_SWEEP_MS, GW_SWEEP_MS);
    uv_unref((uv_handle_t *)&hd->sweep);
    hd->open = 4;
    g->hd = hd;
    *out = g;
    return 0;
}

void mesh_gw_free(mesh_gw *g)
{
    if (!g)
        return;
    char ignore[64];
    p2p_pubsub_unsubscribe(g->ps, g->topic_nodes, ignore, sizeof ignore);
    p2p_host_handle(g->host, MESH_PROTO_TASK, refuse_stream, NULL, ignore, sizeof ignore);
    p2p_host_handle(g->host, MESH_PROTO_MODULE, refuse_stream, NULL, ignore, sizeof ignore);
    gw_task_close_all(g);
    gw_module_close_all(g);
    gw_handles *hd = g->hd;
    g->hd = NULL;
    uv_handle_t *hs[] = {(uv_handle_t *)&hd->wake, (uv_handle_t *)&hd->sweep,
                         (uv_handle_t *)&hd->idle, (uv_handle_t *)&hd->check};
    for (size_t i = 0; i < 4; i++) {
        hs[i]->data = hd;
        uv_close(hs[i], on_handle_closed);
    }
    g->cfg.on_event = NULL; /* no events while the jobs go */
    sched_free(g->s);
    health_free(&g->reg);
    modstore_free(&g->mods);
    free(g);
}

/* ---- modules and jobs -------------------------------------------------------------------- */

int mesh_gw_add_module(mesh_gw *g, const uint8_t *wasm, size_t len, uint8_t hash[MESH_HASH_LEN],
                       mesh_export *exports, size_t max, size_t *nexports, bool *invalid, char *err,
                       size_t errlen)
{
    ms_module *mod;
    bool inv = false;
    int rc = modstore_add(&g->mods, wasm, len, &mod, &inv, err, errlen);
    if (invalid)
        *invalid = inv;
    if (rc < 0)
        return -1;
    memcpy(hash, mod->hash, MESH_HASH_LEN);
    for (size_t i = 0; i < mod->nexports && i < max; i++)
        exports[i] = mod->exports[i];
    if (nexports)
        *nexports = mod->nexports;
    return 0;
}

bool mesh_gw_has_module(const mesh_gw *g, const uint8_t hash[MESH_HASH_LEN])
{
    for (size_t i = 0; i < g->mods.n; i++)
        if (memcmp(g->mods.v[i]->hash, hash, MESH_HASH_LEN) == 0)
            return true;
    return false;
}

/* Picks the entry point: the one named, else "execute", else the only exported function. */
static const mesh_export *pick_entry(const ms_module *mod, const char *entry, char *err,
                                     size_t errlen)
{
    const mesh_export *e = NULL;
    if (*entry) {
        if (!(e = modstore_export(mod, entry)))
            err_set(err, errlen, "the module exports no function called \"%s\"", entry);
    } else if (!(e = modstore_export(mod, "execute"))) {
        if (mod->nexports == 1)
            e = &mod->exports[0];
        else
            err_set(err, errlen,
                    "no entry point: the module exports no \"execute\" and %zu functions "
                    "(name one with \"entry\")",
                    mod->nexports);
    }
    if (e && !e->abi[0]) {
        err_set(err, errlen,
                "entry \"%s\" must have the signature (i32,i32)->i32 or (i64,i64)->i64", e->name);
        return NULL;
    }
    return e;
}

int mesh_gw_check_job(mesh_gw *g, mesh_job_spec *spec, char *err, size_t errlen)
{
    ms_module *mod = modstore_get(&g->mods, spec->module);
    if (!mod)
        return err_set(err, errlen, "unknown module (upload it first)");
    spec->entry[MESH_ENTRY_MAX - 1] = '\0';
    const mesh_export *e = pick_entry(mod, spec->entry, err, errlen);
    if (!e)
        return -1;
    snprintf(spec->entry, sizeof spec->entry, "%s", e->name);
    spec->abi64 = strcmp(e->abi, "i64") == 0;
    if (spec->start >= spec->end)
        return err_set(err, errlen, "range [%" PRId64 ", %" PRId64 "): end must be above start",
                       spec->start, spec->end);
    if (!spec->abi64 && (spec->start < INT32_MIN || spec->end > INT32_MAX))
        return err_set(err, errlen,
                       "range [%" PRId64 ", %" PRId64 ") does not fit the i32 entry \"%s\"",
                       spec->start, spec->end, spec->entry);
    uint64_t len = (uint64_t)spec->end - (uint64_t)spec->start;
    if (!spec->shards)
        spec->shards = sched_default_shards(g->s, len, gw_now(g));
    if (spec->shards > MESH_MAX_SHARDS)
        return err_set(err, errlen, "%u shards: at most %u", spec->shards, MESH_MAX_SHARDS);
    if (spec->shards > len)
        return err_set(err, errlen, "%u shards for %" PRIu64 " values: more shards than values",
                       spec->shards, len);
    if ((unsigned)spec->reduce > MESH_REDUCE_COLLECT)
        return err_set(err, errlen, "unknown reduce operation");
    if (!spec->deadline_ms)
        spec->deadline_ms = MESH_DEFAULT_DEADLINE_MS;
    if (spec->deadline_ms > MESH_MAX_DEADLINE_MS)
        return err_set(err, errlen, "deadline %" PRIu64 " ms: at most %llu ms (24 h)",
                       spec->deadline_ms, MESH_MAX_DEADLINE_MS);
    if (!spec->fuel)
        spec->fuel = g->cfg.default_fuel;
    if (!spec->max_pages)
        spec->max_pages = g->cfg.default_pages;
    if (spec->max_pages > 65536)
        return err_set(err, errlen, "max_pages %u: at most 65536 (4 GiB)", spec->max_pages);
    return 0;
}

int mesh_gw_start_job(mesh_gw *g, const mesh_job_id *id, const mesh_job_spec *spec,
                      uint64_t created_ms, const mesh_stored_result *stored, size_t nstored,
                      char *err, size_t errlen)
{
    if (!spec->shards || spec->start >= spec->end || !spec->deadline_ms ||
        !mesh_gw_has_module(g, spec->module))
        return err_set(err, errlen, "job spec not checked (mesh_gw_check_job)");
    uint64_t wall = clock_wall_ms();
    uint64_t age = wall > created_ms ? wall - created_ms : 0;
    if (sched_start_job(g->s, id, spec, created_ms, age, stored, nstored, gw_now(g), err, errlen) <
        0)
        return -1;
    sched_job *j = sched_find(g->s, id);
    if (j) {
        mesh_job_info info;
        sched_job_info(j, gw_now(g), &info);
        if (info.status == MESH_JOB_RUNNING)
            announce(g, id, spec);
    }
    gw_kick(g);
    return 0;
}

int mesh_gw_cancel_job(mesh_gw *g, const mesh_job_id *id, char *err, size_t errlen)
{
    if (sched_cancel_job(g->s, id, gw_now(g), err, errlen) < 0)
        return -1;
    gw_kick(g);
    return 0;
}

bool mesh_gw_job(const mesh_gw *g, const mesh_job_id *id, mesh_job_info *out)
{
    sched_job *j = sched_find(g->s, id);
    if (j)
        sched_job_info(j, gw_now(g), out);
    return j != NULL;
}

bool mesh_gw_job_shard(const mesh_gw *g, const mesh_job_id *id, uint32_t i, mesh_shard_info *out)
{
    sched_job *j = sched_find(g->s, id);
    return j && sched_job_shard(g->s, j, i, out);
}

void mesh_gw_forget_job(mesh_gw *g, const mesh_job_id *id)
{
    sched_forget(g->s, id, gw_now(g));
    gw_kick(g);
}

size_t mesh_gw_job_workers(const mesh_gw *g, const mesh_job_id *id, mesh_job_worker *out,
                           size_t max)
{
    sched_job *j = sched_find(g->s, id);
    return j ? sched_job_workers(j, out, max) : 0;
}

size_t mesh_gw_nodes(const mesh_gw *g, mesh_node_info *out, size_t max)
{
    uint64_t now = gw_now(g);
    for (size_t i = 0; i < g->reg.n && i < max; i++)
        health_info(g->reg.v[i], now, &out[i]);
    return g->reg.n;
}

void mesh_gw_get_stats(const mesh_gw *g, mesh_gw_stats *out)
{
    memset(out, 0, sizeof *out);
    sched_stats st;
    sched_get_stats(g->s, &st);
    out->jobs_started = st.jobs_started;
    out->jobs_done = st.jobs_ended[MESH_JOB_DONE];
    out->jobs_partial = st.jobs_ended[MESH_JOB_PARTIAL];
    out->jobs_timeout = st.jobs_ended[MESH_JOB_TIMEOUT];
    out->jobs_failed = st.jobs_ended[MESH_JOB_FAILED];
    out->jobs_cancelled = st.jobs_ended[MESH_JOB_CANCELLED];
    out->leases = st.leases;
    out->results = st.results;
    out->retries = st.retries;
    out->duplicates = st.duplicates;
    out->dropped = st.dropped;
    out->expired = st.expired;
    out->strikes = g->reg.strikes_total;
    out->quarantines = g->reg.quarantines_total;
    out->modules_served = g->modules_served;
    out->module_bytes_served = g->module_bytes_served;
    out->bad_frames = g->bad_frames;
    out->jobs_running = (uint32_t)sched_running(g->s);
    uint64_t now = gw_now(g);
    for (size_t i = 0; i < g->reg.n; i++) {
        const hl_node *n = g->reg.v[i];
        if (!health_usable(n, now))
            continue;
        out->workers_healthy++;
        out->slots_total += n->slots;
        out->slots_busy += n->leased < n->slots ? n->leased : n->slots;
    }
}
