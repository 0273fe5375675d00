/* Tests for src/chunk.c: per-chunk zlib streams, inflation bounded. */
#include <libdeflate.h>
#include <zlib.h>
#include <zstd.h>

#include "chunk.h"
#include "proto.h"
#include "testutil.h"

#define GUARD 65536u
#define GUARD_BYTE 0xA5

/* An output buffer of n bytes followed by a guard region. */
static uint8_t *guarded(size_t n)
{
	uint8_t *p = malloc(n + GUARD);
	cr_assert(p != NULL);
	memset(p, 0, n);
	memset(p + n, GUARD_BYTE, GUARD);
	return p;
}

static void guard_intact(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < GUARD; i++)
		if (p[n + i] != GUARD_BYTE)
			cr_assert_fail("wrote %zu bytes past the %zu-byte buffer", i + 1, n);
}

static uint8_t *text(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n ? n : 1);
	cr_assert(p != NULL);
	tu_fill_text(seed, 0, p, n);
	return p;
}

static uint8_t *noise(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n ? n : 1);
	cr_assert(p != NULL);
	tu_fill_random(seed, 0, p, n);
	return p;
}

/* zlib's own compress2, the reference encoder */
static uint8_t *zcompress(const uint8_t *in, size_t n, int level, size_t *out_len)
{
	uLongf cap = compressBound((uLong)n);
	uint8_t *out = malloc(cap);
	cr_assert(out != NULL);
	cr_assert_eq(compress2(out, &cap, in, (uLong)n, level), Z_OK);
	*out_len = cap;
	return out;
}

static void round_trip(int level, size_t n, uint32_t seed)
{
	struct chunk_compressor *c = chunk_compressor_new(level);
	uint8_t *in = text(n, seed);
	uint8_t *z = guarded(TCPX_CHUNK_MAX);
	uint8_t *back = guarded(n);
	cr_assert(c != NULL);
	size_t zl = chunk_compress(c, in, n, z, TCPX_CHUNK_MAX);
	cr_assert(zl > 0 && zl < n, "level %d, %zu bytes: compressed to %zu", level, n, zl);
	guard_intact(z, TCPX_CHUNK_MAX);
	cr_assert_eq(chunk_inflate(z, zl, back, n), 0, "level %d, %zu bytes", level, n);
	cr_assert(memcmp(in, back, n) == 0);
	guard_intact(back, n);
	/* plain zlib reads it too: a standard RFC 1950 stream */
	uLongf ul = (uLongf)n;
	memset(back, 0, n);
	cr_assert_eq(uncompress(back, &ul, z, (uLong)zl), Z_OK);
	cr_assert_eq(ul, (uLongf)n);
	cr_assert(memcmp(in, back, n) == 0);
	/* header: CM 8, no preset dictionary, FCHECK valid */
	cr_assert_eq(z[0] & 0x0F, 8);
	cr_assert_eq(z[1] & 0x20, 0, "FDICT set");
	cr_assert_eq((z[0] * 256 + z[1]) % 31, 0);
	chunk_compressor_free(c);
	free(in);
	free(z);
	free(back);
}

Test(chunk, round_trip_level_1)
{
	round_trip(1, TCPX_CHUNK_MAX, 1);
	round_trip(1, 1000, 2);
	round_trip(1, 100, 3);
}

Test(chunk, round_trip_level_6)
{
	round_trip(6, TCPX_CHUNK_MAX, 4);
	round_trip(6, 262143, 5);
	round_trip(6, 4097, 6);
}

Test(chunk, round_trip_level_9)
{
	round_trip(9, TCPX_CHUNK_MAX, 7);
	round_trip(9, 65536, 8);
}

Test(chunk, higher_level_not_larger_on_text)
{
	uint8_t *in = text(TCPX_CHUNK_MAX, 42);
	uint8_t *z = malloc(TCPX_CHUNK_MAX);
	size_t len[3];
	int levels[3] = { 1, 6, 9 };
	for (int i = 0; i < 3; i++) {
		struct chunk_compressor *c = chunk_compressor_new(levels[i]);
		len[i] = chunk_compress(c, in, TCPX_CHUNK_MAX, z, TCPX_CHUNK_MAX);
		cr_assert(len[i] > 0);
		chunk_compressor_free(c);
	}
	cr_assert(len[2] <= len[0], "level 9 %zu > level 1 %zu", len[2], len[0]);
	free(in);
	free(z);
}

Test(chunk, incompressible_returns_zero)
{
	struct chunk_compressor *c = chunk_compressor_new(6);
	size_t sizes[] = { 1, 2, 10, 100, 4096, TCPX_CHUNK_MAX };
	uint8_t *z = guarded(TCPX_CHUNK_MAX);
	for (size_t i = 0; i < 6; i++) {
		uint8_t *in = noise(sizes[i], (uint32_t)i + 100);
		cr_assert_eq(chunk_compress(c, in, sizes[i], z, TCPX_CHUNK_MAX), 0u,
			     "%zu random bytes", sizes[i]);
		guard_intact(z, TCPX_CHUNK_MAX);
		free(in);
	}
	/* an empty chunk never shrinks */
	cr_assert_eq(chunk_compress(c, (const uint8_t *)"", 0, z, TCPX_CHUNK_MAX), 0u);
	chunk_compressor_free(c);
	free(z);
}

/* Output that fits but is not strictly smaller than the input: raw. */
Test(chunk, not_strictly_smaller_returns_zero)
{
	struct chunk_compressor *c = chunk_compressor_new(9);
	uint8_t z[64];
	/* 3 bytes compress to 11: raw */
	cr_assert_eq(chunk_compress(c, (const uint8_t *)"hi\n", 3, z, sizeof(z)), 0u);
	chunk_compressor_free(c);
}

/* Compared with libdeflate itself on short strings, some of which
 * compress to exactly their own length: a result is returned only when it
 * is strictly smaller, and then it is libdeflate's stream.  (libdeflate
 * needs a few bytes of slack in its output bound, so a chunk that would
 * shrink by less than about 9 bytes comes back 0 and goes raw: allowed
 * here, since sending raw is always valid; clear savings are not lost.) */
Test(chunk, equal_size_is_not_smaller)
{
	struct libdeflate_compressor *ref = libdeflate_alloc_compressor(6);
	struct chunk_compressor *c = chunk_compressor_new(6);
	uint8_t in[64], want[256], got[256];
	int equal = 0;
	for (int n = 4; n <= 40; n++)
		for (int rep = 1; rep <= 8; rep++) {
			for (int i = 0; i < n; i++)
				in[i] = (uint8_t)('a' + i % rep + i * 7 / n);
			size_t w = libdeflate_zlib_compress(ref, in, (size_t)n, want, sizeof(want));
			size_t g = chunk_compress(c, in, (size_t)n, got, sizeof(got));
			cr_assert(w > 0);
			if (w == (size_t)n)
				equal++;
			if (w >= (size_t)n) {
				cr_assert_eq(g, 0u, "%d bytes compress to %zu, returned %zu",
					     n, w, g);
			} else if (g != 0 || w + 16 <= (size_t)n) {
				cr_assert_eq(g, w, "%d bytes: %zu, libdeflate %zu", n, g, w);
				cr_assert(memcmp(got, want, w) == 0);
			}
		}
	cr_assert(equal > 0, "no string compressing to its own length was tried");
	libdeflate_free_compressor(ref);
	chunk_compressor_free(c);
}

/* A small out_cap is never overrun, and a result, if any, is valid. */
Test(chunk, respects_out_cap)
{
	struct chunk_compressor *c = chunk_compressor_new(6);
	uint8_t *in = text(10000, 9);
	size_t caps[] = { 1, 5, 10, 20, 64, 200 };
	for (size_t i = 0; i < 6; i++) {
		uint8_t *z = guarded(caps[i]);
		size_t zl = chunk_compress(c, in, 10000, z, caps[i]);
		guard_intact(z, caps[i]);
		cr_assert(zl <= caps[i]);
		if (zl) {
			uint8_t *back = guarded(10000);
			cr_assert_eq(chunk_inflate(z, zl, back, 10000), 0);
			cr_assert(memcmp(back, in, 10000) == 0);
			free(back);
		}
		free(z);
	}
	chunk_compressor_free(c);
	free(in);
}

Test(chunk, inflates_zlib_streams_at_any_level)
{
	uint8_t *in = text(TCPX_CHUNK_MAX, 11);
	uint8_t *back = guarded(TCPX_CHUNK_MAX);
	for (int level = 0; level <= 9; level++) {
		size_t zl;
		uint8_t *z = zcompress(in, TCPX_CHUNK_MAX, level, &zl);
		memset(back, 0, TCPX_CHUNK_MAX);
		cr_assert_eq(chunk_inflate(z, zl, back, TCPX_CHUNK_MAX), 0, "level %d", level);
		cr_assert(memcmp(back, in, TCPX_CHUNK_MAX) == 0);
		guard_intact(back, TCPX_CHUNK_MAX);
		free(z);
	}
	/* the spec's 11-byte example stream of "hi\n" */
	uint8_t ex[11], out3[3];
	tu_hex_decode("78 9c cb c8 e4 02 00 02 17 00 dc", ex, sizeof(ex));
	cr_assert_eq(chunk_inflate(ex, 11, out3, 3), 0);
	cr_assert(memcmp(out3, "hi\n", 3) == 0);
	free(in);
	free(back);
}

Test(chunk, inflate_rejects_corruption_anywhere)
{
	size_t n = 5000, zl;
	uint8_t *in = text(n, 12);
	uint8_t *z = zcompress(in, n, 6, &zl);
	uint8_t *back = guarded(n);
	for (size_t i = 0; i < zl; i++) {
		z[i] ^= 0xFF;
		int rc = chunk_inflate(z, zl, back, n);
		z[i] ^= 0xFF;
		cr_assert_eq(rc, -TCPX_E_DECOMPRESS, "flipped byte %zu of %zu accepted", i, zl);
		guard_intact(back, n);
	}
	cr_assert_eq(chunk_inflate(z, zl, back, n), 0);
	free(in);
	free(z);
	free(back);
}

Test(chunk, inflate_rejects_adler_mismatch)
{
	size_t n = 3000, zl;
	uint8_t *in = text(n, 13);
	uint8_t *z = zcompress(in, n, 6, &zl);
	uint8_t *back = guarded(n);
	z[zl - 1] ^= 0x01;
	cr_assert_eq(chunk_inflate(z, zl, back, n), -TCPX_E_DECOMPRESS);
	free(in);
	free(z);
	free(back);
}

Test(chunk, inflate_rejects_truncated_stream)
{
	size_t n = 20000, zl;
	uint8_t *in = text(n, 14);
	uint8_t *z = zcompress(in, n, 6, &zl);
	uint8_t *back = guarded(n);
	for (size_t cut = 0; cut < zl; cut++) {
		uint8_t *t = malloc(cut ? cut : 1);   /* exact size for ASan */
		memcpy(t, z, cut);
		cr_assert_eq(chunk_inflate(t, cut, back, n), -TCPX_E_DECOMPRESS,
			     "stream cut to %zu of %zu bytes accepted", cut, zl);
		free(t);
	}
	guard_intact(back, n);
	free(in);
	free(z);
	free(back);
}

Test(chunk, inflate_rejects_trailing_bytes)
{
	size_t n = 4000, zl;
	uint8_t *in = text(n, 15);
	uint8_t *z = zcompress(in, n, 6, &zl);
	uint8_t *t = malloc(2 * zl + 1);
	uint8_t *back = guarded(n);
	memcpy(t, z, zl);
	t[zl] = 0;
	cr_assert_eq(chunk_inflate(t, zl + 1, back, n), -TCPX_E_DECOMPRESS, "one NUL after");
	/* a second whole stream after the first */
	memcpy(t + zl, z, zl);
	cr_assert_eq(chunk_inflate(t, 2 * zl, back, n), -TCPX_E_DECOMPRESS, "two streams");
	cr_assert_eq(chunk_inflate(t, zl, back, n), 0);
	free(in);
	free(z);
	free(t);
	free(back);
}

Test(chunk, inflate_rejects_wrong_raw_len)
{
	size_t n = 4000, zl;
	uint8_t *in = text(n, 16);
	uint8_t *z = zcompress(in, n, 6, &zl);
	/* declared shorter: must stop at the bound and fail */
	for (size_t shorter = 1; shorter <= 3; shorter++) {
		uint8_t *back = guarded(n - shorter);
		cr_assert_eq(chunk_inflate(z, zl, back, n - shorter), -TCPX_E_DECOMPRESS,
			     "raw_len %zu for %zu bytes", n - shorter, n);
		guard_intact(back, n - shorter);
		free(back);
	}
	/* declared longer: the stream ends early */
	uint8_t *back = guarded(n + 1);
	cr_assert_eq(chunk_inflate(z, zl, back, n + 1), -TCPX_E_DECOMPRESS);
	guard_intact(back, n + 1);
	free(back);
	back = guarded(1);
	cr_assert_eq(chunk_inflate(z, zl, back, 1), -TCPX_E_DECOMPRESS);
	guard_intact(back, 1);
	free(back);
	free(in);
	free(z);
}

Test(chunk, inflate_stops_a_decompression_bomb)
{
	size_t big = 10u << 20, zl;
	uint8_t *zeros = calloc(big, 1);
	cr_assert(zeros != NULL);
	uint8_t *z = zcompress(zeros, big, 9, &zl);
	free(zeros);
	cr_assert(zl < TCPX_CHUNK_MAX, "bomb of %zu bytes does not fit a chunk", zl);
	uint8_t *back = guarded(4096);
	cr_assert_eq(chunk_inflate(z, zl, back, 4096), -TCPX_E_DECOMPRESS);
	guard_intact(back, 4096);
	/* and with the largest raw_len a chunk may declare */
	free(back);
	back = guarded(TCPX_CHUNK_MAX);
	cr_assert_eq(chunk_inflate(z, zl, back, TCPX_CHUNK_MAX), -TCPX_E_DECOMPRESS);
	guard_intact(back, TCPX_CHUNK_MAX);
	free(back);
	free(z);
}

Test(chunk, inflate_rejects_other_formats)
{
	size_t n = 1000;
	uint8_t *in = text(n, 17);
	uint8_t *back = guarded(n);
	uint8_t z[2048];
	z_stream zs;

	/* raw deflate, no zlib header */
	memset(&zs, 0, sizeof(zs));
	cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = in;
	zs.avail_in = (uInt)n;
	zs.next_out = z;
	zs.avail_out = sizeof(z);
	cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t raw_len = sizeof(z) - zs.avail_out;
	deflateEnd(&zs);
	cr_assert_eq(chunk_inflate(z, raw_len, back, n), -TCPX_E_DECOMPRESS, "raw deflate");

	/* gzip wrapper */
	memset(&zs, 0, sizeof(zs));
	cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = in;
	zs.avail_in = (uInt)n;
	zs.next_out = z;
	zs.avail_out = sizeof(z);
	cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t gz_len = sizeof(z) - zs.avail_out;
	deflateEnd(&zs);
	cr_assert_eq(chunk_inflate(z, gz_len, back, n), -TCPX_E_DECOMPRESS, "gzip");

	/* zlib with a preset dictionary (FDICT): forbidden by the spec */
	memset(&zs, 0, sizeof(zs));
	cr_assert_eq(deflateInit(&zs, 6), Z_OK);
	cr_assert_eq(deflateSetDictionary(&zs, (const Bytef *)"the quick brown fox", 19), Z_OK);
	zs.next_in = in;
	zs.avail_in = (uInt)n;
	zs.next_out = z;
	zs.avail_out = sizeof(z);
	cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t dict_len = sizeof(z) - zs.avail_out;
	deflateEnd(&zs);
	cr_assert_neq(z[1] & 0x20, 0, "test stream should have FDICT");
	cr_assert_eq(chunk_inflate(z, dict_len, back, n), -TCPX_E_DECOMPRESS, "FDICT");

	/* nothing at all, and junk */
	cr_assert_eq(chunk_inflate(z, 0, back, n), -TCPX_E_DECOMPRESS);
	static const uint8_t junk[] = "definitely not zlib";
	cr_assert_eq(chunk_inflate(junk, sizeof(junk), back, n), -TCPX_E_DECOMPRESS);
	guard_intact(back, n);
	free(in);
	free(back);
}

/* Each chunk is independent: two compressors, any order, same bytes. */
Test(chunk, chunks_are_independent)
{
	struct chunk_compressor *c = chunk_compressor_new(6);
	uint8_t *a = text(50000, 20), *b = text(50000, 21);
	uint8_t *za = malloc(TCPX_CHUNK_MAX), *zb = malloc(TCPX_CHUNK_MAX);
	uint8_t *za2 = malloc(TCPX_CHUNK_MAX);
	size_t la = chunk_compress(c, a, 50000, za, TCPX_CHUNK_MAX);
	size_t lb = chunk_compress(c, b, 50000, zb, TCPX_CHUNK_MAX);
	size_t la2 = chunk_compress(c, a, 50000, za2, TCPX_CHUNK_MAX);
	cr_assert(la > 0 && lb > 0);
	cr_assert_eq(la, la2, "compressing b in between changed a's stream");
	cr_assert(memcmp(za, za2, la) == 0);
	uint8_t *back = guarded(50000);
	cr_assert_eq(chunk_inflate(zb, lb, back, 50000), 0);
	cr_assert(memcmp(back, b, 50000) == 0);
	cr_assert_eq(chunk_inflate(za, la, back, 50000), 0);
	cr_assert(memcmp(back, a, 50000) == 0);
	chunk_compressor_free(c);
	chunk_compressor_free(NULL);
	free(a);
	free(b);
	free(za);
	free(zb);
	free(za2);
	free(back);
}

/* ---- zstd (encoding 2) -------------------------------------------------- */

static size_t zst(const uint8_t *in, size_t n, int level, uint8_t *out, size_t cap)
{
	struct chunk_compressor *c = chunk_compressor_new_enc(TCPX_ENCODING_ZSTD, level);
	cr_assert(c != NULL);
	cr_assert_eq(chunk_compressor_encoding(c), TCPX_ENCODING_ZSTD);
	size_t zl = chunk_compress(c, in, n, out, cap);
	chunk_compressor_free(c);
	return zl;
}

static void zstd_round_trip(int level, size_t n, uint32_t seed)
{
	struct chunk_unzstd *d = NULL;
	uint8_t *in = text(n, seed);
	uint8_t *z = guarded(TCPX_CHUNK_MAX);
	uint8_t *back = guarded(n);
	size_t zl = zst(in, n, level, z, TCPX_CHUNK_MAX);
	cr_assert(zl > 0 && zl < n, "level %d, %zu bytes: compressed to %zu", level, n, zl);
	guard_intact(z, TCPX_CHUNK_MAX);
	cr_assert_eq(chunk_unzstd(&d, z, zl, back, n), 0, "level %d, %zu bytes", level, n);
	cr_assert(memcmp(in, back, n) == 0);
	guard_intact(back, n);
	/* the same context again, and plain libzstd reads it too */
	cr_assert_eq(chunk_unzstd(&d, z, zl, back, n), 0);
	cr_assert_eq(ZSTD_getFrameContentSize(z, zl), (unsigned long long)n);
	memset(back, 0, n);
	cr_assert_eq(ZSTD_decompress(back, n, z, zl), n);
	cr_assert(memcmp(in, back, n) == 0);
	chunk_unzstd_free(d);
	free(in);
	free(z);
	free(back);
}

Test(chunk_zstd, round_trips)
{
	zstd_round_trip(1, 1000, 1);
	zstd_round_trip(3, TCPX_CHUNK_MAX, 2);
	zstd_round_trip(3, 77777, 3);
	zstd_round_trip(19, TCPX_CHUNK_MAX, 4);
}

Test(chunk_zstd, smaller_than_zlib_on_text)
{
	uint8_t *in = text(TCPX_CHUNK_MAX, 9);
	uint8_t *a = malloc(TCPX_CHUNK_MAX), *b = malloc(TCPX_CHUNK_MAX);
	struct chunk_compressor *c = chunk_compressor_new(1);
	size_t zl = chunk_compress(c, in, TCPX_CHUNK_MAX, a, TCPX_CHUNK_MAX);
	size_t sl = zst(in, TCPX_CHUNK_MAX, 3, b, TCPX_CHUNK_MAX);
	cr_assert(sl > 0 && sl < zl, "zstd 3: %zu, zlib 1: %zu", sl, zl);
	chunk_compressor_free(c);
	free(in);
	free(a);
	free(b);
}

Test(chunk_zstd, incompressible_and_out_cap_return_zero)
{
	uint8_t *in = noise(TCPX_CHUNK_MAX, 5);
	uint8_t *z = guarded(TCPX_CHUNK_MAX);
	cr_assert_eq(zst(in, TCPX_CHUNK_MAX, 3, z, TCPX_CHUNK_MAX), 0);
	guard_intact(z, TCPX_CHUNK_MAX);
	free(in);
	in = text(10000, 6);
	size_t zl = zst(in, 10000, 3, z, TCPX_CHUNK_MAX);
	cr_assert(zl > 10);
	memset(z, GUARD_BYTE, TCPX_CHUNK_MAX + GUARD);
	cr_assert_eq(zst(in, 10000, 3, z, zl - 1), 0, "does not fit: raw");
	guard_intact(z, zl - 1);
	cr_assert_eq(zst(in, 1, 3, z, TCPX_CHUNK_MAX), 0, "1 byte never shrinks");
	free(in);
	free(z);
}

/* man/tcpxfer.5 EXAMPLE: the zstd DATA frame, byte for byte. */
static const uint8_t man_zstd_frame[] = {
	0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20,
	0x02, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x1c,
	0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x1c, 0x7d, 0x00,
	0x00, 0x48, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2c,
	0x20, 0x21, 0x0a, 0x01, 0x00, 0x4a, 0x8a, 0x11,
};
static const char man_zstd_text[] = "hello, hello, hello, hello!\n";

Test(chunk_zstd, man_page_example)
{
	struct tcpx_frame f = { man_zstd_frame[0], 32, man_zstd_frame + 8 };
	struct tcpx_data dd;
	struct chunk_unzstd *d = NULL;
	uint8_t *back = guarded(28);
	uint8_t hdr[8];

	cr_assert_eq(sizeof(man_zstd_frame), 40u);
	frame_header_encode(hdr, TCPX_FRAME_DATA, 32);
	cr_assert(memcmp(hdr, man_zstd_frame, 8) == 0);
	cr_assert_eq(proto_decode_data(&f, &dd), 0);
	cr_assert_eq(dd.encoding, TCPX_ENCODING_ZSTD);
	cr_assert_eq(dd.raw_len, 28u);
	cr_assert_eq(dd.data_len, 24u);
	cr_assert_eq(chunk_unzstd(&d, dd.data, dd.data_len, back, dd.raw_len), 0);
	cr_assert(memcmp(back, man_zstd_text, 28) == 0);
	guard_intact(back, 28);
	chunk_unzstd_free(d);
	free(back);
}

static int unz(const uint8_t *in, size_t len, size_t raw_len)
{
	struct chunk_unzstd *d = NULL;
	uint8_t *back = guarded(raw_len);
	int rc = chunk_unzstd(&d, in, len, back, raw_len);
	guard_intact(back, raw_len);
	chunk_unzstd_free(d);
	free(back);
	return rc;
}

Test(chunk_zstd, rejects_another_length)
{
	const uint8_t *z = man_zstd_frame + 16;
	cr_assert_eq(unz(z, 24, 28), 0);
	cr_assert_eq(unz(z, 24, 27), -TCPX_E_DECOMPRESS, "decodes to more");
	cr_assert_eq(unz(z, 24, 29), -TCPX_E_DECOMPRESS, "decodes to less");
	cr_assert_eq(unz(z, 24, 1), -TCPX_E_DECOMPRESS);
	/* the header says 28 but the block decodes to 29: a lying header */
	uint8_t lie[24];
	memcpy(lie, z, 24);
	lie[5] = 27;            /* Frame_Content_Size 27, content 28 */
	cr_assert_eq(unz(lie, 24, 27), -TCPX_E_DECOMPRESS);
	lie[5] = 29;
	cr_assert_eq(unz(lie, 24, 29), -TCPX_E_DECOMPRESS);
}

Test(chunk_zstd, rejects_trailing_bytes_and_two_frames)
{
	uint8_t t[64];
	const uint8_t *z = man_zstd_frame + 16;
	memcpy(t, z, 24);
	t[24] = 0;
	cr_assert_eq(unz(t, 25, 28), -TCPX_E_DECOMPRESS, "one NUL after");
	memcpy(t + 24, z, 24);
	cr_assert_eq(unz(t, 48, 28), -TCPX_E_DECOMPRESS, "two frames");
	cr_assert_eq(unz(t, 48, 56), -TCPX_E_DECOMPRESS, "two frames, both lengths");
	for (size_t cut = 0; cut < 24; cut++)
		cr_assert_eq(unz(z, cut, 28), -TCPX_E_DECOMPRESS, "cut at %zu", cut);
	/* a skippable frame, alone or before the real one */
	static const uint8_t skip[] = { 0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4 };
	cr_assert_eq(unz(skip, sizeof(skip), 4), -TCPX_E_DECOMPRESS);
	memcpy(t, skip, sizeof(skip));
	memcpy(t + sizeof(skip), z, 24);
	cr_assert_eq(unz(t, sizeof(skip) + 24, 28), -TCPX_E_DECOMPRESS);
}

/* The example's block with a hand-made header: no single segment, a
 * window descriptor and a 4-byte content size. */
static size_t with_window(uint8_t *out, uint8_t window_descriptor)
{
	static const uint8_t magic[] = { 0x28, 0xb5, 0x2f, 0xfd };
	memcpy(out, magic, 4);
	out[4] = 0x80;                  /* FCS 4 bytes, not single segment */
	out[5] = window_descriptor;
	out[6] = 28; out[7] = out[8] = out[9] = 0;
	memcpy(out + 10, man_zstd_frame + 16 + 6, 18);   /* the block */
	return 28;
}

Test(chunk_zstd, rejects_a_window_larger_than_a_chunk)
{
	uint8_t f[32];
	size_t n = with_window(f, 0x00);        /* 1 KiB: fine */
	cr_assert_eq(unz(f, n, 28), 0);
	n = with_window(f, 8u << 3);            /* 2^18 = 256 KiB: fine */
	cr_assert_eq(unz(f, n, 28), 0);
	n = with_window(f, (8u << 3) | 1);      /* 2^18 + 2^15: too large */
	cr_assert_eq(unz(f, n, 28), -TCPX_E_DECOMPRESS);
	n = with_window(f, 17u << 3);           /* 128 MiB */
	cr_assert_eq(unz(f, n, 28), -TCPX_E_DECOMPRESS);
	n = with_window(f, 31u << 3);           /* 2 TiB */
	cr_assert_eq(unz(f, n, 28), -TCPX_E_DECOMPRESS);
}

Test(chunk_zstd, rejects_a_frame_without_content_size)
{
	/* a valid frame, but its header leaves the content size out */
	uint8_t *in = text(5000, 8);
	uint8_t z[8192];
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
	size_t zl = ZSTD_compress2(c, z, sizeof(z), in, 5000);
	cr_assert(!ZSTD_isError(zl));
	cr_assert_eq(ZSTD_getFrameContentSize(z, zl), ZSTD_CONTENTSIZE_UNKNOWN);
	cr_assert_eq(ZSTD_decompress(in, 5000, z, zl), 5000u, "a valid frame");
	cr_assert_eq(unz(z, zl, 5000), -TCPX_E_DECOMPRESS);
	ZSTD_freeCCtx(c);
	free(in);
}

Test(chunk_zstd, stops_a_bomb)
{
	/* 10 MiB of zeros in a few hundred bytes, raw_len declared 4096 */
	size_t big = 10u << 20;
	uint8_t *zeros = calloc(big, 1);
	uint8_t *z = malloc(ZSTD_compressBound(big));
	size_t zl = ZSTD_compress(z, ZSTD_compressBound(big), zeros, big, 19);
	cr_assert(!ZSTD_isError(zl) && zl < TCPX_CHUNK_MAX);
	cr_assert_eq(unz(z, zl, 4096), -TCPX_E_DECOMPRESS);
	cr_assert_eq(unz(z, zl, TCPX_CHUNK_MAX), -TCPX_E_DECOMPRESS);
	free(zeros);
	free(z);
}

/* A bomb that passes the header checks: its Frame_Content_Size says
 * raw_len, its blocks decode to far more; decoding stops at raw_len. */
Test(chunk_zstd, stops_a_bomb_whose_header_lies)
{
	size_t big = 4u << 20, cap = ZSTD_compressBound(big);
	uint8_t *zeros = calloc(big, 1), *z = malloc(cap);
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, TCPX_ZSTD_WINDOW_LOG);
	size_t zl = ZSTD_compress2(c, z, cap, zeros, big);
	cr_assert(!ZSTD_isError(zl) && zl < TCPX_CHUNK_MAX);
	cr_assert_eq(z[4] & 0xe0, 0x80, "FCS of 4 bytes, not single segment");
	for (int i = 0; i < 4; i++)     /* content size: 4096 */
		z[6 + i] = (uint8_t)(4096u >> (8 * i));
	cr_assert_eq(ZSTD_getFrameContentSize(z, zl), 4096u);
	cr_assert_eq(unz(z, zl, 4096), -TCPX_E_DECOMPRESS);
	ZSTD_freeCCtx(c);
	free(zeros);
	free(z);
}

Test(chunk_zstd, garbage_and_corruption)
{
	uint8_t *g = noise(4096, 11);
	cr_assert_eq(unz(g, 4096, 4096), -TCPX_E_DECOMPRESS);
	memcpy(g, man_zstd_frame + 16, 4);      /* the magic, then noise */
	cr_assert_eq(unz(g, 4096, 4096), -TCPX_E_DECOMPRESS);
	free(g);
	/* every byte of a real frame flipped: never a crash nor an overrun
	 * (without a checksum, a flipped literal may still decode) */
	uint8_t *in = text(20000, 12);
	uint8_t *z = malloc(TCPX_CHUNK_MAX);
	size_t zl = zst(in, 20000, 3, z, TCPX_CHUNK_MAX);
	struct chunk_unzstd *d = NULL;
	uint8_t *back = guarded(20000);
	for (size_t i = 0; i < zl; i++) {
		z[i] ^= 0x5a;
		int rc = chunk_unzstd(&d, z, zl, back, 20000);
		cr_assert(rc == 0 || rc == -TCPX_E_DECOMPRESS, "byte %zu: %d", i, rc);
		guard_intact(back, 20000);
		z[i] ^= 0x5a;
	}
	/* the context still works after all those failures */
	cr_assert_eq(chunk_unzstd(&d, z, zl, back, 20000), 0);
	cr_assert(memcmp(in, back, 20000) == 0);
	chunk_unzstd_free(d);
	free(back);
	free(in);
	free(z);
}

/* After a chunk that did not shrink, the next one is judged on a sample of
 * four 4 KiB slices spread over it (chunk.h): a chunk whose slices are
 * noise goes raw without being compressed whole, however compressible the
 * rest; a compressible chunk is compressed exactly as by a fresh
 * compressor; and a chunk that shrinks ends the sampling. */
Test(chunk, after_incompressible_chunk_a_sample_decides)
{
	uint8_t encs[] = { TCPX_ENCODING_ZLIB, TCPX_ENCODING_ZSTD };
	size_t n = TCPX_CHUNK_MAX, step = (n - 4096) / 3;
	uint8_t *rnd = noise(n, 7), *txt = text(n, 8), *mixed = text(n, 9);
	uint8_t *z = malloc(n), *z2 = malloc(n);
	for (int i = 0; i < 4; i++)
		memcpy(mixed + i * step, rnd + i * step, 4096);
	for (size_t e = 0; e < 2; e++) {
		struct chunk_compressor *fresh = chunk_compressor_new_enc(encs[e], 1);
		size_t want_mixed = chunk_compress(fresh, mixed, n, z2, n);
		cr_assert(want_mixed > 0 && want_mixed < n / 2, "mixed shrinks when tried whole");
		struct chunk_compressor *c = chunk_compressor_new_enc(encs[e], 1);
		cr_assert_eq(chunk_compress(c, rnd, n, z, n), 0u);
		cr_assert_eq(chunk_compress(c, mixed, n, z, n), 0u, "noise slices: raw");
		size_t want_txt = chunk_compress(fresh, txt, n, z2, n);
		size_t got = chunk_compress(c, txt, n, z, n);
		cr_assert_eq(got, want_txt, "text after noise as from a fresh compressor");
		cr_assert_eq(memcmp(z, z2, got), 0);
		cr_assert_eq(chunk_compress(c, mixed, n, z, n), want_mixed,
			     "after a chunk that shrank, no sampling");
		chunk_compressor_free(c);
		chunk_compressor_free(fresh);
	}
	free(rnd); free(txt); free(mixed); free(z); free(z2);
}
