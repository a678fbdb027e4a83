/* test_mesh_gw.c - a real mesh_gw on a p2p host, with test workers (p2p hosts plus wire.c) on
 * the same loop over loopback sockets: jobs end to end, forged and duplicate results, stalls
 * and quarantine, lost workers, traps, cancel, deadlines, and the module protocol. */
#include "check.h"
#include "mesh_net.h"

/* Two workers, 40 shards: the right sum, every worker got shards, none computed twice. */
static void test_end_to_end(void)
{
    mn_gateway m;
    mn_gw_start(&m, NULL);
    uint32_t runs[40] = {0};
    mn_worker a, b;
    CHECK(mn_worker_start(&a, &m, 2, MN_OK) == 0);
    CHECK(mn_worker_start(&b, &m, 2, MN_OK) == 0);
    a.runs = b.runs = runs;
    a.nruns = b.nruns = 40;
    MN_WAIT_FOR(mesh_gw_nodes(m.g, NULL, 0) == 2, 2000);
    mesh_job_id id;
    CHECK(mn_job(&m, 1, 0, 1000, 40, 5000, MESH_REDUCE_SUM, &id) == 0);
    mesh_job_info info;
    CHECK(mn_wait_job(&m, &id, 5000, &info));
    CHECK_EQ(info.status, MESH_JOB_DONE);
    CHECK_EQ(info.value, 1000);
    CHECK_EQ(info.done, 40);
    CHECK_EQ(info.duplicates, 0);
    CHECK_EQ(info.dropped, 0);
    CHECK_EQ(info.retries, 0);
    CHECK(a.answered > 0 && b.answered > 0);
    for (int i = 0; i < 40; i++)
        CHECK_EQ(runs[i], 1);
    mesh_job_worker ws[4];
    CHECK_EQ(mesh_gw_job_workers(m.g, &id, ws, 4), 2);
    CHECK_EQ(ws[0].shards + ws[1].shards, 40);
    CHECK_EQ(m.shard_events, 40);
    CHECK_EQ(m.ends, 1);
    mesh_shard_info si;
    CHECK(mesh_gw_job_shard(m.g, &id, 39, &si));
    CHECK_EQ(si.state, MESH_SHARD_DONE);
    CHECK_EQ(si.lo, 975);
    CHECK_EQ(si.hi, 1000);
    CHECK_EQ(si.value, 25);
    CHECK_EQ(si.attempts, 1);
    mesh_gw_stats st;
    mesh_gw_get_stats(m.g, &st);
    CHECK_EQ(st.jobs_done, 1);
    CHECK_EQ(st.leases, 40);
    CHECK_EQ(st.workers_healthy, 2);
    CHECK_EQ(st.slots_total, 4);
    mesh_gw_forget_job(m.g, &id);
    CHECK(!mesh_gw_job(m.g, &id, &info));
    mn_worker_stop(&a);
    mn_worker_stop(&b);
    mn_gw_stop(&m);
}

int main(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    mn_loop = &loop;
    test_end_to_end();
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(uv_loop_close(&loop) == 0);
    return CHECK_DONE();
}
