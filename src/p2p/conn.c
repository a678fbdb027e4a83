/* conn.c - one connection: its TCP socket, the upgrade pipeline (multistream-select for
 * /noise, Noise XX, multistream-select for /yamux/1.0.0 inside Noise, the yamux session), the
 * read and write paths with back-pressure, timers, and closing. */
#include "host_internal.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

static const char *const conn_noise_protos[] = {NOISE_PROTOCOL};
static const char *const conn_muxer_protos[] = {YAMUX_PROTOCOL};

typedef struct {
    uv_write_t req;
    host_conn *c;
    uint8_t *data;
    size_t len;
} conn_write_req;

static void conn_do_close(host_conn *c);
static void conn_on_timer(uv_timer_t *t);

/* ---- sections and scheduling --------------------------------------------------------------- */

void conn_enter(host_conn *c)
{
    c->depth++;
}

void conn_schedule(host_conn *c)
{
    c->dirty = true;
    host_schedule(c->h);
}

void conn_leave(host_conn *c)
{
    if (--c->depth == 0 && (c->close_pending || c->want_flush || c->unpause_pending))
        conn_schedule(c);
}

static void conn_do_flush(host_conn *c);

void conn_leave_loop(host_conn *c)
{
    if (c->depth > 1) {
        c->depth--;
        return;
    }
    /* Outermost: do what was asked for meanwhile, still at depth 1 so that anything the work
     * causes is recorded instead of nesting. */
    for (;;) {
        if (c->close_pending) {
            conn_do_close(c);
            break;
        }
        if (c->unpause_pending && c->stage == CONN_UP) {
            c->unpause_pending = false;
            stream_service_unpause(c);
            continue;
        }
        if (!c->want_flush)
            break;
        c->want_flush = false;
        conn_do_flush(c);
    }
    c->depth--;
}

void conn_service(host_conn *c)
{
    if (c->stage == CONN_CLOSED)
        return;
    conn_enter(c);
    conn_leave_loop(c);
}

static void conn_vclose(host_conn *c, bool by_us, const char *fmt, va_list ap)
{
    if (c->closing)
        return;
    c->closing = true;
    c->by_us = by_us;
    rcmgr_release(c->h->rcm, &c->rcm); /* a closing connection frees its slots at once */
    vsnprintf(c->reason, sizeof c->reason, fmt, ap);
    c->close_pending = true;
    if (c->depth == 0)
        conn_schedule(c);
}

void conn_close(host_conn *c, bool by_us, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    conn_vclose(c, by_us, fmt, ap);
    va_end(ap);
}

void conn_close_now(host_conn *c, const char *reason)
{
    conn_close(c, true, "%s", reason);
    if (c->close_pending && c->depth == 0 && c->stage != CONN_CLOSED) {
        conn_enter(c);
        conn_leave_loop(c);
    }
}

/* ---- handles and memory -------------------------------------------------------------------- */

static void conn_free(host_conn *c)
{
    p2p_host *h = c->h;
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->nconns--;
    assert(!c->rcm.addr && !c->rcm.peer && !c->rcm.pending); /* released when it closed */
    buf_free(&c->rbuf);
    buf_free(&c->rawout);
    if (c->hs) {
        noise_hs_wipe(&c->hs->noise);
        free(c->hs);
    }
    host_dial *d;
    while ((d = c->dials) != NULL) { /* not expected: conn_do_close hands them on */
        c->dials = d->next;
        free(d);
    }
    sodium_memzero(&c->tx, sizeof c->tx);
    sodium_memzero(&c->rx, sizeof c->rx);
    free(c);
    host_unref(h);
}

static void conn_unref(host_conn *c)
{
    if (--c->refs == 0)
        conn_free(c);
}

static void conn_on_handle_closed(uv_handle_t *handle)
{
    conn_unref(handle->data);
}

static void conn_close_handles(host_conn *c)
{
    if (c->handles_closing)
        return;
    c->handles_closing = true;
    uv_close((uv_handle_t *)&c->tcp, conn_on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_on_handle_closed);
}

static host_conn *conn_alloc(p2p_host *h, bool inbound)
{
    host_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->hs = calloc(1, sizeof *c->hs);
    if (!c->hs || uv_tcp_init(h->loop, &c->tcp) != 0) {
        free(c->hs);
        free(c);
        return NULL;
    }
    uv_timer_init(h->loop, &c->timer); /* cannot fail on Unix */
    c->h = h;
    c->inbound = inbound;
    c->stage = CONN_CONNECTING;
    c->tcp.data = c;
    c->timer.data = c;
    c->connect.data = c;
    c->gai.data = c;
    c->shutdown.data = c;
    c->refs = 2;
    buf_init(&c->rbuf, HOST_RBUF_LIMIT);
    buf_init(&c->rawout, HOST_RAWOUT_LIMIT);
    c->last_activity = uv_now(h->loop);
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
    h->nconns++;
    h->refs++;
    return c;
}

/* ---- the write path ------------------------------------------------------------------------ */

static void conn_on_write(uv_write_t *req, int status)
{
    conn_write_req *w = (conn_write_req *)req;
    host_conn *c = w->c;
    c->inflight -= w->len;
    assert(c->h->mem.sending >= w->len);
    c->h->mem.sending -= w->len;
    c->stall_since = uv_now(c->h->loop); /* progress */
    free(w->data);
    free(w);
    if (c->stage == CONN_CLOSED)
        return;
    conn_enter(c);
    if (status < 0)
        conn_close(c, false, "write: %s", uv_strerror(status));
    else
        c->want_flush = true;
    conn_leave_loop(c);
}

/* Hands rawout to one uv_write. */
static int conn_write_raw(host_conn *c)
{
    conn_write_req *w = malloc(sizeof *w);
    if (!w) {
        conn_close(c, false, "out of memory");
        return -1;
    }
    w->c = c;
    if (c->inflight == 0) /* the stall clock starts with the first byte waiting */
        c->stall_since = uv_now(c->h->loop);
    w->data = buf_steal(&c->rawout, &w->len);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
    int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, conn_on_write);
    if (r < 0) {
        free(w->data);
        free(w);
        conn_close(c, false, "write: %s", uv_strerror(r));
        return -1;
    }
    c->inflight += w->len;
    c->submitted += w->len;
    c->h->mem.sending += w->len; /* still the host's memory (host_mem_budget) until written */
    return 0;
}

/* Encrypts plaintext into transport frames appended to rawout. */
static int conn_encrypt(host_conn *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t k = n < NOISE_MAX_PLAINTEXT ? n : NOISE_MAX_PLAINTEXT;
        if (noise_encrypt(&c->tx, p, k, &c->rawout) != 0) {
            conn_close(c, false, "noise: cannot encrypt (output full or nonce exhausted)");
            return -1;
        }
        p += k;
        n -= k;
    }
    return 0;
}

/* Sends what is ready, pulling from yamux while the socket's queue is below the high-water
 * mark; the write callbacks come back here for more. Runs at depth >= 1. */
static void conn_do_flush(host_conn *c)
{
    p2p_host *h = c->h;
    if (c->stage == CONN_CLOSED || !c->tcp_connected)
        return;
    while (c->inflight < HOST_WRITE_HIGH_WATER && !c->closing) {
        if (c->stage == CONN_UP) {
            while (c->rawout.len < HOST_WRITE_BATCH && !c->closing) {
                buf_clear(&h->pt);
                /* may call stream callbacks (on_writable, on_close) */
                yamux_pull(c->ymx, &h->pt, NOISE_MAX_PLAINTEXT);
                if (h->pt.len == 0 || c->closing)
                    break;
                /* bulk data: one allocation for the batch instead of growing by doubling */
                if (h->pt.len >= NOISE_MAX_PLAINTEXT / 2 && c->rawout.cap < HOST_WRITE_BATCH)
                    buf_reserve(&c->rawout, HOST_WRITE_BATCH + 2 * (NOISE_MAX_FRAME + 2));
                if (conn_encrypt(c, h->pt.data, h->pt.len) != 0)
                    return;
            }
        }
        if (c->rawout.len == 0 || c->closing)
            break;
        if (conn_write_raw(c) != 0)
            return;
    }
    /* The socket takes no more, so nothing was pulled: yamux still has to run on_close for
     * streams that ended meanwhile (reset by the app, or by a deadline), or a peer that stopped
     * reading would hold back those callbacks, and p2p_ping's result, until the connection
     * goes. A pull of at most 0 bytes takes no frames but does that. */
    if (c->stage == CONN_UP && !c->closing && c->inflight >= HOST_WRITE_HIGH_WATER) {
        buf_clear(&h->pt);
        yamux_pull(c->ymx, &h->pt, 0);
        if (h->pt.len && !c->closing) /* none expected; frames must not be lost all the same */
            conn_encrypt(c, h->pt.data, h->pt.len);
    }
}

/* ---- closing ------------------------------------------------------------------------------- */

static void conn_on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    conn_close_handles(req->data);
}

/* Tears the connection down: streams get on_close, dials fail, events go out, then the last
 * bytes (a GoAway) are flushed within HOST_LINGER_MS and the handles are closed. */
static void conn_do_close(host_conn *c)
{
    bool was_up = c->up;
    c->depth++;
    c->close_pending = false;
    c->want_flush = false;
    c->stage = CONN_CLOSED;
    c->up = false;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    if (c->gai_pending)
        uv_cancel((uv_req_t *)&c->gai);
    if (c->hs) {
        noise_hs_wipe(&c->hs->noise);
        free(c->hs);
        c->hs = NULL;
    }
    if (c->ymx) {
        if (!c->yamux_failed)
            yamux_goaway(c->ymx, YAMUX_GOAWAY_NORMAL);
        if (c->tcp_connected) {
            /* the GoAway: control frames come first, and all of them fit (see
             * HOST_CLOSE_PULL_MAX); streams' data beyond that is dropped */
            buf_t tail;
            buf_init(&tail, 0);
            yamux_pull(c->ymx, &tail, HOST_CLOSE_PULL_MAX);
            if (tail.len)
                conn_encrypt(c, tail.data, tail.len);
            buf_free(&tail);
        }
        yamux_free(c->ymx, c->reason[0] ? c->reason : "connection closed");
        c->ymx = NULL;
    }
    if (c->tcp_connected && (c->rawout.len > 0 || c->inflight > 0)) {
        if (c->rawout.len > 0)
            conn_write_raw(c);
        if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, conn_on_shutdown) == 0) {
            uv_timer_start(&c->timer, conn_on_timer, HOST_LINGER_MS, 0);
        } else {
            conn_close_handles(c);
        }
    } else {
        conn_close_handles(c);
    }
    host_conn_gone(c, was_up); /* user callbacks: last, with the connection settled */
    c->depth--;
}

/* ---- housekeeping -------------------------------------------------------------------------- */

static uint64_t conn_tick_ms(const p2p_host *h)
{
    uint64_t t = HOST_TICK_MS;
    if (h->cfg.keepalive_ms && h->cfg.keepalive_ms < t)
        t = h->cfg.keepalive_ms;
    if (h->cfg.idle_timeout_ms && h->cfg.idle_timeout_ms < t)
        t = h->cfg.idle_timeout_ms;
    if (h->cfg.write_stall_ms / 2 < t)
        t = h->cfg.write_stall_ms / 2;
    return t < 10 ? 10 : t;
}

/* True if bytes wait for the socket and none of them has reached the kernel for
 * write_stall_ms: the peer stopped reading. Completed writes count as progress, and so do
 * partial ones (libuv's write queue shrinking), so a slow reader is not taken for a dead one. */
static bool conn_write_stalled(host_conn *c, uint64_t now)
{
    if (c->inflight == 0)
        return false;
    uint64_t written = c->submitted - uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    if (written != c->stall_written) {
        c->stall_written = written;
        c->stall_since = now;
    }
    return now - c->stall_since >= c->h->cfg.write_stall_ms;
}

static void conn_tick(host_conn *c)
{
    p2p_host *h = c->h;
    uint64_t now = uv_now(h->loop);
    if (conn_write_stalled(c, now)) {
        conn_close(c, false, "peer is not reading (nothing sent for %llu ms)",
                   (unsigned long long)(now - c->stall_since));
        return;
    }
    /* Keepalive pings go out a while after the last answer, whatever else arrives: a peer that
     * keeps sending but no longer reads never sees them, and is caught by the missing pong. */
    uint64_t ka = h->cfg.keepalive_ms;
    if (ka) {
        if (c->ping_outstanding) {
            if (now - c->ping_sent >= 2 * ka) {
                conn_close(c, false, "keepalive timeout");
                return;
            }
        } else if (now - c->last_pong >= ka) {
            yamux_ping(c->ymx, ++c->ping_opaque);
            c->ping_outstanding = true;
            c->ping_sent = now;
            c->want_flush = true;
        }
    }
    if (h->cfg.idle_timeout_ms && c->nstreams == 0 &&
        now - c->last_activity >= h->cfg.idle_timeout_ms) {
        conn_close(c, false, "idle timeout");
        return;
    }
    if (c->rbuf.len == 0 && c->rbuf.cap > HOST_RBUF_IDLE_KEEP)
        buf_free(&c->rbuf); /* the next read allocates again */
    /* writers that waited on the host's memory budget, which other connections drained */
    if (yamux_want_write(c->ymx))
        c->want_flush = true;
    stream_check_deadlines(c, now);
}

static void conn_on_timer(uv_timer_t *t)
{
    host_conn *c = t->data;
    if (c->stage == CONN_CLOSED) { /* the linger ran out */
        conn_close_handles(c);
        return;
    }
    conn_enter(c);
    uint64_t now = uv_now(c->h->loop);
    if (c->stage == CONN_UP) {
        conn_tick(c);
    } else if (!c->inbound && now >= c->dial_deadline) {
        conn_close(c, false, "dial timeout");
    } else if (c->inbound && now < c->dial_deadline) {
        /* the first-byte deadline: a socket that has said nothing is the cheapest way to hold
         * a handshake slot; one that spoke gets the rest of the handshake's time */
        if (!c->rcm.heard)
            conn_close(c, false, "sent nothing within %llu ms",
                       (unsigned long long)c->h->cfg.first_byte_ms);
        else
            uv_timer_start(&c->timer, conn_on_timer, c->dial_deadline - now, 0);
    } else {
        conn_close(c, false, "handshake timeout");
    }
    conn_leave_loop(c);
}

/* ---- the upgrade --------------------------------------------------------------------------- */

static bool conn_noise_only(void *user, const char *protocol)
{
    (void)user;
    return strcmp(protocol, NOISE_PROTOCOL) == 0;
}

static bool conn_yamux_only(void *user, const char *protocol)
{
    (void)user;
    return strcmp(protocol, YAMUX_PROTOCOL) == 0;
}

static int conn_noise_start(host_conn *c)
{
    p2p_host *h = c->h;
    char err[HOST_REASON_MAX];
    if (noise_hs_init(&c->hs->noise, !c->inbound, &h->key, h->noise_sk, h->noise_pk, err,
                      sizeof err) != 0) {
        conn_close(c, false, "noise: %s", err);
        return -1;
    }
    c->stage = CONN_NOISE;
    if (noise_hs_my_turn(&c->hs->noise) &&
        noise_hs_write(&c->hs->noise, &c->rawout, err, sizeof err) != 0) {
        conn_close(c, false, "noise handshake: %s", err);
        return -1;
    }
    c->want_flush = true;
    return 0;
}

/* The handshake is done: check who answered, derive the ciphers, negotiate the muxer. */
static int conn_secure_start(host_conn *c)
{
    p2p_host *h = c->h;
    const p2p_peer_id *rid = noise_hs_remote(&c->hs->noise);
    char a[P2P_PEER_ID_STRLEN], b[P2P_PEER_ID_STRLEN];
    assert(!c->rcm.peer); /* Noise finishes once */
    if (!rid) {
        conn_close(c, false, "noise handshake: remote not verified");
        return -1;
    }
    if (p2p_peer_id_eq(rid, &h->id)) {
        conn_close(c, false, "connected to ourselves");
        return -1;
    }
    if (!c->inbound && c->target.has_peer && !p2p_peer_id_eq(rid, &c->target.peer)) {
        conn_close(c, false, "peer id mismatch: dialed %s, got %s",
                   p2p_peer_id_str(&c->target.peer, a), p2p_peer_id_str(rid, b));
        return -1;
    }
    if (!host_admit_peer(c, rid))
        return -1;
    c->peer = *rid;
    c->has_peer = true;
    noise_hs_split(&c->hs->noise, &c->tx, &c->rx);
    c->stage = CONN_MSS_SECURE;
    if (c->inbound) {
        mss_listener(&c->hs->mss, conn_yamux_only, NULL);
        return 0;
    }
    buf_t out;
    buf_init(&out, 0);
    int r = mss_dialer(&c->hs->mss, conn_muxer_protos, 1, &out);
    if (r == 0)
        r = conn_encrypt(c, out.data, out.len);
    else
        conn_close(c, false, "multistream-select: out of memory");
    buf_free(&out);
    c->want_flush = true;
    return r;
}

static int conn_noise_step(host_conn *c, const uint8_t *body, size_t n)
{
    char err[HOST_REASON_MAX];
    noise_hs *hs = &c->hs->noise;
    if (noise_hs_read(hs, body, n, err, sizeof err) != 0) {
        conn_close(c, false, "noise handshake: %s", err);
        return -1;
    }
    if (!noise_hs_done(hs) && noise_hs_my_turn(hs)) {
        if (noise_hs_write(hs, &c->rawout, err, sizeof err) != 0) {
            conn_close(c, false, "noise handshake: %s", err);
            return -1;
        }
        c->want_flush = true;
    }
    if (noise_hs_done(hs))
        return conn_secure_start(c);
    return 0;
}

/* The muxer is agreed: start yamux, enter the table, tell everyone, start identify. */
static void conn_go_up(host_conn *c)
{
    p2p_host *h = c->h;
    /* checked again now that the peer is known: handshakes may have finished meanwhile */
    if (c->inbound && host_conn_slots(h) >= h->cfg.max_conns) {
        conn_close(c, false, "too many connections (%u)", h->cfg.max_conns);
        return;
    }
    yamux_config yc;
    yamux_config_default(&yc);
    yc.max_streams = h->cfg.max_streams;
    yc.session_budget = h->cfg.conn_mem_budget;
    yc.pool = &h->mem;
    c->ymx = yamux_new(!c->inbound, &yc, &stream_yamux_cbs, c);
    if (!c->ymx) {
        conn_close(c, false, "out of memory");
        return;
    }
    noise_hs_wipe(&c->hs->noise);
    free(c->hs);
    c->hs = NULL;
    c->stage = CONN_UP;
    uint64_t tick = conn_tick_ms(h);
    uv_timer_start(&c->timer, conn_on_timer, tick, tick);
    c->last_pong = c->last_activity = uv_now(h->loop);
    host_conn_up(c);
    if (!c->closing)
        host_identify_start(c);
    c->want_flush = true;
}

/* Plaintext from the peer (inside Noise). */
static void conn_plaintext(host_conn *c, const uint8_t *p, size_t n)
{
    char err[HOST_REASON_MAX];
    while (n > 0 && !c->closing) {
        if (c->stage == CONN_MSS_SECURE) {
            buf_t out;
            buf_init(&out, 0);
            size_t used = 0;
            mss_status r = mss_feed(&c->hs->mss, p, n, &used, &out, err, sizeof err);
            if (out.len && conn_encrypt(c, out.data, out.len) != 0)
                r = MSS_FAIL, snprintf(err, sizeof err, "cannot encrypt");
            buf_free(&out);
            c->want_flush = true;
            if (used > n)
                used = n;
            p += used;
            n -= used;
            if (r == MSS_FAIL) {
                conn_close(c, false, "multistream-select (muxer): %s", err);
                return;
            }
            if (r == MSS_MORE) {
                if (used == 0)
                    return;
                continue;
            }
            conn_go_up(c);
        } else if (c->stage == CONN_UP) {
            if (yamux_feed(c->ymx, p, n, err, sizeof err) != 0) {
                c->yamux_failed = true;
                conn_close(c, false, "yamux: %s", err);
            }
            c->want_flush = true;
            return;
        } else {
            return;
        }
    }
}

/* Processes the whole frames (or multistream messages) in rbuf; keeps a partial one. */
static void conn_process(host_conn *c)
{
    p2p_host *h = c->h;
    uint8_t *p = c->rbuf.data;
    size_t n = c->rbuf.len, off = 0;
    char err[HOST_REASON_MAX];
    while (!c->closing && off < n) {
        size_t bl;
        if (c->stage == CONN_MSS) {
            size_t used = 0;
            mss_status r =
                mss_feed(&c->hs->mss, p + off, n - off, &used, &c->rawout, err, sizeof err);
            c->want_flush = true;
            off += used <= n - off ? used : n - off;
            if (r == MSS_FAIL) {
                conn_close(c, false, "multistream-select: %s", err);
                break;
            }
            if (r == MSS_MORE) {
                if (used == 0)
                    break;
                continue;
            }
            if (conn_noise_start(c) != 0)
                break;
        } else if (c->stage == CONN_NOISE) {
            if (!noise_frame(p + off, n - off, &bl))
                break;
            const uint8_t *body = p + off + 2;
            off += 2 + bl;
            if (conn_noise_step(c, body, bl) != 0)
                break;
        } else if (c->stage == CONN_MSS_SECURE || c->stage == CONN_UP) {
            if (!noise_frame(p + off, n - off, &bl))
                break;
            size_t ptlen = 0;
            if (noise_decrypt(&c->rx, p + off + 2, bl, h->dec, &ptlen, err, sizeof err) != 0) {
                conn_close(c, false, "noise: %s", err);
                break;
            }
            off += 2 + bl;
            conn_plaintext(c, h->dec, ptlen);
        } else {
            break;
        }
    }
    if (c->closing) {
        c->rbuf.len = 0;
    } else if (off > 0) {
        memmove(p, p + off, n - off);
        c->rbuf.len = n - off;
    }
}

/* ---- the read path ------------------------------------------------------------------------- */

static void conn_on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    host_conn *c = handle->data;
    (void)suggested;
    size_t room = HOST_RBUF_LIMIT - c->rbuf.len;
    if (room > HOST_READ_CHUNK)
        room = HOST_READ_CHUNK;
    if (room == 0 || buf_reserve(&c->rbuf, room) != 0) {
        buf->base = NULL; /* libuv reports UV_ENOBUFS */
        buf->len = 0;
        return;
    }
    buf->base = (char *)c->rbuf.data + c->rbuf.len;
    buf->len = room;
}

static void conn_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    host_conn *c = stream->data;
    (void)buf;
    if (c->stage == CONN_CLOSED || nread == 0)
        return;
    conn_enter(c);
    if (nread > 0) {
        c->rbuf.len += (size_t)nread;
        rcmgr_heard(c->h->rcm, &c->rcm);
        conn_process(c);
    } else if (nread == UV_EOF) {
        conn_close(c, false, "connection closed by peer");
    } else {
        conn_close(c, false, "read: %s", uv_strerror((int)nread));
    }
    conn_leave_loop(c);
}

/* TCP is up (either direction): start reading and the plaintext negotiation. */
static void conn_start(host_conn *c)
{
    p2p_host *h = c->h;
    c->tcp_connected = true;
    uv_tcp_nodelay(&c->tcp, 1);
    if (!c->inbound) { /* an inbound one's was read when it was admitted (host_admit_inbound) */
        struct sockaddr_storage ss;
        int len = sizeof ss;
        char err[HOST_REASON_MAX];
        if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
            p2p_maddr_from_sockaddr((struct sockaddr *)&ss, &c->remote, err, sizeof err);
    }
    uint64_t ms = h->cfg.handshake_timeout_ms;
    uint64_t now = uv_now(h->loop);
    if (!c->inbound) {
        uint64_t left = c->dial_deadline > now ? c->dial_deadline - now : 1;
        if (left < ms)
            ms = left;
    } else {
        c->dial_deadline = now + ms;
        if (h->cfg.first_byte_ms < ms)
            ms = h->cfg.first_byte_ms; /* conn_on_timer then gives a talker the rest */
    }
    uv_timer_start(&c->timer, conn_on_timer, ms, 0);
    int r = uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read);
    if (r < 0) {
        conn_close(c, false, "read: %s", uv_strerror(r));
        return;
    }
    c->reading = true;
    c->stage = CONN_MSS;
    if (c->inbound) {
        mss_listener(&c->hs->mss, conn_noise_only, NULL);
    } else if (mss_dialer(&c->hs->mss, conn_noise_protos, 1, &c->rawout) != 0) {
        conn_close(c, false, "multistream-select: out of memory");
        return;
    }
    c->want_flush = true;
}

void conn_accept(p2p_host *h, uv_stream_t *server)
{
    host_conn *c = conn_alloc(h, true);
    if (!c) {
        p2p_event ev = {.type = P2P_EV_ERROR, .message = "accept: out of memory"};
        host_emit(h, &ev);
        return;
    }
    conn_enter(c);
    int r = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (r < 0)
        conn_close(c, false, "accept: %s", uv_strerror(r));
    else if (host_admit_inbound(c))
        conn_start(c);
    conn_leave_loop(c);
}

/* ---- dialing ------------------------------------------------------------------------------- */

static void conn_on_connect(uv_connect_t *req, int status)
{
    host_conn *c = req->data;
    if (status == UV_ECANCELED || c->stage == CONN_CLOSED)
        return;
    conn_enter(c);
    if (status < 0)
        conn_close(c, false, "connect to %s port %u: %s", c->target.host, c->target.port,
                   uv_strerror(status));
    else if (!c->closing)
        conn_start(c);
    conn_leave_loop(c);
}

static void conn_connect(host_conn *c, const struct sockaddr *sa)
{
    int r = uv_tcp_connect(&c->connect, &c->tcp, sa, conn_on_connect);
    if (r < 0)
        conn_close(c, false, "connect to %s port %u: %s", c->target.host, c->target.port,
                   uv_strerror(r));
}

static void conn_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    host_conn *c = req->data;
    c->gai_pending = false;
    if (c->stage == CONN_CLOSED || c->closing) {
        uv_freeaddrinfo(res);
        conn_unref(c);
        return;
    }
    conn_enter(c);
    if (status < 0) {
        conn_close(c, false, "resolve %s: %s", c->target.host, uv_strerror(status));
    } else {
        const struct addrinfo *pick = NULL;
        for (const struct addrinfo *ai = res; ai && !pick; ai = ai->ai_next)
            if (ai->ai_family == AF_INET)
                pick = ai;
        for (const struct addrinfo *ai = res; ai && !pick; ai = ai->ai_next)
            if (ai->ai_family == AF_INET6)
                pick = ai;
        if (pick)
            conn_connect(c, pick->ai_addr);
        else
            conn_close(c, false, "resolve %s: no address", c->target.host);
    }
    uv_freeaddrinfo(res);
    conn_leave_loop(c);
    conn_unref(c);
}

void conn_dial(p2p_host *h, const p2p_tcp_addr *ta, host_dial *d)
{
    host_conn *c = conn_alloc(h, false);
    if (!c) {
        d->status = -1;
        snprintf(d->err, sizeof d->err, "out of memory");
        host_defer(h, d);
        return;
    }
    c->target = *ta;
    if (ta->has_peer) {
        c->peer = ta->peer;
        c->has_peer = true;
    }
    d->next = NULL;
    c->dials = d;
    c->dial_deadline = uv_now(h->loop) + h->cfg.dial_timeout_ms;
    uv_timer_start(&c->timer, conn_on_timer, h->cfg.dial_timeout_ms, 0);
    conn_enter(c);
    int r;
    if (ta->family == AF_UNSPEC) {
        struct addrinfo hints;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = ta->dns_family; /* dns4 and dns6 ask for their family only */
        hints.ai_socktype = SOCK_STREAM;
        char port[8];
        snprintf(port, sizeof port, "%u", ta->port);
        r = uv_getaddrinfo(h->loop, &c->gai, conn_on_resolved, ta->host, port, &hints);
        if (r < 0) {
            conn_close(c, false, "resolve %s: %s", ta->host, uv_strerror(r));
        } else {
            c->gai_pending = true;
            c->refs++;
        }
    } else {
        struct sockaddr_storage ss;
        if (ta->family == AF_INET)
            r = uv_ip4_addr(ta->host, ta->port, (struct sockaddr_in *)&ss);
        else
            r = uv_ip6_addr(ta->host, ta->port, (struct sockaddr_in6 *)&ss);
        if (r < 0)
            conn_close(c, false, "bad address %s: %s", ta->host, uv_strerror(r));
        else
            conn_connect(c, (const struct sockaddr *)&ss);
    }
    conn_leave(c); /* a failure is handled from the loop: the dial callback runs later */
}
