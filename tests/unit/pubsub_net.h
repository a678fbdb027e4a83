/* pubsub_net.h - many gossipsub nodes on one libuv loop over real sockets on 127.0.0.1, for
 * tests/unit/test_p2p_pubsub.c and bench/pubsub_bench.c. Each node is a host with a pubsub; it
 * records the messages its subscriptions receive and the pubsub events. Every wait is bounded
 * (PN_WAIT_FOR). Header-only: static functions, one loop per program (pn_loop). */
#ifndef SWARM_TEST_PUBSUB_NET_H
#define SWARM_TEST_PUBSUB_NET_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "p2p.h"

static uv_loop_t *pn_loop;

/* Runs the loop until cond holds or ms pass. */
#define PN_WAIT_FOR(cond, ms)                          \
    do {                                               \
        uint64_t deadline_ = uv_now(pn_loop) + (ms);   \
        while (!(cond) && uv_now(pn_loop) < deadline_) \
            uv_run(pn_loop, UV_RUN_ONCE);              \
    } while (0)

static inline void pn_spin(uint64_t ms)
{
    uint64_t deadline = uv_now(pn_loop) + ms;
    while (uv_now(pn_loop) < deadline)
        uv_run(pn_loop, UV_RUN_ONCE);
}

/* One received message, as the handler saw it (data copied). */
typedef struct {
    char topic[64];
    p2p_peer_id from, via;
    uint64_t seqno;
    uint8_t *data;
    size_t len;
    uint64_t at_ns; /* uv_hrtime when delivered */
} pn_msg;

typedef struct {
    p2p_host *h;
    p2p_pubsub *ps;
    p2p_key key;
    char addr[256]; /* listen address with /p2p */
    bool closed, keep_data;
    pn_msg *msgs;
    size_t nmsgs, capmsgs;
    int n_subscribed, n_unsubscribed, n_graft, n_prune, n_rejected, n_banned;
    int n_connected, n_disconnected;
    char last_reject[256];
    p2p_ps_verdict (*validate)(const pn_msg *m); /* for pn_validator; NULL: accept */
} pn_node;

static inline void pn_on_host_event(p2p_host *h, const p2p_event *ev, void *user)
{
    pn_node *n = user;
    (void)h;
    if (ev->type == P2P_EV_CONNECTED)
        n->n_connected++;
    else if (ev->type == P2P_EV_DISCONNECTED)
        n->n_disconnected++;
    else if (ev->type == P2P_EV_LISTENING && !n->addr[0]) {
        char a[200], id[P2P_PEER_ID_STRLEN];
        snprintf(n->addr, sizeof n->addr, "%s/p2p/%s", p2p_maddr_cstr(ev->addr, a, sizeof a),
                 p2p_peer_id_str(ev->peer, id));
    }
}

static inline void pn_on_ps_event(p2p_pubsub *ps, const p2p_ps_event *ev, void *user)
{
    pn_node *n = user;
    (void)ps;
    switch (ev->type) {
    case P2P_PS_EV_SUBSCRIBED:
        n->n_subscribed++;
        break;
    case P2P_PS_EV_UNSUBSCRIBED:
        n->n_unsubscribed++;
        break;
    case P2P_PS_EV_GRAFT:
        n->n_graft++;
        break;
    case P2P_PS_EV_PRUNE:
        n->n_prune++;
        break;
    case P2P_PS_EV_REJECTED:
        n->n_rejected++;
        snprintf(n->last_reject, sizeof n->last_reject, "%s", ev->message ? ev->message : "");
        break;
    case P2P_PS_EV_BANNED:
        n->n_banned++;
        break;
    }
}

static inline void pn_on_message(p2p_pubsub *ps, const p2p_ps_message *m, void *user)
{
    pn_node *n = user;
    (void)ps;
    if (n->nmsgs == n->capmsgs) {
        size_t cap = n->capmsgs ? n->capmsgs * 2 : 64;
        pn_msg *grown = realloc(n->msgs, cap * sizeof *grown);
        if (!grown)
            return;
        n->msgs = grown;
        n->capmsgs = cap;
    }
    pn_msg *r = &n->msgs[n->nmsgs++];
    memset(r, 0, sizeof *r);
    r->at_ns = uv_hrtime();
    snprintf(r->topic, sizeof r->topic, "%s", m->topic);
    r->from = *m->from;
    r->via = *m->received_from;
    r->seqno = m->seqno;
    r->len = m->len;
    if (n->keep_data && m->len && (r->data = malloc(m->len)))
        memcpy(r->data, m->data, m->len);
}

static inline p2p_ps_verdict pn_validator(p2p_pubsub *ps, const p2p_ps_message *m, void *user)
{
    pn_node *n = user;
    (void)ps;
    pn_msg view = {.len = m->len, .data = (uint8_t *)m->data};
    return n->validate ? n->validate(&view) : P2P_PS_ACCEPT;
}

/* Starts a node listening on 127.0.0.1 with key (NULL: a new one) and pubsub config (NULL:
 * defaults; on_event is set here). Returns 0 once it listens. */
static inline int pn_start(pn_node *n, const p2p_key *key, const p2p_pubsub_config *pcfg)
{
    char err[256];
    memset(n, 0, sizeof *n);
    n->keep_data = true;
    if (key)
        n->key = *key;
    else if (p2p_key_generate(&n->key, err, sizeof err) != 0)
        return -1;
    p2p_host_config hc;
    p2p_host_config_default(&hc);
    hc.key = &n->key;
    if (p2p_host_new(pn_loop, &hc, pn_on_host_event, n, &n->h, err, sizeof err) != 0 ||
        p2p_host_listen(n->h, "/ip4/127.0.0.1/tcp/0", err, sizeof err) != 0) {
        fprintf(stderr, "pn_start: %s\n", err);
        return -1;
    }
    p2p_pubsub_config c;
    if (pcfg)
        c = *pcfg;
    else
        p2p_pubsub_config_default(&c);
    c.on_event = pn_on_ps_event;
    c.user = n;
    if (p2p_pubsub_new(n->h, &c, &n->ps, err, sizeof err) != 0) {
        fprintf(stderr, "pn_start: %s\n", err);
        return -1;
    }
    return 0;
}

static inline int pn_subscribe(pn_node *n, const char *topic)
{
    char err[256];
    if (p2p_pubsub_subscribe(n->ps, topic, pn_on_message, n, err, sizeof err) != 0) {
        fprintf(stderr, "subscribe: %s\n", err);
        return -1;
    }
    return 0;
}

static inline void pn_on_closed(void *user)
{
    ((pn_node *)user)->closed = true;
}

static inline void pn_forget_msgs(pn_node *n)
{
    for (size_t i = 0; i < n->nmsgs; i++)
        free(n->msgs[i].data);
    n->nmsgs = 0;
}

/* Closes the host (and its pubsub) and waits for it; frees the recorded messages. */
static inline void pn_stop(pn_node *n)
{
    if (n->h) {
        p2p_host_close(n->h, pn_on_closed, n);
        PN_WAIT_FOR(n->closed, 5000);
        n->h = NULL;
        n->ps = NULL;
    }
    pn_forget_msgs(n);
    free(n->msgs);
    n->msgs = NULL;
    n->capmsgs = 0;
}

static inline void pn_on_dial(p2p_host *h, int status, const p2p_peer_id *peer, const char *err,
                              void *user)
{
    (void)h;
    (void)peer;
    (void)err;
    *(int *)user = status == 0 ? 1 : -1;
}

/* Dials b from a and waits until both see the connection. */
static inline bool pn_connect(pn_node *a, pn_node *b)
{
    int done = 0;
    char err[256];
    if (p2p_host_dial(a->h, b->addr, pn_on_dial, &done, err, sizeof err) != 0)
        return false;
    PN_WAIT_FOR(done != 0 && p2p_host_is_connected(b->h, p2p_host_id(a->h)), 5000);
    return done == 1 && p2p_host_is_connected(b->h, p2p_host_id(a->h));
}

/* How many of n's recorded messages came from `from` with this seqno. */
static inline int pn_count(const pn_node *n, const p2p_peer_id *from, uint64_t seqno)
{
    int k = 0;
    for (size_t i = 0; i < n->nmsgs; i++)
        if (n->msgs[i].seqno == seqno && p2p_peer_id_eq(&n->msgs[i].from, from))
            k++;
    return k;
}

static inline size_t pn_mesh(const pn_node *n, const char *topic)
{
    p2p_peer_id ids[64];
    return p2p_pubsub_mesh_peers(n->ps, topic, ids, 64);
}

static inline size_t pn_topic_peers(const pn_node *n, const char *topic)
{
    p2p_peer_id ids[64];
    return p2p_pubsub_topic_peers(n->ps, topic, ids, 64);
}

static inline uint64_t pn_publish(pn_node *n, const char *topic, const void *data, size_t len,
                                  int *sent)
{
    char err[256];
    uint64_t seqno = 0;
    int r = p2p_pubsub_publish(n->ps, topic, data, len, &seqno, err, sizeof err);
    if (r < 0)
        fprintf(stderr, "publish: %s\n", err);
    if (sent)
        *sent = r;
    return seqno;
}

#endif
