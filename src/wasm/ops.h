/*
 * ops.h — the internal operations of translated code (internal to src/wasm).
 *
 * Code is an array of 32-bit words. Each op starts with its handler address
 * (OP_HW words, direct threading), followed by 32-bit operands. Operands named
 * d, a, b, c, v below are slot indices into the frame (fp[i]); "imm" is a
 * 32-bit immediate; "off" is a branch displacement in words, relative to the
 * word that holds it. Handlers read all their operands before writing their
 * destination, so a destination may equal a source.
 *
 * Register forms: besides writing its destination slot, an op marked RI
 * leaves its result in the interpreter's integer register (RF: in its f64
 * register). When the very next op reads that value, the translator picks a
 * variant that takes it from the register (suffix _R: first operand, _SR:
 * second operand, _RI: register and immediate), which keeps dependent chains
 * off the store-to-load path. Slots stay authoritative, so nothing is spilled.
 *
 * The list is an X-macro so that compile.c and interp.c cannot drift apart:
 * X(name, operand words after the handler, register its result is left in).
 * The operand words are checked against the emitted code by
 * wasm_code_check (codecheck.c), on every module when assertions are on.
 */
#ifndef SWARM_WASM_OPS_H
#define SWARM_WASM_OPS_H

#include <stdint.h>

/* Words a handler address takes. */
#define OP_HW ((uint32_t)(sizeof(void *) / sizeof(uint32_t)))

/* Return record of a call (return ip, caller frame, caller instance), kept in
 * the control area that grows down from the top of the store's stack. */
#define WASM_FRAME_REC 4u /* + the caller's memory */

/* Where an op leaves its result besides its slot: nowhere, integer, f64 register. */
#define RN 0
#define RI 1
#define RF 2

// clang-format off
/* Integer comparisons, in the order of the wasm opcodes i32.eq .. i32.ge_u. */
#define WASM_ICMPS(F, X)                                                                           \
    F(X, EQ) F(X, NE) F(X, LT_S) F(X, LT_U) F(X, GT_S) F(X, GT_U) F(X, LE_S) F(X, LE_U)            \
    F(X, GE_S) F(X, GE_U)

/* Integer binary ops with an immediate form (b replaced by a 32-bit imm, sign-extended for i64). */
#define WASM_IBIN_IMM(F, X)                                                                        \
    F(X, ADD) F(X, SUB) F(X, MUL) F(X, AND) F(X, OR) F(X, XOR) F(X, SHL) F(X, SHR_S) F(X, SHR_U)    \
    F(X, ROTL) F(X, ROTR)
// clang-format on

#define WASM_OPS(X)                                                                                \
    /* control */                                                                                  \
    X(UNREACHABLE, 0, RN)                                                                          \
    X(EXIT, 0, RN)    /* leave the interpreter: the entry frame returned */                        \
    X(FUEL, 1, RN)    /* imm: charge imm units (0 and never run after unconditional code) */       \
    X(BR, 1, RN)      /* off: branches charge the count word before their target */                \
    X(BR_NZ, 2, RN)   /* a off: branch if i32 a != 0 */                                            \
    X(BR_Z, 2, RN)    /* a off: branch if i32 a == 0 */                                            \
    X(BR_NZ64, 2, RN) /* a off: branch if i64 a != 0 */                                            \
    X(BR_Z64, 2, RN)  /* a off: branch if i64 a == 0 */                                            \
    X(BR_NZ_R, 1, RN) /* off: branch if i32 r != 0 */                                              \
    X(BR_Z_R, 1, RN)                                                                               \
    X(BR_NZ64_R, 1, RN)                                                                            \
    X(BR_Z64_R, 1, RN)                                                                             \
    X(BRI_NZ, 3, RN) /* x inc off: x += inc (i32), branch if x != 0 */                             \
    X(BRI_Z, 3, RN)                                                                                \
    X(BR_TABLE, 2, RN) /* a n, then n+1 offs (last = default) */                                   \
    X(RETURN0, 0, RN)                                                                              \
    X(RETURN1, 1, RN)               /* a: fp[0] = a */                                             \
    X(RETURN1_IMM, 1, RN)           /* imm: fp[0] = imm (zero-extended) */                         \
    X(RETURNN, 2, RN)               /* n src: fp[0..n) = fp[src..src+n) */                         \
    X(CALL, 1 + OP_HW, RN)          /* code* argbase: the callee's frame starts at fp + argbase */ \
    X(CALL_IMPORT, 2, RN)           /* funcidx argbase */                                          \
    X(CALL_INDIRECT, 3 + OP_HW, RN) /* type* table a argbase */                                    \
    /* data movement */                                                                            \
    X(COPY, 2, RI)     /* d a */                                                                   \
    X(COPY2, 4, RI)    /* d1 a1 d2 a2: two copies in order */                                      \
    X(ADD_IMM2, 6, RI) /* d1 a1 k1 d2 a2 k2: two i32 adds of immediates, in order */               \
    X(CONST32, 2, RN)  /* d imm (zero-extended) */                                                 \
    X(CONST64, 3, RN)  /* d lo hi */                                                               \
    X(PROLOGUE, 4, RN) /* slot nzero npool off, npool lo/hi pairs: zero locals, load pool, jump */ \
    X(SELECT, 4, RI)   /* d a b c: d = c ? a : b */                                                \
    X(SELECT_R, 3, RI) /* d a b: d = r ? a : b */                                                  \
    X(SELECT64, 4, RI) /* d a b c: d = c ? a : b, testing all 64 bits of c */                      \
    X(SELECT64_R, 3, RI)                                                                           \
    X(GLOBAL_GET, 2, RI) /* d idx */                                                               \
    X(GLOBAL_SET, 2, RN) /* idx a */                                                               \
    /* memory: loads d a imm offset, stores v a imm offset; the address is                         \
     * (u32)(a + imm) + offset, with imm an i32 addend folded in */                                \
    X(LOAD8S, 4, RI)                                                                               \
    X(LOAD8U, 4, RI)                                                                               \
    X(LOAD16S, 4, RI)                                                                              \
    X(LOAD16U, 4, RI)                                                                              \
    X(LOAD32, 4, RI)                                                                               \
    X(LOAD32S, 4, RI)                                                                              \
    X(LOAD64, 4, RI)                                                                               \
    X(STORE8, 4, RN)                                                                               \
    X(STORE16, 4, RN)                                                                              \
    X(STORE32, 4, RN)                                                                              \
    X(STORE64, 4, RN)                                                                              \
    X(LOAD64F, 4, RF) /* f64.load: the value goes to the f64 register */                           \
    /* _R: the address base is the integer register (loads d imm offset) or the stored value is    \
     * (stores a imm offset; STORE64_F: the f64 register) */                                       \
    X(LOAD8S_R, 3, RI)                                                                             \
    X(LOAD8U_R, 3, RI)                                                                             \
    X(LOAD16S_R, 3, RI)                                                                            \
    X(LOAD16U_R, 3, RI)                                                                            \
    X(LOAD32_R, 3, RI)                                                                             \
    X(LOAD32S_R, 3, RI)                                                                            \
    X(LOAD64_R, 3, RI)                                                                             \
    X(LOAD64F_R, 3, RF)                                                                            \
    X(STORE8_R, 3, RN)                                                                             \
    X(STORE16_R, 3, RN)                                                                            \
    X(STORE32_R, 3, RN)                                                                            \
    X(STORE64_R, 3, RN)                                                                            \
    X(STORE64_F, 3, RN)                                                                            \
    X(STORE8_AR, 3, RN) /* v imm offset: the address base is the integer register */               \
    X(STORE16_AR, 3, RN)                                                                           \
    X(STORE32_AR, 3, RN)                                                                           \
    X(STORE64_AR, 3, RN)                                                                           \
    /* scaled-index addresses, folded into loads and stores (d|v first, offset last):              \
     * _X a b k imm: (u32)(a + (b << k) + imm); _XN b k imm: (u32)((b << k) + imm);                \
     * _XS a b imm: (u32)(a - b + imm); LEA* d ... computes the same sum into d */                 \
    X(LEA, 5, RI)   /* d a b k imm */                                                              \
    X(LEA_N, 4, RI) /* d b k imm */                                                                \
    X(LEA_S, 4, RI) /* d a b imm */                                                                \
    WASM_XMEM(WASM_OPS_XMEM, X)                                                                    \
    X(MEMORY_SIZE, 1, RN) /* d */                                                                  \
    X(MEMORY_GROW, 2, RN) /* d a */                                                                \
    X(MEMORY_INIT, 4, RN) /* seg d s n */                                                          \
    X(DATA_DROP, 1, RN)   /* seg */                                                                \
    X(MEMORY_COPY, 3, RN) /* d s n */                                                              \
    X(MEMORY_FILL, 3, RN) /* d v n */                                                              \
    /* tables and references */                                                                    \
    X(TABLE_GET, 3, RN)   /* d table a */                                                          \
    X(TABLE_SET, 3, RN)   /* table a v */                                                          \
    X(TABLE_SIZE, 2, RN)  /* d table */                                                            \
    X(TABLE_GROW, 4, RN)  /* d table init n */                                                     \
    X(TABLE_FILL, 4, RN)  /* table i v n */                                                        \
    X(TABLE_COPY, 5, RN)  /* dtable stable d s n */                                                \
    X(TABLE_INIT, 5, RN)  /* table seg d s n */                                                    \
    X(ELEM_DROP, 1, RN)   /* seg */                                                                \
    X(REF_FUNC, 2, RN)    /* d funcidx */                                                          \
    X(REF_IS_NULL, 2, RI) /* d a */                                                                \
    /* fused compare-and-branch: a b off / a imm off; BRI_: x inc b off, x += inc first; BRA_: x y \
     * b off, x += y first */                                                                      \
    WASM_ICMPS(WASM_OPS_BR_CMP, X)                                                                 \
    /* i32 */                                                                                      \
    X(I32_EQZ, 2, RI)                                                                              \
    X(I32_EQZ_R, 1, RI)                                                                            \
    WASM_ICMPS(WASM_OPS_CMP32, X)                                                                  \
    X(I32_CLZ, 2, RI)                                                                              \
    X(I32_CTZ, 2, RI)                                                                              \
    X(I32_POPCNT, 2, RI)                                                                           \
    X(I32_ADD, 3, RI)                                                                              \
    X(I32_SUB, 3, RI)                                                                              \
    X(I32_MUL, 3, RI)                                                                              \
    X(I32_DIV_S, 3, RI)                                                                            \
    X(I32_DIV_U, 3, RI)                                                                            \
    X(I32_REM_S, 3, RI)                                                                            \
    X(I32_REM_U, 3, RI)                                                                            \
    X(I32_AND, 3, RI)                                                                              \
    X(I32_OR, 3, RI)                                                                               \
    X(I32_XOR, 3, RI)                                                                              \
    X(I32_SHL, 3, RI)                                                                              \
    X(I32_SHR_S, 3, RI)                                                                            \
    X(I32_SHR_U, 3, RI)                                                                            \
    X(I32_ROTL, 3, RI)                                                                             \
    X(I32_ROTR, 3, RI)                                                                             \
    WASM_IBIN_IMM(WASM_OPS_BIN32_IMM, X)                                                           \
    WASM_IBIN_IMM(WASM_OPS_BIN32_REG, X)                                                           \
    /* i64 */                                                                                      \
    X(I64_EQZ, 2, RI)                                                                              \
    X(I64_EQZ_R, 1, RI)                                                                            \
    WASM_ICMPS(WASM_OPS_CMP64, X)                                                                  \
    X(I64_CLZ, 2, RI)                                                                              \
    X(I64_CTZ, 2, RI)                                                                              \
    X(I64_POPCNT, 2, RI)                                                                           \
    X(I64_ADD, 3, RI)                                                                              \
    X(I64_SUB, 3, RI)                                                                              \
    X(I64_MUL, 3, RI)                                                                              \
    X(I64_DIV_S, 3, RI)                                                                            \
    X(I64_DIV_U, 3, RI)                                                                            \
    X(I64_REM_S, 3, RI)                                                                            \
    X(I64_REM_U, 3, RI)                                                                            \
    X(I64_AND, 3, RI)                                                                              \
    X(I64_OR, 3, RI)                                                                               \
    X(I64_XOR, 3, RI)                                                                              \
    X(I64_SHL, 3, RI)                                                                              \
    X(I64_SHR_S, 3, RI)                                                                            \
    X(I64_SHR_U, 3, RI)                                                                            \
    X(I64_ROTL, 3, RI)                                                                             \
    X(I64_ROTR, 3, RI)                                                                             \
    WASM_IBIN_IMM(WASM_OPS_BIN64_IMM, X)                                                           \
    WASM_IBIN_IMM(WASM_OPS_BIN64_REG, X)                                                           \
    /* f32 */                                                                                      \
    X(F32_EQ, 3, RI)                                                                               \
    X(F32_NE, 3, RI)                                                                               \
    X(F32_LT, 3, RI)                                                                               \
    X(F32_GT, 3, RI)                                                                               \
    X(F32_LE, 3, RI)                                                                               \
    X(F32_GE, 3, RI)                                                                               \
    X(F32_ABS, 2, RN)                                                                              \
    X(F32_NEG, 2, RN)                                                                              \
    X(F32_CEIL, 2, RN)                                                                             \
    X(F32_FLOOR, 2, RN)                                                                            \
    X(F32_TRUNC, 2, RN)                                                                            \
    X(F32_NEAREST, 2, RN)                                                                          \
    X(F32_SQRT, 2, RN)                                                                             \
    X(F32_ADD, 3, RN)                                                                              \
    X(F32_SUB, 3, RN)                                                                              \
    X(F32_MUL, 3, RN)                                                                              \
    X(F32_DIV, 3, RN)                                                                              \
    X(F32_MIN, 3, RN)                                                                              \
    X(F32_MAX, 3, RN)                                                                              \
    X(F32_COPYSIGN, 3, RN)                                                                         \
    /* f64 */                                                                                      \
    X(F64_EQ, 3, RI)                                                                               \
    X(F64_NE, 3, RI)                                                                               \
    X(F64_LT, 3, RI)                                                                               \
    X(F64_GT, 3, RI)                                                                               \
    X(F64_LE, 3, RI)                                                                               \
    X(F64_GE, 3, RI)                                                                               \
    X(F64_ABS, 2, RF)                                                                              \
    X(F64_NEG, 2, RF)                                                                              \
    X(F64_CEIL, 2, RF)                                                                             \
    X(F64_FLOOR, 2, RF)                                                                            \
    X(F64_TRUNC, 2, RF)                                                                            \
    X(F64_NEAREST, 2, RF)                                                                          \
    X(F64_SQRT, 2, RF)                                                                             \
    X(F64_ADD, 3, RF)                                                                              \
    X(F64_SUB, 3, RF)                                                                              \
    X(F64_MUL, 3, RF)                                                                              \
    X(F64_DIV, 3, RF)                                                                              \
    X(F64_MIN, 3, RF)                                                                              \
    X(F64_MAX, 3, RF)                                                                              \
    X(F64_COPYSIGN, 3, RF)                                                                         \
    /* f64 with the f64 register: _R a is the register (d b / d for unary), _SR b is (d a) */      \
    X(F64_ADD_R, 2, RF)                                                                            \
    X(F64_SUB_R, 2, RF)                                                                            \
    X(F64_MUL_R, 2, RF)                                                                            \
    X(F64_DIV_R, 2, RF)                                                                            \
    X(F64_SUB_SR, 2, RF)                                                                           \
    X(F64_DIV_SR, 2, RF)                                                                           \
    X(F64_EQ_R, 2, RI)                                                                             \
    X(F64_NE_R, 2, RI)                                                                             \
    X(F64_LT_R, 2, RI)                                                                             \
    X(F64_GT_R, 2, RI)                                                                             \
    X(F64_LE_R, 2, RI)                                                                             \
    X(F64_GE_R, 2, RI)                                                                             \
    X(F64_ABS_R, 1, RF)                                                                            \
    X(F64_NEG_R, 1, RF)                                                                            \
    X(F64_SQRT_R, 1, RF)                                                                           \
    /* multiply-add, rounding after each step: d a b c (d = a * b + c), _R: a is the register,     \
     * _IMM: b is an immediate (sign-extended for i64) */                                          \
    X(I32_MULADD, 4, RI)                                                                           \
    X(I32_MULADD_R, 3, RI)                                                                         \
    X(I32_MULADD_IMM, 4, RI)                                                                       \
    X(I32_MULADD_RI, 3, RI)                                                                        \
    X(I64_MULADD, 4, RI)                                                                           \
    X(I64_MULADD_R, 3, RI)                                                                         \
    X(I64_MULADD_IMM, 4, RI)                                                                       \
    X(I64_MULADD_RI, 3, RI)                                                                        \
    X(F64_MULADD, 4, RF)                                                                           \
    X(F64_MULADD_R, 3, RF)                                                                         \
    /* f64 with a memory operand M = f64 at (u32)(base + imm) + offset; R the f64 register,        \
     * S a slot: _RM/_MR d base imm offset, _SM d a base imm offset, _MS d b base imm offset */    \
    X(F64_ADD_RM, 4, RF)                                                                           \
    X(F64_SUB_RM, 4, RF)                                                                           \
    X(F64_MUL_RM, 4, RF)                                                                           \
    X(F64_DIV_RM, 4, RF)                                                                           \
    X(F64_SUB_MR, 4, RF)                                                                           \
    X(F64_DIV_MR, 4, RF)                                                                           \
    X(F64_ADD_SM, 5, RF)                                                                           \
    X(F64_SUB_SM, 5, RF)                                                                           \
    X(F64_MUL_SM, 5, RF)                                                                           \
    X(F64_DIV_SM, 5, RF)                                                                           \
    X(F64_SUB_MS, 5, RF)                                                                           \
    X(F64_DIV_MS, 5, RF)                                                                           \
    /* conversions (d a); wrap and reinterpret need no op in slot form */                          \
    X(I32_TRUNC_F32_S, 2, RI)                                                                      \
    X(I32_TRUNC_F32_U, 2, RI)                                                                      \
    X(I32_TRUNC_F64_S, 2, RI)                                                                      \
    X(I32_TRUNC_F64_U, 2, RI)                                                                      \
    X(I64_EXTEND_I32_S, 2, RI)                                                                     \
    X(I64_EXTEND_I32_U, 2, RI)                                                                     \
    X(I64_TRUNC_F32_S, 2, RI)                                                                      \
    X(I64_TRUNC_F32_U, 2, RI)                                                                      \
    X(I64_TRUNC_F64_S, 2, RI)                                                                      \
    X(I64_TRUNC_F64_U, 2, RI)                                                                      \
    X(F32_CONVERT_I32_S, 2, RN)                                                                    \
    X(F32_CONVERT_I32_U, 2, RN)                                                                    \
    X(F32_CONVERT_I64_S, 2, RN)                                                                    \
    X(F32_CONVERT_I64_U, 2, RN)                                                                    \
    X(F32_DEMOTE_F64, 2, RN)                                                                       \
    X(F64_CONVERT_I32_S, 2, RF)                                                                    \
    X(F64_CONVERT_I32_U, 2, RF)                                                                    \
    X(F64_CONVERT_I64_S, 2, RF)                                                                    \
    X(F64_CONVERT_I64_U, 2, RF)                                                                    \
    X(F64_PROMOTE_F32, 2, RF)                                                                      \
    X(F64_CONVERT_I32_S_R, 1, RF)                                                                  \
    X(F64_CONVERT_I32_U_R, 1, RF)                                                                  \
    X(F64_CONVERT_I64_S_R, 1, RF)                                                                  \
    X(F64_CONVERT_I64_U_R, 1, RF)                                                                  \
    X(I32_TRUNC_F64_S_R, 1, RI)                                                                    \
    X(I32_TRUNC_F64_U_R, 1, RI)                                                                    \
    X(I64_TRUNC_F64_S_R, 1, RI)                                                                    \
    X(I64_TRUNC_F64_U_R, 1, RI)                                                                    \
    X(I64_EXTEND_I32_S_R, 1, RI)                                                                   \
    X(I64_EXTEND_I32_U_R, 1, RI)                                                                   \
    X(I32_EXTEND8_S, 2, RI)                                                                        \
    X(I32_EXTEND16_S, 2, RI)                                                                       \
    X(I64_EXTEND8_S, 2, RI)                                                                        \
    X(I64_EXTEND16_S, 2, RI)                                                                       \
    X(I64_EXTEND32_S, 2, RI)                                                                       \
    X(I32_TRUNC_SAT_F32_S, 2, RI)                                                                  \
    X(I32_TRUNC_SAT_F32_U, 2, RI)                                                                  \
    X(I32_TRUNC_SAT_F64_S, 2, RI)                                                                  \
    X(I32_TRUNC_SAT_F64_U, 2, RI)                                                                  \
    X(I64_TRUNC_SAT_F32_S, 2, RI)                                                                  \
    X(I64_TRUNC_SAT_F32_U, 2, RI)                                                                  \
    X(I64_TRUNC_SAT_F64_S, 2, RI)                                                                  \
    X(I64_TRUNC_SAT_F64_U, 2, RI)

// clang-format off
/* Loads and stores with scaled-index addresses: F(X, name, register). */
#define WASM_XMEM(F, X)                                                                            \
    F(X, LOAD8S, RI) F(X, LOAD8U, RI) F(X, LOAD16S, RI) F(X, LOAD16U, RI) F(X, LOAD32, RI)          \
    F(X, LOAD32S, RI) F(X, LOAD64, RI) F(X, LOAD64F, RF)                                           \
    F(X, STORE8, RN) F(X, STORE16, RN) F(X, STORE32, RN) F(X, STORE64, RN)
// clang-format on

/* Family expanders: X(name, operand words, register). */
// clang-format off
#define WASM_OPS_BR_CMP(X, cc)                                                                     \
    X(BR_I32_##cc, 3, RN) X(BR_I32_##cc##_IMM, 3, RN)                                              \
    X(BR_I64_##cc, 3, RN) X(BR_I64_##cc##_IMM, 3, RN)                                              \
    X(BRI_I32_##cc, 4, RN) X(BRI_I32_##cc##_IMM, 4, RN)                                            \
    X(BRI_I64_##cc, 4, RN) X(BRI_I64_##cc##_IMM, 4, RN)                                            \
    X(BR_I32_##cc##_R, 2, RN) X(BR_I32_##cc##_RI, 2, RN)                                           \
    X(BR_I64_##cc##_R, 2, RN) X(BR_I64_##cc##_RI, 2, RN)                                           \
    X(BRA_I32_##cc, 4, RN) X(BRA_I32_##cc##_IMM, 4, RN)
#define WASM_OPS_CMP32(X, cc)                                                                      \
    X(I32_##cc, 3, RI) X(I32_##cc##_IMM, 3, RI) X(I32_##cc##_R, 2, RI) X(I32_##cc##_RI, 2, RI)
#define WASM_OPS_CMP64(X, cc)                                                                      \
    X(I64_##cc, 3, RI) X(I64_##cc##_IMM, 3, RI) X(I64_##cc##_R, 2, RI) X(I64_##cc##_RI, 2, RI)
#define WASM_OPS_BIN32_IMM(X, op) X(I32_##op##_IMM, 3, RI)
#define WASM_OPS_BIN64_IMM(X, op) X(I64_##op##_IMM, 3, RI)
#define WASM_OPS_BIN32_REG(X, op)                                                                  \
    X(I32_##op##_R, 2, RI) X(I32_##op##_RI, 2, RI) X(I32_##op##_SR, 2, RI)
#define WASM_OPS_XMEM(X, name, reg)                                                                \
    X(name##_X, 6, reg) X(name##_XN, 5, reg) X(name##_XS, 5, reg)
#define WASM_OPS_BIN64_REG(X, op)                                                                  \
    X(I64_##op##_R, 2, RI) X(I64_##op##_RI, 2, RI) X(I64_##op##_SR, 2, RI)
// clang-format on

#define WASM_OPS_X(name, words, reg) OP_##name,
enum wasm_op { WASM_OPS(WASM_OPS_X) OP_COUNT_ };
#undef WASM_OPS_X

/* interp.c: the handler address of every op, indexed by enum wasm_op. */
const void *const *wasm_interp_handlers(void);

#endif
