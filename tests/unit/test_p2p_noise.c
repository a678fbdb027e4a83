/* test_p2p_noise.c - the Noise XX handshake with the libp2p payload, and the transport cipher.
 *
 * Besides round trips and bad input, a known-answer test pins every byte of a handshake with
 * fixed keys. Its expected values come from a throwaway reference model (Python, `cryptography`)
 * that first reproduced the published Noise_XX_25519_ChaChaPoly_SHA256 vectors of cacophony and
 * snow byte for byte, then ran our libp2p payloads. A second, independent writer below (ref_*)
 * recomputes message 2 from the spec's formulas; it also crafts payloads our own code never
 * sends (foreign key types, missing fields, js's extensions). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "noise.h"

#define NAME "Noise_XX_25519_ChaChaPoly_SHA256"

static char err[256];

/* ---- fixtures ------------------------------------------------------------------------------- */

static void seq32(uint8_t out[32], uint8_t base)
{
    for (int i = 0; i < 32; i++)
        out[i] = (uint8_t)(base + i);
}

static void id_from_seed(p2p_key *k, uint8_t base)
{
    uint8_t seed[32];
    seq32(seed, base);
    crypto_sign_seed_keypair(k->pk, k->sk, seed);
}

static void x25519_from(uint8_t sk[32], uint8_t pk[32], uint8_t base)
{
    seq32(sk, base);
    crypto_scalarmult_base(pk, sk);
}

static size_t unhex(const char *s, uint8_t *out)
{
    size_t n = 0;
    if (hex_decode(s, strlen(s), out, &n, err, sizeof err) != 0)
        abort();
    return n;
}

/* One side: an identity, a static key and a handshake. */
typedef struct {
    p2p_key id;
    uint8_t s_sk[32], s_pk[32];
    noise_hs hs;
} party;

static void party_init(party *p, bool initiator)
{
    CHECK_EQ(p2p_key_generate(&p->id, err, sizeof err), 0);
    noise_static_keypair(p->s_sk, p->s_pk);
    CHECK_EQ(noise_hs_init(&p->hs, initiator, &p->id, p->s_sk, p->s_pk, err, sizeof err), 0);
}

/* Writes h's next message; returns the body length (framing checked and removed), 0 on error. */
static size_t write_msg(noise_hs *h, uint8_t *msg, size_t cap)
{
    buf_t b;
    buf_init(&b, 0);
    size_t n = 0;
    if (noise_hs_write(h, &b, err, sizeof err) == 0 && noise_frame(b.data, b.len, &n) == 1 &&
        n + 2 == b.len && n <= cap)
        memcpy(msg, b.data + 2, n);
    else
        n = 0;
    buf_free(&b);
    return n;
}

/* Runs a whole handshake between i and r; returns 0 if every step worked. */
static int handshake(noise_hs *i, noise_hs *r)
{
    uint8_t m[512];
    size_t n;
    if (!(n = write_msg(i, m, sizeof m)) || noise_hs_read(r, m, n, err, sizeof err) != 0)
        return -1;
    if (!(n = write_msg(r, m, sizeof m)) || noise_hs_read(i, m, n, err, sizeof err) != 0)
        return -1;
    if (!(n = write_msg(i, m, sizeof m)) || noise_hs_read(r, m, n, err, sizeof err) != 0)
        return -1;
    return 0;
}

/* Encrypts pt with tx and decrypts the frame with rx; true if it comes back unchanged. */
static bool round_trip(noise_cipher *tx, noise_cipher *rx, const uint8_t *pt, size_t n)
{
    buf_t b;
    buf_init(&b, 0);
    size_t body = 0, got = 0;
    uint8_t *out = malloc(n + 1);
    bool ok = noise_encrypt(tx, pt, n, &b) == 0 && noise_frame(b.data, b.len, &body) == 1 &&
              body == n + NOISE_TAG_LEN && b.len == body + 2 &&
              noise_decrypt(rx, b.data + 2, body, out, &got, err, sizeof err) == 0 && got == n &&
              memcmp(out, pt, n) == 0;
    free(out);
    buf_free(&b);
    return ok;
}

/* ---- an independent reference writer -------------------------------------------------------- */

typedef struct {
    uint8_t h[32], ck[32], k[32];
    uint64_t n;
    bool has_k;
} ref_state;

static void ref_hash(ref_state *s, const void *p, size_t n)
{
    uint8_t *in = malloc(32 + n + 1);
    memcpy(in, s->h, 32);
    if (n)
        memcpy(in + 32, p, n);
    crypto_hash_sha256(s->h, in, 32 + n);
    free(in);
}

static void ref_init(ref_state *s, const uint8_t i_e_pk[32])
{
    memset(s, 0, sizeof *s);
    memcpy(s->h, NAME, 32);
    memcpy(s->ck, s->h, 32);
    ref_hash(s, NULL, 0);    /* prologue (empty) */
    ref_hash(s, i_e_pk, 32); /* message 1: e */
    ref_hash(s, NULL, 0);    /* message 1: empty payload, no key yet */
}

/* MixKey(DH(sk, pk)), HKDF spelled out with the streaming HMAC interface. */
static void ref_key(ref_state *s, const uint8_t sk[32], const uint8_t pk[32])
{
    uint8_t shared[32], prk[32], t1[33];
    crypto_auth_hmacsha256_state st;
    if (crypto_scalarmult(shared, sk, pk) != 0)
        abort();
    crypto_auth_hmacsha256_init(&st, s->ck, 32);
    crypto_auth_hmacsha256_update(&st, shared, 32);
    crypto_auth_hmacsha256_final(&st, prk);
    crypto_auth_hmacsha256_init(&st, prk, 32);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)"\x01", 1);
    crypto_auth_hmacsha256_final(&st, t1);
    t1[32] = 2;
    crypto_auth_hmacsha256_init(&st, prk, 32);
    crypto_auth_hmacsha256_update(&st, t1, 33);
    crypto_auth_hmacsha256_final(&st, s->k);
    memcpy(s->ck, t1, 32);
    s->n = 0;
    s->has_k = true;
}

static size_t ref_enc(ref_state *s, const uint8_t *pt, size_t n, uint8_t *out)
{
    uint8_t nonce[12] = {0};
    unsigned long long len = n;
    for (int i = 0; i < 8; i++)
        nonce[4 + i] = (uint8_t)(s->n >> (8 * i));
    if (s->has_k) {
        crypto_aead_chacha20poly1305_ietf_encrypt(out, &len, pt, n, s->h, 32, NULL, nonce, s->k);
        s->n++;
    } else {
        memcpy(out, pt, n);
    }
    ref_hash(s, out, (size_t)len);
    return (size_t)len;
}

/* Message 2 of a responder with ephemeral e_sk and static s_sk, answering an initiator whose
 * ephemeral key is i_e_pk, carrying any payload. */
static size_t ref_msg2(const uint8_t i_e_pk[32], const uint8_t e_sk[32], const uint8_t s_sk[32],
                       const uint8_t *payload, size_t plen, uint8_t *out)
{
    ref_state s;
    uint8_t e_pk[32], s_pk[32];
    crypto_scalarmult_base(e_pk, e_sk);
    crypto_scalarmult_base(s_pk, s_sk);
    ref_init(&s, i_e_pk);
    memcpy(out, e_pk, 32);
    ref_hash(&s, e_pk, 32);
    ref_key(&s, e_sk, i_e_pk); /* ee */
    size_t len = 32 + ref_enc(&s, s_pk, 32, out + 32);
    ref_key(&s, s_sk, i_e_pk); /* es, responder side: DH(s, re) */
    return len + ref_enc(&s, payload, plen, out + len);
}

/* A NoiseHandshakePayload: identity_key (a PublicKey of key type `type`), identity_sig by id
 * over static key s_pk (sig_len bytes of it), then `extra` as is. */
static size_t make_payload(uint8_t *out, int type, const p2p_key *id, const uint8_t s_pk[32],
                           size_t sig_len, const uint8_t *extra, size_t extra_len)
{
    uint8_t msg[24 + 32], sig[64];
    memcpy(msg, "noise-libp2p-static-key:", 24);
    memcpy(msg + 24, s_pk, 32);
    p2p_key_sign(id, msg, sizeof msg, sig);
    size_t n = 0;
    out[n++] = 0x0a;
    out[n++] = 36;
    out[n++] = 0x08;
    out[n++] = (uint8_t)type;
    out[n++] = 0x12;
    out[n++] = 32;
    memcpy(out + n, id->pk, 32);
    n += 32;
    out[n++] = 0x12;
    out[n++] = (uint8_t)sig_len;
    memcpy(out + n, sig, sig_len);
    n += sig_len;
    if (extra_len)
        memcpy(out + n, extra, extra_len);
    return n + extra_len;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_handshake_and_transport(void)
{
    party a, b;
    party_init(&a, true);
    party_init(&b, false);
    CHECK(noise_hs_my_turn(&a.hs));
    CHECK(!noise_hs_my_turn(&b.hs));
    CHECK(noise_hs_remote(&a.hs) == NULL);

    uint8_t m[512];
    size_t n = write_msg(&a.hs, m, sizeof m);
    CHECK_EQ(n, 32); /* e only, like js */
    CHECK_EQ(noise_hs_read(&b.hs, m, n, err, sizeof err), 0);
    CHECK(noise_hs_my_turn(&b.hs));
    CHECK(!noise_hs_my_turn(&a.hs));
    n = write_msg(&b.hs, m, sizeof m);
    CHECK_EQ(n, 32 + 48 + 104 + 16);
    CHECK_EQ(noise_hs_read(&a.hs, m, n, err, sizeof err), 0);
    CHECK(noise_hs_remote(&a.hs) != NULL);
    CHECK(noise_hs_remote(&b.hs) == NULL);
    CHECK(!noise_hs_done(&a.hs));
    n = write_msg(&a.hs, m, sizeof m);
    CHECK_EQ(n, 48 + 104 + 16);
    CHECK(noise_hs_done(&a.hs));
    CHECK(!noise_hs_done(&b.hs));
    CHECK_EQ(noise_hs_read(&b.hs, m, n, err, sizeof err), 0);
    CHECK(noise_hs_done(&b.hs));
    CHECK(!noise_hs_my_turn(&a.hs) && !noise_hs_my_turn(&b.hs));
    CHECK_MEM_EQ(a.hs.h, b.hs.h, 32);

    p2p_peer_id ida, idb;
    p2p_peer_id_from_pubkey(a.id.pk, &ida);
    p2p_peer_id_from_pubkey(b.id.pk, &idb);
    CHECK(noise_hs_remote(&a.hs) && p2p_peer_id_eq(noise_hs_remote(&a.hs), &idb));
    CHECK(noise_hs_remote(&b.hs) && p2p_peer_id_eq(noise_hs_remote(&b.hs), &ida));

    noise_cipher atx, arx, btx, brx;
    noise_hs_split(&a.hs, &atx, &arx);
    noise_hs_split(&b.hs, &btx, &brx);
    CHECK_MEM_EQ(atx.k, brx.k, 32);
    CHECK_MEM_EQ(arx.k, btx.k, 32);
    CHECK(memcmp(atx.k, arx.k, 32) != 0);
    CHECK_EQ(atx.n, 0);
    /* Split wipes the secrets but keeps the outcome. */
    CHECK(sodium_is_zero(a.hs.ck, 32) && sodium_is_zero(a.hs.e_sk, 32) &&
          sodium_is_zero(a.hs.s_sk, 32) && sodium_is_zero(a.hs.id.sk, 64));
    CHECK(noise_hs_done(&a.hs));
    CHECK(noise_hs_remote(&a.hs) && p2p_peer_id_eq(noise_hs_remote(&a.hs), &idb));

    CHECK(round_trip(&atx, &brx, (const uint8_t *)"hello", 5));
    CHECK(round_trip(&btx, &arx, (const uint8_t *)"world", 5));
    CHECK(round_trip(&atx, &brx, (const uint8_t *)"", 0));
    bool all = true;
    uint8_t pt[300];
    for (int i = 0; i < 1000; i++) {
        memset(pt, i, sizeof pt);
        all &= round_trip(&atx, &brx, pt, (size_t)i % sizeof pt);
        all &= round_trip(&btx, &arx, pt, sizeof pt - (size_t)i % sizeof pt);
    }
    CHECK(all);
    CHECK_EQ(atx.n, 1002);
    CHECK_EQ(brx.n, 1002);
    CHECK_EQ(btx.n, 1001);

    /* The largest frame: 65519 bytes of plaintext, a 65535-byte body. */
    uint8_t *big = malloc(NOISE_MAX_PLAINTEXT + 1), *back = malloc(NOISE_MAX_PLAINTEXT + 1);
    randombytes_buf(big, NOISE_MAX_PLAINTEXT + 1);
    buf_t f;
    buf_init(&f, 0);
    size_t body = 0, got = 0;
    CHECK_EQ(noise_encrypt(&atx, big, NOISE_MAX_PLAINTEXT, &f), 0);
    CHECK_EQ(f.len, 2 + 65535);
    CHECK(f.data[0] == 0xff && f.data[1] == 0xff);
    CHECK_EQ(noise_frame(f.data, f.len, &body), 1);
    CHECK_EQ(body, 65535);
    CHECK_EQ(noise_decrypt(&brx, f.data + 2, body, back, &got, err, sizeof err), 0);
    CHECK_EQ(got, NOISE_MAX_PLAINTEXT);
    CHECK_MEM_EQ(back, big, NOISE_MAX_PLAINTEXT);
    buf_clear(&f);
    uint64_t before = atx.n;
    CHECK_EQ(noise_encrypt(&atx, big, NOISE_MAX_PLAINTEXT + 1, &f), -1);
    CHECK_EQ(f.len, 0);
    CHECK_EQ(atx.n, before);
    buf_free(&f);
    free(big);
    free(back);
    CHECK(round_trip(&atx, &brx, (const uint8_t *)"after", 5));
}

/* Fixed keys; every byte was computed by the reference model (see the top of this file). */
static const char *KAT_MSG1 = "493e82fc74464a59268817623d2053c5eb8e2cc4a988b4fee179ec6b010d531d";
static const char *KAT_H1 = "e638bd59cbe11b1bd3d9684db452e81d557bb9ad6219ecc4975bf7d97fc9e4bb";
static const char *KAT_MSG2 =
    "605a725d2a4adfeeb1a29e17edd621c1b7593ee8cdbc44ac6c4ab6e2f805d23c6b0e173c7c7af5198345a35f79"
    "35b2416574d31f81b81848ed02dc9de76d3e12a3220487faf57ef04163648b495eda4b7298162b7bbd0ec71e2a"
    "3a4da6360d41a2c21e7f4bed4fa19537d502362d4a3025105d21d7ba7502e1550885afc9252406532c4f6850a3"
    "db3e0e7159d013b3b5631c910adbae1d06dc4156141705baa5ede81ea3dede35f2e82070ddc66729f8079b8c34"
    "591e67de1760e2ed99c09d5626acc50f33fc57ca";
static const char *KAT_MSG3 =
    "379d0acee9a3e3165c66a8e866476229ae67f5b017a18c743579698e09d7693210fda5a33ce560ae50f1036b9a"
    "35c992625b76a4fd61eddab20b93f8b6b2fefb3844e73a0ee7b09fa7f0100cbcbb3dd802790a7007c8c68ac558"
    "632c1589cc929c2d14cd1225cff72f7d6c7982465c085716998fe74853f7b3b40ec822942a2b6c403f0099eba1"
    "ca7cb59c32af3270b5b5c8b40bf8be4dcbb1da55dff3584a938ab5788ff61d06f4";
static const char *KAT_HASH = "ad3fd76803d568d02c80d75a620f204bec258ee514d640dcd710254f7c3105c5";
static const char *KAT_K_I2R = "1ac891358ca40143693977005e7c00c8988e46861fdce6521dea5d293534761c";
static const char *KAT_K_R2I = "d213ab114c2048d4f0dd9de524b5a4f7b7854d6978104e8ff3b175033d5aa7ea";
static const char *KAT_HELLO = "81fdbb7eb1e6d6e7e6eac3723338d8721e724604c3"; /* I->R, n = 0 */
static const char *KAT_WORLD = "7b4ac45ace6d64cd5bfa3811b07477dea73a25a207"; /* R->I, n = 0 */
static const char *KAT_EMPTY = "39a9b17ce48aaa84c6fecf31a9885e00";           /* I->R, n = 1 */

/* The initiator and responder of the known-answer test: identities from seeds 00..1f and
 * 20..3f, statics 40..5f and 60..7f, ephemerals 80..9f and a0..bf. */
static void kat_parties(party *i, party *r)
{
    id_from_seed(&i->id, 0x00);
    id_from_seed(&r->id, 0x20);
    x25519_from(i->s_sk, i->s_pk, 0x40);
    x25519_from(r->s_sk, r->s_pk, 0x60);
    CHECK_EQ(noise_hs_init(&i->hs, true, &i->id, i->s_sk, i->s_pk, err, sizeof err), 0);
    CHECK_EQ(noise_hs_init(&r->hs, false, &r->id, r->s_sk, r->s_pk, err, sizeof err), 0);
    x25519_from(i->hs.e_sk, i->hs.e_pk, 0x80);
    x25519_from(r->hs.e_sk, r->hs.e_pk, 0xa0);
}

static void test_known_answer(void)
{
    party i, r;
    kat_parties(&i, &r);
    uint8_t m[512], want[512], h[32], tmp[64];
    size_t n, wn;

    /* After message 1: h = SHA256(SHA256(SHA256(name || "") || e) || ""). */
    crypto_hash_sha256(h, (const uint8_t *)NAME, 32);
    memcpy(tmp, h, 32);
    memcpy(tmp + 32, i.hs.e_pk, 32);
    crypto_hash_sha256(h, tmp, 64);
    memcpy(tmp, h, 32);
    crypto_hash_sha256(h, tmp, 32);
    wn = unhex(KAT_H1, want);
    CHECK_MEM_EQ(h, want, 32);
    CHECK(!i.hs.has_k);

    n = write_msg(&i.hs, m, sizeof m);
    wn = unhex(KAT_MSG1, want);
    CHECK(n == wn && memcmp(m, want, n) == 0);
    CHECK_MEM_EQ(i.hs.h, h, 32);
    CHECK_MEM_EQ(i.hs.ck, NAME, 32); /* no DH yet */
    CHECK_EQ(noise_hs_read(&r.hs, m, n, err, sizeof err), 0);
    CHECK_MEM_EQ(r.hs.h, h, 32);

    n = write_msg(&r.hs, m, sizeof m);
    wn = unhex(KAT_MSG2, want);
    CHECK(n == wn && memcmp(m, want, n) == 0);
    /* The independent writer agrees, given the same payload. */
    uint8_t pl[128], e_sk[32], s_sk[32], ref[512];
    size_t pn = make_payload(pl, 1, &r.id, r.s_pk, 64, NULL, 0);
    CHECK_EQ(pn, 104);
    seq32(e_sk, 0xa0);
    seq32(s_sk, 0x60);
    CHECK_EQ(ref_msg2(i.hs.e_pk, e_sk, s_sk, pl, pn, ref), wn);
    CHECK_MEM_EQ(ref, want, wn);
    CHECK_EQ(noise_hs_read(&i.hs, m, n, err, sizeof err), 0);

    n = write_msg(&i.hs, m, sizeof m);
    wn = unhex(KAT_MSG3, want);
    CHECK(n == wn && memcmp(m, want, n) == 0);
    CHECK_EQ(noise_hs_read(&r.hs, m, n, err, sizeof err), 0);
    unhex(KAT_HASH, want);
    CHECK_MEM_EQ(i.hs.h, want, 32);
    CHECK_MEM_EQ(r.hs.h, want, 32);

    noise_cipher itx, irx, rtx, rrx;
    noise_hs_split(&i.hs, &itx, &irx);
    noise_hs_split(&r.hs, &rtx, &rrx);
    unhex(KAT_K_I2R, want);
    CHECK_MEM_EQ(itx.k, want, 32);
    CHECK_MEM_EQ(rrx.k, want, 32);
    unhex(KAT_K_R2I, want);
    CHECK_MEM_EQ(irx.k, want, 32);
    CHECK_MEM_EQ(rtx.k, want, 32);

    buf_t b;
    buf_init(&b, 0);
    CHECK_EQ(noise_encrypt(&itx, (const uint8_t *)"hello", 5, &b), 0);
    wn = unhex(KAT_HELLO, want);
    CHECK(b.len == wn + 2 && b.data[0] == 0 && b.data[1] == wn &&
          memcmp(b.data + 2, want, wn) == 0);
    buf_clear(&b);
    CHECK_EQ(noise_encrypt(&rtx, (const uint8_t *)"world", 5, &b), 0);
    wn = unhex(KAT_WORLD, want);
    CHECK(b.len == wn + 2 && memcmp(b.data + 2, want, wn) == 0);
    buf_clear(&b);
    CHECK_EQ(noise_encrypt(&itx, (const uint8_t *)"", 0, &b), 0);
    wn = unhex(KAT_EMPTY, want);
    CHECK(b.len == wn + 2 && memcmp(b.data + 2, want, wn) == 0);
    buf_free(&b);
}

/* Message 2 crafted by the reference writer around payload pl; returns the initiator's
 * noise_hs_read result (err set). */
static int read_crafted_msg2(const uint8_t *pl, size_t pn, p2p_peer_id *remote)
{
    party i;
    party_init(&i, true);
    uint8_t m[512], e_sk[32], s_sk[32];
    CHECK_EQ(write_msg(&i.hs, m, sizeof m), 32);
    seq32(e_sk, 0xa0);
    seq32(s_sk, 0x60);
    size_t n = ref_msg2(i.hs.e_pk, e_sk, s_sk, pl, pn, m);
    int rc = noise_hs_read(&i.hs, m, n, err, sizeof err);
    if (rc == 0 && remote)
        *remote = *noise_hs_remote(&i.hs);
    if (rc != 0)
        CHECK(noise_hs_remote(&i.hs) == NULL);
    noise_hs_wipe(&i.hs);
    return rc;
}

static void test_payloads(void)
{
    p2p_key id, other;
    uint8_t s_pk[32], s_sk[32], pl[512];
    id_from_seed(&id, 0x20);
    id_from_seed(&other, 0x55);
    x25519_from(s_sk, s_pk, 0x60);
    p2p_peer_id want, got;
    p2p_peer_id_from_pubkey(id.pk, &want);

    /* What js sends: extensions { stream_muxers: "/yamux/1.0.0" }, ignored. */
    static const uint8_t ext[] = {0x22, 14,  0x12, 12,  '/', 'y', 'a', 'm',
                                  'u',  'x', '/',  '1', '.', '0', '.', '0'};
    size_t n = make_payload(pl, 1, &id, s_pk, 64, ext, sizeof ext);
    CHECK_EQ(read_crafted_msg2(pl, n, &got), 0);
    CHECK(p2p_peer_id_eq(&got, &want));
    /* An unknown field is skipped too. */
    static const uint8_t unknown[] = {0x28, 0x07};
    n = make_payload(pl, 1, &id, s_pk, 64, unknown, sizeof unknown);
    CHECK_EQ(read_crafted_msg2(pl, n, NULL), 0);

    /* Signed over some other static key. */
    uint8_t wrong_s[32];
    seq32(wrong_s, 0x61);
    n = make_payload(pl, 1, &id, wrong_s, 64, NULL, 0);
    CHECK_EQ(read_crafted_msg2(pl, n, NULL), -1);
    CHECK(strstr(err, "peer's static key signature does not verify") != NULL);
    /* A short signature. */
    n = make_payload(pl, 1, &id, s_pk, 63, NULL, 0);
    CHECK_EQ(read_crafted_msg2(pl, n, NULL), -1);
    CHECK(strstr(err, "signature does not verify") != NULL);
    /* Keys of other types are refused by name. */
    n = make_payload(pl, 0, &id, s_pk, 64, NULL, 0);
    CHECK_EQ(read_crafted_msg2(pl, n, NULL), -1);
    CHECK(strstr(err, "RSA") != NULL);
    n = make_payload(pl, 2, &id, s_pk, 64, NULL, 0);
    CHECK_EQ(read_crafted_msg2(pl, n, NULL), -1);
    CHECK(strstr(err, "Secp256k1") != NULL);
    /* Missing fields, an empty payload, garbage. */
    n = make_payload(pl, 1, &id, s_pk, 64, NULL, 0);
    CHECK_EQ(read_crafted_msg2(pl, 38, NULL), -1); /* the key alone */
    CHECK(strstr(err, "lacks") != NULL);
    CHECK_EQ(read_crafted_msg2(pl + 38, n - 38, NULL), -1); /* the signature alone */
    CHECK(strstr(err, "lacks") != NULL);
    CHECK_EQ(read_crafted_msg2(pl, 0, NULL), -1);
    CHECK(strstr(err, "lacks") != NULL);
    static const uint8_t junk[] = {0x0a, 0x50, 0x01};
    CHECK_EQ(read_crafted_msg2(junk, sizeof junk, NULL), -1);
    CHECK(strstr(err, "malformed") != NULL);
    /* A signature by another identity key than the one named. */
    n = make_payload(pl, 1, &other, s_pk, 64, NULL, 0);
    memcpy(pl + 6, id.pk, 32);
    CHECK_EQ(read_crafted_msg2(pl, n, NULL), -1);
    CHECK(strstr(err, "signature does not verify") != NULL);
}

/* A party whose handshake names identity key A but signs with B's secret key. */
static void forge(party *p)
{
    p2p_key b;
    CHECK_EQ(p2p_key_generate(&b, err, sizeof err), 0);
    memcpy(p->hs.id.sk, b.sk, sizeof b.sk);
}

static void test_forged_identity(void)
{
    uint8_t m[512];
    size_t n;
    party i, r;

    party_init(&i, true);
    party_init(&r, false);
    forge(&r);
    n = write_msg(&i.hs, m, sizeof m);
    CHECK_EQ(noise_hs_read(&r.hs, m, n, err, sizeof err), 0);
    n = write_msg(&r.hs, m, sizeof m);
    CHECK(n > 0);
    CHECK_EQ(noise_hs_read(&i.hs, m, n, err, sizeof err), -1);
    CHECK(strstr(err, "peer's static key signature does not verify") != NULL);
    CHECK(noise_hs_remote(&i.hs) == NULL);
    /* The failed handshake is dead. */
    CHECK(!noise_hs_my_turn(&i.hs));
    CHECK_EQ(write_msg(&i.hs, m, sizeof m), 0);
    CHECK(strstr(err, "failed") != NULL);
    CHECK(sodium_is_zero(i.hs.ck, 32) && sodium_is_zero(i.hs.e_sk, 32));

    party_init(&i, true);
    party_init(&r, false);
    forge(&i);
    n = write_msg(&i.hs, m, sizeof m);
    CHECK_EQ(noise_hs_read(&r.hs, m, n, err, sizeof err), 0);
    n = write_msg(&r.hs, m, sizeof m);
    CHECK_EQ(noise_hs_read(&i.hs, m, n, err, sizeof err), 0);
    n = write_msg(&i.hs, m, sizeof m);
    CHECK(n > 0);
    CHECK_EQ(noise_hs_read(&r.hs, m, n, err, sizeof err), -1);
    CHECK(strstr(err, "peer's static key signature does not verify") != NULL);
    CHECK(noise_hs_remote(&r.hs) == NULL);
    CHECK(!noise_hs_done(&r.hs));
}

/* Runs the known-answer handshake up to message k (1..3) and returns the initiator or responder
 * about to read it, with the message in m. */
static size_t kat_up_to(int k, party *i, party *r, uint8_t *m)
{
    kat_parties(i, r);
    size_t n = write_msg(&i->hs, m, 512);
    if (k == 1)
        return n;
    CHECK_EQ(noise_hs_read(&r->hs, m, n, err, sizeof err), 0);
    n = write_msg(&r->hs, m, 512);
    if (k == 2)
        return n;
    CHECK_EQ(noise_hs_read(&i->hs, m, n, err, sizeof err), 0);
    return write_msg(&i->hs, m, 512);
}

static void test_tampering(void)
{
    party i, r;
    uint8_t m[512];
    size_t n;

    /* Every byte of messages 2 and 3 is covered: re through the transcript, the rest by tags. */
    bool all2 = true, all3 = true;
    for (size_t pos = 0; pos < 200; pos += 7) {
        n = kat_up_to(2, &i, &r, m);
        m[pos] ^= 0x01;
        all2 &= noise_hs_read(&i.hs, m, n, err, sizeof err) == -1 && !noise_hs_remote(&i.hs);
    }
    for (size_t pos = 0; pos < 168; pos += 5) {
        n = kat_up_to(3, &i, &r, m);
        m[pos] ^= 0x80;
        all3 &= noise_hs_read(&r.hs, m, n, err, sizeof err) == -1 && !noise_hs_remote(&r.hs);
    }
    CHECK(all2);
    CHECK(all3);
    n = kat_up_to(2, &i, &r, m);
    m[40] ^= 1;
    CHECK_EQ(noise_hs_read(&i.hs, m, n, err, sizeof err), -1);
    CHECK(strstr(err, "static key failed (bad tag)") != NULL);
    n = kat_up_to(2, &i, &r, m);
    m[n - 1] ^= 1;
    CHECK_EQ(noise_hs_read(&i.hs, m, n, err, sizeof err), -1);
    CHECK(strstr(err, "payload failed (bad tag)") != NULL);
    /* The untouched message still works (the loop above did not disturb the fixtures). */
    n = kat_up_to(2, &i, &r, m);
    CHECK_EQ(noise_hs_read(&i.hs, m, n, err, sizeof err), 0);

    /* A changed message 1 is read, but the transcripts differ and message 2 fails. */
    n = kat_up_to(1, &i, &r, m);
    m[3] ^= 1;
    CHECK_EQ(noise_hs_read(&r.hs, m, n, err, sizeof err), 0);
    n = write_msg(&r.hs, m, sizeof m);
    CHECK_EQ(noise_hs_read(&i.hs, m, n, err, sizeof err), -1);

    /* Transport: a flipped bit, a replay, a frame out of order. */
    party a, b;
    party_init(&a, true);
    party_init(&b, false);
    CHECK_EQ(handshake(&a.hs, &b.hs), 0);
    noise_cipher atx, arx, btx, brx;
    noise_hs_split(&a.hs, &atx, &arx);
    noise_hs_split(&b.hs, &btx, &brx);
    buf_t f1, f2;
    buf_init(&f1, 0);
    buf_init(&f2, 0);
    uint8_t pt[64];
    size_t got;
    CHECK_EQ(noise_encrypt(&atx, (const uint8_t *)"first", 5, &f1), 0);
    CHECK_EQ(noise_encrypt(&atx, (const uint8_t *)"second", 6, &f2), 0);
    f1.data[2] ^= 1;
    CHECK_EQ(noise_decrypt(&brx, f1.data + 2, f1.len - 2, pt, &got, err, sizeof err), -1);
    CHECK(strstr(err, "decryption failed (bad tag)") != NULL);
    CHECK_EQ(brx.n, 0);
    CHECK_EQ(noise_decrypt(&brx, f2.data + 2, f2.len - 2, pt, &got, err, sizeof err), -1);
    f1.data[2] ^= 1;
    f1.data[f1.len - 1] ^= 0x40;
    CHECK_EQ(noise_decrypt(&brx, f1.data + 2, f1.len - 2, pt, &got, err, sizeof err), -1);
    f1.data[f1.len - 1] ^= 0x40;
    CHECK_EQ(noise_decrypt(&brx, f1.data + 2, f1.len - 2, pt, &got, err, sizeof err), 0);
    CHECK(got == 5 && memcmp(pt, "first", 5) == 0);
    CHECK_EQ(noise_decrypt(&brx, f1.data + 2, f1.len - 2, pt, &got, err, sizeof err), -1);
    CHECK_EQ(noise_decrypt(&brx, f2.data + 2, f2.len - 2, pt, &got, err, sizeof err), 0);
    CHECK(got == 6 && memcmp(pt, "second", 6) == 0);
    /* A frame sent one way does not decrypt the other way. */
    buf_clear(&f1);
    CHECK_EQ(noise_encrypt(&atx, (const uint8_t *)"x", 1, &f1), 0);
    arx.n = atx.n - 1;
    CHECK_EQ(noise_decrypt(&arx, f1.data + 2, f1.len - 2, pt, &got, err, sizeof err), -1);
    buf_free(&f1);
    buf_free(&f2);
}

static void test_lengths_and_turns(void)
{
    party i, r;
    uint8_t m[512], zero[100] = {0};
    size_t n;

    /* Too short for each message, and empty. */
    n = kat_up_to(1, &i, &r, m);
    CHECK_EQ(noise_hs_read(&r.hs, m, 31, err, sizeof err), -1);
    CHECK(strstr(err, "bad length") != NULL);
    kat_up_to(1, &i, &r, m);
    CHECK_EQ(noise_hs_read(&r.hs, m, 0, err, sizeof err), -1);
    n = kat_up_to(2, &i, &r, m);
    CHECK_EQ(noise_hs_read(&i.hs, m, 32 + 48 + 15, err, sizeof err), -1);
    CHECK(strstr(err, "bad length") != NULL);
    n = kat_up_to(2, &i, &r, m);
    CHECK_EQ(noise_hs_read(&i.hs, m, n - 1, err, sizeof err), -1); /* long enough, bad tag */
    n = kat_up_to(2, &i, &r, m);
    CHECK_EQ(noise_hs_read(&i.hs, m, 32 + 48 + 16, err, sizeof err), -1); /* no payload */
    n = kat_up_to(3, &i, &r, m);
    CHECK_EQ(noise_hs_read(&r.hs, m, 48 + 15, err, sizeof err), -1);
    CHECK(strstr(err, "bad length") != NULL);
    n = kat_up_to(3, &i, &r, m);
    CHECK_EQ(noise_hs_read(&r.hs, m, n - 1, err, sizeof err), -1);
    CHECK_EQ(noise_hs_read(&r.hs, m, n, err, sizeof err), -1); /* dead after a failure */
    CHECK(strstr(err, "failed") != NULL);

    /* Message 1 with bytes after e: a cleartext payload by Noise's rules, hashed and ignored. */
    kat_parties(&i, &r);
    n = write_msg(&i.hs, m, sizeof m);
    memset(m + 32, 0xee, 8);
    CHECK_EQ(noise_hs_read(&r.hs, m, 40, err, sizeof err), 0);
    CHECK(noise_hs_my_turn(&r.hs));

    /* Out of turn. */
    kat_parties(&i, &r);
    CHECK_EQ(write_msg(&r.hs, m, sizeof m), 0);
    CHECK(strstr(err, "not our turn") != NULL);
    CHECK_EQ(noise_hs_read(&i.hs, zero, 32, err, sizeof err), -1);
    CHECK(strstr(err, "unexpected") != NULL);
    n = write_msg(&i.hs, m, sizeof m);
    CHECK_EQ(write_msg(&i.hs, m, sizeof m), 0); /* twice in a row */
    CHECK_EQ(noise_hs_read(&r.hs, m, n, err, sizeof err), 0);
    CHECK_EQ(noise_hs_read(&r.hs, m, n, err, sizeof err), -1); /* its turn to write */
    /* ... and those refusals did not break the handshake. */
    n = write_msg(&r.hs, m, sizeof m);
    CHECK_EQ(noise_hs_read(&i.hs, m, n, err, sizeof err), 0);
    n = write_msg(&i.hs, m, sizeof m);
    CHECK_EQ(noise_hs_read(&r.hs, m, n, err, sizeof err), 0);
    CHECK(noise_hs_done(&i.hs) && noise_hs_done(&r.hs));
    CHECK_EQ(noise_hs_read(&r.hs, m, n, err, sizeof err), -1); /* after the end */
    CHECK_EQ(noise_hs_read(&i.hs, m, n, err, sizeof err), -1);
    CHECK_EQ(write_msg(&i.hs, m, sizeof m), 0);

    /* An output buffer that refuses: an error, but the handshake can go on. */
    kat_parties(&i, &r);
    buf_t small;
    buf_init(&small, 10);
    CHECK_EQ(noise_hs_write(&i.hs, &small, err, sizeof err), -1);
    CHECK_EQ(small.len, 0);
    buf_free(&small);
    CHECK_EQ(handshake(&i.hs, &r.hs), 0);

    /* A low-order ephemeral key from the peer: the DH is all zeros, the responder refuses. */
    kat_parties(&i, &r);
    CHECK_EQ(noise_hs_read(&r.hs, zero, 32, err, sizeof err), 0);
    CHECK_EQ(write_msg(&r.hs, m, sizeof m), 0);
    CHECK(strstr(err, "low order") != NULL);
    CHECK(!noise_hs_my_turn(&r.hs));
}

static void test_cipher_limits(void)
{
    noise_cipher tx, rx;
    uint8_t pt[32];
    size_t got;
    buf_t b;
    buf_init(&b, 0);
    memset(&tx, 0, sizeof tx);
    randombytes_buf(tx.k, sizeof tx.k);
    rx = tx;

    /* Frames shorter than a tag. */
    CHECK_EQ(noise_decrypt(&rx, pt, 15, pt, &got, err, sizeof err), -1);
    CHECK(strstr(err, "bad frame length") != NULL);
    CHECK_EQ(noise_decrypt(&rx, pt, 0, pt, &got, err, sizeof err), -1);

    /* The last usable nonce is 2^64-2; 2^64-1 is reserved. */
    tx.n = rx.n = UINT64_MAX - 1;
    CHECK(round_trip(&tx, &rx, (const uint8_t *)"last", 4));
    CHECK(tx.n == UINT64_MAX && rx.n == UINT64_MAX);
    CHECK_EQ(noise_encrypt(&tx, (const uint8_t *)"more", 4, &b), -1);
    CHECK_EQ(b.len, 0);
    uint8_t ct[20] = {0};
    CHECK_EQ(noise_decrypt(&rx, ct, sizeof ct, pt, &got, err, sizeof err), -1);
    CHECK(strstr(err, "exhausted") != NULL);

    /* An output buffer that refuses leaves the nonce alone. */
    tx.n = 5;
    buf_t small;
    buf_init(&small, 17);
    CHECK_EQ(noise_encrypt(&tx, (const uint8_t *)"a", 1, &small), -1);
    CHECK_EQ(tx.n, 5);
    buf_free(&small);

    /* Frame boundaries. */
    size_t body = 99;
    static const uint8_t fr[] = {0x00, 0x03, 'a', 'b', 'c', 'd'};
    CHECK_EQ(noise_frame(fr, 0, &body), 0);
    CHECK_EQ(noise_frame(fr, 1, &body), 0);
    CHECK_EQ(noise_frame(fr, 4, &body), 0);
    CHECK_EQ(body, 99);
    CHECK_EQ(noise_frame(fr, 5, &body), 1);
    CHECK_EQ(body, 3);
    CHECK_EQ(noise_frame(fr, 6, &body), 1);
    CHECK_EQ(body, 3);
    CHECK_EQ(noise_frame((const uint8_t *)"\x00\x00", 2, &body), 1);
    CHECK_EQ(body, 0);
    CHECK_EQ(noise_frame((const uint8_t *)"\xff\xff", 2, &body), 0);
    buf_free(&b);
}

static void test_split_misuse(void)
{
    party i, r;
    noise_cipher tx, rx, tx2, rx2;
    buf_t b;
    buf_init(&b, 0);

    /* Before the end: ciphers that refuse everything. */
    party_init(&i, true);
    noise_hs_split(&i.hs, &tx, &rx);
    CHECK(tx.n == UINT64_MAX && rx.n == UINT64_MAX && sodium_is_zero(tx.k, 32));
    CHECK_EQ(noise_encrypt(&tx, (const uint8_t *)"x", 1, &b), -1);
    CHECK(!noise_hs_my_turn(&i.hs)); /* and the handshake is over */

    /* Twice: the second split has nothing left to derive from. */
    party_init(&i, true);
    party_init(&r, false);
    CHECK_EQ(handshake(&i.hs, &r.hs), 0);
    noise_hs_split(&i.hs, &tx, &rx);
    noise_hs_split(&i.hs, &tx2, &rx2);
    CHECK(tx.n == 0 && !sodium_is_zero(tx.k, 32));
    CHECK(tx2.n == UINT64_MAX && sodium_is_zero(tx2.k, 32));

    /* Wiping mid-way ends the handshake. */
    party_init(&i, true);
    party_init(&r, false);
    uint8_t m[512];
    size_t n = write_msg(&i.hs, m, sizeof m);
    noise_hs_wipe(&r.hs);
    CHECK_EQ(noise_hs_read(&r.hs, m, n, err, sizeof err), -1);
    CHECK(sodium_is_zero(r.hs.s_sk, 32) && sodium_is_zero(r.hs.id.sk, 64));
    buf_free(&b);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_handshake_and_transport();
    test_known_answer();
    test_payloads();
    test_forged_identity();
    test_tampering();
    test_lengths_and_turns();
    test_cipher_limits();
    test_split_misuse();
    return CHECK_DONE();
}
