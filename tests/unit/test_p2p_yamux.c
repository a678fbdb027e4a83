/* Tests for src/p2p/yamux.c: two sessions back to back in memory (pull from one, feed the other
 * in random pieces), plus hand-made frames for the protocol errors. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "yamux.h"

/* ---- harness ------------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* The byte at offset i of the data sent on stream id by the client (or the server). */
static uint8_t pat(uint32_t id, bool from_client, uint64_t i)
{
    return (uint8_t)(i ^ (i >> 8) ^ (i >> 17) ^ (id * 7u) ^ (from_client ? 0x5a : 0xa5));
}

typedef struct app app;

typedef struct {
    app *a;
    yamux_stream *st; /* NULL after on_close */
    uint32_t id;
    uint64_t to_send, sent;
    bool fin_when_done, fin_done;
    uint64_t recvd;
    bool mismatch, eof, closed, reason_null;
    char reason[64];
    int after_close; /* callbacks after on_close: must stay 0 */
    int writables;   /* on_writable calls */
    int data_after_eof;
    /* per-stream behaviour */
    bool close_in_on_data, close_in_on_eof, pause_in_on_data;
    uint64_t reset_after; /* reset inside on_data once this many bytes arrived (0: never) */
    uint32_t unread_tail; /* the next on_data gives back up to this many bytes (yamux_unread) */
    int unread_rc;
} tstream;

#define MAX_TS 512

struct app {
    yamux_session *s;
    bool client;
    tstream *ts[MAX_TS];
    size_t nts;
    /* how to treat streams the peer opens */
    uint64_t accept_send;
    bool accept_fin, accept_pause, refuse, accept_close_now, accept_reset_now;
    bool close_in_on_data, close_in_on_eof, pause_in_on_data;
    uint64_t reset_after;
    uint32_t accept_unread;
    int opened_by_peer;
    uint32_t pongs[16];
    int npongs, goaways;
    uint32_t goaway_code;
    bool in_reset;     /* inside our call to yamux_reset */
    int close_in_call; /* on_close ran inside yamux_reset: must stay 0 */
    int closes;
    bool pull_in_writable; /* on_writable tries a nested yamux_pull */
    int nested_pulls;
    uint32_t last_syn; /* SYNs we sent go out in id order */
    int syn_order_errors;
};

static tstream *ts_new(app *a, yamux_stream *st)
{
    tstream *t = calloc(1, sizeof *t);
    t->a = a;
    t->st = st;
    t->id = yamux_stream_id(st);
    yamux_stream_set_user(st, t);
    if (a->nts < MAX_TS)
        a->ts[a->nts++] = t;
    return t;
}

static void refill(tstream *t)
{
    uint8_t tmp[70000];
    while (t->st && t->sent < t->to_send) {
        size_t n = t->to_send - t->sent;
        size_t chunk = 1 + rnd() % sizeof tmp;
        if (n > chunk)
            n = chunk;
        for (size_t i = 0; i < n; i++)
            tmp[i] = pat(t->id, t->a->client, t->sent + i);
        ssize_t w = yamux_write(t->st, tmp, n);
        if (w <= 0)
            return;
        t->sent += (uint64_t)w;
        if ((size_t)w < n)
            return;
    }
    if (t->st && t->sent == t->to_send && t->fin_when_done && !t->fin_done) {
        t->fin_done = true;
        CHECK_EQ(yamux_close_write(t->st), 0);
    }
}

static void do_reset(tstream *t)
{
    t->a->in_reset = true;
    yamux_reset(t->st);
    t->a->in_reset = false;
}

static int cb_open(void *user, yamux_stream *st)
{
    app *a = user;
    a->opened_by_peer++;
    if (a->refuse)
        return -1;
    tstream *t = ts_new(a, st);
    t->to_send = a->accept_send;
    t->fin_when_done = a->accept_fin;
    t->close_in_on_data = a->close_in_on_data;
    t->close_in_on_eof = a->close_in_on_eof;
    t->pause_in_on_data = a->pause_in_on_data;
    t->reset_after = a->reset_after;
    t->unread_tail = a->accept_unread;
    if (a->accept_pause)
        yamux_pause(st, true);
    if (a->accept_close_now) {
        t->fin_done = true;
        CHECK_EQ(yamux_close_write(st), 0);
    }
    if (a->accept_reset_now) {
        do_reset(t);
        return 0;
    }
    refill(t);
    return 0;
}

static void cb_data(void *user, yamux_stream *st, const uint8_t *p, size_t n)
{
    app *a = user;
    tstream *t = yamux_stream_user(st);
    if (!t || t->closed) {
        if (t)
            t->after_close++;
        return;
    }
    if (t->eof)
        t->data_after_eof++;
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(t->id, !a->client, t->recvd + i))
            t->mismatch = true;
    t->recvd += n;
    if (t->unread_tail) {
        size_t k = t->unread_tail < n ? t->unread_tail : n;
        t->unread_tail = 0;
        t->recvd -= k; /* it comes again */
        t->unread_rc = yamux_unread(st, p + n - k, k);
        return;
    }
    if (t->close_in_on_data && !t->fin_done) {
        t->fin_done = true;
        CHECK_EQ(yamux_close_write(st), 0);
        CHECK_EQ(yamux_close_write(st), -1);
        CHECK_EQ(yamux_write(st, (const uint8_t *)"x", 1), -1);
    }
    if (t->pause_in_on_data)
        yamux_pause(st, true);
    if (t->reset_after && t->recvd >= t->reset_after) {
        t->reset_after = 0;
        do_reset(t);
        /* everything is refused once reset, from inside the callback too */
        CHECK_EQ(yamux_write(st, (const uint8_t *)"x", 1), -1);
        CHECK_EQ(yamux_close_write(st), -1);
        yamux_pause(st, false);
        yamux_reset(st);
    }
}

static void cb_eof(void *user, yamux_stream *st)
{
    (void)user;
    tstream *t = yamux_stream_user(st);
    if (!t || t->closed) {
        if (t)
            t->after_close++;
        return;
    }
    t->eof = true;
    if (t->close_in_on_eof && !t->fin_done) {
        t->fin_done = true;
        CHECK_EQ(yamux_close_write(st), 0);
    }
}

static bool in_pull; /* move() is inside yamux_pull */

static void cb_writable(void *user, yamux_stream *st)
{
    app *a = user;
    if (a->pull_in_writable && in_pull) {
        /* inside yamux_pull's callbacks a pull appends nothing: order on the wire */
        buf_t out;
        buf_init(&out, 0);
        CHECK_EQ(yamux_pull(a->s, &out, 1 << 20), 0);
        CHECK(!yamux_want_write(a->s));
        a->nested_pulls++;
        buf_free(&out);
    }
    tstream *t = yamux_stream_user(st);
    if (!t || t->closed) {
        if (t)
            t->after_close++;
        return;
    }
    t->writables++;
    refill(t);
}

static void cb_close(void *user, yamux_stream *st, const char *reason)
{
    app *a = user;
    a->closes++;
    if (a->in_reset)
        a->close_in_call++;
    tstream *t = yamux_stream_user(st);
    if (!t)
        return;
    if (t->closed)
        t->after_close++;
    t->closed = true;
    t->st = NULL;
    t->reason_null = reason == NULL;
    snprintf(t->reason, sizeof t->reason, "%s", reason ? reason : "");
}

static void cb_pong(void *user, uint32_t opaque)
{
    app *a = user;
    if (a->npongs < 16)
        a->pongs[a->npongs++] = opaque;
}

static void cb_goaway(void *user, uint32_t code)
{
    app *a = user;
    a->goaways++;
    a->goaway_code = code;
}

static const yamux_callbacks cbs = {cb_open,  cb_data, cb_eof,   cb_writable,
                                    cb_close, cb_pong, cb_goaway};

static void app_init(app *a, bool client, const yamux_config *cfg)
{
    memset(a, 0, sizeof *a);
    a->client = client;
    a->s = yamux_new(client, cfg, &cbs, a);
}

static void app_free(app *a, const char *reason)
{
    if (a->s)
        yamux_free(a->s, reason);
    a->s = NULL;
    for (size_t i = 0; i < a->nts; i++)
        free(a->ts[i]);
    a->nts = 0;
}

static tstream *app_open(app *a, uint64_t to_send, bool fin)
{
    char err[128];
    yamux_stream *st = yamux_open(a->s, err, sizeof err);
    CHECK(st != NULL);
    if (!st)
        return NULL;
    tstream *t = ts_new(a, st);
    t->to_send = to_send;
    t->fin_when_done = fin;
    refill(t);
    return t;
}

static bool one_byte_feed;
static int feed_errors;

/* Pulls from `from` and feeds `to` in random pieces. Returns the bytes moved. */
static size_t move(app *from, app *to)
{
    buf_t out;
    buf_init(&out, 0);
    size_t max = 1 + rnd() % 300000;
    if (rnd() % 4 == 0)
        max = 12 + rnd() % 100;
    in_pull = true;
    size_t n = yamux_pull(from->s, &out, max);
    in_pull = false;
    CHECK(n <= max);
    CHECK_EQ(n, out.len);
    /* a pull appends whole frames; SYNs leave in the order the streams were opened */
    size_t off = 0;
    while (off + 12 <= n) {
        const uint8_t *h = out.data + off;
        uint32_t id = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
        uint32_t len = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11];
        if (h[1] <= 1 && (h[3] & 1)) {
            if (id <= from->last_syn)
                from->syn_order_errors++;
            from->last_syn = id;
        }
        off += 12 + (h[1] == 0 ? len : 0);
    }
    CHECK_EQ(off, n);
    off = 0;
    char err[160];
    while (off < n) {
        size_t k = one_byte_feed ? 1 : 1 + rnd() % (n - off);
        if (k > n - off)
            k = n - off;
        if (yamux_feed(to->s, out.data + off, k, err, sizeof err) != 0) {
            feed_errors++;
            fprintf(stderr, "unexpected feed error: %s\n", err);
            break;
        }
        off += k;
    }
    buf_free(&out);
    return n;
}

/* Moves bytes both ways until neither side has anything to send. */
static void pump(app *a, app *b)
{
    for (int round = 0; round < 1000000; round++) {
        size_t n = move(a, b);
        n += move(b, a);
        if (n == 0 && !yamux_want_write(a->s) && !yamux_want_write(b->s))
            return;
    }
    CHECK(!"pump did not settle");
}

/* ---- hand-made frames ---------------------------------------------------------------------- */

static size_t frame(uint8_t *p, int type, int flags, uint32_t id, uint32_t len)
{
    p[0] = 0;
    p[1] = (uint8_t)type;
    p[2] = (uint8_t)(flags >> 8);
    p[3] = (uint8_t)flags;
    p[4] = (uint8_t)(id >> 24);
    p[5] = (uint8_t)(id >> 16);
    p[6] = (uint8_t)(id >> 8);
    p[7] = (uint8_t)id;
    p[8] = (uint8_t)(len >> 24);
    p[9] = (uint8_t)(len >> 16);
    p[10] = (uint8_t)(len >> 8);
    p[11] = (uint8_t)len;
    return 12;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Feeds one hand-made frame (with len bytes of zero body for data frames if body). */
static int feed_frame(app *a, int type, int flags, uint32_t id, uint32_t len, size_t body,
                      char *err, size_t errlen)
{
    uint8_t *p = calloc(1, 12 + body);
    frame(p, type, flags, id, len);
    int rc = yamux_feed(a->s, p, 12 + body, err, errlen);
    free(p);
    return rc;
}

/* Pulls everything from a and checks that it holds a frame of the given type, flags, id and
 * length (length < 0: any). */
static bool pulled_has(app *a, int type, int flags, uint32_t id, int64_t len)
{
    buf_t out;
    buf_init(&out, 0);
    yamux_pull(a->s, &out, 1 << 24);
    bool found = false;
    for (size_t off = 0; off + 12 <= out.len;) {
        const uint8_t *h = out.data + off;
        uint32_t l = be32(h + 8);
        if (h[1] == type && (h[2] << 8 | h[3]) == flags && be32(h + 4) == id &&
            (len < 0 || l == (uint32_t)len))
            found = true;
        off += 12 + (h[1] == 0 ? l : 0);
    }
    buf_free(&out);
    return found;
}

/* ---- tests --------------------------------------------------------------------------------- */

/* 50 streams each way with data both ways, plus a few big ones; everything verified. */
static void test_many_streams(void)
{
    app a, b;
    app_init(&a, true, NULL);
    app_init(&b, false, NULL);
    b.accept_send = 100000;
    b.accept_fin = true;
    a.accept_send = 150000;
    a.accept_fin = true;
    tstream *mine[50], *theirs[10], *big[2];
    for (int i = 0; i < 50; i++)
        mine[i] = app_open(&a, 120000 + (uint64_t)i * 1000, true);
    for (int i = 0; i < 10; i++)
        theirs[i] = app_open(&b, 200000, true);
    big[0] = app_open(&a, 4u << 20, true);
    big[1] = app_open(&b, 3u << 20, true);
    CHECK_EQ(yamux_stream_count(a.s), 51);
    CHECK_EQ(yamux_stream_count(b.s), 11);
    pump(&a, &b);
    for (int i = 0; i < 50; i++) {
        CHECK(mine[i]->closed && mine[i]->reason_null);
        CHECK_EQ(mine[i]->recvd, 100000);
        CHECK(!mine[i]->mismatch && mine[i]->eof);
    }
    for (int i = 0; i < 10; i++) {
        CHECK(theirs[i]->closed && theirs[i]->reason_null);
        CHECK_EQ(theirs[i]->recvd, 150000);
    }
    CHECK_EQ(big[0]->recvd, 100000);
    CHECK_EQ(big[1]->recvd, 150000);
    /* what the other side received */
    uint64_t total_b = 0, total_a = 0;
    int bad = 0, open = 0;
    for (size_t i = 0; i < b.nts; i++) {
        total_b += b.ts[i]->recvd;
        bad += b.ts[i]->mismatch + b.ts[i]->after_close + b.ts[i]->data_after_eof;
        open += !b.ts[i]->closed;
    }
    for (size_t i = 0; i < a.nts; i++) {
        total_a += a.ts[i]->recvd;
        bad += a.ts[i]->mismatch + a.ts[i]->after_close + a.ts[i]->data_after_eof;
        open += !a.ts[i]->closed;
    }
    /* b received a's 50 + big streams, and a's replies (150000) on b's 11 streams */
    uint64_t want_b = (4u << 20) + 11 * 150000;
    for (int i = 0; i < 50; i++)
        want_b += 120000 + (uint64_t)i * 1000;
    CHECK_EQ(bad, 0);
    CHECK_EQ(open, 0);
    CHECK_EQ(total_b, want_b);
    /* a received: b's replies (100000) on a's 51 streams, and b's 10 + big streams */
    CHECK_EQ(total_a, 51 * 100000 + 10 * 200000 + (3u << 20));
    CHECK_EQ(yamux_stream_count(a.s), 0);
    CHECK_EQ(yamux_stream_count(b.s), 0);
    CHECK(!yamux_want_write(a.s));
    CHECK(!yamux_want_write(b.s));
    CHECK_EQ(feed_errors, 0);
    CHECK_EQ(a.syn_order_errors + b.syn_order_errors, 0);
    CHECK(a.last_syn == 101 && b.last_syn == 22);
    app_free(&a, "done");
    app_free(&b, "done");
}

/* Same with every byte fed on its own. */
static void test_one_byte_at_a_time(void)
{
    app a, b;
    app_init(&a, true, NULL);
    app_init(&b, false, NULL);
    b.accept_send = 70000;
    b.accept_fin = true;
    tstream *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = app_open(&a, 90000, true);
    one_byte_feed = true;
    pump(&a, &b);
    one_byte_feed = false;
    for (int i = 0; i < 3; i++) {
        CHECK(t[i]->closed && t[i]->reason_null);
        CHECK_EQ(t[i]->recvd, 70000);
        CHECK(!t[i]->mismatch);
    }
    CHECK_EQ(b.nts, 3);
    for (size_t i = 0; i < b.nts; i++) {
        CHECK_EQ(b.ts[i]->recvd, 90000);
        CHECK(!b.ts[i]->mismatch && b.ts[i]->closed && b.ts[i]->reason_null);
    }
    CHECK_EQ(feed_errors, 0);
    app_free(&a, "done");
    app_free(&b, "done");
}

/* A paused reader stops the writer at the window; unpausing resumes. */
static void test_pause(void)
{
    /* the writer's queue (send_buffer) is smaller than the window b grants once grown: then
     * pulls free room and on_writable runs from inside yamux_pull too */
    app a, b;
    app_init(&a, true, NULL);
    app_init(&b, false, NULL);
    b.accept_pause = true;
    a.pull_in_writable = true;
    tstream *t = app_open(&a, 8u << 20, true);
    pump(&a, &b);
    CHECK_EQ(b.nts, 1);
    tstream *r = b.ts[0];
    CHECK_EQ(r->recvd, 0);
    /* the writer is stuck: the peer's window (256 KiB) went out and its queue is full
     * (send_buffer, whatever the window): once the window was used up, on_writable let the
     * writer top it up although it had not drained to half */
    CHECK(t->sent < t->to_send);
    CHECK_EQ(yamux_stream_queued(t->st), 256 * 1024);
    CHECK_EQ(t->sent, 512 * 1024);
    uint8_t x = 0;
    CHECK_EQ(yamux_write(t->st, &x, 1), 0);
    CHECK(!yamux_want_write(a.s));
    CHECK(!yamux_want_write(b.s));
    /* unpause: the held 256 KiB comes out inside the call */
    yamux_pause(r->st, false);
    CHECK_EQ(r->recvd, 256 * 1024);
    CHECK(yamux_want_write(b.s)); /* the window update */
    /* pause again midway and check the bound holds with a grown window too */
    yamux_pause(r->st, true);
    pump(&a, &b);
    CHECK(r->recvd == 256 * 1024);
    /* the window grew to 512 KiB (the sender had used all of it): that much is held now */
    CHECK_EQ(t->sent - yamux_stream_queued(t->st) - r->recvd, 512 * 1024);
    CHECK(yamux_stream_queued(t->st) <= 256 * 1024);
    yamux_pause(r->st, false);
    pump(&a, &b);
    CHECK_EQ(r->recvd, 8u << 20);
    CHECK(r->eof && !r->mismatch);
    CHECK(!t->closed); /* b never closed its side */
    CHECK_EQ(yamux_close_write(r->st), 0);
    pump(&a, &b);
    CHECK(t->closed && t->reason_null && r->closed && r->reason_null);
    CHECK(a.nested_pulls > 0);
    CHECK_EQ(feed_errors, 0);
    app_free(&a, "done");
    app_free(&b, "done");
}

/* Pausing inside on_data holds the rest; each unpause delivers the next piece, in order. */
static void test_pause_in_callback(void)
{
    app a, b;
    app_init(&a, true, NULL);
    app_init(&b, false, NULL);
    b.accept_pause = true;
    b.pause_in_on_data = true;
    tstream *t = app_open(&a, 1u << 20, true);
    pump(&a, &b);
    tstream *r = b.ts[0];
    CHECK_EQ(r->recvd, 0);
    int rounds = 0;
    while (!r->eof && rounds < 1000) {
        uint64_t before = r->recvd;
        yamux_pause(r->st, false);
        CHECK(r->recvd - before <= 64 * 1024);
        pump(&a, &b);
        rounds++;
    }
    CHECK(r->eof);
    CHECK(rounds >= 16);
    CHECK_EQ(r->recvd, 1u << 20);
    CHECK(!r->mismatch && !t->mismatch);
    app_free(&a, "x");
    app_free(&b, "x");
}

/* FIN from either side first; the stream ends when both are done. */
static void test_half_close(void)
{
    for (int order = 0; order < 2; order++) {
        app a, b;
        app_init(&a, true, NULL);
        app_init(&b, false, NULL);
        tstream *t = app_open(&a, 1000, order == 0);
        pump(&a, &b);
        tstream *r = b.ts[0];
        CHECK_EQ(r->recvd, 1000);
        CHECK_EQ(r->eof, order == 0);
        CHECK(!t->closed && !r->closed);
        /* the side that has not closed keeps sending */
        r->to_send = 5000;
        refill(r);
        pump(&a, &b);
        CHECK_EQ(t->recvd, 5000);
        CHECK(!t->eof);
        CHECK_EQ(yamux_close_write(r->st), 0);
        pump(&a, &b);
        CHECK(t->eof);
        if (order == 1) {
            CHECK(!t->closed && !r->closed);
            t->to_send = 4000;
            refill(t);
            CHECK_EQ(yamux_close_write(t->st), 0);
            pump(&a, &b);
            CHECK_EQ(r->recvd, 4000);
        }
        CHECK(t->closed && t->reason_null && !t->mismatch);
        CHECK(r->closed && r->reason_null && !r->mismatch);
        CHECK_EQ(yamux_stream_count(a.s), 0);
        CHECK_EQ(yamux_stream_count(b.s), 0);
        app_free(&a, "done");
        app_free(&b, "done");
    }
}

/* RST from either side; on_close never runs inside yamux_reset. */
static void test_reset(void)
{
    for (int who = 0; who < 2; who++) {
        app a, b;
        app_init(&a, true, NULL);
        app_init(&b, false, NULL);
        tstream *t = app_open(&a, 1000, false);
        pump(&a, &b);
        tstream *r = b.ts[0];
        tstream *resetter = who == 0 ? t : r, *other = who == 0 ? r : t;
        do_reset(resetter);
        CHECK(!resetter->closed);
        CHECK_EQ(yamux_write(resetter->st, (const uint8_t *)"x", 1), -1);
        CHECK(yamux_want_write(who == 0 ? a.s : b.s));
        pump(&a, &b);
        CHECK(resetter->closed);
        CHECK_STR_EQ(resetter->reason, "reset by us");
        CHECK(other->closed);
        CHECK_STR_EQ(other->reason, "reset by peer");
        CHECK_EQ(a.close_in_call + b.close_in_call, 0);
        CHECK_EQ(yamux_stream_count(a.s), 0);
        CHECK_EQ(yamux_stream_count(b.s), 0);
        app_free(&a, "done");
        app_free(&b, "done");
    }
    /* a stream reset before its SYN went out: nothing reaches the peer */
    app a, b;
    app_init(&a, true, NULL);
    app_init(&b, false, NULL);
    tstream *t = app_open(&a, 10, false);
    do_reset(t);
    pump(&a, &b);
    CHECK(t->closed);
    CHECK_EQ(b.opened_by_peer, 0);
    app_free(&a, "done");
    app_free(&b, "done");
}

/* Reset inside on_data while more data for the stream is in flight. */
static void test_reset_in_on_data(void)
{
    app a, b;
    app_init(&a, true, NULL);
    app_init(&b, false, NULL);
    b.reset_after = 5000;
    tstream *t = app_open(&a, 1u << 20, true);
    tstream *t2 = app_open(&a, 300000, true);
    pump(&a, &b);
    CHECK(t->closed && t2->closed);
    CHECK_STR_EQ(t->reason, "reset by peer");
    CHECK_STR_EQ(t2->reason, "reset by peer");
    CHECK_EQ(b.nts, 2);
    for (size_t i = 0; i < b.nts; i++) {
        CHECK(b.ts[i]->closed);
        CHECK_STR_EQ(b.ts[i]->reason, "reset by us");
        CHECK(b.ts[i]->recvd >= 5000 && b.ts[i]->recvd < 1u << 20);
        CHECK_EQ(b.ts[i]->after_close, 0);
    }
    CHECK_EQ(b.close_in_call, 0);
    CHECK_EQ(feed_errors, 0);
    app_free(&a, "done");
    app_free(&b, "done");
}

/* close_write from inside on_open, on_data and on_eof. */
static void test_close_in_callbacks(void)
{
    struct {
        bool now, data, eof;
    } modes[3] = {{true, false, false}, {false, true, false}, {false, false, true}};
    for (int m = 0; m < 3; m++) {
        app a, b;
        app_init(&a, true, NULL);
        app_init(&b, false, NULL);
        b.accept_close_now = modes[m].now;
        b.close_in_on_data = modes[m].data;
        b.close_in_on_eof = modes[m].eof;
        tstream *t = app_open(&a, 100000, true);
        pump(&a, &b);
        CHECK(t->closed && t->reason_null && t->eof);
        CHECK_EQ(b.nts, 1);
        CHECK(b.ts[0]->closed && b.ts[0]->reason_null);
        CHECK_EQ(b.ts[0]->recvd, 100000);
        app_free(&a, "done");
        app_free(&b, "done");
    }
    /* reset from inside on_open */
    app a, b;
    app_init(&a, true, NULL);
    app_init(&b, false, NULL);
    b.accept_reset_now = true;
    tstream *t = app_open(&a, 100000, true);
    pump(&a, &b);
    CHECK(t->closed);
    CHECK_STR_EQ(t->reason, "reset by peer");
    CHECK(b.ts[0]->closed);
    CHECK_STR_EQ(b.ts[0]->reason, "reset by us");
    CHECK_EQ(b.ts[0]->recvd, 0);
    app_free(&a, "done");
    app_free(&b, "done");
}

static void test_refuse_and_limit(void)
{
    app a, b;
    app_init(&a, true, NULL);
    app_init(&b, false, NULL);
    b.refuse = true;
    tstream *t = app_open(&a, 100000, true);
    pump(&a, &b);
    CHECK(t->closed);
    CHECK_STR_EQ(t->reason, "reset by peer");
    CHECK_EQ(b.opened_by_peer, 1);
    CHECK_EQ(b.closes, 0); /* a refused stream gets no callbacks */
    CHECK_EQ(yamux_stream_count(b.s), 0);
    app_free(&a, "done");
    app_free(&b, "done");

    /* the server takes 3 streams at once; the 4th and 5th are reset, not a session error */
    yamux_config cfg;
    yamux_config_default(&cfg);
    cfg.max_streams = 3;
    app_init(&a, true, NULL);
    app_init(&b, false, &cfg);
    tstream *s[5];
    for (int i = 0; i < 5; i++)
        s[i] = app_open(&a, 50000, false);
    pump(&a, &b);
    for (int i = 0; i < 3; i++)
        CHECK(!s[i]->closed);
    for (int i = 3; i < 5; i++) {
        CHECK(s[i]->closed);
        CHECK_STR_EQ(s[i]->reason, "reset by peer");
    }
    CHECK_EQ(b.nts, 3);
    CHECK_EQ(feed_errors, 0);
    /* our own limit */
    char err[128];
    yamux_stream *x[3];
    for (int i = 0; i < 3; i++)
        x[i] = yamux_open(b.s, err, sizeof err);
    CHECK(x[0] == NULL && x[1] == NULL && x[2] == NULL);
    CHECK(strstr(err, "too many") != NULL);
    yamux_free(a.s, "done");
    a.s = NULL;
    CHECK_EQ(s[0]->closed, true);
    CHECK_STR_EQ(s[0]->reason, "done");
    app_free(&a, NULL);
    app_free(&b, "bye");
}

static void test_ping_goaway(void)
{
    app a, b;
    app_init(&a, true, NULL);
    app_init(&b, false, NULL);
    tstream *t = app_open(&a, 1000, false);
    yamux_ping(a.s, 42);
    yamux_ping(b.s, 0xdeadbeef);
    pump(&a, &b);
    CHECK_EQ(a.npongs, 1);
    CHECK_EQ(a.pongs[0], 42);
    CHECK_EQ(b.npongs, 1);
    CHECK_EQ(b.pongs[0], 0xdeadbeef);

    yamux_goaway(a.s, YAMUX_GOAWAY_NORMAL);
    pump(&a, &b);
    CHECK_EQ(b.goaways, 1);
    CHECK_EQ(b.goaway_code, 0);
    char err[128] = "";
    CHECK(yamux_open(b.s, err, sizeof err) == NULL);
    CHECK(strstr(err, "GoAway") != NULL);
    CHECK(yamux_open(a.s, err, sizeof err) == NULL);
    /* the existing stream goes on */
    t->to_send = 50000;
    refill(t);
    CHECK_EQ(yamux_close_write(t->st), 0);
    pump(&a, &b);
    CHECK_EQ(b.ts[0]->recvd, 50000);
    CHECK(b.ts[0]->eof);
    app_free(&a, "done");
    app_free(&b, "done");
}

static void test_errors(void)
{
    char err[160];
    app a;
    /* window violation */
    app_init(&a, false, NULL);
    CHECK_EQ(feed_frame(&a, 1, 1, 5, 0, 0, err, sizeof err), 0);
    CHECK_EQ(a.opened_by_peer, 1);
    CHECK(pulled_has(&a, 1, 2, 5, 0)); /* the ACK */
    CHECK_EQ(feed_frame(&a, 0, 0, 5, 300000, 0, err, sizeof err), -1);
    CHECK_STR_EQ(err, "stream 5: data frame of 300000 bytes exceeds receive window 262144");
    CHECK(pulled_has(&a, 3, 0, 0, YAMUX_GOAWAY_PROTOCOL));
    /* later feeds fail with the same message */
    err[0] = 0;
    CHECK_EQ(yamux_feed(a.s, (const uint8_t *)"x", 1, err, sizeof err), -1);
    CHECK(strstr(err, "exceeds receive window") != NULL);
    app_free(&a, "err");
    CHECK(a.nts == 0);

    /* a window that fills exactly is fine; one more byte is not */
    app_init(&a, false, NULL);
    CHECK_EQ(feed_frame(&a, 0, 1, 1, 200000, 200000, err, sizeof err), 0);
    yamux_pause(a.ts[0]->st, true);
    CHECK_EQ(feed_frame(&a, 0, 0, 1, 62144, 62144, err, sizeof err), 0);
    CHECK_EQ(feed_frame(&a, 0, 0, 1, 1, 1, err, sizeof err), -1);
    CHECK_STR_EQ(err, "stream 1: data frame of 1 bytes exceeds receive window 0");
    app_free(&a, "err");

    struct {
        uint8_t ver, type;
        uint16_t flags;
        uint32_t id, len;
        const char *msg;
    } bad[] = {
        {1, 0, 1, 1, 0, "unsupported yamux version 1"},
        {0, 4, 0, 0, 0, "unknown yamux frame type 4"},
        {0, 0xff, 0, 0, 0, "unknown yamux frame type 255"},
        {0, 0, 0, 0, 1, "data frame on stream 0"},
        {0, 1, 1, 0, 0, "window update frame on stream 0"},
        {0, 1, 1, 2, 0, "stream 2: peer opened a stream with our id parity"},
        {0, 0, 0, 7, 1, "stream 7: frame for a stream that was never opened"},
        {0, 1, 0, 4, 1, "stream 4: frame for a stream that was never opened"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        app_init(&a, false, NULL);
        uint8_t p[12];
        frame(p, bad[i].type, bad[i].flags, bad[i].id, bad[i].len);
        p[0] = bad[i].ver;
        err[0] = 0;
        CHECK_EQ(yamux_feed(a.s, p, 12, err, sizeof err), -1);
        CHECK_STR_EQ(err, bad[i].msg);
        CHECK(pulled_has(&a, 3, 0, 0, YAMUX_GOAWAY_PROTOCOL));
        app_free(&a, "err");
    }

    /* SYN twice; SYN on an old id */
    app_init(&a, false, NULL);
    CHECK_EQ(feed_frame(&a, 1, 1, 3, 0, 0, err, sizeof err), 0);
    CHECK_EQ(feed_frame(&a, 1, 1, 3, 0, 0, err, sizeof err), -1);
    CHECK_STR_EQ(err, "stream 3: SYN for a stream already open");
    app_free(&a, "err");
    /* SYNs out of order are fine */
    app_init(&a, false, NULL);
    CHECK_EQ(feed_frame(&a, 1, 1, 3, 0, 0, err, sizeof err), 0);
    CHECK_EQ(feed_frame(&a, 1, 1, 1, 0, 0, err, sizeof err), 0);
    CHECK_EQ(a.opened_by_peer, 2);
    app_free(&a, "err");

    /* window overflow */
    app_init(&a, false, NULL);
    CHECK_EQ(feed_frame(&a, 1, 1, 1, 0xffffffffu - 262144, 0, err, sizeof err), 0);
    CHECK_EQ(feed_frame(&a, 1, 0, 1, 1, 0, err, sizeof err), -1);
    CHECK(strstr(err, "overflows the send window") != NULL);
    app_free(&a, "err");

    /* the session stays usable after frames for streams it closed */
    app_init(&a, false, NULL);
    CHECK_EQ(feed_frame(&a, 0, 1, 1, 10, 10, err, sizeof err), 0);
    do_reset(a.ts[0]);
    CHECK(pulled_has(&a, 1, 8, 1, 0));
    CHECK(a.ts[0]->closed);
    CHECK_EQ(feed_frame(&a, 0, 0, 1, 500000, 500000, err, sizeof err), 0);
    CHECK_EQ(feed_frame(&a, 1, 4, 1, 100, 0, err, sizeof err), 0);
    CHECK_EQ(feed_frame(&a, 0, 8, 1, 0, 0, err, sizeof err), 0);
    CHECK_EQ(a.ts[0]->recvd, 10);
    /* unknown flags and a ping with a stream id are tolerated */
    CHECK_EQ(feed_frame(&a, 2, 0x1 | 0x100, 9, 77, 0, err, sizeof err), 0);
    CHECK(pulled_has(&a, 2, 2, 0, 77));
    app_free(&a, "err");
}

/* js opens streams with WINDOW_UPDATE+SYN carrying a bigger window. */
static void test_window_update_syn_and_growth(void)
{
    char err[160];
    app a;
    app_init(&a, false, NULL);
    a.accept_send = 1u << 20;
    CHECK_EQ(feed_frame(&a, 1, 1, 1, 1u << 20, 0, err, sizeof err), 0);
    CHECK_EQ(a.nts, 1);
    /* the send window is now 256 KiB + 1 MiB: all of it goes out, ACK on the first frame; the
     * queue holds send_buffer at a time, refilled by on_writable after each pull */
    CHECK_EQ(yamux_stream_queued(a.ts[0]->st), 256 * 1024);
    buf_t out;
    buf_init(&out, 0);
    int pulls = 0;
    while (yamux_want_write(a.s) && pulls < 100) {
        yamux_pull(a.s, &out, 1 << 24);
        pulls++;
    }
    CHECK_EQ(pulls, 4);
    size_t data = 0, frames = 0;
    bool ack_first = false;
    for (size_t off = 0; off + 12 <= out.len; frames++) {
        const uint8_t *h = out.data + off;
        uint32_t l = be32(h + 8);
        if (frames == 0)
            ack_first = h[1] == 0 && h[3] == 2;
        CHECK(l <= 64 * 1024);
        data += l;
        off += 12 + l;
    }
    CHECK(ack_first);
    CHECK_EQ(data, 1u << 20);
    buf_free(&out);

    /* the peer fills the window before we credit it back: the window doubles */
    for (int i = 0; i < 4; i++)
        CHECK_EQ(feed_frame(&a, 0, 0, 1, 65536, 65536, err, sizeof err), 0);
    CHECK(pulled_has(&a, 1, 0, 1, 512 * 1024));
    /* a slow peer (half the window, then we credit it) does not grow it */
    for (int i = 0; i < 4; i++)
        CHECK_EQ(feed_frame(&a, 0, 0, 1, 65536, 65536, err, sizeof err), 0);
    CHECK(pulled_has(&a, 1, 0, 1, 256 * 1024));
    CHECK_EQ(a.ts[0]->recvd, 512 * 1024);
    app_free(&a, "done");

    /* a paused stream sends no updates and holds at most the window */
    app_init(&a, false, NULL);
    a.accept_pause = true;
    CHECK_EQ(feed_frame(&a, 0, 1, 1, 65536, 65536, err, sizeof err), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(feed_frame(&a, 0, 0, 1, 65536, 65536, err, sizeof err), 0);
    CHECK(pulled_has(&a, 1, 2, 1, 0)); /* only the ACK */
    CHECK(!yamux_want_write(a.s));
    CHECK_EQ(feed_frame(&a, 0, 0, 1, 1, 1, err, sizeof err), -1);
    app_free(&a, "done");
}

/* A peer that pings without reading our pongs is cut off before our memory grows much. */
static void test_ping_flood(void)
{
    app a;
    app_init(&a, false, NULL);
    uint8_t *p = malloc(6000 * 12);
    for (int i = 0; i < 6000; i++)
        frame(p + 12 * i, 2, 1, 0, (uint32_t)i);
    char err[160];
    CHECK_EQ(yamux_feed(a.s, p, 5000 * 12, err, sizeof err), 0);
    /* reading resets the count */
    buf_t out;
    buf_init(&out, 0);
    CHECK_EQ(yamux_pull(a.s, &out, 1 << 20), 5000 * 12);
    CHECK(!yamux_want_write(a.s));
    CHECK_EQ(yamux_feed(a.s, p, 5000 * 12, err, sizeof err), 0);
    CHECK_EQ(yamux_feed(a.s, p, 6000 * 12, err, sizeof err), -1);
    CHECK(strstr(err, "peer is not reading") != NULL);
    free(p);
    buf_free(&out);
    app_free(&a, "done");
}

/* Pulls honour max and a bounded output buffer, one whole frame at a time. */
static void test_pull_limits(void)
{
    app a, b;
    app_init(&a, true, NULL);
    app_init(&b, false, NULL);
    tstream *t = app_open(&a, 100, false);
    yamux_ping(a.s, 1);
    buf_t out;
    buf_init(&out, 0);
    CHECK_EQ(yamux_pull(a.s, &out, 11), 0);
    CHECK_EQ(yamux_pull(a.s, &out, 12), 12); /* the ping */
    CHECK_EQ(yamux_pull(a.s, &out, 20), 20); /* SYN with 8 bytes of data */
    CHECK(yamux_want_write(a.s));
    buf_t small;
    buf_init(&small, 30);
    CHECK_EQ(yamux_pull(a.s, &small, 1000), 0); /* 92 bytes do not fit in 30 */
    CHECK_EQ(yamux_pull(a.s, &out, 1000), 12 + 92);
    CHECK(!yamux_want_write(a.s));
    char err[160];
    CHECK_EQ(yamux_feed(b.s, out.data, out.len, err, sizeof err), 0);
    CHECK_EQ(b.ts[0]->recvd, 100);
    CHECK(!b.ts[0]->mismatch);
    (void)t;
    buf_free(&out);
    buf_free(&small);
    app_free(&a, "done");
    app_free(&b, "done");

    /* the window grows no further than max_window */
    yamux_config cfg;
    yamux_config_default(&cfg);
    cfg.max_window = 300 * 1024;
    app_init(&a, false, &cfg);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(feed_frame(&a, 0, i == 0, 1, 65536, 65536, err, sizeof err), 0);
    CHECK(pulled_has(&a, 1, 2, 1, 256 * 1024 + 44 * 1024));
    app_free(&a, "done");
}

/* Sums yamux_stream_queued over a's live streams. */
static size_t queued_sum(app *a)
{
    size_t sum = 0;
    for (size_t i = 0; i < a->nts; i++)
        if (a->ts[i]->st)
            sum += yamux_stream_queued(a->ts[i]->st);
    return sum;
}

/* Pulls from a and drops the bytes (a socket that takes everything); returns how many. */
static size_t drain(app *a, size_t max)
{
    buf_t out;
    buf_init(&out, 0);
    size_t n = yamux_pull(a->s, &out, max);
    buf_free(&out);
    return n;
}

/* A peer grants every stream a huge window (1 GiB) and never reads: what we queue stays within
 * send_buffer per stream and session_budget in all, and writers hear on_writable as it drains
 * (to a socket that takes everything, but not to this peer). */
static void test_budget_huge_window(void)
{
    char err[160];
    app a;
    app_init(&a, true, NULL);
    enum { N = 100 };
    tstream *t[N];
    for (int i = 0; i < N; i++) {
        t[i] = app_open(&a, 0, false);
        CHECK_EQ(feed_frame(&a, 1, 2, t[i]->id, 1u << 30, 0, err, sizeof err), 0); /* ACK */
        t[i]->to_send = 1u << 30;
        refill(t[i]);
    }
    /* 32 streams filled their 256 KiB, then the 8 MiB budget was reached: the others got
     * nothing (nothing is held, so no reserve either) */
    size_t full = 0, empty = 0;
    for (int i = 0; i < N; i++) {
        size_t q = yamux_stream_queued(t[i]->st);
        CHECK(q <= 256 * 1024);
        full += q == 256 * 1024;
        empty += q == 0;
        CHECK_EQ(q, t[i]->sent);
    }
    CHECK_EQ(full, 32);
    CHECK_EQ(empty, N - 32);
    CHECK_EQ(yamux_queued_total(a.s), 8u << 20);
    CHECK_EQ(queued_sum(&a), 8u << 20);
    CHECK_EQ(yamux_held_total(a.s), 0);
    uint8_t x = 0;
    CHECK_EQ(yamux_write(t[N - 1]->st, &x, 1), 0);
    CHECK_EQ(yamux_write(t[0]->st, &x, 1), 0);
    /* a pull of one frame: the session is still over half, nobody hears anything */
    CHECK(drain(&a, 70000) > 0);
    int heard = 0;
    for (int i = 0; i < N; i++)
        heard += t[i]->writables;
    CHECK_EQ(heard, 0);
    /* drain until the session is below half its budget: every waiting stream gets a turn,
     * and the bounds hold throughout */
    int pulls = 0;
    while (yamux_queued_total(a.s) > (4u << 20) && pulls < 1000) {
        drain(&a, 1 << 20);
        pulls++;
        CHECK(yamux_queued_total(a.s) <= 8u << 20);
        CHECK_EQ(queued_sum(&a), yamux_queued_total(a.s));
        for (int i = 0; i < N; i++)
            CHECK(yamux_stream_queued(t[i]->st) <= 256 * 1024);
    }
    for (int round = 0; round < 200; round++) {
        drain(&a, 1 << 20);
        CHECK(yamux_queued_total(a.s) <= 8u << 20);
    }
    int never = 0;
    for (int i = 0; i < N; i++)
        never += t[i]->writables == 0;
    CHECK_EQ(never, 0);
    CHECK(yamux_queued_total(a.s) <= 8u << 20);
    CHECK_EQ(queued_sum(&a), yamux_queued_total(a.s));
    /* resets give their share back at once */
    for (int i = 0; i < N; i++)
        do_reset(t[i]);
    CHECK_EQ(yamux_queued_total(a.s), 0);
    app_free(&a, "done");

    /* a small budget and send buffer, exactly */
    yamux_config cfg;
    yamux_config_default(&cfg);
    cfg.send_buffer = 1000;
    cfg.session_budget = 2500;
    app_init(&a, true, &cfg);
    tstream *u[4];
    for (int i = 0; i < 4; i++)
        u[i] = app_open(&a, 0, false);
    uint8_t big[3000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = pat(u[0]->id, true, i);
    CHECK_EQ(yamux_write(u[0]->st, big, 3000), 1000);
    CHECK_EQ(yamux_write(u[1]->st, big, 3000), 1000);
    CHECK_EQ(yamux_write(u[2]->st, big, 3000), 500);
    CHECK_EQ(yamux_write(u[3]->st, big, 3000), 0);
    CHECK_EQ(yamux_queued_total(a.s), 2500);
    app_free(&a, "done");
}

/* Held data (paused streams) is bounded by the budget: the streams whose data would exceed it
 * are reset, the others keep theirs; writes count held data too, and a reserve per stream
 * keeps a session whose budget is all held data moving. */
static void test_budget_held(void)
{
    yamux_config cfg;
    yamux_config_default(&cfg);
    cfg.session_budget = 1u << 20;
    app a, b;
    app_init(&a, true, NULL);
    app_init(&b, false, &cfg);
    b.accept_pause = true;
    tstream *t[8];
    for (int i = 0; i < 8; i++)
        t[i] = app_open(&a, 1u << 20, true);
    pump(&a, &b);
    /* the windows (8 x 256 KiB) let a send twice the budget: b held up to its budget, and
     * reset the streams whose data would have taken it further; the session went on */
    CHECK_EQ(b.nts, 8);
    CHECK(yamux_held_total(b.s) <= 1u << 20);
    CHECK(yamux_held_total(b.s) > (1u << 20) - 64 * 1024);
    int live = 0;
    tstream *keep[8];
    for (int i = 0; i < 8; i++) {
        tstream *r = b.ts[i];
        if (!r->closed) {
            keep[live++] = r;
            continue;
        }
        CHECK_STR_EQ(r->reason, "reset: received data over the connection's memory budget");
        CHECK(t[i]->closed);
        CHECK_STR_EQ(t[i]->reason, "reset by peer");
    }
    CHECK(live >= 1 && live < 8);
    CHECK_EQ(feed_errors, 0);
    /* with the budget all held, b's writers only have their reserve at a time, and still get
     * everything across */
    for (int i = 0; i < live; i++) {
        keep[i]->to_send = 100 * 1024;
        refill(keep[i]);
        CHECK_EQ(keep[i]->sent, YAMUX_WRITE_RESERVE);
    }
    pump(&a, &b);
    for (int i = 0; i < live; i++) {
        tstream *w = NULL;
        for (int j = 0; j < 8; j++)
            if (t[j]->id == keep[i]->id)
                w = t[j];
        CHECK(w && w->recvd == 100 * 1024 && !w->mismatch);
        CHECK(keep[i]->writables >= 5); /* 100 KiB in 16 KiB steps */
    }
    CHECK_EQ(yamux_queued_total(b.s), 0);
    /* a write now takes the reserve, no more */
    uint8_t buf[40000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = pat(keep[0]->id, false, keep[0]->sent + i);
    CHECK_EQ(yamux_write(keep[0]->st, buf, sizeof buf), YAMUX_WRITE_RESERVE);
    keep[0]->sent += YAMUX_WRITE_RESERVE;
    CHECK_EQ(yamux_write(keep[0]->st, buf, sizeof buf), 0);
    /* unpause: everything arrives on the streams that were kept */
    for (int i = 0; i < live; i++)
        yamux_pause(keep[i]->st, false);
    pump(&a, &b);
    for (int i = 0; i < live; i++) {
        CHECK_EQ(keep[i]->recvd, 1u << 20);
        CHECK(keep[i]->eof && !keep[i]->mismatch);
    }
    CHECK_EQ(yamux_held_total(b.s), 0);
    CHECK_EQ(feed_errors, 0);
    app_free(&a, "done");
    app_free(&b, "done");

    /* window growth stops where all windows together reach the budget */
    char err[160];
    cfg.session_budget = 700 * 1024;
    app_init(&a, false, &cfg);
    CHECK_EQ(feed_frame(&a, 1, 1, 1, 0, 0, err, sizeof err), 0);
    CHECK_EQ(feed_frame(&a, 1, 1, 3, 0, 0, err, sizeof err), 0);
    CHECK(pulled_has(&a, 1, 2, 3, 0));
    for (int i = 0; i < 4; i++)
        CHECK_EQ(feed_frame(&a, 0, 0, 1, 65536, 65536, err, sizeof err), 0);
    CHECK(pulled_has(&a, 1, 0, 1, 256 * 1024 + (700 - 512) * 1024)); /* grew by 188 KiB */
    for (int i = 0; i < 4; i++)
        CHECK_EQ(feed_frame(&a, 0, 0, 3, 65536, 65536, err, sizeof err), 0);
    CHECK(pulled_has(&a, 1, 0, 3, 256 * 1024)); /* did not grow */
    app_free(&a, "done");
}

/* yamux_unread: the bytes given back are held (counted, paused) and come again, in order, once
 * the stream is resumed; over the budget the stream is reset instead. */
static void test_unread(void)
{
    app a, b;
    app_init(&a, true, NULL);
    app_init(&b, false, NULL);
    b.accept_unread = 400;
    tstream *t = app_open(&a, 1000, true);
    pump(&a, &b);
    CHECK_EQ(b.nts, 1);
    tstream *r = b.ts[0];
    CHECK_EQ(r->unread_rc, 0);
    CHECK(r->recvd < 1000);
    CHECK_EQ(yamux_held_total(b.s), 1000 - r->recvd);
    CHECK(!r->eof); /* paused: EOF waits behind the held bytes */
    yamux_pause(r->st, false);
    CHECK_EQ(r->recvd, 1000);
    CHECK(r->eof && !r->mismatch);
    CHECK_EQ(yamux_held_total(b.s), 0);
    pump(&a, &b);
    CHECK(!t->closed);
    app_free(&a, "done");
    app_free(&b, "done");

    /* held beyond the session's budget: reset, the session goes on */
    yamux_config cfg;
    yamux_config_default(&cfg);
    cfg.session_budget = 300;
    app_init(&a, true, NULL);
    app_init(&b, false, &cfg);
    b.accept_unread = 1000;
    t = app_open(&a, 1000, true);
    tstream *t2 = app_open(&a, 100, true);
    pump(&a, &b);
    CHECK_EQ(b.nts, 2);
    CHECK(b.ts[0]->closed);
    CHECK_STR_EQ(b.ts[0]->reason, "reset: received data over the connection's memory budget");
    CHECK_STR_EQ(t->reason, "reset by peer");
    CHECK_EQ(yamux_held_total(b.s), 100); /* the other stream: 100 bytes given back, held */
    yamux_pause(b.ts[1]->st, false);
    CHECK_EQ(b.ts[1]->recvd, 100);
    CHECK(b.ts[1]->eof && !b.ts[1]->mismatch);
    CHECK(!t2->closed || t2->reason_null);
    CHECK_EQ(feed_errors, 0);
    app_free(&a, "done");
    app_free(&b, "done");
}

/* A pool bounds queued + held over several sessions: held data beyond it resets its stream
 * (whichever session it is in); writes come up short while it is full, and a writer that waited
 * for another session's queue to drain hears of it through yamux_want_write. */
static void test_pool(void)
{
    yamux_pool pool = {.limit = 1u << 20};
    yamux_config cfg;
    yamux_config_default(&cfg);
    cfg.pool = &pool;
    app a1, b1, a2, b2;
    app_init(&a1, true, NULL);
    app_init(&a2, true, NULL);
    app_init(&b1, false, &cfg);
    app_init(&b2, false, &cfg);
    b1.accept_pause = b2.accept_pause = true;
    for (int i = 0; i < 4; i++) {
        app_open(&a1, 512 * 1024, true);
        app_open(&a2, 512 * 1024, true);
    }
    pump(&a1, &b1);
    pump(&a2, &b2);
    /* 2 MiB of windows, 1 MiB of pool: each session alone is far below its own budget */
    CHECK_EQ(pool.held, yamux_held_total(b1.s) + yamux_held_total(b2.s));
    CHECK(pool.held <= 1u << 20);
    CHECK(yamux_held_total(b1.s) == 1u << 20 || yamux_held_total(b2.s) > 0);
    int resets = 0;
    for (size_t i = 0; i < 4; i++) {
        tstream *r[2] = {b1.ts[i], b2.ts[i]};
        for (int k = 0; k < 2; k++) {
            if (!r[k]->closed)
                continue;
            resets++;
            CHECK_STR_EQ(r[k]->reason, "reset: received data over the host's memory budget");
        }
    }
    CHECK(resets >= 4); /* b2 came second: its streams found the pool full */
    CHECK_EQ(feed_errors, 0);
    app_free(&a1, "done");
    app_free(&b1, "done");
    app_free(&a2, "done");
    app_free(&b2, "done");
    CHECK_EQ(pool.held, 0);
    CHECK_EQ(pool.queued, 0);

    /* writes: b2's queue, which its peer does not read, fills the pool's queued half; b1's
     * writer gets what is left, then waits until b2's queue drains */
    pool.limit = 512 * 1024;
    app_init(&a1, true, NULL);
    app_init(&a2, true, NULL);
    app_init(&b1, false, &cfg);
    app_init(&b2, false, &cfg);
    app_open(&a2, 0, false);
    app_open(&a2, 0, false);
    pump(&a2, &b2);
    CHECK_EQ(b2.nts, 2);
    for (int i = 0; i < 2; i++) {
        b2.ts[i]->to_send = 200 * 1024;
        refill(b2.ts[i]);
        CHECK_EQ(b2.ts[i]->sent, 200 * 1024);
    }
    CHECK_EQ(pool.queued, 400 * 1024);
    app_open(&a1, 0, false);
    pump(&a1, &b1);
    tstream *w = b1.ts[0];
    w->to_send = 1u << 20;
    refill(w);
    CHECK_EQ(w->sent, 112 * 1024); /* the pool's room, not the 256 KiB send buffer... */
    pump(&a1, &b1);
    CHECK_EQ(a1.ts[0]->recvd, 112 * 1024);
    /* ...and b1 drained its own queue, but the pool's queued bytes are still over half */
    CHECK(w->sent < w->to_send);
    CHECK(!yamux_want_write(b1.s));
    pump(&a2, &b2); /* b2's peer reads: the pool drains */
    CHECK_EQ(pool.queued, 0);
    CHECK(yamux_want_write(b1.s)); /* on_writable is due: a pull delivers it */
    pump(&a1, &b1);
    CHECK_EQ(a1.ts[0]->recvd, 1u << 20);
    CHECK(!a1.ts[0]->mismatch);
    CHECK_EQ(feed_errors, 0);
    app_free(&a1, "done");
    app_free(&b1, "done");
    app_free(&a2, "done");
    app_free(&b2, "done");
}

/* A stream's own smaller send buffer (the ping echo's): short writes, on_writable once the
 * queue went out. */
static void test_stream_send_buffer(void)
{
    app a, b;
    app_init(&a, true, NULL);
    app_init(&b, false, NULL);
    tstream *t = app_open(&a, 0, false);
    yamux_stream_set_send_buffer(t->st, 64);
    t->to_send = 1000;
    refill(t);
    CHECK_EQ(t->sent, 64);
    CHECK_EQ(yamux_stream_queued(t->st), 64);
    pump(&a, &b);
    CHECK_EQ(b.ts[0]->recvd, 1000);
    CHECK(!b.ts[0]->mismatch);
    CHECK(t->writables >= 15);
    /* 0 restores the session's send buffer */
    yamux_stream_set_send_buffer(t->st, 0);
    t->to_send = 1000 + 300000;
    refill(t);
    CHECK_EQ(yamux_stream_queued(t->st), 256 * 1024);
    app_free(&a, "done");
    app_free(&b, "done");
}

/* yamux_free closes every stream with its reason; a stream's user pointer round-trips. */
static void test_free(void)
{
    app a, b;
    app_init(&a, true, NULL);
    app_init(&b, false, NULL);
    tstream *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = app_open(&a, 1000, false);
    pump(&a, &b);
    CHECK_EQ(b.nts, 4);
    CHECK(yamux_stream_user(t[2]->st) == t[2]);
    do_reset(t[3]);
    yamux_free(a.s, "connection lost");
    a.s = NULL;
    for (int i = 0; i < 3; i++) {
        CHECK(t[i]->closed);
        CHECK_STR_EQ(t[i]->reason, "connection lost");
    }
    CHECK_STR_EQ(t[3]->reason, "reset by us");
    app_free(&a, NULL);
    app_free(&b, NULL);
}

int main(void)
{
    test_many_streams();
    test_one_byte_at_a_time();
    test_pause();
    test_pause_in_callback();
    test_half_close();
    test_reset();
    test_reset_in_on_data();
    test_close_in_callbacks();
    test_refuse_and_limit();
    test_ping_goaway();
    test_errors();
    test_window_update_syn_and_growth();
    test_ping_flood();
    test_pull_limits();
    test_budget_huge_window();
    test_budget_held();
    test_unread();
    test_pool();
    test_stream_send_buffer();
    test_free();
    return CHECK_DONE();
}
