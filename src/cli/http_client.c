/* http_client.c - the blocking HTTP/1.1 client of http_client.h. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http_client.h"

int hc_parse_url(const char *text, hc_url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    const char *p = text;
    if (strncmp(p, "http://", 7) == 0)
        p += 7;
    else if (strstr(p, "://"))
        return err_set(err, errlen, "gateway URL '%s': only http:// is supported", text);
    const char *slash = strchr(p, '/');
    const char *hend = slash ? slash : p + strlen(p);
    const char *colon = memchr(p, ':', (size_t)(hend - p));
    const char *nend = colon ? colon : hend;
    if (nend == p || (size_t)(nend - p) >= sizeof u->host)
        return err_set(err, errlen, "gateway URL '%s': bad host", text);
    memcpy(u->host, p, (size_t)(nend - p));
    if (colon) {
        size_t n = (size_t)(hend - colon - 1);
        if (n == 0 || n >= sizeof u->port || strspn(colon + 1, "0123456789") < n)
            return err_set(err, errlen, "gateway URL '%s': bad port", text);
        memcpy(u->port, colon + 1, n);
    } else {
        strcpy(u->port, "80");
    }
    if (slash) {
        size_t n = strlen(slash);
        while (n > 0 && slash[n - 1] == '/')
            n--;
        if (n >= sizeof u->prefix)
            return err_set(err, errlen, "gateway URL '%s': path too long", text);
        memcpy(u->prefix, slash, n);
    }
    return 0;
}

static int connect_to(const hc_url *u, uint64_t timeout_ms, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
    int rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc != 0)
        return err_set(err, errlen, "gateway %s:%s: %s", u->host, u->port, gai_strerror(rc));
    int fd = -1, saved = 0;
    struct timeval tv = {.tv_sec = (time_t)(timeout_ms / 1000),
                         .tv_usec = (suseconds_t)(timeout_ms % 1000 * 1000)};
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        /* the send timeout also bounds connect() on Linux */
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return err_errno(err, errlen, saved, "cannot connect to the gateway at %s:%s", u->host,
                         u->port);
    return fd;
}

static int send_all(int fd, const void *p, size_t n, char *err, size_t errlen)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return err_errno(err, errlen, errno,
                             errno == EAGAIN ? "timed out sending to the gateway"
                                             : "sending to the gateway");
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The value of header `name` ("content-length") in head[0..end), or NULL. */
static const char *header(const char *head, const char *end, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':')
            return p + 3 + n;
    return NULL;
}

/* Splits a whole answer (read up to EOF) into status and body. */
static int parse_answer(buf_t *raw, int *status, buf_t *answer, char *err, size_t errlen)
{
    const char *text = buf_cstr(raw);
    if (!text)
        return err_set(err, errlen, "the gateway's answer is too large");
    int major, minor;
    if (sscanf(text, "HTTP/%d.%d %d", &major, &minor, status) != 3)
        return err_set(err, errlen, "malformed answer from the gateway (not HTTP)");
    const char *body = strstr(text, "\r\n\r\n");
    if (!body)
        return err_set(err, errlen, "malformed answer from the gateway (no end of headers)");
    body += 4;
    size_t have = raw->len - (size_t)(body - text);
    const char *cl = header(text, body, "content-length");
    if (cl) {
        unsigned long long n = strtoull(cl, NULL, 10);
        if (n > have)
            return err_set(err, errlen, "the gateway closed the connection mid-answer");
        have = (size_t)n;
    }
    if (buf_append(answer, body, have) < 0 || !buf_cstr(answer))
        return err_set(err, errlen, "the gateway's answer is too large");
    return 0;
}

int hc_request(const hc_url *u, const char *method, const char *path, const char *ctype,
               const void *body, size_t len, const char *token, uint64_t timeout_ms, int *status,
               buf_t *answer, char *err, size_t errlen)
{
    int fd = connect_to(u, timeout_ms, err, errlen);
    if (fd < 0)
        return -1;
    buf_t req;
    buf_init(&req, 0);
    buf_printf(&req, "%s %s%s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n", method, u->prefix,
               path, u->host, u->port);
    if (token && *token)
        buf_printf(&req, "Authorization: Bearer %s\r\n", token);
    if (body)
        buf_printf(&req, "Content-Type: %s\r\nContent-Length: %zu\r\n", ctype, len);
    buf_puts(&req, "\r\n");
    int rc = send_all(fd, req.data, req.len, err, errlen);
    buf_free(&req);
    if (rc == 0 && body && len)
        rc = send_all(fd, body, len, err, errlen);
    buf_t raw;
    buf_init(&raw, answer->limit ? answer->limit + 64 * 1024 : 0);
    while (rc == 0) {
        char chunk[16384];
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = errno == EAGAIN ? err_set(err, errlen, "timed out waiting for the gateway")
                                 : err_errno(err, errlen, errno, "reading from the gateway");
            break;
        }
        if (n == 0)
            break;
        if (buf_append(&raw, chunk, (size_t)n) < 0)
            rc = err_set(err, errlen, "the gateway's answer is too large");
    }
    close(fd);
    if (rc == 0)
        rc = parse_answer(&raw, status, answer, err, errlen);
    buf_free(&raw);
    return rc;
}
