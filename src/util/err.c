#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void err_vset(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (!err || errlen == 0)
        return;
    if (vsnprintf(err, errlen, fmt, ap) < 0)
        err[0] = '\0';
}

int err_set(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int err_errno(char *err, size_t errlen, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, errlen, fmt, ap);
    va_end(ap);
    if (err && errlen > 0) {
        size_t used = strlen(err);
        snprintf(err + used, errlen - used, ": %s", strerror(errnum));
    }
    return -1;
}

int err_prefix(char *err, size_t errlen, const char *prefix)
{
    if (!err || errlen == 0)
        return -1;
    size_t plen = strlen(prefix) + 2; /* "prefix: " */
    size_t mlen = strlen(err);
    if (plen >= errlen) {
        snprintf(err, errlen, "%s", prefix);
        return -1;
    }
    if (mlen > errlen - 1 - plen)
        mlen = errlen - 1 - plen;
    memmove(err + plen, err, mlen);
    err[plen + mlen] = '\0';
    memcpy(err, prefix, plen - 2);
    err[plen - 2] = ':';
    err[plen - 1] = ' ';
    return -1;
}
