#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "check.h"
#include "util.h"

int main(void)
{
    uint64_t a = clock_mono_ns();
    CHECK(a > 0);
    struct timespec pause = {0, 2000000}; /* 2 ms */
    nanosleep(&pause, NULL);
    uint64_t b = clock_mono_ns();
    CHECK(b >= a + 2000000);
    CHECK(b - a < 5000000000u); /* and not absurdly far */

    uint64_t ms = clock_mono_ms();
    CHECK(ms >= b / 1000000u);

    /* the wall clock is after 2020-01-01 and agrees with time() */
    uint64_t wall = clock_wall_ms();
    CHECK(wall > 1577836800000u);
    uint64_t t = (uint64_t)time(NULL);
    CHECK(wall / 1000 + 2 >= t && wall / 1000 <= t + 2);

    return CHECK_DONE();
}
