/*
 * cmd_run.c — `swarm run MODULE.wasm ...`: runs one exported function of a
 * module on this machine, in a store with fuel and memory limits, and prints
 * its results, one per line.
 *
 * Only self-contained modules run here (no imports): that is the shape of a
 * Swarm job, and it keeps `run` an exact local preview of what a worker does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "file.h"
#include "wasm.h"

static const char usage[] =
    "usage: swarm run MODULE.wasm [--func NAME] [--range A..B | ARG...] [--fuel N]\n"
    "                 [--max-pages N] [--stats]\n"
    "\n"
    "Run a wasm module on this machine, once with ARGs or over a range, and print the result.\n"
    "\n"
    "  --func NAME     exported function to call (default: \"execute\", else the only\n"
    "                  exported function)\n"
    "  --range A..B    call it with (A, B): for (i32,i32) or (i64,i64) functions\n"
    "  ARG...          arguments by the function's parameter types: integers in decimal\n"
    "                  or 0x hex (negative allowed), floats as C reads them (1.5, -inf, nan)\n"
    "  --fuel N        stop with a trap after N units of fuel (default: unlimited)\n"
    "  --max-pages N   cap any memory at N 64 KiB pages (1..65536, default 65536)\n"
    "  --stats         print load, run time and fuel used to stderr\n"
    "\n"
    "Results go to stdout, one per line (integers signed decimal, floats %.17g).\n"
    "Exit status: 0 ok, 1 runtime failure, 2 usage, 3 invalid module, 4 trap.\n";

#define MODULE_MAX_BYTES (256u << 20)
#define MAX_VALUES       64

typedef struct {
    const char *path, *func, *range;
    const char *args[MAX_VALUES];
    int nargs;
    uint64_t fuel, max_pages;
    bool stats;
} run_opts;

/* "(i32, i64) -> (f64)" */
static void format_sig(const wasm_functype *t, char *out, size_t n)
{
    size_t l = (size_t)snprintf(out, n, "(");
    uint32_t np = wasm_functype_param_count(t), nr = wasm_functype_result_count(t);
    for (uint32_t i = 0; i < np && l < n; i++)
        l += (size_t)snprintf(out + l, n - l, "%s%s", i ? ", " : "",
                              wasm_valtype_name(wasm_functype_param(t, i)));
    if (l < n)
        l += (size_t)snprintf(out + l, n - l, ") -> (");
    for (uint32_t i = 0; i < nr && l < n; i++)
        l += (size_t)snprintf(out + l, n - l, "%s%s", i ? ", " : "",
                              wasm_valtype_name(wasm_functype_result(t, i)));
    if (l < n)
        snprintf(out + l, n - l, ")");
}

/* Lists the exported function names, comma separated. */
static void list_funcs(const wasm_module *m, char *out, size_t n)
{
    size_t l = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < wasm_module_export_count(m) && l < n; i++) {
        const char *name;
        wasm_extern_kind kind;
        wasm_module_export_info(m, i, &name, &kind);
        if (kind == WASM_EXTERN_FUNC)
            l += (size_t)snprintf(out + l, n - l, "%s\"%s\"", l ? ", " : "", name);
    }
    if (!out[0])
        snprintf(out, n, "none");
}

/* Picks the function: --func, else "execute", else the only exported function.
 * Returns its name or NULL after a usage error. */
static const char *pick_func(cli_args *a, const wasm_module *m, const char *want, const char *path)
{
    char names[512];
    if (want) {
        if (wasm_module_export_functype(m, want))
            return want;
        list_funcs(m, names, sizeof names);
        cli_usage_error(a, "%s: no exported function \"%s\" (exported functions: %s)", path, want,
                        names);
        return NULL;
    }
    if (wasm_module_export_functype(m, "execute"))
        return "execute";
    const char *only = NULL;
    int count = 0;
    for (uint32_t i = 0; i < wasm_module_export_count(m); i++) {
        const char *name;
        wasm_extern_kind kind;
        wasm_module_export_info(m, i, &name, &kind);
        if (kind == WASM_EXTERN_FUNC) {
            only = name;
            count++;
        }
    }
    if (count == 1)
        return only;
    list_funcs(m, names, sizeof names);
    cli_usage_error(a,
                    "%s: which function? There is no \"execute\" export and %s; "
                    "choose one with --func NAME (exported functions: %s)",
                    path, count ? "more than one exported function" : "no exported function",
                    names);
    return NULL;
}

/* Parses an integer in decimal or 0x hex, optionally negative, that fits
 * `bits` bits either signed or unsigned. */
static bool parse_int(const char *s, unsigned bits, int64_t *out)
{
    bool neg = *s == '-';
    const char *p = neg ? s + 1 : s;
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    if (!((*p >= '0' && *p <= '9') ||
          (base == 16 && ((*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))))
        return false;
    char *end;
    errno = 0;
    unsigned long long mag = strtoull(p, &end, base);
    if (errno || *end)
        return false;
    if (bits == 32) {
        if (neg ? mag > 0x80000000ull : mag > 0xffffffffull)
            return false;
        *out = neg ? -(int64_t)mag : (int64_t)(int32_t)(uint32_t)mag;
        return true;
    }
    if (neg && mag > 0x8000000000000000ull)
        return false;
    *out = neg ? (int64_t)(0 - (uint64_t)mag) : (int64_t)(uint64_t)mag;
    return true;
}

static bool parse_float(const char *s, double *out)
{
    char *end;
    if (!*s)
        return false;
    errno = 0;
    double v = strtod(s, &end);
    if (*end)
        return false;
    *out = v; /* ERANGE still gives inf or 0, which is what a user asking for 1e999 wants */
    return true;
}

static bool parse_arg(const char *s, wasm_valtype t, wasm_value *out)
{
    int64_t i;
    double d;
    out->type = t;
    switch (t) {
    case WASM_I32:
        if (!parse_int(s, 32, &i))
            return false;
        out->of.i32 = (int32_t)i;
        return true;
    case WASM_I64:
        if (!parse_int(s, 64, &i))
            return false;
        out->of.i64 = i;
        return true;
    case WASM_F32:
        if (!parse_float(s, &d))
            return false;
        out->of.f32 = (float)d;
        return true;
    case WASM_F64:
        if (!parse_float(s, &d))
            return false;
        out->of.f64 = d;
        return true;
    case WASM_FUNCREF:
    case WASM_EXTERNREF:
        out->of.ref = NULL;
        return strcmp(s, "null") == 0;
    }
    return false;
}

static void print_value(const wasm_value *v)
{
    switch (v->type) {
    case WASM_I32:
        printf("%" PRId32 "\n", v->of.i32);
        break;
    case WASM_I64:
        printf("%" PRId64 "\n", v->of.i64);
        break;
    case WASM_F32:
        printf("%.9g\n", (double)v->of.f32);
        break;
    case WASM_F64:
        printf("%.17g\n", v->of.f64);
        break;
    case WASM_FUNCREF:
    case WASM_EXTERNREF:
        printf("%s\n", v->of.ref ? "ref" : "null");
        break;
    }
}

/* Fills args from --range or the ARGs for function type t; false after a usage error. */
static bool build_args(cli_args *a, const run_opts *o, const char *fname, const wasm_functype *t,
                       wasm_value *args)
{
    char sig[256];
    format_sig(t, sig, sizeof sig);
    uint32_t np = wasm_functype_param_count(t);
    if (o->range) {
        int64_t lo, hi;
        wasm_valtype p0 = np == 2 ? wasm_functype_param(t, 0) : WASM_F64;
        wasm_valtype p1 = np == 2 ? wasm_functype_param(t, 1) : WASM_F64;
        if (np != 2 || p0 != p1 || (p0 != WASM_I32 && p0 != WASM_I64)) {
            cli_usage_error(a, "--range needs a function of (i32, i32) or (i64, i64); \"%s\" is %s",
                            fname, sig);
            return false;
        }
        if (!cli_parse_range(a, "--range", o->range, &lo, &hi))
            return false;
        if (p0 == WASM_I32 && (lo < INT32_MIN || hi > INT32_MAX)) {
            cli_usage_error(a, "--range %s does not fit the i32 parameters of \"%s\"", o->range,
                            fname);
            return false;
        }
        for (int i = 0; i < 2; i++) {
            args[i].type = p0;
            if (p0 == WASM_I32)
                args[i].of.i32 = (int32_t)(i ? hi : lo);
            else
                args[i].of.i64 = i ? hi : lo;
        }
        return true;
    }
    if ((uint32_t)o->nargs != np) {
        cli_usage_error(a, "\"%s\" takes %" PRIu32 " argument%s %s, got %d", fname, np,
                        np == 1 ? "" : "s", sig, o->nargs);
        return false;
    }
    for (uint32_t i = 0; i < np; i++) {
        wasm_valtype pt = wasm_functype_param(t, i);
        if (!parse_arg(o->args[i], pt, &args[i])) {
            cli_usage_error(a, "argument %" PRIu32 " of \"%s\" %s: '%s' is not a%s %s", i + 1,
                            fname, sig, o->args[i], pt == WASM_I32 || pt == WASM_I64 ? "n" : "",
                            wasm_valtype_name(pt));
            return false;
        }
    }
    return true;
}

static int parse_opts(cli_args *a, run_opts *o)
{
    const char *v;
    while (cli_next(a)) {
        if (cli_help(a) || cli_flag(a, "--stats", &o->stats) || cli_opt(a, "--func", &o->func) ||
            cli_opt(a, "--range", &o->range))
            continue;
        if (cli_opt(a, "--fuel", &v)) {
            if (a->exit_code < 0)
                cli_parse_u64(a, "--fuel", v, &o->fuel);
            continue;
        }
        if (cli_opt(a, "--max-pages", &v)) {
            if (a->exit_code < 0 && cli_parse_u64(a, "--max-pages", v, &o->max_pages) &&
                (o->max_pages < 1 || o->max_pages > 65536))
                cli_usage_error(a, "--max-pages: expected 1..65536, got %s", v);
            continue;
        }
        if (cli_pos(a, &v)) {
            if (!o->path) {
                o->path = v;
            } else if (o->nargs < MAX_VALUES) {
                o->args[o->nargs++] = v;
            } else {
                cli_usage_error(a, "too many arguments (at most %d)", MAX_VALUES);
            }
            continue;
        }
        cli_unknown(a);
    }
    if (a->exit_code >= 0)
        return a->exit_code;
    if (!o->path)
        return cli_usage_error(a, "no module given");
    if (o->range && o->nargs)
        return cli_usage_error(a, "give either --range or ARGs, not both");
    return -1;
}

static int load_error(const char *path, const wasm_error *err)
{
    if (err->status == WASM_ERR_MALFORMED || err->status == WASM_ERR_INVALID) {
        if (err->has_offset)
            fprintf(stderr, "swarm run: %s: invalid module at offset 0x%zx: %s\n", path,
                    err->offset, err->msg);
        else
            fprintf(stderr, "swarm run: %s: invalid module: %s\n", path, err->msg);
        return SWARM_EXIT_INVALID_MODULE;
    }
    fprintf(stderr, "swarm run: %s: %s: %s\n", path, wasm_status_name(err->status), err->msg);
    return SWARM_EXIT_RUNTIME;
}

static int trap_error(const wasm_error *err, wasm_store *store)
{
    if (err->trap == WASM_TRAP_OUT_OF_FUEL)
        fprintf(stderr, "swarm run: trap: %s (fuel used: %" PRIu64 ")\n", err->msg,
                wasm_store_fuel_used(store));
    else
        fprintf(stderr, "swarm run: trap: %s\n", err->msg);
    return SWARM_EXIT_TRAP;
}

/* Everything after option parsing; owns nothing it does not free. */
static int run(cli_args *a, const run_opts *o)
{
    uint64_t t0 = clock_mono_ns();
    uint8_t *bytes;
    size_t len;
    char ferr[300];
    if (util_read_file(o->path, MODULE_MAX_BYTES, &bytes, &len, ferr, sizeof ferr) != 0) {
        fprintf(stderr, "swarm run: %s\n", ferr);
        return SWARM_EXIT_RUNTIME;
    }
    wasm_error err;
    wasm_module *m = wasm_module_load(bytes, len, &err);
    free(bytes);
    if (!m)
        return load_error(o->path, &err);
    int rc = SWARM_EXIT_RUNTIME;
    wasm_store *store = NULL;
    if (wasm_module_import_count(m) > 0) {
        const char *mod, *name;
        wasm_extern_kind kind;
        wasm_module_import_info(m, 0, &mod, &name, &kind);
        fprintf(stderr,
                "swarm run: %s: the module imports module \"%s\" name \"%s\" (%s); "
                "only modules without imports can run\n",
                o->path, mod, name, wasm_extern_kind_name(kind));
        goto out;
    }
    const char *fname = pick_func(a, m, o->func, o->path);
    if (!fname) {
        rc = SWARM_EXIT_USAGE;
        goto out;
    }
    const wasm_functype *t = wasm_module_export_functype(m, fname);
    uint32_t nres = wasm_functype_result_count(t);
    wasm_value args[MAX_VALUES];
    memset(args, 0, sizeof args);
    if (wasm_functype_param_count(t) > MAX_VALUES || nres > MAX_VALUES) {
        fprintf(stderr, "swarm run: \"%s\" has more than %d parameters or results\n", fname,
                MAX_VALUES);
        goto out;
    }
    if (!build_args(a, o, fname, t, args)) {
        rc = SWARM_EXIT_USAGE;
        goto out;
    }

    wasm_limits lim = {.fuel = o->fuel, .max_pages = (uint32_t)o->max_pages};
    store = wasm_store_new(&lim);
    if (!store) {
        fprintf(stderr, "swarm run: out of memory\n");
        goto out;
    }
    uint64_t t1 = clock_mono_ns();
    wasm_instance *inst = wasm_instantiate(store, m, NULL, NULL, &err);
    if (!inst) {
        if (err.status == WASM_ERR_TRAP)
            rc = trap_error(&err, store);
        else
            fprintf(stderr, "swarm run: %s: %s: %s\n", o->path, wasm_status_name(err.status),
                    err.msg);
        goto out;
    }
    wasm_extern ext;
    if (!wasm_instance_export(inst, fname, &ext) || ext.kind != WASM_EXTERN_FUNC) {
        fprintf(stderr, "swarm run: %s: no exported function \"%s\"\n", o->path, fname);
        goto out;
    }
    wasm_value results[MAX_VALUES];
    uint64_t t2 = clock_mono_ns();
    wasm_status st =
        wasm_func_call(store, ext.of.func, args, wasm_functype_param_count(t), results, nres, &err);
    uint64_t t3 = clock_mono_ns();
    if (o->stats)
        fprintf(stderr,
                "load+compile: %.3f ms, instantiate: %.3f ms, run: %.3f ms, fuel used: %" PRIu64
                "\n",
                (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6, (double)(t3 - t2) / 1e6,
                wasm_store_fuel_used(store));
    if (st == WASM_ERR_TRAP) {
        rc = trap_error(&err, store);
        goto out;
    }
    if (st != WASM_OK) {
        fprintf(stderr, "swarm run: %s: %s\n", wasm_status_name(st), err.msg);
        goto out;
    }
    for (uint32_t i = 0; i < nres; i++)
        print_value(&results[i]);
    rc = fflush(stdout) == 0 ? SWARM_EXIT_OK : SWARM_EXIT_RUNTIME;
out:
    wasm_store_free(store);
    wasm_module_free(m);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    run_opts o;
    memset(&o, 0, sizeof o);
    cli_args a;
    cli_init(&a, "run", usage, argc, argv);
    int rc = parse_opts(&a, &o);
    if (rc >= 0)
        return rc;
    return run(&a, &o);
}
