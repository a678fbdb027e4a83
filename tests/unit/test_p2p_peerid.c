/* Keys and peer ids: the peer-ids spec's Ed25519 vector, the PublicKey codec, the key file,
 * and the text forms of peer ids (base58btc, CIDv1 in base32 and base58btc). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "check.h"
#include "p2p.h"

/* From libp2p/specs peer-ids/peer-ids.md, "Test vectors": an Ed25519 PrivateKey and its
 * PublicKey; the peer id and CIDs below were derived from them. */
static const char vec_private[] =
    "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d"
    "1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
static const char vec_public[] =
    "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
static const char vec_id[] = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
static const char vec_cid32[] = "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6";
static const char vec_cid58[] = "z5AanNVJCxnGuh8TJu4nye3dE3NbxAd8FB9cr46uVagyFPuibMxok2R";
/* The spec's sha2-256 example and its CIDv1. */
static const char vec_qm[] = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";
static const char vec_qm_cid[] = "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe";

static char dir[512];
static char err[256];

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = 0;
    CHECK_EQ(hex_decode(h, strlen(h), out, &n, err, sizeof err), 0);
    return n;
}

static void test_vector(void)
{
    uint8_t priv[68], pub[36];
    CHECK_EQ(unhex(vec_private, priv), 68);
    CHECK_EQ(unhex(vec_public, pub), 36);

    /* The seed derives the vector's public key. */
    uint8_t pk[32], sk[64];
    CHECK_EQ(crypto_sign_seed_keypair(pk, sk, priv + 4), 0);
    CHECK_MEM_EQ(pk, pub + 4, 32);
    CHECK_MEM_EQ(sk, priv + 4, 64);

    uint8_t enc[P2P_PUBKEY_PROTO_LEN];
    p2p_pubkey_encode(pk, enc);
    CHECK_MEM_EQ(enc, pub, 36);

    uint8_t dec[32];
    CHECK_EQ(p2p_pubkey_decode(pub, 36, dec, err, sizeof err), 0);
    CHECK_MEM_EQ(dec, pk, 32);

    p2p_peer_id id, id2;
    p2p_peer_id_from_pubkey(pk, &id);
    CHECK_EQ(id.len, 38);
    CHECK_EQ(id.b[0], 0x00);
    CHECK_EQ(id.b[1], 36);
    char s[P2P_PEER_ID_STRLEN];
    CHECK_STR_EQ(p2p_peer_id_str(&id, s), vec_id);

    CHECK_EQ(p2p_peer_id_parse(vec_id, &id2, err, sizeof err), 0);
    CHECK(p2p_peer_id_eq(&id, &id2));
    CHECK_EQ(p2p_peer_id_parse(vec_cid32, &id2, err, sizeof err), 0);
    CHECK(p2p_peer_id_eq(&id, &id2));
    CHECK_EQ(p2p_peer_id_parse(vec_cid58, &id2, err, sizeof err), 0);
    CHECK(p2p_peer_id_eq(&id, &id2));

    uint8_t back[32];
    CHECK_EQ(p2p_peer_id_pubkey(&id, back), 0);
    CHECK_MEM_EQ(back, pk, 32);

    /* Binary round trip. */
    CHECK_EQ(p2p_peer_id_from_bytes(id.b, id.len, &id2, err, sizeof err), 0);
    CHECK(p2p_peer_id_eq(&id, &id2));
}

/* Our own CIDv1 of an id: 'b' + base32(0x01, 0x72, multihash). */
static void cid_of(const p2p_peer_id *id, char *out)
{
    uint8_t b[2 + P2P_PEER_ID_MAX] = {0x01, 0x72};
    memcpy(b + 2, id->b, id->len);
    out[0] = 'b';
    base32_encode(b, 2u + id->len, out + 1);
}

static void test_sha256_ids(void)
{
    p2p_peer_id id, id2;
    CHECK_EQ(p2p_peer_id_parse(vec_qm, &id, err, sizeof err), 0);
    CHECK_EQ(id.len, 34);
    CHECK_EQ(id.b[0], 0x12);
    CHECK_EQ(id.b[1], 0x20);
    char s[P2P_PEER_ID_STRLEN], cid[200];
    CHECK_STR_EQ(p2p_peer_id_str(&id, s), vec_qm);
    CHECK_EQ(p2p_peer_id_parse(vec_qm_cid, &id2, err, sizeof err), 0);
    CHECK(p2p_peer_id_eq(&id, &id2));
    cid_of(&id, cid);
    CHECK_STR_EQ(cid, vec_qm_cid);
    uint8_t pk[32];
    CHECK_EQ(p2p_peer_id_pubkey(&id, pk), -1); /* a hash embeds no key */
}

static void test_fresh_keys(void)
{
    p2p_key k;
    CHECK_EQ(p2p_key_generate(&k, err, sizeof err), 0);
    p2p_peer_id id, id2;
    p2p_peer_id_from_pubkey(k.pk, &id);
    char s[P2P_PEER_ID_STRLEN], cid[200];
    p2p_peer_id_str(&id, s);
    CHECK(strncmp(s, "12D3KooW", 8) == 0);
    CHECK_EQ(p2p_peer_id_parse(s, &id2, err, sizeof err), 0);
    CHECK(p2p_peer_id_eq(&id, &id2));
    cid_of(&id, cid);
    CHECK(strncmp(cid, "bafzaa", 6) == 0);
    CHECK_EQ(p2p_peer_id_parse(cid, &id2, err, sizeof err), 0);
    CHECK(p2p_peer_id_eq(&id, &id2));
    /* Uppercase multibase 'B' is base32 too. */
    for (char *c = cid; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    CHECK_EQ(p2p_peer_id_parse(cid, &id2, err, sizeof err), 0);
    CHECK(p2p_peer_id_eq(&id, &id2));

    uint8_t sig[64];
    const uint8_t msg[] = "noise-libp2p-static-key:";
    p2p_key_sign(&k, msg, sizeof msg - 1, sig);
    CHECK(p2p_key_verify(k.pk, msg, sizeof msg - 1, sig));
    sig[10] ^= 1;
    CHECK(!p2p_key_verify(k.pk, msg, sizeof msg - 1, sig));
    sig[10] ^= 1;
    CHECK(!p2p_key_verify(k.pk, msg, sizeof msg - 2, sig));

    p2p_key k2;
    CHECK_EQ(p2p_key_generate(&k2, err, sizeof err), 0);
    CHECK(memcmp(k.pk, k2.pk, 32) != 0);
    p2p_peer_id_from_pubkey(k2.pk, &id2);
    CHECK(!p2p_peer_id_eq(&id, &id2));
}

static void test_pubkey_decode_errors(void)
{
    uint8_t pk[32];
    uint8_t pub[36];
    unhex(vec_public, pub);
    /* RSA, secp256k1, ECDSA, unknown type. */
    uint8_t t[36];
    memcpy(t, pub, 36);
    t[1] = 0;
    CHECK_EQ(p2p_pubkey_decode(t, 36, pk, err, sizeof err), -1);
    CHECK(strstr(err, "RSA keys are not supported") != NULL);
    t[1] = 2;
    CHECK_EQ(p2p_pubkey_decode(t, 36, pk, err, sizeof err), -1);
    CHECK(strstr(err, "Secp256k1") != NULL);
    t[1] = 3;
    CHECK_EQ(p2p_pubkey_decode(t, 36, pk, err, sizeof err), -1);
    CHECK(strstr(err, "ECDSA") != NULL);
    t[1] = 9;
    CHECK_EQ(p2p_pubkey_decode(t, 36, pk, err, sizeof err), -1);
    /* Wrong lengths. */
    memcpy(t, pub, 36);
    t[3] = 31;
    CHECK_EQ(p2p_pubkey_decode(t, 35, pk, err, sizeof err), -1);
    CHECK(strstr(err, "31 bytes") != NULL);
    CHECK_EQ(p2p_pubkey_decode(pub, 35, pk, err, sizeof err), -1); /* truncated */
    CHECK_EQ(p2p_pubkey_decode(pub, 0, pk, err, sizeof err), -1);
    CHECK_EQ(p2p_pubkey_decode(pub, 2, pk, err, sizeof err), -1); /* no Data */
    /* Fields in the other order still decode (protobuf), to the same key. */
    uint8_t swapped[36];
    memcpy(swapped, pub + 2, 34);
    swapped[34] = 0x08;
    swapped[35] = 0x01;
    CHECK_EQ(p2p_pubkey_decode(swapped, 36, pk, err, sizeof err), 0);
    CHECK_MEM_EQ(pk, pub + 4, 32);
}

static void test_peer_id_errors(void)
{
    p2p_peer_id id;
    const char *bad[] = {
        "",
        "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3p", /* truncated */
        "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pqq",
        "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3p0", /* '0' not base58 */
        "12D3KooW Btg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq",
        "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5",                     /* truncated sha256 */
        "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt",  /* truncated */
        "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyT6", /* mixed case */
        "bafyaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6", /* codec 0x70 */
        "mAXIAJAgBEiAe0ej64sShRLi+j9S0e/PTs0uHHDys9gEPDkLUdPzifg",           /* base64 */
        "b",
        "z",
        "1",
        "11111111",
        "xyz",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        int rc = p2p_peer_id_parse(bad[i], &id, err, sizeof err);
        if (rc == 0)
            fprintf(stderr, "accepted bad id %s\n", bad[i]);
        CHECK_EQ(rc, -1);
        CHECK(err[0] != '\0');
    }
    CHECK_EQ(p2p_peer_id_parse("quic", &id, err, sizeof err), -1);
    CHECK(strstr(err, "neither base58btc") != NULL);

    char longtext[400];
    memset(longtext, 'z', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    CHECK_EQ(p2p_peer_id_parse(longtext, &id, err, sizeof err), -1);

    /* Binary forms. */
    uint8_t b[P2P_PEER_ID_MAX + 8] = {0};
    CHECK_EQ(p2p_peer_id_from_bytes(b, 0, &id, err, sizeof err), -1);
    CHECK_EQ(p2p_peer_id_from_bytes(b, 1, &id, err, sizeof err), -1);
    b[0] = 0x00; /* identity, 0 bytes */
    b[1] = 0;
    CHECK_EQ(p2p_peer_id_from_bytes(b, 2, &id, err, sizeof err), -1);
    b[1] = 3; /* identity, 3 bytes: fine */
    CHECK_EQ(p2p_peer_id_from_bytes(b, 5, &id, err, sizeof err), 0);
    CHECK_EQ(p2p_peer_id_from_bytes(b, 4, &id, err, sizeof err), -1); /* short */
    CHECK_EQ(p2p_peer_id_from_bytes(b, 6, &id, err, sizeof err), -1); /* trailing */
    b[1] = P2P_PEER_ID_MAX - 2;                                       /* the largest identity id */
    CHECK_EQ(p2p_peer_id_from_bytes(b, P2P_PEER_ID_MAX, &id, err, sizeof err), 0);
    char s[P2P_PEER_ID_STRLEN];
    p2p_peer_id id2;
    CHECK_EQ(p2p_peer_id_parse(p2p_peer_id_str(&id, s), &id2, err, sizeof err), 0);
    CHECK(p2p_peer_id_eq(&id, &id2));
    CHECK_EQ(p2p_peer_id_pubkey(&id, (uint8_t[32]){0}), -1);
    b[1] = P2P_PEER_ID_MAX - 1;
    CHECK_EQ(p2p_peer_id_from_bytes(b, P2P_PEER_ID_MAX + 1, &id, err, sizeof err), -1);
    b[0] = 0x12; /* sha2-256 of the wrong size */
    b[1] = 20;
    CHECK_EQ(p2p_peer_id_from_bytes(b, 22, &id, err, sizeof err), -1);
    b[0] = 0x13; /* sha2-512 (truncated to 32 bytes): not ours */
    b[1] = 32;
    CHECK_EQ(p2p_peer_id_from_bytes(b, 34, &id, err, sizeof err), -1);
    CHECK(strstr(err, "unsupported multihash 0x13") != NULL);
    b[0] = 0x80; /* truncated varint */
    CHECK_EQ(p2p_peer_id_from_bytes(b, 2, &id, err, sizeof err), -1);
}

/* The mode bits of path, or -1. */
static int mode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

static void write_bytes(const char *path, const uint8_t *p, size_t n, mode_t mode)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK_EQ(fwrite(p, 1, n, f), n);
    fclose(f);
    CHECK_EQ(chmod(path, mode), 0);
}

static void test_key_file(void)
{
    char path[1024], sub[700];
    p2p_key k, k2;
    bool created = false;

    /* Created in directories that do not exist yet, 0600 in 0700. */
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    snprintf(path, sizeof path, "%s/key", sub);
    CHECK_EQ(p2p_key_load_or_create(path, &k, &created, err, sizeof err), 0);
    CHECK(created);
    CHECK_EQ(mode_of(path), 0600);
    CHECK_EQ(mode_of(sub), 0700);
    snprintf(sub, sizeof sub, "%s/a", dir);
    CHECK_EQ(mode_of(sub), 0700);

    /* Its content is exactly the PrivateKey protobuf of the key. */
    uint8_t *data = NULL;
    size_t len = 0;
    CHECK_EQ(util_read_file(path, 4096, &data, &len, err, sizeof err), 0);
    CHECK_EQ(len, 68);
    if (data && len == 68) {
        CHECK_MEM_EQ(data, "\x08\x01\x12\x40", 4);
        CHECK_MEM_EQ(data + 4, k.sk, 64);
    }
    free(data);

    /* Reloading gives the same key. */
    CHECK_EQ(p2p_key_load_or_create(path, &k2, &created, err, sizeof err), 0);
    CHECK(!created);
    CHECK_MEM_EQ(k.sk, k2.sk, 64);
    CHECK_MEM_EQ(k.pk, k2.pk, 32);

    /* The spec's vector loads, and derives the spec's peer id. */
    uint8_t priv[68];
    unhex(vec_private, priv);
    snprintf(path, sizeof path, "%s/vector.key", dir);
    write_bytes(path, priv, 68, 0600);
    CHECK_EQ(p2p_key_load_or_create(path, &k2, &created, err, sizeof err), 0);
    p2p_peer_id id;
    char s[P2P_PEER_ID_STRLEN];
    p2p_peer_id_from_pubkey(k2.pk, &id);
    CHECK_STR_EQ(p2p_peer_id_str(&id, s), vec_id);

    /* Readable by group or others: refused, with the fix in the message. */
    CHECK_EQ(chmod(path, 0644), 0);
    CHECK_EQ(p2p_key_load_or_create(path, &k2, &created, err, sizeof err), -1);
    CHECK(strstr(err, "chmod 600") != NULL);
    CHECK_EQ(chmod(path, 0640), 0);
    CHECK_EQ(p2p_key_load_or_create(path, &k2, &created, err, sizeof err), -1);
    CHECK_EQ(chmod(path, 0604), 0);
    CHECK_EQ(p2p_key_load_or_create(path, &k2, &created, err, sizeof err), -1);
    CHECK_EQ(chmod(path, 0400), 0);
    CHECK_EQ(p2p_key_load_or_create(path, &k2, &created, err, sizeof err), 0);

    /* A public half that does not match the seed: corrupt. */
    priv[40] ^= 0x01;
    snprintf(path, sizeof path, "%s/corrupt.key", dir);
    write_bytes(path, priv, 68, 0600);
    CHECK_EQ(p2p_key_load_or_create(path, &k2, &created, err, sizeof err), -1);
    CHECK(strstr(err, "corrupt") != NULL);
    priv[40] ^= 0x01;
    /* Truncated, garbage, empty, wrong type, wrong length. */
    write_bytes(path, priv, 40, 0600);
    CHECK_EQ(p2p_key_load_or_create(path, &k2, &created, err, sizeof err), -1);
    write_bytes(path, (const uint8_t *)"hello world", 11, 0600);
    CHECK_EQ(p2p_key_load_or_create(path, &k2, &created, err, sizeof err), -1);
    write_bytes(path, priv, 0, 0600);
    CHECK_EQ(p2p_key_load_or_create(path, &k2, &created, err, sizeof err), -1);
    priv[1] = 0;
    write_bytes(path, priv, 68, 0600);
    CHECK_EQ(p2p_key_load_or_create(path, &k2, &created, err, sizeof err), -1);
    CHECK(strstr(err, "RSA keys are not supported") != NULL);
    priv[1] = 1;
    priv[3] = 0x20; /* 32-byte Data */
    write_bytes(path, priv, 36, 0600);
    CHECK_EQ(p2p_key_load_or_create(path, &k2, &created, err, sizeof err), -1);
    CHECK(strstr(err, "32 bytes") != NULL);
    /* Nothing was replaced by a failed load. */
    CHECK_EQ(mode_of(path), 0600);

    /* A FIFO where the file should be: refused, without blocking. */
    snprintf(path, sizeof path, "%s/fifo.key", dir);
    CHECK_EQ(mkfifo(path, 0600), 0);
    CHECK_EQ(p2p_key_load_or_create(path, &k2, &created, err, sizeof err), -1);
    CHECK(strstr(err, "not a regular file") != NULL);

    /* A directory where the file should be. */
    snprintf(path, sizeof path, "%s/a", dir);
    CHECK_EQ(p2p_key_load_or_create(path, &k2, &created, err, sizeof err), -1);

    /* Save replaces atomically and leaves no temporary files. */
    snprintf(path, sizeof path, "%s/saved.key", dir);
    CHECK_EQ(p2p_key_save(path, &k, err, sizeof err), 0);
    CHECK_EQ(mode_of(path), 0600);
    CHECK_EQ(p2p_key_save(path, &k2, err, sizeof err), 0);
    p2p_key k3;
    CHECK_EQ(p2p_key_load_or_create(path, &k3, &created, err, sizeof err), 0);
    CHECK(!created);
    CHECK_MEM_EQ(k3.sk, k2.sk, 64);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q tmp", dir);
    CHECK(system(cmd) != 0);

    /* A parent that cannot be created. */
    snprintf(path, sizeof path, "%s/saved.key/sub/key", dir);
    CHECK_EQ(p2p_key_load_or_create(path, &k3, &created, err, sizeof err), -1);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/swarm-peerid-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_vector();
    test_sha256_ids();
    test_fresh_keys();
    test_pubkey_decode_errors();
    test_peer_id_errors();
    test_key_file();

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_DONE();
}
