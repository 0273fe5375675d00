/* Tests for src/proto.c: every message layout, encoded and decoded. */
#include "testutil.h"

/* The worked example of man/tcpxfer.5 (EXAMPLE), byte for byte. */
#define EX_HELLO "01 00 00 00 00 00 00 10 54 43 50 58 00 01 00 01" \
		 "00 00 00 00 00 00 00 01"
#define EX_FILE	 "02 00 00 00 00 00 00 23 00 00 00 01 00 00 00 00 00 00 00 03" \
		 "00 00 01 a4 00 00 00 00 65 53 f1 00 00 00 00 00 00 05" \
		 "61 2e 74 78 74"
#define EX_DATA	 "03 00 00 00 00 00 00 0b 00 00 00 00 00 00 00 03 68 69 0a"
#define EX_END	 "04 00 00 00 00 00 00 40" B2_HI
#define EX_BYE	 "07 00 00 00 00 00 00 00"
#define EX_RESULT_OK "06 00 00 00 00 00 00 48 00 00 00 01 00 00 00 00" B2_HI
/* 32 zero bytes */
#define ZERO32 "0000000000000000000000000000000000000000000000000000000000000000"
#define EX_RESULT_EXISTS "06 00 00 00 00 00 00 4e 00 00 00 01 00 21 00 06" \
		 ZERO32 ZERO32 \
		 "65 78 69 73 74 73"
#define EX_ERROR_BUSY "08 00 00 00 00 00 00 08 00 09 00 04 62 75 73 79"
#define EX_DIR "09 00 00 00 00 00 00 1c 00 00 00 03 00 00 01 ed" \
		 "00 00 00 00 3a 7b 83 72 00 00 00 00 00 06 70 68 6f 74 6f 73"
#define EX_RESULT_DIR "06 00 00 00 00 00 00 48 00 00 00 03 00 00 00 00" \
		 ZERO32 ZERO32
#define EX_DATA_ZLIB "03 00 00 00 00 00 00 13 01 00 00 00 00 00 00 03" \
		 "78 9c cb c8 e4 02 00 02 17 00 dc"

static uint8_t out[TCPX_FRAME_BUF_MAX + 64];

static void expect_bytes(const uint8_t *got, size_t got_len, const char *hex)
{
	uint8_t want[2048];
	size_t n = tu_hex_decode(hex, want, sizeof(want));
	cr_assert_eq(got_len, n, "length %zu, want %zu", got_len, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(got[i], want[i], "byte %zu: %02x, want %02x", i,
			     got[i], want[i]);
}

/* Decodes a whole encoded frame with frame_decode (so every encoder's
 * output passes the header checks too). */
static struct tcpx_frame as_frame(const uint8_t *p, size_t len)
{
	struct tcpx_frame f;
	size_t consumed;
	int rc = frame_decode(p, len, &proto_frame_limits, &f, &consumed, NULL);
	cr_assert_eq(rc, 1, "encoded frame rejected: %d", rc);
	cr_assert_eq(consumed, len);
	return f;
}

/* A frame pointing at a hand-built payload (no frame_decode). */
static struct tcpx_frame raw_frame(uint8_t type, const uint8_t *payload,
				   size_t len)
{
	struct tcpx_frame f = { type, (uint32_t)len, payload };
	return f;
}

/* ---- HELLO ------------------------------------------------------------- */

Test(proto_hello, encode_matches_spec_example)
{
	struct tcpx_hello h = { 1, 1, TCPX_CAP_ZLIB };
	size_t n = proto_encode_hello(out, &h);
	cr_assert_eq(n, 24u);
	expect_bytes(out, n, EX_HELLO);
}

Test(proto_hello, round_trip)
{
	struct tcpx_hello h = { 3, 0xFFFF, 0x8000000000000001u }, g;
	size_t n = proto_encode_hello(out, &h);
	struct tcpx_frame f = as_frame(out, n);
	cr_assert_eq(proto_decode_hello(&f, &g), 0);
	cr_assert_eq(g.version_min, 3);
	cr_assert_eq(g.version_max, 0xFFFF);
	cr_assert_eq(g.caps, 0x8000000000000001u);
}

Test(proto_hello, extension_bytes_ignored_up_to_256)
{
	for (size_t ext = 1; ext <= 240; ext += 239) {
		struct tu_buf b = { 0 };
		struct tcpx_hello g;
		tu_put_hello_ext(&b, "TCPX", 1, 2, 5, ext);
		memset(b.p + 24, 0xEE, ext);
		struct tcpx_frame f = as_frame(b.p, b.len);
		cr_assert_eq(proto_decode_hello(&f, &g), 0, "ext %zu", ext);
		cr_assert_eq(g.version_min, 1);
		cr_assert_eq(g.version_max, 2);
		cr_assert_eq(g.caps, 5u);
		tu_buf_free(&b);
	}
}

Test(proto_hello, malformed)
{
	struct tcpx_hello g;
	struct tu_buf b = { 0 };
	tu_put_hello(&b, 1, 1, 0);
	/* short payloads, all lengths 0..15 */
	for (size_t n = 0; n < 16; n++) {
		struct tcpx_frame f = raw_frame(TCPX_FRAME_HELLO, b.p + 8, n);
		cr_assert_eq(proto_decode_hello(&f, &g), -TCPX_E_MALFORMED, "len %zu", n);
	}
	/* wrong frame type */
	struct tcpx_frame f = raw_frame(TCPX_FRAME_FILE, b.p + 8, 16);
	cr_assert_eq(proto_decode_hello(&f, &g), -TCPX_E_MALFORMED);
	tu_buf_free(&b);

	/* version_min 0; version_min > version_max */
	uint16_t bad[][2] = { { 0, 1 }, { 0, 0 }, { 2, 1 }, { 0xFFFF, 1 } };
	for (size_t i = 0; i < 4; i++) {
		struct tu_buf c = { 0 };
		tu_put_hello(&c, bad[i][0], bad[i][1], 0);
		f = as_frame(c.p, c.len);
		cr_assert_eq(proto_decode_hello(&f, &g), -TCPX_E_MALFORMED,
			     "versions %u..%u", bad[i][0], bad[i][1]);
		tu_buf_free(&c);
	}
}

Test(proto_hello, bad_magic)
{
	static const char *magics[] = { "TCPx", "XPCT", "\0\0\0\0", "HTTP" };
	struct tcpx_hello g;
	for (size_t i = 0; i < 4; i++) {
		struct tu_buf b = { 0 };
		tu_put_hello_ext(&b, magics[i], 1, 1, 0, 0);
		struct tcpx_frame f = as_frame(b.p, b.len);
		cr_assert_eq(proto_decode_hello(&f, &g), -TCPX_E_BAD_MAGIC, "magic %zu", i);
		tu_buf_free(&b);
	}
	/* bad magic is judged before the versions */
	struct tu_buf b = { 0 };
	tu_put_hello_ext(&b, "ABCD", 0, 0, 0, 0);
	struct tcpx_frame f = as_frame(b.p, b.len);
	cr_assert_eq(proto_decode_hello(&f, &g), -TCPX_E_BAD_MAGIC);
	tu_buf_free(&b);
}

/* ---- FILE -------------------------------------------------------------- */

Test(proto_file, encode_matches_spec_example)
{
	struct tcpx_file_meta m = { .id = 1, .size = 3, .mode = 0644,
				    .mtime_sec = 1700000000, .mtime_nsec = 0,
				    .name_len = 5, .name = (const uint8_t *)"a.txt" };
	size_t n = proto_encode_file(out, &m);
	cr_assert_eq(n, 43u);
	expect_bytes(out, n, EX_FILE);
}

Test(proto_file, round_trip_extremes)
{
	static uint8_t name[TCPX_NAME_MAX];
	for (size_t i = 0; i < sizeof(name); i++)
		name[i] = (uint8_t)('a' + i % 26);
	struct tcpx_file_meta cases[] = {
		{ 0xFFFFFFFFu, UINT64_MAX, 07777, INT64_MIN, 999999999u, TCPX_NAME_MAX, name },
		{ 1, 0, 0, -1, 0, 1, name },
		{ 77, 1ull << 40, 0755, INT64_MAX, 1, 300, name },
	};
	for (size_t c = 0; c < 3; c++) {
		struct tcpx_file_meta g;
		size_t n = proto_encode_file(out, &cases[c]);
		cr_assert_eq(n, 8u + 30u + cases[c].name_len);
		struct tcpx_frame f = as_frame(out, n);
		cr_assert_eq(f.type, TCPX_FRAME_FILE);
		cr_assert_eq(proto_decode_file(&f, &g), 0, "case %zu", c);
		cr_assert_eq(g.id, cases[c].id);
		cr_assert_eq(g.size, cases[c].size);
		cr_assert_eq(g.mode, cases[c].mode);
		cr_assert_eq(g.mtime_sec, cases[c].mtime_sec);
		cr_assert_eq(g.mtime_nsec, cases[c].mtime_nsec);
		cr_assert_eq(g.name_len, cases[c].name_len);
		cr_assert_eq(g.name, out + 8 + 30, "name must point into the payload");
		cr_assert(memcmp(g.name, name, g.name_len) == 0);
	}
	/* negative mtime is two's complement on the wire */
	cr_assert_eq(be64_load(out + 8 + 16), (uint64_t)INT64_MAX);
	proto_encode_file(out, &cases[1]);
	cr_assert_eq(be64_load(out + 8 + 16), 0xFFFFFFFFFFFFFFFFu);
}

static int decode_file_bytes(struct tu_buf *b, struct tcpx_file_meta *g)
{
	struct tcpx_frame f = raw_frame(b->p[0], b->p + 8, b->len - 8);
	return proto_decode_file(&f, g);
}

Test(proto_file, malformed_lengths)
{
	struct tcpx_file_meta g;
	struct tu_buf b = { 0 };
	/* payload shorter than 30 bytes */
	tu_put_file(&b, 1, 3, "abc");
	for (size_t n = 0; n < 30; n++) {
		struct tcpx_frame f = raw_frame(TCPX_FRAME_FILE, b.p + 8, n);
		cr_assert_eq(proto_decode_file(&f, &g), -TCPX_E_MALFORMED, "len %zu", n);
	}
	/* length != 30 + name_len, either way */
	for (int delta = -3; delta <= 3; delta++) {
		if (delta == 0)
			continue;
		struct tcpx_frame f = raw_frame(TCPX_FRAME_FILE, b.p + 8,
						(size_t)(33 + delta));
		cr_assert_eq(proto_decode_file(&f, &g), -TCPX_E_MALFORMED, "delta %d", delta);
	}
	struct tcpx_frame ok = raw_frame(TCPX_FRAME_FILE, b.p + 8, 33);
	cr_assert_eq(proto_decode_file(&ok, &g), 0);
	/* wrong type */
	struct tcpx_frame wt = raw_frame(TCPX_FRAME_DATA, b.p + 8, 33);
	cr_assert_eq(proto_decode_file(&wt, &g), -TCPX_E_MALFORMED);
	tu_buf_free(&b);
}

Test(proto_file, name_len_rules)
{
	struct tcpx_file_meta g;
	static uint8_t name[TCPX_NAME_MAX + 1];
	memset(name, 'n', sizeof(name));
	struct tu_buf b = { 0 };
	/* name_len 0 with a 30-byte payload */
	tu_put_file_raw(&b, 1, 0, 0644, 0, 0, 0, name, 0);
	cr_assert_eq(decode_file_bytes(&b, &g), -TCPX_E_MALFORMED);
	b.len = 0;
	/* name_len 4096: fine; 4097 (hand-made frame, beyond FILE's max) */
	tu_put_file_raw(&b, 1, 0, 0644, 0, 0, TCPX_NAME_MAX, name, TCPX_NAME_MAX);
	cr_assert_eq(decode_file_bytes(&b, &g), 0);
	b.len = 0;
	tu_put_file_raw(&b, 1, 0, 0644, 0, 0, TCPX_NAME_MAX + 1, name, TCPX_NAME_MAX + 1);
	cr_assert_eq(decode_file_bytes(&b, &g), -TCPX_E_MALFORMED);
	/* and the frame layer refuses that length from the header */
	struct tcpx_frame f;
	size_t c;
	cr_assert_eq(frame_decode(b.p, 8, &proto_frame_limits, &f, &c, NULL),
		     -TCPX_E_FRAME_TOO_LARGE);
	b.len = 0;
	/* name_len 0xFFFF claimed with a short payload */
	tu_put_file_raw(&b, 1, 0, 0644, 0, 0, 0xFFFF, name, 5);
	cr_assert_eq(decode_file_bytes(&b, &g), -TCPX_E_MALFORMED);
	tu_buf_free(&b);
}

Test(proto_file, mode_and_nsec_rules)
{
	struct tcpx_file_meta g;
	uint32_t bad_modes[] = { 010000, 0100644, 0x80000000u, 0xFFFFFFFFu };
	uint32_t good_modes[] = { 0, 0644, 0777, 04755, 07777 };
	for (size_t i = 0; i < 4; i++) {
		struct tu_buf b = { 0 };
		tu_put_file_raw(&b, 1, 0, bad_modes[i], 0, 0, 1, "x", 1);
		cr_assert_eq(decode_file_bytes(&b, &g), -TCPX_E_MALFORMED,
			     "mode %o", bad_modes[i]);
		tu_buf_free(&b);
	}
	for (size_t i = 0; i < 5; i++) {
		struct tu_buf b = { 0 };
		tu_put_file_raw(&b, 1, 0, good_modes[i], 0, 0, 1, "x", 1);
		cr_assert_eq(decode_file_bytes(&b, &g), 0, "mode %o", good_modes[i]);
		cr_assert_eq(g.mode, good_modes[i]);
		tu_buf_free(&b);
	}
	uint32_t nsecs[] = { 999999999u, 1000000000u, 1000000001u, 0xFFFFFFFFu };
	for (size_t i = 0; i < 4; i++) {
		struct tu_buf b = { 0 };
		tu_put_file_raw(&b, 1, 0, 0644, 0, nsecs[i], 1, "x", 1);
		cr_assert_eq(decode_file_bytes(&b, &g), i == 0 ? 0 : -TCPX_E_MALFORMED,
			     "nsec %u", nsecs[i]);
		tu_buf_free(&b);
	}
}

/* id sequencing is the receiver's rule; the layout accepts any u32 */
Test(proto_file, any_id_decodes)
{
	struct tcpx_file_meta g;
	uint32_t ids[] = { 0, 1, 2, 0xFFFFFFFFu };
	for (size_t i = 0; i < 4; i++) {
		struct tu_buf b = { 0 };
		tu_put_file_raw(&b, ids[i], 9, 0644, 0, 0, 1, "x", 1);
		cr_assert_eq(decode_file_bytes(&b, &g), 0);
		cr_assert_eq(g.id, ids[i]);
		tu_buf_free(&b);
	}
}

/* ---- DATA -------------------------------------------------------------- */

Test(proto_data, encode_matches_spec_example)
{
	size_t n = proto_encode_data_header(out, TCPX_ENCODING_RAW, 3, 3);
	cr_assert_eq(n, 19u, "returns the whole frame length");
	memcpy(out + 16, "hi\n", 3);
	expect_bytes(out, n, EX_DATA);

	n = proto_encode_data_header(out, TCPX_ENCODING_ZLIB, 3, 11);
	cr_assert_eq(n, 27u);
	tu_hex_decode("78 9c cb c8 e4 02 00 02 17 00 dc", out + 16, 11);
	expect_bytes(out, n, EX_DATA_ZLIB);
}

Test(proto_data, round_trip_raw_and_zlib)
{
	struct tcpx_data d;
	uint32_t raws[] = { 1, 3, 4096, TCPX_CHUNK_MAX };
	for (size_t i = 0; i < 4; i++) {
		size_t n = proto_encode_data_header(out, TCPX_ENCODING_RAW, raws[i], raws[i]);
		memset(out + 16, 0x5A, raws[i]);
		struct tcpx_frame f = as_frame(out, n);
		cr_assert_eq(proto_decode_data(&f, &d), 0, "raw %u", raws[i]);
		cr_assert_eq(d.encoding, TCPX_ENCODING_RAW);
		cr_assert_eq(d.raw_len, raws[i]);
		cr_assert_eq(d.data_len, raws[i]);
		cr_assert_eq(d.data, out + 16);
	}
	/* zlib: data may be shorter or longer than raw_len, 1..262144 bytes */
	uint32_t zl[][2] = { { 3, 11 }, { TCPX_CHUNK_MAX, 1 }, { 1, TCPX_CHUNK_MAX },
			     { 100, 100 } };
	for (size_t i = 0; i < 4; i++) {
		size_t n = proto_encode_data_header(out, TCPX_ENCODING_ZLIB, zl[i][0], zl[i][1]);
		struct tcpx_frame f = as_frame(out, n);
		cr_assert_eq(proto_decode_data(&f, &d), 0, "zlib %u/%u", zl[i][0], zl[i][1]);
		cr_assert_eq(d.encoding, TCPX_ENCODING_ZLIB);
		cr_assert_eq(d.raw_len, zl[i][0]);
		cr_assert_eq(d.data_len, zl[i][1]);
	}
}

static int decode_data(uint8_t encoding, uint32_t raw_len, size_t data_len,
		       uint8_t r1, uint8_t r2, uint8_t r3)
{
	static uint8_t buf[8 + 8 + TCPX_CHUNK_MAX + 8];
	struct tcpx_data d;
	cr_assert(data_len <= TCPX_CHUNK_MAX + 8);
	buf[8] = encoding;
	buf[9] = r1;
	buf[10] = r2;
	buf[11] = r3;
	be32_store(buf + 12, raw_len);
	struct tcpx_frame f = raw_frame(TCPX_FRAME_DATA, buf + 8, 8 + data_len);
	return proto_decode_data(&f, &d);
}

Test(proto_data, malformed)
{
	/* raw_len 0 and above 262144 */
	cr_assert_eq(decode_data(0, 0, 0, 0, 0, 0), -TCPX_E_MALFORMED);
	cr_assert_eq(decode_data(0, 0, 1, 0, 0, 0), -TCPX_E_MALFORMED);
	cr_assert_eq(decode_data(1, 0, 10, 0, 0, 0), -TCPX_E_MALFORMED);
	cr_assert_eq(decode_data(1, TCPX_CHUNK_MAX + 1, 10, 0, 0, 0), -TCPX_E_MALFORMED);
	cr_assert_eq(decode_data(0, TCPX_CHUNK_MAX + 1, TCPX_CHUNK_MAX + 1, 0, 0, 0),
		     -TCPX_E_MALFORMED);
	cr_assert_eq(decode_data(1, 0xFFFFFFFFu, 10, 0, 0, 0), -TCPX_E_MALFORMED);
	cr_assert_eq(decode_data(1, TCPX_CHUNK_MAX, 10, 0, 0, 0), 0);
	/* raw with data length != raw_len, both ways */
	cr_assert_eq(decode_data(0, 10, 9, 0, 0, 0), -TCPX_E_MALFORMED);
	cr_assert_eq(decode_data(0, 10, 11, 0, 0, 0), -TCPX_E_MALFORMED);
	cr_assert_eq(decode_data(0, 1, 2, 0, 0, 0), -TCPX_E_MALFORMED);
	cr_assert_eq(decode_data(0, 10, 10, 0, 0, 0), 0);
	/* zlib data longer than 262144 (only by hand: the frame max is 8 + that) */
	cr_assert_eq(decode_data(1, 10, TCPX_CHUNK_MAX + 1, 0, 0, 0), -TCPX_E_MALFORMED);
	/* zstd: like zlib (the capability is the receiver's check) */
	cr_assert_eq(decode_data(2, 10, 10, 0, 0, 0), 0);
	cr_assert_eq(decode_data(2, 10, TCPX_CHUNK_MAX + 1, 0, 0, 0), -TCPX_E_MALFORMED);
	/* unknown encodings */
	for (unsigned e = 3; e <= 255; e++)
		cr_assert_eq(decode_data((uint8_t)e, 10, 10, 0, 0, 0), -TCPX_E_MALFORMED,
			     "encoding %u", e);
	/* reserved bytes */
	cr_assert_eq(decode_data(0, 10, 10, 1, 0, 0), -TCPX_E_MALFORMED);
	cr_assert_eq(decode_data(0, 10, 10, 0, 0x80, 0), -TCPX_E_MALFORMED);
	cr_assert_eq(decode_data(1, 10, 10, 0, 0, 1), -TCPX_E_MALFORMED);
	/* payload of 8 bytes or fewer */
	for (size_t n = 0; n <= 8; n++) {
		static uint8_t p[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
		struct tcpx_data d;
		struct tcpx_frame f = raw_frame(TCPX_FRAME_DATA, p, n);
		cr_assert_eq(proto_decode_data(&f, &d), -TCPX_E_MALFORMED, "len %zu", n);
	}
	/* wrong type */
	static uint8_t p[9] = { 0, 0, 0, 0, 0, 0, 0, 1, 'x' };
	struct tcpx_data d;
	struct tcpx_frame f = raw_frame(TCPX_FRAME_END, p, 9);
	cr_assert_eq(proto_decode_data(&f, &d), -TCPX_E_MALFORMED);
	f.type = TCPX_FRAME_DATA;
	cr_assert_eq(proto_decode_data(&f, &d), 0);
}

/* ---- END, ABORT, BYE --------------------------------------------------- */

Test(proto_end, encode_matches_spec_example_and_round_trips)
{
	uint8_t dg[64];
	const uint8_t *got = NULL;
	tu_hex_decode(B2_HI, dg, 64);
	size_t n = proto_encode_end(out, dg);
	cr_assert_eq(n, 72u);
	expect_bytes(out, n, EX_END);
	struct tcpx_frame f = as_frame(out, n);
	cr_assert_eq(proto_decode_end(&f, &got), 0);
	cr_assert_eq(got, out + 8);
}

Test(proto_end, malformed)
{
	static uint8_t p[80];
	const uint8_t *got;
	size_t lens[] = { 0, 1, 63, 65, 80 };
	for (size_t i = 0; i < 5; i++) {
		struct tcpx_frame f = raw_frame(TCPX_FRAME_END, p, lens[i]);
		cr_assert_eq(proto_decode_end(&f, &got), -TCPX_E_MALFORMED, "len %zu", lens[i]);
	}
	struct tcpx_frame f = raw_frame(TCPX_FRAME_RESULT, p, 64);
	cr_assert_eq(proto_decode_end(&f, &got), -TCPX_E_MALFORMED);
}

Test(proto_empty, bye_and_abort)
{
	size_t n = proto_encode_empty(out, TCPX_FRAME_BYE);
	cr_assert_eq(n, 8u);
	expect_bytes(out, n, EX_BYE);
	struct tcpx_frame f = as_frame(out, n);
	cr_assert_eq(proto_decode_empty(&f), 0);
	n = proto_encode_empty(out, TCPX_FRAME_ABORT);
	expect_bytes(out, n, "05 00 00 00 00 00 00 00");
	f = as_frame(out, n);
	cr_assert_eq(proto_decode_empty(&f), 0);
	static const uint8_t one[1] = { 0 };
	f = raw_frame(TCPX_FRAME_BYE, one, 1);
	cr_assert_eq(proto_decode_empty(&f), -TCPX_E_MALFORMED);
	f = raw_frame(TCPX_FRAME_ABORT, one, 1);
	cr_assert_eq(proto_decode_empty(&f), -TCPX_E_MALFORMED);
}

/* ---- RESULT ------------------------------------------------------------ */

Test(proto_result, encode_matches_spec_examples)
{
	uint8_t dg[64];
	tu_hex_decode(B2_HI, dg, 64);
	size_t n = proto_encode_result(out, 1, 0, dg, NULL);
	cr_assert_eq(n, 80u);
	expect_bytes(out, n, EX_RESULT_OK);
	n = proto_encode_result(out, 1, 0, dg, "");
	expect_bytes(out, n, EX_RESULT_OK);
	/* no digest: 64 zero bytes */
	memset(out, 0xAA, 200);
	n = proto_encode_result(out, 1, TCPX_E_EXISTS, NULL, "exists");
	cr_assert_eq(n, 86u);
	expect_bytes(out, n, EX_RESULT_EXISTS);
}

Test(proto_result, round_trip)
{
	uint8_t dg[64];
	struct tcpx_result r;
	for (int i = 0; i < 64; i++)
		dg[i] = (uint8_t)(255 - i);
	size_t n = proto_encode_result(out, 0xDEADBEEFu, 0xFFFF, dg, "disk on fire");
	struct tcpx_frame f = as_frame(out, n);
	cr_assert_eq(proto_decode_result(&f, &r), 0);
	cr_assert_eq(r.id, 0xDEADBEEFu);
	cr_assert_eq(r.code, 0xFFFF);
	cr_assert_eq(r.msg_len, 12);
	cr_assert(memcmp(r.msg, "disk on fire", 12) == 0);
	cr_assert(memcmp(r.digest, dg, 64) == 0);
	cr_assert_eq(r.digest, out + 16);
	cr_assert_eq(r.msg, out + 80);
}

Test(proto_result, message_cut_at_1024)
{
	char msg[2001];
	struct tcpx_result r;
	for (int i = 0; i < 2000; i++)
		msg[i] = (char)('A' + i % 26);
	msg[2000] = '\0';
	size_t lens[] = { 1023, 1024, 1025, 2000 };
	for (size_t k = 0; k < 4; k++) {
		char saved = msg[lens[k]];
		msg[lens[k]] = '\0';
		memset(out, 0xCC, 8 + 72 + 1100);
		size_t n = proto_encode_result(out, 5, 37, NULL, msg);
		size_t want = lens[k] > 1024 ? 1024 : lens[k];
		cr_assert_eq(n, 8 + 72 + want, "msg %zu: frame %zu", lens[k], n);
		cr_assert_eq(out[n], 0xCC, "wrote past the frame");
		struct tcpx_frame f = as_frame(out, n);
		cr_assert_eq(proto_decode_result(&f, &r), 0);
		cr_assert_eq(r.msg_len, want);
		cr_assert(memcmp(r.msg, msg, want) == 0);
		msg[lens[k]] = saved;
	}
}

Test(proto_result, malformed)
{
	struct tcpx_result r;
	struct tu_buf b = { 0 };
	tu_put_result(&b, 1, 0, NULL, "hello");
	const uint8_t *p = b.p + 8;
	/* shorter than the fixed part */
	for (size_t n = 0; n < 72; n++) {
		struct tcpx_frame f = raw_frame(TCPX_FRAME_RESULT, p, n);
		cr_assert_eq(proto_decode_result(&f, &r), -TCPX_E_MALFORMED, "len %zu", n);
	}
	/* length != 72 + msg_len */
	size_t lens[] = { 72, 76, 78, 80 };
	for (size_t i = 0; i < 4; i++) {
		struct tcpx_frame f = raw_frame(TCPX_FRAME_RESULT, p, lens[i]);
		cr_assert_eq(proto_decode_result(&f, &r), -TCPX_E_MALFORMED, "len %zu", lens[i]);
	}
	struct tcpx_frame f = raw_frame(TCPX_FRAME_RESULT, p, 77);
	cr_assert_eq(proto_decode_result(&f, &r), 0);
	f.type = TCPX_FRAME_ERROR;
	cr_assert_eq(proto_decode_result(&f, &r), -TCPX_E_MALFORMED);
	tu_buf_free(&b);

	/* msg_len 1025 with a consistent length (hand-made, beyond the max) */
	static uint8_t big[72 + 1025];
	be16_store(big + 6, 1025);
	f = raw_frame(TCPX_FRAME_RESULT, big, sizeof(big));
	cr_assert_eq(proto_decode_result(&f, &r), -TCPX_E_MALFORMED);
	be16_store(big + 6, 1024);
	f = raw_frame(TCPX_FRAME_RESULT, big, 72 + 1024);
	cr_assert_eq(proto_decode_result(&f, &r), 0);
}

/* ---- ERROR ------------------------------------------------------------- */

Test(proto_error, encode_matches_spec_example)
{
	size_t n = proto_encode_error(out, TCPX_E_BUSY, "busy");
	cr_assert_eq(n, 16u);
	expect_bytes(out, n, EX_ERROR_BUSY);
	n = proto_encode_error(out, 3, NULL);
	expect_bytes(out, n, "08 00 00 00 00 00 00 04 00 03 00 00");
}

Test(proto_error, round_trip_and_cut)
{
	char msg[1501];
	struct tcpx_error e;
	memset(msg, 'm', 1500);
	msg[1500] = '\0';
	memset(out, 0xCC, 8 + 4 + 1100);
	size_t n = proto_encode_error(out, 0xABCD, msg);
	cr_assert_eq(n, 8u + 4u + 1024u);
	cr_assert_eq(out[n], 0xCC, "wrote past the frame");
	struct tcpx_frame f = as_frame(out, n);
	cr_assert_eq(proto_decode_error(&f, &e), 0);
	cr_assert_eq(e.code, 0xABCD);
	cr_assert_eq(e.msg_len, 1024);
	cr_assert_eq(e.msg, out + 12);
	n = proto_encode_error(out, 7, "zlib");
	f = as_frame(out, n);
	cr_assert_eq(proto_decode_error(&f, &e), 0);
	cr_assert_eq(e.code, 7);
	cr_assert_eq(e.msg_len, 4);
	cr_assert(memcmp(e.msg, "zlib", 4) == 0);
}

Test(proto_error, malformed)
{
	struct tcpx_error e;
	struct tu_buf b = { 0 };
	tu_put_error(&b, 9, "busy");
	const uint8_t *p = b.p + 8;
	size_t lens[] = { 0, 1, 2, 3, 4, 7, 9 };
	for (size_t i = 0; i < 7; i++) {
		struct tcpx_frame f = raw_frame(TCPX_FRAME_ERROR, p, lens[i]);
		cr_assert_eq(proto_decode_error(&f, &e), -TCPX_E_MALFORMED, "len %zu", lens[i]);
	}
	struct tcpx_frame f = raw_frame(TCPX_FRAME_ERROR, p, 8);
	cr_assert_eq(proto_decode_error(&f, &e), 0);
	f.type = TCPX_FRAME_RESULT;
	cr_assert_eq(proto_decode_error(&f, &e), -TCPX_E_MALFORMED);
	tu_buf_free(&b);

	static uint8_t big[4 + 1025];
	be16_store(big + 2, 1025);
	f = raw_frame(TCPX_FRAME_ERROR, big, sizeof(big));
	cr_assert_eq(proto_decode_error(&f, &e), -TCPX_E_MALFORMED);
}

/* Every encoder's output is a valid frame whose header frame_decode
 * accepts, at the largest sizes each can produce. */
Test(proto, encoders_stay_within_frame_limits)
{
	static uint8_t name[TCPX_NAME_MAX];
	char msg[1100];
	memset(name, 'x', sizeof(name));
	memset(msg, 'y', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	struct tcpx_file_meta m = { .id = 1, .name_len = TCPX_NAME_MAX, .name = name };
	struct tcpx_hello h = { 1, 1, 0 };
	uint8_t dg[64] = { 0 };
	size_t n;
	n = proto_encode_hello(out, &h);
	as_frame(out, n);
	n = proto_encode_file(out, &m);
	cr_assert_eq(n, 8u + 4126u);
	as_frame(out, n);
	n = proto_encode_data_header(out, 0, TCPX_CHUNK_MAX, TCPX_CHUNK_MAX);
	cr_assert_eq(n, (size_t)TCPX_FRAME_BUF_MAX);
	as_frame(out, n);
	n = proto_encode_end(out, dg);
	as_frame(out, n);
	n = proto_encode_result(out, 1, 1, dg, msg);
	cr_assert_eq(n, 8u + 1096u);
	as_frame(out, n);
	n = proto_encode_error(out, 1, msg);
	cr_assert_eq(n, 8u + 1028u);
	as_frame(out, n);
}

/* ---- DIR (TREE) --------------------------------------------------------- */

Test(proto_dir, encode_matches_spec_example)
{
	struct tcpx_file_meta m = { .id = 3, .size = 12345, .mode = 0755,
				    .mtime_sec = 981173106, .mtime_nsec = 0,
				    .name = (const uint8_t *)"photos",
				    .name_len = 6 };
	size_t n = proto_encode_dir(out, &m);
	expect_bytes(out, n, EX_DIR);    /* the size is not sent */
	n = proto_encode_result(out, 3, 0, NULL, NULL);
	expect_bytes(out, n, EX_RESULT_DIR);
}

Test(proto_dir, decode_round_trip)
{
	static uint8_t name[TCPX_NAME_MAX];
	memset(name, 'n', sizeof(name));
	struct tcpx_file_meta cases[] = {
		{ 1, 0, 0, 0, 0, 1, name },
		{ 0xFFFFFFFFu, 0, 07777, INT64_MIN, 999999999u, TCPX_NAME_MAX, name },
		{ 7, 0, 0700, -1, 500000000u, 3, name },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tcpx_file_meta m;
		size_t n = proto_encode_dir(out, &cases[i]);
		cr_assert_eq(n, 8u + 22u + cases[i].name_len);
		struct tcpx_frame f = as_frame(out, n);
		cr_assert_eq(f.type, TCPX_FRAME_DIR);
		cr_assert_eq(proto_decode_dir(&f, &m), 0, "case %zu", i);
		cr_assert_eq(m.id, cases[i].id);
		cr_assert_eq(m.size, 0u);
		cr_assert_eq(m.mode, cases[i].mode);
		cr_assert_eq(m.mtime_sec, cases[i].mtime_sec);
		cr_assert_eq(m.mtime_nsec, cases[i].mtime_nsec);
		cr_assert_eq(m.name_len, cases[i].name_len);
		cr_assert(memcmp(m.name, name, m.name_len) == 0);
	}
}

Test(proto_dir, malformed)
{
	uint8_t p[22 + 2] = { 0, 0, 0, 1, 0, 0, 0x01, 0xed };
	struct tcpx_file_meta m;
	struct tcpx_frame f;

	p[21] = 1;
	p[22] = 'a';
	f = raw_frame(TCPX_FRAME_DIR, p, 23);
	cr_assert_eq(proto_decode_dir(&f, &m), 0);
	f = raw_frame(TCPX_FRAME_DIR, p, 21);           /* short fixed part */
	cr_assert_eq(proto_decode_dir(&f, &m), -TCPX_E_MALFORMED);
	f = raw_frame(TCPX_FRAME_DIR, p, 24);           /* a byte too many */
	cr_assert_eq(proto_decode_dir(&f, &m), -TCPX_E_MALFORMED);
	f = raw_frame(TCPX_FRAME_FILE, p, 23);          /* not a DIR */
	cr_assert_eq(proto_decode_dir(&f, &m), -TCPX_E_MALFORMED);
	p[21] = 0;                                      /* empty name */
	f = raw_frame(TCPX_FRAME_DIR, p, 22);
	cr_assert_eq(proto_decode_dir(&f, &m), -TCPX_E_MALFORMED);
	p[21] = 1;
	p[5] = 0x10;                                    /* mode 010755 */
	f = raw_frame(TCPX_FRAME_DIR, p, 23);
	cr_assert_eq(proto_decode_dir(&f, &m), -TCPX_E_MALFORMED);
	p[5] = 0;
	p[16] = 0x3b, p[17] = 0x9a, p[18] = 0xca, p[19] = 0x00; /* 1e9 ns */
	f = raw_frame(TCPX_FRAME_DIR, p, 23);
	cr_assert_eq(proto_decode_dir(&f, &m), -TCPX_E_MALFORMED);
	cr_assert_eq(proto_max_payload(TCPX_FRAME_DIR), 22 + TCPX_NAME_MAX);
	cr_assert_str_eq(proto_frame_spec(TCPX_FRAME_DIR)->name, "DIR");
}

/* ---- STREAM_END (type 13, STREAM) ----------------------------------------- */

/* man/tcpxfer.5, EXAMPLE: the stream a.txt (FILE of unknown size, then
 * STREAM_END with size 3 and the digest of "hi\n"). */
#define EX_FILE_STREAM "02 00 00 00 00 00 00 23 00 00 00 01 ff ff ff ff ff ff ff ff" \
		 "00 00 01 a4 00 00 00 00 65 53 f1 00 00 00 00 00 00 05" \
		 "61 2e 74 78 74"
#define EX_STREAM_END "0d 00 00 00 00 00 00 48 00 00 00 00 00 00 00 03" B2_HI

Test(proto_stream_end, encode_matches_spec_example_and_round_trips)
{
	uint8_t dg[DIGEST_LEN];
	tu_hex_decode(B2_HI, dg, sizeof(dg));
	struct tcpx_file_meta m = { .id = 1, .size = TCPX_SIZE_UNKNOWN,
				    .mode = 0644, .mtime_sec = 1700000000,
				    .name_len = 5, .name = (const uint8_t *)"a.txt" };
	size_t n = proto_encode_file(out, &m);
	expect_bytes(out, n, EX_FILE_STREAM);
	n = proto_encode_stream_end(out, 3, dg);
	cr_assert_eq(n, 8u + TCPX_STREAM_END_LEN);
	expect_bytes(out, n, EX_STREAM_END);
	struct tcpx_frame f = as_frame(out, n);
	uint64_t size = 0;
	const uint8_t *d = NULL;
	cr_assert_eq(proto_decode_stream_end(&f, &size, &d), 0);
	cr_assert_eq(size, 3u);
	cr_assert_arr_eq(d, dg, DIGEST_LEN);
	/* the largest size a stream may have */
	n = proto_encode_stream_end(out, TCPX_SIZE_UNKNOWN - 1, dg);
	f = as_frame(out, n);
	cr_assert_eq(proto_decode_stream_end(&f, &size, &d), 0);
	cr_assert_eq(size, TCPX_SIZE_UNKNOWN - 1);
}

Test(proto_stream_end, malformed)
{
	uint8_t p[80] = { 0 };
	uint64_t size;
	const uint8_t *d;
	struct tcpx_frame f = raw_frame(TCPX_FRAME_STREAM_END, p, 71);
	cr_assert_eq(proto_decode_stream_end(&f, &size, &d), -TCPX_E_MALFORMED);
	f = raw_frame(TCPX_FRAME_STREAM_END, p, 73);
	cr_assert_eq(proto_decode_stream_end(&f, &size, &d), -TCPX_E_MALFORMED);
	f = raw_frame(TCPX_FRAME_END, p, 72);
	cr_assert_eq(proto_decode_stream_end(&f, &size, &d), -TCPX_E_MALFORMED);
	/* the marker of "unknown" is no final size */
	memset(p, 0xff, 8);
	f = raw_frame(TCPX_FRAME_STREAM_END, p, 72);
	cr_assert_eq(proto_decode_stream_end(&f, &size, &d), -TCPX_E_MALFORMED);
	/* longer than 72 is refused from the header */
	uint8_t hdr[8];
	size_t c;
	frame_header_encode(hdr, TCPX_FRAME_STREAM_END, 73);
	cr_assert_eq(frame_decode(hdr, 8, &proto_frame_limits, &f, &c, NULL),
		     -TCPX_E_FRAME_TOO_LARGE);
	cr_assert_eq(proto_max_payload(TCPX_FRAME_STREAM_END), 72);
	cr_assert_str_eq(proto_frame_spec(TCPX_FRAME_STREAM_END)->name, "STREAM_END");
}

Test(proto_stream_end, capability_bit_3_in_v1)
{
	cr_assert_eq(TCPX_CAP_STREAM, 8u);
	cr_assert(TCPX_CAPS_V1 & TCPX_CAP_STREAM);
	cr_assert_eq(TCPX_CAPS_V1, 0x10fu);
}

Test(proto_data, capability_bit_8_zstd)
{
	cr_assert_eq(TCPX_CAP_ZSTD, 0x100u);
	cr_assert(TCPX_CAPS_V1 & TCPX_CAP_ZSTD);
	cr_assert_eq(TCPX_ENCODING_ZSTD, 2u);
}

/* ---- OFFER, ANSWER, RESUME (OFFER capability) --------------------------- */

/* man/tcpxfer.5 EXAMPLE, the offer of a.txt and the answers to it. */
#define EX_OFFER \
	"0a 00 00 00 00 00 00 25 00 00 00 01 00 00 00 00 00 00 00 03" \
	"00 00 01 a4 00 00 00 00 65 53 f1 00 00 00 00 00 00 05 00 01" \
	"61 2e 74 78 74"
#define EX_RESUME \
	"0c 00 00 00 00 00 00 2b 00 00 00 01 00 00 00 00 00 00 00 03" \
	"00 00 01 a4 00 00 00 00 65 53 f1 00 00 00 00 00 00 05" \
	"00 00 00 00 00 00 00 02 61 2e 74 78 74"

static const struct tcpx_file_meta ex_meta = {
	.id = 1, .size = 3, .mode = 0644, .mtime_sec = 1700000000,
	.name = (const uint8_t *)"a.txt", .name_len = 5 };

Test(proto_offer, encode_matches_spec_examples)
{
	struct tcpx_offer o = { .meta = ex_meta, .flags = TCPX_OFFER_RESUME };
	size_t n = proto_encode_offer(out, &o);
	expect_bytes(out, n, EX_OFFER);
	n = proto_encode_resume(out, &ex_meta, 2);
	expect_bytes(out, n, EX_RESUME);

	struct tcpx_answer a = { .id = 1, .disposition = TCPX_ANSWER_SAME_TIME };
	n = proto_encode_answer(out, &a);
	cr_assert_eq(n, 90u);
	uint8_t want[90] = { 0x0b, 0, 0, 0, 0, 0, 0, 0x52, 0, 0, 0, 1, 2 };
	cr_assert_arr_eq(out, want, 90);
	/* RESUME: offset 2 and the digest of "hi" (b2sum) */
	uint8_t hi[64];
	tu_digest_of((const uint8_t *)"hi", 2, hi);
	expect_bytes(hi, 8, "bf bc be 7a de 93 03 4e");
	a = (struct tcpx_answer){ .id = 1, .disposition = TCPX_ANSWER_RESUME,
				  .offset = 2, .digest = hi };
	n = proto_encode_answer(out, &a);
	expect_bytes(out, 24, "0b 00 00 00 00 00 00 52 00 00 00 01 01 00 00 00"
			      "00 00 00 00 00 00 00 02");
	cr_assert_arr_eq(out + 24, hi, 64);
	cr_assert_eq(out[88], 0);
	cr_assert_eq(out[89], 0);
}

Test(proto_offer, round_trips)
{
	uint8_t dg[64];
	memset(dg, 0xab, sizeof(dg));
	struct tcpx_offer o = { .meta = ex_meta, .policy = TCPX_POLICY_KEEP_BOTH,
				.flags = TCPX_OFFER_CHECKSUM | TCPX_OFFER_RESUME,
				.digest = dg }, g;
	size_t n = proto_encode_offer(out, &o);
	cr_assert_eq(n, 8u + 32 + 64 + 5);
	struct tcpx_frame f = as_frame(out, n);
	cr_assert_eq(proto_decode_offer(&f, &g), 0);
	cr_assert_eq(g.meta.size, 3u);
	cr_assert_eq(g.policy, TCPX_POLICY_KEEP_BOTH);
	cr_assert_arr_eq(g.digest, dg, 64);
	cr_assert_eq(memcmp(g.meta.name, "a.txt", 5), 0);

	struct tcpx_answer a = { .id = 7, .disposition = TCPX_ANSWER_REFUSED,
				 .code = 41, .msg = (const uint8_t *)"dup",
				 .msg_len = 3 }, ga;
	n = proto_encode_answer(out, &a);
	f = as_frame(out, n);
	cr_assert_eq(proto_decode_answer(&f, &ga), 0);
	cr_assert_eq(ga.id, 7u);
	cr_assert_eq(ga.code, 41);
	cr_assert_eq(ga.msg_len, 3);

	struct tcpx_file_meta m;
	uint64_t off;
	n = proto_encode_resume(out, &ex_meta, 3);
	f = as_frame(out, n);
	cr_assert_eq(proto_decode_resume(&f, &m, &off), 0);
	cr_assert_eq(off, 3u);
	cr_assert_eq(m.name_len, 5);
}

Test(proto_offer, malformed)
{
	struct tcpx_offer o = { .meta = ex_meta }, g;
	struct tcpx_frame f;
	size_t n = proto_encode_offer(out, &o);

	out[8 + 30] = 3;        /* policy 3 */
	f = raw_frame(TCPX_FRAME_OFFER, out + 8, n - 8);
	cr_assert_eq(proto_decode_offer(&f, &g), -TCPX_E_MALFORMED);
	out[8 + 30] = 0;
	out[8 + 31] = 0x04;     /* an unknown flag */
	cr_assert_eq(proto_decode_offer(&f, &g), -TCPX_E_MALFORMED);
	out[8 + 31] = TCPX_OFFER_CHECKSUM;      /* says a digest follows: none */
	cr_assert_eq(proto_decode_offer(&f, &g), -TCPX_E_MALFORMED);
	out[8 + 31] = 0;
	f.length--;             /* one byte short of the name */
	cr_assert_eq(proto_decode_offer(&f, &g), -TCPX_E_MALFORMED);

	struct tcpx_answer a = { .id = 1, .disposition = TCPX_ANSWER_SEND }, ga;
	n = proto_encode_answer(out, &a);
	f = raw_frame(TCPX_FRAME_ANSWER, out + 8, n - 8);
	cr_assert_eq(proto_decode_answer(&f, &ga), 0);
	out[8 + 4] = 5;         /* no such disposition */
	cr_assert_eq(proto_decode_answer(&f, &ga), -TCPX_E_MALFORMED);
	out[8 + 4] = TCPX_ANSWER_REFUSED;       /* refused without a code */
	cr_assert_eq(proto_decode_answer(&f, &ga), -TCPX_E_MALFORMED);
	out[8 + 4] = TCPX_ANSWER_RESUME;        /* resume without an offset */
	cr_assert_eq(proto_decode_answer(&f, &ga), -TCPX_E_MALFORMED);
	out[8 + 4] = TCPX_ANSWER_SEND;
	out[8 + 15] = 1;        /* an offset without resume */
	cr_assert_eq(proto_decode_answer(&f, &ga), -TCPX_E_MALFORMED);
	out[8 + 15] = 0;
	out[8 + 5] = 1;         /* reserved */
	cr_assert_eq(proto_decode_answer(&f, &ga), -TCPX_E_MALFORMED);

	struct tcpx_file_meta m;
	uint64_t off;
	n = proto_encode_resume(out, &ex_meta, 3);
	f = raw_frame(TCPX_FRAME_RESUME, out + 8, n - 8);
	cr_assert_eq(proto_decode_resume(&f, &m, &off), 0);
	be64_store(out + 8 + 30, 4);    /* past the size */
	cr_assert_eq(proto_decode_resume(&f, &m, &off), -TCPX_E_MALFORMED);
	be64_store(out + 8 + 30, 0);    /* from 0 is a FILE */
	cr_assert_eq(proto_decode_resume(&f, &m, &off), -TCPX_E_MALFORMED);
}

/* man/tcpxfer.5 EXAMPLE: the stream a.txt offered (OFFER and STREAM), its
 * size unknown and no flags, and the ANSWER SEND to it. */
#define EX_OFFER_STREAM \
	"0a 00 00 00 00 00 00 25 00 00 00 01 ff ff ff ff ff ff ff ff" \
	"00 00 01 a4 00 00 00 00 65 53 f1 00 00 00 00 00 00 05 00 00" \
	"61 2e 74 78 74"
#define EX_ANSWER_SEND \
	"0b 00 00 00 00 00 00 52 00 00 00 01 00 00 00 00" \
	"00 00 00 00 00 00 00 00" \
	"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00" \
	"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00" \
	"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00" \
	"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00" \
	"00 00"

Test(proto_offer, stream_offer_matches_spec_example)
{
	struct tcpx_offer o = { .meta = ex_meta }, back;
	o.meta.size = TCPX_SIZE_UNKNOWN;
	size_t n = proto_encode_offer(out, &o);
	expect_bytes(out, n, EX_OFFER_STREAM);
	struct tcpx_frame f = as_frame(out, n);
	cr_assert_eq(proto_decode_offer(&f, &back), 0);
	cr_assert_eq(back.meta.size, TCPX_SIZE_UNKNOWN);
	cr_assert_eq(back.flags, 0);
	struct tcpx_answer a = { .id = 1, .disposition = TCPX_ANSWER_SEND };
	n = proto_encode_answer(out, &a);
	expect_bytes(out, n, EX_ANSWER_SEND);
	/* what follows is the STREAM example's FILE, byte for byte */
	o.meta.id = 1;
	n = proto_encode_file(out, &o.meta);
	expect_bytes(out, n, EX_FILE_STREAM);
}

/* ---- STREAMS, JOIN, PLACE, JOINED (MULTI) ------------------------------- */

/* man/tcpxfer.5, SEVERAL CONNECTIONS: the examples, byte for byte. */
#define EX_TOKEN "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f" \
		 "10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f"
#define EX_STREAMS "14 00 00 00 00 00 00 22" EX_TOKEN "00 07"
#define EX_JOIN "15 00 00 00 00 00 00 22" EX_TOKEN "00 01"
#define EX_PLACE "16 00 00 00 00 00 00 0c 00 00 00 01 00 00 00 00 00 04 00 00"
#define EX_JOINED "17 00 00 00 00 00 00 00"

Test(proto_multi, encode_matches_spec_examples)
{
	uint8_t token[32];
	struct tcpx_join j;
	uint32_t id;
	uint64_t off;
	for (unsigned i = 0; i < 32; i++)
		token[i] = (uint8_t)i;
	size_t n = proto_encode_streams(out, token, 7);
	expect_bytes(out, n, EX_STREAMS);
	struct tcpx_frame f = as_frame(out, n);
	cr_assert_eq(proto_decode_streams(&f, &j), 0);
	cr_assert_arr_eq(j.token, token, 32);
	cr_assert_eq(j.n, 7);
	n = proto_encode_join(out, token, 1);
	expect_bytes(out, n, EX_JOIN);
	f = as_frame(out, n);
	cr_assert_eq(proto_decode_join(&f, &j), 0);
	cr_assert_eq(j.n, 1);
	n = proto_encode_place(out, 1, 262144);
	expect_bytes(out, n, EX_PLACE);
	f = as_frame(out, n);
	cr_assert_eq(proto_decode_place(&f, &id, &off), 0);
	cr_assert_eq(id, 1u);
	cr_assert_eq(off, 262144u);
	n = proto_encode_empty(out, TCPX_FRAME_JOINED);
	expect_bytes(out, n, EX_JOINED);
	cr_assert_str_eq(proto_frame_spec(TCPX_FRAME_JOINED)->name, "JOINED");
}

Test(proto_multi, malformed)
{
	uint8_t token[32] = { 0 };
	struct tcpx_join j;
	uint32_t id;
	uint64_t off;
	size_t n = proto_encode_streams(out, token, 64);
	struct tcpx_frame f = as_frame(out, n);
	cr_assert_eq(proto_decode_streams(&f, &j), 0);   /* 64 is the most */
	n = proto_encode_streams(out, token, 65);
	f = raw_frame(TCPX_FRAME_STREAMS, out + 8, n - 8);
	cr_assert_eq(proto_decode_streams(&f, &j), -TCPX_E_MALFORMED);
	n = proto_encode_streams(out, token, 0);         /* takes none: fine */
	f = raw_frame(TCPX_FRAME_STREAMS, out + 8, n - 8);
	cr_assert_eq(proto_decode_streams(&f, &j), 0);
	n = proto_encode_join(out, token, 0);            /* index 0 */
	f = raw_frame(TCPX_FRAME_JOIN, out + 8, n - 8);
	cr_assert_eq(proto_decode_join(&f, &j), -TCPX_E_MALFORMED);
	n = proto_encode_join(out, token, 65);
	f = raw_frame(TCPX_FRAME_JOIN, out + 8, n - 8);
	cr_assert_eq(proto_decode_join(&f, &j), -TCPX_E_MALFORMED);
	f = raw_frame(TCPX_FRAME_JOIN, out + 8, 33);     /* a byte short */
	cr_assert_eq(proto_decode_join(&f, &j), -TCPX_E_MALFORMED);
	n = proto_encode_place(out, 0, 5);               /* id 0 */
	f = raw_frame(TCPX_FRAME_PLACE, out + 8, n - 8);
	cr_assert_eq(proto_decode_place(&f, &id, &off), -TCPX_E_MALFORMED);
	n = proto_encode_place(out, 3, 5);
	f = raw_frame(TCPX_FRAME_PLACE, out + 8, 13);    /* a byte too many */
	cr_assert_eq(proto_decode_place(&f, &id, &off), -TCPX_E_MALFORMED);
	f = raw_frame(TCPX_FRAME_STREAMS, out + 8, n - 8);  /* wrong type */
	cr_assert_eq(proto_decode_place(&f, &id, &off), -TCPX_E_MALFORMED);
}
