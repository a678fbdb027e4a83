/* jobspec.h - internal to src/gateway: the job specs clients send, parsed and checked.
 *
 * POST /api/v1/jobs takes {"module": "<sha256 hex>"} or {"module_base64": "..."}, "range":
 * [A, B] (half-open, exact 64-bit integers), and optional "entry", "shards", "reduce",
 * "deadline_ms", "fuel", "max_pages", "wait". POST /deploy/shard (v0.10) takes
 * {"wasm_base64": "...", "range_size": N}: the range [0, N), waited. Everything that can be
 * checked without the module is checked here, with a message fit for an HTTP 400; the
 * module's own checks (entry, signature) are mesh_gw_check_job's. */
#ifndef SWARM_GW_JOBSPEC_H
#define SWARM_GW_JOBSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh.h"

typedef struct {
    mesh_job_spec spec; /* module set when has_hash; 0 fields mean the defaults */
    bool has_hash;
    uint8_t *module; /* decoded module_base64 / wasm_base64 (owned; NULL if by hash) */
    size_t module_len;
    bool wait;
} gw_jobspec;

/* Parses a POST /api/v1/jobs body. On success *out owns what it holds (gw_jobspec_free); on
 * failure nothing is left to free and err says what is wrong. */
int gw_jobspec_parse(const char *json, size_t len, gw_jobspec *out, char *err, size_t errlen);

/* Parses a POST /deploy/shard body, the same way. */
int gw_deploy_parse(const char *json, size_t len, gw_jobspec *out, char *err, size_t errlen);

void gw_jobspec_free(gw_jobspec *s);

#endif
