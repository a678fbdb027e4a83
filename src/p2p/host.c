/* host.c - the host: lifecycle, configuration defaults, listeners, dials, the connection table
 * (connections by peer), protocol handlers, events, and the service idle. */
#include "host_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#ifndef SWARM_VERSION
#define SWARM_VERSION "0.0.0"
#endif

/* A burst of connections (an attack, or many honest peers at once) waits in the kernel: with a
 * short queue the kernel drops the SYNs beyond it, and an honest peer caught in that loses a
 * second or more to retransmission. The kernel clamps it to net.core.somaxconn. */
#define HOST_LISTEN_BACKLOG 4096
/* Connections accepted per loop iteration, all listeners together. libuv would otherwise drain
 * the whole backlog in one go before reading anything: under a flood of silent sockets, a
 * newcomer whose first bytes are already waiting would be dropped to make room before we saw
 * that it spoke. */
#define HOST_ACCEPT_BATCH 16

void p2p_host_config_default(p2p_host_config *c)
{
    memset(c, 0, sizeof *c);
    c->max_conns = 256;
    c->max_streams = 256;
    c->handshake_timeout_ms = 10000;
    c->dial_timeout_ms = 15000;
    c->idle_timeout_ms = 120000;
    c->keepalive_ms = 15000;
    c->write_stall_ms = 30000;
    c->max_pending_inbound = 64;
    c->max_pending_per_ip = 16;
    c->max_conns_per_ip = 64;
    c->max_conns_per_peer = 4;
    c->first_byte_ms = 3000;
    c->conn_mem_budget = 8u << 20;
    c->host_mem_budget = 64u << 20;
}

void host_emit(p2p_host *h, const p2p_event *ev)
{
    if (h->pubsub)
        pubsub_host_event(h->pubsub, ev);
    if (h->on_event)
        h->on_event(h, ev, h->user);
}

host_handler *host_handler_find(const p2p_host *h, const char *protocol)
{
    for (host_handler *hd = h->handlers; hd; hd = hd->next)
        if (strcmp(hd->protocol, protocol) == 0)
            return hd;
    return NULL;
}

bool host_conn_usable(const host_conn *c)
{
    return c->up && !c->closing && !c->goaway_recvd;
}

host_conn *host_conn_newest(const p2p_host *h, const p2p_peer_id *peer)
{
    host_conn *best = NULL;
    for (host_conn *c = h->conns; c; c = c->next)
        if (host_conn_usable(c) && p2p_peer_id_eq(&c->peer, peer) &&
            (!best || c->up_seq > best->up_seq))
            best = c;
    return best;
}

size_t host_conn_slots(const p2p_host *h)
{
    size_t n = 0;
    for (const host_conn *c = h->conns; c; c = c->next)
        if (!c->closing && (c->up || !c->inbound))
            n++;
    return n;
}

/* Takes the connections that listeners held back at HOST_ACCEPT_BATCH; libuv then goes on
 * accepting from those listeners. */
static void host_accept_held(p2p_host *h)
{
    h->accepted_turn = 0;
    for (host_listener *l = h->listeners; l && !h->closing; l = l->next) {
        if (!l->held || !l->listening)
            continue;
        l->held = false;
        h->accepted_turn++;
        conn_accept(h, (uv_stream_t *)&l->tcp);
    }
}

static host_conn *host_conn_of(rcmgr_conn *rc)
{
    return (host_conn *)(void *)((char *)rc - offsetof(host_conn, rcm));
}

bool host_admit_inbound(host_conn *c)
{
    p2p_host *h = c->h;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char err[HOST_REASON_MAX];
    rcmgr_addr a;
    int r = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len);
    if (r != 0) { /* the peer is already gone (reset while in the backlog) */
        conn_close(c, false, "accept: %s", uv_strerror(r));
        return false;
    }
    p2p_maddr_from_sockaddr((struct sockaddr *)&ss, &c->remote, err, sizeof err);
    if (rcmgr_addr_from_sockaddr((struct sockaddr *)&ss, &a) != 0) {
        conn_close(c, false, "accept: not an IP address");
        return false;
    }
    if (host_conn_slots(h) >= h->cfg.max_conns) {
        /* no room even if the handshake succeeds: refuse now rather than after it */
        conn_close(c, false, "too many connections (%u)", h->cfg.max_conns);
        return false;
    }
    rcmgr_conn *evict;
    if (rcmgr_inbound(h->rcm, &c->rcm, &a, &evict, err, sizeof err) != 0) {
        conn_close(c, false, "%s", err);
        return false;
    }
    if (evict)
        conn_close(host_conn_of(evict), false, "%s", err);
    return true;
}

bool host_admit_peer(host_conn *c, const p2p_peer_id *peer)
{
    char err[HOST_REASON_MAX];
    if (rcmgr_peer(c->h->rcm, &c->rcm, peer, err, sizeof err) != 0) {
        conn_close(c, false, "%s", err);
        return false;
    }
    return true;
}

/* True if another counted connection to c's peer exists. */
static bool host_peer_counted(const p2p_host *h, const host_conn *c)
{
    for (host_conn *o = h->conns; o; o = o->next)
        if (o != c && o->counted && p2p_peer_id_eq(&o->peer, &c->peer))
            return true;
    return false;
}

static void host_on_idle(uv_idle_t *idle);

void host_schedule(p2p_host *h)
{
    if (!h->closing)
        uv_idle_start(&h->idle, host_on_idle); /* no-op if already active */
}

static void host_on_later(uv_timer_t *t)
{
    p2p_host *h = t->data;
    uint64_t now = uv_now(h->loop), next = 0;
    h->later_at = 0;
    for (host_conn *c = h->conns; c; c = c->next)
        if (c->stage == CONN_UP && !c->closing)
            stream_run_later(c, now, &next);
    if (next)
        host_arm_later(h, next);
}

void host_arm_later(p2p_host *h, uint64_t at)
{
    if (h->closing || (h->later_at && h->later_at <= at))
        return;
    uint64_t now = uv_now(h->loop);
    h->later_at = at;
    uv_timer_start(&h->later, host_on_later, at > now ? at - now : 0, 0);
}

static void host_run_deferred(p2p_host *h)
{
    host_dial *d;
    while ((d = h->deferred) != NULL) {
        h->deferred = d->next;
        if (!h->deferred)
            h->deferred_tail = &h->deferred;
        d->cb(h, d->status, d->status == 0 ? &d->peer : NULL, d->status == 0 ? NULL : d->err,
              d->user);
        free(d);
    }
}

void host_defer(p2p_host *h, host_dial *d)
{
    d->next = NULL;
    *h->deferred_tail = d;
    h->deferred_tail = &d->next;
    if (h->closing)
        host_run_deferred(h);
    else
        host_schedule(h);
}

/* The service: runs in the loop iteration after something was scheduled, never inside the
 * public call that scheduled it. */
static void host_on_idle(uv_idle_t *idle)
{
    p2p_host *h = idle->data;
    host_run_deferred(h);
    if (!h->closing)
        host_accept_held(h);
    for (host_conn *c = h->conns; c && !h->closing; c = c->next) {
        if (c->dirty) {
            c->dirty = false;
            conn_service(c);
        }
    }
    if (h->closing)
        return;
    bool again = h->deferred != NULL;
    for (host_conn *c = h->conns; c && !again; c = c->next)
        again = c->dirty;
    if (!again)
        uv_idle_stop(&h->idle);
}

void host_conn_up(host_conn *c)
{
    p2p_host *h = c->h;
    bool first = !host_peer_counted(h, c);
    c->up = true;
    c->counted = true;
    c->up_seq = ++h->up_seq;
    rcmgr_up(h->rcm, &c->rcm); /* its handshake slot is free */
    if (first) {
        p2p_event ev = {.type = P2P_EV_CONNECTED,
                        .peer = &c->peer,
                        .addr = c->remote.len ? &c->remote : NULL,
                        .inbound = c->inbound};
        host_emit(h, &ev);
    }
    host_dial *d;
    while (!c->closing && (d = c->dials) != NULL) {
        c->dials = d->next;
        p2p_peer_id peer = c->peer;
        d->cb(h, 0, &peer, NULL, d->user);
        free(d);
    }
}

void host_conn_gone(host_conn *c, bool was_up)
{
    p2p_host *h = c->h;
    host_dial *d;
    while ((d = c->dials) != NULL) {
        c->dials = d->next;
        d->status = -1;
        snprintf(d->err, sizeof d->err, "%s", c->reason);
        host_defer(h, d);
    }
    bool counted = c->counted;
    c->counted = false;
    if (was_up || counted) {
        if (counted && !host_peer_counted(h, c)) {
            p2p_event ev = {.type = P2P_EV_DISCONNECTED,
                            .peer = &c->peer,
                            .addr = c->remote.len ? &c->remote : NULL,
                            .inbound = c->inbound,
                            .message = c->by_us ? NULL : c->reason};
            host_emit(h, &ev);
        }
    } else if (c->inbound && !c->by_us) {
        char addr[128], msg[HOST_REASON_MAX + 160];
        p2p_maddr_cstr(&c->remote, addr, sizeof addr);
        snprintf(msg, sizeof msg, "inbound connection from %s: %s", addr[0] ? addr : "?",
                 c->reason);
        p2p_event ev = {.type = P2P_EV_ERROR,
                        .addr = c->remote.len ? &c->remote : NULL,
                        .inbound = true,
                        .message = msg};
        host_emit(h, &ev);
    }
}

static void host_free(p2p_host *h)
{
    void (*done)(void *) = h->done;
    void *done_user = h->done_user;
    if (h->pubsub)
        pubsub_free(h->pubsub);
    host_handler *hd;
    while ((hd = h->handlers) != NULL) {
        h->handlers = hd->next;
        free(hd->protocol);
        free(hd);
    }
    buf_free(&h->pt);
    free(h->dec);
    rcmgr_free(h->rcm);
    sodium_memzero(&h->key, sizeof h->key);
    sodium_memzero(h->noise_sk, sizeof h->noise_sk);
    free(h);
    if (done)
        done(done_user);
}

void host_unref(p2p_host *h)
{
    if (--h->refs == 0 && h->closing)
        host_free(h);
}

static void host_on_listener_closed(uv_handle_t *handle);

static void host_on_handle_closed(uv_handle_t *handle)
{
    host_unref(handle->data);
}

/* ---- handlers ------------------------------------------------------------------------------ */

int p2p_host_handle(p2p_host *h, const char *protocol, p2p_stream_handler fn, void *user, char *err,
                    size_t errlen)
{
    if (!protocol || !stream_protocol_ok(protocol))
        return err_set(err, errlen, "invalid protocol id");
    if (!fn)
        return err_set(err, errlen, "no handler function");
    host_handler *hd = host_handler_find(h, protocol);
    if (hd) {
        hd->fn = fn;
        hd->user = user;
        return 0;
    }
    /* identify lists every handler and peers cap what they keep */
    if (h->nhandlers >= IDENTIFY_MAX_PROTOS)
        return err_set(err, errlen, "too many protocol handlers (at most %d)", IDENTIFY_MAX_PROTOS);
    hd = calloc(1, sizeof *hd);
    if (!hd || !(hd->protocol = strdup(protocol))) {
        free(hd);
        return err_set(err, errlen, "out of memory");
    }
    hd->fn = fn;
    hd->user = user;
    host_handler **tail = &h->handlers;
    while (*tail)
        tail = &(*tail)->next;
    *tail = hd;
    h->nhandlers++;
    return 0;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

int p2p_host_new(uv_loop_t *loop, const p2p_host_config *cfg, p2p_event_cb on_event, void *user,
                 p2p_host **out, char *err, size_t errlen)
{
    if (!loop || !cfg || !cfg->key || !out)
        return err_set(err, errlen, "p2p_host_new: loop, config, key and out are required");
    if (sodium_init() < 0)
        return err_set(err, errlen, "libsodium failed to initialise");
    const char *agent = cfg->agent ? cfg->agent : "swarm/" SWARM_VERSION;
    p2p_host *h = calloc(1, sizeof *h);
    if (!h)
        return err_set(err, errlen, "out of memory");
    if (strlen(agent) >= sizeof h->agent) {
        free(h);
        return err_set(err, errlen, "agent string too long");
    }
    h->loop = loop;
    h->cfg = *cfg;
    h->key = *cfg->key;
    h->cfg.key = &h->key;
    snprintf(h->agent, sizeof h->agent, "%s", agent);
    h->cfg.agent = h->agent;
    /* zero means "default" where zero makes no sense; idle and keepalive 0 mean off */
    p2p_host_config def;
    p2p_host_config_default(&def);
    if (!h->cfg.max_conns)
        h->cfg.max_conns = def.max_conns;
    if (!h->cfg.max_streams)
        h->cfg.max_streams = def.max_streams;
    if (!h->cfg.handshake_timeout_ms)
        h->cfg.handshake_timeout_ms = def.handshake_timeout_ms;
    if (!h->cfg.dial_timeout_ms)
        h->cfg.dial_timeout_ms = def.dial_timeout_ms;
    if (!h->cfg.write_stall_ms)
        h->cfg.write_stall_ms = def.write_stall_ms;
    if (!h->cfg.max_pending_inbound)
        h->cfg.max_pending_inbound = def.max_pending_inbound;
    if (!h->cfg.max_pending_per_ip)
        h->cfg.max_pending_per_ip = def.max_pending_per_ip;
    if (!h->cfg.max_conns_per_ip)
        h->cfg.max_conns_per_ip = def.max_conns_per_ip;
    if (!h->cfg.max_conns_per_peer)
        h->cfg.max_conns_per_peer = def.max_conns_per_peer;
    if (!h->cfg.first_byte_ms)
        h->cfg.first_byte_ms = def.first_byte_ms;
    if (!h->cfg.conn_mem_budget)
        h->cfg.conn_mem_budget = def.conn_mem_budget;
    if (!h->cfg.host_mem_budget)
        h->cfg.host_mem_budget = def.host_mem_budget;
    h->mem.limit = h->cfg.host_mem_budget;
    h->on_event = on_event;
    h->user = user;
    h->deferred_tail = &h->deferred;
    p2p_peer_id_from_pubkey(h->key.pk, &h->id);
    noise_static_keypair(h->noise_sk, h->noise_pk);
    buf_init(&h->pt, 0);
    h->dec = malloc(NOISE_MAX_FRAME);
    rcmgr_limits lim = {.max_pending = h->cfg.max_pending_inbound,
                        .max_pending_per_addr = h->cfg.max_pending_per_ip,
                        .max_conns_per_addr = h->cfg.max_conns_per_ip,
                        .max_conns_per_peer = h->cfg.max_conns_per_peer};
    h->rcm = rcmgr_new(&lim);
    if (!h->dec || !h->rcm ||
        p2p_host_handle(h, P2P_PROTO_IDENTIFY, host_identify_handler, NULL, err, errlen) != 0 ||
        p2p_host_handle(h, P2P_PROTO_PING, host_ping_handler, NULL, err, errlen) != 0) {
        if (!h->dec || !h->rcm)
            err_set(err, errlen, "out of memory");
        h->closing = true;
        host_free(h);
        return -1;
    }
    int r = uv_idle_init(loop, &h->idle);
    if (r < 0) {
        h->closing = true;
        host_free(h);
        return err_set(err, errlen, "uv_idle_init: %s", uv_strerror(r));
    }
    uv_timer_init(loop, &h->later); /* cannot fail on Unix */
    h->idle.data = h;
    h->later.data = h;
    h->refs = 2;
    *out = h;
    return 0;
}

void p2p_host_close(p2p_host *h, void (*done)(void *user), void *user)
{
    if (!h || h->closing)
        return;
    h->closing = true;
    h->done = done;
    h->done_user = user;
    if (h->pubsub)
        pubsub_host_closing(h->pubsub);
    for (host_listener *l = h->listeners; l; l = l->next) {
        l->listening = false;
        /* a listener whose bind failed is already closing */
        if (!uv_is_closing((uv_handle_t *)&l->tcp))
            uv_close((uv_handle_t *)&l->tcp, host_on_listener_closed);
    }
    for (host_conn *c = h->conns; c; c = c->next)
        conn_close_now(c, "host closed");
    host_run_deferred(h);
    uv_close((uv_handle_t *)&h->idle, host_on_handle_closed);
    uv_close((uv_handle_t *)&h->later, host_on_handle_closed);
}

const p2p_peer_id *p2p_host_id(const p2p_host *h)
{
    return &h->id;
}

/* ---- listeners ----------------------------------------------------------------------------- */

static void host_on_listener_closed(uv_handle_t *handle)
{
    host_listener *l = handle->data;
    p2p_host *h = l->h;
    for (host_listener **pp = &h->listeners; *pp; pp = &(*pp)->next) {
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    }
    free(l);
    host_unref(h);
}

static void host_on_connection(uv_stream_t *server, int status)
{
    host_listener *l = server->data;
    p2p_host *h = l->h;
    if (h->closing)
        return;
    if (status < 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "accept: %s", uv_strerror(status));
        p2p_event ev = {.type = P2P_EV_ERROR, .addr = &l->addr, .message = msg};
        host_emit(h, &ev);
        return;
    }
    /* Every connection is taken, whatever the limits: a listener that stopped accepting at one
     * would let silent sockets lock everyone out; the resource manager drops a pending
     * connection to make room instead. Only the pace is bounded, so that reads go on. */
    host_schedule(h); /* the service idle starts the next batch */
    if (h->accepted_turn >= HOST_ACCEPT_BATCH) {
        l->held = true; /* libuv keeps it and stops accepting until uv_accept */
        return;
    }
    h->accepted_turn++;
    conn_accept(h, server);
}

int p2p_host_listen(p2p_host *h, const char *maddr, char *err, size_t errlen)
{
    if (h->closing)
        return err_set(err, errlen, "host is closing");
    p2p_maddr ma;
    p2p_tcp_addr ta;
    if (!maddr || p2p_maddr_parse(maddr, &ma, err, errlen) != 0 ||
        p2p_maddr_to_tcp(&ma, &ta, err, errlen) != 0)
        return -1;
    if (ta.has_peer && !p2p_peer_id_eq(&ta.peer, &h->id))
        return err_set(err, errlen, "listen address names another peer id");
    struct sockaddr_storage ss;
    int r;
    if (ta.family == AF_INET)
        r = uv_ip4_addr(ta.host, ta.port, (struct sockaddr_in *)&ss);
    else if (ta.family == AF_INET6)
        r = uv_ip6_addr(ta.host, ta.port, (struct sockaddr_in6 *)&ss);
    else
        return err_set(err, errlen, "listen needs an IP address, not a DNS name");
    if (r < 0)
        return err_set(err, errlen, "bad address %s: %s", ta.host, uv_strerror(r));
    host_listener *l = calloc(1, sizeof *l);
    if (!l)
        return err_set(err, errlen, "out of memory");
    l->h = h;
    r = uv_tcp_init(h->loop, &l->tcp);
    if (r < 0) {
        free(l);
        return err_set(err, errlen, "uv_tcp_init: %s", uv_strerror(r));
    }
    l->tcp.data = l;
    h->refs++;
    l->next = h->listeners;
    h->listeners = l;
    const char *what = "bind";
    r = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, 0);
    if (r == 0) {
        what = "listen";
        r = uv_listen((uv_stream_t *)&l->tcp, HOST_LISTEN_BACKLOG, host_on_connection);
    }
    int namelen = sizeof ss;
    if (r == 0) {
        what = "getsockname";
        r = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &namelen);
    }
    if (r < 0) {
        err_set(err, errlen, "%s %s: %s", what, maddr, uv_strerror(r));
        uv_close((uv_handle_t *)&l->tcp, host_on_listener_closed);
        return -1;
    }
    if (p2p_maddr_from_sockaddr((struct sockaddr *)&ss, &l->addr, err, errlen) != 0) {
        uv_close((uv_handle_t *)&l->tcp, host_on_listener_closed);
        return -1;
    }
    l->listening = true;
    p2p_event ev = {.type = P2P_EV_LISTENING, .peer = &h->id, .addr = &l->addr};
    host_emit(h, &ev);
    return 0;
}

size_t p2p_host_listen_addrs(const p2p_host *h, p2p_maddr *out, size_t max)
{
    size_t n = 0;
    /* listeners are kept newest first; report them in the order they were opened */
    for (const host_listener *l = h->listeners; l; l = l->next)
        if (l->listening)
            n++;
    size_t i = n;
    for (const host_listener *l = h->listeners; l; l = l->next) {
        if (!l->listening)
            continue;
        i--;
        if (i < max)
            out[i] = l->addr;
    }
    return n;
}

/* ---- dials and the table ------------------------------------------------------------------- */

int p2p_host_dial(p2p_host *h, const char *maddr, p2p_dial_cb cb, void *user, char *err,
                  size_t errlen)
{
    if (h->closing)
        return err_set(err, errlen, "host is closing");
    if (!cb)
        return err_set(err, errlen, "no dial callback");
    p2p_maddr ma;
    p2p_tcp_addr ta;
    if (!maddr || p2p_maddr_parse(maddr, &ma, err, errlen) != 0 ||
        p2p_maddr_to_tcp(&ma, &ta, err, errlen) != 0)
        return -1;
    if (ta.has_peer && p2p_peer_id_eq(&ta.peer, &h->id))
        return err_set(err, errlen, "cannot dial ourselves");
    host_dial *d = calloc(1, sizeof *d);
    if (!d)
        return err_set(err, errlen, "out of memory");
    d->cb = cb;
    d->user = user;
    if (ta.has_peer && host_conn_newest(h, &ta.peer)) {
        d->status = 0;
        d->peer = ta.peer;
        host_defer(h, d);
        return 0;
    }
    /* inbound handshakes do not count: unauthenticated sockets must not block our dials */
    if (host_conn_slots(h) >= h->cfg.max_conns) {
        d->status = -1;
        snprintf(d->err, sizeof d->err, "too many connections (%u)", h->cfg.max_conns);
        host_defer(h, d);
        return 0;
    }
    conn_dial(h, &ta, d);
    return 0;
}

bool p2p_host_is_connected(const p2p_host *h, const p2p_peer_id *peer)
{
    return host_conn_newest(h, peer) != NULL;
}

size_t p2p_host_peers(const p2p_host *h, p2p_peer_id *out, size_t max)
{
    size_t n = 0;
    for (const host_conn *c = h->conns; c; c = c->next) {
        if (!host_conn_usable(c))
            continue;
        bool seen = false; /* an earlier connection in the list to the same peer */
        for (const host_conn *o = h->conns; o != c && !seen; o = o->next)
            seen = host_conn_usable(o) && p2p_peer_id_eq(&o->peer, &c->peer);
        if (seen)
            continue;
        if (n < max)
            out[n] = c->peer;
        n++;
    }
    return n;
}

void p2p_host_disconnect(p2p_host *h, const p2p_peer_id *peer)
{
    for (host_conn *c = h->conns; c; c = c->next)
        if (c->has_peer && !c->closing && p2p_peer_id_eq(&c->peer, peer))
            conn_close(c, true, "disconnected");
}

int p2p_host_open_stream(p2p_host *h, const p2p_peer_id *peer, const char *protocol, p2p_open_cb cb,
                         void *user, char *err, size_t errlen)
{
    if (h->closing)
        return err_set(err, errlen, "host is closing");
    if (!cb)
        return err_set(err, errlen, "no open callback");
    if (!protocol || !stream_protocol_ok(protocol))
        return err_set(err, errlen, "invalid protocol id");
    host_conn *c = peer ? host_conn_newest(h, peer) : NULL;
    if (!c) {
        char id[P2P_PEER_ID_STRLEN];
        return err_set(err, errlen, "not connected to %s", peer ? p2p_peer_id_str(peer, id) : "?");
    }
    return stream_open(c, protocol, cb, user, err, errlen);
}
