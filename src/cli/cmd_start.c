/* cmd_start.c - `swarm start` (alias `swarm worker`): a worker on a host, thin over
 * mesh_worker. One line per event on stdout (JSON lines with --json), errors on stderr; SIGINT
 * or SIGTERM close the worker (running shards interrupted), then the host, then exit 0. */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mesh.h"
#include "node_json.h"

static const char usage[] =
    "usage: swarm start [--shard N] [--bootstrap MULTIADDR]... [--threads N] [--trust PEERID]...\n"
    "                   [--data-dir DIR] [--listen MULTIADDR] [--mesh NAME] [--json]\n"
    "       (alias: swarm worker)\n"
    "\n"
    "Run a worker: dial the gateway, take shard leases and run them in the wasm sandbox.\n"
    "Runs shards only for gateways it trusts: the peer id in --bootstrap .../p2p/ID or --trust.\n"
    "\n"
    "  --shard N              this worker's label, for people (kept from v0.10)\n"
    "  --bootstrap MULTIADDR  gateway to dial (repeatable; at least one)\n"
    "  --threads N            wasm execution threads = shard slots (default: number of cores)\n"
    "  --trust PEERID         also trust this gateway id (repeatable)\n"
    "  --data-dir DIR         key and module cache (default $SWARM_HOME or ~/.swarm)\n"
    "  --listen MULTIADDR     also listen here (default: no listener)\n"
    "  --mesh NAME            mesh name of the gossip topics (default \"default\")\n"
    "  --json                 one JSON object per line instead of text\n"
    "\n"
    "Exit status: 0 after SIGINT/SIGTERM, 1 runtime failure, 2 usage.\n";

#define MAX_LIST 64

typedef struct {
    const char *label, *data_dir, *listen, *mesh;
    const char *bootstrap[MAX_LIST];
    size_t nbootstrap;
    p2p_peer_id trust[MAX_LIST];
    size_t ntrust;
    uint64_t threads;
    bool json;
} start_opts;

typedef struct {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    p2p_host *host;
    mesh_worker *worker;
    const start_opts *o;
    bool closing;
} worker_app;

static const char *event_name[] = {
    [MESH_WK_EV_CONNECTED] = "connected", [MESH_WK_EV_GONE] = "gone",
    [MESH_WK_EV_REFUSED] = "refused",     [MESH_WK_EV_SHARD] = "shard",
    [MESH_WK_EV_MODULE] = "module",       [MESH_WK_EV_ERROR] = "error",
};

static void print_json(const mesh_worker_event *ev)
{
    nj_line j;
    nj_begin(&j, event_name[ev->type]);
    char id[P2P_PEER_ID_STRLEN];
    if (ev->peer && ev->peer->len)
        nj_str(&j, "peer", p2p_peer_id_str(ev->peer, id));
    if (ev->message)
        nj_str(&j, "message", ev->message);
    if (ev->type == MESH_WK_EV_SHARD) {
        char job[2 * MESH_JOB_ID_LEN + 1];
        mesh_job_id_str(ev->job, job);
        nj_str(&j, "job", job);
        nj_int(&j, "shard", ev->shard);
        nj_int(&j, "start", ev->start);
        nj_int(&j, "end", ev->end);
        if (ev->ok)
            nj_int(&j, "value", ev->value);
        else
            nj_str(&j, "error", ev->error);
        nj_int(&j, "fuel", (int64_t)ev->fuel_used);
        nj_num(&j, "ms", (double)ev->elapsed_us / 1000.0);
    }
    nj_end(&j, stdout);
}

static void print_text(const mesh_worker_event *ev)
{
    char id[P2P_PEER_ID_STRLEN] = "";
    if (ev->peer && ev->peer->len)
        p2p_peer_id_str(ev->peer, id);
    switch (ev->type) {
    case MESH_WK_EV_CONNECTED:
        printf("worker: connected to gateway %s\n", id);
        break;
    case MESH_WK_EV_GONE:
        printf("worker: gateway %s gone (%s); reconnecting\n", id, ev->message);
        break;
    case MESH_WK_EV_REFUSED:
        printf("worker: refused %s: %s\n", id, ev->message);
        break;
    case MESH_WK_EV_MODULE:
        printf("worker: %s\n", ev->message);
        break;
    case MESH_WK_EV_ERROR:
        fprintf(stderr, "swarm start: %s\n", ev->message);
        break;
    case MESH_WK_EV_SHARD: {
        char job[2 * MESH_JOB_ID_LEN + 1];
        mesh_job_id_str(ev->job, job);
        if (ev->ok)
            printf("worker: shard %u of job %s [%lld,%lld) = %lld (fuel %llu, %.1f ms)\n",
                   ev->shard, job, (long long)ev->start, (long long)ev->end, (long long)ev->value,
                   (unsigned long long)ev->fuel_used, (double)ev->elapsed_us / 1000.0);
        else
            printf("worker: shard %u of job %s [%lld,%lld) failed: %s (fuel %llu, %.1f ms)\n",
                   ev->shard, job, (long long)ev->start, (long long)ev->end, ev->error,
                   (unsigned long long)ev->fuel_used, (double)ev->elapsed_us / 1000.0);
        break;
    }
    }
}

static void on_event(mesh_worker *w, const mesh_worker_event *ev, void *user)
{
    (void)w;
    worker_app *app = user;
    if (app->o->json && ev->type != MESH_WK_EV_ERROR)
        print_json(ev);
    else if (app->o->json)
        fprintf(stderr, "swarm start: %s\n", ev->message);
    else
        print_text(ev);
}

static void on_host_event(p2p_host *h, const p2p_event *ev, void *user)
{
    (void)h;
    (void)user;
    if (ev->type == P2P_EV_LISTENING) {
        char a[256], id[P2P_PEER_ID_STRLEN];
        p2p_maddr_cstr(ev->addr, a, sizeof a);
        fprintf(stderr, "swarm start: listening on %s/p2p/%s\n", a, p2p_peer_id_str(ev->peer, id));
    }
}

static void on_host_closed(void *user)
{
    ((worker_app *)user)->host = NULL;
}

static void on_worker_closed(void *user)
{
    worker_app *app = user;
    app->worker = NULL;
    p2p_host_close(app->host, on_host_closed, app);
}

static void shutdown_app(worker_app *app)
{
    if (app->closing)
        return;
    app->closing = true;
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    if (app->worker)
        mesh_worker_close(app->worker, on_worker_closed, app);
    else if (app->host)
        p2p_host_close(app->host, on_host_closed, app);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    shutdown_app(s->data);
}

static int run(const start_opts *o, const p2p_key *key, const char *data_dir)
{
    worker_app app;
    memset(&app, 0, sizeof app);
    app.o = o;
    if (uv_loop_init(&app.loop) != 0) {
        fprintf(stderr, "swarm start: cannot make an event loop\n");
        return SWARM_EXIT_RUNTIME;
    }
    uv_signal_init(&app.loop, &app.sigint);
    uv_signal_init(&app.loop, &app.sigterm);
    app.sigint.data = app.sigterm.data = &app;
    int rc = SWARM_EXIT_OK;
    char err[512];
    p2p_host_config hc;
    p2p_host_config_default(&hc);
    hc.key = key;
    hc.max_conns = 64;
    if (p2p_host_new(&app.loop, &hc, on_host_event, &app, &app.host, err, sizeof err) != 0) {
        app.host = NULL;
        goto fail;
    }
    if (o->listen && p2p_host_listen(app.host, o->listen, err, sizeof err) != 0)
        goto fail;
    char cache[4200];
    snprintf(cache, sizeof cache, "%s/modules", data_dir);
    mesh_worker_config wc;
    mesh_worker_config_default(&wc);
    wc.loop = &app.loop;
    wc.host = app.host;
    wc.bootstrap = o->bootstrap;
    wc.nbootstrap = o->nbootstrap;
    wc.trust = o->trust;
    wc.ntrust = o->ntrust;
    wc.threads = (unsigned)o->threads;
    wc.label = o->label;
    if (o->mesh)
        wc.mesh = o->mesh;
    wc.cache_dir = cache;
    wc.on_event = on_event;
    wc.user = &app;
    if (mesh_worker_new(&wc, &app.worker, err, sizeof err) != 0) {
        app.worker = NULL;
        goto fail;
    }
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    goto drain;
fail:
    fprintf(stderr, "swarm start: %s\n", err);
    rc = SWARM_EXIT_RUNTIME;
    shutdown_app(&app);
drain:
    uv_run(&app.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&app.loop) != 0) {
        fprintf(stderr, "swarm start: the event loop did not close\n");
        return SWARM_EXIT_RUNTIME;
    }
    return rc;
}

int cmd_start(int argc, char **argv)
{
    start_opts o;
    memset(&o, 0, sizeof o);
    const char *v;
    cli_args a;
    cli_init(&a, argv[0], usage, argc, argv); /* "start" or "worker" */
    while (cli_next(&a)) {
        if (cli_help(&a) || cli_opt(&a, "--shard", &o.label) ||
            cli_opt(&a, "--data-dir", &o.data_dir) || cli_opt(&a, "--listen", &o.listen) ||
            cli_opt(&a, "--mesh", &o.mesh) || cli_flag(&a, "--json", &o.json))
            continue;
        if (cli_opt(&a, "--bootstrap", &v)) {
            if (a.exit_code < 0 && o.nbootstrap == MAX_LIST)
                cli_usage_error(&a, "at most %d --bootstrap addresses", MAX_LIST);
            else if (a.exit_code < 0)
                o.bootstrap[o.nbootstrap++] = v;
            continue;
        }
        if (cli_opt(&a, "--trust", &v)) {
            char err[256];
            if (a.exit_code < 0 && o.ntrust == MAX_LIST)
                cli_usage_error(&a, "at most %d --trust ids", MAX_LIST);
            else if (a.exit_code < 0 &&
                     p2p_peer_id_parse(v, &o.trust[o.ntrust], err, sizeof err) != 0)
                cli_usage_error(&a, "--trust %s: %s", v, err);
            else if (a.exit_code < 0)
                o.ntrust++;
            continue;
        }
        if (cli_opt(&a, "--threads", &v)) {
            if (a.exit_code < 0 && cli_parse_u64(&a, "--threads", v, &o.threads) &&
                (o.threads < 1 || o.threads > 1024))
                cli_usage_error(&a, "--threads must be 1..1024");
            continue;
        }
        cli_unknown(&a);
    }
    if (a.exit_code < 0 && o.nbootstrap == 0)
        cli_usage_error(&a, "give the gateway with --bootstrap MULTIADDR");
    if (a.exit_code < 0 && o.label && strlen(o.label) > 63)
        cli_usage_error(&a, "--shard label longer than 63 bytes");
    for (size_t i = 0; a.exit_code < 0 && i < o.nbootstrap; i++) {
        p2p_maddr ma;
        p2p_tcp_addr ta;
        char err[256];
        if (p2p_maddr_parse(o.bootstrap[i], &ma, err, sizeof err) != 0 ||
            p2p_maddr_to_tcp(&ma, &ta, err, sizeof err) != 0)
            cli_usage_error(&a, "--bootstrap %s: %s", o.bootstrap[i], err);
    }
    if (a.exit_code >= 0)
        return a.exit_code;

    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    char dir[4096], err[512];
    if (cli_data_dir(o.data_dir, dir, sizeof dir, err, sizeof err) != 0) {
        fprintf(stderr, "swarm start: %s\n", err);
        return SWARM_EXIT_RUNTIME;
    }
    char keyfile[4200];
    snprintf(keyfile, sizeof keyfile, "%s/%s", dir, CLI_KEY_FILE);
    p2p_key key; /* creates the data dir (0700) with the key when missing */
    bool created = false;
    if (p2p_key_load_or_create(keyfile, &key, &created, err, sizeof err) != 0) {
        fprintf(stderr, "swarm start: %s\n", err);
        return SWARM_EXIT_RUNTIME;
    }
    if (created)
        fprintf(stderr, "swarm start: created new key at %s\n", keyfile);
    int rc = run(&o, &key, dir);
    sodium_memzero(&key, sizeof key);
    return rc;
}
