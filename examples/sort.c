/*
 * sort.c - memory-heavy: quicksort of pseudo-random blocks in linear memory.
 *
 * Each index i in [start, end) is a block of 65536 32-bit numbers from a
 * xorshift generator seeded with i. The block is sorted in place (quicksort
 * with median-of-three pivots, insertion sort for short runs) and scored by
 * its three quartiles, elements 16384, 32768 and 49152 of the sorted block,
 * each shifted down to its top 10 bits. execute returns the sum of the
 * scores (at most 3069 per block).
 *
 * ABI: int32_t execute(int32_t start, int32_t end)
 * Expected: execute(7, 9) = 3073
 */
#include <stdint.h>

#define BLOCK 65536u

static uint32_t data[BLOCK];

static void generate(uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1; /* xorshift needs a non-zero state */
    if (x == 0)
        x = 1;
    for (uint32_t i = 0; i < BLOCK; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = x;
    }
}

static void insertion_sort(uint32_t *v, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++) {
        uint32_t x = v[i];
        uint32_t j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

static void swap(uint32_t *v, uint32_t i, uint32_t j)
{
    uint32_t t = v[i];
    v[i] = v[j];
    v[j] = t;
}

/* Recurses into the smaller side and loops on the larger: depth <= log2(n). */
static void quicksort(uint32_t *v, uint32_t n)
{
    while (n > 16) {
        uint32_t mid = n / 2;
        if (v[mid] < v[0])
            swap(v, mid, 0);
        if (v[n - 1] < v[0])
            swap(v, n - 1, 0);
        if (v[n - 1] < v[mid])
            swap(v, n - 1, mid);
        uint32_t pivot = v[mid];
        uint32_t i = 0, j = n - 1;
        for (;;) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i >= j)
                break;
            swap(v, i, j);
            i++;
            j--;
        }
        /* Hoare partition: v[0..j] <= pivot <= v[j+1..n). */
        uint32_t left = j + 1;
        if (left < n - left) {
            quicksort(v, left);
            v += left;
            n -= left;
        } else {
            quicksort(v + left, n - left);
            n = left;
        }
    }
    insertion_sort(v, n);
}

static uint32_t sorted_block_score(uint32_t index)
{
    generate(index);
    quicksort(data, BLOCK);
    return (data[BLOCK / 4] >> 22) + (data[BLOCK / 2] >> 22) + (data[3 * BLOCK / 4] >> 22);
}

int32_t execute(int32_t start, int32_t end)
{
    uint32_t total = 0;
    if (start < 0)
        start = 0;
    for (int32_t i = start; i < end; i++)
        total += sorted_block_score((uint32_t)i);
    return (int32_t)total;
}
