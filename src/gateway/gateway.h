/* gateway.h - the public header of src/gateway: the HTTP API, the job store and (issue 11)
 * the dashboard, on top of the mesh.
 *
 * A gw owns a mesh_gw on the caller's p2p host, an SQLite job store in the data dir and an
 * HTTP server (libwebsockets on the same libuv loop). It answers the REST API of docs/API.md:
 * modules, jobs (wait or 202), nodes, /metrics, and the v0.10 /deploy/shard. A job is in the
 * store before it is acknowledged; shard results are written as they arrive, in batches; on
 * start it resumes the unfinished jobs of the store whose deadline has not passed and ends the
 * others with the results that were stored.
 *
 * Threading: everything runs on the loop thread. Errors: -1 with a message in err. */
#ifndef SWARM_GATEWAY_H
#define SWARM_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "mesh.h"

typedef struct gw gw;

typedef struct {
    p2p_host *host;          /* not owned; must outlive the gw */
    const char *http;        /* "ADDR:PORT" to listen on; default "127.0.0.1:3000"; port 0 picks */
    const char *token;       /* bearer token; NULL = none (then only a loopback http is allowed) */
    const char *data_dir;    /* the store lives in <data_dir>/gateway.db (dir created 0700) */
    const char *mesh;        /* mesh name; default "default" */
    size_t max_body;         /* request body limit in bytes; default 24 MiB (a 16 MiB module in
                                base64, with room for the rest of the spec) */
    mesh_gw_config mesh_cfg; /* tuning for the mesh (host, on_event, user are set by gw_new) */
    bool quiet;              /* no log lines on stderr */
} gw_config;

/* Fills c with the defaults above (mesh_cfg with mesh_gw_config_default). */
void gw_config_default(gw_config *c);

/* Opens the store, starts the mesh on cfg->host, resumes or ends the stored unfinished jobs,
 * and listens for HTTP. Refuses a non-loopback http address without a token. */
int gw_new(uv_loop_t *loop, const gw_config *cfg, gw **out, char *err, size_t errlen);

/* The HTTP port actually bound (useful with port 0). */
int gw_http_port(const gw *g);

/* The mesh the gateway drives. */
mesh_gw *gw_mesh(gw *g);

/* Stops listening, answers waiting requests with 503, flushes the store, frees the mesh and
 * the gw once libuv and libwebsockets have closed their handles; done (may be NULL) then runs
 * on the loop. */
void gw_close(gw *g, void (*done)(void *user), void *user);

#endif
