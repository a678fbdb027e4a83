/* store.h - internal to src/gateway: the job store, one SQLite file (WAL) in the data dir.
 *
 * Tables: modules (hash, bytes), jobs (the spec, created, status, value, ended, counts) and
 * results (one row per shard that ended: state, value or error, worker, fuel, time). A job is
 * committed by gw_store_put_job before the caller acknowledges it. Shard results are queued by
 * gw_store_add_result and written by gw_store_flush, many per transaction (the caller flushes
 * on a short timer); reads flush first, so they always see every result given. Durability is
 * that of SQLite's WAL with synchronous=NORMAL: a committed transaction survives the process
 * being killed (a power cut may lose the last ones).
 *
 * Threading: one thread. Errors: -1 with a message. */
#ifndef SWARM_GW_STORE_H
#define SWARM_GW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh.h"

typedef struct gw_store gw_store;

/* A job as stored: its counts (info.total = the spec's shards) and when it ended. */
typedef struct {
    mesh_job_info info;
    uint64_t ended_ms; /* wall clock; 0 while running */
} gw_job_row;

/* How long the store's commits take, for /metrics. */
typedef struct {
    uint64_t commits;       /* transactions committed */
    uint64_t rows;          /* result rows written */
    uint64_t commit_us_sum; /* time in commits */
    uint64_t commit_us_max;
    uint64_t errors; /* failed writes (each also logged by the caller) */
    size_t pending;  /* results queued, not yet written */
} gw_store_stats;

/* Opens (creating) the store at path; a file that is not a store of ours, or corrupt, or not
 * writable is an error naming it. *out is closed with gw_store_close. */
int gw_store_open(const char *path, gw_store **out, char *err, size_t errlen);

/* Writes the queued results and closes. */
void gw_store_close(gw_store *s);

/* Keeps a module's bytes (again is fine). */
int gw_store_put_module(gw_store *s, const uint8_t hash[MESH_HASH_LEN], const uint8_t *wasm,
                        size_t len, char *err, size_t errlen);

/* Reads a module: 1 and *wasm (malloc'd, the caller frees) if found, 0 if not, -1 on error. */
int gw_store_get_module(gw_store *s, const uint8_t hash[MESH_HASH_LEN], uint8_t **wasm, size_t *len,
                        char *err, size_t errlen);

/* Commits a new job (status running). */
int gw_store_put_job(gw_store *s, const mesh_job_info *job, char *err, size_t errlen);

/* Queues a shard's final result (done or trapped); the first one of a shard is kept. Returns
 * -1 only when out of memory. */
int gw_store_add_result(gw_store *s, const mesh_job_id *job, uint32_t shard,
                        const mesh_shard_info *r, char *err, size_t errlen);

/* Writes the queued results in one transaction. */
int gw_store_flush(gw_store *s, char *err, size_t errlen);

/* Writes the queued results and the job's final state in one transaction. */
int gw_store_end_job(gw_store *s, const mesh_job_info *job, uint64_t ended_ms, char *err,
                     size_t errlen);

/* Reads a job: 1 if found, 0 if not, -1 on error. */
int gw_store_get_job(gw_store *s, const mesh_job_id *id, gw_job_row *out, char *err, size_t errlen);

/* Up to max jobs, most recent first, older than `before` (NULL: from the newest; an unknown id
 * gives none). Returns how many, or -1. */
int gw_store_list_jobs(gw_store *s, const mesh_job_id *before, gw_job_row *out, size_t max,
                       char *err, size_t errlen);

/* Calls fn for every job still marked running (as after a crash), oldest first; stops and
 * returns -1 if fn does. */
int gw_store_each_running(gw_store *s, int (*fn)(const gw_job_row *job, void *user), void *user,
                          char *err, size_t errlen);

/* The stored results of a job, in shard order. */
typedef struct gw_store_cursor gw_store_cursor;

int gw_store_results(gw_store *s, const mesh_job_id *id, gw_store_cursor **out, char *err,
                     size_t errlen);

/* The next result: 1 with *shard and *r (r->error valid until the next call), 0 at the end,
 * -1 on error. */
int gw_store_next(gw_store_cursor *c, uint32_t *shard, mesh_shard_info *r, char *err,
                  size_t errlen);

void gw_store_cursor_free(gw_store_cursor *c);

/* The per-worker breakdown of a job's stored results, most shards first; returns how many
 * workers there are (up to max written), or -1. */
int gw_store_job_workers(gw_store *s, const mesh_job_id *id, mesh_job_worker *out, size_t max,
                         char *err, size_t errlen);

void gw_store_get_stats(const gw_store *s, gw_store_stats *out);

#endif
