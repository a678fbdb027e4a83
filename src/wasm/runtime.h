/*
 * runtime.h — runtime objects shared by the instantiator (runtime.c) and the
 * interpreter (interp.c). Internal to src/wasm.
 *
 * Values live in 64-bit slots: i32/f32 in the low 32 bits (upper bits
 * unspecified), i64/f64 in all 64, references as the pointer value (funcref a
 * wasm_func*, externref the host pointer; 0 is null).
 */
#ifndef SWARM_WASM_RUNTIME_H
#define SWARM_WASM_RUNTIME_H

#include <stdatomic.h>

#include "module.h"

#define WASM_PAGE_SIZE           65536u
#define WASM_DEFAULT_CALL_DEPTH  10000u
#define WASM_DEFAULT_TABLE_MAX   10000000u
#define WASM_DEFAULT_STACK_BYTES (8u << 20)

struct wasm_code; /* compile.h */

struct wasm_func {
    const wasm_functype *type;    /* for wasm functions: &module->types[module->type_canon[t]] */
    wasm_instance *inst;          /* owning instance; NULL for host functions */
    uint32_t index;               /* index in inst's function space */
    const struct wasm_code *code; /* compiled body; NULL for host functions */
    wasm_host_fn host;
    void *user;
    wasm_functype host_type; /* storage behind `type` for host functions */
};

struct wasm_memory {
    uint8_t *data;  /* `bytes` bytes, zero-initialised */
    uint64_t bytes; /* pages * WASM_PAGE_SIZE */
    uint64_t cap;   /* bytes allocated at data: grows at least double it, so that a
                       loop of small grows copies linear, not quadratic, bytes */
    uint32_t pages;
    uint32_t max_pages; /* effective cap: min(declared max, store max_pages) */
    wasm_lim lim;       /* declared limits (current min = pages), for import matching */
};

struct wasm_table {
    void **elems; /* size refs */
    uint32_t size;
    uint32_t cap;        /* refs allocated at elems: grows at least double it (as memories) */
    uint32_t max;        /* effective cap: min(declared max, store max_table_size) */
    wasm_tabletype type; /* declared type (lim.min tracks current size) */
};

struct wasm_global {
    uint64_t bits; /* the value in slot form */
    wasm_globaltype type;
};

struct wasm_instance {
    const wasm_module *module;
    wasm_store *store;
    wasm_func **funcs; /* module->nfuncs entries: imports resolved, then own */
    wasm_table **tables;
    wasm_memory **mems;
    wasm_global **globals;
    /* element segments resolved at instantiation: elem_refs[i][0..elem_len[i]);
     * a dropped segment (or active/declarative after instantiation) has length 0 */
    void ***elem_refs;
    uint32_t *elem_len;
    /* data segments: bytes in module->datas[i].bytes, data_len[i] bytes valid;
     * 0 once dropped (or active after instantiation) */
    uint32_t *data_len;
};

/* One object the store must free. */
typedef struct wasm_owned {
    wasm_extern_kind kind; /* or 4 for an instance */
    void *ptr;
} wasm_owned;

struct wasm_store {
    wasm_limits lim;     /* with defaults applied (never 0) except fuel */
    uint64_t fuel_left;  /* remaining fuel; INT64_MAX when unlimited */
    uint64_t fuel_start; /* fuel_left when last set */
    /* set by wasm_store_interrupt from any thread; read by the interpreter when its fuel
     * slice runs out (relaxed: the trap only has to come soon, it orders nothing) */
    atomic_bool interrupted;
    uint64_t *stack; /* value stack for frames, lim.stack_bytes / 8 slots, lazily made */
    size_t stack_slots;
    uint32_t depth;      /* wasm frames currently active */
    uint32_t host_depth; /* nested interpreter entries (host -> wasm) on the C stack */
    /* interp.c, while a host function runs: stack[0, stack_lo) holds active
     * frames and stack[stack_hi, stack_slots) their return records, so a
     * nested call uses only the space between */
    size_t stack_lo, stack_hi;
    wasm_owned *owned;
    size_t nowned, cap_owned;
};

/* interp.c: runs func (a wasm or host function) with arguments in slots[0..nparams)
 * and leaves the results in slots[0..nresults). slots must hold
 * max(nparams, nresults) entries. Returns WASM_OK or WASM_ERR_TRAP with err filled. */
wasm_status wasm_interp_call(wasm_store *store, wasm_func *func, uint64_t *slots, wasm_error *err);

/* runtime.c: calls a host function with arguments and results in slot form
 * (as wasm_interp_call). Returns false with err (trap HOST) on failure. */
bool wasm_call_host(wasm_func *func, uint64_t *slots, wasm_error *err);

/* runtime.c: grows a table by delta entries filled with init; returns the
 * old size or -1 past its cap. */
int64_t wasm_table_grow(wasm_table *table, uint32_t delta, void *init);

/* runtime.c: whether growing by delta stays within the caps, the one check the
 * grows make before allocating (so the interpreter can charge in between). */
bool wasm_table_grow_fits(const wasm_table *table, uint32_t delta);
bool wasm_memory_grow_fits(const wasm_memory *memory, uint32_t delta);

/* Fills err as a trap of the given kind with the spec's message. Returns WASM_ERR_TRAP. */
wasm_status wasm_trap_set(wasm_error *err, wasm_trap trap);

#endif
