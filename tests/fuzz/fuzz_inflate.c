/*
 * fuzz_inflate: chunk_inflate() on hostile zlib streams, and the
 * chunk_compress() -> chunk_inflate() round trip.
 *
 * The output buffer is a heap block of exactly raw_len bytes, so a single
 * byte written past the declared length (a decompression bomb getting
 * through the bound) is an ASan report.  chunk_inflate's verdict (it uses
 * libdeflate) is compared with zlib's inflate into a larger buffer: a chunk
 * is valid exactly when the stream ends, all input is used, and it
 * inflates to raw_len bytes, whichever library and bound are used, so the
 * receiver neither accepts what zlib calls corrupt nor refuses what a
 * zlib-based sender may send.
 *
 * Input layout: fuzz_common.h (FZ_INF_HDR).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "chunk.h"
#include "digest.h"
#include "error.h"
#include "proto.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct chunk_compressor *comp[10];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FZ_CHECK(digest_global_init() == 0);
	for (int level = 1; level <= 9; level++) {
		comp[level] = chunk_compressor_new(level);
		FZ_CHECK(comp[level] != NULL);
	}
	return 0;
}

/* The reference: zlib inflate with room to spare.  1 if in[0..len) is
 * one complete zlib stream of exactly raw_len bytes with nothing after it;
 * *out then holds them (caller frees). */
static int reference(const uint8_t *in, size_t len, size_t raw_len,
		     uint8_t **out)
{
	size_t cap = raw_len + 64;
	z_stream zs;
	int ok;

	*out = malloc(cap);
	FZ_CHECK(*out != NULL);
	memset(&zs, 0, sizeof(zs));
	FZ_CHECK(inflateInit(&zs) == Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = *out;
	zs.avail_out = (uInt)cap;
	int rc = inflate(&zs, Z_FINISH);
	ok = rc == Z_STREAM_END && zs.avail_in == 0 && zs.total_out == raw_len;
	inflateEnd(&zs);
	return ok;
}

static void inflate_and_compare(const uint8_t *in, size_t len, size_t raw_len)
{
	/* Exactly raw_len bytes: malloc(0) is a valid zero-byte block. */
	uint8_t *out = malloc(raw_len);
	uint8_t *ref = NULL;

	FZ_CHECK(out != NULL || raw_len == 0);
	int rc = chunk_inflate(in, len, out, raw_len);
	FZ_CHECK(rc == 0 || rc == -TCPX_E_DECOMPRESS || rc == -TCPX_E_NOMEM);
	if (rc == -TCPX_E_NOMEM) {      /* no verdict to compare */
		free(out);
		return;
	}
	int ref_ok = reference(in, len, raw_len, &ref);
	FZ_CHECK((rc == 0) == ref_ok);
	if (rc == 0)
		FZ_CHECK(raw_len == 0 || memcmp(out, ref, raw_len) == 0);
	free(ref);
	free(out);
}

static void round_trip(const uint8_t *in, size_t len, int level, size_t out_cap)
{
	/* The sender compresses into the frame with room for a full chunk;
	 * here the room is also small or exact, to hold chunk_compress to its
	 * bound.  Only output strictly smaller than the input counts. */
	size_t caps[2] = { TCPX_CHUNK_MAX, out_cap };
	for (int i = 0; i < 2; i++) {
		uint8_t *z = malloc(caps[i] ? caps[i] : 1);
		FZ_CHECK(z != NULL);
		size_t zlen = chunk_compress(comp[level], in, len, z, caps[i]);
		FZ_CHECK(zlen < len || zlen == 0);
		FZ_CHECK(zlen <= caps[i]);
		if (zlen) {
			uint8_t *back = malloc(len);
			FZ_CHECK(back != NULL);
			FZ_CHECK(chunk_inflate(z, zlen, back, len) == 0);
			FZ_CHECK(memcmp(back, in, len) == 0);
			free(back);
			/* One byte less room must fail (and not overflow);
			 * one byte more must fail (wrong length). */
			uint8_t *shorter = malloc(len - 1 ? len - 1 : 1);
			FZ_CHECK(shorter != NULL);
			FZ_CHECK(chunk_inflate(z, zlen, shorter, len - 1) ==
				 -TCPX_E_DECOMPRESS);
			free(shorter);
			uint8_t *longer = malloc(len + 1);
			FZ_CHECK(longer != NULL);
			FZ_CHECK(chunk_inflate(z, zlen, longer, len + 1) ==
				 -TCPX_E_DECOMPRESS);
			/* A truncated stream is not a chunk either. */
			FZ_CHECK(chunk_inflate(z, zlen - 1, longer, len) ==
				 -TCPX_E_DECOMPRESS);
			free(longer);
		}
		free(z);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < FZ_INF_HDR)
		return 0;
	size_t field = (size_t)fz_load_seed(data + 1, 3) % (TCPX_CHUNK_MAX + 1);
	const uint8_t *in = data + FZ_INF_HDR;
	size_t len = size - FZ_INF_HDR;

	if (data[0] & 1) {
		if (len == 0 || len > TCPX_CHUNK_MAX)
			return 0;
		round_trip(in, len, 1 + (data[0] >> 1) % 9, field);
	} else {
		inflate_and_compare(in, len, field);
	}
	return 0;
}
