/* jobdoc.c - the job documents of jobdoc.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "jobdoc.h"
#include "json.h"

static int put_spec_and_counts(buf_t *b, const mesh_job_info *j, uint64_t ended_ms)
{
    char id[2 * MESH_JOB_ID_LEN + 1], module[2 * MESH_HASH_LEN + 1];
    mesh_job_id_str(&j->id, id);
    hex_encode(j->spec.module, MESH_HASH_LEN, module);
    const mesh_job_spec *s = &j->spec;
    int rc =
        buf_printf(b, "\"id\": \"%s\", \"status\": \"%s\", \"module\": \"%s\", \"entry\": ", id,
                   mesh_job_status_name(j->status), module);
    rc |= gw_jw_str(b, s->entry[0] ? s->entry : "execute");
    rc |= buf_printf(b,
                     ", \"abi\": \"%s\", \"range\": [%" PRId64 ", %" PRId64 "], \"reduce\": \"%s\","
                     " \"deadline_ms\": %" PRIu64 ", \"fuel\": %" PRIu64 ", \"max_pages\": %" PRIu32
                     ", \"created\": %" PRIu64 ", \"ended\": ",
                     s->abi64 ? "i64" : "i32", s->start, s->end, mesh_reduce_name(s->reduce),
                     s->deadline_ms, s->fuel, s->max_pages, j->created_ms);
    rc |= ended_ms ? buf_printf(b, "%" PRIu64, ended_ms) : buf_puts(b, "null");
    rc |= buf_printf(b,
                     ", \"elapsed_ms\": %" PRIu64 ", \"shards\": {\"total\": %" PRIu32
                     ", \"done\": %" PRIu32 ", \"failed\": %" PRIu32 ", \"missing\": %" PRIu32
                     ", \"leased\": %" PRIu32 ", \"duplicates\": %" PRIu64 ", \"retries\": %" PRIu64
                     ", \"dropped\": %" PRIu64 "}",
                     j->elapsed_ms, j->total, j->done, j->trapped, j->missing, j->leased,
                     j->duplicates, j->retries, j->dropped);
    if (s->reduce != MESH_REDUCE_COLLECT) {
        rc |= buf_puts(b, ", \"value\": ");
        rc |= j->has_value ? buf_printf(b, "%" PRId64, j->value) : buf_puts(b, "null");
    }
    return rc ? -1 : 0;
}

int gw_jobdoc_summary(buf_t *b, const mesh_job_info *j, uint64_t ended_ms)
{
    if (buf_push(b, '{') < 0 || put_spec_and_counts(b, j, ended_ms) < 0 || buf_push(b, '}') < 0)
        return -1;
    return 0;
}

/* A run of adjacent shards with the same state (and error), merged into one range. */
typedef struct {
    bool open;
    int64_t lo, hi;
    char error[256];
} run;

static int close_missing(buf_t *b, run *r, bool *first)
{
    if (!r->open)
        return 0;
    r->open = false;
    int rc = buf_printf(b, "%s[%" PRId64 ", %" PRId64 "]", *first ? "" : ", ", r->lo, r->hi);
    *first = false;
    return rc;
}

static int close_error(buf_t *b, run *r, bool *first)
{
    if (!r->open)
        return 0;
    r->open = false;
    int rc =
        buf_printf(b, "%s{\"range\": [%" PRId64 ", %" PRId64 "], \"error\": ", *first ? "" : ", ",
                   r->lo, r->hi);
    rc |= gw_jw_str(b, r->error);
    rc |= buf_push(b, '}');
    *first = false;
    return rc ? -1 : 0;
}

int gw_jobdoc(buf_t *b, const mesh_job_info *j, uint64_t ended_ms, gw_shard_fn shard, void *ctx,
              const mesh_job_worker *workers, size_t nworkers)
{
    /* the three per-shard lists are built side by side in one pass over the shards */
    buf_t missing, errors, values;
    buf_init(&missing, b->limit);
    buf_init(&errors, b->limit);
    buf_init(&values, b->limit);
    bool collect = j->spec.reduce == MESH_REDUCE_COLLECT;
    bool mfirst = true, efirst = true;
    run m = {0}, e = {0};
    int rc = 0;
    for (uint32_t i = 0; i < j->total && rc == 0; i++) {
        mesh_shard_info s;
        if (!shard(ctx, i, &s)) {
            rc = -1;
            break;
        }
        if (s.state == MESH_SHARD_MISSING) {
            if (m.open && m.hi == s.lo) {
                m.hi = s.hi;
            } else {
                rc |= close_missing(&missing, &m, &mfirst);
                m = (run){.open = true, .lo = s.lo, .hi = s.hi};
            }
        } else {
            rc |= close_missing(&missing, &m, &mfirst);
        }
        if (s.state == MESH_SHARD_TRAPPED) {
            const char *msg = s.error ? s.error : "trapped";
            if (e.open && e.hi == s.lo && strcmp(e.error, msg) == 0) {
                e.hi = s.hi;
            } else {
                rc |= close_error(&errors, &e, &efirst);
                e.open = true;
                e.lo = s.lo;
                e.hi = s.hi;
                snprintf(e.error, sizeof e.error, "%s", msg);
            }
        } else {
            rc |= close_error(&errors, &e, &efirst);
        }
        if (collect) {
            if (i)
                rc |= buf_puts(&values, ", ");
            rc |= s.state == MESH_SHARD_DONE ? buf_printf(&values, "%" PRId64, s.value)
                                             : buf_puts(&values, "null");
        }
    }
    rc |= close_missing(&missing, &m, &mfirst);
    rc |= close_error(&errors, &e, &efirst);
    if (rc == 0) {
        rc |= buf_push(b, '{');
        rc |= put_spec_and_counts(b, j, ended_ms);
        if (collect) {
            rc |= buf_puts(b, ", \"value\": null, \"values\": [");
            rc |= buf_append(b, values.data, values.len);
            rc |= buf_push(b, ']');
        }
        rc |= buf_puts(b, ", \"missing\": [");
        rc |= buf_append(b, missing.data, missing.len);
        rc |= buf_puts(b, "], \"errors\": [");
        rc |= buf_append(b, errors.data, errors.len);
        rc |= buf_puts(b, "], \"workers\": [");
        for (size_t i = 0; i < nworkers; i++) {
            char peer[P2P_PEER_ID_STRLEN];
            p2p_peer_id_str(&workers[i].peer, peer);
            rc |= buf_printf(b,
                             "%s{\"peer\": \"%s\", \"shards\": %" PRIu32 ", \"fuel\": %" PRIu64
                             ", \"busy_ms\": %" PRIu64 "}",
                             i ? ", " : "", peer, workers[i].shards, workers[i].fuel_used,
                             workers[i].elapsed_us / 1000);
        }
        rc |= buf_puts(b, "]}\n");
    }
    buf_free(&missing);
    buf_free(&errors);
    buf_free(&values);
    return rc ? -1 : 0;
}

int gw_deploydoc(buf_t *b, const mesh_job_info *j, gw_shard_fn shard, void *ctx)
{
    char id[2 * MESH_JOB_ID_LEN + 1];
    mesh_job_id_str(&j->id, id);
    buf_t missing;
    buf_init(&missing, b->limit);
    int rc = buf_printf(b, "{\"id\": \"%s\", \"status\": \"%s\", \"total_sum\": ", id,
                        mesh_job_status_name(j->status));
    rc |= j->has_value ? buf_printf(b, "%" PRId64, j->value) : buf_puts(b, "null");
    rc |= buf_puts(b, ", \"breakdown\": [");
    bool first = true;
    for (uint32_t i = 0; i < j->total && rc == 0; i++) {
        mesh_shard_info s;
        if (!shard(ctx, i, &s)) {
            rc = -1;
            break;
        }
        if (s.state == MESH_SHARD_DONE) {
            char peer[P2P_PEER_ID_STRLEN] = "";
            if (s.worker.len)
                p2p_peer_id_str(&s.worker, peer);
            rc |= buf_printf(b,
                             "%s{\"shard\": %" PRIu32 ", \"range\": [%" PRId64 ", %" PRId64
                             "], \"value\": %" PRId64 ", \"worker\": \"%s\"}",
                             first ? "" : ", ", i, s.lo, s.hi, s.value, peer);
            first = false;
        } else {
            rc |= buf_printf(&missing, "%s%" PRIu32, missing.len ? ", " : "", i);
        }
    }
    rc |= buf_puts(b, "], \"missing_shards\": [");
    rc |= buf_append(b, missing.data, missing.len);
    rc |= buf_printf(b, "], \"elapsed_ms\": %" PRIu64 "}\n", j->elapsed_ms);
    buf_free(&missing);
    return rc ? -1 : 0;
}

int gw_errordoc(buf_t *b, const char *msg)
{
    int rc = buf_puts(b, "{\"error\": ");
    rc |= gw_jw_str(b, msg);
    rc |= buf_puts(b, "}\n");
    return rc ? -1 : 0;
}

int gw_nodedoc(buf_t *b, const mesh_node_info *x)
{
    char peer[P2P_PEER_ID_STRLEN];
    p2p_peer_id_str(&x->peer, peer);
    int rc = buf_printf(b, "{\"peer\": \"%s\", \"label\": ", peer);
    rc |= gw_jw_str(b, x->label);
    rc |= buf_puts(b, ", \"agent\": ");
    rc |= gw_jw_str(b, x->agent);
    rc |= buf_printf(b,
                     ", \"state\": \"%s\", \"strikes\": %u, \"quarantines\": %" PRIu32
                     ", \"quarantine_left_ms\": %" PRIu64 ", \"slots\": %" PRIu32
                     ", \"cores\": %" PRIu32 ", \"leased\": %" PRIu32 ", \"shards_done\": %" PRIu64
                     ", \"fuel_used\": %" PRIu64 ", \"shards_per_s\": %.3f, \"battery\": ",
                     mesh_node_state_name(x->state), x->strikes, x->quarantines,
                     x->quarantine_left_ms, x->slots, x->cores, x->leased, x->shards_done,
                     x->fuel_used, x->shards_per_s);
    if (x->battery >= 0)
        rc |= buf_printf(b, "%d", x->battery);
    else
        rc |= buf_puts(b, "null");
    rc |= buf_printf(b, ", \"charging\": %s, \"last_seen_ms\": %" PRIu64 "}",
                     x->charging < 0 ? "null"
                     : x->charging   ? "true"
                                     : "false",
                     x->last_seen_ms);
    return rc ? -1 : 0;
}
