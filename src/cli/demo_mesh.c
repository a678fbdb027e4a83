/* demo_mesh.c - `swarm demo` brings its mesh up: the gateway child, then the workers, each
 * waited for with a deadline, and watches them while the demo runs. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "demo.h"

#define GATEWAY_READY_MS 20000 /* generous: sanitizer builds start slowly */
#define WORKERS_READY_MS 30000
#define LOG_READ_MAX     (1u << 20)
#define LOG_TAIL_LINES   8

bool demo_should_stop(demo *d)
{
    if (d->signal)
        return true;
    const dp_child *k = dp_unexpected_exit(&d->procs);
    if (k && !d->child_lost) {
        d->child_lost = true;
        demo_report_child(d, k);
    }
    return k != NULL;
}

void demo_report_child(const demo *d, const dp_child *k)
{
    (void)d;
    char how[64];
    fprintf(stderr, "swarm demo: %s (pid %d) %s; the end of its log (%s):\n", k->name, k->pid,
            dp_exit_text(k, how, sizeof how), k->log);
    uint8_t *text;
    size_t len;
    char err[256];
    if (util_read_file(k->log, LOG_READ_MAX, &text, &len, err, sizeof err) < 0) {
        fprintf(stderr, "  (%s)\n", err);
        return;
    }
    size_t start = len, lines = 0;
    while (start > 0 && lines <= LOG_TAIL_LINES)
        if (text[--start] == '\n' && start + 1 < len)
            lines++;
    if (lines > LOG_TAIL_LINES)
        start++;
    fprintf(stderr, "%.*s%s", (int)(len - start), (const char *)text + start,
            len && text[len - 1] != '\n' ? "\n" : "");
    free(text);
}

const char *demo_label(void *user, const char *peer)
{
    const demo *d = user;
    for (size_t i = 0; i < d->nnodes; i++)
        if (strcmp(d->nodes[i].peer, peer) == 0)
            return d->nodes[i].label[0] ? d->nodes[i].label : NULL;
    return NULL;
}

/* Copies the rest of the line after `key` in text into out; false when missing or too long. */
static bool line_after(const char *text, const char *key, char *out, size_t cap)
{
    const char *p = strstr(text, key);
    if (!p)
        return false;
    p += strlen(key);
    size_t n = strcspn(p, "\r\n");
    if (p[n] == '\0' || n == 0 || n >= cap) /* a line not yet ended may be cut */
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* Reads what the gateway printed so far: true once all three facts are there. */
static bool gateway_ready(demo *d, const char *log)
{
    uint8_t *raw;
    size_t len;
    char err[256], dash[300];
    if (util_read_file(log, LOG_READ_MAX, &raw, &len, err, sizeof err) < 0)
        return false;
    char *text = realloc(raw, len + 1);
    if (!text) {
        free(raw);
        return false;
    }
    text[len] = '\0';
    bool ok =
        line_after(text, "peer id: ", d->gw_peer, sizeof d->gw_peer) &&
        line_after(text, "\n  /ip4/127.0.0.1/tcp/", d->gw_addr + 19, sizeof d->gw_addr - 19) &&
        line_after(text, "dashboard: ", dash, sizeof dash);
    free(text);
    if (!ok)
        return false;
    memcpy(d->gw_addr, "/ip4/127.0.0.1/tcp/", 19);
    char *p2p = strstr(d->gw_addr, "/p2p/");
    if (p2p)
        *p2p = '\0';
    size_t n = strlen(dash);
    while (n > 0 && dash[n - 1] == '/')
        dash[--n] = '\0';
    snprintf(d->url, sizeof d->url, "%s", dash);
    return true;
}

int demo_start_gateway(demo *d)
{
    char gdir[4200], log[4200], err[512];
    snprintf(gdir, sizeof gdir, "%s/gateway", d->dir);
    snprintf(log, sizeof log, "%s/gateway.log", d->dir);
    const char *args[] = {"gateway",    "--http", d->http, "--listen", "/ip4/127.0.0.1/tcp/0",
                          "--data-dir", gdir,     NULL};
    int i = dp_spawn(&d->procs, "the gateway", args, log, err, sizeof err);
    if (i < 0) {
        fprintf(stderr, "swarm demo: %s\n", err);
        return -1;
    }
    printf("started the gateway (pid %d), log %s\n", d->procs.kids[i].pid, log);
    uint64_t until = clock_mono_ms() + GATEWAY_READY_MS;
    while (!gateway_ready(d, log)) {
        if (demo_should_stop(d))
            return -1;
        if (clock_mono_ms() > until) {
            fprintf(stderr,
                    "swarm demo: the gateway did not say where it listens within %d s "
                    "(see %s)\n",
                    GATEWAY_READY_MS / 1000, log);
            return -1;
        }
        dp_pump(&d->procs, 50);
    }
    if (hc_parse_url(d->url, &d->client.url, err, sizeof err) < 0) {
        fprintf(stderr, "swarm demo: the gateway's dashboard URL: %s\n", err);
        return -1;
    }
    char shortid[64];
    printf("gateway %s listens for workers at %s/p2p/%s\n",
           jc_short_peer(d->gw_peer, shortid, sizeof shortid), d->gw_addr, d->gw_peer);
    printf("gateway HTTP API and dashboard at %s/\n", d->url);
    return 0;
}

/* Reads the gateway's node list and prints the healthy workers not seen before. Returns how
 * many are healthy, or -1 when the gateway could not be asked. */
static int poll_nodes(demo *d)
{
    int status;
    buf_t answer;
    buf_init(&answer, JC_ANSWER_MAX);
    if (jc_call(&d->client, "GET", "/api/v1/nodes", NULL, NULL, 0, &status, &answer) < 0) {
        buf_free(&answer);
        return -1;
    }
    int healthy = 0;
    unsigned slots = 0;
    cJSON *doc = status == 200 ? cJSON_Parse((const char *)answer.data) : NULL;
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(doc, "nodes"), *n;
    cJSON_ArrayForEach(n, nodes)
    {
        const cJSON *peer = cJSON_GetObjectItemCaseSensitive(n, "peer");
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(n, "state");
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(n, "label");
        if (!cJSON_IsString(peer) || !cJSON_IsString(state) ||
            strcmp(state->valuestring, "healthy") != 0 || strlen(peer->valuestring) >= 64)
            continue;
        healthy++;
        slots += (unsigned)jc_num(n, "slots");
        if (d->nnodes == DEMO_MAX_WORKERS)
            continue;
        bool known = false;
        for (size_t i = 0; i < d->nnodes; i++)
            known |= strcmp(d->nodes[i].peer, peer->valuestring) == 0;
        if (known)
            continue;
        demo_node *dn = &d->nodes[d->nnodes++];
        snprintf(dn->peer, sizeof dn->peer, "%s", peer->valuestring);
        snprintf(dn->label, sizeof dn->label, "%s",
                 cJSON_IsString(label) ? label->valuestring : "");
        char shortid[64];
        printf("%s joined: %s, %.0f slots\n", dn->label[0] ? dn->label : "a worker",
               jc_short_peer(dn->peer, shortid, sizeof shortid), jc_num(n, "slots"));
    }
    if (!doc && status != 200)
        jc_print_error(&d->client, "listing the workers", status, &answer);
    cJSON_Delete(doc);
    buf_free(&answer);
    if (status != 200)
        return -1;
    d->slots = slots;
    return healthy;
}

int demo_start_workers(demo *d)
{
    char err[512];
    for (unsigned w = 1; w <= d->workers; w++) {
        char name[32], wdir[4200], log[4200], bootstrap[700];
        snprintf(name, sizeof name, "worker-%u", w);
        snprintf(wdir, sizeof wdir, "%s/%s", d->dir, name);
        snprintf(log, sizeof log, "%s/%s.log", d->dir, name);
        snprintf(bootstrap, sizeof bootstrap, "%s/p2p/%s", d->gw_addr, d->gw_peer);
        const char *args[] = {"start", "--bootstrap", bootstrap, "--data-dir",
                              wdir,    "--shard",     name,      NULL};
        int i = dp_spawn(&d->procs, name, args, log, err, sizeof err);
        if (i < 0) {
            fprintf(stderr, "swarm demo: %s\n", err);
            return -1;
        }
        printf("started %s (pid %d), log %s\n", name, d->procs.kids[i].pid, log);
    }
    uint64_t until = clock_mono_ms() + WORKERS_READY_MS;
    for (;;) {
        if (demo_should_stop(d))
            return -1;
        int healthy = poll_nodes(d);
        if (healthy < 0)
            return -1;
        if ((unsigned)healthy >= d->workers)
            break;
        if (clock_mono_ms() > until) {
            fprintf(stderr,
                    "swarm demo: only %d of %u workers joined within %d s (their logs are "
                    "in %s)\n",
                    healthy, d->workers, WORKERS_READY_MS / 1000, d->dir);
            return -1;
        }
        dp_pump(&d->procs, 100);
    }
    printf("the mesh is up: %u worker%s, %u slots\n", d->workers, d->workers == 1 ? "" : "s",
           d->slots);
    return 0;
}
