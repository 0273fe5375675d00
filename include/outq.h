/*
 * outq: the one output queue of a TCPX connection, sans I/O.
 *
 * A state machine appends whole frames at the tail (it may build a frame in
 * place, reading file data straight into it); the connection layer takes
 * bytes from the head as the socket accepts them.  Both machines use this
 * one type, with one rule, and no byte is ever moved: an emptied queue
 * starts again at the front, and when less than `reserve` bytes (the
 * largest frame its owner appends at once) are left at the tail but at
 * least `reserve` bytes before the head are free, the tail wraps to the
 * front (a bipartite buffer: the unsent bytes are then two runs, the older
 * one up to where the tail wrapped, then the newer one from the front).
 * A frame is never split between the runs.  So with a buffer of two
 * largest frames, a new one can be built as soon as one has left.  (The
 * unsent bytes once moved to the front instead: a memmove of up to a
 * frame, 256 KiB, after most partial sends of a large file.)
 *
 * Memory: the buffer is allocated by outq_init() and owned by the queue;
 * pointers from outq_tail() and outq_pending() stay valid until the next
 * outq_append() or outq_consume().
 */
#ifndef TCPX_OUTQ_H
#define TCPX_OUTQ_H

#include <stddef.h>
#include <stdint.h>

struct outq {
	uint8_t *buf;
	size_t cap, reserve;
	size_t start, end;      /* unsent bytes: buf[start..end), or, wrapped, */
	size_t wrap;            /* buf[start..wrap) then buf[0..end); 0: not */
};

/* 0 or -TCPX_E_NOMEM; reserve <= cap. */
int outq_init(struct outq *q, size_t cap, size_t reserve);
void outq_free(struct outq *q);
/* 1 if `reserve` bytes can be appended at the tail now. */
int outq_has_room(const struct outq *q);
/* Where the next frame goes (room for `reserve` bytes when has_room). */
uint8_t *outq_tail(struct outq *q);
/* Bytes free at the tail. */
size_t outq_tail_room(const struct outq *q);
/* n bytes were written at the tail. */
void outq_append(struct outq *q, size_t n);
/* The oldest run of unsent bytes (all of them unless wrapped). */
void outq_pending(const struct outq *q, const uint8_t **p, size_t *len);
/* The newer run when wrapped (*len 0 if not): sent after the first, so
 * one writev() can take both. */
void outq_pending_next(const struct outq *q, const uint8_t **p, size_t *len);
/* n bytes of the head were sent (n may reach into the newer run). */
void outq_consume(struct outq *q, size_t n);
size_t outq_len(const struct outq *q);

#endif
