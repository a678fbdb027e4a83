/* pubsub_mcache.c - the message cache of gossipsub: the messages of the last mcache_len
 * heartbeats, by id, for IWANT answers; the ids of the newest mcache_gossip windows go out in
 * IHAVE. A window is an array of entries; the index by id owns them. */
#include "pubsub_internal.h"

#include <stdlib.h>
#include <string.h>

static void mcache_entry_free(void *value, void *user)
{
    (void)user;
    ps_cached *c = value;
    free(c->topic);
    free(c->frame);
    free(c->served);
    free(c);
}

int ps_mcache_init(ps_mcache *mc, unsigned len)
{
    memset(mc, 0, sizeof *mc);
    mc->len = len ? len : 1;
    mc->win = calloc(mc->len, sizeof *mc->win);
    mc->nwin = calloc(mc->len, sizeof *mc->nwin);
    mc->capwin = calloc(mc->len, sizeof *mc->capwin);
    ps_idmap_init(&mc->byid, 0);
    mc->byid.on_evict = mcache_entry_free;
    if (!mc->win || !mc->nwin || !mc->capwin) {
        ps_mcache_free(mc);
        return -1;
    }
    return 0;
}

void ps_mcache_free(ps_mcache *mc)
{
    ps_idmap_free(&mc->byid);
    if (mc->win)
        for (unsigned i = 0; i < mc->len; i++)
            free(mc->win[i]);
    free(mc->win);
    free(mc->nwin);
    free(mc->capwin);
    memset(mc, 0, sizeof *mc);
}

int ps_mcache_put(ps_mcache *mc, const ps_msg_id *id, const char *topic, const uint8_t *frame,
                  size_t framelen, uint64_t now)
{
    if (ps_idmap_has(&mc->byid, id->b, id->len))
        return 0;
    if (mc->nwin[0] == mc->capwin[0]) {
        size_t cap = mc->capwin[0] ? mc->capwin[0] * 2 : 64;
        ps_cached **w = realloc(mc->win[0], cap * sizeof *w);
        if (!w)
            return -1;
        mc->win[0] = w;
        mc->capwin[0] = cap;
    }
    ps_cached *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->id = *id;
    c->topic = strdup(topic);
    c->frame = malloc(framelen);
    if (!c->topic || !c->frame || ps_idmap_put(&mc->byid, id->b, id->len, c, now) != 1) {
        mcache_entry_free(c, NULL);
        return -1;
    }
    memcpy(c->frame, frame, framelen);
    c->framelen = framelen;
    mc->win[0][mc->nwin[0]++] = c;
    return 0;
}

ps_cached *ps_mcache_get(const ps_mcache *mc, const uint8_t *id, size_t len)
{
    return ps_idmap_get(&mc->byid, id, len, NULL);
}

unsigned ps_mcache_served(ps_cached *c, uint64_t serial)
{
    for (size_t i = 0; i < c->nserved; i++)
        if (c->served[i].serial == serial)
            return c->served[i].n++;
    void *grown = realloc(c->served, (c->nserved + 1) * sizeof *c->served);
    if (!grown)
        return PS_GOSSIP_RETRANSMIT; /* no memory to count: do not answer */
    c->served = grown;
    c->served[c->nserved].serial = serial;
    c->served[c->nserved].n = 1;
    c->nserved++;
    return 0;
}

size_t ps_mcache_gossip(const ps_mcache *mc, const char *topic, unsigned windows,
                        const ps_msg_id **out, size_t max)
{
    size_t k = 0;
    for (unsigned w = 0; w < windows && w < mc->len; w++)
        for (size_t i = 0; i < mc->nwin[w] && k < max; i++)
            if (strcmp(mc->win[w][i]->topic, topic) == 0)
                out[k++] = &mc->win[w][i]->id;
    return k;
}

void ps_mcache_shift(ps_mcache *mc)
{
    unsigned last = mc->len - 1;
    for (size_t i = 0; i < mc->nwin[last]; i++) {
        ps_cached *c = mc->win[last][i];
        ps_idmap_del(&mc->byid, c->id.b, c->id.len);
        mcache_entry_free(c, NULL);
    }
    ps_cached **oldest = mc->win[last];
    size_t cap = mc->capwin[last];
    memmove(mc->win + 1, mc->win, last * sizeof *mc->win);
    memmove(mc->nwin + 1, mc->nwin, last * sizeof *mc->nwin);
    memmove(mc->capwin + 1, mc->capwin, last * sizeof *mc->capwin);
    mc->win[0] = oldest; /* reuse its storage */
    mc->nwin[0] = 0;
    mc->capwin[0] = cap;
}
