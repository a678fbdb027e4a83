/* worker.c - mesh_worker: dials the gateways, keeps a task stream with each trusted one, runs
 * what they lease on the executor (exec.c) with modules fetched once (fetch.c, modcache.c),
 * sends the results back batched, and publishes heartbeats (see mesh.h).
 *
 * Everything here runs on the loop thread. Objects that libp2p calls back later (dials,
 * stream opens) hold a ticket, not the worker: closing the worker clears the tickets, so a
 * late callback finds nobody and only tidies up. */
#include <assert.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "power.h"
#include "worker_internal.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 10000

void mesh_worker_config_default(mesh_worker_config *c)
{
    memset(c, 0, sizeof *c);
    c->mesh = "default";
    c->cache_max_bytes = 256u << 20;
    c->heartbeat_ms = 5000;
}

void wk_emit(mesh_worker *w, const mesh_worker_event *ev)
{
    if (w->cfg.on_event)
        w->cfg.on_event(w, ev, w->cfg.user);
}

void wk_emit_msg(mesh_worker *w, mesh_worker_event_type type, const p2p_peer_id *peer,
                 const char *msg)
{
    mesh_worker_event ev = {.type = type, .peer = peer, .message = msg};
    wk_emit(w, &ev);
}

bool wk_trusted(const mesh_worker *w, const p2p_peer_id *peer)
{
    for (size_t i = 0; i < w->ntargets; i++)
        if (w->targets[i].has_peer && p2p_peer_id_eq(&w->targets[i].peer, peer))
            return true;
    for (size_t i = 0; i < w->ntrust; i++)
        if (p2p_peer_id_eq(&w->trust[i], peer))
            return true;
    return false;
}

/* ---- dialling ----------------------------------------------------------------------------- */

static void dial(wk_target *t);

static void on_redial(uv_timer_t *timer)
{
    dial(timer->data);
}

void wk_schedule_redial(wk_target *t)
{
    mesh_worker *w = t->w;
    if (w->closing)
        return;
    /* jitter: a quarter of the back-off, so workers that lost one gateway spread out */
    uint64_t delay = t->backoff_ms + randombytes_uniform((uint32_t)(t->backoff_ms / 4 + 1));
    t->backoff_ms = t->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : t->backoff_ms * 2;
    uv_timer_start(&t->redial, on_redial, delay, 0);
}

static wk_ticket *ticket_new(mesh_worker *w, wk_target *t)
{
    wk_ticket *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->w = w;
    k->target = t;
    k->next = w->tickets;
    w->tickets = k;
    return k;
}

/* Takes k off the worker's list (if the worker is still there) and frees it; returns the
 * worker or NULL. */
static mesh_worker *ticket_done(wk_ticket *k, wk_target **t)
{
    mesh_worker *w = k->w;
    if (w) {
        for (wk_ticket **pp = &w->tickets; *pp; pp = &(*pp)->next)
            if (*pp == k) {
                *pp = k->next;
                break;
            }
    }
    *t = k->target;
    free(k);
    return w;
}

static void on_task_open(p2p_stream *s, const char *err, void *user)
{
    wk_target *t;
    mesh_worker *w = ticket_done(user, &t);
    if (!w) {
        if (s)
            p2p_stream_reset(s);
        return;
    }
    t->busy = false;
    if (!s) {
        char msg[300];
        snprintf(msg, sizeof msg, "task stream to %s: %s", t->maddr, err ? err : "failed");
        wk_emit_msg(w, MESH_WK_EV_ERROR, &t->peer, msg);
        wk_schedule_redial(t);
        return;
    }
    wk_session *ss = wk_session_new(w, s, true, t);
    if (!ss) {
        p2p_stream_reset(s);
        wk_schedule_redial(t);
        return;
    }
    t->backoff_ms = BACKOFF_MIN_MS;
    wk_emit_msg(w, MESH_WK_EV_CONNECTED, p2p_stream_peer(s), t->maddr);
}

static void on_dialled(p2p_host *h, int status, const p2p_peer_id *peer, const char *err,
                       void *user)
{
    (void)h;
    wk_target *t;
    mesh_worker *w = ticket_done(user, &t);
    if (!w)
        return;
    t->busy = false;
    if (status != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "dial %s: %s", t->maddr, err ? err : "failed");
        wk_emit_msg(w, MESH_WK_EV_ERROR, NULL, msg);
        wk_schedule_redial(t);
        return;
    }
    if (!wk_trusted(w, peer)) {
        wk_emit_msg(w, MESH_WK_EV_REFUSED, peer,
                    "not a trusted gateway: name it in --bootstrap .../p2p/ID or --trust ID");
        wk_schedule_redial(t);
        return;
    }
    t->peer = *peer;
    wk_ticket *k = ticket_new(w, t);
    char e2[256];
    if (!k || p2p_host_open_stream(w->cfg.host, peer, MESH_PROTO_TASK, on_task_open, k, e2,
                                   sizeof e2) != 0) {
        if (k) {
            wk_target *unused;
            ticket_done(k, &unused);
        }
        wk_emit_msg(w, MESH_WK_EV_ERROR, peer, k ? e2 : "out of memory");
        wk_schedule_redial(t);
        return;
    }
    t->busy = true;
}

static void dial(wk_target *t)
{
    mesh_worker *w = t->w;
    if (w->closing || t->session || t->busy)
        return;
    wk_ticket *k = ticket_new(w, t);
    char err[256];
    if (!k || p2p_host_dial(w->cfg.host, t->maddr, on_dialled, k, err, sizeof err) != 0) {
        if (k) {
            wk_target *unused;
            ticket_done(k, &unused);
        }
        char msg[400];
        snprintf(msg, sizeof msg, "dial %s: %s", t->maddr, k ? err : "out of memory");
        wk_emit_msg(w, MESH_WK_EV_ERROR, NULL, msg);
        wk_schedule_redial(t);
        return;
    }
    t->busy = true;
}

/* ---- inbound task streams ----------------------------------------------------------------- */

static void on_inbound_task(p2p_stream *s, void *user)
{
    mesh_worker *w = user;
    bool trusted = wk_trusted(w, p2p_stream_peer(s));
    if (!trusted)
        wk_emit_msg(w, MESH_WK_EV_REFUSED, p2p_stream_peer(s),
                    "untrusted peer opened a task stream: its leases are refused");
    if (!wk_session_new(w, s, trusted, NULL))
        p2p_stream_reset(s);
}

/* ---- heartbeat ---------------------------------------------------------------------------- */

static void on_heartbeat(uv_timer_t *timer)
{
    mesh_worker *w = timer->data;
    power_state ps;
    power_read("", w->cores, &ps);
    unsigned busy = exec_running(w->exec);
    Swarm__Task__Heartbeat hb = SWARM__TASK__HEARTBEAT__INIT;
    hb.has_cores = hb.has_slots = hb.has_free_slots = hb.has_shards_done = true;
    hb.cores = w->cores;
    hb.slots = w->threads;
    hb.free_slots = busy < w->threads ? w->threads - busy : 0;
    hb.shards_done = w->shards_done;
    if (ps.load_permille >= 0) {
        hb.has_load_permille = true;
        hb.load_permille = (uint32_t)ps.load_permille;
    }
    if (ps.battery >= 0) {
        hb.has_battery = true;
        hb.battery = ps.battery;
    }
    if (ps.charging >= 0) {
        hb.has_charging = true;
        hb.charging = ps.charging == 1;
    }
    hb.label = w->label;
    uint8_t msg[256];
    size_t n = swarm__task__heartbeat__get_packed_size(&hb);
    if (n > sizeof msg)
        return; /* cannot happen: the label is at most 63 bytes */
    swarm__task__heartbeat__pack(&hb, msg);
    char err[256];
    if (p2p_pubsub_publish(w->ps, w->topic_nodes, msg, n, NULL, err, sizeof err) < 0)
        wk_emit_msg(w, MESH_WK_EV_ERROR, NULL, err);
}

/* ---- life ------------------------------------------------------------------------------- */

static void free_worker(mesh_worker *w)
{
    for (size_t i = 0; i < w->ntargets; i++)
        free(w->targets[i].maddr);
    free(w->targets);
    free(w->trust);
    wk_modules_free(w);
    modcache_close(w->disk);
    free(w);
}

static void maybe_finish(mesh_worker *w)
{
    if (w->handles_open > 0 || !w->exec_closed)
        return;
    void (*done)(void *) = w->done;
    void *user = w->done_user;
    free_worker(w);
    if (done)
        done(user);
}

static void on_handle_closed(uv_handle_t *h)
{
    mesh_worker *w = h->data;
    assert(w->handles_open > 0);
    w->handles_open--;
    maybe_finish(w);
}

static void on_exec_closed(void *user)
{
    mesh_worker *w = user;
    w->exec_closed = true;
    maybe_finish(w);
}

static void free_after_exec(void *user)
{
    free_worker(user);
}

int mesh_worker_new(const mesh_worker_config *cfg, mesh_worker **out, char *err, size_t errlen)
{
    if (!cfg->host || !cfg->loop)
        return err_set(err, errlen, "mesh_worker: no host or loop");
    if (cfg->nbootstrap == 0)
        return err_set(err, errlen, "mesh_worker: no bootstrap address");
    mesh_worker *w = calloc(1, sizeof *w);
    if (!w)
        return err_set(err, errlen, "out of memory");
    w->cfg = *cfg;
    w->cores = uv_available_parallelism();
    w->threads = cfg->threads ? cfg->threads : w->cores;
    if (w->threads > 4096)
        w->threads = 4096;
    snprintf(w->label, sizeof w->label, "%s", cfg->label ? cfg->label : "");
    snprintf(w->topic_nodes, sizeof w->topic_nodes, "swarm/%s/nodes",
             cfg->mesh && *cfg->mesh ? cfg->mesh : "default");
    w->cfg.label = NULL;
    w->cfg.mesh = NULL;
    w->cfg.bootstrap = NULL;
    w->cfg.trust = NULL;
    w->cfg.cache_dir = NULL;
    w->next_session_id = 1;

    w->targets = calloc(cfg->nbootstrap, sizeof *w->targets);
    w->trust = calloc(cfg->ntrust ? cfg->ntrust : 1, sizeof *w->trust);
    if (!w->targets || !w->trust) {
        free_worker(w);
        return err_set(err, errlen, "out of memory");
    }
    if (cfg->ntrust)
        memcpy(w->trust, cfg->trust, cfg->ntrust * sizeof *w->trust);
    w->ntrust = cfg->ntrust;
    for (size_t i = 0; i < cfg->nbootstrap; i++) {
        wk_target *t = &w->targets[i];
        p2p_maddr ma;
        p2p_tcp_addr ta;
        char e2[256];
        if (p2p_maddr_parse(cfg->bootstrap[i], &ma, e2, sizeof e2) != 0 ||
            p2p_maddr_to_tcp(&ma, &ta, e2, sizeof e2) != 0) {
            w->ntargets = i;
            free_worker(w);
            return err_set(err, errlen, "bootstrap %s: %s", cfg->bootstrap[i], e2);
        }
        t->w = w;
        t->maddr = strdup(cfg->bootstrap[i]);
        t->has_peer = ta.has_peer;
        t->peer = ta.peer;
        t->backoff_ms = BACKOFF_MIN_MS;
        w->ntargets = i + 1;
        if (!t->maddr) {
            free_worker(w);
            return err_set(err, errlen, "out of memory");
        }
    }
    if (cfg->cache_dir &&
        modcache_open(cfg->cache_dir, cfg->cache_max_bytes, &w->disk, err, errlen) != 0) {
        free_worker(w);
        return -1;
    }
    uv_loop_t *loop = cfg->loop;
    p2p_pubsub_config pc;
    p2p_pubsub_config_default(&pc);
    if (p2p_pubsub_new(cfg->host, &pc, &w->ps, err, errlen) != 0 ||
        exec_new(loop, w->threads, wk_on_done, w, &w->exec, err, errlen) != 0) {
        free_worker(w);
        return -1;
    }
    if (p2p_host_handle(cfg->host, MESH_PROTO_TASK, on_inbound_task, w, err, errlen) != 0) {
        exec_close(w->exec, free_after_exec, w);
        return -1;
    }
    uv_timer_init(loop, &w->hb);
    w->hb.data = w;
    uint64_t hb_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : 5000;
    uv_timer_start(&w->hb, on_heartbeat, hb_ms, hb_ms);
    for (size_t i = 0; i < w->ntargets; i++) {
        uv_timer_init(loop, &w->targets[i].redial);
        w->targets[i].redial.data = &w->targets[i];
        dial(&w->targets[i]);
    }
    *out = w;
    return 0;
}

void mesh_worker_close(mesh_worker *w, void (*done)(void *user), void *user)
{
    assert(!w->closing);
    w->closing = true;
    w->done = done;
    w->done_user = user;
    for (wk_ticket *k = w->tickets; k; k = k->next)
        k->w = NULL; /* their callbacks come later and find nobody */
    w->tickets = NULL;
    /* an untrusted stream opened to us after this would find a freed worker */
    p2p_host_handle(w->cfg.host, MESH_PROTO_TASK, wk_refuse_stream, NULL, NULL, 0);
    wk_modules_cancel_fetches(w);
    /* sessions first: their shards come back cancelled through on_done, which then has
     * nobody to send to */
    while (w->sessions)
        wk_session_drop(w->sessions, "worker closing");
    w->handles_open = 1 + w->ntargets;
    w->hb.data = w;
    uv_close((uv_handle_t *)&w->hb, on_handle_closed);
    for (size_t i = 0; i < w->ntargets; i++) {
        w->targets[i].redial.data = w;
        uv_close((uv_handle_t *)&w->targets[i].redial, on_handle_closed);
    }
    exec_close(w->exec, on_exec_closed, w);
}
