#include "cli.h"

static const char usage[] =
    "usage: swarm gateway [--http 127.0.0.1:3000] [--listen /ip4/0.0.0.0/tcp/4001]\n"
    "                     [--data-dir DIR] [--token T]\n"
    "\n"
    "Run the gateway: take jobs over HTTP, split them into shards, lease the shards to\n"
    "workers over libp2p, and reduce the results.\n"
    "\n"
    "  --http ADDR:PORT     HTTP API and dashboard (default 127.0.0.1:3000)\n"
    "  --listen MULTIADDR   libp2p listen address (default /ip4/0.0.0.0/tcp/4001)\n"
    "  --data-dir DIR       keys and job store (default $SWARM_HOME or ~/.swarm/)\n"
    "  --token T            bearer token; required when --http is not loopback\n";

int cmd_gateway(int argc, char **argv)
{
    const char *http = NULL, *listen = NULL, *data_dir = NULL, *token = NULL;
    cli_args a;
    cli_init(&a, "gateway", usage, argc, argv);
    while (cli_next(&a)) {
        if (cli_help(&a) || cli_opt(&a, "--http", &http) || cli_opt(&a, "--listen", &listen) ||
            cli_opt(&a, "--data-dir", &data_dir) || cli_opt(&a, "--token", &token))
            continue;
        cli_unknown(&a);
    }
    if (a.exit_code >= 0)
        return a.exit_code;
    return cli_not_yet("gateway", "HTTP API, sharding, leases and reduce over libp2p workers");
}
