/* file.h - whole-file reading with a size bound. */
#ifndef SWARM_UTIL_FILE_H
#define SWARM_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Reads all of `path` ("-" means standard input) if it holds at most `max` bytes. On success
 * returns 0, sets *out to a malloc'd copy (the caller frees it; a NUL follows the data, not
 * counted in *len) and *len. On failure returns -1, sets *out to NULL and writes a message
 * naming the path into err. */
int util_read_file(const char *path, size_t max, uint8_t **out, size_t *len, char *err,
                   size_t errlen);

#endif
