/*
 * collatz.c - integer loop: Collatz steps.
 *
 * execute(start, end) returns the total number of Collatz steps (n -> n/2 if
 * n is even, else 3n+1) that the numbers n in [start, end) take to reach 1.
 * Numbers below 1 count 0 steps. The trajectory is followed in 64 bits
 * because it climbs far above the start value (past 2^32 for n < 2^31).
 * The total stays below 2^31 for ranges of up to a few million numbers.
 *
 * ABI: int32_t execute(int32_t start, int32_t end)
 * Expected: execute(1, 1000) = 59431
 */
#include <stdint.h>

static uint32_t collatz_steps(uint64_t n)
{
    uint32_t steps = 0;
    while (n != 1) {
        n = (n & 1) ? 3 * n + 1 : n >> 1;
        steps++;
    }
    return steps;
}

int32_t execute(int32_t start, int32_t end)
{
    uint32_t total = 0;
    if (start < 1)
        start = 1;
    for (int32_t n = start; n < end; n++)
        total += collatz_steps((uint64_t)n);
    return (int32_t)total;
}
