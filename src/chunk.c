/* chunk: one independent zlib stream per DATA chunk (chunk.h). */
#include <libdeflate.h>
#include <stdlib.h>
#include <zlib.h>

#include "chunk.h"
#include "error.h"

struct chunk_compressor {
	struct libdeflate_compressor *ld;
};

struct chunk_compressor *chunk_compressor_new(int level)
{
	struct chunk_compressor *c = malloc(sizeof(*c));
	if (!c)
		return NULL;
	if (level < 1)
		level = 1;
	if (level > 9)
		level = 9;
	c->ld = libdeflate_alloc_compressor(level);
	if (!c->ld) {
		free(c);
		return NULL;
	}
	return c;
}

void chunk_compressor_free(struct chunk_compressor *c)
{
	if (!c)
		return;
	libdeflate_free_compressor(c->ld);
	free(c);
}

size_t chunk_compress(struct chunk_compressor *c, const uint8_t *in,
		      size_t len, uint8_t *out, size_t out_cap)
{
	/* Only output strictly smaller than the input is worth sending:
	 * libdeflate returns 0 when the result does not fit in the bound. */
	size_t bound = len > 1 ? len - 1 : 0;
	if (bound > out_cap)
		bound = out_cap;
	if (bound == 0)
		return 0;
	return libdeflate_zlib_compress(c->ld, in, len, out, bound);
}

int chunk_inflate(const uint8_t *in, size_t len, uint8_t *out, size_t raw_len)
{
	z_stream zs = {0};
	int rc;

	if (len > UINT32_MAX || raw_len > UINT32_MAX)
		return -TCPX_E_DECOMPRESS;
	if (inflateInit(&zs) != Z_OK)
		return -TCPX_E_DECOMPRESS;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)raw_len;
	rc = inflate(&zs, Z_FINISH);
	/* Valid only if the stream ended exactly at raw_len with no input
	 * left over; Z_BUF_ERROR here means it wanted to write past the
	 * bound (a bomb) or the input was truncated. */
	int ok = rc == Z_STREAM_END && zs.avail_out == 0 && zs.avail_in == 0;
	inflateEnd(&zs);
	return ok ? 0 : -TCPX_E_DECOMPRESS;
}
