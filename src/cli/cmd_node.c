#include "cli.h"

static const char usage[] =
    "usage: swarm node [--listen MULTIADDR] [--data-dir DIR]\n"
    "\n"
    "libp2p debug node: listen, connect, ping, subscribe, publish; commands in and JSON lines\n"
    "out on standard input and output.\n"
    "\n"
    "  --listen MULTIADDR   listen address (default /ip4/127.0.0.1/tcp/0)\n"
    "  --data-dir DIR       keys (default $SWARM_HOME or ~/.swarm/)\n";

int cmd_node(int argc, char **argv)
{
    const char *listen = NULL, *data_dir = NULL;
    cli_args a;
    cli_init(&a, "node", usage, argc, argv);
    while (cli_next(&a)) {
        if (cli_help(&a) || cli_opt(&a, "--listen", &listen) ||
            cli_opt(&a, "--data-dir", &data_dir))
            continue;
        cli_unknown(&a);
    }
    if (a.exit_code >= 0)
        return a.exit_code;
    return cli_not_yet("node", "libp2p debug node with JSON lines out");
}
