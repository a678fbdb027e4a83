/* mesh_wasm.h - small modules for the mesh and interrupt tests, built by hand with
 * wasm_build.h. One module, memory of one page, exporting:
 *   spin  (i32,i32)->i32   loop {} (never returns)
 *   oob   (i32,i32)->i32   i32.load at -1: "out of bounds memory access"
 *   unr   (i32,i32)->i32   unreachable
 *   grow  (i32,i32)->i32   memory.grow(start): the old size, or -1 past max_pages
 *   add64 (i64,i64)->i64   start + end
 *   diff  (i32,i32)->i32   start - end (negative for a range: sign extension)
 *   count (i32,i32)->i32   end - start, by counting in a loop (fuel grows with the range) */
#ifndef SWARM_TEST_MESH_WASM_H
#define SWARM_TEST_MESH_WASM_H

#include "wasm_build.h"

static inline void mesh_wasm_body(buf *code, const char *ops, size_t n)
{
    uleb(code, n + 1); /* the locals vector (one byte) and the ops */
    put8(code, 0);
    put(code, ops, n);
}
#define MESH_BODY(code, lit) mesh_wasm_body((code), (lit), sizeof(lit) - 1)

static inline void mesh_wasm_module(buf *o)
{
    static const char *const names[] = {"spin", "oob", "unr", "grow", "add64", "diff", "count"};
    enum { NF = 7 };
    header(o);
    RAWSEC(o, 1, "\x02\x60\x02\x7f\x7f\x01\x7f\x60\x02\x7e\x7e\x01\x7e"); /* types */
    RAWSEC(o, 3, "\x07\x00\x00\x00\x00\x01\x00\x00");                     /* functions */
    RAWSEC(o, 5, "\x01\x00\x01");                                         /* memory 1 */
    buf ex = {.n = 0};
    uleb(&ex, NF);
    for (unsigned i = 0; i < NF; i++) {
        name(&ex, names[i]);
        put8(&ex, 0);
        uleb(&ex, i);
    }
    section(o, 7, &ex);
    buf code = {.n = 0};
    uleb(&code, NF);
    MESH_BODY(&code, "\x03\x40\x0c\x00\x0b\x41\x00\x0b"); /* loop br 0 end; i32.const 0 */
    MESH_BODY(&code, "\x41\x7f\x28\x02\x00\x0b");         /* i32.const -1; i32.load */
    MESH_BODY(&code, "\x00\x0b");                         /* unreachable */
    MESH_BODY(&code, "\x20\x00\x40\x00\x0b");             /* local.get 0; memory.grow */
    MESH_BODY(&code, "\x20\x00\x20\x01\x7c\x0b");         /* i64.add */
    MESH_BODY(&code, "\x20\x00\x20\x01\x6b\x0b");         /* i32.sub */
    /* block loop: local.get 0 local.get 1 i32.ge_s br_if 1; local.get 0 i32.const 1 i32.add
     * local.set 0; local.get 2 i32.const 1 i32.add local.set 2; br 0 end end local.get 2 */
    uleb(&code, 0); /* patched below: a body with one i32 local */
    size_t at = code.n - 1;
    static const char count_ops[] = "\x01\x01\x7f"
                                    "\x02\x40\x03\x40\x20\x00\x20\x01\x4e\x0d\x01"
                                    "\x20\x00\x41\x01\x6a\x21\x00"
                                    "\x20\x02\x41\x01\x6a\x21\x02\x0c\x00\x0b\x0b\x20\x02\x0b";
    code.b[at] = (uint8_t)(sizeof count_ops - 1);
    put(&code, count_ops, sizeof count_ops - 1);
    section(o, 10, &code);
}

#endif
