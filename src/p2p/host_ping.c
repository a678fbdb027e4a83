/* host_ping.c - /ipfs/ping/1.0.0 both ways: the handler echoes everything until EOF (js keeps
 * one stream and pings on it repeatedly), but resets a stream whose peer sends far ahead of the
 * echoes; p2p_ping sends 32 random bytes and times the echo. */
#include "host_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define PING_SIZE 32

/* The echo keeps at most PING_ECHO_QUEUED bytes in yamux's send queue (two pings) and
 * PING_ECHO_PENDING more that did not fit: a peer that follows the protocol sends one ping and
 * waits for the echo, so it never comes near. While the echo is blocked (our output is stalled)
 * the stream is paused: yamux then holds what the peer sends, at most the stream's window, and
 * counts it in the session budget. Once the peer is more than PING_ECHO_PENDING bytes ahead of
 * the echoes, the stream is reset: queuing it all would let a peer that does not read pin memory
 * on each of its streams (tens of MiB per connection, before this limit). */
#define PING_ECHO_QUEUED  (2 * PING_SIZE)
#define PING_ECHO_PENDING (8 * PING_SIZE)

/* ---- answering ----------------------------------------------------------------------------- */

typedef struct {
    uint8_t pending[PING_ECHO_PENDING]; /* received, not yet accepted by p2p_stream_write */
    size_t len;
    bool eof;
} ping_echo;

/* Queues what fits of the pending bytes; pauses the stream while some are left (on_writable
 * comes back), resumes it or closes our side once they all went. */
static void echo_drain(p2p_stream *s, ping_echo *pe)
{
    if (pe->len) {
        ssize_t w = p2p_stream_write(s, pe->pending, pe->len);
        if (w < 0) {
            p2p_stream_reset(s);
            return;
        }
        memmove(pe->pending, pe->pending + w, pe->len - (size_t)w);
        pe->len -= (size_t)w;
        if (pe->len) {
            p2p_stream_pause(s, true);
            return;
        }
    }
    if (pe->eof)
        p2p_stream_close_write(s);
    else
        p2p_stream_pause(s, false);
}

static void echo_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    ping_echo *pe = user;
    if (n > PING_ECHO_PENDING - pe->len) {
        p2p_stream_reset(s); /* far more than one ping ahead of its echoes */
        return;
    }
    memcpy(pe->pending + pe->len, p, n);
    pe->len += n;
    echo_drain(s, pe);
}

static void echo_writable(p2p_stream *s, void *user)
{
    echo_drain(s, user);
}

static void echo_eof(p2p_stream *s, void *user)
{
    ping_echo *pe = user;
    pe->eof = true;
    if (pe->len == 0)
        p2p_stream_close_write(s);
}

static void echo_close(p2p_stream *s, const char *reason, void *user)
{
    (void)s;
    (void)reason;
    free(user);
}

void host_ping_handler(p2p_stream *s, void *user)
{
    (void)user;
    ping_echo *pe = calloc(1, sizeof *pe);
    if (!pe) {
        p2p_stream_reset(s);
        return;
    }
    /* writes beyond it come up short, and on_writable follows once the echo went out */
    yamux_stream_set_send_buffer(s->st, PING_ECHO_QUEUED);
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
