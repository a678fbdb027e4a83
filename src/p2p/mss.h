/* mss.h - multistream-select 1.0 (/multistream/1.0.0), without I/O.
 *
 * The caller feeds received bytes and sends what the negotiator appends to `out`. Messages are
 * uvarint length + UTF-8 text + '\n' (the length counts the newline), at most MSS_MAX_MSG
 * bytes. The dialer proposes protocols in order, moving on after "na"; the listener answers
 * with the protocol it accepts or "na". Bytes that arrive after the negotiation (a peer may
 * send the header, its protocol and data in one write) are left unconsumed for the caller. */
#ifndef SWARM_P2P_MSS_H
#define SWARM_P2P_MSS_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define MSS_HEADER     "/multistream/1.0.0"
#define MSS_MAX_MSG    1024 /* longest message (length prefix excluded) we accept */
#define MSS_MAX_PROTOS 16   /* proposals a dialer may make */
#define MSS_MAX_TRIES  64   /* proposals a listener answers "na" to before giving up */

typedef enum { MSS_FAIL = -1, MSS_MORE = 0, MSS_DONE = 1 } mss_status;

/* Says whether the listener supports a proposed protocol. */
typedef bool (*mss_supported_fn)(void *user, const char *protocol);

typedef struct {
    bool dialer;
    int state; /* internal */
    const char *protos[MSS_MAX_PROTOS];
    size_t nprotos, next; /* dialer: proposals and the one awaiting an answer */
    mss_supported_fn supported;
    void *user;
    unsigned tries;
    char selected[MSS_MAX_MSG + 1];
    uint8_t acc[MSS_MAX_MSG + 16]; /* a partial message */
    size_t acclen;
} mss;

/* Starts a dialer proposing protos[0..n) (1..MSS_MAX_PROTOS, borrowed: they must outlive the
 * negotiation) and appends the header and the first proposal to out. Returns 0 or -1 (out
 * refused, or n out of range). */
int mss_dialer(mss *m, const char *const *protos, size_t n, buf_t *out);

/* Starts a listener. It appends its header to out when the dialer's header arrives. */
void mss_listener(mss *m, mss_supported_fn supported, void *user);

/* Consumes bytes from p[0..n); sets *used to how many. Returns MSS_MORE (needs more bytes),
 * MSS_DONE (mss_selected is set; p[*used..n) belongs to the protocol), or MSS_FAIL with err set
 * (malformed message, wrong header, dialer: every proposal refused, listener: too many tries). */
mss_status mss_feed(mss *m, const uint8_t *p, size_t n, size_t *used, buf_t *out, char *err,
                    size_t errlen);

/* The protocol agreed on, once mss_feed returned MSS_DONE; "" before. */
const char *mss_selected(const mss *m);

#endif
