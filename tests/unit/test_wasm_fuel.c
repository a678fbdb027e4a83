/* test_wasm_fuel.c - fuel proportional to work: the bulk memory and table ops, the grows and
 * the locals a call zeroes charge what docs/ARCHITECTURE.md's cost table says, before the work,
 * so that fuel just short of an op's cost traps with nothing done and just enough succeeds;
 * bounds are checked before fuel; the limits refuse a grow for free.
 *
 * Costs (units beyond one per wasm instruction): memory.fill n: ceil(n/64); memory.copy and
 * memory.init n: 2 * ceil(n/64); memory.grow: 16384 per page; table.fill, table.copy,
 * table.init, table.grow: 1 per element; a call: ceil(declared locals / 8).
 *
 * The module is a small binary made with wat2wasm; its text is in the comment above it. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "wasm.h"

/*
 * (module
 *   (memory (export "mem") 2 4)
 *   (table $t 100 200 funcref)
 *   (data $d "0123456789" x 20)
 *   (elem $e func $f x 20)
 *   (func $f)
 *   (func (export "fill") (param i32 i32 i32)
 *     (memory.fill (local.get 0) (local.get 1) (local.get 2)))
 *   (func (export "copy") (param i32 i32 i32)
 *     (memory.copy (local.get 0) (local.get 1) (local.get 2)))
 *   (func (export "init") (param i32 i32 i32)
 *     (memory.init $d (local.get 0) (local.get 1) (local.get 2)))
 *   (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
 *   (func (export "tfill") (param i32 i32)
 *     (table.fill $t (local.get 0) (ref.func $f) (local.get 1)))
 *   (func (export "tcopy") (param i32 i32 i32)
 *     (table.copy $t $t (local.get 0) (local.get 1) (local.get 2)))
 *   (func (export "tinit") (param i32 i32 i32)
 *     (table.init $t $e (local.get 0) (local.get 1) (local.get 2)))
 *   (func (export "tgrow") (param i32) (result i32) (table.grow $t (ref.null func) (local.get 0)))
 *   (func (export "tnull") (param i32) (result i32) (ref.is_null (table.get $t (local.get 0))))
 *   (func (export "locals0"))
 *   (func (export "locals8") (local i64 i64 i64 i64 i64 i64 i64 i64))
 *   (func (export "locals9") (local i64 i64 i64 i64 i64 i64 i64 i64 i32))
 *   (func $big (export "locals40000") (local i64 x 40000))
 *   (func $none)
 *   (func (export "call_big") (call $big))
 *   (func (export "call_none") (call $none)))
 */
static const uint8_t fuel_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x14, 0x04, 0x60, 0x00, 0x00, 0x60, 0x03,
    0x7f, 0x7f, 0x7f, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x00, 0x03, 0x12,
    0x11, 0x00, 0x01, 0x01, 0x01, 0x02, 0x03, 0x01, 0x01, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x04, 0x06, 0x01, 0x70, 0x01, 0x64, 0xc8, 0x01, 0x05, 0x04, 0x01, 0x01, 0x02, 0x04,
    0x07, 0x8e, 0x01, 0x10, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x04, 0x66, 0x69, 0x6c, 0x6c, 0x00,
    0x01, 0x04, 0x63, 0x6f, 0x70, 0x79, 0x00, 0x02, 0x04, 0x69, 0x6e, 0x69, 0x74, 0x00, 0x03, 0x04,
    0x67, 0x72, 0x6f, 0x77, 0x00, 0x04, 0x05, 0x74, 0x66, 0x69, 0x6c, 0x6c, 0x00, 0x05, 0x05, 0x74,
    0x63, 0x6f, 0x70, 0x79, 0x00, 0x06, 0x05, 0x74, 0x69, 0x6e, 0x69, 0x74, 0x00, 0x07, 0x05, 0x74,
    0x67, 0x72, 0x6f, 0x77, 0x00, 0x08, 0x05, 0x74, 0x6e, 0x75, 0x6c, 0x6c, 0x00, 0x09, 0x07, 0x6c,
    0x6f, 0x63, 0x61, 0x6c, 0x73, 0x30, 0x00, 0x0a, 0x07, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x73, 0x38,
    0x00, 0x0b, 0x07, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x73, 0x39, 0x00, 0x0c, 0x0b, 0x6c, 0x6f, 0x63,
    0x61, 0x6c, 0x73, 0x34, 0x30, 0x30, 0x30, 0x30, 0x00, 0x0d, 0x08, 0x63, 0x61, 0x6c, 0x6c, 0x5f,
    0x62, 0x69, 0x67, 0x00, 0x0f, 0x09, 0x63, 0x61, 0x6c, 0x6c, 0x5f, 0x6e, 0x6f, 0x6e, 0x65, 0x00,
    0x10, 0x09, 0x18, 0x01, 0x01, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x01, 0x01, 0x0a, 0x8c,
    0x01, 0x11, 0x02, 0x00, 0x0b, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfc, 0x0b, 0x00,
    0x0b, 0x0c, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfc, 0x0a, 0x00, 0x00, 0x0b, 0x0c, 0x00,
    0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfc, 0x08, 0x00, 0x00, 0x0b, 0x06, 0x00, 0x20, 0x00, 0x40,
    0x00, 0x0b, 0x0b, 0x00, 0x20, 0x00, 0xd2, 0x00, 0x20, 0x01, 0xfc, 0x11, 0x00, 0x0b, 0x0c, 0x00,
    0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfc, 0x0e, 0x00, 0x00, 0x0b, 0x0c, 0x00, 0x20, 0x00, 0x20,
    0x01, 0x20, 0x02, 0xfc, 0x0c, 0x00, 0x00, 0x0b, 0x09, 0x00, 0xd0, 0x70, 0x20, 0x00, 0xfc, 0x0f,
    0x00, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x25, 0x00, 0xd1, 0x0b, 0x02, 0x00, 0x0b, 0x04, 0x01, 0x08,
    0x7e, 0x0b, 0x06, 0x02, 0x08, 0x7e, 0x01, 0x7f, 0x0b, 0x06, 0x01, 0xc0, 0xb8, 0x02, 0x7e, 0x0b,
    0x02, 0x00, 0x0b, 0x04, 0x00, 0x10, 0x0d, 0x0b, 0x04, 0x00, 0x10, 0x0e, 0x0b, 0x0b, 0xcc, 0x01,
    0x01, 0x01, 0xc8, 0x01, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x30, 0x31,
    0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
    0x38, 0x39, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x30, 0x31, 0x32, 0x33,
    0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
    0x36, 0x37, 0x38, 0x39, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x30, 0x31,
    0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
    0x38, 0x39, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x30, 0x31, 0x32, 0x33,
    0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
    0x36, 0x37, 0x38, 0x39, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x30, 0x31,
    0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
    0x38, 0x39, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
};

#define PLENTY 1000000000000ull /* fuel that no call here runs out of */

static wasm_store *store;
static wasm_instance *inst;
static wasm_memory *mem;

static wasm_func *fn(const char *name)
{
    wasm_extern ext;
    if (!wasm_instance_export(inst, name, &ext) || ext.kind != WASM_EXTERN_FUNC)
        return NULL;
    return ext.of.func;
}

/* Calls name(a, b, c) (as many arguments as it takes) with `fuel` units; returns the status,
 * leaves the trap in *trap and an i32 result in *res. */
static wasm_status call(uint64_t fuel, const char *name, int32_t a, int32_t b, int32_t c,
                        wasm_trap *trap, int32_t *res)
{
    wasm_func *f = fn(name);
    if (!f)
        return WASM_ERR_ARG;
    const wasm_functype *t = wasm_func_type(f);
    wasm_value args[3] = {{.type = WASM_I32, .of.i32 = a},
                          {.type = WASM_I32, .of.i32 = b},
                          {.type = WASM_I32, .of.i32 = c}};
    wasm_value out[1] = {{.type = WASM_I32}};
    wasm_error err;
    memset(&err, 0, sizeof err);
    wasm_store_set_fuel(store, fuel);
    wasm_status st = wasm_func_call(store, f, args, wasm_functype_param_count(t), out,
                                    wasm_functype_result_count(t), &err);
    if (trap)
        *trap = st == WASM_OK ? WASM_TRAP_NONE : err.trap;
    if (res)
        *res = st == WASM_OK && wasm_functype_result_count(t) ? out[0].of.i32 : 0;
    return st;
}

/* Fuel a successful call uses. */
static uint64_t used(const char *name, int32_t a, int32_t b, int32_t c)
{
    if (call(PLENTY, name, a, b, c, NULL, NULL) != WASM_OK)
        return UINT64_MAX;
    return wasm_store_fuel_used(store);
}

static bool all_bytes(uint32_t at, uint32_t n, uint8_t v)
{
    const uint8_t *d = wasm_memory_data(mem);
    for (uint32_t i = 0; i < n; i++)
        if (d[at + i] != v)
            return false;
    return true;
}

/* An op of cost `cost` traps out of fuel with one unit short, using all the fuel; succeeds
 * with exactly enough. `base` is the call's cost with a zero-length op. */
static void traps_one_short(const char *name, int32_t a, int32_t b, int32_t c, uint64_t base,
                            uint64_t cost)
{
    wasm_trap trap;
    CHECK_EQ(call(base + cost - 1, name, a, b, c, &trap, NULL), WASM_ERR_TRAP);
    CHECK_EQ(trap, WASM_TRAP_OUT_OF_FUEL);
    CHECK_EQ(wasm_store_fuel_used(store), base + cost - 1);
}

static void test_memory_fill(void)
{
    uint64_t base = used("fill", 0, 0, 0);
    CHECK(base >= 1 && base < 20);
    /* one unit per 64-byte block started */
    CHECK_EQ(used("fill", 0, 0, 1) - base, 1);
    CHECK_EQ(used("fill", 0, 0, 64) - base, 1);
    CHECK_EQ(used("fill", 0, 0, 65) - base, 2);
    CHECK_EQ(used("fill", 100, 0, 1000) - base, 16);
    CHECK_EQ(used("fill", 0, 0, 2 * 65536) - base, 2048);

    /* one unit short: a trap and not a byte written */
    traps_one_short("fill", 0, 0xab, 65536, base, 1024);
    CHECK(all_bytes(0, 2 * 65536, 0));
    /* exactly enough: done, with nothing left */
    CHECK_EQ(call(base + 1024, "fill", 0, 0xab, 65536, NULL, NULL), WASM_OK);
    CHECK_EQ(wasm_store_fuel_used(store), base + 1024);
    CHECK(all_bytes(0, 65536, 0xab) && all_bytes(65536, 65536, 0));

    /* bounds come first: out of bounds is the trap whatever the fuel, and costs nothing more */
    wasm_trap trap;
    CHECK_EQ(call(base, "fill", 65536, 1, 65537, &trap, NULL), WASM_ERR_TRAP);
    CHECK_EQ(trap, WASM_TRAP_MEMORY_OOB);
    CHECK_EQ(wasm_store_fuel_used(store), base);
    CHECK(all_bytes(65536, 65536, 0));
}

static void test_memory_copy_init(void)
{
    /* memory now holds 0xab in [0, 64 KiB) and zeros above */
    uint64_t base = used("copy", 0, 0, 0);
    CHECK_EQ(used("copy", 70000, 100000, 1) - base, 2);
    CHECK_EQ(used("copy", 70000, 100000, 64) - base, 2);
    CHECK_EQ(used("copy", 70000, 100000, 65) - base, 4);
    traps_one_short("copy", 65536, 0, 65536, base, 2048);
    CHECK(all_bytes(65536, 65536, 0));
    CHECK_EQ(call(base + 2048, "copy", 65536, 0, 65536, NULL, NULL), WASM_OK);
    CHECK(all_bytes(65536, 65536, 0xab));

    uint64_t ibase = used("init", 0, 0, 0);
    CHECK_EQ(used("init", 0, 0, 200) - ibase, 8);
    CHECK_EQ(used("init", 0, 0, 64) - ibase, 2);
    traps_one_short("init", 1000, 0, 200, ibase, 8);
    CHECK(all_bytes(1000, 200, 0xab));
    CHECK_EQ(call(ibase + 8, "init", 1000, 0, 200, NULL, NULL), WASM_OK);
    CHECK(memcmp(wasm_memory_data(mem) + 1000, "0123456789", 10) == 0);
}

static void test_memory_grow(void)
{
    uint64_t base = used("grow", 0, 0, 0);
    CHECK_EQ(wasm_memory_pages(mem), 2);
    traps_one_short("grow", 1, 0, 0, base, 16384);
    CHECK_EQ(wasm_memory_pages(mem), 2);
    int32_t old = 0;
    CHECK_EQ(call(base + 16384, "grow", 1, 0, 0, NULL, &old), WASM_OK);
    CHECK_EQ(old, 2);
    CHECK_EQ(wasm_memory_pages(mem), 3);
    CHECK_EQ(wasm_store_fuel_used(store), base + 16384);
    /* past the maximum (4): refused, -1, and no charge for the pages asked for */
    CHECK_EQ(call(base, "grow", 2, 0, 0, NULL, &old), WASM_OK);
    CHECK_EQ(old, -1);
    CHECK_EQ(wasm_store_fuel_used(store), base);
    CHECK_EQ(call(base, "grow", -1, 0, 0, NULL, &old), WASM_OK);
    CHECK_EQ(old, -1);
    CHECK_EQ(wasm_memory_pages(mem), 3);
}

static void test_tables(void)
{
    int32_t r = 0;
    uint64_t base = used("tfill", 0, 0, 0);
    CHECK_EQ(used("tfill", 0, 1, 0) - base, 1);
    CHECK_EQ(used("tfill", 0, 10, 0) - base, 10);
    traps_one_short("tfill", 50, 50, 0, base, 50);
    CHECK_EQ(call(PLENTY, "tnull", 50, 0, 0, NULL, &r), WASM_OK);
    CHECK_EQ(r, 1);
    CHECK_EQ(call(base + 50, "tfill", 50, 50, 0, NULL, NULL), WASM_OK);
    CHECK_EQ(call(PLENTY, "tnull", 99, 0, 0, NULL, &r), WASM_OK);
    CHECK_EQ(r, 0);

    uint64_t cbase = used("tcopy", 0, 0, 0);
    CHECK_EQ(used("tcopy", 0, 50, 30) - cbase, 30);
    uint64_t ibase = used("tinit", 0, 0, 0);
    CHECK_EQ(used("tinit", 0, 0, 20) - ibase, 20);

    uint64_t gbase = used("tgrow", 0, 0, 0);
    traps_one_short("tgrow", 40, 0, 0, gbase, 40);
    CHECK_EQ(call(gbase + 40, "tgrow", 40, 0, 0, NULL, &r), WASM_OK);
    CHECK_EQ(r, 100);
    /* past the maximum (200): refused for free */
    CHECK_EQ(call(gbase, "tgrow", 61, 0, 0, NULL, &r), WASM_OK);
    CHECK_EQ(r, -1);
    CHECK_EQ(wasm_store_fuel_used(store), gbase);
}

static void test_locals(void)
{
    uint64_t none = used("locals0", 0, 0, 0);
    CHECK_EQ(used("locals8", 0, 0, 0) - none, 1);
    CHECK_EQ(used("locals9", 0, 0, 0) - none, 2);
    CHECK_EQ(used("locals40000", 0, 0, 0) - none, 5000);
    /* called from wasm, the same: the call charges before the prologue zeroes anything */
    uint64_t call_none = used("call_none", 0, 0, 0);
    CHECK_EQ(used("call_big", 0, 0, 0) - call_none, 5000);
    wasm_trap trap;
    CHECK_EQ(call(call_none + 5000 - 1, "call_big", 0, 0, 0, &trap, NULL), WASM_ERR_TRAP);
    CHECK_EQ(trap, WASM_TRAP_OUT_OF_FUEL);
    CHECK_EQ(call(call_none + 5000, "call_big", 0, 0, 0, NULL, NULL), WASM_OK);
}

int main(void)
{
    wasm_error err;
    wasm_module *m = wasm_module_load(fuel_wasm, sizeof fuel_wasm, &err);
    CHECK(m != NULL);
    store = wasm_store_new(NULL);
    inst = m && store ? wasm_instantiate(store, m, NULL, NULL, &err) : NULL;
    CHECK(inst != NULL);
    wasm_extern ext;
    if (inst && wasm_instance_export(inst, "mem", &ext) && ext.kind == WASM_EXTERN_MEMORY) {
        mem = ext.of.memory;
        test_memory_fill();
        test_memory_copy_init();
        test_memory_grow();
        test_tables();
        test_locals();
    } else {
        CHECK(!"the module instantiates and exports its memory");
    }
    wasm_store_free(store);
    wasm_module_free(m);
    return CHECK_DONE();
}
