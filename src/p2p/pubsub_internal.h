/* pubsub_internal.h - gossipsub's internals, shared by host_pubsub.c (the public API, streams,
 * host events, the heartbeat timer, bans), pubsub_router.c (what to do with an RPC, publishing,
 * delivery and forwarding), pubsub_heartbeat.c (mesh upkeep, fanout, gossip) and
 * pubsub_mcache.c (the message cache). Not a public header.
 *
 * Outgoing bytes: every peer has a send queue (out). Messages go into it as whole framed RPCs
 * at once; subscriptions and control entries collect in pend_subs and pend_ctl and go out as
 * one RPC when ps_flush runs (at the end of each RPC handled, heartbeat and API call). A frame
 * that does not fit the queue's bound is dropped and counted: gossip repairs lost messages.
 *
 * Lifetimes: a ps_peer lives from the host's CONNECTED event to its DISCONNECTED (or the host's
 * close); topics live while subscribed, validated or used as fanout. Mesh and fanout arrays
 * hold peer pointers, removed from them when the peer goes (ps_peer_free). */
#ifndef SWARM_P2P_PUBSUB_INTERNAL_H
#define SWARM_P2P_PUBSUB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "p2p.h"
#include "pubsub_idmap.h"
#include "pubsub_msg.h"

#define PS_MAX_PEER_TOPICS    1024  /* subscriptions we remember per peer */
#define PS_MAX_IHAVE_MESSAGES 10    /* IHAVE entries we look at per peer per heartbeat */
#define PS_MAX_IHAVE_LENGTH   5000  /* message ids we ask a peer for per heartbeat */
#define PS_MAX_IHAVE_SEND     5000  /* message ids in one IHAVE we send */
#define PS_GOSSIP_RETRANSMIT  3     /* times we answer one peer's IWANT for one message */
#define PS_GOSSIP_FACTOR      0.25  /* IHAVE to this share of the non-mesh peers, at least D_lazy */
#define PS_DONTWANT_MAX       10000 /* IDONTWANT ids remembered per peer */
#define PS_DONTWANT_TTL_MS    3000  /* ... for this long */
#define PS_SEEN_MAX           (1u << 20) /* seen-cache entries; the oldest go first */
#define PS_OUTQ_LIMIT         (4u << 20) /* bytes in a peer's send queue (plus one RPC) */
#define PS_PENALTY_DECAY_MS   10000      /* one penalty point is forgiven this often */
/* An RPC may be this big whatever max_message_size says: control alone can take ~1 MiB. */
#define PS_RPC_READ_LIMIT (PS_RPC_MAX_DEFAULT + UVARINT_MAX_LEN)

/* Penalty points. */
#define PS_PENALTY_INVALID   2 /* a message with a bad signature or from, or rejected */
#define PS_PENALTY_MALFORMED 4 /* an RPC that does not decode or breaks a limit */
#define PS_PENALTY_BACKOFF   1 /* a GRAFT during its back-off */

typedef struct ps_peer ps_peer;
typedef struct ps_topic ps_topic;
typedef struct ps_cached ps_cached;

/* A set of peers (a topic's mesh or fanout), in no order. */
typedef struct {
    ps_peer **p;
    size_t n, cap;
} ps_peerset;

/* A back-off: no GRAFT with the peer for topic until `until`. */
typedef struct {
    char *topic;
    uint64_t until;
} ps_backoff;

struct ps_peer {
    ps_peer *next;
    p2p_pubsub *ps;
    p2p_peer_id id;
    uint64_t serial;      /* unique per pubsub; the message cache counts IWANT answers by it */
    p2p_stream *in, *out; /* the peer's stream we read, ours we write (NULL until open) */
    int version;          /* 12 or 11 once our stream is negotiated, 0 before, -1 if the peer
                             speaks no meshsub we know */
    bool opening;         /* our stream is being negotiated */
    bool banned;          /* over the penalty threshold: being disconnected, ignored */
    bool gone;            /* disconnected while an RPC of it was being handled: freed after */
    int depth;            /* nesting of in_data calls for it */
    buf_t rbuf;           /* bytes of the in stream not yet a whole RPC */
    buf_t out_q;          /* framed RPCs waiting for our stream (from out_off) */
    size_t out_off;
    buf_t pend_subs, pend_ctl; /* see the header comment */
    char **topics;             /* its subscriptions (owned strings) */
    size_t ntopics, captopics;
    ps_backoff *backoff;
    size_t nbackoff, capbackoff;
    ps_idmap dontwant;
    unsigned ihave_seen;  /* IHAVE entries this heartbeat */
    unsigned iwant_asked; /* ids we asked it for this heartbeat */
    unsigned penalty;
    uint64_t penalty_at; /* when a point was last forgiven */
};

struct ps_topic {
    ps_topic *next;
    char *name;
    bool subscribed;
    p2p_ps_handler fn;
    void *fn_user;
    p2p_ps_validator val;
    void *val_user;
    ps_peerset mesh;
    ps_peerset fanout;
    uint64_t last_pub; /* for fanout expiry */
};

/* A cached message: its id and the framed RPC that carries it (sent as is for IWANT). */
struct ps_cached {
    ps_msg_id id;
    char *topic;
    uint8_t *frame;
    size_t framelen;
    struct {
        uint64_t serial;
        unsigned n;
    } * served; /* IWANT answers per peer */
    size_t nserved;
};

/* The message cache: mcache_len windows of ids, newest first, and the messages by id. */
typedef struct {
    ps_cached ***win; /* win[i] is an array of nwin[i] entries */
    size_t *nwin, *capwin;
    unsigned len;
    ps_idmap byid; /* id -> ps_cached (owned, freed by on_evict) */
} ps_mcache;

typedef struct {
    p2p_peer_id id;
    uint64_t until;
} ps_ban;

struct p2p_pubsub {
    p2p_host *h;
    p2p_pubsub_config cfg;
    p2p_pubsub_stats st;
    uv_timer_t heartbeat;
    bool closing;
    uint64_t seqno; /* the last seqno we used */
    uint64_t next_serial;
    ps_peer *peers;
    size_t npeers;
    ps_topic *topics;
    ps_idmap seen;
    ps_mcache mcache;
    ps_ban *bans;
    size_t nbans, capbans;
    buf_t scratch; /* encoding of one outgoing message */
};

/* ---- host_pubsub.c ---- */

/* Queues a framed RPC for p (dropped and counted if the queue is full) and writes what the
 * stream takes. */
void ps_send_frame(ps_peer *p, const uint8_t *frame, size_t n);

/* Sends every peer's pending subscriptions and control entries. */
void ps_flush(p2p_pubsub *ps);

/* Gives p penalty points for what (the reason, for the REJECTED event) and bans it once it
 * has too many. topic may be NULL. */
void ps_penalize(ps_peer *p, unsigned points, const char *topic, const char *what);

/* Emits a pubsub event (if there is a callback). */
void ps_emit(p2p_pubsub *ps, p2p_ps_event_type type, const ps_peer *p, const char *topic,
             const char *message);

/* Current loop time in ms. */
uint64_t ps_now(const p2p_pubsub *ps);

/* ---- pubsub_router.c ---- */

/* The topic named name, or NULL; ps_topic_get creates it (NULL only when out of memory). */
ps_topic *ps_topic_find(const p2p_pubsub *ps, const char *name);
ps_topic *ps_topic_get(p2p_pubsub *ps, const char *name);

/* Frees t if nothing needs it any more (not subscribed, no validator, no fanout). */
void ps_topic_release(p2p_pubsub *ps, ps_topic *t);

/* True if p announced a subscription to topic. */
bool ps_peer_subscribed(const ps_peer *p, const char *topic);

/* True if p is usable for gossipsub: it speaks a meshsub version we know (or may yet). */
bool ps_peer_gossips(const ps_peer *p);

/* A new peer (connected); NULL when out of memory. Our subscriptions are queued for it. */
ps_peer *ps_peer_new(p2p_pubsub *ps, const p2p_peer_id *id);

/* The peer with that id, or NULL. */
ps_peer *ps_peer_find(const p2p_pubsub *ps, const p2p_peer_id *id);

/* Removes p from every mesh and fanout and frees it (its streams must be detached). */
void ps_peer_free(ps_peer *p);

/* Handles one RPC body (without its length) from p. Returns 0, or -1 if it was malformed (p
 * is penalised; the caller may drop the stream). */
int ps_handle_rpc(ps_peer *p, const uint8_t *body, size_t n);

/* Peer sets. */
bool ps_set_has(const ps_peerset *s, const ps_peer *p);
int ps_set_add(ps_peerset *s, ps_peer *p);
bool ps_set_del(ps_peerset *s, const ps_peer *p);

/* Back-off with p for topic: set (until = now + ms; never shortened) and checked. */
void ps_backoff_set(ps_peer *p, const char *topic, uint64_t until);
bool ps_backoff_active(const ps_peer *p, const char *topic, uint64_t now);

/* Control entries and subscriptions, queued in p's pend_* buffers. */
void ps_queue_graft(ps_peer *p, const char *topic);
void ps_queue_prune(ps_peer *p, const char *topic, uint64_t backoff_s);
void ps_queue_ihave(ps_peer *p, const char *topic, const ps_msg_id *const *ids, size_t n);
void ps_queue_sub(ps_peer *p, const char *topic, bool subscribe);

/* Joins topic's mesh: fanout peers first, then others subscribed, up to D (GRAFT each). */
void ps_join(p2p_pubsub *ps, ps_topic *t);

/* Leaves the mesh of t: PRUNE to each mesh peer, with back-off. */
void ps_leave(p2p_pubsub *ps, ps_topic *t);

/* Fills out (room for max) with up to max random peers subscribed to t that gossip and are
 * not in excl1 or excl2 (either may be NULL) and for which keep (may be NULL) says true;
 * returns how many. */
size_t ps_pick_peers(p2p_pubsub *ps, const ps_topic *t, const ps_peerset *excl1,
                     const ps_peerset *excl2,
                     bool (*keep)(const ps_peer *, const ps_topic *, uint64_t), ps_peer **out,
                     size_t max);

/* Shuffles a[0..n) (libsodium randomness). */
void ps_shuffle(void **a, size_t n);

/* ---- pubsub_heartbeat.c ---- */

void ps_heartbeat(p2p_pubsub *ps);

/* ---- pubsub_mcache.c ---- */

int ps_mcache_init(ps_mcache *mc, unsigned len);
void ps_mcache_free(ps_mcache *mc);

/* Adds a message (frame copied); 0, or -1 when out of memory. Already there: nothing. */
int ps_mcache_put(ps_mcache *mc, const ps_msg_id *id, const char *topic, const uint8_t *frame,
                  size_t framelen, uint64_t now);

/* The cached message with id, or NULL. */
ps_cached *ps_mcache_get(const ps_mcache *mc, const uint8_t *id, size_t len);

/* Counts an IWANT answer to peer serial for c; returns the count before this one. */
unsigned ps_mcache_served(ps_cached *c, uint64_t serial);

/* Ids of topic's messages in the newest `windows` windows, at most max, into out. */
size_t ps_mcache_gossip(const ps_mcache *mc, const char *topic, unsigned windows,
                        const ps_msg_id **out, size_t max);

/* Drops the oldest window and opens a new one. */
void ps_mcache_shift(ps_mcache *mc);

#endif
