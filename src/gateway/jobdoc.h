/* jobdoc.h - internal to src/gateway: the JSON documents of jobs (and nodes), written by hand so
 * that every integer is exact (cJSON would print 2^63-1 as a double).
 *
 * A job's shards are read one at a time, in order, through a gw_shard_fn, so the same writer
 * serves a job the mesh holds and one read back from the store. */
#ifndef SWARM_GW_JOBDOC_H
#define SWARM_GW_JOBDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh.h"
#include "util.h"

/* Fills *out with shard i's state; called for i = 0, 1, ... total-1 in order. False on a read
 * error (the document is then not written). */
typedef bool (*gw_shard_fn)(void *ctx, uint32_t i, mesh_shard_info *out);

/* The job document of docs/API.md: id, status, value (or values for collect), missing, errors,
 * shards {...}, elapsed_ms, workers, and the spec. ended_ms 0 = running. Returns 0, or -1 if
 * a shard could not be read or the buffer's bound was reached. */
int gw_jobdoc(buf_t *b, const mesh_job_info *j, uint64_t ended_ms, gw_shard_fn shard, void *ctx,
              const mesh_job_worker *workers, size_t nworkers);

/* A job's summary for the job list (no per-shard parts). */
int gw_jobdoc_summary(buf_t *b, const mesh_job_info *j, uint64_t ended_ms);

/* The answer of the v0.10 POST /deploy/shard: status, total_sum, breakdown (per shard),
 * missing_shards (indices), plus the job id. */
int gw_deploydoc(buf_t *b, const mesh_job_info *j, gw_shard_fn shard, void *ctx);

/* A node's entry of GET /api/v1/nodes (and of the event stream's node events). */
int gw_nodedoc(buf_t *b, const mesh_node_info *x);

/* A JSON error document {"error": msg} (+ "status" when not 0). */
int gw_errordoc(buf_t *b, const char *msg);

#endif
