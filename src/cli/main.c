/* main.c - the `swarm` binary: dispatches to one subcommand per file (cmd_<name>.c). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "demo_procs.h"

#ifndef SWARM_VERSION
#define SWARM_VERSION "0.0.0"
#endif

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary; /* NULL hides the entry from the listing (aliases) */
} command;

static const command commands[] = {
    {"gateway", cmd_gateway, "take jobs over HTTP, shard them across workers, reduce results"},
    {"start", cmd_start, "run a worker that joins the mesh (alias: worker)"},
    {"worker", cmd_start, NULL},
    {"submit", cmd_submit, "send a job to a gateway and print the outcome"},
    {"run", cmd_run, "run a wasm module on this machine, once or over a range"},
    {"node", cmd_node, "libp2p debug node: listen, connect, identify, ping; JSON lines out"},
    {"spectest", cmd_spectest, "run WebAssembly spec tests (wast2json output)"},
    {"id", cmd_id, "print this node's peer id, creating its key if needed"},
    {"demo", cmd_demo, "local gateway and workers running an example job"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fputs("usage: swarm <command> [options]\n"
          "       swarm <command> --help\n"
          "       swarm --version\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i].summary)
            fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fputs("\n"
          "Exit codes: 0 success, 1 runtime failure, 2 usage error, 3 invalid module, 4 trap.\n",
          out);
}

static const command *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    dp_child_guard();
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        if (argc > 2 && strcmp(argv[1], "help") == 0 && find(argv[2])) {
            char *help_argv[] = {argv[2], "--help", NULL};
            return find(argv[2])->run(2, help_argv);
        }
        usage(stdout);
        return SWARM_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("swarm %s\n", SWARM_VERSION);
        return SWARM_EXIT_OK;
    }
    const command *c = find(argv[1]);
    if (!c) {
        if (argv[1][0] == '-')
            fprintf(stderr, "swarm: unknown option '%s'\n\n", argv[1]);
        else
            fprintf(stderr, "swarm: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
        return SWARM_EXIT_USAGE;
    }
    return c->run(argc - 1, argv + 1);
}
