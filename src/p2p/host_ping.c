/* host_ping.c - /ipfs/ping/1.0.0 both ways: the handler echoes everything until EOF (js keeps
 * one stream and pings on it repeatedly), but resets a stream whose echo cannot be queued;
 * p2p_ping sends 32 random bytes and times the echo. */
#include "host_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define PING_SIZE 32

/* The echo keeps at most PING_ECHO_QUEUED bytes in yamux's send queue. A peer that follows the
 * protocol sends one ping and waits for its echo, so it never comes near: the queue holds that
 * echo and perhaps the negotiation's answer still. A stream whose echo does not fit (the peer
 * sends far ahead of the echoes, or does not read them) is reset at once: pausing it instead
 * would let yamux hold what the peer sends meanwhile, and a peer that stalls our output could
 * make every stream of every connection hold its window (tens of MiB per connection, before). */
#define PING_ECHO_QUEUED 1024

/* ---- answering ----------------------------------------------------------------------------- */

static void echo_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    (void)user;
    if (p2p_stream_write(s, p, n) != (ssize_t)n)
        p2p_stream_reset(s); /* blocked: see PING_ECHO_QUEUED */
}

static void echo_eof(p2p_stream *s, void *user)
{
    (void)user;
    p2p_stream_close_write(s);
}

void host_ping_handler(p2p_stream *s, void *user)
{
    (void)user;
    yamux_stream_set_send_buffer(s->st, PING_ECHO_QUEUED);
    static const p2p_stream_cbs cbs = {.on_data = echo_data, .on_eof = echo_eof};
    p2p_stream_set_cbs(s, &cbs, NULL);
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
