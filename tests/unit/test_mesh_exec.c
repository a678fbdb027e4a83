/* test_mesh_exec.c - the worker's executor: shards of the examples give the values of the same
 * call made here directly, traps come back as TRAP with the engine's message, max_pages holds,
 * a loop {} shard is cancelled within milliseconds, the pool closes with work queued, and
 * results come back coalesced. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "clock.h"
#include "exec.h"
#include "file.h"
#include "mesh_wasm.h"

typedef struct {
    exec_task *done[4096];
    size_t ndone;
    size_t wakeups;
    bool closed;
} sink;

static void on_done(void *user, exec_task *list)
{
    sink *s = user;
    s->wakeups++;
    for (exec_task *t = list, *next; t; t = next) {
        next = t->next;
        if (s->ndone < sizeof s->done / sizeof s->done[0])
            s->done[s->ndone++] = t;
    }
}

static void on_closed(void *user)
{
    ((sink *)user)->closed = true;
}

static void on_tick(uv_timer_t *t)
{
    (void)t; /* only wakes uv_run up to look at the clock */
}

/* Runs the loop until n tasks came back or deadline_ms passed (blocking in the loop, so the
 * pool threads have the cores). */
static void wait_done(uv_loop_t *loop, sink *s, size_t n, uint64_t deadline_ms)
{
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 10, 10);
    uint64_t end = clock_mono_ms() + deadline_ms;
    while (s->ndone < n && clock_mono_ms() < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static exec_task *task(const wasm_module *m, const char *entry, bool abi64, int64_t a, int64_t b)
{
    exec_task *t = calloc(1, sizeof *t);
    t->module = m;
    snprintf(t->entry, sizeof t->entry, "%s", entry);
    t->abi64 = abi64;
    t->start = a;
    t->end = b;
    return t;
}

static void free_done(sink *s)
{
    for (size_t i = 0; i < s->ndone; i++)
        free(s->done[i]);
    s->ndone = 0;
}

/* The reference: the same call made here, without the executor. */
static int64_t direct_call(const wasm_module *m, int64_t a, int64_t b)
{
    wasm_store *st = wasm_store_new(NULL);
    wasm_error err;
    wasm_instance *inst = wasm_instantiate(st, m, NULL, NULL, &err);
    wasm_extern ex;
    int64_t v = INT64_MIN;
    if (inst && wasm_instance_export(inst, "execute", &ex)) {
        const wasm_functype *ft = wasm_func_type(ex.of.func);
        bool i64 = wasm_functype_param(ft, 0) == WASM_I64;
        wasm_value args[2], res[1];
        args[0].type = args[1].type = i64 ? WASM_I64 : WASM_I32;
        if (i64) {
            args[0].of.i64 = a;
            args[1].of.i64 = b;
        } else {
            args[0].of.i32 = (int32_t)a;
            args[1].of.i32 = (int32_t)b;
        }
        if (wasm_func_call(st, ex.of.func, args, 2, res, 1, &err) == WASM_OK)
            v = i64 ? res[0].of.i64 : res[0].of.i32;
    }
    wasm_store_free(st);
    return v;
}

static void test_examples(uv_loop_t *loop)
{
    static const struct {
        const char *name;
        int64_t a, b, expect; /* from each example's header comment */
    } ex[] = {
        {"collatz", 1, 1000, 59431},
        {"primes", 0, 100000, 9592},
        {"fib", 0, 25, 121392},
        {"hash64", 4294967000, 4294968000, 2134374247706},
        {"matmul", 1278, 1281, 184320000},
        {"sort", 7, 9, 3073},
    };
    sink s = {.ndone = 0};
    exec *e;
    char err[256];
    CHECK_EQ(exec_new(loop, 2, on_done, &s, &e, err, sizeof err), 0);
    wasm_module *mods[6];
    size_t n = sizeof ex / sizeof ex[0];
    for (size_t i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/examples/%s.wasm", SWARM_SOURCE_DIR, ex[i].name);
        uint8_t *bytes;
        size_t len;
        CHECK_EQ(util_read_file(path, 1u << 24, &bytes, &len, err, sizeof err), 0);
        wasm_error we;
        mods[i] = wasm_module_load(bytes, len, &we);
        free(bytes);
        CHECK(mods[i] != NULL);
        const wasm_functype *ft = wasm_module_export_functype(mods[i], "execute");
        exec_task *t =
            task(mods[i], "execute", wasm_functype_param(ft, 0) == WASM_I64, ex[i].a, ex[i].b);
        t->user = (void *)(uintptr_t)i;
        t->fuel = 10ull * 1000 * 1000 * 1000;
        exec_submit(e, t);
    }
    wait_done(loop, &s, n, 20000);
    CHECK_EQ(s.ndone, n);
    for (size_t k = 0; k < s.ndone; k++) {
        exec_task *t = s.done[k];
        size_t i = (uintptr_t)t->user;
        CHECK_EQ(t->kind, EXEC_VALUE);
        CHECK_EQ(t->value, ex[i].expect);
        CHECK_EQ(t->value, direct_call(mods[i], ex[i].a, ex[i].b));
        CHECK(t->fuel_used > 0);
    }
    free_done(&s);
    exec_close(e, on_closed, &s);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(s.closed);
    for (size_t i = 0; i < n; i++)
        wasm_module_free(mods[i]);
}

static void test_traps_and_limits(uv_loop_t *loop, const wasm_module *m)
{
    sink s = {.ndone = 0};
    exec *e;
    char err[256];
    CHECK_EQ(exec_new(loop, 2, on_done, &s, &e, err, sizeof err), 0);
    exec_task *ts[] = {
        task(m, "oob", false, 0, 1),   task(m, "unr", false, 0, 1),
        task(m, "spin", false, 0, 1),  task(m, "grow", false, 5, 6),
        task(m, "grow", false, 5, 6),  task(m, "add64", true, INT64_MAX - 10, 7),
        task(m, "diff", false, 3, 10), task(m, "nope", false, 0, 1),
        task(m, "add64", false, 0, 1),
    };
    size_t n = sizeof ts / sizeof ts[0];
    ts[2]->fuel = 100000;   /* spin: out of fuel */
    ts[3]->max_pages = 2;   /* grow by 5 past 2 pages: -1 */
    ts[4]->max_pages = 100; /* fits: the old size, 1 */
    for (size_t i = 0; i < n; i++) {
        ts[i]->user = (void *)(uintptr_t)i;
        exec_submit(e, ts[i]);
    }
    wait_done(loop, &s, n, 10000);
    CHECK_EQ(s.ndone, n);
    for (size_t k = 0; k < s.ndone; k++) {
        exec_task *t = s.done[k];
        switch ((uintptr_t)t->user) {
        case 0:
            CHECK_EQ(t->kind, EXEC_TRAP);
            CHECK_STR_EQ(t->error, "out of bounds memory access");
            break;
        case 1:
            CHECK_EQ(t->kind, EXEC_TRAP);
            CHECK_STR_EQ(t->error, "unreachable");
            break;
        case 2:
            CHECK_EQ(t->kind, EXEC_TRAP);
            CHECK_STR_EQ(t->error, "out of fuel");
            CHECK_EQ(t->fuel_used, 100000);
            break;
        case 3:
            CHECK_EQ(t->kind, EXEC_VALUE);
            CHECK_EQ(t->value, -1);
            break;
        case 4:
            CHECK_EQ(t->kind, EXEC_VALUE);
            CHECK_EQ(t->value, 1);
            break;
        case 5:
            CHECK_EQ(t->kind, EXEC_VALUE);
            CHECK_EQ(t->value, INT64_MAX - 3);
            break;
        case 6: /* an i32 result is sign-extended */
            CHECK_EQ(t->kind, EXEC_VALUE);
            CHECK_EQ(t->value, -7);
            break;
        case 7:
            CHECK_EQ(t->kind, EXEC_TRAP);
            CHECK_STR_EQ(t->error, "no exported function \"nope\"");
            break;
        case 8: /* the wrong ABI is the module's (or the gateway's) fault, never a crash */
            CHECK_EQ(t->kind, EXEC_TRAP);
            CHECK(strstr(t->error, "is not (i32,i32)->i32") != NULL);
            break;
        }
    }
    free_done(&s);
    exec_close(e, on_closed, &s);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(s.closed);
}

static void test_cancel(uv_loop_t *loop, const wasm_module *m)
{
    sink s = {.ndone = 0};
    exec *e;
    char err[256];
    CHECK_EQ(exec_new(loop, 2, on_done, &s, &e, err, sizeof err), 0);
    mesh_job_id j1 = {{1}}, j2 = {{2}};
    /* four endless shards of job 1 (two run, two wait) and one short shard of job 2 */
    for (int i = 0; i < 4; i++) {
        exec_task *t = task(m, "spin", false, 0, 1);
        t->group = 7;
        t->job = j1;
        t->shard = (uint32_t)i;
        exec_submit(e, t);
    }
    exec_task *other = task(m, "diff", false, 10, 3);
    other->group = 7;
    other->job = j2;
    exec_submit(e, other);
    uint64_t end = clock_mono_ms() + 2000;
    while (exec_running(e) < 2 && clock_mono_ms() < end)
        uv_run(loop, UV_RUN_NOWAIT);
    CHECK_EQ(exec_running(e), 2);
    CHECK_EQ(exec_queued(e), 3);

    /* one shard first, then the rest of the job; another group matches nothing */
    CHECK_EQ(exec_cancel(e, 8, &j1, false, 0), 0);
    CHECK_EQ(exec_cancel(e, 7, &j1, true, 3), 1); /* queued */
    uint64_t t0 = clock_mono_ms();
    CHECK_EQ(exec_cancel(e, 7, &j1, false, 0), 3); /* two running, one queued */
    wait_done(loop, &s, 5, 5000);
    uint64_t took = clock_mono_ms() - t0;
    CHECK_EQ(s.ndone, 5);
    CHECK(took < 500); /* "at once": a fuel slice is well under a millisecond */
    size_t cancelled = 0;
    for (size_t k = 0; k < s.ndone; k++) {
        exec_task *t = s.done[k];
        if (t == other) {
            CHECK_EQ(t->kind, EXEC_VALUE);
            CHECK_EQ(t->value, 7);
        } else {
            CHECK_EQ(t->kind, EXEC_CANCELLED);
            cancelled++;
        }
    }
    CHECK_EQ(cancelled, 4);
    printf("cancel: 4 shards of a loop {} back in %llu ms\n", (unsigned long long)took);
    free_done(&s);
    exec_close(e, on_closed, &s);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(s.closed);
}

static void test_close_with_work(uv_loop_t *loop, const wasm_module *m)
{
    sink s = {.ndone = 0};
    exec *e;
    char err[256];
    CHECK_EQ(exec_new(loop, 1, on_done, &s, &e, err, sizeof err), 0);
    for (int i = 0; i < 10; i++)
        exec_submit(e, task(m, "spin", false, 0, 1));
    uint64_t end = clock_mono_ms() + 2000;
    while (exec_running(e) < 1 && clock_mono_ms() < end)
        uv_run(loop, UV_RUN_NOWAIT);
    exec_close(e, on_closed, &s);
    CHECK_EQ(s.ndone, 10); /* handed back before exec_close returns */
    for (size_t k = 0; k < s.ndone; k++)
        CHECK_EQ(s.done[k]->kind, EXEC_CANCELLED);
    free_done(&s);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(s.closed);
}

/* Many trivial shards: every one comes back, in fewer wake-ups than shards. Prints the cost. */
static void test_many_trivial(uv_loop_t *loop, const wasm_module *m)
{
    sink *s = calloc(1, sizeof *s);
    exec *e;
    char err[256];
    CHECK_EQ(exec_new(loop, 2, on_done, s, &e, err, sizeof err), 0);
    enum { N = 4000 };
    uint64_t t0 = clock_mono_ns();
    for (int i = 0; i < N; i++)
        exec_submit(e, task(m, "diff", false, i, 1));
    wait_done(loop, s, N, 30000);
    uint64_t ns = clock_mono_ns() - t0;
    CHECK_EQ(s->ndone, N);
    /* the same shard on this thread alone, without the pool */
    exec_task one = *s->done[0];
    uint64_t t1 = clock_mono_ns();
    for (int i = 0; i < 1000; i++)
        exec_run(&one);
    CHECK_EQ(one.value, s->done[0]->value);
    printf("one trivial shard in exec_run: %.2f us\n", (double)(clock_mono_ns() - t1) / 1e3 / 1000);
    CHECK(s->wakeups < N);
    bool right = true;
    for (size_t k = 0; k < s->ndone; k++)
        right =
            right && s->done[k]->kind == EXEC_VALUE && s->done[k]->value == s->done[k]->start - 1;
    CHECK(right);
    printf("trivial shards: %d in %.1f ms on 2 threads (%.2f us each), %zu wake-ups\n", N,
           (double)ns / 1e6, (double)ns / 1e3 / N, s->wakeups);
    free_done(s);
    exec_close(e, on_closed, s);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(s->closed);
    free(s);
}

int main(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    buf b;
    mesh_wasm_module(&b);
    wasm_error we;
    wasm_module *m = wasm_module_load(b.b, b.n, &we);
    CHECK(m != NULL);
    if (!m)
        return CHECK_DONE();
    test_examples(&loop);
    test_traps_and_limits(&loop, m);
    test_cancel(&loop, m);
    test_close_with_work(&loop, m);
    test_many_trivial(&loop, m);
    wasm_module_free(m);
    CHECK_EQ(uv_loop_close(&loop), 0);
    return CHECK_DONE();
}
