/* multiaddr.c - multiaddrs: binary and text forms of the protocols Swarm speaks.
 *
 * A binary multiaddr is a sequence of (uvarint protocol code, value) pairs; the value's size
 * depends on the protocol: fixed (ip4, ip6, ports) or a uvarint length then bytes (dns names,
 * peer ids). Everything that enters a p2p_maddr is validated, so the printers can trust it;
 * they still check bounds so that a corrupt struct cannot make them overrun. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "p2p.h"

typedef enum { V_IP4, V_IP6, V_PORT, V_DNS, V_P2P } value_kind;

typedef struct {
    uint16_t code;
    const char *name;
    value_kind kind;
} proto_info;

enum { P_IP4 = 4, P_TCP = 6, P_IP6 = 41, P_DNS = 53, P_DNS4 = 54, P_DNS6 = 55, P_P2P = 421 };

static const proto_info protos[] = {
    {4, "ip4", V_IP4},   {6, "tcp", V_PORT},     {273, "udp", V_PORT},
    {41, "ip6", V_IP6},  {53, "dns", V_DNS},     {54, "dns4", V_DNS},
    {55, "dns6", V_DNS}, {56, "dnsaddr", V_DNS}, {421, "p2p", V_P2P},
};

#define DNS_NAME_MAX   255
#define VALUE_TEXT_MAX 300 /* longer than any value we accept in text (dns 255, peer id 256) */

static const proto_info *proto_by_code(uint64_t code)
{
    for (size_t i = 0; i < sizeof protos / sizeof *protos; i++)
        if (protos[i].code == code)
            return &protos[i];
    return NULL;
}

static const proto_info *proto_by_name(const char *name, size_t n)
{
    if (n == 4 && memcmp(name, "ipfs", 4) == 0) /* the old name of p2p */
        return proto_by_code(P_P2P);
    for (size_t i = 0; i < sizeof protos / sizeof *protos; i++)
        if (strlen(protos[i].name) == n && memcmp(protos[i].name, name, n) == 0)
            return &protos[i];
    return NULL;
}

/* One component of a binary multiaddr: its protocol and value bytes (for dns and p2p, the bytes
 * after the length prefix). */
typedef struct {
    const proto_info *proto;
    const uint8_t *v;
    size_t vlen;
} component;

/* Checks a dns name: 1..255 bytes, valid UTF-8, no '/' and no control characters (so that the
 * text form can carry it and reads back the same). */
static int check_dns(const uint8_t *p, size_t n, char *err, size_t errlen)
{
    if (n == 0)
        return err_set(err, errlen, "empty dns name in multiaddr");
    if (n > DNS_NAME_MAX)
        return err_set(err, errlen, "dns name of %zu bytes in multiaddr (at most %d)", n,
                       DNS_NAME_MAX);
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        if (c < 0x80) {
            if (c == '/' || c < 0x20 || c == 0x7f)
                return err_set(err, errlen, "invalid character 0x%02x in dns name in multiaddr", c);
            i++;
            continue;
        }
        /* A multi-byte UTF-8 sequence: lead byte, then 1..3 continuation bytes, shortest form,
         * no surrogates, at most U+10FFFF. */
        size_t more;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            cp = c & 0x07;
        } else {
            return err_set(err, errlen, "dns name in multiaddr is not valid UTF-8");
        }
        if (n - i - 1 < more)
            return err_set(err, errlen, "dns name in multiaddr is not valid UTF-8");
        for (size_t j = 1; j <= more; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return err_set(err, errlen, "dns name in multiaddr is not valid UTF-8");
            cp = cp << 6 | (p[i + j] & 0x3f);
        }
        if ((more == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (more == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return err_set(err, errlen, "dns name in multiaddr is not valid UTF-8");
        i += 1 + more;
    }
    return 0;
}

/* Reads the component at p[*off..n), validating its value, and advances *off. */
static int next_component(const uint8_t *p, size_t n, size_t *off, component *c, char *err,
                          size_t errlen)
{
    uint64_t code, len;
    size_t used;
    if (uvarint_decode(p + *off, n - *off, &code, &used) != 0)
        return err_set(err, errlen, "malformed protocol code at byte %zu of multiaddr", *off);
    const proto_info *pi = proto_by_code(code);
    if (!pi)
        return err_set(err, errlen, "unknown protocol code %llu in multiaddr",
                       (unsigned long long)code);
    size_t at = *off + used;
    switch (pi->kind) {
    case V_IP4:
        len = 4;
        break;
    case V_IP6:
        len = 16;
        break;
    case V_PORT:
        len = 2;
        break;
    default:
        if (uvarint_decode(p + at, n - at, &len, &used) != 0)
            return err_set(err, errlen, "malformed %s value length in multiaddr", pi->name);
        at += used;
        break;
    }
    if (len > n - at)
        return err_set(err, errlen, "truncated %s value in multiaddr", pi->name);
    c->proto = pi;
    c->v = p + at;
    c->vlen = (size_t)len;
    if (pi->kind == V_DNS && check_dns(c->v, c->vlen, err, errlen) < 0)
        return -1;
    if (pi->kind == V_P2P) {
        p2p_peer_id id;
        char why[160];
        if (p2p_peer_id_from_bytes(c->v, c->vlen, &id, why, sizeof why) < 0)
            return err_set(err, errlen, "invalid p2p value in multiaddr: %s", why);
    }
    *off = at + (size_t)len;
    return 0;
}

int p2p_maddr_from_bytes(const uint8_t *p, size_t n, p2p_maddr *ma, char *err, size_t errlen)
{
    if (n == 0)
        return err_set(err, errlen, "empty multiaddr");
    if (n > P2P_MADDR_MAX)
        return err_set(err, errlen, "multiaddr too long (%zu bytes, at most %d)", n, P2P_MADDR_MAX);
    size_t off = 0;
    component c;
    while (off < n)
        if (next_component(p, n, &off, &c, err, errlen) < 0)
            return -1;
    memcpy(ma->b, p, n);
    ma->len = (uint16_t)n;
    return 0;
}

/* Appends p[0..n) to ma, or fails if it would not fit. */
static int ma_put(p2p_maddr *ma, const void *p, size_t n, char *err, size_t errlen)
{
    if (n > (size_t)P2P_MADDR_MAX - ma->len)
        return err_set(err, errlen, "multiaddr too long (more than %d bytes)", P2P_MADDR_MAX);
    memcpy(ma->b + ma->len, p, n);
    ma->len = (uint16_t)(ma->len + n);
    return 0;
}

static int ma_put_uvarint(p2p_maddr *ma, uint64_t v, char *err, size_t errlen)
{
    uint8_t tmp[UVARINT_MAX_LEN];
    return ma_put(ma, tmp, uvarint_encode(v, tmp), err, errlen);
}

/* Appends one component: code, then the value (with a length prefix for dns and p2p). */
static int ma_put_component(p2p_maddr *ma, const proto_info *pi, const uint8_t *v, size_t n,
                            char *err, size_t errlen)
{
    if (ma_put_uvarint(ma, pi->code, err, errlen) < 0)
        return -1;
    if ((pi->kind == V_DNS || pi->kind == V_P2P) && ma_put_uvarint(ma, n, err, errlen) < 0)
        return -1;
    return ma_put(ma, v, n, err, errlen);
}

/* Reads a decimal port "0".."65535" (digits only). */
static int parse_port(const char *s, size_t n, uint16_t *port)
{
    if (n == 0 || n > 5)
        return -1;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

/* Converts one text value for pi into binary value bytes in out (room for P2P_PEER_ID_MAX or
 * DNS_NAME_MAX bytes); sets *outlen. */
static int value_from_text(const proto_info *pi, const char *s, size_t n, uint8_t *out,
                           size_t *outlen, char *err, size_t errlen)
{
    char text[VALUE_TEXT_MAX + 1];
    if (n > VALUE_TEXT_MAX)
        return err_set(err, errlen, "%s value too long in multiaddr", pi->name);
    memcpy(text, s, n);
    text[n] = '\0';
    switch (pi->kind) {
    case V_IP4:
        if (inet_pton(AF_INET, text, out) != 1)
            return err_set(err, errlen, "invalid ip4 address '%s' in multiaddr", text);
        *outlen = 4;
        return 0;
    case V_IP6:
        if (inet_pton(AF_INET6, text, out) != 1)
            return err_set(err, errlen, "invalid ip6 address '%s' in multiaddr", text);
        *outlen = 16;
        return 0;
    case V_PORT: {
        uint16_t port;
        if (parse_port(text, n, &port) < 0)
            return err_set(err, errlen, "invalid %s port '%s' in multiaddr (0 to 65535)", pi->name,
                           text);
        out[0] = (uint8_t)(port >> 8);
        out[1] = (uint8_t)port;
        *outlen = 2;
        return 0;
    }
    case V_DNS:
        if (check_dns((const uint8_t *)text, n, err, errlen) < 0)
            return -1;
        memcpy(out, text, n);
        *outlen = n;
        return 0;
    case V_P2P: {
        p2p_peer_id id;
        char why[200];
        if (p2p_peer_id_parse(text, &id, why, sizeof why) < 0)
            return err_set(err, errlen, "invalid p2p value in multiaddr: %s", why);
        memcpy(out, id.b, id.len);
        *outlen = id.len;
        return 0;
    }
    }
    return err_set(err, errlen, "internal error: unknown value kind");
}

int p2p_maddr_parse(const char *text, p2p_maddr *ma, char *err, size_t errlen)
{
    p2p_maddr tmp = {0};
    const char *s = text;
    if (*s != '/')
        return err_set(err, errlen, "multiaddr must start with '/': '%.80s'", text);
    if (s[1] == '\0')
        return err_set(err, errlen, "empty multiaddr");
    while (*s == '/' && s[1] != '\0') {
        const char *name = s + 1;
        const char *end = strchr(name, '/');
        size_t nlen = end ? (size_t)(end - name) : strlen(name);
        if (nlen == 0)
            return err_set(err, errlen, "empty protocol name in multiaddr '%.80s'", text);
        const proto_info *pi = proto_by_name(name, nlen);
        if (!pi)
            return err_set(err, errlen, "unknown protocol '%.*s' in multiaddr",
                           (int)(nlen > 40 ? 40 : nlen), name);
        if (!end || end[1] == '\0' || end[1] == '/')
            return err_set(err, errlen, "missing %s value in multiaddr '%.80s'", pi->name, text);
        const char *val = end + 1;
        const char *vend = strchr(val, '/');
        size_t vlen = vend ? (size_t)(vend - val) : strlen(val);
        uint8_t v[DNS_NAME_MAX > P2P_PEER_ID_MAX ? DNS_NAME_MAX : P2P_PEER_ID_MAX];
        size_t n;
        if (value_from_text(pi, val, vlen, v, &n, err, errlen) < 0 ||
            ma_put_component(&tmp, pi, v, n, err, errlen) < 0)
            return -1;
        s = val + vlen;
    }
    /* Here s is "" or the trailing "/" that we tolerate. */
    *ma = tmp;
    return 0;
}

/* Appends "/name/value" for c to out. */
static int component_str(const component *c, buf_t *out)
{
    char text[INET6_ADDRSTRLEN + 1];
    if (buf_printf(out, "/%s", c->proto->name) < 0)
        return -1;
    switch (c->proto->kind) {
    case V_IP4:
    case V_IP6:
        if (!inet_ntop(c->proto->kind == V_IP4 ? AF_INET : AF_INET6, c->v, text, sizeof text))
            return -1;
        return buf_printf(out, "/%s", text);
    case V_PORT:
        return buf_printf(out, "/%u", (unsigned)(c->v[0] << 8 | c->v[1]));
    case V_DNS:
        if (buf_push(out, '/') < 0)
            return -1;
        return buf_append(out, c->v, c->vlen);
    case V_P2P: {
        p2p_peer_id id;
        char s[P2P_PEER_ID_STRLEN];
        if (p2p_peer_id_from_bytes(c->v, c->vlen, &id, NULL, 0) < 0)
            return -1;
        return buf_printf(out, "/%s", p2p_peer_id_str(&id, s));
    }
    }
    return -1;
}

int p2p_maddr_str(const p2p_maddr *ma, buf_t *out)
{
    size_t n = ma->len <= P2P_MADDR_MAX ? ma->len : P2P_MADDR_MAX;
    size_t off = 0, start = out->len;
    component c;
    while (off < n) {
        if (next_component(ma->b, n, &off, &c, NULL, 0) < 0 || component_str(&c, out) < 0) {
            out->len = start;
            return -1;
        }
    }
    return 0;
}

const char *p2p_maddr_cstr(const p2p_maddr *ma, char *out, size_t cap)
{
    if (cap == 0)
        return "";
    buf_t b;
    buf_init(&b, cap);
    if (p2p_maddr_str(ma, &b) < 0 || b.len >= cap) {
        out[0] = '\0';
    } else {
        if (b.len)
            memcpy(out, b.data, b.len);
        out[b.len] = '\0';
    }
    buf_free(&b);
    return out;
}

int p2p_maddr_add_peer(p2p_maddr *ma, const p2p_peer_id *id, char *err, size_t errlen)
{
    p2p_peer_id check;
    if (p2p_peer_id_from_bytes(id->b, id->len <= P2P_PEER_ID_MAX ? id->len : 0, &check, err,
                               errlen) < 0)
        return -1;
    p2p_maddr tmp = *ma;
    if (ma_put_component(&tmp, proto_by_code(P_P2P), id->b, id->len, err, errlen) < 0)
        return -1;
    *ma = tmp;
    return 0;
}

int p2p_maddr_from_sockaddr(const struct sockaddr *sa, p2p_maddr *ma, char *err, size_t errlen)
{
    p2p_maddr tmp = {0};
    uint8_t port[2];
    int rc;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        uint16_t p = ntohs(in->sin_port);
        port[0] = (uint8_t)(p >> 8);
        port[1] = (uint8_t)p;
        rc = ma_put_component(&tmp, proto_by_code(P_IP4), (const uint8_t *)&in->sin_addr, 4, err,
                              errlen);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *a = (const uint8_t *)&in6->sin6_addr;
        uint16_t p = ntohs(in6->sin6_port);
        port[0] = (uint8_t)(p >> 8);
        port[1] = (uint8_t)p;
        /* A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; they are ip4 addresses. */
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, v4mapped, 12) == 0)
            rc = ma_put_component(&tmp, proto_by_code(P_IP4), a + 12, 4, err, errlen);
        else
            rc = ma_put_component(&tmp, proto_by_code(P_IP6), a, 16, err, errlen);
    } else {
        return err_set(err, errlen, "address family %d is not TCP/IP", (int)sa->sa_family);
    }
    if (rc < 0 || ma_put_component(&tmp, proto_by_code(P_TCP), port, 2, err, errlen) < 0)
        return -1;
    *ma = tmp;
    return 0;
}

int p2p_maddr_to_tcp(const p2p_maddr *ma, p2p_tcp_addr *out, char *err, size_t errlen)
{
    size_t n = ma->len <= P2P_MADDR_MAX ? ma->len : P2P_MADDR_MAX;
    size_t off = 0;
    component c[3];
    size_t count = 0;
    while (off < n) {
        if (count == 3)
            return err_set(err, errlen,
                           "not a TCP multiaddr: extra components after /tcp/PORT/p2p/ID");
        if (next_component(ma->b, n, &off, &c[count], err, errlen) < 0)
            return -1;
        count++;
    }
    p2p_tcp_addr t;
    memset(&t, 0, sizeof t);
    t.dns_family = AF_UNSPEC;
    if (count < 2)
        return err_set(err, errlen, "not a TCP multiaddr: expected /HOST/ADDR/tcp/PORT");
    switch (c[0].proto->code) {
    case P_IP4:
    case P_IP6:
        t.family = c[0].proto->code == P_IP4 ? AF_INET : AF_INET6;
        if (!inet_ntop(t.family, c[0].v, t.host, sizeof t.host))
            return err_set(err, errlen, "cannot print the address of a multiaddr");
        break;
    case P_DNS:
    case P_DNS4:
    case P_DNS6:
        t.family = AF_UNSPEC;
        t.dns_family = c[0].proto->code == P_DNS4   ? AF_INET
                       : c[0].proto->code == P_DNS6 ? AF_INET6
                                                    : AF_UNSPEC;
        memcpy(t.host, c[0].v, c[0].vlen); /* at most 255 bytes, checked when read */
        t.host[c[0].vlen] = '\0';
        break;
    default:
        return err_set(err, errlen, "not a TCP multiaddr: starts with /%s, not ip4, ip6 or dns",
                       c[0].proto->name);
    }
    if (c[1].proto->code != P_TCP)
        return err_set(err, errlen, "not a TCP multiaddr: /%s where /tcp was expected",
                       c[1].proto->name);
    t.port = (uint16_t)(c[1].v[0] << 8 | c[1].v[1]);
    if (count == 3) {
        if (c[2].proto->code != P_P2P)
            return err_set(err, errlen, "not a TCP multiaddr: /%s after the port",
                           c[2].proto->name);
        if (p2p_peer_id_from_bytes(c[2].v, c[2].vlen, &t.peer, err, errlen) < 0)
            return -1;
        t.has_peer = true;
    }
    *out = t;
    return 0;
}
