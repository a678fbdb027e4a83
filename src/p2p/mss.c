/* mss.c - multistream-select 1.0 as a byte-in, byte-out state machine (see mss.h).
 *
 * Messages are parsed one at a time and never past their end, so bytes the peer sent after its
 * last negotiation message stay with the caller. A listener answers "ls" with "na": we do not
 * list protocols (the listing format is loosely specified and nobody we talk to needs it). */
#include "mss.h"

#include <stdio.h>
#include <string.h>

enum {
    ST_D_HEADER = 1, /* dialer: waiting for the header echo */
    ST_D_ANSWER,     /* dialer: waiting for the answer to protos[next] */
    ST_L_HEADER,     /* listener: waiting for the dialer's header */
    ST_L_PROPOSAL,   /* listener: waiting for a proposal */
    ST_DONE,
    ST_FAIL,
};

/* The length prefix of a message of at most MSS_MAX_MSG bytes takes at most this many bytes. */
#define MSS_PREFIX_MAX 2

/* Writes a printable, shortened copy of text[0..n) into out (for error messages). */
static const char *mss_show(const char *text, size_t n, char *out, size_t cap)
{
    size_t o = 0, i;
    for (i = 0; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    if (i < n && o + 4 <= cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* Appends one message (prefix, text, newline) to out, all or nothing. */
static int mss_put(buf_t *out, const char *text)
{
    size_t n = strlen(text);
    uint8_t prefix[UVARINT_MAX_LEN];
    size_t plen = uvarint_encode(n + 1, prefix);
    if (buf_reserve(out, plen + n + 1) != 0)
        return -1;
    buf_append(out, prefix, plen);
    buf_append(out, text, n);
    return buf_push(out, '\n');
}

/* A protocol id we may send: non-empty, fits a message, no newline. */
static bool mss_valid_proto(const char *s)
{
    if (!s)
        return false;
    size_t n = strnlen(s, MSS_MAX_MSG);
    return n > 0 && n < MSS_MAX_MSG && !memchr(s, '\n', n);
}

int mss_dialer(mss *m, const char *const *protos, size_t n, buf_t *out)
{
    memset(m, 0, sizeof *m);
    m->dialer = true;
    m->state = ST_FAIL;
    if (n == 0 || n > MSS_MAX_PROTOS)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!mss_valid_proto(protos[i]))
            return -1;
        m->protos[i] = protos[i];
    }
    m->nprotos = n;
    /* The header and the first proposal leave together: one write, one round trip saved. */
    size_t before = out->len;
    if (mss_put(out, MSS_HEADER) != 0 || mss_put(out, protos[0]) != 0) {
        out->len = before;
        return -1;
    }
    m->state = ST_D_HEADER;
    return 0;
}

void mss_listener(mss *m, mss_supported_fn supported, void *user)
{
    memset(m, 0, sizeof *m);
    m->supported = supported;
    m->user = user;
    m->state = ST_L_HEADER;
}

const char *mss_selected(const mss *m)
{
    return m->state == ST_DONE ? m->selected : "";
}

/* Takes bytes of the next message from p[0..n) into m->acc, never beyond its end. Returns 1
 * with *text and *tlen set (the text without its newline) when a whole message is there, 0 if
 * more bytes are needed, -1 on a malformed message. *used counts the bytes taken. */
static int mss_take(mss *m, const uint8_t *p, size_t n, size_t *used, const char **text,
                    size_t *tlen, char *err, size_t errlen)
{
    size_t i = 0, end = 0;
    /* The prefix, a byte at a time (taking more could eat protocol data): it ends with the
     * first byte without the high bit. */
    for (;;) {
        for (size_t k = 0; k < m->acclen && k < MSS_PREFIX_MAX && !end; k++)
            if (!(m->acc[k] & 0x80))
                end = k + 1;
        if (end)
            break;
        if (m->acclen >= MSS_PREFIX_MAX) {
            *used = i;
            return err_set(err, errlen, "multistream: message longer than %d bytes", MSS_MAX_MSG);
        }
        if (i == n) {
            *used = i;
            return 0;
        }
        m->acc[m->acclen++] = p[i++];
    }
    uint64_t len;
    size_t plen;
    int rc = uvarint_decode(m->acc, end, &len, &plen);
    if (rc != 0) {
        *used = i;
        return err_set(err, errlen, "multistream: bad length prefix: %s", varint_strerror(rc));
    }
    if (len == 0 || len > MSS_MAX_MSG) {
        *used = i;
        return err_set(err, errlen, "multistream: bad message length %llu (1..%d allowed)",
                       (unsigned long long)len, MSS_MAX_MSG);
    }
    size_t want = plen + (size_t)len - m->acclen;
    size_t take = n - i < want ? n - i : want;
    memcpy(m->acc + m->acclen, p + i, take);
    m->acclen += take;
    i += take;
    *used = i;
    if (take < want)
        return 0;

    const char *body = (const char *)m->acc + plen;
    size_t blen = (size_t)len;
    m->acclen = 0; /* the next call starts a new message; body stays valid until then */
    if (body[blen - 1] != '\n')
        return err_set(err, errlen, "multistream: message does not end with a newline");
    if (memchr(body, '\n', blen - 1) || memchr(body, '\0', blen - 1))
        return err_set(err, errlen, "multistream: message holds a newline or NUL byte");
    *text = body;
    *tlen = blen - 1;
    return 1;
}

static bool mss_is(const char *text, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(text, s, n) == 0;
}

/* Lists the dialer's proposals into out for "peer supports none of" (truncated to fit). */
static void mss_list_protos(const mss *m, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < m->nprotos && o + 1 < cap; i++) {
        int w = snprintf(out + o, cap - o, "%s%s", i ? ", " : "", m->protos[i]);
        if (w < 0)
            break;
        o += (size_t)w;
    }
}

/* Handles one complete message. Returns MSS_MORE to go on reading, or DONE/FAIL. */
static mss_status mss_handle(mss *m, const char *text, size_t n, buf_t *out, char *err,
                             size_t errlen)
{
    char shown[80];
    switch (m->state) {
    case ST_D_HEADER:
    case ST_L_HEADER:
        if (!mss_is(text, n, MSS_HEADER)) {
            err_set(err, errlen, "multistream: expected header \"%s\", got \"%s\"", MSS_HEADER,
                    mss_show(text, n, shown, sizeof shown));
            return MSS_FAIL;
        }
        if (m->state == ST_L_HEADER) {
            if (mss_put(out, MSS_HEADER) != 0) {
                err_set(err, errlen, "multistream: output buffer refused the header");
                return MSS_FAIL;
            }
            m->state = ST_L_PROPOSAL;
        } else {
            m->state = ST_D_ANSWER;
        }
        return MSS_MORE;

    case ST_D_ANSWER: {
        const char *proto = m->protos[m->next];
        if (mss_is(text, n, proto)) {
            memcpy(m->selected, text, n);
            m->selected[n] = '\0';
            m->state = ST_DONE;
            return MSS_DONE;
        }
        if (!mss_is(text, n, "na")) {
            err_set(err, errlen, "multistream: proposed \"%s\", peer answered \"%s\"", proto,
                    mss_show(text, n, shown, sizeof shown));
            return MSS_FAIL;
        }
        if (++m->next == m->nprotos) {
            char list[256];
            mss_list_protos(m, list, sizeof list);
            err_set(err, errlen, "multistream: peer supports none of: %s", list);
            return MSS_FAIL;
        }
        if (mss_put(out, m->protos[m->next]) != 0) {
            err_set(err, errlen, "multistream: output buffer refused a proposal");
            return MSS_FAIL;
        }
        return MSS_MORE;
    }

    case ST_L_PROPOSAL:
        if (n > 0 && !mss_is(text, n, "ls") && !mss_is(text, n, "na")) {
            memcpy(m->selected, text, n);
            m->selected[n] = '\0';
            if (m->supported && m->supported(m->user, m->selected)) {
                if (mss_put(out, m->selected) != 0) {
                    err_set(err, errlen, "multistream: output buffer refused the answer");
                    return MSS_FAIL;
                }
                m->state = ST_DONE;
                return MSS_DONE;
            }
        }
        m->selected[0] = '\0';
        if (m->tries >= MSS_MAX_TRIES) {
            err_set(err, errlen, "multistream: peer made more than %d proposals we refused",
                    MSS_MAX_TRIES);
            return MSS_FAIL;
        }
        m->tries++;
        if (mss_put(out, "na") != 0) {
            err_set(err, errlen, "multistream: output buffer refused \"na\"");
            return MSS_FAIL;
        }
        return MSS_MORE;
    }
    err_set(err, errlen, "multistream: negotiator in no known state");
    return MSS_FAIL;
}

mss_status mss_feed(mss *m, const uint8_t *p, size_t n, size_t *used, buf_t *out, char *err,
                    size_t errlen)
{
    *used = 0;
    if (m->state == ST_DONE) {
        err_set(err, errlen, "multistream: negotiation already finished");
        return MSS_FAIL;
    }
    if (m->state < ST_D_HEADER || m->state > ST_L_PROPOSAL) {
        err_set(err, errlen, "multistream: negotiation already failed");
        return MSS_FAIL;
    }
    size_t off = 0;
    while (off < n) {
        const char *text = NULL;
        size_t tlen = 0, took = 0;
        int rc = mss_take(m, p + off, n - off, &took, &text, &tlen, err, errlen);
        off += took;
        *used = off;
        if (rc < 0) {
            m->state = ST_FAIL;
            return MSS_FAIL;
        }
        if (rc == 0)
            return MSS_MORE;
        mss_status st = mss_handle(m, text, tlen, out, err, errlen);
        if (st == MSS_FAIL)
            m->state = ST_FAIL;
        if (st != MSS_MORE)
            return st;
    }
    return MSS_MORE;
}
