/*
 * module.c — loading a module (decode, validate, compile), freeing it, and
 * the read-only accessors of wasm.h.
 */
#include <stdlib.h>
#include <string.h>

#include "module.h"

wasm_module *wasm_module_load(const uint8_t *bytes, size_t len, wasm_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
    wasm_module *m = calloc(1, sizeof *m);
    if (!m) {
        wasm_fail(err, WASM_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    if (!bytes && len) {
        wasm_fail(err, WASM_ERR_MALFORMED, 0, "unexpected end");
        free(m);
        return NULL;
    }
    if (!wasm_decode(m, bytes, len, err) || !wasm_validate(m, err) || !wasm_compile(m, err)) {
        wasm_module_free(m);
        return NULL;
    }
    return m;
}

void wasm_module_clear(wasm_module *m)
{
    if (!m)
        return;
    for (uint32_t i = 0; i < m->ntypes; i++)
        free(m->types[i].types);
    free(m->types);
    free(m->type_canon);
    for (uint32_t i = 0; i < m->nimports; i++) {
        free(m->imports[i].module);
        free(m->imports[i].name);
    }
    free(m->imports);
    for (uint32_t i = 0; i < m->nfuncs; i++) {
        free(m->funcs[i].local_types);
        if (m->funcs[i].code)
            wasm_code_free(m->funcs[i].code);
    }
    free(m->funcs);
    free(m->tables);
    free(m->mems);
    free(m->globals);
    for (uint32_t i = 0; i < m->nexports; i++)
        free(m->exports[i].name);
    free(m->exports);
    for (uint32_t i = 0; i < m->nelems; i++)
        free(m->elems[i].items);
    free(m->elems);
    free(m->datas);
    free(m->func_declared);
    free(m->bytes);
    memset(m, 0, sizeof *m);
}

void wasm_module_free(wasm_module *module)
{
    if (!module)
        return;
    wasm_module_clear(module);
    free(module);
}

uint32_t wasm_module_import_count(const wasm_module *module)
{
    return module ? module->nimports : 0;
}

uint32_t wasm_module_export_count(const wasm_module *module)
{
    return module ? module->nexports : 0;
}

void wasm_module_import_info(const wasm_module *module, uint32_t i, const char **module_name,
                             const char **name, wasm_extern_kind *kind)
{
    const wasm_import *im = module && i < module->nimports ? &module->imports[i] : NULL;
    if (module_name)
        *module_name = im ? im->module : NULL;
    if (name)
        *name = im ? im->name : NULL;
    if (kind)
        *kind = im ? im->kind : WASM_EXTERN_FUNC;
}

void wasm_module_export_info(const wasm_module *module, uint32_t i, const char **name,
                             wasm_extern_kind *kind)
{
    const wasm_export *ex = module && i < module->nexports ? &module->exports[i] : NULL;
    if (name)
        *name = ex ? ex->name : NULL;
    if (kind)
        *kind = ex ? ex->kind : WASM_EXTERN_FUNC;
}

const wasm_functype *wasm_module_export_functype(const wasm_module *module, const char *name)
{
    if (!module || !name)
        return NULL;
    size_t len = strlen(name);
    for (uint32_t i = 0; i < module->nexports; i++) {
        const wasm_export *ex = &module->exports[i];
        /* compare lengths too: a name with a NUL inside must not match its prefix */
        if (ex->kind != WASM_EXTERN_FUNC || ex->name_len != len || memcmp(ex->name, name, len))
            continue;
        if (ex->index >= module->nfuncs)
            return NULL;
        uint32_t t = module->funcs[ex->index].type;
        return t < module->ntypes ? &module->types[t] : NULL;
    }
    return NULL;
}

uint32_t wasm_functype_param_count(const wasm_functype *type)
{
    return type ? type->nparams : 0;
}

uint32_t wasm_functype_result_count(const wasm_functype *type)
{
    return type ? type->nresults : 0;
}

wasm_valtype wasm_functype_param(const wasm_functype *type, uint32_t i)
{
    if (!type || i >= type->nparams)
        return (wasm_valtype)0;
    return (wasm_valtype)type->types[i];
}

wasm_valtype wasm_functype_result(const wasm_functype *type, uint32_t i)
{
    if (!type || i >= type->nresults)
        return (wasm_valtype)0;
    return (wasm_valtype)type->types[type->nparams + i];
}

bool wasm_functype_equal(const wasm_functype *a, const wasm_functype *b)
{
    if (a == b)
        return true;
    if (a->nparams != b->nparams || a->nresults != b->nresults)
        return false;
    size_t n = (size_t)a->nparams + a->nresults;
    return n == 0 || memcmp(a->types, b->types, n) == 0;
}
