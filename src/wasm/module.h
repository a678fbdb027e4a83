/*
 * module.h — the decoded module (internal to src/wasm).
 *
 * decode.c fills it from the binary (structure only: malformed input is
 * rejected there), validate.c checks the typing rules, compile.c translates
 * each function body into internal code. After wasm_module_load the module is
 * immutable. Every index space (funcs, tables, mems, globals) is complete:
 * imported entries first, then defined ones, so validators and the compiler
 * can look up any index directly.
 */
#ifndef SWARM_WASM_MODULE_H
#define SWARM_WASM_MODULE_H

#include "wasm.h"

/* Limits of a table or memory. */
typedef struct wasm_lim {
    uint32_t min;
    uint32_t max;
    bool has_max;
} wasm_lim;

struct wasm_functype {
    uint32_t nparams;
    uint32_t nresults;
    uint8_t *types; /* nparams param types, then nresults result types (wasm_valtype bytes) */
};

typedef struct wasm_tabletype {
    uint8_t elem; /* WASM_FUNCREF or WASM_EXTERNREF */
    wasm_lim lim;
} wasm_tabletype;

typedef struct wasm_globaltype {
    uint8_t type; /* a wasm_valtype */
    bool mut;
} wasm_globaltype;

/* A constant expression: one instruction then `end` (WebAssembly 2.0 has no
 * extended constants). op is the opcode byte: 0x41 i32.const, 0x42 i64.const,
 * 0x43 f32.const, 0x44 f64.const, 0x23 global.get, 0xd0 ref.null, 0xd2 ref.func. */
typedef struct wasm_constexpr {
    uint8_t op;
    uint8_t reftype; /* for ref.null: WASM_FUNCREF or WASM_EXTERNREF */
    uint32_t index;  /* global.get / ref.func index */
    uint64_t bits;   /* the constant, floats as raw bits, i32 zero-extended */
    size_t offset;   /* byte offset of the expression, for error messages */
} wasm_constexpr;

typedef struct wasm_import {
    char *module; /* NUL-terminated UTF-8, owned by the module */
    char *name;
    uint32_t module_len; /* byte lengths: names may contain NUL */
    uint32_t name_len;
    wasm_extern_kind kind;
    union {
        uint32_t func_type; /* type index */
        wasm_tabletype table;
        wasm_lim mem;
        wasm_globaltype global;
    } desc;
} wasm_import;

typedef struct wasm_export {
    char *name;
    uint32_t name_len; /* bytes in name, which may contain NULs (names.wast); 0 = strlen */
    wasm_extern_kind kind;
    uint32_t index;
} wasm_export;

typedef struct wasm_global_def {
    wasm_globaltype type;
    wasm_constexpr init;
} wasm_global_def;

typedef enum wasm_segmode {
    WASM_SEG_ACTIVE = 0,
    WASM_SEG_PASSIVE = 1,
    WASM_SEG_DECLARATIVE = 2, /* elements only */
} wasm_segmode;

typedef struct wasm_elem {
    wasm_segmode mode;
    uint8_t type; /* WASM_FUNCREF or WASM_EXTERNREF */
    uint32_t table;
    wasm_constexpr offset; /* active only */
    uint32_t count;
    wasm_constexpr *items; /* count items: ref.func / ref.null / global.get */
    size_t byte_offset;
} wasm_elem;

typedef struct wasm_data {
    wasm_segmode mode;
    uint32_t mem;
    wasm_constexpr offset; /* active only */
    uint32_t len;
    const uint8_t *bytes; /* points into wasm_module.bytes */
    size_t byte_offset;
} wasm_data;

struct wasm_code; /* compiled form of one function, defined by compile.h */

/* A function in the index space. Imported ones have no body. */
typedef struct wasm_funcdef {
    uint32_t type; /* type index */
    bool imported;
    /* defined functions only: */
    uint32_t nlocals;       /* declared locals, not counting params */
    uint8_t *local_types;   /* nlocals value types, owned */
    const uint8_t *body;    /* first instruction (after local declarations) */
    const uint8_t *end;     /* one past the final `end` opcode */
    size_t body_offset;     /* offset of `body` in the module binary */
    struct wasm_code *code; /* filled by compile.c, owned */
} wasm_funcdef;

struct wasm_module {
    uint8_t *bytes; /* owned copy of the binary; body/data pointers point into it */
    size_t len;

    uint32_t ntypes;
    wasm_functype *types;
    uint32_t
        *type_canon; /* type_canon[i]: smallest j with types[j] structurally equal to types[i] */

    uint32_t nimports;
    wasm_import *imports;

    /* index spaces: imported first, then defined */
    uint32_t nfuncs, nfunc_imports;
    wasm_funcdef *funcs;
    uint32_t ntables, ntable_imports;
    wasm_tabletype *tables;
    uint32_t nmems, nmem_imports;
    wasm_lim *mems;
    uint32_t nglobals, nglobal_imports;
    wasm_global_def *globals; /* imported ones have init.op == 0 */

    uint32_t nexports;
    wasm_export *exports;

    bool has_start;
    uint32_t start;

    uint32_t nelems;
    wasm_elem *elems;

    bool has_data_count;
    uint32_t data_count;
    uint32_t ndatas;
    wasm_data *datas;

    /* function indices that may appear in ref.func inside bodies: those named in
     * exports, element segments or global initialisers (the spec's C.refs). */
    uint8_t *func_declared; /* nfuncs flags */
};

/* Sets err to status with a printf-style message at byte offset `offset`.
 * Always returns false so callers can `return wasm_fail(...)`. */
bool wasm_fail(wasm_error *err, wasm_status status, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* decode.c: fills *m from bytes (which it copies). On failure frees what it
 * allocated and returns false with err (MALFORMED, or NOMEM). */
bool wasm_decode(wasm_module *m, const uint8_t *bytes, size_t len, wasm_error *err);

/* validate.c: checks module-level rules and every function body. Returns false
 * with err (INVALID, or MALFORMED for bad opcodes or immediates in bodies). */
bool wasm_validate(const wasm_module *m, wasm_error *err);

/* compile.c: translates every defined function to internal code (m->funcs[i].code).
 * Runs only on validated modules. Returns false only on NOMEM or an internal limit. */
bool wasm_compile(wasm_module *m, wasm_error *err);

/* compile.c: frees one function's compiled code (NULL is fine). */
void wasm_code_free(struct wasm_code *code);

/* Frees everything a module owns (not the struct itself). Safe on partly
 * filled modules (zero-initialised fields). */
void wasm_module_clear(wasm_module *m);

/* Is functype a structurally equal to b? */
bool wasm_functype_equal(const wasm_functype *a, const wasm_functype *b);

#endif
