/* api.c - the routes of the REST API (docs/API.md) on top of gw.c and the store. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_internal.h"
#include "jobdoc.h"
#include "jobspec.h"
#include "json.h"

#define JOBS_PAGE_MAX     1000
#define JOBS_PAGE_DEFAULT 50
#define NODES_MAX         1024

void gw_answer(gw *g, gw_req *r, int status, buf_t *body, const char *extra_header)
{
    g->requests[status >= 100 && status < 600 ? status / 100 : 0]++;
    gw_req_respond(r, status, "application/json", body, extra_header);
}

void gw_answer_error(gw *g, gw_req *r, int status, const char *msg)
{
    buf_t b;
    buf_init(&b, 0);
    gw_errordoc(&b, msg);
    gw_answer(g, r, status, &b, NULL);
}

static void answer_text(gw *g, gw_req *r, int status, const char *ctype, buf_t *b)
{
    g->requests[status / 100]++;
    gw_req_respond(r, status, ctype, b, NULL);
}

/* Adds a module to the mesh and the store; *invalid tells a bad module from other errors. */
static int add_module(gw *g, const uint8_t *wasm, size_t len, uint8_t hash[MESH_HASH_LEN],
                      mesh_export *ex, size_t max, size_t *nex, bool *invalid, char *err,
                      size_t errlen)
{
    if (mesh_gw_add_module(g->mesh, wasm, len, hash, ex, max, nex, invalid, err, errlen) < 0)
        return -1;
    return gw_store_put_module(g->store, hash, wasm, len, err, errlen);
}

static void post_module(gw *g, gw_req *r)
{
    size_t len, nex = 0;
    const uint8_t *wasm = gw_req_body(r, &len);
    uint8_t hash[MESH_HASH_LEN];
    mesh_export ex[64];
    bool invalid = false;
    char err[512];
    if (len == 0) {
        gw_answer_error(g, r, 400, "empty body: send the module's bytes");
        return;
    }
    if (add_module(g, wasm, len, hash, ex, 64, &nex, &invalid, err, sizeof err) < 0) {
        gw_answer_error(g, r, invalid ? 400 : len > MESH_MODULE_MAX ? 413 : 500, err);
        return;
    }
    char hex[2 * MESH_HASH_LEN + 1];
    hex_encode(hash, MESH_HASH_LEN, hex);
    buf_t b;
    buf_init(&b, 0);
    buf_printf(&b, "{\"hash\": \"%s\", \"size\": %zu, \"exports\": [", hex, len);
    for (size_t i = 0; i < nex && i < 64; i++) {
        buf_printf(&b, "%s{\"name\": ", i ? ", " : "");
        gw_jw_str(&b, ex[i].name);
        buf_puts(&b, ", \"abi\": ");
        if (ex[i].abi[0])
            buf_printf(&b, "\"%s\"}", ex[i].abi);
        else
            buf_puts(&b, "null}");
    }
    buf_puts(&b, "]}\n");
    gw_answer(g, r, 200, &b, NULL);
}

/* Parses, checks, stores and starts a job; answers 202 or waits. */
static void post_job(gw *g, gw_req *r, bool deploy)
{
    size_t len;
    const char *body = (const char *)gw_req_body(r, &len);
    gw_jobspec s;
    char err[512];
    int rc = deploy ? gw_deploy_parse(body, len, &s, err, sizeof err)
                    : gw_jobspec_parse(body, len, &s, err, sizeof err);
    if (rc < 0) {
        gw_answer_error(g, r, 400, err);
        return;
    }
    if (s.module) {
        mesh_export ex[1];
        size_t nex;
        bool invalid = false;
        if (add_module(g, s.module, s.module_len, s.spec.module, ex, 1, &nex, &invalid, err,
                       sizeof err) < 0) {
            gw_jobspec_free(&s);
            gw_answer_error(g, r, invalid ? 400 : 500, err);
            return;
        }
    } else if (!mesh_gw_has_module(g->mesh, s.spec.module)) {
        /* a module uploaded before a restart is in the store */
        uint8_t *wasm;
        size_t wlen, nex;
        mesh_export ex[1];
        bool invalid;
        int found = gw_store_get_module(g->store, s.spec.module, &wasm, &wlen, err, sizeof err);
        if (found == 1) {
            uint8_t hash[MESH_HASH_LEN];
            found = mesh_gw_add_module(g->mesh, wasm, wlen, hash, ex, 1, &nex, &invalid, err,
                                       sizeof err) < 0
                        ? -1
                        : 1;
            free(wasm);
        }
        if (found <= 0) {
            gw_answer_error(g, r, found == 0 ? 400 : 500,
                            found == 0 ? "unknown module: upload it to /api/v1/modules first"
                                       : err);
            return;
        }
    }
    mesh_job_id id;
    bool wait = s.wait;
    rc = gw_submit(g, &s.spec, &id, err, sizeof err);
    gw_jobspec_free(&s);
    if (rc < 0) {
        gw_answer_error(g, r, 400, err);
        return;
    }
    if (wait) {
        gw_wait_for(g, r, &id, deploy);
        return;
    }
    char text[2 * MESH_JOB_ID_LEN + 1];
    mesh_job_id_str(&id, text);
    buf_t b;
    buf_init(&b, 0);
    buf_printf(&b, "{\"id\": \"%s\", \"status\": \"running\", \"url\": \"/api/v1/jobs/%s\"}\n",
               text, text);
    gw_answer(g, r, 202, &b, NULL);
}

static void get_job(gw *g, gw_req *r, const mesh_job_id *id)
{
    buf_t b;
    buf_init(&b, 0);
    int status;
    char err[256];
    int rc = gw_job_document(g, id, false, &b, &status, err, sizeof err);
    if (rc != 0) {
        buf_free(&b);
        gw_answer_error(g, r, rc > 0 ? 404 : 500, rc > 0 ? "unknown job" : err);
        return;
    }
    gw_answer(g, r, status, &b, NULL);
}

static void delete_job(gw *g, gw_req *r, const mesh_job_id *id)
{
    char err[256];
    mesh_job_info info;
    if (!mesh_gw_job(g->mesh, id, &info)) {
        gw_job_row row;
        int found = gw_store_get_job(g->store, id, &row, err, sizeof err);
        if (found <= 0)
            gw_answer_error(g, r, found == 0 ? 404 : 500, found == 0 ? "unknown job" : err);
        else
            gw_answer_error(g, r, 409, "the job has already ended");
        return;
    }
    if (info.status != MESH_JOB_RUNNING) {
        gw_answer_error(g, r, 409, "the job has already ended");
        return;
    }
    if (mesh_gw_cancel_job(g->mesh, id, err, sizeof err) < 0) {
        gw_answer_error(g, r, 409, err);
        return;
    }
    get_job(g, r, id);
}

static void list_jobs(gw *g, gw_req *r)
{
    char arg[64], err[256];
    unsigned long limit = JOBS_PAGE_DEFAULT;
    mesh_job_id before;
    bool has_before = false;
    if (gw_req_arg(r, "limit", arg, sizeof arg)) {
        char *end;
        limit = strtoul(arg, &end, 10);
        if (*end || arg[0] == '-' || limit == 0 || limit > JOBS_PAGE_MAX) {
            gw_answer_error(g, r, 400, "limit must be a number from 1 to 1000");
            return;
        }
    }
    if (gw_req_arg(r, "before", arg, sizeof arg)) {
        if (mesh_job_id_parse(arg, &before) < 0) {
            gw_answer_error(g, r, 400, "before must be a job id (16 hex digits)");
            return;
        }
        has_before = true;
    }
    gw_job_row *rows = malloc(limit * sizeof *rows);
    if (!rows) {
        gw_answer_error(g, r, 503, "out of memory");
        return;
    }
    int n = gw_store_list_jobs(g->store, has_before ? &before : NULL, rows, limit, err, sizeof err);
    if (n < 0) {
        free(rows);
        gw_answer_error(g, r, 500, err);
        return;
    }
    buf_t b;
    buf_init(&b, 0);
    buf_puts(&b, "{\"jobs\": [");
    for (int i = 0; i < n; i++) {
        mesh_job_info live;
        const mesh_job_info *j = &rows[i].info;
        /* the store's counts of a running job are those of its start */
        if (j->status == MESH_JOB_RUNNING && mesh_gw_job(g->mesh, &j->id, &live))
            j = &live;
        if (i)
            buf_puts(&b, ", ");
        gw_jobdoc_summary(&b, j, rows[i].ended_ms);
    }
    buf_puts(&b, "], \"next\": ");
    if ((unsigned long)n == limit) {
        char text[2 * MESH_JOB_ID_LEN + 1];
        mesh_job_id_str(&rows[n - 1].info.id, text);
        buf_printf(&b, "\"/api/v1/jobs?limit=%lu&before=%s\"", limit, text);
    } else {
        buf_puts(&b, "null");
    }
    buf_puts(&b, "}\n");
    free(rows);
    gw_answer(g, r, 200, &b, NULL);
}

static void list_nodes(gw *g, gw_req *r)
{
    mesh_node_info *nodes = malloc(NODES_MAX * sizeof *nodes);
    if (!nodes) {
        gw_answer_error(g, r, 503, "out of memory");
        return;
    }
    size_t n = mesh_gw_nodes(g->mesh, nodes, NODES_MAX);
    if (n > NODES_MAX)
        n = NODES_MAX;
    buf_t b;
    buf_init(&b, 0);
    buf_puts(&b, "{\"nodes\": [");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_puts(&b, ", ");
        gw_nodedoc(&b, &nodes[i]);
    }
    buf_puts(&b, "]}\n");
    free(nodes);
    gw_answer(g, r, 200, &b, NULL);
}

static void get_metrics(gw *g, gw_req *r)
{
    buf_t b;
    buf_init(&b, 0);
    if (gw_metrics(g, &b) < 0) {
        buf_free(&b);
        gw_answer_error(g, r, 500, "cannot write the metrics");
        return;
    }
    answer_text(g, r, 200, "text/plain; version=0.0.4", &b);
}

static void get_events(gw *g, gw_req *r)
{
    gw_events_subscribe(g->events, r);
}

/* ---- the route table ---------------------------------------------------------------------- */

typedef enum { R_EXACT, R_JOB_ID } route_kind;

typedef struct {
    const char *path; /* R_JOB_ID: the prefix before the id */
    route_kind kind;
    const char *method;
    void (*plain)(gw *g, gw_req *r);
    void (*with_id)(gw *g, gw_req *r, const mesh_job_id *id);
} route;

static void post_job_api(gw *g, gw_req *r)
{
    post_job(g, r, false);
}

static void post_deploy(gw *g, gw_req *r)
{
    post_job(g, r, true);
}

static const route routes[] = {
    {"/api/v1/modules", R_EXACT, "POST", post_module, NULL},
    {"/api/v1/jobs", R_EXACT, "GET", list_jobs, NULL},
    {"/api/v1/jobs", R_EXACT, "POST", post_job_api, NULL},
    {"/api/v1/jobs/", R_JOB_ID, "GET", NULL, get_job},
    {"/api/v1/jobs/", R_JOB_ID, "DELETE", NULL, delete_job},
    {"/api/v1/nodes", R_EXACT, "GET", list_nodes, NULL},
    {"/api/v1/events", R_EXACT, "GET", get_events, NULL},
    {"/metrics", R_EXACT, "GET", get_metrics, NULL},
    {"/deploy/shard", R_EXACT, "POST", post_deploy, NULL},
};

#define NROUTES (sizeof routes / sizeof routes[0])

static bool path_matches(const route *rt, const char *path)
{
    if (rt->kind == R_EXACT)
        return strcmp(path, rt->path) == 0;
    size_t n = strlen(rt->path);
    return strncmp(path, rt->path, n) == 0 && path[n] && !strchr(path + n, '/');
}

void gw_api_request(gw_req *r, void *user)
{
    gw *g = user;
    const char *path = gw_req_path(r), *method = gw_req_method(r);
    if (g->closing) {
        gw_answer_error(g, r, 503, "the gateway is shutting down");
        return;
    }
    char allow[96] = "Allow: ";
    bool path_known = false;
    for (size_t i = 0; i < NROUTES; i++) {
        const route *rt = &routes[i];
        if (!path_matches(rt, path))
            continue;
        if (strcmp(rt->method, method) != 0) {
            if (path_known)
                strcat(allow, ", ");
            strcat(allow, rt->method);
            path_known = true;
            continue;
        }
        if (rt->kind == R_EXACT) {
            rt->plain(g, r);
            return;
        }
        mesh_job_id id;
        if (mesh_job_id_parse(path + strlen(rt->path), &id) < 0) {
            gw_answer_error(g, r, 404, "unknown job: an id is 16 hex digits");
            return;
        }
        rt->with_id(g, r, &id);
        return;
    }
    if (!path_known && strcmp(method, "GET") == 0 && gw_serve_asset(g, r))
        return;
    if (path_known) {
        buf_t b;
        buf_init(&b, 0);
        gw_errordoc(&b, "method not allowed");
        gw_answer(g, r, 405, &b, allow);
        return;
    }
    gw_answer_error(g, r, 404, "no such route");
}
