/* peerid.c - peer ids: multihashes of public keys, in binary, base58btc and CIDv1 forms. */
#include <string.h>

#include "p2p.h"

#define MH_IDENTITY      0x00
#define MH_SHA2_256      0x12
#define CID_LIBP2P_KEY   0x72
#define PEER_ID_TEXT_MAX 256 /* longer text cannot hold an id we accept, in any base we know */

void p2p_peer_id_from_pubkey(const uint8_t pk[32], p2p_peer_id *id)
{
    id->b[0] = MH_IDENTITY;
    id->b[1] = P2P_PUBKEY_PROTO_LEN;
    p2p_pubkey_encode(pk, id->b + 2);
    id->len = 2 + P2P_PUBKEY_PROTO_LEN;
}

int p2p_peer_id_from_bytes(const uint8_t *p, size_t n, p2p_peer_id *id, char *err, size_t errlen)
{
    if (n < 2)
        return err_set(err, errlen, "peer id too short (%zu bytes)", n);
    if (n > P2P_PEER_ID_MAX)
        return err_set(err, errlen, "peer id too long (%zu bytes, at most %d)", n, P2P_PEER_ID_MAX);
    uint64_t code, len;
    size_t u1, u2;
    if (uvarint_decode(p, n, &code, &u1) != 0)
        return err_set(err, errlen, "peer id: malformed multihash code");
    if (uvarint_decode(p + u1, n - u1, &len, &u2) != 0)
        return err_set(err, errlen, "peer id: malformed multihash length");
    size_t head = u1 + u2;
    if (code == MH_IDENTITY) {
        if (len == 0 || len > P2P_PEER_ID_MAX - 2)
            return err_set(err, errlen, "peer id: identity multihash of %llu bytes",
                           (unsigned long long)len);
    } else if (code == MH_SHA2_256) {
        if (len != 32)
            return err_set(err, errlen, "peer id: sha2-256 multihash of %llu bytes, expected 32",
                           (unsigned long long)len);
    } else {
        return err_set(err, errlen,
                       "peer id: unsupported multihash 0x%llx (only identity and sha2-256)",
                       (unsigned long long)code);
    }
    if (len != n - head)
        return err_set(err, errlen, "peer id: multihash says %llu bytes of digest, has %zu",
                       (unsigned long long)len, n - head);
    memcpy(id->b, p, n);
    id->len = (uint8_t)n;
    return 0;
}

/* Reads a CIDv1's bytes: version 1, the libp2p-key codec, then the multihash. */
static int cid_bytes(const uint8_t *p, size_t n, p2p_peer_id *id, char *err, size_t errlen)
{
    uint64_t version, codec;
    size_t u1, u2;
    if (uvarint_decode(p, n, &version, &u1) != 0)
        return err_set(err, errlen, "peer id CID: malformed version");
    if (version != 1)
        return err_set(err, errlen, "peer id CID: version %llu, expected 1",
                       (unsigned long long)version);
    if (uvarint_decode(p + u1, n - u1, &codec, &u2) != 0)
        return err_set(err, errlen, "peer id CID: malformed codec");
    if (codec != CID_LIBP2P_KEY)
        return err_set(err, errlen, "peer id CID: codec 0x%llx is not libp2p-key (0x72)",
                       (unsigned long long)codec);
    return p2p_peer_id_from_bytes(p + u1 + u2, n - u1 - u2, id, err, errlen);
}

/* True if s[0..n) has a character in [lo, hi]. */
static bool has_range(const char *s, size_t n, char lo, char hi)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= lo && s[i] <= hi)
            return true;
    return false;
}

int p2p_peer_id_parse(const char *text, p2p_peer_id *id, char *err, size_t errlen)
{
    size_t n = strnlen(text, PEER_ID_TEXT_MAX + 1);
    if (n == 0)
        return err_set(err, errlen, "empty peer id");
    if (n > PEER_ID_TEXT_MAX)
        return err_set(err, errlen, "peer id text too long");
    /* CIDv1 bytes: two one-byte varints (1, 0x72) and the multihash. */
    uint8_t b[P2P_PEER_ID_MAX + 2];
    size_t len;
    char why[160];
    /* Per the peer-ids spec: "1..." (identity) and "Qm..." (sha2-256) are bare base58btc
     * multihashes; anything else is a multibase-encoded CID. */
    if (text[0] == '1' || (text[0] == 'Q' && text[1] == 'm')) {
        if (base58_decode(text, n, b, P2P_PEER_ID_MAX, &len, why, sizeof why) != 0)
            return err_set(err, errlen, "peer id '%.60s': %s", text, why);
        if (p2p_peer_id_from_bytes(b, len, id, why, sizeof why) != 0)
            return err_set(err, errlen, "peer id '%.60s': %s", text, why);
        return 0;
    }
    int rc;
    switch (text[0]) {
    case 'b': /* base32, lowercase */
    case 'B': /* base32, uppercase */
        if (has_range(text + 1, n - 1, text[0] == 'b' ? 'A' : 'a', text[0] == 'b' ? 'Z' : 'z'))
            return err_set(err, errlen, "peer id '%.60s': mixed-case base32", text);
        rc = base32_decode(text + 1, n - 1, b, sizeof b, &len, why, sizeof why);
        break;
    case 'z': /* base58btc */
        rc = base58_decode(text + 1, n - 1, b, sizeof b, &len, why, sizeof why);
        break;
    default:
        return err_set(err, errlen,
                       "peer id '%.60s' is neither base58btc (12D3KooW..., Qm...) nor a CIDv1 "
                       "in base32 (b...) or base58btc (z...)",
                       text);
    }
    if (rc != 0 || cid_bytes(b, len, id, why, sizeof why) != 0)
        return err_set(err, errlen, "peer id '%.60s': %s", text, why);
    return 0;
}

char *p2p_peer_id_str(const p2p_peer_id *id, char out[P2P_PEER_ID_STRLEN])
{
    size_t n = id->len <= P2P_PEER_ID_MAX ? id->len : P2P_PEER_ID_MAX;
    if (base58_encode(id->b, n, out, P2P_PEER_ID_STRLEN) == 0)
        out[0] = '\0';
    return out;
}

bool p2p_peer_id_eq(const p2p_peer_id *a, const p2p_peer_id *b)
{
    return a->len == b->len && a->len <= P2P_PEER_ID_MAX && memcmp(a->b, b->b, a->len) == 0;
}

int p2p_peer_id_pubkey(const p2p_peer_id *id, uint8_t pk[32])
{
    /* Only the canonical encoding counts: it is the only one whose id we would derive back. */
    static const uint8_t head[] = {MH_IDENTITY, P2P_PUBKEY_PROTO_LEN, 0x08, 0x01, 0x12, 0x20};
    if (id->len != 2 + P2P_PUBKEY_PROTO_LEN || memcmp(id->b, head, sizeof head) != 0)
        return -1;
    memcpy(pk, id->b + sizeof head, 32);
    return 0;
}
