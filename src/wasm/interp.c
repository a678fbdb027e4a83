/*
 * interp.c — runs translated code (see ops.h and compile.h).
 *
 * Direct threading: each op begins with its handler's address, and every
 * handler ends by jumping to the next op's handler, so there is one indirect
 * jump per op and no central switch. The hot state lives in locals the
 * compiler keeps in registers: ip, the frame pointer, memory base and size,
 * fuel, and the two result registers of the register forms (r for integers,
 * fd for f64; see ops.h). What only calls and returns need stays in memory.
 *
 * Calls never recurse on the C stack: frames are carved from the store's
 * stack (upward from the bottom), and each call pushes a return record
 * (return ip, caller frame, caller instance, caller memory) on a control area
 * that grows down from the top; the depth limit bounds that area. A frame
 * must fit between the two. Only host functions that call back into wasm nest
 * interpreter activations, bounded by HOST_DEPTH_MAX, each using the free
 * middle of the stack.
 *
 * Fuel is charged per basic block: by FUEL ops, by every taken branch (the
 * word before a branch target holds the target block's count) and by calls
 * (a function's entry block count plus its locals, see fuel.h). The bulk
 * memory and table ops and the grows also charge for their length, after the
 * bounds or limits check and before any work: a trap for bad bounds does not
 * depend on the fuel left, and running out of fuel leaves memory untouched.
 *
 * The register `fuel` holds a slice of the fuel left (at most FUEL_SLICE), the
 * rest waits in `cold.reserve`. Only when a charge takes the slice below zero
 * does refuel() run: it looks at the store's interrupt flag, then moves the
 * next slice out of the reserve or ends the call out of fuel. So another
 * thread's wasm_store_interrupt is seen within one slice, even with unlimited
 * fuel, and the hot path stays one subtraction and one sign test.
 *
 * Numeric semantics follow the spec exactly and avoid undefined behaviour in C
 * for every input: integer arithmetic is unsigned, shift counts are masked,
 * float-to-int conversions are range-checked before the cast, and float
 * sign operations (abs, neg, copysign) work on the bits.
 *
 * Floats are deterministic across CPUs: every handler whose float result can
 * be a NaN passes it through canon32() / canon64(), so it is the canonical NaN
 * (wasm.h) whatever NaN the hardware made (x86-64 makes 0xfff8..., aarch64
 * 0x7ff8..., and they propagate input payloads differently). Handlers that
 * only move bits (abs, neg, copysign, loads, stores, select) keep them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "fuel.h"
#include "ops.h"
#include "runtime.h"

/* wasm rounds after every float operation: a multiply-add handler must never
 * become a fused multiply-add (GCC contracts across statements by default in
 * GNU C mode on targets with FMA, such as aarch64). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the interpreter reads wasm memory in host byte order and needs a little-endian host"
#endif

/* Nested host -> wasm activations allowed on the C stack. */
#define HOST_DEPTH_MAX 100

/* Units of fuel between two looks at the interrupt flag: about 0.2 ms of a
 * counting loop, and one slow-path call per slice costs nothing measurable. */
#define FUEL_SLICE ((int64_t)1 << 18)

/* What refuel() returns when the store was interrupted. */
#define FUEL_INTERRUPTED INT64_MIN

/* The slow path of a charge of n that took the slice to fuel < 0: returns the
 * next slice (>= 0) and lowers *reserve, -1 when the fuel left cannot pay n
 * (out of fuel), or FUEL_INTERRUPTED, leaving *reserve holding all fuel left
 * with n given back (the block did not run). Inline, not called: a call would
 * clobber the float registers the hot code keeps values in (nbody ran 30% slower). */
static inline __attribute__((always_inline)) int64_t refuel(wasm_store *store, int64_t fuel,
                                                            int64_t n, volatile int64_t *reserve)
{
    if (atomic_load_explicit(&store->interrupted, memory_order_relaxed)) {
        *reserve += fuel + n;
        return FUEL_INTERRUPTED;
    }
    int64_t total = fuel + *reserve;
    if (total < 0)
        return -1;
    int64_t slice = total < FUEL_SLICE ? total : FUEL_SLICE;
    *reserve = total - slice;
    return slice;
}

#define LIKELY(x)   __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- value helpers ----------------------------------------------------- */

static inline float f32_of(uint64_t v)
{
    uint32_t u = (uint32_t)v;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint64_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline double f64_of(uint64_t v)
{
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

static inline uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* The canonical NaN for a result that is one (the check is almost never
 * taken: only NaN inputs, inf - inf, 0 * inf, 0 / 0, sqrt of a negative). */
static inline uint64_t canon32(float f)
{
    return UNLIKELY(f != f) ? WASM_F32_CANONICAL_NAN : f32_bits(f);
}

static inline double canon64(double d)
{
    if (UNLIKELY(d != d))
        d = f64_of(WASM_F64_CANONICAL_NAN);
    return d;
}

/* min/max: NaN wins (any NaN: the handler canonicalizes it), and -0 < +0. */
static inline float f32_min(float a, float b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    if (a == b)
        return signbit(a) ? a : b;
    return a < b ? a : b;
}

static inline float f32_max(float a, float b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    if (a == b)
        return signbit(a) ? b : a;
    return a > b ? a : b;
}

static inline double f64_min(double a, double b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    if (a == b)
        return signbit(a) ? a : b;
    return a < b ? a : b;
}

static inline double f64_max(double a, double b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    if (a == b)
        return signbit(a) ? b : a;
    return a > b ? a : b;
}

static inline uint32_t rotl32(uint32_t x, uint32_t n)
{
    n &= 31;
    return (x << n) | (x >> ((32 - n) & 31));
}

static inline uint32_t rotr32(uint32_t x, uint32_t n)
{
    n &= 31;
    return (x >> n) | (x << ((32 - n) & 31));
}

static inline uint64_t rotl64(uint64_t x, uint64_t n)
{
    n &= 63;
    return (x << n) | (x >> ((64 - n) & 63));
}

static inline uint64_t rotr64(uint64_t x, uint64_t n)
{
    n &= 63;
    return (x >> n) | (x << ((64 - n) & 63));
}

static inline uint64_t sx32(uint32_t v)
{
    return (uint64_t)(int64_t)(int32_t)v;
}

/* Saturating truncations (NaN -> 0). */
static inline uint32_t sat_i32_s(double d)
{
    if (isnan(d))
        return 0;
    if (d <= -2147483649.0)
        return (uint32_t)INT32_MIN;
    if (d >= 2147483648.0)
        return (uint32_t)INT32_MAX;
    return (uint32_t)(int32_t)d;
}

static inline uint32_t sat_i32_u(double d)
{
    if (isnan(d) || d <= -1.0)
        return 0;
    if (d >= 4294967296.0)
        return UINT32_MAX;
    return (uint32_t)d;
}

static inline uint64_t sat_i64_s(double d)
{
    if (isnan(d))
        return 0;
    if (d < -9223372036854775808.0)
        return (uint64_t)INT64_MIN;
    if (d >= 9223372036854775808.0)
        return (uint64_t)INT64_MAX;
    return (uint64_t)(int64_t)d;
}

static inline uint64_t sat_i64_u(double d)
{
    if (isnan(d) || d <= -1.0)
        return 0;
    if (d >= 18446744073709551616.0)
        return UINT64_MAX;
    return (uint64_t)d;
}

/* ---- the interpreter ---------------------------------------------------- */

/* Stands in for memory 0 of instances without one: every access is out of bounds. */
static wasm_memory no_memory;

static inline wasm_memory *memory_of(const wasm_instance *inst)
{
    return inst && inst->module->nmems ? inst->mems[0] : &no_memory;
}

/* Runs from ip in frame fp until the entry frame returns (OP_EXIT). csp is
 * the control area top holding that frame's return record. With table_out
 * set, only reports the handler table. */
static wasm_status run(wasm_store *store, wasm_instance *inst, const uint32_t *ip, uint64_t *fp,
                       uint64_t *csp, uint32_t charge, wasm_error *err,
                       const void *const **table_out)
{
#define WASM_OPS_LABEL(name, words, reg) &&L_##name,
    static const void *const labels[] = {WASM_OPS(WASM_OPS_LABEL)};
#undef WASM_OPS_LABEL
    if (table_out) {
        *table_out = labels;
        return WASM_OK;
    }

    int64_t fuel;
    /* State only calls and returns need lives in memory (volatile), leaving
     * the registers to the hot state: ip, fp, r, fuel, mem, msize. The call
     * depth is implied by csp: each active call holds one return record, and
     * csp_min bounds them by max_call_depth (or by the stack itself). */
    struct cold {
        uint64_t *stack;
        uint64_t *csp0;    /* the entry frame's record; store->depth counts it */
        uint64_t *csp_min; /* lowest record position allowed */
        wasm_memory *memo; /* the current instance's memory 0 */
        int64_t reserve;   /* fuel left beyond the slice in `fuel` */
    };
    volatile struct cold cold;
    cold.stack = store->stack;
    cold.csp0 = csp;
    {
        size_t room = (size_t)(csp - store->stack) / WASM_FRAME_REC;
        uint32_t depth = store->depth, max = store->lim.max_call_depth;
        size_t more = max > depth ? max - depth : 0;
        cold.csp_min = more >= room ? store->stack : csp - more * WASM_FRAME_REC;
    }
    cold.memo = memory_of(inst);
    uint8_t *mem = NULL;
    uint64_t msize = 0;
    wasm_trap trap = WASM_TRAP_NONE;
    /* the register forms' operands (see ops.h): the last RI / RF result */
    uint64_t r = 0;
    double fd = 0;

    /* call state shared by the call ops */
    const struct wasm_code *callee;
    wasm_func *f;
    uint64_t *nfp;
    const uint32_t *ret_ip;

/* memo is the current instance's memory 0 (or an empty stand-in): it moves
 * with the instance, while its data and size are reloaded after anything
 * that may grow it */
#define LOAD_MEM()                   \
    do {                             \
        wasm_memory *m_ = cold.memo; \
        mem = m_->data;              \
        msize = m_->bytes;           \
    } while (0)
#define DEPTH() (store->depth + (uint32_t)((cold.csp0 - csp) / WASM_FRAME_REC))

#define DISPATCH()                  \
    do {                            \
        void *h_;                   \
        memcpy(&h_, ip, sizeof h_); \
        goto *h_;                   \
    } while (0)
#define I(k) (ip[OP_HW + (k)])
#define S(k) (fp[I(k)])
#define NEXT(n)            \
    do {                   \
        ip += OP_HW + (n); \
        DISPATCH();        \
    } while (0)
#define TRAP(kind)      \
    do {                \
        trap = (kind);  \
        goto trap_exit; \
    } while (0)
/* Takes the store's fuel left into the slice and the reserve, and gives it back. */
#define FUEL_LOAD()                                                                         \
    do {                                                                                    \
        int64_t t_ =                                                                        \
            store->fuel_left > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)store->fuel_left; \
        fuel = t_ < FUEL_SLICE ? t_ : FUEL_SLICE;                                           \
        cold.reserve = t_ - fuel;                                                           \
    } while (0)
#define FUEL_SAVE() (store->fuel_left = (uint64_t)(fuel + cold.reserve))
#define CHARGE(n)                                                    \
    do {                                                             \
        fuel -= (int64_t)(n);                                        \
        if (UNLIKELY(fuel < 0)) {                                    \
            fuel = refuel(store, fuel, (int64_t)(n), &cold.reserve); \
            if (fuel < 0)                                            \
                goto fuel_exit;                                      \
        }                                                            \
    } while (0)
/* Charges the block ip now points at (its count is the word before it) and runs it. The
 * slow path is one shared block, so the hot branch handlers carry no refuel code. */
#define CHARGE_TARGET()          \
    do {                         \
        fuel -= (int64_t)ip[-1]; \
        if (UNLIKELY(fuel < 0))  \
            goto refuel_target;  \
        DISPATCH();              \
    } while (0)
/* Jumps by the displacement in operand word k and charges the target's count. */
#define BRANCH(k)                   \
    do {                            \
        ip = &I(k) + (int32_t)I(k); \
        CHARGE_TARGET();            \
    } while (0)

    FUEL_LOAD();
    LOAD_MEM();
    CHARGE(charge); /* the entry block */
    DISPATCH();

    /* ---- control ---- */
L_UNREACHABLE:
    TRAP(WASM_TRAP_UNREACHABLE);
L_EXIT:
    FUEL_SAVE();
    return WASM_OK;
L_FUEL:
    /* the op's count is the word after it, and the block follows: the same as a branch's
     * target, whose count is the word before it */
    ip += OP_HW + 1;
    CHARGE_TARGET();
L_BR:
    BRANCH(0);
L_BR_NZ:
    if ((uint32_t)S(0))
        BRANCH(1);
    NEXT(2);
L_BR_Z:
    if (!(uint32_t)S(0))
        BRANCH(1);
    NEXT(2);
L_BR_NZ64:
    if (S(0))
        BRANCH(1);
    NEXT(2);
L_BR_Z64:
    if (!S(0))
        BRANCH(1);
    NEXT(2);
L_BR_NZ_R:
    if ((uint32_t)r)
        BRANCH(0);
    NEXT(1);
L_BR_Z_R:
    if (!(uint32_t)r)
        BRANCH(0);
    NEXT(1);
L_BR_NZ64_R:
    if (r)
        BRANCH(0);
    NEXT(1);
L_BR_Z64_R:
    if (!r)
        BRANCH(0);
    NEXT(1);
L_BRI_NZ : {
    uint32_t x = (uint32_t)S(0) + I(1);
    S(0) = x;
    if (x)
        BRANCH(2);
    NEXT(3);
}
L_BRI_Z : {
    uint32_t x = (uint32_t)S(0) + I(1);
    S(0) = x;
    if (!x)
        BRANCH(2);
    NEXT(3);
}
L_BR_TABLE : {
    uint32_t i = (uint32_t)S(0), n = I(1);
    const uint32_t *t = &I(2 + (i < n ? i : n));
    ip = t + (int32_t)*t;
    CHARGE_TARGET();
}
L_RETURNN:
    memmove(fp, fp + I(1), (size_t)I(0) * sizeof *fp);
    goto do_return;
L_RETURN1:
    fp[0] = S(0);
    goto do_return;
L_RETURN1_IMM:
    fp[0] = I(0);
    goto do_return;
L_RETURN0:
do_return:
    ip = (const uint32_t *)(uintptr_t)csp[0];
    fp = (uint64_t *)(uintptr_t)csp[1];
    inst = (wasm_instance *)(uintptr_t)csp[2];
    {
        wasm_memory *m = (wasm_memory *)(uintptr_t)csp[3];
        cold.memo = m;
        mem = m->data;
        msize = m->bytes;
    }
    csp += WASM_FRAME_REC;
    DISPATCH();

/* Pushes the return record and enters callee's frame at nfp (no instance switch). */
#define ENTER()                                                                           \
    do {                                                                                  \
        /* the record must fit above csp_min, the frame below the record */               \
        if (UNLIKELY((size_t)(csp - cold.csp_min) < WASM_FRAME_REC ||                     \
                     (size_t)(csp - nfp) < (size_t)callee->frame_slots + WASM_FRAME_REC)) \
            TRAP(WASM_TRAP_STACK_EXHAUSTED);                                              \
        CHARGE(callee->entry_fuel); /* the entry block and locals, before zeroing them */ \
        csp -= WASM_FRAME_REC;                                                            \
        csp[0] = (uint64_t)(uintptr_t)ret_ip;                                             \
        csp[1] = (uint64_t)(uintptr_t)fp;                                                 \
        csp[2] = (uint64_t)(uintptr_t)inst;                                               \
        csp[3] = (uint64_t)(uintptr_t)cold.memo;                                          \
        if (callee->nzero)                                                                \
            memset(nfp + callee->nparams, 0, WASM_CALL_ZERO * sizeof *nfp);               \
        fp = nfp;                                                                         \
        ip = callee->ops + callee->entry;                                                 \
    } while (0)
L_CALL:
    /* a function of this module: same instance */
    memcpy(&callee, &I(0), sizeof callee);
    nfp = fp + I(OP_HW);
    ret_ip = ip + OP_HW + OP_HW + 1;
    ENTER();
    DISPATCH();
L_CALL_IMPORT:
    f = inst->funcs[I(0)];
    nfp = fp + I(1);
    ret_ip = ip + OP_HW + 2;
    goto call_func;
L_CALL_INDIRECT : {
    const wasm_functype *want;
    memcpy(&want, &I(0), sizeof want);
    wasm_table *t = inst->tables[I(OP_HW)];
    uint32_t i = (uint32_t)S(OP_HW + 1);
    if (UNLIKELY(i >= t->size))
        TRAP(WASM_TRAP_UNDEFINED_ELEMENT);
    f = t->elems[i];
    if (UNLIKELY(!f))
        TRAP(WASM_TRAP_UNINITIALIZED);
    if (f->type != want && !wasm_functype_equal(f->type, want))
        TRAP(WASM_TRAP_INDIRECT_TYPE);
    nfp = fp + I(OP_HW + 2);
    ret_ip = ip + OP_HW + OP_HW + 3;
    goto call_func;
}
call_func:
    if (UNLIKELY(!f->code))
        goto call_host;
    callee = f->code;
    ENTER();
    if (f->inst != inst) {
        inst = f->inst;
        cold.memo = memory_of(inst);
        LOAD_MEM();
    }
    DISPATCH();
call_host : {
    if (UNLIKELY((size_t)(csp - cold.csp_min) < WASM_FRAME_REC))
        TRAP(WASM_TRAP_STACK_EXHAUSTED);
    uint32_t np = f->type->nparams, nr = f->type->nresults;
    uint32_t depth0 = store->depth;
    FUEL_SAVE();
    store->depth = DEPTH();
    store->stack_lo = (size_t)(nfp - cold.stack) + (np > nr ? np : nr);
    store->stack_hi = (size_t)(csp - cold.stack);
    bool ok = wasm_call_host(f, nfp, err);
    store->depth = depth0;
    if (!ok)
        return err->status != WASM_OK ? err->status : WASM_ERR_TRAP;
    FUEL_LOAD(); /* the host function may have run wasm in the store */
    LOAD_MEM();
    ip = ret_ip;
    DISPATCH();
}

    /* ---- data movement ---- */
L_COPY:
    r = S(1);
    S(0) = r;
    NEXT(2);
L_COPY2:
    S(0) = S(1);
    r = S(3);
    S(2) = r;
    NEXT(4);
L_ADD_IMM2:
    S(0) = (uint32_t)((uint32_t)S(1) + I(2));
    r = (uint32_t)((uint32_t)S(4) + I(5));
    S(3) = r;
    NEXT(6);
L_CONST32:
    S(0) = I(1);
    NEXT(2);
L_CONST64:
    S(0) = (uint64_t)I(1) | (uint64_t)I(2) << 32;
    NEXT(3);
L_PROLOGUE : {
    /* zero the locals, load the pool after them; plain loops, as a call to
     * memset or memcpy costs more for the usual few slots */
    uint64_t *d = fp + I(0);
    for (uint32_t n = I(1); n; n--)
        *d++ = 0;
    const uint32_t *s = &I(4);
    for (uint32_t n = I(2); n; n--) {
        uint64_t v;
        memcpy(&v, s, sizeof v);
        *d++ = v;
        s += 2;
    }
    ip = &I(3) + (int32_t)I(3);
    DISPATCH();
}
L_SELECT : {
    uint64_t a = S(1), b = S(2);
    r = (uint32_t)S(3) ? a : b;
    S(0) = r;
    NEXT(4);
}
L_SELECT_R : {
    uint64_t a = S(1), b = S(2);
    r = (uint32_t)r ? a : b;
    S(0) = r;
    NEXT(3);
}
L_SELECT64 : {
    uint64_t a = S(1), b = S(2);
    r = S(3) ? a : b;
    S(0) = r;
    NEXT(4);
}
L_SELECT64_R : {
    uint64_t a = S(1), b = S(2);
    r = r ? a : b;
    S(0) = r;
    NEXT(3);
}
L_GLOBAL_GET:
    r = inst->globals[I(1)]->bits;
    S(0) = r;
    NEXT(2);
L_GLOBAL_SET:
    inst->globals[I(0)]->bits = S(1);
    NEXT(2);

    /* ---- memory ---- */
#define EA(size)                                                      \
    uint64_t ea = (uint64_t)(uint32_t)((uint32_t)S(1) + I(2)) + I(3); \
    if (UNLIKELY(ea + (size) > msize))                                \
        TRAP(WASM_TRAP_MEMORY_OOB);
/* the same with the address base in the register */
#define EA_R(size)                                                 \
    uint64_t ea = (uint64_t)(uint32_t)((uint32_t)r + I(1)) + I(2); \
    if (UNLIKELY(ea + (size) > msize))                             \
        TRAP(WASM_TRAP_MEMORY_OOB);
#define LOAD(name, T, size, conv)    \
    L_##name:                        \
    {                                \
        EA(size);                    \
        T v_;                        \
        memcpy(&v_, mem + ea, size); \
        r = conv(v_);                \
        S(0) = r;                    \
        NEXT(4);                     \
    }                                \
    L_##name##_R:                    \
    {                                \
        EA_R(size);                  \
        T v_;                        \
        memcpy(&v_, mem + ea, size); \
        r = conv(v_);                \
        S(0) = r;                    \
        NEXT(3);                     \
    }
#define STORE(name, T, size)                                              \
    L_##name:                                                             \
    {                                                                     \
        EA(size);                                                         \
        T v_ = (T)S(0);                                                   \
        memcpy(mem + ea, &v_, size);                                      \
        NEXT(4);                                                          \
    }                                                                     \
    L_##name##_R:                                                         \
    {                                                                     \
        uint64_t ea = (uint64_t)(uint32_t)((uint32_t)S(0) + I(1)) + I(2); \
        if (UNLIKELY(ea + (size) > msize))                                \
            TRAP(WASM_TRAP_MEMORY_OOB);                                   \
        T v_ = (T)r;                                                      \
        memcpy(mem + ea, &v_, size);                                      \
        NEXT(3);                                                          \
    }
#define CONV_S8(v) (uint64_t)(int64_t)(v)
#define CONV_U(v)  (uint64_t)(v)
    LOAD(LOAD8S, int8_t, 1, CONV_S8)
    LOAD(LOAD8U, uint8_t, 1, CONV_U)
    LOAD(LOAD16S, int16_t, 2, CONV_S8)
    LOAD(LOAD16U, uint16_t, 2, CONV_U)
    LOAD(LOAD32, uint32_t, 4, CONV_U)
    LOAD(LOAD32S, int32_t, 4, CONV_S8)
    LOAD(LOAD64, uint64_t, 8, CONV_U)
    STORE(STORE8, uint8_t, 1)
    STORE(STORE16, uint16_t, 2)
    STORE(STORE32, uint32_t, 4)
    STORE(STORE64, uint64_t, 8)
L_LEA:
    r = (uint32_t)((uint32_t)S(1) + ((uint32_t)S(2) << (I(3) & 31)) + I(4));
    S(0) = r;
    NEXT(5);
L_LEA_N:
    r = (uint32_t)(((uint32_t)S(1) << (I(2) & 31)) + I(3));
    S(0) = r;
    NEXT(4);
L_LEA_S:
    r = (uint32_t)((uint32_t)S(1) - (uint32_t)S(2) + I(3));
    S(0) = r;
    NEXT(4);
/* the three address forms: the 32-bit sum, then the offset in 64 bits */
#define XA_X  (uint32_t)((uint32_t)S(1) + ((uint32_t)S(2) << (I(3) & 31)) + I(4))
#define XA_XN (uint32_t)(((uint32_t)S(1) << (I(2) & 31)) + I(3))
#define XA_XS (uint32_t)((uint32_t)S(1) - (uint32_t)S(2) + I(3))
#define XMEM_LOAD(sfx, n, T, size, conv)             \
    {                                                \
        uint64_t ea = (uint64_t)XA_##sfx + I(n - 1); \
        if (UNLIKELY(ea + (size) > msize))           \
            TRAP(WASM_TRAP_MEMORY_OOB);              \
        T v_;                                        \
        memcpy(&v_, mem + ea, size);                 \
        r = conv(v_);                                \
        S(0) = r;                                    \
        NEXT(n);                                     \
    }
#define XMEM_STORE(sfx, n, T, size)                  \
    {                                                \
        uint64_t ea = (uint64_t)XA_##sfx + I(n - 1); \
        if (UNLIKELY(ea + (size) > msize))           \
            TRAP(WASM_TRAP_MEMORY_OOB);              \
        T v_ = (T)S(0);                              \
        memcpy(mem + ea, &v_, size);                 \
        NEXT(n);                                     \
    }
// clang-format off
#define LOAD_X(name, T, size, conv)                                                                \
    L_##name##_X:  XMEM_LOAD(X, 6, T, size, conv)                                                  \
    L_##name##_XN: XMEM_LOAD(XN, 5, T, size, conv)                                                 \
    L_##name##_XS: XMEM_LOAD(XS, 5, T, size, conv)
#define STORE_X(name, T, size)                                                                     \
    L_##name##_X:  XMEM_STORE(X, 6, T, size)                                                       \
    L_##name##_XN: XMEM_STORE(XN, 5, T, size)                                                      \
    L_##name##_XS: XMEM_STORE(XS, 5, T, size)
    // clang-format on
    LOAD_X(LOAD8S, int8_t, 1, CONV_S8)
    LOAD_X(LOAD8U, uint8_t, 1, CONV_U)
    LOAD_X(LOAD16S, int16_t, 2, CONV_S8)
    LOAD_X(LOAD16U, uint16_t, 2, CONV_U)
    LOAD_X(LOAD32, uint32_t, 4, CONV_U)
    LOAD_X(LOAD32S, int32_t, 4, CONV_S8)
    LOAD_X(LOAD64, uint64_t, 8, CONV_U)
    STORE_X(STORE8, uint8_t, 1)
    STORE_X(STORE16, uint16_t, 2)
    STORE_X(STORE32, uint32_t, 4)
    STORE_X(STORE64, uint64_t, 8)
#define XMEM_LOADF(sfx, n)                           \
    {                                                \
        uint64_t ea = (uint64_t)XA_##sfx + I(n - 1); \
        if (UNLIKELY(ea + 8 > msize))                \
            TRAP(WASM_TRAP_MEMORY_OOB);              \
        memcpy(&fd, mem + ea, 8);                    \
        memcpy(&S(0), &fd, 8);                       \
        NEXT(n);                                     \
    }
L_LOAD64F_X:
    XMEM_LOADF(X, 6)
L_LOAD64F_XN:
    XMEM_LOADF(XN, 5)
L_LOAD64F_XS:
    XMEM_LOADF(XS, 5)
L_LOAD64F : {
    EA(8);
    memcpy(&fd, mem + ea, 8);
    memcpy(&S(0), &fd, 8);
    NEXT(4);
}
L_LOAD64F_R : {
    EA_R(8);
    memcpy(&fd, mem + ea, 8);
    memcpy(&S(0), &fd, 8);
    NEXT(3);
}
#define STORE_AR(name, T, size)      \
    L_##name##_AR:                   \
    {                                \
        EA_R(size);                  \
        T v_ = (T)S(0);              \
        memcpy(mem + ea, &v_, size); \
        NEXT(3);                     \
    }
    STORE_AR(STORE8, uint8_t, 1)
    STORE_AR(STORE16, uint16_t, 2)
    STORE_AR(STORE32, uint32_t, 4)
    STORE_AR(STORE64, uint64_t, 8)
L_STORE64_F : {
    uint64_t ea = (uint64_t)(uint32_t)((uint32_t)S(0) + I(1)) + I(2);
    if (UNLIKELY(ea + 8 > msize))
        TRAP(WASM_TRAP_MEMORY_OOB);
    memcpy(mem + ea, &fd, 8);
    NEXT(3);
}

L_MEMORY_SIZE:
    S(0) = (uint32_t)(msize / WASM_PAGE_SIZE);
    NEXT(1);
L_MEMORY_GROW : {
    /* a grow the limits refuse does nothing, so it costs nothing more; whether
     * the host then finds the memory does not change what was charged */
    wasm_memory *m = inst->mems[0];
    uint32_t delta = (uint32_t)S(1);
    int64_t old = -1;
    if (wasm_memory_grow_fits(m, delta)) {
        CHARGE((uint64_t)delta * WASM_FUEL_PAGE);
        old = wasm_memory_grow(m, delta);
    }
    S(0) = (uint32_t)(int32_t)old;
    LOAD_MEM();
    NEXT(2);
}
L_MEMORY_INIT : {
    uint32_t seg = I(0);
    uint64_t d = (uint32_t)S(1), s = (uint32_t)S(2), n = (uint32_t)S(3);
    if (UNLIKELY(s + n > inst->data_len[seg] || d + n > msize))
        TRAP(WASM_TRAP_MEMORY_OOB);
    CHARGE(2 * wasm_fuel_bytes(n)); /* reads n, writes n */
    if (n)
        memcpy(mem + d, inst->module->datas[seg].bytes + s, (size_t)n);
    NEXT(4);
}
L_DATA_DROP:
    inst->data_len[I(0)] = 0;
    NEXT(1);
L_MEMORY_COPY : {
    uint64_t d = (uint32_t)S(0), s = (uint32_t)S(1), n = (uint32_t)S(2);
    if (UNLIKELY(d + n > msize || s + n > msize))
        TRAP(WASM_TRAP_MEMORY_OOB);
    CHARGE(2 * wasm_fuel_bytes(n)); /* reads n, writes n */
    if (n)
        memmove(mem + d, mem + s, (size_t)n);
    NEXT(3);
}
L_MEMORY_FILL : {
    uint64_t d = (uint32_t)S(0), n = (uint32_t)S(2);
    if (UNLIKELY(d + n > msize))
        TRAP(WASM_TRAP_MEMORY_OOB);
    CHARGE(wasm_fuel_bytes(n));
    if (n)
        memset(mem + d, (uint8_t)S(1), (size_t)n);
    NEXT(3);
}

    /* ---- tables and references ---- */
L_TABLE_GET : {
    wasm_table *t = inst->tables[I(1)];
    uint32_t i = (uint32_t)S(2);
    if (UNLIKELY(i >= t->size))
        TRAP(WASM_TRAP_TABLE_OOB);
    S(0) = (uint64_t)(uintptr_t)t->elems[i];
    NEXT(3);
}
L_TABLE_SET : {
    wasm_table *t = inst->tables[I(0)];
    uint32_t i = (uint32_t)S(1);
    if (UNLIKELY(i >= t->size))
        TRAP(WASM_TRAP_TABLE_OOB);
    t->elems[i] = (void *)(uintptr_t)S(2);
    NEXT(3);
}
L_TABLE_SIZE:
    S(0) = inst->tables[I(1)]->size;
    NEXT(2);
L_TABLE_GROW : {
    /* as memory.grow: refused grows cost nothing more */
    wasm_table *t = inst->tables[I(1)];
    uint32_t delta = (uint32_t)S(3);
    int64_t old = -1;
    if (wasm_table_grow_fits(t, delta)) {
        CHARGE((uint64_t)delta * WASM_FUEL_ELEM);
        old = wasm_table_grow(t, delta, (void *)(uintptr_t)S(2));
    }
    S(0) = (uint32_t)(int32_t)old;
    NEXT(4);
}
L_TABLE_FILL : {
    wasm_table *t = inst->tables[I(0)];
    uint64_t i = (uint32_t)S(1), n = (uint32_t)S(3);
    void *v = (void *)(uintptr_t)S(2);
    if (UNLIKELY(i + n > t->size))
        TRAP(WASM_TRAP_TABLE_OOB);
    CHARGE(n * WASM_FUEL_ELEM);
    for (uint64_t k = 0; k < n; k++)
        t->elems[i + k] = v;
    NEXT(4);
}
L_TABLE_COPY : {
    wasm_table *dt = inst->tables[I(0)], *st = inst->tables[I(1)];
    uint64_t d = (uint32_t)S(2), s = (uint32_t)S(3), n = (uint32_t)S(4);
    if (UNLIKELY(d + n > dt->size || s + n > st->size))
        TRAP(WASM_TRAP_TABLE_OOB);
    CHARGE(n * WASM_FUEL_ELEM);
    if (n)
        memmove(dt->elems + d, st->elems + s, (size_t)n * sizeof(void *));
    NEXT(5);
}
L_TABLE_INIT : {
    wasm_table *t = inst->tables[I(0)];
    uint32_t seg = I(1);
    uint64_t d = (uint32_t)S(2), s = (uint32_t)S(3), n = (uint32_t)S(4);
    if (UNLIKELY(s + n > inst->elem_len[seg] || d + n > t->size))
        TRAP(WASM_TRAP_TABLE_OOB);
    CHARGE(n * WASM_FUEL_ELEM);
    if (n)
        memcpy(t->elems + d, inst->elem_refs[seg] + s, (size_t)n * sizeof(void *));
    NEXT(5);
}
L_ELEM_DROP:
    inst->elem_len[I(0)] = 0;
    NEXT(1);
L_REF_FUNC:
    S(0) = (uint64_t)(uintptr_t)inst->funcs[I(1)];
    NEXT(2);
L_REF_IS_NULL:
    r = S(1) == 0;
    S(0) = r;
    NEXT(2);

    /* ---- integer comparisons, plain, with an immediate, and fused with br_if ---- */
#define CMP_EQ(T, a, b)   ((T)(a) == (T)(b))
#define CMP_NE(T, a, b)   ((T)(a) != (T)(b))
#define CMP_LT_S(T, a, b) ((T##_s)(a) < (T##_s)(b))
#define CMP_LT_U(T, a, b) ((T)(a) < (T)(b))
#define CMP_GT_S(T, a, b) ((T##_s)(a) > (T##_s)(b))
#define CMP_GT_U(T, a, b) ((T)(a) > (T)(b))
#define CMP_LE_S(T, a, b) ((T##_s)(a) <= (T##_s)(b))
#define CMP_LE_U(T, a, b) ((T)(a) <= (T)(b))
#define CMP_GE_S(T, a, b) ((T##_s)(a) >= (T##_s)(b))
#define CMP_GE_U(T, a, b) ((T)(a) >= (T)(b))
    typedef uint32_t u32;
    typedef int32_t u32_s;
    typedef uint64_t u64;
    typedef int64_t u64_s;
#define CMP_HANDLERS(X, cc)                                               \
    L_I32_##cc : r = CMP_##cc(u32, S(1), S(2));                           \
    S(0) = r;                                                             \
    NEXT(3);                                                              \
    L_I32_##cc##_IMM : r = CMP_##cc(u32, S(1), I(2));                     \
    S(0) = r;                                                             \
    NEXT(3);                                                              \
    L_I32_##cc##_R : r = CMP_##cc(u32, r, S(1));                          \
    S(0) = r;                                                             \
    NEXT(2);                                                              \
    L_I32_##cc##_RI : r = CMP_##cc(u32, r, I(1));                         \
    S(0) = r;                                                             \
    NEXT(2);                                                              \
    L_I64_##cc : r = CMP_##cc(u64, S(1), S(2));                           \
    S(0) = r;                                                             \
    NEXT(3);                                                              \
    L_I64_##cc##_IMM : r = CMP_##cc(u64, S(1), sx32(I(2)));               \
    S(0) = r;                                                             \
    NEXT(3);                                                              \
    L_I64_##cc##_R : r = CMP_##cc(u64, r, S(1));                          \
    S(0) = r;                                                             \
    NEXT(2);                                                              \
    L_I64_##cc##_RI : r = CMP_##cc(u64, r, sx32(I(1)));                   \
    S(0) = r;                                                             \
    NEXT(2);                                                              \
    L_BR_I32_##cc##_R : if (CMP_##cc(u32, r, S(0))) BRANCH(1);            \
    NEXT(2);                                                              \
    L_BR_I32_##cc##_RI : if (CMP_##cc(u32, r, I(0))) BRANCH(1);           \
    NEXT(2);                                                              \
    L_BR_I64_##cc##_R : if (CMP_##cc(u64, r, S(0))) BRANCH(1);            \
    NEXT(2);                                                              \
    L_BR_I64_##cc##_RI : if (CMP_##cc(u64, r, sx32(I(0)))) BRANCH(1);     \
    NEXT(2);                                                              \
    L_BRA_I32_##cc:                                                       \
    {                                                                     \
        uint32_t x_ = (uint32_t)S(0) + (uint32_t)S(1);                    \
        S(0) = x_;                                                        \
        if (CMP_##cc(u32, x_, S(2)))                                      \
            BRANCH(3);                                                    \
        NEXT(4);                                                          \
    }                                                                     \
    L_BRA_I32_##cc##_IMM:                                                 \
    {                                                                     \
        uint32_t x_ = (uint32_t)S(0) + (uint32_t)S(1);                    \
        S(0) = x_;                                                        \
        if (CMP_##cc(u32, x_, I(2)))                                      \
            BRANCH(3);                                                    \
        NEXT(4);                                                          \
    }                                                                     \
    L_BR_I32_##cc : if (CMP_##cc(u32, S(0), S(1))) BRANCH(2);             \
    NEXT(3);                                                              \
    L_BR_I32_##cc##_IMM : if (CMP_##cc(u32, S(0), I(1))) BRANCH(2);       \
    NEXT(3);                                                              \
    L_BR_I64_##cc : if (CMP_##cc(u64, S(0), S(1))) BRANCH(2);             \
    NEXT(3);                                                              \
    L_BR_I64_##cc##_IMM : if (CMP_##cc(u64, S(0), sx32(I(1)))) BRANCH(2); \
    NEXT(3);                                                              \
    L_BRI_I32_##cc:                                                       \
    {                                                                     \
        uint32_t x_ = (uint32_t)S(0) + I(1);                              \
        S(0) = x_;                                                        \
        if (CMP_##cc(u32, x_, S(2)))                                      \
            BRANCH(3);                                                    \
        NEXT(4);                                                          \
    }                                                                     \
    L_BRI_I32_##cc##_IMM:                                                 \
    {                                                                     \
        uint32_t x_ = (uint32_t)S(0) + I(1);                              \
        S(0) = x_;                                                        \
        if (CMP_##cc(u32, x_, I(2)))                                      \
            BRANCH(3);                                                    \
        NEXT(4);                                                          \
    }                                                                     \
    L_BRI_I64_##cc:                                                       \
    {                                                                     \
        uint64_t x_ = S(0) + sx32(I(1));                                  \
        S(0) = x_;                                                        \
        if (CMP_##cc(u64, x_, S(2)))                                      \
            BRANCH(3);                                                    \
        NEXT(4);                                                          \
    }                                                                     \
    L_BRI_I64_##cc##_IMM:                                                 \
    {                                                                     \
        uint64_t x_ = S(0) + sx32(I(1));                                  \
        S(0) = x_;                                                        \
        if (CMP_##cc(u64, x_, sx32(I(2))))                                \
            BRANCH(3);                                                    \
        NEXT(4);                                                          \
    }
    WASM_ICMPS(CMP_HANDLERS, _)

    /* ---- i32 ---- */
/* Operand sources: slot k, immediate k, register. Results go to r and slot 0. */
#define BODY32(src_a, src_b, n, expr)                          \
    {                                                          \
        uint32_t a = (uint32_t)(src_a), b = (uint32_t)(src_b); \
        r = (uint32_t)(expr);                                  \
        S(0) = r;                                              \
        NEXT(n);                                               \
    }
#define UN32(name, expr)             \
    L_##name:                        \
    {                                \
        uint32_t a = (uint32_t)S(1); \
        r = (uint32_t)(expr);        \
        S(0) = r;                    \
        NEXT(2);                     \
    }
#define BIN32(name, expr) L_##name : BODY32(S(1), S(2), 3, expr)
// clang-format off
#define BIN32_BOTH(name, expr)                                                                     \
    BIN32(name, expr)                                                                              \
    L_##name##_IMM: BODY32(S(1), I(2), 3, expr)                                                    \
    L_##name##_R:   BODY32(r, S(1), 2, expr)                                                       \
    L_##name##_RI:  BODY32(r, I(1), 2, expr)                                                       \
    L_##name##_SR:  BODY32(S(1), r, 2, expr)
    // clang-format on

    UN32(I32_EQZ, a == 0)
L_I32_EQZ_R:
    r = (uint32_t)r == 0;
    S(0) = r;
    NEXT(1);
    UN32(I32_CLZ, a ? (uint32_t)__builtin_clz(a) : 32u)
    UN32(I32_CTZ, a ? (uint32_t)__builtin_ctz(a) : 32u)
    UN32(I32_POPCNT, (uint32_t)__builtin_popcount(a))
    BIN32_BOTH(I32_ADD, a + b)
    BIN32_BOTH(I32_SUB, a - b)
    BIN32_BOTH(I32_MUL, a * b)
    BIN32_BOTH(I32_AND, a & b)
    BIN32_BOTH(I32_OR, a | b)
    BIN32_BOTH(I32_XOR, a ^ b)
    BIN32_BOTH(I32_SHL, a << (b & 31))
    BIN32_BOTH(I32_SHR_S, (uint32_t)((int32_t)a >> (b & 31)))
    BIN32_BOTH(I32_SHR_U, a >> (b & 31))
    BIN32_BOTH(I32_ROTL, rotl32(a, b))
    BIN32_BOTH(I32_ROTR, rotr32(a, b))
L_I32_MULADD:
    r = (uint32_t)((uint32_t)S(1) * (uint32_t)S(2) + (uint32_t)S(3));
    S(0) = r;
    NEXT(4);
L_I32_MULADD_R:
    r = (uint32_t)((uint32_t)r * (uint32_t)S(1) + (uint32_t)S(2));
    S(0) = r;
    NEXT(3);
L_I32_MULADD_IMM:
    r = (uint32_t)((uint32_t)S(1) * I(2) + (uint32_t)S(3));
    S(0) = r;
    NEXT(4);
L_I32_MULADD_RI:
    r = (uint32_t)((uint32_t)r * I(1) + (uint32_t)S(2));
    S(0) = r;
    NEXT(3);
L_I32_DIV_S : {
    int32_t a = (int32_t)(uint32_t)S(1), b = (int32_t)(uint32_t)S(2);
    if (UNLIKELY(b == 0))
        TRAP(WASM_TRAP_DIV_ZERO);
    if (UNLIKELY(a == INT32_MIN && b == -1))
        TRAP(WASM_TRAP_INT_OVERFLOW);
    r = (uint32_t)(a / b);
    S(0) = r;
    NEXT(3);
}
L_I32_DIV_U : {
    uint32_t a = (uint32_t)S(1), b = (uint32_t)S(2);
    if (UNLIKELY(b == 0))
        TRAP(WASM_TRAP_DIV_ZERO);
    r = a / b;
    S(0) = r;
    NEXT(3);
}
L_I32_REM_S : {
    int32_t a = (int32_t)(uint32_t)S(1), b = (int32_t)(uint32_t)S(2);
    if (UNLIKELY(b == 0))
        TRAP(WASM_TRAP_DIV_ZERO);
    r = b == -1 ? 0 : (uint32_t)(a % b);
    S(0) = r;
    NEXT(3);
}
L_I32_REM_U : {
    uint32_t a = (uint32_t)S(1), b = (uint32_t)S(2);
    if (UNLIKELY(b == 0))
        TRAP(WASM_TRAP_DIV_ZERO);
    r = a % b;
    S(0) = r;
    NEXT(3);
}

/* ---- i64 ---- */
#define BODY64(src_a, src_b, n, expr)      \
    {                                      \
        uint64_t a = (src_a), b = (src_b); \
        r = (uint64_t)(expr);              \
        S(0) = r;                          \
        NEXT(n);                           \
    }
#define UN64(name, expr)      \
    L_##name:                 \
    {                         \
        uint64_t a = S(1);    \
        r = (uint64_t)(expr); \
        S(0) = r;             \
        NEXT(2);              \
    }
// clang-format off
#define BIN64_BOTH(name, expr)                                                                     \
    L_##name:       BODY64(S(1), S(2), 3, expr)                                                    \
    L_##name##_IMM: BODY64(S(1), sx32(I(2)), 3, expr)                                              \
    L_##name##_R:   BODY64(r, S(1), 2, expr)                                                       \
    L_##name##_RI:  BODY64(r, sx32(I(1)), 2, expr)                                                 \
    L_##name##_SR:  BODY64(S(1), r, 2, expr)
    // clang-format on

    UN64(I64_EQZ, a == 0)
L_I64_EQZ_R:
    r = r == 0;
    S(0) = r;
    NEXT(1);
    UN64(I64_CLZ, a ? (uint64_t)__builtin_clzll(a) : 64u)
    UN64(I64_CTZ, a ? (uint64_t)__builtin_ctzll(a) : 64u)
    UN64(I64_POPCNT, (uint64_t)__builtin_popcountll(a))
    BIN64_BOTH(I64_ADD, a + b)
    BIN64_BOTH(I64_SUB, a - b)
    BIN64_BOTH(I64_MUL, a * b)
    BIN64_BOTH(I64_AND, a & b)
    BIN64_BOTH(I64_OR, a | b)
    BIN64_BOTH(I64_XOR, a ^ b)
    BIN64_BOTH(I64_SHL, a << (b & 63))
    BIN64_BOTH(I64_SHR_S, (uint64_t)((int64_t)a >> (b & 63)))
    BIN64_BOTH(I64_SHR_U, a >> (b & 63))
    BIN64_BOTH(I64_ROTL, rotl64(a, b))
    BIN64_BOTH(I64_ROTR, rotr64(a, b))
L_I64_MULADD:
    r = S(1) * S(2) + S(3);
    S(0) = r;
    NEXT(4);
L_I64_MULADD_R:
    r = r * S(1) + S(2);
    S(0) = r;
    NEXT(3);
L_I64_MULADD_IMM:
    r = S(1) * sx32(I(2)) + S(3);
    S(0) = r;
    NEXT(4);
L_I64_MULADD_RI:
    r = r * sx32(I(1)) + S(2);
    S(0) = r;
    NEXT(3);
L_I64_DIV_S : {
    int64_t a = (int64_t)S(1), b = (int64_t)S(2);
    if (UNLIKELY(b == 0))
        TRAP(WASM_TRAP_DIV_ZERO);
    if (UNLIKELY(a == INT64_MIN && b == -1))
        TRAP(WASM_TRAP_INT_OVERFLOW);
    r = (uint64_t)(a / b);
    S(0) = r;
    NEXT(3);
}
L_I64_DIV_U : {
    uint64_t a = S(1), b = S(2);
    if (UNLIKELY(b == 0))
        TRAP(WASM_TRAP_DIV_ZERO);
    r = a / b;
    S(0) = r;
    NEXT(3);
}
L_I64_REM_S : {
    int64_t a = (int64_t)S(1), b = (int64_t)S(2);
    if (UNLIKELY(b == 0))
        TRAP(WASM_TRAP_DIV_ZERO);
    r = b == -1 ? 0 : (uint64_t)(a % b);
    S(0) = r;
    NEXT(3);
}
L_I64_REM_U : {
    uint64_t a = S(1), b = S(2);
    if (UNLIKELY(b == 0))
        TRAP(WASM_TRAP_DIV_ZERO);
    r = a % b;
    S(0) = r;
    NEXT(3);
}

/* ---- f32 / f64 ---- */
/* FUN / FBIN / FBODY / FMEM: float arithmetic, NaN results canonical */
#define FUN32(name, expr)       \
    L_##name:                   \
    {                           \
        float a = f32_of(S(1)); \
        S(0) = canon32(expr);   \
        NEXT(2);                \
    }
#define FBIN32(name, expr)                        \
    L_##name:                                     \
    {                                             \
        float a = f32_of(S(1)), b = f32_of(S(2)); \
        S(0) = canon32(expr);                     \
        NEXT(3);                                  \
    }
#define FCMP32(name, op)                         \
    L_##name : r = f32_of(S(1)) op f32_of(S(2)); \
    S(0) = r;                                    \
    NEXT(3);
#define FUN64(name, expr)        \
    L_##name:                    \
    {                            \
        double a = f64_of(S(1)); \
        fd = canon64(expr);      \
        S(0) = f64_bits(fd);     \
        NEXT(2);                 \
    }
#define FBODY64(src_a, src_b, n, expr)   \
    {                                    \
        double a = (src_a), b = (src_b); \
        fd = canon64(expr);              \
        S(0) = f64_bits(fd);             \
        NEXT(n);                         \
    }
#define FBIN64(name, expr) L_##name : FBODY64(f64_of(S(1)), f64_of(S(2)), 3, expr)
#define FCMP64(name, op)                         \
    L_##name : r = f64_of(S(1)) op f64_of(S(2)); \
    S(0) = r;                                    \
    NEXT(3);                                     \
    L_##name##_R : r = fd op f64_of(S(1));       \
    S(0) = r;                                    \
    NEXT(2);

    FCMP32(F32_EQ, ==)
    FCMP32(F32_NE, !=)
    FCMP32(F32_LT, <)
    FCMP32(F32_GT, >)
    FCMP32(F32_LE, <=)
    FCMP32(F32_GE, >=)
L_F32_ABS:
    S(0) = (uint32_t)S(1) & 0x7fffffffu;
    NEXT(2);
L_F32_NEG:
    S(0) = (uint32_t)S(1) ^ 0x80000000u;
    NEXT(2);
L_F32_COPYSIGN:
    S(0) = ((uint32_t)S(1) & 0x7fffffffu) | ((uint32_t)S(2) & 0x80000000u);
    NEXT(3);
    FUN32(F32_CEIL, ceilf(a))
    FUN32(F32_FLOOR, floorf(a))
    FUN32(F32_TRUNC, truncf(a))
    FUN32(F32_NEAREST, nearbyintf(a))
    FUN32(F32_SQRT, sqrtf(a))
    FBIN32(F32_ADD, a + b)
    FBIN32(F32_SUB, a - b)
    FBIN32(F32_MUL, a * b)
    FBIN32(F32_DIV, a / b)
    FBIN32(F32_MIN, f32_min(a, b))
    FBIN32(F32_MAX, f32_max(a, b))

    FCMP64(F64_EQ, ==)
    FCMP64(F64_NE, !=)
    FCMP64(F64_LT, <)
    FCMP64(F64_GT, >)
    FCMP64(F64_LE, <=)
    FCMP64(F64_GE, >=)
L_F64_ABS:
    S(0) = S(1) & 0x7fffffffffffffffull;
    fd = f64_of(S(0));
    NEXT(2);
L_F64_NEG:
    S(0) = S(1) ^ 0x8000000000000000ull;
    fd = f64_of(S(0));
    NEXT(2);
L_F64_COPYSIGN:
    S(0) = (S(1) & 0x7fffffffffffffffull) | (S(2) & 0x8000000000000000ull);
    fd = f64_of(S(0));
    NEXT(3);
L_F64_ABS_R:
    S(0) = f64_bits(fd) & 0x7fffffffffffffffull;
    fd = f64_of(S(0));
    NEXT(1);
L_F64_NEG_R:
    S(0) = f64_bits(fd) ^ 0x8000000000000000ull;
    fd = f64_of(S(0));
    NEXT(1);
L_F64_SQRT_R:
    fd = canon64(sqrt(fd));
    S(0) = f64_bits(fd);
    NEXT(1);
L_F64_ADD_R:
    FBODY64(fd, f64_of(S(1)), 2, a + b)
L_F64_SUB_R:
    FBODY64(fd, f64_of(S(1)), 2, a - b)
L_F64_MUL_R:
    FBODY64(fd, f64_of(S(1)), 2, a * b)
L_F64_DIV_R:
    FBODY64(fd, f64_of(S(1)), 2, a / b)
L_F64_MULADD : {
    double p = f64_of(S(1)) * f64_of(S(2));
    fd = canon64(p + f64_of(S(3)));
    S(0) = f64_bits(fd);
    NEXT(4);
}
L_F64_MULADD_R : {
    double p = fd * f64_of(S(1));
    fd = canon64(p + f64_of(S(2)));
    S(0) = f64_bits(fd);
    NEXT(3);
}
L_F64_SUB_SR:
    FBODY64(f64_of(S(1)), fd, 2, a - b)
L_F64_DIV_SR:
    FBODY64(f64_of(S(1)), fd, 2, a / b)
/* the memory operand: f64 at (u32)(S(k) + I(k+1)) + I(k+2) */
#define MEM_F64(k, out)                                                                \
    do {                                                                               \
        uint64_t ea_ = (uint64_t)(uint32_t)((uint32_t)S(k) + I((k) + 1)) + I((k) + 2); \
        if (UNLIKELY(ea_ + 8 > msize))                                                 \
            TRAP(WASM_TRAP_MEMORY_OOB);                                                \
        memcpy(&(out), mem + ea_, 8);                                                  \
    } while (0)
#define FMEM(name, words, k, A, B, expr) \
    L_##name:                            \
    {                                    \
        double m_;                       \
        MEM_F64(k, m_);                  \
        double a = (A), b = (B);         \
        fd = canon64(expr);              \
        S(0) = f64_bits(fd);             \
        NEXT(words);                     \
    }
    FMEM(F64_ADD_RM, 4, 1, fd, m_, a + b)
    FMEM(F64_SUB_RM, 4, 1, fd, m_, a - b)
    FMEM(F64_MUL_RM, 4, 1, fd, m_, a * b)
    FMEM(F64_DIV_RM, 4, 1, fd, m_, a / b)
    FMEM(F64_SUB_MR, 4, 1, m_, fd, a - b)
    FMEM(F64_DIV_MR, 4, 1, m_, fd, a / b)
    FMEM(F64_ADD_SM, 5, 2, f64_of(S(1)), m_, a + b)
    FMEM(F64_SUB_SM, 5, 2, f64_of(S(1)), m_, a - b)
    FMEM(F64_MUL_SM, 5, 2, f64_of(S(1)), m_, a * b)
    FMEM(F64_DIV_SM, 5, 2, f64_of(S(1)), m_, a / b)
    FMEM(F64_SUB_MS, 5, 2, m_, f64_of(S(1)), a - b)
    FMEM(F64_DIV_MS, 5, 2, m_, f64_of(S(1)), a / b)
    FUN64(F64_CEIL, ceil(a))
    FUN64(F64_FLOOR, floor(a))
    FUN64(F64_TRUNC, trunc(a))
    FUN64(F64_NEAREST, nearbyint(a))
    FUN64(F64_SQRT, sqrt(a))
    FBIN64(F64_ADD, a + b)
    FBIN64(F64_SUB, a - b)
    FBIN64(F64_MUL, a * b)
    FBIN64(F64_DIV, a / b)
    FBIN64(F64_MIN, f64_min(a, b))
    FBIN64(F64_MAX, f64_max(a, b))

    /* ---- conversions ---- */
    /* trapping truncations: NaN is an invalid conversion, anything whose
     * truncation falls outside the target range overflows; `lo < x < hi` are
     * the exact open bounds */
#define TRUNC(name, FT, of, lo, hi, T, store_expr) \
    L_##name:                                      \
    {                                              \
        FT x = of(S(1));                           \
        if (UNLIKELY(isnan(x)))                    \
            TRAP(WASM_TRAP_INVALID_CONV);          \
        if (UNLIKELY(!(x > (lo) && x < (hi))))     \
            TRAP(WASM_TRAP_INT_OVERFLOW);          \
        r = store_expr((T)x);                      \
        S(0) = r;                                  \
        NEXT(2);                                   \
    }
#define ST_U32(v) (uint64_t)(uint32_t)(v)
#define ST_U64(v) (uint64_t)(v)
    TRUNC(I32_TRUNC_F32_S, float, f32_of, -2147483904.0f, 2147483648.0f, int32_t, ST_U32)
    TRUNC(I32_TRUNC_F32_U, float, f32_of, -1.0f, 4294967296.0f, uint32_t, ST_U32)
    TRUNC(I32_TRUNC_F64_S, double, f64_of, -2147483649.0, 2147483648.0, int32_t, ST_U32)
    TRUNC(I32_TRUNC_F64_U, double, f64_of, -1.0, 4294967296.0, uint32_t, ST_U32)
    TRUNC(I64_TRUNC_F32_S, float, f32_of, -9223373136366403584.0f, 9223372036854775808.0f, int64_t,
          ST_U64)
    TRUNC(I64_TRUNC_F32_U, float, f32_of, -1.0f, 18446744073709551616.0f, uint64_t, ST_U64)
    TRUNC(I64_TRUNC_F64_S, double, f64_of, -9223372036854777856.0, 9223372036854775808.0, int64_t,
          ST_U64)
    TRUNC(I64_TRUNC_F64_U, double, f64_of, -1.0, 18446744073709551616.0, uint64_t, ST_U64)
#define TRUNC_R(name, lo, hi, T, store_expr)   \
    L_##name##_R:                              \
    {                                          \
        double x = fd;                         \
        if (UNLIKELY(isnan(x)))                \
            TRAP(WASM_TRAP_INVALID_CONV);      \
        if (UNLIKELY(!(x > (lo) && x < (hi)))) \
            TRAP(WASM_TRAP_INT_OVERFLOW);      \
        r = store_expr((T)x);                  \
        S(0) = r;                              \
        NEXT(1);                               \
    }
    TRUNC_R(I32_TRUNC_F64_S, -2147483649.0, 2147483648.0, int32_t, ST_U32)
    TRUNC_R(I32_TRUNC_F64_U, -1.0, 4294967296.0, uint32_t, ST_U32)
    TRUNC_R(I64_TRUNC_F64_S, -9223372036854777856.0, 9223372036854775808.0, int64_t, ST_U64)
    TRUNC_R(I64_TRUNC_F64_U, -1.0, 18446744073709551616.0, uint64_t, ST_U64)
L_I32_TRUNC_SAT_F32_S:
    r = sat_i32_s(f32_of(S(1)));
    S(0) = r;
    NEXT(2);
L_I32_TRUNC_SAT_F32_U:
    r = sat_i32_u(f32_of(S(1)));
    S(0) = r;
    NEXT(2);
L_I32_TRUNC_SAT_F64_S:
    r = sat_i32_s(f64_of(S(1)));
    S(0) = r;
    NEXT(2);
L_I32_TRUNC_SAT_F64_U:
    r = sat_i32_u(f64_of(S(1)));
    S(0) = r;
    NEXT(2);
L_I64_TRUNC_SAT_F32_S:
    r = sat_i64_s(f32_of(S(1)));
    S(0) = r;
    NEXT(2);
L_I64_TRUNC_SAT_F32_U:
    r = sat_i64_u(f32_of(S(1)));
    S(0) = r;
    NEXT(2);
L_I64_TRUNC_SAT_F64_S:
    r = sat_i64_s(f64_of(S(1)));
    S(0) = r;
    NEXT(2);
L_I64_TRUNC_SAT_F64_U:
    r = sat_i64_u(f64_of(S(1)));
    S(0) = r;
    NEXT(2);
L_I64_EXTEND_I32_S:
    r = sx32((uint32_t)S(1));
    S(0) = r;
    NEXT(2);
L_I64_EXTEND_I32_U:
    r = (uint32_t)S(1);
    S(0) = r;
    NEXT(2);
L_I64_EXTEND_I32_S_R:
    r = sx32((uint32_t)r);
    S(0) = r;
    NEXT(1);
L_I64_EXTEND_I32_U_R:
    r = (uint32_t)r;
    S(0) = r;
    NEXT(1);
L_F32_CONVERT_I32_S:
    S(0) = f32_bits((float)(int32_t)(uint32_t)S(1));
    NEXT(2);
L_F32_CONVERT_I32_U:
    S(0) = f32_bits((float)(uint32_t)S(1));
    NEXT(2);
L_F32_CONVERT_I64_S:
    S(0) = f32_bits((float)(int64_t)S(1));
    NEXT(2);
L_F32_CONVERT_I64_U:
    S(0) = f32_bits((float)S(1));
    NEXT(2);
L_F32_DEMOTE_F64:
    S(0) = canon32((float)f64_of(S(1)));
    NEXT(2);
L_F64_CONVERT_I32_S:
    fd = (double)(int32_t)(uint32_t)S(1);
    S(0) = f64_bits(fd);
    NEXT(2);
L_F64_CONVERT_I32_U:
    fd = (double)(uint32_t)S(1);
    S(0) = f64_bits(fd);
    NEXT(2);
L_F64_CONVERT_I64_S:
    fd = (double)(int64_t)S(1);
    S(0) = f64_bits(fd);
    NEXT(2);
L_F64_CONVERT_I64_U:
    fd = (double)S(1);
    S(0) = f64_bits(fd);
    NEXT(2);
L_F64_CONVERT_I32_S_R:
    fd = (double)(int32_t)(uint32_t)r;
    S(0) = f64_bits(fd);
    NEXT(1);
L_F64_CONVERT_I32_U_R:
    fd = (double)(uint32_t)r;
    S(0) = f64_bits(fd);
    NEXT(1);
L_F64_CONVERT_I64_S_R:
    fd = (double)(int64_t)r;
    S(0) = f64_bits(fd);
    NEXT(1);
L_F64_CONVERT_I64_U_R:
    fd = (double)r;
    S(0) = f64_bits(fd);
    NEXT(1);
L_F64_PROMOTE_F32:
    fd = canon64((double)f32_of(S(1)));
    S(0) = f64_bits(fd);
    NEXT(2);
L_I32_EXTEND8_S:
    r = (uint32_t)(int32_t)(int8_t)(uint8_t)S(1);
    S(0) = r;
    NEXT(2);
L_I32_EXTEND16_S:
    r = (uint32_t)(int32_t)(int16_t)(uint16_t)S(1);
    S(0) = r;
    NEXT(2);
L_I64_EXTEND8_S:
    r = (uint64_t)(int64_t)(int8_t)(uint8_t)S(1);
    S(0) = r;
    NEXT(2);
L_I64_EXTEND16_S:
    r = (uint64_t)(int64_t)(int16_t)(uint16_t)S(1);
    S(0) = r;
    NEXT(2);
L_I64_EXTEND32_S:
    r = sx32((uint32_t)S(1));
    S(0) = r;
    NEXT(2);

refuel_target:
    fuel = refuel(store, fuel, (int64_t)ip[-1], &cold.reserve);
    if (fuel >= 0)
        DISPATCH();
fuel_exit:
    if (fuel == FUEL_INTERRUPTED) {
        fuel = 0; /* refuel left all the fuel in the reserve */
        trap = WASM_TRAP_INTERRUPTED;
    } else {
        fuel = 0;
        cold.reserve = 0;
        trap = WASM_TRAP_OUT_OF_FUEL;
    }
trap_exit:
    FUEL_SAVE();
    return wasm_trap_set(err, trap);
}

const void *const *wasm_interp_handlers(void)
{
    const void *const *t = NULL;
    run(NULL, NULL, NULL, NULL, NULL, 0, NULL, &t);
    return t;
}

wasm_status wasm_interp_call(wasm_store *store, wasm_func *func, uint64_t *slots, wasm_error *err)
{
    wasm_error local;
    if (!err)
        err = &local;
    if (!func->code) {
        if (wasm_call_host(func, slots, err))
            return WASM_OK;
        return err->status != WASM_OK ? err->status : WASM_ERR_TRAP;
    }
    if (atomic_load_explicit(&store->interrupted, memory_order_relaxed))
        return wasm_trap_set(err, WASM_TRAP_INTERRUPTED);
    if (store->host_depth >= HOST_DEPTH_MAX)
        return wasm_trap_set(err, WASM_TRAP_STACK_EXHAUSTED);
    if (!store->stack) {
        size_t n = store->lim.stack_bytes / sizeof(uint64_t);
        if (n < 64)
            n = 64;
        /* not zeroed: every slot is written before it is read (parameters are copied in,
         * locals zeroed on entry, temporaries written by their op), as the stack's reuse by
         * every later call in the store already relies on; calloc would clear 8 MiB per
         * store once glibc serves it from the heap, 0.5 ms for a one-shard store */
        store->stack = malloc(n * sizeof(uint64_t));
        if (!store->stack) {
            wasm_fail(err, WASM_ERR_NOMEM, 0, "out of memory for the value stack");
            return WASM_ERR_NOMEM;
        }
        store->stack_slots = n;
    }
    size_t lo = 0, hi = store->stack_slots;
    uint32_t depth0 = 0;
    if (store->host_depth > 0) {
        /* called back from a host function: use only the free middle */
        lo = store->stack_lo;
        hi = store->stack_hi;
        depth0 = store->depth;
    }
    const struct wasm_code *code = func->code;
    size_t need = code->frame_slots > code->nresults ? code->frame_slots : code->nresults;
    if (code->nparams > need)
        need = code->nparams;
    if (hi < lo || hi - lo < need + WASM_FRAME_REC || depth0 >= store->lim.max_call_depth)
        return wasm_trap_set(err, WASM_TRAP_STACK_EXHAUSTED);

    uint64_t *fp = store->stack + lo;
    uint64_t *csp = store->stack + hi - WASM_FRAME_REC;
    memcpy(fp, slots, (size_t)code->nparams * sizeof *fp);
    if (code->nzero)
        memset(fp + code->nparams, 0, WASM_CALL_ZERO * sizeof *fp);

    /* the entry frame returns to an EXIT op */
    uint32_t exit_code[OP_HW];
    const void *h = wasm_interp_handlers()[OP_EXIT];
    memcpy(exit_code, &h, sizeof h);
    csp[0] = (uint64_t)(uintptr_t)exit_code;
    csp[1] = (uint64_t)(uintptr_t)fp;
    csp[2] = (uint64_t)(uintptr_t)func->inst;
    csp[3] = (uint64_t)(uintptr_t)memory_of(func->inst);

    store->depth = depth0 + 1;
    store->host_depth++;
    wasm_status st =
        run(store, func->inst, code->ops + code->entry, fp, csp, code->entry_fuel, err, NULL);
    store->host_depth--;
    store->depth = depth0;
    if (st == WASM_OK)
        memcpy(slots, fp, (size_t)code->nresults * sizeof *fp);
    return st;
}
