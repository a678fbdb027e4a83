/*
 * compile.c — translation of validated function bodies into slot code.
 *
 * One pass per body (plus a quick pre-scan for constants). Frame layout:
 * params, declared locals, the constant pool, then the operand-stack temps
 * (slot = T + stack height). The pieces, in the order a value meets them:
 *
 * Virtual stack. An entry is in its temp slot (V_TEMP), a local read in place
 * (V_LOCAL), a constant (V_CONST, served from the pool or as an immediate), or
 * a pending i32 address sum (V_ADD: base + index << k + imm, or base - index)
 * that loads and stores fold into their address. Pending entries are
 * materialised into their temp slot when a slot they read is about to be
 * written, at every block entry (so no later materialisation runs on only
 * some of the paths into a merge), and wherever a value must be in its
 * canonical slot: call arguments, values carried by branches, block results.
 *
 * Constant pool. The pre-scan collects the body's distinct constants; the
 * ones an op needs as a slot operand are loaded by the entry prologue (which
 * also zeroes the locals; functions with a few locals and no pool have the
 * call zero them instead).
 *
 * Peephole state. `last` describes the op just emitted (and `prev` the one
 * before) while nothing else follows it. It drives: retargeting (`...;
 * local.set x` makes the op write x), compare-and-branch fusion (also with
 * the preceding `x += imm` / `x += y`), register forms (see ops.h: an op
 * reading the value the previous op left in the register), multiply-add,
 * f64 arithmetic on a just-loaded operand, select on eqz, and pairing of
 * consecutive copies and adds.
 *
 * Locals. A local written with a pending sum is known to equal it until a
 * label or a write to it or its base, so later reads fold into addresses
 * too; and a plain write followed by another write to the same local, with
 * no read, branch or label between, is cut out of the code again.
 *
 * Fuel: every label (loop header, targeted block end, else, if end, function
 * entry) starts a basic block with a FUEL op whose count is the number of wasm
 * instructions up to the next label. Falling into a label runs the FUEL op;
 * every branch jumps just past it and charges the count itself (the word
 * before any branch target is always a count), so a loop back-edge costs no
 * extra dispatch. Unreachable code is skipped, not emitted. A call charges
 * the entry block's count plus the locals the function zeroes (entry_fuel),
 * so a function's prologue is paid for before it runs.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "fuel.h"
#include "ops.h"
#include "reader.h"

#define NONE      UINT32_MAX
#define MAX_WORDS (1u << 30) /* keeps branch displacements well inside int32 */
#define MAX_SLOTS (1u << 28) /* frame slots of one function */

/* A virtual stack entry: in its temp slot, a local read in place, a constant,
 * or an i32 address-like sum not computed yet (so that loads and stores can
 * take it as their address): V_ADD is `local + index term + imm` where the
 * index term is 0 (idx NONE), `idx << (mode & 31)`, or `-idx` (mode bit 8),
 * and local may be NONE (no base). The slots a V_ADD reads are locals, or the
 * entry's own temp slot (nothing else writes it while the entry lives). */
enum { V_TEMP, V_LOCAL, V_CONST, V_ADD };

#define X_NEG 0x100u /* mode: subtract idx */

typedef struct vval {
    uint8_t kind;
    uint32_t local;
    uint64_t imm;
    uint32_t alias; /* V_ADD: a local known to hold the same value, or NONE */
    uint32_t idx;   /* V_ADD: index slot or NONE */
    uint32_t mode;  /* V_ADD: shift | X_NEG */
} vval;

#define POOL_MAX    512  /* distinct constants given a frame slot per function */
#define TRACK       16   /* known values and dead-write candidates tracked at once */
#define PEND_WINDOW 64   /* stack entries scanned for pending reads */
#define ZERO_TRACK  1024 /* locals whose known-zero state is tracked */

enum { C_FUNC, C_BLOCK, C_LOOP, C_IF };

typedef struct ctl {
    uint8_t kind;
    bool dead;     /* the rest of this block is unreachable */
    bool targeted; /* a forward branch goes to its end */
    uint32_t base; /* stack height below the block's params */
    uint32_t nparams, nresults;
    uint32_t patch;           /* chain of branch words to patch with the end label (+1; 0 ends) */
    uint32_t else_site;       /* if: branch word to the else label / end (+1), 0 once bound */
    uint32_t head;            /* loop: position of the header label */
    uint32_t stub, stub_mark; /* br_table: this label's stub, valid while the mark matches */
} ctl;

/* What the last emitted op was, for peephole fusion and retargeting. Valid
 * only while no other code or label followed it (pos == NONE otherwise). */
enum { P_NONE, P_CMP, P_EQZ, P_ADDI, P_ADDI2, P_ADDS, P_COPY, P_MUL };
typedef struct peep {
    uint32_t pos;    /* start of the op */
    uint32_t end;    /* one past it */
    uint32_t dst;    /* word holding its destination slot, or NONE */
    uint32_t height; /* stack entry it produced, or NONE */
    uint8_t kind;    /* P_CMP: cc/is64/imm/a/b; P_EQZ: is64/a; P_ADDI: is64/a/b imm;
                        P_ADDI2: second add as P_ADDI, first in x1 x2 x3 (d a imm);
                        P_ADDS: i32 add of slots a b; P_COPY: a single COPY;
                        P_MUL: a multiply, a b its operands (with uses_r: a the other one) */
    uint8_t cc;
    bool is64, imm;
    uint8_t reg;   /* RI / RF: the op leaves its result in that register too */
    uint16_t op;   /* the op */
    bool uses_r;   /* the op reads a register (a register form) */
    uint32_t a, b; /* P_CMP/P_EQZ: with uses_r, a names the slot the register mirrors */
    uint32_t x1, x2, x3;
} peep;

typedef struct comp {
    const wasm_module *m;
    const void *const *h;
    uint32_t *code;
    size_t len, cap;
    vval *vs;
    uint32_t vh, vcap, vmax;
    uint32_t pend_lo; /* entries below are all V_TEMP */
    uint32_t npend;   /* V_LOCAL and V_ADD entries on the stack */
    ctl *cs;
    uint32_t ch, ccap;
    uint32_t L; /* params + locals */
    uint32_t T; /* slot of stack height 0: L + constant pool size */
    /* constant pool: slots L .. L+npool, found by value through a hash table */
    uint64_t *pool_val;  /* npool values */
    uint8_t *pool_used;  /* npool flags: the prologue loads only used ones */
    uint32_t *pool_hash; /* pool_cap entries: index + 1, 0 = empty */
    uint32_t npool, pool_cap;
    uint32_t fuel_at; /* count word of the current basic block */
    uint32_t dead_nest;
    uint32_t table_mark; /* numbers br_tables, for their stub dedup */
    /* until the first label, declared locals not yet written are known zero */
    bool entry_block;
    uint8_t *written; /* ZERO_TRACK flags */
    uint32_t nparams;
    peep last;   /* the op just emitted */
    peep prev;   /* the op right before it */
    int emit_op; /* the op put_op started */
    /* Locals known to equal `base + imm` (valid until a label, or a write to
     * the local or its base), and writes to locals that are dead if the local
     * is written again before any read, branch or label (then the old write is
     * cut out of the code: nothing between refers to code positions). */
    struct known {
        uint32_t x, base, imm, epoch;
    } known[TRACK];
    struct dead {
        uint32_t x, pos, len, epoch;
    } dead[TRACK];
    uint32_t label_epoch, branch_epoch;
    uint32_t known_rr, dead_rr; /* round-robin replacement */
    bool fail;
    wasm_status fail_status;
    const char *fail_msg;
} comp;

/* ---- code buffer ------------------------------------------------------ */

static void fail(comp *c, wasm_status st, const char *msg)
{
    if (!c->fail) {
        c->fail = true;
        c->fail_status = st;
        c->fail_msg = msg;
    }
}

static void put(comp *c, uint32_t w)
{
    if (c->len == c->cap) {
        if (c->fail)
            return;
        size_t ncap = c->cap ? c->cap * 2 : 256;
        if (ncap > MAX_WORDS) {
            fail(c, WASM_ERR_LIMIT, "function too large to compile");
            return;
        }
        uint32_t *n = realloc(c->code, ncap * sizeof *n);
        if (!n) {
            fail(c, WASM_ERR_NOMEM, "out of memory compiling function");
            return;
        }
        c->code = n;
        c->cap = ncap;
    }
    c->code[c->len++] = w;
}

static uint32_t pos(const comp *c)
{
    return (uint32_t)c->len;
}

static void put_ptr(comp *c, const void *p)
{
    uint32_t w[OP_HW];
    memcpy(w, &p, sizeof p);
    for (uint32_t i = 0; i < OP_HW; i++)
        put(c, w[i]);
}

static uint32_t put_op(comp *c, int op)
{
    uint32_t at = pos(c);
    c->prev = c->last;
    if (c->prev.pos != NONE && c->prev.end != at)
        c->prev.pos = NONE;
    c->last.pos = NONE;
    c->emit_op = op;
    put_ptr(c, c->h[op]);
    return at;
}

/* Forgets dead-write candidates at or past the end of the code. */
static void dead_trim(comp *c)
{
    for (int k = 0; k < TRACK; k++)
        if (c->dead[k].x != NONE && c->dead[k].pos + c->dead[k].len > c->len)
            c->dead[k].x = NONE;
}

/* Removes the op just emitted (it is being fused into the next one). */
static void unemit_last(comp *c)
{
    if (c->last.pos != NONE && c->last.pos <= c->len)
        c->len = c->last.pos;
    c->last = c->prev;
    c->prev.pos = NONE;
    dead_trim(c);
}

static void peep_shift(peep *p, uint32_t at, uint32_t n)
{
    if (p->pos == NONE || p->pos + (p->end - p->pos) <= at)
        return;
    if (p->pos < at + n) {
        p->pos = NONE;
        return;
    }
    p->pos -= n;
    p->end -= n;
    if (p->dst != NONE)
        p->dst -= n;
}

/* Cuts words [at, at+n) out of the code. Only for a region with no labels
 * and no branch words (see struct dead), so no recorded position moves but
 * the peephole state and later candidates. */
static void cut(comp *c, uint32_t at, uint32_t n)
{
    if (c->fail || at + n > c->len || c->fuel_at >= at)
        return;
    memmove(c->code + at, c->code + at + n, (c->len - at - n) * sizeof *c->code);
    c->len -= n;
    peep_shift(&c->last, at, n);
    peep_shift(&c->prev, at, n);
    for (int k = 0; k < TRACK; k++)
        if (c->dead[k].x != NONE && c->dead[k].pos > at)
            c->dead[k].pos -= n;
}

/* Local x is read (or may be): its pending dead-write candidate is live. */
static void note_read(comp *c, uint32_t x)
{
    for (int k = 0; k < TRACK; k++)
        if (c->dead[k].x == x)
            c->dead[k].x = NONE;
}

/* Forgets the peephole state: a label or a jump target follows. */
static void peep_reset(comp *c)
{
    c->last.pos = NONE;
    c->prev.pos = NONE;
}

static void set_word(comp *c, uint32_t at, uint32_t w)
{
    if (at < c->len)
        c->code[at] = w;
}

static uint32_t get_word(const comp *c, uint32_t at)
{
    return at < c->len ? c->code[at] : 0;
}

/* Records the op just emitted at `at` (destination word dst) as the producer of
 * stack entry `height`, so that local.set can retarget it. */
#define WASM_OPS_REG(name, words, reg) reg,
static const uint8_t op_reg[] = {WASM_OPS(WASM_OPS_REG)};
#undef WASM_OPS_REG

static void set_last(comp *c, uint32_t at, uint32_t dst, uint32_t height)
{
    c->last = (peep){.pos = at,
                     .end = pos(c),
                     .dst = dst,
                     .height = height,
                     .kind = P_NONE,
                     .reg = op_reg[c->emit_op],
                     .op = (uint16_t)c->emit_op};
}

/* The slot whose value the register `reg` holds right now, or NONE: the op
 * just emitted left it there and nothing has run since. */
static uint32_t reg_slot(const comp *c, uint8_t reg)
{
    const peep *l = &c->last;
    if (l->pos == NONE || l->end != c->len || l->reg != reg || l->dst == NONE)
        return NONE;
    return get_word(c, l->dst);
}

static void count(comp *c)
{
    if (c->fuel_at < c->len)
        c->code[c->fuel_at]++;
}

/* Starts a basic block (a label) here, unless the current one is still empty. */
static void fuel_block(comp *c)
{
    peep_reset(c);
    c->entry_block = false;
    c->label_epoch++;
    c->branch_epoch++;
    if (c->fuel_at + 1 == c->len && c->code[c->fuel_at] == 0)
        return;
    put_op(c, OP_FUEL);
    c->fuel_at = pos(c);
    put(c, 0);
}

/* Patches branch word `site` to jump to `target`. */
static void patch(comp *c, uint32_t site, uint32_t target)
{
    set_word(c, site, target - site);
}

/* Binds the end label of t to the current basic block start. */
static void bind(comp *c, ctl *t)
{
    uint32_t target = c->fuel_at + 1;
    uint32_t p = t->patch;
    while (p && !c->fail) {
        uint32_t site = p - 1;
        uint32_t next = get_word(c, site);
        patch(c, site, target);
        p = next;
    }
    t->patch = 0;
}

/* Emits a branch word to the label of t. */
static void put_target(comp *c, ctl *t)
{
    c->branch_epoch++;
    if (t->kind == C_LOOP) {
        put(c, t->head - pos(c));
    } else {
        uint32_t at = pos(c);
        put(c, t->patch);
        t->patch = at + 1;
        t->targeted = true;
    }
}

/* A local forward branch: emit a placeholder, later patch() it after put(c, 0). */
static uint32_t put_site(comp *c)
{
    c->branch_epoch++;
    uint32_t at = pos(c);
    put(c, 0);
    return at;
}

/* The count word of a jump target that follows unconditional code, which
 * charges nothing: branches jump past it and read its 0. It comes as a whole
 * FUEL op (never run) rather than a bare word so that the code stays a
 * sequence of ops for anything that steps through it (codecheck.c). */
static void put_dead_count(comp *c)
{
    put_op(c, OP_FUEL);
    put(c, 0);
}

/* Ends an unconditional sequence and places a jump target after it. */
static void bind_site(comp *c, uint32_t site)
{
    put_dead_count(c);
    patch(c, site, pos(c));
    peep_reset(c);
}

/* ---- virtual stack ---------------------------------------------------- */

static bool vgrow(comp *c, uint32_t n)
{
    if (c->vh + (uint64_t)n <= c->vcap)
        return true;
    uint64_t ncap = c->vcap ? c->vcap : 64;
    while (ncap < c->vh + (uint64_t)n)
        ncap *= 2;
    if (ncap > MAX_SLOTS) {
        fail(c, WASM_ERR_LIMIT, "operand stack too deep to compile");
        return false;
    }
    vval *v = realloc(c->vs, ncap * sizeof *v);
    if (!v) {
        fail(c, WASM_ERR_NOMEM, "out of memory compiling function");
        return false;
    }
    c->vs = v;
    c->vcap = (uint32_t)ncap;
    return true;
}

static void mat_from(comp *c, uint32_t from);

static void vpush(comp *c, uint8_t kind, uint32_t local, uint64_t imm)
{
    if (!vgrow(c, 1))
        return;
    /* scans for pending entries start at pend_lo: keep that window short, so
     * that no module can make compilation quadratic */
    if (kind != V_TEMP && c->vh - c->pend_lo > PEND_WINDOW)
        mat_from(c, c->pend_lo);
    if (kind != V_TEMP && c->pend_lo > c->vh)
        c->pend_lo = c->vh;
    if (kind == V_LOCAL || kind == V_ADD)
        c->npend++;
    if (kind == V_LOCAL)
        note_read(c, local); /* whoever consumes the entry reads the slot */
    c->vs[c->vh++] = (vval){kind, local, imm, NONE, NONE, 0};
    if (c->vh > c->vmax)
        c->vmax = c->vh;
}

static uint32_t push_temp(comp *c)
{
    uint32_t h = c->vh;
    vpush(c, V_TEMP, 0, 0);
    return c->T + h;
}

static bool vhave(comp *c, uint32_t n)
{
    ctl *t = &c->cs[c->ch - 1];
    if (c->vh < n || c->vh - n < t->base) {
        fail(c, WASM_ERR_INVALID, "operand stack underflow in validated code");
        return false;
    }
    return true;
}

static void vpop(comp *c, uint32_t n)
{
    if (n > c->vh)
        n = c->vh;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t k = c->vs[c->vh - 1 - i].kind;
        if (k == V_LOCAL || k == V_ADD)
            c->npend--;
    }
    c->vh -= n;
    if (c->pend_lo > c->vh)
        c->pend_lo = c->vh;
}

static void emit_copy(comp *c, uint32_t d, uint32_t s)
{
    if (d == s)
        return;
    uint32_t h = d >= c->T ? d - c->T : NONE;
    peep *l = &c->last;
    if (l->pos != NONE && l->end == pos(c) && l->kind == P_COPY) {
        /* two copies in a row: one op, same order */
        uint32_t d1 = get_word(c, l->dst), s1 = l->a;
        unemit_last(c);
        uint32_t at = put_op(c, OP_COPY2);
        put(c, d1);
        put(c, s1);
        put(c, d);
        put(c, s);
        set_last(c, at, at + OP_HW + 2, h);
        return;
    }
    uint32_t at = put_op(c, OP_COPY);
    put(c, d);
    put(c, s);
    set_last(c, at, at + OP_HW, h);
    c->last.kind = P_COPY;
    c->last.a = s;
}

static void emit_const(comp *c, uint32_t d, uint64_t imm)
{
    if (imm <= UINT32_MAX) {
        put_op(c, OP_CONST32);
        put(c, d);
        put(c, (uint32_t)imm);
    } else {
        put_op(c, OP_CONST64);
        put(c, d);
        put(c, (uint32_t)imm);
        put(c, (uint32_t)(imm >> 32));
    }
}

static void emit_add_imm(comp *c, uint32_t d, uint32_t a, uint32_t imm)
{
    if (imm == 0) {
        emit_copy(c, d, a);
        return;
    }
    uint32_t h = d >= c->T ? d - c->T : NONE;
    peep *l = &c->last;
    if (l->pos != NONE && l->end == pos(c) && l->kind == P_ADDI && !l->is64 &&
        l->end - l->pos == OP_HW + 3) {
        /* two adds in a row (induction variables): one op, same order */
        uint32_t d1 = get_word(c, l->dst), a1 = l->a, k1 = l->b;
        unemit_last(c);
        uint32_t at = put_op(c, OP_ADD_IMM2);
        put(c, d1);
        put(c, a1);
        put(c, k1);
        put(c, d);
        put(c, a);
        put(c, imm);
        set_last(c, at, at + OP_HW + 3, h);
        c->last.kind = P_ADDI2;
        c->last.a = a;
        c->last.b = imm;
        c->last.x1 = d1;
        c->last.x2 = a1;
        c->last.x3 = k1;
        return;
    }
    uint32_t at = put_op(c, OP_I32_ADD_IMM);
    put(c, d);
    put(c, a);
    put(c, imm);
    set_last(c, at, at + OP_HW, h);
    c->last.kind = P_ADDI;
    c->last.a = a;
    c->last.b = imm;
}

/* Loads and stores: their scaled-index forms come in the order _X, _XN, _XS. */
static const uint16_t mem_x[OP_COUNT_] = {
    [OP_LOAD8S] = OP_LOAD8S_X,   [OP_LOAD8U] = OP_LOAD8U_X,   [OP_LOAD16S] = OP_LOAD16S_X,
    [OP_LOAD16U] = OP_LOAD16U_X, [OP_LOAD32] = OP_LOAD32_X,   [OP_LOAD32S] = OP_LOAD32S_X,
    [OP_LOAD64] = OP_LOAD64_X,   [OP_LOAD64F] = OP_LOAD64F_X, [OP_STORE8] = OP_STORE8_X,
    [OP_STORE16] = OP_STORE16_X, [OP_STORE32] = OP_STORE32_X, [OP_STORE64] = OP_STORE64_X,
};

/* The operand words of a scaled-index form (see ops.h) without the offset. */
static void put_xaddr(comp *c, uint32_t base, uint32_t idx, uint32_t mode, uint32_t imm)
{
    if (base != NONE)
        put(c, base);
    put(c, idx);
    if (!(mode & X_NEG))
        put(c, mode & 31);
    put(c, imm);
}

/* The scaled-index form of op for a sum (base may be NONE). */
static uint16_t xform(uint16_t op, uint32_t base, uint32_t mode)
{
    int k = base == NONE ? 1 : (mode & X_NEG) ? 2 : 0;
    return (uint16_t)(mem_x[op] + k);
}

/* d = base + (idx << shift) + imm, or base - idx + imm: a plain add where it
 * is one (so that loop-exit branches can fuse it), else one LEA. */
static void emit_sum(comp *c, uint32_t d, const vval *v)
{
    if (v->idx == NONE) {
        emit_add_imm(c, d, v->local, (uint32_t)v->imm);
        return;
    }
    uint32_t h = d >= c->T ? d - c->T : NONE;
    if (v->local != NONE && (uint32_t)v->imm == 0 && (v->mode & 31) == 0) {
        bool sub = v->mode & X_NEG;
        uint32_t at = put_op(c, sub ? OP_I32_SUB : OP_I32_ADD);
        put(c, d);
        put(c, v->local);
        put(c, v->idx);
        set_last(c, at, at + OP_HW, h);
        if (!sub) {
            c->last.kind = P_ADDS;
            c->last.a = v->local;
            c->last.b = v->idx;
        }
        return;
    }
    uint32_t at = put_op(c, v->local == NONE ? OP_LEA_N : (v->mode & X_NEG) ? OP_LEA_S : OP_LEA);
    put(c, d);
    put_xaddr(c, v->local, v->idx, v->mode, (uint32_t)v->imm);
    set_last(c, at, at + OP_HW, h);
}

/* Writes the value of entry v into slot d. */
static void emit_value(comp *c, uint32_t d, const vval *v, uint32_t temp)
{
    switch (v->kind) {
    case V_LOCAL:
        emit_copy(c, d, v->local);
        break;
    case V_CONST:
        emit_const(c, d, v->imm);
        break;
    case V_ADD:
        emit_sum(c, d, v);
        break;
    default:
        emit_copy(c, d, temp);
        break;
    }
}

/* Puts stack entry i into its temp slot. */
static void mat(comp *c, uint32_t i)
{
    vval *v = &c->vs[i];
    if (v->kind == V_TEMP)
        return;
    emit_value(c, c->T + i, v, c->T + i);
    if (v->kind == V_LOCAL || v->kind == V_ADD)
        c->npend--;
    v->kind = V_TEMP;
}

/* Materialises entries from..top. */
static void mat_from(comp *c, uint32_t from)
{
    uint32_t lo = from > c->pend_lo ? from : c->pend_lo;
    for (uint32_t i = lo; i < c->vh; i++)
        if (c->vs[i].kind != V_TEMP)
            mat(c, i);
    if (lo == c->pend_lo)
        c->pend_lo = c->vh;
}

static void mat_all(comp *c)
{
    mat_from(c, 0);
}

/* Drops everything above height h and pushes n temps (a merge point's values). */
static void vreset(comp *c, uint32_t h, uint32_t n)
{
    if (c->vh > h)
        vpop(c, c->vh - h);
    if (vgrow(c, n))
        for (uint32_t i = 0; i < n; i++)
            push_temp(c);
}

/* The pool slot of constant v, or NONE. */
static uint32_t pool_slot(comp *c, uint64_t v)
{
    if (!c->pool_cap)
        return NONE;
    uint32_t mask = c->pool_cap - 1;
    for (uint32_t h = (uint32_t)((v * 0x9e3779b97f4a7c15ull) >> 40) & mask;; h = (h + 1) & mask) {
        uint32_t k = c->pool_hash[h];
        if (!k)
            return NONE;
        if (c->pool_val[k - 1] == v) {
            c->pool_used[k - 1] = 1;
            return c->L + k - 1;
        }
    }
}

/* Slot holding stack entry i (constants come from the pool when they can,
 * other pending values get materialised). */
static uint32_t opnd(comp *c, uint32_t i)
{
    vval *v = &c->vs[i];
    if (v->kind == V_CONST) {
        uint32_t s = pool_slot(c, v->imm);
        if (s != NONE)
            return s;
    }
    if (v->kind == V_ADD && v->alias != NONE) {
        note_read(c, v->alias);
        return v->alias;
    }
    if (v->kind != V_LOCAL)
        mat(c, i);
    return v->kind == V_LOCAL ? v->local : c->T + i;
}

/* The address operand of a load or store: base slot and a wrapping i32
 * addend, or with *idx != NONE a scaled-index sum (base may be NONE). */
static void addr_opnd(comp *c, uint32_t i, uint32_t *base, uint32_t *imm, uint32_t *idx,
                      uint32_t *mode)
{
    vval *v = &c->vs[i];
    *idx = NONE;
    *mode = 0;
    if (v->kind == V_ADD && v->idx != NONE && v->alias != NONE) {
        /* the sum also sits in a local: a plain access is cheaper */
        note_read(c, v->alias);
        *base = v->alias;
        *imm = 0;
    } else if (v->kind == V_ADD) {
        *imm = (uint32_t)v->imm;
        *base = v->local;
        *idx = v->idx;
        *mode = v->mode;
    } else {
        *base = opnd(c, i);
        *imm = 0;
    }
}

static bool reads_slot(const vval *v, uint32_t x)
{
    if (v->kind == V_LOCAL)
        return v->local == x;
    return v->kind == V_ADD && (v->local == x || v->idx == x);
}

/* A V_ADD (or local) usable at another height: it reads locals only. */
static bool movable(const comp *c, const vval *v)
{
    if (v->kind == V_LOCAL)
        return true;
    return v->kind == V_ADD && (v->local == NONE || v->local < c->L) &&
           (v->idx == NONE || v->idx < c->L);
}

/* Before local x is written: entries that still read it get their own copy. */
static void protect_local(comp *c, uint32_t x, uint32_t below)
{
    if (!c->npend)
        return;
    for (uint32_t i = c->pend_lo; i < below; i++) {
        vval *v = &c->vs[i];
        if (reads_slot(v, x))
            mat(c, i);
        else if (v->kind == V_ADD && v->alias == x)
            v->alias = NONE;
    }
}

static bool local_referenced(const comp *c, uint32_t x, uint32_t below)
{
    if (!c->npend)
        return false;
    for (uint32_t i = c->pend_lo; i < below; i++)
        if (reads_slot(&c->vs[i], x))
            return true;
    return false;
}

/* ---- op tables -------------------------------------------------------- */

/* comparison cc order follows the wasm opcodes: eq ne lt_s lt_u gt_s gt_u le_s le_u ge_s ge_u */
static const uint8_t cc_swap[10] = {0, 1, 4, 5, 2, 3, 8, 9, 6, 7};
static const uint8_t cc_neg[10] = {1, 0, 8, 9, 6, 7, 4, 5, 2, 3};

#define CC_ROW(X, cc)                                                                      \
    {OP_I32_##cc,        OP_I32_##cc##_IMM,     OP_I64_##cc,        OP_I64_##cc##_IMM,     \
     OP_BR_I32_##cc,     OP_BR_I32_##cc##_IMM,  OP_BR_I64_##cc,     OP_BR_I64_##cc##_IMM,  \
     OP_BRI_I32_##cc,    OP_BRI_I32_##cc##_IMM, OP_BRI_I64_##cc,    OP_BRI_I64_##cc##_IMM, \
     OP_I32_##cc##_R,    OP_I32_##cc##_RI,      OP_I64_##cc##_R,    OP_I64_##cc##_RI,      \
     OP_BR_I32_##cc##_R, OP_BR_I32_##cc##_RI,   OP_BR_I64_##cc##_R, OP_BR_I64_##cc##_RI,   \
     OP_BRA_I32_##cc,    OP_BRA_I32_##cc##_IMM},
enum {
    CC_I32,
    CC_I32_IMM,
    CC_I64,
    CC_I64_IMM,
    CC_BR32,
    CC_BR32_IMM,
    CC_BR64,
    CC_BR64_IMM,
    CC_BRI32,
    CC_BRI32_IMM,
    CC_BRI64,
    CC_BRI64_IMM,
    CC_I32_R,
    CC_I32_RI,
    CC_I64_R,
    CC_I64_RI,
    CC_BR32_R,
    CC_BR32_RI,
    CC_BR64_R,
    CC_BR64_RI,
    CC_BRA32,
    CC_BRA32_IMM,
};
static const uint16_t cc_ops[10][22] = {WASM_ICMPS(CC_ROW, _)};

/* Numeric wasm opcodes 0x45..0xc4 and 0xfc 0..7 (at 0xc5 + n). */
enum { N_NONE, N_UN, N_BIN, N_NOP, N_CMP32, N_CMP64, N_EQZ32, N_EQZ64 };
#define F_COMM 1 /* commutative: a constant first operand may swap into the imm */
#define F_I64  2
typedef struct numop {
    uint8_t kind, flags;
    uint16_t op, op_imm;
} numop;

#define UN(o)              \
    {                      \
        N_UN, 0, OP_##o, 0 \
    }
#define BIN(o)              \
    {                       \
        N_BIN, 0, OP_##o, 0 \
    }
#define BINI(o, f)                     \
    {                                  \
        N_BIN, f, OP_##o, OP_##o##_IMM \
    }
#define BINI64(o, f)                             \
    {                                            \
        N_BIN, (f) | F_I64, OP_##o, OP_##o##_IMM \
    }

static const numop numops[0xc5 + 8] = {
    [0x45] = {N_EQZ32, 0, OP_I32_EQZ, 0},
    [0x46] = {N_CMP32, 0, 0, 0},
    [0x47] = {N_CMP32, 0, 1, 0},
    [0x48] = {N_CMP32, 0, 2, 0},
    [0x49] = {N_CMP32, 0, 3, 0},
    [0x4a] = {N_CMP32, 0, 4, 0},
    [0x4b] = {N_CMP32, 0, 5, 0},
    [0x4c] = {N_CMP32, 0, 6, 0},
    [0x4d] = {N_CMP32, 0, 7, 0},
    [0x4e] = {N_CMP32, 0, 8, 0},
    [0x4f] = {N_CMP32, 0, 9, 0},
    [0x50] = {N_EQZ64, 0, OP_I64_EQZ, 0},
    [0x51] = {N_CMP64, 0, 0, 0},
    [0x52] = {N_CMP64, 0, 1, 0},
    [0x53] = {N_CMP64, 0, 2, 0},
    [0x54] = {N_CMP64, 0, 3, 0},
    [0x55] = {N_CMP64, 0, 4, 0},
    [0x56] = {N_CMP64, 0, 5, 0},
    [0x57] = {N_CMP64, 0, 6, 0},
    [0x58] = {N_CMP64, 0, 7, 0},
    [0x59] = {N_CMP64, 0, 8, 0},
    [0x5a] = {N_CMP64, 0, 9, 0},
    [0x5b] = BIN(F32_EQ),
    [0x5c] = BIN(F32_NE),
    [0x5d] = BIN(F32_LT),
    [0x5e] = BIN(F32_GT),
    [0x5f] = BIN(F32_LE),
    [0x60] = BIN(F32_GE),
    [0x61] = BIN(F64_EQ),
    [0x62] = BIN(F64_NE),
    [0x63] = BIN(F64_LT),
    [0x64] = BIN(F64_GT),
    [0x65] = BIN(F64_LE),
    [0x66] = BIN(F64_GE),
    [0x67] = UN(I32_CLZ),
    [0x68] = UN(I32_CTZ),
    [0x69] = UN(I32_POPCNT),
    [0x6a] = BINI(I32_ADD, F_COMM),
    [0x6b] = BINI(I32_SUB, 0),
    [0x6c] = BINI(I32_MUL, F_COMM),
    [0x6d] = BIN(I32_DIV_S),
    [0x6e] = BIN(I32_DIV_U),
    [0x6f] = BIN(I32_REM_S),
    [0x70] = BIN(I32_REM_U),
    [0x71] = BINI(I32_AND, F_COMM),
    [0x72] = BINI(I32_OR, F_COMM),
    [0x73] = BINI(I32_XOR, F_COMM),
    [0x74] = BINI(I32_SHL, 0),
    [0x75] = BINI(I32_SHR_S, 0),
    [0x76] = BINI(I32_SHR_U, 0),
    [0x77] = BINI(I32_ROTL, 0),
    [0x78] = BINI(I32_ROTR, 0),
    [0x79] = UN(I64_CLZ),
    [0x7a] = UN(I64_CTZ),
    [0x7b] = UN(I64_POPCNT),
    [0x7c] = BINI64(I64_ADD, F_COMM),
    [0x7d] = BINI64(I64_SUB, 0),
    [0x7e] = BINI64(I64_MUL, F_COMM),
    [0x7f] = BIN(I64_DIV_S),
    [0x80] = BIN(I64_DIV_U),
    [0x81] = BIN(I64_REM_S),
    [0x82] = BIN(I64_REM_U),
    [0x83] = BINI64(I64_AND, F_COMM),
    [0x84] = BINI64(I64_OR, F_COMM),
    [0x85] = BINI64(I64_XOR, F_COMM),
    [0x86] = BINI64(I64_SHL, 0),
    [0x87] = BINI64(I64_SHR_S, 0),
    [0x88] = BINI64(I64_SHR_U, 0),
    [0x89] = BINI64(I64_ROTL, 0),
    [0x8a] = BINI64(I64_ROTR, 0),
    [0x8b] = UN(F32_ABS),
    [0x8c] = UN(F32_NEG),
    [0x8d] = UN(F32_CEIL),
    [0x8e] = UN(F32_FLOOR),
    [0x8f] = UN(F32_TRUNC),
    [0x90] = UN(F32_NEAREST),
    [0x91] = UN(F32_SQRT),
    [0x92] = BIN(F32_ADD),
    [0x93] = BIN(F32_SUB),
    [0x94] = BIN(F32_MUL),
    [0x95] = BIN(F32_DIV),
    [0x96] = BIN(F32_MIN),
    [0x97] = BIN(F32_MAX),
    [0x98] = BIN(F32_COPYSIGN),
    [0x99] = UN(F64_ABS),
    [0x9a] = UN(F64_NEG),
    [0x9b] = UN(F64_CEIL),
    [0x9c] = UN(F64_FLOOR),
    [0x9d] = UN(F64_TRUNC),
    [0x9e] = UN(F64_NEAREST),
    [0x9f] = UN(F64_SQRT),
    [0xa0] = BIN(F64_ADD),
    [0xa1] = BIN(F64_SUB),
    [0xa2] = BIN(F64_MUL),
    [0xa3] = BIN(F64_DIV),
    [0xa4] = BIN(F64_MIN),
    [0xa5] = BIN(F64_MAX),
    [0xa6] = BIN(F64_COPYSIGN),
    [0xa7] = {N_NOP, 0, 0, 0}, /* i32.wrap_i64: i32 readers ignore the upper bits */
    [0xa8] = UN(I32_TRUNC_F32_S),
    [0xa9] = UN(I32_TRUNC_F32_U),
    [0xaa] = UN(I32_TRUNC_F64_S),
    [0xab] = UN(I32_TRUNC_F64_U),
    [0xac] = UN(I64_EXTEND_I32_S),
    [0xad] = UN(I64_EXTEND_I32_U),
    [0xae] = UN(I64_TRUNC_F32_S),
    [0xaf] = UN(I64_TRUNC_F32_U),
    [0xb0] = UN(I64_TRUNC_F64_S),
    [0xb1] = UN(I64_TRUNC_F64_U),
    [0xb2] = UN(F32_CONVERT_I32_S),
    [0xb3] = UN(F32_CONVERT_I32_U),
    [0xb4] = UN(F32_CONVERT_I64_S),
    [0xb5] = UN(F32_CONVERT_I64_U),
    [0xb6] = UN(F32_DEMOTE_F64),
    [0xb7] = UN(F64_CONVERT_I32_S),
    [0xb8] = UN(F64_CONVERT_I32_U),
    [0xb9] = UN(F64_CONVERT_I64_S),
    [0xba] = UN(F64_CONVERT_I64_U),
    [0xbb] = UN(F64_PROMOTE_F32),
    [0xbc] = {N_NOP, 0, 0, 0}, /* reinterprets: slots hold raw bits */
    [0xbd] = {N_NOP, 0, 0, 0},
    [0xbe] = {N_NOP, 0, 0, 0},
    [0xbf] = {N_NOP, 0, 0, 0},
    [0xc0] = UN(I32_EXTEND8_S),
    [0xc1] = UN(I32_EXTEND16_S),
    [0xc2] = UN(I64_EXTEND8_S),
    [0xc3] = UN(I64_EXTEND16_S),
    [0xc4] = UN(I64_EXTEND32_S),
    [0xc5 + 0] = UN(I32_TRUNC_SAT_F32_S),
    [0xc5 + 1] = UN(I32_TRUNC_SAT_F32_U),
    [0xc5 + 2] = UN(I32_TRUNC_SAT_F64_S),
    [0xc5 + 3] = UN(I32_TRUNC_SAT_F64_U),
    [0xc5 + 4] = UN(I64_TRUNC_SAT_F32_S),
    [0xc5 + 5] = UN(I64_TRUNC_SAT_F32_U),
    [0xc5 + 6] = UN(I64_TRUNC_SAT_F64_S),
    [0xc5 + 7] = UN(I64_TRUNC_SAT_F64_U),
};

/* Loads 0x28..0x35 and stores 0x36..0x3e. */
static const uint16_t memops[0x3f - 0x28] = {
    OP_LOAD32,  OP_LOAD64,  OP_LOAD32,  OP_LOAD64,  OP_LOAD8S,  OP_LOAD8U,  OP_LOAD16S, OP_LOAD16U,
    OP_LOAD8S,  OP_LOAD8U,  OP_LOAD16S, OP_LOAD16U, OP_LOAD32S, OP_LOAD32,  OP_STORE32, OP_STORE64,
    OP_STORE32, OP_STORE64, OP_STORE8,  OP_STORE16, OP_STORE8,  OP_STORE16, OP_STORE32,
};

/* Register forms: r (first operand from the register), ri (register and
 * immediate), sr (second operand from the register), and the register the
 * operand comes from. */
typedef struct rform {
    uint16_t r, ri, sr;
    uint8_t in;
} rform;

#define RF_BIN32(X, op) [OP_I32_##op] = {OP_I32_##op##_R, OP_I32_##op##_RI, OP_I32_##op##_SR, RI},
#define RF_BIN64(X, op) [OP_I64_##op] = {OP_I64_##op##_R, OP_I64_##op##_RI, OP_I64_##op##_SR, RI},
static const rform rforms[OP_COUNT_] = {
    WASM_IBIN_IMM(RF_BIN32, _) WASM_IBIN_IMM(RF_BIN64, _)[OP_I32_EQZ] = {OP_I32_EQZ_R, 0, 0, RI},
    [OP_I64_EQZ] = {OP_I64_EQZ_R, 0, 0, RI},
    [OP_I64_EXTEND_I32_S] = {OP_I64_EXTEND_I32_S_R, 0, 0, RI},
    [OP_I64_EXTEND_I32_U] = {OP_I64_EXTEND_I32_U_R, 0, 0, RI},
    [OP_F64_CONVERT_I32_S] = {OP_F64_CONVERT_I32_S_R, 0, 0, RI},
    [OP_F64_CONVERT_I32_U] = {OP_F64_CONVERT_I32_U_R, 0, 0, RI},
    [OP_F64_CONVERT_I64_S] = {OP_F64_CONVERT_I64_S_R, 0, 0, RI},
    [OP_F64_CONVERT_I64_U] = {OP_F64_CONVERT_I64_U_R, 0, 0, RI},
    [OP_I32_TRUNC_F64_S] = {OP_I32_TRUNC_F64_S_R, 0, 0, RF},
    [OP_I32_TRUNC_F64_U] = {OP_I32_TRUNC_F64_U_R, 0, 0, RF},
    [OP_I64_TRUNC_F64_S] = {OP_I64_TRUNC_F64_S_R, 0, 0, RF},
    [OP_I64_TRUNC_F64_U] = {OP_I64_TRUNC_F64_U_R, 0, 0, RF},
    [OP_F64_ABS] = {OP_F64_ABS_R, 0, 0, RF},
    [OP_F64_NEG] = {OP_F64_NEG_R, 0, 0, RF},
    [OP_F64_SQRT] = {OP_F64_SQRT_R, 0, 0, RF},
    [OP_F64_ADD] = {OP_F64_ADD_R, 0, OP_F64_ADD_R, RF}, /* commutative: sr = r swapped */
    [OP_F64_SUB] = {OP_F64_SUB_R, 0, OP_F64_SUB_SR, RF},
    [OP_F64_MUL] = {OP_F64_MUL_R, 0, OP_F64_MUL_R, RF},
    [OP_F64_DIV] = {OP_F64_DIV_R, 0, OP_F64_DIV_SR, RF},
    [OP_F64_EQ] = {OP_F64_EQ_R, 0, OP_F64_EQ_R, RF},
    [OP_F64_NE] = {OP_F64_NE_R, 0, OP_F64_NE_R, RF},
    /* b in the register: a < b is b > a */
    [OP_F64_LT] = {OP_F64_LT_R, 0, OP_F64_GT_R, RF},
    [OP_F64_GT] = {OP_F64_GT_R, 0, OP_F64_LT_R, RF},
    [OP_F64_LE] = {OP_F64_LE_R, 0, OP_F64_GE_R, RF},
    [OP_F64_GE] = {OP_F64_GE_R, 0, OP_F64_LE_R, RF},
};

/* Loads with the address base in the integer register; stores of the register. */
static const uint16_t mem_r[OP_COUNT_] = {
    [OP_LOAD8S] = OP_LOAD8S_R,   [OP_LOAD8U] = OP_LOAD8U_R,   [OP_LOAD16S] = OP_LOAD16S_R,
    [OP_LOAD16U] = OP_LOAD16U_R, [OP_LOAD32] = OP_LOAD32_R,   [OP_LOAD32S] = OP_LOAD32S_R,
    [OP_LOAD64] = OP_LOAD64_R,   [OP_LOAD64F] = OP_LOAD64F_R, [OP_STORE8] = OP_STORE8_R,
    [OP_STORE16] = OP_STORE16_R, [OP_STORE32] = OP_STORE32_R, [OP_STORE64] = OP_STORE64_R,
};

static const uint16_t store_ar[OP_COUNT_] = {
    [OP_STORE8] = OP_STORE8_AR,
    [OP_STORE16] = OP_STORE16_AR,
    [OP_STORE32] = OP_STORE32_AR,
    [OP_STORE64] = OP_STORE64_AR,
};

static bool imm_fits(uint64_t v, bool is64)
{
    return !is64 || (int64_t)v == (int64_t)(int32_t)(uint32_t)v;
}

/* ---- instruction emitters --------------------------------------------- */

/* Returns the operand slot (NONE if nothing was emitted). */
static uint32_t emit_unary(comp *c, uint16_t op)
{
    if (!vhave(c, 1))
        return NONE;
    uint32_t i = c->vh - 1;
    uint32_t a = opnd(c, i);
    const rform *rf = &rforms[op];
    bool use_r = rf->r && reg_slot(c, rf->in) == a;
    vpop(c, 1);
    uint32_t d = push_temp(c);
    uint32_t at = put_op(c, use_r ? rf->r : op);
    put(c, d);
    if (!use_r)
        put(c, a);
    set_last(c, at, at + OP_HW, i);
    c->last.uses_r = use_r;
    return a;
}

/* Pushes the pending sum v (see vval). */
static void push_sum(comp *c, vval v)
{
    vpush(c, V_ADD, v.local, (uint32_t)v.imm);
    if (!c->fail) {
        c->vs[c->vh - 1].idx = v.idx;
        c->vs[c->vh - 1].mode = v.mode;
    }
}

/* Entry at height h as a base (`local + imm`, no index term), in *out. */
static bool as_base(const comp *c, uint32_t h, vval *out)
{
    const vval *v = &c->vs[h];
    *out = (vval){V_ADD, NONE, 0, NONE, NONE, 0};
    if (v->kind == V_LOCAL || v->kind == V_TEMP) {
        out->local = v->kind == V_LOCAL ? v->local : c->T + h;
        return true;
    }
    if (v->kind == V_ADD && v->idx == NONE) {
        out->local = v->local;
        out->imm = v->imm;
        return true;
    }
    return false;
}

/* Entry at height h as an index term (no base), in *out. */
static bool as_index(const comp *c, uint32_t h, vval *out)
{
    const vval *v = &c->vs[h];
    *out = (vval){V_ADD, NONE, 0, NONE, NONE, 0};
    if (v->kind == V_LOCAL || v->kind == V_TEMP) {
        out->idx = v->kind == V_LOCAL ? v->local : c->T + h;
        return true;
    }
    if (v->kind == V_ADD && v->local == NONE && v->idx != NONE) {
        *out = *v;
        return true;
    }
    return false;
}

/* Slots the sum reads must survive its move to height h: locals, or T+h. */
static bool sum_fits(const comp *c, const vval *v, uint32_t h)
{
    uint32_t own = c->T + h;
    return (v->local == NONE || v->local < c->L || v->local == own) &&
           (v->idx == NONE || v->idx < c->L || v->idx == own);
}

/* i32 address arithmetic stays pending so that loads and stores can fold it:
 * `x + k`, `x - k`, `x << k`, `base + index`, `base - local`. */
static bool emit_pending_sum(comp *c, uint16_t op)
{
    uint32_t ia = c->vh - 2, ib = c->vh - 1;
    vval va = c->vs[ia], vb = c->vs[ib], r, b;
    if (op == OP_I32_ADD || op == OP_I32_SUB) {
        if (vb.kind == V_CONST && va.kind != V_CONST) {
            uint32_t k = op == OP_I32_SUB ? 0u - (uint32_t)vb.imm : (uint32_t)vb.imm;
            if (va.kind == V_ADD && va.idx != NONE && va.alias != NONE) {
                /* the indexed sum also sits in a local: add to that instead */
                note_read(c, va.alias);
                r = (vval){V_ADD, va.alias, 0, NONE, NONE, 0};
            } else if (va.kind == V_ADD) {
                r = va;
            } else {
                as_base(c, ia, &r);
            }
            r.imm = (uint32_t)r.imm + k;
        } else if (op == OP_I32_ADD && va.kind == V_CONST && vb.kind != V_CONST &&
                   movable(c, &vb)) {
            if (vb.kind == V_ADD)
                r = vb;
            else
                as_base(c, ib, &r);
            r.imm = (uint32_t)r.imm + (uint32_t)va.imm;
        } else if (op == OP_I32_ADD && as_base(c, ia, &r) && as_index(c, ib, &b)) {
            r.idx = b.idx, r.mode = b.mode, r.imm = (uint32_t)r.imm + (uint32_t)b.imm;
        } else if (op == OP_I32_ADD && as_base(c, ib, &r) && as_index(c, ia, &b)) {
            r.idx = b.idx, r.mode = b.mode, r.imm = (uint32_t)r.imm + (uint32_t)b.imm;
        } else if (op == OP_I32_SUB && as_base(c, ia, &r) && vb.kind == V_LOCAL) {
            r.idx = vb.local, r.mode = X_NEG;
        } else {
            return false;
        }
    } else if (op == OP_I32_SHL && vb.kind == V_CONST &&
               (va.kind == V_LOCAL || va.kind == V_TEMP)) {
        as_index(c, ia, &r);
        r.mode = (uint32_t)vb.imm & 31;
    } else {
        return false;
    }
    if (!sum_fits(c, &r, ia))
        return false;
    vpop(c, 2);
    push_sum(c, r);
    return true;
}

/* `a * b + c` with the multiply just emitted: one op (two roundings for f64). */
static bool emit_muladd(comp *c, uint16_t op)
{
    uint32_t ia = c->vh - 2, ib = c->vh - 1;
    peep *l = &c->last;
    if (l->pos == NONE || l->end != pos(c) || l->kind != P_MUL)
        return false;
    uint32_t mh = l->height;
    if ((mh != ia && mh != ib) || c->vs[mh].kind != V_TEMP)
        return false;
    uint32_t other = opnd(c, mh == ia ? ib : ia);
    /* finding the other operand must not have emitted code */
    if (c->last.pos == NONE || c->last.end != pos(c) || c->last.kind != P_MUL)
        return false;
    peep p = c->last;
    unemit_last(c); /* a register operand of the multiply is still in place */
    int k = op == OP_I32_ADD ? 0 : op == OP_I64_ADD ? 1 : 2;
    static const uint16_t ops[3][4] = {
        {OP_I32_MULADD, OP_I32_MULADD_R, OP_I32_MULADD_IMM, OP_I32_MULADD_RI},
        {OP_I64_MULADD, OP_I64_MULADD_R, OP_I64_MULADD_IMM, OP_I64_MULADD_RI},
        {OP_F64_MULADD, OP_F64_MULADD_R, 0, 0},
    };
    uint16_t vop = ops[k][(p.uses_r ? 1 : 0) + (p.imm ? 2 : 0)];
    vpop(c, 2);
    uint32_t d = push_temp(c);
    uint32_t at = put_op(c, vop);
    put(c, d);
    if (!p.uses_r) {
        put(c, p.a);
        put(c, p.b);
    } else {
        put(c, p.a);
    }
    put(c, other);
    set_last(c, at, at + OP_HW, ia);
    c->last.uses_r = p.uses_r;
    return true;
}

/* f64 arithmetic whose operand was just loaded: the load folds into it. */
static bool emit_f64_mem(comp *c, uint16_t op)
{
    uint32_t ia = c->vh - 2, ib = c->vh - 1;
    /* the other operand first: finding its slot may emit code */
    bool load_b = c->vs[ib].kind == V_TEMP && c->last.height == ib;
    uint32_t other = load_b ? opnd(c, ia) : opnd(c, ib);
    peep *l = &c->last;
    uint32_t h = load_b ? ib : ia;
    if (l->pos == NONE || l->end != pos(c) || l->op != OP_LOAD64F || l->height != h ||
        c->vs[h].kind != V_TEMP)
        return false;
    uint32_t base = get_word(c, l->pos + OP_HW + 1), imm = get_word(c, l->pos + OP_HW + 2),
             off = get_word(c, l->pos + OP_HW + 3);
    if (other == c->T + h)
        return false;
    unemit_last(c);
    bool ur = reg_slot(c, RF) == other;
    bool comm = op == OP_F64_ADD || op == OP_F64_MUL;
    int vop;
    /* forms: [reg|slot] op mem, mem op [reg|slot] */
    static const uint16_t rm[4] = {OP_F64_ADD_RM, OP_F64_SUB_RM, OP_F64_MUL_RM, OP_F64_DIV_RM};
    static const uint16_t sm[4] = {OP_F64_ADD_SM, OP_F64_SUB_SM, OP_F64_MUL_SM, OP_F64_DIV_SM};
    static const uint16_t mr[4] = {OP_F64_ADD_RM, OP_F64_SUB_MR, OP_F64_MUL_RM, OP_F64_DIV_MR};
    static const uint16_t ms[4] = {OP_F64_ADD_SM, OP_F64_SUB_MS, OP_F64_MUL_SM, OP_F64_DIV_MS};
    int k = op == OP_F64_ADD ? 0 : op == OP_F64_SUB ? 1 : op == OP_F64_MUL ? 2 : 3;
    (void)comm;
    if (load_b)
        vop = ur ? rm[k] : sm[k];
    else
        vop = ur ? mr[k] : ms[k];
    vpop(c, 2);
    uint32_t d = push_temp(c);
    uint32_t at = put_op(c, vop);
    put(c, d);
    if (!ur)
        put(c, other);
    put(c, base);
    put(c, imm);
    put(c, off);
    set_last(c, at, at + OP_HW, ia);
    c->last.uses_r = ur;
    return true;
}

static void emit_binary(comp *c, uint16_t op, uint16_t op_imm, uint8_t flags, int cc)
{
    if (!vhave(c, 2))
        return;
    bool is64 = flags & F_I64;
    uint32_t ia = c->vh - 2, ib = c->vh - 1;
    vval va = c->vs[ia], vb = c->vs[ib];
    uint32_t sa, sb;
    if ((op == OP_F64_ADD || op == OP_F64_SUB || op == OP_F64_MUL || op == OP_F64_DIV) &&
        emit_f64_mem(c, op))
        return;
    if ((op == OP_I32_ADD || op == OP_I64_ADD || op == OP_F64_ADD) && emit_muladd(c, op))
        return;
    if (emit_pending_sum(c, op))
        return;
    bool imm = false;
    if (op_imm && vb.kind == V_CONST && imm_fits(vb.imm, is64)) {
        sa = opnd(c, ia);
        sb = (uint32_t)vb.imm;
        imm = true;
    } else if (op_imm && (flags & F_COMM) && va.kind == V_CONST && imm_fits(va.imm, is64)) {
        sa = opnd(c, ib);
        sb = (uint32_t)va.imm;
        imm = true;
        if (cc >= 0) {
            cc = cc_swap[cc];
            op = cc_ops[cc][is64 ? CC_I64 : CC_I32];
            op_imm = cc_ops[cc][is64 ? CC_I64_IMM : CC_I32_IMM];
        }
    } else {
        sa = opnd(c, ia);
        sb = opnd(c, ib);
    }
    /* a register form when the op just emitted left an operand in a register */
    int vop = imm ? op_imm : op;
    bool use_r = false;
    uint32_t rb = sb; /* the remaining operand of a register form */
    if (cc >= 0) {
        uint32_t rs = reg_slot(c, RI);
        if (rs != NONE && sa == rs) {
            vop = cc_ops[cc][is64 ? (imm ? CC_I64_RI : CC_I64_R) : (imm ? CC_I32_RI : CC_I32_R)];
            use_r = true;
        } else if (rs != NONE && !imm && sb == rs) {
            cc = cc_swap[cc];
            vop = cc_ops[cc][is64 ? CC_I64_R : CC_I32_R];
            rb = sa;
            sa = sb;
            sb = rb;
            use_r = true;
        }
    } else if (rforms[op].r) {
        const rform *rf = &rforms[op];
        uint32_t rs = reg_slot(c, rf->in);
        if (rs != NONE && sa == rs && (imm ? rf->ri : rf->r)) {
            vop = imm ? rf->ri : rf->r;
            use_r = true;
        } else if (rs != NONE && !imm && sb == rs && rf->sr) {
            vop = rf->sr;
            rb = sa;
            use_r = true;
        }
    }
    vpop(c, 2);
    uint32_t d = push_temp(c);
    uint32_t at = put_op(c, use_r ? vop : (imm ? op_imm : op));
    put(c, d);
    if (!use_r)
        put(c, sa);
    put(c, use_r ? rb : sb);
    set_last(c, at, at + OP_HW, ia);
    c->last.uses_r = use_r;
    if (imm && !use_r && (op == OP_I32_ADD || op == OP_I64_ADD)) {
        c->last.kind = P_ADDI;
        c->last.is64 = is64;
        c->last.a = sa;
        c->last.b = sb;
    } else if (!imm && !use_r && op == OP_I32_ADD) {
        c->last.kind = P_ADDS;
        c->last.a = sa;
        c->last.b = sb;
    }
    if (cc >= 0) {
        c->last.kind = P_CMP;
        c->last.cc = (uint8_t)cc;
        c->last.is64 = is64;
        c->last.imm = imm;
        c->last.a = sa;
        c->last.b = sb;
    }
    if (op == OP_I32_MUL || op == OP_I64_MUL || op == OP_F64_MUL) {
        c->last.kind = P_MUL;
        c->last.imm = imm;
        c->last.a = use_r ? rb : sa;
        c->last.b = sb;
    }
}

static void emit_eqz(comp *c, bool is64)
{
    /* eqz of a fresh integer comparison is the negated comparison */
    if (c->last.pos != NONE && c->last.kind == P_CMP && c->last.height == c->vh - 1 &&
        c->vs[c->vh - 1].kind == V_TEMP) {
        peep p = c->last;
        unemit_last(c);
        uint8_t cc = cc_neg[p.cc];
        bool ur = p.uses_r && reg_slot(c, RI) == p.a;
        int which = ur ? (p.is64 ? (p.imm ? CC_I64_RI : CC_I64_R) : (p.imm ? CC_I32_RI : CC_I32_R))
                       : (p.is64 ? (p.imm ? CC_I64_IMM : CC_I64) : (p.imm ? CC_I32_IMM : CC_I32));
        uint32_t at = put_op(c, cc_ops[cc][which]);
        put(c, c->T + p.height);
        if (!ur)
            put(c, p.a);
        put(c, p.b);
        c->last = p;
        c->last.pos = at;
        c->last.dst = at + OP_HW;
        c->last.end = pos(c);
        c->last.cc = cc;
        c->last.uses_r = ur;
        return;
    }
    uint32_t a = emit_unary(c, is64 ? OP_I64_EQZ : OP_I32_EQZ);
    if (c->last.pos != NONE && a != NONE) {
        c->last.kind = P_EQZ;
        c->last.is64 = is64;
        c->last.a = a;
    }
}

/* Copies the top n values to the label slots of t (base .. base+n). */
static void emit_carry(comp *c, ctl *t, uint32_t n)
{
    uint32_t from = c->vh - n;
    for (uint32_t i = 0; i < n; i++)
        emit_value(c, c->T + t->base + i, &c->vs[from + i], c->T + from + i);
}

static uint32_t label_arity(const ctl *t)
{
    return t->kind == C_LOOP ? t->nparams : t->nresults;
}

/* Are the top n values already where label t wants them (after materialising)? */
static bool carry_in_place(const comp *c, const ctl *t, uint32_t n)
{
    return n == 0 || c->vh - n == t->base;
}

static void emit_return(comp *c)
{
    ctl *f = &c->cs[0];
    uint32_t n = f->nresults;
    if (!vhave(c, n))
        return;
    if (n == 0) {
        put_op(c, OP_RETURN0);
    } else if (n == 1) {
        vval *v = &c->vs[c->vh - 1];
        if (v->kind == V_CONST && v->imm <= UINT32_MAX) {
            put_op(c, OP_RETURN1_IMM);
            put(c, (uint32_t)v->imm);
        } else {
            uint32_t s = opnd(c, c->vh - 1);
            put_op(c, OP_RETURN1);
            put(c, s);
        }
    } else {
        mat_from(c, c->vh - n);
        put_op(c, OP_RETURNN);
        put(c, n);
        put(c, c->T + c->vh - n);
    }
}

/* Unconditional branch to t carrying its label values (or a return). */
static void emit_br(comp *c, ctl *t)
{
    if (t->kind == C_FUNC) {
        emit_return(c);
        return;
    }
    uint32_t n = label_arity(t);
    if (!vhave(c, n))
        return;
    emit_carry(c, t, n);
    put_op(c, OP_BR);
    put_target(c, t);
}

typedef struct cond {
    uint8_t kind; /* P_NONE: test slot a; P_EQZ: a == 0; P_CMP */
    uint8_t cc;
    bool is64, imm;
    uint32_t a, b; /* a may also be in the integer register: see reg_slot */
} cond;

/* Pops the condition off the virtual stack, undoing the op that computed it
 * when the branch can test it directly. */
static cond take_cond(comp *c)
{
    cond k = {P_NONE, 0, false, false, 0, 0};
    uint32_t i = c->vh - 1;
    if (c->last.pos != NONE && c->last.height == i && c->vs[i].kind == V_TEMP &&
        (c->last.kind == P_CMP || c->last.kind == P_EQZ)) {
        peep p = c->last;
        unemit_last(c);
        k.kind = p.kind;
        k.cc = p.cc;
        k.is64 = p.is64;
        k.imm = p.imm;
        k.a = p.a;
        k.b = p.b;
    } else {
        k.a = opnd(c, i);
    }
    vpop(c, 1);
    return k;
}

/* Emits a branch taken when k holds (or fails, if neg) and returns its branch word. */
static uint32_t emit_branch_if(comp *c, cond k, bool neg)
{
    if (k.kind == P_CMP) {
        uint8_t cc = neg ? cc_neg[k.cc] : k.cc;
        /* `x += imm` or `x += y` right before: the branch does the add too */
        peep *l = &c->last;
        bool addi = l->kind == P_ADDI || l->kind == P_ADDI2;
        if (l->pos != NONE && l->end == pos(c) && (addi || l->kind == P_ADDS) &&
            l->is64 == k.is64) {
            uint32_t x = get_word(c, l->dst), y = 0, b = k.b;
            bool ok = false;
            if (addi)
                ok = x == l->a;
            else if (x == l->a || x == l->b)
                ok = true, y = x == l->a ? l->b : l->a;
            if (ok && k.a == x && (k.imm || k.b != x)) {
                ok = true;
            } else if (ok && !k.imm && k.b == x && k.a != x) {
                cc = cc_swap[cc];
                b = k.a;
            } else {
                ok = false;
            }
            if (ok) {
                peep p = *l;
                unemit_last(c);
                if (p.kind == P_ADDI2) {
                    /* keep the first add on its own */
                    put_op(c, OP_I32_ADD_IMM);
                    put(c, p.x1);
                    put(c, p.x2);
                    put(c, p.x3);
                }
                int which = p.kind == P_ADDS ? (k.imm ? CC_BRA32_IMM : CC_BRA32)
                            : k.is64         ? (k.imm ? CC_BRI64_IMM : CC_BRI64)
                                             : (k.imm ? CC_BRI32_IMM : CC_BRI32);
                put_op(c, cc_ops[cc][which]);
                put(c, x);
                put(c, p.kind == P_ADDS ? y : p.b);
                put(c, b);
                return put_site(c);
            }
        }
        bool ur = reg_slot(c, RI) == k.a;
        int which =
            ur ? (k.is64 ? (k.imm ? CC_BR64_RI : CC_BR64_R) : (k.imm ? CC_BR32_RI : CC_BR32_R))
               : (k.is64 ? (k.imm ? CC_BR64_IMM : CC_BR64) : (k.imm ? CC_BR32_IMM : CC_BR32));
        put_op(c, cc_ops[cc][which]);
        if (!ur)
            put(c, k.a);
        put(c, k.b);
    } else {
        /* P_EQZ: branch if a == 0 */
        bool zero = (k.kind == P_EQZ) != neg;
        peep *l = &c->last;
        if (!k.is64 && l->pos != NONE && l->end == pos(c) &&
            (l->kind == P_ADDI || l->kind == P_ADDI2) && !l->is64 && get_word(c, l->dst) == l->a &&
            l->a == k.a) {
            /* `x += imm; br_if x`: one op */
            peep p = *l;
            unemit_last(c);
            if (p.kind == P_ADDI2) {
                put_op(c, OP_I32_ADD_IMM);
                put(c, p.x1);
                put(c, p.x2);
                put(c, p.x3);
            }
            put_op(c, zero ? OP_BRI_Z : OP_BRI_NZ);
            put(c, p.a);
            put(c, p.b);
            return put_site(c);
        }
        bool ur = reg_slot(c, RI) == k.a;
        static const uint16_t ops[2][2][2] = {
            {{OP_BR_NZ, OP_BR_NZ64}, {OP_BR_Z, OP_BR_Z64}},
            {{OP_BR_NZ_R, OP_BR_NZ64_R}, {OP_BR_Z_R, OP_BR_Z64_R}},
        };
        put_op(c, ops[ur][zero][k.is64]);
        if (!ur)
            put(c, k.a);
    }
    return put_site(c);
}

static ctl *label(comp *c, uint32_t depth)
{
    if (depth >= c->ch) {
        fail(c, WASM_ERR_INVALID, "branch depth out of range in validated code");
        return NULL;
    }
    return &c->cs[c->ch - 1 - depth];
}

static void emit_br_if(comp *c, uint32_t depth)
{
    ctl *t = label(c, depth);
    if (!t || !vhave(c, 1))
        return;
    cond k = take_cond(c);
    uint32_t n = t->kind == C_FUNC ? t->nresults : label_arity(t);
    if (!vhave(c, n))
        return;
    if (t->kind != C_FUNC && carry_in_place(c, t, n)) {
        mat_from(c, c->vh - n);
        uint32_t site = emit_branch_if(c, k, false);
        /* re-point the placeholder word at the label */
        c->len = site;
        put_target(c, t);
    } else {
        uint32_t site = emit_branch_if(c, k, true);
        emit_br(c, t);
        bind_site(c, site);
    }
}

static bool grow_ctl(comp *c)
{
    if (c->ch < c->ccap)
        return true;
    uint32_t ncap = c->ccap ? c->ccap * 2 : 16;
    ctl *n = realloc(c->cs, ncap * sizeof *n);
    if (!n) {
        fail(c, WASM_ERR_NOMEM, "out of memory compiling function");
        return false;
    }
    c->cs = n;
    c->ccap = ncap;
    return true;
}

static ctl *push_ctl(comp *c, uint8_t kind, uint32_t np, uint32_t nr)
{
    if (!grow_ctl(c))
        return NULL;
    ctl *t = &c->cs[c->ch++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->nparams = np;
    t->nresults = nr;
    t->base = c->vh >= np ? c->vh - np : 0;
    return t;
}

static void emit_call(comp *c, uint32_t fidx)
{
    const wasm_module *m = c->m;
    if (fidx >= m->nfuncs || m->funcs[fidx].type >= m->ntypes) {
        fail(c, WASM_ERR_INVALID, "call target out of range in validated code");
        return;
    }
    const wasm_functype *ft = &m->types[m->funcs[fidx].type];
    if (!vhave(c, ft->nparams))
        return;
    mat_from(c, c->vh - ft->nparams);
    uint32_t argbase = c->T + c->vh - ft->nparams;
    if (fidx < m->nfunc_imports || !m->funcs[fidx].code) {
        put_op(c, OP_CALL_IMPORT);
        put(c, fidx);
    } else {
        put_op(c, OP_CALL);
        put_ptr(c, m->funcs[fidx].code);
    }
    put(c, argbase);
    vpop(c, ft->nparams);
    if (!vgrow(c, ft->nresults))
        return;
    for (uint32_t i = 0; i < ft->nresults; i++)
        push_temp(c);
}

static void emit_call_indirect(comp *c, uint32_t tidx, uint32_t table)
{
    const wasm_module *m = c->m;
    if (tidx >= m->ntypes || table >= m->ntables) {
        fail(c, WASM_ERR_INVALID, "call_indirect immediates out of range in validated code");
        return;
    }
    uint32_t canon = m->type_canon && m->type_canon[tidx] < m->ntypes ? m->type_canon[tidx] : tidx;
    const wasm_functype *ft = &m->types[canon];
    if (!vhave(c, ft->nparams + 1))
        return;
    uint32_t idx = opnd(c, c->vh - 1);
    vpop(c, 1);
    mat_from(c, c->vh - ft->nparams);
    uint32_t argbase = c->T + c->vh - ft->nparams;
    put_op(c, OP_CALL_INDIRECT);
    put_ptr(c, ft);
    put(c, table);
    put(c, idx);
    put(c, argbase);
    vpop(c, ft->nparams);
    if (!vgrow(c, ft->nresults))
        return;
    for (uint32_t i = 0; i < ft->nresults; i++)
        push_temp(c);
}

static void emit_br_table(comp *c, const uint32_t *labels, uint32_t n)
{
    if (!vhave(c, 1))
        return;
    ctl *dt = label(c, labels[n]);
    if (!dt)
        return;
    uint32_t arity = dt->kind == C_FUNC ? dt->nresults : label_arity(dt);
    uint32_t idx = opnd(c, c->vh - 1);
    vpop(c, 1);
    if (!vhave(c, arity))
        return;
    mat_from(c, c->vh - arity);
    put_op(c, OP_BR_TABLE);
    put(c, idx);
    put(c, n);
    uint32_t first = pos(c);
    bool stubs = false;
    for (uint32_t j = 0; j <= n; j++) {
        ctl *t = label(c, labels[j]);
        if (!t)
            return;
        if (t->kind == C_FUNC || !carry_in_place(c, t, arity)) {
            put(c, 0);
            stubs = true;
        } else {
            put_target(c, t);
        }
    }
    if (!stubs)
        return;
    /* one stub per distinct label: carry the values, then branch or return */
    uint32_t mark = ++c->table_mark;
    for (uint32_t j = 0; j <= n && !c->fail; j++) {
        ctl *t = label(c, labels[j]);
        if (!(t->kind == C_FUNC || !carry_in_place(c, t, arity)))
            continue;
        if (t->stub_mark != mark) {
            put_dead_count(c); /* stubs charge nothing */
            t->stub = pos(c);
            t->stub_mark = mark;
            emit_br(c, t);
        }
        patch(c, first + j, t->stub);
    }
}

static struct known *known_of(comp *c, uint32_t x)
{
    for (int k = 0; k < TRACK; k++)
        if (c->known[k].x == x && c->known[k].epoch == c->label_epoch)
            return &c->known[k];
    return NULL;
}

static void emit_local_get(comp *c, uint32_t x)
{
    struct known *kn = known_of(c, x);
    if (kn) {
        /* x = base + imm: loads and stores can fold it; x itself stays an alias */
        vpush(c, V_ADD, kn->base, kn->imm);
        if (!c->fail)
            c->vs[c->vh - 1].alias = x;
        return;
    }
    note_read(c, x);
    vpush(c, V_LOCAL, x, 0);
}

/* Bookkeeping before local x is written: what was known about it (or built
 * on it) is gone, aliases of it end, and an unread earlier write dies. */
static void local_written(comp *c, uint32_t x)
{
    for (int k = 0; k < TRACK; k++)
        if (c->known[k].x == x || c->known[k].base == x)
            c->known[k].x = NONE;
    for (uint32_t i = c->pend_lo; i < c->vh; i++)
        if (c->vs[i].kind == V_ADD && c->vs[i].alias == x)
            c->vs[i].alias = NONE;
    for (int k = 0; k < TRACK; k++) {
        struct dead *d = &c->dead[k];
        if (d->x == x) {
            d->x = NONE;
            if (d->epoch == c->branch_epoch)
                cut(c, d->pos, d->len);
        }
    }
}

static void emit_local_set(comp *c, uint32_t x, bool tee)
{
    if (x >= c->L) {
        fail(c, WASM_ERR_INVALID, "local index out of range in validated code");
        return;
    }
    if (!vhave(c, 1))
        return;
    uint32_t i = c->vh - 1;
    vval v = c->vs[i];
    if (v.kind == V_LOCAL && v.local == x) {
        if (!tee) /* x = x */
            vpop(c, 1);
        return;
    }
    local_written(c, x);
    bool tracked = c->written && x >= c->nparams && x - c->nparams < ZERO_TRACK;
    if (tracked && c->entry_block && !c->written[x - c->nparams] && v.kind == V_CONST &&
        v.imm == 0) {
        /* the prologue zeroed it */
        if (!tee)
            vpop(c, 1);
        return;
    }
    if (tracked)
        c->written[x - c->nparams] = 1;
    /* retarget the op that just computed the value to write x directly */
    if (v.kind == V_TEMP && c->last.pos != NONE && c->last.dst != NONE && c->last.height == i &&
        c->last.end == pos(c)) {
        if (local_referenced(c, x, i)) {
            /* entries still reading x get their copies before the op, which
             * reads only slots at or above its own height, locals and the pool */
            peep p = c->last;
            uint32_t n = p.end - p.pos, words[32];
            if (n > 32 || c->fail || p.uses_r)
                goto plain;
            memcpy(words, c->code + p.pos, n * sizeof *words);
            unemit_last(c);
            protect_local(c, x, i);
            uint32_t at = pos(c);
            c->prev = c->last;
            if (c->prev.pos != NONE && c->prev.end != at)
                c->prev.pos = NONE;
            for (uint32_t k = 0; k < n; k++)
                put(c, words[k]);
            p.dst = at + (p.dst - p.pos);
            p.pos = at;
            p.end = pos(c);
            c->last = p;
        }
        set_word(c, c->last.dst, x);
        c->last.height = NONE;
        vpop(c, 1);
        if (tee)
            vpush(c, V_LOCAL, x, 0);
        return;
    }
plain:
    protect_local(c, x, i);
    uint32_t at = pos(c);
    emit_value(c, x, &v, c->T + i);
    if (c->last.pos == at && c->last.end == pos(c) && !c->fail) {
        /* one plain op wrote x: a candidate dead write */
        struct dead *d = &c->dead[c->dead_rr];
        c->dead_rr = (c->dead_rr + 1) % TRACK;
        *d = (struct dead){x, at, pos(c) - at, c->branch_epoch};
    }
    if (v.kind == V_ADD && v.idx == NONE && v.local < c->L && v.local != x) {
        struct known *kn = &c->known[c->known_rr];
        c->known_rr = (c->known_rr + 1) % TRACK;
        *kn = (struct known){x, v.local, (uint32_t)v.imm, c->label_epoch};
    }
    if (v.kind == V_ADD) {
        /* x now holds the sum; a tee keeps the pending sum (loads fold it)
         * unless it was computed from x itself */
        vpop(c, 1);
        if (tee && !reads_slot(&v, x) && sum_fits(c, &v, c->vh)) {
            push_sum(c, v);
            if (!c->fail)
                c->vs[c->vh - 1].alias = x;
        } else if (tee) {
            vpush(c, V_LOCAL, x, 0);
        }
        return;
    }
    if (!tee)
        vpop(c, 1);
}

/* ---- the body loop ---------------------------------------------------- */

static bool read_blocktype(comp *c, wasm_reader *r, uint32_t *np, uint32_t *nr)
{
    if (r->p >= r->end)
        return false;
    uint8_t b = *r->p;
    if (b == 0x40) {
        r->p++;
        *np = *nr = 0;
        return true;
    }
    if (b == WASM_I32 || b == WASM_I64 || b == WASM_F32 || b == WASM_F64 || b == WASM_FUNCREF ||
        b == WASM_EXTERNREF) {
        r->p++;
        *np = 0;
        *nr = 1;
        return true;
    }
    int64_t t;
    if (!wasm_rd_sleb(r, 33, &t) || t < 0 || (uint64_t)t >= c->m->ntypes)
        return false;
    *np = c->m->types[t].nparams;
    *nr = c->m->types[t].nresults;
    return true;
}

/* Reads the immediates of an instruction the translator skips (dead code). */
static bool skip_imm(wasm_reader *r, uint8_t op)
{
    uint32_t x;
    uint64_t v64;
    int64_t s;
    const uint8_t *bytes;
    switch (op) {
    case 0x0c:
    case 0x0d:
    case 0x10:
    case 0x20:
    case 0x21:
    case 0x22:
    case 0x23:
    case 0x24:
    case 0x25:
    case 0x26:
    case 0xd2:
        return wasm_rd_u32(r, &x);
    case 0x0e: {
        uint32_t n;
        if (!wasm_rd_u32(r, &n))
            return false;
        for (uint64_t i = 0; i <= n; i++)
            if (!wasm_rd_u32(r, &x))
                return false;
        return true;
    }
    case 0x11:
        return wasm_rd_u32(r, &x) && wasm_rd_u32(r, &x);
    case 0x1c: {
        uint32_t n;
        if (!wasm_rd_u32(r, &n))
            return false;
        return wasm_rd_bytes(r, n, &bytes);
    }
    case 0x3f:
    case 0x40:
    case 0xd0:
        return wasm_rd_bytes(r, 1, &bytes);
    case 0x41:
        return wasm_rd_sleb(r, 32, &s);
    case 0x42:
        return wasm_rd_sleb(r, 64, &s);
    case 0x43:
        return wasm_rd_fixed32(r, &x);
    case 0x44:
        return wasm_rd_fixed64(r, &v64);
    case 0xfc: {
        if (!wasm_rd_u32(r, &x))
            return false;
        uint32_t y;
        switch (x) {
        case 8:
            return wasm_rd_u32(r, &y) && wasm_rd_bytes(r, 1, &bytes);
        case 10:
            return wasm_rd_bytes(r, 2, &bytes);
        case 11:
            return wasm_rd_bytes(r, 1, &bytes);
        case 12:
        case 14:
            return wasm_rd_u32(r, &y) && wasm_rd_u32(r, &y);
        case 9:
        case 13:
        case 15:
        case 16:
        case 17:
            return wasm_rd_u32(r, &y);
        default:
            return x <= 7;
        }
    }
    default:
        if (op >= 0x28 && op <= 0x3e)
            return wasm_rd_u32(r, &x) && wasm_rd_u32(r, &x);
        return true;
    }
}

/* Ends the current construct: handles the fall-through and the end label. */
static void do_end(comp *c)
{
    ctl *t = &c->cs[c->ch - 1];
    bool live = !t->dead;
    switch (t->kind) {
    case C_FUNC:
        if (live) {
            count(c);
            emit_return(c);
        }
        c->ch--;
        return;
    case C_LOOP:
        if (live)
            count(c);
        else
            vreset(c, t->base, t->nresults);
        c->ch--;
        c->cs[c->ch - 1].dead = !live;
        return;
    default:
        break;
    }
    /* block or if */
    bool merge = t->targeted || t->else_site;
    if (live && merge && vhave(c, t->nresults))
        mat_from(c, c->vh - t->nresults);
    bool reach = live || merge;
    if (merge) {
        fuel_block(c);
        if (t->else_site) {
            patch(c, t->else_site - 1, c->fuel_at + 1);
            t->else_site = 0;
        }
        bind(c, t);
    }
    if (reach)
        count(c);
    if (merge || !live)
        vreset(c, t->base, t->nresults); /* the values sit in their temp slots */
    c->ch--;
    c->cs[c->ch - 1].dead = !reach;
}

static void do_else(comp *c)
{
    ctl *t = &c->cs[c->ch - 1];
    if (t->kind != C_IF) {
        fail(c, WASM_ERR_INVALID, "else without if in validated code");
        return;
    }
    if (!t->dead) {
        count(c);
        if (vhave(c, t->nresults))
            mat_from(c, c->vh - t->nresults);
        put_op(c, OP_BR);
        put_target(c, t);
    }
    fuel_block(c);
    if (t->else_site)
        patch(c, t->else_site - 1, c->fuel_at + 1);
    t->else_site = 0;
    vreset(c, t->base, t->nparams);
    t->dead = false;
}

/* Collects the distinct constants of a body into the pool (first POOL_MAX). */
static void prescan(comp *c, const wasm_funcdef *fd)
{
    wasm_reader r = wasm_rd_init(c->m->bytes, fd->body, fd->end);
    while (!wasm_rd_eof(&r)) {
        uint8_t op;
        uint64_t v;
        int64_t sv;
        uint32_t u, np, nr;
        if (!wasm_rd_u8(&r, &op))
            return;
        switch (op) {
        case 0x41:
            if (!wasm_rd_sleb(&r, 32, &sv))
                return;
            v = (uint32_t)sv;
            break;
        case 0x42:
            if (!wasm_rd_sleb(&r, 64, &sv))
                return;
            v = (uint64_t)sv;
            break;
        case 0x43:
            if (!wasm_rd_fixed32(&r, &u))
                return;
            v = u;
            break;
        case 0x44:
            if (!wasm_rd_fixed64(&r, &v))
                return;
            break;
        case 0x02:
        case 0x03:
        case 0x04:
            if (!read_blocktype(c, &r, &np, &nr))
                return;
            continue;
        default:
            if (!skip_imm(&r, op))
                return;
            continue;
        }
        if (c->npool == POOL_MAX)
            continue;
        if (!c->pool_hash) {
            c->pool_cap = 2 * POOL_MAX;
            c->pool_hash = calloc(c->pool_cap, sizeof *c->pool_hash);
            c->pool_val = malloc(POOL_MAX * sizeof *c->pool_val);
            c->pool_used = calloc(POOL_MAX, 1);
            if (!c->pool_hash || !c->pool_val || !c->pool_used) {
                c->pool_cap = 0;
                return;
            }
        }
        uint32_t mask = c->pool_cap - 1;
        uint32_t h = (uint32_t)((v * 0x9e3779b97f4a7c15ull) >> 40) & mask;
        while (c->pool_hash[h] && c->pool_val[c->pool_hash[h] - 1] != v)
            h = (h + 1) & mask;
        if (!c->pool_hash[h]) {
            c->pool_val[c->npool++] = v;
            c->pool_hash[h] = c->npool;
        }
    }
}

/* Emits the entry prologue, which zeroes the declared locals, loads the used
 * pool constants (they follow the locals) and jumps to the body. Returns
 * where calls enter: the prologue, or the body when there is nothing to do. */
static uint32_t emit_prologue(comp *c, uint32_t nparams, uint32_t *nzero)
{
    uint32_t npool = 0;
    for (uint32_t k = 0; k < c->npool; k++)
        if (c->pool_used[k])
            npool = k + 1;
    uint32_t nlocals = c->L - nparams;
    *nzero = 0;
    if (nlocals + npool == 0)
        return OP_HW + 1;
    if (npool == 0 && nlocals <= WASM_CALL_ZERO) {
        /* a few locals: the call zeroes them, saving a dispatch */
        *nzero = nlocals;
        return OP_HW + 1;
    }
    uint32_t at = put_op(c, OP_PROLOGUE);
    put(c, nparams);
    put(c, nlocals);
    put(c, npool);
    put(c, OP_HW + 1 - pos(c));
    for (uint32_t k = 0; k < npool; k++) {
        put(c, (uint32_t)c->pool_val[k]);
        put(c, (uint32_t)(c->pool_val[k] >> 32));
    }
    peep_reset(c);
    return at;
}

static bool compile_body(comp *c, const wasm_funcdef *fd)
{
    const wasm_module *m = c->m;
    wasm_reader r = wasm_rd_init(m->bytes, fd->body, fd->end);
    const wasm_functype *ft = &m->types[fd->type];
    uint32_t *labels = NULL;
    size_t labels_cap = 0;

    /* function entry: its basic block, then the function's own label */
    put_op(c, OP_FUEL);
    c->fuel_at = pos(c);
    put(c, 0);
    push_ctl(c, C_FUNC, 0, ft->nresults);

    while (c->ch > 0 && !c->fail) {
        uint8_t op;
        if (!wasm_rd_u8(&r, &op))
            goto bad;
        ctl *top = &c->cs[c->ch - 1];
        if (top->dead) {
            /* unreachable code: validated, not emitted */
            if (op == 0x02 || op == 0x03 || op == 0x04) {
                uint32_t np, nr;
                if (!read_blocktype(c, &r, &np, &nr))
                    goto bad;
                c->dead_nest++;
                continue;
            }
            if (op == 0x0b) {
                if (c->dead_nest) {
                    c->dead_nest--;
                    continue;
                }
                do_end(c);
                continue;
            }
            if (op == 0x05 && !c->dead_nest) {
                do_else(c);
                continue;
            }
            if (!skip_imm(&r, op))
                goto bad;
            continue;
        }

        uint32_t x, y;
        int64_t s;
        uint64_t u;
        switch (op) {
        case 0x00: /* unreachable */
            count(c);
            put_op(c, OP_UNREACHABLE);
            top->dead = true;
            break;
        case 0x01: /* nop */
            count(c);
            break;
        case 0x02:   /* block */
        case 0x03:   /* loop */
        case 0x04: { /* if */
            uint32_t np, nr;
            if (!read_blocktype(c, &r, &np, &nr))
                goto bad;
            count(c);
            if (op == 0x04) {
                if (!vhave(c, 1 + np))
                    break;
                cond k = take_cond(c);
                mat_all(c);
                uint32_t site = emit_branch_if(c, k, true);
                ctl *t = push_ctl(c, C_IF, np, nr);
                if (t)
                    t->else_site = site + 1;
                break;
            }
            if (!vhave(c, np))
                break;
            mat_all(c);
            ctl *t = push_ctl(c, op == 0x02 ? C_BLOCK : C_LOOP, np, nr);
            if (t && op == 0x03) {
                fuel_block(c);
                t->head = c->fuel_at + 1;
            }
            break;
        }
        case 0x05: /* else */
            do_else(c);
            break;
        case 0x0b: /* end */
            do_end(c);
            break;
        case 0x0c: { /* br */
            if (!wasm_rd_u32(&r, &x))
                goto bad;
            count(c);
            ctl *t = label(c, x);
            if (t)
                emit_br(c, t);
            top->dead = true;
            break;
        }
        case 0x0d: /* br_if */
            if (!wasm_rd_u32(&r, &x))
                goto bad;
            count(c);
            emit_br_if(c, x);
            break;
        case 0x0e: { /* br_table */
            uint32_t n;
            if (!wasm_rd_u32(&r, &n))
                goto bad;
            if ((size_t)(r.end - r.p) < n)
                goto bad;
            if (labels_cap < (size_t)n + 1) {
                uint32_t *nl = realloc(labels, ((size_t)n + 1) * sizeof *nl);
                if (!nl) {
                    fail(c, WASM_ERR_NOMEM, "out of memory compiling function");
                    break;
                }
                labels = nl;
                labels_cap = (size_t)n + 1;
            }
            for (uint64_t j = 0; j <= n; j++)
                if (!wasm_rd_u32(&r, &labels[j]))
                    goto bad;
            count(c);
            emit_br_table(c, labels, n);
            top = &c->cs[c->ch - 1];
            top->dead = true;
            break;
        }
        case 0x0f: /* return */
            count(c);
            emit_return(c);
            top->dead = true;
            break;
        case 0x10: /* call */
            if (!wasm_rd_u32(&r, &x))
                goto bad;
            count(c);
            emit_call(c, x);
            break;
        case 0x11: /* call_indirect */
            if (!wasm_rd_u32(&r, &x) || !wasm_rd_u32(&r, &y))
                goto bad;
            count(c);
            emit_call_indirect(c, x, y);
            break;
        case 0x1a: /* drop */
            count(c);
            if (vhave(c, 1))
                vpop(c, 1);
            break;
        case 0x1c: /* select t* */
            if (!skip_imm(&r, op))
                goto bad;
            /* fall through */
        case 0x1b: { /* select */
            count(c);
            if (!vhave(c, 3))
                break;
            uint32_t i = c->vh - 3;
            bool is64 = false, swap = false;
            uint32_t sc = NONE;
            peep *l = &c->last;
            if (l->pos != NONE && l->end == pos(c) && l->kind == P_EQZ && l->height == i + 2 &&
                c->vs[i + 2].kind == V_TEMP) {
                /* select(a, b, eqz(x)) is select(b, a, x) */
                is64 = l->is64;
                sc = l->a;
                swap = true;
                unemit_last(c);
            }
            uint32_t sa = opnd(c, i), sb = opnd(c, i + 1);
            if (sc == NONE)
                sc = opnd(c, i + 2);
            if (swap) {
                uint32_t t = sa;
                sa = sb;
                sb = t;
            }
            bool ur = reg_slot(c, RI) == sc;
            vpop(c, 3);
            uint32_t d = push_temp(c);
            static const uint16_t sel[2][2] = {{OP_SELECT, OP_SELECT_R},
                                               {OP_SELECT64, OP_SELECT64_R}};
            uint32_t at = put_op(c, sel[is64][ur]);
            put(c, d);
            put(c, sa);
            put(c, sb);
            if (!ur)
                put(c, sc);
            set_last(c, at, at + OP_HW, i);
            c->last.uses_r = ur;
            break;
        }
        case 0x20: /* local.get */
            if (!wasm_rd_u32(&r, &x))
                goto bad;
            count(c);
            if (x >= c->L) {
                fail(c, WASM_ERR_INVALID, "local index out of range in validated code");
                break;
            }
            emit_local_get(c, x);
            break;
        case 0x21: /* local.set */
        case 0x22: /* local.tee */
            if (!wasm_rd_u32(&r, &x))
                goto bad;
            count(c);
            emit_local_set(c, x, op == 0x22);
            break;
        case 0x23: { /* global.get */
            if (!wasm_rd_u32(&r, &x))
                goto bad;
            count(c);
            uint32_t i = c->vh;
            uint32_t d = push_temp(c);
            uint32_t at = put_op(c, OP_GLOBAL_GET);
            put(c, d);
            put(c, x);
            set_last(c, at, at + OP_HW, i);
            break;
        }
        case 0x24: /* global.set */
            if (!wasm_rd_u32(&r, &x))
                goto bad;
            count(c);
            if (!vhave(c, 1))
                break;
            y = opnd(c, c->vh - 1);
            vpop(c, 1);
            put_op(c, OP_GLOBAL_SET);
            put(c, x);
            put(c, y);
            break;
        case 0x25: { /* table.get */
            if (!wasm_rd_u32(&r, &x))
                goto bad;
            count(c);
            if (!vhave(c, 1))
                break;
            uint32_t i = c->vh - 1;
            uint32_t a = opnd(c, i);
            vpop(c, 1);
            uint32_t d = push_temp(c);
            uint32_t at = put_op(c, OP_TABLE_GET);
            put(c, d);
            put(c, x);
            put(c, a);
            set_last(c, at, at + OP_HW, i);
            break;
        }
        case 0x26: { /* table.set */
            if (!wasm_rd_u32(&r, &x))
                goto bad;
            count(c);
            if (!vhave(c, 2))
                break;
            uint32_t i = c->vh - 2;
            uint32_t a = opnd(c, i), v = opnd(c, i + 1);
            vpop(c, 2);
            put_op(c, OP_TABLE_SET);
            put(c, x);
            put(c, a);
            put(c, v);
            break;
        }
        case 0x3f:   /* memory.size */
        case 0x40: { /* memory.grow */
            const uint8_t *b;
            if (!wasm_rd_bytes(&r, 1, &b))
                goto bad;
            count(c);
            if (op == 0x3f) {
                uint32_t i = c->vh;
                uint32_t d = push_temp(c);
                uint32_t at = put_op(c, OP_MEMORY_SIZE);
                put(c, d);
                set_last(c, at, at + OP_HW, i);
            } else {
                if (!vhave(c, 1))
                    break;
                uint32_t i = c->vh - 1;
                uint32_t a = opnd(c, i);
                vpop(c, 1);
                uint32_t d = push_temp(c);
                uint32_t at = put_op(c, OP_MEMORY_GROW);
                put(c, d);
                put(c, a);
                set_last(c, at, at + OP_HW, i);
            }
            break;
        }
        case 0x41: /* i32.const */
            if (!wasm_rd_sleb(&r, 32, &s))
                goto bad;
            count(c);
            vpush(c, V_CONST, 0, (uint32_t)s);
            break;
        case 0x42: /* i64.const */
            if (!wasm_rd_sleb(&r, 64, &s))
                goto bad;
            count(c);
            vpush(c, V_CONST, 0, (uint64_t)s);
            break;
        case 0x43: /* f32.const */
            if (!wasm_rd_fixed32(&r, &x))
                goto bad;
            count(c);
            vpush(c, V_CONST, 0, x);
            break;
        case 0x44: /* f64.const */
            if (!wasm_rd_fixed64(&r, &u))
                goto bad;
            count(c);
            vpush(c, V_CONST, 0, u);
            break;
        case 0xd0: { /* ref.null */
            const uint8_t *b;
            if (!wasm_rd_bytes(&r, 1, &b))
                goto bad;
            count(c);
            vpush(c, V_CONST, 0, 0);
            break;
        }
        case 0xd1: /* ref.is_null */
            count(c);
            emit_unary(c, OP_REF_IS_NULL);
            break;
        case 0xd2: { /* ref.func */
            if (!wasm_rd_u32(&r, &x))
                goto bad;
            count(c);
            uint32_t i = c->vh;
            uint32_t d = push_temp(c);
            uint32_t at = put_op(c, OP_REF_FUNC);
            put(c, d);
            put(c, x);
            set_last(c, at, at + OP_HW, i);
            break;
        }
        case 0xfc: {
            if (!wasm_rd_u32(&r, &x))
                goto bad;
            if (x <= 7) {
                count(c);
                emit_unary(c, numops[0xc5 + x].op);
                break;
            }
            uint32_t imm[2] = {0, 0};
            const uint8_t *b;
            uint32_t nin = 0, opc = 0, nimm = 0;
            switch (x) {
            case 8: /* memory.init seg */
                if (!wasm_rd_u32(&r, &imm[0]) || !wasm_rd_bytes(&r, 1, &b))
                    goto bad;
                opc = OP_MEMORY_INIT, nimm = 1, nin = 3;
                break;
            case 9: /* data.drop */
                if (!wasm_rd_u32(&r, &imm[0]))
                    goto bad;
                opc = OP_DATA_DROP, nimm = 1, nin = 0;
                break;
            case 10: /* memory.copy */
                if (!wasm_rd_bytes(&r, 2, &b))
                    goto bad;
                opc = OP_MEMORY_COPY, nin = 3;
                break;
            case 11: /* memory.fill */
                if (!wasm_rd_bytes(&r, 1, &b))
                    goto bad;
                opc = OP_MEMORY_FILL, nin = 3;
                break;
            case 12: /* table.init seg table -> op order: table seg */
                if (!wasm_rd_u32(&r, &imm[1]) || !wasm_rd_u32(&r, &imm[0]))
                    goto bad;
                opc = OP_TABLE_INIT, nimm = 2, nin = 3;
                break;
            case 13: /* elem.drop */
                if (!wasm_rd_u32(&r, &imm[0]))
                    goto bad;
                opc = OP_ELEM_DROP, nimm = 1, nin = 0;
                break;
            case 14: /* table.copy dst src */
                if (!wasm_rd_u32(&r, &imm[0]) || !wasm_rd_u32(&r, &imm[1]))
                    goto bad;
                opc = OP_TABLE_COPY, nimm = 2, nin = 3;
                break;
            case 15: /* table.grow */
            case 16: /* table.size */
                if (!wasm_rd_u32(&r, &imm[0]))
                    goto bad;
                count(c);
                if (x == 16) {
                    uint32_t d = push_temp(c);
                    put_op(c, OP_TABLE_SIZE);
                    put(c, d);
                    put(c, imm[0]);
                } else {
                    if (!vhave(c, 2))
                        continue;
                    uint32_t i = c->vh - 2;
                    uint32_t a = opnd(c, i), n = opnd(c, i + 1);
                    vpop(c, 2);
                    uint32_t d = push_temp(c);
                    put_op(c, OP_TABLE_GROW);
                    put(c, d);
                    put(c, imm[0]);
                    put(c, a);
                    put(c, n);
                }
                continue;
            case 17: /* table.fill */
                if (!wasm_rd_u32(&r, &imm[0]))
                    goto bad;
                opc = OP_TABLE_FILL, nimm = 1, nin = 3;
                break;
            default:
                goto bad;
            }
            count(c);
            if (!vhave(c, nin))
                break;
            uint32_t in[3];
            for (uint32_t k = 0; k < nin; k++)
                in[k] = opnd(c, c->vh - nin + k);
            vpop(c, nin);
            put_op(c, (int)opc);
            for (uint32_t k = 0; k < nimm; k++)
                put(c, imm[k]);
            for (uint32_t k = 0; k < nin; k++)
                put(c, in[k]);
            break;
        }
        default:
            if (op >= 0x28 && op <= 0x3e) {
                uint32_t align, offset;
                if (!wasm_rd_u32(&r, &align) || !wasm_rd_u32(&r, &offset))
                    goto bad;
                count(c);
                uint16_t mop = op == 0x2b ? OP_LOAD64F : memops[op - 0x28];
                uint32_t base, imm, idx, mode;
                if (op <= 0x35) {
                    if (!vhave(c, 1))
                        break;
                    uint32_t i = c->vh - 1;
                    addr_opnd(c, i, &base, &imm, &idx, &mode);
                    if (idx != NONE) {
                        vpop(c, 1);
                        uint32_t d = push_temp(c);
                        uint32_t at = put_op(c, xform(mop, base, mode));
                        put(c, d);
                        put_xaddr(c, base, idx, mode, imm);
                        put(c, offset);
                        set_last(c, at, at + OP_HW, i);
                        break;
                    }
                    bool ur = reg_slot(c, RI) == base;
                    vpop(c, 1);
                    uint32_t d = push_temp(c);
                    uint32_t at = put_op(c, ur ? mem_r[mop] : mop);
                    put(c, d);
                    if (!ur)
                        put(c, base);
                    put(c, imm);
                    put(c, offset);
                    set_last(c, at, at + OP_HW, i);
                    c->last.uses_r = ur;
                } else {
                    if (!vhave(c, 2))
                        break;
                    uint32_t i = c->vh - 2;
                    addr_opnd(c, i, &base, &imm, &idx, &mode);
                    uint32_t v = opnd(c, i + 1);
                    if (idx != NONE) {
                        vpop(c, 2);
                        put_op(c, xform(mop, base, mode));
                        put(c, v);
                        put_xaddr(c, base, idx, mode, imm);
                        put(c, offset);
                        break;
                    }
                    uint16_t rop = 0, aop = 0;
                    if (op == 0x39 && reg_slot(c, RF) == v)
                        rop = OP_STORE64_F;
                    else if (reg_slot(c, RI) == v)
                        rop = mem_r[mop];
                    else if (reg_slot(c, RI) == base)
                        aop = store_ar[mop];
                    vpop(c, 2);
                    put_op(c, rop ? rop : aop ? aop : mop);
                    if (!rop)
                        put(c, v);
                    if (!aop)
                        put(c, base);
                    put(c, imm);
                    put(c, offset);
                }
                break;
            }
            if (op >= 0x45 && op <= 0xc4) {
                const numop *n = &numops[op];
                count(c);
                switch (n->kind) {
                case N_UN:
                    emit_unary(c, n->op);
                    break;
                case N_BIN:
                    emit_binary(c, n->op, n->op_imm, n->flags, -1);
                    break;
                case N_CMP32:
                case N_CMP64: {
                    bool is64 = n->kind == N_CMP64;
                    const uint16_t *row = cc_ops[n->op];
                    emit_binary(c, row[is64 ? CC_I64 : CC_I32], row[is64 ? CC_I64_IMM : CC_I32_IMM],
                                (is64 ? F_I64 : 0) | F_COMM, n->op);
                    break;
                }
                case N_EQZ32:
                case N_EQZ64:
                    emit_eqz(c, n->kind == N_EQZ64);
                    break;
                case N_NOP:
                    break;
                default:
                    goto bad;
                }
                break;
            }
            goto bad;
        }
    }
    free(labels);
    if (c->fail)
        return false;
    if (r.p != r.end)
        goto bad_nofree;
    return true;
bad:
    free(labels);
bad_nofree:
    fail(c, WASM_ERR_MALFORMED, "undecodable instruction in validated code");
    return false;
}

static bool compile_func(const wasm_module *m, const void *const *h, uint32_t fidx,
                         struct wasm_code *code, wasm_error *err)
{
    const wasm_funcdef *fd = &m->funcs[fidx];
    comp c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.h = h;
    c.last.pos = NONE;
    if (fd->type >= m->ntypes || !fd->body || !fd->end || fd->end < fd->body)
        return wasm_fail(err, WASM_ERR_INVALID, fd->body_offset, "function %u has no body", fidx);
    const wasm_functype *ft = &m->types[fd->type];
    uint64_t L = (uint64_t)ft->nparams + fd->nlocals;
    if (L + POOL_MAX > MAX_SLOTS)
        return wasm_fail(err, WASM_ERR_LIMIT, fd->body_offset, "function %u has too many locals",
                         fidx);
    c.L = (uint32_t)L;
    c.nparams = ft->nparams;
    for (int k = 0; k < TRACK; k++) {
        c.known[k].x = NONE;
        c.dead[k].x = NONE;
    }
    c.entry_block = true;
    if (fd->nlocals)
        c.written = calloc(fd->nlocals < ZERO_TRACK ? fd->nlocals : ZERO_TRACK, 1);
    prescan(&c, fd);
    c.T = c.L + c.npool;
    bool ok = compile_body(&c, fd);
    uint32_t nzero = 0;
    uint32_t entry = ok ? emit_prologue(&c, ft->nparams, &nzero) : 0;
    ok = ok && !c.fail;
    uint64_t frame = (uint64_t)c.T + c.vmax;
    if (nzero && frame < (uint64_t)ft->nparams + WASM_CALL_ZERO)
        frame = (uint64_t)ft->nparams + WASM_CALL_ZERO; /* the call zeroes a fixed block */
    if (ok && frame > MAX_SLOTS) {
        fail(&c, WASM_ERR_LIMIT, "function frame too large");
        ok = false;
    }
    if (ok) {
        uint32_t fs = (uint32_t)frame;
        uint32_t *shrunk = realloc(c.code, c.len * sizeof *shrunk);
        code->ops = shrunk ? shrunk : c.code;
        code->nwords = c.len;
        code->nparams = ft->nparams;
        code->nlocals = fd->nlocals;
        code->nresults = ft->nresults;
        code->frame_slots = fs;
        code->entry = entry;
        uint64_t ef = (uint64_t)code->ops[OP_HW] + wasm_fuel_locals(fd->nlocals);
        code->entry_fuel = ef > UINT32_MAX ? UINT32_MAX : (uint32_t)ef;
        code->nzero = nzero;
        code->func_index = fidx;
        c.code = NULL;
    } else {
        wasm_fail(err, c.fail_status ? c.fail_status : WASM_ERR_INVALID, fd->body_offset,
                  "function %u: %s", fidx, c.fail_msg ? c.fail_msg : "cannot compile");
    }
    free(c.code);
    free(c.vs);
    free(c.cs);
    free(c.pool_hash);
    free(c.pool_val);
    free(c.pool_used);
    free(c.written);
    return ok;
}

void wasm_code_free(struct wasm_code *code)
{
    if (!code)
        return;
    free(code->ops);
    free(code);
}

bool wasm_compile(wasm_module *m, wasm_error *err)
{
    const void *const *h = wasm_interp_handlers();
    /* allocate every code object first: calls embed their callee's pointer */
    for (uint32_t i = m->nfunc_imports; i < m->nfuncs; i++) {
        if (m->funcs[i].imported)
            continue;
        m->funcs[i].code = calloc(1, sizeof(struct wasm_code));
        if (!m->funcs[i].code)
            goto fail;
    }
    for (uint32_t i = m->nfunc_imports; i < m->nfuncs; i++) {
        if (m->funcs[i].imported)
            continue;
        if (!compile_func(m, h, i, m->funcs[i].code, err))
            goto fail_keep_err;
    }
#ifndef NDEBUG
    {
        /* ops.h's operand counts must describe exactly what was emitted */
        char why[160];
        bool in_step = wasm_code_check(m, NULL, why, sizeof why);
        if (!in_step)
            fprintf(stderr, "wasm_compile: %s\n", why);
        assert(in_step);
    }
#endif
    return true;
fail:
    wasm_fail(err, WASM_ERR_NOMEM, 0, "out of memory compiling module");
fail_keep_err:
    for (uint32_t i = m->nfunc_imports; i < m->nfuncs; i++) {
        wasm_code_free(m->funcs[i].code);
        m->funcs[i].code = NULL;
    }
    return false;
}
