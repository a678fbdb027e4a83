/* http_client.h - a small blocking HTTP/1.1 client for `swarm submit`: one request per
 * connection (Connection: close), every socket wait bounded by a timeout, the answer's size
 * bounded. Enough for our gateway; no TLS, no redirects. */
#ifndef SWARM_CLI_HTTP_CLIENT_H
#define SWARM_CLI_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct {
    char host[256];
    char port[8];
    char prefix[256]; /* path of the URL, without a trailing '/' ("" for the root) */
} hc_url;

/* Parses "http://HOST[:PORT][/PATH]" (or "HOST:PORT"). */
int hc_parse_url(const char *text, hc_url *u, char *err, size_t errlen);

/* Sends method path (appended to the URL's prefix) with an optional body and bearer token,
 * waits at most timeout_ms for each read or write, and fills *status and body (bounded by its
 * limit). Returns 0, or -1 with a message (cannot connect, timeout, malformed answer). */
int hc_request(const hc_url *u, const char *method, const char *path, const char *ctype,
               const void *body, size_t len, const char *token, uint64_t timeout_ms, int *status,
               buf_t *answer, char *err, size_t errlen);

#endif
