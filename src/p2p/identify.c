/* identify.c - the Identify message codec (see identify.h).
 *
 * Decoding copies what we keep out of protobuf-c's unpacked message and frees that message
 * before returning, so identify_info owns plain malloc'd memory. Everything a peer sends is
 * bounded: the message size, the number of protocols and addresses, the string lengths. */
#include "identify.h"

#include <stdlib.h>
#include <string.h>

#include "identify.pb-c.h"

#define IDENTIFY_MAX_STR 1024 /* longest agent, protocol version or protocol id */

/* Checks a string we are about to send against the limits we apply when receiving. */
static int identify_check_str(const char *s, bool may_be_empty, const char *what, char *err,
                              size_t errlen)
{
    size_t n = strnlen(s, IDENTIFY_MAX_STR + 1);
    if (n == 0 && !may_be_empty)
        return err_set(err, errlen, "identify: empty %s", what);
    if (n > IDENTIFY_MAX_STR)
        return err_set(err, errlen, "identify: %s longer than %d bytes", what, IDENTIFY_MAX_STR);
    return 0;
}

int identify_encode(const identify_info *in, buf_t *out, char *err, size_t errlen)
{
    Swarm__Identify__Identify msg = SWARM__IDENTIFY__IDENTIFY__INIT;
    uint8_t pubkey[P2P_PUBKEY_PROTO_LEN];
    ProtobufCBinaryData addrs[IDENTIFY_MAX_ADDRS];

    if (in->protocol_version &&
        identify_check_str(in->protocol_version, true, "protocol version", err, errlen) != 0)
        return -1;
    if (in->agent && identify_check_str(in->agent, true, "agent version", err, errlen) != 0)
        return -1;
    if (in->nprotocols > IDENTIFY_MAX_PROTOS)
        return err_set(err, errlen, "identify: %zu protocols (at most %d)", in->nprotocols,
                       IDENTIFY_MAX_PROTOS);
    for (size_t i = 0; i < in->nprotocols; i++) {
        if (!in->protocols[i])
            return err_set(err, errlen, "identify: protocol id %zu is NULL", i);
        if (identify_check_str(in->protocols[i], false, "protocol id", err, errlen) != 0)
            return -1;
    }

    /* protobuf-c's message type wants non-const pointers; it only reads them when packing. */
    msg.protocolversion = in->protocol_version;
    msg.agentversion = in->agent;
    if (in->has_pubkey) {
        p2p_pubkey_encode(in->pubkey, pubkey);
        msg.has_publickey = 1;
        msg.publickey.data = pubkey;
        msg.publickey.len = sizeof pubkey;
    }
    /* A receiver keeps only IDENTIFY_MAX_ADDRS addresses, so sending more would be wasted. */
    size_t naddrs = in->nlisten < IDENTIFY_MAX_ADDRS ? in->nlisten : IDENTIFY_MAX_ADDRS;
    for (size_t i = 0; i < naddrs; i++) {
        addrs[i].data = (uint8_t *)in->listen[i].b;
        addrs[i].len = in->listen[i].len;
    }
    msg.n_listenaddrs = naddrs;
    msg.listenaddrs = naddrs ? addrs : NULL;
    if (in->has_observed) {
        msg.has_observedaddr = 1;
        msg.observedaddr.data = (uint8_t *)in->observed.b;
        msg.observedaddr.len = in->observed.len;
    }
    msg.n_protocols = in->nprotocols;
    msg.protocols = in->protocols;

    size_t size = swarm__identify__identify__get_packed_size(&msg);
    if (size > IDENTIFY_MAX_MSG)
        return err_set(err, errlen, "identify: message of %zu bytes exceeds %d", size,
                       IDENTIFY_MAX_MSG);
    size_t before = out->len;
    if (buf_reserve(out, UVARINT_MAX_LEN + size) != 0 || buf_put_uvarint(out, size) != 0) {
        out->len = before;
        return err_set(err, errlen, "identify: output buffer refused %zu bytes", size);
    }
    size_t packed = swarm__identify__identify__pack(&msg, out->data + out->len);
    if (packed != size) {
        out->len = before;
        return err_set(err, errlen, "identify: packed %zu bytes, expected %zu", packed, size);
    }
    out->len += size;
    return 0;
}

/* Copies a received string (NULL stays NULL) into *dst, refusing one over IDENTIFY_MAX_STR. */
static int identify_copy_str(const char *src, char **dst, const char *what, char *err,
                             size_t errlen)
{
    if (!src)
        return 0;
    size_t n = strnlen(src, IDENTIFY_MAX_STR + 1);
    if (n > IDENTIFY_MAX_STR)
        return err_set(err, errlen, "identify: %s longer than %d bytes", what, IDENTIFY_MAX_STR);
    *dst = malloc(n + 1);
    if (!*dst)
        return err_set(err, errlen, "identify: out of memory");
    memcpy(*dst, src, n + 1);
    return 0;
}

/* Fills out from an unpacked message; on failure out may hold part of it. */
static int identify_fill(const Swarm__Identify__Identify *msg, identify_info *out, char *err,
                         size_t errlen)
{
    char sub[160];
    if (identify_copy_str(msg->protocolversion, &out->protocol_version, "protocol version", err,
                          errlen) != 0 ||
        identify_copy_str(msg->agentversion, &out->agent, "agent version", err, errlen) != 0)
        return -1;

    if (msg->has_publickey) {
        if (p2p_pubkey_decode(msg->publickey.data, msg->publickey.len, out->pubkey, sub,
                              sizeof sub) != 0)
            return err_set(err, errlen, "identify: public key: %s", sub);
        out->has_pubkey = true;
    }

    if (msg->n_protocols > IDENTIFY_MAX_PROTOS)
        return err_set(err, errlen, "identify: peer lists %zu protocols (at most %d)",
                       msg->n_protocols, IDENTIFY_MAX_PROTOS);
    if (msg->n_protocols > 0) {
        out->protocols = calloc(msg->n_protocols, sizeof *out->protocols);
        if (!out->protocols)
            return err_set(err, errlen, "identify: out of memory");
        for (size_t i = 0; i < msg->n_protocols; i++) {
            const char *s = msg->protocols[i] ? msg->protocols[i] : "";
            if (s[0] == '\0')
                return err_set(err, errlen, "identify: empty protocol id");
            if (identify_copy_str(s, &out->protocols[i], "protocol id", err, errlen) != 0)
                return -1;
            out->nprotocols++;
        }
    }

    /* Addresses we cannot read (other transports, newer protocols) are not the peer's fault. */
    size_t room = msg->n_listenaddrs < IDENTIFY_MAX_ADDRS ? msg->n_listenaddrs : IDENTIFY_MAX_ADDRS;
    if (room > 0) {
        out->listen = calloc(room, sizeof *out->listen);
        if (!out->listen)
            return err_set(err, errlen, "identify: out of memory");
        for (size_t i = 0; i < msg->n_listenaddrs && out->nlisten < room; i++) {
            const ProtobufCBinaryData *a = &msg->listenaddrs[i];
            if (p2p_maddr_from_bytes(a->data, a->len, &out->listen[out->nlisten], sub,
                                     sizeof sub) == 0)
                out->nlisten++;
        }
        if (out->nlisten == 0) {
            free(out->listen);
            out->listen = NULL;
        }
    }

    if (msg->has_observedaddr && p2p_maddr_from_bytes(msg->observedaddr.data, msg->observedaddr.len,
                                                      &out->observed, sub, sizeof sub) == 0)
        out->has_observed = true;
    return 0;
}

int identify_decode(const uint8_t *p, size_t n, identify_info *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (n > IDENTIFY_MAX_MSG)
        return err_set(err, errlen, "identify: message of %zu bytes exceeds %d", n,
                       IDENTIFY_MAX_MSG);
    Swarm__Identify__Identify *msg = swarm__identify__identify__unpack(NULL, n, p);
    if (!msg)
        return err_set(err, errlen, "identify: malformed message (%zu bytes)", n);
    int rc = identify_fill(msg, out, err, errlen);
    swarm__identify__identify__free_unpacked(msg, NULL);
    if (rc != 0)
        identify_info_free(out);
    return rc;
}

void identify_info_free(identify_info *info)
{
    free(info->protocol_version);
    free(info->agent);
    for (size_t i = 0; i < info->nprotocols; i++)
        free(info->protocols[i]);
    free(info->protocols);
    free(info->listen);
    memset(info, 0, sizeof *info);
}
