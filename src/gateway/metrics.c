/* metrics.c - GET /metrics in the Prometheus text format (version 0.0.4). */
#include <inttypes.h>
#include <stdlib.h>

#include "gw_internal.h"

/* One counter or gauge with its help and type lines. */
static int metric(buf_t *b, const char *name, const char *type, const char *help, uint64_t v)
{
    return buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type,
                      name, v);
}

int gw_metrics(gw *g, buf_t *b)
{
    mesh_gw_stats s;
    mesh_gw_get_stats(g->mesh, &s);
    int rc = 0;
    rc |= buf_puts(b, "# HELP swarm_jobs_total Jobs that ended, by outcome.\n"
                      "# TYPE swarm_jobs_total counter\n");
    const struct {
        const char *outcome;
        uint64_t v;
    } jobs[] = {{"done", s.jobs_done},
                {"partial", s.jobs_partial},
                {"timeout", s.jobs_timeout},
                {"failed", s.jobs_failed},
                {"cancelled", s.jobs_cancelled}};
    for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++)
        rc |= buf_printf(b, "swarm_jobs_total{outcome=\"%s\"} %" PRIu64 "\n", jobs[i].outcome,
                         jobs[i].v);
    rc |= metric(b, "swarm_jobs_started_total", "counter", "Jobs started.", s.jobs_started);
    uint64_t clients, dropped;
    gw_events_counts(g->events, &clients, &dropped);
    rc |= metric(b, "swarm_gateway_event_clients", "gauge", "Clients of /api/v1/events now.",
                 clients);
    rc |= metric(b, "swarm_gateway_event_clients_dropped_total", "counter",
                 "Event clients dropped for leaving too much unread.", dropped);
    rc |= metric(b, "swarm_jobs_running", "gauge", "Jobs running now.", s.jobs_running);
    rc |=
        metric(b, "swarm_shard_results_total", "counter", "Shard results that counted.", s.results);
    rc |= metric(b, "swarm_leases_total", "counter", "Leases made.", s.leases);
    rc |= metric(b, "swarm_lease_expired_total", "counter", "Leases that expired.", s.expired);
    rc |= metric(b, "swarm_retries_total", "counter", "Leases beyond the first of a shard.",
                 s.retries);
    rc |= metric(b, "swarm_duplicates_total", "counter",
                 "Valid results of a shard after the first.", s.duplicates);
    rc |= metric(b, "swarm_dropped_results_total", "counter",
                 "Results dropped: unknown job, wrong attempt, no lease.", s.dropped);
    rc |= metric(b, "swarm_bad_frames_total", "counter",
                 "Frames from workers that broke the protocol.", s.bad_frames);
    rc |= metric(b, "swarm_strikes_total", "counter", "Strikes given to workers.", s.strikes);
    rc |= metric(b, "swarm_quarantines_total", "counter", "Times a worker was quarantined.",
                 s.quarantines);
    rc |= metric(b, "swarm_workers_healthy", "gauge", "Healthy workers.", s.workers_healthy);
    rc |= metric(b, "swarm_slots", "gauge", "Worker slots announced.", s.slots_total);
    rc |= metric(b, "swarm_slots_busy", "gauge", "Worker slots with a lease.", s.slots_busy);
    rc |= metric(b, "swarm_modules_served_total", "counter", "Modules sent to workers.",
                 s.modules_served);
    rc |= metric(b, "swarm_module_bytes_served_total", "counter",
                 "Bytes of modules sent to workers.", s.module_bytes_served);

    mesh_node_info *nodes = malloc(1024 * sizeof *nodes);
    if (!nodes)
        return -1;
    size_t n = mesh_gw_nodes(g->mesh, nodes, 1024);
    n = n > 1024 ? 1024 : n;
    /* each node's id in text once, for the three families below */
    char(*peer)[P2P_PEER_ID_STRLEN] = malloc((n ? n : 1) * sizeof *peer);
    if (!peer) {
        free(nodes);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        p2p_peer_id_str(&nodes[i].peer, peer[i]);
    rc |= buf_puts(b, "# HELP swarm_node_shards_total Shards a worker delivered.\n"
                      "# TYPE swarm_node_shards_total counter\n");
    for (size_t i = 0; i < n; i++)
        rc |= buf_printf(b, "swarm_node_shards_total{peer=\"%s\"} %" PRIu64 "\n", peer[i],
                         nodes[i].shards_done);
    rc |= buf_puts(b, "# HELP swarm_node_shards_per_second A worker's throughput over the last "
                      "minute.\n# TYPE swarm_node_shards_per_second gauge\n");
    for (size_t i = 0; i < n; i++)
        rc |= buf_printf(b, "swarm_node_shards_per_second{peer=\"%s\"} %.3f\n", peer[i],
                         nodes[i].shards_per_s);
    rc |= buf_puts(b, "# HELP swarm_node_strikes A worker's strikes now.\n"
                      "# TYPE swarm_node_strikes gauge\n");
    for (size_t i = 0; i < n; i++)
        rc |= buf_printf(b, "swarm_node_strikes{peer=\"%s\",state=\"%s\"} %u\n", peer[i],
                         mesh_node_state_name(nodes[i].state), nodes[i].strikes);
    free(peer);
    free(nodes);

    gw_store_stats st;
    gw_store_get_stats(g->store, &st);
    rc |= buf_printf(b,
                     "# HELP swarm_store_commit_seconds Time of the job store's transactions.\n"
                     "# TYPE swarm_store_commit_seconds summary\n"
                     "swarm_store_commit_seconds_sum %.6f\nswarm_store_commit_seconds_count "
                     "%" PRIu64 "\n",
                     (double)st.commit_us_sum / 1e6, st.commits);
    rc |= buf_printf(b,
                     "# HELP swarm_store_commit_seconds_max The longest transaction.\n"
                     "# TYPE swarm_store_commit_seconds_max gauge\n"
                     "swarm_store_commit_seconds_max %.6f\n",
                     (double)st.commit_us_max / 1e6);
    rc |= metric(b, "swarm_store_rows_total", "counter", "Shard results written to the store.",
                 st.rows);
    rc |= metric(b, "swarm_store_pending", "gauge", "Shard results queued for the store.",
                 st.pending);
    rc |=
        metric(b, "swarm_store_errors_total", "counter", "Failed writes to the store.", st.errors);
    rc |= buf_puts(b, "# HELP swarm_http_responses_total HTTP answers by status class.\n"
                      "# TYPE swarm_http_responses_total counter\n");
    for (int i = 1; i < 6; i++)
        rc |= buf_printf(b, "swarm_http_responses_total{class=\"%dxx\"} %" PRIu64 "\n", i,
                         g->requests[i]);
    return rc ? -1 : 0;
}
