/* worker_internal.h - the parts of mesh_worker (internal to src/mesh): worker.c (dialling,
 * trust, heartbeat, life), worker_session.c (task streams: leases in, results out),
 * worker_modules.c (modules in memory, fetched once over /swarm/module). */
#ifndef SWARM_MESH_WORKER_INTERNAL_H
#define SWARM_MESH_WORKER_INTERNAL_H

#include "exec.h"
#include "mesh.h"
#include "modcache.h"
#include "wire.h"

/* Leases one session may hold (running, queued or waiting for a module); more are refused
 * ("busy"), which bounds what a gateway can make us keep. */
#define WK_MAX_LEASES 65536

typedef struct wk_session wk_session;
typedef struct wk_module wk_module;

/* A bootstrap address and the session we keep with it. */
typedef struct {
    mesh_worker *w;
    char *maddr;
    bool has_peer; /* /p2p/ID given: trusted, and the dial proves it */
    p2p_peer_id peer;
    uv_timer_t redial;
    uint64_t backoff_ms;
    bool busy;           /* a dial or stream open is under way */
    wk_session *session; /* NULL while not connected */
} wk_target;

/* What a dial or stream-open callback finds: w is cleared when the worker closes. */
typedef struct wk_ticket {
    mesh_worker *w;
    wk_target *target;
    struct wk_ticket *next;
} wk_ticket;

/* One leased shard: the executor's task plus where its result goes. */
typedef struct wk_lease {
    exec_task task; /* task.user is the lease */
    wk_session *sess;
    uint32_t attempt;
    wk_module *mod;
    struct wk_lease *next_wait; /* in the module's list while it is fetched */
} wk_lease;

/* One task stream (either direction) with a gateway. */
struct wk_session {
    mesh_worker *w;
    p2p_stream *s; /* NULL once gone */
    p2p_peer_id peer;
    uint64_t id; /* exec group */
    bool trusted;
    wk_target *target; /* the bootstrap it belongs to, or NULL */
    wire_reader rd;
    buf_t out;                     /* encoded frames the stream did not take yet */
    Swarm__Task__Result **pending; /* results to send at the next flush */
    size_t npending, cappending;
    bool queued_flush; /* in w->flushq */
    bool dying;        /* session_gone is running: its leases must not free it */
    uint32_t leases;   /* leases it holds */
    struct wk_session *next, *next_flush;
};

struct mesh_worker {
    mesh_worker_config cfg; /* strings cleared: copied below */
    unsigned threads, cores;
    char label[64];
    char topic_nodes[160];
    wk_target *targets;
    size_t ntargets;
    p2p_peer_id *trust;
    size_t ntrust;
    exec *exec;
    modcache *disk; /* NULL without a cache dir */
    p2p_pubsub *ps;
    uv_timer_t hb;
    wk_session *sessions;
    wk_session *flushq;
    wk_ticket *tickets;
    wk_module *modules;
    size_t module_bytes; /* wasm bytes of the modules in memory */
    uint64_t next_session_id;
    uint64_t shards_done;
    bool closing, exec_closed;
    unsigned handles_open;
    void (*done)(void *user);
    void *done_user;
};

/* worker.c */
void wk_emit(mesh_worker *w, const mesh_worker_event *ev);
void wk_emit_msg(mesh_worker *w, mesh_worker_event_type type, const p2p_peer_id *peer,
                 const char *msg);
bool wk_trusted(const mesh_worker *w, const p2p_peer_id *peer);
void wk_schedule_redial(wk_target *t);

/* worker_session.c */
/* Takes over stream s as a session (sends Hello when trusted). NULL on no memory. */
wk_session *wk_session_new(mesh_worker *w, p2p_stream *s, bool trusted, wk_target *target);
/* Ends a session: resets its stream, cancels its shards, forgets it (why: for the event). */
void wk_session_drop(wk_session *ss, const char *why);
/* The executor's done callback. */
void wk_on_done(void *user, exec_task *done);
/* Adds a result for lease l to its session (if still there) and frees l. */
void wk_finish(wk_lease *l, Swarm__Task__ResultKind kind, int64_t value, const char *error,
               uint64_t fuel_used, uint64_t elapsed_us);
/* Sends what the sessions collected: one frame per session (per 1024 results). */
void wk_flush(mesh_worker *w);
/* A handler that refuses a stream outright (after close). */
void wk_refuse_stream(p2p_stream *s, void *user);

/* worker_modules.c */
/* Runs l once its module is loaded: at once if held, after the disk or the network
 * otherwise (fetched from l's session's peer, once for every lease that waits). */
void wk_module_want(mesh_worker *w, wk_lease *l, const uint8_t hash[MESH_HASH_LEN]);
/* A lease's module is no longer needed by it. */
void wk_module_release(mesh_worker *w, wk_module *m);
/* Drops the leases of session ss that wait for a module (answered CANCELLED when cancel). */
void wk_modules_forget_session(mesh_worker *w, wk_session *ss, const mesh_job_id *job,
                               bool has_shard, uint32_t shard);
void wk_modules_cancel_fetches(mesh_worker *w);
void wk_modules_free(mesh_worker *w);

#endif
