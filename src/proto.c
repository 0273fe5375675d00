/* proto: payload layouts of every TCPX message (proto.h, man/tcpxfer.5). */
#include <string.h>

#include "bytes.h"
#include "error.h"
#include "proto.h"

#define PHASE(p) (1u << TCPX_PHASE_##p)
#define AFTER_HELLO (PHASE(READY) | PHASE(IN_FILE) | PHASE(CLOSING))
#define ALWAYS (PHASE(HANDSHAKE) | AFTER_HELLO)
#define NEVER 0u

/*
 * Indexed by type; a type without a row has no name.  The limits are the
 * "Max" column of the FRAMES table in man/tcpxfer.5, the phases its
 * HANDSHAKE and SESSION rules: a type arriving in the wrong direction or
 * phase is UNEXPECTED, judged from the header before the payload is
 * awaited.  ERROR is taken in every phase, so a peer can always say why it
 * gives up.
 */
static const struct tcpx_frame_spec frame_specs[] = {
	/*                    name      largest payload
	 *                    { accepted by the sender, by the receiver } */
	[TCPX_FRAME_HELLO]  = { "HELLO",  TCPX_HELLO_MAX,
				{ PHASE(HANDSHAKE), PHASE(HANDSHAKE) } },
	[TCPX_FRAME_FILE]   = { "FILE",   TCPX_FILE_FIXED_LEN + TCPX_NAME_MAX,
				{ NEVER, PHASE(READY) } },
	[TCPX_FRAME_DATA]   = { "DATA",   TCPX_MAX_PAYLOAD,
				{ NEVER, PHASE(IN_FILE) } },
	[TCPX_FRAME_END]    = { "END",    DIGEST_LEN,
				{ NEVER, PHASE(IN_FILE) } },
	[TCPX_FRAME_ABORT]  = { "ABORT",  0,
				{ NEVER, PHASE(IN_FILE) } },
	[TCPX_FRAME_RESULT] = { "RESULT", TCPX_RESULT_FIXED_LEN + TCPX_MSG_MAX,
				{ AFTER_HELLO, NEVER } },
	[TCPX_FRAME_BYE]    = { "BYE",    0,
				{ AFTER_HELLO, PHASE(READY) } },
	[TCPX_FRAME_ERROR]  = { "ERROR",  TCPX_ERROR_FIXED_LEN + TCPX_MSG_MAX,
				{ ALWAYS, ALWAYS } },
	/* Only with TREE granted: the receiver checks that after the table. */
	[TCPX_FRAME_DIR]    = { "DIR",    TCPX_DIR_FIXED_LEN + TCPX_NAME_MAX,
				{ NEVER, PHASE(READY) } },
	/* Only with OFFER granted: checked as DIR's is. */
	[TCPX_FRAME_OFFER]  = { "OFFER",  TCPX_OFFER_FIXED_LEN + DIGEST_LEN +
					  TCPX_NAME_MAX,
				{ NEVER, PHASE(READY) } },
	[TCPX_FRAME_ANSWER] = { "ANSWER", TCPX_ANSWER_FIXED_LEN + TCPX_MSG_MAX,
				{ AFTER_HELLO, NEVER } },
	[TCPX_FRAME_RESUME] = { "RESUME", TCPX_RESUME_FIXED_LEN + TCPX_NAME_MAX,
				{ NEVER, PHASE(READY) } },
	/* Only with STREAM, and only for a file of unknown size (receiver). */
	[TCPX_FRAME_STREAM_END] = { "STREAM_END", TCPX_STREAM_END_LEN,
				{ NEVER, PHASE(IN_FILE) } },
	/* Only with MULTI (checked as DIR's is).  JOIN is the first frame
	 * after HELLO on an extra connection; PLACE comes before a DATA,
	 * on any connection of the session. */
	[TCPX_FRAME_STREAMS] = { "STREAMS", TCPX_STREAMS_LEN,
				{ AFTER_HELLO, NEVER } },
	[TCPX_FRAME_JOIN]   = { "JOIN",   TCPX_JOIN_LEN,
				{ NEVER, PHASE(READY) } },
	[TCPX_FRAME_PLACE]  = { "PLACE",  TCPX_PLACE_LEN,
				{ NEVER, PHASE(IN_FILE) } },
	[TCPX_FRAME_JOINED] = { "JOINED", 0,
				{ AFTER_HELLO, NEVER } },
};

const struct tcpx_frame_spec *proto_frame_spec(uint8_t type)
{
	if (type >= sizeof(frame_specs) / sizeof(frame_specs[0]) ||
	    !frame_specs[type].name)
		return NULL;
	return &frame_specs[type];
}

int64_t proto_max_payload(uint8_t type)
{
	const struct tcpx_frame_spec *spec = proto_frame_spec(type);
	return spec ? (int64_t)spec->max_payload : -1;
}

/* largest_payload is the largest row above (DATA); test_frame checks it. */
const struct frame_limits proto_frame_limits = {
	.max_payload = proto_max_payload,
	.largest_payload = TCPX_MAX_PAYLOAD,
};

/* The capability that brings a type, or 0 for a type of every session. */
static uint64_t type_cap(uint8_t type)
{
	switch (type) {
	case TCPX_FRAME_DIR: return TCPX_CAP_TREE;
	case TCPX_FRAME_OFFER:
	case TCPX_FRAME_ANSWER:
	case TCPX_FRAME_RESUME: return TCPX_CAP_OFFER;
	case TCPX_FRAME_STREAM_END: return TCPX_CAP_STREAM;
	case TCPX_FRAME_STREAMS:
	case TCPX_FRAME_JOIN:
	case TCPX_FRAME_PLACE:
	case TCPX_FRAME_JOINED: return TCPX_CAP_MULTI;
	default: return 0;
	}
}

/* The types a capability brings: without it they are no type at all. */
static int64_t max_payload_caps(uint8_t type, uint64_t caps)
{
	uint64_t need = type_cap(type);
	return need && !(caps & need) ? -1 : proto_max_payload(type);
}

/* frame_limits holds a bare function, so one per set of the four bits. */
#define CAPS_LIMITS(id, caps)						\
	static int64_t max_payload_##id(uint8_t type)			\
	{								\
		return max_payload_caps(type, (caps));			\
	}								\
	static const struct frame_limits limits_##id = {		\
		.max_payload = max_payload_##id,			\
		.largest_payload = TCPX_MAX_PAYLOAD,			\
	};
#define M TCPX_CAP_MULTI
CAPS_LIMITS(none, 0)
CAPS_LIMITS(t, TCPX_CAP_TREE)
CAPS_LIMITS(o, TCPX_CAP_OFFER)
CAPS_LIMITS(s, TCPX_CAP_STREAM)
CAPS_LIMITS(to, TCPX_CAP_TREE | TCPX_CAP_OFFER)
CAPS_LIMITS(ts, TCPX_CAP_TREE | TCPX_CAP_STREAM)
CAPS_LIMITS(os, TCPX_CAP_OFFER | TCPX_CAP_STREAM)
CAPS_LIMITS(tos, TCPX_CAP_TREE | TCPX_CAP_OFFER | TCPX_CAP_STREAM)
CAPS_LIMITS(m, M)
CAPS_LIMITS(tm, TCPX_CAP_TREE | M)
CAPS_LIMITS(om, TCPX_CAP_OFFER | M)
CAPS_LIMITS(sm, TCPX_CAP_STREAM | M)
CAPS_LIMITS(tom, TCPX_CAP_TREE | TCPX_CAP_OFFER | M)
CAPS_LIMITS(tsm, TCPX_CAP_TREE | TCPX_CAP_STREAM | M)
CAPS_LIMITS(osm, TCPX_CAP_OFFER | TCPX_CAP_STREAM | M)
#undef M
#undef CAPS_LIMITS

/* Every type but DIR. */
const struct frame_limits proto_frame_limits_no_tree = {
	.max_payload = max_payload_osm,
	.largest_payload = TCPX_MAX_PAYLOAD,
};

const struct frame_limits *proto_frame_limits_for(uint64_t caps)
{
	static const struct frame_limits *const by_caps[16] = {
		&limits_none, &limits_t, &limits_o, &limits_to,
		&limits_s, &limits_ts, &limits_os, &limits_tos,
		&limits_m, &limits_tm, &limits_om, &limits_tom,
		&limits_sm, &limits_tsm, &limits_osm, &proto_frame_limits,
	};
	unsigned i = ((caps & TCPX_CAP_TREE) ? 1u : 0u) |
		     ((caps & TCPX_CAP_OFFER) ? 2u : 0u) |
		     ((caps & TCPX_CAP_STREAM) ? 4u : 0u) |
		     ((caps & TCPX_CAP_MULTI) ? 8u : 0u);
	return by_caps[i];
}

int proto_accepts(enum tcpx_role who_receives, enum tcpx_phase phase,
		  uint8_t type)
{
	const struct tcpx_frame_spec *spec = proto_frame_spec(type);

	if (!spec || (unsigned)who_receives >= TCPX_ROLE_COUNT ||
	    (unsigned)phase >= TCPX_PHASE_COUNT)
		return 0;
	return (spec->accepted_in[who_receives] >> phase) & 1u;
}

static uint16_t msg_length(const char *msg)
{
	size_t n = msg ? strlen(msg) : 0;
	return (uint16_t)(n > TCPX_MSG_MAX ? TCPX_MSG_MAX : n);
}

size_t proto_encode_hello(uint8_t *out, const struct tcpx_hello *h)
{
	uint8_t *p = out + TCPX_FRAME_HEADER_LEN;
	frame_header_encode(out, TCPX_FRAME_HELLO, TCPX_HELLO_LEN);
	memcpy(p, TCPX_MAGIC, 4);
	be16_store(p + 4, h->version_min);
	be16_store(p + 6, h->version_max);
	be64_store(p + 8, h->caps);
	return TCPX_FRAME_HEADER_LEN + TCPX_HELLO_LEN;
}

/* FILE's first 30 bytes, shared by FILE, OFFER and RESUME. */
static void put_meta(uint8_t *p, const struct tcpx_file_meta *m)
{
	be32_store(p, m->id);
	be64_store(p + 4, m->size);
	be32_store(p + 12, m->mode);
	be64_store(p + 16, (uint64_t)m->mtime_sec);
	be32_store(p + 24, m->mtime_nsec);
	be16_store(p + 28, m->name_len);
}

static void get_meta(const uint8_t *p, struct tcpx_file_meta *m)
{
	m->id = be32_load(p);
	m->size = be64_load(p + 4);
	m->mode = be32_load(p + 12);
	m->mtime_sec = (int64_t)be64_load(p + 16);
	m->mtime_nsec = be32_load(p + 24);
	m->name_len = be16_load(p + 28);
}

/* FILE's checks of the fields get_meta() read, once name_len is known to
 * match the payload length. */
static int meta_valid(const struct tcpx_file_meta *m)
{
	return m->name_len != 0 && m->name_len <= TCPX_NAME_MAX &&
	       (m->mode & ~TCPX_MODE_MASK) == 0 && m->mtime_nsec < 1000000000u;
}

size_t proto_encode_file(uint8_t *out, const struct tcpx_file_meta *m)
{
	uint8_t *p = out + TCPX_FRAME_HEADER_LEN;
	uint32_t len = TCPX_FILE_FIXED_LEN + m->name_len;
	frame_header_encode(out, TCPX_FRAME_FILE, len);
	put_meta(p, m);
	memcpy(p + TCPX_FILE_FIXED_LEN, m->name, m->name_len);
	return TCPX_FRAME_HEADER_LEN + len;
}

size_t proto_encode_dir(uint8_t *out, const struct tcpx_file_meta *m)
{
	uint8_t *p = out + TCPX_FRAME_HEADER_LEN;
	uint32_t len = TCPX_DIR_FIXED_LEN + m->name_len;
	frame_header_encode(out, TCPX_FRAME_DIR, len);
	be32_store(p, m->id);
	be32_store(p + 4, m->mode);
	be64_store(p + 8, (uint64_t)m->mtime_sec);
	be32_store(p + 16, m->mtime_nsec);
	be16_store(p + 20, m->name_len);
	memcpy(p + TCPX_DIR_FIXED_LEN, m->name, m->name_len);
	return TCPX_FRAME_HEADER_LEN + len;
}

size_t proto_encode_data_header(uint8_t *out, uint8_t encoding,
				uint32_t raw_len, uint32_t data_len)
{
	uint8_t *p = out + TCPX_FRAME_HEADER_LEN;
	frame_header_encode(out, TCPX_FRAME_DATA, TCPX_DATA_HEADER_LEN + data_len);
	p[0] = encoding;
	p[1] = p[2] = p[3] = 0;
	be32_store(p + 4, raw_len);
	return TCPX_FRAME_HEADER_LEN + TCPX_DATA_HEADER_LEN + data_len;
}

size_t proto_encode_end(uint8_t *out, const uint8_t digest[DIGEST_LEN])
{
	frame_header_encode(out, TCPX_FRAME_END, DIGEST_LEN);
	memcpy(out + TCPX_FRAME_HEADER_LEN, digest, DIGEST_LEN);
	return TCPX_FRAME_HEADER_LEN + DIGEST_LEN;
}

size_t proto_encode_stream_end(uint8_t *out, uint64_t size,
			       const uint8_t digest[DIGEST_LEN])
{
	frame_header_encode(out, TCPX_FRAME_STREAM_END, TCPX_STREAM_END_LEN);
	be64_store(out + TCPX_FRAME_HEADER_LEN, size);
	memcpy(out + TCPX_FRAME_HEADER_LEN + 8, digest, DIGEST_LEN);
	return TCPX_FRAME_HEADER_LEN + TCPX_STREAM_END_LEN;
}

size_t proto_encode_empty(uint8_t *out, uint8_t type)
{
	frame_header_encode(out, type, 0);
	return TCPX_FRAME_HEADER_LEN;
}

size_t proto_encode_result(uint8_t *out, uint32_t id, uint16_t code,
			   const uint8_t *digest, const char *msg)
{
	uint8_t *p = out + TCPX_FRAME_HEADER_LEN;
	uint16_t ml = msg_length(msg);
	frame_header_encode(out, TCPX_FRAME_RESULT, TCPX_RESULT_FIXED_LEN + ml);
	be32_store(p, id);
	be16_store(p + 4, code);
	be16_store(p + 6, ml);
	if (digest)
		memcpy(p + 8, digest, DIGEST_LEN);
	else
		memset(p + 8, 0, DIGEST_LEN);
	if (ml)
		memcpy(p + TCPX_RESULT_FIXED_LEN, msg, ml);
	return TCPX_FRAME_HEADER_LEN + TCPX_RESULT_FIXED_LEN + ml;
}

size_t proto_encode_error(uint8_t *out, uint16_t code, const char *msg)
{
	uint8_t *p = out + TCPX_FRAME_HEADER_LEN;
	uint16_t ml = msg_length(msg);
	frame_header_encode(out, TCPX_FRAME_ERROR, TCPX_ERROR_FIXED_LEN + ml);
	be16_store(p, code);
	be16_store(p + 2, ml);
	if (ml)
		memcpy(p + TCPX_ERROR_FIXED_LEN, msg, ml);
	return TCPX_FRAME_HEADER_LEN + TCPX_ERROR_FIXED_LEN + ml;
}

size_t proto_encode_offer(uint8_t *out, const struct tcpx_offer *o)
{
	uint8_t *p = out + TCPX_FRAME_HEADER_LEN;
	uint32_t dlen = (o->flags & TCPX_OFFER_CHECKSUM) ? DIGEST_LEN : 0;
	uint32_t len = TCPX_OFFER_FIXED_LEN + dlen + o->meta.name_len;
	frame_header_encode(out, TCPX_FRAME_OFFER, len);
	put_meta(p, &o->meta);
	p[30] = o->policy;
	p[31] = o->flags;
	if (dlen)
		memcpy(p + TCPX_OFFER_FIXED_LEN, o->digest, DIGEST_LEN);
	memcpy(p + TCPX_OFFER_FIXED_LEN + dlen, o->meta.name, o->meta.name_len);
	return TCPX_FRAME_HEADER_LEN + len;
}

size_t proto_encode_answer(uint8_t *out, const struct tcpx_answer *a)
{
	uint8_t *p = out + TCPX_FRAME_HEADER_LEN;
	uint16_t ml = a->msg_len > TCPX_MSG_MAX ? TCPX_MSG_MAX : a->msg_len;
	frame_header_encode(out, TCPX_FRAME_ANSWER, TCPX_ANSWER_FIXED_LEN + ml);
	be32_store(p, a->id);
	p[4] = a->disposition;
	p[5] = 0;
	be16_store(p + 6, a->code);
	be64_store(p + 8, a->offset);
	if (a->digest)
		memcpy(p + 16, a->digest, DIGEST_LEN);
	else
		memset(p + 16, 0, DIGEST_LEN);
	be16_store(p + 80, ml);
	if (ml)
		memcpy(p + TCPX_ANSWER_FIXED_LEN, a->msg, ml);
	return TCPX_FRAME_HEADER_LEN + TCPX_ANSWER_FIXED_LEN + ml;
}

size_t proto_encode_resume(uint8_t *out, const struct tcpx_file_meta *m,
			   uint64_t offset)
{
	uint8_t *p = out + TCPX_FRAME_HEADER_LEN;
	uint32_t len = TCPX_RESUME_FIXED_LEN + m->name_len;
	frame_header_encode(out, TCPX_FRAME_RESUME, len);
	put_meta(p, m);
	be64_store(p + 30, offset);
	memcpy(p + TCPX_RESUME_FIXED_LEN, m->name, m->name_len);
	return TCPX_FRAME_HEADER_LEN + len;
}

int proto_decode_offer(const struct tcpx_frame *f, struct tcpx_offer *o)
{
	const uint8_t *p = f->payload;
	uint32_t dlen;
	if (f->type != TCPX_FRAME_OFFER || f->length < TCPX_OFFER_FIXED_LEN)
		return -TCPX_E_MALFORMED;
	get_meta(p, &o->meta);
	o->policy = p[30];
	o->flags = p[31];
	dlen = (o->flags & TCPX_OFFER_CHECKSUM) ? DIGEST_LEN : 0;
	o->digest = dlen ? p + TCPX_OFFER_FIXED_LEN : NULL;
	o->meta.name = p + TCPX_OFFER_FIXED_LEN + dlen;
	if (f->length != TCPX_OFFER_FIXED_LEN + dlen + (uint32_t)o->meta.name_len ||
	    !meta_valid(&o->meta) || o->policy > TCPX_POLICY_KEEP_BOTH ||
	    (o->flags & ~(TCPX_OFFER_RESUME | TCPX_OFFER_CHECKSUM)) != 0)
		return -TCPX_E_MALFORMED;
	return 0;
}

int proto_decode_answer(const struct tcpx_frame *f, struct tcpx_answer *a)
{
	const uint8_t *p = f->payload;
	if (f->type != TCPX_FRAME_ANSWER || f->length < TCPX_ANSWER_FIXED_LEN)
		return -TCPX_E_MALFORMED;
	a->id = be32_load(p);
	a->disposition = p[4];
	a->code = be16_load(p + 6);
	a->offset = be64_load(p + 8);
	a->digest = p + 16;
	a->msg_len = be16_load(p + 80);
	a->msg = p + TCPX_ANSWER_FIXED_LEN;
	if (p[5] != 0 || a->disposition > TCPX_ANSWER_MAX_DISPOSITION ||
	    a->msg_len > TCPX_MSG_MAX ||
	    f->length != TCPX_ANSWER_FIXED_LEN + (uint32_t)a->msg_len)
		return -TCPX_E_MALFORMED;
	/* A refusal says why; nothing else carries a code; only RESUME an
	 * offset. */
	if ((a->disposition == TCPX_ANSWER_REFUSED) != (a->code != 0) ||
	    (a->disposition == TCPX_ANSWER_RESUME) != (a->offset != 0))
		return -TCPX_E_MALFORMED;
	return 0;
}

int proto_decode_resume(const struct tcpx_frame *f, struct tcpx_file_meta *m,
			uint64_t *offset)
{
	const uint8_t *p = f->payload;
	if (f->type != TCPX_FRAME_RESUME || f->length < TCPX_RESUME_FIXED_LEN)
		return -TCPX_E_MALFORMED;
	get_meta(p, m);
	*offset = be64_load(p + 30);
	m->name = p + TCPX_RESUME_FIXED_LEN;
	if (f->length != TCPX_RESUME_FIXED_LEN + (uint32_t)m->name_len ||
	    !meta_valid(m) || *offset == 0 || *offset > m->size)
		return -TCPX_E_MALFORMED;
	return 0;
}

int proto_decode_hello(const struct tcpx_frame *f, struct tcpx_hello *h)
{
	const uint8_t *p = f->payload;
	if (f->type != TCPX_FRAME_HELLO || f->length < TCPX_HELLO_LEN)
		return -TCPX_E_MALFORMED;
	if (memcmp(p, TCPX_MAGIC, 4) != 0)
		return -TCPX_E_BAD_MAGIC;
	h->version_min = be16_load(p + 4);
	h->version_max = be16_load(p + 6);
	h->caps = be64_load(p + 8);
	if (h->version_min > h->version_max || h->version_min == 0)
		return -TCPX_E_MALFORMED;
	return 0;
}

int proto_decode_file(const struct tcpx_frame *f, struct tcpx_file_meta *m)
{
	const uint8_t *p = f->payload;
	if (f->type != TCPX_FRAME_FILE || f->length < TCPX_FILE_FIXED_LEN)
		return -TCPX_E_MALFORMED;
	get_meta(p, m);
	m->name = p + TCPX_FILE_FIXED_LEN;
	if (f->length != TCPX_FILE_FIXED_LEN + (uint32_t)m->name_len ||
	    !meta_valid(m))
		return -TCPX_E_MALFORMED;
	return 0;
}

int proto_decode_dir(const struct tcpx_frame *f, struct tcpx_file_meta *m)
{
	const uint8_t *p = f->payload;
	if (f->type != TCPX_FRAME_DIR || f->length < TCPX_DIR_FIXED_LEN)
		return -TCPX_E_MALFORMED;
	m->id = be32_load(p);
	m->size = 0;
	m->mode = be32_load(p + 4);
	m->mtime_sec = (int64_t)be64_load(p + 8);
	m->mtime_nsec = be32_load(p + 16);
	m->name_len = be16_load(p + 20);
	m->name = p + TCPX_DIR_FIXED_LEN;
	if (f->length != TCPX_DIR_FIXED_LEN + (uint32_t)m->name_len ||
	    m->name_len == 0 || m->name_len > TCPX_NAME_MAX ||
	    (m->mode & ~TCPX_MODE_MASK) != 0 || m->mtime_nsec >= 1000000000u)
		return -TCPX_E_MALFORMED;
	return 0;
}

int proto_decode_data(const struct tcpx_frame *f, struct tcpx_data *d)
{
	const uint8_t *p = f->payload;
	if (f->type != TCPX_FRAME_DATA || f->length <= TCPX_DATA_HEADER_LEN)
		return -TCPX_E_MALFORMED;
	d->encoding = p[0];
	d->raw_len = be32_load(p + 4);
	d->data_len = f->length - TCPX_DATA_HEADER_LEN;
	d->data = p + TCPX_DATA_HEADER_LEN;
	if (p[1] || p[2] || p[3] || d->raw_len == 0 ||
	    d->raw_len > TCPX_CHUNK_MAX)
		return -TCPX_E_MALFORMED;
	if (d->encoding == TCPX_ENCODING_RAW)
		return d->data_len == d->raw_len ? 0 : -TCPX_E_MALFORMED;
	if (d->encoding == TCPX_ENCODING_ZLIB || d->encoding == TCPX_ENCODING_ZSTD)
		return d->data_len <= TCPX_CHUNK_MAX ? 0 : -TCPX_E_MALFORMED;
	return -TCPX_E_MALFORMED;
}

int proto_decode_end(const struct tcpx_frame *f, const uint8_t **digest)
{
	if (f->type != TCPX_FRAME_END || f->length != DIGEST_LEN)
		return -TCPX_E_MALFORMED;
	*digest = f->payload;
	return 0;
}

int proto_decode_stream_end(const struct tcpx_frame *f, uint64_t *size,
			    const uint8_t **digest)
{
	if (f->type != TCPX_FRAME_STREAM_END || f->length != TCPX_STREAM_END_LEN)
		return -TCPX_E_MALFORMED;
	*size = be64_load(f->payload);
	*digest = f->payload + 8;
	return *size == TCPX_SIZE_UNKNOWN ? -TCPX_E_MALFORMED : 0;
}

int proto_decode_empty(const struct tcpx_frame *f)
{
	return f->length == 0 ? 0 : -TCPX_E_MALFORMED;
}

int proto_decode_result(const struct tcpx_frame *f, struct tcpx_result *r)
{
	const uint8_t *p = f->payload;
	if (f->type != TCPX_FRAME_RESULT || f->length < TCPX_RESULT_FIXED_LEN)
		return -TCPX_E_MALFORMED;
	r->id = be32_load(p);
	r->code = be16_load(p + 4);
	r->msg_len = be16_load(p + 6);
	r->digest = p + 8;
	r->msg = p + TCPX_RESULT_FIXED_LEN;
	if (r->msg_len > TCPX_MSG_MAX ||
	    f->length != TCPX_RESULT_FIXED_LEN + (uint32_t)r->msg_len)
		return -TCPX_E_MALFORMED;
	return 0;
}

int proto_decode_error(const struct tcpx_frame *f, struct tcpx_error *e)
{
	const uint8_t *p = f->payload;
	if (f->type != TCPX_FRAME_ERROR || f->length < TCPX_ERROR_FIXED_LEN)
		return -TCPX_E_MALFORMED;
	e->code = be16_load(p);
	e->msg_len = be16_load(p + 2);
	e->msg = p + TCPX_ERROR_FIXED_LEN;
	if (e->msg_len > TCPX_MSG_MAX ||
	    f->length != TCPX_ERROR_FIXED_LEN + (uint32_t)e->msg_len)
		return -TCPX_E_MALFORMED;
	return 0;
}

/* STREAMS and JOIN share one layout: the token, then a u16. */
static size_t encode_token(uint8_t *out, uint8_t type, const uint8_t *token,
			   uint16_t n)
{
	frame_header_encode(out, type, TCPX_STREAMS_LEN);
	memcpy(out + TCPX_FRAME_HEADER_LEN, token, TCPX_JOIN_TOKEN_LEN);
	be16_store(out + TCPX_FRAME_HEADER_LEN + TCPX_JOIN_TOKEN_LEN, n);
	return TCPX_FRAME_HEADER_LEN + TCPX_STREAMS_LEN;
}

size_t proto_encode_streams(uint8_t *out, const uint8_t *token, uint16_t n)
{
	return encode_token(out, TCPX_FRAME_STREAMS, token, n);
}

size_t proto_encode_join(uint8_t *out, const uint8_t *token, uint16_t index)
{
	return encode_token(out, TCPX_FRAME_JOIN, token, index);
}

size_t proto_encode_place(uint8_t *out, uint32_t id, uint64_t offset)
{
	frame_header_encode(out, TCPX_FRAME_PLACE, TCPX_PLACE_LEN);
	be32_store(out + TCPX_FRAME_HEADER_LEN, id);
	be64_store(out + TCPX_FRAME_HEADER_LEN + 4, offset);
	return TCPX_FRAME_HEADER_LEN + TCPX_PLACE_LEN;
}

static int decode_token(const struct tcpx_frame *f, uint8_t type,
			struct tcpx_join *j)
{
	if (f->type != type || f->length != TCPX_STREAMS_LEN)
		return -TCPX_E_MALFORMED;
	j->token = f->payload;
	j->n = be16_load(f->payload + TCPX_JOIN_TOKEN_LEN);
	return j->n > TCPX_STREAMS_MAX ? -TCPX_E_MALFORMED : 0;
}

int proto_decode_streams(const struct tcpx_frame *f, struct tcpx_join *j)
{
	return decode_token(f, TCPX_FRAME_STREAMS, j);
}

int proto_decode_join(const struct tcpx_frame *f, struct tcpx_join *j)
{
	int rc = decode_token(f, TCPX_FRAME_JOIN, j);
	return rc == 0 && j->n == 0 ? -TCPX_E_MALFORMED : rc;
}

int proto_decode_place(const struct tcpx_frame *f, uint32_t *id,
		       uint64_t *offset)
{
	if (f->type != TCPX_FRAME_PLACE || f->length != TCPX_PLACE_LEN)
		return -TCPX_E_MALFORMED;
	*id = be32_load(f->payload);
	*offset = be64_load(f->payload + 4);
	return *id == 0 ? -TCPX_E_MALFORMED : 0;
}
