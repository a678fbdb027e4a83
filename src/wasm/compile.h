/*
 * compile.h — the translated form of a function body (internal to src/wasm).
 *
 * compile.c turns each validated body into direct-threaded slot code (see
 * ops.h); interp.c runs it. A frame is one array of 64-bit slots: params,
 * then declared locals, then the operand-stack temporaries (slot = params +
 * locals + stack height). Just past the frame (fp + frame_slots) the caller
 * keeps a WASM_FRAME_REC-slot record to return to.
 */
#ifndef SWARM_WASM_COMPILE_H
#define SWARM_WASM_COMPILE_H

#include <stddef.h>
#include <stdint.h>

#include "module.h"

/* Functions with at most this many locals (and no constant pool) have them
 * zeroed by the call itself, as one fixed-size block. */
#define WASM_CALL_ZERO 8u

struct wasm_code {
    uint32_t *ops; /* the code, nwords words, owned */
    size_t nwords;
    uint32_t nparams;     /* params: fp[0..nparams) */
    uint32_t nlocals;     /* declared locals: fp[nparams..nparams+nlocals), zeroed by the
                             entry prologue */
    uint32_t nresults;    /* results, left in fp[0..nresults) on return */
    uint32_t frame_slots; /* params + locals + constant pool + max stack height */
    uint32_t entry;       /* where calls start: ops[0] is the entry block's FUEL op,
                             which callers charge themselves (as entry_fuel) */
    uint32_t entry_fuel;  /* what a call charges before entering: the entry block's
                             count plus the declared locals it zeroes (fuel.h); apart
                             from the block count, as a loop may start at that block */
    uint32_t nzero;       /* nonzero: no prologue; callers zero fp[nparams..+WASM_CALL_ZERO) */
    uint32_t func_index;  /* index in the module's function space (for debugging) */
};

/* Frees one function's code (NULL is fine). */
void wasm_code_free(struct wasm_code *code);

/* codecheck.c: steps through the code of every compiled function of m by the
 * operand counts of ops.h and checks that each step lands on an op and the
 * last exactly at the end. Adds one to op_counts[op] (OP_COUNT_ entries, may
 * be NULL) per op met. Returns false with a message at the first misstep.
 * The compiler runs it on every module when assertions are on. */
bool wasm_code_check(const wasm_module *m, uint32_t *op_counts, char *msg, size_t msglen);

#endif
