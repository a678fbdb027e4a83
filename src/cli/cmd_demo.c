#include "cli.h"

static const char usage[] =
    "usage: swarm demo\n"
    "\n"
    "Start a gateway and a few workers on this machine, run an example job across them and\n"
    "print the outcome.\n";

int cmd_demo(int argc, char **argv)
{
    cli_args a;
    cli_init(&a, "demo", usage, argc, argv);
    while (cli_next(&a)) {
        if (cli_help(&a))
            continue;
        cli_unknown(&a);
    }
    if (a.exit_code >= 0)
        return a.exit_code;
    return cli_not_yet("demo", "local gateway and workers running an example job");
}
