/* Multiaddrs: text and binary forms, canonical printing, the TCP view, socket addresses, and
 * the errors for everything we do not accept. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "check.h"
#include "p2p.h"

static char err[256];

static const char id_text[] = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
static const char id_cid[] = "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6";
static const char qm_text[] = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";

/* Parses text and checks that it prints as want (NULL: as itself) and reads back from its
 * bytes to the same bytes. */
static void round_trip(const char *text, const char *want)
{
    p2p_maddr ma, ma2;
    char s[1024];
    err[0] = '\0';
    int rc = p2p_maddr_parse(text, &ma, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "parse %s: %s\n", text, err);
    CHECK_EQ(rc, 0);
    if (rc != 0)
        return;
    CHECK_STR_EQ(p2p_maddr_cstr(&ma, s, sizeof s), want ? want : text);
    CHECK_EQ(p2p_maddr_from_bytes(ma.b, ma.len, &ma2, err, sizeof err), 0);
    CHECK_EQ(ma2.len, ma.len);
    CHECK_MEM_EQ(ma2.b, ma.b, ma.len);
    CHECK_EQ(p2p_maddr_parse(s, &ma2, err, sizeof err), 0);
    CHECK_EQ(ma2.len, ma.len);
    CHECK_MEM_EQ(ma2.b, ma.b, ma.len);
}

static void check_bytes(const char *text, const char *hex)
{
    p2p_maddr ma;
    uint8_t want[P2P_MADDR_MAX];
    size_t n = 0;
    CHECK_EQ(hex_decode(hex, strlen(hex), want, &n, err, sizeof err), 0);
    CHECK_EQ(p2p_maddr_parse(text, &ma, err, sizeof err), 0);
    CHECK_EQ(ma.len, n);
    CHECK_MEM_EQ(ma.b, want, n);
}

static void test_text(void)
{
    char withid[200], ipfs[200], cid[200];
    round_trip("/ip4/127.0.0.1/tcp/4001", NULL);
    round_trip("/ip4/0.0.0.0/tcp/0", NULL);
    round_trip("/ip4/255.255.255.255/udp/65535", NULL);
    round_trip("/ip6/::1/tcp/4001", NULL);
    round_trip("/ip6/2001:db8::8a2e:370:7334/tcp/1", NULL);
    round_trip("/ip6/0:0:0:0:0:0:0:1/tcp/80", "/ip6/::1/tcp/80");
    round_trip("/ip6/2001:DB8:0:0:0:0:0:1/tcp/80", "/ip6/2001:db8::1/tcp/80");
    round_trip("/ip6/::ffff:1.2.3.4/tcp/80", NULL);
    round_trip("/dns/example.com/tcp/443", NULL);
    round_trip("/dns4/example.com/tcp/443", NULL);
    round_trip("/dns6/example.com/tcp/443", NULL);
    round_trip("/dnsaddr/bootstrap.libp2p.io", NULL);
    round_trip("/dns/b\xc3\xbc\x63her.example/tcp/1", NULL); /* UTF-8 */
    round_trip("/tcp/007", "/tcp/7");
    round_trip("/ip4/1.2.3.4/tcp/5/", "/ip4/1.2.3.4/tcp/5"); /* one trailing slash */
    snprintf(withid, sizeof withid, "/ip4/127.0.0.1/tcp/4001/p2p/%s", id_text);
    round_trip(withid, NULL);
    snprintf(ipfs, sizeof ipfs, "/ip4/127.0.0.1/tcp/4001/ipfs/%s", id_text);
    round_trip(ipfs, withid);
    snprintf(cid, sizeof cid, "/ip4/127.0.0.1/tcp/4001/p2p/%s", id_cid);
    round_trip(cid, withid);
    snprintf(withid, sizeof withid, "/p2p/%s", qm_text);
    round_trip(withid, NULL);

    char name[300];
    memset(name, 'a', 255);
    name[255] = '\0';
    char text[400];
    snprintf(text, sizeof text, "/dns/%s/tcp/1", name);
    round_trip(text, NULL);
}

static void test_binary_forms(void)
{
    char text[200], hex[300];
    check_bytes("/ip4/127.0.0.1/tcp/4001", "047f000001060fa1");
    check_bytes("/ip6/::1/tcp/4001", "2900000000000000000000000000000001060fa1");
    check_bytes("/udp/53", "91020035");
    check_bytes("/dns4/example.com/tcp/443", "360b6578616d706c652e636f6d0601bb");
    check_bytes("/dnsaddr/a.io", "3804612e696f");
    /* p2p: code 421 = a5 03, length 38, then the identity multihash of the key. */
    snprintf(text, sizeof text, "/p2p/%s", id_text);
    snprintf(hex, sizeof hex, "a50326%s%s", "0024",
             "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e");
    check_bytes(text, hex);
}

static void bad_text(const char *text, const char *want)
{
    p2p_maddr ma;
    err[0] = '\0';
    int rc = p2p_maddr_parse(text, &ma, err, sizeof err);
    if (rc == 0)
        fprintf(stderr, "accepted bad multiaddr %s\n", text);
    CHECK_EQ(rc, -1);
    if (want && !strstr(err, want))
        fprintf(stderr, "'%s': message \"%s\" lacks \"%s\"\n", text, err, want);
    CHECK(want ? strstr(err, want) != NULL : err[0] != '\0');
}

static void test_text_errors(void)
{
    bad_text("", "start with '/'");
    bad_text("/", "empty multiaddr");
    bad_text("ip4/1.2.3.4", "start with '/'");
    bad_text("/quic", "unknown protocol 'quic' in multiaddr");
    bad_text("/ip4/1.2.3.4/udp/1/quic-v1", "unknown protocol 'quic-v1' in multiaddr");
    bad_text("/ip4", "missing ip4 value");
    bad_text("/ip4/", "missing ip4 value");
    bad_text("/ip4//tcp/1", "missing ip4 value");
    bad_text("//ip4/1.2.3.4", "empty protocol name");
    bad_text("/ip4/1.2.3.4//tcp/1", "empty protocol name");
    bad_text("/ip4/1.2.3.4//", "empty protocol name");
    bad_text("/ip4/256.0.0.1", "invalid ip4 address '256.0.0.1'");
    bad_text("/ip4/1.2.3", "invalid ip4 address");
    bad_text("/ip4/::1", "invalid ip4 address");
    bad_text("/ip4/01.2.3.4", "invalid ip4 address");
    bad_text("/ip6/1.2.3.4", "invalid ip6 address");
    bad_text("/ip6/fe80::1%eth0", "invalid ip6 address");
    bad_text("/ip6/:::", "invalid ip6 address");
    bad_text("/tcp/65536", "invalid tcp port '65536'");
    bad_text("/tcp/-1", "invalid tcp port");
    bad_text("/tcp/0x10", "invalid tcp port");
    bad_text("/tcp/ 1", "invalid tcp port");
    bad_text("/tcp/1 ", "invalid tcp port");
    bad_text("/tcp/100000", "invalid tcp port");
    bad_text("/udp/+5", "invalid udp port");
    bad_text("/tcp", "missing tcp value");
    bad_text("/dns", "missing dns value");
    bad_text("/dns/a\tb", "invalid character");
    bad_text("/dns/\xff", "UTF-8");
    bad_text("/dns/\xc0\xaf", "UTF-8"); /* overlong '/' */
    bad_text("/p2p/notapeerid", "invalid p2p value");
    bad_text("/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3p", "invalid p2p value");
    bad_text("/IP4/1.2.3.4", "unknown protocol 'IP4'");

    char name[300], text[400];
    memset(name, 'a', 256);
    name[256] = '\0';
    snprintf(text, sizeof text, "/dns/%s", name);
    bad_text(text, "dns name of 256 bytes");

    /* Too long for P2P_MADDR_MAX: 7 names of 60 bytes take 7 * 62 = 434 bytes. */
    memset(name, 'b', 60);
    name[60] = '\0';
    char big[1000] = "";
    for (int i = 0; i < 7; i++) {
        strcat(big, "/dns/");
        strcat(big, name);
    }
    bad_text(big, "too long");
    /* But 6 fit (372 bytes). */
    big[strlen(big) - 65] = '\0';
    p2p_maddr ma;
    CHECK_EQ(p2p_maddr_parse(big, &ma, err, sizeof err), 0);
    CHECK_EQ(ma.len, 372);
    /* A long unknown name is cut in the message, not overflowed. */
    char longname[2000] = "/";
    memset(longname + 1, 'q', 1500);
    longname[1501] = '\0';
    bad_text(longname, "unknown protocol 'qqqq");
}

static void bad_bytes(const char *hex, const char *want)
{
    uint8_t b[P2P_MADDR_MAX + 10];
    size_t n = 0;
    CHECK_EQ(hex_decode(hex, strlen(hex), b, &n, err, sizeof err), 0);
    p2p_maddr ma;
    err[0] = '\0';
    CHECK_EQ(p2p_maddr_from_bytes(b, n, &ma, err, sizeof err), -1);
    if (want && !strstr(err, want))
        fprintf(stderr, "%s: message \"%s\" lacks \"%s\"\n", hex, err, want);
    CHECK(want ? strstr(err, want) != NULL : err[0] != '\0');
}

static void test_binary_errors(void)
{
    bad_bytes("", "empty multiaddr");
    bad_bytes("047f0000", "truncated ip4");
    bad_bytes("047f000001060f", "truncated tcp");
    bad_bytes("047f00000106", "truncated tcp");
    bad_bytes("29000000", "truncated ip6");
    bad_bytes("cc03", "unknown protocol code 460"); /* quic */
    bad_bytes("00", "unknown protocol code 0");
    bad_bytes("80", "malformed protocol code");
    bad_bytes("8400", "malformed protocol code"); /* not minimal */
    bad_bytes("35", "malformed dns value length");
    bad_bytes("3500", "empty dns name");
    bad_bytes("3505616263", "truncated dns");
    bad_bytes("3503612f62", "invalid character 0x2f");
    bad_bytes("3503610062", "invalid character 0x00");
    bad_bytes("a503020000", "invalid p2p value");
    bad_bytes("a5030213", "truncated p2p");
    bad_bytes("a503021300", "invalid p2p value");

    uint8_t big[P2P_MADDR_MAX + 1];
    memset(big, 0, sizeof big);
    p2p_maddr ma;
    CHECK_EQ(p2p_maddr_from_bytes(big, sizeof big, &ma, err, sizeof err), -1);
    CHECK(strstr(err, "too long") != NULL);
    /* 100 ip4 components fill P2P_MADDR_MAX exactly. */
    for (int i = 0; i < 80; i++)
        big[5 * i] = 0x04;
    CHECK_EQ(p2p_maddr_from_bytes(big, 400, &ma, err, sizeof err), 0);
    CHECK_EQ(ma.len, 400);
    char s[8];
    CHECK_STR_EQ(p2p_maddr_cstr(&ma, s, sizeof s), ""); /* does not fit */
    char *all = malloc(4096);
    CHECK(all != NULL);
    if (all) {
        CHECK(strncmp(p2p_maddr_cstr(&ma, all, 4096), "/ip4/0.0.0.0/ip4/", 17) == 0);
        free(all);
    }
}

static void test_cstr_and_str(void)
{
    p2p_maddr ma;
    CHECK_EQ(p2p_maddr_parse("/ip4/1.2.3.4/tcp/5", &ma, err, sizeof err), 0);
    char s[32];
    CHECK_STR_EQ(p2p_maddr_cstr(&ma, s, 19), "/ip4/1.2.3.4/tcp/5"); /* 18 + NUL */
    memset(s, 'X', sizeof s);
    CHECK_STR_EQ(p2p_maddr_cstr(&ma, s, 18), "");
    CHECK_STR_EQ(p2p_maddr_cstr(&ma, s, 0), "");

    buf_t b;
    buf_init(&b, 0);
    CHECK_EQ(buf_puts(&b, "addr="), 0);
    CHECK_EQ(p2p_maddr_str(&ma, &b), 0);
    CHECK_STR_EQ(buf_cstr(&b), "addr=/ip4/1.2.3.4/tcp/5");
    buf_free(&b);
    buf_init(&b, 10); /* refuses: the content stays as it was */
    CHECK_EQ(buf_puts(&b, "x="), 0);
    CHECK_EQ(p2p_maddr_str(&ma, &b), -1);
    CHECK_EQ(b.len, 2);
    buf_free(&b);
}

static void test_add_peer(void)
{
    p2p_maddr ma;
    p2p_peer_id id;
    char s[300], want[200];
    CHECK_EQ(p2p_peer_id_parse(id_text, &id, err, sizeof err), 0);
    CHECK_EQ(p2p_maddr_parse("/ip4/10.0.0.1/tcp/4001", &ma, err, sizeof err), 0);
    CHECK_EQ(p2p_maddr_add_peer(&ma, &id, err, sizeof err), 0);
    snprintf(want, sizeof want, "/ip4/10.0.0.1/tcp/4001/p2p/%s", id_text);
    CHECK_STR_EQ(p2p_maddr_cstr(&ma, s, sizeof s), want);

    /* No room: refused, ma unchanged. */
    uint8_t big[P2P_MADDR_MAX] = {0};
    for (int i = 0; i < 76; i++)
        big[5 * i] = 0x04;
    CHECK_EQ(p2p_maddr_from_bytes(big, 380, &ma, err, sizeof err), 0);
    CHECK_EQ(p2p_maddr_add_peer(&ma, &id, err, sizeof err), -1);
    CHECK_EQ(ma.len, 380);

    p2p_peer_id bad = {.len = 3, .b = {0x13, 0x01, 0x00}};
    CHECK_EQ(p2p_maddr_parse("/ip4/10.0.0.1/tcp/4001", &ma, err, sizeof err), 0);
    CHECK_EQ(p2p_maddr_add_peer(&ma, &bad, err, sizeof err), -1);
    CHECK_EQ(ma.len, 8);
}

static void test_sockaddr(void)
{
    p2p_maddr ma;
    char s[128];
    struct sockaddr_in in = {0};
    in.sin_family = AF_INET;
    in.sin_port = htons(4001);
    inet_pton(AF_INET, "192.168.1.20", &in.sin_addr);
    CHECK_EQ(p2p_maddr_from_sockaddr((struct sockaddr *)&in, &ma, err, sizeof err), 0);
    CHECK_STR_EQ(p2p_maddr_cstr(&ma, s, sizeof s), "/ip4/192.168.1.20/tcp/4001");

    struct sockaddr_in6 in6 = {0};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(65535);
    inet_pton(AF_INET6, "fe80::1:2", &in6.sin6_addr);
    CHECK_EQ(p2p_maddr_from_sockaddr((struct sockaddr *)&in6, &ma, err, sizeof err), 0);
    CHECK_STR_EQ(p2p_maddr_cstr(&ma, s, sizeof s), "/ip6/fe80::1:2/tcp/65535");
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &in6.sin6_addr);
    in6.sin6_port = htons(0);
    CHECK_EQ(p2p_maddr_from_sockaddr((struct sockaddr *)&in6, &ma, err, sizeof err), 0);
    CHECK_STR_EQ(p2p_maddr_cstr(&ma, s, sizeof s), "/ip4/10.1.2.3/tcp/0");

    struct sockaddr_un un = {0};
    un.sun_family = AF_UNIX;
    CHECK_EQ(p2p_maddr_from_sockaddr((struct sockaddr *)&un, &ma, err, sizeof err), -1);
}

static void test_to_tcp(void)
{
    p2p_maddr ma;
    p2p_tcp_addr t;
    char text[200];

    CHECK_EQ(p2p_maddr_parse("/ip4/127.0.0.1/tcp/4001", &ma, err, sizeof err), 0);
    CHECK_EQ(p2p_maddr_to_tcp(&ma, &t, err, sizeof err), 0);
    CHECK_EQ(t.family, AF_INET);
    CHECK_STR_EQ(t.host, "127.0.0.1");
    CHECK_EQ(t.port, 4001);
    CHECK(!t.has_peer);

    snprintf(text, sizeof text, "/ip6/::1/tcp/0/p2p/%s", id_text);
    CHECK_EQ(p2p_maddr_parse(text, &ma, err, sizeof err), 0);
    CHECK_EQ(p2p_maddr_to_tcp(&ma, &t, err, sizeof err), 0);
    CHECK_EQ(t.family, AF_INET6);
    CHECK_STR_EQ(t.host, "::1");
    CHECK_EQ(t.port, 0);
    CHECK(t.has_peer);
    p2p_peer_id id;
    CHECK_EQ(p2p_peer_id_parse(id_text, &id, err, sizeof err), 0);
    CHECK(p2p_peer_id_eq(&t.peer, &id));

    const char *dns[] = {"/dns/node.example/tcp/443", "/dns4/node.example/tcp/443",
                         "/dns6/node.example/tcp/443"};
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(p2p_maddr_parse(dns[i], &ma, err, sizeof err), 0);
        CHECK_EQ(p2p_maddr_to_tcp(&ma, &t, err, sizeof err), 0);
        CHECK_EQ(t.family, AF_UNSPEC);
        CHECK_STR_EQ(t.host, "node.example");
        CHECK_EQ(t.port, 443);
    }
    char name[300];
    memset(name, 'n', 255);
    name[255] = '\0';
    char longdns[400];
    snprintf(longdns, sizeof longdns, "/dns/%s/tcp/1", name);
    CHECK_EQ(p2p_maddr_parse(longdns, &ma, err, sizeof err), 0);
    CHECK_EQ(p2p_maddr_to_tcp(&ma, &t, err, sizeof err), 0);
    CHECK_STR_EQ(t.host, name);

    const char *bad[] = {
        "/ip4/1.2.3.4/udp/1",
        "/ip4/1.2.3.4",
        "/tcp/1",
        "/ip4/1.2.3.4/tcp/1/tcp/2",
        "/ip4/1.2.3.4/tcp/1/ip4/1.2.3.4",
        "/dnsaddr/x.io/tcp/1",
        "/tcp/1/ip4/1.2.3.4",
        "/ip4/1.2.3.4/ip4/1.2.3.4/tcp/1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ(p2p_maddr_parse(bad[i], &ma, err, sizeof err), 0);
        err[0] = '\0';
        memset(&t, 0x5a, sizeof t);
        CHECK_EQ(p2p_maddr_to_tcp(&ma, &t, err, sizeof err), -1);
        CHECK(strstr(err, "not a TCP multiaddr") != NULL);
    }
    snprintf(text, sizeof text, "/ip4/1.2.3.4/tcp/1/p2p/%s/p2p/%s", id_text, id_text);
    CHECK_EQ(p2p_maddr_parse(text, &ma, err, sizeof err), 0);
    CHECK_EQ(p2p_maddr_to_tcp(&ma, &t, err, sizeof err), -1);
    snprintf(text, sizeof text, "/p2p/%s", id_text);
    CHECK_EQ(p2p_maddr_parse(text, &ma, err, sizeof err), 0);
    CHECK_EQ(p2p_maddr_to_tcp(&ma, &t, err, sizeof err), -1);
}

int main(void)
{
    test_text();
    test_binary_forms();
    test_text_errors();
    test_binary_errors();
    test_cstr_and_str();
    test_add_peer();
    test_sockaddr();
    test_to_tcp();
    return CHECK_DONE();
}
