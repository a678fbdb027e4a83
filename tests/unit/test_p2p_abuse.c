/* test_p2p_abuse.c - a host under attack keeps serving its other peers.
 *
 * A real host listens on 127.0.0.1 in its own thread (its libuv loop). The test plays raw peers
 * over blocking sockets, built from the sans-IO pieces so that it can send exactly the wrong
 * bytes: a forged Noise signature, an oversized multistream message, garbage instead of Noise,
 * a Yamux frame overrunning the window, a bad Yamux version, an oversized protocol name inside
 * a stream. Each must be refused (connection or stream closed), and a well-behaved peer that
 * connected first must still get its pings answered afterwards.
 *
 * Then peers that stop reading: they are dropped (write stall, keepalive), and while the host's
 * output is stuck its streams still end properly (on_close, p2p_ping's deadline, the GoAway on
 * disconnect). And an identify answer with trailing bytes, and a GoAway from the peer.
 *
 * The raw peers and the host's thread are raw_peer.h's. */
#include "check.h"
#include "identify.h"
#include "raw_peer.h"

/* Starts the host with a 3 s handshake timeout, then tune (may be NULL). */
static int srv_start(rp_server *s, void (*tune)(p2p_host_config *c))
{
    p2p_host_config cfg = rp_config(NULL);
    cfg.handshake_timeout_ms = 3000;
    if (tune)
        tune(&cfg);
    return rp_start_server(s, cfg, NULL);
}

static void test_refusals(void)
{
    rp_server s;
    if (srv_start(&s, NULL) < 0) {
        CHECK(!"server starts");
        return;
    }

    /* a good peer first: it must be served throughout */
    rp_raw good;
    CHECK_EQ(rp_upgrade(&good, s.port, 0), 0);
    CHECK(rp_wait_atomic(&s.connected, 1, 3000));
    CHECK(rp_yping(&good, 1));

    /* a Noise payload whose key does not match its signature: refused, never connected */
    rp_raw forged;
    CHECK_EQ(rp_connect(&forged, s.port, 0), 0);
    CHECK_EQ(rp_mss(&forged, NOISE_PROTOCOL), 0);
    rp_noise(&forged, NULL, true);
    CHECK(rp_closed_within(&forged, 3000));
    rp_free(&forged);

    /* a multistream message claiming 60000 bytes */
    rp_raw big;
    CHECK_EQ(rp_connect(&big, s.port, 0), 0);
    uint8_t m[64];
    size_t n = rp_mss_msg(MSS_HEADER, m);
    n += uvarint_encode(60000, m + n);
    rp_send(&big, m, n);
    CHECK(rp_closed_within(&big, 3000));
    rp_free(&big);

    /* garbage where the first Noise message should be */
    rp_raw junk;
    CHECK_EQ(rp_connect(&junk, s.port, 0), 0);
    CHECK_EQ(rp_mss(&junk, NOISE_PROTOCOL), 0);
    uint8_t garbage[300];
    randombytes_buf(garbage, sizeof garbage);
    garbage[0] = 0;
    garbage[1] = 7; /* a 7-byte "ephemeral key" */
    rp_send(&junk, garbage, sizeof garbage);
    CHECK(rp_closed_within(&junk, 3000));
    rp_free(&junk);
    CHECK_EQ(atomic_load(&s.connected), 1); /* none of those three got in */

    /* a Yamux data frame larger than the initial 256 KiB window */
    rp_raw flood;
    CHECK_EQ(rp_upgrade(&flood, s.port, 0), 0);
    size_t over = 300 * 1024;
    uint8_t *blob = calloc(1, over);
    rp_ysend(&flood, RP_Y_SYN, 1, blob, over);
    free(blob);
    CHECK(rp_closed_within(&flood, 3000));
    rp_free(&flood);

    /* a Yamux frame of an unknown version */
    rp_raw badver;
    CHECK_EQ(rp_upgrade(&badver, s.port, 0), 0);
    uint8_t h[12];
    rp_yhdr(h, RP_Y_PING, RP_Y_SYN, 0, 1);
    h[0] = 7;
    rp_write(&badver, h, sizeof h);
    CHECK(rp_closed_within(&badver, 3000));
    rp_free(&badver);

    /* inside a stream, a protocol name of 5000 bytes: that stream is reset, the connection
     * stays and serves a ping on a new stream */
    rp_raw longname;
    CHECK_EQ(rp_upgrade(&longname, s.port, 0), 0);
    char *name = malloc(5001);
    memset(name, 'x', 5000);
    name[0] = '/';
    name[5000] = 0;
    uint8_t *msg = malloc(6000);
    size_t mn = rp_mss_open(name, msg);
    rp_ysend(&longname, RP_Y_SYN, 1, msg, mn);
    uint8_t sink[64];
    CHECK_EQ(rp_yread(&longname, 1, sink, sizeof sink, 3000), -2);
    CHECK(rp_yping(&longname, 3));
    free(name);
    free(msg);
    rp_free(&longname);

    /* the good peer is still served, on its old stream and on a new one */
    CHECK(rp_yping_again(&good, 1));
    CHECK(rp_yping(&good, 3));
    rp_free(&good);

    CHECK_EQ(rp_stop_server(&s), 0);
}

/* ---- peers that stop reading -------------------------------------------------------------- */

/* Opens stream id to the host's source and lets it send 16 MiB more than the initial window:
 * far more than socket buffers and the host's write queue hold, so that with us not reading
 * the host's output stalls. */
static int open_source(rp_raw *r, uint32_t id)
{
    uint8_t m[128], wu[12];
    size_t hn = rp_mss_open(RP_SOURCE_PROTO, m);
    rp_yhdr(wu, RP_Y_WINDOW, 0, id, 16u << 20);
    if (rp_ysend(r, RP_Y_SYN, id, m, hn) < 0 || rp_write(r, wu, sizeof wu) < 0)
        return -1;
    return 0;
}

/* Reads and drops what the host sends until it closes; true if a GoAway came. */
static bool ydrain_goaway(rp_raw *r, int ms)
{
    uint64_t end = clock_mono_ms() + (uint64_t)ms;
    for (;;) {
        rp_yframe f;
        while (rp_yframe_at(r->plain.data, r->plain.len, &f)) {
            if (f.type == RP_Y_GOAWAY)
                return true;
            rp_consume(&r->plain, f.size);
        }
        if (clock_mono_ms() > end || rp_fill(r, 100) == 0)
            return false;
    }
}

/* Waits up to ms for the host's DISCONNECTED; true if it came and its message has want. */
static bool srv_disconnected_with(rp_server *s, int n, const char *want, int ms)
{
    char msg[256];
    if (!rp_wait_atomic(&s->disconnected, n, ms))
        return false;
    rp_last_disconnect(s, msg, sizeof msg);
    if (!strstr(msg, want)) {
        fprintf(stderr, "disconnected: '%s' (expected '%s')\n", msg, want);
        return false;
    }
    return true;
}

static void tune_stall(p2p_host_config *c)
{
    c->keepalive_ms = 0;
    c->write_stall_ms = 500;
}

/* A peer that stops reading while we write to it is dropped after write_stall_ms, even though
 * it keeps sending (window updates) and keepalive is off. */
static void test_write_stall(void)
{
    rp_server s;
    if (srv_start(&s, tune_stall) < 0) {
        CHECK(!"server starts");
        return;
    }
    rp_raw r;
    CHECK_EQ(rp_upgrade(&r, s.port, 4096), 0);
    CHECK(rp_wait_atomic(&s.connected, 1, 3000));
    CHECK_EQ(open_source(&r, 1), 0);
    uint64_t t0 = clock_mono_ms();
    bool closed = false;
    while (!closed && clock_mono_ms() - t0 < 5000) {
        uint8_t wu[12];
        rp_yhdr(wu, RP_Y_WINDOW, 0, 1, 0);
        rp_write(&r, wu, sizeof wu); /* traffic that must not count as the peer being alive */
        closed = atomic_load(&s.disconnected) > 0;
        usleep(100000);
    }
    CHECK(srv_disconnected_with(&s, 1, "peer is not reading (nothing sent for", 100));
    printf("write stall: dropped %llu ms after the source started\n",
           (unsigned long long)(clock_mono_ms() - t0));
    rp_free(&r);
    CHECK_EQ(rp_stop_server(&s), 0);
}

static void tune_keepalive(p2p_host_config *c)
{
    c->keepalive_ms = 200;
}

/* Keepalive counts answers, not received bytes: a peer that keeps sending but never reads
 * (so never answers our ping) is dropped for the missing pong. */
static void test_keepalive_needs_pongs(void)
{
    rp_server s;
    if (srv_start(&s, tune_keepalive) < 0) {
        CHECK(!"server starts");
        return;
    }
    rp_raw r;
    CHECK_EQ(rp_upgrade(&r, s.port, 0), 0);
    CHECK(rp_wait_atomic(&s.connected, 1, 3000));
    uint8_t m[128];
    size_t hn = rp_mss_open(P2P_PROTO_PING, m);
    CHECK_EQ(rp_ysend(&r, RP_Y_SYN, 1, m, hn), 0);
    uint64_t t0 = clock_mono_ms();
    while (atomic_load(&s.disconnected) == 0 && clock_mono_ms() - t0 < 3000) {
        uint8_t wu[12];
        rp_yhdr(wu, RP_Y_WINDOW, 0, 1, 0);
        rp_write(&r, wu, sizeof wu);
        usleep(50000);
    }
    CHECK(srv_disconnected_with(&s, 1, "keepalive timeout", 100));
    CHECK(clock_mono_ms() - t0 < 2000);
    rp_free(&r);
    CHECK_EQ(rp_stop_server(&s), 0);
}

static void reset_hold(rp_server *s, void *arg)
{
    (void)arg;
    if (s->hold)
        p2p_stream_reset(s->hold);
}

/* A p2p_ping by the host: started on its thread, its results for the test's thread. */
typedef struct {
    atomic_int done, status;
    atomic_llong ms;
    uint64_t t0;
} srv_ping;

static void on_srv_ping(p2p_host *h, const p2p_peer_id *peer, int status, double rtt_ms,
                        const char *err, void *user)
{
    srv_ping *p = user;
    (void)h;
    (void)peer;
    (void)rtt_ms;
    (void)err;
    atomic_store(&p->ms, (long long)(clock_mono_ms() - p->t0));
    atomic_store(&p->status, status);
    atomic_store(&p->done, 1);
}

/* Pings the last peer that connected; arg is the srv_ping for the results. */
static void start_ping(rp_server *s, void *arg)
{
    srv_ping *p = arg;
    char err[256];
    p->t0 = clock_mono_ms();
    if (p2p_ping(s->h, &s->peer, on_srv_ping, p, err, sizeof err) != 0) {
        atomic_store(&p->status, 1); /* not -1: the test wants the later failure */
        atomic_store(&p->done, 1);
    }
}

static void disconnect_peer(rp_server *s, void *arg)
{
    (void)arg;
    p2p_host_disconnect(s->h, &s->peer);
}

static void tune_patient(p2p_host_config *c)
{
    c->keepalive_ms = 0;
    c->write_stall_ms = 60000;
}

/* While the host's output is stalled: a reset stream still gets on_close, p2p_ping still fails
 * at its deadline (about 10 s: the one slow check here), and a disconnect still sends the
 * GoAway although many control frames (pongs) are queued before it. */
static void test_stalled_output(void)
{
    rp_server s;
    if (srv_start(&s, tune_patient) < 0) {
        CHECK(!"server starts");
        return;
    }
    rp_raw r;
    CHECK_EQ(rp_upgrade(&r, s.port, 4096), 0);
    CHECK(rp_wait_atomic(&s.connected, 1, 3000));
    uint8_t m[128];
    size_t hn = rp_mss_open(RP_HOLD_PROTO, m);
    CHECK_EQ(rp_ysend(&r, RP_Y_SYN, 1, m, hn), 0);
    CHECK(rp_wait_atomic(&s.hold_open, 1, 3000));
    CHECK_EQ(open_source(&r, 3), 0);
    usleep(500000);

    CHECK(rp_call(&s, reset_hold, NULL));
    CHECK(rp_wait_atomic(&s.hold_closed, 1, 2000));

    srv_ping ping_result;
    memset(&ping_result, 0, sizeof ping_result);
    CHECK(rp_call(&s, start_ping, &ping_result));
    CHECK(rp_wait_atomic(&ping_result.done, 1, 14000));
    CHECK_EQ(atomic_load(&ping_result.status), -1);
    long long took = atomic_load(&ping_result.ms);
    printf("stalled output: ping failed after %lld ms\n", took);
    CHECK(took >= 9000 && took < 13000);

    /* pings while stalled: their pongs queue up in yamux (about 24 KiB of them) */
    uint8_t ping[12 * 2000];
    for (int i = 0; i < 2000; i++)
        rp_yhdr(ping + 12 * i, RP_Y_PING, RP_Y_SYN, 0, (uint32_t)i);
    CHECK_EQ(rp_write(&r, ping, sizeof ping), 0);
    usleep(200000);
    CHECK_EQ(atomic_load(&s.disconnected), 0);
    CHECK(rp_call(&s, disconnect_peer, NULL));
    rp_set_rcvbuf(&r, 4 << 20); /* read it all within the host's linger */
    CHECK(ydrain_goaway(&r, 3000));
    CHECK(rp_wait_atomic(&s.disconnected, 1, 2000));
    rp_free(&r);
    CHECK_EQ(rp_stop_server(&s), 0);
}

/* ---- identify and GoAway ------------------------------------------------------------------ */

/* Answers the host's identify request (its first stream, id 2) with a valid message followed,
 * in the same frame, by more bytes than the message limit, then FIN. */
static bool answer_identify_with_trailer(rp_raw *r)
{
    uint8_t m[128], got[128];
    size_t hn = rp_mss_open(P2P_PROTO_IDENTIFY, m);
    if (rp_yread(r, 2, got, hn, 3000) != (int)hn || memcmp(got, m, hn) != 0)
        return false;
    identify_info in;
    memset(&in, 0, sizeof in);
    in.agent = (char *)"raw-peer/1.0";
    char *protos[] = {(char *)P2P_PROTO_PING};
    in.protocols = protos;
    in.nprotocols = 1;
    buf_t body;
    buf_init(&body, 0);
    char err[256];
    bool ok = buf_append(&body, m, hn) == 0 && identify_encode(&in, &body, err, sizeof err) == 0;
    uint8_t trailer[IDENTIFY_MAX_MSG + 1000];
    memset(trailer, 0x0a, sizeof trailer);
    ok = ok && buf_append(&body, trailer, sizeof trailer) == 0 &&
         rp_ysend(r, RP_Y_ACK | RP_Y_FIN, 2, body.data, body.len) == 0;
    buf_free(&body);
    return ok;
}

/* A valid identify message with more bytes after it is taken; a GoAway from the peer makes the
 * connection unusable and closes it once its streams are done. */
static void test_identify_and_goaway(void)
{
    rp_server s;
    if (srv_start(&s, NULL) < 0) {
        CHECK(!"server starts");
        return;
    }
    rp_raw r;
    CHECK_EQ(rp_upgrade(&r, s.port, 0), 0);
    CHECK(rp_wait_atomic(&s.connected, 1, 3000));
    CHECK(answer_identify_with_trailer(&r));
    CHECK(rp_wait_atomic(&s.identified, 1, 3000));
    CHECK_EQ(atomic_load(&s.errors), 0);
    char msg[512];
    rp_last_error(&s, msg, sizeof msg);
    if (msg[0])
        fprintf(stderr, "server error: %s\n", msg);

    uint8_t ga[12];
    rp_yhdr(ga, RP_Y_GOAWAY, 0, 0, 0);
    CHECK_EQ(rp_write(&r, ga, sizeof ga), 0);
    CHECK(rp_closed_within(&r, 2000));
    CHECK(srv_disconnected_with(&s, 1, "GoAway", 1000));
    rp_free(&r);
    CHECK_EQ(rp_stop_server(&s), 0);
}

int main(void)
{
    static const rp_test tests[] = {
        {"refusals", test_refusals},
        {"write_stall", test_write_stall},
        {"keepalive_needs_pongs", test_keepalive_needs_pongs},
        {"identify_and_goaway", test_identify_and_goaway},
        {"stalled_output", test_stalled_output},
    };
    if (rp_init() < 0)
        return 1;
    return rp_run_tests(tests, sizeof tests / sizeof tests[0]);
}
