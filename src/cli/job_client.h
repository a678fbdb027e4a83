/* job_client.h - what `swarm submit` and `swarm demo` say to a gateway over its REST API
 * (docs/API.md): upload a module, submit a job, read it back, print its outcome. Blocking calls
 * through http_client.h; every error is printed to stderr as "swarm <cmd>: ...". */
#ifndef SWARM_CLI_JOB_CLIENT_H
#define SWARM_CLI_JOB_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "http_client.h"
#include "mesh.h"
#include "util.h"

#define JC_ANSWER_MAX      (256u << 20) /* bytes of an answer we read */
#define JC_HTTP_TIMEOUT_MS 30000        /* per socket wait */

typedef struct {
    hc_url url;
    const char *token; /* bearer token, NULL or "" for none (borrowed) */
    const char *cmd;   /* command name for messages (borrowed) */
} jc_client;

/* A job spec; fields whose has_ flag (or pointer) is unset are left to the gateway. */
typedef struct {
    const char *hash; /* module hash, hex */
    int64_t lo, hi;
    bool has_shards, has_deadline, has_fuel;
    uint64_t shards, deadline_ms, fuel;
    const char *reduce, *entry; /* NULL: the gateway's default */
} jc_spec;

/* One request. *answer is emptied and re-bounded to JC_ANSWER_MAX first, then holds the body.
 * Returns 0 with *status set, or -1 after printing why (cannot connect, timeout, ...). */
int jc_call(const jc_client *c, const char *method, const char *path, const char *ctype,
            const void *body, size_t len, int *status, buf_t *answer);

/* Prints "swarm <cmd>: <what>: <status>: <the answer's "error", or the whole answer>". */
void jc_print_error(const jc_client *c, const char *what, int status, const buf_t *answer);

/* Uploads a module (POST /api/v1/modules) and writes its hash in hex. Returns SWARM_EXIT_OK, or
 * after printing the reason SWARM_EXIT_INVALID_MODULE (refused with 400: the validator's
 * message) or SWARM_EXIT_RUNTIME. */
int jc_upload(const jc_client *c, const uint8_t *wasm, size_t len, char hex[2 * MESH_HASH_LEN + 1]);

/* Submits a job (POST /api/v1/jobs, not waited) and writes "/api/v1/jobs/<id>" into path.
 * Returns SWARM_EXIT_OK, or after printing the reason SWARM_EXIT_INVALID_MODULE (400: the spec
 * does not fit the module) or SWARM_EXIT_RUNTIME. */
int jc_submit(const jc_client *c, const jc_spec *spec, char path[64]);

/* A number member of o, 0 when missing or not a number. */
double jc_num(const cJSON *o, const char *key);

/* The top-level "value" of a job document exactly as written (cJSON would round an integer
 * beyond 2^53): "null" when there is none. */
const char *jc_raw_value(const char *doc, char *out, size_t cap);

/* The outcomes of a finished job's GET: 200, 206, 504, 422, 409. */
bool jc_is_outcome(int status);

/* How jc_print_outcome shows the per-worker breakdown. */
typedef struct {
    bool short_ids; /* "12D3KooW..kETnBmP7" instead of the whole peer id */
    /* the worker's label for a peer id, or NULL; NULL function: no labels */
    const char *(*label)(void *user, const char *peer);
    void *user;
} jc_style;

/* Prints a job document for people: status, value(s), shard counts, missing ranges, errors,
 * the per-worker breakdown. style NULL is `swarm submit`'s. Prints the text as it is when it
 * is not JSON. */
void jc_print_outcome(const char *text, int status, const jc_style *style);

/* "12D3KooW" + ".." + the last 8 characters of a peer id (which is what tells ids apart: every
 * Ed25519 id starts the same), into out (at least 20 bytes). */
const char *jc_short_peer(const char *peer, char *out, size_t cap);

#endif
