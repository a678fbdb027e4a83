/* libFuzzer target: the gateway's job-spec parser (src/gateway/jobspec.c on the JSON pull
 * reader json.c), both formats (POST /api/v1/jobs and the v0.10 /deploy/shard). Anything must
 * be accepted or refused with a message, without a fault; an accepted spec must satisfy the
 * parser's promises (a non-empty range, shards within it, the limits), and written back as
 * JSON with exact integers it must parse to the same spec. An inconsistency aborts.
 * Build with -DSWARM_FUZZ=ON (clang); run: build-fuzz/fuzz_gw_jobspec -max_total_time=300 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobspec.h"
#include "json.h"

static void must(bool ok)
{
    if (!ok)
        abort();
}

static void check(const gw_jobspec *s)
{
    const mesh_job_spec *j = &s->spec;
    must(j->start < j->end);
    must(j->shards <= MESH_MAX_SHARDS);
    must(j->shards == 0 || (uint64_t)j->shards <= (uint64_t)j->end - (uint64_t)j->start);
    must(j->deadline_ms <= MESH_MAX_DEADLINE_MS);
    must(j->max_pages <= 65536);
    must(strlen(j->entry) < MESH_ENTRY_MAX);
    must(s->has_hash != (s->module != NULL));
    must(!s->module || (s->module_len > 0 && s->module_len <= MESH_MODULE_MAX));
}

/* Writes s back as a job spec and parses it again: the same spec must come out. */
static void round_trip(const gw_jobspec *s)
{
    buf_t b;
    buf_init(&b, 0);
    const mesh_job_spec *j = &s->spec;
    char hex[2 * MESH_HASH_LEN + 1];
    if (s->has_hash) {
        hex_encode(j->module, MESH_HASH_LEN, hex);
        buf_printf(&b, "{\"module\": \"%s\"", hex);
    } else {
        size_t n = base64_encoded_len(s->module_len, BASE64_STD);
        char *text = malloc(n + 1);
        must(text != NULL);
        base64_encode(s->module, s->module_len, text, BASE64_STD);
        buf_printf(&b, "{\"module_base64\": \"%s\"", text);
        free(text);
    }
    buf_printf(&b, ", \"range\": [%" PRId64 ", %" PRId64 "], \"reduce\": \"%s\"", j->start, j->end,
               mesh_reduce_name(j->reduce));
    if (j->entry[0]) {
        buf_puts(&b, ", \"entry\": ");
        must(gw_jw_str(&b, j->entry) == 0);
    }
    if (j->shards)
        buf_printf(&b, ", \"shards\": %" PRIu32, j->shards);
    if (j->deadline_ms)
        buf_printf(&b, ", \"deadline_ms\": %" PRIu64, j->deadline_ms);
    if (j->fuel)
        buf_printf(&b, ", \"fuel\": %" PRIu64, j->fuel);
    if (j->max_pages)
        buf_printf(&b, ", \"max_pages\": %" PRIu32, j->max_pages);
    buf_printf(&b, ", \"wait\": %s}", s->wait ? "true" : "false");
    gw_jobspec t;
    char err[256];
    must(gw_jobspec_parse((const char *)b.data, b.len, &t, err, sizeof err) == 0);
    must(memcmp(&t.spec, &s->spec, sizeof t.spec) == 0);
    must(t.wait == s->wait && t.module_len == s->module_len);
    must(!s->module || memcmp(t.module, s->module, s->module_len) == 0);
    gw_jobspec_free(&t);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gw_jobspec s;
    char err[256];
    err[0] = '\0';
    if (gw_jobspec_parse((const char *)data, size, &s, err, sizeof err) == 0) {
        check(&s);
        round_trip(&s);
        gw_jobspec_free(&s);
    } else {
        must(err[0] != '\0');
        must(s.module == NULL);
    }
    err[0] = '\0';
    if (gw_deploy_parse((const char *)data, size, &s, err, sizeof err) == 0) {
        check(&s);
        must(s.wait && s.spec.start == 0);
        gw_jobspec_free(&s);
    } else {
        must(err[0] != '\0');
    }
    return 0;
}
