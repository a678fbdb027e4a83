/* libFuzzer target: the pubsub RPC codec and messages (src/p2p/pubsub_msg.c). Any input must
 * be framed, decoded, checked, verified and given message ids without reading out of bounds or
 * leaking; what ps_rpc_decode accepts must re-encode and decode again, and each message that
 * ps_msg_from_pb accepts must survive ps_msg_to_pb unchanged and verify the same way. */
#include <stdlib.h>
#include <string.h>

#include "pubsub_msg.h"

/* Checks one received message: its conversions, verification and ids. */
static void check_message(const Swarm__Pubsub__Message *pb)
{
    char err[256];
    ps_message m, again;
    if (ps_msg_from_pb(pb, &m, err, sizeof err) != 0) {
        if (strlen(err) == 0 || m.topic || m.data)
            abort();
        return;
    }
    if (!m.topic || strlen(m.topic) > PS_MAX_TOPIC_LEN || m.len > PS_MAX_MSG_DATA)
        abort();
    int verified = ps_msg_verify(&m, err, sizeof err);

    ps_msg_id id;
    if (ps_msg_id_default(&m, &id, err, sizeof err) == 0) {
        if (!m.has_from || !m.has_seqno || id.len != (size_t)m.from.len + PS_SEQNO_LEN)
            abort();
    } else if (m.has_from && m.has_seqno) {
        abort();
    }
    ps_msg_id_content(&m, &id);
    if (id.len != 32)
        abort();

    Swarm__Pubsub__Message out;
    uint8_t keybuf[P2P_PUBKEY_PROTO_LEN];
    ps_msg_to_pb(&m, &out, keybuf);
    if (ps_msg_from_pb(&out, &again, err, sizeof err) != 0)
        abort();
    if (strcmp(m.topic, again.topic) != 0 || m.len != again.len ||
        (m.len && memcmp(m.data, again.data, m.len) != 0) || m.has_data != again.has_data ||
        m.has_from != again.has_from || (m.has_from && !p2p_peer_id_eq(&m.from, &again.from)) ||
        m.has_seqno != again.has_seqno || m.has_sig != again.has_sig || m.has_key != again.has_key)
        abort();
    if (ps_msg_verify(&again, err, sizeof err) != verified)
        abort();
    ps_message_free(&again);
    ps_message_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    size_t hdr = 0, body = 0;
    int fr = ps_rpc_frame(data, size, 0, &hdr, &body, err, sizeof err);
    if (fr == 1 && (hdr + body > size || body > PS_RPC_MAX_DEFAULT))
        abort();

    Swarm__Pubsub__RPC *rpc = NULL;
    if (ps_rpc_decode(data, size, 0, &rpc, err, sizeof err) != 0) {
        if (rpc || strlen(err) == 0)
            abort();
        return 0;
    }
    for (size_t i = 0; i < rpc->n_publish; i++)
        check_message(rpc->publish[i]);

    buf_t out;
    buf_init(&out, 0);
    if (ps_rpc_encode(rpc, 0, &out, err, sizeof err) == 0) {
        Swarm__Pubsub__RPC *again = NULL;
        if (ps_rpc_frame(out.data, out.len, 0, &hdr, &body, err, sizeof err) != 1 ||
            hdr + body != out.len)
            abort();
        if (ps_rpc_decode(out.data + hdr, body, 0, &again, err, sizeof err) != 0)
            abort();
        if (again->n_publish != rpc->n_publish || again->n_subscriptions != rpc->n_subscriptions ||
            (again->control == NULL) != (rpc->control == NULL))
            abort();
        swarm__pubsub__rpc__free_unpacked(again, NULL);
    }
    buf_free(&out);
    swarm__pubsub__rpc__free_unpacked(rpc, NULL);
    return 0;
}
