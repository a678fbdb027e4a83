/* host_internal.h - the host's internals, shared by host.c (lifecycle, listeners, dials, the
 * connection table, handlers, events), conn.c (one TCP connection and its upgrade pipeline),
 * stream.c (p2p_stream over yamux), host_identify.c and host_ping.c. Not a public header.
 *
 * Ownership and lifetimes: the host owns its listeners, connections and handlers. Memory of a
 * libuv handle is freed only from its close callback, so a connection or the host stays valid
 * for the whole of any libuv callback that reached it, whatever user callbacks do meanwhile.
 * A p2p_stream is freed right after its on_close (yamux's on_close for its yamux stream).
 *
 * Re-entrancy: user callbacks may call any public function. A connection counts how deeply it
 * is being processed (depth); closing it or flushing its output while depth > 0 is recorded and
 * done when the outermost section leaves. Public functions never run user callbacks from inside
 * themselves (except p2p_host_close, as documented): work they cause is done from the host's
 * uv_idle ("service") in the next loop iteration. */
#ifndef SWARM_P2P_HOST_INTERNAL_H
#define SWARM_P2P_HOST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "identify.h"
#include "mss.h"
#include "noise.h"
#include "p2p.h"
#include "rcmgr.h"
#include "yamux.h"

/* Most bytes per read. Large reads matter for bulk throughput (fewer wake-ups and syscalls,
 * whole frames decrypted per pass: 64 KiB reads gave about 50% of the AEAD rate in
 * bench_p2p, 256 KiB about 75%); the buffer of a connection that goes quiet is released by
 * the housekeeping tick, so idle connections do not keep it. */
#define HOST_READ_CHUNK     (256 * 1024)
#define HOST_RBUF_LIMIT     (HOST_READ_CHUNK + 2 * (NOISE_MAX_FRAME + 2)) /* + a partial frame */
#define HOST_RBUF_IDLE_KEEP (16 * 1024)  /* an empty read buffer larger than this is freed */
#define HOST_WRITE_BATCH    (256 * 1024) /* bytes gathered into one uv_write */
/* bytes in uv_write requests before we stop pulling from yamux */
#define HOST_WRITE_HIGH_WATER (1024 * 1024)
#define HOST_RAWOUT_LIMIT     (4 * 1024 * 1024)
#define HOST_NEGOTIATE_MS     10000 /* a stream must agree on a protocol within this */
#define HOST_IDENTIFY_MS      10000 /* an identify exchange must finish within this */
#define HOST_PING_MS          10000 /* a p2p_ping must finish within this */
#define HOST_LINGER_MS        1000  /* a closing connection may flush its last bytes this long */
/* Most plaintext pulled from yamux when a connection closes: all its control frames, so that the
 * GoAway (queued last) goes out. They are bounded: those the peer causes (pongs, refusals) by
 * yamux's CTRL_PEER_LIMIT (64 KiB), ours (RSTs, a ping, the GoAway) by the stream count. */
#define HOST_CLOSE_PULL_MAX (128 * 1024)
#define HOST_TICK_MS        1000 /* connection housekeeping (keepalive, idle, deadlines) */
/* The identify answer's FIN waits this long after the message: js-libp2p's multistream-select
 * fails ("Cannot push data onto a stream that is closed") when the FIN is processed in the same
 * read as the protocol answer, since it must put the message back onto the stream. */
#define HOST_IDENTIFY_FIN_DELAY_MS 250
#define HOST_REASON_MAX            256

typedef struct host_conn host_conn;
typedef struct host_dial host_dial;
typedef struct host_handler host_handler;
typedef struct host_listener host_listener;

/* A registered protocol handler. */
struct host_handler {
    host_handler *next;
    char *protocol; /* owned */
    p2p_stream_handler fn;
    void *user;
};

/* A TCP listener. */
struct host_listener {
    host_listener *next;
    p2p_host *h;
    uv_tcp_t tcp;
    p2p_maddr addr; /* with the real port */
    bool listening; /* counted in p2p_host_listen_addrs */
    bool held;      /* a connection waits in libuv, not accepted: HOST_ACCEPT_BATCH reached */
};

/* A dial waiting for its connection, or its result waiting to be delivered. */
struct host_dial {
    host_dial *next;
    p2p_dial_cb cb;
    void *user;
    int status;
    p2p_peer_id peer;
    char err[HOST_REASON_MAX];
};

struct p2p_host {
    uv_loop_t *loop;
    p2p_host_config cfg; /* defaults applied; key and agent point into this struct */
    p2p_key key;
    char agent[256];
    p2p_peer_id id;
    uint8_t noise_sk[32], noise_pk[32]; /* static X25519 key for Noise */
    p2p_event_cb on_event;
    void *user;

    host_handler *handlers;
    size_t nhandlers;
    host_listener *listeners;
    host_conn *conns; /* every connection, newest first, until its handles are closed */
    size_t nconns;
    uint64_t up_seq; /* orders connections by the time they came up */

    host_dial *deferred, **deferred_tail; /* dial results to deliver from the service idle */
    uv_idle_t idle;                       /* the service: deferred work, see conn_schedule */
    uv_timer_t later;                     /* delayed half-closes (stream_close_write_later) */
    uint64_t later_at;                    /* when it fires; 0 = not armed */
    unsigned accepted_turn;               /* connections accepted since the service idle last ran */

    uint8_t *dec; /* one decrypted frame (NOISE_MAX_FRAME); the read path never nests */
    buf_t pt;     /* plaintext pulled from yamux, before encryption; flushes never nest */

    struct p2p_pubsub *pubsub; /* gossipsub, if started (host_pubsub.c); freed with the host */
    rcmgr *rcm;                /* admission: counts per address and per peer (rcmgr.h) */
    yamux_pool mem;            /* host_mem_budget over every connection's yamux session */

    unsigned refs; /* live handles and objects: idle, later, listeners, connections, the
                      pubsub's heartbeat timer */
    bool closing;
    void (*done)(void *user);
    void *done_user;
};

typedef enum {
    CONN_CONNECTING, /* outbound: resolving or connecting */
    CONN_MSS,        /* multistream-select for /noise, in the clear */
    CONN_NOISE,      /* the Noise XX handshake */
    CONN_MSS_SECURE, /* multistream-select for /yamux/1.0.0 inside Noise */
    CONN_UP,         /* yamux session running */
    CONN_CLOSED,     /* closed; handles closing */
} conn_stage;

/* State needed only until the connection is up. */
typedef struct {
    mss mss;
    noise_hs noise;
} conn_handshake;

struct host_conn {
    p2p_host *h;
    host_conn *prev, *next;
    conn_stage stage;
    bool inbound;
    bool has_peer; /* peer is known: dialed with /p2p, or proven by Noise */
    bool up;       /* in the table: open_stream and is_connected may use it */
    bool counted;  /* counts towards the peer's CONNECTED/DISCONNECTED state */
    bool closing;  /* conn_close has been called */
    bool close_pending, want_flush, unpause_pending, dirty;
    bool by_us;        /* closed by p2p_host_disconnect or p2p_host_close */
    bool yamux_failed; /* yamux already queued its GoAway */
    bool tcp_connected, reading, gai_pending, handles_closing;
    bool ping_outstanding;
    bool goaway_recvd; /* the peer will take no new streams: closed once its streams are done */
    int depth;         /* nesting of sections processing this connection */
    unsigned refs;     /* open handles and pending requests */

    uv_tcp_t tcp;
    uv_timer_t timer; /* dial/handshake deadline, then the tick, then the linger */
    uv_connect_t connect;
    uv_getaddrinfo_t gai;
    uv_shutdown_t shutdown;

    p2p_tcp_addr target;    /* outbound: what was dialed */
    uint64_t dial_deadline; /* outbound: the whole dial's; inbound: the handshake's */
    p2p_peer_id peer;
    p2p_maddr remote; /* the remote TCP address (len 0 if unknown) */

    conn_handshake *hs; /* until up */
    noise_cipher tx, rx;
    yamux_session *ymx;

    buf_t rbuf;      /* received bytes not yet processed */
    buf_t rawout;    /* bytes ready for the socket (already encrypted once secure) */
    size_t inflight; /* bytes in uv_write requests */
    /* Write progress, for write_stall_ms: bytes handed to uv_write in all, how many of them had
     * reached the kernel at the last look, and when that last grew (or writing started). */
    uint64_t submitted, stall_written, stall_since;

    host_dial *dials; /* outbound: dials waiting for this connection */
    p2p_stream *streams;
    size_t nstreams;

    uint64_t up_seq;
    uint64_t last_pong; /* keepalive: when the last answer came (or the connection came up) */
    uint64_t last_activity, ping_sent;
    uint32_t ping_opaque;
    rcmgr_conn rcm; /* what the resource manager counts for it; released when closing */
    char reason[HOST_REASON_MAX];
};

typedef enum {
    STREAM_NEGOTIATING, /* multistream-select running; not yet handed out */
    STREAM_OPEN,        /* handed to the app (or an internal user) */
    STREAM_CLOSED,      /* inside on_close */
} stream_state;

struct p2p_stream {
    host_conn *c;
    yamux_stream *st;
    p2p_stream *prev, *next;
    stream_state state;
    bool inbound;
    bool dead;    /* reset by us (app, failure or deadline): ignore events until on_close */
    bool expired; /* its deadline passed */
    bool paused, unpause_pending;
    mss *mss;            /* while negotiating */
    char *proto;         /* owned */
    p2p_open_cb open_cb; /* outbound, until called */
    void *open_user;
    p2p_stream_cbs cbs;
    void *user;
    uint64_t deadline; /* loop time (ms) after which the stream is reset; 0 = none */
    uint64_t fin_at;   /* loop time (ms) at which to half-close; 0 = none */
};

/* ---- host.c ---- */

/* Calls the event callback, if any. */
void host_emit(p2p_host *h, const p2p_event *ev);

/* The handler for protocol, or NULL. */
host_handler *host_handler_find(const p2p_host *h, const char *protocol);

/* True if c may carry new streams: upgraded, not closing, no GoAway from the peer. */
bool host_conn_usable(const host_conn *c);

/* The most recently upgraded usable connection to peer, or NULL. */
host_conn *host_conn_newest(const p2p_host *h, const p2p_peer_id *peer);

/* Connections that hold one of max_conns: upgraded ones and our outbound ones in progress,
 * excluding those closing. */
size_t host_conn_slots(const p2p_host *h);

/* Decides whether an accepted inbound connection may start its handshake: max_conns, then the
 * resource manager, which may drop a pending connection to make room. Returns false after
 * closing c (with the reason). */
bool host_admit_inbound(host_conn *c);

/* Noise proved c's peer: counts it towards the peer's connections. Returns false after
 * closing c if it is inbound and the peer has max_conns_per_peer already. */
bool host_admit_peer(host_conn *c, const p2p_peer_id *peer);

/* Queues a dial result for delivery from the loop (at once while the host is closing). */
void host_defer(p2p_host *h, host_dial *d);

/* Makes sure the service idle runs soon. */
void host_schedule(p2p_host *h);

/* Makes sure the host's "later" timer fires by loop time at (ms). */
void host_arm_later(p2p_host *h, uint64_t at);

/* A connection finished its upgrade: puts it in the table, emits CONNECTED for the peer's
 * first connection and completes its dials. */
void host_conn_up(host_conn *c);

/* A connection closed: fails its dials, emits DISCONNECTED when the peer's last connection
 * went, or an ERROR for a failed inbound connection. */
void host_conn_gone(host_conn *c, bool was_up);

/* Drops a reference; frees the host when closing and nothing is left. */
void host_unref(p2p_host *h);

/* ---- conn.c ---- */

/* Starts an outbound connection for dial d (taking it); failures reach d's callback. */
void conn_dial(p2p_host *h, const p2p_tcp_addr *ta, host_dial *d);

/* Accepts a connection on a listener (from its connection callback). */
void conn_accept(p2p_host *h, uv_stream_t *server);

/* Asks for the connection to close with a reason (printf format). Idempotent. The work is done
 * when the outermost processing section leaves, or from the service idle. */
void conn_close(host_conn *c, bool by_us, const char *fmt, ...) ERR_PRINTF(3, 4);

/* Closes now if nothing is processing the connection (p2p_host_close). */
void conn_close_now(host_conn *c, const char *reason);

/* Sections: enter before touching yamux or calling user code for c. conn_leave is for public
 * functions (pending work is scheduled); conn_leave_loop is for libuv callbacks (pending work
 * runs now). */
void conn_enter(host_conn *c);
void conn_leave(host_conn *c);
void conn_leave_loop(host_conn *c);

/* Marks c as needing service (flush, close, unpause) from the idle. */
void conn_schedule(host_conn *c);

/* Runs pending work for c (from the service idle). */
void conn_service(host_conn *c);

/* ---- stream.c ---- */

/* Yamux callbacks for a connection's session (user = the host_conn). */
extern const yamux_callbacks stream_yamux_cbs;

/* Opens a stream on c and negotiates protocol; cb runs later, once, unless this returns -1. */
int stream_open(host_conn *c, const char *protocol, p2p_open_cb cb, void *user, char *err,
                size_t errlen);

/* Resumes streams whose app asked to unpause. */
void stream_service_unpause(host_conn *c);

/* Half-closes s after ms (p2p_stream_close_write then), from the host's "later" timer. */
void stream_close_write_later(p2p_stream *s, uint64_t ms);

/* Half-closes c's streams whose fin_at has come; lowers *next (0 = none) to the earliest
 * fin_at still ahead. */
void stream_run_later(host_conn *c, uint64_t now, uint64_t *next);

/* Resets streams whose deadline has passed. */
void stream_check_deadlines(host_conn *c, uint64_t now);

/* True if a protocol id is acceptable to send (non-empty, short enough, no newline). */
bool stream_protocol_ok(const char *protocol);

/* ---- host_pubsub.c ---- */

/* Hooks for gossipsub: every host event before the application sees it; the host closing (the
 * heartbeat stops; streams close with their connections); the host freed (with its pubsub). */
void pubsub_host_event(struct p2p_pubsub *ps, const p2p_event *ev);
void pubsub_host_closing(struct p2p_pubsub *ps);
void pubsub_free(struct p2p_pubsub *ps);

/* ---- host_identify.c, host_ping.c ---- */

/* Opens the identify stream on a new connection; IDENTIFIED (or ERROR) follows. */
void host_identify_start(host_conn *c);

/* Serves /ipfs/id/1.0.0. */
void host_identify_handler(p2p_stream *s, void *user);

/* Serves /ipfs/ping/1.0.0 (echoes until EOF). */
void host_ping_handler(p2p_stream *s, void *user);

#endif
