/* test_p2p_memory.c - a peer cannot pin the host's memory.
 *
 * The attack that found the hole: a peer keeps its TCP receive window small and reads nothing,
 * so the host's output stalls, then pings on 200 streams; each echo that cannot be queued used
 * to pause its stream, and a paused stream kept what the peer sent, up to its 256 KiB window:
 * about 50 MiB per connection. Now the echo's stream is reset, held bytes count against the
 * connection's and the host's memory budgets (the stream that would exceed one is reset), and
 * the host's memory stays within a few MiB of where it was.
 *
 * Memory is measured twice: the process's resident set (the host runs in a thread of this
 * process; skipped under AddressSanitizer, whose quarantine keeps freed memory resident) and
 * the host's own accounting (p2p_host_stats).
 *
 * Run by hand against another process: `test_p2p_memory attack PORT PID [CONNS]` runs the
 * attack against a `swarm node` listening on 127.0.0.1:PORT and prints the VmRSS of PID. */
#include <stdio.h>

#include "check.h"
#include "raw_peer.h"

#if defined(__SANITIZE_ADDRESS__)
#define RSS_CHECKED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_CHECKED 0
#endif
#endif
#ifndef RSS_CHECKED
#define RSS_CHECKED 1
#endif

#define NSTREAMS                  200
#define PING_ROUNDS               600 /* pings per stream to stall the host's output (about 6 MiB of echoes) */
#define WINDOW                    (256 * 1024)
#define YAMUX_WRITE_RESERVE_BYTES (16 * 1024) /* yamux.h's YAMUX_WRITE_RESERVE */

/* ---- the attack ---------------------------------------------------------------------------- */

/* Opens NSTREAMS ping streams on r, pings on each until the host's output must have stalled
 * (we read nothing), then sends every stream what is left of its window. Returns -1 if the
 * host closed the connection. The rounds are paced so that each read of the host sees about
 * one ping per stream, as from an honest peer with many streams: the old handler reset a
 * stream whose pings it got in a burst (more than 256 bytes ahead of the echoes), so only a
 * paced attack made it pause every stream. */
static int ping_attack(rp_raw *r)
{
    static uint32_t sent[NSTREAMS];
    uint8_t m[128];
    size_t hn = rp_mss_open(P2P_PROTO_PING, m);
    for (int i = 0; i < NSTREAMS; i++) {
        if (rp_ysend(r, RP_Y_SYN, 1 + 2 * (uint32_t)i, m, hn) < 0)
            return -1;
        sent[i] = (uint32_t)hn;
    }
    /* one round: a 32-byte ping on every stream, in one write */
    static uint8_t round[NSTREAMS * 44];
    for (int k = 0; k < PING_ROUNDS; k++) {
        for (int i = 0; i < NSTREAMS; i++) {
            uint8_t *f = round + 44 * i;
            rp_yhdr(f, RP_Y_DATA, 0, 1 + 2 * (uint32_t)i, 32);
            memset(f + 12, (uint8_t)k, 32);
            sent[i] += 32;
        }
        if (rp_write(r, round, sizeof round) < 0)
            return -1;
        usleep(2000); /* one round per read of the host: each stream one ping ahead */
    }
    /* the rest of every window: held by a paused stream, dropped by a reset one */
    static uint8_t fill[64 * 1024];
    for (int i = 0; i < NSTREAMS; i++) {
        while (sent[i] < WINDOW) {
            uint32_t n = WINDOW - sent[i] < sizeof fill ? WINDOW - sent[i] : sizeof fill;
            if (rp_ysend(r, 0, 1 + 2 * (uint32_t)i, fill, n) < 0)
                return -1;
            sent[i] += n;
        }
    }
    return 0;
}

/* The resident set of process pid (0: this one) in KiB, from /proc; -1 if unreadable. */
static long proc_rss_kib(int pid)
{
    char path[64], line[256];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/status", pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* The largest resident set of pid (0: us) over ms, in KiB. */
static long rss_peak_kib(int pid, int ms)
{
    long peak = proc_rss_kib(pid);
    uint64_t end = clock_mono_ms() + (uint64_t)ms;
    while (clock_mono_ms() < end) {
        usleep(50000);
        long k = proc_rss_kib(pid);
        if (k > peak)
            peak = k;
    }
    return peak;
}

static void get_stats(rp_server *s, void *arg)
{
    p2p_host_get_stats(s->h, arg);
}

/* The host's accounting, read on its thread. */
static p2p_host_stats srv_stats(rp_server *s)
{
    p2p_host_stats st;
    memset(&st, 0xff, sizeof st);
    CHECK(rp_call(s, get_stats, &st));
    return st;
}

/* Opens stream id for ping and pings once (new), or pings again on it; true once the echo
 * (and, for a new stream, the negotiation's answer) came back. */
static bool ping_on(rp_raw *r, rp_yscan *y, uint32_t id, bool new_stream)
{
    uint8_t m[160];
    size_t n = new_stream ? rp_mss_open(P2P_PROTO_PING, m) : 0;
    memset(m + n, 0x5a, 32);
    n += 32;
    uint32_t want = y->got[id] + (uint32_t)n;
    if (rp_ysend(r, new_stream ? RP_Y_SYN : 0, id, m, n) < 0)
        return false;
    return rp_yscan_run(r, y, 3000, id, want) == 0 && y->got[id] >= want && !y->rst[id];
}

/* Opens stream id for proto and sends it `bytes` of data after the negotiation: in the same
 * frame as the negotiation (first) or in frames of their own. Stays within the window. */
static int send_stream(rp_raw *r, uint32_t id, const char *proto, size_t bytes, bool first)
{
    static uint8_t buf[64 * 1024 + 160];
    size_t hn = rp_mss_open(proto, buf);
    size_t k = first ? (bytes < sizeof buf - hn ? bytes : sizeof buf - hn) : 0;
    memset(buf + hn, 0x33, k);
    if (rp_ysend(r, RP_Y_SYN, id, buf, hn + k) < 0)
        return -1;
    for (bytes -= k; bytes > 0;) {
        size_t n = bytes < 64 * 1024 ? bytes : 64 * 1024;
        if (rp_ysend(r, 0, id, buf, n) < 0)
            return -1;
        bytes -= n;
    }
    return 0;
}

/* The host's defences are timers too (keepalive, write stall); the attacker in the finding
 * kept both happy, which this models by turning them off. */
static void tune_patient(p2p_host_config *c)
{
    c->keepalive_ms = 0;
    c->write_stall_ms = 600000;
    c->idle_timeout_ms = 0;
}

/* nconns peers each stall the host's output and hold NSTREAMS ping streams: the resident set
 * grows by less than max_growth_kib. */
static void test_stalled_pings(int nconns, long max_growth_kib)
{
    rp_server s;
    if (rp_start_server(&s, rp_config(tune_patient), NULL) < 0) {
        CHECK(!"server starts");
        return;
    }
    long before = proc_rss_kib(0);
    rp_raw r[4];
    for (int i = 0; i < nconns; i++) {
        CHECK_EQ(rp_upgrade(&r[i], s.port, 4096), 0);
        CHECK_EQ(ping_attack(&r[i]), 0);
    }
    long peak = rss_peak_kib(0, 1500);
    long growth = peak - before;
    printf("%d stalled connection(s) x %d ping streams: resident set %ld -> %ld KiB (+%ld)\n",
           nconns, NSTREAMS, before, peak, growth);
    if (RSS_CHECKED)
        CHECK(growth < max_growth_kib);
    p2p_host_stats st = srv_stats(&s);
    printf("  host: %zu connections, %zu streams, %zu bytes queued, %zu held\n", st.conns,
           st.streams, st.mem_queued, st.mem_held);
    CHECK(st.mem_queued + st.mem_held < (size_t)nconns * 512 * 1024);
    CHECK_EQ(atomic_load(&s.disconnected), 0); /* streams were reset, not the connections */
    /* once the peers read again, they find every ping stream reset and the connection
     * serving a new one */
    for (int i = 0; i < nconns; i++) {
        static rp_yscan y;
        memset(&y, 0, sizeof y);
        rp_set_rcvbuf(&r[i], 4 << 20);
        CHECK(ping_on(&r[i], &y, 2 * NSTREAMS + 1, true));
        int resets = 0;
        for (int k = 0; k < NSTREAMS; k++)
            resets += y.rst[1 + 2 * k];
        CHECK_EQ(resets, NSTREAMS);
    }
    for (int i = 0; i < nconns; i++)
        rp_free(&r[i]);
    CHECK_EQ(rp_stop_server(&s), 0);
}

static void test_stalled_pings_one(void)
{
    test_stalled_pings(1, 6 * 1024);
}

static void test_stalled_pings_four(void)
{
    test_stalled_pings(4, 14 * 1024);
}

/* ---- held bytes: the connection's budget, the host's ------------------------------------- */

static void tune_small_conn(p2p_host_config *c)
{
    c->conn_mem_budget = 128 * 1024;
}

/* A stream whose held data would exceed the connection's budget is reset; the peer's other
 * streams (one holding data too, one pinging) go on. Data that came with the negotiation of a
 * paused stream counts as held too. */
static void test_held_one_stream(void)
{
    rp_server s;
    if (rp_start_server(&s, rp_config(tune_small_conn), NULL) < 0) {
        CHECK(!"server starts");
        return;
    }
    rp_raw r;
    static rp_yscan y;
    memset(&y, 0, sizeof y);
    CHECK_EQ(rp_upgrade(&r, s.port, 0), 0);
    CHECK(ping_on(&r, &y, 3, true));
    CHECK_EQ(send_stream(&r, 5, RP_HOLD_PROTO, 8 * 1024, true), 0);
    CHECK(rp_wait_atomic(&s.hold_open, 1, 3000));
    rp_yscan_run(&r, &y, 200, 0, 0);
    p2p_host_stats st = srv_stats(&s);
    CHECK_EQ(st.mem_held, 8 * 1024);
    CHECK_EQ(send_stream(&r, 1, RP_HOLD_PROTO, 192 * 1024, false), 0);
    rp_yscan_run(&r, &y, 3000, 1, UINT32_MAX);
    CHECK(y.rst[1]);
    CHECK(!y.rst[5]);
    CHECK(rp_wait_atomic(&s.hold_closed, 1, 2000));
    CHECK(ping_on(&r, &y, 3, false));
    CHECK(ping_on(&r, &y, 7, true));
    st = srv_stats(&s);
    CHECK_EQ(st.mem_held, 8 * 1024);
    CHECK_EQ(atomic_load(&s.hold_closed), 1);
    CHECK_EQ(atomic_load(&s.disconnected), 0);
    rp_free(&r);
    CHECK_EQ(rp_stop_server(&s), 0);
}

/* With the defaults, a peer filling 40 paused streams' windows gets 8 MiB held (32 of them);
 * the rest are reset. */
static void test_held_conn_default(void)
{
    rp_server s;
    if (rp_start_server(&s, rp_config(tune_patient), NULL) < 0) {
        CHECK(!"server starts");
        return;
    }
    rp_raw r;
    static rp_yscan y;
    memset(&y, 0, sizeof y);
    CHECK_EQ(rp_upgrade(&r, s.port, 0), 0);
    uint8_t m[160];
    size_t hn = rp_mss_open(RP_HOLD_PROTO, m);
    for (uint32_t i = 0; i < 40; i++) {
        CHECK_EQ(send_stream(&r, 1 + 2 * i, RP_HOLD_PROTO, WINDOW - hn, false), 0);
        rp_yscan_run(&r, &y, 0, 0, 0);
    }
    CHECK(rp_wait_atomic(&s.hold_closed, 8, 3000));
    rp_yscan_run(&r, &y, 300, 0, 0);
    int resets = 0;
    for (uint32_t i = 0; i < 40; i++)
        resets += y.rst[1 + 2 * i];
    CHECK_EQ(resets, 8);
    p2p_host_stats st = srv_stats(&s);
    CHECK_EQ(st.mem_held, 32 * (WINDOW - hn));
    CHECK(st.mem_held <= 8u << 20);
    CHECK(ping_on(&r, &y, 101, true));
    rp_free(&r);
    CHECK_EQ(rp_stop_server(&s), 0);
}

static void tune_small_host(p2p_host_config *c)
{
    tune_patient(c);
    c->host_mem_budget = 4u << 20;
}

/* 16 connections try to make the host hold 16 MiB, four paused streams each: the host's budget
 * (4 MiB here) holds over all of them; every connection still serves pings. */
static void test_held_host_budget(void)
{
    rp_server s;
    if (rp_start_server(&s, rp_config(tune_small_host), NULL) < 0) {
        CHECK(!"server starts");
        return;
    }
    enum { NC = 16 };
    static rp_raw r[NC];
    static rp_yscan y[NC];
    memset(y, 0, sizeof y);
    uint8_t m[160];
    size_t hn = rp_mss_open(RP_HOLD_PROTO, m);
    long before = proc_rss_kib(0);
    for (int c = 0; c < NC; c++) {
        CHECK_EQ(rp_upgrade(&r[c], s.port, 0), 0);
        for (uint32_t i = 0; i < 4; i++)
            CHECK_EQ(send_stream(&r[c], 1 + 2 * i, RP_HOLD_PROTO, WINDOW - hn, false), 0);
    }
    CHECK(rp_wait_atomic(&s.hold_open, NC * 4, 5000));
    long peak = rss_peak_kib(0, 500);
    p2p_host_stats st = srv_stats(&s);
    printf("%d connections x 4 paused streams: %zu bytes held, resident set +%ld KiB\n", NC,
           st.mem_held, peak - before);
    CHECK(st.mem_held <= 4u << 20);
    CHECK(st.mem_held + st.mem_queued <= (4u << 20) + NC * YAMUX_WRITE_RESERVE_BYTES);
    CHECK(st.mem_held > (4u << 20) - 2 * WINDOW);
    if (RSS_CHECKED)
        CHECK(peak - before < 14 * 1024); /* 16 MiB sent to be held; 4 MiB of it and the
                                            connections' own buffers (about 300 KiB each) */
    int resets = 0;
    for (int c = 0; c < NC; c++) {
        CHECK(ping_on(&r[c], &y[c], 101, true));
        for (uint32_t i = 0; i < 4; i++)
            resets += y[c].rst[1 + 2 * i];
    }
    CHECK(resets >= 3 * NC - 2);
    CHECK_EQ(resets, atomic_load(&s.hold_closed));
    CHECK_EQ(atomic_load(&s.disconnected), 0);
    for (int c = 0; c < NC; c++)
        rp_free(&r[c]);
    CHECK_EQ(rp_stop_server(&s), 0);
}

static void tune_tiny_host(p2p_host_config *c)
{
    tune_patient(c);
    c->host_mem_budget = 2u << 20;
}

/* Peers that stop reading while the host writes to them: what waits for their sockets (up to
 * 1 MiB per connection in the write queue) counts against the host's budget like what is
 * queued on streams, so over all of them the host keeps at most its budget; an honest peer is
 * still answered. */
static void test_sending_host_budget(void)
{
    rp_server s;
    if (rp_start_server(&s, rp_config(tune_tiny_host), NULL) < 0) {
        CHECK(!"server starts");
        return;
    }
    enum { NC = 6 };
    static rp_raw r[NC];
    uint8_t m[128], wu[12];
    size_t hn = rp_mss_open(RP_SOURCE_PROTO, m);
    for (int c = 0; c < NC; c++) {
        CHECK_EQ(rp_upgrade(&r[c], s.port, 4096), 0);
        /* the source writes for as long as the stream takes it: 16 MiB of window on top */
        rp_yhdr(wu, RP_Y_WINDOW, 0, 1, 16u << 20);
        CHECK(rp_ysend(&r[c], RP_Y_SYN, 1, m, hn) == 0 && rp_write(&r[c], wu, sizeof wu) == 0);
    }
    /* until the host's output has stalled everywhere: its accounting stops moving */
    p2p_host_stats st = srv_stats(&s), prev;
    for (int i = 0; i < 100; i++) {
        usleep(50 * 1000);
        prev = st;
        st = srv_stats(&s);
        if (i >= 10 && st.mem_sending == prev.mem_sending && st.mem_queued == prev.mem_queued)
            break;
    }
    size_t used = st.mem_queued + st.mem_held + st.mem_sending;
    printf("%d stalled readers: %zu queued, %zu sending, %zu in all (budget %u)\n", NC,
           st.mem_queued, st.mem_sending, used, 2u << 20);
    CHECK(st.mem_sending > 0); /* the write queues are counted */
    CHECK(used <= (2u << 20) + NC * (YAMUX_WRITE_RESERVE_BYTES + 2 * 65536));
    /* a newcomer is still served (a stream may always queue its reserve) */
    rp_raw good;
    rp_yscan y;
    memset(&y, 0, sizeof y);
    CHECK_EQ(rp_upgrade(&good, s.port, 0), 0);
    CHECK(ping_on(&good, &y, 1, true));
    CHECK_EQ(atomic_load(&s.disconnected), 0); /* the stalled readers are kept */
    rp_free(&good);
    for (int c = 0; c < NC; c++)
        rp_free(&r[c]);
    CHECK_EQ(rp_stop_server(&s), 0);
}

/* ---- by hand: against another process ------------------------------------------------------ */

static int attack_main(int port, int pid, int nconns)
{
    long before = proc_rss_kib(pid);
    rp_raw r[16];
    for (int i = 0; i < nconns; i++) {
        if (rp_upgrade(&r[i], port, 4096) < 0 || ping_attack(&r[i]) < 0) {
            fprintf(stderr, "attack: connection %d failed\n", i);
            return 1;
        }
    }
    long peak = rss_peak_kib(pid, 2000);

    printf("pid %d: VmRSS %ld -> %ld KiB (+%ld) with %d stalled connection(s) x %d ping "
           "streams\n",
           pid, before, peak, peak - before, nconns, NSTREAMS);
    for (int i = 0; i < nconns; i++)
        rp_free(&r[i]);
    return 0;
}

int main(int argc, char **argv)
{
    static const rp_test tests[] = {
        {"stalled_pings_one", test_stalled_pings_one},
        {"stalled_pings_four", test_stalled_pings_four},
        {"held_one_stream", test_held_one_stream},
        {"held_conn_default", test_held_conn_default},
        {"held_host_budget", test_held_host_budget},
        {"sending_host_budget", test_sending_host_budget},
    };
    if (rp_init() < 0)
        return 1;
    if (argc >= 4 && strcmp(argv[1], "attack") == 0) {
        int n = argc > 4 ? atoi(argv[4]) : 1;
        return attack_main(atoi(argv[2]), atoi(argv[3]), n < 1 ? 1 : n > 16 ? 16 : n);
    }
    return rp_run_tests(tests, sizeof tests / sizeof tests[0]);
}
