/*
 * testutil: helpers shared by the Criterion unit tests of the pure modules.
 *
 * Frames are built here by hand, byte by byte from man/tcpxfer.5, never with
 * frame.c or proto.c: a test that encoded its input with the code under test
 * could not catch a layout mistake made on both sides.  Also here: hex, a
 * growable byte buffer, deterministic content patterns, the b2sum digests
 * the tests compare with, and an in-memory session that pumps a sender and a
 * receiver against each other the way the loops (send_loop.c, serve_loop.c) do over a socket.
 *
 * Everything is static inline so each test file takes only what it uses.
 */
#ifndef TCPX_TESTUTIL_H
#define TCPX_TESTUTIL_H

#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "chunk.h"
#include "digest.h"
#include "error.h"
#include "frame.h"
#include "proto.h"
#include "receiver.h"
#include "sender.h"

/* ---- known digests (computed with b2sum(1)) --------------------------- */

#define B2_EMPTY "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419" \
		 "d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce"
#define B2_ABC	 "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1" \
		 "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
#define B2_HI	 "7ea59e7a000ec003846b6607dfd5f9217b681dc1a81b0789b464c3995105d930" \
		 "83f7f0a86fca01a1bed27e9f9303ae58d01746e3b20443480bea56198e65bfc5"
/* 1 MiB where byte i is (i * 31 + 7) & 0xff; see tu_mib_pattern(). */
#define B2_MIB_PATTERN \
		 "285c0b8fcbf598be3409fe78df91c2824dd9a297e00a24e9bc62ee0f93a85e4a" \
		 "d2cfc671f324db6b15d4b033149979417aa0954b4b6dd0c1bfb4a88f842bd972"
/* 1000000 zero bytes */
#define B2_MILLION_ZEROS \
		 "9ef8b51be521c6e33abb22d6a69363902b6d7eb67ca1364ebc87a64d5a36ec5e" \
		 "749e5c9e7029a85b0008e46cff24281e87500886818dbe79dc8e094f119bbeb8"

static inline uint8_t tu_mib_pattern(size_t i)
{
	return (uint8_t)((i * 31u + 7u) & 0xffu);
}

/* ---- hex --------------------------------------------------------------- */

static inline int tu_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes hex digits (whitespace ignored, as in the man page's dumps) into
 * out; returns the number of bytes.  A bad digit or overflow fails the test. */
static inline size_t tu_hex_decode(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;
	for (const char *p = hex; *p; p++) {
		if (*p == ' ' || *p == '\n' || *p == '\t')
			continue;
		int v = tu_hexval((unsigned char)*p);
		cr_assert(v >= 0, "bad hex digit '%c' in test data", *p);
		if (hi < 0) {
			hi = v;
			continue;
		}
		cr_assert(n < cap, "hex test data longer than its buffer");
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	cr_assert(hi < 0, "odd number of hex digits in test data");
	return n;
}

/* out gets 2 * n lower-case digits and a NUL. */
static inline void tu_hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ---- a growable byte buffer ------------------------------------------- */

struct tu_buf {
	uint8_t *p;
	size_t len, cap;
};

static inline void tu_buf_reserve(struct tu_buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more)
		cap *= 2;
	b->p = realloc(b->p, cap);
	cr_assert(b->p != NULL, "out of memory in a test");
	b->cap = cap;
}

static inline void tu_buf_put(struct tu_buf *b, const void *p, size_t n)
{
	tu_buf_reserve(b, n);
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static inline void tu_buf_u8(struct tu_buf *b, uint8_t v)
{
	tu_buf_put(b, &v, 1);
}

static inline void tu_buf_be16(struct tu_buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	tu_buf_put(b, x, 2);
}

static inline void tu_buf_be32(struct tu_buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 8), (uint8_t)v };
	tu_buf_put(b, x, 4);
}

static inline void tu_buf_be64(struct tu_buf *b, uint64_t v)
{
	tu_buf_be32(b, (uint32_t)(v >> 32));
	tu_buf_be32(b, (uint32_t)v);
}

static inline void tu_buf_fill(struct tu_buf *b, uint8_t byte, size_t n)
{
	tu_buf_reserve(b, n);
	memset(b->p + b->len, byte, n);
	b->len += n;
}

static inline void tu_buf_free(struct tu_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ---- frames by hand (man/tcpxfer.5, FRAMES and MESSAGES) -------------- */

static inline void tu_put_header(struct tu_buf *b, uint8_t type, uint8_t flags,
				 uint16_t reserved, uint32_t length)
{
	tu_buf_u8(b, type);
	tu_buf_u8(b, flags);
	tu_buf_be16(b, reserved);
	tu_buf_be32(b, length);
}

static inline void tu_put_frame(struct tu_buf *b, uint8_t type,
				const void *payload, size_t len)
{
	tu_put_header(b, type, 0, 0, (uint32_t)len);
	tu_buf_put(b, payload, len);
}

/* HELLO with ext zero bytes of extension after the 16 fixed ones. */
static inline void tu_put_hello_ext(struct tu_buf *b, const char magic[4],
				    uint16_t vmin, uint16_t vmax, uint64_t caps,
				    size_t ext)
{
	tu_put_header(b, 1, 0, 0, (uint32_t)(16 + ext));
	tu_buf_put(b, magic, 4);
	tu_buf_be16(b, vmin);
	tu_buf_be16(b, vmax);
	tu_buf_be64(b, caps);
	tu_buf_fill(b, 0, ext);
}

static inline void tu_put_hello(struct tu_buf *b, uint16_t vmin, uint16_t vmax,
				uint64_t caps)
{
	tu_put_hello_ext(b, "TCPX", vmin, vmax, caps, 0);
}

/* FILE whose frame length is 30 + name_len + extra (extra may be negative
 * to cut the payload short, for malformed cases). */
static inline void tu_put_file_raw(struct tu_buf *b, uint32_t id, uint64_t size,
				   uint32_t mode, int64_t mtime_sec,
				   uint32_t nsec, uint16_t name_len,
				   const void *name, size_t name_bytes)
{
	tu_put_header(b, 2, 0, 0, (uint32_t)(30 + name_bytes));
	tu_buf_be32(b, id);
	tu_buf_be64(b, size);
	tu_buf_be32(b, mode);
	tu_buf_be64(b, (uint64_t)mtime_sec);
	tu_buf_be32(b, nsec);
	tu_buf_be16(b, name_len);
	tu_buf_put(b, name, name_bytes);
}

/* DIR (type 9, TREE): FILE's layout without the size. */
static inline void tu_put_dir(struct tu_buf *b, uint32_t id, uint32_t mode,
			      int64_t mtime_sec, uint32_t nsec, const char *name)
{
	size_t n = strlen(name);
	tu_put_header(b, 9, 0, 0, (uint32_t)(22 + n));
	tu_buf_be32(b, id);
	tu_buf_be32(b, mode);
	tu_buf_be64(b, (uint64_t)mtime_sec);
	tu_buf_be32(b, nsec);
	tu_buf_be16(b, (uint16_t)n);
	tu_buf_put(b, name, n);
}

static inline void tu_put_file(struct tu_buf *b, uint32_t id, uint64_t size,
			       const char *name)
{
	size_t n = strlen(name);
	tu_put_file_raw(b, id, size, 0644, 1700000000, 0, (uint16_t)n, name, n);
}

static inline void tu_put_data(struct tu_buf *b, uint8_t encoding,
			       uint32_t raw_len, const void *data, size_t len)
{
	tu_put_header(b, 3, 0, 0, (uint32_t)(8 + len));
	tu_buf_u8(b, encoding);
	tu_buf_u8(b, 0);
	tu_buf_be16(b, 0);
	tu_buf_be32(b, raw_len);
	tu_buf_put(b, data, len);
}

static inline void tu_put_data_raw(struct tu_buf *b, const void *data, size_t len)
{
	tu_put_data(b, 0, (uint32_t)len, data, len);
}

static inline void tu_put_end(struct tu_buf *b, const uint8_t digest[64])
{
	tu_put_frame(b, 4, digest, 64);
}

/* STREAM_END (type 13, STREAM): the final size, then the digest. */
static inline void tu_put_stream_end(struct tu_buf *b, uint64_t size,
				     const uint8_t digest[64])
{
	tu_put_header(b, 13, 0, 0, 72);
	tu_buf_be64(b, size);
	tu_buf_put(b, digest, 64);
}

static inline void tu_put_empty(struct tu_buf *b, uint8_t type)
{
	tu_put_header(b, type, 0, 0, 0);
}

static inline void tu_put_result(struct tu_buf *b, uint32_t id, uint16_t code,
				 const uint8_t *digest, const char *msg)
{
	size_t ml = msg ? strlen(msg) : 0;
	static const uint8_t zeros[64];
	tu_put_header(b, 6, 0, 0, (uint32_t)(72 + ml));
	tu_buf_be32(b, id);
	tu_buf_be16(b, code);
	tu_buf_be16(b, (uint16_t)ml);
	tu_buf_put(b, digest ? digest : zeros, 64);
	tu_buf_put(b, msg, ml);
}

static inline void tu_put_error(struct tu_buf *b, uint16_t code, const char *msg)
{
	size_t ml = msg ? strlen(msg) : 0;
	tu_put_header(b, 8, 0, 0, (uint32_t)(4 + ml));
	tu_buf_be16(b, code);
	tu_buf_be16(b, (uint16_t)ml);
	tu_buf_put(b, msg, ml);
}

/* ---- frames parsed by hand out of a byte stream ----------------------- */

struct tu_frame {
	uint8_t type, flags;
	uint16_t reserved;
	uint32_t length;
	const uint8_t *payload;
};

/* Splits p[0..len) into frames; the stream must end on a frame boundary.
 * Returns the number of frames (at most max are stored). */
static inline size_t tu_parse_frames(const uint8_t *p, size_t len,
				     struct tu_frame *out, size_t max)
{
	size_t n = 0, off = 0;
	while (off < len) {
		cr_assert(len - off >= 8, "stream ends inside a frame header");
		uint32_t l = be32_load(p + off + 4);
		cr_assert(len - off - 8 >= l, "stream ends inside a payload");
		if (n < max) {
			out[n].type = p[off];
			out[n].flags = p[off + 1];
			out[n].reserved = be16_load(p + off + 2);
			out[n].length = l;
			out[n].payload = p + off + 8;
		}
		n++;
		off += 8 + (size_t)l;
	}
	return n;
}

/* ---- content ----------------------------------------------------------- */

static inline uint64_t tu_mix(uint64_t x)
{
	/* splitmix64 finaliser: a byte per offset, no state, any order */
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

/* Incompressible bytes: a hash of (seed, offset). */
static inline uint8_t tu_random_byte(uint32_t seed, uint64_t off)
{
	return (uint8_t)(tu_mix(((uint64_t)seed << 40) ^ (off >> 3)) >> (8 * (off & 7)));
}

/* Compressible bytes: words from a small alphabet that still vary. */
static inline uint8_t tu_text_byte(uint32_t seed, uint64_t off)
{
	static const char text[] = "the quick brown fox jumps over the lazy dog; ";
	uint64_t line = off / 64;
	if (off % 64 == 63)
		return '\n';
	return (uint8_t)text[(off + seed + line % 7) % (sizeof(text) - 1)];
}

static inline void tu_fill_random(uint32_t seed, uint64_t off, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = tu_random_byte(seed, off + i);
}

static inline void tu_fill_text(uint32_t seed, uint64_t off, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = tu_text_byte(seed, off + i);
}

static inline void tu_digest_of(const uint8_t *p, size_t n, uint8_t out[64])
{
	struct digest d;
	digest_init(&d);
	digest_update(&d, p, n);
	digest_final(&d, out);
}

/* ---- frame_reader feeding ---------------------------------------------- */

/* Commits all of p[0..n) into fr in pieces of at most step bytes (0 = as
 * much as fits); fails the test if the reader has no room. */
static inline void tu_reader_feed(struct frame_reader *fr, const uint8_t *p,
				  size_t n, size_t step)
{
	while (n) {
		size_t cap;
		uint8_t *dst = frame_reader_space(fr, &cap);
		cr_assert(cap > 0, "frame_reader has no room for %zu bytes", n);
		size_t k = n < cap ? n : cap;
		if (step && k > step)
			k = step;
		memcpy(dst, p, k);
		frame_reader_commit(fr, k);
		p += k;
		n -= k;
	}
}

/* Copies what fits of p[0..n) into the reader; returns how much. */
static inline size_t tu_reader_take(const uint8_t *p, size_t n,
				    struct frame_reader *fr)
{
	size_t cap;
	uint8_t *dst = frame_reader_space(fr, &cap);
	size_t k = n < cap ? n : cap;
	if (k) {
		memcpy(dst, p, k);
		frame_reader_commit(fr, k);
	}
	return k;
}

/* ---- an in-memory session: sender and receiver pumped against each
 * other the way the loops drive them over a socket ---------------------- */

enum tu_content { TU_TEXT, TU_RANDOM };

struct tu_file {
	char name[32];
	uint64_t size;
	uint32_t seed;
	enum tu_content kind;
	/* receiver policy: what the "disk" does */
	int fail_at_file;        /* receiver_file_fail(code) right at REV_FILE */
	int fail_at_data;        /* receiver_file_fail(code) once rx >= fail_offset */
	uint64_t fail_offset;
	int commit_code;         /* receiver_file_done(code) when the digest matched */
	/* what the sender saw */
	uint32_t id;
	int results;             /* SEV_RESULT events for it */
	int result_code;
	uint8_t result_digest[64];
	int refused_in_flight;   /* sender_current_refused() at its SEV_RESULT */
	int aborted;             /* the pump aborted it on sender_current_refused() */
	uint64_t sent;           /* bytes committed to the sender */
	/* what the receiver saw */
	int rev_file, rev_refused, rev_end, rev_aborted, rev_skipped;
	int rev_failed;          /* REV_FAILED: refused part way */
	int refused_code, end_code;
	uint64_t received;       /* bytes in REV_DATA */
	int content_ok;          /* every REV_DATA byte was the right one */
	int failed_by_disk;
	/* what went over the wire (sender to receiver) */
	unsigned data_frames, zlib_frames;
};

/* Follows frame boundaries in a byte stream moved piecewise, so the pump
 * can count frames and flip chosen bytes in transit. */
struct tu_track {
	uint8_t hdr[8];
	size_t hdr_have;
	uint32_t left, length;   /* payload bytes still to come, in total */
	uint8_t type;
	uint64_t frames;
	uint64_t per_type[16];
};

struct tu_session {
	struct tcpx_sender *s;
	struct tcpx_receiver *r;
	struct tu_file *files;
	size_t n;
	/* knobs */
	size_t chunk;            /* largest chunk the sender commits (<= 262144) */
	size_t xfer;             /* bytes moved per direction per step; 0 = all */
	int hold_results;        /* receiver->sender only when nothing else moves */
	long tamper_data;        /* DATA frame (0-based, whole session) to corrupt */
	uint32_t tamper_offset;  /* payload offset within it (>= 8: data) */
	long tamper_end;         /* END frame to corrupt (digest byte 0) */
	long tamper_result;      /* RESULT frame to corrupt (digest byte 0) */
	uint64_t max_steps;
	int prepared;            /* zlib level: compress here and commit with
				    sender_commit_prepared(), as send_loop.c
				    does with its worker threads */
	struct chunk_compressor *comp;
	/* sender-side progress */
	size_t next;
	long cur;
	int bye_sent;
	/* results */
	int sev_hello, sev_bye, sev_error, rev_hello, rev_bye, rev_fatal, rev_peer_error;
	uint64_t caps;
	int error_code;          /* first error event's code */
	int sender_error_type;   /* SEV_PEER_ERROR / SEV_PROTO_ERROR */
	int sender_error_code;   /* its code */
	uint32_t last_result_id;
	int results_in_order;    /* 1 unless a RESULT came out of file order */
	int bye_before_results;  /* SEV_BYE while some file lacked its RESULT */
	size_t max_outstanding;
	unsigned window_blocked; /* times the sender sat at its window */
	long rcur;               /* receiver's current file index */
	uint64_t steps;
	struct tu_track tx, rx;
	int failed_commit;       /* a sender_* call refused during the pump */
};

static inline void tu_file_content(const struct tu_file *f, uint64_t off,
				   uint8_t *p, size_t n)
{
	if (f->kind == TU_TEXT)
		tu_fill_text(f->seed, off, p, n);
	else
		tu_fill_random(f->seed, off, p, n);
}

static inline uint8_t tu_file_byte(const struct tu_file *f, uint64_t off)
{
	return f->kind == TU_TEXT ? tu_text_byte(f->seed, off) :
				    tu_random_byte(f->seed, off);
}

/* The digest of a file's whole content, computed independently of the
 * sender and the receiver (digest.c is itself checked against b2sum). */
static inline void tu_file_digest(const struct tu_file *f, uint8_t out[64])
{
	static uint8_t buf[65536];
	struct digest d;
	digest_init(&d);
	for (uint64_t off = 0; off < f->size;) {
		size_t k = f->size - off < sizeof(buf) ? (size_t)(f->size - off) :
			   sizeof(buf);
		tu_file_content(f, off, buf, k);
		digest_update(&d, buf, k);
		off += k;
	}
	digest_final(&d, out);
}

static inline struct tu_file *tu_files_new(size_t n, uint64_t size,
					   enum tu_content kind)
{
	struct tu_file *f = calloc(n ? n : 1, sizeof(*f));
	cr_assert(f != NULL);
	for (size_t i = 0; i < n; i++) {
		snprintf(f[i].name, sizeof(f[i].name), "file-%05zu.bin", i);
		f[i].size = size;
		f[i].seed = (uint32_t)(i * 7919u + 1u);
		f[i].kind = kind;
		f[i].content_ok = 1;
	}
	return f;
}

/* level: the sender's zlib level (0 = none); rcfg may be NULL (defaults). */
static inline void tu_session_init(struct tu_session *t, struct tu_file *files,
				   size_t n, int level,
				   const struct receiver_config *rcfg)
{
	struct receiver_config def = { .caps = TCPX_CAPS_V1 };
	memset(t, 0, sizeof(*t));
	t->files = files;
	t->n = n;
	t->chunk = TCPX_CHUNK_MAX;
	t->tamper_data = t->tamper_end = t->tamper_result = -1;
	t->cur = t->rcur = -1;
	t->results_in_order = 1;
	t->max_steps = 10000000;
	t->s = sender_new(0, level);
	t->r = receiver_new(rcfg ? rcfg : &def);
	cr_assert(t->s != NULL && t->r != NULL);
}

static inline void tu_session_free(struct tu_session *t)
{
	sender_free(t->s);
	receiver_free(t->r);
	chunk_compressor_free(t->comp);
	t->comp = NULL;
	t->s = NULL;
	t->r = NULL;
}

/* Feeds one byte through the tracker; returns it, possibly flipped. */
static inline uint8_t tu_track_byte(struct tu_track *k, uint8_t b, long data_target,
				    uint32_t data_off, long end_target,
				    long result_target, struct tu_session *t,
				    int is_tx)
{
	if (k->hdr_have < 8) {
		k->hdr[k->hdr_have++] = b;
		if (k->hdr_have == 8) {
			k->type = k->hdr[0];
			k->length = k->left = be32_load(k->hdr + 4);
			if (k->left == 0) {
				k->per_type[k->type & 15]++;
				k->frames++;
				k->hdr_have = 0;
			}
		}
		return b;
	}
	uint32_t off = k->length - k->left;
	uint64_t ordinal = k->per_type[k->type & 15];
	if (is_tx && k->type == TCPX_FRAME_DATA) {
		if (off == 0) {
			/* DATA belongs to the most recent FILE */
			uint64_t fi = k->per_type[TCPX_FRAME_FILE];
			if (fi >= 1 && fi <= t->n) {
				t->files[fi - 1].data_frames++;
				if (b == TCPX_ENCODING_ZLIB)
					t->files[fi - 1].zlib_frames++;
			}
		}
		if (data_target >= 0 && ordinal == (uint64_t)data_target &&
		    off == data_off)
			b ^= 0x01;
	}
	if (is_tx && k->type == TCPX_FRAME_END && end_target >= 0 &&
	    ordinal == (uint64_t)end_target && off == 0)
		b ^= 0x01;
	if (!is_tx && k->type == TCPX_FRAME_RESULT && result_target >= 0 &&
	    ordinal == (uint64_t)result_target && off == 8)
		b ^= 0x01;
	if (--k->left == 0) {
		k->per_type[k->type & 15]++;
		k->frames++;
		k->hdr_have = 0;
	}
	return b;
}

/* Moves bytes from one side's output into the other's frame_reader. */
static inline size_t tu_move(struct tu_session *t, int tx)
{
	const uint8_t *p;
	size_t len, cap;
	struct frame_reader *fr;
	if (tx) {
		sender_pending(t->s, &p, &len);
		fr = receiver_reader(t->r);
	} else {
		receiver_pending(t->r, &p, &len);
		fr = sender_reader(t->s);
	}
	if (!len)
		return 0;
	uint8_t *dst = frame_reader_space(fr, &cap);
	size_t k = len < cap ? len : cap;
	if (t->xfer && k > t->xfer)
		k = t->xfer;
	for (size_t i = 0; i < k; i++)
		dst[i] = tu_track_byte(tx ? &t->tx : &t->rx, p[i],
				       t->tamper_data, t->tamper_offset,
				       t->tamper_end, t->tamper_result, t, tx);
	frame_reader_commit(fr, k);
	if (tx)
		sender_sent(t->s, k);
	else
		receiver_sent(t->r, k);
	return k;
}

/* The sending loop's produce() (src/send_loop.c) with files from memory:
 * the same sender_next_action() decides every step. */
static inline int tu_commit_data(struct tu_session *t, struct tu_file *f)
{
	uint64_t left = f->size - f->sent;
	cr_assert_eq(sender_file_left(t->s), left);
	if (t->prepared && sender_compressing(t->s)) {
		static uint8_t raw[TCPX_CHUNK_MAX], z[TCPX_CHUNK_MAX];
		size_t n = t->chunk < left ? t->chunk : (size_t)left;
		if (!t->comp)
			t->comp = chunk_compressor_new(t->prepared);
		cr_assert(t->comp != NULL);
		tu_file_content(f, f->sent, raw, n);
		size_t zl = chunk_compress(t->comp, raw, n, z, sizeof(z));
		if (sender_commit_prepared(t->s, raw, n, zl ? z : NULL, zl) < 0)
			t->failed_commit++;
		f->sent += n;
		return 1;
	}
	size_t cap;
	uint8_t *buf = sender_chunk_buffer(t->s, &cap);
	cr_assert(buf != NULL && cap == TCPX_CHUNK_MAX,
		  "sender_chunk_buffer: %p cap %zu with room", (void *)buf, cap);
	if (cap > t->chunk)
		cap = t->chunk;
	if (cap > left)
		cap = (size_t)left;
	tu_file_content(f, f->sent, buf, cap);
	if (sender_commit_chunk(t->s, cap) < 0)
		t->failed_commit++;
	f->sent += cap;
	return 1;
}

static inline void tu_begin(struct tu_session *t)
{
	struct tu_file *f = &t->files[t->next];
	struct tcpx_file_meta m = {
		.size = f->size, .mode = 0644,
		.mtime_sec = 1700000000, .mtime_nsec = 5,
		.name = (const uint8_t *)f->name,
		.name_len = (uint16_t)strlen(f->name) };
	cr_assert_eq(sender_begin_file(t->s, &m, f), 0);
	cr_assert_eq(m.id, (uint32_t)t->next + 1, "sender gave id %u to file %zu",
		     m.id, t->next);
	f->id = m.id;
	t->cur = (long)t->next++;
	size_t out = sender_outstanding(t->s);
	if (out > t->max_outstanding)
		t->max_outstanding = out;
}

static inline int tu_produce(struct tu_session *t)
{
	int progress = 0;
	for (;;) {
		int more = t->next < t->n;
		switch (sender_next_action(t->s, more)) {
		case SA_WAIT:
			if (more && sender_state(t->s) == SS_READY &&
			    sender_outstanding(t->s) >= SENDER_WINDOW)
				t->window_blocked++;
			return progress;
		case SA_DONE:
			return progress;
		case SA_OFFER:  /* tu_session never asks for OFFER */
			cr_assert_fail("SA_OFFER in a session without offers");
			return progress;
		case SA_BEGIN:
			tu_begin(t);
			break;
		case SA_DATA:
			tu_commit_data(t, &t->files[t->cur]);
			break;
		case SA_END:
			if (sender_end_file(t->s) < 0)
				t->failed_commit++;
			t->cur = -1;
			break;
		case SA_ABORT:
			if (sender_abort_file(t->s) < 0)
				t->failed_commit++;
			t->files[t->cur].aborted = 1;
			t->cur = -1;
			break;
		case SA_BYE:
			cr_assert(!t->bye_sent);
			cr_assert_eq(sender_bye(t->s), 0);
			t->bye_sent = 1;
			progress = 1;
			return progress;
		}
		progress = 1;
	}
}

/* The serving loop's serve_event() (src/serve_loop.c), with a disk that always works
 * unless a file's policy says otherwise. */
static inline int tu_drain_receiver(struct tu_session *t)
{
	struct receiver_event ev;
	int progress = 0;
	for (;;) {
		receiver_next(t->r, &ev);
		if (ev.type == REV_NONE)
			return progress;
		progress = 1;
		struct tu_file *f = t->rcur >= 0 ? &t->files[t->rcur] : NULL;
		switch (ev.type) {
		case REV_NONE:
			break;
		case REV_HELLO:
			t->rev_hello++;
			break;
		case REV_DIR:   /* tu_session sends files only */
			cr_assert_fail("REV_DIR in a files-only session");
			break;
		case REV_OFFER:
			cr_assert_fail("REV_OFFER in a session without offers");
			break;
		case REV_READBACK:
		case REV_JOIN:
		case REV_CHUNK:
			cr_assert_fail("MULTI event in a one-connection session");
			break;
		case REV_FILE:
		case REV_REFUSED:
			cr_assert(ev.meta.id >= 1 && ev.meta.id <= t->n,
				  "receiver announced id %u", ev.meta.id);
			t->rcur = (long)ev.meta.id - 1;
			f = &t->files[t->rcur];
			cr_assert_eq(ev.meta.name_len, strlen(f->name));
			cr_assert(memcmp(ev.meta.name, f->name, ev.meta.name_len) == 0);
			cr_assert_eq(ev.meta.size, f->size);
			cr_assert_eq(ev.meta.mode, 0644u);
			cr_assert_eq(ev.meta.mtime_sec, 1700000000);
			cr_assert_eq(ev.meta.mtime_nsec, 5u);
			if (ev.type == REV_REFUSED) {
				f->rev_refused++;
				f->refused_code = ev.code;
				break;
			}
			f->rev_file++;
			cr_assert(receiver_in_file(t->r));
			if (f->fail_at_file) {
				receiver_file_fail(t->r, f->fail_at_file, "disk says no");
				f->failed_by_disk = 1;
			}
			break;
		case REV_DATA:
			cr_assert(f != NULL, "REV_DATA outside a file");
			cr_assert(ev.len >= 1 && ev.len <= TCPX_CHUNK_MAX);
			cr_assert(f->received + ev.len <= f->size);
			for (size_t i = 0; i < ev.len; i++)
				if (ev.data[i] != tu_file_byte(f, f->received + i)) {
					f->content_ok = 0;
					break;
				}
			f->received += ev.len;
			if (f->fail_at_data && !f->failed_by_disk &&
			    f->received >= f->fail_offset) {
				receiver_file_fail(t->r, f->fail_at_data, "disk full");
				f->failed_by_disk = 1;
			}
			break;
		case REV_END:
			cr_assert(f != NULL);
			f->rev_end++;
			f->end_code = ev.code;
			cr_assert(ev.digest != NULL);
			receiver_file_done(t->r, ev.code ? ev.code : f->commit_code,
					   "disk says no");
			break;
		case REV_ABORTED:
			cr_assert(f != NULL);
			f->rev_aborted++;
			break;
		case REV_SKIPPED:
			cr_assert(f != NULL);
			f->rev_skipped++;
			break;
		case REV_FAILED:
			cr_assert(f != NULL);
			f->rev_failed++;
			f->refused_code = ev.code;
			break;
		case REV_BYE:
			t->rev_bye++;
			return progress;
		case REV_FATAL:
			t->rev_fatal++;
			if (!t->error_code)
				t->error_code = ev.code;
			return progress;
		case REV_PEER_ERROR:
			t->rev_peer_error++;
			return progress;
		}
	}
}

static inline int tu_drain_sender(struct tu_session *t)
{
	struct sender_event ev;
	int progress = 0;
	for (;;) {
		sender_next(t->s, &ev);
		if (ev.type == SEV_NONE)
			return progress;
		progress = 1;
		switch (ev.type) {
		case SEV_NONE:
			break;
		case SEV_HELLO:
			t->sev_hello++;
			t->caps = ev.caps;
			break;
		case SEV_STREAMS:
			cr_assert_fail("STREAMS in a session without MULTI");
			break;
		case SEV_RESULT: {
			cr_assert(ev.id >= 1 && ev.id <= t->n, "RESULT id %u", ev.id);
			struct tu_file *f = &t->files[ev.id - 1];
			cr_assert_eq(ev.cookie, (void *)f, "cookie of id %u", ev.id);
			if (ev.id != t->last_result_id + 1)
				t->results_in_order = 0;
			t->last_result_id = ev.id;
			f->results++;
			f->result_code = ev.code;
			if (ev.code == 0) {
				cr_assert(ev.digest != NULL);
				memcpy(f->result_digest, ev.digest, 64);
			}
			if (t->cur == (long)ev.id - 1 && sender_current_refused(t->s))
				f->refused_in_flight = 1;
			break;
		}
		case SEV_ANSWER:
			cr_assert_fail("SEV_ANSWER in a session without offers");
			break;
		case SEV_BYE:
			t->sev_bye++;
			for (size_t i = 0; i < t->n; i++)
				if (t->files[i].results != 1)
					t->bye_before_results = 1;
			return progress;
		case SEV_PEER_ERROR:
		case SEV_PROTO_ERROR:
			t->sev_error++;
			t->sender_error_type = ev.type;
			t->sender_error_code = ev.code;
			if (!t->error_code)
				t->error_code = ev.code;
			return progress;
		}
	}
}

/* Runs until the sender has its BYE (or either side an error).  Returns 0
 * on a clean end, -1 on an error event; fails the test on a deadlock. */
static inline int tu_session_run(struct tu_session *t)
{
	while (!t->sev_bye && !t->sev_error && !t->rev_fatal && !t->rev_peer_error) {
		int progress = 0;
		cr_assert(++t->steps < t->max_steps, "session did not finish");
		progress |= tu_produce(t);
		if (t->xfer)
			progress |= tu_move(t, 1) > 0;
		else
			while (tu_move(t, 1))
				progress = 1;
		progress |= tu_drain_receiver(t);
		if (!t->hold_results || !progress) {
			if (tu_move(t, 0))
				progress = 1;
		}
		progress |= tu_drain_sender(t);
		if (!progress) {
			cr_assert_fail("deadlock after %llu steps: sender state %d, "
				       "outstanding %zu, next %zu",
				       (unsigned long long)t->steps,
				       (int)sender_state(t->s),
				       sender_outstanding(t->s), t->next);
		}
	}
	/* Let the last bytes (the receiver's BYE, an ERROR) arrive. */
	while (tu_move(t, 1) || tu_move(t, 0))
		;
	return t->sev_bye && t->rev_bye ? 0 : -1;
}

#endif
