/* rcmgr.h - the host's resource manager: who may hold which connections (internal to src/p2p).
 *
 * The host asks it before admitting an inbound connection and tells it when a connection
 * changes state; it keeps the counts that make strangers unable to lock others out:
 *   - per remote address (the /32 of IPv4, the /64 of IPv6; IPv4-mapped IPv6 is IPv4): inbound
 *     connections still handshaking ("pending"), and inbound connections in all (pending + up);
 *   - per peer id: connections past the Noise handshake, both directions; an inbound one beyond
 *     the limit is refused (our own dials never are);
 *   - all inbound handshakes: at the limit a newcomer is not turned away by the limit itself,
 *     one pending connection is dropped to make room (see rcmgr_inbound for which).
 * Outbound connections never count towards the address limits: inbound pressure must not
 * block our own dials. No I/O and no clock, so it is unit-tested in memory. */
#ifndef SWARM_P2P_RCMGR_H
#define SWARM_P2P_RCMGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "p2p.h"

#define RCMGR_ADDR_STRLEN 64 /* room for the text of any rcmgr_addr, with NUL */

/* The part of a remote address that limits apply to: 4 bytes (IPv4) or the 8-byte /64 prefix
 * (IPv6). */
typedef struct {
    uint8_t len; /* 4 or 8 */
    uint8_t b[8];
} rcmgr_addr;

typedef struct {
    uint32_t max_pending;          /* inbound handshakes in all */
    uint32_t max_pending_per_addr; /* inbound handshakes from one address */
    uint32_t max_conns_per_addr;   /* inbound connections from one address, pending or up */
    uint32_t max_conns_per_peer;   /* connections of one peer id past Noise */
} rcmgr_limits;

typedef struct rcmgr rcmgr;
typedef struct rcmgr_entry rcmgr_entry;
typedef struct rcmgr_conn rcmgr_conn;

/* A connection as the manager sees it; embedded in the host's connection, zero-initialised
 * (untracked). Read-only outside rcmgr.c. */
struct rcmgr_conn {
    rcmgr_entry *addr;       /* inbound, admitted and not released: its address's counts */
    rcmgr_entry *peer;       /* past Noise and not released: its peer's count */
    rcmgr_conn *prev, *next; /* in its address's pending list, newest first */
    uint64_t seq;            /* admission order */
    bool pending;            /* inbound, admitted, handshake not finished */
    bool heard;              /* the remote has sent at least one byte */
};

/* Makes a manager with these limits (each at least 1). NULL if out of memory. */
rcmgr *rcmgr_new(const rcmgr_limits *lim);

/* Frees the manager. Connections still tracked must not be used with it afterwards. */
void rcmgr_free(rcmgr *m);

/* The address limits apply to, from a socket address. Returns -1 for a family other than
 * IPv4 and IPv6. */
int rcmgr_addr_from_sockaddr(const struct sockaddr *sa, rcmgr_addr *out);

/* Text of a, for messages: "192.0.2.7" or "2001:db8:1:2::/64". Returns out. */
const char *rcmgr_addr_str(const rcmgr_addr *a, char out[RCMGR_ADDR_STRLEN]);

/* Admits the inbound connection rc (untracked) from a as pending. Returns -1 with a reason,
 * rc staying untracked, when its address holds max_pending_per_addr handshakes or
 * max_conns_per_addr connections, or when rc itself is the one chosen to make room. Returns 0
 * otherwise; if max_pending handshakes were already pending, *evict is set to the one chosen
 * to make room, already released (the caller closes it, with the reason left in err), else to
 * NULL.
 * The one chosen: among the pending connections and rc, take from each address its newest
 * silent one (nothing received yet), or its newest if none is silent; of those pick the one
 * whose address holds the most pending, then a silent one, then the oldest. So an address
 * that floods loses its own newest, a connection that has spoken outlives silent ones, and a
 * newcomer from a fresh address gets in ahead of sockets that have had their time. */
int rcmgr_inbound(rcmgr *m, rcmgr_conn *rc, const rcmgr_addr *a, rcmgr_conn **evict, char *err,
                  size_t errlen);

/* The remote sent its first byte: rc counts as silent no longer. */
void rcmgr_heard(rcmgr *m, rcmgr_conn *rc);

/* Noise proved the peer of rc: it counts towards the peer's connections. Returns -1 with a
 * reason, rc's peer staying uncounted, if rc is inbound (admitted by rcmgr_inbound) and the
 * peer already has max_conns_per_peer; an outbound connection is always counted. */
int rcmgr_peer(rcmgr *m, rcmgr_conn *rc, const p2p_peer_id *peer, char *err, size_t errlen);

/* The handshake of rc finished: it is pending no longer (it still counts for its address). */
void rcmgr_up(rcmgr *m, rcmgr_conn *rc);

/* rc is closing: it counts nowhere any more. Idempotent; fine for an untracked rc. */
void rcmgr_release(rcmgr *m, rcmgr_conn *rc);

/* Inbound handshakes pending in all. */
size_t rcmgr_pending(const rcmgr *m);

/* What a holds: inbound connections (pending or up); *pending (may be NULL) gets the pending. */
uint32_t rcmgr_addr_conns(const rcmgr *m, const rcmgr_addr *a, uint32_t *pending);

/* Connections of peer past Noise. */
uint32_t rcmgr_peer_conns(const rcmgr *m, const p2p_peer_id *peer);

#endif
