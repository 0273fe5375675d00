/*
 * zpool: chunk compression spread over worker threads, results in order.
 *
 * The sender's one thread reads a chunk into a free slot and submits it;
 * workers compress slots in any order, each with its own compressor; the
 * sender takes finished slots back strictly in submission order (the wire
 * order and the digest order), so parallelism never reorders a file.  A
 * descriptor becomes readable whenever a slot finishes, so the caller's
 * poll() loop can wait for the socket and the workers at once.
 *
 * Memory: 2 x 256 KiB per slot, allocated at zpool_new(); fixed.
 */
#ifndef TCPX_ZPOOL_H
#define TCPX_ZPOOL_H

#include <stddef.h>
#include <stdint.h>

struct zpool;

/* encoding and level as chunk_compressor_new_enc(), one compressor per
 * worker.  NULL on failure (then compress inline). */
struct zpool *zpool_new(uint8_t encoding, int level, int workers, int slots);
void zpool_free(struct zpool *z);
/* Readable when a slot finished; zpool_ack() clears it. */
int zpool_fd(const struct zpool *z);
void zpool_ack(struct zpool *z);

/* A free slot's input buffer (TCPX_CHUNK_MAX bytes), or NULL if none. */
uint8_t *zpool_input(struct zpool *z);
/* Queues the slot zpool_input() returned, holding n bytes. */
void zpool_submit(struct zpool *z, size_t n);
/* The oldest submitted slot if it is compressed: 1 and its raw bytes and
 * compressed bytes (clen 0: did not shrink, send raw); else 0. */
int zpool_head(struct zpool *z, const uint8_t **raw, size_t *n,
	       const uint8_t **comp, size_t *clen);
/* Releases the slot zpool_head() returned. */
void zpool_pop(struct zpool *z);
/* Slots submitted and not yet popped. */
size_t zpool_pending(const struct zpool *z);
/* Forgets every submitted slot (after an abort), waiting for busy ones. */
void zpool_reset(struct zpool *z);

#endif
