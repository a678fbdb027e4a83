/* store.c - the SQLite job store of store.h. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "util.h"

/* The schema; user_version tells a store of ours from another SQLite file. */
#define STORE_VERSION 1
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS modules(hash BLOB PRIMARY KEY, bytes BLOB NOT NULL,"
    " added INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS jobs(id TEXT PRIMARY KEY, module BLOB NOT NULL,"
    " entry TEXT NOT NULL, abi64 INTEGER NOT NULL, start INTEGER NOT NULL,"
    " stop INTEGER NOT NULL, shards INTEGER NOT NULL, reduce TEXT NOT NULL,"
    " deadline_ms INTEGER NOT NULL, fuel INTEGER NOT NULL, max_pages INTEGER NOT NULL,"
    " created INTEGER NOT NULL, status TEXT NOT NULL, value INTEGER NOT NULL,"
    " has_value INTEGER NOT NULL, ended INTEGER NOT NULL, elapsed_ms INTEGER NOT NULL,"
    " done INTEGER NOT NULL, trapped INTEGER NOT NULL, missing INTEGER NOT NULL,"
    " duplicates INTEGER NOT NULL, retries INTEGER NOT NULL, dropped INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS jobs_recent ON jobs(created, id);"
    "CREATE TABLE IF NOT EXISTS results(job TEXT NOT NULL, shard INTEGER NOT NULL,"
    " lo INTEGER NOT NULL, hi INTEGER NOT NULL, state TEXT NOT NULL, value INTEGER NOT NULL,"
    " error TEXT, worker TEXT NOT NULL, fuel INTEGER NOT NULL, elapsed_us INTEGER NOT NULL,"
    " PRIMARY KEY(job, shard)) WITHOUT ROWID;";

#define JOB_COLS                                                                           \
    "id, module, entry, abi64, start, stop, shards, reduce, deadline_ms, fuel, max_pages," \
    " created, status, value, has_value, ended, elapsed_ms, done, trapped, missing,"       \
    " duplicates, retries, dropped"

/* The statements the store runs often, prepared once. */
enum {
    ST_PUT_MODULE,
    ST_GET_MODULE,
    ST_PUT_JOB,
    ST_END_JOB,
    ST_GET_JOB,
    ST_LIST,
    ST_LIST_BEFORE,
    ST_RUNNING,
    ST_PUT_RESULT,
    ST_RESULTS,
    ST_WORKERS,
    ST_COUNT
};

static const char *const sql[ST_COUNT] = {
    [ST_PUT_MODULE] = "INSERT OR IGNORE INTO modules(hash, bytes, added) VALUES(?, ?, ?)",
    [ST_GET_MODULE] = "SELECT bytes FROM modules WHERE hash = ?",
    [ST_PUT_JOB] = "INSERT INTO jobs(" JOB_COLS ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                   " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_END_JOB] = "UPDATE jobs SET status = ?2, value = ?3, has_value = ?4, ended = ?5,"
                   " elapsed_ms = ?6, done = ?7, trapped = ?8, missing = ?9, duplicates = ?10,"
                   " retries = ?11, dropped = ?12 WHERE id = ?1",
    [ST_GET_JOB] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?",
    [ST_LIST] = "SELECT " JOB_COLS " FROM jobs ORDER BY created DESC, id DESC LIMIT ?",
    [ST_LIST_BEFORE] = "SELECT " JOB_COLS " FROM jobs WHERE (created, id) <"
                       " (SELECT created, id FROM jobs WHERE id = ?1)"
                       " ORDER BY created DESC, id DESC LIMIT ?2",
    [ST_RUNNING] = "SELECT " JOB_COLS " FROM jobs WHERE status = 'running' ORDER BY created, id",
    [ST_PUT_RESULT] = "INSERT OR IGNORE INTO results(job, shard, lo, hi, state, value, error,"
                      " worker, fuel, elapsed_us) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_RESULTS] = "SELECT shard, lo, hi, state, value, error, worker, fuel, elapsed_us"
                   " FROM results WHERE job = ? ORDER BY shard",
    [ST_WORKERS] = "SELECT worker, count(*), sum(fuel), sum(elapsed_us) FROM results"
                   " WHERE job = ? AND state = 'done' GROUP BY worker"
                   " ORDER BY count(*) DESC, worker",
};

/* A result waiting for the next flush. */
typedef struct {
    mesh_job_id job;
    uint32_t shard;
    mesh_shard_info r;
    char *error; /* owned copy of r.error */
} pending;

struct gw_store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *st[ST_COUNT];
    pending *queue;
    size_t nqueue, capqueue;
    gw_store_stats stats;
};

struct gw_store_cursor {
    gw_store *s;
    sqlite3_stmt *st; /* the store's ST_RESULTS, reset on free */
    char error[512];
};

static int db_error(gw_store *s, char *err, size_t errlen, const char *what)
{
    return err_set(err, errlen, "job store %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static int exec(gw_store *s, const char *q, char *err, size_t errlen)
{
    if (sqlite3_exec(s->db, q, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(s, err, errlen, q);
    return 0;
}

int gw_store_open(const char *path, gw_store **out, char *err, size_t errlen)
{
    *out = NULL;
    gw_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return err_set(err, errlen, "job store: out of memory");
    }
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        if (s->db)
            db_error(s, err, errlen, "cannot open");
        else
            err_set(err, errlen, "job store %s: cannot open: out of memory", path);
        gw_store_close(s);
        return -1;
    }
    sqlite3_busy_timeout(s->db, 2000);
    sqlite3_extended_result_codes(s->db, 1);
    /* quick_check reads every page: a damaged file is refused here rather than mid-job */
    sqlite3_stmt *q = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW ||
        strcmp((const char *)sqlite3_column_text(q, 0), "ok") != 0) {
        if (q && sqlite3_errcode(s->db) == SQLITE_ROW)
            err_set(err, errlen, "job store %s: the file is damaged: %s", path,
                    (const char *)sqlite3_column_text(q, 0));
        else
            db_error(s, err, errlen, "not a readable SQLite database");
        sqlite3_finalize(q);
        gw_store_close(s);
        return -1;
    }
    sqlite3_finalize(q);
    q = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    if (version != 0 && version != STORE_VERSION) {
        err_set(err, errlen, "job store %s: schema version %d, this gateway knows %d", path,
                version, STORE_VERSION);
        gw_store_close(s);
        return -1;
    }
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", STORE_VERSION);
    if (exec(s, "PRAGMA journal_mode = WAL", err, errlen) < 0 ||
        exec(s, "PRAGMA synchronous = NORMAL", err, errlen) < 0 ||
        /* 1 MiB of page cache (SQLite's default is 2 MB): writes are appends to the WAL, and a
         * gateway on a phone should stay small (bench/mesh.sh, (d)) */
        exec(s, "PRAGMA cache_size = -1024", err, errlen) < 0 ||
        exec(s, "PRAGMA foreign_keys = OFF", err, errlen) < 0 || exec(s, schema, err, errlen) < 0 ||
        exec(s, pragma, err, errlen) < 0) {
        gw_store_close(s);
        return -1;
    }
    for (int i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) !=
            SQLITE_OK) {
            db_error(s, err, errlen, "the tables are not those of a Swarm gateway");
            gw_store_close(s);
            return -1;
        }
    *out = s;
    return 0;
}

static void free_queue(gw_store *s)
{
    for (size_t i = 0; i < s->nqueue; i++)
        free(s->queue[i].error);
    s->nqueue = 0;
}

void gw_store_close(gw_store *s)
{
    if (!s)
        return;
    if (s->db && s->st[ST_PUT_RESULT])
        gw_store_flush(s, NULL, 0);
    free_queue(s);
    free(s->queue);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

/* Runs a prepared statement that returns no rows, then resets it. */
static int step_done(gw_store *s, sqlite3_stmt *st, char *err, size_t errlen, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        s->stats.errors++;
        return db_error(s, err, errlen, what);
    }
    return 0;
}

static uint64_t now_us(void)
{
    return clock_mono_ns() / 1000;
}

static void count_commit(gw_store *s, uint64_t t0)
{
    uint64_t us = now_us() - t0;
    s->stats.commits++;
    s->stats.commit_us_sum += us;
    if (us > s->stats.commit_us_max)
        s->stats.commit_us_max = us;
}

int gw_store_put_module(gw_store *s, const uint8_t hash[MESH_HASH_LEN], const uint8_t *wasm,
                        size_t len, char *err, size_t errlen)
{
    sqlite3_stmt *st = s->st[ST_PUT_MODULE];
    uint64_t t0 = now_us();
    sqlite3_bind_blob(st, 1, hash, MESH_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_blob64(st, 2, wasm, len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)clock_wall_ms());
    if (step_done(s, st, err, errlen, "saving a module") < 0)
        return -1;
    count_commit(s, t0);
    return 0;
}

int gw_store_get_module(gw_store *s, const uint8_t hash[MESH_HASH_LEN], uint8_t **wasm, size_t *len,
                        char *err, size_t errlen)
{
    sqlite3_stmt *st = s->st[ST_GET_MODULE];
    *wasm = NULL;
    *len = 0;
    sqlite3_bind_blob(st, 1, hash, MESH_HASH_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW) {
        int n = sqlite3_column_bytes(st, 0);
        const void *p = sqlite3_column_blob(st, 0);
        *wasm = malloc(n > 0 ? (size_t)n : 1);
        if (!*wasm) {
            found = err_set(err, errlen, "job store: out of memory reading a module");
        } else {
            if (n > 0)
                memcpy(*wasm, p, (size_t)n);
            *len = (size_t)n;
            found = 1;
        }
    } else if (rc != SQLITE_DONE) {
        found = db_error(s, err, errlen, "reading a module");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return found;
}

/* Binds the counts of a job's end (or start) to ST_END_JOB's parameters 2..12. */
static void bind_counts(sqlite3_stmt *st, int first, const mesh_job_info *j, uint64_t ended)
{
    sqlite3_bind_text(st, first, mesh_job_status_name(j->status), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, first + 1, j->value);
    sqlite3_bind_int(st, first + 2, j->has_value);
    sqlite3_bind_int64(st, first + 3, (sqlite3_int64)ended);
    sqlite3_bind_int64(st, first + 4, (sqlite3_int64)j->elapsed_ms);
    sqlite3_bind_int64(st, first + 5, j->done);
    sqlite3_bind_int64(st, first + 6, j->trapped);
    sqlite3_bind_int64(st, first + 7, j->missing);
    sqlite3_bind_int64(st, first + 8, (sqlite3_int64)j->duplicates);
    sqlite3_bind_int64(st, first + 9, (sqlite3_int64)j->retries);
    sqlite3_bind_int64(st, first + 10, (sqlite3_int64)j->dropped);
}

int gw_store_put_job(gw_store *s, const mesh_job_info *j, char *err, size_t errlen)
{
    sqlite3_stmt *st = s->st[ST_PUT_JOB];
    char id[2 * MESH_JOB_ID_LEN + 1];
    mesh_job_id_str(&j->id, id);
    const mesh_job_spec *p = &j->spec;
    uint64_t t0 = now_us();
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 2, p->module, MESH_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, p->entry, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, p->abi64);
    sqlite3_bind_int64(st, 5, p->start);
    sqlite3_bind_int64(st, 6, p->end);
    sqlite3_bind_int64(st, 7, p->shards);
    sqlite3_bind_text(st, 8, mesh_reduce_name(p->reduce), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, (sqlite3_int64)p->deadline_ms);
    sqlite3_bind_int64(st, 10, (sqlite3_int64)p->fuel);
    sqlite3_bind_int64(st, 11, p->max_pages);
    sqlite3_bind_int64(st, 12, (sqlite3_int64)j->created_ms);
    bind_counts(st, 13, j, 0);
    if (step_done(s, st, err, errlen, "saving a job") < 0)
        return -1;
    count_commit(s, t0);
    return 0;
}

int gw_store_add_result(gw_store *s, const mesh_job_id *job, uint32_t shard,
                        const mesh_shard_info *r, char *err, size_t errlen)
{
    if (s->nqueue == s->capqueue) {
        size_t cap = s->capqueue ? 2 * s->capqueue : 256;
        pending *q = realloc(s->queue, cap * sizeof *q);
        if (!q)
            return err_set(err, errlen, "job store: out of memory queueing a result");
        s->queue = q;
        s->capqueue = cap;
    }
    pending *e = &s->queue[s->nqueue];
    e->job = *job;
    e->shard = shard;
    e->r = *r;
    e->error = NULL;
    if (r->error && !(e->error = strdup(r->error)))
        return err_set(err, errlen, "job store: out of memory queueing a result");
    e->r.error = e->error;
    s->nqueue++;
    return 0;
}

/* Writes the queue inside an open transaction. */
static int write_queue(gw_store *s, char *err, size_t errlen)
{
    sqlite3_stmt *st = s->st[ST_PUT_RESULT];
    for (size_t i = 0; i < s->nqueue; i++) {
        const pending *e = &s->queue[i];
        char id[2 * MESH_JOB_ID_LEN + 1], peer[P2P_PEER_ID_STRLEN] = "";
        mesh_job_id_str(&e->job, id);
        if (e->r.worker.len)
            p2p_peer_id_str(&e->r.worker, peer);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, e->shard);
        sqlite3_bind_int64(st, 3, e->r.lo);
        sqlite3_bind_int64(st, 4, e->r.hi);
        sqlite3_bind_text(st, 5, mesh_shard_state_name(e->r.state), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, e->r.value);
        if (e->r.error)
            sqlite3_bind_text(st, 7, e->r.error, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 7);
        sqlite3_bind_text(st, 8, peer, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 9, (sqlite3_int64)e->r.fuel_used);
        sqlite3_bind_int64(st, 10, (sqlite3_int64)e->r.elapsed_us);
        if (step_done(s, st, err, errlen, "saving a result") < 0)
            return -1;
    }
    return 0;
}

/* Runs the queue and, if job is not NULL, the job's end in one transaction. */
static int commit(gw_store *s, const mesh_job_info *job, uint64_t ended, char *err, size_t errlen)
{
    if (s->nqueue == 0 && !job)
        return 0;
    uint64_t t0 = now_us();
    if (exec(s, "BEGIN IMMEDIATE", err, errlen) < 0) {
        s->stats.errors++;
        return -1;
    }
    int rc = write_queue(s, err, errlen);
    if (rc == 0 && job) {
        sqlite3_stmt *st = s->st[ST_END_JOB];
        char id[2 * MESH_JOB_ID_LEN + 1];
        mesh_job_id_str(&job->id, id);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        bind_counts(st, 2, job, ended);
        rc = step_done(s, st, err, errlen, "saving a job's end");
    }
    if (rc == 0 && exec(s, "COMMIT", err, errlen) < 0)
        rc = -1;
    if (rc < 0) {
        /* the queue stays for the next try; the transaction is undone */
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->stats.errors++;
        return -1;
    }
    s->stats.rows += s->nqueue;
    free_queue(s);
    count_commit(s, t0);
    return 0;
}

int gw_store_flush(gw_store *s, char *err, size_t errlen)
{
    return commit(s, NULL, 0, err, errlen);
}

int gw_store_end_job(gw_store *s, const mesh_job_info *job, uint64_t ended_ms, char *err,
                     size_t errlen)
{
    return commit(s, job, ended_ms, err, errlen);
}

static int parse_status(const char *name, mesh_job_status *out)
{
    for (int i = MESH_JOB_RUNNING; i <= MESH_JOB_CANCELLED; i++)
        if (strcmp(name, mesh_job_status_name((mesh_job_status)i)) == 0) {
            *out = (mesh_job_status)i;
            return 0;
        }
    return -1;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? t : "";
}

/* Reads a row of JOB_COLS; -1 if a value is not one we write (a store edited by hand). */
static int read_job(gw_store *s, sqlite3_stmt *st, gw_job_row *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    mesh_job_info *j = &out->info;
    mesh_job_spec *p = &j->spec;
    const char *id = col_text(st, 0);
    const char *entry = col_text(st, 2);
    if (mesh_job_id_parse(id, &j->id) < 0 || sqlite3_column_bytes(st, 1) != MESH_HASH_LEN ||
        strlen(entry) >= sizeof p->entry || mesh_reduce_parse(col_text(st, 7), &p->reduce) < 0 ||
        parse_status(col_text(st, 12), &j->status) < 0)
        return err_set(err, errlen, "job store %s: job '%s' has values this gateway never wrote",
                       s->path, id);
    memcpy(p->module, sqlite3_column_blob(st, 1), MESH_HASH_LEN);
    strcpy(p->entry, entry);
    p->abi64 = sqlite3_column_int(st, 3) != 0;
    p->start = sqlite3_column_int64(st, 4);
    p->end = sqlite3_column_int64(st, 5);
    p->shards = (uint32_t)sqlite3_column_int64(st, 6);
    p->deadline_ms = (uint64_t)sqlite3_column_int64(st, 8);
    p->fuel = (uint64_t)sqlite3_column_int64(st, 9);
    p->max_pages = (uint32_t)sqlite3_column_int64(st, 10);
    j->created_ms = (uint64_t)sqlite3_column_int64(st, 11);
    j->value = sqlite3_column_int64(st, 13);
    j->has_value = sqlite3_column_int(st, 14) != 0;
    out->ended_ms = (uint64_t)sqlite3_column_int64(st, 15);
    j->elapsed_ms = (uint64_t)sqlite3_column_int64(st, 16);
    j->done = (uint32_t)sqlite3_column_int64(st, 17);
    j->trapped = (uint32_t)sqlite3_column_int64(st, 18);
    j->missing = (uint32_t)sqlite3_column_int64(st, 19);
    j->duplicates = (uint64_t)sqlite3_column_int64(st, 20);
    j->retries = (uint64_t)sqlite3_column_int64(st, 21);
    j->dropped = (uint64_t)sqlite3_column_int64(st, 22);
    j->total = p->shards;
    if (p->end <= p->start || p->shards == 0 ||
        (uint64_t)p->shards > (uint64_t)p->end - (uint64_t)p->start)
        return err_set(err, errlen, "job store %s: job '%s' has a bad range or shard count",
                       s->path, id);
    return 0;
}

int gw_store_get_job(gw_store *s, const mesh_job_id *id, gw_job_row *out, char *err, size_t errlen)
{
    sqlite3_stmt *st = s->st[ST_GET_JOB];
    char text[2 * MESH_JOB_ID_LEN + 1];
    mesh_job_id_str(id, text);
    sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW)
        found = read_job(s, st, out, err, errlen) < 0 ? -1 : 1;
    else if (rc != SQLITE_DONE)
        found = db_error(s, err, errlen, "reading a job");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return found;
}

/* Reads up to max rows of a job query into out, then resets it. */
static int read_jobs(gw_store *s, sqlite3_stmt *st, gw_job_row *out, size_t max, char *err,
                     size_t errlen)
{
    size_t n = 0;
    int rc;
    while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (read_job(s, st, &out[n], err, errlen) < 0) {
            sqlite3_reset(st);
            return -1;
        }
        n++;
    }
    if (n < max && rc != SQLITE_DONE) {
        db_error(s, err, errlen, "listing jobs");
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return (int)n;
}

int gw_store_list_jobs(gw_store *s, const mesh_job_id *before, gw_job_row *out, size_t max,
                       char *err, size_t errlen)
{
    if (max > INT32_MAX)
        max = INT32_MAX;
    sqlite3_stmt *st;
    char text[2 * MESH_JOB_ID_LEN + 1];
    if (before) {
        st = s->st[ST_LIST_BEFORE];
        mesh_job_id_str(before, text);
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    } else {
        st = s->st[ST_LIST];
        sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    }
    return read_jobs(s, st, out, max, err, errlen);
}

int gw_store_each_running(gw_store *s, int (*fn)(const gw_job_row *job, void *user), void *user,
                          char *err, size_t errlen)
{
    /* read all first: fn may write to the store, which a live SELECT would see */
    size_t cap = 16, n = 0;
    gw_job_row *rows = malloc(cap * sizeof *rows);
    sqlite3_stmt *st = s->st[ST_RUNNING];
    int rc, result = 0;
    if (!rows)
        return err_set(err, errlen, "job store: out of memory");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            gw_job_row *more = realloc(rows, 2 * cap * sizeof *rows);
            if (!more) {
                result = err_set(err, errlen, "job store: out of memory");
                break;
            }
            rows = more;
            cap *= 2;
        }
        if ((result = read_job(s, st, &rows[n], err, errlen)) < 0)
            break;
        n++;
    }
    if (result == 0 && rc != SQLITE_DONE)
        result = db_error(s, err, errlen, "listing running jobs");
    sqlite3_reset(st);
    for (size_t i = 0; result == 0 && i < n; i++)
        if (fn(&rows[i], user) < 0)
            result = -1;
    free(rows);
    return result;
}

int gw_store_results(gw_store *s, const mesh_job_id *id, gw_store_cursor **out, char *err,
                     size_t errlen)
{
    *out = NULL;
    if (gw_store_flush(s, err, errlen) < 0)
        return -1;
    gw_store_cursor *c = calloc(1, sizeof *c);
    if (!c)
        return err_set(err, errlen, "job store: out of memory");
    char text[2 * MESH_JOB_ID_LEN + 1];
    mesh_job_id_str(id, text);
    c->s = s;
    c->st = s->st[ST_RESULTS];
    sqlite3_reset(c->st);
    sqlite3_bind_text(c->st, 1, text, -1, SQLITE_TRANSIENT);
    *out = c;
    return 0;
}

static int parse_shard_state(const char *name, mesh_shard_state *out)
{
    for (int i = MESH_SHARD_QUEUED; i <= MESH_SHARD_MISSING; i++)
        if (strcmp(name, mesh_shard_state_name((mesh_shard_state)i)) == 0) {
            *out = (mesh_shard_state)i;
            return 0;
        }
    return -1;
}

int gw_store_next(gw_store_cursor *c, uint32_t *shard, mesh_shard_info *r, char *err, size_t errlen)
{
    int rc = sqlite3_step(c->st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return db_error(c->s, err, errlen, "reading results");
    memset(r, 0, sizeof *r);
    sqlite3_int64 i = sqlite3_column_int64(c->st, 0);
    const char *worker = col_text(c->st, 6);
    if (i < 0 || i >= MESH_MAX_SHARDS || parse_shard_state(col_text(c->st, 3), &r->state) < 0 ||
        (worker[0] && p2p_peer_id_parse(worker, &r->worker, NULL, 0) < 0))
        return err_set(err, errlen, "job store %s: a result has values this gateway never wrote",
                       c->s->path);
    *shard = (uint32_t)i;
    r->lo = sqlite3_column_int64(c->st, 1);
    r->hi = sqlite3_column_int64(c->st, 2);
    r->value = sqlite3_column_int64(c->st, 4);
    if (sqlite3_column_type(c->st, 5) != SQLITE_NULL) {
        snprintf(c->error, sizeof c->error, "%s", col_text(c->st, 5));
        r->error = c->error;
    }
    r->fuel_used = (uint64_t)sqlite3_column_int64(c->st, 7);
    r->elapsed_us = (uint64_t)sqlite3_column_int64(c->st, 8);
    return 1;
}

void gw_store_cursor_free(gw_store_cursor *c)
{
    if (!c)
        return;
    sqlite3_reset(c->st);
    sqlite3_clear_bindings(c->st);
    free(c);
}

int gw_store_job_workers(gw_store *s, const mesh_job_id *id, mesh_job_worker *out, size_t max,
                         char *err, size_t errlen)
{
    if (gw_store_flush(s, err, errlen) < 0)
        return -1;
    sqlite3_stmt *st = s->st[ST_WORKERS];
    char text[2 * MESH_JOB_ID_LEN + 1];
    mesh_job_id_str(id, text);
    sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *w = col_text(st, 0);
        if (!w[0])
            continue;
        if ((size_t)n < max) {
            mesh_job_worker *o = &out[n];
            memset(o, 0, sizeof *o);
            if (p2p_peer_id_parse(w, &o->peer, NULL, 0) < 0)
                continue;
            o->shards = (uint32_t)sqlite3_column_int64(st, 1);
            o->fuel_used = (uint64_t)sqlite3_column_int64(st, 2);
            o->elapsed_us = (uint64_t)sqlite3_column_int64(st, 3);
        }
        n++;
    }
    if (rc != SQLITE_DONE)
        n = db_error(s, err, errlen, "reading the workers of a job");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return n;
}

void gw_store_get_stats(const gw_store *s, gw_store_stats *out)
{
    *out = s->stats;
    out->pending = s->nqueue;
}
