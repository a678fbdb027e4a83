/* jobspec.c - the job spec parser of jobspec.h. */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "jobspec.h"
#include "json.h"
#include "util.h"

/* The fields of the two spec formats; one bit each, to refuse a field given twice. */
enum {
    F_MODULE = 1 << 0,
    F_MODULE_B64 = 1 << 1,
    F_RANGE = 1 << 2,
    F_ENTRY = 1 << 3,
    F_SHARDS = 1 << 4,
    F_REDUCE = 1 << 5,
    F_DEADLINE = 1 << 6,
    F_FUEL = 1 << 7,
    F_PAGES = 1 << 8,
    F_WAIT = 1 << 9,
    F_RANGE_SIZE = 1 << 10,
};

typedef struct {
    const char *name;
    unsigned bit;
} field;

static const field job_fields[] = {
    {"module", F_MODULE},        {"module_base64", F_MODULE_B64},
    {"range", F_RANGE},          {"entry", F_ENTRY},
    {"shards", F_SHARDS},        {"reduce", F_REDUCE},
    {"deadline_ms", F_DEADLINE}, {"fuel", F_FUEL},
    {"max_pages", F_PAGES},      {"wait", F_WAIT},
};

static const field deploy_fields[] = {
    {"wasm_base64", F_MODULE_B64},
    {"range_size", F_RANGE_SIZE},
    {"shards", F_SHARDS},
    {"deadline_ms", F_DEADLINE},
    {"fuel", F_FUEL},
    {"entry", F_ENTRY},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The most pages a wasm memory can have (4 GiB). */
#define MAX_PAGES 65536u

static int read_module_b64(gw_jr *r, const char *what, gw_jobspec *s, char *err, size_t errlen)
{
    buf_t text;
    /* base64 of the largest module, with room for line breaks */
    buf_init(&text, (MESH_MODULE_MAX / 3 + 1) * 4 + MESH_MODULE_MAX / 32);
    if (gw_jr_string(r, &text, err, errlen) < 0) {
        buf_free(&text);
        return err_prefix(err, errlen, what);
    }
    size_t cap = base64_decoded_max(text.len);
    s->module = malloc(cap ? cap : 1);
    if (!s->module) {
        buf_free(&text);
        return err_set(err, errlen, "%s: out of memory", what);
    }
    int rc = base64_decode((const char *)text.data, text.len, s->module, &s->module_len, BASE64_STD,
                           err, errlen);
    buf_free(&text);
    if (rc < 0)
        return err_prefix(err, errlen, what);
    if (s->module_len == 0)
        return err_set(err, errlen, "%s is empty", what);
    if (s->module_len > MESH_MODULE_MAX)
        return err_set(err, errlen, "%s: the module has %zu bytes, at most %u are allowed", what,
                       s->module_len, MESH_MODULE_MAX);
    return 0;
}

static int read_name(gw_jr *r, const char *what, char *out, size_t cap, char *err, size_t errlen)
{
    buf_t b;
    buf_init(&b, cap - 1);
    if (gw_jr_string(r, &b, err, errlen) < 0) {
        buf_free(&b);
        return err_prefix(err, errlen, what);
    }
    if (b.len && memchr(b.data, '\0', b.len)) {
        buf_free(&b);
        return err_set(err, errlen, "\"%s\" contains a NUL character", what);
    }
    memcpy(out, b.len ? (const char *)b.data : "", b.len);
    out[b.len] = '\0';
    buf_free(&b);
    return 0;
}

static int read_range(gw_jr *r, mesh_job_spec *spec, char *err, size_t errlen)
{
    bool done;
    int64_t v[2];
    if (gw_jr_array(r, err, errlen) < 0)
        return err_prefix(err, errlen, "\"range\" must be [start, end]");
    for (int i = 0; i < 2; i++) {
        if (gw_jr_item(r, &done, err, errlen) < 0)
            return -1;
        if (done)
            return err_set(err, errlen, "\"range\" must be [start, end]: two integers");
        if (gw_jr_int64(r, "range", &v[i], err, errlen) < 0)
            return -1;
    }
    if (gw_jr_item(r, &done, err, errlen) < 0)
        return -1;
    if (!done)
        return err_set(err, errlen, "\"range\" must be [start, end]: two integers");
    spec->start = v[0];
    spec->end = v[1];
    return 0;
}

/* The checks that need no module, once every field is read. */
static int check(gw_jobspec *s, unsigned seen, char *err, size_t errlen)
{
    mesh_job_spec *j = &s->spec;
    if (j->end < j->start)
        return err_set(err, errlen, "bad range: end %" PRId64 " is before start %" PRId64, j->end,
                       j->start);
    if (j->end == j->start)
        return err_set(err, errlen, "bad range: [%" PRId64 ", %" PRId64 ") holds no values",
                       j->start, j->end);
    uint64_t values = (uint64_t)j->end - (uint64_t)j->start;
    if (seen & F_SHARDS) {
        if (j->shards == 0)
            return err_set(err, errlen, "\"shards\" must be at least 1");
        if (j->shards > values)
            return err_set(err, errlen,
                           "\"shards\" is %" PRIu32 " but the range holds only %" PRIu64 " values",
                           j->shards, values);
    }
    if ((seen & F_DEADLINE) && j->deadline_ms == 0)
        return err_set(err, errlen, "\"deadline_ms\" must be at least 1");
    if ((seen & F_FUEL) && j->fuel == 0)
        return err_set(err, errlen, "\"fuel\" must be at least 1");
    if ((seen & F_PAGES) && j->max_pages == 0)
        return err_set(err, errlen, "\"max_pages\" must be at least 1");
    return 0;
}

static int parse(const char *json, size_t len, const field *fields, size_t nfields, bool deploy,
                 gw_jobspec *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->spec.reduce = MESH_REDUCE_SUM;
    s->wait = deploy;
    gw_jr r;
    gw_jr_init(&r, json, len);
    if (gw_jr_object(&r, err, errlen) < 0)
        return -1;
    unsigned seen = 0;
    for (;;) {
        char key[32];
        bool done;
        if (gw_jr_key(&r, key, sizeof key, &done, err, errlen) < 0)
            return -1;
        if (done)
            break;
        const field *f = NULL;
        for (size_t i = 0; i < nfields && !f; i++)
            if (strcmp(key, fields[i].name) == 0)
                f = &fields[i];
        if (!f)
            return err_set(err, errlen, "unknown field \"%s\"", key);
        if (seen & f->bit)
            return err_set(err, errlen, "field \"%s\" is given twice", key);
        seen |= f->bit;
        uint64_t u;
        char name[MESH_ENTRY_MAX];
        int rc = 0;
        switch (f->bit) {
        case F_MODULE:
            if ((rc = read_name(&r, "module", name, sizeof name, err, errlen)) < 0)
                break;
            size_t n;
            if (strlen(name) != 2 * MESH_HASH_LEN ||
                hex_decode(name, strlen(name), s->spec.module, &n, NULL, 0) < 0)
                rc = err_set(err, errlen, "\"module\" must be a SHA-256 in hex (64 digits)");
            s->has_hash = true;
            break;
        case F_MODULE_B64:
            rc = read_module_b64(&r, f->name, s, err, errlen);
            break;
        case F_RANGE:
            rc = read_range(&r, &s->spec, err, errlen);
            break;
        case F_RANGE_SIZE:
            if ((rc = gw_jr_uint64(&r, "range_size", &u, err, errlen)) < 0)
                break;
            if (u > INT64_MAX)
                rc = err_set(err, errlen, "\"range_size\" is too large");
            s->spec.start = 0;
            s->spec.end = (int64_t)u;
            break;
        case F_ENTRY:
            rc = read_name(&r, "entry", s->spec.entry, sizeof s->spec.entry, err, errlen);
            if (rc == 0 && s->spec.entry[0] == '\0')
                rc = err_set(err, errlen, "\"entry\" is empty");
            break;
        case F_SHARDS:
            if ((rc = gw_jr_uint64(&r, "shards", &u, err, errlen)) < 0)
                break;
            if (u > MESH_MAX_SHARDS)
                rc = err_set(err, errlen, "\"shards\" is %" PRIu64 ", at most %u are allowed", u,
                             MESH_MAX_SHARDS);
            s->spec.shards = (uint32_t)u;
            break;
        case F_REDUCE:
            if ((rc = read_name(&r, "reduce", name, sizeof name, err, errlen)) < 0)
                break;
            if (mesh_reduce_parse(name, &s->spec.reduce) < 0)
                rc = err_set(err, errlen,
                             "\"reduce\" must be sum, min, max, xor or collect, not \"%s\"", name);
            break;
        case F_DEADLINE:
            if ((rc = gw_jr_uint64(&r, "deadline_ms", &s->spec.deadline_ms, err, errlen)) < 0)
                break;
            if (s->spec.deadline_ms > MESH_MAX_DEADLINE_MS)
                rc = err_set(err, errlen,
                             "\"deadline_ms\" is %" PRIu64 ", at most %llu (24 h) is allowed",
                             s->spec.deadline_ms, MESH_MAX_DEADLINE_MS);
            break;
        case F_FUEL:
            rc = gw_jr_uint64(&r, "fuel", &s->spec.fuel, err, errlen);
            break;
        case F_PAGES:
            if ((rc = gw_jr_uint64(&r, "max_pages", &u, err, errlen)) < 0)
                break;
            if (u > MAX_PAGES)
                rc = err_set(err, errlen, "\"max_pages\" is %" PRIu64 ", at most %u (4 GiB)", u,
                             MAX_PAGES);
            s->spec.max_pages = (uint32_t)u;
            break;
        case F_WAIT:
            rc = gw_jr_bool(&r, "wait", &s->wait, err, errlen);
            break;
        default:
            assert(!"a field without a case");
        }
        if (rc < 0)
            return -1;
    }
    if (gw_jr_end(&r, err, errlen) < 0)
        return -1;
    if (deploy) {
        if (!(seen & F_MODULE_B64))
            return err_set(err, errlen, "missing \"wasm_base64\"");
        if (!(seen & F_RANGE_SIZE))
            return err_set(err, errlen, "missing \"range_size\"");
    } else {
        if (!(seen & (F_MODULE | F_MODULE_B64)))
            return err_set(err, errlen, "missing \"module\" (a hash) or \"module_base64\"");
        if ((seen & F_MODULE) && (seen & F_MODULE_B64))
            return err_set(err, errlen, "give \"module\" or \"module_base64\", not both");
        if (!(seen & F_RANGE))
            return err_set(err, errlen, "missing \"range\": [start, end]");
    }
    return check(s, seen, err, errlen);
}

int gw_jobspec_parse(const char *json, size_t len, gw_jobspec *out, char *err, size_t errlen)
{
    if (parse(json, len, job_fields, COUNT(job_fields), false, out, err, errlen) < 0) {
        gw_jobspec_free(out);
        return -1;
    }
    return 0;
}

int gw_deploy_parse(const char *json, size_t len, gw_jobspec *out, char *err, size_t errlen)
{
    if (parse(json, len, deploy_fields, COUNT(deploy_fields), true, out, err, errlen) < 0) {
        gw_jobspec_free(out);
        return -1;
    }
    return 0;
}

void gw_jobspec_free(gw_jobspec *s)
{
    free(s->module);
    s->module = NULL;
    s->module_len = 0;
}
