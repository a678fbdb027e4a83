/* test_p2p_pubsub.c - gossipsub between real hosts on 127.0.0.1, all on one loop: two nodes
 * both ways, a 12-node mesh (delivery to all, mesh degrees, leave and rejoin), validators and
 * unsubscribing, and a raw peer that sends forged, oversized and malformed RPCs and floods of
 * IWANT. A watchdog alarm ends the test if anything hangs. */
#include <signal.h>
#include <unistd.h>

#include "check.h"
#include "pubsub_msg.h"
#include "pubsub_net.h"

static uv_timer_t tick; /* keeps UV_RUN_ONCE from blocking for long */

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void alarm_handler(int sig)
{
    (void)sig;
    static const char msg[] = "test_p2p_pubsub: watchdog: a test hung\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(3);
}

/* ---- two nodes ------------------------------------------------------------------------------ */

static void test_pair(void)
{
    pn_node a, b;
    CHECK(pn_start(&a, NULL, NULL) == 0);
    CHECK(pn_start(&b, NULL, NULL) == 0);
    CHECK(pn_subscribe(&a, "t") == 0);
    CHECK(pn_subscribe(&b, "t") == 0);
    CHECK(pn_connect(&b, &a));
    PN_WAIT_FOR(pn_mesh(&a, "t") == 1 && pn_mesh(&b, "t") == 1, 3000);
    CHECK_EQ(pn_topic_peers(&a, "t"), 1);
    CHECK_EQ(pn_mesh(&a, "t"), 1);
    CHECK_EQ(pn_mesh(&b, "t"), 1);
    CHECK(a.n_subscribed == 1 && b.n_subscribed == 1);

    int sent = -1;
    uint64_t sa = pn_publish(&a, "t", "from a", 6, &sent);
    CHECK_EQ(sent, 1);
    uint64_t sb = pn_publish(&b, "t", "from b", 6, &sent);
    CHECK_EQ(sent, 1);
    PN_WAIT_FOR(a.nmsgs == 1 && b.nmsgs == 1, 3000);
    CHECK_EQ(a.nmsgs, 1);
    CHECK_EQ(b.nmsgs, 1);
    if (a.nmsgs == 1 && b.nmsgs == 1) {
        CHECK(p2p_peer_id_eq(&b.msgs[0].from, p2p_host_id(a.h)));
        CHECK(p2p_peer_id_eq(&b.msgs[0].via, p2p_host_id(a.h)));
        CHECK_EQ(b.msgs[0].seqno, sa);
        CHECK(b.msgs[0].len == 6 && memcmp(b.msgs[0].data, "from a", 6) == 0);
        CHECK_STR_EQ(b.msgs[0].topic, "t");
        CHECK(p2p_peer_id_eq(&a.msgs[0].from, p2p_host_id(b.h)));
        CHECK_EQ(a.msgs[0].seqno, sb);
        CHECK(a.msgs[0].len == 6 && memcmp(a.msgs[0].data, "from b", 6) == 0);
    }
    /* seqnos go up by one; an empty message is a message */
    uint64_t s2 = pn_publish(&a, "t", NULL, 0, &sent);
    CHECK_EQ(s2, sa + 1);
    PN_WAIT_FOR(b.nmsgs == 2, 3000);
    CHECK(b.nmsgs == 2 && b.msgs[1].len == 0);

    /* too large, and bad topics: clear errors, nothing sent */
    char err[256];
    uint8_t *big = calloc(1, P2P_PS_MAX_DATA + 1);
    CHECK(p2p_pubsub_publish(a.ps, "t", big, P2P_PS_MAX_DATA + 1, NULL, err, sizeof err) == -1);
    CHECK(strstr(err, "over the maximum") != NULL);
    free(big);
    CHECK(p2p_pubsub_publish(a.ps, "", "x", 1, NULL, err, sizeof err) == -1);
    CHECK(p2p_pubsub_subscribe(a.ps, "", pn_on_message, &a, err, sizeof err) == -1);
    CHECK(p2p_pubsub_unsubscribe(a.ps, "never", err, sizeof err) == -1);
    CHECK(strstr(err, "not subscribed") != NULL);

    /* a peer without pubsub: connected, never counted as a gossipsub peer */
    pn_node plain;
    memset(&plain, 0, sizeof plain);
    p2p_host_config hc;
    p2p_host_config_default(&hc);
    p2p_key_generate(&plain.key, err, sizeof err);
    hc.key = &plain.key;
    CHECK(p2p_host_new(pn_loop, &hc, pn_on_host_event, &plain, &plain.h, err, sizeof err) == 0);
    CHECK(p2p_host_listen(plain.h, "/ip4/127.0.0.1/tcp/0", err, sizeof err) == 0);
    CHECK(pn_connect(&plain, &a));
    pn_spin(300);
    CHECK_EQ(pn_topic_peers(&a, "t"), 1);
    CHECK(pn_publish(&a, "t", "still", 5, &sent) != 0 && sent == 1);
    pn_stop(&plain);

    /* a topic nobody else has: published to no one, not an error */
    CHECK(pn_publish(&a, "lonely", "x", 1, &sent) != 0 && sent == 0);

    /* unsubscribe: the peer hears it and leaves us out of its mesh */
    CHECK(p2p_pubsub_unsubscribe(b.ps, "t", err, sizeof err) == 0);
    PN_WAIT_FOR(a.n_unsubscribed == 1, 3000);
    CHECK_EQ(a.n_unsubscribed, 1);
    CHECK_EQ(pn_mesh(&a, "t"), 0);
    CHECK_EQ(pn_topic_peers(&a, "t"), 0);
    size_t before = b.nmsgs;
    pn_publish(&a, "t", "after", 5, &sent);
    CHECK_EQ(sent, 0);
    pn_spin(300);
    CHECK_EQ(b.nmsgs, before);

    p2p_pubsub_stats st;
    p2p_pubsub_get_stats(b.ps, &st);
    CHECK_EQ(st.delivered, 3);
    CHECK_EQ(st.rejected, 0);
    CHECK_EQ(st.duplicates, 0);
    pn_stop(&a);
    pn_stop(&b);
}

/* ---- validators ----------------------------------------------------------------------------- */

static p2p_ps_verdict judge(const pn_msg *m)
{
    if (m->len == 3 && memcmp(m->data, "bad", 3) == 0)
        return P2P_PS_REJECT;
    if (m->len == 3 && memcmp(m->data, "meh", 3) == 0)
        return P2P_PS_IGNORE;
    return P2P_PS_ACCEPT;
}

static void test_validator(void)
{
    pn_node a, b;
    char err[256];
    CHECK(pn_start(&a, NULL, NULL) == 0);
    CHECK(pn_start(&b, NULL, NULL) == 0);
    CHECK(pn_subscribe(&a, "v") == 0);
    CHECK(pn_subscribe(&b, "v") == 0);
    b.validate = judge;
    CHECK(p2p_pubsub_set_validator(b.ps, "v", pn_validator, &b, err, sizeof err) == 0);
    CHECK(pn_connect(&a, &b));
    PN_WAIT_FOR(pn_topic_peers(&a, "v") == 1, 3000);
    pn_publish(&a, "v", "bad", 3, NULL);
    pn_publish(&a, "v", "meh", 3, NULL);
    pn_publish(&a, "v", "good", 4, NULL);
    PN_WAIT_FOR(b.nmsgs == 1, 3000);
    pn_spin(100);
    CHECK_EQ(b.nmsgs, 1);
    CHECK(b.nmsgs >= 1 && b.msgs[0].len == 4);
    p2p_pubsub_stats st;
    p2p_pubsub_get_stats(b.ps, &st);
    CHECK_EQ(st.rejected, 1);
    CHECK_EQ(st.ignored, 1);
    CHECK_EQ(b.n_rejected, 1);
    CHECK_EQ(p2p_pubsub_peer_penalty(b.ps, p2p_host_id(a.h)), 2);
    pn_stop(&a);
    pn_stop(&b);
}

/* ---- fanout: publishing without subscribing, flood publishing off ---------------------------- */

static void test_fanout(void)
{
    pn_node a, b, c;
    p2p_pubsub_config cc;
    p2p_pubsub_config_default(&cc);
    cc.flood_publish = false;
    CHECK(pn_start(&a, NULL, NULL) == 0);
    CHECK(pn_start(&b, NULL, NULL) == 0);
    CHECK(pn_start(&c, NULL, &cc) == 0);
    CHECK(pn_subscribe(&a, "f") == 0);
    CHECK(pn_subscribe(&b, "f") == 0);
    CHECK(pn_connect(&c, &a));
    CHECK(pn_connect(&c, &b));
    PN_WAIT_FOR(pn_topic_peers(&c, "f") == 2, 3000);
    int sent = -1;
    pn_publish(&c, "f", "via fanout", 10, &sent);
    CHECK_EQ(sent, 2);
    PN_WAIT_FOR(a.nmsgs == 1 && b.nmsgs == 1, 3000);
    CHECK(a.nmsgs == 1 && b.nmsgs == 1);
    CHECK_EQ(pn_mesh(&c, "f"), 0); /* not subscribed: no mesh */
    /* subscribing now takes the fanout peers into the mesh */
    CHECK(pn_subscribe(&c, "f") == 0);
    CHECK_EQ(pn_mesh(&c, "f"), 2);
    pn_publish(&c, "f", "via mesh", 8, &sent);
    CHECK_EQ(sent, 2);
    PN_WAIT_FOR(a.nmsgs == 2 && b.nmsgs == 2, 3000);
    CHECK(a.nmsgs == 2 && b.nmsgs == 2);
    pn_stop(&a);
    pn_stop(&b);
    pn_stop(&c);
}

/* ---- a 12-node mesh ------------------------------------------------------------------------- */

#define MESH_N   12
#define MESH_MSG 5

/* Every node of live[] has exactly one copy of each (from, seqno) in want[], and no more
 * messages than expected. */
static bool all_delivered(pn_node *nodes, const bool *live, const p2p_peer_id *from,
                          const uint64_t *seqno, size_t nwant, bool exact)
{
    for (int i = 0; i < MESH_N; i++) {
        if (!live[i])
            continue;
        size_t expect = 0;
        for (size_t k = 0; k < nwant; k++) {
            if (p2p_peer_id_eq(&from[k], p2p_host_id(nodes[i].h)))
                continue;
            expect++;
            int c = pn_count(&nodes[i], &from[k], seqno[k]);
            if (c == 0 || (exact && c != 1)) {
                if (getenv("PN_DEBUG"))
                    fprintf(stderr, "node %d: message %zu seen %d times\n", i, k, c);
                return false;
            }
        }
        if (exact && nodes[i].nmsgs != expect)
            return false;
    }
    return true;
}

/* True if b is in a's mesh of "mesh". */
static bool in_mesh(const pn_node *a, const pn_node *b)
{
    p2p_peer_id ids[64];
    size_t n = p2p_pubsub_mesh_peers(a->ps, "mesh", ids, 64);
    for (size_t i = 0; i < n && i < 64; i++)
        if (p2p_peer_id_eq(&ids[i], p2p_host_id(b->h)))
            return true;
    return false;
}

static void test_mesh12(void)
{
    pn_node nodes[MESH_N];
    bool live[MESH_N];
    for (int i = 0; i < MESH_N; i++) {
        CHECK(pn_start(&nodes[i], NULL, NULL) == 0);
        CHECK(pn_subscribe(&nodes[i], "mesh") == 0);
        live[i] = true;
    }
    /* a ring with chords: node i dials i+1, i+2 and i+3; six peers each, most nodes two or
     * more hops apart */
    for (int i = 0; i < MESH_N; i++)
        for (int d = 1; d <= 3; d++)
            CHECK(pn_connect(&nodes[i], &nodes[(i + d) % MESH_N]));
    pn_spin(3500); /* a few heartbeats */
    int in_bounds = 0;
    for (int i = 0; i < MESH_N; i++) {
        size_t m = pn_mesh(&nodes[i], "mesh");
        if (m >= 4 && m <= 12)
            in_bounds++;
        else
            fprintf(stderr, "node %d: mesh degree %zu\n", i, m);
        CHECK_EQ(pn_topic_peers(&nodes[i], "mesh"), 6);
    }
    CHECK_EQ(in_bounds, MESH_N);

    /* every node publishes; every other node gets each message once */
    p2p_peer_id from[MESH_N * MESH_MSG * 2];
    uint64_t seq[MESH_N * MESH_MSG * 2];
    size_t n = 0;
    for (int r = 0; r < MESH_MSG; r++) {
        for (int i = 0; i < MESH_N; i++) {
            char text[64];
            int len = snprintf(text, sizeof text, "node %d message %d", i, r);
            from[n] = *p2p_host_id(nodes[i].h);
            seq[n++] = pn_publish(&nodes[i], "mesh", text, (size_t)len, NULL);
        }
        pn_spin(50);
    }
    PN_WAIT_FOR(all_delivered(nodes, live, from, seq, n, true), 10000);
    CHECK(all_delivered(nodes, live, from, seq, n, true));
    uint64_t dups = 0, fwd = 0;
    for (int i = 0; i < MESH_N; i++) {
        p2p_pubsub_stats st;
        p2p_pubsub_get_stats(nodes[i].ps, &st);
        CHECK_EQ(st.delivered, (MESH_N - 1) * MESH_MSG);
        CHECK_EQ(st.rejected, 0);
        dups += st.duplicates;
        fwd += st.forwarded;
    }
    printf("mesh12: %zu messages, %.2f copies sent and %.2f duplicates received per delivery\n", n,
           (double)fwd / (double)(n * (MESH_N - 1)), (double)dups / (double)(n * (MESH_N - 1)));

    /* node 5 leaves: the others go on without it */
    p2p_key key5 = nodes[5].key;
    pn_stop(&nodes[5]);
    live[5] = false;
    pn_spin(1500);
    for (int i = 0; i < MESH_N; i++)
        if (live[i])
            pn_forget_msgs(&nodes[i]);
    n = 0;
    from[n] = *p2p_host_id(nodes[0].h);
    seq[n++] = pn_publish(&nodes[0], "mesh", "while 5 is away", 15, NULL);
    PN_WAIT_FOR(all_delivered(nodes, live, from, seq, n, true), 5000);
    CHECK(all_delivered(nodes, live, from, seq, n, true));

    /* ... and comes back with the same key, dialing two of its old peers: it gets messages
     * again, also from nodes it is not connected to */
    CHECK(pn_start(&nodes[5], &key5, NULL) == 0);
    CHECK(pn_subscribe(&nodes[5], "mesh") == 0);
    live[5] = true;
    CHECK(pn_connect(&nodes[5], &nodes[6]));
    CHECK(pn_connect(&nodes[5], &nodes[4]));
    /* both ends of each mesh link (a message that arrives before the GRAFT is not passed on
     * over it; gossip does not repair that, as mesh peers get no IHAVE) */
    PN_WAIT_FOR(pn_mesh(&nodes[5], "mesh") == 2 && in_mesh(&nodes[4], &nodes[5]) &&
                    in_mesh(&nodes[6], &nodes[5]),
                5000);
    CHECK_EQ(pn_mesh(&nodes[5], "mesh"), 2);
    CHECK(in_mesh(&nodes[4], &nodes[5]) && in_mesh(&nodes[6], &nodes[5]));
    for (int i = 0; i < MESH_N; i++)
        pn_forget_msgs(&nodes[i]);
    n = 0;
    for (int i = 0; i < MESH_N; i += 3) { /* 0, 3, 6, 9: 0 and 9 are not peers of 5 */
        from[n] = *p2p_host_id(nodes[i].h);
        seq[n++] = pn_publish(&nodes[i], "mesh", "after the rejoin", 16, NULL);
    }
    from[n] = *p2p_host_id(nodes[5].h);
    seq[n++] = pn_publish(&nodes[5], "mesh", "5 is back", 9, NULL);
    PN_WAIT_FOR(all_delivered(nodes, live, from, seq, n, true), 5000);
    CHECK(all_delivered(nodes, live, from, seq, n, true));
    for (int i = 0; i < MESH_N; i++)
        pn_stop(&nodes[i]);
}

/* ---- a raw peer ----------------------------------------------------------------------------- */

/* A host without pubsub that speaks /meshsub/1.1.0 by hand: it opens a stream to the node under
 * test and writes RPCs built here, and counts the framed RPCs the node sends it. */
typedef struct {
    pn_node n; /* host only: pubsub not started */
    p2p_stream *out;
    int opened;
    buf_t in;
    int rpcs_in, msgs_in;
} raw_peer;

static void raw_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    raw_peer *r = user;
    (void)s;
    buf_append(&r->in, p, n);
    for (;;) {
        size_t hdr, body;
        char err[64];
        if (ps_rpc_frame(r->in.data, r->in.len, 0, &hdr, &body, err, sizeof err) != 1)
            break;
        Swarm__Pubsub__RPC *rpc = NULL;
        if (ps_rpc_decode(r->in.data + hdr, body, 0, &rpc, err, sizeof err) == 0) {
            r->rpcs_in++;
            r->msgs_in += (int)rpc->n_publish;
            swarm__pubsub__rpc__free_unpacked(rpc, NULL);
        }
        memmove(r->in.data, r->in.data + hdr + body, r->in.len - hdr - body);
        r->in.len -= hdr + body;
    }
}

static void raw_close(p2p_stream *s, const char *reason, void *user)
{
    raw_peer *r = user;
    (void)reason;
    if (r->out == s)
        r->out = NULL;
}

static const p2p_stream_cbs raw_cbs = {.on_data = raw_data, .on_close = raw_close};

static void raw_handler(p2p_stream *s, void *user)
{
    p2p_stream_set_cbs(s, &raw_cbs, user);
}

static void raw_opened(p2p_stream *s, const char *err, void *user)
{
    raw_peer *r = user;
    (void)err;
    r->opened = s ? 1 : -1;
    r->out = s;
    if (s)
        p2p_stream_set_cbs(s, &raw_cbs, r);
}

static int raw_start(raw_peer *r, pn_node *target)
{
    char err[256];
    memset(r, 0, sizeof *r);
    p2p_key_generate(&r->n.key, err, sizeof err);
    p2p_host_config hc;
    p2p_host_config_default(&hc);
    hc.key = &r->n.key;
    if (p2p_host_new(pn_loop, &hc, pn_on_host_event, &r->n, &r->n.h, err, sizeof err) != 0 ||
        p2p_host_listen(r->n.h, "/ip4/127.0.0.1/tcp/0", err, sizeof err) != 0 ||
        p2p_host_handle(r->n.h, P2P_PROTO_MESHSUB_11, raw_handler, r, err, sizeof err) != 0)
        return -1;
    if (!pn_connect(&r->n, target))
        return -1;
    if (p2p_host_open_stream(r->n.h, p2p_host_id(target->h), P2P_PROTO_MESHSUB_11, raw_opened, r,
                             err, sizeof err) != 0)
        return -1;
    PN_WAIT_FOR(r->opened, 3000);
    return r->opened == 1 ? 0 : -1;
}

static void raw_stop(raw_peer *r)
{
    pn_stop(&r->n);
    buf_free(&r->in);
}

/* Writes raw bytes on the stream, running the loop while it is full. */
static void raw_send(raw_peer *r, const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t deadline = uv_now(pn_loop) + 3000;
    while (n && r->out && uv_now(pn_loop) < deadline) {
        ssize_t w = p2p_stream_write(r->out, b, n);
        if (w < 0)
            break;
        b += w;
        n -= (size_t)w;
        if (n)
            uv_run(pn_loop, UV_RUN_ONCE);
    }
    CHECK_EQ(n, 0);
}

/* Sends an RPC holding the given messages and/or control. */
static void raw_rpc(raw_peer *r, ps_message *msgs, size_t nmsgs, Swarm__Pubsub__ControlMessage *ctl,
                    const char *subscribe)
{
    Swarm__Pubsub__RPC rpc;
    swarm__pubsub__rpc__init(&rpc);
    Swarm__Pubsub__Message pbs[8], *pbp[8];
    uint8_t keys[8][P2P_PUBKEY_PROTO_LEN];
    for (size_t i = 0; i < nmsgs && i < 8; i++) {
        ps_msg_to_pb(&msgs[i], &pbs[i], keys[i]);
        pbp[i] = &pbs[i];
    }
    rpc.n_publish = nmsgs;
    rpc.publish = pbp;
    rpc.control = ctl;
    Swarm__Pubsub__SubOpts so, *sop = &so;
    if (subscribe) {
        swarm__pubsub__sub_opts__init(&so);
        so.has_subscribe = 1;
        so.subscribe = 1;
        so.topicid = (char *)subscribe;
        rpc.n_subscriptions = 1;
        rpc.subscriptions = &sop;
    }
    buf_t b;
    buf_init(&b, 0);
    char err[256];
    CHECK(ps_rpc_encode(&rpc, 4u << 20, &b, err, sizeof err) == 0);
    raw_send(r, b.data, b.len);
    buf_free(&b);
}

static void sign_as(const p2p_key *k, const char *topic, const char *text, uint64_t seqno,
                    ps_message *m)
{
    char err[256];
    CHECK(ps_msg_sign(k, topic, (const uint8_t *)text, strlen(text), seqno, m, err, sizeof err) ==
          0);
}

static void test_forged(void)
{
    pn_node a;
    raw_peer r;
    CHECK(pn_start(&a, NULL, NULL) == 0);
    CHECK(pn_subscribe(&a, "t") == 0);
    CHECK(raw_start(&r, &a) == 0);
    raw_rpc(&r, NULL, 0, NULL, "t");
    PN_WAIT_FOR(a.n_subscribed == 1, 3000);

    p2p_key other;
    char err[256];
    p2p_key_generate(&other, err, sizeof err);
    ps_message m[3];
    /* 1: a signature that does not verify (one bit flipped) */
    sign_as(&r.n.key, "t", "forged signature", 7, &m[0]);
    m[0].sig[10] ^= 1;
    /* 2: from names another peer, the key and signature are the sender's */
    sign_as(&r.n.key, "t", "wrong from", 8, &m[1]);
    p2p_peer_id_from_pubkey(other.pk, &m[1].from);
    /* 3: the genuine message with the seqno of the forged one: the forgery must not have marked
     * its id as seen */
    sign_as(&r.n.key, "t", "genuine", 7, &m[2]);
    raw_rpc(&r, m, 3, NULL, NULL);
    PN_WAIT_FOR(a.nmsgs == 1 && a.n_rejected == 2, 3000);
    CHECK_EQ(a.nmsgs, 1);
    CHECK(a.nmsgs == 1 && a.msgs[0].len == 7 && memcmp(a.msgs[0].data, "genuine", 7) == 0);
    p2p_pubsub_stats st;
    p2p_pubsub_get_stats(a.ps, &st);
    CHECK_EQ(st.bad_signature, 1);
    CHECK_EQ(st.bad_from, 1);
    CHECK_EQ(st.rejected, 2);
    CHECK_EQ(a.n_rejected, 2);
    CHECK_EQ(p2p_pubsub_peer_penalty(a.ps, p2p_host_id(r.n.h)), 4);
    /* the same genuine message again: a duplicate, not delivered twice */
    raw_rpc(&r, &m[2], 1, NULL, NULL);
    pn_spin(200);
    CHECK_EQ(a.nmsgs, 1);
    p2p_pubsub_get_stats(a.ps, &st);
    CHECK_EQ(st.duplicates, 1);
    for (int i = 0; i < 3; i++)
        ps_message_free(&m[i]);

    /* more forgeries pass the threshold: the sender is banned, disconnected and refused */
    ps_message f[8];
    for (int i = 0; i < 8; i++) {
        sign_as(&r.n.key, "t", "forged again", 100 + (uint64_t)i, &f[i]);
        f[i].sig[0] ^= 0x80;
    }
    raw_rpc(&r, f, 8, NULL, NULL);
    PN_WAIT_FOR(a.n_banned == 1 && !p2p_host_is_connected(a.h, p2p_host_id(r.n.h)), 3000);
    CHECK_EQ(a.n_banned, 1);
    CHECK(!p2p_host_is_connected(a.h, p2p_host_id(r.n.h)));
    p2p_pubsub_get_stats(a.ps, &st);
    CHECK_EQ(st.bans, 1);
    CHECK(st.bad_signature >= 2 && st.bad_signature <= 9);
    for (int i = 0; i < 8; i++)
        ps_message_free(&f[i]);
    int disc = r.n.n_disconnected;
    PN_WAIT_FOR(r.n.n_disconnected > disc || !p2p_host_is_connected(r.n.h, p2p_host_id(a.h)), 3000);
    int done = 0;
    p2p_host_dial(r.n.h, a.addr, pn_on_dial, &done, err, sizeof err);
    PN_WAIT_FOR(done != 0, 3000);
    pn_spin(300);
    CHECK(!p2p_host_is_connected(a.h, p2p_host_id(r.n.h))); /* refused while banned */
    raw_stop(&r);
    pn_stop(&a);
}

static void test_bad_input(void)
{
    p2p_pubsub_config c;
    p2p_pubsub_config_default(&c);
    c.max_message_size = 1000;
    c.penalty_threshold = 1000; /* see every case through */
    pn_node a;
    raw_peer r;
    CHECK(pn_start(&a, NULL, &c) == 0);
    CHECK(pn_subscribe(&a, "t") == 0);
    CHECK(raw_start(&r, &a) == 0);
    raw_rpc(&r, NULL, 0, NULL, "t");
    PN_WAIT_FOR(a.n_subscribed == 1 && pn_mesh(&a, "t") == 1, 3000);
    PN_WAIT_FOR(r.rpcs_in >= 1, 3000); /* our subscription and GRAFT arrived at the raw peer */
    CHECK(r.rpcs_in >= 1);

    /* oversized: a message over max_message_size is rejected (counted, not delivered) */
    char *big = malloc(2001);
    memset(big, 'x', 2000);
    big[2000] = '\0';
    ps_message m;
    sign_as(&r.n.key, "t", big, 1, &m);
    raw_rpc(&r, &m, 1, NULL, NULL);
    ps_message_free(&m);
    free(big);
    p2p_pubsub_stats st;
    PN_WAIT_FOR((p2p_pubsub_get_stats(a.ps, &st), st.too_large == 1), 3000);
    CHECK_EQ(st.too_large, 1);
    CHECK_EQ(a.nmsgs, 0);

    /* malformed control: empty and unknown topics, huge back-off, ids over the size limit */
    Swarm__Pubsub__ControlMessage ctl;
    swarm__pubsub__control_message__init(&ctl);
    Swarm__Pubsub__ControlGraft g[2], *gp[2] = {&g[0], &g[1]};
    swarm__pubsub__control_graft__init(&g[0]);
    swarm__pubsub__control_graft__init(&g[1]);
    g[0].topicid = "";
    g[1].topicid = "not-ours";
    Swarm__Pubsub__ControlPrune p, *pp = &p;
    swarm__pubsub__control_prune__init(&p);
    p.topicid = "t";
    p.has_backoff = 1;
    p.backoff = UINT64_MAX;
    uint8_t longid[200] = {1}; /* within the decoder's bound, longer than any id we make */
    ProtobufCBinaryData ids[2] = {{sizeof longid, longid}, {0, NULL}};
    Swarm__Pubsub__ControlIHave ih, *ihp = &ih;
    swarm__pubsub__control_ihave__init(&ih);
    ih.topicid = "t";
    ih.n_messageids = 2;
    ih.messageids = ids;
    ctl.n_graft = 2;
    ctl.graft = gp;
    ctl.n_prune = 1;
    ctl.prune = &pp;
    ctl.n_ihave = 1;
    ctl.ihave = &ihp;
    raw_rpc(&r, NULL, 0, &ctl, NULL);
    PN_WAIT_FOR(pn_mesh(&a, "t") == 0, 3000);
    CHECK_EQ(pn_mesh(&a, "t"), 0); /* the PRUNE took it out */
    p2p_pubsub_get_stats(a.ps, &st);
    CHECK_EQ(st.iwant_sent, 0); /* nothing valid to ask for */
    CHECK(st.prune_sent >= 1);  /* the GRAFT for a topic we do not have */

    /* a flood of IWANT for one cached message: answered at most 3 times */
    int before = r.msgs_in;
    uint64_t seq = pn_publish(&a, "t", "cached", 6, NULL);
    PN_WAIT_FOR(r.msgs_in > before, 3000); /* flood publish reached the raw peer */
    ps_msg_id id;
    memcpy(id.b, p2p_host_id(a.h)->b, p2p_host_id(a.h)->len);
    for (int i = 0; i < 8; i++)
        id.b[p2p_host_id(a.h)->len + i] = (uint8_t)(seq >> (56 - 8 * i));
    id.len = p2p_host_id(a.h)->len + 8;
    enum { FLOOD = 4000 };
    ProtobufCBinaryData *want = malloc(FLOOD * sizeof *want);
    for (int i = 0; i < FLOOD; i++) {
        want[i].len = id.len;
        want[i].data = id.b;
    }
    Swarm__Pubsub__ControlIWant iw, *iwp = &iw;
    swarm__pubsub__control_iwant__init(&iw);
    iw.n_messageids = FLOOD;
    iw.messageids = want;
    swarm__pubsub__control_message__init(&ctl);
    ctl.n_iwant = 1;
    ctl.iwant = &iwp;
    before = r.msgs_in;
    for (int k = 0; k < 3; k++)
        raw_rpc(&r, NULL, 0, &ctl, NULL);
    pn_spin(500);
    p2p_pubsub_get_stats(a.ps, &st);
    CHECK_EQ(st.iwant_served, 3);
    CHECK_EQ(r.msgs_in - before, 3);
    free(want);

    /* bytes that are no RPC: counted, the stream is reset, the peer stays connected */
    static const uint8_t junk[] = {0x05, 0xff, 0xff, 0xff, 0xff, 0xff};
    raw_send(&r, junk, sizeof junk);
    PN_WAIT_FOR(r.out == NULL, 3000);
    CHECK(r.out == NULL);
    p2p_pubsub_get_stats(a.ps, &st);
    CHECK_EQ(st.bad_rpcs, 1);
    CHECK(p2p_host_is_connected(a.h, p2p_host_id(r.n.h)));
    /* and an RPC whose announced length is over the limit */
    r.opened = 0;
    char err[256];
    CHECK(p2p_host_open_stream(r.n.h, p2p_host_id(a.h), P2P_PROTO_MESHSUB_11, raw_opened, &r, err,
                               sizeof err) == 0);
    PN_WAIT_FOR(r.opened, 3000);
    static const uint8_t huge[] = {0x80, 0x80, 0x80, 0x01}; /* 2 MiB */
    raw_send(&r, huge, sizeof huge);
    PN_WAIT_FOR(r.out == NULL, 3000);
    p2p_pubsub_get_stats(a.ps, &st);
    CHECK_EQ(st.bad_rpcs, 2);

    /* the node still works */
    pn_node b;
    CHECK(pn_start(&b, NULL, NULL) == 0);
    CHECK(pn_subscribe(&b, "t") == 0);
    CHECK(pn_connect(&b, &a));
    PN_WAIT_FOR(pn_topic_peers(&a, "t") >= 1 && pn_topic_peers(&b, "t") == 1, 3000);
    pn_publish(&b, "t", "still fine", 10, NULL);
    PN_WAIT_FOR(a.nmsgs == 1, 3000);
    CHECK_EQ(a.nmsgs, 1);
    pn_stop(&b);
    raw_stop(&r);
    pn_stop(&a);
}

int main(int argc, char **argv)
{
    signal(SIGALRM, alarm_handler);
    alarm(110);
    signal(SIGPIPE, SIG_IGN);
    pn_loop = uv_default_loop();
    uv_timer_init(pn_loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"pair", test_pair},     {"validator", test_validator}, {"fanout", test_fanout},
        {"forged", test_forged}, {"bad_input", test_bad_input}, {"mesh12", test_mesh12},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        bool run = argc < 2;
        for (int k = 1; k < argc; k++)
            run |= strstr(tests[i].name, argv[k]) != NULL;
        if (!run)
            continue;
        uint64_t t0 = uv_hrtime();
        tests[i].fn();
        printf("%-30s %6.0f ms\n", tests[i].name, (double)(uv_hrtime() - t0) / 1e6);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(pn_loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(pn_loop), 0);
    return CHECK_DONE();
}
