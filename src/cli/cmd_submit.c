/* cmd_submit.c - `swarm submit`: upload a module, submit a job, follow it, print the outcome. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "http_client.h"
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

#define POLL_MS         100
#define HTTP_TIMEOUT_MS 30000
#define ANSWER_MAX      (256u << 20)

typedef struct {
    hc_url url;
    const char *token;
} client;

/* One request; the answer's body into *answer (reset first). */
static int call(const client *c, const char *method, const char *path, const char *ctype,
                const void *body, size_t len, int *status, buf_t *answer)
{
    char err[512];
    buf_free(answer);
    buf_init(answer, ANSWER_MAX);
    if (hc_request(&c->url, method, path, ctype, body, len, c->token, HTTP_TIMEOUT_MS, status,
                   answer, err, sizeof err) < 0) {
        fprintf(stderr, "swarm submit: %s\n", err);
        return -1;
    }
    return 0;
}

/* The "error" of an error document, or the whole answer. */
static void print_error(const char *what, int status, const buf_t *answer)
{
    cJSON *doc = cJSON_Parse((const char *)answer->data);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
    fprintf(stderr, "swarm submit: %s: %d: %s\n", what, status,
            cJSON_IsString(e) ? e->valuestring : (const char *)answer->data);
    cJSON_Delete(doc);
}

/* The top-level "value" of a job document as written (an exact integer that cJSON would
 * round): our documents put it after the spec and the counts, before any nested value. */
static const char *raw_value(const char *doc, char *out, size_t cap)
{
    const char *p = strstr(doc, "\"value\": ");
    if (!p)
        return "null";
    p += 9;
    size_t n = strspn(p, "-0123456789null");
    if (n == 0 || n >= cap)
        return "null";
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void print_ranges(const char *title, const cJSON *list, bool errors)
{
    int n = cJSON_GetArraySize(list);
    if (n <= 0)
        return;
    printf("%s:\n", title);
    const cJSON *it;
    int shown = 0;
    cJSON_ArrayForEach(it, list)
    {
        if (shown++ == 20) {
            printf("  ... %d more (--json shows all)\n", n - 20);
            break;
        }
        const cJSON *r = errors ? cJSON_GetObjectItemCaseSensitive(it, "range") : it;
        char *text = cJSON_PrintUnformatted(r);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(it, "error");
        printf("  %s%s%s\n", text ? text : "?", errors ? "  " : "",
               errors && cJSON_IsString(e) ? e->valuestring : "");
        free(text);
    }
}

static void print_outcome(const char *text, int status)
{
    cJSON *doc = cJSON_Parse(text);
    if (!doc) {
        printf("%s\n", text);
        return;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "id");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(doc, "status");
    const cJSON *shards = cJSON_GetObjectItemCaseSensitive(doc, "shards");
    const cJSON *values = cJSON_GetObjectItemCaseSensitive(doc, "values");
    char v[32];
    printf("job %s: %s (%d) in %.0f ms\n", cJSON_IsString(id) ? id->valuestring : "?",
           cJSON_IsString(st) ? st->valuestring : "?", status, num(doc, "elapsed_ms"));
    if (cJSON_IsArray(values)) {
        char *all = cJSON_PrintUnformatted(values);
        int n = cJSON_GetArraySize(values);
        if (all && strlen(all) <= 400)
            printf("values: %s\n", all);
        else
            printf("values: %d (--json shows them)\n", n);
        free(all);
    } else {
        printf("value: %s\n", raw_value(text, v, sizeof v));
    }
    printf("shards: %.0f/%.0f done, %.0f failed, %.0f missing, %.0f duplicates, %.0f retries\n",
           num(shards, "done"), num(shards, "total"), num(shards, "failed"), num(shards, "missing"),
           num(shards, "duplicates"), num(shards, "retries"));
    print_ranges("missing", cJSON_GetObjectItemCaseSensitive(doc, "missing"), false);
    print_ranges("errors", cJSON_GetObjectItemCaseSensitive(doc, "errors"), true);
    const cJSON *workers = cJSON_GetObjectItemCaseSensitive(doc, "workers"), *w;
    if (cJSON_GetArraySize(workers) > 0)
        printf("workers:\n");
    cJSON_ArrayForEach(w, workers)
    {
        const cJSON *peer = cJSON_GetObjectItemCaseSensitive(w, "peer");
        printf("  %s  %.0f shards  fuel %.0f  busy %.0f ms\n",
               cJSON_IsString(peer) ? peer->valuestring : "?", num(w, "shards"), num(w, "fuel"),
               num(w, "busy_ms"));
    }
    cJSON_Delete(doc);
}

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

    client c = {.token = token};
    char err[512];
    if (hc_parse_url(gateway ? gateway : "http://127.0.0.1:3000", &c.url, err, sizeof err) < 0)
        return cli_usage_error(&a, "--gateway: %s", err);
    uint8_t *wasm;
    size_t len;
    if (util_read_file(module, MESH_MODULE_MAX, &wasm, &len, err, sizeof err) < 0) {
        fprintf(stderr, "swarm submit: %s\n", err);
        return SWARM_EXIT_RUNTIME;
    }
    int status, rc = SWARM_EXIT_RUNTIME;
    buf_t answer;
    buf_init(&answer, ANSWER_MAX);
    if (call(&c, "POST", "/api/v1/modules", "application/wasm", wasm, len, &status, &answer) < 0)
        goto out;
    if (status != 200) {
        print_error("the module was refused", status, &answer);
        rc = status == 400 ? SWARM_EXIT_INVALID_MODULE : SWARM_EXIT_RUNTIME;
        goto out;
    }
    cJSON *mod = cJSON_Parse((const char *)answer.data);
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(mod, "hash");
    char hex[2 * MESH_HASH_LEN + 1] = "";
    if (cJSON_IsString(hash) && strlen(hash->valuestring) == 2 * MESH_HASH_LEN)
        strcpy(hex, hash->valuestring);
    cJSON_Delete(mod);
    if (!hex[0]) {
        fprintf(stderr, "swarm submit: the gateway's answer has no module hash\n");
        goto out;
    }

    buf_t spec;
    buf_init(&spec, 0);
    buf_printf(&spec, "{\"module\": \"%s\", \"range\": [%" PRId64 ", %" PRId64 "]", hex, lo, hi);
    if (shards)
        buf_printf(&spec, ", \"shards\": %" PRIu64, nshards);
    if (deadline)
        buf_printf(&spec, ", \"deadline_ms\": %" PRIu64, deadline_ms);
    if (fuel)
        buf_printf(&spec, ", \"fuel\": %" PRIu64, nfuel);
    if (reduce)
        buf_printf(&spec, ", \"reduce\": \"%s\"", reduce);
    if (entry)
        buf_printf(&spec, ", \"entry\": \"%s\"", entry);
    buf_puts(&spec, "}");
    int r =
        call(&c, "POST", "/api/v1/jobs", "application/json", spec.data, spec.len, &status, &answer);
    buf_free(&spec);
    if (r < 0)
        goto out;
    if (status != 202) {
        print_error("the job was refused", status, &answer);
        rc = status == 400 ? SWARM_EXIT_INVALID_MODULE : SWARM_EXIT_RUNTIME;
        goto out;
    }
    cJSON *ack = cJSON_Parse((const char *)answer.data);
    const cJSON *jid = cJSON_GetObjectItemCaseSensitive(ack, "id");
    char path[64] = "";
    mesh_job_id idv;
    if (cJSON_IsString(jid) && mesh_job_id_parse(jid->valuestring, &idv) == 0)
        snprintf(path, sizeof path, "/api/v1/jobs/%s", jid->valuestring);
    cJSON_Delete(ack);
    if (!path[0]) {
        fprintf(stderr, "swarm submit: the gateway's answer has no job id\n");
        goto out;
    }

    /* follow the job until it ends; a gateway that never ends it is given up on */
    bool tty = isatty(STDERR_FILENO);
    uint64_t start = clock_mono_ms();
    uint64_t give_up = start + (deadline ? deadline_ms : MESH_DEFAULT_DEADLINE_MS) + 30000;
    for (;;) {
        if (call(&c, "GET", path, NULL, NULL, 0, &status, &answer) < 0)
            goto out;
        if (status != 202)
            break;
        if (tty) {
            cJSON *doc = cJSON_Parse((const char *)answer.data);
            const cJSON *sh = cJSON_GetObjectItemCaseSensitive(doc, "shards");
            fprintf(stderr, "\rrunning: %.0f/%.0f shards done, %.0f failed, %.1f s   ",
                    num(sh, "done"), num(sh, "total"), num(sh, "failed"),
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
    if (status != 200 && status != 206 && status != 504 && status != 422 && status != 409) {
        print_error("reading the job", status, &answer);
        goto out;
    }
    if (json)
        printf("%s", (const char *)answer.data);
    else
        print_outcome((const char *)answer.data, status);
    rc = exit_for(status);
out:
    buf_free(&answer);
    free(wasm);
    return rc;
}
