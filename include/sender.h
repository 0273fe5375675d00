/*
 * sender: the sending side of a TCPX session as a pure state machine.
 *
 * It never touches a socket or a file.  The caller hands it file metadata
 * and file bytes; it hashes them (BLAKE2b-512), compresses chunks that
 * shrink, and queues the encoded frames in its output buffer, which the
 * caller writes out.  Bytes from the receiver go into its frame_reader; each
 * sender_next() call turns them into at most one event.  Files are
 * pipelined: up to SENDER_WINDOW files may await their RESULT, and each
 * RESULT is matched to its file and its digest compared with ours, so a
 * "verified" event means both sides computed the same digest.  With
 * TCPX_CAP_OFFER granted, items are first offered, up to
 * TCPX_OFFER_WINDOW ahead of the file being sent (sender_offer(),
 * sender_queue_dir()); an ANSWER settles a file (skipped, refused) or lets
 * it begin in its turn, from 0 or, after the caller compared prefixes,
 * from the receiver's offset (sender_begin_resumed()).
 *
 * Memory: allocated at sender_new(), about 1.1 MiB, independent of
 * file sizes and counts.
 */
#ifndef TCPX_SENDER_H
#define TCPX_SENDER_H

#include <stddef.h>
#include <stdint.h>
#include "frame.h"
#include "outq.h"
#include "proto.h"

#define SENDER_WINDOW 1024u

enum sender_event_type {
	SEV_NONE = 0,      /* need more input */
	SEV_HELLO,         /* handshake done: files may be sent now */
	SEV_RESULT,        /* verdict on one file */
	SEV_BYE,           /* receiver closed the session cleanly: all done */
	SEV_PEER_ERROR,    /* receiver sent ERROR: session over */
	SEV_PROTO_ERROR,   /* receiver broke the protocol: ERROR queued, over */
	SEV_ANSWER,        /* OFFER answered: SEND and RESUME wait for their
			      turn (SA_BEGIN); SAME_TIME, SAME_DIGEST and
			      REFUSED are that file's final verdict */
	SEV_STREAMS,       /* MULTI: the receiver's join token (token) and
			      how many extra connections it takes (offset) */
};

struct sender_event {
	enum sender_event_type type;
	uint64_t caps;           /* SEV_HELLO: negotiated capabilities */
	uint32_t id;             /* SEV_RESULT: file id */
	void *cookie;            /* SEV_RESULT: what sender_begin_file() got */
	int code;                /* SEV_RESULT: 0 verified, else TCPX_E_*;
				    errors: the code */
	const uint8_t *digest;   /* SEV_RESULT, code 0: the agreed digest */
	int disposition;         /* SEV_ANSWER: enum tcpx_disposition (code:
				    REFUSED's per-file code) */
	uint64_t offset;         /* SEV_ANSWER, RESUME: the receiver has this
				    many bytes */
	const uint8_t *msg;      /* receiver's message (may be empty) */
	size_t msg_len;
	const uint8_t *token;    /* SEV_STREAMS: TCPX_JOIN_TOKEN_LEN bytes */
};

enum sender_state {
	SS_HANDSHAKE, SS_READY, SS_IN_FILE, SS_BYE_SENT, SS_DONE, SS_FAILED
};

struct tcpx_sender;

/* want_caps: TCPX_CAP_* to ask for; level: zlib level 1..9, or 0 for none;
 * with TCPX_CAP_ZSTD in want_caps, the zstd level 1..19 (and ZLIB asked
 * too: if ZSTD is not granted, zlib at TCPX_ZLIB_FALLBACK_LEVEL).
 * NULL when out of memory.  The sender owns all its buffers; sender_free()
 * releases them (harmless on NULL). */
struct tcpx_sender *sender_new(uint64_t want_caps, int level);
void sender_free(struct tcpx_sender *s);
enum sender_state sender_state(const struct tcpx_sender *s);
/* 1 if chunks are to be compressed: asked for at sender_new(), and, once
 * the handshake is done, granted by the receiver. */
int sender_compressing(const struct tcpx_sender *s);
/* The encoding compressed chunks get: TCPX_ENCODING_ZSTD, _ZLIB or _RAW
 * (final once the handshake is done). */
uint8_t sender_encoding(const struct tcpx_sender *s);
#define TCPX_ZLIB_FALLBACK_LEVEL 1
/* Where bytes from the receiver go, and the queue of bytes for it; both
 * owned by the sender (the connection layer reads and writes them). */
struct frame_reader *sender_reader(struct tcpx_sender *s);
struct outq *sender_output(struct tcpx_sender *s);

/*
 * What the caller does next, decided here so that the sending loop, the
 * tests and the fuzzers all drive the sender the same way:
 *   SA_WAIT   nothing until bytes arrive or output drains
 *   SA_BEGIN  sender_begin_file() with the next file
 *   SA_DATA   commit the current file's next chunk (sender_file_left() bytes
 *             remain); for a file of unknown size (a stream), until the
 *             caller finds the end of its input and calls sender_end_file()
 *   SA_END    sender_end_file(): every byte was committed
 *   SA_ABORT  sender_abort_file(): the receiver refused it while we sent it
 *   SA_BYE    sender_bye(): no file left (more_files == 0)
 *   SA_DONE   the session is over (BYE received, or an error)
 *   SA_OFFER  sender_offer() / sender_queue_dir() the next item (OFFER)
 * Every action but SA_WAIT and SA_DONE is possible right away (room in the
 * output queue is checked here).
 */
enum sender_action { SA_WAIT, SA_BEGIN, SA_DATA, SA_END, SA_ABORT, SA_BYE,
		     SA_DONE, SA_OFFER };
enum sender_action sender_next_action(const struct tcpx_sender *s,
				      int more_files);
/* With OFFER (sender_has_offer()), SA_OFFER: sender_offer() the next
 * item (a file; a directory goes to sender_queue_dir()); SA_BEGIN then
 * starts the oldest offered item once answered (sender_offer_head()).
 * more_files counts only items not yet offered. */
/* Bytes of the current file not yet committed (0 between files). */
uint64_t sender_file_left(const struct tcpx_sender *s);

/* Output: bytes queued for the receiver (the head of sender_output()). */
void sender_pending(const struct tcpx_sender *s, const uint8_t **p, size_t *len);
void sender_sent(struct tcpx_sender *s, size_t n);
/* 1 if a whole DATA frame fits in the output buffer now. */
int sender_has_room(const struct tcpx_sender *s);
/* 1 if another file may start (ready, room, window not full). */
int sender_can_begin(const struct tcpx_sender *s);
/* Files sent whose RESULT has not arrived. */
size_t sender_outstanding(const struct tcpx_sender *s);

/* Processes buffered input into at most one event in *ev (SEV_NONE:
 * need more).  Pointers in *ev point into the sender's buffers and stay
 * valid until the next call into the sender. */
void sender_next(struct tcpx_sender *s, struct sender_event *ev);

/* Starts a file (meta->id is assigned here and returned); the name is
 * copied into the output queue, so meta->name need not outlive the call.
 * meta->size TCPX_SIZE_UNKNOWN starts a stream, only once the receiver
 * granted TCPX_CAP_STREAM (else -TCPX_E_UNEXPECTED).
 * -TCPX_E_BAD_NAME for an empty or over-long name, and after 2^32 - 1
 * files in one session -TCPX_E_TOO_MANY_FILES; nothing is queued then. */
int sender_begin_file(struct tcpx_sender *s, struct tcpx_file_meta *meta,
		      void *cookie);
/* Sends a directory (DIR frame) between files, in the same id sequence
 * (meta->id assigned here): its RESULT comes in turn, code 0 with a digest
 * of zeros.  Only once the receiver granted TCPX_CAP_TREE; else
 * -TCPX_E_UNEXPECTED and nothing is queued.  Name checks as for files. */
int sender_begin_dir(struct tcpx_sender *s, struct tcpx_file_meta *meta,
		     void *cookie);
/* 1 once the receiver granted TCPX_CAP_TREE (DIR frames may be sent). */
int sender_has_tree(const struct tcpx_sender *s);
/* 1 once the receiver granted TCPX_CAP_STREAM (files of unknown size). */
int sender_has_stream(const struct tcpx_sender *s);
/* Where to read the next chunk of file data (up to *cap bytes), then
 * sender_commit_chunk(n) hashes, compresses and frames it. */
uint8_t *sender_chunk_buffer(struct tcpx_sender *s, size_t *cap);
int sender_commit_chunk(struct tcpx_sender *s, size_t n);
/* Frames a chunk the caller compressed itself (on worker threads, say):
 * raw[0..n) is hashed; comp[0..clen) is sent as zlib, or raw when clen is
 * 0.  Same checks as sender_commit_chunk(). */
int sender_commit_prepared(struct tcpx_sender *s, const uint8_t *raw,
			   size_t n, const uint8_t *comp, size_t clen);
/* Ends the file: -TCPX_E_SIZE if fewer bytes than declared were given.
 * A stream ends with what was committed: STREAM_END carries its size. */
int sender_end_file(struct tcpx_sender *s);
/* Gives the current file up (read error, file changed, refused early). */
int sender_abort_file(struct tcpx_sender *s);
/* 1 if the file in progress was already refused by the receiver. */
int sender_current_refused(const struct tcpx_sender *s);
/* No more files. */
int sender_bye(struct tcpx_sender *s);
/* Queues an ERROR frame and fails the session (local fatal condition). */
void sender_fail(struct tcpx_sender *s, int code, const char *msg);

/* Offers (TCPX_CAP_OFFER, man/tcpxfer.5).  1 once the receiver granted
 * OFFER: then every file is offered before it is sent. */
int sender_has_offer(const struct tcpx_sender *s);
/* Queues an OFFER for a file (o->meta.id assigned here); it waits for its
 * ANSWER in the window of TCPX_OFFER_WINDOW items.  Checks as for
 * sender_begin_file(); -TCPX_E_INTERNAL when the window is full. */
int sender_offer(struct tcpx_sender *s, struct tcpx_offer *o, void *cookie);
/* A directory in the window, in item order: no OFFER; its DIR goes at its
 * turn (SA_BEGIN, sender_begin_dir()). */
int sender_queue_dir(struct tcpx_sender *s, void *cookie);
/* The oldest item of the window, which SA_BEGIN starts: its cookie, 1 for
 * a directory, and for a file its ANSWER (SEND or RESUME, with the offset
 * and the receiver's prefix digest).  0 if the window is empty. */
int sender_offer_head(const struct tcpx_sender *s, void **cookie, int *is_dir,
		      int *disposition, uint64_t *offset,
		      const uint8_t **prefix_digest);
/* Starts the window's head as a RESUME from offset (its ANSWER's): prefix
 * is the digest state over our first offset bytes, which the caller
 * compared with the receiver's; the final digest continues from it.  A
 * head answered SEND or RESUME may also start from 0 with
 * sender_begin_file() (its id is the offer's). */
int sender_begin_resumed(struct tcpx_sender *s, struct tcpx_file_meta *meta,
			 void *cookie, uint64_t offset,
			 const struct digest *prefix);

/*
 * Several connections (TCPX_CAP_MULTI).  sender_set_lane() says where
 * the next chunk goes: q, a joined connection's queue (a sender_lane's),
 * or NULL for the session's own; from the first call on, every chunk
 * goes as PLACE and DATA (its offset said), in whichever queue.
 * sender_data_room() is then the room in that queue (SA_DATA needs it;
 * END, ABORT, FILE need the session's own).
 */
void sender_set_lane(struct tcpx_sender *s, struct outq *q);
/* What the receiver granted (after SEV_HELLO). */
uint64_t sender_caps(const struct tcpx_sender *s);
int sender_data_room(const struct tcpx_sender *s);
/* Room for the largest chunk frame with its PLACE. */
#define SENDER_LANE_RESERVE (TCPX_FRAME_BUF_MAX + TCPX_FRAME_HEADER_LEN + \
			     TCPX_PLACE_LEN)

/*
 * One extra connection, sans I/O: HELLO (the caller runs SECURE after
 * LEV_HELLO, as for the session's), then JOIN with the token and index,
 * then JOINED: from then on the sender's chunks may go into its queue
 * (sender_set_lane(&l->out)), and at the end sender_lane_bye().
 */
enum lane_event_type { LEV_NONE, LEV_HELLO, LEV_JOINED, LEV_BYE, LEV_ERROR };
enum lane_state { LANE_HELLO, LANE_JOINING, LANE_READY, LANE_BYE_SENT,
		  LANE_DONE, LANE_FAILED };
struct sender_lane {
	enum lane_state state;
	uint64_t caps;          /* the session's: the lane must get the same */
	uint8_t token[TCPX_JOIN_TOKEN_LEN];
	uint16_t index;
	struct frame_reader rd;
	struct outq out;
};
struct lane_event {
	enum lane_event_type type;
	int code;               /* LEV_ERROR */
	const uint8_t *msg;
	size_t msg_len;
};
/* HELLO asking for want_caps queued; 0 or -TCPX_E_NOMEM. */
int sender_lane_init(struct sender_lane *l, uint64_t want_caps,
		     uint64_t session_caps, const uint8_t *token,
		     uint16_t index);
void sender_lane_free(struct sender_lane *l);
void sender_lane_next(struct sender_lane *l, struct lane_event *ev);
/* After LEV_HELLO (and SECURE started): queues JOIN. */
void sender_lane_join(struct sender_lane *l);
/* Queues BYE (once its data is all queued); 0 or -TCPX_E_INTERNAL. */
int sender_lane_bye(struct sender_lane *l);

/* Bytes of frames queued so far after the sender's own HELLO. */
uint64_t sender_wire_bytes(const struct tcpx_sender *s);

#endif
