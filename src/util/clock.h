/* clock.h - time sources. Monotonic clocks for durations and deadlines, wall clock for
 * timestamps shown to people or stored. */
#ifndef SWARM_UTIL_CLOCK_H
#define SWARM_UTIL_CLOCK_H

#include <stdint.h>

/* Nanoseconds on a monotonic clock (arbitrary origin, never goes back). */
uint64_t clock_mono_ns(void);

/* Milliseconds on the same monotonic clock. */
uint64_t clock_mono_ms(void);

/* Milliseconds since the Unix epoch (wall clock; may jump). */
uint64_t clock_wall_ms(void);

#endif
