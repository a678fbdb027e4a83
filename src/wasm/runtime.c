/*
 * runtime.c — stores, runtime objects, instantiation and calls.
 *
 * Ownership: a store owns every object made in it (host functions, globals,
 * tables, memories, instances) through its `owned` list and frees them all in
 * wasm_store_free. An instance is one allocation block (inst_block) that also
 * holds its defined functions and globals, so instantiating a module costs a
 * handful of allocations rather than one per function.
 *
 * The value stack (store->stack) is allocated by the interpreter on its first
 * call, so a store that never runs code never pays for it.
 *
 * Values cross the API boundary as wasm_value and live in the engine as 64-bit
 * slots (see runtime.h); slot_from_value / value_from_slot convert.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define OWN_INSTANCE 4

/* An instance plus the storage for its own functions and globals. The public
 * struct comes first so a wasm_instance* is also an inst_block*. */
typedef struct inst_block {
    wasm_instance inst;
    wasm_func *own_funcs; /* module->nfuncs - nfunc_imports */
    wasm_global *own_globals;
} inst_block;

/* ---- slots and values -------------------------------------------------- */

static uint64_t slot_from_value(const wasm_value *v)
{
    switch (v->type) {
    case WASM_I32:
        return (uint32_t)v->of.i32;
    case WASM_I64:
        return (uint64_t)v->of.i64;
    case WASM_F32: {
        uint32_t b;
        memcpy(&b, &v->of.f32, 4);
        return b;
    }
    case WASM_F64: {
        uint64_t b;
        memcpy(&b, &v->of.f64, 8);
        return b;
    }
    case WASM_FUNCREF:
    case WASM_EXTERNREF:
        return (uint64_t)(uintptr_t)v->of.ref;
    }
    return 0;
}

static wasm_value value_from_slot(uint8_t type, uint64_t bits)
{
    wasm_value v;
    memset(&v, 0, sizeof v);
    v.type = (wasm_valtype)type;
    switch (type) {
    case WASM_I32:
        v.of.i32 = (int32_t)(uint32_t)bits;
        break;
    case WASM_I64:
        v.of.i64 = (int64_t)bits;
        break;
    case WASM_F32: {
        uint32_t b = (uint32_t)bits;
        memcpy(&v.of.f32, &b, 4);
        break;
    }
    case WASM_F64:
        memcpy(&v.of.f64, &bits, 8);
        break;
    default:
        v.of.ref = (void *)(uintptr_t)bits;
        break;
    }
    return v;
}

/* ---- stores ------------------------------------------------------------ */

static void fuel_reset(wasm_store *store, uint64_t fuel)
{
    store->lim.fuel = fuel;
    store->fuel_left = fuel ? fuel : (uint64_t)INT64_MAX;
    store->fuel_start = store->fuel_left;
}

wasm_store *wasm_store_new(const wasm_limits *limits)
{
    wasm_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (limits)
        s->lim = *limits;
    if (s->lim.max_pages == 0 || s->lim.max_pages > 65536)
        s->lim.max_pages = 65536;
    if (s->lim.max_call_depth == 0)
        s->lim.max_call_depth = WASM_DEFAULT_CALL_DEPTH;
    if (s->lim.max_table_size == 0)
        s->lim.max_table_size = WASM_DEFAULT_TABLE_MAX;
    if (s->lim.stack_bytes == 0)
        s->lim.stack_bytes = WASM_DEFAULT_STACK_BYTES;
    fuel_reset(s, s->lim.fuel);
    atomic_init(&s->interrupted, false);
    return s;
}

static void instance_free(inst_block *b)
{
    wasm_instance *in = &b->inst;
    if (in->elem_refs && in->module) {
        for (uint32_t i = 0; i < in->module->nelems; i++)
            free(in->elem_refs[i]);
    }
    free(in->elem_refs);
    free(in->elem_len);
    free(in->data_len);
    free(in->funcs);
    free(in->tables);
    free(in->mems);
    free(in->globals);
    free(b->own_funcs);
    free(b->own_globals);
    free(b);
}

static void owned_free(wasm_owned *o)
{
    switch ((int)o->kind) {
    case WASM_EXTERN_FUNC: {
        wasm_func *f = o->ptr;
        free(f->host_type.types);
        free(f);
        break;
    }
    case WASM_EXTERN_TABLE: {
        wasm_table *t = o->ptr;
        free(t->elems);
        free(t);
        break;
    }
    case WASM_EXTERN_MEMORY: {
        wasm_memory *m = o->ptr;
        free(m->data);
        free(m);
        break;
    }
    case WASM_EXTERN_GLOBAL:
        free(o->ptr);
        break;
    case OWN_INSTANCE:
        instance_free(o->ptr);
        break;
    }
}

void wasm_store_free(wasm_store *store)
{
    if (!store)
        return;
    for (size_t i = 0; i < store->nowned; i++)
        owned_free(&store->owned[i]);
    free(store->owned);
    free(store->stack);
    free(store);
}

void wasm_store_set_fuel(wasm_store *store, uint64_t fuel)
{
    fuel_reset(store, fuel);
}

void wasm_store_interrupt(wasm_store *store)
{
    atomic_store_explicit(&store->interrupted, true, memory_order_relaxed);
}

uint64_t wasm_store_fuel_used(const wasm_store *store)
{
    /* the interpreter may charge a block's cost before noticing it cannot pay */
    return store->fuel_left <= store->fuel_start ? store->fuel_start - store->fuel_left
                                                 : store->fuel_start;
}

/* Records ptr in the store's owned list. On OOM frees nothing and returns false:
 * the caller still owns ptr. */
static bool store_own(wasm_store *s, int kind, void *ptr)
{
    if (s->nowned == s->cap_owned) {
        size_t cap = s->cap_owned ? s->cap_owned * 2 : 16;
        wasm_owned *o = realloc(s->owned, cap * sizeof *o);
        if (!o)
            return false;
        s->owned = o;
        s->cap_owned = cap;
    }
    s->owned[s->nowned].kind = (wasm_extern_kind)kind;
    s->owned[s->nowned].ptr = ptr;
    s->nowned++;
    return true;
}

/* ---- host functions ---------------------------------------------------- */

wasm_func *wasm_func_new_host(wasm_store *store, const wasm_valtype *params, uint32_t nparams,
                              const wasm_valtype *results, uint32_t nresults, wasm_host_fn fn,
                              void *user)
{
    if (!store || !fn || (nparams && !params) || (nresults && !results))
        return NULL;
    wasm_func *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    size_t n = (size_t)nparams + nresults;
    f->host_type.types = malloc(n ? n : 1);
    if (!f->host_type.types) {
        free(f);
        return NULL;
    }
    for (uint32_t i = 0; i < nparams; i++)
        f->host_type.types[i] = (uint8_t)params[i];
    for (uint32_t i = 0; i < nresults; i++)
        f->host_type.types[nparams + i] = (uint8_t)results[i];
    f->host_type.nparams = nparams;
    f->host_type.nresults = nresults;
    f->type = &f->host_type;
    f->host = fn;
    f->user = user;
    if (!store_own(store, WASM_EXTERN_FUNC, f)) {
        free(f->host_type.types);
        free(f);
        return NULL;
    }
    return f;
}

enum { HOST_INLINE_VALUES = 16 };

bool wasm_call_host(wasm_func *func, uint64_t *slots, wasm_error *err)
{
    const wasm_functype *t = func->type;
    uint32_t np = t->nparams, nr = t->nresults;
    wasm_value inline_vals[HOST_INLINE_VALUES];
    wasm_value *vals = inline_vals;
    size_t need = (size_t)np + nr;
    if (need > HOST_INLINE_VALUES) {
        vals = malloc(need * sizeof *vals);
        if (!vals) {
            wasm_trap_set(err, WASM_TRAP_HOST);
            if (err)
                snprintf(err->msg, sizeof err->msg, "host function: out of memory");
            return false;
        }
    }
    wasm_value *args = vals, *res = vals + np;
    for (uint32_t i = 0; i < np; i++)
        args[i] = value_from_slot(t->types[i], slots[i]);
    for (uint32_t i = 0; i < nr; i++)
        res[i] = value_from_slot(t->types[np + i], 0);

    wasm_error herr;
    memset(&herr, 0, sizeof herr);
    bool ok = func->host(func->user, args, res, &herr);
    if (ok) {
        /* the declared type wins over whatever the host wrote in .type */
        for (uint32_t i = 0; i < nr; i++) {
            res[i].type = (wasm_valtype)t->types[np + i];
            slots[i] = slot_from_value(&res[i]);
        }
    } else {
        wasm_trap_set(err, WASM_TRAP_HOST);
        if (err && herr.msg[0])
            snprintf(err->msg, sizeof err->msg, "%s", herr.msg);
    }
    if (vals != inline_vals)
        free(vals);
    return ok;
}

/* ---- globals ------------------------------------------------------------ */

wasm_global *wasm_global_new(wasm_store *store, wasm_value init, bool mutable_)
{
    if (!store)
        return NULL;
    wasm_global *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->type.type = (uint8_t)init.type;
    g->type.mut = mutable_;
    g->bits = slot_from_value(&init);
    if (!store_own(store, WASM_EXTERN_GLOBAL, g)) {
        free(g);
        return NULL;
    }
    return g;
}

wasm_value wasm_global_get(const wasm_global *global)
{
    return value_from_slot(global->type.type, global->bits);
}

/* ---- tables ------------------------------------------------------------- */

/* Allocates a table without registering it in the store. */
/* Grows the allocation *p of *cap units of unit bytes so that it holds need units (need > *cap,
 * need <= top): to at least double (realloc may copy everything, ASan's always does, so
 * doubling keeps a loop of small grows copying linear rather than quadratic bytes, which fuel
 * pays for), at most top; to exactly need if that much room is not there. Returns false,
 * *p and *cap unchanged, if neither fits. */
static bool grow_alloc(void **p, uint64_t *cap, uint64_t need, uint64_t top, size_t unit)
{
    uint64_t want = *cap * 2 > need ? *cap * 2 : need;
    if (want > top)
        want = top;
    void *q = realloc(*p, (size_t)(want * unit));
    if (!q && want > need) {
        want = need;
        q = realloc(*p, (size_t)(want * unit));
    }
    if (!q)
        return false;
    *p = q;
    *cap = want;
    return true;
}

static wasm_table *table_make(const wasm_store *store, uint8_t elem, wasm_lim lim, wasm_error *err)
{
    if (lim.has_max && lim.max < lim.min) {
        wasm_fail(err, WASM_ERR_ARG, 0, "table maximum %" PRIu32 " is below its minimum %" PRIu32,
                  lim.max, lim.min);
        return NULL;
    }
    if (lim.min > store->lim.max_table_size) {
        wasm_fail(err, WASM_ERR_LIMIT, 0,
                  "table of %" PRIu32 " elements exceeds the limit of %" PRIu32, lim.min,
                  store->lim.max_table_size);
        return NULL;
    }
    wasm_table *t = calloc(1, sizeof *t);
    if (!t) {
        wasm_fail(err, WASM_ERR_NOMEM, 0, "out of memory for a table");
        return NULL;
    }
    /* never NULL, so the interpreter may index or memmove a zero-size table freely */
    t->elems = calloc(lim.min ? lim.min : 1, sizeof(void *));
    if (!t->elems) {
        free(t);
        wasm_fail(err, WASM_ERR_NOMEM, 0, "out of memory for a table of %" PRIu32 " elements",
                  lim.min);
        return NULL;
    }
    t->size = lim.min;
    t->cap = lim.min;
    t->max =
        lim.has_max && lim.max < store->lim.max_table_size ? lim.max : store->lim.max_table_size;
    t->type.elem = elem;
    t->type.lim = lim;
    return t;
}

wasm_table *wasm_table_new(wasm_store *store, wasm_valtype elem, uint32_t min, bool has_max,
                           uint32_t max, wasm_error *err)
{
    if (!store || (elem != WASM_FUNCREF && elem != WASM_EXTERNREF)) {
        wasm_fail(err, WASM_ERR_ARG, 0, "a table holds funcref or externref");
        return NULL;
    }
    wasm_lim lim = {min, has_max ? max : 0, has_max};
    wasm_table *t = table_make(store, (uint8_t)elem, lim, err);
    if (t && !store_own(store, WASM_EXTERN_TABLE, t)) {
        free(t->elems);
        free(t);
        wasm_fail(err, WASM_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    return t;
}

bool wasm_table_grow_fits(const wasm_table *table, uint32_t delta)
{
    return (uint64_t)table->size + delta <= table->max;
}

int64_t wasm_table_grow(wasm_table *table, uint32_t delta, void *init)
{
    uint32_t old = table->size;
    if (delta == 0)
        return old;
    if (!wasm_table_grow_fits(table, delta))
        return -1;
    uint32_t n = old + delta;
    if (n > table->cap) {
        uint64_t cap = table->cap; /* fits() checked n against max */
        void *e = table->elems;
        if (!grow_alloc(&e, &cap, n, table->max, sizeof *table->elems))
            return -1;
        table->elems = e;
        table->cap = (uint32_t)cap;
    }
    for (uint32_t i = old; i < n; i++)
        table->elems[i] = init;
    table->size = n;
    table->type.lim.min = n;
    return old;
}

/* ---- memories ----------------------------------------------------------- */

static wasm_memory *memory_make(const wasm_store *store, wasm_lim lim, wasm_error *err)
{
    if (lim.has_max && lim.max < lim.min) {
        wasm_fail(err, WASM_ERR_ARG, 0, "memory maximum %" PRIu32 " is below its minimum %" PRIu32,
                  lim.max, lim.min);
        return NULL;
    }
    if (lim.min > store->lim.max_pages) {
        wasm_fail(err, WASM_ERR_LIMIT, 0,
                  "memory of %" PRIu32 " pages exceeds the limit of %" PRIu32 " pages", lim.min,
                  store->lim.max_pages);
        return NULL;
    }
    wasm_memory *m = calloc(1, sizeof *m);
    if (!m) {
        wasm_fail(err, WASM_ERR_NOMEM, 0, "out of memory for a memory");
        return NULL;
    }
    uint64_t bytes = (uint64_t)lim.min * WASM_PAGE_SIZE;
    if (bytes > SIZE_MAX) {
        free(m);
        wasm_fail(err, WASM_ERR_LIMIT, 0, "memory of %" PRIu32 " pages does not fit this host",
                  lim.min);
        return NULL;
    }
    /* never NULL, so zero-length memcpy/memset on an empty memory stay defined */
    m->data = calloc(bytes ? (size_t)bytes : 1, 1);
    if (!m->data) {
        free(m);
        wasm_fail(err, WASM_ERR_NOMEM, 0, "out of memory for %" PRIu32 " pages", lim.min);
        return NULL;
    }
    m->bytes = bytes;
    m->cap = bytes;
    m->pages = lim.min;
    m->max_pages = lim.has_max && lim.max < store->lim.max_pages ? lim.max : store->lim.max_pages;
    m->lim = lim;
    return m;
}

wasm_memory *wasm_memory_new(wasm_store *store, uint32_t min, bool has_max, uint32_t max,
                             wasm_error *err)
{
    if (!store) {
        wasm_fail(err, WASM_ERR_ARG, 0, "no store");
        return NULL;
    }
    if (has_max && max > 65536) {
        wasm_fail(err, WASM_ERR_ARG, 0, "memory maximum %" PRIu32 " is above 65536 pages", max);
        return NULL;
    }
    wasm_lim lim = {min, has_max ? max : 0, has_max};
    wasm_memory *m = memory_make(store, lim, err);
    if (m && !store_own(store, WASM_EXTERN_MEMORY, m)) {
        free(m->data);
        free(m);
        wasm_fail(err, WASM_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    return m;
}

uint32_t wasm_memory_pages(const wasm_memory *memory)
{
    return memory->pages;
}

uint8_t *wasm_memory_data(wasm_memory *memory)
{
    return memory->data;
}

bool wasm_memory_grow_fits(const wasm_memory *memory, uint32_t delta)
{
    uint64_t pages = (uint64_t)memory->pages + delta;
    return pages <= memory->max_pages && pages <= 65536 && pages * WASM_PAGE_SIZE <= SIZE_MAX;
}

int64_t wasm_memory_grow(wasm_memory *memory, uint32_t delta)
{
    uint32_t old = memory->pages;
    if (delta == 0)
        return old;
    if (!wasm_memory_grow_fits(memory, delta))
        return -1;
    uint64_t pages = (uint64_t)old + delta;
    uint64_t bytes = pages * WASM_PAGE_SIZE;
    if (bytes > memory->cap) {
        /* fits() checked bytes against the maximum and SIZE_MAX */
        uint64_t top = (uint64_t)memory->max_pages * WASM_PAGE_SIZE;
        if (top > SIZE_MAX)
            top = bytes;
        void *d = memory->data;
        if (!grow_alloc(&d, &memory->cap, bytes, top, 1))
            return -1;
        memory->data = d;
    }
    memset(memory->data + memory->bytes, 0, (size_t)(bytes - memory->bytes));
    memory->bytes = bytes;
    memory->pages = (uint32_t)pages;
    memory->lim.min = (uint32_t)pages;
    return old;
}

/* ---- functions and calls ------------------------------------------------- */

const wasm_functype *wasm_func_type(const wasm_func *func)
{
    return func->type;
}

enum { CALL_INLINE_SLOTS = 16 };

wasm_status wasm_func_call(wasm_store *store, wasm_func *func, const wasm_value *args,
                           uint32_t nargs, wasm_value *results, uint32_t nresults, wasm_error *err)
{
    if (!store || !func) {
        wasm_fail(err, WASM_ERR_ARG, 0, "no store or function");
        return WASM_ERR_ARG;
    }
    if (func->inst && func->inst->store != store) {
        wasm_fail(err, WASM_ERR_ARG, 0, "the function belongs to another store");
        return WASM_ERR_ARG;
    }
    const wasm_functype *t = func->type;
    if (nargs != t->nparams || (nargs && !args)) {
        wasm_fail(err, WASM_ERR_ARG, 0, "expected %" PRIu32 " arguments, got %" PRIu32, t->nparams,
                  nargs);
        return WASM_ERR_ARG;
    }
    if (nresults != t->nresults || (nresults && !results)) {
        wasm_fail(err, WASM_ERR_ARG, 0, "the function returns %" PRIu32 " results, not %" PRIu32,
                  t->nresults, nresults);
        return WASM_ERR_ARG;
    }
    for (uint32_t i = 0; i < nargs; i++) {
        if ((uint8_t)args[i].type != t->types[i]) {
            wasm_fail(err, WASM_ERR_ARG, 0, "argument %" PRIu32 ": expected %s, got %s", i,
                      wasm_valtype_name((wasm_valtype)t->types[i]),
                      wasm_valtype_name(args[i].type));
            return WASM_ERR_ARG;
        }
    }

    uint64_t inline_slots[CALL_INLINE_SLOTS];
    uint64_t *slots = inline_slots;
    uint32_t n = nargs > nresults ? nargs : nresults;
    if (n > CALL_INLINE_SLOTS) {
        slots = calloc(n, sizeof *slots);
        if (!slots) {
            wasm_fail(err, WASM_ERR_NOMEM, 0, "out of memory");
            return WASM_ERR_NOMEM;
        }
    }
    for (uint32_t i = 0; i < nargs; i++)
        slots[i] = slot_from_value(&args[i]);
    wasm_status st = wasm_interp_call(store, func, slots, err);
    if (st == WASM_OK) {
        for (uint32_t i = 0; i < nresults; i++)
            results[i] = value_from_slot(t->types[nargs + i], slots[i]);
        if (err)
            err->status = WASM_OK;
    }
    if (slots != inline_slots)
        free(slots);
    return st;
}

/* ---- instantiation ------------------------------------------------------- */

/* Limits subtyping for imports: actual {min, max} matches declared {min, max}. */
static bool lim_match(uint32_t actual_min, bool actual_has_max, uint32_t actual_max,
                      const wasm_lim *decl)
{
    if (actual_min < decl->min)
        return false;
    if (decl->has_max && (!actual_has_max || actual_max > decl->max))
        return false;
    return true;
}

static bool link_fail(wasm_error *err, const wasm_import *im, const char *why)
{
    return wasm_fail(err, WASM_ERR_LINK, 0,
                     "incompatible import type: module \"%s\" name \"%s\" (%s)%s%s", im->module,
                     im->name, wasm_extern_kind_name(im->kind), why ? ": " : "", why ? why : "");
}

static bool resolve_imports(wasm_instance *in, wasm_resolver resolver, void *user, wasm_error *err)
{
    const wasm_module *m = in->module;
    uint32_t nf = 0, nt = 0, nm = 0, ng = 0;
    for (uint32_t i = 0; i < m->nimports; i++) {
        const wasm_import *im = &m->imports[i];
        wasm_extern ext;
        memset(&ext, 0, sizeof ext);
        if (!resolver || !resolver(user, im->module, im->name, im->kind, &ext))
            return wasm_fail(err, WASM_ERR_LINK, 0,
                             "unknown import: module \"%s\" name \"%s\" (%s)", im->module, im->name,
                             wasm_extern_kind_name(im->kind));
        if (ext.kind != im->kind) {
            char why[64];
            snprintf(why, sizeof why, "got a %s", wasm_extern_kind_name(ext.kind));
            return link_fail(err, im, why);
        }
        switch (im->kind) {
        case WASM_EXTERN_FUNC: {
            wasm_func *f = ext.of.func;
            if (!f)
                return link_fail(err, im, "null function");
            if (im->desc.func_type >= m->ntypes ||
                !wasm_functype_equal(f->type, &m->types[im->desc.func_type]))
                return link_fail(err, im, "function type mismatch");
            in->funcs[nf++] = f;
            break;
        }
        case WASM_EXTERN_TABLE: {
            wasm_table *t = ext.of.table;
            if (!t)
                return link_fail(err, im, "null table");
            if (t->type.elem != im->desc.table.elem)
                return link_fail(err, im, "element type mismatch");
            if (!lim_match(t->size, t->type.lim.has_max, t->type.lim.max, &im->desc.table.lim))
                return link_fail(err, im, "limits mismatch");
            in->tables[nt++] = t;
            break;
        }
        case WASM_EXTERN_MEMORY: {
            wasm_memory *mem = ext.of.memory;
            if (!mem)
                return link_fail(err, im, "null memory");
            if (!lim_match(mem->pages, mem->lim.has_max, mem->lim.max, &im->desc.mem))
                return link_fail(err, im, "limits mismatch");
            in->mems[nm++] = mem;
            break;
        }
        case WASM_EXTERN_GLOBAL: {
            wasm_global *g = ext.of.global;
            if (!g)
                return link_fail(err, im, "null global");
            if (g->type.type != im->desc.global.type || g->type.mut != im->desc.global.mut)
                return link_fail(err, im, "global type mismatch");
            in->globals[ng++] = g;
            break;
        }
        default:
            return link_fail(err, im, "unknown kind");
        }
    }
    /* the decoder guarantees these, but the index spaces must line up exactly */
    if (nf != m->nfunc_imports || nt != m->ntable_imports || nm != m->nmem_imports ||
        ng != m->nglobal_imports)
        return wasm_fail(err, WASM_ERR_LINK, 0, "import counts do not match the module");
    return true;
}

/* Evaluates a constant expression. `nglobals` globals are ready. */
static bool const_eval(const wasm_instance *in, const wasm_constexpr *e, uint32_t nglobals,
                       uint64_t *out, wasm_error *err)
{
    switch (e->op) {
    case 0x41: /* i32.const */
    case 0x42: /* i64.const */
    case 0x43: /* f32.const */
    case 0x44: /* f64.const */
        *out = e->bits;
        return true;
    case 0x23: /* global.get */
        if (e->index >= nglobals || !in->globals[e->index])
            return wasm_fail(err, WASM_ERR_INVALID, e->offset, "unknown global %" PRIu32, e->index);
        *out = in->globals[e->index]->bits;
        return true;
    case 0xd0: /* ref.null */
        *out = 0;
        return true;
    case 0xd2: /* ref.func */
        if (e->index >= in->module->nfuncs)
            return wasm_fail(err, WASM_ERR_INVALID, e->offset, "unknown function %" PRIu32,
                             e->index);
        *out = (uint64_t)(uintptr_t)in->funcs[e->index];
        return true;
    }
    return wasm_fail(err, WASM_ERR_INVALID, e->offset, "constant expression required");
}

static bool alloc_arrays(inst_block *b, wasm_error *err)
{
    wasm_instance *in = &b->inst;
    const wasm_module *m = in->module;
    /* +1 so a zero count still gets a distinct, non-NULL allocation */
    in->funcs = calloc((size_t)m->nfuncs + 1, sizeof *in->funcs);
    in->tables = calloc((size_t)m->ntables + 1, sizeof *in->tables);
    in->mems = calloc((size_t)m->nmems + 1, sizeof *in->mems);
    in->globals = calloc((size_t)m->nglobals + 1, sizeof *in->globals);
    in->elem_refs = calloc((size_t)m->nelems + 1, sizeof *in->elem_refs);
    in->elem_len = calloc((size_t)m->nelems + 1, sizeof *in->elem_len);
    in->data_len = calloc((size_t)m->ndatas + 1, sizeof *in->data_len);
    b->own_funcs = calloc((size_t)(m->nfuncs - m->nfunc_imports) + 1, sizeof *b->own_funcs);
    b->own_globals = calloc((size_t)(m->nglobals - m->nglobal_imports) + 1, sizeof *b->own_globals);
    if (!in->funcs || !in->tables || !in->mems || !in->globals || !in->elem_refs || !in->elem_len ||
        !in->data_len || !b->own_funcs || !b->own_globals)
        return wasm_fail(err, WASM_ERR_NOMEM, 0, "out of memory for an instance");
    return true;
}

/* Creates the module's own functions, tables, memories and globals. */
static bool alloc_objects(inst_block *b, wasm_error *err)
{
    wasm_instance *in = &b->inst;
    const wasm_module *m = in->module;
    wasm_store *s = in->store;

    for (uint32_t i = m->nfunc_imports; i < m->nfuncs; i++) {
        const wasm_funcdef *fd = &m->funcs[i];
        wasm_func *f = &b->own_funcs[i - m->nfunc_imports];
        if (fd->type >= m->ntypes)
            return wasm_fail(err, WASM_ERR_INVALID, 0, "unknown type %" PRIu32, fd->type);
        uint32_t canon = m->type_canon ? m->type_canon[fd->type] : fd->type;
        f->type = &m->types[canon];
        f->inst = in;
        f->index = i;
        f->code = fd->code;
        in->funcs[i] = f;
    }

    for (uint32_t i = m->ntable_imports; i < m->ntables; i++) {
        wasm_table *t = table_make(s, m->tables[i].elem, m->tables[i].lim, err);
        if (!t) {
            if (err && err->status == WASM_ERR_LIMIT)
                snprintf(err->msg, sizeof err->msg,
                         "table %" PRIu32 ": %" PRIu32 " elements exceed the limit of %" PRIu32, i,
                         m->tables[i].lim.min, s->lim.max_table_size);
            return false;
        }
        if (!store_own(s, WASM_EXTERN_TABLE, t)) {
            free(t->elems);
            free(t);
            return wasm_fail(err, WASM_ERR_NOMEM, 0, "out of memory");
        }
        in->tables[i] = t;
    }

    for (uint32_t i = m->nmem_imports; i < m->nmems; i++) {
        wasm_memory *mem = memory_make(s, m->mems[i], err);
        if (!mem) {
            if (err && err->status == WASM_ERR_LIMIT)
                snprintf(err->msg, sizeof err->msg,
                         "memory %" PRIu32 ": %" PRIu32 " pages exceed the limit of %" PRIu32
                         " pages",
                         i, m->mems[i].min, s->lim.max_pages);
            return false;
        }
        if (!store_own(s, WASM_EXTERN_MEMORY, mem)) {
            free(mem->data);
            free(mem);
            return wasm_fail(err, WASM_ERR_NOMEM, 0, "out of memory");
        }
        in->mems[i] = mem;
    }

    for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++) {
        wasm_global *g = &b->own_globals[i - m->nglobal_imports];
        g->type = m->globals[i].type;
        /* initialisers see imported globals and, in later proposals, earlier ones */
        if (!const_eval(in, &m->globals[i].init, i, &g->bits, err))
            return false;
        in->globals[i] = g;
    }
    return true;
}

/* Evaluates every element segment's items into instance->elem_refs. */
static bool resolve_elems(wasm_instance *in, wasm_error *err)
{
    const wasm_module *m = in->module;
    for (uint32_t i = 0; i < m->nelems; i++) {
        const wasm_elem *e = &m->elems[i];
        if (e->count == 0)
            continue;
        void **refs = calloc(e->count, sizeof *refs);
        if (!refs)
            return wasm_fail(err, WASM_ERR_NOMEM, 0, "out of memory for element segment %" PRIu32,
                             i);
        in->elem_refs[i] = refs;
        for (uint32_t j = 0; j < e->count; j++) {
            uint64_t bits;
            if (!const_eval(in, &e->items[j], m->nglobals, &bits, err))
                return false;
            refs[j] = (void *)(uintptr_t)bits;
        }
        in->elem_len[i] = e->count;
    }
    for (uint32_t i = 0; i < m->ndatas; i++)
        in->data_len[i] = m->datas[i].len;
    return true;
}

static void elem_drop(wasm_instance *in, uint32_t i)
{
    free(in->elem_refs[i]);
    in->elem_refs[i] = NULL;
    in->elem_len[i] = 0;
}

/* Active segments in order (table.init + elem.drop, then memory.init +
 * data.drop), as the bulk-memory instantiation algorithm says: a segment out of
 * bounds traps and leaves the effects of the segments before it. */
static bool init_segments(wasm_instance *in, wasm_error *err)
{
    const wasm_module *m = in->module;
    for (uint32_t i = 0; i < m->nelems; i++) {
        const wasm_elem *e = &m->elems[i];
        if (e->mode == WASM_SEG_DECLARATIVE) {
            elem_drop(in, i);
            continue;
        }
        if (e->mode != WASM_SEG_ACTIVE)
            continue;
        uint64_t off;
        if (!const_eval(in, &e->offset, m->nglobals, &off, err))
            return false;
        if (e->table >= m->ntables)
            return wasm_fail(err, WASM_ERR_INVALID, e->byte_offset, "unknown table %" PRIu32,
                             e->table);
        wasm_table *t = in->tables[e->table];
        uint64_t start = (uint32_t)off, n = in->elem_len[i];
        if (start + n > t->size) {
            wasm_trap_set(err, WASM_TRAP_TABLE_OOB);
            return false;
        }
        if (n)
            memcpy(t->elems + start, in->elem_refs[i], (size_t)n * sizeof(void *));
        elem_drop(in, i);
    }
    for (uint32_t i = 0; i < m->ndatas; i++) {
        const wasm_data *d = &m->datas[i];
        if (d->mode != WASM_SEG_ACTIVE)
            continue;
        uint64_t off;
        if (!const_eval(in, &d->offset, m->nglobals, &off, err))
            return false;
        if (d->mem >= m->nmems)
            return wasm_fail(err, WASM_ERR_INVALID, d->byte_offset, "unknown memory %" PRIu32,
                             d->mem);
        wasm_memory *mem = in->mems[d->mem];
        uint64_t start = (uint32_t)off, n = in->data_len[i];
        if (start + n > mem->bytes) {
            wasm_trap_set(err, WASM_TRAP_MEMORY_OOB);
            return false;
        }
        if (n)
            memcpy(mem->data + start, d->bytes, (size_t)n);
        in->data_len[i] = 0;
    }
    return true;
}

static bool run_start(wasm_instance *in, wasm_error *err)
{
    const wasm_module *m = in->module;
    if (!m->has_start)
        return true;
    if (m->start >= m->nfuncs)
        return wasm_fail(err, WASM_ERR_INVALID, 0, "unknown start function %" PRIu32, m->start);
    wasm_func *f = in->funcs[m->start];
    if (f->type->nparams || f->type->nresults) /* the validator's rule; cheap to re-check */
        return wasm_fail(err, WASM_ERR_INVALID, 0, "start function must be [] -> []");
    uint64_t slots[1] = {0}; /* no arguments or results, but never a zero-size array */
    return wasm_interp_call(in->store, f, slots, err) == WASM_OK;
}

wasm_instance *wasm_instantiate(wasm_store *store, const wasm_module *module,
                                wasm_resolver resolver, void *user, wasm_error *err)
{
    if (!store || !module) {
        wasm_fail(err, WASM_ERR_ARG, 0, "no store or module");
        return NULL;
    }
    inst_block *b = calloc(1, sizeof *b);
    if (!b) {
        wasm_fail(err, WASM_ERR_NOMEM, 0, "out of memory for an instance");
        return NULL;
    }
    b->inst.module = module;
    b->inst.store = store;
    if (!alloc_arrays(b, err)) {
        instance_free(b);
        return NULL;
    }
    /* linking touches nothing, so a link failure can free everything */
    if (!resolve_imports(&b->inst, resolver, user, err)) {
        instance_free(b);
        return NULL;
    }
    /* from here on the instance's objects may end up referenced from imported
     * tables (elements written before a later segment traps), so the store owns them */
    if (!store_own(store, OWN_INSTANCE, b)) {
        instance_free(b);
        wasm_fail(err, WASM_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    wasm_instance *in = &b->inst;
    if (!alloc_objects(b, err) || !resolve_elems(in, err) || !init_segments(in, err) ||
        !run_start(in, err))
        return NULL;
    if (err)
        err->status = WASM_OK;
    return in;
}

/* ---- exports ------------------------------------------------------------- */

bool wasm_instance_export_n(const wasm_instance *instance, const char *name, size_t len,
                            wasm_extern *out)
{
    if (!instance || (!name && len))
        return false;
    const wasm_module *m = instance->module;
    for (uint32_t i = 0; i < m->nexports; i++) {
        const wasm_export *e = &m->exports[i];
        size_t elen = e->name_len ? e->name_len : strlen(e->name);
        if (elen != len || (len && memcmp(e->name, name, len) != 0))
            continue;
        wasm_extern x;
        x.kind = e->kind;
        switch (e->kind) {
        case WASM_EXTERN_FUNC:
            if (e->index >= m->nfuncs)
                return false;
            x.of.func = instance->funcs[e->index];
            break;
        case WASM_EXTERN_TABLE:
            if (e->index >= m->ntables)
                return false;
            x.of.table = instance->tables[e->index];
            break;
        case WASM_EXTERN_MEMORY:
            if (e->index >= m->nmems)
                return false;
            x.of.memory = instance->mems[e->index];
            break;
        case WASM_EXTERN_GLOBAL:
            if (e->index >= m->nglobals)
                return false;
            x.of.global = instance->globals[e->index];
            break;
        default:
            return false;
        }
        if (out)
            *out = x;
        return true;
    }
    return false;
}

bool wasm_instance_export(const wasm_instance *instance, const char *name, wasm_extern *out)
{
    return name && wasm_instance_export_n(instance, name, strlen(name), out);
}
