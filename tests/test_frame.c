/*
 * Tests for src/frame.c: the 8-byte header and the frame_reader, judged by
 * proto's table of frame types (and, once, by a made-up protocol, since
 * frame knows no type itself); then a table of malformed frames through
 * frame_decode() and proto's decoders, and a walk over proto's table.
 */
#include "testutil.h"

#include <criterion/parameterized.h>

/* The FRAMES table of man/tcpxfer.5, by type: Name and Max. */
/* Types 1..9, 10-12 of the OFFER capability, 13 (STREAM_END) of STREAM. */
#define TYPES 24
static const uint32_t type_max[TYPES] = {
	0, 256, 4126, 262152, 64, 0, 1096, 0, 1028, 4118, 4192, 1106, 4134,
	72, 0, 0, 0, 0, 0, 0, 34, 34, 12, 0,
};
static const char *const type_name[TYPES] = {
	NULL, "HELLO", "FILE", "DATA", "END", "ABORT", "RESULT", "BYE", "ERROR",
	"DIR", "OFFER", "ANSWER", "RESUME", "STREAM_END", NULL, NULL, NULL,
	NULL, NULL, NULL, "STREAMS", "JOIN", "PLACE", "JOINED",
};

/* A heap copy of exactly n bytes, so ASan catches any read past it. */
static uint8_t *exact_copy(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);
	cr_assert(q != NULL);
	memcpy(q, p, n);
	return q;
}

static int decode(const uint8_t *p, size_t n, struct tcpx_frame *f,
		  size_t *consumed, size_t *need)
{
	uint8_t *q = exact_copy(p, n);
	int rc = frame_decode(q, n, &proto_frame_limits, f, consumed, need);
	if (rc == 1)
		f->payload = p + (f->payload - q);
	free(q);
	return rc;
}

Test(frame, header_encode_bytes)
{
	uint8_t out[8];
	static const uint8_t want[8] = { 3, 0, 0, 0, 0x01, 0x02, 0x03, 0x04 };
	frame_header_encode(out, TCPX_FRAME_DATA, 0x01020304u);
	cr_assert_arr_eq(out, want, 8);
	frame_header_encode(out, TCPX_FRAME_ERROR, 0xFFFFFFFFu);
	static const uint8_t want2[8] = { 8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
	cr_assert_arr_eq(out, want2, 8);
}

Test(frame, max_payload_per_type)
{
	for (unsigned t = 1; t <= 13; t++)
		cr_assert_eq(proto_max_payload((uint8_t)t), (int64_t)type_max[t],
			     "type %u", t);
	cr_assert_eq(proto_max_payload(0), -1);
	cr_assert_eq(proto_max_payload(14), -1);
	cr_assert_eq(proto_max_payload(255), -1);
	cr_assert_eq(TCPX_MAX_PAYLOAD, 262152u);
	cr_assert_eq(TCPX_FRAME_BUF_MAX, 262160u);
}

Test(frame, round_trip_every_type_at_max_and_zero)
{
	for (unsigned t = 1; t <= 13; t++) {
		uint32_t lens[2] = { 0, type_max[t] };
		for (int k = 0; k < 2; k++) {
			struct tu_buf b = { 0 };
			uint8_t hdr[8];
			frame_header_encode(hdr, (uint8_t)t, lens[k]);
			tu_buf_put(&b, hdr, 8);
			for (uint32_t i = 0; i < lens[k]; i++)
				tu_buf_u8(&b, (uint8_t)(i * 13 + t));
			struct tcpx_frame f;
			size_t consumed = 99, need = 99;
			int rc = decode(b.p, b.len, &f, &consumed, &need);
			cr_assert_eq(rc, 1, "type %u len %u: rc %d", t, lens[k], rc);
			cr_assert_eq(f.type, t);
			cr_assert_eq(f.length, lens[k]);
			cr_assert_eq(consumed, 8u + lens[k]);
			cr_assert_eq(need, 8u + lens[k]);
			cr_assert_eq(f.payload, b.p + 8);
			for (uint32_t i = 0; i < lens[k]; i++)
				cr_assert_eq(f.payload[i], (uint8_t)(i * 13 + t));
			tu_buf_free(&b);
		}
	}
}

Test(frame, decodes_only_the_first_of_two)
{
	struct tu_buf b = { 0 };
	tu_put_frame(&b, TCPX_FRAME_END, (const uint8_t[64]){ 1, 2, 3 }, 64);
	tu_put_empty(&b, TCPX_FRAME_BYE);
	struct tcpx_frame f;
	size_t consumed, need;
	cr_assert_eq(frame_decode(b.p, b.len, &proto_frame_limits, &f, &consumed,
				  &need), 1);
	cr_assert_eq(f.type, TCPX_FRAME_END);
	cr_assert_eq(consumed, 72u);
	cr_assert_eq(f.payload[0], 1);
	cr_assert_eq(f.payload[2], 3);
	cr_assert_eq(frame_decode(b.p + consumed, b.len - consumed,
				  &proto_frame_limits, &f, &consumed, &need), 1);
	cr_assert_eq(f.type, TCPX_FRAME_BYE);
	cr_assert_eq(f.length, 0u);
	cr_assert_eq(consumed, 8u);
	tu_buf_free(&b);
}

Test(frame, short_header_needs_more)
{
	static const uint8_t hdr[8] = { 1, 0, 0, 0, 0, 0, 0, 16 };
	for (size_t n = 0; n < 8; n++) {
		struct tcpx_frame f;
		size_t consumed = 77, need = 77;
		cr_assert_eq(decode(hdr, n, &f, &consumed, &need), 0, "len %zu", n);
		cr_assert_eq(consumed, 0u);
		cr_assert_eq(need, 8u, "len %zu: need %zu", n, need);
		/* need may be NULL */
		cr_assert_eq(decode(hdr, n, &f, &consumed, NULL), 0);
	}
}

Test(frame, partial_payload_reports_total_need)
{
	struct tu_buf b = { 0 };
	tu_put_hello(&b, 1, 1, 0);
	for (size_t n = 8; n < b.len; n++) {
		struct tcpx_frame f;
		size_t consumed = 5, need = 0;
		cr_assert_eq(decode(b.p, n, &f, &consumed, &need), 0);
		cr_assert_eq(consumed, 0u);
		cr_assert_eq(need, 24u, "len %zu: need %zu", n, need);
		cr_assert_eq(f.type, TCPX_FRAME_HELLO);
		cr_assert_eq(f.length, 16u);
	}
	tu_buf_free(&b);
}

Test(frame, unknown_types_are_unexpected_from_header_alone)
{
	static const uint8_t types[] = { 0, 14, 15, 100, 255 };
	for (size_t i = 0; i < sizeof(types); i++) {
		uint8_t hdr[8] = { types[i], 0, 0, 0, 0, 0, 0, 0 };
		struct tcpx_frame f;
		size_t consumed = 3, need;
		cr_assert_eq(decode(hdr, 8, &f, &consumed, &need), -TCPX_E_UNEXPECTED,
			     "type %u", types[i]);
		cr_assert_eq(consumed, 0u);
	}
}

Test(frame, nonzero_flags_or_reserved_are_malformed)
{
	for (int byte = 1; byte <= 3; byte++)
		for (int bit = 0; bit < 8; bit++) {
			uint8_t hdr[8] = { TCPX_FRAME_BYE, 0, 0, 0, 0, 0, 0, 0 };
			hdr[byte] = (uint8_t)(1u << bit);
			struct tcpx_frame f;
			size_t consumed, need;
			cr_assert_eq(decode(hdr, 8, &f, &consumed, &need),
				     -TCPX_E_MALFORMED, "byte %d bit %d", byte, bit);
		}
}

Test(frame, checks_in_spec_order)
{
	/* type (3) before flags (1) before length (2) */
	uint8_t hdr[8] = { 14, 1, 0, 1, 0xff, 0xff, 0xff, 0xff };
	struct tcpx_frame f;
	size_t c;
	cr_assert_eq(decode(hdr, 8, &f, &c, NULL), -TCPX_E_UNEXPECTED);
	hdr[0] = TCPX_FRAME_DATA;
	cr_assert_eq(decode(hdr, 8, &f, &c, NULL), -TCPX_E_MALFORMED);
	hdr[1] = hdr[3] = 0;
	cr_assert_eq(decode(hdr, 8, &f, &c, NULL), -TCPX_E_FRAME_TOO_LARGE);
}

Test(frame, length_above_max_detected_from_header_alone)
{
	for (unsigned t = 1; t <= 13; t++) {
		uint32_t bad[] = { type_max[t] + 1, type_max[t] + 1000,
				   0x80000000u, 0xFFFFFFFFu };
		for (size_t i = 0; i < 4; i++) {
			uint8_t hdr[8];
			frame_header_encode(hdr, (uint8_t)t, bad[i]);
			struct tcpx_frame f;
			size_t consumed = 1, need = 1;
			cr_assert_eq(decode(hdr, 8, &f, &consumed, &need),
				     -TCPX_E_FRAME_TOO_LARGE, "type %u len %u", t, bad[i]);
			cr_assert_eq(consumed, 0u);
		}
	}
}

Test(frame, exact_max_accepted_header_alone_needs_more)
{
	for (unsigned t = 1; t <= 13; t++) {
		uint8_t hdr[8];
		frame_header_encode(hdr, (uint8_t)t, type_max[t]);
		struct tcpx_frame f;
		size_t consumed = 1, need = 0;
		int rc = decode(hdr, 8, &f, &consumed, &need);
		if (type_max[t] == 0) {
			cr_assert_eq(rc, 1, "type %u", t);
			cr_assert_eq(consumed, 8u);
		} else {
			cr_assert_eq(rc, 0, "type %u: rc %d", t, rc);
			cr_assert_eq(need, 8u + type_max[t]);
			cr_assert_eq(consumed, 0u);
			cr_assert_eq(f.type, t);
			cr_assert_eq(f.length, type_max[t]);
		}
	}
}

/* ---- frame_reader ------------------------------------------------------ */

Test(frame_reader, empty_reader)
{
	struct frame_reader fr;
	struct tcpx_frame f;
	size_t cap = 0;
	cr_assert_eq(frame_reader_init(&fr, PROTO_READER_CAP,
				       &proto_frame_limits), 0);
	cr_assert_eq(frame_reader_buffered(&fr), 0u);
	cr_assert_eq(frame_reader_next(&fr, &f), 0);
	uint8_t *p = frame_reader_space(&fr, &cap);
	cr_assert(p != NULL);
	cr_assert_eq(cap, (size_t)PROTO_READER_CAP);
	cr_assert_eq(PROTO_READER_CAP, 262160u + 65536u);
	frame_reader_free(&fr);
	cr_assert_null(fr.buf);
}

Test(frame_reader, header_only_tells_type_and_length)
{
	struct frame_reader fr;
	struct tcpx_frame f;
	uint8_t hdr[8];
	cr_assert_eq(frame_reader_init(&fr, PROTO_READER_CAP,
				       &proto_frame_limits), 0);
	frame_header_encode(hdr, TCPX_FRAME_DATA, 1000);
	tu_reader_feed(&fr, hdr, 8, 0);
	cr_assert_eq(frame_reader_next(&fr, &f), 0);
	cr_assert_eq(f.type, TCPX_FRAME_DATA);
	cr_assert_eq(f.length, 1000u);
	cr_assert_eq(frame_reader_buffered(&fr), 8u);
	frame_reader_free(&fr);
}

Test(frame_reader, bad_header_reported)
{
	struct frame_reader fr;
	struct tcpx_frame f;
	uint8_t hdr[8];
	cr_assert_eq(frame_reader_init(&fr, PROTO_READER_CAP,
				       &proto_frame_limits), 0);
	frame_header_encode(hdr, TCPX_FRAME_DATA, 0xFFFFFFFFu);
	tu_reader_feed(&fr, hdr, 8, 0);
	cr_assert_eq(frame_reader_next(&fr, &f), -TCPX_E_FRAME_TOO_LARGE);
	frame_reader_free(&fr);
}

/* Frames of varying small sizes with a sequence number in the payload,
 * many times the buffer's capacity, fed in awkward piece sizes: every
 * frame must come out whole and in order, so compaction never loses or
 * reorders a byte. */
static void many_small_frames(size_t piece)
{
	struct frame_reader fr;
	struct tu_buf b = { 0 };
	const uint32_t count = 60000;

	for (uint32_t i = 0; i < count; i++) {
		uint8_t payload[64];
		uint32_t len = 4 + i % 60;
		be32_store(payload, i);
		for (uint32_t k = 4; k < len; k++)
			payload[k] = (uint8_t)(i + k);
		tu_put_frame(&b, TCPX_FRAME_END, payload, len);
	}
	cr_assert(b.len > 3 * PROTO_READER_CAP);
	cr_assert_eq(frame_reader_init(&fr, PROTO_READER_CAP,
				       &proto_frame_limits), 0);

	size_t off = 0;
	uint32_t next = 0;
	while (next < count) {
		size_t cap;
		uint8_t *dst = frame_reader_space(&fr, &cap);
		cr_assert(cap > 0, "no space with %zu buffered",
			  frame_reader_buffered(&fr));
		size_t k = b.len - off;
		if (k > cap)
			k = cap;
		if (k > piece)
			k = piece;
		memcpy(dst, b.p + off, k);
		off += k;
		frame_reader_commit(&fr, k);
		struct tcpx_frame f;
		int rc;
		while ((rc = frame_reader_next(&fr, &f)) == 1) {
			uint32_t len = 4 + next % 60;
			cr_assert_eq(f.type, TCPX_FRAME_END);
			cr_assert_eq(f.length, len);
			cr_assert_eq(be32_load(f.payload), next, "frame %u out of order", next);
			for (uint32_t j = 4; j < len; j++)
				cr_assert_eq(f.payload[j], (uint8_t)(next + j));
			next++;
		}
		cr_assert_eq(rc, 0);
	}
	cr_assert_eq(off, b.len);
	cr_assert_eq(frame_reader_buffered(&fr), 0u);
	frame_reader_free(&fr);
	tu_buf_free(&b);
}

Test(frame_reader, many_small_frames_pieces_of_7)    { many_small_frames(7); }
Test(frame_reader, many_small_frames_pieces_of_4099) { many_small_frames(4099); }
Test(frame_reader, many_small_frames_all_that_fits)  { many_small_frames((size_t)-1); }

Test(frame_reader, maximal_frame_byte_by_byte)
{
	struct frame_reader fr;
	struct tu_buf b = { 0 };
	struct tcpx_frame f;
	tu_put_header(&b, TCPX_FRAME_DATA, 0, 0, TCPX_MAX_PAYLOAD);
	for (uint32_t i = 0; i < TCPX_MAX_PAYLOAD; i++)
		tu_buf_u8(&b, (uint8_t)(i ^ (i >> 8)));
	tu_put_empty(&b, TCPX_FRAME_BYE);
	cr_assert_eq(frame_reader_init(&fr, PROTO_READER_CAP,
				       &proto_frame_limits), 0);

	size_t first = 8 + TCPX_MAX_PAYLOAD;
	for (size_t i = 0; i < first; i++) {
		size_t cap;
		uint8_t *dst = frame_reader_space(&fr, &cap);
		cr_assert(cap > 0);
		dst[0] = b.p[i];
		frame_reader_commit(&fr, 1);
		int rc = frame_reader_next(&fr, &f);
		if (i + 1 < first) {
			if (rc != 0)
				cr_assert_fail("byte %zu: rc %d before the frame is whole", i, rc);
			if (i >= 7 && (f.type != TCPX_FRAME_DATA ||
				       f.length != TCPX_MAX_PAYLOAD))
				cr_assert_fail("byte %zu: header not reported", i);
		} else {
			cr_assert_eq(rc, 1);
		}
	}
	cr_assert_eq(f.type, TCPX_FRAME_DATA);
	cr_assert_eq(f.length, TCPX_MAX_PAYLOAD);
	cr_assert(memcmp(f.payload, b.p + 8, TCPX_MAX_PAYLOAD) == 0);
	cr_assert_eq(frame_reader_buffered(&fr), 0u);
	tu_reader_feed(&fr, b.p + first, 8, 1);
	cr_assert_eq(frame_reader_next(&fr, &f), 1);
	cr_assert_eq(f.type, TCPX_FRAME_BYE);
	frame_reader_free(&fr);
	tu_buf_free(&b);
}

/* Maximal frames behind an odd-sized small one, committed with all the
 * space offered: the partial maximal frame must be moved to the front
 * (not cut) whenever the tail could not hold it. */
Test(frame_reader, maximal_frames_survive_compaction)
{
	struct frame_reader fr;
	struct tu_buf b = { 0 };
	const int count = 9;
	tu_put_frame(&b, TCPX_FRAME_ERROR, "\0\x01\0\x03" "abc", 7);
	for (int k = 0; k < count; k++) {
		tu_put_header(&b, TCPX_FRAME_DATA, 0, 0, TCPX_MAX_PAYLOAD);
		for (uint32_t i = 0; i < TCPX_MAX_PAYLOAD; i++)
			tu_buf_u8(&b, (uint8_t)(i * 7 + (uint32_t)k));
		tu_put_frame(&b, TCPX_FRAME_ERROR, "\0\x01\0\x03" "abc", 7 - (size_t)(k % 3));
	}
	cr_assert_eq(frame_reader_init(&fr, PROTO_READER_CAP,
				       &proto_frame_limits), 0);
	size_t off = 0;
	int datas = 0, errors = 0;
	size_t pieces[] = { 100000, 262160, 3, 524320, 77777 };
	int pi = 0;
	while (off < b.len) {
		size_t cap;
		uint8_t *dst = frame_reader_space(&fr, &cap);
		cr_assert(cap > 0);
		size_t k = b.len - off;
		if (k > cap)
			k = cap;
		if (k > pieces[pi % 5])
			k = pieces[pi % 5];
		pi++;
		memcpy(dst, b.p + off, k);
		frame_reader_commit(&fr, k);
		off += k;
		struct tcpx_frame f;
		while (frame_reader_next(&fr, &f) == 1) {
			if (f.type == TCPX_FRAME_ERROR) {
				errors++;
				continue;
			}
			cr_assert_eq(f.type, TCPX_FRAME_DATA);
			cr_assert_eq(f.length, TCPX_MAX_PAYLOAD);
			for (uint32_t i = 0; i < TCPX_MAX_PAYLOAD; i += 4097)
				cr_assert_eq(f.payload[i], (uint8_t)(i * 7 + (uint32_t)datas),
					     "frame %d byte %u", datas, i);
			cr_assert_eq(f.payload[TCPX_MAX_PAYLOAD - 1],
				     (uint8_t)((TCPX_MAX_PAYLOAD - 1) * 7 + (uint32_t)datas));
			datas++;
		}
	}
	cr_assert_eq(datas, count);
	cr_assert_eq(errors, count + 1);
	cr_assert_eq(frame_reader_buffered(&fr), 0u);
	frame_reader_free(&fr);
	tu_buf_free(&b);
}

/* After any frame is taken, there is room for at least a whole maximal
 * frame more than what is buffered can need. */
Test(frame_reader, space_always_offered_after_consuming)
{
	struct frame_reader fr;
	struct tcpx_frame f;
	uint8_t junk[8192];
	memset(junk, 0, sizeof(junk));
	cr_assert_eq(frame_reader_init(&fr, PROTO_READER_CAP,
				       &proto_frame_limits), 0);
	/* fill with BYE frames, then consume a varying number and check */
	for (int round = 0; round < 200; round++) {
		size_t cap;
		uint8_t *dst = frame_reader_space(&fr, &cap);
		size_t k = cap < sizeof(junk) ? cap : sizeof(junk);
		k -= k % 8;
		for (size_t i = 0; i < k; i += 8)
			frame_header_encode(dst + i, TCPX_FRAME_BYE, 0);
		frame_reader_commit(&fr, k);
		for (int j = 0; j < round % 1000 + 100; j++)
			if (frame_reader_next(&fr, &f) != 1)
				break;
		frame_reader_space(&fr, &cap);
		size_t buffered = frame_reader_buffered(&fr);
		cr_assert(cap > 0 || buffered >= TCPX_FRAME_BUF_MAX,
			  "round %d: cap %zu with %zu buffered", round, cap, buffered);
	}
	frame_reader_free(&fr);
}

/* ---- frame takes its limits from the caller ---------------------------- */

/* A made-up protocol with one type, 42, of at most 3 payload bytes. */
static int64_t toy_max_payload(uint8_t type)
{
	return type == 42 ? 3 : -1;
}

static const struct frame_limits toy_limits = { toy_max_payload, 3 };

Test(frame, limits_come_from_the_caller)
{
	uint8_t buf[16] = { 0 };
	struct tcpx_frame f;
	size_t c;

	frame_header_encode(buf, TCPX_FRAME_BYE, 0);
	cr_assert_eq(frame_decode(buf, 8, &toy_limits, &f, &c, NULL),
		     -TCPX_E_UNEXPECTED, "BYE is not a type of the toy protocol");
	frame_header_encode(buf, 42, 4);
	cr_assert_eq(frame_decode(buf, 12, &toy_limits, &f, &c, NULL),
		     -TCPX_E_FRAME_TOO_LARGE);
	cr_assert_eq(frame_decode(buf, 12, &proto_frame_limits, &f, &c, NULL),
		     -TCPX_E_UNEXPECTED, "42 is not a TCPX type");
	frame_header_encode(buf, 42, 3);
	cr_assert_eq(frame_decode(buf, 11, &toy_limits, &f, &c, NULL), 1);
	cr_assert_eq(c, 11u);

	struct frame_reader fr;
	cr_assert_eq(frame_reader_init(&fr, 1024, &toy_limits), 0);
	tu_reader_feed(&fr, buf, 11, 0);
	cr_assert_eq(frame_reader_next(&fr, &f), 1);
	cr_assert_eq(f.type, 42);
	frame_header_encode(buf, TCPX_FRAME_BYE, 0);
	tu_reader_feed(&fr, buf, 8, 0);
	cr_assert_eq(frame_reader_next(&fr, &f), -TCPX_E_UNEXPECTED);
	frame_reader_free(&fr);
}

/* ---- malformed frames, one row each ------------------------------------ */

/*
 * Where a malformed frame must be refused:
 *   AT_HEADER      frame_decode(), from the 8 header bytes alone (a hostile
 *                  length is never awaited);
 *   AT_PAYLOAD     the header is valid and the frame whole, and the type's
 *                  proto decoder refuses the payload;
 *   DECODER_ALONE  the header check would already refuse it; the decoder,
 *                  handed the payload directly, refuses it too.
 */
enum refused_at { AT_HEADER, AT_PAYLOAD, DECODER_ALONE };

#define OWN_LENGTH (-1)         /* the header declares the payload's length */

/* Criterion hands each row to a fresh process through shared memory, so
 * a row holds no pointer: every byte of it is inline. */
struct bad_frame {
	char what[80];
	uint8_t type, flags;
	uint16_t reserved;
	int64_t length;         /* declared in the header, or OWN_LENGTH */
	uint8_t payload[80];    /* the bytes after the header */
	uint32_t payload_len;
	enum refused_at at;
	int want;               /* the (negative) code it is refused with */
};

#define HEADER(t, f, r, len) .type = (t), .flags = (f), .reserved = (r), \
			     .length = (len), .at = AT_HEADER
#define PAYLOAD(t, n) .type = (t), .length = OWN_LENGTH, .payload_len = (n), \
		      .at = AT_PAYLOAD
/* Fixed parts, by man/tcpxfer.5 (MESSAGES), for a one-byte file id 1. */
#define HELLO_V1 'T', 'C', 'P', 'X', 0, 1, 0, 1
#define FILE_ID1_0644 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xA4

static struct bad_frame bad_frames[] = {
	/* The header, checked in order: type, flags and reserved, length. */
	{ "type 0", HEADER(0, 0, 0, 0), .want = -TCPX_E_UNEXPECTED },
	{ "type 14", HEADER(14, 0, 0, 0), .want = -TCPX_E_UNEXPECTED },
	{ "type 255", HEADER(255, 0, 0, 4), .want = -TCPX_E_UNEXPECTED },
	{ "type 14 with flags and length 0xFFFFFFFF: the type is judged first",
	  HEADER(14, 1, 1, 0xFFFFFFFF), .want = -TCPX_E_UNEXPECTED },
	{ "DIR of 4119 bytes", HEADER(TCPX_FRAME_DIR, 0, 0, 4119),
	  .want = -TCPX_E_FRAME_TOO_LARGE },
	{ "BYE with flags 0x01", HEADER(TCPX_FRAME_BYE, 0x01, 0, 0),
	  .want = -TCPX_E_MALFORMED },
	{ "DATA with flags 0x80", HEADER(TCPX_FRAME_DATA, 0x80, 0, 100),
	  .want = -TCPX_E_MALFORMED },
	{ "RESULT with reserved 0x0001", HEADER(TCPX_FRAME_RESULT, 0, 1, 72),
	  .want = -TCPX_E_MALFORMED },
	{ "HELLO with reserved 0x8000", HEADER(TCPX_FRAME_HELLO, 0, 0x8000, 16),
	  .want = -TCPX_E_MALFORMED },
	{ "DATA with flags and length 0xFFFFFFFF: flags are judged first",
	  HEADER(TCPX_FRAME_DATA, 2, 0, 0xFFFFFFFF), .want = -TCPX_E_MALFORMED },
	{ "HELLO of 257 bytes", HEADER(TCPX_FRAME_HELLO, 0, 0, 257),
	  .want = -TCPX_E_FRAME_TOO_LARGE },
	{ "FILE of 4127 bytes", HEADER(TCPX_FRAME_FILE, 0, 0, 4127),
	  .want = -TCPX_E_FRAME_TOO_LARGE },
	{ "DATA of 262153 bytes", HEADER(TCPX_FRAME_DATA, 0, 0, 262153),
	  .want = -TCPX_E_FRAME_TOO_LARGE },
	{ "END of 65 bytes", HEADER(TCPX_FRAME_END, 0, 0, 65),
	  .want = -TCPX_E_FRAME_TOO_LARGE },
	{ "ABORT of 1 byte", HEADER(TCPX_FRAME_ABORT, 0, 0, 1),
	  .want = -TCPX_E_FRAME_TOO_LARGE },
	{ "RESULT of 1097 bytes", HEADER(TCPX_FRAME_RESULT, 0, 0, 1097),
	  .want = -TCPX_E_FRAME_TOO_LARGE },
	{ "BYE of 1 byte", HEADER(TCPX_FRAME_BYE, 0, 0, 1),
	  .want = -TCPX_E_FRAME_TOO_LARGE },
	{ "ERROR of 1029 bytes", HEADER(TCPX_FRAME_ERROR, 0, 0, 1029),
	  .want = -TCPX_E_FRAME_TOO_LARGE },
	{ "HELLO of 0xFFFFFFFF bytes", HEADER(TCPX_FRAME_HELLO, 0, 0, 0xFFFFFFFF),
	  .want = -TCPX_E_FRAME_TOO_LARGE },
	{ "FILE of 0xFFFFFFFF bytes", HEADER(TCPX_FRAME_FILE, 0, 0, 0xFFFFFFFF),
	  .want = -TCPX_E_FRAME_TOO_LARGE },
	{ "DATA of 0xFFFFFFFF bytes", HEADER(TCPX_FRAME_DATA, 0, 0, 0xFFFFFFFF),
	  .want = -TCPX_E_FRAME_TOO_LARGE },
	{ "END of 0xFFFFFFFF bytes", HEADER(TCPX_FRAME_END, 0, 0, 0xFFFFFFFF),
	  .want = -TCPX_E_FRAME_TOO_LARGE },
	{ "ABORT of 0xFFFFFFFF bytes", HEADER(TCPX_FRAME_ABORT, 0, 0, 0xFFFFFFFF),
	  .want = -TCPX_E_FRAME_TOO_LARGE },
	{ "RESULT of 0xFFFFFFFF bytes",
	  HEADER(TCPX_FRAME_RESULT, 0, 0, 0xFFFFFFFF),
	  .want = -TCPX_E_FRAME_TOO_LARGE },
	{ "BYE of 0xFFFFFFFF bytes", HEADER(TCPX_FRAME_BYE, 0, 0, 0xFFFFFFFF),
	  .want = -TCPX_E_FRAME_TOO_LARGE },
	{ "ERROR of 0xFFFFFFFF bytes", HEADER(TCPX_FRAME_ERROR, 0, 0, 0xFFFFFFFF),
	  .want = -TCPX_E_FRAME_TOO_LARGE },

	/* HELLO: magic, version_min, version_max, capabilities (16). */
	{ "HELLO of 15 bytes", PAYLOAD(TCPX_FRAME_HELLO, 15),
	  .payload = { HELLO_V1 }, .want = -TCPX_E_MALFORMED },
	{ "HELLO with magic TCPY", PAYLOAD(TCPX_FRAME_HELLO, 16),
	  .payload = { 'T', 'C', 'P', 'Y', 0, 1, 0, 1 },
	  .want = -TCPX_E_BAD_MAGIC },
	{ "HELLO with version_min 0", PAYLOAD(TCPX_FRAME_HELLO, 16),
	  .payload = { 'T', 'C', 'P', 'X', 0, 0, 0, 1 },
	  .want = -TCPX_E_MALFORMED },
	{ "HELLO with version_min above version_max",
	  PAYLOAD(TCPX_FRAME_HELLO, 16),
	  .payload = { 'T', 'C', 'P', 'X', 0, 2, 0, 1 },
	  .want = -TCPX_E_MALFORMED },

	/* DIR: id, mode, mtime_sec, mtime_nsec, name_len (22), name. */
	{ "DIR of 21 bytes", PAYLOAD(TCPX_FRAME_DIR, 21),
	  .payload = { 0, 0, 0, 1, 0, 0, 0x01, 0xED }, .want = -TCPX_E_MALFORMED },
	{ "DIR with name_len 0 and no name", PAYLOAD(TCPX_FRAME_DIR, 22),
	  .payload = { 0, 0, 0, 1, 0, 0, 0x01, 0xED }, .want = -TCPX_E_MALFORMED },
	{ "DIR with name_len 2 and 1 name byte", PAYLOAD(TCPX_FRAME_DIR, 23),
	  .payload = { 0, 0, 0, 1, 0, 0, 0x01, 0xED, [21] = 2, 'a' },
	  .want = -TCPX_E_MALFORMED },
	{ "DIR with name_len 1 and 2 name bytes", PAYLOAD(TCPX_FRAME_DIR, 24),
	  .payload = { 0, 0, 0, 1, 0, 0, 0x01, 0xED, [21] = 1, 'a', 'b' },
	  .want = -TCPX_E_MALFORMED },
	{ "DIR with mode 010000", PAYLOAD(TCPX_FRAME_DIR, 23),
	  .payload = { 0, 0, 0, 1, 0, 1, 0, 0, [21] = 1, 'a' },
	  .want = -TCPX_E_MALFORMED },
	{ "DIR with mtime_nsec 1000000000", PAYLOAD(TCPX_FRAME_DIR, 23),
	  .payload = { 0, 0, 0, 1, 0, 0, 0x01, 0xED, [16] = 0x3B, 0x9A, 0xCA,
		       0x00, 0, 1, 'a' },
	  .want = -TCPX_E_MALFORMED },

	/* FILE: id, size, mode, mtime_sec, mtime_nsec, name_len (30), name. */
	{ "FILE of 29 bytes", PAYLOAD(TCPX_FRAME_FILE, 29),
	  .payload = { FILE_ID1_0644 }, .want = -TCPX_E_MALFORMED },
	{ "FILE with name_len 2 and 1 name byte", PAYLOAD(TCPX_FRAME_FILE, 31),
	  .payload = { FILE_ID1_0644, [29] = 2, 'a' },
	  .want = -TCPX_E_MALFORMED },
	{ "FILE with name_len 1 and 2 name bytes", PAYLOAD(TCPX_FRAME_FILE, 32),
	  .payload = { FILE_ID1_0644, [29] = 1, 'a', 'b' },
	  .want = -TCPX_E_MALFORMED },
	{ "FILE with name_len 0 and no name", PAYLOAD(TCPX_FRAME_FILE, 30),
	  .payload = { FILE_ID1_0644 }, .want = -TCPX_E_MALFORMED },
	{ "FILE with mode 010000", PAYLOAD(TCPX_FRAME_FILE, 31),
	  .payload = { 0, 0, 0, 1, [14] = 0x10, [29] = 1, 'a' },
	  .want = -TCPX_E_MALFORMED },
	{ "FILE with mtime_nsec 1000000000", PAYLOAD(TCPX_FRAME_FILE, 31),
	  .payload = { FILE_ID1_0644, [24] = 0x3B, 0x9A, 0xCA, 0x00, 0, 1, 'a' },
	  .want = -TCPX_E_MALFORMED },

	/* DATA: encoding, 3 reserved, raw_len (8), data. */
	{ "DATA with raw_len 0", PAYLOAD(TCPX_FRAME_DATA, 9),
	  .payload = { 0, 0, 0, 0, 0, 0, 0, 0, 'x' },
	  .want = -TCPX_E_MALFORMED },
	{ "DATA (zlib) with raw_len 262145, above the chunk maximum",
	  PAYLOAD(TCPX_FRAME_DATA, 9),
	  .payload = { 1, 0, 0, 0, 0x00, 0x04, 0x00, 0x01, 'x' },
	  .want = -TCPX_E_MALFORMED },
	{ "DATA with encoding 3", PAYLOAD(TCPX_FRAME_DATA, 9),
	  .payload = { 3, 0, 0, 0, 0, 0, 0, 1, 'x' },
	  .want = -TCPX_E_MALFORMED },
	{ "DATA (raw) with raw_len 2 and 1 data byte",
	  PAYLOAD(TCPX_FRAME_DATA, 9),
	  .payload = { 0, 0, 0, 0, 0, 0, 0, 2, 'x' },
	  .want = -TCPX_E_MALFORMED },
	{ "DATA with a reserved byte set", PAYLOAD(TCPX_FRAME_DATA, 9),
	  .payload = { 0, 0, 1, 0, 0, 0, 0, 1, 'x' },
	  .want = -TCPX_E_MALFORMED },
	{ "DATA of 8 bytes (no data)", PAYLOAD(TCPX_FRAME_DATA, 8),
	  .payload = { 0, 0, 0, 0, 0, 0, 0, 1 }, .want = -TCPX_E_MALFORMED },

	/* END: the digest (64). */
	{ "END of 63 bytes", PAYLOAD(TCPX_FRAME_END, 63),
	  .want = -TCPX_E_MALFORMED },
	{ "END of 0 bytes", PAYLOAD(TCPX_FRAME_END, 0),
	  .want = -TCPX_E_MALFORMED },

	/* ABORT and BYE: empty; the header refuses a payload (above), and so
	 * does the decoder on its own. */
	{ "ABORT with 1 byte, past the header check", .type = TCPX_FRAME_ABORT,
	  .length = OWN_LENGTH, .payload = { 'x' }, .payload_len = 1,
	  .at = DECODER_ALONE, .want = -TCPX_E_MALFORMED },
	{ "BYE with 1 byte, past the header check", .type = TCPX_FRAME_BYE,
	  .length = OWN_LENGTH, .payload = { 'x' }, .payload_len = 1,
	  .at = DECODER_ALONE, .want = -TCPX_E_MALFORMED },

	/* RESULT: id, code, msg_len, digest (72), message. */
	{ "RESULT with msg_len 1 and no message", PAYLOAD(TCPX_FRAME_RESULT, 72),
	  .payload = { 0, 0, 0, 1, 0, 0, 0, 1 }, .want = -TCPX_E_MALFORMED },
	{ "RESULT with msg_len 0 and 3 message bytes",
	  PAYLOAD(TCPX_FRAME_RESULT, 75),
	  .payload = { 0, 0, 0, 1, 0, 0, 0, 0, [72] = 'a', 'b', 'c' },
	  .want = -TCPX_E_MALFORMED },
	{ "RESULT of 71 bytes", PAYLOAD(TCPX_FRAME_RESULT, 71),
	  .payload = { 0, 0, 0, 1 }, .want = -TCPX_E_MALFORMED },

	/* ERROR: code, msg_len (4), message. */
	{ "ERROR with msg_len 5 and 3 message bytes",
	  PAYLOAD(TCPX_FRAME_ERROR, 7),
	  .payload = { 0, 1, 0, 5, 'a', 'b', 'c' }, .want = -TCPX_E_MALFORMED },
	{ "ERROR with msg_len 0 and 1 message byte",
	  PAYLOAD(TCPX_FRAME_ERROR, 5),
	  .payload = { 0, 1, 0, 0, 'a' }, .want = -TCPX_E_MALFORMED },
	{ "ERROR of 3 bytes", PAYLOAD(TCPX_FRAME_ERROR, 3),
	  .payload = { 0, 1, 0 }, .want = -TCPX_E_MALFORMED },
};

ParameterizedTestParameters(frame_table, malformed)
{
	return cr_make_param_array(struct bad_frame, bad_frames,
				   sizeof(bad_frames) / sizeof(bad_frames[0]));
}

/* The type's proto decoder on f, as a state machine would call it. */
static int decode_as_its_type(const struct tcpx_frame *f)
{
	struct tcpx_hello h;
	struct tcpx_file_meta m;
	struct tcpx_data d;
	struct tcpx_result r;
	struct tcpx_error e;
	const uint8_t *digest;

	switch (f->type) {
	case TCPX_FRAME_HELLO: return proto_decode_hello(f, &h);
	case TCPX_FRAME_FILE: return proto_decode_file(f, &m);
	case TCPX_FRAME_DATA: return proto_decode_data(f, &d);
	case TCPX_FRAME_END: return proto_decode_end(f, &digest);
	case TCPX_FRAME_ABORT:
	case TCPX_FRAME_BYE: return proto_decode_empty(f);
	case TCPX_FRAME_RESULT: return proto_decode_result(f, &r);
	case TCPX_FRAME_ERROR: return proto_decode_error(f, &e);
	case TCPX_FRAME_DIR: return proto_decode_dir(f, &m);
	}
	cr_assert_fail("type %u has no decoder", f->type);
	return 0;
}

ParameterizedTest(struct bad_frame *row, frame_table, malformed)
{
	struct tu_buf b = { 0 };
	struct tcpx_frame f;
	size_t consumed = 99, need = 0;
	uint32_t len = row->length == OWN_LENGTH ? row->payload_len :
		       (uint32_t)row->length;
	int rc;

	cr_assert(row->payload_len <= sizeof(row->payload), "%s", row->what);
	if (row->at == DECODER_ALONE) {
		uint8_t *p = exact_copy(row->payload, row->payload_len);
		f = (struct tcpx_frame){ row->type, row->payload_len, p };
		rc = decode_as_its_type(&f);
		free(p);
		cr_assert_eq(rc, row->want, "%s: rc %d", row->what, rc);
		return;
	}
	tu_put_header(&b, row->type, row->flags, row->reserved, len);
	tu_buf_put(&b, row->payload, row->payload_len);
	rc = decode(b.p, b.len, &f, &consumed, &need);
	if (row->at == AT_HEADER) {
		cr_assert_eq(rc, row->want, "%s: rc %d", row->what, rc);
		cr_assert_eq(consumed, 0u, "%s", row->what);
		/* The same verdict with no payload byte at all. */
		rc = decode(b.p, TCPX_FRAME_HEADER_LEN, &f, &consumed, NULL);
		cr_assert_eq(rc, row->want, "%s (header alone): rc %d",
			     row->what, rc);
	} else {
		cr_assert_eq(rc, 1, "%s: the header check refused it (%d)",
			     row->what, rc);
		cr_assert_eq(consumed, b.len, "%s", row->what);
		rc = decode_as_its_type(&f);
		cr_assert_eq(rc, row->want, "%s: rc %d", row->what, rc);
	}
	tu_buf_free(&b);
}

/* ---- the table of frame types in proto --------------------------------- */

Test(proto_table, every_type_has_a_row_with_the_spec_limits)
{
	uint32_t largest = 0;

	for (unsigned t = 0; t <= 255; t++) {
		const struct tcpx_frame_spec *spec = proto_frame_spec((uint8_t)t);
		if (t >= TYPES || !type_name[t]) {
			cr_assert_null(spec, "type %u has a row", t);
			cr_assert_eq(proto_max_payload((uint8_t)t), -1, "type %u", t);
			continue;
		}
		cr_assert_not_null(spec, "type %u has no row", t);
		cr_assert_str_eq(spec->name, type_name[t]);
		cr_assert_eq(spec->max_payload, type_max[t], "%s", type_name[t]);
		cr_assert_eq(proto_max_payload((uint8_t)t), (int64_t)type_max[t]);
		if (spec->max_payload > largest)
			largest = spec->max_payload;
	}
	cr_assert_eq(proto_frame_limits.max_payload, proto_max_payload);
	cr_assert_eq(proto_frame_limits.largest_payload, largest);
	cr_assert_eq(largest, (uint32_t)TCPX_MAX_PAYLOAD);
}

/*
 * Which side takes which type in which phase: man/tcpxfer.5 (HANDSHAKE,
 * SESSION) and what the state machines did before the table.  Sender:
 * ERROR always, HELLO in its handshake, RESULT and BYE after it (READY,
 * IN_FILE, and CLOSING = SS_BYE_SENT).  Receiver: ERROR always, HELLO in
 * RS_HELLO, FILE and BYE in RS_READY, DATA, END and ABORT in RS_IN_FILE
 * and RS_SKIPPING; CLOSING (RS_VERDICT, RS_DONE, where it reads nothing)
 * takes only ERROR.  DIR (TREE) is taken where FILE is; whether TREE was
 * negotiated is the receiver's check.  Columns: type 0 (none), then 1..13.
 */
static const uint8_t accepts[TCPX_ROLE_COUNT][TCPX_PHASE_COUNT][TYPES] = {
	[TCPX_ROLE_SENDER] = {
		/*                       HEL FIL DAT END ABO RES BYE ERR DIR OFF ANS RSM SEN             STR JOI PLA JND */
		[TCPX_PHASE_HANDSHAKE] = { 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
		[TCPX_PHASE_READY]     = { 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1 },
		[TCPX_PHASE_IN_FILE]   = { 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1 },
		[TCPX_PHASE_CLOSING]   = { 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1 },
	},
	/* STREAM_END (13) where END is; STREAM and a file of unknown size
	 * are the receiver's checks. */
	[TCPX_ROLE_RECEIVER] = {
		/*                       HEL FIL DAT END ABO RES BYE ERR DIR OFF ANS RSM SEN             STR JOI PLA JND */
		[TCPX_PHASE_HANDSHAKE] = { 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
		[TCPX_PHASE_READY]     = { 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0 },
		[TCPX_PHASE_IN_FILE]   = { 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 },
		[TCPX_PHASE_CLOSING]   = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	},
};

Test(proto_table, accepts_matches_the_session_rules)
{
	for (int who = 0; who < TCPX_ROLE_COUNT; who++)
		for (int ph = 0; ph < TCPX_PHASE_COUNT; ph++)
			for (unsigned t = 0; t <= 255; t++) {
				int want = t < TYPES ? accepts[who][ph][t] : 0;
				int got = proto_accepts((enum tcpx_role)who,
							(enum tcpx_phase)ph,
							(uint8_t)t);
				cr_assert_eq(got, want, "role %d phase %d type %u",
					     who, ph, t);
			}
	/* Out of range is refused, not read past the table. */
	cr_assert_eq(proto_accepts((enum tcpx_role)2, TCPX_PHASE_READY,
				   TCPX_FRAME_ERROR), 0);
	cr_assert_eq(proto_accepts(TCPX_ROLE_SENDER, (enum tcpx_phase)4,
				   TCPX_FRAME_ERROR), 0);
}

/* Without OFFER, OFFER (10), ANSWER (11) and RESUME (12) are no types
 * at all; with TREE alone DIR is one and they are not. */
Test(proto_table, limits_follow_the_granted_caps)
{
	for (unsigned t = 10; t <= 12; t++) {
		cr_assert_eq(proto_frame_limits_for(0)->max_payload((uint8_t)t), -1);
		cr_assert_eq(proto_frame_limits_no_tree.max_payload((uint8_t)t),
			     (int64_t)type_max[t]);
		cr_assert_eq(proto_frame_limits_for(TCPX_CAP_TREE)->max_payload((uint8_t)t), -1);
		cr_assert_eq(proto_frame_limits_for(TCPX_CAP_OFFER)->max_payload((uint8_t)t),
			     (int64_t)type_max[t]);
	}
	cr_assert_eq(proto_frame_limits_for(TCPX_CAP_OFFER)->max_payload(TCPX_FRAME_DIR), -1);
	cr_assert_eq(proto_frame_limits_for(TCPX_CAP_TREE)->max_payload(TCPX_FRAME_DIR),
		     (int64_t)type_max[9]);
	cr_assert_eq(proto_frame_limits_for(TCPX_CAP_TREE | TCPX_CAP_OFFER |
					    TCPX_CAP_STREAM | TCPX_CAP_MULTI),
		     &proto_frame_limits);
}

/* Without TREE, DIR is no type at all: refused at the first check. */
Test(proto_table, no_tree_limits_know_no_dir)
{
	uint8_t hdr[8] = { TCPX_FRAME_DIR, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
	struct tcpx_frame f;
	size_t c;
	cr_assert_eq(frame_decode(hdr, 8, &proto_frame_limits_no_tree, &f, &c,
				  NULL), -TCPX_E_UNEXPECTED);
	cr_assert_eq(frame_decode(hdr, 8, &proto_frame_limits, &f, &c, NULL),
		     -TCPX_E_FRAME_TOO_LARGE);
	for (unsigned t = 1; t <= 8; t++)
		cr_assert_eq(proto_frame_limits_no_tree.max_payload((uint8_t)t),
			     (int64_t)type_max[t]);
	cr_assert_eq(proto_frame_limits_no_tree.largest_payload,
		     proto_frame_limits.largest_payload);
}

/* Each capability's types exist only with it: DIR with TREE, OFFER,
 * ANSWER and RESUME with OFFER, STREAM_END with STREAM; refused at the
 * first check otherwise, whatever the length.  Every set of the three. */
Test(proto_table, limits_for_caps_know_only_granted_types)
{
	uint64_t caps[17];
	for (unsigned i = 0; i < 16; i++)
		caps[i] = ((i & 1) ? TCPX_CAP_TREE : 0) |
			  ((i & 2) ? TCPX_CAP_OFFER : 0) |
			  ((i & 4) ? TCPX_CAP_STREAM : 0) |
			  ((i & 8) ? TCPX_CAP_MULTI : 0);
	caps[16] = TCPX_CAPS_V1;
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		const struct frame_limits *lim = proto_frame_limits_for(caps[i]);
		for (unsigned t = 0; t < 256; t++) {
			int64_t want = proto_max_payload((uint8_t)t);
			if ((t == TCPX_FRAME_DIR && !(caps[i] & TCPX_CAP_TREE)) ||
			    (t >= TCPX_FRAME_OFFER && t <= TCPX_FRAME_RESUME &&
			     !(caps[i] & TCPX_CAP_OFFER)) ||
			    (t == TCPX_FRAME_STREAM_END &&
			     !(caps[i] & TCPX_CAP_STREAM)) ||
			    (t >= TCPX_FRAME_STREAMS && t <= TCPX_FRAME_JOINED &&
			     !(caps[i] & TCPX_CAP_MULTI)))
				want = -1;
			cr_assert_eq(lim->max_payload((uint8_t)t), want,
				     "caps %llx type %u",
				     (unsigned long long)caps[i], t);
		}
		cr_assert_eq(lim->largest_payload, (uint32_t)TCPX_MAX_PAYLOAD);
		uint8_t hdr[8] = { TCPX_FRAME_STREAM_END, 0, 0, 0, 0xff, 0xff,
				   0xff, 0xff };
		struct tcpx_frame f;
		size_t c;
		cr_assert_eq(frame_decode(hdr, 8, lim, &f, &c, NULL),
			     caps[i] & TCPX_CAP_STREAM ? -TCPX_E_FRAME_TOO_LARGE :
			     -TCPX_E_UNEXPECTED);
	}
	cr_assert_eq(proto_frame_limits_for(0), proto_frame_limits_for(0));
}

/* frame_reader_reserve(): room for bytes in hand, growing a growing
 * reader up to its largest size and no further. */
Test(frame_reader, reserve_grows_for_bytes_in_hand)
{
	struct frame_reader fr;
	size_t cap;
	cr_assert_eq(frame_reader_init_growing(&fr, 1024, 8192, &proto_frame_limits), 0);
	uint8_t *p = frame_reader_space(&fr, &cap);
	cr_assert_eq(cap, 1024u);
	memset(p, 7, 100);
	frame_reader_commit(&fr, 100);
	p = frame_reader_reserve(&fr, 5000, &cap);
	cr_assert_not_null(p);
	cr_assert_geq(cap, 5000u);
	cr_assert_eq(fr.cap, 8192u);
	cr_assert_eq(fr.buf[99], 7, "what was buffered stays");
	cr_assert_eq(frame_reader_buffered(&fr), 100u);
	cr_assert_null(frame_reader_reserve(&fr, 8192 - 99, &cap), "past the largest size");
	cr_assert_not_null(frame_reader_reserve(&fr, 8192 - 100, &cap));
	frame_reader_free(&fr);
}

/* Pours one frame of this type and payload length into fr (payload
 * bytes v), through frame_reader_space() as a socket read would. */
static void pour_frame(struct frame_reader *fr, uint8_t type, uint32_t len,
		       uint8_t v)
{
	uint8_t hdr[8] = { type, 0, 0, 0, (uint8_t)(len >> 24),
			   (uint8_t)(len >> 16), (uint8_t)(len >> 8),
			   (uint8_t)len };
	size_t done = 0, total = 8 + (size_t)len, cap;
	while (done < total) {
		uint8_t *p = frame_reader_space(fr, &cap);
		cr_assert_gt(cap, 0u);
		size_t n = total - done < cap ? total - done : cap;
		for (size_t i = 0; i < n; i++)
			p[i] = done + i < 8 ? hdr[done + i] : v;
		frame_reader_commit(fr, n);
		done += n;
	}
}

/* A growing reader stays grown between the large frames of a bulk
 * transfer (shrinking, it would grow again for the next at once: a
 * realloc per doubling and its pages faulted in, each frame), and
 * shrinks once the last frame handed out would have fit the small
 * buffer. */
Test(frame_reader, stays_grown_between_large_frames)
{
	struct frame_reader fr;
	struct tcpx_frame f;
	size_t cap;

	cr_assert_eq(frame_reader_init_growing(&fr, 16384, PROTO_READER_CAP,
					       &proto_frame_limits), 0);
	for (int i = 0; i < 3; i++) {
		pour_frame(&fr, TCPX_FRAME_DATA, TCPX_MAX_PAYLOAD, (uint8_t)i);
		cr_assert_eq(frame_reader_next(&fr, &f), 1);
		cr_assert_eq(f.length, TCPX_MAX_PAYLOAD);
		cr_assert_eq(f.payload[100], i);
		frame_reader_space(&fr, &cap);       /* empty now */
		cr_assert_geq(fr.cap, (size_t)TCPX_FRAME_BUF_MAX,
			      "frame %d: not shrunk after a large frame", i);
	}
	pour_frame(&fr, TCPX_FRAME_ABORT, 0, 0);     /* a small one */
	cr_assert_eq(frame_reader_next(&fr, &f), 1);
	frame_reader_space(&fr, &cap);
	cr_assert_eq(fr.cap, 16384u, "shrunk after a small frame");
	cr_assert_eq(cap, 16384u);
	frame_reader_free(&fr);
}
