/* demo.h - the state `swarm demo` shares between its files: cmd_demo.c (options, the job, the
 * check, the end), demo_mesh.c (bringing a gateway and the workers up and watching them). */
#ifndef SWARM_CLI_DEMO_H
#define SWARM_CLI_DEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "demo_procs.h"
#include "job_client.h"
#include "wasm.h"

#define DEMO_MAX_WORKERS 64

/* examples/collatz.wasm, embedded at build time (cmake/embed.cmake) */
extern const unsigned char demo_module_wasm[];
extern const size_t demo_module_wasm_len;

/* A worker as the gateway lists it. */
typedef struct {
    char peer[64];
    char label[64]; /* "" when the gateway shows none */
} demo_node;

typedef struct {
    /* options */
    unsigned workers;
    const char *module_path; /* NULL: the embedded example */
    int64_t lo, hi;
    uint64_t shards; /* 0: four per worker slot */
    const char *http;
    bool http_default; /* not given: fall back to a free port when 3000 is taken */
    const char *data_dir;
    bool once;
    uint64_t check_ms; /* the in-process check's budget for the whole range */

    /* the module, loaded and checked before anything starts */
    const uint8_t *wasm; /* the embedded bytes or the file's (owned by cmd_demo) */
    size_t wasm_len;
    wasm_module *module;
    const char *entry; /* the function the job calls (owned by module) */
    bool abi64;

    /* the loop, its signals and the children */
    uv_loop_t loop;
    uv_signal_t sigint, sigterm, sighup;
    int signal;      /* the first SIGINT/SIGTERM/SIGHUP seen, 0 before */
    bool child_lost; /* a child exited unasked (reported once) */
    dp_set procs;

    char dir[4096];   /* the demo's data folder */
    bool temp_dir;    /* made by us: removed at exit */
    char gw_peer[64]; /* the gateway's peer id */
    char gw_addr[600];
    char url[300]; /* the gateway's HTTP base URL, "http://127.0.0.1:3000" */
    jc_client client;
    demo_node nodes[DEMO_MAX_WORKERS];
    size_t nnodes;
    unsigned slots; /* the workers' slots, summed */
} demo;

/* Starts the gateway child and waits (with a deadline) until it prints its peer id, its worker
 * address and its dashboard URL. Returns 0, or -1 after printing why. */
int demo_start_gateway(demo *d);

/* Starts the worker children and waits (with a deadline) until the gateway lists every one of
 * them as healthy, printing each as it joins. Returns 0, or -1 after printing why. */
int demo_start_workers(demo *d);

/* True once a signal asked the demo to stop; also says so on stderr the first time a child
 * exits unasked, and then is true as well. */
bool demo_should_stop(demo *d);

/* Prints which child exited and the end of its log. */
void demo_report_child(const demo *d, const dp_child *k);

/* The label of a worker's peer id, or NULL (for jc_style). */
const char *demo_label(void *d, const char *peer);

#endif
