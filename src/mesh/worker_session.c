/* worker_session.c - a task stream with a gateway: Hello out, leases and cancels in, results
 * out in batches (every result that is ready in one loop turn goes in one frame). A session
 * outlives its stream while leases still point at it; they only drop their results then. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "worker_internal.h"

#define WK_OUT_MAX (64u << 20) /* encoded bytes waiting for the stream */

static void session_gone(wk_session *ss, const char *why);

static void session_free(wk_session *ss)
{
    for (size_t i = 0; i < ss->npending; i++)
        swarm__task__result__free_unpacked(ss->pending[i], NULL);
    free(ss->pending);
    wire_reader_free(&ss->rd);
    buf_free(&ss->out);
    free(ss);
}

/* Writes what the stream takes; the rest waits for on_writable. */
static void pump(wk_session *ss)
{
    if (!ss->s || ss->out.len == 0)
        return;
    ssize_t n = p2p_stream_write(ss->s, ss->out.data, ss->out.len);
    if (n < 0) {
        session_gone(ss, "stream closed for writing");
        return;
    }
    memmove(ss->out.data, ss->out.data + n, ss->out.len - (size_t)n);
    ss->out.len -= (size_t)n;
}

static int put_frame(wk_session *ss, const Swarm__Task__TaskFrame *f)
{
    if (wire_put_task(&ss->out, f) != 0) {
        session_gone(ss, "too many results waiting for a gateway that does not read");
        return -1;
    }
    return 0;
}

static void add_result(wk_session *ss, const mesh_job_id *job, uint32_t shard, uint32_t attempt,
                       Swarm__Task__ResultKind kind, int64_t value, const char *error,
                       uint64_t fuel_used, uint64_t elapsed_us)
{
    if (!ss->s)
        return;
    if (ss->npending == ss->cappending) {
        size_t cap = ss->cappending ? 2 * ss->cappending : 16;
        Swarm__Task__Result **p = realloc(ss->pending, cap * sizeof *p);
        if (!p)
            return; /* the lease expires at the gateway and goes elsewhere */
        ss->pending = p;
        ss->cappending = cap;
    }
    Swarm__Task__Result *r = malloc(sizeof *r + MESH_JOB_ID_LEN);
    if (!r)
        return;
    swarm__task__result__init(r);
    uint8_t *id = (uint8_t *)(r + 1);
    memcpy(id, job->b, MESH_JOB_ID_LEN);
    r->has_job_id = r->has_shard = r->has_attempt = r->has_kind = true;
    r->job_id.data = id;
    r->job_id.len = MESH_JOB_ID_LEN;
    r->shard = shard;
    r->attempt = attempt;
    r->kind = kind;
    if (kind == SWARM__TASK__RESULT_KIND__VALUE) {
        r->has_value = true;
        r->value = value;
    } else if (error) {
        size_t n = strnlen(error, WIRE_ERROR_MAX);
        r->error = malloc(n + 1);
        if (r->error) {
            memcpy(r->error, error, n);
            r->error[n] = '\0';
        }
    }
    r->has_fuel_used = r->has_elapsed_us = true;
    r->fuel_used = fuel_used;
    r->elapsed_us = elapsed_us;
    ss->pending[ss->npending++] = r;
    if (!ss->queued_flush) {
        ss->queued_flush = true;
        ss->next_flush = ss->w->flushq;
        ss->w->flushq = ss;
    }
}

static void free_result(Swarm__Task__Result *r)
{
    free(r->error);
    free(r); /* the job id lives in the same block */
}

static void flush_session(wk_session *ss)
{
    size_t done = 0;
    while (done < ss->npending && ss->s) {
        size_t n = ss->npending - done;
        if (n > WIRE_MAX_BATCH)
            n = WIRE_MAX_BATCH;
        Swarm__Task__TaskFrame f = SWARM__TASK__TASK_FRAME__INIT;
        f.n_results = n;
        f.results = ss->pending + done;
        if (put_frame(ss, &f) != 0)
            break;
        done += n;
    }
    for (size_t i = 0; i < ss->npending; i++)
        free_result(ss->pending[i]);
    ss->npending = 0;
    pump(ss);
}

void wk_flush(mesh_worker *w)
{
    while (w->flushq) {
        wk_session *ss = w->flushq;
        w->flushq = ss->next_flush;
        ss->queued_flush = false;
        flush_session(ss);
    }
}

static void release_lease(wk_lease *l)
{
    wk_session *ss = l->sess;
    mesh_worker *w = ss->w;
    if (l->mod)
        wk_module_release(w, l->mod);
    free(l);
    assert(ss->leases > 0);
    ss->leases--;
    if (!ss->s && ss->leases == 0 && !ss->dying)
        session_free(ss);
}

void wk_finish(wk_lease *l, Swarm__Task__ResultKind kind, int64_t value, const char *error,
               uint64_t fuel_used, uint64_t elapsed_us)
{
    add_result(l->sess, &l->task.job, l->task.shard, l->attempt, kind, value, error, fuel_used,
               elapsed_us);
    release_lease(l);
}

static const Swarm__Task__ResultKind kind_of[] = {
    [EXEC_VALUE] = SWARM__TASK__RESULT_KIND__VALUE,
    [EXEC_TRAP] = SWARM__TASK__RESULT_KIND__TRAP,
    [EXEC_FAILED] = SWARM__TASK__RESULT_KIND__FAILED,
    [EXEC_CANCELLED] = SWARM__TASK__RESULT_KIND__CANCELLED,
};

void wk_on_done(void *user, exec_task *done)
{
    mesh_worker *w = user;
    for (exec_task *t = done, *next; t; t = next) {
        next = t->next;
        wk_lease *l = t->user;
        if (t->kind == EXEC_VALUE)
            w->shards_done++;
        mesh_worker_event ev = {
            .type = MESH_WK_EV_SHARD,
            .peer = &l->sess->peer,
            .job = &t->job,
            .shard = t->shard,
            .ok = t->kind == EXEC_VALUE,
            .value = t->value,
            .error = t->kind == EXEC_VALUE ? NULL : t->error,
            .fuel_used = t->fuel_used,
            .elapsed_us = t->elapsed_us,
            .start = t->start,
            .end = t->end,
        };
        wk_emit(w, &ev);
        wk_finish(l, kind_of[t->kind], t->value, t->error, t->fuel_used, t->elapsed_us);
    }
    wk_flush(w);
}

/* ---- frames in ---------------------------------------------------------------------------- */

static void take_lease(wk_session *ss, const Swarm__Task__Lease *ls)
{
    mesh_worker *w = ss->w;
    mesh_job_id job;
    memcpy(job.b, ls->job_id.data, MESH_JOB_ID_LEN);
    if (!ss->trusted) {
        add_result(ss, &job, ls->shard, ls->attempt, SWARM__TASK__RESULT_KIND__REFUSED, 0,
                   "untrusted gateway", 0, 0);
        return;
    }
    if (ss->leases >= WK_MAX_LEASES || w->closing) {
        add_result(ss, &job, ls->shard, ls->attempt, SWARM__TASK__RESULT_KIND__REFUSED, 0,
                   "busy: too many leases", 0, 0);
        return;
    }
    wk_lease *l = calloc(1, sizeof *l);
    if (!l) {
        add_result(ss, &job, ls->shard, ls->attempt, SWARM__TASK__RESULT_KIND__FAILED, 0,
                   "out of memory", 0, 0);
        return;
    }
    exec_task *t = &l->task;
    snprintf(t->entry, sizeof t->entry, "%s", ls->entry);
    t->abi64 = ls->has_abi64 && ls->abi64;
    t->start = ls->start;
    t->end = ls->end;
    t->fuel = ls->has_fuel ? ls->fuel : 0;
    t->max_pages = ls->has_max_pages ? ls->max_pages : 0;
    t->group = ss->id;
    t->job = job;
    t->shard = ls->shard;
    t->user = l;
    l->sess = ss;
    l->attempt = ls->attempt;
    ss->leases++;
    wk_module_want(w, l, ls->module_hash.data);
}

static void take_frame(wk_session *ss, const Swarm__Task__TaskFrame *f)
{
    mesh_worker *w = ss->w;
    for (size_t i = 0; i < f->n_cancels && ss->s; i++) {
        const Swarm__Task__Cancel *c = f->cancels[i];
        mesh_job_id job;
        memcpy(job.b, c->job_id.data, MESH_JOB_ID_LEN);
        exec_cancel(w->exec, ss->id, &job, c->has_shard, c->shard);
        wk_modules_forget_session(w, ss, &job, c->has_shard, c->shard);
    }
    for (size_t i = 0; i < f->n_leases && ss->s; i++)
        take_lease(ss, f->leases[i]);
}

static void on_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    (void)s;
    wk_session *ss = user;
    mesh_worker *w = ss->w;
    char err[256];
    if (wire_reader_feed(&ss->rd, p, n, err, sizeof err) != 0) {
        session_gone(ss, err);
        wk_flush(w);
        return;
    }
    const uint8_t *body;
    size_t len;
    int rc;
    while (ss->s && (rc = wire_reader_next(&ss->rd, &body, &len, err, sizeof err)) != 0) {
        Swarm__Task__TaskFrame *f = rc > 0 ? wire_decode_task(body, len, err, sizeof err) : NULL;
        if (!f) {
            char msg[300];
            snprintf(msg, sizeof msg, "bad task frame: %s", err);
            wk_emit_msg(w, MESH_WK_EV_ERROR, &ss->peer, msg);
            session_gone(ss, msg);
            break;
        }
        take_frame(ss, f);
        swarm__task__task_frame__free_unpacked(f, NULL);
    }
    wk_flush(w);
}

static void on_eof(p2p_stream *s, void *user)
{
    (void)s;
    session_gone(user, "the gateway closed the task stream");
}

static void on_writable(p2p_stream *s, void *user)
{
    (void)s;
    pump(user);
}

static void on_close(p2p_stream *s, const char *reason, void *user)
{
    (void)s;
    wk_session *ss = user;
    ss->s = NULL; /* freed by the host after this returns */
    session_gone(ss, reason ? reason : "stream closed");
}

static const p2p_stream_cbs session_cbs = {on_data, on_eof, on_writable, on_close};
static const p2p_stream_cbs no_cbs = {NULL, NULL, NULL, NULL};

void wk_refuse_stream(p2p_stream *s, void *user)
{
    (void)user;
    p2p_stream_set_cbs(s, &no_cbs, NULL);
    p2p_stream_reset(s);
}

wk_session *wk_session_new(mesh_worker *w, p2p_stream *s, bool trusted, wk_target *target)
{
    wk_session *ss = calloc(1, sizeof *ss);
    if (!ss)
        return NULL;
    ss->w = w;
    ss->s = s;
    ss->peer = *p2p_stream_peer(s);
    ss->id = w->next_session_id++;
    ss->trusted = trusted;
    ss->target = target;
    wire_reader_init(&ss->rd, WIRE_TASK_FRAME_MAX);
    buf_init(&ss->out, WK_OUT_MAX);
    ss->next = w->sessions;
    w->sessions = ss;
    if (target)
        target->session = ss;
    p2p_stream_set_cbs(s, &session_cbs, ss);
    if (trusted) {
        Swarm__Task__Hello h = SWARM__TASK__HELLO__INIT;
        h.has_slots = h.has_cores = true;
        h.slots = w->threads;
        h.cores = w->cores;
        h.label = w->label;
        h.agent = (char *)"swarm/" SWARM_VERSION;
        Swarm__Task__TaskFrame f = SWARM__TASK__TASK_FRAME__INIT;
        f.hello = &h;
        if (put_frame(ss, &f) == 0)
            pump(ss);
    }
    return ss;
}

/* The stream is gone or must go: forget the session, stop its shards, redial its gateway. */
static void session_gone(wk_session *ss, const char *why)
{
    mesh_worker *w = ss->w;
    if (ss->dying)
        return;
    ss->dying = true;
    if (ss->s) {
        p2p_stream_set_cbs(ss->s, &no_cbs, NULL);
        p2p_stream_reset(ss->s);
        ss->s = NULL;
    }
    for (wk_session **pp = &w->sessions; *pp; pp = &(*pp)->next)
        if (*pp == ss) {
            *pp = ss->next;
            break;
        }
    for (wk_session **pp = &w->flushq; *pp; pp = &(*pp)->next_flush)
        if (*pp == ss) {
            *pp = ss->next_flush;
            break;
        }
    ss->queued_flush = false;
    exec_cancel(w->exec, ss->id, NULL, false, 0);
    wk_modules_forget_session(w, ss, NULL, false, 0);
    if (ss->target) {
        ss->target->session = NULL;
        if (ss->trusted && !w->closing)
            wk_emit_msg(w, MESH_WK_EV_GONE, &ss->peer, why);
        wk_schedule_redial(ss->target);
    }
    ss->dying = false;
    if (ss->leases == 0)
        session_free(ss);
}

void wk_session_drop(wk_session *ss, const char *why)
{
    session_gone(ss, why);
}
