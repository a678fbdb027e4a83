/*
 * fuzz_wasm.c — libFuzzer target over the whole engine: decode, validate,
 * compile, instantiate, and call every exported function with zero arguments
 * under small limits (fuel, pages, call depth), so that a hang or unbounded
 * allocation shows up as a timeout or OOM report rather than passing silently.
 *
 * Seeds: the spec suite's modules (see tests/fuzz/README.md).
 */
#include <stdint.h>
#include <stdlib.h>

#include "wasm.h"

enum { MAX_ARGS = 16 };

static void call_exports(wasm_store *store, const wasm_module *module, wasm_instance *inst)
{
    uint32_t n = wasm_module_export_count(module);
    for (uint32_t i = 0; i < n; i++) {
        const char *name;
        wasm_extern_kind kind;
        wasm_module_export_info(module, i, &name, &kind);
        wasm_extern ext;
        /* a name may hold a NUL byte: looked up as a C string it can find another export
         * (of another kind), so the kind of what was found is what counts */
        if (kind != WASM_EXTERN_FUNC || !wasm_instance_export(inst, name, &ext) ||
            ext.kind != WASM_EXTERN_FUNC)
            continue;
        const wasm_functype *type = wasm_func_type(ext.of.func);
        uint32_t np = wasm_functype_param_count(type), nr = wasm_functype_result_count(type);
        if (np > MAX_ARGS || nr > MAX_ARGS)
            continue;
        wasm_value args[MAX_ARGS] = {0}, results[MAX_ARGS];
        for (uint32_t a = 0; a < np; a++)
            args[a].type = wasm_functype_param(type, a);
        wasm_error err;
        /* each call gets its own fuel so one spinning export cannot starve the rest */
        wasm_store_set_fuel(store, 200000);
        wasm_func_call(store, ext.of.func, args, np, results, nr, &err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wasm_error err;
    wasm_module *module = wasm_module_load(data, size, &err);
    if (!module)
        return 0;
    wasm_limits lim = {
        .fuel = 200000,
        .max_pages = 16,
        .max_call_depth = 400,
        .max_table_size = 10000,
        .stack_bytes = 1u << 20,
    };
    wasm_store *store = wasm_store_new(&lim);
    if (store) {
        wasm_instance *inst = wasm_instantiate(store, module, NULL, NULL, &err);
        if (inst)
            call_exports(store, module, inst);
        wasm_store_free(store);
    }
    wasm_module_free(module);
    return 0;
}
