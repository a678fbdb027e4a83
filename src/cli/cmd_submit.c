#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: swarm submit MODULE.wasm --range A..B [--shards K] [--timeout MS] [--reduce sum]\n"
    "                    [--gateway URL]\n"
    "\n"
    "Send a job to a gateway, wait for the outcome and print it.\n"
    "\n"
    "  --range A..B     input range, half-open [A,B) (required)\n"
    "  --shards K       number of shards (default: a few per live worker slot)\n"
    "  --timeout MS     job deadline in milliseconds (default 5000)\n"
    "  --reduce OP      sum, min, max, xor or collect (default sum)\n"
    "  --gateway URL    gateway HTTP address (default http://127.0.0.1:3000)\n";

static bool is_reduce_op(const char *s)
{
    static const char *const ops[] = {"sum", "min", "max", "xor", "collect"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(s, ops[i]) == 0)
            return true;
    return false;
}

int cmd_submit(int argc, char **argv)
{
    const char *module = NULL, *range = NULL, *shards = NULL, *timeout = NULL;
    const char *reduce = NULL, *gateway = NULL, *pos;
    int64_t lo, hi;
    uint64_t n;
    cli_args a;
    cli_init(&a, "submit", usage, argc, argv);
    while (cli_next(&a)) {
        if (cli_help(&a) || cli_opt(&a, "--reduce", &reduce) || cli_opt(&a, "--gateway", &gateway))
            continue;
        if (cli_opt(&a, "--range", &range)) {
            if (a.exit_code < 0)
                cli_parse_range(&a, "--range", range, &lo, &hi);
        } else if (cli_opt(&a, "--shards", &shards)) {
            if (a.exit_code < 0)
                cli_parse_u64(&a, "--shards", shards, &n);
        } else if (cli_opt(&a, "--timeout", &timeout)) {
            if (a.exit_code < 0)
                cli_parse_u64(&a, "--timeout", timeout, &n);
        } else if (!module && cli_pos(&a, &pos)) {
            module = pos;
        } else {
            cli_unknown(&a);
        }
    }
    if (a.exit_code >= 0)
        return a.exit_code;
    if (!module)
        return cli_usage_error(&a, "missing MODULE.wasm");
    if (!range)
        return cli_usage_error(&a, "missing --range A..B");
    if (reduce && !is_reduce_op(reduce))
        return cli_usage_error(&a, "--reduce: expected sum, min, max, xor or collect, got '%s'",
                               reduce);
    return cli_not_yet("submit", "send a job to a gateway over HTTP and print the outcome");
}
