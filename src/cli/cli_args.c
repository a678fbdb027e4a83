#include "cli.h"
#include "err.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_init(cli_args *a, const char *cmd, const char *usage, int argc, char **argv)
{
    a->cmd = cmd;
    a->usage = usage;
    a->argc = argc;
    a->argv = argv;
    a->next = 1;
    a->arg = NULL;
    a->only_pos = false;
    a->exit_code = -1;
}

bool cli_next(cli_args *a)
{
    if (a->exit_code >= 0 || a->next >= a->argc)
        return false;
    a->arg = a->argv[a->next++];
    if (!a->only_pos && strcmp(a->arg, "--") == 0) {
        a->only_pos = true;
        return cli_next(a);
    }
    return true;
}

static bool is_option(const cli_args *a)
{
    return !a->only_pos && a->arg[0] == '-' && a->arg[1] == '-' && a->arg[2] != '\0';
}

bool cli_help(cli_args *a)
{
    if (a->only_pos || (strcmp(a->arg, "--help") != 0 && strcmp(a->arg, "-h") != 0))
        return false;
    fputs(a->usage, stdout);
    a->exit_code = SWARM_EXIT_OK;
    return true;
}

bool cli_opt(cli_args *a, const char *name, const char **value)
{
    if (!is_option(a))
        return false;
    size_t n = strlen(name);
    if (strncmp(a->arg, name, n) != 0)
        return false;
    if (a->arg[n] == '=') {
        *value = a->arg + n + 1;
        return true;
    }
    if (a->arg[n] != '\0')
        return false;
    if (a->next >= a->argc) {
        cli_usage_error(a, "option '%s' needs a value", name);
        return true;
    }
    *value = a->argv[a->next++];
    return true;
}

bool cli_flag(cli_args *a, const char *name, bool *on)
{
    if (!is_option(a) || strcmp(a->arg, name) != 0)
        return false;
    *on = true;
    return true;
}

bool cli_pos(cli_args *a, const char **value)
{
    if (is_option(a) || (!a->only_pos && strcmp(a->arg, "-h") == 0))
        return false;
    *value = a->arg;
    return true;
}

void cli_unknown(cli_args *a)
{
    if (is_option(a) || (!a->only_pos && strcmp(a->arg, "-h") == 0))
        cli_usage_error(a, "unknown option '%s'", a->arg);
    else
        cli_usage_error(a, "unexpected argument '%s'", a->arg);
}

int cli_usage_error(cli_args *a, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "swarm %s: ", a->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fputs(a->usage, stderr);
    a->exit_code = SWARM_EXIT_USAGE;
    return SWARM_EXIT_USAGE;
}

static bool parse_i64(const char *s, const char **end, int64_t *out)
{
    if (!(*s >= '0' && *s <= '9') && !(*s == '-' && s[1] >= '0' && s[1] <= '9'))
        return false;
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (errno != 0)
        return false;
    *out = v;
    *end = e;
    return true;
}

bool cli_parse_u64(cli_args *a, const char *what, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = (*s >= '0' && *s <= '9') ? strtoull(s, &end, 10) : 0;
    if (!(*s >= '0' && *s <= '9') || errno != 0 || *end != '\0') {
        cli_usage_error(a, "%s: expected a non-negative integer, got '%s'", what, s);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_range(cli_args *a, const char *what, const char *s, int64_t *lo, int64_t *hi)
{
    const char *p;
    if (!parse_i64(s, &p, lo) || p[0] != '.' || p[1] != '.' || !parse_i64(p + 2, &p, hi) ||
        *p != '\0') {
        cli_usage_error(a, "%s: expected a range A..B, got '%s'", what, s);
        return false;
    }
    if (*lo > *hi) {
        cli_usage_error(a, "%s: range start %" PRId64 " is after its end %" PRId64, what, *lo, *hi);
        return false;
    }
    return true;
}

int cli_data_dir(const char *given, char *out, size_t cap, char *err, size_t errlen)
{
    const char *home = getenv("SWARM_HOME");
    int n;
    if (given)
        n = snprintf(out, cap, "%s", given);
    else if (home && *home)
        n = snprintf(out, cap, "%s", home);
    else if ((home = getenv("HOME")) && *home)
        n = snprintf(out, cap, "%s/.swarm", home);
    else
        return err_set(err, errlen, "no data folder: set SWARM_HOME or HOME, or pass --data-dir");
    if (n < 0 || (size_t)n >= cap)
        return err_set(err, errlen, "data folder path is too long");
    return 0;
}
