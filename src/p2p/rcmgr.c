/* rcmgr.c - the resource manager: counts per address and per peer, admission and the choice of
 * the pending connection that makes room. See rcmgr.h for the rules. */
#include "rcmgr.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util.h"

#define RCMGR_KEY_MAX     P2P_PEER_ID_MAX
#define RCMGR_BUCKETS_MIN 64

struct rcmgr_entry {
    rcmgr_entry *next;                  /* hash chain */
    rcmgr_entry *busy_prev, *busy_next; /* address: in the busy list while it has pending */
    rcmgr_conn *pending;                /* address: its pending connections, newest first */
    uint32_t npending;                  /* address: length of pending */
    uint32_t nconns; /* address: inbound connections, pending or up; peer: past Noise */
    uint8_t klen;
    uint8_t key[RCMGR_KEY_MAX];
};

/* Entries by key. Chained, hashed with SipHash under a random key: addresses and peer ids are
 * chosen by strangers, who must not be able to make the chains long. */
typedef struct {
    rcmgr_entry **b;
    size_t nb, n;
} rcmgr_map;

struct rcmgr {
    rcmgr_limits lim;
    uint8_t hkey[crypto_shorthash_KEYBYTES];
    rcmgr_map addrs, peers;
    rcmgr_entry *busy; /* addresses with pending connections: the victim is chosen among them */
    size_t npending;
    uint64_t seq;
};

/* ---- the maps ------------------------------------------------------------------------------ */

static size_t map_slot(const rcmgr *m, const rcmgr_map *map, const uint8_t *key, size_t klen)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, klen, m->hkey);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return (size_t)(v & (map->nb - 1));
}

static rcmgr_entry *map_find(const rcmgr *m, const rcmgr_map *map, const uint8_t *key, size_t klen)
{
    for (rcmgr_entry *e = map->b[map_slot(m, map, key, klen)]; e; e = e->next)
        if (e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

/* Doubles the buckets when the map is fuller than one entry per bucket; staying as it is
 * when out of memory only makes chains longer. */
static void map_grow(rcmgr *m, rcmgr_map *map)
{
    if (map->n < map->nb)
        return;
    size_t nb = map->nb * 2;
    rcmgr_entry **b = calloc(nb, sizeof *b);
    if (!b)
        return;
    rcmgr_map bigger = {b, nb, map->n};
    for (size_t i = 0; i < map->nb; i++) {
        rcmgr_entry *e = map->b[i], *next;
        for (; e; e = next) {
            next = e->next;
            size_t s = map_slot(m, &bigger, e->key, e->klen);
            e->next = b[s];
            b[s] = e;
        }
    }
    free(map->b);
    *map = bigger;
}

/* The entry for key, made (zeroed) if missing; NULL if out of memory. */
static rcmgr_entry *map_get(rcmgr *m, rcmgr_map *map, const uint8_t *key, size_t klen)
{
    assert(klen <= RCMGR_KEY_MAX);
    rcmgr_entry *e = map_find(m, map, key, klen);
    if (e)
        return e;
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->klen = (uint8_t)klen;
    memcpy(e->key, key, klen);
    size_t s = map_slot(m, map, key, klen);
    e->next = map->b[s];
    map->b[s] = e;
    map->n++;
    map_grow(m, map);
    return e;
}

/* Frees e once nothing counts in it. */
static void map_put(rcmgr *m, rcmgr_map *map, rcmgr_entry *e)
{
    if (e->nconns || e->npending)
        return;
    for (rcmgr_entry **pp = &map->b[map_slot(m, map, e->key, e->klen)]; *pp; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            map->n--;
            free(e);
            return;
        }
    }
    assert(!"entry not in its map");
}

static int map_init(rcmgr_map *map)
{
    map->nb = RCMGR_BUCKETS_MIN;
    map->n = 0;
    map->b = calloc(map->nb, sizeof *map->b);
    return map->b ? 0 : -1;
}

static void map_free(rcmgr_map *map)
{
    for (size_t i = 0; map->b && i < map->nb; i++) {
        rcmgr_entry *e = map->b[i], *next;
        for (; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(map->b);
}

/* ---- addresses ----------------------------------------------------------------------------- */

int rcmgr_addr_from_sockaddr(const struct sockaddr *sa, rcmgr_addr *out)
{
    memset(out, 0, sizeof *out);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        out->len = 4;
        memcpy(out->b, &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *p = in6->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(p, mapped, sizeof mapped) == 0) { /* ::ffff:a.b.c.d is that IPv4 peer */
            out->len = 4;
            memcpy(out->b, p + 12, 4);
        } else { /* one subscriber usually gets a whole /64 */
            out->len = 8;
            memcpy(out->b, p, 8);
        }
        return 0;
    }
    return -1;
}

const char *rcmgr_addr_str(const rcmgr_addr *a, char out[RCMGR_ADDR_STRLEN])
{
    out[0] = '\0';
    if (a->len == 4) {
        inet_ntop(AF_INET, a->b, out, RCMGR_ADDR_STRLEN);
    } else if (a->len == 8) {
        uint8_t full[16] = {0};
        memcpy(full, a->b, 8);
        if (inet_ntop(AF_INET6, full, out, RCMGR_ADDR_STRLEN - 4))
            strcat(out, "/64");
    }
    return out;
}

/* The map key of an address: its bytes; IPv4 and IPv6 differ in length, so never collide. */
static rcmgr_entry *addr_find(const rcmgr *m, const rcmgr_addr *a)
{
    return map_find(m, &m->addrs, a->b, a->len);
}

/* ---- the manager --------------------------------------------------------------------------- */

rcmgr *rcmgr_new(const rcmgr_limits *lim)
{
    assert(lim->max_pending && lim->max_pending_per_addr && lim->max_conns_per_addr &&
           lim->max_conns_per_peer);
    rcmgr *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->lim = *lim;
    crypto_shorthash_keygen(m->hkey);
    if (map_init(&m->addrs) != 0 || map_init(&m->peers) != 0) {
        rcmgr_free(m);
        return NULL;
    }
    return m;
}

void rcmgr_free(rcmgr *m)
{
    if (!m)
        return;
    map_free(&m->addrs);
    map_free(&m->peers);
    free(m);
}

static void pending_unlink(rcmgr *m, rcmgr_conn *rc)
{
    assert(rc->pending && rc->addr && rc->addr->npending > 0 && m->npending > 0);
    if (rc->prev)
        rc->prev->next = rc->next;
    else
        rc->addr->pending = rc->next;
    if (rc->next)
        rc->next->prev = rc->prev;
    rc->prev = rc->next = NULL;
    rc->pending = false;
    rcmgr_entry *e = rc->addr;
    if (--e->npending == 0) {
        if (e->busy_prev)
            e->busy_prev->busy_next = e->busy_next;
        else
            m->busy = e->busy_next;
        if (e->busy_next)
            e->busy_next->busy_prev = e->busy_prev;
        e->busy_prev = e->busy_next = NULL;
    }
    m->npending--;
}

void rcmgr_release(rcmgr *m, rcmgr_conn *rc)
{
    if (rc->pending)
        pending_unlink(m, rc);
    if (rc->addr) {
        assert(rc->addr->nconns > 0);
        rc->addr->nconns--;
        map_put(m, &m->addrs, rc->addr);
        rc->addr = NULL;
    }
    if (rc->peer) {
        assert(rc->peer->nconns > 0);
        rc->peer->nconns--;
        map_put(m, &m->peers, rc->peer);
        rc->peer = NULL;
    }
}

/* The newest silent pending connection of e, or its newest if all have spoken. */
static rcmgr_conn *addr_candidate(const rcmgr_entry *e)
{
    for (rcmgr_conn *rc = e->pending; rc; rc = rc->next)
        if (!rc->heard)
            return rc;
    return e->pending;
}

/* True if candidate a is to go before candidate b (see rcmgr_inbound). */
static bool goes_first(const rcmgr_conn *a, const rcmgr_conn *b)
{
    if (a->addr->npending != b->addr->npending)
        return a->addr->npending > b->addr->npending;
    if (a->heard != b->heard)
        return !a->heard;
    return a->seq < b->seq;
}

/* Chooses among every busy address's candidate; rc (already linked as pending) takes part. At
 * most max_pending + 1 addresses are busy, so this stays cheap however many are connected. */
static rcmgr_conn *choose_victim(const rcmgr *m)
{
    rcmgr_conn *best = NULL;
    for (const rcmgr_entry *e = m->busy; e; e = e->busy_next) {
        assert(e->pending);
        rcmgr_conn *c = addr_candidate(e);
        if (!best || goes_first(c, best))
            best = c;
    }
    return best;
}

int rcmgr_inbound(rcmgr *m, rcmgr_conn *rc, const rcmgr_addr *a, rcmgr_conn **evict, char *err,
                  size_t errlen)
{
    assert(!rc->addr && !rc->peer && !rc->pending);
    assert(a->len == 4 || a->len == 8);
    char as[RCMGR_ADDR_STRLEN];
    *evict = NULL;
    rcmgr_entry *e = addr_find(m, a);
    if (e && e->npending >= m->lim.max_pending_per_addr)
        return err_set(err, errlen, "too many handshakes from %s (%u)", rcmgr_addr_str(a, as),
                       m->lim.max_pending_per_addr);
    if (e && e->nconns >= m->lim.max_conns_per_addr)
        return err_set(err, errlen, "too many connections from %s (%u)", rcmgr_addr_str(a, as),
                       m->lim.max_conns_per_addr);
    if (!e && !(e = map_get(m, &m->addrs, a->b, a->len)))
        return err_set(err, errlen, "out of memory");
    rc->addr = e;
    rc->seq = ++m->seq;
    rc->heard = false;
    rc->pending = true;
    rc->prev = NULL;
    rc->next = e->pending;
    if (e->pending) {
        e->pending->prev = rc;
    } else {
        e->busy_prev = NULL;
        e->busy_next = m->busy;
        if (m->busy)
            m->busy->busy_prev = e;
        m->busy = e;
    }
    e->pending = rc;
    e->npending++;
    e->nconns++;
    m->npending++;
    if (m->npending <= m->lim.max_pending)
        return 0;
    /* full: one of the pending, rc included, makes room */
    rcmgr_conn *v = choose_victim(m);
    assert(v && v->pending);
    rcmgr_addr va = {.len = v->addr->klen};
    memcpy(va.b, v->addr->key, va.len);
    err_set(err, errlen, "handshake slots full (%u): dropped to make room (%s holds %u of them)",
            m->lim.max_pending, rcmgr_addr_str(&va, as), v->addr->npending);
    rcmgr_release(m, v);
    if (v == rc)
        return -1;
    *evict = v;
    return 0;
}

void rcmgr_heard(rcmgr *m, rcmgr_conn *rc)
{
    (void)m;
    rc->heard = true;
}

int rcmgr_peer(rcmgr *m, rcmgr_conn *rc, const p2p_peer_id *peer, char *err, size_t errlen)
{
    assert(!rc->peer);
    rcmgr_entry *e = map_find(m, &m->peers, peer->b, peer->len);
    if (rc->addr && e && e->nconns >= m->lim.max_conns_per_peer) {
        char id[P2P_PEER_ID_STRLEN];
        return err_set(err, errlen, "too many connections of peer %s (%u)",
                       p2p_peer_id_str(peer, id), m->lim.max_conns_per_peer);
    }
    if (!e && !(e = map_get(m, &m->peers, peer->b, peer->len)))
        return err_set(err, errlen, "out of memory");
    e->nconns++;
    rc->peer = e;
    return 0;
}

void rcmgr_up(rcmgr *m, rcmgr_conn *rc)
{
    if (rc->pending)
        pending_unlink(m, rc);
}

size_t rcmgr_pending(const rcmgr *m)
{
    return m->npending;
}

uint32_t rcmgr_addr_conns(const rcmgr *m, const rcmgr_addr *a, uint32_t *pending)
{
    const rcmgr_entry *e = addr_find(m, a);
    if (pending)
        *pending = e ? e->npending : 0;
    return e ? e->nconns : 0;
}

uint32_t rcmgr_peer_conns(const rcmgr *m, const p2p_peer_id *peer)
{
    const rcmgr_entry *e = map_find(m, &m->peers, peer->b, peer->len);
    return e ? e->nconns : 0;
}
