/*
 * fuzz_frame: frame_decode() and every proto_decode_*() on arbitrary bytes.
 *
 * The input is read as a stream of frames, as a peer would send them.  For
 * each whole frame the payload is copied into a buffer of exactly its
 * length (so ASan sees any read past the payload) and handed to every
 * decoder, once with the frame's own type and once with the type each
 * decoder expects, so the payload parsers run on every payload the header
 * check lets through.  What a decoder accepts must re-encode to the same
 * bytes, and names it returns go through the names gate and escapers.
 * Finally each decoder sees the whole input as one payload of any length,
 * without the header's limit in front of it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "frame.h"
#include "fuzz_common.h"
#include "names.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The "Max" column of the frame table in man/tcpxfer.5 (FRAMES), by type:
 * the limits the header check must enforce, written down independently
 * of proto_max_payload(). */
static const uint32_t spec_max[24] = {
	0, 256, 4126, 262152, 64, 0, 1096, 0, 1028, 4118, 4192, 1106, 4134,
	72,             /* STREAM_END (STREAM) */
	0, 0, 0, 0, 0, 0, /* 14-19: not frames of this table (SECURE's
			     messages travel before it, records around it) */
	34, 34, 12, 0,  /* STREAMS, JOIN, PLACE, JOINED (MULTI) */
};
#define LAST_TYPE TCPX_FRAME_JOINED

/* A type of the table: 1..13 (10-12 OFFER's, 13 STREAM's) and 20..23
 * (MULTI's). */
static int known_type(unsigned t)
{
	return (t >= TCPX_FRAME_HELLO && t <= TCPX_FRAME_STREAM_END) ||
	       (t >= TCPX_FRAME_STREAMS && t <= LAST_TYPE);
}

/* Room for the largest frame any encoder writes. */
static uint8_t enc[TCPX_FRAME_BUF_MAX];

static int has_nul(const uint8_t *p, size_t n)
{
	return n && memchr(p, 0, n) != NULL;
}

/* A NUL-terminated copy of a message (the encoders take C strings). */
static char *cstr(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	FZ_CHECK(s != NULL);
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void check_names(const uint8_t *name, size_t len)
{
	const char *why = NULL;
	int rc = name_validate(name, len, &why);
	FZ_CHECK(rc == 0 || rc == -TCPX_E_BAD_NAME);
	if (rc == 0) {
		/* What the gate lets through is relative, UTF-8, and free of
		 * '.'/'..' components and control bytes. */
		FZ_CHECK(len > 0 && name[0] != '/');
		FZ_CHECK(utf8_valid(name, len));
		for (size_t i = 0; i < len; i++)
			FZ_CHECK(name[i] >= 0x20 && name[i] != 0x7F);
		size_t start = 0, depth = 0;
		for (size_t i = 0; i <= len; i++) {
			if (i < len && name[i] != '/')
				continue;
			size_t c = i - start;
			FZ_CHECK(c > 0 && c <= NAME_COMPONENT_MAX);
			FZ_CHECK(!(c == 1 && name[start] == '.'));
			FZ_CHECK(!(c == 2 && name[start] == '.' &&
				   name[start + 1] == '.'));
			FZ_CHECK(!(c >= strlen(NAME_TEMP_PREFIX) &&
				   memcmp(name + start, NAME_TEMP_PREFIX,
					  strlen(NAME_TEMP_PREFIX)) == 0));
			FZ_CHECK(++depth <= NAME_DEPTH_MAX);
			start = i + 1;
		}
	} else {
		FZ_CHECK(why != NULL);
	}

	/* The escapers promise 4n+4 (terminal) and 6n+4 (JSON) are enough
	 * and that a smaller buffer is cut, never overrun: give them exactly
	 * that much heap so ASan sees a single byte too many.  With the
	 * promised room the output is whole (as with a huge buffer), and it
	 * never holds a control byte (terminal escape sequences). */
	for (int json = 0; json < 2; json++) {
		size_t enough = (json ? 6 : 4) * len + 4;
		size_t caps[4] = { 8 * len + 16, enough, 1 + len % 17, 1 };
		char *full = NULL;
		for (int i = 0; i < 4; i++) {
			char *out = malloc(caps[i]);
			FZ_CHECK(out != NULL);
			char *ret = json ? name_escape_json(name, len, out, caps[i])
					 : name_escape(name, len, out, caps[i]);
			FZ_CHECK(ret == out);
			size_t n = strlen(out);
			FZ_CHECK(n < caps[i]);
			for (size_t k = 0; k < n; k++) {
				uint8_t ch = (uint8_t)out[k];
				FZ_CHECK(ch >= 0x20 && ch != 0x7F);
			}
			if (i == 0) {
				full = out;
				continue;
			}
			if (i == 1)
				FZ_CHECK(strcmp(out, full) == 0);
			free(out);
		}
		free(full);
	}
}

static int ok_or_malformed(int rc)
{
	return rc == 0 || rc == -TCPX_E_MALFORMED;
}

/* DIR (TREE): FILE's layout without the size; decodes, re-encodes the
 * same bytes. */
static void decode_dir(const struct tcpx_frame *f)
{
	struct tcpx_file_meta m;
	int rc = proto_decode_dir(f, &m);
	FZ_CHECK(ok_or_malformed(rc));
	if (rc != 0)
		return;
	FZ_CHECK(f->type == TCPX_FRAME_DIR);
	FZ_CHECK(m.size == 0);
	FZ_CHECK(m.name_len >= 1 && m.name_len <= TCPX_NAME_MAX);
	FZ_CHECK(f->length == TCPX_DIR_FIXED_LEN + m.name_len);
	FZ_CHECK(m.name == f->payload + TCPX_DIR_FIXED_LEN);
	FZ_CHECK((m.mode & ~TCPX_MODE_MASK) == 0);
	FZ_CHECK(m.mtime_nsec < 1000000000u);
	size_t n = proto_encode_dir(enc, &m);
	FZ_CHECK(n == TCPX_FRAME_HEADER_LEN + f->length);
	FZ_CHECK(enc[0] == TCPX_FRAME_DIR);
	FZ_CHECK(memcmp(enc + TCPX_FRAME_HEADER_LEN, f->payload, f->length) == 0);
	check_names(m.name, m.name_len);
}

/* STREAM_END (STREAM): a size below 2^64-1 and a digest; re-encodes the
 * same bytes. */
static void decode_stream_end(const struct tcpx_frame *f)
{
	const uint8_t *dg = NULL;
	uint64_t size = 0;
	int rc = proto_decode_stream_end(f, &size, &dg);
	FZ_CHECK(ok_or_malformed(rc));
	if (rc != 0)
		return;
	FZ_CHECK(f->type == TCPX_FRAME_STREAM_END);
	FZ_CHECK(f->length == TCPX_STREAM_END_LEN);
	FZ_CHECK(size != TCPX_SIZE_UNKNOWN && dg == f->payload + 8);
	size_t n = proto_encode_stream_end(enc, size, dg);
	FZ_CHECK(n == TCPX_FRAME_HEADER_LEN + TCPX_STREAM_END_LEN);
	FZ_CHECK(memcmp(enc + TCPX_FRAME_HEADER_LEN, f->payload, f->length) == 0);
}

/* OFFER, ANSWER, RESUME (OFFER): decode, re-encode the same bytes. */
static void decode_offers(const struct tcpx_frame *f)
{
	struct tcpx_offer o;
	int rc = proto_decode_offer(f, &o);
	FZ_CHECK(ok_or_malformed(rc));
	if (rc == 0) {
		size_t dlen = (o.flags & TCPX_OFFER_CHECKSUM) ? DIGEST_LEN : 0;
		FZ_CHECK(f->type == TCPX_FRAME_OFFER);
		FZ_CHECK(o.policy <= TCPX_POLICY_KEEP_BOTH);
		FZ_CHECK((o.flags & ~(TCPX_OFFER_RESUME | TCPX_OFFER_CHECKSUM)) == 0);
		FZ_CHECK(f->length == TCPX_OFFER_FIXED_LEN + dlen + o.meta.name_len);
		FZ_CHECK(o.meta.name_len >= 1 && o.meta.name_len <= TCPX_NAME_MAX);
		size_t n = proto_encode_offer(enc, &o);
		FZ_CHECK(n == TCPX_FRAME_HEADER_LEN + f->length);
		FZ_CHECK(memcmp(enc + TCPX_FRAME_HEADER_LEN, f->payload, f->length) == 0);
		check_names(o.meta.name, o.meta.name_len);
	}
	struct tcpx_answer a;
	rc = proto_decode_answer(f, &a);
	FZ_CHECK(ok_or_malformed(rc));
	if (rc == 0) {
		FZ_CHECK(f->type == TCPX_FRAME_ANSWER);
		FZ_CHECK(a.disposition <= TCPX_ANSWER_MAX_DISPOSITION);
		FZ_CHECK((a.disposition == TCPX_ANSWER_REFUSED) == (a.code != 0));
		FZ_CHECK((a.disposition == TCPX_ANSWER_RESUME) == (a.offset != 0));
		FZ_CHECK(f->length == TCPX_ANSWER_FIXED_LEN + a.msg_len);
		size_t n = proto_encode_answer(enc, &a);
		FZ_CHECK(n == TCPX_FRAME_HEADER_LEN + f->length);
		FZ_CHECK(memcmp(enc + TCPX_FRAME_HEADER_LEN, f->payload, f->length) == 0);
		check_names(a.msg, a.msg_len);
	}
	struct tcpx_file_meta m;
	uint64_t off;
	rc = proto_decode_resume(f, &m, &off);
	FZ_CHECK(ok_or_malformed(rc));
	if (rc == 0) {
		FZ_CHECK(f->type == TCPX_FRAME_RESUME);
		FZ_CHECK(off >= 1 && off <= m.size);
		FZ_CHECK(f->length == TCPX_RESUME_FIXED_LEN + m.name_len);
		size_t n = proto_encode_resume(enc, &m, off);
		FZ_CHECK(n == TCPX_FRAME_HEADER_LEN + f->length);
		FZ_CHECK(memcmp(enc + TCPX_FRAME_HEADER_LEN, f->payload, f->length) == 0);
		check_names(m.name, m.name_len);
	}
}

/* Runs every decoder on f (whose type may have been forced); checks what
 * each one accepts. */
static void decode_all(const struct tcpx_frame *f)
{
	const uint8_t *p = f->payload;
	size_t n;
	int rc;

	struct tcpx_hello h;
	rc = proto_decode_hello(f, &h);
	FZ_CHECK(rc == 0 || rc == -TCPX_E_MALFORMED || rc == -TCPX_E_BAD_MAGIC);
	if (rc == 0) {
		FZ_CHECK(f->type == TCPX_FRAME_HELLO && f->length >= TCPX_HELLO_LEN);
		FZ_CHECK(h.version_min >= 1 && h.version_min <= h.version_max);
		n = proto_encode_hello(enc, &h);
		FZ_CHECK(n == TCPX_FRAME_HEADER_LEN + TCPX_HELLO_LEN);
		FZ_CHECK(memcmp(enc + TCPX_FRAME_HEADER_LEN, p, TCPX_HELLO_LEN) == 0);
	}

	struct tcpx_file_meta m;
	rc = proto_decode_file(f, &m);
	FZ_CHECK(ok_or_malformed(rc));
	if (rc == 0) {
		FZ_CHECK(f->type == TCPX_FRAME_FILE);
		FZ_CHECK(m.name_len >= 1 && m.name_len <= TCPX_NAME_MAX);
		FZ_CHECK(f->length == TCPX_FILE_FIXED_LEN + m.name_len);
		FZ_CHECK(m.name == p + TCPX_FILE_FIXED_LEN);
		FZ_CHECK((m.mode & ~TCPX_MODE_MASK) == 0);
		FZ_CHECK(m.mtime_nsec < 1000000000u);
		n = proto_encode_file(enc, &m);
		FZ_CHECK(n == TCPX_FRAME_HEADER_LEN + f->length);
		FZ_CHECK(enc[0] == TCPX_FRAME_FILE);
		FZ_CHECK(memcmp(enc + TCPX_FRAME_HEADER_LEN, p, f->length) == 0);
		check_names(m.name, m.name_len);
	}

	decode_dir(f);
	decode_stream_end(f);
	decode_offers(f);

	struct tcpx_data d;
	rc = proto_decode_data(f, &d);
	FZ_CHECK(ok_or_malformed(rc));
	if (rc == 0) {
		FZ_CHECK(f->type == TCPX_FRAME_DATA);
		FZ_CHECK(d.raw_len >= 1 && d.raw_len <= TCPX_CHUNK_MAX);
		FZ_CHECK(d.data == p + TCPX_DATA_HEADER_LEN);
		FZ_CHECK(d.data_len >= 1 &&
			 d.data_len == f->length - TCPX_DATA_HEADER_LEN);
		FZ_CHECK(d.encoding == TCPX_ENCODING_RAW ||
			 d.encoding == TCPX_ENCODING_ZLIB ||
			 d.encoding == TCPX_ENCODING_ZSTD);
		if (d.encoding == TCPX_ENCODING_RAW)
			FZ_CHECK(d.data_len == d.raw_len);
		else
			FZ_CHECK(d.data_len <= TCPX_CHUNK_MAX);
		n = proto_encode_data_header(enc, d.encoding, d.raw_len,
					     d.data_len);
		FZ_CHECK(n == TCPX_FRAME_HEADER_LEN + f->length);
		FZ_CHECK(memcmp(enc + TCPX_FRAME_HEADER_LEN, p,
				TCPX_DATA_HEADER_LEN) == 0);
		/* Touch all the data the decoder vouched for. */
		volatile uint8_t sink = 0;
		for (size_t i = 0; i < d.data_len; i++)
			sink ^= d.data[i];
		(void)sink;
	}

	const uint8_t *dg = NULL;
	rc = proto_decode_end(f, &dg);
	FZ_CHECK(ok_or_malformed(rc));
	if (rc == 0) {
		FZ_CHECK(f->type == TCPX_FRAME_END && f->length == DIGEST_LEN);
		FZ_CHECK(dg == p);
		n = proto_encode_end(enc, dg);
		FZ_CHECK(n == TCPX_FRAME_HEADER_LEN + DIGEST_LEN);
		FZ_CHECK(memcmp(enc + TCPX_FRAME_HEADER_LEN, p, DIGEST_LEN) == 0);
	}

	rc = proto_decode_empty(f);
	FZ_CHECK(ok_or_malformed(rc));
	FZ_CHECK((rc == 0) == (f->length == 0));

	struct tcpx_result r;
	rc = proto_decode_result(f, &r);
	FZ_CHECK(ok_or_malformed(rc));
	if (rc == 0) {
		FZ_CHECK(f->type == TCPX_FRAME_RESULT);
		FZ_CHECK(r.msg_len <= TCPX_MSG_MAX);
		FZ_CHECK(f->length == TCPX_RESULT_FIXED_LEN + r.msg_len);
		FZ_CHECK(r.digest == p + 8 && r.msg == p + TCPX_RESULT_FIXED_LEN);
		if (!has_nul(r.msg, r.msg_len)) {
			char *msg = cstr(r.msg, r.msg_len);
			n = proto_encode_result(enc, r.id, r.code, r.digest, msg);
			free(msg);
			FZ_CHECK(n == TCPX_FRAME_HEADER_LEN + f->length);
			FZ_CHECK(memcmp(enc + TCPX_FRAME_HEADER_LEN, p, f->length) == 0);
		}
		check_names(r.msg, r.msg_len);
	}

	struct tcpx_error e;
	rc = proto_decode_error(f, &e);
	FZ_CHECK(ok_or_malformed(rc));
	if (rc == 0) {
		FZ_CHECK(f->type == TCPX_FRAME_ERROR);
		FZ_CHECK(e.msg_len <= TCPX_MSG_MAX);
		FZ_CHECK(f->length == TCPX_ERROR_FIXED_LEN + e.msg_len);
		FZ_CHECK(e.msg == p + TCPX_ERROR_FIXED_LEN);
		if (!has_nul(e.msg, e.msg_len)) {
			char *msg = cstr(e.msg, e.msg_len);
			n = proto_encode_error(enc, e.code, msg);
			free(msg);
			FZ_CHECK(n == TCPX_FRAME_HEADER_LEN + f->length);
			FZ_CHECK(memcmp(enc + TCPX_FRAME_HEADER_LEN, p, f->length) == 0);
		}
	}
}

/* Every decoder on the payload as typed, then with each type forced. */
static void decode_payload(uint8_t type, const uint8_t *payload, uint32_t len)
{
	/* An exact-size heap copy: a read one byte past the payload is an
	 * ASan report, not a silent read of the next frame. */
	uint8_t *copy = malloc(len ? len : 1);
	FZ_CHECK(copy != NULL);
	if (len)
		memcpy(copy, payload, len);
	struct tcpx_frame f = { .type = type, .length = len, .payload = copy };
	decode_all(&f);
	for (uint8_t t = TCPX_FRAME_HELLO; t <= LAST_TYPE; t++) {
		if (t == type || !known_type(t))
			continue;
		f.type = t;
		decode_all(&f);
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;

	while (pos < size) {
		struct tcpx_frame f;
		size_t consumed = 12345, need = 0;
		const uint8_t *buf = data + pos;
		size_t len = size - pos;
		int rc = frame_decode(buf, len, &proto_frame_limits, &f,
				      &consumed, &need);

		if (rc == 0) {
			FZ_CHECK(consumed == 0 && f.payload == NULL);
			if (len < TCPX_FRAME_HEADER_LEN) {
				FZ_CHECK(need == TCPX_FRAME_HEADER_LEN);
			} else {
				FZ_CHECK(need == TCPX_FRAME_HEADER_LEN + (size_t)f.length);
				FZ_CHECK(need > len);
				FZ_CHECK(f.length <= proto_max_payload(f.type));
			}
			break;
		}
		if (rc < 0) {
			FZ_CHECK(rc == -TCPX_E_UNEXPECTED || rc == -TCPX_E_MALFORMED ||
				 rc == -TCPX_E_FRAME_TOO_LARGE);
			FZ_CHECK(len >= TCPX_FRAME_HEADER_LEN && consumed == 0);
			if (rc == -TCPX_E_UNEXPECTED)
				FZ_CHECK(proto_max_payload(buf[0]) < 0 &&
					 !known_type(buf[0]));
			if (rc == -TCPX_E_FRAME_TOO_LARGE)
				FZ_CHECK(f.length > proto_max_payload(f.type) &&
					 f.length > spec_max[f.type]);
			if (rc == -TCPX_E_MALFORMED)
				FZ_CHECK(buf[1] != 0 || buf[2] != 0 || buf[3] != 0);
			/* The verdict comes from the header alone: the same
			 * error with no payload bytes at all. */
			struct tcpx_frame g;
			size_t c2;
			FZ_CHECK(frame_decode(buf, TCPX_FRAME_HEADER_LEN,
					      &proto_frame_limits, &g, &c2,
					      NULL) == rc);
			break;
		}
		FZ_CHECK(rc == 1);
		FZ_CHECK(known_type(f.type));
		FZ_CHECK(f.length <= proto_max_payload(f.type));
		FZ_CHECK(f.length <= spec_max[f.type]);
		FZ_CHECK(f.length <= TCPX_MAX_PAYLOAD);
		FZ_CHECK(consumed == TCPX_FRAME_HEADER_LEN + (size_t)f.length);
		FZ_CHECK(consumed <= len && need == consumed);
		FZ_CHECK(f.payload == buf + TCPX_FRAME_HEADER_LEN);

		/* One byte short is "need more", with the right total. */
		struct tcpx_frame g;
		size_t c2 = 1, need2 = 0;
		FZ_CHECK(frame_decode(buf, consumed - 1, &proto_frame_limits,
				      &g, &c2, &need2) == 0);
		FZ_CHECK(c2 == 0);
		FZ_CHECK(need2 == (consumed - 1 < TCPX_FRAME_HEADER_LEN ?
				   TCPX_FRAME_HEADER_LEN : consumed));

		/* The header encoder writes exactly this header back. */
		uint8_t hdr[TCPX_FRAME_HEADER_LEN];
		frame_header_encode(hdr, f.type, f.length);
		FZ_CHECK(memcmp(hdr, buf, TCPX_FRAME_HEADER_LEN) == 0);

		decode_payload(f.type, f.payload, f.length);
		pos += consumed;
	}

	/* The whole input as one payload of any length and every type. */
	if (size <= UINT32_MAX)
		decode_payload(size ? data[0] & 7u : 0, data, (uint32_t)size);
	return 0;
}
