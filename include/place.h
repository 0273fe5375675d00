/*
 * place: which bytes of one file have arrived, when its chunks come by
 * offset over several connections (PLACE, man/tcpxfer.5), sans I/O.
 *
 * The file is [start, size): start is 0, or a resume's offset.  Bytes
 * below `hashed` have arrived and gone into the file's digest, in order;
 * the ranges above it have arrived (written at their offsets) and wait
 * for the gap before them to fill.  A chunk that overlaps anything that
 * arrived, reaches past the size or begins below start is refused; so
 * is one that would need more than PLACE_RANGES_MAX separate ranges: a
 * sender that spreads a file that thinly is refused rather than costing
 * memory without bound.  Adjacent ranges merge, so a sender that keeps
 * its connections near each other needs a handful.
 *
 * Memory: PLACE_RANGES_MAX ranges (16 KiB), allocated at the first chunk
 * that arrives out of order; place_free() releases them.
 */
#ifndef TCPX_PLACE_H
#define TCPX_PLACE_H

#include <stddef.h>
#include <stdint.h>

#define PLACE_RANGES_MAX 1024u

struct place_range {
	uint64_t lo, hi;        /* [lo, hi) */
};

struct place {
	uint64_t start, size;
	uint64_t hashed;        /* every byte below arrived and was hashed */
	uint64_t arrived;       /* bytes arrived in all (for progress) */
	struct place_range *r;  /* sorted, disjoint, none touching another */
	size_t n;
};

/* A file of size bytes whose data begins at start (<= size).  p starts
 * zeroed; its ranges' memory is kept from one file to the next. */
void place_init(struct place *p, uint64_t start, uint64_t size);
void place_free(struct place *p);
/* A chunk [off, off + len) arrived: 0 if it is the next in order (the
 * caller hashes it, then place_hashed()), 1 if it waits in a range, or
 * -TCPX_E_PLACE (overlap, outside [start, size), too many ranges) or
 * -TCPX_E_NOMEM; nothing recorded then. */
int place_add(struct place *p, uint64_t off, uint64_t len);
/* n more bytes at `hashed` went into the digest. */
void place_hashed(struct place *p, uint64_t n);
/* Arrived bytes waiting right at `hashed`, to be read back and hashed:
 * 1 with *off (= hashed) and *len (at most max), else 0. */
int place_readback(const struct place *p, uint64_t max, uint64_t *off,
		   uint64_t *len);
/* 1 once every byte of [start, size) arrived and was hashed. */
int place_complete(const struct place *p);

#endif
