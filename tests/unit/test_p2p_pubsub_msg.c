/* Unit tests for src/p2p/pubsub_msg.c: signed pubsub messages (StrictSign), message ids, and
 * the RPC codec with its limits. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pubsub_msg.h"

static char err[256];

/* Packs rpc framed into b and returns the decoded RPC (NULL on failure), checking the frame. */
static Swarm__Pubsub__RPC *roundtrip(const Swarm__Pubsub__RPC *rpc, buf_t *b)
{
    buf_clear(b);
    CHECK_EQ(ps_rpc_encode(rpc, 0, b, err, sizeof err), 0);
    size_t hdr = 0, body = 0;
    CHECK_EQ(ps_rpc_frame(b->data, b->len, 0, &hdr, &body, err, sizeof err), 1);
    CHECK_EQ(hdr + body, b->len);
    Swarm__Pubsub__RPC *out = NULL;
    CHECK_EQ(ps_rpc_decode(b->data + hdr, body, 0, &out, err, sizeof err), 0);
    return out;
}

/* Packs an RPC into a malloc'd buffer (no frame). */
static uint8_t *pack(const Swarm__Pubsub__RPC *rpc, size_t *n)
{
    *n = swarm__pubsub__rpc__get_packed_size(rpc);
    uint8_t *p = malloc(*n ? *n : 1);
    swarm__pubsub__rpc__pack(rpc, p);
    return p;
}

/* Decodes a packed rpc with the default limit; returns ps_rpc_decode's result. */
static int decode_rc(const Swarm__Pubsub__RPC *rpc)
{
    size_t n;
    uint8_t *p = pack(rpc, &n);
    Swarm__Pubsub__RPC *out = (Swarm__Pubsub__RPC *)1;
    int rc = ps_rpc_decode(p, n, 0, &out, err, sizeof err);
    if (rc == 0)
        swarm__pubsub__rpc__free_unpacked(out, NULL);
    else
        CHECK(out == NULL);
    free(p);
    return rc;
}

static void test_roundtrip(const p2p_key *k)
{
    ps_message m, r;
    const char *data = "hello mesh";
    CHECK_EQ(ps_msg_sign(k, "swarm/tasks", (const uint8_t *)data, strlen(data),
                         0x0102030405060708ull, &m, err, sizeof err),
             0);
    CHECK(m.has_from && m.has_seqno && m.has_sig && m.has_key && m.has_data);
    CHECK_EQ(m.seqno[0], 1);
    CHECK_EQ(m.seqno[7], 8);
    CHECK_EQ(ps_msg_verify(&m, err, sizeof err), 0);

    Swarm__Pubsub__Message pb;
    uint8_t keybuf[P2P_PUBKEY_PROTO_LEN];
    ps_msg_to_pb(&m, &pb, keybuf);
    Swarm__Pubsub__Message *pubs[1] = {&pb};
    Swarm__Pubsub__SubOpts sub = SWARM__PUBSUB__SUB_OPTS__INIT;
    sub.has_subscribe = 1;
    sub.subscribe = 1;
    sub.topicid = "swarm/tasks";
    Swarm__Pubsub__SubOpts *subs[1] = {&sub};
    Swarm__Pubsub__RPC rpc = SWARM__PUBSUB__RPC__INIT;
    rpc.n_publish = 1;
    rpc.publish = pubs;
    rpc.n_subscriptions = 1;
    rpc.subscriptions = subs;

    buf_t b;
    buf_init(&b, 0);
    Swarm__Pubsub__RPC *got = roundtrip(&rpc, &b);
    CHECK(got != NULL);
    if (got) {
        CHECK_EQ(got->n_subscriptions, 1);
        CHECK_EQ(got->n_publish, 1);
        CHECK_EQ(ps_msg_from_pb(got->publish[0], &r, err, sizeof err), 0);
        CHECK_STR_EQ(r.topic, "swarm/tasks");
        CHECK_EQ(r.len, strlen(data));
        CHECK(r.data && memcmp(r.data, data, r.len) == 0);
        CHECK(p2p_peer_id_eq(&r.from, &m.from));
        CHECK_MEM_EQ(r.seqno, m.seqno, 8);
        CHECK(r.has_key && memcmp(r.key_pk, k->pk, 32) == 0);
        CHECK_EQ(ps_msg_verify(&r, err, sizeof err), 0);

        /* Without key, from (an identity multihash) still provides it. */
        r.has_key = false;
        CHECK_EQ(ps_msg_verify(&r, err, sizeof err), 0);
        ps_message_free(&r);
        CHECK(r.topic == NULL && r.data == NULL);
        ps_message_free(&r); /* twice is fine */
        swarm__pubsub__rpc__free_unpacked(got, NULL);
    }
    buf_free(&b);
    ps_message_free(&m);
}

/* The signed bytes are exactly prefix + from(1) data(2) seqno(3) topic(4), in that order. */
static void test_signed_encoding(const p2p_key *k)
{
    ps_message m;
    CHECK_EQ(ps_msg_sign(k, "t", (const uint8_t *)"ab", 2, 7, &m, err, sizeof err), 0);
    uint8_t exp[128];
    size_t n = 0;
    memcpy(exp, "libp2p-pubsub:", 14);
    n = 14;
    exp[n++] = 0x0a;
    exp[n++] = m.from.len;
    memcpy(exp + n, m.from.b, m.from.len);
    n += m.from.len;
    exp[n++] = 0x12;
    exp[n++] = 2;
    exp[n++] = 'a';
    exp[n++] = 'b';
    exp[n++] = 0x1a;
    exp[n++] = 8;
    memcpy(exp + n, "\0\0\0\0\0\0\0\x07", 8);
    n += 8;
    exp[n++] = 0x22;
    exp[n++] = 1;
    exp[n++] = 't';
    CHECK(p2p_key_verify(k->pk, exp, n, m.sig));
    CHECK_EQ(m.from.len, 38); /* identity multihash: 00 24 + 36-byte PublicKey */
    ps_message_free(&m);
}

static void test_tamper(const p2p_key *k, const p2p_key *k2)
{
    ps_message m;
    CHECK_EQ(ps_msg_sign(k, "topic", (const uint8_t *)"data", 4, 1, &m, err, sizeof err), 0);

    m.data[0] ^= 1;
    CHECK_EQ(ps_msg_verify(&m, err, sizeof err), -1);
    CHECK_STR_EQ(err, "pubsub: bad signature");
    m.data[0] ^= 1;
    CHECK_EQ(ps_msg_verify(&m, err, sizeof err), 0);

    m.topic[0] = 'T';
    CHECK_EQ(ps_msg_verify(&m, err, sizeof err), -1);
    m.topic[0] = 't';

    m.seqno[7] ^= 1;
    CHECK_EQ(ps_msg_verify(&m, err, sizeof err), -1);
    m.seqno[7] ^= 1;

    /* Empty data present is not the same as data absent: presence is signed too. */
    m.has_data = false;
    CHECK_EQ(ps_msg_verify(&m, err, sizeof err), -1);
    m.has_data = true;

    m.sig[10] ^= 0x40;
    CHECK_EQ(ps_msg_verify(&m, err, sizeof err), -1);
    m.sig[10] ^= 0x40;

    /* key field not matching from */
    memcpy(m.key_pk, k2->pk, 32);
    CHECK_EQ(ps_msg_verify(&m, err, sizeof err), -1);
    CHECK_STR_EQ(err, "pubsub: key does not match from");
    memcpy(m.key_pk, k->pk, 32);

    m.has_sig = false;
    CHECK_EQ(ps_msg_verify(&m, err, sizeof err), -1);
    CHECK_STR_EQ(err, "pubsub: unsigned message: no signature");
    m.has_sig = true;
    m.has_seqno = false;
    CHECK_EQ(ps_msg_verify(&m, err, sizeof err), -1);
    CHECK_STR_EQ(err, "pubsub: unsigned message: no seqno");
    m.has_seqno = true;
    m.has_from = false;
    CHECK_EQ(ps_msg_verify(&m, err, sizeof err), -1);
    CHECK_STR_EQ(err, "pubsub: unsigned message: no from");
    m.has_from = true;
    CHECK_EQ(ps_msg_verify(&m, err, sizeof err), 0);
    ps_message_free(&m);

    /* Signed by k2 but claiming to be from k: with k2's key, without a key. */
    ps_message f;
    CHECK_EQ(ps_msg_sign(k2, "topic", (const uint8_t *)"x", 1, 9, &f, err, sizeof err), 0);
    p2p_peer_id_from_pubkey(k->pk, &f.from);
    CHECK_EQ(ps_msg_verify(&f, err, sizeof err), -1);
    CHECK_STR_EQ(err, "pubsub: key does not match from");
    f.has_key = false;
    CHECK_EQ(ps_msg_verify(&f, err, sizeof err), -1);
    CHECK_STR_EQ(err, "pubsub: bad signature");
    /* ... and a from that embeds no key (sha2-256 multihash) with no key field. */
    f.from.b[0] = 0x12;
    f.from.b[1] = 32;
    f.from.len = 34;
    CHECK_EQ(ps_msg_verify(&f, err, sizeof err), -1);
    CHECK_STR_EQ(err, "pubsub: no key, and from embeds no Ed25519 key");
    ps_message_free(&f);
}

/* A message signed without a data field verifies only while data stays absent. */
static void test_absent_data(const p2p_key *k)
{
    ps_message m;
    CHECK_EQ(ps_msg_sign(k, "t", NULL, 0, 3, &m, err, sizeof err), 0);
    CHECK(m.data == NULL && m.len == 0 && m.has_data);
    CHECK_EQ(ps_msg_verify(&m, err, sizeof err), 0);
    Swarm__Pubsub__Message pb;
    uint8_t keybuf[P2P_PUBKEY_PROTO_LEN];
    m.has_data = false;
    ps_msg_to_pb(&m, &pb, keybuf);
    pb.has_signature = 0;
    pb.has_key = 0;
    size_t n = swarm__pubsub__message__get_packed_size(&pb);
    uint8_t buf[256];
    memcpy(buf, PS_SIGN_PREFIX, 14);
    CHECK(14 + n <= sizeof buf);
    swarm__pubsub__message__pack(&pb, buf + 14);
    p2p_key_sign(k, buf, 14 + n, m.sig);
    CHECK_EQ(ps_msg_verify(&m, err, sizeof err), 0);

    /* through the wire: absence survives decoding */
    ps_msg_to_pb(&m, &pb, keybuf);
    Swarm__Pubsub__Message *pubs[1] = {&pb};
    Swarm__Pubsub__RPC rpc = SWARM__PUBSUB__RPC__INIT;
    rpc.n_publish = 1;
    rpc.publish = pubs;
    buf_t b;
    buf_init(&b, 0);
    Swarm__Pubsub__RPC *got = roundtrip(&rpc, &b);
    ps_message r;
    CHECK(got && ps_msg_from_pb(got->publish[0], &r, err, sizeof err) == 0);
    if (got) {
        CHECK(!r.has_data);
        CHECK_EQ(ps_msg_verify(&r, err, sizeof err), 0);
        r.has_data = true;
        CHECK_EQ(ps_msg_verify(&r, err, sizeof err), -1);
        ps_message_free(&r);
        swarm__pubsub__rpc__free_unpacked(got, NULL);
    }
    buf_free(&b);
    ps_message_free(&m);
}

static void test_sign_refusals(const p2p_key *k)
{
    ps_message m;
    char big[PS_MAX_TOPIC_LEN + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_EQ(ps_msg_sign(k, big, NULL, 0, 1, &m, err, sizeof err), -1);
    CHECK(m.topic == NULL);
    big[PS_MAX_TOPIC_LEN] = '\0';
    CHECK_EQ(ps_msg_sign(k, big, NULL, 0, 1, &m, err, sizeof err), 0);
    ps_message_free(&m);
    CHECK_EQ(ps_msg_sign(k, "", NULL, 0, 1, &m, err, sizeof err), -1);
    CHECK_EQ(ps_msg_sign(k, NULL, NULL, 0, 1, &m, err, sizeof err), -1);
    uint8_t *data = calloc(1, PS_MAX_MSG_DATA + 1);
    CHECK_EQ(ps_msg_sign(k, "t", data, PS_MAX_MSG_DATA + 1, 1, &m, err, sizeof err), -1);
    CHECK(m.topic == NULL && m.data == NULL);
    CHECK_EQ(ps_msg_sign(k, "t", data, PS_MAX_MSG_DATA, 1, &m, err, sizeof err), 0);
    CHECK_EQ(ps_msg_verify(&m, err, sizeof err), 0);
    ps_message_free(&m);
    free(data);
}

static void test_from_pb_refusals(const p2p_key *k)
{
    ps_message m, r;
    CHECK_EQ(ps_msg_sign(k, "t", (const uint8_t *)"d", 1, 1, &m, err, sizeof err), 0);
    Swarm__Pubsub__Message pb;
    uint8_t keybuf[P2P_PUBKEY_PROTO_LEN];

    ps_msg_to_pb(&m, &pb, keybuf);
    CHECK_EQ(ps_msg_from_pb(&pb, &r, err, sizeof err), 0);
    ps_message_free(&r);

    pb.topic = NULL;
    CHECK_EQ(ps_msg_from_pb(&pb, &r, err, sizeof err), -1);
    CHECK_STR_EQ(err, "pubsub: message without a topic");
    pb.topic = "";
    CHECK_EQ(ps_msg_from_pb(&pb, &r, err, sizeof err), -1);
    CHECK(r.topic == NULL && r.data == NULL);

    ps_msg_to_pb(&m, &pb, keybuf);
    pb.seqno.len = 7;
    CHECK_EQ(ps_msg_from_pb(&pb, &r, err, sizeof err), -1);
    ps_msg_to_pb(&m, &pb, keybuf);
    pb.signature.len = 63;
    CHECK_EQ(ps_msg_from_pb(&pb, &r, err, sizeof err), -1);
    ps_msg_to_pb(&m, &pb, keybuf);
    keybuf[1] = 2; /* a secp256k1 key: refused */
    CHECK_EQ(ps_msg_from_pb(&pb, &r, err, sizeof err), -1);
    ps_msg_to_pb(&m, &pb, keybuf);
    pb.from.len = 5;
    CHECK_EQ(ps_msg_from_pb(&pb, &r, err, sizeof err), -1);
    CHECK(strncmp(err, "pubsub: from: ", 14) == 0);

    /* An unsigned message decodes but does not verify. */
    ps_msg_to_pb(&m, &pb, keybuf);
    pb.has_signature = 0;
    pb.has_key = 0;
    CHECK_EQ(ps_msg_from_pb(&pb, &r, err, sizeof err), 0);
    CHECK_EQ(ps_msg_verify(&r, err, sizeof err), -1);
    ps_message_free(&r);
    ps_message_free(&m);
}

static void test_ids(const p2p_key *k)
{
    ps_message m;
    ps_msg_id id;
    CHECK_EQ(
        ps_msg_sign(k, "t", (const uint8_t *)"abc", 3, 0x1122334455667788ull, &m, err, sizeof err),
        0);
    CHECK_EQ(ps_msg_id_default(&m, &id, err, sizeof err), 0);
    CHECK_EQ(id.len, m.from.len + 8);
    CHECK_MEM_EQ(id.b, m.from.b, m.from.len);
    CHECK_MEM_EQ(id.b + m.from.len, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);

    /* SHA-256("abc"), FIPS 180-2 */
    static const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                    0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                    0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    ps_msg_id_content(&m, &id);
    CHECK_EQ(id.len, 32);
    CHECK_MEM_EQ(id.b, abc, 32);

    m.has_seqno = false;
    CHECK_EQ(ps_msg_id_default(&m, &id, err, sizeof err), -1);
    ps_message_free(&m);

    /* empty data: SHA-256("") starts e3 b0 c4 42 */
    CHECK_EQ(ps_msg_sign(k, "t", NULL, 0, 1, &m, err, sizeof err), 0);
    ps_msg_id_content(&m, &id);
    CHECK_MEM_EQ(id.b, "\xe3\xb0\xc4\x42", 4);
    ps_message_free(&m);
}

static void test_frame(void)
{
    size_t hdr = 99, body = 99;
    uint8_t p[16] = {0x05, 1, 2, 3, 4, 5, 6};
    CHECK_EQ(ps_rpc_frame(p, 0, 0, &hdr, &body, err, sizeof err), 0);
    CHECK_EQ(ps_rpc_frame(p, 5, 0, &hdr, &body, err, sizeof err), 0);
    CHECK_EQ(ps_rpc_frame(p, 6, 0, &hdr, &body, err, sizeof err), 1);
    CHECK_EQ(hdr, 1);
    CHECK_EQ(body, 5);
    CHECK_EQ(ps_rpc_frame(p, 6, 4, &hdr, &body, err, sizeof err), -1); /* over max */
    /* 0x80 0x80 0x80 0x01 = 2 MiB: refused from the prefix alone */
    uint8_t big[4] = {0x80, 0x80, 0x80, 0x01};
    CHECK_EQ(ps_rpc_frame(big, 4, 0, &hdr, &body, err, sizeof err), -1);
    CHECK_EQ(ps_rpc_frame(big, 2, 0, &hdr, &body, err, sizeof err), 0); /* prefix incomplete */
    uint8_t nonmin[2] = {0x81, 0x00};
    CHECK_EQ(ps_rpc_frame(nonmin, 2, 0, &hdr, &body, err, sizeof err), -1);
    uint8_t zero[1] = {0};
    CHECK_EQ(ps_rpc_frame(zero, 1, 0, &hdr, &body, err, sizeof err), 1);
    CHECK_EQ(body, 0);
}

static void test_rpc_limits(void)
{
    /* malformed bytes, an empty RPC */
    static const uint8_t junk[] = {0x12, 0x05, 0x01};
    Swarm__Pubsub__RPC *out = NULL;
    CHECK_EQ(ps_rpc_decode(junk, sizeof junk, 0, &out, err, sizeof err), -1);
    CHECK(out == NULL);
    CHECK_EQ(ps_rpc_decode(junk, 0, 0, &out, err, sizeof err), 0);
    CHECK(out && out->n_publish == 0 && out->control == NULL);
    swarm__pubsub__rpc__free_unpacked(out, NULL);

    /* oversized: against the default bound and a caller's bound */
    uint8_t *data = calloc(1, PS_MAX_MSG_DATA + 1);
    Swarm__Pubsub__Message msg = SWARM__PUBSUB__MESSAGE__INIT;
    msg.topic = "t";
    msg.has_data = 1;
    msg.data.data = data;
    msg.data.len = PS_MAX_MSG_DATA + 1;
    Swarm__Pubsub__Message *pubs[1] = {&msg};
    Swarm__Pubsub__RPC rpc = SWARM__PUBSUB__RPC__INIT;
    rpc.n_publish = 1;
    rpc.publish = pubs;
    CHECK_EQ(decode_rc(&rpc), -1); /* fits the RPC bound, not the message bound */
    size_t n;
    uint8_t *p = pack(&rpc, &n);
    CHECK_EQ(ps_rpc_decode(p, n, 1000, &out, err, sizeof err), -1);
    CHECK(strstr(err, "exceeds") != NULL);
    free(p);
    buf_t b;
    buf_init(&b, 0);
    CHECK_EQ(ps_rpc_encode(&rpc, 1000, &b, err, sizeof err), -1);
    CHECK_EQ(b.len, 0);
    msg.data.len = PS_RPC_MAX_DEFAULT;
    free(data);
    data = calloc(1, PS_RPC_MAX_DEFAULT);
    msg.data.data = data;
    p = pack(&rpc, &n);
    CHECK_EQ(ps_rpc_decode(p, n, 0, &out, err, sizeof err), -1);
    free(p);
    CHECK_EQ(ps_rpc_encode(&rpc, 0, &b, err, sizeof err), -1);
    free(data);
    msg.data.len = 0;
    msg.data.data = NULL;
    CHECK_EQ(decode_rc(&rpc), 0);

    /* topic lengths */
    char topic[PS_MAX_TOPIC_LEN + 2];
    memset(topic, 'x', sizeof topic - 1);
    topic[sizeof topic - 1] = '\0';
    msg.topic = topic;
    CHECK_EQ(decode_rc(&rpc), -1);
    topic[PS_MAX_TOPIC_LEN] = '\0';
    CHECK_EQ(decode_rc(&rpc), 0);
    rpc.n_publish = 0;
    topic[PS_MAX_TOPIC_LEN] = 'x';
    Swarm__Pubsub__SubOpts sub = SWARM__PUBSUB__SUB_OPTS__INIT;
    sub.topicid = topic;
    Swarm__Pubsub__SubOpts *subs[1] = {&sub};
    rpc.n_subscriptions = 1;
    rpc.subscriptions = subs;
    CHECK_EQ(decode_rc(&rpc), -1);
    topic[PS_MAX_TOPIC_LEN] = '\0';
    CHECK_EQ(decode_rc(&rpc), 0);
    rpc.n_subscriptions = 0;

    /* control: ids, counts, topics */
    Swarm__Pubsub__ControlMessage ctl = SWARM__PUBSUB__CONTROL_MESSAGE__INIT;
    rpc.control = &ctl;
    enum { NIDS = 3000 };
    ProtobufCBinaryData *ids = calloc(NIDS, sizeof *ids);
    uint8_t idbytes[PS_MAX_MSG_ID_LEN + 1] = {0};
    for (size_t i = 0; i < NIDS; i++) {
        ids[i].data = idbytes;
        ids[i].len = 46;
    }
    Swarm__Pubsub__ControlIHave ih = SWARM__PUBSUB__CONTROL_IHAVE__INIT;
    ih.topicid = "t";
    ih.n_messageids = NIDS;
    ih.messageids = ids;
    Swarm__Pubsub__ControlIHave *ihs[2] = {&ih, &ih};
    ctl.n_ihave = 1;
    ctl.ihave = ihs;
    CHECK_EQ(decode_rc(&rpc), 0);
    ctl.n_ihave = 2; /* 6000 ids in all */
    CHECK_EQ(decode_rc(&rpc), -1);
    CHECK(strstr(err, "IHAVE message ids") != NULL);
    ctl.n_ihave = 1;
    ids[5].len = PS_MAX_MSG_ID_LEN + 1;
    CHECK_EQ(decode_rc(&rpc), -1);
    ids[5].len = PS_MAX_MSG_ID_LEN;
    CHECK_EQ(decode_rc(&rpc), 0);
    ih.topicid = topic;
    topic[PS_MAX_TOPIC_LEN] = 'x';
    CHECK_EQ(decode_rc(&rpc), -1);
    topic[PS_MAX_TOPIC_LEN] = '\0';
    ctl.n_ihave = 0;

    Swarm__Pubsub__ControlIDontWant idw = SWARM__PUBSUB__CONTROL_IDONT_WANT__INIT;
    idw.n_messageids = NIDS;
    idw.messageids = ids;
    Swarm__Pubsub__ControlIDontWant *idws[2] = {&idw, &idw};
    ctl.n_idontwant = 2;
    ctl.idontwant = idws;
    CHECK_EQ(decode_rc(&rpc), -1);
    CHECK(strstr(err, "IDONTWANT") != NULL);
    ctl.n_idontwant = 1;
    CHECK_EQ(decode_rc(&rpc), 0);
    ctl.n_idontwant = 0;

    Swarm__Pubsub__ControlIWant iw = SWARM__PUBSUB__CONTROL_IWANT__INIT;
    iw.n_messageids = NIDS;
    iw.messageids = ids;
    Swarm__Pubsub__ControlIWant *iws[2] = {&iw, &iw};
    ctl.n_iwant = 2;
    ctl.iwant = iws;
    CHECK_EQ(decode_rc(&rpc), -1);
    ctl.n_iwant = 0;

    /* prune with a peer id too long, and v1.1 fields surviving a round trip */
    Swarm__Pubsub__PeerInfo pi = SWARM__PUBSUB__PEER_INFO__INIT;
    pi.has_peerid = 1;
    pi.peerid.data = idbytes;
    pi.peerid.len = P2P_PEER_ID_MAX + 1;
    Swarm__Pubsub__PeerInfo *pis[1] = {&pi};
    Swarm__Pubsub__ControlPrune pr = SWARM__PUBSUB__CONTROL_PRUNE__INIT;
    pr.topicid = "t";
    pr.n_peers = 1;
    pr.peers = pis;
    pr.has_backoff = 1;
    pr.backoff = 60;
    Swarm__Pubsub__ControlPrune *prs[1] = {&pr};
    ctl.n_prune = 1;
    ctl.prune = prs;
    CHECK_EQ(decode_rc(&rpc), -1);
    pi.peerid.len = 38;
    Swarm__Pubsub__ControlGraft gr = SWARM__PUBSUB__CONTROL_GRAFT__INIT;
    gr.topicid = "t";
    Swarm__Pubsub__ControlGraft *grs[1] = {&gr};
    ctl.n_graft = 1;
    ctl.graft = grs;
    ctl.n_idontwant = 1;
    idw.n_messageids = 1;
    Swarm__Pubsub__RPC *got = roundtrip(&rpc, &b);
    CHECK(got && got->control);
    if (got && got->control) {
        CHECK_EQ(got->control->n_prune, 1);
        CHECK_EQ(got->control->prune[0]->backoff, 60);
        CHECK_EQ(got->control->prune[0]->n_peers, 1);
        CHECK_EQ(got->control->n_graft, 1);
        CHECK_STR_EQ(got->control->graft[0]->topicid, "t");
        CHECK_EQ(got->control->n_idontwant, 1);
        CHECK_EQ(got->control->idontwant[0]->messageids[0].len, 46);
    }
    if (got)
        swarm__pubsub__rpc__free_unpacked(got, NULL);
    free(ids);
    buf_free(&b);
}

/* IDONTWANT is field 5 of ControlMessage (gossipsub v1.2): check the bytes, not just our own
 * round trip. RPC { control(3) { idontwant(5) { messageIDs(1) = "ab" } } } */
static void test_idontwant_wire(void)
{
    static const uint8_t wire[] = {0x1a, 0x06, 0x2a, 0x04, 0x0a, 0x02, 'a', 'b'};
    Swarm__Pubsub__RPC *out = NULL;
    CHECK_EQ(ps_rpc_decode(wire, sizeof wire, 0, &out, err, sizeof err), 0);
    CHECK(out && out->control && out->control->n_idontwant == 1);
    if (out && out->control && out->control->n_idontwant == 1) {
        CHECK_EQ(out->control->idontwant[0]->n_messageids, 1);
        CHECK_MEM_EQ(out->control->idontwant[0]->messageids[0].data, "ab", 2);
    }
    if (out)
        swarm__pubsub__rpc__free_unpacked(out, NULL);
}

/* Lists are counted on the wire before protobuf-c allocates for them. */
static void test_wire_scan(void)
{
    enum { CAP = 3 * 70000 + 16 };
    uint8_t *p = malloc(CAP);
    Swarm__Pubsub__RPC *out = NULL;
    size_t n = 0;

    /* 5000 empty SubOpts pass, 5001 do not */
    for (int i = 0; i < PS_MAX_ITEMS_PER_RPC; i++) {
        p[n++] = 0x0a;
        p[n++] = 0x00;
    }
    CHECK_EQ(ps_rpc_decode(p, n, 0, &out, err, sizeof err), 0);
    CHECK(out && out->n_subscriptions == PS_MAX_ITEMS_PER_RPC);
    if (out)
        swarm__pubsub__rpc__free_unpacked(out, NULL);
    p[n++] = 0x0a;
    p[n++] = 0x00;
    CHECK_EQ(ps_rpc_decode(p, n, 0, &out, err, sizeof err), -1);
    CHECK_STR_EQ(err, "pubsub: 5001 subscriptions in one RPC (at most 5000)");

    /* one Message whose topic field comes 70000 times: over the field bound */
    n = 0;
    p[n++] = 0x12;
    size_t inner = 70000 * 3;
    n += uvarint_encode(inner, p + n);
    for (int i = 0; i < 70000; i++) {
        p[n++] = 0x22;
        p[n++] = 0x01;
        p[n++] = 't';
    }
    CHECK_EQ(ps_rpc_decode(p, n, 0, &out, err, sizeof err), -1);
    CHECK(strstr(err, "fields") != NULL);

    /* unknown fields (number 15, varint 0) at the top level count too */
    n = 0;
    for (int i = 0; i < 70000; i++) {
        p[n++] = 0x78;
        p[n++] = 0x00;
    }
    CHECK_EQ(ps_rpc_decode(p, n, 0, &out, err, sizeof err), -1);
    CHECK(strstr(err, "fields") != NULL);
    CHECK_EQ(ps_rpc_decode(p, 2000, 0, &out, err, sizeof err), 0); /* a few are ignored */
    if (out)
        swarm__pubsub__rpc__free_unpacked(out, NULL);

    /* IHAVE ids split over many control fields still add up */
    uint8_t tmp[UVARINT_MAX_LEN];
    n = 0;
    for (int i = 0; i < 2; i++) {
        /* control { ihave { 3000 x messageIDs "" } } */
        size_t ih = 3000 * 2, ctl = 1 + uvarint_encode(ih, tmp) + ih;
        p[n++] = 0x1a;
        n += uvarint_encode(ctl, p + n);
        p[n++] = 0x0a;
        n += uvarint_encode(ih, p + n);
        for (int j = 0; j < 3000; j++) {
            p[n++] = 0x12;
            p[n++] = 0x00;
        }
    }
    CHECK_EQ(ps_rpc_decode(p, n, 0, &out, err, sizeof err), -1);
    CHECK_STR_EQ(err, "pubsub: 6000 IHAVE message ids in one RPC (at most 5000)");

    /* malformed: a group, a truncated length */
    static const uint8_t group[] = {0x0b, 0x0c};
    CHECK_EQ(ps_rpc_decode(group, sizeof group, 0, &out, err, sizeof err), -1);
    static const uint8_t trunc[] = {0x12, 0x80};
    CHECK_EQ(ps_rpc_decode(trunc, sizeof trunc, 0, &out, err, sizeof err), -1);
    CHECK(out == NULL);
    /* field 0 with a non-minimal tag: protobuf-c would accept it but not its own re-encoding */
    static const uint8_t field0[] = {0x82, 0x00, 0x00};
    CHECK_EQ(ps_rpc_decode(field0, sizeof field0, 0, &out, err, sizeof err), -1);
    CHECK(out == NULL);
    free(p);
}

int main(void)
{
    p2p_key k, k2;
    CHECK_EQ(p2p_key_generate(&k, err, sizeof err), 0);
    CHECK_EQ(p2p_key_generate(&k2, err, sizeof err), 0);
    test_roundtrip(&k);
    test_signed_encoding(&k);
    test_tamper(&k, &k2);
    test_absent_data(&k);
    test_sign_refusals(&k);
    test_from_pb_refusals(&k);
    test_ids(&k);
    test_frame();
    test_rpc_limits();
    test_idontwant_wire();
    test_wire_scan();
    return CHECK_DONE();
}
