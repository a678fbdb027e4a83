/* test_mesh_sched.c - the gateway's scheduling core and health registry as pure logic over a
 * fake clock: retries to a different node, late results, backup copies only for stragglers,
 * duplicates and drops, outcomes, stored results, fairness between jobs, quarantine. */
#include "check.h"
#include "gw_sched.h"
#include "health.h"

#define MAXL 256

typedef struct {
    hl_node *node;
    sched_lease_msg m;
    mesh_job_id job;
} sent_lease;

typedef struct {
    sent_lease l[MAXL];
    int n, cancels, ends, shards;
    mesh_job_status last;
} rec;

static void on_lease(void *user, hl_node *n, const sched_lease_msg *m)
{
    rec *r = user;
    if (r->n < MAXL) {
        r->l[r->n].node = n;
        r->l[r->n].m = *m;
        r->l[r->n].job = *m->job;
        r->n++;
    }
}

static void on_cancel(void *user, hl_node *n, const mesh_job_id *job, bool all, uint32_t shard)
{
    (void)n, (void)job, (void)all, (void)shard;
    ((rec *)user)->cancels++;
}

static void on_event(void *user, const mesh_gw_event *ev)
{
    rec *r = user;
    if (ev->type == MESH_GW_EV_JOB_END) {
        r->ends++;
        r->last = ev->job->status;
    } else if (ev->type == MESH_GW_EV_SHARD)
        r->shards++;
}

typedef struct {
    health reg;
    sched *s;
    rec r;
    hl_node *n[4];
} world;

static void world_init(world *w, int nodes, uint32_t slots, uint64_t lease_ms)
{
    memset(w, 0, sizeof *w);
    health_init(&w->reg, 3, 1000, NULL, NULL);
    sched_out o = {on_lease, on_cancel, on_event, &w->r};
    w->s = sched_new(&w->reg, &o, lease_ms);
    for (int i = 0; i < nodes; i++) {
        p2p_peer_id p = {.len = 4, .b = {1, 2, 3, (uint8_t)i}};
        w->n[i] = health_connect(&w->reg, &p, slots, 1, "", "", 0);
    }
}

static void world_free(world *w)
{
    sched_free(w->s);
    health_free(&w->reg);
}

static mesh_job_id job(world *w, uint8_t b, uint32_t shards, int64_t end, uint64_t deadline,
                       uint64_t now)
{
    mesh_job_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.start = 0;
    spec.end = end;
    spec.shards = shards;
    spec.deadline_ms = deadline;
    snprintf(spec.entry, sizeof spec.entry, "execute");
    mesh_job_id id;
    memset(id.b, b, sizeof id.b);
    char err[128];
    CHECK(sched_start_job(w->s, &id, &spec, 0, 0, NULL, 0, now, err, sizeof err) == 0);
    return id;
}

/* Node n answers a lease (kind, value). */
static void answer(world *w, hl_node *n, const sent_lease *l, Swarm__Task__ResultKind kind,
                   int64_t value, uint64_t now)
{
    Swarm__Task__Result r = SWARM__TASK__RESULT__INIT;
    r.has_job_id = r.has_shard = r.has_attempt = r.has_kind = 1;
    r.job_id.data = (uint8_t *)l->job.b;
    r.job_id.len = MESH_JOB_ID_LEN;
    r.shard = l->m.shard;
    r.attempt = l->m.attempt;
    r.kind = kind;
    r.value = value;
    r.error = kind == SWARM__TASK__RESULT_KIND__TRAP ? "unreachable" : NULL;
    sched_result(w->s, n, &r, now);
}

static mesh_job_info info(world *w, const mesh_job_id *id, uint64_t now)
{
    mesh_job_info i;
    memset(&i, 0, sizeof i);
    sched_job *j = sched_find(w->s, id);
    CHECK(j != NULL);
    if (j)
        sched_job_info(j, now, &i);
    return i;
}

static void test_ranges_and_defaults(void)
{
    int64_t lo, hi;
    mesh_shard_range(0, 10, 3, 0, &lo, &hi);
    CHECK(lo == 0 && hi == 4);
    mesh_shard_range(0, 10, 3, 2, &lo, &hi);
    CHECK(lo == 7 && hi == 10);
    mesh_shard_range(INT64_MIN, INT64_MAX, 2, 1, &lo, &hi);
    CHECK_EQ(hi, INT64_MAX);
    world w;
    world_init(&w, 0, 1, 0);
    CHECK_EQ(sched_default_shards(w.s, 1000, 0), SCHED_SHARDS_NO_WORKER);
    CHECK_EQ(sched_default_shards(w.s, 2, 0), 2);
    world_free(&w);
    world_init(&w, 2, 3, 0);
    CHECK_EQ(sched_default_shards(w.s, 1000, 0), 24);
    CHECK_EQ(sched_default_shards(w.s, 5, 0), 5);
    world_free(&w);
}

/* A FAILED lease goes to the other node, never back; the failing node is struck. */
static void test_retry_elsewhere(void)
{
    world w;
    world_init(&w, 2, 1, 100);
    mesh_job_id id = job(&w, 1, 1, 10, 5000, 0);
    sched_dispatch(w.s, 0);
    CHECK_EQ(w.r.n, 1);
    hl_node *first = w.r.l[0].node, *other = first == w.n[0] ? w.n[1] : w.n[0];
    answer(&w, first, &w.r.l[0], SWARM__TASK__RESULT_KIND__FAILED, 0, 5);
    CHECK_EQ(first->strikes, 1);
    sched_dispatch(w.s, 5);
    CHECK_EQ(w.r.n, 2);
    CHECK(w.r.l[1].node == other);
    CHECK_EQ(w.r.l[1].m.attempt, 2);
    /* the other node lets it expire: nobody is left who has not held it */
    sched_tick(w.s, 200);
    CHECK_EQ(w.r.n, 2);
    CHECK_EQ(other->strikes, 1);
    /* a late value from the first holder of the expired lease still counts */
    answer(&w, other, &w.r.l[1], SWARM__TASK__RESULT_KIND__VALUE, 10, 250);
    mesh_job_info i = info(&w, &id, 250);
    CHECK_EQ(i.status, MESH_JOB_DONE);
    CHECK_EQ(i.value, 10);
    CHECK_EQ(i.retries, 1);
    /* and the failed holder's late value is a duplicate, not a second value */
    answer(&w, first, &w.r.l[0], SWARM__TASK__RESULT_KIND__VALUE, 999, 260);
    i = info(&w, &id, 260);
    CHECK_EQ(i.value, 10);
    CHECK_EQ(i.duplicates, 1);
    world_free(&w);
}

/* Drops: wrong attempt, unknown shard, unknown job, a node that never held the shard. */
static void test_drops(void)
{
    world w;
    world_init(&w, 2, 1, 0);
    mesh_job_id id = job(&w, 2, 2, 10, 5000, 0);
    sched_dispatch(w.s, 0);
    CHECK_EQ(w.r.n, 2);
    sent_lease bad = w.r.l[0];
    bad.m.attempt = 3;
    answer(&w, w.r.l[0].node, &bad, SWARM__TASK__RESULT_KIND__VALUE, 1000, 1);
    bad = w.r.l[0];
    bad.m.shard = 2;
    answer(&w, w.r.l[0].node, &bad, SWARM__TASK__RESULT_KIND__VALUE, 1000, 1);
    hl_node *stranger = w.r.l[0].node == w.n[0] ? w.n[1] : w.n[0];
    answer(&w, stranger, &w.r.l[0], SWARM__TASK__RESULT_KIND__VALUE, 1000, 1);
    bad = w.r.l[0];
    memset(bad.job.b, 9, sizeof bad.job.b);
    answer(&w, w.r.l[0].node, &bad, SWARM__TASK__RESULT_KIND__VALUE, 1000, 1);
    mesh_job_info i = info(&w, &id, 1);
    CHECK_EQ(i.dropped, 3);
    CHECK_EQ(i.done, 0);
    sched_stats st;
    sched_get_stats(w.s, &st);
    CHECK_EQ(st.dropped, 4);
    world_free(&w);
}

/* Backups: none in a healthy run; one for a straggler once nothing is queued. */
static void test_backups(void)
{
    world w;
    world_init(&w, 2, 2, 100000);
    mesh_job_id id = job(&w, 3, 8, 80, 100000, 0);
    uint64_t now = 0;
    sched_dispatch(w.s, now);
    CHECK_EQ(w.r.n, 8);
    /* everything but the last lease answers within 10 ms */
    for (int k = 0; k < 7; k++)
        answer(&w, w.r.l[k].node, &w.r.l[k], SWARM__TASK__RESULT_KIND__VALUE, 10, now += 1);
    sched_tick(w.s, now = 200); /* 200 < the 250 ms floor: no backup yet */
    CHECK_EQ(w.r.n, 8);
    uint64_t wake = sched_next_wakeup(w.s, now);
    CHECK(wake <= 300);
    sched_tick(w.s, now = 300);
    CHECK_EQ(w.r.n, 9);
    CHECK(w.r.l[8].node != w.r.l[7].node);
    CHECK_EQ(w.r.l[8].m.shard, w.r.l[7].m.shard);
    sched_tick(w.s, now = 1000); /* one backup per shard */
    CHECK_EQ(w.r.n, 9);
    answer(&w, w.r.l[8].node, &w.r.l[8], SWARM__TASK__RESULT_KIND__VALUE, 10, now += 1);
    CHECK_EQ(w.r.cancels, 1); /* the straggler's copy is stopped */
    answer(&w, w.r.l[7].node, &w.r.l[7], SWARM__TASK__RESULT_KIND__VALUE, 10, now += 1);
    mesh_job_info i = info(&w, &id, now);
    CHECK_EQ(i.status, MESH_JOB_DONE);
    CHECK_EQ(i.value, 80);
    CHECK_EQ(i.duplicates, 1);
    world_free(&w);

    /* a healthy run where every shard answers in about the same time: no copies */
    world_init(&w, 2, 1, 100000);
    id = job(&w, 4, 6, 60, 100000, 0);
    now = 0;
    sched_dispatch(w.s, now);
    for (int k = 0; k < w.r.n && k < 50; k++) {
        now += 100;
        sched_tick(w.s, now);
        answer(&w, w.r.l[k].node, &w.r.l[k], SWARM__TASK__RESULT_KIND__VALUE, 10, now);
        sched_dispatch(w.s, now);
    }
    i = info(&w, &id, now);
    CHECK_EQ(i.status, MESH_JOB_DONE);
    CHECK_EQ(w.r.n, 6);
    CHECK_EQ(i.duplicates, 0);
    world_free(&w);
}

/* Two jobs share a node's capacity evenly. */
static void test_fairness(void)
{
    world w;
    world_init(&w, 1, 2, 0);
    mesh_job_id a = job(&w, 5, 100, 100, 5000, 0);
    mesh_job_id b = job(&w, 6, 100, 100, 5000, 0);
    sched_dispatch(w.s, 0);
    CHECK_EQ(w.r.n, 4);
    int na = 0;
    for (int k = 0; k < w.r.n; k++)
        na += memcmp(w.r.l[k].job.b, a.b, MESH_JOB_ID_LEN) == 0;
    CHECK_EQ(na, 2);
    /* as results come back, the freed slots alternate between the jobs */
    for (int k = 0; k < 40; k++) {
        answer(&w, w.n[0], &w.r.l[k], SWARM__TASK__RESULT_KIND__VALUE, 1, (uint64_t)k + 1);
        sched_dispatch(w.s, (uint64_t)k + 1);
    }
    mesh_job_info ia = info(&w, &a, 50), ib = info(&w, &b, 50);
    CHECK_EQ(ia.done, 20);
    CHECK_EQ(ib.done, 20);
    world_free(&w);
}

/* Outcomes: traps fail the job; the deadline gives PARTIAL or TIMEOUT; stored results. */
static void test_outcomes(void)
{
    world w;
    world_init(&w, 1, 2, 0);
    mesh_job_id id = job(&w, 7, 2, 10, 5000, 0);
    sched_dispatch(w.s, 0);
    answer(&w, w.n[0], &w.r.l[0], SWARM__TASK__RESULT_KIND__TRAP, 0, 1);
    answer(&w, w.n[0], &w.r.l[1], SWARM__TASK__RESULT_KIND__VALUE, 5, 2);
    mesh_job_info i = info(&w, &id, 2);
    CHECK_EQ(i.status, MESH_JOB_FAILED);
    CHECK_EQ(i.trapped, 1);
    CHECK_EQ(w.n[0]->strikes, 0);
    mesh_shard_info si;
    CHECK(sched_job_shard(w.s, sched_find(w.s, &id), w.r.l[0].m.shard, &si));
    CHECK_STR_EQ(si.error, "unreachable");

    id = job(&w, 8, 4, 40, 1000, 10);
    sched_dispatch(w.s, 10);
    answer(&w, w.n[0], &w.r.l[2], SWARM__TASK__RESULT_KIND__VALUE, -3, 20);
    CHECK_EQ(sched_next_wakeup(w.s, 20), 260); /* a straggler check: nothing queued */
    sched_tick(w.s, 260);
    CHECK_EQ(w.r.n, 6); /* no other node to hold a backup */
    sched_tick(w.s, 1010);
    i = info(&w, &id, 1010);
    CHECK_EQ(i.status, MESH_JOB_PARTIAL);
    CHECK_EQ(i.missing, 3);
    CHECK_EQ(i.value, -3);
    CHECK_EQ(i.elapsed_ms, 1000);
    CHECK_EQ(w.r.cancels, 1); /* its live leases are stopped */
    CHECK_EQ(w.n[0]->leased, 0);

    id = job(&w, 9, 2, 10, 100, 2000);
    sched_tick(w.s, 2100);
    CHECK_EQ(info(&w, &id, 2100).status, MESH_JOB_TIMEOUT);
    world_free(&w);

    /* stored results: all there -> DONE at once; past the deadline -> ends at once */
    world_init(&w, 0, 1, 0);
    mesh_job_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.end = 4;
    spec.shards = 2;
    spec.deadline_ms = 1000;
    spec.reduce = MESH_REDUCE_MIN;
    mesh_stored_result st[2] = {{.shard = 1, .value = 7}, {.shard = 0, .value = -2}};
    char err[128];
    id.b[0] = 1;
    CHECK(sched_start_job(w.s, &id, &spec, 0, 10, st, 2, 100, err, sizeof err) == 0);
    i = info(&w, &id, 100);
    CHECK_EQ(i.status, MESH_JOB_DONE);
    CHECK_EQ(i.value, -2);
    id.b[0] = 2;
    CHECK(sched_start_job(w.s, &id, &spec, 0, 5000, st, 1, 100, err, sizeof err) == 0);
    i = info(&w, &id, 100);
    CHECK_EQ(i.status, MESH_JOB_PARTIAL);
    CHECK_EQ(i.missing, 1);
    CHECK_EQ(w.r.ends, 2);
    id.b[0] = 3;
    mesh_stored_result twice[2] = {{.shard = 1}, {.shard = 1}};
    CHECK(sched_start_job(w.s, &id, &spec, 0, 0, twice, 2, 100, err, sizeof err) == -1);
    CHECK(sched_start_job(w.s, &id, &spec, 0, 0, (mesh_stored_result[]){{.shard = 2}}, 1, 100, err,
                          sizeof err) == -1);
    CHECK(sched_find(w.s, &id) == NULL);
    sched_forget(w.s, &(mesh_job_id){{2}}, 100);
    world_free(&w);
}

/* Quarantine after strike_limit, doubling on relapse, strikes decay with good results. */
static void test_quarantine(void)
{
    health h;
    health_init(&h, 2, 100, NULL, NULL);
    p2p_peer_id p = {.len = 1, .b = {7}};
    hl_node *n = health_connect(&h, &p, 1, 1, "x", "y", 0);
    CHECK(!health_strike(&h, n, 0));
    for (int k = 0; k < HEALTH_DECAY_RESULTS; k++)
        health_success(&h, n, 1, 1);
    CHECK_EQ(n->strikes, 0);
    CHECK(!health_strike(&h, n, 10));
    CHECK(health_strike(&h, n, 10));
    CHECK(!health_usable(n, 10));
    CHECK_EQ(health_next_wakeup(&h), 110);
    CHECK_EQ(health_tick(&h, 109), 0);
    CHECK_EQ(health_tick(&h, 110), 1);
    CHECK(health_usable(n, 110));
    CHECK_EQ(n->strikes, 0);
    health_strike(&h, n, 200);
    CHECK(health_strike(&h, n, 200));
    CHECK_EQ(n->quarantine_until, 400); /* doubled */
    health_disconnect(&h, n, 250);
    hl_node *again = health_connect(&h, &p, 1, 1, "", "", 260);
    CHECK(again == n && !health_usable(n, 260)); /* reconnecting does not end it */
    mesh_node_info ni;
    health_info(n, 300, &ni);
    CHECK_EQ(ni.state, MESH_NODE_QUARANTINED);
    CHECK_EQ(ni.quarantine_left_ms, 100);
    CHECK_EQ(ni.quarantines, 2);
    health_tick(&h, 400);
    health_disconnect(&h, n, 500);
    health_tick(&h, 500 + HEALTH_GONE_KEEP_MS);
    CHECK(health_find(&h, &p) == NULL); /* gone long enough: forgotten */
    health_free(&h);
}

int main(void)
{
    test_ranges_and_defaults();
    test_retry_elsewhere();
    test_drops();
    test_backups();
    test_fairness();
    test_outcomes();
    test_quarantine();
    return CHECK_DONE();
}
