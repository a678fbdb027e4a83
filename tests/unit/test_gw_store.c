/* test_gw_store.c - the job store on a real SQLite file: round trips of modules, jobs and
 * results, pagination, the per-worker breakdown, a clear error for a corrupt or unwritable
 * file, and a process killed (SIGKILL) in the middle of writing batches keeps every job and
 * every batch it committed, and no part of a batch it did not. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "store.h"
#include "util.h"

static char dir[] = "/tmp/test_gw_store.XXXXXX";
static char path[256];

static void peer(int n, p2p_peer_id *id)
{
    uint8_t pk[32] = {0};
    pk[0] = (uint8_t)n;
    p2p_peer_id_from_pubkey(pk, id);
}

static mesh_job_info job(uint8_t n, uint64_t created)
{
    mesh_job_info j;
    memset(&j, 0, sizeof j);
    memset(j.id.b, n, sizeof j.id.b);
    memset(j.spec.module, 0xab, MESH_HASH_LEN);
    strcpy(j.spec.entry, "execute");
    j.spec.abi64 = true;
    j.spec.start = INT64_MIN;
    j.spec.end = INT64_MAX;
    j.spec.shards = 1000;
    j.spec.reduce = MESH_REDUCE_MAX;
    j.spec.deadline_ms = 5000;
    j.spec.fuel = UINT64_MAX / 2;
    j.spec.max_pages = 16;
    j.status = MESH_JOB_RUNNING;
    j.created_ms = created;
    j.total = 1000;
    return j;
}

static void test_round_trip(void)
{
    gw_store *s;
    char err[256];
    CHECK_EQ(gw_store_open(path, &s, err, sizeof err), 0);

    uint8_t hash[MESH_HASH_LEN] = {1, 2, 3}, *wasm;
    size_t len;
    CHECK_EQ(gw_store_put_module(s, hash, (const uint8_t *)"\0asm\1\0\0\0", 8, err, sizeof err), 0);
    CHECK_EQ(gw_store_put_module(s, hash, (const uint8_t *)"\0asm\1\0\0\0", 8, err, sizeof err), 0);
    CHECK_EQ(gw_store_get_module(s, hash, &wasm, &len, err, sizeof err), 1);
    CHECK_EQ(len, 8);
    CHECK(wasm && memcmp(wasm, "\0asm", 4) == 0);
    free(wasm);
    hash[0] = 9;
    CHECK_EQ(gw_store_get_module(s, hash, &wasm, &len, err, sizeof err), 0);

    mesh_job_info a = job(1, 1000), b = job(2, 2000), c = job(3, 2000);
    CHECK_EQ(gw_store_put_job(s, &a, err, sizeof err), 0);
    CHECK_EQ(gw_store_put_job(s, &b, err, sizeof err), 0);
    CHECK_EQ(gw_store_put_job(s, &c, err, sizeof err), 0);
    CHECK_EQ(gw_store_put_job(s, &c, err, sizeof err), -1); /* ids are unique */
    CHECK(strstr(err, "saving a job") != NULL);

    /* results, one trapped, a duplicate of shard 0 that must not replace the first */
    p2p_peer_id w1, w2;
    peer(1, &w1);
    peer(2, &w2);
    for (uint32_t i = 0; i < 10; i++) {
        mesh_shard_info r = {.state = MESH_SHARD_DONE,
                             .lo = i,
                             .hi = i + 1,
                             .value = INT64_MAX - i,
                             .worker = i < 7 ? w1 : w2,
                             .fuel_used = 100,
                             .elapsed_us = 7};
        if (i == 4) {
            r.state = MESH_SHARD_TRAPPED;
            r.error = "out of fuel";
        }
        CHECK_EQ(gw_store_add_result(s, &a.id, i, &r, err, sizeof err), 0);
    }
    mesh_shard_info dup = {.state = MESH_SHARD_DONE, .value = 5, .worker = w2};
    CHECK_EQ(gw_store_add_result(s, &a.id, 0, &dup, err, sizeof err), 0);
    gw_store_stats st;
    gw_store_get_stats(s, &st);
    CHECK_EQ(st.pending, 11);

    a.status = MESH_JOB_FAILED;
    a.value = INT64_MIN;
    a.has_value = true;
    a.done = 9;
    a.trapped = 1;
    a.missing = 990;
    a.duplicates = 1;
    a.retries = 3;
    a.elapsed_ms = 4321;
    CHECK_EQ(gw_store_end_job(s, &a, 5321, err, sizeof err), 0);
    gw_store_get_stats(s, &st);
    CHECK_EQ(st.pending, 0);
    CHECK_EQ(st.rows, 11);
    CHECK(st.commits >= 5);

    gw_store_close(s);
    CHECK_EQ(gw_store_open(path, &s, err, sizeof err), 0);

    gw_job_row row;
    CHECK_EQ(gw_store_get_job(s, &a.id, &row, err, sizeof err), 1);
    CHECK_EQ(row.info.status, MESH_JOB_FAILED);
    CHECK(row.info.value == INT64_MIN);
    CHECK(row.info.has_value);
    CHECK(row.info.spec.start == INT64_MIN);
    CHECK(row.info.spec.end == INT64_MAX);
    CHECK(row.info.spec.fuel == UINT64_MAX / 2);
    CHECK_EQ(row.info.spec.reduce, MESH_REDUCE_MAX);
    CHECK(row.info.spec.abi64);
    CHECK_STR_EQ(row.info.spec.entry, "execute");
    CHECK_EQ(row.info.spec.module[5], 0xab);
    CHECK_EQ(row.info.done, 9);
    CHECK_EQ(row.info.trapped, 1);
    CHECK_EQ(row.info.missing, 990);
    CHECK_EQ(row.info.total, 1000);
    CHECK_EQ(row.info.retries, 3);
    CHECK_EQ(row.info.elapsed_ms, 4321);
    CHECK_EQ(row.ended_ms, 5321);
    mesh_job_id unknown;
    memset(unknown.b, 0x77, sizeof unknown.b);
    CHECK_EQ(gw_store_get_job(s, &unknown, &row, err, sizeof err), 0);

    gw_store_cursor *cur;
    CHECK_EQ(gw_store_results(s, &a.id, &cur, err, sizeof err), 0);
    uint32_t shard, n = 0;
    mesh_shard_info r;
    int rc;
    while ((rc = gw_store_next(cur, &shard, &r, err, sizeof err)) == 1) {
        CHECK_EQ(shard, n);
        CHECK(r.value == INT64_MAX - (int64_t)n); /* shard 0 keeps its first value */
        CHECK_EQ(r.lo, n);
        CHECK(p2p_peer_id_eq(&r.worker, n < 7 ? &w1 : &w2));
        if (n == 4) {
            CHECK_EQ(r.state, MESH_SHARD_TRAPPED);
            CHECK_STR_EQ(r.error, "out of fuel");
        } else {
            CHECK_EQ(r.state, MESH_SHARD_DONE);
            CHECK(r.error == NULL);
        }
        n++;
    }
    CHECK_EQ(rc, 0);
    CHECK_EQ(n, 10);
    gw_store_cursor_free(cur);

    mesh_job_worker ws[4];
    CHECK_EQ(gw_store_job_workers(s, &a.id, ws, 4, err, sizeof err), 2);
    CHECK(p2p_peer_id_eq(&ws[0].peer, &w1));
    CHECK_EQ(ws[0].shards, 6); /* 7 minus the trapped one */
    CHECK_EQ(ws[0].fuel_used, 600);
    CHECK_EQ(ws[1].shards, 3);

    /* recent first: c and b share a created time, the id breaks the tie */
    gw_job_row rows[4];
    CHECK_EQ(gw_store_list_jobs(s, NULL, rows, 4, err, sizeof err), 3);
    CHECK_EQ(rows[0].info.id.b[0], 3);
    CHECK_EQ(rows[1].info.id.b[0], 2);
    CHECK_EQ(rows[2].info.id.b[0], 1);
    CHECK_EQ(gw_store_list_jobs(s, NULL, rows, 2, err, sizeof err), 2);
    CHECK_EQ(gw_store_list_jobs(s, &rows[1].info.id, rows, 4, err, sizeof err), 1);
    CHECK_EQ(rows[0].info.id.b[0], 1);
    CHECK_EQ(gw_store_list_jobs(s, &unknown, rows, 4, err, sizeof err), 0);

    gw_store_close(s);
}

static int count_running(const gw_job_row *j, void *user)
{
    (void)j;
    (*(int *)user)++;
    return 0;
}

static int refuse(const gw_job_row *j, void *user)
{
    (void)j;
    (void)user;
    return -1;
}

static void test_running(void)
{
    gw_store *s;
    char err[256];
    CHECK_EQ(gw_store_open(path, &s, err, sizeof err), 0);
    int n = 0;
    CHECK_EQ(gw_store_each_running(s, count_running, &n, err, sizeof err), 0);
    CHECK_EQ(n, 2); /* b and c; a ended */
    CHECK_EQ(gw_store_each_running(s, refuse, NULL, err, sizeof err), -1);
    gw_store_close(s);
}

static void test_bad_files(void)
{
    char bad[300], err[256];
    gw_store *s;
    snprintf(bad, sizeof bad, "%s/garbage.db", dir);
    FILE *f = fopen(bad, "w");
    CHECK(f != NULL);
    for (int i = 0; i < 4096; i++)
        fputc("not sqlite"[i % 10], f);
    fclose(f);
    CHECK_EQ(gw_store_open(bad, &s, err, sizeof err), -1);
    CHECK(strstr(err, bad) != NULL);
    CHECK(strstr(err, "not a") != NULL || strstr(err, "damaged") != NULL);

    /* a real store whose pages were overwritten in the middle */
    snprintf(bad, sizeof bad, "%s/damaged.db", dir);
    CHECK_EQ(gw_store_open(bad, &s, err, sizeof err), 0);
    for (uint8_t i = 1; i < 200; i++) {
        mesh_job_info j = job(i, i);
        gw_store_put_job(s, &j, err, sizeof err);
    }
    gw_store_close(s);
    int fd = open(bad, O_WRONLY);
    CHECK(fd >= 0);
    char junk[4096];
    memset(junk, 0x5a, sizeof junk);
    CHECK_EQ(pwrite(fd, junk, sizeof junk, 4096), (ssize_t)sizeof junk);
    close(fd);
    CHECK_EQ(gw_store_open(bad, &s, err, sizeof err), -1);
    CHECK(strstr(err, bad) != NULL);

    snprintf(bad, sizeof bad, "%s/no/such/dir/gateway.db", dir);
    CHECK_EQ(gw_store_open(bad, &s, err, sizeof err), -1);
    CHECK(strstr(err, "cannot open") != NULL);

    if (geteuid() != 0) { /* root writes anywhere */
        snprintf(bad, sizeof bad, "%s/ro", dir);
        mkdir(bad, 0500);
        snprintf(bad, sizeof bad, "%s/ro/gateway.db", dir);
        CHECK_EQ(gw_store_open(bad, &s, err, sizeof err), -1);
        CHECK(strstr(err, bad) != NULL);
    }
}

/* The child writes jobs, each followed by batches of 100 results, and tells the parent over a
 * pipe after each commit; the parent kills it while it writes. */
static void child(int fd, const char *p)
{
    gw_store *s;
    char err[256];
    if (gw_store_open(p, &s, err, sizeof err) < 0)
        _exit(1);
    for (uint8_t j = 1;; j++) {
        mesh_job_info info = job(j, j);
        if (gw_store_put_job(s, &info, err, sizeof err) < 0)
            _exit(2);
        if (write(fd, &j, 1) != 1)
            _exit(3);
        for (uint32_t b = 0; b < 5; b++) {
            for (uint32_t i = 0; i < 100; i++) {
                mesh_shard_info r = {.state = MESH_SHARD_DONE, .value = i};
                gw_store_add_result(s, &info.id, b * 100 + i, &r, err, sizeof err);
            }
            if (gw_store_flush(s, err, sizeof err) < 0)
                _exit(4);
        }
    }
}

static void test_kill_mid_batch(void)
{
    char p[300], err[256];
    snprintf(p, sizeof p, "%s/killed.db", dir);
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child(fds[1], p);
    }
    close(fds[1]);
    uint8_t last = 0, j;
    /* let it commit a few jobs and batches, then kill it wherever it is */
    while (last < 20 && read(fds[0], &j, 1) == 1)
        last = j;
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status));
    while (read(fds[0], &j, 1) == 1)
        last = j;
    close(fds[0]);

    gw_store *s;
    CHECK_EQ(gw_store_open(p, &s, err, sizeof err), 0);
    for (uint8_t i = 1; i <= last; i++) {
        mesh_job_info info = job(i, i);
        gw_job_row row;
        CHECK_EQ(gw_store_get_job(s, &info.id, &row, err, sizeof err), 1);
        gw_store_cursor *c;
        CHECK_EQ(gw_store_results(s, &info.id, &c, err, sizeof err), 0);
        uint32_t shard, n = 0;
        mesh_shard_info r;
        while (gw_store_next(c, &shard, &r, err, sizeof err) == 1)
            n++;
        gw_store_cursor_free(c);
        /* batches are whole: the jobs before the last have all five */
        CHECK_EQ(n % 100, 0);
        if (i < last)
            CHECK_EQ(n, 500);
    }
    gw_store_close(s);
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/gateway.db", dir);
    test_round_trip();
    test_running();
    test_bad_files();
    test_kill_mid_batch();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "chmod -R u+w %s; rm -rf %s", dir, dir);
    CHECK_EQ(system(cmd), 0);
    return CHECK_DONE();
}
