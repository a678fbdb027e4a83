/* health.h - the gateway's health registry of workers (internal to src/mesh).
 *
 * Pure logic over a millisecond clock the caller passes in (no I/O, no timers), so the rules
 * are tested with a fake clock. A node is a worker peer id; it stays in the registry while
 * connected and for HEALTH_GONE_KEEP_MS after it left, so that a worker which reconnects
 * keeps its strikes and its quarantine (reconnecting is no way out of a quarantine). Node ids
 * are never reused: a lease remembers its holder by id, and a purged node that comes back is a
 * stranger to the leases of its previous life. */
#ifndef SWARM_MESH_HEALTH_H
#define SWARM_MESH_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh.h"

#define HEALTH_DECAY_RESULTS     8      /* good results that take one strike away */
#define HEALTH_GONE_KEEP_MS      600000 /* a gone node is listed this long */
#define HEALTH_MAX_BACKOFF_SHIFT 10     /* a quarantine grows to at most 1024 x the first */
#define HEALTH_RATE_WINDOW       60     /* seconds of throughput history */

typedef struct hl_node {
    uint32_t id; /* unique for the registry's life, never 0 */
    p2p_peer_id peer;
    char label[64], agent[64];
    bool connected;
    uint32_t slots, cores;
    uint32_t leased;        /* live leases it holds (kept by the scheduler) */
    unsigned strikes, good; /* good: results since the last strike came off */
    uint32_t quarantines;
    uint64_t quarantine_until; /* 0 = not quarantined */
    uint64_t shards_done, fuel_used;
    uint64_t last_seen, gone_at;
    int battery, charging; /* from heartbeats; -1 unknown */
    uint32_t free_slots, load_permille;
    uint32_t rate[HEALTH_RATE_WINDOW]; /* results per second, ring indexed by second */
    uint64_t rate_sec;                 /* the second rate[rate_sec % WINDOW] stands for */
    void *conn;                        /* the gateway's task stream state; NULL when none */
} hl_node;

/* Called when a node joins, leaves, is quarantined or released. */
typedef void (*health_changed_cb)(void *user, hl_node *n);

typedef struct {
    hl_node **v; /* owned, with the nodes */
    size_t n, cap;
    uint32_t next_id;
    unsigned strike_limit;
    uint64_t quarantine_ms;
    uint64_t strikes_total, quarantines_total;
    health_changed_cb changed;
    void *user;
} health;

/* An empty registry with the given rules (strike_limit >= 1, quarantine_ms >= 1). */
void health_init(health *h, unsigned strike_limit, uint64_t quarantine_ms, health_changed_cb cb,
                 void *user);

/* Frees every node. */
void health_free(health *h);

/* The node of peer, or NULL. */
hl_node *health_find(const health *h, const p2p_peer_id *peer);

/* The node with id, or NULL (purged or never). */
hl_node *health_by_id(const health *h, uint32_t id);

/* The node of peer, created if new; marks it connected with hello's numbers. NULL on OOM. */
hl_node *health_connect(health *h, const p2p_peer_id *peer, uint32_t slots, uint32_t cores,
                        const char *label, const char *agent, uint64_t now);

/* The node's connection is gone (its leases are the scheduler's business). */
void health_disconnect(health *h, hl_node *n, uint64_t now);

/* One strike; returns true if this strike quarantined the node. Strikes against a node in
 * quarantine are not counted (it is already out). */
bool health_strike(health *h, hl_node *n, uint64_t now);

/* A good result: throughput, and every HEALTH_DECAY_RESULTS of them a strike comes off. */
void health_success(health *h, hl_node *n, uint64_t fuel, uint64_t now);

/* True if the node may get leases now. */
bool health_usable(const hl_node *n, uint64_t now);

/* Releases the quarantines that are over (strikes zeroed) and forgets nodes gone for longer
 * than HEALTH_GONE_KEEP_MS. Returns how many nodes were released. */
size_t health_tick(health *h, uint64_t now);

/* The next time health_tick has something to do, or UINT64_MAX. */
uint64_t health_next_wakeup(const health *h);

/* The node as the API shows it. */
void health_info(const hl_node *n, uint64_t now, mesh_node_info *out);

#endif
