/* modstore.h - the modules a gateway holds for its workers to fetch (internal to src/mesh).
 *
 * Modules by SHA-256: the bytes (validated by wasm_module_load when added), and their exported
 * functions with the job ABI each one fits. A module in use (a running job, a transfer in
 * progress) is referenced and never evicted; the others go least recently used first when the
 * store would pass its byte budget. */
#ifndef SWARM_MESH_MODSTORE_H
#define SWARM_MESH_MODSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh.h"

typedef struct {
    uint8_t hash[MESH_HASH_LEN];
    uint8_t *bytes; /* owned */
    size_t len;
    mesh_export *exports; /* functions only; owned */
    size_t nexports;
    unsigned refs;
    uint64_t used; /* a counter: higher is more recent */
} ms_module;

typedef struct {
    ms_module **v;
    size_t n, cap;
    size_t bytes, max_bytes;
    uint64_t clock;
} modstore;

void modstore_init(modstore *m, size_t max_bytes);

/* Frees every module (refs must be 0). */
void modstore_free(modstore *m);

/* Validates and adds a module (or finds it, if held). Evicts unreferenced modules to make
 * room. -1 with a message: invalid module (*invalid set), too big, store full, no memory. */
int modstore_add(modstore *m, const uint8_t *wasm, size_t len, ms_module **out, bool *invalid,
                 char *err, size_t errlen);

/* The module with hash (marked as recently used), or NULL. */
ms_module *modstore_get(modstore *m, const uint8_t hash[MESH_HASH_LEN]);

/* The exported function called `name`, or NULL. */
const mesh_export *modstore_export(const ms_module *mod, const char *name);

#endif
