/* noise.h - the libp2p Noise handshake (Noise_XX_25519_ChaChaPoly_SHA256) and the transport
 * cipher, without I/O.
 *
 * Wire: every message is a 2-byte big-endian length and a body of at most 65535 bytes. The
 * handshake is XX: initiator -> e; responder -> e, ee, s, es + payload; initiator -> s, se +
 * payload. Payloads are NoiseHandshakePayload protobufs whose identity_sig signs
 * "noise-libp2p-static-key:" || static X25519 public key with the Ed25519 identity key; a
 * payload whose key does not match its signature fails the handshake. */
#ifndef SWARM_P2P_NOISE_H
#define SWARM_P2P_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p.h"

#define NOISE_PROTOCOL      "/noise"
#define NOISE_MAX_FRAME     65535
#define NOISE_TAG_LEN       16
#define NOISE_MAX_PLAINTEXT (NOISE_MAX_FRAME - NOISE_TAG_LEN)

/* One direction of the transport: key and 64-bit counter nonce. */
typedef struct {
    uint8_t k[32];
    uint64_t n;
} noise_cipher;

/* A handshake in progress. Treat as opaque; it holds secrets and is wiped by noise_hs_split
 * and noise_hs_wipe. */
typedef struct {
    bool initiator;
    int step;                   /* messages done so far, 0..3 */
    uint8_t h[32];              /* handshake hash */
    uint8_t ck[32];             /* chaining key */
    uint8_t k[32];              /* current key ... */
    bool has_k;                 /* ... once a DH has run */
    uint64_t n;                 /* its nonce */
    uint8_t s_sk[32], s_pk[32]; /* our static X25519 key pair */
    uint8_t e_sk[32], e_pk[32]; /* our ephemeral key pair */
    uint8_t rs[32], re[32];     /* the peer's static and ephemeral keys */
    p2p_key id;                 /* our identity */
    bool remote_ok;             /* remote verified */
    p2p_peer_id remote;
} noise_hs;

/* Makes a static X25519 key pair (one per host; not derived from the identity key). */
void noise_static_keypair(uint8_t sk[32], uint8_t pk[32]);

/* Starts a handshake. Returns 0, or -1 if libsodium cannot initialise. */
int noise_hs_init(noise_hs *h, bool initiator, const p2p_key *identity, const uint8_t s_sk[32],
                  const uint8_t s_pk[32], char *err, size_t errlen);

/* True when the next step is ours to write (initiator: steps 0 and 2; responder: step 1). */
bool noise_hs_my_turn(const noise_hs *h);

/* Appends the next handshake message, framed (length + body), to out. */
int noise_hs_write(noise_hs *h, buf_t *out, char *err, size_t errlen);

/* Reads the peer's next handshake message body (framing removed). Fails on a bad length, a
 * failed decryption, a malformed payload, a non-Ed25519 key, or a bad signature. */
int noise_hs_read(noise_hs *h, const uint8_t *body, size_t n, char *err, size_t errlen);

/* True once all three messages are done. */
bool noise_hs_done(const noise_hs *h);

/* The verified remote peer id, or NULL until its payload has been checked. */
const p2p_peer_id *noise_hs_remote(const noise_hs *h);

/* Once done: derives the transport ciphers (tx for what we send) and wipes the handshake. */
void noise_hs_split(noise_hs *h, noise_cipher *tx, noise_cipher *rx);

/* Wipes a handshake's secrets (after a failure, or when abandoning it). */
void noise_hs_wipe(noise_hs *h);

/* Frame boundary: if p[0..n) starts with a whole frame, sets *body_len and returns 1; returns
 * 0 if more bytes are needed. (Any 16-bit length is a valid frame size.) */
int noise_frame(const uint8_t *p, size_t n, size_t *body_len);

/* Encrypts pt[0..n) (n <= NOISE_MAX_PLAINTEXT) into one frame appended to out. Returns 0, or -1
 * if out refuses, n is too large or the nonce is exhausted. */
int noise_encrypt(noise_cipher *c, const uint8_t *pt, size_t n, buf_t *out);

/* Decrypts one frame body ct[0..n) into pt (room for n - NOISE_TAG_LEN bytes), sets *ptlen.
 * Fails (err set) if n < NOISE_TAG_LEN or authentication fails. */
int noise_decrypt(noise_cipher *c, const uint8_t *ct, size_t n, uint8_t *pt, size_t *ptlen,
                  char *err, size_t errlen);

#endif
