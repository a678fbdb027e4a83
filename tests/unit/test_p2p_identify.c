/* Unit tests for src/p2p/identify.c: the Identify message codec. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "identify.h"
#include "identify.pb-c.h"

/* The Ed25519 public key test vector of libp2p/specs peer-ids/peer-ids.md, as a PublicKey
 * protobuf: 08 01 12 20 followed by the 32 key bytes. */
static const char VECTOR_PUBKEY_HEX[] =
    "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

/* /ip4/127.0.0.1/tcp/4001 and /ip6/::1/tcp/4001 in binary. */
static const uint8_t MA_IP4[] = {0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1};
static const uint8_t MA_IP6[] = {0x29, 0, 0, 0, 0, 0, 0, 0,    0,    0,
                                 0,    0, 0, 0, 0, 0, 1, 0x06, 0x0f, 0xa1};

static void maddr_set(p2p_maddr *ma, const uint8_t *p, size_t n)
{
    memcpy(ma->b, p, n);
    ma->len = (uint16_t)n;
}

/* Packs msg into a malloc'd buffer (the caller frees it). */
static uint8_t *pack(const Swarm__Identify__Identify *msg, size_t *n)
{
    *n = swarm__identify__identify__get_packed_size(msg);
    uint8_t *p = malloc(*n ? *n : 1);
    swarm__identify__identify__pack(msg, p);
    return p;
}

/* Splits an encoded message into its uvarint prefix and body; checks they agree. */
static const uint8_t *body_of(const buf_t *b, size_t *n)
{
    uint64_t len = 0;
    size_t used = 0;
    CHECK_EQ(uvarint_decode(b->data, b->len, &len, &used), 0);
    CHECK_EQ(used + len, b->len);
    *n = (size_t)len;
    return b->data + used;
}

static void test_round_trip(void)
{
    uint8_t key_proto[P2P_PUBKEY_PROTO_LEN];
    size_t klen = 0;
    CHECK_EQ(hex_decode(VECTOR_PUBKEY_HEX, strlen(VECTOR_PUBKEY_HEX), key_proto, &klen, NULL, 0),
             0);
    CHECK_EQ(klen, P2P_PUBKEY_PROTO_LEN);

    char *protos[] = {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", "/swarm/task/1.0.0"};
    p2p_maddr listen[2];
    maddr_set(&listen[0], MA_IP4, sizeof MA_IP4);
    maddr_set(&listen[1], MA_IP6, sizeof MA_IP6);
    identify_info in = {
        .protocol_version = IDENTIFY_PROTOCOL_VERSION,
        .agent = "swarm/0.1.0",
        .has_pubkey = true,
        .protocols = protos,
        .nprotocols = 3,
        .listen = listen,
        .nlisten = 2,
        .has_observed = true,
    };
    memcpy(in.pubkey, key_proto + 4, 32);
    maddr_set(&in.observed, MA_IP4, sizeof MA_IP4);

    buf_t out = {0};
    buf_push(&out, 0xee); /* encode appends */
    char err[160] = "";
    CHECK_EQ(identify_encode(&in, &out, err, sizeof err), 0);
    CHECK_EQ(out.data[0], 0xee);
    buf_t msg = {0};
    buf_append(&msg, out.data + 1, out.len - 1);
    size_t n;
    const uint8_t *body = body_of(&msg, &n);
    /* The public key is the deterministic 36-byte PublicKey protobuf (field 1, length 36). */
    CHECK(n > 38 && body[0] == 0x0a && body[1] == 36 && memcmp(body + 2, key_proto, 36) == 0);

    identify_info got;
    CHECK_EQ(identify_decode(body, n, &got, err, sizeof err), 0);
    CHECK_STR_EQ(got.protocol_version, IDENTIFY_PROTOCOL_VERSION);
    CHECK_STR_EQ(got.agent, "swarm/0.1.0");
    CHECK(got.has_pubkey);
    CHECK_MEM_EQ(got.pubkey, key_proto + 4, 32);
    CHECK_EQ(got.nprotocols, 3);
    for (size_t i = 0; i < got.nprotocols && i < 3; i++)
        CHECK_STR_EQ(got.protocols[i], protos[i]);
    CHECK_EQ(got.nlisten, 2);
    if (got.nlisten == 2) {
        CHECK(got.listen[0].len == sizeof MA_IP4 &&
              memcmp(got.listen[0].b, MA_IP4, sizeof MA_IP4) == 0);
        CHECK(got.listen[1].len == sizeof MA_IP6 &&
              memcmp(got.listen[1].b, MA_IP6, sizeof MA_IP6) == 0);
    }
    CHECK(got.has_observed);
    CHECK(got.observed.len == sizeof MA_IP4 && memcmp(got.observed.b, MA_IP4, sizeof MA_IP4) == 0);
    identify_info_free(&got);
    CHECK(got.agent == NULL && got.protocols == NULL && got.nprotocols == 0 && !got.has_pubkey);
    identify_info_free(&got); /* twice is harmless */

    /* Truncated bodies: cutting into the last field can never decode; no prefix may crash or
     * leak (the ASan build checks the latter). */
    CHECK_EQ(identify_decode(body, n - 1, &got, err, sizeof err), -1);
    CHECK(got.agent == NULL && got.nprotocols == 0);
    for (size_t k = 0; k < n; k++) {
        if (identify_decode(body, k, &got, err, sizeof err) == 0)
            identify_info_free(&got);
    }
    buf_free(&out);
    buf_free(&msg);
}

static void test_empty(void)
{
    identify_info in = {0}, got;
    buf_t out = {0};
    char err[160] = "";
    CHECK_EQ(identify_encode(&in, &out, err, sizeof err), 0);
    CHECK_EQ(out.len, 1);
    CHECK_EQ(out.len ? out.data[0] : 0xff, 0);
    CHECK_EQ(identify_decode(out.data + 1, 0, &got, err, sizeof err), 0);
    CHECK(got.protocol_version == NULL && got.agent == NULL && !got.has_pubkey &&
          got.nprotocols == 0 && got.nlisten == 0 && !got.has_observed);
    identify_info_free(&got);
    buf_free(&out);
}

static void test_rsa_key_refused(void)
{
    /* Identify { publicKey = PublicKey { Type = RSA, Data = de ad be ef } } */
    static const uint8_t rsa[] = {0x0a, 0x08, 0x08, 0x00, 0x12, 0x04, 0xde, 0xad, 0xbe, 0xef};
    identify_info got;
    char err[160] = "";
    CHECK_EQ(identify_decode(rsa, sizeof rsa, &got, err, sizeof err), -1);
    CHECK(strstr(err, "public key") != NULL && strstr(err, "RSA") != NULL);
    CHECK(!got.has_pubkey);

    /* A public key that is not a protobuf at all. */
    static const uint8_t junk[] = {0x0a, 0x03, 0xff, 0xff, 0xff};
    CHECK_EQ(identify_decode(junk, sizeof junk, &got, err, sizeof err), -1);
    CHECK(strstr(err, "public key") != NULL);
}

static void test_malformed(void)
{
    static const uint8_t cases[][6] = {
        {0x0a, 0x05, 0x01},       /* field 1 says 5 bytes, 1 follows */
        {0xff},                   /* a tag cut short */
        {0x0f, 0x00},             /* wire type 7 */
        {0x1a, 0x80},             /* a length cut short */
        {0x2a, 0xff, 0xff, 0xff}, /* field 5 (a string) longer than the message */
    };
    static const size_t lens[] = {3, 1, 2, 2, 4};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        identify_info got;
        char err[160] = "";
        CHECK_EQ(identify_decode(cases[i], lens[i], &got, err, sizeof err), -1);
        CHECK(strstr(err, "malformed") != NULL);
    }

    /* Larger than IDENTIFY_MAX_MSG: refused before parsing. */
    uint8_t *big = calloc(IDENTIFY_MAX_MSG + 1, 1);
    identify_info got;
    char err[160] = "";
    CHECK_EQ(identify_decode(big, IDENTIFY_MAX_MSG + 1, &got, err, sizeof err), -1);
    CHECK(strstr(err, "exceeds") != NULL);
    free(big);
}

static void test_protocol_limits(void)
{
    Swarm__Identify__Identify msg = SWARM__IDENTIFY__IDENTIFY__INIT;
    char *protos[IDENTIFY_MAX_PROTOS + 1];
    for (size_t i = 0; i < IDENTIFY_MAX_PROTOS + 1; i++)
        protos[i] = "/p/1";
    msg.protocols = protos;
    identify_info got;
    char err[160] = "";
    size_t n;

    msg.n_protocols = IDENTIFY_MAX_PROTOS;
    uint8_t *p = pack(&msg, &n);
    CHECK_EQ(identify_decode(p, n, &got, err, sizeof err), 0);
    CHECK_EQ(got.nprotocols, IDENTIFY_MAX_PROTOS);
    identify_info_free(&got);
    free(p);

    msg.n_protocols = IDENTIFY_MAX_PROTOS + 1;
    p = pack(&msg, &n);
    CHECK_EQ(identify_decode(p, n, &got, err, sizeof err), -1);
    CHECK(strstr(err, "129 protocols") != NULL);
    CHECK(got.protocols == NULL);
    free(p);

    /* The encoder holds itself to the same limit. */
    identify_info in = {.protocols = protos, .nprotocols = IDENTIFY_MAX_PROTOS + 1};
    buf_t out = {0};
    CHECK_EQ(identify_encode(&in, &out, err, sizeof err), -1);
    CHECK_EQ(out.len, 0);

    /* An empty protocol id, and one over 1024 bytes, are refused. */
    char *long_id = malloc(1026);
    memset(long_id, 'x', 1025);
    long_id[1025] = '\0';
    char *bad[] = {"/ok/1", "", NULL};
    msg.protocols = bad;
    msg.n_protocols = 2;
    p = pack(&msg, &n);
    CHECK_EQ(identify_decode(p, n, &got, err, sizeof err), -1);
    CHECK(strstr(err, "empty protocol") != NULL);
    free(p);
    bad[1] = long_id;
    p = pack(&msg, &n);
    CHECK_EQ(identify_decode(p, n, &got, err, sizeof err), -1);
    CHECK(strstr(err, "protocol id longer") != NULL);
    free(p);
    in.protocols = bad;
    in.nprotocols = 2;
    CHECK_EQ(identify_encode(&in, &out, err, sizeof err), -1);
    bad[1] = "";
    CHECK_EQ(identify_encode(&in, &out, err, sizeof err), -1);
    CHECK_EQ(out.len, 0);

    /* A 1024-byte agent is fine, 1025 is refused (both ways). */
    msg.n_protocols = 0;
    msg.agentversion = long_id;
    p = pack(&msg, &n);
    CHECK_EQ(identify_decode(p, n, &got, err, sizeof err), -1);
    CHECK(strstr(err, "agent version longer") != NULL);
    free(p);
    identify_info ain = {.agent = long_id};
    CHECK_EQ(identify_encode(&ain, &out, err, sizeof err), -1);
    long_id[1024] = '\0';
    p = pack(&msg, &n);
    CHECK_EQ(identify_decode(p, n, &got, err, sizeof err), 0);
    CHECK(got.agent && strlen(got.agent) == 1024);
    identify_info_free(&got);
    free(p);
    CHECK_EQ(identify_encode(&ain, &out, err, sizeof err), 0);
    msg.agentversion = NULL;
    msg.protocolversion = long_id;
    long_id[1024] = 'x';
    p = pack(&msg, &n);
    CHECK_EQ(identify_decode(p, n, &got, err, sizeof err), -1);
    CHECK(strstr(err, "protocol version longer") != NULL);
    free(p);
    free(long_id);
    buf_free(&out);
}

static void test_bad_addrs_skipped(void)
{
    static const uint8_t unknown[] = {0xff, 0xff, 0x03, 0x01}; /* protocol code 65535 */
    static const uint8_t cut[] = {0x04, 127, 0};               /* ip4 with 2 of 4 bytes */
    static const uint8_t trailing[] = {0x06};                  /* tcp without its port */
    ProtobufCBinaryData addrs[5] = {
        {sizeof unknown, (uint8_t *)unknown}, {sizeof MA_IP4, (uint8_t *)MA_IP4},
        {sizeof cut, (uint8_t *)cut},         {0, NULL},
        {sizeof MA_IP6, (uint8_t *)MA_IP6},
    };
    (void)trailing;
    Swarm__Identify__Identify msg = SWARM__IDENTIFY__IDENTIFY__INIT;
    msg.listenaddrs = addrs;
    msg.n_listenaddrs = 5;
    msg.has_observedaddr = 1;
    msg.observedaddr.data = (uint8_t *)trailing;
    msg.observedaddr.len = sizeof trailing;
    size_t n;
    uint8_t *p = pack(&msg, &n);
    identify_info got;
    char err[160] = "";
    CHECK_EQ(identify_decode(p, n, &got, err, sizeof err), 0);
    CHECK_EQ(got.nlisten, 2);
    if (got.nlisten == 2) {
        CHECK(got.listen[0].len == sizeof MA_IP4 &&
              memcmp(got.listen[0].b, MA_IP4, sizeof MA_IP4) == 0);
        CHECK(got.listen[1].len == sizeof MA_IP6 &&
              memcmp(got.listen[1].b, MA_IP6, sizeof MA_IP6) == 0);
    }
    CHECK(!got.has_observed);
    identify_info_free(&got);
    free(p);

    /* Only bad ones: no array at all. */
    msg.listenaddrs = addrs + 2;
    msg.n_listenaddrs = 2;
    p = pack(&msg, &n);
    CHECK_EQ(identify_decode(p, n, &got, err, sizeof err), 0);
    CHECK_EQ(got.nlisten, 0);
    CHECK(got.listen == NULL);
    identify_info_free(&got);
    free(p);

    /* More than IDENTIFY_MAX_ADDRS: the first ones are kept. */
    ProtobufCBinaryData many[IDENTIFY_MAX_ADDRS + 8];
    for (size_t i = 0; i < IDENTIFY_MAX_ADDRS + 8; i++)
        many[i] = (ProtobufCBinaryData){sizeof MA_IP4, (uint8_t *)MA_IP4};
    msg.listenaddrs = many;
    msg.n_listenaddrs = IDENTIFY_MAX_ADDRS + 8;
    msg.has_observedaddr = 0;
    p = pack(&msg, &n);
    CHECK_EQ(identify_decode(p, n, &got, err, sizeof err), 0);
    CHECK_EQ(got.nlisten, IDENTIFY_MAX_ADDRS);
    identify_info_free(&got);
    free(p);

    /* And the encoder sends at most IDENTIFY_MAX_ADDRS. */
    p2p_maddr mas[IDENTIFY_MAX_ADDRS + 3];
    for (size_t i = 0; i < IDENTIFY_MAX_ADDRS + 3; i++)
        maddr_set(&mas[i], MA_IP6, sizeof MA_IP6);
    identify_info in = {.listen = mas, .nlisten = IDENTIFY_MAX_ADDRS + 3};
    buf_t out = {0};
    CHECK_EQ(identify_encode(&in, &out, err, sizeof err), 0);
    const uint8_t *body = body_of(&out, &n);
    Swarm__Identify__Identify *back = swarm__identify__identify__unpack(NULL, n, body);
    CHECK(back != NULL);
    if (back)
        CHECK_EQ(back->n_listenaddrs, IDENTIFY_MAX_ADDRS);
    swarm__identify__identify__free_unpacked(back, NULL);
    buf_free(&out);
}

static void test_encode_limits(void)
{
    /* 10 protocols of 1000 bytes: over IDENTIFY_MAX_MSG. */
    char *id = malloc(1001);
    memset(id, 'q', 1000);
    id[1000] = '\0';
    char *protos[10];
    for (int i = 0; i < 10; i++)
        protos[i] = id;
    identify_info in = {.protocols = protos, .nprotocols = 10};
    buf_t out = {0};
    char err[160] = "";
    CHECK_EQ(identify_encode(&in, &out, err, sizeof err), -1);
    CHECK(strstr(err, "exceeds 8192") != NULL);
    CHECK_EQ(out.len, 0);

    /* A bounded output buffer that is too small: refused, unchanged. */
    in.nprotocols = 1;
    buf_t small;
    buf_init(&small, 100);
    buf_puts(&small, "ab");
    CHECK_EQ(identify_encode(&in, &small, err, sizeof err), -1);
    CHECK_EQ(small.len, 2);
    CHECK(strstr(err, "refused") != NULL);
    buf_free(&small);
    free(id);
    buf_free(&out);
}

int main(void)
{
    test_round_trip();
    test_empty();
    test_rsa_key_refused();
    test_malformed();
    test_protocol_limits();
    test_bad_addrs_skipped();
    test_encode_limits();
    return CHECK_DONE();
}
