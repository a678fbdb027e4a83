/* exec.h - the worker's executor (internal to src/mesh): a pool of threads that runs shards.
 *
 * The loop thread submits tasks; a pool thread runs each in a fresh store with the task's fuel
 * and memory limits and puts it on a done list; one uv_async_t wake-up hands the loop every
 * task finished since the last one (coalesced, so thousands of tiny shards cost few wake-ups).
 * Tasks beyond the running slots wait in a FIFO. Cancelling drops queued tasks and interrupts
 * running ones (wasm_store_interrupt); both come back as EXEC_CANCELLED. */
#ifndef SWARM_MESH_EXEC_H
#define SWARM_MESH_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "mesh.h"
#include "wasm.h"

typedef enum {
    EXEC_VALUE,     /* the function returned value */
    EXEC_TRAP,      /* the module's fault (trap, link, limit, no such export): error says */
    EXEC_FAILED,    /* ours (no memory): error says */
    EXEC_CANCELLED, /* dropped or interrupted by exec_cancel or exec_close */
} exec_kind;

/* One shard. The submitter fills the inputs and owns the task again when on_done hands it
 * back; the module must stay alive until then. */
typedef struct exec_task {
    /* inputs */
    const wasm_module *module;
    char entry[MESH_ENTRY_MAX];
    bool abi64;
    int64_t start, end;
    uint64_t fuel;      /* 0 = unlimited */
    uint32_t max_pages; /* 0 = engine default */
    uint64_t group;     /* what exec_cancel matches: the submitter's session, */
    mesh_job_id job;    /* the job */
    uint32_t shard;     /* and the shard */
    void *user;
    /* outputs, valid in on_done */
    exec_kind kind;
    int64_t value; /* EXEC_VALUE; an i32 result sign-extended */
    char error[256];
    uint64_t fuel_used, elapsed_us;
    /* the executor's */
    struct exec_task *next;
    wasm_store *store; /* while running, under the lock */
    bool cancel;       /* asked to stop, under the lock */
} exec_task;

typedef struct exec exec;

/* Called on the loop thread with the tasks finished since the last call, linked by next in the
 * order they finished; the callee owns them. */
typedef void (*exec_done_cb)(void *user, exec_task *done);

/* Starts nthreads (>= 1) threads. Returns 0 or -1 with a message. */
int exec_new(uv_loop_t *loop, unsigned nthreads, exec_done_cb on_done, void *user, exec **out,
             char *err, size_t errlen);

/* Queues a task (loop thread). */
void exec_submit(exec *e, exec_task *t);

/* Cancels the tasks of group (of job, unless job is NULL; of that shard, when has_shard):
 * queued ones come back at once (next wake-up), running ones are interrupted. Returns how
 * many were matched. Any thread. */
size_t exec_cancel(exec *e, uint64_t group, const mesh_job_id *job, bool has_shard, uint32_t shard);

/* Tasks running and queued (approximate from another thread). */
unsigned exec_running(exec *e);
unsigned exec_queued(exec *e);

/* Cancels everything, joins the threads, hands the last tasks to on_done, then closes the
 * async handle and frees e; closed(user) runs from the handle's close callback. */
void exec_close(exec *e, void (*closed)(void *user), void *user);

/* Runs one task on the calling thread (what a pool thread does; the tests compare with it). */
void exec_run(exec_task *t);

#endif
