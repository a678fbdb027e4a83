/* modcache.h - the worker's module cache on disk (internal to src/mesh).
 *
 * Modules by SHA-256 in <dir>/<hex>.wasm (dir 0700, files 0600). A module is written to a
 * temporary file and renamed into place, so readers and other processes writing the same
 * module never see half a file; every read is checked against the hash and a file that does
 * not match is deleted. The total size is bounded: putting a module evicts the least recently
 * used ones (use order survives restarts through the files' modification times). */
#ifndef SWARM_MESH_MODCACHE_H
#define SWARM_MESH_MODCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "mesh.h"

typedef struct modcache modcache;

/* Opens (creating it 0700) the cache folder, reads what it holds, and evicts down to
 * max_bytes. Returns 0 or -1 with a message; *out is freed by modcache_close. */
int modcache_open(const char *dir, size_t max_bytes, modcache **out, char *err, size_t errlen);

void modcache_close(modcache *c);

/* Reads a module: returns 1 with *out (malloc'd, the caller frees) and *len, 0 when the
 * cache does not hold it (a file that fails the hash check is deleted and counts as absent;
 * err then says so), -1 with a message for an I/O error. Marks the module most recently
 * used. */
int modcache_get(modcache *c, const uint8_t hash[MESH_HASH_LEN], uint8_t **out, size_t *len,
                 char *err, size_t errlen);

/* Stores a module whose SHA-256 the caller has checked is hash, then evicts least recently
 * used modules (never this one) until the total is within the bound; a module larger than
 * the bound is not stored. Returns 0 or -1 with a message. */
int modcache_put(modcache *c, const uint8_t hash[MESH_HASH_LEN], const uint8_t *wasm, size_t len,
                 char *err, size_t errlen);

/* Modules and bytes held. */
size_t modcache_count(const modcache *c);
size_t modcache_bytes(const modcache *c);

#endif
