/* yamux.c - the Yamux multiplexer without I/O (see yamux.h; spec: libp2p/specs yamux/README.md).
 *
 * Receive side, per stream: window == credit + held + consumed at all times, where credit is what
 * the peer may still send, held is data received but not yet handed to on_data (the stream is
 * paused), and consumed is data handed over but not yet credited back with a WINDOW_UPDATE. So
 * a stream never holds more than its window. The update goes out once consumed reaches half the
 * window. Window growth: if, when that update goes out, the peer has less than a quarter of the
 * window left (it filled the window faster than our credit came back: the window, not the
 * reader, limits throughput), the window doubles, up to cfg.max_window, as far as the session's
 * window_total (the sum of all windows: what the peer could make us hold if every stream paused)
 * stays within cfg.session_budget. Held data never exceeds window_total, so windows stop growing
 * whenever held data is over the budget. A paused reader sends no updates, so it never grows.
 *
 * Held data is bounded by resets, not by windows alone (a window once granted cannot be taken
 * back, and every new stream brings 256 KiB): data that would take the session's held bytes
 * beyond its budget, or the pool's queued + held + sending bytes (over every session of the host)
 * beyond the pool's, resets its stream (hold_or_reset). Data handed straight to on_data is never
 * held, so a reader that keeps up is never reset, whatever it receives.
 *
 * Send side, per stream: a queue of at most send_cap (cfg.send_buffer unless lowered) bytes,
 * whatever the peer's window. Session and pool: queued + held is kept within each budget by
 * refusing writes, except that a stream below YAMUX_WRITE_RESERVE may fill up to it while
 * the queued bytes stay within the budget. Without that exception, streams paused until they
 * can write (a proxy, an echo) could hold enough to block every write for good, theirs included.
 * A stream whose write came up short waits on s->waiting; on_writable runs (from yamux_pull)
 * once writable_again says so: the stream's own drain puts it on s->notify (emit_data), and
 * waits on the totals are swept when the queued bytes fall to half the budgets (drained). The
 * pool drains through other sessions too: yamux_want_write tells the caller to pull then.
 *
 * Session-level frames (pings, pongs, GoAway, RSTs) wait in one control buffer; per-stream frames
 * (SYN, ACK, FIN, window updates, data) are made from the stream's state when pulled, so their
 * number is bounded by the number of streams. Streams that may have something to send sit on a
 * ready list, which yamux_pull walks round-robin.
 *
 * Re-entrancy: callbacks may act on any stream. A stream that ends is moved to a dead list and
 * freed (after its on_close) only at a safe point: between frames in yamux_feed, at the end of a
 * top-level yamux_pull, or in yamux_free - never while a callback is on the stack. */
#include "yamux.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_DATA = 0, T_WINDOW = 1, T_PING = 2, T_GOAWAY = 3 };
enum { F_SYN = 1, F_ACK = 2, F_FIN = 4, F_RST = 8 };

/* Unsent control frames the peer alone can make us queue (pongs, refusals) before we call it
 * abuse: a peer that pings without reading must not grow our memory. */
#define CTRL_PEER_LIMIT (64 * 1024)
/* Held data is handed to on_data in pieces of at most this, so a pause takes effect soon. */
#define DELIVER_CHUNK (64 * 1024)

/* An intrusive circular doubly linked list; an unlinked node points to itself. */
typedef struct ylink {
    struct ylink *prev, *next;
} ylink;

struct yamux_stream {
    yamux_session *s;
    uint32_t id;
    void *user;
    yamux_stream *hnext; /* hash chain */
    ylink all;           /* on s->live, or on s->dead once ended */
    ylink ready;         /* on s->ready while it may have frames to send */
    ylink notify;        /* on s->notify while on_writable may be due (inside yamux_pull) */
    ylink wait;          /* on s->waiting while want_writable */

    /* receive side: window == credit + held + consumed */
    uint32_t window;
    uint32_t credit;
    uint32_t consumed;
    buf_t rbuf; /* held data is rbuf.data[roff..len) */
    size_t roff;

    /* send side */
    uint32_t send_window; /* bytes the peer lets us send */
    buf_t sq;             /* queued data is sq.data[sq_off..len) */
    size_t sq_off;
    size_t send_cap; /* most bytes queued: cfg.send_buffer or less */

    const char *reason; /* for on_close, once dead */
    bool accepted;      /* callbacks may run (inbound: on_open said yes) */
    bool paused, delivering;
    bool syn_pending, ack_pending; /* our first frame has not gone out yet */
    bool fin_queued, fin_sent;
    bool fin_recvd, eof_delivered;
    bool want_writable; /* a yamux_write came up short */
    bool dead, silent;  /* silent: freed without on_close (refused in on_open) */
};

struct yamux_session {
    bool client;
    yamux_config cfg;
    yamux_callbacks cb;
    void *user;

    yamux_stream **buckets;
    uint32_t mask;
    ylink live, dead, ready, notify, waiting;
    size_t count;      /* live streams */
    uint32_t next_id;  /* our next stream id; ours below it were opened */
    uint32_t peer_max; /* highest stream id the peer opened */

    buf_t ctrl; /* whole session-level frames, unsent from ctrl_off */
    size_t ctrl_off;

    /* the budget, over live streams (a stream leaves the sums when it ends) */
    size_t queued_total, held_total;
    uint64_t window_total;
    bool budget_blocked; /* a waiting stream needs the queued bytes to drain (see drained) */

    /* the parser */
    uint8_t hdr[YAMUX_HEADER_LEN];
    size_t hlen;
    bool in_body;
    uint32_t body_left;
    yamux_stream *body_st; /* NULL: skip the body */
    uint16_t body_flags;

    int depth;    /* callbacks on the stack */
    bool pulling; /* inside yamux_pull */
    bool goaway_sent, goaway_recvd, failed, closing;
    char errmsg[160];
};

/* ---- small helpers ------------------------------------------------------------------------- */

static void link_init(ylink *l)
{
    l->prev = l->next = l;
}

static bool link_linked(const ylink *l)
{
    return l->next != l;
}

static void link_remove(ylink *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    link_init(l);
}

static void link_push_tail(ylink *head, ylink *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

#define STREAM_OF(ptr, field) \
    ((yamux_stream *)(void *)((char *)(ptr)-offsetof(yamux_stream, field)))

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void make_header(uint8_t h[YAMUX_HEADER_LEN], int type, uint16_t flags, uint32_t id,
                        uint32_t len)
{
    h[0] = 0;
    h[1] = (uint8_t)type;
    h[2] = (uint8_t)(flags >> 8);
    h[3] = (uint8_t)flags;
    put_be32(h + 4, id);
    put_be32(h + 8, len);
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* True if id belongs to our side's parity. */
static bool id_is_ours(const yamux_session *s, uint32_t id)
{
    return (id & 1) == (s->client ? 1u : 0u);
}

/* ---- the stream map ------------------------------------------------------------------------ */

static uint32_t bucket_of(const yamux_session *s, uint32_t id)
{
    /* ids of one side are consecutive odd or even numbers: id >> 1 spreads them evenly */
    return (id >> 1) & s->mask;
}

static yamux_stream *map_get(const yamux_session *s, uint32_t id)
{
    for (yamux_stream *st = s->buckets[bucket_of(s, id)]; st; st = st->hnext)
        if (st->id == id)
            return st;
    return NULL;
}

static void map_put(yamux_session *s, yamux_stream *st)
{
    yamux_stream **b = &s->buckets[bucket_of(s, st->id)];
    st->hnext = *b;
    *b = st;
}

static void map_del(yamux_session *s, yamux_stream *st)
{
    for (yamux_stream **pp = &s->buckets[bucket_of(s, st->id)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == st) {
            *pp = st->hnext;
            st->hnext = NULL;
            return;
        }
    }
}

/* ---- control frames and failure ------------------------------------------------------------ */

static int ctrl_put(yamux_session *s, int type, uint16_t flags, uint32_t id, uint32_t len)
{
    uint8_t h[YAMUX_HEADER_LEN];
    make_header(h, type, flags, id, len);
    return buf_append(&s->ctrl, h, sizeof h);
}

/* Marks the session failed (first message wins) and queues GoAway(code). Returns -1. */
static int fail(yamux_session *s, uint32_t code, const char *fmt, ...) ERR_PRINTF(3, 4);

static int fail(yamux_session *s, uint32_t code, const char *fmt, ...)
{
    if (s->failed)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    s->failed = true;
    if (!s->goaway_sent) {
        s->goaway_sent = true;
        ctrl_put(s, T_GOAWAY, 0, 0, code);
    }
    return -1;
}

/* A control frame the peer asked for (pong, refusal): bounded, see CTRL_PEER_LIMIT. */
static int ctrl_put_peer(yamux_session *s, int type, uint16_t flags, uint32_t id, uint32_t len)
{
    if (s->ctrl.len - s->ctrl_off >= CTRL_PEER_LIMIT)
        return fail(s, YAMUX_GOAWAY_PROTOCOL,
                    "peer is not reading: %zu bytes of control frames queued",
                    s->ctrl.len - s->ctrl_off);
    if (ctrl_put(s, type, flags, id, len) < 0)
        return fail(s, YAMUX_GOAWAY_INTERNAL, "out of memory");
    return 0;
}

/* ---- stream state -------------------------------------------------------------------------- */

static size_t queued(const yamux_stream *st)
{
    return st->sq.len - st->sq_off;
}

static size_t held(const yamux_stream *st)
{
    return st->rbuf.len - st->roff;
}

static size_t session_used(const yamux_session *s)
{
    return s->queued_total + s->held_total;
}

static size_t pool_used(const yamux_pool *p)
{
    return p->queued + p->held + p->sending;
}

/* The totals change only here, so the session's and the pool's sums stay exact. */
static void add_queued(yamux_session *s, size_t n)
{
    s->queued_total += n;
    if (s->cfg.pool)
        s->cfg.pool->queued += n;
}

static void sub_queued(yamux_session *s, size_t n)
{
    assert(s->queued_total >= n);
    s->queued_total -= n;
    if (s->cfg.pool) {
        assert(s->cfg.pool->queued >= n);
        s->cfg.pool->queued -= n;
    }
}

static void add_held(yamux_session *s, size_t n)
{
    s->held_total += n;
    if (s->cfg.pool)
        s->cfg.pool->held += n;
}

static void sub_held(yamux_session *s, size_t n)
{
    assert(s->held_total >= n);
    s->held_total -= n;
    if (s->cfg.pool) {
        assert(s->cfg.pool->held >= n);
        s->cfg.pool->held -= n;
    }
}

/* Room that budget leaves a stream with q queued; a stream below reserve may fill up to it
 * whatever is held, as long as the queued bytes (queued_sum) stay within the budget. */
static size_t budget_room(size_t budget, size_t used, size_t queued_sum, size_t q, size_t reserve)
{
    size_t room = budget > used ? budget - used : 0;
    if (q < reserve && room < reserve - q) {
        size_t qroom = budget > queued_sum ? budget - queued_sum : 0;
        room = min_size(reserve - q, qroom);
    }
    return room;
}

/* The queue a stream may always fill, whatever is held (see the top of the file). */
static size_t reserve_of(const yamux_stream *st)
{
    return min_size(YAMUX_WRITE_RESERVE, st->send_cap);
}

/* Bytes yamux_write may take now; *by_session tells whether the session's or the pool's
 * budget, not the stream's own queue, is what limits it. */
static size_t write_room(const yamux_stream *st, bool *by_session)
{
    const yamux_session *s = st->s;
    const yamux_pool *p = s->cfg.pool;
    size_t q = queued(st), reserve = reserve_of(st);
    size_t room = st->send_cap > q ? st->send_cap - q : 0;
    size_t sess = budget_room(s->cfg.session_budget, session_used(s), s->queued_total, q, reserve);
    if (p && p->limit)
        sess =
            min_size(sess, budget_room(p->limit, pool_used(p), p->queued + p->sending, q, reserve));
    *by_session = sess < room;
    return min_size(room, sess);
}

/* The session's and the pool's queued bytes are down to half their budgets: writers that
 * waited for them may go on. */
static bool drained(const yamux_session *s)
{
    const yamux_pool *p = s->cfg.pool;
    return s->queued_total <= s->cfg.session_budget / 2 &&
           (!p || !p->limit || p->queued + p->sending <= p->limit / 2);
}

/* Queued plus held bytes are at most half the session's and the pool's budgets. */
static bool below_half(const yamux_session *s)
{
    const yamux_pool *p = s->cfg.pool;
    return session_used(s) <= s->cfg.session_budget / 2 &&
           (!p || !p->limit || pool_used(p) <= p->limit / 2);
}

/* True if st, after a short write, should hear on_writable now: its queue is down to half its
 * send buffer and the session is below half its budget, or the reserve applies. With hysteresis
 * the writer gets room for a good chunk each time, not a trickle of callbacks. A queue that
 * cannot drain now (the peer's window is used up) may be topped up at once: then a stalled
 * writer's queue is full, window plus send buffer, whatever the timing. */
static bool writable_again(yamux_stream *st)
{
    yamux_session *s = st->s;
    size_t q = queued(st);
    if (q > st->send_cap / 2 && (st->send_window > 0 || q >= st->send_cap))
        return false; /* its own queue must drain: emit_data notifies */
    if (below_half(s))
        return true;
    if (q > reserve_of(st) / 2)
        return false; /* held data fills the budget: the queue drains to the reserve first */
    if (drained(s))
        return true;
    s->budget_blocked = true; /* swept once the session's queues have drained */
    return false;
}

static void stream_kill(yamux_stream *st, const char *reason, bool silent);

/* Makes room for n more held bytes on st if the budgets allow it; otherwise resets st (the peer
 * hears RST, bounded like every frame the peer causes) and returns false. In the session, held
 * bytes alone are bounded: our own queue, which writes keep within the budget, must not get
 * the streams of a peer that sent only what its windows allowed reset (both ways of a bulk
 * echo queue and hold at once). In the pool, queued, held and sending together: past that the
 * host is overloaded, and received data is what gives. */
static bool hold_or_reset(yamux_stream *st, size_t n)
{
    yamux_session *s = st->s;
    const yamux_pool *p = s->cfg.pool;
    const char *why = NULL;
    if (s->held_total + n > s->cfg.session_budget)
        why = "reset: received data over the connection's memory budget";
    else if (p && p->limit && pool_used(p) + n > p->limit)
        why = "reset: received data over the host's memory budget";
    if (!why)
        return true;
    if (!st->syn_pending)
        ctrl_put_peer(s, T_WINDOW, F_RST, st->id, 0);
    stream_kill(st, why, false);
    return false;
}

static bool data_sendable(const yamux_stream *st)
{
    return queued(st) > 0 && st->send_window > 0;
}

static bool fin_due(const yamux_stream *st)
{
    return st->fin_queued && !st->fin_sent && queued(st) == 0;
}

static bool update_due(const yamux_stream *st)
{
    return !st->fin_recvd && st->consumed > 0 && st->consumed >= st->window / 2;
}

static bool stream_wants(const yamux_stream *st)
{
    return !st->dead && (st->syn_pending || st->ack_pending || fin_due(st) || update_due(st) ||
                         data_sendable(st));
}

/* Puts st on the ready list if it has something to send. Every change that can give a stream
 * something to send calls this. */
static void stream_mark(yamux_stream *st)
{
    if (!link_linked(&st->ready) && stream_wants(st))
        link_push_tail(&st->s->ready, &st->ready);
}

static yamux_stream *stream_new(yamux_session *s, uint32_t id)
{
    yamux_stream *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->s = s;
    st->id = id;
    link_init(&st->all);
    link_init(&st->ready);
    link_init(&st->notify);
    link_init(&st->wait);
    st->window = st->credit = YAMUX_INITIAL_WINDOW;
    st->send_window = YAMUX_INITIAL_WINDOW;
    st->send_cap = s->cfg.send_buffer;
    s->window_total += YAMUX_INITIAL_WINDOW;
    buf_init(&st->rbuf, 0);
    buf_init(&st->sq, 0);
    map_put(s, st);
    link_push_tail(&s->live, &st->all);
    s->count++;
    return st;
}

/* Ends st: no more frames or callbacks but on_close (unless silent), which runs when the dead
 * list is reaped. The receive buffer stays until then: on_data may still be reading it. */
static void stream_kill(yamux_stream *st, const char *reason, bool silent)
{
    if (st->dead)
        return;
    yamux_session *s = st->s;
    st->dead = true;
    st->silent = silent;
    st->reason = reason;
    map_del(s, st);
    s->count--;
    if (link_linked(&st->ready))
        link_remove(&st->ready);
    link_remove(&st->all);
    link_push_tail(&s->dead, &st->all);
    if (link_linked(&st->wait))
        link_remove(&st->wait);
    sub_queued(s, queued(st));
    sub_held(s, held(st));
    s->window_total -= st->window;
    buf_free(&st->sq);
    st->sq_off = 0;
}

static void stream_free(yamux_session *s, yamux_stream *st)
{
    if (s->body_st == st)
        s->body_st = NULL;
    if (link_linked(&st->notify))
        link_remove(&st->notify);
    if (link_linked(&st->wait))
        link_remove(&st->wait);
    buf_free(&st->rbuf);
    buf_free(&st->sq);
    free(st);
}

/* Runs on_close for dead streams and frees them; only with no callback on the stack. */
static void reap(yamux_session *s)
{
    if (s->depth)
        return;
    while (link_linked(&s->dead)) {
        yamux_stream *st = STREAM_OF(s->dead.next, all);
        link_remove(&st->all);
        if (!st->silent && s->cb.on_close) {
            s->depth++;
            s->cb.on_close(s->user, st, st->reason);
            s->depth--;
        }
        stream_free(s, st);
    }
}

/* FIN both ways, our data all pulled, EOF handed over: the stream is finished. */
static void stream_check_done(yamux_stream *st)
{
    if (!st->dead && st->fin_sent && st->eof_delivered)
        stream_kill(st, NULL, false);
}

/* Hands held data (then EOF) to the callbacks while st is not paused. */
static void stream_deliver(yamux_stream *st)
{
    yamux_session *s = st->s;
    if (st->delivering || st->dead || !st->accepted)
        return;
    st->delivering = true;
    while (!st->dead && !st->paused && held(st) > 0) {
        size_t n = min_size(held(st), DELIVER_CHUNK);
        const uint8_t *p = st->rbuf.data + st->roff;
        st->roff += n;
        sub_held(s, n);
        st->consumed += (uint32_t)n;
        if (s->cb.on_data) {
            s->depth++;
            s->cb.on_data(s->user, st, p, n);
            s->depth--;
        }
    }
    if (!st->dead && held(st) == 0 && st->rbuf.cap) {
        buf_free(&st->rbuf);
        st->roff = 0;
    }
    if (!st->dead && !st->paused && st->fin_recvd && !st->eof_delivered && held(st) == 0) {
        st->eof_delivered = true;
        if (s->cb.on_eof) {
            s->depth++;
            s->cb.on_eof(s->user, st);
            s->depth--;
        }
    }
    st->delivering = false;
    if (!st->dead) {
        stream_mark(st);
        stream_check_done(st);
    }
}

static void stream_maybe_writable(yamux_stream *st)
{
    yamux_session *s = st->s;
    bool by_session;
    if (st->dead || !st->want_writable || !writable_again(st) || write_room(st, &by_session) == 0)
        return;
    st->want_writable = false;
    link_remove(&st->wait);
    if (s->cb.on_writable) {
        s->depth++;
        s->cb.on_writable(s->user, st);
        s->depth--;
    }
}

/* ---- session ------------------------------------------------------------------------------- */

void yamux_config_default(yamux_config *c)
{
    memset(c, 0, sizeof *c);
    c->max_streams = 256;
    c->max_window = 16u << 20;
    c->send_buffer = 256 * 1024;
    c->max_frame = 64 * 1024;
    c->session_budget = 8u << 20;
}

yamux_session *yamux_new(bool client, const yamux_config *cfg, const yamux_callbacks *cb,
                         void *user)
{
    yamux_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    yamux_config_default(&s->cfg);
    if (cfg) {
        /* zero fields keep their defaults */
        if (cfg->max_streams)
            s->cfg.max_streams = cfg->max_streams;
        if (cfg->max_window)
            s->cfg.max_window = cfg->max_window;
        if (cfg->send_buffer)
            s->cfg.send_buffer = cfg->send_buffer;
        if (cfg->max_frame)
            s->cfg.max_frame = cfg->max_frame;
        if (cfg->session_budget)
            s->cfg.session_budget = cfg->session_budget;
        s->cfg.pool = cfg->pool;
    }
    if (s->cfg.max_window < YAMUX_INITIAL_WINDOW)
        s->cfg.max_window = YAMUX_INITIAL_WINDOW;
    if (cb)
        s->cb = *cb;
    s->user = user;
    uint32_t nb = 16;
    while (nb < s->cfg.max_streams && nb < 65536)
        nb <<= 1;
    s->buckets = calloc(nb, sizeof *s->buckets);
    if (!s->buckets) {
        free(s);
        return NULL;
    }
    s->mask = nb - 1;
    s->client = client;
    s->next_id = client ? 1 : 2;
    link_init(&s->live);
    link_init(&s->dead);
    link_init(&s->ready);
    link_init(&s->notify);
    link_init(&s->waiting);
    buf_init(&s->ctrl, 0);
    return s;
}

void yamux_free(yamux_session *s, const char *reason)
{
    if (!s)
        return;
    s->closing = true;
    const char *why = reason ? reason : "session closed";
    while (link_linked(&s->live) || link_linked(&s->dead)) {
        if (link_linked(&s->live))
            stream_kill(STREAM_OF(s->live.next, all), why, false);
        reap(s);
    }
    free(s->buckets);
    buf_free(&s->ctrl);
    free(s);
}

size_t yamux_stream_count(const yamux_session *s)
{
    return s->count;
}

void yamux_ping(yamux_session *s, uint32_t opaque)
{
    ctrl_put(s, T_PING, F_SYN, 0, opaque);
}

void yamux_goaway(yamux_session *s, uint32_t code)
{
    if (s->goaway_sent)
        return;
    s->goaway_sent = true;
    ctrl_put(s, T_GOAWAY, 0, 0, code);
}

/* ---- streams: the caller's side ------------------------------------------------------------ */

yamux_stream *yamux_open(yamux_session *s, char *err, size_t errlen)
{
    if (s->failed || s->closing)
        return err_set(err, errlen, "yamux session is closing"), NULL;
    if (s->goaway_recvd)
        return err_set(err, errlen, "peer sent GoAway: no new streams"), NULL;
    if (s->goaway_sent)
        return err_set(err, errlen, "GoAway sent: no new streams"), NULL;
    if (s->count >= s->cfg.max_streams)
        return err_set(err, errlen, "too many yamux streams (%u)", s->cfg.max_streams), NULL;
    if (s->next_id > UINT32_MAX - 2)
        return err_set(err, errlen, "yamux stream ids exhausted"), NULL;
    yamux_stream *st = stream_new(s, s->next_id);
    if (!st)
        return err_set(err, errlen, "out of memory"), NULL;
    s->next_id += 2;
    st->accepted = true;
    st->syn_pending = true; /* goes out promptly: the peer may wait for it */
    stream_mark(st);
    return st;
}

ssize_t yamux_write(yamux_stream *st, const uint8_t *p, size_t n)
{
    if (st->dead || st->fin_queued)
        return -1;
    bool by_session;
    size_t take = min_size(n, write_room(st, &by_session));
    if (take < n) {
        st->want_writable = true;
        if (!link_linked(&st->wait))
            link_push_tail(&st->s->waiting, &st->wait);
        if (by_session)
            st->s->budget_blocked = true;
    }
    if (take == 0)
        return 0;
    /* Compact once the sent prefix outweighs what is left: amortised O(1) per byte. */
    if (st->sq_off > 0 && st->sq_off >= queued(st)) {
        size_t q = queued(st);
        memmove(st->sq.data, st->sq.data + st->sq_off, q);
        st->sq.len = q;
        st->sq_off = 0;
    }
    if (buf_append(&st->sq, p, take) < 0)
        return -1; /* out of memory */
    add_queued(st->s, take);
    stream_mark(st);
    return (ssize_t)take;
}

void yamux_pause(yamux_stream *st, bool paused)
{
    if (st->dead)
        return;
    st->paused = paused;
    if (!paused)
        stream_deliver(st);
}

int yamux_unread(yamux_stream *st, const uint8_t *p, size_t n)
{
    if (st->dead)
        return -1;
    if (n == 0)
        return 0;
    yamux_session *s = st->s;
    st->paused = true;
    /* Back to held: the window's consumed part shrinks by as much (unless a pull already
     * credited it back, which the contract rules out; the budgets bound held data anyway). */
    st->consumed -= (uint32_t)min_size(n, st->consumed);
    if (!hold_or_reset(st, n))
        return -1;
    size_t h = held(st);
    if (st->roff >= n) {
        /* delivered from rbuf: p is (a copy of) the bytes just before roff */
        memmove(st->rbuf.data + st->roff - n, p, n);
        st->roff -= n;
    } else {
        buf_t nb;
        buf_init(&nb, 0);
        if (buf_reserve(&nb, n + h) < 0) {
            yamux_reset(st);
            return -1;
        }
        buf_append(&nb, p, n);
        if (h)
            buf_append(&nb, st->rbuf.data + st->roff, h);
        buf_free(&st->rbuf);
        st->rbuf = nb;
        st->roff = 0;
    }
    add_held(s, n);
    return 0;
}

int yamux_close_write(yamux_stream *st)
{
    if (st->dead || st->fin_queued)
        return -1;
    st->fin_queued = true;
    stream_mark(st);
    return 0;
}

void yamux_reset(yamux_stream *st)
{
    if (st->dead)
        return;
    /* A stream whose SYN never went out is unknown to the peer: nothing to tell it. A peer
     * could open streams only to have them reset while it reads nothing (a ping whose echo
     * cannot be queued): those RSTs are bounded like every frame the peer causes. */
    if (!st->syn_pending) {
        if (id_is_ours(st->s, st->id))
            ctrl_put(st->s, T_WINDOW, F_RST, st->id, 0);
        else
            ctrl_put_peer(st->s, T_WINDOW, F_RST, st->id, 0);
    }
    stream_kill(st, "reset by us", false);
}

uint32_t yamux_stream_id(const yamux_stream *st)
{
    return st->id;
}

void yamux_stream_set_user(yamux_stream *st, void *user)
{
    st->user = user;
}

void *yamux_stream_user(const yamux_stream *st)
{
    return st->user;
}

size_t yamux_stream_queued(const yamux_stream *st)
{
    return queued(st);
}

void yamux_stream_set_send_buffer(yamux_stream *st, size_t n)
{
    size_t dflt = st->s->cfg.send_buffer;
    st->send_cap = n == 0 || n > dflt ? dflt : n;
}

size_t yamux_queued_total(const yamux_session *s)
{
    return s->queued_total;
}

size_t yamux_held_total(const yamux_session *s)
{
    return s->held_total;
}

/* ---- inbound ------------------------------------------------------------------------------- */

/* The peer's SYN for a new id: returns the accepted stream, or NULL if refused (RST queued) or
 * on failure (s->failed). */
static yamux_stream *accept_stream(yamux_session *s, uint32_t id)
{
    if (s->goaway_sent || s->closing || s->count >= s->cfg.max_streams) {
        ctrl_put_peer(s, T_WINDOW, F_RST, id, 0);
        return NULL;
    }
    yamux_stream *st = stream_new(s, id);
    if (!st) {
        ctrl_put_peer(s, T_WINDOW, F_RST, id, 0);
        return NULL;
    }
    st->ack_pending = true;
    int rc = 0;
    if (s->cb.on_open) {
        s->depth++;
        rc = s->cb.on_open(s->user, st);
        s->depth--;
    }
    if (st->dead) /* reset from inside on_open: RST queued, on_close follows */
        return NULL;
    if (rc != 0) {
        stream_kill(st, NULL, true);
        ctrl_put_peer(s, T_WINDOW, F_RST, id, 0);
        return NULL;
    }
    st->accepted = true;
    stream_mark(st); /* the ACK goes out promptly */
    return st;
}

/* FIN and RST of a frame, after its body. */
static void apply_flags(yamux_stream *st, uint16_t flags)
{
    if (!st || st->dead)
        return;
    if (flags & F_RST) {
        stream_kill(st, "reset by peer", false);
        return;
    }
    if ((flags & F_FIN) && !st->fin_recvd) {
        st->fin_recvd = true;
        stream_deliver(st);
    }
}

static int handle_stream_frame(yamux_session *s, int type, uint16_t flags, uint32_t id,
                               uint32_t len)
{
    if (id == 0)
        return fail(s, YAMUX_GOAWAY_PROTOCOL, "%s frame on stream 0",
                    type == T_DATA ? "data" : "window update");
    yamux_stream *st = map_get(s, id);
    bool ours = id_is_ours(s, id);
    if (flags & F_SYN) {
        if (ours)
            return fail(s, YAMUX_GOAWAY_PROTOCOL,
                        "stream %u: peer opened a stream with our id parity", id);
        /* Ids need not arrive in order (a peer may send a later stream's SYN first), so only a
         * live id is refused. */
        if (st)
            return fail(s, YAMUX_GOAWAY_PROTOCOL, "stream %u: SYN for a stream already open", id);
        if (id > s->peer_max)
            s->peer_max = id;
        st = accept_stream(s, id);
        if (s->failed)
            return -1;
    } else if (!st) {
        /* A stream we closed or reset, or refused: the peer may have frames in flight, which
         * we drop. An id never opened is a violation. */
        bool seen = ours ? id < s->next_id : id <= s->peer_max;
        if (!seen)
            return fail(s, YAMUX_GOAWAY_PROTOCOL,
                        "stream %u: frame for a stream that was never opened", id);
    }

    if (type == T_WINDOW) {
        if (st && len) {
            if ((uint64_t)st->send_window + len > UINT32_MAX)
                return fail(s, YAMUX_GOAWAY_PROTOCOL,
                            "stream %u: window update of %u overflows the send window %u", id, len,
                            st->send_window);
            st->send_window += len;
            stream_mark(st);
            stream_maybe_writable(st);
        }
        apply_flags(st, flags);
        return 0;
    }

    if (st) {
        if (len > st->credit)
            return fail(s, YAMUX_GOAWAY_PROTOCOL,
                        "stream %u: data frame of %u bytes exceeds receive window %u", id, len,
                        st->credit);
        st->credit -= len;
    }
    if (len == 0) {
        apply_flags(st, flags);
        return 0;
    }
    s->in_body = true;
    s->body_left = len;
    s->body_st = st;
    s->body_flags = flags;
    return 0;
}

static int handle_header(yamux_session *s)
{
    const uint8_t *h = s->hdr;
    uint16_t flags = (uint16_t)(h[2] << 8 | h[3]);
    uint32_t id = get_be32(h + 4), len = get_be32(h + 8);
    if (h[0] != 0)
        return fail(s, YAMUX_GOAWAY_PROTOCOL, "unsupported yamux version %u", h[0]);
    switch (h[1]) {
    case T_DATA:
    case T_WINDOW:
        return handle_stream_frame(s, h[1], flags, id, len);
    case T_PING:
        /* the stream id should be 0; nothing depends on it, so it is not checked */
        if (flags & F_SYN)
            return ctrl_put_peer(s, T_PING, F_ACK, 0, len);
        if ((flags & F_ACK) && s->cb.on_pong) {
            s->depth++;
            s->cb.on_pong(s->user, len);
            s->depth--;
        }
        return 0;
    case T_GOAWAY:
        if (!s->goaway_recvd) {
            s->goaway_recvd = true;
            if (s->cb.on_goaway) {
                s->depth++;
                s->cb.on_goaway(s->user, len);
                s->depth--;
            }
        }
        return 0;
    default:
        return fail(s, YAMUX_GOAWAY_PROTOCOL, "unknown yamux frame type %u", h[1]);
    }
}

/* A piece of a data frame's body. The window check at the header guarantees it fits. */
static int handle_body(yamux_session *s, const uint8_t *p, size_t n)
{
    yamux_stream *st = s->body_st;
    if (!st || st->dead || st->fin_recvd)
        return 0;
    if (st->accepted && !st->paused && !st->delivering && held(st) == 0) {
        st->consumed += (uint32_t)n;
        if (s->cb.on_data) {
            s->depth++;
            s->cb.on_data(s->user, st, p, n);
            s->depth--;
        }
        if (!st->dead)
            stream_mark(st);
        return 0;
    }
    if (!hold_or_reset(st, n))
        return s->failed ? -1 : 0;
    if (st->roff > 0) {
        size_t h = held(st);
        memmove(st->rbuf.data, st->rbuf.data + st->roff, h);
        st->rbuf.len = h;
        st->roff = 0;
    }
    if (buf_append(&st->rbuf, p, n) < 0)
        return fail(s, YAMUX_GOAWAY_INTERNAL, "out of memory");
    add_held(s, n);
    return 0;
}

int yamux_feed(yamux_session *s, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    if (s->failed)
        return err_set(err, errlen, "%s", s->errmsg);
    while (n > 0 && !s->failed) {
        if (s->in_body) {
            size_t k = min_size(n, s->body_left);
            if (handle_body(s, p, k) < 0)
                break;
            p += k;
            n -= k;
            s->body_left -= (uint32_t)k;
            if (s->body_left == 0) {
                s->in_body = false;
                yamux_stream *st = s->body_st;
                s->body_st = NULL;
                apply_flags(st, s->body_flags);
                reap(s);
            }
            continue;
        }
        size_t k = min_size(n, YAMUX_HEADER_LEN - s->hlen);
        memcpy(s->hdr + s->hlen, p, k);
        s->hlen += k;
        p += k;
        n -= k;
        if (s->hlen < YAMUX_HEADER_LEN)
            break;
        s->hlen = 0;
        if (handle_header(s) < 0)
            break;
        if (!s->in_body)
            reap(s);
    }
    reap(s);
    if (s->failed)
        return err_set(err, errlen, "%s", s->errmsg);
    return 0;
}

/* ---- outbound ------------------------------------------------------------------------------ */

static uint16_t take_open_flags(yamux_stream *st)
{
    uint16_t f = 0;
    if (st->syn_pending)
        f |= F_SYN;
    if (st->ack_pending)
        f |= F_ACK;
    st->syn_pending = st->ack_pending = false;
    return f;
}

/* Needs a WINDOW_UPDATE frame now: credit to return, or flags with no data frame to ride on. */
static bool wants_window_frame(const yamux_stream *st)
{
    if (st->dead)
        return false;
    if (update_due(st) || fin_due(st))
        return true;
    return (st->syn_pending || st->ack_pending) && !data_sendable(st);
}

static int emit_window(yamux_session *s, yamux_stream *st, buf_t *out)
{
    if (buf_reserve(out, YAMUX_HEADER_LEN) < 0)
        return -1;
    uint16_t flags = take_open_flags(st);
    uint32_t delta = 0;
    if (!st->fin_recvd) {
        uint32_t grow = 0;
        if (update_due(st) && st->credit < st->window / 4 && st->window < s->cfg.max_window) {
            uint64_t w = (uint64_t)st->window * 2;
            if (w > s->cfg.max_window)
                w = s->cfg.max_window;
            /* only as far as all windows together stay within the budget */
            uint64_t budget = s->cfg.session_budget;
            uint64_t room = budget > s->window_total ? budget - s->window_total : 0;
            grow = (uint32_t)(w - st->window < room ? w - st->window : room);
        }
        delta = st->consumed + grow;
        st->credit += delta;
        st->window += grow;
        s->window_total += grow;
        st->consumed = 0;
    }
    if (fin_due(st)) {
        flags |= F_FIN;
        st->fin_sent = true;
    }
    uint8_t h[YAMUX_HEADER_LEN];
    make_header(h, T_WINDOW, flags, st->id, delta);
    buf_append(out, h, sizeof h);
    stream_check_done(st);
    return 0;
}

static int emit_data(yamux_session *s, yamux_stream *st, buf_t *out, size_t room)
{
    size_t q = queued(st);
    size_t n = min_size(min_size(q, st->send_window), min_size(s->cfg.max_frame, room));
    if (n == 0)
        return 0;
    if (buf_reserve(out, YAMUX_HEADER_LEN + n) < 0)
        return -1;
    /* FIN never rides on data: js-libp2p's yamux handles a frame's flags before its data, so a
     * stream it has half-closed itself would drop the last data (it does for ping echoes).
     * fin_due sends it in a WINDOW_UPDATE of its own once the queue is empty. */
    uint16_t flags = take_open_flags(st);
    uint8_t h[YAMUX_HEADER_LEN];
    make_header(h, T_DATA, flags, st->id, (uint32_t)n);
    buf_append(out, h, sizeof h);
    buf_append(out, st->sq.data + st->sq_off, n);
    st->sq_off += n;
    sub_queued(s, n);
    st->send_window -= (uint32_t)n;
    if (queued(st) == 0) {
        buf_free(&st->sq);
        st->sq_off = 0;
    }
    if (st->want_writable && !link_linked(&st->notify))
        link_push_tail(&s->notify, &st->notify);
    stream_check_done(st);
    return 1;
}

/* Streams wait for the session's queues to drain (writable_again), and they have. */
static bool wake_due(const yamux_session *s)
{
    return s->budget_blocked && link_linked(&s->waiting) && drained(s);
}

size_t yamux_pull(yamux_session *s, buf_t *out, size_t max)
{
    /* From a callback run by yamux_pull, frames pulled now would reach the wire before those the
     * outer call is returning: leave them to the outer caller's next pull. */
    if (s->pulling)
        return 0;
    s->pulling = true;
    size_t start = out->len;
    bool full = false;
#define USED() (out->len - start)

    /* session control frames */
    while (s->ctrl_off < s->ctrl.len) {
        if (USED() + YAMUX_HEADER_LEN > max ||
            buf_append(out, s->ctrl.data + s->ctrl_off, YAMUX_HEADER_LEN) < 0) {
            full = true;
            break;
        }
        s->ctrl_off += YAMUX_HEADER_LEN;
    }
    if (s->ctrl_off == s->ctrl.len) {
        if (s->ctrl.cap > 4096)
            buf_free(&s->ctrl);
        buf_clear(&s->ctrl);
        s->ctrl_off = 0;
    }

    /* Stream control frames: window updates, and ACK/FIN with no data to ride on. A new
     * stream's first frame (SYN, on data if there is some) goes out here too, so that SYNs leave
     * in the order the streams were opened (the ready list's order). */
    for (ylink *l = s->ready.next, *next; !full && l != &s->ready; l = next) {
        next = l->next;
        yamux_stream *st = STREAM_OF(l, ready);
        if (st->syn_pending && data_sendable(st)) {
            size_t room = max > USED() + YAMUX_HEADER_LEN ? max - USED() - YAMUX_HEADER_LEN : 0;
            if (!room || emit_data(s, st, out, room) <= 0)
                full = true;
            continue;
        }
        if (!wants_window_frame(st))
            continue;
        if (USED() + YAMUX_HEADER_LEN > max || emit_window(s, st, out) < 0)
            full = true;
    }

    /* data, one frame per stream per round */
    bool progress = true;
    while (!full && progress && link_linked(&s->ready)) {
        progress = false;
        ylink *last = s->ready.prev;
        for (;;) {
            ylink *l = s->ready.next;
            yamux_stream *st = STREAM_OF(l, ready);
            link_remove(l);
            if (data_sendable(st)) {
                size_t room = max > USED() + YAMUX_HEADER_LEN ? max - USED() - YAMUX_HEADER_LEN : 0;
                int r = room ? emit_data(s, st, out, room) : 0;
                if (r > 0)
                    progress = true;
                else
                    full = true;
            }
            stream_mark(st); /* back at the tail if it still has something to send */
            if (full || l == last)
                break;
        }
    }
#undef USED

    /* on_writable for streams whose queue drained, and for those waiting for the session once
     * its queues have; then frees (callbacks may run from here) */
    if (wake_due(s)) {
        /* Every stream due a call is waiting: take them in the order they came up short, so
         * that those the session held back longest go before those that only drained now. */
        s->budget_blocked = false;
        while (link_linked(&s->notify))
            link_remove(s->notify.next);
        for (ylink *l = s->waiting.next; l != &s->waiting; l = l->next)
            link_push_tail(&s->notify, &STREAM_OF(l, wait)->notify);
    }
    while (link_linked(&s->notify)) {
        yamux_stream *st = STREAM_OF(s->notify.next, notify);
        link_remove(&st->notify);
        stream_maybe_writable(st);
    }
    reap(s);
    s->pulling = false;
    return out->len - start;
}

bool yamux_want_write(const yamux_session *s)
{
    if (s->pulling)
        return false; /* see yamux_pull */
    if (s->ctrl.len > s->ctrl_off)
        return true;
    /* on_writable for streams that waited for the session: a yamux_pull delivers it */
    if (wake_due(s))
        return true;
    /* dead streams await their on_close, which a yamux_pull delivers */
    if (link_linked(&s->dead))
        return true;
    for (const ylink *l = s->ready.next; l != &s->ready; l = l->next)
        if (stream_wants(STREAM_OF(l, ready)))
            return true;
    return false;
}
