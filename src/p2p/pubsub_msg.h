/* pubsub_msg.h - the sans-IO part of pubsub (libp2p/specs pubsub/README.md, gossipsub v1.0-v1.2):
 * signed messages (StrictSign), message ids, and the RPC codec with the limits we apply to what
 * a peer sends. The router and the streams live elsewhere.
 *
 * On the wire every RPC is one uvarint-length-prefixed RPC protobuf (proto/pubsub.proto). */
#ifndef SWARM_P2P_PUBSUB_MSG_H
#define SWARM_P2P_PUBSUB_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p.h"
#include "pubsub.pb-c.h"

#define PS_SIGN_PREFIX     "libp2p-pubsub:"
#define PS_MAX_MSG_DATA    P2P_PS_MAX_DATA               /* default bound of a message's data */
#define PS_RPC_MAX_DEFAULT (PS_MAX_MSG_DATA + 64 * 1024) /* one full message plus framing */
#define PS_MAX_TOPIC_LEN   P2P_PS_MAX_TOPIC_LEN          /* bytes of any topic string */
#define PS_MAX_MSG_ID_LEN  256 /* bytes of a message id in IHAVE/IWANT/IDONTWANT */
#define PS_MAX_ITEMS_PER_RPC                                       \
    5000 /* per list in one RPC: subscriptions, messages, control  \
            entries of each kind, and the message ids of each kind \
            (IHAVE, IWANT, IDONTWANT) and prune peers summed */
#define PS_MAX_FIELDS_PER_RPC                                                      \
    65536               /* protobuf fields at all levels of one RPC, known or not: \
                           bounds what unpacking allocates */
#define PS_SEQNO_LEN  8 /* seqno: a 64-bit big-endian counter */
#define PS_MSG_ID_MAX (P2P_PEER_ID_MAX + PS_SEQNO_LEN) /* also fits a SHA-256 */

/* One pubsub message. It owns topic and data (malloc'd, freed by ps_message_free); everything
 * else is inline. A has_* flag false means the field is absent on the wire, which is not the
 * same as present and empty: the signature covers the encoding, so the difference is kept. */
typedef struct {
    bool has_from;
    p2p_peer_id from;
    bool has_seqno;
    uint8_t seqno[PS_SEQNO_LEN];
    char *topic; /* NUL-terminated, never NULL in a filled message */
    bool has_data;
    uint8_t *data; /* NULL when len == 0 */
    size_t len;
    bool has_sig;
    uint8_t sig[64];
    bool has_key;
    uint8_t key_pk[32]; /* the Ed25519 key the `key` field carried */
} ps_message;

/* Builds our own message on topic with data[0..len), from k's peer id and seqno (big-endian),
 * signed with k (StrictSign), with the key field set (as js does). *out is zeroed first and
 * owns copies of topic and data on success; on failure it holds nothing. Topics longer than
 * PS_MAX_TOPIC_LEN or empty, and data over PS_MAX_MSG_DATA, are refused. */
int ps_msg_sign(const p2p_key *k, const char *topic, const uint8_t *data, size_t len,
                uint64_t seqno, ps_message *out, char *err, size_t errlen);

/* Copies a received Message protobuf into *out (zeroed first), checking its form: a topic
 * present, non-empty and at most PS_MAX_TOPIC_LEN; from a valid peer id; seqno 8 bytes;
 * signature 64 bytes; key an Ed25519 PublicKey protobuf; data at most PS_MAX_MSG_DATA.
 * On failure *out holds nothing. It does not check the signature: see ps_msg_verify. */
int ps_msg_from_pb(const Swarm__Pubsub__Message *pb, ps_message *out, char *err, size_t errlen);

/* Points *pb (initialised here) at m's fields, for packing into an RPC. pb borrows m's memory
 * and keybuf (which receives the key's PublicKey protobuf), so it is valid while both live;
 * do not free pb with protobuf-c. */
void ps_msg_to_pb(const ps_message *m, Swarm__Pubsub__Message *pb,
                  uint8_t keybuf[P2P_PUBKEY_PROTO_LEN]);

/* Checks a message under StrictSign: from, seqno and signature present; if key is present, its
 * peer id must equal from, else from must embed an Ed25519 key (identity multihash); the
 * signature must verify over PS_SIGN_PREFIX + the Message encoding without signature and key.
 * Returns 0, or -1 with the reason. */
int ps_msg_verify(const ps_message *m, char *err, size_t errlen);

/* A message id: len bytes in b. */
typedef struct {
    size_t len;
    uint8_t b[PS_MSG_ID_MAX];
} ps_msg_id;

/* The default id (go's): the from bytes followed by the seqno bytes. -1 if either is absent. */
int ps_msg_id_default(const ps_message *m, ps_msg_id *id, char *err, size_t errlen);

/* The content-addressed id: SHA-256 of data (32 bytes). Never fails. */
void ps_msg_id_content(const ps_message *m, ps_msg_id *id);

/* Frees topic and data and zeroes m. Safe on a zeroed or already freed message. */
void ps_message_free(ps_message *m);

/* Unpacks an RPC body (without the length prefix) of n bytes into *out and checks the limits
 * above (n at most max_size, or PS_RPC_MAX_DEFAULT if max_size is 0; counts and the fields in
 * all are checked on the wire form before unpacking). On success the caller owns *out and frees it
 * with swarm__pubsub__rpc__free_unpacked(*out, NULL); on failure *out is NULL. Messages are only
 * checked for size here; ps_msg_from_pb checks the rest. */
int ps_rpc_decode(const uint8_t *p, size_t n, size_t max_size, Swarm__Pubsub__RPC **out, char *err,
                  size_t errlen);

/* Appends the uvarint length and the encoding of rpc to out; -1 if the body exceeds max_size
 * (0: PS_RPC_MAX_DEFAULT) or out refuses the bytes (out is then unchanged). */
int ps_rpc_encode(const Swarm__Pubsub__RPC *rpc, size_t max_size, buf_t *out, char *err,
                  size_t errlen);

/* Looks for one framed RPC at the start of p[0..n): returns 1 with *hdr (prefix bytes) and
 * *body (body bytes) when the whole frame is there, 0 when more bytes are needed, -1 when the
 * prefix is malformed or announces more than max_size (0: PS_RPC_MAX_DEFAULT). */
int ps_rpc_frame(const uint8_t *p, size_t n, size_t max_size, size_t *hdr, size_t *body, char *err,
                 size_t errlen);

#endif
