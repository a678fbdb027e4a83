/*
 * fib.c - call-heavy: naive recursive Fibonacci.
 *
 * execute(start, end) returns fib(start) + ... + fib(end - 1), with
 * fib(0) = 0, fib(1) = 1, each computed by the exponential two-call recursion
 * (fib(n) makes about 3.2 * fib(n) calls), so the work is almost all calls
 * and returns. Negative n count 0; keep end <= 45 so the sum fits 31 bits.
 *
 * ABI: int32_t execute(int32_t start, int32_t end)
 * Expected: execute(0, 25) = 121392
 */
#include <stdint.h>

__attribute__((noinline)) static uint32_t fib(uint32_t n)
{
    if (n < 2)
        return n;
    return fib(n - 1) + fib(n - 2);
}

int32_t execute(int32_t start, int32_t end)
{
    uint32_t total = 0;
    if (start < 0)
        start = 0;
    for (int32_t n = start; n < end; n++)
        total += fib((uint32_t)n);
    return (int32_t)total;
}
