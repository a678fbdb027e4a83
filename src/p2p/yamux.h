/* yamux.h - the Yamux stream multiplexer (/yamux/1.0.0), without I/O.
 *
 * The caller feeds the bytes it received (already decrypted) with yamux_feed, which calls back
 * for stream events, and pulls the bytes to send with yamux_pull. Flow control: each stream
 * has a receive window (initially 256 KiB); data is handed to on_data only while the stream is
 * not paused, and the window is replenished (WINDOW_UPDATE) only for data handed over, so a
 * slow reader slows the writer. Sending is bounded by the peer's window and by a per-stream
 * send buffer, so memory stays bounded whatever the peers do.
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

typedef struct {
    uint32_t max_streams;     /* open streams at once (both directions); default 256 */
    uint32_t max_window;      /* largest receive window we grow to; default 16 MiB */
    size_t send_buffer;       /* bytes queued per stream beyond the peer's window; 256 KiB */
    uint32_t max_frame;       /* largest data frame we send; default 64 KiB */
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

/* True if yamux_pull would append something. */
bool yamux_want_write(const yamux_session *s);

/* Opens a stream (SYN goes out with its first frame). NULL with err set when the stream limit
 * is reached, GoAway was received or sent, or OOM. */
yamux_stream *yamux_open(yamux_session *s, char *err, size_t errlen);

/* Queues up to n bytes on st; returns how many were taken (short when its buffer is full:
 * on_writable follows), or -1 if st is closed for writing or reset. */
ssize_t yamux_write(yamux_stream *st, const uint8_t *p, size_t n);

/* Stops or restarts on_data for st. Restarting delivers what was held back (from inside this
 * call) and replenishes the window. */
void yamux_pause(yamux_stream *st, bool paused);

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

#endif
