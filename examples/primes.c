/*
 * primes.c - integer loop: trial-division prime counting.
 *
 * execute(start, end) returns how many primes lie in [start, end), testing
 * each number by dividing it by 2 and every odd number up to its square root.
 * Deliberately naive: the point is a tight loop of integer divisions.
 *
 * ABI: int32_t execute(int32_t start, int32_t end)
 * Expected: execute(0, 100000) = 9592
 */
#include <stdint.h>

static int is_prime(uint32_t n)
{
    if (n < 2)
        return 0;
    if (n < 4)
        return 1;
    if (n % 2 == 0)
        return 0;
    /* d <= n / d rather than d * d <= n: no overflow near 2^31. */
    for (uint32_t d = 3; d <= n / d; d += 2) {
        if (n % d == 0)
            return 0;
    }
    return 1;
}

int32_t execute(int32_t start, int32_t end)
{
    int32_t count = 0;
    if (start < 0)
        start = 0;
    for (int32_t n = start; n < end; n++)
        count += is_prime((uint32_t)n);
    return count;
}
