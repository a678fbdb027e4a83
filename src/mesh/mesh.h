/* mesh.h - the public header of src/mesh: Swarm's compute mesh, without HTTP.
 *
 * A gateway (mesh_gw) splits a job's range into shards and leases them over libp2p
 * (/swarm/task/1.0.0) to workers (mesh_worker), which fetch the module by hash
 * (/swarm/module/1.0.0), run each shard in the wasm sandbox on a thread pool and send the
 * result back. The gateway keeps a health registry of its workers and reduces the results by
 * the job's deadline. docs/PROTOCOL.md has the wire, docs/ARCHITECTURE.md the shape.
 *
 * Threading: a mesh_gw or mesh_worker belongs to the thread running its libuv loop; callbacks
 * run there. Wasm runs on the worker's own threads, never on the loop. Errors: functions that
 * can fail return 0 (or a count) and -1 with a message in `char *err, size_t errlen`. */
#ifndef SWARM_MESH_H
#define SWARM_MESH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "p2p.h"

#define MESH_PROTO_TASK   "/swarm/task/1.0.0"
#define MESH_PROTO_MODULE "/swarm/module/1.0.0"

#define MESH_MODULE_MAX          (16u << 20) /* bytes of a module */
#define MESH_HASH_LEN            32          /* SHA-256 */
#define MESH_JOB_ID_LEN          8           /* bytes of a job id; its text is 16 hex digits */
#define MESH_ENTRY_MAX           128         /* bytes of an entry point name, NUL included */
#define MESH_DEFAULT_DEADLINE_MS 5000
#define MESH_MAX_DEADLINE_MS     (24ull * 3600 * 1000)
#define MESH_MAX_SHARDS          1000000

/* ---- jobs --------------------------------------------------------------------------------- */

typedef enum {
    MESH_REDUCE_SUM, /* exact in 64 bits, wrapping (two's complement) */
    MESH_REDUCE_MIN,
    MESH_REDUCE_MAX,
    MESH_REDUCE_XOR,
    MESH_REDUCE_COLLECT, /* the per-shard values in shard order */
} mesh_reduce;

/* "sum", "min", "max", "xor", "collect"; NULL for an unknown op. */
const char *mesh_reduce_name(mesh_reduce op);

/* Parses a reduce op's name. Returns 0, or -1 for an unknown name. */
int mesh_reduce_parse(const char *name, mesh_reduce *op);

/* A job as the gateway runs it. Strings are copied by the functions that take a spec. */
typedef struct {
    uint8_t module[MESH_HASH_LEN]; /* SHA-256 of the module's bytes */
    char entry[MESH_ENTRY_MAX];    /* exported function; "" = "execute", else the only one */
    bool abi64;                    /* set by mesh_gw_check_job from the entry's type */
    int64_t start, end;            /* the half-open range [start, end), start < end */
    uint32_t shards;               /* 0 = a few per live worker slot (mesh_gw_check_job sets it) */
    mesh_reduce reduce;
    uint64_t deadline_ms; /* 0 = MESH_DEFAULT_DEADLINE_MS; at most MESH_MAX_DEADLINE_MS */
    uint64_t fuel;        /* per shard; 0 = the gateway's default */
    uint32_t max_pages;   /* per shard memory, 64 KiB pages; 0 = the gateway's default */
} mesh_job_spec;

/* The range of shard i of n over [start, end): the first (end-start) % n shards are one value
 * longer than the others. */
void mesh_shard_range(int64_t start, int64_t end, uint32_t n, uint32_t i, int64_t *lo, int64_t *hi);

/* A job id in text: 16 lowercase hex digits. */
typedef struct {
    uint8_t b[MESH_JOB_ID_LEN];
} mesh_job_id;
void mesh_job_id_str(const mesh_job_id *id, char out[2 * MESH_JOB_ID_LEN + 1]);
int mesh_job_id_parse(const char *text, mesh_job_id *id);

typedef enum {
    MESH_JOB_RUNNING,
    MESH_JOB_DONE,      /* every shard returned a value: HTTP 200 */
    MESH_JOB_PARTIAL,   /* the deadline came first, some values arrived: 206 */
    MESH_JOB_TIMEOUT,   /* nothing arrived by the deadline: 504 */
    MESH_JOB_FAILED,    /* the module trapped on some shards: 422 */
    MESH_JOB_CANCELLED, /* DELETE /api/v1/jobs/{id} */
} mesh_job_status;

/* "running", "done", "partial", "timeout", "failed", "cancelled". */
const char *mesh_job_status_name(mesh_job_status s);

/* The HTTP status of an outcome: 202 running, 200, 206, 504, 422, 409 cancelled. */
int mesh_job_status_http(mesh_job_status s);

typedef enum {
    MESH_SHARD_QUEUED,  /* waiting for a worker */
    MESH_SHARD_LEASED,  /* on a worker (maybe more than one copy) */
    MESH_SHARD_DONE,    /* a value arrived */
    MESH_SHARD_TRAPPED, /* the module trapped on it: the shard's result is the trap */
    MESH_SHARD_MISSING, /* the job ended without it */
} mesh_shard_state;

const char *mesh_shard_state_name(mesh_shard_state s);

/* One shard's final or current state. */
typedef struct {
    mesh_shard_state state;
    int64_t lo, hi;
    int64_t value;      /* MESH_SHARD_DONE */
    const char *error;  /* MESH_SHARD_TRAPPED: the trap message (owned by the job) */
    p2p_peer_id worker; /* who delivered the result (len 0 if none yet) */
    uint32_t attempts;  /* leases made for it */
    uint64_t fuel_used, elapsed_us;
} mesh_shard_info;

/* A job's counts; the full per-shard state is read with mesh_gw_job_shard. */
typedef struct {
    mesh_job_id id;
    mesh_job_spec spec;
    mesh_job_status status;
    uint64_t created_ms; /* wall clock (ms since the epoch) */
    uint64_t elapsed_ms; /* since created, frozen when the job ends */
    uint32_t total, done, trapped, missing, leased;
    uint64_t duplicates; /* valid results of a shard after the first */
    uint64_t retries;    /* leases beyond the first of a shard */
    uint64_t dropped;    /* results dropped: wrong attempt, no lease, unknown shard */
    int64_t value;       /* reduce of the values that arrived (0 for none or collect) */
    bool has_value;      /* at least one value arrived */
} mesh_job_info;

/* ---- the gateway side --------------------------------------------------------------------- */

typedef struct mesh_gw mesh_gw;

typedef enum {
    MESH_GW_EV_SHARD,      /* a shard reached a final state (done or trapped): job, shard */
    MESH_GW_EV_LEASE,      /* a shard was leased: job, shard, peer */
    MESH_GW_EV_JOB_END,    /* the job ended: job (its status is final) */
    MESH_GW_EV_NODE,       /* a worker joined, left, was quarantined or released: peer */
    MESH_GW_EV_PEER_ERROR, /* a worker broke the protocol (its stream is reset): peer, message */
} mesh_gw_event_type;

typedef struct {
    mesh_gw_event_type type;
    const mesh_job_info *job;    /* SHARD, LEASE, JOB_END */
    uint32_t shard;              /* SHARD, LEASE */
    const mesh_shard_info *info; /* SHARD, LEASE */
    const p2p_peer_id *peer;     /* LEASE, NODE, PEER_ERROR; SHARD: who delivered it */
    const char *message;         /* PEER_ERROR */
} mesh_gw_event;

typedef void (*mesh_gw_event_cb)(mesh_gw *g, const mesh_gw_event *ev, void *user);

typedef struct {
    p2p_host *host;          /* the gateway's host (not owned; must outlive the mesh_gw) */
    uv_loop_t *loop;         /* the host's loop (the gateway's timers run on it) */
    const char *mesh;        /* mesh name for the gossipsub topics; default "default" */
    uint64_t default_fuel;   /* per shard when a job gives none; default 10,000,000,000 */
    uint32_t default_pages;  /* default 256 (16 MiB) */
    uint64_t lease_ms;       /* a lease's timeout; default: derived from the job's deadline */
    unsigned strike_limit;   /* strikes that quarantine a node; default 3 */
    uint64_t quarantine_ms;  /* first quarantine; doubled on each relapse; default 10000 */
    size_t module_store_max; /* bytes of modules held; unused ones are evicted beyond it;
                                default 1 GiB */
    p2p_pubsub *pubsub;      /* the host's gossipsub if it has one; NULL = mesh_gw_new creates
                                it (one per host) */
    mesh_gw_event_cb on_event;
    void *user;
} mesh_gw_config;

void mesh_gw_config_default(mesh_gw_config *c);

/* Starts the gateway side of the mesh on cfg->host: serves /swarm/task and /swarm/module,
 * joins the gossipsub topics. *out is freed by mesh_gw_free. */
int mesh_gw_new(const mesh_gw_config *cfg, mesh_gw **out, char *err, size_t errlen);

/* Cancels every running job (no events), closes the streams, frees g. The host stays. */
void mesh_gw_free(mesh_gw *g);

/* What a module offers, as the API shows it. */
typedef struct {
    char name[MESH_ENTRY_MAX];
    char abi[8]; /* "i32", "i64", or "" when the function has another signature */
} mesh_export;

/* Validates a module (wasm_module_load) and keeps its bytes (copied) for workers to fetch.
 * Stores its SHA-256 in hash and up to max exported functions in exports (*nexports = how
 * many there are). An invalid module is an error with the validator's message; *invalid is
 * then set (it is clear for other errors: too big, no memory). Adding a module again is fine. */
int mesh_gw_add_module(mesh_gw *g, const uint8_t *wasm, size_t len, uint8_t hash[MESH_HASH_LEN],
                       mesh_export *exports, size_t max, size_t *nexports, bool *invalid, char *err,
                       size_t errlen);

/* True if the gateway holds the module. */
bool mesh_gw_has_module(const mesh_gw *g, const uint8_t hash[MESH_HASH_LEN]);

/* Checks a job spec against the modules held: module known, entry exported with one of the
 * two ABIs (sets spec->entry and spec->abi64), range and shard count sane, deadline within
 * bounds; fills the defaults (shards, deadline, fuel, pages). Returns 0 or -1 with a message
 * fit for an HTTP 400. */
int mesh_gw_check_job(mesh_gw *g, mesh_job_spec *spec, char *err, size_t errlen);

/* A result stored for a job before a restart (see mesh_gw_start_job). */
typedef struct {
    uint32_t shard;
    bool trapped;
    int64_t value;
    const char *error;
    p2p_peer_id worker;
} mesh_stored_result;

/* Starts a checked job with the given id, created at created_ms (wall clock). The deadline
 * runs from created_ms, so a job resumed after a restart keeps its deadline. Results stored
 * before are taken as they are (nstored may be 0). A job whose deadline has passed ends at
 * once (MESH_GW_EV_JOB_END before this returns is allowed). */
int mesh_gw_start_job(mesh_gw *g, const mesh_job_id *id, const mesh_job_spec *spec,
                      uint64_t created_ms, const mesh_stored_result *stored, size_t nstored,
                      char *err, size_t errlen);

/* Cancels a running job: its leases are cancelled on the workers, it ends CANCELLED. -1 if
 * the job is unknown or not running. */
int mesh_gw_cancel_job(mesh_gw *g, const mesh_job_id *id, char *err, size_t errlen);

/* The job's counts, or false if the gateway does not hold it (ended jobs are kept until
 * mesh_gw_forget_job). */
bool mesh_gw_job(const mesh_gw *g, const mesh_job_id *id, mesh_job_info *out);

/* Shard i of a held job (i < total). */
bool mesh_gw_job_shard(const mesh_gw *g, const mesh_job_id *id, uint32_t i, mesh_shard_info *out);

/* Drops an ended job from memory (the caller has stored it). */
void mesh_gw_forget_job(mesh_gw *g, const mesh_job_id *id);

/* The per-worker breakdown of a job: shards delivered, value sum of those... */
typedef struct {
    p2p_peer_id peer;
    uint32_t shards; /* results that counted */
    uint64_t fuel_used;
    uint64_t elapsed_us;
} mesh_job_worker;

/* Up to max workers that delivered results for the job; returns how many there are. */
size_t mesh_gw_job_workers(const mesh_gw *g, const mesh_job_id *id, mesh_job_worker *out,
                           size_t max);

typedef enum {
    MESH_NODE_HEALTHY,
    MESH_NODE_QUARANTINED,
    MESH_NODE_GONE,
} mesh_node_state;

const char *mesh_node_state_name(mesh_node_state s);

/* One worker in the health registry. */
typedef struct {
    p2p_peer_id peer;
    char label[64];
    char agent[64];
    mesh_node_state state;
    unsigned strikes;
    uint32_t quarantines; /* times quarantined */
    uint64_t quarantine_left_ms;
    uint32_t slots, cores;
    uint32_t leased; /* leases it holds now */
    uint64_t shards_done;
    uint64_t fuel_used;
    double shards_per_s;   /* over the last minute */
    int battery;           /* percent, -1 unknown (from the nodes topic) */
    int charging;          /* 1, 0, -1 unknown */
    uint64_t last_seen_ms; /* ms ago */
} mesh_node_info;

/* Up to max nodes of the registry (gone nodes included for a while); returns how many. */
size_t mesh_gw_nodes(const mesh_gw *g, mesh_node_info *out, size_t max);

/* Totals for /metrics. */
typedef struct {
    uint64_t jobs_started, jobs_done, jobs_partial, jobs_timeout, jobs_failed, jobs_cancelled;
    uint64_t leases, results, retries, duplicates, dropped, expired, strikes, quarantines;
    uint64_t modules_served, module_bytes_served;
    uint64_t bad_frames; /* frames from workers that broke the protocol (streams reset) */
    uint32_t jobs_running, workers_healthy, slots_total, slots_busy;
} mesh_gw_stats;

void mesh_gw_get_stats(const mesh_gw *g, mesh_gw_stats *out);

/* ---- the worker side ---------------------------------------------------------------------- */

typedef struct mesh_worker mesh_worker;

typedef enum {
    MESH_WK_EV_CONNECTED, /* peer: a trusted gateway, the task stream is open */
    MESH_WK_EV_GONE,      /* peer, message: the gateway went away; reconnect follows */
    MESH_WK_EV_REFUSED,   /* peer, message: an untrusted peer was refused */
    MESH_WK_EV_SHARD,     /* a shard ended: job, shard, value or error, fuel, elapsed */
    MESH_WK_EV_MODULE,    /* a module was fetched or found in the cache: message */
    MESH_WK_EV_ERROR,     /* message */
} mesh_worker_event_type;

typedef struct {
    mesh_worker_event_type type;
    const p2p_peer_id *peer;
    const char *message;
    const mesh_job_id *job;
    uint32_t shard;
    bool ok; /* SHARD: a value (else error says why) */
    int64_t value;
    const char *error;
    uint64_t fuel_used, elapsed_us;
    int64_t start, end; /* SHARD: the range */
} mesh_worker_event;

typedef void (*mesh_worker_event_cb)(mesh_worker *w, const mesh_worker_event *ev, void *user);

typedef struct {
    uv_loop_t *loop;              /* the host's loop */
    p2p_host *host;               /* not owned; must outlive the worker */
    const char *const *bootstrap; /* gateway multiaddrs to dial (with /p2p/ID: trusted) */
    size_t nbootstrap;
    const p2p_peer_id *trust; /* further trusted gateway ids */
    size_t ntrust;
    unsigned threads;       /* wasm threads = slots; default: number of cores */
    const char *label;      /* --shard N */
    const char *mesh;       /* default "default" */
    const char *cache_dir;  /* module cache folder (created 0700); NULL = no disk cache */
    size_t cache_max_bytes; /* default 256 MiB; least recently used modules go first */
    uint64_t heartbeat_ms;  /* nodes-topic heartbeat; default 5000 */
    mesh_worker_event_cb on_event;
    void *user;
} mesh_worker_config;

void mesh_worker_config_default(mesh_worker_config *c);

/* Starts a worker on cfg->host: dials every bootstrap address (again with back-off while it
 * fails or after the gateway goes away), opens the task stream to trusted gateways. */
int mesh_worker_new(const mesh_worker_config *cfg, mesh_worker **out, char *err, size_t errlen);

/* Stops the worker: running shards are interrupted, threads joined, then done(user) runs on
 * the loop and the worker is freed. */
void mesh_worker_close(mesh_worker *w, void (*done)(void *user), void *user);

#endif
