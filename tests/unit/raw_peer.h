/* raw_peer.h - the raw-peer toolkit of the p2p tests: a real host in its own thread, and raw
 * peers that talk to it over blocking sockets.
 *
 * The raw peers are built from the sans-IO pieces (mss, Noise, Yamux frames by hand) so that a
 * test can send exactly the bytes it wants, right or wrong, from any loopback source address,
 * under any identity, with any receive buffer. The host counts its events, keeps the last error
 * and disconnect messages, serves two test protocols (RP_HOLD_PROTO, RP_SOURCE_PROTO) and runs
 * code on its own thread on request (rp_call).
 *
 * Header-only (static functions), shared by test_p2p_abuse.c, test_p2p_memory.c and
 * test_p2p_rcmgr.c. */
#ifndef SWARM_TEST_RAW_PEER_H
#define SWARM_TEST_RAW_PEER_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
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

/* ---- the host, in its own thread ---------------------------------------------------------- */

#define RP_PATTERNS 4 /* substrings counted in the host's error events */

/* The host's handler pauses a stream of this protocol and never reads it; the test can reach
 * the last one as rp_server.hold (on the host's thread). */
#define RP_HOLD_PROTO "/test/hold/1.0.0"
/* The host's handler writes zeros on a stream of this protocol for as long as it takes them. */
#define RP_SOURCE_PROTO "/test/source/1.0.0"

typedef struct rp_server rp_server;
typedef void (*rp_fn)(rp_server *s, void *arg);

struct rp_server {
    uv_loop_t loop;
    uv_async_t stop;
    uv_async_t call; /* runs call_fn on the host's thread: see rp_call */
    uv_thread_t thread;
    p2p_host *h;
    p2p_key key;
    int port;
    atomic_int connected, disconnected, identified, errors; /* the host's events so far */
    const char *pattern[RP_PATTERNS]; /* from rp_start_server; NULL = unused */
    atomic_int hits[RP_PATTERNS];     /* error events whose message contains pattern[i] */
    uv_mutex_t mu;                    /* guards err_msg, disc_msg and call_fn/call_arg */
    char err_msg[512], disc_msg[256]; /* the last error and disconnect messages */
    rp_fn call_fn;
    void *call_arg;
    atomic_int call_done;
    atomic_int hold_open, hold_closed; /* streams of RP_HOLD_PROTO opened and closed */
    /* touched on the host's thread only */
    p2p_peer_id peer; /* the last peer that connected */
    p2p_stream *hold; /* the last stream of RP_HOLD_PROTO, until it closes */
};

/* Counts the host's events and keeps their messages (on the host's thread). */
static inline void rp_server_event(p2p_host *h, const p2p_event *ev, void *user)
{
    (void)h;
    rp_server *s = user;
    const char *m = ev->message ? ev->message : "";
    switch (ev->type) {
    case P2P_EV_CONNECTED:
        s->peer = *ev->peer;
        atomic_fetch_add(&s->connected, 1);
        break;
    case P2P_EV_DISCONNECTED:
        uv_mutex_lock(&s->mu);
        snprintf(s->disc_msg, sizeof s->disc_msg, "%s", m);
        uv_mutex_unlock(&s->mu);
        atomic_fetch_add(&s->disconnected, 1);
        break;
    case P2P_EV_IDENTIFIED:
        atomic_fetch_add(&s->identified, 1);
        break;
    case P2P_EV_ERROR:
        for (int i = 0; i < RP_PATTERNS; i++)
            if (s->pattern[i] && strstr(m, s->pattern[i]))
                atomic_fetch_add(&s->hits[i], 1);
        uv_mutex_lock(&s->mu);
        snprintf(s->err_msg, sizeof s->err_msg, "%s", m);
        uv_mutex_unlock(&s->mu);
        atomic_fetch_add(&s->errors, 1);
        break;
    default:
        break;
    }
}

/* Copies the last error message ("" if none) under the lock. */
static inline void rp_last_error(rp_server *s, char *out, size_t cap)
{
    uv_mutex_lock(&s->mu);
    snprintf(out, cap, "%s", s->err_msg);
    uv_mutex_unlock(&s->mu);
}

/* Copies the last disconnect message ("" if none) under the lock. */
static inline void rp_last_disconnect(rp_server *s, char *out, size_t cap)
{
    uv_mutex_lock(&s->mu);
    snprintf(out, cap, "%s", s->disc_msg);
    uv_mutex_unlock(&s->mu);
}

/* A stream of RP_HOLD_PROTO closed: counted, and forgotten as rp_server.hold. */
static inline void rp_hold_close(p2p_stream *st, const char *reason, void *user)
{
    rp_server *s = user;
    (void)reason;
    if (s->hold == st)
        s->hold = NULL;
    atomic_fetch_add(&s->hold_closed, 1);
}

/* Takes a stream of RP_HOLD_PROTO: paused (never read), counted, kept as rp_server.hold. */
static inline void rp_hold_handler(p2p_stream *st, void *user)
{
    rp_server *s = user;
    static const p2p_stream_cbs cbs = {.on_close = rp_hold_close};
    p2p_stream_set_cbs(st, &cbs, s);
    p2p_stream_pause(st, true);
    s->hold = st;
    atomic_fetch_add(&s->hold_open, 1);
}

/* Writes zeros until the stream's queue is full; called again when it has room. */
static inline void rp_source_pump(p2p_stream *st, void *user)
{
    static const uint8_t zeros[64 * 1024];
    (void)user;
    while (p2p_stream_write(st, zeros, sizeof zeros) == (ssize_t)sizeof zeros)
        ; /* until yamux's queue is full: on_writable comes back */
}

/* Takes a stream of RP_SOURCE_PROTO: writes zeros on it for as long as it takes them. */
static inline void rp_source_handler(p2p_stream *st, void *user)
{
    static const p2p_stream_cbs cbs = {.on_writable = rp_source_pump};
    p2p_stream_set_cbs(st, &cbs, user);
    rp_source_pump(st, user);
}

/* On the host's thread: closes the host and the loop's handles, so that the loop ends. */
static inline void rp_on_stop(uv_async_t *a)
{
    rp_server *s = a->data;
    p2p_host_close(s->h, NULL, NULL);
    uv_close((uv_handle_t *)a, NULL);
    uv_close((uv_handle_t *)&s->call, NULL);
}

/* On the host's thread: runs the function rp_call asked for, then says it is done. */
static inline void rp_on_call(uv_async_t *a)
{
    rp_server *s = a->data;
    uv_mutex_lock(&s->mu);
    rp_fn fn = s->call_fn;
    void *arg = s->call_arg;
    s->call_fn = NULL;
    uv_mutex_unlock(&s->mu);
    if (fn) {
        fn(s, arg);
        atomic_store(&s->call_done, 1);
    }
}

/* Runs fn(s, arg) on the host's thread and waits (up to 3 s) for it to return; true if it did. */
static inline bool rp_call(rp_server *s, rp_fn fn, void *arg)
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

/* The host's thread: runs its loop until rp_stop_server. */
static inline void rp_server_main(void *arg)
{
    rp_server *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
}

/* Starts a host listening on 127.0.0.1 in its own thread with cfg (key filled in here),
 * serving RP_HOLD_PROTO and RP_SOURCE_PROTO; s is initialised here. patterns (NULL: none)
 * lists up to RP_PATTERNS substrings, ended by NULL, whose error events s->hits counts.
 * Returns 0, or -1 (with a message on stderr if the host refused). */
static inline int rp_start_server(rp_server *s, p2p_host_config cfg, const char *const *patterns)
{
    char err[256];
    memset(s, 0, sizeof *s);
    for (int i = 0; patterns && i < RP_PATTERNS && patterns[i]; i++)
        s->pattern[i] = patterns[i];
    if (p2p_key_generate(&s->key, err, sizeof err) < 0 || uv_loop_init(&s->loop) != 0 ||
        uv_mutex_init(&s->mu) != 0)
        return -1;
    cfg.key = &s->key;
    if (p2p_host_new(&s->loop, &cfg, rp_server_event, s, &s->h, err, sizeof err) < 0 ||
        p2p_host_handle(s->h, RP_HOLD_PROTO, rp_hold_handler, s, err, sizeof err) < 0 ||
        p2p_host_handle(s->h, RP_SOURCE_PROTO, rp_source_handler, s, err, sizeof err) < 0 ||
        p2p_host_listen(s->h, "/ip4/127.0.0.1/tcp/0", err, sizeof err) < 0) {
        fprintf(stderr, "server: %s\n", err);
        return -1;
    }
    p2p_maddr ma;
    p2p_tcp_addr ta;
    if (p2p_host_listen_addrs(s->h, &ma, 1) < 1 || p2p_maddr_to_tcp(&ma, &ta, err, sizeof err) < 0)
        return -1;
    s->port = ta.port;
    uv_async_init(&s->loop, &s->stop, rp_on_stop);
    uv_async_init(&s->loop, &s->call, rp_on_call);
    s->stop.data = s;
    s->call.data = s;
    return uv_thread_create(&s->thread, rp_server_main, s) == 0 ? 0 : -1;
}

/* The default host configuration adjusted by tune (may be NULL). */
static inline p2p_host_config rp_config(void (*tune)(p2p_host_config *c))
{
    p2p_host_config cfg;
    p2p_host_config_default(&cfg);
    if (tune)
        tune(&cfg);
    return cfg;
}

/* Closes the host and its loop; returns uv_loop_close's result (0: nothing left open). */
static inline int rp_stop_server(rp_server *s)
{
    uv_async_send(&s->stop);
    uv_thread_join(&s->thread);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    int r = uv_loop_close(&s->loop);
    uv_mutex_destroy(&s->mu);
    return r;
}

/* Waits up to ms for *v (set by the host's thread) to reach n; true if it did. */
static inline bool rp_wait_atomic(atomic_int *v, int n, int ms)
{
    uint64_t end = clock_mono_ms() + (uint64_t)ms;
    while (atomic_load(v) < n && clock_mono_ms() < end)
        usleep(2000);
    return atomic_load(v) >= n;
}

/* ---- a raw peer over a blocking socket ---------------------------------------------------- */

typedef struct {
    int fd;
    bool secure;
    noise_cipher tx, rx;
    buf_t in;    /* received bytes not yet used (ciphertext frames when secure) */
    buf_t plain; /* decrypted bytes not yet used */
} rp_raw;

/* Drops the first n bytes of b (none: b untouched, even if it has no storage yet). */
static inline void rp_consume(buf_t *b, size_t n)
{
    if (n == 0)
        return;
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* Sets our socket's receive buffer (a large one: to read fast after having stalled the host). */
static inline void rp_set_rcvbuf(rp_raw *r, int bytes)
{
    setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

/* A TCP socket bound to loopback address src ("127.0.0.2"; NULL: the kernel's choice). */
static inline int rp_socket_from(const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || !src)
        return fd;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int one = 1;
#ifdef IP_BIND_ADDRESS_NO_PORT
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one); /* port at connect */
#else
    (void)one;
#endif
    if (inet_pton(AF_INET, src, &sa.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Connects from src (as rp_socket_from) to 127.0.0.1:port; rcvbuf > 0 sets our receive buffer
 * first (before the Yamux window is agreed, so that it really is small). r is initialised here
 * and wants rp_free even on failure. Returns 0 or -1. */
static inline int rp_connect_from(rp_raw *r, const char *src, int port, int rcvbuf)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->in, 1 << 20);
    buf_init(&r->plain, 1 << 20);
    r->fd = rp_socket_from(src);
    if (r->fd < 0)
        return -1;
    if (rcvbuf > 0)
        rp_set_rcvbuf(r, rcvbuf);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return connect(r->fd, (struct sockaddr *)&sa, sizeof sa);
}

/* rp_connect_from from the kernel's choice of source address. */
static inline int rp_connect(rp_raw *r, int port, int rcvbuf)
{
    return rp_connect_from(r, NULL, port, rcvbuf);
}

/* Closes the socket and frees the buffers; safe to call twice. */
static inline void rp_free(rp_raw *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    buf_free(&r->in);
    buf_free(&r->plain);
}

/* Sends all n bytes as they are (no encryption). Returns 0, or -1 if the socket failed. */
static inline int rp_send(rp_raw *r, const void *p, size_t n)
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

/* Sends plaintext, encrypted in Noise frames once the channel is secure. Returns 0 or -1. */
static inline int rp_write(rp_raw *r, const void *p, size_t n)
{
    if (!r->secure)
        return rp_send(r, p, n);
    buf_t out;
    buf_init(&out, 0);
    const uint8_t *b = p;
    int rc = 0;
    while (n && rc == 0) {
        size_t k = n < NOISE_MAX_PLAINTEXT ? n : NOISE_MAX_PLAINTEXT;
        rc = noise_encrypt(&r->tx, b, k, &out) < 0 ? -1 : 0;
        b += k;
        n -= k;
    }
    if (rc == 0)
        rc = rp_send(r, out.data, out.len);
    buf_free(&out);
    return rc;
}

/* Waits up to ms for bytes and adds them to r->in (and, decrypted, to r->plain once secure).
 * Returns 1 (got some), 0 (EOF, reset or a frame that does not decrypt), -1 (timeout). */
static inline int rp_fill(rp_raw *r, int ms)
{
    struct pollfd pfd = {r->fd, POLLIN, 0};
    if (poll(&pfd, 1, ms) <= 0)
        return -1;
    uint8_t tmp[65536];
    ssize_t n = recv(r->fd, tmp, sizeof tmp, 0);
    if (n <= 0 || buf_append(&r->in, tmp, (size_t)n) < 0)
        return 0;
    size_t body;
    while (r->secure && noise_frame(r->in.data, r->in.len, &body)) {
        uint8_t pt[65536];
        size_t ptlen;
        char err[128];
        if (noise_decrypt(&r->rx, r->in.data + 2, body, pt, &ptlen, err, sizeof err) < 0 ||
            buf_append(&r->plain, pt, ptlen) < 0)
            return 0;
        rp_consume(&r->in, 2 + body);
    }
    return 1;
}

/* True if the peer closes the connection within ms (whatever it sends first is dropped). */
static inline bool rp_closed_within(rp_raw *r, int ms)
{
    uint64_t end = clock_mono_ms() + (uint64_t)ms;
    while (clock_mono_ms() < end) {
        int rc = rp_fill(r, 20);
        if (rc == 0)
            return true;
        r->in.len = 0;
        r->plain.len = 0;
    }
    return false;
}

/* Negotiates proto with multistream-select as the dialer (in the clear or inside Noise), within
 * 3 s. Returns 0, or -1 if refused, closed or late. */
static inline int rp_mss(rp_raw *r, const char *proto)
{
    mss m;
    buf_t out;
    buf_init(&out, 0);
    const char *protos[1] = {proto};
    if (mss_dialer(&m, protos, 1, &out) < 0 || rp_write(r, out.data, out.len) < 0) {
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
        rp_consume(src, used);
        if (st == MSS_DONE) {
            rc = 0;
            break;
        }
        if (st == MSS_FAIL || rp_fill(r, 100) == 0)
            break;
    }
    buf_free(&out);
    return rc;
}

/* Runs the Noise handshake as initiator with identity id (NULL: a fresh one), within 3 s. With
 * forge, the payload names id's key but is signed by another one. Returns 0 (r->secure), or -1
 * if the handshake failed. */
static inline int rp_noise(rp_raw *r, const p2p_key *id, bool forge)
{
    p2p_key fresh, other;
    uint8_t ssk[32], spk[32];
    char err[256];
    if (!id) {
        p2p_key_generate(&fresh, err, sizeof err);
        id = &fresh;
    }
    noise_static_keypair(ssk, spk);
    noise_hs hs;
    if (noise_hs_init(&hs, true, id, ssk, spk, err, sizeof err) < 0)
        return -1;
    if (forge) {
        p2p_key_generate(&other, err, sizeof err);
        memcpy(hs.id.sk, other.sk, sizeof hs.id.sk);
    }
    buf_t out;
    buf_init(&out, 0);
    int rc = -1;
    size_t body;
    uint64_t end = clock_mono_ms() + 3000;
    if (noise_hs_write(&hs, &out, err, sizeof err) < 0 || rp_send(r, out.data, out.len) < 0)
        goto done;
    buf_clear(&out);
    while (!noise_frame(r->in.data, r->in.len, &body))
        if (clock_mono_ms() > end || rp_fill(r, 100) == 0)
            goto done;
    if (noise_hs_read(&hs, r->in.data + 2, body, err, sizeof err) < 0)
        goto done;
    rp_consume(&r->in, 2 + body);
    if (noise_hs_write(&hs, &out, err, sizeof err) < 0 || rp_send(r, out.data, out.len) < 0)
        goto done;
    noise_hs_split(&hs, &r->tx, &r->rx);
    r->secure = true;
    rc = 0;
done:
    noise_hs_wipe(&hs);
    buf_free(&out);
    return rc;
}

/* Connects from src with rcvbuf (as rp_connect_from) and upgrades to Noise (as id, NULL: a
 * fresh identity) and Yamux. Returns 0 or -1; r wants rp_free either way. */
static inline int rp_upgrade_from(rp_raw *r, const char *src, int port, const p2p_key *id,
                                  int rcvbuf)
{
    if (rp_connect_from(r, src, port, rcvbuf) < 0 || rp_mss(r, NOISE_PROTOCOL) < 0 ||
        rp_noise(r, id, false) < 0)
        return -1;
    return rp_mss(r, "/yamux/1.0.0");
}

/* rp_upgrade_from from the kernel's choice of source address, with a fresh identity. */
static inline int rp_upgrade(rp_raw *r, int port, int rcvbuf)
{
    return rp_upgrade_from(r, NULL, port, NULL, rcvbuf);
}

/* ---- Yamux frames ------------------------------------------------------------------------- */

enum { RP_Y_DATA = 0, RP_Y_WINDOW = 1, RP_Y_PING = 2, RP_Y_GOAWAY = 3 };
enum { RP_Y_SYN = 1, RP_Y_ACK = 2, RP_Y_FIN = 4, RP_Y_RST = 8 };

/* Writes a Yamux header (version 0) into h. */
static inline void rp_yhdr(uint8_t h[12], uint8_t type, uint16_t flags, uint32_t id, uint32_t len)
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

/* Sends one Yamux data frame with body p[0..n) (n may be 0, p then NULL). Returns 0 or -1. */
static inline int rp_ysend(rp_raw *r, uint16_t flags, uint32_t id, const void *p, size_t n)
{
    uint8_t *f = malloc(12 + n);
    if (!f)
        return -1;
    rp_yhdr(f, RP_Y_DATA, flags, id, (uint32_t)n);
    if (n)
        memcpy(f + 12, p, n);
    int rc = rp_write(r, f, 12 + n);
    free(f);
    return rc;
}

/* One Yamux frame as received. */
typedef struct {
    uint8_t type;
    uint16_t flags;
    uint32_t id, len; /* len: the header's length field (a ping's value for pings) */
    size_t size;      /* header and body: what the frame takes of the input */
    const uint8_t *body;
} rp_yframe;

/* Decodes the frame at p[0..n); false if it has not all arrived yet. */
static inline bool rp_yframe_at(const uint8_t *p, size_t n, rp_yframe *f)
{
    if (n < 12)
        return false;
    f->type = p[1];
    f->flags = (uint16_t)(p[2] << 8 | p[3]);
    f->id = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | p[6] << 8 | p[7];
    f->len = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | p[10] << 8 | p[11];
    f->size = 12 + (f->type == RP_Y_DATA ? f->len : 0);
    f->body = p + 12;
    return n >= f->size;
}

/* Answers f if it is a keepalive ping (SYN), as a well-behaved peer would. */
static inline void rp_yanswer_ping(rp_raw *r, const rp_yframe *f)
{
    if (f->type == RP_Y_PING && (f->flags & RP_Y_SYN)) {
        uint8_t pong[12];
        rp_yhdr(pong, RP_Y_PING, RP_Y_ACK, 0, f->len);
        rp_write(r, pong, sizeof pong);
    }
}

/* Collects want bytes of data for stream id; other frames are skipped, keepalives answered.
 * Returns the count collected, -2 if the stream is reset, -1 on close or timeout. */
static inline int rp_yread(rp_raw *r, uint32_t id, uint8_t *out, size_t want, int ms)
{
    size_t got = 0;
    uint64_t end = clock_mono_ms() + (uint64_t)ms;
    while (got < want) {
        rp_yframe f;
        while (rp_yframe_at(r->plain.data, r->plain.len, &f)) {
            if (f.id == id && (f.flags & RP_Y_RST))
                return -2;
            for (size_t i = 0; f.id == id && f.type == RP_Y_DATA && i < f.len && got < want; i++)
                out[got++] = f.body[i];
            rp_yanswer_ping(r, &f);
            rp_consume(&r->plain, f.size);
        }
        if (got >= want)
            break;
        if (clock_mono_ms() > end || rp_fill(r, 100) == 0)
            return -1;
    }
    return (int)got;
}

/* What the raw peer saw from the host on its streams (ids below RP_YSCAN_IDS). */
#define RP_YSCAN_IDS 4096
typedef struct {
    uint8_t rst[RP_YSCAN_IDS];  /* the host reset this stream */
    uint32_t got[RP_YSCAN_IDS]; /* data bytes received on it */
} rp_yscan;

/* Reads what the host sends for ms (or until want_id has at least want bytes, or was reset),
 * answering keepalive pings and noting data and resets per stream in y. Returns -1 if the
 * connection closed, else 0. */
static inline int rp_yscan_run(rp_raw *r, rp_yscan *y, int ms, uint32_t want_id, uint32_t want)
{
    uint64_t end = clock_mono_ms() + (uint64_t)ms;
    for (;;) {
        rp_yframe f;
        while (rp_yframe_at(r->plain.data, r->plain.len, &f)) {
            if (f.id < RP_YSCAN_IDS && (f.flags & RP_Y_RST))
                y->rst[f.id] = 1;
            if (f.id < RP_YSCAN_IDS && f.type == RP_Y_DATA)
                y->got[f.id] += f.len;
            rp_yanswer_ping(r, &f);
            rp_consume(&r->plain, f.size);
        }
        if (want_id && want_id < RP_YSCAN_IDS && (y->rst[want_id] || y->got[want_id] >= want))
            return 0;
        if (clock_mono_ms() > end)
            return 0;
        if (rp_fill(r, 50) == 0)
            return -1;
    }
}

/* A multistream message: uvarint length, text, newline. Returns its size in out. */
static inline size_t rp_mss_msg(const char *text, uint8_t *out)
{
    size_t n = strlen(text) + 1;
    size_t k = uvarint_encode(n, out);
    memcpy(out + k, text, n - 1);
    out[k + n - 1] = '\n';
    return k + n;
}

/* The multistream header and proto, as a dialer sends them first on a new stream (and as the
 * listener echoes them). Returns their size in out. */
static inline size_t rp_mss_open(const char *proto, uint8_t *out)
{
    size_t n = rp_mss_msg(MSS_HEADER, out);
    return n + rp_mss_msg(proto, out + n);
}

/* Pings once on stream id, already negotiated for ping; true if the echo came back. */
static inline bool rp_yping_again(rp_raw *r, uint32_t id)
{
    uint8_t ping[32], got[32];
    randombytes_buf(ping, sizeof ping);
    if (rp_ysend(r, 0, id, ping, sizeof ping) < 0)
        return false;
    return rp_yread(r, id, got, 32, 3000) == 32 && memcmp(got, ping, 32) == 0;
}

/* Opens stream id for ping (SYN, header and protocol in one frame) and pings once; true if the
 * negotiation's answer and the echo came back. */
static inline bool rp_yping(rp_raw *r, uint32_t id)
{
    uint8_t m[128], got[128];
    size_t n = rp_mss_open(P2P_PROTO_PING, m);
    if (rp_ysend(r, RP_Y_SYN, id, m, n) < 0)
        return false;
    if (rp_yread(r, id, got, n, 3000) != (int)n || memcmp(got, m, n) != 0)
        return false;
    return rp_yping_again(r, id);
}

/* ---- running the tests -------------------------------------------------------------------- */

typedef struct {
    const char *name;
    void (*fn)(void);
} rp_test;

/* Makes the process ready for the toolkit (libsodium, SIGPIPE ignored); -1 if it cannot be. */
static inline int rp_init(void)
{
    if (sodium_init() < 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Runs the n tests in order, printing each one's name and time; returns main's exit code
 * (CHECK_DONE). */
static inline int rp_run_tests(const rp_test *tests, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = clock_mono_ms();
        tests[i].fn();
        printf("%-24s %6llu ms\n", tests[i].name, (unsigned long long)(clock_mono_ms() - t0));
    }
    return CHECK_DONE();
}

#endif
