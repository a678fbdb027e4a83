/* http.c - the HTTP server of http.h on libwebsockets (LWS_SERVER_OPTION_LIBUV, foreign loop). */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include <libwebsockets.h>
#include <sodium.h>

#include "http.h"

/* Bytes written per WRITEABLE: a large answer (a collect of many shards) goes out as the
 * client reads it instead of filling lws's buffers at once. */
#define CHUNK        (64 * 1024)
#define PATH_MAX_LEN 512

struct gw_http {
    struct lws_context *ctx;
    struct lws_vhost *vh;
    struct lws_context *alive; /* lws writes NULL here when its destruction is complete */
    uv_loop_t *loop;
    gw_http_config cfg;
    bool has_token;
    uint8_t token_hash[crypto_generichash_BYTES];
    struct lws_protocols protocols[2];
    uv_timer_t closing;
    unsigned close_polls; /* ticks of `closing` so far: the wait has a deadline */
    void (*done)(void *user);
    void *done_user;
};

struct gw_req {
    gw_http *h;
    struct lws *wsi;
    char method[8];
    char path[PATH_MAX_LEN];
    buf_t body;
    bool dispatched, answered, headers_sent, close_after;
    /* the answer */
    int status;
    char ctype[64];
    char extra[512];
    uint8_t *owned;     /* the body if the request frees it */
    const uint8_t *out; /* the body: owned, or an embedded file */
    size_t out_len, out_off;
    /* a stream (gw_req_stream_start): the bytes waiting are q[q_off..q.len) */
    bool streaming, stream_ended;
    size_t max_queued, q_off;
    buf_t q;
    void (*on_close)(gw_req *r, void *user);
    void *close_user;
    void *data;
};

typedef struct {
    gw_req *req;
} session;

/* ---- requests ----------------------------------------------------------------------------- */

const char *gw_req_method(const gw_req *r)
{
    return r->method;
}

const char *gw_req_path(const gw_req *r)
{
    return r->path;
}

const uint8_t *gw_req_body(const gw_req *r, size_t *len)
{
    *len = r->body.len;
    return r->body.len ? r->body.data : (const uint8_t *)"";
}

bool gw_req_arg(const gw_req *r, const char *name, char *out, size_t cap)
{
    char key[64];
    if (!r->wsi || snprintf(key, sizeof key, "%s=", name) >= (int)sizeof key || cap > INT32_MAX)
        return false;
    /* lws copies "name=value" into out and points past "name=" */
    const char *v = lws_get_urlarg_by_name(r->wsi, key, out, (int)cap);
    if (!v)
        return false;
    memmove(out, v, strlen(v) + 1);
    return true;
}

void gw_req_on_close(gw_req *r, void (*fn)(gw_req *r, void *user), void *user)
{
    r->on_close = fn;
    r->close_user = user;
}

void gw_req_set_data(gw_req *r, void *data)
{
    r->data = data;
}

void *gw_req_data(const gw_req *r)
{
    return r->data;
}

bool gw_req_header(const gw_req *r, gw_header h, char *out, size_t cap)
{
    static const enum lws_token_indexes tokens[] = {
        [GW_HDR_IF_NONE_MATCH] = WSI_TOKEN_HTTP_IF_NONE_MATCH,
        [GW_HDR_ACCEPT_ENCODING] = WSI_TOKEN_HTTP_ACCEPT_ENCODING,
    };
    assert((size_t)h < sizeof tokens / sizeof tokens[0]);
    if (!r->wsi || cap == 0 || cap > INT32_MAX)
        return false;
    int len = lws_hdr_total_length(r->wsi, tokens[h]);
    if (len <= 0 || (size_t)len >= cap)
        return false;
    return lws_hdr_copy(r->wsi, out, (int)cap, tokens[h]) == len;
}

static void answer(gw_req *r, int status, const char *content_type, const char *extra_header)
{
    assert(!r->answered);
    r->answered = true;
    r->status = status;
    snprintf(r->ctype, sizeof r->ctype, "%s", content_type);
    snprintf(r->extra, sizeof r->extra, "%s", extra_header ? extra_header : "");
    r->out_off = 0;
    lws_callback_on_writable(r->wsi);
}

void gw_req_respond(gw_req *r, int status, const char *content_type, buf_t *body,
                    const char *extra_header)
{
    r->owned = buf_steal(body, &r->out_len);
    r->out = r->owned;
    answer(r, status, content_type, extra_header);
}

void gw_req_respond_static(gw_req *r, int status, const char *content_type, const uint8_t *body,
                           size_t len, const char *extra_header)
{
    r->out = body;
    r->out_len = len;
    answer(r, status, content_type, extra_header);
}

void gw_req_stream_start(gw_req *r, int status, const char *content_type, const char *extra_header,
                         size_t max_queued)
{
    r->streaming = true;
    r->max_queued = max_queued;
    buf_init(&r->q, 0);
    /* lws would time an idle response out; a stream is idle between events */
    lws_set_timeout(r->wsi, NO_PENDING_TIMEOUT, 0);
    answer(r, status, content_type, extra_header);
}

int gw_req_stream_write(gw_req *r, const void *data, size_t len)
{
    assert(r->streaming && !r->stream_ended);
    if (len > r->max_queued || gw_req_stream_queued(r) > r->max_queued - len)
        return -1;
    if (r->q_off > 0 && r->q_off >= r->q.len / 2) { /* keep the buffer from creeping */
        memmove(r->q.data, r->q.data + r->q_off, r->q.len - r->q_off);
        r->q.len -= r->q_off;
        r->q_off = 0;
    }
    if (buf_append(&r->q, data, len) < 0)
        return -1;
    if (r->headers_sent)
        lws_callback_on_writable(r->wsi);
    return 0;
}

size_t gw_req_stream_queued(const gw_req *r)
{
    return r->q.len - r->q_off;
}

bool gw_req_stream_peer_gone(const gw_req *r)
{
    /* lws does not read a connection whose request is in, so the client's FIN waits unseen
     * until a write fails: look for it without taking any byte */
    lws_sockfd_type fd = lws_get_socket_fd(r->wsi);
    char c;
    if (fd < 0)
        return true;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void gw_req_stream_end(gw_req *r)
{
    assert(r->streaming && !r->stream_ended);
    r->stream_ended = true;
    r->on_close = NULL;
    /* a client that does not read never makes the connection writeable: close it from lws's
     * timer instead of waiting for WRITEABLE */
    lws_set_timeout(r->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

static void req_free(gw_req *r)
{
    buf_free(&r->body);
    buf_free(&r->q);
    free(r->owned);
    free(r);
}

/* An answer of our own (not the handler's): a JSON error. */
static void respond_error(gw_req *r, int status, const char *msg, const char *extra)
{
    buf_t b;
    buf_init(&b, 0);
    buf_puts(&b, "{\"error\": \"");
    buf_puts(&b, msg); /* our own messages: no quotes or backslashes to escape */
    buf_puts(&b, "\"}\n");
    gw_req_respond(r, status, "application/json", &b, extra);
}

/* ---- the lws callback --------------------------------------------------------------------- */

static const struct {
    int token;
    const char *name;
    bool has_body;
} methods[] = {
    {WSI_TOKEN_GET_URI, "GET", false},       {WSI_TOKEN_POST_URI, "POST", true},
#if defined(LWS_WITH_HTTP_UNCOMMON_HEADERS) || defined(LWS_HTTP_HEADERS_ALL)
    {WSI_TOKEN_DELETE_URI, "DELETE", false}, {WSI_TOKEN_PUT_URI, "PUT", true},
    {WSI_TOKEN_PATCH_URI, "PATCH", true},    {WSI_TOKEN_OPTIONS_URI, "OPTIONS", false},
#endif
    {WSI_TOKEN_HEAD_URI, "HEAD", false},
};

static bool token_matches(gw_http *h, const char *token, size_t len)
{
    uint8_t got[crypto_generichash_BYTES];
    crypto_generichash(got, sizeof got, (const uint8_t *)token, len, NULL, 0);
    return sodium_memcmp(got, h->token_hash, sizeof got) == 0;
}

/* Whether the request carries "Authorization: Bearer <token>", or on the query token path
 * ?token=<token>; compared as digests of equal length, in constant time. */
static bool authorized(gw_http *h, gw_req *r)
{
    if (!h->has_token)
        return true;
    char auth[512];
    int n = lws_hdr_copy(r->wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION);
    static const char bearer[] = "Bearer ";
    if (n >= (int)sizeof bearer - 1 && strncasecmp(auth, bearer, sizeof bearer - 1) == 0)
        return token_matches(h, auth + sizeof bearer - 1, (size_t)n - (sizeof bearer - 1));
    if (n <= 0 && h->cfg.query_token_path && strcmp(r->path, h->cfg.query_token_path) == 0 &&
        gw_req_arg(r, "token", auth, sizeof auth))
        return token_matches(h, auth, strlen(auth));
    return false;
}

static void dispatch(gw_req *r)
{
    r->dispatched = true;
    r->h->cfg.on_request(r, r->h->cfg.user);
}

/* A new request: its method, path, token and declared length. */
static int on_http(gw_http *h, session *s, struct lws *wsi, const char *uri)
{
    if (s->req) { /* the previous one on this connection was never answered */
        if (s->req->on_close)
            s->req->on_close(s->req, s->req->close_user);
        req_free(s->req);
        s->req = NULL;
    }
    gw_req *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    r->h = h;
    r->wsi = wsi;
    s->req = r;
    buf_init(&r->body, h->cfg.max_body);
    bool has_body = false;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (lws_hdr_total_length(wsi, (enum lws_token_indexes)methods[i].token) > 0) {
            snprintf(r->method, sizeof r->method, "%s", methods[i].name);
            has_body = methods[i].has_body;
            break;
        }
    snprintf(r->path, sizeof r->path, "%s", uri ? uri : "/");
    if (!r->method[0]) {
        respond_error(r, 405, "method not allowed", NULL);
        return 0;
    }
    if (!authorized(h, r)) {
        r->close_after = has_body;
        respond_error(r, 401, "missing or wrong bearer token", "WWW-Authenticate: Bearer");
        return 0;
    }
    if (!has_body) {
        dispatch(r);
        return 0;
    }
    char cl[32];
    unsigned long long declared = 0;
    /* lws 4.1 does not hand us chunked request bodies: refuse them rather than see none */
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        r->close_after = true;
        respond_error(r, 411, "send the body with a Content-Length, not chunked", NULL);
        return 0;
    }
    if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
        char *end;
        declared = strtoull(cl, &end, 10);
        if (*end || cl[0] == '-') {
            r->close_after = true;
            respond_error(r, 400, "bad Content-Length", NULL);
            return 0;
        }
    }
    if (declared > h->cfg.max_body) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body of %llu bytes is over the limit of %zu", declared,
                 h->cfg.max_body);
        r->close_after = true;
        respond_error(r, 413, msg, NULL);
        return 0;
    }
    if (declared == 0)
        dispatch(r);
    return 0;
}

static int on_body(gw_http *h, gw_req *r, const void *in, size_t len)
{
    if (!r || r->answered || r->dispatched)
        return 0;
    if (buf_append(&r->body, in, len) < 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body is over the limit of %zu bytes", h->cfg.max_body);
        r->close_after = true;
        respond_error(r, 413, msg, NULL);
    }
    return 0;
}

/* Adds one "Name: value" line of the extra headers to the headers at *p. */
static int add_extra_line(struct lws *wsi, const char *line, size_t len, uint8_t **p, uint8_t *end)
{
    char name[64];
    const char *colon = memchr(line, ':', len);
    size_t n = colon ? (size_t)(colon - line) : 0;
    if (n == 0 || n + 2 > sizeof name)
        return -1;
    for (size_t i = 0; i < n; i++)
        name[i] = (char)(line[i] >= 'A' && line[i] <= 'Z' ? line[i] + 32 : line[i]);
    name[n] = ':';
    name[n + 1] = '\0';
    const char *v = colon + 1, *vend = line + len;
    while (v < vend && *v == ' ')
        v++;
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)v,
                                       (int)(vend - v), p, end)
               ? -1
               : 0;
}

static int write_headers(gw_req *r, struct lws *wsi, uint8_t **p, uint8_t *end)
{
    if (r->status == 304) { /* no Content-Type or Content-Length: there is no body */
        if (lws_add_http_header_status(wsi, 304, p, end))
            return -1;
    } else if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->ctype,
                                           r->streaming ? LWS_ILLEGAL_HTTP_CONTENT_LEN
                                                        : (lws_filepos_t)r->out_len,
                                           p, end)) {
        return -1;
    }
    for (const char *line = r->extra; *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (add_extra_line(wsi, line, len, p, end) < 0)
            return -1;
        line += len + (eol ? 2 : 0);
    }
    if (r->close_after && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                                       (const unsigned char *)"close", 5, p, end))
        return -1;
    return 0;
}

/* Writes up to a chunk of what a stream has queued. */
static int write_stream(gw_req *r, struct lws *wsi)
{
    size_t n = gw_req_stream_queued(r);
    if (n == 0)
        return 0;
    if (n > CHUNK)
        n = CHUNK;
    uint8_t *buf = malloc(LWS_PRE + n);
    if (!buf)
        return -1;
    memcpy(buf + LWS_PRE, r->q.data + r->q_off, n);
    int w = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_HTTP);
    free(buf);
    if (w < (int)n)
        return -1;
    r->q_off += n;
    if (r->q_off == r->q.len)
        r->q.len = r->q_off = 0;
    else
        lws_callback_on_writable(wsi);
    return 0;
}

/* Writes the headers, then the body a chunk per call. */
static int on_writeable(session *s, struct lws *wsi)
{
    gw_req *r = s->req;
    if (!r || !r->answered)
        return 0;
    if (r->stream_ended)
        return -1;
    if (!r->headers_sent) {
        uint8_t buf[LWS_PRE + 1536], *start = buf + LWS_PRE, *p = start,
                                     *end = buf + sizeof buf - 1;
        if (write_headers(r, wsi, &p, end) < 0 ||
            lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        r->headers_sent = true;
        if (r->status == 304) { /* no body, and the connection stays */
            s->req = NULL;
            req_free(r);
            return lws_http_transaction_completed(wsi) ? -1 : 0;
        }
        if (!r->streaming || gw_req_stream_queued(r) > 0)
            lws_callback_on_writable(wsi);
        return 0;
    }
    if (r->streaming)
        return write_stream(r, wsi);
    size_t n = r->out_len - r->out_off;
    if (n > CHUNK)
        n = CHUNK;
    bool final = r->out_off + n == r->out_len;
    static_assert(LWS_PRE + CHUNK < 256 * 1024, "chunk buffer on the heap");
    uint8_t *buf = malloc(LWS_PRE + (n ? n : 1));
    if (!buf)
        return -1;
    if (n)
        memcpy(buf + LWS_PRE, r->out + r->out_off, n);
    int w = lws_write(wsi, buf + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
    free(buf);
    if (w < (int)n)
        return -1;
    r->out_off += n;
    if (!final) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    bool close = r->close_after;
    s->req = NULL;
    req_free(r);
    if (close)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    session *s = user;
    struct lws_vhost *vh = lws_get_vhost(wsi);
    gw_http *h = vh ? lws_get_vhost_user(vh) : NULL;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(h, s, wsi, in);
    case LWS_CALLBACK_HTTP_BODY:
        return on_body(h, s->req, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (s->req && !s->req->answered && !s->req->dispatched)
            dispatch(s->req);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return on_writeable(s, wsi);
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (s && s->req) {
            gw_req *r = s->req;
            s->req = NULL;
            if (r->on_close)
                r->on_close(r, r->close_user);
            req_free(r);
        }
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* ---- the server --------------------------------------------------------------------------- */

/* Splits "ADDR:PORT" ("[v6]:PORT" for IPv6). */
static int split_addr(const char *addr, char *host, size_t cap, int *port, bool *v6, char *err,
                      size_t errlen)
{
    const char *colon = strrchr(addr, ':');
    const char *h = addr, *hend = colon;
    *v6 = false;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return err_set(err, errlen, "bad HTTP address '%s': expected [IPv6]:PORT", addr);
        h = addr + 1;
        hend = close;
        colon = close + 1;
        *v6 = true;
    }
    if (!colon || hend == h || (size_t)(hend - h) >= cap)
        return err_set(err, errlen, "bad HTTP address '%s': expected ADDR:PORT", addr);
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535)
        return err_set(err, errlen, "bad HTTP address '%s': bad port", addr);
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    *port = (int)p;
    return 0;
}

static bool loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0;
}

int gw_http_new(uv_loop_t *loop, const gw_http_config *cfg, gw_http **out, char *err, size_t errlen)
{
    *out = NULL;
    char host[64];
    int port = 0;
    bool v6 = false;
    if (split_addr(cfg->addr, host, sizeof host, &port, &v6, err, errlen) < 0)
        return -1;
    bool has_token = cfg->token && cfg->token[0];
    if (!loopback(host) && !has_token)
        return err_set(err, errlen,
                       "refusing to serve HTTP on %s without a token: give --token, or listen "
                       "on 127.0.0.1",
                       cfg->addr);
    if (sodium_init() < 0)
        return err_set(err, errlen, "libsodium failed to initialise");
    gw_http *h = calloc(1, sizeof *h);
    if (!h)
        return err_set(err, errlen, "out of memory");
    h->loop = loop;
    h->cfg = *cfg;
    h->has_token = has_token;
    if (has_token)
        crypto_generichash(h->token_hash, sizeof h->token_hash, (const uint8_t *)cfg->token,
                           strlen(cfg->token), NULL, 0);
    h->cfg.token = NULL; /* the digest is all we keep */
    h->protocols[0] = (struct lws_protocols){
        .name = "http", .callback = callback, .per_session_data_size = sizeof(session)};

    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *foreign[] = {loop};
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    if (!v6 && strcmp(host, "localhost") != 0)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.foreign_loops = foreign;
    info.pcontext = &h->alive;
    info.port = CONTEXT_PORT_NO_LISTEN;
    h->ctx = lws_create_context(&info);
    if (!h->ctx) {
        free(h);
        return err_set(err, errlen, "libwebsockets: cannot create a context");
    }
    h->alive = h->ctx;
    memset(&info, 0, sizeof info);
    info.options = v6 || strcmp(host, "localhost") == 0 ? 0 : LWS_SERVER_OPTION_DISABLE_IPV6;
    info.port = port;
    info.iface = host;
    info.protocols = h->protocols;
    info.vhost_name = "swarm";
    info.user = h;
    info.server_string = "swarm";
    info.keepalive_timeout = 5;
    h->vh = lws_create_vhost(h->ctx, &info);
    if (!h->vh) {
        err_set(err, errlen, "cannot listen for HTTP on %s (address in use or not available)",
                cfg->addr);
        /* nothing listens yet: the context goes without waiting for the loop */
        gw_http_close(h, NULL, NULL);
        return -1;
    }
    *out = h;
    return 0;
}

int gw_http_port_of(const gw_http *h)
{
    return lws_get_vhost_listen_port(h->vh);
}

static void closed_timer(uv_handle_t *t)
{
    gw_http *h = t->data;
    void (*done)(void *) = h->done;
    void *user = h->done_user;
    free(h);
    if (done)
        done(user);
}

static void count_closing(uv_handle_t *handle, void *arg)
{
    if (uv_is_closing(handle))
        (*(int *)arg)++;
}

/* With a foreign loop, lws's destruction takes two calls: the first closes its handles, the
 * second, once libuv has run every close callback, frees the rest and unloads lws's libuv
 * plugin (whose code those callbacks are: a second call too early crashes later). So this
 * waits until no handle of the loop is closing, then calls again, until lws writes NULL into
 * h->alive. */
#define HTTP_CLOSE_POLLS 3000 /* 1 ms each */

static void poll_closed(uv_timer_t *t)
{
    gw_http *h = t->data;
    if (h->alive && ++h->close_polls > HTTP_CLOSE_POLLS) {
        /* lws never finished: leave its context (a leak) rather than hang the shutdown */
        fprintf(stderr, "gateway: libwebsockets did not finish closing; going on without it\n");
        h->alive = NULL;
    }
    if (h->alive) {
        int closing = 0;
        uv_walk(h->loop, count_closing, &closing);
        if (closing > 0)
            return;
        lws_context_destroy(h->alive);
        if (h->alive)
            return;
    }
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, closed_timer);
}

void gw_http_close(gw_http *h, void (*done)(void *user), void *user)
{
    h->done = done;
    h->done_user = user;
    lws_context_destroy(h->ctx);
    h->ctx = NULL;
    uv_timer_init(h->loop, &h->closing);
    h->closing.data = h;
    uv_timer_start(&h->closing, poll_closed, 1, 1);
}
