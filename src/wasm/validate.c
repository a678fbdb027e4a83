/*
 * validate.c — the typing rules of WebAssembly 2.0 (without SIMD).
 *
 * Module-level rules first, then each function body in one pass with the
 * spec's algorithm (appendix "Validation Algorithm"): an operand stack of value
 * types, where 0 stands for the unknown type that only unreachable code
 * produces, and a stack of control frames. Both stacks are heap vectors reused
 * for every function, so deep nesting costs memory under a cap, never C stack.
 *
 * The decoder only delimits bodies; their instructions are decoded here, so
 * malformed instructions are found here too. The reference interpreter decodes
 * the whole binary before it validates anything, so a module that is both
 * malformed and invalid counts as malformed: after the first validation error
 * we rescan every body in decode-only mode and prefer a malformation if there
 * is one. That second pass only runs on modules that are rejected anyway.
 *
 * compile.c trusts this verdict: every index an instruction names is checked
 * against its index space before anything looks it up.
 */
#include <stdlib.h>
#include <string.h>

#include "module.h"
#include "reader.h"

#define VT_UNKNOWN 0

/* Caps on the validator's own stacks. Real code stays far below them; they
 * keep a hostile body from making us allocate without bound. */
#define MAX_VALS  (1u << 22)
#define MAX_CTRLS (1u << 20)

/* ---- instructions ------------------------------------------------------ */

/* What follows an opcode in the binary. */
enum {
    IMM_ILLEGAL = 0, /* not an opcode of WebAssembly 2.0 without SIMD */
    IMM_NONE,
    IMM_BLOCK,    /* block type */
    IMM_IDX,      /* one u32 index */
    IMM_IDX2,     /* two u32 indices */
    IMM_BRTABLE,  /* vec(labelidx) labelidx */
    IMM_SELECT,   /* vec(valtype) */
    IMM_MEMARG,   /* align u32, offset u32 */
    IMM_ZERO,     /* one reserved 0x00 byte */
    IMM_ZERO2,    /* two reserved 0x00 bytes */
    IMM_IDX_ZERO, /* u32 index, then a reserved 0x00 byte */
    IMM_I32,
    IMM_I64,
    IMM_F32,
    IMM_F64,
    IMM_REFTYPE,
    IMM_PREFIX, /* 0xfc: u32 sub-opcode */
};

static const uint8_t imm_kind[256] = {
    [0x00] = IMM_NONE,          [0x01] = IMM_NONE,         [0x02 ... 0x04] = IMM_BLOCK,
    [0x05] = IMM_NONE,          [0x0b] = IMM_NONE,         [0x0c ... 0x0d] = IMM_IDX,
    [0x0e] = IMM_BRTABLE,       [0x0f] = IMM_NONE,         [0x10] = IMM_IDX,
    [0x11] = IMM_IDX2,          [0x1a] = IMM_NONE,         [0x1b] = IMM_NONE,
    [0x1c] = IMM_SELECT,        [0x20 ... 0x26] = IMM_IDX, [0x28 ... 0x3e] = IMM_MEMARG,
    [0x3f ... 0x40] = IMM_ZERO, [0x41] = IMM_I32,          [0x42] = IMM_I64,
    [0x43] = IMM_F32,           [0x44] = IMM_F64,          [0x45 ... 0xc4] = IMM_NONE,
    [0xd0] = IMM_REFTYPE,       [0xd1] = IMM_NONE,         [0xd2] = IMM_IDX,
    [0xfc] = IMM_PREFIX,
};

#define FC_MAX 17
static const uint8_t fc_imm_kind[FC_MAX + 1] = {
    [0 ... 7] = IMM_NONE,  /* saturating truncations */
    [8] = IMM_IDX_ZERO,    /* memory.init */
    [9] = IMM_IDX,         /* data.drop */
    [10] = IMM_ZERO2,      /* memory.copy */
    [11] = IMM_ZERO,       /* memory.fill */
    [12] = IMM_IDX2,       /* table.init */
    [13] = IMM_IDX,        /* elem.drop */
    [14] = IMM_IDX2,       /* table.copy */
    [15 ... 17] = IMM_IDX, /* table.grow, table.size, table.fill */
};

#define I32 WASM_I32
#define I64 WASM_I64
#define F32 WASM_F32
#define F64 WASM_F64

/* Fixed signatures {first operand, second operand, result}, 0 = none: numeric
 * ops, loads (address -> value) and stores (address, value -> nothing). */
static const uint8_t sig[256][3] = {
    [0x28] = {I32, 0, I32},
    [0x29] = {I32, 0, I64},
    [0x2a] = {I32, 0, F32},
    [0x2b] = {I32, 0, F64},
    [0x2c ... 0x2f] = {I32, 0, I32},
    [0x30 ... 0x35] = {I32, 0, I64},
    [0x36] = {I32, I32, 0},
    [0x37] = {I32, I64, 0},
    [0x38] = {I32, F32, 0},
    [0x39] = {I32, F64, 0},
    [0x3a ... 0x3b] = {I32, I32, 0},
    [0x3c ... 0x3e] = {I32, I64, 0},
    [0x45] = {I32, 0, I32},
    [0x46 ... 0x4f] = {I32, I32, I32},
    [0x50] = {I64, 0, I32},
    [0x51 ... 0x5a] = {I64, I64, I32},
    [0x5b ... 0x60] = {F32, F32, I32},
    [0x61 ... 0x66] = {F64, F64, I32},
    [0x67 ... 0x69] = {I32, 0, I32},
    [0x6a ... 0x78] = {I32, I32, I32},
    [0x79 ... 0x7b] = {I64, 0, I64},
    [0x7c ... 0x8a] = {I64, I64, I64},
    [0x8b ... 0x91] = {F32, 0, F32},
    [0x92 ... 0x98] = {F32, F32, F32},
    [0x99 ... 0x9f] = {F64, 0, F64},
    [0xa0 ... 0xa6] = {F64, F64, F64},
    [0xa7] = {I64, 0, I32},
    [0xa8 ... 0xa9] = {F32, 0, I32},
    [0xaa ... 0xab] = {F64, 0, I32},
    [0xac ... 0xad] = {I32, 0, I64},
    [0xae ... 0xaf] = {F32, 0, I64},
    [0xb0 ... 0xb1] = {F64, 0, I64},
    [0xb2 ... 0xb3] = {I32, 0, F32},
    [0xb4 ... 0xb5] = {I64, 0, F32},
    [0xb6] = {F64, 0, F32},
    [0xb7 ... 0xb8] = {I32, 0, F64},
    [0xb9 ... 0xba] = {I64, 0, F64},
    [0xbb] = {F32, 0, F64},
    [0xbc] = {F32, 0, I32},
    [0xbd] = {F64, 0, I64},
    [0xbe] = {I32, 0, F32},
    [0xbf] = {I64, 0, F64},
    [0xc0 ... 0xc1] = {I32, 0, I32},
    [0xc2 ... 0xc4] = {I64, 0, I64},
};

/* The saturating truncations, 0xfc 0..7. */
static const uint8_t sat_sig[8][2] = {
    {F32, I32}, {F32, I32}, {F64, I32}, {F64, I32}, {F32, I64}, {F32, I64}, {F64, I64}, {F64, I64},
};

/* log2 of the access width of loads and stores 0x28..0x3e: the largest alignment allowed. */
static const uint8_t natural_align[0x3e - 0x28 + 1] = {
    2, 3, 2, 3, 0, 0, 1, 1, 0, 0, 1, 1, 2, 2, /* loads */
    2, 3, 2, 3, 0, 1, 0, 1, 2,                /* stores */
};

/* Opcode of a 0xfc instruction in instr.op. */
#define FC(sub) (0xfc00u | (sub))

enum { BT_EMPTY, BT_SINGLE, BT_INDEX };

/* One decoded instruction. */
typedef struct instr {
    uint32_t op;        /* opcode byte, or FC(sub-opcode) */
    uint32_t a, b;      /* immediates: indices, memarg align/offset, count */
    uint8_t bt;         /* block type kind; a = value type or type index */
    const uint8_t *tbl; /* br_table: first target (a targets, b = default) */
} instr;

static bool is_valtype(uint8_t t)
{
    return t == I32 || t == I64 || t == F32 || t == F64 || t == WASM_FUNCREF || t == WASM_EXTERNREF;
}

static bool is_reftype(uint8_t t)
{
    return t == WASM_FUNCREF || t == WASM_EXTERNREF;
}

/* A function type's result types (types may be NULL when there are none). */
static const uint8_t *results_of(const wasm_functype *ft)
{
    return ft->types ? ft->types + ft->nparams : NULL;
}

/* Storage for single-value block types, so every label type is a pointer. */
static const uint8_t single_types[6] = {I32, I64, F32, F64, WASM_FUNCREF, WASM_EXTERNREF};

static const uint8_t *single(uint8_t t)
{
    return memchr(single_types, t, sizeof single_types);
}

static const char *type_name(uint8_t t)
{
    return t == VT_UNKNOWN ? "unknown" : wasm_valtype_name((wasm_valtype)t);
}

/* A LEB128 at `start` failed to read: say why, like the reference interpreter. */
static bool bad_leb(wasm_error *err, const wasm_reader *start, unsigned bits)
{
    unsigned maxbytes = (bits + 6) / 7;
    const uint8_t *p = start->p;
    for (unsigned i = 0; i < maxbytes; i++, p++) {
        if (p >= start->end)
            return wasm_fail(err, WASM_ERR_MALFORMED, wasm_rd_offset(start), "unexpected end");
        if (!(*p & 0x80))
            return wasm_fail(err, WASM_ERR_MALFORMED, wasm_rd_offset(start), "integer too large");
    }
    return wasm_fail(err, WASM_ERR_MALFORMED, wasm_rd_offset(start),
                     "integer representation too long");
}

static bool rd_u32(wasm_reader *r, uint32_t *out, wasm_error *err)
{
    wasm_reader start = *r;
    return wasm_rd_u32(r, out) || bad_leb(err, &start, 32);
}

static bool rd_zero(wasm_reader *r, wasm_error *err)
{
    size_t at = wasm_rd_offset(r);
    uint8_t b;
    if (!wasm_rd_u8(r, &b))
        return wasm_fail(err, WASM_ERR_MALFORMED, at, "unexpected end");
    if (b != 0)
        return wasm_fail(err, WASM_ERR_MALFORMED, at, "zero byte expected");
    return true;
}

/* Decodes the instruction at r (not at its end). Errors are MALFORMED only. */
static bool decode_instr(wasm_reader *r, instr *in, wasm_error *err)
{
    size_t at = wasm_rd_offset(r);
    uint8_t op = 0, t;
    wasm_reader start;
    wasm_rd_u8(r, &op);
    in->op = op;
    unsigned kind = imm_kind[op];
    if (kind == IMM_PREFIX) {
        uint32_t sub;
        if (!rd_u32(r, &sub, err))
            return false;
        if (sub > FC_MAX)
            return wasm_fail(err, WASM_ERR_MALFORMED, at, "illegal opcode 0xfc %u", sub);
        in->op = FC(sub);
        kind = fc_imm_kind[sub];
    }
    switch (kind) {
    case IMM_ILLEGAL:
        return wasm_fail(err, WASM_ERR_MALFORMED, at, "illegal opcode 0x%02x", op);
    case IMM_NONE:
        return true;
    case IMM_BLOCK:
        if (wasm_rd_eof(r))
            return wasm_fail(err, WASM_ERR_MALFORMED, at, "unexpected end");
        t = *r->p;
        if (t == 0x40) {
            r->p++;
            in->bt = BT_EMPTY;
        } else if (is_valtype(t)) {
            r->p++;
            in->bt = BT_SINGLE;
            in->a = t;
        } else {
            /* a type index, as a positive s33 */
            int64_t v;
            start = *r;
            if (!wasm_rd_sleb(r, 33, &v))
                return bad_leb(err, &start, 33);
            if (v < 0)
                return wasm_fail(err, WASM_ERR_MALFORMED, wasm_rd_offset(&start),
                                 "malformed block type");
            in->bt = BT_INDEX;
            in->a = (uint32_t)v;
        }
        return true;
    case IMM_IDX:
        return rd_u32(r, &in->a, err);
    case IMM_IDX2:
        return rd_u32(r, &in->a, err) && rd_u32(r, &in->b, err);
    case IMM_IDX_ZERO:
        return rd_u32(r, &in->a, err) && rd_zero(r, err);
    case IMM_ZERO2:
        return rd_zero(r, err) && rd_zero(r, err);
    case IMM_ZERO:
        return rd_zero(r, err);
    case IMM_BRTABLE:
        if (!rd_u32(r, &in->a, err))
            return false;
        in->tbl = r->p;
        /* each target takes at least one byte, so this loop is bounded by the body */
        for (uint32_t i = 0; i < in->a; i++) {
            uint32_t l;
            if (!rd_u32(r, &l, err))
                return false;
        }
        return rd_u32(r, &in->b, err);
    case IMM_SELECT:
        if (!rd_u32(r, &in->a, err))
            return false;
        in->b = 0;
        for (uint32_t i = 0; i < in->a; i++) {
            size_t tat = wasm_rd_offset(r);
            if (!wasm_rd_u8(r, &t))
                return wasm_fail(err, WASM_ERR_MALFORMED, tat, "unexpected end");
            if (!is_valtype(t))
                return wasm_fail(err, WASM_ERR_MALFORMED, tat, "malformed value type");
            if (i == 0)
                in->b = t;
        }
        return true;
    case IMM_MEMARG:
        return rd_u32(r, &in->a, err) && rd_u32(r, &in->b, err);
    case IMM_I32: {
        int32_t v;
        start = *r;
        return wasm_rd_i32(r, &v) || bad_leb(err, &start, 32);
    }
    case IMM_I64: {
        int64_t v;
        start = *r;
        return wasm_rd_i64(r, &v) || bad_leb(err, &start, 64);
    }
    case IMM_F32:
    case IMM_F64: {
        const uint8_t *bytes;
        if (!wasm_rd_bytes(r, kind == IMM_F32 ? 4 : 8, &bytes))
            return wasm_fail(err, WASM_ERR_MALFORMED, wasm_rd_offset(r), "unexpected end");
        return true;
    }
    case IMM_REFTYPE: {
        size_t tat = wasm_rd_offset(r);
        if (!wasm_rd_u8(r, &t))
            return wasm_fail(err, WASM_ERR_MALFORMED, tat, "unexpected end");
        if (!is_reftype(t))
            return wasm_fail(err, WASM_ERR_MALFORMED, tat, "malformed reference type");
        in->a = t;
        return true;
    }
    }
    return wasm_fail(err, WASM_ERR_MALFORMED, at, "illegal opcode 0x%02x", op);
}

/* ---- the validator's state --------------------------------------------- */

typedef struct vframe {
    const uint8_t *params; /* block parameter types */
    const uint8_t *results;
    uint32_t nparams, nresults;
    uint32_t height; /* operand stack height below the parameters */
    uint8_t op;      /* 0 function, 0x02 block, 0x03 loop, 0x04 if, 0x05 else */
    bool unreachable;
} vframe;

typedef struct vctx {
    const wasm_module *m;
    wasm_error *err;
    size_t at; /* offset of the current instruction, for messages */
    uint8_t *vals;
    uint32_t nvals, capvals;
    vframe *ctrls;
    uint32_t nctrls, capctrls;
} vctx;

#define INVALID(v, ...)   wasm_fail((v)->err, WASM_ERR_INVALID, (v)->at, __VA_ARGS__)
#define MALFORMED(v, ...) wasm_fail((v)->err, WASM_ERR_MALFORMED, (v)->at, __VA_ARGS__)

/* Makes room for n more operand types. */
static bool reserve_vals(vctx *v, uint32_t n)
{
    if (n <= v->capvals - v->nvals)
        return true;
    if (n > MAX_VALS - v->nvals)
        return wasm_fail(v->err, WASM_ERR_LIMIT, v->at,
                         "function too complex: more than %u values on the operand stack",
                         MAX_VALS);
    uint32_t cap = v->capvals ? v->capvals : 256;
    while (cap - v->nvals < n)
        cap = cap > MAX_VALS / 2 ? MAX_VALS : cap * 2;
    uint8_t *p = realloc(v->vals, cap);
    if (!p)
        return wasm_fail(v->err, WASM_ERR_NOMEM, v->at, "out of memory");
    v->vals = p;
    v->capvals = cap;
    return true;
}

static inline bool push(vctx *v, uint8_t t)
{
    if (v->nvals == v->capvals && !reserve_vals(v, 1))
        return false;
    v->vals[v->nvals++] = t;
    return true;
}

static bool push_vals(vctx *v, const uint8_t *types, uint32_t n)
{
    if (!reserve_vals(v, n))
        return false;
    if (n)
        memcpy(v->vals + v->nvals, types, n);
    v->nvals += n;
    return true;
}

static bool mismatch(vctx *v, uint8_t want, bool empty, uint8_t got)
{
    if (empty)
        return INVALID(v, "type mismatch: expected %s but the stack is empty", type_name(want));
    return INVALID(v, "type mismatch: expected %s, got %s", type_name(want), type_name(got));
}

/* Pops any operand into *out (VT_UNKNOWN below an unreachable frame's base). */
static inline bool pop_any(vctx *v, uint8_t *out)
{
    vframe *f = &v->ctrls[v->nctrls - 1];
    if (v->nvals == f->height) {
        if (!f->unreachable)
            return INVALID(v, "type mismatch: expected a value but the stack is empty");
        *out = VT_UNKNOWN;
        return true;
    }
    *out = v->vals[--v->nvals];
    return true;
}

/* Pops an operand that must have type want (or be unknown). */
static inline bool pop_expect(vctx *v, uint8_t want)
{
    vframe *f = &v->ctrls[v->nctrls - 1];
    if (v->nvals == f->height) {
        if (!f->unreachable)
            return mismatch(v, want, true, 0);
        return true;
    }
    uint8_t got = v->vals[--v->nvals];
    if (got != want && got != VT_UNKNOWN && want != VT_UNKNOWN)
        return mismatch(v, want, false, got);
    return true;
}

static bool pop_vals(vctx *v, const uint8_t *types, uint32_t n)
{
    for (uint32_t i = n; i-- > 0;)
        if (!pop_expect(v, types[i]))
            return false;
    return true;
}

/* Checks that the top n operands match types without popping them. Equivalent
 * to the spec's push_vals(pop_vals(types)): popping below an unreachable
 * frame's base yields unknowns, and pushing them back changes nothing later
 * checks can see. */
static bool peek_vals(vctx *v, const uint8_t *types, uint32_t n)
{
    const vframe *f = &v->ctrls[v->nctrls - 1];
    uint32_t avail = v->nvals - f->height;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t want = types[n - 1 - i];
        if (i >= avail) {
            if (!f->unreachable)
                return mismatch(v, want, true, 0);
            break; /* everything further down is unknown */
        }
        uint8_t got = v->vals[v->nvals - 1 - i];
        if (got != want && got != VT_UNKNOWN && want != VT_UNKNOWN)
            return mismatch(v, want, false, got);
    }
    return true;
}

static bool push_ctrl(vctx *v, uint8_t op, const uint8_t *params, uint32_t np,
                      const uint8_t *results, uint32_t nr)
{
    if (v->nctrls == v->capctrls) {
        if (v->nctrls >= MAX_CTRLS)
            return wasm_fail(v->err, WASM_ERR_LIMIT, v->at,
                             "function too complex: blocks nested more than %u deep", MAX_CTRLS);
        uint32_t cap = v->capctrls ? v->capctrls * 2 : 64;
        if (cap > MAX_CTRLS)
            cap = MAX_CTRLS;
        vframe *p = realloc(v->ctrls, (size_t)cap * sizeof *p);
        if (!p)
            return wasm_fail(v->err, WASM_ERR_NOMEM, v->at, "out of memory");
        v->ctrls = p;
        v->capctrls = cap;
    }
    vframe *f = &v->ctrls[v->nctrls++];
    f->op = op;
    f->params = params;
    f->nparams = np;
    f->results = results;
    f->nresults = nr;
    f->height = v->nvals;
    f->unreachable = false;
    return push_vals(v, params, np);
}

static void set_unreachable(vctx *v)
{
    vframe *f = &v->ctrls[v->nctrls - 1];
    v->nvals = f->height;
    f->unreachable = true;
}

/* The types a branch to label l carries: a loop's parameters, else its results. */
static void label_types(const vframe *f, const uint8_t **types, uint32_t *n)
{
    if (f->op == 0x03) {
        *types = f->params;
        *n = f->nparams;
    } else {
        *types = f->results;
        *n = f->nresults;
    }
}

static bool check_label(vctx *v, uint32_t l, const vframe **out)
{
    if (l >= v->nctrls)
        return INVALID(v, "unknown label %u", l);
    *out = &v->ctrls[v->nctrls - 1 - l];
    return true;
}

static bool check_mem(vctx *v)
{
    return v->m->nmems > 0 || INVALID(v, "unknown memory 0");
}

static bool check_table(vctx *v, uint32_t x)
{
    return x < v->m->ntables || INVALID(v, "unknown table %u", x);
}

/* memory.init and data.drop need the data count section (a rule of the binary
 * format, so a MALFORMED error). Without one, the segment index is checked
 * against the data section first: an instruction that names a segment or
 * memory that does not exist is INVALID whatever the encoding, which is what
 * text-format tests converted to binary expect. */
static bool check_data(vctx *v, const instr *in)
{
    const wasm_module *m = v->m;
    if (in->op == FC(8) && !check_mem(v))
        return false;
    if (in->a >= (m->has_data_count ? m->data_count : m->ndatas))
        return INVALID(v, "unknown data segment %u", in->a);
    if (!m->has_data_count)
        return MALFORMED(v, "data count section required");
    return true;
}

/* Resolves a block type to its parameter and result types. */
static bool block_type(vctx *v, const instr *in, const uint8_t **params, uint32_t *np,
                       const uint8_t **results, uint32_t *nr)
{
    *params = *results = NULL;
    *np = *nr = 0;
    if (in->bt == BT_SINGLE) {
        *results = single((uint8_t)in->a);
        *nr = 1;
    } else if (in->bt == BT_INDEX) {
        if (in->a >= v->m->ntypes)
            return INVALID(v, "unknown type %u", in->a);
        const wasm_functype *ft = &v->m->types[in->a];
        *params = ft->types;
        *np = ft->nparams;
        *results = results_of(ft);
        *nr = ft->nresults;
    }
    return true;
}

static bool call_type(vctx *v, const wasm_functype *ft)
{
    return pop_vals(v, ft->types, ft->nparams) && push_vals(v, results_of(ft), ft->nresults);
}

static bool check_br_table(vctx *v, const instr *in)
{
    const vframe *f = NULL;
    const uint8_t *dtypes, *types;
    uint32_t arity, n;
    wasm_reader r = wasm_rd_init(v->m->bytes, in->tbl, v->m->bytes + v->m->len);
    if (!check_label(v, in->b, &f))
        return false;
    label_types(f, &dtypes, &arity);
    if (!pop_expect(v, I32))
        return false;
    for (uint32_t i = 0; i < in->a; i++) {
        uint32_t l = 0;
        wasm_rd_u32(&r, &l); /* decode_instr read these already */
        if (!check_label(v, l, &f))
            return false;
        label_types(f, &types, &n);
        if (n != arity)
            return INVALID(v, "type mismatch: br_table targets have different arities (%u, %u)", n,
                           arity);
        if (!peek_vals(v, types, n))
            return false;
    }
    if (!pop_vals(v, dtypes, arity))
        return false;
    set_unreachable(v);
    return true;
}

static bool table_elem(vctx *v, uint32_t x, uint8_t *t)
{
    if (!check_table(v, x))
        return false;
    *t = v->m->tables[x].elem;
    return true;
}

/* ---- function bodies ---------------------------------------------------- */

/* Typing of one instruction other than the structured ones. */
static bool check_instr(vctx *v, const instr *in, const wasm_functype *ft, const wasm_funcdef *fd)
{
    const wasm_module *m = v->m;
    const vframe *f = NULL;
    const uint8_t *types;
    uint32_t n;
    uint8_t t = 0, t2 = 0;

    switch (in->op) {
    case 0x00: /* unreachable */
        set_unreachable(v);
        return true;
    case 0x01: /* nop */
        return true;
    case 0x0c: /* br */
        if (!check_label(v, in->a, &f))
            return false;
        label_types(f, &types, &n);
        if (!pop_vals(v, types, n))
            return false;
        set_unreachable(v);
        return true;
    case 0x0d: /* br_if */
        if (!check_label(v, in->a, &f))
            return false;
        label_types(f, &types, &n);
        return pop_expect(v, I32) && pop_vals(v, types, n) && push_vals(v, types, n);
    case 0x0e:
        return check_br_table(v, in);
    case 0x0f: /* return */
        if (!pop_vals(v, results_of(ft), ft->nresults))
            return false;
        set_unreachable(v);
        return true;
    case 0x10: /* call */
        if (in->a >= m->nfuncs)
            return INVALID(v, "unknown function %u", in->a);
        return call_type(v, &m->types[m->funcs[in->a].type]);
    case 0x11: /* call_indirect typeidx tableidx */
        if (!table_elem(v, in->b, &t))
            return false;
        if (in->a >= m->ntypes)
            return INVALID(v, "unknown type %u", in->a);
        if (t != WASM_FUNCREF)
            return INVALID(v, "type mismatch: call_indirect needs a funcref table");
        return pop_expect(v, I32) && call_type(v, &m->types[in->a]);
    case 0x1a: /* drop */
        return pop_any(v, &t);
    case 0x1b: /* select: numeric operands only */
        if (!pop_expect(v, I32) || !pop_any(v, &t) || !pop_any(v, &t2))
            return false;
        if (is_reftype(t) || is_reftype(t2))
            return INVALID(v, "type mismatch: select without a type needs numeric operands");
        if (t != t2 && t != VT_UNKNOWN && t2 != VT_UNKNOWN)
            return mismatch(v, t2, false, t);
        return push(v, t != VT_UNKNOWN ? t : t2);
    case 0x1c: /* select t* */
        if (in->a != 1)
            return INVALID(v, "invalid result arity %u for select", in->a);
        t = (uint8_t)in->b;
        return pop_expect(v, I32) && pop_expect(v, t) && pop_expect(v, t) && push(v, t);
    case 0x20: /* local.get */
    case 0x21: /* local.set */
    case 0x22: /* local.tee */
        if (in->a < ft->nparams)
            t = ft->types[in->a];
        else if (in->a - ft->nparams < fd->nlocals)
            t = fd->local_types[in->a - ft->nparams];
        else
            return INVALID(v, "unknown local %u", in->a);
        if (in->op == 0x20)
            return push(v, t);
        if (!pop_expect(v, t))
            return false;
        return in->op == 0x21 || push(v, t);
    case 0x23: /* global.get */
    case 0x24: /* global.set */
        if (in->a >= m->nglobals)
            return INVALID(v, "unknown global %u", in->a);
        t = m->globals[in->a].type.type;
        if (in->op == 0x23)
            return push(v, t);
        if (!m->globals[in->a].type.mut)
            return INVALID(v, "global is immutable: global %u", in->a);
        return pop_expect(v, t);
    case 0x25: /* table.get */
        return table_elem(v, in->a, &t) && pop_expect(v, I32) && push(v, t);
    case 0x26: /* table.set */
        return table_elem(v, in->a, &t) && pop_expect(v, t) && pop_expect(v, I32);
    case 0x3f: /* memory.size */
        return check_mem(v) && push(v, I32);
    case 0x40: /* memory.grow */
        return check_mem(v) && pop_expect(v, I32) && push(v, I32);
    case 0x41:
        return push(v, I32);
    case 0x42:
        return push(v, I64);
    case 0x43:
        return push(v, F32);
    case 0x44:
        return push(v, F64);
    case 0xd0: /* ref.null t */
        return push(v, (uint8_t)in->a);
    case 0xd1: /* ref.is_null */
        if (!pop_any(v, &t))
            return false;
        if (t != VT_UNKNOWN && !is_reftype(t))
            return INVALID(v, "type mismatch: ref.is_null needs a reference, got %s", type_name(t));
        return push(v, I32);
    case 0xd2: /* ref.func */
        if (in->a >= m->nfuncs)
            return INVALID(v, "unknown function %u", in->a);
        if (!m->func_declared || !m->func_declared[in->a])
            return INVALID(v, "undeclared function reference %u", in->a);
        return push(v, WASM_FUNCREF);
    case FC(8): /* memory.init dataidx */
    case FC(9): /* data.drop dataidx */
        if (!check_data(v, in))
            return false;
        if (in->op == FC(9))
            return true;
        return pop_expect(v, I32) && pop_expect(v, I32) && pop_expect(v, I32);
    case FC(10): /* memory.copy */
    case FC(11): /* memory.fill */
        return check_mem(v) && pop_expect(v, I32) && pop_expect(v, I32) && pop_expect(v, I32);
    case FC(12): /* table.init elemidx tableidx */
        if (!table_elem(v, in->b, &t))
            return false;
        if (in->a >= m->nelems)
            return INVALID(v, "unknown elem segment %u", in->a);
        if (m->elems[in->a].type != t)
            return INVALID(v, "type mismatch: elem segment %u is %s, table %u is %s", in->a,
                           type_name(m->elems[in->a].type), in->b, type_name(t));
        return pop_expect(v, I32) && pop_expect(v, I32) && pop_expect(v, I32);
    case FC(13): /* elem.drop */
        if (in->a >= m->nelems)
            return INVALID(v, "unknown elem segment %u", in->a);
        return true;
    case FC(14): /* table.copy dst src */
        if (!table_elem(v, in->a, &t) || !table_elem(v, in->b, &t2))
            return false;
        if (t != t2)
            return INVALID(v, "type mismatch: table.copy from %s to %s", type_name(t2),
                           type_name(t));
        return pop_expect(v, I32) && pop_expect(v, I32) && pop_expect(v, I32);
    case FC(15): /* table.grow */
        return table_elem(v, in->a, &t) && pop_expect(v, I32) && pop_expect(v, t) && push(v, I32);
    case FC(16): /* table.size */
        return check_table(v, in->a) && push(v, I32);
    case FC(17): /* table.fill */
        return table_elem(v, in->a, &t) && pop_expect(v, I32) && pop_expect(v, t) &&
               pop_expect(v, I32);
    }

    if (in->op <= FC(7) && in->op >= FC(0)) {
        const uint8_t *s = sat_sig[in->op - FC(0)];
        return pop_expect(v, s[0]) && push(v, s[1]);
    }
    if (in->op > 0xff)
        return MALFORMED(v, "illegal opcode"); /* not reached: decode_instr filters */
    if (in->op >= 0x28 && in->op <= 0x3e) {
        if (!check_mem(v))
            return false;
        if (in->a > natural_align[in->op - 0x28])
            return INVALID(v, "alignment must not be larger than natural");
    }
    const uint8_t *s = sig[in->op];
    if (!s[0])
        return MALFORMED(v, "illegal opcode 0x%02x", in->op); /* not reached */
    if (s[1] && !pop_expect(v, s[1]))
        return false;
    if (!pop_expect(v, s[0]))
        return false;
    return !s[2] || push(v, s[2]);
}

/* The body ran out before its final end. Word it as the reference interpreter
 * does when the body is the last thing in the binary. */
static bool missing_end(vctx *v, const wasm_funcdef *fd)
{
    if (fd->end == v->m->bytes + v->m->len)
        return MALFORMED(v, "unexpected end of section or function: END opcode expected");
    return MALFORMED(v, "END opcode expected");
}

static bool check_body(vctx *v, const wasm_funcdef *fd)
{
    const wasm_module *m = v->m;
    const wasm_functype *ft = &m->types[fd->type];
    wasm_reader r = wasm_rd_init(m->bytes, fd->body, fd->end);
    instr in;
    const uint8_t *params, *results;
    uint32_t np, nr;

    v->nvals = 0;
    v->nctrls = 0;
    v->at = fd->body_offset;
    if (!push_ctrl(v, 0, NULL, 0, results_of(ft), ft->nresults))
        return false;
    while (v->nctrls > 0) {
        v->at = wasm_rd_offset(&r);
        if (wasm_rd_eof(&r))
            return missing_end(v, fd);
        if (!decode_instr(&r, &in, v->err))
            return false;
        vframe *f = &v->ctrls[v->nctrls - 1];
        switch (in.op) {
        case 0x02: /* block */
        case 0x03: /* loop */
        case 0x04: /* if */
            if (!block_type(v, &in, &params, &np, &results, &nr))
                return false;
            if (in.op == 0x04 && !pop_expect(v, I32))
                return false;
            if (!pop_vals(v, params, np) || !push_ctrl(v, (uint8_t)in.op, params, np, results, nr))
                return false;
            break;
        case 0x05: /* else */
            if (f->op != 0x04)
                return MALFORMED(v, "END opcode expected: else without if");
            if (!pop_vals(v, f->results, f->nresults))
                return false;
            if (v->nvals != f->height)
                return INVALID(v, "type mismatch: %u extra value(s) at the end of the if branch",
                               v->nvals - f->height);
            f->op = 0x05;
            f->unreachable = false;
            if (!push_vals(v, f->params, f->nparams))
                return false;
            break;
        case 0x0b: /* end */
            if (!pop_vals(v, f->results, f->nresults))
                return false;
            if (v->nvals != f->height)
                return INVALID(v, "type mismatch: %u extra value(s) at the end of the block",
                               v->nvals - f->height);
            /* without else, the parameters pass straight through to the results */
            if (f->op == 0x04 && (f->nparams != f->nresults ||
                                  (f->nparams && memcmp(f->params, f->results, f->nparams))))
                return INVALID(v, "type mismatch: if without else must leave its parameters "
                                  "as its results");
            v->nctrls--;
            if (v->nctrls > 0 && !push_vals(v, f->results, f->nresults))
                return false;
            break;
        default:
            if (!check_instr(v, &in, ft, fd))
                return false;
        }
    }
    if (!wasm_rd_eof(&r)) {
        v->at = wasm_rd_offset(&r);
        return MALFORMED(v, "section size mismatch: operators remaining after end of function");
    }
    return true;
}

/* Decode-only walk of a body: finds malformations, ignores typing. Reuses the
 * operand vector as a stack of open block opcodes. */
static bool scan_body(vctx *v, const wasm_funcdef *fd)
{
    wasm_reader r = wasm_rd_init(v->m->bytes, fd->body, fd->end);
    instr in;
    v->nvals = 0;
    v->at = fd->body_offset;
    if (!push(v, 0))
        return false;
    while (v->nvals > 0) {
        v->at = wasm_rd_offset(&r);
        if (wasm_rd_eof(&r))
            return missing_end(v, fd);
        if (!decode_instr(&r, &in, v->err))
            return false;
        switch (in.op) {
        case 0x02:
        case 0x03:
        case 0x04:
            if (v->nvals >= MAX_CTRLS)
                return wasm_fail(v->err, WASM_ERR_LIMIT, v->at,
                                 "function too complex: blocks nested more than %u deep",
                                 MAX_CTRLS);
            if (!push(v, (uint8_t)in.op))
                return false;
            break;
        case 0x05:
            if (v->vals[v->nvals - 1] != 0x04)
                return MALFORMED(v, "END opcode expected: else without if");
            v->vals[v->nvals - 1] = 0x05;
            break;
        case 0x0b:
            v->nvals--;
            break;
        case FC(8):
        case FC(9):
            if (!check_data(v, &in) && v->err->status == WASM_ERR_MALFORMED)
                return false;
            break;
        }
    }
    if (!wasm_rd_eof(&r)) {
        v->at = wasm_rd_offset(&r);
        return MALFORMED(v, "section size mismatch: operators remaining after end of function");
    }
    return true;
}

/* ---- module-level rules ------------------------------------------------- */

/* Offset of section `id` in the binary, for errors about things the module
 * struct keeps no offset for; 0 if absent. */
static size_t section_offset(const wasm_module *m, uint8_t id)
{
    if (!m->bytes || m->len < 8)
        return 0;
    wasm_reader r = wasm_rd_init(m->bytes, m->bytes + 8, m->bytes + m->len);
    while (!wasm_rd_eof(&r)) {
        size_t at = wasm_rd_offset(&r);
        uint8_t sid;
        uint32_t size;
        const uint8_t *body;
        if (!wasm_rd_u8(&r, &sid) || !wasm_rd_u32(&r, &size) || !wasm_rd_bytes(&r, size, &body))
            return 0;
        if (sid == id)
            return at;
    }
    return 0;
}

static bool check_limits(vctx *v, const wasm_lim *lim, bool memory)
{
    if (memory && (lim->min > 65536 || (lim->has_max && lim->max > 65536)))
        return INVALID(v, "memory size must be at most 65536 pages (4GiB)");
    if (lim->has_max && lim->min > lim->max)
        return INVALID(v, "size minimum must not be greater than maximum");
    return true;
}

/* A constant expression of type want. Module-level constant expressions may
 * only read imported immutable globals (WebAssembly 2.0). */
static bool check_const(vctx *v, const wasm_constexpr *ce, uint8_t want)
{
    const wasm_module *m = v->m;
    uint8_t t;
    v->at = ce->offset;
    switch (ce->op) {
    case 0x0b:
        return INVALID(v, "type mismatch: empty constant expression, expected %s", type_name(want));
    case 0x41:
        t = I32;
        break;
    case 0x42:
        t = I64;
        break;
    case 0x43:
        t = F32;
        break;
    case 0x44:
        t = F64;
        break;
    case 0xd0:
        t = ce->reftype;
        break;
    case 0xd2:
        if (ce->index >= m->nfuncs)
            return INVALID(v, "unknown function %u", ce->index);
        t = WASM_FUNCREF;
        break;
    case 0x23:
        if (ce->index >= m->nglobal_imports || ce->index >= m->nglobals)
            return INVALID(v, "unknown global %u", ce->index);
        if (m->globals[ce->index].type.mut)
            return INVALID(v, "constant expression required: global %u is mutable", ce->index);
        t = m->globals[ce->index].type.type;
        break;
    default:
        return INVALID(v, "constant expression required");
    }
    if (t != want)
        return INVALID(v, "type mismatch: constant expression is %s, expected %s", type_name(t),
                       type_name(want));
    return true;
}

static bool check_imports(vctx *v)
{
    const wasm_module *m = v->m;
    v->at = section_offset(m, 2);
    for (uint32_t i = 0; i < m->nimports; i++) {
        const wasm_import *im = &m->imports[i];
        switch (im->kind) {
        case WASM_EXTERN_FUNC:
            if (im->desc.func_type >= m->ntypes)
                return INVALID(v, "unknown type %u", im->desc.func_type);
            break;
        case WASM_EXTERN_TABLE:
            if (!check_limits(v, &im->desc.table.lim, false))
                return false;
            break;
        case WASM_EXTERN_MEMORY:
            if (!check_limits(v, &im->desc.mem, true))
                return false;
            break;
        case WASM_EXTERN_GLOBAL:
            break;
        }
    }
    return true;
}

static bool check_funcs(vctx *v)
{
    const wasm_module *m = v->m;
    /* imported functions' types were checked with the imports, but the index
     * space is what bodies use, so check it whole */
    v->at = section_offset(v->m, 3);
    for (uint32_t i = 0; i < m->nfuncs; i++)
        if (m->funcs[i].type >= m->ntypes)
            return INVALID(v, "unknown type %u", m->funcs[i].type);
    return true;
}

static bool check_globals(vctx *v)
{
    const wasm_module *m = v->m;
    for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++)
        if (!check_const(v, &m->globals[i].init, m->globals[i].type.type))
            return false;
    return true;
}

static bool check_tables_mems(vctx *v)
{
    const wasm_module *m = v->m;
    v->at = section_offset(m, 4);
    for (uint32_t i = m->ntable_imports; i < m->ntables; i++)
        if (!check_limits(v, &m->tables[i].lim, false))
            return false;
    v->at = section_offset(m, 5);
    for (uint32_t i = m->nmem_imports; i < m->nmems; i++)
        if (!check_limits(v, &m->mems[i], true))
            return false;
    if (m->nmems > 1)
        return INVALID(v, "multiple memories");
    return true;
}

static bool check_elems(vctx *v)
{
    const wasm_module *m = v->m;
    for (uint32_t i = 0; i < m->nelems; i++) {
        const wasm_elem *e = &m->elems[i];
        v->at = e->byte_offset;
        if (!is_reftype(e->type))
            return INVALID(v, "type mismatch: element segment %u has no reference type", i);
        if (e->mode == WASM_SEG_ACTIVE) {
            if (!check_table(v, e->table))
                return false;
            if (m->tables[e->table].elem != e->type)
                return INVALID(v, "type mismatch: element segment %u is %s, table %u is %s", i,
                               type_name(e->type), e->table, type_name(m->tables[e->table].elem));
            if (!check_const(v, &e->offset, I32))
                return false;
        }
        for (uint32_t j = 0; j < e->count; j++)
            if (!check_const(v, &e->items[j], e->type))
                return false;
    }
    return true;
}

static bool check_datas(vctx *v)
{
    const wasm_module *m = v->m;
    for (uint32_t i = 0; i < m->ndatas; i++) {
        const wasm_data *d = &m->datas[i];
        v->at = d->byte_offset;
        if (d->mode != WASM_SEG_ACTIVE)
            continue;
        if (d->mem >= m->nmems)
            return INVALID(v, "unknown memory %u", d->mem);
        if (!check_const(v, &d->offset, I32))
            return false;
    }
    return true;
}

static bool check_start(vctx *v)
{
    const wasm_module *m = v->m;
    if (!m->has_start)
        return true;
    v->at = section_offset(m, 8);
    if (m->start >= m->nfuncs)
        return INVALID(v, "unknown function %u", m->start);
    const wasm_functype *ft = &m->types[m->funcs[m->start].type];
    if (ft->nparams || ft->nresults)
        return INVALID(v, "start function must have type [] -> []");
    return true;
}

typedef struct name_ref {
    const char *p;
    size_t len;
} name_ref;

static int cmp_name(const void *a, const void *b)
{
    const name_ref *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static bool check_exports(vctx *v)
{
    const wasm_module *m = v->m;
    v->at = section_offset(m, 7);
    for (uint32_t i = 0; i < m->nexports; i++) {
        const wasm_export *e = &m->exports[i];
        switch (e->kind) {
        case WASM_EXTERN_FUNC:
            if (e->index >= m->nfuncs)
                return INVALID(v, "unknown function %u", e->index);
            break;
        case WASM_EXTERN_TABLE:
            if (e->index >= m->ntables)
                return INVALID(v, "unknown table %u", e->index);
            break;
        case WASM_EXTERN_MEMORY:
            if (e->index >= m->nmems)
                return INVALID(v, "unknown memory %u", e->index);
            break;
        case WASM_EXTERN_GLOBAL:
            if (e->index >= m->nglobals)
                return INVALID(v, "unknown global %u", e->index);
            break;
        default:
            return INVALID(v, "malformed export kind");
        }
    }
    if (m->nexports < 2)
        return true;
    /* sort copies of the names: O(n log n) for modules with many exports.
     * Names are compared as bytes with their length: they may contain NULs. */
    name_ref *names = malloc((size_t)m->nexports * sizeof *names);
    if (!names)
        return wasm_fail(v->err, WASM_ERR_NOMEM, v->at, "out of memory");
    for (uint32_t i = 0; i < m->nexports; i++) {
        const wasm_export *e = &m->exports[i];
        names[i].p = e->name ? e->name : "";
        names[i].len = e->name_len ? e->name_len : strlen(names[i].p);
    }
    qsort(names, m->nexports, sizeof *names, cmp_name);
    bool ok = true;
    for (uint32_t i = 1; i < m->nexports && ok; i++)
        if (cmp_name(&names[i - 1], &names[i]) == 0)
            ok = INVALID(v, "duplicate export name \"%.*s\"", (int)names[i].len, names[i].p);
    free(names);
    return ok;
}

/* Rescans all bodies for a malformation after a validation error. */
static void prefer_malformed(vctx *v)
{
    const wasm_module *m = v->m;
    wasm_error saved = *v->err;
    for (uint32_t i = m->nfunc_imports; i < m->nfuncs; i++) {
        if (m->funcs[i].imported || !m->funcs[i].body)
            continue;
        if (!scan_body(v, &m->funcs[i]) && v->err->status == WASM_ERR_MALFORMED)
            return;
    }
    *v->err = saved;
}

bool wasm_validate(const wasm_module *m, wasm_error *err)
{
    wasm_error local;
    vctx v = {.m = m, .err = err ? err : &local};
    bool ok = check_imports(&v) && check_funcs(&v) && check_globals(&v) && check_tables_mems(&v) &&
              check_elems(&v) && check_datas(&v);
    for (uint32_t i = m->nfunc_imports; ok && i < m->nfuncs; i++) {
        if (m->funcs[i].imported || !m->funcs[i].body)
            continue;
        ok = check_body(&v, &m->funcs[i]);
    }
    ok = ok && check_start(&v) && check_exports(&v);
    if (!ok && v.err->status == WASM_ERR_INVALID)
        prefer_malformed(&v);
    free(v.vals);
    free(v.ctrls);
    return ok;
}
