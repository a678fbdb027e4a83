/*
 * mandelbrot.c - floating point: Mandelbrot set rows.
 *
 * The image is 1024 x 1024 pixels over the square [-2, 1] x [-1.5, 1.5] of
 * the complex plane; each pixel iterates z = z^2 + c (in double precision)
 * until |z| > 2 or 1000 iterations. execute(start, end) returns the total
 * iteration count of the rows in [start, end); rows outside [0, 1024) count
 * 0. The whole image, execute(0, 1024), totals well below 2^31.
 *
 * ABI: int32_t execute(int32_t start, int32_t end)
 * Expected: execute(400, 402) = 746668
 */
#include <stdint.h>

#define SIZE     1024
#define MAX_ITER 1000

static uint32_t row_iterations(int32_t row)
{
    double ci = -1.5 + 3.0 * row / SIZE;
    uint32_t total = 0;
    for (int32_t col = 0; col < SIZE; col++) {
        double cr = -2.0 + 3.0 * col / SIZE;
        double zr = 0.0, zi = 0.0, zr2 = 0.0, zi2 = 0.0;
        uint32_t it = 0;
        while (it < MAX_ITER && zr2 + zi2 <= 4.0) {
            zi = 2.0 * zr * zi + ci;
            zr = zr2 - zi2 + cr;
            zr2 = zr * zr;
            zi2 = zi * zi;
            it++;
        }
        total += it;
    }
    return total;
}

int32_t execute(int32_t start, int32_t end)
{
    uint32_t total = 0;
    if (start < 0)
        start = 0;
    if (end > SIZE)
        end = SIZE;
    for (int32_t row = start; row < end; row++)
        total += row_iterations(row);
    return (int32_t)total;
}
