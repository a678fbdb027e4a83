/* test_mesh_modcache.c - the module cache on disk: put and get, modes, least-recently-used
 * eviction under the byte bound (also across a reopen), a corrupted file detected and
 * deleted, and two processes writing the same module at once leaving a good file. */
#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "modcache.h"

/* A fake module of n bytes, all seed, and its hash. */
static uint8_t *blob(size_t n, uint8_t seed, uint8_t hash[MESH_HASH_LEN])
{
    uint8_t *p = malloc(n);
    memset(p, seed, n);
    crypto_hash_sha256(hash, p, n);
    return p;
}

static int has(modcache *c, const uint8_t hash[MESH_HASH_LEN], size_t want_len)
{
    uint8_t *p = NULL;
    size_t n = 0;
    char err[256];
    int rc = modcache_get(c, hash, &p, &n, err, sizeof err);
    if (rc == 1 && n != want_len)
        rc = -2;
    free(p);
    return rc;
}

static void rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    char root[] = "/tmp/swarm-modcache-XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/modules", root);
    char err[256];
    modcache *c;
    CHECK_EQ(modcache_open(dir, 3000, &c, err, sizeof err), 0);
    struct stat st;
    CHECK_EQ(stat(dir, &st), 0);
    CHECK_EQ(st.st_mode & 0777, 0700);

    /* put and get */
    uint8_t ha[MESH_HASH_LEN], hb[MESH_HASH_LEN], hc[MESH_HASH_LEN], hd[MESH_HASH_LEN];
    uint8_t *a = blob(1000, 'a', ha), *b = blob(1000, 'b', hb), *cc = blob(1000, 'c', hc);
    uint8_t *d = blob(1500, 'd', hd);
    CHECK_EQ(has(c, ha, 1000), 0);
    CHECK_EQ(modcache_put(c, ha, a, 1000, err, sizeof err), 0);
    CHECK_EQ(has(c, ha, 1000), 1);
    uint8_t *got = NULL;
    size_t glen = 0;
    CHECK_EQ(modcache_get(c, ha, &got, &glen, err, sizeof err), 1);
    CHECK(glen == 1000 && memcmp(got, a, 1000) == 0);
    free(got);
    char path[700];
    char hex[65];
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", ha[i]);
    snprintf(path, sizeof path, "%s/%s.wasm", dir, hex);
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_mode & 0777, 0600);

    /* LRU: a, b, c fill 3000 bytes; using a then adding d (1500) evicts b and c, not a */
    CHECK_EQ(modcache_put(c, hb, b, 1000, err, sizeof err), 0);
    CHECK_EQ(modcache_put(c, hc, cc, 1000, err, sizeof err), 0);
    CHECK_EQ(modcache_bytes(c), 3000);
    CHECK_EQ(has(c, ha, 1000), 1);
    CHECK_EQ(modcache_put(c, hd, d, 1500, err, sizeof err), 0);
    CHECK_EQ(has(c, hb, 1000), 0);
    CHECK_EQ(has(c, hc, 1000), 0);
    CHECK_EQ(has(c, ha, 1000), 1);
    CHECK_EQ(has(c, hd, 1500), 1);
    CHECK_EQ(modcache_count(c), 2);
    CHECK_EQ(modcache_bytes(c), 2500);
    /* a module over the bound is not stored, and evicts nothing */
    uint8_t hbig[MESH_HASH_LEN];
    uint8_t *big = blob(4000, 'z', hbig);
    CHECK_EQ(modcache_put(c, hbig, big, 4000, err, sizeof err), 0);
    CHECK_EQ(has(c, hbig, 4000), 0);
    CHECK_EQ(modcache_count(c), 2);
    modcache_close(c);

    /* the use order survives a reopen: d was used last, so a smaller bound keeps d */
    usleep(20000);
    CHECK_EQ(modcache_open(dir, 3000, &c, err, sizeof err), 0);
    CHECK_EQ(modcache_count(c), 2);
    CHECK_EQ(has(c, hd, 1500), 1); /* d most recent now */
    modcache_close(c);
    CHECK_EQ(modcache_open(dir, 2000, &c, err, sizeof err), 0);
    CHECK_EQ(modcache_count(c), 1);
    CHECK_EQ(has(c, hd, 1500), 1);
    CHECK_EQ(has(c, ha, 1000), 0);

    /* a corrupted file is detected, reported and deleted */
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", hd[i]);
    snprintf(path, sizeof path, "%s/%s.wasm", dir, hex);
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 700, SEEK_SET);
        fputc('X', f);
        fclose(f);
    }
    CHECK_EQ(modcache_get(c, hd, &got, &glen, err, sizeof err), 0);
    CHECK(strstr(err, "does not match its hash") != NULL);
    CHECK(stat(path, &st) != 0);
    CHECK_EQ(modcache_count(c), 0);
    CHECK_EQ(modcache_bytes(c), 0);
    modcache_close(c);

    /* two processes writing the same module at once, many times: always a good file, and no
     * temporary file left behind */
    uint8_t hm[MESH_HASH_LEN];
    uint8_t *m = blob(1 << 20, 'm', hm);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            modcache *kc;
            char kerr[256];
            if (modcache_open(dir, 8u << 20, &kc, kerr, sizeof kerr) != 0)
                _exit(2);
            int bad = 0;
            for (int i = 0; i < 30; i++) {
                if (modcache_put(kc, hm, m, 1 << 20, kerr, sizeof kerr) != 0)
                    bad++;
                uint8_t *p = NULL;
                size_t n = 0;
                if (modcache_get(kc, hm, &p, &n, kerr, sizeof kerr) != 1 || n != (1u << 20))
                    bad++;
                free(p);
            }
            modcache_close(kc);
            _exit(bad ? 1 : 0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int status = -1;
        waitpid(kids[k], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK_EQ(modcache_open(dir, 8u << 20, &c, err, sizeof err), 0);
    CHECK_EQ(has(c, hm, 1 << 20), 1);
    CHECK_EQ(modcache_count(c), 1);
    modcache_close(c);
    DIR *dd = opendir(dir);
    int files = 0;
    struct dirent *de;
    while (dd && (de = readdir(dd)))
        if (de->d_name[0] != '.')
            files++;
    if (dd)
        closedir(dd);
    CHECK_EQ(files, 1);

    free(a);
    free(b);
    free(cc);
    free(d);
    free(big);
    free(m);
    rm_rf(dir);
    rmdir(root);
    return CHECK_DONE();
}
