/* host_identify.c - /ipfs/id/1.0.0 both ways. On every new connection we open a stream, read
 * the peer's one length-prefixed Identify message and emit P2P_EV_IDENTIFIED; when the peer
 * opens one, we write ours and close our side (FIN) a moment later, which is what js-libp2p
 * expects (see HOST_IDENTIFY_FIN_DELAY_MS). */
#include "host_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- asking (outbound) --------------------------------------------------------------------- */

typedef struct {
    p2p_host *h;
    p2p_peer_id peer;
    buf_t acc;
    bool done; /* the message was handled or an error reported */
} id_client;

static void id_client_error(id_client *ic, const char *what)
{
    if (ic->done)
        return;
    ic->done = true;
    char id[P2P_PEER_ID_STRLEN], msg[HOST_REASON_MAX + 160];
    snprintf(msg, sizeof msg, "identify %s: %s", p2p_peer_id_str(&ic->peer, id), what);
    p2p_event ev = {.type = P2P_EV_ERROR, .peer = &ic->peer, .message = msg};
    host_emit(ic->h, &ev);
}

/* Handles the message once it is all there; returns true when done with the stream. */
static bool id_client_try(id_client *ic, p2p_stream *s)
{
    size_t used, len;
    int r = uvarint_frame(ic->acc.data, ic->acc.len, IDENTIFY_MAX_MSG, &used, &len);
    if (r == 0)
        return false;
    if (r < 0) {
        id_client_error(ic, r == VARINT_EFRAME ? "message too large" : "bad message length");
        return true;
    }
    identify_info info;
    char err[HOST_REASON_MAX];
    if (identify_decode(ic->acc.data + used, len, &info, err, sizeof err) != 0) {
        id_client_error(ic, err);
        return true;
    }
    if (info.has_pubkey) {
        p2p_peer_id from_key;
        p2p_peer_id_from_pubkey(info.pubkey, &from_key);
        if (!p2p_peer_id_eq(&from_key, &ic->peer)) {
            identify_info_free(&info);
            id_client_error(ic, "public key does not match the peer id; message ignored");
            return true;
        }
    }
    ic->done = true;
    p2p_event ev = {.type = P2P_EV_IDENTIFIED,
                    .peer = &ic->peer,
                    .addr = s->c->remote.len ? &s->c->remote : NULL,
                    .inbound = s->c->inbound,
                    .agent = info.agent ? info.agent : "",
                    .protocols = (const char *const *)info.protocols,
                    .nprotocols = info.nprotocols,
                    .listen_addrs = info.listen,
                    .nlisten_addrs = info.nlisten,
                    .observed = info.has_observed ? &info.observed : NULL};
    host_emit(ic->h, &ev);
    identify_info_free(&info);
    return true;
}

static void id_client_data(p2p_stream *s, const uint8_t *p, size_t n, void *user)
{
    id_client *ic = user;
    if (ic->done)
        return;
    /* Keep only what fits: the largest message we accept, with its length, always does, and
     * what follows it in the same chunk (go-libp2p may send a second message) is not ours to
     * judge, so it must not count against the limit. */
    size_t room = ic->acc.limit - ic->acc.len;
    if (buf_append(&ic->acc, p, n < room ? n : room) != 0) {
        id_client_error(ic, "out of memory");
        p2p_stream_reset(s);
        return;
    }
    if (id_client_try(ic, s)) {
        p2p_stream_close_write(s);
    } else if (ic->acc.len == ic->acc.limit) { /* not expected: id_client_try checks the size */
        id_client_error(ic, "message too large");
        p2p_stream_reset(s);
    }
}

static void id_client_eof(p2p_stream *s, void *user)
{
    id_client *ic = user;
    id_client_error(ic, "stream ended before the message");
    p2p_stream_close_write(s);
}

static void id_client_close(p2p_stream *s, const char *reason, void *user)
{
    id_client *ic = user;
    if (s->c->closing) /* the connection's end says it all */
        ic->done = true;
    id_client_error(ic, reason ? reason : "stream closed before the message");
    buf_free(&ic->acc);
    free(ic);
}

static void id_client_opened(p2p_stream *s, const char *err, void *user)
{
    id_client *ic = user;
    if (!s) {
        id_client_error(ic, err);
        buf_free(&ic->acc);
        free(ic);
        return;
    }
    static const p2p_stream_cbs cbs = {
        .on_data = id_client_data, .on_eof = id_client_eof, .on_close = id_client_close};
    p2p_stream_set_cbs(s, &cbs, ic);
    s->deadline = uv_now(ic->h->loop) + HOST_IDENTIFY_MS;
}

void host_identify_start(host_conn *c)
{
    id_client *ic = calloc(1, sizeof *ic);
    if (!ic)
        return;
    ic->h = c->h;
    ic->peer = c->peer;
    buf_init(&ic->acc, UVARINT_MAX_LEN + IDENTIFY_MAX_MSG);
    char err[HOST_REASON_MAX];
    if (stream_open(c, P2P_PROTO_IDENTIFY, id_client_opened, ic, err, sizeof err) != 0) {
        id_client_error(ic, err);
        buf_free(&ic->acc);
        free(ic);
    }
}

/* ---- answering (inbound) ------------------------------------------------------------------- */

/* Adds ma to out[0..*n) unless it is there already or out is full. */
static void id_addr_add(p2p_maddr *out, size_t *n, size_t max, const p2p_maddr *ma)
{
    for (size_t i = 0; i < *n; i++)
        if (out[i].len == ma->len && memcmp(out[i].b, ma->b, ma->len) == 0)
            return;
    if (*n < max)
        out[(*n)++] = *ma;
}

/* Our listen addresses as a peer can dial them, into out (at most max; returns how many). A
 * wildcard listener (0.0.0.0, ::) is bound to every address of its family, and the wildcard
 * itself means nothing to the peer: it is replaced by one address per interface of that family,
 * loopback included (the peer may be on this machine). IPv6 link-local addresses are left out:
 * they need a zone that the peer cannot know. */
static size_t id_listen_addrs(const p2p_host *h, p2p_maddr *out, size_t max)
{
    p2p_maddr bound[IDENTIFY_MAX_ADDRS];
    size_t nb = p2p_host_listen_addrs(h, bound, IDENTIFY_MAX_ADDRS);
    if (nb > IDENTIFY_MAX_ADDRS)
        nb = IDENTIFY_MAX_ADDRS;
    uv_interface_address_t *ifs = NULL;
    int nifs = -1; /* not asked yet */
    size_t n = 0;
    char err[HOST_REASON_MAX];
    for (size_t i = 0; i < nb; i++) {
        p2p_tcp_addr ta;
        if (p2p_maddr_to_tcp(&bound[i], &ta, err, sizeof err) != 0)
            continue;
        bool any4 = ta.family == AF_INET && strcmp(ta.host, "0.0.0.0") == 0;
        bool any6 = ta.family == AF_INET6 && strcmp(ta.host, "::") == 0;
        if (!any4 && !any6) {
            id_addr_add(out, &n, max, &bound[i]);
            continue;
        }
        if (nifs < 0 && uv_interface_addresses(&ifs, &nifs) != 0) {
            ifs = NULL;
            nifs = 0; /* no interfaces known: nothing to announce for wildcards */
        }
        for (int k = 0; k < nifs; k++) {
            struct sockaddr_storage ss;
            memset(&ss, 0, sizeof ss);
            if (any4 && ifs[k].address.address4.sin_family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *)&ss;
                *a = ifs[k].address.address4;
                a->sin_port = htons(ta.port);
            } else if (any6 && ifs[k].address.address6.sin6_family == AF_INET6 &&
                       !IN6_IS_ADDR_LINKLOCAL(&ifs[k].address.address6.sin6_addr)) {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
                *a = ifs[k].address.address6;
                a->sin6_port = htons(ta.port);
                a->sin6_scope_id = 0;
            } else {
                continue;
            }
            p2p_maddr ma;
            if (p2p_maddr_from_sockaddr((const struct sockaddr *)&ss, &ma, err, sizeof err) == 0)
                id_addr_add(out, &n, max, &ma);
        }
    }
    if (ifs)
        uv_free_interface_addresses(ifs, nifs);
    return n;
}

typedef struct {
    buf_t out;
    size_t off;
} id_server;

/* Writes what is left; closes our side when all is out. */
static void id_server_push(p2p_stream *s, id_server *is)
{
    if (is->off >= is->out.len)
        return;
    ssize_t w = p2p_stream_write(s, is->out.data + is->off, is->out.len - is->off);
    if (w < 0) {
        p2p_stream_reset(s);
        return;
    }
    is->off += (size_t)w;
    if (is->off == is->out.len)
        stream_close_write_later(s, HOST_IDENTIFY_FIN_DELAY_MS);
}

static void id_server_writable(p2p_stream *s, void *user)
{
    id_server_push(s, user);
}

static void id_server_close(p2p_stream *s, const char *reason, void *user)
{
    id_server *is = user;
    (void)s;
    (void)reason;
    buf_free(&is->out);
    free(is);
}

void host_identify_handler(p2p_stream *s, void *user)
{
    host_conn *c = s->c;
    p2p_host *h = c->h;
    (void)user;
    const char *protos[IDENTIFY_MAX_PROTOS];
    p2p_maddr listen[IDENTIFY_MAX_ADDRS];
    identify_info in;
    memset(&in, 0, sizeof in);
    in.protocol_version = (char *)IDENTIFY_PROTOCOL_VERSION;
    in.agent = h->agent;
    in.has_pubkey = true;
    memcpy(in.pubkey, h->key.pk, sizeof in.pubkey);
    for (host_handler *hd = h->handlers; hd && in.nprotocols < IDENTIFY_MAX_PROTOS; hd = hd->next)
        protos[in.nprotocols++] = hd->protocol;
    in.protocols = (char **)protos;
    in.listen = listen;
    in.nlisten = id_listen_addrs(h, listen, IDENTIFY_MAX_ADDRS);
    if (c->remote.len) {
        in.has_observed = true;
        in.observed = c->remote;
    }
    id_server *is = calloc(1, sizeof *is);
    char err[HOST_REASON_MAX];
    if (!is) {
        p2p_stream_reset(s);
        return;
    }
    buf_init(&is->out, UVARINT_MAX_LEN + IDENTIFY_MAX_MSG);
    if (identify_encode(&in, &is->out, err, sizeof err) != 0) {
        buf_free(&is->out);
        free(is);
        p2p_stream_reset(s);
        char msg[HOST_REASON_MAX + 32];
        snprintf(msg, sizeof msg, "identify: %s", err);
        p2p_event ev = {.type = P2P_EV_ERROR, .peer = &c->peer, .message = msg};
        host_emit(h, &ev);
        return;
    }
    static const p2p_stream_cbs cbs = {.on_writable = id_server_writable,
                                       .on_close = id_server_close};
    p2p_stream_set_cbs(s, &cbs, is);
    /* a peer that never closes its side must not keep the stream forever */
    s->deadline = uv_now(h->loop) + HOST_IDENTIFY_MS;
    id_server_push(s, is);
}
