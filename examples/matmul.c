/*
 * matmul.c - memory-heavy: integer matrix multiply in linear memory.
 *
 * A and B are fixed 1280 x 1280 matrices of small integers (a[i][k] =
 * (i + 2k) mod 16, b[k][j] = (3k + j) mod 16), filled on every call.
 * execute(start, end) computes rows [start, end) of C = A * B (rows outside
 * [0, 1280) count 0) in i-k-j order, streaming through B once per row of A,
 * and returns the sum of the entries of those rows. 64-bit ABI: the sum of
 * the whole matrix does not fit 32 bits.
 *
 * ABI: int64_t execute(int64_t start, int64_t end)
 * Expected: execute(1278, 1281) = 184320000
 */
#include <stdint.h>

#define N 1280

static uint32_t a[N][N], b[N][N];
static uint32_t row[N];

static void fill(void)
{
    for (uint32_t i = 0; i < N; i++) {
        for (uint32_t j = 0; j < N; j++) {
            a[i][j] = (i + 2 * j) % 16;
            b[i][j] = (3 * i + j) % 16;
        }
    }
}

/* Computes row i of A * B into row[] and returns its sum. */
static uint64_t product_row(uint32_t i)
{
    /* Starting from the k = 0 term rather than zero keeps clang from calling memset. */
    for (uint32_t j = 0; j < N; j++)
        row[j] = a[i][0] * b[0][j];
    for (uint32_t k = 1; k < N; k++) {
        uint32_t aik = a[i][k];
        for (uint32_t j = 0; j < N; j++)
            row[j] += aik * b[k][j];
    }
    uint64_t sum = 0;
    for (uint32_t j = 0; j < N; j++)
        sum += row[j];
    return sum;
}

int64_t execute(int64_t start, int64_t end)
{
    if (start < 0)
        start = 0;
    if (end > N)
        end = N;
    if (end <= start)
        return 0;
    fill();
    uint64_t total = 0;
    for (int64_t i = start; i < end; i++)
        total += product_row((uint32_t)i);
    return (int64_t)total;
}
