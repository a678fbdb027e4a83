/* job.c - the names and small rules of jobs that gateway, worker and API share (mesh.h). */
#include <string.h>

#include "hex.h"
#include "mesh.h"

/* One table per fact: each enum's names, and the HTTP status of each outcome. */
static const char *const reduce_names[] = {"sum", "min", "max", "xor", "collect"};

static const struct {
    const char *name;
    int http;
} job_status[] = {
    [MESH_JOB_RUNNING] = {"running", 202}, [MESH_JOB_DONE] = {"done", 200},
    [MESH_JOB_PARTIAL] = {"partial", 206}, [MESH_JOB_TIMEOUT] = {"timeout", 504},
    [MESH_JOB_FAILED] = {"failed", 422},   [MESH_JOB_CANCELLED] = {"cancelled", 409},
};

static const char *const shard_names[] = {"queued", "leased", "done", "trapped", "missing"};
static const char *const node_names[] = {"healthy", "quarantined", "gone"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *mesh_reduce_name(mesh_reduce op)
{
    return (unsigned)op < COUNT(reduce_names) ? reduce_names[op] : NULL;
}

int mesh_reduce_parse(const char *name, mesh_reduce *op)
{
    for (size_t i = 0; i < COUNT(reduce_names); i++)
        if (strcmp(name, reduce_names[i]) == 0) {
            *op = (mesh_reduce)i;
            return 0;
        }
    return -1;
}

const char *mesh_job_status_name(mesh_job_status s)
{
    return (unsigned)s < COUNT(job_status) ? job_status[s].name : "?";
}

int mesh_job_status_http(mesh_job_status s)
{
    return (unsigned)s < COUNT(job_status) ? job_status[s].http : 500;
}

const char *mesh_shard_state_name(mesh_shard_state s)
{
    return (unsigned)s < COUNT(shard_names) ? shard_names[s] : "?";
}

const char *mesh_node_state_name(mesh_node_state s)
{
    return (unsigned)s < COUNT(node_names) ? node_names[s] : "?";
}

void mesh_shard_range(int64_t start, int64_t end, uint32_t n, uint32_t i, int64_t *lo, int64_t *hi)
{
    /* unsigned arithmetic: end - start may exceed INT64_MAX */
    uint64_t len = (uint64_t)end - (uint64_t)start;
    uint64_t base = len / n, extra = len % n;
    uint64_t off = (uint64_t)i * base + (i < extra ? i : extra);
    *lo = (int64_t)((uint64_t)start + off);
    *hi = (int64_t)((uint64_t)*lo + base + (i < extra ? 1 : 0));
}

void mesh_job_id_str(const mesh_job_id *id, char out[2 * MESH_JOB_ID_LEN + 1])
{
    hex_encode(id->b, MESH_JOB_ID_LEN, out);
}

int mesh_job_id_parse(const char *text, mesh_job_id *id)
{
    size_t n = strlen(text), got;
    if (n != 2 * MESH_JOB_ID_LEN)
        return -1;
    return hex_decode(text, n, id->b, &got, NULL, 0);
}
