/*
 * hash64.c - 64-bit arithmetic: hashing the range, 64-bit ABI.
 *
 * Each number i in [start, end) is hashed with 64-bit multiply, xor-shift
 * and rotate rounds in the style of splitmix64 and xxHash64, and execute
 * returns the sum of the top 32 bits of the hashes. A range of 2^31
 * numbers still sums within 63 bits, and the arguments and result are
 * 64-bit, so start and end may lie anywhere in the i64 range.
 *
 * ABI: int64_t execute(int64_t start, int64_t end)
 * Expected: execute(4294967000, 4294968000) = 2134374247706
 */
#include <stdint.h>

#define PRIME1 0x9e3779b185ebca87ull
#define PRIME2 0xc2b2ae3d27d4eb4full
#define PRIME3 0x165667b19e3779f9ull

static uint64_t rotl64(uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t hash(uint64_t i)
{
    uint64_t h = splitmix64(i);
    for (int round = 0; round < 4; round++) {
        h = rotl64(h ^ (h * PRIME2), 31) * PRIME1;
        h += PRIME3 ^ (uint64_t)round;
    }
    /* xxHash64's final avalanche */
    h ^= h >> 33;
    h *= PRIME2;
    h ^= h >> 29;
    h *= PRIME3;
    h ^= h >> 32;
    return h;
}

int64_t execute(int64_t start, int64_t end)
{
    uint64_t total = 0;
    for (int64_t i = start; i < end; i++)
        total += hash((uint64_t)i) >> 32;
    return (int64_t)total;
}
