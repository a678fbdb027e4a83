/* events.h - internal to src/gateway: the live event stream GET /api/v1/events (Server-Sent
 * Events, docs/API.md): hello, job, shards (batched per job), node, and a comment line every
 * GW_EVENTS_KEEPALIVE_MS; a stream whose client left ends within GW_EVENTS_PROBE_MS. At most
 * GW_EVENTS_MAX_CLIENTS clients (503 beyond); a client with more than GW_EVENTS_MAX_QUEUED bytes
 * unread is dropped. Loop thread only. */
#ifndef SWARM_GW_EVENTS_H
#define SWARM_GW_EVENTS_H

#include <stdint.h>

#include "http.h"
#include "mesh.h"

typedef struct gw gw;
typedef struct gw_events gw_events;

#define GW_EVENTS_MAX_CLIENTS  64
#define GW_EVENTS_MAX_QUEUED   (1u << 20)
#define GW_EVENTS_BATCH_MS     100
#define GW_EVENTS_KEEPALIVE_MS 15000
#define GW_EVENTS_PROBE_MS     1000 /* how often streams are checked for clients that left */
/* A job's shard changes waiting for the batch timer; beyond it they go out at once. */
#define GW_EVENTS_BATCH_MAX (1u << 20)

/* Starts the hub's timers on g's loop. */
int gw_events_new(gw *g, gw_events **out, char *err, size_t errlen);

/* Ends every stream, closes the timers, frees e, then runs done(user) on the loop. */
void gw_events_close(gw_events *e, void (*done)(void *user), void *user);

/* Answers GET /api/v1/events: a stream that starts with hello, or 503 when full. */
void gw_events_subscribe(gw_events *e, gw_req *r);

/* A job started (its summary goes out now). */
void gw_events_job_started(gw_events *e, const mesh_job_info *j);

/* A shard changed state (leased: worker is the lessee; done or trapped: info holds the value or
 * error, worker who delivered it). Batched per job. */
void gw_events_shard(gw_events *e, const mesh_job_info *j, uint32_t shard, mesh_shard_state st,
                     const p2p_peer_id *worker, const mesh_shard_info *info);

/* A job ended: its batch goes out with every shard that did not finish as missing (read from
 * the mesh while it holds the job), then its summary. */
void gw_events_job_ended(gw_events *e, const mesh_job_info *j, uint64_t ended_ms);

/* A node joined, left, was quarantined or released: its entry goes out. */
void gw_events_node(gw_events *e, const p2p_peer_id *peer);

/* Clients now and dropped for not reading, for /metrics. */
void gw_events_counts(const gw_events *e, uint64_t *clients, uint64_t *dropped);

#endif
