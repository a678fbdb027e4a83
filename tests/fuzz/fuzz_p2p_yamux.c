/* libFuzzer target: Yamux sessions (src/p2p/yamux.c) fed hostile bytes.
 *
 * Input: 6 bytes of settings (mode, stream limit, write size, frame size, send buffer, session
 * budget, a shared pool (hdr[0] & 0x40), a seed for the random choices), then either
 *  - raw mode: the bytes a peer sends, run against a server session and a client session, fed in
 *    pieces of random size; or
 *  - pair mode (hdr[0] & 0x20): a tape of steps for two of our sessions wired back to back.
 * Between steps and from inside every callback the application randomly writes, pauses,
 * resumes, closes, resets, opens streams, pings and pulls (nested pulls included), all decided
 * by a generator seeded from the input, so every run is reproducible. Checked: no crash, leak or
 * sanitizer report; every frame we send is well formed, within max_frame and the pull's limit;
 * SYNs have our parity and leave in order; queued bytes stay within send_buffer per stream and
 * session_budget in all (and add up), held bytes within the budget (beyond it streams are
 * reset); a pool's sums are its sessions' and its held bytes within its limit; data given back
 * with yamux_unread comes again, in order; the stream limit holds; no callback for a stream after
 * its on_close, no data after EOF; each stream gets exactly one on_close and yamux_free leaves none
 * open. In pair mode also: no feed error, and every byte arrives once and in order. Build with
 * -DSWARM_FUZZ=ON (clang); run: build-fuzz/fuzz_p2p_yamux -max_total_time=60 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamux.h"

#define MAX_TRACKED  64
#define WRITE_BUDGET (512u << 10) /* bytes the application writes per run, for speed */

typedef struct {
    yamux_stream *st;
    uint64_t tx, rx; /* bytes written and received: the pattern's offsets */
    bool eof;
} tracked_t;

typedef struct {
    yamux_session *s;
    bool client;
    bool pair;  /* the peer is another of our sessions: output is kept for it, data checked */
    buf_t outq; /* pair mode: pulled bytes not yet fed to the peer */
    yamux_config cfg;
    uint64_t rng;
    tracked_t tracked[MAX_TRACKED];
    size_t ntracked;
    size_t written;
    size_t write_max; /* largest single write */
    uint32_t last_syn;
    int nested;
} fz;

static uint32_t rnd(fz *f)
{
    f->rng ^= f->rng << 13;
    f->rng ^= f->rng >> 7;
    f->rng ^= f->rng << 17;
    return (uint32_t)(f->rng >> 16);
}

/* What the client (or the server) writes on stream id: a pattern of period 251 (prime, so it
 * does not line up with frame sizes), starting at a point that depends on the stream and side.
 * Writes and checks then point into one precomputed table. */
#define PAT_PERIOD 251
#define WRITE_MAX  300000
static uint8_t pat_table[WRITE_MAX + PAT_PERIOD];

static const uint8_t *pat(uint32_t id, bool client, uint64_t offset)
{
    if (pat_table[1] == 0)
        for (size_t i = 0; i < sizeof pat_table; i++)
            pat_table[i] = (uint8_t)((i % PAT_PERIOD) * 89 + 1);
    return pat_table + (offset + id * 13u + (client ? 0 : 100)) % PAT_PERIOD;
}

static void track(fz *f, yamux_stream *st)
{
    if (f->ntracked >= MAX_TRACKED)
        abort(); /* callers check for room first */
    memset(&f->tracked[f->ntracked], 0, sizeof f->tracked[0]);
    f->tracked[f->ntracked++].st = st;
}

static tracked_t *find(fz *f, yamux_stream *st)
{
    for (size_t i = 0; i < f->ntracked; i++)
        if (f->tracked[i].st == st)
            return &f->tracked[i];
    abort(); /* a callback for a stream we never saw, or after its on_close */
}

static void untrack(fz *f, yamux_stream *st)
{
    tracked_t *t = find(f, st);
    *t = f->tracked[--f->ntracked];
}

static void check_bounds(fz *f)
{
    size_t count = yamux_stream_count(f->s);
    if (count > f->cfg.max_streams)
        abort();
    size_t sum = 0;
    for (size_t i = 0; i < f->ntracked; i++) {
        size_t q = yamux_stream_queued(f->tracked[i].st);
        if (q > f->cfg.send_buffer)
            abort();
        sum += q; /* a stream that ended (on_close pending) has nothing queued */
    }
    if (sum != yamux_queued_total(f->s) || sum > f->cfg.session_budget)
        abort();
    if (yamux_held_total(f->s) > f->cfg.session_budget)
        abort();
}

/* Checks what a pull produced: whole, well-formed frames within the limits. */
static void check_output(fz *f, const uint8_t *p, size_t n, size_t max)
{
    if (n > max)
        abort();
    size_t off = 0;
    while (off < n) {
        if (n - off < YAMUX_HEADER_LEN)
            abort();
        const uint8_t *h = p + off;
        uint32_t id = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
        uint32_t len = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11];
        if (h[0] != 0 || h[1] > 3 || h[2] != 0 || (h[3] & 0xf0))
            abort();
        if (h[1] <= 1) {
            if (id == 0)
                abort();
            if (h[3] & 1) {
                if ((id & 1) != (f->client ? 1u : 0u) || id <= f->last_syn)
                    abort();
                f->last_syn = id;
            }
        } else if (id != 0) {
            abort();
        }
        off += YAMUX_HEADER_LEN;
        if (h[1] == 0) {
            if (len > f->cfg.max_frame || len > n - off)
                abort();
            off += len;
        }
    }
}

/* Pulls up to max bytes; in pair mode they wait in outq for the peer (a pull may run inside a
 * callback of our own yamux_feed, where feeding the peer could feed us back). */
static void do_pull(fz *f, size_t max)
{
    buf_t out;
    buf_init(&out, 0);
    size_t n = yamux_pull(f->s, &out, max);
    if (n != out.len)
        abort();
    check_output(f, out.data, out.len, max);
    if (f->pair && buf_append(&f->outq, out.data, out.len) < 0)
        abort();
    buf_free(&out);
}

static void do_write(fz *f, tracked_t *t)
{
    size_t n = rnd(f) % f->write_max;
    if (f->written + n > WRITE_BUDGET)
        return;
    size_t before = yamux_stream_queued(t->st);
    ssize_t w = yamux_write(t->st, pat(yamux_stream_id(t->st), f->client, t->tx), n);
    if (w > (ssize_t)n)
        abort();
    if (w > 0) {
        f->written += (size_t)w;
        t->tx += (uint64_t)w;
        if (yamux_stream_queued(t->st) != before + (size_t)w)
            abort();
    }
}

static void do_open(fz *f)
{
    if (f->ntracked >= MAX_TRACKED)
        return;
    char err[128];
    err[0] = 0;
    yamux_stream *st = yamux_open(f->s, err, sizeof err);
    if (!st) {
        if (!err[0])
            abort();
        return;
    }
    track(f, st);
    if (rnd(f) % 2)
        do_write(f, &f->tracked[f->ntracked - 1]);
}

/* A random application step on st (may be NULL: pick a tracked stream). */
static void act(fz *f, yamux_stream *st)
{
    tracked_t *t = NULL;
    if (st)
        t = find(f, st);
    else if (f->ntracked)
        t = &f->tracked[rnd(f) % f->ntracked];
    switch (rnd(f) % 16) {
    case 0:
    case 1:
    case 2:
        if (t)
            do_write(f, t);
        break;
    case 3:
    case 4:
        if (t)
            yamux_pause(t->st, true);
        break;
    case 5:
    case 6:
        if (t && f->nested < 4) {
            f->nested++;
            yamux_pause(t->st, false); /* t may be gone after this (untracked) */
            f->nested--;
        }
        break;
    case 7:
        if (t)
            yamux_close_write(t->st);
        break;
    case 8:
        if (t && rnd(f) % 2)
            yamux_reset(t->st);
        break;
    case 9:
        do_open(f);
        break;
    case 10:
        yamux_ping(f->s, rnd(f));
        break;
    case 11:
        if (f->nested < 4) {
            f->nested++;
            do_pull(f, rnd(f) % 100000);
            f->nested--;
        }
        break;
    case 12:
        if (rnd(f) % 16 == 0)
            yamux_goaway(f->s, rnd(f) % 3);
        break;
    case 13:
        if (t) /* a small send buffer of its own, or back to the session's */
            yamux_stream_set_send_buffer(t->st, rnd(f) % 2 ? rnd(f) % 300 : 0);
        break;
    default:
        break; /* nothing: most callbacks just take the data */
    }
    check_bounds(f);
}

static int cb_open(void *user, yamux_stream *st)
{
    fz *f = user;
    if (f->ntracked >= MAX_TRACKED || rnd(f) % 8 == 0)
        return -1;
    track(f, st);
    act(f, st);
    return 0;
}

static void cb_data(void *user, yamux_stream *st, const uint8_t *p, size_t n)
{
    fz *f = user;
    tracked_t *t = find(f, st);
    if (n == 0 || t->eof)
        abort();
    if (f->pair) {
        /* lost, repeated or reordered data */
        for (size_t off = 0; off < n; off += WRITE_MAX) {
            size_t k = n - off < WRITE_MAX ? n - off : WRITE_MAX;
            if (memcmp(p + off, pat(yamux_stream_id(st), !f->client, t->rx + off), k) != 0)
                abort();
        }
    } else {
        volatile uint8_t sink = p[0] ^ p[n - 1]; /* the bytes must be readable */
        (void)sink;
    }
    t->rx += n;
    if (rnd(f) % 16 == 0) {
        /* give a tail back: it is held (or the stream reset, over a budget) and comes again */
        size_t k = 1 + rnd(f) % n;
        t->rx -= k;
        yamux_unread(st, p + n - k, k);
        return;
    }
    act(f, st);
    if (rnd(f) % 4 == 0)
        act(f, NULL);
}

static void cb_eof(void *user, yamux_stream *st)
{
    fz *f = user;
    tracked_t *t = find(f, st);
    if (t->eof)
        abort();
    t->eof = true;
    act(f, st);
}

static void cb_writable(void *user, yamux_stream *st)
{
    fz *f = user;
    do_write(f, find(f, st));
    if (rnd(f) % 4 == 0)
        act(f, NULL);
}

static void cb_close(void *user, yamux_stream *st, const char *reason)
{
    fz *f = user;
    (void)reason;
    untrack(f, st);
    /* a dead stream refuses everything, from inside its on_close too */
    if (yamux_write(st, (const uint8_t *)"x", 1) != -1 || yamux_close_write(st) != -1)
        abort();
    yamux_reset(st);
    yamux_pause(st, false);
    if (rnd(f) % 4 == 0)
        act(f, NULL);
}

static void cb_pong(void *user, uint32_t opaque)
{
    (void)opaque;
    act(user, NULL);
}

static void cb_goaway(void *user, uint32_t code)
{
    (void)code;
    act(user, NULL);
}

static const yamux_callbacks cbs = {cb_open,  cb_data, cb_eof,   cb_writable,
                                    cb_close, cb_pong, cb_goaway};

/* The pool's sums are the sessions' (b may be NULL), and its held bytes within its limit. */
static void check_pool(const yamux_pool *pool, fz *a, fz *b)
{
    if (!pool)
        return;
    size_t q = yamux_queued_total(a->s) + (b ? yamux_queued_total(b->s) : 0);
    size_t h = yamux_held_total(a->s) + (b ? yamux_held_total(b->s) : 0);
    if (pool->queued != q || pool->held != h || pool->held > pool->limit)
        abort();
}

static bool setup(fz *f, const uint8_t hdr[6], bool client, bool pair, yamux_pool *pool)
{
    memset(f, 0, sizeof *f);
    f->client = client;
    f->pair = pair;
    buf_init(&f->outq, 0);
    yamux_config_default(&f->cfg);
    f->cfg.max_streams = 1 + hdr[0] % 16;
    f->cfg.max_frame = hdr[1] & 1 ? 64 * 1024 : 512 + (uint32_t)hdr[1] * 97;
    f->cfg.send_buffer = hdr[2] & 1 ? 256 * 1024 : 1 + (size_t)hdr[2] * 131;
    f->cfg.max_window = (hdr[2] & 2) ? 1u << 20 : YAMUX_INITIAL_WINDOW;
    /* budgets that bind within the run's writes and a few windows, and the default */
    static const size_t budgets[4] = {0, 5000, 64 * 1024, 600 * 1024};
    f->cfg.session_budget = budgets[hdr[5] & 3] ? budgets[hdr[5] & 3] + hdr[4] * 61u : 8u << 20;
    f->cfg.pool = pool; /* shared by both sessions in pair mode */
    /* big writes reach the window and the send buffer: short writes, on_writable */
    f->write_max = (hdr[0] & 0x10) ? WRITE_MAX : 20000;
    f->rng = ((uint64_t)hdr[3] << 24 | (uint64_t)hdr[4] << 16 | (uint64_t)hdr[5] << 8) ^
             0x9e3779b97f4a7c15ull ^ (client ? 1 : 0);
    f->s = yamux_new(client, &f->cfg, &cbs, f);
    return f->s != NULL;
}

static void finish(fz *f)
{
    check_bounds(f);
    yamux_free(f->s, "fuzz done");
    buf_free(&f->outq);
    if (f->ntracked != 0)
        abort(); /* a stream without on_close */
}

/* The input is what the peer sends, fed in random pieces. */
static void run_raw(const uint8_t hdr[6], const uint8_t *data, size_t size, bool client)
{
    fz f;
    yamux_pool pool = {.limit = 20000 + hdr[4] * 997u};
    if (!setup(&f, hdr, client, false, hdr[0] & 0x40 ? &pool : NULL))
        return;
    bool failed = false;
    char err[160];
    while (size > 0) {
        size_t k = 1 + rnd(&f) % (1u << (rnd(&f) % 15));
        if (k > size)
            k = size;
        err[0] = 0;
        int rc = yamux_feed(f.s, data, k, err, sizeof err);
        if (rc != 0 && rc != -1)
            abort();
        if (rc < 0) {
            if (!err[0])
                abort();
            failed = true;
            break;
        }
        data += k;
        size -= k;
        check_bounds(&f);
        check_pool(f.cfg.pool, &f, NULL);
        uint32_t r = rnd(&f) % 8;
        if (r < 3)
            do_pull(&f, 1 + rnd(&f) % 200000);
        else if (r == 3)
            act(&f, NULL);
    }
    /* a failed session keeps failing */
    if (failed && yamux_feed(f.s, data, size, err, sizeof err) != -1)
        abort();
    for (int i = 0; i < 64 && yamux_want_write(f.s); i++)
        do_pull(&f, 1 + rnd(&f) % 300000);
    finish(&f);
}

/* Moves what `from` has for `to`, in random pieces. Two of our sessions never fail each other. */
static size_t deliver(fz *from, fz *to)
{
    do_pull(from, 1 + rnd(from) % 200000);
    size_t n = from->outq.len, off = 0;
    char err[160];
    while (off < n) {
        size_t k = 1 + rnd(to) % (n - off);
        if (yamux_feed(to->s, from->outq.data + off, k, err, sizeof err) != 0) {
            fprintf(stderr, "feed between our own sessions failed: %s\n", err);
            abort();
        }
        off += k;
    }
    buf_clear(&from->outq);
    check_bounds(to);
    return n;
}

/* The input is a tape of application steps on two of our sessions wired together. */
static void run_pair(const uint8_t hdr[6], const uint8_t *data, size_t size)
{
    fz c, s;
    yamux_pool pool = {.limit = 20000 + hdr[4] * 997u};
    yamux_pool *pp = hdr[0] & 0x40 ? &pool : NULL;
    if (!setup(&c, hdr, true, true, pp))
        return;
    if (!setup(&s, hdr, false, true, pp)) {
        finish(&c);
        return;
    }
    for (size_t i = 0; i < size; i++) {
        fz *me = data[i] & 1 ? &s : &c, *peer = me == &c ? &s : &c;
        switch ((data[i] >> 1) % 8) {
        case 0:
        case 1:
        case 2:
            act(me, NULL);
            break;
        case 3:
            do_open(me);
            break;
        case 4:
            deliver(me, peer);
            break;
        default:
            deliver(me, peer);
            deliver(peer, me);
            break;
        }
        check_pool(pp, &c, &s);
    }
    /* let it settle: streams that are not paused run to their end */
    for (int i = 0; i < 10000; i++) {
        size_t n = deliver(&c, &s);
        n += deliver(&s, &c);
        if (n == 0 && !yamux_want_write(c.s) && !yamux_want_write(s.s))
            break;
    }
    finish(&c);
    finish(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t hdr[6] = {0};
    size_t h = size < 6 ? size : 6;
    memcpy(hdr, data, h);
    if (hdr[0] & 0x20) {
        run_pair(hdr, data + h, size - h);
    } else {
        run_raw(hdr, data + h, size - h, false);
        run_raw(hdr, data + h, size - h, true);
    }
    return 0;
}
