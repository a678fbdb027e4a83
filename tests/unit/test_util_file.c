#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "util.h"

static char dir[512];

/* Writes n bytes of data to a fresh file in the scratch dir; returns its path (static). */
static const char *make_file(const char *name, const void *data, size_t n)
{
    static char path[640];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0)
        return NULL;
    return path;
}

/* Makes stdin a pipe that yields n bytes of 'x' then EOF. */
static int stdin_from_pipe(size_t n)
{
    int fds[2];
    char chunk[256];
    memset(chunk, 'x', sizeof chunk);
    if (pipe(fds) != 0)
        return -1;
    while (n > 0) {
        size_t k = n < sizeof chunk ? n : sizeof chunk;
        if (write(fds[1], chunk, k) != (ssize_t)k)
            return -1;
        n -= k;
    }
    close(fds[1]);
    if (dup2(fds[0], STDIN_FILENO) < 0)
        return -1;
    close(fds[0]);
    return 0;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/swarm-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char err[256];
    uint8_t *data = NULL;
    size_t len = 0;

    const char *p = make_file("hello", "hello\0world", 11);
    CHECK(p != NULL);
    CHECK_EQ(util_read_file(p, 11, &data, &len, err, sizeof err), 0);
    CHECK_EQ(len, 11);
    CHECK_MEM_EQ(data, "hello\0world", 11);
    CHECK_EQ(data[11], 0); /* NUL after the data */
    free(data);

    /* one byte over the limit */
    CHECK_EQ(util_read_file(p, 10, &data, &len, err, sizeof err), -1);
    CHECK(data == NULL);
    CHECK(strstr(err, "limit of 10 bytes") != NULL);
    CHECK(strstr(err, p) != NULL);

    /* empty file: a valid, empty, NUL-terminated result */
    p = make_file("empty", "", 0);
    CHECK_EQ(util_read_file(p, 0, &data, &len, err, sizeof err), 0);
    CHECK_EQ(len, 0);
    CHECK(data != NULL && data[0] == 0);
    free(data);

    /* a larger file read in several chunks */
    size_t big = 200000;
    uint8_t *pattern = malloc(big);
    for (size_t i = 0; i < big; i++)
        pattern[i] = (uint8_t)(i * 7);
    p = make_file("big", pattern, big);
    CHECK_EQ(util_read_file(p, big, &data, &len, err, sizeof err), 0);
    CHECK_EQ(len, big);
    CHECK(data && memcmp(data, pattern, big) == 0);
    free(data);
    free(pattern);

    /* missing file, directory */
    char missing[640];
    snprintf(missing, sizeof missing, "%s/does-not-exist", dir);
    CHECK_EQ(util_read_file(missing, 100, &data, &len, err, sizeof err), -1);
    CHECK(strstr(err, "does-not-exist") != NULL);
    CHECK(data == NULL);
    CHECK_EQ(util_read_file(dir, 100, &data, &len, err, sizeof err), -1);
    CHECK(strstr(err, "directory") != NULL);

    /* "-" reads standard input; an oversized stream is caught while reading */
    CHECK_EQ(stdin_from_pipe(1000), 0);
    CHECK_EQ(util_read_file("-", 999, &data, &len, err, sizeof err), -1);
    CHECK(strstr(err, "limit of 999 bytes") != NULL);
    CHECK_EQ(stdin_from_pipe(1000), 0);
    CHECK_EQ(util_read_file("-", 1000, &data, &len, err, sizeof err), 0);
    CHECK_EQ(len, 1000);
    CHECK(data && data[0] == 'x' && data[999] == 'x');
    free(data);

    /* tiny error buffers are fine */
    CHECK_EQ(util_read_file(missing, 100, &data, &len, NULL, 0), -1);

    char path[640];
    const char *names[] = {"hello", "empty", "big"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    return CHECK_DONE();
}
