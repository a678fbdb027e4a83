/* pubsub_bench.c - gossipsub in a 20-node loopback mesh, all nodes on one loop in this process
 * (one core does all the work of all the nodes, so absolute rates are those of the whole mesh
 * on one core). Node i dials i+1, i+2 and i+3 (mod N): six peers each, most pairs two or three
 * hops apart. For each payload size (1 KiB and 64 KiB):
 *   latency     one message at a time from a random node, the next once every node has it:
 *               time from publish to each delivery, p50 and p99 over all deliveries;
 *   throughput  --burst messages published back to back from random nodes, timed until every
 *               node has every message: messages per second (each delivered to N-1 nodes);
 *   duplicates  copies received beyond the first per delivery, and copies sent per delivery.
 * Baseline in the same run: the same payloads sent by one host over one direct stream to each
 * of N-1 hosts it is connected to (a star, one hop, no pubsub): latency to each receiver and
 * messages per second. Medians over --runs runs of everything. Never part of the test suite. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "pubsub_net.h"

#define DIRECT_PROTO "/swarm-bench/direct/1.0.0"
#define NMAX         64

static uv_timer_t tick;

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static double median(double *v, size_t n)
{
    return pct(v, n, 0.5);
}

typedef struct {
    double p50, p99, rate, dup, sent;
} result;

static size_t total_msgs(pn_node *nodes, int n)
{
    size_t k = 0;
    for (int i = 0; i < n; i++)
        k += nodes[i].nmsgs;
    return k;
}

/* ---- gossipsub ------------------------------------------------------------------------------ */

static int mesh_run(int n, size_t size, int lat_msgs, int burst, result *out)
{
    pn_node *nodes = calloc((size_t)n, sizeof *nodes);
    uint8_t *payload = malloc(size);
    randombytes_buf(payload, size);
    for (int i = 0; i < n; i++) {
        if (pn_start(&nodes[i], NULL, NULL) != 0 || pn_subscribe(&nodes[i], "bench") != 0)
            return -1;
        nodes[i].keep_data = false;
    }
    for (int i = 0; i < n; i++)
        for (int d = 1; d <= 3; d++)
            if (!pn_connect(&nodes[i], &nodes[(i + d) % n]))
                return -1;
    pn_spin(3000); /* meshes form */

    double *lat = malloc((size_t)lat_msgs * (size_t)(n - 1) * sizeof *lat);
    size_t nlat = 0;
    for (int m = 0; m < lat_msgs; m++) {
        int src = (int)randombytes_uniform((uint32_t)n);
        size_t before = total_msgs(nodes, n);
        uint64_t t0 = uv_hrtime();
        pn_publish(&nodes[src], "bench", payload, size, NULL);
        PN_WAIT_FOR(total_msgs(nodes, n) == before + (size_t)(n - 1), 5000);
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < nodes[i].nmsgs; k++)
                if (nodes[i].msgs[k].at_ns >= t0 && nlat < (size_t)lat_msgs * (size_t)(n - 1))
                    lat[nlat++] = (double)(nodes[i].msgs[k].at_ns - t0) / 1e6;
        for (int i = 0; i < n; i++)
            pn_forget_msgs(&nodes[i]);
    }
    out->p50 = pct(lat, nlat, 0.5);
    out->p99 = pct(lat, nlat, 0.99);
    free(lat);

    p2p_pubsub_stats st0[NMAX];
    for (int i = 0; i < n; i++)
        p2p_pubsub_get_stats(nodes[i].ps, &st0[i]);
    uint64_t t0 = uv_hrtime();
    for (int m = 0; m < burst; m++) {
        pn_publish(&nodes[randombytes_uniform((uint32_t)n)], "bench", payload, size, NULL);
        if (m % 8 == 7)
            uv_run(pn_loop, UV_RUN_NOWAIT); /* let the sockets breathe */
    }
    size_t want = (size_t)burst * (size_t)(n - 1);
    PN_WAIT_FOR(total_msgs(nodes, n) >= want, 60000);
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    size_t got = total_msgs(nodes, n);
    out->rate = (double)got / (double)(n - 1) / secs;
    uint64_t dups = 0, sent = 0;
    for (int i = 0; i < n; i++) {
        p2p_pubsub_stats st;
        p2p_pubsub_get_stats(nodes[i].ps, &st);
        dups += st.duplicates - st0[i].duplicates;
        sent += st.forwarded - st0[i].forwarded + st.iwant_served - st0[i].iwant_served;
    }
    out->dup = got ? (double)dups / (double)got : 0;
    out->sent = got ? (double)sent / (double)got : 0;
    if (got < want)
        fprintf(stderr, "pubsub_bench: only %zu of %zu deliveries arrived\n", got, want);
    for (int i = 0; i < n; i++)
        pn_stop(&nodes[i]);
    free(nodes);
    free(payload);
    return 0;
}

/* ---- baseline: direct streams --------------------------------------------------------------- */

typedef struct {
    size_t size, got, msgs;
    double *lat;
    size_t nlat, cap;
    uint64_t *sent_at; /* per message index, set by the sender */
} sink;

static void sink_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    sink *k = user;
    (void)s;
    (void)p;
    k->got += n;
    while (k->got >= k->size) {
        k->got -= k->size;
        if (k->nlat < k->cap)
            k->lat[k->nlat++] = (double)(uv_hrtime() - k->sent_at[k->msgs]) / 1e6;
        k->msgs++;
    }
}

static void sink_handler(p2p_stream *s, void *user)
{
    static const p2p_stream_cbs cbs = {.on_data = sink_data};
    p2p_stream_set_cbs(s, &cbs, user);
}

static void opened(p2p_stream *s, const char *err, void *user)
{
    (void)err;
    *(p2p_stream **)user = s;
}

static int direct_run(int n, size_t size, int lat_msgs, int burst, result *out)
{
    pn_node *nodes = calloc((size_t)n, sizeof *nodes);
    sink *sinks = calloc((size_t)n, sizeof *sinks);
    p2p_stream **st = calloc((size_t)n, sizeof *st);
    int total = lat_msgs + burst;
    uint64_t *sent_at = calloc((size_t)total, sizeof *sent_at);
    uint8_t *payload = malloc(size);
    randombytes_buf(payload, size);
    char err[256];
    for (int i = 0; i < n; i++) {
        p2p_pubsub_config c;
        p2p_pubsub_config_default(&c);
        if (pn_start(&nodes[i], NULL, &c) != 0)
            return -1;
        sinks[i].size = size;
        sinks[i].sent_at = sent_at;
        sinks[i].cap = (size_t)total;
        sinks[i].lat = calloc((size_t)total, sizeof(double));
        p2p_host_handle(nodes[i].h, DIRECT_PROTO, sink_handler, &sinks[i], err, sizeof err);
    }
    for (int i = 1; i < n; i++) {
        if (!pn_connect(&nodes[0], &nodes[i]))
            return -1;
        p2p_host_open_stream(nodes[0].h, p2p_host_id(nodes[i].h), DIRECT_PROTO, opened, &st[i], err,
                             sizeof err);
    }
    for (int i = 1; i < n; i++)
        PN_WAIT_FOR(st[i] != NULL, 3000);
    /* send message m to every sink: write all of it, running the loop while streams are full */
    int m = 0;
    size_t *off = calloc((size_t)n, sizeof *off);
    uint64_t tb = 0;
    for (; m < total; m++) {
        if (m == lat_msgs)
            tb = uv_hrtime();
        sent_at[m] = uv_hrtime();
        for (int i = 1; i < n; i++)
            off[i] = 0;
        bool left = true;
        uint64_t deadline = uv_now(pn_loop) + 10000;
        while (left && uv_now(pn_loop) < deadline) {
            left = false;
            for (int i = 1; i < n; i++) {
                if (off[i] < size && st[i]) {
                    ssize_t w = p2p_stream_write(st[i], payload + off[i], size - off[i]);
                    if (w > 0)
                        off[i] += (size_t)w;
                }
                left |= off[i] < size;
            }
            if (left)
                uv_run(pn_loop, UV_RUN_ONCE);
        }
        if (m < lat_msgs) { /* latency: one at a time */
            bool all = false;
            PN_WAIT_FOR((all = true, ({
                             for (int i = 1; i < n; i++)
                                 all &= sinks[i].msgs == (size_t)m + 1;
                         }),
                         all),
                        5000);
        }
    }
    bool all = false;
    PN_WAIT_FOR((all = true, ({
                     for (int i = 1; i < n; i++)
                         all &= sinks[i].msgs == (size_t)total;
                 }),
                 all),
                60000);
    double secs = (double)(uv_hrtime() - tb) / 1e9;
    double *lat = malloc((size_t)lat_msgs * (size_t)n * sizeof *lat);
    size_t nl = 0;
    for (int i = 1; i < n; i++)
        for (size_t k = 0; k < (size_t)lat_msgs && k < sinks[i].nlat; k++)
            lat[nl++] = sinks[i].lat[k];
    out->p50 = pct(lat, nl, 0.5);
    out->p99 = pct(lat, nl, 0.99);
    out->rate = (double)burst / secs;
    out->dup = 0;
    out->sent = 1;
    free(lat);
    free(off);
    for (int i = 0; i < n; i++) {
        pn_stop(&nodes[i]);
        free(sinks[i].lat);
    }
    free(nodes);
    free(sinks);
    free(st);
    free(sent_at);
    free(payload);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_pubsub [--runs N] [--nodes N] [--msgs N] [--burst N]\n"
                    "  --runs N   runs per configuration, medians reported (default 5)\n"
                    "  --nodes N  nodes in the mesh (default 20, at most 64)\n"
                    "  --msgs N   messages for latency (default 50)\n"
                    "  --burst N  messages for throughput (default 400; 64 KiB: a quarter)\n");
    return 2;
}

int main(int argc, char **argv)
{
    int runs = 5, n = 20, msgs = 50, burst = 400;
    for (int i = 1; i < argc; i++) {
        int *dst = strcmp(argv[i], "--runs") == 0    ? &runs
                   : strcmp(argv[i], "--nodes") == 0 ? &n
                   : strcmp(argv[i], "--msgs") == 0  ? &msgs
                   : strcmp(argv[i], "--burst") == 0 ? &burst
                                                     : NULL;
        if (!dst || i + 1 >= argc || (*dst = atoi(argv[++i])) <= 0)
            return usage();
    }
    if (n < 5 || n > NMAX)
        return usage();
    signal(SIGPIPE, SIG_IGN);
    if (sodium_init() < 0)
        return 1;
    pn_loop = uv_default_loop();
    uv_timer_init(pn_loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    static const size_t sizes[] = {1024, 64 * 1024};
    printf("| payload | path | p50 ms | p99 ms | msgs/s | dup recv/delivery | sent/delivery |\n");
    printf("| --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
    for (size_t si = 0; si < 2; si++) {
        int b = sizes[si] > 4096 ? burst / 4 : burst;
        for (int path = 0; path < 2; path++) {
            double p50[32], p99[32], rate[32], dup[32], sent[32];
            int k = 0;
            for (int r = 0; r < runs && r < 32; r++) {
                result res;
                int rc = path == 0 ? mesh_run(n, sizes[si], msgs, b, &res)
                                   : direct_run(n, sizes[si], msgs, b, &res);
                if (rc != 0) {
                    fprintf(stderr, "pubsub_bench: setup failed\n");
                    return 1;
                }
                p50[k] = res.p50;
                p99[k] = res.p99;
                rate[k] = res.rate;
                dup[k] = res.dup;
                sent[k] = res.sent;
                k++;
                fprintf(stderr, "  %zu B %s run %d: p50 %.3f p99 %.3f ms, %.0f msgs/s\n", sizes[si],
                        path ? "direct" : "gossip", r + 1, res.p50, res.p99, res.rate);
            }
            printf("| %zu KiB | %s | %.3f | %.3f | %.0f | %.2f | %.2f |\n", sizes[si] / 1024,
                   path == 0 ? "gossipsub mesh" : "direct streams (baseline)", median(p50, k),
                   median(p99, k), median(rate, k), median(dup, k), median(sent, k));
            fflush(stdout);
        }
    }
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(pn_loop, UV_RUN_DEFAULT);
    return 0;
}
