/* libFuzzer target: multiaddrs (binary and text) and peer ids (binary and text) must be
 * accepted or refused without a fault, and whatever is accepted must round-trip stably:
 * bytes -> text -> bytes gives the same bytes, and text printed once prints the same again.
 * An inconsistency aborts. Also the base58 and base32 decoders, which peer ids sit on.
 * Build with -DSWARM_FUZZ=ON (clang); run: build-fuzz/fuzz_p2p_addr -max_total_time=60 */
#include <stdlib.h>
#include <string.h>

#include "p2p.h"

#define TEXT_MAX 4096

static void must(bool ok)
{
    if (!ok)
        abort();
}

/* ma must print, and the print must parse back to ma's bytes and print the same again. */
static void check_maddr(const p2p_maddr *ma)
{
    char err[256];
    static char s1[TEXT_MAX], s2[TEXT_MAX];
    p2p_maddr again;
    must(p2p_maddr_from_bytes(ma->b, ma->len, &again, err, sizeof err) == 0);
    p2p_maddr_cstr(ma, s1, sizeof s1);
    must(s1[0] == '/'); /* every valid, non-empty multiaddr fits TEXT_MAX */
    must(p2p_maddr_parse(s1, &again, err, sizeof err) == 0);
    must(again.len == ma->len && memcmp(again.b, ma->b, ma->len) == 0);
    p2p_maddr_cstr(&again, s2, sizeof s2);
    must(strcmp(s1, s2) == 0);

    p2p_tcp_addr t;
    if (p2p_maddr_to_tcp(ma, &t, err, sizeof err) == 0) {
        must(t.family == AF_INET || t.family == AF_INET6 || t.family == AF_UNSPEC);
        must(strlen(t.host) > 0 && strlen(t.host) < sizeof t.host);
    }
    p2p_maddr with = *ma;
    p2p_peer_id id;
    p2p_peer_id_from_pubkey((const uint8_t[32]){1, 2, 3}, &id);
    if (p2p_maddr_add_peer(&with, &id, err, sizeof err) == 0)
        must(p2p_maddr_from_bytes(with.b, with.len, &again, err, sizeof err) == 0);
    else
        must(with.len == ma->len);
}

/* id must print, parse back to itself, and read back from its bytes. */
static void check_peer_id(const p2p_peer_id *id)
{
    char err[256], s[P2P_PEER_ID_STRLEN];
    p2p_peer_id again;
    must(p2p_peer_id_from_bytes(id->b, id->len, &again, err, sizeof err) == 0);
    must(p2p_peer_id_eq(id, &again));
    p2p_peer_id_str(id, s);
    must(s[0] != '\0');
    must(p2p_peer_id_parse(s, &again, err, sizeof err) == 0);
    must(p2p_peer_id_eq(id, &again));
    uint8_t pk[32];
    if (p2p_peer_id_pubkey(id, pk) == 0) {
        p2p_peer_id_from_pubkey(pk, &again);
        must(p2p_peer_id_eq(id, &again));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    p2p_maddr ma;
    p2p_peer_id id;

    /* The bytes as a binary multiaddr and a binary peer id. */
    if (p2p_maddr_from_bytes(data, size, &ma, err, sizeof err) == 0) {
        must(ma.len == size && memcmp(ma.b, data, size) == 0);
        check_maddr(&ma);
    }
    if (p2p_peer_id_from_bytes(data, size, &id, err, sizeof err) == 0)
        check_peer_id(&id);
    uint8_t pk[32];
    if (p2p_pubkey_decode(data, size, pk, err, sizeof err) == 0) {
        uint8_t enc[P2P_PUBKEY_PROTO_LEN];
        p2p_pubkey_encode(pk, enc);
        must(p2p_pubkey_decode(enc, sizeof enc, pk, err, sizeof err) == 0);
    }

    /* The bytes as text (up to the first NUL). */
    static char text[TEXT_MAX + 1];
    size_t n = size < TEXT_MAX ? size : TEXT_MAX;
    memcpy(text, data, n);
    text[n] = '\0';
    if (p2p_maddr_parse(text, &ma, err, sizeof err) == 0)
        check_maddr(&ma);
    if (p2p_peer_id_parse(text, &id, err, sizeof err) == 0)
        check_peer_id(&id);

    /* base58 is a bijection; base32 accepts either case and prints lowercase. */
    size_t len = strlen(text), m;
    uint8_t dec[TEXT_MAX];
    static char enc[2 * TEXT_MAX + 2];
    if (base58_decode(text, len, dec, sizeof dec, &m, err, sizeof err) == 0) {
        must(base58_encode(dec, m, enc, sizeof enc) == len);
        must(memcmp(enc, text, len) == 0);
    }
    if (base32_decode(text, len, dec, sizeof dec, &m, err, sizeof err) == 0) {
        must(base32_encode(dec, m, enc) == len);
        for (size_t i = 0; i < len; i++) {
            char c = text[i] >= 'A' && text[i] <= 'Z' ? (char)(text[i] - 'A' + 'a') : text[i];
            must(enc[i] == c);
        }
    }
    return 0;
}
