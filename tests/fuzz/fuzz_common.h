/*
 * fuzz_common: what the fuzz targets and the corpus generator share.
 *
 * The session targets (fuzz_receiver, fuzz_sender) read a small fixed
 * header from the front of each input and treat the rest as the peer's
 * byte stream.  The header picks the configuration and seeds a PRNG that
 * drives everything the network and the disk decide in real life (how
 * reads split the stream, which disk operations fail), so the fuzzer can
 * mutate those decisions independently of the bytes, and a seed file is
 * just "header + a valid session".  The layouts below are the contract
 * between the targets and tests/fuzz/gen_corpus.c; change them together
 * and regenerate the corpus (make fuzz-corpus).
 *
 * Header-only (static functions) so every target and the generator build
 * from one .c file plus the library sources.
 */
#ifndef TCPX_FUZZ_COMMON_H
#define TCPX_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "proto.h"

/* Harness helpers that only move or compare bytes are not worth coverage
 * instrumentation (it would dominate the run time and add no signal). */
#if defined(__clang__)
#define FZ_NOCOV __attribute__((no_sanitize("coverage")))
#else
#define FZ_NOCOV
#endif

/* An invariant of the code under test does not hold: report and abort, so
 * libFuzzer records the input as a crash (assert() could be compiled out). */
#define FZ_CHECK(cond)                                                      \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", \
				#cond, __FILE__, __LINE__);                 \
			abort();                                            \
		}                                                           \
	} while (0)

/* splitmix64: tiny, no state beyond one word, good enough to spread a
 * few seed bits over many decisions. */
struct fz_rng {
	uint64_t s;
};

static inline uint64_t fz_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static inline uint64_t fz_next(struct fz_rng *r)
{
	r->s += UINT64_C(0x9E3779B97F4A7C15);
	return fz_mix(r->s);
}

/* 0..n-1 (0 when n is 0). */
static inline uint64_t fz_below(struct fz_rng *r, uint64_t n)
{
	return n ? fz_next(r) % n : 0;
}

/* 1 with probability 1/n (never when n is 0). */
static inline int fz_one_in(struct fz_rng *r, uint64_t n)
{
	return n ? fz_below(r, n) == 0 : 0;
}

static inline uint64_t fz_load_seed(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* How many stream bytes the next "read" delivers.  Split modes: */
enum {
	FZ_SPLIT_MIXED = 0,   /* a mix of tiny, small, large and "all of it" */
	FZ_SPLIT_ALL = 1,     /* everything at once (bounded by buffer space) */
	FZ_SPLIT_BYTE = 2,    /* one byte per read */
	FZ_SPLIT_SMALL = 3,   /* 1..32 bytes per read */
};

static inline size_t fz_split(struct fz_rng *r, unsigned mode, size_t left)
{
	size_t n;
	switch (mode & 3u) {
	case FZ_SPLIT_ALL:
		n = left;
		break;
	case FZ_SPLIT_BYTE:
		n = 1;
		break;
	case FZ_SPLIT_SMALL:
		n = 1 + (size_t)fz_below(r, 32);
		break;
	default:
		switch (fz_below(r, 4)) {
		case 0: n = 1 + (size_t)fz_below(r, 8); break;
		case 1: n = 1 + (size_t)fz_below(r, 512); break;
		case 2: n = 1 + (size_t)fz_below(r, 65536); break;
		default: n = left; break;
		}
	}
	return n < left ? n : left;
}

/* A growable byte buffer (output collected from a state machine). */
struct fz_buf {
	uint8_t *p;
	size_t len, cap;
};

static inline FZ_NOCOV void fz_buf_add(struct fz_buf *b, const uint8_t *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		FZ_CHECK(b->p != NULL);
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static inline void fz_buf_free(struct fz_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/*
 * fuzz_receiver input: FZ_RX_HDR bytes, then the sender's byte stream.
 *
 *   byte 0  bits 0-1  max_size: 0 (none), 1 MiB, 1000, 1
 *           bits 2-3  max_files: 0 (none), 1, 3, 100
 *           bit  4    receiver offers no capabilities (else TCPX_CAPS_V1)
 *           bits 5-6  split mode (FZ_SPLIT_*)
 *           bit  7    drain the receiver's output in partial writes
 *   byte 1  bits 0-1  disk fails at REV_FILE: never, 1/8, 1/2, always
 *           bits 2-3  disk fails at REV_DATA: never, 1/16, 1/4, always
 *           bits 4-5  commit fails after a good REV_END: never, 1/8, 1/2, always
 *           bit  6    poll receiver_next() once before the verdict
 *           bit  7    reserved
 *   bytes 2..7        PRNG seed (splits, the failures above, codes, messages)
 */
#define FZ_RX_HDR 8u

static inline uint64_t fz_rx_max_size(uint8_t b0)
{
	static const uint64_t v[4] = { 0, 1u << 20, 1000, 1 };
	return v[b0 & 3u];
}

static inline uint32_t fz_rx_max_files(uint8_t b0)
{
	static const uint32_t v[4] = { 0, 1, 3, 100 };
	return v[(b0 >> 2) & 3u];
}

/* The chance "1 in n" for a 2-bit field: n = 0 means never. */
static inline uint64_t fz_rate(unsigned bits, const uint64_t table[4])
{
	return table[bits & 3u];
}

/*
 * fuzz_sender input: FZ_TX_HDR bytes, then the receiver's byte stream.
 *
 *   byte 0  bit  0    the harness feeds a valid receiver HELLO first, so
 *                     the stream starts right after the handshake
 *           bit  1    eager: the sender sends all it can before it reads
 *                     (as tcpput does with a fast network); else a few
 *                     actions per read, so RESULTs can overtake files
 *           bits 2-3  split mode (FZ_SPLIT_*)
 *           bits 4-7  zlib level 0..9 (10..15 mean 0)
 *   byte 1  bits 0-3  number of files (0..15)
 *           bit  4    the injected HELLO grants what was asked (ZLIB,
 *                     STREAM; bit 0 only)
 *           bit  5    ask for STREAM: the odd-numbered files are sent as
 *                     streams (size unknown, STREAM_END) once granted
 *           bits 6-7  reserved
 *   bytes 2..3        plan seed: sizes, chunk sizes, contents, names, aborts
 *   bytes 4..7        schedule seed: splits and interleaving
 *
 * The plan depends on bytes 0..3 only, so gen_corpus can run the real
 * receiver against the same plan and record its replies as a seed.
 */
#define FZ_TX_HDR 8u
#define FZ_TX_MAX_FILES 15u

struct fz_file {
	uint64_t size;
	uint32_t chunk;          /* bytes per sender_commit_chunk() */
	uint8_t kind;            /* content pattern, see fz_content() */
	uint32_t seed;
	int64_t abort_at;        /* abort once this many bytes are sent; -1 never */
	char name[48];
	uint16_t name_len;
};

struct fz_plan {
	int inject_hello;
	int eager;
	unsigned split_mode;
	int level;
	int grant_zlib;
	int streams;
	unsigned nfiles;
	struct fz_file f[FZ_TX_MAX_FILES];
	uint64_t sched_seed;
};

static inline void fz_plan_make(const uint8_t hdr[FZ_TX_HDR], struct fz_plan *p)
{
	struct fz_rng r = { fz_load_seed(hdr, 4) ^ UINT64_C(0x7463707866757a7a) };

	memset(p, 0, sizeof(*p));
	p->inject_hello = hdr[0] & 1;
	p->eager = (hdr[0] >> 1) & 1;
	p->split_mode = (hdr[0] >> 2) & 3u;
	p->level = hdr[0] >> 4;
	if (p->level > 9)
		p->level = 0;
	p->nfiles = hdr[1] & 15u;
	p->grant_zlib = (hdr[1] >> 4) & 1;
	p->streams = (hdr[1] >> 5) & 1;
	p->sched_seed = fz_load_seed(hdr + 4, 4);
	for (unsigned i = 0; i < p->nfiles; i++) {
		struct fz_file *f = &p->f[i];
		/* Small files: many frames per run matter more than bytes. */
		switch (fz_below(&r, 8)) {
		case 0: f->size = 0; break;
		case 1: case 2: case 3: f->size = 1 + fz_below(&r, 64); break;
		case 4: case 5: f->size = 1 + fz_below(&r, 1024); break;
		case 6: f->size = 1 + fz_below(&r, 4096); break;
		default: f->size = 1 + fz_below(&r, 20000); break;
		}
		switch (fz_below(&r, 4)) {
		case 0: f->chunk = 1 + (uint32_t)fz_below(&r, 64); break;
		case 1: f->chunk = 1 + (uint32_t)fz_below(&r, 2048); break;
		default: f->chunk = TCPX_CHUNK_MAX; break;
		}
		f->kind = (uint8_t)fz_below(&r, 3);
		f->seed = (uint32_t)fz_next(&r);
		f->abort_at = fz_one_in(&r, 8) ? (int64_t)fz_below(&r, f->size + 1)
					       : -1;
		if (fz_one_in(&r, 8))
			snprintf(f->name, sizeof(f->name), "../escape%u", i);
		else
			snprintf(f->name, sizeof(f->name), "dir%u/file%u.bin",
				 i % 3, i);
		f->name_len = (uint16_t)strlen(f->name);
	}
}

/*
 * File contents: a window into one of three tables (compressible,
 * random-looking, text), starting at an offset given by the file's seed.
 * A table holds FZ_PERIOD distinct positions plus a full chunk more, so
 * any chunk is one memcpy.  fz_tables_init() once per process.
 */
#define FZ_PERIOD 65521u
#define FZ_TABLE_LEN (FZ_PERIOD + TCPX_CHUNK_MAX)

static uint8_t fz_table[3][FZ_TABLE_LEN];

static inline FZ_NOCOV void fz_tables_init(void)
{
	static const char text[] = "tcpxfer fuzz: the quick brown fox\n";
	struct fz_rng r = { 0x5eed };
	uint8_t rnd[FZ_PERIOD];

	for (size_t i = 0; i < FZ_PERIOD; i++)
		rnd[i] = (uint8_t)fz_next(&r);
	for (size_t i = 0; i < FZ_TABLE_LEN; i++) {
		size_t j = i % FZ_PERIOD;
		fz_table[0][i] = (uint8_t)(j / 13u * 7u);
		fz_table[1][i] = rnd[j];
		fz_table[2][i] = (uint8_t)text[j % (sizeof(text) - 1)];
	}
}

/* Bytes off..off+n of a planned file (n <= TCPX_CHUNK_MAX). */
static inline const uint8_t *fz_content(const struct fz_file *f, uint64_t off)
{
	return fz_table[f->kind % 3u] + (off + f->seed) % FZ_PERIOD;
}

static inline void fz_fill(const struct fz_file *f, uint64_t off, uint8_t *out,
			   size_t n)
{
	memcpy(out, fz_content(f, off), n);
}

/*
 * fuzz_inflate input:
 *   byte 0        bit 0 clear: inflate the data as it came off the wire,
 *                 into exactly raw_len bytes;
 *                 bit 0 set: round trip: compress the data with
 *                 chunk_compress at level 1 + ((byte 0 >> 1) & 63) % 9 into a
 *                 full-chunk buffer and into one of `raw_len` bytes (the
 *                 field is then an output capacity), inflate it back
 *                 bit 7 set: zstd instead of zlib (chunk_unzstd; the
 *                 round trip's level 1 + ((byte 0 >> 1) & 63) % 19)
 *   bytes 1..3    raw_len (big-endian, modulo TCPX_CHUNK_MAX + 1)
 *   bytes 4..     the data
 */
#define FZ_INF_HDR 4u

#endif
