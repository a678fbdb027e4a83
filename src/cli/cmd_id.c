#include "cli.h"

static const char usage[] =
    "usage: swarm id [--key FILE] [--data-dir DIR]\n"
    "\n"
    "Print this node's libp2p peer id, creating its Ed25519 key (mode 0600) if needed.\n"
    "\n"
    "  --key FILE       key file (default DIR/key)\n"
    "  --data-dir DIR   default $SWARM_HOME or ~/.swarm/\n";

int cmd_id(int argc, char **argv)
{
    const char *key = NULL, *data_dir = NULL;
    cli_args a;
    cli_init(&a, "id", usage, argc, argv);
    while (cli_next(&a)) {
        if (cli_help(&a) || cli_opt(&a, "--key", &key) || cli_opt(&a, "--data-dir", &data_dir))
            continue;
        cli_unknown(&a);
    }
    if (a.exit_code >= 0)
        return a.exit_code;
    return cli_not_yet("id", "create or load the node key and print its peer id");
}
