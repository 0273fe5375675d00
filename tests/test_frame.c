/* Tests for src/frame.c: the 8-byte header and the frame_reader. */
#include "testutil.h"

static const uint32_t type_max[9] = {
	0, 256, 4126, 262152, 64, 0, 1096, 0, 1028,
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
	for (unsigned t = 1; t <= 8; t++)
		cr_assert_eq(proto_max_payload((uint8_t)t), (int64_t)type_max[t],
			     "type %u", t);
	cr_assert_eq(proto_max_payload(0), -1);
	cr_assert_eq(proto_max_payload(9), -1);
	cr_assert_eq(proto_max_payload(255), -1);
	cr_assert_eq(TCPX_MAX_PAYLOAD, 262152u);
	cr_assert_eq(TCPX_FRAME_BUF_MAX, 262160u);
}

Test(frame, round_trip_every_type_at_max_and_zero)
{
	for (unsigned t = 1; t <= 8; t++) {
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
	static const uint8_t types[] = { 0, 9, 10, 100, 255 };
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
	uint8_t hdr[8] = { 9, 1, 0, 1, 0xff, 0xff, 0xff, 0xff };
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
	for (unsigned t = 1; t <= 8; t++) {
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
	for (unsigned t = 1; t <= 8; t++) {
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
