/* health.c - the health registry: strikes, decay, quarantine with a doubling back-off, gone
 * nodes (see health.h). */
#include "health.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void health_init(health *h, unsigned strike_limit, uint64_t quarantine_ms, health_changed_cb cb,
                 void *user)
{
    memset(h, 0, sizeof *h);
    h->strike_limit = strike_limit ? strike_limit : 1;
    h->quarantine_ms = quarantine_ms ? quarantine_ms : 1;
    h->next_id = 1;
    h->changed = cb;
    h->user = user;
}

void health_free(health *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->v[i]);
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

hl_node *health_find(const health *h, const p2p_peer_id *peer)
{
    for (size_t i = 0; i < h->n; i++)
        if (p2p_peer_id_eq(&h->v[i]->peer, peer))
            return h->v[i];
    return NULL;
}

hl_node *health_by_id(const health *h, uint32_t id)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i]->id == id)
            return h->v[i];
    return NULL;
}

static void changed(health *h, hl_node *n)
{
    if (h->changed)
        h->changed(h->user, n);
}

hl_node *health_connect(health *h, const p2p_peer_id *peer, uint32_t slots, uint32_t cores,
                        const char *label, const char *agent, uint64_t now)
{
    hl_node *n = health_find(h, peer);
    if (!n) {
        if (h->n == h->cap) {
            size_t cap = h->cap ? h->cap * 2 : 16;
            hl_node **v = realloc(h->v, cap * sizeof *v);
            if (!v)
                return NULL;
            h->v = v;
            h->cap = cap;
        }
        if (!(n = calloc(1, sizeof *n)))
            return NULL;
        n->id = h->next_id++;
        n->peer = *peer;
        n->battery = n->charging = -1;
        h->v[h->n++] = n;
    }
    bool was = n->connected;
    n->connected = true;
    n->slots = slots;
    n->cores = cores;
    snprintf(n->label, sizeof n->label, "%s", label ? label : "");
    snprintf(n->agent, sizeof n->agent, "%s", agent ? agent : "");
    n->last_seen = now;
    n->gone_at = 0;
    if (!was)
        changed(h, n);
    return n;
}

void health_disconnect(health *h, hl_node *n, uint64_t now)
{
    if (!n->connected)
        return;
    n->connected = false;
    n->conn = NULL;
    n->gone_at = now;
    n->last_seen = now;
    changed(h, n);
}

bool health_strike(health *h, hl_node *n, uint64_t now)
{
    if (n->quarantine_until)
        return false;
    h->strikes_total++;
    n->strikes++;
    n->good = 0;
    if (n->strikes < h->strike_limit)
        return false;
    unsigned shift =
        n->quarantines < HEALTH_MAX_BACKOFF_SHIFT ? n->quarantines : HEALTH_MAX_BACKOFF_SHIFT;
    n->quarantines++;
    h->quarantines_total++;
    n->quarantine_until = now + (h->quarantine_ms << shift);
    changed(h, n);
    return true;
}

/* Moves the ring to the current second, zeroing the seconds skipped. */
static void rate_advance(hl_node *n, uint64_t now)
{
    uint64_t sec = now / 1000;
    if (sec <= n->rate_sec)
        return;
    uint64_t gap = sec - n->rate_sec;
    if (gap >= HEALTH_RATE_WINDOW)
        memset(n->rate, 0, sizeof n->rate);
    else
        for (uint64_t s = n->rate_sec + 1; s <= sec; s++)
            n->rate[s % HEALTH_RATE_WINDOW] = 0;
    n->rate_sec = sec;
}

void health_success(health *h, hl_node *n, uint64_t fuel, uint64_t now)
{
    (void)h;
    n->shards_done++;
    n->fuel_used += fuel;
    n->last_seen = now;
    rate_advance(n, now);
    n->rate[n->rate_sec % HEALTH_RATE_WINDOW]++;
    if (n->strikes && ++n->good >= HEALTH_DECAY_RESULTS) {
        n->strikes--;
        n->good = 0;
    }
}

bool health_usable(const hl_node *n, uint64_t now)
{
    (void)now;
    return n->connected && !n->quarantine_until;
}

size_t health_tick(health *h, uint64_t now)
{
    size_t released = 0;
    for (size_t i = 0; i < h->n;) {
        hl_node *n = h->v[i];
        if (n->quarantine_until && now >= n->quarantine_until) {
            n->quarantine_until = 0;
            n->strikes = 0;
            n->good = 0;
            released++;
            changed(h, n);
        }
        if (!n->connected && !n->quarantine_until && n->gone_at &&
            now - n->gone_at >= HEALTH_GONE_KEEP_MS) {
            assert(n->leased == 0);
            free(n);
            h->v[i] = h->v[--h->n];
            continue;
        }
        i++;
    }
    return released;
}

uint64_t health_next_wakeup(const health *h)
{
    uint64_t t = UINT64_MAX;
    for (size_t i = 0; i < h->n; i++) {
        const hl_node *n = h->v[i];
        if (n->quarantine_until && n->quarantine_until < t)
            t = n->quarantine_until;
        if (!n->connected && n->gone_at && n->gone_at + HEALTH_GONE_KEEP_MS < t)
            t = n->gone_at + HEALTH_GONE_KEEP_MS;
    }
    return t;
}

void health_info(const hl_node *n, uint64_t now, mesh_node_info *out)
{
    memset(out, 0, sizeof *out);
    out->peer = n->peer;
    snprintf(out->label, sizeof out->label, "%s", n->label);
    snprintf(out->agent, sizeof out->agent, "%s", n->agent);
    out->state = !n->connected         ? MESH_NODE_GONE
                 : n->quarantine_until ? MESH_NODE_QUARANTINED
                                       : MESH_NODE_HEALTHY;
    out->strikes = n->strikes;
    out->quarantines = n->quarantines;
    out->quarantine_left_ms = n->quarantine_until > now ? n->quarantine_until - now : 0;
    out->slots = n->slots;
    out->cores = n->cores;
    out->leased = n->leased;
    out->shards_done = n->shards_done;
    out->fuel_used = n->fuel_used;
    uint64_t sum = 0, sec = now / 1000;
    for (unsigned k = 0; k < HEALTH_RATE_WINDOW; k++)
        if (n->rate_sec >= k && sec - (n->rate_sec - k) < HEALTH_RATE_WINDOW)
            sum += n->rate[(n->rate_sec - k) % HEALTH_RATE_WINDOW];
    out->shards_per_s = (double)sum / HEALTH_RATE_WINDOW;
    out->battery = n->battery;
    out->charging = n->charging;
    out->last_seen_ms = now > n->last_seen ? now - n->last_seen : 0;
}
