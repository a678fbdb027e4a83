/* demo_check.c - the in-process check of demo_check.h: threads that take shards one at a time
 * from a shared counter. */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "demo_check.h"
#include "mesh.h"
#include "util.h"

typedef struct {
    dc_run *run;
    unsigned index;
} dc_thread;

struct dc_run {
    dc_job job;
    uv_mutex_t mu; /* guards everything below */
    uint32_t next; /* the next shard to take */
    uint64_t sum;  /* wrapping, as the mesh sums */
    unsigned finished;
    bool stop;
    char error[300]; /* the first failure, "" for none */
    unsigned nthreads;
    uv_thread_t tids[DC_MAX_THREADS];
    dc_thread args[DC_MAX_THREADS];
    /* the store each thread is calling into, for dc_interrupt; NULL between calls */
    wasm_store *stores[DC_MAX_THREADS];
};

static bool fits(const wasm_functype *t, bool *abi64)
{
    if (!t || wasm_functype_param_count(t) != 2 || wasm_functype_result_count(t) != 1)
        return false;
    wasm_valtype v = wasm_functype_result(t, 0);
    if (v != WASM_I32 && v != WASM_I64)
        return false;
    if (wasm_functype_param(t, 0) != v || wasm_functype_param(t, 1) != v)
        return false;
    *abi64 = v == WASM_I64;
    return true;
}

int dc_pick_entry(const wasm_module *m, const char *want, const char **entry, bool *abi64,
                  char *err, size_t errlen)
{
    const char *name = NULL;
    if (want) {
        name = want;
    } else if (wasm_module_export_functype(m, "execute")) {
        name = "execute";
    } else {
        int count = 0;
        for (uint32_t i = 0; i < wasm_module_export_count(m); i++) {
            const char *n;
            wasm_extern_kind kind;
            wasm_module_export_info(m, i, &n, &kind);
            if (kind == WASM_EXTERN_FUNC) {
                name = n;
                count++;
            }
        }
        if (count != 1)
            return err_set(err, errlen,
                           "no exported function \"execute\" and %s: a job calls execute(start, "
                           "end)",
                           count ? "more than one other" : "no other");
    }
    const wasm_functype *t = wasm_module_export_functype(m, name);
    if (!t)
        return err_set(err, errlen, "no exported function \"%s\"", name);
    if (!fits(t, abi64))
        return err_set(err, errlen,
                       "\"%s\" is not (i32, i32) -> i32 or (i64, i64) -> i64: a job calls it with "
                       "a shard's range",
                       name);
    *entry = name;
    return 0;
}

static void fail(dc_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(dc_run *r, const char *fmt, ...)
{
    uv_mutex_lock(&r->mu);
    if (!r->error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->error, sizeof r->error, fmt, ap);
        va_end(ap);
    }
    r->stop = true;
    uv_mutex_unlock(&r->mu);
}

/* One shard on a fresh store and instance, as a worker runs it. */
static void run_shard(dc_run *r, unsigned t, uint32_t i)
{
    const dc_job *j = &r->job;
    int64_t lo, hi;
    mesh_shard_range(j->lo, j->hi, j->shards, i, &lo, &hi);
    wasm_limits lim = {.fuel = j->fuel, .max_pages = j->max_pages};
    wasm_store *st = wasm_store_new(&lim);
    if (!st) {
        fail(r, "out of memory");
        return;
    }
    uv_mutex_lock(&r->mu);
    bool stop = r->stop;
    if (!stop)
        r->stores[t] = st;
    uv_mutex_unlock(&r->mu);
    if (stop) {
        wasm_store_free(st);
        return;
    }
    wasm_error e;
    wasm_extern fn;
    wasm_value args[2], res;
    wasm_instance *inst = wasm_instantiate(st, j->module, NULL, NULL, &e);
    bool ok = inst != NULL;
    if (!ok)
        fail(r, "shard %" PRIu32 " [%" PRId64 ",%" PRId64 "): %s", i, lo, hi, e.msg);
    if (ok && (!wasm_instance_export(inst, j->entry, &fn) || fn.kind != WASM_EXTERN_FUNC)) {
        fail(r, "no function \"%s\"", j->entry);
        ok = false;
    }
    if (ok) {
        args[0].type = args[1].type = j->abi64 ? WASM_I64 : WASM_I32;
        if (j->abi64) {
            args[0].of.i64 = lo;
            args[1].of.i64 = hi;
        } else {
            args[0].of.i32 = (int32_t)lo;
            args[1].of.i32 = (int32_t)hi;
        }
        if (wasm_func_call(st, fn.of.func, args, 2, &res, 1, &e) != WASM_OK) {
            fail(r, "shard %" PRIu32 " [%" PRId64 ",%" PRId64 "): %s", i, lo, hi,
                 e.status == WASM_ERR_TRAP ? wasm_trap_message(e.trap) : e.msg);
            ok = false;
        }
    }
    uv_mutex_lock(&r->mu);
    r->stores[t] = NULL;
    if (ok)
        r->sum += j->abi64 ? (uint64_t)res.of.i64 : (uint64_t)(int64_t)res.of.i32;
    uv_mutex_unlock(&r->mu);
    wasm_store_free(st);
}

static void thread_main(void *arg)
{
    dc_thread *th = arg;
    dc_run *r = th->run;
    for (;;) {
        uv_mutex_lock(&r->mu);
        bool more = !r->stop && r->next < r->job.shards;
        uint32_t i = r->next;
        if (more)
            r->next++;
        uv_mutex_unlock(&r->mu);
        if (!more)
            break;
        run_shard(r, th->index, i);
    }
    uv_mutex_lock(&r->mu);
    r->finished++;
    uv_mutex_unlock(&r->mu);
}

int dc_start(const dc_job *job, dc_run **out, char *err, size_t errlen)
{
    assert(job->threads >= 1 && job->threads <= DC_MAX_THREADS);
    assert(job->shards >= 1 && job->lo < job->hi);
    dc_run *r = calloc(1, sizeof *r);
    if (!r)
        return err_set(err, errlen, "out of memory");
    r->job = *job;
    if (uv_mutex_init(&r->mu) != 0) {
        free(r);
        return err_set(err, errlen, "cannot make a mutex");
    }
    for (unsigned t = 0; t < job->threads; t++) {
        r->args[t].run = r;
        r->args[t].index = t;
        if (uv_thread_create(&r->tids[t], thread_main, &r->args[t]) != 0) {
            /* the threads already running finish the work between them */
            if (t == 0) {
                uv_mutex_destroy(&r->mu);
                free(r);
                return err_set(err, errlen, "cannot start a thread");
            }
            break;
        }
        r->nthreads++;
    }
    *out = r;
    return 0;
}

bool dc_done(dc_run *r)
{
    uv_mutex_lock(&r->mu);
    bool done = r->finished == r->nthreads;
    uv_mutex_unlock(&r->mu);
    return done;
}

void dc_interrupt(dc_run *r)
{
    uv_mutex_lock(&r->mu);
    r->stop = true;
    if (!r->error[0])
        snprintf(r->error, sizeof r->error, "interrupted");
    for (unsigned t = 0; t < r->nthreads; t++)
        if (r->stores[t])
            wasm_store_interrupt(r->stores[t]);
    uv_mutex_unlock(&r->mu);
}

int dc_finish(dc_run *r, int64_t *sum, char *err, size_t errlen)
{
    for (unsigned t = 0; t < r->nthreads; t++)
        uv_thread_join(&r->tids[t]);
    int rc = 0;
    if (r->error[0])
        rc = err_set(err, errlen, "%s", r->error);
    else
        *sum = (int64_t)r->sum;
    uv_mutex_destroy(&r->mu);
    free(r);
    return rc;
}
