/* gw_task.c - the gateway's end of /swarm/task/1.0.0: Hello, leases and cancels out in one
 * batched frame per worker and loop turn, results in (see gw_internal.h). */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_internal.h"

static void conn_free(gw_conn *c)
{
    mesh_gw *g = c->g;
    if (c->prev)
        c->prev->next = c->next;
    else
        g->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->dirty) /* unlink from the flush list */
        for (gw_conn **p = &g->flush; *p; p = &(*p)->next_dirty)
            if (*p == c) {
                *p = c->next_dirty;
                break;
            }
    wire_reader_free(&c->rd);
    buf_free(&c->out);
    buf_free(&c->batch);
    free(c);
}

/* Resets a worker's stream for breaking the protocol: a strike, the event, the counter. */
static void conn_bad(gw_conn *c, const char *msg)
{
    mesh_gw *g = c->g;
    if (c->bad)
        return;
    c->bad = true;
    gw_peer_error(g, p2p_stream_peer(c->s), msg);
    if (c->node)
        sched_strike(g->s, c->node, gw_now(g));
    p2p_stream_reset(c->s);
    gw_kick(g);
}

/* Writes what the stream takes; the rest waits for on_writable. */
static void conn_write(gw_conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = p2p_stream_write(c->s, c->out.data + c->out_off, c->out.len - c->out_off);
        if (n <= 0)
            break;
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out.len) {
        buf_clear(&c->out);
        c->out_off = 0;
    } else if (c->out_off > (1u << 20)) { /* keep the buffer from creeping */
        memmove(c->out.data, c->out.data + c->out_off, c->out.len - c->out_off);
        c->out.len -= c->out_off;
        c->out_off = 0;
    }
}

/* Moves the batched TaskFrame body into the output as one frame. */
static void batch_close(gw_conn *c)
{
    if (!c->nbatch)
        return;
    uint8_t pre[UVARINT_MAX_LEN];
    size_t np = uvarint_encode(c->batch.len, pre);
    if (buf_append(&c->out, pre, np) < 0 || buf_append(&c->out, c->batch.data, c->batch.len) < 0)
        conn_bad(c, "worker does not read its task stream (output over the limit)");
    buf_clear(&c->batch);
    c->nbatch = 0;
}

/* Appends one TaskFrame (one item) to the batch: repeated fields of concatenated messages
 * concatenate, so the batch stays one valid TaskFrame. */
static void batch_add(gw_conn *c, const Swarm__Task__TaskFrame *f)
{
    mesh_gw *g = c->g;
    size_t n = swarm__task__task_frame__get_packed_size(f);
    if (c->nbatch >= WIRE_MAX_BATCH || c->batch.len + n > WIRE_TASK_FRAME_MAX)
        batch_close(c);
    if (buf_reserve(&c->batch, n) < 0) {
        conn_bad(c, "out of memory for the task stream");
        return;
    }
    c->batch.len += swarm__task__task_frame__pack(f, c->batch.data + c->batch.len);
    c->nbatch++;
    if (!c->dirty) {
        c->dirty = true;
        c->next_dirty = g->flush;
        g->flush = c;
    }
    gw_kick(g);
}

void gw_task_lease(void *user, hl_node *n, const sched_lease_msg *m)
{
    (void)user;
    gw_conn *c = n->conn;
    if (!c || c->bad)
        return; /* the lease expires or the connection's end takes it back */
    Swarm__Task__Lease l = SWARM__TASK__LEASE__INIT;
    l.has_job_id = l.has_shard = l.has_attempt = l.has_start = l.has_end = 1;
    l.job_id.data = (uint8_t *)m->job->b;
    l.job_id.len = MESH_JOB_ID_LEN;
    l.shard = m->shard;
    l.attempt = m->attempt;
    l.start = m->start;
    l.end = m->end;
    l.has_module_hash = 1;
    l.module_hash.data = (uint8_t *)m->spec->module;
    l.module_hash.len = MESH_HASH_LEN;
    l.entry = (char *)m->spec->entry;
    l.has_abi64 = 1;
    l.abi64 = m->spec->abi64;
    l.has_fuel = 1;
    l.fuel = m->spec->fuel;
    l.has_max_pages = 1;
    l.max_pages = m->spec->max_pages;
    l.has_timeout_ms = 1;
    l.timeout_ms = m->timeout_ms;
    Swarm__Task__Lease *lp = &l;
    Swarm__Task__TaskFrame f = SWARM__TASK__TASK_FRAME__INIT;
    f.n_leases = 1;
    f.leases = &lp;
    batch_add(c, &f);
}

void gw_task_cancel(void *user, hl_node *n, const mesh_job_id *job, bool all, uint32_t shard)
{
    (void)user;
    gw_conn *c = n->conn;
    if (!c || c->bad)
        return;
    Swarm__Task__Cancel x = SWARM__TASK__CANCEL__INIT;
    x.has_job_id = 1;
    x.job_id.data = (uint8_t *)job->b;
    x.job_id.len = MESH_JOB_ID_LEN;
    x.has_shard = !all;
    x.shard = shard;
    Swarm__Task__Cancel *xp = &x;
    Swarm__Task__TaskFrame f = SWARM__TASK__TASK_FRAME__INIT;
    f.n_cancels = 1;
    f.cancels = &xp;
    batch_add(c, &f);
}

void gw_task_flush(mesh_gw *g)
{
    while (g->flush) {
        gw_conn *c = g->flush;
        g->flush = c->next_dirty;
        c->dirty = false;
        c->next_dirty = NULL;
        if (c->bad)
            continue;
        batch_close(c);
        if (!c->bad)
            conn_write(c);
    }
}

/* The worker said Hello: it is a node now (again, if it was one). */
static void on_hello(gw_conn *c, const Swarm__Task__Hello *h)
{
    mesh_gw *g = c->g;
    uint64_t now = gw_now(g);
    hl_node *n = health_find(&g->reg, p2p_stream_peer(c->s));
    if (n && n->conn && n->conn != c) {
        /* a newer stream of the same worker replaces the old one, whose leases come back */
        gw_conn *old = n->conn;
        old->node = NULL;
        n->conn = NULL;
        sched_node_lost(g->s, n, false, now);
        p2p_stream_reset(old->s);
    }
    n = health_connect(&g->reg, p2p_stream_peer(c->s), h->slots, h->has_cores ? h->cores : 0,
                       h->label, h->agent, now);
    if (!n) {
        conn_bad(c, "out of memory for a node");
        return;
    }
    n->conn = c;
    c->node = n;
    gw_kick(g);
}

static void on_frame(gw_conn *c, const uint8_t *p, size_t len)
{
    mesh_gw *g = c->g;
    char err[256];
    Swarm__Task__TaskFrame *f = wire_decode_task(p, len, err, sizeof err);
    if (!f) {
        conn_bad(c, err);
        return;
    }
    if (f->n_leases || f->n_cancels)
        conn_bad(c, "task frame: a worker sends no leases or cancels");
    else if (f->hello)
        on_hello(c, f->hello);
    else if (!c->node)
        conn_bad(c, "task frame: the first frame must carry Hello");
    uint64_t now = gw_now(g);
    for (size_t i = 0; i < f->n_results && c->node && !c->bad; i++)
        sched_result(g->s, c->node, f->results[i], now);
    if (f->n_results)
        gw_kick(g);
    swarm__task__task_frame__free_unpacked(f, NULL);
}

static void on_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    (void)s;
    gw_conn *c = user;
    char err[256];
    if (c->bad)
        return;
    if (wire_reader_feed(&c->rd, p, n, err, sizeof err) < 0) {
        conn_bad(c, err);
        return;
    }
    const uint8_t *body;
    size_t len;
    int rc;
    while (!c->bad && (rc = wire_reader_next(&c->rd, &body, &len, err, sizeof err)) == 1)
        on_frame(c, body, len);
    if (!c->bad && rc < 0)
        conn_bad(c, err);
}

static void on_eof(p2p_stream *s, void *user)
{
    (void)user;
    /* a worker that stops talking leaves: its leases are reassigned when the stream closes */
    p2p_stream_reset(s);
}

static void on_writable(p2p_stream *s, void *user)
{
    (void)s;
    gw_conn *c = user;
    if (!c->bad)
        conn_write(c);
}

static void on_close(p2p_stream *s, const char *reason, void *user)
{
    (void)s;
    (void)reason;
    gw_conn *c = user;
    mesh_gw *g = c->g;
    hl_node *n = c->node;
    if (n && n->conn == c) {
        uint64_t now = gw_now(g);
        sched_node_lost(g->s, n, !c->bad, now);
        health_disconnect(&g->reg, n, now);
        gw_kick(g);
    }
    conn_free(c);
}

void gw_task_handler(p2p_stream *s, void *user)
{
    mesh_gw *g = user;
    gw_conn *c = calloc(1, sizeof *c);
    if (!c) {
        p2p_stream_reset(s);
        return;
    }
    c->g = g;
    c->s = s;
    c->opened = gw_now(g);
    wire_reader_init(&c->rd, WIRE_TASK_FRAME_MAX);
    buf_init(&c->out, GW_OUT_MAX);
    buf_init(&c->batch, WIRE_TASK_FRAME_MAX);
    c->next = g->conns;
    if (g->conns)
        g->conns->prev = c;
    g->conns = c;
    static const p2p_stream_cbs cbs = {on_data, on_eof, on_writable, on_close};
    p2p_stream_set_cbs(s, &cbs, c);
}

void gw_task_sweep(mesh_gw *g, uint64_t now)
{
    for (gw_conn *c = g->conns; c; c = c->next)
        if (!c->node && !c->bad && now - c->opened > GW_HELLO_TIMEOUT_MS)
            conn_bad(c, "task stream: no Hello in time");
}

void gw_task_close_all(mesh_gw *g)
{
    static const p2p_stream_cbs none = {0};
    while (g->conns) {
        gw_conn *c = g->conns;
        if (c->node)
            c->node->conn = NULL;
        p2p_stream_set_cbs(c->s, &none, NULL);
        p2p_stream_reset(c->s);
        conn_free(c);
    }
}
