/*
 * frame: the TCPX frame header and the receive buffer, sans I/O.
 *
 * A frame is an 8-byte header (type, flags, reserved, payload length, all in
 * network byte order) followed by the payload.  frame_decode() looks at a
 * byte buffer and says "need more", "here is a whole frame" or "error"; it
 * checks the declared length against the per-type limit before anyone
 * allocates or reads a byte of payload, so a length of 0xFFFFFFFF costs
 * nothing.  It never copies: the decoded frame points into the caller's
 * buffer.  Layout: man/tcpxfer.5.
 *
 * frame knows no frame type: which types exist and how large each may be
 * come from the caller as a struct frame_limits (proto_frame_limits for
 * TCPX, in proto.h, which builds on this header; never the other way).
 * Nothing here allocates except frame_reader_init().
 */
#ifndef TCPX_FRAME_H
#define TCPX_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define TCPX_FRAME_HEADER_LEN 8u

/*
 * What the protocol above allows.  max_payload(type) returns the largest
 * payload length a header of that type may declare, or -1 if the protocol
 * has no such type; it must be pure (it is called for every header).
 * largest_payload is the largest value it returns for any type.  frame only
 * reads a frame_limits; whoever passes one keeps it alive as long as a
 * reader made with it (proto's is a static const, alive forever).
 */
struct frame_limits {
	int64_t (*max_payload)(uint8_t type);
	uint32_t largest_payload;
};

struct tcpx_frame {
	uint8_t type;
	uint32_t length;           /* payload length */
	const uint8_t *payload;    /* points into the decoded buffer */
};

/* Writes the 8-byte header for a frame of this type and payload length. */
void frame_header_encode(uint8_t out[TCPX_FRAME_HEADER_LEN], uint8_t type,
			 uint32_t length);

/*
 * Decodes one frame from buf[0..len), judged by lim.  Returns 1 and fills
 * *frame and *consumed (header + payload) when a whole frame is there; 0
 * when more bytes are needed (*consumed = 0; *need, if not NULL, gets the
 * total frame size once the header is complete, else the header size); or,
 * as soon as the header shows it and checked in this order,
 * -TCPX_E_UNEXPECTED (lim knows no such type), -TCPX_E_MALFORMED (non-zero
 * flags or reserved bits) or -TCPX_E_FRAME_TOO_LARGE (length above the
 * type's limit).  frame->payload points into buf (the caller's memory) or
 * is NULL.
 */
int frame_decode(const uint8_t *buf, size_t len,
		 const struct frame_limits *lim, struct tcpx_frame *frame,
		 size_t *consumed, size_t *need);

/*
 * frame_reader: the receive buffer both state machines own.  The caller
 * reads from its socket straight into frame_reader_space() (no copy), says
 * how much arrived with frame_reader_commit(), and takes frames out with
 * frame_reader_next().  Its owner picks the size (proto's PROTO_READER_CAP
 * holds one maximal frame and 64 KiB more, so one recv() brings many small
 * frames and large frames need at most a 64 KiB move); a reader whose owner
 * refuses every large frame type from its header can be smaller.
 *
 * A growing reader (frame_reader_init_growing()) starts small and doubles
 * only when it is full of one frame that is not whole yet, up to its
 * largest size; it shrinks back once empty, unless the last frame handed
 * out was larger than its smallest size (the next frame of a bulk
 * transfer would grow it again at once).  Its memory follows the bytes
 * that actually arrived, never a length a header merely declared, so a
 * peer that announces a large frame and trickles it costs a few KiB: what
 * lets a receiver hold thousands of slow connections.
 */
struct frame_reader {
	uint8_t *buf;                      /* owned: frame_reader_free() */
	size_t cap, start, end;
	size_t min_cap, max_cap;           /* equal unless growing */
	const struct frame_limits *lim;    /* borrowed, see frame_limits */
	size_t last;                       /* bytes of the last frame out */
};

/* A buffer of cap bytes (>= 1 KiB) judging frames by lim: 0 or
 * -TCPX_E_NOMEM.  The reader owns its buffer until frame_reader_free(). */
int frame_reader_init(struct frame_reader *fr, size_t cap,
		      const struct frame_limits *lim);
/* The same, starting at min_cap bytes and growing up to max_cap. */
int frame_reader_init_growing(struct frame_reader *fr, size_t min_cap,
			      size_t max_cap, const struct frame_limits *lim);
void frame_reader_free(struct frame_reader *fr);
/* Where to put the next bytes and how many fit (> 0 unless a frame is
 * being handed out, or a growing reader could not grow; call after
 * consuming the previous frame).  The pointer is into the reader's buffer:
 * valid until the next call on the reader. */
uint8_t *frame_reader_space(struct frame_reader *fr, size_t *cap);
void frame_reader_commit(struct frame_reader *fr, size_t n);
/* Room for n more bytes at once, growing a growing reader (never past its
 * largest size) for bytes already in hand (a record just opened, say):
 * the tail to write them to, with *cap, or NULL when they cannot fit.
 * Valid as frame_reader_space()'s pointer is. */
uint8_t *frame_reader_reserve(struct frame_reader *fr, size_t n, size_t *cap);
/* Bytes buffered and not yet handed out as frames. */
size_t frame_reader_buffered(const struct frame_reader *fr);
/*
 * Like frame_decode() on the buffered bytes with the reader's limits; on 1
 * the frame is consumed (its payload points into the reader's buffer and
 * stays valid until the next call to frame_reader_next(),
 * frame_reader_space() or frame_reader_commit(): space() may move bytes).
 * On 0 with a complete header, *frame still tells the type and length, so
 * a state machine can reject a frame type before its payload arrives.
 */
int frame_reader_next(struct frame_reader *fr, struct tcpx_frame *frame);

#endif
