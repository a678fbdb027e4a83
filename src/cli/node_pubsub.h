/* node_pubsub.h - the gossipsub part of `swarm node`: its options (--subscribe, --publish,
 * --publish-every, --publish-count, --settle, --msg-id, --max-message-size), the pubsub it runs
 * on the node's host, and its JSON-lines events (subscribed, unsubscribed, message, published,
 * graft, prune, rejected, banned, and pubsub_stats at the end). */
#ifndef SWARM_NODE_PUBSUB_H
#define SWARM_NODE_PUBSUB_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "p2p.h"

#define NP_MAX_TOPICS 64

typedef struct {
    const char *subscribe[NP_MAX_TOPICS];
    int nsubscribe;
    struct {
        char *topic;      /* owned (np_opts_free) */
        const char *text; /* argv */
    } publish[NP_MAX_TOPICS];
    int npublish;
    uint64_t every_ms, count, settle_ms, max_size;
    bool has_every, has_count, has_max_size;
    p2p_ps_id_scheme msg_id;
} np_opts;

/* The usage lines of these options, for `swarm node --help`. */
extern const char np_usage[];

/* Sets the defaults. */
void np_opts_init(np_opts *o);

/* If the current argument is one of these options, takes it (reporting a bad value as a usage
 * error in a) and returns true. */
bool np_parse_opt(cli_args *a, np_opts *o);

/* Checks the options together after parsing; false after a usage error. */
bool np_check(cli_args *a, const np_opts *o);

/* True if any option asks for pubsub (it is not started otherwise). */
bool np_enabled(const np_opts *o);

void np_opts_free(np_opts *o);

typedef struct node_pubsub node_pubsub;

/* Called when an event line could not be written (stdout is gone). */
typedef void (*np_write_failed)(void *user);

/* Starts gossipsub on h with the options: subscribes, and publishes once np_connected says a
 * peer is there (after --settle). *out is freed by np_stop, also after a failure that set it
 * (-1 with *out not NULL: the pubsub started but a subscription failed). */
int np_start(p2p_host *h, uv_loop_t *loop, const np_opts *o, np_write_failed on_fail, void *user,
             node_pubsub **out, char *err, size_t errlen);

/* A connection came up: the first one arms the publishing. */
void np_connected(node_pubsub *np);

/* Emits pubsub_stats, stops the timer and frees np once it is closed (before the host closes:
 * the pubsub itself goes with the host). */
void np_stop(node_pubsub *np);

#endif
