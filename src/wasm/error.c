/* error.c — error values and their messages. */
#include <stdarg.h>
#include <stdio.h>

#include "runtime.h"

const char *wasm_trap_message(wasm_trap trap)
{
    switch (trap) {
    case WASM_TRAP_NONE:
        return "no trap";
    case WASM_TRAP_UNREACHABLE:
        return "unreachable";
    case WASM_TRAP_MEMORY_OOB:
        return "out of bounds memory access";
    case WASM_TRAP_TABLE_OOB:
        return "out of bounds table access";
    case WASM_TRAP_UNDEFINED_ELEMENT:
        return "undefined element";
    case WASM_TRAP_UNINITIALIZED:
        return "uninitialized element";
    case WASM_TRAP_INDIRECT_TYPE:
        return "indirect call type mismatch";
    case WASM_TRAP_DIV_ZERO:
        return "integer divide by zero";
    case WASM_TRAP_INT_OVERFLOW:
        return "integer overflow";
    case WASM_TRAP_INVALID_CONV:
        return "invalid conversion to integer";
    case WASM_TRAP_STACK_EXHAUSTED:
        return "call stack exhausted";
    case WASM_TRAP_OUT_OF_FUEL:
        return "out of fuel";
    case WASM_TRAP_HOST:
        return "host function failed";
    case WASM_TRAP_INTERRUPTED:
        return "interrupted";
    }
    return "unknown trap";
}

const char *wasm_status_name(wasm_status status)
{
    switch (status) {
    case WASM_OK:
        return "ok";
    case WASM_ERR_MALFORMED:
        return "malformed";
    case WASM_ERR_INVALID:
        return "invalid";
    case WASM_ERR_LINK:
        return "link error";
    case WASM_ERR_TRAP:
        return "trap";
    case WASM_ERR_LIMIT:
        return "limit exceeded";
    case WASM_ERR_NOMEM:
        return "out of memory";
    case WASM_ERR_ARG:
        return "bad argument";
    }
    return "unknown";
}

const char *wasm_valtype_name(wasm_valtype type)
{
    switch (type) {
    case WASM_I32:
        return "i32";
    case WASM_I64:
        return "i64";
    case WASM_F32:
        return "f32";
    case WASM_F64:
        return "f64";
    case WASM_FUNCREF:
        return "funcref";
    case WASM_EXTERNREF:
        return "externref";
    }
    return "?";
}

const char *wasm_extern_kind_name(wasm_extern_kind kind)
{
    switch (kind) {
    case WASM_EXTERN_FUNC:
        return "function";
    case WASM_EXTERN_TABLE:
        return "table";
    case WASM_EXTERN_MEMORY:
        return "memory";
    case WASM_EXTERN_GLOBAL:
        return "global";
    }
    return "?";
}

bool wasm_fail(wasm_error *err, wasm_status status, size_t offset, const char *fmt, ...)
{
    if (!err)
        return false;
    err->status = status;
    err->trap = WASM_TRAP_NONE;
    err->has_offset = status == WASM_ERR_MALFORMED || status == WASM_ERR_INVALID;
    err->offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return false;
}

wasm_status wasm_trap_set(wasm_error *err, wasm_trap trap)
{
    if (err) {
        err->status = WASM_ERR_TRAP;
        err->trap = trap;
        err->has_offset = false;
        err->offset = 0;
        snprintf(err->msg, sizeof err->msg, "%s", wasm_trap_message(trap));
    }
    return WASM_ERR_TRAP;
}
