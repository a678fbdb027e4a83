/* pubsub_heartbeat.c - gossipsub's heartbeat (every heartbeat_ms): keeps each mesh within
 * [D_lo, D_hi] (GRAFT up to D when short, PRUNE down to D when over), keeps fanout topics filled
 * and forgets those not published to for fanout_ttl_ms, sends IHAVE for the messages of the
 * last mcache_gossip heartbeats to D_lazy (or a quarter, if more) of the other peers of each
 * topic, shifts the message cache, and expires the seen cache, back-offs, IDONTWANT lists,
 * per-heartbeat budgets, penalty points and bans. */
#include "host_internal.h"
#include "pubsub_internal.h"

#include <stdlib.h>
#include <string.h>

static bool graftable(const ps_peer *q, const ps_topic *t, uint64_t now)
{
    return !ps_backoff_active(q, t->name, now);
}

/* Removes from s the peers that no longer belong there; returns how many went. */
static size_t drop_gone(ps_peerset *s, const char *topic)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n;) {
        if (!ps_peer_gossips(s->p[i]) || !ps_peer_subscribed(s->p[i], topic)) {
            s->p[i] = s->p[--s->n];
            k++;
        } else {
            i++;
        }
    }
    return k;
}

static void mesh_upkeep(p2p_pubsub *ps, ps_topic *t, uint64_t now)
{
    const p2p_pubsub_config *c = &ps->cfg;
    drop_gone(&t->mesh, t->name);
    if (t->mesh.n < c->d_lo) {
        ps_peer *pick[64];
        size_t want = c->d - t->mesh.n;
        size_t k = ps_pick_peers(ps, t, &t->mesh, NULL, graftable, pick, want < 64 ? want : 64);
        for (size_t i = 0; i < k; i++) {
            if (ps_set_add(&t->mesh, pick[i]) != 0)
                break;
            ps_queue_graft(pick[i], t->name);
            ps_emit(ps, P2P_PS_EV_GRAFT, pick[i], t->name, NULL);
        }
    }
    if (t->mesh.n > c->d_hi) {
        ps_shuffle((void **)t->mesh.p, t->mesh.n);
        for (size_t i = c->d; i < t->mesh.n; i++) {
            ps_peer *q = t->mesh.p[i];
            ps_queue_prune(q, t->name, c->prune_backoff_ms / 1000);
            ps_backoff_set(q, t->name, now + c->prune_backoff_ms);
            ps_emit(ps, P2P_PS_EV_PRUNE, q, t->name, NULL);
        }
        t->mesh.n = c->d;
    }
}

/* Refills t's fanout, or forgets it (and t, if nothing else needs it) once unused. */
static void fanout_upkeep(p2p_pubsub *ps, ps_topic *t, uint64_t now)
{
    if (now - t->last_pub > ps->cfg.fanout_ttl_ms) {
        t->fanout.n = 0;
        t->last_pub = 0;
        ps_topic_release(ps, t);
        return;
    }
    drop_gone(&t->fanout, t->name);
    if (t->fanout.n < ps->cfg.d) {
        ps_peer *pick[64];
        size_t want = ps->cfg.d - t->fanout.n;
        size_t k = ps_pick_peers(ps, t, &t->fanout, NULL, NULL, pick, want < 64 ? want : 64);
        for (size_t i = 0; i < k; i++)
            ps_set_add(&t->fanout, pick[i]);
    }
}

static void emit_gossip(p2p_pubsub *ps, ps_topic *t, const ps_msg_id **ids)
{
    size_t n =
        ps_mcache_gossip(&ps->mcache, t->name, ps->cfg.mcache_gossip, ids, PS_MAX_IHAVE_SEND);
    if (n == 0 || ps->npeers == 0)
        return;
    ps_peer **to = malloc(ps->npeers * sizeof *to);
    if (!to)
        return;
    size_t k = ps_pick_peers(ps, t, &t->mesh, &t->fanout, NULL, to, ps->npeers);
    size_t want = (size_t)(PS_GOSSIP_FACTOR * (double)k);
    if (want < ps->cfg.d_lazy)
        want = ps->cfg.d_lazy;
    if (k > want)
        k = want;
    for (size_t i = 0; i < k; i++)
        ps_queue_ihave(to[i], t->name, ids, n);
    free(to);
}

static void peer_upkeep(ps_peer *p, uint64_t now)
{
    ps_idmap_expire(&p->dontwant, now > PS_DONTWANT_TTL_MS ? now - PS_DONTWANT_TTL_MS : 0);
    p->ihave_seen = 0;
    p->iwant_asked = 0;
    while (p->penalty && now - p->penalty_at >= PS_PENALTY_DECAY_MS) {
        p->penalty--;
        p->penalty_at += PS_PENALTY_DECAY_MS;
    }
    if (!p->penalty)
        p->penalty_at = now;
    for (size_t i = 0; i < p->nbackoff;) {
        if (p->backoff[i].until <= now) {
            free(p->backoff[i].topic);
            p->backoff[i] = p->backoff[--p->nbackoff];
        } else {
            i++;
        }
    }
}

void ps_heartbeat(p2p_pubsub *ps)
{
    uint64_t now = ps_now(ps);
    ps_topic *next;
    for (ps_topic *t = ps->topics; t; t = next) {
        next = t->next;
        if (t->subscribed)
            mesh_upkeep(ps, t, now);
        else if (t->fanout.n || t->last_pub)
            fanout_upkeep(ps, t, now);
    }
    const ps_msg_id **ids = malloc(PS_MAX_IHAVE_SEND * sizeof *ids);
    if (ids) {
        for (ps_topic *t = ps->topics; t; t = t->next)
            if (t->subscribed || t->fanout.n)
                emit_gossip(ps, t, ids);
        free(ids);
    }
    ps_mcache_shift(&ps->mcache);
    if (now > ps->cfg.seen_ttl_ms)
        ps_idmap_expire(&ps->seen, now - ps->cfg.seen_ttl_ms);
    for (ps_peer *p = ps->peers; p; p = p->next)
        peer_upkeep(p, now);
    for (size_t i = 0; i < ps->nbans;) {
        if (ps->bans[i].until <= now)
            ps->bans[i] = ps->bans[--ps->nbans];
        else
            i++;
    }
    ps_flush(ps);
}
