/* pubsub_idmap.c - chained hash table plus an insertion-order list (see pubsub_idmap.h). The
 * hash is keyed with a random secret per map, so peers cannot choose ids that collide. */
#include "pubsub_idmap.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct ps_idnode {
    ps_idnode *chain;         /* next in the bucket */
    ps_idnode *older, *newer; /* insertion order */
    uint64_t hash, time;
    void *value;
    size_t len;
    uint8_t id[];
};

static uint64_t idmap_hash(const ps_idmap *m, const uint8_t *id, size_t len)
{
    uint8_t out[crypto_shorthash_BYTES];
    crypto_shorthash(out, id, len, m->key);
    uint64_t h;
    memcpy(&h, out, sizeof h);
    return h;
}

void ps_idmap_init(ps_idmap *m, size_t max)
{
    memset(m, 0, sizeof *m);
    m->max = max;
    randombytes_buf(m->key, sizeof m->key);
}

static ps_idnode **idmap_slot(const ps_idmap *m, uint64_t hash, const uint8_t *id, size_t len)
{
    ps_idnode **pp = &m->slots[hash & (m->nslots - 1)];
    while (*pp && !((*pp)->hash == hash && (*pp)->len == len && memcmp((*pp)->id, id, len) == 0))
        pp = &(*pp)->chain;
    return pp;
}

/* Unlinks n from its bucket and the order list and frees it; returns its value. */
static void *idmap_remove(ps_idmap *m, ps_idnode *n)
{
    ps_idnode **pp = idmap_slot(m, n->hash, n->id, n->len);
    *pp = n->chain;
    if (n->older)
        n->older->newer = n->newer;
    else
        m->oldest = n->newer;
    if (n->newer)
        n->newer->older = n->older;
    else
        m->newest = n->older;
    m->count--;
    void *v = n->value;
    free(n);
    return v;
}

static void idmap_evict(ps_idmap *m, ps_idnode *n)
{
    void *v = idmap_remove(m, n);
    if (m->on_evict)
        m->on_evict(v, m->evict_user);
}

void ps_idmap_free(ps_idmap *m)
{
    while (m->oldest)
        idmap_evict(m, m->oldest);
    free(m->slots);
    m->slots = NULL;
    m->nslots = 0;
}

void *ps_idmap_get(const ps_idmap *m, const uint8_t *id, size_t len, bool *found)
{
    ps_idnode *n = m->count ? *idmap_slot(m, idmap_hash(m, id, len), id, len) : NULL;
    if (found)
        *found = n != NULL;
    return n ? n->value : NULL;
}

bool ps_idmap_has(const ps_idmap *m, const uint8_t *id, size_t len)
{
    bool found;
    ps_idmap_get(m, id, len, &found);
    return found;
}

/* Doubles the buckets (or makes the first 64); -1 when out of memory. */
static int idmap_grow(ps_idmap *m)
{
    size_t ns = m->nslots ? m->nslots * 2 : 64;
    ps_idnode **slots = calloc(ns, sizeof *slots);
    if (!slots)
        return -1;
    for (ps_idnode *n = m->oldest; n; n = n->newer) {
        ps_idnode **pp = &slots[n->hash & (ns - 1)];
        n->chain = *pp;
        *pp = n;
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = ns;
    return 0;
}

int ps_idmap_put(ps_idmap *m, const uint8_t *id, size_t len, void *value, uint64_t now)
{
    if (m->count >= m->nslots && idmap_grow(m) != 0)
        return -1;
    uint64_t hash = idmap_hash(m, id, len);
    ps_idnode **pp = idmap_slot(m, hash, id, len);
    if (*pp)
        return 0;
    ps_idnode *n = malloc(sizeof *n + len);
    if (!n)
        return -1;
    n->chain = NULL;
    n->hash = hash;
    n->time = now;
    n->value = value;
    n->len = len;
    memcpy(n->id, id, len);
    *pp = n;
    n->older = m->newest;
    n->newer = NULL;
    if (m->newest)
        m->newest->newer = n;
    else
        m->oldest = n;
    m->newest = n;
    m->count++;
    if (m->max && m->count > m->max)
        idmap_evict(m, m->oldest);
    return 1;
}

void *ps_idmap_del(ps_idmap *m, const uint8_t *id, size_t len)
{
    if (!m->count)
        return NULL;
    ps_idnode *n = *idmap_slot(m, idmap_hash(m, id, len), id, len);
    return n ? idmap_remove(m, n) : NULL;
}

size_t ps_idmap_expire(ps_idmap *m, uint64_t before)
{
    size_t k = 0;
    while (m->oldest && m->oldest->time < before) {
        idmap_evict(m, m->oldest);
        k++;
    }
    return k;
}
