/* libFuzzer target: the gossipsub router (src/p2p/pubsub_router.c, pubsub_heartbeat.c,
 * pubsub_mcache.c) fed RPCs from three peers. A fresh host and pubsub per input, subscribed to
 * "a" and "b", with peers that have no streams (what they are sent queues up, bounded).
 *
 * Input: a sequence of steps, each one control byte and one uvarint-framed RPC. The control
 * byte's low two bits pick the peer (0..2), bit 2 re-signs every message of the RPC with a
 * fixed key before it is handled (the fuzzer cannot forge signatures, so this lets it reach
 * the paths of valid messages: dedup, cache, forwarding, IWANT), bit 3 runs a heartbeat after
 * the step, bit 4 publishes a message of our own on "a" first, bit 5 makes the peer ask (IWANT)
 * for every message id in the cache after the step. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "host_internal.h"
#include "pubsub_internal.h"

static void on_closed(void *user)
{
    *(bool *)user = true;
}

/* Re-signs every message of rpc (body[0..n)) with k into out (framing not included); returns
 * 0, or -1 when the RPC does not decode (then out holds body as is). */
static int resign(const uint8_t *body, size_t n, const p2p_key *k, buf_t *out)
{
    char err[256];
    Swarm__Pubsub__RPC *rpc = NULL;
    if (ps_rpc_decode(body, n, 0, &rpc, err, sizeof err) != 0) {
        buf_append(out, body, n);
        return -1;
    }
    size_t nm = rpc->n_publish;
    ps_message *ms = calloc(nm ? nm : 1, sizeof *ms);
    Swarm__Pubsub__Message *pbs = calloc(nm ? nm : 1, sizeof *pbs);
    uint8_t(*keys)[P2P_PUBKEY_PROTO_LEN] = calloc(nm ? nm : 1, sizeof *keys);
    Swarm__Pubsub__Message **orig = rpc->publish;
    Swarm__Pubsub__Message **pp = calloc(nm ? nm : 1, sizeof *pp);
    size_t kept = 0;
    for (size_t i = 0; ms && pbs && keys && pp && i < nm; i++) {
        ps_message m;
        if (ps_msg_from_pb(orig[i], &m, err, sizeof err) != 0)
            continue;
        uint64_t seq = 0;
        for (int b = 0; b < PS_SEQNO_LEN; b++)
            seq = seq << 8 | m.seqno[b];
        if (ps_msg_sign(k, m.topic, m.data, m.len, seq, &ms[kept], err, sizeof err) == 0) {
            ps_msg_to_pb(&ms[kept], &pbs[kept], keys[kept]);
            pp[kept] = &pbs[kept];
            kept++;
        }
        ps_message_free(&m);
    }
    rpc->publish = pp;
    rpc->n_publish = kept;
    size_t size = swarm__pubsub__rpc__get_packed_size(rpc);
    int rc = buf_reserve(out, size);
    if (rc == 0 && size) {
        swarm__pubsub__rpc__pack(rpc, out->data + out->len);
        out->len += size;
    }
    rpc->publish = orig;
    rpc->n_publish = nm;
    swarm__pubsub__rpc__free_unpacked(rpc, NULL);
    for (size_t i = 0; i < kept; i++)
        ps_message_free(&ms[i]);
    free(ms);
    free(pbs);
    free(keys);
    free(pp);
    return rc;
}

/* p asks for every cached message, twice over (the second time only retransmits). */
static void want_all(p2p_pubsub *ps, ps_peer *p)
{
    const ps_msg_id *ids[256];
    size_t n = ps_mcache_gossip(&ps->mcache, "a", ps->mcache.len, ids, 256);
    n += ps_mcache_gossip(&ps->mcache, "b", ps->mcache.len, ids + n, 256 - n);
    if (!n)
        return;
    ProtobufCBinaryData bids[256];
    for (size_t i = 0; i < n; i++) {
        bids[i].len = ids[i]->len;
        bids[i].data = (uint8_t *)ids[i]->b;
    }
    Swarm__Pubsub__ControlIWant iw, *iwp = &iw;
    swarm__pubsub__control_iwant__init(&iw);
    iw.n_messageids = n;
    iw.messageids = bids;
    Swarm__Pubsub__ControlMessage c;
    swarm__pubsub__control_message__init(&c);
    c.n_iwant = 1;
    c.iwant = &iwp;
    Swarm__Pubsub__RPC rpc;
    swarm__pubsub__rpc__init(&rpc);
    rpc.control = &c;
    uint8_t *b = malloc(swarm__pubsub__rpc__get_packed_size(&rpc));
    if (!b)
        return;
    size_t len = swarm__pubsub__rpc__pack(&rpc, b);
    for (int k = 0; k < 2; k++)
        ps_handle_rpc(p, b, len);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uv_loop_t loop;
    static bool ready;
    static p2p_key hk, sk;
    if (!ready) {
        if (sodium_init() < 0 || uv_loop_init(&loop) != 0)
            abort();
        uint8_t seed[32] = {1};
        crypto_sign_seed_keypair(hk.pk, hk.sk, seed);
        seed[0] = 2;
        crypto_sign_seed_keypair(sk.pk, sk.sk, seed);
        ready = true;
    }
    char err[256];
    p2p_host_config hc;
    p2p_host_config_default(&hc);
    hc.key = &hk;
    p2p_host *h;
    if (p2p_host_new(&loop, &hc, NULL, NULL, &h, err, sizeof err) != 0)
        abort();
    p2p_pubsub_config pc;
    p2p_pubsub_config_default(&pc);
    pc.penalty_threshold = 1000; /* keep the peers in play */
    p2p_pubsub *ps;
    if (p2p_pubsub_new(h, &pc, &ps, err, sizeof err) != 0 ||
        p2p_pubsub_subscribe(ps, "a", NULL, NULL, err, sizeof err) != 0 ||
        p2p_pubsub_subscribe(ps, "b", NULL, NULL, err, sizeof err) != 0)
        abort();
    ps_peer *peers[3];
    for (int i = 0; i < 3; i++) {
        p2p_key k;
        uint8_t seed[32] = {(uint8_t)(10 + i)};
        crypto_sign_seed_keypair(k.pk, k.sk, seed);
        p2p_peer_id id;
        p2p_peer_id_from_pubkey(i == 2 ? sk.pk : k.pk, &id); /* peer 2 signs the re-signed */
        if (!(peers[i] = ps_peer_new(ps, &id)))
            abort();
        peers[i]->version = i == 1 ? 11 : 12;
    }

    buf_t body;
    buf_init(&body, 0);
    size_t off = 0;
    while (off < size) {
        uint8_t ctl = data[off++];
        size_t hdr, len;
        int r = ps_rpc_frame(data + off, size - off, 0, &hdr, &len, err, sizeof err);
        if (r != 1)
            break;
        ps_peer *p = peers[(ctl & 3) % 3];
        const uint8_t *b = data + off + hdr;
        if (ctl & 16)
            p2p_pubsub_publish(ps, "a", b, len < 64 ? len : 64, NULL, err, sizeof err);
        if (ctl & 4) {
            buf_clear(&body);
            resign(b, len, &sk, &body);
            if (ps_handle_rpc(p, body.data, body.len) == 0 && p->banned)
                abort(); /* the threshold is out of reach */
        } else {
            ps_handle_rpc(p, b, len);
        }
        if (ctl & 32)
            want_all(ps, p);
        ps_flush(ps);
        if (ctl & 8)
            ps_heartbeat(ps);
        /* bounds that must hold whatever peers send */
        for (int i = 0; i < 3; i++) {
            if (peers[i]->out_q.len - peers[i]->out_off > PS_OUTQ_LIMIT + PS_RPC_READ_LIMIT ||
                peers[i]->ntopics > PS_MAX_PEER_TOPICS ||
                peers[i]->dontwant.count > PS_DONTWANT_MAX)
                abort();
        }
        for (ps_topic *t = ps->topics; t; t = t->next)
            if (t->mesh.n > 3)
                abort();
        off += hdr + len;
    }
    buf_free(&body);
    bool closed = false;
    p2p_host_close(h, on_closed, &closed);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
    return 0;
}
