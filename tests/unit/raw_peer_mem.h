/* raw_peer_mem.h - a host in its own thread and a raw peer (blocking TCP, multistream-select,
 * Noise, hand-made Yamux frames) for the memory tests (test_p2p_memory.c).
 *
 * A copy of the toolkit in test_p2p_abuse.c, cut to what the memory tests use, plus helpers to
 * count the host's resets and to read memory use; the lead will merge the two copies. */
#ifndef SWARM_TEST_RAW_PEER_MEM_H
#define SWARM_TEST_RAW_PEER_MEM_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "check.h"
#include "mss.h"
#include "noise.h"
#include "p2p.h"

/* ---- the host, in its own thread -------------------------------------------------------- */

#define HOLD_PROTO "/test/hold/1.0.0" /* the handler pauses the stream and never reads */

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
    atomic_int connected, disconnected;
    atomic_int hold_open, hold_closed; /* streams of HOLD_PROTO opened and closed */
    uv_mutex_t mu;                     /* guards call_fn/call_arg */
    srv_fn call_fn;
    void *call_arg;
    atomic_int call_done;
};

static void srv_event(p2p_host *h, const p2p_event *ev, void *user)
{
    (void)h;
    server *s = user;
    if (ev->type == P2P_EV_CONNECTED)
        atomic_fetch_add(&s->connected, 1);
    else if (ev->type == P2P_EV_DISCONNECTED)
        atomic_fetch_add(&s->disconnected, 1);
}

static void hold_close(p2p_stream *st, const char *reason, void *user)
{
    server *s = user;
    (void)st;
    (void)reason;
    atomic_fetch_add(&s->hold_closed, 1);
}

static void hold_handler(p2p_stream *st, void *user)
{
    server *s = user;
    static const p2p_stream_cbs cbs = {.on_close = hold_close};
    p2p_stream_set_cbs(st, &cbs, s);
    p2p_stream_pause(st, true);
    atomic_fetch_add(&s->hold_open, 1);
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
    if (tune)
        tune(&cfg);
    if (p2p_host_new(&s->loop, &cfg, srv_event, s, &s->h, err, sizeof err) < 0 ||
        p2p_host_handle(s->h, HOLD_PROTO, hold_handler, s, err, sizeof err) < 0 ||
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

/* Connects to 127.0.0.1:port; rcvbuf > 0 sets our receive buffer first (before the window is
 * agreed, so that it really is small). */
static int raw_connect(raw *r, int port, int rcvbuf)
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
        if (noise_encrypt(&r->tx, b, k, &out) < 0) {
            buf_free(&out);
            return -1;
        }
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
    if (poll(&pfd, 1, ms) <= 0)
        return -1;
    uint8_t tmp[65536];
    ssize_t n = recv(r->fd, tmp, sizeof tmp, 0);
    if (n <= 0 || buf_append(&r->in, tmp, (size_t)n) < 0)
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

/* Negotiates proto with multistream-select (in the clear or inside Noise). */
static int raw_mss(raw *r, const char *proto)
{
    mss m;
    buf_t out;
    buf_init(&out, 0);
    const char *protos[1] = {proto};
    if (mss_dialer(&m, protos, 1, &out) < 0 || raw_write(r, out.data, out.len) < 0) {
        buf_free(&out);
        return -1;
    }
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

/* Runs the Noise handshake as initiator with a new identity. */
static int raw_noise(raw *r)
{
    p2p_key id;
    uint8_t ssk[32], spk[32];
    char err[256];
    p2p_key_generate(&id, err, sizeof err);
    noise_static_keypair(ssk, spk);
    noise_hs hs;
    if (noise_hs_init(&hs, true, &id, ssk, spk, err, sizeof err) < 0)
        return -1;
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

/* Connects and upgrades to Noise + Yamux; rcvbuf as for raw_connect. */
static int raw_upgrade(raw *r, int port, int rcvbuf)
{
    if (raw_connect(r, port, rcvbuf) < 0 || raw_mss(r, NOISE_PROTOCOL) < 0 || raw_noise(r) < 0)
        return -1;
    return raw_mss(r, "/yamux/1.0.0");
}

enum { Y_DATA = 0, Y_WINDOW = 1, Y_PING = 2, Y_GOAWAY = 3 };
enum { Y_SYN = 1, Y_ACK = 2, Y_FIN = 4, Y_RST = 8 };

static void yhdr(uint8_t h[12], uint8_t type, uint16_t flags, uint32_t id, uint32_t len)
{
    h[0] = 0;
    h[1] = type;
    h[2] = (uint8_t)(flags >> 8);
    h[3] = (uint8_t)flags;
    for (int i = 0; i < 4; i++) {
        h[4 + i] = (uint8_t)(id >> (24 - 8 * i));
        h[8 + i] = (uint8_t)(len >> (24 - 8 * i));
    }
}

/* Sends one Yamux data frame with body p[0..n) (n may be 0). */
static int ysend(raw *r, uint16_t flags, uint32_t id, const void *p, size_t n)
{
    uint8_t *f = malloc(12 + n);
    if (!f)
        return -1;
    yhdr(f, Y_DATA, flags, id, (uint32_t)n);
    if (n)
        memcpy(f + 12, p, n);
    int rc = raw_write(r, f, 12 + n);
    free(f);
    return rc;
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

/* The multistream header and proto, as a dialer sends them first on a new stream. */
static size_t mss_open(const char *proto, uint8_t *out)
{
    size_t n = mss_msg(MSS_HEADER, out);
    return n + mss_msg(proto, out + n);
}

/* What the raw peer saw from the host on its streams (ids below YSCAN_IDS). */
#define YSCAN_IDS 4096
typedef struct {
    uint8_t rst[YSCAN_IDS];  /* the host reset this stream */
    uint32_t got[YSCAN_IDS]; /* data bytes received on it */
} yscan;

/* Reads what the host sends for ms (or until want_id has at least want bytes, or was reset),
 * answering keepalive pings and noting data and resets per stream. Returns -1 if the
 * connection closed, else 0. */
static int yscan_run(raw *r, yscan *y, int ms, uint32_t want_id, uint32_t want)
{
    uint64_t end = clock_mono_ms() + (uint64_t)ms;
    for (;;) {
        while (r->plain.len >= 12) {
            const uint8_t *h = r->plain.data;
            uint32_t sid = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | h[6] << 8 | h[7];
            uint32_t len = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | h[10] << 8 | h[11];
            uint16_t flags = (uint16_t)(h[2] << 8 | h[3]);
            size_t blen = h[1] == Y_DATA ? len : 0;
            if (r->plain.len < 12 + blen)
                break;
            if (sid < YSCAN_IDS && (flags & Y_RST))
                y->rst[sid] = 1;
            if (sid < YSCAN_IDS && h[1] == Y_DATA)
                y->got[sid] += (uint32_t)blen;
            if (h[1] == Y_PING && (flags & Y_SYN)) {
                uint8_t pong[12];
                yhdr(pong, Y_PING, Y_ACK, 0, len);
                raw_write(r, pong, sizeof pong);
            }
            memmove(r->plain.data, r->plain.data + 12 + blen, r->plain.len - 12 - blen);
            r->plain.len -= 12 + blen;
        }
        if (want_id && want_id < YSCAN_IDS && (y->rst[want_id] || y->got[want_id] >= want))
            return 0;
        if (clock_mono_ms() > end)
            return 0;
        if (raw_fill(r, 50) == 0)
            return -1;
    }
}

/* ---- memory -------------------------------------------------------------------------------- */

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

#endif
