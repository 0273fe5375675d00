/* receiver: the receiving side of a TCPX session, sans I/O (receiver.h). */
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "chunk.h"
#include "digest.h"
#include "error.h"
#include "names.h"
#include "place.h"
#include "receiver.h"

/* Replies are small; 8 KiB batches the RESULTs of some 100 small files into
 * one write.  receiver_next() stops (REV_NONE) while less than one
 * maximal reply fits, so the caller flushes before more is processed. */
#define RECEIVER_OUT_CAP (8u * 1024u)
/* The receive buffer starts here and grows with what arrives (frame.h). */
#define RECEIVER_READER_MIN (16u * 1024u)
#define REPLY_MAX (TCPX_FRAME_HEADER_LEN + TCPX_ANSWER_FIXED_LEN + TCPX_MSG_MAX)
_Static_assert(TCPX_ANSWER_FIXED_LEN >= TCPX_RESULT_FIXED_LEN,
	       "REPLY_MAX must hold the largest reply");
/* Chunks kept in memory after a gap (MULTI): on loopback and LANs the
 * connections overtake each other by a few chunks, which then need no
 * read-back; past these, what comes after a gap is read back.  At most
 * 2 MiB per session, allocated as needed. */
#define RECEIVER_EARLY_MAX 8
/* Names remembered per session (OFFER): 8 bytes each in a table at most
 * half full, so 16 MiB at most; past it the session ends
 * (TOO_MANY_FILES), as at --max-files. */
#define NAMES_MAX (1u << 20)

enum receiver_state {
	RS_HELLO,       /* waiting for the sender's HELLO */
	RS_READY,       /* between files */
	RS_IN_FILE,     /* receiving a file we accepted */
	RS_SKIPPING,    /* a file whose RESULT was already sent */
	RS_VERDICT,     /* END seen, waiting for receiver_file_done() */
	RS_DIR,         /* DIR seen, waiting for receiver_file_done() */
	RS_OFFER,       /* OFFER seen, waiting for receiver_answer() */
	RS_DONE,        /* BYE or ERROR: nothing more is read */
	RS_END_WAIT,    /* MULTI: END seen, data still arriving elsewhere */
	RS_JOINING,     /* JOIN seen, waiting for receiver_join_accept() */
	RS_LANE,        /* a joined connection: PLACE and DATA only */
};

struct tcpx_receiver {
	struct receiver_config cfg;
	enum receiver_state state;
	uint64_t caps;
	struct frame_reader rd;
	struct outq out;
	uint8_t *inflated;
	struct chunk_unzstd *unzstd;       /* NULL until a zstd chunk */
	struct digest dg;
	uint32_t last_id, files;
	uint64_t cur_size, cur_recv;
	int cur_stream;         /* size unknown (STREAM): STREAM_END ends it */
	uint8_t digest[DIGEST_LEN];
	uint32_t cur_id;                /* the id RESULTs and ANSWERs carry */
	/* OFFER: the offers answered SEND or RESUME whose FILE or RESUME has
	 * not come, in order; what identifies each (a keyed hash of its
	 * FILE fields) and what was granted. */
	struct grant {
		uint32_t id;
		uint8_t overwrite, keep_both;
		uint64_t key, offset;
	} grants[TCPX_OFFER_WINDOW];
	size_t grant_head, grant_count;
	struct tcpx_offer cur_offer;    /* RS_OFFER (pointers into rd) */
	uint64_t cur_key;
	/* The names offered so far (keyed hashes, 0 = empty slot). */
	uint64_t *names;
	size_t names_cap, names_used;
	/* MULTI: the current file's data comes by offset (place.h). */
	int multi_file;
	struct place pl;
	uint64_t cursor;        /* where a DATA without PLACE goes */
	int place_pending;      /* a PLACE came: the next frame is its DATA */
	uint32_t place_id;
	uint64_t place_off;
	uint32_t begun_id;      /* the last file that began (FILE, RESUME) */
	int streams_due;        /* STREAMS not sent yet */
	uint8_t theirs[DIGEST_LEN];     /* RS_END_WAIT: END's digest */
	/* Chunks that came after a gap, kept to be hashed from memory once
	 * it fills (else they are read back from the disk). */
	struct early {
		uint64_t off;
		size_t len;         /* 0: a free slot */
		uint8_t *buf;       /* TCPX_CHUNK_MAX, at its first use */
	} early[RECEIVER_EARLY_MAX];
};

struct tcpx_receiver *receiver_new(const struct receiver_config *cfg)
{
	struct tcpx_receiver *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->cfg = *cfg;
	/* DIR and STREAM_END are no types at all until a HELLO grants TREE
	 * and STREAM (on_hello). */
	if (frame_reader_init_growing(&r->rd, RECEIVER_READER_MIN,
				      PROTO_READER_CAP,
				      proto_frame_limits_for(0)) < 0 ||
	    outq_init(&r->out, RECEIVER_OUT_CAP, REPLY_MAX) < 0) {
		receiver_free(r);
		return NULL;
	}
	r->state = RS_HELLO;
	return r;
}

void receiver_free(struct tcpx_receiver *r)
{
	if (!r)
		return;
	frame_reader_free(&r->rd);
	outq_free(&r->out);
	free(r->inflated);
	chunk_unzstd_free(r->unzstd);
	free(r->names);
	place_free(&r->pl);
	for (size_t i = 0; i < RECEIVER_EARLY_MAX; i++)
		free(r->early[i].buf);
	free(r);
}

struct frame_reader *receiver_reader(struct tcpx_receiver *r)
{
	return &r->rd;
}

struct outq *receiver_output(struct tcpx_receiver *r)
{
	return &r->out;
}

void receiver_pending(const struct tcpx_receiver *r, const uint8_t **p,
		      size_t *len)
{
	outq_pending(&r->out, p, len);
}

void receiver_sent(struct tcpx_receiver *r, size_t n)
{
	outq_consume(&r->out, n);
}

/* Appends one reply; callers checked outq_has_room() (REPLY_MAX). */
static void reply(struct tcpx_receiver *r, size_t n)
{
	outq_append(&r->out, n);
}

int receiver_finished(const struct tcpx_receiver *r)
{
	return r->state == RS_DONE;
}

int receiver_in_file(const struct tcpx_receiver *r)
{
	return r->state == RS_IN_FILE || r->state == RS_VERDICT ||
	       r->state == RS_END_WAIT;
}

int receiver_in_data(const struct tcpx_receiver *r)
{
	return r->state == RS_IN_FILE || r->state == RS_SKIPPING;
}

static void queue_result(struct tcpx_receiver *r, int code,
			 const uint8_t *digest, const char *msg)
{
	reply(r, proto_encode_result(outq_tail(&r->out), r->cur_id,
				     (uint16_t)code, digest, msg));
}

void receiver_fail(struct tcpx_receiver *r, int code, const char *msg)
{
	if (r->state == RS_DONE)
		return;
	if (outq_has_room(&r->out))
		reply(r, proto_encode_error(outq_tail(&r->out), (uint16_t)code,
					    msg));
	r->state = RS_DONE;
}

/* One spelling per verdict: the text that goes into RESULT is the text
 * the receiver's log shows.  The caller's detail (what the disk said)
 * comes first; without one, this table speaks. */
const char *receiver_verdict_message(int code, const char *detail)
{
	if (code == TCPX_OK)
		return NULL;
	if (detail)
		return detail;
	switch (code) {
	case TCPX_E_DIGEST:
		return "digest mismatch: data discarded";
	case TCPX_E_EXISTS:
		return "file exists (tcpget --overwrite replaces it)";
	default:
		return tcpx_strerror(code);
	}
}

const char *receiver_file_fail(struct tcpx_receiver *r, int code,
			       const char *detail)
{
	const char *msg = receiver_verdict_message(code, detail);
	if (r->state == RS_END_WAIT) {
		/* Its END came already: nothing more to skip. */
		queue_result(r, code, NULL, msg);
		r->multi_file = 0;
		r->state = RS_READY;
		return msg;
	}
	if (r->state != RS_IN_FILE)
		return msg;
	queue_result(r, code, NULL, msg);
	r->state = RS_SKIPPING;
	return msg;
}

const char *receiver_file_done(struct tcpx_receiver *r, int code,
			       const char *detail)
{
	/* A file kept under another name says which (keep-both). */
	const char *msg = code == TCPX_OK && detail ? detail :
			  receiver_verdict_message(code, detail);
	if (r->state == RS_DIR) {
		queue_result(r, code, NULL, msg);
		r->state = RS_READY;
		return msg;
	}
	if (r->state != RS_VERDICT)
		return msg;
	/* Past END the digest is known whatever the verdict (a mismatch, or
	 * a final name that appeared meanwhile): it goes back, so the sender
	 * sees what we saw (tcpxfer(5), RESULT). */
	queue_result(r, code, r->digest, msg);
	r->state = RS_READY;
	return msg;
}

static int fatal(struct tcpx_receiver *r, struct receiver_event *ev, int code,
		 const char *msg)
{
	receiver_fail(r, code, msg);
	ev->type = REV_FATAL;
	ev->code = code;
	ev->msg = msg;
	return 0;
}

/* Our state in proto's terms; which frame types that allows is proto's
 * table.  No default: a new state must be placed here (-Wswitch). */
static enum tcpx_phase phase_of(enum receiver_state st)
{
	switch (st) {
	case RS_HELLO: return TCPX_PHASE_HANDSHAKE;
	case RS_READY: return TCPX_PHASE_READY;
	case RS_IN_FILE:
	case RS_SKIPPING:
	case RS_LANE: return TCPX_PHASE_IN_FILE;
	case RS_END_WAIT:
	case RS_JOINING:
	case RS_VERDICT:        /* receiver_next() reads nothing in these */
	case RS_DIR:
	case RS_OFFER:
	case RS_DONE:
		break;
	}
	return TCPX_PHASE_CLOSING;
}

/* DIR exists only with TREE negotiated, OFFER and RESUME only with
 * OFFER, STREAM_END only with STREAM: judged from the header too.  A file
 * of unknown size ends with STREAM_END, any other with END. */
static int type_allowed(const struct tcpx_receiver *r, uint8_t type)
{
	/* A PLACE is followed by its DATA, nothing else. */
	if (r->place_pending)
		return type == TCPX_FRAME_DATA;
	/* A joined connection carries data and its end, nothing else. */
	if (r->state == RS_LANE)
		return type == TCPX_FRAME_PLACE || type == TCPX_FRAME_BYE ||
		       type == TCPX_FRAME_ERROR;
	if (type == TCPX_FRAME_JOIN)
		return r->streams_due && r->state == RS_READY;
	if (type == TCPX_FRAME_PLACE)
		return r->multi_file && (r->state == RS_IN_FILE ||
					 r->state == RS_SKIPPING);
	if (!proto_accepts(TCPX_ROLE_RECEIVER, phase_of(r->state), type))
		return 0;
	if (type == TCPX_FRAME_DIR)
		return (r->caps & TCPX_CAP_TREE) != 0;
	if (type == TCPX_FRAME_OFFER || type == TCPX_FRAME_RESUME)
		return (r->caps & TCPX_CAP_OFFER) != 0;
	if (type == TCPX_FRAME_STREAM_END)
		return (r->caps & TCPX_CAP_STREAM) && r->cur_stream;
	if (type == TCPX_FRAME_END)
		return !r->cur_stream;
	return 1;
}

static int on_hello(struct tcpx_receiver *r, const struct tcpx_frame *f,
		    struct receiver_event *ev)
{
	struct tcpx_hello h;
	int rc = proto_decode_hello(f, &h);

	if (rc == -TCPX_E_BAD_MAGIC)
		return fatal(r, ev, TCPX_E_BAD_MAGIC, "not a TCPX peer (bad magic)");
	if (rc < 0)
		return fatal(r, ev, TCPX_E_MALFORMED, "malformed HELLO");
	if (h.version_min > TCPX_VERSION || h.version_max < TCPX_VERSION)
		return fatal(r, ev, TCPX_E_VERSION,
			     "unsupported protocol version (this receiver speaks 1)");
	h.version_min = h.version_max = TCPX_VERSION;
	h.caps &= r->cfg.caps;
	/* No silent downgrade: a receiver with a key talks SECURE or not
	 * at all.  A cipher is only chosen for SECURE. */
	if (r->cfg.require_secure && !(h.caps & TCPX_CAP_SECURE))
		return fatal(r, ev, TCPX_E_INSECURE, "this receiver requires "
			     "encryption (tcpput --key): the sender did not ask "
			     "for SECURE");
	if (!(h.caps & TCPX_CAP_SECURE))
		h.caps &= ~TCPX_CAP_AES256GCM;
	if (!r->cfg.max_streams)
		h.caps &= ~TCPX_CAP_MULTI;
	r->caps = h.caps;
	r->streams_due = (h.caps & TCPX_CAP_MULTI) != 0;
	r->rd.lim = proto_frame_limits_for(r->caps);
	reply(r, proto_encode_hello(outq_tail(&r->out), &h));
	r->state = RS_READY;
	ev->type = REV_HELLO;
	ev->caps = h.caps;
	return 0;
}

/* FILE and DIR share one id sequence and the per-connection limit: 0 if
 * the item goes on, -1 once the session is over (ERROR queued, *ev set). */
static int take_id(struct tcpx_receiver *r, struct receiver_event *ev,
		   const char *out_of_sequence)
{
	if (ev->meta.id != r->last_id + 1) {
		fatal(r, ev, TCPX_E_MALFORMED, out_of_sequence);
		return -1;
	}
	if ((r->cfg.max_files && r->files >= r->cfg.max_files) ||
	    r->last_id == UINT32_MAX) {
		fatal(r, ev, TCPX_E_TOO_MANY_FILES,
		      "too many files in one connection");
		return -1;
	}
	r->last_id = r->cur_id = ev->meta.id;
	r->files++;
	return 0;
}

/* Under STREAM the largest size means "unknown": --max-size is then
 * applied as the data arrives (on_data). */
static int size_unknown(const struct tcpx_receiver *r, uint64_t size)
{
	return (r->caps & TCPX_CAP_STREAM) && size == TCPX_SIZE_UNKNOWN;
}

/* What identifies a file between its OFFER and its FILE or RESUME: a
 * keyed hash of FILE's fields (a sender cannot aim at a collision). */
static uint64_t meta_key(const struct tcpx_receiver *r,
			 const struct tcpx_file_meta *m)
{
	uint8_t fixed[TCPX_FILE_FIXED_LEN], out[crypto_shorthash_BYTES];
	uint8_t buf[TCPX_FILE_FIXED_LEN + TCPX_NAME_MAX];
	uint64_t k = 0;
	be64_store(fixed, m->size);
	be32_store(fixed + 8, m->mode);
	be64_store(fixed + 12, (uint64_t)m->mtime_sec);
	be32_store(fixed + 20, m->mtime_nsec);
	be16_store(fixed + 24, m->name_len);
	memcpy(buf, fixed, 26);
	memcpy(buf + 26, m->name, m->name_len);
	crypto_shorthash(out, buf, 26 + (size_t)m->name_len, r->cfg.name_key);
	memcpy(&k, out, sizeof(k));
	return k;
}

/* Remembers name; 1 if it was offered before in this session, 0 if not,
 * -1 when the table cannot take it. */
static int name_seen(struct tcpx_receiver *r, const uint8_t *name,
		     size_t len)
{
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t h;
	size_t i;

	crypto_shorthash(out, name, len, r->cfg.name_key);
	memcpy(&h, out, sizeof(h));
	h = h ? h : 1;
	if (2 * (r->names_used + 1) > r->names_cap) {
		size_t cap = r->names_cap ? 2 * r->names_cap : 256;
		uint64_t *t;
		if (r->names_used + 1 > NAMES_MAX || !(t = calloc(cap, sizeof(*t))))
			return -1;
		for (size_t j = 0; j < r->names_cap; j++) {
			uint64_t v = r->names[j];
			if (!v)
				continue;
			for (i = v & (cap - 1); t[i]; i = (i + 1) & (cap - 1))
				;
			t[i] = v;
		}
		free(r->names);
		r->names = t;
		r->names_cap = cap;
	}
	for (i = h & (r->names_cap - 1); r->names[i];
	     i = (i + 1) & (r->names_cap - 1))
		if (r->names[i] == h)
			return 1;
	r->names[i] = h;
	r->names_used++;
	return 0;
}

static int on_offer(struct tcpx_receiver *r, const struct tcpx_frame *f,
		    struct receiver_event *ev)
{
	const char *why = NULL;
	int code = 0, seen;

	if (proto_decode_offer(f, &ev->offer) < 0)
		return fatal(r, ev, TCPX_E_MALFORMED, "malformed OFFER");
	ev->meta = ev->offer.meta;
	if (take_id(r, ev, "OFFER id out of sequence") < 0)
		return 0;
	/* The sender's window bounds what we remember (tcpxfer(5)). */
	if (r->grant_count >= TCPX_OFFER_WINDOW)
		return fatal(r, ev, TCPX_E_OFFERS,
			     "more offers outstanding than the window");
	ev->offered = 1;
	ev->stream = size_unknown(r, ev->meta.size);
	if (name_validate(ev->meta.name, ev->meta.name_len, &why) < 0) {
		code = TCPX_E_BAD_NAME;
	} else if (r->cfg.max_size && !ev->stream &&
		   ev->meta.size > r->cfg.max_size) {
		code = TCPX_E_TOO_BIG;
		why = "file larger than the receiver's --max-size";
	} else if ((seen = name_seen(r, ev->meta.name, ev->meta.name_len)) < 0) {
		return fatal(r, ev, TCPX_E_TOO_MANY_FILES,
			     "too many names to remember in one connection");
	} else if (seen) {
		code = TCPX_E_DUPLICATE;
		why = "another file of this run has the same name: not replaced";
	}
	if (code) {
		struct tcpx_answer a = { .id = ev->meta.id,
			.disposition = TCPX_ANSWER_REFUSED,
			.code = (uint16_t)code, .msg = (const uint8_t *)why,
			.msg_len = (uint16_t)strlen(why) };
		reply(r, proto_encode_answer(outq_tail(&r->out), &a));
		ev->type = REV_REFUSED;
		ev->code = code;
		ev->msg = why;
		return 0;
	}
	r->cur_offer = ev->offer;
	r->cur_key = meta_key(r, &ev->meta);
	r->state = RS_OFFER;
	ev->type = REV_OFFER;
	return 0;
}

int receiver_decide(const struct tcpx_offer *o, const struct receiver_found *f,
		    enum receiver_overwrite allowed, int *overwrite, int *code,
		    const char **msg)
{
	*overwrite = 0;
	*code = 0;
	*msg = NULL;
	if (f->kind == 0)
		return TCPX_ANSWER_SEND;
	if (f->kind != 1) {
		*code = TCPX_E_EXISTS;
		*msg = "exists and is not a regular file";
		return TCPX_ANSWER_REFUSED;
	}
	/* tcpget --overwrite keeps its meaning from before offers: every
	 * file is replaced, an identical one too (its mode may differ). */
	if (allowed == RECV_FORCE_OVERWRITE) {
		*overwrite = o->policy != TCPX_POLICY_KEEP_BOTH;
		return TCPX_ANSWER_SEND;
	}
	/* A stream (size unknown) is never identical to what the disk holds
	 * (nor resumed): it is sent, or refused by the policy. */
	if (o->meta.size == TCPX_SIZE_UNKNOWN) {
		/* no quick check */
	} else if (o->flags & TCPX_OFFER_CHECKSUM) {
		if (f->size == o->meta.size && f->digest &&
		    digest_equal(f->digest, o->digest))
			return TCPX_ANSWER_SAME_DIGEST;
	} else if (f->size == o->meta.size && f->mtime_sec == o->meta.mtime_sec &&
		   f->mtime_nsec == o->meta.mtime_nsec) {
		return TCPX_ANSWER_SAME_TIME;
	}
	if (o->policy == TCPX_POLICY_KEEP_BOTH)
		return TCPX_ANSWER_SEND;
	if (o->policy == TCPX_POLICY_OVERWRITE &&
	    allowed == RECV_ALLOW_OVERWRITE) {
		*overwrite = 1;
		return TCPX_ANSWER_SEND;
	}
	if (o->policy == TCPX_POLICY_OVERWRITE) {
		*code = TCPX_E_NO_OVERWRITE;
		*msg = "exists and differs; this receiver does not let senders "
		       "overwrite (tcpget --allow-overwrite)";
	} else {
		*code = TCPX_E_EXISTS;
		*msg = "exists and differs (tcpput --overwrite replaces it, "
		       "--keep-both keeps both)";
	}
	return TCPX_ANSWER_REFUSED;
}

const char *receiver_answer(struct tcpx_receiver *r, int disposition, int code,
			    int overwrite, uint64_t offset,
			    const uint8_t *digest, const char *msg)
{
	struct tcpx_answer a = { .id = r->cur_id, .code = (uint16_t)code,
				 .offset = offset, .digest = digest };
	if (r->state != RS_OFFER)
		return msg;
	/* A stream has no size to resume against: its data is sent whole. */
	if (disposition == TCPX_ANSWER_RESUME &&
	    size_unknown(r, r->cur_offer.meta.size))
		disposition = TCPX_ANSWER_SEND;
	a.disposition = (uint8_t)disposition;
	if (disposition == TCPX_ANSWER_REFUSED && !msg)
		msg = receiver_verdict_message(code, NULL);
	a.msg = (const uint8_t *)msg;
	a.msg_len = (uint16_t)(msg ? strlen(msg) : 0);
	if (disposition != TCPX_ANSWER_RESUME) {
		a.offset = 0;
		a.digest = NULL;
	}
	reply(r, proto_encode_answer(outq_tail(&r->out), &a));
	if (disposition == TCPX_ANSWER_SEND || disposition == TCPX_ANSWER_RESUME) {
		struct grant *g = &r->grants[(r->grant_head + r->grant_count++) %
					     TCPX_OFFER_WINDOW];
		*g = (struct grant){ .id = r->cur_id, .key = r->cur_key,
				     .offset = a.offset,
				     .overwrite = (uint8_t)overwrite,
				     .keep_both = r->cur_offer.policy ==
						  TCPX_POLICY_KEEP_BOTH };
	}
	r->state = RS_READY;
	return msg;
}

void receiver_set_prefix(struct tcpx_receiver *r, const struct digest *dg)
{
	if (r->state == RS_IN_FILE)
		r->dg = *dg;
}

/* A file's data begins (FILE or RESUME): with MULTI, by offset. */
static void begin_data(struct tcpx_receiver *r, uint32_t id, uint64_t offset)
{
	r->begun_id = id;
	r->multi_file = (r->caps & TCPX_CAP_MULTI) && !r->cur_stream;
	r->cursor = offset;
	r->place_pending = 0;
	place_init(&r->pl, offset, r->cur_size);
	for (size_t i = 0; i < RECEIVER_EARLY_MAX; i++)
		r->early[i].len = 0;
}

/* FILE or RESUME in a session with offers: the oldest grant's, with the
 * fields it was offered with; a RESUME from the offset granted. */
static int on_granted(struct tcpx_receiver *r, struct receiver_event *ev,
		      uint64_t offset)
{
	struct grant *g = &r->grants[r->grant_head];
	if (r->grant_count == 0 || ev->meta.id != g->id ||
	    meta_key(r, &ev->meta) != g->key ||
	    (offset && offset != g->offset))
		return fatal(r, ev, TCPX_E_NOT_OFFERED,
			     "FILE or RESUME does not match an ANSWER to "
			     "send it");
	r->grant_head = (r->grant_head + 1) % TCPX_OFFER_WINDOW;
	r->grant_count--;
	r->cur_id = ev->meta.id;
	r->cur_size = ev->meta.size;
	r->cur_recv = offset;
	r->cur_stream = ev->stream = size_unknown(r, ev->meta.size);
	begin_data(r, ev->meta.id, offset);
	digest_init(&r->dg);
	ev->offered = 1;
	ev->offset = offset;
	ev->overwrite = g->overwrite;
	ev->keep_both = g->keep_both;
	r->state = RS_IN_FILE;
	ev->type = REV_FILE;
	return 0;
}

static int on_resume(struct tcpx_receiver *r, const struct tcpx_frame *f,
		     struct receiver_event *ev)
{
	uint64_t offset;
	if (proto_decode_resume(f, &ev->meta, &offset) < 0)
		return fatal(r, ev, TCPX_E_MALFORMED, "malformed RESUME");
	return on_granted(r, ev, offset);
}

static int on_file(struct tcpx_receiver *r, const struct tcpx_frame *f,
		   struct receiver_event *ev)
{
	const char *why = NULL;
	int code = 0;

	if (proto_decode_file(f, &ev->meta) < 0)
		return fatal(r, ev, TCPX_E_MALFORMED, "malformed FILE");
	if (r->caps & TCPX_CAP_OFFER)
		return on_granted(r, ev, 0);
	if (take_id(r, ev, "FILE id out of sequence") < 0)
		return 0;
	r->cur_size = ev->meta.size;
	r->cur_recv = 0;
	r->cur_stream = size_unknown(r, ev->meta.size);
	if (name_validate(ev->meta.name, ev->meta.name_len, &why) < 0)
		code = TCPX_E_BAD_NAME;
	else if (r->cfg.max_size && !r->cur_stream &&
		 ev->meta.size > r->cfg.max_size) {
		code = TCPX_E_TOO_BIG;
		why = "file larger than the receiver's --max-size";
	}
	ev->stream = r->cur_stream;
	begin_data(r, ev->meta.id, 0);
	if (code) {
		queue_result(r, code, NULL, why);
		r->state = RS_SKIPPING;
		ev->type = REV_REFUSED;
		ev->code = code;
		ev->msg = why;
		return 0;
	}
	digest_init(&r->dg);
	r->state = RS_IN_FILE;
	ev->type = REV_FILE;
	return 0;
}

/* A directory, in the same id sequence as files.  Only a sender that
 * asked for TREE (and got it) sends one: anything else is a sender this
 * receiver does not understand, so the session ends. */
static int on_dir(struct tcpx_receiver *r, const struct tcpx_frame *f,
		  struct receiver_event *ev)
{
	const char *why = NULL;

	if (!(r->caps & TCPX_CAP_TREE))
		return fatal(r, ev, TCPX_E_UNEXPECTED,
			     "DIR without the TREE capability");
	if (proto_decode_dir(f, &ev->meta) < 0)
		return fatal(r, ev, TCPX_E_MALFORMED, "malformed DIR");
	if (take_id(r, ev, "DIR id out of sequence") < 0)
		return 0;
	ev->is_dir = 1;
	if (name_validate(ev->meta.name, ev->meta.name_len, &why) < 0) {
		queue_result(r, TCPX_E_BAD_NAME, NULL, why);
		ev->type = REV_REFUSED;
		ev->code = TCPX_E_BAD_NAME;
		ev->msg = why;
		return 0;
	}
	r->state = RS_DIR;
	ev->type = REV_DIR;
	return 0;
}

/* A compressed chunk inflated into r->inflated within its declared
 * length (d->data points there then): 0, or -1 with the session over. */
static int inflate_chunk(struct tcpx_receiver *r, struct tcpx_data *d,
			 struct receiver_event *ev)
{
	if (d->encoding == TCPX_ENCODING_RAW)
		return 0;
	/* Allocated at the first compressed chunk: a connection
	 * that sends none never pays for it (nor for a zstd
	 * context, made at the first zstd chunk). */
	if (!r->inflated && !(r->inflated = malloc(TCPX_CHUNK_MAX))) {
		fatal(r, ev, TCPX_E_BUSY, "receiver out of memory");
		return -1;
	}
	int rc = d->encoding == TCPX_ENCODING_ZSTD ?
		 chunk_unzstd(&r->unzstd, d->data, d->data_len, r->inflated,
			      d->raw_len) :
		 chunk_inflate(d->data, d->data_len, r->inflated, d->raw_len);
	if (rc == -TCPX_E_NOMEM) {
		fatal(r, ev, TCPX_E_BUSY, "receiver out of memory");
		return -1;
	}
	if (rc < 0) {
		fatal(r, ev, TCPX_E_DECOMPRESS,
		      "compressed chunk is corrupt or exceeds its declared length");
		return -1;
	}
	d->data = r->inflated;
	return 0;
}

/* Keeps a chunk that came after a gap, if a slot is free. */
static void keep_early(struct tcpx_receiver *r, uint64_t at,
		       const uint8_t *data, size_t len)
{
	for (size_t i = 0; i < RECEIVER_EARLY_MAX; i++) {
		struct early *e = &r->early[i];
		if (e->len)
			continue;
		if (!e->buf && !(e->buf = malloc(TCPX_CHUNK_MAX)))
			return;     /* read back instead */
		memcpy(e->buf, data, len);
		e->off = at;
		e->len = len;
		return;
	}
}

/* The kept chunk that begins at off, hashed and dropped: 1, or 0. */
static int hash_early(struct tcpx_receiver *r, uint64_t off)
{
	for (size_t i = 0; i < RECEIVER_EARLY_MAX; i++) {
		struct early *e = &r->early[i];
		if (!e->len || e->off != off)
			continue;
		digest_update(&r->dg, e->buf, e->len);
		place_hashed(&r->pl, e->len);
		e->len = 0;
		return 1;
	}
	return 0;
}

/* Hashes a chunk that arrived in order; one out of order waits (in
 * memory if it can, else on the disk). */
static int place_chunk(struct tcpx_receiver *r, uint64_t at,
		       const uint8_t *data, size_t len)
{
	int rc = place_add(&r->pl, at, len);
	if (rc == 0) {
		digest_update(&r->dg, data, len);
		place_hashed(&r->pl, len);
	} else if (rc == 1) {
		keep_early(r, at, data, len);
	}
	r->cur_recv = r->cur_size == 0 ? 0 : r->pl.start + r->pl.arrived;
	return rc < 0 ? rc : 0;
}

static const char *place_why(int rc)
{
	return rc == -TCPX_E_NOMEM ? "receiver out of memory" :
	       "chunk overlaps data already received, lies outside the "
	       "file, or leaves too many gaps";
}

/* DATA of a file that comes by offset: after its PLACE, or at the
 * cursor of the DATA without PLACE before it; on a joined connection it
 * goes to the session's receiver (REV_CHUNK). */
static int on_placed_data(struct tcpx_receiver *r, struct tcpx_data *d,
			  struct receiver_event *ev)
{
	uint64_t at = r->place_pending ? r->place_off : r->cursor;
	int rc;

	if (!r->place_pending) {
		if (r->state == RS_LANE)
			return fatal(r, ev, TCPX_E_UNEXPECTED,
				     "DATA without PLACE on a joined connection");
		r->cursor += d->raw_len;
	}
	r->place_pending = 0;
	if (r->state == RS_SKIPPING)
		return 1;
	if (inflate_chunk(r, d, ev) < 0)
		return 0;
	if (r->state == RS_LANE) {
		ev->type = REV_CHUNK;
		ev->id = r->place_id;
	} else {
		if ((rc = place_chunk(r, at, d->data, d->raw_len)) < 0)
			return fatal(r, ev, rc == -TCPX_E_NOMEM ? TCPX_E_BUSY :
				     TCPX_E_PLACE, place_why(rc));
		ev->type = REV_DATA;
		ev->placed = 1;
	}
	ev->offset = at;
	ev->data = d->data;
	ev->len = d->raw_len;
	return 0;
}

static int on_data(struct tcpx_receiver *r, const struct tcpx_frame *f,
		   struct receiver_event *ev)
{
	struct tcpx_data d;

	if (proto_decode_data(f, &d) < 0)
		return fatal(r, ev, TCPX_E_MALFORMED, "malformed DATA");
	if (d.encoding == TCPX_ENCODING_ZLIB && !(r->caps & TCPX_CAP_ZLIB))
		return fatal(r, ev, TCPX_E_UNEXPECTED,
			     "compressed DATA without the ZLIB capability");
	if (d.encoding == TCPX_ENCODING_ZSTD && !(r->caps & TCPX_CAP_ZSTD))
		return fatal(r, ev, TCPX_E_UNEXPECTED,
			     "zstd DATA without the ZSTD capability");
	if (r->multi_file || r->state == RS_LANE)
		return on_placed_data(r, &d, ev);
	if (d.raw_len > r->cur_size - r->cur_recv)
		return fatal(r, ev, TCPX_E_SIZE, "more data than the declared size");
	r->cur_recv += d.raw_len;
	if (r->state == RS_SKIPPING)
		return 1;       /* nothing to hand out: go on */
	if (r->cur_stream && r->cfg.max_size && r->cur_recv > r->cfg.max_size) {
		/* A stream grows past the limit: refused now, before a byte
		 * of this chunk is handed out; the rest is skipped. */
		ev->msg = "stream larger than the receiver's --max-size";
		queue_result(r, TCPX_E_TOO_BIG, NULL, ev->msg);
		r->state = RS_SKIPPING;
		ev->type = REV_FAILED;
		ev->code = TCPX_E_TOO_BIG;
		return 0;
	}
	if (inflate_chunk(r, &d, ev) < 0)
		return 0;
	digest_update(&r->dg, d.data, d.raw_len);
	ev->type = REV_DATA;
	ev->data = d.data;
	ev->len = d.raw_len;
	return 0;
}

/* PLACE: where the DATA that follows goes.  On the session's own
 * connection it is the current file's; on a joined one any file's (the
 * session's receiver judges it, receiver_place()). */
static int on_place(struct tcpx_receiver *r, const struct tcpx_frame *f,
		    struct receiver_event *ev)
{
	if (proto_decode_place(f, &r->place_id, &r->place_off) < 0)
		return fatal(r, ev, TCPX_E_MALFORMED, "malformed PLACE");
	if (r->state != RS_LANE && r->place_id != r->cur_id)
		return fatal(r, ev, TCPX_E_PLACE,
			     "PLACE for another file than the current one");
	r->place_pending = 1;
	return 1;
}

static int on_join(struct tcpx_receiver *r, const struct tcpx_frame *f,
		   struct receiver_event *ev)
{
	struct tcpx_join j;
	if (proto_decode_join(f, &j) < 0)
		return fatal(r, ev, TCPX_E_MALFORMED, "malformed JOIN");
	r->streams_due = 0;
	r->state = RS_JOINING;
	ev->type = REV_JOIN;
	ev->token = j.token;
	ev->index = j.n;
	return 0;
}

void receiver_join_accept(struct tcpx_receiver *r)
{
	if (r->state != RS_JOINING)
		return;
	reply(r, proto_encode_empty(outq_tail(&r->out), TCPX_FRAME_JOINED));
	r->state = RS_LANE;
}

int receiver_joined(const struct tcpx_receiver *r)
{
	return r->state == RS_LANE;
}

uint64_t receiver_arrived(const struct tcpx_receiver *r)
{
	return r->multi_file ? r->pl.start + r->pl.arrived : r->cur_recv;
}

uint64_t receiver_hashed(const struct tcpx_receiver *r)
{
	return r->multi_file ? r->pl.hashed : r->cur_recv;
}

int receiver_place(struct tcpx_receiver *r, uint32_t id, uint64_t offset,
		   const uint8_t *data, size_t len)
{
	int in = r->state == RS_IN_FILE || r->state == RS_SKIPPING ||
		 r->state == RS_END_WAIT;
	int rc;

	if (r->state == RS_DONE)
		return -1;
	if (!in || id != r->begun_id)
		return id > r->begun_id ? 1 : 2;
	if (r->state == RS_SKIPPING)
		return 2;
	if (!r->multi_file) {
		receiver_fail(r, TCPX_E_PLACE, "PLACE for a file of unknown size");
		return -1;
	}
	if ((rc = place_chunk(r, offset, data, len)) < 0) {
		receiver_fail(r, rc == -TCPX_E_NOMEM ? TCPX_E_BUSY : TCPX_E_PLACE,
			      place_why(rc));
		return -1;
	}
	return 0;
}

void receiver_readback(struct tcpx_receiver *r, const uint8_t *data,
		       size_t len)
{
	uint64_t off, n;
	if ((r->state != RS_IN_FILE && r->state != RS_END_WAIT) ||
	    !place_readback(&r->pl, TCPX_CHUNK_MAX, &off, &n))
		return;
	if (len > n)
		len = (size_t)n;
	digest_update(&r->dg, data, len);
	place_hashed(&r->pl, len);
}

/* END or STREAM_END passed its checks: the digests decide (theirs is
 * the sender's). */
static int file_ended(struct tcpx_receiver *r, struct receiver_event *ev,
		      const uint8_t *theirs)
{
	if (r->state == RS_SKIPPING) {
		r->state = RS_READY;
		ev->type = REV_SKIPPED;
		return 0;
	}
	digest_final(&r->dg, r->digest);
	r->state = RS_VERDICT;
	ev->type = REV_END;
	ev->code = digest_equal(r->digest, theirs) ? 0 : TCPX_E_DIGEST;
	ev->digest = r->digest;
	return 0;
}

static int on_end(struct tcpx_receiver *r, const struct tcpx_frame *f,
		  struct receiver_event *ev)
{
	const uint8_t *theirs;

	if (proto_decode_end(f, &theirs) < 0)
		return fatal(r, ev, TCPX_E_MALFORMED, "malformed END");
	if (r->multi_file && r->state == RS_IN_FILE &&
	    !place_complete(&r->pl)) {
		/* Judged once every byte arrived (next_event()). */
		memcpy(r->theirs, theirs, DIGEST_LEN);
		r->state = RS_END_WAIT;
		return 1;
	}
	if (r->multi_file)
		r->multi_file = 0;
	else if (r->cur_recv != r->cur_size)
		return fatal(r, ev, TCPX_E_SIZE, "less data than the declared size");
	return file_ended(r, ev, theirs);
}

/* The end of a file of unknown size: its final size must be what came. */
static int on_stream_end(struct tcpx_receiver *r, const struct tcpx_frame *f,
			 struct receiver_event *ev)
{
	const uint8_t *theirs;
	uint64_t size;

	if (proto_decode_stream_end(f, &size, &theirs) < 0)
		return fatal(r, ev, TCPX_E_MALFORMED, "malformed STREAM_END");
	if (size != r->cur_recv)
		return fatal(r, ev, TCPX_E_SIZE,
			     "STREAM_END size differs from the data received");
	return file_ended(r, ev, theirs);
}

/* The body of receiver_next(); its int is only for tail calls. */
static int next_event(struct tcpx_receiver *r, struct receiver_event *ev)
{
	struct tcpx_frame f;
	struct tcpx_error e;
	int rc;

again:
	memset(ev, 0, sizeof(*ev));
	if ((r->state == RS_IN_FILE || r->state == RS_END_WAIT) &&
	    r->multi_file) {
		uint64_t off, n;
		/* In order: what arrived after a gap is hashed once the gap
		 * filled, read back from the disk. */
		if (place_readback(&r->pl, TCPX_CHUNK_MAX, &off, &n)) {
			if (hash_early(r, off))
				goto again;
			ev->type = REV_READBACK;
			ev->offset = off;
			ev->len = (size_t)n;
			return 0;
		}
		if (r->state == RS_END_WAIT) {
			if (!place_complete(&r->pl))
				return 0;
			r->multi_file = 0;
			r->state = RS_IN_FILE;
			return file_ended(r, ev, r->theirs);
		}
	}
	if (r->state == RS_DONE || r->state == RS_VERDICT ||
	    r->state == RS_DIR || r->state == RS_OFFER ||
	    r->state == RS_JOINING || !outq_has_room(&r->out))
		return 0;
	if (r->streams_due && r->state == RS_READY &&
	    frame_reader_buffered(&r->rd) >= TCPX_FRAME_HEADER_LEN &&
	    r->rd.buf[r->rd.start] != TCPX_FRAME_JOIN) {
		/* The session's own connection: the sender may open the
		 * others now (man/tcpxfer.5, SEVERAL CONNECTIONS). */
		reply(r, proto_encode_streams(outq_tail(&r->out),
					      r->cfg.join_token,
					      (uint16_t)r->cfg.max_streams));
		r->streams_due = 0;
		goto again;
	}
	rc = frame_reader_next(&r->rd, &f);
	if (rc < 0)
		return fatal(r, ev, -rc, tcpx_strerror(rc));
	if (rc == 0) {
		/* Judge the type as soon as the header is in, before waiting
		 * for a payload that may never come. */
		if (frame_reader_buffered(&r->rd) >= TCPX_FRAME_HEADER_LEN &&
		    !type_allowed(r, f.type))
			return fatal(r, ev, TCPX_E_UNEXPECTED,
				     "unexpected frame type");
		return 0;
	}
	if (!type_allowed(r, f.type))
		return fatal(r, ev, TCPX_E_UNEXPECTED, "unexpected frame type");
	switch (f.type) {
	case TCPX_FRAME_HELLO:
		return on_hello(r, &f, ev);
	case TCPX_FRAME_FILE:
		return on_file(r, &f, ev);
	case TCPX_FRAME_DIR:
		return on_dir(r, &f, ev);
	case TCPX_FRAME_OFFER:
		return on_offer(r, &f, ev);
	case TCPX_FRAME_RESUME:
		return on_resume(r, &f, ev);
	case TCPX_FRAME_DATA:
		if (on_data(r, &f, ev) == 1)
			goto again;
		return 0;
	case TCPX_FRAME_PLACE:
		if (on_place(r, &f, ev) == 1)
			goto again;
		return 0;
	case TCPX_FRAME_JOIN:
		return on_join(r, &f, ev);
	case TCPX_FRAME_END:
		if (on_end(r, &f, ev) == 1)
			goto again;
		return 0;
	case TCPX_FRAME_STREAM_END:
		return on_stream_end(r, &f, ev);
	case TCPX_FRAME_ABORT:
		if (proto_decode_empty(&f) < 0)
			return fatal(r, ev, TCPX_E_MALFORMED, "malformed ABORT");
		if (r->state == RS_SKIPPING) {
			ev->type = REV_SKIPPED;
		} else {
			queue_result(r, TCPX_E_ABORTED, NULL, "aborted by sender");
			ev->type = REV_ABORTED;
		}
		r->multi_file = 0;
		r->state = RS_READY;
		return 0;
	case TCPX_FRAME_BYE:
		if (proto_decode_empty(&f) < 0)
			return fatal(r, ev, TCPX_E_MALFORMED, "malformed BYE");
		reply(r, proto_encode_empty(outq_tail(&r->out), TCPX_FRAME_BYE));
		r->state = RS_DONE;
		ev->type = REV_BYE;
		return 0;
	case TCPX_FRAME_ERROR:
		r->state = RS_DONE;
		ev->type = REV_PEER_ERROR;
		if (proto_decode_error(&f, &e) == 0) {
			ev->code = e.code;
			ev->peer_msg = e.msg;
			ev->peer_msg_len = e.msg_len;
		} else {
			ev->code = TCPX_E_MALFORMED;
		}
		return 0;
	}
	return fatal(r, ev, TCPX_E_UNEXPECTED, "unexpected frame type");
}

void receiver_next(struct tcpx_receiver *r, struct receiver_event *ev)
{
	(void)next_event(r, ev);
}
