/* demo_procs.c - spawning, watching and stopping the demo's children (demo_procs.h). */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "demo_procs.h"
#include "util.h"

/* The variable that tells a child which demo it belongs to. */
#define PARENT_ENV   "SWARM_DEMO_PARENT"
#define KILL_WAIT_MS 5000 /* after SIGKILL: the kernel ends a process at once; bounded anyway */

extern char **environ;

static void on_timer(uv_timer_t *t)
{
    dp_set *s = t->data;
    s->timer_fired = true;
}

int dp_init(dp_set *s, uv_loop_t *loop, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    size_t size = sizeof s->exe;
    if (uv_exepath(s->exe, &size) != 0 || size == 0 || size >= sizeof s->exe)
        snprintf(s->exe, sizeof s->exe, "swarm"); /* uv_spawn looks it up in PATH */
    if (uv_timer_init(loop, &s->timer) != 0)
        return err_set(err, errlen, "cannot make a timer");
    s->timer.data = s;
    return 0;
}

static void child_exited(uv_process_t *p, int64_t status, int term_signal)
{
    dp_child *k = p->data;
    k->running = false;
    k->exit_status = status;
    k->term_signal = term_signal;
    k->owner->wake = true;
}

int dp_spawn(dp_set *s, const char *name, const char *const *args, const char *log_path, char *err,
             size_t errlen)
{
    if (s->n == DP_MAX_CHILDREN)
        return err_set(err, errlen, "too many child processes (at most %d)", DP_MAX_CHILDREN);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_errno(err, errlen, errno, "cannot open %s", log_path);

    char *argv[64];
    size_t argc = 0;
    argv[argc++] = s->exe;
    for (size_t i = 0; args[i]; i++) {
        assert(argc < 63);
        argv[argc++] = (char *)args[i];
    }
    argv[argc] = NULL;

    /* the environment, with our pid for dp_child_guard */
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    char **env = calloc(nenv + 2, sizeof *env);
    if (!env) {
        close(fd);
        return err_set(err, errlen, "out of memory");
    }
    size_t m = 0;
    for (size_t i = 0; i < nenv; i++)
        if (strncmp(environ[i], PARENT_ENV "=", sizeof PARENT_ENV) != 0)
            env[m++] = environ[i];
    char mine[64];
    snprintf(mine, sizeof mine, PARENT_ENV "=%ld", (long)getpid());
    env[m++] = mine;
    env[m] = NULL;

    dp_child *k = &s->kids[s->n];
    memset(k, 0, sizeof *k);
    k->owner = s;
    snprintf(k->name, sizeof k->name, "%s", name);
    snprintf(k->log, sizeof k->log, "%s", log_path);
    k->proc.data = k;
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = stdio[2].flags = UV_INHERIT_FD;
    stdio[1].data.fd = stdio[2].data.fd = fd;
    uv_process_options_t o;
    memset(&o, 0, sizeof o);
    o.file = s->exe;
    o.args = argv;
    o.env = env;
    o.exit_cb = child_exited;
    o.flags = UV_PROCESS_DETACHED; /* its own session: Ctrl-C is the demo's to handle */
    o.stdio_count = 3;
    o.stdio = stdio;
    int rc = uv_spawn(s->loop, &k->proc, &o);
    close(fd);
    free(env);
    s->n++; /* uv_spawn initialises the handle even when it fails: dp_close closes it */
    if (rc != 0)
        return err_set(err, errlen, "cannot start %s (%s %s): %s", name, s->exe, args[0],
                       uv_strerror(rc));
    k->pid = k->proc.pid;
    k->running = true;
    return (int)(s->n - 1);
}

void dp_pump(dp_set *s, uint64_t ms)
{
    s->timer_fired = false;
    /* repeating: a one-shot timer that fires in uv_run's first pass would leave its poll
     * without a timeout */
    uv_timer_start(&s->timer, on_timer, ms, ms);
    while (!s->timer_fired && !s->wake)
        uv_run(s->loop, UV_RUN_ONCE);
    uv_timer_stop(&s->timer);
    s->wake = false;
}

void dp_wake(dp_set *s)
{
    s->wake = true;
}

size_t dp_running(const dp_set *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += s->kids[i].running;
    return n;
}

const dp_child *dp_unexpected_exit(const dp_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->kids[i].pid > 0 && !s->kids[i].running && !s->kids[i].stopping)
            return &s->kids[i];
    return NULL;
}

/* Pumps until no child runs or ms have passed. */
static void wait_exits(dp_set *s, uint64_t ms)
{
    uint64_t until = clock_mono_ms() + ms;
    while (dp_running(s) > 0 && clock_mono_ms() < until)
        dp_pump(s, 50);
}

int dp_stop_all(dp_set *s, uint64_t grace_ms)
{
    for (size_t i = 0; i < s->n; i++) {
        dp_child *k = &s->kids[i];
        k->stopping = true;
        k->signalled = k->running;
        if (k->running)
            uv_process_kill(&k->proc, SIGTERM);
    }
    wait_exits(s, grace_ms);
    int killed = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->kids[i].running) {
            uv_process_kill(&s->kids[i].proc, SIGKILL);
            killed++;
        }
    if (killed)
        wait_exits(s, KILL_WAIT_MS);
    return killed;
}

const dp_child *dp_unclean_stop(const dp_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const dp_child *k = &s->kids[i];
        if (k->signalled && !k->running && (k->term_signal || k->exit_status != 0))
            return k;
    }
    return NULL;
}

void dp_close(dp_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        uv_close((uv_handle_t *)&s->kids[i].proc, NULL);
    uv_close((uv_handle_t *)&s->timer, NULL);
}

const char *dp_exit_text(const dp_child *k, char *out, size_t cap)
{
    if (k->term_signal)
        snprintf(out, cap, "was killed by signal %d", k->term_signal);
    else
        snprintf(out, cap, "exited with status %lld", (long long)k->exit_status);
    return out;
}

void dp_child_guard(void)
{
#ifdef __linux__
    const char *p = getenv(PARENT_ENV);
    if (!p)
        return;
    char *end;
    long want = strtol(p, &end, 10);
    if (*end != '\0' || want <= 1)
        return;
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    /* the demo may have died before the request was made */
    if ((long)getppid() != want) {
        fprintf(stderr, "swarm: the demo that started this process (pid %ld) is gone\n", want);
        exit(1);
    }
#endif
}
