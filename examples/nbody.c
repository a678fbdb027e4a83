/*
 * nbody.c - floating point: many small gravitational n-body simulations.
 *
 * Each index i in [start, end) seeds its own system of 5 bodies (positions,
 * velocities and masses drawn from a hash of i), integrates it for 200 steps
 * of a softened kick-drift-kick leapfrog in double precision, and scores the
 * final total energy: |E| in hundredths, capped at 100000. execute returns
 * the sum of the scores. The exact result depends on every rounding, so it
 * checks that the engine does IEEE-754 double arithmetic (and sqrt) exactly
 * as the native build does.
 *
 * ABI: int32_t execute(int32_t start, int32_t end)
 * Expected: execute(0, 20) = 17865
 */
#include <stdint.h>

#define BODIES    5
#define STEPS     200
#define DT        0.01
#define SOFTENING 0.01 /* added to squared distances: keeps close encounters finite */
#define MAX_SCORE 100000

typedef struct body {
    double x, y, z;
    double vx, vy, vz;
    double m;
} body;

static uint32_t hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

/* Next value in [-1, 1) from a hash chain. */
static double uniform(uint32_t *state)
{
    *state = hash32(*state + 0x9e3779b9u);
    return (double)(*state >> 8) * (2.0 / 16777216.0) - 1.0;
}

static void seed(body *b, uint32_t index)
{
    uint32_t state = index;
    for (int i = 0; i < BODIES; i++) {
        b[i].x = uniform(&state);
        b[i].y = uniform(&state);
        b[i].z = uniform(&state);
        b[i].vx = 0.5 * uniform(&state);
        b[i].vy = 0.5 * uniform(&state);
        b[i].vz = 0.5 * uniform(&state);
        b[i].m = 1.0 + 0.5 * uniform(&state);
    }
}

/* Velocities change by the pairwise accelerations over dt. */
static void kick(body *b, double dt)
{
    for (int i = 0; i < BODIES; i++) {
        for (int j = i + 1; j < BODIES; j++) {
            double dx = b[j].x - b[i].x;
            double dy = b[j].y - b[i].y;
            double dz = b[j].z - b[i].z;
            double d2 = dx * dx + dy * dy + dz * dz + SOFTENING;
            double f = dt / (d2 * __builtin_sqrt(d2));
            b[i].vx += dx * b[j].m * f;
            b[i].vy += dy * b[j].m * f;
            b[i].vz += dz * b[j].m * f;
            b[j].vx -= dx * b[i].m * f;
            b[j].vy -= dy * b[i].m * f;
            b[j].vz -= dz * b[i].m * f;
        }
    }
}

static void drift(body *b, double dt)
{
    for (int i = 0; i < BODIES; i++) {
        b[i].x += b[i].vx * dt;
        b[i].y += b[i].vy * dt;
        b[i].z += b[i].vz * dt;
    }
}

static double energy(const body *b)
{
    double e = 0.0;
    for (int i = 0; i < BODIES; i++) {
        double v2 = b[i].vx * b[i].vx + b[i].vy * b[i].vy + b[i].vz * b[i].vz;
        e += 0.5 * b[i].m * v2;
        for (int j = i + 1; j < BODIES; j++) {
            double dx = b[j].x - b[i].x;
            double dy = b[j].y - b[i].y;
            double dz = b[j].z - b[i].z;
            e -= b[i].m * b[j].m / __builtin_sqrt(dx * dx + dy * dy + dz * dz + SOFTENING);
        }
    }
    return e;
}

static uint32_t simulate(uint32_t index)
{
    body b[BODIES];
    seed(b, index);
    for (int s = 0; s < STEPS; s++) {
        kick(b, 0.5 * DT);
        drift(b, DT);
        kick(b, 0.5 * DT);
    }
    double score = energy(b) * 100.0;
    if (score < 0.0)
        score = -score;
    /* The negated test also catches NaN, so the conversion below is defined. */
    if (!(score < MAX_SCORE))
        score = MAX_SCORE;
    return (uint32_t)score;
}

int32_t execute(int32_t start, int32_t end)
{
    uint32_t total = 0;
    if (start < 0)
        start = 0;
    for (int32_t i = start; i < end; i++)
        total += simulate((uint32_t)i);
    return (int32_t)total;
}
