#define _POSIX_C_SOURCE 200809L
#include "clock.h"

#include <time.h>

static uint64_t clock_read_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t clock_mono_ns(void)
{
    return clock_read_ns(CLOCK_MONOTONIC);
}

uint64_t clock_mono_ms(void)
{
    return clock_mono_ns() / 1000000u;
}

uint64_t clock_wall_ms(void)
{
    return clock_read_ns(CLOCK_REALTIME) / 1000000u;
}
