/* pubsub_idmap.h - a map from message ids to a value and the time they were added, kept in
 * insertion order so that the oldest entries expire first. It holds the seen cache, the message
 * cache's index and each peer's IDONTWANT list. Sans-IO: times are whatever the caller passes. */
#ifndef SWARM_P2P_PUBSUB_IDMAP_H
#define SWARM_P2P_PUBSUB_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ps_idnode ps_idnode;

typedef struct {
    ps_idnode **slots; /* buckets; nslots is a power of two (0 while empty) */
    size_t nslots;
    size_t count;
    size_t max;                 /* most entries; adding one more evicts the oldest (0: no bound) */
    ps_idnode *oldest, *newest; /* insertion order */
    void (*on_evict)(void *value, void *user); /* called for values evicted by the bound, by
                                                  ps_idmap_expire and by ps_idmap_free */
    void *evict_user;
    uint8_t key[16]; /* the hash's secret (SipHash), random per map */
} ps_idmap;

/* Makes m empty, with at most max entries (0 = unbounded). */
void ps_idmap_init(ps_idmap *m, size_t max);

/* Frees every entry (on_evict runs for each) and the buckets. */
void ps_idmap_free(ps_idmap *m);

/* The entry's value, or NULL if id is absent; *found (may be NULL) says whether it is there
 * (a value may be NULL). */
void *ps_idmap_get(const ps_idmap *m, const uint8_t *id, size_t len, bool *found);

/* True if id is in the map. */
bool ps_idmap_has(const ps_idmap *m, const uint8_t *id, size_t len);

/* Adds id with value at time now (newest). Returns 1 if added, 0 if id was there already (then
 * nothing changes), -1 when out of memory. */
int ps_idmap_put(ps_idmap *m, const uint8_t *id, size_t len, void *value, uint64_t now);

/* Removes id and returns its value (NULL if absent); on_evict does not run. */
void *ps_idmap_del(ps_idmap *m, const uint8_t *id, size_t len);

/* Removes every entry added before `before` (on_evict runs for each); returns how many. */
size_t ps_idmap_expire(ps_idmap *m, uint64_t before);

#endif
