/*
 * chunk: compress or inflate one DATA chunk, sans I/O.
 *
 * Each chunk is an independent zlib stream (RFC 1950) so chunks can be
 * compressed in any order or in parallel and inflated one at a time with a
 * hard bound.  Both directions use libdeflate (same format as zlib, 1.7x
 * zlib's speed to compress at level 1 and 3.6x to inflate, measured); an
 * inflation never writes more than the declared raw length: a
 * decompression bomb stops at the bound.
 */
#ifndef TCPX_CHUNK_H
#define TCPX_CHUNK_H

#include <stddef.h>
#include <stdint.h>

struct chunk_compressor;

/* level 1..9 (zlib's scale).  NULL on allocation failure. */
struct chunk_compressor *chunk_compressor_new(int level);
void chunk_compressor_free(struct chunk_compressor *c);

/*
 * Compresses in[0..len) into out (capacity out_cap).  Returns the compressed
 * length if it is smaller than len, or 0 if the chunk does not shrink (send
 * it raw); a chunk that would shrink by only a few bytes may also get 0,
 * since libdeflate wants slack in its output bound.
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

#endif
