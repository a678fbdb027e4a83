/*
 * decode.c — the binary format: bytes to struct wasm_module.
 *
 * Checks structure only (what the spec calls malformed); typing and index
 * ranges are validate.c's job, and function bodies are only located here
 * (their locals are decoded, their instructions are left to the validator).
 *
 * Every count read from the binary is checked against the bytes that remain
 * before anything is allocated, so a short hostile input cannot make us
 * allocate much more than a small multiple of its own size.
 */
#include <stdlib.h>
#include <string.h>

#include "module.h"
#include "reader.h"

/* Locals per function: the spec allows 2^32-1, engines cap far lower. */
#define MAX_FUNC_LOCALS 50000u
/* Locals in the whole module, as a budget on local_types allocations. */
#define LOCALS_BUDGET_BASE     1000000u
#define LOCALS_BUDGET_PER_BYTE 64u

enum {
    SEC_CUSTOM = 0,
    SEC_TYPE = 1,
    SEC_IMPORT = 2,
    SEC_FUNCTION = 3,
    SEC_TABLE = 4,
    SEC_MEMORY = 5,
    SEC_GLOBAL = 6,
    SEC_EXPORT = 7,
    SEC_START = 8,
    SEC_ELEMENT = 9,
    SEC_CODE = 10,
    SEC_DATA = 11,
    SEC_DATACOUNT = 12,
};

typedef struct dec {
    wasm_module *m;
    wasm_error *err;
    const uint8_t *base;
    bool in_section;      /* picks the message for truncation */
    bool has_code;        /* a code section was seen */
    uint32_t nfuncdefs;   /* functions declared by the function section */
    uint64_t locals_used; /* total locals over all bodies, against the budget */
} dec;

/* ---- errors ----------------------------------------------------------- */

static size_t off_of(const dec *d, const uint8_t *p)
{
    return (size_t)(p - d->base);
}

/* The error helpers return a literal false so the compiler can see that
 * outputs are set whenever a read succeeds. */
static bool malformed_at(dec *d, const uint8_t *p, const char *msg)
{
    wasm_fail(d->err, WASM_ERR_MALFORMED, off_of(d, p), "%s", msg);
    return false;
}

static bool eof_at(dec *d, const uint8_t *p)
{
    return malformed_at(d, p,
                        d->in_section ? "unexpected end of section or function" : "unexpected end");
}

static bool nomem(dec *d)
{
    wasm_fail(d->err, WASM_ERR_NOMEM, 0, "out of memory");
    return false;
}

/* Explains why a LEB128 of `bits` bits starting at s could not be read. A
 * number cut off by the end of its section is still reported as too long or
 * too large when the bytes after the section show it to be (as the spec's
 * reference decoder, which reads on, does). */
static bool leb_fail(dec *d, const uint8_t *s, unsigned bits, bool sign)
{
    wasm_reader t = wasm_rd_init(d->base, s, d->base + d->m->len);
    uint64_t u;
    int64_t i64;
    if (sign ? wasm_rd_sleb(&t, bits, &i64) : wasm_rd_uleb(&t, bits, &u))
        return eof_at(d, s); /* well-formed, just cut off by its section */
    unsigned maxbytes = (bits + 6) / 7;
    for (unsigned i = 0; i < maxbytes; i++) {
        if (s + i >= t.end)
            return eof_at(d, s);
        if (i == maxbytes - 1)
            return malformed_at(
                d, s, (s[i] & 0x80) ? "integer representation too long" : "integer too large");
        if (!(s[i] & 0x80))
            break;
    }
    return eof_at(d, s);
}

/* ---- primitive reads with error reporting ----------------------------- */

static bool rd_byte(dec *d, wasm_reader *r, uint8_t *out)
{
    if (!wasm_rd_u8(r, out))
        return eof_at(d, r->p);
    return true;
}

static bool rd_u32(dec *d, wasm_reader *r, uint32_t *out)
{
    const uint8_t *s = r->p;
    if (wasm_rd_u32(r, out))
        return true;
    r->p = s;
    return leb_fail(d, s, 32, false);
}

static bool rd_s32(dec *d, wasm_reader *r, int32_t *out)
{
    const uint8_t *s = r->p;
    if (wasm_rd_i32(r, out))
        return true;
    r->p = s;
    return leb_fail(d, s, 32, true);
}

static bool rd_s64(dec *d, wasm_reader *r, int64_t *out)
{
    const uint8_t *s = r->p;
    if (wasm_rd_i64(r, out))
        return true;
    r->p = s;
    return leb_fail(d, s, 64, true);
}

static size_t left(const wasm_reader *r)
{
    return (size_t)(r->end - r->p);
}

/* A vector length. Every element takes at least one byte, so a count above
 * the bytes left is truncation, caught before anything is allocated: arrays
 * stay within a small multiple (the element struct size) of the input. */
static bool rd_count(dec *d, wasm_reader *r, uint32_t *out)
{
    const uint8_t *s = r->p;
    if (!rd_u32(d, r, out))
        return false;
    if (*out > left(r))
        return eof_at(d, s);
    return true;
}

/* Unicode's well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint8_t lo = 0x80, hi = 0xbf; /* range of the second byte */
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        } else {
            return false; /* continuation byte, C0/C1 overlong, or F5..FF */
        }
        if (n - i < len)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return false;
        i += len;
    }
    return true;
}

/* A name: validated UTF-8, copied NUL-terminated when out is non-NULL. */
static bool rd_name(dec *d, wasm_reader *r, char **out, uint32_t *out_len)
{
    uint32_t n;
    const uint8_t *s = r->p;
    if (!rd_u32(d, r, &n))
        return false;
    if (n > left(r))
        return malformed_at(d, s, "length out of bounds");
    const uint8_t *p = r->p;
    if (!utf8_valid(p, n))
        return malformed_at(d, p, "malformed UTF-8 encoding");
    r->p += n;
    if (out_len)
        *out_len = n;
    if (out) {
        char *str = malloc((size_t)n + 1);
        if (!str)
            return nomem(d);
        memcpy(str, p, n);
        str[n] = '\0';
        *out = str;
    }
    return true;
}

static bool is_valtype(uint8_t b)
{
    return b == WASM_I32 || b == WASM_I64 || b == WASM_F32 || b == WASM_F64 || b == WASM_FUNCREF ||
           b == WASM_EXTERNREF;
}

static bool rd_valtype(dec *d, wasm_reader *r, uint8_t *out)
{
    const uint8_t *s = r->p;
    if (!rd_byte(d, r, out))
        return false;
    if (!is_valtype(*out))
        return malformed_at(d, s, "malformed value type");
    return true;
}

static bool rd_reftype(dec *d, wasm_reader *r, uint8_t *out)
{
    const uint8_t *s = r->p;
    if (!rd_byte(d, r, out))
        return false;
    if (*out != WASM_FUNCREF && *out != WASM_EXTERNREF)
        return malformed_at(d, s, "malformed reference type");
    return true;
}

static bool rd_limits(dec *d, wasm_reader *r, wasm_lim *lim)
{
    const uint8_t *s = r->p;
    uint8_t flags;
    if (!rd_byte(d, r, &flags))
        return false;
    /* the flag is a one-bit LEB128 in the spec, hence its messages */
    if (flags > 1)
        return malformed_at(
            d, s, (flags & 0x80) ? "integer representation too long" : "integer too large");
    lim->has_max = flags == 1;
    if (!rd_u32(d, r, &lim->min))
        return false;
    lim->max = 0;
    if (lim->has_max && !rd_u32(d, r, &lim->max))
        return false;
    return true;
}

static bool rd_tabletype(dec *d, wasm_reader *r, wasm_tabletype *t)
{
    return rd_reftype(d, r, &t->elem) && rd_limits(d, r, &t->lim);
}

static bool rd_globaltype(dec *d, wasm_reader *r, wasm_globaltype *g)
{
    if (!rd_valtype(d, r, &g->type))
        return false;
    const uint8_t *s = r->p;
    uint8_t mut;
    if (!rd_byte(d, r, &mut))
        return false;
    if (mut > 1)
        return malformed_at(d, s, "malformed mutability");
    g->mut = mut == 1;
    return true;
}

/* ---- constant expressions --------------------------------------------- */

/* Opcodes of WebAssembly 2.0 without SIMD (0xfc sub-opcodes separately). */
static bool is_opcode(uint8_t op)
{
    return op <= 0x05 || (op >= 0x0b && op <= 0x11) || (op >= 0x1a && op <= 0x1c) ||
           (op >= 0x20 && op <= 0x26) || (op >= 0x28 && op <= 0xc4) || (op >= 0xd0 && op <= 0xd2);
}

/* op at p is not allowed in a constant expression. A known instruction makes
 * the module invalid; an unknown one makes it malformed. We cannot skip an
 * arbitrary instruction here, so either way decoding stops. */
static bool not_const(dec *d, wasm_reader *r, const uint8_t *p, uint8_t op)
{
    bool known = is_opcode(op);
    uint32_t sub = 0;
    if (op == 0xfc) {
        if (!rd_u32(d, r, &sub))
            return false;
        known = sub <= 17;
    }
    if (!known && op == 0xfc)
        wasm_fail(d->err, WASM_ERR_MALFORMED, off_of(d, p), "illegal opcode fc %u", (unsigned)sub);
    else if (!known)
        wasm_fail(d->err, WASM_ERR_MALFORMED, off_of(d, p), "illegal opcode %02x", op);
    else
        wasm_fail(d->err, WASM_ERR_INVALID, off_of(d, p), "constant expression required");
    return false;
}

static bool rd_constexpr(dec *d, wasm_reader *r, wasm_constexpr *ce)
{
    memset(ce, 0, sizeof *ce);
    const uint8_t *s = r->p;
    ce->offset = off_of(d, s);
    uint8_t op;
    if (!rd_byte(d, r, &op))
        return false;
    ce->op = op;
    switch (op) {
    case 0x0b: /* empty: the validator reports the type mismatch */
        return true;
    case 0x41: {
        int32_t v = 0;
        if (!rd_s32(d, r, &v))
            return false;
        ce->bits = (uint32_t)v;
        break;
    }
    case 0x42: {
        int64_t v = 0;
        if (!rd_s64(d, r, &v))
            return false;
        ce->bits = (uint64_t)v;
        break;
    }
    case 0x43: {
        uint32_t v;
        if (!wasm_rd_fixed32(r, &v))
            return eof_at(d, r->p);
        ce->bits = v;
        break;
    }
    case 0x44:
        if (!wasm_rd_fixed64(r, &ce->bits))
            return eof_at(d, r->p);
        break;
    case 0x23:
    case 0xd2:
        if (!rd_u32(d, r, &ce->index))
            return false;
        break;
    case 0xd0:
        if (!rd_reftype(d, r, &ce->reftype))
            return false;
        break;
    default:
        return not_const(d, r, s, op);
    }
    const uint8_t *e = r->p;
    uint8_t end;
    if (!rd_byte(d, r, &end))
        return false;
    if (end != 0x0b)
        return not_const(d, r, e, end);
    return true;
}

/* ---- growing index spaces --------------------------------------------- */

/* Appends n zeroed elements of size sz to *arr holding *count. */
static bool grow(dec *d, void **arr, uint32_t *count, uint32_t n, size_t sz)
{
    uint64_t total = (uint64_t)*count + n;
    if (total > UINT32_MAX)
        return malformed_at(d, d->base, "too many definitions");
    if (n == 0)
        return true;
    void *p = realloc(*arr, (size_t)total * sz);
    if (!p)
        return nomem(d);
    memset((uint8_t *)p + (size_t)*count * sz, 0, (size_t)n * sz);
    *arr = p;
    *count = (uint32_t)total;
    return true;
}

/* ---- sections --------------------------------------------------------- */

static bool dec_types(dec *d, wasm_reader *r)
{
    wasm_module *m = d->m;
    uint32_t n;
    if (!rd_count(d, r, &n))
        return false;
    if (n && !(m->types = calloc(n, sizeof *m->types)))
        return nomem(d);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *s = r->p;
        uint8_t form;
        if (!rd_byte(d, r, &form))
            return false;
        if (form != 0x60)
            return malformed_at(d, s,
                                (form & 0x80) ? "integer representation too long"
                                              : "malformed function type");
        /* params, then results; both are validated before allocating */
        wasm_reader save = *r;
        uint32_t np, nr;
        if (!rd_count(d, r, &np))
            return false;
        for (uint32_t k = 0; k < np; k++) {
            uint8_t t;
            if (!rd_valtype(d, r, &t))
                return false;
        }
        if (!rd_count(d, r, &nr))
            return false;
        for (uint32_t k = 0; k < nr; k++) {
            uint8_t t;
            if (!rd_valtype(d, r, &t))
                return false;
        }
        wasm_functype *ft = &m->types[i];
        m->ntypes = i + 1; /* so clear() frees what we have */
        ft->nparams = np;
        ft->nresults = nr;
        size_t total = (size_t)np + nr;
        if (total && !(ft->types = malloc(total)))
            return nomem(d);
        /* second pass over already-checked bytes */
        *r = save;
        size_t j = 0;
        uint32_t c;
        wasm_rd_u32(r, &c);
        for (uint32_t k = 0; k < np; k++)
            wasm_rd_u8(r, &ft->types[j++]);
        wasm_rd_u32(r, &c);
        for (uint32_t k = 0; k < nr; k++)
            wasm_rd_u8(r, &ft->types[j++]);
    }
    return true;
}

static bool dec_imports(dec *d, wasm_reader *r)
{
    wasm_module *m = d->m;
    uint32_t n;
    if (!rd_count(d, r, &n))
        return false;
    if (n && !(m->imports = calloc(n, sizeof *m->imports)))
        return nomem(d);
    for (uint32_t i = 0; i < n; i++) {
        wasm_import *im = &m->imports[i];
        m->nimports = i + 1;
        if (!rd_name(d, r, &im->module, &im->module_len) ||
            !rd_name(d, r, &im->name, &im->name_len))
            return false;
        const uint8_t *s = r->p;
        uint8_t kind;
        if (!rd_byte(d, r, &kind))
            return false;
        switch (kind) {
        case WASM_EXTERN_FUNC:
            im->kind = WASM_EXTERN_FUNC;
            if (!rd_u32(d, r, &im->desc.func_type))
                return false;
            break;
        case WASM_EXTERN_TABLE:
            im->kind = WASM_EXTERN_TABLE;
            if (!rd_tabletype(d, r, &im->desc.table))
                return false;
            break;
        case WASM_EXTERN_MEMORY:
            im->kind = WASM_EXTERN_MEMORY;
            if (!rd_limits(d, r, &im->desc.mem))
                return false;
            break;
        case WASM_EXTERN_GLOBAL:
            im->kind = WASM_EXTERN_GLOBAL;
            if (!rd_globaltype(d, r, &im->desc.global))
                return false;
            break;
        default:
            return malformed_at(d, s, "malformed import kind");
        }
    }
    /* the index spaces start with the imports, in order */
    uint32_t nf = 0, nt = 0, nm = 0, ng = 0;
    for (uint32_t i = 0; i < n; i++) {
        switch (m->imports[i].kind) {
        case WASM_EXTERN_FUNC:
            nf++;
            break;
        case WASM_EXTERN_TABLE:
            nt++;
            break;
        case WASM_EXTERN_MEMORY:
            nm++;
            break;
        case WASM_EXTERN_GLOBAL:
            ng++;
            break;
        }
    }
    if (!grow(d, (void **)&m->funcs, &m->nfuncs, nf, sizeof *m->funcs) ||
        !grow(d, (void **)&m->tables, &m->ntables, nt, sizeof *m->tables) ||
        !grow(d, (void **)&m->mems, &m->nmems, nm, sizeof *m->mems) ||
        !grow(d, (void **)&m->globals, &m->nglobals, ng, sizeof *m->globals))
        return false;
    m->nfunc_imports = nf;
    m->ntable_imports = nt;
    m->nmem_imports = nm;
    m->nglobal_imports = ng;
    nf = nt = nm = ng = 0;
    for (uint32_t i = 0; i < n; i++) {
        const wasm_import *im = &m->imports[i];
        switch (im->kind) {
        case WASM_EXTERN_FUNC:
            m->funcs[nf].type = im->desc.func_type;
            m->funcs[nf].imported = true;
            nf++;
            break;
        case WASM_EXTERN_TABLE:
            m->tables[nt++] = im->desc.table;
            break;
        case WASM_EXTERN_MEMORY:
            m->mems[nm++] = im->desc.mem;
            break;
        case WASM_EXTERN_GLOBAL:
            m->globals[ng++].type = im->desc.global;
            break;
        }
    }
    return true;
}

static bool dec_functions(dec *d, wasm_reader *r)
{
    wasm_module *m = d->m;
    uint32_t n;
    if (!rd_count(d, r, &n))
        return false;
    uint32_t first = m->nfuncs;
    if (!grow(d, (void **)&m->funcs, &m->nfuncs, n, sizeof *m->funcs))
        return false;
    d->nfuncdefs = n;
    for (uint32_t i = 0; i < n; i++)
        if (!rd_u32(d, r, &m->funcs[first + i].type))
            return false;
    return true;
}

static bool dec_tables(dec *d, wasm_reader *r)
{
    wasm_module *m = d->m;
    uint32_t n;
    if (!rd_count(d, r, &n))
        return false;
    uint32_t first = m->ntables;
    if (!grow(d, (void **)&m->tables, &m->ntables, n, sizeof *m->tables))
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (!rd_tabletype(d, r, &m->tables[first + i]))
            return false;
    return true;
}

static bool dec_memories(dec *d, wasm_reader *r)
{
    wasm_module *m = d->m;
    uint32_t n;
    if (!rd_count(d, r, &n))
        return false;
    uint32_t first = m->nmems;
    if (!grow(d, (void **)&m->mems, &m->nmems, n, sizeof *m->mems))
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (!rd_limits(d, r, &m->mems[first + i]))
            return false;
    return true;
}

static bool dec_globals(dec *d, wasm_reader *r)
{
    wasm_module *m = d->m;
    uint32_t n;
    if (!rd_count(d, r, &n))
        return false;
    uint32_t first = m->nglobals;
    if (!grow(d, (void **)&m->globals, &m->nglobals, n, sizeof *m->globals))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        wasm_global_def *g = &m->globals[first + i];
        if (!rd_globaltype(d, r, &g->type) || !rd_constexpr(d, r, &g->init))
            return false;
    }
    return true;
}

static bool dec_exports(dec *d, wasm_reader *r)
{
    wasm_module *m = d->m;
    uint32_t n;
    if (!rd_count(d, r, &n))
        return false;
    if (n && !(m->exports = calloc(n, sizeof *m->exports)))
        return nomem(d);
    for (uint32_t i = 0; i < n; i++) {
        wasm_export *ex = &m->exports[i];
        m->nexports = i + 1;
        if (!rd_name(d, r, &ex->name, &ex->name_len))
            return false;
        const uint8_t *s = r->p;
        uint8_t kind;
        if (!rd_byte(d, r, &kind))
            return false;
        if (kind > WASM_EXTERN_GLOBAL)
            return malformed_at(d, s, "malformed export kind");
        ex->kind = (wasm_extern_kind)kind;
        if (!rd_u32(d, r, &ex->index))
            return false;
    }
    return true;
}

static bool dec_start(dec *d, wasm_reader *r)
{
    d->m->has_start = true;
    return rd_u32(d, r, &d->m->start);
}

static bool dec_elems(dec *d, wasm_reader *r)
{
    wasm_module *m = d->m;
    uint32_t n;
    if (!rd_count(d, r, &n))
        return false;
    if (n && !(m->elems = calloc(n, sizeof *m->elems)))
        return nomem(d);
    for (uint32_t i = 0; i < n; i++) {
        wasm_elem *el = &m->elems[i];
        m->nelems = i + 1;
        const uint8_t *s = r->p;
        el->byte_offset = off_of(d, s);
        uint32_t flags;
        if (!rd_u32(d, r, &flags))
            return false;
        if (flags > 7)
            return malformed_at(d, s, "malformed elements segment kind");
        /* bit 0: passive or declarative; bit 1: explicit table (active) or
         * declarative; bit 2: items are expressions rather than indices */
        bool exprs = flags & 4;
        el->type = WASM_FUNCREF;
        el->table = 0;
        if (flags & 1) {
            el->mode = (flags & 2) ? WASM_SEG_DECLARATIVE : WASM_SEG_PASSIVE;
        } else {
            el->mode = WASM_SEG_ACTIVE;
            if ((flags & 2) && !rd_u32(d, r, &el->table))
                return false;
            if (!rd_constexpr(d, r, &el->offset))
                return false;
        }
        /* forms 0 and 4 have an implicit type; the others name it */
        if (flags & 3) {
            const uint8_t *k = r->p;
            if (exprs) {
                if (!rd_reftype(d, r, &el->type))
                    return false;
            } else {
                uint8_t kind;
                if (!rd_byte(d, r, &kind))
                    return false;
                if (kind != 0x00)
                    return malformed_at(d, k, "malformed element kind");
            }
        }
        uint32_t cnt;
        if (!rd_count(d, r, &cnt))
            return false;
        if (cnt && !(el->items = calloc(cnt, sizeof *el->items)))
            return nomem(d);
        el->count = cnt;
        for (uint32_t k = 0; k < cnt; k++) {
            wasm_constexpr *it = &el->items[k];
            if (exprs) {
                if (!rd_constexpr(d, r, it))
                    return false;
            } else {
                it->op = 0xd2;
                it->offset = off_of(d, r->p);
                if (!rd_u32(d, r, &it->index))
                    return false;
            }
        }
    }
    return true;
}

static bool dec_datacount(dec *d, wasm_reader *r)
{
    d->m->has_data_count = true;
    return rd_u32(d, r, &d->m->data_count);
}

/* Local declarations of one body: checked and counted, then expanded. */
static bool dec_locals(dec *d, wasm_reader *r, wasm_funcdef *f)
{
    wasm_reader save = *r;
    uint32_t ndecl;
    if (!rd_count(d, r, &ndecl))
        return false;
    uint64_t total = 0;
    for (uint32_t i = 0; i < ndecl; i++) {
        const uint8_t *s = r->p;
        uint32_t cnt;
        uint8_t t;
        if (!rd_u32(d, r, &cnt))
            return false;
        total += cnt;
        if (total > MAX_FUNC_LOCALS)
            return malformed_at(d, s, "too many locals");
        if (!rd_valtype(d, r, &t))
            return false;
    }
    d->locals_used += total;
    if (d->locals_used > LOCALS_BUDGET_BASE + (uint64_t)d->m->len * LOCALS_BUDGET_PER_BYTE)
        return malformed_at(d, save.p, "too many locals");
    f->nlocals = (uint32_t)total;
    if (total && !(f->local_types = malloc((size_t)total)))
        return nomem(d);
    const uint8_t *body = r->p;
    *r = save;
    wasm_rd_u32(r, &ndecl);
    size_t j = 0;
    for (uint32_t i = 0; i < ndecl; i++) {
        uint32_t cnt = 0;
        uint8_t t = 0;
        wasm_rd_u32(r, &cnt);
        wasm_rd_u8(r, &t);
        if (cnt) /* local_types is NULL when there are none */
            memset(f->local_types + j, t, cnt);
        j += cnt;
    }
    r->p = body;
    return true;
}

static bool dec_code(dec *d, wasm_reader *r)
{
    wasm_module *m = d->m;
    const uint8_t *s = r->p;
    uint32_t n;
    if (!rd_u32(d, r, &n))
        return false;
    d->has_code = true;
    if (n != d->nfuncdefs)
        return malformed_at(d, s, "function and code section have inconsistent lengths");
    for (uint32_t i = 0; i < n; i++) {
        wasm_funcdef *f = &m->funcs[m->nfunc_imports + i];
        const uint8_t *sz = r->p;
        uint32_t size;
        if (!rd_u32(d, r, &size))
            return false;
        if (size > left(r))
            return eof_at(d, sz);
        wasm_reader body = wasm_rd_init(r->base, r->p, r->p + size);
        r->p += size;
        if (!dec_locals(d, &body, f))
            return false;
        f->body = body.p;
        f->end = body.end;
        f->body_offset = off_of(d, body.p);
    }
    return true;
}

static bool dec_datas(dec *d, wasm_reader *r)
{
    wasm_module *m = d->m;
    const uint8_t *s = r->p;
    uint32_t n;
    if (!rd_count(d, r, &n))
        return false;
    if (m->has_data_count && n != m->data_count)
        return malformed_at(d, s, "data count and data section have inconsistent lengths");
    if (n && !(m->datas = calloc(n, sizeof *m->datas)))
        return nomem(d);
    for (uint32_t i = 0; i < n; i++) {
        wasm_data *da = &m->datas[i];
        m->ndatas = i + 1;
        const uint8_t *f = r->p;
        da->byte_offset = off_of(d, f);
        uint32_t flags;
        if (!rd_u32(d, r, &flags))
            return false;
        if (flags > 2)
            return malformed_at(d, f, "malformed data segment kind");
        da->mem = 0;
        if (flags == 1) {
            da->mode = WASM_SEG_PASSIVE;
        } else {
            da->mode = WASM_SEG_ACTIVE;
            if (flags == 2 && !rd_u32(d, r, &da->mem))
                return false;
            if (!rd_constexpr(d, r, &da->offset))
                return false;
        }
        const uint8_t *l = r->p;
        if (!rd_u32(d, r, &da->len))
            return false;
        if (da->len > left(r))
            return eof_at(d, l);
        da->bytes = r->p;
        r->p += da->len;
    }
    return true;
}

static bool dec_custom(dec *d, wasm_reader *r)
{
    /* only the name is checked; the payload is ignored */
    if (!rd_name(d, r, NULL, NULL))
        return false;
    r->p = r->end;
    return true;
}

/* Position of each non-custom section in the required order. */
static int section_rank(uint8_t id)
{
    switch (id) {
    case SEC_DATACOUNT:
        return 10;
    case SEC_CODE:
        return 11;
    case SEC_DATA:
        return 12;
    default:
        return id; /* 1..9 */
    }
}

static bool dec_section(dec *d, uint8_t id, wasm_reader *r)
{
    switch (id) {
    case SEC_CUSTOM:
        return dec_custom(d, r);
    case SEC_TYPE:
        return dec_types(d, r);
    case SEC_IMPORT:
        return dec_imports(d, r);
    case SEC_FUNCTION:
        return dec_functions(d, r);
    case SEC_TABLE:
        return dec_tables(d, r);
    case SEC_MEMORY:
        return dec_memories(d, r);
    case SEC_GLOBAL:
        return dec_globals(d, r);
    case SEC_EXPORT:
        return dec_exports(d, r);
    case SEC_START:
        return dec_start(d, r);
    case SEC_ELEMENT:
        return dec_elems(d, r);
    case SEC_CODE:
        return dec_code(d, r);
    case SEC_DATA:
        return dec_datas(d, r);
    case SEC_DATACOUNT:
        return dec_datacount(d, r);
    }
    return false;
}

/* ---- derived tables --------------------------------------------------- */

static uint64_t type_hash(const wasm_functype *t)
{
    uint64_t h = 1469598103934665603ull;
    h = (h ^ t->nparams) * 1099511628211ull;
    h = (h ^ t->nresults) * 1099511628211ull;
    for (size_t i = 0; i < (size_t)t->nparams + t->nresults; i++)
        h = (h ^ t->types[i]) * 1099511628211ull;
    return h;
}

/* type_canon by hashing, so many types stay linear rather than quadratic. */
static bool build_type_canon(dec *d)
{
    wasm_module *m = d->m;
    if (m->ntypes == 0)
        return true;
    if (!(m->type_canon = malloc((size_t)m->ntypes * sizeof *m->type_canon)))
        return nomem(d);
    size_t cap = 16;
    while (cap < (size_t)m->ntypes * 2)
        cap *= 2;
    uint32_t *slots = malloc(cap * sizeof *slots);
    if (!slots)
        return nomem(d);
    memset(slots, 0xff, cap * sizeof *slots); /* UINT32_MAX = empty */
    for (uint32_t i = 0; i < m->ntypes; i++) {
        size_t h = (size_t)type_hash(&m->types[i]) & (cap - 1);
        for (;;) {
            uint32_t j = slots[h];
            if (j == UINT32_MAX) {
                slots[h] = i;
                m->type_canon[i] = i;
                break;
            }
            if (wasm_functype_equal(&m->types[j], &m->types[i])) {
                m->type_canon[i] = j;
                break;
            }
            h = (h + 1) & (cap - 1);
        }
    }
    free(slots);
    return true;
}

static void declare(wasm_module *m, const wasm_constexpr *ce)
{
    if (ce->op == 0xd2 && ce->index < m->nfuncs)
        m->func_declared[ce->index] = 1;
}

static bool build_func_declared(dec *d)
{
    wasm_module *m = d->m;
    if (!(m->func_declared = calloc(m->nfuncs ? m->nfuncs : 1, 1)))
        return nomem(d);
    for (uint32_t i = 0; i < m->nexports; i++)
        if (m->exports[i].kind == WASM_EXTERN_FUNC && m->exports[i].index < m->nfuncs)
            m->func_declared[m->exports[i].index] = 1;
    for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++)
        declare(m, &m->globals[i].init);
    for (uint32_t i = 0; i < m->nelems; i++)
        for (uint32_t k = 0; k < m->elems[i].count; k++)
            declare(m, &m->elems[i].items[k]);
    return true;
}

/* ---- the module ------------------------------------------------------- */

static bool decode_module(dec *d, wasm_reader *r)
{
    wasm_module *m = d->m;
    static const uint8_t magic[4] = {0x00, 0x61, 0x73, 0x6d};
    static const uint8_t version[4] = {0x01, 0x00, 0x00, 0x00};
    if (left(r) < 4)
        return eof_at(d, r->p);
    if (memcmp(r->p, magic, 4) != 0)
        return malformed_at(d, r->p, "magic header not detected");
    r->p += 4;
    if (left(r) < 4)
        return eof_at(d, r->p);
    if (memcmp(r->p, version, 4) != 0)
        return malformed_at(d, r->p, "unknown binary version");
    r->p += 4;

    int last = 0;
    while (!wasm_rd_eof(r)) {
        const uint8_t *s = r->p;
        uint8_t id;
        uint32_t size;
        if (!rd_byte(d, r, &id))
            return false;
        if (id > SEC_DATACOUNT)
            return malformed_at(d, s, "malformed section id");
        if (!rd_u32(d, r, &size))
            return false;
        if (size > left(r))
            return malformed_at(d, r->p - 1, "length out of bounds");
        if (id != SEC_CUSTOM) {
            int rank = section_rank(id);
            if (rank <= last)
                return malformed_at(d, s, "unexpected content after last section");
            last = rank;
        }
        wasm_reader sec = wasm_rd_init(r->base, r->p, r->p + size);
        r->p += size;
        d->in_section = true;
        if (!dec_section(d, id, &sec))
            return false;
        if (!wasm_rd_eof(&sec))
            return malformed_at(d, sec.p, "section size mismatch");
        d->in_section = false;
    }

    if (!d->has_code && d->nfuncdefs != 0)
        return malformed_at(d, r->p, "function and code section have inconsistent lengths");
    if (m->has_data_count && m->ndatas != m->data_count)
        return malformed_at(d, r->p, "data count and data section have inconsistent lengths");
    return build_type_canon(d) && build_func_declared(d);
}

bool wasm_decode(wasm_module *m, const uint8_t *bytes, size_t len, wasm_error *err)
{
    memset(m, 0, sizeof *m);
    /* decode our own copy: bodies and data segments point into it */
    m->bytes = malloc(len ? len : 1);
    if (!m->bytes)
        return wasm_fail(err, WASM_ERR_NOMEM, 0, "out of memory");
    if (len)
        memcpy(m->bytes, bytes, len);
    m->len = len;
    dec d = {.m = m, .err = err, .base = m->bytes};
    wasm_reader r = wasm_rd_init(m->bytes, m->bytes, m->bytes + len);
    if (!decode_module(&d, &r)) {
        wasm_module_clear(m);
        return false;
    }
    return true;
}
