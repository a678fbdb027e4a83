/* pubsub_router.c - what gossipsub does with what it receives and what it publishes: topics and
 * peers, subscriptions, messages (checked, verified, validated, deduplicated, cached, delivered
 * and forwarded to the mesh), and the control messages GRAFT, PRUNE, IHAVE, IWANT and
 * IDONTWANT (libp2p/specs pubsub/gossipsub v1.0-v1.2). Outgoing control entries are encoded
 * here by hand into each peer's pending buffers (see pubsub_internal.h). */
#include "host_internal.h"
#include "pubsub_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small protobuf writer ------------------------------------------------------------------ */

enum { PB_VARINT = 0, PB_LEN = 2 };

static int pb_tag(buf_t *b, unsigned field, unsigned wire)
{
    return buf_put_uvarint(b, (uint64_t)field << 3 | wire);
}

static int pb_bytes(buf_t *b, unsigned field, const void *p, size_t n)
{
    return pb_tag(b, field, PB_LEN) || buf_put_uvarint(b, n) || buf_append(b, p, n) ? -1 : 0;
}

static int pb_varint(buf_t *b, unsigned field, uint64_t v)
{
    return pb_tag(b, field, PB_VARINT) || buf_put_uvarint(b, v) ? -1 : 0;
}

/* Appends field `field` of dst holding the message built in sub; sub is then cleared. An
 * append that does not fit leaves dst as it was (the entry is lost; control is best effort). */
static void pb_sub(buf_t *dst, unsigned field, buf_t *sub)
{
    size_t before = dst->len;
    if (pb_bytes(dst, field, sub->data, sub->len) != 0)
        dst->len = before;
    buf_clear(sub);
}

void ps_queue_sub(ps_peer *p, const char *topic, bool subscribe)
{
    buf_t s;
    buf_init(&s, 0);
    if (pb_varint(&s, 1, subscribe) == 0 && pb_bytes(&s, 2, topic, strlen(topic)) == 0)
        pb_sub(&p->pend_subs, 1, &s);
    buf_free(&s);
}

void ps_queue_graft(ps_peer *p, const char *topic)
{
    buf_t s;
    buf_init(&s, 0);
    if (pb_bytes(&s, 1, topic, strlen(topic)) == 0)
        pb_sub(&p->pend_ctl, 3, &s);
    buf_free(&s);
    p->ps->st.graft_sent++;
}

void ps_queue_prune(ps_peer *p, const char *topic, uint64_t backoff_s)
{
    buf_t s;
    buf_init(&s, 0);
    if (pb_bytes(&s, 1, topic, strlen(topic)) == 0 && pb_varint(&s, 3, backoff_s) == 0)
        pb_sub(&p->pend_ctl, 4, &s);
    buf_free(&s);
    p->ps->st.prune_sent++;
}

void ps_queue_ihave(ps_peer *p, const char *topic, const ps_msg_id *const *ids, size_t n)
{
    buf_t s;
    buf_init(&s, 0);
    int r = pb_bytes(&s, 1, topic, strlen(topic));
    for (size_t i = 0; i < n && r == 0; i++)
        r = pb_bytes(&s, 2, ids[i]->b, ids[i]->len);
    if (r == 0)
        pb_sub(&p->pend_ctl, 1, &s);
    buf_free(&s);
    p->ps->st.ihave_sent++;
}

/* IWANT or IDONTWANT (field 2 or 5 of ControlMessage) with ids. */
static void queue_ids(buf_t *ctl, unsigned field, const ProtobufCBinaryData *const *ids, size_t n)
{
    buf_t s;
    buf_init(&s, 0);
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++)
        r = pb_bytes(&s, 1, ids[i]->data, ids[i]->len);
    if (r == 0 && n)
        pb_sub(ctl, field, &s);
    buf_free(&s);
}

/* The framed RPC {publish: [m]} in ps->scratch. */
static int encode_message_frame(p2p_pubsub *ps, const ps_message *m)
{
    Swarm__Pubsub__Message pb;
    uint8_t keybuf[P2P_PUBKEY_PROTO_LEN];
    ps_msg_to_pb(m, &pb, keybuf);
    size_t size = swarm__pubsub__message__get_packed_size(&pb);
    uint8_t lenbuf[VARINT_MAX_LEN];
    size_t body = 1 + uvarint_encode(size, lenbuf) + size;
    buf_clear(&ps->scratch);
    if (buf_put_uvarint(&ps->scratch, body) != 0 || pb_tag(&ps->scratch, 2, PB_LEN) != 0 ||
        buf_put_uvarint(&ps->scratch, size) != 0 || buf_reserve(&ps->scratch, size) != 0)
        return -1;
    swarm__pubsub__message__pack(&pb, ps->scratch.data + ps->scratch.len);
    ps->scratch.len += size;
    return 0;
}

/* ---- topics, peers, sets -------------------------------------------------------------------- */

ps_topic *ps_topic_find(const p2p_pubsub *ps, const char *name)
{
    for (ps_topic *t = ps->topics; t; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

ps_topic *ps_topic_get(p2p_pubsub *ps, const char *name)
{
    ps_topic *t = ps_topic_find(ps, name);
    if (t)
        return t;
    t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name))) {
        free(t);
        return NULL;
    }
    t->next = ps->topics;
    ps->topics = t;
    return t;
}

void ps_topic_release(p2p_pubsub *ps, ps_topic *t)
{
    if (t->subscribed || t->val || t->fanout.n || t->last_pub)
        return;
    for (ps_topic **pp = &ps->topics; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    free(t->mesh.p);
    free(t->fanout.p);
    free(t->name);
    free(t);
}

bool ps_peer_subscribed(const ps_peer *p, const char *topic)
{
    for (size_t i = 0; i < p->ntopics; i++)
        if (strcmp(p->topics[i], topic) == 0)
            return true;
    return false;
}

bool ps_peer_gossips(const ps_peer *p)
{
    return p->version >= 0 && !p->banned;
}

bool ps_set_has(const ps_peerset *s, const ps_peer *p)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->p[i] == p)
            return true;
    return false;
}

int ps_set_add(ps_peerset *s, ps_peer *p)
{
    if (ps_set_has(s, p))
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        ps_peer **grown = realloc(s->p, cap * sizeof *grown);
        if (!grown)
            return -1;
        s->p = grown;
        s->cap = cap;
    }
    s->p[s->n++] = p;
    return 0;
}

bool ps_set_del(ps_peerset *s, const ps_peer *p)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->p[i] == p) {
            s->p[i] = s->p[--s->n];
            return true;
        }
    }
    return false;
}

void ps_shuffle(void **a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = randombytes_uniform((uint32_t)i);
        void *x = a[i - 1];
        a[i - 1] = a[j];
        a[j] = x;
    }
}

size_t ps_pick_peers(p2p_pubsub *ps, const ps_topic *t, const ps_peerset *excl1,
                     const ps_peerset *excl2,
                     bool (*keep)(const ps_peer *, const ps_topic *, uint64_t), ps_peer **out,
                     size_t max)
{
    if (!max || !ps->npeers)
        return 0;
    ps_peer **cand = malloc(ps->npeers * sizeof *cand);
    if (!cand)
        return 0;
    uint64_t now = ps_now(ps);
    size_t n = 0;
    for (ps_peer *q = ps->peers; q; q = q->next) {
        if (!ps_peer_gossips(q) || !ps_peer_subscribed(q, t->name) ||
            (excl1 && ps_set_has(excl1, q)) || (excl2 && ps_set_has(excl2, q)) ||
            (keep && !keep(q, t, now)))
            continue;
        cand[n++] = q;
    }
    ps_shuffle((void **)cand, n);
    if (n > max)
        n = max;
    memcpy(out, cand, n * sizeof *out);
    free(cand);
    return n;
}

ps_peer *ps_peer_find(const p2p_pubsub *ps, const p2p_peer_id *id)
{
    for (ps_peer *p = ps->peers; p; p = p->next)
        if (p2p_peer_id_eq(&p->id, id))
            return p;
    return NULL;
}

ps_peer *ps_peer_new(p2p_pubsub *ps, const p2p_peer_id *id)
{
    ps_peer *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->ps = ps;
    p->id = *id;
    p->serial = ++ps->next_serial;
    buf_init(&p->rbuf, PS_RPC_READ_LIMIT);
    buf_init(&p->out_q, 0); /* bounded by ps_send_frame */
    buf_init(&p->pend_subs, 256 * 1024);
    buf_init(&p->pend_ctl, 512 * 1024);
    ps_idmap_init(&p->dontwant, PS_DONTWANT_MAX);
    p->penalty_at = ps_now(ps);
    p->next = ps->peers;
    ps->peers = p;
    ps->npeers++;
    for (ps_topic *t = ps->topics; t; t = t->next)
        if (t->subscribed)
            ps_queue_sub(p, t->name, true);
    return p;
}

void ps_peer_free(ps_peer *p)
{
    p2p_pubsub *ps = p->ps;
    for (ps_peer **pp = &ps->peers; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            ps->npeers--;
            break;
        }
    }
    for (ps_topic *t = ps->topics; t; t = t->next) {
        ps_set_del(&t->mesh, p);
        ps_set_del(&t->fanout, p);
    }
    for (size_t i = 0; i < p->ntopics; i++)
        free(p->topics[i]);
    free(p->topics);
    for (size_t i = 0; i < p->nbackoff; i++)
        free(p->backoff[i].topic);
    free(p->backoff);
    ps_idmap_free(&p->dontwant);
    buf_free(&p->rbuf);
    buf_free(&p->out_q);
    buf_free(&p->pend_subs);
    buf_free(&p->pend_ctl);
    free(p);
}

/* ---- back-off ------------------------------------------------------------------------------- */

void ps_backoff_set(ps_peer *p, const char *topic, uint64_t until)
{
    for (size_t i = 0; i < p->nbackoff; i++) {
        if (strcmp(p->backoff[i].topic, topic) == 0) {
            if (p->backoff[i].until < until)
                p->backoff[i].until = until;
            return;
        }
    }
    if (p->nbackoff == p->capbackoff) {
        size_t cap = p->capbackoff ? p->capbackoff * 2 : 4;
        ps_backoff *grown = realloc(p->backoff, cap * sizeof *grown);
        if (!grown)
            return;
        p->backoff = grown;
        p->capbackoff = cap;
    }
    char *name = strdup(topic);
    if (!name)
        return;
    p->backoff[p->nbackoff].topic = name;
    p->backoff[p->nbackoff].until = until;
    p->nbackoff++;
}

bool ps_backoff_active(const ps_peer *p, const char *topic, uint64_t now)
{
    for (size_t i = 0; i < p->nbackoff; i++)
        if (strcmp(p->backoff[i].topic, topic) == 0)
            return p->backoff[i].until > now;
    return false;
}

/* ---- mesh membership ------------------------------------------------------------------------ */

static bool not_backed_off(const ps_peer *q, const ps_topic *t, uint64_t now)
{
    return !ps_backoff_active(q, t->name, now);
}

static void graft(p2p_pubsub *ps, ps_topic *t, ps_peer *q)
{
    if (ps_set_add(&t->mesh, q) != 0)
        return;
    ps_queue_graft(q, t->name);
    ps_emit(ps, P2P_PS_EV_GRAFT, q, t->name, NULL);
}

void ps_join(p2p_pubsub *ps, ps_topic *t)
{
    uint64_t now = ps_now(ps);
    for (size_t i = 0; i < t->fanout.n && t->mesh.n < ps->cfg.d; i++) {
        ps_peer *q = t->fanout.p[i];
        if (ps_peer_subscribed(q, t->name) && !ps_backoff_active(q, t->name, now))
            graft(ps, t, q);
    }
    t->fanout.n = 0;
    t->last_pub = 0;
    if (t->mesh.n < ps->cfg.d) {
        ps_peer *pick[64];
        size_t want = ps->cfg.d - t->mesh.n;
        size_t k =
            ps_pick_peers(ps, t, &t->mesh, NULL, not_backed_off, pick, want < 64 ? want : 64);
        for (size_t i = 0; i < k; i++)
            graft(ps, t, pick[i]);
    }
}

void ps_leave(p2p_pubsub *ps, ps_topic *t)
{
    uint64_t now = ps_now(ps);
    for (size_t i = 0; i < t->mesh.n; i++) {
        ps_peer *q = t->mesh.p[i];
        ps_queue_prune(q, t->name, ps->cfg.prune_backoff_ms / 1000);
        ps_backoff_set(q, t->name, now + ps->cfg.prune_backoff_ms);
        ps_emit(ps, P2P_PS_EV_PRUNE, q, t->name, NULL);
    }
    t->mesh.n = 0;
}

/* ---- subscriptions -------------------------------------------------------------------------- */

static void peer_subscribe(ps_peer *p, const char *topic)
{
    if (ps_peer_subscribed(p, topic) || p->ntopics >= PS_MAX_PEER_TOPICS)
        return;
    if (p->ntopics == p->captopics) {
        size_t cap = p->captopics ? p->captopics * 2 : 8;
        char **grown = realloc(p->topics, cap * sizeof *grown);
        if (!grown)
            return;
        p->topics = grown;
        p->captopics = cap;
    }
    if (!(p->topics[p->ntopics] = strdup(topic)))
        return;
    p->ntopics++;
    ps_emit(p->ps, P2P_PS_EV_SUBSCRIBED, p, topic, NULL);
}

static void peer_unsubscribe(ps_peer *p, const char *topic)
{
    for (size_t i = 0; i < p->ntopics; i++) {
        if (strcmp(p->topics[i], topic) == 0) {
            free(p->topics[i]);
            p->topics[i] = p->topics[--p->ntopics];
            ps_topic *t = ps_topic_find(p->ps, topic);
            if (t) {
                if (ps_set_del(&t->mesh, p))
                    ps_emit(p->ps, P2P_PS_EV_PRUNE, p, topic, NULL);
                ps_set_del(&t->fanout, p);
            }
            ps_emit(p->ps, P2P_PS_EV_UNSUBSCRIBED, p, topic, NULL);
            return;
        }
    }
}

/* ---- messages ------------------------------------------------------------------------------- */

static int make_id(const p2p_pubsub *ps, const ps_message *m, ps_msg_id *id)
{
    char err[64];
    switch (ps->cfg.msg_id) {
    case P2P_PS_ID_CONTENT:
        ps_msg_id_content(m, id);
        return 0;
    case P2P_PS_ID_KEY_SEQNO: {
        uint8_t pk[32];
        if (!m->has_seqno)
            return -1;
        if (m->has_key)
            memcpy(pk, m->key_pk, 32);
        else if (!m->has_from || p2p_peer_id_pubkey(&m->from, pk) != 0)
            return -1;
        p2p_pubkey_encode(pk, id->b);
        memcpy(id->b + P2P_PUBKEY_PROTO_LEN, m->seqno, PS_SEQNO_LEN);
        id->len = P2P_PUBKEY_PROTO_LEN + PS_SEQNO_LEN;
        return 0;
    }
    case P2P_PS_ID_FROM_SEQNO:
    default:
        return ps_msg_id_default(m, id, err, sizeof err);
    }
}

static uint64_t seqno_value(const ps_message *m)
{
    uint64_t v = 0;
    for (int i = 0; i < PS_SEQNO_LEN && m->has_seqno; i++)
        v = v << 8 | m->seqno[i];
    return v;
}

/* Why a message fails StrictSign: 1 = from (missing, or not the signer's), 2 = signature,
 * 0 = it verifies. */
static int strict_sign_fault(const ps_message *m, char *err, size_t errlen)
{
    uint8_t pk[32];
    if (!m->has_from || !m->has_seqno) {
        err_set(err, errlen, "message without from or seqno");
        return 1;
    }
    if (m->has_key) {
        p2p_peer_id kid;
        p2p_peer_id_from_pubkey(m->key_pk, &kid);
        if (!p2p_peer_id_eq(&kid, &m->from)) {
            err_set(err, errlen, "from does not match the message's key");
            return 1;
        }
    } else if (p2p_peer_id_pubkey(&m->from, pk) != 0) {
        err_set(err, errlen, "from carries no key and the message has none");
        return 1;
    }
    if (!m->has_sig) {
        err_set(err, errlen, "message without signature");
        return 2;
    }
    return ps_msg_verify(m, err, errlen) == 0 ? 0 : 2;
}

/* Sends the message frame in ps->scratch to the mesh of t, except from and its author. */
static void forward(p2p_pubsub *ps, ps_topic *t, const ps_peer *from, const ps_message *m,
                    const ps_msg_id *id)
{
    for (size_t i = 0; i < t->mesh.n; i++) {
        ps_peer *q = t->mesh.p[i];
        if (q == from || p2p_peer_id_eq(&q->id, &m->from) ||
            ps_idmap_has(&q->dontwant, id->b, id->len))
            continue;
        ps_send_frame(q, ps->scratch.data, ps->scratch.len);
        ps->st.forwarded++;
    }
}

/* v1.2: tells the mesh peers (but from) that speak it not to send us this message. */
static void send_idontwant(p2p_pubsub *ps, ps_topic *t, const ps_peer *from, const ps_msg_id *id)
{
    buf_t ctl, frame;
    buf_init(&ctl, 0);
    buf_init(&frame, 0);
    ProtobufCBinaryData bid = {.len = id->len, .data = (uint8_t *)id->b};
    const ProtobufCBinaryData *ids[1] = {&bid};
    queue_ids(&ctl, 5, ids, 1);
    buf_t body;
    buf_init(&body, 0);
    if (pb_bytes(&body, 3, ctl.data, ctl.len) == 0 && buf_put_uvarint(&frame, body.len) == 0 &&
        buf_append(&frame, body.data, body.len) == 0) {
        for (size_t i = 0; i < t->mesh.n; i++) {
            ps_peer *q = t->mesh.p[i];
            if (q != from && q->version >= 12) {
                ps_send_frame(q, frame.data, frame.len);
                ps->st.idontwant_sent++;
            }
        }
    }
    buf_free(&body);
    buf_free(&frame);
    buf_free(&ctl);
}

static void reject(ps_peer *p, uint64_t *counter, const char *topic, const char *why)
{
    if (counter)
        (*counter)++;
    p->ps->st.rejected++;
    ps_penalize(p, PS_PENALTY_INVALID, topic, why);
}

/* Handles one received message. */
static void handle_message(ps_peer *p, const Swarm__Pubsub__Message *pb)
{
    p2p_pubsub *ps = p->ps;
    char err[256];
    ps_message m;
    ps->st.received++;
    if (pb->has_data && pb->data.len > ps->cfg.max_message_size) {
        snprintf(err, sizeof err, "message of %zu bytes is over the limit of %zu", pb->data.len,
                 ps->cfg.max_message_size);
        reject(p, &ps->st.too_large, pb->topic, err);
        return;
    }
    if (ps_msg_from_pb(pb, &m, err, sizeof err) != 0) {
        bool from_bad = pb->has_from && strstr(err, "from");
        reject(p, from_bad ? &ps->st.bad_from : NULL, pb->topic, err);
        return;
    }
    ps_msg_id id;
    if (make_id(ps, &m, &id) != 0) {
        reject(p, &ps->st.bad_from, m.topic, "message without from or seqno");
        goto done;
    }
    if (ps_idmap_has(&ps->seen, id.b, id.len)) {
        ps->st.duplicates++;
        goto done;
    }
    /* Not marked seen until it verifies: a forged copy must not shadow the real message. */
    int fault = strict_sign_fault(&m, err, sizeof err);
    if (fault) {
        reject(p, fault == 1 ? &ps->st.bad_from : &ps->st.bad_signature, m.topic, err);
        goto done;
    }
    if (p2p_peer_id_eq(&m.from, &ps->h->id)) { /* our own, come back */
        ps->st.ignored++;
        ps_idmap_put(&ps->seen, id.b, id.len, NULL, ps_now(ps));
        goto done;
    }
    p2p_ps_message view = {.topic = m.topic,
                           .from = &m.from,
                           .seqno = seqno_value(&m),
                           .data = m.data,
                           .len = m.len,
                           .received_from = &p->id,
                           .id = id.b,
                           .idlen = id.len};
    ps_topic *t = ps_topic_find(ps, m.topic);
    if (t && t->val) {
        p2p_ps_verdict v = t->val(ps, &view, t->val_user);
        t = ps_topic_find(ps, m.topic); /* the validator may have changed topics */
        if (v == P2P_PS_REJECT) {
            reject(p, NULL, m.topic, "rejected by the topic's validator");
            goto done;
        }
        if (v == P2P_PS_IGNORE) {
            ps->st.ignored++;
            ps_idmap_put(&ps->seen, id.b, id.len, NULL, ps_now(ps));
            goto done;
        }
    }
    ps_idmap_put(&ps->seen, id.b, id.len, NULL, ps_now(ps));
    if (encode_message_frame(ps, &m) != 0)
        goto done;
    ps_mcache_put(&ps->mcache, &id, m.topic, ps->scratch.data, ps->scratch.len, ps_now(ps));
    if (t && t->subscribed) {
        if (m.len >= ps->cfg.idontwant_min_size)
            send_idontwant(ps, t, p, &id);
        forward(ps, t, p, &m, &id);
        if (t->fn) {
            ps->st.delivered++;
            t->fn(ps, &view, t->fn_user); /* last: it may unsubscribe and free t */
        }
    }
done:
    ps_message_free(&m);
}

/* ---- control -------------------------------------------------------------------------------- */

static void handle_ihave(ps_peer *p, Swarm__Pubsub__ControlIHave **ihave, size_t n)
{
    p2p_pubsub *ps = p->ps;
    const ProtobufCBinaryData **want = NULL;
    size_t nwant = 0;
    for (size_t i = 0; i < n; i++) {
        if (++p->ihave_seen > PS_MAX_IHAVE_MESSAGES)
            break;
        ps_topic *t = ihave[i]->topicid ? ps_topic_find(ps, ihave[i]->topicid) : NULL;
        if (!t || !t->subscribed)
            continue;
        for (size_t k = 0; k < ihave[i]->n_messageids; k++) {
            const ProtobufCBinaryData *mid = &ihave[i]->messageids[k];
            if (p->iwant_asked >= PS_MAX_IHAVE_LENGTH)
                break;
            if (mid->len == 0 || mid->len > PS_MSG_ID_MAX ||
                ps_idmap_has(&ps->seen, mid->data, mid->len))
                continue;
            if (!want && !(want = malloc(PS_MAX_IHAVE_LENGTH * sizeof *want)))
                return;
            want[nwant++] = mid;
            p->iwant_asked++;
        }
    }
    if (nwant) {
        queue_ids(&p->pend_ctl, 2, want, nwant);
        ps->st.iwant_sent++;
    }
    free(want);
}

static void handle_iwant(ps_peer *p, Swarm__Pubsub__ControlIWant **iwant, size_t n)
{
    p2p_pubsub *ps = p->ps;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < iwant[i]->n_messageids; k++) {
            const ProtobufCBinaryData *mid = &iwant[i]->messageids[k];
            ps_cached *c = ps_mcache_get(&ps->mcache, mid->data, mid->len);
            if (!c || ps_mcache_served(c, p->serial) >= PS_GOSSIP_RETRANSMIT)
                continue;
            ps_send_frame(p, c->frame, c->framelen);
            ps->st.iwant_served++;
        }
    }
}

static void handle_graft(ps_peer *p, Swarm__Pubsub__ControlGraft **g, size_t n)
{
    p2p_pubsub *ps = p->ps;
    uint64_t now = ps_now(ps);
    for (size_t i = 0; i < n && !p->banned; i++) {
        const char *topic = g[i]->topicid;
        if (!topic || !*topic)
            continue;
        ps_topic *t = ps_topic_find(ps, topic);
        if (!t || !t->subscribed) {
            ps_queue_prune(p, topic, 0); /* not ours: no mesh to join */
            continue;
        }
        if (ps_set_has(&t->mesh, p))
            continue;
        if (ps_backoff_active(p, topic, now)) {
            ps_penalize(p, PS_PENALTY_BACKOFF, topic, "GRAFT during its back-off");
            ps_backoff_set(p, topic, now + ps->cfg.prune_backoff_ms);
            ps_queue_prune(p, topic, ps->cfg.prune_backoff_ms / 1000);
            continue;
        }
        if (t->mesh.n >= ps->cfg.d_hi || !ps_peer_subscribed(p, topic)) {
            ps_backoff_set(p, topic, now + ps->cfg.prune_backoff_ms);
            ps_queue_prune(p, topic, ps->cfg.prune_backoff_ms / 1000);
            continue;
        }
        if (ps_set_add(&t->mesh, p) == 0)
            ps_emit(ps, P2P_PS_EV_GRAFT, p, topic, NULL);
    }
}

#define PS_MAX_BACKOFF_S 3600 /* longest back-off a PRUNE can ask of us */

static void handle_prune(ps_peer *p, Swarm__Pubsub__ControlPrune **pr, size_t n)
{
    p2p_pubsub *ps = p->ps;
    uint64_t now = ps_now(ps);
    for (size_t i = 0; i < n; i++) {
        const char *topic = pr[i]->topicid;
        if (!topic || !*topic)
            continue;
        ps_topic *t = ps_topic_find(ps, topic);
        if (t && ps_set_del(&t->mesh, p))
            ps_emit(ps, P2P_PS_EV_PRUNE, p, topic, NULL);
        uint64_t ms = ps->cfg.prune_backoff_ms;
        if (pr[i]->has_backoff)
            ms = (pr[i]->backoff > PS_MAX_BACKOFF_S ? PS_MAX_BACKOFF_S : pr[i]->backoff) * 1000;
        if (t) /* back-offs matter only for topics we have */
            ps_backoff_set(p, topic, now + ms);
    }
}

static void handle_idontwant(ps_peer *p, Swarm__Pubsub__ControlIDontWant **d, size_t n)
{
    uint64_t now = ps_now(p->ps);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < d[i]->n_messageids; k++) {
            const ProtobufCBinaryData *mid = &d[i]->messageids[k];
            if (mid->len && mid->len <= PS_MSG_ID_MAX)
                ps_idmap_put(&p->dontwant, mid->data, mid->len, NULL, now);
        }
}

int ps_handle_rpc(ps_peer *p, const uint8_t *body, size_t n)
{
    p2p_pubsub *ps = p->ps;
    char err[256];
    Swarm__Pubsub__RPC *rpc = NULL;
    if (ps_rpc_decode(body, n, PS_RPC_MAX_DEFAULT, &rpc, err, sizeof err) != 0) {
        ps->st.bad_rpcs++;
        ps_penalize(p, PS_PENALTY_MALFORMED, NULL, err);
        return -1;
    }
    for (size_t i = 0; i < rpc->n_subscriptions && !p->banned; i++) {
        const Swarm__Pubsub__SubOpts *so = rpc->subscriptions[i];
        if (!so->topicid || !*so->topicid || strlen(so->topicid) > PS_MAX_TOPIC_LEN)
            continue;
        if (so->has_subscribe && so->subscribe)
            peer_subscribe(p, so->topicid);
        else
            peer_unsubscribe(p, so->topicid);
    }
    for (size_t i = 0; i < rpc->n_publish && !p->banned && !ps->closing; i++)
        handle_message(p, rpc->publish[i]);
    const Swarm__Pubsub__ControlMessage *c = rpc->control;
    if (c && !p->banned && !ps->closing) {
        handle_idontwant(p, c->idontwant, c->n_idontwant);
        handle_ihave(p, c->ihave, c->n_ihave);
        handle_iwant(p, c->iwant, c->n_iwant);
        handle_graft(p, c->graft, c->n_graft);
        handle_prune(p, c->prune, c->n_prune);
    }
    swarm__pubsub__rpc__free_unpacked(rpc, NULL);
    return 0;
}

/* ---- publishing ----------------------------------------------------------------------------- */

int p2p_pubsub_publish(p2p_pubsub *ps, const char *topic, const void *data, size_t len,
                       uint64_t *seqno, char *err, size_t errlen)
{
    if (ps->closing)
        return err_set(err, errlen, "publish: the host is closing");
    if (!topic)
        return err_set(err, errlen, "publish: no topic");
    if (len > ps->cfg.max_message_size)
        return err_set(err, errlen,
                       "publish: a message of %zu bytes is over the maximum of %zu bytes", len,
                       ps->cfg.max_message_size);
    ps_message m;
    uint64_t sq = ps->seqno + 1;
    if (ps_msg_sign(&ps->h->key, topic, data, len, sq, &m, err, errlen) != 0)
        return -1;
    ps->seqno = sq;
    ps_msg_id id;
    if (make_id(ps, &m, &id) != 0 || encode_message_frame(ps, &m) != 0) {
        ps_message_free(&m);
        return err_set(err, errlen, "publish: out of memory");
    }
    uint64_t now = ps_now(ps);
    if (ps->cfg.msg_id == P2P_PS_ID_CONTENT && ps_idmap_has(&ps->seen, id.b, id.len)) {
        ps_message_free(&m);
        return err_set(err, errlen,
                       "publish: the same data was published or seen within the "
                       "seen-cache time (message ids are content hashes)");
    }
    ps_idmap_put(&ps->seen, id.b, id.len, NULL, now);
    ps_mcache_put(&ps->mcache, &id, topic, ps->scratch.data, ps->scratch.len, now);

    ps_topic *t = ps_topic_find(ps, topic);
    int sent = 0;
    if (ps->cfg.flood_publish) {
        for (ps_peer *q = ps->peers; q; q = q->next) {
            if (ps_peer_gossips(q) && ps_peer_subscribed(q, topic)) {
                ps_send_frame(q, ps->scratch.data, ps->scratch.len);
                sent++;
            }
        }
    } else {
        if (!t || !t->subscribed) { /* fanout */
            if (!(t = ps_topic_get(ps, topic))) {
                ps_message_free(&m);
                return err_set(err, errlen, "publish: out of memory");
            }
            if (t->fanout.n == 0) {
                ps_peer *pick[64];
                size_t want = ps->cfg.d < 64 ? ps->cfg.d : 64;
                size_t k = ps_pick_peers(ps, t, NULL, NULL, NULL, pick, want);
                for (size_t i = 0; i < k; i++)
                    ps_set_add(&t->fanout, pick[i]);
            }
            t->last_pub = now;
        }
        ps_peerset *to = t->subscribed ? &t->mesh : &t->fanout;
        for (size_t i = 0; i < to->n; i++) {
            ps_send_frame(to->p[i], ps->scratch.data, ps->scratch.len);
            sent++;
        }
    }
    ps->st.published++;
    ps->st.forwarded += (uint64_t)sent;
    if (seqno)
        *seqno = sq;
    ps_message_free(&m);
    ps_flush(ps);
    return sent;
}
