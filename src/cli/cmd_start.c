#include "cli.h"

static const char usage[] =
    "usage: swarm start [--shard N] [--bootstrap MULTIADDR]... [--threads N] [--trust PEERID]...\n"
    "                   [--data-dir DIR]\n"
    "       (alias: swarm worker)\n"
    "\n"
    "Run a worker: dial the gateway, take shard leases and run them in the wasm sandbox.\n"
    "\n"
    "  --shard N              shard slots to offer\n"
    "  --bootstrap MULTIADDR  peer to dial at start (repeatable)\n"
    "  --threads N            wasm execution threads (default: number of cores)\n"
    "  --trust PEERID         accept jobs only from this gateway (repeatable)\n"
    "  --data-dir DIR         keys and module cache (default $SWARM_HOME or ~/.swarm/)\n";

int cmd_start(int argc, char **argv)
{
    const char *shard = NULL, *bootstrap = NULL, *threads = NULL, *trust = NULL;
    const char *data_dir = NULL;
    uint64_t n;
    cli_args a;
    cli_init(&a, argv[0], usage, argc, argv); /* "start" or "worker" */
    while (cli_next(&a)) {
        if (cli_help(&a) || cli_opt(&a, "--bootstrap", &bootstrap) ||
            cli_opt(&a, "--trust", &trust) || cli_opt(&a, "--data-dir", &data_dir))
            continue;
        if (cli_opt(&a, "--shard", &shard)) {
            if (a.exit_code < 0)
                cli_parse_u64(&a, "--shard", shard, &n);
            continue;
        }
        if (cli_opt(&a, "--threads", &threads)) {
            if (a.exit_code < 0)
                cli_parse_u64(&a, "--threads", threads, &n);
            continue;
        }
        cli_unknown(&a);
    }
    if (a.exit_code >= 0)
        return a.exit_code;
    return cli_not_yet(a.cmd, "worker that joins the mesh and runs shard leases");
}
