/* power.h - what the heartbeat says about the machine (internal to src/mesh): load and
 * battery, read from /proc and /sys where the system lets us (Linux, Android with access). */
#ifndef SWARM_MESH_POWER_H
#define SWARM_MESH_POWER_H

typedef struct {
    int load_permille; /* 1-minute load average per core, x1000; -1 unknown */
    int battery;       /* percent 0..100; -1 unknown */
    int charging;      /* 1 charging or full on power, 0 on battery, -1 unknown */
} power_state;

/* Reads the state from the files under root ("" for the real /proc and /sys; tests pass a
 * folder laid out the same way). cores >= 1. Never fails: what cannot be read is unknown. */
void power_read(const char *root, unsigned cores, power_state *out);

#endif
