/* test_p2p_rcmgr.c - the resource manager: strangers cannot lock others out.
 *
 * First rcmgr in memory: addresses (/32, /64, IPv4-mapped), the per-address and per-peer
 * limits, which pending connection makes room, and a simulated flood. Then a real host in its
 * own thread (raw_peer.h) against raw peers and a real p2p_host client: one identity cannot
 * hold more than its few connections, one address cannot hold more than its limits, a silent
 * socket is dropped at the first-byte deadline, a full set of handshake slots makes room for a
 * newcomer, and thousands of silent sockets from 200 loopback addresses, kept up by an
 * attacker thread, do not keep an honest peer from connecting and pinging within 2 s. */
#include <fcntl.h>
#include <sys/resource.h>

#include "check.h"
#include "host_internal.h" /* white-box: the host's resource manager */
#include "raw_peer.h"
#include "rcmgr.h"

/* ---- rcmgr in memory ----------------------------------------------------------------------- */

static rcmgr_addr addr4(const char *text)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, text, &sa.sin_addr);
    rcmgr_addr a = {0};
    rcmgr_addr_from_sockaddr((struct sockaddr *)&sa, &a); /* an AF_INET address: cannot fail */
    return a;
}

static rcmgr_addr addr6(const char *text)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, text, &sa.sin6_addr);
    rcmgr_addr a;
    CHECK_EQ(rcmgr_addr_from_sockaddr((struct sockaddr *)&sa, &a), 0);
    return a;
}

static bool addr_eq(rcmgr_addr a, rcmgr_addr b)
{
    return a.len == b.len && memcmp(a.b, b.b, a.len) == 0;
}

static void test_addrs(void)
{
    char s[RCMGR_ADDR_STRLEN];
    rcmgr_addr a = addr4("192.0.2.7");
    CHECK_EQ(a.len, 4);
    CHECK_STR_EQ(rcmgr_addr_str(&a, s), "192.0.2.7");
    CHECK(!addr_eq(a, addr4("192.0.2.8"))); /* a /32 each */
    /* an IPv4-mapped IPv6 peer is that IPv4 peer */
    CHECK(addr_eq(a, addr6("::ffff:192.0.2.7")));
    /* IPv6: the /64 counts, the interface half does not */
    rcmgr_addr b = addr6("2001:db8:1:2::1");
    CHECK_EQ(b.len, 8);
    CHECK(addr_eq(b, addr6("2001:db8:1:2:ffff:1:2:3")));
    CHECK(!addr_eq(b, addr6("2001:db8:1:3::1")));
    CHECK_STR_EQ(rcmgr_addr_str(&b, s), "2001:db8:1:2::/64");
    struct sockaddr other = {.sa_family = AF_UNIX};
    CHECK_EQ(rcmgr_addr_from_sockaddr(&other, &b), -1);
}

static rcmgr *new_mgr(uint32_t pending, uint32_t pending_per_addr, uint32_t conns_per_addr,
                      uint32_t conns_per_peer)
{
    rcmgr_limits lim = {pending, pending_per_addr, conns_per_addr, conns_per_peer};
    rcmgr *m = rcmgr_new(&lim);
    CHECK(m != NULL);
    return m;
}

/* Admits rc from a; returns the evicted one (or NULL), and -1 in *rcode on refusal. */
static rcmgr_conn *admit(rcmgr *m, rcmgr_conn *rc, const char *a, int *rcode, char *err)
{
    rcmgr_conn *ev = NULL;
    rcmgr_addr ad = strchr(a, ':') ? addr6(a) : addr4(a);
    *rcode = rcmgr_inbound(m, rc, &ad, &ev, err, 256);
    return ev;
}

static void test_addr_limits(void)
{
    rcmgr *m = new_mgr(100, 2, 3, 4);
    rcmgr_conn c[6] = {0};
    char err[256];
    int rcode;
    rcmgr_addr a = addr4("192.0.2.1");
    uint32_t pend;
    CHECK(admit(m, &c[0], "192.0.2.1", &rcode, err) == NULL && rcode == 0);
    CHECK(admit(m, &c[1], "192.0.2.1", &rcode, err) == NULL && rcode == 0);
    /* a third handshake from the address is one too many */
    admit(m, &c[2], "192.0.2.1", &rcode, err);
    CHECK_EQ(rcode, -1);
    CHECK_STR_EQ(err, "too many handshakes from 192.0.2.1 (2)");
    CHECK(!c[2].pending && !c[2].addr);
    /* other addresses are not affected; the same /64 is one address */
    CHECK(admit(m, &c[3], "2001:db8::1", &rcode, err) == NULL && rcode == 0);
    CHECK(admit(m, &c[4], "2001:db8::2", &rcode, err) == NULL && rcode == 0);
    admit(m, &c[5], "2001:db8::3", &rcode, err);
    CHECK_EQ(rcode, -1);
    CHECK_STR_EQ(err, "too many handshakes from 2001:db8::/64 (2)");
    /* up connections leave the handshake count but stay in the connection count */
    rcmgr_up(m, &c[0]);
    rcmgr_up(m, &c[1]);
    CHECK_EQ(rcmgr_addr_conns(m, &a, &pend), 2);
    CHECK_EQ(pend, 0);
    CHECK(admit(m, &c[2], "192.0.2.1", &rcode, err) == NULL && rcode == 0);
    rcmgr_conn d = {0};
    admit(m, &d, "192.0.2.1", &rcode, err);
    CHECK_EQ(rcode, -1);
    CHECK_STR_EQ(err, "too many connections from 192.0.2.1 (3)");
    CHECK_EQ(rcmgr_pending(m), 3);
    /* released (closing) connections count nowhere; releasing twice is harmless */
    rcmgr_release(m, &c[0]);
    rcmgr_release(m, &c[0]);
    CHECK(admit(m, &d, "192.0.2.1", &rcode, err) == NULL && rcode == 0);
    for (int i = 0; i < 6; i++)
        rcmgr_release(m, &c[i]);
    rcmgr_release(m, &d);
    CHECK_EQ(rcmgr_addr_conns(m, &a, &pend), 0);
    CHECK_EQ(pend, 0);
    CHECK_EQ(rcmgr_pending(m), 0);
    rcmgr_free(m);
}

static void test_peer_limit(void)
{
    rcmgr *m = new_mgr(100, 100, 100, 2);
    p2p_key k;
    char err[256];
    int rcode;
    p2p_key_generate(&k, err, sizeof err);
    p2p_peer_id id;
    p2p_peer_id_from_pubkey(k.pk, &id);
    rcmgr_conn in[3] = {0}, out[2] = {0};
    for (int i = 0; i < 3; i++)
        admit(m, &in[i], "192.0.2.1", &rcode, err);
    CHECK_EQ(rcmgr_peer(m, &in[0], &id, err, sizeof err), 0);
    CHECK_EQ(rcmgr_peer(m, &in[1], &id, err, sizeof err), 0);
    /* the newest inbound one beyond the limit is refused, by name */
    CHECK_EQ(rcmgr_peer(m, &in[2], &id, err, sizeof err), -1);
    CHECK(strstr(err, "too many connections of peer 12D3KooW") != NULL);
    CHECK(strstr(err, "(2)") != NULL);
    /* our own dials to it are never refused, and count */
    CHECK_EQ(rcmgr_peer(m, &out[0], &id, err, sizeof err), 0);
    CHECK_EQ(rcmgr_peer(m, &out[1], &id, err, sizeof err), 0);
    CHECK_EQ(rcmgr_peer_conns(m, &id), 4);
    for (int i = 0; i < 2; i++) {
        rcmgr_release(m, &out[i]);
        rcmgr_release(m, &in[i]);
    }
    CHECK_EQ(rcmgr_peer_conns(m, &id), 0);
    CHECK_EQ(rcmgr_peer(m, &in[2], &id, err, sizeof err), 0);
    rcmgr_release(m, &in[2]);
    rcmgr_free(m);
}

static void test_make_room(void)
{
    rcmgr *m = new_mgr(4, 10, 10, 4);
    rcmgr_conn a[4] = {0}, b = {0}, c = {0}, d = {0}, e = {0};
    char err[256];
    int rcode;
    for (int i = 0; i < 3; i++)
        admit(m, &a[i], "192.0.2.1", &rcode, err);
    admit(m, &b, "192.0.2.2", &rcode, err);
    CHECK_EQ(rcmgr_pending(m), 4);
    /* full: the newest of the address holding the most goes, not the newcomer */
    CHECK(admit(m, &c, "192.0.2.3", &rcode, err) == &a[2]);
    CHECK_EQ(rcode, 0);
    CHECK_STR_EQ(err, "handshake slots full (4): dropped to make room (192.0.2.1 holds 3 of them)");
    CHECK(!a[2].pending && !a[2].addr);
    CHECK_EQ(rcmgr_pending(m), 4);
    /* a newcomer from the address holding the most is the one to go */
    CHECK(admit(m, &a[3], "192.0.2.1", &rcode, err) == NULL);
    CHECK_EQ(rcode, -1);
    CHECK(!a[3].pending && !a[3].addr);
    /* a connection that has spoken outlives silent ones: a[1] is newer but a[0] is silent */
    rcmgr_heard(m, &a[1]);
    CHECK(admit(m, &d, "192.0.2.4", &rcode, err) == &a[0]);
    /* ties (one each now): a silent one before one that spoke, then the oldest */
    CHECK(admit(m, &e, "192.0.2.5", &rcode, err) == &b);
    CHECK(a[1].pending && c.pending && d.pending && e.pending);
    rcmgr_heard(m, &c);
    rcmgr_heard(m, &d);
    rcmgr_heard(m, &e);
    /* all have spoken: a silent newcomer goes before them */
    rcmgr_conn f = {0};
    CHECK(admit(m, &f, "192.0.2.6", &rcode, err) == NULL);
    CHECK_EQ(rcode, -1);
    rcmgr_conn *all[] = {&a[0], &a[1], &a[2], &a[3], &b, &c, &d, &e, &f};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        rcmgr_release(m, all[i]);
    CHECK_EQ(rcmgr_pending(m), 0);

    /* two addresses with two each, all spoken: the one whose newest is older gives it */
    rcmgr_conn g[2] = {0}, h[2] = {0}, k = {0};
    admit(m, &g[0], "192.0.2.1", &rcode, err);
    admit(m, &h[0], "192.0.2.2", &rcode, err);
    admit(m, &g[1], "192.0.2.1", &rcode, err);
    admit(m, &h[1], "192.0.2.2", &rcode, err);
    for (int i = 0; i < 2; i++) {
        rcmgr_heard(m, &g[i]);
        rcmgr_heard(m, &h[i]);
    }
    CHECK(admit(m, &k, "192.0.2.3", &rcode, err) == &g[1]);
    CHECK(k.pending);
    rcmgr_conn *rest[] = {&g[0], &h[0], &h[1], &k};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++)
        rcmgr_release(m, rest[i]);
    CHECK_EQ(rcmgr_pending(m), 0);
    rcmgr_free(m);
}

/* 200 addresses that keep opening silent connections, and one newcomer that speaks once it
 * is admitted: it is never the one dropped, and no address ever holds more than its limit. */
static void test_simulated_flood(void)
{
    enum { NADDR = 200, ARRIVALS = 20000, PENDING = 64, PER_ADDR = 16 };
    rcmgr *m = new_mgr(PENDING, PER_ADDR, 64, 4);
    static rcmgr_conn conns[ARRIVALS];
    memset(conns, 0, sizeof conns);
    rcmgr_conn honest = {0};
    char err[256], text[32];
    int rcode, evicted = 0, refused = 0, over = 0;
    bool honest_in = false, honest_lost = false;
    for (int i = 0; i < ARRIVALS; i++) {
        if (i == ARRIVALS / 2) {
            rcmgr_conn *ev = admit(m, &honest, "10.0.0.1", &rcode, err);
            honest_in = rcode == 0;
            if (ev)
                evicted++;
            rcmgr_heard(m, &honest);
        }
        snprintf(text, sizeof text, "10.1.%d.%d", i % NADDR / 250, i % NADDR % 250 + 1);
        rcmgr_conn *ev = admit(m, &conns[i], text, &rcode, err);
        evicted += ev != NULL;
        refused += rcode != 0;
        honest_lost |= ev == &honest;
        rcmgr_addr a = addr4(text);
        uint32_t pend;
        rcmgr_addr_conns(m, &a, &pend);
        over += pend > PER_ADDR || rcmgr_pending(m) > PENDING;
    }
    CHECK(honest_in);
    CHECK(!honest_lost);
    CHECK(honest.pending);
    CHECK_EQ(over, 0);
    CHECK(evicted > ARRIVALS / 2);
    printf("simulated flood: %d arrivals, %d dropped to make room, %d refused\n", ARRIVALS, evicted,
           refused);
    rcmgr_release(m, &honest);
    for (int i = 0; i < ARRIVALS; i++)
        rcmgr_release(m, &conns[i]);
    CHECK_EQ(rcmgr_pending(m), 0);
    rcmgr_free(m);
}

/* ---- an honest peer: a real p2p_host that dials and pings ---------------------------------- */

typedef struct {
    bool done, closed;
    int status;
    char err[512];
} honest;

static void honest_on_ping(p2p_host *h, const p2p_peer_id *peer, int status, double rtt_ms,
                           const char *err, void *user)
{
    honest *hp = user;
    (void)h;
    (void)peer;
    (void)rtt_ms;
    hp->status = status;
    snprintf(hp->err, sizeof hp->err, "ping: %s", err ? err : "");
    hp->done = true;
}

static void honest_on_dial(p2p_host *h, int status, const p2p_peer_id *peer, const char *err,
                           void *user)
{
    honest *hp = user;
    char e[256];
    if (status == 0 && p2p_ping(h, peer, honest_on_ping, hp, e, sizeof e) == 0)
        return;
    hp->status = -1;
    snprintf(hp->err, sizeof hp->err, "dial: %.400s", status ? err : e);
    hp->done = true;
}

static void honest_on_closed(void *user)
{
    ((honest *)user)->closed = true;
}

/* A fresh host (a fresh identity) dials the server on 127.0.0.1 and pings it once. Returns the
 * milliseconds from the dial to the answer, or -1 (why says why) if it failed or took longer
 * than limit_ms. */
static long honest_ping(rp_server *s, int limit_ms, char *why, size_t cap)
{
    uv_loop_t loop;
    p2p_key key;
    p2p_host *h;
    char err[256], addr[256], id[P2P_PEER_ID_STRLEN];
    honest hp = {0};
    snprintf(why, cap, "did not finish");
    if (uv_loop_init(&loop) != 0 || p2p_key_generate(&key, err, sizeof err) != 0)
        return -1;
    p2p_host_config cfg;
    p2p_host_config_default(&cfg);
    cfg.key = &key;
    cfg.dial_timeout_ms = (uint64_t)limit_ms;
    if (p2p_host_new(&loop, &cfg, NULL, NULL, &h, err, sizeof err) != 0) {
        snprintf(why, cap, "%s", err);
        uv_loop_close(&loop);
        return -1;
    }
    snprintf(addr, sizeof addr, "/ip4/127.0.0.1/tcp/%d/p2p/%s", s->port,
             p2p_peer_id_str(p2p_host_id(s->h), id));
    uint64_t t0 = clock_mono_ms();
    long took = -1;
    if (p2p_host_dial(h, addr, honest_on_dial, &hp, err, sizeof err) == 0) {
        while (!hp.done && clock_mono_ms() - t0 < (uint64_t)limit_ms + 1000)
            uv_run(&loop, UV_RUN_ONCE);
        took = (long)(clock_mono_ms() - t0);
        if (!hp.done || hp.status != 0 || took > limit_ms) {
            snprintf(why, cap, "%.200s after %ld ms", hp.done ? hp.err : "no answer", took);
            took = -1;
        }
    }
    p2p_host_close(h, honest_on_closed, &hp);
    while (!hp.closed)
        uv_run(&loop, UV_RUN_ONCE);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&loop), 0);
    return took;
}

/* ---- white-box reads on the host's thread -------------------------------------------------- */

typedef struct {
    size_t pending;
    uint32_t addr_conns, addr_pending, peer_conns;
    rcmgr_addr addr;
    p2p_peer_id peer;
} counts;

static void read_counts(rp_server *s, void *arg)
{
    counts *c = arg;
    c->pending = rcmgr_pending(s->h->rcm);
    c->addr_conns = rcmgr_addr_conns(s->h->rcm, &c->addr, &c->addr_pending);
    c->peer_conns = rcmgr_peer_conns(s->h->rcm, &c->peer);
}

static counts server_counts(rp_server *s, const char *addr, const p2p_peer_id *peer)
{
    counts c;
    memset(&c, 0, sizeof c);
    if (addr)
        c.addr = addr4(addr);
    else
        c.addr = addr4("0.0.0.0");
    if (peer)
        c.peer = *peer;
    CHECK(rp_call(s, read_counts, &c));
    return c;
}

/* ---- real sockets -------------------------------------------------------------------------- */

/* Starts the server with cfg, counting error events that contain p0 and p1 (may be NULL). */
static bool start(rp_server *s, p2p_host_config cfg, const char *p0, const char *p1)
{
    const char *patterns[] = {p0, p1, NULL};
    bool ok = rp_start_server(s, cfg, patterns) == 0;
    CHECK(ok);
    return ok;
}

/* An honest peer connects and pings within limit_ms; who names it in the message. */
static bool honest_in_time(rp_server *s, int limit_ms, const char *who)
{
    char why[300];
    long took = honest_ping(s, limit_ms, why, sizeof why);
    if (took < 0)
        fprintf(stderr, "%s: %s\n", who, why);
    return took >= 0;
}

/* Reads the counts until the address holds at most max_conns connections and at least
 * min_pending handshakes are pending in all (2 s at most). */
static counts wait_counts(rp_server *s, const char *addr, uint32_t max_conns, size_t min_pending)
{
    counts c;
    uint64_t end = clock_mono_ms() + 2000;
    do {
        usleep(10000);
        c = server_counts(s, addr, NULL);
    } while ((c.addr_conns > max_conns || c.pending < min_pending) && clock_mono_ms() < end);
    return c;
}

/* One identity opens connection after connection: it keeps max_conns_per_peer (4), the rest
 * are closed right after Noise with the reason, and a second peer still gets in and pings.
 * (Before: it took all 256 slots and the second peer was refused.) */
static void test_one_identity(void)
{
    enum { TRIES = 300 };
    rp_server s;
    if (!start(&s, rp_config(NULL), "too many connections of peer", NULL))
        return;
    p2p_key k;
    char err[256];
    p2p_key_generate(&k, err, sizeof err);
    p2p_peer_id kid;
    p2p_peer_id_from_pubkey(k.pk, &kid);
    static rp_raw r[TRIES];
    int held = 0, refused = 0, streak = 0;
    for (int i = 0; i < TRIES && streak < 20; i++) {
        if (rp_upgrade_from(&r[held], NULL, s.port, &k, 0) == 0) {
            held++;
            streak = 0;
        } else {
            rp_free(&r[held]);
            refused++;
            streak++;
        }
    }
    printf("one identity: %d connections held, %d refused\n", held, refused);
    CHECK_EQ(held, 4);
    CHECK(rp_wait_atomic(&s.hits[0], refused, 2000));
    char msg[512];
    rp_last_error(&s, msg, sizeof msg);
    CHECK(strstr(msg, "too many connections of peer 12D3KooW") != NULL);
    counts c = server_counts(&s, NULL, &kid);
    CHECK_EQ(c.peer_conns, 4);
    /* a second peer connects and pings; the first one's connections still work */
    CHECK(honest_in_time(&s, 2000, "second peer"));
    for (int i = 0; i < held; i++)
        CHECK(rp_yping(&r[i], 1));
    for (int i = 0; i < held; i++)
        rp_free(&r[i]);
    CHECK_EQ(rp_stop_server(&s), 0);
}

/* True if fd is closed by the peer within ms (nothing is expected before). */
static bool fd_closed_within(int fd, int ms)
{
    rp_raw r = {.fd = fd};
    buf_init(&r.in, 1 << 16);
    buf_init(&r.plain, 1 << 16);
    bool closed = rp_closed_within(&r, ms);
    buf_free(&r.in);
    buf_free(&r.plain);
    return closed;
}

/* One address holds at most max_pending_per_ip handshakes and max_conns_per_ip connections;
 * the next is refused with the reason, other addresses still get in, and a slot given back
 * can be taken again. */
static void test_addr_limits_real(void)
{
    rp_server s;
    p2p_host_config cfg = rp_config(NULL);
    cfg.max_pending_per_ip = 4;
    cfg.max_conns_per_ip = 6;
    cfg.first_byte_ms = 10000;
    if (!start(&s, cfg, "too many handshakes from 127.0.0.2 (4)",
               "too many connections from 127.0.0.3 (6)"))
        return;
    /* six silent sockets from 127.0.0.2: four wait for their handshake, two are refused */
    rp_raw q[6];
    for (int i = 0; i < 6; i++)
        CHECK_EQ(rp_connect_from(&q[i], "127.0.0.2", s.port, 0), 0);
    CHECK(rp_wait_atomic(&s.hits[0], 2, 2000));
    int closed = 0;
    for (int i = 0; i < 6; i++)
        closed += fd_closed_within(q[i].fd, 100);
    CHECK_EQ(closed, 2);
    counts c = server_counts(&s, "127.0.0.2", NULL);
    CHECK_EQ(c.addr_pending, 4);
    CHECK_EQ(c.addr_conns, 4);

    /* six upgraded peers from 127.0.0.3; a seventh connection from there is refused at once */
    rp_raw u[7];
    int up = 0;
    for (int i = 0; i < 6; i++)
        up += rp_upgrade_from(&u[i], "127.0.0.3", s.port, NULL, 0) == 0;
    CHECK_EQ(up, 6);
    CHECK_EQ(rp_connect_from(&u[6], "127.0.0.3", s.port, 0), 0);
    CHECK(rp_closed_within(&u[6], 2000));
    /* the event is delivered by the loop thread, possibly after the socket closed */
    CHECK(rp_wait_atomic(&s.hits[1], 1, 2000));
    CHECK_EQ(atomic_load(&s.hits[1]), 1);
    rp_free(&u[6]);
    c = server_counts(&s, "127.0.0.3", NULL);
    CHECK_EQ(c.addr_conns, 6);
    CHECK_EQ(c.addr_pending, 0);

    /* another address is not affected */
    CHECK(honest_in_time(&s, 2000, "honest peer"));

    /* a connection given back frees its slot: the limit is a count, not a ban */
    rp_free(&u[0]);
    c = wait_counts(&s, "127.0.0.3", 5, 0);
    CHECK_EQ(rp_upgrade_from(&u[0], "127.0.0.3", s.port, NULL, 0), 0);
    CHECK(rp_yping(&u[0], 1));
    for (int i = 0; i < 6; i++) {
        rp_free(&q[i]);
        rp_free(&u[i]);
    }
    CHECK_EQ(rp_stop_server(&s), 0);
}

/* A socket that sends nothing is dropped at the first-byte deadline, long before the
 * handshake timeout; one that sent a byte is not. */
static void test_first_byte(void)
{
    rp_server s;
    p2p_host_config cfg = rp_config(NULL);
    cfg.first_byte_ms = 300;
    cfg.handshake_timeout_ms = 10000;
    if (!start(&s, cfg, "sent nothing within 300 ms", NULL))
        return;
    rp_raw silent, talker;
    uint64_t t0 = clock_mono_ms();
    CHECK_EQ(rp_connect_from(&silent, "127.0.0.2", s.port, 0), 0);
    CHECK_EQ(rp_connect_from(&talker, "127.0.0.3", s.port, 0), 0);
    CHECK_EQ(rp_send(&talker, "\x13", 1), 0); /* the first byte of the multistream header */
    CHECK(rp_closed_within(&silent, 5000));
    uint64_t took = clock_mono_ms() - t0;
    printf("first byte: a silent socket dropped after %llu ms (deadline 300 ms)\n",
           (unsigned long long)took);
    CHECK(took >= 250 && took < 5000);
    CHECK(rp_wait_atomic(&s.hits[0], 1, 1000));
    /* the talker is still there at four times the deadline */
    CHECK(!rp_closed_within(&talker, 1200 - (int)(clock_mono_ms() - t0)));
    CHECK_EQ(atomic_load(&s.hits[0]), 1);
    rp_free(&silent);
    rp_free(&talker);
    CHECK_EQ(rp_stop_server(&s), 0);
}

/* Full handshake slots: the host keeps accepting, and a newcomer gets in by dropping the
 * newest connection of the address holding the most. (Before: it waited in the backlog until
 * a silent socket's handshake timed out.) */
static void test_make_room_real(void)
{
    rp_server s;
    p2p_host_config cfg = rp_config(NULL);
    cfg.max_pending_inbound = 3;
    cfg.first_byte_ms = 10000;
    if (!start(&s, cfg,
               "handshake slots full (3): dropped to make room (127.0.0.2 holds 3 of them)", NULL))
        return;
    rp_raw q[3];
    for (int i = 0; i < 3; i++)
        CHECK_EQ(rp_connect_from(&q[i], "127.0.0.2", s.port, 0), 0);
    counts c = wait_counts(&s, "127.0.0.2", UINT32_MAX, 3);
    CHECK_EQ(c.pending, 3);
    CHECK(honest_in_time(&s, 2000, "newcomer"));
    CHECK(rp_wait_atomic(&s.hits[0], 1, 2000));
    CHECK_EQ(atomic_load(&s.hits[0]), 1);
    /* the newest of 127.0.0.2 went; the two older ones still wait */
    CHECK(!fd_closed_within(q[0].fd, 50));
    CHECK(!fd_closed_within(q[1].fd, 50));
    CHECK(fd_closed_within(q[2].fd, 1000));
    for (int i = 0; i < 3; i++)
        rp_free(&q[i]);
    CHECK_EQ(rp_stop_server(&s), 0);
}

/* ---- the flood ----------------------------------------------------------------------------- */

enum { FLOOD_SOCKETS = 3000, FLOOD_ADDRS = 200 };

typedef struct {
    int port;
    atomic_int stop, failed;
    atomic_long opened, reopened;
    uv_thread_t thread;
    struct pollfd pfd[FLOOD_SOCKETS];
} flood;

/* Opens pfd[i]: a non-blocking connect from 127.0.0.(2 + i % FLOOD_ADDRS) that never sends. */
static int flood_open(flood *f, int i)
{
    char src[32];
    snprintf(src, sizeof src, "127.0.0.%d", 2 + i % FLOOD_ADDRS);
    int fd = rp_socket_from(src);
    if (fd < 0)
        return -1;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    f->pfd[i].fd = fd;
    f->pfd[i].events = POLLIN;
    atomic_fetch_add(&f->opened, 1);
    return 0;
}

/* The attacker: keeps FLOOD_SOCKETS silent sockets up, reopening each one the host drops. */
static void flood_main(void *arg)
{
    flood *f = arg;
    for (int i = 0; i < FLOOD_SOCKETS; i++) {
        if (flood_open(f, i) != 0) {
            atomic_store(&f->failed, errno ? errno : 1);
            return;
        }
    }
    while (!atomic_load(&f->stop)) {
        if (poll(f->pfd, FLOOD_SOCKETS, 20) <= 0)
            continue;
        for (int i = 0; i < FLOOD_SOCKETS; i++) {
            if (!f->pfd[i].revents)
                continue;
            char b;
            ssize_t n = recv(f->pfd[i].fd, &b, 1, MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                continue;
            close(f->pfd[i].fd);
            if (flood_open(f, i) != 0) {
                atomic_store(&f->failed, errno ? errno : 1);
                f->pfd[i].fd = -1;
            }
            atomic_fetch_add(&f->reopened, 1);
        }
    }
}

static void flood_stop(flood *f)
{
    atomic_store(&f->stop, 1);
    uv_thread_join(&f->thread);
    for (int i = 0; i < FLOOD_SOCKETS; i++)
        if (f->pfd[i].fd >= 0)
            close(f->pfd[i].fd);
}

/* Makes sure we may open need descriptors; false (with a message) if we cannot. */
static bool enough_fds(rlim_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return false;
    if (rl.rlim_cur >= need)
        return true;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        printf("SKIP silent flood: needs %llu file descriptors, the hard limit is %llu\n",
               (unsigned long long)need, (unsigned long long)rl.rlim_max);
        return false;
    }
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        printf("SKIP silent flood: cannot raise the file descriptor limit to %llu\n",
               (unsigned long long)need);
        return false;
    }
    return true;
}

/* 3,000 silent sockets from 200 loopback addresses, reopened as soon as the host drops them,
 * with the host at its default limits: honest peers still connect and ping within 2 s each.
 * (Before: the handshake slots filled and the listener stopped accepting; no honest peer got
 * in while the attacker kept its sockets up.) */
static void test_silent_flood(void)
{
    enum { HONEST = 5, LIMIT_MS = 2000 };
    if (!enough_fds(FLOOD_SOCKETS + 1024))
        return;
    rp_server s;
    if (!start(&s, rp_config(NULL), "handshake slots full (64)", NULL))
        return;
    static flood f;
    memset(&f, 0, sizeof f);
    f.port = s.port;
    CHECK_EQ(uv_thread_create(&f.thread, flood_main, &f), 0);
    /* the attack is in full swing: every handshake slot taken, sockets being dropped */
    uint64_t end = clock_mono_ms() + 5000;
    while (atomic_load(&f.opened) < FLOOD_SOCKETS && !atomic_load(&f.failed) &&
           clock_mono_ms() < end)
        usleep(10000);
    usleep(300000);
    if (atomic_load(&f.failed)) {
        printf("SKIP silent flood: the attacker could not open its sockets: %s\n",
               strerror(atomic_load(&f.failed)));
        flood_stop(&f);
        rp_stop_server(&s);
        return;
    }
    counts c = server_counts(&s, NULL, NULL);
    CHECK_EQ(c.pending, 64);
    long worst = 0, total = 0;
    int ok = 0;
    for (int i = 0; i < HONEST; i++) {
        char why[300];
        long took = honest_ping(&s, LIMIT_MS, why, sizeof why);
        if (took < 0) {
            fprintf(stderr, "honest peer %d: %s\n", i, why);
            continue;
        }
        ok++;
        total += took;
        worst = took > worst ? took : worst;
    }
    c = server_counts(&s, NULL, NULL);
    long opened = atomic_load(&f.opened), reopened = atomic_load(&f.reopened);
    int evictions = atomic_load(&s.hits[0]);
    flood_stop(&f);
    printf("silent flood: %d sockets from %d addresses, %ld opened in all (%ld after a drop), "
           "%d dropped to make room; honest peers in: %d/%d, mean %ld ms, worst %ld ms\n",
           FLOOD_SOCKETS, FLOOD_ADDRS, opened, reopened, evictions, ok, HONEST, ok ? total / ok : 0,
           worst);
    CHECK_EQ(ok, HONEST);
    CHECK(c.pending <= 64);
    CHECK(evictions > FLOOD_SOCKETS / 2); /* the flood really pressed on the slots */
    CHECK_EQ(rp_stop_server(&s), 0);
}

int main(void)
{
    static const rp_test tests[] = {
        {"addrs", test_addrs},
        {"addr_limits", test_addr_limits},
        {"peer_limit", test_peer_limit},
        {"make_room", test_make_room},
        {"simulated_flood", test_simulated_flood},
        {"one_identity", test_one_identity},
        {"addr_limits_real", test_addr_limits_real},
        {"first_byte", test_first_byte},
        {"make_room_real", test_make_room_real},
        {"silent_flood", test_silent_flood},
    };
    if (rp_init() < 0)
        return 1;
    return rp_run_tests(tests, sizeof tests / sizeof tests[0]);
}
