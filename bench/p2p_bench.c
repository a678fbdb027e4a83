/* p2p_bench.c - throughput of an encrypted libp2p stream between two Swarm hosts over loopback,
 * next to libsodium's raw ChaCha20-Poly1305 rate measured in the same run, and the memory an
 * idle connection costs.
 *
 * Two processes (fork), one host each, so sender and receiver each have a core as in real use:
 *   sink    listens, serves /swarm-bench/sink/1.0.0 (counts bytes; on EOF answers the count as
 *           8 bytes big-endian) and reports its resident memory on request;
 *   source  dials the sink, opens a stream, writes --mb MiB as fast as back-pressure allows,
 *           half-closes, and times until the count comes back (all bytes delivered).
 * Idle memory: the source process starts --conns hosts, each dialing the sink once (a host
 * keeps one connection per peer); the sink's RSS growth divided by --conns is the memory of an
 * idle (upgraded, identified) connection on the listening side.
 *
 * Prints a markdown table of medians over --runs runs. Never part of the test suite. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "p2p.h"

#define SINK_PROTO "/swarm-bench/sink/1.0.0"
#define MEM_PROTO  "/swarm-bench/mem/1.0.0"

static double now_s(void)
{
    return (double)uv_hrtime() / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Resident set size of this process in bytes (Linux /proc; 0 elsewhere). */
static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &res) != 2)
        res = 0;
    fclose(f);
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* ---- raw AEAD baseline -------------------------------------------------------------------- */

/* MB/s of encrypting 65519-byte records (one Noise frame's worth), single core, ~secs long. */
static double aead_rate(double secs)
{
    static uint8_t pt[65519], ct[65519 + 16];
    uint8_t key[32], nonce[12] = {0};
    randombytes_buf(key, sizeof key);
    randombytes_buf(pt, sizeof pt);
    uint64_t bytes = 0, n = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 16; i++) {
            memcpy(nonce + 4, &n, 8);
            n++;
            unsigned long long clen;
            crypto_aead_chacha20poly1305_ietf_encrypt(ct, &clen, pt, sizeof pt, NULL, 0, NULL,
                                                      nonce, key);
            bytes += sizeof pt;
        }
        t = now_s() - t0;
    } while (t < secs);
    return (double)bytes / t / 1e6;
}

/* ---- the sink process --------------------------------------------------------------------- */

typedef struct {
    uint64_t count;
} sink_stream;

static void sink_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    (void)s;
    (void)p;
    ((sink_stream *)user)->count += n;
}

static void sink_eof(p2p_stream *s, void *user)
{
    uint8_t be[8];
    uint64_t c = ((sink_stream *)user)->count;
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(c >> (56 - 8 * i));
    p2p_stream_write(s, be, sizeof be);
    p2p_stream_close_write(s);
}

static void sink_close(p2p_stream *s, const char *reason, void *user)
{
    (void)s;
    (void)reason;
    free(user);
}

static void sink_handler(p2p_stream *s, void *user)
{
    (void)user;
    sink_stream *ss = calloc(1, sizeof *ss);
    if (!ss) {
        p2p_stream_reset(s);
        return;
    }
    p2p_stream_cbs cbs = {.on_data = sink_data, .on_eof = sink_eof, .on_close = sink_close};
    p2p_stream_set_cbs(s, &cbs, ss);
}

/* The mem protocol: any byte in asks for our RSS (8 bytes big-endian back). */
static void mem_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    (void)p;
    (void)n;
    (void)user;
    uint64_t r = rss_bytes();
    uint8_t be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(r >> (56 - 8 * i));
    p2p_stream_write(s, be, sizeof be);
}

static void mem_handler(p2p_stream *s, void *user)
{
    (void)user;
    p2p_stream_cbs cbs = {.on_data = mem_data};
    p2p_stream_set_cbs(s, &cbs, NULL);
}

typedef struct {
    int fd; /* where to write our listen address, then close */
} sink_ctx;

static void sink_event(p2p_host *h, const p2p_event *ev, void *user)
{
    sink_ctx *c = user;
    if (ev->type == P2P_EV_LISTENING && c->fd >= 0) {
        p2p_maddr ma = *ev->addr;
        char text[P2P_MADDR_MAX * 3];
        p2p_maddr_add_peer(&ma, p2p_host_id(h), NULL, 0);
        p2p_maddr_cstr(&ma, text, sizeof text);
        size_t len = strlen(text) + 1;
        if (write(c->fd, text, len) != (ssize_t)len)
            _exit(1);
        close(c->fd);
        c->fd = -1;
    }
}

static int run_sink(int fd, uint32_t max_conns)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[256];
    p2p_key key;
    if (p2p_key_generate(&key, err, sizeof err) < 0)
        return 1;
    p2p_host_config cfg;
    p2p_host_config_default(&cfg);
    cfg.key = &key;
    cfg.max_conns = max_conns;
    /* every dialer is on 127.0.0.1 and all dial at once: lift the resource manager's limits
     * that would otherwise stop one address at 64 connections, 16 of them handshaking, and
     * make the newest of more than 64 handshakes in all give way */
    cfg.max_conns_per_ip = max_conns;
    cfg.max_pending_per_ip = max_conns;
    cfg.max_pending_inbound = max_conns;
    cfg.idle_timeout_ms = 0;
    sink_ctx ctx = {fd};
    p2p_host *h;
    if (p2p_host_new(&loop, &cfg, sink_event, &ctx, &h, err, sizeof err) < 0 ||
        p2p_host_handle(h, SINK_PROTO, sink_handler, NULL, err, sizeof err) < 0 ||
        p2p_host_handle(h, MEM_PROTO, mem_handler, NULL, err, sizeof err) < 0 ||
        p2p_host_listen(h, "/ip4/127.0.0.1/tcp/0", err, sizeof err) < 0) {
        fprintf(stderr, "sink: %s\n", err);
        return 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT); /* until killed */
    return 0;
}

/* ---- the source process ------------------------------------------------------------------- */

typedef struct {
    uv_loop_t *loop;
    p2p_host *h;
    const char *addr;
    p2p_peer_id sink;
    uint64_t total, sent;
    double t0, elapsed;
    uint64_t echoed;
    uint8_t reply[8];
    size_t nreply;
    bool done, failed;
    uint8_t chunk[65536];
    uint64_t rss; /* mem protocol answer */
} source;

static void src_pump(p2p_stream *s, source *c)
{
    while (c->sent < c->total) {
        size_t want = sizeof c->chunk;
        if (c->total - c->sent < want)
            want = (size_t)(c->total - c->sent);
        ssize_t n = p2p_stream_write(s, c->chunk, want);
        if (n < 0) {
            c->failed = c->done = true;
            uv_stop(c->loop);
            return;
        }
        c->sent += (uint64_t)n;
        if ((size_t)n < want)
            return; /* on_writable resumes */
    }
    p2p_stream_close_write(s);
}

static void src_writable(p2p_stream *s, void *user)
{
    src_pump(s, user);
}

static void src_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    (void)s;
    source *c = user;
    while (n-- && c->nreply < 8)
        c->reply[c->nreply++] = *p++;
    if (c->nreply == 8) {
        for (int i = 0; i < 8; i++)
            c->echoed = c->echoed << 8 | c->reply[i];
        c->elapsed = now_s() - c->t0;
        c->done = true;
        uv_stop(c->loop);
    }
}

static void src_close(p2p_stream *s, const char *reason, void *user)
{
    (void)s;
    source *c = user;
    if (!c->done) {
        fprintf(stderr, "source: stream closed early: %s\n", reason ? reason : "eof");
        c->failed = c->done = true;
        uv_stop(c->loop);
    }
}

static void src_opened(p2p_stream *s, const char *err, void *user)
{
    source *c = user;
    if (!s) {
        fprintf(stderr, "source: open: %s\n", err);
        c->failed = c->done = true;
        uv_stop(c->loop);
        return;
    }
    p2p_stream_cbs cbs = {.on_data = src_data, .on_writable = src_writable, .on_close = src_close};
    p2p_stream_set_cbs(s, &cbs, c);
    c->t0 = now_s();
    src_pump(s, c);
}

static void src_dialed(p2p_host *h, int status, const p2p_peer_id *peer, const char *err,
                       void *user)
{
    source *c = user;
    if (status < 0) {
        fprintf(stderr, "source: dial: %s\n", err);
        c->failed = c->done = true;
        uv_stop(c->loop);
        return;
    }
    c->sink = *peer;
    char e[256];
    if (p2p_host_open_stream(h, peer, SINK_PROTO, src_opened, c, e, sizeof e) < 0) {
        fprintf(stderr, "source: %s\n", e);
        c->failed = c->done = true;
        uv_stop(c->loop);
    }
}

static p2p_host *new_host(uv_loop_t *loop, p2p_key *key)
{
    char err[256];
    p2p_host_config cfg;
    p2p_host_config_default(&cfg);
    if (p2p_key_generate(key, err, sizeof err) < 0)
        return NULL;
    cfg.key = key;
    cfg.idle_timeout_ms = 0;
    p2p_host *h;
    if (p2p_host_new(loop, &cfg, NULL, NULL, &h, err, sizeof err) < 0) {
        fprintf(stderr, "host: %s\n", err);
        return NULL;
    }
    return h;
}

/* One throughput run: MB/s of payload, or -1. */
static double throughput_run(const char *addr, uint64_t bytes)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    p2p_key key;
    source *c = calloc(1, sizeof *c);
    c->loop = &loop;
    c->total = bytes;
    c->addr = addr;
    randombytes_buf(c->chunk, sizeof c->chunk);
    c->h = new_host(&loop, &key);
    char err[256];
    double rate = -1;
    if (c->h && p2p_host_dial(c->h, addr, src_dialed, c, err, sizeof err) == 0) {
        uv_run(&loop, UV_RUN_DEFAULT);
        if (!c->failed && c->echoed == bytes)
            rate = (double)bytes / c->elapsed / 1e6;
        else if (!c->failed)
            fprintf(stderr, "source: sink counted %" PRIu64 " of %" PRIu64 " bytes\n", c->echoed,
                    bytes);
    }
    if (c->h)
        p2p_host_close(c->h, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(c);
    return rate;
}

/* ---- idle memory -------------------------------------------------------------------------- */

typedef struct {
    uv_loop_t *loop;
    int pending;
    int failed;
} dial_count;

static void count_dialed(p2p_host *h, int status, const p2p_peer_id *peer, const char *err,
                         void *user)
{
    (void)h;
    (void)peer;
    dial_count *d = user;
    if (status < 0) {
        fprintf(stderr, "dial: %s\n", err);
        d->failed++;
    }
    if (--d->pending == 0)
        uv_stop(d->loop);
}

static void mem_reply(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    (void)s;
    source *c = user;
    while (n-- && c->nreply < 8)
        c->reply[c->nreply++] = *p++;
    if (c->nreply == 8) {
        c->rss = 0;
        for (int i = 0; i < 8; i++)
            c->rss = c->rss << 8 | c->reply[i];
        c->done = true;
        uv_stop(c->loop);
    }
}

static void mem_opened(p2p_stream *s, const char *err, void *user)
{
    source *c = user;
    if (!s) {
        fprintf(stderr, "mem: %s\n", err);
        c->failed = c->done = true;
        uv_stop(c->loop);
        return;
    }
    p2p_stream_cbs cbs = {.on_data = mem_reply};
    p2p_stream_set_cbs(s, &cbs, c);
    p2p_stream_write(s, "?", 1);
}

/* Asks the sink for its RSS through host h (already connected to it). */
static uint64_t sink_rss(uv_loop_t *loop, p2p_host *h, const p2p_peer_id *sink)
{
    source c = {.loop = loop};
    char err[256];
    if (p2p_host_open_stream(h, sink, MEM_PROTO, mem_opened, &c, err, sizeof err) < 0)
        return 0;
    uv_run(loop, UV_RUN_DEFAULT);
    return c.failed ? 0 : c.rss;
}

static void settle_done(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* Bytes of sink RSS per idle connection, measured with n extra connections (one host each). */
static double idle_run(const char *addr, int n)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    p2p_key *keys = calloc((size_t)n + 1, sizeof *keys);
    p2p_host **hosts = calloc((size_t)n + 1, sizeof *hosts);
    char err[256];
    double per = -1;
    p2p_peer_id sink = {0};
    dial_count d = {&loop, 1, 0};
    hosts[0] = new_host(&loop, &keys[0]);
    if (!hosts[0] || p2p_host_dial(hosts[0], addr, count_dialed, &d, err, sizeof err) < 0)
        goto out;
    uv_run(&loop, UV_RUN_DEFAULT);
    if (d.failed || p2p_host_peers(hosts[0], &sink, 1) != 1)
        goto out;
    /* let identify settle before the first reading */
    uint64_t before = sink_rss(&loop, hosts[0], &sink);
    d = (dial_count){&loop, n, 0};
    for (int i = 1; i <= n; i++) {
        hosts[i] = new_host(&loop, &keys[i]);
        if (!hosts[i] || p2p_host_dial(hosts[i], addr, count_dialed, &d, err, sizeof err) < 0) {
            d.failed++;
            d.pending--;
        }
    }
    if (d.pending > 0)
        uv_run(&loop, UV_RUN_DEFAULT);
    /* a moment for identify on every connection */
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, settle_done, 500, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uint64_t after = sink_rss(&loop, hosts[0], &sink);
    if (!d.failed && before && after)
        per = ((double)after - (double)before) / n;
out:
    for (int i = 0; i <= n; i++)
        if (hosts[i])
            p2p_host_close(hosts[i], NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(hosts);
    free(keys);
    return per;
}

/* ---- main --------------------------------------------------------------------------------- */

static pid_t start_sink(uint32_t max_conns, char *addr, size_t cap)
{
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        _exit(run_sink(fds[1], max_conns));
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    while (got < cap - 1 && (r = read(fds[0], addr + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    addr[got] = 0;
    close(fds[0]);
    return got ? pid : -1;
}

static void stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
    int runs = 5, conns = 200;
    uint64_t mb = 512;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mb") && i + 1 < argc)
            mb = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--conns") && i + 1 < argc)
            conns = atoi(argv[++i]);
        else {
            printf("usage: bench_p2p [--runs N (5)] [--mb MIB (512)] [--conns N (200)]\n"
                   "Encrypted stream throughput between two Swarm hosts over loopback, against\n"
                   "libsodium's ChaCha20-Poly1305 rate in the same run; memory per idle "
                   "connection.\n");
            return !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") ? 0 : 2;
        }
    }
    if (runs < 1 || runs > 100 || mb < 1 || conns < 1 || conns > 2000) {
        fprintf(stderr, "bench_p2p: --runs 1..100, --mb >= 1, --conns 1..2000\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);

    double *aead = calloc((size_t)runs, sizeof(double));
    double *tput = calloc((size_t)runs, sizeof(double));
    double *idle = calloc((size_t)runs, sizeof(double));
    for (int r = 0; r < runs; r++) {
        char addr[P2P_MADDR_MAX * 3];
        fprintf(stderr, "run %d/%d: aead", r + 1, runs);
        aead[r] = aead_rate(1.0);
        fprintf(stderr, " %.0f MB/s, stream", aead[r]);
        pid_t pid = start_sink(256, addr, sizeof addr);
        if (pid < 0) {
            fprintf(stderr, "\nbench_p2p: the sink did not start\n");
            return 1;
        }
        tput[r] = throughput_run(addr, mb << 20);
        stop(pid);
        fprintf(stderr, " %.0f MB/s, idle", tput[r]);
        pid = start_sink((uint32_t)conns + 16, addr, sizeof addr);
        if (pid < 0)
            return 1;
        idle[r] = idle_run(addr, conns);
        stop(pid);
        fprintf(stderr, " %.0f B/conn\n", idle[r]);
        if (tput[r] < 0 || idle[r] < 0) {
            fprintf(stderr, "bench_p2p: run %d failed\n", r + 1);
            return 1;
        }
    }
    double a = median(aead, runs), t = median(tput, runs), m = median(idle, runs);
    printf("| measure | median of %d | note |\n| --- | ---: | --- |\n", runs);
    printf("| libsodium ChaCha20-Poly1305 encrypt, 64 KiB records, 1 core | %.0f MB/s | "
           "baseline |\n",
           a);
    printf("| Swarm stream over loopback (Noise + Yamux, %" PRIu64 " MiB) | %.0f MB/s | "
           "%.0f%% of the baseline |\n",
           mb, t, 100 * t / a);
    printf("| sink RSS per idle connection (%d connections) | %.1f KiB | |\n", conns, m / 1024);
    free(aead);
    free(tput);
    free(idle);
    return 0;
}
