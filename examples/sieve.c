/*
 * sieve.c - memory-heavy: segmented sieve of Eratosthenes.
 *
 * execute(start, end) returns how many primes lie in [start, end). It sieves
 * the primes up to sqrt(end) into a small table, then walks [start, end) in
 * 256 KiB segments, striking out multiples of each of those primes in a byte
 * array in linear memory and counting what is left. Almost all the time goes
 * to strided byte stores and a streaming read of the segment.
 *
 * ABI: int32_t execute(int32_t start, int32_t end)
 * Expected: execute(1000000, 1100000) = 7216
 */
#include <stdint.h>

#define SEGMENT  (1u << 18)
#define ROOT_MAX 46341u /* > sqrt(2^31) */
#define BASE_MAX 4800u  /* > number of primes below ROOT_MAX (4792) */

/* Only ever marks numbers that are composite, so it needs no clearing between calls. */
static uint8_t root_composite[ROOT_MAX + 1];
static uint32_t base[BASE_MAX];
/* All zero between segments: the counting pass clears what the marking pass set. */
static uint8_t composite[SEGMENT];

/* Fills base[] with the primes p with p * p < end; returns how many. */
static uint32_t base_primes(uint32_t end)
{
    uint32_t count = 0;
    for (uint32_t p = 2; p < ROOT_MAX && p * p < end; p++) {
        if (root_composite[p])
            continue;
        base[count++] = p;
        for (uint32_t q = p * p; q <= ROOT_MAX; q += p)
            root_composite[q] = 1;
    }
    return count;
}

static uint32_t count_segment(uint32_t lo, uint32_t hi, uint32_t nbase)
{
    for (uint32_t k = 0; k < nbase; k++) {
        uint32_t p = base[k];
        if (p * p >= hi)
            break;
        uint32_t first = (lo + p - 1) / p * p;
        if (first < p * p)
            first = p * p;
        for (uint32_t j = first; j < hi; j += p)
            composite[j - lo] = 1;
    }
    uint32_t primes = 0;
    for (uint32_t i = 0; i < hi - lo; i++) {
        primes += composite[i] == 0;
        composite[i] = 0;
    }
    return primes;
}

int32_t execute(int32_t start, int32_t end)
{
    if (start < 2)
        start = 2;
    if (end <= start)
        return 0;
    uint32_t lo = (uint32_t)start, hi = (uint32_t)end;
    uint32_t nbase = base_primes(hi);
    uint32_t total = 0;
    while (lo < hi) {
        uint32_t seg_hi = hi - lo > SEGMENT ? lo + SEGMENT : hi;
        total += count_segment(lo, seg_hi, nbase);
        lo = seg_hi;
    }
    return (int32_t)total;
}
