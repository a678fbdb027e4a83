/* gw_sched.h - the gateway's scheduling core (internal to src/mesh): jobs, shards, leases,
 * retries, backup copies, results and outcomes.
 *
 * Pure logic over a millisecond clock that the caller passes in: no I/O and no timers. What it
 * decides goes out through sched_out (leases and cancels to send, events); the caller asks
 * sched_next_wakeup when to call sched_tick. Nodes are those of a health registry.
 *
 * Rules (docs/ARCHITECTURE.md, "Scheduling"):
 * - a node holds at most SCHED_PIPELINE x slots live leases; free capacity is filled round-robin
 *   over the running jobs, first up to one lease per slot on every node, then the pipeline;
 * - a lease expires after the job's lease timeout (never past the deadline); an expired,
 *   refused, failed or lost lease puts the shard back in the job's retry queue, and a retry
 *   never goes to a node that held an earlier lease of that shard;
 * - once a job has nothing queued, a lease out for longer than SCHED_STRAGGLER_FACTOR x the
 *   median shard time (and SCHED_STRAGGLER_FLOOR_MS) gets one backup copy on another node;
 * - the first VALUE or TRAP from a holder of a lease of the shard is final; later valid copies
 *   count as duplicates; anything else is dropped and counted. */
#ifndef SWARM_MESH_GW_SCHED_H
#define SWARM_MESH_GW_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health.h"
#include "mesh.h"
#include "swarm_task.pb-c.h"

#define SCHED_PIPELINE           2    /* live leases per slot */
#define SCHED_SHARDS_PER_SLOT    4    /* default shards per live slot */
#define SCHED_SHARDS_NO_WORKER   4    /* default shards with no worker at all */
#define SCHED_LEASE_FLOOR_MS     1000 /* a derived lease timeout is at least this */
#define SCHED_STRAGGLER_FACTOR   3
#define SCHED_STRAGGLER_FLOOR_MS 250
#define SCHED_STRAGGLER_EVERY_MS 50 /* straggler checks per job at most this often */
#define SCHED_SAMPLES            64 /* recent shard times kept for the median */
#define SCHED_RETRY_SCAN         64 /* retry-queue entries looked at for one node */

typedef struct sched sched;
typedef struct sched_job sched_job;

/* A lease to send: everything the Lease message carries. */
typedef struct {
    const mesh_job_id *job;
    const mesh_job_spec *spec;
    uint32_t shard, attempt;
    int64_t start, end;
    uint64_t timeout_ms;
} sched_lease_msg;

typedef struct {
    /* Send a lease to n (batched by the caller). */
    void (*lease)(void *user, hl_node *n, const sched_lease_msg *m);
    /* Tell n to stop shard (or, with all, every shard) of job. */
    void (*cancel)(void *user, hl_node *n, const mesh_job_id *job, bool all, uint32_t shard);
    /* An event for the application (mesh_gw_event: SHARD, LEASE, JOB_END). */
    void (*event)(void *user, const mesh_gw_event *ev);
    void *user;
} sched_out;

/* Totals since sched_new. */
typedef struct {
    uint64_t jobs_started, jobs_ended[MESH_JOB_CANCELLED + 1];
    uint64_t leases, results, retries, duplicates, dropped, expired, backups;
} sched_stats;

/* A scheduler over the nodes of reg (not owned); lease_ms 0 = derived from each deadline. */
sched *sched_new(health *reg, const sched_out *out, uint64_t lease_ms);

/* Frees every job (no events, nothing sent). */
void sched_free(sched *s);

/* The default shard count for a range of len values with the registry's usable slots. */
uint32_t sched_default_shards(const sched *s, uint64_t len, uint64_t now);

/* Starts a checked job. age_ms: how long ago it was created (0 for a new one); its deadline
 * counts from then. stored: final results from before (validated here: shard in range, no
 * repeats). A job past its deadline ends before this returns. -1: duplicate id, bad stored
 * result, no memory. */
int sched_start_job(sched *s, const mesh_job_id *id, const mesh_job_spec *spec, uint64_t created_ms,
                    uint64_t age_ms, const mesh_stored_result *stored, size_t nstored, uint64_t now,
                    char *err, size_t errlen);

/* Ends a running job CANCELLED. -1 if unknown or not running. */
int sched_cancel_job(sched *s, const mesh_job_id *id, uint64_t now, char *err, size_t errlen);

/* A held job (running or ended, not forgotten), or NULL. */
sched_job *sched_find(const sched *s, const mesh_job_id *id);

/* The job's counts (elapsed computed at now while running). */
void sched_job_info(const sched_job *j, uint64_t now, mesh_job_info *out);

/* Shard i of the job; false if i is out of range. */
bool sched_job_shard(const sched *s, const sched_job *j, uint32_t i, mesh_shard_info *out);

/* Up to max workers that delivered results for the job; returns how many there are. */
size_t sched_job_workers(const sched_job *j, mesh_job_worker *out, size_t max);

/* Drops a job (a running one is cancelled first, without events). Lookups stop finding it at
 * once; its memory goes at the next sched_collect, so an event callback may forget the job it
 * is told about. */
void sched_forget(sched *s, const mesh_job_id *id, uint64_t now);

/* Frees the jobs forgotten since the last call (call it where no event is being delivered). */
void sched_collect(sched *s);

/* A checked result from node n (the holder is verified here). */
void sched_result(sched *s, hl_node *n, const Swarm__Task__Result *r, uint64_t now);

/* n lost its connection or was struck out: its live leases go back to their queues. lost:
 * count a strike if it held any (a connection dropped while holding leases). */
void sched_node_lost(sched *s, hl_node *n, bool lost, uint64_t now);

/* n failed a lease in a way that earns a strike (bad frame): strikes it; a quarantine takes
 * its leases back. */
void sched_strike(sched *s, hl_node *n, uint64_t now);

/* Deadlines, expired leases, released quarantines, stragglers; then sched_dispatch. */
void sched_tick(sched *s, uint64_t now);

/* Fills the free capacity of usable nodes with queued shards. */
void sched_dispatch(sched *s, uint64_t now);

/* When sched_tick has something to do next (absolute), or UINT64_MAX. */
uint64_t sched_next_wakeup(const sched *s, uint64_t now);

/* Running jobs and totals. */
size_t sched_running(const sched *s);
void sched_get_stats(const sched *s, sched_stats *out);

#endif
