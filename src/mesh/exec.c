/* exec.c - the pool of threads that runs shards (see exec.h). One mutex guards the queue, the
 * done list and each task's store pointer and cancel flag; a thread holds it only to take a
 * task, publish or retract its store, and hand the task back, never while wasm runs. */
#include "exec.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "err.h"

struct exec {
    uv_loop_t *loop;
    uv_async_t wake;
    exec_done_cb on_done;
    void *user;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    exec_task *qhead, *qtail; /* waiting, FIFO */
    exec_task *dhead, *dtail; /* finished, not yet handed to the loop */
    exec_task **running;      /* one per thread: the task it runs, or NULL */
    pthread_t *threads;
    unsigned nthreads, nstarted, nqueued, nrunning;
    bool stopping;
    void (*closed)(void *user);
    void *closed_user;
};

static void push(exec_task **head, exec_task **tail, exec_task *t)
{
    t->next = NULL;
    if (*tail)
        (*tail)->next = t;
    else
        *head = t;
    *tail = t;
}

/* Calls and reads the result. A module may trap, link or hit a limit: its own fault, so TRAP;
 * running out of host memory is ours, so FAILED; an interrupt is always a cancel (nothing
 * else interrupts). */
static void classify(exec_task *t, const wasm_error *we, const char *what)
{
    if (we->status == WASM_ERR_TRAP && we->trap == WASM_TRAP_INTERRUPTED) {
        t->kind = EXEC_CANCELLED;
        err_set(t->error, sizeof t->error, "cancelled");
    } else if (we->status == WASM_ERR_NOMEM) {
        t->kind = EXEC_FAILED;
        err_set(t->error, sizeof t->error, "%s: %s", what, we->msg);
    } else {
        t->kind = EXEC_TRAP;
        if (we->status == WASM_ERR_TRAP && strcmp(what, "call") == 0)
            err_set(t->error, sizeof t->error, "%s", we->msg); /* "out of fuel", ... */
        else
            err_set(t->error, sizeof t->error, "%s: %s", what, we->msg);
    }
}

/* Runs t in store s (made by the caller with t's limits). */
static void run_in(exec_task *t, wasm_store *s)
{
    wasm_error we;
    memset(&we, 0, sizeof we);
    uint64_t t0 = clock_mono_ns();
    wasm_instance *inst = wasm_instantiate(s, t->module, NULL, NULL, &we);
    if (!inst) {
        classify(t, &we, "instantiate");
        goto out;
    }
    wasm_extern ex;
    if (!wasm_instance_export(inst, t->entry, &ex) || ex.kind != WASM_EXTERN_FUNC) {
        t->kind = EXEC_TRAP;
        err_set(t->error, sizeof t->error, "no exported function \"%s\"", t->entry);
        goto out;
    }
    wasm_value args[2], res[1];
    if (t->abi64) {
        args[0] = (wasm_value){.type = WASM_I64, .of.i64 = t->start};
        args[1] = (wasm_value){.type = WASM_I64, .of.i64 = t->end};
        res[0].type = WASM_I64;
    } else {
        /* the gateway checked that an i32 job's range fits; wrapping keeps us defined */
        args[0] = (wasm_value){.type = WASM_I32, .of.i32 = (int32_t)(uint32_t)t->start};
        args[1] = (wasm_value){.type = WASM_I32, .of.i32 = (int32_t)(uint32_t)t->end};
        res[0].type = WASM_I32;
    }
    wasm_status st = wasm_func_call(s, ex.of.func, args, 2, res, 1, &we);
    if (st == WASM_ERR_ARG) {
        t->kind = EXEC_TRAP;
        err_set(t->error, sizeof t->error, "\"%s\" is not %s: %s", t->entry,
                t->abi64 ? "(i64,i64)->i64" : "(i32,i32)->i32", we.msg);
    } else if (st != WASM_OK) {
        classify(t, &we, "call");
    } else {
        t->kind = EXEC_VALUE;
        t->value = t->abi64 ? res[0].of.i64 : (int64_t)res[0].of.i32;
    }
out:
    t->elapsed_us = (clock_mono_ns() - t0) / 1000;
    t->fuel_used = wasm_store_fuel_used(s);
}

static wasm_store *store_for(exec_task *t)
{
    wasm_limits lim = {.fuel = t->fuel, .max_pages = t->max_pages};
    wasm_store *s = wasm_store_new(&lim);
    if (!s) {
        t->kind = EXEC_FAILED;
        err_set(t->error, sizeof t->error, "out of memory for a store");
    }
    return s;
}

void exec_run(exec_task *t)
{
    t->error[0] = '\0';
    t->fuel_used = t->elapsed_us = 0;
    wasm_store *s = store_for(t);
    if (s) {
        run_in(t, s);
        wasm_store_free(s);
    }
}

typedef struct {
    exec *e;
    unsigned index;
} thread_arg;

static void *thread_main(void *p)
{
    exec *e = ((thread_arg *)p)->e;
    unsigned me = ((thread_arg *)p)->index;
    free(p);
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (!e->qhead && !e->stopping)
            pthread_cond_wait(&e->cv, &e->mu);
        if (e->stopping)
            break;
        exec_task *t = e->qhead;
        e->qhead = t->next;
        if (!e->qhead)
            e->qtail = NULL;
        e->nqueued--;
        e->running[me] = t;
        e->nrunning++;
        pthread_mutex_unlock(&e->mu);

        t->error[0] = '\0';
        t->fuel_used = t->elapsed_us = 0;
        wasm_store *s = store_for(t);
        if (s) {
            pthread_mutex_lock(&e->mu);
            t->store = s; /* from here exec_cancel interrupts it */
            if (t->cancel)
                wasm_store_interrupt(s);
            pthread_mutex_unlock(&e->mu);
            run_in(t, s);
        }

        pthread_mutex_lock(&e->mu);
        t->store = NULL;
        if (t->cancel && t->kind != EXEC_CANCELLED) {
            /* a cancel that came after the call ended still wins: the lease is gone */
            t->kind = EXEC_CANCELLED;
            err_set(t->error, sizeof t->error, "cancelled");
        }
        e->running[me] = NULL;
        e->nrunning--;
        bool first = e->dhead == NULL;
        push(&e->dhead, &e->dtail, t);
        pthread_mutex_unlock(&e->mu);
        if (s)
            wasm_store_free(s);
        /* one wake-up per batch: a pending async already covers what we added */
        if (first)
            uv_async_send(&e->wake);
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* Hands the done list to the loop. */
static void deliver(exec *e)
{
    pthread_mutex_lock(&e->mu);
    exec_task *list = e->dhead;
    e->dhead = e->dtail = NULL;
    pthread_mutex_unlock(&e->mu);
    if (list)
        e->on_done(e->user, list);
}

static void on_wake(uv_async_t *a)
{
    deliver(a->data);
}

static void stop_threads(exec *e)
{
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    for (unsigned i = 0; i < e->nstarted; i++)
        pthread_join(e->threads[i], NULL);
    e->nstarted = 0;
}

static void free_exec(exec *e)
{
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e->running);
    free(e->threads);
    free(e);
}

static void on_closed_early(uv_handle_t *h)
{
    free_exec(h->data);
}

int exec_new(uv_loop_t *loop, unsigned nthreads, exec_done_cb on_done, void *user, exec **out,
             char *err, size_t errlen)
{
    assert(nthreads >= 1 && on_done);
    exec *e = calloc(1, sizeof *e);
    if (!e)
        return err_set(err, errlen, "out of memory");
    e->loop = loop;
    e->on_done = on_done;
    e->user = user;
    e->nthreads = nthreads;
    e->running = calloc(nthreads, sizeof *e->running);
    e->threads = calloc(nthreads, sizeof *e->threads);
    if (!e->running || !e->threads) {
        free(e->running);
        free(e->threads);
        free(e);
        return err_set(err, errlen, "out of memory");
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    if (uv_async_init(loop, &e->wake, on_wake) != 0) {
        free_exec(e);
        return err_set(err, errlen, "uv_async_init failed");
    }
    e->wake.data = e;
    for (unsigned i = 0; i < nthreads; i++) {
        thread_arg *a = malloc(sizeof *a);
        if (a) {
            a->e = e;
            a->index = i;
        }
        if (!a || pthread_create(&e->threads[i], NULL, thread_main, a) != 0) {
            free(a);
            stop_threads(e);
            uv_close((uv_handle_t *)&e->wake, on_closed_early);
            return err_set(err, errlen, "cannot start executor thread %u of %u", i + 1, nthreads);
        }
        e->nstarted++;
    }
    *out = e;
    return 0;
}

void exec_submit(exec *e, exec_task *t)
{
    t->store = NULL;
    t->cancel = false;
    pthread_mutex_lock(&e->mu);
    push(&e->qhead, &e->qtail, t);
    e->nqueued++;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

static bool matches(const exec_task *t, uint64_t group, const mesh_job_id *job, bool has_shard,
                    uint32_t shard)
{
    return t->group == group && (!job || memcmp(t->job.b, job->b, sizeof job->b) == 0) &&
           (!has_shard || t->shard == shard);
}

size_t exec_cancel(exec *e, uint64_t group, const mesh_job_id *job, bool has_shard, uint32_t shard)
{
    size_t n = 0;
    bool wake = false;
    pthread_mutex_lock(&e->mu);
    exec_task **pp = &e->qhead, *prev = NULL;
    while (*pp) {
        exec_task *t = *pp;
        if (matches(t, group, job, has_shard, shard)) {
            *pp = t->next;
            if (e->qtail == t)
                e->qtail = prev;
            e->nqueued--;
            t->kind = EXEC_CANCELLED;
            err_set(t->error, sizeof t->error, "cancelled");
            t->fuel_used = t->elapsed_us = 0;
            push(&e->dhead, &e->dtail, t);
            wake = true;
            n++;
        } else {
            prev = t;
            pp = &t->next;
        }
    }
    for (unsigned i = 0; i < e->nthreads; i++) {
        exec_task *t = e->running[i];
        if (t && !t->cancel && matches(t, group, job, has_shard, shard)) {
            t->cancel = true;
            if (t->store)
                wasm_store_interrupt(t->store);
            n++;
        }
    }
    pthread_mutex_unlock(&e->mu);
    if (wake)
        uv_async_send(&e->wake);
    return n;
}

unsigned exec_running(exec *e)
{
    pthread_mutex_lock(&e->mu);
    unsigned n = e->nrunning;
    pthread_mutex_unlock(&e->mu);
    return n;
}

unsigned exec_queued(exec *e)
{
    pthread_mutex_lock(&e->mu);
    unsigned n = e->nqueued;
    pthread_mutex_unlock(&e->mu);
    return n;
}

static void on_closed(uv_handle_t *h)
{
    exec *e = h->data;
    void (*closed)(void *) = e->closed;
    void *user = e->closed_user;
    free_exec(e);
    if (closed)
        closed(user);
}

void exec_close(exec *e, void (*closed)(void *user), void *user)
{
    /* cancel everything: queued tasks move to the done list, running ones stop within a
     * fuel slice, so the join below waits about a millisecond */
    pthread_mutex_lock(&e->mu);
    while (e->qhead) {
        exec_task *t = e->qhead;
        e->qhead = t->next;
        t->kind = EXEC_CANCELLED;
        err_set(t->error, sizeof t->error, "cancelled");
        t->fuel_used = t->elapsed_us = 0;
        push(&e->dhead, &e->dtail, t);
    }
    e->qtail = NULL;
    e->nqueued = 0;
    for (unsigned i = 0; i < e->nthreads; i++) {
        exec_task *t = e->running[i];
        if (t) {
            t->cancel = true;
            if (t->store)
                wasm_store_interrupt(t->store);
        }
    }
    pthread_mutex_unlock(&e->mu);
    stop_threads(e);
    deliver(e);
    e->closed = closed;
    e->closed_user = user;
    uv_close((uv_handle_t *)&e->wake, on_closed);
}
