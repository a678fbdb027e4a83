/* identify.h - the /ipfs/id/1.0.0 message (libp2p/specs identify/README.md): encoding and
 * decoding. The exchange itself lives in the host (host_identify.c).
 *
 * On the wire the message is one uvarint-length-prefixed Identify protobuf of at most
 * IDENTIFY_MAX_MSG bytes. */
#ifndef SWARM_P2P_IDENTIFY_H
#define SWARM_P2P_IDENTIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "p2p.h"

#define IDENTIFY_MAX_MSG          8192
#define IDENTIFY_MAX_PROTOS       128 /* protocols kept from a peer's message; more is an error */
#define IDENTIFY_MAX_ADDRS        32  /* listen addresses kept; further ones are dropped */
#define IDENTIFY_PROTOCOL_VERSION "ipfs/0.1.0"

/* A decoded (or to-be-encoded) identify message. Decoding allocates the strings and arrays;
 * identify_info_free releases them. For encoding the caller fills the fields with its own
 * memory and must not call identify_info_free. */
typedef struct {
    char *protocol_version; /* may be NULL */
    char *agent;            /* may be NULL */
    bool has_pubkey;
    uint8_t pubkey[32]; /* Ed25519 only; another key type fails the decode */
    char **protocols;
    size_t nprotocols;
    p2p_maddr *listen; /* malformed addresses are skipped, not fatal */
    size_t nlisten;
    bool has_observed;
    p2p_maddr observed;
} identify_info;

/* Appends the uvarint length and the Identify protobuf of in to out. */
int identify_encode(const identify_info *in, buf_t *out, char *err, size_t errlen);

/* Decodes an Identify protobuf body (without the length prefix) into out (zeroed first). */
int identify_decode(const uint8_t *p, size_t n, identify_info *out, char *err, size_t errlen);

/* Frees what identify_decode allocated and zeroes info. */
void identify_info_free(identify_info *info);

#endif
