/*
 * gen_corpus: writes the seed corpus of the fuzz targets.
 *
 *     build-fuzz/gen_corpus tests/fuzz/corpus      (make fuzz-corpus)
 *
 * Seeds are built with the library's own encoders (proto_encode_*,
 * chunk_compress, digest) so they are valid TCPX byte for byte, then
 * bent into the malformed cases the spec names.  The sender seeds are the
 * replies of the real receiver state machine to the real sender state
 * machine, run in-process against the same plan the fuzz_sender header
 * describes, so the fuzzer starts from sessions that verify end to end.
 * Input layouts: fuzz_common.h.  Deterministic: the same files every run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "bytes.h"
#include "chunk.h"
#include "digest.h"
#include "error.h"
#include "frame.h"
#include "fuzz_common.h"
#include "proto.h"
#include "receiver.h"
#include "sender.h"

static const char *root;
static unsigned nfiles_written;
static size_t bytes_written;
static uint8_t frame[TCPX_FRAME_BUF_MAX];

static void die(const char *what)
{
	fprintf(stderr, "gen_corpus: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void mkdir_p(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die(path);
}

static void emit(const char *target, const char *name, const uint8_t *hdr,
		 size_t hlen, const struct fz_buf *body)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", root, target);
	mkdir_p(path);
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		die(path);
	if ((hlen && fwrite(hdr, 1, hlen, f) != hlen) ||
	    (body->len && fwrite(body->p, 1, body->len, f) != body->len) ||
	    fclose(f) != 0)
		die(path);
	nfiles_written++;
	bytes_written += hlen + body->len;
}

/* ---- stream builders: the library's encoders into a growing buffer ---- */

static void put(struct fz_buf *b, size_t n)
{
	fz_buf_add(b, frame, n);
}

static void b_hello(struct fz_buf *b, uint16_t vmin, uint16_t vmax, uint64_t caps)
{
	struct tcpx_hello h = { vmin, vmax, caps };
	put(b, proto_encode_hello(frame, &h));
}

static void b_file(struct fz_buf *b, uint32_t id, uint64_t size,
		   const char *name, size_t name_len, uint32_t mode)
{
	struct tcpx_file_meta m = { .id = id, .size = size, .mode = mode,
				    .mtime_sec = 1764000000 + id,
				    .mtime_nsec = 123456789,
				    .name = (const uint8_t *)name,
				    .name_len = (uint16_t)name_len };
	put(b, proto_encode_file(frame, &m));
}

static void b_dir(struct fz_buf *b, uint32_t id, const char *name,
		  uint32_t mode)
{
	struct tcpx_file_meta m = { .id = id, .mode = mode,
				    .mtime_sec = 981173106, .mtime_nsec = 5,
				    .name = (const uint8_t *)name,
				    .name_len = (uint16_t)strlen(name) };
	put(b, proto_encode_dir(frame, &m));
}

static void b_data_raw(struct fz_buf *b, const uint8_t *p, size_t n)
{
	size_t len = proto_encode_data_header(frame, TCPX_ENCODING_RAW,
					      (uint32_t)n, (uint32_t)n);
	memcpy(frame + TCPX_FRAME_HEADER_LEN + TCPX_DATA_HEADER_LEN, p, n);
	put(b, len);
}

/* A zlib chunk as tcpput makes it (libdeflate), or raw if it does not
 * shrink. */
static void b_data(struct fz_buf *b, const uint8_t *p, size_t n, int level)
{
	static struct chunk_compressor *c[10];
	uint8_t *z = frame + TCPX_FRAME_HEADER_LEN + TCPX_DATA_HEADER_LEN;
	if (!c[level])
		c[level] = chunk_compressor_new(level);
	size_t zlen = chunk_compress(c[level], p, n, z, TCPX_CHUNK_MAX);
	if (!zlen) {
		b_data_raw(b, p, n);
		return;
	}
	put(b, proto_encode_data_header(frame, TCPX_ENCODING_ZLIB, (uint32_t)n,
					(uint32_t)zlen));
}

/* A DATA frame with arbitrary zlib-encoding bytes (corrupt, bombs). */
static void b_data_zbytes(struct fz_buf *b, uint32_t raw_len, const uint8_t *z,
			  size_t zlen)
{
	memcpy(frame + TCPX_FRAME_HEADER_LEN + TCPX_DATA_HEADER_LEN, z, zlen);
	put(b, proto_encode_data_header(frame, TCPX_ENCODING_ZLIB, raw_len,
					(uint32_t)zlen));
}

static void b_end(struct fz_buf *b, const uint8_t *digest)
{
	put(b, proto_encode_end(frame, digest));
}

static void b_stream_end(struct fz_buf *b, uint64_t size, const uint8_t *digest)
{
	put(b, proto_encode_stream_end(frame, size, digest));
}

static void b_empty(struct fz_buf *b, uint8_t type)
{
	put(b, proto_encode_empty(frame, type));
}

static void b_result(struct fz_buf *b, uint32_t id, uint16_t code,
		     const uint8_t *digest, const char *msg)
{
	put(b, proto_encode_result(frame, id, code, digest, msg));
}

static void b_error(struct fz_buf *b, uint16_t code, const char *msg)
{
	put(b, proto_encode_error(frame, code, msg));
}

static void b_raw(struct fz_buf *b, const void *p, size_t n)
{
	fz_buf_add(b, p, n);
}

static void digest_of(const uint8_t *p, size_t n, uint8_t out[DIGEST_LEN])
{
	struct digest d;
	digest_init(&d);
	digest_update(&d, p, n);
	digest_final(&d, out);
}

/* A whole file: FILE, DATA chunks of `chunk` bytes (zlib at `level` if
 * level > 0, else raw), END with the right digest. */
static void b_whole_file(struct fz_buf *b, uint32_t id, const char *name,
			 const uint8_t *p, size_t n, size_t chunk, int level)
{
	uint8_t dg[DIGEST_LEN];
	b_file(b, id, n, name, strlen(name), 0644);
	for (size_t off = 0; off < n; off += chunk) {
		size_t k = n - off < chunk ? n - off : chunk;
		if (level)
			b_data(b, p + off, k, level);
		else
			b_data_raw(b, p + off, k);
	}
	digest_of(p, n, dg);
	b_end(b, dg);
}

/* OFFER for what b_file() would send (the same fields). */
static void b_offer(struct fz_buf *b, uint32_t id, uint64_t size,
		    const char *name, uint8_t policy, uint8_t flags,
		    const uint8_t *digest)
{
	struct tcpx_offer o = {
		.meta = { .id = id, .size = size, .mode = 0644,
			  .mtime_sec = 1764000000 + id, .mtime_nsec = 123456789,
			  .name = (const uint8_t *)name,
			  .name_len = (uint16_t)strlen(name) },
		.policy = policy, .flags = flags, .digest = digest };
	put(b, proto_encode_offer(frame, &o));
}

/* RESUME of a file offered as b_offer() has it, from offset. */
static void b_resume(struct fz_buf *b, uint32_t id, uint64_t size,
		     const char *name, uint64_t offset)
{
	struct tcpx_file_meta m = { .id = id, .size = size, .mode = 0644,
				    .mtime_sec = 1764000000 + id,
				    .mtime_nsec = 123456789,
				    .name = (const uint8_t *)name,
				    .name_len = (uint16_t)strlen(name) };
	put(b, proto_encode_resume(frame, &m, offset));
}

/* Deterministic contents. */
static uint8_t *text(size_t n)
{
	static const char words[] = "tcpxfer sends files over TCP and checks "
				    "every byte with BLAKE2b-512.\n";
	uint8_t *p = malloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)words[i % (sizeof(words) - 1)];
	return p;
}

static uint8_t *noise(size_t n, uint64_t seed)
{
	struct fz_rng r = { seed };
	uint8_t *p = malloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)fz_next(&r);
	return p;
}

/* ---- fuzz_frame ---- */

static void one_frame(const char *name, void (*build)(struct fz_buf *))
{
	struct fz_buf b = { 0 };
	build(&b);
	emit("frame", name, NULL, 0, &b);
	fz_buf_free(&b);
}

static void f_hello(struct fz_buf *b) { b_hello(b, 1, 1, TCPX_CAP_ZLIB); }
static void f_file(struct fz_buf *b) { b_file(b, 1, 5, "dir/\xc3\xa9t\xc3\xa9.txt", 14, 0755); }
static void f_data_raw(struct fz_buf *b) { b_data_raw(b, (const uint8_t *)"hello", 5); }
static void f_data_zlib(struct fz_buf *b)
{
	uint8_t *t = text(4000);
	b_data(b, t, 4000, 6);
	free(t);
}
static void f_end(struct fz_buf *b)
{
	uint8_t dg[DIGEST_LEN];
	digest_of((const uint8_t *)"hello", 5, dg);
	b_end(b, dg);
}
static void f_abort(struct fz_buf *b) { b_empty(b, TCPX_FRAME_ABORT); }
static void f_bye(struct fz_buf *b) { b_empty(b, TCPX_FRAME_BYE); }
static void f_result_ok(struct fz_buf *b)
{
	uint8_t dg[DIGEST_LEN];
	digest_of((const uint8_t *)"hello", 5, dg);
	b_result(b, 1, 0, dg, NULL);
}
static void f_result_fail(struct fz_buf *b)
{
	b_result(b, 7, TCPX_E_EXISTS, NULL,
		 "file exists (tcpget --overwrite replaces it)");
}
static void f_error(struct fz_buf *b) { b_error(b, TCPX_E_BUSY, "receiver busy"); }
static void f_offer(struct fz_buf *b)
{
	static const uint8_t dg[DIGEST_LEN] = { 1, 2, 3 };
	b_offer(b, 1, 5, "a.txt", TCPX_POLICY_KEEP_BOTH,
		TCPX_OFFER_RESUME | TCPX_OFFER_CHECKSUM, dg);
}
static void f_answer(struct fz_buf *b)
{
	static const uint8_t dg[DIGEST_LEN] = { 9 };
	struct tcpx_answer a = { .id = 1, .disposition = TCPX_ANSWER_RESUME,
				 .offset = 2, .digest = dg,
				 .msg = (const uint8_t *)"partial", .msg_len = 7 };
	put(b, proto_encode_answer(frame, &a));
}
static void f_resume(struct fz_buf *b) { b_resume(b, 1, 5, "a.txt", 2); }

static void f_malformed(void)
{
	struct fz_buf b = { 0 };
	/* Each one breaks exactly one rule of the header or a payload. */
	static const uint8_t bad_type[] = { 9, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t bad_flags[] = { 7, 1, 0, 0, 0, 0, 0, 0 };
	static const uint8_t bad_reserved[] = { 7, 0, 0, 1, 0, 0, 0, 0 };
	static const uint8_t huge[] = { 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t short_hdr[] = { 1, 0, 0, 0, 0 };
	b_raw(&b, bad_type, sizeof(bad_type));
	emit("frame", "bad_type.bin", NULL, 0, &b);
	b.len = 0;
	b_raw(&b, bad_flags, sizeof(bad_flags));
	emit("frame", "bad_flags.bin", NULL, 0, &b);
	b.len = 0;
	b_raw(&b, bad_reserved, sizeof(bad_reserved));
	emit("frame", "bad_reserved.bin", NULL, 0, &b);
	b.len = 0;
	b_raw(&b, huge, sizeof(huge));
	emit("frame", "too_large.bin", NULL, 0, &b);
	b.len = 0;
	b_raw(&b, short_hdr, sizeof(short_hdr));
	emit("frame", "short_header.bin", NULL, 0, &b);

	b.len = 0;                      /* payload cut short */
	b_hello(&b, 1, 1, 0);
	b.len -= 3;
	emit("frame", "truncated_payload.bin", NULL, 0, &b);

	b.len = 0;
	b_hello(&b, 1, 1, 0);
	b.p[TCPX_FRAME_HEADER_LEN] = 'X';
	emit("frame", "hello_bad_magic.bin", NULL, 0, &b);

	b.len = 0;                      /* name_len says 200, payload has 3 */
	b_file(&b, 1, 0, "abc", 3, 0644);
	be16_store(b.p + TCPX_FRAME_HEADER_LEN + 28, 200);
	emit("frame", "file_name_len_mismatch.bin", NULL, 0, &b);

	b.len = 0;                      /* raw chunk shorter than raw_len */
	b_data_raw(&b, (const uint8_t *)"hello", 5);
	be32_store(b.p + TCPX_FRAME_HEADER_LEN + 4, 6);
	emit("frame", "data_raw_len_mismatch.bin", NULL, 0, &b);

	b.len = 0;                      /* msg_len beyond the payload */
	b_result(&b, 1, TCPX_E_IO, NULL, "io");
	be16_store(b.p + TCPX_FRAME_HEADER_LEN + 6, 1025);
	emit("frame", "result_msg_len_mismatch.bin", NULL, 0, &b);
	fz_buf_free(&b);
}

static void gen_frame(void)
{
	one_frame("hello.bin", f_hello);
	one_frame("file.bin", f_file);
	one_frame("data_raw.bin", f_data_raw);
	one_frame("data_zlib.bin", f_data_zlib);
	one_frame("end.bin", f_end);
	one_frame("abort.bin", f_abort);
	one_frame("bye.bin", f_bye);
	one_frame("result_ok.bin", f_result_ok);
	one_frame("result_exists_msg.bin", f_result_fail);
	one_frame("error.bin", f_error);
	one_frame("offer.bin", f_offer);
	one_frame("answer_resume.bin", f_answer);
	one_frame("resume.bin", f_resume);
	f_malformed();

	/* Both directions of a whole session, back to back. */
	struct fz_buf b = { 0 };
	uint8_t *t = text(3000), dg[DIGEST_LEN];
	b_hello(&b, 1, 1, TCPX_CAP_ZLIB);
	b_whole_file(&b, 1, "a.txt", t, 3000, 1000, 6);
	b_whole_file(&b, 2, "b/c.txt", t, 10, 10, 0);
	b_file(&b, 3, 100, "d", 1, 0600);
	b_empty(&b, TCPX_FRAME_ABORT);
	b_empty(&b, TCPX_FRAME_BYE);
	emit("frame", "session_sender.bin", NULL, 0, &b);
	b.len = 0;
	b_hello(&b, 1, 1, TCPX_CAP_ZLIB);
	digest_of(t, 3000, dg);
	b_result(&b, 1, 0, dg, NULL);
	digest_of(t, 10, dg);
	b_result(&b, 2, TCPX_E_DIGEST, dg, "digest mismatch");
	b_result(&b, 3, TCPX_E_ABORTED, NULL, "aborted by sender");
	b_empty(&b, TCPX_FRAME_BYE);
	emit("frame", "session_receiver.bin", NULL, 0, &b);
	free(t);
	fz_buf_free(&b);
}

/* ---- fuzz_receiver: header + the sender's stream ---- */

/* b0: limits/caps/split/drain, b1: disk failures; the rest seeds the PRNG. */
static void rx_emit(const char *name, uint8_t b0, uint8_t b1,
		    const struct fz_buf *body)
{
	uint8_t hdr[FZ_RX_HDR] = { b0, b1, 0x5e, 0xed, 0x00, 0x01, 0x02, 0x03 };
	hdr[7] = (uint8_t)(nfiles_written * 37u);  /* vary the splits */
	emit("receiver", name, hdr, sizeof(hdr), body);
}

#define RX_MAXSIZE_1000 0x02u
#define RX_MAXFILES_1 0x04u
#define RX_NO_CAPS 0x10u
#define RX_SPLIT(m) ((uint8_t)((m) << 5))
#define RX_PARTIAL 0x80u

static void gen_receiver(void)
{
	struct fz_buf b = { 0 };
	uint8_t dg[DIGEST_LEN];
	uint8_t *t = text(100000);
	uint8_t *z = calloc(1, TCPX_CHUNK_MAX + 1);
	uint8_t *rnd = noise(5000, 42);

	/* Valid sessions. */
	b_hello(&b, 1, 1, TCPX_CAP_ZLIB);
	b_whole_file(&b, 1, "hello.txt", (const uint8_t *)"hello, world\n", 13,
		     13, 0);
	b_empty(&b, TCPX_FRAME_BYE);
	rx_emit("one_file_raw.bin", 0, 0, &b);
	rx_emit("one_file_raw_bytewise_partial.bin",
		RX_SPLIT(FZ_SPLIT_BYTE) | RX_PARTIAL, 0x40, &b);

	b.len = 0;
	b_hello(&b, 1, 1, TCPX_CAP_ZLIB);
	b_whole_file(&b, 1, "docs/book.txt", t, 100000, 65536, 6);
	b_empty(&b, TCPX_FRAME_BYE);
	rx_emit("one_file_zlib.bin", 0, 0, &b);
	rx_emit("one_file_zlib_small_reads.bin",
		RX_SPLIT(FZ_SPLIT_SMALL) | RX_PARTIAL, 0, &b);

	b.len = 0;
	b_hello(&b, 1, 1, TCPX_CAP_ZLIB);
	for (uint32_t i = 1; i <= 40; i++) {
		char name[64];
		snprintf(name, sizeof(name), "tree/d%u/f%u.dat", i % 4, i);
		size_t n = (i * 37u) % 300u;
		b_whole_file(&b, i, name, i % 3 ? t + i : rnd + i, n,
			     n > 100 ? 100 : (n ? n : 1), (i % 2) ? 1 : 0);
	}
	b_empty(&b, TCPX_FRAME_BYE);
	rx_emit("many_files.bin", 0, 0, &b);
	/* The same with the disk failing at every stage now and then, the
	 * verdict polled first, and partial writes of the replies. */
	rx_emit("many_files_disk_failures.bin", RX_PARTIAL, 0x40 | 0x15, &b);
	rx_emit("many_files_commit_fails.bin", RX_SPLIT(FZ_SPLIT_ALL), 0x20, &b);
	rx_emit("many_files_max_files_3.bin", 0x08, 0, &b);

	b.len = 0;
	b_hello(&b, 1, 1, TCPX_CAP_ZLIB);
	b_whole_file(&b, 1, "empty", t, 0, 1, 0);
	b_empty(&b, TCPX_FRAME_BYE);
	rx_emit("empty_file.bin", 0, 0, &b);

	b.len = 0;                      /* a full chunk, then one byte more */
	b_hello(&b, 1, 1, TCPX_CAP_ZLIB);
	b_file(&b, 1, TCPX_CHUNK_MAX + 1, "zeros", 5, 0644);
	b_data(&b, z, TCPX_CHUNK_MAX, 9);
	b_data_raw(&b, z, 1);
	digest_of(z, TCPX_CHUNK_MAX + 1, dg);
	b_end(&b, dg);
	b_empty(&b, TCPX_FRAME_BYE);
	rx_emit("full_chunk_zlib.bin", 0, 0, &b);

	b.len = 0;                      /* every way a name is refused */
	static const char *const bad[] = {
		"../etc/passwd", "/abs", "a//b", "a/./b", ".tcpx-temp",
		"esc\x1b[31mred", "bad\xff utf8", "trailing/",
	};
	b_hello(&b, 1, 1, TCPX_CAP_ZLIB);
	uint32_t id = 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		b_whole_file(&b, ++id, bad[i], t, 50, 20, (int)(i % 2));
	b_whole_file(&b, ++id, "fine.txt", t, 10, 10, 0);
	b_empty(&b, TCPX_FRAME_BYE);
	rx_emit("refused_names.bin", 0, 0, &b);

	b.len = 0;                      /* --max-size 1000 */
	b_hello(&b, 1, 1, TCPX_CAP_ZLIB);
	b_whole_file(&b, 1, "big", t, 2000, 700, 1);
	b_whole_file(&b, 2, "small", t, 999, 999, 0);
	b_empty(&b, TCPX_FRAME_BYE);
	rx_emit("too_big.bin", RX_MAXSIZE_1000, 0, &b);
	rx_emit("too_many_files.bin", RX_MAXFILES_1, 0, &b);

	b.len = 0;
	b_hello(&b, 1, 1, TCPX_CAP_ZLIB);
	b_file(&b, 1, 5000, "gone", 4, 0644);
	b_data_raw(&b, rnd, 1000);
	b_empty(&b, TCPX_FRAME_ABORT);
	b_file(&b, 2, 5000, "gone-early", 10, 0644);
	b_empty(&b, TCPX_FRAME_ABORT);
	b_whole_file(&b, 3, "kept", rnd, 5000, 1000, 1);
	b_empty(&b, TCPX_FRAME_BYE);
	rx_emit("aborted_files.bin", 0, 0, &b);

	b.len = 0;
	b_hello(&b, 1, 1, TCPX_CAP_ZLIB);
	b_file(&b, 1, 13, "tampered", 8, 0644);
	b_data_raw(&b, (const uint8_t *)"hello, world\n", 13);
	digest_of((const uint8_t *)"hello, WORLD\n", 13, dg);
	b_end(&b, dg);
	b_empty(&b, TCPX_FRAME_BYE);
	rx_emit("digest_mismatch.bin", 0, 0, &b);

	b.len = 0;
	b_hello(&b, 1, 1, 0);
	b_file(&b, 1, 100, "partial", 7, 0644);
	b_data_raw(&b, t, 50);
	b_error(&b, TCPX_E_SYSTEM, "read error: input/output error");
	rx_emit("sender_error.bin", 0, 0, &b);

	b.len = 0;                      /* a future peer: range, extension */
	{
		struct tcpx_hello h = { 1, 5, ~UINT64_C(0) };
		size_t n = proto_encode_hello(frame, &h);
		memset(frame + n, 0xAB, TCPX_HELLO_MAX - TCPX_HELLO_LEN);
		be32_store(frame + 4, TCPX_HELLO_MAX);
		put(&b, TCPX_FRAME_HEADER_LEN + TCPX_HELLO_MAX);
	}
	b_whole_file(&b, 1, "x", t, 1, 1, 0);
	b_empty(&b, TCPX_FRAME_BYE);
	rx_emit("hello_extension_bytes.bin", 0, 0, &b);

	/* Violations: each ends the session with a given ERROR. */
	b.len = 0;
	b_hello(&b, 1, 1, 0);
	b.p[TCPX_FRAME_HEADER_LEN + 3] = 'Y';
	rx_emit("bad_magic.bin", 0, 0, &b);

	b.len = 0;
	b_hello(&b, 2, 3, 0);
	rx_emit("version_2_only.bin", 0, 0, &b);

	b.len = 0;
	b_file(&b, 1, 1, "x", 1, 0644);
	rx_emit("file_before_hello.bin", 0, 0, &b);

	b.len = 0;
	b_hello(&b, 1, 1, 0);
	b_whole_file(&b, 2, "x", t, 1, 1, 0);
	rx_emit("file_id_out_of_sequence.bin", 0, 0, &b);

	b.len = 0;
	b_hello(&b, 1, 1, 0);
	b_file(&b, 1, 10, "x", 1, 0644);
	b_data_raw(&b, t, 8);
	b_data_raw(&b, t, 8);
	rx_emit("more_data_than_size.bin", 0, 0, &b);

	b.len = 0;
	b_hello(&b, 1, 1, 0);
	b_file(&b, 1, 10, "x", 1, 0644);
	b_data_raw(&b, t, 8);
	digest_of(t, 8, dg);
	b_end(&b, dg);
	rx_emit("less_data_than_size.bin", 0, 0, &b);

	b.len = 0;
	b_hello(&b, 1, 1, TCPX_CAP_ZLIB);
	b_whole_file(&b, 1, "z", t, 5000, 5000, 6);
	rx_emit("zlib_not_negotiated.bin", RX_NO_CAPS, 0, &b);

	b.len = 0;                      /* a stream that inflates past raw_len */
	{
		uLongf zl = compressBound(200000);
		uint8_t *bomb = malloc(zl);
		uint8_t *zeros = calloc(1, 200000);
		compress2(bomb, &zl, zeros, 200000, 9);
		b_hello(&b, 1, 1, TCPX_CAP_ZLIB);
		b_file(&b, 1, 100, "bomb", 4, 0644);
		b_data_zbytes(&b, 100, bomb, zl);
		rx_emit("zlib_bomb.bin", 0, 0, &b);

		b.len = 0;              /* valid stream, bytes after its end */
		memcpy(bomb + zl, "junk", 4);
		b_hello(&b, 1, 1, TCPX_CAP_ZLIB);
		b_file(&b, 1, 200000, "trail", 5, 0644);
		b_data_zbytes(&b, 200000, bomb, zl + 4);
		rx_emit("zlib_trailing_bytes.bin", 0, 0, &b);

		b.len = 0;              /* corrupt: a flipped bit mid-stream */
		bomb[zl / 2] ^= 0x10;
		b_hello(&b, 1, 1, TCPX_CAP_ZLIB);
		b_file(&b, 1, 200000, "corrupt", 7, 0644);
		b_data_zbytes(&b, 200000, bomb, zl);
		rx_emit("zlib_corrupt.bin", 0, 0, &b);
		free(bomb);
		free(zeros);
	}

	b.len = 0;
	b_hello(&b, 1, 1, 0);
	b_whole_file(&b, 1, "x", t, 3, 3, 0);
	b_empty(&b, TCPX_FRAME_BYE);
	b_whole_file(&b, 2, "after-bye", t, 3, 3, 0);
	rx_emit("frames_after_bye.bin", 0, 0, &b);

	b.len = 0;
	b_hello(&b, 1, 1, 0);
	b_file(&b, 1, 3, "x", 1, 0644);
	{
		static const uint8_t huge_data[] = { 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
		b_raw(&b, huge_data, sizeof(huge_data));
	}
	rx_emit("data_length_ffffffff.bin", 0, 0, &b);

	b.len = 0;
	b_hello(&b, 1, 1, 0);
	b_hello(&b, 1, 1, 0);
	rx_emit("hello_twice.bin", 0, 0, &b);

	b.len = 0;
	b_hello(&b, 1, 1, 0);
	b_file(&b, 1, 3, "x", 1, 0644);
	b_file(&b, 2, 3, "y", 1, 0644);
	rx_emit("file_inside_file.bin", 0, 0, &b);

	b.len = 0;
	b_hello(&b, 1, 1, 0);
	b_file(&b, 1, 3, "x", 1, 0100644);
	rx_emit("file_bad_mode.bin", 0, 0, &b);

	b.len = 0;
	b_hello(&b, 1, 1, 0);
	b_result(&b, 1, 0, NULL, NULL);
	rx_emit("result_from_sender.bin", 0, 0, &b);

	/* Directories (TREE), after the files inside them; last, so the
	 * seeds above keep their bytes. */
	b.len = 0;
	b_hello(&b, 1, 1, TCPX_CAP_ZLIB | TCPX_CAP_TREE);
	b_whole_file(&b, 1, "t/a", t, 3, 3, 0);
	b_dir(&b, 2, "t/sub", 0700);
	b_dir(&b, 3, "..", 0755);
	b_whole_file(&b, 4, "t/b", t, 300, 300, 6);
	b_dir(&b, 5, "t", 0755);
	b_empty(&b, TCPX_FRAME_BYE);
	rx_emit("tree_dirs.bin", 0, 0, &b);

	/* Streams (STREAM): a FILE of unknown size, chunks, STREAM_END. */
	b.len = 0;
	b_hello(&b, 1, 1, TCPX_CAP_STREAM | TCPX_CAP_ZLIB);
	b_file(&b, 1, TCPX_SIZE_UNKNOWN, "dump.tar", 8, 0644);
	b_data(&b, t, 30000, 6);
	b_data_raw(&b, t + 30000, 2000);
	digest_of(t, 32000, dg);
	b_stream_end(&b, 32000, dg);
	b_file(&b, 2, TCPX_SIZE_UNKNOWN, "empty", 5, 0644);
	digest_of(t, 0, dg);
	b_stream_end(&b, 0, dg);
	b_whole_file(&b, 3, "sized", t, 10, 10, 0);
	b_empty(&b, TCPX_FRAME_BYE);
	rx_emit("streams.bin", 0, 0, &b);
	/* the same past --max-size 1000 (refused part way), and the disk
	 * failing now and then */
	rx_emit("streams_max_size_1000.bin", RX_MAXSIZE_1000, 0, &b);
	rx_emit("streams_disk_failures.bin", RX_PARTIAL, 0x40 | 0x15, &b);
	/* and from a receiver that grants nothing: 2^64-1 is a size there */
	rx_emit("streams_no_caps.bin", RX_NO_CAPS, 0, &b);

	b.len = 0;                      /* a wrong final size */
	b_hello(&b, 1, 1, TCPX_CAP_STREAM);
	b_file(&b, 1, TCPX_SIZE_UNKNOWN, "s", 1, 0644);
	b_data_raw(&b, t, 100);
	digest_of(t, 100, dg);
	b_stream_end(&b, 99, dg);
	rx_emit("stream_wrong_size.bin", 0, 0, &b);

	/* Offers: every file offered first (its FILE repeats the id), some
	 * with resume (a RESUME from 1 follows: the fuzzer's answers vary, so
	 * some are refused or skipped and the next frame is then wrong,
	 * which is the point), a name twice, a directory between. */
	b.len = 0;
	b_hello(&b, 1, 1, TCPX_CAP_ZLIB | TCPX_CAP_TREE | TCPX_CAP_OFFER);
	b_offer(&b, 1, 3, "o/a", TCPX_POLICY_REFUSE, 0, NULL);
	b_offer(&b, 2, 300, "o/b", TCPX_POLICY_KEEP_BOTH, TCPX_OFFER_RESUME, NULL);
	b_offer(&b, 3, 5, "o/a", TCPX_POLICY_OVERWRITE, 0, NULL);
	b_offer(&b, 4, 7, "../x", TCPX_POLICY_REFUSE, 0, NULL);
	digest_of(t, 3, dg);
	b_offer(&b, 5, 3, "o/c", TCPX_POLICY_REFUSE, TCPX_OFFER_CHECKSUM, dg);
	b_whole_file(&b, 1, "o/a", t, 3, 3, 0);
	b_resume(&b, 2, 300, "o/b", 1);
	b_data_raw(&b, t + 1, 299);
	digest_of(t, 300, dg);
	b_end(&b, dg);
	b_dir(&b, 6, "o", 0755);
	b_empty(&b, TCPX_FRAME_BYE);
	rx_emit("offers.bin", 0, 0, &b);
	rx_emit("offers_bytewise.bin", RX_SPLIT(FZ_SPLIT_BYTE) | RX_PARTIAL, 0x40, &b);
	b.len = 0;                      /* a FILE no ANSWER asked for */
	b_hello(&b, 1, 1, TCPX_CAP_OFFER);
	b_whole_file(&b, 1, "never-offered", t, 3, 3, 0);
	rx_emit("offers_file_not_offered.bin", 0, 0, &b);
	b.len = 0;                      /* more offers than the window */
	b_hello(&b, 1, 1, TCPX_CAP_OFFER);
	for (uint32_t i = 1; i <= TCPX_OFFER_WINDOW + 2; i++) {
		char name[32];
		snprintf(name, sizeof(name), "w/%u", i);
		b_offer(&b, i, i, name, TCPX_POLICY_REFUSE, TCPX_OFFER_RESUME, NULL);
	}
	rx_emit("offers_window.bin", 0, 0, &b);
	/* Offers and streams together: a stream offered (asking to resume,
	 * which the receiver answers SEND), sent as a FILE of unknown size
	 * and ended by STREAM_END, then a sized file offered. */
	b.len = 0;
	b_hello(&b, 1, 1, TCPX_CAP_OFFER | TCPX_CAP_STREAM | TCPX_CAP_ZLIB);
	b_offer(&b, 1, TCPX_SIZE_UNKNOWN, "s", TCPX_POLICY_REFUSE, TCPX_OFFER_RESUME, NULL);
	b_offer(&b, 2, 10, "t", TCPX_POLICY_KEEP_BOTH, 0, NULL);
	b_file(&b, 1, TCPX_SIZE_UNKNOWN, "s", 1, 0644);
	b_data(&b, t, 3000, 6);
	digest_of(t, 3000, dg);
	b_stream_end(&b, 3000, dg);
	b_whole_file(&b, 2, "t", t, 10, 10, 0);
	b_empty(&b, TCPX_FRAME_BYE);
	rx_emit("offered_streams.bin", 0, 0, &b);
	rx_emit("offered_streams_max_size_1000.bin", RX_MAXSIZE_1000, 0, &b);

	free(t);
	free(z);
	free(rnd);
	fz_buf_free(&b);
}

/* ---- fuzz_sender: header + the receiver's replies to a real sender ---- */

struct pair_opts {
	int fail_file;          /* the receiver's disk fails this file id at
				   REV_FILE (0: none) */
	int tamper_digest;      /* flip a bit in the digest of RESULT 1 */
	int swap_results;       /* exchange RESULT 1 and 2 */
	int drop_result;        /* leave RESULT n out */
	int error_after;        /* replace everything after RESULT n by ERROR */
};

/* Moves every byte the sender queued into the receiver and lets the
 * receiver act on it; its replies go to *rx. */
static void pump(struct tcpx_sender *s, struct tcpx_receiver *r,
		 const struct pair_opts *o, struct fz_buf *rx)
{
	for (;;) {
		const uint8_t *p;
		size_t len, cap;
		struct receiver_event ev;

		for (;;) {
			receiver_next(r, &ev);
			if (ev.type == REV_NONE)
				break;
			if (ev.type == REV_FILE && (int)ev.meta.id == o->fail_file)
				receiver_file_fail(r, TCPX_E_NO_SPACE,
						   "No space left on device");
			if (ev.type == REV_END)
				receiver_file_done(r, ev.code, NULL);
		}
		receiver_pending(r, &p, &len);
		fz_buf_add(rx, p, len);
		receiver_sent(r, len);
		sender_pending(s, &p, &len);
		if (!len || receiver_finished(r))
			return;
		uint8_t *space = frame_reader_space(receiver_reader(r), &cap);
		size_t n = len < cap ? len : cap;
		memcpy(space, p, n);
		frame_reader_commit(receiver_reader(r), n);
		sender_sent(s, n);
	}
}

/* Feeds rx[*fed..] to the sender and collects its events. */
static void feed_sender(struct tcpx_sender *s, const struct fz_buf *rx,
			size_t *fed, unsigned *results, unsigned *verified,
			int *done)
{
	struct sender_event ev;
	while (*fed < rx->len) {
		size_t cap;
		uint8_t *space = frame_reader_space(sender_reader(s), &cap);
		size_t n = rx->len - *fed < cap ? rx->len - *fed : cap;
		memcpy(space, rx->p + *fed, n);
		frame_reader_commit(sender_reader(s), n);
		*fed += n;
		for (;;) {
			sender_next(s, &ev);
			if (ev.type == SEV_NONE)
				break;
			if (ev.type == SEV_RESULT) {
				(*results)++;
				*verified += ev.code == 0;
			}
			if (ev.type == SEV_BYE)
				*done = 1;
		}
	}
}

/* Finds frame n (0-based) of a stream; its offset and length. */
static int nth_frame(const struct fz_buf *b, unsigned n, size_t *off, size_t *len)
{
	size_t pos = 0;
	for (unsigned i = 0; pos < b->len; i++) {
		struct tcpx_frame f;
		size_t c;
		if (frame_decode(b->p + pos, b->len - pos, &proto_frame_limits,
				 &f, &c, NULL) != 1)
			return -1;
		if (i == n) {
			*off = pos;
			*len = c;
			return 0;
		}
		pos += c;
	}
	return -1;
}

static void pair(const char *name, const uint8_t hdr[FZ_TX_HDR],
		 const struct pair_opts *o)
{
	struct fz_plan plan;
	struct receiver_config cfg = { .caps = TCPX_CAPS_V1 };
	struct fz_buf rx = { 0 }, body = { 0 };
	size_t fed = 0;
	unsigned results = 0, verified = 0;
	int done = 0;

	fz_plan_make(hdr, &plan);
	struct tcpx_sender *s = sender_new(plan.streams ? TCPX_CAP_STREAM : 0,
					   plan.level);
	struct tcpx_receiver *r = receiver_new(&cfg);
	FZ_CHECK(s && r);

	pump(s, r, o, &rx);             /* HELLO, HELLO */
	feed_sender(s, &rx, &fed, &results, &verified, &done);
	FZ_CHECK(sender_state(s) == SS_READY);
	size_t hello_len = rx.len;

	/* Eagerly, as fuzz_sender does: every file and BYE before reading. */
	for (unsigned i = 0; i < plan.nfiles; i++) {
		const struct fz_file *f = &plan.f[i];
		/* the odd-numbered files as streams, as fuzz_sender does */
		int stream = plan.streams && (i & 1) && sender_has_stream(s);
		struct tcpx_file_meta m = { .size = stream ? TCPX_SIZE_UNKNOWN :
						    f->size, .mode = 0644,
					    .mtime_sec = 1700000000 + (int64_t)i,
					    .mtime_nsec = i * 1000u,
					    .name = (const uint8_t *)f->name,
					    .name_len = f->name_len };
		FZ_CHECK(sender_begin_file(s, &m, NULL) == 0);
		uint64_t sent = 0;
		for (;;) {
			if (f->abort_at >= 0 && sent >= (uint64_t)f->abort_at) {
				FZ_CHECK(sender_abort_file(s) == 0);
				break;
			}
			if (sent == f->size) {
				FZ_CHECK(sender_end_file(s) == 0);
				break;
			}
			size_t cap, n = f->chunk;
			uint8_t *buf = sender_chunk_buffer(s, &cap);
			FZ_CHECK(buf != NULL);
			if (n > f->size - sent)
				n = (size_t)(f->size - sent);
			fz_fill(f, sent, buf, n);
			FZ_CHECK(sender_commit_chunk(s, n) == 0);
			sent += n;
			pump(s, r, o, &rx);
		}
		pump(s, r, o, &rx);
	}
	FZ_CHECK(sender_bye(s) == 0);
	pump(s, r, o, &rx);
	FZ_CHECK(receiver_finished(r));

	/* Bend the replies if asked (RESULT n is frame n: HELLO is 0). */
	size_t off, len, off2, len2;
	if (o->tamper_digest && nth_frame(&rx, 1, &off, &len) == 0)
		rx.p[off + TCPX_FRAME_HEADER_LEN + 8] ^= 1;
	if (o->swap_results && nth_frame(&rx, 1, &off, &len) == 0 &&
	    nth_frame(&rx, 2, &off2, &len2) == 0) {
		struct fz_buf t = { 0 };
		fz_buf_add(&t, rx.p, off);
		fz_buf_add(&t, rx.p + off2, len2);
		fz_buf_add(&t, rx.p + off, len);
		fz_buf_add(&t, rx.p + off2 + len2, rx.len - off2 - len2);
		fz_buf_free(&rx);
		rx = t;
	}
	if (o->drop_result && nth_frame(&rx, (unsigned)o->drop_result, &off,
					&len) == 0) {
		memmove(rx.p + off, rx.p + off + len, rx.len - off - len);
		rx.len -= len;
	}
	if (o->error_after && nth_frame(&rx, (unsigned)o->error_after + 1,
					&off, &len) == 0) {
		rx.len = off;
		b_error(&rx, TCPX_E_SHUTDOWN, "receiver shutting down");
	}

	feed_sender(s, &rx, &fed, &results, &verified, &done);
	fprintf(stderr, "  sender/%s: %u files, %u results, %u verified%s\n",
		name, plan.nfiles, results, verified, done ? ", BYE" : "");

	/* With the handshake injected, the seed starts after HELLO. */
	size_t skip = plan.inject_hello ? hello_len : 0;
	fz_buf_add(&body, rx.p + skip, rx.len - skip);
	emit("sender", name, hdr, FZ_TX_HDR, &body);
	sender_free(s);
	receiver_free(r);
	fz_buf_free(&rx);
	fz_buf_free(&body);
}

/* The first plan seed (bytes 2..3) whose plan has the wanted features. */
static void find_plan(uint8_t hdr[FZ_TX_HDR], int want_bad_name,
		      int want_abort, int want_big)
{
	for (unsigned seed = 0; seed < 65536; seed++) {
		struct fz_plan p;
		int bad = 0, ab = 0, big = 0;
		hdr[2] = (uint8_t)(seed >> 8);
		hdr[3] = (uint8_t)seed;
		fz_plan_make(hdr, &p);
		for (unsigned i = 0; i < p.nfiles; i++) {
			bad |= p.f[i].name[0] == '.';
			ab |= p.f[i].abort_at >= 0;
			big |= p.f[i].size > 8000 && p.f[i].chunk < 2048;
		}
		if (bad >= want_bad_name && ab >= want_abort && big >= want_big &&
		    (!p.nfiles || p.f[0].name[0] != '.'))
			return;
	}
	FZ_CHECK(0);
}

#define TX_INJECT 0x01u
#define TX_EAGER 0x02u
#define TX_SPLIT(m) ((uint8_t)((m) << 2))
#define TX_LEVEL(l) ((uint8_t)((l) << 4))
#define TX_GRANT 0x10u
#define TX_STREAMS 0x20u

static void tx(const char *name, uint8_t b0, uint8_t b1, int bad, int ab,
	       int big, const struct pair_opts *o)
{
	static const struct pair_opts none;
	uint8_t hdr[FZ_TX_HDR] = { b0, b1, 0, 0, 0xc0, 0xff, 0xee,
				   (uint8_t)nfiles_written };
	find_plan(hdr, bad, ab, big);
	pair(name, hdr, o ? o : &none);
}

static void gen_sender(void)
{
	struct pair_opts o;

	tx("one_file_handshake_done.bin", TX_INJECT | TX_EAGER, 1, 0, 0, 0, NULL);
	tx("one_file_zlib.bin", TX_EAGER | TX_LEVEL(6), TX_GRANT | 1, 0, 0, 0,
	   NULL);
	tx("five_files_zlib_granted.bin", TX_INJECT | TX_EAGER | TX_LEVEL(1),
	   TX_GRANT | 5, 0, 0, 0, NULL);
	tx("eight_files_bytewise.bin", TX_EAGER | TX_SPLIT(FZ_SPLIT_BYTE), 8,
	   0, 0, 0, NULL);
	tx("refused_and_aborted.bin", TX_INJECT | TX_EAGER | TX_LEVEL(9),
	   TX_GRANT | 12, 1, 1, 0, NULL);
	/* Not eager: RESULTs can overtake the files (a refusal mid-file). */
	tx("interleaved_refusal.bin", TX_INJECT | TX_SPLIT(FZ_SPLIT_SMALL), 6,
	   1, 0, 1, NULL);
	tx("no_files.bin", TX_EAGER, 0, 0, 0, 0, NULL);
	tx("fifteen_files.bin", TX_INJECT | TX_EAGER | TX_LEVEL(2), TX_GRANT | 15,
	   1, 1, 1, NULL);

	memset(&o, 0, sizeof(o));
	o.fail_file = 2;
	tx("disk_full_on_file_2.bin", TX_INJECT | TX_EAGER, 4, 0, 0, 0, &o);
	memset(&o, 0, sizeof(o));
	o.tamper_digest = 1;
	tx("result_digest_differs.bin", TX_INJECT | TX_EAGER, 3, 0, 0, 0, &o);
	memset(&o, 0, sizeof(o));
	o.swap_results = 1;
	tx("results_out_of_order.bin", TX_INJECT | TX_EAGER, 3, 0, 0, 0, &o);
	memset(&o, 0, sizeof(o));
	o.drop_result = 3;
	tx("bye_before_all_results.bin", TX_INJECT | TX_EAGER, 3, 0, 0, 0, &o);
	memset(&o, 0, sizeof(o));
	o.error_after = 1;
	tx("error_after_result_1.bin", TX_EAGER, 3, 0, 0, 0, &o);

	/* Hand-made replies. */
	struct fz_buf b = { 0 };
	uint8_t hdr[FZ_TX_HDR] = { TX_EAGER, 2, 0, 1, 0, 0, 0, 9 };
	b_error(&b, TCPX_E_BUSY, "receiver busy (64 clients)");
	emit("sender", "busy_before_hello.bin", hdr, sizeof(hdr), &b);
	b.len = 0;
	b_hello(&b, 1, 1, UINT64_MAX);
	emit("sender", "hello_unasked_caps.bin", hdr, sizeof(hdr), &b);
	b.len = 0;
	b_hello(&b, 2, 2, 0);
	emit("sender", "hello_version_2.bin", hdr, sizeof(hdr), &b);
	b.len = 0;
	hdr[0] |= TX_INJECT;
	b_hello(&b, 1, 1, 0);
	emit("sender", "hello_twice.bin", hdr, sizeof(hdr), &b);
	b.len = 0;
	{
		/* Offers (byte 1: bit 5 OFFER, bit 6 RESUME; 3 files): SEND,
		 * SAME_TIME, RESUME from 1; the two begun get RESULTs. */
		uint8_t ohdr[FZ_TX_HDR] = { TX_EAGER | TX_INJECT, 0x60 | 3, 0, 1,
					    0, 0, 0, 9 };
		static const uint8_t dg[DIGEST_LEN] = { 7 };
		struct tcpx_answer a[3] = {
			{ .id = 1, .disposition = TCPX_ANSWER_SEND },
			{ .id = 2, .disposition = TCPX_ANSWER_SAME_TIME },
			{ .id = 3, .disposition = TCPX_ANSWER_RESUME, .offset = 1,
			  .digest = dg },
		};
		for (int i = 0; i < 3; i++)
			put(&b, proto_encode_answer(frame, &a[i]));
		b_result(&b, 1, TCPX_E_IO, NULL, NULL);
		b_result(&b, 3, TCPX_E_EXISTS, NULL, "exists");
		b_empty(&b, TCPX_FRAME_BYE);
		emit("sender", "offers_answered.bin", ohdr, sizeof(ohdr), &b);
		b.len = 0;
		a[0].disposition = TCPX_ANSWER_REFUSED;
		a[0].code = TCPX_E_DUPLICATE;
		put(&b, proto_encode_answer(frame, &a[0]));
		put(&b, proto_encode_answer(frame, &a[0]));     /* out of order */
		emit("sender", "offers_answer_twice.bin", ohdr, sizeof(ohdr), &b);
		b.len = 0;
	}
	b_result(&b, 1, TCPX_E_IO, NULL, NULL);
	{
		char msg[TCPX_MSG_MAX + 1];
		memset(msg, 'm', TCPX_MSG_MAX);
		msg[TCPX_MSG_MAX] = 0;
		b_result(&b, 2, TCPX_E_DENIED, NULL, msg);
	}
	b_empty(&b, TCPX_FRAME_BYE);
	emit("sender", "results_with_long_message.bin", hdr, sizeof(hdr), &b);
	fz_buf_free(&b);
}

/* ---- fuzz_inflate: header + a zlib stream ---- */

static void inf_emit(const char *name, uint8_t mode, uint32_t raw_len,
		     const uint8_t *z, size_t zlen)
{
	uint8_t hdr[FZ_INF_HDR] = { mode, (uint8_t)(raw_len >> 16),
				    (uint8_t)(raw_len >> 8), (uint8_t)raw_len };
	struct fz_buf b = { 0 };
	fz_buf_add(&b, z, zlen);
	emit("inflate", name, hdr, sizeof(hdr), &b);
	fz_buf_free(&b);
}

static void inf_zlib(const char *name, const uint8_t *p, size_t n, int level,
		     uint32_t raw_len, size_t cut, const char *append)
{
	uLongf zl = compressBound(n) + 16;
	uint8_t *z = malloc(zl);
	FZ_CHECK(compress2(z, &zl, p, n, level) == Z_OK);
	zl -= cut;
	if (append) {
		memcpy(z + zl, append, strlen(append));
		zl += strlen(append);
	}
	inf_emit(name, 0, raw_len, z, zl);
	free(z);
}

static void gen_inflate(void)
{
	uint8_t *t = text(TCPX_CHUNK_MAX);
	uint8_t *zeros = calloc(1, TCPX_CHUNK_MAX);
	uint8_t *rnd = noise(3000, 7);

	inf_zlib("text_5000.bin", t, 5000, 6, 5000, 0, NULL);
	inf_zlib("zeros_full_chunk.bin", zeros, TCPX_CHUNK_MAX, 9, TCPX_CHUNK_MAX,
		 0, NULL);
	inf_zlib("stored_random_300.bin", rnd, 300, 0, 300, 0, NULL);
	inf_zlib("fixed_huffman_short.bin", (const uint8_t *)"abcabcabc", 9, 1,
		 9, 0, NULL);
	inf_zlib("bomb_declared_1000.bin", zeros, TCPX_CHUNK_MAX, 9, 1000, 0, NULL);
	inf_zlib("one_byte_short.bin", t, 4000, 6, 3999, 0, NULL);
	inf_zlib("one_byte_long.bin", t, 4000, 6, 4001, 0, NULL);
	inf_zlib("truncated.bin", t, 4000, 6, 4000, 5, NULL);
	inf_zlib("trailing_bytes.bin", t, 4000, 6, 4000, 0, "tail");
	inf_zlib("bad_adler.bin", t, 4000, 6, 4000, 1, "X");
	{
		/* What the sender makes: libdeflate at level 1, and the
		 * round-trip mode's inputs. */
		struct chunk_compressor *c = chunk_compressor_new(1);
		uint8_t *z = malloc(TCPX_CHUNK_MAX);
		size_t zl = chunk_compress(c, t, 20000, z, TCPX_CHUNK_MAX);
		FZ_CHECK(zl > 0);
		inf_emit("libdeflate_level1.bin", 0, 20000, z, zl);
		chunk_compressor_free(c);
		free(z);
	}
	inf_emit("roundtrip_text_level1.bin", 1, TCPX_CHUNK_MAX, t, 3000);
	inf_emit("roundtrip_zeros_level9.bin", 1 | (8 << 1), TCPX_CHUNK_MAX,
		 zeros, 10000);
	inf_emit("roundtrip_random_tight_cap.bin", 1 | (4 << 1), 200, rnd, 300);
	inf_emit("roundtrip_text_tiny_cap.bin", 1 | (5 << 1), 20, t, 600);
	free(t);
	free(zeros);
	free(rnd);
}

/* Seeds of the STREAM capability (fuzz_frame, fuzz_sender), made last so
 * that the seeds before them keep their bytes. */
static void f_stream_end(struct fz_buf *b)
{
	uint8_t dg[DIGEST_LEN];
	digest_of((const uint8_t *)"hello", 5, dg);
	b_stream_end(b, 5, dg);
}

static void gen_streams(void)
{
	struct fz_buf b = { 0 };
	uint8_t dg[DIGEST_LEN];

	one_frame("stream_end.bin", f_stream_end);
	/* fuzz_sender: every other file a stream, granted or not */
	tx("streams_granted.bin", TX_INJECT | TX_EAGER, TX_GRANT | TX_STREAMS | 4,
	   0, 0, 0, NULL);
	tx("streams_zlib_interleaved.bin", TX_INJECT | TX_LEVEL(6) |
	   TX_SPLIT(FZ_SPLIT_SMALL), TX_GRANT | TX_STREAMS | 6, 0, 1, 1, NULL);
	tx("streams_not_granted.bin", TX_INJECT | TX_EAGER, TX_STREAMS | 3,
	   0, 0, 0, NULL);
	b_hello(&b, 1, 1, TCPX_CAP_STREAM);
	b_file(&b, 1, TCPX_SIZE_UNKNOWN, "s.tar", 5, 0644);
	b_data_raw(&b, (const uint8_t *)"hello", 5);
	digest_of((const uint8_t *)"hello", 5, dg);
	b_stream_end(&b, 5, dg);
	b_empty(&b, TCPX_FRAME_BYE);
	emit("frame", "session_stream.bin", NULL, 0, &b);
	fz_buf_free(&b);
}

/* fuzz_inflate's zstd seeds (byte 0 bit 7), made last as well. */
static void gen_inflate_zstd(void)
{
	static const uint8_t man[24] = {       /* tcpxfer(5) EXAMPLE */
		0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x1c, 0x7d, 0x00,
		0x00, 0x48, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2c,
		0x20, 0x21, 0x0a, 0x01, 0x00, 0x4a, 0x8a, 0x11,
	};
	uint8_t *t = text(TCPX_CHUNK_MAX);
	uint8_t *zeros = calloc(1, TCPX_CHUNK_MAX);
	uint8_t *z = malloc(TCPX_CHUNK_MAX + 8);
	struct chunk_compressor *c = chunk_compressor_new_enc(TCPX_ENCODING_ZSTD, 3);
	FZ_CHECK(t && zeros && z && c);

	inf_emit("zstd_man_example.bin", 0x80, 28, man, sizeof(man));
	inf_emit("zstd_man_example_declared_27.bin", 0x80, 27, man, sizeof(man));
	size_t zl = chunk_compress(c, t, 5000, z, TCPX_CHUNK_MAX);
	FZ_CHECK(zl > 0);
	inf_emit("zstd_text_5000.bin", 0x80, 5000, z, zl);
	memcpy(z + zl, "tail", 4);
	inf_emit("zstd_trailing_bytes.bin", 0x80, 5000, z, zl + 4);
	inf_emit("zstd_truncated.bin", 0x80, 5000, z, zl - 3);
	zl = chunk_compress(c, zeros, TCPX_CHUNK_MAX, z, TCPX_CHUNK_MAX);
	FZ_CHECK(zl > 0);
	inf_emit("zstd_zeros_declared_1000.bin", 0x80, 1000, z, zl);
	inf_emit("zstd_roundtrip_text_level3.bin", 0x80 | 1 | (2 << 1),
		 TCPX_CHUNK_MAX, t, 3000);
	inf_emit("zstd_roundtrip_zeros_level19.bin", 0x80 | 1 | (18 << 1),
		 TCPX_CHUNK_MAX, zeros, 10000);
	inf_emit("zstd_roundtrip_text_tiny_cap.bin", 0x80 | 1, 20, t, 600);
	chunk_compressor_free(c);
	free(t);
	free(zeros);
	free(z);
}

int main(int argc, char **argv)
{
	root = argc > 1 ? argv[1] : "tests/fuzz/corpus";
	if (digest_global_init() < 0) {
		fprintf(stderr, "gen_corpus: libsodium init failed\n");
		return 1;
	}
	fz_tables_init();
	mkdir_p(root);
	gen_frame();
	gen_receiver();
	gen_sender();
	gen_inflate();
	gen_streams();
	gen_inflate_zstd();
	printf("gen_corpus: %u files, %zu bytes in %s\n", nfiles_written,
	       bytes_written, root);
	return 0;
}
