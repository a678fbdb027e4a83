/* gw_internal.h - the mesh_gw object, shared by gw.c (API, clock, gossip), gw_task.c (the
 * task streams) and gw_module.c (serving modules). Internal to src/mesh. */
#ifndef SWARM_MESH_GW_INTERNAL_H
#define SWARM_MESH_GW_INTERNAL_H

#include "health.h"
#include "mesh.h"
#include "modstore.h"
#include "gw_sched.h"
#include "wire.h"

#define GW_OUT_MAX            (8u << 20) /* bytes queued for a worker that is not reading: reset */
#define GW_HELLO_TIMEOUT_MS   10000      /* a task stream must say Hello within this */
#define GW_FETCH_TIMEOUT_MS   120000     /* a module stream, request to last byte */
#define GW_SWEEP_MS           1000       /* how often stale streams are looked for */
#define GW_MODULE_REQUEST_MAX 256        /* bytes of a ModuleRequest frame */

/* One /swarm/task stream: a worker (a node once it said Hello). */
typedef struct gw_conn {
    struct mesh_gw *g;
    p2p_stream *s;
    hl_node *node; /* NULL before Hello or after it was replaced by a newer stream */
    wire_reader rd;
    buf_t out;       /* framed bytes the stream has not taken yet (GW_OUT_MAX) */
    size_t out_off;  /* of them, already taken */
    buf_t batch;     /* the TaskFrame body being batched for this loop turn */
    uint32_t nbatch; /* items in it */
    bool dirty;      /* on the flush list */
    bool bad;        /* we reset it for a protocol error */
    uint64_t opened;
    struct gw_conn *prev, *next, *next_dirty;
} gw_conn;

/* One /swarm/module stream. */
typedef struct gw_fetch {
    struct mesh_gw *g;
    p2p_stream *s;
    wire_reader rd;
    ms_module *mod; /* referenced while its bytes are sent */
    buf_t head;     /* the frame up to the module bytes (or the whole error answer) */
    size_t off;     /* bytes of head, then of the module, taken by the stream */
    bool answering, done;
    uint64_t opened;
    struct gw_fetch *prev, *next;
} gw_fetch;

/* The libuv handles, freed after their close callbacks (mesh_gw_free returns before). */
typedef struct {
    uv_timer_t wake, sweep;
    uv_idle_t idle;
    uv_check_t check;
    int open;
} gw_handles;

struct mesh_gw {
    mesh_gw_config cfg;
    char mesh[64];
    char topic_nodes[96], topic_jobs[96];
    p2p_host *host;
    p2p_pubsub *ps;
    uv_loop_t *loop;
    health reg;
    sched *s;
    modstore mods;
    gw_handles *hd;
    bool dirty; /* dispatch and flush at the end of this loop turn */
    gw_conn *conns, *flush;
    gw_fetch *fetches;
    uint64_t modules_served, module_bytes_served, bad_frames;
};

/* The scheduler's clock. */
uint64_t gw_now(const mesh_gw *g);

/* Asks for a dispatch and a flush at the end of this loop turn. */
void gw_kick(mesh_gw *g);

/* Reports a protocol error of peer (event PEER_ERROR) and counts it. */
void gw_peer_error(mesh_gw *g, const p2p_peer_id *peer, const char *msg);

/* gw_task.c */
void gw_task_handler(p2p_stream *s, void *user);
void gw_task_lease(void *user, hl_node *n, const sched_lease_msg *m);
void gw_task_cancel(void *user, hl_node *n, const mesh_job_id *job, bool all, uint32_t shard);
void gw_task_flush(mesh_gw *g);
void gw_task_sweep(mesh_gw *g, uint64_t now);
void gw_task_close_all(mesh_gw *g);

/* gw_module.c */
void gw_module_handler(p2p_stream *s, void *user);
void gw_module_sweep(mesh_gw *g, uint64_t now);
void gw_module_close_all(mesh_gw *g);

#endif
