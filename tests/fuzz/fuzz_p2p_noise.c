/* libFuzzer target: the Noise handshake and transport cipher must accept or refuse any bytes
 * from the peer without crashing, reading out of bounds or leaking.
 *
 * The first byte picks a mode; the keys are the fixed ones of the unit test's known-answer
 * handshake, so the saved seeds (real messages) reach past the decryption checks:
 *   0: a responder reads message 1 and message 3 (rest = 2-byte big-endian length of message 1,
 *      message 1, message 3), writing message 2 in between;
 *   1: an initiator reads the rest as message 2;
 *   2: an initiator reads a correctly encrypted message 2 whose plaintext payload is the rest
 *      (reaches the payload parser and the signature check);
 *   3: the rest as transport frames for a fixed key, and a round trip of the rest.
 * Build with -DSWARM_FUZZ=ON (clang); run: build-fuzz/fuzz_p2p_noise -max_total_time=60 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "noise.h"

static void seq32(uint8_t out[32], uint8_t base)
{
    for (int i = 0; i < 32; i++)
        out[i] = (uint8_t)(base + i);
}

/* A handshake with the known-answer keys: identity seed, static and ephemeral key bases. */
static void party(noise_hs *h, bool initiator, p2p_key *id)
{
    uint8_t seed[32], s_sk[32], s_pk[32];
    seq32(seed, initiator ? 0x00 : 0x20);
    crypto_sign_seed_keypair(id->pk, id->sk, seed);
    seq32(s_sk, initiator ? 0x40 : 0x60);
    crypto_scalarmult_base(s_pk, s_sk);
    if (noise_hs_init(h, initiator, id, s_sk, s_pk, NULL, 0) != 0)
        abort();
    seq32(h->e_sk, initiator ? 0x80 : 0xa0);
    crypto_scalarmult_base(h->e_pk, h->e_sk);
}

/* Writes h's next message and returns its body in m (NULL if writing failed). */
static const uint8_t *write_msg(noise_hs *h, buf_t *b, size_t *n)
{
    buf_clear(b);
    if (noise_hs_write(h, b, NULL, 0) != 0)
        return NULL;
    if (noise_frame(b->data, b->len, n) != 1 || *n + 2 != b->len)
        abort();
    return b->data + 2;
}

/* Once both sides are done, the ciphers must work. */
static void check_split(noise_hs *h)
{
    noise_cipher tx, rx;
    if (!noise_hs_done(h) || !noise_hs_remote(h))
        abort();
    noise_hs_split(h, &tx, &rx);
    if (tx.n != 0 || rx.n != 0)
        abort();
}

/* ---- mode 2: a reference responder that encrypts any payload ------------------------------ */

typedef struct {
    uint8_t h[32], ck[32], k[32];
    uint64_t n;
} ref_state;

static void ref_hash(ref_state *s, const uint8_t *p, size_t n)
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, s->h, 32);
    crypto_hash_sha256_update(&st, p, n);
    crypto_hash_sha256_final(&st, s->h);
}

static void ref_key(ref_state *s, const uint8_t sk[32], const uint8_t pk[32])
{
    uint8_t shared[32], prk[32], t[33];
    if (crypto_scalarmult(shared, sk, pk) != 0)
        abort();
    crypto_auth_hmacsha256(prk, shared, 32, s->ck);
    crypto_auth_hmacsha256(t, (const uint8_t *)"\x01", 1, prk);
    t[32] = 2;
    crypto_auth_hmacsha256(s->k, t, 33, prk);
    memcpy(s->ck, t, 32);
    s->n = 0;
}

static size_t ref_enc(ref_state *s, const uint8_t *pt, size_t n, uint8_t *out)
{
    uint8_t nonce[12] = {0};
    unsigned long long len;
    nonce[4] = (uint8_t)s->n;
    crypto_aead_chacha20poly1305_ietf_encrypt(out, &len, pt, n, s->h, 32, NULL, nonce, s->k);
    s->n++;
    ref_hash(s, out, (size_t)len);
    return (size_t)len;
}

static void mode_crafted_payload(const uint8_t *p, size_t n)
{
    if (n > NOISE_MAX_FRAME - 32 - 48 - 16)
        return;
    noise_hs i;
    p2p_key iid;
    buf_t b;
    buf_init(&b, 0);
    party(&i, true, &iid);
    size_t n1;
    if (!write_msg(&i, &b, &n1))
        abort();

    ref_state s;
    uint8_t e_sk[32], e_pk[32], s_sk[32], s_pk[32];
    seq32(e_sk, 0xa0);
    seq32(s_sk, 0x60);
    crypto_scalarmult_base(e_pk, e_sk);
    crypto_scalarmult_base(s_pk, s_sk);
    memset(&s, 0, sizeof s);
    memcpy(s.h, "Noise_XX_25519_ChaChaPoly_SHA256", 32);
    memcpy(s.ck, s.h, 32);
    ref_hash(&s, NULL, 0);
    ref_hash(&s, i.e_pk, 32);
    ref_hash(&s, NULL, 0);
    uint8_t *m = malloc(32 + 48 + n + 16);
    memcpy(m, e_pk, 32);
    ref_hash(&s, e_pk, 32);
    ref_key(&s, e_sk, i.e_pk);
    size_t len = 32 + ref_enc(&s, s_pk, 32, m + 32);
    ref_key(&s, s_sk, i.e_pk);
    len += ref_enc(&s, p, n, m + len);

    if (noise_hs_read(&i, m, len, NULL, 0) == 0) {
        size_t n3;
        if (!noise_hs_remote(&i) || !write_msg(&i, &b, &n3))
            abort();
        check_split(&i);
    } else if (noise_hs_remote(&i)) {
        abort();
    }
    noise_hs_wipe(&i);
    free(m);
    buf_free(&b);
}

/* ---- the other modes ------------------------------------------------------------------------ */

static void mode_responder(const uint8_t *p, size_t n)
{
    if (n < 2)
        return;
    size_t n1 = (size_t)p[0] << 8 | p[1];
    p += 2;
    n -= 2;
    if (n1 > n)
        n1 = n;
    noise_hs r;
    p2p_key rid;
    buf_t b;
    buf_init(&b, 0);
    party(&r, false, &rid);
    size_t n2;
    if (noise_hs_read(&r, p, n1, NULL, 0) == 0 && write_msg(&r, &b, &n2) &&
        noise_hs_read(&r, p + n1, n - n1, NULL, 0) == 0)
        check_split(&r);
    noise_hs_wipe(&r);
    buf_free(&b);
}

static void mode_initiator(const uint8_t *p, size_t n)
{
    noise_hs i;
    p2p_key iid;
    buf_t b;
    buf_init(&b, 0);
    party(&i, true, &iid);
    size_t n1, n3;
    if (!write_msg(&i, &b, &n1))
        abort();
    if (noise_hs_read(&i, p, n, NULL, 0) == 0) {
        if (!noise_hs_remote(&i) || !write_msg(&i, &b, &n3))
            abort();
        check_split(&i);
    }
    noise_hs_wipe(&i);
    buf_free(&b);
}

static void mode_transport(const uint8_t *p, size_t n)
{
    /* The initiator-to-responder key of the known-answer handshake. */
    static const uint8_t k[32] = {0x1a, 0xc8, 0x91, 0x35, 0x8c, 0xa4, 0x01, 0x43, 0x69, 0x39, 0x77,
                                  0x00, 0x5e, 0x7c, 0x00, 0xc8, 0x98, 0x8e, 0x46, 0x86, 0x1f, 0xdc,
                                  0xe6, 0x52, 0x1d, 0xea, 0x5d, 0x29, 0x35, 0x34, 0x76, 0x1c};
    noise_cipher rx = {.n = 0}, tx = {.n = 0};
    memcpy(rx.k, k, 32);
    memcpy(tx.k, k, 32);
    uint8_t *pt = malloc(NOISE_MAX_FRAME);
    size_t body, got;
    const uint8_t *q = p;
    size_t left = n;
    while (noise_frame(q, left, &body) == 1) {
        uint64_t before = rx.n;
        if (noise_decrypt(&rx, q + 2, body, pt, &got, NULL, 0) == 0) {
            if (got + NOISE_TAG_LEN != body || rx.n != before + 1)
                abort();
        } else if (rx.n != before) {
            abort();
        }
        q += 2 + body;
        left -= 2 + body;
    }

    /* A round trip of the input itself. */
    buf_t b;
    buf_init(&b, 0);
    size_t m = n > NOISE_MAX_PLAINTEXT ? NOISE_MAX_PLAINTEXT : n;
    noise_cipher rx2 = tx;
    if (noise_encrypt(&tx, p, m, &b) != 0 || noise_frame(b.data, b.len, &body) != 1 ||
        noise_decrypt(&rx2, b.data + 2, body, pt, &got, NULL, 0) != 0 || got != m ||
        memcmp(pt, p, m) != 0)
        abort();
    buf_free(&b);
    free(pt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || sodium_init() < 0)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0:
        mode_responder(p, n);
        break;
    case 1:
        mode_initiator(p, n);
        break;
    case 2:
        mode_crafted_payload(p, n);
        break;
    default:
        mode_transport(p, n);
        break;
    }
    return 0;
}
