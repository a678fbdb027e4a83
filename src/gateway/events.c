/* events.c - the live event stream of events.h: the clients, the per-job batches of shard
 * changes and the two timers (batches, keep-alive). */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "gw_internal.h"
#include "jobdoc.h"
#include "json.h"

#define BATCH_WORKERS 32   /* workers named in one shards event; a batch with more goes out */
#define HELLO_RECENT  20   /* ended jobs in hello, newest first */
#define HELLO_NODES   1024 /* as GET /api/v1/nodes */
#define MISSING_MAX   (256u * 1024) /* bytes of missing ranges in a final shards event */

/* One job's shard changes since its last shards event. */
typedef struct batch {
    struct batch *next;
    mesh_job_id id;
    uint32_t total, done, trapped, leased; /* the job's counts at the last change */
    p2p_peer_id workers[BATCH_WORKERS];
    size_t nworkers;
    size_t nchanges;
    buf_t changes; /* "[i, \"state\", w, ...], ..." */
} batch;

struct gw_events {
    gw *g;
    bool timers_on;
    uv_timer_t batch_timer, keepalive;
    int closing; /* timers still closing */
    gw_req *clients[GW_EVENTS_MAX_CLIENTS];
    size_t nclients;
    batch *batches;
    uint64_t dropped;
    uint64_t ticks; /* of the keepalive timer */
    void (*done)(void *user);
    void *done_user;
};

int gw_events_new(gw *g, gw_events **out, char *err, size_t errlen)
{
    gw_events *e = calloc(1, sizeof *e);
    if (!e)
        return err_set(err, errlen, "out of memory");
    e->g = g;
    *out = e;
    return 0;
}

void gw_events_counts(const gw_events *e, uint64_t *clients, uint64_t *dropped)
{
    *clients = e->nclients;
    *dropped = e->dropped;
}

/* ---- clients ------------------------------------------------------------------------------ */

static void remove_client(gw_events *e, size_t i)
{
    assert(i < e->nclients);
    e->clients[i] = e->clients[--e->nclients];
}

static void client_closed(gw_req *r, void *user)
{
    gw_events *e = user;
    for (size_t i = 0; i < e->nclients; i++)
        if (e->clients[i] == r) {
            remove_client(e, i);
            return;
        }
}

/* Queues bytes for every client; one that has more than its bound unread is dropped, so a
 * stalled reader costs at most GW_EVENTS_MAX_QUEUED. */
static void broadcast(gw_events *e, const void *data, size_t len)
{
    for (size_t i = e->nclients; i-- > 0;) {
        gw_req *r = e->clients[i];
        if (gw_req_stream_write(r, data, len) == 0)
            continue;
        remove_client(e, i);
        gw_req_stream_end(r);
        e->dropped++;
        gw_log(e->g, "events: dropped a client with %zu bytes unread",
               (size_t)GW_EVENTS_MAX_QUEUED);
    }
}

/* Sends "event: name\ndata: json\n\n"; json is one line (our writers escape newlines). */
static void send_event(gw_events *e, const char *name, buf_t *json)
{
    while (json->len && json->data[json->len - 1] == '\n')
        json->len--;
    assert(!memchr(json->data, '\n', json->len));
    buf_t m;
    buf_init(&m, 0);
    int rc = buf_printf(&m, "event: %s\ndata: ", name);
    rc |= buf_append(&m, json->data, json->len);
    rc |= buf_puts(&m, "\n\n");
    if (rc == 0)
        broadcast(e, m.data, m.len);
    buf_free(&m);
}

/* Every GW_EVENTS_PROBE_MS: ends the streams whose clients left (a page reload must not hold
 * a slot until the next write fails), and every GW_EVENTS_KEEPALIVE_MS sends a comment so
 * that proxies keep an idle stream open. */
static void on_tick(uv_timer_t *t)
{
    gw_events *e = t->data;
    for (size_t i = e->nclients; i-- > 0;) {
        gw_req *r = e->clients[i];
        if (gw_req_stream_peer_gone(r)) {
            remove_client(e, i);
            gw_req_stream_end(r);
        }
    }
    e->ticks++;
    if (e->ticks % (GW_EVENTS_KEEPALIVE_MS / GW_EVENTS_PROBE_MS) == 0) {
        static const char comment[] = ": keep-alive\n\n";
        broadcast(e, comment, sizeof comment - 1);
    }
}

/* ---- batches ------------------------------------------------------------------------------ */

static void batch_free(batch *b)
{
    buf_free(&b->changes);
    free(b);
}

static batch **find_batch(gw_events *e, const mesh_job_id *id)
{
    batch **pp = &e->batches;
    while (*pp && memcmp((*pp)->id.b, id->b, sizeof id->b) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* Sends a batch as one shards event, with the missing shards' ranges if missing is not NULL,
 * and frees it. */
static void send_batch(gw_events *e, batch *b, const buf_t *missing, bool truncated)
{
    char id[2 * MESH_JOB_ID_LEN + 1], peer[P2P_PEER_ID_STRLEN];
    mesh_job_id_str(&b->id, id);
    buf_t j;
    buf_init(&j, 0);
    int rc = buf_printf(&j,
                        "{\"job\": \"%s\", \"total\": %" PRIu32 ", \"done\": %" PRIu32
                        ", \"trapped\": %" PRIu32 ", \"leased\": %" PRIu32 ", \"workers\": [",
                        id, b->total, b->done, b->trapped, b->leased);
    for (size_t i = 0; i < b->nworkers; i++)
        rc |= buf_printf(&j, "%s\"%s\"", i ? ", " : "", p2p_peer_id_str(&b->workers[i], peer));
    rc |= buf_puts(&j, "], \"changes\": [");
    rc |= buf_append(&j, b->changes.data, b->changes.len);
    rc |= buf_puts(&j, "]");
    if (missing) {
        rc |= buf_puts(&j, ", \"final\": true, \"missing\": [");
        rc |= buf_append(&j, missing->data, missing->len);
        rc |= buf_printf(&j, "], \"missing_truncated\": %s", truncated ? "true" : "false");
    }
    rc |= buf_puts(&j, "}");
    if (rc == 0)
        send_event(e, "shards", &j);
    buf_free(&j);
    batch_free(b);
}

static void flush_all(gw_events *e)
{
    while (e->batches) {
        batch *b = e->batches;
        e->batches = b->next;
        send_batch(e, b, NULL, false);
    }
}

static void on_batch_timer(uv_timer_t *t)
{
    gw_events *e = t->data;
    flush_all(e);
    uv_timer_stop(t);
}

static batch *batch_for(gw_events *e, const mesh_job_info *j)
{
    batch **pp = find_batch(e, &j->id);
    if (!*pp) {
        batch *b = calloc(1, sizeof *b);
        if (!b)
            return NULL;
        b->id = j->id;
        buf_init(&b->changes, 0);
        *pp = b;
        if (e->timers_on && !uv_is_active((uv_handle_t *)&e->batch_timer))
            uv_timer_start(&e->batch_timer, on_batch_timer, GW_EVENTS_BATCH_MS, 0);
    }
    batch *b = *pp;
    b->total = j->total;
    b->done = j->done;
    b->trapped = j->trapped;
    b->leased = j->leased;
    return b;
}

/* Sends job id's batch now, if it has one. */
static void send_batch_of(gw_events *e, const mesh_job_id *id, const buf_t *missing, bool truncated)
{
    batch **pp = find_batch(e, id);
    batch *b = *pp;
    if (!b)
        return;
    *pp = b->next;
    send_batch(e, b, missing, truncated);
}

/* The index of worker in b's list, adding it; -1 when the list is full. */
static int worker_index(batch *b, const p2p_peer_id *worker)
{
    for (size_t i = 0; i < b->nworkers; i++)
        if (p2p_peer_id_eq(&b->workers[i], worker))
            return (int)i;
    if (b->nworkers == BATCH_WORKERS)
        return -1;
    b->workers[b->nworkers] = *worker;
    return (int)b->nworkers++;
}

void gw_events_shard(gw_events *e, const mesh_job_info *j, uint32_t shard, mesh_shard_state st,
                     const p2p_peer_id *worker, const mesh_shard_info *info)
{
    if (e->nclients == 0)
        return;
    batch *b = batch_for(e, j);
    if (!b)
        return;
    int w = -1;
    if (worker && worker->len) {
        w = worker_index(b, worker);
        if (w < 0) { /* this batch names enough workers: it goes now, the change starts one */
            send_batch_of(e, &j->id, NULL, false);
            if (!(b = batch_for(e, j)))
                return;
            w = worker_index(b, worker);
        }
    }
    int rc = buf_printf(&b->changes, "%s[%" PRIu32 ", \"%s\", ", b->nchanges ? ", " : "", shard,
                        mesh_shard_state_name(st));
    rc |= w < 0 ? buf_puts(&b->changes, "null") : buf_printf(&b->changes, "%d", w);
    if (st == MESH_SHARD_DONE && info)
        rc |= buf_printf(&b->changes, ", %" PRId64, info->value);
    else if (st == MESH_SHARD_TRAPPED && info) {
        rc |= buf_puts(&b->changes, ", ");
        rc |= gw_jw_str(&b->changes, info->error ? info->error : "trapped");
    }
    rc |= buf_puts(&b->changes, "]");
    b->nchanges++;
    if (rc != 0 || b->changes.len >= GW_EVENTS_BATCH_MAX)
        send_batch_of(e, &j->id, NULL, false);
}

/* ---- jobs and nodes ----------------------------------------------------------------------- */

static void send_job(gw_events *e, const mesh_job_info *j, uint64_t ended_ms)
{
    buf_t b;
    buf_init(&b, 0);
    if (gw_jobdoc_summary(&b, j, ended_ms) == 0)
        send_event(e, "job", &b);
    buf_free(&b);
}

void gw_events_job_started(gw_events *e, const mesh_job_info *j)
{
    if (e->nclients)
        send_job(e, j, 0);
}

/* Appends the index ranges ("[a, b]", inclusive) of the shards that did not finish, as far as
 * the mesh still holds the job; false if they did not all fit. */
static bool missing_ranges(gw_events *e, const mesh_job_info *j, buf_t *out)
{
    bool open = false, first = true;
    uint32_t lo = 0;
    mesh_shard_info s;
    for (uint32_t i = 0; i <= j->total; i++) {
        bool miss = i < j->total && mesh_gw_job_shard(e->g->mesh, &j->id, i, &s) &&
                    s.state != MESH_SHARD_DONE && s.state != MESH_SHARD_TRAPPED;
        if (miss && !open) {
            open = true;
            lo = i;
        } else if (!miss && open) {
            open = false;
            if (out->len > MISSING_MAX)
                return false;
            buf_printf(out, "%s[%" PRIu32 ", %" PRIu32 "]", first ? "" : ", ", lo, i - 1);
            first = false;
        }
    }
    return true;
}

void gw_events_job_ended(gw_events *e, const mesh_job_info *j, uint64_t ended_ms)
{
    if (e->nclients == 0) {
        batch **pp = find_batch(e, &j->id);
        if (*pp) {
            batch *b = *pp;
            *pp = b->next;
            batch_free(b);
        }
        return;
    }
    /* the last shards event of a job comes before its job event, and always comes */
    batch_for(e, j);
    buf_t missing;
    buf_init(&missing, 0);
    bool complete = j->missing == 0 || missing_ranges(e, j, &missing);
    send_batch_of(e, &j->id, &missing, !complete);
    buf_free(&missing);
    send_job(e, j, ended_ms);
}

/* Writes node peer's entry, or {"peer", "state": "gone"} once the registry has forgotten it. */
static int node_doc(gw_events *e, const p2p_peer_id *peer, buf_t *b)
{
    mesh_node_info *nodes = malloc(HELLO_NODES * sizeof *nodes);
    if (!nodes)
        return -1;
    size_t n = mesh_gw_nodes(e->g->mesh, nodes, HELLO_NODES);
    for (size_t i = 0; i < n && i < HELLO_NODES; i++)
        if (p2p_peer_id_eq(&nodes[i].peer, peer)) {
            int rc = gw_nodedoc(b, &nodes[i]);
            free(nodes);
            return rc;
        }
    free(nodes);
    char text[P2P_PEER_ID_STRLEN];
    return buf_printf(b, "{\"peer\": \"%s\", \"state\": \"gone\"}", p2p_peer_id_str(peer, text));
}

void gw_events_node(gw_events *e, const p2p_peer_id *peer)
{
    if (e->nclients == 0)
        return;
    buf_t b;
    buf_init(&b, 0);
    if (node_doc(e, peer, &b) == 0)
        send_event(e, "node", &b);
    buf_free(&b);
}

/* ---- hello -------------------------------------------------------------------------------- */

typedef struct {
    gw_events *e;
    buf_t *b;
    bool first;
} running_ctx;

static int add_running(const gw_job_row *row, void *user)
{
    running_ctx *c = user;
    mesh_job_info live;
    const mesh_job_info *j = &row->info;
    if (mesh_gw_job(c->e->g->mesh, &j->id, &live))
        j = &live;
    if (j->status != MESH_JOB_RUNNING)
        return 0;
    if (!c->first)
        buf_puts(c->b, ", ");
    c->first = false;
    return gw_jobdoc_summary(c->b, j, 0);
}

/* {"nodes": [...], "jobs": [the running jobs], "recent": [the last ended jobs]}. */
static int hello_doc(gw_events *e, buf_t *b, char *err, size_t errlen)
{
    gw *g = e->g;
    mesh_node_info *nodes = malloc(HELLO_NODES * sizeof *nodes);
    gw_job_row *rows = malloc(HELLO_RECENT * sizeof *rows);
    int rc = nodes && rows ? 0 : err_set(err, errlen, "out of memory");
    size_t n = rc == 0 ? mesh_gw_nodes(g->mesh, nodes, HELLO_NODES) : 0;
    rc |= buf_printf(b, "{\"batch_ms\": %d, \"nodes\": [", GW_EVENTS_BATCH_MS);
    for (size_t i = 0; rc == 0 && i < n && i < HELLO_NODES; i++) {
        rc |= i ? buf_puts(b, ", ") : 0;
        rc |= gw_nodedoc(b, &nodes[i]);
    }
    rc |= buf_puts(b, "], \"jobs\": [");
    running_ctx c = {e, b, true};
    if (rc == 0)
        rc = gw_store_each_running(g->store, add_running, &c, err, errlen);
    rc |= buf_puts(b, "], \"recent\": [");
    int nrows = rc == 0 ? gw_store_list_jobs(g->store, NULL, rows, HELLO_RECENT, err, errlen) : 0;
    if (nrows < 0)
        rc = -1;
    bool first = true;
    for (int i = 0; rc == 0 && i < nrows; i++) {
        if (rows[i].info.status == MESH_JOB_RUNNING)
            continue;
        rc |= first ? 0 : buf_puts(b, ", ");
        first = false;
        rc |= gw_jobdoc_summary(b, &rows[i].info, rows[i].ended_ms);
    }
    rc |= buf_puts(b, "]}");
    free(nodes);
    free(rows);
    return rc ? -1 : 0;
}

static void start_timers(gw_events *e)
{
    uv_loop_t *loop = e->g->loop;
    uv_timer_init(loop, &e->batch_timer);
    uv_timer_init(loop, &e->keepalive);
    e->batch_timer.data = e->keepalive.data = e;
    uv_timer_start(&e->keepalive, on_tick, GW_EVENTS_PROBE_MS, GW_EVENTS_PROBE_MS);
    e->timers_on = true;
}

void gw_events_subscribe(gw_events *e, gw_req *r)
{
    gw *g = e->g;
    if (e->nclients == GW_EVENTS_MAX_CLIENTS) {
        char msg[96];
        snprintf(msg, sizeof msg, "too many event streams (at most %d): try again later",
                 GW_EVENTS_MAX_CLIENTS);
        gw_answer_error(g, r, 503, msg);
        return;
    }
    buf_t b;
    buf_init(&b, 0);
    char err[256];
    if (hello_doc(e, &b, err, sizeof err) < 0) {
        buf_free(&b);
        gw_answer_error(g, r, 500, err);
        return;
    }
    if (!e->timers_on)
        start_timers(e);
    g->requests[2]++;
    gw_req_stream_start(r, 200, "text/event-stream",
                        "Cache-Control: no-store\r\nX-Accel-Buffering: no", GW_EVENTS_MAX_QUEUED);
    gw_req_on_close(r, client_closed, e);
    e->clients[e->nclients++] = r;
    /* only the new client gets hello: the others have drawn themselves already */
    gw_req *others[GW_EVENTS_MAX_CLIENTS];
    size_t nothers = e->nclients - 1;
    memcpy(others, e->clients, nothers * sizeof *others);
    e->clients[0] = r;
    e->nclients = 1;
    static const char retry[] = "retry: 2000\n\n";
    broadcast(e, retry, sizeof retry - 1);
    send_event(e, "hello", &b);
    buf_free(&b);
    bool kept = e->nclients == 1;
    memcpy(e->clients, others, nothers * sizeof *others);
    e->nclients = nothers;
    if (kept)
        e->clients[e->nclients++] = r;
}

/* ---- closing ------------------------------------------------------------------------------ */

static void timer_closed(uv_handle_t *h)
{
    gw_events *e = h->data;
    if (--e->closing > 0)
        return;
    void (*done)(void *) = e->done;
    void *user = e->done_user;
    free(e);
    if (done)
        done(user);
}

void gw_events_close(gw_events *e, void (*done)(void *user), void *user)
{
    while (e->nclients > 0) {
        gw_req *r = e->clients[--e->nclients];
        gw_req_stream_end(r);
    }
    while (e->batches) {
        batch *b = e->batches;
        e->batches = b->next;
        batch_free(b);
    }
    if (!e->timers_on) {
        free(e);
        if (done)
            done(user);
        return;
    }
    e->done = done;
    e->done_user = user;
    e->closing = 2;
    uv_close((uv_handle_t *)&e->batch_timer, timer_closed);
    uv_close((uv_handle_t *)&e->keepalive, timer_closed);
}
