#define _POSIX_C_SOURCE 200809L
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"

static int read_fd(int fd, const char *path, size_t max, buf_t *b, char *err, size_t errlen)
{
    for (;;) {
        /* read one byte past max so an oversized stream is detected, not silently cut */
        size_t room = max - b->len + 1;
        size_t chunk = room < 65536 ? room : 65536;
        if (buf_reserve(b, chunk) != 0)
            return err_set(err, errlen, "%s: out of memory", path);
        ssize_t n = read(fd, b->data + b->len, chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_errno(err, errlen, errno, "%s", path);
        if (n == 0)
            return 0;
        b->len += (size_t)n;
        if (b->len > max)
            return err_set(err, errlen, "%s: larger than the limit of %zu bytes", path, max);
    }
}

int util_read_file(const char *path, size_t max, uint8_t **out, size_t *len, char *err,
                   size_t errlen)
{
    *out = NULL;
    *len = 0;
    if (max >= SIZE_MAX - 1)
        max = SIZE_MAX - 2;
    int is_stdin = path[0] == '-' && path[1] == '\0';
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errlen, errno, "%s", path);
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = err_errno(err, errlen, errno, "%s", path);
    } else if (S_ISDIR(st.st_mode)) {
        rc = err_set(err, errlen, "%s: is a directory", path);
    } else if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > max) {
        rc = err_set(err, errlen, "%s: %jd bytes, larger than the limit of %zu bytes", path,
                     (intmax_t)st.st_size, max);
    }
    buf_t b;
    buf_init(&b, 0);
    if (rc == 0)
        rc = read_fd(fd, path, max, &b, err, errlen);
    if (!is_stdin)
        close(fd);
    if (rc == 0 && !buf_cstr(&b))
        rc = err_set(err, errlen, "%s: out of memory", path);
    if (rc != 0) {
        buf_free(&b);
        return -1;
    }
    *out = buf_steal(&b, len);
    return 0;
}
