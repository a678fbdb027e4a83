/*
 * calls.c - call-heavy: tiny functions called directly and through pointers.
 *
 * Each number i in [start, end) goes through 32 rounds; every round picks
 * one of eight small mixing steps from a function-pointer table by the low
 * bits of the current value (an indirect call: call_indirect in wasm), and
 * each step makes a direct call to a tiny rotate helper. All of them are
 * noinline, so the work is almost all calls and returns. execute returns the
 * sum of the low 8 bits of each number's final value (below 2^31 for any
 * range of up to 8 million numbers).
 *
 * ABI: int32_t execute(int32_t start, int32_t end)
 * Expected: execute(0, 1000) = 132588
 */
#include <stdint.h>

#define ROUNDS 32

typedef uint32_t (*step_fn)(uint32_t x, uint32_t round);

__attribute__((noinline)) static uint32_t rotl(uint32_t x, uint32_t r)
{
    r &= 31;
    return r ? (x << r) | (x >> (32 - r)) : x;
}

__attribute__((noinline)) static uint32_t step_add(uint32_t x, uint32_t r)
{
    return rotl(x + 0x9e3779b9u, r);
}

__attribute__((noinline)) static uint32_t step_xor(uint32_t x, uint32_t r)
{
    return rotl(x ^ 0x85ebca6bu, r + 7);
}

__attribute__((noinline)) static uint32_t step_mul(uint32_t x, uint32_t r)
{
    return rotl(x * 0xc2b2ae35u, r + 13);
}

__attribute__((noinline)) static uint32_t step_sub(uint32_t x, uint32_t r)
{
    return rotl(x - 0x27d4eb2fu, r + 3);
}

__attribute__((noinline)) static uint32_t step_not(uint32_t x, uint32_t r)
{
    return rotl(~x, r + 11) + r;
}

__attribute__((noinline)) static uint32_t step_shift(uint32_t x, uint32_t r)
{
    return rotl(x ^ (x >> 15), r + 5) + 1;
}

__attribute__((noinline)) static uint32_t step_square(uint32_t x, uint32_t r)
{
    return rotl(x * (x | 1), r + 17);
}

__attribute__((noinline)) static uint32_t step_swap(uint32_t x, uint32_t r)
{
    return rotl((x << 16) | (x >> 16), r + 19) ^ r;
}

/* volatile keeps the compiler from turning the table lookup into a switch of direct calls. */
static step_fn volatile steps[8] = {
    step_add, step_xor, step_mul, step_sub, step_not, step_shift, step_square, step_swap,
};

__attribute__((noinline)) static uint32_t mix(uint32_t x)
{
    for (uint32_t round = 0; round < ROUNDS; round++)
        x = steps[x & 7](x, round);
    return x;
}

int32_t execute(int32_t start, int32_t end)
{
    uint32_t total = 0;
    for (int32_t i = start; i < end; i++)
        total += mix((uint32_t)i) & 0xff;
    return (int32_t)total;
}
