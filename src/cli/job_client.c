/* job_client.c - the REST calls and the outcome printer of job_client.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "job_client.h"

int jc_call(const jc_client *c, const char *method, const char *path, const char *ctype,
            const void *body, size_t len, int *status, buf_t *answer)
{
    char err[512];
    buf_free(answer);
    buf_init(answer, JC_ANSWER_MAX);
    if (hc_request(&c->url, method, path, ctype, body, len, c->token, JC_HTTP_TIMEOUT_MS, status,
                   answer, err, sizeof err) < 0) {
        fprintf(stderr, "swarm %s: %s\n", c->cmd, err);
        return -1;
    }
    return 0;
}

void jc_print_error(const jc_client *c, const char *what, int status, const buf_t *answer)
{
    cJSON *doc = cJSON_Parse((const char *)answer->data);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
    fprintf(stderr, "swarm %s: %s: %d: %s\n", c->cmd, what, status,
            cJSON_IsString(e) ? e->valuestring : (const char *)answer->data);
    cJSON_Delete(doc);
}

int jc_upload(const jc_client *c, const uint8_t *wasm, size_t len, char hex[2 * MESH_HASH_LEN + 1])
{
    int status, rc = SWARM_EXIT_RUNTIME;
    buf_t answer;
    buf_init(&answer, JC_ANSWER_MAX);
    hex[0] = '\0';
    if (jc_call(c, "POST", "/api/v1/modules", "application/wasm", wasm, len, &status, &answer) < 0)
        goto out;
    if (status != 200) {
        jc_print_error(c, "the module was refused", status, &answer);
        rc = status == 400 ? SWARM_EXIT_INVALID_MODULE : SWARM_EXIT_RUNTIME;
        goto out;
    }
    cJSON *mod = cJSON_Parse((const char *)answer.data);
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(mod, "hash");
    if (cJSON_IsString(hash) && strlen(hash->valuestring) == 2 * MESH_HASH_LEN &&
        strspn(hash->valuestring, "0123456789abcdef") == 2 * MESH_HASH_LEN) {
        strcpy(hex, hash->valuestring);
        rc = SWARM_EXIT_OK;
    } else {
        fprintf(stderr, "swarm %s: the gateway's answer has no module hash\n", c->cmd);
    }
    cJSON_Delete(mod);
out:
    buf_free(&answer);
    return rc;
}

int jc_submit(const jc_client *c, const jc_spec *s, char path[64])
{
    buf_t spec, answer;
    buf_init(&spec, 0);
    buf_init(&answer, JC_ANSWER_MAX);
    path[0] = '\0';
    buf_printf(&spec, "{\"module\": \"%s\", \"range\": [%" PRId64 ", %" PRId64 "]", s->hash, s->lo,
               s->hi);
    if (s->has_shards)
        buf_printf(&spec, ", \"shards\": %" PRIu64, s->shards);
    if (s->has_deadline)
        buf_printf(&spec, ", \"deadline_ms\": %" PRIu64, s->deadline_ms);
    if (s->has_fuel)
        buf_printf(&spec, ", \"fuel\": %" PRIu64, s->fuel);
    if (s->reduce)
        buf_printf(&spec, ", \"reduce\": \"%s\"", s->reduce);
    if (s->entry)
        buf_printf(&spec, ", \"entry\": \"%s\"", s->entry);
    buf_puts(&spec, "}");
    int status, rc = SWARM_EXIT_RUNTIME;
    if (jc_call(c, "POST", "/api/v1/jobs", "application/json", spec.data, spec.len, &status,
                &answer) < 0)
        goto out;
    if (status != 202) {
        jc_print_error(c, "the job was refused", status, &answer);
        rc = status == 400 ? SWARM_EXIT_INVALID_MODULE : SWARM_EXIT_RUNTIME;
        goto out;
    }
    cJSON *ack = cJSON_Parse((const char *)answer.data);
    const cJSON *jid = cJSON_GetObjectItemCaseSensitive(ack, "id");
    mesh_job_id idv;
    if (cJSON_IsString(jid) && mesh_job_id_parse(jid->valuestring, &idv) == 0) {
        snprintf(path, 64, "/api/v1/jobs/%s", jid->valuestring);
        rc = SWARM_EXIT_OK;
    } else {
        fprintf(stderr, "swarm %s: the gateway's answer has no job id\n", c->cmd);
    }
    cJSON_Delete(ack);
out:
    buf_free(&spec);
    buf_free(&answer);
    return rc;
}

double jc_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Our documents put the top-level value after the spec and the counts, before any nested
 * value, so the first "value" member is it. */
const char *jc_raw_value(const char *doc, char *out, size_t cap)
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

bool jc_is_outcome(int status)
{
    return status == 200 || status == 206 || status == 504 || status == 422 || status == 409;
}

const char *jc_short_peer(const char *peer, char *out, size_t cap)
{
    size_t n = strlen(peer);
    if (n <= 18)
        snprintf(out, cap, "%s", peer);
    else
        snprintf(out, cap, "%.8s..%s", peer, peer + n - 8);
    return out;
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

static void print_worker(const cJSON *w, const jc_style *style)
{
    const cJSON *peer = cJSON_GetObjectItemCaseSensitive(w, "peer");
    const char *id = cJSON_IsString(peer) ? peer->valuestring : "?";
    const char *label = style && style->label ? style->label(style->user, id) : NULL;
    char shortid[64];
    if (style && style->short_ids)
        id = jc_short_peer(id, shortid, sizeof shortid);
    printf("  ");
    if (label)
        printf("%-10s ", label);
    printf("%s  %.0f shards  fuel %.0f  busy %.0f ms\n", id, jc_num(w, "shards"), jc_num(w, "fuel"),
           jc_num(w, "busy_ms"));
}

void jc_print_outcome(const char *text, int status, const jc_style *style)
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
           cJSON_IsString(st) ? st->valuestring : "?", status, jc_num(doc, "elapsed_ms"));
    if (cJSON_IsArray(values)) {
        char *all = cJSON_PrintUnformatted(values);
        int n = cJSON_GetArraySize(values);
        if (all && strlen(all) <= 400)
            printf("values: %s\n", all);
        else
            printf("values: %d (--json shows them)\n", n);
        free(all);
    } else {
        printf("value: %s\n", jc_raw_value(text, v, sizeof v));
    }
    printf("shards: %.0f/%.0f done, %.0f failed, %.0f missing, %.0f duplicates, %.0f retries\n",
           jc_num(shards, "done"), jc_num(shards, "total"), jc_num(shards, "failed"),
           jc_num(shards, "missing"), jc_num(shards, "duplicates"), jc_num(shards, "retries"));
    print_ranges("missing", cJSON_GetObjectItemCaseSensitive(doc, "missing"), false);
    print_ranges("errors", cJSON_GetObjectItemCaseSensitive(doc, "errors"), true);
    const cJSON *workers = cJSON_GetObjectItemCaseSensitive(doc, "workers"), *w;
    if (cJSON_GetArraySize(workers) > 0)
        printf("workers:\n");
    cJSON_ArrayForEach(w, workers)
    {
        print_worker(w, style);
    }
    cJSON_Delete(doc);
}
