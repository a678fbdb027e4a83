/* yamux.h - the Yamux stream multiplexer (/yamux/1.0.0), without I/O.
 *
 * The caller feeds the bytes it received (already decrypted) with yamux_feed, which calls back
 * for stream events, and pulls the bytes to send with yamux_pull. Flow control: each stream
 * has a receive window (initially 256 KiB); data is handed to on_data only while the stream is
 * not paused, and the window is replenished (WINDOW_UPDATE) only for data handed over, so a
 * slow reader slows the writer.
 *
 * Memory: yamux_write queues at most cfg.send_buffer bytes per stream, whatever window the peer
 * grants (the connection drains the queue continuously, so more would not add throughput), and
 * the session keeps queued plus held bytes (received, not handed over because the stream is
 * paused) within cfg.session_budget, and within cfg.pool's limit together with every other
 * session sharing that pool (the host's connections). Writes: once a budget is reached every
 * write comes up short until the queued bytes are back below half of it. One exception keeps a
 * session that is full of held data moving: a stream with less than YAMUX_WRITE_RESERVE queued
 * may fill up to it, as long as the queued bytes stay within the budgets. Received data: the
 * windows cannot bound it (each stream starts with 256 KiB that the spec lets the peer send at
 * once, and a window once granted is never taken back), so data that would take the session's
 * held bytes beyond session_budget, or the pool's queued + held + sending bytes beyond its
 * limit, resets
 * its stream instead (RST; on_close says which budget); the session and its other streams go
 * on. (The session's own queue does not count there: both ways of a bulk echo queue and hold
 * at once, and the peer sent only what its windows allowed.) Data handed straight to a reader
 * that is not paused is never held. So a session keeps at most session_budget queued plus
 * session_budget held, and all the sessions of a pool at most its limit, each plus up to
 * YAMUX_WRITE_RESERVE per stream queued past it (the exception above). Receive windows grow
 * (up to max_window) only while the windows of all streams together stay within
 * session_budget.
 *
 * Callbacks run inside yamux_feed, yamux_pull, yamux_pause and yamux_free (on_close only with
 * a reason). From inside a callback the caller may write, pause, close, reset and open streams,
 * but must not call yamux_feed or yamux_free. A stream stays valid until its on_close returns. */
#ifndef SWARM_P2P_YAMUX_H
#define SWARM_P2P_YAMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

#define YAMUX_PROTOCOL       "/yamux/1.0.0"
#define YAMUX_HEADER_LEN     12
#define YAMUX_INITIAL_WINDOW (256 * 1024)
#define YAMUX_WRITE_RESERVE  (16 * 1024) /* see "Memory" above */

typedef struct yamux_session yamux_session;
typedef struct yamux_stream yamux_stream;

/* GoAway codes. */
enum { YAMUX_GOAWAY_NORMAL = 0, YAMUX_GOAWAY_PROTOCOL = 1, YAMUX_GOAWAY_INTERNAL = 2 };

typedef struct {
    /* The peer opened st (SYN). Return 0 to accept it (an ACK goes out), or -1 to refuse it (RST);
     * a refused stream gets no more callbacks. */
    int (*on_open)(void *user, yamux_stream *st);
    /* Data for st, in order. */
    void (*on_data)(void *user, yamux_stream *st, const uint8_t *p, size_t n);
    /* The peer sent FIN on st: no more data after what was delivered. */
    void (*on_eof)(void *user, yamux_stream *st);
    /* st can take more bytes after a short yamux_write. */
    void (*on_writable)(void *user, yamux_stream *st);
    /* st is finished (FIN both ways and flushed: reason NULL), or reset, or the session ended
     * (reason says why). The last callback for st; yamux frees st after it returns. */
    void (*on_close)(void *user, yamux_stream *st, const char *reason);
    /* The answer to yamux_ping came back. */
    void (*on_pong)(void *user, uint32_t opaque);
    /* The peer sent GoAway: it will accept no new streams. */
    void (*on_goaway)(void *user, uint32_t code);
} yamux_callbacks;

/* A memory budget shared by sessions (a host's connections). The caller owns it, zeroed but for
 * limit, and keeps it until the last session using it is freed; the sessions keep the sums. */
typedef struct {
    size_t limit;   /* queued + held + sending bytes over all the sessions; 0 = no shared bound */
    size_t queued;  /* bytes queued on their streams, not yet pulled */
    size_t held;    /* bytes received on their streams, not yet handed over */
    size_t sending; /* kept by the caller: bytes pulled and not yet taken by the transport (a
                       socket's write queue), so that what left the sessions still counts */
} yamux_pool;

typedef struct {
    uint32_t max_streams;  /* open streams at once (both directions); default 256 */
    uint32_t max_window;   /* largest receive window a stream grows to; default 16 MiB */
    size_t send_buffer;    /* bytes queued (not yet pulled) per stream; default 256 KiB */
    uint32_t max_frame;    /* largest data frame we send; default 64 KiB */
    size_t session_budget; /* queued + held bytes of all streams; default 8 MiB */
    yamux_pool *pool;      /* shared with other sessions; NULL = none (see "Memory") */
} yamux_config;

/* Fills c with the defaults. */
void yamux_config_default(yamux_config *c);

/* A session; client = true for the dialer of the connection (odd stream ids). cfg may be NULL
 * (defaults). Returns NULL on OOM. */
yamux_session *yamux_new(bool client, const yamux_config *cfg, const yamux_callbacks *cb,
                         void *user);

/* Frees the session; each open stream gets on_close(reason) first. */
void yamux_free(yamux_session *s, const char *reason);

/* Consumes received bytes (any split). Returns 0, or -1 on a protocol violation (bad version or
 * type, unknown stream, window overrun, oversized frame, too many streams...) with err set; the
 * session has then queued a GoAway and the caller should flush output and close. */
int yamux_feed(yamux_session *s, const uint8_t *p, size_t n, char *err, size_t errlen);

/* Appends frames to send to out, at most about max bytes (control frames first, then data
 * round-robin over streams). Returns the bytes appended (0: nothing to send now). Called from a
 * callback that yamux_pull runs, it appends nothing (and yamux_want_write says false), so that
 * frames leave in order: the outer caller should pull again while yamux_want_write is true. */
size_t yamux_pull(yamux_session *s, buf_t *out, size_t max);

/* True if yamux_pull would append something, or run on_writable for streams that waited on
 * the budgets: with a pool, call it now and then (the pool drains through other sessions). */
bool yamux_want_write(const yamux_session *s);

/* Opens a stream (SYN goes out with its first frame). NULL with err set when the stream limit
 * is reached, GoAway was received or sent, or OOM. */
yamux_stream *yamux_open(yamux_session *s, char *err, size_t errlen);

/* Queues up to n bytes on st; returns how many were taken, or -1 if st is closed for writing or
 * reset. Short (maybe 0) when the stream's send buffer, the session's budget or the pool's is
 * full; then on_writable follows once st's queue has drained to half its send buffer (or cannot
 * drain for now: the peer's window is used up, so a stalled writer's queue ends up full) and
 * the session and the pool are back below half their budgets (or st is down to half
 * YAMUX_WRITE_RESERVE and the queued bytes are below half the budgets: see "Memory"). */
ssize_t yamux_write(yamux_stream *st, const uint8_t *p, size_t n);

/* Stops or restarts on_data for st. Restarting delivers what was held back (from inside this
 * call) and replenishes the window. */
void yamux_pause(yamux_stream *st, bool paused);

/* Called from on_data for st (before any yamux_pull): gives back the last n bytes that call
 * delivered (p: them, or a copy) and pauses st. yamux holds them again, counted against the
 * budgets, and delivers them first once st is resumed. Returns 0, or -1 if st was reset
 * instead (holding them would exceed a budget: see "Memory"; on_close follows). */
int yamux_unread(yamux_stream *st, const uint8_t *p, size_t n);

/* Sends FIN after the queued bytes. Returns 0, or -1 if already closed for writing. */
int yamux_close_write(yamux_stream *st);

/* Sends RST and ends st: on_close(reason "reset by us") runs from a later yamux_pull or feed,
 * never from inside this call. */
void yamux_reset(yamux_stream *st);

/* Sends a ping with opaque; on_pong follows when the peer answers. */
void yamux_ping(yamux_session *s, uint32_t opaque);

/* Sends GoAway(code): no new streams either way; existing ones go on. */
void yamux_goaway(yamux_session *s, uint32_t code);

/* Streams open now. */
size_t yamux_stream_count(const yamux_session *s);

/* The stream's id, and a pointer the caller may attach to it. */
uint32_t yamux_stream_id(const yamux_stream *st);
void yamux_stream_set_user(yamux_stream *st, void *user);
void *yamux_stream_user(const yamux_stream *st);

/* Bytes queued on st and not yet pulled (for the caller's own limits and tests). */
size_t yamux_stream_queued(const yamux_stream *st);

/* Lowers st's send buffer to n bytes, for protocols that never need much in flight (the ping
 * echo); 0, or more than cfg.send_buffer, restores cfg.send_buffer. Bytes already queued stay. */
void yamux_stream_set_send_buffer(yamux_stream *st, size_t n);

/* Bytes queued on all streams, and bytes held (received but not handed over: paused streams);
 * their sum is what cfg.session_budget bounds. For the caller's limits and tests. */
size_t yamux_queued_total(const yamux_session *s);
size_t yamux_held_total(const yamux_session *s);

#endif
