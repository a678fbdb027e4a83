/* gw_internal.h - internal to src/gateway: the gw that gw.c (mesh, store, life cycle),
 * api.c (the routes) and metrics.c (/metrics) share. */
#ifndef SWARM_GW_INTERNAL_H
#define SWARM_GW_INTERNAL_H

#include "events.h"
#include "gateway.h"
#include "http.h"
#include "store.h"

/* A request waiting for its job to end ("wait": true, and /deploy/shard). */
typedef struct gw_waiter {
    struct gw_waiter *next;
    gw *g;
    gw_req *req;
    mesh_job_id id;
    bool deploy; /* answer with the v0.10 document */
} gw_waiter;

struct gw {
    uv_loop_t *loop;
    gw_config cfg; /* strings point into the copies below */
    char *http_addr, *data_dir, *mesh_name, *token;
    mesh_gw *mesh;
    gw_store *store;
    gw_http *http;
    gw_events *events; /* GET /api/v1/events */
    uv_timer_t flush;  /* writes the queued shard results every GW_FLUSH_MS */
    gw_waiter *waiters;
    uint64_t requests[6]; /* answers by status class: 1xx..5xx, and [0] for others */
    uint64_t store_errors_logged;
    bool closing;
    bool trim_pending;  /* a big job was forgotten: give its memory back at the next flush */
    int closes_pending; /* handles still closing after gw_close */
    void (*done)(void *user);
    void *done_user;
};

#define GW_FLUSH_MS 50

/* Prints one log line on stderr unless quiet. */
void gw_log(const gw *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The HTTP handler (api.c). */
void gw_api_request(gw_req *r, void *user);

/* Answers r with status and the document in body (taken), counting it for /metrics. */
void gw_answer(gw *g, gw_req *r, int status, buf_t *body, const char *extra_header);

/* Answers r with {"error": msg}. */
void gw_answer_error(gw *g, gw_req *r, int status, const char *msg);

/* Writes a job's document (from the mesh if it holds the job, else from the store) into b and
 * sets *status to the job's HTTP status. 0, 1 if the job is unknown, -1 on an error (err). */
int gw_job_document(gw *g, const mesh_job_id *id, bool deploy, buf_t *b, int *status, char *err,
                    size_t errlen);

/* Starts a parsed and checked job: stores it, starts it on the mesh. Sets *id. */
int gw_submit(gw *g, mesh_job_spec *spec, mesh_job_id *id, char *err, size_t errlen);

/* Adds r as a waiter for job id (answered at its end, or now if it has ended). */
void gw_wait_for(gw *g, gw_req *r, const mesh_job_id *id, bool deploy);

/* Answers a GET for one of the dashboard's files (web.c); false if path names none. */
bool gw_serve_asset(gw *g, gw_req *r);

/* The Prometheus text of GET /metrics. */
int gw_metrics(gw *g, buf_t *b);

#endif
