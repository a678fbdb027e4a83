/*
 * wasm.h — Swarm's sandboxed WebAssembly engine (WebAssembly 2.0 without SIMD).
 *
 * Pipeline: wasm_module_load() decodes, validates and compiles a binary into an
 * immutable module (safe to share between threads). A wasm_store owns every
 * runtime object (instances, memories, tables, globals, host functions) and the
 * execution limits (fuel, memory pages, call depth); freeing the store frees
 * them all. A store is used by one thread at a time.
 *
 * Errors are values: every fallible call fills a wasm_error (may be NULL) and
 * returns NULL / false / a status. Nothing a module does can crash or hang the
 * host: every trap, including running out of fuel or call stack, comes back as
 * WASM_ERR_TRAP with its kind.
 */
#ifndef SWARM_WASM_H
#define SWARM_WASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wasm_module wasm_module;
typedef struct wasm_store wasm_store;
typedef struct wasm_instance wasm_instance;
typedef struct wasm_func wasm_func;
typedef struct wasm_table wasm_table;
typedef struct wasm_memory wasm_memory;
typedef struct wasm_global wasm_global;
typedef struct wasm_functype wasm_functype;

/* Value types, numbered as in the binary format. */
typedef enum wasm_valtype {
    WASM_I32 = 0x7f,
    WASM_I64 = 0x7e,
    WASM_F32 = 0x7d,
    WASM_F64 = 0x7c,
    WASM_FUNCREF = 0x70,
    WASM_EXTERNREF = 0x6f,
} wasm_valtype;

/* Float results are the same bits on every CPU. Every f32/f64 operation that can
 * produce a NaN (add, sub, mul, div, sqrt, min, max, ceil, floor, trunc, nearest,
 * f32.demote_f64, f64.promote_f32) produces exactly the canonical NaN below:
 * positive, quiet, zero payload, whatever the inputs' signs and payloads (the
 * spec allows any NaN there; hardware differs). Operations that only move or
 * set bits (abs, neg, copysign, loads, stores, reinterpret, const, select,
 * locals, globals, arguments, results) keep a NaN's bits exactly. */
#define WASM_F32_CANONICAL_NAN 0x7fc00000u
#define WASM_F64_CANONICAL_NAN 0x7ff8000000000000ull

/* A typed value. Floats keep their exact bits (NaN payloads included).
 * References: funcref is a wasm_func* (NULL = null); externref is an opaque
 * host pointer (NULL = null). */
typedef struct wasm_value {
    wasm_valtype type;
    union {
        int32_t i32;
        int64_t i64;
        float f32;
        double f64;
        void *ref;
    } of;
} wasm_value;

typedef enum wasm_status {
    WASM_OK = 0,
    WASM_ERR_MALFORMED, /* not a well-formed binary (decoding failed) */
    WASM_ERR_INVALID,   /* well-formed but fails validation */
    WASM_ERR_LINK,      /* an import is missing or has the wrong type */
    WASM_ERR_TRAP,      /* execution trapped: see wasm_error.trap */
    WASM_ERR_LIMIT,     /* a host limit refused it (e.g. memory above max pages) */
    WASM_ERR_NOMEM,     /* the host ran out of memory */
    WASM_ERR_ARG,       /* embedder error: unknown export, wrong argument count or type */
} wasm_status;

typedef enum wasm_trap {
    WASM_TRAP_NONE = 0,
    WASM_TRAP_UNREACHABLE,       /* "unreachable" */
    WASM_TRAP_MEMORY_OOB,        /* "out of bounds memory access" */
    WASM_TRAP_TABLE_OOB,         /* "out of bounds table access" */
    WASM_TRAP_UNDEFINED_ELEMENT, /* "undefined element": call_indirect index >= table size */
    WASM_TRAP_UNINITIALIZED,     /* "uninitialized element": call_indirect of a null ref */
    WASM_TRAP_INDIRECT_TYPE,     /* "indirect call type mismatch" */
    WASM_TRAP_DIV_ZERO,          /* "integer divide by zero" */
    WASM_TRAP_INT_OVERFLOW,      /* "integer overflow" */
    WASM_TRAP_INVALID_CONV,      /* "invalid conversion to integer" */
    WASM_TRAP_STACK_EXHAUSTED,   /* "call stack exhausted" */
    WASM_TRAP_OUT_OF_FUEL,       /* "out of fuel" */
    WASM_TRAP_HOST,              /* a host function reported an error */
    WASM_TRAP_INTERRUPTED,       /* "interrupted": wasm_store_interrupt was called */
} wasm_trap;

/* What went wrong. offset is the byte offset in the module binary for
 * MALFORMED and INVALID (has_offset tells whether it is meaningful). */
typedef struct wasm_error {
    wasm_status status;
    wasm_trap trap;
    bool has_offset;
    size_t offset;
    char msg[256];
} wasm_error;

/* Returns the spec's message for a trap kind ("integer divide by zero", ...). Never NULL. */
const char *wasm_trap_message(wasm_trap trap);

/* Returns a short name for a status ("malformed", "invalid", "trap", ...). Never NULL. */
const char *wasm_status_name(wasm_status status);

/* Returns "i32", "i64", "f32", "f64", "funcref", "externref" or "?". */
const char *wasm_valtype_name(wasm_valtype type);

/* ---- modules ---------------------------------------------------------- */

/* Decodes, validates and compiles a binary. Copies what it needs from bytes.
 * Returns a module the caller frees with wasm_module_free, or NULL with err
 * filled (MALFORMED or INVALID with offset, or NOMEM). */
wasm_module *wasm_module_load(const uint8_t *bytes, size_t len, wasm_error *err);

/* Frees a module. Instances made from it must be gone first (free their store). */
void wasm_module_free(wasm_module *module);

typedef enum wasm_extern_kind {
    WASM_EXTERN_FUNC = 0,
    WASM_EXTERN_TABLE = 1,
    WASM_EXTERN_MEMORY = 2,
    WASM_EXTERN_GLOBAL = 3,
} wasm_extern_kind;

/* Returns "function", "table", "memory", "global" or "?". */
const char *wasm_extern_kind_name(wasm_extern_kind kind);

/* Number of imports / exports of a module. */
uint32_t wasm_module_import_count(const wasm_module *module);
uint32_t wasm_module_export_count(const wasm_module *module);

/* Describes import i (i < count). Strings are owned by the module. */
void wasm_module_import_info(const wasm_module *module, uint32_t i, const char **module_name,
                             const char **name, wasm_extern_kind *kind);

/* Describes export i (i < count). The name is owned by the module. */
void wasm_module_export_info(const wasm_module *module, uint32_t i, const char **name,
                             wasm_extern_kind *kind);

/* The type of the exported function `name`, or NULL if there is no such
 * exported function. Owned by the module. */
const wasm_functype *wasm_module_export_functype(const wasm_module *module, const char *name);

/* Function type accessors. Pointers returned are owned by the type's owner. */
uint32_t wasm_functype_param_count(const wasm_functype *type);
uint32_t wasm_functype_result_count(const wasm_functype *type);
wasm_valtype wasm_functype_param(const wasm_functype *type, uint32_t i);
wasm_valtype wasm_functype_result(const wasm_functype *type, uint32_t i);

/* ---- stores and limits ------------------------------------------------ */

/* Fuel. Every wasm instruction costs one unit, and work whose size an operand
 * or the module chooses costs in proportion to it (docs/ARCHITECTURE.md has the
 * table): memory.fill n bytes ceil(n/64) units; memory.copy and memory.init
 * 2 * ceil(n/64); memory.grow 16,384 per page; table.fill, table.copy,
 * table.init and table.grow 1 per element; a call ceil(declared locals / 8) on
 * top of its instructions. Bounds are checked first (a bad range traps without
 * charging), a grow the limits refuse returns -1 without charging, and every
 * other charge is made before the work: when the fuel left is short the call
 * traps WASM_TRAP_OUT_OF_FUEL with memory and tables untouched and no fuel
 * left. Costs depend only on the module and its inputs, so the same call uses
 * the same fuel on every machine. */

typedef struct wasm_limits {
    uint64_t fuel;           /* fuel for all calls in the store; 0 = unlimited */
    uint32_t max_pages;      /* upper bound on any memory's size in 64 KiB pages; 0 = 65536 */
    uint32_t max_call_depth; /* wasm call frames; 0 = default (10000) */
    uint32_t max_table_size; /* upper bound on any table's size; 0 = default (10,000,000) */
    size_t stack_bytes;      /* operand/frame stack size; 0 = default (8 MiB) */
} wasm_limits;

/* Creates a store with the given limits (NULL = defaults). Returns NULL on OOM. */
wasm_store *wasm_store_new(const wasm_limits *limits);

/* Frees the store and every instance and object created in it. */
void wasm_store_free(wasm_store *store);

/* Sets the fuel available to later calls (0 = unlimited) and resets the used count. */
void wasm_store_set_fuel(wasm_store *store, uint64_t fuel);

/* Fuel consumed since the store was made or its fuel last set. */
uint64_t wasm_store_fuel_used(const wasm_store *store);

/* Asks the call running in store (if any) to stop: it traps WASM_TRAP_INTERRUPTED
 * ("interrupted") within about 2^18 units of fuel (well under a millisecond of
 * ordinary code), whatever its fuel limit, unlimited included. The request is
 * sticky: every later call and instantiation in the store traps the same way at
 * once. The only wasm_store function that may be called from another thread
 * while the store is in use; the store must stay alive until it returns. */
void wasm_store_interrupt(wasm_store *store);

/* ---- external objects ------------------------------------------------- */

/* One import or export: a kind and the object. */
typedef struct wasm_extern {
    wasm_extern_kind kind;
    union {
        wasm_func *func;
        wasm_table *table;
        wasm_memory *memory;
        wasm_global *global;
    } of;
} wasm_extern;

/* A host function: reads nparams args, writes nresults results (types set by
 * the caller beforehand). Returns true on success; on failure fills err->msg
 * and returns false, which traps the caller with WASM_TRAP_HOST. */
typedef bool (*wasm_host_fn)(void *user, const wasm_value *args, wasm_value *results,
                             wasm_error *err);

/* Creates a host function owned by the store. Returns NULL on OOM. */
wasm_func *wasm_func_new_host(wasm_store *store, const wasm_valtype *params, uint32_t nparams,
                              const wasm_valtype *results, uint32_t nresults, wasm_host_fn fn,
                              void *user);

/* Creates a global owned by the store; init.type gives its type. */
wasm_global *wasm_global_new(wasm_store *store, wasm_value init, bool mutable_);

/* Creates a table of refs (WASM_FUNCREF or WASM_EXTERNREF) filled with null.
 * has_max false means no maximum. Returns NULL with err on limit or OOM. */
wasm_table *wasm_table_new(wasm_store *store, wasm_valtype elem, uint32_t min, bool has_max,
                           uint32_t max, wasm_error *err);

/* Creates a zeroed memory of min pages. Returns NULL with err on limit or OOM. */
wasm_memory *wasm_memory_new(wasm_store *store, uint32_t min, bool has_max, uint32_t max,
                             wasm_error *err);

/* Reads a global's value. */
wasm_value wasm_global_get(const wasm_global *global);

/* A memory's current size in pages, and its bytes (valid until it grows). */
uint32_t wasm_memory_pages(const wasm_memory *memory);
uint8_t *wasm_memory_data(wasm_memory *memory);

/* Grows a memory by delta pages; returns the old size in pages or -1 if it
 * would pass its maximum or the store's max_pages. */
int64_t wasm_memory_grow(wasm_memory *memory, uint32_t delta);

/* The type of a function. Owned by the function's module or store. */
const wasm_functype *wasm_func_type(const wasm_func *func);

/* ---- instances -------------------------------------------------------- */

/* Finds the object for import (module_name, name) of the given kind; returns
 * false if there is none. Type checks are done by the engine. */
typedef bool (*wasm_resolver)(void *user, const char *module_name, const char *name,
                              wasm_extern_kind kind, wasm_extern *out);

/* Instantiates a module in the store: resolves imports (resolver may be NULL
 * when there are none), allocates memories and tables within the store's limits,
 * initialises globals and segments, and runs the start function. Returns the
 * instance (owned by the store) or NULL with err: LINK naming the import, LIMIT,
 * TRAP (segment out of bounds or start trapped; effects on imported objects
 * stay, as the spec requires), NOMEM. The module must outlive the store. */
wasm_instance *wasm_instantiate(wasm_store *store, const wasm_module *module,
                                wasm_resolver resolver, void *user, wasm_error *err);

/* Looks up an export by name. Returns false if there is none. */
bool wasm_instance_export(const wasm_instance *instance, const char *name, wasm_extern *out);

/* Same, for a name of len bytes that may contain NUL bytes. */
bool wasm_instance_export_n(const wasm_instance *instance, const char *name, size_t len,
                            wasm_extern *out);

/* Calls a function with nargs args (types must match exactly) and writes
 * nresults results. Fuel and call depth come from the store. Returns WASM_OK
 * or an error status (TRAP with its kind, ARG for a bad call). */
wasm_status wasm_func_call(wasm_store *store, wasm_func *func, const wasm_value *args,
                           uint32_t nargs, wasm_value *results, uint32_t nresults, wasm_error *err);

#endif
