/*
 * outq: the one output queue of a TCPX connection, sans I/O.
 *
 * A state machine appends whole frames at the tail (it may build a frame in
 * place, reading file data straight into it); the connection layer takes
 * bytes from the head as the socket accepts them.  Both machines use this
 * one type, with one compaction rule: an emptied queue starts again at the
 * front, and when less than `reserve` bytes (the largest frame its owner
 * appends at once) are left at the tail, the unsent bytes move to the
 * front.  So outq_has_room() is true again as soon as at least `reserve`
 * bytes of the buffer are free, wherever they are.
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
	size_t start, end;      /* unsent bytes: buf[start..end) */
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
void outq_pending(const struct outq *q, const uint8_t **p, size_t *len);
/* n bytes of the head were sent. */
void outq_consume(struct outq *q, size_t n);
size_t outq_len(const struct outq *q);

#endif
