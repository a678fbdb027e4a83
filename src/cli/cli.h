/* cli.h - subcommands of the `swarm` binary and the option parser they all share.
 *
 * Each subcommand lives in cmd_<name>.c and is called with argv[0] = its own name. Parsing
 * rules, the same everywhere:
 *   --name VALUE and --name=VALUE are options; -h and --help print the command's usage to
 *   stdout (exit 0); "--" ends the options; anything else (including "-" and "-5") is a
 *   positional argument. An unknown option or a missing value prints the error and the usage
 *   to stderr and the command exits 2.
 *
 * Typical use:
 *     cli_args a;
 *     cli_init(&a, "gateway", USAGE, argc, argv);
 *     while (cli_next(&a)) {
 *         if (cli_help(&a) || cli_opt(&a, "--http", &http))
 *             continue;
 *         cli_unknown(&a);
 *     }
 *     if (a.exit_code >= 0)
 *         return a.exit_code;
 */
#ifndef SWARM_CLI_H
#define SWARM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes of every subcommand (DESIGN.md section 7). */
enum {
    SWARM_EXIT_OK = 0,
    SWARM_EXIT_RUNTIME = 1,
    SWARM_EXIT_USAGE = 2,
    SWARM_EXIT_INVALID_MODULE = 3,
    SWARM_EXIT_TRAP = 4,
};

int cmd_gateway(int argc, char **argv);
int cmd_start(int argc, char **argv); /* also reached as "worker" */
int cmd_submit(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_node(int argc, char **argv);
int cmd_spectest(int argc, char **argv);
int cmd_id(int argc, char **argv);
int cmd_demo(int argc, char **argv);

typedef struct {
    const char *cmd;   /* subcommand name, for messages: "swarm <cmd>: ..." */
    const char *usage; /* full usage text, starting with "usage: " */
    int argc;
    char **argv;
    int next;        /* index of the next argument to look at */
    const char *arg; /* the current argument (set by cli_next) */
    bool only_pos;   /* seen "--": everything after is positional */
    int exit_code;   /* -1 while parsing may go on; else the code the command returns */
} cli_args;

/* Starts parsing argv[1..argc) for command `cmd`. */
void cli_init(cli_args *a, const char *cmd, const char *usage, int argc, char **argv);

/* Moves to the next argument. Returns false at the end or once exit_code is set. */
bool cli_next(cli_args *a);

/* If the current argument is -h/--help: prints the usage to stdout, sets exit_code 0. */
bool cli_help(cli_args *a);

/* If the current argument is option `name` ("--http"): stores its value (from "--http=V" or
 * the next argument) in *value and returns true. A missing value is a usage error (exit 2). */
bool cli_opt(cli_args *a, const char *name, const char **value);

/* If the current argument is the valueless option `name`: sets *on and returns true. */
bool cli_flag(cli_args *a, const char *name, bool *on);

/* If the current argument is positional: stores it in *value and returns true. */
bool cli_pos(cli_args *a, const char **value);

/* Reports the current argument as unknown (option) or unexpected (positional); exit 2. */
void cli_unknown(cli_args *a);

/* Prints "swarm <cmd>: <message>" and the usage to stderr, sets exit code 2. Returns 2. */
int cli_usage_error(cli_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses a decimal unsigned number for option `what`; on error reports a usage error. */
bool cli_parse_u64(cli_args *a, const char *what, const char *s, uint64_t *out);

/* Parses "A..B" (signed decimal, A <= B, half-open [A,B)); on error reports a usage error. */
bool cli_parse_range(cli_args *a, const char *what, const char *s, int64_t *lo, int64_t *hi);

/* The key file inside a data folder. */
#define CLI_KEY_FILE "identity.key"

/* The data folder (DESIGN.md section 7): `given` if not NULL, else $SWARM_HOME if set and not
 * empty, else $HOME/.swarm. Writes it into out[0..cap); returns 0, or -1 with a message when no
 * home is known or the path does not fit. Creates nothing. */
int cli_data_dir(const char *given, char *out, size_t cap, char *err, size_t errlen);

#endif
