/* gw_sched.c - the scheduling core: jobs, shards, leases, results and outcomes (see gw_sched.h). */
#include "gw_sched.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define NONE UINT32_MAX

/* One lease: an attempt of a shard on a node. A job's leases live in one array; the live ones
 * form a list in the order they were sent, which is also the order they expire in (one lease
 * timeout per job, capped at the deadline). */
typedef struct {
    uint32_t shard, attempt;
    uint32_t node;          /* hl_node id of the holder */
    uint32_t prev_of_shard; /* the shard's earlier lease, or NONE */
    uint32_t prev_live, next_live;
    uint64_t sent, expires;
    bool live;
} lease;

typedef struct {
    uint8_t state; /* mesh_shard_state */
    bool queued;   /* in the retry queue */
    bool backup;   /* a backup copy was made */
    uint32_t live; /* live leases */
    uint32_t attempts;
    uint32_t last;   /* latest lease, or NONE */
    uint32_t worker; /* 1 + index in the job's workers; 0 = none */
    int64_t value;
    char *error; /* TRAPPED: owned */
    uint64_t fuel_used, elapsed_us;
} shard;

typedef struct {
    uint32_t node; /* 0 for a stored result's worker */
    mesh_job_worker w;
} job_worker;

struct sched_job {
    mesh_job_info info; /* counts kept current; status, elapsed_ms set at the end */
    uint64_t t0;        /* creation on the sched clock (may be before its start) */
    uint64_t deadline, lease_ms;
    bool ended;
    shard *shards;
    lease *leases;
    uint32_t nleases, capleases;
    uint32_t live_head, live_tail;
    uint32_t next_fresh; /* shards below were leased or are final */
    uint32_t *retry;     /* ring of shard indexes, capacity info.total */
    uint32_t rhead, rlen;
    job_worker *workers;
    uint32_t nworkers, capworkers;
    uint64_t samples[SCHED_SAMPLES]; /* recent shard times (ms, lease to result) */
    uint32_t nsamples;
    uint64_t straggler_at; /* next straggler check */
};

struct sched {
    health *reg;
    sched_out out;
    uint64_t lease_ms;
    sched_job **jobs; /* held jobs, running and ended */
    size_t njobs, capjobs;
    sched_job **run; /* running jobs, in round-robin order */
    size_t nrun, caprun, rr;
    size_t node_rr;
    sched_job *last;  /* lookup cache: results come in runs of one job */
    sched_job **dead; /* forgotten jobs, freed by sched_collect (an event may forget its job) */
    size_t ndead, capdead;
    sched_stats st;
};

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

sched *sched_new(health *reg, const sched_out *out, uint64_t lease_ms)
{
    sched *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->reg = reg;
    s->out = *out;
    s->lease_ms = lease_ms;
    return s;
}

static void job_free(sched_job *j)
{
    for (uint32_t i = 0; i < j->info.total; i++)
        free(j->shards[i].error);
    free(j->shards);
    free(j->leases);
    free(j->retry);
    free(j->workers);
    free(j);
}

void sched_free(sched *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->njobs; i++)
        job_free(s->jobs[i]);
    sched_collect(s);
    free(s->dead);
    free(s->jobs);
    free(s->run);
    free(s);
}

uint32_t sched_default_shards(const sched *s, uint64_t len, uint64_t now)
{
    uint64_t slots = 0;
    for (size_t i = 0; i < s->reg->n; i++)
        if (health_usable(s->reg->v[i], now))
            slots += s->reg->v[i]->slots;
    uint64_t n = slots ? SCHED_SHARDS_PER_SLOT * slots : SCHED_SHARDS_NO_WORKER;
    if (n > MESH_MAX_SHARDS)
        n = MESH_MAX_SHARDS;
    if (n > len)
        n = len;
    return n ? (uint32_t)n : 1;
}

sched_job *sched_find(const sched *s, const mesh_job_id *id)
{
    if (s->last && memcmp(s->last->info.id.b, id->b, MESH_JOB_ID_LEN) == 0)
        return s->last;
    for (size_t i = 0; i < s->njobs; i++)
        if (memcmp(s->jobs[i]->info.id.b, id->b, MESH_JOB_ID_LEN) == 0) {
            ((sched *)s)->last = s->jobs[i];
            return s->jobs[i];
        }
    return NULL;
}

/* ---- events ------------------------------------------------------------------------------ */

static void shard_info(const sched_job *j, uint32_t i, const hl_node *holder, mesh_shard_info *o)
{
    const shard *sh = &j->shards[i];
    memset(o, 0, sizeof *o);
    o->state = (mesh_shard_state)sh->state;
    mesh_shard_range(j->info.spec.start, j->info.spec.end, j->info.total, i, &o->lo, &o->hi);
    o->value = sh->value;
    o->error = sh->error;
    if (sh->worker)
        o->worker = j->workers[sh->worker - 1].w.peer;
    else if (holder)
        o->worker = holder->peer;
    o->attempts = sh->attempts;
    o->fuel_used = sh->fuel_used;
    o->elapsed_us = sh->elapsed_us;
}

static void emit(sched *s, mesh_gw_event_type type, sched_job *j, uint32_t i, const hl_node *n,
                 uint64_t now)
{
    if (!s->out.event)
        return;
    mesh_job_info info;
    mesh_shard_info si;
    sched_job_info(j, now, &info);
    mesh_gw_event ev = {.type = type, .job = &info, .shard = i};
    if (type != MESH_GW_EV_JOB_END) {
        shard_info(j, i, n, &si);
        ev.info = &si;
    }
    if (n)
        ev.peer = &n->peer;
    s->out.event(s->out.user, &ev);
}

/* ---- leases ------------------------------------------------------------------------------ */

static void live_unlink(sched *s, sched_job *j, uint32_t li)
{
    lease *l = &j->leases[li];
    assert(l->live);
    l->live = false;
    if (l->prev_live != NONE)
        j->leases[l->prev_live].next_live = l->next_live;
    else
        j->live_head = l->next_live;
    if (l->next_live != NONE)
        j->leases[l->next_live].prev_live = l->prev_live;
    else
        j->live_tail = l->prev_live;
    shard *sh = &j->shards[l->shard];
    assert(sh->live > 0);
    if (--sh->live == 0 && sh->state == MESH_SHARD_LEASED) {
        sh->state = MESH_SHARD_QUEUED;
        j->info.leased--;
    }
    hl_node *n = health_by_id(s->reg, l->node);
    if (n) {
        assert(n->leased > 0);
        n->leased--;
    }
}

/* Puts a shard whose leases are all gone back in the retry queue. */
static void requeue(sched_job *j, uint32_t i)
{
    shard *sh = &j->shards[i];
    if (j->ended || sh->queued || sh->live || sh->state != MESH_SHARD_QUEUED)
        return;
    assert(j->rlen < j->info.total);
    j->retry[(j->rhead + j->rlen) % j->info.total] = i;
    j->rlen++;
    sh->queued = true;
}

/* True if node id held a lease of shard i. */
static bool held(const sched_job *j, uint32_t i, uint32_t node)
{
    for (uint32_t li = j->shards[i].last; li != NONE; li = j->leases[li].prev_of_shard)
        if (j->leases[li].node == node)
            return true;
    return false;
}

static bool make_lease(sched *s, sched_job *j, uint32_t i, hl_node *n, uint64_t now)
{
    if (j->nleases == j->capleases) {
        size_t cap = j->capleases;
        if (j->nleases == NONE - 1 ||
            !grow((void **)&j->leases, &cap, j->nleases + 1u, sizeof *j->leases))
            return false;
        j->capleases = (uint32_t)cap;
    }
    shard *sh = &j->shards[i];
    uint32_t li = j->nleases++;
    lease *l = &j->leases[li];
    l->shard = i;
    l->attempt = ++sh->attempts;
    l->node = n->id;
    l->prev_of_shard = sh->last;
    sh->last = li;
    l->sent = now;
    l->expires = now + j->lease_ms < j->deadline ? now + j->lease_ms : j->deadline;
    l->live = true;
    l->next_live = NONE;
    l->prev_live = j->live_tail;
    if (j->live_tail != NONE)
        j->leases[j->live_tail].next_live = li;
    else
        j->live_head = li;
    j->live_tail = li;
    if (sh->live++ == 0) {
        sh->state = MESH_SHARD_LEASED;
        j->info.leased++;
    }
    n->leased++;
    s->st.leases++;
    if (l->attempt > 1) {
        j->info.retries++;
        s->st.retries++;
    }
    sched_lease_msg m = {.job = &j->info.id,
                         .spec = &j->info.spec,
                         .shard = i,
                         .attempt = l->attempt,
                         .timeout_ms = l->expires - now};
    mesh_shard_range(j->info.spec.start, j->info.spec.end, j->info.total, i, &m.start, &m.end);
    if (s->out.lease)
        s->out.lease(s->out.user, n, &m);
    emit(s, MESH_GW_EV_LEASE, j, i, n, now);
    return true;
}

/* The next shard of j that n may take (removed from its queue), or NONE. */
static uint32_t take_shard(sched_job *j, const hl_node *n)
{
    uint32_t scan = j->rlen < SCHED_RETRY_SCAN ? j->rlen : SCHED_RETRY_SCAN;
    for (uint32_t k = 0; k < scan; k++) {
        uint32_t pos = (j->rhead + k) % j->info.total;
        uint32_t i = j->retry[pos];
        if (held(j, i, n->id))
            continue;
        /* close the gap: move the head entry into this place */
        j->retry[pos] = j->retry[j->rhead];
        j->rhead = (j->rhead + 1) % j->info.total;
        j->rlen--;
        j->shards[i].queued = false;
        return i;
    }
    while (j->next_fresh < j->info.total) {
        uint32_t i = j->next_fresh++;
        if (j->shards[i].state == MESH_SHARD_QUEUED && !j->shards[i].attempts)
            return i;
    }
    return NONE;
}

/* Leases to n round-robin over the running jobs until n holds `upto` or nothing is left. */
static void fill_node(sched *s, hl_node *n, uint32_t upto, uint64_t now)
{
    size_t idle = 0; /* jobs in a row that had nothing for n */
    while (n->leased < upto && s->nrun && idle < s->nrun) {
        if (s->rr >= s->nrun)
            s->rr = 0;
        sched_job *j = s->run[s->rr++];
        uint32_t i = take_shard(j, n);
        if (i == NONE) {
            idle++;
            continue;
        }
        idle = 0;
        if (!make_lease(s, j, i, n, now)) {
            requeue(j, i);
            return;
        }
    }
}

void sched_dispatch(sched *s, uint64_t now)
{
    if (!s->nrun || !s->reg->n)
        return;
    size_t nn = s->reg->n;
    /* first a lease per slot everywhere, so that a small job spreads over the nodes */
    for (int pass = 1; pass <= SCHED_PIPELINE; pass++)
        for (size_t k = 0; k < nn && k < s->reg->n; k++) {
            hl_node *n = s->reg->v[(s->node_rr + k) % s->reg->n];
            if (health_usable(n, now))
                fill_node(s, n, n->slots * (uint32_t)pass, now);
        }
    s->node_rr++;
}

/* ---- jobs -------------------------------------------------------------------------------- */

static int64_t reduce(mesh_reduce op, int64_t acc, int64_t v)
{
    switch (op) {
    case MESH_REDUCE_SUM:
        return (int64_t)((uint64_t)acc + (uint64_t)v);
    case MESH_REDUCE_MIN:
        return v < acc ? v : acc;
    case MESH_REDUCE_MAX:
        return v > acc ? v : acc;
    case MESH_REDUCE_XOR:
        return acc ^ v;
    case MESH_REDUCE_COLLECT:
        return 0;
    }
    return acc;
}

static void add_value(sched_job *j, int64_t v)
{
    if (!j->info.has_value) {
        j->info.value = j->info.spec.reduce == MESH_REDUCE_COLLECT ? 0 : v;
        j->info.has_value = true;
    } else
        j->info.value = reduce(j->info.spec.reduce, j->info.value, v);
}

/* 1 + the index of the job's worker entry for (node, peer), made if new; 0 on OOM. */
static uint32_t worker_slot(sched_job *j, uint32_t node, const p2p_peer_id *peer)
{
    for (uint32_t k = 0; k < j->nworkers; k++)
        if (p2p_peer_id_eq(&j->workers[k].w.peer, peer))
            return k + 1;
    size_t cap = j->capworkers;
    if (!grow((void **)&j->workers, &cap, j->nworkers + 1u, sizeof *j->workers))
        return 0;
    j->capworkers = (uint32_t)cap;
    job_worker *w = &j->workers[j->nworkers++];
    memset(w, 0, sizeof *w);
    w->node = node;
    w->w.peer = *peer;
    return j->nworkers;
}

static void run_remove(sched *s, sched_job *j)
{
    for (size_t k = 0; k < s->nrun; k++)
        if (s->run[k] == j) {
            memmove(&s->run[k], &s->run[k + 1], (s->nrun - k - 1) * sizeof *s->run);
            s->nrun--;
            if (s->rr > k)
                s->rr--;
            return;
        }
}

/* Ends j: shards without a result are missing, live leases are cancelled on their nodes. */
static void job_end(sched *s, sched_job *j, mesh_job_status status, uint64_t now, bool events)
{
    assert(!j->ended);
    /* one Cancel per node that holds live leases of the job */
    while (j->live_head != NONE) {
        uint32_t node = j->leases[j->live_head].node;
        hl_node *n = health_by_id(s->reg, node);
        for (uint32_t li = j->live_head; li != NONE;) {
            uint32_t next = j->leases[li].next_live;
            if (j->leases[li].node == node)
                live_unlink(s, j, li);
            li = next;
        }
        if (n && n->connected && s->out.cancel && events)
            s->out.cancel(s->out.user, n, &j->info.id, true, 0);
    }
    j->ended = true;
    for (uint32_t i = 0; i < j->info.total; i++) {
        shard *sh = &j->shards[i];
        sh->queued = false;
        if (sh->state == MESH_SHARD_QUEUED || sh->state == MESH_SHARD_LEASED) {
            sh->state = MESH_SHARD_MISSING;
            j->info.missing++;
        }
    }
    j->rlen = 0;
    j->info.leased = 0;
    j->info.status = status;
    j->info.elapsed_ms = now > j->t0 ? now - j->t0 : 0;
    s->st.jobs_ended[status]++;
    run_remove(s, j);
    if (events)
        emit(s, MESH_GW_EV_JOB_END, j, 0, NULL, now);
}

/* The outcome when every shard is final or the deadline came. */
static mesh_job_status outcome(const sched_job *j)
{
    if (j->info.trapped)
        return MESH_JOB_FAILED;
    if (j->info.done == j->info.total)
        return MESH_JOB_DONE;
    return j->info.done ? MESH_JOB_PARTIAL : MESH_JOB_TIMEOUT;
}

static void end_if_complete(sched *s, sched_job *j, uint64_t now)
{
    if (!j->ended && j->info.done + j->info.trapped == j->info.total)
        job_end(s, j, outcome(j), now, true);
}

/* Makes shard i final with a value or a trap. */
static void shard_final(sched_job *j, uint32_t i, bool trapped, int64_t value, const char *error,
                        uint32_t worker, uint64_t fuel, uint64_t elapsed_us)
{
    shard *sh = &j->shards[i];
    assert(sh->state == MESH_SHARD_QUEUED || sh->state == MESH_SHARD_LEASED);
    if (sh->state == MESH_SHARD_LEASED)
        j->info.leased--;
    sh->worker = worker;
    sh->fuel_used = fuel;
    sh->elapsed_us = elapsed_us;
    if (trapped) {
        sh->state = MESH_SHARD_TRAPPED;
        sh->error = strdup(error && *error ? error : "trap");
        j->info.trapped++;
    } else {
        sh->state = MESH_SHARD_DONE;
        sh->value = value;
        j->info.done++;
        add_value(j, value);
    }
    if (worker) {
        mesh_job_worker *w = &j->workers[worker - 1].w;
        w->shards++;
        w->fuel_used += fuel;
        w->elapsed_us += elapsed_us;
    }
}

int sched_start_job(sched *s, const mesh_job_id *id, const mesh_job_spec *spec, uint64_t created_ms,
                    uint64_t age_ms, const mesh_stored_result *stored, size_t nstored, uint64_t now,
                    char *err, size_t errlen)
{
    assert(spec->shards >= 1 && spec->shards <= MESH_MAX_SHARDS && spec->start < spec->end);
    if (sched_find(s, id))
        return err_set(err, errlen, "job id already in use");
    sched_job *j = calloc(1, sizeof *j);
    if (!j)
        return err_set(err, errlen, "out of memory");
    uint32_t total = spec->shards;
    j->info.id = *id;
    j->info.spec = *spec;
    j->info.status = MESH_JOB_RUNNING;
    j->info.created_ms = created_ms;
    j->info.total = total;
    j->t0 = now - (age_ms < now ? age_ms : now);
    uint64_t dl = spec->deadline_ms ? spec->deadline_ms : MESH_DEFAULT_DEADLINE_MS;
    j->deadline = age_ms >= dl ? now : j->t0 + dl;
    if (s->lease_ms)
        j->lease_ms = s->lease_ms;
    else
        j->lease_ms = dl / 2 > SCHED_LEASE_FLOOR_MS ? dl / 2 : SCHED_LEASE_FLOOR_MS;
    j->live_head = j->live_tail = NONE;
    j->shards = calloc(total, sizeof *j->shards);
    j->retry = calloc(total, sizeof *j->retry);
    if (!j->shards || !j->retry ||
        !grow((void **)&s->jobs, &s->capjobs, s->njobs + 1, sizeof *s->jobs) ||
        !grow((void **)&s->run, &s->caprun, s->nrun + 1, sizeof *s->run) ||
        !grow((void **)&s->dead, &s->capdead, s->njobs + s->ndead + 1, sizeof *s->dead)) {
        job_free(j);
        return err_set(err, errlen, "out of memory");
    }
    for (uint32_t i = 0; i < total; i++)
        j->shards[i].last = NONE;
    for (size_t k = 0; k < nstored; k++) {
        const mesh_stored_result *r = &stored[k];
        if (r->shard >= total || j->shards[r->shard].state != MESH_SHARD_QUEUED) {
            job_free(j);
            return err_set(err, errlen, "stored result for shard %u: %s", r->shard,
                           r->shard >= total ? "out of range" : "repeated");
        }
        uint32_t w = r->worker.len ? worker_slot(j, 0, &r->worker) : 0;
        shard_final(j, r->shard, r->trapped, r->value, r->error, w, 0, 0);
    }
    s->jobs[s->njobs++] = j;
    s->run[s->nrun++] = j;
    s->st.jobs_started++;
    if (j->info.done + j->info.trapped == total)
        job_end(s, j, outcome(j), now, true);
    else if (now >= j->deadline)
        job_end(s, j, outcome(j), now, true);
    return 0;
}

int sched_cancel_job(sched *s, const mesh_job_id *id, uint64_t now, char *err, size_t errlen)
{
    sched_job *j = sched_find(s, id);
    if (!j)
        return err_set(err, errlen, "unknown job");
    if (j->ended)
        return err_set(err, errlen, "job already ended (%s)", mesh_job_status_name(j->info.status));
    job_end(s, j, MESH_JOB_CANCELLED, now, true);
    return 0;
}

void sched_job_info(const sched_job *j, uint64_t now, mesh_job_info *out)
{
    *out = j->info;
    if (!j->ended)
        out->elapsed_ms = now > j->t0 ? now - j->t0 : 0;
}

bool sched_job_shard(const sched *s, const sched_job *j, uint32_t i, mesh_shard_info *out)
{
    if (i >= j->info.total)
        return false;
    const hl_node *holder = NULL;
    if (j->shards[i].state == MESH_SHARD_LEASED && j->shards[i].last != NONE)
        holder = health_by_id(s->reg, j->leases[j->shards[i].last].node);
    shard_info(j, i, holder, out);
    return true;
}

size_t sched_job_workers(const sched_job *j, mesh_job_worker *out, size_t max)
{
    for (uint32_t k = 0; k < j->nworkers && k < max; k++)
        out[k] = j->workers[k].w;
    return j->nworkers;
}

void sched_forget(sched *s, const mesh_job_id *id, uint64_t now)
{
    sched_job *j = sched_find(s, id);
    if (!j)
        return;
    if (!j->ended)
        job_end(s, j, MESH_JOB_CANCELLED, now, false);
    for (size_t k = 0; k < s->njobs; k++)
        if (s->jobs[k] == j) {
            s->jobs[k] = s->jobs[--s->njobs];
            break;
        }
    if (s->last == j)
        s->last = NULL;
    assert(s->ndead < s->capdead); /* reserved when the job started */
    s->dead[s->ndead++] = j;
}

void sched_collect(sched *s)
{
    for (size_t k = 0; k < s->ndead; k++)
        job_free(s->dead[k]);
    s->ndead = 0;
}

/* ---- results ----------------------------------------------------------------------------- */

static void drop(sched *s, sched_job *j)
{
    s->st.dropped++;
    if (j)
        j->info.dropped++;
}

static void sample(sched_job *j, uint64_t ms)
{
    j->samples[j->nsamples % SCHED_SAMPLES] = ms;
    j->nsamples++;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t median(const sched_job *j)
{
    uint64_t v[SCHED_SAMPLES];
    uint32_t n = j->nsamples < SCHED_SAMPLES ? j->nsamples : SCHED_SAMPLES;
    memcpy(v, j->samples, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_u64);
    return n ? v[n / 2] : 0;
}

static void quarantined(sched *s, hl_node *n, uint64_t now)
{
    /* a node out of play returns its leases now rather than at their expiry */
    sched_node_lost(s, n, false, now);
}

void sched_strike(sched *s, hl_node *n, uint64_t now)
{
    if (health_strike(s->reg, n, now))
        quarantined(s, n, now);
}

void sched_result(sched *s, hl_node *n, const Swarm__Task__Result *r, uint64_t now)
{
    mesh_job_id id;
    assert(r->job_id.len == MESH_JOB_ID_LEN);
    memcpy(id.b, r->job_id.data, MESH_JOB_ID_LEN);
    s->st.results++;
    n->last_seen = now;
    sched_job *j = sched_find(s, &id);
    if (!j || r->shard >= j->info.total) {
        drop(s, j);
        return;
    }
    shard *sh = &j->shards[r->shard];
    uint32_t li = sh->last;
    while (li != NONE && j->leases[li].attempt != r->attempt)
        li = j->leases[li].prev_of_shard;
    if (li == NONE || j->leases[li].node != n->id) {
        drop(s, j); /* never leased, or leased to someone else */
        return;
    }
    lease *l = &j->leases[li];
    bool was_live = l->live;
    if (was_live)
        live_unlink(s, j, li);
    switch (r->kind) {
    case SWARM__TASK__RESULT_KIND__VALUE:
    case SWARM__TASK__RESULT_KIND__TRAP: {
        bool trap = r->kind == SWARM__TASK__RESULT_KIND__TRAP;
        health_success(s->reg, n, r->fuel_used, now);
        if (sh->state == MESH_SHARD_DONE || sh->state == MESH_SHARD_TRAPPED) {
            j->info.duplicates++;
            s->st.duplicates++;
            return;
        }
        if (j->ended) {
            drop(s, j); /* too late: the outcome is out */
            return;
        }
        uint32_t w = worker_slot(j, n->id, &n->peer);
        if (sh->queued) { /* a late result of an expired lease; take it out of the queue */
            for (uint32_t k = 0; k < j->rlen; k++) {
                uint32_t pos = (j->rhead + k) % j->info.total;
                if (j->retry[pos] == r->shard) {
                    j->retry[pos] = j->retry[j->rhead];
                    j->rhead = (j->rhead + 1) % j->info.total;
                    j->rlen--;
                    break;
                }
            }
            sh->queued = false;
        }
        sample(j, now - l->sent);
        shard_final(j, r->shard, trap, r->value, r->error, w, r->fuel_used, r->elapsed_us);
        /* other copies (a backup) are wasted work now */
        for (uint32_t k = sh->last; k != NONE; k = j->leases[k].prev_of_shard)
            if (j->leases[k].live) {
                hl_node *o = health_by_id(s->reg, j->leases[k].node);
                live_unlink(s, j, k);
                if (o && o->connected && s->out.cancel)
                    s->out.cancel(s->out.user, o, &j->info.id, false, r->shard);
            }
        emit(s, MESH_GW_EV_SHARD, j, r->shard, n, now);
        end_if_complete(s, j, now);
        return;
    }
    case SWARM__TASK__RESULT_KIND__FAILED:
        if (was_live)
            requeue(j, r->shard);
        sched_strike(s, n, now);
        return;
    default: /* REFUSED, CANCELLED: no fault of the node's; another one takes the shard */
        if (was_live)
            requeue(j, r->shard);
        return;
    }
}

void sched_node_lost(sched *s, hl_node *n, bool lost, uint64_t now)
{
    bool had = false;
    for (size_t k = 0; k < s->nrun; k++) {
        sched_job *j = s->run[k];
        for (uint32_t li = j->live_head; li != NONE;) {
            uint32_t next = j->leases[li].next_live;
            if (j->leases[li].node == n->id) {
                live_unlink(s, j, li);
                requeue(j, j->leases[li].shard);
                had = true;
            }
            li = next;
        }
    }
    if (lost && had)
        sched_strike(s, n, now);
}

/* ---- time -------------------------------------------------------------------------------- */

/* Gives the oldest leases of a job with nothing queued a backup copy on another node. */
static void stragglers(sched *s, sched_job *j, uint64_t now)
{
    if (j->next_fresh < j->info.total || j->rlen || !j->nsamples || now < j->straggler_at)
        return;
    j->straggler_at = now + SCHED_STRAGGLER_EVERY_MS;
    uint64_t limit = SCHED_STRAGGLER_FACTOR * median(j);
    if (limit < SCHED_STRAGGLER_FLOOR_MS)
        limit = SCHED_STRAGGLER_FLOOR_MS;
    for (uint32_t li = j->live_head; li != NONE && now - j->leases[li].sent > limit;
         li = j->leases[li].next_live) {
        uint32_t i = j->leases[li].shard;
        if (j->shards[i].backup || j->shards[i].live != 1)
            continue;
        hl_node *best = NULL;
        for (size_t k = 0; k < s->reg->n; k++) {
            hl_node *o = s->reg->v[k];
            if (health_usable(o, now) && o->leased < SCHED_PIPELINE * o->slots &&
                !held(j, i, o->id) && (!best || o->leased * best->slots < best->leased * o->slots))
                best = o;
        }
        if (!best)
            return; /* nobody free: try again at the next check */
        j->shards[i].backup = true;
        s->st.backups++;
        make_lease(s, j, i, best, now);
        /* make_lease appended a lease: li's next_live is still valid */
    }
}

void sched_tick(sched *s, uint64_t now)
{
    for (size_t k = 0; k < s->nrun;) {
        sched_job *j = s->run[k];
        if (now >= j->deadline) {
            job_end(s, j, outcome(j), now, true); /* removes it from run */
            continue;
        }
        k++;
    }
    for (size_t k = 0; k < s->nrun; k++) {
        sched_job *j = s->run[k];
        while (j->live_head != NONE && j->leases[j->live_head].expires <= now) {
            uint32_t li = j->live_head;
            hl_node *n = health_by_id(s->reg, j->leases[li].node);
            live_unlink(s, j, li);
            requeue(j, j->leases[li].shard);
            s->st.expired++;
            if (n)
                sched_strike(s, n, now);
        }
    }
    health_tick(s->reg, now);
    for (size_t k = 0; k < s->nrun; k++)
        stragglers(s, s->run[k], now);
    sched_dispatch(s, now);
}

uint64_t sched_next_wakeup(const sched *s, uint64_t now)
{
    (void)now;
    uint64_t t = health_next_wakeup(s->reg);
    for (size_t k = 0; k < s->nrun; k++) {
        const sched_job *j = s->run[k];
        if (j->deadline < t)
            t = j->deadline;
        if (j->live_head != NONE) {
            if (j->leases[j->live_head].expires < t)
                t = j->leases[j->live_head].expires;
            if (j->next_fresh >= j->info.total && !j->rlen && j->nsamples) {
                uint64_t at =
                    j->straggler_at > j->leases[j->live_head].sent + SCHED_STRAGGLER_FLOOR_MS
                        ? j->straggler_at
                        : j->leases[j->live_head].sent + SCHED_STRAGGLER_FLOOR_MS;
                if (at < t)
                    t = at;
            }
        }
    }
    return t;
}

size_t sched_running(const sched *s)
{
    return s->nrun;
}

void sched_get_stats(const sched *s, sched_stats *out)
{
    *out = s->st;
}
