/* http.h - internal to src/gateway: a small HTTP/1.1 server on libwebsockets, on the caller's
 * libuv loop. It reads a request (method, path, query, a body up to a bound), checks the bearer
 * token, and hands the whole request to one handler, which answers at once or later (a waited
 * job): a request is answered exactly once with gw_req_respond, or is abandoned when its
 * client goes away (the closed callback says so; the gw_req is gone after it).
 *
 * Bad requests are answered here without the handler: 401 without the right token, 413 for a
 * body over the limit (by Content-Length before reading, and by counting while reading). */
#ifndef SWARM_GW_HTTP_H
#define SWARM_GW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "util.h"

typedef struct gw_http gw_http;
typedef struct gw_req gw_req;

typedef void (*gw_http_handler)(gw_req *r, void *user);

typedef struct {
    const char *addr;  /* "ADDR:PORT" (IPv4 or [IPv6]); port 0 picks one */
    const char *token; /* NULL or "": no authorization */
    /* The one path where the token may also come as ?token= (browsers' EventSource cannot
     * send headers); NULL: nowhere. */
    const char *query_token_path;
    size_t max_body;
    gw_http_handler on_request;
    void *user;
} gw_http_config;

/* Listens on cfg->addr on loop. Refuses a non-loopback address without a token. */
int gw_http_new(uv_loop_t *loop, const gw_http_config *cfg, gw_http **out, char *err,
                size_t errlen);

/* The port bound. */
int gw_http_port_of(const gw_http *h);

/* Stops listening and closes every connection (waiting requests get their closed callback),
 * then frees h and runs done(user) on the loop once libwebsockets has closed its handles. */
void gw_http_close(gw_http *h, void (*done)(void *user), void *user);

/* What a request holds, valid until it is answered or closed. */
const char *gw_req_method(const gw_req *r); /* "GET", "POST", "DELETE", ... */
const char *gw_req_path(const gw_req *r);   /* without the query */
const uint8_t *gw_req_body(const gw_req *r, size_t *len);

/* The value of query argument `name` (?name=value) copied into out; false if absent. */
bool gw_req_arg(const gw_req *r, const char *name, char *out, size_t cap);

/* The request headers a handler may read. */
typedef enum {
    GW_HDR_IF_NONE_MATCH,
    GW_HDR_ACCEPT_ENCODING,
} gw_header;

/* The value of header h copied into out (truncated to cap); false if absent or too long. */
bool gw_req_header(const gw_req *r, gw_header h, char *out, size_t cap);

/* Answers with status, a content type and body (taken: the request frees it), and optionally
 * extra header lines ("Allow: GET, POST", several separated by "\r\n"; at most 511 bytes).
 * Large bodies are written in pieces as the client reads them. A 304 goes without a body. */
void gw_req_respond(gw_req *r, int status, const char *content_type, buf_t *body,
                    const char *extra_header);

/* The same with a body that is not copied: it must outlive the request (embedded files). */
void gw_req_respond_static(gw_req *r, int status, const char *content_type, const uint8_t *body,
                           size_t len, const char *extra_header);

/* Answers with status and headers now and keeps the connection open (no Content-Length; it
 * closes when the stream ends): the body is what gw_req_stream_write queues, written as the
 * client reads it. Used for Server-Sent Events. r stays valid until gw_req_stream_end or its
 * closed callback. At most max_queued bytes wait for the client. */
void gw_req_stream_start(gw_req *r, int status, const char *content_type, const char *extra_header,
                         size_t max_queued);

/* Queues len bytes of a started stream. -1 if they would take the bytes waiting over the
 * bound: nothing is queued then, and the caller should end the stream. */
int gw_req_stream_write(gw_req *r, const void *data, size_t len);

/* Bytes of a stream waiting for the client. */
size_t gw_req_stream_queued(const gw_req *r);

/* Whether the client of a stream has closed its side (or its connection broke). */
bool gw_req_stream_peer_gone(const gw_req *r);

/* Ends a stream: the connection closes soon, what still waits is dropped; the closed callback
 * does not run. r is invalid after. */
void gw_req_stream_end(gw_req *r);

/* Asks for fn(r, user) if the client goes away before the answer; r is invalid after it. */
void gw_req_on_close(gw_req *r, void (*fn)(gw_req *r, void *user), void *user);

/* Sets/reads an opaque pointer the handler keeps with the request. */
void gw_req_set_data(gw_req *r, void *data);
void *gw_req_data(const gw_req *r);

#endif
