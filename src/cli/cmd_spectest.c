/*
 * cmd_spectest.c — `swarm spectest FILE.json...`: runs WebAssembly spec tests
 * converted by wabt's wast2json against our engine.
 *
 * Each JSON file runs in one store, so modules registered with `register`
 * share their objects with the modules that import them, as in the spec's
 * script semantics. The `spectest` host module (print functions, globals, a
 * table and a memory) is created in that store too.
 *
 * Counting: every assert_* and action command counts as passed or failed
 * (26,213 for the full 2.0 suite); module and register commands count only
 * when they fail; text-format modules are skipped. One line per failure,
 * `-v` prints every command, and the last line is "N passed, N failed[, N skipped]".
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "file.h"
#include "wasm.h"

static const char usage[] =
    "usage: swarm spectest [-v] [--strict] [--fuel N] FILE.json...\n"
    "\n"
    "Run WebAssembly spec tests from wast2json output (wast2json X.wast -o X.json).\n"
    "Prints one line per failing command and a final tally \"N passed, N failed\".\n"
    "\n"
    "  -v, --verbose  print every command and what the spectest print functions get\n"
    "  --strict       assert_invalid must fail validation and assert_malformed decoding\n"
    "                 (by default any load failure passes both)\n"
    "  --fuel N       fuel for each action (default: unlimited)\n"
    "\n"
    "Exit status: 0 if nothing failed, 1 if something failed, 2 on usage errors.\n";

#define JSON_MAX_BYTES (256u << 20)
#define WASM_MAX_BYTES (64u << 20)

typedef struct {
    char *name; /* "$M" for named modules, or the `register` name */
    wasm_instance *inst;
} named_inst;

typedef struct {
    /* options and totals, for all files */
    bool verbose, strict;
    uint64_t fuel;
    long passed, failed, skipped;

    /* per file */
    const char *json_path;
    char *dir; /* the JSON file's folder, where its .wasm files are */
    wasm_store *store;
    wasm_module **modules; /* every module loaded: must outlive the store */
    size_t nmodules, cap_modules;
    named_inst *named, *registered;
    size_t nnamed, cap_named, nregistered, cap_registered;
    wasm_instance *current;
    bool current_failed; /* the latest module command failed */
    char marker[4];      /* UTF-8 of the code point standing in for \u0000 (see fix_nul) */

    /* the spectest host module */
    wasm_func *print[7];
    wasm_global *g_i32, *g_i64, *g_f32, *g_f64;
    wasm_table *table;
    wasm_memory *memory;
} runner;

/* ---- reporting ---------------------------------------------------------- */

static void fail_line(runner *r, int line, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail_line(runner *r, int line, const char *type, const char *fmt, ...)
{
    va_list ap;
    printf("%s:%d: %s: FAIL: ", r->json_path, line, type);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    r->failed++;
}

static void pass_line(runner *r, int line, const char *type, const char *what)
{
    if (r->verbose)
        printf("%s:%d: %s: ok%s%s\n", r->json_path, line, type, what ? " " : "", what ? what : "");
    r->passed++;
}

static void describe_error(const wasm_error *err, char *out, size_t n)
{
    if (err->status == WASM_ERR_TRAP)
        snprintf(out, n, "trap: %s", err->msg);
    else if (err->has_offset)
        snprintf(out, n, "%s at offset 0x%zx: %s", wasm_status_name(err->status), err->offset,
                 err->msg);
    else
        snprintf(out, n, "%s: %s", wasm_status_name(err->status), err->msg);
}

/* ---- names with NUL bytes ---------------------------------------------- */

/* cJSON ends strings at an embedded NUL, and names.wast exports a name that
 * starts with one. Before parsing, each \u0000 escape becomes a private-use
 * code point that appears nowhere in the file; names then map it back. */
static bool text_contains(const char *t, size_t n, const char *pat)
{
    size_t m = strlen(pat);
    for (size_t i = 0; i + m <= n; i++)
        if (t[i] == pat[0] && memcmp(t + i, pat, m) == 0)
            return true;
    return false;
}

static void fix_nul(runner *r, char *text, size_t n)
{
    r->marker[0] = '\0';
    if (!text_contains(text, n, "\\u0000"))
        return;
    unsigned cp;
    char esc_lo[8], esc_up[8], utf8[4];
    for (cp = 0xe000; cp <= 0xf8ff; cp++) {
        snprintf(esc_lo, sizeof esc_lo, "\\u%04x", cp);
        snprintf(esc_up, sizeof esc_up, "\\u%04X", cp);
        utf8[0] = (char)(0xe0 | (cp >> 12));
        utf8[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        utf8[2] = (char)(0x80 | (cp & 0x3f));
        utf8[3] = '\0';
        if (!text_contains(text, n, esc_lo) && !text_contains(text, n, esc_up) &&
            !text_contains(text, n, utf8))
            break;
    }
    if (cp > 0xf8ff)
        return; /* no free code point: NUL names stay truncated */
    memcpy(r->marker, utf8, 4);
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        if (!in_str) {
            in_str = text[i] == '"';
            continue;
        }
        if (text[i] == '"') {
            in_str = false;
        } else if (text[i] == '\\' && i + 1 < n) {
            if (i + 5 < n && memcmp(text + i + 1, "u0000", 5) == 0)
                memcpy(text + i, esc_up, 6);
            i++; /* skip the escaped character */
        }
    }
}

/* Copies s into out (NUL bytes restored), returns its length in bytes. */
static size_t name_bytes(const runner *r, const char *s, char *out, size_t cap)
{
    size_t n = 0, ml = strlen(r->marker);
    while (*s && n + 1 < cap) {
        if (ml && strncmp(s, r->marker, ml) == 0) {
            out[n++] = '\0';
            s += ml;
        } else {
            out[n++] = *s++;
        }
    }
    out[n] = '\0';
    return n;
}

/* Prints a name for messages, escaping what is not printable ASCII. */
static void name_printable(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
            out[n++] = (char)c;
        else
            n += (size_t)snprintf(out + n, cap - n, "\\%02x", c);
    }
    out[n] = '\0';
}

/* ---- the spectest host module ------------------------------------------ */

static void print_values(const char *name, const wasm_value *args, int n)
{
    printf("%s(", name);
    for (int i = 0; i < n; i++) {
        const wasm_value *v = &args[i];
        if (i)
            printf(", ");
        switch (v->type) {
        case WASM_I32:
            printf("%" PRId32 " : i32", v->of.i32);
            break;
        case WASM_I64:
            printf("%" PRId64 " : i64", v->of.i64);
            break;
        case WASM_F32:
            printf("%.9g : f32", (double)v->of.f32);
            break;
        case WASM_F64:
            printf("%.17g : f64", v->of.f64);
            break;
        default:
            printf("%p", v->of.ref);
            break;
        }
    }
    printf(")\n");
}

#define PRINT_HOST(fname, n)                                                                    \
    static bool fname(void *user, const wasm_value *args, wasm_value *results, wasm_error *err) \
    {                                                                                           \
        runner *r = user;                                                                       \
        (void)results;                                                                          \
        (void)err;                                                                              \
        if (r->verbose)                                                                         \
            print_values("spectest." #fname, args, n);                                          \
        return true;                                                                            \
    }

PRINT_HOST(print, 0)
PRINT_HOST(print_i32, 1)
PRINT_HOST(print_i64, 1)
PRINT_HOST(print_f32, 1)
PRINT_HOST(print_f64, 1)
PRINT_HOST(print_i32_f32, 2)
PRINT_HOST(print_f64_f64, 2)

static bool spectest_make(runner *r)
{
    static const wasm_valtype p_i32[] = {WASM_I32}, p_i64[] = {WASM_I64}, p_f32[] = {WASM_F32},
                              p_f64[] = {WASM_F64}, p_i32_f32[] = {WASM_I32, WASM_F32},
                              p_f64_f64[] = {WASM_F64, WASM_F64};
    wasm_store *s = r->store;
    r->print[0] = wasm_func_new_host(s, NULL, 0, NULL, 0, print, r);
    r->print[1] = wasm_func_new_host(s, p_i32, 1, NULL, 0, print_i32, r);
    r->print[2] = wasm_func_new_host(s, p_i64, 1, NULL, 0, print_i64, r);
    r->print[3] = wasm_func_new_host(s, p_f32, 1, NULL, 0, print_f32, r);
    r->print[4] = wasm_func_new_host(s, p_f64, 1, NULL, 0, print_f64, r);
    r->print[5] = wasm_func_new_host(s, p_i32_f32, 2, NULL, 0, print_i32_f32, r);
    r->print[6] = wasm_func_new_host(s, p_f64_f64, 2, NULL, 0, print_f64_f64, r);
    wasm_value v;
    v.type = WASM_I32;
    v.of.i32 = 666;
    r->g_i32 = wasm_global_new(s, v, false);
    v.type = WASM_I64;
    v.of.i64 = 666;
    r->g_i64 = wasm_global_new(s, v, false);
    v.type = WASM_F32;
    v.of.f32 = 666.6f;
    r->g_f32 = wasm_global_new(s, v, false);
    v.type = WASM_F64;
    v.of.f64 = 666.6;
    r->g_f64 = wasm_global_new(s, v, false);
    wasm_error err;
    r->table = wasm_table_new(s, WASM_FUNCREF, 10, true, 20, &err);
    r->memory = wasm_memory_new(s, 1, true, 2, &err);
    for (int i = 0; i < 7; i++)
        if (!r->print[i])
            return false;
    return r->g_i32 && r->g_i64 && r->g_f32 && r->g_f64 && r->table && r->memory;
}

static bool spectest_resolve(runner *r, const char *name, wasm_extern *out)
{
    static const char *const prints[7] = {"print",     "print_i32",     "print_i64",    "print_f32",
                                          "print_f64", "print_i32_f32", "print_f64_f64"};
    for (int i = 0; i < 7; i++) {
        if (strcmp(name, prints[i]) == 0) {
            out->kind = WASM_EXTERN_FUNC;
            out->of.func = r->print[i];
            return true;
        }
    }
    struct {
        const char *name;
        wasm_global *g;
    } globals[4] = {{"global_i32", r->g_i32},
                    {"global_i64", r->g_i64},
                    {"global_f32", r->g_f32},
                    {"global_f64", r->g_f64}};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, globals[i].name) == 0) {
            out->kind = WASM_EXTERN_GLOBAL;
            out->of.global = globals[i].g;
            return true;
        }
    }
    if (strcmp(name, "table") == 0) {
        out->kind = WASM_EXTERN_TABLE;
        out->of.table = r->table;
        return true;
    }
    if (strcmp(name, "memory") == 0) {
        out->kind = WASM_EXTERN_MEMORY;
        out->of.memory = r->memory;
        return true;
    }
    return false;
}

static wasm_instance *find_named(named_inst *list, size_t n, const char *name)
{
    /* the latest definition of a name wins */
    for (size_t i = n; i-- > 0;)
        if (strcmp(list[i].name, name) == 0)
            return list[i].inst;
    return NULL;
}

/* Resolves imports: the built-in spectest module, then registered modules.
 * A wrong kind is returned as found so the engine reports the mismatch. */
static bool resolve(void *user, const char *module_name, const char *name, wasm_extern_kind kind,
                    wasm_extern *out)
{
    runner *r = user;
    (void)kind;
    if (strcmp(module_name, "spectest") == 0)
        return spectest_resolve(r, name, out);
    wasm_instance *inst = find_named(r->registered, r->nregistered, module_name);
    return inst && wasm_instance_export(inst, name, out);
}

static bool add_named(named_inst **list, size_t *n, size_t *cap, const char *name,
                      wasm_instance *inst)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        named_inst *l = realloc(*list, c * sizeof *l);
        if (!l)
            return false;
        *list = l;
        *cap = c;
    }
    char *copy = strdup(name);
    if (!copy)
        return false;
    (*list)[*n].name = copy;
    (*list)[*n].inst = inst;
    (*n)++;
    return true;
}

/* ---- modules ------------------------------------------------------------ */

/* Loads dir/filename. Returns the module (kept until the store goes) or NULL
 * with err filled; *io_error tells a file problem from a load failure. */
static wasm_module *load_module(runner *r, const char *filename, wasm_error *err, bool *io_error)
{
    *io_error = false;
    memset(err, 0, sizeof *err);
    size_t plen = strlen(r->dir) + strlen(filename) + 2;
    char *path = malloc(plen);
    if (!path) {
        *io_error = true;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return NULL;
    }
    if (filename[0] == '/')
        snprintf(path, plen, "%s", filename);
    else
        snprintf(path, plen, "%s/%s", r->dir, filename);
    uint8_t *bytes;
    size_t len;
    char ferr[200];
    if (util_read_file(path, WASM_MAX_BYTES, &bytes, &len, ferr, sizeof ferr) != 0) {
        *io_error = true;
        snprintf(err->msg, sizeof err->msg, "%s", ferr);
        free(path);
        return NULL;
    }
    free(path);
    wasm_module *m = wasm_module_load(bytes, len, err);
    free(bytes);
    if (!m)
        return NULL;
    if (r->nmodules == r->cap_modules) {
        size_t c = r->cap_modules ? r->cap_modules * 2 : 16;
        wasm_module **l = realloc(r->modules, c * sizeof *l);
        if (!l) {
            wasm_module_free(m);
            *io_error = true;
            snprintf(err->msg, sizeof err->msg, "out of memory");
            return NULL;
        }
        r->modules = l;
        r->cap_modules = c;
    }
    r->modules[r->nmodules++] = m;
    return m;
}

static const char *json_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void cmd_module(runner *r, const cJSON *c, int line)
{
    const char *filename = json_str(c, "filename");
    const char *name = json_str(c, "name");
    r->current = NULL;
    r->current_failed = true;
    if (!filename) {
        fail_line(r, line, "module", "no filename");
        return;
    }
    wasm_error err;
    bool io;
    wasm_module *m = load_module(r, filename, &err, &io);
    char why[400];
    if (!m) {
        describe_error(&err, why, sizeof why);
        fail_line(r, line, "module", "%s: %s", filename, io ? err.msg : why);
        return;
    }
    wasm_instance *inst = wasm_instantiate(r->store, m, resolve, r, &err);
    if (!inst) {
        describe_error(&err, why, sizeof why);
        fail_line(r, line, "module", "%s: instantiation failed: %s", filename, why);
        return;
    }
    r->current = inst;
    r->current_failed = false;
    if (name && !add_named(&r->named, &r->nnamed, &r->cap_named, name, inst)) {
        fail_line(r, line, "module", "out of memory");
        return;
    }
    if (r->verbose)
        printf("%s:%d: module: ok %s%s%s\n", r->json_path, line, filename, name ? " as " : "",
               name ? name : "");
}

static void cmd_register(runner *r, const cJSON *c, int line)
{
    const char *as = json_str(c, "as");
    const char *name = json_str(c, "name");
    wasm_instance *inst = name ? find_named(r->named, r->nnamed, name) : r->current;
    if (!as) {
        fail_line(r, line, "register", "no \"as\" name");
        return;
    }
    if (!inst) {
        fail_line(r, line, "register", "no module %s to register as \"%s\"", name ? name : "", as);
        return;
    }
    if (!add_named(&r->registered, &r->nregistered, &r->cap_registered, as, inst))
        fail_line(r, line, "register", "out of memory");
    else if (r->verbose)
        printf("%s:%d: register: ok as \"%s\"\n", r->json_path, line, as);
}

/* Runs assert_invalid, assert_malformed, assert_unlinkable, assert_uninstantiable
 * and assert_trap on a module. */
static void cmd_module_assert(runner *r, const cJSON *c, int line, const char *type)
{
    const char *filename = json_str(c, "filename");
    const char *text = json_str(c, "text");
    const char *mtype = json_str(c, "module_type");
    if (!text)
        text = "";
    if (mtype && strcmp(mtype, "binary") != 0) {
        r->skipped++;
        if (r->verbose)
            printf("%s:%d: %s: skipped (%s module)\n", r->json_path, line, type, mtype);
        return;
    }
    if (!filename) {
        fail_line(r, line, type, "no filename");
        return;
    }
    bool want_invalid = strcmp(type, "assert_invalid") == 0;
    bool want_malformed = strcmp(type, "assert_malformed") == 0;
    wasm_error err;
    bool io;
    wasm_module *m = load_module(r, filename, &err, &io);
    char why[400];
    if (io) {
        fail_line(r, line, type, "%s: %s", filename, err.msg);
        return;
    }
    if (want_invalid || want_malformed) {
        if (m) {
            fail_line(r, line, type, "%s: loaded, expected failure \"%s\"", filename, text);
            return;
        }
        describe_error(&err, why, sizeof why);
        wasm_status want = want_invalid ? WASM_ERR_INVALID : WASM_ERR_MALFORMED;
        if (r->strict && err.status != want) {
            fail_line(r, line, type, "%s: failed as %s, expected %s \"%s\"", filename, why,
                      wasm_status_name(want), text);
            return;
        }
        pass_line(r, line, type, why);
        return;
    }
    if (!m) {
        describe_error(&err, why, sizeof why);
        fail_line(r, line, type, "%s: failed to load (%s), expected \"%s\"", filename, why, text);
        return;
    }
    wasm_instance *inst = wasm_instantiate(r->store, m, resolve, r, &err);
    wasm_status want = strcmp(type, "assert_unlinkable") == 0 ? WASM_ERR_LINK : WASM_ERR_TRAP;
    if (inst) {
        fail_line(r, line, type, "%s: instantiated, expected %s \"%s\"", filename,
                  wasm_status_name(want), text);
        return;
    }
    describe_error(&err, why, sizeof why);
    if (err.status != want) {
        fail_line(r, line, type, "%s: %s, expected %s \"%s\"", filename, why,
                  wasm_status_name(want), text);
        return;
    }
    pass_line(r, line, type, why);
}

/* ---- values ------------------------------------------------------------- */

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !(*s >= '0' && *s <= '9'))
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool valtype_parse(const char *s, wasm_valtype *out)
{
    static const struct {
        const char *name;
        wasm_valtype t;
    } map[] = {{"i32", WASM_I32}, {"i64", WASM_I64},         {"f32", WASM_F32},
               {"f64", WASM_F64}, {"funcref", WASM_FUNCREF}, {"externref", WASM_EXTERNREF}};
    for (size_t i = 0; s && i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(s, map[i].name) == 0) {
            *out = map[i].t;
            return true;
        }
    }
    return false;
}

/* An argument from JSON: {"type": "i32", "value": "42"} (integers and float
 * bits as unsigned decimal; refs "null" or an extern number). */
static bool parse_arg(const cJSON *j, wasm_value *out, char *why, size_t n)
{
    const char *ts = json_str(j, "type");
    const char *vs = json_str(j, "value");
    memset(out, 0, sizeof *out);
    if (!valtype_parse(ts, &out->type)) {
        snprintf(why, n, "unsupported argument type %s", ts ? ts : "(none)");
        return false;
    }
    uint64_t bits = 0;
    bool is_null = vs && strcmp(vs, "null") == 0;
    if (out->type == WASM_FUNCREF || out->type == WASM_EXTERNREF) {
        if (is_null) {
            out->of.ref = NULL;
            return true;
        }
        if (out->type == WASM_EXTERNREF && parse_u64(vs, &bits)) {
            /* +1 keeps (ref.extern 0) distinct from null */
            out->of.ref = (void *)(uintptr_t)(bits + 1);
            return true;
        }
        snprintf(why, n, "unsupported %s argument %s", ts, vs ? vs : "(none)");
        return false;
    }
    if (!parse_u64(vs, &bits)) {
        snprintf(why, n, "bad %s argument %s", ts, vs ? vs : "(none)");
        return false;
    }
    switch (out->type) {
    case WASM_I32:
        out->of.i32 = (int32_t)(uint32_t)bits;
        break;
    case WASM_I64:
        out->of.i64 = (int64_t)bits;
        break;
    case WASM_F32: {
        uint32_t b = (uint32_t)bits;
        memcpy(&out->of.f32, &b, 4);
        break;
    }
    case WASM_F64:
        memcpy(&out->of.f64, &bits, 8);
        break;
    default:
        break;
    }
    return true;
}

static void format_value(const wasm_value *v, char *out, size_t n)
{
    switch (v->type) {
    case WASM_I32:
        snprintf(out, n, "i32:%" PRId32 " (0x%" PRIx32 ")", v->of.i32, (uint32_t)v->of.i32);
        break;
    case WASM_I64:
        snprintf(out, n, "i64:%" PRId64 " (0x%" PRIx64 ")", v->of.i64, (uint64_t)v->of.i64);
        break;
    case WASM_F32: {
        uint32_t b;
        memcpy(&b, &v->of.f32, 4);
        snprintf(out, n, "f32:%.9g (0x%08" PRIx32 ")", (double)v->of.f32, b);
        break;
    }
    case WASM_F64: {
        uint64_t b;
        memcpy(&b, &v->of.f64, 8);
        snprintf(out, n, "f64:%.17g (0x%016" PRIx64 ")", v->of.f64, b);
        break;
    }
    case WASM_FUNCREF:
        if (v->of.ref)
            snprintf(out, n, "funcref:%p", v->of.ref);
        else
            snprintf(out, n, "funcref:null");
        break;
    case WASM_EXTERNREF:
        if (v->of.ref)
            snprintf(out, n, "externref:%" PRIuPTR, (uintptr_t)v->of.ref - 1);
        else
            snprintf(out, n, "externref:null");
        break;
    default:
        snprintf(out, n, "?");
        break;
    }
}

static void format_expected(const cJSON *j, char *out, size_t n)
{
    const char *ts = json_str(j, "type");
    const char *vs = json_str(j, "value");
    snprintf(out, n, "%s:%s", ts ? ts : "?", vs ? vs : "(any)");
}

/* Does result v match the expected JSON value? */
static bool value_matches(const wasm_value *v, const cJSON *j)
{
    const char *ts = json_str(j, "type");
    const char *vs = json_str(j, "value");
    wasm_valtype t;
    if (!valtype_parse(ts, &t) || t != v->type)
        return false;
    if (t == WASM_FUNCREF || t == WASM_EXTERNREF) {
        if (!vs)
            return v->of.ref != NULL;
        if (strcmp(vs, "null") == 0)
            return v->of.ref == NULL;
        uint64_t bits;
        if (t == WASM_EXTERNREF && parse_u64(vs, &bits))
            return (uintptr_t)v->of.ref == (uintptr_t)(bits + 1);
        return false;
    }
    if (t == WASM_F32) {
        uint32_t b;
        memcpy(&b, &v->of.f32, 4);
        if (vs && strcmp(vs, "nan:canonical") == 0)
            return (b & 0x7fffffffu) == 0x7fc00000u;
        if (vs && strcmp(vs, "nan:arithmetic") == 0)
            return (b & 0x7fc00000u) == 0x7fc00000u;
        uint64_t want;
        return parse_u64(vs, &want) && (uint32_t)want == b;
    }
    if (t == WASM_F64) {
        uint64_t b;
        memcpy(&b, &v->of.f64, 8);
        if (vs && strcmp(vs, "nan:canonical") == 0)
            return (b & 0x7fffffffffffffffull) == 0x7ff8000000000000ull;
        if (vs && strcmp(vs, "nan:arithmetic") == 0)
            return (b & 0x7ff8000000000000ull) == 0x7ff8000000000000ull;
        uint64_t want;
        return parse_u64(vs, &want) && want == b;
    }
    uint64_t want;
    if (!parse_u64(vs, &want))
        return false;
    if (t == WASM_I32)
        return (uint32_t)want == (uint32_t)v->of.i32;
    return want == (uint64_t)v->of.i64;
}

/* ---- actions ------------------------------------------------------------ */

enum { MAX_VALUES = 1000 };

typedef struct {
    wasm_status status; /* WASM_OK, or the engine's error in err */
    wasm_error err;
    bool setup_failed; /* the runner could not even try: why says what */
    char why[300];
    char desc[300]; /* "invoke \"f\"(i32:1)" for messages */
    wasm_value *results;
    uint32_t nresults;
} outcome;

static void run_action(runner *r, const cJSON *action, outcome *o)
{
    memset(o, 0, sizeof *o);
    const char *type = json_str(action, "type");
    const char *field = json_str(action, "field");
    const char *modname = json_str(action, "module");
    char name[512], shown[256];
    size_t nlen = field ? name_bytes(r, field, name, sizeof name) : 0;
    name_printable(name, nlen, shown, sizeof shown);
    snprintf(o->desc, sizeof o->desc, "%s \"%s\"%s%s", type ? type : "?", shown,
             modname ? " in " : "", modname ? modname : "");
    o->setup_failed = true;
    if (!type || !field) {
        snprintf(o->why, sizeof o->why, "action without type or field");
        return;
    }
    wasm_instance *inst = modname ? find_named(r->named, r->nnamed, modname) : r->current;
    if (!inst) {
        snprintf(o->why, sizeof o->why, "no module %s (it failed to load)",
                 modname ? modname : "instance");
        return;
    }
    wasm_extern ext;
    if (!wasm_instance_export_n(inst, name, nlen, &ext)) {
        snprintf(o->why, sizeof o->why, "unknown export \"%s\"", shown);
        return;
    }
    if (strcmp(type, "get") == 0) {
        if (ext.kind != WASM_EXTERN_GLOBAL) {
            snprintf(o->why, sizeof o->why, "export \"%s\" is not a global", shown);
            return;
        }
        o->results = malloc(sizeof *o->results);
        if (!o->results) {
            snprintf(o->why, sizeof o->why, "out of memory");
            return;
        }
        o->results[0] = wasm_global_get(ext.of.global);
        o->nresults = 1;
        o->setup_failed = false;
        o->status = WASM_OK;
        return;
    }
    if (strcmp(type, "invoke") != 0) {
        snprintf(o->why, sizeof o->why, "unknown action type %s", type);
        return;
    }
    if (ext.kind != WASM_EXTERN_FUNC) {
        snprintf(o->why, sizeof o->why, "export \"%s\" is not a function", shown);
        return;
    }
    const cJSON *jargs = cJSON_GetObjectItemCaseSensitive(action, "args");
    int nargs = cJSON_IsArray(jargs) ? cJSON_GetArraySize(jargs) : 0;
    const wasm_functype *ft = wasm_func_type(ext.of.func);
    uint32_t nres = wasm_functype_result_count(ft);
    if (nargs > MAX_VALUES || nres > MAX_VALUES) {
        snprintf(o->why, sizeof o->why, "too many values");
        return;
    }
    wasm_value *args = calloc((size_t)nargs + 1, sizeof *args);
    o->results = calloc((size_t)nres + 1, sizeof *o->results);
    if (!args || !o->results) {
        free(args);
        snprintf(o->why, sizeof o->why, "out of memory");
        return;
    }
    size_t dl = strlen(o->desc);
    dl += (size_t)snprintf(o->desc + dl, sizeof o->desc - dl, "(");
    for (int i = 0; i < nargs; i++) {
        if (!parse_arg(cJSON_GetArrayItem(jargs, i), &args[i], o->why, sizeof o->why)) {
            free(args);
            return;
        }
        char vb[80];
        format_value(&args[i], vb, sizeof vb);
        if (dl < sizeof o->desc)
            dl += (size_t)snprintf(o->desc + dl, sizeof o->desc - dl, "%s%s", i ? ", " : "", vb);
    }
    if (dl < sizeof o->desc)
        snprintf(o->desc + dl, sizeof o->desc - dl, ")");
    o->setup_failed = false;
    if (r->fuel)
        wasm_store_set_fuel(r->store, r->fuel);
    o->status =
        wasm_func_call(r->store, ext.of.func, args, (uint32_t)nargs, o->results, nres, &o->err);
    if (o->status == WASM_OK)
        o->nresults = nres;
    free(args);
}

static void cmd_action(runner *r, const cJSON *c, int line, const char *type)
{
    const cJSON *action = cJSON_GetObjectItemCaseSensitive(c, "action");
    const cJSON *expected = cJSON_GetObjectItemCaseSensitive(c, "expected");
    const char *text = json_str(c, "text");
    if (!text)
        text = "";
    if (!cJSON_IsObject(action)) {
        fail_line(r, line, type, "no action");
        return;
    }
    outcome o;
    run_action(r, action, &o);
    char why[400];
    if (o.setup_failed) {
        fail_line(r, line, type, "%s: %s", o.desc, o.why);
    } else if (strcmp(type, "assert_trap") == 0 || strcmp(type, "assert_exhaustion") == 0) {
        bool exhaustion = type[7] == 'e';
        if (o.status == WASM_OK) {
            fail_line(r, line, type, "%s: returned, expected trap \"%s\"", o.desc, text);
        } else if (o.status != WASM_ERR_TRAP ||
                   (exhaustion && o.err.trap != WASM_TRAP_STACK_EXHAUSTED)) {
            describe_error(&o.err, why, sizeof why);
            fail_line(r, line, type, "%s: %s, expected trap \"%s\"", o.desc, why, text);
        } else {
            pass_line(r, line, type, o.err.msg);
        }
    } else {
        /* assert_return, or a plain action (which must not fail) */
        int nexp = cJSON_IsArray(expected) ? cJSON_GetArraySize(expected) : 0;
        bool plain = strcmp(type, "action") == 0;
        if (o.status != WASM_OK) {
            describe_error(&o.err, why, sizeof why);
            fail_line(r, line, type, "%s: %s", o.desc, why);
        } else if (!plain && (uint32_t)nexp != o.nresults) {
            fail_line(r, line, type, "%s: %" PRIu32 " results, expected %d", o.desc, o.nresults,
                      nexp);
        } else {
            int bad = -1;
            for (int i = 0; !plain && i < nexp; i++) {
                if (!value_matches(&o.results[i], cJSON_GetArrayItem(expected, i))) {
                    bad = i;
                    break;
                }
            }
            if (bad < 0) {
                pass_line(r, line, type, o.desc);
            } else {
                char got[100], want[100];
                format_value(&o.results[bad], got, sizeof got);
                format_expected(cJSON_GetArrayItem(expected, bad), want, sizeof want);
                fail_line(r, line, type, "%s: result %d is %s, expected %s", o.desc, bad, got,
                          want);
            }
        }
    }
    free(o.results);
}

/* ---- files -------------------------------------------------------------- */

static void run_command(runner *r, const cJSON *c)
{
    const char *type = json_str(c, "type");
    const cJSON *jl = cJSON_GetObjectItemCaseSensitive(c, "line");
    int line = cJSON_IsNumber(jl) ? jl->valueint : 0;
    if (!type) {
        fail_line(r, line, "?", "command without a type");
        return;
    }
    if (strcmp(type, "module") == 0)
        cmd_module(r, c, line);
    else if (strcmp(type, "register") == 0)
        cmd_register(r, c, line);
    else if (strcmp(type, "action") == 0 || strcmp(type, "assert_return") == 0 ||
             strcmp(type, "assert_exhaustion") == 0)
        cmd_action(r, c, line, type);
    else if (strcmp(type, "assert_trap") == 0 && !json_str(c, "filename"))
        cmd_action(r, c, line, type);
    else if (strcmp(type, "assert_trap") == 0) /* on a module: like assert_uninstantiable */
        cmd_module_assert(r, c, line, type);
    else if (strcmp(type, "assert_invalid") == 0 || strcmp(type, "assert_malformed") == 0 ||
             strcmp(type, "assert_unlinkable") == 0 || strcmp(type, "assert_uninstantiable") == 0)
        cmd_module_assert(r, c, line, type);
    else
        fail_line(r, line, type, "unknown command type");
}

static void file_reset(runner *r)
{
    wasm_store_free(r->store);
    r->store = NULL;
    for (size_t i = 0; i < r->nmodules; i++)
        wasm_module_free(r->modules[i]);
    free(r->modules);
    r->modules = NULL;
    r->nmodules = r->cap_modules = 0;
    for (size_t i = 0; i < r->nnamed; i++)
        free(r->named[i].name);
    for (size_t i = 0; i < r->nregistered; i++)
        free(r->registered[i].name);
    free(r->named);
    free(r->registered);
    r->named = r->registered = NULL;
    r->nnamed = r->cap_named = r->nregistered = r->cap_registered = 0;
    free(r->dir);
    r->dir = NULL;
    r->current = NULL;
}

static void run_file(runner *r, const char *path)
{
    r->json_path = path;
    uint8_t *text;
    size_t len;
    char ferr[300];
    if (util_read_file(path, JSON_MAX_BYTES, &text, &len, ferr, sizeof ferr) != 0) {
        fprintf(stderr, "swarm spectest: %s\n", ferr);
        r->failed++;
        return;
    }
    fix_nul(r, (char *)text, len);
    cJSON *root = cJSON_ParseWithLength((const char *)text, len);
    free(text);
    const cJSON *cmds = root ? cJSON_GetObjectItemCaseSensitive(root, "commands") : NULL;
    if (!cJSON_IsArray(cmds)) {
        fprintf(stderr, "swarm spectest: %s: not a wast2json file (%s)\n", path,
                root ? "no \"commands\" array" : "unparsable JSON");
        cJSON_Delete(root);
        r->failed++;
        return;
    }
    const char *slash = strrchr(path, '/');
    r->dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    r->store = wasm_store_new(NULL);
    if (!r->dir || !r->store || !spectest_make(r)) {
        fprintf(stderr, "swarm spectest: %s: out of memory\n", path);
        r->failed++;
        cJSON_Delete(root);
        file_reset(r);
        return;
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, cmds)
    {
        if (cJSON_IsObject(c))
            run_command(r, c);
        else
            fail_line(r, 0, "?", "command is not an object");
    }
    cJSON_Delete(root);
    file_reset(r);
    fflush(stdout);
}

int cmd_spectest(int argc, char **argv)
{
    static runner r; /* zeroed; static keeps a big struct off the stack */
    memset(&r, 0, sizeof r);
    const char *v;
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    int nfiles = 0;
    if (!files) {
        fprintf(stderr, "swarm spectest: out of memory\n");
        return SWARM_EXIT_RUNTIME;
    }
    cli_args a;
    cli_init(&a, "spectest", usage, argc, argv);
    while (cli_next(&a)) {
        if (cli_help(&a))
            continue;
        if ((!a.only_pos && strcmp(a.arg, "-v") == 0) || cli_flag(&a, "--verbose", &r.verbose)) {
            r.verbose = true;
            continue;
        }
        if (cli_flag(&a, "--strict", &r.strict))
            continue;
        if (cli_opt(&a, "--fuel", &v)) {
            if (a.exit_code < 0)
                cli_parse_u64(&a, "--fuel", v, &r.fuel);
            continue;
        }
        if (cli_pos(&a, &v)) {
            files[nfiles++] = v;
            continue;
        }
        cli_unknown(&a);
    }
    if (a.exit_code < 0 && nfiles == 0)
        cli_usage_error(&a, "no test files given");
    if (a.exit_code >= 0) {
        free(files);
        return a.exit_code;
    }
    for (int i = 0; i < nfiles; i++)
        run_file(&r, files[i]);
    free(files);
    printf("%ld passed, %ld failed", r.passed, r.failed);
    if (r.skipped)
        printf(", %ld skipped", r.skipped);
    printf("\n");
    return r.failed ? SWARM_EXIT_RUNTIME : SWARM_EXIT_OK;
}
