/* err.h - format error messages into caller-supplied buffers.
 *
 * Convention across Swarm: a function that can fail returns 0 on success and -1 (or another
 * negative code) on failure, and writes a human-readable message into `char *err, size_t errlen`
 * supplied by the caller. Nothing is allocated; messages are truncated to fit. */
#ifndef SWARM_UTIL_ERR_H
#define SWARM_UTIL_ERR_H

#include <stddef.h>

#if defined(__GNUC__)
#define ERR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ERR_PRINTF(f, a)
#endif

/* Writes the formatted message into err[0..errlen) (truncated, always NUL-terminated when
 * errlen > 0; err may be NULL). Always returns -1 so callers can `return err_set(...)`. */
int err_set(char *err, size_t errlen, const char *fmt, ...) ERR_PRINTF(3, 4);

/* Like err_set, then appends ": <strerror(errnum)>". Returns -1. */
int err_errno(char *err, size_t errlen, int errnum, const char *fmt, ...) ERR_PRINTF(4, 5);

/* Prepends "<prefix>: " to the message already in err (truncating the tail). Returns -1. */
int err_prefix(char *err, size_t errlen, const char *prefix);

#endif
