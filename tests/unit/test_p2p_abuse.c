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
 * disconnect). And an identify answer with trailing bytes, and a GoAway from the peer. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "check.h"
#include "identify.h"
#include "mss.h"
#include "noise.h"
#include "p2p.h"

/* ---- the host, in its own thread -------------------------------------------------------- */

#define HOLD_PROTO "/test/hold/1.0.0" /* the handler keeps the stream for the test */
#define SOURCE_PROTO                                                             \
    "/test/source/1.0.0" /* the handler writes zeros while the stream takes them \
                          */

typedef struct server server;
typedef void (*srv_fn)(server *s, void *arg);

struct server {
    uv_loop_t loop;
    uv_async_t stop;
    uv_async_t call; /* runs call_fn on the host's thread: see srv_call */
    uv_thread_t thread;
    p2p_host *h;
    p2p_key key;
    int port;
    atomic_int connected, disconnected, identified, errors;
    uv_mutex_t mu; /* guards the messages and call_fn/call_arg */
    char disc_msg[256], err_msg[512];
    srv_fn call_fn;
    void *call_arg;
    atomic_int call_done;
    /* touched on the host's thread only */
    p2p_peer_id peer; /* the last peer that connected */
    p2p_stream *hold;
    /* results for the test's thread */
    atomic_int hold_open, hold_closed;
    atomic_int ping_done, ping_status;
    atomic_llong ping_ms;
    uint64_t ping_t0;
};

static void srv_event(p2p_host *h, const p2p_event *ev, void *user)
{
    (void)h;
    server *s = user;
    switch (ev->type) {
    case P2P_EV_CONNECTED:
        s->peer = *ev->peer;
        atomic_fetch_add(&s->connected, 1);
        break;
    case P2P_EV_DISCONNECTED:
        uv_mutex_lock(&s->mu);
        snprintf(s->disc_msg, sizeof s->disc_msg, "%s", ev->message ? ev->message : "");
        uv_mutex_unlock(&s->mu);
        atomic_fetch_add(&s->disconnected, 1);
        break;
    case P2P_EV_IDENTIFIED:
        atomic_fetch_add(&s->identified, 1);
        break;
    case P2P_EV_ERROR:
        uv_mutex_lock(&s->mu);
        snprintf(s->err_msg, sizeof s->err_msg, "%s", ev->message ? ev->message : "");
        uv_mutex_unlock(&s->mu);
        atomic_fetch_add(&s->errors, 1);
        break;
    default:
        break;
    }
}

/* Copies one of the server's messages (disc_msg or err_msg) under its lock. */
static void srv_msg(server *s, const char *msg, char *out, size_t cap)
{
    uv_mutex_lock(&s->mu);
    snprintf(out, cap, "%s", msg);
    uv_mutex_unlock(&s->mu);
}

static void hold_close(p2p_stream *st, const char *reason, void *user)
{
    server *s = user;
    (void)st;
    (void)reason;
    s->hold = NULL;
    atomic_store(&s->hold_closed, 1);
}

static void hold_handler(p2p_stream *st, void *user)
{
    server *s = user;
    static const p2p_stream_cbs cbs = {.on_close = hold_close};
    p2p_stream_set_cbs(st, &cbs, s);
    p2p_stream_pause(st, true);
    s->hold = st;
    atomic_store(&s->hold_open, 1);
}

static void source_pump(p2p_stream *st, void *user)
{
    static const uint8_t zeros[64 * 1024];
    (void)user;
    while (p2p_stream_write(st, zeros, sizeof zeros) == (ssize_t)sizeof zeros)
        ; /* until yamux's queue is full: on_writable comes back */
}

static void source_handler(p2p_stream *st, void *user)
{
    static const p2p_stream_cbs cbs = {.on_writable = source_pump};
    p2p_stream_set_cbs(st, &cbs, user);
    source_pump(st, user);
}

static void srv_stop(uv_async_t *a)
{
    server *s = a->data;
    p2p_host_close(s->h, NULL, NULL);
    uv_close((uv_handle_t *)a, NULL);
    uv_close((uv_handle_t *)&s->call, NULL);
}

static void srv_on_call(uv_async_t *a)
{
    server *s = a->data;
    uv_mutex_lock(&s->mu);
    srv_fn fn = s->call_fn;
    void *arg = s->call_arg;
    s->call_fn = NULL;
    uv_mutex_unlock(&s->mu);
    if (fn) {
        fn(s, arg);
        atomic_store(&s->call_done, 1);
    }
}

/* Runs fn(s, arg) on the host's thread and waits for it to return. */
static bool srv_call(server *s, srv_fn fn, void *arg)
{
    atomic_store(&s->call_done, 0);
    uv_mutex_lock(&s->mu);
    s->call_fn = fn;
    s->call_arg = arg;
    uv_mutex_unlock(&s->mu);
    uv_async_send(&s->call);
    uint64_t end = clock_mono_ms() + 3000;
    while (!atomic_load(&s->call_done) && clock_mono_ms() < end)
        usleep(1000);
    return atomic_load(&s->call_done);
}

static void srv_main(void *arg)
{
    server *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
}

/* Starts a host listening on 127.0.0.1 in its own thread; tune (may be NULL) adjusts the
 * configuration first. */
static int srv_start(server *s, void (*tune)(p2p_host_config *c))
{
    char err[256];
    memset(s, 0, sizeof *s);
    if (p2p_key_generate(&s->key, err, sizeof err) < 0 || uv_loop_init(&s->loop) != 0 ||
        uv_mutex_init(&s->mu) != 0)
        return -1;
    p2p_host_config cfg;
    p2p_host_config_default(&cfg);
    cfg.key = &s->key;
    cfg.handshake_timeout_ms = 3000;
    if (tune)
        tune(&cfg);
    if (p2p_host_new(&s->loop, &cfg, srv_event, s, &s->h, err, sizeof err) < 0 ||
        p2p_host_handle(s->h, HOLD_PROTO, hold_handler, s, err, sizeof err) < 0 ||
        p2p_host_handle(s->h, SOURCE_PROTO, source_handler, s, err, sizeof err) < 0 ||
        p2p_host_listen(s->h, "/ip4/127.0.0.1/tcp/0", err, sizeof err) < 0) {
        fprintf(stderr, "server: %s\n", err);
        return -1;
    }
    p2p_maddr ma;
    p2p_tcp_addr ta;
    if (p2p_host_listen_addrs(s->h, &ma, 1) < 1 || p2p_maddr_to_tcp(&ma, &ta, err, sizeof err) < 0)
        return -1;
    s->port = ta.port;
    uv_async_init(&s->loop, &s->stop, srv_stop);
    uv_async_init(&s->loop, &s->call, srv_on_call);
    s->stop.data = s;
    s->call.data = s;
    return uv_thread_create(&s->thread, srv_main, s) == 0 ? 0 : -1;
}

static void srv_finish(server *s)
{
    uv_async_send(&s->stop);
    uv_thread_join(&s->thread);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&s->loop), 0);
    uv_mutex_destroy(&s->mu);
}

/* Waits up to ms for *v to reach n. */
static bool wait_atomic(atomic_int *v, int n, int ms)
{
    uint64_t end = clock_mono_ms() + (uint64_t)ms;
    while (atomic_load(v) < n && clock_mono_ms() < end)
        usleep(5000);
    return atomic_load(v) >= n;
}

/* ---- a raw peer over a blocking socket ---------------------------------------------------- */

typedef struct {
    int fd;
    bool secure;
    noise_cipher tx, rx;
    buf_t in;    /* received bytes not yet used (ciphertext frames when secure) */
    buf_t plain; /* decrypted bytes not yet used */
} raw;

/* Connects to the host; rcvbuf > 0 sets our receive buffer first (before the window is
 * agreed, so that it really is small). */
static int raw_connect_rcvbuf(raw *r, int port, int rcvbuf)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->in, 1 << 20);
    buf_init(&r->plain, 1 << 20);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0)
        setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return connect(r->fd, (struct sockaddr *)&sa, sizeof sa);
}

static int raw_connect(raw *r, int port)
{
    return raw_connect_rcvbuf(r, port, 0);
}

static void raw_free(raw *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    buf_free(&r->in);
    buf_free(&r->plain);
}

static int raw_send(raw *r, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(r->fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Sends plaintext, encrypted in Noise frames once the channel is secure. */
static int raw_write(raw *r, const void *p, size_t n)
{
    if (!r->secure)
        return raw_send(r, p, n);
    buf_t out;
    buf_init(&out, 0);
    const uint8_t *b = p;
    while (n) {
        size_t k = n < NOISE_MAX_PLAINTEXT ? n : NOISE_MAX_PLAINTEXT;
        if (noise_encrypt(&r->tx, b, k, &out) < 0)
            return -1;
        b += k;
        n -= k;
    }
    int rc = raw_send(r, out.data, out.len);
    buf_free(&out);
    return rc;
}

/* Waits up to ms for bytes. Returns 1 (got some), 0 (EOF or reset), -1 (timeout). */
static int raw_fill(raw *r, int ms)
{
    struct pollfd pfd = {r->fd, POLLIN, 0};
    int pr = poll(&pfd, 1, ms);
    if (pr <= 0)
        return -1;
    uint8_t tmp[65536];
    ssize_t n = recv(r->fd, tmp, sizeof tmp, 0);
    if (n <= 0)
        return 0;
    if (buf_append(&r->in, tmp, (size_t)n) < 0)
        return 0;
    if (r->secure) {
        size_t body;
        while (noise_frame(r->in.data, r->in.len, &body)) {
            uint8_t pt[65536];
            size_t ptlen;
            char err[128];
            if (noise_decrypt(&r->rx, r->in.data + 2, body, pt, &ptlen, err, sizeof err) < 0 ||
                buf_append(&r->plain, pt, ptlen) < 0)
                return 0;
            memmove(r->in.data, r->in.data + 2 + body, r->in.len - 2 - body);
            r->in.len -= 2 + body;
        }
    }
    return 1;
}

/* True if the peer closes the connection within ms (whatever it sends first). */
static bool raw_closed_within(raw *r, int ms)
{
    uint64_t end = clock_mono_ms() + (uint64_t)ms;
    while (clock_mono_ms() < end) {
        int rc = raw_fill(r, 50);
        if (rc == 0)
            return true;
        r->in.len = 0;
        r->plain.len = 0;
    }
    return false;
}

/* Negotiates proto with multistream-select (in the clear or inside Noise). */
static int raw_mss(raw *r, const char *proto)
{
    mss m;
    buf_t out;
    buf_init(&out, 0);
    const char *protos[1] = {proto};
    if (mss_dialer(&m, protos, 1, &out) < 0 || raw_write(r, out.data, out.len) < 0)
        return -1;
    buf_clear(&out);
    uint64_t end = clock_mono_ms() + 3000;
    int rc = -1;
    while (clock_mono_ms() < end) {
        buf_t *src = r->secure ? &r->plain : &r->in;
        size_t used = 0;
        char err[256];
        mss_status st = mss_feed(&m, src->data, src->len, &used, &out, err, sizeof err);
        if (used) {
            memmove(src->data, src->data + used, src->len - used);
            src->len -= used;
        }
        if (st == MSS_DONE) {
            rc = 0;
            break;
        }
        if (st == MSS_FAIL || raw_fill(r, 100) == 0)
            break;
    }
    buf_free(&out);
    return rc;
}

/* Runs the Noise handshake as initiator. With forge, the payload names our key but is signed by
 * another one. */
static int raw_noise(raw *r, bool forge)
{
    p2p_key id, other;
    uint8_t ssk[32], spk[32];
    char err[256];
    p2p_key_generate(&id, err, sizeof err);
    p2p_key_generate(&other, err, sizeof err);
    noise_static_keypair(ssk, spk);
    noise_hs hs;
    if (noise_hs_init(&hs, true, &id, ssk, spk, err, sizeof err) < 0)
        return -1;
    if (forge)
        memcpy(hs.id.sk, other.sk, sizeof hs.id.sk);
    buf_t out;
    buf_init(&out, 0);
    int rc = -1;
    if (noise_hs_write(&hs, &out, err, sizeof err) < 0 || raw_send(r, out.data, out.len) < 0)
        goto done;
    buf_clear(&out);
    size_t body;
    uint64_t end = clock_mono_ms() + 3000;
    while (!noise_frame(r->in.data, r->in.len, &body))
        if (clock_mono_ms() > end || raw_fill(r, 100) == 0)
            goto done;
    if (noise_hs_read(&hs, r->in.data + 2, body, err, sizeof err) < 0)
        goto done;
    memmove(r->in.data, r->in.data + 2 + body, r->in.len - 2 - body);
    r->in.len -= 2 + body;
    if (noise_hs_write(&hs, &out, err, sizeof err) < 0 || raw_send(r, out.data, out.len) < 0)
        goto done;
    noise_hs_split(&hs, &r->tx, &r->rx);
    r->secure = true;
    rc = 0;
done:
    noise_hs_wipe(&hs);
    buf_free(&out);
    return rc;
}

/* Connects and upgrades to Noise + Yamux; rcvbuf as for raw_connect_rcvbuf. */
static int raw_upgrade_rcvbuf(raw *r, int port, int rcvbuf)
{
    if (raw_connect_rcvbuf(r, port, rcvbuf) < 0 || raw_mss(r, NOISE_PROTOCOL) < 0 ||
        raw_noise(r, false) < 0)
        return -1;
    return raw_mss(r, "/yamux/1.0.0");
}

static int raw_upgrade(raw *r, int port)
{
    return raw_upgrade_rcvbuf(r, port, 0);
}

enum { Y_DATA = 0, Y_WINDOW = 1, Y_PING = 2, Y_GOAWAY = 3 };
enum { Y_SYN = 1, Y_ACK = 2, Y_FIN = 4, Y_RST = 8 };

static void yhdr(uint8_t h[12], uint8_t version, uint8_t type, uint16_t flags, uint32_t id,
                 uint32_t len)
{
    h[0] = version;
    h[1] = type;
    h[2] = (uint8_t)(flags >> 8);
    h[3] = (uint8_t)flags;
    for (int i = 0; i < 4; i++) {
        h[4 + i] = (uint8_t)(id >> (24 - 8 * i));
        h[8 + i] = (uint8_t)(len >> (24 - 8 * i));
    }
}

/* Sends one Yamux frame with body p[0..n). */
static int ysend(raw *r, uint8_t type, uint16_t flags, uint32_t id, const void *p, size_t n)
{
    uint8_t *f = malloc(12 + n);
    yhdr(f, 0, type, flags, id, type == Y_DATA ? (uint32_t)n : 0);
    if (n)
        memcpy(f + 12, p, n);
    int rc = raw_write(r, f, 12 + (type == Y_DATA ? n : 0));
    free(f);
    return rc;
}

/* Collects data for stream id until `want` bytes arrived; other frames are skipped. Returns
 * the bytes collected into out, -2 if the stream is reset, -1 on close or timeout. */
static int yread(raw *r, uint32_t id, uint8_t *out, size_t want, int ms)
{
    size_t got = 0;
    uint64_t end = clock_mono_ms() + (uint64_t)ms;
    while (got < want) {
        while (r->plain.len >= 12) {
            const uint8_t *h = r->plain.data;
            uint32_t sid = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | h[6] << 8 | h[7];
            uint32_t len = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | h[10] << 8 | h[11];
            uint16_t flags = (uint16_t)(h[2] << 8 | h[3]);
            size_t blen = h[1] == Y_DATA ? len : 0;
            if (r->plain.len < 12 + blen)
                break;
            if (sid == id && (flags & Y_RST))
                return -2;
            if (sid == id && h[1] == Y_DATA)
                for (size_t i = 0; i < blen && got < want; i++)
                    out[got++] = h[12 + i];
            if (h[1] == Y_PING && (flags & Y_SYN)) { /* answer keepalives */
                uint8_t pong[12];
                yhdr(pong, 0, Y_PING, Y_ACK, 0, len);
                raw_write(r, pong, sizeof pong);
            }
            memmove(r->plain.data, r->plain.data + 12 + blen, r->plain.len - 12 - blen);
            r->plain.len -= 12 + blen;
        }
        if (got >= want)
            break;
        if (clock_mono_ms() > end || raw_fill(r, 100) == 0)
            return -1;
    }
    return (int)got;
}

/* An mss message: uvarint length, text, newline. */
static size_t mss_msg(const char *text, uint8_t *out)
{
    size_t n = strlen(text) + 1;
    size_t k = uvarint_encode(n, out);
    memcpy(out + k, text, n - 1);
    out[k + n - 1] = '\n';
    return k + n;
}

/* Opens stream id for ping (SYN + header + protocol in one data frame), then pings once. */
static bool yping_new(raw *r, uint32_t id)
{
    uint8_t m[128];
    size_t n = mss_msg(MSS_HEADER, m);
    n += mss_msg(P2P_PROTO_PING, m + n);
    if (ysend(r, Y_DATA, Y_SYN, id, m, n) < 0)
        return false;
    uint8_t want[64], got[64];
    size_t hn = n; /* the echo of header + protocol comes back first */
    memcpy(want, m, hn);
    if (yread(r, id, got, hn, 3000) != (int)hn || memcmp(got, want, hn) != 0)
        return false;
    uint8_t ping[32];
    randombytes_buf(ping, sizeof ping);
    if (ysend(r, Y_DATA, 0, id, ping, sizeof ping) < 0)
        return false;
    return yread(r, id, got, 32, 3000) == 32 && memcmp(got, ping, 32) == 0;
}

/* Pings again on an already negotiated stream. */
static bool yping_again(raw *r, uint32_t id)
{
    uint8_t ping[32], got[32];
    randombytes_buf(ping, sizeof ping);
    if (ysend(r, Y_DATA, 0, id, ping, sizeof ping) < 0)
        return false;
    return yread(r, id, got, 32, 3000) == 32 && memcmp(got, ping, 32) == 0;
}

/* Waits until the server has counted n connections (events come from its thread). */
static bool wait_connected(server *s, int n)
{
    uint64_t end = clock_mono_ms() + 3000;
    while (atomic_load(&s->connected) < n && clock_mono_ms() < end)
        usleep(10000);
    return atomic_load(&s->connected) >= n;
}

static void test_refusals(void)
{
    server s;
    if (srv_start(&s, NULL) < 0) {
        CHECK(!"server starts");
        return;
    }

    /* a good peer first: it must be served throughout */
    raw good;
    CHECK_EQ(raw_upgrade(&good, s.port), 0);
    CHECK(wait_connected(&s, 1));
    CHECK(yping_new(&good, 1));

    /* a Noise payload whose key does not match its signature: refused, never connected */
    raw forged;
    CHECK_EQ(raw_connect(&forged, s.port), 0);
    CHECK_EQ(raw_mss(&forged, NOISE_PROTOCOL), 0);
    raw_noise(&forged, true);
    CHECK(raw_closed_within(&forged, 3000));
    raw_free(&forged);

    /* a multistream message claiming 60000 bytes */
    raw big;
    CHECK_EQ(raw_connect(&big, s.port), 0);
    uint8_t m[64];
    size_t n = mss_msg(MSS_HEADER, m);
    n += uvarint_encode(60000, m + n);
    raw_send(&big, m, n);
    CHECK(raw_closed_within(&big, 3000));
    raw_free(&big);

    /* garbage where the first Noise message should be */
    raw junk;
    CHECK_EQ(raw_connect(&junk, s.port), 0);
    CHECK_EQ(raw_mss(&junk, NOISE_PROTOCOL), 0);
    uint8_t garbage[300];
    randombytes_buf(garbage, sizeof garbage);
    garbage[0] = 0;
    garbage[1] = 7; /* a 7-byte "ephemeral key" */
    raw_send(&junk, garbage, sizeof garbage);
    CHECK(raw_closed_within(&junk, 3000));
    raw_free(&junk);
    CHECK_EQ(atomic_load(&s.connected), 1); /* none of those three got in */

    /* a Yamux data frame larger than the initial 256 KiB window */
    raw flood;
    CHECK_EQ(raw_upgrade(&flood, s.port), 0);
    size_t over = 300 * 1024;
    uint8_t *blob = calloc(1, over);
    ysend(&flood, Y_DATA, Y_SYN, 1, blob, over);
    free(blob);
    CHECK(raw_closed_within(&flood, 3000));
    raw_free(&flood);

    /* a Yamux frame of an unknown version */
    raw badver;
    CHECK_EQ(raw_upgrade(&badver, s.port), 0);
    uint8_t h[12];
    yhdr(h, 7, Y_PING, Y_SYN, 0, 1);
    raw_write(&badver, h, sizeof h);
    CHECK(raw_closed_within(&badver, 3000));
    raw_free(&badver);

    /* inside a stream, a protocol name of 5000 bytes: that stream is reset, the connection
     * stays and serves a ping on a new stream */
    raw longname;
    CHECK_EQ(raw_upgrade(&longname, s.port), 0);
    char *name = malloc(5001);
    memset(name, 'x', 5000);
    name[0] = '/';
    name[5000] = 0;
    uint8_t *msg = malloc(6000);
    size_t mn = mss_msg(MSS_HEADER, msg);
    mn += mss_msg(name, msg + mn);
    ysend(&longname, Y_DATA, Y_SYN, 1, msg, mn);
    uint8_t sink[64];
    CHECK_EQ(yread(&longname, 1, sink, sizeof sink, 3000), -2);
    CHECK(yping_new(&longname, 3));
    free(name);
    free(msg);
    raw_free(&longname);

    /* the good peer is still served, on its old stream and on a new one */
    CHECK(yping_again(&good, 1));
    CHECK(yping_new(&good, 3));
    raw_free(&good);

    srv_finish(&s);
}

/* ---- peers that stop reading -------------------------------------------------------------- */

/* Sets our socket's receive buffer: a large one to read fast after having stalled the host. */
static void raw_rcvbuf(raw *r, int bytes)
{
    setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

/* Opens stream id to the host's source and lets it send 16 MiB more than the initial window:
 * far more than socket buffers and the host's write queue hold, so that with us not reading
 * the host's output stalls. */
static int open_source(raw *r, uint32_t id)
{
    uint8_t m[128], wu[12];
    size_t hn = mss_msg(MSS_HEADER, m);
    hn += mss_msg(SOURCE_PROTO, m + hn);
    yhdr(wu, 0, Y_WINDOW, 0, id, 16u << 20);
    if (ysend(r, Y_DATA, Y_SYN, id, m, hn) < 0 || raw_write(r, wu, sizeof wu) < 0)
        return -1;
    return 0;
}

/* Reads and drops what the host sends until it closes; true if a GoAway came. */
static bool ydrain_goaway(raw *r, int ms)
{
    uint64_t end = clock_mono_ms() + (uint64_t)ms;
    for (;;) {
        size_t off = 0;
        while (r->plain.len - off >= 12) {
            const uint8_t *h = r->plain.data + off;
            uint32_t len = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | h[10] << 8 | h[11];
            size_t blen = h[1] == Y_DATA ? len : 0;
            if (r->plain.len - off < 12 + blen)
                break;
            if (h[1] == Y_GOAWAY)
                return true;
            off += 12 + blen;
        }
        memmove(r->plain.data, r->plain.data + off, r->plain.len - off);
        r->plain.len -= off;
        if (clock_mono_ms() > end || raw_fill(r, 100) == 0)
            return false;
    }
}

/* Waits up to ms for the host's DISCONNECTED; true if it came and its message has want. */
static bool srv_disconnected_with(server *s, int n, const char *want, int ms)
{
    char msg[256];
    if (!wait_atomic(&s->disconnected, n, ms))
        return false;
    srv_msg(s, s->disc_msg, msg, sizeof msg);
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
    server s;
    if (srv_start(&s, tune_stall) < 0) {
        CHECK(!"server starts");
        return;
    }
    raw r;
    CHECK_EQ(raw_upgrade_rcvbuf(&r, s.port, 4096), 0);
    CHECK(wait_connected(&s, 1));
    CHECK_EQ(open_source(&r, 1), 0);
    uint64_t t0 = clock_mono_ms();
    bool closed = false;
    while (!closed && clock_mono_ms() - t0 < 5000) {
        uint8_t wu[12];
        yhdr(wu, 0, Y_WINDOW, 0, 1, 0);
        raw_write(&r, wu, sizeof wu); /* traffic that must not count as the peer being alive */
        closed = atomic_load(&s.disconnected) > 0;
        usleep(100000);
    }
    CHECK(srv_disconnected_with(&s, 1, "peer is not reading (nothing sent for", 100));
    printf("write stall: dropped %llu ms after the source started\n",
           (unsigned long long)(clock_mono_ms() - t0));
    raw_free(&r);
    srv_finish(&s);
}

static void tune_keepalive(p2p_host_config *c)
{
    c->keepalive_ms = 200;
}

/* Keepalive counts answers, not received bytes: a peer that keeps sending but never reads
 * (so never answers our ping) is dropped for the missing pong. */
static void test_keepalive_needs_pongs(void)
{
    server s;
    if (srv_start(&s, tune_keepalive) < 0) {
        CHECK(!"server starts");
        return;
    }
    raw r;
    CHECK_EQ(raw_upgrade(&r, s.port), 0);
    CHECK(wait_connected(&s, 1));
    uint8_t m[128];
    size_t hn = mss_msg(MSS_HEADER, m);
    hn += mss_msg(P2P_PROTO_PING, m + hn);
    CHECK_EQ(ysend(&r, Y_DATA, Y_SYN, 1, m, hn), 0);
    uint64_t t0 = clock_mono_ms();
    while (atomic_load(&s.disconnected) == 0 && clock_mono_ms() - t0 < 3000) {
        uint8_t wu[12];
        yhdr(wu, 0, Y_WINDOW, 0, 1, 0);
        raw_write(&r, wu, sizeof wu);
        usleep(50000);
    }
    CHECK(srv_disconnected_with(&s, 1, "keepalive timeout", 100));
    CHECK(clock_mono_ms() - t0 < 2000);
    raw_free(&r);
    srv_finish(&s);
}

static void reset_hold(server *s, void *arg)
{
    (void)arg;
    if (s->hold)
        p2p_stream_reset(s->hold);
}

static void on_srv_ping(p2p_host *h, const p2p_peer_id *peer, int status, double rtt_ms,
                        const char *err, void *user)
{
    server *s = user;
    (void)h;
    (void)peer;
    (void)rtt_ms;
    (void)err;
    atomic_store(&s->ping_ms, (long long)(clock_mono_ms() - s->ping_t0));
    atomic_store(&s->ping_status, status);
    atomic_store(&s->ping_done, 1);
}

static void start_ping(server *s, void *arg)
{
    char err[256];
    (void)arg;
    s->ping_t0 = clock_mono_ms();
    if (p2p_ping(s->h, &s->peer, on_srv_ping, s, err, sizeof err) != 0) {
        atomic_store(&s->ping_status, 1); /* not -1: the test wants the later failure */
        atomic_store(&s->ping_done, 1);
    }
}

static void disconnect_peer(server *s, void *arg)
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
    server s;
    if (srv_start(&s, tune_patient) < 0) {
        CHECK(!"server starts");
        return;
    }
    raw r;
    CHECK_EQ(raw_upgrade_rcvbuf(&r, s.port, 4096), 0);
    CHECK(wait_connected(&s, 1));
    uint8_t m[128];
    size_t hn = mss_msg(MSS_HEADER, m);
    hn += mss_msg(HOLD_PROTO, m + hn);
    CHECK_EQ(ysend(&r, Y_DATA, Y_SYN, 1, m, hn), 0);
    CHECK(wait_atomic(&s.hold_open, 1, 3000));
    CHECK_EQ(open_source(&r, 3), 0);
    usleep(500000);

    CHECK(srv_call(&s, reset_hold, NULL));
    CHECK(wait_atomic(&s.hold_closed, 1, 2000));

    CHECK(srv_call(&s, start_ping, NULL));
    CHECK(wait_atomic(&s.ping_done, 1, 14000));
    CHECK_EQ(atomic_load(&s.ping_status), -1);
    long long took = atomic_load(&s.ping_ms);
    printf("stalled output: ping failed after %lld ms\n", took);
    CHECK(took >= 9000 && took < 13000);

    /* pings while stalled: their pongs queue up in yamux (about 24 KiB of them) */
    uint8_t ping[12 * 2000];
    for (int i = 0; i < 2000; i++)
        yhdr(ping + 12 * i, 0, Y_PING, Y_SYN, 0, (uint32_t)i);
    CHECK_EQ(raw_write(&r, ping, sizeof ping), 0);
    usleep(200000);
    CHECK_EQ(atomic_load(&s.disconnected), 0);
    CHECK(srv_call(&s, disconnect_peer, NULL));
    raw_rcvbuf(&r, 4 << 20); /* read it all within the host's linger */
    CHECK(ydrain_goaway(&r, 3000));
    CHECK(wait_atomic(&s.disconnected, 1, 2000));
    raw_free(&r);
    srv_finish(&s);
}

/* ---- identify and GoAway ------------------------------------------------------------------ */

/* Answers the host's identify request (its first stream, id 2) with a valid message followed,
 * in the same frame, by more bytes than the message limit, then FIN. */
static bool answer_identify_with_trailer(raw *r)
{
    uint8_t m[128], got[128];
    size_t hn = mss_msg(MSS_HEADER, m);
    hn += mss_msg(P2P_PROTO_IDENTIFY, m + hn);
    if (yread(r, 2, got, hn, 3000) != (int)hn || memcmp(got, m, hn) != 0)
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
         ysend(r, Y_DATA, Y_ACK | Y_FIN, 2, body.data, body.len) == 0;
    buf_free(&body);
    return ok;
}

/* A valid identify message with more bytes after it is taken; a GoAway from the peer makes the
 * connection unusable and closes it once its streams are done. */
static void test_identify_and_goaway(void)
{
    server s;
    if (srv_start(&s, NULL) < 0) {
        CHECK(!"server starts");
        return;
    }
    raw r;
    CHECK_EQ(raw_upgrade(&r, s.port), 0);
    CHECK(wait_connected(&s, 1));
    CHECK(answer_identify_with_trailer(&r));
    CHECK(wait_atomic(&s.identified, 1, 3000));
    CHECK_EQ(atomic_load(&s.errors), 0);
    char msg[512];
    srv_msg(&s, s.err_msg, msg, sizeof msg);
    if (msg[0])
        fprintf(stderr, "server error: %s\n", msg);

    uint8_t ga[12];
    yhdr(ga, 0, Y_GOAWAY, 0, 0, 0);
    CHECK_EQ(raw_write(&r, ga, sizeof ga), 0);
    CHECK(raw_closed_within(&r, 2000));
    CHECK(srv_disconnected_with(&s, 1, "GoAway", 1000));
    raw_free(&r);
    srv_finish(&s);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"refusals", test_refusals},
        {"write_stall", test_write_stall},
        {"keepalive_needs_pongs", test_keepalive_needs_pongs},
        {"identify_and_goaway", test_identify_and_goaway},
        {"stalled_output", test_stalled_output},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        uint64_t t0 = clock_mono_ms();
        tests[i].fn();
        printf("%-24s %6llu ms\n", tests[i].name, (unsigned long long)(clock_mono_ms() - t0));
    }
    return CHECK_DONE();
}
