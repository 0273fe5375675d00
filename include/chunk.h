/*
 * chunk: compress or inflate one DATA chunk, sans I/O.
 *
 * Each chunk is an independent zlib stream (RFC 1950) so chunks can be
 * compressed in any order or in parallel and inflated one at a time with a
 * hard bound.  Both directions use libdeflate (same format as zlib, 1.7x
 * zlib's speed to compress at level 1 and 3.6x to inflate, measured); an
 * inflation never writes more than the declared raw length: a
 * decompression bomb stops at the bound.  zstd (encoding 2) likewise:
 * each chunk one zstd frame (libzstd), bounded the same way.
 */
#ifndef TCPX_CHUNK_H
#define TCPX_CHUNK_H

#include <stddef.h>
#include <stdint.h>

struct chunk_compressor;

/* level 1..9 (zlib's scale).  NULL on allocation failure. */
struct chunk_compressor *chunk_compressor_new(int level);
/* encoding TCPX_ENCODING_ZLIB (level 1..9) or TCPX_ENCODING_ZSTD (level
 * 1..19); levels outside are clamped.  NULL on allocation failure. */
struct chunk_compressor *chunk_compressor_new_enc(uint8_t encoding, int level);
/* The DATA encoding its output is in. */
uint8_t chunk_compressor_encoding(const struct chunk_compressor *c);
void chunk_compressor_free(struct chunk_compressor *c);

/*
 * Compresses in[0..len) into out (capacity out_cap).  Returns the compressed
 * length if it is smaller than len, or 0 if the chunk does not shrink (send
 * it raw); a chunk that would shrink by only a few bytes may also get 0,
 * since libdeflate wants slack in its output bound.  After a chunk that did
 * not shrink, a chunk of 64 KiB or more is first compressed on a 16 KiB
 * sample of four slices, and goes raw (0) unless that sample shrinks by
 * 1/32: incompressible data is then nearly free.  The output is always a
 * valid encoding of in; only the choice raw or not depends on the last call.
 */
size_t chunk_compress(struct chunk_compressor *c, const uint8_t *in,
		      size_t len, uint8_t *out, size_t out_cap);

/*
 * Inflates one zlib stream in[0..len) into out, which must hold raw_len
 * bytes.  Returns 0 if the stream is valid, complete, inflates to exactly
 * raw_len bytes and has no trailing bytes; -TCPX_E_DECOMPRESS otherwise
 * (including a stream that would inflate past raw_len), or -TCPX_E_NOMEM.
 */
int chunk_inflate(const uint8_t *in, size_t len, uint8_t *out, size_t raw_len);

/* A zstd decompression context, made at the first zstd chunk. */
struct chunk_unzstd;
void chunk_unzstd_free(struct chunk_unzstd *d);

/*
 * Decodes one zstd frame in[0..len) into out, which must hold raw_len
 * bytes, with the context *d (created if *d is NULL, then reused).
 * Returns 0 if in is exactly one frame whose header declares raw_len as
 * its content size and a window of at most TCPX_CHUNK_MAX bytes, and it
 * decodes to exactly raw_len bytes; -TCPX_E_DECOMPRESS otherwise (never
 * writing past raw_len), or -TCPX_E_NOMEM.
 */
int chunk_unzstd(struct chunk_unzstd **d, const uint8_t *in, size_t len,
		 uint8_t *out, size_t raw_len);

#endif
