/* test_p2p_abuse.c - a host under attack keeps serving its other peers.
 *
 * A real host listens on 127.0.0.1 in its own thread (its libuv loop). The test plays raw peers
 * over blocking sockets, built from the sans-IO pieces so that it can send exactly the wrong
 * bytes: a forged Noise signature, an oversized multistream message, garbage instead of Noise,
 * a Yamux frame overrunning the window, a bad Yamux version, an oversized protocol name inside
 * a stream. Each must be refused (connection or stream closed), and a well-behaved peer that
 * connected first must still get its pings answered afterwards. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
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

typedef struct {
    uv_loop_t loop;
    uv_async_t stop;
    uv_thread_t thread;
    p2p_host *h;
    p2p_key key;
    int port;
    atomic_int connected, disconnected;
    atomic_int ready;
} server;

static void srv_event(p2p_host *h, const p2p_event *ev, void *user)
{
    (void)h;
    server *s = user;
    if (ev->type == P2P_EV_CONNECTED)
        atomic_fetch_add(&s->connected, 1);
    else if (ev->type == P2P_EV_DISCONNECTED)
        atomic_fetch_add(&s->disconnected, 1);
}

static void srv_stop(uv_async_t *a)
{
    server *s = a->data;
    p2p_host_close(s->h, NULL, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

static void srv_main(void *arg)
{
    server *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
}

static int srv_start(server *s)
{
    char err[256];
    memset(s, 0, sizeof *s);
    if (p2p_key_generate(&s->key, err, sizeof err) < 0 || uv_loop_init(&s->loop) != 0)
        return -1;
    p2p_host_config cfg;
    p2p_host_config_default(&cfg);
    cfg.key = &s->key;
    cfg.handshake_timeout_ms = 3000;
    if (p2p_host_new(&s->loop, &cfg, srv_event, s, &s->h, err, sizeof err) < 0 ||
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
    s->stop.data = s;
    return uv_thread_create(&s->thread, srv_main, s) == 0 ? 0 : -1;
}

static void srv_finish(server *s)
{
    uv_async_send(&s->stop);
    uv_thread_join(&s->thread);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&s->loop), 0);
}

/* ---- a raw peer over a blocking socket ---------------------------------------------------- */

typedef struct {
    int fd;
    bool secure;
    noise_cipher tx, rx;
    buf_t in;    /* received bytes not yet used (ciphertext frames when secure) */
    buf_t plain; /* decrypted bytes not yet used */
} raw;

static int raw_connect(raw *r, int port)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->in, 1 << 20);
    buf_init(&r->plain, 1 << 20);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
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

/* Connects and upgrades to Noise + Yamux. */
static int raw_upgrade(raw *r, int port)
{
    if (raw_connect(r, port) < 0 || raw_mss(r, NOISE_PROTOCOL) < 0 || raw_noise(r, false) < 0)
        return -1;
    return raw_mss(r, "/yamux/1.0.0");
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

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    server s;
    if (srv_start(&s) < 0) {
        CHECK(!"server starts");
        return CHECK_DONE();
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
    return CHECK_DONE();
}
