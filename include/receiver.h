/*
 * receiver: the receiving side of a TCPX session as a pure state machine.
 *
 * Bytes from the sender go into its frame_reader; each receiver_next() call
 * validates at most one frame (order, layout, limits, names, sizes), inflates
 * it within the declared bound, hashes file data, and returns one event for
 * the caller to act on (open a temporary file, write bytes, commit or
 * discard).  Replies (HELLO, RESULT, BYE, ERROR) are queued in its output
 * buffer.  The caller reports what the disk did with receiver_file_fail()
 * and receiver_file_done(); the state machine keeps exactly one RESULT per
 * file, in file order.  With TCPX_CAP_OFFER every file is first an OFFER
 * (REV_OFFER): the caller looks at the disk, receiver_decide() rules, and
 * receiver_answer() queues the ANSWER; the machine then takes a FILE or
 * RESUME only for the oldest offer it answered SEND or RESUME, with the
 * offered fields (a keyed hash of them is kept, not the name), and refuses
 * a name offered twice in one session.  An OFFER of unknown size (with
 * STREAM) is a stream: never identical, never resumed (a RESUME answer
 * goes out as SEND), its --max-size applied as its data arrives.  It never touches a socket or a
 * file, so it is unit-tested and fuzzed on bytes alone.
 *
 * Memory: about 20 KiB at receiver_new(); the receive buffer grows with
 * the frames that actually arrive (up to about 330 KiB), and 256 KiB for
 * inflation are allocated at the first compressed chunk.  Independent of
 * file sizes and counts, so an idle or slow connection costs little.  Event pointers stay valid until the next call to
 * receiver_next() or to the frame_reader functions.
 */
#ifndef TCPX_RECEIVER_H
#define TCPX_RECEIVER_H

#include <stddef.h>
#include <stdint.h>
#include "frame.h"
#include "outq.h"
#include "proto.h"

enum receiver_event_type {
	REV_NONE = 0,     /* need more input */
	REV_HELLO,        /* handshake done, our HELLO queued */
	REV_FILE,         /* a file starts: open its temporary file (stream:
			     its size is unknown until its REV_END) */
	REV_REFUSED,      /* a file was refused before it started (logged only;
			     its RESULT is queued) */
	REV_DATA,         /* write data[0..len) to the current file */
	REV_END,          /* the file is complete: code 0 = digest matched;
			     commit or discard, then receiver_file_done() */
	REV_ABORTED,      /* sender gave the current file up: discard it */
	REV_SKIPPED,      /* a refused/failed file's data ended (nothing to do) */
	REV_BYE,          /* session over, BYE queued: flush and close */
	REV_FATAL,        /* protocol violation: ERROR queued: discard, close */
	REV_PEER_ERROR,   /* sender sent ERROR: discard, close */
	REV_DIR,          /* a directory (TREE): create it or set its mode and
			     mtime (ev->meta, size 0), then
			     receiver_file_done() */
	REV_FAILED,       /* the receiver refused the current file part way
			     (a stream past max_size: code, msg); its RESULT
			     is queued, the rest is skipped: discard it */
	REV_OFFER,        /* a file offered (OFFER): look at what the disk
			     holds (receiver_decide()), then
			     receiver_answer() */
	/* Several connections (TCPX_CAP_MULTI, man/tcpxfer.5): */
	REV_READBACK,     /* read back len bytes at offset of the current
			     file (written before) and hand them to
			     receiver_readback(): the digest goes on in
			     order */
	REV_JOIN,         /* this connection asks to join a session (token,
			     index): receiver_join_accept() or
			     receiver_fail(TCPX_E_JOIN) */
	REV_CHUNK,        /* a joined connection's chunk (id, offset, data,
			     len): for receiver_place() on the session's
			     receiver */
};

struct receiver_event {
	enum receiver_event_type type;
	struct tcpx_file_meta meta;   /* REV_FILE, REV_REFUSED, REV_DIR */
	int is_dir;                   /* REV_DIR, and REV_REFUSED of a DIR
					 (no data follows it: no skipping) */
	int stream;                   /* REV_FILE, REV_REFUSED, REV_OFFER:
					 size unknown (STREAM), meta.size
					 means nothing */
	const uint8_t *data;          /* REV_DATA */
	size_t len;                   /* REV_DATA */
	int code;                     /* REV_END, REV_REFUSED, REV_FAILED,
					 REV_FATAL, REV_PEER_ERROR */
	const uint8_t *digest;        /* REV_END: what we computed */
	const char *msg;              /* REV_REFUSED/FAILED/FATAL: static
					 reason */
	uint64_t caps;                /* REV_HELLO: what our HELLO granted */
	const uint8_t *peer_msg;      /* REV_PEER_ERROR */
	size_t peer_msg_len;
	struct tcpx_offer offer;      /* REV_OFFER (offer.meta is meta too) */
	uint64_t offset;              /* REV_FILE of a RESUME: data from here;
					 receiver_set_prefix() before the
					 next receiver_next() */
	int overwrite, keep_both;     /* REV_FILE after an OFFER: its policy,
					 as granted */
	int offered;                  /* REV_FILE after an OFFER; REV_REFUSED
					 of an OFFER (no data follows) */
	int placed;                   /* REV_DATA of a MULTI session: write
					 at offset (not after the last) */
	uint32_t id;                  /* REV_CHUNK: the file's id */
	const uint8_t *token;         /* REV_JOIN: TCPX_JOIN_TOKEN_LEN bytes */
	unsigned index;               /* REV_JOIN */
};

struct receiver_config {
	uint64_t caps;          /* capabilities offered (TCPX_CAPS_V1) */
	uint64_t max_size;      /* largest file accepted; 0 = no limit (a
				   stream of unknown size: checked as its
				   data arrives, REV_FAILED past it) */
	uint32_t max_files;     /* files (and directories) per connection;
				   0 = no limit */
	int require_secure;     /* a HELLO without TCPX_CAP_SECURE is refused
				   (ERROR 12) before any file: a receiver
				   with a key (caps must offer SECURE) */
	uint8_t name_key[16];   /* SipHash key of the names remembered per
				   session (OFFER): random per session */
	/* With TCPX_CAP_MULTI in caps: the extra connections a session may
	 * have (1..TCPX_STREAMS_MAX) and its join token (random). */
	unsigned max_streams;
	uint8_t join_token[TCPX_JOIN_TOKEN_LEN];
};

/* What the final name of an offered file holds now (the store looks). */
struct receiver_found {
	int kind;               /* 0 nothing, 1 a regular file, 2 anything else */
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	const uint8_t *digest;  /* with CHECKSUM and the same size: the
				   existing file's BLAKE2b-512, else NULL */
};

/* What the receiver allows senders (tcpget): refuse their --overwrite,
 * allow it (--allow-overwrite), or replace whatever they ask
 * (--overwrite, as before offers existed). */
enum receiver_overwrite { RECV_NO_OVERWRITE, RECV_ALLOW_OVERWRITE,
			  RECV_FORCE_OVERWRITE };

struct tcpx_receiver;

/* NULL when out of memory; the receiver owns all its buffers, and
 * receiver_free() releases them (harmless on NULL). */
struct tcpx_receiver *receiver_new(const struct receiver_config *cfg);
void receiver_free(struct tcpx_receiver *r);
/* Where bytes from the sender go, and the queue of replies for it; both
 * owned by the receiver (the connection layer reads and writes them). */
struct frame_reader *receiver_reader(struct tcpx_receiver *r);
struct outq *receiver_output(struct tcpx_receiver *r);

/* Processes buffered input into at most one event in *ev (REV_NONE: need
 * more, or no room for another reply until the output drains). */
void receiver_next(struct tcpx_receiver *r, struct receiver_event *ev);

/*
 * The verdict on a file, in one place.  Both calls queue its RESULT and
 * return the message that RESULT carries (static, or the caller's detail:
 * log exactly that, so the sender and the log read the same words; NULL
 * for code 0).  detail is what the disk said (strerror), used where the
 * code alone does not say enough; NULL lets receiver_verdict_message()'s
 * table speak.
 *
 * receiver_file_fail(): the disk failed the current file after REV_FILE or
 * REV_DATA; the rest of its data is skipped.
 * receiver_file_done(): after REV_END (or REV_DIR), the final verdict: 0 once the store
 * committed it, REV_END's code (TCPX_E_DIGEST) or the store's failure.
 * Its RESULT carries the digest the receiver computed, whatever the code;
 * every RESULT sent before END (refusals, receiver_file_fail(), ABORTED)
 * carries zeros, and so does a directory's.
 */
const char *receiver_file_fail(struct tcpx_receiver *r, int code,
			       const char *detail);
const char *receiver_file_done(struct tcpx_receiver *r, int code,
			       const char *detail);
const char *receiver_verdict_message(int code, const char *detail);
/* Local fatal condition (timeout, shutdown): ERROR queued, session over. */
void receiver_fail(struct tcpx_receiver *r, int code, const char *msg);
/* 1 once the session is over (BYE, ERROR sent or received). */
int receiver_finished(const struct tcpx_receiver *r);
/* 1 while a file is open: from REV_FILE until REV_ABORTED, REV_FATAL or
 * the receiver_file_done() that answers its REV_END. */
int receiver_in_file(const struct tcpx_receiver *r);
/* 1 while a file's data is expected, whether the file was accepted or is
 * being skipped after a refusal: the sender is transferring. */
int receiver_in_data(const struct tcpx_receiver *r);

/*
 * Offers.  receiver_decide() is the rule of man/tcpxfer.5 (ANSWER): from
 * the offer and what its final name holds, SEND, SAME_TIME, SAME_DIGEST or
 * REFUSED with *code and *msg (static); *overwrite says whether a SEND
 * may replace the file.  RESUME is the caller's to choose over SEND when
 * partial data of that identity exists.  receiver_answer() then queues the
 * ANSWER for the REV_OFFER (digest: the prefix's, for RESUME; msg may be
 * NULL) and returns the message it carries.
 */
int receiver_decide(const struct tcpx_offer *o, const struct receiver_found *f,
		    enum receiver_overwrite allowed, int *overwrite, int *code,
		    const char **msg);
const char *receiver_answer(struct tcpx_receiver *r, int disposition, int code,
			    int overwrite, uint64_t offset,
			    const uint8_t *digest, const char *msg);
/* After REV_FILE with an offset: the digest state over the first offset
 * bytes of the partial data, which the file's digest continues. */
void receiver_set_prefix(struct tcpx_receiver *r, const struct digest *dg);

/*
 * Several connections (TCPX_CAP_MULTI).  A session's receiver sends
 * STREAMS (its token, max_streams) before it answers the first frame
 * after HELLO, unless that frame is a JOIN: then the connection is to be
 * a joined one (REV_JOIN).  receiver_join_accept() queues JOINED and
 * makes it one: from then on it takes PLACE and DATA pairs (REV_CHUNK),
 * BYE and ERROR.
 *
 * receiver_place(): a joined connection's chunk, on the session's
 * receiver.  0: the caller writes it at offset (it was checked, and
 * hashed if it came in order; then REV_READBACK events follow from
 * receiver_next()); 1: its file has not begun yet: hold the chunk (read
 * no more from that connection) and try again once the session's
 * receiver moved on; 2: nothing to do (a file refused, aborted or done:
 * dropped); -1: the session is over (ERROR queued; REV_FATAL follows from
 * receiver_next()).
 */
void receiver_join_accept(struct tcpx_receiver *r);
int receiver_place(struct tcpx_receiver *r, uint32_t id, uint64_t offset,
		   const uint8_t *data, size_t len);
/* The bytes a REV_READBACK asked for (len of them, or fewer: then the
 * rest comes as another REV_READBACK). */
void receiver_readback(struct tcpx_receiver *r, const uint8_t *data,
		       size_t len);
/* 1 for a joined connection (after receiver_join_accept()). */
int receiver_joined(const struct tcpx_receiver *r);
/* Bytes of the current file arrived (progress, with MULTI). */
uint64_t receiver_arrived(const struct tcpx_receiver *r);
/* How much of the current file is whole from its start (what a resume
 * may keep): with MULTI the bytes before the first gap. */
uint64_t receiver_hashed(const struct tcpx_receiver *r);

void receiver_pending(const struct tcpx_receiver *r, const uint8_t **p,
		      size_t *len);
void receiver_sent(struct tcpx_receiver *r, size_t n);

#endif
