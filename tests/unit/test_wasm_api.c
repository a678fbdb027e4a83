/* test_wasm_api.c - the embedding API of wasm.h: stores and limits, instantiation with
 * imports, typed calls, host functions, link errors, traps and fuel.
 *
 * The modules are small binaries made with wat2wasm; their text is in the comment above each. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "wasm.h"

/*
 * (module
 *   (import "env" "double" (func $double (param i32) (result i32)))
 *   (memory (export "mem") 1 4)
 *   (global (export "g") i64 (i64.const 42))
 *   (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
 *   (func (export "twice") (param i32) (result i32) local.get 0 call $double)
 *   (func (export "spin") (loop br 0))
 *   (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
 *   (func (export "load") (param i32) (result i32) local.get 0 i32.load8_u)
 *   (data (i32.const 0) "hi"))
 */
static const uint8_t m1_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0f, 0x03, 0x60, 0x01, 0x7f, 0x01,
    0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x02, 0x0e, 0x01, 0x03, 0x65,
    0x6e, 0x76, 0x06, 0x64, 0x6f, 0x75, 0x62, 0x6c, 0x65, 0x00, 0x00, 0x03, 0x06, 0x05, 0x01,
    0x00, 0x02, 0x00, 0x00, 0x05, 0x04, 0x01, 0x01, 0x01, 0x04, 0x06, 0x06, 0x01, 0x7e, 0x00,
    0x42, 0x2a, 0x0b, 0x07, 0x2e, 0x07, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x01, 0x67, 0x03,
    0x00, 0x03, 0x61, 0x64, 0x64, 0x00, 0x01, 0x05, 0x74, 0x77, 0x69, 0x63, 0x65, 0x00, 0x02,
    0x04, 0x73, 0x70, 0x69, 0x6e, 0x00, 0x03, 0x04, 0x67, 0x72, 0x6f, 0x77, 0x00, 0x04, 0x04,
    0x6c, 0x6f, 0x61, 0x64, 0x00, 0x05, 0x0a, 0x27, 0x05, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01,
    0x6a, 0x0b, 0x06, 0x00, 0x20, 0x00, 0x10, 0x00, 0x0b, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00,
    0x0b, 0x0b, 0x06, 0x00, 0x20, 0x00, 0x40, 0x00, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x2d, 0x00,
    0x00, 0x0b, 0x0b, 0x08, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x02, 0x68, 0x69,
};

/*
 * (module (memory 3))
 */
static const uint8_t m2_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x00, 0x03,
};

/*
 * (module (memory 1) (data (i32.const 65535) "ab"))
 */
static const uint8_t m3_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01,
    0x0b, 0x0a, 0x01, 0x00, 0x41, 0xff, 0xff, 0x03, 0x0b, 0x02, 0x61, 0x62,
};

/*
 * (module (func $f (param i64) (result i64) local.get 0)
 *   (func (export "f64") (param f64 f32) (result f64 f32) local.get 0 local.get 1)
 *   (table (export "t") 2 5 funcref) (elem (i32.const 0) $f))
 */
static const uint8_t m4_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0d, 0x02, 0x60, 0x01, 0x7e, 0x01,
    0x7e, 0x60, 0x02, 0x7c, 0x7d, 0x02, 0x7c, 0x7d, 0x03, 0x03, 0x02, 0x00, 0x01, 0x04, 0x05,
    0x01, 0x70, 0x01, 0x02, 0x05, 0x07, 0x0b, 0x02, 0x03, 0x66, 0x36, 0x34, 0x00, 0x01, 0x01,
    0x74, 0x01, 0x00, 0x09, 0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x00, 0x0a, 0x0d, 0x02,
    0x04, 0x00, 0x20, 0x00, 0x0b, 0x06, 0x00, 0x20, 0x00, 0x20, 0x01, 0x0b,
};

/* ---- helpers ---------------------------------------------------------------------------- */

typedef struct {
    int calls;
    bool fail;
    wasm_store *store; /* when set, compute through `add` in wasm: host -> wasm re-entry */
    wasm_func *add;
} host_state;

/* env.double: (i32) -> i32, or a failure when asked to */
static bool host_double(void *user, const wasm_value *args, wasm_value *results, wasm_error *err)
{
    host_state *h = user;
    h->calls++;
    if (h->fail) {
        snprintf(err->msg, sizeof err->msg, "double refused %d", args[0].of.i32);
        return false;
    }
    if (h->add) {
        wasm_value a[2] = {args[0], args[0]};
        if (wasm_func_call(h->store, h->add, a, 2, results, 1, err) != WASM_OK)
            return false;
        return true;
    }
    results[0].of.i32 = args[0].of.i32 * 2;
    return true;
}

typedef struct {
    wasm_extern double_fn;
    bool offer_wrong_kind;
} imports;

static bool resolve(void *user, const char *module_name, const char *name, wasm_extern_kind kind,
                    wasm_extern *out)
{
    imports *im = user;
    (void)kind;
    if (strcmp(module_name, "env") != 0 || strcmp(name, "double") != 0)
        return false;
    *out = im->double_fn;
    return true;
}

static wasm_value i32v(int32_t v)
{
    wasm_value x;
    memset(&x, 0, sizeof x);
    x.type = WASM_I32;
    x.of.i32 = v;
    return x;
}

static wasm_func *export_func(wasm_instance *inst, const char *name)
{
    wasm_extern e;
    if (!wasm_instance_export(inst, name, &e) || e.kind != WASM_EXTERN_FUNC)
        return NULL;
    return e.of.func;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_calls_and_host(void)
{
    wasm_error err;
    wasm_module *m = wasm_module_load(m1_wasm, sizeof m1_wasm, &err);
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK_EQ(wasm_module_import_count(m), 1);

    wasm_store *s = wasm_store_new(NULL);
    CHECK(s != NULL);
    host_state hs = {0, false, NULL, NULL};
    wasm_valtype i32 = WASM_I32;
    imports im;
    memset(&im, 0, sizeof im);
    im.double_fn.kind = WASM_EXTERN_FUNC;
    im.double_fn.of.func = wasm_func_new_host(s, &i32, 1, &i32, 1, host_double, &hs);
    CHECK(im.double_fn.of.func != NULL);

    wasm_instance *inst = wasm_instantiate(s, m, resolve, &im, &err);
    CHECK(inst != NULL);
    if (!inst) {
        fprintf(stderr, "    instantiate: %s\n", err.msg);
        wasm_store_free(s);
        wasm_module_free(m);
        return;
    }

    /* typed call */
    wasm_value args[2] = {i32v(40), i32v(2)}, res[1];
    wasm_func *add = export_func(inst, "add");
    CHECK(add != NULL);
    CHECK_EQ(wasm_func_call(s, add, args, 2, res, 1, &err), WASM_OK);
    CHECK_EQ(res[0].type, WASM_I32);
    CHECK_EQ(res[0].of.i32, 42);
    args[0] = i32v(-5);
    args[1] = i32v(INT32_MIN);
    CHECK_EQ(wasm_func_call(s, add, args, 2, res, 1, &err), WASM_OK);
    CHECK_EQ(res[0].of.i32, INT32_MAX - 4);

    /* wrong argument count and type are the embedder's errors, not traps */
    CHECK_EQ(wasm_func_call(s, add, args, 1, res, 1, &err), WASM_ERR_ARG);
    CHECK_EQ(err.status, WASM_ERR_ARG);
    args[1].type = WASM_I64;
    CHECK_EQ(wasm_func_call(s, add, args, 2, res, 1, &err), WASM_ERR_ARG);
    CHECK(strstr(err.msg, "i64") != NULL);
    args[1].type = WASM_I32;
    CHECK_EQ(wasm_func_call(s, add, args, 2, res, 0, &err), WASM_ERR_ARG);

    /* the function type is visible */
    const wasm_functype *ft = wasm_func_type(add);
    CHECK_EQ(wasm_functype_param_count(ft), 2);
    CHECK_EQ(wasm_functype_result_count(ft), 1);
    CHECK_EQ(wasm_functype_param(ft, 1), WASM_I32);

    /* wasm -> host */
    wasm_func *twice = export_func(inst, "twice");
    args[0] = i32v(21);
    CHECK_EQ(wasm_func_call(s, twice, args, 1, res, 1, &err), WASM_OK);
    CHECK_EQ(res[0].of.i32, 42);
    CHECK_EQ(hs.calls, 1);

    /* a failing host function traps its caller with the host's message */
    hs.fail = true;
    args[0] = i32v(7);
    CHECK_EQ(wasm_func_call(s, twice, args, 1, res, 1, &err), WASM_ERR_TRAP);
    CHECK_EQ(err.trap, WASM_TRAP_HOST);
    CHECK_STR_EQ(err.msg, "double refused 7");
    hs.fail = false;

    /* a host function may call back into wasm on the same store */
    hs.store = s;
    hs.add = add;
    args[0] = i32v(50);
    CHECK_EQ(wasm_func_call(s, twice, args, 1, res, 1, &err), WASM_OK);
    CHECK_EQ(res[0].of.i32, 100);
    hs.add = NULL;

    /* host functions are callable directly too */
    args[0] = i32v(7);
    CHECK_EQ(wasm_func_call(s, im.double_fn.of.func, args, 1, res, 1, &err), WASM_OK);
    CHECK_EQ(res[0].of.i32, 14);

    /* exports of other kinds: memory with its data segment, a global */
    wasm_extern e;
    CHECK(wasm_instance_export(inst, "mem", &e));
    CHECK_EQ(e.kind, WASM_EXTERN_MEMORY);
    CHECK_EQ(wasm_memory_pages(e.of.memory), 1);
    CHECK(memcmp(wasm_memory_data(e.of.memory), "hi", 2) == 0);
    CHECK(wasm_instance_export(inst, "g", &e));
    CHECK_EQ(e.kind, WASM_EXTERN_GLOBAL);
    CHECK_EQ(wasm_global_get(e.of.global).type, WASM_I64);
    CHECK_EQ(wasm_global_get(e.of.global).of.i64, 42);
    CHECK(!wasm_instance_export(inst, "nope", &e));

    wasm_store_free(s);
    wasm_module_free(m);
}

static void test_link_errors(void)
{
    wasm_error err;
    wasm_module *m = wasm_module_load(m1_wasm, sizeof m1_wasm, &err);
    CHECK(m != NULL);
    if (!m)
        return;
    wasm_store *s = wasm_store_new(NULL);

    /* no resolver at all: the missing import is named */
    CHECK(wasm_instantiate(s, m, NULL, NULL, &err) == NULL);
    CHECK_EQ(err.status, WASM_ERR_LINK);
    CHECK_STR_EQ(err.msg, "unknown import: module \"env\" name \"double\" (function)");

    /* a function of the wrong type */
    host_state hs = {0, false, NULL, NULL};
    wasm_valtype i64 = WASM_I64;
    imports im;
    memset(&im, 0, sizeof im);
    im.double_fn.kind = WASM_EXTERN_FUNC;
    im.double_fn.of.func = wasm_func_new_host(s, &i64, 1, &i64, 1, host_double, &hs);
    CHECK(wasm_instantiate(s, m, resolve, &im, &err) == NULL);
    CHECK_EQ(err.status, WASM_ERR_LINK);
    CHECK(strstr(err.msg, "incompatible import type") != NULL);
    CHECK(strstr(err.msg, "\"double\"") != NULL);

    /* something that is not a function */
    wasm_value v = i32v(1);
    im.double_fn.kind = WASM_EXTERN_GLOBAL;
    im.double_fn.of.global = wasm_global_new(s, v, false);
    CHECK(wasm_instantiate(s, m, resolve, &im, &err) == NULL);
    CHECK_EQ(err.status, WASM_ERR_LINK);
    CHECK(strstr(err.msg, "incompatible import type") != NULL);

    wasm_store_free(s);
    wasm_module_free(m);
}

static void test_limits_and_fuel(void)
{
    wasm_error err;

    /* a memory above the store's max_pages is refused, by instantiate and by the API */
    wasm_module *m2 = wasm_module_load(m2_wasm, sizeof m2_wasm, &err);
    CHECK(m2 != NULL);
    wasm_limits lim = {.max_pages = 2};
    wasm_store *s = wasm_store_new(&lim);
    if (m2) {
        CHECK(wasm_instantiate(s, m2, NULL, NULL, &err) == NULL);
        CHECK_EQ(err.status, WASM_ERR_LIMIT);
        CHECK(strstr(err.msg, "limit") != NULL);
    }
    CHECK(wasm_memory_new(s, 3, false, 0, &err) == NULL);
    CHECK_EQ(err.status, WASM_ERR_LIMIT);

    /* growth stops at the store's cap and zeroes new pages */
    wasm_memory *mem = wasm_memory_new(s, 1, false, 0, &err);
    CHECK(mem != NULL);
    if (mem) {
        CHECK_EQ(wasm_memory_grow(mem, 0), 1);
        CHECK_EQ(wasm_memory_grow(mem, 2), -1);
        CHECK_EQ(wasm_memory_grow(mem, 1), 1);
        CHECK_EQ(wasm_memory_pages(mem), 2);
        uint8_t *d = wasm_memory_data(mem);
        CHECK(d[65536] == 0 && d[2 * 65536 - 1] == 0);
        CHECK_EQ(wasm_memory_grow(mem, 1), -1);
    }
    /* and at the memory's own maximum */
    mem = wasm_memory_new(s, 0, true, 1, &err);
    CHECK(mem != NULL);
    if (mem) {
        CHECK_EQ(wasm_memory_grow(mem, 2), -1);
        CHECK_EQ(wasm_memory_grow(mem, 1), 0);
    }

    /* tables: a cap from the store, growth filled with the given ref */
    wasm_limits tlim = {.max_table_size = 4};
    wasm_store *ts = wasm_store_new(&tlim);
    CHECK(wasm_table_new(ts, WASM_FUNCREF, 5, false, 0, &err) == NULL);
    CHECK_EQ(err.status, WASM_ERR_LIMIT);
    CHECK(wasm_table_new(ts, WASM_EXTERNREF, 1, false, 0, &err) != NULL);
    wasm_store_free(ts);
    wasm_store_free(s);
    wasm_module_free(m2);

    /* fuel: an endless loop stops with OUT_OF_FUEL and the fuel used is reported */
    wasm_module *m1 = wasm_module_load(m1_wasm, sizeof m1_wasm, &err);
    CHECK(m1 != NULL);
    if (!m1)
        return;
    wasm_limits flim = {.fuel = 100000, .max_pages = 2};
    s = wasm_store_new(&flim);
    host_state hs = {0, false, NULL, NULL};
    wasm_valtype i32 = WASM_I32;
    imports im;
    memset(&im, 0, sizeof im);
    im.double_fn.kind = WASM_EXTERN_FUNC;
    im.double_fn.of.func = wasm_func_new_host(s, &i32, 1, &i32, 1, host_double, &hs);
    wasm_instance *inst = wasm_instantiate(s, m1, resolve, &im, &err);
    CHECK(inst != NULL);
    if (inst) {
        CHECK_EQ(wasm_store_fuel_used(s), 0);
        wasm_func *spin = export_func(inst, "spin");
        CHECK_EQ(wasm_func_call(s, spin, NULL, 0, NULL, 0, &err), WASM_ERR_TRAP);
        CHECK_EQ(err.trap, WASM_TRAP_OUT_OF_FUEL);
        CHECK_STR_EQ(err.msg, "out of fuel");
        uint64_t used = wasm_store_fuel_used(s);
        CHECK(used >= 50000 && used <= 100000);

        /* new fuel resets the count; a short call uses a little */
        wasm_store_set_fuel(s, 1000);
        CHECK_EQ(wasm_store_fuel_used(s), 0);
        wasm_value args[2] = {i32v(1), i32v(2)}, res[1];
        CHECK_EQ(wasm_func_call(s, export_func(inst, "add"), args, 2, res, 1, &err), WASM_OK);
        CHECK_EQ(res[0].of.i32, 3);
        CHECK(wasm_store_fuel_used(s) > 0 && wasm_store_fuel_used(s) < 1000);

        /* memory.grow inside wasm obeys max_pages too: 1 -> 2 ok, then -1 */
        wasm_store_set_fuel(s, 0);
        wasm_func *grow = export_func(inst, "grow");
        args[0] = i32v(1);
        CHECK_EQ(wasm_func_call(s, grow, args, 1, res, 1, &err), WASM_OK);
        CHECK_EQ(res[0].of.i32, 1);
        CHECK_EQ(wasm_func_call(s, grow, args, 1, res, 1, &err), WASM_OK);
        CHECK_EQ(res[0].of.i32, -1);

        /* out-of-bounds access traps, the store stays usable */
        args[0] = i32v(2 * 65536);
        CHECK_EQ(wasm_func_call(s, export_func(inst, "load"), args, 1, res, 1, &err),
                 WASM_ERR_TRAP);
        CHECK_EQ(err.trap, WASM_TRAP_MEMORY_OOB);
        args[0] = i32v(1);
        CHECK_EQ(wasm_func_call(s, export_func(inst, "load"), args, 1, res, 1, &err), WASM_OK);
        CHECK_EQ(res[0].of.i32, 'i');
    }
    wasm_store_free(s);
    wasm_module_free(m1);
}

static void test_segments_and_refs(void)
{
    wasm_error err;
    /* an active data segment out of bounds: instantiation traps */
    wasm_module *m3 = wasm_module_load(m3_wasm, sizeof m3_wasm, &err);
    CHECK(m3 != NULL);
    wasm_store *s = wasm_store_new(NULL);
    if (m3) {
        CHECK(wasm_instantiate(s, m3, NULL, NULL, &err) == NULL);
        CHECK_EQ(err.status, WASM_ERR_TRAP);
        CHECK_EQ(err.trap, WASM_TRAP_MEMORY_OOB);
    }

    /* multi-value results and float bits; a table export */
    wasm_module *m4 = wasm_module_load(m4_wasm, sizeof m4_wasm, &err);
    CHECK(m4 != NULL);
    if (m4) {
        wasm_instance *inst = wasm_instantiate(s, m4, NULL, NULL, &err);
        CHECK(inst != NULL);
        if (inst) {
            wasm_value args[2], res[2];
            memset(args, 0, sizeof args);
            args[0].type = WASM_F64;
            args[0].of.f64 = -0.0;
            args[1].type = WASM_F32;
            uint32_t nan_bits = 0x7fa00001; /* a signalling NaN payload must survive */
            memcpy(&args[1].of.f32, &nan_bits, 4);
            CHECK_EQ(wasm_func_call(s, export_func(inst, "f64"), args, 2, res, 2, &err), WASM_OK);
            uint64_t b64;
            uint32_t b32;
            memcpy(&b64, &res[0].of.f64, 8);
            memcpy(&b32, &res[1].of.f32, 4);
            CHECK_EQ(res[0].type, WASM_F64);
            CHECK_EQ(b64, 0x8000000000000000ull);
            CHECK_EQ(res[1].type, WASM_F32);
            CHECK_EQ(b32, nan_bits);
            wasm_extern e;
            CHECK(wasm_instance_export(inst, "t", &e));
            CHECK_EQ(e.kind, WASM_EXTERN_TABLE);
        }
    }
    wasm_store_free(s);
    wasm_module_free(m3);
    wasm_module_free(m4);
}

int main(void)
{
    test_calls_and_host();
    test_link_errors();
    test_limits_and_fuel();
    test_segments_and_refs();
    return CHECK_DONE();
}
