/* host_ping.c - /ipfs/ping/1.0.0 both ways: the handler echoes everything until EOF (js keeps
 * one stream and pings on it repeatedly), p2p_ping sends 32 random bytes and times the echo. */
#include "host_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define PING_SIZE      32
#define PING_ECHO_HELD (64 * 1024) /* bytes the echo holds while the peer does not read */

/* ---- answering ----------------------------------------------------------------------------- */

typedef struct {
    buf_t held; /* received, not yet accepted by p2p_stream_write */
    bool eof;
} ping_echo;

static void echo_drain(p2p_stream *s, ping_echo *pe)
{
    if (pe->held.len) {
        ssize_t w = p2p_stream_write(s, pe->held.data, pe->held.len);
        if (w < 0) {
            p2p_stream_reset(s);
            return;
        }
        memmove(pe->held.data, pe->held.data + w, pe->held.len - (size_t)w);
        pe->held.len -= (size_t)w;
        if (pe->held.len)
            return; /* on_writable comes back */
    }
    if (pe->eof)
        p2p_stream_close_write(s);
    else
        p2p_stream_pause(s, false);
}

static void echo_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    ping_echo *pe = user;
    if (pe->held.len == 0) {
        ssize_t w = p2p_stream_write(s, p, n);
        if (w < 0) {
            p2p_stream_reset(s);
            return;
        }
        p += w;
        n -= (size_t)w;
        if (n == 0)
            return;
    }
    if (buf_append(&pe->held, p, n) != 0) {
        p2p_stream_reset(s);
        return;
    }
    p2p_stream_pause(s, true);
}

static void echo_writable(p2p_stream *s, void *user)
{
    echo_drain(s, user);
}

static void echo_eof(p2p_stream *s, void *user)
{
    ping_echo *pe = user;
    pe->eof = true;
    if (pe->held.len == 0)
        p2p_stream_close_write(s);
}

static void echo_close(p2p_stream *s, const char *reason, void *user)
{
    ping_echo *pe = user;
    (void)s;
    (void)reason;
    buf_free(&pe->held);
    free(pe);
}

void host_ping_handler(p2p_stream *s, void *user)
{
    (void)user;
    ping_echo *pe = calloc(1, sizeof *pe);
    if (!pe) {
        p2p_stream_reset(s);
        return;
    }
    buf_init(&pe->held, PING_ECHO_HELD);
    static const p2p_stream_cbs cbs = {.on_data = echo_data,
                                       .on_eof = echo_eof,
                                       .on_writable = echo_writable,
                                       .on_close = echo_close};
    p2p_stream_set_cbs(s, &cbs, pe);
}

/* ---- asking -------------------------------------------------------------------------------- */

typedef struct {
    p2p_host *h;
    p2p_peer_id peer;
    p2p_ping_cb cb;
    void *user;
    uint8_t sent[PING_SIZE], got[PING_SIZE];
    size_t ngot;
    uint64_t t0; /* uv_hrtime when the bytes were queued */
    bool done;
} ping_req;

static void ping_finish(ping_req *pr, int status, double rtt_ms, const char *err)
{
    if (pr->done)
        return;
    pr->done = true;
    char msg[HOST_REASON_MAX + 16];
    if (err) {
        snprintf(msg, sizeof msg, "ping: %s", err);
        err = msg;
    }
    pr->cb(pr->h, &pr->peer, status, rtt_ms, err, pr->user);
}

static void ping_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    ping_req *pr = user;
    if (pr->done)
        return;
    size_t k = PING_SIZE - pr->ngot;
    if (k > n)
        k = n;
    memcpy(pr->got + pr->ngot, p, k);
    pr->ngot += k;
    if (pr->ngot < PING_SIZE)
        return;
    double rtt = (double)(uv_hrtime() - pr->t0) / 1e6;
    if (sodium_memcmp(pr->got, pr->sent, PING_SIZE) == 0)
        ping_finish(pr, 0, rtt, NULL);
    else
        ping_finish(pr, -1, 0, "the echo differs from what was sent");
    p2p_stream_close_write(s);
}

static void ping_eof(p2p_stream *s, void *user)
{
    ping_finish(user, -1, 0, "stream ended before the echo");
    p2p_stream_close_write(s);
}

static void ping_close(p2p_stream *s, const char *reason, void *user)
{
    ping_req *pr = user;
    (void)s;
    ping_finish(pr, -1, 0, reason ? reason : "stream closed before the echo");
    free(pr);
}

static void ping_opened(p2p_stream *s, const char *err, void *user)
{
    ping_req *pr = user;
    if (!s) {
        ping_finish(pr, -1, 0, err);
        free(pr);
        return;
    }
    static const p2p_stream_cbs cbs = {
        .on_data = ping_data, .on_eof = ping_eof, .on_close = ping_close};
    p2p_stream_set_cbs(s, &cbs, pr);
    s->deadline = uv_now(pr->h->loop) + HOST_PING_MS;
    randombytes_buf(pr->sent, sizeof pr->sent);
    pr->t0 = uv_hrtime();
    if (p2p_stream_write(s, pr->sent, PING_SIZE) != PING_SIZE) {
        ping_finish(pr, -1, 0, "cannot send");
        p2p_stream_reset(s);
    }
}

int p2p_ping(p2p_host *h, const p2p_peer_id *peer, p2p_ping_cb cb, void *user, char *err,
             size_t errlen)
{
    if (!cb || !peer)
        return err_set(err, errlen, "p2p_ping: peer and callback are required");
    ping_req *pr = calloc(1, sizeof *pr);
    if (!pr)
        return err_set(err, errlen, "out of memory");
    pr->h = h;
    pr->peer = *peer;
    pr->cb = cb;
    pr->user = user;
    if (p2p_host_open_stream(h, peer, P2P_PROTO_PING, ping_opened, pr, err, errlen) != 0) {
        free(pr);
        return -1;
    }
    return 0;
}
