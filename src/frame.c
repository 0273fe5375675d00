/* frame: TCPX frame header and the receive buffer (frame.h). */
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "error.h"
#include "frame.h"

void frame_header_encode(uint8_t out[TCPX_FRAME_HEADER_LEN], uint8_t type,
			 uint32_t length)
{
	out[0] = type;
	out[1] = 0;
	be16_store(out + 2, 0);
	be32_store(out + 4, length);
}

int frame_decode(const uint8_t *buf, size_t len,
		 const struct frame_limits *lim, struct tcpx_frame *frame,
		 size_t *consumed, size_t *need)
{
	int64_t max;

	*consumed = 0;
	frame->payload = NULL;
	if (len < TCPX_FRAME_HEADER_LEN) {
		if (need)
			*need = TCPX_FRAME_HEADER_LEN;
		frame->type = 0;
		frame->length = 0;
		return 0;
	}
	frame->type = buf[0];
	frame->length = be32_load(buf + 4);
	/* Everything is judged on the header alone, before any payload is
	 * awaited: a hostile length costs neither memory nor a wait. */
	max = lim->max_payload(frame->type);
	if (max < 0)
		return -TCPX_E_UNEXPECTED;
	if (buf[1] != 0 || be16_load(buf + 2) != 0)
		return -TCPX_E_MALFORMED;
	if (frame->length > max)
		return -TCPX_E_FRAME_TOO_LARGE;
	size_t total = TCPX_FRAME_HEADER_LEN + (size_t)frame->length;
	if (need)
		*need = total;
	if (len < total)
		return 0;
	frame->payload = buf + TCPX_FRAME_HEADER_LEN;
	*consumed = total;
	return 1;
}

int frame_reader_init_growing(struct frame_reader *fr, size_t min_cap,
			      size_t max_cap, const struct frame_limits *lim)
{
	fr->start = fr->end = fr->last = 0;
	fr->cap = fr->min_cap = min_cap;
	fr->max_cap = max_cap > min_cap ? max_cap : min_cap;
	fr->lim = lim;
	fr->buf = malloc(min_cap);
	return fr->buf ? 0 : -TCPX_E_NOMEM;
}

int frame_reader_init(struct frame_reader *fr, size_t cap,
		      const struct frame_limits *lim)
{
	return frame_reader_init_growing(fr, cap, cap, lim);
}

/* Resizes the buffer (its bytes start at 0); on failure nothing changes. */
static void resize(struct frame_reader *fr, size_t cap)
{
	uint8_t *p = realloc(fr->buf, cap);
	if (p) {
		fr->buf = p;
		fr->cap = cap;
	}
}

void frame_reader_free(struct frame_reader *fr)
{
	free(fr->buf);
	fr->buf = NULL;
}

uint8_t *frame_reader_space(struct frame_reader *fr, size_t *cap)
{
	size_t largest = TCPX_FRAME_HEADER_LEN +
			 (size_t)fr->lim->largest_payload;

	if (largest > fr->cap)
		largest = fr->cap;
	/* Move a partial frame to the front only when the tail is too short to
	 * complete the largest frame that fits; most reads need no memmove. */
	if (fr->start == fr->end) {
		fr->start = fr->end = 0;
		/* Not between the large frames of a bulk transfer: growing
		 * back for the next one (a realloc per doubling, and the new
		 * pages faulted in) cost 3% of tcpget's cycles. */
		if (fr->cap > fr->min_cap && fr->last <= fr->min_cap)
			resize(fr, fr->min_cap);
	} else if (fr->cap - fr->start < largest || fr->end == fr->cap) {
		memmove(fr->buf, fr->buf + fr->start, fr->end - fr->start);
		fr->end -= fr->start;
		fr->start = 0;
	}
	/* Only a full buffer grows, so what a growing reader holds is what
	 * arrived, never what a header merely announced. */
	if (fr->end == fr->cap && fr->cap < fr->max_cap)
		resize(fr, fr->cap * 2 < fr->max_cap ? fr->cap * 2 : fr->max_cap);
	*cap = fr->cap - fr->end;
	return fr->buf + fr->end;
}

uint8_t *frame_reader_reserve(struct frame_reader *fr, size_t n, size_t *cap)
{
	size_t want, c;

	if (fr->start) {
		memmove(fr->buf, fr->buf + fr->start, fr->end - fr->start);
		fr->end -= fr->start;
		fr->start = 0;
	}
	if (fr->cap - fr->end < n) {
		if (n > fr->max_cap - fr->end)
			return NULL;
		want = fr->end + n;
		for (c = fr->cap; c < want; c *= 2)
			;
		resize(fr, c < fr->max_cap ? c : fr->max_cap);
		if (fr->cap - fr->end < n)
			return NULL;
	}
	*cap = fr->cap - fr->end;
	return fr->buf + fr->end;
}

void frame_reader_commit(struct frame_reader *fr, size_t n)
{
	fr->end += n;
}

size_t frame_reader_buffered(const struct frame_reader *fr)
{
	return fr->end - fr->start;
}

int frame_reader_next(struct frame_reader *fr, struct tcpx_frame *frame)
{
	size_t consumed;
	int rc = frame_decode(fr->buf + fr->start, fr->end - fr->start, fr->lim,
			      frame, &consumed, NULL);
	if (rc == 1) {
		fr->start += consumed;
		fr->last = consumed;
	}
	return rc;
}
