/* The mesh's shared small rules (src/mesh/job.c) and its wire (src/mesh/wire.c): shard ranges
 * cover the range exactly, job ids and names round-trip, the frame reader reassembles frames
 * split anywhere and refuses oversized ones, and the decoders refuse every malformed field. */
#include <sodium.h>
#include <stdlib.h>

#include "check.h"
#include "wire.h"

static void test_shard_ranges(void)
{
    static const struct {
        int64_t a, b;
        uint32_t n;
    } cases[] = {
        {0, 10, 3}, {0, 10, 10}, {-7, 5, 4}, {0, 1000003, 64}, {INT64_MIN, INT64_MAX, 7}, {5, 6, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t prev = cases[c].a, lo, hi;
        uint64_t minlen = UINT64_MAX, maxlen = 0;
        for (uint32_t i = 0; i < cases[c].n; i++) {
            mesh_shard_range(cases[c].a, cases[c].b, cases[c].n, i, &lo, &hi);
            CHECK_EQ(lo, prev); /* contiguous */
            CHECK(hi > lo);
            uint64_t len = (uint64_t)hi - (uint64_t)lo;
            minlen = len < minlen ? len : minlen;
            maxlen = len > maxlen ? len : maxlen;
            prev = hi;
        }
        CHECK_EQ(prev, cases[c].b); /* covers the whole range */
        CHECK(maxlen - minlen <= 1);
    }
    int64_t lo, hi;
    mesh_shard_range(0, 10, 3, 0, &lo, &hi);
    CHECK(lo == 0 && hi == 4); /* the remainder goes to the first shards */
    mesh_shard_range(0, 10, 3, 2, &lo, &hi);
    CHECK(lo == 7 && hi == 10);
}

static void test_names(void)
{
    mesh_reduce op;
    for (int i = MESH_REDUCE_SUM; i <= MESH_REDUCE_COLLECT; i++) {
        CHECK_EQ(mesh_reduce_parse(mesh_reduce_name((mesh_reduce)i), &op), 0);
        CHECK_EQ(op, i);
    }
    CHECK_EQ(mesh_reduce_parse("avg", &op), -1);
    CHECK(mesh_reduce_name((mesh_reduce)99) == NULL);
    CHECK_EQ(mesh_job_status_http(MESH_JOB_DONE), 200);
    CHECK_EQ(mesh_job_status_http(MESH_JOB_PARTIAL), 206);
    CHECK_EQ(mesh_job_status_http(MESH_JOB_TIMEOUT), 504);
    CHECK_EQ(mesh_job_status_http(MESH_JOB_FAILED), 422);
    CHECK_EQ(mesh_job_status_http(MESH_JOB_RUNNING), 202);
    CHECK_STR_EQ(mesh_job_status_name(MESH_JOB_PARTIAL), "partial");
    CHECK_STR_EQ(mesh_shard_state_name(MESH_SHARD_TRAPPED), "trapped");
    CHECK_STR_EQ(mesh_node_state_name(MESH_NODE_QUARANTINED), "quarantined");

    mesh_job_id id = {{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}}, back;
    char s[2 * MESH_JOB_ID_LEN + 1];
    mesh_job_id_str(&id, s);
    CHECK_STR_EQ(s, "0123456789abcdef");
    CHECK_EQ(mesh_job_id_parse("0123456789ABCDEF", &back), 0);
    CHECK_MEM_EQ(back.b, id.b, MESH_JOB_ID_LEN);
    CHECK_EQ(mesh_job_id_parse("0123456789abcde", &back), -1);
    CHECK_EQ(mesh_job_id_parse("0123456789abcdeg", &back), -1);
    CHECK_EQ(mesh_job_id_parse("0123456789abcdef0", &back), -1);
}

static uint8_t job[MESH_JOB_ID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
static uint8_t hash[MESH_HASH_LEN];

static void fill_lease(Swarm__Task__Lease *l)
{
    swarm__task__lease__init(l);
    l->has_job_id = l->has_shard = l->has_attempt = l->has_start = l->has_end = 1;
    l->job_id = (ProtobufCBinaryData){sizeof job, job};
    l->shard = 3;
    l->attempt = 1;
    l->start = -5;
    l->end = 5;
    l->has_module_hash = 1;
    l->module_hash = (ProtobufCBinaryData){sizeof hash, hash};
    l->entry = "execute";
}

/* Frames f, then decodes it (NULL if refused; msg gets the reason). */
static Swarm__Task__TaskFrame *round_trip(const Swarm__Task__TaskFrame *f, char *msg, size_t n)
{
    buf_t out;
    buf_init(&out, 0);
    CHECK_EQ(wire_put_task(&out, f), 0);
    wire_reader r;
    wire_reader_init(&r, WIRE_TASK_FRAME_MAX);
    const uint8_t *body;
    size_t len;
    Swarm__Task__TaskFrame *g = NULL;
    msg[0] = '\0';
    if (wire_reader_feed(&r, out.data, out.len, msg, n) == 0 &&
        wire_reader_next(&r, &body, &len, msg, n) == 1)
        g = wire_decode_task(body, len, msg, n);
    wire_reader_free(&r);
    buf_free(&out);
    return g;
}

static void test_task_checks(void)
{
    Swarm__Task__Lease l;
    Swarm__Task__Lease *lp = &l;
    Swarm__Task__TaskFrame f;
    swarm__task__task_frame__init(&f);
    f.n_leases = 1;
    f.leases = &lp;
    char msg[256];

    fill_lease(&l);
    Swarm__Task__TaskFrame *g = round_trip(&f, msg, sizeof msg);
    CHECK(g != NULL);
    if (g) {
        CHECK_EQ(g->n_leases, 1);
        CHECK_EQ(g->leases[0]->start, -5);
        CHECK_STR_EQ(g->leases[0]->entry, "execute");
        swarm__task__task_frame__free_unpacked(g, NULL);
    }
    /* each broken field is refused with a message that names it */
    static const struct {
        int what;
        const char *msg;
    } bad[] = {{0, "job_id"}, {1, "range"}, {2, "attempt"}, {3, "module_hash"},
               {4, "entry"},  {5, "entry"}, {6, "range"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fill_lease(&l);
        char big[MESH_ENTRY_MAX + 1];
        switch (bad[i].what) {
        case 0:
            l.job_id.len = 7;
            break;
        case 1:
            l.end = l.start;
            break;
        case 2:
            l.attempt = 0;
            break;
        case 3:
            l.module_hash.len = 31;
            break;
        case 4:
            l.entry = "";
            break;
        case 5:
            memset(big, 'a', sizeof big - 1);
            big[sizeof big - 1] = '\0';
            l.entry = big;
            break;
        case 6:
            l.has_end = 0;
            break;
        }
        g = round_trip(&f, msg, sizeof msg);
        CHECK(g == NULL);
        if (!check_report_(strstr(msg, bad[i].msg) != NULL, __FILE__, __LINE__, bad[i].msg))
            fprintf(stderr, "    case %zu: \"%s\"\n", i, msg);
        if (g)
            swarm__task__task_frame__free_unpacked(g, NULL);
    }

    /* results: a VALUE needs its value; unknown kinds are refused; errors are bounded */
    Swarm__Task__Result res, *rp = &res;
    swarm__task__task_frame__init(&f);
    f.n_results = 1;
    f.results = &rp;
    swarm__task__result__init(&res);
    res.has_job_id = res.has_shard = res.has_attempt = res.has_kind = 1;
    res.job_id = (ProtobufCBinaryData){sizeof job, job};
    res.attempt = 1;
    res.kind = SWARM__TASK__RESULT_KIND__VALUE;
    g = round_trip(&f, msg, sizeof msg);
    CHECK(g == NULL && strstr(msg, "needs value"));
    res.has_value = 1;
    res.value = INT64_MIN;
    g = round_trip(&f, msg, sizeof msg);
    CHECK(g != NULL);
    if (g) {
        CHECK_EQ(g->results[0]->value, INT64_MIN);
        swarm__task__task_frame__free_unpacked(g, NULL);
    }
    res.kind = (Swarm__Task__ResultKind)9;
    g = round_trip(&f, msg, sizeof msg);
    /* protobuf-c drops an unknown enum value... or we refuse it: either way not a VALUE */
    CHECK(g == NULL || g->results[0]->kind != (Swarm__Task__ResultKind)9);
    if (g)
        swarm__task__task_frame__free_unpacked(g, NULL);
    res.kind = SWARM__TASK__RESULT_KIND__TRAP;
    char long_err[WIRE_ERROR_MAX + 2];
    memset(long_err, 'e', sizeof long_err - 1);
    long_err[sizeof long_err - 1] = '\0';
    res.error = long_err;
    g = round_trip(&f, msg, sizeof msg);
    CHECK(g == NULL && strstr(msg, "error longer"));

    /* hello: slots 1..4096 */
    Swarm__Task__Hello h;
    swarm__task__hello__init(&h);
    swarm__task__task_frame__init(&f);
    f.hello = &h;
    g = round_trip(&f, msg, sizeof msg);
    CHECK(g == NULL && strstr(msg, "slots"));
    h.has_slots = 1;
    h.slots = 8;
    g = round_trip(&f, msg, sizeof msg);
    CHECK(g != NULL);
    if (g)
        swarm__task__task_frame__free_unpacked(g, NULL);

    /* garbage is refused, not crashed on */
    static const uint8_t junk[] = {0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00};
    CHECK(wire_decode_task(junk, sizeof junk, msg, sizeof msg) == NULL);
    CHECK(strstr(msg, "TaskFrame") != NULL);
}

/* Two frames fed one byte at a time come out whole and in order; a frame over the reader's
 * limit is refused from its prefix alone. */
static void test_reader(void)
{
    buf_t out;
    buf_init(&out, 0);
    Swarm__Task__Cancel c, *cp = &c;
    Swarm__Task__TaskFrame f;
    swarm__task__task_frame__init(&f);
    swarm__task__cancel__init(&c);
    c.has_job_id = 1;
    c.job_id = (ProtobufCBinaryData){sizeof job, job};
    f.n_cancels = 1;
    f.cancels = &cp;
    CHECK_EQ(wire_put_task(&out, &f), 0);
    c.has_shard = 1;
    c.shard = 77;
    CHECK_EQ(wire_put_task(&out, &f), 0);

    wire_reader r;
    wire_reader_init(&r, 64);
    char msg[256];
    int got = 0;
    for (size_t i = 0; i < out.len; i++) {
        CHECK_EQ(wire_reader_feed(&r, out.data + i, 1, msg, sizeof msg), 0);
        const uint8_t *body;
        size_t len;
        while (wire_reader_next(&r, &body, &len, msg, sizeof msg) == 1) {
            Swarm__Task__TaskFrame *g = wire_decode_task(body, len, msg, sizeof msg);
            CHECK(g != NULL);
            if (g) {
                CHECK_EQ(g->cancels[0]->has_shard, got == 1);
                swarm__task__task_frame__free_unpacked(g, NULL);
            }
            got++;
        }
    }
    CHECK_EQ(got, 2);
    CHECK_EQ(r.acc.len - r.consumed, 0);
    wire_reader_free(&r);

    wire_reader_init(&r, 64);
    uint8_t prefix[] = {0xc1, 0x01}; /* 193 */
    CHECK_EQ(wire_reader_feed(&r, prefix, sizeof prefix, msg, sizeof msg), 0);
    const uint8_t *body;
    size_t len;
    CHECK_EQ(wire_reader_next(&r, &body, &len, msg, sizeof msg), -1);
    CHECK(strstr(msg, "over the limit") != NULL);
    wire_reader_free(&r);
    /* the reader never holds more than a maximal frame */
    wire_reader_init(&r, 64);
    uint8_t big[200] = {0};
    CHECK_EQ(wire_reader_feed(&r, big, sizeof big, msg, sizeof msg), -1);
    wire_reader_free(&r);
    buf_free(&out);
}

static void test_module_checks(void)
{
    static const uint8_t wasm[] = {0, 'a', 's', 'm', 1, 0, 0, 0};
    uint8_t h[MESH_HASH_LEN];
    crypto_hash_sha256(h, wasm, sizeof wasm);
    Swarm__Module__ModuleResponse m;
    swarm__module__module_response__init(&m);
    m.has_hash = m.has_wasm = 1;
    m.hash = (ProtobufCBinaryData){sizeof h, h};
    m.wasm = (ProtobufCBinaryData){sizeof wasm, (uint8_t *)wasm};
    buf_t out;
    buf_init(&out, 0);
    CHECK_EQ(wire_put_module_response(&out, &m), 0);
    char msg[256];
    Swarm__Module__ModuleResponse *g =
        wire_decode_module_response(out.data + 1, out.len - 1, msg, sizeof msg);
    CHECK(g != NULL);
    if (g) {
        CHECK_EQ(g->wasm.len, sizeof wasm);
        swarm__module__module_response__free_unpacked(g, NULL);
    }
    h[0] ^= 1; /* the bytes no longer match the hash */
    buf_clear(&out);
    CHECK_EQ(wire_put_module_response(&out, &m), 0);
    g = wire_decode_module_response(out.data + 1, out.len - 1, msg, sizeof msg);
    CHECK(g == NULL && strstr(msg, "do not match"));
    m.has_wasm = 0; /* neither bytes nor an error */
    buf_clear(&out);
    CHECK_EQ(wire_put_module_response(&out, &m), 0);
    g = wire_decode_module_response(out.data + 1, out.len - 1, msg, sizeof msg);
    CHECK(g == NULL && strstr(msg, "error"));
    m.error = "unknown module";
    buf_clear(&out);
    CHECK_EQ(wire_put_module_response(&out, &m), 0);
    g = wire_decode_module_response(out.data + 1, out.len - 1, msg, sizeof msg);
    CHECK(g != NULL && g->error && strcmp(g->error, "unknown module") == 0);
    if (g)
        swarm__module__module_response__free_unpacked(g, NULL);

    Swarm__Module__ModuleRequest q;
    swarm__module__module_request__init(&q);
    q.has_hash = 1;
    q.hash = (ProtobufCBinaryData){16, h};
    buf_clear(&out);
    CHECK_EQ(wire_put_module_request(&out, &q), 0);
    Swarm__Module__ModuleRequest *qq =
        wire_decode_module_request(out.data + 1, out.len - 1, msg, sizeof msg);
    CHECK(qq == NULL && strstr(msg, "32 bytes"));
    buf_free(&out);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_shard_ranges();
    test_names();
    test_task_checks();
    test_reader();
    test_module_checks();
    return CHECK_DONE();
}
