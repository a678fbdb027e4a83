/* noise.c - Noise_XX_25519_ChaChaPoly_SHA256 with the libp2p handshake payload (see noise.h).
 *
 * Follows the Noise Protocol Framework (revision 34): a SymmetricState (h, ck, k, n) driven by
 * the XX tokens, and libp2p's noise spec for the payload and the framing. Empty prologue. No
 * padding, no early data: the payload is the NoiseHandshakePayload protobuf itself.
 *
 * A handshake that fails (a bad message, a DH of zero) is wiped and marked dead, so that no
 * later call can go on from a half-updated transcript. Misuse that changes nothing (a call out
 * of turn, an output buffer without room) only returns an error. */
#include "noise.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "noise.pb-c.h"

/* Exactly 32 bytes (HASHLEN), so it is used as h directly, neither padded nor hashed. */
#define NOISE_NAME          "Noise_XX_25519_ChaChaPoly_SHA256"
#define NOISE_DHLEN         32
#define NOISE_HASHLEN       32
#define NOISE_S_CT_LEN      (NOISE_DHLEN + NOISE_TAG_LEN) /* an encrypted static key */
#define NOISE_SIG_LABEL     "noise-libp2p-static-key:"
#define NOISE_SIG_LABEL_LEN (sizeof NOISE_SIG_LABEL - 1)

/* Our payload is about 104 bytes (a 36-byte key and a 64-byte signature, with their tags). */
#define NOISE_OUR_PAYLOAD_MAX 256
#define NOISE_OUR_BODY_MAX    (NOISE_DHLEN + NOISE_S_CT_LEN + NOISE_OUR_PAYLOAD_MAX + NOISE_TAG_LEN)

#define NOISE_STEP_DONE 3
#define NOISE_STEP_DEAD (-1) /* failed or abandoned: every later call refuses */

_Static_assert(sizeof NOISE_NAME - 1 == NOISE_HASHLEN, "protocol name must be HASHLEN bytes");

/* ---- primitives ----------------------------------------------------------------------------- */

/* The ChaChaPoly nonce: 32 zero bits, then the 64-bit counter little-endian. */
static void nonce_bytes(uint64_t n, uint8_t out[crypto_aead_chacha20poly1305_ietf_NPUBBYTES])
{
    memset(out, 0, 4);
    for (int i = 0; i < 8; i++)
        out[4 + i] = (uint8_t)(n >> (8 * i));
}

/* Noise's HKDF with two outputs: temp = HMAC(ck, ikm); o1 = HMAC(temp, 0x01);
 * o2 = HMAC(temp, o1 || 0x02). o1 may alias ck. */
static void hkdf2(const uint8_t ck[32], const uint8_t *ikm, size_t n, uint8_t o1[32],
                  uint8_t o2[32])
{
    static const uint8_t one = 0x01;
    uint8_t temp[32], in[33];
    crypto_auth_hmacsha256(temp, ikm, n, ck);
    crypto_auth_hmacsha256(in, &one, 1, temp);
    in[32] = 0x02;
    crypto_auth_hmacsha256(o2, in, 33, temp);
    memcpy(o1, in, 32);
    sodium_memzero(temp, sizeof temp);
    sodium_memzero(in, sizeof in);
}

/* X25519. Fails on a result of all zeros (a low-order peer key), which would make the DH
 * contribute nothing. */
static int dh(uint8_t out[32], const uint8_t sk[32], const uint8_t pk[32])
{
    if (crypto_scalarmult(out, sk, pk) != 0 || sodium_is_zero(out, 32)) {
        sodium_memzero(out, 32);
        return -1;
    }
    return 0;
}

/* ---- SymmetricState ------------------------------------------------------------------------- */

/* h = SHA256(h || data) */
static void mix_hash(noise_hs *h, const uint8_t *data, size_t n)
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, h->h, sizeof h->h);
    crypto_hash_sha256_update(&st, data, n);
    crypto_hash_sha256_final(&st, h->h);
}

/* ck, k = HKDF(ck, ikm); n = 0 */
static void mix_key(noise_hs *h, const uint8_t ikm[NOISE_DHLEN])
{
    hkdf2(h->ck, ikm, NOISE_DHLEN, h->ck, h->k);
    h->has_k = true;
    h->n = 0;
}

/* Runs the DH of our sk with the peer's pk and mixes it into the key. */
static int mix_dh(noise_hs *h, const uint8_t sk[32], const uint8_t pk[32], const char *what,
                  char *err, size_t errlen)
{
    uint8_t shared[32];
    if (dh(shared, sk, pk) != 0)
        return err_set(err, errlen, "noise: %s DH gives zero (peer key of low order)", what);
    mix_key(h, shared);
    sodium_memzero(shared, sizeof shared);
    return 0;
}

/* Writes pt[0..n) to out (n + 16 bytes once there is a key, else n bytes as they are) with h
 * as associated data, then mixes what was written into h. */
static int encrypt_and_hash(noise_hs *h, const uint8_t *pt, size_t n, uint8_t *out, size_t *outlen,
                            char *err, size_t errlen)
{
    if (!h->has_k) {
        memmove(out, pt, n);
        *outlen = n;
    } else {
        uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
        unsigned long long clen;
        if (h->n == UINT64_MAX)
            return err_set(err, errlen, "noise: handshake nonce exhausted");
        nonce_bytes(h->n, nonce);
        crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, pt, n, h->h, sizeof h->h, NULL, nonce,
                                                  h->k);
        h->n++;
        *outlen = (size_t)clen;
    }
    mix_hash(h, out, *outlen);
    return 0;
}

/* The reverse of encrypt_and_hash: ct[0..n) to pt (n - 16 bytes once there is a key). pt must
 * not overlap ct. */
static int decrypt_and_hash(noise_hs *h, const uint8_t *ct, size_t n, uint8_t *pt, size_t *ptlen,
                            const char *what, char *err, size_t errlen)
{
    if (!h->has_k) {
        memcpy(pt, ct, n);
        *ptlen = n;
    } else {
        uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
        unsigned long long mlen;
        if (n < NOISE_TAG_LEN)
            return err_set(err, errlen, "noise: %s shorter than its tag", what);
        if (h->n == UINT64_MAX)
            return err_set(err, errlen, "noise: handshake nonce exhausted");
        nonce_bytes(h->n, nonce);
        if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, &mlen, NULL, ct, n, h->h, sizeof h->h,
                                                      nonce, h->k) != 0)
            return err_set(err, errlen, "noise: decryption of the %s failed (bad tag)", what);
        h->n++;
        *ptlen = (size_t)mlen;
    }
    mix_hash(h, ct, n);
    return 0;
}

/* ---- the libp2p payload --------------------------------------------------------------------- */

/* Encodes our NoiseHandshakePayload (identity key, signature over our static key) into out. */
static int payload_build(const noise_hs *h, uint8_t *out, size_t cap, size_t *len, char *err,
                         size_t errlen)
{
    uint8_t key[P2P_PUBKEY_PROTO_LEN], sig[64], msg[NOISE_SIG_LABEL_LEN + 32];
    memcpy(msg, NOISE_SIG_LABEL, NOISE_SIG_LABEL_LEN);
    memcpy(msg + NOISE_SIG_LABEL_LEN, h->s_pk, 32);
    p2p_key_sign(&h->id, msg, sizeof msg, sig);
    p2p_pubkey_encode(h->id.pk, key);

    Swarm__Noise__NoiseHandshakePayload pl = SWARM__NOISE__NOISE_HANDSHAKE_PAYLOAD__INIT;
    pl.has_identity_key = 1;
    pl.identity_key.data = key;
    pl.identity_key.len = sizeof key;
    pl.has_identity_sig = 1;
    pl.identity_sig.data = sig;
    pl.identity_sig.len = sizeof sig;
    size_t need = swarm__noise__noise_handshake_payload__get_packed_size(&pl);
    if (need > cap)
        return err_set(err, errlen, "noise: our payload is too large (%zu bytes)", need);
    *len = swarm__noise__noise_handshake_payload__pack(&pl, out);
    return 0;
}

/* Checks the peer's payload against its static key h->rs and, if it holds, records the peer's
 * id. Extensions (e.g. js's stream_muxers) are ignored. */
static int payload_verify(noise_hs *h, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    Swarm__Noise__NoiseHandshakePayload *pl =
        swarm__noise__noise_handshake_payload__unpack(NULL, n, p);
    if (!pl)
        return err_set(err, errlen, "noise: peer's handshake payload is malformed");
    int rc = -1;
    uint8_t pk[32], msg[NOISE_SIG_LABEL_LEN + 32];
    if (!pl->has_identity_key || !pl->has_identity_sig) {
        err_set(err, errlen, "noise: peer's handshake payload lacks its identity key or signature");
        goto out;
    }
    if (p2p_pubkey_decode(pl->identity_key.data, pl->identity_key.len, pk, err, errlen) != 0) {
        err_prefix(err, errlen, "noise: peer's identity key");
        goto out;
    }
    memcpy(msg, NOISE_SIG_LABEL, NOISE_SIG_LABEL_LEN);
    memcpy(msg + NOISE_SIG_LABEL_LEN, h->rs, 32);
    if (pl->identity_sig.len != 64 || !p2p_key_verify(pk, msg, sizeof msg, pl->identity_sig.data)) {
        err_set(err, errlen, "noise: peer's static key signature does not verify");
        goto out;
    }
    p2p_peer_id_from_pubkey(pk, &h->remote);
    h->remote_ok = true;
    rc = 0;
out:
    swarm__noise__noise_handshake_payload__free_unpacked(pl, NULL);
    return rc;
}

/* ---- the handshake -------------------------------------------------------------------------- */

void noise_static_keypair(uint8_t sk[32], uint8_t pk[32])
{
    /* Idempotent. It fails only without a randomness source, and randombytes_buf then aborts
     * by itself: nothing to report here. */
    int rc = sodium_init();
    (void)rc;
    randombytes_buf(sk, 32);
    crypto_scalarmult_base(pk, sk);
}

int noise_hs_init(noise_hs *h, bool initiator, const p2p_key *identity, const uint8_t s_sk[32],
                  const uint8_t s_pk[32], char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    h->step = NOISE_STEP_DEAD;
    if (sodium_init() < 0)
        return err_set(err, errlen, "noise: libsodium failed to initialise");
    h->initiator = initiator;
    h->step = 0;
    /* InitializeSymmetric with a HASHLEN-long name, then MixHash(prologue = empty). */
    memcpy(h->h, NOISE_NAME, NOISE_HASHLEN);
    memcpy(h->ck, h->h, NOISE_HASHLEN);
    mix_hash(h, NULL, 0);
    memcpy(h->s_sk, s_sk, 32);
    memcpy(h->s_pk, s_pk, 32);
    h->id = *identity;
    /* Made now (not at the "e" token) so that tests can put fixed keys here before writing. */
    randombytes_buf(h->e_sk, 32);
    crypto_scalarmult_base(h->e_pk, h->e_sk);
    return 0;
}

bool noise_hs_my_turn(const noise_hs *h)
{
    if (h->initiator)
        return h->step == 0 || h->step == 2;
    return h->step == 1;
}

bool noise_hs_done(const noise_hs *h)
{
    return h->step == NOISE_STEP_DONE;
}

const p2p_peer_id *noise_hs_remote(const noise_hs *h)
{
    return h->remote_ok ? &h->remote : NULL;
}

void noise_hs_wipe(noise_hs *h)
{
    sodium_memzero(h->h, sizeof h->h);
    sodium_memzero(h->ck, sizeof h->ck);
    sodium_memzero(h->k, sizeof h->k);
    h->has_k = false;
    h->n = 0;
    sodium_memzero(h->s_sk, sizeof h->s_sk);
    sodium_memzero(h->s_pk, sizeof h->s_pk);
    sodium_memzero(h->e_sk, sizeof h->e_sk);
    sodium_memzero(h->e_pk, sizeof h->e_pk);
    sodium_memzero(h->rs, sizeof h->rs);
    sodium_memzero(h->re, sizeof h->re);
    sodium_memzero(&h->id, sizeof h->id);
    /* A finished handshake keeps its outcome (done, the verified peer); anything else is over. */
    if (h->step != NOISE_STEP_DONE) {
        h->step = NOISE_STEP_DEAD;
        h->remote_ok = false;
        memset(&h->remote, 0, sizeof h->remote);
    }
}

/* Ends a handshake on an error (already in err) and returns -1. */
static int hs_fail(noise_hs *h)
{
    h->step = NOISE_STEP_DEAD;
    noise_hs_wipe(h);
    return -1;
}

/* Builds the body of the message for the current step into body (NOISE_OUR_BODY_MAX bytes).
 * The payload (for messages 2 and 3) is encoded first so that the total is known before the
 * transcript changes: see noise_hs_write. */
static int hs_write_body(noise_hs *h, const uint8_t *payload, size_t plen, uint8_t *body,
                         size_t *blen, char *err, size_t errlen)
{
    size_t len = 0, w;
    if (h->step == 0 || h->step == 1) { /* e */
        memcpy(body, h->e_pk, 32);
        mix_hash(h, h->e_pk, 32);
        len = 32;
    }
    if (h->step == 1) { /* ee, s, es (es as the responder: DH(s, re)) */
        if (mix_dh(h, h->e_sk, h->re, "ee", err, errlen) != 0)
            return -1;
        if (encrypt_and_hash(h, h->s_pk, 32, body + len, &w, err, errlen) != 0)
            return -1;
        len += w;
        if (mix_dh(h, h->s_sk, h->re, "es", err, errlen) != 0)
            return -1;
    }
    if (h->step == 2) { /* s, se (se as the initiator: DH(s, re)) */
        if (encrypt_and_hash(h, h->s_pk, 32, body, &w, err, errlen) != 0)
            return -1;
        len = w;
        if (mix_dh(h, h->s_sk, h->re, "se", err, errlen) != 0)
            return -1;
    }
    /* The payload; for message 1 it is empty and there is no key yet, so this is MixHash(""). */
    if (encrypt_and_hash(h, payload, plen, body + len, &w, err, errlen) != 0)
        return -1;
    *blen = len + w;
    return 0;
}

int noise_hs_write(noise_hs *h, buf_t *out, char *err, size_t errlen)
{
    if (h->step == NOISE_STEP_DEAD)
        return err_set(err, errlen, "noise: the handshake has failed");
    if (!noise_hs_my_turn(h))
        return err_set(err, errlen, "noise: not our turn to write (step %d)", h->step);

    uint8_t payload[NOISE_OUR_PAYLOAD_MAX], body[NOISE_OUR_BODY_MAX];
    size_t plen = 0, blen = 0, expect = 32;
    if (h->step != 0) {
        if (payload_build(h, payload, sizeof payload, &plen, err, errlen) != 0)
            return hs_fail(h);
        expect = (h->step == 1 ? 32 : 0) + NOISE_S_CT_LEN + plen + NOISE_TAG_LEN;
    }
    /* Room first: once the transcript moves on, a refusal could only kill the handshake. */
    if (buf_reserve(out, 2 + expect) != 0)
        return err_set(err, errlen, "noise: no room for a %zu-byte handshake message", expect);
    if (hs_write_body(h, payload, plen, body, &blen, err, errlen) != 0)
        return hs_fail(h);
    uint8_t prefix[2] = {(uint8_t)(blen >> 8), (uint8_t)blen};
    if (blen != expect || buf_append(out, prefix, 2) != 0 || buf_append(out, body, blen) != 0) {
        err_set(err, errlen, "noise: internal error writing a handshake message");
        return hs_fail(h);
    }
    h->step++;
    return 0;
}

int noise_hs_read(noise_hs *h, const uint8_t *body, size_t n, char *err, size_t errlen)
{
    if (h->step == NOISE_STEP_DEAD)
        return err_set(err, errlen, "noise: the handshake has failed");
    if (h->step >= NOISE_STEP_DONE)
        return err_set(err, errlen, "noise: unexpected handshake message (handshake finished)");
    if (noise_hs_my_turn(h))
        return err_set(err, errlen, "noise: unexpected handshake message (our turn to write)");
    int msg = h->step + 1;
    size_t min = msg == 1   ? 32
                 : msg == 2 ? 32 + NOISE_S_CT_LEN + NOISE_TAG_LEN
                            : NOISE_S_CT_LEN + NOISE_TAG_LEN;
    if (n < min || n > NOISE_MAX_FRAME) {
        err_set(err, errlen, "noise: handshake message %d has a bad length (%zu bytes)", msg, n);
        return hs_fail(h);
    }

    size_t off = 0, len;
    if (msg == 1 || msg == 2) { /* e */
        memcpy(h->re, body, 32);
        mix_hash(h, h->re, 32);
        off = 32;
    }
    if (msg == 2) { /* ee, s, es (es as the initiator: DH(e, rs)) */
        if (mix_dh(h, h->e_sk, h->re, "ee", err, errlen) != 0 ||
            decrypt_and_hash(h, body + off, NOISE_S_CT_LEN, h->rs, &len, "peer's static key", err,
                             errlen) != 0 ||
            mix_dh(h, h->e_sk, h->rs, "es", err, errlen) != 0)
            return hs_fail(h);
        off += NOISE_S_CT_LEN;
    }
    if (msg == 3) { /* s, se (se as the responder: DH(e, rs)) */
        if (decrypt_and_hash(h, body, NOISE_S_CT_LEN, h->rs, &len, "peer's static key", err,
                             errlen) != 0 ||
            mix_dh(h, h->e_sk, h->rs, "se", err, errlen) != 0)
            return hs_fail(h);
        off = NOISE_S_CT_LEN;
    }

    /* The payload. libp2p's first message carries none (js sends exactly 32 bytes); following
     * Noise, any extra bytes there are a cleartext payload: hashed, then ignored. */
    uint8_t *pt = malloc(n - off + 1);
    if (!pt) {
        err_set(err, errlen, "noise: out of memory");
        return hs_fail(h);
    }
    int rc = decrypt_and_hash(h, body + off, n - off, pt, &len, "handshake payload", err, errlen);
    if (rc == 0 && msg != 1)
        rc = payload_verify(h, pt, len, err, errlen);
    sodium_memzero(pt, n - off + 1);
    free(pt);
    if (rc != 0)
        return hs_fail(h);
    h->step++;
    return 0;
}

void noise_hs_split(noise_hs *h, noise_cipher *tx, noise_cipher *rx)
{
    uint8_t k1[32], k2[32];
    /* Not done, or already split (ck wiped): ciphers that refuse every frame. */
    if (!noise_hs_done(h) || sodium_is_zero(h->ck, sizeof h->ck)) {
        sodium_memzero(tx, sizeof *tx);
        sodium_memzero(rx, sizeof *rx);
        tx->n = rx->n = UINT64_MAX;
        noise_hs_wipe(h);
        return;
    }
    hkdf2(h->ck, NULL, 0, k1, k2);
    memcpy(tx->k, h->initiator ? k1 : k2, 32);
    memcpy(rx->k, h->initiator ? k2 : k1, 32);
    tx->n = rx->n = 0;
    sodium_memzero(k1, sizeof k1);
    sodium_memzero(k2, sizeof k2);
    noise_hs_wipe(h);
}

/* ---- transport ------------------------------------------------------------------------------ */

int noise_frame(const uint8_t *p, size_t n, size_t *body_len)
{
    if (n < 2)
        return 0;
    size_t len = (size_t)p[0] << 8 | p[1];
    if (n - 2 < len)
        return 0;
    *body_len = len;
    return 1;
}

int noise_encrypt(noise_cipher *c, const uint8_t *pt, size_t n, buf_t *out)
{
    /* 2^64-1 is reserved by Noise: a cipher that reaches it is finished. */
    if (n > NOISE_MAX_PLAINTEXT || c->n == UINT64_MAX)
        return -1;
    size_t clen = n + NOISE_TAG_LEN;
    if (buf_reserve(out, 2 + clen) != 0)
        return -1;
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    uint8_t *dst = out->data + out->len;
    nonce_bytes(c->n, nonce);
    dst[0] = (uint8_t)(clen >> 8);
    dst[1] = (uint8_t)clen;
    crypto_aead_chacha20poly1305_ietf_encrypt(dst + 2, NULL, pt, n, NULL, 0, NULL, nonce, c->k);
    out->len += 2 + clen;
    c->n++;
    return 0;
}

int noise_decrypt(noise_cipher *c, const uint8_t *ct, size_t n, uint8_t *pt, size_t *ptlen,
                  char *err, size_t errlen)
{
    if (n < NOISE_TAG_LEN || n > NOISE_MAX_FRAME)
        return err_set(err, errlen, "noise: bad frame length (%zu bytes)", n);
    if (c->n == UINT64_MAX)
        return err_set(err, errlen, "noise: nonce exhausted");
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    unsigned long long mlen;
    nonce_bytes(c->n, nonce);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, &mlen, NULL, ct, n, NULL, 0, nonce, c->k) !=
        0)
        return err_set(err, errlen, "noise: decryption failed (bad tag)");
    c->n++;
    *ptlen = (size_t)mlen;
    return 0;
}
