/* host_pubsub.c - gossipsub on a host: the public p2p_pubsub_* API (lifecycle, subscriptions,
 * validators, queries), the streams (our one outbound stream per peer, negotiated as
 * /meshsub/1.2.0 or else /meshsub/1.1.0, and the peer's inbound one, read as length-prefixed
 * RPCs), the host events that add and remove peers, the heartbeat timer, penalties and bans.
 * The router itself is in pubsub_router.c and pubsub_heartbeat.c. */
#include "host_internal.h"
#include "pubsub_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

void p2p_pubsub_config_default(p2p_pubsub_config *c)
{
    memset(c, 0, sizeof *c);
    c->d = 6;
    c->d_lo = 4;
    c->d_hi = 12;
    c->d_lazy = 6;
    c->heartbeat_ms = 1000;
    c->fanout_ttl_ms = 60000;
    c->mcache_len = 5;
    c->mcache_gossip = 3;
    c->seen_ttl_ms = 120000;
    c->prune_backoff_ms = 60000;
    c->max_message_size = PS_MAX_MSG_DATA;
    c->msg_id = P2P_PS_ID_FROM_SEQNO;
    c->flood_publish = true;
    c->idontwant_min_size = 1024;
    c->penalty_threshold = 20;
    c->ban_ms = 60000;
}

uint64_t ps_now(const p2p_pubsub *ps)
{
    return uv_now(ps->h->loop);
}

void ps_emit(p2p_pubsub *ps, p2p_ps_event_type type, const ps_peer *p, const char *topic,
             const char *message)
{
    if (!ps->cfg.on_event || ps->closing)
        return;
    p2p_ps_event ev = {.type = type, .peer = p ? &p->id : NULL, .topic = topic, .message = message};
    ps->cfg.on_event(ps, &ev, ps->cfg.user);
}

/* ---- sending -------------------------------------------------------------------------------- */

/* Writes as much of p's queue as its stream takes. */
static void out_drain(ps_peer *p)
{
    while (p->out && p->out_off < p->out_q.len) {
        ssize_t w = p2p_stream_write(p->out, p->out_q.data + p->out_off, p->out_q.len - p->out_off);
        if (w <= 0)
            break; /* on_writable (or on_close) follows */
        p->out_off += (size_t)w;
    }
    if (p->out_off == p->out_q.len) {
        buf_clear(&p->out_q);
        p->out_off = 0;
        if (p->out_q.cap > 256 * 1024) /* do not keep a burst's memory */
            buf_free(&p->out_q);
    }
}

void ps_send_frame(ps_peer *p, const uint8_t *frame, size_t n)
{
    if (p->banned || p->version < 0)
        return;
    size_t queued = p->out_q.len - p->out_off;
    if (queued && queued + n > PS_OUTQ_LIMIT) {
        p->ps->st.dropped_queue++;
        return;
    }
    if (p->out_off && p->out_off >= p->out_q.len / 2) {
        memmove(p->out_q.data, p->out_q.data + p->out_off, queued);
        p->out_q.len = queued;
        p->out_off = 0;
    }
    if (buf_append(&p->out_q, frame, n) != 0) {
        p->ps->st.dropped_queue++;
        return;
    }
    out_drain(p);
}

void ps_flush(p2p_pubsub *ps)
{
    buf_t f;
    buf_init(&f, 0);
    for (ps_peer *p = ps->peers; p; p = p->next) {
        if (!p->pend_subs.len && !p->pend_ctl.len)
            continue;
        uint8_t tmp[VARINT_MAX_LEN];
        size_t body = p->pend_subs.len;
        if (p->pend_ctl.len)
            body += 1 + uvarint_encode(p->pend_ctl.len, tmp) + p->pend_ctl.len;
        buf_clear(&f);
        if (buf_put_uvarint(&f, body) == 0 &&
            buf_append(&f, p->pend_subs.data, p->pend_subs.len) == 0 &&
            (!p->pend_ctl.len ||
             (buf_put_uvarint(&f, 3 << 3 | 2) == 0 && buf_put_uvarint(&f, p->pend_ctl.len) == 0 &&
              buf_append(&f, p->pend_ctl.data, p->pend_ctl.len) == 0)))
            ps_send_frame(p, f.data, f.len);
        buf_clear(&p->pend_subs);
        buf_clear(&p->pend_ctl);
    }
    buf_free(&f);
}

/* ---- penalties and bans --------------------------------------------------------------------- */

static bool is_banned(const p2p_pubsub *ps, const p2p_peer_id *id)
{
    uint64_t now = ps_now(ps);
    for (size_t i = 0; i < ps->nbans; i++)
        if (ps->bans[i].until > now && p2p_peer_id_eq(&ps->bans[i].id, id))
            return true;
    return false;
}

static void ban(p2p_pubsub *ps, ps_peer *p)
{
    p->banned = true;
    ps->st.bans++;
    for (ps_topic *t = ps->topics; t; t = t->next) {
        ps_set_del(&t->mesh, p);
        ps_set_del(&t->fanout, p);
    }
    if (ps->nbans == ps->capbans) {
        size_t cap = ps->capbans ? ps->capbans * 2 : 8;
        ps_ban *grown = realloc(ps->bans, cap * sizeof *grown);
        if (grown) {
            ps->bans = grown;
            ps->capbans = cap;
        }
    }
    if (ps->nbans < ps->capbans) {
        ps->bans[ps->nbans].id = p->id;
        ps->bans[ps->nbans].until = ps_now(ps) + ps->cfg.ban_ms;
        ps->nbans++;
    }
    char msg[128];
    snprintf(msg, sizeof msg, "%u penalty points: disconnected, refused for %llu ms", p->penalty,
             (unsigned long long)ps->cfg.ban_ms);
    ps_emit(ps, P2P_PS_EV_BANNED, p, NULL, msg);
    p2p_host_disconnect(ps->h, &p->id); /* DISCONNECTED follows from the loop */
}

void ps_penalize(ps_peer *p, unsigned points, const char *topic, const char *what)
{
    p2p_pubsub *ps = p->ps;
    if (p->banned)
        return;
    p->penalty += points;
    ps->st.penalties += points;
    ps_emit(ps, P2P_PS_EV_REJECTED, p, topic, what);
    if (p->penalty >= ps->cfg.penalty_threshold)
        ban(ps, p);
}

/* ---- streams -------------------------------------------------------------------------------- */

static void out_open(ps_peer *p, int version);

static void out_writable(p2p_stream *s, void *user)
{
    (void)s;
    if (user)
        out_drain(user);
}

static void out_eof(p2p_stream *s, void *user)
{
    (void)user;
    p2p_stream_close_write(s); /* the peer is done with our stream: so are we */
}

static void out_close(p2p_stream *s, const char *reason, void *user)
{
    ps_peer *p = user;
    (void)reason;
    if (p && p->out == s)
        p->out = NULL; /* the heartbeat opens a new one while the peer is connected */
}

static const p2p_stream_cbs out_cbs = {
    .on_eof = out_eof, .on_writable = out_writable, .on_close = out_close};

typedef struct {
    p2p_pubsub *ps;
    p2p_peer_id peer;
    int version;
} out_req;

static void out_opened(p2p_stream *s, const char *err, void *user)
{
    out_req *r = user;
    p2p_pubsub *ps = r->ps;
    ps_peer *p = ps->closing ? NULL : ps_peer_find(ps, &r->peer);
    int version = r->version;
    free(r);
    (void)err;
    if (!p || p->banned) {
        if (s)
            p2p_stream_reset(s);
        return;
    }
    p->opening = false;
    if (!s) {
        if (version == 12 && p2p_host_is_connected(ps->h, &p->id))
            out_open(p, 11);
        else if (p2p_host_is_connected(ps->h, &p->id)) {
            p->version = -1; /* speaks neither: not a gossipsub peer */
            buf_free(&p->out_q);
            p->out_off = 0;
        }
        return;
    }
    if (p->out) { /* cannot happen (one open at a time), but never keep two */
        p2p_stream_reset(s);
        return;
    }
    p->out = s;
    p->version = version;
    p2p_stream_set_cbs(s, &out_cbs, p);
    out_drain(p);
}

static void out_open(ps_peer *p, int version)
{
    p2p_pubsub *ps = p->ps;
    if (p->out || p->opening || ps->closing || p->banned)
        return;
    out_req *r = malloc(sizeof *r);
    if (!r)
        return;
    r->ps = ps;
    r->peer = p->id;
    r->version = version;
    char err[256];
    const char *proto = version == 12 ? P2P_PROTO_MESHSUB_12 : P2P_PROTO_MESHSUB_11;
    if (p2p_host_open_stream(ps->h, &p->id, proto, out_opened, r, err, sizeof err) != 0) {
        free(r);
        return;
    }
    p->opening = true;
}

static void in_close(p2p_stream *s, const char *reason, void *user)
{
    ps_peer *p = user;
    (void)reason;
    if (p && p->in == s) {
        p->in = NULL;
        buf_free(&p->rbuf);
    }
}

/* Handles the whole RPCs in p->rbuf; returns -1 (stream to reset) on a malformed one. */
static int in_parse(ps_peer *p)
{
    p2p_pubsub *ps = p->ps;
    size_t max = PS_RPC_MAX_DEFAULT, off = 0;
    int rc = 0;
    while (off < p->rbuf.len && !p->banned && !ps->closing) {
        size_t hdr, body;
        char err[128];
        int r =
            ps_rpc_frame(p->rbuf.data + off, p->rbuf.len - off, max, &hdr, &body, err, sizeof err);
        if (r == 0)
            break;
        if (r < 0) {
            ps->st.bad_rpcs++;
            ps_penalize(p, PS_PENALTY_MALFORMED, NULL, err);
            rc = -1;
            break;
        }
        if (ps_handle_rpc(p, p->rbuf.data + off + hdr, body) != 0) {
            rc = -1;
            break;
        }
        off += hdr + body;
    }
    if (rc != 0 || p->banned) {
        buf_clear(&p->rbuf);
        return rc;
    }
    memmove(p->rbuf.data, p->rbuf.data + off, p->rbuf.len - off);
    p->rbuf.len -= off;
    return 0;
}

static void in_data(p2p_stream *s, const uint8_t *d, size_t n, void *user)
{
    ps_peer *p = user;
    if (!p)
        return;
    p2p_pubsub *ps = p->ps;
    p->depth++;
    while (n && p->in == s && !p->banned && !ps->closing) {
        size_t room = p->rbuf.limit - p->rbuf.len;
        size_t take = n < room ? n : room;
        if (take == 0 || buf_append(&p->rbuf, d, take) != 0) { /* cannot be a valid RPC */
            ps->st.bad_rpcs++;
            ps_penalize(p, PS_PENALTY_MALFORMED, NULL, "RPC larger than the limit");
            p2p_stream_reset(s);
            break;
        }
        d += take;
        n -= take;
        if (in_parse(p) != 0) {
            p2p_stream_reset(s);
            break;
        }
    }
    p->depth--;
    if (p->gone && p->depth == 0) {
        ps_peer_free(p);
        return;
    }
    ps_flush(ps);
}

static void in_eof(p2p_stream *s, void *user)
{
    (void)user;
    p2p_stream_close_write(s);
}

static const p2p_stream_cbs in_cbs = {.on_data = in_data, .on_eof = in_eof, .on_close = in_close};
static const p2p_stream_cbs detached_cbs = {0};

/* Makes p's streams forget p (they may outlive it briefly) and resets them. */
static void detach_streams(ps_peer *p)
{
    p2p_stream *ss[2] = {p->in, p->out};
    p->in = p->out = NULL;
    for (int i = 0; i < 2; i++) {
        if (ss[i]) {
            p2p_stream_set_cbs(ss[i], &detached_cbs, NULL);
            p2p_stream_reset(ss[i]);
        }
    }
}

static void in_handler(p2p_stream *s, void *user)
{
    p2p_pubsub *ps = ((p2p_host *)user)->pubsub;
    if (!ps) { /* p2p_pubsub_new failed after registering the protocols */
        p2p_stream_reset(s);
        return;
    }
    const p2p_peer_id *id = p2p_stream_peer(s);
    ps_peer *p = ps->closing || is_banned(ps, id) ? NULL : ps_peer_find(ps, id);
    if (!p && !ps->closing && !is_banned(ps, id))
        p = ps_peer_new(ps, id);
    if (!p || p->banned || p->gone) {
        p2p_stream_reset(s);
        return;
    }
    if (p->in) { /* the newest stream is the one the peer writes to */
        p2p_stream *old = p->in;
        p->in = NULL;
        p2p_stream_set_cbs(old, &detached_cbs, NULL);
        p2p_stream_reset(old);
    }
    buf_free(&p->rbuf);
    buf_init(&p->rbuf, PS_RPC_READ_LIMIT);
    p->in = s;
    p2p_stream_set_cbs(s, &in_cbs, p);
    out_open(p, 12); /* a peer that opened its stream first also gets ours */
    ps_flush(ps);
}

/* ---- host events, heartbeat, lifecycle ------------------------------------------------------ */

static void peer_gone(ps_peer *p)
{
    detach_streams(p);
    if (p->depth) {
        p->gone = true;
        p->banned = true; /* nothing more is sent or handled */
        return;
    }
    ps_peer_free(p);
}

void pubsub_host_event(p2p_pubsub *ps, const p2p_event *ev)
{
    if (ps->closing || !ev->peer)
        return;
    if (ev->type == P2P_EV_CONNECTED) {
        if (is_banned(ps, ev->peer)) {
            p2p_host_disconnect(ps->h, ev->peer);
            return;
        }
        ps_peer *p = ps_peer_find(ps, ev->peer);
        if (!p)
            p = ps_peer_new(ps, ev->peer);
        if (p) {
            out_open(p, 12);
            ps_flush(ps);
        }
    } else if (ev->type == P2P_EV_DISCONNECTED) {
        ps_peer *p = ps_peer_find(ps, ev->peer);
        if (p && !p->gone)
            peer_gone(p);
    }
}

static void on_heartbeat(uv_timer_t *t)
{
    p2p_pubsub *ps = t->data;
    if (ps->closing)
        return;
    ps_heartbeat(ps);
    for (ps_peer *p = ps->peers; p; p = p->next)
        if (!p->out && !p->opening && p->version >= 0 && !p->banned &&
            p2p_host_is_connected(ps->h, &p->id))
            out_open(p, p->version ? p->version : 12);
}

static void on_heartbeat_closed(uv_handle_t *handle)
{
    p2p_pubsub *ps = handle->data;
    host_unref(ps->h);
}

void pubsub_host_closing(p2p_pubsub *ps)
{
    ps->closing = true;
    uv_timer_stop(&ps->heartbeat);
    uv_close((uv_handle_t *)&ps->heartbeat, on_heartbeat_closed);
}

void pubsub_free(p2p_pubsub *ps)
{
    while (ps->peers) {
        ps_peer *p = ps->peers;
        p->in = p->out = NULL; /* the streams are gone with their connections */
        ps_peer_free(p);
    }
    while (ps->topics) {
        ps_topic *t = ps->topics;
        ps->topics = t->next;
        free(t->mesh.p);
        free(t->fanout.p);
        free(t->name);
        free(t);
    }
    ps_idmap_free(&ps->seen);
    ps_mcache_free(&ps->mcache);
    free(ps->bans);
    buf_free(&ps->scratch);
    free(ps);
}

static int check_config(const p2p_pubsub_config *c, char *err, size_t errlen)
{
    if (c->d == 0 || c->d_lo > c->d || c->d > c->d_hi || c->d_hi > 1000)
        return err_set(err, errlen, "pubsub: need 0 < d_lo <= d <= d_hi <= 1000 (got %u, %u, %u)",
                       c->d_lo, c->d, c->d_hi);
    if (c->heartbeat_ms == 0)
        return err_set(err, errlen, "pubsub: heartbeat_ms must be at least 1");
    if (c->mcache_len == 0 || c->mcache_gossip > c->mcache_len || c->mcache_len > 1000)
        return err_set(err, errlen, "pubsub: need 0 < mcache_gossip <= mcache_len <= 1000");
    if (c->max_message_size == 0 || c->max_message_size > PS_MAX_MSG_DATA)
        return err_set(err, errlen, "pubsub: max_message_size must be 1..%u bytes",
                       PS_MAX_MSG_DATA);
    if (c->msg_id > P2P_PS_ID_CONTENT)
        return err_set(err, errlen, "pubsub: unknown message id scheme");
    if (c->penalty_threshold == 0)
        return err_set(err, errlen, "pubsub: penalty_threshold must be at least 1");
    return 0;
}

int p2p_pubsub_new(p2p_host *h, const p2p_pubsub_config *cfg, p2p_pubsub **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    if (h->closing)
        return err_set(err, errlen, "pubsub: the host is closing");
    if (h->pubsub)
        return err_set(err, errlen, "pubsub: this host already runs one");
    p2p_pubsub_config defaults;
    if (!cfg) {
        p2p_pubsub_config_default(&defaults);
        cfg = &defaults;
    }
    if (check_config(cfg, err, errlen) != 0)
        return -1;
    p2p_pubsub *ps = calloc(1, sizeof *ps);
    if (!ps || ps_mcache_init(&ps->mcache, cfg->mcache_len) != 0) {
        free(ps);
        return err_set(err, errlen, "pubsub: out of memory");
    }
    ps->h = h;
    ps->cfg = *cfg;
    ps_idmap_init(&ps->seen, PS_SEEN_MAX);
    buf_init(&ps->scratch, 0);
    /* Seqnos go on from the wall clock, so a node that restarts with the same key does not
     * reuse the seqnos (and message ids) of its last life that peers may still remember. */
    ps->seqno = clock_wall_ms() * 1000000ull + randombytes_uniform(1000000);
    /* the handlers find the pubsub through the host, so a half-done registration is safe */
    if (p2p_host_handle(h, P2P_PROTO_MESHSUB_12, in_handler, h, err, errlen) != 0 ||
        p2p_host_handle(h, P2P_PROTO_MESHSUB_11, in_handler, h, err, errlen) != 0) {
        ps_mcache_free(&ps->mcache);
        free(ps);
        return -1;
    }
    uv_timer_init(h->loop, &ps->heartbeat);
    ps->heartbeat.data = ps;
    h->refs++;
    uv_timer_start(&ps->heartbeat, on_heartbeat, cfg->heartbeat_ms, cfg->heartbeat_ms);
    h->pubsub = ps;
    p2p_peer_id ids[256];
    size_t n = p2p_host_peers(h, ids, 256);
    for (size_t i = 0; i < n && i < 256; i++) {
        p2p_event ev = {.type = P2P_EV_CONNECTED, .peer = &ids[i]};
        pubsub_host_event(ps, &ev);
    }
    *out = ps;
    return 0;
}

p2p_host *p2p_pubsub_host(const p2p_pubsub *ps)
{
    return ps->h;
}

/* ---- subscriptions and queries -------------------------------------------------------------- */

static int check_topic(const char *topic, char *err, size_t errlen)
{
    if (!topic || !*topic)
        return err_set(err, errlen, "pubsub: empty topic");
    if (strlen(topic) > PS_MAX_TOPIC_LEN)
        return err_set(err, errlen, "pubsub: topic longer than %d bytes", PS_MAX_TOPIC_LEN);
    return 0;
}

int p2p_pubsub_subscribe(p2p_pubsub *ps, const char *topic, p2p_ps_handler fn, void *user,
                         char *err, size_t errlen)
{
    if (check_topic(topic, err, errlen) != 0)
        return -1;
    if (ps->closing)
        return err_set(err, errlen, "pubsub: the host is closing");
    ps_topic *t = ps_topic_get(ps, topic);
    if (!t)
        return err_set(err, errlen, "pubsub: out of memory");
    t->fn = fn;
    t->fn_user = user;
    if (!t->subscribed) {
        t->subscribed = true;
        for (ps_peer *p = ps->peers; p; p = p->next)
            ps_queue_sub(p, topic, true);
        ps_join(ps, t);
        ps_flush(ps);
    }
    return 0;
}

int p2p_pubsub_unsubscribe(p2p_pubsub *ps, const char *topic, char *err, size_t errlen)
{
    ps_topic *t = topic ? ps_topic_find(ps, topic) : NULL;
    if (!t || !t->subscribed)
        return err_set(err, errlen, "pubsub: not subscribed to '%s'", topic ? topic : "");
    ps_leave(ps, t);
    t->subscribed = false;
    t->fn = NULL;
    for (ps_peer *p = ps->peers; p; p = p->next)
        ps_queue_sub(p, topic, false);
    ps_flush(ps);
    ps_topic_release(ps, t);
    return 0;
}

int p2p_pubsub_set_validator(p2p_pubsub *ps, const char *topic, p2p_ps_validator fn, void *user,
                             char *err, size_t errlen)
{
    if (check_topic(topic, err, errlen) != 0)
        return -1;
    ps_topic *t = fn ? ps_topic_get(ps, topic) : ps_topic_find(ps, topic);
    if (!t)
        return fn ? err_set(err, errlen, "pubsub: out of memory") : 0;
    t->val = fn;
    t->val_user = user;
    ps_topic_release(ps, t);
    return 0;
}

size_t p2p_pubsub_topic_peers(const p2p_pubsub *ps, const char *topic, p2p_peer_id *out, size_t max)
{
    size_t n = 0;
    for (const ps_peer *p = ps->peers; p; p = p->next) {
        if (!ps_peer_gossips(p) || !ps_peer_subscribed(p, topic))
            continue;
        if (n < max)
            out[n] = p->id;
        n++;
    }
    return n;
}

size_t p2p_pubsub_mesh_peers(const p2p_pubsub *ps, const char *topic, p2p_peer_id *out, size_t max)
{
    const ps_topic *t = ps_topic_find(ps, topic);
    if (!t || !t->subscribed)
        return 0;
    for (size_t i = 0; i < t->mesh.n && i < max; i++)
        out[i] = t->mesh.p[i]->id;
    return t->mesh.n;
}

void p2p_pubsub_get_stats(const p2p_pubsub *ps, p2p_pubsub_stats *out)
{
    *out = ps->st;
}

unsigned p2p_pubsub_peer_penalty(const p2p_pubsub *ps, const p2p_peer_id *peer)
{
    const ps_peer *p = ps_peer_find(ps, peer);
    return p ? p->penalty : 0;
}
