/* demo_check.h - `swarm demo`'s check of a job's value: the very calls the workers make (one per
 * shard, on a fresh instance each, summed in 64 bits with i32 results sign-extended, as the
 * mesh's sum reduce does), run here in-process through wasm.h on a few threads. */
#ifndef SWARM_CLI_DEMO_CHECK_H
#define SWARM_CLI_DEMO_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wasm.h"

#define DC_MAX_THREADS 8

typedef struct {
    const wasm_module *module; /* borrowed; must outlive the run */
    const char *entry;         /* borrowed */
    bool abi64;                /* (i64,i64)->i64, else (i32,i32)->i32 */
    int64_t lo, hi;            /* the job's range */
    uint32_t shards;           /* split as mesh_shard_range splits it */
    unsigned threads;          /* 1..DC_MAX_THREADS */
    uint64_t fuel;             /* per shard; 0 = unlimited */
    uint32_t max_pages;        /* per shard */
} dc_job;

typedef struct dc_run dc_run;

/* The function a job calls: `want` if given, else "execute", else the only exported function;
 * it must be (i32,i32)->i32 or (i64,i64)->i64. Writes its name (owned by m) and ABI. Returns 0,
 * or -1 with a message saying what the module offers. */
int dc_pick_entry(const wasm_module *m, const char *want, const char **entry, bool *abi64,
                  char *err, size_t errlen);

/* Starts the threads on job (copied). Returns 0 with *out, or -1 with a message. */
int dc_start(const dc_job *job, dc_run **out, char *err, size_t errlen);

/* True once every thread has finished (dc_finish will not wait). */
bool dc_done(dc_run *r);

/* Stops the calls running (they trap "interrupted" within a fraction of a millisecond) and
 * keeps the others from starting. Any thread may call it while the run is alive. */
void dc_interrupt(dc_run *r);

/* Joins the threads and frees r. Returns 0 with the sum of every shard's value, or -1 with
 * the first failure ("shard 3 [a,b): out of fuel", "interrupted"). */
int dc_finish(dc_run *r, int64_t *sum, char *err, size_t errlen);

#endif
