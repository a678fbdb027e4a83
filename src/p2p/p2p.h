/* p2p.h - the public header of src/p2p: Swarm's libp2p stack.
 *
 * Identity (Ed25519 keys, peer ids), multiaddrs, and a host: TCP connections upgraded with
 * multistream-select, Noise XX and Yamux, protocol handlers, streams with back-pressure,
 * identify and ping. Specs: the libp2p/specs repository; docs/PROTOCOL.md says what we support.
 *
 * Threading: a host and everything reached from it belong to the thread that runs its libuv
 * loop. Callbacks run on that thread, never from inside the call that caused them unless a
 * function's comment says so. Errors: functions that can fail return 0 (or a count) and -1
 * with a message in `char *err, size_t errlen` (see util/err.h). */
#ifndef SWARM_P2P_H
#define SWARM_P2P_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "util.h"

/* ---- keys ----------------------------------------------------------------------------------- */

#define P2P_PUBKEY_PROTO_LEN 36 /* an Ed25519 PublicKey protobuf: 08 01 12 20 + 32 bytes */

/* An Ed25519 key pair: sk is libsodium's 64-byte form (seed || public key). */
typedef struct {
    uint8_t sk[64];
    uint8_t pk[32];
} p2p_key;

/* Makes a fresh key pair from the system's randomness. Returns 0, or -1 if libsodium fails to
 * initialise. */
int p2p_key_generate(p2p_key *k, char *err, size_t errlen);

/* Reads the key file at path (a libp2p PrivateKey protobuf holding an Ed25519 key). If the file
 * does not exist, creates a new key and writes it there with mode 0600 (creating the parent
 * directory with 0700), and sets *created (may be NULL). A file that exists but is unreadable,
 * malformed, of another key type or readable by others (mode & 077) is an error. */
int p2p_key_load_or_create(const char *path, p2p_key *k, bool *created, char *err, size_t errlen);

/* Writes k to path as a PrivateKey protobuf, mode 0600, atomically (temporary file + rename). */
int p2p_key_save(const char *path, const p2p_key *k, char *err, size_t errlen);

/* Signs msg[0..n) with k. */
void p2p_key_sign(const p2p_key *k, const uint8_t *msg, size_t n, uint8_t sig[64]);

/* Checks an Ed25519 signature. */
bool p2p_key_verify(const uint8_t pk[32], const uint8_t *msg, size_t n, const uint8_t sig[64]);

/* Writes the PublicKey protobuf of an Ed25519 public key (deterministic, 36 bytes) into out. */
void p2p_pubkey_encode(const uint8_t pk[32], uint8_t out[P2P_PUBKEY_PROTO_LEN]);

/* Reads a PublicKey protobuf; only Ed25519 keys are accepted (others are refused by name). */
int p2p_pubkey_decode(const uint8_t *p, size_t n, uint8_t pk[32], char *err, size_t errlen);

/* ---- peer ids ------------------------------------------------------------------------------- */

#define P2P_PEER_ID_MAX    64  /* bytes of a binary peer id (a multihash) we accept */
#define P2P_PEER_ID_STRLEN 100 /* room for the base58btc text of any accepted id, with NUL */

/* A peer id in binary form: a multihash, identity (0x00) for keys of at most 42 bytes (all
 * Ed25519 ids) or sha2-256 (0x12) for larger ones. Compare with p2p_peer_id_eq. */
typedef struct {
    uint8_t len;
    uint8_t b[P2P_PEER_ID_MAX];
} p2p_peer_id;

/* The peer id of an Ed25519 public key (identity multihash of its PublicKey protobuf). */
void p2p_peer_id_from_pubkey(const uint8_t pk[32], p2p_peer_id *id);

/* Reads a binary peer id (identity or sha2-256 multihash, exact length). */
int p2p_peer_id_from_bytes(const uint8_t *p, size_t n, p2p_peer_id *id, char *err, size_t errlen);

/* Reads a peer id's text form: base58btc ("12D3KooW...", "Qm...") or a CIDv1 with the
 * libp2p-key codec (0x72) in any multibase we know ("b..." base32, "z..." base58btc). */
int p2p_peer_id_parse(const char *text, p2p_peer_id *id, char *err, size_t errlen);

/* Writes the base58btc text of id into out (P2P_PEER_ID_STRLEN bytes) and returns out. */
char *p2p_peer_id_str(const p2p_peer_id *id, char out[P2P_PEER_ID_STRLEN]);

/* True if a and b are the same id. */
bool p2p_peer_id_eq(const p2p_peer_id *a, const p2p_peer_id *b);

/* If id embeds an Ed25519 public key (identity multihash), stores it in pk and returns 0;
 * otherwise returns -1. */
int p2p_peer_id_pubkey(const p2p_peer_id *id, uint8_t pk[32]);

/* ---- multiaddrs ----------------------------------------------------------------------------- */

#define P2P_MADDR_MAX 400 /* bytes of a binary multiaddr we accept */

/* A multiaddr in binary form (code, value pairs). Known protocols: ip4, ip6, tcp, udp, dns,
 * dns4, dns6, dnsaddr, p2p; parsing anything else is an error that names it. */
typedef struct {
    uint16_t len;
    uint8_t b[P2P_MADDR_MAX];
} p2p_maddr;

/* Parses the text form ("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW..."). */
int p2p_maddr_parse(const char *text, p2p_maddr *ma, char *err, size_t errlen);

/* Reads and validates a binary multiaddr (every component known and well formed). */
int p2p_maddr_from_bytes(const uint8_t *p, size_t n, p2p_maddr *ma, char *err, size_t errlen);

/* Appends the text form of ma to out (no NUL counted). Returns 0, or -1 if out refuses. */
int p2p_maddr_str(const p2p_maddr *ma, buf_t *out);

/* Like p2p_maddr_str into a fixed buffer; returns out ("" if it does not fit). */
const char *p2p_maddr_cstr(const p2p_maddr *ma, char *out, size_t cap);

/* Appends "/p2p/<id>" to ma. */
int p2p_maddr_add_peer(p2p_maddr *ma, const p2p_peer_id *id, char *err, size_t errlen);

/* The address of a TCP socket as /ip4/A/tcp/P or /ip6/A/tcp/P. */
int p2p_maddr_from_sockaddr(const struct sockaddr *sa, p2p_maddr *ma, char *err, size_t errlen);

/* What the TCP transport needs from a multiaddr of the form
 * /(ip4|ip6|dns|dns4|dns6)/HOST/tcp/PORT[/p2p/ID]. */
typedef struct {
    int family;     /* AF_INET, AF_INET6, or AF_UNSPEC for a dns name */
    char host[256]; /* the address in text, or the dns name */
    uint16_t port;
    bool has_peer; /* a /p2p/ID component was present */
    p2p_peer_id peer;
    int dns_family; /* for a dns name, the addresses to resolve it to: AF_INET (dns4),
                       AF_INET6 (dns6) or AF_UNSPEC (dns); AF_UNSPEC for an IP address */
} p2p_tcp_addr;

/* Splits a TCP multiaddr; anything else (udp, missing port, extra parts) is an error. */
int p2p_maddr_to_tcp(const p2p_maddr *ma, p2p_tcp_addr *out, char *err, size_t errlen);

/* ---- the host ------------------------------------------------------------------------------- */

typedef struct p2p_host p2p_host;
typedef struct p2p_stream p2p_stream;

#define P2P_PROTO_IDENTIFY "/ipfs/id/1.0.0"
#define P2P_PROTO_PING     "/ipfs/ping/1.0.0"

typedef struct {
    const p2p_key *key;            /* the host's identity; copied */
    const char *agent;             /* identify agentVersion; default "swarm/<version>" */
    uint32_t max_conns;            /* upgraded connections, both directions, plus our dials in
                                      progress (see below); default 256 */
    uint32_t max_streams;          /* open streams per connection; default 256 */
    uint64_t handshake_timeout_ms; /* TCP accept/connect to muxer ready; default 10000 */
    uint64_t dial_timeout_ms;      /* whole dial, TCP connect included; default 15000 */
    uint64_t idle_timeout_ms;      /* a connection with no streams and no traffic; default
                                      120000; 0 = never */
    uint64_t keepalive_ms;         /* a yamux ping this long after the last answer, and the
                                      connection closed if the answer takes twice as long;
                                      default 15000; 0 = off */
    uint64_t write_stall_ms;       /* bytes waiting for the socket and none taken for this long:
                                      the peer is not reading, the connection is closed;
                                      default 30000 */
    uint32_t max_pending_inbound;  /* inbound connections still handshaking; at the limit a
                                      newcomer still gets in, one pending connection is dropped
                                      to make room (see below); default 64 */
    /* Admission of strangers (the resource manager). An address is the /32 of an IPv4 peer or
     * the /64 of an IPv6 one. Gateway-friendly: many phones behind one home router share an
     * address, so the per-address limits are not tiny; a phone keeps the global ones small. */
    uint32_t max_pending_per_ip; /* inbound connections still handshaking from one address;
                                    default 16 */
    uint32_t max_conns_per_ip;   /* inbound connections from one address, handshaking or up;
                                    default 64 */
    uint32_t max_conns_per_peer; /* connections of one peer id past Noise, both directions; an
                                    inbound one beyond is closed right after Noise; default 4 */
    uint64_t first_byte_ms;      /* an inbound connection that sends nothing for this long is
                                    dropped (then handshake_timeout_ms applies); default 3000 */
    /* Memory that peers can make the host keep: bytes queued on streams (not yet sent) plus
     * bytes received on streams and not yet taken by the application (paused streams); the host
     * budget also counts bytes in the sockets' write queues (p2p_host_stats). A write
     * beyond a budget comes up short; received data beyond one resets its stream (the
     * connection and its other streams go on). See docs/PROTOCOL.md, Yamux, "Flow control and
     * memory". */
    size_t conn_mem_budget; /* per connection; default 8 MiB */
    size_t host_mem_budget; /* over all connections; default 64 MiB */
} p2p_host_config;

/* How connections are counted: max_conns bounds the upgraded connections plus our outbound
 * dials in progress (a dial fails at once, and an inbound connection is refused, when they
 * reach it); closed connections that only flush their last bytes do not count. Inbound
 * connections that have not finished their handshake count only towards max_pending_inbound
 * and their address's limits, so that unauthenticated sockets can neither block our own dials
 * nor take every slot; our dials never count towards any address limit. When
 * max_pending_inbound handshakes are pending, the host keeps accepting: from each address the
 * newest pending connection that has sent nothing yet (else its newest) is a candidate, and
 * the one whose address holds the most pending goes (ties: a silent one, then the oldest), which
 * may be the newcomer itself. A peer id that has max_conns_per_peer connections gets no more
 * inbound ones (our dials to it still go through). Every refusal is a P2P_EV_ERROR with the
 * reason. */

/* Fills c with the defaults above (key left NULL: the caller must set it). */
void p2p_host_config_default(p2p_host_config *c);

/* What the host holds now, for monitoring and tests. */
typedef struct {
    size_t conns;       /* connections in any stage, closing ones included */
    size_t streams;     /* Yamux streams open, over all connections */
    size_t mem_queued;  /* bytes queued on streams, not yet sent */
    size_t mem_held;    /* bytes received on streams, not yet taken by the application */
    size_t mem_sending; /* bytes handed to sockets and not yet written (encrypted); with
                           mem_queued and mem_held, what host_mem_budget bounds */
} p2p_host_stats;

typedef enum {
    P2P_EV_LISTENING,    /* addr: a listen address as bound (a wildcard stays 0.0.0.0 or ::;
                            identify announces interface addresses), with the real port;
                            peer: our id */
    P2P_EV_CONNECTED,    /* peer, addr (remote), inbound */
    P2P_EV_IDENTIFIED,   /* peer, agent, protocols, listen_addrs, observed */
    P2P_EV_DISCONNECTED, /* peer, message: why (NULL when closed by us) */
    P2P_EV_ERROR,        /* message: a failure not tied to a call (e.g. a refused peer) */
} p2p_event_type;

typedef struct {
    p2p_event_type type;
    const p2p_peer_id *peer;
    const p2p_maddr *addr;
    bool inbound;
    const char *agent;
    const char *const *protocols;
    size_t nprotocols;
    const p2p_maddr *listen_addrs;
    size_t nlisten_addrs;
    const p2p_maddr *observed; /* may be NULL */
    const char *message;
} p2p_event;

/* Receives host events. Pointers in ev are valid only during the call. */
typedef void (*p2p_event_cb)(p2p_host *h, const p2p_event *ev, void *user);

/* Creates a host on loop. The host answers identify and ping from the start. On success *out
 * owns the host until p2p_host_close. */
int p2p_host_new(uv_loop_t *loop, const p2p_host_config *cfg, p2p_event_cb on_event, void *user,
                 p2p_host **out, char *err, size_t errlen);

/* Closes every listener, connection and stream (their callbacks run with an error), then frees
 * the host once libuv has closed its handles; done (may be NULL) runs then. Data still queued
 * on streams is dropped: only the Yamux GoAway is flushed (within about a second). To deliver
 * everything, close the streams (p2p_stream_close_write) and wait for their on_close first. */
void p2p_host_close(p2p_host *h, void (*done)(void *user), void *user);

/* The host's peer id. */
const p2p_peer_id *p2p_host_id(const p2p_host *h);

/* Fills out with the host's current counts and memory use (see p2p_host_stats). */
void p2p_host_get_stats(const p2p_host *h, p2p_host_stats *out);

/* Listens on a TCP multiaddr (port 0 picks a free port). Emits P2P_EV_LISTENING before it
 * returns 0. */
int p2p_host_listen(p2p_host *h, const char *maddr, char *err, size_t errlen);

/* Copies up to max current listen addresses (with real ports, without /p2p) into out and
 * returns how many there are. */
size_t p2p_host_listen_addrs(const p2p_host *h, p2p_maddr *out, size_t max);

/* Result of a dial: status 0 and the peer, or -1 and a message. */
typedef void (*p2p_dial_cb)(p2p_host *h, int status, const p2p_peer_id *peer, const char *err,
                            void *user);

/* Dials a TCP multiaddr; with /p2p/ID the remote must prove that id or is refused. Reuses an
 * existing connection to that peer. cb always runs, later, exactly once (unless this returns
 * -1 for a multiaddr that cannot be dialled at all). */
int p2p_host_dial(p2p_host *h, const char *maddr, p2p_dial_cb cb, void *user, char *err,
                  size_t errlen);

/* True if a connection to peer is up (upgraded) and usable for new streams: a connection on
 * which the peer sent GoAway does not count (it is closed once its streams are done, and a
 * dial makes a new one). */
bool p2p_host_is_connected(const p2p_host *h, const p2p_peer_id *peer);

/* Copies up to max connected peer ids (as p2p_host_is_connected) into out; returns how many
 * are connected. */
size_t p2p_host_peers(const p2p_host *h, p2p_peer_id *out, size_t max);

/* Closes every connection to peer (P2P_EV_DISCONNECTED follows). As with p2p_host_close, data
 * still queued on their streams is dropped; only the GoAway is flushed. */
void p2p_host_disconnect(p2p_host *h, const p2p_peer_id *peer);

/* ---- streams -------------------------------------------------------------------------------- */

/* Called with each inbound stream negotiated to a protocol registered by p2p_host_handle. The
 * handler sets the stream's callbacks (or resets/closes it). */
typedef void (*p2p_stream_handler)(p2p_stream *s, void *user);

/* Serves protocol id (e.g. "/swarm/task/1.0.0"), replacing an earlier handler for it. */
int p2p_host_handle(p2p_host *h, const char *protocol, p2p_stream_handler fn, void *user, char *err,
                    size_t errlen);

/* Result of opening a stream: s on success (set its callbacks now), or NULL and a message. */
typedef void (*p2p_open_cb)(p2p_stream *s, const char *err, void *user);

/* Opens a stream to a connected peer and negotiates protocol on it. cb runs later, once. */
int p2p_host_open_stream(p2p_host *h, const p2p_peer_id *peer, const char *protocol, p2p_open_cb cb,
                         void *user, char *err, size_t errlen);

typedef struct {
    /* Bytes from the peer. Not called while the stream is paused. */
    void (*on_data)(p2p_stream *s, const uint8_t *p, size_t n, void *user);
    /* The peer closed its side: no more data will come. */
    void (*on_eof)(p2p_stream *s, void *user);
    /* A write that returned short may go on now. */
    void (*on_writable)(p2p_stream *s, void *user);
    /* The stream is gone: closed by both sides (reason NULL), reset, or its connection closed.
     * Always the last callback; s is freed when it returns. */
    void (*on_close)(p2p_stream *s, const char *reason, void *user);
} p2p_stream_cbs;

/* Sets the stream's callbacks and their user pointer (cbs is copied; NULL members are fine). */
void p2p_stream_set_cbs(p2p_stream *s, const p2p_stream_cbs *cbs, void *user);

/* Queues up to n bytes for the peer and returns how many were taken: fewer than n when the
 * stream's send queue (256 KiB) or a memory budget (conn_mem_budget, host_mem_budget) is full
 * (on_writable follows), -1 if the stream can no longer send (closed for writing, reset, connection
 * gone). */
ssize_t p2p_stream_write(p2p_stream *s, const void *p, size_t n);

/* Stops (paused = true) or restarts delivery of on_data. While paused the peer's window is not
 * replenished, so a slow reader slows the writer. What arrives meanwhile (at most the window)
 * is held and counted against the memory budgets: data that would exceed one resets the
 * stream (on_close says so). So pause to read more slowly, not to wait for something the peer
 * controls (such as room to answer it). */
void p2p_stream_pause(p2p_stream *s, bool paused);

/* Half-closes: sends FIN after the queued bytes. Reading goes on until on_eof. */
int p2p_stream_close_write(p2p_stream *s);

/* Aborts the stream both ways (RST); on_close follows with a reason. */
void p2p_stream_reset(p2p_stream *s);

/* The negotiated protocol id, the remote peer, and the direction. */
const char *p2p_stream_protocol(const p2p_stream *s);
const p2p_peer_id *p2p_stream_peer(const p2p_stream *s);
bool p2p_stream_inbound(const p2p_stream *s);

/* ---- ping ----------------------------------------------------------------------------------- */

/* Result of a ping: status 0 and the round trip in milliseconds, or -1 and a message. */
typedef void (*p2p_ping_cb)(p2p_host *h, const p2p_peer_id *peer, int status, double rtt_ms,
                            const char *err, void *user);

/* Pings a connected peer once over /ipfs/ping/1.0.0 (32 random bytes, echoed). */
int p2p_ping(p2p_host *h, const p2p_peer_id *peer, p2p_ping_cb cb, void *user, char *err,
             size_t errlen);

/* ---- pubsub (gossipsub v1.1 and v1.2) ------------------------------------------------------ */

/* Publish/subscribe over /meshsub/1.2.0 and /meshsub/1.1.0 (libp2p/specs pubsub/gossipsub).
 * Every message is signed (StrictSign) and every received one is verified. Topics are strings
 * of 1..1024 bytes. A pubsub belongs to its host: it is freed by p2p_host_close, and callbacks
 * run on the host's loop thread like the host's own. See docs/PROTOCOL.md for what is
 * supported and the limits applied to what peers send. */

typedef struct p2p_pubsub p2p_pubsub;

#define P2P_PS_MAX_TOPIC_LEN 1024       /* bytes of a topic */
#define P2P_PS_MAX_DATA      (1u << 20) /* the largest max_message_size */

#define P2P_PROTO_MESHSUB_11 "/meshsub/1.1.0"
#define P2P_PROTO_MESHSUB_12 "/meshsub/1.2.0"

/* How message ids are made; every node of a mesh must use the same one, or gossip (IHAVE,
 * IWANT, IDONTWANT) does not match up (delivery still works, with more duplicates). */
typedef enum {
    P2P_PS_ID_FROM_SEQNO, /* the binary peer id in `from`, then the 8-byte seqno (go's) */
    P2P_PS_ID_KEY_SEQNO,  /* the sender's PublicKey protobuf, then the seqno (js's default) */
    P2P_PS_ID_CONTENT,    /* SHA-256 of the data: equal data is one message */
} p2p_ps_id_scheme;

typedef enum {
    P2P_PS_ACCEPT, /* deliver and forward */
    P2P_PS_REJECT, /* invalid: dropped, and the peer that sent it is penalised */
    P2P_PS_IGNORE, /* dropped without penalty (e.g. stale) */
} p2p_ps_verdict;

/* A received message, as handlers and validators see it. Pointers are valid only during the
 * call. */
typedef struct {
    const char *topic;
    const p2p_peer_id *from;          /* the author (verified by signature) */
    uint64_t seqno;                   /* the author's sequence number */
    const uint8_t *data;              /* len bytes (NULL when len is 0) */
    size_t len;                       /* */
    const p2p_peer_id *received_from; /* the peer that passed it to us */
    const uint8_t *id;                /* the message id, idlen bytes */
    size_t idlen;
} p2p_ps_message;

/* Receives the messages of a subscribed topic, once each (duplicates are dropped before). */
typedef void (*p2p_ps_handler)(p2p_pubsub *ps, const p2p_ps_message *m, void *user);

/* Judges a message of a topic before it is delivered or forwarded. */
typedef p2p_ps_verdict (*p2p_ps_validator)(p2p_pubsub *ps, const p2p_ps_message *m, void *user);

typedef enum {
    P2P_PS_EV_SUBSCRIBED,   /* peer, topic: a peer announced a subscription */
    P2P_PS_EV_UNSUBSCRIBED, /* peer, topic: it withdrew one (or left) */
    P2P_PS_EV_GRAFT,        /* peer, topic: the peer joined our mesh for topic */
    P2P_PS_EV_PRUNE,        /* peer, topic: it left our mesh */
    P2P_PS_EV_REJECTED,     /* peer, topic (may be NULL), message: something it sent was
                               invalid (bad signature, wrong from, validator, malformed RPC) */
    P2P_PS_EV_BANNED,       /* peer, message: its penalties passed the threshold; it is
                               disconnected and refused for ban_ms */
} p2p_ps_event_type;

typedef struct {
    p2p_ps_event_type type;
    const p2p_peer_id *peer;
    const char *topic;
    const char *message;
} p2p_ps_event;

typedef void (*p2p_ps_event_cb)(p2p_pubsub *ps, const p2p_ps_event *ev, void *user);

typedef struct {
    unsigned d, d_lo, d_hi, d_lazy; /* mesh degree and bounds, gossip degree: 6, 4, 12, 6 */
    uint64_t heartbeat_ms;          /* default 1000 */
    uint64_t fanout_ttl_ms;         /* a fanout topic not published to for this long is
                                       forgotten; default 60000 */
    unsigned mcache_len;            /* heartbeats a message stays cached for IWANT: 5 */
    unsigned mcache_gossip;         /* heartbeats of it announced in IHAVE: 3 */
    uint64_t seen_ttl_ms;           /* duplicates are recognised this long: 120000 */
    uint64_t prune_backoff_ms;      /* no re-GRAFT after a PRUNE for this long: 60000 */
    size_t max_message_size;        /* bytes of data in a message, ours or a peer's: 1 MiB
                                       (at most P2P_PS_MAX_DATA) */
    p2p_ps_id_scheme msg_id;        /* default P2P_PS_ID_FROM_SEQNO */
    bool flood_publish;             /* our own messages to every subscribed peer: true */
    size_t idontwant_min_size;      /* v1.2: IDONTWANT sent for messages at least this big
                                       (bytes of data); default 1024 */
    unsigned penalty_threshold;     /* penalties that ban a peer; default 20 */
    uint64_t ban_ms;                /* how long a banned peer is refused; default 60000 */
    p2p_ps_event_cb on_event;       /* may be NULL */
    void *user;
} p2p_pubsub_config;

/* Fills c with the defaults above. */
void p2p_pubsub_config_default(p2p_pubsub_config *c);

/* Starts gossipsub on h: registers the /meshsub protocols, opens a stream to every peer that
 * connects and speaks one, and runs the heartbeat. One pubsub per host; it is freed by
 * p2p_host_close (after which *out must not be used). */
int p2p_pubsub_new(p2p_host *h, const p2p_pubsub_config *cfg, p2p_pubsub **out, char *err,
                   size_t errlen);

/* The pubsub's host. */
p2p_host *p2p_pubsub_host(const p2p_pubsub *ps);

/* Subscribes to topic: fn receives its messages (fn may be NULL to relay without reading). The
 * subscription is announced to every peer and a mesh is formed at the next heartbeat.
 * Subscribing again replaces fn and user. */
int p2p_pubsub_subscribe(p2p_pubsub *ps, const char *topic, p2p_ps_handler fn, void *user,
                         char *err, size_t errlen);

/* Leaves topic: announced to peers, mesh peers PRUNEd. -1 if not subscribed. */
int p2p_pubsub_unsubscribe(p2p_pubsub *ps, const char *topic, char *err, size_t errlen);

/* Sets (fn non-NULL) or clears the validator of topic; it runs for every message of topic we
 * receive, subscribed or not. */
int p2p_pubsub_set_validator(p2p_pubsub *ps, const char *topic, p2p_ps_validator fn, void *user,
                             char *err, size_t errlen);

/* Signs and sends data[0..len) on topic: to every peer subscribed to it (flood publish), else
 * to the mesh or fanout. Data over max_message_size, a bad topic, or no memory are errors;
 * having no peers is not (the count is then 0). On success returns how many peers it was sent
 * to and stores the seqno used in *seqno (may be NULL). */
int p2p_pubsub_publish(p2p_pubsub *ps, const char *topic, const void *data, size_t len,
                       uint64_t *seqno, char *err, size_t errlen);

/* Copies up to max peers known to be subscribed to topic into out; returns how many there are. */
size_t p2p_pubsub_topic_peers(const p2p_pubsub *ps, const char *topic, p2p_peer_id *out,
                              size_t max);

/* The same for the peers in our mesh of topic (0 when not subscribed). */
size_t p2p_pubsub_mesh_peers(const p2p_pubsub *ps, const char *topic, p2p_peer_id *out, size_t max);

/* Counters since p2p_pubsub_new. */
typedef struct {
    uint64_t published;     /* our own messages */
    uint64_t delivered;     /* messages handed to a subscription's handler */
    uint64_t received;      /* messages received in all, duplicates included */
    uint64_t duplicates;    /* received again after the first time */
    uint64_t forwarded;     /* copies sent to peers (our own messages included) */
    uint64_t rejected;      /* invalid messages: all reasons below and validator rejects */
    uint64_t bad_signature; /* signature missing or not verifying */
    uint64_t bad_from;      /* from missing, malformed, or not matching the key */
    uint64_t ignored;       /* validator said ignore, or a message from ourselves */
    uint64_t too_large;     /* messages over max_message_size */
    uint64_t bad_rpcs;      /* RPCs that did not decode or broke a limit */
    uint64_t ihave_sent, iwant_sent, iwant_served, idontwant_sent;
    uint64_t graft_sent, prune_sent;
    uint64_t dropped_queue; /* RPCs not sent because a peer's send queue was full */
    uint64_t penalties;     /* penalty points given to peers */
    uint64_t bans;          /* peers banned */
} p2p_pubsub_stats;

void p2p_pubsub_get_stats(const p2p_pubsub *ps, p2p_pubsub_stats *out);

/* A peer's penalty points (0 for an unknown peer). */
unsigned p2p_pubsub_peer_penalty(const p2p_pubsub *ps, const p2p_peer_id *peer);

#endif
