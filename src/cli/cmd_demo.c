/* cmd_demo.c - `swarm demo`: a gateway and a few workers on this machine (this binary run as
 * child processes, demo_procs.c), an example job across them through the REST API (the same
 * calls as `swarm submit`, job_client.c), the outcome with its per-worker breakdown, a check of
 * the value in-process (demo_check.c), then the mesh stays up until Ctrl-C (or ends at once with
 * --once / DEMO_ONCE=1) and every child is stopped. */
#define _GNU_SOURCE /* nftw */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "demo.h"
#include "demo_check.h"

static const char usage[] =
    "usage: swarm demo [--workers N] [--module M.wasm --range A..B] [--shards K]\n"
    "                  [--http ADDR:PORT] [--data-dir DIR] [--check-ms MS] [--once]\n"
    "\n"
    "Start a gateway and a few workers on this machine, run an example job across them and\n"
    "print the outcome: the value, the shards, the per-worker breakdown, and a check of the\n"
    "value against the same calls run here in-process. Then the mesh keeps running, with its\n"
    "dashboard, until Ctrl-C.\n"
    "\n"
    "  --workers N      worker processes (default 3, at most 64)\n"
    "  --module M.wasm  the job's module (default: examples/collatz.wasm, built in); its\n"
    "                   execute(start, end) is called per shard and the values summed\n"
    "  --range A..B     the job's range, half-open [A,B) (default 1..3000001; required with\n"
    "                   --module)\n"
    "  --shards K       shards (default four per worker slot)\n"
    "  --http ADDR:PORT the gateway's HTTP API and dashboard (default 127.0.0.1:3000, or a\n"
    "                   free port when 3000 is taken)\n"
    "  --data-dir DIR   keep the gateway's and the workers' folders and logs here (default: a\n"
    "                   temporary folder, removed at exit)\n"
    "  --check-ms MS    check the value over the whole range when that takes here less than\n"
    "                   MS by the workers' busy time (default 10000), else over the first\n"
    "                   shard's range (a second job)\n"
    "  --once           stop after the outcome (also DEMO_ONCE=1 in the environment)\n"
    "\n"
    "Exit status: 0 the job answered 200 and the check agreed; 1 otherwise, or a process did\n"
    "not start; 2 usage; 3 the module is invalid or has no function a job can call.\n";

#define DEFAULT_LO      1
#define DEFAULT_HI      3000001 /* about 3 s of one core: 1-2 s on 3 workers of 2 cores */
#define DEFAULT_HTTP    "127.0.0.1:3000"
#define JOB_DEADLINE_MS 600000
#define POLL_MS         100
#define PROGRESS_MS     250
#define STOP_GRACE_MS   10000 /* SIGTERM to SIGKILL */
#define CHECK_MS        10000 /* a whole-range check expected to take longer checks a part */
#define SHARDS_PER_SLOT 4

/* ---- small helpers ---------------------------------------------------------------------- */

static void on_signal(uv_signal_t *s, int signum)
{
    demo *d = s->data;
    if (!d->signal) {
        d->signal = signum;
        fprintf(stderr, "\nswarm demo: %s: stopping\n", strsignal(signum));
    }
    dp_wake(&d->procs);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0)
        fprintf(stderr, "swarm demo: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

/* The default address when its port is free, else port 0 (the gateway picks one). */
static const char *pick_http(const demo *d)
{
    if (!d->http_default)
        return d->http;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return d->http;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(3000)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool taken = bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0;
    close(fd);
    if (!taken)
        return d->http;
    printf("port 3000 on 127.0.0.1 is taken: the gateway takes a free port\n");
    return "127.0.0.1:0";
}

static int make_dir(demo *d)
{
    if (d->data_dir) {
        if (snprintf(d->dir, sizeof d->dir, "%s", d->data_dir) >= (int)sizeof d->dir - 64) {
            fprintf(stderr, "swarm demo: --data-dir: path too long\n");
            return -1;
        }
        if (mkdir(d->dir, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "swarm demo: cannot create %s: %s\n", d->dir, strerror(errno));
            return -1;
        }
        return 0;
    }
    const char *tmp = getenv("TMPDIR"); /* Termux has no /tmp */
    if (!tmp || !*tmp)
        tmp = "/tmp";
    if (snprintf(d->dir, sizeof d->dir, "%s/swarm-demo-XXXXXX", tmp) >= (int)sizeof d->dir - 64) {
        fprintf(stderr, "swarm demo: $TMPDIR is too long\n");
        return -1;
    }
    if (!mkdtemp(d->dir)) {
        fprintf(stderr, "swarm demo: cannot create a folder in %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    d->temp_dir = true;
    return 0;
}

/* ---- the job ------------------------------------------------------------------------------ */

/* Reads the job at path until it ends, printing its progress when asked. Returns 0 with the
 * outcome in *status and *answer, or -1 after printing why. */
static int follow(demo *d, const char *path, bool progress, int *status, buf_t *answer)
{
    uint64_t start = clock_mono_ms(), last = 0, give_up = start + JOB_DEADLINE_MS + 30000;
    double shown = -1;
    for (;;) {
        if (jc_call(&d->client, "GET", path, NULL, NULL, 0, status, answer) < 0)
            return -1;
        if (*status != 202)
            break;
        uint64_t now = clock_mono_ms();
        cJSON *doc = progress ? cJSON_Parse((const char *)answer->data) : NULL;
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(doc, "shards");
        double done = jc_num(sh, "done");
        if (doc && done != shown && now - last >= PROGRESS_MS) {
            printf("  running: %.0f/%.0f shards done, %.1f s\n", done, jc_num(sh, "total"),
                   (double)(now - start) / 1000);
            shown = done;
            last = now;
        }
        cJSON_Delete(doc);
        if (now > give_up) {
            fprintf(stderr, "swarm demo: the job is still running past its deadline (GET %s)\n",
                    path);
            return -1;
        }
        if (demo_should_stop(d))
            return -1;
        dp_pump(&d->procs, POLL_MS);
    }
    if (!jc_is_outcome(*status)) {
        jc_print_error(&d->client, "reading the job", *status, answer);
        return -1;
    }
    return 0;
}

/* Submits the job [lo, hi) in k shards and follows it. Returns SWARM_EXIT_OK with the outcome,
 * else the exit code after printing why. */
static int run_job(demo *d, int64_t lo, int64_t hi, uint64_t k, bool progress, int *status,
                   buf_t *answer)
{
    char hex[2 * MESH_HASH_LEN + 1], path[64];
    int rc = jc_upload(&d->client, d->wasm, d->wasm_len, hex);
    if (rc != SWARM_EXIT_OK)
        return rc;
    jc_spec spec = {.hash = hex,
                    .lo = lo,
                    .hi = hi,
                    .has_shards = true,
                    .shards = k,
                    .has_deadline = true,
                    .deadline_ms = JOB_DEADLINE_MS,
                    .reduce = "sum",
                    .entry = d->entry};
    rc = jc_submit(&d->client, &spec, path);
    if (rc != SWARM_EXIT_OK)
        return rc;
    if (progress)
        printf("submitted job %s\n", path + strlen("/api/v1/jobs/"));
    return follow(d, path, progress, status, answer) == 0 ? SWARM_EXIT_OK : SWARM_EXIT_RUNTIME;
}

/* The job document's value, exactly. */
static bool doc_value(const buf_t *answer, int64_t *v)
{
    char text[32], *end;
    const char *s = jc_raw_value((const char *)answer->data, text, sizeof text);
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s || *end || errno)
        return false;
    *v = x;
    return true;
}

/* Runs the shards of [lo, hi) here. Returns 0 with the sum, or -1 after printing why. */
static int local_sum(demo *d, int64_t lo, int64_t hi, uint32_t k, const cJSON *doc,
                     unsigned threads, int64_t *sum)
{
    dc_job job = {.module = d->module,
                  .entry = d->entry,
                  .abi64 = d->abi64,
                  .lo = lo,
                  .hi = hi,
                  .shards = k,
                  .threads = threads,
                  .fuel = (uint64_t)jc_num(doc, "fuel"),
                  .max_pages = (uint32_t)jc_num(doc, "max_pages")};
    char err[512];
    dc_run *r;
    if (dc_start(&job, &r, err, sizeof err) < 0) {
        fprintf(stderr, "swarm demo: check: %s\n", err);
        return -1;
    }
    while (!dc_done(r)) {
        if (demo_should_stop(d))
            dc_interrupt(r);
        dp_pump(&d->procs, 50);
    }
    if (dc_finish(r, sum, err, sizeof err) < 0) {
        fprintf(stderr, "swarm demo: check: the local run failed: %s\n", err);
        return -1;
    }
    return 0;
}

/* Checks the job's value against the same calls run here: over the whole range when that
 * takes less than --check-ms by the workers' busy time, else over the first shard's range (a
 * second, smaller job). Returns SWARM_EXIT_OK when they agree. */
static int check(demo *d, const buf_t *answer)
{
    cJSON *doc = cJSON_Parse((const char *)answer->data);
    const cJSON *w, *workers = cJSON_GetObjectItemCaseSensitive(doc, "workers");
    uint32_t k = (uint32_t)jc_num(cJSON_GetObjectItemCaseSensitive(doc, "shards"), "total");
    double busy = 0;
    cJSON_ArrayForEach(w, workers)
    {
        busy += jc_num(w, "busy_ms");
    }
    unsigned threads = uv_available_parallelism();
    threads = threads < 1 ? 1 : threads > DC_MAX_THREADS ? DC_MAX_THREADS : threads;
    int64_t lo = d->lo, hi = d->hi, want, got;
    int rc = SWARM_EXIT_RUNTIME;
    if (k == 0 || !doc_value(answer, &want)) {
        fprintf(stderr, "swarm demo: check: the job document has no shard count or value\n");
        goto out;
    }
    const char *what = "the whole range";
    buf_t sub;
    buf_init(&sub, JC_ANSWER_MAX);
    if (busy / threads >= (double)d->check_ms) {
        mesh_shard_range(d->lo, d->hi, k, 0, &lo, &hi);
        uint64_t len = (uint64_t)hi - (uint64_t)lo, sk = d->slots ? d->slots : 1;
        k = (uint32_t)(sk < len ? sk : len);
        int status;
        printf("check: the whole range would take about %.1f s here, not under %.1f s "
               "(--check-ms): checking [%" PRId64 ", %" PRId64 ") instead, on the mesh and here\n",
               busy / threads / 1000, (double)d->check_ms / 1000, lo, hi);
        if (run_job(d, lo, hi, k, false, &status, &sub) != SWARM_EXIT_OK || status != 200 ||
            !doc_value(&sub, &want)) {
            fprintf(stderr,
                    "swarm demo: check: the job over [%" PRId64 ", %" PRId64
                    ") did not answer 200 with a value\n",
                    lo, hi);
            buf_free(&sub);
            goto out;
        }
        what = "that range";
    }
    buf_free(&sub);
    uint64_t t0 = clock_mono_ms();
    if (local_sum(d, lo, hi, k, doc, threads, &got) < 0)
        goto out;
    printf("check: the same %" PRIu32 " calls over %s, run here in-process through wasm.h (%u "
           "threads, %.1f s), sum to %" PRId64 ": %s\n",
           k, what, threads, (double)(clock_mono_ms() - t0) / 1000, got,
           got == want ? "equal to the mesh's value" : "MISMATCH");
    if (got != want)
        fprintf(stderr,
                "swarm demo: check failed: the mesh says %" PRId64 ", this machine %" PRId64 "\n",
                want, got);
    else
        rc = SWARM_EXIT_OK;
out:
    cJSON_Delete(doc);
    return rc;
}

/* The job and its check, once the mesh is up. */
static int demo_job(demo *d)
{
    uint64_t len = (uint64_t)d->hi - (uint64_t)d->lo, k = d->shards;
    if (k == 0) {
        k = (uint64_t)SHARDS_PER_SLOT * (d->slots ? d->slots : d->workers);
        k = k < len ? k : len;
        k = k < MESH_MAX_SHARDS ? k : MESH_MAX_SHARDS;
    }
    printf("job: %s(start, end) of %s over [%" PRId64 ", %" PRId64 ") in %" PRIu64
           " shards, summed\n",
           d->entry, d->module_path ? d->module_path : "examples/collatz.wasm (built in)", d->lo,
           d->hi, k);
    int status;
    buf_t answer;
    buf_init(&answer, JC_ANSWER_MAX);
    int rc = run_job(d, d->lo, d->hi, k, true, &status, &answer);
    if (rc == SWARM_EXIT_OK) {
        printf("outcome:\n");
        jc_style style = {.short_ids = true, .label = demo_label, .user = d};
        jc_print_outcome((const char *)answer.data, status, &style);
        rc = status == 200 ? check(d, &answer) : SWARM_EXIT_RUNTIME;
    }
    buf_free(&answer);
    return rc;
}

/* ---- the run ------------------------------------------------------------------------------ */

static int run(demo *d)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    char err[512];
    d->http = pick_http(d);
    if (make_dir(d) < 0)
        return SWARM_EXIT_RUNTIME;
    if (uv_loop_init(&d->loop) != 0) {
        fprintf(stderr, "swarm demo: cannot make an event loop\n");
        return SWARM_EXIT_RUNTIME;
    }
    uv_signal_t *sigs[] = {&d->sigint, &d->sigterm, &d->sighup};
    int signums[] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&d->loop, sigs[i]);
        sigs[i]->data = d;
        uv_signal_start(sigs[i], on_signal, signums[i]);
    }
    int rc = SWARM_EXIT_RUNTIME;
    if (dp_init(&d->procs, &d->loop, err, sizeof err) < 0) {
        fprintf(stderr, "swarm demo: %s\n", err);
        goto close_signals;
    }
    d->client.cmd = "demo";
    printf("swarm demo: a gateway and %u worker%s on 127.0.0.1, folder %s\n", d->workers,
           d->workers == 1 ? "" : "s", d->dir);
    if (demo_start_gateway(d) == 0 && demo_start_workers(d) == 0)
        rc = demo_job(d);
    if (d->signal && rc == SWARM_EXIT_OK)
        rc = SWARM_EXIT_RUNTIME; /* interrupted before the end of the check */
    if (rc == SWARM_EXIT_OK) {
        if (d->once) {
            printf("dashboard: %s/ (--once: stopping now)\n", d->url);
        } else {
            printf("open %s/ to watch the mesh; Ctrl-C to stop\n", d->url);
            while (!demo_should_stop(d))
                dp_pump(&d->procs, 1000);
            if (d->child_lost)
                rc = SWARM_EXIT_RUNTIME;
        }
    }
    size_t n = dp_running(&d->procs);
    if (n)
        printf("stopping %zu processes\n", n);
    int killed = dp_stop_all(&d->procs, STOP_GRACE_MS);
    if (killed)
        fprintf(stderr, "swarm demo: %d processes did not stop within %d s: killed\n", killed,
                STOP_GRACE_MS / 1000);
    const dp_child *bad = dp_unclean_stop(&d->procs);
    if (bad) {
        /* a child that cannot stop cleanly is a bug worth failing for (sanitizer reports too) */
        fprintf(stderr, "swarm demo: %s did not stop cleanly\n", bad->name);
        demo_report_child(d, bad);
        rc = SWARM_EXIT_RUNTIME;
    }
    dp_close(&d->procs);
close_signals:
    for (int i = 0; i < 3; i++)
        uv_close((uv_handle_t *)sigs[i], NULL);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&d->loop) != 0)
        fprintf(stderr, "swarm demo: the event loop did not close\n");
    if (d->temp_dir) {
        nftw(d->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        printf("stopped; removed %s\n", d->dir);
    } else {
        printf("stopped; the gateway's store and the logs stay in %s\n", d->dir);
    }
    return rc;
}

/* Loads the module and picks its function, before anything starts. */
static int load_module(demo *d, uint8_t **owned)
{
    char err[512];
    size_t len = demo_module_wasm_len;
    *owned = NULL;
    d->wasm = demo_module_wasm;
    if (d->module_path) {
        if (util_read_file(d->module_path, MESH_MODULE_MAX, owned, &len, err, sizeof err) < 0) {
            fprintf(stderr, "swarm demo: %s\n", err);
            return SWARM_EXIT_RUNTIME;
        }
        d->wasm = *owned;
    }
    d->wasm_len = len;
    const char *name = d->module_path ? d->module_path : "the built-in example";
    wasm_error e;
    d->module = wasm_module_load(d->wasm, d->wasm_len, &e);
    if (!d->module) {
        if (e.has_offset)
            fprintf(stderr, "swarm demo: %s: %s module at byte %zu: %s\n", name,
                    wasm_status_name(e.status), e.offset, e.msg);
        else
            fprintf(stderr, "swarm demo: %s: %s\n", name, e.msg);
        return SWARM_EXIT_INVALID_MODULE;
    }
    if (dc_pick_entry(d->module, NULL, &d->entry, &d->abi64, err, sizeof err) < 0) {
        fprintf(stderr, "swarm demo: %s: %s\n", name, err);
        return SWARM_EXIT_INVALID_MODULE;
    }
    return SWARM_EXIT_OK;
}

/* Reads the options into d. Returns -1 to go on, else the exit code (help, usage error). */
static int parse(demo *d, int argc, char **argv)
{
    const char *v, *range = NULL;
    uint64_t n;
    cli_args a;
    cli_init(&a, "demo", usage, argc, argv);
    while (cli_next(&a)) {
        if (cli_help(&a) || cli_opt(&a, "--module", &d->module_path) ||
            cli_opt(&a, "--data-dir", &d->data_dir) || cli_flag(&a, "--once", &d->once))
            continue;
        if (cli_opt(&a, "--workers", &v)) {
            if (a.exit_code < 0 && cli_parse_u64(&a, "--workers", v, &n) &&
                (n < 1 || n > DEMO_MAX_WORKERS))
                cli_usage_error(&a, "--workers must be 1..%d", DEMO_MAX_WORKERS);
            else if (a.exit_code < 0)
                d->workers = (unsigned)n;
        } else if (cli_opt(&a, "--range", &range)) {
            if (a.exit_code < 0)
                cli_parse_range(&a, "--range", range, &d->lo, &d->hi);
        } else if (cli_opt(&a, "--shards", &v)) {
            if (a.exit_code < 0 && cli_parse_u64(&a, "--shards", v, &d->shards) &&
                (d->shards < 1 || d->shards > MESH_MAX_SHARDS))
                cli_usage_error(&a, "--shards must be 1..%d", MESH_MAX_SHARDS);
        } else if (cli_opt(&a, "--check-ms", &v)) {
            if (a.exit_code < 0)
                cli_parse_u64(&a, "--check-ms", v, &d->check_ms);
        } else if (cli_opt(&a, "--http", &v)) {
            if (a.exit_code < 0 && !strrchr(v, ':'))
                cli_usage_error(&a, "--http: expected ADDR:PORT, got '%s'", v);
            d->http = v;
            d->http_default = false;
        } else {
            cli_unknown(&a);
        }
    }
    if (a.exit_code >= 0)
        return a.exit_code;
    if (d->module_path && !range)
        return cli_usage_error(&a, "give the job's range with --module: --range A..B");
    if (range && d->lo == d->hi)
        return cli_usage_error(&a, "--range %s holds no values", range);
    if (d->shards && d->shards > (uint64_t)d->hi - (uint64_t)d->lo)
        return cli_usage_error(&a, "--shards: more shards than values in the range");
    const char *env = getenv("DEMO_ONCE");
    if (env && *env && strcmp(env, "0") != 0)
        d->once = true;
    return -1;
}

int cmd_demo(int argc, char **argv)
{
    demo *d = calloc(1, sizeof *d); /* large (the children's table): not on the stack */
    if (!d) {
        fprintf(stderr, "swarm demo: out of memory\n");
        return SWARM_EXIT_RUNTIME;
    }
    d->workers = 3;
    d->lo = DEFAULT_LO;
    d->hi = DEFAULT_HI;
    d->http = DEFAULT_HTTP;
    d->http_default = true;
    d->check_ms = CHECK_MS;
    uint8_t *owned = NULL;
    int rc = parse(d, argc, argv); /* -1: go on */
    if (rc < 0) {
        rc = load_module(d, &owned);
        if (rc == SWARM_EXIT_OK)
            rc = run(d);
    }
    if (d->module)
        wasm_module_free(d->module);
    free(owned);
    free(d);
    return rc;
}
