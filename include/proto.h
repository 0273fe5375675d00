/*
 * proto: the TCPX messages, sans I/O; it builds on frame (never the reverse).
 *
 * One table of frame types (below) gives each type's name, its largest
 * payload and the phases in which each side accepts it: frame_decode() and
 * the frame_reader get their limits from it (proto_frame_limits), and both
 * state machines ask proto_accepts() which types they take.  Encoders write
 * header + payload into a caller's buffer and return the total number of
 * bytes; decoders take a frame's payload and validate every field (exact
 * lengths, ranges, reserved bits) before filling a struct.  Nothing here
 * allocates: every pointer a decoder fills in points into the frame's
 * payload, whose owner (usually a frame_reader) decides how long it lives.
 * The byte layouts are the contract in man/tcpxfer.5; change both together.
 */
#ifndef TCPX_PROTO_H
#define TCPX_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include "digest.h"
#include "frame.h"
#include "names.h"

/* Largest uncompressed length of one DATA chunk: big enough that a 1 GiB
 * file is 4096 frames, small enough that a receiver serving 64 clients
 * holds well under 64 MiB of buffers. */
#define TCPX_CHUNK_MAX (256u * 1024u)
#define TCPX_DATA_HEADER_LEN 8u
/* Largest payload of any frame: a DATA frame with a full chunk. */
#define TCPX_MAX_PAYLOAD (TCPX_DATA_HEADER_LEN + TCPX_CHUNK_MAX)

enum tcpx_frame_type {
	TCPX_FRAME_HELLO = 1,
	TCPX_FRAME_FILE = 2,
	TCPX_FRAME_DATA = 3,
	TCPX_FRAME_END = 4,
	TCPX_FRAME_ABORT = 5,
	TCPX_FRAME_RESULT = 6,
	TCPX_FRAME_BYE = 7,
	TCPX_FRAME_ERROR = 8,
	TCPX_FRAME_DIR = 9,     /* only with TCPX_CAP_TREE */
	TCPX_FRAME_OFFER = 10,  /* only with TCPX_CAP_OFFER */
	TCPX_FRAME_ANSWER = 11, /* only with TCPX_CAP_OFFER */
	TCPX_FRAME_RESUME = 12, /* only with TCPX_CAP_OFFER */
	TCPX_FRAME_STREAM_END = 13, /* only with TCPX_CAP_STREAM */
	/* 16-19: the SECURE handshake and sealed records, read and written
	 * by conn alone with handshake.h's limits; no row in the table
	 * below: to a state machine they are unknown types */
	TCPX_FRAME_KX_INIT = 16,
	TCPX_FRAME_KX_REPLY = 17,
	TCPX_FRAME_KX_AUTH = 18,
	TCPX_FRAME_SEALED = 19,
	/* 20-23: several connections per session, only with TCPX_CAP_MULTI */
	TCPX_FRAME_STREAMS = 20, /* receiver: join token, extra connections */
	TCPX_FRAME_JOIN = 21,    /* sender, on an extra connection */
	TCPX_FRAME_PLACE = 22,   /* sender: where the next DATA goes */
	TCPX_FRAME_JOINED = 23,  /* receiver: the extra connection is in */
};

#define TCPX_MAGIC "TCPX"
#define TCPX_VERSION 1u
#define TCPX_HELLO_LEN 16u
#define TCPX_HELLO_MAX 256u         /* HELLO may grow; extra bytes ignored */
#define TCPX_CAP_ZLIB (UINT64_C(1) << 0)
/* Directories: the sender may send DIR frames (man/tcpxfer.5). */
#define TCPX_CAP_TREE (UINT64_C(1) << 1)
/* Offers: files announced (OFFER) and answered (ANSWER) before their data;
 * re-run policies and resume (man/tcpxfer.5). */
#define TCPX_CAP_OFFER (UINT64_C(1) << 2)
/* Streams: a FILE's size may be TCPX_SIZE_UNKNOWN; such a file ends with
 * STREAM_END (its final size and digest) instead of END. */
#define TCPX_CAP_STREAM (UINT64_C(1) << 3)
/* zstd: DATA frames may use encoding 2 (man/tcpxfer.5). */
#define TCPX_CAP_ZSTD (UINT64_C(1) << 8)
/* Several connections per session: STREAMS, JOIN, PLACE, JOINED
 * (man/tcpxfer.5, SEVERAL CONNECTIONS).  Not in TCPX_CAPS_V1: a receiver
 * offers it only when it can take joined connections (tcpget
 * --max-streams). */
#define TCPX_CAP_MULTI (UINT64_C(1) << 9)
#define TCPX_JOIN_TOKEN_LEN 32u
#define TCPX_STREAMS_LEN 34u        /* token, u16 extra connections */
#define TCPX_JOIN_LEN 34u           /* token, u16 index (1..extra) */
#define TCPX_PLACE_LEN 12u          /* u32 file id, u64 offset */
#define TCPX_STREAMS_MAX 64u        /* extra connections a STREAMS grants */
#define TCPX_CAPS_V1 (TCPX_CAP_ZLIB | TCPX_CAP_TREE | TCPX_CAP_OFFER | \
		      TCPX_CAP_STREAM | TCPX_CAP_ZSTD)
/* FILE's size under STREAM: "unknown until STREAM_END".  Without STREAM
 * it is the number it is (a size no disk holds). */
#define TCPX_SIZE_UNKNOWN UINT64_MAX
#define TCPX_STREAM_END_LEN (8u + DIGEST_LEN)
/* Keys: the handshake of man/tcpxfer.5 SECURE follows the HELLOs and
 * every later byte is sealed; AES256GCM picks that cipher for the
 * records (else XChaCha20-Poly1305), only together with SECURE. */
#define TCPX_CAP_SECURE (UINT64_C(1) << 4)
#define TCPX_CAP_AES256GCM (UINT64_C(1) << 5)
/* Payload lengths of the handshake frames (exact). */
#define TCPX_KX_INIT_LEN 32u        /* ephemeral X25519 public key */
#define TCPX_KX_AUTH_LEN 112u       /* sealed: Ed25519 key, signature, tag */
#define TCPX_KX_REPLY_LEN (32u + TCPX_KX_AUTH_LEN)
/* Bytes of a relative name: the FILE limit is what name_validate() takes. */
#define TCPX_NAME_MAX NAME_LEN_MAX
#define TCPX_FILE_FIXED_LEN 30u
#define TCPX_DIR_FIXED_LEN 22u      /* FILE's layout without the size */
#define TCPX_MSG_MAX 1024u          /* bytes of a RESULT/ERROR message */
#define TCPX_RESULT_FIXED_LEN 72u
#define TCPX_ERROR_FIXED_LEN 4u
#define TCPX_ENCODING_RAW 0u
#define TCPX_ENCODING_ZLIB 1u
/* One zstd frame; only with TCPX_CAP_ZSTD.  Its window is at most a chunk. */
#define TCPX_ENCODING_ZSTD 2u
#define TCPX_ZSTD_WINDOW_LOG 18     /* 2^18 = TCPX_CHUNK_MAX */
#define TCPX_MODE_MASK 07777u
#define TCPX_OFFER_FIXED_LEN 32u    /* FILE's 30, policy, flags */
#define TCPX_ANSWER_FIXED_LEN 82u
#define TCPX_RESUME_FIXED_LEN 38u   /* FILE's 30, offset */
/* OFFERs a sender may have whose file has not begun (answered or not). */
#define TCPX_OFFER_WINDOW 256u

/* OFFER policy: what the sender asks for when the name exists. */
enum tcpx_policy {
	TCPX_POLICY_REFUSE = 0,
	TCPX_POLICY_OVERWRITE = 1,
	TCPX_POLICY_KEEP_BOTH = 2,
};
#define TCPX_OFFER_RESUME 0x01u     /* OFFER flags */
#define TCPX_OFFER_CHECKSUM 0x02u   /* a digest of the whole file follows */

/* ANSWER dispositions. */
enum tcpx_disposition {
	TCPX_ANSWER_SEND = 0,       /* send it all (FILE) */
	TCPX_ANSWER_RESUME = 1,     /* send from offset (RESUME or FILE) */
	TCPX_ANSWER_SAME_TIME = 2,  /* skipped: same size and mtime */
	TCPX_ANSWER_SAME_DIGEST = 3, /* skipped: same BLAKE2b-512 */
	TCPX_ANSWER_REFUSED = 4,    /* refused: code says why */
};
#define TCPX_ANSWER_MAX_DISPOSITION 4u

struct tcpx_hello {
	uint16_t version_min;
	uint16_t version_max;
	uint64_t caps;
};

/* FILE's fields, and DIR's: a DIR has no size (0 here). */
struct tcpx_file_meta {
	uint32_t id;
	uint64_t size;
	uint32_t mode;           /* permission bits, <= 07777 */
	int64_t mtime_sec;
	uint32_t mtime_nsec;     /* < 1e9 */
	uint16_t name_len;
	const uint8_t *name;     /* not NUL-terminated */
};

/* OFFER's fields: a FILE's, and what the sender asks for. */
struct tcpx_offer {
	struct tcpx_file_meta meta;
	uint8_t policy;          /* enum tcpx_policy */
	uint8_t flags;           /* TCPX_OFFER_* */
	const uint8_t *digest;   /* flags & CHECKSUM: DIGEST_LEN bytes, or NULL */
};

struct tcpx_answer {
	uint32_t id;
	uint8_t disposition;     /* enum tcpx_disposition */
	uint16_t code;           /* REFUSED: the per-file code, else 0 */
	uint64_t offset;         /* RESUME: 1..size, else 0 */
	const uint8_t *digest;   /* RESUME: BLAKE2b-512 of the first offset
				    bytes; DIGEST_LEN bytes (zeros otherwise) */
	uint16_t msg_len;
	const uint8_t *msg;
};

struct tcpx_data {
	uint8_t encoding;        /* TCPX_ENCODING_* */
	uint32_t raw_len;        /* 1..TCPX_CHUNK_MAX */
	uint32_t data_len;
	const uint8_t *data;
};

struct tcpx_result {
	uint32_t id;
	uint16_t code;           /* 0 = accepted */
	const uint8_t *digest;   /* DIGEST_LEN bytes */
	uint16_t msg_len;
	const uint8_t *msg;
};

struct tcpx_error {
	uint16_t code;
	uint16_t msg_len;
	const uint8_t *msg;
};

/*
 * The table of frame types: one row per type, the only place that says
 * what a type may carry and when each side takes it.  Adding a frame type
 * means one row in src/proto.c, its encoder and decoder, and the man page.
 *
 * Phases are where a session stands as seen by the side that receives the
 * frame; each state machine maps its own states onto them.
 */
enum tcpx_phase {
	TCPX_PHASE_HANDSHAKE,   /* HELLO not yet exchanged */
	TCPX_PHASE_READY,       /* between files */
	TCPX_PHASE_IN_FILE,     /* after a FILE, before its END or ABORT */
	TCPX_PHASE_CLOSING,     /* sender: its BYE is sent; receiver: END or
				   BYE seen, nothing more read for now */
};
#define TCPX_PHASE_COUNT 4

enum tcpx_role { TCPX_ROLE_SENDER, TCPX_ROLE_RECEIVER };
#define TCPX_ROLE_COUNT 2

struct tcpx_frame_spec {
	const char *name;           /* "HELLO" ...: as man/tcpxfer.5 has it */
	uint32_t max_payload;       /* largest length a header may declare */
	/* By the receiving role: bit (1u << TCPX_PHASE_*) set for each phase
	 * in which that side accepts the type. */
	uint8_t accepted_in[TCPX_ROLE_COUNT];
};

/* The row of a frame type, or NULL for a type TCPX v1 does not have.  It
 * points into a static const table: never freed, never changed. */
const struct tcpx_frame_spec *proto_frame_spec(uint8_t type);
/* Largest payload of a frame type, or -1 for a type TCPX v1 does not have. */
int64_t proto_max_payload(uint8_t type);
/* 1 if who_receives takes a frame of this type in this phase, else 0
 * (also for an unknown type, role or phase). */
int proto_accepts(enum tcpx_role who_receives, enum tcpx_phase phase,
		  uint8_t type);
/* The table's limits for frame_decode() and frame_reader_init():
 * proto_max_payload() and TCPX_MAX_PAYLOAD.  Static, never freed. */
extern const struct frame_limits proto_frame_limits;
/* The same for a session with every capability but TCPX_CAP_TREE, where
 * type 9 (DIR) is not a type at all: its header is UNEXPECTED at the
 * first check, as an unknown type's, whatever its length (man/tcpxfer.5,
 * FRAMES); OFFER's and STREAM's types are types
 * (proto_frame_limits_for(TCPX_CAP_OFFER | TCPX_CAP_STREAM)). */
extern const struct frame_limits proto_frame_limits_no_tree;
/* The limits of a session whose HELLO granted caps: DIR (type 9) exists
 * only with TREE, OFFER/ANSWER/RESUME (10-12) only with OFFER, STREAM_END
 * (type 13) only with STREAM; without them their headers are UNEXPECTED
 * at the first check, whatever the length.  proto_frame_limits_for(0) is
 * the handshake's.  Static, never freed. */
const struct frame_limits *proto_frame_limits_for(uint64_t caps);

/* The receive buffer for a peer that takes DATA: one maximal frame and
 * 64 KiB more (see frame_reader in frame.h). */
#define PROTO_READER_CAP (TCPX_FRAME_HEADER_LEN + TCPX_MAX_PAYLOAD + 64u * 1024u)

/* Encoders: out must hold TCPX_FRAME_HEADER_LEN + the payload; they return
 * the frame's total length.  Messages longer than TCPX_MSG_MAX are cut. */
size_t proto_encode_hello(uint8_t *out, const struct tcpx_hello *h);
size_t proto_encode_file(uint8_t *out, const struct tcpx_file_meta *m);
/* DIR: m's id, mode, mtime and name; m->size is not sent. */
size_t proto_encode_dir(uint8_t *out, const struct tcpx_file_meta *m);
/* Writes the frame header and the 8-byte DATA header; the caller puts
 * data_len bytes of chunk data right after (at out + 16). */
size_t proto_encode_data_header(uint8_t *out, uint8_t encoding,
				uint32_t raw_len, uint32_t data_len);
size_t proto_encode_end(uint8_t *out, const uint8_t digest[DIGEST_LEN]);
/* STREAM_END: the final size of a file sent as TCPX_SIZE_UNKNOWN, and its
 * digest. */
size_t proto_encode_stream_end(uint8_t *out, uint64_t size,
			       const uint8_t digest[DIGEST_LEN]);
size_t proto_encode_empty(uint8_t *out, uint8_t type); /* ABORT, BYE */
size_t proto_encode_result(uint8_t *out, uint32_t id, uint16_t code,
			   const uint8_t *digest, const char *msg);
size_t proto_encode_error(uint8_t *out, uint16_t code, const char *msg);
size_t proto_encode_offer(uint8_t *out, const struct tcpx_offer *o);
/* a->msg (a->msg_len bytes, cut at TCPX_MSG_MAX); a->digest NULL: zeros. */
size_t proto_encode_answer(uint8_t *out, const struct tcpx_answer *a);
size_t proto_encode_resume(uint8_t *out, const struct tcpx_file_meta *m,
			   uint64_t offset);

/* Decoders: 0 or -TCPX_E_MALFORMED / -TCPX_E_BAD_MAGIC.  The pointers they
 * fill in (name, data, digest, msg) point into f->payload: not copied, not
 * to be freed, valid as long as the frame's buffer is. */
int proto_decode_hello(const struct tcpx_frame *f, struct tcpx_hello *h);
int proto_decode_file(const struct tcpx_frame *f, struct tcpx_file_meta *m);
/* Fills m as for FILE, with m->size 0. */
int proto_decode_dir(const struct tcpx_frame *f, struct tcpx_file_meta *m);
int proto_decode_data(const struct tcpx_frame *f, struct tcpx_data *d);
int proto_decode_end(const struct tcpx_frame *f, const uint8_t **digest);
/* A size of TCPX_SIZE_UNKNOWN is MALFORMED: no stream reaches it. */
int proto_decode_stream_end(const struct tcpx_frame *f, uint64_t *size,
			    const uint8_t **digest);
int proto_decode_empty(const struct tcpx_frame *f);
int proto_decode_result(const struct tcpx_frame *f, struct tcpx_result *r);
int proto_decode_error(const struct tcpx_frame *f, struct tcpx_error *e);
int proto_decode_offer(const struct tcpx_frame *f, struct tcpx_offer *o);
int proto_decode_answer(const struct tcpx_frame *f, struct tcpx_answer *a);
int proto_decode_resume(const struct tcpx_frame *f, struct tcpx_file_meta *m,
			uint64_t *offset);

/* STREAMS and JOIN: the join token and a count (STREAMS: extra
 * connections allowed, 0..TCPX_STREAMS_MAX) or an index (JOIN:
 * 1..TCPX_STREAMS_MAX). */
struct tcpx_join {
	const uint8_t *token;    /* TCPX_JOIN_TOKEN_LEN bytes */
	uint16_t n;
};
size_t proto_encode_streams(uint8_t *out, const uint8_t *token, uint16_t n);
size_t proto_encode_join(uint8_t *out, const uint8_t *token, uint16_t index);
size_t proto_encode_place(uint8_t *out, uint32_t id, uint64_t offset);
int proto_decode_streams(const struct tcpx_frame *f, struct tcpx_join *j);
int proto_decode_join(const struct tcpx_frame *f, struct tcpx_join *j);
int proto_decode_place(const struct tcpx_frame *f, uint32_t *id,
		       uint64_t *offset);

/* Largest frame any encoder above writes (a full DATA frame). */
#define TCPX_FRAME_BUF_MAX (TCPX_FRAME_HEADER_LEN + TCPX_MAX_PAYLOAD)

#endif
