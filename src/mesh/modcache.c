/* modcache.c - modules on disk by hash, bounded, least recently used first out (modcache.h).
 * The table in memory is a list ordered by use (front = most recent); the files are the truth
 * at open time, and another process may add or remove files meanwhile, which costs at most a
 * miss or a slightly wrong total until the next open. */
#include "modcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "hex.h"

typedef struct entry {
    uint8_t hash[MESH_HASH_LEN];
    size_t bytes;
    struct timespec used;
    struct entry *prev, *next;
} entry;

struct modcache {
    char *dir;
    size_t max_bytes, bytes, count;
    entry *head, *tail; /* most recently used first */
};

static void unlink_entry(modcache *c, entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(modcache *c, entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    else
        c->tail = e;
    c->head = e;
}

static entry *find(modcache *c, const uint8_t hash[MESH_HASH_LEN])
{
    for (entry *e = c->head; e; e = e->next)
        if (memcmp(e->hash, hash, MESH_HASH_LEN) == 0)
            return e;
    return NULL;
}

static void path_of(const modcache *c, const uint8_t hash[MESH_HASH_LEN], char *out, size_t cap)
{
    char hex[2 * MESH_HASH_LEN + 1];
    hex_encode(hash, MESH_HASH_LEN, hex);
    snprintf(out, cap, "%s/%s.wasm", c->dir, hex);
}

static void drop(modcache *c, entry *e, bool delete_file)
{
    if (delete_file) {
        char path[4096];
        path_of(c, e->hash, path, sizeof path);
        unlink(path);
    }
    unlink_entry(c, e);
    c->bytes -= e->bytes;
    c->count--;
    free(e);
}

static void evict(modcache *c, const entry *keep)
{
    entry *e = c->tail;
    while (c->bytes > c->max_bytes && e) {
        entry *prev = e->prev;
        if (e != keep)
            drop(c, e, true);
        e = prev;
    }
}

static bool older(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Inserts e in use order (by its time), for the scan at open. */
static void insert_by_time(modcache *c, entry *e)
{
    entry *at = c->head;
    while (at && older(&e->used, &at->used))
        at = at->next;
    if (!at) {
        e->prev = c->tail;
        e->next = NULL;
        if (c->tail)
            c->tail->next = e;
        else
            c->head = e;
        c->tail = e;
        return;
    }
    e->next = at;
    e->prev = at->prev;
    if (at->prev)
        at->prev->next = e;
    else
        c->head = e;
    at->prev = e;
}

int modcache_open(const char *dir, size_t max_bytes, modcache **out, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return err_errno(err, errlen, errno, "module cache %s", dir);
    DIR *d = opendir(dir);
    if (!d)
        return err_errno(err, errlen, errno, "module cache %s", dir);
    modcache *c = calloc(1, sizeof *c);
    if (!c || !(c->dir = strdup(dir))) {
        free(c);
        closedir(d);
        return err_set(err, errlen, "out of memory");
    }
    c->max_bytes = max_bytes;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        uint8_t hash[MESH_HASH_LEN];
        size_t hl;
        if (n != 2 * MESH_HASH_LEN + 5 || strcmp(de->d_name + 2 * MESH_HASH_LEN, ".wasm") != 0 ||
            hex_decode(de->d_name, 2 * MESH_HASH_LEN, hash, &hl, NULL, 0) != 0)
            continue; /* temporary files of a writer, or not ours */
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode))
            continue;
        entry *e = calloc(1, sizeof *e);
        if (!e)
            break;
        memcpy(e->hash, hash, sizeof hash);
        e->bytes = (size_t)st.st_size;
        e->used = st.st_mtim;
        insert_by_time(c, e);
        c->bytes += e->bytes;
        c->count++;
    }
    closedir(d);
    evict(c, NULL);
    *out = c;
    return 0;
}

void modcache_close(modcache *c)
{
    if (!c)
        return;
    while (c->head) {
        entry *e = c->head;
        c->head = e->next;
        free(e);
    }
    free(c->dir);
    free(c);
}

static void touch(modcache *c, entry *e)
{
    unlink_entry(c, e);
    push_front(c, e);
    clock_gettime(CLOCK_REALTIME, &e->used);
    char path[4096];
    path_of(c, e->hash, path, sizeof path);
    utimensat(AT_FDCWD, path, NULL, 0); /* the order for the next open; best effort */
}

int modcache_get(modcache *c, const uint8_t hash[MESH_HASH_LEN], uint8_t **out, size_t *len,
                 char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    char path[4096];
    path_of(c, hash, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    entry *e = find(c, hash);
    if (fd < 0) {
        if (e)
            drop(c, e, false); /* another process evicted it */
        if (errno == ENOENT)
            return 0;
        return err_errno(err, errlen, errno, "%s", path);
    }
    struct stat st;
    uint8_t *p = NULL;
    size_t n = 0;
    int rc = -1;
    if (fstat(fd, &st) != 0) {
        err_errno(err, errlen, errno, "%s", path);
        goto out;
    }
    if (st.st_size > (off_t)MESH_MODULE_MAX || !(p = malloc((size_t)st.st_size + 1))) {
        err_set(err, errlen, "%s: %s", path,
                st.st_size > (off_t)MESH_MODULE_MAX ? "too big" : "out of memory");
        goto out;
    }
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, p + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    uint8_t h[MESH_HASH_LEN];
    crypto_hash_sha256(h, p, n);
    if (n != (size_t)st.st_size || sodium_memcmp(h, hash, MESH_HASH_LEN) != 0) {
        /* corrupted (or truncated by something outside our protocol): never run it */
        err_set(err, errlen, "%s does not match its hash: deleted", path);
        unlink(path);
        if (e)
            drop(c, e, false);
        rc = 0;
        goto out;
    }
    if (!e) {
        /* written by another process since we opened */
        e = calloc(1, sizeof *e);
        if (e) {
            memcpy(e->hash, hash, MESH_HASH_LEN);
            e->bytes = n;
            push_front(c, e);
            c->bytes += n;
            c->count++;
        }
    }
    if (e)
        touch(c, e);
    *out = p;
    *len = n;
    p = NULL;
    rc = 1;
out:
    free(p);
    close(fd);
    return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int modcache_put(modcache *c, const uint8_t hash[MESH_HASH_LEN], const uint8_t *wasm, size_t len,
                 char *err, size_t errlen)
{
    if (len > c->max_bytes)
        return 0;
    char path[4096], tmp[4200];
    path_of(c, hash, path, sizeof path);
    uint32_t r = randombytes_random();
    snprintf(tmp, sizeof tmp, "%s.%ld.%08x.tmp", path, (long)getpid(), r);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_errno(err, errlen, errno, "%s", tmp);
    if (write_all(fd, wasm, len) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return err_errno(err, errlen, e, "writing %s", tmp);
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return err_errno(err, errlen, e, "renaming %s", tmp);
    }
    entry *e = find(c, hash);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e)
            return err_set(err, errlen, "out of memory");
        memcpy(e->hash, hash, MESH_HASH_LEN);
        push_front(c, e);
        c->count++;
    } else {
        c->bytes -= e->bytes;
    }
    e->bytes = len;
    c->bytes += len;
    touch(c, e);
    evict(c, e);
    return 0;
}

size_t modcache_count(const modcache *c)
{
    return c->count;
}

size_t modcache_bytes(const modcache *c)
{
    return c->bytes;
}
