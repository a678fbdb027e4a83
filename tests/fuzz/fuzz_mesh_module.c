/* libFuzzer target: the /swarm/module/1.0.0 decoders (src/mesh/wire.c). The first byte picks a
 * request or a response; the rest is the frame body. An accepted response either carries bytes
 * whose SHA-256 is its hash or an error string; an accepted request a 32-byte hash. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char err[256] = "";
    if (data[0] & 1) {
        Swarm__Module__ModuleRequest *m =
            wire_decode_module_request(data + 1, size - 1, err, sizeof err);
        if (!m) {
            if (!err[0])
                abort();
            return 0;
        }
        if (m->hash.len != MESH_HASH_LEN)
            abort();
        swarm__module__module_request__free_unpacked(m, NULL);
        return 0;
    }
    Swarm__Module__ModuleResponse *m =
        wire_decode_module_response(data + 1, size - 1, err, sizeof err);
    if (!m) {
        if (!err[0])
            abort();
        return 0;
    }
    if (m->hash.len != MESH_HASH_LEN)
        abort();
    if (m->has_wasm) {
        uint8_t h[crypto_hash_sha256_BYTES];
        crypto_hash_sha256(h, m->wasm.data, m->wasm.len);
        if (memcmp(h, m->hash.data, sizeof h) != 0 || m->wasm.len > MESH_MODULE_MAX)
            abort();
    } else if (!m->error || !m->error[0]) {
        abort();
    }
    swarm__module__module_response__free_unpacked(m, NULL);
    return 0;
}
