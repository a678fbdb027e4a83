/* raw_peer.h - a host in its own thread, and raw peers that talk to it over blocking sockets,
 * built from the sans-IO pieces (mss, Noise, Yamux frames) so that a test can send exactly the
 * bytes it wants, from any loopback source address, under any identity. Header-only: static
 * functions, for tests/unit/test_p2p_rcmgr.c (test_p2p_abuse.c has its own copy of the same
 * toolkit, to be unified). */
#ifndef SWARM_TEST_RAW_PEER_H
#define SWARM_TEST_RAW_PEER_H

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

#include "mss.h"
#include "noise.h"
#include "p2p.h"

/* ---- the host, in its own thread ---------------------------------------------------------- */

#define RP_PATTERNS 4 /* substrings counted in the host's error events */

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
    atomic_int connected, errors;
    const char *pattern[RP_PATTERNS]; /* set before rp_start_server; NULL = unused */
    atomic_int hits[RP_PATTERNS];     /* error events whose message contains pattern[i] */
    uv_mutex_t mu;                    /* guards err_msg and call_fn/call_arg */
    char err_msg[512];
    rp_fn call_fn;
    void *call_arg;
    atomic_int call_done;
};

static inline void rp_server_event(p2p_host *h, const p2p_event *ev, void *user)
{
    (void)h;
    rp_server *s = user;
    if (ev->type == P2P_EV_CONNECTED)
        atomic_fetch_add(&s->connected, 1);
    if (ev->type != P2P_EV_ERROR)
        return;
    const char *m = ev->message ? ev->message : "";
    for (int i = 0; i < RP_PATTERNS; i++)
        if (s->pattern[i] && strstr(m, s->pattern[i]))
            atomic_fetch_add(&s->hits[i], 1);
    uv_mutex_lock(&s->mu);
    snprintf(s->err_msg, sizeof s->err_msg, "%s", m);
    uv_mutex_unlock(&s->mu);
    atomic_fetch_add(&s->errors, 1);
}

/* Copies the last error message under the lock. */
static inline void rp_last_error(rp_server *s, char *out, size_t cap)
{
    uv_mutex_lock(&s->mu);
    snprintf(out, cap, "%s", s->err_msg);
    uv_mutex_unlock(&s->mu);
}

static inline void rp_on_stop(uv_async_t *a)
{
    rp_server *s = a->data;
    p2p_host_close(s->h, NULL, NULL);
    uv_close((uv_handle_t *)a, NULL);
    uv_close((uv_handle_t *)&s->call, NULL);
}

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

/* Runs fn(s, arg) on the host's thread and waits (up to 3 s) for it to return. */
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

static inline void rp_server_main(void *arg)
{
    rp_server *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
}

/* Starts a host listening on 127.0.0.1 in its own thread with cfg (key filled in here). Set
 * s->pattern before, the rest of s is initialised here. */
static inline int rp_start_server(rp_server *s, p2p_host_config cfg)
{
    char err[256];
    const char *pattern[RP_PATTERNS];
    memcpy(pattern, s->pattern, sizeof pattern);
    memset(s, 0, sizeof *s);
    memcpy(s->pattern, pattern, sizeof pattern);
    if (p2p_key_generate(&s->key, err, sizeof err) < 0 || uv_loop_init(&s->loop) != 0 ||
        uv_mutex_init(&s->mu) != 0)
        return -1;
    cfg.key = &s->key;
    if (p2p_host_new(&s->loop, &cfg, rp_server_event, s, &s->h, err, sizeof err) < 0 ||
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

/* Waits up to ms for *v to reach n. */
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

/* Connects from src (as rp_socket_from) to 127.0.0.1:port. */
static inline int rp_connect_from(rp_raw *r, const char *src, int port)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->in, 1 << 20);
    buf_init(&r->plain, 1 << 20);
    r->fd = rp_socket_from(src);
    if (r->fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return connect(r->fd, (struct sockaddr *)&sa, sizeof sa);
}

static inline void rp_free(rp_raw *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    buf_free(&r->in);
    buf_free(&r->plain);
}

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

/* Sends plaintext, encrypted in Noise frames once the channel is secure. */
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

/* Waits up to ms for bytes. Returns 1 (got some), 0 (EOF or reset), -1 (timeout). */
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
        memmove(r->in.data, r->in.data + 2 + body, r->in.len - 2 - body);
        r->in.len -= 2 + body;
    }
    return 1;
}

/* True if the peer closes the connection within ms (whatever it sends first). */
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

/* Negotiates proto with multistream-select as the dialer (in the clear or inside Noise). */
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
        if (used) {
            memmove(src->data, src->data + used, src->len - used);
            src->len -= used;
        }
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

/* Runs the Noise handshake as initiator with identity id (NULL: a fresh one). */
static inline int rp_noise(rp_raw *r, const p2p_key *id)
{
    p2p_key fresh;
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
    memmove(r->in.data, r->in.data + 2 + body, r->in.len - 2 - body);
    r->in.len -= 2 + body;
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

/* Connects from src and upgrades to Noise (as id, NULL: fresh) and Yamux. */
static inline int rp_upgrade_from(rp_raw *r, const char *src, int port, const p2p_key *id)
{
    if (rp_connect_from(r, src, port) < 0 || rp_mss(r, NOISE_PROTOCOL) < 0 || rp_noise(r, id) < 0)
        return -1;
    return rp_mss(r, "/yamux/1.0.0");
}

/* ---- Yamux frames ------------------------------------------------------------------------- */

enum { RP_Y_DATA = 0, RP_Y_PING = 2 };
enum { RP_Y_SYN = 1, RP_Y_ACK = 2, RP_Y_RST = 8 };

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

/* Sends one Yamux data frame with body p[0..n). */
static inline int rp_ysend(rp_raw *r, uint16_t flags, uint32_t id, const void *p, size_t n)
{
    uint8_t *f = malloc(12 + n);
    if (!f)
        return -1;
    rp_yhdr(f, RP_Y_DATA, flags, id, (uint32_t)n);
    memcpy(f + 12, p, n);
    int rc = rp_write(r, f, 12 + n);
    free(f);
    return rc;
}

/* Collects want bytes of data for stream id; other frames are skipped, keepalives answered.
 * Returns the count collected, -2 if the stream is reset, -1 on close or timeout. */
static inline int rp_yread(rp_raw *r, uint32_t id, uint8_t *out, size_t want, int ms)
{
    size_t got = 0;
    uint64_t end = clock_mono_ms() + (uint64_t)ms;
    while (got < want) {
        while (r->plain.len >= 12) {
            const uint8_t *h = r->plain.data;
            uint32_t sid = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | h[6] << 8 | h[7];
            uint32_t len = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | h[10] << 8 | h[11];
            uint16_t flags = (uint16_t)(h[2] << 8 | h[3]);
            size_t blen = h[1] == RP_Y_DATA ? len : 0;
            if (r->plain.len < 12 + blen)
                break;
            if (sid == id && (flags & RP_Y_RST))
                return -2;
            for (size_t i = 0; sid == id && h[1] == RP_Y_DATA && i < blen && got < want; i++)
                out[got++] = h[12 + i];
            if (h[1] == RP_Y_PING && (flags & RP_Y_SYN)) {
                uint8_t pong[12];
                rp_yhdr(pong, RP_Y_PING, RP_Y_ACK, 0, len);
                rp_write(r, pong, sizeof pong);
            }
            memmove(r->plain.data, r->plain.data + 12 + blen, r->plain.len - 12 - blen);
            r->plain.len -= 12 + blen;
        }
        if (got >= want)
            break;
        if (clock_mono_ms() > end || rp_fill(r, 100) == 0)
            return -1;
    }
    return (int)got;
}

/* A multistream message: uvarint length, text, newline. */
static inline size_t rp_mss_msg(const char *text, uint8_t *out)
{
    size_t n = strlen(text) + 1;
    size_t k = uvarint_encode(n, out);
    memcpy(out + k, text, n - 1);
    out[k + n - 1] = '\n';
    return k + n;
}

/* Opens stream id for ping (SYN, header and protocol in one frame) and pings once. */
static inline bool rp_yping(rp_raw *r, uint32_t id)
{
    uint8_t m[128], got[128], ping[32];
    size_t n = rp_mss_msg(MSS_HEADER, m);
    n += rp_mss_msg(P2P_PROTO_PING, m + n);
    if (rp_ysend(r, RP_Y_SYN, id, m, n) < 0)
        return false;
    if (rp_yread(r, id, got, n, 3000) != (int)n || memcmp(got, m, n) != 0)
        return false;
    randombytes_buf(ping, sizeof ping);
    if (rp_ysend(r, 0, id, ping, sizeof ping) < 0)
        return false;
    return rp_yread(r, id, got, 32, 3000) == 32 && memcmp(got, ping, 32) == 0;
}

#endif
