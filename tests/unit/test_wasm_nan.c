/* test_wasm_nan.c - deterministic floats: every f32/f64 operation that can make a NaN makes the
 * canonical one (f32 0x7fc00000, f64 0x7ff8000000000000) whatever the signs and payloads of its
 * inputs, in every form the translator emits (slot, register, memory operand, multiply-add),
 * whether the result is returned, kept in a local or stored to memory; neg, abs and copysign
 * keep a NaN's payload.
 *
 * The modules are assembled here: one exported function "f" per (operation, shape), with the
 * inputs as parameters and also in memory (x at 0, y at 8, z at 16), returning the result's
 * raw bits. The translated code is scanned for the handlers it uses, and the test fails if a
 * form it means to cover was never emitted, so a translator change cannot quietly leave one
 * untested. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "compile.h"
#include "ops.h"
#include "runtime.h"
#include "wasm.h"
#include "wasm_build.h"

#define F32_CANON 0x7fc00000u
#define F64_CANON 0x7ff8000000000000ull
#define F32_SIGN  0x80000000u
#define F64_SIGN  0x8000000000000000ull

/* ---- assembling modules ------------------------------------------------------------------ */

/* (module (type (func (param in in in) (result int of out)))
 *   (func (export "f") (local in out) body) (memory (export "mem") 1)) */
static void build_module(buf *m, uint8_t in, uint8_t out, const buf *body)
{
    static const uint8_t exports[] = {0x02, 0x01, 'f', 0x00, 0x00, 0x03, 'm', 'e', 'm', 0x02, 0x00};
    uint8_t res = out == WASM_F64 ? WASM_I64 : WASM_I32;
    const uint8_t type[] = {0x01, 0x60, 0x03, in, in, in, 0x01, res};
    const uint8_t funcs[] = {0x01, 0x00}, mems[] = {0x01, 0x00, 0x01}; /* min 1 page */
    const uint8_t locals[] = {0x02, 0x01, in, 0x01, out};
    buf s = {.n = 0}, code = {.n = 0};
    header(m);
    put(&s, type, sizeof type);
    section(m, 1, &s);
    s.n = 0;
    put(&s, funcs, sizeof funcs);
    section(m, 3, &s);
    s.n = 0;
    put(&s, mems, sizeof mems);
    section(m, 5, &s);
    s.n = 0;
    put(&s, exports, sizeof exports);
    section(m, 7, &s);
    put(&code, locals, sizeof locals);
    put(&code, body->b, body->n);
    put8(&code, 0x0b);
    s.n = 0;
    put8(&s, 1);
    uleb(&s, code.n);
    put(&s, code.b, code.n);
    section(m, 10, &s);
}

/* ---- the operations ---------------------------------------------------------------------- */

enum { K_ARITH, K_BITS };

typedef struct {
    const char *name;
    uint8_t code;    /* the opcode; multiply-add is the type's mul then add */
    uint8_t in, out; /* WASM_F32 / WASM_F64 */
    int arity;       /* 1, 2, or 3 for multiply-add */
    int kind;
} fop;

#define MULADD 0xff /* pseudo-opcode: f64.mul then f64.add */

static const fop fops[] = {
    {"f32.ceil", 0x8d, WASM_F32, WASM_F32, 1, K_ARITH},
    {"f32.floor", 0x8e, WASM_F32, WASM_F32, 1, K_ARITH},
    {"f32.trunc", 0x8f, WASM_F32, WASM_F32, 1, K_ARITH},
    {"f32.nearest", 0x90, WASM_F32, WASM_F32, 1, K_ARITH},
    {"f32.sqrt", 0x91, WASM_F32, WASM_F32, 1, K_ARITH},
    {"f32.add", 0x92, WASM_F32, WASM_F32, 2, K_ARITH},
    {"f32.sub", 0x93, WASM_F32, WASM_F32, 2, K_ARITH},
    {"f32.mul", 0x94, WASM_F32, WASM_F32, 2, K_ARITH},
    {"f32.div", 0x95, WASM_F32, WASM_F32, 2, K_ARITH},
    {"f32.min", 0x96, WASM_F32, WASM_F32, 2, K_ARITH},
    {"f32.max", 0x97, WASM_F32, WASM_F32, 2, K_ARITH},
    {"f64.ceil", 0x9b, WASM_F64, WASM_F64, 1, K_ARITH},
    {"f64.floor", 0x9c, WASM_F64, WASM_F64, 1, K_ARITH},
    {"f64.trunc", 0x9d, WASM_F64, WASM_F64, 1, K_ARITH},
    {"f64.nearest", 0x9e, WASM_F64, WASM_F64, 1, K_ARITH},
    {"f64.sqrt", 0x9f, WASM_F64, WASM_F64, 1, K_ARITH},
    {"f64.add", 0xa0, WASM_F64, WASM_F64, 2, K_ARITH},
    {"f64.sub", 0xa1, WASM_F64, WASM_F64, 2, K_ARITH},
    {"f64.mul", 0xa2, WASM_F64, WASM_F64, 2, K_ARITH},
    {"f64.div", 0xa3, WASM_F64, WASM_F64, 2, K_ARITH},
    {"f64.min", 0xa4, WASM_F64, WASM_F64, 2, K_ARITH},
    {"f64.max", 0xa5, WASM_F64, WASM_F64, 2, K_ARITH},
    {"f64.mul+add", MULADD, WASM_F64, WASM_F64, 3, K_ARITH},
    {"f32.demote_f64", 0xb6, WASM_F64, WASM_F32, 1, K_ARITH},
    {"f64.promote_f32", 0xbb, WASM_F32, WASM_F64, 1, K_ARITH},
    {"f32.abs", 0x8b, WASM_F32, WASM_F32, 1, K_BITS},
    {"f32.neg", 0x8c, WASM_F32, WASM_F32, 1, K_BITS},
    {"f32.copysign", 0x98, WASM_F32, WASM_F32, 2, K_BITS},
    {"f64.abs", 0x99, WASM_F64, WASM_F64, 1, K_BITS},
    {"f64.neg", 0x9a, WASM_F64, WASM_F64, 1, K_BITS},
    {"f64.copysign", 0xa6, WASM_F64, WASM_F64, 2, K_BITS},
};

/* Every form that must be reached (the NaN-producing ones and the bit operations). */
static const uint16_t must_cover[] = {
    OP_F32_CEIL,     OP_F32_FLOOR,  OP_F32_TRUNC,    OP_F32_NEAREST,    OP_F32_SQRT,
    OP_F32_ADD,      OP_F32_SUB,    OP_F32_MUL,      OP_F32_DIV,        OP_F32_MIN,
    OP_F32_MAX,      OP_F64_CEIL,   OP_F64_FLOOR,    OP_F64_TRUNC,      OP_F64_NEAREST,
    OP_F64_SQRT,     OP_F64_ADD,    OP_F64_SUB,      OP_F64_MUL,        OP_F64_DIV,
    OP_F64_MIN,      OP_F64_MAX,    OP_F64_ADD_R,    OP_F64_SUB_R,      OP_F64_MUL_R,
    OP_F64_DIV_R,    OP_F64_SUB_SR, OP_F64_DIV_SR,   OP_F64_SQRT_R,     OP_F64_MULADD,
    OP_F64_MULADD_R, OP_F64_ADD_RM, OP_F64_SUB_RM,   OP_F64_MUL_RM,     OP_F64_DIV_RM,
    OP_F64_SUB_MR,   OP_F64_DIV_MR, OP_F64_ADD_SM,   OP_F64_SUB_SM,     OP_F64_MUL_SM,
    OP_F64_DIV_SM,   OP_F64_SUB_MS, OP_F64_DIV_MS,   OP_F32_DEMOTE_F64, OP_F64_PROMOTE_F32,
    OP_F32_ABS,      OP_F32_NEG,    OP_F32_COPYSIGN, OP_F64_ABS,        OP_F64_NEG,
    OP_F64_COPYSIGN, OP_F64_ABS_R,  OP_F64_NEG_R,
};

/* ---- reference results --------------------------------------------------------------------- */

static float f32_from(uint64_t bits)
{
    uint32_t u = (uint32_t)bits;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint64_t bits_f32(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static double f64_from(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static uint64_t bits_f64(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* wasm's min/max: a NaN operand gives NaN; -0 is below +0. */
static double wmin(double a, double b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    return a == b ? (signbit(a) ? a : b) : fmin(a, b);
}

static double wmax(double a, double b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    return a == b ? (signbit(a) ? b : a) : fmax(a, b);
}

static double ref64(uint8_t code, double a, double b, double c)
{
    switch (code) {
    case 0x9b:
        return ceil(a);
    case 0x9c:
        return floor(a);
    case 0x9d:
        return trunc(a);
    case 0x9e:
        return nearbyint(a);
    case 0x9f:
        return sqrt(a);
    case 0xa0:
        return a + b;
    case 0xa1:
        return a - b;
    case 0xa2:
        return a * b;
    case 0xa3:
        return a / b;
    case 0xa4:
        return wmin(a, b);
    case 0xa5:
        return wmax(a, b);
    case MULADD: {
        volatile double p = a * b; /* two roundings, as wasm does */
        return p + c;
    }
    }
    CHECK(!"no f64 reference");
    return 0;
}

/* The bits the operation must give for inputs of bits a, b, c. */
static uint64_t expected(const fop *o, uint64_t a, uint64_t b, uint64_t c)
{
    if (o->kind == K_BITS) {
        uint64_t sign = o->in == WASM_F32 ? F32_SIGN : F64_SIGN;
        if (o->arity == 2) /* copysign */
            return (a & ~sign) | (b & sign);
        return o->code == 0x8b || o->code == 0x99 ? a & ~sign : a ^ sign;
    }
    if (o->code == 0xb6) { /* demote */
        float r = (float)f64_from(a);
        return isnan(r) ? F32_CANON : bits_f32(r);
    }
    if (o->code == 0xbb) { /* promote */
        double r = (double)f32_from(a);
        return isnan(r) ? F64_CANON : bits_f64(r);
    }
    if (o->in == WASM_F32) {
        /* the f64 opcode is 0x0e above; in double then rounded once to float, these results
         * are the correctly rounded f32 ones (double has more than 2 * 24 + 2 bits) */
        float r = (float)ref64((uint8_t)(o->code + 0x0e), f32_from(a), f32_from(b), 0);
        return isnan(r) ? F32_CANON : bits_f32(r);
    }
    double r = ref64(o->code, f64_from(a), f64_from(b), f64_from(c));
    return isnan(r) ? F64_CANON : bits_f64(r);
}

/* ---- shapes: how operands reach the operation and how its result leaves -------------------- */

/* An operand (parameter p): read in place, through the f64 register (neg twice leaves it in the
 * register unchanged), loaded from memory, or put in local 3 through the register beforehand
 * (so the register holds a local the operation reads). */
enum { SRC_SLOT, SRC_REG, SRC_MEM, SRC_REGLOCAL, SRC_COUNT };
/* The result: returned, through local 4, or stored to memory at 32 and loaded back as bits. */
enum { SINK_RET, SINK_LOCAL, SINK_MEM, SINK_COUNT };

static const char *const src_names[] = {"slot", "reg", "mem", "reglocal"};
static const char *const sink_names[] = {"ret", "local", "mem"};

typedef struct {
    int src[3];
    int sink;
    bool c_first; /* multiply-add: c pushed before the product */
} shape;

static uint8_t neg_of(uint8_t t)
{
    return t == WASM_F64 ? 0x9a : 0x8c;
}

static void put_memop(buf *b, uint8_t opcode, uint8_t t)
{
    put8(b, opcode);
    put8(b, t == WASM_F64 ? 3 : 2); /* natural alignment */
    put8(b, 0);
}

static void put_operand(buf *b, int src, uint8_t p, uint8_t t)
{
    switch (src) {
    case SRC_SLOT:
        put8(b, 0x20), put8(b, p);
        break;
    case SRC_REG:
        put8(b, 0x20), put8(b, p), put8(b, neg_of(t)), put8(b, neg_of(t));
        break;
    case SRC_MEM:
        put8(b, 0x41), put8(b, (uint8_t)(8 * p));
        put_memop(b, t == WASM_F64 ? 0x2b : 0x2a, t);
        break;
    case SRC_REGLOCAL:
        put8(b, 0x20), put8(b, 3);
        break;
    }
}

static void build_body(buf *b, const fop *o, const shape *s)
{
    b->n = 0;
    for (int i = 0; i < o->arity; i++)
        if (s->src[i] == SRC_REGLOCAL) {
            put8(b, 0x20), put8(b, (uint8_t)i), put8(b, neg_of(o->in)), put8(b, neg_of(o->in));
            put8(b, 0x21), put8(b, 3);
        }
    if (s->sink == SINK_MEM)
        put8(b, 0x41), put8(b, 32); /* below 64: a one-byte sleb */
    if (o->arity == 3) {
        if (s->c_first)
            put_operand(b, s->src[2], 2, o->in);
        put_operand(b, s->src[0], 0, o->in);
        put_operand(b, s->src[1], 1, o->in);
        put8(b, 0xa2); /* f64.mul */
        if (!s->c_first)
            put_operand(b, s->src[2], 2, o->in);
        put8(b, 0xa0); /* f64.add */
    } else {
        for (int i = 0; i < o->arity; i++)
            put_operand(b, s->src[i], (uint8_t)i, o->in);
        put8(b, o->code);
    }
    bool f64 = o->out == WASM_F64;
    switch (s->sink) {
    case SINK_LOCAL:
        put8(b, 0x21), put8(b, 4), put8(b, 0x20), put8(b, 4);
        put8(b, f64 ? 0xbd : 0xbc); /* reinterpret */
        break;
    case SINK_MEM:
        put_memop(b, f64 ? 0x39 : 0x38, o->out);
        put8(b, 0x41), put8(b, 32); /* below 64: a one-byte sleb */
        put_memop(b, f64 ? 0x29 : 0x28, o->out);
        break;
    default:
        put8(b, f64 ? 0xbd : 0xbc);
        break;
    }
}

/* ---- running ------------------------------------------------------------------------------ */

static const uint64_t in64[] = {
    0x3ff8000000000000ull, /* 1.5 */
    0xc002000000000000ull, /* -2.25 */
    0x3fe0000000000000ull, /* 0.5 */
    0x0000000000000000ull, /* +0 */
    0x8000000000000000ull, /* -0 */
    0x7ff0000000000000ull, /* +inf */
    0xfff0000000000000ull, /* -inf */
    0x7ff8000000000000ull, /* the canonical NaN */
    0xfff8000000000000ull, /* negative quiet NaN (what x86-64 makes) */
    0x7ff8000000000abcull, /* quiet NaN with a low payload */
    0x7ffc000000000000ull, /* quiet NaN with a high payload (survives demotion) */
    0xfff0000000000001ull, /* negative signalling NaN */
    0x7ff4000000000000ull, /* signalling NaN */
};

static const uint64_t in32[] = {
    0x3fc00000u, /* 1.5 */
    0xc0100000u, /* -2.25 */
    0x3f000000u, /* 0.5 */
    0x00000000u, /* +0 */
    0x80000000u, /* -0 */
    0x7f800000u, /* +inf */
    0xff800000u, /* -inf */
    0x7fc00000u, /* the canonical NaN */
    0xffc00000u, /* negative quiet NaN */
    0x7fc00abcu, /* quiet NaN with a payload */
    0xff800001u, /* negative signalling NaN */
    0x7fa00000u, /* signalling NaN */
};

/* Multiply-add runs over a smaller set: its inputs come in threes. */
static const uint64_t in_muladd[] = {
    0x3ff8000000000000ull, 0x0000000000000000ull, 0x7ff0000000000000ull, 0xfff0000000000000ull,
    0xfff8000000000000ull, 0x7ff8000000000abcull, 0xfff0000000000001ull,
};

static bool seen[OP_COUNT_];
static int mismatches;

/* Marks the handlers that appear in f's code (scanning every word: operands are slot numbers
 * and small immediates, which never look like a handler address). */
static void note_handlers(const wasm_func *f)
{
    const void *const *h = wasm_interp_handlers();
    const struct wasm_code *code = f->code;
    for (size_t i = 0; i + OP_HW <= code->nwords; i++)
        for (int op = 0; op < OP_COUNT_; op++)
            if (memcmp(&code->ops[i], &h[op], sizeof h[op]) == 0)
                seen[op] = true;
}

static wasm_value fval(uint8_t t, uint64_t bits)
{
    wasm_value v;
    memset(&v, 0, sizeof v);
    v.type = (wasm_valtype)t;
    if (t == WASM_F64) {
        memcpy(&v.of.f64, &bits, 8);
    } else {
        uint32_t u = (uint32_t)bits;
        memcpy(&v.of.f32, &u, 4);
    }
    return v;
}

/* Runs o in shape s over every input combination; counts and reports wrong bits. */
static void run_shape(const fop *o, const shape *s)
{
    buf body, mod;
    build_body(&body, o, s);
    build_module(&mod, o->in, o->out, &body);
    wasm_error err;
    wasm_module *m = wasm_module_load(mod.b, mod.n, &err);
    if (!m) {
        fprintf(stderr, "%s (%s): %s\n", o->name, src_names[s->src[0]], err.msg);
        CHECK(!"module loads");
        return;
    }
    wasm_store *store = wasm_store_new(NULL);
    wasm_instance *inst = wasm_instantiate(store, m, NULL, NULL, &err);
    wasm_extern fx, mx;
    CHECK(inst && wasm_instance_export(inst, "f", &fx) && wasm_instance_export(inst, "mem", &mx));
    if (!inst) {
        wasm_store_free(store);
        wasm_module_free(m);
        return;
    }
    note_handlers(fx.of.func);
    uint8_t *mem = wasm_memory_data(mx.of.memory);

    const uint64_t *in = o->arity == 3 ? in_muladd : o->in == WASM_F64 ? in64 : in32;
    size_t n = o->arity == 3       ? sizeof in_muladd / sizeof *in_muladd
               : o->in == WASM_F64 ? sizeof in64 / sizeof *in64
                                   : sizeof in32 / sizeof *in32;
    size_t nb = o->arity >= 2 ? n : 1, nc = o->arity == 3 ? n : 1;
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < nb; j++)
            for (size_t k = 0; k < nc; k++) {
                uint64_t x[3] = {in[i], in[j], in[k]};
                wasm_value args[3], res;
                for (int p = 0; p < 3; p++) {
                    args[p] = fval(o->in, x[p]);
                    memcpy(mem + 8 * p, &x[p], o->in == WASM_F64 ? 8 : 4);
                }
                res.type = o->out == WASM_F64 ? WASM_I64 : WASM_I32;
                uint64_t want = expected(o, x[0], x[1], x[2]), got;
                if (wasm_func_call(store, fx.of.func, args, 3, &res, 1, &err) != WASM_OK) {
                    fprintf(stderr, "%s: %s\n", o->name, err.msg);
                    got = ~want;
                } else {
                    got = o->out == WASM_F64 ? (uint64_t)res.of.i64 : (uint32_t)res.of.i32;
                }
                if (got != want && bad++ < 2)
                    fprintf(stderr,
                            "%s [%s %s %s -> %s]: inputs %#" PRIx64 " %#" PRIx64 " %#" PRIx64
                            ": got %#" PRIx64 ", want %#" PRIx64 "\n",
                            o->name, src_names[s->src[0]], src_names[s->src[1]],
                            src_names[s->src[2]], sink_names[s->sink], x[0], x[1], x[2], got, want);
            }
    mismatches += bad;
    wasm_store_free(store);
    wasm_module_free(m);
}

/* Every shape of every operation, then whether every form was reached. */
static void test_operations(void)
{
    for (size_t i = 0; i < sizeof fops / sizeof *fops; i++) {
        const fop *o = &fops[i];
        /* the first operand: slot, register or memory; the second also from a local set
         * beforehand through the register; the multiply-add addend from a slot */
        int nb = o->arity >= 2 ? SRC_COUNT : 1;
        for (int a = 0; a < SRC_REGLOCAL; a++)
            for (int b = 0; b < nb; b++)
                for (int sink = 0; sink < SINK_COUNT; sink++)
                    for (int cf = 0; cf < (o->arity == 3 ? 2 : 1); cf++) {
                        if (o->arity == 3 && b == SRC_REGLOCAL)
                            continue;
                        shape s = {{a, b, SRC_SLOT}, sink, cf == 1};
                        run_shape(o, &s);
                    }
    }
    CHECK_EQ(mismatches, 0);
    for (size_t i = 0; i < sizeof must_cover / sizeof *must_cover; i++) {
        if (!seen[must_cover[i]])
            fprintf(stderr, "form %u was never emitted\n", must_cover[i]);
        CHECK(seen[must_cover[i]]);
    }
}

/* f64.const and f32.const only move bits: a NaN constant with a payload comes back as it is. */
static void test_constants_keep_bits(void)
{
    const uint64_t bits64 = 0xfff4000000000123ull;
    buf body = {.n = 0}, mod;
    put8(&body, 0x44); /* f64.const */
    for (int i = 0; i < 8; i++)
        put8(&body, (uint8_t)(bits64 >> (8 * i)));
    put8(&body, 0xbd);
    build_module(&mod, WASM_F64, WASM_F64, &body);
    wasm_error err;
    wasm_module *m = wasm_module_load(mod.b, mod.n, &err);
    CHECK(m != NULL);
    if (!m)
        return;
    wasm_store *store = wasm_store_new(NULL);
    wasm_instance *inst = wasm_instantiate(store, m, NULL, NULL, &err);
    wasm_extern fx;
    CHECK(inst && wasm_instance_export(inst, "f", &fx));
    if (inst) {
        wasm_value args[3] = {fval(WASM_F64, 0), fval(WASM_F64, 0), fval(WASM_F64, 0)}, res;
        res.type = WASM_I64;
        CHECK_EQ(wasm_func_call(store, fx.of.func, args, 3, &res, 1, &err), WASM_OK);
        CHECK_EQ((uint64_t)res.of.i64, bits64);
    }
    wasm_store_free(store);
    wasm_module_free(m);
}

int main(void)
{
    CHECK_EQ(WASM_F32_CANONICAL_NAN, F32_CANON);
    CHECK_EQ(WASM_F64_CANONICAL_NAN, F64_CANON);
    test_operations();
    test_constants_keep_bits();
    return CHECK_DONE();
}
