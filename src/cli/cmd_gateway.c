/* cmd_gateway.c - `swarm gateway`: the host, the key and the signals around gw_new (the work is
 * src/gateway's). */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "cli.h"
#include "gateway.h"
#include "util.h"

static const char usage[] =
    "usage: swarm gateway [--http 127.0.0.1:3000] [--listen /ip4/0.0.0.0/tcp/4001]\n"
    "                     [--data-dir DIR] [--token T] [--mesh NAME] [--quiet]\n"
    "\n"
    "Run the gateway: take jobs over HTTP, split them into shards, lease the shards to\n"
    "workers over libp2p, and reduce the results. Jobs are kept in DIR/gateway.db.\n"
    "\n"
    "  --http ADDR:PORT     HTTP API and dashboard (default 127.0.0.1:3000; port 0 picks one)\n"
    "  --listen MULTIADDR   libp2p listen address (default /ip4/0.0.0.0/tcp/4001)\n"
    "  --data-dir DIR       keys and job store (default $SWARM_HOME or ~/.swarm/)\n"
    "  --token T            bearer token; required when --http is not loopback\n"
    "  --mesh NAME          mesh name of the gossipsub topics (default \"default\")\n"
    "  --quiet              no log lines\n"
    "\n"
    "Exit status: 0 after SIGINT/SIGTERM, 1 if it cannot start (the reason is printed).\n";

typedef struct {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    p2p_host *host;
    gw *g;
    bool closing;
} gateway;

static void host_closed(void *user)
{
    (void)user;
}

static void gw_closed(void *user)
{
    gateway *gt = user;
    gt->g = NULL;
    p2p_host_close(gt->host, host_closed, gt);
}

static void shutdown_all(gateway *gt)
{
    if (gt->closing)
        return;
    gt->closing = true;
    uv_close((uv_handle_t *)&gt->sigint, NULL);
    uv_close((uv_handle_t *)&gt->sigterm, NULL);
    if (gt->g)
        gw_close(gt->g, gw_closed, gt);
    else if (gt->host)
        p2p_host_close(gt->host, host_closed, gt);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    gateway *gt = s->data;
    fprintf(stderr, "gateway: shutting down\n");
    shutdown_all(gt);
}

/* Prints the addresses workers should dial: each bound address, and for a wildcard one the
 * addresses of the machine's interfaces. */
static void print_addrs(p2p_host *h)
{
    p2p_maddr addrs[16];
    size_t n = p2p_host_listen_addrs(h, addrs, 16);
    char id[P2P_PEER_ID_STRLEN], text[512], err[256];
    p2p_peer_id_str(p2p_host_id(h), id);
    printf("peer id: %s\nworkers can dial:\n", id);
    for (size_t i = 0; i < n && i < 16; i++) {
        p2p_tcp_addr tcp;
        if (p2p_maddr_to_tcp(&addrs[i], &tcp, err, sizeof err) < 0)
            continue;
        bool any = strcmp(tcp.host, "0.0.0.0") == 0 || strcmp(tcp.host, "::") == 0;
        if (!any) {
            printf("  %s/p2p/%s\n", p2p_maddr_cstr(&addrs[i], text, sizeof text), id);
            continue;
        }
        uv_interface_address_t *ifs;
        int count;
        if (uv_interface_addresses(&ifs, &count) != 0)
            continue;
        for (int k = 0; k < count; k++) {
            const struct sockaddr *sa = (const struct sockaddr *)&ifs[k].address;
            if (sa->sa_family != (tcp.family == AF_INET6 ? AF_INET6 : AF_INET))
                continue;
            struct sockaddr_storage ss;
            memcpy(&ss, sa,
                   sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                            : sizeof(struct sockaddr_in6));
            if (ss.ss_family == AF_INET)
                ((struct sockaddr_in *)&ss)->sin_port = htons(tcp.port);
            else
                ((struct sockaddr_in6 *)&ss)->sin6_port = htons(tcp.port);
            p2p_maddr ma;
            if (p2p_maddr_from_sockaddr((const struct sockaddr *)&ss, &ma, err, sizeof err) == 0)
                printf("  %s/p2p/%s\n", p2p_maddr_cstr(&ma, text, sizeof text), id);
        }
        uv_free_interface_addresses(ifs, count);
    }
}

static int run(const gw_config *base, const char *listen, const p2p_key *key)
{
    gateway gt;
    memset(&gt, 0, sizeof gt);
    char err[512];
    int rc = SWARM_EXIT_OK;
    if (uv_loop_init(&gt.loop) != 0) {
        fprintf(stderr, "swarm gateway: cannot start an event loop\n");
        return SWARM_EXIT_RUNTIME;
    }
    uv_signal_init(&gt.loop, &gt.sigint);
    uv_signal_init(&gt.loop, &gt.sigterm);
    gt.sigint.data = gt.sigterm.data = &gt;
    p2p_host_config hc;
    p2p_host_config_default(&hc);
    hc.key = key;
    if (p2p_host_new(&gt.loop, &hc, NULL, NULL, &gt.host, err, sizeof err) != 0) {
        gt.host = NULL;
        fprintf(stderr, "swarm gateway: %s\n", err);
        rc = SWARM_EXIT_RUNTIME;
        shutdown_all(&gt);
        goto drain;
    }
    if (p2p_host_listen(gt.host, listen, err, sizeof err) != 0) {
        fprintf(stderr, "swarm gateway: %s\n", err);
        rc = SWARM_EXIT_RUNTIME;
        shutdown_all(&gt);
        goto drain;
    }
    gw_config c = *base;
    c.host = gt.host;
    if (gw_new(&gt.loop, &c, &gt.g, err, sizeof err) != 0) {
        gt.g = NULL;
        fprintf(stderr, "swarm gateway: %s\n", err);
        rc = SWARM_EXIT_RUNTIME;
        shutdown_all(&gt);
        goto drain;
    }
    print_addrs(gt.host);
    const char *http = c.http ? c.http : "127.0.0.1:3000";
    const char *colon = strrchr(http, ':');
    printf("dashboard: http://%.*s:%d/\n", (int)(colon - http), http, gw_http_port(gt.g));
    fflush(stdout);
    uv_signal_start(&gt.sigint, on_signal, SIGINT);
    uv_signal_start(&gt.sigterm, on_signal, SIGTERM);
drain:
    uv_run(&gt.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&gt.loop) != 0) {
        fprintf(stderr, "swarm gateway: the event loop did not close\n");
        return SWARM_EXIT_RUNTIME;
    }
    return rc;
}

int cmd_gateway(int argc, char **argv)
{
    const char *http = NULL, *listen = NULL, *data_dir = NULL, *token = NULL, *mesh = NULL;
    bool quiet = false;
    cli_args a;
    cli_init(&a, "gateway", usage, argc, argv);
    while (cli_next(&a)) {
        if (cli_help(&a) || cli_opt(&a, "--http", &http) || cli_opt(&a, "--listen", &listen) ||
            cli_opt(&a, "--data-dir", &data_dir) || cli_opt(&a, "--token", &token) ||
            cli_opt(&a, "--mesh", &mesh) || cli_flag(&a, "--quiet", &quiet))
            continue;
        cli_unknown(&a);
    }
    if (a.exit_code >= 0)
        return a.exit_code;
    char dir[4096], err[512], keyfile[4200];
    if (cli_data_dir(data_dir, dir, sizeof dir, err, sizeof err) != 0) {
        fprintf(stderr, "swarm gateway: %s\n", err);
        return SWARM_EXIT_RUNTIME;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "swarm gateway: cannot create %s: %s\n", dir, strerror(errno));
        return SWARM_EXIT_RUNTIME;
    }
    snprintf(keyfile, sizeof keyfile, "%s/%s", dir, CLI_KEY_FILE);
    p2p_key key;
    bool created = false;
    if (p2p_key_load_or_create(keyfile, &key, &created, err, sizeof err) != 0) {
        fprintf(stderr, "swarm gateway: %s\n", err);
        return SWARM_EXIT_RUNTIME;
    }
    if (created && !quiet)
        fprintf(stderr, "gateway: created a new key at %s\n", keyfile);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    gw_config c;
    gw_config_default(&c);
    if (http)
        c.http = http;
    c.token = token;
    c.data_dir = dir;
    if (mesh)
        c.mesh = mesh;
    c.quiet = quiet;
    int rc = run(&c, listen ? listen : "/ip4/0.0.0.0/tcp/4001", &key);
    sodium_memzero(&key, sizeof key);
    return rc;
}
