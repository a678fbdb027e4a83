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
 * The list is an X-macro so that compile.c and interp.c cannot drift apart:
 * X(name, operand words after the handler).
 */
#ifndef SWARM_WASM_OPS_H
#define SWARM_WASM_OPS_H

#include <stdint.h>

/* Words a handler address takes. */
#define OP_HW ((uint32_t)(sizeof(void *) / sizeof(uint32_t)))

/* Return record of a call (return ip, caller frame, caller instance), kept in
 * the control area that grows down from the top of the store's stack. */
#define WASM_FRAME_REC 3u

/* Integer comparisons, in the order of the wasm opcodes i32.eq .. i32.ge_u. */
#define WASM_ICMPS(F, X)                                                                           \
    F(X, EQ) F(X, NE) F(X, LT_S) F(X, LT_U) F(X, GT_S) F(X, GT_U) F(X, LE_S) F(X, LE_U) F(X, GE_S)  \
    F(X, GE_U)

/* Integer binary ops with an immediate form (b replaced by a 32-bit imm, sign-extended for i64). */
#define WASM_IBIN_IMM(F, X)                                                                        \
    F(X, ADD) F(X, SUB) F(X, MUL) F(X, AND) F(X, OR) F(X, XOR) F(X, SHL) F(X, SHR_S) F(X, SHR_U)    \
    F(X, ROTL) F(X, ROTR)

#define WASM_OPS(X)                                                                                \
    /* control */                                                                                  \
    X(UNREACHABLE, 0)                                                                              \
    X(EXIT, 0)                 /* leave the interpreter: the entry frame returned */               \
    X(FUEL, 1)                 /* imm: charge imm units */                                         \
    X(BR, 1)                   /* off: branches charge the count word before their target */                                                          \
    X(BR_NZ, 2)                /* a off: branch if i32 a != 0 */                                   \
    X(BR_Z, 2)                 /* a off: branch if i32 a == 0 */                                   \
    X(BR_NZ64, 2)              /* a off: branch if i64 a != 0 */                                   \
    X(BR_Z64, 2)               /* a off: branch if i64 a == 0 */                                   \
    X(BR_TABLE, 2)             /* a n, then n+1 offs (last = default) */                           \
    X(RETURN0, 0)                                                                                  \
    X(RETURN1, 1)              /* a: fp[0] = a */                                                  \
    X(RETURN1_IMM, 1)          /* imm: fp[0] = imm (zero-extended) */                              \
    X(RETURNN, 2)              /* n src: fp[0..n) = fp[src..src+n) */                              \
    X(CALL, 1 + OP_HW)         /* code* argbase: the callee's frame starts at fp + argbase */      \
    X(CALL_IMPORT, 2)          /* funcidx argbase */                                               \
    X(CALL_INDIRECT, 3 + OP_HW) /* type* table a argbase */                                       \
    /* data movement */                                                                            \
    X(COPY, 2)                 /* d a */                                                           \
    X(COPY2, 4)                /* d1 a1 d2 a2 */                                                   \
    X(CONST32, 2)              /* d imm (zero-extended) */                                         \
    X(CONST64, 3)              /* d lo hi */                                                       \
    X(SELECT, 4)               /* d a b c: d = c ? a : b */                                        \
    X(GLOBAL_GET, 2)           /* d idx */                                                         \
    X(GLOBAL_SET, 2)           /* idx a */                                                         \
    /* memory: loads d a offset, stores v a offset */                                              \
    X(LOAD8S, 3)                                                                                   \
    X(LOAD8U, 3)                                                                                   \
    X(LOAD16S, 3)                                                                                  \
    X(LOAD16U, 3)                                                                                  \
    X(LOAD32, 3)                                                                                   \
    X(LOAD32S, 3)                                                                                  \
    X(LOAD64, 3)                                                                                   \
    X(STORE8, 3)                                                                                   \
    X(STORE16, 3)                                                                                  \
    X(STORE32, 3)                                                                                  \
    X(STORE64, 3)                                                                                  \
    X(MEMORY_SIZE, 1)          /* d */                                                             \
    X(MEMORY_GROW, 2)          /* d a */                                                           \
    X(MEMORY_INIT, 4)          /* seg d s n */                                                     \
    X(DATA_DROP, 1)            /* seg */                                                           \
    X(MEMORY_COPY, 3)          /* d s n */                                                         \
    X(MEMORY_FILL, 3)          /* d v n */                                                         \
    /* tables and references */                                                                    \
    X(TABLE_GET, 3)            /* d table a */                                                     \
    X(TABLE_SET, 3)            /* table a v */                                                     \
    X(TABLE_SIZE, 2)           /* d table */                                                       \
    X(TABLE_GROW, 4)           /* d table init n */                                                \
    X(TABLE_FILL, 4)           /* table i v n */                                                   \
    X(TABLE_COPY, 5)           /* dtable stable d s n */                                           \
    X(TABLE_INIT, 5)           /* table seg d s n */                                               \
    X(ELEM_DROP, 1)            /* seg */                                                           \
    X(REF_FUNC, 2)             /* d funcidx */                                                     \
    X(REF_IS_NULL, 2)          /* d a */                                                           \
    /* fused compare-and-branch: a b off / a imm off */                                            \
    WASM_ICMPS(WASM_OPS_BR_CMP, X)                                                                    \
    /* i32 */                                                                                      \
    X(I32_EQZ, 2)                                                                                  \
    WASM_ICMPS(WASM_OPS_CMP32, X)                                                                     \
    X(I32_CLZ, 2)                                                                                  \
    X(I32_CTZ, 2)                                                                                  \
    X(I32_POPCNT, 2)                                                                               \
    X(I32_ADD, 3)                                                                                  \
    X(I32_SUB, 3)                                                                                  \
    X(I32_MUL, 3)                                                                                  \
    X(I32_DIV_S, 3)                                                                                \
    X(I32_DIV_U, 3)                                                                                \
    X(I32_REM_S, 3)                                                                                \
    X(I32_REM_U, 3)                                                                                \
    X(I32_AND, 3)                                                                                  \
    X(I32_OR, 3)                                                                                   \
    X(I32_XOR, 3)                                                                                  \
    X(I32_SHL, 3)                                                                                  \
    X(I32_SHR_S, 3)                                                                                \
    X(I32_SHR_U, 3)                                                                                \
    X(I32_ROTL, 3)                                                                                 \
    X(I32_ROTR, 3)                                                                                 \
    WASM_IBIN_IMM(WASM_OPS_BIN32_IMM, X)                                                              \
    /* i64 */                                                                                      \
    X(I64_EQZ, 2)                                                                                  \
    WASM_ICMPS(WASM_OPS_CMP64, X)                                                                     \
    X(I64_CLZ, 2)                                                                                  \
    X(I64_CTZ, 2)                                                                                  \
    X(I64_POPCNT, 2)                                                                               \
    X(I64_ADD, 3)                                                                                  \
    X(I64_SUB, 3)                                                                                  \
    X(I64_MUL, 3)                                                                                  \
    X(I64_DIV_S, 3)                                                                                \
    X(I64_DIV_U, 3)                                                                                \
    X(I64_REM_S, 3)                                                                                \
    X(I64_REM_U, 3)                                                                                \
    X(I64_AND, 3)                                                                                  \
    X(I64_OR, 3)                                                                                   \
    X(I64_XOR, 3)                                                                                  \
    X(I64_SHL, 3)                                                                                  \
    X(I64_SHR_S, 3)                                                                                \
    X(I64_SHR_U, 3)                                                                                \
    X(I64_ROTL, 3)                                                                                 \
    X(I64_ROTR, 3)                                                                                 \
    WASM_IBIN_IMM(WASM_OPS_BIN64_IMM, X)                                                              \
    /* f32 */                                                                                      \
    X(F32_EQ, 3)                                                                                   \
    X(F32_NE, 3)                                                                                   \
    X(F32_LT, 3)                                                                                   \
    X(F32_GT, 3)                                                                                   \
    X(F32_LE, 3)                                                                                   \
    X(F32_GE, 3)                                                                                   \
    X(F32_ABS, 2)                                                                                  \
    X(F32_NEG, 2)                                                                                  \
    X(F32_CEIL, 2)                                                                                 \
    X(F32_FLOOR, 2)                                                                                \
    X(F32_TRUNC, 2)                                                                                \
    X(F32_NEAREST, 2)                                                                              \
    X(F32_SQRT, 2)                                                                                 \
    X(F32_ADD, 3)                                                                                  \
    X(F32_SUB, 3)                                                                                  \
    X(F32_MUL, 3)                                                                                  \
    X(F32_DIV, 3)                                                                                  \
    X(F32_MIN, 3)                                                                                  \
    X(F32_MAX, 3)                                                                                  \
    X(F32_COPYSIGN, 3)                                                                             \
    /* f64 */                                                                                      \
    X(F64_EQ, 3)                                                                                   \
    X(F64_NE, 3)                                                                                   \
    X(F64_LT, 3)                                                                                   \
    X(F64_GT, 3)                                                                                   \
    X(F64_LE, 3)                                                                                   \
    X(F64_GE, 3)                                                                                   \
    X(F64_ABS, 2)                                                                                  \
    X(F64_NEG, 2)                                                                                  \
    X(F64_CEIL, 2)                                                                                 \
    X(F64_FLOOR, 2)                                                                                \
    X(F64_TRUNC, 2)                                                                                \
    X(F64_NEAREST, 2)                                                                              \
    X(F64_SQRT, 2)                                                                                 \
    X(F64_ADD, 3)                                                                                  \
    X(F64_SUB, 3)                                                                                  \
    X(F64_MUL, 3)                                                                                  \
    X(F64_DIV, 3)                                                                                  \
    X(F64_MIN, 3)                                                                                  \
    X(F64_MAX, 3)                                                                                  \
    X(F64_COPYSIGN, 3)                                                                             \
    /* conversions (d a); wrap and reinterpret need no op in slot form */                          \
    X(I32_TRUNC_F32_S, 2)                                                                          \
    X(I32_TRUNC_F32_U, 2)                                                                          \
    X(I32_TRUNC_F64_S, 2)                                                                          \
    X(I32_TRUNC_F64_U, 2)                                                                          \
    X(I64_EXTEND_I32_S, 2)                                                                         \
    X(I64_EXTEND_I32_U, 2)                                                                         \
    X(I64_TRUNC_F32_S, 2)                                                                          \
    X(I64_TRUNC_F32_U, 2)                                                                          \
    X(I64_TRUNC_F64_S, 2)                                                                          \
    X(I64_TRUNC_F64_U, 2)                                                                          \
    X(F32_CONVERT_I32_S, 2)                                                                        \
    X(F32_CONVERT_I32_U, 2)                                                                        \
    X(F32_CONVERT_I64_S, 2)                                                                        \
    X(F32_CONVERT_I64_U, 2)                                                                        \
    X(F32_DEMOTE_F64, 2)                                                                           \
    X(F64_CONVERT_I32_S, 2)                                                                        \
    X(F64_CONVERT_I32_U, 2)                                                                        \
    X(F64_CONVERT_I64_S, 2)                                                                        \
    X(F64_CONVERT_I64_U, 2)                                                                        \
    X(F64_PROMOTE_F32, 2)                                                                          \
    X(I32_EXTEND8_S, 2)                                                                            \
    X(I32_EXTEND16_S, 2)                                                                           \
    X(I64_EXTEND8_S, 2)                                                                            \
    X(I64_EXTEND16_S, 2)                                                                           \
    X(I64_EXTEND32_S, 2)                                                                           \
    X(I32_TRUNC_SAT_F32_S, 2)                                                                      \
    X(I32_TRUNC_SAT_F32_U, 2)                                                                      \
    X(I32_TRUNC_SAT_F64_S, 2)                                                                      \
    X(I32_TRUNC_SAT_F64_U, 2)                                                                      \
    X(I64_TRUNC_SAT_F32_S, 2)                                                                      \
    X(I64_TRUNC_SAT_F32_U, 2)                                                                      \
    X(I64_TRUNC_SAT_F64_S, 2)                                                                      \
    X(I64_TRUNC_SAT_F64_U, 2)

/* Family expanders: X(name, operand words). */
#define WASM_OPS_BR_CMP(X, cc)                                                                     \
    X(BR_I32_##cc, 3) X(BR_I32_##cc##_IMM, 3) X(BR_I64_##cc, 3) X(BR_I64_##cc##_IMM, 3)
#define WASM_OPS_CMP32(X, cc)     X(I32_##cc, 3) X(I32_##cc##_IMM, 3)
#define WASM_OPS_CMP64(X, cc)     X(I64_##cc, 3) X(I64_##cc##_IMM, 3)
#define WASM_OPS_BIN32_IMM(X, op) X(I32_##op##_IMM, 3)
#define WASM_OPS_BIN64_IMM(X, op) X(I64_##op##_IMM, 3)

#define WASM_OPS_X(name, words) OP_##name,
enum wasm_op {
    WASM_OPS(WASM_OPS_X) OP_COUNT_
};
#undef WASM_OPS_X

/* interp.c: the handler address of every op, indexed by enum wasm_op. */
const void *const *wasm_interp_handlers(void);

#endif
