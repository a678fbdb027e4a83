/* stream.c - p2p_stream over a yamux stream: multistream-select per stream (dialer for the
 * streams we open, listener with the handler table for the peer's), the app's callbacks,
 * pausing, deadlines. */
#include "host_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool stream_protocol_ok(const char *protocol)
{
    size_t n = strlen(protocol);
    return n > 0 && n < MSS_MAX_MSG && !strchr(protocol, '\n');
}

static uint64_t stream_now(const p2p_stream *s)
{
    return uv_now(s->c->h->loop);
}

static p2p_stream *stream_alloc(host_conn *c, yamux_stream *st, bool inbound)
{
    p2p_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->mss = calloc(1, sizeof *s->mss);
    if (!s->mss) {
        free(s);
        return NULL;
    }
    s->c = c;
    s->st = st;
    s->inbound = inbound;
    s->state = STREAM_NEGOTIATING;
    s->deadline = uv_now(c->h->loop) + HOST_NEGOTIATE_MS;
    s->next = c->streams;
    if (c->streams)
        c->streams->prev = s;
    c->streams = s;
    c->nstreams++;
    c->last_activity = uv_now(c->h->loop);
    yamux_stream_set_user(st, s);
    return s;
}

static void stream_free(p2p_stream *s)
{
    host_conn *c = s->c;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    c->nstreams--;
    c->last_activity = uv_now(c->h->loop);
    if (c->goaway_recvd && c->nstreams == 0)
        conn_close(c, false, "peer sent GoAway");
    free(s->mss);
    free(s->proto);
    free(s);
}

/* Gives up on a stream: an outbound open fails with msg; the stream is reset. */
static void stream_fail(p2p_stream *s, const char *msg)
{
    s->dead = true;
    yamux_reset(s->st);
    s->c->want_flush = true;
    p2p_open_cb cb = s->open_cb;
    if (cb) {
        s->open_cb = NULL;
        cb(NULL, msg, s->open_user);
    }
}

/* Data for the app; while it is paused (the handler paused the stream that negotiation data
 * came with), yamux takes the bytes back and holds them, within its memory budgets. */
static void stream_deliver(p2p_stream *s, const uint8_t *p, size_t n)
{
    if (s->paused) {
        if (yamux_unread(s->st, p, n) != 0) {
            s->dead = true; /* reset: over a budget */
            s->c->want_flush = true;
        }
        return;
    }
    if (s->cbs.on_data)
        s->cbs.on_data(s, p, n, s->user);
}

static void stream_negotiate(p2p_stream *s, const uint8_t *p, size_t n)
{
    host_conn *c = s->c;
    p2p_host *h = c->h;
    char err[HOST_REASON_MAX], msg[HOST_REASON_MAX + MSS_MAX_MSG];
    buf_t out;
    buf_init(&out, 4 * (MSS_MAX_MSG + 16));
    size_t used = 0;
    mss_status r = mss_feed(s->mss, p, n, &used, &out, err, sizeof err);
    if (out.len) {
        ssize_t w = yamux_write(s->st, out.data, out.len);
        c->want_flush = true;
        if (w != (ssize_t)out.len && r != MSS_FAIL) {
            r = MSS_FAIL;
            snprintf(err, sizeof err, "cannot send on the stream");
        }
    }
    buf_free(&out);
    if (used > n)
        used = n;
    if (r == MSS_FAIL) {
        snprintf(msg, sizeof msg, "%s: %s", s->proto ? s->proto : "protocol negotiation", err);
        stream_fail(s, msg);
        return;
    }
    if (r == MSS_MORE)
        return;
    if (s->inbound && !(s->proto = strdup(mss_selected(s->mss)))) {
        stream_fail(s, "out of memory");
        return;
    }
    free(s->mss);
    s->mss = NULL;
    s->state = STREAM_OPEN;
    s->deadline = 0;
    c->last_activity = stream_now(s);
    if (s->inbound) {
        host_handler *hd = host_handler_find(h, s->proto);
        if (!hd) {
            stream_fail(s, "no handler");
            return;
        }
        p2p_stream_handler fn = hd->fn;
        fn(s, hd->user);
    } else {
        p2p_open_cb cb = s->open_cb;
        s->open_cb = NULL;
        cb(s, NULL, s->open_user);
    }
    if (used < n && !s->dead && s->state == STREAM_OPEN)
        stream_deliver(s, p + used, n - used);
}

/* ---- yamux callbacks (user = the connection) ----------------------------------------------- */

static bool stream_supported(void *user, const char *protocol)
{
    return host_handler_find(user, protocol) != NULL;
}

static int stream_on_open(void *user, yamux_stream *st)
{
    host_conn *c = user;
    if (c->closing || c->h->closing)
        return -1;
    p2p_stream *s = stream_alloc(c, st, true);
    if (!s)
        return -1;
    mss_listener(s->mss, stream_supported, c->h);
    return 0;
}

static void stream_on_data(void *user, yamux_stream *st, const uint8_t *p, size_t n)
{
    p2p_stream *s = yamux_stream_user(st);
    (void)user;
    if (!s || s->dead)
        return;
    s->c->last_activity = stream_now(s);
    if (s->state == STREAM_NEGOTIATING)
        stream_negotiate(s, p, n);
    else if (s->state == STREAM_OPEN)
        stream_deliver(s, p, n);
}

static void stream_on_eof(void *user, yamux_stream *st)
{
    p2p_stream *s = yamux_stream_user(st);
    (void)user;
    if (!s || s->dead)
        return;
    if (s->state == STREAM_NEGOTIATING) {
        stream_fail(s, "stream closed during protocol negotiation");
        return;
    }
    if (s->state != STREAM_OPEN)
        return;
    if (s->cbs.on_eof)
        s->cbs.on_eof(s, s->user);
}

static void stream_on_writable(void *user, yamux_stream *st)
{
    p2p_stream *s = yamux_stream_user(st);
    (void)user;
    if (s && !s->dead && s->state == STREAM_OPEN && s->cbs.on_writable)
        s->cbs.on_writable(s, s->user);
}

static void stream_on_close(void *user, yamux_stream *st, const char *reason)
{
    p2p_stream *s = yamux_stream_user(st);
    (void)user;
    if (!s)
        return;
    yamux_stream_set_user(st, NULL);
    if (s->expired)
        reason = s->state == STREAM_NEGOTIATING ? "protocol negotiation timed out" : "timed out";
    if (s->open_cb) {
        p2p_open_cb cb = s->open_cb;
        s->open_cb = NULL;
        cb(NULL, reason ? reason : "stream closed during protocol negotiation", s->open_user);
    } else if (s->state == STREAM_OPEN) {
        s->state = STREAM_CLOSED;
        if (s->cbs.on_close)
            s->cbs.on_close(s, reason, s->user);
    }
    stream_free(s);
}

static void stream_on_pong(void *user, uint32_t opaque)
{
    host_conn *c = user;
    if (opaque == c->ping_opaque) {
        c->ping_outstanding = false;
        c->last_pong = uv_now(c->h->loop);
    }
}

/* The peer takes no new streams here: new ones go to another connection (a dial makes one),
 * existing ones go on, and the connection closes when the last of them is done. */
static void stream_on_goaway(void *user, uint32_t code)
{
    host_conn *c = user;
    (void)code;
    c->goaway_recvd = true;
    if (c->nstreams == 0)
        conn_close(c, false, "peer sent GoAway");
}

const yamux_callbacks stream_yamux_cbs = {
    .on_open = stream_on_open,
    .on_data = stream_on_data,
    .on_eof = stream_on_eof,
    .on_writable = stream_on_writable,
    .on_close = stream_on_close,
    .on_pong = stream_on_pong,
    .on_goaway = stream_on_goaway,
};

/* ---- opening ------------------------------------------------------------------------------- */

int stream_open(host_conn *c, const char *protocol, p2p_open_cb cb, void *user, char *err,
                size_t errlen)
{
    if (c->closing || !c->ymx)
        return err_set(err, errlen, "connection is closing");
    conn_enter(c);
    int rc = -1;
    yamux_stream *st = yamux_open(c->ymx, err, errlen);
    if (!st) {
        err_prefix(err, errlen, "open stream");
        goto out;
    }
    p2p_stream *s = stream_alloc(c, st, false);
    if (!s || !(s->proto = strdup(protocol))) {
        if (s)
            s->dead = true;
        yamux_reset(st);
        err_set(err, errlen, "out of memory");
        goto out;
    }
    buf_t o;
    buf_init(&o, 0);
    if (mss_dialer(s->mss, (const char *const *)&s->proto, 1, &o) != 0 ||
        yamux_write(st, o.data, o.len) != (ssize_t)o.len) {
        buf_free(&o);
        s->dead = true;
        yamux_reset(st);
        err_set(err, errlen, "open stream: cannot send the protocol proposal");
        goto out;
    }
    buf_free(&o);
    s->open_cb = cb;
    s->open_user = user;
    rc = 0;
out:
    c->want_flush = true; /* the SYN, or the RST */
    conn_leave(c);
    return rc;
}

/* ---- the app's side ------------------------------------------------------------------------ */

void p2p_stream_set_cbs(p2p_stream *s, const p2p_stream_cbs *cbs, void *user)
{
    if (cbs)
        s->cbs = *cbs;
    else
        memset(&s->cbs, 0, sizeof s->cbs);
    s->user = user;
}

ssize_t p2p_stream_write(p2p_stream *s, const void *p, size_t n)
{
    host_conn *c = s->c;
    if (s->state != STREAM_OPEN || s->dead || c->closing)
        return -1;
    if (n == 0)
        return 0;
    conn_enter(c);
    ssize_t w = yamux_write(s->st, p, n);
    if (w > 0) {
        c->last_activity = stream_now(s);
        c->want_flush = true;
    }
    conn_leave(c);
    return w;
}

void p2p_stream_pause(p2p_stream *s, bool paused)
{
    host_conn *c = s->c;
    if (s->state != STREAM_OPEN || s->dead || c->closing) {
        s->paused = paused;
        return;
    }
    if (paused) {
        s->unpause_pending = false;
        if (s->paused)
            return;
        s->paused = true;
        conn_enter(c);
        yamux_pause(s->st, true);
        conn_leave(c);
    } else if (s->paused) {
        /* delivery resumes from the loop, not from inside this call */
        s->paused = false;
        s->unpause_pending = true;
        c->unpause_pending = true;
        conn_enter(c);
        conn_leave(c);
    }
}

/* Lets yamux go on: it delivers what it held (then EOF) from inside this call. */
static void stream_resume(p2p_stream *s)
{
    if (s->paused || s->dead || s->state != STREAM_OPEN)
        return;
    yamux_pause(s->st, false);
    s->c->want_flush = true; /* window updates */
}

void stream_service_unpause(host_conn *c)
{
    /* Rescan after each stream: callbacks may change the list. */
    bool again = true;
    while (again && !c->closing) {
        again = false;
        for (p2p_stream *s = c->streams; s; s = s->next) {
            if (!s->unpause_pending)
                continue;
            s->unpause_pending = false;
            stream_resume(s);
            again = true;
            break;
        }
    }
}

void stream_check_deadlines(host_conn *c, uint64_t now)
{
    for (p2p_stream *s = c->streams; s; s = s->next) {
        if (s->deadline && now >= s->deadline && !s->dead) {
            s->deadline = 0;
            s->expired = true;
            s->dead = true;
            yamux_reset(s->st); /* on_close follows from the next pull */
            c->want_flush = true;
        }
    }
}

void stream_close_write_later(p2p_stream *s, uint64_t ms)
{
    s->fin_at = uv_now(s->c->h->loop) + ms;
    host_arm_later(s->c->h, s->fin_at);
}

void stream_run_later(host_conn *c, uint64_t now, uint64_t *next)
{
    /* p2p_stream_close_write runs no callbacks: the list stays as it is */
    for (p2p_stream *s = c->streams; s; s = s->next) {
        if (!s->fin_at)
            continue;
        if (now >= s->fin_at) {
            s->fin_at = 0;
            p2p_stream_close_write(s);
        } else if (!*next || s->fin_at < *next) {
            *next = s->fin_at;
        }
    }
}

int p2p_stream_close_write(p2p_stream *s)
{
    host_conn *c = s->c;
    if (s->state != STREAM_OPEN || s->dead || c->closing)
        return -1;
    conn_enter(c);
    int r = yamux_close_write(s->st);
    c->want_flush = true;
    conn_leave(c);
    return r;
}

void p2p_stream_reset(p2p_stream *s)
{
    host_conn *c = s->c;
    if (s->state != STREAM_OPEN || s->dead || c->closing)
        return;
    s->dead = true;
    conn_enter(c);
    yamux_reset(s->st);
    c->want_flush = true;
    conn_leave(c);
}

const char *p2p_stream_protocol(const p2p_stream *s)
{
    return s->proto ? s->proto : "";
}

const p2p_peer_id *p2p_stream_peer(const p2p_stream *s)
{
    return &s->c->peer;
}

bool p2p_stream_inbound(const p2p_stream *s)
{
    return s->inbound;
}
