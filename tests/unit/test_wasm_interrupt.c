/* test_wasm_interrupt.c - wasm_store_interrupt: another thread stops a running call at once,
 * with unlimited or limited fuel, the fuel used is reported, and the request is sticky. */
#include <pthread.h>
#include <time.h>

#include "check.h"
#include "mesh_wasm.h"
#include "wasm.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

typedef struct {
    wasm_store *store;
    uint64_t at_ms; /* when the interrupt was asked */
} interrupter;

static void *interrupt_later(void *p)
{
    interrupter *it = p;
    struct timespec d = {0, 30 * 1000000};
    nanosleep(&d, NULL);
    it->at_ms = now_ms();
    wasm_store_interrupt(it->store);
    return NULL;
}

static wasm_func *export_func(wasm_instance *inst, const char *name)
{
    wasm_extern e;
    return wasm_instance_export(inst, name, &e) && e.kind == WASM_EXTERN_FUNC ? e.of.func : NULL;
}

/* Runs spin in a fresh store with the given fuel and interrupts it from a thread. */
static void spin_interrupted(const wasm_module *m, uint64_t fuel)
{
    wasm_limits lim = {.fuel = fuel};
    wasm_store *s = wasm_store_new(&lim);
    wasm_error err;
    wasm_instance *inst = wasm_instantiate(s, m, NULL, NULL, &err);
    CHECK(inst != NULL);
    if (!inst) {
        wasm_store_free(s);
        return;
    }
    wasm_func *spin = export_func(inst, "spin");
    interrupter it = {s, 0};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, interrupt_later, &it), 0);
    wasm_value args[2] = {{.type = WASM_I32, .of.i32 = 0}, {.type = WASM_I32, .of.i32 = 1}};
    wasm_value res[1];
    CHECK_EQ(wasm_func_call(s, spin, args, 2, res, 1, &err), WASM_ERR_TRAP);
    uint64_t stopped = now_ms();
    pthread_join(t, NULL);
    CHECK_EQ(err.trap, WASM_TRAP_INTERRUPTED);
    CHECK_STR_EQ(err.msg, "interrupted");
    /* "within milliseconds": a slice is ~0.2 ms of this loop; the bound is loose for ASan */
    CHECK(stopped - it.at_ms < 200);
    uint64_t used = wasm_store_fuel_used(s);
    CHECK(used > 1000); /* it ran ~30 ms */
    if (fuel)
        CHECK(used < fuel);

    /* sticky: the next call traps at once and uses no fuel */
    CHECK_EQ(wasm_func_call(s, export_func(inst, "diff"), args, 2, res, 1, &err), WASM_ERR_TRAP);
    CHECK_EQ(err.trap, WASM_TRAP_INTERRUPTED);
    CHECK_EQ(wasm_store_fuel_used(s), used);
    wasm_store_free(s);
}

int main(void)
{
    buf b;
    mesh_wasm_module(&b);
    wasm_error err;
    wasm_module *m = wasm_module_load(b.b, b.n, &err);
    CHECK(m != NULL);
    if (!m) {
        fprintf(stderr, "load: %s\n", err.msg);
        return CHECK_DONE();
    }
    spin_interrupted(m, 0);                            /* unlimited fuel */
    spin_interrupted(m, 1000ull * 1000 * 1000 * 1000); /* a big limit: more than one slice */

    /* fuel accounting is unchanged by the slices: count over a range larger than a slice
     * uses the same fuel with a limit as without, and a limit just short traps out of fuel */
    wasm_value args[2] = {{.type = WASM_I32, .of.i32 = 0}, {.type = WASM_I32, .of.i32 = 300000}};
    wasm_value res[1];
    wasm_store *s = wasm_store_new(NULL);
    wasm_instance *inst = wasm_instantiate(s, m, NULL, NULL, &err);
    CHECK_EQ(wasm_func_call(s, export_func(inst, "count"), args, 2, res, 1, &err), WASM_OK);
    CHECK_EQ(res[0].of.i32, 300000);
    uint64_t need = wasm_store_fuel_used(s);
    CHECK(need > 300000 * 5);
    wasm_store_set_fuel(s, need);
    CHECK_EQ(wasm_func_call(s, export_func(inst, "count"), args, 2, res, 1, &err), WASM_OK);
    CHECK_EQ(wasm_store_fuel_used(s), need);
    wasm_store_set_fuel(s, need - 1);
    CHECK_EQ(wasm_func_call(s, export_func(inst, "count"), args, 2, res, 1, &err), WASM_ERR_TRAP);
    CHECK_EQ(err.trap, WASM_TRAP_OUT_OF_FUEL);
    CHECK_EQ(wasm_store_fuel_used(s), need - 1);
    wasm_store_free(s);

    /* an interrupt before instantiation: the start function (none here) and every call trap */
    s = wasm_store_new(NULL);
    wasm_store_interrupt(s);
    inst = wasm_instantiate(s, m, NULL, NULL, &err);
    CHECK(inst != NULL);
    if (inst) {
        CHECK_EQ(wasm_func_call(s, export_func(inst, "count"), args, 2, res, 1, &err),
                 WASM_ERR_TRAP);
        CHECK_EQ(err.trap, WASM_TRAP_INTERRUPTED);
    }
    wasm_store_free(s);
    wasm_module_free(m);
    return CHECK_DONE();
}
