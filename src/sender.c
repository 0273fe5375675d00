/* sender: the sending side of a TCPX session, sans I/O (sender.h). */
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "digest.h"
#include "error.h"
#include "sender.h"

/* Two maximal frames: one being written out while the next is built. */
#define SENDER_OUT_CAP (2u * TCPX_FRAME_BUF_MAX)
#define DATA_OFFSET (TCPX_FRAME_HEADER_LEN + TCPX_DATA_HEADER_LEN)
/* The receiver only sends HELLO, RESULT, BYE and ERROR (at most 1104
 * bytes each); 64 KiB takes the RESULTs of many files in one recv(). */
#define SENDER_READER_CAP (64u * 1024u)

struct pending {
	uint32_t id;
	void *cookie;
	uint8_t ended;          /* END sent: our digest is known */
	uint8_t digest[DIGEST_LEN];
};

/* An item of the offer window: a file offered (answered or not) or a
 * directory queued, in item order, until it begins. */
enum slot_state { SLOT_WAITING, SLOT_GO, SLOT_DIR };

struct offer_slot {
	uint32_t id;
	void *cookie;
	uint8_t state;           /* enum slot_state */
	uint8_t flags;           /* the OFFER's TCPX_OFFER_* */
	uint8_t disposition;     /* SLOT_GO: SEND or RESUME */
	uint64_t size, offset;
	uint8_t prefix[DIGEST_LEN];
};

struct tcpx_sender {
	enum sender_state state;
	uint64_t want_caps, caps;
	struct chunk_compressor *comp;     /* NULL: no compression */
	struct frame_reader rd;
	struct outq out;
	uint8_t *scratch;                  /* file data awaiting compression */
	struct digest dg;
	uint32_t next_id;
	uint64_t cur_size, cur_sent;
	int cur_stream;         /* size unknown: ends where the input ends */
	int cur_refused;
	struct pending ring[SENDER_WINDOW];
	size_t ring_head, ring_count;
	uint64_t wire_bytes;
	struct offer_slot offers[TCPX_OFFER_WINDOW];
	size_t offer_head, offer_count;
	struct outq *data_q;    /* where chunks go (MULTI), else &out */
	int placing;            /* chunks go as PLACE + DATA */
	uint32_t cur_id;
	int streams_seen;
};

struct tcpx_sender *sender_new(uint64_t want_caps, int level)
{
	struct tcpx_sender *s = calloc(1, sizeof(*s));
	struct tcpx_hello h = { TCPX_VERSION, TCPX_VERSION, 0 };

	if (!s)
		return NULL;
	/* ZSTD asked for: zstd at level, zlib or raw if not granted. */
	if (level > 0)
		want_caps |= TCPX_CAP_ZLIB;
	else
		want_caps &= ~(TCPX_CAP_ZLIB | TCPX_CAP_ZSTD);
	s->want_caps = want_caps;
	s->next_id = 1;
	s->data_q = &s->out;
	if (outq_init(&s->out, SENDER_OUT_CAP + SENDER_LANE_RESERVE -
		      TCPX_FRAME_BUF_MAX, SENDER_LANE_RESERVE) < 0 ||
	    frame_reader_init(&s->rd, SENDER_READER_CAP, &proto_frame_limits) < 0)
		goto fail;
	if (level > 0) {
		s->comp = chunk_compressor_new_enc(want_caps & TCPX_CAP_ZSTD ?
						   TCPX_ENCODING_ZSTD :
						   TCPX_ENCODING_ZLIB, level);
		s->scratch = malloc(TCPX_CHUNK_MAX);
		if (!s->comp || !s->scratch)
			goto fail;
	}
	h.caps = want_caps;
	/* Not in wire_bytes: they count what follows the handshake. */
	outq_append(&s->out, proto_encode_hello(outq_tail(&s->out), &h));
	s->state = SS_HANDSHAKE;
	return s;
fail:
	sender_free(s);
	return NULL;
}

void sender_free(struct tcpx_sender *s)
{
	if (!s)
		return;
	frame_reader_free(&s->rd);
	chunk_compressor_free(s->comp);
	free(s->scratch);
	outq_free(&s->out);
	free(s);
}

enum sender_state sender_state(const struct tcpx_sender *s)
{
	return s->state;
}

struct frame_reader *sender_reader(struct tcpx_sender *s)
{
	return &s->rd;
}

struct outq *sender_output(struct tcpx_sender *s)
{
	return &s->out;
}

void sender_pending(const struct tcpx_sender *s, const uint8_t **p, size_t *len)
{
	outq_pending(&s->out, p, len);
}

void sender_sent(struct tcpx_sender *s, size_t n)
{
	outq_consume(&s->out, n);
}

int sender_has_room(const struct tcpx_sender *s)
{
	return outq_has_room(&s->out);
}

int sender_can_begin(const struct tcpx_sender *s)
{
	return s->state == SS_READY && sender_has_room(s) &&
	       s->ring_count < SENDER_WINDOW;
}

size_t sender_outstanding(const struct tcpx_sender *s)
{
	return s->ring_count;
}

uint64_t sender_wire_bytes(const struct tcpx_sender *s)
{
	return s->wire_bytes;
}

static void queue(struct tcpx_sender *s, size_t n)
{
	outq_append(&s->out, n);
	s->wire_bytes += n;
}

void sender_fail(struct tcpx_sender *s, int code, const char *msg)
{
	if (s->state == SS_FAILED || s->state == SS_DONE)
		return;
	/* An ERROR frame must not land inside a half-queued frame; the out
	 * buffer only ever holds whole frames, so appending is safe. */
	if (outq_tail_room(&s->out) >= TCPX_FRAME_HEADER_LEN +
	    TCPX_ERROR_FIXED_LEN + TCPX_MSG_MAX)
		queue(s, proto_encode_error(outq_tail(&s->out),
					    (uint16_t)code, msg));
	s->state = SS_FAILED;
}

static int proto_error(struct tcpx_sender *s, struct sender_event *ev,
		       int code, const char *msg)
{
	sender_fail(s, code, msg);
	ev->type = SEV_PROTO_ERROR;
	ev->code = code;
	ev->msg = (const uint8_t *)msg;
	ev->msg_len = strlen(msg);
	return 0;
}

/* Our state in proto's terms; which frame types that allows is proto's
 * table.  No default: a new state must be placed here (-Wswitch). */
static enum tcpx_phase phase_of(enum sender_state st)
{
	switch (st) {
	case SS_HANDSHAKE: return TCPX_PHASE_HANDSHAKE;
	case SS_READY: return TCPX_PHASE_READY;
	case SS_IN_FILE: return TCPX_PHASE_IN_FILE;
	case SS_BYE_SENT:
	case SS_DONE:           /* sender_next() reads nothing in these two */
	case SS_FAILED:
		break;
	}
	return TCPX_PHASE_CLOSING;
}

static int type_allowed(const struct tcpx_sender *s, uint8_t type)
{
	return proto_accepts(TCPX_ROLE_SENDER, phase_of(s->state), type);
}

static struct offer_slot *slot_at(struct tcpx_sender *s, size_t i)
{
	return &s->offers[(s->offer_head + i) % TCPX_OFFER_WINDOW];
}

static void pop_offer(struct tcpx_sender *s)
{
	s->offer_head = (s->offer_head + 1) % TCPX_OFFER_WINDOW;
	s->offer_count--;
}

/* An ANSWER: for the oldest offer still waiting for one.  A final one
 * (skipped, refused) leaves the window at once; SEND and RESUME wait for
 * their turn to begin. */
static int on_answer(struct tcpx_sender *s, const struct tcpx_frame *f,
		     struct sender_event *ev)
{
	struct tcpx_answer a;
	struct offer_slot *o = NULL;
	size_t i;

	if (proto_decode_answer(f, &a) < 0)
		return proto_error(s, ev, TCPX_E_MALFORMED, "malformed ANSWER");
	for (i = 0; i < s->offer_count; i++)
		if (slot_at(s, i)->state == SLOT_WAITING) {
			o = slot_at(s, i);
			break;
		}
	if (!o)
		return proto_error(s, ev, TCPX_E_UNEXPECTED,
				   "ANSWER for no OFFER");
	if (a.id != o->id)
		return proto_error(s, ev, TCPX_E_UNEXPECTED,
				   "ANSWER out of order");
	if (a.disposition == TCPX_ANSWER_RESUME &&
	    (!(o->flags & TCPX_OFFER_RESUME) || a.offset > o->size))
		return proto_error(s, ev, TCPX_E_UNEXPECTED,
				   "ANSWER resumes what was not offered so");
	if (a.disposition == TCPX_ANSWER_SAME_DIGEST &&
	    !(o->flags & TCPX_OFFER_CHECKSUM))
		return proto_error(s, ev, TCPX_E_UNEXPECTED,
				   "ANSWER compares a digest that was not sent");
	if (a.disposition == TCPX_ANSWER_SAME_TIME &&
	    o->size == TCPX_SIZE_UNKNOWN && sender_has_stream(s))
		return proto_error(s, ev, TCPX_E_UNEXPECTED,
				   "ANSWER finds a stream identical");
	ev->type = SEV_ANSWER;
	ev->id = a.id;
	ev->cookie = o->cookie;
	ev->disposition = a.disposition;
	ev->code = a.code;
	ev->offset = a.offset;
	ev->msg = a.msg;
	ev->msg_len = a.msg_len;
	if (a.disposition == TCPX_ANSWER_SEND ||
	    a.disposition == TCPX_ANSWER_RESUME) {
		o->state = SLOT_GO;
		o->disposition = a.disposition;
		o->offset = a.offset;
		memcpy(o->prefix, a.digest, DIGEST_LEN);
		return 0;
	}
	/* Final: out of the window, and every slot before it is GO or a
	 * directory, so it is taken out where it stands. */
	for (; i > 0; i--)
		*slot_at(s, i) = *slot_at(s, i - 1);
	pop_offer(s);
	return 0;
}

static int on_result(struct tcpx_sender *s, const struct tcpx_frame *f,
		     struct sender_event *ev)
{
	struct tcpx_result r;
	struct pending *p;

	if (proto_decode_result(f, &r) < 0)
		return proto_error(s, ev, TCPX_E_MALFORMED, "malformed RESULT");
	if (s->ring_count == 0)
		return proto_error(s, ev, TCPX_E_UNEXPECTED,
				   "RESULT for no file");
	p = &s->ring[s->ring_head];
	if (r.id != p->id)
		return proto_error(s, ev, TCPX_E_UNEXPECTED,
				   "RESULT out of order");
	if (r.code == 0 && !p->ended)
		return proto_error(s, ev, TCPX_E_UNEXPECTED,
				   "RESULT accepted a file before its END");
	ev->type = SEV_RESULT;
	ev->id = r.id;
	ev->cookie = p->cookie;
	ev->code = r.code;
	ev->msg = r.msg;
	ev->msg_len = r.msg_len;
	ev->digest = NULL;
	if (r.code == 0) {
		/* Both sides verify: the receiver's digest must be ours. */
		if (digest_equal(r.digest, p->digest))
			ev->digest = p->digest;
		else
			ev->code = TCPX_E_DIGEST;
	} else if (s->state == SS_IN_FILE && !p->ended &&
		   s->ring_count == 1) {
		s->cur_refused = 1;     /* refused while we still send it */
	}
	s->ring_head = (s->ring_head + 1) % SENDER_WINDOW;
	s->ring_count--;
	return 0;
}

/* The body of sender_next(); its int is only for tail calls. */
static int next_event(struct tcpx_sender *s, struct sender_event *ev)
{
	struct tcpx_frame f;
	struct tcpx_hello h;
	struct tcpx_error e;
	int rc;

	memset(ev, 0, sizeof(*ev));
	if (s->state == SS_FAILED || s->state == SS_DONE)
		return 0;
	rc = frame_reader_next(&s->rd, &f);
	if (rc < 0)
		return proto_error(s, ev, -rc, tcpx_strerror(rc));
	if (rc == 0) {
		if (frame_reader_buffered(&s->rd) >= TCPX_FRAME_HEADER_LEN &&
		    !type_allowed(s, f.type))
			return proto_error(s, ev, TCPX_E_UNEXPECTED,
					   "unexpected frame type");
		return 0;
	}
	if (!type_allowed(s, f.type))
		return proto_error(s, ev, TCPX_E_UNEXPECTED,
				   "unexpected frame type");
	switch (f.type) {
	case TCPX_FRAME_HELLO:
		rc = proto_decode_hello(&f, &h);
		if (rc < 0)
			return proto_error(s, ev, -rc, "bad HELLO from receiver");
		if (h.version_min != TCPX_VERSION || h.version_max != TCPX_VERSION)
			return proto_error(s, ev, TCPX_E_VERSION,
					   "receiver chose a version we did not offer");
		if (h.caps & ~s->want_caps)
			return proto_error(s, ev, TCPX_E_UNEXPECTED,
					   "receiver granted capabilities we did not ask for");
		/* No silent downgrade: asked for SECURE, no SECURE, no
		 * session (and nothing sent in the clear). */
		if ((s->want_caps & TCPX_CAP_SECURE) &&
		    !(h.caps & TCPX_CAP_SECURE))
			return proto_error(s, ev, TCPX_E_INSECURE,
					   "the receiver does not offer encryption "
					   "(started without --key?): nothing sent");
		s->caps = h.caps;
		if (s->comp && !(s->caps & TCPX_CAP_ZSTD) &&
		    chunk_compressor_encoding(s->comp) == TCPX_ENCODING_ZSTD) {
			/* zstd not granted: zlib at its default level. */
			chunk_compressor_free(s->comp);
			s->comp = s->caps & TCPX_CAP_ZLIB ?
				  chunk_compressor_new(TCPX_ZLIB_FALLBACK_LEVEL) : NULL;
			if (s->caps & TCPX_CAP_ZLIB && !s->comp)
				return proto_error(s, ev, TCPX_E_INTERNAL, "out of memory");
		}
		if (s->comp && !(s->caps & TCPX_CAP_ZLIB) &&
		    chunk_compressor_encoding(s->comp) == TCPX_ENCODING_ZLIB) {
			chunk_compressor_free(s->comp);
			s->comp = NULL;
		}
		s->state = SS_READY;
		ev->type = SEV_HELLO;
		ev->caps = s->caps;
		return 0;
	case TCPX_FRAME_RESULT:
		return on_result(s, &f, ev);
	case TCPX_FRAME_ANSWER:
		if (!(s->caps & TCPX_CAP_OFFER))
			return proto_error(s, ev, TCPX_E_UNEXPECTED,
					   "ANSWER without the OFFER capability");
		return on_answer(s, &f, ev);
	case TCPX_FRAME_STREAMS: {
		struct tcpx_join j;
		if (!(s->caps & TCPX_CAP_MULTI) || s->streams_seen)
			return proto_error(s, ev, TCPX_E_UNEXPECTED,
					   "STREAMS without the MULTI capability "
					   "or twice");
		if (proto_decode_streams(&f, &j) < 0)
			return proto_error(s, ev, TCPX_E_MALFORMED,
					   "malformed STREAMS");
		s->streams_seen = 1;
		ev->type = SEV_STREAMS;
		ev->token = j.token;
		ev->offset = j.n;
		return 0;
	}
	case TCPX_FRAME_BYE:
		if (proto_decode_empty(&f) < 0)
			return proto_error(s, ev, TCPX_E_MALFORMED, "malformed BYE");
		if (s->state != SS_BYE_SENT || s->ring_count != 0)
			return proto_error(s, ev, TCPX_E_UNEXPECTED,
					   "BYE before all RESULTs");
		s->state = SS_DONE;
		ev->type = SEV_BYE;
		return 0;
	case TCPX_FRAME_ERROR:
		ev->type = SEV_PEER_ERROR;
		if (proto_decode_error(&f, &e) == 0) {
			ev->code = e.code;
			ev->msg = e.msg;
			ev->msg_len = e.msg_len;
		} else {
			ev->code = TCPX_E_MALFORMED;
		}
		s->state = SS_FAILED;
		return 0;
	}
	return proto_error(s, ev, TCPX_E_UNEXPECTED, "unexpected frame type");
}

/* The id a FILE takes: the next of the sequence, or, with offers, that
 * of the window's head, which must be a file answered SEND or RESUME
 * (the head leaves the window).  0 when there is none. */
static uint32_t take_file_id(struct tcpx_sender *s)
{
	struct offer_slot *o;
	if (!sender_has_offer(s))
		return s->next_id ? s->next_id++ : 0;
	if (s->offer_count == 0)
		return 0;
	o = slot_at(s, 0);
	if (o->state != SLOT_GO)
		return 0;
	uint32_t id = o->id;
	pop_offer(s);
	return id;
}

static int begin_at(struct tcpx_sender *s, struct tcpx_file_meta *meta,
		    void *cookie, uint64_t offset, const struct digest *prefix)
{
	struct pending *p;

	if (!sender_can_begin(s))
		return -TCPX_E_INTERNAL;
	if (meta->name_len == 0 || meta->name_len > TCPX_NAME_MAX)
		return -TCPX_E_BAD_NAME;
	if (meta->size == TCPX_SIZE_UNKNOWN && !sender_has_stream(s))
		return -TCPX_E_UNEXPECTED;
	if (offset > meta->size || (offset && meta->size == TCPX_SIZE_UNKNOWN))
		return -TCPX_E_INTERNAL;
	if (sender_has_offer(s) && (s->offer_count == 0 ||
				    slot_at(s, 0)->state != SLOT_GO ||
				    (offset && offset != slot_at(s, 0)->offset)))
		return -TCPX_E_INTERNAL;
	if (!sender_has_offer(s) && offset)
		return -TCPX_E_INTERNAL;
	if (!sender_has_offer(s) && s->next_id == 0)
		return -TCPX_E_TOO_MANY_FILES;  /* 2^32 - 1 files: no wrap */
	meta->id = take_file_id(s);
	s->cur_id = meta->id;
	meta->mode &= TCPX_MODE_MASK;
	if (offset)
		queue(s, proto_encode_resume(outq_tail(&s->out), meta, offset));
	else
		queue(s, proto_encode_file(outq_tail(&s->out), meta));
	p = &s->ring[(s->ring_head + s->ring_count) % SENDER_WINDOW];
	p->id = meta->id;
	p->cookie = cookie;
	p->ended = 0;
	s->ring_count++;
	if (prefix)
		s->dg = *prefix;
	else
		digest_init(&s->dg);
	s->cur_size = meta->size;
	s->cur_stream = meta->size == TCPX_SIZE_UNKNOWN;
	s->cur_sent = offset;
	s->cur_refused = 0;
	s->state = SS_IN_FILE;
	return 0;
}

int sender_begin_file(struct tcpx_sender *s, struct tcpx_file_meta *meta,
		      void *cookie)
{
	return begin_at(s, meta, cookie, 0, NULL);
}

int sender_begin_resumed(struct tcpx_sender *s, struct tcpx_file_meta *meta,
			 void *cookie, uint64_t offset,
			 const struct digest *prefix)
{
	if (offset == 0 || !prefix)
		return -TCPX_E_INTERNAL;
	return begin_at(s, meta, cookie, offset, prefix);
}

int sender_has_offer(const struct tcpx_sender *s)
{
	return s->state != SS_HANDSHAKE && (s->caps & TCPX_CAP_OFFER);
}

static int window_open(const struct tcpx_sender *s)
{
	return s->state == SS_READY && sender_has_offer(s) &&
	       sender_has_room(s) && s->offer_count < TCPX_OFFER_WINDOW;
}

int sender_offer(struct tcpx_sender *s, struct tcpx_offer *o, void *cookie)
{
	struct offer_slot *slot;

	if (!window_open(s) ||
	    (o->flags & ~(TCPX_OFFER_RESUME | TCPX_OFFER_CHECKSUM)) ||
	    o->policy > TCPX_POLICY_KEEP_BOTH ||
	    ((o->flags & TCPX_OFFER_CHECKSUM) && !o->digest))
		return -TCPX_E_INTERNAL;
	if (o->meta.name_len == 0 || o->meta.name_len > TCPX_NAME_MAX)
		return -TCPX_E_BAD_NAME;
	/* A stream's digest is not known before its end, nor can it resume. */
	if (o->meta.size == TCPX_SIZE_UNKNOWN && !sender_has_stream(s))
		return -TCPX_E_UNEXPECTED;
	if (o->meta.size == TCPX_SIZE_UNKNOWN && o->flags)
		return -TCPX_E_INTERNAL;
	if (s->next_id == 0)
		return -TCPX_E_TOO_MANY_FILES;
	o->meta.id = s->next_id++;
	o->meta.mode &= TCPX_MODE_MASK;
	queue(s, proto_encode_offer(outq_tail(&s->out), o));
	slot = slot_at(s, s->offer_count++);
	*slot = (struct offer_slot){ .id = o->meta.id, .cookie = cookie,
				     .state = SLOT_WAITING, .flags = o->flags,
				     .size = o->meta.size };
	return 0;
}

int sender_queue_dir(struct tcpx_sender *s, void *cookie)
{
	if (!window_open(s))
		return -TCPX_E_INTERNAL;
	*slot_at(s, s->offer_count++) = (struct offer_slot){
		.cookie = cookie, .state = SLOT_DIR };
	return 0;
}

int sender_offer_head(const struct tcpx_sender *s, void **cookie, int *is_dir,
		      int *disposition, uint64_t *offset,
		      const uint8_t **prefix_digest)
{
	const struct offer_slot *o;
	if (s->offer_count == 0)
		return 0;
	o = &s->offers[s->offer_head];
	*cookie = o->cookie;
	*is_dir = o->state == SLOT_DIR;
	*disposition = o->disposition;
	*offset = o->state == SLOT_GO ? o->offset : 0;
	*prefix_digest = o->prefix;
	return 1;
}

int sender_begin_dir(struct tcpx_sender *s, struct tcpx_file_meta *meta,
		     void *cookie)
{
	struct pending *p;

	if (!sender_can_begin(s))
		return -TCPX_E_INTERNAL;
	if (!sender_has_tree(s))
		return -TCPX_E_UNEXPECTED;
	if (sender_has_offer(s) && (s->offer_count == 0 ||
				    slot_at(s, 0)->state != SLOT_DIR))
		return -TCPX_E_INTERNAL;
	if (meta->name_len == 0 || meta->name_len > TCPX_NAME_MAX)
		return -TCPX_E_BAD_NAME;
	if (s->next_id == 0)
		return -TCPX_E_TOO_MANY_FILES;
	if (sender_has_offer(s))
		pop_offer(s);
	meta->id = s->next_id++;
	meta->mode &= TCPX_MODE_MASK;
	queue(s, proto_encode_dir(outq_tail(&s->out), meta));
	p = &s->ring[(s->ring_head + s->ring_count) % SENDER_WINDOW];
	p->id = meta->id;
	p->cookie = cookie;
	/* Nothing to verify: its RESULT must carry zeros (tcpxfer(5)). */
	p->ended = 1;
	memset(p->digest, 0, DIGEST_LEN);
	s->ring_count++;
	return 0;
}

int sender_has_tree(const struct tcpx_sender *s)
{
	return s->state != SS_HANDSHAKE && (s->caps & TCPX_CAP_TREE);
}

int sender_has_stream(const struct tcpx_sender *s)
{
	return s->state != SS_HANDSHAKE && (s->caps & TCPX_CAP_STREAM);
}

/* Chunks go as PLACE + DATA (MULTI), but a stream's: the receiver
 * takes those in order on the session's connection only. */
static int placed(const struct tcpx_sender *s)
{
	return s->placing && !s->cur_stream;
}

static struct outq *data_queue(const struct tcpx_sender *s)
{
	return placed(s) ? s->data_q : (struct outq *)&s->out;
}

/* Where a chunk's DATA frame begins: after its PLACE when placing. */
static uint8_t *data_frame(struct tcpx_sender *s)
{
	return outq_tail(data_queue(s)) +
	       (placed(s) ? TCPX_FRAME_HEADER_LEN + TCPX_PLACE_LEN : 0);
}

void sender_set_lane(struct tcpx_sender *s, struct outq *q)
{
	s->placing = 1;
	s->data_q = q ? q : &s->out;
}

uint64_t sender_caps(const struct tcpx_sender *s)
{
	return s->caps;
}

int sender_data_room(const struct tcpx_sender *s)
{
	return outq_has_room(data_queue(s));
}

uint8_t *sender_chunk_buffer(struct tcpx_sender *s, size_t *cap)
{
	*cap = TCPX_CHUNK_MAX;
	if (s->state != SS_IN_FILE || !sender_data_room(s)) {
		*cap = 0;
		return NULL;
	}
	/* Raw chunks are read straight into their place in the frame. */
	return s->comp ? s->scratch : data_frame(s) + DATA_OFFSET;
}

int sender_compressing(const struct tcpx_sender *s)
{
	return s->comp != NULL;
}

uint8_t sender_encoding(const struct tcpx_sender *s)
{
	return s->comp ? chunk_compressor_encoding(s->comp) : TCPX_ENCODING_RAW;
}

/* Hashes raw, puts the chunk data (compressed or not) after a DATA header
 * and queues the frame.  data may already sit in place (raw reads). */
static int frame_chunk(struct tcpx_sender *s, const uint8_t *raw, size_t n,
		       const uint8_t *comp, size_t clen)
{
	uint8_t *frame = data_frame(s);
	uint8_t *data = frame + DATA_OFFSET;

	if (s->state != SS_IN_FILE || n == 0 || n > TCPX_CHUNK_MAX ||
	    clen >= n || !sender_data_room(s))
		return -TCPX_E_INTERNAL;
	if (n > s->cur_size - s->cur_sent)
		return -TCPX_E_SIZE;
	digest_update(&s->dg, raw, n);
	if (clen && comp != data)
		memcpy(data, comp, clen);
	else if (!clen && raw != data)
		memcpy(data, raw, n);
	size_t len = proto_encode_data_header(frame, clen ? sender_encoding(s) :
					      TCPX_ENCODING_RAW, (uint32_t)n,
					      (uint32_t)(clen ? clen : n));
	if (placed(s))
		len += proto_encode_place(outq_tail(data_queue(s)), s->cur_id,
					  s->cur_sent);
	outq_append(data_queue(s), len);
	s->wire_bytes += len;
	s->cur_sent += n;
	return 0;
}

int sender_commit_prepared(struct tcpx_sender *s, const uint8_t *raw,
			   size_t n, const uint8_t *comp, size_t clen)
{
	if (clen && !s->comp)
		return -TCPX_E_INTERNAL;
	return frame_chunk(s, raw, n, comp, clen);
}

int sender_commit_chunk(struct tcpx_sender *s, size_t n)
{
	uint8_t *data = data_frame(s) + DATA_OFFSET;
	size_t clen = 0;

	/* Room first: compression writes into the output buffer. */
	if (s->state != SS_IN_FILE || n == 0 || n > TCPX_CHUNK_MAX ||
	    !sender_data_room(s))
		return -TCPX_E_INTERNAL;
	if (!s->comp)   /* read straight into its place in the frame */
		return frame_chunk(s, data, n, NULL, 0);
	/* Compress straight into the frame, too; frame_chunk() then only
	 * hashes and writes the header. */
	if (n <= s->cur_size - s->cur_sent)
		clen = chunk_compress(s->comp, s->scratch, n, data, TCPX_CHUNK_MAX);
	return frame_chunk(s, s->scratch, n, clen ? data : NULL, clen);
}

static struct pending *current(struct tcpx_sender *s)
{
	return &s->ring[(s->ring_head + s->ring_count - 1) % SENDER_WINDOW];
}

int sender_end_file(struct tcpx_sender *s)
{
	if (s->state != SS_IN_FILE || !sender_has_room(s))
		return -TCPX_E_INTERNAL;
	if (!s->cur_stream && s->cur_sent != s->cur_size)
		return -TCPX_E_SIZE;
	if (s->cur_refused) /* its RESULT came already: nothing to verify */
		return sender_abort_file(s);
	struct pending *p = current(s);
	digest_final(&s->dg, p->digest);
	p->ended = 1;
	/* A stream's size is known now: what was committed. */
	queue(s, s->cur_stream ?
	      proto_encode_stream_end(outq_tail(&s->out), s->cur_sent, p->digest) :
	      proto_encode_end(outq_tail(&s->out), p->digest));
	s->state = SS_READY;
	return 0;
}

int sender_abort_file(struct tcpx_sender *s)
{
	if (s->state != SS_IN_FILE || !sender_has_room(s))
		return -TCPX_E_INTERNAL;
	queue(s, proto_encode_empty(outq_tail(&s->out), TCPX_FRAME_ABORT));
	s->state = SS_READY;
	return 0;
}

int sender_current_refused(const struct tcpx_sender *s)
{
	return s->state == SS_IN_FILE && s->cur_refused;
}

int sender_bye(struct tcpx_sender *s)
{
	if (s->state != SS_READY || !sender_has_room(s) || s->offer_count)
		return -TCPX_E_INTERNAL;
	queue(s, proto_encode_empty(outq_tail(&s->out), TCPX_FRAME_BYE));
	s->state = SS_BYE_SENT;
	return 0;
}

uint64_t sender_file_left(const struct tcpx_sender *s)
{
	return s->state == SS_IN_FILE ? s->cur_size - s->cur_sent : 0;
}

/* The one place that knows in which order a caller drives the sender: a
 * file the receiver refused is given up, a file fully committed is ended,
 * and between files the next one begins, or BYE goes when none is left. */
enum sender_action sender_next_action(const struct tcpx_sender *s,
				      int more_files)
{
	switch (s->state) {
	case SS_FAILED:
	case SS_DONE:
		return SA_DONE;
	case SS_IN_FILE:
		/* A stream ends where its input ends: the caller's call. */
		if (s->cur_refused || (!s->cur_stream &&
				       s->cur_sent == s->cur_size)) {
			if (!sender_has_room(s))
				return SA_WAIT;
			return s->cur_refused ? SA_ABORT : SA_END;
		}
		return sender_data_room(s) ? SA_DATA : SA_WAIT;
	case SS_READY:
		if (sender_has_offer(s)) {
			/* Offers first, so the window stays full while files
			 * go; then the head, once its turn came. */
			if (more_files && window_open(s))
				return SA_OFFER;
			if (s->offer_count &&
			    s->offers[s->offer_head].state != SLOT_WAITING)
				return sender_can_begin(s) ? SA_BEGIN : SA_WAIT;
			if (!more_files && s->offer_count == 0)
				return sender_has_room(s) ? SA_BYE : SA_WAIT;
			return SA_WAIT;
		}
		if (!more_files)
			return sender_has_room(s) ? SA_BYE : SA_WAIT;
		return sender_can_begin(s) ? SA_BEGIN : SA_WAIT;
	case SS_HANDSHAKE:
	case SS_BYE_SENT:
		break;
	}
	return SA_WAIT;
}

void sender_next(struct tcpx_sender *s, struct sender_event *ev)
{
	(void)next_event(s, ev);
}

/* ---- extra connections (MULTI) ------------------------------------------ */

/* The receiver sends HELLO, JOINED, BYE and ERROR on one: small frames. */
#define LANE_READER_CAP (16u * 1024u)

int sender_lane_init(struct sender_lane *l, uint64_t want_caps,
		     uint64_t session_caps, const uint8_t *token,
		     uint16_t index)
{
	struct tcpx_hello h = { TCPX_VERSION, TCPX_VERSION, want_caps };
	memset(l, 0, sizeof(*l));
	l->caps = session_caps;
	memcpy(l->token, token, TCPX_JOIN_TOKEN_LEN);
	l->index = index;
	if (outq_init(&l->out, 2 * SENDER_LANE_RESERVE, SENDER_LANE_RESERVE) < 0 ||
	    frame_reader_init(&l->rd, LANE_READER_CAP, &proto_frame_limits) < 0) {
		sender_lane_free(l);
		return -TCPX_E_NOMEM;
	}
	outq_append(&l->out, proto_encode_hello(outq_tail(&l->out), &h));
	l->state = LANE_HELLO;
	return 0;
}

void sender_lane_free(struct sender_lane *l)
{
	frame_reader_free(&l->rd);
	outq_free(&l->out);
}

static void lane_fail(struct sender_lane *l, struct lane_event *ev, int code,
		      const char *msg)
{
	if (l->state != LANE_FAILED && l->state != LANE_DONE &&
	    outq_tail_room(&l->out) >= TCPX_FRAME_HEADER_LEN +
	    TCPX_ERROR_FIXED_LEN + TCPX_MSG_MAX)
		outq_append(&l->out, proto_encode_error(outq_tail(&l->out),
							(uint16_t)code, msg));
	l->state = LANE_FAILED;
	ev->type = LEV_ERROR;
	ev->code = code;
	ev->msg = (const uint8_t *)msg;
	ev->msg_len = strlen(msg);
}

void sender_lane_next(struct sender_lane *l, struct lane_event *ev)
{
	struct tcpx_frame f;
	struct tcpx_hello h;
	struct tcpx_error e;
	int rc;

	memset(ev, 0, sizeof(*ev));
	if (l->state == LANE_DONE || l->state == LANE_FAILED)
		return;
	rc = frame_reader_next(&l->rd, &f);
	if (rc < 0) {
		lane_fail(l, ev, -rc, tcpx_strerror(rc));
		return;
	}
	if (rc == 0)
		return;
	switch (f.type) {
	case TCPX_FRAME_HELLO:
		if (l->state != LANE_HELLO)
			break;
		if (proto_decode_hello(&f, &h) < 0 ||
		    h.version_min != TCPX_VERSION || h.caps != l->caps) {
			lane_fail(l, ev, TCPX_E_UNEXPECTED, "an extra connection "
				  "got other capabilities than the session");
			return;
		}
		ev->type = LEV_HELLO;
		return;
	case TCPX_FRAME_JOINED:
		if (l->state != LANE_JOINING || proto_decode_empty(&f) < 0)
			break;
		l->state = LANE_READY;
		ev->type = LEV_JOINED;
		return;
	case TCPX_FRAME_BYE:
		if (l->state != LANE_BYE_SENT || proto_decode_empty(&f) < 0)
			break;
		l->state = LANE_DONE;
		ev->type = LEV_BYE;
		return;
	case TCPX_FRAME_ERROR:
		l->state = LANE_FAILED;
		ev->type = LEV_ERROR;
		ev->code = TCPX_E_MALFORMED;
		if (proto_decode_error(&f, &e) == 0) {
			ev->code = e.code;
			ev->msg = e.msg;
			ev->msg_len = e.msg_len;
		}
		return;
	}
	lane_fail(l, ev, TCPX_E_UNEXPECTED, "unexpected frame on an extra "
		  "connection");
}

void sender_lane_join(struct sender_lane *l)
{
	if (l->state != LANE_HELLO)
		return;
	outq_append(&l->out, proto_encode_join(outq_tail(&l->out), l->token,
					       l->index));
	l->state = LANE_JOINING;
}

int sender_lane_bye(struct sender_lane *l)
{
	if (l->state != LANE_READY || !outq_has_room(&l->out))
		return -TCPX_E_INTERNAL;
	outq_append(&l->out, proto_encode_empty(outq_tail(&l->out),
						TCPX_FRAME_BYE));
	l->state = LANE_BYE_SENT;
	return 0;
}
