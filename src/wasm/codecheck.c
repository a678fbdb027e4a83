/*
 * codecheck.c — walks translated code by the operand counts of ops.h.
 *
 * Nothing in the interpreter reads the operand column of ops.h (each handler
 * knows its own length), so a wrong entry would go unnoticed until a tool
 * that steps through code (a disassembler, a verifier, an ahead-of-time tier)
 * stepped wrongly. This walk keeps the column honest: from the start of each
 * function it steps over one op at a time by the column's count, and every
 * step must land on a handler address and the last one exactly at the end.
 * A wrong count lands inside some op's operands, where two operand words
 * practically never spell a handler address, or steps past the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "ops.h"

#define WASM_OPS_WORDS(name, words, reg) words,
static const uint32_t op_words[] = {WASM_OPS(WASM_OPS_WORDS)};
#undef WASM_OPS_WORDS
#define WASM_OPS_NAME(name, words, reg) #name,
static const char *const op_name[] = {WASM_OPS(WASM_OPS_NAME)};
#undef WASM_OPS_NAME

typedef struct {
    const void *addr;
    uint32_t op;
} handler_ref;

static int handler_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const handler_ref *)a)->addr;
    uintptr_t y = (uintptr_t)((const handler_ref *)b)->addr;
    return x < y ? -1 : x > y;
}

/* The op whose handler is at addr, or OP_COUNT_ when none is. */
static uint32_t op_at(const handler_ref *map, const void *addr)
{
    size_t lo = 0, hi = OP_COUNT_;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)map[mid].addr < (uintptr_t)addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < OP_COUNT_ && map[lo].addr == addr ? map[lo].op : OP_COUNT_;
}

/* Operand words of the op at w (past its handler), variable tails included. */
static uint64_t operand_words(uint32_t op, const uint32_t *w, size_t left)
{
    uint64_t n = op_words[op];
    if (op == OP_BR_TABLE && left > OP_HW + 1)
        n += (uint64_t)w[OP_HW + 1] + 1; /* n + 1 branch words */
    if (op == OP_PROLOGUE && left > OP_HW + 2)
        n += 2 * (uint64_t)w[OP_HW + 2]; /* npool constants of two words */
    return n;
}

static bool check_code(const struct wasm_code *code, const handler_ref *map, uint32_t *op_counts,
                       char *msg, size_t msglen)
{
    size_t at = 0, prev = 0;
    uint32_t prev_op = OP_COUNT_;
    while (at < code->nwords) {
        const void *addr;
        if (code->nwords - at < OP_HW) {
            snprintf(msg, msglen, "function %u: a partial op at word %zu", code->func_index, at);
            return false;
        }
        memcpy(&addr, code->ops + at, sizeof addr);
        uint32_t op = op_at(map, addr);
        if (op == OP_COUNT_) {
            snprintf(msg, msglen, "function %u: no handler at word %zu, after %s at word %zu",
                     code->func_index, at, prev_op < OP_COUNT_ ? op_name[prev_op] : "nothing",
                     prev);
            return false;
        }
        uint64_t len = OP_HW + operand_words(op, code->ops + at, code->nwords - at);
        if (len > code->nwords - at) {
            snprintf(msg, msglen, "function %u: %s at word %zu runs past the end", code->func_index,
                     op_name[op], at);
            return false;
        }
        if (op_counts)
            op_counts[op]++;
        prev = at;
        prev_op = op;
        at += (size_t)len;
    }
    return true;
}

bool wasm_code_check(const wasm_module *m, uint32_t *op_counts, char *msg, size_t msglen)
{
    const void *const *h = wasm_interp_handlers();
    handler_ref *map = malloc(OP_COUNT_ * sizeof *map);
    if (!map) {
        snprintf(msg, msglen, "out of memory");
        return false;
    }
    for (uint32_t i = 0; i < OP_COUNT_; i++)
        map[i] = (handler_ref){h[i], i};
    qsort(map, OP_COUNT_, sizeof *map, handler_cmp);
    bool ok = true;
    /* two ops sharing a handler could not be told apart by the walk */
    for (uint32_t i = 1; i < OP_COUNT_ && ok; i++)
        if (map[i].addr == map[i - 1].addr) {
            snprintf(msg, msglen, "%s and %s share a handler", op_name[map[i - 1].op],
                     op_name[map[i].op]);
            ok = false;
        }
    for (uint32_t i = m->nfunc_imports; i < m->nfuncs && ok; i++)
        if (!m->funcs[i].imported && m->funcs[i].code)
            ok = check_code(m->funcs[i].code, map, op_counts, msg, msglen);
    free(map);
    return ok;
}
