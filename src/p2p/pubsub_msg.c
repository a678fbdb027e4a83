/* pubsub_msg.c - pubsub messages, ids and the RPC codec (see pubsub_msg.h).
 *
 * The signature covers an encoding, not values, so verification re-encodes the fields exactly as
 * received (absent stays absent) in field-number order, which is what protobuf-c, go and js all
 * produce for this message. */
#include "pubsub_msg.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Copies s (at most PS_MAX_TOPIC_LEN bytes, not empty) into a new string. */
static int ps_copy_topic(const char *s, char **dst, char *err, size_t errlen)
{
    size_t n = strnlen(s, PS_MAX_TOPIC_LEN + 1);
    if (n == 0)
        return err_set(err, errlen, "pubsub: empty topic");
    if (n > PS_MAX_TOPIC_LEN)
        return err_set(err, errlen, "pubsub: topic longer than %d bytes", PS_MAX_TOPIC_LEN);
    *dst = malloc(n + 1);
    if (!*dst)
        return err_set(err, errlen, "pubsub: out of memory");
    memcpy(*dst, s, n + 1);
    return 0;
}

/* Copies data[0..len) into m (NULL for an empty message). */
static int ps_copy_data(ps_message *m, const uint8_t *data, size_t len, char *err, size_t errlen)
{
    if (len > PS_MAX_MSG_DATA)
        return err_set(err, errlen, "pubsub: message data of %zu bytes exceeds %u", len,
                       PS_MAX_MSG_DATA);
    m->has_data = true;
    if (len == 0)
        return 0;
    m->data = malloc(len);
    if (!m->data)
        return err_set(err, errlen, "pubsub: out of memory");
    memcpy(m->data, data, len);
    m->len = len;
    return 0;
}

/* Fills pb with the fields the signature covers (no signature, no key), borrowing m's memory. */
static void ps_signed_fields(const ps_message *m, Swarm__Pubsub__Message *pb)
{
    swarm__pubsub__message__init(pb);
    if (m->has_from) {
        pb->has_from = 1;
        pb->from.data = (uint8_t *)m->from.b;
        pb->from.len = m->from.len;
    }
    if (m->has_data) {
        pb->has_data = 1;
        pb->data.data = m->data;
        pb->data.len = m->len;
    }
    if (m->has_seqno) {
        pb->has_seqno = 1;
        pb->seqno.data = (uint8_t *)m->seqno;
        pb->seqno.len = PS_SEQNO_LEN;
    }
    pb->topic = m->topic;
}

/* Returns a malloc'd PS_SIGN_PREFIX + encoding of m's signed fields, its length in *n. */
static uint8_t *ps_signing_bytes(const ps_message *m, size_t *n, char *err, size_t errlen)
{
    Swarm__Pubsub__Message pb;
    ps_signed_fields(m, &pb);
    size_t plen = strlen(PS_SIGN_PREFIX);
    size_t size = swarm__pubsub__message__get_packed_size(&pb);
    uint8_t *p = malloc(plen + size);
    if (!p) {
        err_set(err, errlen, "pubsub: out of memory");
        return NULL;
    }
    memcpy(p, PS_SIGN_PREFIX, plen);
    if (swarm__pubsub__message__pack(&pb, p + plen) != size) {
        free(p);
        err_set(err, errlen, "pubsub: message encoding size mismatch");
        return NULL;
    }
    *n = plen + size;
    return p;
}

int ps_msg_sign(const p2p_key *k, const char *topic, const uint8_t *data, size_t len,
                uint64_t seqno, ps_message *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!topic)
        return err_set(err, errlen, "pubsub: no topic");
    if (ps_copy_topic(topic, &out->topic, err, errlen) != 0 ||
        ps_copy_data(out, data, len, err, errlen) != 0) {
        ps_message_free(out);
        return -1;
    }
    out->has_from = true;
    p2p_peer_id_from_pubkey(k->pk, &out->from);
    out->has_seqno = true;
    for (int i = 0; i < PS_SEQNO_LEN; i++)
        out->seqno[i] = (uint8_t)(seqno >> (8 * (PS_SEQNO_LEN - 1 - i)));
    out->has_key = true;
    memcpy(out->key_pk, k->pk, sizeof out->key_pk);

    size_t n;
    uint8_t *msg = ps_signing_bytes(out, &n, err, errlen);
    if (!msg) {
        ps_message_free(out);
        return -1;
    }
    p2p_key_sign(k, msg, n, out->sig);
    out->has_sig = true;
    free(msg);
    return 0;
}

int ps_msg_from_pb(const Swarm__Pubsub__Message *pb, ps_message *out, char *err, size_t errlen)
{
    char sub[160];
    memset(out, 0, sizeof *out);
    if (!pb->topic)
        return err_set(err, errlen, "pubsub: message without a topic");
    if (pb->has_from) {
        if (p2p_peer_id_from_bytes(pb->from.data, pb->from.len, &out->from, sub, sizeof sub) != 0)
            return err_set(err, errlen, "pubsub: from: %s", sub);
        out->has_from = true;
    }
    if (pb->has_seqno) {
        if (pb->seqno.len != PS_SEQNO_LEN)
            return err_set(err, errlen, "pubsub: seqno of %zu bytes (want %d)", pb->seqno.len,
                           PS_SEQNO_LEN);
        memcpy(out->seqno, pb->seqno.data, PS_SEQNO_LEN);
        out->has_seqno = true;
    }
    if (pb->has_signature) {
        if (pb->signature.len != sizeof out->sig)
            return err_set(err, errlen, "pubsub: signature of %zu bytes (want 64)",
                           pb->signature.len);
        memcpy(out->sig, pb->signature.data, sizeof out->sig);
        out->has_sig = true;
    }
    if (pb->has_key) {
        if (p2p_pubkey_decode(pb->key.data, pb->key.len, out->key_pk, sub, sizeof sub) != 0)
            return err_set(err, errlen, "pubsub: key: %s", sub);
        out->has_key = true;
    }
    if (ps_copy_topic(pb->topic, &out->topic, err, errlen) != 0 ||
        (pb->has_data && ps_copy_data(out, pb->data.data, pb->data.len, err, errlen) != 0)) {
        ps_message_free(out);
        return -1;
    }
    return 0;
}

void ps_msg_to_pb(const ps_message *m, Swarm__Pubsub__Message *pb,
                  uint8_t keybuf[P2P_PUBKEY_PROTO_LEN])
{
    ps_signed_fields(m, pb);
    if (m->has_sig) {
        pb->has_signature = 1;
        pb->signature.data = (uint8_t *)m->sig;
        pb->signature.len = sizeof m->sig;
    }
    if (m->has_key) {
        p2p_pubkey_encode(m->key_pk, keybuf);
        pb->has_key = 1;
        pb->key.data = keybuf;
        pb->key.len = P2P_PUBKEY_PROTO_LEN;
    }
}

int ps_msg_verify(const ps_message *m, char *err, size_t errlen)
{
    uint8_t pk[32];
    if (!m->has_from)
        return err_set(err, errlen, "pubsub: unsigned message: no from");
    if (!m->has_seqno)
        return err_set(err, errlen, "pubsub: unsigned message: no seqno");
    if (!m->has_sig)
        return err_set(err, errlen, "pubsub: unsigned message: no signature");
    if (!m->topic)
        return err_set(err, errlen, "pubsub: message without a topic");
    if (m->has_key) {
        p2p_peer_id kid;
        p2p_peer_id_from_pubkey(m->key_pk, &kid);
        if (!p2p_peer_id_eq(&kid, &m->from))
            return err_set(err, errlen, "pubsub: key does not match from");
        memcpy(pk, m->key_pk, sizeof pk);
    } else if (p2p_peer_id_pubkey(&m->from, pk) != 0) {
        return err_set(err, errlen, "pubsub: no key, and from embeds no Ed25519 key");
    }
    size_t n;
    uint8_t *msg = ps_signing_bytes(m, &n, err, errlen);
    if (!msg)
        return -1;
    bool ok = p2p_key_verify(pk, msg, n, m->sig);
    free(msg);
    if (!ok)
        return err_set(err, errlen, "pubsub: bad signature");
    return 0;
}

int ps_msg_id_default(const ps_message *m, ps_msg_id *id, char *err, size_t errlen)
{
    if (!m->has_from || !m->has_seqno)
        return err_set(err, errlen, "pubsub: message id needs from and seqno");
    memcpy(id->b, m->from.b, m->from.len);
    memcpy(id->b + m->from.len, m->seqno, PS_SEQNO_LEN);
    id->len = m->from.len + PS_SEQNO_LEN;
    return 0;
}

void ps_msg_id_content(const ps_message *m, ps_msg_id *id)
{
    crypto_hash_sha256(id->b, m->data, m->len);
    id->len = crypto_hash_sha256_BYTES;
}

void ps_message_free(ps_message *m)
{
    free(m->topic);
    free(m->data);
    memset(m, 0, sizeof *m);
}

/* ---- RPC -------------------------------------------------------------------------------- */

/* What a pre-scan of the wire form counts, so that protobuf-c never unpacks a list longer than
 * we accept: its memory per field is many times the field's few bytes on the wire. */
enum {
    PS_N_SUBS,
    PS_N_MSGS,
    PS_N_IHAVE,
    PS_N_IWANT,
    PS_N_GRAFT,
    PS_N_PRUNE,
    PS_N_IDONTWANT,
    PS_N_IHAVE_IDS,
    PS_N_IWANT_IDS,
    PS_N_IDONTWANT_IDS,
    PS_N_PEERS,
    PS_N_KINDS,
};

static const char *const ps_kind_names[PS_N_KINDS] = {
    "subscriptions",         "messages",          "IHAVE entries",
    "IWANT entries",         "GRAFT entries",     "PRUNE entries",
    "IDONTWANT entries",     "IHAVE message ids", "IWANT message ids",
    "IDONTWANT message ids", "PRUNE peers",
};

/* A message type as the pre-scan sees it: which fields count towards a kind (-1: none) and
 * which hold a submessage to scan too. */
typedef struct ps_wire_schema ps_wire_schema;
typedef struct {
    uint32_t num;
    int kind;
    const ps_wire_schema *sub;
} ps_wire_field;
struct ps_wire_schema {
    size_t n;
    const ps_wire_field *f;
};

#define PS_SCHEMA(name, ...)                               \
    static const ps_wire_field name##_f[] = {__VA_ARGS__}; \
    static const ps_wire_schema name = {sizeof name##_f / sizeof name##_f[0], name##_f}

/* Messages without lists: scanned only so that their fields count towards the total. */
static const ps_wire_schema ps_ws_leaf = {0, NULL};

PS_SCHEMA(ps_ws_ihave, {2, PS_N_IHAVE_IDS, NULL});
PS_SCHEMA(ps_ws_iwant, {1, PS_N_IWANT_IDS, NULL});
PS_SCHEMA(ps_ws_prune, {2, PS_N_PEERS, &ps_ws_leaf});
PS_SCHEMA(ps_ws_idontwant, {1, PS_N_IDONTWANT_IDS, NULL});
PS_SCHEMA(ps_ws_control, {1, PS_N_IHAVE, &ps_ws_ihave}, {2, PS_N_IWANT, &ps_ws_iwant},
          {3, PS_N_GRAFT, &ps_ws_leaf}, {4, PS_N_PRUNE, &ps_ws_prune},
          {5, PS_N_IDONTWANT, &ps_ws_idontwant});
PS_SCHEMA(ps_ws_rpc, {1, PS_N_SUBS, &ps_ws_leaf}, {2, PS_N_MSGS, &ps_ws_leaf},
          {3, -1, &ps_ws_control});

#define PS_MAX_FIELD_NUM ((1u << 29) - 1) /* protobuf's largest field number */

typedef struct {
    size_t kind[PS_N_KINDS];
    size_t fields; /* every field at every level, known or not */
} ps_wire_counts;

/* Counts the fields of p[0..n) (and of the submessages the schema names) into c. Fields the
 * schema does not name are counted in c->fields only; their contents are not scanned, since
 * protobuf-c keeps each as one opaque unknown field. Every submessage of ours is scanned:
 * protobuf-c's unpacking takes memory per field even for a non-repeated one sent many times.
 * Returns -1 on a malformed encoding or when c->fields exceeds the bound, so the walk is linear in
 * n and stops early. */
static int ps_wire_scan(const uint8_t *p, size_t n, const ps_wire_schema *s, ps_wire_counts *c)
{
    size_t off = 0;
    while (off < n) {
        uint64_t tag, len;
        size_t used;
        if (leb_decode_u(p + off, n - off, 64, &tag, &used) != VARINT_OK)
            return -1;
        off += used;
        /* Field 0 does not exist; protobuf-c lets a non-minimal tag of 0 through but refuses
         * the minimal one it would write back, so refuse it here. */
        if ((tag >> 3) == 0 || (tag >> 3) > PS_MAX_FIELD_NUM)
            return -1;
        if (++c->fields > PS_MAX_FIELDS_PER_RPC)
            return -1;
        const uint8_t *val = p + off;
        switch (tag & 7) {
        case 0:
            if (leb_decode_u(p + off, n - off, 64, &len, &used) != VARINT_OK)
                return -1;
            off += used;
            len = 0;
            break;
        case 1:
        case 5:
            len = (tag & 7) == 1 ? 8 : 4;
            if (n - off < len)
                return -1;
            off += (size_t)len;
            len = 0;
            break;
        case 2:
            if (leb_decode_u(p + off, n - off, 64, &len, &used) != VARINT_OK)
                return -1;
            off += used;
            if (len > n - off)
                return -1;
            val = p + off;
            off += (size_t)len;
            break;
        default:
            return -1; /* groups: protobuf-c refuses them too */
        }
        for (size_t i = 0; i < s->n; i++) {
            if (s->f[i].num != tag >> 3)
                continue;
            if (s->f[i].kind >= 0)
                c->kind[s->f[i].kind]++;
            if (s->f[i].sub && (tag & 7) == 2 &&
                ps_wire_scan(val, (size_t)len, s->f[i].sub, c) != 0)
                return -1;
            break;
        }
    }
    return 0;
}

/* A topic in a received RPC: may be absent (the router decides), never over the limit. */
static int ps_check_topic(const char *s, const char *what, char *err, size_t errlen)
{
    if (s && strnlen(s, PS_MAX_TOPIC_LEN + 1) > PS_MAX_TOPIC_LEN)
        return err_set(err, errlen, "pubsub: %s topic longer than %d bytes", what,
                       PS_MAX_TOPIC_LEN);
    return 0;
}

/* Adds a list of n message ids to *total, refusing long ids and too many in all. */
static int ps_check_ids(const ProtobufCBinaryData *ids, size_t n, size_t *total, const char *what,
                        char *err, size_t errlen)
{
    *total += n;
    if (*total > PS_MAX_ITEMS_PER_RPC)
        return err_set(err, errlen, "pubsub: more than %d %s message ids in one RPC",
                       PS_MAX_ITEMS_PER_RPC, what);
    for (size_t i = 0; i < n; i++)
        if (ids[i].len > PS_MAX_MSG_ID_LEN)
            return err_set(err, errlen, "pubsub: %s message id of %zu bytes (at most %d)", what,
                           ids[i].len, PS_MAX_MSG_ID_LEN);
    return 0;
}

/* Refuses a list count over the per-RPC limit. */
static int ps_check_count(size_t n, const char *what, char *err, size_t errlen)
{
    if (n > PS_MAX_ITEMS_PER_RPC)
        return err_set(err, errlen, "pubsub: %zu %s in one RPC (at most %d)", n, what,
                       PS_MAX_ITEMS_PER_RPC);
    return 0;
}

static int ps_check_control(const Swarm__Pubsub__ControlMessage *c, char *err, size_t errlen)
{
    size_t ihave = 0, iwant = 0, idontwant = 0, peers = 0;
    if (ps_check_count(c->n_ihave, "IHAVE entries", err, errlen) != 0 ||
        ps_check_count(c->n_iwant, "IWANT entries", err, errlen) != 0 ||
        ps_check_count(c->n_graft, "GRAFT entries", err, errlen) != 0 ||
        ps_check_count(c->n_prune, "PRUNE entries", err, errlen) != 0 ||
        ps_check_count(c->n_idontwant, "IDONTWANT entries", err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < c->n_ihave; i++)
        if (ps_check_topic(c->ihave[i]->topicid, "IHAVE", err, errlen) != 0 ||
            ps_check_ids(c->ihave[i]->messageids, c->ihave[i]->n_messageids, &ihave, "IHAVE", err,
                         errlen) != 0)
            return -1;
    for (size_t i = 0; i < c->n_iwant; i++)
        if (ps_check_ids(c->iwant[i]->messageids, c->iwant[i]->n_messageids, &iwant, "IWANT", err,
                         errlen) != 0)
            return -1;
    for (size_t i = 0; i < c->n_idontwant; i++)
        if (ps_check_ids(c->idontwant[i]->messageids, c->idontwant[i]->n_messageids, &idontwant,
                         "IDONTWANT", err, errlen) != 0)
            return -1;
    for (size_t i = 0; i < c->n_graft; i++)
        if (ps_check_topic(c->graft[i]->topicid, "GRAFT", err, errlen) != 0)
            return -1;
    for (size_t i = 0; i < c->n_prune; i++) {
        const Swarm__Pubsub__ControlPrune *pr = c->prune[i];
        if (ps_check_topic(pr->topicid, "PRUNE", err, errlen) != 0)
            return -1;
        peers += pr->n_peers;
        if (ps_check_count(peers, "PRUNE peers", err, errlen) != 0)
            return -1;
        for (size_t j = 0; j < pr->n_peers; j++)
            if (pr->peers[j]->has_peerid && pr->peers[j]->peerid.len > P2P_PEER_ID_MAX)
                return err_set(err, errlen, "pubsub: PRUNE peer id of %zu bytes",
                               pr->peers[j]->peerid.len);
    }
    return 0;
}

static int ps_check_rpc(const Swarm__Pubsub__RPC *rpc, char *err, size_t errlen)
{
    if (ps_check_count(rpc->n_subscriptions, "subscriptions", err, errlen) != 0 ||
        ps_check_count(rpc->n_publish, "messages", err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < rpc->n_subscriptions; i++)
        if (ps_check_topic(rpc->subscriptions[i]->topicid, "subscription", err, errlen) != 0)
            return -1;
    for (size_t i = 0; i < rpc->n_publish; i++) {
        const Swarm__Pubsub__Message *m = rpc->publish[i];
        if (ps_check_topic(m->topic, "message", err, errlen) != 0)
            return -1;
        if (m->has_data && m->data.len > PS_MAX_MSG_DATA)
            return err_set(err, errlen, "pubsub: message data of %zu bytes exceeds %u", m->data.len,
                           PS_MAX_MSG_DATA);
    }
    return rpc->control ? ps_check_control(rpc->control, err, errlen) : 0;
}

int ps_rpc_decode(const uint8_t *p, size_t n, size_t max_size, Swarm__Pubsub__RPC **out, char *err,
                  size_t errlen)
{
    *out = NULL;
    if (max_size == 0)
        max_size = PS_RPC_MAX_DEFAULT;
    if (n > max_size)
        return err_set(err, errlen, "pubsub: RPC of %zu bytes exceeds %zu", n, max_size);
    ps_wire_counts c;
    memset(&c, 0, sizeof c);
    if (ps_wire_scan(p, n, &ps_ws_rpc, &c) != 0) {
        if (c.fields > PS_MAX_FIELDS_PER_RPC)
            return err_set(err, errlen, "pubsub: RPC with more than %d fields",
                           PS_MAX_FIELDS_PER_RPC);
        return err_set(err, errlen, "pubsub: malformed RPC (%zu bytes)", n);
    }
    for (int k = 0; k < PS_N_KINDS; k++)
        if (c.kind[k] > PS_MAX_ITEMS_PER_RPC)
            return err_set(err, errlen, "pubsub: %zu %s in one RPC (at most %d)", c.kind[k],
                           ps_kind_names[k], PS_MAX_ITEMS_PER_RPC);
    Swarm__Pubsub__RPC *rpc = swarm__pubsub__rpc__unpack(NULL, n, p);
    if (!rpc)
        return err_set(err, errlen, "pubsub: malformed RPC (%zu bytes)", n);
    if (ps_check_rpc(rpc, err, errlen) != 0) {
        swarm__pubsub__rpc__free_unpacked(rpc, NULL);
        return -1;
    }
    *out = rpc;
    return 0;
}

int ps_rpc_encode(const Swarm__Pubsub__RPC *rpc, size_t max_size, buf_t *out, char *err,
                  size_t errlen)
{
    if (max_size == 0)
        max_size = PS_RPC_MAX_DEFAULT;
    size_t size = swarm__pubsub__rpc__get_packed_size(rpc);
    if (size > max_size)
        return err_set(err, errlen, "pubsub: RPC of %zu bytes exceeds %zu", size, max_size);
    size_t before = out->len;
    if (buf_reserve(out, UVARINT_MAX_LEN + size) != 0 || buf_put_uvarint(out, size) != 0) {
        out->len = before;
        return err_set(err, errlen, "pubsub: output buffer refused %zu bytes", size);
    }
    if (swarm__pubsub__rpc__pack(rpc, out->data + out->len) != size) {
        out->len = before;
        return err_set(err, errlen, "pubsub: RPC encoding size mismatch");
    }
    out->len += size;
    return 0;
}

int ps_rpc_frame(const uint8_t *p, size_t n, size_t max_size, size_t *hdr, size_t *body, char *err,
                 size_t errlen)
{
    if (max_size == 0)
        max_size = PS_RPC_MAX_DEFAULT;
    int rc = uvarint_frame(p, n, max_size, hdr, body);
    if (rc == VARINT_EFRAME) {
        uint64_t len;
        size_t used;
        uvarint_decode(p, n, &len, &used);
        return err_set(err, errlen, "pubsub: RPC of %llu bytes announced (at most %zu)",
                       (unsigned long long)len, max_size);
    }
    if (rc < 0)
        return err_set(err, errlen, "pubsub: RPC length prefix: %s", varint_strerror(rc));
    return rc;
}
