/*
 * cmd_node.c - `swarm node`: a libp2p debug node. It listens, dials, answers identify and ping,
 * optionally pings every peer once, and reports everything as JSON lines on stdout (one event
 * object per line, flushed at once) so tests and people can follow it with jq.
 *
 * One libuv loop runs the host, a signal watcher (SIGINT, SIGTERM) and the --exit-after timer;
 * every way out goes through node_shutdown, which closes the host and lets the loop drain.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "node_json.h"
#include "node_pubsub.h"
#include "p2p.h"

static const char usage[] =
    "usage: swarm node [--listen MULTIADDR]... [--connect MULTIADDR]... [--ping]\n"
    "                  [--key FILE | --data-dir DIR] [--exit-after SECONDS]\n"
    "                  [--handshake-timeout MS] [--idle-timeout MS] [--agent TEXT]\n"
    "                  [--subscribe TOPIC]... [--publish TOPIC=TEXT]... [--publish-every MS]\n"
    "                  [--publish-count N] [--settle MS] [--msg-id SCHEME]\n"
    "                  [--max-message-size N]\n"
    "\n"
    "libp2p debug node: listens, dials, answers identify and ping, and prints what happens on\n"
    "stdout as JSON lines, one event per line (listening, connected, identified, ping,\n"
    "disconnected, error). Runs until SIGINT or SIGTERM, or for --exit-after seconds.\n"
    "With --subscribe or --publish it also runs gossipsub (/meshsub/1.2.0 and 1.1.0) and\n"
    "prints subscribed, unsubscribed, message, published, graft, prune, rejected and banned\n"
    "events, and pubsub_stats when it ends.\n"
    "\n"
    "  --listen MULTIADDR      listen on /ip4|ip6/ADDR/tcp/PORT; port 0 picks a free port\n"
    "                          (repeatable; default /ip4/127.0.0.1/tcp/0)\n"
    "  --connect MULTIADDR     dial a peer; with /p2p/ID the peer must prove that id\n"
    "                          (repeatable)\n"
    "  --ping                  ping each peer once, when it is connected and identified\n"
    "  --key FILE              identity key file, created (mode 0600) if missing\n"
    "  --data-dir DIR          use DIR/" CLI_KEY_FILE " (without --key or --data-dir: a new\n"
    "                          key in memory, so nodes can run side by side)\n"
    "  --exit-after SECONDS    close everything and exit 0 after this long (e.g. 2.5)\n"
    "  --handshake-timeout MS  drop connections not upgraded within MS (default 10000)\n"
    "  --idle-timeout MS       close connections idle for MS; 0 = never (default 120000)\n"
    "  --agent TEXT            agent version sent in identify (default swarm/VERSION)\n"
    "%s"
    "\n"
    "Exit status: 0 ok (also after SIGINT/SIGTERM), 1 runtime failure (e.g. a listen address\n"
    "in use), 2 usage. Dial and ping failures are \"error\" events, not exits.\n";

#define MAX_ADDRS 64

typedef struct {
    const char *listen[MAX_ADDRS];
    int nlisten;
    const char *connect[MAX_ADDRS];
    int nconnect;
    bool ping;
    const char *key, *data_dir, *agent;
    bool has_exit_after, has_handshake, has_idle;
    uint64_t exit_after_ms, handshake_ms, idle_ms;
    np_opts ps;
} node_opts;

typedef struct node node;

/* One --connect in flight: what its dial callback needs. */
typedef struct {
    node *n;
    const char *addr; /* argv text */
} node_dial;

/* A connected peer, so --ping pings it once however many connections or identifies it has. */
typedef struct {
    p2p_peer_id id;
    bool pinged;
} node_peer;

struct node {
    const node_opts *o;
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_timer_t timer;
    p2p_host *host;  /* NULL once closed */
    node_pubsub *ps; /* with --subscribe or --publish; NULL once stopped */
    node_dial dials[MAX_ADDRS];
    node_peer *peers; /* owned; npeers in use */
    size_t npeers, cap;
    bool closing;
    int rc;
};

static void node_shutdown(node *n, int rc);

/* ---- events --------------------------------------------------------------------------------- */

/* Writes the finished line; a stdout nobody reads any more ends the node (exit 1). */
static void emit(node *n, nj_line *j)
{
    if (nj_end(j, stdout) != 0 && !n->closing) {
        fprintf(stderr, "swarm node: cannot write to stdout: %s\n", strerror(errno));
        node_shutdown(n, SWARM_EXIT_RUNTIME);
    }
}

static void put_peer(nj_line *j, const char *key, const p2p_peer_id *id)
{
    char text[P2P_PEER_ID_STRLEN];
    if (id)
        nj_str(j, key, p2p_peer_id_str(id, text));
}

/* Adds the text of ma; as an array item when key is NULL. */
static void put_maddr(nj_line *j, const char *key, const p2p_maddr *ma)
{
    buf_t b;
    buf_init(&b, 0);
    if (p2p_maddr_str(ma, &b) == 0) {
        if (key)
            nj_strn(j, key, (const char *)b.data, b.len);
        else
            nj_item(j, buf_cstr(&b));
    }
    buf_free(&b);
}

/* An "error" event; peer and addr may be NULL. */
static void emit_error(node *n, const p2p_peer_id *peer, const char *addr, const char *msg)
{
    nj_line j;
    nj_begin(&j, "error");
    nj_str(&j, "message", msg);
    put_peer(&j, "peer", peer);
    if (addr)
        nj_str(&j, "addr", addr);
    emit(n, &j);
}

/* ---- peers and ping ------------------------------------------------------------------------- */

static node_peer *peer_find(node *n, const p2p_peer_id *id)
{
    for (size_t i = 0; i < n->npeers; i++)
        if (p2p_peer_id_eq(&n->peers[i].id, id))
            return &n->peers[i];
    return NULL;
}

/* Remembers id; returns NULL only when out of memory. */
static node_peer *peer_add(node *n, const p2p_peer_id *id)
{
    node_peer *p = peer_find(n, id);
    if (p)
        return p;
    if (n->npeers == n->cap) {
        size_t cap = n->cap ? n->cap * 2 : 16;
        node_peer *grown = realloc(n->peers, cap * sizeof *grown);
        if (!grown)
            return NULL;
        n->peers = grown;
        n->cap = cap;
    }
    p = &n->peers[n->npeers++];
    p->id = *id;
    p->pinged = false;
    return p;
}

static void peer_forget(node *n, const p2p_peer_id *id)
{
    node_peer *p = peer_find(n, id);
    if (p)
        *p = n->peers[--n->npeers];
}

static void on_ping(p2p_host *h, const p2p_peer_id *peer, int status, double rtt_ms,
                    const char *err, void *user)
{
    (void)h;
    node *n = user;
    if (status != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "ping: %s", err ? err : "failed");
        if (!n->closing) /* failures caused by our own shutdown are not news */
            emit_error(n, peer, NULL, msg);
        return;
    }
    nj_line j;
    nj_begin(&j, "ping");
    put_peer(&j, "peer", peer);
    nj_num(&j, "rtt_ms", rtt_ms);
    emit(n, &j);
}

/* With --ping, pings peer unless it was pinged since it connected. */
static void maybe_ping(node *n, p2p_host *h, const p2p_peer_id *peer)
{
    if (!n->o->ping || n->closing || !peer)
        return;
    node_peer *p = peer_add(n, peer);
    if (p && p->pinged)
        return;
    if (p)
        p->pinged = true;
    char err[512], msg[600];
    if (p2p_ping(h, peer, on_ping, n, err, sizeof err) != 0) {
        snprintf(msg, sizeof msg, "ping: %s", err);
        emit_error(n, peer, NULL, msg);
    }
}

/* ---- host events ---------------------------------------------------------------------------- */

static void on_host_event(p2p_host *h, const p2p_event *ev, void *user)
{
    node *n = user;
    nj_line j;
    switch (ev->type) {
    case P2P_EV_LISTENING: {
        p2p_maddr full = *ev->addr;
        char err[256];
        nj_begin(&j, "listening");
        /* Without room for /p2p the bare address is still worth printing. */
        if (ev->peer && p2p_maddr_add_peer(&full, ev->peer, err, sizeof err) != 0)
            full = *ev->addr;
        put_maddr(&j, "addr", &full);
        emit(n, &j);
        return;
    }
    case P2P_EV_CONNECTED:
        if (n->ps)
            np_connected(n->ps);
        nj_begin(&j, "connected");
        put_peer(&j, "peer", ev->peer);
        if (ev->addr)
            put_maddr(&j, "addr", ev->addr);
        nj_str(&j, "direction", ev->inbound ? "in" : "out");
        emit(n, &j);
        return;
    case P2P_EV_IDENTIFIED:
        nj_begin(&j, "identified");
        put_peer(&j, "peer", ev->peer);
        nj_str(&j, "agent", ev->agent);
        nj_array_begin(&j, "protocols");
        for (size_t i = 0; i < ev->nprotocols; i++)
            nj_item(&j, ev->protocols[i]);
        nj_array_end(&j);
        nj_array_begin(&j, "listen_addrs");
        for (size_t i = 0; i < ev->nlisten_addrs; i++)
            put_maddr(&j, NULL, &ev->listen_addrs[i]);
        nj_array_end(&j);
        if (ev->observed)
            put_maddr(&j, "observed", ev->observed);
        emit(n, &j);
        maybe_ping(n, h, ev->peer);
        return;
    case P2P_EV_DISCONNECTED:
        nj_begin(&j, "disconnected");
        put_peer(&j, "peer", ev->peer);
        if (ev->message)
            nj_str(&j, "reason", ev->message);
        emit(n, &j);
        if (ev->peer && !p2p_host_is_connected(h, ev->peer))
            peer_forget(n, ev->peer);
        return;
    case P2P_EV_ERROR:
        nj_begin(&j, "error");
        nj_str(&j, "message", ev->message ? ev->message : "unknown error");
        put_peer(&j, "peer", ev->peer);
        if (ev->addr)
            put_maddr(&j, "addr", ev->addr);
        emit(n, &j);
        return;
    }
}

static void dial_error(node_dial *d, const char *why)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "dial %s: %s", d->addr, why);
    emit_error(d->n, NULL, d->addr, msg);
}

static void on_dial(p2p_host *h, int status, const p2p_peer_id *peer, const char *err, void *user)
{
    (void)h;
    (void)peer;
    node_dial *d = user;
    /* Success shows up as "connected" (or was already: a reused connection). */
    if (status != 0 && !d->n->closing)
        dial_error(d, err ? err : "failed");
}

/* ---- lifetime ------------------------------------------------------------------------------- */

static void on_host_closed(void *user)
{
    node *n = user;
    n->host = NULL;
}

/* Starts closing everything; the loop ends once libuv has closed the last handle. The first
 * caller's rc wins. */
static void node_shutdown(node *n, int rc)
{
    if (n->closing)
        return;
    n->closing = true;
    n->rc = rc;
    uv_close((uv_handle_t *)&n->sigint, NULL);
    uv_close((uv_handle_t *)&n->sigterm, NULL);
    uv_close((uv_handle_t *)&n->timer, NULL);
    if (n->ps) {
        np_stop(n->ps);
        n->ps = NULL;
    }
    if (n->host)
        p2p_host_close(n->host, on_host_closed, n);
}

static void on_write_failed(void *user)
{
    node *n = user;
    fprintf(stderr, "swarm node: cannot write to stdout: %s\n", strerror(errno));
    node_shutdown(n, SWARM_EXIT_RUNTIME);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    node_shutdown(s->data, SWARM_EXIT_OK);
}

static void on_exit_timer(uv_timer_t *t)
{
    node_shutdown(t->data, SWARM_EXIT_OK);
}

/* Creates the host, listens, dials, and runs the loop until shutdown. */
static int node_run(const node_opts *o, const p2p_key *key)
{
    node n;
    memset(&n, 0, sizeof n);
    n.o = o;
    int uerr = uv_loop_init(&n.loop);
    if (uerr != 0) {
        fprintf(stderr, "swarm node: event loop: %s\n", uv_strerror(uerr));
        return SWARM_EXIT_RUNTIME;
    }
    uv_signal_init(&n.loop, &n.sigint);
    uv_signal_init(&n.loop, &n.sigterm);
    uv_timer_init(&n.loop, &n.timer);
    n.sigint.data = n.sigterm.data = n.timer.data = &n;

    p2p_host_config cfg;
    p2p_host_config_default(&cfg);
    cfg.key = key;
    if (o->agent)
        cfg.agent = o->agent;
    if (o->has_handshake)
        cfg.handshake_timeout_ms = o->handshake_ms;
    if (o->has_idle)
        cfg.idle_timeout_ms = o->idle_ms;

    char err[512];
    if (p2p_host_new(&n.loop, &cfg, on_host_event, &n, &n.host, err, sizeof err) != 0) {
        n.host = NULL;
        fprintf(stderr, "swarm node: %s\n", err);
        node_shutdown(&n, SWARM_EXIT_RUNTIME);
        goto drain;
    }
    static const char *const default_listen[] = {"/ip4/127.0.0.1/tcp/0"};
    const char *const *listen = o->nlisten ? o->listen : default_listen;
    int nlisten = o->nlisten ? o->nlisten : 1;
    for (int i = 0; i < nlisten; i++) {
        if (p2p_host_listen(n.host, listen[i], err, sizeof err) != 0) {
            fprintf(stderr, "swarm node: %s\n", err); /* names the address */
            node_shutdown(&n, SWARM_EXIT_RUNTIME);
            goto drain;
        }
    }
    if (n.closing) /* stdout went away while announcing */
        goto drain;
    if (np_enabled(&o->ps) &&
        np_start(n.host, &n.loop, &o->ps, on_write_failed, &n, &n.ps, err, sizeof err) != 0) {
        /* node_shutdown stops n.ps if it was set */
        fprintf(stderr, "swarm node: %s\n", err);
        node_shutdown(&n, SWARM_EXIT_RUNTIME);
        goto drain;
    }
    uv_signal_start(&n.sigint, on_signal, SIGINT);
    uv_signal_start(&n.sigterm, on_signal, SIGTERM);
    if (o->has_exit_after)
        uv_timer_start(&n.timer, on_exit_timer, o->exit_after_ms, 0);
    for (int i = 0; i < o->nconnect && !n.closing; i++) {
        node_dial *d = &n.dials[i];
        d->n = &n;
        d->addr = o->connect[i];
        if (p2p_host_dial(n.host, d->addr, on_dial, d, err, sizeof err) != 0)
            dial_error(d, err);
    }

drain:
    uv_run(&n.loop, UV_RUN_DEFAULT);
    free(n.peers);
    uerr = uv_loop_close(&n.loop);
    if (uerr != 0) {
        fprintf(stderr, "swarm node: event loop did not close: %s\n", uv_strerror(uerr));
        return SWARM_EXIT_RUNTIME;
    }
    return n.rc;
}

/* ---- options and key ------------------------------------------------------------------------ */

/* Checks that text is a TCP multiaddr we can use: for --listen an ip4/ip6 one without /p2p. */
static bool check_maddr(cli_args *a, const char *opt, const char *text, bool listen)
{
    p2p_maddr ma;
    p2p_tcp_addr tcp;
    char err[512];
    if (p2p_maddr_parse(text, &ma, err, sizeof err) != 0 ||
        p2p_maddr_to_tcp(&ma, &tcp, err, sizeof err) != 0) {
        cli_usage_error(a, "%s '%s': %s", opt, text, err);
        return false;
    }
    if (listen && (tcp.family == AF_UNSPEC || tcp.has_peer)) {
        cli_usage_error(a, "%s '%s': expected /ip4/ADDR/tcp/PORT or /ip6/ADDR/tcp/PORT", opt, text);
        return false;
    }
    return true;
}

/* Parses SECONDS: digits with an optional fraction ("2", "0.5"), at most a year. */
static bool parse_seconds(cli_args *a, const char *opt, const char *s, uint64_t *ms)
{
    char *end;
    bool ok = (*s >= '0' && *s <= '9');
    for (const char *p = s; ok && *p; p++)
        ok = (*p >= '0' && *p <= '9') || *p == '.';
    errno = 0;
    double v = ok ? strtod(s, &end) : 0;
    if (!ok || errno != 0 || *end != '\0' || v > 365.0 * 86400) {
        cli_usage_error(a, "%s: expected a number of seconds, got '%s'", opt, s);
        return false;
    }
    *ms = (uint64_t)(v * 1000.0 + 0.5);
    return true;
}

static bool add_addr(cli_args *a, const char *opt, const char *v, const char **list, int *count,
                     bool listen)
{
    if (*count >= MAX_ADDRS) {
        cli_usage_error(a, "too many %s options (at most %d)", opt, MAX_ADDRS);
        return false;
    }
    if (!check_maddr(a, opt, v, listen))
        return false;
    list[(*count)++] = v;
    return true;
}

static int parse_opts(cli_args *a, node_opts *o)
{
    const char *v;
    while (cli_next(a)) {
        if (cli_help(a) || np_parse_opt(a, &o->ps) || cli_flag(a, "--ping", &o->ping) ||
            cli_opt(a, "--key", &o->key) || cli_opt(a, "--data-dir", &o->data_dir) ||
            cli_opt(a, "--agent", &o->agent))
            continue;
        if (cli_opt(a, "--listen", &v)) {
            if (a->exit_code < 0)
                add_addr(a, "--listen", v, o->listen, &o->nlisten, true);
            continue;
        }
        if (cli_opt(a, "--connect", &v)) {
            if (a->exit_code < 0)
                add_addr(a, "--connect", v, o->connect, &o->nconnect, false);
            continue;
        }
        if (cli_opt(a, "--exit-after", &v)) {
            if (a->exit_code < 0)
                o->has_exit_after = parse_seconds(a, "--exit-after", v, &o->exit_after_ms);
            continue;
        }
        if (cli_opt(a, "--handshake-timeout", &v)) {
            if (a->exit_code < 0 &&
                (o->has_handshake = cli_parse_u64(a, "--handshake-timeout", v, &o->handshake_ms)) &&
                o->handshake_ms == 0)
                cli_usage_error(a, "--handshake-timeout: must be at least 1 ms");
            continue;
        }
        if (cli_opt(a, "--idle-timeout", &v)) {
            if (a->exit_code < 0)
                o->has_idle = cli_parse_u64(a, "--idle-timeout", v, &o->idle_ms);
            continue;
        }
        cli_unknown(a);
    }
    if (a->exit_code < 0)
        np_check(a, &o->ps);
    return a->exit_code;
}

/* --key FILE, else --data-dir DIR/identity.key (both created if missing), else a fresh key
 * that lives only as long as this process. */
static int node_key(const node_opts *o, p2p_key *k)
{
    char path[4096], err[512];
    const char *file = o->key;
    if (!file && o->data_dir) {
        int len = snprintf(path, sizeof path, "%s/%s", o->data_dir, CLI_KEY_FILE);
        if (len < 0 || (size_t)len >= sizeof path) {
            fprintf(stderr, "swarm node: --data-dir path is too long\n");
            return -1;
        }
        file = path;
    }
    if (!file) {
        if (p2p_key_generate(k, err, sizeof err) != 0) {
            fprintf(stderr, "swarm node: %s\n", err);
            return -1;
        }
        fprintf(stderr, "swarm node: using a new key that lives in memory only "
                        "(--key FILE or --data-dir DIR keeps one)\n");
        return 0;
    }
    bool created = false;
    if (p2p_key_load_or_create(file, k, &created, err, sizeof err) != 0) {
        fprintf(stderr, "swarm node: %s\n", err);
        return -1;
    }
    if (created)
        fprintf(stderr, "swarm node: created new key at %s\n", file);
    return 0;
}

int cmd_node(int argc, char **argv)
{
    node_opts o;
    memset(&o, 0, sizeof o);
    np_opts_init(&o.ps);
    char full_usage[sizeof usage + 2048];
    snprintf(full_usage, sizeof full_usage, usage, np_usage);
    cli_args a;
    cli_init(&a, "node", full_usage, argc, argv);
    int rc = parse_opts(&a, &o);
    if (rc >= 0) {
        np_opts_free(&o.ps);
        return rc;
    }

    /* Events are read live by other programs: flush each line, and let a closed stdout or
     * socket be an error we see (EPIPE) rather than a signal that kills the node. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);

    p2p_key key;
    if (node_key(&o, &key) != 0) {
        np_opts_free(&o.ps);
        return SWARM_EXIT_RUNTIME;
    }
    rc = node_run(&o, &key);
    sodium_memzero(&key, sizeof key);
    np_opts_free(&o.ps);
    return rc;
}
