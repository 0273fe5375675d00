/*
 * frame: the TCPX frame header, sans I/O.
 *
 * A frame is an 8-byte header (type, flags, reserved, payload length, all in
 * network byte order) followed by the payload.  frame_decode() looks at a
 * byte buffer and says "need more", "here is a whole frame" or "error"; it
 * checks the declared length against the per-type limit before anyone
 * allocates or reads a byte of payload, so a length of 0xFFFFFFFF costs
 * nothing.  It never copies: the decoded frame points into the caller's
 * buffer.  Layout and limits: man/tcpxfer.5.
 */
#ifndef TCPX_FRAME_H
#define TCPX_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define TCPX_FRAME_HEADER_LEN 8u
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
};

struct tcpx_frame {
	uint8_t type;
	uint32_t length;           /* payload length */
	const uint8_t *payload;    /* points into the decoded buffer */
};

/* Writes the 8-byte header for a frame of this type and payload length. */
void frame_header_encode(uint8_t out[TCPX_FRAME_HEADER_LEN], uint8_t type,
			 uint32_t length);

/* Largest payload allowed for a frame type; 0 for an unknown type. */
uint32_t frame_max_payload(uint8_t type);

/*
 * Decodes one frame from buf[0..len).  Returns 1 and fills *frame and
 * *consumed (header + payload) when a whole frame is there; 0 when more bytes
 * are needed (*consumed = 0; *need, if not NULL, gets the total frame size
 * once the header is complete, else the header size); or -TCPX_E_UNEXPECTED
 * (unknown type), -TCPX_E_MALFORMED (non-zero flags or reserved bits) or
 * -TCPX_E_FRAME_TOO_LARGE as soon as the header shows it.
 */
int frame_decode(const uint8_t *buf, size_t len, struct tcpx_frame *frame,
		 size_t *consumed, size_t *need);

/*
 * frame_reader: the receive buffer both state machines own.  The caller
 * reads from its socket straight into frame_reader_space() (no copy), says
 * how much arrived with frame_reader_commit(), and takes frames out with
 * frame_reader_next().  The default buffer holds one maximal frame and
 * 64 KiB more, so one recv() brings many small frames and large frames need
 * at most a 64 KiB move.  A reader whose owner refuses every large frame
 * type from its header (the sender: it takes HELLO, RESULT, BYE, ERROR)
 * can be made smaller.  It never grows.
 */
#define FRAME_READER_CAP (TCPX_FRAME_HEADER_LEN + TCPX_MAX_PAYLOAD + 64u * 1024u)

struct frame_reader {
	uint8_t *buf;
	size_t cap, start, end;
};

/* 0 or -TCPX_E_NOMEM; _cap gives a buffer of cap bytes (>= 1 KiB). */
int frame_reader_init(struct frame_reader *fr);
int frame_reader_init_cap(struct frame_reader *fr, size_t cap);
void frame_reader_free(struct frame_reader *fr);
/* Where to put the next bytes and how many fit (> 0 unless a frame is
 * being handed out; call after consuming the previous frame). */
uint8_t *frame_reader_space(struct frame_reader *fr, size_t *cap);
void frame_reader_commit(struct frame_reader *fr, size_t n);
/* Bytes buffered and not yet handed out as frames. */
size_t frame_reader_buffered(const struct frame_reader *fr);
/*
 * Like frame_decode() on the buffered bytes; on 1 the frame is consumed
 * (its payload stays valid until the next call to frame_reader_next(),
 * frame_reader_space() or frame_reader_commit(): space() may move bytes).  On 0 with a
 * complete header, *frame still tells the type and length, so a state
 * machine can reject a frame type before its payload arrives.
 */
int frame_reader_next(struct frame_reader *fr, struct tcpx_frame *frame);

#endif
