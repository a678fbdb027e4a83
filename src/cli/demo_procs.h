/* demo_procs.h - the child processes of `swarm demo`: this very binary run as a gateway and as
 * workers, each in its own session (a terminal's Ctrl-C reaches only the demo, which stops them
 * in order), stdout and stderr appended to a log file, watched on the demo's libuv loop and
 * stopped with SIGTERM, then SIGKILL after a deadline. On Linux a child also dies with SIGTERM
 * when the demo dies, even by SIGKILL (dp_child_guard), so none is ever left behind. */
#ifndef SWARM_CLI_DEMO_PROCS_H
#define SWARM_CLI_DEMO_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define DP_MAX_CHILDREN 65 /* a gateway and up to 64 workers */

typedef struct dp_set dp_set;

typedef struct {
    uv_process_t proc;
    dp_set *owner;
    char name[32];  /* "gateway", "worker-1", for messages */
    char log[4200]; /* where its output goes */
    int pid;
    bool running;   /* spawned and not yet exited */
    bool stopping;  /* we asked it to stop: its exit is expected */
    bool signalled; /* it was running when dp_stop_all sent SIGTERM */
    int64_t exit_status;
    int term_signal;
} dp_child;

/* Owned by the caller (it must stay put while the loop runs), set up by dp_init, torn down by
 * dp_close. */
struct dp_set {
    uv_loop_t *loop;
    uv_timer_t timer; /* dp_pump's */
    bool timer_fired;
    bool wake;      /* set by a child's exit or by the caller (dp_wake): dp_pump returns */
    char exe[4096]; /* the binary the children run */
    dp_child kids[DP_MAX_CHILDREN];
    size_t n; /* kids[0..n) hold initialised handles */
};

/* Prepares s on loop and finds this binary: uv_exepath (/proc/self/exe on Linux), else "swarm"
 * looked up in PATH. Returns 0, or -1 with a message. */
int dp_init(dp_set *s, uv_loop_t *loop, char *err, size_t errlen);

/* Runs `<exe> args...` (args ends with NULL, args[0] is the subcommand) with stdin closed and
 * stdout and stderr appended to log_path. Returns the child's index in s->kids, or -1 with a
 * message (nothing left running). */
int dp_spawn(dp_set *s, const char *name, const char *const *args, const char *log_path, char *err,
             size_t errlen);

/* Runs the loop (signals, exits, the caller's handles) for at most ms, returning early when a
 * child exits or dp_wake is called. */
void dp_pump(dp_set *s, uint64_t ms);

/* Makes the current or next dp_pump return at once (from a signal handler's callback). */
void dp_wake(dp_set *s);

/* How many children are still running. */
size_t dp_running(const dp_set *s);

/* The first child that exited without being asked to, or NULL. */
const dp_child *dp_unexpected_exit(const dp_set *s);

/* Stops every running child: SIGTERM to all, SIGKILL to any still running after grace_ms, and
 * waits (a few more seconds at most) for their exits. Returns how many needed SIGKILL. */
int dp_stop_all(dp_set *s, uint64_t grace_ms);

/* The first child that dp_stop_all stopped with SIGTERM and that exited with a status other
 * than 0 (a clean stop is 0), or NULL. */
const dp_child *dp_unclean_stop(const dp_set *s);

/* Closes the handles; the caller then runs the loop until it is empty. Children must have
 * exited (dp_stop_all). */
void dp_close(dp_set *s);

/* "exited with status 1", "killed by signal 9" for a child that exited. */
const char *dp_exit_text(const dp_child *k, char *out, size_t cap);

/* In a child of the demo (its environment names the demo's pid): asks the kernel for SIGTERM
 * when the demo dies, and exits at once if it is already gone. Does nothing elsewhere. Called
 * first thing by main(). */
void dp_child_guard(void);

#endif
