/* wire.h - frames and messages of /swarm/task/1.0.0 and /swarm/module/1.0.0 (internal to
 * src/mesh).
 *
 * Both protocols send uvarint-length-prefixed protobuf frames (proto/swarm_task.proto,
 * proto/swarm_module.proto). A wire_reader collects a stream's bytes and hands out whole
 * frames; the decoders check every field a peer controls (lengths, ranges, enum values)
 * before anything uses it, so the rest of the mesh sees only well-formed messages. */
#ifndef SWARM_MESH_WIRE_H
#define SWARM_MESH_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mesh.h"
#include "swarm_module.pb-c.h"
#include "swarm_task.pb-c.h"

#define WIRE_TASK_FRAME_MAX   (1u << 20)               /* bytes of one TaskFrame */
#define WIRE_MODULE_FRAME_MAX (MESH_MODULE_MAX + 4096) /* a ModuleResponse with 16 MiB */
#define WIRE_MAX_BATCH        1024                     /* leases, results or cancels in one frame */
#define WIRE_ERROR_MAX        512                      /* bytes of an error string */

/* Collects stream bytes; frames are at most max bytes (the prefix not counted). */
typedef struct {
    buf_t acc;
    size_t max;
    size_t consumed; /* bytes at the front of acc handed out as the last frame */
} wire_reader;

void wire_reader_init(wire_reader *r, size_t max);
void wire_reader_free(wire_reader *r);

/* Appends n bytes from the stream. Returns 0, or -1 if the reader cannot hold them (more
 * than one maximal frame plus its prefix is never needed). */
int wire_reader_feed(wire_reader *r, const uint8_t *p, size_t n, char *err, size_t errlen);

/* The next whole frame: returns 1 and points *body and *len at it (valid until the next call of
 * wire_reader_next or wire_reader_feed),
 * 0 if more bytes are needed, -1 with a message for a malformed or oversized prefix. */
int wire_reader_next(wire_reader *r, const uint8_t **body, size_t *len, char *err, size_t errlen);

/* Appends the frame of a packed protobuf message (uvarint length, then the message). */
int wire_put_task(buf_t *out, const Swarm__Task__TaskFrame *f);
int wire_put_module_request(buf_t *out, const Swarm__Module__ModuleRequest *m);
int wire_put_module_response(buf_t *out, const Swarm__Module__ModuleResponse *m);

/* Decodes and checks a TaskFrame body: at most WIRE_MAX_BATCH items per list; every job_id
 * MESH_JOB_ID_LEN bytes, module_hash MESH_HASH_LEN bytes, entry 1..MESH_ENTRY_MAX-1 bytes with
 * no NUL, start < end, attempt >= 1, errors at most WIRE_ERROR_MAX bytes, kinds known.
 * Returns the message (free with swarm__task__task_frame__free_unpacked(f, NULL)) or NULL
 * with a message. */
Swarm__Task__TaskFrame *wire_decode_task(const uint8_t *p, size_t n, char *err, size_t errlen);

/* The same for the module protocol: hash is MESH_HASH_LEN bytes; a response carries either
 * wasm (at most MESH_MODULE_MAX bytes, whose SHA-256 is hash: checked here) or an error. */
Swarm__Module__ModuleRequest *wire_decode_module_request(const uint8_t *p, size_t n, char *err,
                                                         size_t errlen);
Swarm__Module__ModuleResponse *wire_decode_module_response(const uint8_t *p, size_t n, char *err,
                                                           size_t errlen);

/* Decodes and checks a Heartbeat of the nodes topic: label at most 63 bytes, slots and
 * free_slots at most 4096, battery 0..100. Free with swarm__task__heartbeat__free_unpacked. */
Swarm__Task__Heartbeat *wire_decode_heartbeat(const uint8_t *p, size_t n, char *err, size_t errlen);

#endif
