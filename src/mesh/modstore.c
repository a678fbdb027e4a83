/* modstore.c - modules held by the gateway (see modstore.h). */
#include "modstore.h"

#include <assert.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "wasm.h"

void modstore_init(modstore *m, size_t max_bytes)
{
    memset(m, 0, sizeof *m);
    m->max_bytes = max_bytes;
}

static void mod_free(ms_module *mod)
{
    free(mod->bytes);
    free(mod->exports);
    free(mod);
}

void modstore_free(modstore *m)
{
    for (size_t i = 0; i < m->n; i++) {
        assert(m->v[i]->refs == 0);
        mod_free(m->v[i]);
    }
    free(m->v);
    memset(m, 0, sizeof *m);
}

ms_module *modstore_get(modstore *m, const uint8_t hash[MESH_HASH_LEN])
{
    for (size_t i = 0; i < m->n; i++)
        if (memcmp(m->v[i]->hash, hash, MESH_HASH_LEN) == 0) {
            m->v[i]->used = ++m->clock;
            return m->v[i];
        }
    return NULL;
}

const mesh_export *modstore_export(const ms_module *mod, const char *name)
{
    for (size_t i = 0; i < mod->nexports; i++)
        if (strcmp(mod->exports[i].name, name) == 0)
            return &mod->exports[i];
    return NULL;
}

/* "i32" or "i64" for the two job ABIs, "" for any other signature. */
static const char *abi_of(const wasm_functype *t)
{
    if (!t || wasm_functype_param_count(t) != 2 || wasm_functype_result_count(t) != 1)
        return "";
    wasm_valtype a = wasm_functype_param(t, 0), b = wasm_functype_param(t, 1),
                 r = wasm_functype_result(t, 0);
    if (a != b || a != r)
        return "";
    return a == WASM_I32 ? "i32" : a == WASM_I64 ? "i64" : "";
}

/* Lists the exported functions of a loaded module. */
static int list_exports(const wasm_module *wm, ms_module *mod)
{
    uint32_t n = wasm_module_export_count(wm);
    mod->exports = calloc(n ? n : 1, sizeof *mod->exports);
    if (!mod->exports)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const char *name;
        wasm_extern_kind kind;
        wasm_module_export_info(wm, i, &name, &kind);
        if (kind != WASM_EXTERN_FUNC || strlen(name) >= MESH_ENTRY_MAX || !*name)
            continue; /* a name that long cannot be an entry point */
        mesh_export *e = &mod->exports[mod->nexports++];
        snprintf(e->name, sizeof e->name, "%s", name);
        snprintf(e->abi, sizeof e->abi, "%s", abi_of(wasm_module_export_functype(wm, name)));
    }
    return 0;
}

/* Evicts unreferenced modules, least recently used first, until need more bytes fit. */
static bool make_room(modstore *m, size_t need)
{
    while (m->max_bytes && m->bytes + need > m->max_bytes) {
        size_t victim = m->n;
        for (size_t i = 0; i < m->n; i++)
            if (!m->v[i]->refs && (victim == m->n || m->v[i]->used < m->v[victim]->used))
                victim = i;
        if (victim == m->n)
            return false;
        m->bytes -= m->v[victim]->len;
        mod_free(m->v[victim]);
        m->v[victim] = m->v[--m->n];
    }
    return true;
}

int modstore_add(modstore *m, const uint8_t *wasm, size_t len, ms_module **out, bool *invalid,
                 char *err, size_t errlen)
{
    *invalid = false;
    if (len > MESH_MODULE_MAX)
        return err_set(err, errlen, "module of %zu bytes is over the limit of %u", len,
                       MESH_MODULE_MAX);
    uint8_t hash[MESH_HASH_LEN];
    crypto_hash_sha256(hash, wasm, len);
    if ((*out = modstore_get(m, hash)))
        return 0;
    wasm_error we;
    wasm_module *wm = wasm_module_load(wasm, len, &we);
    if (!wm) {
        *invalid = we.status == WASM_ERR_MALFORMED || we.status == WASM_ERR_INVALID;
        if (we.has_offset)
            return err_set(err, errlen, "%s module at byte %zu: %s", wasm_status_name(we.status),
                           we.offset, we.msg);
        return err_set(err, errlen, "%s module: %s", wasm_status_name(we.status), we.msg);
    }
    ms_module *mod = calloc(1, sizeof *mod);
    int rc = 0;
    if (!mod || list_exports(wm, mod) < 0 || !(mod->bytes = malloc(len ? len : 1)))
        rc = err_set(err, errlen, "out of memory");
    wasm_module_free(wm);
    if (rc == 0 && !make_room(m, len))
        rc = err_set(err, errlen, "module store full (%zu bytes in modules in use)", m->bytes);
    if (rc == 0 && m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 8;
        ms_module **v = realloc(m->v, cap * sizeof *v);
        if (!v)
            rc = err_set(err, errlen, "out of memory");
        else {
            m->v = v;
            m->cap = cap;
        }
    }
    if (rc < 0) {
        if (mod)
            mod_free(mod);
        return -1;
    }
    memcpy(mod->bytes, wasm, len);
    memcpy(mod->hash, hash, sizeof hash);
    mod->len = len;
    mod->used = ++m->clock;
    m->v[m->n++] = mod;
    m->bytes += len;
    *out = mod;
    return 0;
}
