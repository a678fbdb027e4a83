/* cmd_submit.c - `swarm submit`: upload a module, submit a job, follow it, print the outcome. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "job_client.h"
#include "mesh.h"
#include "util.h"

static const char usage[] =
    "usage: swarm submit MODULE.wasm --range A..B [--shards K] [--deadline MS] [--reduce OP]\n"
    "                    [--fuel N] [--entry NAME] [--gateway URL] [--token T] [--json]\n"
    "\n"
    "Send a job to a gateway, wait for the outcome and print it: the value, shards done, the\n"
    "missing ranges, the errors and the per-worker breakdown.\n"
    "\n"
    "  --range A..B     input range, half-open [A,B) (required)\n"
    "  --shards K       number of shards (default: a few per live worker slot)\n"
    "  --deadline MS    job deadline in milliseconds (default 5000; --timeout is the same)\n"
    "  --reduce OP      sum, min, max, xor or collect (default sum)\n"
    "  --fuel N         fuel per shard (default: the gateway's)\n"
    "  --entry NAME     exported function (default execute, else the only one)\n"
    "  --gateway URL    gateway HTTP address (default http://127.0.0.1:3000)\n"
    "  --token T        bearer token (default $SWARM_TOKEN)\n"
    "  --json           print the job document as JSON\n"
    "\n"
    "Exit status: 0 every shard returned a value (200); 1 partial (206), timeout (504), traps\n"
    "(422) or a gateway error; 2 usage; 3 the module is invalid or does not fit the job.\n";

#define POLL_MS 100

static int exit_for(int status)
{
    return status == 200 ? SWARM_EXIT_OK : SWARM_EXIT_RUNTIME;
}

int cmd_submit(int argc, char **argv)
{
    const char *module = NULL, *range = NULL, *shards = NULL, *deadline = NULL, *fuel = NULL;
    const char *reduce = NULL, *gateway = NULL, *entry = NULL, *token = NULL, *pos;
    bool json = false;
    int64_t lo = 0, hi = 0;
    uint64_t nshards = 0, deadline_ms = 0, nfuel = 0;
    cli_args a;
    cli_init(&a, "submit", usage, argc, argv);
    while (cli_next(&a)) {
        if (cli_help(&a) || cli_opt(&a, "--reduce", &reduce) ||
            cli_opt(&a, "--gateway", &gateway) || cli_opt(&a, "--entry", &entry) ||
            cli_opt(&a, "--token", &token) || cli_flag(&a, "--json", &json))
            continue;
        if (cli_opt(&a, "--range", &range)) {
            if (a.exit_code < 0)
                cli_parse_range(&a, "--range", range, &lo, &hi);
        } else if (cli_opt(&a, "--shards", &shards)) {
            if (a.exit_code < 0)
                cli_parse_u64(&a, "--shards", shards, &nshards);
        } else if (cli_opt(&a, "--deadline", &deadline) || cli_opt(&a, "--timeout", &deadline)) {
            if (a.exit_code < 0)
                cli_parse_u64(&a, "--deadline", deadline, &deadline_ms);
        } else if (cli_opt(&a, "--fuel", &fuel)) {
            if (a.exit_code < 0)
                cli_parse_u64(&a, "--fuel", fuel, &nfuel);
        } else if (!module && cli_pos(&a, &pos)) {
            module = pos;
        } else {
            cli_unknown(&a);
        }
    }
    if (a.exit_code >= 0)
        return a.exit_code;
    mesh_reduce op;
    if (!module)
        return cli_usage_error(&a, "missing MODULE.wasm");
    if (!range)
        return cli_usage_error(&a, "missing --range A..B");
    if (lo == hi)
        return cli_usage_error(&a, "--range %s holds no values", range);
    if (reduce && mesh_reduce_parse(reduce, &op) < 0)
        return cli_usage_error(&a, "--reduce: expected sum, min, max, xor or collect, got '%s'",
                               reduce);
    if (shards && (nshards == 0 || nshards > (uint64_t)hi - (uint64_t)lo))
        return cli_usage_error(&a, "--shards: expected 1 to the number of values in the range");
    if (entry && strpbrk(entry, "\"\\"))
        return cli_usage_error(&a, "--entry: a name without quotes or backslashes");
    if (!token)
        token = getenv("SWARM_TOKEN");

    jc_client c = {.token = token, .cmd = "submit"};
    char err[512];
    if (hc_parse_url(gateway ? gateway : "http://127.0.0.1:3000", &c.url, err, sizeof err) < 0)
        return cli_usage_error(&a, "--gateway: %s", err);
    uint8_t *wasm;
    size_t len;
    if (util_read_file(module, MESH_MODULE_MAX, &wasm, &len, err, sizeof err) < 0) {
        fprintf(stderr, "swarm submit: %s\n", err);
        return SWARM_EXIT_RUNTIME;
    }
    int status;
    buf_t answer;
    buf_init(&answer, JC_ANSWER_MAX);
    char hex[2 * MESH_HASH_LEN + 1], path[64];
    jc_spec spec = {.hash = hex,
                    .lo = lo,
                    .hi = hi,
                    .has_shards = shards != NULL,
                    .shards = nshards,
                    .has_deadline = deadline != NULL,
                    .deadline_ms = deadline_ms,
                    .has_fuel = fuel != NULL,
                    .fuel = nfuel,
                    .reduce = reduce,
                    .entry = entry};
    int rc = jc_upload(&c, wasm, len, hex);
    if (rc == SWARM_EXIT_OK)
        rc = jc_submit(&c, &spec, path);
    if (rc != SWARM_EXIT_OK)
        goto out;
    rc = SWARM_EXIT_RUNTIME;

    /* follow the job until it ends; a gateway that never ends it is given up on */
    bool tty = isatty(STDERR_FILENO);
    uint64_t start = clock_mono_ms();
    uint64_t give_up = start + (deadline ? deadline_ms : MESH_DEFAULT_DEADLINE_MS) + 30000;
    for (;;) {
        if (jc_call(&c, "GET", path, NULL, NULL, 0, &status, &answer) < 0)
            goto out;
        if (status != 202)
            break;
        if (tty) {
            cJSON *doc = cJSON_Parse((const char *)answer.data);
            const cJSON *sh = cJSON_GetObjectItemCaseSensitive(doc, "shards");
            fprintf(stderr, "\rrunning: %.0f/%.0f shards done, %.0f failed, %.1f s   ",
                    jc_num(sh, "done"), jc_num(sh, "total"), jc_num(sh, "failed"),
                    (double)(clock_mono_ms() - start) / 1000);
            cJSON_Delete(doc);
        }
        if (clock_mono_ms() > give_up) {
            fprintf(stderr,
                    "%sswarm submit: the job is still running past its deadline; "
                    "giving up (GET %s)\n",
                    tty ? "\n" : "", path);
            goto out;
        }
        usleep(POLL_MS * 1000);
    }
    if (tty)
        fprintf(stderr, "\r%60s\r", "");
    /* the outcomes of a job: anything else is the gateway's trouble */
    if (!jc_is_outcome(status)) {
        jc_print_error(&c, "reading the job", status, &answer);
        goto out;
    }
    if (json)
        printf("%s", (const char *)answer.data);
    else
        jc_print_outcome((const char *)answer.data, status, NULL);
    rc = exit_for(status);
out:
    buf_free(&answer);
    free(wasm);
    return rc;
}
