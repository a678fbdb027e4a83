/* node_pubsub.c - gossipsub in `swarm node` (see node_pubsub.h). */
#include "node_pubsub.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "node_json.h"

const char np_usage[] =
    "  --subscribe TOPIC       join TOPIC's gossipsub mesh and print its messages (repeatable)\n"
    "  --publish TOPIC=TEXT    publish TEXT on TOPIC --settle ms after the first connection\n"
    "                          ({n} in TEXT becomes the publish number 1, 2, ...; repeatable)\n"
    "  --publish-every MS      publish again every MS\n"
    "  --publish-count N       publish each --publish N times (default 1, or unlimited with\n"
    "                          --publish-every)\n"
    "  --settle MS             wait before the first publish (default 1000)\n"
    "  --msg-id SCHEME         message ids: from-seqno (default), key-seqno (js-libp2p's\n"
    "                          default) or content (SHA-256 of the data); a mesh must agree\n"
    "  --max-message-size N    largest message data in bytes, sent or accepted (default\n"
    "                          1048576)\n";

void np_opts_init(np_opts *o)
{
    memset(o, 0, sizeof *o);
    o->settle_ms = 1000;
    o->msg_id = P2P_PS_ID_FROM_SEQNO;
}

void np_opts_free(np_opts *o)
{
    for (int i = 0; i < o->npublish; i++)
        free(o->publish[i].topic);
    o->npublish = 0;
}

static bool topic_ok(cli_args *a, const char *opt, size_t len)
{
    if (len == 0 || len > P2P_PS_MAX_TOPIC_LEN) {
        cli_usage_error(a, "%s: a topic must have 1 to %d bytes", opt, P2P_PS_MAX_TOPIC_LEN);
        return false;
    }
    return true;
}

bool np_parse_opt(cli_args *a, np_opts *o)
{
    const char *v;
    if (cli_opt(a, "--subscribe", &v)) {
        if (a->exit_code >= 0)
            return true;
        if (o->nsubscribe >= NP_MAX_TOPICS)
            cli_usage_error(a, "too many --subscribe options (at most %d)", NP_MAX_TOPICS);
        else if (topic_ok(a, "--subscribe", strlen(v)))
            o->subscribe[o->nsubscribe++] = v;
        return true;
    }
    if (cli_opt(a, "--publish", &v)) {
        if (a->exit_code >= 0)
            return true;
        const char *eq = strchr(v, '=');
        if (!eq) {
            cli_usage_error(a, "--publish: expected TOPIC=TEXT, got '%s'", v);
        } else if (o->npublish >= NP_MAX_TOPICS) {
            cli_usage_error(a, "too many --publish options (at most %d)", NP_MAX_TOPICS);
        } else if (topic_ok(a, "--publish", (size_t)(eq - v))) {
            char *topic = strndup(v, (size_t)(eq - v));
            if (!topic) {
                cli_usage_error(a, "out of memory");
                return true;
            }
            o->publish[o->npublish].topic = topic;
            o->publish[o->npublish].text = eq + 1;
            o->npublish++;
        }
        return true;
    }
    if (cli_opt(a, "--publish-every", &v)) {
        if (a->exit_code < 0 &&
            (o->has_every = cli_parse_u64(a, "--publish-every", v, &o->every_ms)) &&
            o->every_ms == 0)
            cli_usage_error(a, "--publish-every: must be at least 1 ms");
        return true;
    }
    if (cli_opt(a, "--publish-count", &v)) {
        if (a->exit_code < 0 &&
            (o->has_count = cli_parse_u64(a, "--publish-count", v, &o->count)) && o->count == 0)
            cli_usage_error(a, "--publish-count: must be at least 1");
        return true;
    }
    if (cli_opt(a, "--settle", &v)) {
        if (a->exit_code < 0)
            cli_parse_u64(a, "--settle", v, &o->settle_ms);
        return true;
    }
    if (cli_opt(a, "--max-message-size", &v)) {
        if (a->exit_code < 0 &&
            (o->has_max_size = cli_parse_u64(a, "--max-message-size", v, &o->max_size)) &&
            (o->max_size == 0 || o->max_size > P2P_PS_MAX_DATA))
            cli_usage_error(a, "--max-message-size: must be 1..%u", P2P_PS_MAX_DATA);
        return true;
    }
    if (cli_opt(a, "--msg-id", &v)) {
        if (a->exit_code >= 0)
            return true;
        if (strcmp(v, "from-seqno") == 0)
            o->msg_id = P2P_PS_ID_FROM_SEQNO;
        else if (strcmp(v, "key-seqno") == 0)
            o->msg_id = P2P_PS_ID_KEY_SEQNO;
        else if (strcmp(v, "content") == 0)
            o->msg_id = P2P_PS_ID_CONTENT;
        else
            cli_usage_error(a, "--msg-id: expected from-seqno, key-seqno or content, got '%s'", v);
        return true;
    }
    return false;
}

bool np_check(cli_args *a, const np_opts *o)
{
    if ((o->has_every || o->has_count) && o->npublish == 0) {
        cli_usage_error(a, "--publish-every and --publish-count need --publish");
        return false;
    }
    return true;
}

bool np_enabled(const np_opts *o)
{
    return o->nsubscribe > 0 || o->npublish > 0;
}

/* ---- running -------------------------------------------------------------------------------- */

struct node_pubsub {
    const np_opts *o;
    p2p_pubsub *ps;
    uv_timer_t timer;
    bool armed, stopping;
    uint64_t round; /* publishes done of each --publish */
    np_write_failed on_fail;
    void *user;
};

static void np_emit(node_pubsub *np, nj_line *j)
{
    if (nj_end(j, stdout) != 0 && !np->stopping && np->on_fail)
        np->on_fail(np->user);
}

static void put_peer(nj_line *j, const char *key, const p2p_peer_id *id)
{
    char text[P2P_PEER_ID_STRLEN];
    if (id)
        nj_str(j, key, p2p_peer_id_str(id, text));
}

static void put_seqno(nj_line *j, uint64_t seqno)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRIu64, seqno); /* a string: JSON numbers stop at 2^53 */
    nj_str(j, "seqno", text);
}

static void on_message(p2p_pubsub *ps, const p2p_ps_message *m, void *user)
{
    (void)ps;
    nj_line j;
    nj_begin(&j, "message");
    nj_str(&j, "topic", m->topic);
    put_peer(&j, "from", m->from);
    put_seqno(&j, m->seqno);
    nj_data(&j, "data", m->data, m->len);
    put_peer(&j, "received_from", m->received_from);
    np_emit(user, &j);
}

static void on_ps_event(p2p_pubsub *ps, const p2p_ps_event *ev, void *user)
{
    (void)ps;
    static const char *const names[] = {
        [P2P_PS_EV_SUBSCRIBED] = "subscribed", [P2P_PS_EV_UNSUBSCRIBED] = "unsubscribed",
        [P2P_PS_EV_GRAFT] = "graft",           [P2P_PS_EV_PRUNE] = "prune",
        [P2P_PS_EV_REJECTED] = "rejected",     [P2P_PS_EV_BANNED] = "banned"};
    nj_line j;
    nj_begin(&j, names[ev->type]);
    put_peer(&j, "peer", ev->peer);
    if (ev->topic)
        nj_str(&j, "topic", ev->topic);
    if (ev->message)
        nj_str(&j, "reason", ev->message);
    np_emit(user, &j);
}

/* TEXT with every {n} replaced by n. */
static int expand(const char *text, uint64_t n, buf_t *out)
{
    for (const char *p = text; *p;) {
        const char *hit = strstr(p, "{n}");
        size_t len = hit ? (size_t)(hit - p) : strlen(p);
        if (buf_append(out, p, len) != 0)
            return -1;
        p += len;
        if (hit) {
            if (buf_printf(out, "%" PRIu64, n) != 0)
                return -1;
            p += 3;
        }
    }
    return 0;
}

static void publish_round(node_pubsub *np)
{
    np->round++;
    for (int i = 0; i < np->o->npublish && !np->stopping; i++) {
        const char *topic = np->o->publish[i].topic;
        buf_t data;
        buf_init(&data, 0);
        char err[512];
        uint64_t seqno = 0;
        int sent = -1;
        if (expand(np->o->publish[i].text, np->round, &data) != 0)
            snprintf(err, sizeof err, "out of memory");
        else
            sent = p2p_pubsub_publish(np->ps, topic, data.data, data.len, &seqno, err, sizeof err);
        nj_line j;
        if (sent < 0) {
            nj_begin(&j, "error");
            char msg[700];
            snprintf(msg, sizeof msg, "publish %s: %s", topic, err);
            nj_str(&j, "message", msg);
        } else {
            nj_begin(&j, "published");
            nj_str(&j, "topic", topic);
            put_seqno(&j, seqno);
            nj_data(&j, "data", data.data, data.len);
            nj_int(&j, "peers", sent);
        }
        np_emit(np, &j);
        buf_free(&data);
    }
    uint64_t limit = np->o->has_count ? np->o->count : (np->o->has_every ? 0 : 1);
    if (np->stopping || (limit && np->round >= limit))
        uv_timer_stop(&np->timer);
}

static void on_timer(uv_timer_t *t)
{
    publish_round(t->data);
}

int np_start(p2p_host *h, uv_loop_t *loop, const np_opts *o, np_write_failed on_fail, void *user,
             node_pubsub **out, char *err, size_t errlen)
{
    node_pubsub *np = calloc(1, sizeof *np);
    if (!np)
        return err_set(err, errlen, "out of memory");
    np->o = o;
    np->on_fail = on_fail;
    np->user = user;
    p2p_pubsub_config cfg;
    p2p_pubsub_config_default(&cfg);
    cfg.msg_id = o->msg_id;
    if (o->has_max_size)
        cfg.max_message_size = o->max_size;
    cfg.on_event = on_ps_event;
    cfg.user = np;
    if (p2p_pubsub_new(h, &cfg, &np->ps, err, errlen) != 0) {
        free(np);
        return -1;
    }
    /* From here on the pubsub's callbacks know np: it lives until np_stop, even on failure. */
    uv_timer_init(loop, &np->timer);
    np->timer.data = np;
    *out = np;
    for (int i = 0; i < o->nsubscribe; i++)
        if (p2p_pubsub_subscribe(np->ps, o->subscribe[i], on_message, np, err, errlen) != 0)
            return -1;
    return 0;
}

void np_connected(node_pubsub *np)
{
    if (np->armed || np->stopping || np->o->npublish == 0)
        return;
    np->armed = true;
    uv_timer_start(&np->timer, on_timer, np->o->settle_ms, np->o->has_every ? np->o->every_ms : 0);
}

static void on_timer_closed(uv_handle_t *handle)
{
    free(handle->data);
}

void np_stop(node_pubsub *np)
{
    if (np->stopping)
        return;
    p2p_pubsub_stats st;
    p2p_pubsub_get_stats(np->ps, &st);
    nj_line j;
    nj_begin(&j, "pubsub_stats");
    nj_int(&j, "published", (int64_t)st.published);
    nj_int(&j, "delivered", (int64_t)st.delivered);
    nj_int(&j, "received", (int64_t)st.received);
    nj_int(&j, "duplicates", (int64_t)st.duplicates);
    nj_int(&j, "forwarded", (int64_t)st.forwarded);
    nj_int(&j, "rejected", (int64_t)st.rejected);
    nj_int(&j, "bad_signature", (int64_t)st.bad_signature);
    nj_int(&j, "bad_from", (int64_t)st.bad_from);
    nj_int(&j, "ignored", (int64_t)st.ignored);
    nj_int(&j, "too_large", (int64_t)st.too_large);
    nj_int(&j, "bad_rpcs", (int64_t)st.bad_rpcs);
    nj_int(&j, "ihave_sent", (int64_t)st.ihave_sent);
    nj_int(&j, "iwant_sent", (int64_t)st.iwant_sent);
    nj_int(&j, "iwant_served", (int64_t)st.iwant_served);
    nj_int(&j, "idontwant_sent", (int64_t)st.idontwant_sent);
    nj_int(&j, "graft_sent", (int64_t)st.graft_sent);
    nj_int(&j, "prune_sent", (int64_t)st.prune_sent);
    nj_int(&j, "dropped_queue", (int64_t)st.dropped_queue);
    nj_int(&j, "penalties", (int64_t)st.penalties);
    nj_int(&j, "bans", (int64_t)st.bans);
    np_emit(np, &j);
    np->stopping = true;
    uv_close((uv_handle_t *)&np->timer, on_timer_closed);
}
