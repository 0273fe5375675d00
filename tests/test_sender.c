/* Tests for src/sender.c: the sending state machine, alone on hand-built
 * receiver bytes, and pumped against the real receiver in memory. */
#include <zlib.h>

#include "chunk.h"
#include "testutil.h"

static void init(void)
{
	cr_assert_eq(digest_global_init(), 0);
}

TestSuite(sender, .init = init);
TestSuite(sender_violation, .init = init);
TestSuite(session, .init = init);

/* ---- helpers ----------------------------------------------------------- */

/* Takes everything the sender queued (a copy) and marks it sent. */
static struct tu_buf take(struct tcpx_sender *s)
{
	const uint8_t *p;
	size_t n;
	struct tu_buf b = { 0 };
	sender_pending(s, &p, &n);
	tu_buf_put(&b, p, n);
	sender_sent(s, n);
	return b;
}

static void feed(struct tcpx_sender *s, struct tu_buf *b)
{
	tu_reader_feed(sender_reader(s), b->p, b->len, 0);
	b->len = 0;
}

static struct sender_event next(struct tcpx_sender *s)
{
	struct sender_event ev;
	sender_next(s, &ev);
	return ev;
}

/* A sender past the handshake, its HELLO already taken. */
static struct tcpx_sender *ready_sender(int level, uint64_t granted)
{
	struct tcpx_sender *s = sender_new(0, level);
	struct tu_buf b = { 0 };
	cr_assert(s != NULL);
	struct tu_buf hello = take(s);
	cr_assert_eq(hello.len, 24u);
	tu_buf_free(&hello);
	tu_put_hello(&b, 1, 1, granted);
	feed(s, &b);
	struct sender_event ev = next(s);
	cr_assert_eq(ev.type, SEV_HELLO);
	cr_assert_eq(ev.caps, granted);
	cr_assert_eq(sender_state(s), SS_READY);
	cr_assert_eq(next(s).type, SEV_NONE);
	tu_buf_free(&b);
	return s;
}

static uint32_t begin(struct tcpx_sender *s, const char *name, uint64_t size,
		      void *cookie)
{
	struct tcpx_file_meta m = { .size = size, .mode = 0644,
				    .mtime_sec = 1700000000,
				    .name = (const uint8_t *)name,
				    .name_len = (uint16_t)strlen(name) };
	cr_assert_eq(sender_begin_file(s, &m, cookie), 0);
	cr_assert_eq(sender_state(s), SS_IN_FILE);
	return m.id;
}

static void chunk(struct tcpx_sender *s, const void *data, size_t n)
{
	size_t cap;
	uint8_t *buf = sender_chunk_buffer(s, &cap);
	cr_assert(buf != NULL);
	cr_assert(cap >= n);
	memcpy(buf, data, n);
	cr_assert_eq(sender_commit_chunk(s, n), 0);
}

/* Sends a whole small file and returns its digest. */
static uint32_t whole_file(struct tcpx_sender *s, const char *name,
			   const char *content, uint8_t digest[64])
{
	size_t n = strlen(content);
	uint32_t id = begin(s, name, n, (void *)name);
	if (n)
		chunk(s, content, n);
	cr_assert_eq(sender_end_file(s), 0);
	if (digest)
		tu_digest_of((const uint8_t *)content, n, digest);
	return id;
}

/* Expects a protocol error with code: event, state, ERROR frame queued. */
static void expect_proto_error(struct tcpx_sender *s, int code)
{
	struct sender_event ev = next(s);
	cr_assert_eq(ev.type, SEV_PROTO_ERROR, "event %d, want SEV_PROTO_ERROR", ev.type);
	cr_assert_eq(ev.code, code, "code %d, want %d", ev.code, code);
	cr_assert(ev.msg != NULL && ev.msg_len > 0, "no message for the log");
	cr_assert_eq(sender_state(s), SS_FAILED);
	cr_assert_eq(sender_can_begin(s), 0);
	/* the last queued frame is ERROR with the code */
	struct tu_buf out = take(s);
	struct tu_frame fr[4096];
	size_t n = tu_parse_frames(out.p, out.len, fr, 4096);
	cr_assert(n >= 1 && n <= 4096);
	struct tu_frame *e = &fr[n - 1];
	cr_assert_eq(e->type, TCPX_FRAME_ERROR, "last frame type %u", e->type);
	cr_assert(e->length >= 4);
	cr_assert_eq(be16_load(e->payload), code);
	cr_assert_eq(be16_load(e->payload + 2) + 4u, e->length);
	tu_buf_free(&out);
	/* and nothing more happens */
	cr_assert_eq(next(s).type, SEV_NONE);
	struct tu_buf more = { 0 };
	tu_put_result(&more, 1, 0, NULL, NULL);
	tu_reader_feed(sender_reader(s), more.p, more.len, 0);
	cr_assert_eq(next(s).type, SEV_NONE);
	tu_buf_free(&more);
}

/* ---- handshake --------------------------------------------------------- */

Test(sender, hello_bytes)
{
	struct tcpx_sender *s = sender_new(0, 0);
	struct tu_buf b = take(s);
	uint8_t want[24];
	tu_hex_decode("01 00 00 00 00 00 00 10 54 43 50 58 00 01 00 01"
		      "00 00 00 00 00 00 00 00", want, 24);
	cr_assert_eq(b.len, 24u);
	cr_assert_arr_eq(b.p, want, 24);
	cr_assert_eq(sender_state(s), SS_HANDSHAKE);
	sender_free(s);
	tu_buf_free(&b);

	/* with compression: asks for ZLIB, the spec's example HELLO */
	s = sender_new(0, 6);
	b = take(s);
	want[23] = 1;
	cr_assert_arr_eq(b.p, want, 24);
	sender_free(s);
	tu_buf_free(&b);

	/* level 0 never asks for ZLIB, even when told to */
	s = sender_new(TCPX_CAP_ZLIB, 0);
	b = take(s);
	cr_assert_eq(b.p[23], 0);
	sender_free(s);
	tu_buf_free(&b);
}

/* --zstd: asks for ZSTD and ZLIB; zstd if granted, else zlib, else raw,
 * and the chunks say which. */
Test(sender, zstd_asked_and_fallbacks)
{
	static const struct { uint64_t granted; uint8_t enc; } rows[] = {
		{ TCPX_CAP_ZSTD | TCPX_CAP_ZLIB, TCPX_ENCODING_ZSTD },
		{ TCPX_CAP_ZSTD, TCPX_ENCODING_ZSTD },
		{ TCPX_CAP_ZLIB, TCPX_ENCODING_ZLIB },
		{ 0, TCPX_ENCODING_RAW },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct tcpx_sender *s = sender_new(TCPX_CAP_ZSTD, 3);
		struct tu_buf b = take(s);
		cr_assert_eq(be64_load(b.p + 16), TCPX_CAP_ZSTD | TCPX_CAP_ZLIB);
		b.len = 0;
		tu_put_hello(&b, 1, 1, rows[i].granted);
		feed(s, &b);
		cr_assert_eq(next(s).type, SEV_HELLO);
		cr_assert_eq(sender_encoding(s), rows[i].enc, "row %zu", i);
		cr_assert_eq(sender_compressing(s), rows[i].enc != TCPX_ENCODING_RAW);
		/* a compressible chunk goes out in that encoding */
		tu_buf_free(&b);
		b = take(s);
		begin(s, "t", 4096, NULL);
		size_t cap;
		uint8_t *buf = sender_chunk_buffer(s, &cap);
		cr_assert(buf != NULL);
		memset(buf, 'a', 4096);
		cr_assert_eq(sender_commit_chunk(s, 4096), 0);
		tu_buf_free(&b);
		b = take(s);
		/* FILE frame first, then DATA: find DATA's encoding byte */
		size_t off = 8 + be32_load(b.p + 4);
		cr_assert_eq(b.p[off], TCPX_FRAME_DATA);
		cr_assert_eq(b.p[off + 8], rows[i].enc, "row %zu", i);
		sender_free(s);
		tu_buf_free(&b);
	}
	/* level 0 never asks for ZSTD either */
	struct tcpx_sender *s = sender_new(TCPX_CAP_ZSTD, 0);
	struct tu_buf b = take(s);
	cr_assert_eq(be64_load(b.p + 16), 0u);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender, nothing_before_handshake)
{
	struct tcpx_sender *s = sender_new(0, 0);
	struct tcpx_file_meta m = { .size = 1, .name = (const uint8_t *)"a", .name_len = 1 };
	cr_assert_eq(sender_can_begin(s), 0);
	cr_assert(sender_begin_file(s, &m, NULL) < 0);
	cr_assert(sender_bye(s) < 0);
	cr_assert_eq(sender_outstanding(s), 0u);
	cr_assert_eq(next(s).type, SEV_NONE);
	sender_free(s);
}

Test(sender, handshake_and_extension_bytes)
{
	struct tcpx_sender *s = sender_new(0, 6);
	struct tu_buf b = take(s);
	b.len = 0;
	tu_put_hello_ext(&b, "TCPX", 1, 1, TCPX_CAP_ZLIB, 240);
	/* byte by byte: nothing until the whole HELLO is there */
	for (size_t i = 0; i < b.len; i++) {
		tu_reader_feed(sender_reader(s), b.p + i, 1, 0);
		struct sender_event ev = next(s);
		if (i + 1 < b.len)
			cr_assert_eq(ev.type, SEV_NONE, "byte %zu", i);
		else {
			cr_assert_eq(ev.type, SEV_HELLO);
			cr_assert_eq(ev.caps, TCPX_CAP_ZLIB);
		}
	}
	cr_assert_eq(sender_state(s), SS_READY);
	cr_assert_eq(sender_can_begin(s), 1);
	sender_free(s);
	tu_buf_free(&b);
}

/* ---- frames a file becomes --------------------------------------------- */

Test(sender, file_frames_match_spec_example)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	int cookie;
	uint64_t wire0 = sender_wire_bytes(s);
	uint32_t id = begin(s, "a.txt", 3, &cookie);
	cr_assert_eq(id, 1u);
	cr_assert_eq(sender_outstanding(s), 1u);
	chunk(s, "hi\n", 3);
	cr_assert_eq(sender_end_file(s), 0);
	cr_assert_eq(sender_state(s), SS_READY);
	cr_assert_eq(sender_bye(s), 0);
	cr_assert_eq(sender_state(s), SS_BYE_SENT);

	uint8_t want[256];
	size_t n = tu_hex_decode(
		"02 00 00 00 00 00 00 23 00 00 00 01 00 00 00 00 00 00 00 03"
		"00 00 01 a4 00 00 00 00 65 53 f1 00 00 00 00 00 00 05"
		"61 2e 74 78 74"
		"03 00 00 00 00 00 00 0b 00 00 00 00 00 00 00 03 68 69 0a"
		"04 00 00 00 00 00 00 40" B2_HI
		"07 00 00 00 00 00 00 00", want, sizeof(want));
	struct tu_buf b = take(s);
	cr_assert_eq(b.len, n, "queued %zu bytes, want %zu", b.len, n);
	cr_assert_arr_eq(b.p, want, n);
	/* every frame queued for the file and the BYE is counted (whether the
	 * HELLO is, sender.h does not say) */
	cr_assert_eq(sender_wire_bytes(s) - wire0, n, "wire bytes: %llu",
		     (unsigned long long)(sender_wire_bytes(s) - wire0));

	/* the receiver's answer from the spec: verified, then BYE */
	b.len = 0;
	uint8_t dg[64];
	tu_hex_decode(B2_HI, dg, 64);
	tu_put_result(&b, 1, 0, dg, NULL);
	tu_put_empty(&b, TCPX_FRAME_BYE);
	feed(s, &b);
	struct sender_event ev = next(s);
	cr_assert_eq(ev.type, SEV_RESULT);
	cr_assert_eq(ev.id, 1u);
	cr_assert_eq(ev.code, 0);
	cr_assert_eq(ev.cookie, (void *)&cookie);
	cr_assert(ev.digest != NULL);
	cr_assert_arr_eq(ev.digest, dg, 64);
	cr_assert_eq(sender_outstanding(s), 0u);
	ev = next(s);
	cr_assert_eq(ev.type, SEV_BYE);
	cr_assert_eq(sender_state(s), SS_DONE);
	cr_assert_eq(next(s).type, SEV_NONE);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender, ids_count_up_and_mode_is_masked)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	for (uint32_t i = 1; i <= 5; i++) {
		struct tcpx_file_meta m = { .size = 0, .mode = 0100755 | 07000,
					    .mtime_sec = -5, .mtime_nsec = 7,
					    .name = (const uint8_t *)"n", .name_len = 1 };
		cr_assert_eq(sender_begin_file(s, &m, NULL), 0);
		cr_assert_eq(m.id, i);
		cr_assert_eq(sender_end_file(s), 0);
	}
	struct tu_buf b = take(s);
	struct tu_frame fr[16];
	size_t n = tu_parse_frames(b.p, b.len, fr, 16);
	cr_assert_eq(n, 10u);
	for (size_t i = 0; i < 10; i += 2) {
		cr_assert_eq(fr[i].type, TCPX_FRAME_FILE);
		cr_assert_eq(be32_load(fr[i].payload), (uint32_t)(i / 2 + 1));
		cr_assert_eq(be32_load(fr[i].payload + 12), 07755u, "mode on the wire");
		cr_assert_eq(be64_load(fr[i].payload + 16), (uint64_t)-5);
		cr_assert_eq(be32_load(fr[i].payload + 24), 7u);
		cr_assert_eq(fr[i + 1].type, TCPX_FRAME_END);
		uint8_t empty[64];
		tu_hex_decode(B2_EMPTY, empty, 64);
		cr_assert_arr_eq(fr[i + 1].payload, empty, 64, "empty file's digest");
	}
	cr_assert_eq(sender_outstanding(s), 5u);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender, refuses_bad_name_lengths)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	static uint8_t name[TCPX_NAME_MAX + 1];
	memset(name, 'x', sizeof(name));
	struct tcpx_file_meta m = { .size = 0, .name = name, .name_len = 0 };
	cr_assert_eq(sender_begin_file(s, &m, NULL), -TCPX_E_BAD_NAME);
	m.name_len = TCPX_NAME_MAX + 1;
	cr_assert_eq(sender_begin_file(s, &m, NULL), -TCPX_E_BAD_NAME);
	cr_assert_eq(sender_state(s), SS_READY);
	cr_assert_eq(sender_outstanding(s), 0u);
	m.name_len = TCPX_NAME_MAX;
	cr_assert_eq(sender_begin_file(s, &m, NULL), 0);
	cr_assert_eq(m.id, 1u, "refused names must not use up ids");
	sender_free(s);
}

Test(sender, compresses_only_what_shrinks)
{
	struct tcpx_sender *s = ready_sender(6, TCPX_CAP_ZLIB);
	size_t n = TCPX_CHUNK_MAX;
	uint8_t *text = malloc(n), *noise = malloc(n), *back = malloc(n);
	tu_fill_text(1, 0, text, n);
	tu_fill_random(2, 0, noise, n);
	begin(s, "mixed", 2 * n + 3, NULL);
	chunk(s, text, n);
	chunk(s, noise, n);
	struct tu_buf b = take(s);
	chunk(s, "abc", 3);
	cr_assert_eq(sender_end_file(s), 0);
	struct tu_buf b2 = take(s);
	tu_buf_put(&b, b2.p, b2.len);

	struct tu_frame fr[8];
	cr_assert_eq(tu_parse_frames(b.p, b.len, fr, 8), 5u);
	cr_assert_eq(fr[1].type, TCPX_FRAME_DATA);
	cr_assert_eq(fr[1].payload[0], TCPX_ENCODING_ZLIB, "text chunk sent raw");
	cr_assert_eq(be32_load(fr[1].payload + 4), (uint32_t)n);
	cr_assert(fr[1].length - 8 < n);
	uLongf ul = (uLongf)n;
	cr_assert_eq(uncompress(back, &ul, fr[1].payload + 8, fr[1].length - 8), Z_OK);
	cr_assert_eq(ul, (uLongf)n);
	cr_assert(memcmp(back, text, n) == 0);

	cr_assert_eq(fr[2].payload[0], TCPX_ENCODING_RAW, "random chunk compressed");
	cr_assert_eq(fr[2].length, 8 + n);
	cr_assert(memcmp(fr[2].payload + 8, noise, n) == 0);
	cr_assert_eq(fr[3].payload[0], TCPX_ENCODING_RAW, "3 bytes never shrink");
	cr_assert(memcmp(fr[3].payload + 8, "abc", 3) == 0);

	/* END carries the digest of the raw content, not of the wire bytes */
	struct digest d;
	uint8_t dg[64];
	digest_init(&d);
	digest_update(&d, text, n);
	digest_update(&d, noise, n);
	digest_update(&d, (const uint8_t *)"abc", 3);
	digest_final(&d, dg);
	cr_assert_eq(fr[4].type, TCPX_FRAME_END);
	cr_assert_arr_eq(fr[4].payload, dg, 64);
	free(text);
	free(noise);
	free(back);
	tu_buf_free(&b);
	tu_buf_free(&b2);
	sender_free(s);
}

Test(sender, no_compression_unless_granted)
{
	struct tcpx_sender *s = ready_sender(9, 0);
	uint8_t zeros[10000] = { 0 };
	begin(s, "z", sizeof(zeros), NULL);
	chunk(s, zeros, sizeof(zeros));
	cr_assert_eq(sender_end_file(s), 0);
	struct tu_buf b = take(s);
	struct tu_frame fr[4];
	cr_assert_eq(tu_parse_frames(b.p, b.len, fr, 4), 3u);
	cr_assert_eq(fr[1].payload[0], TCPX_ENCODING_RAW);
	cr_assert_eq(fr[1].length, 8u + sizeof(zeros));
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender, size_is_enforced)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	begin(s, "f", 10, NULL);
	size_t cap;
	cr_assert(sender_chunk_buffer(s, &cap) != NULL);
	cr_assert_eq(sender_commit_chunk(s, 11), -TCPX_E_SIZE);
	cr_assert_eq(sender_commit_chunk(s, 0), -TCPX_E_INTERNAL);
	cr_assert_eq(sender_commit_chunk(s, TCPX_CHUNK_MAX + 1), -TCPX_E_INTERNAL);
	chunk(s, "0123456", 7);
	cr_assert_eq(sender_end_file(s), -TCPX_E_SIZE, "END with 7 of 10 bytes");
	cr_assert_eq(sender_state(s), SS_IN_FILE);
	sender_chunk_buffer(s, &cap);
	cr_assert_eq(sender_commit_chunk(s, 4), -TCPX_E_SIZE);
	chunk(s, "789", 3);
	cr_assert_eq(sender_end_file(s), 0);
	/* nothing of the refused commits reached the wire */
	struct tu_buf b = take(s);
	struct tu_frame fr[4];
	cr_assert_eq(tu_parse_frames(b.p, b.len, fr, 4), 4u);
	cr_assert_eq(fr[1].length, 8u + 7u);
	cr_assert_eq(fr[2].length, 8u + 3u);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender, output_buffer_back_pressure)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	uint8_t *data = calloc(TCPX_CHUNK_MAX, 1);
	begin(s, "big", 10 * (uint64_t)TCPX_CHUNK_MAX, NULL);
	int chunks = 0;
	while (sender_has_room(s)) {
		chunk(s, data, TCPX_CHUNK_MAX);
		chunks++;
		cr_assert(chunks < 10);
	}
	cr_assert(chunks >= 1 && chunks <= 2, "%d full frames buffered", chunks);
	size_t cap = 99;
	cr_assert_null(sender_chunk_buffer(s, &cap));
	cr_assert_eq(cap, 0u);
	cr_assert(sender_abort_file(s) < 0);
	/* a partial write makes room once the rest goes out */
	const uint8_t *p;
	size_t len;
	sender_pending(s, &p, &len);
	sender_sent(s, len / 2 + 1);
	sender_pending(s, &p, &len);
	sender_sent(s, len);
	cr_assert_eq(sender_has_room(s), 1);
	cr_assert(sender_chunk_buffer(s, &cap) != NULL);
	cr_assert_eq(cap, (size_t)TCPX_CHUNK_MAX);
	free(data);
	sender_free(s);
}

/* Bytes come out intact across partial writes and buffer compaction. */
Test(sender, partial_writes_keep_the_stream_intact)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	uint64_t size = 5 * (uint64_t)TCPX_CHUNK_MAX + 12345;
	uint8_t *buf = malloc(TCPX_CHUNK_MAX);
	struct tu_buf wire = { 0 };
	uint64_t off = 0;
	size_t step = 100003;
	begin(s, "stream", size, NULL);
	while (sender_state(s) == SS_IN_FILE) {
		while (sender_has_room(s) && sender_state(s) == SS_IN_FILE) {
			if (off == size) {
				cr_assert_eq(sender_end_file(s), 0);
				break;
			}
			size_t n = size - off < TCPX_CHUNK_MAX ? (size_t)(size - off) : TCPX_CHUNK_MAX;
			tu_fill_random(3, off, buf, n);
			chunk(s, buf, n);
			off += n;
		}
		const uint8_t *p;
		size_t len;
		sender_pending(s, &p, &len);
		size_t k = len < step ? len : step;
		tu_buf_put(&wire, p, k);
		sender_sent(s, k);
		step = step * 7 % 300007 + 1;
	}
	struct tu_buf rest = take(s);
	tu_buf_put(&wire, rest.p, rest.len);
	struct tu_frame fr[16];
	size_t n = tu_parse_frames(wire.p, wire.len, fr, 16);
	cr_assert_eq(n, 8u);
	uint64_t pos = 0;
	for (size_t i = 1; i < 7; i++) {
		cr_assert_eq(fr[i].type, TCPX_FRAME_DATA);
		uint32_t raw = be32_load(fr[i].payload + 4);
		for (uint32_t j = 0; j < raw; j += 997)
			cr_assert_eq(fr[i].payload[8 + j], tu_random_byte(3, pos + j));
		pos += raw;
	}
	cr_assert_eq(pos, size);
	free(buf);
	tu_buf_free(&wire);
	tu_buf_free(&rest);
	sender_free(s);
}

Test(sender, window_of_1024)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	cr_assert_eq(SENDER_WINDOW, 1024u);
	for (unsigned i = 0; i < SENDER_WINDOW; i++) {
		cr_assert_eq(sender_can_begin(s), 1, "file %u", i);
		begin(s, "e", 0, NULL);
		cr_assert_eq(sender_end_file(s), 0);
		if (i % 256 == 0) {
			struct tu_buf b = take(s);
			tu_buf_free(&b);
		}
	}
	cr_assert_eq(sender_outstanding(s), 1024u);
	cr_assert_eq(sender_can_begin(s), 0, "window full but can begin");
	struct tcpx_file_meta m = { .name = (const uint8_t *)"x", .name_len = 1 };
	cr_assert(sender_begin_file(s, &m, NULL) < 0);
	/* one RESULT opens one slot */
	struct tu_buf b = { 0 };
	uint8_t empty[64];
	tu_hex_decode(B2_EMPTY, empty, 64);
	tu_put_result(&b, 1, 0, empty, NULL);
	feed(s, &b);
	struct sender_event ev = next(s);
	cr_assert_eq(ev.type, SEV_RESULT);
	cr_assert_eq(ev.code, 0);
	cr_assert_eq(sender_outstanding(s), 1023u);
	cr_assert_eq(sender_can_begin(s), 1);
	cr_assert_eq(begin(s, "x", 0, NULL), 1025u);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender, fail_queues_error)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	sender_fail(s, TCPX_E_TIMEOUT, "idle");
	cr_assert_eq(sender_state(s), SS_FAILED);
	struct tu_buf b = take(s);
	uint8_t want[16];
	tu_hex_decode("08 00 00 00 00 00 00 08 00 08 00 04 69 64 6c 65", want, 16);
	cr_assert_eq(b.len, 16u);
	cr_assert_arr_eq(b.p, want, 16);
	sender_fail(s, TCPX_E_SHUTDOWN, "again");
	struct tu_buf b2 = take(s);
	cr_assert_eq(b2.len, 0u, "a second ERROR after failing");
	cr_assert_eq(sender_can_begin(s), 0);
	sender_free(s);
	tu_buf_free(&b);
	tu_buf_free(&b2);
}

/* ---- chunks compressed by the caller (worker threads) ----------------- */

Test(sender, compressing_reflects_negotiation)
{
	struct tcpx_sender *s = ready_sender(6, TCPX_CAP_ZLIB);
	cr_assert_eq(sender_compressing(s), 1);
	sender_free(s);
	s = ready_sender(6, 0);
	cr_assert_eq(sender_compressing(s), 0, "ZLIB not granted");
	sender_free(s);
	s = ready_sender(0, 0);
	cr_assert_eq(sender_compressing(s), 0);
	sender_free(s);
}

Test(sender, commit_prepared_frames_what_it_is_given)
{
	struct tcpx_sender *s = ready_sender(6, TCPX_CAP_ZLIB);
	struct chunk_compressor *c = chunk_compressor_new(6);
	size_t n = 100000;
	uint8_t *raw = malloc(n), *z = malloc(TCPX_CHUNK_MAX), *back = malloc(n);
	tu_fill_text(5, 0, raw, n);
	size_t zl = chunk_compress(c, raw, n, z, TCPX_CHUNK_MAX);
	cr_assert(zl > 0);
	begin(s, "prepared", 2 * n + 3, NULL);
	cr_assert_eq(sender_commit_prepared(s, raw, n, z, zl), 0);
	cr_assert_eq(sender_commit_prepared(s, raw, n, NULL, 0), 0, "raw chunk");
	cr_assert_eq(sender_commit_prepared(s, (const uint8_t *)"abc", 3, NULL, 0), 0);
	cr_assert_eq(sender_end_file(s), 0);
	struct tu_buf b = take(s);
	struct tu_frame fr[8];
	cr_assert_eq(tu_parse_frames(b.p, b.len, fr, 8), 5u);
	cr_assert_eq(fr[1].payload[0], TCPX_ENCODING_ZLIB);
	cr_assert_eq(be32_load(fr[1].payload + 4), (uint32_t)n);
	cr_assert_eq(fr[1].length, 8 + zl);
	uLongf ul = (uLongf)n;
	cr_assert_eq(uncompress(back, &ul, fr[1].payload + 8, (uLong)zl), Z_OK);
	cr_assert(ul == n && memcmp(back, raw, n) == 0);
	cr_assert_eq(fr[2].payload[0], TCPX_ENCODING_RAW);
	cr_assert(memcmp(fr[2].payload + 8, raw, n) == 0);
	struct digest d;
	uint8_t dg[64];
	digest_init(&d);
	digest_update(&d, raw, n);
	digest_update(&d, raw, n);
	digest_update(&d, (const uint8_t *)"abc", 3);
	digest_final(&d, dg);
	cr_assert_arr_eq(fr[4].payload, dg, 64, "END digest is over the raw bytes");
	chunk_compressor_free(c);
	free(raw);
	free(z);
	free(back);
	tu_buf_free(&b);
	sender_free(s);
}

Test(sender, commit_prepared_refusals)
{
	uint8_t raw[100], z[10] = { 0x78, 0x9c };
	memset(raw, 'r', sizeof(raw));
	/* zlib data when ZLIB was not negotiated */
	struct tcpx_sender *s = ready_sender(6, 0);
	begin(s, "f", 100, NULL);
	cr_assert_eq(sender_commit_prepared(s, raw, 100, z, 10), -TCPX_E_INTERNAL);
	sender_free(s);

	s = ready_sender(6, TCPX_CAP_ZLIB);
	begin(s, "f", 100, NULL);
	/* "compressed" data not smaller than the chunk */
	cr_assert_eq(sender_commit_prepared(s, raw, 10, z, 10), -TCPX_E_INTERNAL);
	/* beyond the declared size; empty; too large */
	cr_assert_eq(sender_commit_prepared(s, raw, 100, NULL, 0), 0);
	cr_assert_eq(sender_commit_prepared(s, raw, 1, NULL, 0), -TCPX_E_SIZE);
	cr_assert_eq(sender_commit_prepared(s, raw, 0, NULL, 0), -TCPX_E_INTERNAL);
	cr_assert_eq(sender_end_file(s), 0);
	/* not in a file */
	cr_assert_eq(sender_commit_prepared(s, raw, 5, NULL, 0), -TCPX_E_INTERNAL);
	struct tu_buf b = take(s);
	struct tu_frame fr[4];
	cr_assert_eq(tu_parse_frames(b.p, b.len, fr, 4), 3u, "refused commits queued frames");
	sender_free(s);
	tu_buf_free(&b);
}

/* With the output buffer full, a commit is refused, and refused before
 * anything is written.  In compressing mode sender_commit_chunk()
 * compresses into the output buffer; the chunk used here is random but
 * for 168 leading zeros, so it shrinks by only a few bytes (262131 of
 * 262144): written after a full frame it would end past the buffer. */
static void commit_without_room(int level, uint64_t granted, int prepared)
{
	struct tcpx_sender *s = ready_sender(level, granted);
	uint8_t *noise = malloc(TCPX_CHUNK_MAX);
	uint8_t *scratch = NULL;
	tu_fill_random(77, 0, noise, TCPX_CHUNK_MAX);
	begin(s, "full", 10 * (uint64_t)TCPX_CHUNK_MAX, NULL);
	while (sender_has_room(s)) {
		size_t cap;
		uint8_t *buf = sender_chunk_buffer(s, &cap);
		memcpy(buf, noise, TCPX_CHUNK_MAX);
		cr_assert_eq(sender_commit_chunk(s, TCPX_CHUNK_MAX), 0);
		if (sender_compressing(s))
			scratch = buf;   /* the same scratch buffer every time */
	}
	const uint8_t *p;
	size_t before, after;
	sender_pending(s, &p, &before);
	/* White-box tripwire: the 4 KiB after the queued bytes (where the next
	 * frame's header and data would go; well inside the buffer, since one
	 * maximal frame is queued in a buffer of two) must not change.  A
	 * write there shows the chunk was compressed into the buffer before
	 * the room check, and that write runs on past the buffer's end
	 * (valgrind sees it inside libdeflate; ASan cannot). */
	static uint8_t tail[4096];
	memcpy(tail, p + before, sizeof(tail));
	memset(noise, 0, 168);
	int rc;
	if (prepared)
		rc = sender_commit_prepared(s, noise, TCPX_CHUNK_MAX, NULL, 0);
	else if (scratch) {
		memcpy(scratch, noise, TCPX_CHUNK_MAX);
		rc = sender_commit_chunk(s, TCPX_CHUNK_MAX);
	} else
		rc = sender_commit_chunk(s, TCPX_CHUNK_MAX);
	cr_assert_eq(rc, -TCPX_E_INTERNAL, "commit without room: %d", rc);
	sender_pending(s, &p, &after);
	cr_assert_eq(after, before);
	cr_assert(memcmp(tail, p + before, sizeof(tail)) == 0,
		  "a commit refused for lack of room wrote into the output "
		  "buffer first (compressed into it before checking room)");
	free(noise);
	sender_free(s);
}

Test(sender, commit_without_room_raw)          { commit_without_room(0, 0, 0); }
Test(sender, commit_without_room_prepared)     { commit_without_room(6, TCPX_CAP_ZLIB, 1); }
Test(sender, commit_without_room_compressing)  { commit_without_room(6, TCPX_CAP_ZLIB, 0); }

/* ---- RESULTs ----------------------------------------------------------- */

Test(sender, result_with_other_digest_is_a_verify_failure)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	uint8_t dg[64];
	whole_file(s, "a", "hello", dg);
	whole_file(s, "b", "world", NULL);
	struct tu_buf b = take(s);
	b.len = 0;
	dg[10] ^= 0x40;
	tu_put_result(&b, 1, 0, dg, "stored");
	feed(s, &b);
	struct sender_event ev = next(s);
	cr_assert_eq(ev.type, SEV_RESULT);
	cr_assert_eq(ev.id, 1u);
	cr_assert_eq(ev.code, TCPX_E_DIGEST, "code %d", ev.code);
	cr_assert_null(ev.digest);
	cr_assert_eq(sender_state(s), SS_READY, "not a protocol error");
	/* the session goes on */
	tu_digest_of((const uint8_t *)"world", 5, dg);
	tu_put_result(&b, 2, 0, dg, NULL);
	feed(s, &b);
	ev = next(s);
	cr_assert_eq(ev.type, SEV_RESULT);
	cr_assert_eq(ev.code, 0);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender, nonzero_codes_known_or_not_fail_one_file)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	whole_file(s, "a", "1", NULL);
	whole_file(s, "b", "2", NULL);
	whole_file(s, "c", "3", NULL);
	struct tu_buf b = take(s);
	b.len = 0;
	tu_put_result(&b, 1, TCPX_E_EXISTS, NULL, "exists");
	tu_put_result(&b, 2, 999, NULL, "from the future");
	tu_put_result(&b, 3, 0xFFFF, NULL, "");
	feed(s, &b);
	int codes[3] = { TCPX_E_EXISTS, 999, 0xFFFF };
	for (int i = 0; i < 3; i++) {
		struct sender_event ev = next(s);
		cr_assert_eq(ev.type, SEV_RESULT);
		cr_assert_eq(ev.id, (uint32_t)i + 1);
		cr_assert_eq(ev.code, codes[i]);
		cr_assert_eq((char *)ev.cookie, i == 0 ? "a" : i == 1 ? "b" : "c");
	}
	cr_assert_eq(sender_state(s), SS_READY);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender, refusal_of_the_file_in_flight)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	uint8_t *data = calloc(TCPX_CHUNK_MAX, 1);
	begin(s, "big", 4 * (uint64_t)TCPX_CHUNK_MAX, NULL);
	chunk(s, data, TCPX_CHUNK_MAX);
	struct tu_buf b = take(s);
	cr_assert_eq(sender_current_refused(s), 0);
	b.len = 0;
	tu_put_result(&b, 1, TCPX_E_NO_SPACE, NULL, "full");
	feed(s, &b);
	struct sender_event ev = next(s);
	cr_assert_eq(ev.type, SEV_RESULT);
	cr_assert_eq(ev.code, TCPX_E_NO_SPACE);
	cr_assert_eq(ev.msg_len, 4u);
	cr_assert(memcmp(ev.msg, "full", 4) == 0);
	cr_assert_eq(sender_current_refused(s), 1);
	cr_assert_eq(sender_state(s), SS_IN_FILE);
	cr_assert_eq(sender_outstanding(s), 0u);
	cr_assert_eq(sender_abort_file(s), 0);
	cr_assert_eq(sender_current_refused(s), 0);
	cr_assert_eq(sender_state(s), SS_READY);
	struct tu_buf out = take(s);
	cr_assert_eq(out.len, 8u);
	cr_assert_eq(out.p[0], TCPX_FRAME_ABORT);
	cr_assert_eq(be32_load(out.p + 4), 0u);
	/* the next file is not refused */
	cr_assert_eq(begin(s, "next", 1, NULL), 2u);
	cr_assert_eq(sender_current_refused(s), 0);
	free(data);
	sender_free(s);
	tu_buf_free(&b);
	tu_buf_free(&out);
}

/* A refused file that the sender finishes anyway ends with ABORT, not an
 * END a receiver would then have to skip. */
Test(sender, refused_file_ended_sends_abort)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	begin(s, "f", 3, NULL);
	struct tu_buf b = take(s);
	b.len = 0;
	tu_put_result(&b, 1, TCPX_E_BAD_NAME, NULL, NULL);
	feed(s, &b);
	cr_assert_eq(next(s).type, SEV_RESULT);
	chunk(s, "abc", 3);
	cr_assert_eq(sender_end_file(s), 0);
	struct tu_buf out = take(s);
	struct tu_frame fr[4];
	cr_assert_eq(tu_parse_frames(out.p, out.len, fr, 4), 2u);
	cr_assert_eq(fr[0].type, TCPX_FRAME_DATA);
	cr_assert_eq(fr[1].type, TCPX_FRAME_ABORT);
	sender_free(s);
	tu_buf_free(&b);
	tu_buf_free(&out);
}

/* A refusal of an earlier file does not mark the one in flight. */
Test(sender, refusal_of_an_earlier_file)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	whole_file(s, "done", "x", NULL);
	begin(s, "busy", 100, NULL);
	struct tu_buf b = take(s);
	b.len = 0;
	tu_put_result(&b, 1, TCPX_E_EXISTS, NULL, NULL);
	feed(s, &b);
	struct sender_event ev = next(s);
	cr_assert_eq(ev.type, SEV_RESULT);
	cr_assert_eq(ev.id, 1u);
	cr_assert_eq(sender_current_refused(s), 0);
	cr_assert_eq(sender_outstanding(s), 1u);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender, peer_error_first_frame_busy)
{
	struct tcpx_sender *s = sender_new(0, 0);
	struct tu_buf b = take(s);
	b.len = 0;
	uint8_t busy[16];
	tu_hex_decode("08 00 00 00 00 00 00 08 00 09 00 04 62 75 73 79", busy, 16);
	tu_buf_put(&b, busy, 16);
	feed(s, &b);
	struct sender_event ev = next(s);
	cr_assert_eq(ev.type, SEV_PEER_ERROR);
	cr_assert_eq(ev.code, TCPX_E_BUSY);
	cr_assert_eq(ev.msg_len, 4u);
	cr_assert(memcmp(ev.msg, "busy", 4) == 0);
	cr_assert_eq(sender_state(s), SS_FAILED);
	struct tu_buf out = take(s);
	cr_assert_eq(out.len, 0u, "an ERROR is never answered with an ERROR");
	cr_assert_eq(next(s).type, SEV_NONE);
	sender_free(s);
	tu_buf_free(&b);
	tu_buf_free(&out);
}

Test(sender, peer_error_mid_session_and_malformed)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	whole_file(s, "a", "1", NULL);
	struct tu_buf b = take(s);
	b.len = 0;
	tu_put_error(&b, TCPX_E_SHUTDOWN, "stopping");
	feed(s, &b);
	struct sender_event ev = next(s);
	cr_assert_eq(ev.type, SEV_PEER_ERROR);
	cr_assert_eq(ev.code, TCPX_E_SHUTDOWN);
	cr_assert_eq(ev.msg_len, 8u);
	struct tu_buf out = take(s);
	cr_assert_eq(out.len, 0u);
	sender_free(s);
	tu_buf_free(&out);

	/* ERROR whose msg_len disagrees with its length */
	s = ready_sender(0, 0);
	tu_put_header(&b, TCPX_FRAME_ERROR, 0, 0, 6);
	tu_buf_be16(&b, 7);
	tu_buf_be16(&b, 5);
	tu_buf_put(&b, "ab", 2);
	feed(s, &b);
	ev = next(s);
	cr_assert_eq(ev.type, SEV_PEER_ERROR);
	cr_assert_eq(ev.code, TCPX_E_MALFORMED);
	cr_assert_eq(sender_state(s), SS_FAILED);
	out = take(s);
	cr_assert_eq(out.len, 0u);
	sender_free(s);
	tu_buf_free(&b);
	tu_buf_free(&out);
}

/* ---- receiver breaking the protocol ----------------------------------- */

static struct tcpx_sender *handshaking(void)
{
	struct tcpx_sender *s = sender_new(0, 6);
	struct tu_buf b = take(s);
	tu_buf_free(&b);
	return s;
}

Test(sender_violation, hello_with_other_version)
{
	uint16_t v[][2] = { { 2, 2 }, { 1, 2 }, { 0xFFFF, 0xFFFF } };
	for (int i = 0; i < 3; i++) {
		struct tcpx_sender *s = handshaking();
		struct tu_buf b = { 0 };
		tu_put_hello(&b, v[i][0], v[i][1], 0);
		feed(s, &b);
		expect_proto_error(s, TCPX_E_VERSION);
		sender_free(s);
		tu_buf_free(&b);
	}
}

Test(sender_violation, hello_malformed_or_bad_magic)
{
	struct tcpx_sender *s = handshaking();
	struct tu_buf b = { 0 };
	tu_put_hello(&b, 0, 1, 0);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_MALFORMED);
	sender_free(s);

	s = handshaking();
	tu_put_hello_ext(&b, "HTTP", 1, 1, 0, 0);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_BAD_MAGIC);
	sender_free(s);

	s = handshaking();
	tu_put_header(&b, TCPX_FRAME_HELLO, 0, 0, 15);
	tu_buf_fill(&b, 0, 15);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_MALFORMED);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender_violation, hello_granting_capabilities_not_asked)
{
	/* asked for nothing, got ZLIB */
	struct tcpx_sender *s = sender_new(0, 0);
	struct tu_buf b = take(s);
	b.len = 0;
	tu_put_hello(&b, 1, 1, TCPX_CAP_ZLIB);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	/* asked for ZLIB, got a reserved bit too */
	s = handshaking();
	tu_put_hello(&b, 1, 1, TCPX_CAP_ZLIB | (1u << 5));
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender_violation, frames_before_hello)
{
	uint8_t types[] = { TCPX_FRAME_RESULT, TCPX_FRAME_BYE, TCPX_FRAME_DATA,
			    TCPX_FRAME_FILE };
	for (int i = 0; i < 4; i++) {
		struct tcpx_sender *s = handshaking();
		struct tu_buf b = { 0 };
		if (types[i] == TCPX_FRAME_RESULT)
			tu_put_result(&b, 1, 0, NULL, NULL);
		else if (types[i] == TCPX_FRAME_BYE)
			tu_put_empty(&b, TCPX_FRAME_BYE);
		else
			tu_put_header(&b, types[i], 0, 0, 40);  /* header alone */
		feed(s, &b);
		expect_proto_error(s, TCPX_E_UNEXPECTED);
		sender_free(s);
		tu_buf_free(&b);
	}
}

Test(sender_violation, second_hello)
{
	struct tcpx_sender *s = ready_sender(6, TCPX_CAP_ZLIB);
	struct tu_buf b = { 0 };
	tu_put_hello(&b, 1, 1, TCPX_CAP_ZLIB);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender_violation, result_out_of_order)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	uint8_t d2[64];
	whole_file(s, "a", "1", NULL);
	whole_file(s, "b", "2", d2);
	struct tu_buf b = take(s);
	b.len = 0;
	tu_put_result(&b, 2, 0, d2, NULL);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender_violation, result_for_unknown_id)
{
	uint32_t ids[] = { 0, 2, 7, 0xFFFFFFFFu };
	for (int i = 0; i < 4; i++) {
		struct tcpx_sender *s = ready_sender(0, 0);
		whole_file(s, "a", "1", NULL);
		struct tu_buf b = take(s);
		b.len = 0;
		tu_put_result(&b, ids[i], TCPX_E_EXISTS, NULL, NULL);
		feed(s, &b);
		expect_proto_error(s, TCPX_E_UNEXPECTED);
		sender_free(s);
		tu_buf_free(&b);
	}
}

Test(sender_violation, result_with_no_file)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	struct tu_buf b = { 0 };
	tu_put_result(&b, 1, TCPX_E_EXISTS, NULL, NULL);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	/* and after every file got its RESULT */
	s = ready_sender(0, 0);
	uint8_t dg[64];
	whole_file(s, "a", "1", dg);
	struct tu_buf out = take(s);
	tu_put_result(&b, 1, 0, dg, NULL);
	tu_put_result(&b, 1, 0, dg, NULL);
	feed(s, &b);
	cr_assert_eq(next(s).type, SEV_RESULT);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	tu_buf_free(&b);
	tu_buf_free(&out);
}

Test(sender_violation, result_accepted_before_end)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	begin(s, "f", 10, NULL);
	chunk(s, "01234", 5);
	struct tu_buf b = take(s);
	b.len = 0;
	uint8_t dg[64] = { 0 };
	tu_put_result(&b, 1, 0, dg, NULL);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender_violation, result_accepted_for_aborted_file)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	begin(s, "f", 10, NULL);
	chunk(s, "01234", 5);
	cr_assert_eq(sender_abort_file(s), 0);
	struct tu_buf b = take(s);
	b.len = 0;
	uint8_t dg[64];
	tu_digest_of((const uint8_t *)"01234", 5, dg);
	tu_put_result(&b, 1, 0, dg, NULL);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender_violation, result_for_aborted_file_with_aborted_code_is_fine)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	begin(s, "f", 10, NULL);
	cr_assert_eq(sender_abort_file(s), 0);
	struct tu_buf b = take(s);
	b.len = 0;
	tu_put_result(&b, 1, TCPX_E_ABORTED, NULL, "aborted by sender");
	feed(s, &b);
	struct sender_event ev = next(s);
	cr_assert_eq(ev.type, SEV_RESULT);
	cr_assert_eq(ev.code, TCPX_E_ABORTED);
	cr_assert_eq(sender_state(s), SS_READY);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender_violation, bye_before_all_results)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	uint8_t d1[64];
	whole_file(s, "a", "1", d1);
	whole_file(s, "b", "2", NULL);
	cr_assert_eq(sender_bye(s), 0);
	struct tu_buf b = take(s);
	b.len = 0;
	tu_put_result(&b, 1, 0, d1, NULL);
	tu_put_empty(&b, TCPX_FRAME_BYE);
	feed(s, &b);
	cr_assert_eq(next(s).type, SEV_RESULT);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender_violation, bye_before_our_bye)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	struct tu_buf b = { 0 };
	tu_put_empty(&b, TCPX_FRAME_BYE);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender_violation, unexpected_frames_from_receiver)
{
	uint8_t types[] = { TCPX_FRAME_DATA, TCPX_FRAME_FILE, TCPX_FRAME_END,
			    TCPX_FRAME_ABORT };
	for (int i = 0; i < 4; i++) {
		struct tcpx_sender *s = ready_sender(0, 0);
		whole_file(s, "a", "1", NULL);
		struct tu_buf b = take(s);
		b.len = 0;
		/* whole frames */
		if (types[i] == TCPX_FRAME_DATA)
			tu_put_data_raw(&b, "xyz", 3);
		else if (types[i] == TCPX_FRAME_FILE)
			tu_put_file(&b, 1, 1, "a");
		else if (types[i] == TCPX_FRAME_END)
			tu_put_end(&b, (const uint8_t[64]){ 0 });
		else
			tu_put_empty(&b, TCPX_FRAME_ABORT);
		feed(s, &b);
		expect_proto_error(s, TCPX_E_UNEXPECTED);
		sender_free(s);
		tu_buf_free(&b);
	}
}

Test(sender_violation, unexpected_data_detected_from_header_alone)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	struct tu_buf b = { 0 };
	tu_put_header(&b, TCPX_FRAME_DATA, 0, 0, 100000);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender_violation, bad_headers)
{
	struct { uint8_t type, flags; uint16_t res; uint32_t len; int code; } c[] = {
		{ 9, 0, 0, 0, TCPX_E_UNEXPECTED },
		{ 0, 0, 0, 0, TCPX_E_UNEXPECTED },
		{ 255, 0, 0, 4, TCPX_E_UNEXPECTED },
		{ TCPX_FRAME_RESULT, 1, 0, 72, TCPX_E_MALFORMED },
		{ TCPX_FRAME_RESULT, 0, 0x100, 72, TCPX_E_MALFORMED },
		{ TCPX_FRAME_RESULT, 0, 0, 0xFFFFFFFFu, TCPX_E_FRAME_TOO_LARGE },
		{ TCPX_FRAME_RESULT, 0, 0, 1097, TCPX_E_FRAME_TOO_LARGE },
		{ TCPX_FRAME_BYE, 0, 0, 1, TCPX_E_FRAME_TOO_LARGE },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct tcpx_sender *s = ready_sender(0, 0);
		struct tu_buf b = { 0 };
		tu_put_header(&b, c[i].type, c[i].flags, c[i].res, c[i].len);
		feed(s, &b);
		expect_proto_error(s, c[i].code);
		sender_free(s);
		tu_buf_free(&b);
	}
}

Test(sender_violation, malformed_result)
{
	struct tcpx_sender *s = ready_sender(0, 0);
	whole_file(s, "a", "1", NULL);
	struct tu_buf b = take(s);
	b.len = 0;
	tu_put_header(&b, TCPX_FRAME_RESULT, 0, 0, 75);
	tu_buf_be32(&b, 1);
	tu_buf_be16(&b, 33);
	tu_buf_be16(&b, 2);                 /* says 2, carries 3 */
	tu_buf_fill(&b, 0, 64 + 3);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_MALFORMED);
	sender_free(s);
	tu_buf_free(&b);
}

/* ---- the sender against the real receiver ------------------------------ */

static void expect_all_verified(struct tu_session *t)
{
	for (size_t i = 0; i < t->n; i++) {
		struct tu_file *f = &t->files[i];
		uint8_t dg[64];
		cr_assert_eq(f->results, 1, "file %zu: %d RESULTs", i, f->results);
		cr_assert_eq(f->result_code, 0, "file %zu: code %d", i, f->result_code);
		tu_file_digest(f, dg);
		cr_assert_arr_eq(f->result_digest, dg, 64, "file %zu: digest", i);
		cr_assert_eq(f->rev_file, 1);
		cr_assert_eq(f->rev_end, 1);
		cr_assert_eq(f->end_code, 0);
		cr_assert_eq(f->received, f->size, "file %zu: %llu of %llu bytes", i,
			     (unsigned long long)f->received, (unsigned long long)f->size);
		cr_assert(f->content_ok, "file %zu: content differs", i);
	}
	cr_assert(t->results_in_order);
	cr_assert_eq(t->bye_before_results, 0);
	cr_assert_eq(t->failed_commit, 0);
	cr_assert_eq(sender_state(t->s), SS_DONE);
	cr_assert(receiver_finished(t->r));
	cr_assert_eq(sender_outstanding(t->s), 0u);
}

Test(session, one_file)
{
	struct tu_session t;
	struct tu_file *f = tu_files_new(1, 100000, TU_TEXT);
	tu_session_init(&t, f, 1, 0, NULL);
	cr_assert_eq(tu_session_run(&t), 0);
	expect_all_verified(&t);
	cr_assert_eq(t.sev_hello, 1);
	cr_assert_eq(t.rev_hello, 1);
	cr_assert_eq(t.caps, 0u);
	cr_assert_eq(f[0].data_frames, 1u);
	tu_session_free(&t);
	free(f);
}

static void sizes(int level, enum tu_content kind)
{
	static const uint64_t sz[] = { 0, 1, 262143, 262144, 262145, 3 * 262144 + 7 };
	size_t n = sizeof(sz) / sizeof(sz[0]);
	struct tu_session t;
	struct tu_file *f = tu_files_new(n, 0, kind);
	for (size_t i = 0; i < n; i++)
		f[i].size = sz[i];
	tu_session_init(&t, f, n, level, NULL);
	t.xfer = 70001;
	cr_assert_eq(tu_session_run(&t), 0);
	expect_all_verified(&t);
	cr_assert_eq(t.caps, level ? TCPX_CAP_ZLIB : 0u);
	for (size_t i = 0; i < n; i++) {
		unsigned want = (unsigned)((sz[i] + TCPX_CHUNK_MAX - 1) / TCPX_CHUNK_MAX);
		cr_assert_eq(f[i].data_frames, want, "size %llu: %u DATA frames",
			     (unsigned long long)sz[i], f[i].data_frames);
		/* text chunks shrink unless tiny (the 1- and 7-byte tails) */
		unsigned zwant = (unsigned)(sz[i] / TCPX_CHUNK_MAX) +
				 (sz[i] % TCPX_CHUNK_MAX >= 64);
		if (!level || kind == TU_RANDOM)
			zwant = 0;
		cr_assert_eq(f[i].zlib_frames, zwant, "size %llu: %u of %u compressed",
			     (unsigned long long)sz[i], f[i].zlib_frames, want);
	}
	tu_session_free(&t);
	free(f);
}

Test(session, sizes_raw)                { sizes(0, TU_TEXT); }
Test(session, sizes_compressed)         { sizes(6, TU_TEXT); }
Test(session, sizes_compressed_level_1) { sizes(1, TU_TEXT); }
Test(session, sizes_incompressible)     { sizes(9, TU_RANDOM); }

/* Chunks compressed outside the sender (the sending loop's worker threads) and
 * framed with sender_commit_prepared(). */
Test(session, prepared_chunks)
{
	static const uint64_t sz[] = { 0, 1, 262144, 262145, 700000 };
	struct tu_session t;
	struct tu_file *f = tu_files_new(5, 0, TU_TEXT);
	for (int i = 0; i < 5; i++)
		f[i].size = sz[i];
	f[3].kind = TU_RANDOM;
	tu_session_init(&t, f, 5, 6, NULL);
	t.prepared = 6;
	t.xfer = 100000;
	cr_assert_eq(tu_session_run(&t), 0);
	expect_all_verified(&t);
	cr_assert_eq(f[2].zlib_frames, 1u);
	cr_assert_eq(f[3].zlib_frames, 0u, "random data sent compressed");
	cr_assert_eq(f[4].zlib_frames, 3u);
	tu_session_free(&t);
	free(f);
}

Test(session, receiver_without_zlib)
{
	struct receiver_config cfg = { .caps = 0 };
	struct tu_session t;
	struct tu_file *f = tu_files_new(2, 300000, TU_TEXT);
	tu_session_init(&t, f, 2, 6, &cfg);
	cr_assert_eq(tu_session_run(&t), 0);
	expect_all_verified(&t);
	cr_assert_eq(t.caps, 0u);
	cr_assert_eq(f[0].zlib_frames + f[1].zlib_frames, 0u);
	tu_session_free(&t);
	free(f);
}

Test(session, empty_file_only)
{
	struct tu_session t;
	struct tu_file *f = tu_files_new(1, 0, TU_TEXT);
	tu_session_init(&t, f, 1, 0, NULL);
	cr_assert_eq(tu_session_run(&t), 0);
	expect_all_verified(&t);
	uint8_t empty[64];
	tu_hex_decode(B2_EMPTY, empty, 64);
	cr_assert_arr_eq(f[0].result_digest, empty, 64);
	cr_assert_eq(f[0].data_frames, 0u);
	tu_session_free(&t);
	free(f);
}

Test(session, no_files)
{
	struct tu_session t;
	tu_session_init(&t, NULL, 0, 0, NULL);
	cr_assert_eq(tu_session_run(&t), 0);
	cr_assert_eq(t.sev_bye, 1);
	cr_assert_eq(t.rev_bye, 1);
	cr_assert_eq(sender_state(t.s), SS_DONE);
	tu_session_free(&t);
}

/* 3000 small files: more than the window.  RESULTs are held back while
 * the sender can still make progress, so it must stop at exactly 1024
 * files awaiting a RESULT, and go on as they arrive. */
Test(session, pipelined_3000_files_stop_at_the_window)
{
	size_t n = 3000;
	struct tu_session t;
	struct tu_file *f = tu_files_new(n, 0, TU_RANDOM);
	for (size_t i = 0; i < n; i++)
		f[i].size = i % 5 == 0 ? 0 : i % 97;
	tu_session_init(&t, f, n, 0, NULL);
	t.hold_results = 1;
	cr_assert_eq(tu_session_run(&t), 0);
	expect_all_verified(&t);
	cr_assert_eq(t.max_outstanding, (size_t)SENDER_WINDOW,
		     "at most %zu files awaited a RESULT", t.max_outstanding);
	cr_assert(t.window_blocked >= 2, "sender sat at its window %u times",
		  t.window_blocked);
	cr_assert_eq(t.last_result_id, 3000u);
	tu_session_free(&t);
	free(f);
}

Test(session, pipelined_files_compressed_small_pieces)
{
	size_t n = 300;
	struct tu_session t;
	struct tu_file *f = tu_files_new(n, 0, TU_TEXT);
	for (size_t i = 0; i < n; i++)
		f[i].size = (i * 7919) % 20000;
	tu_session_init(&t, f, n, 6, NULL);
	t.xfer = 997;
	t.chunk = 4096;
	cr_assert_eq(tu_session_run(&t), 0);
	expect_all_verified(&t);
	tu_session_free(&t);
	free(f);
}

/* The receiver refuses a big file at REV_FILE: the sender learns it while
 * still sending, aborts, and the next file goes through. */
Test(session, early_refusal_aborts_the_file_in_flight)
{
	struct tu_session t;
	struct tu_file *f = tu_files_new(2, 0, TU_RANDOM);
	f[0].size = 16 * (uint64_t)TCPX_CHUNK_MAX;
	f[0].fail_at_file = TCPX_E_IO;
	f[1].size = 300000;
	tu_session_init(&t, f, 2, 0, NULL);
	t.xfer = 65536;
	cr_assert_eq(tu_session_run(&t), 0);
	cr_assert_eq(f[0].results, 1);
	cr_assert_eq(f[0].result_code, TCPX_E_IO);
	cr_assert_eq(f[0].refused_in_flight, 1, "sender_current_refused() not set");
	cr_assert_eq(f[0].aborted, 1);
	cr_assert(f[0].sent < f[0].size, "sender sent all %llu bytes anyway",
		  (unsigned long long)f[0].sent);
	cr_assert_eq(f[0].rev_file, 1);
	cr_assert_eq(f[0].rev_skipped, 1, "ABORT of a failed file is skipped");
	cr_assert_eq(f[0].rev_aborted, 0, "no second RESULT (38) for it");
	cr_assert_eq(f[0].rev_end, 0);
	cr_assert_eq(f[1].results, 1);
	cr_assert_eq(f[1].result_code, 0);
	cr_assert(f[1].content_ok);
	cr_assert_eq(f[1].received, f[1].size);
	cr_assert(t.results_in_order);
	cr_assert_eq(sender_state(t.s), SS_DONE);
	tu_session_free(&t);
	free(f);
}

Test(session, receiver_fails_mid_data)
{
	struct tu_session t;
	struct tu_file *f = tu_files_new(3, 0, TU_TEXT);
	f[0].size = 1000000;
	f[0].fail_at_data = TCPX_E_NO_SPACE;
	f[0].fail_offset = 262144;
	f[1].size = 5;
	f[2].size = 600000;
	tu_session_init(&t, f, 3, 6, NULL);
	cr_assert_eq(tu_session_run(&t), 0);
	cr_assert_eq(f[0].result_code, TCPX_E_NO_SPACE);
	cr_assert_eq(f[0].results, 1);
	cr_assert_eq(f[0].rev_end, 0);
	cr_assert_eq(f[0].rev_skipped, 1);
	cr_assert(f[0].received >= 262144 && f[0].received < f[0].size);
	for (int i = 1; i < 3; i++) {
		cr_assert_eq(f[i].result_code, 0, "file %d", i);
		cr_assert(f[i].content_ok);
		cr_assert_eq(f[i].received, f[i].size);
	}
	cr_assert_eq(sender_state(t.s), SS_DONE);
	tu_session_free(&t);
	free(f);
}

/* One DATA byte flipped in transit: the receiver's digest differs from
 * END's, it answers 34, the sender reports 34, the session goes on. */
Test(session, tampered_data_is_a_digest_mismatch)
{
	struct tu_session t;
	struct tu_file *f = tu_files_new(3, 300000, TU_RANDOM);
	tu_session_init(&t, f, 3, 0, NULL);
	t.tamper_data = 2;          /* file 1's first chunk (file 0 has 2) */
	t.tamper_offset = 8 + 1000;
	cr_assert_eq(tu_session_run(&t), 0);
	cr_assert_eq(f[0].result_code, 0);
	cr_assert_eq(f[1].rev_end, 1);
	cr_assert_eq(f[1].end_code, TCPX_E_DIGEST, "receiver END code %d", f[1].end_code);
	cr_assert_eq(f[1].result_code, TCPX_E_DIGEST, "sender code %d", f[1].result_code);
	cr_assert_eq(f[1].content_ok, 0, "tamper did not happen");
	cr_assert_eq(f[2].result_code, 0);
	cr_assert_eq(sender_state(t.s), SS_DONE);
	tu_session_free(&t);
	free(f);
}

Test(session, tampered_end_is_a_digest_mismatch)
{
	struct tu_session t;
	struct tu_file *f = tu_files_new(2, 1000, TU_TEXT);
	tu_session_init(&t, f, 2, 6, NULL);
	t.tamper_end = 0;
	cr_assert_eq(tu_session_run(&t), 0);
	cr_assert_eq(f[0].end_code, TCPX_E_DIGEST);
	cr_assert_eq(f[0].result_code, TCPX_E_DIGEST);
	cr_assert(f[0].content_ok);
	cr_assert_eq(f[1].result_code, 0);
	tu_session_free(&t);
	free(f);
}

/* A receiver that says "accepted" with a digest that is not ours: the
 * sender's own check fails the file. */
Test(session, accepted_with_wrong_digest_fails_on_the_sender)
{
	struct tu_session t;
	struct tu_file *f = tu_files_new(2, 5000, TU_TEXT);
	tu_session_init(&t, f, 2, 0, NULL);
	t.tamper_result = 1;
	cr_assert_eq(tu_session_run(&t), 0);
	cr_assert_eq(f[0].result_code, 0);
	cr_assert_eq(f[1].end_code, 0, "receiver matched");
	cr_assert_eq(f[1].result_code, TCPX_E_DIGEST, "sender accepted a foreign digest");
	tu_session_free(&t);
	free(f);
}

Test(session, commit_failure_is_reported)
{
	struct tu_session t;
	struct tu_file *f = tu_files_new(3, 10, TU_TEXT);
	f[1].commit_code = TCPX_E_EXISTS;
	tu_session_init(&t, f, 3, 0, NULL);
	cr_assert_eq(tu_session_run(&t), 0);
	cr_assert_eq(f[0].result_code, 0);
	cr_assert_eq(f[1].result_code, TCPX_E_EXISTS);
	cr_assert_eq(f[2].result_code, 0);
	tu_session_free(&t);
	free(f);
}

/* The sender's BYE goes out while RESULTs are outstanding; the session
 * completes only once every RESULT arrived, then the receiver's BYE. */
Test(session, bye_completes_after_all_results)
{
	struct tu_session t;
	struct tu_file *f = tu_files_new(50, 100, TU_TEXT);
	tu_session_init(&t, f, 50, 0, NULL);
	t.hold_results = 1;
	int bye_with_outstanding = 0;
	while (!t.sev_bye) {
		cr_assert(++t.steps < 100000);
		int progress = tu_produce(&t);
		while (tu_move(&t, 1))
			progress = 1;
		progress |= tu_drain_receiver(&t);
		if (t.bye_sent && sender_outstanding(t.s) > 0) {
			bye_with_outstanding = 1;
			cr_assert_eq(sender_state(t.s), SS_BYE_SENT);
		}
		if (!progress)
			tu_move(&t, 0);
		tu_drain_sender(&t);
		cr_assert_eq(t.sev_error + t.rev_fatal, 0);
	}
	cr_assert(bye_with_outstanding, "BYE was never sent ahead of RESULTs");
	expect_all_verified(&t);
	tu_session_free(&t);
	free(f);
}

Test(session, files_with_many_tiny_chunks)
{
	struct tu_session t;
	struct tu_file *f = tu_files_new(2, 5000, TU_RANDOM);
	tu_session_init(&t, f, 2, 0, NULL);
	t.chunk = 1;
	cr_assert_eq(tu_session_run(&t), 0);
	expect_all_verified(&t);
	cr_assert_eq(f[0].data_frames, 5000u);
	tu_session_free(&t);
	free(f);
}

/* ---- directories (TREE) ------------------------------------------------- */

TestSuite(sender_tree, .init = init);

/* A sender that asked for TREE, past a handshake granting `granted`. */
static struct tcpx_sender *tree_sender(uint64_t granted)
{
	struct tcpx_sender *s = sender_new(TCPX_CAP_TREE, 0);
	struct tu_buf b = { 0 };
	cr_assert(s != NULL);
	struct tu_buf hello = take(s);
	cr_assert_eq(be64_load(hello.p + 16), TCPX_CAP_TREE, "TREE asked for");
	tu_buf_free(&hello);
	cr_assert_eq(sender_has_tree(s), 0, "not before the handshake");
	tu_put_hello(&b, 1, 1, granted);
	feed(s, &b);
	cr_assert_eq(next(s).type, SEV_HELLO);
	tu_buf_free(&b);
	return s;
}

static int begin_dir(struct tcpx_sender *s, const char *name, void *cookie,
		     uint32_t *id)
{
	struct tcpx_file_meta m = { .mode = 0750, .mtime_sec = 981173106,
				    .mtime_nsec = 9, .name = (const uint8_t *)name,
				    .name_len = (uint16_t)strlen(name) };
	int rc = sender_begin_dir(s, &m, cookie);
	if (id)
		*id = m.id;
	return rc;
}

Test(sender_tree, dir_frame_and_state)
{
	struct tcpx_sender *s = tree_sender(TCPX_CAP_TREE);
	uint32_t id;
	cr_assert_eq(sender_has_tree(s), 1);
	cr_assert_eq(begin_dir(s, "photos", NULL, &id), 0);
	cr_assert_eq(id, 1u);
	cr_assert_eq(sender_state(s), SS_READY, "a DIR is one frame");
	cr_assert_eq(sender_outstanding(s), 1u);
	struct tu_buf out = take(s);
	struct tcpx_frame f;
	size_t consumed;
	cr_assert_eq(frame_decode(out.p, out.len, &proto_frame_limits, &f,
				  &consumed, NULL), 1);
	cr_assert_eq(consumed, out.len);
	struct tcpx_file_meta m;
	cr_assert_eq(proto_decode_dir(&f, &m), 0);
	cr_assert_eq(m.id, 1u);
	cr_assert_eq(m.mode, 0750u);
	cr_assert_eq(m.mtime_sec, 981173106);
	cr_assert_eq(m.mtime_nsec, 9u);
	cr_assert(m.name_len == 6 && memcmp(m.name, "photos", 6) == 0);
	tu_buf_free(&out);
	sender_free(s);
}

Test(sender_tree, no_dir_without_the_capability)
{
	struct tcpx_sender *s = tree_sender(0);
	cr_assert_eq(sender_has_tree(s), 0);
	cr_assert_eq(begin_dir(s, "photos", NULL, NULL), -TCPX_E_UNEXPECTED);
	cr_assert_eq(sender_outstanding(s), 0u);
	const uint8_t *p;
	size_t n;
	sender_pending(s, &p, &n);
	cr_assert_eq(n, 0u, "nothing queued");
	sender_free(s);
	/* and a sender that never asked for TREE cannot be granted it */
	s = sender_new(0, 0);
	struct tu_buf b = take(s);
	tu_buf_free(&b);
	tu_put_hello(&b, 1, 1, TCPX_CAP_TREE);
	feed(s, &b);
	cr_assert_eq(next(s).type, SEV_PROTO_ERROR);
	tu_buf_free(&b);
	sender_free(s);
}

Test(sender_tree, no_dir_while_a_file_is_in_progress)
{
	struct tcpx_sender *s = tree_sender(TCPX_CAP_TREE);
	begin(s, "a", 5, NULL);
	cr_assert_eq(begin_dir(s, "d", NULL, NULL), -TCPX_E_INTERNAL);
	cr_assert_eq(sender_outstanding(s), 1u);
	sender_free(s);
}

Test(sender_tree, results_in_order_mixed_with_files)
{
	struct tcpx_sender *s = tree_sender(TCPX_CAP_TREE);
	uint8_t d1[64], d3[64], zero[64] = { 0 };
	uint32_t id;
	int c[4];
	cr_assert_eq(whole_file(s, "t/a", "one", d1), 1u);
	cr_assert_eq(begin_dir(s, "t/sub", &c[1], &id), 0);
	cr_assert_eq(id, 2u);
	cr_assert_eq(whole_file(s, "t/b", "three", d3), 3u);
	cr_assert_eq(begin_dir(s, "t", &c[3], &id), 0);
	cr_assert_eq(id, 4u);
	struct tu_buf out = take(s);
	tu_buf_free(&out);
	struct tu_buf b = { 0 };
	tu_put_result(&b, 1, 0, d1, "");
	tu_put_result(&b, 2, 0, zero, "");
	tu_put_result(&b, 3, 0, d3, "");
	tu_put_result(&b, 4, 0, d1, "");        /* a DIR's digest is zeros */
	feed(s, &b);
	struct sender_event ev = next(s);
	cr_assert(ev.type == SEV_RESULT && ev.id == 1 && ev.code == 0);
	ev = next(s);
	cr_assert(ev.type == SEV_RESULT && ev.id == 2 && ev.code == 0);
	cr_assert_eq(ev.cookie, &c[1]);
	ev = next(s);
	cr_assert(ev.type == SEV_RESULT && ev.id == 3 && ev.code == 0);
	ev = next(s);
	cr_assert(ev.type == SEV_RESULT && ev.id == 4);
	cr_assert_eq(ev.code, TCPX_E_DIGEST);
	cr_assert_eq(ev.cookie, &c[3]);
	cr_assert_eq(sender_outstanding(s), 0u);
	/* a RESULT for a DIR out of order is a violation */
	cr_assert_eq(begin_dir(s, "u", NULL, &id), 0);
	cr_assert_eq(begin_dir(s, "v", NULL, &id), 0);
	tu_put_result(&b, 6, 0, zero, "");
	feed(s, &b);
	cr_assert_eq(next(s).type, SEV_PROTO_ERROR);
	tu_buf_free(&b);
	sender_free(s);
}

/* ---- streams (STREAM: size unknown until STREAM_END) ---------------------- */

TestSuite(sender_stream, .init = init);

/* A sender that asked for want and got granted, its HELLO taken. */
static struct tcpx_sender *stream_sender(uint64_t want, uint64_t granted)
{
	struct tcpx_sender *s = sender_new(want, 0);
	struct tu_buf b = { 0 };
	cr_assert(s != NULL);
	struct tu_buf hello = take(s);
	cr_assert_eq(be64_load(hello.p + 16), want, "HELLO asks for 0x%llx",
		     (unsigned long long)be64_load(hello.p + 16));
	tu_buf_free(&hello);
	tu_put_hello(&b, 1, 1, granted);
	feed(s, &b);
	cr_assert_eq(next(s).type, SEV_HELLO);
	tu_buf_free(&b);
	return s;
}

Test(sender_stream, needs_the_capability)
{
	struct tcpx_sender *s = stream_sender(TCPX_CAP_STREAM, 0);
	struct tcpx_file_meta m = { .size = TCPX_SIZE_UNKNOWN, .mode = 0644,
				    .name = (const uint8_t *)"s", .name_len = 1 };
	cr_assert_eq(sender_has_stream(s), 0);
	cr_assert_eq(sender_begin_file(s, &m, NULL), -TCPX_E_UNEXPECTED);
	cr_assert_eq(sender_state(s), SS_READY);
	struct tu_buf out = take(s);
	cr_assert_eq(out.len, 0u, "nothing queued");
	tu_buf_free(&out);
	sender_free(s);
}

Test(sender_stream, data_until_the_caller_ends_it_then_stream_end)
{
	struct tcpx_sender *s = stream_sender(TCPX_CAP_STREAM, TCPX_CAP_STREAM);
	uint8_t dg[64];
	cr_assert(sender_has_stream(s));
	uint32_t id = begin(s, "s", TCPX_SIZE_UNKNOWN, NULL);
	cr_assert_eq(sender_next_action(s, 0), SA_DATA);
	chunk(s, "hel", 3);
	chunk(s, "lo", 2);
	/* no size to reach: still data until the input ends */
	cr_assert_eq(sender_next_action(s, 0), SA_DATA);
	cr_assert_eq(sender_end_file(s), 0);
	cr_assert_eq(sender_state(s), SS_READY);
	struct tu_buf out = take(s);
	struct tu_frame fr[8];
	size_t n = tu_parse_frames(out.p, out.len, fr, 8);
	cr_assert_eq(n, 4u);
	cr_assert_eq(fr[0].type, TCPX_FRAME_FILE);
	cr_assert_eq(be64_load(fr[0].payload + 4), TCPX_SIZE_UNKNOWN);
	cr_assert_eq(fr[3].type, TCPX_FRAME_STREAM_END);
	cr_assert_eq(fr[3].length, 72u);
	cr_assert_eq(be64_load(fr[3].payload), 5u);
	tu_digest_of((const uint8_t *)"hello", 5, dg);
	cr_assert_arr_eq(fr[3].payload + 8, dg, 64);
	tu_buf_free(&out);
	/* the receiver's verdict with that digest verifies it */
	struct tu_buf b = { 0 };
	tu_put_result(&b, id, 0, dg, NULL);
	feed(s, &b);
	struct sender_event ev = next(s);
	cr_assert_eq(ev.type, SEV_RESULT);
	cr_assert_eq(ev.code, 0);
	tu_buf_free(&b);
	sender_free(s);
}

Test(sender_stream, refused_part_way_then_aborted)
{
	struct tcpx_sender *s = stream_sender(TCPX_CAP_STREAM, TCPX_CAP_STREAM);
	uint32_t id = begin(s, "s", TCPX_SIZE_UNKNOWN, NULL);
	chunk(s, "abc", 3);
	struct tu_buf b = { 0 };
	tu_put_result(&b, id, TCPX_E_TOO_BIG, NULL, "too big");
	feed(s, &b);
	struct sender_event ev = next(s);
	cr_assert_eq(ev.type, SEV_RESULT);
	cr_assert_eq(ev.code, TCPX_E_TOO_BIG);
	cr_assert_eq(sender_next_action(s, 0), SA_ABORT);
	cr_assert_eq(sender_abort_file(s), 0);
	tu_buf_free(&b);
	sender_free(s);
}

/* In memory against the real receiver: a stream of three full chunks. */
Test(sender_stream, against_the_receiver)
{
	struct tcpx_sender *s = sender_new(TCPX_CAP_STREAM, 0);
	struct receiver_config cfg = { .caps = TCPX_CAPS_V1 };
	struct tcpx_receiver *r = receiver_new(&cfg);
	static uint8_t data[3 * TCPX_CHUNK_MAX];
	uint8_t dg[64];
	const uint8_t *p;
	size_t n, got = 0, off = 0;
	int started = 0, ended = 0, verified = 0;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	tu_digest_of(data, sizeof(data), dg);
	for (int round = 0; round < 10000 && !verified; round++) {
		sender_pending(s, &p, &n);
		sender_sent(s, tu_reader_take(p, n, receiver_reader(r)));
		struct receiver_event rev;
		for (receiver_next(r, &rev); rev.type != REV_NONE; receiver_next(r, &rev)) {
			cr_assert_neq(rev.type, REV_FATAL, "%s", rev.msg);
			if (rev.type == REV_FILE)
				cr_assert(rev.stream);
			if (rev.type == REV_DATA) {
				cr_assert_arr_eq(rev.data, data + got, rev.len);
				got += rev.len;
			}
			if (rev.type == REV_END) {
				cr_assert_eq(rev.code, 0);
				receiver_file_done(r, 0, NULL);
			}
		}
		receiver_pending(r, &p, &n);
		receiver_sent(r, tu_reader_take(p, n, sender_reader(s)));
		struct sender_event sev;
		for (sender_next(s, &sev); sev.type != SEV_NONE; sender_next(s, &sev)) {
			if (sev.type != SEV_RESULT)
				continue;
			cr_assert_eq(sev.code, 0);
			cr_assert_arr_eq(sev.digest, dg, 64);
			verified = 1;
		}
		if (!started && sender_can_begin(s)) {
			struct tcpx_file_meta m = { .size = TCPX_SIZE_UNKNOWN,
				.mode = 0644, .name = (const uint8_t *)"s",
				.name_len = 1 };
			cr_assert_eq(sender_begin_file(s, &m, NULL), 0);
			started = 1;
		}
		while (started && !ended && sender_has_room(s)) {
			size_t cap;
			uint8_t *buf;
			if (off == sizeof(data)) {      /* the input's end */
				cr_assert_eq(sender_end_file(s), 0);
				ended = 1;
				break;
			}
			buf = sender_chunk_buffer(s, &cap);
			size_t k = sizeof(data) - off < cap ? sizeof(data) - off : cap;
			memcpy(buf, data + off, k);
			cr_assert_eq(sender_commit_chunk(s, k), 0);
			off += k;
		}
	}
	cr_assert(verified);
	cr_assert_eq(got, sizeof(data));
	sender_free(s);
	receiver_free(r);
}

/* ---- SECURE: no silent downgrade (man/tcpxfer.5 SECURE) ------------------ */

Test(sender_secure, asked_for_secure_and_not_granted_refuses)
{
	struct tcpx_sender *s = sender_new(TCPX_CAP_SECURE, 0);
	struct tu_buf b = take(s);
	cr_assert_eq(be64_load(b.p + 16), TCPX_CAP_SECURE, "the HELLO asks");
	tu_buf_free(&b);
	tu_put_hello(&b, 1, 1, 0);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_INSECURE);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender_secure, granted_secure_opens_the_session)
{
	struct tcpx_sender *s = sender_new(TCPX_CAP_SECURE | TCPX_CAP_AES256GCM, 0);
	struct tu_buf b = take(s);
	tu_buf_free(&b);
	tu_put_hello(&b, 1, 1, TCPX_CAP_SECURE);
	feed(s, &b);
	struct sender_event ev = next(s);
	cr_assert_eq(ev.type, SEV_HELLO);
	cr_assert_eq(ev.caps, TCPX_CAP_SECURE);
	sender_free(s);
	tu_buf_free(&b);
}
/* ---- offers (TCPX_CAP_OFFER) ------------------------------------------- */

TestSuite(sender_offer, .init = init);

static struct tcpx_sender *offering_sender(void)
{
	struct tcpx_sender *s = sender_new(TCPX_CAP_OFFER, 0);
	struct tu_buf b = { 0 };
	cr_assert(s != NULL);
	struct tu_buf hello = take(s);
	tu_buf_free(&hello);
	tu_put_hello(&b, 1, 1, TCPX_CAP_OFFER);
	feed(s, &b);
	cr_assert_eq(next(s).type, SEV_HELLO);
	cr_assert(sender_has_offer(s));
	tu_buf_free(&b);
	return s;
}

static uint32_t offer(struct tcpx_sender *s, const char *name, uint64_t size,
		      uint8_t flags, void *cookie)
{
	struct tcpx_offer o = { .meta = { .size = size, .mode = 0644,
					  .mtime_sec = 1700000000,
					  .name = (const uint8_t *)name,
					  .name_len = (uint16_t)strlen(name) },
				.flags = flags };
	cr_assert_eq(sender_next_action(s, 1), SA_OFFER);
	cr_assert_eq(sender_offer(s, &o, cookie), 0);
	return o.meta.id;
}

static void put_answer(struct tu_buf *b, uint32_t id, int disp, int code,
		       uint64_t offset, const uint8_t *digest)
{
	uint8_t frame[8 + 82];
	struct tcpx_answer a = { .id = id, .disposition = (uint8_t)disp,
				 .code = (uint16_t)code, .offset = offset,
				 .digest = digest };
	tu_buf_put(b, frame, proto_encode_answer(frame, &a));
}

Test(sender_offer, answers_settle_or_let_files_begin_in_offer_order)
{
	struct tcpx_sender *s = offering_sender();
	struct tu_buf b = { 0 };
	int c1, c2, c3;
	uint32_t id1 = offer(s, "one", 1, 0, &c1);
	uint32_t id2 = offer(s, "two", 1, 0, &c2);
	uint32_t id3 = offer(s, "three", 1, 0, &c3);
	cr_assert_eq(id1, 1u);
	cr_assert_eq(id3, 3u);
	struct tu_buf out = take(s);
	struct tu_frame fr[8];
	cr_assert_eq(tu_parse_frames(out.p, out.len, fr, 8), 3u);
	cr_assert_eq(fr[0].type, TCPX_FRAME_OFFER);
	tu_buf_free(&out);
	/* nothing answered: nothing to begin, no BYE */
	cr_assert_eq(sender_next_action(s, 0), SA_WAIT);
	put_answer(&b, id1, TCPX_ANSWER_SEND, 0, 0, NULL);
	put_answer(&b, id2, TCPX_ANSWER_SAME_TIME, 0, 0, NULL);
	put_answer(&b, id3, TCPX_ANSWER_REFUSED, TCPX_E_EXISTS, 0, NULL);
	feed(s, &b);
	struct sender_event ev = next(s);
	cr_assert_eq(ev.type, SEV_ANSWER);
	cr_assert_eq(ev.cookie, &c1);
	cr_assert_eq(ev.disposition, TCPX_ANSWER_SEND);
	ev = next(s);
	cr_assert_eq(ev.disposition, TCPX_ANSWER_SAME_TIME);
	cr_assert_eq(ev.cookie, &c2);
	ev = next(s);
	cr_assert_eq(ev.disposition, TCPX_ANSWER_REFUSED);
	cr_assert_eq(ev.code, TCPX_E_EXISTS);
	cr_assert_eq(sender_next_action(s, 0), SA_BEGIN);
	void *cookie;
	int is_dir, disp;
	uint64_t off;
	const uint8_t *pd;
	cr_assert(sender_offer_head(s, &cookie, &is_dir, &disp, &off, &pd));
	cr_assert_eq(cookie, &c1);
	/* the FILE repeats the offer's id */
	cr_assert_eq(begin(s, "one", 1, &c1), id1);
	chunk(s, "x", 1);
	cr_assert_eq(sender_end_file(s), 0);
	cr_assert_eq(sender_next_action(s, 0), SA_BYE);
	tu_buf_free(&b);
	sender_free(s);
}

Test(sender_offer, resumed_file_digest_covers_the_whole_file)
{
	struct tcpx_sender *s = offering_sender();
	struct tu_buf b = { 0 };
	uint8_t hi[64], whole[64];
	struct digest dg;
	int c;
	uint32_t id = offer(s, "a.txt", 3, TCPX_OFFER_RESUME, &c);
	struct tu_buf out = take(s);
	tu_buf_free(&out);
	tu_digest_of((const uint8_t *)"hi", 2, hi);
	put_answer(&b, id, TCPX_ANSWER_RESUME, 0, 2, hi);
	feed(s, &b);
	struct sender_event ev = next(s);
	cr_assert_eq(ev.disposition, TCPX_ANSWER_RESUME);
	cr_assert_eq(ev.offset, 2u);
	digest_init(&dg);
	digest_update(&dg, (const uint8_t *)"hi", 2);
	struct tcpx_file_meta m = { .size = 3, .mode = 0644,
				    .mtime_sec = 1700000000,
				    .name = (const uint8_t *)"a.txt", .name_len = 5 };
	cr_assert_eq(sender_begin_resumed(s, &m, &c, 1, &dg), -TCPX_E_INTERNAL,
		     "only from the offset answered");
	cr_assert_eq(sender_begin_resumed(s, &m, &c, 2, &dg), 0);
	cr_assert_eq(m.id, id);
	cr_assert_eq(sender_file_left(s), 1u);
	chunk(s, "\n", 1);
	cr_assert_eq(sender_end_file(s), 0);
	out = take(s);
	struct tu_frame fr[8];
	size_t n = tu_parse_frames(out.p, out.len, fr, 8);
	cr_assert_eq(n, 3u);
	cr_assert_eq(fr[0].type, TCPX_FRAME_RESUME);
	cr_assert_eq(be64_load(fr[0].payload + 30), 2u);
	cr_assert_eq(fr[2].type, TCPX_FRAME_END);
	tu_digest_of((const uint8_t *)"hi\n", 3, whole);
	cr_assert_arr_eq(fr[2].payload, whole, 64);
	tu_buf_free(&out);
	tu_buf_free(&b);
	sender_free(s);
}

Test(sender_offer, answers_that_break_the_rules)
{
	struct tu_buf b = { 0 };
	int c;
	/* out of order */
	struct tcpx_sender *s = offering_sender();
	offer(s, "one", 1, 0, &c);
	put_answer(&b, 2, TCPX_ANSWER_SEND, 0, 0, NULL);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	/* RESUME for an offer that cannot resume */
	s = offering_sender();
	uint32_t id = offer(s, "one", 5, 0, &c);
	put_answer(&b, id, TCPX_ANSWER_RESUME, 0, 2, NULL);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	/* RESUME past the size */
	s = offering_sender();
	id = offer(s, "one", 5, TCPX_OFFER_RESUME, &c);
	put_answer(&b, id, TCPX_ANSWER_RESUME, 0, 6, NULL);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	/* SAME_DIGEST without a digest offered */
	s = offering_sender();
	id = offer(s, "one", 5, 0, &c);
	put_answer(&b, id, TCPX_ANSWER_SAME_DIGEST, 0, 0, NULL);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	/* an ANSWER with no offer outstanding */
	s = offering_sender();
	put_answer(&b, 1, TCPX_ANSWER_SEND, 0, 0, NULL);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	/* and none at all without the capability */
	s = ready_sender(0, 0);
	put_answer(&b, 1, TCPX_ANSWER_SEND, 0, 0, NULL);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender_offer, the_window_is_bounded)
{
	struct tcpx_sender *s = offering_sender();
	static int c[TCPX_OFFER_WINDOW];
	char name[16];
	for (unsigned i = 0; i < TCPX_OFFER_WINDOW; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		offer(s, name, 1, 0, &c[i]);
		struct tu_buf out = take(s);
		tu_buf_free(&out);
	}
	cr_assert_eq(sender_next_action(s, 1), SA_WAIT);
	struct tcpx_offer o = { .meta = { .size = 1, .name = (const uint8_t *)"x",
					  .name_len = 1 } };
	cr_assert_eq(sender_offer(s, &o, NULL), -TCPX_E_INTERNAL);
	cr_assert_eq(sender_bye(s), -TCPX_E_INTERNAL, "no BYE with offers out");
	sender_free(s);
}

/* ---- offers and streams together ----------------------------------------- */

static struct tcpx_offer stream_offer(uint8_t flags)
{
	return (struct tcpx_offer){ .meta = { .size = TCPX_SIZE_UNKNOWN,
					      .mode = 0644,
					      .name = (const uint8_t *)"s",
					      .name_len = 1 },
				    .flags = flags };
}

/* A stream is offered with no flags, only with STREAM granted, and
 * nothing may call it identical. */
Test(sender_offer, a_stream_is_offered_without_flags_and_never_identical)
{
	struct tu_buf b = { 0 };
	int c;
	struct tcpx_sender *s = stream_sender(TCPX_CAP_OFFER | TCPX_CAP_STREAM,
					      TCPX_CAP_OFFER);
	struct tcpx_offer o = stream_offer(0);
	cr_assert_eq(sender_offer(s, &o, &c), -TCPX_E_UNEXPECTED);
	sender_free(s);
	s = stream_sender(TCPX_CAP_OFFER | TCPX_CAP_STREAM,
			  TCPX_CAP_OFFER | TCPX_CAP_STREAM);
	o = stream_offer(TCPX_OFFER_RESUME);
	cr_assert_eq(sender_offer(s, &o, &c), -TCPX_E_INTERNAL);
	o = stream_offer(TCPX_OFFER_CHECKSUM);
	cr_assert_eq(sender_offer(s, &o, &c), -TCPX_E_INTERNAL);
	o = stream_offer(0);
	cr_assert_eq(sender_offer(s, &o, &c), 0);
	put_answer(&b, o.meta.id, TCPX_ANSWER_SAME_TIME, 0, 0, NULL);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	tu_buf_free(&b);
}

Test(sender_offer, an_offered_stream_answered_send_ends_with_stream_end)
{
	struct tu_buf b = { 0 };
	int c;
	struct tcpx_sender *s = stream_sender(TCPX_CAP_OFFER | TCPX_CAP_STREAM,
					      TCPX_CAP_OFFER | TCPX_CAP_STREAM);
	struct tcpx_offer o = stream_offer(0);
	cr_assert_eq(sender_offer(s, &o, &c), 0);
	put_answer(&b, o.meta.id, TCPX_ANSWER_SEND, 0, 0, NULL);
	feed(s, &b);
	cr_assert_eq(next(s).type, SEV_ANSWER);
	cr_assert_eq(sender_next_action(s, 0), SA_BEGIN);
	cr_assert_eq(begin(s, "s", TCPX_SIZE_UNKNOWN, &c), o.meta.id);
	chunk(s, "abc", 3);
	cr_assert_eq(sender_next_action(s, 0), SA_DATA, "no size to reach");
	cr_assert_eq(sender_end_file(s), 0);
	struct tu_buf out = take(s);
	struct tu_frame fr[8];
	size_t n = tu_parse_frames(out.p, out.len, fr, 8);
	cr_assert_eq(n, 4u);
	cr_assert_eq(fr[0].type, TCPX_FRAME_OFFER);
	cr_assert_eq(be64_load(fr[0].payload + 4), TCPX_SIZE_UNKNOWN);
	cr_assert_eq(fr[1].type, TCPX_FRAME_FILE);
	cr_assert_eq(fr[3].type, TCPX_FRAME_STREAM_END);
	cr_assert_eq(be64_load(fr[3].payload), 3u);
	tu_buf_free(&out);
	tu_buf_free(&b);
	sender_free(s);
}

/* ---- several connections (MULTI) ---------------------------------------- */

TestSuite(sender_multi, .init = init);

static struct tcpx_sender *multi_sender(void)
{
	struct tcpx_sender *s = sender_new(TCPX_CAP_MULTI, 0);
	struct tu_buf b = { 0 };
	cr_assert(s != NULL);
	struct tu_buf hello = take(s);
	cr_assert_eq(be64_load(hello.p + 16), TCPX_CAP_MULTI);
	tu_buf_free(&hello);
	tu_put_hello(&b, 1, 1, TCPX_CAP_MULTI);
	feed(s, &b);
	cr_assert_eq(next(s).type, SEV_HELLO);
	tu_buf_free(&b);
	return s;
}

static void put_streams(struct tu_buf *b, uint16_t n)
{
	tu_put_header(b, TCPX_FRAME_STREAMS, 0, 0, 34);
	for (unsigned i = 0; i < 32; i++)
		tu_buf_u8(b, (uint8_t)i);
	tu_buf_be16(b, n);
}

Test(sender_multi, streams_event_once)
{
	struct tcpx_sender *s = multi_sender();
	struct tu_buf b = { 0 };
	put_streams(&b, 7);
	feed(s, &b);
	struct sender_event ev = next(s);
	cr_assert_eq(ev.type, SEV_STREAMS);
	cr_assert_eq(ev.offset, 7u);
	for (unsigned i = 0; i < 32; i++)
		cr_assert_eq(ev.token[i], i);
	put_streams(&b, 7);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);

	/* without MULTI granted STREAMS is not a frame of the session */
	s = ready_sender(0, 0);
	put_streams(&b, 7);
	feed(s, &b);
	expect_proto_error(s, TCPX_E_UNEXPECTED);
	sender_free(s);
	tu_buf_free(&b);
}

/* With a lane chosen, chunks go there as PLACE + DATA at their offsets;
 * FILE and END stay on the session's own queue, and the own queue takes
 * PLACE + DATA too once placing began. */
Test(sender_multi, chunks_placed_on_the_lane_chosen)
{
	struct tcpx_sender *s = multi_sender();
	struct outq lane;
	uint8_t data[3000];
	tu_fill_random(5, 0, data, sizeof(data));
	cr_assert_eq(outq_init(&lane, 2 * SENDER_LANE_RESERVE,
			       SENDER_LANE_RESERVE), 0);
	uint32_t id = begin(s, "f", sizeof(data), NULL);
	sender_set_lane(s, &lane);
	chunk(s, data, 1000);
	sender_set_lane(s, NULL);
	chunk(s, data + 1000, 1000);
	sender_set_lane(s, &lane);
	chunk(s, data + 2000, 1000);
	cr_assert_eq(sender_next_action(s, 0), SA_END);
	cr_assert_eq(sender_end_file(s), 0);

	struct tu_frame fr[16];
	const uint8_t *p;
	size_t n;
	outq_pending(&lane, &p, &n);
	size_t k = tu_parse_frames(p, n, fr, 16);
	cr_assert_eq(k, 4u);
	uint64_t offs[2] = { 0, 2000 };
	for (size_t i = 0; i < 2; i++) {
		cr_assert_eq(fr[2 * i].type, TCPX_FRAME_PLACE);
		cr_assert_eq(be32_load(fr[2 * i].payload), id);
		cr_assert_eq(be64_load(fr[2 * i].payload + 4), offs[i]);
		cr_assert_eq(fr[2 * i + 1].type, TCPX_FRAME_DATA);
		cr_assert(memcmp(fr[2 * i + 1].payload + 8, data + offs[i], 1000) == 0);
	}
	struct tu_buf own = take(s);
	k = tu_parse_frames(own.p, own.len, fr, 16);
	cr_assert_eq(k, 4u);
	cr_assert_eq(fr[0].type, TCPX_FRAME_FILE);
	cr_assert_eq(fr[1].type, TCPX_FRAME_PLACE);
	cr_assert_eq(be64_load(fr[1].payload + 4), 1000u);
	cr_assert_eq(fr[2].type, TCPX_FRAME_DATA);
	cr_assert_eq(fr[3].type, TCPX_FRAME_END);
	uint8_t dg[64];
	tu_digest_of(data, sizeof(data), dg);
	cr_assert_arr_eq(fr[3].payload, dg, 64);        /* the whole file's */
	tu_buf_free(&own);
	outq_free(&lane);
	sender_free(s);
}

/* A lane's queue without room: SA_WAIT for data, but END needs only the
 * own queue. */
Test(sender_multi, data_waits_for_the_lane_room)
{
	struct tcpx_sender *s = multi_sender();
	struct outq lane;
	static uint8_t data[TCPX_CHUNK_MAX];
	cr_assert_eq(outq_init(&lane, SENDER_LANE_RESERVE, SENDER_LANE_RESERVE), 0);
	begin(s, "f", 2 * sizeof(data), NULL);
	sender_set_lane(s, &lane);
	chunk(s, data, sizeof(data));
	cr_assert_eq(sender_data_room(s), 0);
	cr_assert_eq(sender_next_action(s, 0), SA_WAIT);
	sender_set_lane(s, NULL);
	cr_assert_eq(sender_next_action(s, 0), SA_DATA);
	outq_free(&lane);
	sender_free(s);
}

/* The extra connection's own little machine: HELLO, JOIN, JOINED, BYE. */
Test(sender_multi, lane_handshake_join_bye)
{
	struct sender_lane l;
	uint8_t token[32];
	struct lane_event ev;
	struct tu_buf b = { 0 };
	const uint8_t *p;
	size_t n;
	for (unsigned i = 0; i < 32; i++)
		token[i] = (uint8_t)i;
	cr_assert_eq(sender_lane_init(&l, TCPX_CAP_MULTI | TCPX_CAP_OFFER,
				      TCPX_CAP_MULTI, token, 1), 0);
	outq_pending(&l.out, &p, &n);
	cr_assert_eq(n, 24u);
	cr_assert_eq(p[0], TCPX_FRAME_HELLO);
	outq_consume(&l.out, n);
	tu_put_hello(&b, 1, 1, TCPX_CAP_MULTI);
	tu_reader_feed(&l.rd, b.p, b.len, 0);
	b.len = 0;
	sender_lane_next(&l, &ev);
	cr_assert_eq(ev.type, LEV_HELLO);
	sender_lane_join(&l);
	outq_pending(&l.out, &p, &n);
	uint8_t want[42];
	cr_assert_eq(tu_hex_decode("15 00 00 00 00 00 00 22 00 01 02 03 04 05 06 07"
				   "08 09 0a 0b 0c 0d 0e 0f 10 11 12 13 14 15 16 17"
				   "18 19 1a 1b 1c 1d 1e 1f 00 01", want, 42), 42u);
	cr_assert_eq(n, 42u);
	cr_assert_arr_eq(p, want, 42);
	outq_consume(&l.out, n);
	tu_put_empty(&b, TCPX_FRAME_JOINED);
	tu_reader_feed(&l.rd, b.p, b.len, 0);
	b.len = 0;
	sender_lane_next(&l, &ev);
	cr_assert_eq(ev.type, LEV_JOINED);
	cr_assert_eq(l.state, LANE_READY);
	cr_assert_eq(sender_lane_bye(&l), 0);
	tu_put_empty(&b, TCPX_FRAME_BYE);
	tu_reader_feed(&l.rd, b.p, b.len, 0);
	b.len = 0;
	sender_lane_next(&l, &ev);
	cr_assert_eq(ev.type, LEV_BYE);
	sender_lane_free(&l);

	/* other capabilities than the session's: not used */
	cr_assert_eq(sender_lane_init(&l, TCPX_CAP_MULTI, TCPX_CAP_MULTI,
				      token, 2), 0);
	tu_put_hello(&b, 1, 1, 0);
	tu_reader_feed(&l.rd, b.p, b.len, 0);
	b.len = 0;
	sender_lane_next(&l, &ev);
	cr_assert_eq(ev.type, LEV_ERROR);
	cr_assert_eq(l.state, LANE_FAILED);
	sender_lane_free(&l);

	/* refused: the receiver's ERROR 20 */
	cr_assert_eq(sender_lane_init(&l, TCPX_CAP_MULTI, TCPX_CAP_MULTI,
				      token, 3), 0);
	tu_put_hello(&b, 1, 1, TCPX_CAP_MULTI);
	tu_put_error(&b, TCPX_E_JOIN, "unknown join token");
	tu_reader_feed(&l.rd, b.p, b.len, 0);
	b.len = 0;
	sender_lane_next(&l, &ev);
	cr_assert_eq(ev.type, LEV_HELLO);
	sender_lane_join(&l);
	sender_lane_next(&l, &ev);
	cr_assert_eq(ev.type, LEV_ERROR);
	cr_assert_eq(ev.code, TCPX_E_JOIN);
	sender_lane_free(&l);
	tu_buf_free(&b);
}
