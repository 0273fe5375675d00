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
 * With bit 7 of byte 0 set, the same for zstd: chunk_unzstd() with one
 * context reused across inputs, against a fresh libzstd decode into a
 * larger buffer and the header rules of man/tcpxfer.5 (one frame, its
 * content size raw_len, a window of at most a chunk, nothing after it).
 *
 * Input layout: fuzz_common.h (FZ_INF_HDR).
 */
#define ZSTD_STATIC_LINKING_ONLY   /* ZSTD_getFrameHeader() */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "chunk.h"
#include "digest.h"
#include "error.h"
#include "proto.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct chunk_compressor *comp[10];
static struct chunk_compressor *zcomp[20];
static struct chunk_unzstd *unz;        /* reused, as a session's is */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FZ_CHECK(digest_global_init() == 0);
	for (int level = 1; level <= 9; level++) {
		comp[level] = chunk_compressor_new(level);
		FZ_CHECK(comp[level] != NULL);
	}
	for (int level = 1; level <= 19; level++) {
		zcomp[level] = chunk_compressor_new_enc(TCPX_ENCODING_ZSTD, level);
		FZ_CHECK(zcomp[level] != NULL);
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

/* The zstd reference: the rules checked one by one, then a fresh
 * decode with room to spare. */
static int zstd_reference(const uint8_t *in, size_t len, size_t raw_len,
			  uint8_t **out)
{
	ZSTD_frameHeader fh;
	*out = malloc(raw_len + 64);
	FZ_CHECK(*out != NULL);
	if (ZSTD_getFrameHeader(&fh, in, len) != 0 || fh.frameType != ZSTD_frame ||
	    fh.frameContentSize != raw_len || fh.windowSize > TCPX_CHUNK_MAX ||
	    ZSTD_findFrameCompressedSize(in, len) != len)
		return 0;
	size_t r = ZSTD_decompress(*out, raw_len + 64, in, len);
	return !ZSTD_isError(r) && r == raw_len;
}

static int decode(int zstd, const uint8_t *in, size_t len, uint8_t *out,
		  size_t raw_len)
{
	return zstd ? chunk_unzstd(&unz, in, len, out, raw_len) :
		      chunk_inflate(in, len, out, raw_len);
}

static void inflate_and_compare(const uint8_t *in, size_t len, size_t raw_len,
				int zstd)
{
	/* Exactly raw_len bytes: malloc(0) is a valid zero-byte block. */
	uint8_t *out = malloc(raw_len);
	uint8_t *ref = NULL;

	FZ_CHECK(out != NULL || raw_len == 0);
	int rc = decode(zstd, in, len, out, raw_len);
	FZ_CHECK(rc == 0 || rc == -TCPX_E_DECOMPRESS || rc == -TCPX_E_NOMEM);
	if (rc == -TCPX_E_NOMEM) {      /* no verdict to compare */
		free(out);
		return;
	}
	int ref_ok = zstd ? zstd_reference(in, len, raw_len, &ref) :
			    reference(in, len, raw_len, &ref);
	FZ_CHECK((rc == 0) == ref_ok);
	if (rc == 0)
		FZ_CHECK(raw_len == 0 || memcmp(out, ref, raw_len) == 0);
	free(ref);
	free(out);
}

static void round_trip(const uint8_t *in, size_t len, int level, size_t out_cap,
		       int zstd)
{
	/* The sender compresses into the frame with room for a full chunk;
	 * here the room is also small or exact, to hold chunk_compress to its
	 * bound.  Only output strictly smaller than the input counts. */
	size_t caps[2] = { TCPX_CHUNK_MAX, out_cap };
	for (int i = 0; i < 2; i++) {
		uint8_t *z = malloc(caps[i] ? caps[i] : 1);
		FZ_CHECK(z != NULL);
		size_t zlen = chunk_compress(zstd ? zcomp[level] : comp[level],
					     in, len, z, caps[i]);
		FZ_CHECK(zlen < len || zlen == 0);
		FZ_CHECK(zlen <= caps[i]);
		if (zlen) {
			uint8_t *back = malloc(len);
			FZ_CHECK(back != NULL);
			FZ_CHECK(decode(zstd, z, zlen, back, len) == 0);
			FZ_CHECK(memcmp(back, in, len) == 0);
			free(back);
			/* One byte less room must fail (and not overflow);
			 * one byte more must fail (wrong length). */
			uint8_t *shorter = malloc(len - 1 ? len - 1 : 1);
			FZ_CHECK(shorter != NULL);
			FZ_CHECK(decode(zstd, z, zlen, shorter, len - 1) ==
				 -TCPX_E_DECOMPRESS);
			free(shorter);
			uint8_t *longer = malloc(len + 1);
			FZ_CHECK(longer != NULL);
			FZ_CHECK(decode(zstd, z, zlen, longer, len + 1) ==
				 -TCPX_E_DECOMPRESS);
			/* A truncated stream is not a chunk either. */
			FZ_CHECK(decode(zstd, z, zlen - 1, longer, len) ==
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

	int zstd = (data[0] & 0x80) != 0;
	int level = (data[0] >> 1) & 0x3f;

	if (data[0] & 1) {
		if (len == 0 || len > TCPX_CHUNK_MAX)
			return 0;
		round_trip(in, len, 1 + level % (zstd ? 19 : 9), field, zstd);
	} else {
		inflate_and_compare(in, len, field, zstd);
	}
	return 0;
}
