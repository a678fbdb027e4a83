/* test_gw_jobspec.c - the job spec parser: exact integers, every field, and a clear message
 * for every bad input the API names (malformed JSON, bad ranges, zero or too many shards). */
#include <stdlib.h>

#include "check.h"
#include "jobspec.h"
#include "util.h"

static const char hash[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* Parses a job spec that must fail with a message containing `want`. */
static void bad(const char *json, const char *want)
{
    gw_jobspec s;
    char err[256] = "";
    int rc = gw_jobspec_parse(json, strlen(json), &s, err, sizeof err);
    CHECK_EQ(rc, -1);
    if (!strstr(err, want))
        fprintf(stderr, "for %.200s\n    message \"%s\" lacks \"%s\"\n", json, err, want);
    CHECK(strstr(err, want) != NULL);
}

static void test_full_spec(void)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"module\": \"%s\", \"range\": [-9223372036854775808, 9223372036854775807],"
             " \"entry\": \"run\", \"shards\": 1000000, \"reduce\": \"xor\","
             " \"deadline_ms\": 86400000, \"fuel\": 18446744073709551615, \"max_pages\": 65536,"
             " \"wait\": true}",
             hash);
    gw_jobspec s;
    char err[256] = "";
    CHECK_EQ(gw_jobspec_parse(json, strlen(json), &s, err, sizeof err), 0);
    CHECK_STR_EQ(err, "");
    CHECK(s.has_hash);
    CHECK_EQ(s.spec.module[0], 0x01);
    CHECK_EQ(s.spec.module[31], 0xef);
    CHECK(s.spec.start == INT64_MIN);
    CHECK(s.spec.end == INT64_MAX);
    CHECK_STR_EQ(s.spec.entry, "run");
    CHECK_EQ(s.spec.shards, 1000000);
    CHECK_EQ(s.spec.reduce, MESH_REDUCE_XOR);
    CHECK_EQ(s.spec.deadline_ms, 86400000);
    CHECK(s.spec.fuel == UINT64_MAX);
    CHECK_EQ(s.spec.max_pages, 65536);
    CHECK(s.wait);
    CHECK(s.module == NULL);
    gw_jobspec_free(&s);
}

static void test_defaults_and_base64(void)
{
    /* "AGFzbQEAAAA=" is the empty module \0asm 1 0 0 0; "\/" is an escaped '/' some encoders
     * write, and whitespace is allowed everywhere JSON allows it */
    const char *json = " {\n\"module_base64\":\"AGFzbQEAAAA=\" ,\"range\":[ 0 , 10 ] } \n";
    gw_jobspec s;
    char err[256];
    CHECK_EQ(gw_jobspec_parse(json, strlen(json), &s, err, sizeof err), 0);
    CHECK(!s.has_hash);
    CHECK_EQ(s.module_len, 8);
    CHECK(s.module && memcmp(s.module, "\0asm\1\0\0\0", 8) == 0);
    CHECK_EQ(s.spec.start, 0);
    CHECK_EQ(s.spec.end, 10);
    CHECK_EQ(s.spec.shards, 0);
    CHECK_EQ(s.spec.deadline_ms, 0);
    CHECK_EQ(s.spec.reduce, MESH_REDUCE_SUM);
    CHECK(!s.wait);
    CHECK_STR_EQ(s.spec.entry, "");
    gw_jobspec_free(&s);
    CHECK(s.module == NULL);

    const char *esc = "{\"module_base64\":\"AGFz\\/Q==\",\"range\":[0,1],\"entry\":\"\\u00e9x\"}";
    CHECK_EQ(gw_jobspec_parse(esc, strlen(esc), &s, err, sizeof err), 0);
    CHECK_EQ(s.module_len, 4);
    CHECK_STR_EQ(s.spec.entry, "\xc3\xa9x");
    gw_jobspec_free(&s);
}

static void test_deploy(void)
{
    const char *json = "{\"wasm_base64\": \"AGFzbQEAAAA=\", \"range_size\": 1000}";
    gw_jobspec s;
    char err[256];
    CHECK_EQ(gw_deploy_parse(json, strlen(json), &s, err, sizeof err), 0);
    CHECK_EQ(s.spec.start, 0);
    CHECK_EQ(s.spec.end, 1000);
    CHECK(s.wait);
    CHECK_EQ(s.module_len, 8);
    gw_jobspec_free(&s);
    const char *no_size = "{\"wasm_base64\": \"AGFzbQEAAAA=\"}";
    CHECK_EQ(gw_deploy_parse(no_size, strlen(no_size), &s, err, sizeof err), -1);
    CHECK(strstr(err, "range_size") != NULL);
    const char *zero = "{\"wasm_base64\": \"AGFzbQEAAAA=\", \"range_size\": 0}";
    CHECK_EQ(gw_deploy_parse(zero, strlen(zero), &s, err, sizeof err), -1);
    CHECK(strstr(err, "holds no values") != NULL);
    const char *job_field = "{\"wasm_base64\": \"AGFzbQEAAAA=\", \"range\": [0, 1]}";
    CHECK_EQ(gw_deploy_parse(job_field, strlen(job_field), &s, err, sizeof err), -1);
    CHECK(strstr(err, "unknown field \"range\"") != NULL);
}

static void test_bad_inputs(void)
{
    char json[512];
    /* malformed JSON */
    bad("", "unexpected end of input");
    bad("[1, 2]", "expected an object");
    bad("{\"range\": [0, 10]", "unexpected end of input");
    bad("{\"range\" [0, 10]}", "expected ':'");
    bad("{\"range\": [0, 10],}", "a key string");
    bad("{\"range\": [0 10]}", "expected ',' or ']'");
    bad("{\"module\": \"abc}", "unterminated string");
    bad("{\"module\": \"a\x01\"}", "control character");
    bad("{\"module\": \"\xff\"}", "invalid UTF-8");
    bad("{\"module\": \"\\x\"}", "bad escape");
    bad("{\"module\": \"\\ud800\"}", "lone surrogate");
    bad("{\"range\": [01, 10]}", "leading zero");
    bad("{} {}", "data after the end");
    bad("{\"range\": [0, 10]} x", "data after the end");
    /* fields */
    bad("{\"range\": [0, 10]}", "missing \"module\"");
    snprintf(json, sizeof json, "{\"module\": \"%s\"}", hash);
    bad(json, "missing \"range\"");
    bad("{\"modul\": 1}", "unknown field \"modul\"");
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"module\": \"%s\"}", hash, hash);
    bad(json, "given twice");
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"module_base64\": \"AGFz\"}", hash);
    bad(json, "not both");
    bad("{\"module\": \"xyz\", \"range\": [0, 1]}", "SHA-256 in hex");
    bad("{\"module\": 5}", "expected a string");
    bad("{\"module_base64\": \"!!!!\", \"range\": [0, 1]}", "module_base64");
    bad("{\"module_base64\": \"\", \"range\": [0, 1]}", "empty");
    /* numbers */
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [0.5, 10]}", hash);
    bad(json, "\"range\" must be an integer");
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [0, 1e3]}", hash);
    bad(json, "\"range\" must be an integer");
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [0, 9223372036854775808]}", hash);
    bad(json, "out of the 64-bit range");
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [0]}", hash);
    bad(json, "two integers");
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [0, 1, 2]}", hash);
    bad(json, "two integers");
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": \"0..10\"}", hash);
    bad(json, "\"range\" must be [start, end]");
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [0, 10], \"fuel\": -1}", hash);
    bad(json, "\"fuel\" must be a non-negative integer");
    /* ranges and shard counts */
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [10, 5]}", hash);
    bad(json, "end 5 is before start 10");
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [7, 7]}", hash);
    bad(json, "holds no values");
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [0, 10], \"shards\": 0}", hash);
    bad(json, "\"shards\" must be at least 1");
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [0, 10], \"shards\": 11}", hash);
    bad(json, "holds only 10 values");
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [0, 1e9], \"shards\": 2}", hash);
    bad(json, "must be an integer");
    snprintf(json, sizeof json,
             "{\"module\": \"%s\", \"range\": [0, 100000000], \"shards\": 1000001}", hash);
    bad(json, "at most 1000000");
    /* the rest */
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [0, 10], \"reduce\": \"avg\"}",
             hash);
    bad(json, "\"reduce\" must be sum, min, max, xor or collect");
    snprintf(json, sizeof json,
             "{\"module\": \"%s\", \"range\": [0, 10], \"deadline_ms\": 86400001}", hash);
    bad(json, "24 h");
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [0, 10], \"deadline_ms\": 0}",
             hash);
    bad(json, "\"deadline_ms\" must be at least 1");
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [0, 10], \"wait\": 1}", hash);
    bad(json, "true or false for \"wait\"");
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [0, 10], \"max_pages\": 65537}",
             hash);
    bad(json, "at most 65536");
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [0, 10], \"entry\": \"\"}", hash);
    bad(json, "\"entry\" is empty");
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [0, 10], \"entry\": \"a\\u0000\"}",
             hash);
    bad(json, "NUL");
    char longentry[400];
    memset(longentry, 'e', 200);
    longentry[200] = '\0';
    snprintf(json, sizeof json, "{\"module\": \"%s\", \"range\": [0, 10], \"entry\": \"%s\"}", hash,
             longentry);
    bad(json, "too long");
}

/* A key the reader does not expect, nested deep: refused without recursion or a crash. */
static void test_deep_nesting(void)
{
    size_t n = 100000;
    char *json = malloc(n + 32);
    strcpy(json, "{\"range\": ");
    size_t at = strlen(json);
    memset(json + at, '[', n);
    json[at + n] = '\0';
    bad(json, "expected a number for \"range\"");
    free(json);
}

int main(void)
{
    test_full_spec();
    test_defaults_and_base64();
    test_deploy();
    test_bad_inputs();
    test_deep_nesting();
    return CHECK_DONE();
}
