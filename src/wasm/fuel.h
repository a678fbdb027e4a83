/*
 * fuel.h — the fuel cost model beyond one unit per wasm instruction (internal
 * to src/wasm; the table is in docs/ARCHITECTURE.md and wasm.h).
 *
 * A unit is meant to stand for roughly the same time whatever does the work:
 * an ordinary instruction, or moving 64 bytes. Every cost here is computed
 * from the instruction's operands and the module alone (never from the host),
 * so the same module and input use the same fuel on every machine, and every
 * cost is charged before the work it pays for, so running out does none of it.
 */
#ifndef SWARM_WASM_FUEL_H
#define SWARM_WASM_FUEL_H

#include <stdint.h>

#include "runtime.h"

/* Bytes of linear memory per unit, counted once for each byte written and
 * once for each byte read (memory.copy and memory.init do both). */
#define WASM_FUEL_BLOCK 64u

/* memory.grow, per page: one unit per 4 bytes. Zeroing 64 KiB at the block
 * rate would be 1,024, but a fresh page costs the host far more than a write
 * into cache: the kernel faults in and clears sixteen 4 KiB pages (and frees
 * them at the end). Measured on a 2-core VM: about 40 us of run time per page
 * against 0.64 ns per unit of a counting loop, some 60,000 units; bare metal
 * faults several times faster. 16,384 keeps a grow loop within a few times
 * the time of a counting loop for the same fuel on both. */
#define WASM_FUEL_PAGE (WASM_PAGE_SIZE / 4u)

/* Units per table element written (a pointer, so 8 bytes: the rate already
 * covers reading the source of table.copy and table.init). */
#define WASM_FUEL_ELEM 1u

/* Declared locals a call zeroes per unit: 8 slots are 64 bytes. */
#define WASM_FUEL_LOCALS 8u

/* Units for touching n bytes of linear memory once (blocks started). */
static inline uint64_t wasm_fuel_bytes(uint64_t n)
{
    return (n + WASM_FUEL_BLOCK - 1) / WASM_FUEL_BLOCK;
}

/* Units a call pays, on top of its entry block, for zeroing nlocals declared
 * locals (per WASM_FUEL_LOCALS started). */
static inline uint32_t wasm_fuel_locals(uint32_t nlocals)
{
    return (uint32_t)(((uint64_t)nlocals + WASM_FUEL_LOCALS - 1) / WASM_FUEL_LOCALS);
}

#endif
