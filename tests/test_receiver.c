/* Tests for src/receiver.c: the receiving state machine on hand-built
 * sender bytes, and in memory against the real sender. */
#include <zlib.h>
#include <zstd.h>

#include "testutil.h"

static void init(void)
{
	cr_assert_eq(digest_global_init(), 0);
}

TestSuite(receiver, .init = init);
TestSuite(receiver_violation, .init = init);
TestSuite(receiver_refusal, .init = init);
TestSuite(receiver_session, .init = init);

/* ---- helpers ----------------------------------------------------------- */

static struct tcpx_receiver *rx_new(uint64_t caps, uint64_t max_size,
				    uint32_t max_files)
{
	struct receiver_config cfg = { .caps = caps, .max_size = max_size,
				       .max_files = max_files };
	struct tcpx_receiver *r = receiver_new(&cfg);
	cr_assert(r != NULL);
	return r;
}

static void feed(struct tcpx_receiver *r, struct tu_buf *b)
{
	tu_reader_feed(receiver_reader(r), b->p, b->len, 0);
	b->len = 0;
}

static struct receiver_event next(struct tcpx_receiver *r)
{
	struct receiver_event ev;
	receiver_next(r, &ev);
	return ev;
}

static void expect_event(struct tcpx_receiver *r, enum receiver_event_type t)
{
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, t, "event %d, want %d", ev.type, t);
}

/* Takes the queued replies (a copy) and marks them sent. */
static struct tu_buf take(struct tcpx_receiver *r)
{
	const uint8_t *p;
	size_t n;
	struct tu_buf b = { 0 };
	receiver_pending(r, &p, &n);
	tu_buf_put(&b, p, n);
	receiver_sent(r, n);
	return b;
}

/* A receiver past the handshake (caps offered and asked), reply taken. */
static struct tcpx_receiver *ready(uint64_t caps, uint64_t max_size,
				   uint32_t max_files)
{
	struct tcpx_receiver *r = rx_new(TCPX_CAPS_V1, max_size, max_files);
	struct tu_buf b = { 0 };
	tu_put_hello(&b, 1, 1, caps);
	feed(r, &b);
	expect_event(r, REV_HELLO);
	struct tu_buf out = take(r);
	cr_assert_eq(out.len, 24u);
	tu_buf_free(&out);
	tu_buf_free(&b);
	return r;
}

/* Expects REV_FATAL with code and an ERROR frame with it queued last. */
static void expect_fatal(struct tcpx_receiver *r, int code)
{
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_FATAL, "event %d, want REV_FATAL", ev.type);
	cr_assert_eq(ev.code, code, "code %d, want %d", ev.code, code);
	cr_assert(ev.msg != NULL && *ev.msg, "no reason for the log");
	cr_assert(receiver_finished(r));
	cr_assert_eq(receiver_in_file(r), 0);
	struct tu_buf out = take(r);
	struct tu_frame fr[1024];
	size_t n = tu_parse_frames(out.p, out.len, fr, 1024);
	cr_assert(n >= 1 && n <= 1024, "no ERROR queued");
	struct tu_frame *e = &fr[n - 1];
	cr_assert_eq(e->type, TCPX_FRAME_ERROR, "last frame is type %u", e->type);
	cr_assert_eq(be16_load(e->payload), code, "ERROR code %u", be16_load(e->payload));
	cr_assert_eq(be16_load(e->payload + 2) + 4u, e->length);
	tu_buf_free(&out);
	/* nothing more is read or answered */
	struct tu_buf more = { 0 };
	tu_put_empty(&more, TCPX_FRAME_BYE);
	tu_reader_feed(receiver_reader(r), more.p, more.len, 0);
	expect_event(r, REV_NONE);
	out = take(r);
	cr_assert_eq(out.len, 0u);
	tu_buf_free(&out);
	tu_buf_free(&more);
}

/* The RESULT frames queued, in order. */
struct result { uint32_t id; uint16_t code; uint8_t digest[64]; char msg[64]; };

static size_t results(struct tcpx_receiver *r, struct result *res, size_t max)
{
	struct tu_buf out = take(r);
	static struct tu_frame fr[4096];
	size_t n = tu_parse_frames(out.p, out.len, fr, 4096), k = 0;
	cr_assert(n <= 4096);
	for (size_t i = 0; i < n; i++) {
		if (fr[i].type != TCPX_FRAME_RESULT)
			continue;
		cr_assert(k < max);
		cr_assert(fr[i].length >= 72);
		uint16_t ml = be16_load(fr[i].payload + 6);
		cr_assert_eq(72u + ml, fr[i].length, "RESULT msg_len disagrees");
		res[k].id = be32_load(fr[i].payload);
		res[k].code = be16_load(fr[i].payload + 4);
		memcpy(res[k].digest, fr[i].payload + 8, 64);
		size_t cp = ml < 63 ? ml : 63;
		memcpy(res[k].msg, fr[i].payload + 72, cp);
		res[k].msg[cp] = '\0';
		k++;
	}
	tu_buf_free(&out);
	return k;
}

static void put_file_data_end(struct tu_buf *b, uint32_t id, const char *name,
			      const char *content)
{
	size_t n = strlen(content);
	uint8_t dg[64];
	tu_put_file(b, id, n, name);
	if (n)
		tu_put_data_raw(b, content, n);
	tu_digest_of((const uint8_t *)content, n, dg);
	tu_put_end(b, dg);
}

static const uint8_t zero64[64];

/* ---- handshake --------------------------------------------------------- */

Test(receiver, hello_reply_matches_spec)
{
	struct tcpx_receiver *r = rx_new(TCPX_CAPS_V1, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_hello(&b, 1, 1, TCPX_CAP_ZLIB);
	feed(r, &b);
	expect_event(r, REV_HELLO);
	struct tu_buf out = take(r);
	uint8_t want[24];
	tu_hex_decode("01 00 00 00 00 00 00 10 54 43 50 58 00 01 00 01"
		      "00 00 00 00 00 00 00 01", want, 24);
	cr_assert_eq(out.len, 24u);
	cr_assert_arr_eq(out.p, want, 24);
	cr_assert_eq(receiver_finished(r), 0);
	cr_assert_eq(receiver_in_file(r), 0);
	receiver_free(r);
	tu_buf_free(&b);
	tu_buf_free(&out);
}

Test(receiver, hello_negotiation)
{
	struct {
		uint16_t vmin, vmax;
		uint64_t asked, offered, granted;
		size_t ext;
	} c[] = {
		{ 1, 1, 0, TCPX_CAPS_V1, 0, 0 },
		{ 1, 1, TCPX_CAP_ZLIB, 0, 0, 0 },
		{ 1, 1, ~(uint64_t)0, TCPX_CAPS_V1, TCPX_CAPS_V1, 0 },
		{ 1, 1, TCPX_CAP_TREE, TCPX_CAP_ZLIB, 0, 0 },
		{ 1, 1, TCPX_CAP_TREE, TCPX_CAPS_V1, TCPX_CAP_TREE, 0 },
		{ 1, 1, 1u << 7, TCPX_CAPS_V1, 0, 0 },
		{ 1, 9, TCPX_CAP_ZLIB, TCPX_CAPS_V1, TCPX_CAP_ZLIB, 0 },
		{ 1, 1, TCPX_CAP_ZLIB, TCPX_CAPS_V1, TCPX_CAP_ZLIB, 240 },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct tcpx_receiver *r = rx_new(c[i].offered, 0, 0);
		struct tu_buf b = { 0 };
		tu_put_hello_ext(&b, "TCPX", c[i].vmin, c[i].vmax, c[i].asked, c[i].ext);
		feed(r, &b);
		expect_event(r, REV_HELLO);
		struct tu_buf out = take(r);
		cr_assert_eq(out.len, 24u, "case %zu", i);
		cr_assert_eq(be16_load(out.p + 12), 1, "version_min");
		cr_assert_eq(be16_load(out.p + 14), 1, "version_max");
		cr_assert_eq(be64_load(out.p + 16), c[i].granted, "case %zu: caps", i);
		receiver_free(r);
		tu_buf_free(&b);
		tu_buf_free(&out);
	}
}

/* ---- a whole session, byte by byte ------------------------------------- */

Test(receiver, spec_example_byte_by_byte)
{
	struct tcpx_receiver *r = rx_new(TCPX_CAPS_V1, 0, 0);
	uint8_t in[512], want[512];
	size_t n = tu_hex_decode(
		"01 00 00 00 00 00 00 10 54 43 50 58 00 01 00 01 00 00 00 00 00 00 00 01"
		"02 00 00 00 00 00 00 23 00 00 00 01 00 00 00 00 00 00 00 03"
		"00 00 01 a4 00 00 00 00 65 53 f1 00 00 00 00 00 00 05 61 2e 74 78 74"
		"03 00 00 00 00 00 00 0b 00 00 00 00 00 00 00 03 68 69 0a"
		"04 00 00 00 00 00 00 40" B2_HI
		"07 00 00 00 00 00 00 00", in, sizeof(in));
	enum receiver_event_type seen[8];
	int k = 0;
	for (size_t i = 0; i < n; i++) {
		tu_reader_feed(receiver_reader(r), in + i, 1, 0);
		struct receiver_event ev;
		for (;;) {
			ev = next(r);
			if (ev.type == REV_NONE)
				break;
			cr_assert(k < 8);
			seen[k++] = ev.type;
			if (ev.type == REV_FILE) {
				cr_assert_eq(ev.meta.id, 1u);
				cr_assert_eq(ev.meta.size, 3u);
				cr_assert_eq(ev.meta.mode, 0644u);
				cr_assert_eq(ev.meta.mtime_sec, 1700000000);
				cr_assert_eq(ev.meta.mtime_nsec, 0u);
				cr_assert_eq(ev.meta.name_len, 5);
				cr_assert(memcmp(ev.meta.name, "a.txt", 5) == 0);
				cr_assert_eq(receiver_in_file(r), 1);
			} else if (ev.type == REV_DATA) {
				cr_assert_eq(ev.len, 3u);
				cr_assert(memcmp(ev.data, "hi\n", 3) == 0);
			} else if (ev.type == REV_END) {
				uint8_t dg[64];
				tu_hex_decode(B2_HI, dg, 64);
				cr_assert_eq(ev.code, 0);
				cr_assert_arr_eq(ev.digest, dg, 64);
				receiver_file_done(r, 0, NULL);
				cr_assert_eq(receiver_in_file(r), 0);
			}
		}
	}
	enum receiver_event_type want_ev[] = { REV_HELLO, REV_FILE, REV_DATA,
					       REV_END, REV_BYE };
	cr_assert_eq(k, 5);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(seen[i], want_ev[i], "event %d", i);
	cr_assert(receiver_finished(r));
	/* replies: HELLO, RESULT, BYE exactly as in the spec */
	size_t wn = tu_hex_decode(
		"01 00 00 00 00 00 00 10 54 43 50 58 00 01 00 01 00 00 00 00 00 00 00 01"
		"06 00 00 00 00 00 00 48 00 00 00 01 00 00 00 00" B2_HI
		"07 00 00 00 00 00 00 00", want, sizeof(want));
	struct tu_buf out = take(r);
	cr_assert_eq(out.len, wn);
	cr_assert_arr_eq(out.p, want, wn);
	receiver_free(r);
	tu_buf_free(&out);
}

Test(receiver, spec_zlib_example_inflates)
{
	struct tcpx_receiver *r = ready(TCPX_CAP_ZLIB, 0, 0);
	struct tu_buf b = { 0 };
	uint8_t z[11];
	tu_hex_decode("78 9c cb c8 e4 02 00 02 17 00 dc", z, 11);
	tu_put_file(&b, 1, 3, "a.txt");
	tu_put_data(&b, TCPX_ENCODING_ZLIB, 3, z, 11);
	feed(r, &b);
	expect_event(r, REV_FILE);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_DATA);
	cr_assert_eq(ev.len, 3u);
	cr_assert(memcmp(ev.data, "hi\n", 3) == 0);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver, stored_zlib_stream_longer_than_raw)
{
	struct tcpx_receiver *r = ready(TCPX_CAP_ZLIB, 0, 0);
	uint8_t raw[1000], z[1100];
	uLongf zl = sizeof(z);
	tu_fill_random(9, 0, raw, sizeof(raw));
	cr_assert_eq(compress2(z, &zl, raw, sizeof(raw), 0), Z_OK);
	cr_assert(zl > sizeof(raw));
	struct tu_buf b = { 0 };
	tu_put_file(&b, 1, sizeof(raw), "stored");
	tu_put_data(&b, TCPX_ENCODING_ZLIB, sizeof(raw), z, zl);
	uint8_t dg[64];
	tu_digest_of(raw, sizeof(raw), dg);
	tu_put_end(&b, dg);
	feed(r, &b);
	expect_event(r, REV_FILE);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_DATA);
	cr_assert_eq(ev.len, sizeof(raw));
	cr_assert(memcmp(ev.data, raw, sizeof(raw)) == 0);
	ev = next(r);
	cr_assert_eq(ev.type, REV_END);
	cr_assert_eq(ev.code, 0);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver, full_chunk_and_empty_file)
{
	struct tcpx_receiver *r = ready(0, 0, 0);
	struct tu_buf b = { 0 };
	uint8_t *data = malloc(TCPX_CHUNK_MAX);
	tu_fill_random(4, 0, data, TCPX_CHUNK_MAX);
	uint8_t dg[64], empty[64];
	tu_digest_of(data, TCPX_CHUNK_MAX, dg);
	tu_hex_decode(B2_EMPTY, empty, 64);
	tu_put_file(&b, 1, TCPX_CHUNK_MAX, "full");
	tu_put_data_raw(&b, data, TCPX_CHUNK_MAX);
	tu_put_end(&b, dg);
	tu_put_file(&b, 2, 0, "empty");
	tu_put_end(&b, empty);
	feed(r, &b);
	expect_event(r, REV_FILE);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_DATA);
	cr_assert_eq(ev.len, (size_t)TCPX_CHUNK_MAX);
	cr_assert(memcmp(ev.data, data, TCPX_CHUNK_MAX) == 0);
	ev = next(r);
	cr_assert_eq(ev.type, REV_END);
	cr_assert_eq(ev.code, 0);
	receiver_file_done(r, 0, NULL);
	ev = next(r);
	cr_assert_eq(ev.type, REV_FILE);
	cr_assert_eq(ev.meta.size, 0u);
	ev = next(r);
	cr_assert_eq(ev.type, REV_END);
	cr_assert_eq(ev.code, 0);
	cr_assert_arr_eq(ev.digest, empty, 64);
	receiver_file_done(r, 0, NULL);
	struct result res[4];
	cr_assert_eq(results(r, res, 4), 2u);
	cr_assert_eq(res[0].id, 1u);
	cr_assert_eq(res[0].code, 0);
	cr_assert_arr_eq(res[0].digest, dg, 64);
	cr_assert_eq(res[1].id, 2u);
	cr_assert_arr_eq(res[1].digest, empty, 64);
	free(data);
	receiver_free(r);
	tu_buf_free(&b);
}

/* Between REV_END and receiver_file_done() nothing else is read. */
Test(receiver, waits_for_the_verdict)
{
	struct tcpx_receiver *r = ready(0, 0, 0);
	struct tu_buf b = { 0 };
	put_file_data_end(&b, 1, "a", "aaa");
	put_file_data_end(&b, 2, "b", "bbb");
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	expect_event(r, REV_END);
	expect_event(r, REV_NONE);
	expect_event(r, REV_NONE);
	struct result res[2];
	cr_assert_eq(results(r, res, 2), 0u, "RESULT before the verdict");
	receiver_file_done(r, 0, NULL);
	cr_assert_eq(receiver_in_file(r), 0);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_FILE);
	cr_assert_eq(ev.meta.id, 2u);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver, digest_mismatch)
{
	struct tcpx_receiver *r = ready(0, 0, 0);
	struct tu_buf b = { 0 };
	uint8_t theirs[64], ours[64];
	tu_digest_of((const uint8_t *)"hello", 5, theirs);
	tu_digest_of((const uint8_t *)"hellO", 5, ours);
	tu_put_file(&b, 1, 5, "x");
	tu_put_data_raw(&b, "hellO", 5);
	tu_put_end(&b, theirs);
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_END);
	cr_assert_eq(ev.code, TCPX_E_DIGEST);
	cr_assert_arr_eq(ev.digest, ours, 64, "REV_END carries the digest we computed");
	receiver_file_done(r, TCPX_E_DIGEST, "digest mismatch");
	struct result res[2];
	cr_assert_eq(results(r, res, 2), 1u);
	cr_assert_eq(res[0].code, TCPX_E_DIGEST);
	cr_assert_arr_eq(res[0].digest, ours, 64, "RESULT 34 carries our digest");
	cr_assert_str_eq(res[0].msg, "digest mismatch");
	cr_assert_eq(receiver_finished(r), 0, "a mismatch ends only the file");
	receiver_free(r);
	tu_buf_free(&b);
}

/* tcpxfer(5), RESULT: a verdict sent after END carries the digest the
 * receiver computed over the whole content, whatever its code (here the
 * final name appeared during the transfer). */
Test(receiver, commit_failure_sends_computed_digest)
{
	int codes[] = { TCPX_E_EXISTS, TCPX_E_NO_SPACE, TCPX_E_IO, TCPX_E_DENIED };
	uint8_t dg[64];
	tu_digest_of((const uint8_t *)"data", 4, dg);
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		struct tcpx_receiver *r = ready(0, 0, 0);
		struct tu_buf b = { 0 };
		put_file_data_end(&b, 1, "x", "data");
		feed(r, &b);
		expect_event(r, REV_FILE);
		expect_event(r, REV_DATA);
		expect_event(r, REV_END);
		receiver_file_done(r, codes[i], "exists");
		struct result res[2];
		cr_assert_eq(results(r, res, 2), 1u);
		cr_assert_eq(res[0].id, 1u);
		cr_assert_eq(res[0].code, codes[i]);
		cr_assert_str_eq(res[0].msg, "exists");
		cr_assert_arr_eq(res[0].digest, dg, 64, "code %d", codes[i]);
		receiver_free(r);
		tu_buf_free(&b);
	}
}

/* tcpxfer(5), RESULT: the digest is computed at END, so a verdict sent
 * before it carries zeros: a refusal at FILE, a failure in the data, and
 * 38 ABORTED even when every byte of the content had arrived. */
Test(receiver, verdicts_before_end_carry_no_digest)
{
	struct tcpx_receiver *r = ready(0, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_file(&b, 1, 4, "whole");
	tu_put_data_raw(&b, "data", 4);
	tu_put_empty(&b, TCPX_FRAME_ABORT);
	tu_put_file(&b, 2, 4, "../bad");
	tu_put_data_raw(&b, "data", 4);
	tu_put_empty(&b, TCPX_FRAME_ABORT);
	tu_put_file(&b, 3, 8, "disk");
	tu_put_data_raw(&b, "data", 4);
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	expect_event(r, REV_ABORTED);
	expect_event(r, REV_REFUSED);
	expect_event(r, REV_SKIPPED);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	receiver_file_fail(r, TCPX_E_NO_SPACE, NULL);
	struct result res[4];
	cr_assert_eq(results(r, res, 4), 3u);
	cr_assert_eq(res[0].code, TCPX_E_ABORTED);
	cr_assert_eq(res[1].code, TCPX_E_BAD_NAME);
	cr_assert_eq(res[2].code, TCPX_E_NO_SPACE);
	for (int i = 0; i < 3; i++)
		cr_assert_arr_eq(res[i].digest, zero64, 64, "RESULT %d", i + 1);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver, abort_by_sender)
{
	struct tcpx_receiver *r = ready(0, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_file(&b, 1, 100, "x");
	tu_put_data_raw(&b, "partial", 7);
	tu_put_empty(&b, TCPX_FRAME_ABORT);
	put_file_data_end(&b, 2, "y", "next");
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	expect_event(r, REV_ABORTED);
	cr_assert_eq(receiver_in_file(r), 0);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_END);
	cr_assert_eq(ev.code, 0);
	receiver_file_done(r, 0, NULL);
	struct result res[3];
	cr_assert_eq(results(r, res, 3), 2u);
	cr_assert_eq(res[0].id, 1u);
	cr_assert_eq(res[0].code, TCPX_E_ABORTED);
	cr_assert_eq(res[1].id, 2u);
	cr_assert_eq(res[1].code, 0);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver, disk_failure_mid_data_skips_the_rest)
{
	struct tcpx_receiver *r = ready(TCPX_CAP_ZLIB, 0, 0);
	struct tu_buf b = { 0 };
	uint8_t dg[64];
	tu_digest_of((const uint8_t *)"aaabbbccc", 9, dg);
	tu_put_file(&b, 1, 9, "x");
	tu_put_data_raw(&b, "aaa", 3);
	tu_put_data_raw(&b, "bbb", 3);
	tu_put_data_raw(&b, "ccc", 3);
	tu_put_end(&b, dg);
	put_file_data_end(&b, 2, "y", "ok");
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	receiver_file_fail(r, TCPX_E_NO_SPACE, "No space left on device");
	cr_assert_eq(receiver_in_file(r), 0);
	/* the failed file's remaining DATA and END make one REV_SKIPPED */
	expect_event(r, REV_SKIPPED);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_FILE);
	cr_assert_eq(ev.meta.id, 2u);
	expect_event(r, REV_DATA);
	expect_event(r, REV_END);
	receiver_file_done(r, 0, NULL);
	struct result res[4];
	cr_assert_eq(results(r, res, 4), 2u, "exactly one RESULT per file");
	cr_assert_eq(res[0].id, 1u);
	cr_assert_eq(res[0].code, TCPX_E_NO_SPACE);
	cr_assert_str_eq(res[0].msg, "No space left on device");
	cr_assert_arr_eq(res[0].digest, zero64, 64);
	cr_assert_eq(res[1].id, 2u);
	cr_assert_eq(res[1].code, 0);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver, disk_failure_at_file_then_abort)
{
	struct tcpx_receiver *r = ready(0, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_file(&b, 1, 50, "x");
	feed(r, &b);
	expect_event(r, REV_FILE);
	receiver_file_fail(r, TCPX_E_DENIED, "Permission denied");
	struct result res[2];
	cr_assert_eq(results(r, res, 2), 1u, "RESULT sent at once");
	cr_assert_eq(res[0].code, TCPX_E_DENIED);
	tu_put_data_raw(&b, "0123456789", 10);
	tu_put_empty(&b, TCPX_FRAME_ABORT);
	tu_put_empty(&b, TCPX_FRAME_BYE);
	feed(r, &b);
	expect_event(r, REV_SKIPPED);
	expect_event(r, REV_BYE);
	struct tu_buf out = take(r);
	cr_assert_eq(out.len, 8u, "only BYE: no second RESULT for the aborted file");
	cr_assert_eq(out.p[0], TCPX_FRAME_BYE);
	receiver_free(r);
	tu_buf_free(&b);
	tu_buf_free(&out);
}

Test(receiver, bye_ends_the_session)
{
	struct tcpx_receiver *r = ready(0, 0, 0);
	struct tu_buf b = { 0 };
	put_file_data_end(&b, 1, "a", "x");
	tu_put_empty(&b, TCPX_FRAME_BYE);
	tu_put_file(&b, 2, 0, "after-bye");   /* never read */
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	expect_event(r, REV_END);
	receiver_file_done(r, 0, NULL);
	expect_event(r, REV_BYE);
	cr_assert(receiver_finished(r));
	expect_event(r, REV_NONE);
	struct tu_buf out = take(r);
	struct tu_frame fr[4];
	cr_assert_eq(tu_parse_frames(out.p, out.len, fr, 4), 2u);
	cr_assert_eq(fr[0].type, TCPX_FRAME_RESULT);
	cr_assert_eq(fr[1].type, TCPX_FRAME_BYE, "BYE after the last RESULT");
	cr_assert_eq(fr[1].length, 0u);
	receiver_free(r);
	tu_buf_free(&b);
	tu_buf_free(&out);
}

Test(receiver, peer_error)
{
	/* before HELLO, and mid-file */
	for (int mid = 0; mid < 2; mid++) {
		struct tcpx_receiver *r = mid ? ready(0, 0, 0) : rx_new(TCPX_CAPS_V1, 0, 0);
		struct tu_buf b = { 0 };
		if (mid) {
			tu_put_file(&b, 1, 10, "x");
			tu_put_data_raw(&b, "01234", 5);
		}
		tu_put_error(&b, TCPX_E_TIMEOUT, "bored");
		feed(r, &b);
		if (mid) {
			expect_event(r, REV_FILE);
			expect_event(r, REV_DATA);
		}
		struct receiver_event ev = next(r);
		cr_assert_eq(ev.type, REV_PEER_ERROR);
		cr_assert_eq(ev.code, TCPX_E_TIMEOUT);
		cr_assert_eq(ev.peer_msg_len, 5u);
		cr_assert(memcmp(ev.peer_msg, "bored", 5) == 0);
		cr_assert(receiver_finished(r));
		cr_assert_eq(receiver_in_file(r), 0);
		struct tu_buf out = take(r);
		cr_assert_eq(out.len, 0u, "an ERROR is never answered");
		receiver_free(r);
		tu_buf_free(&b);
		tu_buf_free(&out);
	}
}

Test(receiver, peer_error_malformed)
{
	struct tcpx_receiver *r = ready(0, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_header(&b, TCPX_FRAME_ERROR, 0, 0, 5);
	tu_buf_be16(&b, 10);
	tu_buf_be16(&b, 9);
	tu_buf_u8(&b, 'x');
	feed(r, &b);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_PEER_ERROR);
	cr_assert_eq(ev.code, TCPX_E_MALFORMED);
	cr_assert(receiver_finished(r));
	receiver_free(r);
	tu_buf_free(&b);
}

/* tcpxfer(5), ERROR: once its header passed, an ERROR ends the session
 * whatever its payload, and is never answered, not even a malformed one
 * (too short for its layout, msg_len disagreeing with the length). */
Test(receiver, malformed_error_is_never_answered)
{
	static const char *payloads[] = { "", "00", "000a00", "000a0009",
					  "000a000078", "000a0004414243" };
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		struct tcpx_receiver *r = ready(0, 0, 0);
		struct tu_buf b = { 0 };
		uint8_t p[16];
		size_t n = tu_hex_decode(payloads[i], p, sizeof(p));
		tu_put_header(&b, TCPX_FRAME_ERROR, 0, 0, (uint32_t)n);
		tu_buf_put(&b, p, n);
		feed(r, &b);
		struct receiver_event ev = next(r);
		cr_assert_eq(ev.type, REV_PEER_ERROR, "payload '%s'", payloads[i]);
		cr_assert(receiver_finished(r));
		struct tu_buf out = take(r);
		cr_assert_eq(out.len, 0u, "payload '%s' answered", payloads[i]);
		receiver_free(r);
		tu_buf_free(&b);
		tu_buf_free(&out);
	}
}

Test(receiver, local_failure_queues_error)
{
	struct tcpx_receiver *r = ready(0, 0, 0);
	receiver_fail(r, TCPX_E_TIMEOUT, "idle timeout");
	cr_assert(receiver_finished(r));
	struct tu_buf out = take(r);
	uint8_t want[32];
	size_t n = tu_hex_decode("08 00 00 00 00 00 00 10 00 08 00 0c"
				 "69 64 6c 65 20 74 69 6d 65 6f 75 74", want, sizeof(want));
	cr_assert_eq(out.len, n);
	cr_assert_arr_eq(out.p, want, n);
	receiver_fail(r, TCPX_E_SHUTDOWN, NULL);
	tu_buf_free(&out);
	out = take(r);
	cr_assert_eq(out.len, 0u, "one ERROR only");
	receiver_free(r);
	tu_buf_free(&out);

	/* SHUTDOWN before any HELLO */
	r = rx_new(TCPX_CAPS_V1, 0, 0);
	receiver_fail(r, TCPX_E_SHUTDOWN, NULL);
	out = take(r);
	cr_assert_eq(out.len, 12u);
	cr_assert_eq(be16_load(out.p + 8), TCPX_E_SHUTDOWN);
	receiver_free(r);
	tu_buf_free(&out);
}

/* Replies are held in a bounded buffer: with nobody taking them, the
 * receiver stops reading, and goes on when they are sent. */
Test(receiver, reply_buffer_back_pressure)
{
	struct tcpx_receiver *r = ready(0, 0, 0);
	struct tu_buf b = { 0 };
	uint8_t empty[64];
	tu_hex_decode(B2_EMPTY, empty, 64);
	const uint32_t n = 3000;
	for (uint32_t i = 1; i <= n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "f%u", i);
		tu_put_file(&b, i, 0, name);
		tu_put_end(&b, empty);
	}
	size_t off = 0;
	uint32_t ends = 0, got = 0;
	int stalls = 0;
	while (got < n) {
		/* feed what fits */
		size_t cap;
		uint8_t *dst = frame_reader_space(receiver_reader(r), &cap);
		size_t k = b.len - off < cap ? b.len - off : cap;
		memcpy(dst, b.p + off, k);
		frame_reader_commit(receiver_reader(r), k);
		off += k;
		struct receiver_event ev;
		while ((ev = next(r)).type != REV_NONE) {
			if (ev.type == REV_END) {
				ends++;
				receiver_file_done(r, 0, NULL);
			} else {
				cr_assert_eq(ev.type, REV_FILE);
			}
		}
		const uint8_t *p;
		size_t len;
		receiver_pending(r, &p, &len);
		cr_assert(len <= 64u * 1024u, "%zu bytes of replies queued", len);
		/* Stopped for its reply buffer: whole files still buffered
		 * (every file is the same number of bytes) yet no event. */
		if (ends < n && frame_reader_buffered(receiver_reader(r)) >=
		    b.len / n)
			stalls++;
		static struct result res[3000];
		size_t m = results(r, res, 3000);
		for (size_t i = 0; i < m; i++) {
			cr_assert_eq(res[i].id, got + 1, "RESULT %zu out of order", i);
			cr_assert_eq(res[i].code, 0);
			got++;
		}
		cr_assert(m > 0 || off < b.len, "no progress");
	}
	cr_assert_eq(ends, n);
	cr_assert(stalls > 0, "receiver never stopped for its reply buffer");
	receiver_free(r);
	tu_buf_free(&b);
}

/* ---- connection errors ------------------------------------------------- */

Test(receiver_violation, file_before_hello)
{
	struct tcpx_receiver *r = rx_new(TCPX_CAPS_V1, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_file(&b, 1, 3, "a");
	feed(r, &b);
	expect_fatal(r, TCPX_E_UNEXPECTED);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver_violation, other_frames_before_hello)
{
	for (uint8_t t = TCPX_FRAME_DATA; t <= TCPX_FRAME_BYE; t++) {
		struct tcpx_receiver *r = rx_new(TCPX_CAPS_V1, 0, 0);
		struct tu_buf b = { 0 };
		tu_put_header(&b, t, 0, 0, 0);   /* header alone is enough */
		feed(r, &b);
		expect_fatal(r, TCPX_E_UNEXPECTED);
		receiver_free(r);
		tu_buf_free(&b);
	}
}

Test(receiver_violation, wrong_magic)
{
	struct tcpx_receiver *r = rx_new(TCPX_CAPS_V1, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_hello_ext(&b, "GET ", 1, 1, 0, 0);
	feed(r, &b);
	expect_fatal(r, TCPX_E_BAD_MAGIC);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver_violation, no_common_version)
{
	uint16_t v[][2] = { { 2, 2 }, { 2, 9 }, { 0xFFFF, 0xFFFF } };
	for (int i = 0; i < 3; i++) {
		struct tcpx_receiver *r = rx_new(TCPX_CAPS_V1, 0, 0);
		struct tu_buf b = { 0 };
		tu_put_hello(&b, v[i][0], v[i][1], 0);
		feed(r, &b);
		expect_fatal(r, TCPX_E_VERSION);
		receiver_free(r);
		tu_buf_free(&b);
	}
}

Test(receiver_violation, malformed_hello)
{
	uint16_t v[][2] = { { 0, 1 }, { 0, 0 }, { 3, 2 } };
	for (int i = 0; i < 3; i++) {
		struct tcpx_receiver *r = rx_new(TCPX_CAPS_V1, 0, 0);
		struct tu_buf b = { 0 };
		tu_put_hello(&b, v[i][0], v[i][1], 0);
		feed(r, &b);
		expect_fatal(r, TCPX_E_MALFORMED);
		receiver_free(r);
		tu_buf_free(&b);
	}
	struct tcpx_receiver *r = rx_new(TCPX_CAPS_V1, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_header(&b, TCPX_FRAME_HELLO, 0, 0, 12);
	tu_buf_put(&b, "TCPX\0\x01\0\x01\0\0\0\0", 12);
	feed(r, &b);
	expect_fatal(r, TCPX_E_MALFORMED);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver_violation, second_hello)
{
	struct tcpx_receiver *r = ready(0, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_hello(&b, 1, 1, 0);
	feed(r, &b);
	expect_fatal(r, TCPX_E_UNEXPECTED);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver_violation, data_end_abort_outside_a_file)
{
	for (int i = 0; i < 3; i++) {
		struct tcpx_receiver *r = ready(0, 0, 0);
		struct tu_buf b = { 0 };
		if (i == 0)
			tu_put_data_raw(&b, "abc", 3);
		else if (i == 1)
			tu_put_end(&b, zero64);
		else
			tu_put_empty(&b, TCPX_FRAME_ABORT);
		feed(r, &b);
		expect_fatal(r, TCPX_E_UNEXPECTED);
		receiver_free(r);
		tu_buf_free(&b);
	}
	/* and after a file ended */
	struct tcpx_receiver *r = ready(0, 0, 0);
	struct tu_buf b = { 0 };
	put_file_data_end(&b, 1, "a", "x");
	tu_put_data_raw(&b, "late", 4);
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	expect_event(r, REV_END);
	receiver_file_done(r, 0, NULL);
	expect_fatal(r, TCPX_E_UNEXPECTED);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver_violation, frames_not_allowed_in_a_file)
{
	uint8_t types[] = { TCPX_FRAME_FILE, TCPX_FRAME_BYE, TCPX_FRAME_HELLO,
			    TCPX_FRAME_RESULT };
	for (int i = 0; i < 4; i++) {
		struct tcpx_receiver *r = ready(0, 0, 0);
		struct tu_buf b = { 0 };
		tu_put_file(&b, 1, 10, "x");
		tu_put_header(&b, types[i], 0, 0, 0);
		feed(r, &b);
		expect_event(r, REV_FILE);
		expect_fatal(r, TCPX_E_UNEXPECTED);
		receiver_free(r);
		tu_buf_free(&b);
	}
}

Test(receiver_violation, data_beyond_declared_size)
{
	struct tcpx_receiver *r = ready(0, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_file(&b, 1, 10, "x");
	tu_put_data_raw(&b, "0123456789a", 11);
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_fatal(r, TCPX_E_SIZE);
	receiver_free(r);

	/* across frames */
	r = ready(0, 0, 0);
	tu_put_file(&b, 1, 10, "x");
	tu_put_data_raw(&b, "012345", 6);
	tu_put_data_raw(&b, "67890", 5);
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	expect_fatal(r, TCPX_E_SIZE);
	receiver_free(r);

	/* an empty file gets no DATA at all */
	r = ready(0, 0, 0);
	tu_put_file(&b, 1, 0, "x");
	tu_put_data_raw(&b, "0", 1);
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_fatal(r, TCPX_E_SIZE);
	receiver_free(r);
	tu_buf_free(&b);
}

/* The size is judged from raw_len, before inflating: a corrupt stream
 * that also overshoots the size is a SIZE error. */
Test(receiver_violation, size_checked_before_inflating)
{
	struct tcpx_receiver *r = ready(TCPX_CAP_ZLIB, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_file(&b, 1, 100, "x");
	tu_put_data(&b, TCPX_ENCODING_ZLIB, 101, "garbage", 7);
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_fatal(r, TCPX_E_SIZE);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver_violation, end_with_fewer_bytes)
{
	struct tcpx_receiver *r = ready(0, 0, 0);
	struct tu_buf b = { 0 };
	uint8_t dg[64];
	tu_digest_of((const uint8_t *)"0123", 4, dg);
	tu_put_file(&b, 1, 5, "x");
	tu_put_data_raw(&b, "0123", 4);
	tu_put_end(&b, dg);
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	expect_fatal(r, TCPX_E_SIZE);
	receiver_free(r);

	r = ready(0, 0, 0);
	tu_put_file(&b, 1, 1, "x");
	tu_put_end(&b, dg);
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_fatal(r, TCPX_E_SIZE);
	receiver_free(r);
	tu_buf_free(&b);
}

/* Encoding enc (z, zl bytes, raw_len raw) without its capability: not
 * asked (have negotiated), then asked for with ask and not offered. */
static void without_capability(uint8_t enc, const uint8_t *z, size_t zl,
			       uint32_t raw, uint64_t have, uint64_t ask)
{
	for (int i = 0; i < 2; i++) {
		struct tcpx_receiver *r = i == 0 ? ready(have, 0, 0) : rx_new(have, 0, 0);
		struct tu_buf b = { 0 };
		if (i == 1) {
			tu_put_hello(&b, 1, 1, ask);
			feed(r, &b);
			expect_event(r, REV_HELLO);
			struct tu_buf out = take(r);
			cr_assert_eq(be64_load(out.p + 16), have);
			tu_buf_free(&out);
		}
		tu_put_file(&b, 1, raw, "a.txt");
		tu_put_data(&b, enc, raw, z, zl);
		feed(r, &b);
		expect_event(r, REV_FILE);
		expect_fatal(r, TCPX_E_UNEXPECTED);
		receiver_free(r);
		tu_buf_free(&b);
	}
}

Test(receiver_violation, zlib_without_the_capability)
{
	uint8_t z[11];
	tu_hex_decode("78 9c cb c8 e4 02 00 02 17 00 dc", z, 11);
	without_capability(TCPX_ENCODING_ZLIB, z, 11, 3, 0, TCPX_CAP_ZLIB);
}

/* man/tcpxfer.5 EXAMPLE's zstd frame: 28 bytes of text in 24 */
#define MAN_ZSTD "28 b5 2f fd 20 1c 7d 00 00 48 68 65 6c 6c 6f 2c " \
		 "20 21 0a 01 00 4a 8a 11"

Test(receiver, spec_zstd_example_decodes)
{
	static const char text[] = "hello, hello, hello, hello!\n";
	struct tcpx_receiver *r = ready(TCPX_CAP_ZSTD, 0, 0);
	struct tu_buf b = { 0 };
	uint8_t z[24], dg[64];
	tu_hex_decode(MAN_ZSTD, z, 24);
	tu_put_file(&b, 1, 56, "hello.txt");
	tu_put_data(&b, TCPX_ENCODING_ZSTD, 28, z, 24);
	tu_put_data(&b, TCPX_ENCODING_ZSTD, 28, z, 24);   /* the context reused */
	uint8_t both[56];
	memcpy(both, text, 28);
	memcpy(both + 28, text, 28);
	tu_digest_of(both, 56, dg);
	tu_put_end(&b, dg);
	feed(r, &b);
	expect_event(r, REV_FILE);
	for (int i = 0; i < 2; i++) {
		struct receiver_event ev = next(r);
		cr_assert_eq(ev.type, REV_DATA);
		cr_assert_eq(ev.len, 28u);
		cr_assert(memcmp(ev.data, text, 28) == 0);
	}
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_END, "type %d", ev.type);
	cr_assert_eq(ev.code, 0, "digest");
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver_violation, zstd_without_the_capability)
{
	uint8_t z[24];
	tu_hex_decode(MAN_ZSTD, z, 24);
	/* ZLIB alone negotiated, then ZSTD asked for and not offered */
	without_capability(TCPX_ENCODING_ZSTD, z, 24, 28, TCPX_CAP_ZLIB,
			   TCPX_CAP_ZLIB | TCPX_CAP_ZSTD);
}

Test(receiver_violation, zstd_bomb_and_bad_frames)
{
	size_t big = 10u << 20;
	uint8_t *zeros = calloc(big, 1);
	size_t cap = ZSTD_compressBound(big);
	uint8_t *z = malloc(cap);
	size_t zl = ZSTD_compress(z, cap, zeros, big, 19);
	free(zeros);
	cr_assert(!ZSTD_isError(zl) && zl <= TCPX_CHUNK_MAX);
	uint8_t ex[25];
	tu_hex_decode(MAN_ZSTD, ex, 24);
	ex[24] = 0;
	for (int i = 0; i < 3; i++) {
		struct tcpx_receiver *r = ready(TCPX_CAP_ZSTD, 0, 0);
		struct tu_buf b = { 0 };
		tu_put_file(&b, 1, 1u << 30, "bomb");
		if (i == 0)             /* 10 MiB declared as 4096 */
			tu_put_data(&b, TCPX_ENCODING_ZSTD, 4096, z, zl);
		else if (i == 1)        /* a trailing byte */
			tu_put_data(&b, TCPX_ENCODING_ZSTD, 28, ex, 25);
		else                    /* 28 bytes declared as 27 */
			tu_put_data(&b, TCPX_ENCODING_ZSTD, 27, ex, 24);
		feed(r, &b);
		expect_event(r, REV_FILE);
		expect_fatal(r, TCPX_E_DECOMPRESS);
		receiver_free(r);
		tu_buf_free(&b);
	}
	free(z);
}

Test(receiver_violation, zlib_bomb)
{
	size_t big = 10u << 20;
	uint8_t *zeros = calloc(big, 1);
	uLongf zl = compressBound(big);
	uint8_t *z = malloc(zl);
	cr_assert_eq(compress2(z, &zl, zeros, big, 9), Z_OK);
	free(zeros);
	cr_assert(zl <= TCPX_CHUNK_MAX);
	struct tcpx_receiver *r = ready(TCPX_CAP_ZLIB, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_file(&b, 1, 1u << 30, "bomb");
	tu_put_data(&b, TCPX_ENCODING_ZLIB, 4096, z, zl);
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_fatal(r, TCPX_E_DECOMPRESS);
	receiver_free(r);
	tu_buf_free(&b);
	free(z);
}

Test(receiver_violation, corrupt_zlib)
{
	uint8_t raw[5000], z[6000];
	tu_fill_text(3, 0, raw, sizeof(raw));
	/* flipped byte, short raw_len, long raw_len, trailing garbage */
	for (int c = 0; c < 4; c++) {
		uLongf zl = sizeof(z);
		cr_assert_eq(compress2(z, &zl, raw, sizeof(raw), 6), Z_OK);
		uint32_t raw_len = sizeof(raw);
		if (c == 0)
			z[zl / 2] ^= 0x55;
		else if (c == 1)
			raw_len -= 1;
		else if (c == 2)
			raw_len += 1;
		else
			z[zl++] = 0;
		struct tcpx_receiver *r = ready(TCPX_CAP_ZLIB, 0, 0);
		struct tu_buf b = { 0 };
		tu_put_file(&b, 1, sizeof(raw) + 1, "x");
		tu_put_data(&b, TCPX_ENCODING_ZLIB, raw_len, z, zl);
		feed(r, &b);
		expect_event(r, REV_FILE);
		expect_fatal(r, TCPX_E_DECOMPRESS);
		receiver_free(r);
		tu_buf_free(&b);
	}
}

Test(receiver_violation, file_id_not_sequential)
{
	uint32_t first[] = { 0, 2, 0xFFFFFFFFu };
	for (int i = 0; i < 3; i++) {
		struct tcpx_receiver *r = ready(0, 0, 0);
		struct tu_buf b = { 0 };
		tu_put_file(&b, first[i], 0, "x");
		feed(r, &b);
		expect_fatal(r, TCPX_E_MALFORMED);
		receiver_free(r);
		tu_buf_free(&b);
	}
	/* after file 1: a repeated id, a skipped one */
	uint32_t second[] = { 1, 3 };
	for (int i = 0; i < 2; i++) {
		struct tcpx_receiver *r = ready(0, 0, 0);
		struct tu_buf b = { 0 };
		put_file_data_end(&b, 1, "a", "x");
		tu_put_file(&b, second[i], 0, "b");
		feed(r, &b);
		expect_event(r, REV_FILE);
		expect_event(r, REV_DATA);
		expect_event(r, REV_END);
		receiver_file_done(r, 0, NULL);
		expect_fatal(r, TCPX_E_MALFORMED);
		receiver_free(r);
		tu_buf_free(&b);
	}
	/* ids count refused and aborted files too */
	struct tcpx_receiver *r = ready(0, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_file(&b, 1, 0, "../bad");
	tu_put_end(&b, zero64);
	tu_put_file(&b, 2, 5, "ok");
	tu_put_empty(&b, TCPX_FRAME_ABORT);
	tu_put_file(&b, 3, 0, "ok2");
	feed(r, &b);
	expect_event(r, REV_REFUSED);
	expect_event(r, REV_SKIPPED);
	expect_event(r, REV_FILE);
	expect_event(r, REV_ABORTED);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_FILE);
	cr_assert_eq(ev.meta.id, 3u);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver_violation, max_files_exceeded)
{
	struct tcpx_receiver *r = ready(0, 0, 2);
	struct tu_buf b = { 0 };
	put_file_data_end(&b, 1, "a", "1");
	tu_put_file(&b, 2, 0, "../refused-still-counts");
	tu_put_end(&b, zero64);
	tu_put_file(&b, 3, 0, "c");
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	expect_event(r, REV_END);
	receiver_file_done(r, 0, NULL);
	expect_event(r, REV_REFUSED);
	expect_event(r, REV_SKIPPED);
	expect_fatal(r, TCPX_E_TOO_MANY_FILES);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver_violation, unknown_frame_types)
{
	uint8_t types[] = { 0, 9, 100, 255 };
	for (int i = 0; i < 4; i++) {
		for (int when = 0; when < 3; when++) {
			struct tcpx_receiver *r = when ? ready(0, 0, 0) :
					       rx_new(TCPX_CAPS_V1, 0, 0);
			struct tu_buf b = { 0 };
			if (when == 2)
				tu_put_file(&b, 1, 10, "x");
			tu_put_header(&b, types[i], 0, 0, 4);
			feed(r, &b);
			if (when == 2)
				expect_event(r, REV_FILE);
			expect_fatal(r, TCPX_E_UNEXPECTED);
			receiver_free(r);
			tu_buf_free(&b);
		}
	}
}

Test(receiver_violation, oversized_length_from_header_alone)
{
	struct { uint8_t type; uint32_t len; int in_file; } c[] = {
		{ TCPX_FRAME_DATA, 0xFFFFFFFFu, 1 },
		{ TCPX_FRAME_DATA, TCPX_MAX_PAYLOAD + 1, 1 },
		{ TCPX_FRAME_FILE, 4127, 0 },
		{ TCPX_FRAME_END, 65, 1 },
		{ TCPX_FRAME_ABORT, 1, 1 },
		{ TCPX_FRAME_BYE, 1, 0 },
		{ TCPX_FRAME_ERROR, 1029, 0 },
		{ TCPX_FRAME_HELLO, 257, 0 },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct tcpx_receiver *r = c[i].type == TCPX_FRAME_HELLO ?
			rx_new(TCPX_CAPS_V1, 0, 0) : ready(0, 0, 0);
		struct tu_buf b = { 0 };
		if (c[i].in_file) {
			tu_put_file(&b, 1, 10, "x");
			feed(r, &b);
			expect_event(r, REV_FILE);
		}
		tu_put_header(&b, c[i].type, 0, 0, c[i].len);
		feed(r, &b);
		expect_fatal(r, TCPX_E_FRAME_TOO_LARGE);
		receiver_free(r);
		tu_buf_free(&b);
	}
}

Test(receiver_violation, nonzero_flags_or_reserved)
{
	for (int i = 0; i < 2; i++) {
		struct tcpx_receiver *r = rx_new(TCPX_CAPS_V1, 0, 0);
		struct tu_buf b = { 0 };
		tu_put_header(&b, TCPX_FRAME_HELLO, i == 0 ? 0x80 : 0, i == 1 ? 1 : 0, 16);
		feed(r, &b);
		expect_fatal(r, TCPX_E_MALFORMED);
		receiver_free(r);
		tu_buf_free(&b);
	}
}

Test(receiver_violation, result_sent_to_a_receiver)
{
	/* header alone: judged before the payload comes */
	struct tcpx_receiver *r = ready(0, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_header(&b, TCPX_FRAME_RESULT, 0, 0, 72);
	feed(r, &b);
	expect_fatal(r, TCPX_E_UNEXPECTED);
	receiver_free(r);
	/* whole frame */
	r = ready(0, 0, 0);
	tu_put_result(&b, 1, 0, NULL, NULL);
	feed(r, &b);
	expect_fatal(r, TCPX_E_UNEXPECTED);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver_violation, malformed_payloads)
{
	for (int c = 0; c < 6; c++) {
		struct tcpx_receiver *r = ready(0, 0, 0);
		struct tu_buf b = { 0 };
		int in_file = c >= 2;
		if (in_file) {
			tu_put_file(&b, 1, 10, "x");
			feed(r, &b);
			expect_event(r, REV_FILE);
		}
		switch (c) {
		case 0:  /* FILE with mode bits outside 07777 */
			tu_put_file_raw(&b, 1, 0, 0100644, 0, 0, 1, "x", 1);
			break;
		case 1:  /* FILE with name_len 0 */
			tu_put_file_raw(&b, 1, 0, 0644, 0, 0, 0, "", 0);
			break;
		case 2:  /* DATA raw_len 0 */
			tu_put_data(&b, 0, 0, "x", 1);
			break;
		case 3:  /* DATA raw with wrong length */
			tu_put_data(&b, 0, 5, "xyz", 3);
			break;
		case 4:  /* END of 63 bytes */
			tu_put_frame(&b, TCPX_FRAME_END, zero64, 63);
			break;
		case 5:  /* DATA encoding 3 (2 is zstd) */
			tu_put_data(&b, 3, 3, "xyz", 3);
			break;
		}
		feed(r, &b);
		expect_fatal(r, TCPX_E_MALFORMED);
		receiver_free(r);
		tu_buf_free(&b);
	}
}

/* ---- per-file refusals ------------------------------------------------- */

Test(receiver_refusal, bad_names)
{
	static const char *bad[] = { "../x", "/abs", "a//b", "a/", ".", "..",
				     ".tcpx-tmp", "d/.tcpx-1", "\x1b[31mred",
				     "a\xc2\x85" "b", "\xc0\xaf", "tab\tname" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tcpx_receiver *r = ready(TCPX_CAP_ZLIB, 0, 0);
		struct tu_buf b = { 0 };
		uint8_t dg[64];
		tu_digest_of((const uint8_t *)"abc", 3, dg);
		tu_put_file(&b, 1, 3, bad[i]);
		tu_put_data_raw(&b, "abc", 3);
		tu_put_end(&b, dg);
		put_file_data_end(&b, 2, "good", "fine");
		feed(r, &b);
		struct receiver_event ev = next(r);
		cr_assert_eq(ev.type, REV_REFUSED, "name %zu: event %d", i, ev.type);
		cr_assert_eq(ev.code, TCPX_E_BAD_NAME);
		cr_assert_eq(ev.meta.id, 1u);
		cr_assert_eq(ev.meta.name_len, strlen(bad[i]));
		cr_assert(ev.msg != NULL && *ev.msg);
		cr_assert_eq(receiver_in_file(r), 0);
		struct result res[2];
		cr_assert_eq(results(r, res, 2), 1u, "RESULT queued at the FILE");
		cr_assert_eq(res[0].id, 1u);
		cr_assert_eq(res[0].code, TCPX_E_BAD_NAME);
		cr_assert_arr_eq(res[0].digest, zero64, 64);
		cr_assert(res[0].msg[0] != '\0', "RESULT without a reason");
		/* its DATA and END are skipped silently, the session goes on */
		expect_event(r, REV_SKIPPED);
		ev = next(r);
		cr_assert_eq(ev.type, REV_FILE);
		cr_assert_eq(ev.meta.id, 2u);
		expect_event(r, REV_DATA);
		ev = next(r);
		cr_assert_eq(ev.type, REV_END);
		cr_assert_eq(ev.code, 0);
		receiver_file_done(r, 0, NULL);
		cr_assert_eq(results(r, res, 2), 1u);
		cr_assert_eq(res[0].id, 2u);
		cr_assert_eq(res[0].code, 0);
		receiver_free(r);
		tu_buf_free(&b);
	}
}

Test(receiver_refusal, max_size)
{
	struct tcpx_receiver *r = ready(0, 100, 0);
	struct tu_buf b = { 0 };
	static char hundred[101];
	memset(hundred, 'h', 100);
	tu_put_file(&b, 1, 101, "big");
	tu_put_empty(&b, TCPX_FRAME_ABORT);
	put_file_data_end(&b, 2, "fits", hundred);
	tu_put_file(&b, 3, UINT64_MAX, "../huge-and-bad");
	feed(r, &b);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_REFUSED);
	cr_assert_eq(ev.code, TCPX_E_TOO_BIG);
	expect_event(r, REV_SKIPPED);
	ev = next(r);
	cr_assert_eq(ev.type, REV_FILE, "a file of exactly max_size refused");
	cr_assert_eq(ev.meta.size, 100u);
	expect_event(r, REV_DATA);
	expect_event(r, REV_END);
	receiver_file_done(r, 0, NULL);
	ev = next(r);
	cr_assert_eq(ev.type, REV_REFUSED);
	cr_assert_eq(ev.code, TCPX_E_BAD_NAME, "name is judged before size");
	struct result res[4];
	cr_assert_eq(results(r, res, 4), 3u);
	cr_assert_eq(res[0].code, TCPX_E_TOO_BIG);
	cr_assert_eq(res[1].code, 0);
	cr_assert_eq(res[2].code, TCPX_E_BAD_NAME);
	receiver_free(r);
	tu_buf_free(&b);
}

/* A refused file's frames are still checked: size, zlib capability. */
Test(receiver_refusal, skipped_data_still_checked)
{
	struct tcpx_receiver *r = ready(0, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_file(&b, 1, 4, "../x");
	tu_put_data_raw(&b, "12345", 5);
	feed(r, &b);
	expect_event(r, REV_REFUSED);
	expect_fatal(r, TCPX_E_SIZE);
	receiver_free(r);

	r = ready(0, 0, 0);
	tu_put_file(&b, 1, 4, "../x");
	tu_put_data_raw(&b, "12", 2);
	tu_put_end(&b, zero64);
	feed(r, &b);
	expect_event(r, REV_REFUSED);
	expect_fatal(r, TCPX_E_SIZE);
	receiver_free(r);

	r = ready(0, 0, 0);
	tu_put_file(&b, 1, 4, "../x");
	tu_put_data(&b, TCPX_ENCODING_ZLIB, 4, "zzzz", 4);
	feed(r, &b);
	expect_event(r, REV_REFUSED);
	expect_fatal(r, TCPX_E_UNEXPECTED);
	receiver_free(r);
	tu_buf_free(&b);
}

/* ---- the receiver against the real sender ------------------------------ */

static void run_and_check(struct tu_session *t)
{
	cr_assert_eq(tu_session_run(t), 0);
	for (size_t i = 0; i < t->n; i++) {
		struct tu_file *f = &t->files[i];
		cr_assert_eq(f->rev_file, 1, "file %zu", i);
		cr_assert_eq(f->rev_end, 1, "file %zu", i);
		cr_assert_eq(f->end_code, 0, "file %zu: END code %d", i, f->end_code);
		cr_assert_eq(f->received, f->size);
		cr_assert(f->content_ok, "file %zu: content differs", i);
		cr_assert_eq(f->result_code, 0);
	}
	cr_assert(receiver_finished(t->r));
	cr_assert_eq(t->rev_bye, 1);
}

/* The whole session one byte at a time, in both directions. */
Test(receiver_session, one_byte_at_a_time)
{
	struct tu_session t;
	struct tu_file *f = tu_files_new(4, 0, TU_TEXT);
	f[0].size = 0;
	f[1].size = 1;
	f[2].size = 3000;
	f[3].size = 700;
	tu_session_init(&t, f, 4, 6, NULL);
	t.xfer = 1;
	t.chunk = 1000;
	run_and_check(&t);
	tu_session_free(&t);
	free(f);
}

Test(receiver_session, chunk_boundaries_raw_and_zlib)
{
	static const uint64_t sz[] = { 262143, 262144, 262145, 524288, 524289 };
	for (int level = 0; level <= 9; level += 9) {
		struct tu_session t;
		struct tu_file *f = tu_files_new(5, 0, level ? TU_TEXT : TU_RANDOM);
		for (int i = 0; i < 5; i++)
			f[i].size = sz[i];
		tu_session_init(&t, f, 5, level, NULL);
		t.xfer = 131071;
		run_and_check(&t);
		tu_session_free(&t);
		free(f);
	}
}

Test(receiver_session, mixed_failures_keep_one_result_per_file)
{
	struct tu_session t;
	struct tu_file *f = tu_files_new(6, 200000, TU_TEXT);
	f[1].fail_at_file = TCPX_E_DENIED;
	f[3].fail_at_data = TCPX_E_IO;
	f[3].fail_offset = 1;
	f[4].commit_code = TCPX_E_EXISTS;
	tu_session_init(&t, f, 6, 6, NULL);
	t.xfer = 50000;
	t.chunk = 65536;
	cr_assert_eq(tu_session_run(&t), 0);
	int want[6] = { 0, TCPX_E_DENIED, 0, TCPX_E_IO, TCPX_E_EXISTS, 0 };
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(f[i].results, 1, "file %d: %d RESULTs", i, f[i].results);
		cr_assert_eq(f[i].result_code, want[i], "file %d: code %d", i, f[i].result_code);
	}
	cr_assert_eq(f[1].rev_end, 0);
	cr_assert_eq(f[1].rev_skipped, 1);
	cr_assert_eq(f[3].rev_end, 0);
	cr_assert_eq(f[3].rev_skipped, 1);
	cr_assert_eq(f[4].rev_end, 1);
	cr_assert(t.results_in_order);
	cr_assert(receiver_finished(t.r));
	tu_session_free(&t);
	free(f);
}

Test(receiver_session, max_files_ends_the_session)
{
	struct receiver_config cfg = { .caps = TCPX_CAPS_V1, .max_files = 3 };
	struct tu_session t;
	struct tu_file *f = tu_files_new(5, 10, TU_TEXT);
	tu_session_init(&t, f, 5, 0, &cfg);
	cr_assert_eq(tu_session_run(&t), -1);
	cr_assert_eq(t.rev_fatal, 1);
	cr_assert_eq(t.error_code, TCPX_E_TOO_MANY_FILES);
	/* the sender got the RESULTs of the first three, then the ERROR */
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(f[i].results, 1, "file %d", i);
		cr_assert_eq(f[i].result_code, 0);
	}
	cr_assert_eq(f[3].results, 0);
	cr_assert_eq(t.sev_error, 1);
	cr_assert_eq(t.sender_error_type, SEV_PEER_ERROR);
	cr_assert_eq(t.sender_error_code, TCPX_E_TOO_MANY_FILES);
	cr_assert_eq(sender_state(t.s), SS_FAILED);
	tu_session_free(&t);
	free(f);
}

/* ---- directories (TREE) ------------------------------------------------- */

TestSuite(receiver_tree, .init = init);

/* The RESULTs queued, as (id, code, digest all zero) triples. */
static void expect_result(const uint8_t *p, uint32_t id, uint16_t code,
			  int zero_digest)
{
	cr_assert_eq(p[0], TCPX_FRAME_RESULT);
	cr_assert_eq(be32_load(p + 8), id, "RESULT for %u, want %u",
		     be32_load(p + 8), id);
	cr_assert_eq(be16_load(p + 12), code, "code %u, want %u",
		     be16_load(p + 12), code);
	if (zero_digest) {
		for (int i = 0; i < 64; i++)
			cr_assert_eq(p[16 + i], 0);
	}
}

Test(receiver_tree, dir_event_and_its_result)
{
	struct tcpx_receiver *r = ready(TCPX_CAP_TREE, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_dir(&b, 1, 0700, 981173106, 7, "photos/empty");
	feed(r, &b);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_DIR);
	cr_assert_eq(ev.meta.id, 1u);
	cr_assert_eq(ev.meta.mode, 0700u);
	cr_assert_eq(ev.meta.mtime_sec, 981173106);
	cr_assert_eq(ev.meta.mtime_nsec, 7u);
	cr_assert_eq(ev.meta.name_len, 12u);
	cr_assert(memcmp(ev.meta.name, "photos/empty", 12) == 0);
	cr_assert_eq(receiver_in_file(r), 0);
	expect_event(r, REV_NONE);      /* nothing until the verdict */
	cr_assert_null(receiver_file_done(r, 0, NULL));
	struct tu_buf out = take(r);
	cr_assert_eq(out.len, 80u);
	expect_result(out.p, 1, 0, 1);
	tu_buf_free(&out);
	tu_buf_free(&b);
	receiver_free(r);
}

Test(receiver_tree, results_in_order_with_files)
{
	struct tcpx_receiver *r = ready(TCPX_CAP_TREE, 0, 0);
	struct tu_buf b = { 0 };
	uint8_t d[64];

	tu_digest_of((const uint8_t *)"hi", 2, d);
	tu_put_file(&b, 1, 2, "t/a");
	tu_put_data_raw(&b, "hi", 2);
	tu_put_end(&b, d);
	tu_put_dir(&b, 2, 0755, 1, 0, "t/sub");
	tu_put_dir(&b, 3, 0755, 1, 0, "../escape");
	tu_put_file(&b, 4, 0, "t/b");
	tu_put_end(&b, (const uint8_t[64]){ 0 });
	tu_put_dir(&b, 5, 0755, 1, 0, "t");
	tu_put_empty(&b, TCPX_FRAME_BYE);
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	expect_event(r, REV_END);
	receiver_file_done(r, 0, NULL);
	expect_event(r, REV_DIR);
	receiver_file_done(r, TCPX_E_EXISTS, "exists and is not a directory");
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_REFUSED);     /* '..': refused per item */
	cr_assert_eq(ev.code, TCPX_E_BAD_NAME);
	expect_event(r, REV_FILE);
	ev = next(r);
	cr_assert_eq(ev.type, REV_END);
	receiver_file_done(r, TCPX_E_DIGEST, NULL);
	expect_event(r, REV_DIR);
	receiver_file_done(r, 0, NULL);
	expect_event(r, REV_BYE);
	struct tu_buf out = take(r);
	const uint8_t *p = out.p;
	uint16_t codes[] = { 0, TCPX_E_EXISTS, TCPX_E_BAD_NAME, TCPX_E_DIGEST, 0 };
	for (uint32_t id = 1; id <= 5; id++) {
		expect_result(p, id, codes[id - 1], id != 1 && id != 4);
		p += 8 + be32_load(p + 4);
	}
	cr_assert_eq(p[0], TCPX_FRAME_BYE);
	tu_buf_free(&out);
	tu_buf_free(&b);
	receiver_free(r);
}

Test(receiver_tree, dir_without_the_capability_is_unexpected)
{
	/* asked for nothing; then: offered nothing, asked for TREE */
	for (int k = 0; k < 2; k++) {
		struct tcpx_receiver *r;
		struct tu_buf b = { 0 };
		if (k == 0) {
			r = ready(0, 0, 0);
		} else {
			r = rx_new(TCPX_CAP_ZLIB, 0, 0);
			tu_put_hello(&b, 1, 1, TCPX_CAP_TREE);
			feed(r, &b);
			expect_event(r, REV_HELLO);
			struct tu_buf h = take(r);
			cr_assert_eq(be64_load(h.p + 16), 0u, "TREE not granted");
			tu_buf_free(&h);
		}
		/* the header alone is enough to judge it */
		tu_put_header(&b, TCPX_FRAME_DIR, 0, 0, 23);
		feed(r, &b);
		expect_fatal(r, TCPX_E_UNEXPECTED);
		receiver_free(r);
		tu_buf_free(&b);
	}
}

Test(receiver_tree, dir_in_a_file_or_before_hello_is_unexpected)
{
	struct tcpx_receiver *r = ready(TCPX_CAP_TREE, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_file(&b, 1, 10, "x");
	tu_put_dir(&b, 2, 0755, 0, 0, "d");
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_fatal(r, TCPX_E_UNEXPECTED);
	receiver_free(r);

	r = rx_new(TCPX_CAPS_V1, 0, 0);
	tu_put_dir(&b, 1, 0755, 0, 0, "d");
	feed(r, &b);
	expect_fatal(r, TCPX_E_UNEXPECTED);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver_tree, dir_ids_and_limits)
{
	struct tcpx_receiver *r = ready(TCPX_CAP_TREE, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_dir(&b, 2, 0755, 0, 0, "d");     /* id 1 expected */
	feed(r, &b);
	expect_fatal(r, TCPX_E_MALFORMED);
	receiver_free(r);

	r = ready(TCPX_CAP_TREE, 0, 1);         /* --max-files 1 counts DIRs */
	tu_put_dir(&b, 1, 0755, 0, 0, "d");
	tu_put_dir(&b, 2, 0755, 0, 0, "e");
	feed(r, &b);
	expect_event(r, REV_DIR);
	receiver_file_done(r, 0, NULL);
	expect_fatal(r, TCPX_E_TOO_MANY_FILES);
	receiver_free(r);

	r = ready(TCPX_CAP_TREE, 0, 0);         /* mode beyond 07777 */
	tu_put_dir(&b, 1, 010755, 0, 0, "d");
	feed(r, &b);
	expect_fatal(r, TCPX_E_MALFORMED);
	receiver_free(r);
	tu_buf_free(&b);
}

/* ---- streams (STREAM: FILE of unknown size, STREAM_END) ------------------- */

TestSuite(receiver_stream, .init = init);

/* FILE of unknown size, DATA of content, nothing more. */
static void put_stream_start(struct tu_buf *b, uint32_t id, const char *name,
			     const char *content)
{
	tu_put_file(b, id, TCPX_SIZE_UNKNOWN, name);
	if (*content)
		tu_put_data_raw(b, content, strlen(content));
}

Test(receiver_stream, accepted_with_its_final_size_and_digest)
{
	struct tcpx_receiver *r = ready(TCPX_CAP_STREAM, 0, 0);
	struct tu_buf b = { 0 };
	uint8_t dg[64];
	struct result res[2];
	tu_digest_of((const uint8_t *)"hello", 5, dg);
	put_stream_start(&b, 1, "s", "hel");
	tu_put_data_raw(&b, "lo", 2);
	tu_put_stream_end(&b, 5, dg);
	feed(r, &b);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_FILE);
	cr_assert_eq(ev.stream, 1);
	cr_assert_eq(ev.meta.size, TCPX_SIZE_UNKNOWN);
	expect_event(r, REV_DATA);
	expect_event(r, REV_DATA);
	ev = next(r);
	cr_assert_eq(ev.type, REV_END);
	cr_assert_eq(ev.code, 0);
	cr_assert_arr_eq(ev.digest, dg, 64);
	receiver_file_done(r, 0, NULL);
	cr_assert_eq(results(r, res, 2), 1u);
	cr_assert_eq(res[0].code, 0);
	cr_assert_arr_eq(res[0].digest, dg, 64);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver_stream, empty_stream)
{
	struct tcpx_receiver *r = ready(TCPX_CAP_STREAM, 0, 0);
	struct tu_buf b = { 0 };
	uint8_t dg[64];
	tu_digest_of(NULL, 0, dg);
	tu_put_file(&b, 1, TCPX_SIZE_UNKNOWN, "e");
	tu_put_stream_end(&b, 0, dg);
	feed(r, &b);
	expect_event(r, REV_FILE);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_END);
	cr_assert_eq(ev.code, 0);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver_stream, digest_mismatch_is_34)
{
	struct tcpx_receiver *r = ready(TCPX_CAP_STREAM, 0, 0);
	struct tu_buf b = { 0 };
	uint8_t dg[64] = { 1 };
	put_stream_start(&b, 1, "s", "abc");
	tu_put_stream_end(&b, 3, dg);
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_END);
	cr_assert_eq(ev.code, TCPX_E_DIGEST);
	receiver_free(r);
	tu_buf_free(&b);
}

/* A receiver granted caps takes b's frames: a FILE, a DATA, then the
 * connection error code. */
static void file_data_then_fatal(uint64_t caps, struct tu_buf *b, int code)
{
	struct tcpx_receiver *r = ready(caps, 0, 0);
	feed(r, b);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	expect_fatal(r, code);
	receiver_free(r);
}

Test(receiver_stream, final_size_other_than_the_data_is_size)
{
	uint64_t sizes[] = { 2, 4, 0 };
	uint8_t dg[64];
	struct tu_buf b = { 0 };
	tu_digest_of((const uint8_t *)"abc", 3, dg);
	for (size_t i = 0; i < 3; i++) {
		put_stream_start(&b, 1, "s", "abc");
		tu_put_stream_end(&b, sizes[i], dg);
		file_data_then_fatal(TCPX_CAP_STREAM, &b, TCPX_E_SIZE);
	}
	tu_buf_free(&b);
}

Test(receiver_stream, end_of_a_stream_and_stream_end_of_a_file_are_unexpected)
{
	uint8_t dg[64];
	struct tu_buf b = { 0 };
	tu_digest_of((const uint8_t *)"abc", 3, dg);
	/* END for a stream */
	put_stream_start(&b, 1, "s", "abc");
	tu_put_end(&b, dg);
	file_data_then_fatal(TCPX_CAP_STREAM, &b, TCPX_E_UNEXPECTED);
	/* STREAM_END for a file of known size */
	tu_put_file(&b, 1, 3, "f");
	tu_put_data_raw(&b, "abc", 3);
	tu_put_stream_end(&b, 3, dg);
	file_data_then_fatal(TCPX_CAP_STREAM, &b, TCPX_E_UNEXPECTED);
	/* STREAM_END between files, judged from its header alone */
	struct tcpx_receiver *r = ready(TCPX_CAP_STREAM, 0, 0);
	tu_put_header(&b, 13, 0, 0, 72);
	feed(r, &b);
	expect_fatal(r, TCPX_E_UNEXPECTED);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver_stream, without_stream_type_13_is_no_type_and_the_size_a_size)
{
	uint8_t dg[64];
	struct tu_buf b = { 0 };
	tu_digest_of((const uint8_t *)"abc", 3, dg);
	/* type 13 with a huge length: UNEXPECTED, not FRAME_TOO_LARGE */
	tu_put_file(&b, 1, 3, "f");
	tu_put_data_raw(&b, "abc", 3);
	tu_put_header(&b, 13, 0, 0, 0xFFFFFFFFu);
	file_data_then_fatal(TCPX_CAP_ZLIB, &b, TCPX_E_UNEXPECTED);
	/* 2^64-1 without STREAM: a size, refused at FILE by --max-size */
	struct tcpx_receiver *r = ready(TCPX_CAP_ZLIB, 1000, 0);
	tu_put_file(&b, 1, TCPX_SIZE_UNKNOWN, "f");
	feed(r, &b);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_REFUSED);
	cr_assert_eq(ev.code, TCPX_E_TOO_BIG);
	cr_assert_eq(ev.stream, 0);
	receiver_free(r);
	/* and, accepted, it ends with END: STREAM_END is no type */
	tu_put_file(&b, 1, TCPX_SIZE_UNKNOWN, "f");
	tu_put_data_raw(&b, "abc", 3);
	tu_put_stream_end(&b, 3, dg);
	file_data_then_fatal(TCPX_CAP_ZLIB, &b, TCPX_E_UNEXPECTED);
	tu_buf_free(&b);
}

Test(receiver_stream, past_max_size_refused_part_way_and_skipped)
{
	struct tcpx_receiver *r = ready(TCPX_CAP_STREAM, 4, 0);
	struct tu_buf b = { 0 };
	uint8_t dg[64], dg2[64];
	struct result res[4];
	tu_digest_of((const uint8_t *)"abcdef", 6, dg);
	tu_digest_of((const uint8_t *)"ok", 2, dg2);
	put_stream_start(&b, 1, "big", "abc");
	tu_put_data_raw(&b, "def", 3);          /* 6 > 4: refused here */
	tu_put_stream_end(&b, 6, dg);
	put_stream_start(&b, 2, "fits", "ok");  /* 2 <= 4 */
	tu_put_stream_end(&b, 2, dg2);
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_FAILED);
	cr_assert_eq(ev.code, TCPX_E_TOO_BIG);
	cr_assert(ev.msg && strstr(ev.msg, "--max-size"));
	cr_assert_eq(receiver_in_file(r), 0);
	cr_assert_eq(receiver_in_data(r), 1);
	expect_event(r, REV_SKIPPED);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	ev = next(r);
	cr_assert_eq(ev.type, REV_END);
	cr_assert_eq(ev.code, 0);
	receiver_file_done(r, 0, NULL);
	cr_assert_eq(results(r, res, 4), 2u);
	cr_assert_eq(res[0].id, 1u);
	cr_assert_eq(res[0].code, TCPX_E_TOO_BIG);
	cr_assert_arr_eq(res[0].digest, zero64, 64);
	cr_assert_eq(res[1].code, 0);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver_stream, a_refused_stream_still_has_its_size_checked)
{
	struct tcpx_receiver *r = ready(TCPX_CAP_STREAM, 0, 0);
	struct tu_buf b = { 0 };
	uint8_t dg[64] = { 0 };
	put_stream_start(&b, 1, "../x", "abc");  /* BAD_NAME: skipped */
	tu_put_stream_end(&b, 2, dg);
	feed(r, &b);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_REFUSED);
	cr_assert_eq(ev.stream, 1);
	expect_fatal(r, TCPX_E_SIZE);
	receiver_free(r);
	tu_buf_free(&b);
}

/* ---- SECURE negotiation (man/tcpxfer.5 SECURE, "Failures and
 * downgrade") ---------------------------------------------------------- */

static struct tcpx_receiver *secure_rx(int require)
{
	struct receiver_config cfg = { .caps = TCPX_CAPS_V1 | TCPX_CAP_SECURE |
				       TCPX_CAP_AES256GCM, .require_secure = require };
	struct tcpx_receiver *r = receiver_new(&cfg);
	cr_assert(r != NULL);
	return r;
}

Test(receiver_secure, a_receiver_with_a_key_refuses_a_sender_without)
{
	struct tcpx_receiver *r = secure_rx(1);
	struct tu_buf b = { 0 };
	tu_put_hello(&b, 1, 1, TCPX_CAP_ZLIB);
	tu_put_file(&b, 1, 5, "a.txt");
	feed(r, &b);
	expect_fatal(r, TCPX_E_INSECURE);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver_secure, grants_secure_and_aes_only_together)
{
	struct { uint64_t asked, granted; int require; } c[] = {
		{ TCPX_CAP_SECURE, TCPX_CAP_SECURE, 1 },
		{ TCPX_CAP_SECURE | TCPX_CAP_AES256GCM,
		  TCPX_CAP_SECURE | TCPX_CAP_AES256GCM, 1 },
		{ TCPX_CAP_AES256GCM, 0, 0 },
		{ TCPX_CAP_ZLIB, TCPX_CAP_ZLIB, 0 },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct tcpx_receiver *r = secure_rx(c[i].require);
		struct tu_buf b = { 0 };
		tu_put_hello(&b, 1, 1, c[i].asked);
		feed(r, &b);
		struct receiver_event ev;
		receiver_next(r, &ev);
		cr_assert_eq(ev.type, REV_HELLO, "case %zu", i);
		cr_assert_eq(ev.caps, c[i].granted, "case %zu", i);
		struct tu_buf out = take(r);
		cr_assert_eq(be64_load(out.p + 16), c[i].granted, "case %zu", i);
		receiver_free(r);
		tu_buf_free(&b);
		tu_buf_free(&out);
	}
	/* Without a key the bits are never granted. */
	struct tcpx_receiver *r = rx_new(TCPX_CAPS_V1, 0, 0);
	struct tu_buf b = { 0 };
	tu_put_hello(&b, 1, 1, TCPX_CAP_SECURE | TCPX_CAP_AES256GCM);
	feed(r, &b);
	expect_event(r, REV_HELLO);
	struct tu_buf out = take(r);
	cr_assert_eq(be64_load(out.p + 16), 0);
	receiver_free(r);
	tu_buf_free(&b);
	tu_buf_free(&out);
}

/* ---- offers (TCPX_CAP_OFFER) ------------------------------------------- */

TestSuite(receiver_offer, .init = init);

static void put_offer(struct tu_buf *b, uint32_t id, const char *name,
		      uint64_t size, uint8_t policy, uint8_t flags)
{
	uint8_t frame[8 + 32 + 64 + 4096];
	static const uint8_t dg[64];
	struct tcpx_offer o = {
		.meta = { .id = id, .size = size, .mode = 0644,
			  .mtime_sec = 1700000000, .name = (const uint8_t *)name,
			  .name_len = (uint16_t)strlen(name) },
		.policy = policy, .flags = flags,
		.digest = (flags & TCPX_OFFER_CHECKSUM) ? dg : NULL };
	tu_buf_put(b, frame, proto_encode_offer(frame, &o));
}

/* The ANSWER frames queued, in order: disposition and code. */
static size_t answers(struct tcpx_receiver *r, struct tcpx_answer *a, size_t max)
{
	struct tu_buf out = take(r);
	static struct tu_frame fr[256];
	size_t n = tu_parse_frames(out.p, out.len, fr, 256), k = 0;
	for (size_t i = 0; i < n; i++) {
		if (fr[i].type != TCPX_FRAME_ANSWER)
			continue;
		struct tcpx_frame f = { fr[i].type, fr[i].length, fr[i].payload };
		cr_assert(k < max);
		cr_assert_eq(proto_decode_answer(&f, &a[k]), 0);
		a[k].msg = NULL;        /* points into out, freed below */
		k++;
	}
	tu_buf_free(&out);
	return k;
}

static struct tcpx_receiver *offering(void)
{
	return ready(TCPX_CAP_OFFER, 0, 0);
}

Test(receiver_offer, skipped_answer_is_final)
{
	struct tcpx_receiver *r = offering();
	struct tu_buf b = { 0 };
	struct tcpx_answer a[4];
	put_offer(&b, 1, "a.txt", 3, TCPX_POLICY_REFUSE, 0);
	feed(r, &b);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_OFFER);
	cr_assert_eq(ev.meta.id, 1u);
	expect_event(r, REV_NONE);      /* waits for receiver_answer() */
	receiver_answer(r, TCPX_ANSWER_SAME_TIME, 0, 0, 0, NULL, NULL);
	cr_assert_eq(answers(r, a, 4), 1u);
	cr_assert_eq(a[0].id, 1u);
	cr_assert_eq(a[0].disposition, TCPX_ANSWER_SAME_TIME);
	/* no FILE may follow a final answer */
	put_file_data_end(&b, 1, "a.txt", "hi\n");
	feed(r, &b);
	expect_fatal(r, TCPX_E_NOT_OFFERED);
	tu_buf_free(&b);
	receiver_free(r);
}

Test(receiver_offer, send_then_file_with_the_offers_fields)
{
	struct tcpx_receiver *r = offering();
	struct tu_buf b = { 0 };
	struct result res[2];
	put_offer(&b, 1, "a.txt", 3, TCPX_POLICY_KEEP_BOTH, 0);
	put_offer(&b, 2, "b.txt", 2, TCPX_POLICY_OVERWRITE, 0);
	feed(r, &b);
	expect_event(r, REV_OFFER);
	receiver_answer(r, TCPX_ANSWER_SEND, 0, 0, 0, NULL, NULL);
	expect_event(r, REV_OFFER);
	receiver_answer(r, TCPX_ANSWER_SEND, 0, 1, 0, NULL, NULL);
	put_file_data_end(&b, 1, "a.txt", "hi\n");
	feed(r, &b);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_FILE);
	cr_assert(ev.offered && ev.keep_both && !ev.overwrite && ev.offset == 0);
	expect_event(r, REV_DATA);
	expect_event(r, REV_END);
	receiver_file_done(r, 0, "kept both: stored as a.1.txt");
	/* the second, with another size than offered: refused as a session */
	put_file_data_end(&b, 2, "b.txt", "abc");
	feed(r, &b);
	cr_assert_eq(results(r, res, 2), 1u);
	cr_assert_eq(res[0].code, 0);
	cr_assert_str_eq(res[0].msg, "kept both: stored as a.1.txt");
	expect_fatal(r, TCPX_E_NOT_OFFERED);
	tu_buf_free(&b);
	receiver_free(r);
}

Test(receiver_offer, a_name_twice_is_refused_at_its_offer)
{
	struct tcpx_receiver *r = offering();
	struct tu_buf b = { 0 };
	struct tcpx_answer a[4];
	put_offer(&b, 1, "x", 1, 0, 0);
	put_offer(&b, 2, "x", 2, 0, 0);
	put_offer(&b, 3, "y/x", 2, 0, 0);
	feed(r, &b);
	expect_event(r, REV_OFFER);
	receiver_answer(r, TCPX_ANSWER_REFUSED, TCPX_E_EXISTS, 0, 0, NULL, NULL);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_REFUSED);
	cr_assert_eq(ev.code, TCPX_E_DUPLICATE);
	cr_assert(ev.offered);
	expect_event(r, REV_OFFER);     /* another name: fine */
	receiver_answer(r, TCPX_ANSWER_SAME_TIME, 0, 0, 0, NULL, NULL);
	cr_assert_eq(answers(r, a, 4), 3u);
	cr_assert_eq(a[0].code, TCPX_E_EXISTS);
	cr_assert_eq(a[1].id, 2u);
	cr_assert_eq(a[1].disposition, TCPX_ANSWER_REFUSED);
	cr_assert_eq(a[1].code, TCPX_E_DUPLICATE);
	cr_assert_eq(a[2].disposition, TCPX_ANSWER_SAME_TIME);
	tu_buf_free(&b);
	receiver_free(r);
}

Test(receiver_offer, more_than_the_window_ends_the_session)
{
	struct tcpx_receiver *r = offering();
	struct tu_buf b = { 0 };
	char name[16];
	for (uint32_t i = 1; i <= TCPX_OFFER_WINDOW; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		put_offer(&b, i, name, 1, 0, 0);
		feed(r, &b);
		expect_event(r, REV_OFFER);
		receiver_answer(r, TCPX_ANSWER_SEND, 0, 0, 0, NULL, NULL);
		struct tu_buf out = take(r);
		tu_buf_free(&out);
	}
	put_offer(&b, TCPX_OFFER_WINDOW + 1, "one-more", 1, 0, 0);
	feed(r, &b);
	expect_fatal(r, TCPX_E_OFFERS);
	tu_buf_free(&b);
	receiver_free(r);
}

Test(receiver_offer, resume_continues_the_digest_over_the_prefix)
{
	struct tcpx_receiver *r = offering();
	struct tu_buf b = { 0 };
	struct result res[1];
	struct tcpx_file_meta m = { .id = 1, .size = 3, .mode = 0644,
				    .mtime_sec = 1700000000,
				    .name = (const uint8_t *)"a.txt", .name_len = 5 };
	uint8_t frame[128], whole[64];
	struct digest prefix;

	put_offer(&b, 1, "a.txt", 3, 0, TCPX_OFFER_RESUME);
	feed(r, &b);
	expect_event(r, REV_OFFER);
	receiver_answer(r, TCPX_ANSWER_RESUME, 0, 0, 2, zero64, NULL);
	/* a RESUME from another offset than answered is no file of ours */
	struct tcpx_receiver *r2 = offering();
	put_offer(&b, 1, "a.txt", 3, 0, TCPX_OFFER_RESUME);
	feed(r2, &b);
	expect_event(r2, REV_OFFER);
	receiver_answer(r2, TCPX_ANSWER_RESUME, 0, 0, 2, zero64, NULL);
	tu_buf_put(&b, frame, proto_encode_resume(frame, &m, 1));
	feed(r2, &b);
	expect_fatal(r2, TCPX_E_NOT_OFFERED);
	receiver_free(r2);

	tu_buf_put(&b, frame, proto_encode_resume(frame, &m, 2));
	tu_put_data_raw(&b, "\n", 1);
	tu_digest_of((const uint8_t *)"hi\n", 3, whole);
	tu_put_end(&b, whole);
	feed(r, &b);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_FILE);
	cr_assert_eq(ev.offset, 2u);
	digest_init(&prefix);
	digest_update(&prefix, (const uint8_t *)"hi", 2);
	receiver_set_prefix(r, &prefix);
	ev = next(r);
	cr_assert_eq(ev.type, REV_DATA);
	cr_assert_eq(ev.len, 1u);
	ev = next(r);
	cr_assert_eq(ev.type, REV_END);
	cr_assert_eq(ev.code, 0, "the whole file's digest matched");
	receiver_file_done(r, 0, NULL);
	cr_assert_eq(results(r, res, 1), 1u);
	cr_assert_arr_eq(res[0].digest, whole, 64);
	tu_buf_free(&b);
	receiver_free(r);
}

Test(receiver_offer, frames_of_offers_need_the_capability)
{
	struct tcpx_receiver *r = ready(0, 0, 0);
	struct tu_buf b = { 0 };
	put_offer(&b, 1, "a.txt", 3, 0, 0);
	feed(r, &b);
	expect_fatal(r, TCPX_E_UNEXPECTED);
	tu_buf_free(&b);
	receiver_free(r);
}

Test(receiver_offer, decide)
{
	struct tcpx_offer o = { .meta = { .size = 3, .mtime_sec = 5,
					  .mtime_nsec = 7 } };
	struct receiver_found none = { 0 };
	struct receiver_found same = { .kind = 1, .size = 3, .mtime_sec = 5,
				       .mtime_nsec = 7 };
	struct receiver_found other = { .kind = 1, .size = 3, .mtime_sec = 5,
					.mtime_nsec = 8 };
	struct receiver_found dir = { .kind = 2 };
	int ow, code;
	const char *msg;

	cr_assert_eq(receiver_decide(&o, &none, RECV_NO_OVERWRITE, &ow, &code, &msg),
		     TCPX_ANSWER_SEND);
	cr_assert_eq(receiver_decide(&o, &same, RECV_NO_OVERWRITE, &ow, &code, &msg),
		     TCPX_ANSWER_SAME_TIME);
	cr_assert_eq(receiver_decide(&o, &other, RECV_ALLOW_OVERWRITE, &ow, &code, &msg),
		     TCPX_ANSWER_REFUSED);
	cr_assert_eq(code, TCPX_E_EXISTS);
	cr_assert_eq(receiver_decide(&o, &dir, RECV_FORCE_OVERWRITE, &ow, &code, &msg),
		     TCPX_ANSWER_REFUSED);
	o.policy = TCPX_POLICY_OVERWRITE;
	cr_assert_eq(receiver_decide(&o, &other, RECV_NO_OVERWRITE, &ow, &code, &msg),
		     TCPX_ANSWER_REFUSED);
	cr_assert_eq(code, TCPX_E_NO_OVERWRITE);
	cr_assert_eq(receiver_decide(&o, &other, RECV_ALLOW_OVERWRITE, &ow, &code, &msg),
		     TCPX_ANSWER_SEND);
	cr_assert(ow);
	o.policy = TCPX_POLICY_KEEP_BOTH;
	cr_assert_eq(receiver_decide(&o, &other, RECV_NO_OVERWRITE, &ow, &code, &msg),
		     TCPX_ANSWER_SEND);
	cr_assert(!ow);
	/* --overwrite: as before offers, identical files too */
	o.policy = TCPX_POLICY_REFUSE;
	cr_assert_eq(receiver_decide(&o, &same, RECV_FORCE_OVERWRITE, &ow, &code, &msg),
		     TCPX_ANSWER_SEND);
	cr_assert(ow);
	/* checksum: the digest decides, not the time */
	uint8_t d1[64] = { 1 }, d2[64] = { 2 };
	o.flags = TCPX_OFFER_CHECKSUM;
	o.digest = d1;
	same.digest = d1;
	other.digest = d1;
	cr_assert_eq(receiver_decide(&o, &other, RECV_NO_OVERWRITE, &ow, &code, &msg),
		     TCPX_ANSWER_SAME_DIGEST);
	same.digest = d2;
	cr_assert_eq(receiver_decide(&o, &same, RECV_NO_OVERWRITE, &ow, &code, &msg),
		     TCPX_ANSWER_REFUSED);
}

/* ---- offers and streams together (OFFER and STREAM granted) ------------- */

/* The offer of a stream: no size to judge --max-size by, answered SEND
 * even when it asks to resume, then a FILE of unknown size that only
 * STREAM_END ends. */
Test(receiver_offer, a_stream_offered_is_sent_whole_and_ends_with_stream_end)
{
	struct tcpx_receiver *r = ready(TCPX_CAP_OFFER | TCPX_CAP_STREAM, 2, 0);
	struct tu_buf b = { 0 };
	struct tcpx_answer a[2];
	struct result res[2];
	uint8_t dg[64], prefix[64] = { 7 };
	put_offer(&b, 1, "s", TCPX_SIZE_UNKNOWN, TCPX_POLICY_REFUSE,
		  TCPX_OFFER_RESUME);
	feed(r, &b);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_OFFER, "not refused TOO_BIG: size unknown");
	cr_assert(ev.stream);
	/* a RESUME asked of a stream is a SEND */
	receiver_answer(r, TCPX_ANSWER_RESUME, 0, 0, 1, prefix, NULL);
	cr_assert_eq(answers(r, a, 2), 1u);
	cr_assert_eq(a[0].disposition, TCPX_ANSWER_SEND);
	cr_assert_eq(a[0].offset, 0u);
	tu_put_file(&b, 1, TCPX_SIZE_UNKNOWN, "s");
	tu_put_data_raw(&b, "hi", 2);
	tu_digest_of((const uint8_t *)"hi", 2, dg);
	tu_put_stream_end(&b, 2, dg);
	feed(r, &b);
	ev = next(r);
	cr_assert_eq(ev.type, REV_FILE);
	cr_assert(ev.stream && ev.offered && ev.offset == 0);
	expect_event(r, REV_DATA);
	ev = next(r);
	cr_assert_eq(ev.type, REV_END);
	cr_assert_eq(ev.code, 0);
	receiver_file_done(r, 0, NULL);
	cr_assert_eq(results(r, res, 2), 1u);
	cr_assert_eq(res[0].code, 0);
	tu_buf_free(&b);
	receiver_free(r);
}

/* The stream s offered, answered SEND, and its FILE of unknown size. */
static void offered_stream(struct tcpx_receiver *r, struct tu_buf *b)
{
	put_offer(b, 1, "s", TCPX_SIZE_UNKNOWN, TCPX_POLICY_REFUSE, 0);
	feed(r, b);
	expect_event(r, REV_OFFER);
	receiver_answer(r, TCPX_ANSWER_SEND, 0, 0, 0, NULL, NULL);
	tu_put_file(b, 1, TCPX_SIZE_UNKNOWN, "s");
}

/* An offered stream past --max-size is refused as its data arrives. */
Test(receiver_offer, an_offered_stream_meets_max_size_part_way)
{
	struct tcpx_receiver *r = ready(TCPX_CAP_OFFER | TCPX_CAP_STREAM, 2, 0);
	struct tu_buf b = { 0 };
	offered_stream(r, &b);
	tu_put_data_raw(&b, "abc", 3);
	feed(r, &b);
	expect_event(r, REV_FILE);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_FAILED);
	cr_assert_eq(ev.code, TCPX_E_TOO_BIG);
	tu_buf_free(&b);
	receiver_free(r);
}

/* END does not end an offered stream. */
Test(receiver_offer, an_offered_stream_ended_by_end_is_unexpected)
{
	struct tcpx_receiver *r = ready(TCPX_CAP_OFFER | TCPX_CAP_STREAM, 0, 0);
	struct tu_buf b = { 0 };
	offered_stream(r, &b);
	tu_put_end(&b, zero64);
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_fatal(r, TCPX_E_UNEXPECTED);
	tu_buf_free(&b);
	receiver_free(r);
}

/* A stream is never identical: what the name holds and the policy decide. */
Test(receiver_offer, decide_for_a_stream)
{
	struct tcpx_offer o = { .meta = { .size = TCPX_SIZE_UNKNOWN } };
	struct receiver_found none = { 0 };
	/* even a file of the largest size and the same time */
	struct receiver_found file = { .kind = 1, .size = TCPX_SIZE_UNKNOWN };
	uint8_t d[64] = { 0 };
	int ow, code;
	const char *msg;

	cr_assert_eq(receiver_decide(&o, &none, RECV_NO_OVERWRITE, &ow, &code, &msg),
		     TCPX_ANSWER_SEND);
	cr_assert_eq(receiver_decide(&o, &file, RECV_NO_OVERWRITE, &ow, &code, &msg),
		     TCPX_ANSWER_REFUSED);
	cr_assert_eq(code, TCPX_E_EXISTS);
	o.flags = TCPX_OFFER_CHECKSUM;  /* ignored for a stream */
	o.digest = d;
	file.digest = d;
	cr_assert_eq(receiver_decide(&o, &file, RECV_NO_OVERWRITE, &ow, &code, &msg),
		     TCPX_ANSWER_REFUSED);
	o.policy = TCPX_POLICY_OVERWRITE;
	cr_assert_eq(receiver_decide(&o, &file, RECV_ALLOW_OVERWRITE, &ow, &code, &msg),
		     TCPX_ANSWER_SEND);
	cr_assert(ow);
	o.policy = TCPX_POLICY_KEEP_BOTH;
	cr_assert_eq(receiver_decide(&o, &file, RECV_NO_OVERWRITE, &ow, &code, &msg),
		     TCPX_ANSWER_SEND);
	cr_assert(!ow);
}

/* ---- several connections (MULTI): place, PLACE, JOIN -------------------- */

TestSuite(place, .init = init);
TestSuite(receiver_multi, .init = init);

#include "place.h"

Test(place, in_order_out_of_order_and_read_back)
{
	struct place p = { 0 };
	uint64_t off, len;
	place_init(&p, 0, 100);
	cr_assert_eq(place_add(&p, 0, 10), 0);          /* next in order */
	place_hashed(&p, 10);
	cr_assert_eq(place_add(&p, 30, 10), 1);         /* after a gap */
	cr_assert_eq(place_add(&p, 40, 10), 1);         /* merges: [30, 50) */
	cr_assert_eq(place_add(&p, 20, 10), 1);         /* merges: [20, 50) */
	cr_assert_eq(p.n, 1u);
	cr_assert_eq(place_readback(&p, 1000, &off, &len), 0);
	cr_assert_eq(place_add(&p, 10, 10), 0);         /* fills the gap */
	place_hashed(&p, 10);
	cr_assert_eq(place_readback(&p, 16, &off, &len), 1);
	cr_assert_eq(off, 20u);
	cr_assert_eq(len, 16u);                         /* at most max */
	place_hashed(&p, 16);
	cr_assert_eq(place_readback(&p, 1000, &off, &len), 1);
	cr_assert_eq(off, 36u);
	cr_assert_eq(len, 14u);
	place_hashed(&p, 14);
	cr_assert_eq(p.n, 0u);
	cr_assert_not(place_complete(&p));
	cr_assert_eq(place_add(&p, 50, 50), 0);
	place_hashed(&p, 50);
	cr_assert(place_complete(&p));
	cr_assert_eq(p.arrived, 100u);
	place_free(&p);
}

Test(place, overlap_outside_and_too_many_ranges_refused)
{
	struct place p = { 0 };
	place_init(&p, 10, 1u << 30);                   /* a resume from 10 */
	cr_assert_eq(place_add(&p, 0, 10), -TCPX_E_PLACE);      /* before start */
	cr_assert_eq(place_add(&p, 5, 10), -TCPX_E_PLACE);
	cr_assert_eq(place_add(&p, (1u << 30) - 5, 10), -TCPX_E_PLACE); /* past */
	cr_assert_eq(place_add(&p, UINT64_MAX - 2, 10), -TCPX_E_PLACE); /* wraps */
	cr_assert_eq(place_add(&p, 100, 0), -TCPX_E_PLACE);
	cr_assert_eq(place_add(&p, 100, 50), 1);
	cr_assert_eq(place_add(&p, 120, 10), -TCPX_E_PLACE);    /* inside */
	cr_assert_eq(place_add(&p, 90, 20), -TCPX_E_PLACE);     /* over lo */
	cr_assert_eq(place_add(&p, 140, 20), -TCPX_E_PLACE);    /* over hi */
	cr_assert_eq(place_add(&p, 10, 91), -TCPX_E_PLACE);     /* in order,
								   too long */
	cr_assert_eq(p.arrived, 50u);
	/* Ranges apart from each other, up to the bound. */
	for (uint64_t i = 1; i < PLACE_RANGES_MAX; i++)
		cr_assert_eq(place_add(&p, 1000 + 20 * i, 10), 1, "range %llu",
			     (unsigned long long)i);
	cr_assert_eq(p.n, (size_t)PLACE_RANGES_MAX);
	cr_assert_eq(place_add(&p, 1000 + 20 * PLACE_RANGES_MAX, 10),
		     -TCPX_E_PLACE);
	/* One that joins two ranges is fine: one fewer. */
	cr_assert_eq(place_add(&p, 1030, 10), 1);
	cr_assert_eq(p.n, (size_t)PLACE_RANGES_MAX - 1);
	place_free(&p);
}

#define TOKEN_HEX "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f" \
		  "10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f"

static struct tcpx_receiver *rx_multi(unsigned max_streams)
{
	struct receiver_config cfg = { .caps = TCPX_CAPS_V1 | TCPX_CAP_MULTI,
				       .max_streams = max_streams };
	for (unsigned i = 0; i < TCPX_JOIN_TOKEN_LEN; i++)
		cfg.join_token[i] = (uint8_t)i;
	struct tcpx_receiver *r = receiver_new(&cfg);
	cr_assert(r != NULL);
	struct tu_buf b = { 0 };
	tu_put_hello(&b, 1, 1, TCPX_CAP_MULTI);
	feed(r, &b);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_HELLO);
	cr_assert_eq(ev.caps, max_streams ? TCPX_CAP_MULTI : 0);
	struct tu_buf out = take(r);
	cr_assert_eq(out.len, 24u);
	tu_buf_free(&out);
	tu_buf_free(&b);
	return r;
}

static void put_place(struct tu_buf *b, uint32_t id, uint64_t off)
{
	tu_put_header(b, TCPX_FRAME_PLACE, 0, 0, 12);
	tu_buf_be32(b, id);
	tu_buf_be64(b, off);
}

/* STREAMS goes out before the reply to the first frame after HELLO, with
 * the token and count of the configuration; and only once. */
Test(receiver_multi, streams_before_the_first_reply)
{
	struct tcpx_receiver *r = rx_multi(7);
	struct tu_buf b = { 0 };
	uint8_t empty[64];
	tu_hex_decode(B2_EMPTY, empty, 64);
	tu_put_file(&b, 1, 0, "e");
	tu_put_end(&b, empty);
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_event(r, REV_END);
	receiver_file_done(r, 0, NULL);
	struct tu_buf out = take(r);
	uint8_t want[42];
	cr_assert_eq(tu_hex_decode("14 00 00 00 00 00 00 22" TOKEN_HEX "00 07",
				   want, sizeof(want)), 42u);
	cr_assert(out.len > 42);
	cr_assert_arr_eq(out.p, want, 42);
	cr_assert_eq(out.p[42], TCPX_FRAME_RESULT);
	tu_buf_free(&out);
	/* A JOIN now is not the first frame: unexpected. */
	tu_buf_put(&b, want, 42);
	b.p[0] = TCPX_FRAME_JOIN;
	b.p[41] = 1;
	feed(r, &b);
	expect_fatal(r, TCPX_E_UNEXPECTED);
	receiver_free(r);
	tu_buf_free(&b);
}

/* Without max_streams the receiver grants no MULTI; its frames are then
 * no types at all. */
Test(receiver_multi, not_granted_without_max_streams)
{
	struct tcpx_receiver *r = rx_multi(0);
	struct tu_buf b = { 0 };
	put_place(&b, 1, 0);
	feed(r, &b);
	expect_fatal(r, TCPX_E_UNEXPECTED);
	receiver_free(r);
	tu_buf_free(&b);
}

/* Three chunks of one file: the first on the own connection in order,
 * the third from a joined connection (receiver_place) before the second:
 * written at its offset, and hashed from memory once the second came. */
Test(receiver_multi, chunks_out_of_order_hashed_in_order)
{
	struct tcpx_receiver *r = rx_multi(3);
	struct tu_buf b = { 0 };
	enum { C = 1000 };
	uint8_t data[3 * C], dg[64];
	tu_fill_random(9, 0, data, sizeof(data));
	tu_digest_of(data, sizeof(data), dg);
	tu_put_file(&b, 1, sizeof(data), "f");
	put_place(&b, 1, 0);
	tu_put_data_raw(&b, data, C);
	feed(r, &b);
	expect_event(r, REV_FILE);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_DATA);
	cr_assert(ev.placed);
	cr_assert_eq(ev.offset, 0u);
	cr_assert_eq(ev.len, (size_t)C);
	cr_assert_eq(receiver_place(r, 1, 2 * C, data + 2 * C, C), 0);
	cr_assert_eq(receiver_arrived(r), 2u * C);
	cr_assert_eq(receiver_hashed(r), (uint64_t)C);
	/* END before the second chunk: judged later. */
	put_place(&b, 1, C);
	tu_put_data_raw(&b, data + C, C);
	tu_put_end(&b, dg);
	feed(r, &b);
	ev = next(r);
	cr_assert_eq(ev.type, REV_DATA);
	cr_assert_eq(ev.offset, (uint64_t)C);
	ev = next(r);           /* the third, kept in memory: no read-back */
	cr_assert_eq(ev.type, REV_END);
	cr_assert_eq(ev.code, 0);
	cr_assert_arr_eq(ev.digest, dg, 64);
	receiver_file_done(r, 0, NULL);
	struct result res[2];
	cr_assert_eq(results(r, res, 2), 1u);
	cr_assert_eq(res[0].code, 0);
	/* Chunks of a file done, or not begun, are dropped or wait. */
	cr_assert_eq(receiver_place(r, 1, 0, data, C), 2);
	cr_assert_eq(receiver_place(r, 2, 0, data, C), 1);
	receiver_free(r);
	tu_buf_free(&b);
}

/* More chunks after a gap than are kept in memory (8): the rest is read
 * back from the disk, in order, once the gap fills. */
Test(receiver_multi, read_back_past_the_chunks_kept)
{
	struct tcpx_receiver *r = rx_multi(3);
	struct tu_buf b = { 0 };
	enum { C = 100, N = 11 };
	uint8_t data[N * C], dg[64];
	tu_fill_random(11, 0, data, sizeof(data));
	tu_digest_of(data, sizeof(data), dg);
	tu_put_file(&b, 1, sizeof(data), "f");
	feed(r, &b);
	expect_event(r, REV_FILE);
	for (unsigned i = 1; i < N; i++)
		cr_assert_eq(receiver_place(r, 1, i * C, data + i * C, C), 0);
	expect_event(r, REV_NONE);
	tu_put_data_raw(&b, data, C);   /* the gap: DATA without PLACE, at 0 */
	tu_put_end(&b, dg);
	feed(r, &b);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_DATA);
	cr_assert_eq(ev.offset, 0u);
	ev = next(r);
	cr_assert_eq(ev.type, REV_READBACK);
	cr_assert_eq(ev.offset, 9u * C);
	cr_assert_eq(ev.len, 2u * C);
	receiver_readback(r, data + 9 * C, C);  /* a short read: the rest next */
	ev = next(r);
	cr_assert_eq(ev.type, REV_READBACK);
	cr_assert_eq(ev.offset, 10u * C);
	cr_assert_eq(ev.len, (size_t)C);
	receiver_readback(r, data + 10 * C, C);
	ev = next(r);
	cr_assert_eq(ev.type, REV_END);
	cr_assert_eq(ev.code, 0);
	cr_assert_arr_eq(ev.digest, dg, 64);
	receiver_free(r);
	tu_buf_free(&b);
}

/* END waits for the bytes a joined connection still brings. */
Test(receiver_multi, end_waits_for_every_byte)
{
	struct tcpx_receiver *r = rx_multi(3);
	struct tu_buf b = { 0 };
	uint8_t data[200], dg[64];
	tu_fill_random(3, 0, data, sizeof(data));
	tu_digest_of(data, sizeof(data), dg);
	tu_put_file(&b, 1, sizeof(data), "f");
	tu_put_data_raw(&b, data, 100);         /* DATA without PLACE: at 0 */
	tu_put_end(&b, dg);
	tu_put_file(&b, 2, 0, "next");          /* not read before the verdict */
	feed(r, &b);
	expect_event(r, REV_FILE);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_DATA);
	cr_assert_eq(ev.offset, 0u);
	expect_event(r, REV_NONE);
	cr_assert(receiver_in_file(r));
	cr_assert_eq(receiver_place(r, 1, 100, data + 100, 100), 0);
	ev = next(r);
	cr_assert_eq(ev.type, REV_END);
	cr_assert_eq(ev.code, 0);
	receiver_file_done(r, 0, NULL);
	ev = next(r);
	cr_assert_eq(ev.type, REV_FILE);
	cr_assert_eq(ev.meta.id, 2u);
	receiver_free(r);
	tu_buf_free(&b);
}

Test(receiver_multi, overlap_and_wrong_file_end_the_session)
{
	struct tcpx_receiver *r = rx_multi(3);
	struct tu_buf b = { 0 };
	uint8_t data[200] = { 0 };
	tu_put_file(&b, 1, sizeof(data), "f");
	put_place(&b, 1, 50);
	tu_put_data_raw(&b, data, 100);
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_event(r, REV_DATA);
	/* a joined connection's chunk over it */
	cr_assert_eq(receiver_place(r, 1, 100, data, 100), -1);
	cr_assert(receiver_finished(r));
	receiver_free(r);

	r = rx_multi(3);
	tu_put_file(&b, 1, sizeof(data), "f");
	put_place(&b, 1, 150);
	tu_put_data_raw(&b, data, 100);         /* past the size */
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_fatal(r, TCPX_E_PLACE);
	receiver_free(r);

	r = rx_multi(3);
	tu_put_file(&b, 1, sizeof(data), "f");
	put_place(&b, 2, 0);                    /* not the current file */
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_fatal(r, TCPX_E_PLACE);
	receiver_free(r);

	r = rx_multi(3);
	tu_put_file(&b, 1, sizeof(data), "f");
	put_place(&b, 1, 0);
	put_place(&b, 1, 0);                    /* PLACE takes a DATA next */
	feed(r, &b);
	expect_event(r, REV_FILE);
	expect_fatal(r, TCPX_E_UNEXPECTED);
	receiver_free(r);
	tu_buf_free(&b);
}

/* A joined connection: HELLO, JOIN (REV_JOIN with its token and index),
 * JOINED once accepted, then PLACE and DATA pairs as REV_CHUNK, BYE; no
 * DATA without PLACE, no FILE. */
Test(receiver_multi, joined_connection)
{
	struct tcpx_receiver *r = rx_multi(3);
	struct tu_buf b = { 0 };
	uint8_t join[42], data[10] = "0123456789";
	cr_assert_eq(tu_hex_decode("15 00 00 00 00 00 00 22" TOKEN_HEX "00 02",
				   join, sizeof(join)), 42u);
	tu_buf_put(&b, join, 42);
	feed(r, &b);
	struct receiver_event ev = next(r);
	cr_assert_eq(ev.type, REV_JOIN);
	cr_assert_eq(ev.index, 2u);
	cr_assert_arr_eq(ev.token, join + 8, 32);
	struct tu_buf out = take(r);
	cr_assert_eq(out.len, 0u);              /* no STREAMS on it */
	tu_buf_free(&out);
	receiver_join_accept(r);
	cr_assert(receiver_joined(r));
	out = take(r);
	uint8_t joined[8] = { TCPX_FRAME_JOINED };
	cr_assert_eq(out.len, 8u);
	cr_assert_arr_eq(out.p, joined, 8);
	tu_buf_free(&out);
	put_place(&b, 5, 1000);
	tu_put_data(&b, 0, 10, data, 10);
	tu_put_empty(&b, TCPX_FRAME_BYE);
	feed(r, &b);
	ev = next(r);
	cr_assert_eq(ev.type, REV_CHUNK);
	cr_assert_eq(ev.id, 5u);
	cr_assert_eq(ev.offset, 1000u);
	cr_assert_eq(ev.len, 10u);
	cr_assert(memcmp(ev.data, data, 10) == 0);
	expect_event(r, REV_BYE);
	receiver_free(r);

	r = rx_multi(3);
	tu_buf_put(&b, join, 42);
	tu_put_data(&b, 0, 10, data, 10);
	feed(r, &b);
	expect_event(r, REV_JOIN);
	receiver_join_accept(r);
	out = take(r);
	tu_buf_free(&out);
	expect_fatal(r, TCPX_E_UNEXPECTED);
	receiver_free(r);

	r = rx_multi(3);
	tu_buf_put(&b, join, 42);
	tu_put_file(&b, 1, 0, "f");
	feed(r, &b);
	expect_event(r, REV_JOIN);
	receiver_join_accept(r);
	expect_fatal(r, TCPX_E_UNEXPECTED);
	receiver_free(r);

	/* refused: ERROR JOIN, the session (of this connection) over */
	r = rx_multi(3);
	tu_buf_put(&b, join, 42);
	feed(r, &b);
	expect_event(r, REV_JOIN);
	receiver_fail(r, TCPX_E_JOIN, "unknown join token");
	cr_assert(receiver_finished(r));
	receiver_free(r);
	tu_buf_free(&b);
}
